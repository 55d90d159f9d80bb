"""The grader's own forward pass of the course's fully connected D and G (numpy).

Gradescope-only (left out of the student pre-check): the GAN training verdict
is computed here, in the grader process, from the parameters the worker
returns, so it does not rest on numbers the student's process reports, and the
grader never imports torch.
"""
from __future__ import annotations

import numpy as np

from grader.course.gan import D_SIZES, TRAINING, evaluation_data, g_sizes, linear_shapes, separation_scores


def _check(params, sizes, what):
    want = linear_shapes(sizes)
    if len(params) != len(want):
        raise ValueError(f"the {what} has {len(params)} parameter tensors, expected {len(want)}")
    for i, (p, s) in enumerate(zip(params, want)):
        if list(np.shape(p)) != s:
            raise ValueError(f"{what} parameter {i} has shape {list(np.shape(p))}, expected {s}")


def discriminator(params, x):
    """x: (N, 784) -> logits (N,); Linear-LeakyReLU(0.01)-Linear-LeakyReLU(0.01)-Linear, float64."""
    h = np.asarray(x, np.float64)
    for i in range(0, len(params), 2):
        h = h @ np.asarray(params[i], np.float64).T + np.asarray(params[i + 1], np.float64)
        if i < len(params) - 2:
            h = np.where(h > 0, h, 0.01 * h)
    return h.ravel()


def generator(params, z):
    """z: (N, noise_dim) -> images (N, 784) in (-1, 1); Linear-ReLU-Linear-ReLU-Linear-Tanh, float64."""
    h = np.asarray(z, np.float64)
    for i in range(0, len(params), 2):
        h = h @ np.asarray(params[i], np.float64).T + np.asarray(params[i + 1], np.float64)
        h = np.maximum(h, 0.0) if i < len(params) - 2 else np.tanh(h)
    return h


def separation(d_params, g_params) -> dict:
    """How well the trained D tells held-out real images from the trained G's samples.
    Raises ValueError when the parameters do not fit the course's architecture."""
    _check(d_params, D_SIZES, "discriminator")
    _check(g_params, g_sizes(TRAINING["noise_dim"]), "generator")
    real, z = evaluation_data()
    fake = generator(g_params, z)
    return separation_scores(discriminator(d_params, real.reshape(len(real), -1)), discriminator(d_params, fake))
