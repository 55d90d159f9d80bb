"""The template (grader/tools/template.py), the fixtures (grader/fixturegen/) and the example
submission (grader/tools/examples.py) are generated from reference/, never edited by hand."""
import shutil
import subprocess

import h5py
import numpy as np
import pytest

from conftest import FIXTURES, PYTHON, REFERENCE, TEMPLATE, run_cli
from grader import fixturegen
from grader.tools import template
from grader.paths import END_MARKER, START_MARKER


def test_template_check_passes_on_committed_template():
    proc = run_cli("template", "--check")
    assert proc.returncode == 0, proc.stderr
    assert "matches" in proc.stdout


def test_template_check_fails_and_names_an_altered_file(tmp_path):
    copy = tmp_path / "student_template"
    shutil.copytree(TEMPLATE, copy)
    f = copy / "deeplearning" / "rnn_layers.py"
    f.write_text(f.read_text() + "\n# edited by hand\n")
    (copy / "deeplearning" / "extra.py").write_text("x = 1\n")
    problems = template.diff(REFERENCE, copy)
    assert "differs from what the generator writes: deeplearning/rnn_layers.py" in problems
    assert "extra (not generated from reference/): deeplearning/extra.py" in problems


def test_strip_keeps_code_outside_regions_and_balances_markers():
    src = (f"def f(x):\n    y = None\n    {START_MARKER}\n    y = x + 1\n    {END_MARKER}\n    return y\n"
           f"def g():\n    return list(\n        {START_MARKER}\n        [1, 2]\n        {END_MARKER}\n    )\n")
    out = template.strip_source(src)
    ns = {}
    exec(out, ns)
    assert ns["f"](1) is None and ns["g"]() == []
    with pytest.raises(template.MarkerError):
        template.strip_source(f"    {START_MARKER}\nx = 1\n")


def test_every_reference_student_file_has_solution_regions():
    for rel in ("rnn_layers.py", "classifiers/rnn.py", "network_visualization.py", "style_transfer.py", "gan_pytorch.py"):
        text = (REFERENCE / "deeplearning" / rel).read_text()
        assert text.count(START_MARKER) == text.count(END_MARKER) > 0, rel


TEMPLATE_PROBE = r'''
import sys, numpy as np
sys.path.insert(0, sys.argv[1])
import deeplearning.rnn_layers as L
from deeplearning.classifiers.rnn import CaptioningRNN
x = np.zeros((2, 3)); h = np.zeros((2, 4))
assert L.rnn_step_forward(x, h, np.zeros((3, 4)), np.zeros((4, 4)), np.zeros(4)) == (None, None)
assert L.rnn_step_backward(h, None) == (None,) * 5
assert L.rnn_forward(np.zeros((2, 1, 3)), h, None, None, None) == (None, None)
assert L.rnn_backward(None, None) == (None,) * 5
assert L.word_embedding_forward(np.zeros((2, 2), int), np.zeros((3, 2))) == (None, None)
assert L.word_embedding_backward(None, None) is None
assert L.lstm_step_forward(x, h, h, None, None, None) == (None, None, None)
assert L.lstm_step_backward(h, h, None) == (None,) * 6
assert L.lstm_forward(None, h, None, None, None) == (None, None)
assert L.lstm_backward(None, None) == (None,) * 5
m = CaptioningRNN({"<NULL>": 0, "<START>": 1, "<END>": 2, "a": 3}, input_dim=3, wordvec_dim=2, hidden_dim=4)
loss, grads = m.loss(np.zeros((2, 3)), np.ones((2, 4), int))
assert loss == 0.0 and grads == {}
caps = m.sample(np.zeros((2, 3)), max_length=5)
assert caps.shape == (2, 5) and (caps == 0).all()
print("placeholders ok")
'''


def test_template_imports_and_returns_placeholders():
    proc = subprocess.run([PYTHON, "-c", TEMPLATE_PROBE, str(TEMPLATE)], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "placeholders ok" in proc.stdout


def test_fixtures_check_passes_on_committed_fixtures():
    proc = run_cli("fixtures", "--check", timeout=300)
    assert proc.returncode == 0, proc.stderr


@pytest.fixture
def fresh_fixtures():
    """What a fresh generation gives: the committed fixtures, which the test above finds the same as one
    (a second generation here cost 12 s of the suite)."""
    return FIXTURES


def test_fixtures_check_catches_an_edited_value(tmp_path, fresh_fixtures):
    committed = tmp_path / "fixtures"
    shutil.copytree(FIXTURES, committed)
    with h5py.File(committed / "visible.h5", "r+") as f:
        ds = f["rnn_step_forward/notebook/expected/next_h"]
        ds[0, 0] = ds[0, 0] + 1e-3
    problems = fixturegen.compare(committed, fresh_fixtures)
    assert any("visible.h5: sha256 differs" in p for p in problems), problems
    assert any("rnn_step_forward/notebook: expected[next_h] differs" in p for p in problems), problems


def test_fixtures_check_catches_a_removed_file(tmp_path, fresh_fixtures):
    committed = tmp_path / "fixtures"
    shutil.copytree(FIXTURES, committed)
    (committed / "coco_synth" / "coco2014_vocab.json").unlink()
    problems = fixturegen.compare(committed, fresh_fixtures)
    assert any("coco2014_vocab.json: listed in the manifest but missing" in p for p in problems), problems


def test_fixtures_stay_small_and_hidden_cases_are_separate():
    total = sum(p.stat().st_size for p in FIXTURES.rglob("*") if p.is_file())
    print(f"fixtures/ total size: {total / 1024:.0f} KiB")
    assert total < 20 * 1024 * 1024
    with h5py.File(FIXTURES / "visible.h5") as f:
        vis = [f"{fn}/{c}" for fn in f for c in f[fn]]
    with h5py.File(FIXTURES / "hidden.h5") as f:
        hid = [f"{fn}/{c}" for fn in f for c in f[fn]]
    assert vis and hid
    assert all(not c.split("/")[1].startswith("hidden") for c in vis)
    assert all(c.split("/")[1].startswith("hidden") for c in hid)


def test_example_submission_is_generated_and_current():
    proc = run_cli("examples", "--check")
    assert proc.returncode == 0, proc.stderr


def test_tf32_emulation_rounds_to_a_10_bit_mantissa():
    """grader.tools.spread's TF32 emulation (the margin the tolerances would keep on a GPU with TF32 on): every
    float32 keeps 10 mantissa bits, is the nearest such value (ties away from zero), and keeps its sign."""
    torch = pytest.importorskip("torch")
    from grader.tools.spread import _tf32_round
    x = torch.from_numpy(np.random.RandomState(0).standard_normal(10_000).astype(np.float32) * 1e3)
    ties = torch.tensor([1 + 2 ** -11, -(1 + 2 ** -11), 3 * 2 ** -11 + 1], dtype=torch.float32)
    r = _tf32_round(torch.cat([x, ties]))
    bits = r.view(torch.int32)
    assert int((bits & 0x1FFF).abs().max()) == 0                       # the 13 dropped bits are zero
    ulp = torch.ldexp(torch.ones_like(r), torch.frexp(torch.cat([x, ties]))[1] - 11)  # TF32 spacing at |x|
    assert bool(((r - torch.cat([x, ties])).abs() <= ulp / 2).all())   # nearest
    assert bool((torch.sign(r) == torch.sign(torch.cat([x, ties]))).all())
    assert r[-3:].tolist() == [1 + 2 ** -10, -(1 + 2 ** -10), 1 + 2 ** -9]  # ties away from zero
