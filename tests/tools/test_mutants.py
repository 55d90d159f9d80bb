"""Every catalogued student bug (grader/tools/mutants/q*.yaml) is caught on its own question.

The whole catalogue is a regression run of its own: ``make mutants`` (``python -m grader mutants``, every
PyTorch and TensorFlow mutant, a warm grader per slot, exit 1 when one escapes or costs points outside
its function), which .ci/run runs after ``make test``; it takes longer than the rest of the suite
together.  Here one pytest item per SMOKE mutant (one of each kind: a bug in the model code, one in the LSTM's
sampling, one in each torch question; the layer bug whose dependants are judged with correct layers is
the corpus's, see SMOKE) is applied to a copy
of reference/ and graded through the real CLI (grader.tools.mutants.run_one) in a fork of this test
process's warm grader, as ``python -m grader mutants`` does; the TensorFlow track's smoke mutants are in
tests/checks/test_tf_track.py, which needs TensorFlow."""
import pytest

from conftest import warm_grader
from grader.tools import mutants

CATALOGUE = mutants.load()
# A layer bug whose dependants are judged with correct layers is in the corpus: c7_cs231n2019_cosh_bug_rnn_backward
# is rnn_backward_missing_dprev_h_carry in a student's style (tests/checks/test_corpus.py), so that mutant runs
# in `make mutants` only.
SMOKE = ("lstm_sample_drops_cell_state", "sample_writes_start_token",
         "saliency_without_abs", "gram_not_normalized", "discriminator_loss_swapped_labels")
PYTORCH_SMOKE = [m for m in CATALOGUE if m.name in SMOKE]


def test_catalogue_is_large_enough_and_covers_every_question():
    print(f"{len(CATALOGUE)} mutants: " + ", ".join(sorted({m.question for m in CATALOGUE})))
    assert len([m for m in CATALOGUE if m.question in ("Q1", "Q2")]) >= 10
    for m in CATALOGUE:
        assert m.caught_by, m.name
    assert len(PYTORCH_SMOKE) == len(SMOKE), "a smoke mutant was renamed or removed from the catalogue"


@pytest.mark.parametrize("mutant", PYTORCH_SMOKE, ids=[m.name for m in PYTORCH_SMOKE])
def test_mutant_is_caught(mutant):
    with warm_grader() as warm:
        o = mutants.run_one(mutant, "cs231n_a3", warm=warm)
    print(mutants.report([o]))
    assert not o.error, o.error
    assert not o.escaped, f"escaped: {o.escaped}"
    assert not o.leaked, f"tests outside {mutant.question} lost points: {o.leaked}"
