"""Q5: generative adversarial networks (PyTorch), CS231n profile only.

Student code runs in the worker through grader.inworker.gan (which adapts to the
2019 notebook's and the 2020 files' signatures); every verdict is computed
here, against the fixtures (grader/gan_config.py) or, for the training run, by
rebuilding the course's models from the trained parameters in this process.

Forward checks load fixture weights into the student's model *by parameter
order and shape* (grader.inworker.gan.model_forward), never by state-dict key,
and run on the CPU in float32 on batches of 128 (the notebook's global
batch_size, which 2019 solutions hard-wire into Unflatten).  BatchNorm runs in
training mode, as everywhere in the notebook ("We are always training in GAN
mode"): with fixed weights and a fixed batch of 128, batch statistics are
deterministic, and eval mode would only test the untouched running buffers.

Tolerances (each with its reason):
- FORWARD_TOL: model outputs with fixture weights, compared as
  max|got - expected| / max|expected|.  Same float32 CPU kernels, one thread, on
  both sides: the reference, an extra Flatten, the 2019-style (global
  batch_size, view-based Flatten/Unflatten) and 2020-style (nn.Flatten,
  nn.Unflatten) layouts measure 0 (bit-identical; tests/test_q5_checks.py).
  Across machines (`python -m grader.tools.spread`: 2 threads, an older CPU's
  kernels emulated) the DC generator's output (BatchNorm on batch statistics)
  moves by up to 1.7e-5, the DC classifier by 6.2e-7, the generator by 1.4e-6,
  and another CPU measured 7.7e-6 (DC generator); 1.8e-3 keeps 106x over
  that spread, and the catalogued architecture bugs stay >= 109x above it
  (LeakyReLU 0.2 instead of 0.01: 0.197; a missing Tanh: 2.9).
- LOSS_TOL: the course's relative error, float32 logits against float64
  expected values.  The notebook reports 3e-8..4e-8 for correct solutions and
  asks for < 1e-7 against its own float32 answers; the 2019 bce formula and
  torch's binary_cross_entropy_with_logits in float32 measure <= 5.1e-8 on
  every case here, so 1e-5 leaves ~200x margin, while a summed loss (x N), a
  halved one (x 0.5) or swapped labels are >= 1e-1 off.
- Optimizer hyper-parameters: exact up to float formatting (1e-9 relative).
"""
from __future__ import annotations

import numpy as np

from grader.course import gan as gan_config

try:  # the grader's own verdict; the student pre-check ships without it and asks the worker instead
    from grader.oracle import gan as trusted_gan
except ImportError:
    trusted_gan = None
from grader.engine import cases
from grader.checklib import provided
from grader.checklib import blocks
from grader.checklib.compare import CheckFailure, as_array, fail, rel_error

GAN_FILE = "gan_pytorch.py"

FORWARD_TOL = 1.8e-3
LOSS_TOL = 1e-5
HYPER_TOL = 1e-9
BCE_LOSSES = ("discriminator_loss", "generator_loss")
# sample_noise on 4096 x 8 draws: each quarter of (-1, 1) must hold 25% +- 3%
# (the binomial standard deviation is 0.24%, so a correct sampler is 12 sigma
# inside), the extremes must come within 0.1 of -1 and 1.
NOISE_BIN_TOL = 0.03
NOISE_EDGE = 0.9

BUILDER_HINTS = {
    "discriminator": "784 -> 256 -> 256 -> 1 Linear layers with biases and LeakyReLU(0.01) between them",
    "generator": "noise_dim -> 1024 -> 1024 -> 784 Linear layers with ReLU between them and a final Tanh",
    "build_dc_classifier": "two Conv2d(5x5) + LeakyReLU(0.01) + MaxPool(2x2, stride 2) stages, then "
                           "Linear(1024 -> 1024), LeakyReLU(0.01), Linear(1024 -> 1)",
    "build_dc_generator": "Linear(noise_dim -> 1024), ReLU, BatchNorm1d, Linear(1024 -> 6272), ReLU, BatchNorm1d, "
                          "Unflatten to (N, 128, 7, 7), ConvTranspose2d(128 -> 64, 4, 2, 1), ReLU, BatchNorm2d, "
                          "ConvTranspose2d(64 -> 1, 4, 2, 1), Tanh, Flatten",
}
FORWARD_HINTS = {
    "discriminator": "check the activation (LeakyReLU with negative slope 0.01) and the layer order",
    "generator": "check the activations: ReLU after the first two Linear layers and a Tanh at the end",
    "build_dc_classifier": "check the LeakyReLU slope (0.01), the kernel sizes and the pooling (2x2, stride 2)",
    "build_dc_generator": "check the order ReLU then BatchNorm, the ConvTranspose2d stride/padding and the final "
                          "Tanh; BatchNorm runs in training mode (batch statistics), as in the notebook",
}


# ------------------------------------------------------------------ plumbing
def _helper(student, fn, *args, label):
    """grader.inworker.gan.<fn>(*args) in the worker, on the student's module; an error raised inside
    the course's provided code (bce_loss, Flatten ...) is reported as such."""
    try:
        return student.helper("gan", fn, *args, label=label, needs=GAN_FILE).value
    except CheckFailure as exc:
        raise provided.explain(exc, student.report) from None


def _need(student, *names):
    for n in names:
        student.resolve(GAN_FILE, n)


def _tensor(name, value, what="a torch tensor"):
    """The array inside a returned torch tensor; anything else fails with what was returned."""
    if value is None:
        fail(f"{name} returned None: not implemented yet")
    if not (isinstance(value, dict) and "__tensor__" in value):
        kind = "numpy array" if isinstance(value, np.ndarray) else type(value).__name__
        fail(f"{name} returned a {kind}; {what} was expected")
    return as_array(name, value)


# ------------------------------------------------------------------ 5.1 sample_noise
@cases.of("sample_noise")
def test_sample_noise(student, case):
    _need(student, "sample_noise")
    b, d = case.params["batch_size"], case.params["dim"]
    label = f"sample_noise({b}, {d})"
    first = student.call(GAN_FILE, "sample_noise", b, d, label=label, seed=case.seed).value
    second = student.call(GAN_FILE, "sample_noise", b, d, label=label).value
    z = _tensor(label, first, "a torch tensor (use torch.rand)")
    if z.shape != (b, d):
        fail(f"{label} has shape {tuple(z.shape)}, expected {(b, d)}")
    if z.dtype.kind != "f":
        fail(f"{label} has dtype {first.get('dtype')}; floating-point noise was expected")
    if not np.all(np.isfinite(z)):
        fail(f"{label} contains NaN/inf values")
    lo, hi = float(z.min()), float(z.max())
    if lo < -1.0 or hi > 1.0:
        fail(f"{label} has values in [{lo:.3f}, {hi:.3f}], outside (-1, 1): draw uniform noise "
             "(torch.rand) and rescale it, do not use a normal distribution")
    if not (lo < 0.0 < hi):
        fail(f"{label} has values only in [{lo:.3f}, {hi:.3f}]: the noise must cover (-1, 1), both signs; "
             "torch.rand is uniform on [0, 1), so rescale it: 2 * torch.rand(...) - 1")
    if z.size >= 10000:
        if lo > -NOISE_EDGE or hi < NOISE_EDGE:
            fail(f"{b * d} draws of {label} span only [{lo:.3f}, {hi:.3f}]: the noise must be uniform on (-1, 1)")
        frac = np.histogram(z, bins=4, range=(-1.0, 1.0))[0] / z.size
        if np.any(np.abs(frac - 0.25) > NOISE_BIN_TOL):
            fail(f"{b * d} draws of {label} are not uniform on (-1, 1): the quarters (-1, -0.5), (-0.5, 0), "
                 f"(0, 0.5), (0.5, 1) hold {', '.join(f'{f:.0%}' for f in frac)} of the values, expected 25% each")
    z2 = _tensor(label, second)
    if z2.shape == z.shape and np.array_equal(z, z2):
        fail(f"two calls of {label} returned the same values: draw fresh random noise on every call "
             "(do not reseed inside sample_noise unless a seed is passed)")


# ------------------------------------------------------------------ parameter counts
def _check_params(student, builder, case):
    _need(student, builder)
    nd = case.params.get("noise_dim")
    info = _helper(student, "model_info", builder, nd, label=f"{builder}(...)")
    want = int(case.expected["count"])
    call = info.get("call", builder + "()")
    count = info.get("count")
    if not isinstance(count, int) or isinstance(count, bool):
        fail(f"{call} could not be inspected")
    if count == 0:
        fail(f"{call} returns a model with 0 parameters, expected {want}: not implemented yet "
             f"(fill in the layers: {BUILDER_HINTS[builder]})")
    if count != want:
        fail(f"{call} returns a model with {count} parameters, expected {want} (the notebook's count test); "
             f"the architecture is {BUILDER_HINTS[builder]}")
    # A count alone is easy to hit with the wrong layers (one Linear of the right size): it counts only
    # together with the right outputs for the test weights.
    fwd = next((c for c in cases.cases(f"{builder}_forward", student.fixtures) if not c.hidden), None)
    if fwd is not None:
        try:
            student.once(("forward-ok", builder), lambda: _check_forward(student, builder, fwd))
        except CheckFailure as exc:
            # the forward check's own reason: an output of the wrong shape is not "the wrong layers"
            fail(f"{call} has the notebook's parameter count, {want}, which counts only with the right outputs for "
                 f"the test weights, and its forward pass fails: {exc}; the architecture is "
                 f"{BUILDER_HINTS[builder]}")


@cases.of("discriminator_params")
def test_discriminator_params(student, case):
    _check_params(student, "discriminator", case)


@cases.of("generator_params")
def test_generator_params(student, case):
    _check_params(student, "generator", case)


@cases.of("build_dc_classifier_params")
def test_dc_classifier_params(student, case):
    _check_params(student, "build_dc_classifier", case)


@cases.of("build_dc_generator_params")
def test_dc_generator_params(student, case):
    _check_params(student, "build_dc_generator", case)


# ------------------------------------------------------------------ forward passes with fixture weights
# The networks that output one logit per image: (N, 1) as the course's layers end, or (N,) (a .view(-1), a
# squeeze), as the losses' docstrings take them; both feed the course's bce_loss, which squeezes (probe round
# M: a discriminator ending in .view(-1) lost 5 points on right values)
LOGIT_BUILDERS = ("discriminator", "build_dc_classifier")

def _check_forward(student, builder, case):
    _need(student, builder)
    p = case.params
    x = case.inputs["x"]
    res = _helper(student, "model_forward", builder, p.get("noise_dim"), p["shapes"], case.seed, p["offsets"], x,
                  bool(p.get("train", True)),
                  # the shape the notebook feeds (its loader's (N, 1, 28, 28) images): a model that only takes
                  # (N, 784) fails here, and the student needs to know what it was given
                  label=f"{builder}(...) forward pass on input of shape {tuple(np.shape(x))}")
    if not isinstance(res, dict):
        fail(f"{builder}: the forward pass could not be run")
    call = res.get("call", builder + "()")
    if res.get("mismatch"):
        got = res.get("shapes") or []
        if not got:
            fail(f"{call} returns a model with no parameters: not implemented yet "
                 f"(the architecture is {BUILDER_HINTS[builder]})")
        want = [tuple(s) for s in p["shapes"]]
        got = [tuple(s) for s in got]
        bad = next((i for i in range(min(len(got), len(want))) if got[i] != want[i]), None)
        if bad is None:
            detail = f"{len(got)} parameter tensors, the course's architecture has {len(want)}"
        else:
            detail = f"parameter {bad} has shape {got[bad]}, the course's architecture has {want[bad]} there"
        fail(f"{call}: the test weights are loaded by parameter order and shape, and {detail}; "
             f"the architecture is {BUILDER_HINTS[builder]}")
    out = _tensor(f"the output of {call}", res.get("out"))
    want = np.asarray(case.expected["out"])
    if builder in LOGIT_BUILDERS and want.ndim == 2 and want.shape[1] == 1 and out.shape == want.shape[:1]:
        out = out.reshape(want.shape)  # logits of shape (N,): what the losses' docstrings ask for (DESIGN.md)
    if out.shape != want.shape:
        fail(f"the output of {call} on input of shape {tuple(x.shape)} has shape {tuple(out.shape)}, "
             f"expected {tuple(want.shape)}")
    if not np.all(np.isfinite(out)):
        fail(f"the output of {call} contains NaN/inf values")
    err = float(np.max(np.abs(out.astype(np.float64) - want)) / max(float(np.max(np.abs(want))), 1e-12))
    if not err <= FORWARD_TOL:
        fail(f"the output of {call} with the test weights differs from the expected output: largest difference "
             f"{err:.1e} of the output's scale, expected below {FORWARD_TOL:.0e}; {FORWARD_HINTS[builder]}")


@cases.of("discriminator_forward")
def test_discriminator_forward(student, case):
    _check_forward(student, "discriminator", case)


@cases.of("generator_forward")
def test_generator_forward(student, case):
    _check_forward(student, "generator", case)


@cases.of("build_dc_classifier_forward")
def test_dc_classifier_forward(student, case):
    _check_forward(student, "build_dc_classifier", case)


@cases.of("build_dc_generator_forward")
def test_dc_generator_forward(student, case):
    _check_forward(student, "build_dc_generator", case)


# ------------------------------------------------------------------ losses
def _bce(s, y):
    s = np.asarray(s, dtype=np.float64)
    return float(np.mean(np.maximum(s, 0) - s * y + np.log1p(np.exp(-np.abs(s)))))


LOSS_ARGS = {"discriminator_loss": ("logits_real", "logits_fake"), "generator_loss": ("logits_fake",),
             "ls_discriminator_loss": ("scores_real", "scores_fake"), "ls_generator_loss": ("scores_fake",)}


def _loss_value(student, fn, arrays, case):
    label = f"{fn}(...)"
    res = _helper(student, "loss_on_logits", fn, *arrays, label=label)
    value = res.get("value") if isinstance(res, dict) else None
    got = _tensor(fn, value, "a scalar torch tensor (a Python number cannot be backpropagated)")
    if got.size != 1:
        fail(f"{fn} returned a tensor of shape {tuple(got.shape)}; a scalar loss (shape () or (1,)) was expected: "
             "average over the batch")
    # training backpropagates the loss into both networks: a loss cut off from its logits (.detach(), .item(),
    # torch.tensor(...)) has the right value and trains nothing (run_a_gan raises "element 0 of tensors does not
    # require grad", or the discriminator never learns from the fakes)
    names = LOSS_ARGS.get(fn, ())
    links = res.get("connected") if isinstance(res, dict) else None
    cut = names if not isinstance(links, list) else [n for n, ok in zip(names, links) if ok is not True]
    if cut:
        fail(f"{fn}'s result does not depend on {' and '.join(cut)} through autograd (requires_grad is False "
             "there): compute it with torch operations on the given logits, without .detach(), .data, .item(), "
             "float(...) or torch.tensor(...) in between, or training cannot backpropagate through it")
    v = float(got.reshape(-1)[0])
    if not np.isfinite(v):
        fail(f"{fn} returned {v}" + ("; compute it with the numerically stable bce_loss provided "
                                     "(log(sigmoid(s)) overflows for large logits)" if fn in BCE_LOSSES else ""))
    return v


def _other_shape(a):
    """The course's other shape for a batch of logits: (N,) <-> (N, 1)."""
    a = np.asarray(a)
    return a.reshape(-1, 1) if a.ndim == 1 else a.reshape(-1)


def _shape_text(arrays) -> str:
    return "(N,)" if np.asarray(arrays[0]).ndim == 1 else "(N, 1)"


def _check_losses(student, case, pairs, hints):
    """Each loss on the case's logits; the docstrings say (N,) while the discriminator returns (N, 1), and
    the course's years wrote for one or the other: where the case's shape fails (an error or a wrong
    value), the other shape is tried too, and either one right passes."""
    problems = []
    for fn, arrays, want in pairs:
        outcomes = []  # (0 for a wrong value / 1 for an error, message, the logits used)
        for attempt in (arrays, tuple(_other_shape(a) for a in arrays)):
            try:
                got = _loss_value(student, fn, attempt, case)
            except CheckFailure as exc:
                outcomes.append((1, str(exc), attempt))
                continue
            err = rel_error(got, want)
            if err <= LOSS_TOL:
                outcomes = []
                break
            msg = f"{fn}: relative error {err:.1e}, expected below {LOSS_TOL:.0e}"
            if not case.hidden:
                msg += f" (got {got:.6g}, expected {want:.6g})"
            hint = hints(fn, got, want, attempt)
            outcomes.append((0, msg + (f"; {hint}" if hint else ""), attempt))
        if outcomes:  # a wrong value says more than an error; then the case's own shape first
            _, text, used = min(outcomes, key=lambda o: o[0])
            problems.append(f"{text} [with logits of shape {_shape_text(used)}; shape "
                            f"{_shape_text((_other_shape(used[0]),))} was tried too]")
    if problems:
        fail("; ".join(problems))


def _gan_hints(fn, got, want, arrays):
    n = np.asarray(arrays[0]).size
    if n > 1 and rel_error(got, want * n) < 1e-3:
        return "the loss is summed over the batch; average it instead (bce_loss already averages)"
    if fn == "discriminator_loss":
        lr, lf = arrays
        if rel_error(got, _bce(lr, 0.0) + _bce(lf, 1.0)) < 1e-3:
            return "the labels are swapped: real images are labelled 1, generated ones 0"
        if rel_error(got, want / 2) < 1e-3:
            return "add the real and the fake terms, do not average them"
    if fn == "generator_loss" and rel_error(got, _bce(arrays[0], 0.0)) < 1e-3:
        return "the generator wants its images labelled real (1)"
    if fn == "generator_loss" and rel_error(got, -_bce(arrays[0], 0.0)) < 1e-3:
        return ("this is -bce_loss(logits_fake, 0), i.e. it minimizes log(1 - D(G(z))), which saturates when the "
                "discriminator wins; the course's generator loss is bce_loss(logits_fake, 1) = -mean log D(G(z))")
    return "use bce_loss with labels of ones for real images and zeros for generated ones"


def _ls_hints(fn, got, want, arrays):
    n = np.asarray(arrays[0]).size
    if n > 1 and rel_error(got, want * n) < 1e-3:
        return "the loss is summed over the batch; average it instead (torch.mean)"
    if rel_error(got, 2 * want) < 1e-3:
        return "each term carries a factor 1/2"
    return "use the scores directly: 0.5 * mean((D(x) - 1)^2) + 0.5 * mean(D(G(z))^2), and 0.5 * mean((D(G(z)) - 1)^2)"


@blocks.own_test("discriminator", "discriminator_forward", test="discriminator_forward")
def _own_discriminator(student, case):
    _check_forward(student, "discriminator", case)


@blocks.own_test("generator", "generator_forward", test="generator_forward")
def _own_generator(student, case):
    _check_forward(student, "generator", case)


@blocks.own_test("discriminator_loss", "gan_losses", test="gan_losses")
def _own_discriminator_loss(student, case):
    _need(student, "discriminator_loss")
    _check_losses(student, case, [("discriminator_loss", (case.inputs["logits_real"], case.inputs["logits_fake"]),
                                   case.expected["d_loss"])], lambda *a: "")


@blocks.own_test("generator_loss", "gan_losses", test="gan_losses")
def _own_generator_loss(student, case):
    _need(student, "generator_loss")
    _check_losses(student, case, [("generator_loss", (case.inputs["logits_fake"],), case.expected["g_loss"])],
                  lambda *a: "")


@cases.of("gan_losses")
def test_gan_losses(student, case):
    _need(student, "discriminator_loss", "generator_loss")
    lr, lf = case.inputs["logits_real"], case.inputs["logits_fake"]
    _check_losses(student, case, [("discriminator_loss", (lr, lf), case.expected["d_loss"]),
                                  ("generator_loss", (lf,), case.expected["g_loss"])],
                  (lambda *a: "") if case.hidden else _gan_hints)


@cases.of("ls_losses")
def test_ls_losses(student, case):
    _need(student, "ls_discriminator_loss", "ls_generator_loss")
    sr, sf = case.inputs["scores_real"], case.inputs["scores_fake"]
    _check_losses(student, case, [("ls_discriminator_loss", (sr, sf), case.expected["d_loss"]),
                                  ("ls_generator_loss", (sf,), case.expected["g_loss"])],
                  (lambda *a: "") if case.hidden else _ls_hints)


# ------------------------------------------------------------------ optimizer
# The optimizer is judged by what it does, not by what it says about itself: ten step()s on a small
# model with known parameters and gradients, against torch.optim.Adam's update computed here in float64
# (error: largest difference of the parameters' changes over the largest change).  Measured: the
# reference's float32 steps are 4.7e-5 off (OPT_SPREAD); the closest bugs are beta2 0.99 (1.3e-2), AdamW's
# weight decay (2.2e-2), eps 1e-3 (2.5e-2), beta1 0.6 (0.13), torch's default betas (0.55), lr 1e-2 (9),
# SGD (54).  5e-3 keeps 106x over the spread and 2.6x under the closest bug.
OPT_SHAPES = ((4, 5), (4,), (1, 4), (1,))
OPT_SEED = 20190601
OPT_SPREAD = 4.7e-5
OPT_TOL = 5e-3


def _opt_inputs():
    from grader.course.models import seeded_params
    params = seeded_params(OPT_SHAPES, OPT_SEED)
    rs = np.random.RandomState(OPT_SEED + 1)
    # ten steps: gradients whose sign flips (beta1 shows) and whose size grows 100-fold (beta2 shows)
    scales = (1.0, -0.5, 1.0, 3.0, -10.0, 30.0, -100.0, 100.0, -100.0, 100.0)
    base = [rs.standard_normal(sh) for sh in OPT_SHAPES]
    return params, [[(k * (g + 0.3 * rs.standard_normal(g.shape))).astype(np.float32) for g in base]
                    for k in scales]


def _step_error(steps, want, params) -> float:
    err = 0.0
    for got_t, want_t in zip(steps, want):
        d_got = np.concatenate([(np.asarray(g, np.float64) - p).ravel() for g, p in zip(got_t, params)])
        d_want = np.concatenate([(w - p).ravel() for w, p in zip(want_t, params)])
        err = max(err, float(np.max(np.abs(d_got - d_want)) / max(float(np.max(np.abs(d_want))), 1e-30)))
    return err


@cases.of("get_optimizer")
def test_get_optimizer(student, case):
    check_get_optimizer(student, case)


@blocks.own_test("get_optimizer")
def check_get_optimizer(student, case):
    _need(student, "get_optimizer")
    params, grads = _opt_inputs()
    info = _helper(student, "optimizer_steps", params, grads, label="get_optimizer(model) and ten step()s")
    if not isinstance(info, dict) or info.get("none"):
        fail("get_optimizer returned None: not implemented yet (return optim.Adam(model.parameters(), ...))")
    steps = info.get("steps")
    if not isinstance(steps, list) or len(steps) != len(grads):
        fail(f"get_optimizer returned a {str(info.get('type'))[:60]} without step() and zero_grad(); a "
             "torch.optim.Adam was expected")
    try:
        steps = [[as_array("a parameter", a).astype(np.float64) for a in st] for st in steps]
    except CheckFailure:
        fail("the optimizer's steps left parameters that are not numeric arrays")
    if any(len(st) != len(params) or any(a.shape != np.shape(p) for a, p in zip(st, params)) for st in steps):
        fail("the optimizer changed the shapes of the model's parameters")
    base = [np.asarray(p, np.float64) for p in params]
    want = adam_steps(base, grads, case.expected["lr"], case.expected["beta1"], case.expected["beta2"])
    err = _step_error(steps, want, base)
    if err <= OPT_TOL:
        return
    moved = [bool(np.any(a != p)) for a, p in zip(steps[0], base)]
    if not all(moved):
        fail(f"the optimizer's step() changed {sum(moved)} of the model's {len(moved)} parameter tensors: pass "
             "all of model.parameters() to the optimizer")
    hint = "an Adam optimizer with lr 1e-3 and betas (0.5, 0.999) (the notebook's)"
    if _step_error(steps, adam_steps(base, grads, case.expected["lr"], 0.9, 0.999), base) <= OPT_TOL:
        hint = "betas are torch's defaults (0.9, 0.999); the notebook uses beta1 = 0.5, beta2 = 0.999"
    else:
        d1 = np.concatenate([(a - p).ravel() for a, p in zip(steps[0], base)])
        g1 = np.concatenate([g.ravel() for g in grads[0]]).astype(np.float64)
        lr_seen = float(np.median(np.abs(d1)))
        if np.allclose(d1, -lr_seen / np.median(np.abs(g1)) * g1, rtol=1e-3, atol=1e-9):
            hint = "the steps are plain gradient descent (SGD), not Adam"
        elif abs(lr_seen - case.expected["lr"]) > 0.1 * case.expected["lr"]:
            hint = f"the first step has size {lr_seen:.1e}: the learning rate should be {case.expected['lr']:g}"
    fail(f"ten step()s of your optimizer do not move the parameters as Adam(lr={case.expected['lr']:g}, "
         f"betas=({case.expected['beta1']:g}, {case.expected['beta2']:g})) does (error {err:.1e} of the step "
         f"size, expected below {OPT_TOL:.0e}): {hint}")


def adam_steps(params, grads_seq, lr, beta1, beta2, eps=1e-8):
    """The parameters after each step of torch.optim.Adam (no weight decay), in float64."""
    p = [np.asarray(a, np.float64).copy() for a in params]
    m, v, out = [np.zeros_like(a) for a in p], [np.zeros_like(a) for a in p], []
    for t, grads in enumerate(grads_seq, start=1):
        for k, g in enumerate(grads):
            g = np.asarray(g, np.float64)
            m[k] = beta1 * m[k] + (1 - beta1) * g
            v[k] = beta2 * v[k] + (1 - beta2) * g * g
            p[k] = p[k] - lr * (m[k] / (1 - beta1 ** t)) / (np.sqrt(v[k] / (1 - beta2 ** t)) + eps)
        out.append([a.copy() for a in p])
    return out


# ------------------------------------------------------------------ training run
TRAINING_BLOCKS = ("discriminator", "generator", "discriminator_loss", "generator_loss", "get_optimizer")


def test_gan_training(student):
    blocks.judged(student, lambda standins: check_gan_training(student, standins), TRAINING_BLOCKS,
                  available=trusted_gan is not None, only_blocks=True)


def check_gan_training(student, standins=()):
    _need(student, *[n for n in TRAINING_BLOCKS if n not in standins])
    cfg = gan_config.training_config()
    label = ("training your GAN (discriminator, generator, discriminator_loss, generator_loss, get_optimizer)"
             if not standins else f"training your GAN with the grader's {', '.join(sorted(standins))}")
    if standins:
        res = student.helper("gan", "train_gan", cfg, sorted(standins), label=label, needs=GAN_FILE,
                             callbacks=blocks.callbacks_for(trusted_gan, standins)).value
    else:
        res = _helper(student, "train_gan", cfg, label=label)
    if not isinstance(res, dict):
        fail("the training run returned nothing")
    if isinstance(res.get("error"), str):
        fail(f"the training run could not start: {res['error'][:500]}")
    device = res.get("device") if res.get("device") in ("cpu", "cuda") else "?"
    ran = f"(ran on the {'GPU' if device == 'cuda' else 'CPU'}: {cfg['g_steps']} generator steps, "\
          f"{cfg['d_steps']} discriminator steps each, batches of {cfg['batch_size']})"
    try:
        d_loss = as_array("discriminator losses", res.get("d_loss")).astype(np.float64).ravel()
        g_loss = as_array("generator losses", res.get("g_loss")).astype(np.float64).ravel()
        d_params = [as_array("a discriminator parameter", a) for a in res.get("d_params") or []]
        g_params = [as_array("a generator parameter", a) for a in res.get("g_params") or []]
    except CheckFailure as exc:
        fail(f"the training run returned malformed results ({exc}) {ran}")
    for name, hist in (("discriminator_loss", d_loss), ("generator_loss", g_loss)):
        if hist.size == 0:
            fail(f"the training run recorded no {name} values {ran}")
        if not np.all(np.isfinite(hist)):
            step = int(np.argmax(~np.isfinite(hist)))
            fail(f"{name} became NaN/inf at training step {step} {ran}")
    for name, arrays in (("discriminator", d_params), ("generator", g_params)):
        if any(a.dtype.kind != "f" or not np.all(np.isfinite(a)) for a in arrays):
            fail(f"after training, the {name}'s parameters contain NaN/inf values {ran}")
    try:
        if trusted_gan is not None:
            sep = trusted_gan.separation(d_params, g_params)
        else:
            logits = _helper(student, "separation_logits", d_params, g_params, label="evaluating your trained GAN")
            sep = gan_config.separation_scores(as_array("real logits", logits["real"]),
                                              as_array("fake logits", logits["fake"]))
    except ValueError as exc:
        fail(f"the trained parameters do not fit the course's architecture ({exc}) {ran}")
    if not sep.get("finite"):
        fail(f"after training, the discriminator's scores are NaN/inf {ran}")
    auc, gap = sep["auc"], sep["prob_gap"]
    if auc < gan_config.TRAINING_MIN_AUC or gap < gan_config.TRAINING_MIN_PROB_GAP:
        why = ("it rates generated images as more real than real ones: check the labels in discriminator_loss "
               "(real 1, fake 0) and its sign" if gap < 0 else
               "it did not learn: check that discriminator_loss depends on both sets of logits and that "
               "get_optimizer optimizes all of model.parameters()")
        fail(f"after training, the discriminator does not tell held-out real images from generated ones: it ranks "
             f"{auc:.0%} of real/fake pairs correctly (at least {gan_config.TRAINING_MIN_AUC:.0%} expected) and its "
             f"mean probability is {gap:+.2f} higher on real images (at least "
             f"{gan_config.TRAINING_MIN_PROB_GAP:+.2f} expected; measured by the grader from the trained "
             f"parameters); {why} {ran}")
