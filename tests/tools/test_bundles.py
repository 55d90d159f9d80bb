"""The Gradescope bundle (dist/autograder.zip) and the student pre-check bundle (dist/precheck.zip).

Both are built from a throw-away git repository that holds this checkout's
tracked files plus the files of the bundle tooling itself (so the tests pass
before and after those are committed), exactly as `python -m grader bundle`
builds them.  The pre-check's secrecy is proven by content: no line of the
reference's solution regions, no line unique to a Gradescope-only grader file,
no HDF5 group of a hidden case and no byte string of a hidden case's data
appears anywhere in the zip.  Run with -s to see the bundles' listings.
"""
import ast
import fnmatch
import hashlib
import io
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
import tokenize
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
import yaml

from conftest import PYTHON, REFERENCE, ROOT, TEMPLATE, run_cli
from grader.paths import END_MARKER as END
from grader.paths import RUBRICS
from grader.paths import START_MARKER as START

# the bundle tooling: part of the bundles whether or not the lead has committed it yet
OWN_FILES = ["grader/tools/bundle.py", "grader/engine/grade.py", "grader/engine/precheck.py", "run_autograder",
             "precheck.py", "setup.sh", "tests/tools/test_bundles.py", "tests/tools/test_run_autograder.py"]
# Gradescope-only, by folder (grader/tools/bundle.py's PRECHECK_EXCLUDE): staff commands and the mutant
# catalogue, the fixture generators (they build the hidden cases), the grader's own solution code.
GRADESCOPE_ONLY = ("grader/tools/*", "grader/fixturegen/*", "grader/oracle/*")
# What the pre-check ships of the grader, by role: everything a grading run needs on the grader's side.
PRECHECK_ROLES = ("grader/engine/", "grader/sandbox/", "grader/inworker/", "grader/checklib/", "grader/course/",
                  "grader/checks/", "grader/rubrics/")


# ------------------------------------------------------------------ helpers (also used by test_run_autograder)
def make_repo(dest: Path, junk: bool = False) -> Path:
    """A git repository at ``dest`` whose tracked files are this checkout's (working-tree content)."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True,
                            check=True).stdout.split("\0")
    files = sorted({p for p in listed if p} | {p for p in OWN_FILES if (ROOT / p).exists()})
    dest.mkdir(parents=True)
    for rel in files:
        src = ROOT / rel
        if not src.is_file():
            continue  # deleted in the working tree
        (dest / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / rel)
    env = dict(os.environ, GIT_CONFIG_GLOBAL=os.devnull, GIT_CONFIG_NOSYSTEM="1")
    subprocess.run(["git", "init", "-q"], cwd=dest, check=True, env=env)
    subprocess.run(["git", "add", "-A"], cwd=dest, check=True, env=env)
    if junk:  # untracked and git-ignored files must never reach a bundle
        (dest / "grader" / "scratch_notes.py").write_text("SECRET_SCRATCH = 1\n")
        (dest / "fixtures" / "hidden_old.h5").write_bytes(b"\x89HDF\r\n\x1a\nold")
        (dest / "grader" / "engine" / "__pycache__").mkdir(exist_ok=True)
        (dest / "grader" / "engine" / "__pycache__" / "grade.cpython-311.pyc").write_bytes(b"\x00pyc")
    return dest


def build(repo: Path, kind: str, out: Path, env_extra=None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "AUTOGRADER_RUBRIC"}
    env.update(PYTHONDONTWRITEBYTECODE="1", AUTOGRADER_BUNDLE_LIST="1", **(env_extra or {}))
    proc = subprocess.run([PYTHON, "-m", "grader", "bundle", kind, "--out", str(out)], cwd=repo,
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def zip_entries(path: Path) -> dict:
    with zipfile.ZipFile(path) as zf:
        return {i.filename: (i, zf.read(i)) for i in zf.infolist()}


def print_listing(title: str, path: Path):
    entries = zip_entries(path)
    print(f"\n=== {title}: {path.name}, {path.stat().st_size} bytes zipped, {len(entries)} files, "
          f"sha256 {hashlib.sha256(path.read_bytes()).hexdigest()}")
    for name, (info, data) in sorted(entries.items()):
        print(f"  {info.file_size:>9}  {stat.filemode(info.external_attr >> 16)}  {name}")


def code_lines(text: str) -> list[str]:
    """Stripped lines with Python comments removed (whitespace inside kept); non-Python text as is."""
    lines = text.splitlines()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            if tok.type == tokenize.COMMENT and tok.string.strip() not in (START, END):
                row, col = tok.start
                lines[row - 1] = lines[row - 1][:col]
    except (tokenize.TokenError, SyntaxError):
        pass
    return [ln.strip() for ln in lines]


def searchable_lines(data: bytes) -> list[str]:
    """``code_lines`` of a text file; a binary one (the fixtures' HDF5: no comments to strip, and 4.4 MB
    of tokens) line by line, stripped."""
    text = data.decode("utf-8", "replace")
    return [ln.strip() for ln in text.splitlines()] if b"\0" in data else code_lines(text)


def squeeze(line: str) -> str:
    return re.sub(r"\s+", "", line)


def solution_lines() -> dict[str, tuple[str, str]]:
    """Distinctive lines of every marked solution region, whitespace removed -> (reference file, line).

    Comments are dropped; trivial lines (pass, return ..., a bare loop header, a shape unpacking) and
    lines that the template itself has are skipped."""
    template_lines = set()
    for p in TEMPLATE.rglob("*.py"):
        template_lines.update(squeeze(ln) for ln in code_lines(p.read_text()))
    trivial = re.compile(r"^(pass|return\b.*|else:|try:|finally:|break|continue|[)\]}]+,?"
                         r"|for \w+ in (range|reversed)\(.*\):|[\w, ()]+ = \w+\.shape(\[-?\d\])?)$")
    out = {}
    for p in sorted(REFERENCE.rglob("*.py")):
        inside = False
        for s in code_lines(p.read_text()):
            if s == START:
                inside = True
            elif s == END:
                inside = False
            elif inside and len(s) >= 12 and not trivial.match(s) and squeeze(s) not in template_lines:
                out[squeeze(s)] = (p.relative_to(ROOT).as_posix(), s)
    return out


def grader_imports(source: str, anywhere: bool) -> set[str]:
    """grader.* modules imported (anywhere, or not inside functions); imports in a `try:` that catches
    ImportError are optional and left out."""
    tree = ast.parse(source)
    nodes, todo = [], [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Try) and any(h.type is None or "ImportError" in ast.dump(h.type)
                                             or "ModuleNotFoundError" in ast.dump(h.type) for h in node.handlers):
            todo.extend(node.handlers + node.orelse + node.finalbody)
            continue
        nodes.append(node)
        if anywhere or not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            todo.extend(ast.iter_child_nodes(node))
    out = set()
    for n in nodes:
        if isinstance(n, ast.Import):
            out |= {a.name for a in n.names if a.name.startswith("grader.")}
        elif isinstance(n, ast.ImportFrom) and n.level == 0 and n.module == "grader":
            out |= {f"grader.{a.name}" for a in n.names}
        elif isinstance(n, ast.ImportFrom) and n.level == 0 and (n.module or "").startswith("grader."):
            out.add(n.module)
    return out


# ------------------------------------------------------------------ fixtures
@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    return make_repo(tmp_path_factory.mktemp("bundles") / "repo", junk=True)


@pytest.fixture(scope="module")
def gradescope_zip(repo, tmp_path_factory):
    out = tmp_path_factory.mktemp("gs") / "autograder.zip"
    t0 = time.time()
    proc = build(repo, "gradescope", out)
    print(f"\nbuilt {out.name} in {time.time() - t0:.2f} s:\n" + "\n".join(proc.stdout.splitlines()[-4:]))
    return out


@pytest.fixture(scope="module")
def precheck_zip(repo, tmp_path_factory):
    out = tmp_path_factory.mktemp("pc") / "precheck.zip"
    t0 = time.time()
    proc = build(repo, "precheck", out)
    print(f"\nbuilt {out.name} in {time.time() - t0:.2f} s:\n" + "\n".join(proc.stdout.splitlines()[-3:]))
    return out


# ------------------------------------------------------------------ Gradescope bundle
def test_gradescope_bundle_layout(repo, gradescope_zip):
    print_listing("Gradescope bundle", gradescope_zip)
    entries = zip_entries(gradescope_zip)
    names = list(entries)
    assert names == sorted(names), "entries are not in sorted order"
    for top in ("setup.sh", "run_autograder"):
        assert top in entries, f"{top} is not at the zip's root"
        assert entries[top][0].external_attr >> 16 == 0o100755, f"{top} is not executable in the zip"
    tracked = set(subprocess.run(["git", "ls-files"], cwd=repo, capture_output=True, text=True,
                                 check=True).stdout.split())
    want = {p for p in tracked if p.startswith(("grader/", "student_template/", "fixtures/"))}
    want |= {"setup.sh", "run_autograder", "requirements.txt"}
    assert set(names) == want, f"missing {sorted(want - set(names))}, extra {sorted(set(names) - want)}"
    assert "fixtures/hidden.h5" in entries and "fixtures/visible.h5" in entries
    assert any(n.startswith("grader/rubrics/") for n in names)
    assert not [n for n in names if n.startswith(("reference/", "tests/", "examples/", ".venv/", "dist/"))]
    assert not [n for n in names if n.endswith((".pyc", ".pyo")) or "__pycache__" in n]
    assert "grader/scratch_notes.py" not in entries and "fixtures/hidden_old.h5" not in entries  # untracked junk
    for name, (info, data) in entries.items():
        assert info.date_time == (1980, 1, 1, 0, 0, 0), name
        assert info.compress_type == zipfile.ZIP_DEFLATED, name
        assert info.external_attr >> 16 in (0o100644, 0o100755), name
        assert data == (repo / name).read_bytes(), f"{name} differs from the working tree"


def test_gradescope_bundle_is_reproducible(repo, gradescope_zip, tmp_path):
    again = tmp_path / "again.zip"
    build(repo, "gradescope", again)
    # an independent copy of the same files, other path and timestamps: still the same bytes
    other = make_repo(tmp_path / "other")
    for p in other.rglob("*"):
        if p.is_file() and ".git" not in p.parts:
            os.utime(p, (1_700_000_000, 1_700_000_000))
    third = tmp_path / "third.zip"
    build(other, "gradescope", third)
    digests = {hashlib.sha256(p.read_bytes()).hexdigest() for p in (gradescope_zip, again, third)}
    print(f"\nautograder.zip sha256 over three builds: {digests}")
    assert len(digests) == 1
    assert (gradescope_zip.parent / "autograder.zip.sha256").read_text().split()[0] == digests.pop()


def test_gradescope_rubric_total_matches_assignment_page(gradescope_zip, tmp_path):
    """cs182_hw2: 100 points = Q1 30 + Q2 30 + Q3 20 + Q4 20 (the assignment page)."""
    with zipfile.ZipFile(gradescope_zip) as zf:
        zf.extractall(tmp_path / "src")
    code = ("import json, sys; sys.path.insert(0, '.'); from grader.engine import rubric; "
            "r = rubric.load('cs182_hw2'); "
            "print(json.dumps({'total': r.total, 'q': {q.id: q.points for q in r.questions}, "
            "'sum': sum(e.points for e in r.entries()), 'path': r.path}))")
    out = subprocess.run([PYTHON, "-c", code], cwd=tmp_path / "src", capture_output=True, text=True, check=True)
    got = json.loads(out.stdout)
    assert got["path"].startswith(str(tmp_path / "src"))
    assert got["total"] == 100 and got["sum"] == 100
    assert got["q"] == {"Q1": 30, "Q2": 30, "Q3": 20, "Q4": 20}


def test_gradescope_bundle_records_a_chosen_rubric(repo, tmp_path):
    out = tmp_path / "a3.zip"
    build(repo, "gradescope", out, {"AUTOGRADER_RUBRIC": "cs231n_a3"})
    assert zip_entries(out)["autograder_rubric"][1] == b"cs231n_a3\n"
    bad = subprocess.run([PYTHON, "-m", "grader", "bundle", "gradescope", "--out", str(tmp_path / "b.zip")],
                         cwd=repo, capture_output=True, text=True, env=dict(os.environ, AUTOGRADER_RUBRIC="nope"))
    assert bad.returncode != 0 and "nope" in bad.stderr


def test_bundle_refuses_untracked_required_files(tmp_path):
    repo = make_repo(tmp_path / "r")
    subprocess.run(["git", "rm", "-q", "--cached", "run_autograder"], cwd=repo, check=True)
    proc = subprocess.run([PYTHON, "-m", "grader", "bundle", "gradescope", "--out", str(tmp_path / "x.zip")],
                          cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 1 and "not tracked by git: run_autograder" in proc.stderr
    assert not (tmp_path / "x.zip").exists()


# ------------------------------------------------------------------ pre-check bundle: secrecy, by content
def test_precheck_bundle_contents(precheck_zip, gradescope_zip):
    print_listing("student pre-check bundle", precheck_zip)
    names = list(zip_entries(precheck_zip))
    assert "precheck.py" in names and "grader/__main__.py" in names and "fixtures/visible.h5" in names
    assert any(n.startswith("student_template/deeplearning/") for n in names)
    for role in PRECHECK_ROLES:  # the grader's side of a run ships whole
        assert any(n.startswith(role) for n in names), f"nothing of {role} in the pre-check"
    forbidden = [n for n in names if n.startswith(("reference/", "tests/", "grader/tools/", "grader/fixturegen/",
                                                  "grader/oracle/"))
                 or "hidden" in n or n == "fixtures/manifest.yaml" or n.endswith((".pyc", ".pyo")) or "__pycache__" in n]
    assert not forbidden
    # the folders left out really exist in the Gradescope bundle (so the check above is not vacuous)
    gs = zip_entries(gradescope_zip)
    for folder in ("grader/tools/", "grader/fixturegen/", "grader/oracle/"):
        assert any(n.startswith(folder) for n in gs), folder
    assert "fixtures/hidden.h5" in gs and "fixtures/manifest.yaml" in gs
    with zipfile.ZipFile(precheck_zip) as zf:
        for info in zf.infolist():  # no compiled Python by content either (magic + flags header)
            head = zf.read(info)[:16]
            assert not (len(head) == 16 and head[2:4] == b"\r\n" and head[4:8] in (b"\0\0\0\0", b"\1\0\0\0",
                                                                                    b"\3\0\0\0")), info.filename


def test_precheck_has_no_solution_lines(precheck_zip):
    lines = solution_lines()
    assert len(lines) > 50, "expected many distinctive solution lines in reference/"
    by_file = {}
    for src, _ in lines.values():
        by_file[src] = by_file.get(src, 0) + 1
    print("\ndistinctive solution lines checked per reference file: "
          + ", ".join(f"{k}: {v}" for k, v in sorted(by_file.items())))
    leaks = []
    for name, (_, data) in zip_entries(precheck_zip).items():
        text = data.decode("utf-8", "replace")
        present = {squeeze(ln) for ln in searchable_lines(data)} | {squeeze(ln) for ln in text.splitlines()}
        for key, (src, line) in lines.items():
            if key in present or line.encode() in data:
                leaks.append(f"{name} holds {src}'s solution line {line!r}")
    assert not leaks, "\n".join(leaks[:20])


def test_precheck_imports_resolve(gradescope_zip, precheck_zip):
    """Every grader module a shipped file imports on import (a check module: anywhere) is shipped too, so
    the pre-check never fails to collect; check modules that need Gradescope-only code are left out."""
    pc, gs = zip_entries(precheck_zip), zip_entries(gradescope_zip)
    def present(mod, names):
        base = mod.replace(".", "/")
        return base + ".py" in names or base + "/__init__.py" in names
    for name, (_, data) in pc.items():
        if name.endswith(".py"):
            is_check = name.startswith("grader/checks/test_")
            missing = [m for m in grader_imports(data.decode(), anywhere=is_check) if present(m, gs)
                       and not present(m, pc)]
            assert not missing, f"{name} imports {missing}, absent from the pre-check"
    left_out = sorted(n for n in gs if n.startswith("grader/checks/test_") and n not in pc)
    for name in left_out:
        assert [m for m in grader_imports(gs[name][1].decode(), True) if present(m, gs) and not present(m, pc)]
    print(f"\ncheck modules in the pre-check: {sorted(n for n in pc if n.startswith('grader/checks/test_'))}; "
          f"left out (they import Gradescope-only code): {left_out}")


def test_precheck_has_nothing_unique_to_gradescope_only_modules(gradescope_zip, precheck_zip):
    """Lines found only in the Gradescope-only folders (the mutant catalogue and staff commands in
    grader/tools/, the fixture generators in grader/fixturegen/, the grader's own solution code in
    grader/oracle/) appear in no file of the pre-check, whatever its kind (code, YAML, text, data).
    The one exception by design: the pre-check's README, which grader/tools/bundle.py writes from its
    PRECHECK_README text."""
    from grader.tools.bundle import PRECHECK_README
    gs, pc = zip_entries(gradescope_zip), zip_entries(precheck_zip)
    only = {n for n in gs if any(fnmatch.fnmatchcase(n, p) for p in GRADESCOPE_ONLY)}
    assert "grader/oracle/captioning.py" in only and "grader/fixturegen/rnn.py" in only
    assert any(n.startswith("grader/tools/mutants/") and n.endswith(".yaml") for n in only)
    shared = set()
    for n in gs:
        if n not in only and n.endswith((".py", ".yaml")):
            shared |= set(code_lines(gs[n][1].decode()))
    idiom = re.compile(r"if __name__ == ['\"]__main__['\"]:")  # a line any script has
    unique = {}
    for n in only:
        for s in code_lines(gs[n][1].decode()):
            if len(s) >= 16 and not s.startswith(("#", "import ", "from ", '"""')) and s not in shared \
                    and not idiom.fullmatch(s):
                unique[s] = n
    assert len(unique) > 20
    assert pc["PRECHECK_README.txt"][1].decode() == PRECHECK_README
    leaks = []
    for name, (_, data) in pc.items():
        if name == "PRECHECK_README.txt":
            continue
        text = set(searchable_lines(data))
        leaks += [f"{name} holds {src}'s line {s!r}" for s, src in unique.items() if s in text]
    assert not leaks, "\n".join(leaks[:20])
    assert not any(fnmatch.fnmatchcase(n, p) for n in pc for p in GRADESCOPE_ONLY)


def _h5_groups(data: bytes):
    with h5py.File(io.BytesIO(data), "r") as f:
        found = []
        f.visititems(lambda name, obj: found.append((name, obj.attrs.get("meta"))))
        return found


def test_precheck_has_no_hidden_case(gradescope_zip, precheck_zip):
    pc = zip_entries(precheck_zip)
    h5s = [n for n, (_, d) in pc.items() if d[:8] == b"\x89HDF\r\n\x1a\n"]
    assert "fixtures/visible.h5" in h5s
    visible_cases = 0
    for n in h5s:
        for name, meta in _h5_groups(pc[n][1]):
            assert not any(part.startswith("hidden") for part in name.split("/")), f"{n}: hidden group {name}"
            if meta is not None:
                assert json.loads(meta)["visibility"] == "visible", f"{n}: {name} is not a visible case"
                visible_cases += 1
    assert visible_cases > 10
    # the hidden cases' own data (inputs and expected values) appear nowhere, in any file
    hidden_arrays = []
    with h5py.File(io.BytesIO(zip_entries(gradescope_zip)["fixtures/hidden.h5"][1]), "r") as f:
        def grab(name, obj):
            if isinstance(obj, h5py.Dataset):
                a = np.asarray(obj[()])
                if a.dtype.kind == "f" and a.size >= 8 and np.unique(a).size > 1:
                    hidden_arrays.append((name, a.tobytes(), a.astype(np.float32).tobytes()))
        f.visititems(grab)
    assert len(hidden_arrays) > 50
    blobs = [d for _, d in pc.values()]
    leaks = [name for name, b64, b32 in hidden_arrays if any(b64 in d or b32 in d for d in blobs)]
    assert not leaks, f"hidden data found in the pre-check bundle: {leaks[:5]}"


def test_precheck_bundle_is_reproducible(repo, precheck_zip, tmp_path):
    again = tmp_path / "precheck.zip"
    build(repo, "precheck", again)
    a, b = precheck_zip.read_bytes(), again.read_bytes()
    print(f"\nprecheck.zip sha256 over two builds: {hashlib.sha256(a).hexdigest()} / {hashlib.sha256(b).hexdigest()}")
    assert a == b
    for info, _ in zip_entries(again).values():
        assert info.date_time == (1980, 1, 1, 0, 0, 0)


# ------------------------------------------------------------------ pre-check bundle: it works
def _student_folder(base: Path, package: Path, precheck_zip: Path) -> Path:
    """An assignment folder as a student has it (deeplearning/..., a notebook, the data folder), with
    precheck.zip unpacked into it and left lying there."""
    folder = base / "assignment2"
    shutil.copytree(package, folder / "deeplearning", ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "deeplearning" / "datasets").mkdir()
    (folder / "RNN_Captioning.ipynb").write_text(json.dumps({"cells": [], "nbformat": 4, "nbformat_minor": 2,
                                                             "metadata": {}}))
    shutil.copy(precheck_zip, folder / "precheck.zip")
    with zipfile.ZipFile(precheck_zip) as zf:
        zf.extractall(folder)
    return folder


def _precheck(folder: Path, *args, python=PYTHON, cwd=None, env=None):
    full_env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1", **(env or {}))
    full_env.pop("AUTOGRADER_SANDBOX_USER", None)
    return subprocess.run([*([python] if isinstance(python, str) else python), str(folder / "precheck.py"), *args],
                          cwd=cwd or folder, capture_output=True, text=True, timeout=300, env=full_env)


def _hidden_count(rubric: str, questions) -> int:
    d = yaml.safe_load((RUBRICS / f"{rubric}.yaml").read_text())
    return sum(1 for q in d["questions"] if q["id"] in questions for t in q["tests"] if t.get("hidden"))


def test_precheck_passes_the_reference(precheck_zip, tmp_path):
    folder = _student_folder(tmp_path, REFERENCE / "deeplearning", precheck_zip)
    t0 = time.time()
    proc = _precheck(folder, "--questions", "Q1,Q2", "--results", str(tmp_path / "r.json"))
    print(f"\n$ python precheck.py --questions Q1,Q2   ({time.time() - t0:.1f} s)\n{proc.stdout}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads((tmp_path / "r.json").read_text())
    names = [t["name"] for t in results["tests"]]
    assert names and not [n for n in names if "hidden" in n]
    assert {n.split(".")[0] for n in names} == {"Q1", "Q2"}
    assert all(t["status"] == "passed" for t in results["tests"]), results["tests"]
    assert results["score"] == sum(t["max_score"] for t in results["tests"])
    for t in results["tests"]:
        assert re.search(rf"^{re.escape(t['number'])}\s+{re.escape(t['name'])}\s+.*pass", proc.stdout, re.M)
    m = re.search(r"^(\d+) hidden test\(s\) also run on Gradescope", proc.stdout, re.M)
    assert m and int(m.group(1)) == _hidden_count("cs182_hw2", ("Q1", "Q2")), proc.stdout
    assert "rnn_layers.py: graded deeplearning/rnn_layers.py" in proc.stdout  # the student's file, not a copy
    # the other way in: python -m grader check, from the same folder
    proc2 = subprocess.run([PYTHON, "-m", "grader", "check", "--questions", "Q1"], cwd=folder, capture_output=True,
                           text=True, timeout=300, env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1"))
    assert proc2.returncode == 0, proc2.stdout + proc2.stderr
    assert "FAIL" not in proc2.stdout and "hidden test(s) also run on Gradescope" in proc2.stdout


def test_precheck_on_the_template_fails_with_messages(precheck_zip, tmp_path):
    folder = _student_folder(tmp_path, TEMPLATE / "deeplearning", precheck_zip)
    t0 = time.time()
    proc = _precheck(folder, "--results", str(tmp_path / "r.json"), cwd=tmp_path)  # run from elsewhere
    print(f"\n$ python assignment2/precheck.py   ({time.time() - t0:.1f} s)\n{proc.stdout}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads((tmp_path / "r.json").read_text())
    assert results["tests"] and results["score"] == 0
    for t in results["tests"]:
        assert t["status"] == "failed"
        fails = [ln for ln in t["output"].splitlines() if ln.startswith("FAIL ")]
        assert fails and all(len(ln.split(": ", 1)[-1]) > 10 for ln in fails), t
    assert "not implemented" in proc.stdout
    assert "hidden test(s) also run on Gradescope" in proc.stdout


def test_precheck_missing_packages(precheck_zip, tmp_path):
    folder = _student_folder(tmp_path, REFERENCE / "deeplearning", precheck_zip)
    # -S: no site-packages at all, so numpy, h5py, pyyaml and pytest are all missing
    proc = _precheck(folder, python=[PYTHON, "-S"])
    print(f"\n$ python -S precheck.py\n{proc.stderr}")
    assert proc.returncode == 2
    for pkg in ("numpy", "h5py", "pyyaml", "pytest"):
        assert pkg in proc.stderr
    assert "pip install" in proc.stderr and "Traceback" not in proc.stderr


def test_precheck_without_torch_skips_torch_questions(precheck_zip, tmp_path):
    folder = _student_folder(tmp_path, REFERENCE / "deeplearning", precheck_zip)
    site = next(Path(p) for p in sys.path if p.endswith("site-packages") and (Path(p) / "numpy").exists())
    no_torch = tmp_path / "site-without-torch"
    no_torch.mkdir()
    for entry in site.iterdir():
        if not re.match(r"(torch|torchvision|functorch|torchgen|triton|nvidia)([-_.]|$)", entry.name):
            (no_torch / entry.name).symlink_to(entry)
    proc = _precheck(folder, "--questions", "Q1,Q3", "--results", str(tmp_path / "r.json"),
                     python=[PYTHON, "-S"], env={"PYTHONPATH": str(no_torch)})
    print(f"\n$ python precheck.py --questions Q1,Q3   (no torch)\n{proc.stdout}{proc.stderr[-2000:]}")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"NOTE: Q3 skipped: .*PyTorch.*torch is not installed", proc.stdout)
    results = json.loads((tmp_path / "r.json").read_text())
    assert {t["name"].split(".")[0] for t in results["tests"]} == {"Q1"}
    assert all(t["status"] == "passed" for t in results["tests"])


def test_precheck_build_refuses_a_solution_leak(tmp_path):
    """The build itself checks by content: a reference solution line in a shipped file stops it."""
    repo = make_repo(tmp_path / "r")
    line = next(ln for _, (src, ln) in sorted(solution_lines().items()) if src.endswith("rnn_layers.py"))
    with open(repo / "grader" / "checklib" / "compare.py", "a") as f:
        f.write(f"\n# {line}\n_UNUSED = None  # {line}\n    \n")
        f.write(f"def _leak():\n    {line}\n")
    proc = subprocess.run([PYTHON, "-m", "grader", "bundle", "precheck", "--out", str(tmp_path / "p.zip")],
                          cwd=repo, capture_output=True, text=True)
    assert proc.returncode == 1 and "leak grading material" in proc.stderr
    assert "grader/checklib/compare.py" in proc.stderr
    assert "line(s) of the reference solution" in proc.stderr
    assert not (tmp_path / "p.zip").exists()


def test_check_with_a_torch_that_kills_the_interpreter_grades_the_rest(tmp_path):
    """A torch build that does not fit the student's machine dies on import (here: SIGILL, as on a CPU without
    the instructions it was built for).  The check still grades Q1 and says why Q4 was skipped; it imported
    torch in its own process before, and died with it, printing nothing."""
    fake = tmp_path / "site" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("import os, signal\nos.kill(os.getpid(), signal.SIGILL)\n")
    proc = run_cli("check", "reference", "--questions", "Q1,Q4", "--results", tmp_path / "r.json", timeout=300,
                   env={"PYTHONPATH": str(fake.parent)})
    print(proc.stdout[-1500:])
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert re.search(r"NOTE: Q4 skipped: .*PyTorch and importing it kills the interpreter \(SIGILL", proc.stdout)
    results = json.loads((tmp_path / "r.json").read_text())
    assert results["tests"] and all(t["name"].startswith("Q1.") and t["status"] == "passed" for t in results["tests"])


def test_check_in_a_staff_checkout_runs_visible_cases_only(tmp_path):
    proc = run_cli("check", "reference", "--questions", "Q2", "--results", tmp_path / "r.json", timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    results = json.loads((tmp_path / "r.json").read_text())
    assert results["tests"] and not [t for t in results["tests"] if "hidden" in t["name"] or "hidden" in t["output"]]
    assert all(t["status"] == "passed" for t in results["tests"])
    m = re.search(r"^(\d+) hidden test\(s\) also run on Gradescope", proc.stdout, re.M)
    assert m and int(m.group(1)) == _hidden_count("cs182_hw2", ("Q2",))
