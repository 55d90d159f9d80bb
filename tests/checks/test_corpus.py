"""Real-world submissions of every course year (tests/corpus/, see its MANIFEST.yaml), through the real CLI.

Each correct variant, written the way that year's students write (the course's provided lines kept
verbatim), gets full marks; each buggy variant loses points on the test that names its bug, with
the message that says it, and nowhere else but that test's hidden twin.
"""
from __future__ import annotations

import pytest
import yaml

from conftest import ROOT, grade, rubric_subset

CORPUS = ROOT / "tests" / "corpus"
VARIANTS = yaml.safe_load((CORPUS / "MANIFEST.yaml").read_text())["variants"]


def test_every_cause_has_a_correct_and_a_buggy_variant():
    by_cause: dict = {}
    for v in VARIANTS:
        by_cause.setdefault(str(v["cause"]), set()).add("full" if v["expect"] == "full" else "bug")
    numbered = {c: kinds for c, kinds in by_cause.items() if c.isdigit()}
    print({c: sorted(k) for c, k in sorted(by_cause.items())})
    assert set(numbered) >= {"1", "2", "3", "4", "5", "6", "7", "8", "9"}
    assert all(kinds == {"full", "bug"} for c, kinds in numbered.items() if c != "8" or len(kinds) > 1)


def _layer_tests_rubric(variant, folder) -> str:
    """The variant's rubric with only the layer functions' tests of its questions (``layers_only``: a variant
    that pins how a layer function is judged; the model checks' stand-ins are graded by other variants)."""
    d = rubric_subset(variant["questions"], keep=lambda t: t["name"] not in MODEL_TESTS, base=variant["rubric"])
    path = folder / f"{variant['rubric']}_layers.yaml"
    path.write_text(yaml.safe_dump(d))
    return str(path)


MODEL_TESTS = {"CaptioningRNN.loss (rnn)", "CaptioningRNN.sample (rnn)", "overfit small data (rnn)",
               "CaptioningRNN.loss (lstm)", "CaptioningRNN.sample (lstm)", "overfit small data (lstm)"}


@pytest.mark.parametrize("variant", VARIANTS, ids=[v["id"] for v in VARIANTS])
def test_variant(variant, tmp_path):
    rubric = _layer_tests_rubric(variant, tmp_path) if variant.get("layers_only") else variant["rubric"]
    g = grade(CORPUS / variant["id"], rubric=rubric, questions=",".join(variant["questions"]))
    lost = g.lost()
    expect = variant["expect"]
    print(f"{variant['id']} ({variant['year']}, cause {variant['cause']}): {g.results['score']} points; "
          f"lost on {sorted(lost)}")
    if expect == "full":
        assert not lost, {k: v[:400] for k, v in lost.items()}
        return
    for test in expect["lose"]:
        assert test in lost, f"{test} kept its points: the bug went unnoticed"
    first = expect["lose"][0]
    assert expect["message"] in lost[first], lost[first][:1500]
    allowed = set(expect["lose"]) | set(expect.get("may_lose", []))
    elsewhere = sorted(set(lost) - allowed)
    assert not elsewhere, f"one bug, several deductions: also lost {elsewhere}"


def _grade_step_tests(tmp_path, edits, question, prefix):
    """The reference with ``edits`` to rnn_layers.py, graded on the tests of ``question`` whose function starts
    with ``prefix`` (the step forward and backward passes); (the grade, its lost tests), the step forward pass's
    two tests among them (every edit here breaks it)."""
    from conftest import patched_reference
    sub = patched_reference(tmp_path / "sub", {"rnn_layers.py": edits})
    rubric = tmp_path / f"{prefix}.yaml"
    rubric.write_text(yaml.safe_dump(rubric_subset([question], keep=lambda t: t["name"].startswith(prefix))))
    g = grade(sub, rubric=str(rubric))
    lost = g.lost()
    assert {f"{question}.1 {prefix}_forward", f"{question}.1h {prefix}_forward (hidden cases)"} <= set(lost), \
        sorted(lost)
    return g, lost


CELL_OFFSET = ("    next_c = f * prev_c + i * g\n    tanh_c = np.tanh(next_c)\n",
               "    next_c = f * prev_c + i * g + 0.25\n    tanh_c = np.tanh(next_c)\n")


@pytest.mark.parametrize("backward", ["course's", "without f in dprev_c"])
def test_a_backward_pass_after_a_forward_pass_wrong_on_every_input(tmp_path, backward):
    """An LSTM step whose forward pass caches a wrong cell state on every input the grader tries (no tied gates,
    zero bias or state, nor the point where sigmoid and tanh agree makes it right): its backward pass reads that
    cell state, so its values are never the course's.  The course's own backward pass is judged as the
    derivative of the student's forward pass (a numeric gradient of it) and passes: one bug, one deduction.  A
    backward pass that is not that derivative fails, and the feedback says to fix the forward pass first, never
    "the fault is here"."""
    edits = [CELL_OFFSET] + ([("    dprev_c = dc * f\n", "    dprev_c = dc\n")] if backward != "course's" else [])
    g, lost = _grade_step_tests(tmp_path, edits, "Q2", "lstm_step")
    if backward == "course's":
        assert sorted(lost) == ["Q2.1 lstm_step_forward", "Q2.1h lstm_step_forward (hidden cases)"], sorted(lost)
        out = g.tests["Q2.2 lstm_step_backward"]["output"]
        assert "judged as the derivative of your own lstm_step_forward" in out, out[:1500]
        assert "passes with a correct" not in out, out[:1500]
    else:
        out = lost["Q2.2 lstm_step_backward"]
        assert "could not be judged apart from it; fix lstm_step_forward first" in out, out[:1500]
        assert "so the fault is here" not in out, out[:1500]


STEP_OFFSET = ("    next_h = np.tanh(x.dot(Wx) + prev_h.dot(Wh) + b)\n",
               "    next_h = np.tanh(x.dot(Wx) + prev_h.dot(Wh) + b) + 0.1\n")


@pytest.mark.parametrize("backward", ["course's", "with next_h for 1 - next_h**2"])
def test_a_backward_pass_reading_a_wrong_output_from_its_cache(tmp_path, backward):
    """An RNN step whose forward pass returns, and caches, next_h = tanh(...) + 0.1: wrong on every input, and
    its derivative is not what the course's backward pass computes from that cached next_h, so neither the
    inputs where it is right nor its own derivative can judge the backward pass.  With the cached next_h put
    right (the arrays of the cache that hold the returned next_h), the course's backward pass computes the
    course's gradients and keeps its points: one bug, one deduction.  A wrong backward pass still loses them."""
    edits = [STEP_OFFSET] + ([("    dpre = dnext_h * (1.0 - next_h * next_h)\n", "    dpre = dnext_h * next_h\n")]
                             if backward != "course's" else [])
    g, lost = _grade_step_tests(tmp_path, edits, "Q1", "rnn_step")
    if backward == "course's":
        assert sorted(lost) == ["Q1.1 rnn_step_forward", "Q1.1h rnn_step_forward (hidden cases)"], sorted(lost)
        out = g.tests["Q1.2 rnn_step_backward"]["output"]
        assert "judged with the right next_h in place of the wrong ones your rnn_step_forward returns" in out, \
            out[:1500]
    else:
        assert "Q1.2 rnn_step_backward" in lost, sorted(lost)


def test_a_float32_buffer_in_rnn_forward_costs_rnn_forward_only(tmp_path):
    """rnn_forward with its h buffer made float32 for float64 inputs (probe round L): its values pass the
    comparison (float32 rounds to ~6e-8, below 1e-7), but every numeric gradient through it is rounding noise
    (~1e-2), so the correct rnn_backward's gradient check and the model's lost the points instead (3 points on
    rnn_backward).  The deduction is made where the cast is, saying so; the rest keep their points."""
    from conftest import patched_reference
    sub = patched_reference(tmp_path / "sub", {"rnn_layers.py": [(
        "    h = np.zeros((N, T, H), dtype=np.result_type(x, h0, Wx, Wh, b))\n    cache = []\n    state = h0\n",
        "    h = np.zeros((N, T, H), dtype=np.float32)\n    cache = []\n    state = h0\n")]})
    g = grade(sub, rubric="cs182_hw2", questions="Q1")
    lost = g.lost()
    assert set(lost) == {"Q1.3 rnn_forward", "Q1.3h rnn_forward (hidden cases)"}, sorted(lost)
    assert "h is float32 while the inputs are float64" in lost["Q1.3 rnn_forward"], lost["Q1.3 rnn_forward"][:1500]
    assert "PASS rnn_forward[hidden-float32]" in g.tests["Q1.3h rnn_forward (hidden cases)"]["output"]


# rnn_layers.py written in one style (probe round L): the step on [x, prev_h] side by side with stacked weights,
# a vectorised rnn_forward that never calls the step and caches whole arrays, and an rnn_backward that builds
# each step's cache again from them.  (find, replace) pairs for patched_reference.
STACKED_STEP = [
    ("    next_h = np.tanh(x.dot(Wx) + prev_h.dot(Wh) + b)\n    cache = (x, prev_h, Wx, Wh, next_h)\n",
     "    joined = np.concatenate((x, prev_h), axis=1)\n"
     "    next_h = np.tanh(joined @ np.concatenate((Wx, Wh), axis=0) + b)\n"
     "    cache = {'joined': joined, 'W': np.concatenate((Wx, Wh), axis=0), 'out': next_h, 'D': x.shape[1]}\n"),
    ("    x, prev_h, Wx, Wh, next_h = cache\n    dpre = dnext_h * (1.0 - next_h * next_h)\n"
     "    dx = dpre.dot(Wx.T)\n    dprev_h = dpre.dot(Wh.T)\n    dWx = x.T.dot(dpre)\n    dWh = prev_h.T.dot(dpre)\n",
     "    D = cache['D']\n    dpre = dnext_h * (1.0 - cache['out'] ** 2)\n    djoined = dpre @ cache['W'].T\n"
     "    dx, dprev_h = djoined[:, :D], djoined[:, D:]\n    dW = cache['joined'].T @ dpre\n"
     "    dWx, dWh = dW[:D], dW[D:]\n"),
    ("    cache = []\n    state = h0\n    for t in range(T):\n"
     "        state, step_cache = rnn_step_forward(x[:, t, :], state, Wx, Wh, b)\n"
     "        h[:, t, :] = state\n        cache.append(step_cache)\n",
     "    xw = np.einsum('ntd,dh->nth', x, Wx) + b\n    state = h0\n    for t in range(T):\n"
     "        state = np.tanh(xw[:, t] + state @ Wh)\n        h[:, t] = state\n    cache = (x, h0, Wx, Wh, h)\n"),
    ("    x0, _, Wx, Wh, _ = cache[0]\n    D = x0.shape[1]\n",
     "    xs, h0, Wx, Wh, hs = cache\n    D = xs.shape[2]\n"),
    ("        dx_t, carry, dWx_t, dWh_t, db_t = rnn_step_backward(dh[:, t, :] + carry, cache[t])\n",
     "        before = hs[:, t - 1] if t else h0\n"
     "        step = {'joined': np.concatenate((xs[:, t], before), axis=1), 'W': np.concatenate((Wx, Wh), axis=0),\n"
     "                'out': hs[:, t], 'D': D}\n"
     "        dx_t, carry, dWx_t, dWh_t, db_t = rnn_step_backward(dh[:, t, :] + carry, step)\n"),
]
STEP_DB_MEAN = ("    db = dpre.sum(axis=0)\n", "    db = dpre.mean(axis=0)\n")
FORWARD_WITHOUT_H0 = ("    state = h0\n    for t in range(T):\n        state = np.tanh(",
                      "    state = np.zeros_like(h0)\n    for t in range(T):\n        state = np.tanh(")
RNN_TESTS = ("rnn_step_forward", "rnn_step_backward", "rnn_forward", "rnn_backward")


@pytest.mark.parametrize("bug", ["step backward", "sequence forward"])
def test_a_layer_bug_in_caches_of_the_students_own_making(tmp_path, bug):
    """Probe round L: the layers in STACKED_STEP's style, with one bug.  The grader's stand-in must serve the
    student's rnn_backward in its own cache layout: a step cache it builds again, where x and prev_h are only
    blocks of one concatenated array (the stand-in for rnn_step_backward found no handle for it: "TypeError:
    the cache passed in is not the one the forward pass returned ... so the fault is here"), or the whole-array
    cache of a vectorised forward pass (the stand-in for rnn_forward handed back a list of step caches:
    "ValueError: too many values to unpack").  Each bug costs its own function's tests only."""
    from conftest import patched_reference
    edits = list(STACKED_STEP) + [STEP_DB_MEAN if bug == "step backward" else FORWARD_WITHOUT_H0]
    sub = patched_reference(tmp_path / "sub", {"rnn_layers.py": edits})
    rubric = tmp_path / "rnn_layers.yaml"
    rubric.write_text(yaml.safe_dump(rubric_subset(["Q1"], keep=lambda t: t["name"] in RNN_TESTS)))
    g = grade(sub, rubric=str(rubric))
    own = {"step backward": "Q1.2 rnn_step_backward", "sequence forward": "Q1.3 rnn_forward"}[bug]
    assert set(g.lost()) == {own, own.replace(" ", "h ", 1) + " (hidden cases)"}, {k: v[:1500] for k, v in g.lost().items()}


# An LSTM written in another style (probe round L, S07): a forward pass that never calls the step and caches
# whole arrays of its states and gates, and a backward pass that reads them.  (find, replace) pairs.
WHOLE_ARRAY_LSTM = [
    ("    h = np.zeros((N, T, H), dtype=np.result_type(x, h0, Wx, Wh, b))\n    cache = []\n    state_h = h0\n"
     "    state_c = np.zeros_like(h0)\n    for t in range(T):\n"
     "        state_h, state_c, step_cache = lstm_step_forward(\n            x[:, t, :], state_h, state_c, Wx, Wh, b)\n"
     "        h[:, t, :] = state_h\n        cache.append(step_cache)\n",
     "    hs, cs, gates = np.zeros((N, T + 1, H)), np.zeros((N, T + 1, H)), np.zeros((N, T, 4 * H))\n"
     "    hs[:, 0] = h0\n    for t in range(T):\n        a = x[:, t] @ Wx + hs[:, t] @ Wh + b\n"
     "        gates[:, t, :3 * H] = 1 / (1 + np.exp(-a[:, :3 * H]))\n        gates[:, t, 3 * H:] = np.tanh(a[:, 3 * H:])\n"
     "        i, f, o, g = np.split(gates[:, t], 4, axis=1)\n        cs[:, t + 1] = f * cs[:, t] + i * g\n"
     "        hs[:, t + 1] = o * np.tanh(cs[:, t + 1])\n    h = hs[:, 1:]\n    cache = (x, hs, cs, gates, Wx, Wh)\n"),
    ("    x0, _, _, Wx, Wh = cache[0][:5]\n    D = x0.shape[1]\n", "    xs, hs, cs, gates, Wx, Wh = cache\n    D = xs.shape[2]\n"),
    ("        dx_t, carry_h, carry_c, dWx_t, dWh_t, db_t = lstm_step_backward(\n"
     "            dh[:, t, :] + carry_h, carry_c, cache[t])\n",
     "        i, f, o, g = np.split(gates[:, t], 4, axis=1)\n        dht, tc = dh[:, t] + carry_h, np.tanh(cs[:, t + 1])\n"
     "        dct = carry_c + dht * o * (1 - tc ** 2)\n"
     "        da = np.hstack([dct * g * i * (1 - i), dct * cs[:, t] * f * (1 - f), dht * tc * o * (1 - o),\n"
     "                        dct * i * (1 - g ** 2)])\n"
     "        dx_t, carry_h, carry_c = da @ Wx.T, da @ Wh.T, dct * f\n"
     "        dWx_t, dWh_t, db_t = xs[:, t].T @ da, hs[:, t].T @ da, da.sum(axis=0)\n"),
]
LSTM_BUGS = {
    "forward ignores h0": [("    hs[:, 0] = h0\n", "    hs[:, 0] = 0\n")],
    "forward caches c + 0.1": [("cs[:, t + 1] = f * cs[:, t] + i * g\n", "cs[:, t + 1] = f * cs[:, t] + i * g + 0.1\n")],
    "forward ignores h0, backward halves dWx": [("    hs[:, 0] = h0\n", "    hs[:, 0] = 0\n"),
                                                 ("xs[:, t].T @ da, hs", "0.5 * xs[:, t].T @ da, hs")],
}


@pytest.mark.parametrize("bug", list(LSTM_BUGS))
def test_a_whole_array_lstm_cache_after_a_wrong_forward_pass(tmp_path, bug):
    """A vectorised lstm_forward caching whole arrays of states and gates leaves a cache the grader cannot
    rebuild with the right values; the stand-in handed its backward pass a list of step caches ("ValueError:
    too many values to unpack ... this also fails with a correct lstm_forward, so the fault is here": 4.3 of
    7 points lost on a correct lstm_backward).  Now the backward pass is judged on inputs where the forward
    pass is right (h0 = 0 for one that ignores h0), or as the derivative of the student's forward pass where
    no input helps (c + 0.1): the forward bug costs lstm_forward's tests only, and a backward bug still
    costs lstm_backward's."""
    from conftest import patched_reference
    sub = patched_reference(tmp_path / "sub", {"rnn_layers.py": WHOLE_ARRAY_LSTM + LSTM_BUGS[bug]})
    rubric = tmp_path / "lstm_layers.yaml"
    rubric.write_text(yaml.safe_dump(rubric_subset(["Q2"], keep=lambda t: t["name"] in ("lstm_forward", "lstm_backward"))))
    g = grade(sub, rubric=str(rubric))
    lost = g.lost()
    want = {"Q2.3 lstm_forward", "Q2.3h lstm_forward (hidden cases)"}
    if "backward" in bug:
        assert want | {"Q2.4 lstm_backward"} <= set(lost), sorted(lost)
        assert "dWx" in lost["Q2.4 lstm_backward"], lost["Q2.4 lstm_backward"][:1500]
        return
    assert set(lost) == want, {k: v[:1500] for k, v in lost.items()}
    out = g.tests["Q2.4 lstm_backward"]["output"]
    note = "judged on inputs with h0 = 0" if "h0" in bug else "judged as the derivative of your own lstm_forward"
    assert note in out, out[:1500]


# A wrong layer under a model that calls it the way some students do (probe round N): the grader's stand-in
# must take what the course's numpy code takes.  (find, replace) pairs of classifiers/rnn.py; the layer bug.
STEP_WITHOUT_B = ("    next_h = np.tanh(x.dot(Wx) + prev_h.dot(Wh) + b)\n", "    next_h = np.tanh(x.dot(Wx) + prev_h.dot(Wh))\n")
FORWARD_H0_ZERO = ("    state = h0\n    for t in range(T):\n        state, step_cache = rnn_step_forward(",
                   "    state = np.zeros_like(h0)\n    for t in range(T):\n        state, step_cache = rnn_step_forward(")
MODEL_STYLES = {
    # the <START> word's embedding as one (W,) vector, broadcast against the (N, H) state (seed 004's sample)
    "a (W,) start vector": (STEP_WITHOUT_B, [(
        "        current = np.full(N, self._start, dtype=np.int64)\n        for t in range(max_length):\n"
        "            x = W_embed[current]\n",
        "        current = None\n        for t in range(max_length):\n"
        "            x = W_embed[self._start] if current is None else W_embed[current]\n")]),
    "keyword arguments": (STEP_WITHOUT_B, [("                h, _ = rnn_step_forward(x, h, Wx, Wh, b)\n",
                                            "                h, _ = rnn_step_forward(x=x, prev_h=h, Wx=Wx, Wh=Wh, b=b)\n")]),
    # the recurrent layer held by the model (set in __init__), so a stand-in in the module does not reach it
    "the layer as an attribute": (FORWARD_H0_ZERO, [
        ("        self.cell_type = cell_type\n",
         "        self.cell_type = cell_type\n        self.cell_forward = rnn_forward if cell_type == 'rnn' else lstm_forward\n"),
        ("            hidden, seq_cache = rnn_forward(words, h0, Wx, Wh, b)\n",
         "            hidden, seq_cache = self.cell_forward(words, h0, Wx, Wh, b)\n")]),
}


@pytest.mark.parametrize("style", list(MODEL_STYLES))
def test_a_wrong_layer_under_a_model_that_calls_it_its_own_way(tmp_path, style):
    """The stand-in refused a (W,) input ("x must be a 2-d numeric array ... so the fault is here") and keyword
    arguments ("standin() got an unexpected keyword argument"), and never reached a layer the model holds as an
    attribute: 3-6.5 points lost on the model's correct code.  Each layer bug now costs its own tests only."""
    from conftest import patched_reference
    bug, model = MODEL_STYLES[style]
    sub = patched_reference(tmp_path / "sub", {"rnn_layers.py": [bug], "classifiers/rnn.py": model})
    g = grade(sub, rubric="cs182_hw2", questions="Q1")
    own = "Q1.1 rnn_step_forward" if bug is STEP_WITHOUT_B else "Q1.3 rnn_forward"
    lost = g.lost()
    assert set(lost) <= {own, own.replace(" ", "h ", 1) + " (hidden cases)"} and own in lost, \
        {k: v[:800] for k, v in lost.items()}


@pytest.mark.parametrize("form", ["missing", "%matplotlib inline in it"])
def test_a_correct_model_keeps_its_points_when_the_layers_file_is_missing_or_broken(tmp_path, form):
    """Probe round N: without an importable rnn_layers.py, classifiers/rnn.py could not be imported ("No module
    named deeplearning.rnn_layers ... so the fault is here"): a correct model lost all of its 19.5 points.  The
    course's starter file now stands in for the missing one, and the model is judged with correct layers; the
    layers' own tests say the file is missing, or what line to delete, and nothing else."""
    from conftest import patched_reference
    sub = patched_reference(tmp_path / "sub", {})
    layers = sub / "deeplearning" / "rnn_layers.py"
    if form == "missing":
        layers.unlink()
    else:
        layers.write_text(layers.read_text().replace("import numpy as np\n", "import numpy as np\n%matplotlib inline\n", 1))
    g = grade(sub, rubric="cs182_hw2", questions="Q1,Q2")
    model = [n for n in g.tests if "CaptioningRNN" in n or "overfit" in n]
    assert len(model) == 10 and not set(model) & set(g.lost()), {k: v[:600] for k, v in g.lost().items()}
    layer_tests = set(g.tests) - set(model)
    assert layer_tests == set(g.lost())
    why = "was not found in your submission" if form == "missing" else "%matplotlib inline: that is IPython syntax"
    for name in layer_tests:
        out = g.tests[name]["output"]
        assert why in out and "fault is here" not in out and "on no input tried" not in out, out[:600]


def test_an_embedding_bug_under_a_loss_that_embeds_by_itself(tmp_path):
    """Probe round L: CaptioningRNN.loss embeds with W_embed[captions_in] itself and hands word_embedding_backward
    a cache it made ({'words': ..., 'V': ...}); that backward pass has a bug (dW[x] = dout).  The grader's
    stand-in finds the word indices and vocabulary size in that cache, so the loss keeps its points (it lost
    all of them: "the cache passed in is not the one the forward pass returned")."""
    from conftest import patched_reference
    sub = patched_reference(tmp_path / "sub", {
        "rnn_layers.py": [("    x, W = cache\n    dW = np.zeros_like(W)\n    np.add.at(dW, x, dout)\n",
                           "    dW = np.zeros((cache['V'], dout.shape[2]))\n    dW[cache['words']] = dout\n")],
        "classifiers/rnn.py": [("        words, embed_cache = word_embedding_forward(captions_in, W_embed)\n",
                                "        words = W_embed[captions_in]\n"
                                "        embed_cache = {'words': captions_in, 'V': W_embed.shape[0]}\n")]})
    rubric = tmp_path / "embedding.yaml"
    rubric.write_text(yaml.safe_dump(rubric_subset(["Q1"], keep=lambda t: t["name"] in (
        "word_embedding_backward", "CaptioningRNN.loss (rnn)"))))
    g = grade(sub, rubric=str(rubric))
    assert set(g.lost()) == {"Q1.6 word_embedding_backward", "Q1.6h word_embedding_backward (hidden cases)"}, \
        {k: v[:600] for k, v in g.lost().items()}


def test_a_wrong_layer_bound_under_another_name_still_stands_in(tmp_path):
    """The model's loss reaches rnn_backward through an alias (``import rnn_backward as rnn_bwd``) kept in a class
    attribute dict: the grader's stand-in must replace it there too, so the layer's bug costs its own test only
    (found by probing: it also cost CaptioningRNN.loss 3 points, with "the fault is here")."""
    from conftest import patched_reference
    from grader.tools import mutants
    bug = next(m for m in mutants.load() if m.name == "rnn_backward_unaccumulated_dWh")
    sub = patched_reference(tmp_path / "sub", {
        "rnn_layers.py": [(bug.find, bug.replace)],
        "classifiers/rnn.py": [
            ("from deeplearning.rnn_layers import *\n",
             "from deeplearning.rnn_layers import *\nfrom deeplearning.rnn_layers import rnn_backward as rnn_bwd\n"),
            ("class CaptioningRNN(object):\n", "class CaptioningRNN(object):\n    _BACKWARD = {'rnn': rnn_bwd}\n"),
            ("= rnn_backward(dhidden, seq_cache)", "= self._BACKWARD['rnn'](dhidden, seq_cache)")]})
    rubric = tmp_path / "rnn_loss.yaml"
    rubric.write_text(yaml.safe_dump(rubric_subset(
        ["Q1"], keep=lambda t: t["name"] in ("rnn_backward", "CaptioningRNN.loss (rnn)"))))
    g = grade(sub, rubric=str(rubric))
    assert sorted(g.lost()) == ["Q1.4 rnn_backward", "Q1.4h rnn_backward (hidden cases)"], g.lost()
    loss = g.tests["Q1.7 CaptioningRNN.loss (rnn)"]["output"]
    assert "passes with a correct rnn_backward" in loss, loss[:1500]
