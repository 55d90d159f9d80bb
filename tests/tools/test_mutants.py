"""Every catalogued student bug (grader/tools/mutants/q*.yaml) is caught on its own question.

One pytest item per mutant: the mutant is applied to a copy of reference/ and
graded through the real CLI (grader.tools.mutants.run_one) in a fork of this test process's warm
grader, as ``python -m grader mutants`` does.  The TensorFlow track's mutants
(q*_tensorflow.yaml) are graded in tests/checks/test_tf_track.py, which needs TensorFlow."""
import pytest

from conftest import warm_grader
from grader.tools import mutants

CATALOGUE = mutants.load()
PYTORCH_CATALOGUE = [m for m in CATALOGUE if not m.tensorflow]


def test_catalogue_is_large_enough_and_covers_every_question():
    print(f"{len(CATALOGUE)} mutants: " + ", ".join(sorted({m.question for m in CATALOGUE})))
    assert len([m for m in CATALOGUE if m.question in ("Q1", "Q2")]) >= 10
    for m in CATALOGUE:
        assert m.caught_by, m.name


@pytest.mark.parametrize("mutant", PYTORCH_CATALOGUE, ids=[m.name for m in PYTORCH_CATALOGUE])
def test_mutant_is_caught(mutant):
    with warm_grader() as warm:
        o = mutants.run_one(mutant, "cs231n_a3", warm=warm)
    print(mutants.report([o]))
    assert not o.error, o.error
    assert not o.escaped, f"escaped: {o.escaped}"
    assert not o.leaked, f"tests outside {mutant.question} lost points: {o.leaked}"
