"""What a check sees of the submission: named student functions run in the sandbox.

Wraps ``Sandbox`` with the staging report, so a missing file or function, or
the starter placeholder, fails with a message saying exactly that.
"""
from __future__ import annotations

from grader.checklib.compare import CheckFailure, fail
from grader.paths import PACKAGE, STUDENT_FILES
from grader.sandbox.client import CallResult, Sandbox, StudentException, WorkerError
from grader.engine.staging import StageReport


def module_name(staged_as: str) -> str:
    return PACKAGE + "." + staged_as[:-3].replace("/", ".")


class Student:
    def __init__(self, sandbox: Sandbox, report: StageReport):
        self.sandbox = sandbox
        self.report = report
        self.timeout: float | None = None

    def require(self, staged_as: str) -> str:
        """Module name of a student file, or a failure that says it is missing / does not import."""
        msg = self.report.missing_message(staged_as)
        if msg:
            fail(msg)
        mod = module_name(staged_as)
        try:
            self.sandbox.import_module(mod, timeout=self.timeout)
        except StudentException as exc:
            src = self.report.files[staged_as].source or staged_as
            fail(f"{src} could not be imported: {exc.exc_type or 'error'}: {exc}\n{exc.traceback}".rstrip())
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
        fnames = " or ".join(STUDENT_FILES[staged_as])
        fail(f"{fnames} does not define {' or '.join(candidates)}")

    def call(self, staged_as: str, name: str, *args, label: str | None = None, **opts) -> CallResult:
        mod = self.require(staged_as)
        self.resolve(staged_as, name)
        opts.setdefault("timeout", self.timeout)
        return self.sandbox.call(mod, name, *args, label=label or name, **opts)

    def helper(self, name: str, *args, label: str, **opts) -> CallResult:
        """Run one of grader.inworker.compat in the worker (on student objects)."""
        opts.setdefault("timeout", self.timeout)
        return self.sandbox.call("grader.inworker.compat", name, *args, label=label, **opts)

    def method(self, ref, *args, label: str, **opts) -> CallResult:
        opts.setdefault("timeout", self.timeout)
        return self.sandbox.call(None, None, *args, ref=ref, label=label, **opts)


def describe_worker_error(exc: WorkerError, where: str = "") -> str:
    if isinstance(exc, StudentException):
        if exc.kind == "exit":
            head = f"{where or 'your code'} called sys.exit(); never exit from library code"
        elif exc.kind == "protocol":
            head = str(exc)
        else:
            head = f"{where or 'your code'} raised {exc.exc_type}: {exc}"
        return (head + ("\n" + exc.traceback if exc.traceback else "")).rstrip()
    return str(exc)


__all__ = ["Student", "CheckFailure", "describe_worker_error", "module_name"]
