"""Fixture cases for Q3 (network visualization) and Q4 (style transfer), and the
settings their property checks share.

Everything runs on the seeded SqueezeNet 1.1 of ``grader.course.models`` (no
download) at ``SQUEEZENET_IMAGE_SIZE`` (64), on the CPU in float32 as the
course does.  Only inputs and expected outputs are stored; weights are rebuilt
from ``MODEL_SEED`` wherever they are needed.

Visible cases are the notebooks' own set-ups (saliency maps of a batch of
images, the stingray fooling image, the tarantula class visualization with
``l2_reg=1e-3, learning_rate=25``, params3 "Starry Night + Tubingen" of the
style-transfer notebook, the content loss against a black image, the Gram
matrix of layer 5); hidden ones use other images, labels, targets, layers,
weights, shapes, N=1 and batches.

``build(ref)`` is called by ``python -m grader fixtures`` with the reference
package imported.  The grader's own recomputations (numpy SqueezeNet, the
style-transfer objective) are in grader/oracle/squeezenet.py.
"""
from __future__ import annotations

import copy
import importlib
import os

import numpy as np

from grader.engine.cases import Case
from grader.oracle.squeezenet import MODEL_SEED, style_total_loss

SIZE = 64                   # == grader.course.models.SQUEEZENET_IMAGE_SIZE (asserted in build())
NUM_FEATURE_LAYERS = 13     # len(squeezenet1_1().features): what extract_features returns

# ---------------------------------------------------------------- Q3 fooling images
# The returned image must stay within this relative L2 distance of X
# (||X_fooling - X|| / ||X||).  Measured with the reference on the cases below
# (normalized gradient steps of norm 1, ||X|| ~ 100-120): 0.013 to 0.065 (2 to
# 23 steps); valid variants measured on the same cases: cross-entropy
# gradients 0.013-0.048, checking the prediction after the step, the norm in
# float64, the whole loop in float64: 0.013-0.065, and even never stopping
# early (100 steps, the image oscillates around the decision boundary)
# 0.184-0.218.  0.3 leaves 4.6x margin over the hardest reference case and
# 1.4x over the no-early-stop variant, and still rejects an image that is not
# "close": starting from noise or zeros (>= 1), or much larger steps.
FOOLING_MAX_REL_CHANGE = 0.3
# Cases are chosen so that the reference stops with the target ahead of the
# runner-up by at least this much (scores vary on a unit scale; float32 noise
# in a score is ~1e-6), so re-classifying the image in the grader cannot flip.
FOOLING_MIN_MARGIN = 1e-3
# ... and so that the reference needs at most this many of the course's 100 steps, in float32 and in float64.
# A case that takes most of the cap is a long tug-of-war between two classes, where float rounding picks the
# path: the former hidden case (seed 311 -> 683, oboe) took the reference 61 steps here, and two correct
# TensorFlow loops (tf.nn.l2_normalize, the norm taken in float64) 100 without reaching the target, 0.67
# points lost on correct code (found by probing).  On the cases below the norm taken in float64, g * (1 / ||g||)
# and the prediction checked after the step take the reference's number of steps; the whole loop in float64
# takes 13 on "gorilla" (the reference 20) and the same elsewhere; cross-entropy 2-15.  TensorFlow's model,
# with the five loops of that probe: 19-23 steps on "hidden-23-steps", all reaching the target.
FOOLING_MAX_STEPS = 40
FOOLING_CASES = [  # (name, image seed, target class): verified at generation time
    ("notebook", 302, 6),            # the notebook's target: 6, stingray (8 steps, 0.030)
    ("gorilla", 314, 366),           # 366, gorilla (20 steps, 0.055)
    ("hidden-23-steps", 328, 402),   # 402, acoustic guitar (23 steps, 0.065)
    ("hidden-target-999", 312, 999),  # last class (2 steps, 0.013)
    ("hidden-target-0", 313, 0),     # first class (2 steps, 0.014)
]


def fooling_steps(make_fooling_image, model, X, target: int) -> int:
    """Steps ``make_fooling_image`` (the reference's) takes from X (a (1, 3, H, W) tensor in the model's dtype)
    to the target: the model's forward passes less the last one, which finds the target (100 or 99 when the
    course's 100-step loop never gets there)."""
    calls: list = []
    hook = model.register_forward_hook(lambda *_: calls.append(1))
    try:
        make_fooling_image(X.clone(), target, model)
    finally:
        hook.remove()
    return len(calls) - 1


# ---------------------------------------------------------------- Q4 style transfer run
# params3 of the notebook ("Starry Night + Tubingen") on two synthetic 64x64
# images, 50 Adam steps of the provided loop (the notebook runs 200 at 192x192;
# at 64x64 the loss has dropped ~30x after 50).  Pass/fail: the grader's own
# float64 loss of the returned image over its loss at the content image must
# be at most STYLE_RUN_MAX_RATIO.  Measured with the reference: 0.0331 (1
# thread; 0.0333 with 2).  Losses that are wrong but still let Adam make
# progress are left to the value checks; measured on this run: Gram not
# normalized 0.044, content loss as a mean 0.043, TV one direction 0.034, TV
# with absolute values 0.034, only the first style layer 0.033, content loss
# without its weight 0.028.  The run fails losses that do not pull the image
# the right way: style loss without the per-layer weights 0.283, only the
# last style layer 0.295 (and a loss that is not differentiable, NaN, or of
# the wrong sign).  0.1 is 3x above the reference, 2.3x above the worst
# value-check-only bug and 2.8x below the closest failure.
STYLE_RUN = {
    "content_seed": 40, "style_seed": 41,
    "content_layer": 3, "content_weight": 6e-2,
    "style_layers": [1, 4, 6, 7], "style_weights": [300000.0, 1000.0, 15.0, 3.0],
    "tv_weight": 2e-2, "num_iterations": 50,
}
STYLE_RUN_MAX_RATIO = 0.1
# style_loss cases are checked under these two weightings (see the builder).
STYLE_WEIGHTINGS = ("course_weights", "balanced_weights")


# ================================================================ fixture builder
def tv_loss_2017_formula(img, tv_weight) -> np.float64:
    """The TV loss as the 2017 notebook's formula prints it (float64): w_t * sum over c, i < H, j < W of
    (x[i, j+1] - x[i, j])^2 + (x[i+1, j] - x[i, j])^2, i.e. both differences over the (H-1) x (W-1) corner
    only.  The checks accept it as a second reading of the course's text (grader/checks/test_q4_style.py)."""
    x = np.asarray(img, dtype=np.float64)
    corner = x[:, :, :-1, :-1]
    return np.float64(tv_weight * (np.sum((x[:, :, :-1, 1:] - corner) ** 2) + np.sum((x[:, :, 1:, :-1] - corner) ** 2)))


def _scalar(t) -> float:
    return float(t.detach().reshape(()).item())


def build(ref) -> list[Case]:
    import torch

    from grader.course import models as tm
    assert tm.SQUEEZENET_IMAGE_SIZE == SIZE
    nv = importlib.import_module("deeplearning.network_visualization")
    st = importlib.import_module("deeplearning.style_transfer")

    threads = torch.get_num_threads()
    torch.set_num_threads(int(os.environ.get("AUTOGRADER_FIXTURE_THREADS", "1")))  # the worker runs one thread
    try:
        return _build(torch, tm, nv, st)
    finally:
        torch.set_num_threads(threads)


def _build(torch, tm, nv, st) -> list[Case]:
    out: list[Case] = []

    def add(fn, name, inputs, expected, seed=None, params=None, desc=""):
        vis = "hidden" if name.startswith("hidden") else "visible"
        out.append(Case(fn, name, vis, inputs, expected, dict(params or {}, model_seed=MODEL_SEED), seed, desc))

    model = tm.squeezenet(MODEL_SEED)
    model64 = copy.deepcopy(model).double()
    assert len(model.features) == NUM_FEATURE_LAYERS

    def images(seed, n, size=SIZE):
        return tm.test_images(seed, n, size)

    # ------------------------------------------------------------ compute_saliency_maps
    rs = np.random.RandomState(182)
    for name, seed, n, labels in [("notebook", 231, 5, "predicted"),
                                  ("hidden-n1", 232, 1, "random"),
                                  ("hidden-batch3", 233, 3, [0, 999, 0])]:
        X = images(seed, n)
        if labels == "predicted":  # the notebook explains each image's (correct) predicted class
            with torch.no_grad():
                y = model(torch.from_numpy(X)).argmax(1).numpy().astype(np.int64)
        elif labels == "random":
            y = rs.randint(0, 1000, size=n).astype(np.int64)
        else:
            y = np.asarray(labels, dtype=np.int64)
        sal = nv.compute_saliency_maps(torch.from_numpy(X.copy()), torch.from_numpy(y), model).detach().numpy()
        # No ReLU / max-pool decision of this case sits within float32 noise of its threshold:
        # the float32 map agrees with a float64 computation far below the check's tolerance.
        Xd = torch.from_numpy(X.astype(np.float64)).requires_grad_()
        model64(Xd).gather(1, torch.from_numpy(y).view(-1, 1)).sum().backward()
        sal64 = Xd.grad.abs().amax(1).numpy()
        drift = float(np.abs(sal - sal64).max() / np.abs(sal64).max())
        assert drift < 1e-5, f"saliency case {name}: float32 vs float64 differ by {drift:.1e}"
        add("compute_saliency_maps", name, {"X": X, "y": y}, {"saliency": sal.astype(np.float32)}, seed,
            {"labels": "predicted classes" if labels == "predicted" else "given"},
            f"{n} image(s), saliency of the given classes")

    # ------------------------------------------------------------ make_fooling_image
    for name, seed, target in FOOLING_CASES:
        X = images(seed, 1)
        Xt = torch.from_numpy(X.copy())
        with torch.no_grad():
            before = int(model(Xt).argmax())
        fooled = nv.make_fooling_image(Xt, target, model).detach()
        assert np.array_equal(Xt.numpy(), X), "the reference modified X"
        with torch.no_grad():
            scores = model(fooled)[0]
        top2 = scores.sort(descending=True)[0][:2]
        rel = float((fooled - Xt).norm() / Xt.norm())
        assert before != target and int(scores.argmax()) == target, f"fooling case {name}: reference failed"
        assert float(top2[0] - top2[1]) >= FOOLING_MIN_MARGIN, f"fooling case {name}: target won by a hair"
        assert rel <= FOOLING_MAX_REL_CHANGE / 2, f"fooling case {name}: reference moved {rel:.3f}"
        steps = (fooling_steps(nv.make_fooling_image, model, Xt, target),
                 fooling_steps(nv.make_fooling_image, model64, Xt.double(), target))
        assert max(steps) <= FOOLING_MAX_STEPS, f"fooling case {name}: {steps} steps (float32, float64)"
        add("make_fooling_image", name, {"X": X, "target_y": np.int64(target)}, {}, seed,
            {"max_rel_change": FOOLING_MAX_REL_CHANGE, "reference_rel_change": round(rel, 4),
             "reference_class_before": before},
            f"image seed {seed} (class {before}) -> target {target}")

    # ------------------------------------------------------------ update_class_visulization
    for name, seed, kind, target, l2_reg, lr in [
            ("notebook", 0, "randn", 76, 1e-3, 25.0),        # tarantula, the notebook's defaults
            ("notebook-gorilla", 1, "randn", 366, 1e-3, 25.0),
            ("hidden-test-image", 5, "image", 130, 1e-2, 10.0),
            ("hidden-no-l2", 7, "randn", 999, 0.0, 5.0),
            ("hidden-strong-l2", 8, "image", 0, 0.1, 3.0)]:
        if kind == "randn":  # the notebook starts from torch.randn(1, 3, H, W)
            img = torch.randn(1, 3, SIZE, SIZE, generator=torch.Generator().manual_seed(seed)).numpy()
        else:
            img = images(1000 + seed, 1)
        t = torch.from_numpy(img.copy()).requires_grad_()
        assert nv.update_class_visulization(model, target, l2_reg, lr, t) is None
        after1 = t.detach().numpy().copy()
        # a second step on the same tensor, as create_class_visualization's loop takes them: a step that
        # leaves its gradient in img.grad adds it to the next step's
        assert nv.update_class_visulization(model, target, l2_reg, lr, t) is None
        add("update_class_visulization", name,
            {"img": img, "target_y": np.int64(target), "l2_reg": float(l2_reg), "learning_rate": float(lr)},
            {"img": after1, "img2": t.detach().numpy().copy()}, seed, {},
            f"one step from {'noise' if kind == 'randn' else 'an image'}, target {target}, "
            f"l2_reg {l2_reg:g}, learning_rate {lr:g}")

    # ------------------------------------------------------------ features for Q4
    def feats_of(x):
        with torch.no_grad():
            return [f.numpy().copy() for f in st.extract_features(torch.from_numpy(x), model.features)]

    content = images(STYLE_RUN["content_seed"], 1)
    style = images(STYLE_RUN["style_seed"], 1)
    other = images(42, 3)
    fc, fs, fz = feats_of(content), feats_of(style), feats_of(np.zeros_like(content))
    fo = feats_of(other)
    # hidden cases get images of their own: no hidden input may equal a visible one
    fh_content, fh_style = feats_of(images(45, 1)), feats_of(images(46, 1))

    # ------------------------------------------------------------ content_loss
    for name, w, cur, orig in [
            # notebook: the content image's layer-3 features against those of an all-zero image
            ("notebook", 6e-2, fc[3], fz[3]),
            ("hidden-layer6", 3e-2, fo[6][1:2], fh_style[6]),
            ("hidden-layer2", 5e-2, fs[2], fo[2][2:3])]:
        loss = st.content_loss(w, torch.from_numpy(cur), torch.from_numpy(orig))
        add("content_loss", name, {"content_weight": float(w), "content_current": cur, "content_original": orig},
            {"loss": np.float64(_scalar(loss))}, None, {}, f"feature maps {cur.shape}, weight {w:g}")

    # ------------------------------------------------------------ gram_matrix
    for name, feats, normalize in [
            ("notebook", fs[5], None),              # the notebook's feats[5] of the style image, default
            ("hidden-batch3", fo[5], True),          # 3 images at once
            ("hidden-batch3-unnormalized", fo[2], False),
            ("hidden-n1-unnormalized", fh_content[3], False)]:
        kw = {} if normalize is None else {"normalize": normalize}
        gram = st.gram_matrix(torch.from_numpy(feats), **kw).numpy()
        add("gram_matrix", name, {"features": feats}, {"gram": gram},
            None, {"normalize": normalize}, f"features {feats.shape}, normalize "
            + ("left at its default" if normalize is None else str(normalize)))

    # ------------------------------------------------------------ style_loss
    # Two weightings per case (STYLE_WEIGHTINGS): the course's weights, under which the first
    # layer dominates on the seeded 64x64 features (params3: 99.9% of the loss), and weights
    # that balance the layers, so that dropping or mis-pairing any layer shows.
    for name, cur, sty, layers, weights in [
            ("notebook", fc, fs, [1, 4, 6, 7], {"course_weights": [300000.0, 1000.0, 15.0, 3.0],  # params3
                                                 "balanced_weights": [5.0, 20.0, 50.0, 80.0]}),
            ("hidden-layers-2-5-8", [f[0:1] for f in fo], fh_style, [2, 5, 8],
             {"course_weights": [20000.0, 500.0, 12.0], "balanced_weights": [0.6, 0.5, 3.0]}),
            ("hidden-unsorted", [f[2:3] for f in fo], fh_content, [4, 2],
             {"course_weights": [800.0, 200000.0], "balanced_weights": [5.0, 2.0]})]:
        targets = [st.gram_matrix(torch.from_numpy(sty[l])) for l in layers]
        full = [torch.from_numpy(np.ascontiguousarray(f)) for f in cur]
        expected = {}
        for part in STYLE_WEIGHTINGS:
            expected[f"loss_{part}"] = np.float64(_scalar(st.style_loss(full, layers, targets, weights[part])))
        terms = [w * _scalar(st.style_loss(full, [l], [t], [1.0]))
                 for l, t, w in zip(layers, targets, weights["balanced_weights"])]
        assert min(terms) >= 0.1 * sum(terms), f"style_loss case {name}: the balanced weights are not balanced"
        inputs = {f"feat_{l}": full[l].numpy() for l in layers}
        inputs.update({f"target_{i}": t.numpy() for i, t in enumerate(targets)})
        add("style_loss", name, inputs, expected, None,
            {"style_layers": layers, "style_weights": weights, "num_layers": NUM_FEATURE_LAYERS},
            f"layers {layers}, weights {weights}")

    # ------------------------------------------------------------ tv_loss
    rect = images(43, 1, 48)[:, :, 5:29, 3:43]   # (1, 3, 24, 40)
    noise = np.random.RandomState(44).standard_normal((1, 3, 16, 16)).astype(np.float32)
    for name, img, w in [("notebook", content, 2e-2), ("hidden-24x40", np.ascontiguousarray(rect), 5e-2),
                         ("hidden-noise", noise, 1.0)]:
        loss = st.tv_loss(torch.from_numpy(img), w)
        add("tv_loss", name, {"img": img, "tv_weight": float(w)},
            {"loss": np.float64(_scalar(loss)), "loss_2017_formula": tv_loss_2017_formula(img, w)}, None, {},
            f"image {img.shape}, weight {w:g}")

    # ------------------------------------------------------------ style transfer run
    p = {k: v for k, v in STYLE_RUN.items() if not k.endswith("_seed")}
    img, losses = st.style_transfer(torch.from_numpy(content.copy()), torch.from_numpy(style.copy()),
                                    model.features, p["content_layer"], p["content_weight"], p["style_layers"],
                                    p["style_weights"], p["tv_weight"], num_iterations=p["num_iterations"])
    start = style_total_loss(content, content, style, p)["total"]
    end = style_total_loss(img.numpy(), content, style, p)["total"]
    ratio = end / start
    assert ratio <= STYLE_RUN_MAX_RATIO / 2, f"style transfer run: the reference only reached {ratio:.3f}"
    add("style_transfer_run", "notebook", {"content_img": content, "style_img": style},
        {"initial_loss": np.float64(start), "reference_final_loss": np.float64(end)}, None,
        dict(p, max_loss_ratio=STYLE_RUN_MAX_RATIO, reference_loss_ratio=round(ratio, 4)),
        "params3 of the notebook at 64x64, 50 iterations of the provided loop")
    return out
