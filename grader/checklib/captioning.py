"""Checks of CaptioningRNN (Q1 with cell_type='rnn', Q2 with 'lstm')."""
from __future__ import annotations

from pathlib import Path

import numpy as np

try:  # the grader's own forward pass and layers; the student pre-check ships without them
    from grader.oracle import captioning as trusted_captioning
    from grader.oracle import rnn_layers as oracle_layers
except ImportError:
    trusted_captioning = oracle_layers = None
from grader.checklib.compare import CheckFailure, as_array, check_close, fail, marginal

MODEL_FILE = "classifiers/rnn.py"
# Loss against the fixtures: the notebook reports differences ~2.6e-12 on a loss
# of ~9.8 and asks for e-10; 1e-9 relative is ~1e-8 absolute.
LOSS_TOL = 1e-9
GRADS_TOL = 1e-7
# Whole-model gradient check (numeric h=1e-6, as the notebook).  Per-element
# relative error is dominated by finite-difference noise (~3e-10 absolute) on
# entries whose true gradient is ~1e-7, so the error is normalised by the
# largest gradient entry instead; the reference measures <= 1e-7, wrong
# backward passes >= 1e-2.
MODEL_GRADCHECK_TOL = 1e-5
MODEL_GRAD_HINTS = {
    "W_proj": "the initial hidden state's gradient (dh0 from the recurrent backward) flows into W_proj and b_proj",
    "b_proj": "the initial hidden state's gradient (dh0 from the recurrent backward) flows into W_proj and b_proj",
    "W_embed": "the word embedding gradient comes from dx of the recurrent backward",
    "W_vocab": "the temporal affine layer's backward gives dW_vocab and db_vocab",
}


def recurrent(cell: str) -> tuple[str, str]:
    return (f"{cell}_forward", f"{cell}_backward")


def steps(cell: str) -> tuple[str, str]:
    return (f"{cell}_step_forward", f"{cell}_step_backward")


EMBED = ("word_embedding_forward", "word_embedding_backward")


def loss_deps(cell: str) -> tuple[str, ...]:
    """The graded layer functions CaptioningRNN.loss calls (directly, or through its recurrent layer)."""
    return EMBED + recurrent(cell) + steps(cell)


def sample_deps(cell: str) -> tuple[str, ...]:
    """What sample() may call: the embedding, the step, or the recurrent layer on a sequence of length 1."""
    return (EMBED[0], steps(cell)[0], recurrent(cell)[0])


def layer_closure(bad) -> set:
    """A forward pass and its backward pass stand in together (the backward takes the forward's cache).
    A wrong step makes the whole recurrent layer the grader's, which answers for its steps itself: the
    student's recurrent layer is judged with correct steps by its own tests, and here one request per
    layer call replaces one per time step (a training run with a wrong lstm_step_backward went from
    ~3200 requests to ~200)."""
    out = set(bad)
    for cell in ("rnn", "lstm"):
        if out & set(steps(cell)):
            out |= set(recurrent(cell))
    for pair in (EMBED, recurrent("rnn"), recurrent("lstm"), steps("rnn"), steps("lstm")):
        if out & set(pair):
            out |= set(pair)
    for cell in ("rnn", "lstm"):  # the grader's recurrent layer answers for its steps itself
        # unless a step is wrong: a loss or sample() that calls the steps itself then needs both (a step's
        # backward takes its forward's cache); a stand-in that is never called costs nothing
        if set(recurrent(cell)) <= out and not set(steps(cell)) & set(bad):
            out -= set(steps(cell))
    return out


def judged(student, run, deps):
    """``run(standins)`` judged with correct layers where the student's fail their own tests."""
    from grader.checklib import blocks
    student.require(MODEL_FILE)  # a missing or broken model file says so alone (the layers' file may be either)
    return blocks.judged(student, run, deps, available=oracle_layers is not None, closure=layer_closure)


def _callbacks(standins):
    from grader.checklib import blocks
    return blocks.callbacks_for(oracle_layers, standins) if standins else None


def _call(student, standins, ref, *args, label):
    """The worker-side ``ref(*args)``; with ``standins``, those layer functions answer from the grader."""
    if not standins:
        return student.method(ref, *args, label=label)
    return student.helper("captioning", "call_with", sorted(standins), ref, *args, label=label,
                          callbacks=_callbacks(standins))


def _label(what: str, case) -> str:
    """Names the cell type too: a hang in the rnn model must not fail the lstm one."""
    return f"{what} (cell_type={case.params['cell_type']!r})"


def _model(student, case, dtype="float64"):
    p = case.params
    params = {k[len("param_"):]: v for k, v in case.inputs.items() if k.startswith("param_")}
    return student.helper("captioning", "make_captioning_model", p["word_to_idx"], p["input_dim"],
                          p["wordvec_dim"], p["hidden_dim"], p["cell_type"], dtype, params,
                          label=_label("CaptioningRNN", case), needs=MODEL_FILE).ref


def _loss_and_grads(student, case, standins=()):
    def run():
        model = _model(student, case)
        res = _call(student, standins, model.attr("loss"), case.inputs["features"], case.inputs["captions"],
                    label=_label("CaptioningRNN.loss", case))
        v = res.value
        if not isinstance(v, (tuple, list)) or len(v) != 2:
            fail("CaptioningRNN.loss should return (loss, grads)")
        loss, grads = v
        if not isinstance(grads, dict):
            fail(f"CaptioningRNN.loss should return grads as a dict, got {type(grads).__name__}")
        return loss, grads, model
    return student.once(("caption-loss", case.function, case.name, tuple(sorted(standins))), run)


def check_loss(student, case, standins=()):
    loss, _, _ = _loss_and_grads(student, case, standins)
    got = as_array("loss", loss)
    if got.size != 1:
        fail(f"the loss should be a scalar, got shape {got.shape}")
    if float(case.expected["loss"]) == 0.0 or (float(got) == 0.0):
        fail("the loss is 0.0: the forward pass is not implemented yet")
    check_close("loss", got.reshape(()), case.expected["loss"], LOSS_TOL, hidden=case.hidden,
                hint="" if case.hidden else "check the mask (captions_out != NULL) and that the loss sums over time and averages over N")


def check_grads(student, case, standins=()):
    _, grads, _ = _loss_and_grads(student, case, standins)
    want = sorted(k[len("grad_"):] for k in case.expected if k.startswith("grad_"))
    missing = [k for k in want if k not in grads]
    if missing:
        fail(f"grads is missing {', '.join(missing)} (one entry per parameter in self.params)")
    try:
        check_loss(student, case, standins)
        loss_wrong = False
    except CheckFailure:
        loss_wrong = True
    bad = []
    for k in want:
        try:
            check_close(f"grads['{k}']", grads[k], case.expected["grad_" + k], GRADS_TOL, hidden=True,
                        hint="" if loss_wrong else MODEL_GRAD_HINTS.get(k, ""))
        except CheckFailure as exc:  # collect every wrong gradient in one message
            bad.append(str(exc))
    if bad:
        # a wrong loss (a missing mask, the wrong targets) moves every gradient: the per-gradient hints would
        # point away from it (probe round N)
        fail(("the loss itself is wrong on this case (see the loss check), and every gradient follows from it: "
              "fix the loss first; " if loss_wrong else "") + "; ".join(bad))


def check_model_gradient(student, case, standins=()):
    features, captions = case.inputs["features"], case.inputs["captions"]
    _, grads, model = _loss_and_grads(student, case, standins)
    h = 1e-6
    bad = []
    for k in sorted(n[len("param_"):] for n in case.inputs if n.startswith("param_")):
        if k not in grads:
            bad.append(f"grads has no entry for {k}")
            continue
        analytic = as_array(f"grads['{k}']", grads[k])
        x = np.asarray(case.inputs["param_" + k], dtype=np.float64)
        if analytic.shape != x.shape:
            bad.append(f"grads['{k}'] has shape {analytic.shape}, expected {x.shape}")
            continue
        batch = []
        for i in range(x.size):
            for s in (1, -1):
                xp = x.copy().reshape(-1)
                xp[i] += s * h
                batch.append([model, k, xp.reshape(x.shape), features, captions, sorted(standins)])
        res = student.helper("captioning", "loss_with_param", batch=batch, discard=True,
                             label=_label("CaptioningRNN.loss", case), callbacks=_callbacks(standins))
        vals = np.array([float(as_array("loss", r)) for r in res.value])
        num = ((vals[0::2] - vals[1::2]) / (2 * h)).reshape(x.shape)
        num_max, analytic_max = float(np.max(np.abs(num))), float(np.max(np.abs(analytic)))
        if num_max < 1e-12 and analytic_max < 1e-12:
            _nontrivial_or_fail(student, case, standins, k)
        if num_max < 1e-12 <= analytic_max:
            # the relative error over a zero numeric gradient is a meaningless 1e+07 (probe round N: h0 without
            # b_proj): say what it means
            bad.append(f"{k}: your loss does not depend on {k} (its numeric gradient is zero), yet grads['{k}'] is "
                       f"not (largest |entry| {analytic_max:.1e}): the loss leaves {k} out")
            continue
        err = float(np.max(np.abs(num - analytic)) / max(num_max, 1e-8))
        if not err <= MODEL_GRADCHECK_TOL:
            hint = MODEL_GRAD_HINTS.get(k, "")
            if marginal(err, MODEL_GRADCHECK_TOL):
                hint = (f"only {err / MODEL_GRADCHECK_TOL:.1f}x the tolerance: probably lost precision (float32 "
                        "somewhere in the loss or the backward pass) rather than a wrong formula"
                        + (f"; if not, {hint}" if hint else ""))
            bad.append(f"{k}: error {err:.1e} (max |numeric - analytic| / max |numeric|), expected below "
                       f"{MODEL_GRADCHECK_TOL:.0e}" + (f"; {hint}" if hint else ""))
    if bad:
        fail("your grads do not match a numeric gradient of your loss: " + "; ".join(bad))


def _nontrivial_or_fail(student, case, standins, k):
    """A zero gradient matches a zero numeric gradient of a constant loss: it only counts when the loss
    itself is right."""
    try:
        check_loss(student, case, standins)
    except CheckFailure:
        fail(f"grads['{k}'] and the numeric gradient are both zero because the loss does not depend on "
             f"{k}; a gradient check only counts once the loss itself is right")


def check_sample(student, case, standins=()):
    model = _model(student, case)
    feats = case.inputs["features"]
    max_len = case.params["max_length"]
    res = _call(student, standins, model.attr("sample"), feats, max_len, label=_label("CaptioningRNN.sample", case))
    got = as_array("captions", res.value)
    want = case.expected["captions"]
    if got.shape != want.shape:
        fail(f"captions has shape {got.shape}, expected {want.shape} (N, max_length)")
    if got.dtype.kind not in "iu":
        if got.dtype.kind == "f" and np.all(got == np.round(got)):
            got = got.astype(np.int64)
        else:
            fail(f"captions should hold integer word indices, got dtype {got.dtype}")
    vocab = case.params["word_to_idx"]
    start, end = vocab["<START>"], vocab["<END>"]
    if np.all(got == vocab["<NULL>"]):
        # the starter's captions = self._null * np.ones(...) left as it is, or a sample() that writes word 0 at
        # every step (probe round N: an argmax over the batch axis, for a batch of one)
        fail("every caption is <NULL> (word 0): sample() is not implemented yet, or it writes word 0 at every step "
             "(take the argmax of the (N, V) scores over axis=1, one word per caption, and write it into captions)")
    # after the first <END> anything goes: the course lets sampling stop there or carry on
    stops = [int(np.argmax(w == end)) + 1 if (w == end).any() else want.shape[1] for w in want]
    wrong = [i for i in range(want.shape[0]) if not np.array_equal(got[i, :stops[i]], want[i, :stops[i]])]
    if not wrong:
        return
    i = wrong[0]
    j = int(np.argmax(got[i, :stops[i]] != want[i, :stops[i]]))
    where = f"caption {i}, position {j}" if not case.hidden else f"position {j}"
    fail(f"greedy decoding differs from the expected caption at {where}"
         + _sample_hint(got, want, stops, wrong, j, start, case))


def _misreading(got, want, stops, start, case) -> str:
    """'; <what the loop does wrong>' when the grader's own sampling with one step misread gives the student's
    captions (every caption, up to its expected <END>), else ''.  Gradescope only: the pre-check has no oracle."""
    if trusted_captioning is None:
        return ""
    params = {k[len("param_"):]: v for k, v in case.inputs.items() if k.startswith("param_")}
    try:
        variants = trusted_captioning.sample_misreadings(params, case.inputs["features"], case.params["cell_type"],
                                                         start, want.shape[1])
    except (KeyError, ValueError, IndexError):
        return ""
    for captions, text in variants.values():
        if all(np.array_equal(got[k, :stops[k]], captions[k, :stops[k]]) for k in range(want.shape[0])):
            return f"; these are the captions of a loop in which {text}"
    return ""


def _sample_hint(got, want, stops, wrong, j, start, case) -> str:
    """What the difference looks like, in the terms of sample()'s loop (''; or '; ...')."""
    N, T = want.shape
    V = len(case.params["word_to_idx"])
    i = wrong[0]

    def same(a, b):
        return len(a) == len(b) and np.array_equal(a, b)
    if all(got[k, 0] == start and same(got[k, 1:stops[k]], want[k, :stops[k] - 1]) for k in wrong):
        return ("; every caption begins with <START> and the sampled words follow one column late: captions[:, t] "
                "holds the word sampled at step t, the first sampled word goes in column 0 (<START> is only the "
                "first input word, not part of the output)")
    if all(same(got[k, :stops[k] - 1], want[k, 1:stops[k]]) for k in wrong):
        return ("; the sampled words are one column early: the word sampled at the first step (fed <START>) "
                "belongs in column 0")
    named = _misreading(got, want, stops, start, case)
    if named:
        return named
    if N > 1:
        if all(np.array_equal(got[0], got[k]) for k in range(N)) and not all(
                np.array_equal(want[0, :stops[0]], want[k, :stops[0]]) for k in range(N)):
            return ("; every image got the same caption: sample each image's word from its own row of the (N, V) "
                    "scores (np.argmax(scores, axis=1)), and keep one hidden state per image")
        for k in wrong:
            other = [m for m in range(N) if m != k and same(got[k, :stops[m]], want[m, :stops[m]])]
            if other:
                return (f"; caption {k} is the expected caption of image {other[0]}" if not case.hidden else
                        "; a caption is the expected caption of another image") + (
                    ": the captions are in the wrong order or the images are mixed up across the batch; row i of "
                    "the result must be the caption of features[i]")
        if np.any(got >= V):
            return (f"; some sampled indices are {V} or more, outside the vocabulary: np.argmax over the whole "
                    "(N, V) array returns flat indices; take it per image (axis=1)")
        if V > N and np.all(got < N):
            return ("; every sampled index is below the batch size N: take the argmax over the vocabulary "
                    "(axis=1 of the (N, V) scores), not over the batch")
        stop = stops[i]
        if j > 0 and stop - j >= 3 and any(np.array_equal(got[i, j:stop], want[m, j:stop]) for m in range(N) if m != i):
            return ("; from that position on, the caption continues as another image's expected caption: keep each "
                    "image's hidden state, scores and sampled word in its own row (argmax over axis=1 of the (N, V) "
                    "scores)")
    if got[i, 0] == start and want[i, 0] != start:
        return "; the first element must be the first *sampled* word, not <START>"
    null = case.params["word_to_idx"]["<NULL>"]
    if j > 0 and np.all(got[i, j:stops[i]] == null):
        return ("; from there on the caption holds <NULL> although it has not reached its <END>: the loop stopped "
                "too early (take max_length steps; a caption ends at its own <END>, so neither stop every caption "
                "when one of them ends nor loop max_length - 1 times)")
    if j == 0:
        c0 = " and c0 = 0" if case.params["cell_type"] == "lstm" else ""
        return (f"; the first word is the argmax of the scores after one step from h0 = features @ W_proj + "
                f"b_proj{c0}, with <START> as the input word")
    if case.params["cell_type"] == "lstm":
        return "; check that the LSTM cell state is carried from step to step (starting at zero)"
    return "; check that each step feeds the previously sampled word and the new hidden state"


def _own_loss(student, params, features, captions, cell_type) -> float:
    """The trained model's loss by the student's own CaptioningRNN.loss (pre-check only)."""
    import json
    from pathlib import Path
    vocab = json.loads((Path(student.report.stage_dir) / "datasets" / "coco_synth" / "coco2014_vocab.json").read_text())
    input_dim, hidden_dim = params["W_proj"].shape
    try:
        model = student.helper("captioning", "make_captioning_model", vocab["word_to_idx"], int(input_dim),
                               int(params["W_embed"].shape[1]), int(hidden_dim), cell_type, "float64", params,
                               label=f"CaptioningRNN (cell_type={cell_type!r})").ref
        res = student.method(model.attr("loss"), features.astype(np.float64), captions, pick=[(0,)],
                             label=f"CaptioningRNN.loss (cell_type={cell_type!r})")
    except CheckFailure as exc:
        raise ValueError(f"your CaptioningRNN.loss failed on the trained parameters: {exc}") from None
    return float(np.asarray(as_array("loss", res.value[0]), dtype=np.float64))


def check_overfit(student, cell_type: str, standins=()):
    from grader.course.coco_synth import OVERFIT_CONFIG
    cfg = dict(OVERFIT_CONFIG[cell_type])
    data_dir = str(__import__("pathlib").Path(student.report.stage_dir) / "datasets" / "coco_synth")
    res = student.helper("captioning", "train_captioning", data_dir, cell_type, cfg, sorted(standins),
                         label=f"training the {cell_type} captioning model", needs=MODEL_FILE,
                         callbacks=_callbacks(standins))
    v = res.value
    if not isinstance(v, dict) or not isinstance(v.get("params"), dict):
        fail("training did not produce model parameters")
    # The training set is the grader's own (the same draw as the solver's): nothing the worker reports about
    # its data enters the verdict, only the trained parameters.
    features, captions = overfit_data(Path(student.fixtures) / "coco_synth", cfg)
    try:
        params = {k: as_array(k, a) for k, a in v["params"].items()}
        if trusted_captioning is not None:
            final = trusted_captioning.captioning_loss(params, features, captions, cell_type)
        else:
            final = _own_loss(student, params, features, captions, cell_type)
    except (KeyError, ValueError, IndexError) as exc:
        fail(f"the trained model's parameters have the wrong names or shapes ({exc})")
    history = as_array("loss_history", v.get("loss_history", np.zeros(0)))
    if not np.isfinite(final):
        fail(f"after training, the loss is {final} (NaN or inf)")
    if not final < cfg["threshold"]:
        last = f"{float(history.reshape(-1)[-1]):.3f}" if history.size else "n/a"
        fail(f"after {cfg['num_epochs']} epochs on 50 captions the loss is {final:.3f} (recomputed by the grader; "
             f"your last minibatch loss {last}), expected below {cfg['threshold']}: the model does not overfit, "
             "so some gradient is wrong or the loss ignores part of the sequence")


def overfit_data(coco_dir: Path, cfg: dict) -> tuple[np.ndarray, np.ndarray]:
    """The overfit run's training captions and their images' features, drawn as the solver's
    ``load_coco_data(max_train=...)`` draws them after ``np.random.seed(cfg["seed"])``: (N, D) float64,
    (N, T+1) int64."""
    import h5py
    with h5py.File(coco_dir / "coco2014_captions.h5", "r") as f:
        captions, image_idxs = np.asarray(f["train_captions"]), np.asarray(f["train_image_idxs"])
    with h5py.File(coco_dir / "train2014_vgg16_fc7_pca.h5", "r") as f:
        feats = np.asarray(f["features"])
    keep = np.random.RandomState(cfg["seed"]).randint(captions.shape[0], size=cfg["max_train"])
    return feats[image_idxs[keep]].astype(np.float64), captions[keep].astype(np.int64)
