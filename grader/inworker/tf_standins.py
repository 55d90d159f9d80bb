"""TensorFlow stand-ins for a student's wrong style-transfer losses (runs in the TensorFlow worker).

One bug, one deduction (grader/checklib/blocks.py), as grader/inworker/standins.py does for
PyTorch: while ``style_loss`` or the style-transfer run is judged again, each of the student's
failing losses is replaced by a stand-in with the course's TensorFlow signature.  No correct code
runs here: a stand-in hands the values of its inputs to the grader over the call's channel
(``channel.call("gram", ...)``, ``("gram_backward", ...)``, ``("content_loss", ...)``,
``("style_loss", ...)``, ``("tv_loss", ...)``), answered by the grader's own losses in the grader's
process (numpy, NCHW), and turns the answers into a TensorFlow value whose gradient is the one the
grader sent (``tf.custom_gradient`` around ``tf.numpy_function``).  That works the same in both
eras: eagerly under a GradientTape (TF2) and inside a graph run by a session (TF1): the requests are
made when the value is computed, i.e. during ``sess.run``, inside the call the grader is waiting on.

Layouts: TensorFlow feature maps and images are NHWC, (1, H, W, C); the course's TensorFlow Gram
matrix is (C, C) for one image.  The grader's building blocks take NCHW arrays and (N, C, C) Gram
matrices, so everything is transposed on the way out and back.
"""
from __future__ import annotations

import numpy as np

from grader.inworker import channel


def _tf():
    import tensorflow as tf
    return tf


def _nchw(a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float32)
    return np.ascontiguousarray(a.transpose(0, 3, 1, 2)) if a.ndim == 4 else a


def _nhwc(a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float32)
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1)) if a.ndim == 4 else a


def _as_float(x):
    tf = _tf()
    x = tf.convert_to_tensor(x)
    return x if x.dtype == tf.float32 else tf.cast(x, tf.float32)


def _valued(inputs, compute):
    """A scalar float32 whose value and gradients (one per input) ``compute(*numpy inputs)`` returns, as
    (value, [gradient of the same shape as each input])."""
    tf = _tf()
    inputs = [_as_float(x) for x in inputs]

    def run(*arrays):
        value, grads = compute(*arrays)
        return (np.float32(value), *[np.asarray(g, np.float32).reshape(np.shape(a)) for g, a in zip(grads, arrays)])

    @tf.custom_gradient
    def loss(*xs):
        outs = tf.numpy_function(run, list(xs), [tf.float32] * (1 + len(xs)), stateful=True)
        value = tf.reshape(outs[0], [])
        grads = [tf.reshape(g, tf.shape(x)) for g, x in zip(outs[1:], xs)]

        def grad(dy):
            return [dy * g for g in grads]
        return value, grad

    return loss(*inputs)


# ---------------------------------------------------------------- the course's TensorFlow losses
def gram_matrix(features, normalize=True):
    """(1, H, W, C) -> (C, C), asked of the grader (forward and backward)."""
    tf = _tf()
    normalize = bool(normalize)
    x = _as_float(features)

    def forward(f):
        g = channel.call("gram", _nchw(f), normalize)
        return np.asarray(g, np.float32).reshape(g.shape[-2:])

    def backward(f, dg):
        d = channel.call("gram_backward", _nchw(f), np.asarray(dg, np.float32)[None], normalize)
        return _nhwc(d).reshape(np.shape(f))

    @tf.custom_gradient
    def gram(f):
        g = tf.numpy_function(forward, [f], tf.float32, stateful=True)
        c = f.shape[-1]
        g = tf.reshape(g, [c, c] if c is not None else tf.stack([tf.shape(f)[-1], tf.shape(f)[-1]]))

        def grad(dy):
            d = tf.numpy_function(backward, [f, dy], tf.float32, stateful=True)
            return tf.reshape(d, tf.shape(f))
        return g, grad

    return gram(x)


def content_loss(content_weight, content_current, content_original):
    w = float(content_weight)
    tf = _tf()
    original = tf.stop_gradient(_as_float(content_original))

    def compute(cur, orig):
        value, grad = channel.call("content_loss", w, _nchw(cur), _nchw(orig))
        return value, [_nhwc(grad), np.zeros_like(orig)]

    return _valued([content_current, original], compute)


def style_loss(feats, style_layers, style_targets, style_weights):
    tf = _tf()
    layers = [int(i) for i in style_layers]
    weights = [float(w) for w in style_weights]
    used = [feats[i] for i in layers]
    targets = [tf.stop_gradient(_as_float(t)) for t in style_targets]
    n = len(used)

    def compute(*arrays):
        fs, ts = arrays[:n], arrays[n:]
        value, grads = channel.call("style_loss", [_nchw(f) for f in fs],
                                    [np.asarray(t, np.float32).reshape((1,) + np.shape(t)[-2:]) for t in ts], weights)
        return value, [_nhwc(g) for g in grads] + [np.zeros_like(t) for t in ts]

    return _valued(used + targets, compute)


def tv_loss(img, tv_weight):
    w = float(tv_weight)

    def compute(x):
        value, grad = channel.call("tv_loss", _nchw(x), w)
        return value, [_nhwc(grad)]

    return _valued([img], compute)


STYLE = {"gram_matrix": gram_matrix, "content_loss": content_loss, "style_loss": style_loss, "tv_loss": tv_loss}


def for_style(names) -> dict:
    return {n: STYLE[n] for n in names}


__all__ = ["STYLE", "for_style", "gram_matrix", "content_loss", "style_loss", "tv_loss"]
