"""The grader's own forward pass of the captioning model (numpy, float64).

Used to recompute a trained model's loss from its parameters, so an overfit
check does not rest on a loss value reported by the student's code.
Gradescope-only: it is the forward-pass solution, so the student pre-check
leaves it out (grader/captioning_checks.py then asks the student's own loss).
"""
from __future__ import annotations

import numpy as np


def _sigmoid(x):
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def _step(p: dict, x, h, c, cell_type: str):
    """One recurrent step: x (N, W), h and c (N, H) -> the next (h, c) (c unchanged for the RNN)."""
    a = x @ p["Wx"] + h @ p["Wh"] + p["b"]
    if cell_type == "rnn":
        return np.tanh(a), c
    H = h.shape[1]
    i, f, o, g = (_sigmoid(a[:, :H]), _sigmoid(a[:, H:2 * H]), _sigmoid(a[:, 2 * H:3 * H]), np.tanh(a[:, 3 * H:]))
    c = f * c + i * g
    return o * np.tanh(c), c


def captioning_loss(params: dict, features, captions, cell_type: str, null: int = 0) -> float:
    """Softmax loss summed over time, averaged over the N captions (the course's definition).

    features: (N, D); captions: (N, T+1) int, <NULL> positions masked out."""
    p = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    cin, cout = captions[:, :-1], captions[:, 1:]
    mask = cout != null
    h = features @ p["W_proj"] + p["b_proj"]
    c = np.zeros_like(h)
    x = p["W_embed"][cin]
    N, T = cin.shape
    loss = 0.0
    for t in range(T):
        h, c = _step(p, x[:, t], h, c, cell_type)
        s = h @ p["W_vocab"] + p["b_vocab"]
        s = s - s.max(axis=1, keepdims=True)
        logp = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
        loss -= np.sum(logp[np.arange(N), cout[:, t]] * mask[:, t])
    return float(loss / N)


# Misreadings of sample()'s loop that a student's captions can be matched against, to name the mistake
# in a failing test's feedback (never to decide it): name -> (keyword arguments of _greedy, feedback).
SAMPLE_MISREADINGS = {
    "no_b_proj": ({"b_proj": False}, "the initial hidden state is projected without b_proj: h0 = features @ "
                  "W_proj + b_proj, as in loss()"),
    "start_every_step": ({"feed_sampled": False}, "<START> is the input word at every step: from the second "
                         "step on, feed the embedding of the word sampled at the previous step"),
    "hidden_not_carried": ({"carry_h": False}, "every step starts from h0 again: feed each step's new hidden "
                           "state into the next step"),
    "cell_not_carried": ({"carry_c": False}, "the cell state restarts at zero at every step: carry next_c "
                         "from one lstm_step_forward to the next (starting at c0 = 0)"),
    "cell_starts_at_h0": ({"c0_is_h0": True}, "the cell state starts at h0: c0 is zeros (only the hidden "
                          "state starts from the image features)"),
}


def _greedy(p, features, cell_type, start, max_length, b_proj=True, feed_sampled=True, carry_h=True,
            carry_c=True, c0_is_h0=False):
    """Greedy captions (N, max_length) of the model, with one step of the loop optionally misread."""
    h0 = features @ p["W_proj"] + (p["b_proj"] if b_proj else 0.0)
    h, c = h0, (h0.copy() if c0_is_h0 else np.zeros_like(h0))
    words = np.full(features.shape[0], start, dtype=np.int64)
    out = np.zeros((features.shape[0], max_length), dtype=np.int64)
    for t in range(max_length):
        h, c = _step(p, p["W_embed"][words], h, c, cell_type)
        if not carry_c:
            c = np.zeros_like(c)
        out[:, t] = np.argmax(h @ p["W_vocab"] + p["b_vocab"], axis=1)
        if feed_sampled:
            words = out[:, t]
        if not carry_h:
            h = h0
    return out


def sample_misreadings(params: dict, features, cell_type: str, start: int, max_length: int) -> dict:
    """name -> (captions (N, max_length) int64 that the misreading samples, feedback); the LSTM-only ones only
    for cell_type 'lstm'."""
    p = {k: np.asarray(v, dtype=np.float64) for k, v in params.items()}
    feats = np.asarray(features, dtype=np.float64)
    return {name: (_greedy(p, feats, cell_type, start, max_length, **kw), text)
            for name, (kw, text) in SAMPLE_MISREADINGS.items()
            if cell_type == "lstm" or name not in ("cell_not_carried", "cell_starts_at_h0")}
