"""Fixture cases for Q5 (GANs), computed by the reference, and the grader's own
copies of the course architectures.

Visible cases follow the notebook: its parameter-count tests (discriminator(),
generator(4), build_dc_classifier(), build_dc_generator(4)), batches of 128
(the notebook's global ``batch_size``, which 2019 solutions hard-wire into
``Unflatten(batch_size, ...)``), logits of shape (N,).  Hidden cases use other
seeds and shapes: N=1, column-shaped (N, 1) logits, large logits (|s| up to
25, where a non-stable log(sigmoid) overflows), generator(4) on 9 vectors.

Model weights are not stored: they are drawn from a seed by
grader.gan_helpers.init_arrays and loaded *by parameter order*, so a
student's nn.Sequential whose indices differ from the reference's (an extra
Flatten shifts every index) still receives the same weights.
"""
from __future__ import annotations

import importlib

import numpy as np

from grader.fixtures import Case

# The notebook's parameter-count tests (true_count=...).
NOTEBOOK_COUNTS = {
    "discriminator": (None, 267009),
    "generator": (4, 1858320),
    "build_dc_classifier": (None, 1102721),
    "build_dc_generator": (4, 6580801),
}
NOISE_DIM = 96
BATCH = 128

# The GAN training check (grader/checks/test_q5_gan.py::test_gan_training).
# Vanilla discriminator() and generator(), the student's discriminator_loss,
# generator_loss and get_optimizer; 20 rounds of (2 discriminator steps, 1
# generator step) and 2 final discriminator steps on batches of 64 synthetic
# 28x28 stroke images (gan_helpers.stroke_images, 256 of them, from data_seed).
# Both models start from fixed seeded weights; the discriminator's last layer
# starts at zero, so an untrained discriminator scores every image 0 and cannot
# pass by chance.  The grader rebuilds the course architectures from the
# returned parameters and measures, on 256 held-out strokes and 256 fresh
# generator samples: AUC (fraction of real/fake pairs ranked correctly) and the
# gap between the mean probability D gives real and fake images.
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


def training_inits() -> dict:
    """Initial-weight specs of the training run (sent to the worker)."""
    d_shapes, _ = param_layout(reference_model("discriminator"))
    g_shapes, _ = param_layout(reference_model("generator", TRAINING["noise_dim"]))
    d_scales = [1.0] * len(d_shapes)
    d_scales[-2:] = [0.0, 0.0]  # last Linear starts at zero: an untrained D outputs 0 everywhere
    return {"d_init": {"shapes": d_shapes, "seed": TRAINING["d_init_seed"], "scales": d_scales},
            "g_init": {"shapes": g_shapes, "seed": TRAINING["g_init_seed"]}}


def training_config() -> dict:
    cfg = {k: TRAINING[k] for k in ("seed", "data_seed", "n_data", "batch_size", "g_steps", "d_steps", "noise_dim")}
    cfg.update(training_inits())
    return cfg


def evaluation_data() -> tuple[np.ndarray, np.ndarray]:
    """Held-out real images in [-1, 1] (N, 1, 28, 28) and generator noise (N, noise_dim) for the verdict."""
    from grader.gan_helpers import stroke_images
    n, seed = TRAINING["eval_n"], TRAINING["eval_seed"]
    real = (2.0 * stroke_images(seed, n) - 1.0).reshape(n, 1, 28, 28).astype(np.float32)
    z = np.random.RandomState(seed).uniform(-1.0, 1.0, (n, TRAINING["noise_dim"])).astype(np.float32)
    return real, z


def separation(d_params, g_params) -> dict:
    """Rebuild the course's D and G from trained parameters (CPU, float32) and measure how well D
    tells held-out real images from G's samples.  Raises ValueError on a shape mismatch."""
    import torch

    from grader.torch_models import load_params_by_order
    D = reference_model("discriminator")
    G = reference_model("generator", TRAINING["noise_dim"])
    load_params_by_order(D, d_params)
    load_params_by_order(G, g_params)
    real, z = evaluation_data()
    with torch.no_grad():
        fake = G(torch.from_numpy(z)).reshape(-1, 1, 28, 28)
        r = D(torch.from_numpy(real)).double().numpy().ravel()
        f = D(fake).double().numpy().ravel()
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(f))):
        return {"finite": False}
    auc = float(np.mean(r[:, None] > f[None, :]) + 0.5 * np.mean(r[:, None] == f[None, :]))
    sig = lambda s: 0.5 * (1.0 + np.tanh(0.5 * s))  # noqa: E731  (overflow-free sigmoid)
    return {"finite": True, "auc": auc, "prob_gap": float(sig(r).mean() - sig(f).mean()),
            "logit_gap": float(r.mean() - f.mean())}


# ------------------------------------------------------------------ fixture cases
def _images(seed: int, n: int) -> np.ndarray:
    """Half synthetic strokes, half uniform noise, in [-1, 1]: like a real and a fake batch."""
    from grader.gan_helpers import stroke_images
    k = n // 2
    strokes = 2.0 * stroke_images(seed, k) - 1.0
    noise = np.random.RandomState(seed).uniform(-1.0, 1.0, (n - k, 28, 28))
    return np.concatenate([strokes, noise]).reshape(n, 1, 28, 28).astype(np.float32)


def _forward(model, arrays, x, train=True) -> np.ndarray:
    import torch

    from grader.torch_models import load_params_by_order
    load_params_by_order(model, arrays)
    model.train(train)
    with torch.no_grad():
        return model(torch.from_numpy(x)).numpy().astype(np.float32)


def build(ref) -> list[Case]:
    import torch
    gan = importlib.import_module(ref.__name__ + ".gan_pytorch")
    from grader.gan_helpers import init_arrays
    out: list[Case] = []
    torch_threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the worker runs one thread: same summation order

    def add(fn, name, inputs, expected, seed=None, params=None, desc=""):
        vis = "hidden" if name.startswith("hidden") else "visible"
        out.append(Case(fn, name, vis, inputs, expected, params or {}, seed, desc))

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
                raise AssertionError(f"grader.cases_gan.reference_model({fn!r}) differs from the reference")
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
        loss_cases = [  # (case, N, scale, seed, column)
            ("notebook", BATCH, 2.0, 541, False),
            ("hidden-n1", 1, 2.0, 542, False),
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
