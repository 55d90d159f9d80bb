"""Q3 (network visualization) helpers that run *inside* the worker, beside the student's code.

Each builds the tensors and a fresh copy of the seeded SqueezeNet, calls the
student's function in the course's calling convention, and returns what it
returned (tensors travel back as plain arrays).  Everything returned is
treated like student output: the grader compares it with fixtures or
re-classifies fooling images itself (grader/checks/test_q3_netvis.py).
"""
from __future__ import annotations

import inspect

import numpy as np
import torch

from grader.inworker import tensors as T


def saliency(module, name, X, y, seed):
    """compute_saliency_maps(X, y, model) on float32 images and a LongTensor of labels."""
    return T.fn(module, name)(T.tensor(X), torch.from_numpy(np.asarray(y, dtype=np.int64).copy()), T.model(seed))


def fooling(module, name, X, target_y, seed):
    """make_fooling_image(X, target_y, model); also reports whether X was modified."""
    x = T.tensor(X)
    keep = x.detach().clone()
    result = T.fn(module, name)(x, int(target_y), T.model(seed))
    return {"result": result, "input_changed": not T.same(x, keep), "result_type": T.kind(result)}


STEP_PARAMS = ("img", "model", "target_y", "l2_reg", "learning_rate")  # the course's names, in either year's order


def class_vis_step(module, name, order, img, target_y, l2_reg, learning_rate, seed):
    """One class-visualization step on a grad-requiring image; returns the image after the call (an
    in-place update, as CS231n's step does) and what the call returned (CS182's starter clones the image
    and returns the updated copy): the check grades whichever of the two holds the step.

    ``order`` is "cs182" for update_class_visulization(model, target_y, l2_reg,
    learning_rate, img) and "cs231n" for class_visualization_update_step(img,
    model, target_y, l2_reg, learning_rate)."""
    x = T.tensor(img, requires_grad=True)
    keep = x.detach().clone()
    fn, model = T.fn(module, name), T.model(seed)
    # A step whose parameters are the course's names in an order of its own (a 2019 notebook, which had no
    # step function, where a student wrote one as class_visualization_update_step(model, img, target_y,
    # learning_rate, l2_reg): probe round O, 6 points lost on "'Tensor' object is not callable") is called
    # by those names
    try:
        by_name = set(inspect.signature(fn).parameters) == set(STEP_PARAMS)
    except (TypeError, ValueError):
        by_name = False

    def step():
        if by_name:
            return fn(img=x, model=model, target_y=int(target_y), l2_reg=float(l2_reg),
                      learning_rate=float(learning_rate))
        if order == "cs231n":
            return fn(x, model, int(target_y), float(l2_reg), float(learning_rate))
        return fn(model, int(target_y), float(l2_reg), float(learning_rate), x)

    ret = step()
    after = x.detach().clone()
    out = {"img": after, "changed": not T.same(after, keep),
           "returned": ret.detach().clone() if isinstance(ret, torch.Tensor) else None,
           "returned_type": T.kind(ret)}
    if out["changed"]:  # an in-place step: a second one on the same tensor, as create_class_visualization's loop
        try:
            step()
            out["img2"] = x.detach().clone()
        except Exception as exc:  # noqa: BLE001  (reported as the second step's failure)
            out["second_error"] = f"{type(exc).__name__}: {exc}"[:500]
    return out


def classify(module, img, seed):
    """Class scores of one image under the seeded model.  Only the student pre-check uses it (its
    bundle has no grader-side model); on Gradescope the grader re-classifies fooling images itself."""
    with torch.no_grad():
        return T.model(seed)(T.tensor(img))[0].detach().clone()
