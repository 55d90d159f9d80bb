"""Where the step sits in the course's provided ``create_class_visualization`` loop.

Before 2019 (PyTorch 2017-2018 notebooks, TensorFlow 1 notebooks) the class-visualization step had no
function of its own: students wrote it inside the provided loop

    for t in range(num_iterations):
        ox, oy = random.randint(...), random.randint(...)
        <the jitter: a statement that reads ox / oy>
        <the step>
        <the undo: a statement that reads -ox / -oy>
        ...

Both tracks build a step function from that loop (``grader.engine.notebook`` for PyTorch,
``grader.course.tf_code`` for TensorFlow 1); they differ in what they keep around it, not in how the loop
is found.  Pure ``ast``: nothing of the student's runs here.
"""
from __future__ import annotations

import ast
from typing import NamedTuple

JITTER_NAMES = ("ox", "oy")


class JitterLoop(NamedTuple):
    """``body[at]`` is the ``for ... in range(...)`` loop; ``loop`` its statements; ``jitter`` the index in
    ``loop`` of the jitter (None if there is none) and ``undo`` that of its undo."""
    at: int
    loop: list
    jitter: int | None
    undo: int


def _names(node, ctx) -> set[str]:
    return {n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ctx)}


def _negated(node) -> bool:
    return any(isinstance(n, ast.UnaryOp) and isinstance(n.op, ast.USub) and isinstance(n.operand, ast.Name)
               and n.operand.id in JITTER_NAMES for n in ast.walk(node))


def find(body: list) -> JitterLoop | None:
    """The jitter loop among the statements ``body`` of a create_class_visualization; None when there is
    no ``range`` loop or no undo in it.  The jitter reads ox or oy without negating or assigning them (the
    draw of ox, oy is not it)."""
    at = next((i for i, n in enumerate(body) if isinstance(n, ast.For) and isinstance(n.iter, ast.Call)
               and isinstance(n.iter.func, ast.Name) and n.iter.func.id == "range"), None)
    if at is None:
        return None
    loop = list(body[at].body)
    jitter = next((i for i, n in enumerate(loop) if _names(n, ast.Load) & set(JITTER_NAMES) and not _negated(n)
                   and not _names(n, ast.Store) & set(JITTER_NAMES)), None)
    undo = next((i for i, n in enumerate(loop) if _negated(n)), None)
    if undo is None:
        return None
    return JitterLoop(at, loop, jitter, undo)


def returns_or_yields(nodes) -> bool:
    """Whether any of ``nodes`` returns or yields (such a step cannot be made into a function body)."""
    return any(isinstance(x, (ast.Return, ast.Yield, ast.YieldFrom)) for n in nodes for x in ast.walk(n))
