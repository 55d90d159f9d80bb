"""The TensorFlow track of Q3 and Q4 (issue 15), through the real CLI.

CS182 HW2: "You can do Questions 3 and 4 in TensorFlow or PyTorch".  Under a rubric with
``tracks: [pytorch, tensorflow]`` (grader/rubrics/cs182_hw2_tf.yaml) a TensorFlow submission is
graded by the PyTorch track's checks, tests and points (grader/checks/test_q3_netvis.py,
test_q4_style.py), in a zygote of its own that imports tensorflow and never torch.

The TensorFlow solutions are tests/tf_track/solutions/ (tf1: the CS182 / CS231n 2017-2018
notebooks, TensorFlow 1.x graph mode; tf2: CS231n 2020's .py files, TensorFlow 2 eager); they are
also the reference the TensorFlow mutant catalogue patches (grader/tools/mutants/q*_tensorflow.yaml).

Every test that grades needs TensorFlow in the interpreter that runs the grader
(requirements-tensorflow.txt, which `make env` installs); without it they are skipped with a
message.  Nothing here imports tensorflow into the test process (it may hold torch: torchvision
after tensorflow crashes with the CUDA build).
"""
from __future__ import annotations

import ast
import importlib.util
import json
import re
import shutil
import subprocess
import textwrap
from pathlib import Path

import pytest

from conftest import PYTHON, REFERENCE, ROOT, grade
from test_q3_q4_checks import Q3_TESTS, Q4_TESTS   # the same test names and points in both tracks
from grader.tools import mutants

SOLUTIONS = ROOT / "tests" / "tf_track" / "solutions"
RUBRIC = "cs182_hw2_tf"
# the whole TensorFlow catalogue runs in `make mutants` (.ci/run, after make test); here the one whose other
# tests must keep their points through the channel (style_loss and the run, judged with the grader's Gram
# matrix).  A TF1 bug costing its test is shown by test_both_tracks_keep_the_better_per_question.
TF_SMOKE = ("tf2_gram_not_normalized",)
TF_MUTANTS = [m for m in mutants.load() if m.tensorflow and m.name in TF_SMOKE]

HAS_TF = importlib.util.find_spec("tensorflow") is not None
needs_tf = pytest.mark.skipif(not HAS_TF, reason="TensorFlow is not installed in this environment: install "
                                                 "requirements-tensorflow.txt (`make env` does) to run the "
                                                 "TensorFlow track's tests")


def _solution(era: str, dest: Path) -> Path:
    """A student's folder with the TensorFlow solution of ``era``: the notebooks (tf1) or cs231n/*.py (tf2)."""
    src = SOLUTIONS / era
    target = dest / ("cs231n" if era == "tf2" else "")
    target.mkdir(parents=True, exist_ok=True)
    for p in src.iterdir():
        shutil.copyfile(p, target / p.name)
    return dest


def _lost(g) -> dict:
    return {n: t["output"][:600] for n, t in g.tests.items() if t["score"] < t["max_score"]}


# ---------------------------------------------------------------- notebooks patched like a student would
def _patch_notebook(src: Path, dest: Path, patches) -> None:
    """``src`` with each (find, replace) applied to the one code cell that holds ``find`` (exactly once)."""
    nb = json.loads(src.read_text())
    for find, repl in patches:
        hits = [c for c in nb["cells"] if c["cell_type"] == "code" and find in "".join(c["source"])]
        assert len(hits) == 1 and "".join(hits[0]["source"]).count(find) == 1, f"{src.name}: {find[:60]!r}"
        hits[0]["source"] = "".join(hits[0]["source"]).replace(find, repl).splitlines(keepends=True)
    dest.write_text(json.dumps(nb, indent=1))


# The solution regions of the TF1 notebooks (what a student writes), by function.
TF1_REGIONS = {
    "compute_saliency_maps": """    # images do not interact, so d(sum of the correct scores)/d(image i) is the
    # gradient of image i's own score
    image_grad = tf.gradients(tf.reduce_sum(correct_scores), model.image)[0]
    saliency_op = tf.reduce_max(tf.abs(image_grad), axis=3)
    saliency = sess.run(saliency_op, feed_dict={model.image: X, model.labels: y})
""",
    "make_fooling_image": """    target_score = model.classifier[0, target_y]
    g = tf.gradients(target_score, model.image)[0]
    dX = learning_rate * g / tf.norm(g)
    for it in range(100):
        # one run gives both the current prediction and the next step
        scores, step = sess.run([model.classifier, dX], feed_dict={model.image: X_fooling})
        if np.argmax(scores[0]) == target_y:
            break
        X_fooling += step
""",
    "class_vis_graph": """    loss = model.classifier[0, target_y] - l2_reg * tf.reduce_sum(tf.square(model.image))
    grad = tf.gradients(loss, model.image)[0]
""",
    "class_vis_step": """        dx = sess.run(grad, feed_dict={model.image: X})
        X = X + learning_rate * dx   # ascent on the regularized score
""",
    "content_loss": """    return content_weight * tf.reduce_sum(tf.squared_difference(content_current, content_original))""",
    "gram_matrix": """    dims = tf.shape(features)
    H, W, C = dims[1], dims[2], dims[3]
    F = tf.reshape(features, tf.stack([H * W, C]))    # one row per position
    gram = tf.matmul(F, F, transpose_a=True)          # (C, C)
    if normalize:
        gram /= tf.to_float(H * W * C)
    return gram""",
    "style_loss": """    terms = []
    for layer, target, weight in zip(style_layers, style_targets, style_weights):
        G = gram_matrix(feats[layer])
        terms.append(weight * tf.reduce_sum(tf.square(G - target)))
    return tf.add_n(terms)""",
    "tv_loss": """    vertical = img[:, 1:, :, :] - img[:, :-1, :, :]
    horizontal = img[:, :, 1:, :] - img[:, :, :-1, :]
    return tv_weight * (tf.reduce_sum(vertical ** 2) + tf.reduce_sum(horizontal ** 2))""",
}
NV, ST = "NetworkVisualization-TensorFlow.ipynb", "StyleTransfer-TensorFlow.ipynb"


def _tf1_variant(dest: Path, bodies: dict) -> Path:
    """The TF1 notebooks with the solution regions replaced by ``bodies`` (key of TF1_REGIONS -> code)."""
    dest.mkdir(parents=True, exist_ok=True)
    nv = [(TF1_REGIONS[k], bodies[k]) for k in ("compute_saliency_maps", "make_fooling_image", "class_vis_graph",
                                                 "class_vis_step") if k in bodies]
    st = [(TF1_REGIONS[k], bodies[k]) for k in ("content_loss", "gram_matrix", "style_loss", "tv_loss") if k in bodies]
    _patch_notebook(SOLUTIONS / "tf1" / NV, dest / NV, nv)
    _patch_notebook(SOLUTIONS / "tf1" / ST, dest / ST, st)
    return dest


def _strip_marked(text: str) -> str:
    """The TF2 starter: every START..END region of CS231n's file emptied (``pass``)."""
    start, end = re.escape("# *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****"), \
        re.escape("# *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****")
    return re.sub(rf"^(\s*){start}\n.*?^\s*{end}", lambda m: f"{m.group(1)}pass", text, flags=re.S | re.M)


# ---------------------------------------------------------------- cheap: registry, staging, rubric, bundle
def test_registry_and_rubric():
    from grader.engine import rubric
    from grader.questions import FILES, QUESTIONS
    r = rubric.load(RUBRIC)
    base = rubric.load("cs182_hw2")
    assert r.tracks == ("pytorch", "tensorflow") and base.tracks == ("pytorch",)
    assert [(e.name, e.points) for e in r.entries()] == [(e.name, e.points) for e in base.entries()]  # same tests
    assert QUESTIONS["Q3"].tf_files == ("net_visualization_tensorflow.py",)
    assert QUESTIONS["Q4"].tf_files == ("style_transfer_tensorflow.py",)
    assert {FILES[f].framework for q in ("Q3", "Q4") for f in QUESTIONS[q].tf_files} == {"tensorflow"}
    assert not QUESTIONS["Q5"].tf_files


def test_no_solution_code_in_the_worker():
    """Invariant 9: the TensorFlow Gram matrix the groundwork swapped into the worker is gone; the worker's
    TensorFlow modules import nothing of grader/oracle/, and the stand-ins only ask the grader."""
    assert not (ROOT / "grader" / "oracle" / "tf_style.py").exists()
    for name in ("tf_netvis", "tf_style", "tf_standins"):
        tree = ast.parse((ROOT / "grader" / "inworker" / f"{name}.py").read_text())
        mods = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module} | \
            {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        assert not [m for m in mods if m.startswith("grader.oracle")], (name, mods)
    standins = (ROOT / "grader" / "inworker" / "tf_standins.py").read_text()
    for fn in ("gram", "gram_backward", "content_loss", "style_loss", "tv_loss"):
        assert f'channel.call("{fn}"' in standins
    from grader.oracle import style
    assert {"gram", "gram_backward", "content_loss", "style_loss", "tv_loss"} <= set(style.CALLBACKS)


def test_staging_picks_each_track_from_its_own_notebooks(tmp_path):
    """A TensorFlow notebook is never taken for the PyTorch file, nor a PyTorch one for the TensorFlow file; TF1
    gets its step function made of create_class_visualization and one era for the submission."""
    from grader.engine import staging, tracks
    from grader.engine import rubric
    sub = _solution("tf1", tmp_path / "sub")
    report = staging.stage(sub)
    try:
        files = report.files
        assert files["network_visualization.py"].origin == "missing"
        assert files["style_transfer.py"].origin == "missing"
        nv, st = files["net_visualization_tensorflow.py"], files["style_transfer_tensorflow.py"]
        assert (nv.origin, nv.source, nv.era) == ("notebook", NV, "tf1")
        assert (st.origin, st.source, st.era) == ("notebook", ST, "tf1")
        staged = (Path(report.stage_dir) / "deeplearning" / "net_visualization_tensorflow.py").read_text()
        assert "def class_visualization_update_step(X, model, target_y, l2_reg, learning_rate):" in staged
        assert "__tf_era__ = 'tf1'" in staged
        assert tracks.plan(report, rubric.load(RUBRIC)) == {"Q3": ["tensorflow"], "Q4": ["tensorflow"]}
        assert tracks.plan(report, rubric.load("cs182_hw2")) == {"Q3": ["pytorch"], "Q4": ["pytorch"]}
        assert "has no TensorFlow track" in " ".join(tracks.untracked_notes(report, rubric.load("cs182_hw2")))
    finally:
        shutil.rmtree(Path(report.stage_dir).parent, ignore_errors=True)


def _nb19_style_without_its_loop(dest: Path) -> Path:
    """CS231n 2019's TF2 style-transfer notebook as a student may hand it in: the set-up cells (the Keras
    SqueezeNet loaded with load_weights, extract_features(x, cnn) over cnn.net.layers) and the four losses as
    plain tensor ops, without the cell that defines style_transfer (the only one with a GradientTape)."""
    text = (SOLUTIONS / "tf2" / "style_transfer_tensorflow.py").read_text()
    losses = "\n\n".join(ast.get_source_segment(text, f) for f in ast.parse(text).body if isinstance(f, ast.FunctionDef)
                         and f.name in ("content_loss", "gram_matrix", "style_loss", "tv_loss")) + "\n"
    cells = ["import numpy as np\nimport tensorflow as tf\nfrom cs231n.classifiers.squeezenet import SqueezeNet\n",
             "SAVE_PATH = 'cs231n/datasets/squeezenet.ckpt'\nmodel = SqueezeNet()\nmodel.load_weights(SAVE_PATH)\n"
             "model.trainable = False\n",
             "def extract_features(x, cnn):\n    features = []\n    prev_feat = x\n"
             "    for i, layer in enumerate(cnn.net.layers[:-2]):\n        next_feat = layer(prev_feat)\n"
             "        features.append(next_feat)\n        prev_feat = next_feat\n    return features\n",
             losses]
    nb = {"nbformat": 4, "nbformat_minor": 2, "metadata": {},
          "cells": [{"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [],
                     "source": c.splitlines(keepends=True)} for c in cells]}
    dest.mkdir(parents=True, exist_ok=True)
    (dest / ST).write_text(json.dumps(nb, indent=1))
    return dest


@pytest.mark.parametrize("form, era", [
    ("the TF1 style-transfer notebook alone, its losses written with tf.math / tf.linalg names", "tf1"),
    ("CS231n 2020's style_transfer_tensorflow.py alone, tensor ops only", "tf2"),
    ("CS231n 2019's TF2 style-transfer notebook without its style_transfer cell", "tf2"),
])
def test_one_era_from_what_the_whole_submission_shows(tmp_path, form, era):
    """tf.math and tf.linalg are in TensorFlow 1.13+ too (no evidence; a chain counts once), and code that
    shows no era is graded by its layout: a notebook is the 2017-2019 one, a .py file CS231n 2020's.  A 2019
    notebook's set-up cells show TF2 (model.load_weights, cnn.net.layers) where its student cells do not (it
    was graded as TF1, whose loop runs on a placeholder of unknown size: 2 points lost, probe round M)."""
    from grader.engine import staging
    sub = tmp_path / "sub"
    if form.startswith("CS231n 2019"):
        _nb19_style_without_its_loop(sub)
    elif era == "tf1":
        _tf1_variant(sub, {"gram_matrix": TF1_GRAM_AS_WRITTEN_IN_1X, "tv_loss": TF1_TV_MATH})
        (sub / NV).unlink()
    else:
        (sub / "cs231n").mkdir(parents=True)
        text = (SOLUTIONS / "tf2" / "style_transfer_tensorflow.py").read_text()
        (sub / "cs231n" / "style_transfer_tensorflow.py").write_text(text)
    report = staging.stage(sub)
    try:
        assert report.files["style_transfer_tensorflow.py"].era == era, form
    finally:
        shutil.rmtree(Path(report.stage_dir).parent, ignore_errors=True)


# TensorFlow 1.x code as the era wrote it: a static dimension is a Dimension (.value), tf.math names (1.13+)
TF1_GRAM_AS_WRITTEN_IN_1X = """    C = features.get_shape()[3].value              # a Dimension in TensorFlow 1.x
    F = tf.reshape(features, [-1, C])
    gram = tf.linalg.matmul(F, F, transpose_a=True)
    if normalize:
        gram = tf.math.divide(gram, tf.to_float(tf.shape(F)[0] * C))
    return gram"""
TF1_TV_MATH = """    dv = tf.math.squared_difference(img[:, 1:, :, :], img[:, :-1, :, :])
    dh = tf.math.squared_difference(img[:, :, 1:, :], img[:, :, :-1, :])
    return tv_weight * (tf.math.reduce_sum(dv) + tf.math.reduce_sum(dh))"""


def test_pytorch_submission_starts_no_tensorflow_zygote(tmp_path):
    """The reference (PyTorch) under the TensorFlow rubric: both questions on the PyTorch track, no TensorFlow
    question in the run's configuration, so the sandbox never starts the TensorFlow zygote."""
    from grader.engine import grade as grade_mod
    from grader.engine import rubric, staging, tracks
    rub = rubric.load(RUBRIC)
    report = staging.stage(REFERENCE)
    try:
        plan = tracks.plan(report, rub)
        assert plan == {"Q3": ["pytorch"], "Q4": ["pytorch"]}
        specs = [grade_mod.QUESTIONS[q.id] for q in rub.questions]
        cfg = grade_mod._run_config(report, rub, specs, {q: ts[0] for q, ts in plan.items()}, {}, ROOT / "fixtures",
                                    0.0, tmp_path / "o.json", None, False)
        assert cfg.tf_questions == [] and cfg.tf_inworker == []
        assert set(cfg.torch_questions) == {"Q3", "Q4"}
    finally:
        shutil.rmtree(Path(report.stage_dir).parent, ignore_errors=True)


def test_gradescope_bundle_installs_tensorflow_only_for_its_track():
    from grader.tools import bundle
    plain = bundle.collect("gradescope", ROOT, "cs182_hw2")
    with_tf = bundle.collect("gradescope", ROOT, RUBRIC)
    assert "requirements-tensorflow.txt" not in plain and "requirements-tensorflow.txt" not in \
        bundle.collect("gradescope", ROOT)
    assert with_tf["requirements-tensorflow.txt"][0] == (ROOT / "requirements-tensorflow.txt").read_bytes()
    assert with_tf["autograder_rubric"][0] == b"cs182_hw2_tf\n"
    setup = (ROOT / "setup.sh").read_text()
    assert 'if [ -f "$tf_req" ]' in setup  # setup.sh installs it exactly when the bundle holds it


def test_precheck_tells_a_tensorflow_student_what_to_install(tmp_path):
    """The student pre-check (`python -m grader check`) without tensorflow: the TensorFlow questions are skipped
    with the package to install (and are not mistaken for PyTorch questions)."""
    sub = _solution("tf2", tmp_path / "sub")
    runner = ("import sys\nsys.modules['tensorflow'] = None\nfrom grader.cli import main\n"
              "sys.exit(main(sys.argv[1:]))\n")
    proc = subprocess.run([PYTHON, "-c", runner, "check", str(sub), "--rubric", RUBRIC, "--questions", "Q3,Q4"],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)
    out = proc.stdout + proc.stderr
    print(out[-3000:])
    assert "Q3, Q4 skipped: your code for them is TensorFlow" in out
    assert "pip install tensorflow-cpu==2.20.0" in out
    assert "need PyTorch" not in out


def test_grading_without_tensorflow_is_the_environments_fault(tmp_path):
    """On a grader without TensorFlow, a TensorFlow submission's tests fail as an environment failure (for staff),
    never as the student's."""
    sub = _solution("tf2", tmp_path / "sub")
    g = grade(sub, rubric=RUBRIC, questions="Q4", block=("tensorflow",), check=False)
    assert g.results is not None and g.proc.returncode == 1  # the grader's/environment's failure, flagged
    for name in Q4_TESTS:
        assert "TensorFlow is not installed where the grader runs" in g.tests[name]["output"], name


# ---------------------------------------------------------------- graded through the CLI
@needs_tf
@pytest.mark.parametrize("era", ["tf1", "tf2"])
def test_tensorflow_solutions_get_full_marks(era, tmp_path):
    """tf1: the solution in forms it does not show itself but the era's notebooks did (found by probing): the
    course's own demo cell `Xi = X[idx][None]` (X is loaded by a call the grader does not take), a fooling image
    returned as float64 (the notebook's next cell feeds it to a float32 placeholder), `.value` on a static
    dimension, tf.math names (TensorFlow 1.13+).  The mutant tests grade the solution as written."""
    sub = _tf1_as_the_course_ran_it(tmp_path / "sub") if era == "tf1" else _solution(era, tmp_path / "sub")
    g = grade(sub, rubric=RUBRIC, questions="Q3,Q4")
    print(g.results["output"])
    assert sorted(g.tests) == sorted(Q3_TESTS + Q4_TESTS)
    assert not _lost(g), _lost(g)
    assert g.results["score"] == 40
    style = "1.x style" if era == "tf1" else "2.x style"
    assert f"Q3: graded as TensorFlow ({style}" in g.results["output"]
    assert f"Q4: graded as TensorFlow ({style}" in g.results["output"]
    for t in g.tests.values():  # TensorFlow's C++ info lines are never shown as the student's output
        assert "absl::InitializeLog" not in t["output"] and "mlir_graph_optimization_pass" not in t["output"]


def _tf1_as_the_course_ran_it(dest: Path) -> Path:
    sub = _tf1_variant(dest, {
        "make_fooling_image": TF1_REGIONS["make_fooling_image"] + "    X_fooling = X_fooling.astype(np.float64)\n",
        "gram_matrix": TF1_GRAM_AS_WRITTEN_IN_1X, "tv_loss": TF1_TV_MATH})
    nb = json.loads((sub / NV).read_text())
    nb["cells"].append({"cell_type": "code", "metadata": {}, "execution_count": None, "outputs": [], "source": [
        "idx = 0\n", "Xi = X[idx][None]\n", "target_y = 6\n", "X_fooling = make_fooling_image(Xi, target_y, model)\n"]})
    (sub / NV).write_text(json.dumps(nb))
    return sub


@needs_tf
def test_tensorflow_fits_gradescopes_container(tmp_path):
    """Gradescope's default 768 MB: a correct TF1 submission's Q4 gets full marks.  The worker's memory budget
    (RLIMIT_DATA, from the container's free memory) once killed every TensorFlow check there, blaming the student
    ("ended abruptly"): TensorFlow maps far more address space than it touches (grader/sandbox/client.py,
    memory_budget).  Two CPUs: the budget, not the CPU quota, is what this pins."""
    import sys
    from grader.tools import container
    why = container.available()
    if why:
        pytest.skip(f"no memory-limited container here: {why}")
    out = tmp_path / "results.json"
    proc, info = container.run([sys.executable, "-m", "grader", "grade", str(_solution("tf1", tmp_path / "sub")),
                                "--rubric", RUBRIC, "--questions", "Q4", "--results", str(out), "--quiet"],
                               768, 2, cold=False, cwd=ROOT, capture_output=True, text=True, timeout=300)
    res = json.loads(out.read_text())
    lost = {t["name"]: t["output"][:300] for t in res["tests"] if t["score"] < t["max_score"]}
    assert proc.returncode == 0 and res["score"] == 20 and not lost, (info, lost)


@needs_tf
@pytest.mark.parametrize("era", ["tf1", "tf2"])
def test_tensorflow_templates_get_zero(era, tmp_path):
    """The starter (every solution region empty) gets zero on every test, each with a message."""
    sub = tmp_path / "sub"
    if era == "tf2":
        (sub / "cs231n").mkdir(parents=True)
        for p in (SOLUTIONS / "tf2").iterdir():
            (sub / "cs231n" / p.name).write_text(_strip_marked(p.read_text()))
    else:
        _tf1_variant(sub, {"compute_saliency_maps": "    pass\n", "make_fooling_image": "    pass\n",
                           "class_vis_graph": "    pass\n", "class_vis_step": "        pass\n",
                           "content_loss": "    pass", "gram_matrix": "    pass", "style_loss": "    pass",
                           "tv_loss": "    pass"})
    g = grade(sub, rubric=RUBRIC, questions="Q3,Q4")
    print(json.dumps({n: t["output"][:300] for n, t in g.tests.items()}, indent=1))
    assert sorted(g.tests) == sorted(Q3_TESTS + Q4_TESTS)
    assert g.results["score"] == 0
    assert all(t["status"] == "failed" and "FAIL" in t["output"] for t in g.tests.values())


@needs_tf
@pytest.mark.parametrize("mutant", TF_MUTANTS, ids=[m.name for m in TF_MUTANTS])
def test_tensorflow_mutant_is_caught(mutant):
    """The classic bugs of the TensorFlow track (grader/tools/mutants/q*_tensorflow.yaml, in `python -m grader
    mutants`): each costs the tests of its own function, and only those (one bug, one deduction: a wrong Gram
    matrix does not cost style_loss or the style-transfer run, which are judged again with the grader's
    answers over the channel)."""
    o = mutants.run_one(mutant, RUBRIC)
    print(mutants.report([o]))
    assert not o.skipped and not o.error, o.error or o.skipped
    assert not o.escaped, f"escaped: {o.escaped}"
    assert not o.leaked, f"tests outside the mutated function lost points: {o.leaked}"


@needs_tf
def test_seed_002_tensorflow_code(tmp_path):
    """Seed 002: a student's CS231n 2017 TensorFlow (1.x) code for Q3 and Q4, as their blog post quotes it
    (tests/seeds.py: seed002_tensorflow), put into the course's notebooks in place of the solution regions
    (tabs of the post's rendering as 4 spaces; `return` lines the post leaves out added).

    Verdicts, decided from the 2017 course text (the notebooks' docstrings and prose) and the same as the
    PyTorch track would give the same mathematics:

    - Saliency from ``tf.reduce_mean(correct_scores)``: a real bug.  The text defines the saliency of a pixel
      as the magnitude of the gradient of the image's own unnormalized correct-class score; the gradient of
      the mean is that divided by N, so every map is N times too small (the notebook shows maps rescaled per
      image, which hides it, but the values are wrong).  It fails the N = 5 and N = 3 cases and passes N = 1;
      the feedback names the 1/N.
    - Fooling image with 100 normalized steps and no early stop: accepted.  The text asks for "an image that
      is close to X, but that the model classifies as target_y", with normalized steps and a loop ("fewer than
      100 iterations" is a hint); the image it returns is classified as the target and within the check's
      bound (||X_fooling - X|| / ||X|| <= 0.3) on every case.
    - Class visualization step normalized (``learning_rate * grad / tf.norm(grad)``): a real bug.  The text
      asks for "a gradient step on the image using the learning rate" on the regularized score (only the
      fooling image says "first normalize the gradient"); dividing by the norm makes the step's length the
      learning rate whatever the gradient, a different update (errors 0.2-0.96 on every case).  The feedback
      says the step points the right way but has the wrong length.  (Its L2 term, ``tf.norm(image) ** 2``, is
      the squared L2 norm: right.)
    - TV loss over the (H-1) x (W-1) corner: accepted.  The 2017 notebook PRINTS exactly that formula
      (w_t * sum over i < H, j < W of both squared differences), while its prose says "all pairs of pixels that
      are next to each other"; a student who implements the printed formula follows the course's text, so both
      readings are right (DESIGN.md), with a note saying which one was graded.  CS231n's 2019 notebook (seed
      004) prints the corrected formula.
    - Content loss, Gram matrix (one image, normalized by H * W * C), style loss: right.

    So: Q3.1 loses the N > 1 cases, Q3.3 everything, the rest of Q3 and all of Q4 full marks.
    """
    from seeds import seed002_tensorflow
    s = seed002_tensorflow()
    indent = lambda t, n: textwrap.indent(t, " " * n)  # noqa: E731
    graph, step = s["create_class_visualization"].split("# --- step ---\n")
    sub = _tf1_variant(tmp_path / "seed002", {
        "compute_saliency_maps": indent(s["compute_saliency_maps"], 4),
        "make_fooling_image": indent(s["make_fooling_image"], 4),
        "class_vis_graph": indent(graph, 4), "class_vis_step": indent(step, 8),
        "content_loss": indent(s["content_loss"], 4) + "    return loss",
        "gram_matrix": indent(s["gram_matrix"], 4) + "    return gram",
        "style_loss": indent(s["style_loss"], 4) + "    return style_loss",
        "tv_loss": indent(s["tv_loss"], 4) + "    return loss"})
    g = grade(sub, rubric=RUBRIC, questions="Q3,Q4")
    print(g.results["output"])
    print(json.dumps(_lost(g), indent=1))
    assert "Q3: graded as TensorFlow (1.x style" in g.results["output"]
    lost = {n: (g.tests[n]["score"], g.tests[n]["max_score"]) for n in _lost(g)}
    assert set(lost) == {"Q3.1 compute_saliency_maps", "Q3.1h compute_saliency_maps (hidden cases)",
                         "Q3.3 update_class_visulization", "Q3.3h update_class_visulization (hidden cases)"}, lost
    assert lost["Q3.1 compute_saliency_maps"][0] == 0 and lost["Q3.3 update_class_visulization"][0] == 0
    assert 0 < lost["Q3.1h compute_saliency_maps (hidden cases)"][0]  # the N = 1 case is right
    assert "1/N = 1/5" in g.tests["Q3.1 compute_saliency_maps"]["output"]
    assert "wrong length" in g.tests["Q3.3 update_class_visulization"]["output"]
    # in the TensorFlow functions' own words: the image is X (the PyTorch ones call it img)
    assert "the step (image after - X before)" in g.tests["Q3.3 update_class_visulization"]["output"]
    assert "the 2017 notebook printed" in g.tests["Q4.4 tv_loss"]["output"]
    assert g.results["score"] == 40 - sum(m - s for s, m in lost.values())


@needs_tf
def test_both_tracks_keep_the_better_per_question(tmp_path):
    """A student who did Q3/Q4 in both frameworks: both are graded, the better counts per question, never the
    sum.  Here the PyTorch Q3 has a saliency bug and the TensorFlow Q4 a Gram-matrix bug: TensorFlow is kept
    for Q3, PyTorch for Q4, and the total is full marks."""
    sub = tmp_path / "both"
    shutil.copytree(REFERENCE, sub, ignore=shutil.ignore_patterns("__pycache__"))
    bug = next(m for m in mutants.load() if m.name == "saliency_without_abs")
    nv = sub / "deeplearning" / bug.file
    nv.write_text(nv.read_text().replace(bug.find, bug.replace))
    _tf1_variant(sub, {"gram_matrix": TF1_REGIONS["gram_matrix"].replace("        gram /= tf.to_float(H * W * C)\n",
                                                                         "        pass\n")})
    g = grade(sub, rubric=RUBRIC, questions="Q3,Q4")
    print(g.results["output"])
    assert not _lost(g), _lost(g)
    assert g.results["score"] == 40
    out = g.results["output"]
    assert re.search(r"Q3: you handed in both a PyTorch and a TensorFlow version.*never the sum.*PyTorch 1[0-9.]*/20, "
                     r"TensorFlow \(1\.x style[^)]*\) 20/20; kept TensorFlow", out), out
    assert re.search(r"Q4: you handed in both.*kept PyTorch", out), out
    assert g.tests["Q3.1 compute_saliency_maps"]["output"].startswith("graded as TensorFlow")


@needs_tf
def test_q3_in_pytorch_and_q4_in_tensorflow(tmp_path):
    """One framework per question: Q3 in the torch zygote, Q4 in the TensorFlow zygote, in one run."""
    sub = tmp_path / "mixed"
    (sub / "deeplearning").mkdir(parents=True)
    shutil.copyfile(REFERENCE / "deeplearning" / "network_visualization.py", sub / "deeplearning" / "network_visualization.py")
    (sub / "cs231n").mkdir()
    shutil.copyfile(SOLUTIONS / "tf2" / "style_transfer_tensorflow.py", sub / "cs231n" / "style_transfer_tensorflow.py")
    g = grade(sub, rubric=RUBRIC, questions="Q3,Q4")
    print(g.results["output"])
    assert not _lost(g), _lost(g)
    assert "Q3: graded as PyTorch" in g.results["output"]
    assert "Q4: graded as TensorFlow (2.x style" in g.results["output"]


# A gram_matrix that reads H and W with get_shape(): fine in TF2, where shapes are known, but in the TF1 notebooks
# its own test (on model.image, a placeholder of shape [None, None, None, 3]) fails, as the course's did
TF1_GRAM_STATIC_SIZE = """    N, H, W, C = features.get_shape().as_list()
    F = tf.reshape(features, [H * W, C])
    gram = tf.matmul(F, F, transpose_a=True)
    if normalize:
        gram /= float(H * W * C)
    return gram"""


@needs_tf
def test_a_tf1_gram_of_static_size_loses_on_gram_matrix_only(tmp_path):
    """Probe round M: the grader's gram_matrix test fed a placeholder of known size, so such a gram_matrix passed
    it, and the points went on the style-transfer run instead (a bare TypeError).  Now its own test fails,
    saying why, and the style-transfer run keeps its points with the grader's gram_matrix standing in.  A
    TensorFlow student without the network-visualization notebook is told that its TensorFlow files were
    looked for too, not only the PyTorch ones."""
    sub = _tf1_variant(tmp_path / "sub", {"gram_matrix": TF1_GRAM_STATIC_SIZE})
    (sub / NV).unlink()
    g = grade(sub, rubric=RUBRIC, questions="Q3,Q4")
    lost = _lost(g)
    assert set(lost) - set(Q3_TESTS) <= {"Q4.2 gram_matrix", "Q4.2h gram_matrix (hidden cases)"}, lost
    assert "Q4.2 gram_matrix" in lost, lost
    assert "read them with tf.shape(features) instead" in g.tests["Q4.2 gram_matrix"]["output"]
    q3 = g.tests[Q3_TESTS[0]]["output"]
    assert "nor its TensorFlow version (net_visualization_tensorflow.py or NetworkVisualization-TensorFlow.ipynb)" \
        in q3, q3[:600]
