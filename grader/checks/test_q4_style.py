"""Q4: style transfer (PyTorch, or TensorFlow under a rubric with that track): the four losses
against the fixtures, and a short run of the provided style-transfer loop with the student's losses.

The TensorFlow track (grader/engine/tracks.py) runs the same checks on the same cases through
grader/inworker/tf_style.py (NHWC tensors made from the NCHW fixtures, one image per Gram matrix
as the course's TensorFlow contract has it, each era's provided loop); one bug, one deduction
works the same way: the stand-ins (grader/inworker/tf_standins.py) ask the grader for correct
values and gradients over the call's channel, answered by grader/oracle/style.py.

Feature maps are the seeded SqueezeNet's (``features`` children, as
extract_features returns them) on synthetic 64x64 images, stored in the
fixtures.  The loop runs in the worker (grader/inworker/style.py); whether it
worked is decided here, by re-scoring the image it returns with the grader's
own float64 implementation of the losses (grader.oracle.squeezenet.style_total_loss).
"""
import numpy as np

from grader.engine import cases
from grader.questions import FILES
from grader.checklib.tensors import check_values, norm_error, tensor_result
from grader.checklib import blocks
from grader.checklib.compare import CheckFailure, fail

try:  # the grader's own recomputations and correct losses (not in the pre-check bundle)
    from grader.oracle import squeezenet as oracle
    from grader.oracle import style as oracle_style
except ImportError:
    oracle = oracle_style = None

FILE = "style_transfer.py"                     # the PyTorch track's file
TF_FILE = "style_transfer_tensorflow.py"       # the TensorFlow track's (grader/questions.py)


def is_tf(student) -> bool:
    """Whether this run grades Q4's TensorFlow track."""
    return student.track("Q4") == "tensorflow"


def file_of(student) -> str:
    return TF_FILE if is_tf(student) else FILE


def _helper(student, fn, *args, label, standins=()):
    """grader.inworker.style.<fn>(the student's module, *args) in the worker (tf_style for the TensorFlow
    track: same arguments, same results); ``standins``: the student's losses replaced by the grader's for
    this call (one bug, one deduction)."""
    f, helpers = file_of(student), ("tf_style" if is_tf(student) else "style")
    try:
        if standins:
            return student.helper(helpers, fn, FILES[f].module, *args, list(standins), label=label, needs=f,
                                  callbacks=blocks.callbacks_for(oracle_style, standins)).value
        return student.helper(helpers, fn, FILES[f].module, *args, label=label, needs=f).value
    except CheckFailure as exc:
        if is_tf(student) and student.report.files[f].era == "tf1" and "NoneType" in str(exc):
            raise CheckFailure(f"{exc}\n{TF1_UNKNOWN_SIZE}") from None
        raise


# The course's TF 1.x notebooks run gram_matrix, style_loss and tv_loss on features of model.image, a placeholder
# of shape [None, None, None, 3] (grader/inworker/tf_style.py, _run_loss)
TF1_UNKNOWN_SIZE = ("In the course's TensorFlow 1.x notebook the image's height and width are unknown to the graph "
                    "(model.image is a placeholder of shape [None, None, None, 3]), so get_shape() / .shape give None "
                    "for them: read them with tf.shape(features) instead.")

# Tolerances (float32 on the CPU, as the course).  Error measure:
# max |got - expected| / max |expected| (cases_torch.norm_error); for a scalar
# loss that is |got - expected| / |expected|.  The notebook asks for errors
# below 0.001 for content_loss, gram_matrix and style_loss and below 0.0001
# for tv_loss (its rel_error); we keep those bounds.  Measured on every case:
# correct implementations in other styles (Gram via torch.zeros + a Python
# loop + torch.mm, einsum or matmul; sums via torch.sum, .sum(), .pow(2),
# ** 2, mse_loss(reduction='sum'); a style loss accumulated in a Python
# float) give bit-identical results; float32 against float64 differs by at
# most 2.4e-7 (Gram), 3.6e-8 (content, style) and 9e-8 (TV), so the bounds
# are >= 1000x above rounding.  The catalogued bugs (grader/tools/mutants/q4.yaml)
# are >= 0.45 on at least one case of each test they are caught by (TV with
# absolute values 0.45, TV in one direction 0.49, one style layer only 0.68,
# content loss as a mean 1.0, missing weights or normalization >= 1.0).
CONTENT_TOL = 1e-3
GRAM_TOL = 1e-3
STYLE_TOL = 1e-3
TV_TOL = 1e-4
# The course's 2017 text (CS231n 2017-2018 and CS182 HW2's TensorFlow notebooks) prints the TV loss as
#   w_t * sum_c sum_{i=1}^{H-1} sum_{j=1}^{W-1} ((x_{i,j+1,c} - x_{i,j,c})^2 + (x_{i+1,j,c} - x_{i,j,c})^2),
# i.e. both differences over the (H-1) x (W-1) corner only, while its prose ("all pairs of pixels that are
# next to each other") and the notebook's own check count every adjacent pair (the formula CS231n printed
# from 2019 on).  The text allows both readings (DESIGN.md: both are right): a TV loss equal to the printed
# formula's value (fixtures: tv_loss/*/expected/loss_2017_formula) passes, with a note.  It differs from
# every pair's loss by 1.7e-2 or more on every case (>= 170x TV_TOL), so the two are never confused.
TV_2017_KEY = "loss_2017_formula"
TV_2017_NOTE = ("your TV loss is the formula the 2017 notebook printed (both differences summed over the (H-1) x "
                "(W-1) corner only): accepted, since the course's text gave it; the loss over every pair of "
                "adjacent pixels, as its prose says, also counts the last row's horizontal and the last column's "
                "vertical differences")

# Every style_loss case is checked under two sets of style weights (the keys of its
# params["style_weights"], written by grader/cases_torch.py): the course's, under
# which the first layer dominates on the seeded 64x64 features, and weights that
# balance the layers, so that dropping or mis-pairing any layer shows.
STYLE_WEIGHTINGS = ("course_weights", "balanced_weights")

GRAD_HINT = ("the result is not connected to the autograd graph of its input (requires_grad is False): "
             "compute it with torch operations on the given tensors, without numpy, .item(), .data, "
             ".detach() or torch.tensor(...) in between, or style transfer cannot backpropagate through it")
TF_GRAD_HINT = ("the result is not connected to its input through TensorFlow's gradients (tf.gradients / "
                "tape.gradient give None): compute it with TensorFlow operations on the given tensors, without "
                "numpy, .numpy() or sess.run in between, or style transfer cannot backpropagate through it")


def _grad_hint(student) -> str:
    return TF_GRAD_HINT if is_tf(student) else GRAD_HINT


def _loss_value(what, value, *, needs_grad=True, student=None):
    tf = student is not None and is_tf(student)
    got, meta = tensor_result(what, value, framework="tensorflow" if tf else "pytorch")
    if got.size != 1:
        fail(f"{what} should return a scalar {'tensor' if tf else 'Tensor'}, got shape {tuple(got.shape)}")
    if needs_grad and not meta.get("requires_grad"):
        fail(f"{what}: {TF_GRAD_HINT if tf else GRAD_HINT}")
    return got.astype(np.float64).reshape(())


# ---------------------------------------------------------------- content loss
@cases.of("content_loss")
def test_content_loss(student, case):
    check_content_loss(student, case)


@blocks.own_test("content_loss")
def check_content_loss(student, case):
    name = student.resolve(file_of(student), "content_loss")
    i = case.inputs
    v = _helper(student, "content_loss", name, i["content_weight"], i["content_current"],
                    i["content_original"], label="content_loss(content_weight, content_current, content_original)")
    got = _loss_value("content_loss", v, student=student)
    check_values("content loss", got, case.expected["loss"], CONTENT_TOL, hidden=case.hidden, scalar=True,
                 hint="content_weight times the SUM (not the mean) over channels and positions of the squared "
                      "differences")


# ---------------------------------------------------------------- Gram matrix
@cases.of("gram_matrix")
def test_gram_matrix(student, case):
    check_gram_matrix(student, case)


@blocks.own_test("gram_matrix")
def check_gram_matrix(student, case):
    tf = is_tf(student)
    name = student.resolve(file_of(student), "gram_matrix")
    feats = case.inputs["features"]
    normalize = case.params.get("normalize")
    call = "gram_matrix(features)" if normalize is None else f"gram_matrix(features, normalize={normalize})"
    v = _helper(student, "gram_matrix", name, feats, normalize, label=call)
    got, meta = tensor_result("gram_matrix", v, framework="tensorflow" if tf else "pytorch")
    N, C, H, W = feats.shape
    want = case.expected["gram"]
    if tf and got.shape != want.shape:  # the course's TensorFlow gram_matrix takes one image: (1, H, W, C) -> (C, C)
        fail(f"gram_matrix{'' if normalize is None else f'(normalize={normalize})'} returned shape "
             f"{tuple(meta.get('shape') or got.shape)} for features of shape {(1, H, W, C)} (one image), expected "
             f"{(C, C)}")
    if got.shape != want.shape:
        hint = " (one C x C matrix per image of the batch)" if got.size != want.size or got.ndim != 3 else ""
        fail(f"gram_matrix{'' if normalize is None else f'(normalize={normalize})'} returned shape "
             f"{tuple(got.shape)} for features of shape {(N, C, H, W)}, expected {(N, C, C)}{hint}")
    if not meta.get("requires_grad"):
        fail(f"gram_matrix: {_grad_hint(student)}")
    g = got.astype(np.float64)
    hint = "G[n] = F F^T with F the C x (H*W) view of image n's features"
    if np.all(np.isfinite(g)) and norm_error(g, want) > GRAM_TOL:
        scale = float(H * W * C)
        if normalize is not False and norm_error(g, want * scale) <= GRAM_TOL:
            hint = "with normalize=True (the default), divide by H * W * C"
        elif normalize is False and norm_error(g, want / scale) <= GRAM_TOL:
            hint = "with normalize=False, do not divide"
        elif normalize is not False and any(norm_error(g, want * scale / d) <= GRAM_TOL
                                            for d in (H * W, C, H, W)):
            hint = "normalize by the number of neurons of one image, H * W * C"
    check_values(f"gram_matrix{'' if normalize is None else f'(normalize={normalize})'}", g, want, GRAM_TOL,
                 hidden=case.hidden, hint=hint)


# ---------------------------------------------------------------- style loss
@cases.of("style_loss", weighting=STYLE_WEIGHTINGS)
def test_style_loss(student, case, weighting):
    judged_style_loss(student, case, weighting)


@blocks.own_test("style_loss", parts=STYLE_WEIGHTINGS)
def judged_style_loss(student, case, weighting):
    """style_loss's own test as Q4.3 judges it (with a correct gram_matrix where the student's is wrong): what
    'style_loss is right' means when the style-transfer run looks for the functions to stand in."""
    blocks.judged(student, lambda standins: check_style_loss(student, case, weighting, standins), ("gram_matrix",),
                  available=oracle_style is not None)


def check_style_loss(student, case, weighting, standins=()):
    name = student.resolve(file_of(student), "style_loss")
    p = case.params
    layers = list(p["style_layers"])
    feats = {str(l): case.inputs[f"feat_{l}"] for l in layers}
    targets = [case.inputs[f"target_{i}"] for i in range(len(layers))]
    v = _helper(student, "style_loss", name, feats, layers, targets, list(p["style_weights"][weighting]),
                p["num_layers"], label="style_loss(feats, style_layers, style_targets, style_weights)",
                standins=standins)
    got = _loss_value("style_loss", v, student=student)
    want = case.expected[f"loss_{weighting}"]
    hint = ("sum over i of style_weights[i] * sum((gram_matrix(feats[style_layers[i]]) - style_targets[i])^2); "
            "every layer of style_layers counts, each with its own target and weight")
    if oracle_style is not None and np.isfinite(got) and norm_error(got, want) > STYLE_TOL:
        weights = p["style_weights"][weighting]
        grams = [oracle_style.gram(feats[str(l)]) for l in layers]
        as_mean = sum(float(w) * np.mean((g - t) ** 2) for w, g, t in zip(weights, grams, targets))
        if norm_error(got, as_mean) <= STYLE_TOL:  # torch.mean divides each layer's term by N*C*C
            hint = ("each layer's term is the SUM of the squared differences of the Gram matrices' entries, not "
                    "their mean; " + hint)
    check_values("style loss", got, want, STYLE_TOL, hidden=case.hidden, scalar=True, hint=hint)


# ---------------------------------------------------------------- total variation
@cases.of("tv_loss")
def test_tv_loss(student, case):
    check_tv_loss(student, case)


@blocks.own_test("tv_loss")
def check_tv_loss(student, case):
    name = student.resolve(file_of(student), "tv_loss")
    v = _helper(student, "tv_loss", name, case.inputs["img"], case.inputs["tv_weight"],
                    label="tv_loss(img, tv_weight)")
    got = _loss_value("tv_loss", v, student=student)
    corner = case.expected.get(TV_2017_KEY)
    if corner is not None and np.isfinite(got) and norm_error(got, corner) <= TV_TOL \
            and norm_error(got, case.expected["loss"]) > TV_TOL:
        student.note(TV_2017_NOTE)
        return
    hint = "tv_weight times the sum of squared differences of vertically AND horizontally adjacent pixels, over all channels"
    img, w = np.asarray(case.inputs["img"], np.float64), float(np.asarray(case.inputs["tv_weight"]))
    as_mean = w * (np.mean(np.diff(img, axis=2) ** 2) + np.mean(np.diff(img, axis=3) ** 2))
    if np.isfinite(got) and norm_error(got, case.expected["loss"]) > TV_TOL and norm_error(got, as_mean) <= TV_TOL:
        hint = "SUMS of the squared differences, not their means; " + hint
    check_values("TV loss", got, case.expected["loss"], TV_TOL, hidden=case.hidden, scalar=True, hint=hint)


# ---------------------------------------------------------------- style transfer run
LOSSES = ("content_loss", "gram_matrix", "style_loss", "tv_loss")


@cases.of("style_transfer_run")
def test_style_transfer_run(student, case):
    blocks.judged(student, lambda standins: check_style_transfer_run(student, case, standins), LOSSES,
                  available=oracle_style is not None, only_blocks=True)


def check_style_transfer_run(student, case, standins=()):
    names = {k: (k if k in standins else student.resolve(file_of(student), k)) for k in LOSSES}
    p = dict(case.params)
    content, style = case.inputs["content_img"], case.inputs["style_img"]
    loop = {k: p[k] for k in ("content_layer", "content_weight", "style_layers", "style_weights", "tv_weight",
                              "num_iterations")}
    v = _helper(student, "style_transfer_run", names, content, style, p["model_seed"], loop,
                label=f"style transfer ({p['num_iterations']} iterations of the provided loop with your "
                      "losses)", standins=standins)
    if not isinstance(v, dict):
        fail("the style transfer run returned no result")
    if v.get("problem"):
        fail(f"style transfer could not run: {v['problem']}")
    img, _ = tensor_result("the style transfer loop", v.get("img"))
    if img.shape != content.shape:
        fail(f"the style transfer loop produced an image of shape {tuple(img.shape)}, expected {content.shape}")
    if not np.all(np.isfinite(img)):
        fail("the image became NaN/inf during style transfer: one of the losses or its gradient is not finite")
    limit = float(p["max_loss_ratio"])
    if oracle is not None:  # the grader's own float64 losses of the image the loop returned
        start = oracle.style_total_loss(content, content, style, loop, p["model_seed"])["total"]
        end = oracle.style_total_loss(img, content, style, loop, p["model_seed"])["total"]
        how = "recomputed by the grader with correct losses"
    else:  # pre-check bundle: the loop's own losses (Gradescope recomputes them itself)
        losses = np.asarray(v.get("losses"), dtype=np.float64).reshape(-1)
        if losses.size < 2 or not np.all(np.isfinite(losses)) or not losses[0] > 0:
            fail("the style transfer loop did not record a finite, positive loss at every iteration")
        start, end = float(losses[0]), float(losses[-1])
        how = "measured with your own losses"
    ratio = end / start
    if not ratio <= limit:
        fail(f"after {p['num_iterations']} iterations the style-transfer loss ({how}) went from {start:.4g} to "
             f"{end:.4g} (x{ratio:.3f}); a correct implementation gets below x{limit:g} (the reference: "
             f"x{p['reference_loss_ratio']:g}). Check that each loss has the right weight and sign and that the "
             "style loss weights each layer")
