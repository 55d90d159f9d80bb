"""``python -m grader bundle gradescope|precheck``: the two zips the course hands out.

``gradescope`` -> ``dist/autograder.zip``, uploaded to Gradescope: ``setup.sh``
and ``run_autograder`` at the zip's root, the grader package, the template's
provided modules, every fixture (hidden ones included), the pinned
requirements and the rubrics.

``precheck`` -> ``dist/precheck.zip``, given to students: unpacked into their
assignment folder, ``python precheck.py`` (or ``python -m grader check``, or
``precheck.check("Q1")`` in a notebook cell) runs the visible checks with
Gradescope's table and feedback.  It holds no hidden
fixture, no fixture manifest (it lists the hidden cases' seeds), and none of
``grader/tools/`` (staff commands, the mutant catalogue), ``grader/fixturegen/``
or ``grader/oracle/`` (the grader's own solution code: the checks import it
optionally and fall back to the student's own code).

Both zips are built from git-tracked files only (``git ls-files``), never from
``reference/`` or ``tests/``, and are byte-for-byte reproducible: sorted
entries, fixed timestamps (1980-01-01), fixed permissions, ZIP_DEFLATED at a
fixed level.  The same commit gives the same sha256, so staff can tell whether
the autograder on Gradescope is the one they tested.  Files are read from the
working tree; a warning says when tracked files have uncommitted changes.
"""
from __future__ import annotations

import ast
import fnmatch
import hashlib
import io
import os
import re
import subprocess
import sys
import tokenize
import zipfile
from dataclasses import dataclass
from pathlib import Path

from grader.paths import END_MARKER, ROOT, START_MARKER

FIXED_DATE = (1980, 1, 1, 0, 0, 0)
COMPRESSLEVEL = 9
EXECUTABLES = {"setup.sh", "run_autograder", "precheck.py"}
RUBRIC_FILE = "autograder_rubric"  # optional: the rubric run_autograder uses (env AUTOGRADER_RUBRIC at build time)
# Only in a bundle whose rubric has the TensorFlow track (``tracks: [pytorch, tensorflow]``): setup.sh installs it
# when it is there, so the other bundles cost nothing for it.
TF_REQUIREMENTS = "requirements-tensorflow.txt"

# ------------------------------------------------------------------ selection rules
# Paths are git paths (posix, relative to the repository root); patterns are fnmatch patterns.
GRADESCOPE_INCLUDE = ["setup.sh", "run_autograder", "requirements.txt", "grader/*", "student_template/*",
                      "fixtures/*"]
GRADESCOPE_REQUIRED = ["setup.sh", "run_autograder", "requirements.txt", "grader/__main__.py", "grader/cli.py",
                       "grader/rubrics/cs182_hw2.yaml", "fixtures/visible.h5", "fixtures/hidden.h5",
                       "student_template/deeplearning/__init__.py"]

PRECHECK_INCLUDE = ["precheck.py", "grader/*", "student_template/*", "fixtures/visible.h5", "fixtures/coco_synth/*"]
PRECHECK_EXCLUDE = [  # by folder: what a role is, not a list of files
    "grader/tools/*",          # staff commands (and the mutant catalogue: fragments of the reference solution)
    "grader/fixturegen/*",     # fixture generation: imports reference/, builds the hidden cases
    "grader/oracle/*",         # the grader's own solution code (checks import it optionally)
    "*hidden*",                # hidden fixture data never reaches students
    "fixtures/manifest.yaml",  # lists every case, hidden ones included, with their seeds
]
PRECHECK_REQUIRED = ["precheck.py", "grader/__main__.py", "grader/cli.py", "grader/engine/grade.py",
                     "grader/rubrics/cs182_hw2.yaml", "fixtures/visible.h5",
                     "student_template/deeplearning/__init__.py"]
NEVER = ["reference/*", "tests/*", "*.pyc", "*.pyo", "*/__pycache__/*", "__pycache__/*", "dist/*", ".venv/*"]

PRECHECK_README = """Autograder pre-check (visible tests only)
=========================================

Unzip this into your assignment folder (the one that holds deeplearning/), then run

    python precheck.py                  # checks the folder precheck.py is in
    python precheck.py --questions Q1   # only some questions
    python precheck.py path/to/folder_or_submission.zip

or, from the same folder, `python -m grader check`.  From a notebook in that folder:

    import precheck
    precheck.check("Q1")                # or precheck.check("Q1", "Q2"); all questions: precheck.check()

checks your code as it is now (functions you defined in notebook cells as your
kernel holds them, saved or not), in a separate process.  You get the same
table and feedback that Gradescope shows for the visible tests.  Gradescope also runs
hidden tests (the same functions on other shapes, seeds and edge cases); the
last lines of the output say how many.  Passing every visible test here does
not guarantee full marks.

Needs Python 3.10+ with numpy, h5py, pyyaml and pytest; the PyTorch questions
(Q3 and later) also need torch and torchvision, and are skipped with a message
when torch is not installed.  If your course lets you do Q3/Q4 in TensorFlow and
you did, those need TensorFlow instead (pip install tensorflow-cpu==2.20.0); they
are skipped with a message when it is not installed.  Your files are never modified.

When you hand in, you need not remove what this zip added (precheck.py, grader/,
student_template/, fixtures/): the grader takes, of each file, the copy whose
functions you wrote, and says in its output which copy it graded.
"""
PRECHECK_EXTRA = {"PRECHECK_README.txt": PRECHECK_README}


class BundleError(Exception):
    pass


@dataclass
class Built:
    path: Path
    sha256: str
    size: int
    entries: list[tuple[str, int]]  # (name, uncompressed size)


# ------------------------------------------------------------------ git
def _git(root: Path, *args: str) -> str:
    try:
        out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True, check=True)
    except FileNotFoundError:
        raise BundleError("git is not installed; bundles are built from git-tracked files") from None
    except subprocess.CalledProcessError as exc:
        raise BundleError(f"git {' '.join(args)} failed in {root}: {exc.stderr.strip()}") from None
    return out.stdout


def tracked_files(root: Path = ROOT) -> dict[str, str]:
    """git path -> git mode ('100644', '100755', '120000'...) of every tracked file."""
    out = _git(root, "ls-files", "-s", "-z")
    files = {}
    for rec in out.split("\0"):
        if not rec:
            continue
        meta, path = rec.split("\t", 1)
        files[path] = meta.split()[0]
    return files


def _dirty(root: Path, paths: list[str]) -> list[str]:
    if not paths:
        return []
    out = _git(root, "status", "--porcelain", "-z", "--untracked-files=no", "--", *paths)
    return sorted(rec[3:] for rec in out.split("\0") if len(rec) > 3)


def _commit(root: Path) -> str:
    try:
        return _git(root, "rev-parse", "--short", "HEAD").strip()
    except BundleError:
        return "(no commit)"


# ------------------------------------------------------------------ selection
def _match(path: str, patterns: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(path, p) for p in patterns)


def select(kind: str, tracked: dict[str, str]) -> list[str]:
    if kind == "gradescope":
        chosen = [p for p in tracked if _match(p, GRADESCOPE_INCLUDE) and not _match(p, NEVER)]
        required = GRADESCOPE_REQUIRED
    elif kind == "precheck":
        chosen = [p for p in tracked if _match(p, PRECHECK_INCLUDE) and not _match(p, NEVER)
                  and not _match(p, PRECHECK_EXCLUDE)]
        required = PRECHECK_REQUIRED
    else:
        raise BundleError(f"unknown bundle kind {kind!r}")
    chosen = [p for p in chosen if tracked[p] != "120000"]  # never a symbolic link
    missing = [r for r in required if r not in tracked]
    if missing:
        raise BundleError(f"not tracked by git: {', '.join(missing)} (git add them and commit; bundles hold "
                          "tracked files only)")
    return sorted(chosen)


# ------------------------------------------------------------------ writing
def _zipinfo(name: str, executable: bool) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=FIXED_DATE)
    info.create_system = 3  # unix, so the permission bits below are honoured by unzip
    info.external_attr = ((0o100755 if executable else 0o100644) & 0xFFFF) << 16
    info.compress_type = zipfile.ZIP_DEFLATED
    return info


def write_zip(out: Path, files: dict[str, tuple[bytes, bool]]) -> Built:
    """Write ``name -> (data, executable)`` deterministically; returns what was written."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=COMPRESSLEVEL) as zf:
        for name in sorted(files):
            data, exe = files[name]
            zf.writestr(_zipinfo(name, exe), data, compress_type=zipfile.ZIP_DEFLATED,
                        compresslevel=COMPRESSLEVEL)
    blob = buf.getvalue()
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".tmp")
    tmp.write_bytes(blob)
    os.replace(tmp, out)
    sha = hashlib.sha256(blob).hexdigest()
    (out.with_name(out.name + ".sha256")).write_text(f"{sha}  {out.name}\n")
    return Built(out, sha, len(blob), [(n, len(files[n][0])) for n in sorted(files)])


def collect(kind: str, root: Path = ROOT, rubric: str | None = None) -> dict[str, tuple[bytes, bool]]:
    root = Path(root)
    tracked = tracked_files(root)
    files = {}
    for path in select(kind, tracked):
        src = root / path
        if not src.is_file():
            raise BundleError(f"{path} is tracked by git but missing from the working tree")
        exe = path in EXECUTABLES or tracked[path] == "100755"
        files[path] = (src.read_bytes(), exe)
    if kind == "precheck":
        for path, text in PRECHECK_EXTRA.items():
            files[path] = (text.encode(), False)
        for name, missing in unshippable_checks(files, tracked):
            del files[name]
            print(f"warning: pre-check bundle: left out {name}: it imports {', '.join(missing)}, which students "
                  "must not get (fixture generators, the grader's own recomputations); its question is then not "
                  "checked by the pre-check. Move what that check needs at grading time into a module that may "
                  "ship.", file=sys.stderr)
        problems = precheck_problems(files, root, tracked)
        if problems:
            raise BundleError("refusing to build the pre-check bundle (it would leak grading material or not "
                              "run):\n  "
                              + "\n  ".join(problems) + "\n(leave such code out of the files students get: "
                              "see PRECHECK_EXCLUDE in grader/bundle.py)")
    if kind == "gradescope" and rubric:
        from grader.engine import rubric as rubric_mod
        try:
            rub = rubric_mod.load(rubric)
        except rubric_mod.RubricError as exc:
            raise BundleError(str(exc)) from None
        files[RUBRIC_FILE] = (f"{rubric}\n".encode(), False)
        if "tensorflow" in rub.tracks:  # the TensorFlow track of Q3/Q4: setup.sh installs TensorFlow too
            if TF_REQUIREMENTS not in tracked or not (root / TF_REQUIREMENTS).is_file():
                raise BundleError(f"rubric {rubric} has the TensorFlow track, but {TF_REQUIREMENTS} is not tracked")
            files[TF_REQUIREMENTS] = ((root / TF_REQUIREMENTS).read_bytes(), False)
    return files


# ------------------------------------------------------------------ leak guard (pre-check)
_TRIVIAL = re.compile(r"^(pass|return\b.*|else:|try:|finally:|break|continue|[)\]}]+,?"
                      r"|for \w+ in (range|reversed)\(.*\):"      # a plain loop header
                      r"|[\w, ()]+ = \w+\.shape(\[-?\d\])?)$")    # unpacking a shape


def code_lines(source: str) -> list[str]:
    """The lines of ``source`` with comments removed (the markers kept), stripped; whatever does not
    tokenize (not Python) is returned as is."""
    lines = source.splitlines()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(source).readline):
            if tok.type == tokenize.COMMENT and tok.string.strip() not in (START_MARKER, END_MARKER):
                row, col = tok.start
                lines[row - 1] = lines[row - 1][:col]
    except (tokenize.TokenError, SyntaxError):
        pass
    return [ln.strip() for ln in lines]


def searchable_lines(data: bytes) -> list[str]:
    """A shipped file's lines as a leak check compares them: ``code_lines`` of a text file; a binary one
    (the fixtures' HDF5) line by line as it is, stripped (tokenizing its 4.4 MB as Python took 12 s per
    build, and it holds no comments to strip)."""
    text = data.decode("utf-8", "replace")
    return [ln.strip() for ln in text.splitlines()] if b"\0" in data else code_lines(text)


def _squeeze(line: str) -> str:
    return re.sub(r"\s+", "", line)


def solution_lines(reference: Path, template: Path) -> set[str]:
    """Distinctive code lines (whitespace removed) of the reference's marked solution regions, absent
    from the template."""
    tpl = set()
    for p in template.rglob("*.py"):
        tpl.update(_squeeze(ln) for ln in code_lines(p.read_text(errors="replace")))
    out = set()
    for p in reference.rglob("*.py"):
        inside = False
        for s in code_lines(p.read_text(errors="replace")):
            if s == START_MARKER:
                inside = True
            elif s == END_MARKER:
                inside = False
            elif inside and len(s) >= 12 and not _TRIVIAL.match(s) and _squeeze(s) not in tpl:
                out.add(_squeeze(s))
    return out


def _catches_import_error(handler: ast.ExceptHandler) -> bool:
    names = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
    return any(isinstance(n, ast.Name) and n.id in ("ImportError", "ModuleNotFoundError", "Exception")
               for n in names if n is not None) or handler.type is None


def _grader_imports(source: str, anywhere: bool = True) -> set[str]:
    """Modules of the grader package that ``source`` imports: anywhere, or only when it is imported
    (not inside function bodies)."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return set()
    nodes, todo = [], [tree]
    while todo:
        node = todo.pop()
        if isinstance(node, ast.Try) and any(_catches_import_error(h) for h in node.handlers):
            todo.extend(node.handlers + node.orelse + node.finalbody)  # an optional import: may be absent
            continue
        nodes.append(node)
        if anywhere or not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            todo.extend(ast.iter_child_nodes(node))
    out = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names if a.name.startswith("grader."))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "grader":
                out.update(f"grader.{a.name}" for a in node.names)
            elif node.module.startswith("grader."):
                out.add(node.module)
    return out


def _module_path(module: str, names) -> str | None:
    base = module.replace(".", "/")
    for cand in (base + ".py", base + "/__init__.py"):
        if cand in names:
            return cand
    return None


def unshippable_checks(files: dict, tracked: dict) -> list[tuple[str, list[str]]]:
    """Check modules (grader/checks/test_*.py) of the pre-check that import a grader module it leaves out."""
    out = []
    for name in sorted(files):
        if not fnmatch.fnmatchcase(name, "grader/checks/test_*.py"):
            continue
        missing = sorted(m for m in _grader_imports(files[name][0].decode("utf-8", "replace"))
                         if _module_path(m, tracked) and not _module_path(m, files))
        if missing:
            out.append((name, missing))
    return out


def precheck_problems(files: dict[str, tuple[bytes, bool]], root: Path, tracked: dict | None = None) -> list[str]:
    problems = [f"{n}: not allowed in the pre-check bundle" for n in files
                if _match(n, NEVER) or _match(n, PRECHECK_EXCLUDE)]
    tracked = set(files) | set(tracked or ())
    for name in sorted(files):
        if name.endswith(".py"):
            source = files[name][0].decode("utf-8", "replace")
            missing = sorted(m for m in _grader_imports(source, anywhere=False)
                             if _module_path(m, tracked) and not _module_path(m, files))
            if missing:
                problems.append(f"{name}: imports {', '.join(missing)} when imported, which the pre-check "
                                "leaves out")
    ref, tpl = root / "reference", root / "student_template"
    if ref.is_dir() and tpl.is_dir():
        lines = solution_lines(ref, tpl)
        for name, (data, _) in sorted(files.items()):
            if name.startswith("student_template/"):
                continue
            hits = sorted(lines & {_squeeze(ln) for ln in searchable_lines(data)})
            if hits:
                problems.append(f"{name}: contains {len(hits)} line(s) of the reference solution, e.g. {hits[0]!r}")
    return problems


# ------------------------------------------------------------------ command
def build(kind: str, out: Path | None = None, root: Path = ROOT, rubric: str | None = None) -> Built:
    out = Path(out) if out else Path(root) / "dist" / ("autograder.zip" if kind == "gradescope" else "precheck.zip")
    return write_zip(out, collect(kind, root, rubric))


def listing(built: Built) -> str:
    lines = [f"{size:>10}  {name}" for name, size in built.entries]
    return "\n".join(lines)


def main(args) -> int:
    kind = args.kind
    rubric = os.environ.get("AUTOGRADER_RUBRIC") or None if kind == "gradescope" else None
    try:
        files_root = ROOT
        built = build(kind, getattr(args, "out", None), files_root, rubric)
        dirty = _dirty(files_root, [n for n in (e[0] for e in built.entries)
                                    if n not in PRECHECK_EXTRA and n != RUBRIC_FILE])
    except BundleError as exc:
        print(f"python -m grader bundle {kind}: {exc}", file=sys.stderr)
        return 1
    if os.environ.get("AUTOGRADER_BUNDLE_LIST"):
        print(listing(built))
    total = sum(s for _, s in built.entries)
    try:
        shown = built.path.resolve().relative_to(Path.cwd().resolve())
    except ValueError:
        shown = built.path
    print(f"{shown}: {len(built.entries)} files, {total / 1024:.0f} kB unpacked, {built.size / 1024:.0f} kB zipped"
          f" (commit {_commit(files_root)}{', rubric ' + rubric if rubric else ''})")
    if kind == "gradescope":
        with_tf = any(name == TF_REQUIREMENTS for name, _ in built.entries)
        print("tracks: PyTorch and TensorFlow (Q3/Q4); setup.sh also installs requirements-tensorflow.txt (about 1.35 "
              "GB installed, 2 minutes)" if with_tf else "tracks: PyTorch only (TensorFlow is not installed)")
    print(f"sha256 {built.sha256}")
    if dirty:
        print(f"warning: built from uncommitted changes in {len(dirty)} tracked file(s) ({', '.join(dirty[:5])}"
              f"{', ...' if len(dirty) > 5 else ''}); a clean checkout of this commit gives another sha256",
              file=sys.stderr)
    if kind == "gradescope":
        print("Upload it as the assignment's autograder (Ubuntu 22.04 base image); compare the sha256 above with "
              "the one printed when staff tested it.")
    else:
        print("Give it to students: unzipped into their assignment folder, `python precheck.py` runs the visible "
              "checks.")
    return 0
