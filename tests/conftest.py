"""Shared set-up for the project's own tests (tests/ mirrors grader/: engine/, sandbox/, checks/,
tools/, and reference/ for the reference solution itself).

``tests/pytest.ini`` puts the checkout and ``reference/`` on ``sys.path``: the grader is importable
as ``grader`` and the reference package as ``deeplearning`` in the test process.  Anything that
needs another package of that name (the template, a submission) runs in a subprocess through the
real CLI: ``grade()`` below is the one way the tests grade a submission.  It runs the CLI in a fresh
fork of a warm grader (grader/tools/warm.py, the batch runner's path: one per test process, so
torch is imported once per process instead of once per submission); ``cold=True``, an ``env`` or a
``block`` run ``python -m grader`` in a new interpreter instead, the single-``grade`` path.

Every path comes from ``grader.paths`` (``ROOT`` is the checkout the grader was imported from),
never from where a test file happens to sit.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import NamedTuple

import pytest

from grader.paths import FIXTURES, REFERENCE, ROOT, TEMPLATE

__all__ = ["ROOT", "REFERENCE", "TEMPLATE", "FIXTURES", "PYTHON", "Graded", "grade", "run_cli", "warm_grader", "patched_reference"]

# The interpreter running the tests runs the grader too (it has the pinned packages).
PYTHON = sys.executable

# Keep torch and BLAS from spreading over both cores while xdist runs two test processes.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def _env(extra: dict | None = None) -> dict:
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env.update(extra or {})
    return env


def run_cli(*args, timeout=600, env=None, cwd=None) -> subprocess.CompletedProcess:
    """``python -m grader ARGS`` from the checkout's root (any command); the CompletedProcess."""
    return subprocess.run([PYTHON, "-m", "grader", *map(str, args)], cwd=cwd or ROOT, capture_output=True,
                          text=True, timeout=timeout, env=_env(env))


class Graded(NamedTuple):
    """What ``grade()`` returns: the process, the parsed results.json (None if none was written) and
    the results' tests by name."""
    proc: subprocess.CompletedProcess
    results: dict | None
    tests: dict

    def lost(self) -> dict:
        """{test name: output} of every test that did not get its full points."""
        return {n: t["output"] for n, t in self.tests.items() if t["score"] < t["max_score"]}


# Runs the CLI with some grader modules made unimportable (``sys.modules[name] = None``), as when
# they are absent from the student pre-check bundle.
_BLOCKING_RUNNER = ("import sys\n"
                    "for name in sys.argv[1].split(','):\n"
                    "    sys.modules[name] = None\n"
                    "from grader.cli import main\n"
                    "sys.exit(main(sys.argv[2:]))\n")


_IDLE_WARM: list = []   # warm graders not in use; one per concurrent caller (tests grade from threads too)
_ALL_WARM: list = []
_WARM_LOCK = threading.Lock()


@contextlib.contextmanager
def warm_grader():
    """A warm grader of this test process for one run (started on first use, reused by later runs,
    stopped at the end of the session).  A warm grader serves one run at a time, so callers grading
    from several threads at once each get their own."""
    from grader.tools.warm import WarmGrader
    with _WARM_LOCK:
        w = _IDLE_WARM.pop() if _IDLE_WARM else None
    if w is None:
        w = WarmGrader(env=_env())
        with _WARM_LOCK:
            _ALL_WARM.append(w)
    try:
        yield w
    finally:
        with _WARM_LOCK:
            _IDLE_WARM.append(w)


def pytest_sessionfinish(session):
    for w in _ALL_WARM:
        w.close()


def _run_warm(cli: list[str], timeout: float) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="ag-test-log-") as tmp:
        log = Path(tmp) / "grade.log"
        with warm_grader() as w:
            rc, _ = w.grade(cli, log, timeout=timeout, cwd=ROOT)
        if rc is None:
            raise subprocess.TimeoutExpired(["grader", *cli], timeout)
        out = log.read_text(errors="replace") if log.exists() else ""
    # one stream: the warm child's stdout and stderr share the log
    return subprocess.CompletedProcess(["grader", *cli], rc, "", out)


def rubric_subset(questions, keep=lambda test: True, base: str = "cs182_hw2") -> dict:
    """Rubric ``base`` as a dict with only ``questions`` and, in them, the tests ``keep`` keeps; each question's
    points and the total summed again.  Callers edit it further and write it with yaml.safe_dump."""
    import yaml
    d = yaml.safe_load((ROOT / "grader" / "rubrics" / f"{base}.yaml").read_text())
    d["questions"] = [dict(q, tests=[t for t in q["tests"] if keep(t)]) for q in d["questions"] if q["id"] in questions]
    for q in d["questions"]:
        q["points"] = sum(t["points"] for t in q["tests"])
    d["total"] = sum(q["points"] for q in d["questions"])
    return d


def grade(submission, *args, rubric: str | None = None, questions: str | None = None, fixtures=None,
          results: Path | None = None, block: tuple[str, ...] = (), check: bool = True, env=None,
          timeout: float = 600, cold: bool = False) -> Graded:
    """Grade ``submission`` through the real CLI (``grader grade ... --quiet``, from the checkout's
    root) and return the process and the parsed results.

    ``args`` are further CLI arguments; ``results`` keeps results.json at that path (otherwise it is
    written to a temporary folder and removed); ``block`` names grader modules to make unimportable
    (the pre-check bundle leaves them out); ``check`` asserts that the CLI exited 0 (grading
    completed) and wrote a results.json.  The run is a fork of the warm grader (its stdout and
    stderr together in ``proc.stderr``) unless ``cold``, ``env`` or ``block`` ask for a new
    interpreter."""
    keep = results is not None
    out_dir = Path(results).parent if keep else Path(tempfile.mkdtemp(prefix="ag-test-results-"))
    out = Path(results) if keep else out_dir / "results.json"
    cli = ["grade", str(submission), "--results", str(out), "--quiet"]
    cli += ["--rubric", rubric] if rubric else []
    cli += ["--questions", questions] if questions else []
    cli += ["--fixtures", str(fixtures)] if fixtures is not None else []
    cli += [str(a) for a in args]
    prefix = ["-c", _BLOCKING_RUNNER, ",".join(block)] if block else ["-m", "grader"]
    try:
        if cold or env or block:
            proc = subprocess.run([PYTHON, *prefix, *cli], cwd=ROOT, capture_output=True, text=True,
                                  timeout=timeout, env=_env(env))
        else:
            proc = _run_warm(cli, timeout)
        res = json.loads(out.read_text()) if out.exists() else None
    finally:
        if not keep:
            shutil.rmtree(out_dir, ignore_errors=True)
    if check:
        assert proc.returncode == 0, f"grading failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}"
        assert res is not None, f"no results.json was written:\n{proc.stderr[-3000:]}"
    tests = {t["name"]: t for t in res["tests"]} if res else {}
    return Graded(proc, res, tests)


@pytest.fixture
def reference_copy(tmp_path):
    """A writable copy of reference/ laid out as a student's assignment folder."""
    dest = tmp_path / "submission"
    shutil.copytree(REFERENCE, dest, ignore=shutil.ignore_patterns("__pycache__"))
    return dest


def patched_reference(dest: Path, edits: dict) -> Path:
    """A copy of reference/ at ``dest`` with ``edits``: {path under deeplearning/: [(find, replace), ...]}, each
    ``find`` occurring exactly once (a patch that no longer applies fails the test, never tests nothing)."""
    shutil.copytree(REFERENCE, dest, ignore=shutil.ignore_patterns("__pycache__"))
    for rel, pairs in edits.items():
        path = dest / "deeplearning" / rel
        src = path.read_text()
        for find, replace in pairs:
            assert src.count(find) == 1, (rel, find)
            src = src.replace(find, replace)
        path.write_text(src)
    return dest
