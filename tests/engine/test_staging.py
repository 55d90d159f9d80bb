"""grader/engine/staging.py and files.py: which copy of a file is graded, and how its bytes are read.

The forms here are what students hand in (found by probing the grader with the reference solution in
other forms): the precheck bundle unpacked into the assignment folder, a second download
(``assignment2 (1)/``, ``rnn_layers (1).py``), a stale ``cs231n/`` starter beside ``deeplearning/``, a
``-Copy1`` notebook, files saved by Windows editors (cp1252 / GBK with a PEP 263 line, a byte-order mark),
a comment holding U+2028, a zip with a file added twice, a notebook too large to read.  These tests stage
submissions (nothing of the student's runs); ``tests/engine/test_grade.py`` grades one through the CLI.
"""
import ast
import json
import shutil
import zipfile
from pathlib import Path

import pytest

from conftest import REFERENCE, TEMPLATE
from grader.course import years
from grader.engine import notebook, rewrite, staging
from grader.engine.files import decode_source


@pytest.fixture
def staged(tmp_path):
    """stage(submission) -> the report; every staged folder is removed afterwards."""
    reports = []

    def run(submission):
        r = staging.stage(submission, workdir=tmp_path)
        reports.append(r)
        return r
    yield run
    for r in reports:
        shutil.rmtree(Path(r.stage_dir).parent, ignore_errors=True)


def _copy(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def _text(report, staged_as: str) -> str:
    return (Path(report.stage_dir) / "deeplearning" / staged_as).read_text(encoding="utf-8")


def test_the_copy_holding_the_work_is_graded_not_a_starter_copy(tmp_path, staged):
    sub = tmp_path / "assignment2"
    # the work in a stale-looking place, starter copies where the old ranking preferred them
    _copy(REFERENCE / "deeplearning", sub / "work" / "deeplearning")
    _copy(TEMPLATE, sub / "student_template")                 # the precheck bundle, unpacked
    _copy(TEMPLATE / "deeplearning", sub / "cs231n")          # a stale starter package, first by name
    _copy(TEMPLATE / "deeplearning", sub / "a" / "deeplearning")  # shallower than the work
    r = staged(sub)
    for staged_as in ("rnn_layers.py", "classifiers/rnn.py", "network_visualization.py", "style_transfer.py",
                      "gan_pytorch.py"):
        f = r.files[staged_as]
        assert f.source == f"work/deeplearning/{staged_as}", (staged_as, f.source)
        assert f.written > 0
        assert _text(r, staged_as) == (REFERENCE / "deeplearning" / staged_as).read_text()
    said = [m for m in r.messages if m.startswith("rnn_layers.py: used")]
    assert said and "implements none: the course's starter file" in said[0], r.messages


def test_a_starter_file_gives_way_to_the_notebook_with_the_work(tmp_path, staged):
    """CS231n 2019: the functions live in the notebook; the precheck bundle's starter .py beside it is
    not the work.  Of two notebooks (Jupyter's "Make a Copy" keeps the starter), the one with the work."""
    sub = tmp_path / "assignment3"
    _copy(TEMPLATE, sub / "student_template")
    ref = (REFERENCE / "deeplearning" / "style_transfer.py").read_text()
    tpl = (TEMPLATE / "deeplearning" / "style_transfer.py").read_text()
    head = "import torch\nimport torch.nn as nn\nimport numpy as np\n"
    for name, src in (("StyleTransfer-PyTorch.ipynb", ref), ("StyleTransfer-PyTorch-Copy1.ipynb", tpl)):
        cells = [head] + [_function(src, f) for f in ("content_loss", "gram_matrix", "style_loss", "tv_loss")]
        _notebook(cells, sub / name)
    r = staged(sub)
    f = r.files["style_transfer.py"]
    assert (f.origin, f.source) == ("notebook", "StyleTransfer-PyTorch.ipynb"), (f.origin, f.source, r.messages)
    assert any("is the course's starter file (none of its functions is written)" in m for m in r.messages)


def _function(src: str, name: str) -> str:
    tree = ast.parse(src)
    node = next(n for n in tree.body if isinstance(n, ast.FunctionDef) and n.name == name)
    return ast.get_source_segment(src, node)


def _notebook(cells: list[str], dest: Path) -> None:
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "execution_count": i + 1, "outputs": [],
                     "source": c.splitlines(keepends=True)} for i, c in enumerate(cells)],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(json.dumps(nb))


@pytest.mark.parametrize("data, text, how", [
    (b"x = 1\n", "x = 1\n", ""),
    (b"\xef\xbb\xbfx = 1\r\n", "x = 1\r\n", "byte-order mark"),
    (b"# -*- coding: cp1252 -*-\nx = '\x93caf\xe9\x94'\n", "\nx = '\u201ccaf\u00e9\u201d'\n", "as cp1252"),
    (b"#!/usr/bin/env python\n# coding: gbk\nx = '\xc4\xe3'\n", "\nx = '\u4f60'\n", "as gbk"),
    (b"# caf\xe9 (Latin-1, no declaration: Python still imports it)\nx = 1\n", "\nx = 1\n", "not UTF-8 in its comments"),
])
def test_source_bytes_are_read_as_python_reads_them(data, text, how):
    got, said = decode_source(data)
    assert got.endswith(text) and got.count("\n") == data.count(b"\n")
    assert (how in said) if how else said == ""
    if b"coding" in data:
        assert "coding:" not in got  # staged as UTF-8: the declaration would mislead the importer


@pytest.mark.parametrize("data, why", [
    (b"x = 'caf\xe9'\n", "byte 0xe9 on line 1 is not UTF-8 text and the file declares no other encoding"),
    (b"# -*- coding: klingon -*-\nx = 1\n", "unknown encoding"),
])
def test_source_python_cannot_read_says_save_as_utf8(data, why):
    with pytest.raises(ValueError, match="save the file as UTF-8") as exc:
        decode_source(data)
    assert why in str(exc.value)


def test_windows_encodings_are_staged_as_utf8(tmp_path, staged):
    sub = _copy(REFERENCE, tmp_path / "submission")
    f = sub / "deeplearning" / "rnn_layers.py"
    f.write_bytes(b"# -*- coding: cp1252 -*-\n# \x93r\xe9sum\xe9\x94 of my notes\n" + f.read_bytes())
    g = sub / "deeplearning" / "classifiers" / "rnn.py"
    g.write_bytes(b"\xef\xbb\xbf" + g.read_bytes())
    r = staged(sub)
    assert r.files["rnn_layers.py"].origin == r.files["classifiers/rnn.py"].origin == "file"
    assert "\u201cr\u00e9sum\u00e9\u201d" in _text(r, "rnn_layers.py")
    assert not _text(r, "classifiers/rnn.py").startswith("\ufeff")
    assert any("was read as cp1252" in m for m in r.messages), r.messages


def test_rewrites_number_lines_as_python_does():
    src = "# a note \u2028 with a line separator\x0c and a form feed\nimport not_installed_here\nx = 1\r\ny = 2\n"
    node = ast.parse(src).body[0]
    assert node.lineno == 2
    assert rewrite.statement_text(src, node) == "import not_installed_here"
    out = rewrite.comment_out(src, [node], "skipped")
    assert out.split("\n")[1].startswith("# import not_installed_here")
    assert out.split("\n")[0] == src.split("\n")[0] and out.count("\n") == src.count("\n")


def test_a_namespace_package_does_not_vouch_for_its_other_parts(tmp_path, monkeypatch):
    """protobuf installs ``google/`` (a namespace package); Colab's ``google.colab`` is still absent."""
    (tmp_path / "nspkg" / "present").mkdir(parents=True)
    (tmp_path / "nspkg" / "present" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert years.installed("nspkg") and years.installed("nspkg.present")
    assert not years.installed("nspkg.colab")
    assert years.installed("os.path") and years.installed("json.decoder")  # a module, a regular package


def test_notebook_constants_with_a_condition_or_a_lambda_are_kept():
    cells = ["import torch\nimport numpy as np\n"
             "device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')\n"
             "sq = lambda t: t * t\nEPS = float(np.finfo(np.float32).eps)\nlosses = train(model)\n",
             "X, y, class_names = load_imagenet_val(num=5)\nidx = 0\nXi = X[idx][None]\n",  # the course's cell
             "def tv_loss(img, tv_weight):\n    return tv_weight * sq(img).sum().to(device) + 0 * EPS\n"]
    body, info = notebook.extract(cells, "style_transfer.py", (TEMPLATE / "deeplearning/style_transfer.py").read_text())
    assert set(info["constants"]) == {"device", "sq", "EPS", "idx", "Xi"}, info["constants"]
    assert "'cuda'" not in body and "train(" not in body and "load_imagenet_val" not in body
    # X came from a call that is not taken: Xi cannot be computed, and must not fail the file's import
    tree = ast.parse(body)
    xi = next(n for n in tree.body if isinstance(n, ast.Try) and "Xi" in ast.unparse(n.body[0]))
    assert ast.unparse(xi.handlers[0].type) == "Exception"


def test_a_zip_holding_a_file_twice_is_read_as_unzip_reads_it(tmp_path, staged):
    z = tmp_path / "hw.zip"
    stale = (TEMPLATE / "deeplearning/rnn_layers.py").read_text()
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("deeplearning/rnn_layers.py", stale)
        zf.write(REFERENCE / "deeplearning/classifiers/rnn.py", "deeplearning/classifiers/rnn.py")
        with pytest.warns(UserWarning, match="Duplicate name"):
            zf.write(REFERENCE / "deeplearning/rnn_layers.py", "deeplearning/rnn_layers.py")
    r = staged(z)
    assert _text(r, "rnn_layers.py") == (REFERENCE / "deeplearning/rnn_layers.py").read_text()
    assert any("holds twice (the last copy is used" in m for m in r.messages), r.messages


@pytest.mark.parametrize("name", ["rnn_layers (1).py", "RNN_Layers.py", "rnn_layers - Copy.py", "rnn_layers_final.py",
                                  "rnn_layers-v2.py"])
def test_a_file_named_almost_right_is_graded_and_the_student_told(tmp_path, staged, name):
    sub = _copy(REFERENCE, tmp_path / "submission")
    (sub / "deeplearning" / "rnn_layers.py").rename(sub / "deeplearning" / name)
    r = staged(sub)
    assert r.files["rnn_layers.py"].source == f"deeplearning/{name}"
    assert any(f"graded deeplearning/{name} as rnn_layers.py" in m for m in r.messages), r.messages


@pytest.mark.parametrize("name", ["rnn_layers_old.py", "rnn_layers_tf.py", "rnn_layers_test.py"])
def test_a_name_that_says_another_file_is_not_taken(tmp_path, staged, name):
    sub = _copy(REFERENCE, tmp_path / "submission")
    (sub / "deeplearning" / "rnn_layers.py").rename(sub / "deeplearning" / name)
    assert staged(sub).files["rnn_layers.py"].origin == "missing"


def test_a_missing_student_module_stages_the_starter_in_its_place(tmp_path, staged):
    """Another file imports it (classifiers/rnn.py: from deeplearning.rnn_layers import *): with the course's
    starter there it imports, and its checks judge it with correct layers standing in; the file's own
    checks still say it is missing (StageReport.missing_message)."""
    sub = _copy(REFERENCE, tmp_path / "submission")
    (sub / "deeplearning" / "rnn_layers.py").unlink()
    r = staged(sub)
    assert r.files["rnn_layers.py"].origin == "missing"
    assert "was not found in your submission" in r.missing_message("rnn_layers.py")
    assert _text(r, "rnn_layers.py") == (TEMPLATE / "deeplearning" / "rnn_layers.py").read_text()
    assert "from deeplearning.rnn_layers import *\n" in _text(r, "classifiers/rnn.py")  # not skipped
    assert "rnn_layers.py: no rnn_layers.py in the submission" in r.messages
    assert not any("staff" in m for m in r.messages)


def test_a_file_with_a_syntax_error_says_which_line_and_stages_the_starter(tmp_path, staged):
    sub = _copy(REFERENCE, tmp_path / "submission")
    layers = sub / "deeplearning" / "rnn_layers.py"
    layers.write_text(layers.read_text().replace("import numpy as np\n", "import numpy as np\n%matplotlib inline\n", 1))
    r = staged(sub)
    msg = r.missing_message("rnn_layers.py")
    assert r.files["rnn_layers.py"].origin == "unreadable", msg
    line = layers.read_text().splitlines().index("%matplotlib inline") + 1
    assert f"could not be imported (SyntaxError at line {line}: %matplotlib inline: that is IPython syntax" in msg, msg
    assert "delete that line" in msg
    assert _text(r, "rnn_layers.py") == (TEMPLATE / "deeplearning" / "rnn_layers.py").read_text()


def test_a_stale_copy_in_an_old_folder_gives_way(tmp_path, staged):
    """Probe round N: the real files at the top, an old package in assignment2_old/deeplearning/ (the same
    functions written): the old one was graded, for being inside a package folder."""
    sub = tmp_path / "submission"
    _copy(REFERENCE / "deeplearning", sub / "assignment2_old" / "deeplearning")
    old = sub / "assignment2_old" / "deeplearning" / "rnn_layers.py"
    old.write_text(old.read_text().replace("next_h = np.tanh(x.dot(Wx) + prev_h.dot(Wh) + b)",
                                           "next_h = np.tanh(x.dot(Wx) + prev_h.dot(Wh))"))
    shutil.copyfile(REFERENCE / "deeplearning" / "rnn_layers.py", sub / "rnn_layers.py")
    r = staged(sub)
    assert r.files["rnn_layers.py"].source == "rnn_layers.py"
    said = [m for m in r.messages if m.startswith("rnn_layers.py: used rnn_layers.py")]
    assert said and "a different version of the file" in said[0], r.messages


def test_a_large_zip_in_a_folder_is_read_in_place(tmp_path, staged, monkeypatch):
    """Probe round N: assignment2.zip (datasets and all, 300 MB) left in an uploaded folder was skipped whole
    for its size; its code members are read as an uploaded zip's are."""
    monkeypatch.setattr(staging, "MAX_NOTEBOOK_BYTES", 4096)
    sub = tmp_path / "submission"
    sub.mkdir()
    with zipfile.ZipFile(sub / "assignment2.zip", "w") as zf:
        for f in ("rnn_layers.py", "classifiers/rnn.py"):
            zf.write(REFERENCE / "deeplearning" / f, f"assignment2/deeplearning/{f}")
    assert (sub / "assignment2.zip").stat().st_size > 4096
    r = staged(sub)
    assert r.files["rnn_layers.py"].source == "assignment2/assignment2/deeplearning/rnn_layers.py", r.messages
    assert _text(r, "rnn_layers.py") == (REFERENCE / "deeplearning" / "rnn_layers.py").read_text()


def test_archives_that_are_not_read_are_named(tmp_path, staged):
    sub = tmp_path / "submission"
    sub.mkdir()
    (sub / "hw2.tar.gz").write_bytes(b"\x1f\x8b" + b"\0" * 64)
    r = staged(sub)
    assert any("hw2.tar.gz is a .tar.gz archive, which is not read: upload a .zip" in m for m in r.messages), r.messages
    empty = tmp_path / "empty.zip"
    zipfile.ZipFile(empty, "w").close()
    r = staged(empty)
    assert any("empty.zip holds no files (an empty zip)" in m for m in r.messages), r.messages


def test_a_notebook_too_large_to_read_says_to_clear_its_outputs(tmp_path, staged, monkeypatch):
    monkeypatch.setattr(staging, "MAX_NOTEBOOK_BYTES", 4096)
    sub = tmp_path / "submission"
    _notebook(["x = 1\n" + "# output\n" * 1000], sub / "StyleTransfer-PyTorch.ipynb")
    r = staged(sub)
    said = [m for m in r.messages if "StyleTransfer-PyTorch.ipynb" in m]
    assert said and "clear them" in said[0] and "larger than" in said[0], r.messages



def test_a_notebook_of_72_mb_of_images_is_read(tmp_path, staged):
    """Probe round N: a style-transfer notebook saved with its images (72 MB) was skipped at 64 MB, and all of Q4
    lost; notebooks up to 160 MB are read, their outputs dropped as they are parsed."""
    code = (REFERENCE / "deeplearning" / "style_transfer.py").read_text()
    body = code[code.index("def content_loss("):code.index("def gram_matrix(")]
    nb = {"cells": [{"cell_type": "code", "metadata": {}, "execution_count": 1, "source": body.splitlines(True),
                     "outputs": [{"output_type": "display_data", "data": {"image/png": "A" * (72 * 1024 ** 2)}}]}],
          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    sub = tmp_path / "submission"
    sub.mkdir()
    (sub / "StyleTransfer-PyTorch.ipynb").write_text(json.dumps(nb))
    r = staged(sub)
    assert r.files["style_transfer.py"].origin == "notebook", r.messages
    assert "content_loss" in r.files["style_transfer.py"].functions


NEWER_SYNTAX = [  # (a line only a newer Python reads, what staging calls it)
    ('    print(f"{next_h["shape"]}") if False else None\n', "an f-string that uses its own quote character"),
    ("    type Pair = tuple\n", "a type statement (Python 3.12+)"),
]


@pytest.mark.parametrize("line, what", NEWER_SYNTAX, ids=["pep701-fstring", "type-statement"])
def test_a_line_gradescopes_python_cannot_read_makes_the_file_unreadable_everywhere(tmp_path, staged, line, what):
    """Gradescope grades with Python 3.10: a file with a line only 3.11+ reads would import on a newer grader
    (or the student's pre-check) and fail there.  Staging grades it as Gradescope would, on every machine,
    and says which line and why."""
    sub = _copy(REFERENCE, tmp_path / "sub")
    path = sub / "deeplearning" / "rnn_layers.py"
    src = path.read_text()
    anchor = "    next_h = np.tanh(x.dot(Wx) + prev_h.dot(Wh) + b)\n"
    assert src.count(anchor) == 1
    path.write_text(src.replace(anchor, anchor + line))
    line_no = src[:src.index(anchor)].count("\n") + 2
    r = staged(sub)
    f = r.files["rnn_layers.py"]
    assert f.origin == "unreadable" and f"line {line_no} uses {what}" in f.note, f.note
    assert "Gradescope's Python 3.10 cannot read" in r.missing_message("rnn_layers.py")


@pytest.mark.parametrize("src, found", [
    ('d = {"k": 1}\nx = f"{d["k"]}"\n', 2), ("d = {'k': 1}\nx = f'{d['k']}'\n", 2), ('x = 1\ny = f"{f"{x}"}"\n', 2),
    ("try:\n    pass\nexcept* ValueError:\n    pass\n", 3), ("def g[T](x: T) -> T:\n    return x\n", 1),
    ('d = {"k": 1}\nx = f"{d[\'k\']}" + f"""{d["k"]}"""\n', None), ("match 1:\n    case 1:\n        pass\n", None),
    ("def f(:\n    pass\n", None), ('x = f"{"\n', None)])
def test_newer_syntax_is_found_by_any_python(src, found):
    """The same lines on Python 3.10-3.13 (measured with each; this runs on the test interpreter): newer syntax is
    found, 3.10's own syntax (match, the other quote, triple quotes) and plain syntax errors are not."""
    from grader.engine.grammar import newer_syntax
    got = newer_syntax(src)
    assert (got[0] if got else None) == found, got
