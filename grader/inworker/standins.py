"""Stand-ins for a student's wrong building blocks, while another function is judged (runs in the worker).

One bug, one deduction (grader/checklib/blocks.py): when the function under
test calls a graded function that failed its own tests, that function is
replaced, for this call only, by a stand-in with the same signature that asks
the grader for the result over the call's channel (grader/inworker/channel.py).
No correct code runs here: a stand-in only converts its arguments to plain
arrays and the grader's answers back, and wraps the grader's gradients in an
autograd Function where the course's code backpropagates through it.
"""
from __future__ import annotations

import contextlib
import importlib
import sys

import numpy as np

from grader.inworker import channel


@contextlib.contextmanager
def installed(module: str, standins: dict):
    """Replace, in every staged module that refers to it (``from x import *`` copies the name), each
    function ``name`` of ``module`` by ``standins[name]``; restore them afterwards."""
    mod = importlib.import_module(module)
    saved = []
    for name, fn in standins.items():
        original = getattr(mod, name, None)
        for other in [m for n, m in list(sys.modules.items())
                      if m is not None and (n == "deeplearning" or n.startswith("deeplearning."))]:
            d = getattr(other, "__dict__", None)
            if d is None:
                continue
            if other is mod or (original is not None and d.get(name) is original):
                saved.append((d, name, d.get(name, _MISSING)))
                d[name] = fn
    try:
        yield
    finally:
        for d, name, old in reversed(saved):
            if old is _MISSING:
                d.pop(name, None)
            else:
                d[name] = old


_MISSING = object()


# ---------------------------------------------------------------- Q4: style-transfer losses (torch)
def _torch():
    import torch
    return torch


def _np(t):
    return t.detach().cpu().numpy().astype(np.float64)


def _make_loss_function():
    torch = _torch()

    class Loss(torch.autograd.Function):
        """A scalar whose value and gradients the grader computed: grads[i] belongs to inputs[i]."""

        @staticmethod
        def forward(ctx, value, grads, *inputs):
            ctx.grads = grads
            return torch.tensor(float(value), dtype=inputs[0].dtype if inputs else torch.float32)

        @staticmethod
        def backward(ctx, grad_out):
            gs = [None if g is None else torch.from_numpy(np.asarray(g, dtype=np.float32)) * grad_out
                  for g in ctx.grads]
            return (None, None, *gs)

    class Gram(torch.autograd.Function):
        @staticmethod
        def forward(ctx, features, normalize):
            ctx.save_for_backward(features)
            ctx.normalize = normalize
            g = channel.call("gram", _np(features), bool(normalize))
            return torch.from_numpy(np.asarray(g, dtype=np.float32)).to(features.dtype)

        @staticmethod
        def backward(ctx, grad_out):
            f, = ctx.saved_tensors
            d = channel.call("gram_backward", _np(f), _np(grad_out), ctx.normalize)
            return torch.from_numpy(np.asarray(d, dtype=np.float32)).to(f.dtype), None

    return Loss, Gram


_FUNCS = []


def _fns():
    if not _FUNCS:
        _FUNCS.extend(_make_loss_function())
    return _FUNCS


def gram_matrix(features, normalize=True):
    return _fns()[1].apply(features, bool(normalize))


def content_loss(content_weight, content_current, content_original):
    value, grad = channel.call("content_loss", float(content_weight), _np(content_current), _np(content_original))
    return _fns()[0].apply(value, [grad], content_current)


def style_loss(feats, style_layers, style_targets, style_weights):
    used = [feats[int(i)] for i in style_layers]
    value, grads = channel.call("style_loss", [_np(f) for f in used], [_np(t) for t in style_targets],
                                [float(w) for w in style_weights])
    return _fns()[0].apply(value, list(grads), *used)


def tv_loss(img, tv_weight):
    value, grad = channel.call("tv_loss", _np(img), float(tv_weight))
    return _fns()[0].apply(value, [grad], img)


STYLE = {"gram_matrix": gram_matrix, "content_loss": content_loss, "style_loss": style_loss, "tv_loss": tv_loss}


def for_style(names) -> dict:
    return {n: STYLE[n] for n in names}
