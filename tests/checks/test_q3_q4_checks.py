"""Tests of the Q3 (network visualization) and Q4 (style transfer) checks (grader/checks/test_q3_netvis.py,
test_q4_style.py).

Everything is graded through the real CLI (conftest.grade), so student code runs in the sandboxed
worker exactly as on Gradescope:

- the reference gets full marks on Q3 and Q4 in both rubrics, the starter template gets zero on
  every test with a "not implemented" message;
- the mutant catalogue (grader/tools/mutants/q3.yaml, q4.yaml) holds the classic bugs (each is
  graded in tests/tools/test_mutants.py);
- a correct submission written in other styles (CS231n file and function names and argument
  order, Gram matrix with torch.zeros and a Python loop, .pow / torch.sum, saliency through
  torch.autograd.grad one image at a time, a fooling loop on the log-probability that checks after
  each step) gets full marks;
- without grader/oracle/ and hidden.h5, as in the student pre-check bundle, the reference still
  gets full marks on the visible tests.

Plus unit tests of the grader's own numpy SqueezeNet (grader/oracle/squeezenet.py: it must be the
model the worker builds with torch) and of the in-worker copy of the provided style-transfer loop
(grader/inworker/style.py: it must be the template's loop).  Fixtures: the committed fixtures/.
"""
from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from conftest import FIXTURES, REFERENCE, TEMPLATE, grade
from grader.tools import mutants

# the fixture functions the Q3/Q4 checks read (all have visible and hidden cases but the style run)
Q34_FUNCTIONS = ("compute_saliency_maps", "make_fooling_image", "update_class_visulization", "content_loss",
                 "gram_matrix", "style_loss", "tv_loss", "style_transfer_run")
Q3_TESTS = ["Q3.1 compute_saliency_maps", "Q3.1h compute_saliency_maps (hidden cases)",
            "Q3.2 make_fooling_image", "Q3.2h make_fooling_image (hidden cases)",
            "Q3.3 update_class_visulization", "Q3.3h update_class_visulization (hidden cases)"]
Q4_TESTS = ["Q4.1 content_loss", "Q4.1h content_loss (hidden cases)", "Q4.2 gram_matrix",
            "Q4.2h gram_matrix (hidden cases)", "Q4.3 style_loss", "Q4.3h style_loss (hidden cases)",
            "Q4.4 tv_loss", "Q4.4h tv_loss (hidden cases)", "Q4.5 style transfer run"]


def _has_q34_cases(folder: Path) -> bool:
    try:
        import h5py
        names = {}
        for fname in ("visible.h5", "hidden.h5"):
            with h5py.File(folder / fname, "r") as f:
                names[fname] = set(f)
    except (OSError, ImportError):
        return False
    if not (folder / "coco_synth").exists():
        return False
    hidden_too = set(Q34_FUNCTIONS) - {"style_transfer_run"}
    if not (set(Q34_FUNCTIONS) <= names["visible.h5"] and hidden_too <= names["hidden.h5"]):
        return False
    with h5py.File(folder / "visible.h5", "r") as f:  # fixtures from an older builder: regenerate
        return {"loss_course_weights", "loss_balanced_weights"} <= set(f["style_loss/notebook/expected"])


@pytest.fixture(scope="session")
def fixtures_dir() -> Path:
    """The committed fixtures (tests/tools/test_generators.py proves they match a fresh generation)."""
    assert _has_q34_cases(FIXTURES), "fixtures/ lacks the Q3/Q4 cases: run `python -m grader fixtures`"
    return FIXTURES


def _grade(submission: Path, questions: str, fixtures: Path, rubric: str = "cs231n_a3", **kw) -> dict:
    return grade(submission, rubric=rubric, questions=questions, fixtures=fixtures, **kw)


# ---------------------------------------------------------------- reference and template
@pytest.mark.parametrize("rubric", ["cs231n_a3", "cs182_hw2"])
def test_reference_gets_full_marks(rubric, fixtures_dir):
    g = _grade(REFERENCE, "Q3,Q4", fixtures_dir, rubric)
    assert sorted(g.tests) == sorted(Q3_TESTS + Q4_TESTS)
    assert not g.lost(), g.lost()
    assert g.results["score"] == (30 if rubric == "cs231n_a3" else 40)


def test_template_gets_zero_with_not_implemented(fixtures_dir):
    g = _grade(TEMPLATE, "Q3,Q4", fixtures_dir)
    assert sorted(g.tests) == sorted(Q3_TESTS + Q4_TESTS)
    for name, t in g.tests.items():
        assert t["score"] == 0, name
        assert "not implemented" in t["output"], (name, t["output"])
        assert "internal" not in t["output"].lower(), (name, t["output"])


def test_precheck_without_the_graders_recomputations(fixtures_dir, tmp_path):
    """The student pre-check ships neither grader/oracle/ nor hidden.h5: the checks still run (the
    fooling image is re-classified by the worker's model, the style run judged on the loop's own losses)."""
    visible = tmp_path / "fixtures"
    visible.mkdir()
    shutil.copy(fixtures_dir / "visible.h5", visible / "visible.h5")
    shutil.copytree(fixtures_dir / "coco_synth", visible / "coco_synth")
    g = _grade(REFERENCE, "Q3,Q4", visible, block=("grader.oracle",))
    assert sorted(g.tests) == sorted(n for n in Q3_TESTS + Q4_TESTS if "(hidden cases)" not in n)
    assert not g.lost(), g.lost()


def test_style_weightings_agree():
    from grader.fixturegen import netvis_style as ct
    from grader.checks import test_q4_style
    assert ct.STYLE_WEIGHTINGS == test_q4_style.STYLE_WEIGHTINGS


# ---------------------------------------------------------------- mutants
MUTANTS = [m for m in mutants.load() if m.question in ("Q3", "Q4")]


def test_catalogue_has_the_required_mutants():
    names = {m.name for m in MUTANTS}
    for required in ("saliency_without_abs", "saliency_sum_over_channels", "fooling_modifies_input",
                     "class_visualization_l2_wrong_sign", "gram_not_normalized", "tv_loss_one_direction",
                     "content_loss_without_weight", "style_loss_without_layer_weights"):
        assert required in names
    for q in ("Q3", "Q4"):
        assert sum(m.question == q for m in MUTANTS) >= 3
        assert all(m.caught_by and all(t.startswith(q + ".") for t in m.caught_by) for m in MUTANTS
                   if m.question == q)


# ---------------------------------------------------------------- other correct styles
NET_VIS_CS231N = '''
import torch
import numpy as np


def compute_saliency_maps(X, y, model):
    model.eval()
    maps = []
    for i in range(X.shape[0]):
        x = X[i:i + 1].clone().detach().requires_grad_(True)
        score = model(x)[0, int(y[i])]
        (grad,) = torch.autograd.grad(score, x)
        maps.append(torch.max(torch.abs(grad), dim=1)[0])
    return torch.cat(maps, dim=0)


def make_fooling_image(X, target_y, model):
    X_fooling = X.clone().detach().requires_grad_(True)
    learning_rate = 1
    for it in range(100):
        log_probs = torch.log_softmax(model(X_fooling), dim=1)
        log_probs[0, target_y].backward()
        with torch.no_grad():
            g = X_fooling.grad
            X_fooling += learning_rate * g / torch.sqrt(torch.sum(g * g))
        X_fooling.grad.zero_()
        if model(X_fooling).data.max(dim=1)[1][0].item() == target_y:
            break
    return X_fooling


def class_visualization_update_step(img, model, target_y, l2_reg, learning_rate):
    scores = model(img)
    target_score = scores[0, target_y]
    target_score.backward()
    grad = img.grad.data - 2 * l2_reg * img.data
    img.data += learning_rate * grad
    img.grad.data.zero_()
'''

STYLE_CS231N = '''
import torch


def content_loss(content_weight, content_current, content_original):
    return content_weight * torch.sum((content_current - content_original) ** 2)


def gram_matrix(features, normalize=True):
    N, C, H, W = features.shape
    features = features.reshape(N, C, H * W)
    gram = torch.zeros([N, C, C])
    for i in range(N):
        gram[i, :] = torch.mm(features[i, :], features[i, :].transpose(1, 0))
    if normalize == True:
        gram /= H * W * C * 1.0
    return gram


def style_loss(feats, style_layers, style_targets, style_weights):
    Ls = 0
    i = 0
    for layer in style_layers:
        current = gram_matrix(feats[layer])
        Ls += style_weights[i] * torch.sum(torch.pow((current - style_targets[i]), 2))
        i += 1
    return Ls


def tv_loss(img, tv_weight):
    down = (img[:, :, 1:, :] - img[:, :, :-1, :]).pow(2).sum()
    across = (img[:, :, :, 1:] - img[:, :, :, :-1]).pow(2).sum()
    return tv_weight * (down + across)
'''


def test_differently_styled_correct_submission_gets_full_marks(fixtures_dir, tmp_path):
    sub = tmp_path / "submission" / "cs231n"
    sub.mkdir(parents=True)
    (sub / "net_visualization_pytorch.py").write_text(NET_VIS_CS231N)
    (sub / "style_transfer_pytorch.py").write_text(STYLE_CS231N)
    g = _grade(sub.parent, "Q3,Q4", fixtures_dir)
    assert sorted(g.tests) == sorted(Q3_TESTS + Q4_TESTS)
    assert not g.lost(), g.lost()



def test_a_loss_written_with_mean_is_told_to_sum(fixtures_dir, tmp_path):
    """torch.mean where the course sums (the catalogue's style_loss_mean and tv_loss_mean, together): each loses
    its own tests, and the feedback says sum, not mean, instead of restating the formula."""
    from conftest import patched_reference
    sub = patched_reference(tmp_path / "submission", {"style_transfer.py": [
        (m.find, m.replace) for m in MUTANTS if m.name in ("style_loss_mean", "tv_loss_mean")]})
    g = _grade(sub, "Q4", fixtures_dir)
    assert sorted(g.lost()) == ["Q4.3 style_loss", "Q4.3h style_loss (hidden cases)", "Q4.4 tv_loss",
                                "Q4.4h tv_loss (hidden cases)"], g.lost()
    assert "the SUM of the squared differences of the Gram matrices' entries, not their mean" in \
        g.tests["Q4.3 style_loss"]["output"], g.tests["Q4.3 style_loss"]["output"]
    assert "SUMS of the squared differences, not their means" in g.tests["Q4.4 tv_loss"]["output"], \
        g.tests["Q4.4 tv_loss"]["output"]



def test_a_saliency_squeezed_for_one_image_is_told_to_keep_the_batch(fixtures_dir, tmp_path):
    """A final .squeeze() (2017-era saliency code) returns (H, W) for one image: the hidden N = 1 case fails,
    and the feedback says the batch dimension is gone, not "remove the singleton dimension" (found by
    probing: that advice pointed the wrong way)."""
    from conftest import patched_reference
    sub = patched_reference(tmp_path / "submission", {"network_visualization.py": [(
        "    saliency = dX.abs().amax(dim=1)                          # (N, H, W)\n",
        "    saliency = dX.abs().amax(dim=1, keepdim=True).squeeze()\n")]})
    g = _grade(sub, "Q3", fixtures_dir)
    assert sorted(g.lost()) == ["Q3.1h compute_saliency_maps (hidden cases)"], g.lost()
    out = g.lost()["Q3.1h compute_saliency_maps (hidden cases)"]
    assert "FAIL saliency[hidden-n1]" in out and "the batch dimension is gone" in out, out
    assert "remove the singleton dimension" not in out, out


def test_fooling_cases_stay_far_from_the_step_cap():
    """Every fooling case takes the course's loop at most FOOLING_MAX_STEPS of its 100 steps, in float32 and in
    float64 (the generator asserts it too); the former hidden case, seed 311 -> 683, took 61 here and more than
    100 with two correct TensorFlow loops, whose students lost 0.67 points to float rounding."""
    import copy
    import importlib.util

    import torch

    from grader.course import models as tm
    from grader.fixturegen import netvis_style as nvs
    spec = importlib.util.spec_from_file_location("reference_netvis", REFERENCE / "deeplearning" / "network_visualization.py")
    ref = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(ref)
    model = tm.squeezenet(tm.MODEL_SEED)
    model64 = copy.deepcopy(model).double()
    for name, seed, target in nvs.FOOLING_CASES:
        X = torch.from_numpy(tm.test_images(seed, 1, nvs.SIZE))
        steps = (nvs.fooling_steps(ref.make_fooling_image, model, X, target),
                 nvs.fooling_steps(ref.make_fooling_image, model64, X.double(), target))
        assert max(steps) <= nvs.FOOLING_MAX_STEPS, (name, steps)
    former = nvs.fooling_steps(ref.make_fooling_image, model, torch.from_numpy(tm.test_images(311, 1, nvs.SIZE)), 683)
    assert former > nvs.FOOLING_MAX_STEPS, former

# ---------------------------------------------------------------- the grader's own model and loop
def test_numpy_squeezenet_is_the_workers_model():
    import torch

    from grader.fixturegen import netvis_style as ct
    from grader.course import models as tm
    from grader.oracle import squeezenet as ts
    torch.set_num_threads(1)
    assert ct.SIZE == tm.SQUEEZENET_IMAGE_SIZE
    model = tm.squeezenet(ct.MODEL_SEED)
    assert ts.param_shapes() == [tuple(p.shape) for p in model.parameters()]
    assert len(model.features) == ct.NUM_FEATURE_LAYERS
    mine = ts.grader_model(ts.MODEL_SEED)
    for a, p in zip(mine.arrays, model.parameters()):  # identical float32 weights, calibration included
        assert np.array_equal(a.astype(np.float32), p.detach().numpy())
    X = tm.test_images(231, 3, 64)
    model64 = model.double()
    with torch.no_grad():
        want = model64(torch.from_numpy(X).double()).numpy()
        feats, cur = [], torch.from_numpy(X).double()
        for m in model64.features:
            cur = m(cur)
            feats.append(cur.clone())
    np.testing.assert_allclose(mine.scores(X), want, rtol=1e-10, atol=1e-10)
    for got, f in zip(mine.features(X)[1:], feats[1:]):  # [0]: torch's in-place ReLU aliases the conv output
        np.testing.assert_allclose(got, f.numpy(), rtol=1e-10, atol=1e-10)
    X50 = tm.test_images(3, 1, 50)  # ceil-mode pooling on sizes that do not divide evenly
    with torch.no_grad():
        np.testing.assert_allclose(mine.scores(X50), model64(torch.from_numpy(X50).double()).numpy(),
                                   rtol=1e-10, atol=1e-10)


def test_helper_loop_is_the_provided_loop():
    """grader.inworker.style.style_transfer_run with the reference's losses == the template's style_transfer."""
    import importlib

    import torch

    from grader.fixturegen import netvis_style as ct
    from grader.inworker import style as th
    from grader.course import models as tm
    torch.set_num_threads(1)
    st = importlib.import_module("deeplearning.style_transfer")
    tpl = (TEMPLATE / "deeplearning" / "style_transfer.py").read_text()
    ref = (REFERENCE / "deeplearning" / "style_transfer.py").read_text()
    loop = ref[ref.index("def style_transfer("):]
    assert loop in tpl  # the reference's loop is the template's (provided code)
    p = {k: v for k, v in ct.STYLE_RUN.items() if not k.endswith("_seed")}
    p["num_iterations"] = 8
    content = tm.test_images(ct.STYLE_RUN["content_seed"], 1, ct.SIZE)
    style = tm.test_images(ct.STYLE_RUN["style_seed"], 1, ct.SIZE)
    names = {k: k for k in ("content_loss", "gram_matrix", "style_loss", "tv_loss")}
    got = th.style_transfer_run("deeplearning.style_transfer", names, content, style, ct.MODEL_SEED, p)
    assert got["problem"] is None
    img, losses = st.style_transfer(torch.from_numpy(content), torch.from_numpy(style),
                                    tm.squeezenet(ct.MODEL_SEED).features, p["content_layer"], p["content_weight"],
                                    p["style_layers"], p["style_weights"], p["tv_weight"],
                                    num_iterations=p["num_iterations"])
    assert torch.equal(got["img"], img)
    assert np.array_equal(got["losses"], np.asarray(losses))
