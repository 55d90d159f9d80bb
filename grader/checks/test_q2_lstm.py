"""Q2: image captioning with LSTMs (numpy)."""
import pytest

from grader.checklib import captioning as cap
from grader.checklib import rnn_layers as lc
from grader.checklib.common import case_params

LSTM = lambda c: c.params.get("cell_type") == "lstm"  # noqa: E731


@pytest.mark.parametrize("case", case_params("lstm_step_forward"))
def test_lstm_step_forward(student, case):
    lc.check_forward(student, "lstm_step_forward", case)


@pytest.mark.parametrize("case,grad", case_params("lstm_step_backward", *lc.BACKWARD["lstm_step_backward"].grads))
def test_lstm_step_backward(student, case, grad):
    lc.check_backward(student, "lstm_step_backward", case, grad)


@pytest.mark.parametrize("case,grad", case_params("lstm_step_backward", *lc.BACKWARD["lstm_step_backward"].grads))
def test_lstm_step_backward_gradcheck(student, case, grad):
    lc.check_gradient(student, "lstm_step_backward", case, grad)


@pytest.mark.parametrize("case", case_params("lstm_forward"))
def test_lstm_forward(student, case):
    lc.check_forward(student, "lstm_forward", case)


@pytest.mark.parametrize("case,grad", case_params("lstm_backward", *lc.BACKWARD["lstm_backward"].grads))
def test_lstm_backward(student, case, grad):
    lc.check_backward(student, "lstm_backward", case, grad)


@pytest.mark.parametrize("case,grad", case_params("lstm_backward", *lc.BACKWARD["lstm_backward"].grads))
def test_lstm_backward_gradcheck(student, case, grad):
    lc.check_gradient(student, "lstm_backward", case, grad)


@pytest.mark.parametrize("case", case_params("captioning_loss", where=LSTM))
def test_captioning_loss(student, case):
    cap.check_loss(student, case)


@pytest.mark.parametrize("case", case_params("captioning_loss", where=LSTM))
def test_captioning_grads(student, case):
    cap.check_grads(student, case)


@pytest.mark.parametrize("case", case_params("captioning_gradcheck", where=LSTM))
def test_captioning_gradcheck(student, case):
    cap.check_model_gradient(student, case)


@pytest.mark.parametrize("case", case_params("captioning_sample", where=LSTM))
def test_captioning_sample(student, case):
    cap.check_sample(student, case)


def test_captioning_overfit(student):
    cap.check_overfit(student, "lstm")
