"""Fixture cases for Q5 (GANs), computed by the reference, and the grader's own
copies of the course architectures.

Visible cases follow the notebook: its parameter-count tests (discriminator(),
generator(4), build_dc_classifier(), build_dc_generator(4)), batches of 128
(the notebook's global ``batch_size``, which 2019 solutions hard-wire into
``Unflatten(batch_size, ...)``), logits of shape (N,).  Hidden cases use other
seeds and shapes: N=1, column-shaped (N, 1) logits, large logits (|s| up to
25, where a non-stable log(sigmoid) overflows), generator(4) on 9 vectors.

Model weights are not stored: they are drawn from a seed by
grader.inworker.gan.init_arrays and loaded *by parameter order*, so a
student's nn.Sequential whose indices differ from the reference's (an extra
Flatten shifts every index) still receives the same weights.
"""
from __future__ import annotations

import importlib
import os

import numpy as np

from grader.engine.cases import Case

from grader.course.gan import BATCH, NOISE_DIM, NOTEBOOK_COUNTS, stroke_images


# ------------------------------------------------------------------ course architectures (grader side)
def reference_model(name: str, noise_dim: int = NOISE_DIM):
    """The course's architecture for builder ``name``, built from torch.nn only.

    Same parameters in the same order as the reference solution; used by the
    grader to evaluate trained parameters returned by the worker."""
    import torch.nn as nn

    class Unflatten(nn.Module):
        def __init__(self, *shape):
            super().__init__()
            self.shape = shape

        def forward(self, x):
            return x.reshape(x.shape[0], *self.shape)

    if name == "discriminator":
        return nn.Sequential(nn.Flatten(), nn.Linear(784, 256), nn.LeakyReLU(0.01), nn.Linear(256, 256),
                             nn.LeakyReLU(0.01), nn.Linear(256, 1))
    if name == "generator":
        return nn.Sequential(nn.Linear(noise_dim, 1024), nn.ReLU(), nn.Linear(1024, 1024), nn.ReLU(),
                             nn.Linear(1024, 784), nn.Tanh())
    if name == "build_dc_classifier":
        return nn.Sequential(Unflatten(1, 28, 28), nn.Conv2d(1, 32, 5, 1), nn.LeakyReLU(0.01), nn.MaxPool2d(2, 2),
                             nn.Conv2d(32, 64, 5, 1), nn.LeakyReLU(0.01), nn.MaxPool2d(2, 2), nn.Flatten(),
                             nn.Linear(1024, 1024), nn.LeakyReLU(0.01), nn.Linear(1024, 1))
    if name == "build_dc_generator":
        return nn.Sequential(nn.Linear(noise_dim, 1024), nn.ReLU(), nn.BatchNorm1d(1024),
                             nn.Linear(1024, 6272), nn.ReLU(), nn.BatchNorm1d(6272), Unflatten(128, 7, 7),
                             nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.ReLU(), nn.BatchNorm2d(64),
                             nn.ConvTranspose2d(64, 1, 4, 2, 1), nn.Tanh(), nn.Flatten())
    raise KeyError(name)


def param_layout(model) -> tuple[list, list]:
    """(shapes, offsets): parameter shapes in order, and +1 for every BatchNorm weight
    (so seeded BatchNorm scales are ~1, not ~0, and the layers after them see
    full-size activations)."""
    import torch.nn as nn
    bn_weights = {id(m.weight) for m in model.modules()
                  if isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)) and m.weight is not None}
    shapes, offsets = [], []
    for p in model.parameters():
        shapes.append([int(d) for d in p.shape])
        offsets.append(1.0 if id(p) in bn_weights else 0.0)
    return shapes, offsets


# ------------------------------------------------------------------ fixture cases
def _images(seed: int, n: int) -> np.ndarray:
    """Half synthetic strokes, half uniform noise, in [-1, 1]: like a real and a fake batch."""
    k = n // 2
    strokes = 2.0 * stroke_images(seed, k) - 1.0
    noise = np.random.RandomState(seed).uniform(-1.0, 1.0, (n - k, 28, 28))
    return np.concatenate([strokes, noise]).reshape(n, 1, 28, 28).astype(np.float32)


def _forward(model, arrays, x, train=True) -> np.ndarray:
    import torch

    from grader.course.models import load_params_by_order
    load_params_by_order(model, arrays)
    model.train(train)
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy().astype(np.float32)


def _check_oracle(init_arrays) -> None:
    """The grader's numpy D and G (grader/oracle/gan.py) must match the course architectures."""
    import torch

    from grader.course import gan as gan_config
    from grader.oracle import gan as trusted_gan
    from grader.course.models import load_params_by_order
    for name, sizes, fwd in (("discriminator", gan_config.D_SIZES, trusted_gan.discriminator),
                             ("generator", gan_config.g_sizes(NOISE_DIM), trusted_gan.generator)):
        model = reference_model(name, NOISE_DIM)
        shapes = param_layout(model)[0]
        if shapes != gan_config.linear_shapes(sizes):
            raise AssertionError(f"grader.course.gan's {name} shapes differ from the course architecture")
        params = init_arrays(shapes, 7)
        load_params_by_order(model, params)
        x = np.random.RandomState(8).uniform(-1, 1, (16, sizes[0])).astype(np.float32)
        with torch.no_grad():
            want = model(torch.from_numpy(x)).double().numpy().reshape(16, -1)
        got = fwd(params, x).reshape(16, -1)
        if not np.allclose(got, want, rtol=1e-4, atol=1e-5):  # float32 torch vs float64 numpy
            raise AssertionError(f"grader.oracle.gan.{fwd.__name__} differs from the course's {name}")


def build(ref) -> list[Case]:
    import torch
    gan = importlib.import_module(ref.__name__ + ".gan_pytorch")
    from grader.inworker.gan import init_arrays
    out: list[Case] = []
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(int(os.environ.get("AUTOGRADER_FIXTURE_THREADS", "1")))  # the worker runs one thread

    def add(fn, name, inputs, expected, seed=None, params=None, desc=""):
        vis = "hidden" if name.startswith("hidden") else "visible"
        out.append(Case(fn, name, vis, inputs, expected, params or {}, seed, desc))

    _check_oracle(init_arrays)
    try:
        # ------------------------------------------------------ sample_noise
        add("sample_noise", "notebook", {}, {}, 231, {"batch_size": 3, "dim": 4},
            "the notebook's test_sample_noise: shape (3, 4), torch.manual_seed(231)")
        add("sample_noise", "large", {}, {}, 232, {"batch_size": 4096, "dim": 8},
            "4096 x 8 draws: range, both signs, roughly uniform on (-1, 1)")

        # ------------------------------------------------------ parameter counts
        for fn, (nd, count) in NOTEBOOK_COUNTS.items():
            model = getattr(gan, fn)(nd) if nd is not None else getattr(gan, fn)()
            got = int(gan.count_params(model))
            if got != count:
                raise AssertionError(f"reference {fn} has {got} parameters, the notebook says {count}")
            shapes, _ = param_layout(model)
            if shapes != param_layout(reference_model(fn, nd or NOISE_DIM))[0]:
                raise AssertionError(f"grader.fixturegen.gan.reference_model({fn!r}) differs from the reference")
            add(f"{fn}_params", "notebook", {}, {"count": count}, None,
                {"noise_dim": nd}, f"the notebook's test: {fn}({'' if nd is None else nd}) has {count} parameters")

        # ------------------------------------------------------ forward passes with seeded weights
        fwd = [  # (builder, case, noise_dim, N, seed)
            ("discriminator", "notebook", None, BATCH, 501),
            ("discriminator", "hidden-n3", None, 3, 502),
            ("discriminator", "hidden-n1", None, 1, 503),
            ("generator", "notebook", NOISE_DIM, BATCH, 511),
            ("generator", "hidden-noise4", 4, 9, 512),
            ("build_dc_classifier", "notebook", None, BATCH, 521),
            ("build_dc_generator", "notebook", NOISE_DIM, BATCH, 531),
        ]
        for fn, name, nd, n, seed in fwd:
            model = getattr(gan, fn)(nd) if nd is not None else getattr(gan, fn)()
            shapes, offsets = param_layout(model)
            rs = np.random.RandomState(seed)
            if fn in ("discriminator", "build_dc_classifier"):
                x = _images(seed, n)
            else:
                x = rs.uniform(-1.0, 1.0, (n, nd)).astype(np.float32)
            y = _forward(model, init_arrays(shapes, seed, offsets), x, train=True)
            add(f"{fn}_forward", name, {"x": x}, {"out": y}, seed,
                {"noise_dim": nd, "shapes": shapes, "offsets": offsets, "train": True},
                f"{fn} with seeded weights (loaded by parameter order) on {n} inputs, train mode")

        # ------------------------------------------------------ losses
        # No batch of one: the bce_loss that CS231n 2020-2022 provide squeezes the logits, which at N = 1 leaves a
        # 0-d input for a target of shape (1,), and torch raises (probe round M: two correct submissions lost a
        # third of the hidden test on the course's own helper); the notebook never runs a batch of one, and a
        # mean over two logits, unlike one, tells a mean from a sum
        loss_cases = [  # (case, N, scale, seed, column)
            ("notebook", BATCH, 2.0, 541, False),
            ("hidden-n2", 2, 2.0, 542, False),
            ("hidden-column", 16, 3.0, 543, True),
            ("hidden-large-logits", 32, 25.0, 544, False),
        ]
        for name, n, scale, seed, column in loss_cases:
            rs = np.random.RandomState(seed)
            shape = (n, 1) if column else (n,)
            lr = (rs.uniform(-1.0, 1.0, shape) * scale).astype(np.float32)
            lf = (rs.uniform(-1.0, 1.0, shape) * scale).astype(np.float32)
            tr, tf = torch.from_numpy(lr.astype(np.float64)), torch.from_numpy(lf.astype(np.float64))
            add("gan_losses", name, {"logits_real": lr, "logits_fake": lf},
                {"d_loss": float(gan.discriminator_loss(tr, tf)), "g_loss": float(gan.generator_loss(tf))},
                seed, {"column": column}, f"bce-based GAN losses on {n} logits of scale {scale:g}")
            if name == "hidden-large-logits":
                continue  # least squares has no overflow edge case
            add("ls_losses", name, {"scores_real": lr, "scores_fake": lf},
                {"d_loss": float(gan.ls_discriminator_loss(tr, tf)), "g_loss": float(gan.ls_generator_loss(tf))},
                seed, {"column": column}, f"least-squares GAN losses on {n} scores of scale {scale:g}")

        # ------------------------------------------------------ optimizer
        D = gan.discriminator()
        opt = gan.get_optimizer(D)
        g = opt.param_groups[0]
        add("get_optimizer", "notebook", {}, {"lr": float(g["lr"]), "beta1": float(g["betas"][0]),
                                             "beta2": float(g["betas"][1])}, None,
            {"type": type(opt).__name__}, "Adam, lr 1e-3, betas (0.5, 0.999)")
    finally:
        torch.set_num_threads(torch_threads)
    return out
