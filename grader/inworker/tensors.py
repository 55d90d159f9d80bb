"""Torch plumbing shared by the in-worker helpers of Q3 and Q4 (runs inside the worker).

The grader cannot send tensors or models to the worker: it sends numpy arrays
and plain values, and these helpers build float32 CPU tensors and the seeded
SqueezeNet of ``grader.course.models`` there.  Nothing here is secret or
trusted: it is course data and glue.
"""
from __future__ import annotations

import copy
import importlib

import numpy as np
import torch

from grader.course import models as torch_models

# The course's model is built here, in the zygote, which imports this module before it forks: each child
# of a Q3/Q4 run (a question's visible and hidden cases each get one) built and calibrated it again,
# 0.2-0.3 CPU-s apiece; a deep copy costs 0.01.
_MODELS: dict = {torch_models.MODEL_SEED: torch_models.squeezenet(torch_models.MODEL_SEED)}


def model(seed: int):
    """A fresh copy of the seeded SqueezeNet for each call: whatever a student's
    function does to the model (train mode, requires_grad, edited weights) does
    not leak into the next check."""
    if seed not in _MODELS:
        _MODELS[seed] = torch_models.squeezenet(int(seed))
    return copy.deepcopy(_MODELS[seed])


def fn(module: str, name: str):
    return getattr(importlib.import_module(module), name)


def tensor(a, requires_grad=False, leaf=True):
    """float32 (or int64) CPU tensor owning a copy of ``a``; ``leaf=False`` gives a
    non-leaf view of a grad-requiring leaf, as a network's feature maps are."""
    t = torch.from_numpy(np.array(a, copy=True))
    if requires_grad:
        t.requires_grad_()
        if not leaf:
            t = t * 1.0
    return t


def same(t, keep) -> bool:
    """Whether tensor ``t`` still holds exactly ``keep`` (same shape, dtype and values)."""
    try:
        return bool(t.shape == keep.shape and t.dtype == keep.dtype and torch.equal(t.detach(), keep))
    except Exception:
        return False


def kind(v) -> str:
    if v is None:
        return "None"
    if isinstance(v, torch.Tensor):
        return "Tensor"
    return type(v).__name__
