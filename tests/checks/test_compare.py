"""grader/checklib/compare.py: every failure message a check can show a student.

``as_array``, ``check_close`` and ``compare_case`` raise CheckFailure with feedback a student can
act on; for hidden cases the feedback gives shapes and error sizes, never the inputs, the
expected values or the student's own values.
"""
import re

import numpy as np
import pytest

from grader.checklib.compare import (FLOAT32_ATOL, FLOAT32_RTOL, CheckFailure, as_array, check_close, compare_case,
                                     fail, is_float32, rel_error)
from grader.engine.cases import Case
from grader.sandbox.protocol import Opaque, Ref


def failure(fn, *args, **kw) -> str:
    with pytest.raises(CheckFailure) as info:
        fn(*args, **kw)
    return str(info.value)


def case(hidden=False, dtype=np.float64) -> Case:
    return Case("rnn_step_forward", "hidden-n1" if hidden else "notebook", "hidden" if hidden else "visible",
                inputs={"x": np.ones((2, 3), dtype=dtype), "idx": np.arange(3)})


# ------------------------------------------------------------------ rel_error, fail, is_float32
def test_rel_error_is_the_course_formula():
    assert rel_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert rel_error(np.zeros(0), np.zeros(0)) == 0.0
    assert rel_error([1.0], [3.0]) == pytest.approx(0.5)           # |1-3| / (1+3)
    assert rel_error([0.0], [1e-9]) == pytest.approx(1e-9 / 1e-8)   # the 1e-8 floor
    assert rel_error([[1.0, 0.0]], [[1.0, 2.0]]) == pytest.approx(1.0)  # the largest entry's error


def test_fail_raises_check_failure_with_the_message():
    assert failure(fail, "x is wrong") == "x is wrong"


def test_is_float32_looks_at_the_case_inputs():
    assert is_float32(case(dtype=np.float32)) and not is_float32(case())


# ------------------------------------------------------------------ as_array
def test_as_array_accepts_numbers_lists_arrays_and_tensor_views():
    assert as_array("x", 3).shape == () and as_array("x", 2.5) == 2.5 and as_array("x", np.float32(1)) == 1
    assert as_array("x", True) == np.asarray(True)
    assert as_array("x", [[1, 2], [3, 4]]).dtype == np.float64
    assert as_array("x", (1.5,)).shape == (1,)
    a = np.arange(3)
    assert as_array("x", a) is a
    assert as_array("x", {"__tensor__": a}) is a


@pytest.mark.parametrize("value,message", [
    (None, "dx is None: the function is not implemented yet (it still returns the starter placeholder)"),
    (Opaque("Sequential", Ref(1)), "dx is a Sequential object; a numeric array was expected"),
    (["a", "b"], "dx is a list that is not a numeric array"),
    ((1, [2, 3]), "dx is a tuple that is not a numeric array"),
    ("1.0", "dx is a str; a numeric array was expected"),
    ({"a": 1}, "dx is a dict; a numeric array was expected"),
    ({"__tensor__": None}, "dx is None: the function is not implemented yet (it still returns the starter placeholder)"),
])
def test_as_array_failures(value, message):
    assert failure(as_array, "dx", value) == message


def test_as_array_can_refuse_tensors():
    assert failure(as_array, "dx", {"__tensor__": np.ones(2)}, allow_tensor=False) == (
        "dx is a torch tensor; a numpy array was expected")


# ------------------------------------------------------------------ check_close
def test_check_close_returns_the_error_when_within_tolerance():
    assert check_close("h", [1.0, 2.0], np.array([1.0, 2.0]), 1e-8) == 0.0
    err = check_close("h", np.array([1.0, 2.0 + 2e-9]), np.array([1.0, 2.0]), 1e-8)
    assert 0 < err <= 1e-8
    assert check_close("h", {"__tensor__": np.array([1.0])}, np.array([1.0]), 1e-8) == 0.0


def test_check_close_shape_messages():
    assert failure(check_close, "next_h", np.zeros((3, 2)), np.zeros((2, 3)), 1e-8) == (
        "next_h has shape (3, 2), expected (2, 3) (same number of elements: check the order of your "
        "reshape/transpose)")
    assert failure(check_close, "next_h", np.zeros((2, 4)), np.zeros((2, 3)), 1e-8) == (
        "next_h has shape (2, 4), expected (2, 3)")
    assert failure(check_close, "loss", np.zeros(1), np.float64(0.5), 1e-8) == (
        "loss has shape (1,), expected () (same number of elements: check the order of your reshape/transpose)")


def test_check_close_dtype_message():
    assert failure(check_close, "dx", np.ones(2, dtype=complex), np.ones(2), 1e-8) == (
        "dx has dtype complex128; a real-valued array was expected")


def test_check_close_names_a_float32_result_of_float64_work():
    """A numpy layer's result in float32 (an accumulator made with dtype=np.float32; probe round L) is ~1e-6 off:
    the feedback says that is the dtype, not the formula.  Not for a looser (torch, float32) tolerance."""
    expected = np.linspace(1.0, 30.0, 12).reshape(3, 4) / 7.0
    got = (expected * (1 + 2e-6)).astype(np.float32)
    msg = failure(check_close, "dWh", got, expected, 1e-7, hint="dWh must accumulate")
    assert "dWh is float32 where the inputs are float64" in msg and "must accumulate" not in msg, msg
    msg = failure(check_close, "loss", (expected * (1 + 1e-4)).astype(np.float32), expected, 1e-5)
    assert "float32 where" not in msg, msg
    msg = failure(check_close, "dWh", (expected * 1.5).astype(np.float32), expected, 1e-7, hint="dWh must accumulate")
    assert "float32 where" not in msg and "must accumulate" in msg, msg   # far off: a wrong formula


def test_check_close_nan_message_counts_and_hints():
    got = np.array([1.0, np.nan, np.inf, -np.inf])
    assert failure(check_close, "dx", got, np.ones(4), 1e-8) == "dx contains 3 NaN/inf value(s)"
    assert failure(check_close, "dx", got, np.ones(4), 1e-8, hint="check the tanh derivative") == (
        "dx contains 3 NaN/inf value(s); check the tanh derivative")


def test_check_close_error_message_points_at_the_largest_difference():
    expected = np.array([[1.0, 2.0], [3.0, 4.0]])
    got = expected.copy()
    got[1, 0] = 3.5
    assert failure(check_close, "h", got, expected, 1e-8) == (
        "h: relative error 7.7e-02, expected below 1e-08 (largest difference at index (1, 0): got 3.5, expected 3)")
    assert failure(check_close, "h", got, expected, 1e-8, hint="is the carry added?").endswith(
        "expected 3); is the carry added?")
    assert failure(check_close, "h", np.zeros((2, 2)), expected, 1e-8) == (
        "h: relative error 1.0e+00, expected below 1e-08 (all your values are zero)")
    assert failure(check_close, "s", 2.0, np.float64(1.0), 1e-8) == "s: relative error 3.3e-01, expected below 1e-08"


def test_check_close_hidden_shows_no_values():
    expected = np.array([[123.456789, 2.0], [3.0, 4.0]])
    got = np.array([[987.654321, 2.0], [3.0, 4.0]])
    msg = failure(check_close, "h", got, expected, 1e-8, hidden=True)
    assert msg == "h: relative error 7.8e-01, expected below 1e-08"
    msg = failure(check_close, "h", got, expected, 1e-8, hidden=True, hint="check the gates")
    assert msg == "h: relative error 7.8e-01, expected below 1e-08; check the gates"


# ------------------------------------------------------------------ compare_case
def test_compare_case_float64_is_check_close():
    assert compare_case("h", np.ones(2), np.ones(2), 1e-8, case()) is None
    assert failure(compare_case, "h", np.array([1.0, 3.0]), np.ones(2), 1e-8, case()) == (
        "h: relative error 5.0e-01, expected below 1e-08 (largest difference at index (1,): got 3, expected 1)")
    assert failure(compare_case, "h", np.array([1.0, 3.0]), np.ones(2), 1e-8, case(), hint="h1") == (
        "h: relative error 5.0e-01, expected below 1e-08 (largest difference at index (1,): got 3, expected 1); h1")


def test_compare_case_float32_criterion():
    c = case(dtype=np.float32)
    expected = np.array([1.0, 100.0])
    within = expected + np.array([FLOAT32_ATOL * 0.9, (FLOAT32_ATOL + FLOAT32_RTOL * 100) * 0.9])
    assert compare_case("h", within.astype(np.float32), expected, 1e-8, c) is None  # 1e-8 is not used
    assert failure(compare_case, "h", np.array([1.0, 100.1]), expected, 1e-8, c) == (
        "h: max abs difference 1.0e-01 on float32 inputs, expected below 1e-05 + 1e-04*|value|")
    assert failure(compare_case, "h", np.array([1.0, 100.1]), expected, 1e-8, c, hint="h2").endswith("|value|; h2")
    assert failure(compare_case, "h", np.ones(3), expected, 1e-8, c) == "h has shape (3,), expected (2,)"
    assert failure(compare_case, "h", np.array([np.nan, 1.0]), expected, 1e-8, c) == "h contains NaN/inf values"
    assert failure(compare_case, "h", None, expected, 1e-8, c).startswith("h is None: the function is not implemented")


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_compare_case_hidden_never_shows_values(dtype):
    c = case(hidden=True, dtype=dtype)
    expected = np.array([[123.456789, 2.5], [0.3125, -4.75]])
    wrong = np.array([[987.654321, 2.5], [0.3125, -4.75]])
    messages = [failure(compare_case, "h", wrong, expected, 1e-8, c),
                failure(compare_case, "h", np.zeros((2, 2)), expected, 1e-8, c),
                failure(compare_case, "h", np.where(wrong > 900, np.nan, wrong), expected, 1e-8, c),
                failure(compare_case, "h", wrong.T.reshape(4), expected, 1e-8, c)]
    values = [f"{v:g}" for v in np.concatenate([expected.ravel(), wrong.ravel()]) if v not in (0,)]
    values += ["123.45", "987.65", "2.5", "0.3125", "4.75", "got", "expected 1", "all your values"]
    for msg in messages:
        assert msg.startswith("h"), msg
        shown = [v for v in values if v in msg]
        assert not shown, (msg, shown)
        assert not re.search(r"index \(", msg), msg
