"""What a check sees of the submission: the student's functions, run in the sandbox.

Grader side.  ``Student`` is the one way checks call into the worker: a student
function (``call``), an in-worker helper of ``grader/inworker/`` (``helper``) or
a method of an object the worker holds (``method``).  Each raises
``CheckFailure`` with student-facing feedback when the call fails (an
exception in the student's code, a hang, a crash, a missing file or function,
the starter placeholder), so a check never handles worker errors itself.
"""
from __future__ import annotations

import contextlib
from pathlib import Path

from grader.checklib.compare import CheckFailure, fail
from grader.questions import FILES, TENSORFLOW
from grader.sandbox.client import CallResult, Sandbox, StudentException, WorkerError
from grader.engine.staging import StageReport


class Student:
    def __init__(self, sandbox: Sandbox, report: StageReport, fixtures: Path | str | None = None,
                 isolate_blocks: bool = True, test_names: dict[str, str] | None = None,
                 tracks: dict[str, str] | None = None, rubric_tracks: tuple[str, ...] = ("pytorch",)):
        self.sandbox = sandbox
        self.report = report
        self.fixtures = fixtures          # the run's fixtures folder (visible.h5, hidden.h5 when present)
        self.in_hidden = False            # a hidden test is being graded (the plugin sets it per check)
        self.isolate_blocks = isolate_blocks  # judge dependent functions with correct building blocks
        self.test_names = test_names or {}    # check name -> the rubric test it counts towards
        self.tracks = dict(tracks or {})      # Q3/Q4: question -> "pytorch" | "tensorflow" graded in this run
        self.rubric_tracks = tuple(rubric_tracks)  # the tracks the rubric allows
        self.timeout: float | None = None  # the current check's per-call limit (from the rubric)
        self._memo: dict = {}
        self._notes: list[str] = []

    def track(self, question: str) -> str:
        """The framework a question is graded in, in this run: "pytorch" (the default) or "tensorflow"."""
        return self.tracks.get(question, "pytorch")

    def note(self, text: str) -> None:
        """Something the current check's feedback should say even when it passes."""
        if text not in self._notes:
            self._notes.append(text)

    def take_notes(self) -> list[str]:
        notes, self._notes = self._notes, []
        return notes

    @contextlib.contextmanager
    def quiet(self):
        """Calls made inside (e.g. probing another function) add nothing to the current check's output."""
        saved, notes = self.sandbox._captured, self._notes
        self.sandbox._captured, self._notes = None, []
        try:
            yield
        finally:
            self.sandbox._captured, self._notes = saved, notes

    # ------------------------------------------------------------ modules
    def require(self, staged_as: str) -> str:
        """Module name of a student file, or a failure that says it is missing / does not import."""
        msg = self.report.missing_message(staged_as, tensorflow=TENSORFLOW in self.rubric_tracks)
        if msg:
            fail(msg)
        mod = FILES[staged_as].module
        try:
            self.sandbox.import_module(mod, timeout=self.timeout)
        except StudentException as exc:
            src = self.report.files[staged_as].source or staged_as
            tb = self.report.in_notebooks(exc.traceback)
            fail(f"{src} could not be imported: {exc.exc_type or 'error'}: {exc}\n{tb}".rstrip())
        except WorkerError as exc:
            fail(f"importing {self.report.files[staged_as].source or staged_as} failed: {exc}")
        return mod

    def names(self, staged_as: str) -> list[str]:
        mod = self.require(staged_as)
        return self.sandbox.import_module(mod)["names"]

    def resolve(self, staged_as: str, *candidates: str) -> str:
        """The first of ``candidates`` the student's module defines (course name variants)."""
        names = set(self.names(staged_as))
        for c in candidates:
            if c.split(".")[0] in names:
                return c
        fail(f"{FILES[staged_as].shown} does not define {' or '.join(candidates)}")

    # ------------------------------------------------------------ calls
    def call(self, staged_as: str, name: str, *args, label: str | None = None, **opts) -> CallResult:
        """The student's ``name`` from ``staged_as`` on ``args`` (plain data or Refs)."""
        mod = self.require(staged_as)
        self.resolve(staged_as, name)
        return self._run(mod, name, args, label or name, opts)

    def helper(self, module: str, fn: str, *args, label: str, needs: str | None = None, **opts) -> CallResult:
        """``grader.inworker.<module>.<fn>(*args)`` in the worker (on the student's objects);
        ``needs``: the student file it uses, so a missing or broken file is reported as such."""
        if needs is not None:
            self.require(needs)
        return self._run(f"grader.inworker.{module}", fn, args, label, opts)

    def method(self, ref, *args, label: str, **opts) -> CallResult:
        """A callable the worker holds (e.g. ``model.attr("loss")``)."""
        return self._run(None, None, args, label, dict(opts, ref=ref))

    def _run(self, module, name, args, label, opts) -> CallResult:
        opts.setdefault("timeout", self.timeout)
        try:
            return self.sandbox.call(module, name, *args, label=label, **opts)
        except WorkerError as exc:
            raise CheckFailure(describe_worker_error(exc, label, self.report)) from None

    # ------------------------------------------------------------ per run
    def recalled(self, key):
        """What ``once`` keeps for ``key``: ("ok", result), ("err", failure), or None if not run yet."""
        return self._memo.get(key)

    def once(self, key, thunk):
        """Run ``thunk`` once per key in this grading run; replay its result or its failure."""
        if key not in self._memo:
            try:
                self._memo[key] = ("ok", thunk())
            except CheckFailure as exc:
                self._memo[key] = ("err", exc)
        kind, value = self._memo[key]
        if kind == "err":
            raise value
        return value


def describe_worker_error(exc: WorkerError, where: str = "", report: StageReport | None = None) -> str:
    """Student-facing text for a failed call (frames in notebook code say where they are in the notebook)."""
    if isinstance(exc, StudentException):
        if exc.kind == "exit":
            head = f"{where or 'your code'} called sys.exit(); never exit from library code"
        elif exc.kind == "protocol":
            head = str(exc)
        else:
            head = f"{where or 'your code'} raised {exc.exc_type}: {exc}"
            if exc.exc_type == "BdbQuit":  # pdb.set_trace() with no keyboard to answer it
                head += (" (a debugger call, pdb.set_trace() or similar, is left in your code: the grader has no "
                         "keyboard to answer it; remove the call)")
        tb = report.in_notebooks(exc.traceback) if report is not None else exc.traceback
        if exc.exc_type == "NameError" and tb and "code cell" in tb:
            # a name the notebook set in a cell the grader does not run (class_names = load_imagenet_val(...)[2]):
            # the student sees a NameError about a name their notebook defines (probe round O)
            head += (" (from your notebook the grader takes its functions, imports and simple constants, not the "
                     "cells that load data or run code: a name set by such a cell is not defined here; compute it "
                     "inside the function, or use the function's arguments)")
        return (head + ("\n" + tb if tb else "")).rstrip()
    return str(exc)
