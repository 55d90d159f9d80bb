"""Real students' code from the seeds gets full marks, whatever its style.

The GAN/visualization/style cells of the 2019 notebooks (seed 004) are graded in
tests/engine/test_notebook.py; here, seed 001's complete RNN/LSTM layer functions (caches as
tuples, the last step's gradient handled before the loop, T-1 indexing), read from the seed at
run time (tests/seeds.py; skipped if the seed is absent).
"""
import shutil

from conftest import REFERENCE, TEMPLATE, grade
from seeds import seed001_layer_functions


def test_seed001_layer_functions_get_full_marks(tmp_path):
    code = seed001_layer_functions()
    sub = tmp_path / "submission" / "deeplearning"
    (sub / "classifiers").mkdir(parents=True)
    # the student's finished file: the starter file with their functions filled in (later
    # definitions replace the starter's stubs), and the reference's model file beside it
    (sub / "rnn_layers.py").write_text((TEMPLATE / "deeplearning" / "rnn_layers.py").read_text() + "\n\n" + code)
    shutil.copyfile(REFERENCE / "deeplearning" / "classifiers" / "rnn.py", sub / "classifiers" / "rnn.py")
    g = grade(tmp_path / "submission", questions="Q1,Q2")
    assert not g.lost(), {n: out[:400] for n, out in g.lost().items()}
    assert len(g.tests) == 30 and g.results["score"] == 60
