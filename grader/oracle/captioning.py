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
    H = h.shape[1]
    loss = 0.0
    for t in range(T):
        a = x[:, t] @ p["Wx"] + h @ p["Wh"] + p["b"]
        if cell_type == "rnn":
            h = np.tanh(a)
        else:
            i, f, o, g = (_sigmoid(a[:, :H]), _sigmoid(a[:, H:2 * H]), _sigmoid(a[:, 2 * H:3 * H]),
                          np.tanh(a[:, 3 * H:]))
            c = f * c + i * g
            h = o * np.tanh(c)
        s = h @ p["W_vocab"] + p["b_vocab"]
        s = s - s.max(axis=1, keepdims=True)
        logp = s - np.log(np.exp(s).sum(axis=1, keepdims=True))
        loss -= np.sum(logp[np.arange(N), cout[:, t]] * mask[:, t])
    return float(loss / N)
