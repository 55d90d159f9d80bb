"""The grader's own style-transfer losses, with their gradients (numpy float64; grader process only).

They stand in for a student's wrong loss function while another check runs
(one bug, one deduction): the worker's stand-in (grader/inworker/standins.py)
sends the tensors' values here and gets values and gradients back, so no
correct loss code is ever in the student's process.  Each function takes the
``Sandbox`` first (the channel's calling convention) and validates its inputs:
a ValueError is reported to the worker as a refused request.

Shapes: features (N, C, H, W); Gram matrices (N, C, C); images (N, 3, H, W).
Definitions are the course's (StyleTransfer notebook): content_weight * sum of
squared differences; G = F F^T (/ C H W when normalized); style loss
sum_l w_l * sum((G_l - A_l)^2); TV loss tv_weight * (sum of squared vertical
and horizontal neighbour differences).
"""
from __future__ import annotations

import numpy as np


def _arr(x, ndim=None, what="input"):
    a = np.asarray(x, dtype=np.float64)
    if a.dtype.kind not in "f" or (ndim is not None and a.ndim != ndim) or not np.all(np.isfinite(a)):
        raise ValueError(f"{what} must be a finite {ndim}-d array, got shape {np.shape(x)}")
    return a


def _out(x):
    return np.asarray(x, dtype=np.float32)


def gram(features, normalize=True) -> np.ndarray:
    f = _arr(features, 4, "features")
    n, c, h, w = f.shape
    flat = f.reshape(n, c, h * w)
    g = flat @ flat.transpose(0, 2, 1)
    return g / float(c * h * w) if normalize else g


def gram_backward(features, dgram, normalize=True) -> np.ndarray:
    """d loss / d features for d loss / d G = dgram (N, C, C)."""
    f = _arr(features, 4, "features")
    d = _arr(dgram, 3, "the Gram matrix's gradient")
    n, c, h, w = f.shape
    if d.shape != (n, c, c):
        raise ValueError(f"gradient of shape {d.shape} for a Gram matrix of shape {(n, c, c)}")
    df = (d + d.transpose(0, 2, 1)) @ f.reshape(n, c, h * w)
    return (df / float(c * h * w) if normalize else df).reshape(f.shape)


# ---------------------------------------------------------------- channel requests: (sandbox, *args)
def cb_gram(sb, features, normalize):
    return _out(gram(features, bool(normalize)))


def cb_gram_backward(sb, features, dgram, normalize):
    return _out(gram_backward(features, dgram, bool(normalize)))


def cb_content_loss(sb, weight, current, original):
    """(loss, d loss / d current)."""
    cur, orig = _arr(current, None, "current features"), _arr(original, None, "original features")
    if cur.shape != orig.shape:
        raise ValueError(f"features of shapes {cur.shape} and {orig.shape}")
    w = float(weight)
    return float(w * np.sum((cur - orig) ** 2)), _out(2.0 * w * (cur - orig))


def cb_style_loss(sb, feats, targets, weights):
    """(loss, [d loss / d feats[i]]) for the style layers' features, their target Gram matrices and weights."""
    if not (isinstance(feats, list) and isinstance(targets, list) and isinstance(weights, list)
            and len(feats) == len(targets) == len(weights) and len(feats) <= 64):
        raise ValueError("style_loss takes one feature map, target and weight per style layer")
    loss, grads = 0.0, []
    for f, a, w in zip(feats, targets, weights):
        g = gram(f)
        t = _arr(a, 3, "a style target")
        if t.shape != g.shape:
            raise ValueError(f"a style target of shape {t.shape} for a Gram matrix of shape {g.shape}")
        diff = g - t
        loss += float(w) * float(np.sum(diff ** 2))
        grads.append(_out(gram_backward(f, 2.0 * float(w) * diff)))
    return loss, grads


def cb_tv_loss(sb, img, weight):
    """(loss, d loss / d img)."""
    x = _arr(img, 4, "the image")
    w = float(weight)
    dv, dh = x[:, :, 1:, :] - x[:, :, :-1, :], x[:, :, :, 1:] - x[:, :, :, :-1]
    g = np.zeros_like(x)
    g[:, :, 1:, :] += 2 * w * dv
    g[:, :, :-1, :] -= 2 * w * dv
    g[:, :, :, 1:] += 2 * w * dh
    g[:, :, :, :-1] -= 2 * w * dh
    return float(w * (np.sum(dv ** 2) + np.sum(dh ** 2))), _out(g)


CALLBACKS = {"gram": cb_gram, "gram_backward": cb_gram_backward, "content_loss": cb_content_loss,
             "style_loss": cb_style_loss, "tv_loss": cb_tv_loss}
PROVIDES = {"gram_matrix": ("gram", "gram_backward"), "content_loss": ("content_loss",),
            "style_loss": ("style_loss",), "tv_loss": ("tv_loss",)}
