"""Q5 (GANs) checks (grader/checks/test_q5_gan.py), end to end through the real CLI, plus their
tolerances' margins.

- reference/ gets full Q5 marks, student_template/ gets 0 with every Q5 test
  listed and "not implemented" feedback;
- the mutant catalogue (grader/tools/mutants/q5.yaml) holds the classic GAN bugs (each is graded
  in tests/tools/test_mutants.py);
- a 2019-style gan_pytorch.py (no-argument builders, Unflatten(batch_size, ...)
  with a module-global batch_size = 128, labels made with .type(dtype), the
  2019 Flatten that accepts only 4-d input, the 2019 bce_loss) and a 2020-style
  one (build_dc_classifier(batch_size)) both get full Q5 marks.

Fixtures: the committed fixtures/ (tests/tools/test_generators.py proves they are current).
Gradings run two at a time.
"""
import concurrent.futures as cf
import re
import shutil
from pathlib import Path

import numpy as np

from conftest import FIXTURES, REFERENCE, TEMPLATE, grade
from grader.tools import mutants

Q5_MUTANTS = [m for m in mutants.load() if m.question == "Q5"]
REQUIRED_KINDS = {  # the list: each must be in the catalogue
    "discriminator_leaky_slope_0_2", "generator_missing_tanh", "ls_losses_summed", "adam_default_betas",
    "sample_noise_unit_interval", "discriminator_loss_swapped_labels"}

# The 2019 and 2020 provided bce_loss (the notebook's numerically stable formula), replacing the reference's
# whole function, whatever its current body.
BCE_2019 = ("def bce_loss(", "def bce_loss(input, target):\n    neg_abs = - input.abs()\n"
            "    loss = input.clamp(min=0) - input * target + (1 + neg_abs.exp()).log()\n    return loss.mean()\n")

# 2019 notebook style (seed 004's solutions and the 2019 provided cells), as patches of the reference.
STYLE_2019 = [
    ("NOISE_DIM = 96\n", "NOISE_DIM = 96\nbatch_size = 128\n"),
    ("def sample_noise(batch_size, dim, seed=None):", "def sample_noise(batch_size, dim):"),
    ("    if seed is not None:\n        torch.manual_seed(seed)\n\n    noise = None\n", "    noise = None\n"),
    ("    def forward(self, x):\n        return x.reshape(x.shape[0], -1)\n",
     "    def forward(self, x):\n        N, C, H, W = x.size()  # read in N, C, H, W\n        return x.view(N, -1)\n"),
    ("        return x.reshape(self.N, self.C, self.H, self.W)\n",
     "        return x.view(self.N, self.C, self.H, self.W)\n"),
    BCE_2019,
    ("def discriminator(seed=None):", "def discriminator():"),
    ("    initial weights are reproducible.\n    \"\"\"\n    if seed is not None:\n        torch.manual_seed(seed)\n",
     "    initial weights are reproducible.\n    \"\"\"\n"),
    ("def generator(noise_dim=NOISE_DIM, seed=None):", "def generator(noise_dim=NOISE_DIM):"),
    ("seed, when given, seeds torch first.\n    \"\"\"\n    if seed is not None:\n        torch.manual_seed(seed)\n",
     "seed, when given, seeds torch first.\n    \"\"\"\n"),
    ("    real_part = bce_loss(logits_real, torch.ones_like(logits_real))\n"
     "    fake_part = bce_loss(logits_fake, torch.zeros_like(logits_fake))\n    loss = real_part + fake_part\n",
     "    N = logits_real.size()\n    true_labels = torch.ones(N).type(dtype)\n"
     "    loss_true = bce_loss(logits_real, true_labels)\n\n    fake_labels = 1 - true_labels\n"
     "    loss_fake = bce_loss(logits_fake, fake_labels)\n\n    loss = loss_true + loss_fake\n"),
    ("    loss = bce_loss(logits_fake, torch.ones_like(logits_fake))\n",
     "    N = logits_fake.size()\n    true_labels = torch.ones(N).type(dtype)\n"
     "    loss = bce_loss(logits_fake, true_labels)\n"),
    ("    loss = 0.5 * ((scores_real - 1) ** 2).mean() + 0.5 * (scores_fake ** 2).mean()\n",
     "    N = scores_real.size()\n"
     "    loss = (0.5 * torch.mean((scores_real - 1)**2)) + (0.5 * torch.mean(scores_fake**2))\n"),
    ("    optimizer = optim.Adam(model.parameters(), lr=1e-3, betas=(0.5, 0.999))\n",
     "    optimizer = optim.Adam(model.parameters(), lr = 1e-3, betas = (0.5, 0.999))\n"),
    ("def build_dc_classifier(batch_size=128):", "def build_dc_classifier():"),
    ("        Unflatten(-1, 1, 28, 28),\n", "        Unflatten(batch_size, 1, 28, 28),\n"),
    ("        Unflatten(-1, 128, 7, 7),\n", "        Unflatten(batch_size, 128, 7, 7),\n"),
]
# 2020 files: seed=None arguments (as the reference), build_dc_classifier(batch_size) without a default,
# the 2020 provided Flatten/bce_loss, nn.Flatten/nn.Unflatten in the models.
STYLE_2020 = [
    ("    def forward(self, x):\n        return x.reshape(x.shape[0], -1)\n",
     "    def forward(self, x):\n        N, C, H, W = x.size()  # read in N, C, H, W\n        return x.view(N, -1)\n"),
    BCE_2019,
    ("def build_dc_classifier(batch_size=128):", "def build_dc_classifier(batch_size):"),
    ("        Unflatten(-1, 1, 28, 28),\n", "        Unflatten(batch_size, 1, 28, 28),\n"),
    ("        Flatten(),\n        nn.Linear(784, 256),\n", "        nn.Flatten(),\n        nn.Linear(784, 256),\n"),
    ("        Unflatten(-1, 128, 7, 7),\n", "        nn.Unflatten(1, (128, 7, 7)),\n"),
    ("    real_part = bce_loss(logits_real, torch.ones_like(logits_real))\n",
     "    real_part = bce_loss(logits_real, torch.ones(logits_real.size()).type(dtype))\n"),
]


def _patched(dest: Path, patches) -> Path:
    shutil.copytree(REFERENCE, dest)
    target = dest / "deeplearning" / "gan_pytorch.py"
    src = target.read_text()
    for find, replace in patches:
        if find.startswith("def ") and find.endswith("("):  # a whole top-level function, up to the next one
            m = re.search(rf"^{re.escape(find)}.*?(?=^\S)", src, flags=re.S | re.M)
            assert m, f"no {find!r} in the reference"
            find = m.group(0).rstrip("\n") + "\n"
        assert src.count(find) == 1, f"patch does not apply exactly once: {find!r}"
        src = src.replace(find, replace)
    target.write_text(src)
    return dest


def _grade_many(jobs: dict) -> dict:
    """{key: submission path} -> {key: conftest.Graded} (Q5 under cs231n_a3), two gradings at a time."""
    with cf.ThreadPoolExecutor(max_workers=2) as pool:
        futs = {k: pool.submit(grade, sub, rubric="cs231n_a3", questions="Q5", fixtures=FIXTURES)
                for k, sub in jobs.items()}
        return {k: f.result() for k, f in futs.items()}


def test_reference_full_marks_template_zero():
    res = _grade_many({"reference": REFERENCE, "template": TEMPLATE})
    ref, tpl = res["reference"], res["template"]
    q5 = [n for n in ref.tests if n.startswith("Q5.")]
    assert len(q5) == 13 == len(ref.tests) and not ref.lost(), ref.lost()
    assert ref.results["score"] == 20
    training = ref.tests["Q5.9 GAN training run"]
    assert "ran on the CPU" in training["output"] or "ran on the GPU" in training["output"]
    assert list(tpl.tests) == list(ref.tests)
    earned = {n: (t["score"], t["output"][:300]) for n, t in tpl.tests.items() if t["score"]}
    assert tpl.results["score"] == 0 and not earned, earned
    out = {n: t["output"] for n, t in tpl.tests.items()}
    assert "discriminator() returns a model with 0 parameters, expected 267009" in out["Q5.2 discriminator"]
    assert "not implemented" in out["Q5.1 sample_noise"]
    assert "not implemented" in out["Q5.4 discriminator_loss and generator_loss"]
    assert "not implemented" in out["Q5.6 get_optimizer"]
    assert "not implemented" in out["Q5.9 GAN training run"]
    for n, text in out.items():
        print(f"{n}: {text.splitlines()[1][:150]}")


def test_catalogue_has_the_required_mutants():
    names = {m.name for m in Q5_MUTANTS}
    assert REQUIRED_KINDS <= names, REQUIRED_KINDS - names
    assert len(Q5_MUTANTS) >= 5


# CS231n 2021-2022 as students handed it in (probe round M): the provided bce_loss, which squeezes the logits,
# labels made as (N,) tensors, and both networks ending in (N,) logits (an nn.Flatten(0) after the last Linear):
# the squeeze failed the losses' batch of one, and the (N,) logits the forward checks (5 points on right values)
BCE_SQUEEZE = ("def bce_loss(", "def bce_loss(input, target):\n    bce = nn.BCEWithLogitsLoss()\n"
               "    return bce(input.squeeze(), target)\n")
STYLE_2021_FLAT_LOGITS = [
    BCE_SQUEEZE,
    ("    real_part = bce_loss(logits_real, torch.ones_like(logits_real))\n"
     "    fake_part = bce_loss(logits_fake, torch.zeros_like(logits_fake))\n",
     "    N = logits_real.shape[0]\n    real_part = bce_loss(logits_real, torch.ones(N, device=logits_real.device))\n"
     "    fake_part = bce_loss(logits_fake, torch.zeros(N, device=logits_fake.device))\n"),
    ("    loss = bce_loss(logits_fake, torch.ones_like(logits_fake))\n",
     "    loss = bce_loss(logits_fake, torch.ones(logits_fake.shape[0], device=logits_fake.device))\n"),
    ("        nn.Linear(256, 1),\n", "        nn.Linear(256, 1),\n        nn.Flatten(0),\n"),
    ("        nn.Linear(4 * 4 * 64, 1),\n", "        nn.Linear(4 * 4 * 64, 1),\n        nn.Flatten(0),\n"),
]


def test_2019_and_2020_course_variants_get_full_marks(tmp_path):
    subs = {"2019": _patched(tmp_path / "s2019", STYLE_2019), "2020": _patched(tmp_path / "s2020", STYLE_2020),
            "2021 flat logits": _patched(tmp_path / "s2021", STYLE_2021_FLAT_LOGITS)}
    for key, g in _grade_many(subs).items():
        assert not g.lost(), (key, g.lost())
        assert g.results["score"] == 20 and len(g.tests) == 13, key


# ------------------------------------------------------------------ margins measured in-process
def test_forward_tolerance_margins():
    """Equivalent layouts stay 100x inside FORWARD_TOL; the LeakyReLU/Tanh bugs are 100x outside."""
    import torch
    import torch.nn as nn

    from grader.engine import cases as fx
    from grader.fixturegen.gan import reference_model
    from grader.checks.test_q5_gan import FORWARD_TOL
    from grader.inworker.gan import init_arrays
    from grader.course.models import load_params_by_order

    torch.set_num_threads(1)

    def err(model, case):
        load_params_by_order(model, init_arrays(case.params["shapes"], case.seed, case.params["offsets"]))
        model.train()
        with torch.no_grad():
            out = model(torch.from_numpy(case.inputs["x"])).numpy().astype(np.float64)
        want = case.expected["out"]
        return float(np.max(np.abs(out - want)) / np.max(np.abs(want)))

    d_case = next(c for c in fx.cases("discriminator_forward", FIXTURES) if not c.hidden)
    g_case = next(c for c in fx.cases("generator_forward", FIXTURES) if not c.hidden)
    dcg_case = next(c for c in fx.cases("build_dc_generator_forward", FIXTURES) if not c.hidden)
    same = {
        "discriminator": err(reference_model("discriminator"), d_case),
        "discriminator, extra Flatten": err(nn.Sequential(nn.Flatten(), *reference_model("discriminator")), d_case),
        "generator": err(reference_model("generator"), g_case),
        "dc generator": err(reference_model("build_dc_generator"), dcg_case),
    }
    leaky = reference_model("discriminator")
    leaky[2], leaky[4] = nn.LeakyReLU(0.2), nn.LeakyReLU(0.2)
    bugs = {"LeakyReLU 0.2": err(leaky, d_case),
            "generator without Tanh": err(nn.Sequential(*list(reference_model("generator"))[:-1]), g_case)}
    print("correct layouts:", {k: f"{v:.1e}" for k, v in same.items()})
    print("bugs:", {k: f"{v:.1e}" for k, v in bugs.items()})
    assert max(same.values()) <= FORWARD_TOL / 100
    assert min(bugs.values()) >= FORWARD_TOL * 100


def test_loss_tolerance_margin():
    """Other correct float32 formulations stay 50x inside LOSS_TOL."""
    import torch
    import torch.nn.functional as F

    from grader.engine import cases as fx
    from grader.checks.test_q5_gan import LOSS_TOL
    from grader.checklib.compare import rel_error

    def bce_2019(s, y):
        neg_abs = -s.abs()
        return (s.clamp(min=0) - s * y + (1 + neg_abs.exp()).log()).mean()

    worst = 0.0
    for case in fx.cases("gan_losses", FIXTURES):
        lr = torch.from_numpy(case.inputs["logits_real"])
        lf = torch.from_numpy(case.inputs["logits_fake"])
        for bce in (bce_2019, lambda s, y: F.binary_cross_entropy_with_logits(s, y)):
            d = bce(lr, torch.ones(lr.size()).type(torch.FloatTensor)) + bce(lf, torch.zeros_like(lf))
            g = bce(lf, torch.ones_like(lf))
            worst = max(worst, rel_error(float(d), case.expected["d_loss"]),
                        rel_error(float(g), case.expected["g_loss"]))
    for case in fx.cases("ls_losses", FIXTURES):
        sr = torch.from_numpy(case.inputs["scores_real"])
        sf = torch.from_numpy(case.inputs["scores_fake"])
        d = 0.5 * torch.mean((sr - 1) ** 2) + 0.5 * torch.mean(sf ** 2)
        g = 0.5 * torch.mean((sf - 1) ** 2)
        worst = max(worst, rel_error(float(d), case.expected["d_loss"]), rel_error(float(g), case.expected["g_loss"]))
    print(f"worst relative error of correct float32 losses: {worst:.1e} (LOSS_TOL {LOSS_TOL:.0e})")
    assert worst <= LOSS_TOL / 50


def test_training_margin_over_seeds():
    """The reference trains far past the thresholds on the check's configuration and on other seeds."""
    import torch

    from grader.course import gan as course_gan
    from grader.inworker import gan as inworker_gan
    from grader.oracle import gan as oracle_gan

    torch.set_num_threads(1)
    gaps = []
    for seed in range(3):
        cfg = course_gan.training_config()
        cfg.update(seed=seed, data_seed=1000 + seed)
        cfg["d_init"]["seed"] = 10 + seed
        cfg["g_init"]["seed"] = 20 + seed
        res = inworker_gan._train_once(cfg, "cpu")
        sep = oracle_gan.separation(res["d_params"], res["g_params"])
        print(f"seed {seed}: {res['seconds']:.2f} s, AUC {sep['auc']:.3f}, probability gap {sep['prob_gap']:.3f}, "
              f"logit gap {sep['logit_gap']:.1f}")
        assert np.all(np.isfinite(res["d_loss"])) and np.all(np.isfinite(res["g_loss"]))
        assert sep["auc"] >= course_gan.TRAINING_MIN_AUC + 0.05
        gaps.append(sep["prob_gap"])
    assert min(gaps) >= course_gan.TRAINING_MIN_PROB_GAP + 0.4
