"""Compare a student's value with an expected one and say, in words, what is wrong.

Every failure raises ``CheckFailure`` with a message a student can act on.
For hidden cases the message gives shapes and error sizes, never the inputs or
expected values.
"""
from __future__ import annotations

import numpy as np

from grader.sandbox.protocol import Opaque


class CheckFailure(Exception):
    """A check did not pass; ``str()`` is the feedback shown to the student."""


def fail(message: str):
    raise CheckFailure(message)


def rel_error(x, y) -> float:
    """The course's relative error: max |x - y| / max(1e-8, |x| + |y|)."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.size == 0:
        return 0.0
    return float(np.max(np.abs(x - y) / np.maximum(1e-8, np.abs(x) + np.abs(y))))


# Entries of an array smaller than SCALE_FLOOR times its largest expected magnitude are compared
# at that scale.  An entry that is the small difference of large terms (a gradient through a
# saturated tanh, summed over words) carries the rounding error of those terms: in float64 any
# correct formulation is off by ~1e-16 of the array's scale there, which the course's elementwise
# relative error turns into up to 1e-7 on an entry 1e-9 of the scale (measured: CaptioningRNN's
# notebook set-up, grads['W_embed'], 1 - h**2 against 1 / cosh(z)**2).  With the floor such an
# entry measures ~1e-13; a wrong formula still measures >= 1e-3 on every entry above the floor.
SCALE_FLOOR = 1e-3


def scaled_rel_error(x, y) -> float:
    """rel_error with the denominator also floored at SCALE_FLOOR * max|y| (``y`` the expected
    value): never stricter than rel_error, and the same for every entry above the floor."""
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if x.size == 0:
        return 0.0
    floor = max(1e-8, SCALE_FLOOR * float(np.max(np.abs(y))) if y.size else 0.0)
    return float(np.max(np.abs(x - y) / np.maximum(floor, np.abs(x) + np.abs(y))))


def marginal(err: float, tol: float) -> bool:
    """An error just above its tolerance (at most 10x): more likely rounding than a wrong formula."""
    return tol < err <= 10 * tol


def precision_note(err: float, tol: float) -> str:
    return (f"this is only {err / tol:.1f}x the tolerance: your values agree with the expected ones to about "
            f"{max(0, int(-np.log10(max(err, 1e-300))))} digits, so a wrong formula is unlikely; look for lost "
            "precision instead (float32 arrays or casts, a subtraction of nearly equal numbers)")


def as_array(name: str, value, *, allow_tensor=True) -> np.ndarray:
    """The numeric array inside ``value`` (a numpy array, a tensor view, a number), or a clear failure."""
    if isinstance(value, dict) and "__tensor__" in value:
        if not allow_tensor:
            fail(f"{name} is a torch tensor; a numpy array was expected")
        value = value["__tensor__"]
    if value is None:
        fail(f"{name} is None: the function is not implemented yet (it still returns the starter placeholder)")
    if isinstance(value, Opaque):
        fail(f"{name} is a {value.type_name} object; a numeric array was expected")
    if isinstance(value, (bool, int, float, np.number)):
        value = np.asarray(value)
    if isinstance(value, (list, tuple)):
        try:
            value = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            fail(f"{name} is a {type(value).__name__} that is not a numeric array")
    if not isinstance(value, np.ndarray):
        fail(f"{name} is a {type(value).__name__}; a numeric array was expected")
    return value


def check_close(name: str, got, expected, tol: float, *, hint: str = "", hidden: bool = False,
                allow_tensor=True) -> float:
    """Fail unless ``got`` has ``expected``'s shape and rel_error(got, expected) <= tol."""
    got = as_array(name, got, allow_tensor=allow_tensor)
    expected = np.asarray(expected)
    if got.shape != expected.shape:
        squeezed = got.size == expected.size
        fail(f"{name} has shape {tuple(got.shape)}, expected {tuple(expected.shape)}"
             + (" (same number of elements: check the order of your reshape/transpose)" if squeezed else ""))
    if got.dtype.kind not in "biuf":
        fail(f"{name} has dtype {got.dtype}; a real-valued array was expected")
    if not np.all(np.isfinite(got)):
        bad = int(np.sum(~np.isfinite(got)))
        fail(f"{name} contains {bad} NaN/inf value(s)" + (f"; {hint}" if hint else ""))
    err = scaled_rel_error(got, expected)
    if not err <= tol:
        where = "" if hidden else _where(got, expected)
        # the float64 (numpy) checks, the only ones this tight: torch's float32 is no mistake
        narrower = tol <= 1e-7 and got.dtype.kind == "f" and got.dtype.itemsize < expected.dtype.itemsize
        if narrower and err <= 1e-3:  # every catalogued bug is above 1e-3 (probe round L: float32 accumulators, 2e-6)
            hint = (f"{name} is {got.dtype} where the inputs are {expected.dtype}: {got.dtype} keeps about 7 "
                    f"significant digits, which is this error; compute in the inputs' dtype (no dtype=np.float32 "
                    f"arrays or casts)")
        elif marginal(err, tol):
            hint = precision_note(err, tol) + (f"; if not, {hint}" if hint else "")
        fail(f"{name}: relative error {err:.1e}, expected below {tol:.0e}{where}" + (f"; {hint}" if hint else ""))
    return err


def _where(got, expected) -> str:
    """A small pointer to the first wrong entry (visible cases only)."""
    diff = np.abs(got.astype(np.float64) - expected)
    idx = np.unravel_index(int(np.argmax(diff)), diff.shape) if diff.size else ()
    if not idx:
        return ""
    if np.allclose(got, 0):
        return " (all your values are zero)"
    return f" (largest difference at index {tuple(int(i) for i in idx)}: got {got[idx]:.6g}, expected {expected[idx]:.6g})"


# float32 inputs (hidden cases of the numpy layers): eps 1.2e-7 times ~10-100 accumulated ops
FLOAT32_RTOL, FLOAT32_ATOL = 1e-4, 1e-5


def is_float32(case) -> bool:
    return any(isinstance(v, np.ndarray) and v.dtype == np.float32 for v in case.inputs.values())


def compare_case(name, got, expected, tol, case, hint=""):
    """check_close, or for a case with float32 inputs an elementwise float32 criterion."""
    if is_float32(case):
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
