"""Generic checks for the numpy layers of Q1/Q2, driven by a table of signatures.

Each backward function is checked two ways: against the reference's gradients
stored in the fixtures (for the same inputs), and against a numeric gradient
of the student's own forward function (so the feedback can say which gradient
is inconsistent, and by how much).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from grader.checklib.compare import as_array, compare_case, fail, marginal, scaled_rel_error

RNN_FILE = "rnn_layers.py"

# Tolerances.  Forward/backward against fixtures: the reference's float64 values
# are stored at full precision, and a correct float64 implementation in any
# style matches them to ~1e-13 (measured); the notebook asks for e-8, we allow
# 1e-7, and every bug we catalogue is above 1e-3.
FORWARD_TOL = 1e-7
BACKWARD_TOL = 1e-7
# Gradient checks (numeric h=1e-5 vs analytic): the notebook's stated orders,
# one order of margin above the worst the reference measures on all cases
# (see tests/test_checks_tolerances.py, which recomputes these margins).
GRADCHECK_TOL = {
    "rnn_step_backward": 1e-7,      # notebook: e-8 or less
    "rnn_backward": 1e-5,           # notebook: e-6 or less
    "word_embedding_backward": 1e-9,  # notebook: e-11 or less (linear: exact up to rounding)
    "lstm_step_backward": 1e-6,     # notebook: e-7 or less
    "lstm_backward": 1e-5,          # notebook: e-8, and e-6 for dWh
}

HINTS = {
    ("rnn_step_backward", "dx"): "dx = (upstream gradient through tanh) times Wx transposed",
    ("rnn_step_backward", "dprev_h"): "the gradient reaches prev_h through Wh; use the tanh derivative 1 - next_h**2",
    ("rnn_step_backward", "db"): "db sums the gradient through tanh over the batch",
    ("rnn_backward", "dh0"): "carry dprev_h from step t into step t-1 and add it to dh[:, t-1]",
    ("rnn_backward", "dWx"): "dWx must accumulate (+=) over all timesteps",
    ("rnn_backward", "dWh"): "check that dWh accumulates over all timesteps and that each step receives dh[:, t] plus the carried dprev_h",
    ("rnn_backward", "db"): "db must accumulate over all timesteps",
    ("rnn_backward", "dx"): "each timestep's dx comes from that step's backward call, fed dh[:, t] plus the carried gradient",
    ("word_embedding_backward", "dW"): "words can repeat: accumulate with np.add.at (dW[x] += dout drops repeated indices)",
    ("lstm_step_backward", "dprev_c"): "next_c reaches the loss directly and through next_h = o * tanh(next_c)",
    ("lstm_step_backward", "dx"): "check the gate order i, f, o, g and each gate's local derivative",
    ("lstm_step_backward", "dWh"): "check the gate order i, f, o, g and each gate's local derivative",
    ("lstm_backward", "dh0"): "carry both dprev_h and dprev_c backwards through time (the cell state gradient starts at zero)",
    ("lstm_backward", "dWh"): "dWh must accumulate over all timesteps; carry dprev_c between steps too",
    ("lstm_backward", "dx"): "carry both dprev_h and dprev_c backwards through time",
}


@dataclass(frozen=True)
class Fwd:
    args: tuple
    outs: tuple          # names of the array outputs, in order
    n_out: int           # length of the returned tuple (arrays + cache)


@dataclass(frozen=True)
class Bwd:
    forward: str
    douts: tuple         # names of upstream gradients, in the backward's argument order
    dout_of: tuple       # forward output index each dout belongs to
    grads: tuple         # names of returned gradients
    wrt: tuple           # forward argument each gradient belongs to
    tuple_out: bool = True


FORWARD = {
    "rnn_step_forward": Fwd(("x", "prev_h", "Wx", "Wh", "b"), ("next_h",), 2),
    "rnn_forward": Fwd(("x", "h0", "Wx", "Wh", "b"), ("h",), 2),
    "word_embedding_forward": Fwd(("x", "W"), ("out",), 2),
    "lstm_step_forward": Fwd(("x", "prev_h", "prev_c", "Wx", "Wh", "b"), ("next_h", "next_c"), 3),
    "lstm_forward": Fwd(("x", "h0", "Wx", "Wh", "b"), ("h",), 2),
}
BACKWARD = {
    "rnn_step_backward": Bwd("rnn_step_forward", ("dnext_h",), (0,), ("dx", "dprev_h", "dWx", "dWh", "db"),
                             ("x", "prev_h", "Wx", "Wh", "b")),
    "rnn_backward": Bwd("rnn_forward", ("dh",), (0,), ("dx", "dh0", "dWx", "dWh", "db"), ("x", "h0", "Wx", "Wh", "b")),
    "word_embedding_backward": Bwd("word_embedding_forward", ("dout",), (0,), ("dW",), ("W",), tuple_out=False),
    "lstm_step_backward": Bwd("lstm_step_forward", ("dnext_h", "dnext_c"), (0, 1),
                              ("dx", "dprev_h", "dprev_c", "dWx", "dWh", "db"), ("x", "prev_h", "prev_c", "Wx", "Wh", "b")),
    "lstm_backward": Bwd("lstm_forward", ("dh",), (0,), ("dx", "dh0", "dWx", "dWh", "db"), ("x", "h0", "Wx", "Wh", "b")),
}


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
    res = student.call(staged_as, fn, batch=batch, pick=picks, discard=True, label=label or fn)
    grad = np.empty(x.size)
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
        if marginal(err, tol):
            hint = (f"this is only {err / tol:.1f}x the tolerance, within the numeric gradient's own noise for a "
                    "forward pass that loses precision: your backward formula is probably right; check that your "
                    "forward and backward passes compute in float64 (no float32 arrays or casts)"
                    + (f"; if they do, {hint}" if hint else ""))
        fail(f"{name}: relative error {err:.1e} between your backward pass and a numeric gradient of your "
             f"forward pass, expected below {tol:.0e}" + (f"; {hint}" if hint else ""))


def check_forward(student, fn: str, case):
    spec = FORWARD[fn]
    args = [case.inputs[a] for a in spec.args]
    res = student.call(RNN_FILE, fn, *args)
    vals = outputs(res.value, spec.n_out, fn)
    for i, name in enumerate(spec.outs):
        compare_case(name, vals[i], case.expected[name], FORWARD_TOL, case)


def _student_grads(student, fn: str, case):
    """The student's backward applied to the student's own forward cache (once per case)."""
    spec = BACKWARD[fn]
    fwd = FORWARD[spec.forward]

    def run():
        f = student.call(RNN_FILE, spec.forward, *[case.inputs[a] for a in fwd.args])
        outputs(f.value, fwd.n_out, spec.forward)
        cache = f.ref[fwd.n_out - 1]
        b = student.call(RNN_FILE, fn, *[case.inputs[d] for d in spec.douts], cache)
        if not spec.tuple_out:
            return {spec.grads[0]: b.value}
        vals = outputs(b.value, len(spec.grads), fn)
        return dict(zip(spec.grads, vals))
    return student.once(("grads", fn, case.name), run)


def check_backward(student, fn: str, case, grad: str):
    got = _student_grads(student, fn, case)[grad]
    compare_case(grad, got, case.expected[grad], BACKWARD_TOL, case, hint=HINTS.get((fn, grad), ""))


def check_gradient(student, fn: str, case, grad: str):
    spec = BACKWARD[fn]
    fwd = FORWARD[spec.forward]
    analytic = as_array(grad, _student_grads(student, fn, case)[grad])
    args = [np.asarray(case.inputs[a], dtype=np.float64) if np.asarray(case.inputs[a]).dtype.kind == "f"
            else case.inputs[a] for a in fwd.args]
    wrt = fwd.args.index(spec.wrt[spec.grads.index(grad)])
    douts = {k: case.inputs[d] for d, k in zip(spec.douts, spec.dout_of)}
    num = student.once(("numgrad", fn, case.name, grad),
               lambda: numeric_grad(student, RNN_FILE, spec.forward, args, wrt, douts, label=spec.forward))
    if analytic.shape != num.shape:
        fail(f"{grad} has shape {analytic.shape}, expected {num.shape} (the shape of {spec.wrt[spec.grads.index(grad)]})")
    gradcheck_failure(grad, scaled_rel_error(analytic, num), GRADCHECK_TOL[fn], HINTS.get((fn, grad), ""))
