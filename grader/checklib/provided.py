"""Whose code raised: the student's, or the course's provided code that the grader supplies.

Grader side.  When a check's call into the worker fails, the failure carries the
student-visible traceback (frames of the staged package only).  If its innermost
frame lies in code the grader took from the course's starter rather than from the
submission (a provided module such as ``image_utils.py``, or the provided part of
a module assembled from a 2019 notebook: ``bce_loss``, ``Flatten``, ``jitter``
...), the feedback says so instead of presenting the error as the student's.
"""
from __future__ import annotations

from grader.checklib.compare import CheckFailure
from grader.engine.staging import FRAME
from grader.paths import PACKAGE
from grader.questions import FILES



def provided_frame(text: str, report) -> tuple[str, str] | None:
    """(function, file as the course names it) when the innermost frame of the traceback in
    ``text`` is the course's provided code supplied by the grader; None otherwise."""
    frames = FRAME.findall(text or "")
    if not frames:
        return None
    path, line, fn = frames[-1]
    path = path.replace("\\", "/")
    marker = f"{PACKAGE}/"
    if marker not in path:
        return None
    rel = path.rsplit(marker, 1)[1]
    sf = report.files.get(rel) if report is not None else None
    if rel not in FILES:  # a provided module of the package (layers.py, image_utils.py ...)
        return fn, rel
    if sf is None or sf.origin != "notebook" or not sf.provided_lines:
        return None  # the student's own file: its helpers are the student's copy
    if int(line) > sf.provided_lines or fn in FILES[rel].notebook_functions:
        return None
    return fn, f"the course's {FILES[rel].names[-1]}"


def explain(exc: CheckFailure, report) -> CheckFailure:
    """``exc`` with a note when the error was raised inside provided code (see the module doc)."""
    hit = provided_frame(str(exc), report)
    if hit is None:
        return exc
    fn, where = hit
    last = str(exc).strip().splitlines()[-1] if str(exc).strip() else ""
    if f"{fn}(" in last:
        return exc  # the provided function's own message about its arguments (bce_loss(input, target) got ...)
    return CheckFailure(f"{exc}\n(This error was raised inside {fn} in {where}, the course's provided code, "
                        "which the grader supplies from the course's starter files rather than from your "
                        "submission. Check the arguments your code passes to it; if they are what the notebook "
                        "passes, this is not your fault: tell the course staff.)")
