"""tests/seeds.py recovers the students' code from the seed documents faithfully.

The other tests grade that code, so a wrong extraction would make them pass or fail for the wrong
reason: here the repairs (outputs removed, split cells joined, indentation restored) are checked
on what the seeds really hold.
"""
import ast
import re

import pytest

import seeds
from grader.questions import FILES


def _parse(src: str) -> ast.Module:
    return ast.parse(re.sub(r"^[ \t]*[%!].*$", "", src, flags=re.M))


def _functions(cells) -> dict[str, ast.FunctionDef]:
    return {n.name: n for c in cells for n in _parse(c).body if isinstance(n, ast.FunctionDef)}


def test_a_missing_seed_skips_with_the_file_named():
    with pytest.raises(pytest.skip.Exception, match=r"seed 999_\*\.txt is missing from .*shared/seeds"):
        seeds.seed_path("999")


def test_seed001_holds_the_ten_layer_functions():
    code = seeds.seed001_layer_functions()
    tree = ast.parse(code)
    names = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert names == ["rnn_step_forward", "rnn_step_backward", "rnn_forward", "rnn_backward",
                     "word_embedding_forward", "word_embedding_backward", "lstm_step_forward",
                     "lstm_step_backward", "lstm_forward", "lstm_backward"]
    assert "```" not in code and code.count(seeds.START) == code.count(seeds.END) == 10


@pytest.mark.parametrize("notebook", sorted(seeds.SEED004_NOTEBOOKS))
def test_seed004_cells_are_code_only(notebook):
    cells = seeds.seed004_cells(notebook)
    assert len(cells) >= 8
    for src in cells:
        _parse(src)  # every cell is valid Python (magics aside)
        for printed in ("All tests passed!", "Maximum error", "Error is 0.0", "Correct number of parameters in",
                        "Iter: ", "torch.Size([128", "Iteration 1 / 100", "In [", "```"):
            # printed outputs and rendering marks are gone (code that prints them stays)
            assert not any(ln.strip().startswith(printed) for ln in src.splitlines()), (printed, src[:300])
        assert src.count(seeds.START) == src.count(seeds.END)
        starts = [ln for ln in src.splitlines() if ln.strip() == seeds.START]
        ends = [ln for ln in src.splitlines() if ln.strip() == seeds.END]
        assert [seeds._indent(a) for a in starts] == [seeds._indent(b) for b in ends], src[:300]
    defined = _functions(cells)
    stem = {"GANs-PyTorch": "gan_pytorch.py", "NetworkVisualization-PyTorch": "network_visualization.py",
            "StyleTransfer-PyTorch": "style_transfer.py"}[notebook]
    wanted = set(FILES[stem].notebook_functions) - {"update_class_visulization", "class_visualization_update_step"}
    assert wanted <= set(defined), wanted - set(defined)


def test_seed004_split_cells_are_joined_with_their_indentation():
    nv = _functions(seeds.seed004_cells("NetworkVisualization-PyTorch"))
    # make_fooling_image: the loop after the page break is the function's, and it returns the image
    fool = nv["make_fooling_image"]
    loop = next(n for n in fool.body if isinstance(n, ast.For))
    assert "X_fooling.data += learning_rate * (grad / grad.norm())" in ast.unparse(loop)
    assert isinstance(fool.body[-1], ast.Return) and ast.unparse(fool.body[-1]) == "return X_fooling"
    # create_class_visualization: the marked step is inside the iteration loop, the return after it
    ccv = nv["create_class_visualization"]
    loop = next(n for n in ccv.body if isinstance(n, ast.For))
    body = ast.unparse(loop)
    assert "target_score.backward()" in body and "img.data += learning_rate * grad" in body
    assert "blur_image(img.data, sigma=0.5)" in body
    assert isinstance(ccv.body[-1], ast.Return) and "deprocess(img.data.cpu())" in ast.unparse(ccv.body[-1])
    assert not any(isinstance(n, ast.Return) for n in ast.walk(loop))

    gan_cells = seeds.seed004_cells("GANs-PyTorch")
    gan = _functions(gan_cells)
    # build_dc_classifier: docstring lines the rendering left outside the fences, then its return;
    # the cell's test lines after it are top-level statements again
    dcc = gan["build_dc_classifier"]
    assert ast.get_docstring(dcc).splitlines() == [
        "Build and return a PyTorch model for the DCGAN discriminator implementing", "the architecture above."]
    assert isinstance(dcc.body[-1], ast.Return) and len(dcc.body[-1].value.args) == 11
    cell = next(c for c in gan_cells if "def build_dc_classifier" in c)
    top = _parse(cell).body
    assert [type(n).__name__ for n in top] == ["FunctionDef", "Assign", "Assign", "Assign", "Expr"]
    assert ast.unparse(top[-1]) == "print(out.size())"  # its printed torch.Size([128, 1]) is gone
    # build_dc_generator: the layers after the page break are inside nn.Sequential(...)
    assert len(gan["build_dc_generator"].body[-1].value.args) == 13
    # a test call outside any fence after its definition is kept; the duplicated page-break line is not
    assert any(c.rstrip().endswith("\ntest_sample_noise()") for c in gan_cells)
    show = next(c for c in seeds.seed004_cells("NetworkVisualization-PyTorch") if "def show_saliency_maps" in c)
    assert show.count("plt.axis('off')") == 2 and show.rstrip().endswith("\nshow_saliency_maps(X, y)")


def test_seed004_graded_functions_read_as_the_student_wrote_them():
    st = _functions(seeds.seed004_cells("StyleTransfer-PyTorch"))
    gram = ast.unparse(st["gram_matrix"])
    assert "gram = torch.zeros([N, C, C])" in gram and "gram /= H * W * C * 1.0" in gram
    assert isinstance(st["gram_matrix"].body[-1], ast.Return)
    assert "H_direction = torch.sum((img[:, :, 1:, :] - img[:, :, :-1, :]) ** 2)" in ast.unparse(st["tv_loss"])
    gan = _functions(seeds.seed004_cells("GANs-PyTorch"))
    assert "torch.rand(batch_size, dim) * 2 - 1" in ast.unparse(gan["sample_noise"])
    assert "optim.Adam(model.parameters(), lr=0.001, betas=(0.5, 0.999))" in ast.unparse(gan["get_optimizer"])
