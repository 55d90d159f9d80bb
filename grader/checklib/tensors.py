"""Grader side: what the Q3/Q4 checks make of tensors the worker returned (as plain arrays), and the
error measure for float32 results."""
import numpy as np

from grader.checklib.compare import fail
from grader.sandbox.protocol import Opaque

def tensor_result(what: str, value, framework: str = "pytorch") -> tuple:
    """(array, tensor metadata) of a returned torch Tensor, or a failure saying what came back instead.
    ``framework="tensorflow"``: the TensorFlow track's helpers send a tf.Tensor, a tf.Variable or a numpy
    array back as the same record, and the wording says what TensorFlow code should return."""
    tf = framework == "tensorflow"
    expected = "a tf.Tensor or a numpy array" if tf else "a torch Tensor"
    if value is None:
        fail(f"{what} returned None: not implemented yet")
    if isinstance(value, dict) and "__tensor__" in value:
        arr = np.asarray(value["__tensor__"])
        if arr.dtype.kind not in "biuf":
            fail(f"{what} returned a Tensor of dtype {value.get('tf_dtype', value.get('dtype'))}; a real-valued "
                 f"{'tensor or array' if tf else 'Tensor'} was expected")
        return arr, value
    if isinstance(value, np.ndarray):
        fail(f"{what} returned a numpy array; return a torch Tensor (keep the computation in torch)")
    if isinstance(value, (bool, int, float, np.number)):
        if tf:
            fail(f"{what} returned a Python number; return {expected}")
        fail(f"{what} returned a Python number; return a torch Tensor (a number cannot be backpropagated: "
             "do not call .item() or float())")
    kind = value.type_name if isinstance(value, Opaque) else type(value).__name__
    fail(f"{what} returned a {kind}; {expected} was expected")


def norm_error(got, expected) -> float:
    """max |got - expected| / max |expected|: float32 rounding scales with the largest magnitudes
    involved, so this stays meaningful for entries near zero (where the elementwise relative
    error of the course's rel_error is dominated by rounding)."""
    e = np.asarray(expected, dtype=np.float64)
    g = np.asarray(got, dtype=np.float64)
    if not e.size:
        return 0.0
    return float(np.max(np.abs(g - e)) / max(float(np.max(np.abs(e))), 1e-30))


def check_values(name: str, got, expected, tol: float, *, hidden: bool, hint: str = "",
                 scalar: bool = False) -> float:
    """Shape, finiteness and norm_error(got, expected) <= tol, with student-facing feedback
    (no values for hidden cases)."""
    expected = np.asarray(expected, dtype=np.float64)
    got = np.asarray(got)
    tail = f"; {hint}" if hint else ""
    if scalar:
        if got.size != 1:
            fail(f"{name} should be a scalar, got a Tensor of shape {tuple(got.shape)}{tail}")
        got, expected = got.reshape(()), expected.reshape(())
    elif got.shape != expected.shape:
        fail(f"{name} has shape {tuple(got.shape)}, expected {tuple(expected.shape)}{tail}")
    if not np.all(np.isfinite(got)):
        fail(f"{name} contains NaN/inf values{tail}")
    err = norm_error(got, expected)
    if not err <= tol:
        where = ""
        if not hidden:
            if scalar:
                where = f" (got {float(got):.6g}, expected {float(expected):.6g})"
            elif np.allclose(got, 0):
                where = " (all your values are zero)"
            else:
                idx = np.unravel_index(int(np.argmax(np.abs(got - expected))), got.shape)
                where = (f" (largest difference at index {tuple(int(i) for i in idx)}: got {float(got[idx]):.6g}, "
                         f"expected {float(expected[idx]):.6g})")
        fail(f"{name}: relative error {err:.1e} (largest difference over largest expected magnitude), "
             f"expected below {tol:.0e}{where}{tail}")
    return err
