"""Grading one submission of a batch: in a subprocess, with a time limit, and the stamp --resume reads.

Every submission is graded by the same engine as ``python -m grader grade``
(isolation and limits included), each in its own subprocess
(``start_new_session``), with a time limit per submission so that nothing one
submission does can stall the batch: at the limit the subprocess and every
process under it are killed (``grader.sandbox.procs.kill_tree``).

Status per submission: ``ok``; ``unreadable`` (nothing could be read: folder
missing from the export or unlistable, only corrupt zips; scored 0 with a
results.json saying so); ``grader_error`` (the grading subprocess exited
non-zero: the grader's fault, see grade.log; its results.json is kept when
there is one); ``timeout`` (killed after the per-submission limit, with the
worker processes it started; no scores); ``interrupted`` (Ctrl-C or SIGTERM
came first).
"""
from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from grader.engine.files import atomic_write, sha256_file
from grader.paths import ROOT
from grader.sandbox.procs import kill_tree
from grader.tools.batch.export import Submission, content_sha256, unreadable_reason

DONE_STATUSES = ("ok", "unreadable")      # --resume skips these; timeouts and grader errors are retried
ADVISORY_STAMP_KEYS = ("code_sha256",)    # recorded, and warned about, but not a reason to regrade
TIMEOUT_MARGIN_S = 120                    # staging, worker start, torch import on top of the rubric's budget
GRACE_S = 5                               # after SIGINT, for the grader to stop its worker and clean up
POLL_S = 0.5                              # how often a waiting grading looks whether the batch is being stopped


@dataclass
class Outcome:
    id: str
    status: str
    seconds: float = 0.0
    message: str = ""
    skipped: bool = False


def code_sha256(root: Path = ROOT) -> str:
    """The grading code itself (grader/, the template's provided modules).  Recorded in each stamp; --resume
    warns when it differs (a check was changed without raising grader.__version__) but keeps the grade;
    a remote worker whose code differs refuses to grade."""
    h = hashlib.sha256()
    for base in (root / "grader", root / "student_template"):
        for p in sorted(base.rglob("*")):
            if p.is_file() and p.suffix in (".py", ".yaml", ".yml") and "__pycache__" not in p.parts:
                h.update(p.relative_to(root).as_posix().encode() + b"\0" + sha256_file(p).encode() + b"\n")
    return h.hexdigest()


def grading_env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        env.setdefault(var, "1")  # several submissions at once: one thread each
    return env


def grade_command(submission: Path, results: Path, rubric_path: Path, extra_args=()) -> list[str]:
    return [sys.executable, "-m", "grader", "grade", str(submission.resolve()), "--results", str(results.resolve()),
            "--rubric", str(Path(rubric_path).resolve()), "--quiet", *extra_args]


def stop_process(proc: subprocess.Popen, grace: float) -> None:
    """Stop a grading subprocess and everything it started: SIGINT first (with ``grace``, so the grader
    stops its sandboxed worker, whose children run in their own sessions, and removes its temporary
    folders), then SIGKILL for what is left of the tree, frozen first so none can fork away."""
    kill_tree(proc.pid, grace=grace, first=signal.SIGINT)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


def run_grading(cmd: list[str], log: Path, timeout: float, env: dict, stopped=lambda: False,
                on_start=None) -> tuple[int | None, bool]:
    """Run one grading command, its output into ``log``.  Returns (exit status, or None when it was
    killed at the time limit; whether it was stopped because ``stopped()`` became true)."""
    with open(log, "wb") as logf:
        proc = subprocess.Popen(cmd, cwd=str(ROOT), env=env, stdin=subprocess.DEVNULL, stdout=logf,
                                stderr=subprocess.STDOUT, start_new_session=True)
    if on_start is not None:
        on_start(proc)
    deadline = time.monotonic() + timeout
    while True:
        if stopped():
            if proc.poll() is not None:  # it finished just before: that grade counts
                return proc.returncode, False
            stop_process(proc, grace=1)
            return proc.returncode, True
        left = deadline - time.monotonic()
        try:
            return proc.wait(timeout=max(0.0, min(POLL_S, left))), False
        except subprocess.TimeoutExpired:
            if left <= POLL_S:
                stop_process(proc, grace=0)
                return None, False


def verdict(rc: int | None, results_text: str | None, timeout: float, log_name: str) -> tuple[str, str, bool]:
    """(status, message, keep results.json) of a grading that ended with ``rc``."""
    if rc is None:
        return "timeout", f"grading did not finish within {timeout:g} s", False
    try:
        data = json.loads(results_text) if results_text is not None else None
        ok_json = isinstance(data, dict) and isinstance(data.get("tests"), list)
    except ValueError:
        ok_json = False
    if rc == 0 and ok_json:
        return "ok", "", True
    why = f"the grader exited with status {rc}" if rc >= 0 else f"the grader was killed by signal {-rc}"
    if rc == 0:
        why = "the grader wrote no valid results.json"
    return "grader_error", f"{why}; see {log_name}", ok_json


class Runner:
    """Grades submissions in local subprocesses; thread-safe; ``stop()`` stops what runs."""

    def __init__(self, rub, out: Path, stamp: dict, timeout: float, extra_args: list[str] | None = None):
        self.rub, self.out, self.stamp, self.timeout = rub, out, stamp, timeout
        self.extra_args = extra_args or []
        self.other_code: list[str] = []   # skipped by --resume although graded by other grader code
        self.stopping = threading.Event()
        self.env = grading_env()
        # one warm grader per grading thread: torch and the engine are imported once per slot, not once per
        # submission (grader/tools/warm.py); AUTOGRADER_BATCH_COLD=1 starts a fresh process per submission
        self.warm = os.environ.get("AUTOGRADER_BATCH_COLD") != "1"
        self._local = threading.local()
        self._warms: list = []
        self._warms_lock = threading.Lock()

    jobs = 1

    def parallelism(self, n_todo: int) -> int:
        """How many submissions are graded at once."""
        return max(1, self.jobs)

    def describe(self) -> str:
        return f"-j {self.jobs}"

    def dir_for(self, sub: Submission) -> Path:
        return self.out / "results" / sub.id

    def stamp_for(self, sub: Submission) -> dict:
        return dict(self.stamp, submission=sub.folder, content_sha256=content_sha256(sub.path))

    def is_current(self, sub: Submission) -> str | None:
        """The recorded status when this submission was already graded with the same grader, rubric and fixtures."""
        d = self.dir_for(sub)
        try:
            old = json.loads((d / "stamp.json").read_text())
        except (OSError, ValueError):
            return None
        if not (d / "results.json").is_file() or old.get("status") not in DONE_STATUSES:
            return None
        want = self.stamp_for(sub)
        if any(old.get(k) != v for k, v in want.items() if k not in ADVISORY_STAMP_KEYS):
            return None
        if old.get("code_sha256") != want.get("code_sha256"):
            self.other_code.append(sub.id)
        return old["status"]

    def grade(self, sub: Submission) -> Outcome:
        try:
            return self._grade(sub)
        except Exception as exc:  # the batch's own trouble (disk full, no more processes...) costs one submission
            return Outcome(sub.id, "grader_error", 0.0, f"the batch could not grade it: {type(exc).__name__}: {exc}")

    def _grade(self, sub: Submission) -> Outcome:
        d = self.dir_for(sub)
        d.mkdir(parents=True, exist_ok=True)
        results, stamp_path, log = d / "results.json", d / "stamp.json", d / "grade.log"
        for p in (results, stamp_path):
            p.unlink(missing_ok=True)  # a crash must never leave an older run's results looking current
        t0 = time.monotonic()
        reason = unreadable_reason(sub.path)
        if reason is not None:
            from grader.engine.results import write_results, zero_results
            write_results(zero_results(self.rub, f"Your submission could not be read: {reason}. "
                                                  "Ask the course staff to look at your upload."), results)
            log.write_text(f"not graded: {reason}\n")
            oc = Outcome(sub.id, "unreadable", time.monotonic() - t0, reason)
        elif self.stopping.is_set():
            return Outcome(sub.id, "interrupted")
        else:
            oc = self._run(sub, results, log, t0)
        if oc.status == "interrupted":
            results.unlink(missing_ok=True)
            return oc
        stamp = dict(self.stamp_for(sub), status=oc.status, seconds=round(oc.seconds, 2), message=oc.message,
                     graded_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        atomic_write(stamp_path, json.dumps(stamp, indent=1).encode())
        return oc

    def _finish(self, sub: Submission, rc: int | None, stopped: bool, results: Path, log: Path, t0: float) -> Outcome:
        """The outcome of a grading that ended with ``rc``; removes a results.json that is not a grade."""
        secs = time.monotonic() - t0
        if stopped:
            return Outcome(sub.id, "interrupted", secs)
        try:
            text = results.read_text()
        except OSError:
            text = None
        status, message, keep = verdict(rc, text, self.timeout, log.relative_to(self.out).as_posix())
        if not keep:
            results.unlink(missing_ok=True)  # whatever it wrote while being stopped is not a grade
        if status == "timeout":
            with open(log, "a") as logf:
                logf.write(f"\n[batch] killed after {self.timeout:g} s (per-submission time limit)\n")
        return Outcome(sub.id, status, secs, message)

    def _run(self, sub: Submission, results: Path, log: Path, t0: float) -> Outcome:
        cmd = grade_command(sub.path, results, Path(self.rub.path), self.extra_args)
        if self.warm:
            rc, stopped = self._warm().grade(cmd[3:], log, self.timeout, stopped=self.stopping.is_set)
        else:
            rc, stopped = run_grading(cmd, log, self.timeout, self.env, stopped=self.stopping.is_set)
        return self._finish(sub, rc, stopped, results, log, t0)

    def _warm(self):
        w = getattr(self._local, "warm", None)
        if w is None:
            from grader.tools.warm import WarmGrader
            w = self._local.warm = WarmGrader(env=self.env, torch=any(q.needs_torch for q in self.rub.questions))
            with self._warms_lock:
                self._warms.append(w)
        return w

    def stop(self):
        """Stop every grading: each one in flight is stopped (SIGINT, then the tree is killed) within
        ``POLL_S`` by the thread that waits for it."""
        self.stopping.set()

    def close(self):
        with self._warms_lock:
            warms, self._warms = self._warms, []
        for w in warms:
            w.close()
