"""``import precheck; precheck.check("Q4")`` in a REAL Jupyter kernel (nbclient + ipykernel).

A temporary assignment folder is laid out as a CS231n 2019 student's: the package from reference/
without style_transfer.py, the style-transfer functions in the saved notebook
StyleTransfer-PyTorch.ipynb, and the pre-check bundle (``python -m grader bundle precheck``) unzipped
next to them.  The SAVED notebook holds the template's stub of tv_loss; the running kernel defines
tv_loss in a cell (the reference's, then the stub again) and calls ``precheck.check("Q4")`` without
saving: the first check must pass (the kernel's definition, not the saved one, is graded), the second
must fail with the same reason as ``python -m grader check`` on the saved folder.  Both outputs are read
as a person sees them: the text/html table and the text/plain table of the cell's output.  The kernel
must not have imported the grader or the student's package.

A second kernel hides torch (a broken ``torch`` package first on PYTHONPATH): ``precheck.check("Q1",
"Q4")`` grades Q1 and says that Q4 needs PyTorch, for that question only; ``precheck.check("Q5")``
picks the rubric that has Q5 (cs231n_a3) and says the same of Q5.
"""
from __future__ import annotations

import ast
import html
import json
import re
import shutil
import sys
import time
import zipfile
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

from conftest import REFERENCE, TEMPLATE, run_cli

TV = "Q4.4 tv_loss"


def function_source(path: Path, name: str) -> str:
    src = path.read_text()
    node = next(n for n in ast.parse(src).body if isinstance(n, ast.FunctionDef) and n.name == name)
    return ast.get_source_segment(src, node)


REF_ST = REFERENCE / "deeplearning" / "style_transfer.py"
TPL_ST = TEMPLATE / "deeplearning" / "style_transfer.py"


KERNEL = "autograder-test-python"


@pytest.fixture(scope="module", autouse=True)
def kernelspec(tmp_path_factory):
    """A kernel of this very Python (whatever kernels the machine has installed), with Jupyter's and
    IPython's state in a temporary folder."""
    home = tmp_path_factory.mktemp("jupyter")
    spec = home / "kernels" / KERNEL
    spec.mkdir(parents=True)
    (spec / "kernel.json").write_text(json.dumps({
        "argv": [sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
        "display_name": "autograder tests", "language": "python"}))
    mp = pytest.MonkeyPatch()
    mp.setenv("JUPYTER_PATH", str(home))
    mp.setenv("JUPYTER_RUNTIME_DIR", str(home / "runtime"))
    mp.setenv("IPYTHONDIR", str(home / "ipython"))
    yield
    mp.undo()


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("bundle") / "precheck.zip"
    r = run_cli("bundle", "precheck", "--out", out, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    with zipfile.ZipFile(out) as zf:
        assert "precheck.py" in zf.namelist()
        assert "def check(" in zf.read("precheck.py").decode()   # precheck.check ships with the bundle
    return out


def assignment(folder: Path, bundle: Path) -> Path:
    """A 2019-style assignment folder: style transfer only in the saved notebook, whose tv_loss is the stub."""
    shutil.copytree(REFERENCE / "deeplearning", folder / "deeplearning",
                    ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "deeplearning" / "style_transfer.py").unlink()
    with zipfile.ZipFile(bundle) as zf:
        zf.extractall(folder)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("# Style Transfer")]
    nb.cells.append(nbformat.v4.new_code_cell("import torch\nimport torch.nn as nn\nimport numpy as np\n"
                                              "dtype = torch.FloatTensor"))
    for name in ("content_loss", "gram_matrix", "style_loss"):
        nb.cells.append(nbformat.v4.new_code_cell(function_source(REF_ST, name)))
    nb.cells.append(nbformat.v4.new_code_cell(function_source(TPL_ST, "tv_loss")))
    nbformat.write(nb, folder / "StyleTransfer-PyTorch.ipynb")
    return folder


def execute(folder: Path, sources: list[str], timeout: int = 600) -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    NotebookClient(nb, timeout=timeout, kernel_name=KERNEL, resources={"metadata": {"path": str(folder)}}).execute()
    return nb


def outputs(cell) -> tuple[str, str]:
    """(text/html, text/plain) of a cell's result."""
    (res,) = [o for o in cell.outputs if o.output_type == "execute_result"]
    return res.data["text/html"], res.data["text/plain"]


def html_rows(page: str) -> dict[str, tuple[str, str, str]]:
    """{test: (score, mark, reason)} from the HTML table."""
    rows = {}
    for tr in re.findall(r"<tr>(.*?)</tr>", page, re.S):
        cells = [html.unescape(re.sub(r"<[^>]+>", "", c)).strip() for c in re.findall(r"<td[^>]*>(.*?)</td>", tr, re.S)]
        if len(cells) == 4 and cells[0] != "total":
            rows[cells[0]] = tuple(cells[1:])
    return rows


def text_row(text: str, test: str) -> str:
    (line,) = [ln for ln in text.splitlines() if ln.startswith(test + " ")]
    return line


def cli_reason(folder: Path, tmp: Path, question: str, test: str) -> str:
    res = tmp / "cli_results.json"
    r = run_cli("check", folder, "--questions", question, "--results", res, timeout=600)
    assert r.returncode == 0, r.stdout + r.stderr
    out = next(t["output"] for t in json.loads(res.read_text())["tests"] if t["name"] == test)
    return next(ln[5:] for ln in out.splitlines() if ln.startswith("FAIL "))


def test_check_grades_the_kernels_definitions(tmp_path, bundle):
    folder = assignment(tmp_path / "assignment", bundle)
    t0 = time.monotonic()
    nb = execute(folder, [
        "import precheck",
        function_source(REF_ST, "tv_loss"),          # right, and not saved anywhere
        "r = precheck.check('Q4')\nprint(f'one check of Q4: {r.seconds:.1f} s')\nr",
        function_source(TPL_ST, "tv_loss"),          # the stub again
        "precheck.check('q4')",
        "import sys\nprint(sorted(m for m in sys.modules if m.split('.')[0] in ('grader', 'deeplearning', 'cs231n')))",
    ])
    print(f"\nnotebook with two checks of Q4: {time.monotonic() - t0:.1f} s; {nb.cells[2].outputs[0].text.strip()}")

    page, text = outputs(nb.cells[2])
    rows = html_rows(page)
    assert TV in rows, text
    got, full = rows[TV][0].split("/")
    assert rows[TV] == (f"{full}/{full}", "pass", ""), rows
    assert all(mark == "pass" for _, mark, _ in rows.values()), rows    # the saved notebook's other functions
    assert set(rows) == {"Q4.1 content_loss", "Q4.2 gram_matrix", "Q4.3 style_loss", TV, "Q4.5 style transfer run"}
    assert re.search(rf"^Q4\.4 tv_loss\s+{full}/{full}\s+pass$", text, re.M), text
    total = sum(float(sc.split("/")[1]) for sc, _, _ in rows.values())
    assert f"total: {total:g} / {total:g}" in text
    assert "<" not in text and "\x1b" not in text   # plain text: no markup, no colour codes
    assert "hidden test(s) also run on Gradescope" in text and "hidden test(s) also run on Gradescope" in page
    assert text.count("tv_loss checked as your notebook's kernel defines it now") == 1

    page, text = outputs(nb.cells[4])
    rows = html_rows(page)
    score, mark, reason = rows[TV]
    assert (score, mark) == (f"0/{full}", "FAIL") and reason
    expected = cli_reason(folder, tmp_path, "Q4", TV)   # the CLI on the saved folder: its tv_loss is the stub
    assert reason == expected
    assert text_row(text, TV).endswith("FAIL  " + expected)
    assert rows["Q4.1 content_loss"][1] == "pass"
    print(text)

    assert nb.cells[5].outputs[0].text.strip() == "[]"   # nothing of the grader, nor the student's package


def test_check_without_torch_skips_only_the_torch_questions(tmp_path, bundle):
    folder = assignment(tmp_path / "assignment", bundle)
    fake = tmp_path / "no_torch" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('this torch build is broken (a test stand-in)')\n")
    t0 = time.monotonic()
    nb = execute(folder, [
        f"import os\nos.environ['PYTHONPATH'] = {str(fake.parent)!r} + os.pathsep + os.environ.get('PYTHONPATH', '')",
        "import precheck\nresult = precheck.check('Q1', 'Q4')\nresult",
        "print(result.passed, [t['name'] for t in result.tests][:2])",
        "print(precheck.check('Q5'))",     # Q5 is only in cs231n_a3: chosen for it, then skipped (no torch)
    ])
    print(f"\nnotebook check of Q1 (Q4 skipped): {time.monotonic() - t0:.1f} s")
    page, text = outputs(nb.cells[1])
    rows = html_rows(page)
    assert rows and all(t.startswith("Q1.") for t in rows), text
    assert all(mark == "pass" for _, mark, _ in rows.values()), rows
    assert "Q4 skipped: these questions need PyTorch" in text and "Q4 skipped" in page
    assert "Q1 skipped" not in text
    assert "True ['Q1.1 rnn_step_forward'" in nb.cells[2].outputs[0].text
    q5 = nb.cells[3].outputs[0].text
    assert "Q5 is graded in the cs231n_a3 rubric, not in cs182_hw2: checked with cs231n_a3" in q5
    assert "Q5 skipped: these questions need PyTorch" in q5 and "total: 0 / 0" in q5


def test_kernel_cells_go_where_the_grader_reads_them(tmp_path):
    """The grader side of precheck.check (no kernel): with a saved notebook, the kernel's cells follow its
    cells; without one, they make a notebook of their own; with the .py file present, that file is graded
    and the student is told."""
    from grader.engine import notebook
    from grader.engine.precheck import KERNEL_NOTEBOOK, graded_files, with_kernel_cells
    tv = function_source(REF_ST, "tv_loss")
    kernel = tmp_path / "kernel.json"
    kernel.write_text(json.dumps({"cells": ["import torch", tv], "defined": ["tv_loss"]}))
    assert "style_transfer.py" in graded_files("cs182_hw2", ["Q4"]) and graded_files("cs182_hw2", ["Q1"]) == [
        "rnn_layers.py", "classifiers/rnn.py"]

    saved = tmp_path / "saved"
    shutil.copytree(REFERENCE / "deeplearning", saved / "deeplearning")
    (saved / "deeplearning" / "style_transfer.py").unlink()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("notes")] + [
        nbformat.v4.new_code_cell(function_source(TPL_ST, n)) for n in ("content_loss", "tv_loss")]
    nbformat.write(nb, saved / "StyleTransfer-PyTorch.ipynb")
    copy, notes, scratch = with_kernel_cells(saved, kernel, graded_files("cs182_hw2", ["Q4"]))
    cells = notebook.code_cells(copy / "StyleTransfer-PyTorch.ipynb")
    assert cells[:2] == [function_source(TPL_ST, "content_loss"), function_source(TPL_ST, "tv_loss")]
    assert cells[2:] == ["import torch", tv]                  # after the saved cells: the kernel's wins
    assert notes == ["NOTE: tv_loss checked as your notebook's kernel defines it now (unsaved changes included), "
                     "with the rest of StyleTransfer-PyTorch.ipynb."]
    assert notebook.code_cells(saved / "StyleTransfer-PyTorch.ipynb") == cells[:2]   # the student's file untouched
    shutil.rmtree(scratch)

    copy, notes, scratch = with_kernel_cells(saved, kernel, graded_files("cs182_hw2", ["Q1"]))
    assert notes == [] and len(notebook.code_cells(copy / "StyleTransfer-PyTorch.ipynb")) == 2   # Q1: not used
    shutil.rmtree(scratch)

    q4 = graded_files("cs182_hw2", ["Q4"])
    (saved / "StyleTransfer-PyTorch.ipynb").unlink()
    copy, notes, scratch = with_kernel_cells(saved, kernel, q4)
    assert notebook.code_cells(copy / KERNEL_NOTEBOOK) == ["import torch", tv] and "your notebook" in notes[0]
    shutil.rmtree(scratch)

    shutil.copy(REF_ST, saved / "deeplearning" / "style_transfer.py")
    copy, notes, scratch = with_kernel_cells(saved, kernel, q4)
    assert notes == ["NOTE: your notebook's kernel defines tv_loss, but deeplearning/style_transfer.py is what is "
                     "graded (as on Gradescope): put your changes into that file and save it."]
    assert not any(copy.rglob("*.ipynb"))
    shutil.rmtree(scratch)



def test_a_frame_in_a_kernel_cell_is_named_as_the_kernels_definition(tmp_path):
    """The kernel's cells follow the saved ones in the checked copy, so their cell numbers exist only there:
    the results name them as the kernel's definition; frames in saved cells keep their cell numbers."""
    from grader.engine.precheck import KERNEL_NOTEBOOK, relabel_kernel_cells
    saved = tmp_path / "saved"
    saved.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_markdown_cell("notes")] + [nbformat.v4.new_code_cell(c) for c in ("x = 1", "y = 2")]
    nbformat.write(nb, saved / "StyleTransfer-PyTorch.ipynb")
    frames = ["[StyleTransfer-PyTorch.ipynb: code cell 2, line 1 of the cell]",
              "[StyleTransfer-PyTorch.ipynb: code cell 3, line 4 of the cell]",
              f"[{KERNEL_NOTEBOOK}: code cell 1, line 2 of the cell]",
              "[elsewhere/Missing.ipynb: code cell 9, line 1 of the cell]"]
    results = tmp_path / "results.json"
    results.write_text(json.dumps({"score": 0, "output": frames[1], "tests": [
        {"name": "Q4.4", "score": 0, "max_score": 1, "output": "\n".join(frames)}]}))
    relabel_kernel_cells(results, saved)
    got = json.loads(results.read_text())
    kernel = "[your notebook kernel's current definition (saved or not), line {} of it]"
    assert got["output"] == kernel.format(4)
    assert got["tests"][0]["output"].split("\n") == [frames[0], kernel.format(4), kernel.format(2), frames[3]]
