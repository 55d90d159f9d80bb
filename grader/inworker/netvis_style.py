"""Grader code that runs *inside* the worker for Q3 (network visualization) and
Q4 (style transfer), beside the student's code.

The grader cannot send tensors or models to the worker: it sends numpy arrays
and plain values, and these helpers build the tensors and the seeded
SqueezeNet, call the student's function, and send back what it returned
(tensors travel back as plain arrays).  Imported by the zygote before it drops
privileges; nothing here reads a file at call time.

Everything a helper returns is treated like student output: the grader checks
values against fixtures, or recomputes them itself (fooling images are
re-classified and style-transfer results re-scored in the grader process).
"""
from __future__ import annotations

import copy
import importlib

import numpy as np
import torch

from grader.course import models as torch_models

_MODELS: dict = {}


def _model(seed: int):
    """A fresh copy of the seeded SqueezeNet for each call: whatever a student's
    function does to the model (train mode, requires_grad, edited weights) does
    not leak into the next check."""
    if seed not in _MODELS:
        _MODELS[seed] = torch_models.squeezenet(int(seed))
    return copy.deepcopy(_MODELS[seed])


def _fn(module: str, name: str):
    return getattr(importlib.import_module(module), name)


def _tensor(a, requires_grad=False, leaf=True):
    """float32 (or int64) CPU tensor owning a copy of ``a``; ``leaf=False`` gives a
    non-leaf view of a grad-requiring leaf, as a network's feature maps are."""
    t = torch.from_numpy(np.array(a, copy=True))
    if requires_grad:
        t.requires_grad_()
        if not leaf:
            t = t * 1.0
    return t


def _same(t, keep) -> bool:
    """Whether tensor ``t`` still holds exactly ``keep`` (same shape, dtype and values)."""
    try:
        return bool(t.shape == keep.shape and t.dtype == keep.dtype and torch.equal(t.detach(), keep))
    except Exception:
        return False


def _kind(v) -> str:
    if v is None:
        return "None"
    if isinstance(v, torch.Tensor):
        return "Tensor"
    return type(v).__name__


# ---------------------------------------------------------------- Q3
def saliency(module, name, X, y, seed):
    """compute_saliency_maps(X, y, model) on float32 images and a LongTensor of labels."""
    return _fn(module, name)(_tensor(X), torch.from_numpy(np.asarray(y, dtype=np.int64).copy()), _model(seed))


def fooling(module, name, X, target_y, seed):
    """make_fooling_image(X, target_y, model); also reports whether X was modified."""
    x = _tensor(X)
    keep = x.detach().clone()
    result = _fn(module, name)(x, int(target_y), _model(seed))
    return {"result": result, "input_changed": not _same(x, keep), "result_type": _kind(result)}


def class_vis_step(module, name, order, img, target_y, l2_reg, learning_rate, seed):
    """One class-visualization step on a grad-requiring image; returns the image after the call.

    ``order`` is "cs182" for update_class_visulization(model, target_y, l2_reg,
    learning_rate, img) and "cs231n" for class_visualization_update_step(img,
    model, target_y, l2_reg, learning_rate)."""
    x = _tensor(img, requires_grad=True)
    keep = x.detach().clone()
    fn, model = _fn(module, name), _model(seed)
    if order == "cs231n":
        ret = fn(x, model, int(target_y), float(l2_reg), float(learning_rate))
    else:
        ret = fn(model, int(target_y), float(l2_reg), float(learning_rate), x)
    after = x.detach().clone()
    return {"img": after, "changed": not _same(after, keep),
            "returned": ret.detach().clone() if isinstance(ret, torch.Tensor) else None,
            "returned_type": _kind(ret)}


def classify(module, img, seed):
    """Class scores of one image under the seeded model.  Only the student pre-check uses it (its
    bundle has no grader-side model); on Gradescope the grader re-classifies fooling images itself."""
    with torch.no_grad():
        return _model(seed)(_tensor(img))[0].detach().clone()


# ---------------------------------------------------------------- Q4 losses
def content_loss(module, name, content_weight, current, original):
    """content_loss(w, current features (non-leaf, requires grad), original features)."""
    return _fn(module, name)(float(content_weight), _tensor(current, True, leaf=False), _tensor(original))


def gram_matrix(module, name, features, normalize):
    """gram_matrix(features) (normalize None: left at its default) or gram_matrix(features, normalize=...)."""
    f = _tensor(features, True, leaf=False)
    if normalize is None:
        return _fn(module, name)(f)
    return _fn(module, name)(f, normalize=bool(normalize))


try:  # Gradescope-only: the student pre-check grades style_loss with the student's own gram_matrix
    from grader.oracle.style import gram as _trusted_gram
except ImportError:
    _trusted_gram = None


def style_loss(module, name, feats, style_layers, style_targets, style_weights, num_layers):
    """style_loss(feats, style_layers, style_targets, style_weights).

    ``feats`` maps layer index (as a string) -> feature map; the list handed to
    the student has ``num_layers`` entries, the unused ones being 1x1x1x1 zero
    placeholders (only the style layers are stored in the fixtures).  While it
    runs, the module's ``gram_matrix`` is a correct one, so a Gram-matrix bug
    costs the gram_matrix checks only, not these as well."""
    mod = importlib.import_module(module)
    full = [torch.zeros(1, 1, 1, 1) for _ in range(int(num_layers))]
    for k, v in feats.items():
        full[int(k)] = _tensor(v, True, leaf=False)
    targets = [_tensor(t) for t in style_targets]
    had = hasattr(mod, "gram_matrix")
    saved = getattr(mod, "gram_matrix", None)
    mod.gram_matrix = saved if _trusted_gram is None else _trusted_gram
    try:
        return getattr(mod, name)(full, [int(i) for i in style_layers], targets, [float(w) for w in style_weights])
    finally:
        if had:
            mod.gram_matrix = saved
        else:
            del mod.gram_matrix


def tv_loss(module, name, img, tv_weight):
    """tv_loss(img, w) on a leaf image that requires grad (as in the style-transfer loop)."""
    return _fn(module, name)(_tensor(img, True), float(tv_weight))


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
        return f"{what} returned {_kind(value)}{extra}"
    if value.numel() != 1:
        return f"{what} returned a Tensor of shape {tuple(value.shape)}, not a scalar"
    return None


def style_transfer_run(module, names, content_img, style_img, seed, p):
    """The provided style-transfer loop (deeplearning.style_transfer.style_transfer of the
    template, unchanged but for the checks on what the losses return), with the
    student's content_loss / gram_matrix / style_loss / tv_loss.

    Returns the final image and the per-iteration losses the loop saw, or a
    ``problem`` string when a loss cannot drive the optimization."""
    mod = importlib.import_module(module)
    content_loss_fn, gram_fn, style_loss_fn, tv_loss_fn = (getattr(mod, names[k]) for k in
                                                           ("content_loss", "gram_matrix", "style_loss", "tv_loss"))
    cnn = _model(seed).features
    content_img = _tensor(content_img)
    style_img = _tensor(style_img)
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
            return {"problem": f"gram_matrix returned {_kind(t)}" + (": not implemented yet" if t is None else "")}

    img = content_img.detach().clone()
    img.requires_grad_()
    optimizer = torch.optim.Adam([img], lr=initial_lr)
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
            optimizer = torch.optim.Adam([img], lr=decayed_lr)
        optimizer.step()
    return {"img": img.detach().clone(), "losses": np.asarray(losses, dtype=np.float64), "problem": None}
