"""Shared set-up for the project's own tests.

The reference package is importable as ``deeplearning`` in the test process;
anything that needs another package of that name (the template, a submission)
runs in a subprocess through the real CLI.
"""
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = ROOT / "reference"
TEMPLATE = ROOT / "student_template"

if str(REFERENCE) not in sys.path:
    sys.path.insert(0, str(REFERENCE))
if str(ROOT) not in sys.path:
    sys.path.insert(1, str(ROOT))
# Keep torch from spreading over both cores while xdist runs two test processes.
os.environ.setdefault("OMP_NUM_THREADS", "1")


import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402

import pytest  # noqa: E402

PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv" / "bin" / "python").exists() else sys.executable


def run_cli(*args, timeout=600, **kw):
    """Run ``python -m grader ARGS`` from the project root; returns the CompletedProcess."""
    return subprocess.run([PYTHON, "-m", "grader", *map(str, args)], cwd=ROOT, capture_output=True,
                          text=True, timeout=timeout, **kw)


def grade(submission, tmp_path, *extra, name="results.json"):
    """Grade through the real CLI; returns (completed process, results dict, {test name: test})."""
    out = tmp_path / name
    proc = run_cli("grade", submission, "--results", out, "--quiet", *extra)
    results = json.loads(out.read_text()) if out.exists() else None
    tests = {t["name"]: t for t in results["tests"]} if results else {}
    return proc, results, tests


@pytest.fixture
def reference_copy(tmp_path):
    """A writable copy of reference/ laid out as a student's assignment folder."""
    dest = tmp_path / "submission"
    shutil.copytree(REFERENCE, dest, ignore=shutil.ignore_patterns("__pycache__"))
    return dest
