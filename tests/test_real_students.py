"""Real students' code from the seeds gets full marks, whatever its style.

The GAN/visualization/style cells of the 2019 notebook are graded in
test_notebook.py; here, seed 001's complete RNN/LSTM layer functions (caches
as tuples, the last step's gradient handled before the loop, T-1 indexing)."""
import shutil

from conftest import REFERENCE, ROOT, TEMPLATE, grade

SEED001 = ROOT / "tests" / "data" / "seed_students" / "rnn_layers_seed001.py"


def test_seed001_layer_functions_get_full_marks(tmp_path):
    sub = tmp_path / "submission" / "deeplearning"
    (sub / "classifiers").mkdir(parents=True)
    # the student's finished file: the starter file with their functions filled in (later
    # definitions replace the starter's stubs), and the reference's model file beside it
    (sub / "rnn_layers.py").write_text((TEMPLATE / "deeplearning" / "rnn_layers.py").read_text()
                                       + "\n\n" + SEED001.read_text())
    shutil.copyfile(REFERENCE / "deeplearning" / "classifiers" / "rnn.py", sub / "classifiers" / "rnn.py")
    proc, res, tests = grade(tmp_path / "submission", tmp_path, "--questions", "Q1,Q2")
    assert proc.returncode == 0, proc.stderr
    failed = {n: t["output"][:400] for n, t in tests.items() if t["status"] != "passed"}
    assert not failed, failed
    assert res["score"] == 60
