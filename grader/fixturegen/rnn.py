"""Fixture cases for Q1 (RNN) and Q2 (LSTM), computed by the reference.

Visible cases are the notebook's own set-ups (same shapes, linspace values and
seeds); hidden cases use other shapes, seeds and edge cases: N=1, T=1, D != H,
repeated word indices, NULL-padded captions, float32 inputs.

Expected values are computed in extended precision (``np.longdouble``: the
reference runs on the same inputs cast to it) and rounded to float64, so each is
accurate to float64 rounding, not to the float64 reference's own error (which
reaches 1e-7 of an entry where a saturated tanh's derivative 1 - h**2 cancels:
CaptioningRNN's notebook set-up, grads['W_embed']).  ``build`` also runs the
reference in float64 and asserts, for every expected value, that

- the float64 reference (one correct float64 implementation) passes the check's
  own measure and tolerance (``TOLERANCES``), and
- the stored value's error bound is at most 1/100 of that tolerance: rounding to
  float64 (2**-53 of the scale) plus the float64 reference's measured error
  scaled by the ratio of the two unit roundoffs (the same algorithm in extended
  precision: 2**-64 / 2**-53 = 1/2048).

``ACCURACY`` records, per (function, value), the largest float64-reference error
and the stored values' error bound, under the check's measure
(``grader.checklib.compare.scaled_rel_error``); ``python -m
grader.fixturegen.rnn`` prints them.  On a machine whose long double is float64
itself the extended run gains nothing and the assertion says so.
"""
from __future__ import annotations

import numpy as np

from grader.checklib import captioning as _cap
from grader.checklib import rnn_layers as _layers
from grader.checklib.compare import scaled_rel_error
from grader.engine.cases import Case

PRECISE = np.longdouble
# The measure and tolerance each expected value is compared at (grader.checklib).
TOLERANCES = {"forward": _layers.FORWARD_TOL, "backward": _layers.BACKWARD_TOL, "loss": _cap.LOSS_TOL,
              "grads": _cap.GRADS_TOL}
ACCURACY: dict[tuple[str, str], dict] = {}

NOTEBOOK_VOCAB = {"<NULL>": 0, "cat": 2, "dog": 3}
SAMPLE_VOCAB = {w: i for i, w in enumerate(["<NULL>", "<START>", "<END>", "<UNK>", "a", "cat", "dog", "on",
                                             "the", "mat", "sits", "runs", "big", "red"])}
PARAM_NAMES = ("W_embed", "W_proj", "b_proj", "Wx", "Wh", "b", "W_vocab", "b_vocab")


def _lin(lo, hi, *shape):
    return np.linspace(lo, hi, num=int(np.prod(shape))).reshape(*shape)


def _f64(d):
    return {k: (v.astype(np.float64) if isinstance(v, np.ndarray) and v.dtype == np.float32 else v)
            for k, v in d.items()}


def _cast(dtype):
    def X(d):
        """``d`` (a dict of inputs, or one array) with float arrays cast to ``dtype`` for the computation."""
        if isinstance(d, dict):
            return {k: X(v) for k, v in d.items()}
        if isinstance(d, np.ndarray) and d.dtype.kind == "f":
            return d.astype(dtype)
        return d
    return X


def _f64_out(v):
    """An expected value as stored: float64 (a longdouble result rounded once)."""
    if isinstance(v, np.ndarray) and v.dtype.kind == "f":
        return v.astype(np.float64)
    if isinstance(v, np.floating):
        return np.float64(v)
    return v


def _kind(fn: str, key: str) -> str:
    if fn.startswith("captioning"):
        return "loss" if key == "loss" else "grads"
    return "backward" if fn.endswith("backward") else "forward"


def build(ref) -> list[Case]:
    """``ref`` is the reference package (``deeplearning``) imported by the generator: the cases with
    expected values computed in extended precision, after checking their accuracy (module doc)."""
    precise = _build(ref, PRECISE)
    plain = {(c.function, c.name): c for c in _build(ref, np.float64)}
    ulp64 = 2.0 ** -53
    ratio = float(np.finfo(PRECISE).eps / np.finfo(np.float64).eps)
    ACCURACY.clear()
    for c in precise:
        base = plain[(c.function, c.name)]
        for key, want in c.expected.items():
            if not (isinstance(want, (np.ndarray, float, np.floating)) and np.asarray(want).dtype.kind == "f"):
                continue
            kind = _kind(c.function, key)
            tol = TOLERANCES[kind]
            err64 = scaled_rel_error(base.expected[key], want)
            bound = ulp64 + err64 * ratio
            rec = ACCURACY.setdefault((c.function, key), {"tolerance": tol, "float64_reference": 0.0, "stored": 0.0,
                                                            "worst_case": ""})
            if err64 >= rec["float64_reference"]:
                rec["float64_reference"], rec["worst_case"] = err64, c.name
            rec["stored"] = max(rec["stored"], bound)
            assert err64 <= tol, (f"{c.function}/{c.name} {key}: the float64 reference measures {err64:.1e}, "
                                  f"above the check's tolerance {tol:.0e}")
            assert bound <= tol / 100, (f"{c.function}/{c.name} {key}: the expected value is accurate to {bound:.1e} "
                                        f"only, not 100x under the tolerance {tol:.0e} (long double = {PRECISE})")
    return precise


def _build(ref, dtype) -> list[Case]:
    L = ref.rnn_layers
    X = _cast(dtype)
    out: list[Case] = []

    def add(fn, name, inputs, expected, seed=None, params=None, desc=""):
        vis = "hidden" if name.startswith("hidden") else "visible"
        out.append(Case(fn, name, vis, inputs, {k: _f64_out(v) for k, v in expected.items()}, params or {}, seed,
                        desc))

    # ---------------------------------------------------------- rnn_step_forward
    N, D, H = 3, 10, 4
    inp = dict(x=_lin(-0.4, 0.7, N, D), prev_h=_lin(-0.2, 0.5, N, H), Wx=_lin(-0.1, 0.9, D, H),
               Wh=_lin(-0.3, 0.7, H, H), b=np.linspace(-0.2, 0.4, num=H))
    add("rnn_step_forward", "notebook", inp, {"next_h": L.rnn_step_forward(**X(inp))[0]}, desc="notebook linspace set-up")
    for name, seed, (N, D, H), dt in [("hidden-n1-d7-h3", 11, (1, 7, 3), np.float64),
                                      ("hidden-float32", 12, (4, 5, 6), np.float32)]:
        r = np.random.RandomState(seed)
        inp = dict(x=r.randn(N, D).astype(dt), prev_h=r.randn(N, H).astype(dt), Wx=r.randn(D, H).astype(dt),
                   Wh=r.randn(H, H).astype(dt), b=r.randn(H).astype(dt))
        add("rnn_step_forward", name, inp, {"next_h": L.rnn_step_forward(**X(_f64(inp)))[0]}, seed)

    # ---------------------------------------------------------- rnn_step_backward
    for name, seed, (N, D, H) in [("notebook", 231, (4, 5, 6)), ("hidden-n1", 13, (1, 3, 4)),
                                  ("hidden-d8-h2", 14, (3, 8, 2))]:
        np.random.seed(seed)
        inp = dict(x=np.random.randn(N, D), prev_h=np.random.randn(N, H), Wx=np.random.randn(D, H),
                   Wh=np.random.randn(H, H), b=np.random.randn(H))
        nh, cache = L.rnn_step_forward(**X(inp))
        inp["dnext_h"] = np.random.randn(*nh.shape)
        g = L.rnn_step_backward(X(inp["dnext_h"]), cache)
        add("rnn_step_backward", name, inp, dict(zip(("dx", "dprev_h", "dWx", "dWh", "db"), g)), seed)

    # ---------------------------------------------------------- rnn_forward
    N, T, D, H = 2, 3, 4, 5
    inp = dict(x=_lin(-0.1, 0.3, N, T, D), h0=_lin(-0.3, 0.1, N, H), Wx=_lin(-0.2, 0.4, D, H),
               Wh=_lin(-0.4, 0.1, H, H), b=np.linspace(-0.7, 0.1, num=H))
    add("rnn_forward", "notebook", inp, {"h": L.rnn_forward(**X(inp))[0]})
    for name, seed, (N, T, D, H), dt in [("hidden-t1", 15, (3, 1, 4, 5), np.float64),
                                         ("hidden-n1-t7", 16, (1, 7, 2, 3), np.float64),
                                         ("hidden-float32", 17, (2, 4, 3, 6), np.float32)]:
        r = np.random.RandomState(seed)
        inp = dict(x=r.randn(N, T, D).astype(dt), h0=r.randn(N, H).astype(dt), Wx=r.randn(D, H).astype(dt) * 0.5,
                   Wh=r.randn(H, H).astype(dt) * 0.5, b=r.randn(H).astype(dt))
        add("rnn_forward", name, inp, {"h": L.rnn_forward(**X(_f64(inp)))[0]}, seed)

    # ---------------------------------------------------------- rnn_backward
    for name, seed, (N, D, T, H) in [("notebook", 231, (2, 3, 10, 5)), ("hidden-t1", 18, (3, 4, 1, 2)),
                                     ("hidden-n1-d6-h2", 19, (1, 6, 4, 2))]:
        np.random.seed(seed)
        inp = dict(x=np.random.randn(N, T, D), h0=np.random.randn(N, H), Wx=np.random.randn(D, H),
                   Wh=np.random.randn(H, H), b=np.random.randn(H))
        h, cache = L.rnn_forward(**X(inp))
        inp["dh"] = np.random.randn(*h.shape)
        g = L.rnn_backward(X(inp["dh"]), cache)
        add("rnn_backward", name, inp, dict(zip(("dx", "dh0", "dWx", "dWh", "db"), g)), seed)

    # ---------------------------------------------------------- word embedding
    V, D = 5, 3
    inp = dict(x=np.asarray([[0, 3, 1, 2], [2, 1, 0, 3]]), W=_lin(0, 1, V, D))
    add("word_embedding_forward", "notebook", inp, {"out": L.word_embedding_forward(**X(inp))[0]})
    for name, x, V, D, seed in [("hidden-repeated", np.asarray([[1, 1, 1], [4, 1, 4]]), 6, 2, 20),
                                ("hidden-n1-t1", np.asarray([[3]]), 4, 5, 21)]:
        r = np.random.RandomState(seed)
        inp = dict(x=x, W=r.randn(V, D))
        add("word_embedding_forward", name, inp, {"out": L.word_embedding_forward(**X(inp))[0]}, seed)

    for name, seed, (N, T, V, D), kind in [("notebook", 231, (50, 3, 5, 6), "randint"),
                                           ("hidden-repeated", 22, (4, 5, 7, 3), "same"),
                                           ("hidden-n1-t1", 23, (1, 1, 4, 2), "randint")]:
        np.random.seed(seed)
        x = np.random.randint(V, size=(N, T)) if kind == "randint" else np.full((N, T), 2)
        W = np.random.randn(V, D)
        out_, cache = L.word_embedding_forward(x, X(W))
        inp = dict(x=x, W=W, dout=np.random.randn(*out_.shape))
        add("word_embedding_backward", name, inp, {"dW": L.word_embedding_backward(X(inp["dout"]), cache)}, seed)

    # ---------------------------------------------------------- lstm_step_forward
    N, D, H = 3, 4, 5
    inp = dict(x=_lin(-0.4, 1.2, N, D), prev_h=_lin(-0.3, 0.7, N, H), prev_c=_lin(-0.4, 0.9, N, H),
               Wx=_lin(-2.1, 1.3, D, 4 * H), Wh=_lin(-0.7, 2.2, H, 4 * H), b=np.linspace(0.3, 0.7, num=4 * H))
    nh, nc, _ = L.lstm_step_forward(**X(inp))
    add("lstm_step_forward", "notebook", inp, {"next_h": nh, "next_c": nc})
    for name, seed, (N, D, H), dt in [("hidden-n1-d6-h2", 24, (1, 6, 2), np.float64),
                                      ("hidden-float32", 25, (4, 3, 5), np.float32)]:
        r = np.random.RandomState(seed)
        inp = dict(x=r.randn(N, D).astype(dt), prev_h=r.randn(N, H).astype(dt), prev_c=r.randn(N, H).astype(dt),
                   Wx=r.randn(D, 4 * H).astype(dt), Wh=r.randn(H, 4 * H).astype(dt), b=r.randn(4 * H).astype(dt))
        nh, nc, _ = L.lstm_step_forward(**X(_f64(inp)))
        add("lstm_step_forward", name, inp, {"next_h": nh, "next_c": nc}, seed)

    # ---------------------------------------------------------- lstm_step_backward
    for name, seed, (N, D, H) in [("notebook", 231, (4, 5, 6)), ("hidden-n1", 26, (1, 2, 3)),
                                  ("hidden-d7-h2", 27, (3, 7, 2))]:
        np.random.seed(seed)
        inp = dict(x=np.random.randn(N, D), prev_h=np.random.randn(N, H), prev_c=np.random.randn(N, H),
                   Wx=np.random.randn(D, 4 * H), Wh=np.random.randn(H, 4 * H), b=np.random.randn(4 * H))
        nh, nc, cache = L.lstm_step_forward(**X(inp))
        inp["dnext_h"] = np.random.randn(*nh.shape)
        inp["dnext_c"] = np.random.randn(*nc.shape)
        g = L.lstm_step_backward(X(inp["dnext_h"]), X(inp["dnext_c"]), cache)
        add("lstm_step_backward", name, inp, dict(zip(("dx", "dprev_h", "dprev_c", "dWx", "dWh", "db"), g)), seed)

    # ---------------------------------------------------------- lstm_forward
    N, D, H, T = 2, 5, 4, 3
    inp = dict(x=_lin(-0.4, 0.6, N, T, D), h0=_lin(-0.4, 0.8, N, H), Wx=_lin(-0.2, 0.9, D, 4 * H),
               Wh=_lin(-0.3, 0.6, H, 4 * H), b=np.linspace(0.2, 0.7, num=4 * H))
    add("lstm_forward", "notebook", inp, {"h": L.lstm_forward(**X(inp))[0]})
    for name, seed, (N, T, D, H), dt in [("hidden-t1", 28, (3, 1, 2, 4), np.float64),
                                         ("hidden-n1-t6", 29, (1, 6, 5, 3), np.float64),
                                         ("hidden-float32", 30, (2, 4, 3, 5), np.float32)]:
        r = np.random.RandomState(seed)
        inp = dict(x=r.randn(N, T, D).astype(dt), h0=r.randn(N, H).astype(dt), Wx=r.randn(D, 4 * H).astype(dt),
                   Wh=r.randn(H, 4 * H).astype(dt), b=r.randn(4 * H).astype(dt))
        add("lstm_forward", name, inp, {"h": L.lstm_forward(**X(_f64(inp)))[0]}, seed)

    # ---------------------------------------------------------- lstm_backward
    for name, seed, (N, D, T, H) in [("notebook", 231, (2, 3, 10, 6)), ("hidden-t1", 31, (2, 3, 1, 4)),
                                     ("hidden-n1-d5-h2", 32, (1, 5, 5, 2))]:
        np.random.seed(seed)
        inp = dict(x=np.random.randn(N, T, D), h0=np.random.randn(N, H), Wx=np.random.randn(D, 4 * H),
                   Wh=np.random.randn(H, 4 * H), b=np.random.randn(4 * H))
        h, cache = L.lstm_forward(**X(inp))
        inp["dh"] = np.random.randn(*h.shape)
        g = L.lstm_backward(X(inp["dh"]), cache)
        add("lstm_backward", name, inp, dict(zip(("dx", "dh0", "dWx", "dWh", "db"), g)), seed)

    out += _captioning_cases(ref, dtype)
    return out


def _model(ref, word_to_idx, D, W, H, cell_type, params, dtype=np.float64):
    m = ref.classifiers.rnn.CaptioningRNN(word_to_idx, input_dim=D, wordvec_dim=W, hidden_dim=H,
                                          cell_type=cell_type, dtype=dtype)
    for k in m.params:
        m.params[k] = np.asarray(params[k]).astype(dtype)
    return m


def _seeded_params(seed, word_to_idx, D, W, H, cell_type, scale):
    r = np.random.RandomState(seed)
    V, G = len(word_to_idx), (4 if cell_type == "lstm" else 1)
    shapes = {"W_embed": (V, W), "W_proj": (D, H), "b_proj": (H,), "Wx": (W, G * H), "Wh": (H, G * H),
              "b": (G * H,), "W_vocab": (H, V), "b_vocab": (V,)}
    return {k: r.randn(*s) * scale for k, s in shapes.items()}


def _padded_captions(r, N, T, V, start=1, end=2, null=0):
    caps = np.full((N, T), null, dtype=np.int32)
    for i in range(N):
        n_words = r.randint(1, T - 1)
        caps[i, 0] = start
        caps[i, 1:1 + n_words] = r.randint(3, V, size=n_words)
        caps[i, 1 + n_words] = end
    return caps


def _captioning_cases(ref, dtype=np.float64) -> list[Case]:
    out = []

    def loss_case(fn, name, cell, vocab, D, W, H, features, captions, params, seed=None, desc=""):
        m = _model(ref, vocab, D, W, H, cell, params, dtype)
        loss, grads = m.loss(features.astype(dtype), captions)
        inputs = {"features": features, "captions": captions}
        inputs.update({f"param_{k}": v for k, v in params.items()})
        expected = {"loss": np.float64(loss)}
        expected.update({f"grad_{k}": _f64_out(np.asarray(v)) for k, v in grads.items()})
        vis = "hidden" if name.startswith("hidden") else "visible"
        out.append(Case(fn, name, vis, inputs, expected,
                        {"cell_type": cell, "word_to_idx": vocab, "input_dim": D, "wordvec_dim": W, "hidden_dim": H},
                        seed, desc))

    # the notebook's loss set-up: every parameter linspace(-1.4, 1.3)
    N, D, W, H, T = 10, 20, 30, 40, 13
    V = len(NOTEBOOK_VOCAB)
    captions = (np.arange(N * T) % V).reshape(N, T)
    for cell, feats in (("rnn", _lin(-1.5, 0.3, N, D)), ("lstm", _lin(-0.5, 1.7, N, D))):
        shapes = {k: v.shape for k, v in _seeded_params(0, NOTEBOOK_VOCAB, D, W, H, cell, 1.0).items()}
        params = {k: _lin(-1.4, 1.3, *s) for k, s in shapes.items()}
        loss_case("captioning_loss", f"notebook-{cell}", cell, NOTEBOOK_VOCAB, D, W, H, feats, captions, params,
                  desc="notebook linspace set-up")
    for cell, seed in (("rnn", 40), ("lstm", 41)):
        r = np.random.RandomState(seed)
        D, W, H, N, T = 6, 5, 7, 4, 9
        feats = r.randn(N, D)
        caps = _padded_captions(r, N, T, len(SAMPLE_VOCAB))
        loss_case("captioning_loss", f"hidden-{cell}-nullpad", cell, SAMPLE_VOCAB, D, W, H, feats, caps,
                  _seeded_params(seed, SAMPLE_VOCAB, D, W, H, cell, 0.5), seed, "NULL-padded captions")
    # gradient-check set-ups: the notebook's sizes (2 captions, 3 steps, D=4, W=5, H=6), seeded parameters
    for cell, seed, name in (("rnn", 231, "notebook-rnn"), ("lstm", 231, "notebook-lstm"),
                             ("rnn", 42, "hidden-rnn-nullpad"), ("lstm", 43, "hidden-lstm-nullpad")):
        r = np.random.RandomState(seed)
        if name.startswith("notebook"):
            vocab, N, T, D, W, H = NOTEBOOK_VOCAB, 2, 3, 4, 5, 6
            caps = r.randint(len(vocab), size=(N, T))
        else:
            vocab, N, T, D, W, H = SAMPLE_VOCAB, 3, 5, 3, 4, 5
            caps = _padded_captions(r, N, T, len(vocab))
        feats = r.randn(N, D)
        loss_case("captioning_gradcheck", name, cell, vocab, D, W, H, feats, caps,
                  _seeded_params(seed + 1, vocab, D, W, H, cell, 0.5), seed)

    # greedy sampling with fixed parameters
    for cell, base_seed, name, N, max_len in (("rnn", 50, "visible-rnn", 3, 8), ("lstm", 60, "visible-lstm", 3, 8),
                                              ("rnn", 70, "hidden-rnn-n1-long", 1, 15),
                                              ("lstm", 80, "hidden-lstm-long", 4, 12)):
        D, W, H = 6, 5, 8
        # first seed (deterministic search) whose greedy captions are varied and, for N > 1,
        # contain an <END>, so that decoding past <END> is exercised
        for seed in range(base_seed, base_seed + 200):
            r = np.random.RandomState(seed)
            params = _seeded_params(seed, SAMPLE_VOCAB, D, W, H, cell, 2.0 if cell == "lstm" else 1.0)
            feats = r.randn(N, D)
            m = _model(ref, SAMPLE_VOCAB, D, W, H, cell, params)
            caps = np.asarray(m.sample(feats, max_length=max_len))
            varied = min(len(np.unique(row)) for row in caps) >= 4
            if varied and (N == 1 or (caps == SAMPLE_VOCAB["<END>"]).any()):
                break
        else:
            raise AssertionError(f"sample case {name}: no seed gives varied captions")
        inputs = {"features": feats}
        inputs.update({f"param_{k}": v for k, v in params.items()})
        vis = "hidden" if name.startswith("hidden") else "visible"
        out.append(Case("captioning_sample", name, vis, inputs, {"captions": caps},
                        {"cell_type": cell, "word_to_idx": SAMPLE_VOCAB, "input_dim": D, "wordvec_dim": W,
                         "hidden_dim": H, "max_length": max_len}, seed))
    return out


def accuracy_table() -> str:
    """The measured accuracy of the expected values next to each tolerance (after ``build``)."""
    rows = [f"{'function':26s} {'value':12s} {'tolerance':>9s} {'float64 ref':>11s} {'stored':>9s}  worst case"]
    for (fn, key), r in sorted(ACCURACY.items()):
        rows.append(f"{fn:26s} {key:12s} {r['tolerance']:9.0e} {r['float64_reference']:11.1e} {r['stored']:9.1e}  "
                    f"{r['worst_case']}")
    return "\n".join(rows)


if __name__ == "__main__":
    from grader.fixturegen import REFERENCE, _import_reference
    build(_import_reference(REFERENCE))
    print(accuracy_table())
