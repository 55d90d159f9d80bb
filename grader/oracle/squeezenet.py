"""The grader's own numpy copy of the seeded SqueezeNet and of the style-transfer objective.

Gradescope-only (left out of the student pre-check): it re-classifies fooling
images and recomputes the style-transfer run's losses in the grader process,
in float64, so those verdicts do not rest on numbers the student's process
reports, and the grader never imports torch (a 3-4 s import per run).  The
weights are grader.course.models.seeded_params draws in parameter order with the
same classifier calibration; tests/test_q3_q4_checks.py checks that scores and
feature maps agree with the torch model.
"""
from __future__ import annotations

from functools import lru_cache

import numpy as np

from grader.course.models import (_CALIBRATION_IMAGES, MODEL_SEED, SQUEEZENET_IMAGE_SIZE, calibrate_classifier,
                                 seeded_params, test_images)


# ================================================================ grader-side recomputation
# The grader's own SqueezeNet 1.1, in numpy float64, so the grader process needs no torch at all
# (it saves a ~3-4 s torch import per grading run).  It is the model of grader.course.models.squeezenet
# rebuilt from the same numpy draws: torchvision's squeezenet1_1 architecture (below), the weights
# of grader.course.models.seeded_params in parameter order, and the same classifier calibration.
# tests/test_q3_q4_checks.py checks that draws, images and weights are identical and that scores
# and feature maps agree with the torch model.
_SQUEEZENET_1_1 = [  # torchvision.models.squeezenet1_1().features, child by child
    ("conv", 3, 64), ("relu",), ("pool",),
    ("fire", 64, 16, 64, 64), ("fire", 128, 16, 64, 64), ("pool",),
    ("fire", 128, 32, 128, 128), ("fire", 256, 32, 128, 128), ("pool",),
    ("fire", 256, 48, 192, 192), ("fire", 384, 48, 192, 192), ("fire", 384, 64, 256, 256),
    ("fire", 512, 64, 256, 256)]
def param_shapes(num_classes: int = 1000) -> list[tuple]:
    """Shapes of squeezenet1_1's parameters, in model.parameters() order."""
    shapes = []
    for layer in _SQUEEZENET_1_1:
        if layer[0] == "conv":
            shapes += [(layer[2], layer[1], 3, 3), (layer[2],)]
        elif layer[0] == "fire":
            _, cin, sq, e1, e3 = layer
            shapes += [(sq, cin, 1, 1), (sq,), (e1, sq, 1, 1), (e1,), (e3, sq, 3, 3), (e3,)]
    return shapes + [(num_classes, 512, 1, 1), (num_classes,)]


def _conv(x, w, b, stride=1, pad=0):
    """2-D cross-correlation (torch's Conv2d) of x (N, C, H, W) with w (O, C, k, k), float64."""
    if pad:
        x = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)))
    n, c, h, wd = x.shape
    o, _, k, _ = w.shape
    if k == 1 and stride == 1:
        out = np.matmul(w[:, :, 0, 0], x.reshape(n, c, h * wd)).reshape(n, o, h, wd)
    else:
        win = np.lib.stride_tricks.sliding_window_view(x, (k, k), axis=(2, 3))[:, :, ::stride, ::stride]
        ho, wo = win.shape[2], win.shape[3]
        cols = win.transpose(0, 2, 3, 1, 4, 5).reshape(n * ho * wo, c * k * k)
        out = (cols @ w.reshape(o, -1).T).reshape(n, ho, wo, o).transpose(0, 3, 1, 2)
    return out + b[None, :, None, None]


def _maxpool_ceil(x, k=3, s=2):
    """MaxPool2d(3, stride 2, ceil_mode=True): windows may run past the edge (but must start inside)."""
    n, c, h, w = x.shape

    def size(d):
        out = -(-(d - k) // s) + 1
        return out - 1 if (out - 1) * s >= d else out
    ho, wo = size(h), size(w)
    pad_h, pad_w = max(0, (ho - 1) * s + k - h), max(0, (wo - 1) * s + k - w)
    xp = np.pad(x, ((0, 0), (0, 0), (0, pad_h), (0, pad_w)), constant_values=-np.inf)
    out = None
    for i in range(k):
        for j in range(k):
            part = xp[:, :, i:i + s * (ho - 1) + 1:s, j:j + s * (wo - 1) + 1:s]
            out = part if out is None else np.maximum(out, part)
    return out


class NumpySqueezeNet:
    """SqueezeNet 1.1 forward passes in float64 on float32 weights (eval mode: dropout is the identity)."""

    def __init__(self, arrays):
        self.arrays = [np.asarray(a, dtype=np.float64) for a in arrays]

    def features(self, x) -> list[np.ndarray]:
        """Every child's output of model.features, as extract_features returns them."""
        cur, out, i, a = np.asarray(x, dtype=np.float64), [], 0, self.arrays
        for layer in _SQUEEZENET_1_1:
            if layer[0] == "conv":
                cur = _conv(cur, a[i], a[i + 1], stride=2)
                i += 2
            elif layer[0] == "relu":
                cur = np.maximum(cur, 0.0)
            elif layer[0] == "pool":
                cur = _maxpool_ceil(cur)
            else:
                sq = np.maximum(_conv(cur, a[i], a[i + 1]), 0.0)
                e1 = np.maximum(_conv(sq, a[i + 2], a[i + 3]), 0.0)
                e3 = np.maximum(_conv(sq, a[i + 4], a[i + 5], pad=1), 0.0)
                cur = np.concatenate([e1, e3], axis=1)
                i += 6
            out.append(cur)
        return out

    def scores(self, x) -> np.ndarray:
        f = self.features(x)[-1]
        s = np.maximum(_conv(f, self.arrays[-2], self.arrays[-1]), 0.0)
        return s.mean(axis=(2, 3))


@lru_cache(maxsize=None)
def grader_model(seed: int = MODEL_SEED, num_classes: int = 1000) -> NumpySqueezeNet:
    """The grader's own copy of grader.course.models.squeezenet(seed), calibrated the same way."""
    arrays = seeded_params(param_shapes(num_classes), seed)
    probe = NumpySqueezeNet(arrays)
    feats = probe.features(test_images(10 ** 6 + seed, _CALIBRATION_IMAGES, SQUEEZENET_IMAGE_SIZE)
                           .astype(np.float64))[-1]
    return NumpySqueezeNet(calibrate_classifier(arrays, feats))


def grader_scores(img: np.ndarray, seed: int = MODEL_SEED) -> np.ndarray:
    """Class scores of a (1, 3, H, W) image under the grader's model (float64 arithmetic)."""
    return grader_model(seed).scores(np.asarray(img, dtype=np.float32))[0]


def _gram64(f):
    n, c, h, w = f.shape
    flat = f.reshape(n, c, h * w)
    return flat @ flat.transpose(0, 2, 1) / float(c * h * w)


_FEATURES: dict = {}


def _features_of(seed: int, x: np.ndarray) -> list[np.ndarray]:
    """Feature maps of a fixed image (the run's content and style images), computed once."""
    key = (seed, x.shape, x.tobytes())
    if key not in _FEATURES:
        _FEATURES[key] = grader_model(seed).features(x)
    return _FEATURES[key]


def style_total_loss(img, content_img, style_img, p: dict, seed: int = MODEL_SEED) -> dict:
    """The style-transfer objective of ``img`` computed by the grader in float64.

    The course's definitions (written here independently of any submission):
    content_weight * sum((F_l - P_l)^2) + sum_l w_l * sum((G_l - A_l)^2)
    + tv_weight * (sum of squared vertical and horizontal neighbour differences),
    with G = F F^T / (C H W), features from the seeded SqueezeNet's ``features``."""
    model = grader_model(seed)
    fi = model.features(np.asarray(img, dtype=np.float32))
    fc, fs = (_features_of(seed, np.asarray(x, dtype=np.float32)) for x in (content_img, style_img))
    cl = p["content_weight"] * float(np.sum((fi[p["content_layer"]] - fc[p["content_layer"]]) ** 2))
    sl = sum(w * float(np.sum((_gram64(fi[l]) - _gram64(fs[l])) ** 2))
             for l, w in zip(p["style_layers"], p["style_weights"]))
    x = np.asarray(img, dtype=np.float64)
    tv = p["tv_weight"] * float(np.sum((x[:, :, 1:, :] - x[:, :, :-1, :]) ** 2)
                                + np.sum((x[:, :, :, 1:] - x[:, :, :, :-1]) ** 2))
    return {"total": cl + sl + tv, "content": cl, "style": sl, "tv": tv}


