"""In-worker side of the channel to the grader's correct building blocks.

During a call, an in-worker helper may stand a correct version of a graded
function in for the student's (one bug, one deduction: DESIGN.md invariant
10).  The correct code never runs here: ``call(fn, *args)`` sends plain
arrays to the grader, which computes ``fn`` with its own code and answers with
plain arrays and opaque ``Handle``s (a correct forward pass's cache, kept by
the grader).  The grader accepts such requests only while it is waiting for
the call that installed the stand-in, bounds their number and size, and
forgets every handle when the check ends.
"""
from __future__ import annotations

from grader.sandbox.protocol import Handle

_SEND = [None]


def install(send) -> None:
    """Called by the worker child: ``send(fn, args)`` forwards a request over the child's socket."""
    _SEND[0] = send


def call(fn: str, *args):
    """``fn(*args)`` computed by the grader (plain data and Handles in, plain data and Handles out)."""
    if _SEND[0] is None:
        raise RuntimeError("no grader to ask (not inside a graded call)")
    return _SEND[0](fn, list(args))


__all__ = ["call", "install", "Handle"]
