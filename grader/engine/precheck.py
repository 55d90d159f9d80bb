"""``python -m grader check`` / ``python precheck.py``: a student's visible pre-check.

Same engine and table as Gradescope; only the visible cases run (a staff
checkout's hidden fixtures are left out too), PyTorch questions are skipped
with a note when torch is missing, and when the grader was unpacked inside the
student's folder only the student's own source files are graded.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import sys
import tempfile
from pathlib import Path

from grader.engine import staging
from grader.paths import ROOT

NEEDED = (("numpy", "numpy"), ("h5py", "h5py"), ("yaml", "pyyaml"), ("pytest", "pytest"))


def packages_present() -> bool:
    missing = [pip for mod, pip in NEEDED if importlib.util.find_spec(mod) is None]
    if missing:
        print(f"The autograder's checks need the Python package(s) {', '.join(missing)}, which this Python "
              f"({sys.executable}) does not have.\nInstall them in the environment you use for the "
              f"assignment, e.g.\n    {sys.executable} -m pip install {' '.join(missing)}", file=sys.stderr)
    return not missing


def _contains(folder: Path, path: Path) -> bool:
    folder, path = folder.resolve(), path.resolve()
    return path == folder or folder in path.parents


def _copy_sources(src: Path, dest: Path) -> Path:
    """Copy the .py/.ipynb files of ``src`` (not the grader's own folders, not zips) into ``dest``."""
    skip = {(ROOT / d).resolve() for d in ("grader", "student_template", "fixtures", "reference", "tests",
                                           "dist", ".venv")}
    dest.mkdir(parents=True, exist_ok=True)
    for dirpath, dirnames, filenames in os.walk(src):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if d not in staging.IGNORED_DIRS and not d.startswith(".")
                             and (here / d).resolve() not in skip)
        for fn in filenames:
            p = here / fn
            if p.suffix in (".py", ".ipynb") and not p.is_symlink() \
                    and p.resolve() != (ROOT / "precheck.py").resolve():
                target = dest / p.relative_to(src)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(p, target)
    return dest


def _torch_problem(try_import: bool) -> str | None:
    why = next((f"{m} is not installed" for m in ("torch", "torchvision") if importlib.util.find_spec(m) is None), None)
    if why is None and try_import:
        try:  # installed but broken (e.g. a wrong build for this machine)?
            import torch  # noqa: F401
            import torchvision  # noqa: F401
        except Exception as exc:
            why = f"importing it fails ({type(exc).__name__}: {exc})"
    return why


def prepare(rub, fixtures: Path, submission: Path, notes: list[str]):
    """Adapt a grading run to a student's machine; returns (rubric, fixtures, submission, folders to remove)."""
    cleanup: list[Path] = []
    torch_qs = [q for q in rub.questions if q.needs_torch]
    if torch_qs:
        why = _torch_problem(try_import=any(q.has_checks for q in torch_qs))
        if why:
            ids = ", ".join(q.id for q in torch_qs)
            notes.append(f"NOTE: {ids} skipped: these questions need PyTorch and {why} in this Python "
                         f"({sys.executable}). To check them, install torch and torchvision "
                         f"({sys.executable} -m pip install torch torchvision) and run this again.")
            rub = rub.replace([q for q in rub.questions if not q.needs_torch])
    unchecked = [q.id for q in rub.questions if not q.has_checks]
    if unchecked:
        notes.append(f"NOTE: {', '.join(unchecked)} not checked here: this copy of the grader has no checks "
                     "for them; Gradescope grades them.")
    if (fixtures / "hidden.h5").exists():  # a staff checkout: leave the hidden cases out, as the pre-check does
        vis = Path(tempfile.mkdtemp(prefix="ag-visible-"))
        cleanup.append(vis)
        shutil.copytree(fixtures, vis / "fixtures", ignore=shutil.ignore_patterns("*hidden*", "manifest.yaml"))
        fixtures = vis / "fixtures"
    if submission.is_dir() and _contains(submission, ROOT):
        # e.g. `python precheck.py` in the assignment folder the pre-check was unpacked into: grade the
        # student's source files, not the grader's own folders (student_template/ ...) or old zips
        copy = Path(tempfile.mkdtemp(prefix="ag-check-"))
        cleanup.append(copy)
        submission = _copy_sources(submission, copy / submission.resolve().name)
    return rub, fixtures, submission, cleanup
