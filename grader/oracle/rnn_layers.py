"""The grader's own RNN/LSTM/captioning layers (numpy float64; grader process only).

Correct building blocks for one bug, one deduction (grader/checklib/blocks.py):
while the student's ``rnn_forward`` is judged and their ``rnn_step_forward`` is
wrong, the worker's stand-in for ``rnn_step_forward`` asks the grader, which
answers from here.  A forward pass's cache stays in the grader; the worker
gets an opaque ``Handle`` (valid until the check ends) and hands it back to the
matching backward pass.  A sequence's cache is a list of its steps' handles,
the layout the course's code suggests, so a student's ``rnn_backward`` that
walks its cache step by step works on it unchanged.

Shapes (the course's): x (N, D) or (N, T, D); h (N, H) or (N, T, H); Wx (D, H)
or (D, 4H) for the LSTM, Wh (H, H) or (H, 4H), b (H,) or (4H,); gate order i,
f, o, g.  Every ``cb_*`` takes the ``Sandbox`` first (the channel's calling
convention); a ValueError refuses a request with malformed inputs.
"""
from __future__ import annotations

import numpy as np


def _f(a, ndim, what):
    a = np.asarray(a)
    if a.dtype.kind not in "fiu" or a.ndim != ndim:
        raise ValueError(f"{what} must be a {ndim}-d numeric array, got shape {a.shape} ({a.dtype})")
    # no copy of what is float64 already (a sequence passes the same weights to every step): nothing here
    # writes to its inputs, and a cache holding them is the grader's own
    return a if a.dtype == np.float64 else a.astype(np.float64)


def _like(out, *inputs):
    """Return in the inputs' floating dtype (float32 models stay float32)."""
    dt = np.result_type(*[np.asarray(i).dtype for i in inputs if np.asarray(i).dtype.kind == "f"] or [np.float64])
    return np.asarray(out, dtype=dt)


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


# ---------------------------------------------------------------- pure functions (also used by the checks)
def rnn_step(x, prev_h, Wx, Wh, b):
    """(next_h, cache) with cache = (x, prev_h, Wx, Wh, next_h)."""
    x, prev_h, Wx, Wh, b = _f(x, 2, "x"), _f(prev_h, 2, "prev_h"), _f(Wx, 2, "Wx"), _f(Wh, 2, "Wh"), _f(b, 1, "b")
    if not (x.shape[1] == Wx.shape[0] and Wx.shape[1] == Wh.shape[0] == Wh.shape[1] == b.shape[0]
            and prev_h.shape == (x.shape[0], Wh.shape[0])):
        raise ValueError(f"shapes x {x.shape}, prev_h {prev_h.shape}, Wx {Wx.shape}, Wh {Wh.shape}, b {b.shape} "
                         "do not fit together")
    next_h = np.tanh(x @ Wx + prev_h @ Wh + b)
    return next_h, (x, prev_h, Wx, Wh, next_h)


def rnn_step_back(dnext_h, cache):
    x, prev_h, Wx, Wh, next_h = cache
    dnext_h = _f(dnext_h, 2, "dnext_h")
    if dnext_h.shape != next_h.shape:
        raise ValueError(f"dnext_h of shape {dnext_h.shape} for next_h of shape {next_h.shape}")
    da = dnext_h * (1.0 - next_h ** 2)
    return da @ Wx.T, da @ Wh.T, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def lstm_step(x, prev_h, prev_c, Wx, Wh, b):
    """(next_h, next_c, cache)."""
    x, prev_h, prev_c = _f(x, 2, "x"), _f(prev_h, 2, "prev_h"), _f(prev_c, 2, "prev_c")
    Wx, Wh, b = _f(Wx, 2, "Wx"), _f(Wh, 2, "Wh"), _f(b, 1, "b")
    H = prev_h.shape[1]
    if not (Wx.shape == (x.shape[1], 4 * H) and Wh.shape == (H, 4 * H) and b.shape == (4 * H,)
            and prev_c.shape == prev_h.shape and prev_h.shape[0] == x.shape[0]):
        raise ValueError(f"shapes x {x.shape}, prev_h {prev_h.shape}, prev_c {prev_c.shape}, Wx {Wx.shape}, "
                         f"Wh {Wh.shape}, b {b.shape} do not fit together")
    a = x @ Wx + prev_h @ Wh + b
    ifo = _sigmoid(a[:, :3 * H])
    i, f, o, g = ifo[:, :H], ifo[:, H:2 * H], ifo[:, 2 * H:], np.tanh(a[:, 3 * H:])
    next_c = f * prev_c + i * g
    tc = np.tanh(next_c)
    return o * tc, next_c, (x, prev_h, prev_c, Wx, Wh, i, f, o, g, tc)


def lstm_step_back(dnext_h, dnext_c, cache):
    x, prev_h, prev_c, Wx, Wh, i, f, o, g, tc = cache
    dnext_h, dnext_c = _f(dnext_h, 2, "dnext_h"), _f(dnext_c, 2, "dnext_c")
    if dnext_h.shape != prev_h.shape or dnext_c.shape != prev_h.shape:
        raise ValueError(f"gradients of shapes {dnext_h.shape}, {dnext_c.shape} for a state of shape {prev_h.shape}")
    dc = dnext_c + dnext_h * o * (1.0 - tc ** 2)
    da = np.concatenate([dc * g * i * (1 - i), dc * prev_c * f * (1 - f), dnext_h * tc * o * (1 - o),
                         dc * i * (1 - g ** 2)], axis=1)
    return da @ Wx.T, da @ Wh.T, dc * f, x.T @ da, prev_h.T @ da, da.sum(axis=0)


def rnn_seq(x, h0, Wx, Wh, b):
    """(h (N, T, H), step caches)."""
    x, h0 = _seq_args(x, h0)
    h, prev, caches = np.zeros((x.shape[0], x.shape[1], h0.shape[1])), h0, []
    for t in range(x.shape[1]):
        prev, cache = rnn_step(x[:, t], prev, Wx, Wh, b)
        h[:, t] = prev
        caches.append(cache)
    return h, caches


def lstm_seq(x, h0, Wx, Wh, b):
    """(h (N, T, H), step caches), the cell state starting at zero."""
    x, h0 = _seq_args(x, h0)
    h, prev, c, caches = np.zeros((x.shape[0], x.shape[1], h0.shape[1])), h0, np.zeros_like(h0), []
    for t in range(x.shape[1]):
        prev, c, cache = lstm_step(x[:, t], prev, c, Wx, Wh, b)
        h[:, t] = prev
        caches.append(cache)
    return h, caches


# ---------------------------------------------------------------- channel requests
def _rows(*states):
    """A step's x, prev_h (and prev_c) as (N, .) arrays, as the course's numpy code takes them: one of them, or
    all, may be a single (.,) vector that broadcasting pairs with every row (a sample() feeding the <START>
    word's (D,) embedding, probe round N).  Returns (the arrays, whether every one was a vector: the outputs are
    then vectors too)."""
    arrs = [np.asarray(a) for a in states]
    n = max((a.shape[0] for a in arrs if a.ndim == 2), default=1)
    rows = [np.broadcast_to(a, (n, a.shape[0])) if a.ndim == 1 else a for a in arrs]
    return rows, all(a.ndim == 1 for a in arrs)


def cb_rnn_step_forward(sb, x, prev_h, Wx, Wh, b):
    (x2, h2), vector = _rows(x, prev_h)
    h, cache = rnn_step(x2, h2, Wx, Wh, b)
    return _like(h[0] if vector else h, x, Wx), sb.keep(("rnn_step", cache))


def _held(sb, handle, kind, release=False):
    got = sb.held(handle, release)
    if not (isinstance(got, tuple) and got and got[0] == kind):
        raise ValueError(f"this cache does not come from {kind.replace('_', ' ')} forward")
    return got[1]


def cb_rnn_step_backward(sb, dnext_h, handle):
    cache = _held(sb, handle, "rnn_step", release=True)
    return tuple(_like(g, dnext_h) for g in rnn_step_back(dnext_h, cache))


def _seq_args(x, h0):
    x, h0 = _f(x, 3, "x"), _f(h0, 2, "h0")
    if h0.shape[0] != x.shape[0]:
        raise ValueError(f"x of shape {x.shape} and h0 of shape {h0.shape}")
    return x, h0


def cb_rnn_forward(sb, x, h0, Wx, Wh, b):
    x, h0 = _seq_args(x, h0)
    N, T, _ = x.shape
    h, prev, caches = np.zeros((N, T, h0.shape[1])), h0, []
    for t in range(T):
        prev, cache = rnn_step(x[:, t], prev, Wx, Wh, b)
        h[:, t] = prev
        caches.append(sb.keep(("rnn_step", cache)))
    return _like(h, x, Wx), caches


def _step_handles(sb, cache, kind):
    if not isinstance(cache, list) or not cache:
        raise ValueError("the cache must be the list of per-step caches the forward pass returned")
    return [_held(sb, c, kind, release=True) for c in cache]


def rnn_seq_back(dh, steps):
    """(dx (N, T, D), dh0 (N, H), dWx, dWh, db) of the sequence whose step caches are ``steps``."""
    dh = _f(dh, 3, "dh")
    if dh.shape[1] != len(steps):
        raise ValueError(f"dh has {dh.shape[1]} timesteps, the cache {len(steps)}")
    x0, _, Wx, Wh, _ = steps[0]
    N, T, H = dh.shape
    dx, dWx, dWh, db = np.zeros((N, T, x0.shape[1])), np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(H)
    carry = np.zeros((N, H))
    for t in reversed(range(T)):
        dxt, carry, dwx, dwh, dbt = rnn_step_back(dh[:, t] + carry, steps[t])
        dx[:, t], dWx, dWh, db = dxt, dWx + dwx, dWh + dwh, db + dbt
    return dx, carry, dWx, dWh, db


def cb_rnn_backward(sb, dh, cache):
    return tuple(_like(g, dh) for g in rnn_seq_back(dh, _step_handles(sb, cache, "rnn_step")))


def cb_lstm_step_forward(sb, x, prev_h, prev_c, Wx, Wh, b):
    (x2, h2, c2), vector = _rows(x, prev_h, prev_c)
    h, c, cache = lstm_step(x2, h2, c2, Wx, Wh, b)
    if vector:
        h, c = h[0], c[0]
    return _like(h, x, Wx), _like(c, x, Wx), sb.keep(("lstm_step", cache))


def cb_lstm_step_backward(sb, dnext_h, dnext_c, handle):
    cache = _held(sb, handle, "lstm_step", release=True)
    return tuple(_like(g, dnext_h) for g in lstm_step_back(dnext_h, dnext_c, cache))


def cb_lstm_forward(sb, x, h0, Wx, Wh, b):
    """(h, the steps' cache handles, the cell states (N, T, H): the stand-in rebuilds each step's inputs)."""
    x, h0 = _seq_args(x, h0)
    N, T, _ = x.shape
    h, prev, c, caches = np.zeros((N, T, h0.shape[1])), h0, np.zeros_like(h0), []
    cs = np.zeros_like(h)
    for t in range(T):
        prev, c, cache = lstm_step(x[:, t], prev, c, Wx, Wh, b)
        h[:, t], cs[:, t] = prev, c
        caches.append(sb.keep(("lstm_step", cache)))
    return _like(h, x, Wx), caches, _like(cs, x, Wx)


def lstm_seq_back(dh, steps):
    """(dx (N, T, D), dh0 (N, H), dWx, dWh, db) of the sequence whose step caches are ``steps``."""
    dh = _f(dh, 3, "dh")
    if dh.shape[1] != len(steps):
        raise ValueError(f"dh has {dh.shape[1]} timesteps, the cache {len(steps)}")
    x0, _, _, Wx, Wh = steps[0][:5]
    N, T, H = dh.shape
    dx, dWx, dWh, db = np.zeros((N, T, x0.shape[1])), np.zeros_like(Wx), np.zeros_like(Wh), np.zeros(4 * H)
    ch, cc = np.zeros((N, H)), np.zeros((N, H))
    for t in reversed(range(T)):
        dxt, ch, cc, dwx, dwh, dbt = lstm_step_back(dh[:, t] + ch, cc, steps[t])
        dx[:, t], dWx, dWh, db = dxt, dWx + dwx, dWh + dwh, db + dbt
    return dx, ch, dWx, dWh, db


def cb_lstm_backward(sb, dh, cache):
    return tuple(_like(g, dh) for g in lstm_seq_back(dh, _step_handles(sb, cache, "lstm_step")))


def cb_word_embedding_forward(sb, x, W):
    x, W = np.asarray(x), _f(W, 2, "W")
    # (N, T) as the docstring says, or what W[x] also takes in the course's code: one index (self._start), or
    # one per caption
    if x.dtype.kind not in "iu" or x.ndim > 2 or (x.size and (x.min() < 0 or x.max() >= W.shape[0])):
        raise ValueError(f"x must be (N, T) word indices below {W.shape[0]}")
    return _like(W[x], W), sb.keep(("word_embedding", (x, W.shape)))


def cb_word_embedding_backward(sb, dout, handle):
    x, shape = _held(sb, handle, "word_embedding", release=True)
    dout = _f(dout, 3, "dout")
    if dout.shape[:2] != x.shape or dout.shape[2] != shape[1]:
        raise ValueError(f"dout of shape {dout.shape} for words {x.shape} and W {shape}")
    dW = np.zeros(shape)
    np.add.at(dW, x, dout)
    return _like(dW, dout)


def cb_temporal_affine_forward(sb, x, w, b):
    x, w, b = _f(x, 3, "x"), _f(w, 2, "w"), _f(b, 1, "b")
    if x.shape[2] != w.shape[0] or w.shape[1] != b.shape[0]:
        raise ValueError(f"x {x.shape}, w {w.shape}, b {b.shape} do not fit together")
    return _like(x @ w + b, x, w), sb.keep(("temporal_affine", (x, w)))


def cb_temporal_affine_backward(sb, dout, handle):
    x, w = _held(sb, handle, "temporal_affine", release=True)
    dout = _f(dout, 3, "dout")
    if dout.shape != x.shape[:2] + (w.shape[1],):
        raise ValueError(f"dout of shape {dout.shape} for an output of shape {x.shape[:2] + (w.shape[1],)}")
    return (_like(dout @ w.T, dout), _like(np.einsum("ntd,ntm->dm", x, dout), dout),
            _like(dout.sum(axis=(0, 1)), dout))


def cb_temporal_softmax_loss(sb, x, y, mask, verbose=False):
    x, y, mask = _f(x, 3, "x"), np.asarray(y), np.asarray(mask)
    N, T, V = x.shape
    if y.shape != (N, T) or mask.shape != (N, T) or y.dtype.kind not in "iu":
        raise ValueError(f"scores {x.shape}, targets {y.shape} and mask {mask.shape} do not fit together")
    s = x - x.max(axis=2, keepdims=True)
    p = np.exp(s)
    p /= p.sum(axis=2, keepdims=True)
    m = mask.astype(np.float64)
    loss = -np.sum(m * np.log(np.take_along_axis(p, y[:, :, None], axis=2)[:, :, 0])) / N
    dx = p.copy()
    np.put_along_axis(dx, y[:, :, None], np.take_along_axis(dx, y[:, :, None], axis=2) - 1.0, axis=2)
    return float(loss), _like(dx * m[:, :, None] / N, x)


CALLBACKS = {name[3:]: fn for name, fn in dict(globals()).items() if name.startswith("cb_")}
# function standing in -> the requests its stand-in makes (a forward pass's stand-in for a sequence also
# answers for its steps)
PROVIDES = {n: (n,) for n in CALLBACKS}
