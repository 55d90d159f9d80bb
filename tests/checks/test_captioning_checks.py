"""Feedback of the CaptioningRNN.sample checks (grader/checklib/captioning.py), through the real CLI.

A sample() loop with one step misread fails its sample tests (the verdict compares with the fixtures), and
the feedback names the misreading when the grader's own sampling with that misreading
(grader/oracle/captioning.py) gives the student's captions.  Each submission here is the reference with
one misreading per cell type, graded on the sample tests only.
"""
from __future__ import annotations

import pytest
import yaml

from conftest import grade, patched_reference, rubric_subset

RNN_STEP = "h, _ = rnn_step_forward(x, h, Wx, Wh, b)"
LSTM_STEP = "h, c, _ = lstm_step_forward(x, h, c, Wx, Wh, b)"
PROJECTION = "h, _ = affine_forward(features, W_proj, b_proj)"

MISREAD = {
    # the RNN feeds <START> at every step; the LSTM's cell state restarts at zero at every step
    "start_every_step+cell_not_carried": (
        [(RNN_STEP, "h, _ = rnn_step_forward(W_embed[np.full(N, self._start)], h, Wx, Wh, b)"),
         (LSTM_STEP, "h, _c_next, _ = lstm_step_forward(x, h, c, Wx, Wh, b)")],
        {"rnn": "<START> is the input word at every step", "lstm": "the cell state restarts at zero"}),
    # h0 without b_proj (both cells)
    "no_b_proj": (
        [(PROJECTION, "h = features.dot(W_proj)")],
        {"rnn": "projected without b_proj", "lstm": "projected without b_proj"}),
    # the RNN starts every step from h0; the LSTM's cell state starts at h0
    "hidden_not_carried+cell_starts_at_h0": (
        [(PROJECTION, "h, _ = affine_forward(features, W_proj, b_proj)\n        h0 = h"),
         (RNN_STEP, "h, _ = rnn_step_forward(x, h0, Wx, Wh, b)"),
         ("c = np.zeros_like(h)", "c = h.copy()")],
        {"rnn": "every step starts from h0 again", "lstm": "the cell state starts at h0"}),
}


@pytest.fixture(scope="module")
def sample_rubric(tmp_path_factory):
    path = tmp_path_factory.mktemp("rubric") / "sample.yaml"
    path.write_text(yaml.safe_dump(rubric_subset(("Q1", "Q2"), keep=lambda t: "sample" in t["name"])))
    return str(path)


@pytest.mark.parametrize("misread", sorted(MISREAD))
def test_a_misread_sample_loop_is_named_in_its_feedback(tmp_path, sample_rubric, misread):
    edits, said = MISREAD[misread]
    sub = patched_reference(tmp_path / "sub", {"classifiers/rnn.py": edits})
    g = grade(sub, rubric=sample_rubric)
    lost = g.lost()
    for cell, words in said.items():
        mine = {n: out for n, out in lost.items() if f"({cell})" in n}
        # the visible and the hidden sample test both fail, and both name the misreading
        assert len(mine) == 2, (cell, sorted(lost), g.results["score"])
        for name, out in mine.items():
            assert "greedy decoding differs" in out and words in out, (name, out)
