"""Q5 settings shared by the fixture builder, the checks and the worker (numpy only, no torch).

The GAN training check (grader/checks/test_q5_gan.py::test_gan_training):
vanilla discriminator() and generator(), the student's discriminator_loss,
generator_loss and get_optimizer; 20 rounds of (2 discriminator steps, 1
generator step) and 2 final discriminator steps on batches of 64 synthetic
28x28 stroke images (256 of them, from data_seed).  Both models start from
fixed seeded weights; the discriminator's last layer starts at zero, so an
untrained discriminator scores every image 0 and cannot pass by chance.  The
grader then measures, on 256 held-out strokes and 256 fresh generator samples,
the AUC (fraction of real/fake pairs ranked correctly) and the gap between the
mean probability D gives real and fake images.
"""
from __future__ import annotations

import numpy as np

# The notebook's parameter-count tests (builder argument, true_count).
NOTEBOOK_COUNTS = {
    "discriminator": (None, 267009),
    "generator": (4, 1858320),
    "build_dc_classifier": (None, 1102721),
    "build_dc_generator": (4, 6580801),
}
NOISE_DIM = 96
BATCH = 128  # the notebook's global batch_size, hard-wired by 2019 solutions into Unflatten(batch_size, ...)

TRAINING = {
    "seed": 0, "data_seed": 1000, "n_data": 256, "batch_size": 64, "g_steps": 20, "d_steps": 2,
    "noise_dim": NOISE_DIM, "d_init_seed": 10, "g_init_seed": 20,
    "eval_seed": 12345, "eval_n": 256,
}
# Thresholds.  The reference, on this configuration and on 9 other seeds
# (tests/test_q5_checks.py::test_training_margin_over_seeds), reaches AUC 1.000
# and a probability gap >= 0.98 (logit gap >= 13); a discriminator that does not
# learn scores 0.5 / 0.0, swapped labels -1.0.  0.5 leaves ~0.48 of margin for
# GPU arithmetic and other correct ways of writing the losses.
TRAINING_MIN_AUC = 0.9
TRAINING_MIN_PROB_GAP = 0.5

# Parameter shapes (torch layout, in order) of the notebook's fully connected
# models: Linear(784, 256), Linear(256, 256), Linear(256, 1) and
# Linear(noise, 1024), Linear(1024, 1024), Linear(1024, 784).
D_SIZES = (784, 256, 256, 1)


def g_sizes(noise_dim: int = NOISE_DIM) -> tuple:
    return (noise_dim, 1024, 1024, 784)


def linear_shapes(sizes) -> list:
    shapes = []
    for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
        shapes += [[fan_out, fan_in], [fan_out]]
    return shapes


def training_inits() -> dict:
    """Initial-weight specs of the training run (sent to the worker)."""
    d_shapes = linear_shapes(D_SIZES)
    g_shapes = linear_shapes(g_sizes(TRAINING["noise_dim"]))
    d_scales = [1.0] * len(d_shapes)
    d_scales[-2:] = [0.0, 0.0]  # last Linear starts at zero: an untrained D outputs 0 everywhere
    return {"d_init": {"shapes": d_shapes, "seed": TRAINING["d_init_seed"], "scales": d_scales},
            "g_init": {"shapes": g_shapes, "seed": TRAINING["g_init_seed"]}}


def training_config() -> dict:
    cfg = {k: TRAINING[k] for k in ("seed", "data_seed", "n_data", "batch_size", "g_steps", "d_steps", "noise_dim")}
    cfg.update(training_inits())
    return cfg


def stroke_images(seed: int, n: int, size: int = 28) -> np.ndarray:
    """MNIST-like synthetic digits: 1-3 soft pen strokes (white on black) per image.

    Deterministic in (seed, n, size); float32 in [0, 1], shape (n, size, size)."""
    rs = np.random.RandomState(seed)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float64)
    out = np.zeros((n, size, size), np.float32)
    margin = size / 7.0
    for i in range(n):
        img = np.zeros((size, size))
        for _ in range(rs.randint(1, 4)):
            p0 = rs.uniform(margin, size - margin, 2)
            p1 = rs.uniform(margin, size - margin, 2)
            d = p1 - p0
            t = np.clip(((yy - p0[0]) * d[0] + (xx - p0[1]) * d[1]) / max(float(d @ d), 1e-9), 0.0, 1.0)
            dist2 = (yy - p0[0] - t * d[0]) ** 2 + (xx - p0[1] - t * d[1]) ** 2
            img = np.maximum(img, np.exp(-dist2 / (2 * 0.8 ** 2)))
        out[i] = img
    return out


def evaluation_data() -> tuple[np.ndarray, np.ndarray]:
    """Held-out real images in [-1, 1] (N, 1, 28, 28) and generator noise (N, noise_dim) for the verdict."""
    n, seed = TRAINING["eval_n"], TRAINING["eval_seed"]
    real = (2.0 * stroke_images(seed, n) - 1.0).reshape(n, 1, 28, 28).astype(np.float32)
    z = np.random.RandomState(seed).uniform(-1.0, 1.0, (n, TRAINING["noise_dim"])).astype(np.float32)
    return real, z


def separation_scores(r: np.ndarray, f: np.ndarray) -> dict:
    """AUC and probability gap of discriminator logits on real (r) and fake (f) images."""
    r, f = np.asarray(r, np.float64).ravel(), np.asarray(f, np.float64).ravel()
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(f))):
        return {"finite": False}
    auc = float(np.mean(r[:, None] > f[None, :]) + 0.5 * np.mean(r[:, None] == f[None, :]))
    sig = lambda s: 0.5 * (1.0 + np.tanh(0.5 * s))  # noqa: E731  (overflow-free sigmoid)
    return {"finite": True, "auc": auc, "prob_gap": float(sig(r).mean() - sig(f).mean()),
            "logit_gap": float(r.mean() - f.mean())}
