"""Q1: image captioning with vanilla RNNs (numpy)."""
import pytest

from grader.checklib import captioning as cap
from grader.checklib import rnn_layers as lc
from grader.engine import cases

RNN = lambda c: c.params.get("cell_type") == "rnn"  # noqa: E731


@cases.of("rnn_step_forward")
def test_rnn_step_forward(student, case):
    lc.check_forward(student, "rnn_step_forward", case)


@cases.of("rnn_step_backward", grad=lc.BACKWARD["rnn_step_backward"].grads)
def test_rnn_step_backward(student, case, grad):
    lc.check_backward(student, "rnn_step_backward", case, grad)


@cases.of("rnn_step_backward", grad=lc.BACKWARD["rnn_step_backward"].grads)
def test_rnn_step_backward_gradcheck(student, case, grad):
    lc.check_gradient(student, "rnn_step_backward", case, grad)


@cases.of("rnn_forward")
def test_rnn_forward(student, case):
    lc.check_forward(student, "rnn_forward", case)


@cases.of("rnn_backward", grad=lc.BACKWARD["rnn_backward"].grads)
def test_rnn_backward(student, case, grad):
    lc.check_backward(student, "rnn_backward", case, grad)


@cases.of("rnn_backward", grad=lc.BACKWARD["rnn_backward"].grads)
def test_rnn_backward_gradcheck(student, case, grad):
    lc.check_gradient(student, "rnn_backward", case, grad)


@cases.of("word_embedding_forward")
def test_word_embedding_forward(student, case):
    lc.check_forward(student, "word_embedding_forward", case)


@cases.of("word_embedding_backward", grad=("dW",))
def test_word_embedding_backward(student, case, grad):
    lc.check_backward(student, "word_embedding_backward", case, grad)


@cases.of("word_embedding_backward", grad=("dW",))
def test_word_embedding_backward_gradcheck(student, case, grad):
    lc.check_gradient(student, "word_embedding_backward", case, grad)


@cases.of("captioning_loss", where=RNN)
def test_captioning_loss(student, case):
    cap.judged(student, lambda standins: cap.check_loss(student, case, standins), cap.loss_deps("rnn"))


@cases.of("captioning_loss", where=RNN)
def test_captioning_grads(student, case):
    cap.judged(student, lambda standins: cap.check_grads(student, case, standins), cap.loss_deps("rnn"))


@cases.of("captioning_gradcheck", where=RNN)
def test_captioning_gradcheck(student, case):
    cap.judged(student, lambda standins: cap.check_model_gradient(student, case, standins), cap.loss_deps("rnn"))


@cases.of("captioning_sample", where=RNN)
def test_captioning_sample(student, case):
    cap.judged(student, lambda standins: cap.check_sample(student, case, standins), cap.sample_deps("rnn"))


def test_captioning_overfit(student):
    cap.judged(student, lambda standins: cap.check_overfit(student, "rnn", standins), cap.loss_deps("rnn"))
