"""Q4 (style transfer) helpers that run *inside* the worker, beside the student's code.

The four losses are called on float32 tensors built from the fixtures' feature
maps; the style-transfer run is the course's provided loop with the student's
losses.  Everything returned is treated like student output: the grader
compares it with fixtures or re-scores the image itself
(grader/checks/test_q4_style.py).
"""
from __future__ import annotations

import importlib

import numpy as np
import torch

from grader.inworker import standins as S
from grader.inworker import tensors as T


def content_loss(module, name, content_weight, current, original):
    """content_loss(w, current features (non-leaf, requires grad), original features)."""
    return T.fn(module, name)(float(content_weight), T.tensor(current, True, leaf=False), T.tensor(original))


def gram_matrix(module, name, features, normalize):
    """gram_matrix(features) (normalize None: left at its default) or gram_matrix(features, normalize=...)."""
    f = T.tensor(features, True, leaf=False)
    if normalize is None:
        return T.fn(module, name)(f)
    return T.fn(module, name)(f, normalize=bool(normalize))


def style_loss(module, name, feats, style_layers, style_targets, style_weights, num_layers, standins=()):
    """style_loss(feats, style_layers, style_targets, style_weights).

    ``feats`` maps layer index (as a string) -> feature map; the list handed to
    the student has ``num_layers`` entries, the unused ones being 1x1x1x1 zero
    placeholders (only the style layers are stored in the fixtures).  ``standins``
    names the student's functions replaced for this call (``gram_matrix`` when
    the student's is wrong: grader/checklib/blocks.py)."""
    full = [torch.zeros(1, 1, 1, 1) for _ in range(int(num_layers))]
    for k, v in feats.items():
        full[int(k)] = T.tensor(v, True, leaf=False)
    targets = [T.tensor(t) for t in style_targets]
    with S.installed(module, S.for_style(standins)):
        return T.fn(module, name)(full, [int(i) for i in style_layers], targets, [float(w) for w in style_weights])


def tv_loss(module, name, img, tv_weight):
    """tv_loss(img, w) on a leaf image that requires grad (as in the style-transfer loop)."""
    return T.fn(module, name)(T.tensor(img, True), float(tv_weight))


# ---------------------------------------------------------------- Q4 style-transfer run
def _extract_features(x, cnn):
    """The provided extract_features: every child module's output, in order."""
    features = []
    current = x
    for module in cnn._modules.values():
        current = module(current)
        features.append(current)
    return features


def _loss_problem(what, value):
    if not isinstance(value, torch.Tensor):
        extra = ": not implemented yet" if value is None else " (a torch Tensor was expected)"
        return f"{what} returned {T.kind(value)}{extra}"
    if value.numel() != 1:
        return f"{what} returned a Tensor of shape {tuple(value.shape)}, not a scalar"
    return None


def style_transfer_run(module, names, content_img, style_img, seed, p, standins=()):
    """The provided style-transfer loop (deeplearning.style_transfer.style_transfer of the
    template, unchanged but for the checks on what the losses return), with the
    student's content_loss / gram_matrix / style_loss / tv_loss.

    Returns the final image and the per-iteration losses the loop saw, or a
    ``problem`` string when a loss cannot drive the optimization.  ``standins``:
    the losses replaced by the grader's for this run (the student's are wrong)."""
    with S.installed(module, S.for_style(standins)):
        return _style_transfer_run(importlib.import_module(module), names, content_img, style_img, seed, p,
                                   set(standins))


class Adam:
    """``torch.optim.Adam([img], lr)`` with its defaults, for one tensor on the CPU: the same operations in
    the same order as torch's single-tensor path (the one it takes for a CPU tensor), so the same bits.

    Written out because constructing a torch optimizer imports ``torch._dynamo`` (1.5 CPU-s in every
    worker child that grades Q4; the course's loop is the grader's code here, not the student's).
    tests/inworker/test_style_adam.py compares it with torch.optim.Adam bit for bit."""

    betas, eps = (0.9, 0.999), 1e-8

    def __init__(self, param: torch.Tensor, lr: float):
        self.param, self.lr, self.step_count = param, float(lr), 0.0
        self.exp_avg = torch.zeros_like(param, memory_format=torch.preserve_format)
        self.exp_avg_sq = torch.zeros_like(param, memory_format=torch.preserve_format)

    def zero_grad(self) -> None:
        self.param.grad = None  # torch.optim's default (set_to_none=True)

    @torch.no_grad()
    def step(self) -> None:
        grad = self.param.grad
        if grad is None:
            return
        beta1, beta2 = self.betas
        self.step_count += 1.0  # torch's float32 step counter, read back as a float: exact at these counts
        self.exp_avg.lerp_(grad, 1 - beta1)
        self.exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        bias_correction1 = 1 - beta1 ** self.step_count
        bias_correction2 = 1 - beta2 ** self.step_count
        step_size = self.lr / bias_correction1
        denom = (self.exp_avg_sq.sqrt() / bias_correction2 ** 0.5).add_(self.eps)
        self.param.addcdiv_(self.exp_avg, denom, value=-step_size)


def _style_transfer_run(mod, names, content_img, style_img, seed, p, replaced):
    content_loss_fn, gram_fn, style_loss_fn, tv_loss_fn = (
        S.STYLE[k] if k in replaced else getattr(mod, names[k])
        for k in ("content_loss", "gram_matrix", "style_loss", "tv_loss"))
    cnn = T.model(seed).features
    content_img = T.tensor(content_img)
    style_img = T.tensor(style_img)
    content_layer, content_weight = int(p["content_layer"]), float(p["content_weight"])
    style_layers = [int(i) for i in p["style_layers"]]
    style_weights = [float(w) for w in p["style_weights"]]
    tv_weight = float(p["tv_weight"])
    num_iterations = int(p["num_iterations"])
    initial_lr, decayed_lr, decay_lr_at = 3.0, 0.1, 180

    with torch.no_grad():
        feats = _extract_features(content_img, cnn)
        content_target = feats[content_layer].clone()
        feats = _extract_features(style_img, cnn)
        style_targets = [gram_fn(feats[idx].clone()) for idx in style_layers]
    for t in style_targets:
        if not isinstance(t, torch.Tensor):
            return {"problem": f"gram_matrix returned {T.kind(t)}" + (": not implemented yet" if t is None else "")}

    img = content_img.detach().clone()
    img.requires_grad_()
    optimizer = Adam(img, lr=initial_lr)
    losses = []
    for t in range(num_iterations):
        if t < 190:
            img.data.clamp_(-1.5, 1.5)
        optimizer.zero_grad()
        feats = _extract_features(img, cnn)
        c_loss = content_loss_fn(content_weight, feats[content_layer], content_target)
        s_loss = style_loss_fn(feats, style_layers, style_targets, style_weights)
        t_loss = tv_loss_fn(img, tv_weight)
        for what, v in (("content_loss", c_loss), ("style_loss", s_loss), ("tv_loss", t_loss)):
            problem = _loss_problem(what, v)
            if problem:
                return {"problem": problem}
        loss = c_loss + s_loss + t_loss
        if not loss.requires_grad:
            return {"problem": "the total loss does not depend on the image through autograd (requires_grad "
                               "is False): compute the losses with torch operations on the tensors you are "
                               "given, without numpy, .item(), .detach() or torch.tensor(...) in between"}
        loss.reshape(()).backward()
        losses.append(float(loss.item()))
        if t == decay_lr_at:
            optimizer = Adam(img, lr=decayed_lr)
        optimizer.step()
    return {"img": img.detach().clone(), "losses": np.asarray(losses, dtype=np.float64), "problem": None}
