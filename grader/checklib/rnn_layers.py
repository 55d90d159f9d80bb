"""Generic checks for the numpy layers of Q1/Q2, driven by a table of signatures.

Each backward function is checked two ways: against the reference's gradients
stored in the fixtures (for the same inputs), and against a numeric gradient
of the student's own forward function (so the feedback can say which gradient
is inconsistent, and by how much).
"""
from __future__ import annotations

import itertools

from dataclasses import dataclass

import numpy as np

from grader.checklib.compare import CheckFailure, as_array, compare_case, fail, marginal, scaled_rel_error

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


# ---------------------------------------------------------------- one bug, one deduction
# A composite layer is judged with correct steps where the student's fail their own tests; a backward
# pass whose forward pass is wrong is judged against a correct forward pass (grader/checklib/blocks.py).
DEPENDS = {
    "rnn_forward": ("rnn_step_forward",),
    "lstm_forward": ("lstm_step_forward",),
    "rnn_backward": ("rnn_forward", "rnn_step_forward", "rnn_step_backward"),
    "lstm_backward": ("lstm_forward", "lstm_step_forward", "lstm_step_backward"),
}


def _closure(fn: str):
    cell = "lstm" if fn.startswith("lstm") else "rnn"
    seq_f, step_f, step_b = f"{cell}_forward", f"{cell}_step_forward", f"{cell}_step_backward"

    def close(bad):
        out = set(bad)
        if fn == f"{cell}_backward":
            if seq_f in out:  # the grader's forward pass caches its steps as the grader's: their backward too
                out.add(step_b)
            if out & {step_f, step_b}:  # a step's backward takes its forward's cache
                out |= {step_f, step_b}
        return out
    return close


def _oracle():
    try:
        from grader.oracle import rnn_layers
        return rnn_layers
    except ImportError:  # the student pre-check: judged with the student's own functions only
        return None


def judged(student, fn: str, run):
    """``run(standins)`` for a function of this file, with its dependencies' stand-ins when they fail."""
    from grader.checklib import blocks
    student.require(RNN_FILE)  # a missing or broken file says so alone: no correct block makes it appear
    deps = DEPENDS.get(fn) or ((BACKWARD[fn].forward,) if fn in BACKWARD else ())
    if not deps:
        return run(())
    return blocks.judged(student, run, deps, available=_oracle() is not None, closure=_closure(fn))


def _callbacks(standins):
    from grader.checklib import blocks
    return blocks.callbacks_for(_oracle(), standins)


def _call(student, fn, args, standins, **opts):
    if not standins:
        return student.call(RNN_FILE, fn, *args, **opts)
    from grader.questions import FILES
    student.require(RNN_FILE)
    student.resolve(RNN_FILE, fn)
    return student.helper("captioning", "call_named_with", sorted(standins), FILES[RNN_FILE].module, fn, *args,
                          label=opts.pop("label", fn), callbacks=_callbacks(standins), **opts)


def check_forward(student, fn: str, case):
    judged(student, fn, lambda standins: _check_forward(student, fn, case, standins))


def _check_forward(student, fn, case, standins=()):
    spec = FORWARD[fn]
    args = [case.inputs[a] for a in spec.args]
    res = _call(student, fn, args, standins)
    vals = outputs(res.value, spec.n_out, fn)
    for i, name in enumerate(spec.outs):
        _keeps_precision(fn, name, vals[i], args)
        compare_case(name, vals[i], case.expected[name], FORWARD_TOL, case)


def _keeps_precision(fn: str, name: str, value, args) -> None:
    """Fail if a forward pass's output is a narrower float than its inputs (an h buffer made with
    dtype=np.float32 for float64 inputs).  Its values pass the comparison (float32 rounds to ~6e-8), but a
    numeric gradient through it is rounding noise (~1e-2 with the gradient checks' step of 1e-5, probe round
    L): the student's correct backward pass, and the model's gradient check, would lose the points instead."""
    got = value["__tensor__"] if isinstance(value, dict) and "__tensor__" in value else value
    if not isinstance(got, np.ndarray) or got.dtype.kind != "f":
        return  # not an array: the comparison says what is wrong
    widest = max((np.asarray(a).dtype for a in args if np.asarray(a).dtype.kind == "f"),
                 key=lambda d: d.itemsize, default=None)
    if widest is not None and got.dtype.itemsize < widest.itemsize:
        fail(f"{name} is {got.dtype} while the inputs are {widest}: it keeps about 7 significant digits, and a "
             f"gradient check through {fn} (its backward pass's, the whole model's) then measures rounding noise "
             f"instead of a gradient; make it with the inputs' dtype (np.zeros(shape, dtype=x.dtype), "
             f"np.zeros_like(...)) instead of dtype=np.float32")


def _student_grads(student, fn: str, case, standins=(), args=None, variant: str = ""):
    """The student's backward applied to their forward pass's cache (once per case, stand-ins and
    variant); ``args``: other forward inputs than the case's (``variant`` names them)."""
    spec = BACKWARD[fn]
    fwd = FORWARD[spec.forward]
    args = [case.inputs[a] for a in fwd.args] if args is None else args

    def run():
        f = _call(student, spec.forward, args, standins)
        outputs(f.value, fwd.n_out, spec.forward)
        cache = f.ref[fwd.n_out - 1]
        b = _call(student, fn, [case.inputs[d] for d in spec.douts] + [cache], standins)
        if not spec.tuple_out:
            return {spec.grads[0]: b.value}
        vals = outputs(b.value, len(spec.grads), fn)
        return dict(zip(spec.grads, vals))
    return student.once(("grads", fn, case.name, tuple(sorted(standins)), variant), run)


def _one_grad(fn: str, grads: dict, grad: str):
    """``grads[grad]``; None among computed gradients is a value never assigned, not the starter's placeholder."""
    got = grads[grad]
    if got is None and any(v is not None for v in grads.values()):
        fail(f"{grad} is None while {fn}'s other gradients are computed: {grad} is never assigned "
             f"(or the variable returned is not the one computed)")
    return got


def check_backward(student, fn: str, case, grad: str):
    judged(student, fn, lambda standins: _check_backward(student, fn, case, grad, standins))


def check_gradient(student, fn: str, case, grad: str):
    judged(student, fn, lambda standins: _check_gradient(student, fn, case, grad, standins))


def _forward_is_standin(fn, standins) -> bool:
    return BACKWARD[fn].forward in standins


def _judge_backward(student, fn, case, grad, standins, gradcheck: bool):
    """A backward pass's value check (``gradcheck`` False) or gradient check, its forward pass standing in or
    not (a wrong one: see _against_correct_forward and _sequence_after_wrong_forward)."""
    if _forward_is_standin(fn, standins):
        if fn not in DEPENDS:
            return _against_correct_forward(student, fn, case, grad, gradcheck=gradcheck)
        return _sequence_after_wrong_forward(student, fn, case, grad, standins, gradcheck=gradcheck)
    (_compare_gradient if gradcheck else _compare_backward)(student, fn, case, grad, standins)


def _check_backward(student, fn, case, grad, standins=()):
    return _judge_backward(student, fn, case, grad, standins, gradcheck=False)


def _compare_backward(student, fn, case, grad, standins):
    got = _one_grad(fn, _student_grads(student, fn, case, standins), grad)
    compare_case(grad, got, case.expected[grad], BACKWARD_TOL, case, hint=HINTS.get((fn, grad), ""))


def _check_gradient(student, fn, case, grad, standins=()):
    return _judge_backward(student, fn, case, grad, standins, gradcheck=True)


def _compare_gradient(student, fn, case, grad, standins):
    spec = BACKWARD[fn]
    fwd = FORWARD[spec.forward]
    analytic = as_array(grad, _one_grad(fn, _student_grads(student, fn, case, standins), grad))
    args = [np.asarray(case.inputs[a], dtype=np.float64) if np.asarray(case.inputs[a]).dtype.kind == "f"
            else case.inputs[a] for a in fwd.args]
    wrt = fwd.args.index(spec.wrt[spec.grads.index(grad)])
    douts = {k: case.inputs[d] for d, k in zip(spec.douts, spec.dout_of)}
    # Only this case's inputs (its own tests' cases include hidden ones, which a visible test must never run)
    agrees = standins or (_oracle() is not None and student.once(
        ("agrees", spec.forward, case.name, ""), lambda: _forward_agrees(student, spec.forward, args)))
    if agrees:
        # The forward pass's values are the grader's: either it stands in, or it computes them on this case
        # (to FORWARD_TOL).  So its numeric gradient is computed in the grader, not through the worker with a
        # request per time step and perturbed element.  A forward pass right to ~6e-8 in float32 (an h buffer
        # made with dtype=np.float32) gives a central difference with h = 1e-5 noise of ~1e-2: the student's
        # correct backward pass failed the gradient check for it (probe round L)
        num = student.once(("numgrad-oracle", fn, case.name, grad),
                           lambda: oracle_numeric_grad(spec.forward, args, wrt, douts))
    else:
        num = student.once(("numgrad", fn, case.name, grad),
                           lambda: numeric_grad(student, RNN_FILE, spec.forward, args, wrt, douts,
                                                label=spec.forward))
    if analytic.shape != num.shape:
        fail(f"{grad} has shape {analytic.shape}, expected {num.shape} (the shape of {spec.wrt[spec.grads.index(grad)]})")
    if float(np.max(np.abs(num), initial=0.0)) < 1e-12 and float(np.max(np.abs(analytic), initial=0.0)) < 1e-12:
        from grader.checklib import blocks
        if not blocks.passes_own_tests(student, spec.forward):
            fail(f"{grad}: your backward pass and the numeric gradient of your forward pass are both zero; a "
                 f"gradient check only counts once {spec.forward} computes the right values")
    gradcheck_failure(grad, scaled_rel_error(analytic, num), GRADCHECK_TOL[fn], HINTS.get((fn, grad), ""))


# ---------------------------------------------------------------- a backward pass after a wrong forward pass
# Inputs on which a wrong forward pass may still compute the right values (and so leave the right cache
# for the student's backward pass): no bias; no previous state; the LSTM's i, f, o gates fed the same
# pre-activations (a mix-up of those gates then changes nothing), or its o and g gates (PyTorch's order).
def _tie_gates(Wx, Wh, b, blocks=((1, 0), (2, 0))):
    """Copies of the LSTM weights with gate block ``dst`` set to block ``src`` for each (dst, src) (blocks in
    the course's order i, f, o, g)."""
    out = []
    for w in (Wx, Wh, b):
        w = np.array(w, dtype=np.float64, copy=True)
        H = w.shape[-1] // 4
        for dst, src in blocks:
            w[..., dst * H:(dst + 1) * H] = w[..., src * H:(src + 1) * H]
        out.append(w)
    return out


# sigmoid(a) == tanh(a) == 1/sqrt(2) at a = asinh(1): with every pre-activation there, a forward pass that
# puts sigmoid where tanh belongs (or the reverse), or reads its gates in another order, computes the
# course's values, while the two derivatives still differ (sigmoid' = 0.21, tanh' = 0.5)
SIGMOID_IS_TANH = float(np.arcsinh(1.0))


def _at_crossing(args: dict, value: float = SIGMOID_IS_TANH) -> dict:
    """``args`` with every example equal to the first (x, prev_h, and prev_c for the LSTM) and the bias chosen
    so that every pre-activation is ``value``; the weights (so every gradient) stay informative."""
    x, h = np.asarray(args["x"], np.float64), np.asarray(args["prev_h"], np.float64)
    x, h = np.repeat(x[:1], len(x), axis=0), np.repeat(h[:1], len(h), axis=0)
    b = value - (x[0] @ np.asarray(args["Wx"], np.float64) + h[0] @ np.asarray(args["Wh"], np.float64))
    out = dict(args, x=x, prev_h=h, b=b)
    if "prev_c" in args:
        c = np.asarray(args["prev_c"], np.float64)
        out["prev_c"] = np.repeat(c[:1], len(c), axis=0)
    return out


def _cell_at_zero(args: dict) -> dict:
    """LSTM ``args`` (examples made equal to the first) where next_c = f * prev_c + i * g is 0, so that
    tanh(next_c) = next_c: g's bias is chosen per unit as atanh(-f * prev_c / i), prev_c scaled so that
    |g| <= 0.5.  The i, f and g gates' gradients stay informative (o's is zero: tanh(next_c) = 0)."""
    out = _at_crossing(args, 0.0)
    x, h, c = out["x"][0], out["prev_h"][0], out["prev_c"][0]
    Wx, Wh, b = (np.asarray(args[k], np.float64) for k in ("Wx", "Wh", "b"))
    H = Wh.shape[0]
    a = x @ Wx + h @ Wh + b
    i, f = 1.0 / (1.0 + np.exp(-a[:H])), 1.0 / (1.0 + np.exp(-a[H:2 * H]))
    ratio = f * c / i
    c = c * min(1.0, 0.5 / max(float(np.max(np.abs(ratio))), 1e-12))
    b = b.copy()
    b[3 * H:] = np.arctanh(-f * c / i) - (x @ Wx[:, 3 * H:] + h @ Wh[:, 3 * H:])
    return dict(out, b=b, prev_c=np.repeat(c[None], len(out["prev_c"]), axis=0))


def _variants(fn: str, args: dict) -> list[tuple[str, dict]]:
    zero = np.zeros_like
    crossing = "every pre-activation at asinh(1), where sigmoid and tanh agree"
    if fn == "rnn_step_forward":
        return [("b = 0", dict(args, b=zero(args["b"]))), ("prev_h = 0", dict(args, prev_h=zero(args["prev_h"]))),
                ("b = 0 and prev_h = 0", dict(args, b=zero(args["b"]), prev_h=zero(args["prev_h"]))),
                (crossing, _at_crossing(args)),
                ("every pre-activation 0, where tanh, ReLU and the identity agree", _at_crossing(args, 0.0))]
    if fn == "lstm_step_forward":
        Wx, Wh, b = _tie_gates(args["Wx"], args["Wh"], args["b"])
        tied = dict(args, Wx=Wx, Wh=Wh, b=b)
        # PyTorch's gate order (i, f, g, o) reads the course's o block as g and its g block as o: with those two
        # blocks equal it computes the course's values
        og = dict(zip(("Wx", "Wh", "b"), _tie_gates(args["Wx"], args["Wh"], args["b"], blocks=((3, 2),))))
        same_state = np.array(args["prev_h"], dtype=np.float64, copy=True)  # prev_h read where prev_c belongs
        return [("the i, f, o gates tied", tied), ("the o and g gates tied", dict(args, **og)),
                ("b = 0", dict(args, b=zero(args["b"]))),
                ("the gates tied and b = 0", dict(tied, b=zero(b))),
                ("prev_c = 0", dict(args, prev_c=zero(args["prev_c"]))),
                ("the gates tied and prev_c = 0", dict(tied, prev_c=zero(args["prev_c"]))),
                ("prev_c = prev_h", dict(args, prev_c=same_state)),
                ("the gates tied and prev_c = prev_h", dict(tied, prev_c=same_state)),
                (crossing, _at_crossing(args)),
                ("next_c = 0, where tanh(next_c) = next_c", _cell_at_zero(args))]
    if fn in ("rnn_forward", "lstm_forward"):
        out = [("h0 = 0", dict(args, h0=zero(args["h0"]))), ("b = 0", dict(args, b=zero(args["b"]))),
               ("b = 0 and h0 = 0", dict(args, b=zero(args["b"]), h0=zero(args["h0"])))]
        if fn == "lstm_forward":
            tied = dict(args, **dict(zip(("Wx", "Wh", "b"), _tie_gates(args["Wx"], args["Wh"], args["b"]))))
            og = dict(args, **dict(zip(("Wx", "Wh", "b"),
                                       _tie_gates(args["Wx"], args["Wh"], args["b"], blocks=((3, 2),)))))
            out += [("the i, f, o gates tied", tied), ("the o and g gates tied", og),
                    ("the gates tied and h0 = 0", dict(tied, h0=zero(args["h0"]))),
                    ("the gates tied and b = 0", dict(tied, b=zero(tied["b"])))]
        return out
    return []


def oracle_forward(fn: str, args: list):
    o = _oracle()
    if fn == "rnn_step_forward":
        return o.rnn_step(*args)
    if fn == "lstm_step_forward":
        return o.lstm_step(*args)
    if fn == "word_embedding_forward":
        x, W = args
        return np.asarray(W, np.float64)[np.asarray(x)], (np.asarray(x), np.shape(W))
    if fn == "rnn_forward":
        return o.rnn_seq(*args)
    if fn == "lstm_forward":
        return o.lstm_seq(*args)
    raise KeyError(fn)


def oracle_backward(fn: str, douts: list, cache):
    o = _oracle()
    if fn == "rnn_step_backward":
        return dict(zip(BACKWARD[fn].grads, o.rnn_step_back(*douts, cache)))
    if fn == "lstm_step_backward":
        return dict(zip(BACKWARD[fn].grads, o.lstm_step_back(*douts, cache)))
    if fn == "rnn_backward":
        return dict(zip(BACKWARD[fn].grads, o.rnn_seq_back(*douts, cache)))
    if fn == "lstm_backward":
        return dict(zip(BACKWARD[fn].grads, o.lstm_seq_back(*douts, cache)))
    if fn == "word_embedding_backward":
        x, shape = cache
        dW = np.zeros(shape)
        np.add.at(dW, x, np.asarray(douts[0], np.float64))
        return {"dW": dW}
    raise KeyError(fn)


def oracle_numeric_grad(fn: str, args: list, wrt: int, douts: dict, h=1e-5):
    """The numeric gradient (as ``numeric_grad``) of the grader's own forward pass ``fn``."""
    x = np.asarray(args[wrt], dtype=np.float64)
    grad = np.empty(x.size)
    for i in range(x.size):
        total = 0.0
        for sign in (1, -1):
            xp = x.copy().reshape(-1)
            xp[i] += sign * h
            a = list(args)
            a[wrt] = xp.reshape(x.shape)
            out = oracle_forward(fn, a)
            outs = out[:-1] if isinstance(out, tuple) else (out,)
            total += sign * sum(np.sum(np.asarray(outs[k]) * douts[k]) for k in douts)
        grad[i] = total / (2 * h)
    return grad.reshape(x.shape)


def _against_correct_forward(student, fn: str, case, grad: str, gradcheck: bool):
    """``fn``'s forward pass is wrong: judge ``fn`` with the student's own cache where it is right.

    First on the case's inputs (the cache may hold only inputs), then on inputs where the student's
    forward pass agrees with the grader's; expected gradients and numeric gradients come from the
    grader's forward pass."""
    spec = BACKWARD[fn]
    fwd = FORWARD[spec.forward]
    tried, agreed = [], False
    own = ("", [case.inputs[a] for a in fwd.args])
    for what, arglist in itertools.chain([own], _agreeing_variants(student, spec.forward, case)):
        agreed = agreed or bool(what)
        try:
            got = as_array(grad, _student_grads(student, fn, case, args=arglist, variant=what)[grad])
            _against_oracle(fn, case, grad, got, arglist, gradcheck)
            if what:
                student.note(f"judged on inputs with {what}, where your {spec.forward} computes the right values")
            return
        except CheckFailure as exc:
            tried.append(exc)
    if not agreed:  # only the case's own inputs, where the student's forward pass is wrong: its cache may be too
        from grader.checklib import blocks
        # A cache that holds the forward pass's (wrong) outputs, read back by a right backward pass: those
        # outputs replaced by the right ones (an RNN step's next_h = tanh(...) + 0.1 cached as is)
        if _with_right_outputs(student, fn, case, grad, gradcheck):
            student.note(f"judged with the right {' and '.join(fwd.outs)} in place of the wrong ones your "
                         f"{spec.forward} returns and caches (see {blocks.test_name(student, spec.forward)})")
            return None
        # The course's own test of a backward pass: is it the derivative of the forward pass it comes with?  A
        # correct backward pass after, e.g., next_c = f * prev_c + i * g + 0.1 reads that next_c from its cache
        # on every input, so its values are never the course's; a numeric gradient of the student's forward
        # pass still tells a right formula from a wrong one.
        if not gradcheck and _judged_as_own_derivative(student, fn, case, grad):
            return blocks.JUDGED_ON_ITS_OWN
        raise blocks.Inseparable(str(tried[0]))
    raise tried[0]


def _agreeing_variants(student, forward: str, case):
    """(what, arglist) of each of _variants' inputs on which the student's ``forward`` computes the grader's
    values (asked lazily, once per case and variant)."""
    fwd = FORWARD[forward]
    for what, args in _variants(forward, {a: case.inputs[a] for a in fwd.args}):
        arglist = [args[a] for a in fwd.args]
        if student.once(("agrees", forward, case.name, what), lambda: _forward_agrees(student, forward, arglist)):
            yield what, arglist


def _sequence_after_wrong_forward(student, fn: str, case, grad: str, standins, gradcheck: bool):
    """A sequence's backward pass whose forward pass is wrong (its steps right): judged with the grader's
    forward pass standing in (its cache in the student's own layout where the stand-in can build one, see
    grader/inworker/standins.py); failing that, with the student's own forward pass on inputs where it
    computes the right values (h0 = 0, b = 0, the LSTM's gates tied), as a step's backward pass is.  A
    vectorised forward pass caching whole arrays of its states and gates (probe round L, S07) leaves a cache
    the grader cannot rebuild: a forward pass that ignores h0 is still right at h0 = 0.  A backward pass
    that cannot read the grader's cache, on an input where no variant helps, could not be judged apart
    from the forward pass (blocks.Inseparable), rather than "the fault is here"."""
    from grader.checklib import blocks
    spec = BACKWARD[fn]
    compare = _compare_gradient if gradcheck else _compare_backward
    try:
        return compare(student, fn, case, grad, standins)
    except CheckFailure as exc:
        with_grader_forward = exc
    cell = spec.forward.split("_")[0]
    if any(blocks.known_to_fail(student, f) for f in (f"{cell}_step_forward", f"{cell}_step_backward")):
        raise with_grader_forward
    for what, arglist in _agreeing_variants(student, spec.forward, case):
        got = as_array(grad, _student_grads(student, fn, case, args=arglist, variant=what)[grad])
        _against_oracle(fn, case, grad, got, arglist, gradcheck)  # a wrong backward pass fails here
        student.note(f"judged on inputs with {what}, where your {spec.forward} computes the right values")
        return None
    if not _raises_on(student, fn, case, standins) or _raises_on(student, fn, case, ()):
        raise with_grader_forward
    # It reads only its own forward pass's cache, whose values are wrong on every input tried: judged as the
    # derivative of that forward pass (as a step's backward pass is), or else not apart from it
    if not gradcheck and _judged_as_own_derivative(student, fn, case, grad):
        return blocks.JUDGED_ON_ITS_OWN
    try:
        compare(student, fn, case, grad, ())
    except CheckFailure as own:
        raise blocks.Inseparable(str(own)) from None
    return None


def _raises_on(student, fn: str, case, standins) -> bool:
    """Whether the student's backward pass fails to run (an exception, not a wrong value) on the cache of
    the forward pass with ``standins``."""
    try:
        _student_grads(student, fn, case, standins)
        return False
    except CheckFailure:
        return True


def _with_right_outputs(student, fn: str, case, grad: str, gradcheck: bool) -> bool:
    """Whether the student's ``grad`` is right on the case when the arrays of their forward pass's cache that
    hold its own (wrong) outputs hold the right outputs instead (grader/inworker/standins.py,
    cache_with_outputs).  False when the cache holds none of them."""
    spec = BACKWARD[fn]
    fwd = FORWARD[spec.forward]
    args = [case.inputs[a] for a in fwd.args]
    f64 = [np.asarray(v, np.float64) if np.asarray(v).dtype.kind == "f" else v for v in args]

    def run():
        f = _call(student, spec.forward, args, ())
        outputs(f.value, fwd.n_out, spec.forward)
        right = oracle_forward(spec.forward, f64)
        fixed = student.helper("captioning", "cache_with_outputs", f.ref, fwd.n_out, list(right[:-1]),
                               label=f"{spec.forward} (its cache)", pick=[[1]])
        n = fixed.value[0] if isinstance(fixed.value, list) and fixed.value else 0
        if not isinstance(n, int) or isinstance(n, bool) or n <= 0:
            return None   # the cache holds no output: nothing to put right
        b = _call(student, fn, [case.inputs[d] for d in spec.douts] + [fixed.ref[0]], ())
        if not spec.tuple_out:
            return {spec.grads[0]: b.value}
        return dict(zip(spec.grads, outputs(b.value, len(spec.grads), fn)))

    try:
        grads = student.once(("grads-right-outputs", fn, case.name), run)
        if grads is None:
            return False
        _against_oracle(fn, case, grad, as_array(grad, grads[grad]), args, gradcheck)
        return True
    except CheckFailure:
        return False


def _against_oracle(fn: str, case, grad: str, got, arglist, gradcheck: bool) -> None:
    """Fail unless ``got`` is ``grad`` of the grader's own forward pass on ``arglist``: against its analytic
    gradient (BACKWARD_TOL), or with ``gradcheck`` its numeric one (GRADCHECK_TOL)."""
    spec = BACKWARD[fn]
    fwd = FORWARD[spec.forward]
    f64 = [np.asarray(v, np.float64) if np.asarray(v).dtype.kind == "f" else v for v in arglist]
    hint = HINTS.get((fn, grad), "")
    if gradcheck:
        douts = {k: case.inputs[d] for d, k in zip(spec.douts, spec.dout_of)}
        num = oracle_numeric_grad(spec.forward, f64, fwd.args.index(spec.wrt[spec.grads.index(grad)]), douts)
        if got.shape != num.shape:
            fail(f"{grad} has shape {got.shape}, expected {num.shape}")
        gradcheck_failure(grad, scaled_rel_error(got, num), GRADCHECK_TOL[fn], hint)
    else:
        want = oracle_backward(fn, [case.inputs[d] for d in spec.douts], oracle_forward(spec.forward, f64)[-1])[grad]
        compare_case(grad, got, want, BACKWARD_TOL, case, hint=hint)


def _judged_as_own_derivative(student, fn: str, case, grad: str) -> bool:
    """Whether the student's ``grad`` is the derivative of their own forward pass (noted so): how a backward
    pass's values are judged when its forward pass computes the course's values on no input tried."""
    from grader.checklib import blocks
    spec = BACKWARD[fn]
    if not _derivative_of_own_forward(student, fn, case, grad):
        return False
    student.note(f"judged as the derivative of your own {spec.forward}, which a numeric gradient confirms: on no "
                 f"input tried does your {spec.forward} compute the course's values (see "
                 f"{blocks.test_name(student, spec.forward)}), so {grad} could not be compared with them")
    return True


def _derivative_of_own_forward(student, fn: str, case, grad: str) -> bool:
    """Whether the student's ``grad`` matches the numeric gradient of their own forward pass on the case."""
    try:
        _check_gradient(student, fn, case, grad)
        return True
    except CheckFailure:
        return False


def _forward_agrees(student, fn: str, arglist) -> bool:
    from grader.checklib.compare import rel_error
    try:
        res = student.call(RNN_FILE, fn, *arglist)
        vals = outputs(res.value, FORWARD[fn].n_out, fn)
        ref = oracle_forward(fn, [np.asarray(v, np.float64) if np.asarray(v).dtype.kind == "f" else v
                                  for v in arglist])
        return all(rel_error(as_array("out", vals[i]), ref[i]) <= FORWARD_TOL for i in range(len(FORWARD[fn].outs)))
    except CheckFailure:
        return False


# ---------------------------------------------------------------- each function's own tests
def _register():
    from grader.checklib import blocks
    for fn in FORWARD:
        blocks.own_test(fn)(lambda student, case, _fn=fn: check_forward(student, _fn, case))
    for fn, spec in BACKWARD.items():
        blocks.own_test(fn, parts=spec.grads)(lambda student, case, g, _fn=fn: check_backward(student, _fn, case, g))
        blocks.own_test(fn, parts=spec.grads, test=fn + "_gradcheck")(
            lambda student, case, g, _fn=fn: check_gradient(student, _fn, case, g))


_register()
