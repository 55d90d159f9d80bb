"""
Feed-forward layers used by the captioning model. This module is provided in
full; you do not need to change it.
"""
import numpy as np


def affine_forward(x, w, b):
    """
    Forward pass of a fully-connected (affine) layer.

    Every example x[i] may have any shape (d_1, ..., d_k); it is flattened to a
    vector of length D = d_1 * ... * d_k before the affine map is applied.

    Inputs:
    - x: Array of inputs, of shape (N, d_1, ..., d_k)
    - w: Weights, of shape (D, M)
    - b: Biases, of shape (M,)

    Returns a tuple of:
    - out: Outputs x.reshape(N, D).dot(w) + b, of shape (N, M)
    - cache: (x, w, b), kept for the backward pass
    """
    flat = x.reshape(x.shape[0], -1)
    out = flat.dot(w) + b
    cache = (x, w, b)
    return out, cache


def affine_backward(dout, cache):
    """
    Backward pass of a fully-connected (affine) layer.

    Inputs:
    - dout: Upstream gradient, of shape (N, M)
    - cache: The (x, w, b) tuple returned by affine_forward

    Returns a tuple of:
    - dx: Gradient with respect to x, of shape (N, d_1, ..., d_k)
    - dw: Gradient with respect to w, of shape (D, M)
    - db: Gradient with respect to b, of shape (M,)
    """
    x, w, b = cache
    flat = x.reshape(x.shape[0], -1)
    dx = dout.dot(w.T).reshape(x.shape)
    dw = flat.T.dot(dout)
    db = dout.sum(axis=0)
    return dx, dw, db
