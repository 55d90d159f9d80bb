"""Building blocks shared by the check modules in grader/checks/.

Numeric gradients are computed *here*, in the grader, from the student's own
forward function run in the worker (one batched round trip per input), so a
gradient check cannot be satisfied by anything but a backward pass that
matches the forward pass.
"""
from __future__ import annotations

import numpy as np
import pytest

from grader.engine import cases as fx
from grader.checklib.compare import CheckFailure, check_close, fail, rel_error
from grader.sandbox.client import WorkerError
from grader.sandbox.student import describe_worker_error

FLOAT32_RTOL, FLOAT32_ATOL = 1e-4, 1e-5  # float32 inputs: eps 1.2e-7 times ~10-100 accumulated ops


def case_params(function: str, *parts: str, where=None):
    """pytest params for every fixture case of ``function`` (x each part), ids ``<case>[-<part>]``.

    Hidden case ids start with ``hidden`` (the rubric keys on it)."""
    out = []
    for c in fx.cases(function):
        if where is not None and not where(c):
            continue
        if parts:
            out += [pytest.param(c, p, id=f"{c.name}-{p}") for p in parts]
        else:
            out.append(pytest.param(c, id=c.name))
    return out


_memo: dict = {}


def once(key, thunk):
    """Run ``thunk`` once per key per grading process; replay its result or its failure."""
    if key not in _memo:
        try:
            _memo[key] = ("ok", thunk())
        except (CheckFailure, WorkerError) as exc:
            _memo[key] = ("err", exc)
    kind, value = _memo[key]
    if kind == "err":
        raise value
    return value


def is_float32(case) -> bool:
    return any(isinstance(v, np.ndarray) and v.dtype == np.float32 for v in case.inputs.values())


def compare(name, got, expected, tol, case, hint=""):
    """check_close with the float32 criterion for float32 cases."""
    if is_float32(case):
        from grader.checklib.compare import as_array
        g = as_array(name, got)
        e = np.asarray(expected)
        if g.shape != e.shape:
            fail(f"{name} has shape {tuple(g.shape)}, expected {tuple(e.shape)}")
        if not np.all(np.isfinite(g)):
            fail(f"{name} contains NaN/inf values")
        excess = np.abs(g - e) - (FLOAT32_ATOL + FLOAT32_RTOL * np.abs(e))
        if np.any(excess > 0):
            fail(f"{name}: max abs difference {np.max(np.abs(g - e)):.1e} on float32 inputs, expected below "
                 f"{FLOAT32_ATOL:.0e} + {FLOAT32_RTOL:.0e}*|value|" + (f"; {hint}" if hint else ""))
        return
    check_close(name, got, expected, tol, hint=hint, hidden=case.hidden)


def run_student(student, staged_as, fn, *args, label=None, **opts):
    """Call a student function; any error in the student's code becomes a CheckFailure."""
    try:
        return student.call(staged_as, fn, *args, label=label or fn, **opts)
    except WorkerError as exc:
        raise CheckFailure(describe_worker_error(exc, label or fn)) from None


def outputs(value, n: int, fn: str):
    """Unpack a tuple result of ``n`` values, failing clearly on the starter placeholder or a wrong arity."""
    if value is None:
        fail(f"{fn} returned None: not implemented yet")
    if not isinstance(value, (tuple, list)) or len(value) != n:
        got = f"{len(value)} values" if isinstance(value, (tuple, list)) else type(value).__name__
        fail(f"{fn} should return {n} values, returned {got}")
    return value


def numeric_grad(student, staged_as, fn, args: list, wrt: int, douts: dict, h=1e-5, label=None):
    """Centered-difference gradient of sum_k <out[k], douts[k]> w.r.t. args[wrt], from the student's forward.

    ``douts`` maps output index -> upstream gradient.  Returns an array shaped like args[wrt]."""
    x = np.asarray(args[wrt], dtype=np.float64)
    batch = []
    for i in range(x.size):
        for sign in (1, -1):
            xp = x.copy().reshape(-1)
            xp[i] += sign * h
            a = list(args)
            a[wrt] = xp.reshape(x.shape)
            batch.append(a)
    picks = [(k,) for k in sorted(douts)]
    try:
        res = student.call(staged_as, fn, batch=batch, pick=picks, discard=True, label=label or fn)
    except WorkerError as exc:
        raise CheckFailure(describe_worker_error(exc, label or fn)) from None
    grad = np.empty(x.size)
    from grader.checklib.compare import as_array
    for i in range(x.size):
        plus, minus = res.value[2 * i], res.value[2 * i + 1]
        total = 0.0
        for j, k in enumerate(sorted(douts)):
            p = as_array(f"{fn} output {k}", plus[j])
            m = as_array(f"{fn} output {k}", minus[j])
            if p.shape != np.shape(douts[k]):
                fail(f"{fn} output {k} has shape {p.shape}, expected {np.shape(douts[k])}")
            total += np.sum((p - m) * douts[k])
        grad[i] = total / (2 * h)
    return grad.reshape(x.shape)


def gradcheck_failure(name: str, err: float, tol: float, hint: str = "") -> None:
    if not err <= tol:
        fail(f"{name}: relative error {err:.1e} between your backward pass and a numeric gradient of your "
             f"forward pass, expected below {tol:.0e}" + (f"; {hint}" if hint else ""))


__all__ = ["case_params", "once", "compare", "run_student", "outputs", "numeric_grad", "gradcheck_failure",
           "rel_error", "fail", "CheckFailure"]
