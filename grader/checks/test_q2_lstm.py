"""Q2: image captioning with LSTMs (numpy)."""
import pytest

from grader.checklib import captioning as cap
from grader.checklib import rnn_layers as lc
from grader.engine import cases

LSTM = lambda c: c.params.get("cell_type") == "lstm"  # noqa: E731


@cases.of("lstm_step_forward")
def test_lstm_step_forward(student, case):
    lc.check_forward(student, "lstm_step_forward", case)


@cases.of("lstm_step_backward", grad=lc.BACKWARD["lstm_step_backward"].grads)
def test_lstm_step_backward(student, case, grad):
    lc.check_backward(student, "lstm_step_backward", case, grad)


@cases.of("lstm_step_backward", grad=lc.BACKWARD["lstm_step_backward"].grads)
def test_lstm_step_backward_gradcheck(student, case, grad):
    lc.check_gradient(student, "lstm_step_backward", case, grad)


@cases.of("lstm_forward")
def test_lstm_forward(student, case):
    lc.check_forward(student, "lstm_forward", case)


@cases.of("lstm_backward", grad=lc.BACKWARD["lstm_backward"].grads)
def test_lstm_backward(student, case, grad):
    lc.check_backward(student, "lstm_backward", case, grad)


@cases.of("lstm_backward", grad=lc.BACKWARD["lstm_backward"].grads)
def test_lstm_backward_gradcheck(student, case, grad):
    lc.check_gradient(student, "lstm_backward", case, grad)


@cases.of("captioning_loss", where=LSTM)
def test_captioning_loss(student, case):
    cap.judged(student, lambda standins: cap.check_loss(student, case, standins), cap.loss_deps("lstm"))


@cases.of("captioning_loss", where=LSTM)
def test_captioning_grads(student, case):
    cap.judged(student, lambda standins: cap.check_grads(student, case, standins), cap.loss_deps("lstm"))


@cases.of("captioning_gradcheck", where=LSTM)
def test_captioning_gradcheck(student, case):
    cap.judged(student, lambda standins: cap.check_model_gradient(student, case, standins), cap.loss_deps("lstm"))


@cases.of("captioning_sample", where=LSTM)
def test_captioning_sample(student, case):
    cap.judged(student, lambda standins: cap.check_sample(student, case, standins), cap.sample_deps("lstm"))


def test_captioning_overfit(student):
    cap.judged(student, lambda standins: cap.check_overfit(student, "lstm", standins), cap.loss_deps("lstm"))
