"""The reference RNN/LSTM captioning solution against the notebooks' own cells.

Every value the RNN and LSTM captioning notebooks print is checked here with
the notebooks' set-ups (same linspace inputs, same seeds, same shapes), then
the models are overfit on the synthetic data set of grader/course/coco_synth.py,
and the provided data helpers are exercised on that set.

Tolerances. The notebooks ask for errors "on the order of 1e-k or less"; this
file reads that as "below 1e-(k-1)", the only reading under which the
notebooks' own printed errors pass (the LSTM notebook prints a dh0 error of
2.5e-08 under "e-8 or less"). Each constant below names the notebook cell it
comes from and the error the reference measures (numpy 2.2.6, float64).
Run with ``pytest -s`` or ``-rA`` to see every measured error.
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from deeplearning.captioning_solver import CaptioningSolver
from deeplearning.classifiers.rnn import CaptioningRNN
from deeplearning.coco_utils import decode_captions, load_coco_data, sample_coco_minibatch
from deeplearning.gradient_check import (eval_numerical_gradient, eval_numerical_gradient_array,
                                         rel_error)
from deeplearning.layers import affine_backward, affine_forward
from deeplearning import optim
from deeplearning.rnn_layers import (lstm_backward, lstm_forward, lstm_step_backward,
                                     lstm_step_forward, rnn_backward, rnn_forward,
                                     rnn_step_backward, rnn_step_forward, sigmoid,
                                     temporal_affine_backward, temporal_affine_forward,
                                     temporal_softmax_loss, word_embedding_backward,
                                     word_embedding_forward)
from conftest import REFERENCE
from grader.course.coco_synth import OVERFIT_CONFIG, write_synthetic_coco

# Expected arrays are printed by the notebooks to 8 decimals, so rounding alone
# gives relative errors up to ~8e-8 on the small entries (the notebook's own
# rnn_forward "h error" is 7.7e-08). Measured: rnn_step_forward 6.3e-09,
# rnn_forward 7.7e-08, word_embedding_forward 1.0e-08, lstm_step_forward
# next_h 5.7e-09 / next_c 5.8e-09, lstm_forward 8.6e-08.
FORWARD_VALUE_TOL = 1e-7
# "Vanilla RNN: step backward": "errors on the order of e-8 or less".
# Measured: at most 9.7e-10 (dWx).
RNN_STEP_BACKWARD_TOL = 1e-7
# "Vanilla RNN: backward": "errors on the order of e-6 or less".
# Measured: at most 1.3e-07 (dWh).
RNN_BACKWARD_TOL = 1e-5
# "Word embedding: backward": "an error on the order of e-11 or less".
# Measured: 3.3e-12.
WORD_EMBEDDING_BACKWARD_TOL = 1e-10
# "LSTM: step backward": "errors on the order of e-7 or less".
# Measured: at most 2.7e-08 (dWh).
LSTM_STEP_BACKWARD_TOL = 1e-6
# "LSTM: backward": "errors on the order of e-8 or less (For dWh, it's fine if
# your error is on the order of e-6 or less)". Measured: at most 2.3e-08
# (dh0); dWh 1.2e-06.
LSTM_BACKWARD_TOL = 1e-7
LSTM_BACKWARD_DWH_TOL = 1e-5
# "RNN for image captioning" / "LSTM captioning model": "a difference on the
# order of e-10 or less" against the printed expected loss (an absolute
# difference, as the notebook computes it). Measured: rnn 2.6e-12, lstm 2.3e-12.
CAPTIONING_LOSS_TOL = 1e-10
# Numeric gradient check of CaptioningRNN (h=1e-6): "errors around the order
# of e-6 or less". Measured (rnn, elementwise rel_error): at most 4.5e-07 (Wx).
CAPTIONING_GRAD_TOL = 1e-5
# The notebooks check the model's gradients for the vanilla RNN only. For the
# LSTM with the same set-up the elementwise rel_error is dominated by entries
# whose true gradient is ~1e-7 (Wx: an entry of 1.2e-07 against finite-
# difference noise of ~3e-10, rel_error 1.0e-03) however correct the code is,
# so the LSTM check uses the error relative to the largest gradient entry,
# max|num - ana| / max(|num| + |ana|). Measured: at most 9.0e-08 (Wx).
CAPTIONING_LSTM_GRAD_TOL = 1e-6


def _report(name, value):
    print('%s: %.3e' % (name, value))
    return value


# ---------------------------------------------------------------------------
# Vanilla RNN
# ---------------------------------------------------------------------------

def test_rnn_step_forward_notebook():
    N, D, H = 3, 10, 4
    x = np.linspace(-0.4, 0.7, num=N * D).reshape(N, D)
    prev_h = np.linspace(-0.2, 0.5, num=N * H).reshape(N, H)
    Wx = np.linspace(-0.1, 0.9, num=D * H).reshape(D, H)
    Wh = np.linspace(-0.3, 0.7, num=H * H).reshape(H, H)
    b = np.linspace(-0.2, 0.4, num=H)

    next_h, _ = rnn_step_forward(x, prev_h, Wx, Wh, b)
    expected_next_h = np.asarray([
        [-0.58172089, -0.50182032, -0.41232771, -0.31410098],
        [0.66854692, 0.79562378, 0.87755553, 0.92795967],
        [0.97934501, 0.99144213, 0.99646691, 0.99854353]])

    assert next_h.shape == (N, H)
    assert _report('next_h error', rel_error(expected_next_h, next_h)) < FORWARD_VALUE_TOL


def test_rnn_step_backward_gradcheck():
    np.random.seed(231)
    N, D, H = 4, 5, 6
    x = np.random.randn(N, D)
    h = np.random.randn(N, H)
    Wx = np.random.randn(D, H)
    Wh = np.random.randn(H, H)
    b = np.random.randn(H)

    out, cache = rnn_step_forward(x, h, Wx, Wh, b)
    dnext_h = np.random.randn(*out.shape)

    f = lambda _: rnn_step_forward(x, h, Wx, Wh, b)[0]
    numeric = [eval_numerical_gradient_array(f, arr, dnext_h) for arr in (x, h, Wx, Wh, b)]
    analytic = rnn_step_backward(dnext_h, cache)

    for name, num, ana in zip(('dx', 'dprev_h', 'dWx', 'dWh', 'db'), numeric, analytic):
        assert ana.shape == num.shape, name
        assert _report('%s error' % name, rel_error(num, ana)) < RNN_STEP_BACKWARD_TOL, name


def test_rnn_forward_notebook():
    N, T, D, H = 2, 3, 4, 5
    x = np.linspace(-0.1, 0.3, num=N * T * D).reshape(N, T, D)
    h0 = np.linspace(-0.3, 0.1, num=N * H).reshape(N, H)
    Wx = np.linspace(-0.2, 0.4, num=D * H).reshape(D, H)
    Wh = np.linspace(-0.4, 0.1, num=H * H).reshape(H, H)
    b = np.linspace(-0.7, 0.1, num=H)

    h, _ = rnn_forward(x, h0, Wx, Wh, b)
    expected_h = np.asarray([
        [[-0.42070749, -0.27279261, -0.11074945, 0.05740409, 0.22236251],
         [-0.39525808, -0.22554661, -0.0409454, 0.14649412, 0.32397316],
         [-0.42305111, -0.24223728, -0.04287027, 0.15997045, 0.35014525]],
        [[-0.55857474, -0.39065825, -0.19198182, 0.02378408, 0.23735671],
         [-0.27150199, -0.07088804, 0.13562939, 0.33099728, 0.50158768],
         [-0.51014825, -0.30524429, -0.06755202, 0.17806392, 0.40333043]]])

    assert h.shape == (N, T, H)
    assert _report('h error', rel_error(expected_h, h)) < FORWARD_VALUE_TOL


def test_rnn_backward_gradcheck():
    np.random.seed(231)
    N, D, T, H = 2, 3, 10, 5
    x = np.random.randn(N, T, D)
    h0 = np.random.randn(N, H)
    Wx = np.random.randn(D, H)
    Wh = np.random.randn(H, H)
    b = np.random.randn(H)

    out, cache = rnn_forward(x, h0, Wx, Wh, b)
    dout = np.random.randn(*out.shape)
    analytic = rnn_backward(dout, cache)

    f = lambda _: rnn_forward(x, h0, Wx, Wh, b)[0]
    numeric = [eval_numerical_gradient_array(f, arr, dout) for arr in (x, h0, Wx, Wh, b)]

    for name, num, ana in zip(('dx', 'dh0', 'dWx', 'dWh', 'db'), numeric, analytic):
        assert ana.shape == num.shape, name
        assert _report('%s error' % name, rel_error(num, ana)) < RNN_BACKWARD_TOL, name


# ---------------------------------------------------------------------------
# Word embedding
# ---------------------------------------------------------------------------

def test_word_embedding_forward_notebook():
    N, T, V, D = 2, 4, 5, 3
    x = np.asarray([[0, 3, 1, 2], [2, 1, 0, 3]])
    W = np.linspace(0, 1, num=V * D).reshape(V, D)

    out, _ = word_embedding_forward(x, W)
    expected_out = np.asarray([
        [[0., 0.07142857, 0.14285714],
         [0.64285714, 0.71428571, 0.78571429],
         [0.21428571, 0.28571429, 0.35714286],
         [0.42857143, 0.5, 0.57142857]],
        [[0.42857143, 0.5, 0.57142857],
         [0.21428571, 0.28571429, 0.35714286],
         [0., 0.07142857, 0.14285714],
         [0.64285714, 0.71428571, 0.78571429]]])

    assert out.shape == (N, T, D)
    assert _report('out error', rel_error(expected_out, out)) < FORWARD_VALUE_TOL


def test_word_embedding_backward_gradcheck():
    np.random.seed(231)
    N, T, V, D = 50, 3, 5, 6
    x = np.random.randint(V, size=(N, T))
    W = np.random.randn(V, D)

    out, cache = word_embedding_forward(x, W)
    dout = np.random.randn(*out.shape)
    dW = word_embedding_backward(dout, cache)

    f = lambda W: word_embedding_forward(x, W)[0]
    dW_num = eval_numerical_gradient_array(f, W, dout)

    assert dW.shape == (V, D)
    assert _report('dW error', rel_error(dW, dW_num)) < WORD_EMBEDDING_BACKWARD_TOL


# ---------------------------------------------------------------------------
# LSTM
# ---------------------------------------------------------------------------

def test_sigmoid_is_stable():
    x = np.array([-1000.0, -30.0, 0.0, 30.0, 1000.0])
    with np.errstate(over='raise', invalid='raise'):
        s = sigmoid(x)
    assert np.all(np.isfinite(s))
    assert s[2] == 0.5
    assert s[0] == 0.0 and s[-1] == 1.0
    np.testing.assert_allclose(s[1:4], 1 / (1 + np.exp(-x[1:4])), rtol=1e-12)


def test_lstm_step_forward_notebook():
    N, D, H = 3, 4, 5
    x = np.linspace(-0.4, 1.2, num=N * D).reshape(N, D)
    prev_h = np.linspace(-0.3, 0.7, num=N * H).reshape(N, H)
    prev_c = np.linspace(-0.4, 0.9, num=N * H).reshape(N, H)
    Wx = np.linspace(-2.1, 1.3, num=4 * D * H).reshape(D, 4 * H)
    Wh = np.linspace(-0.7, 2.2, num=4 * H * H).reshape(H, 4 * H)
    b = np.linspace(0.3, 0.7, num=4 * H)

    next_h, next_c, _ = lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b)

    expected_next_h = np.asarray([
        [0.24635157, 0.28610883, 0.32240467, 0.35525807, 0.38474904],
        [0.49223563, 0.55611431, 0.61507696, 0.66844003, 0.7159181],
        [0.56735664, 0.66310127, 0.74419266, 0.80889665, 0.858299]])
    expected_next_c = np.asarray([
        [0.32986176, 0.39145139, 0.451556, 0.51014116, 0.56717407],
        [0.66382255, 0.76674007, 0.87195994, 0.97902709, 1.08751345],
        [0.74192008, 0.90592151, 1.07717006, 1.25120233, 1.42395676]])

    assert next_h.shape == (N, H) and next_c.shape == (N, H)
    assert _report('next_h error', rel_error(expected_next_h, next_h)) < FORWARD_VALUE_TOL
    assert _report('next_c error', rel_error(expected_next_c, next_c)) < FORWARD_VALUE_TOL


def test_lstm_step_backward_gradcheck():
    np.random.seed(231)
    N, D, H = 4, 5, 6
    x = np.random.randn(N, D)
    prev_h = np.random.randn(N, H)
    prev_c = np.random.randn(N, H)
    Wx = np.random.randn(D, 4 * H)
    Wh = np.random.randn(H, 4 * H)
    b = np.random.randn(4 * H)

    next_h, next_c, cache = lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b)
    dnext_h = np.random.randn(*next_h.shape)
    dnext_c = np.random.randn(*next_c.shape)

    f_h = lambda _: lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b)[0]
    f_c = lambda _: lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b)[1]
    numeric = [eval_numerical_gradient_array(f_h, arr, dnext_h)
               + eval_numerical_gradient_array(f_c, arr, dnext_c)
               for arr in (x, prev_h, prev_c, Wx, Wh, b)]
    analytic = lstm_step_backward(dnext_h, dnext_c, cache)

    for name, num, ana in zip(('dx', 'dh', 'dc', 'dWx', 'dWh', 'db'), numeric, analytic):
        assert ana.shape == num.shape, name
        assert _report('%s error' % name, rel_error(num, ana)) < LSTM_STEP_BACKWARD_TOL, name


def test_lstm_forward_notebook():
    N, D, H, T = 2, 5, 4, 3
    x = np.linspace(-0.4, 0.6, num=N * T * D).reshape(N, T, D)
    h0 = np.linspace(-0.4, 0.8, num=N * H).reshape(N, H)
    Wx = np.linspace(-0.2, 0.9, num=4 * D * H).reshape(D, 4 * H)
    Wh = np.linspace(-0.3, 0.6, num=4 * H * H).reshape(H, 4 * H)
    b = np.linspace(0.2, 0.7, num=4 * H)

    h, _ = lstm_forward(x, h0, Wx, Wh, b)
    expected_h = np.asarray([
        [[0.01764008, 0.01823233, 0.01882671, 0.0194232],
         [0.11287491, 0.12146228, 0.13018446, 0.13902939],
         [0.31358768, 0.33338627, 0.35304453, 0.37250975]],
        [[0.45767879, 0.4761092, 0.4936887, 0.51041945],
         [0.6704845, 0.69350089, 0.71486014, 0.7346449],
         [0.81733511, 0.83677871, 0.85403753, 0.86935314]]])

    assert h.shape == (N, T, H)
    assert _report('h error', rel_error(expected_h, h)) < FORWARD_VALUE_TOL


def test_lstm_backward_gradcheck():
    np.random.seed(231)
    N, D, T, H = 2, 3, 10, 6
    x = np.random.randn(N, T, D)
    h0 = np.random.randn(N, H)
    Wx = np.random.randn(D, 4 * H)
    Wh = np.random.randn(H, 4 * H)
    b = np.random.randn(4 * H)

    out, cache = lstm_forward(x, h0, Wx, Wh, b)
    dout = np.random.randn(*out.shape)
    analytic = lstm_backward(dout, cache)

    f = lambda _: lstm_forward(x, h0, Wx, Wh, b)[0]
    numeric = [eval_numerical_gradient_array(f, arr, dout) for arr in (x, h0, Wx, Wh, b)]

    for name, num, ana in zip(('dx', 'dh0', 'dWx', 'dWh', 'db'), numeric, analytic):
        tol = LSTM_BACKWARD_DWH_TOL if name == 'dWh' else LSTM_BACKWARD_TOL
        assert ana.shape == num.shape, name
        assert _report('%s error' % name, rel_error(num, ana)) < tol, name


# ---------------------------------------------------------------------------
# CaptioningRNN
# ---------------------------------------------------------------------------

NOTEBOOK_WORD_TO_IDX = {'<NULL>': 0, 'cat': 2, 'dog': 3}


@pytest.mark.parametrize('cell_type, feature_range, expected_loss', [
    ('rnn', (-1.5, 0.3), 9.83235591003),
    ('lstm', (-0.5, 1.7), 9.82445935443),
])
def test_captioning_loss_notebook(cell_type, feature_range, expected_loss):
    N, D, W, H = 10, 20, 30, 40
    V = len(NOTEBOOK_WORD_TO_IDX)
    T = 13
    model = CaptioningRNN(NOTEBOOK_WORD_TO_IDX, input_dim=D, wordvec_dim=W, hidden_dim=H,
                          cell_type=cell_type, dtype=np.float64)
    for k, v in model.params.items():
        model.params[k] = np.linspace(-1.4, 1.3, num=v.size).reshape(*v.shape)

    features = np.linspace(feature_range[0], feature_range[1], num=N * D).reshape(N, D)
    captions = (np.arange(N * T) % V).reshape(N, T)

    loss, grads = model.loss(features, captions)
    print('loss: ', loss)
    assert _report('difference', abs(loss - expected_loss)) < CAPTIONING_LOSS_TOL
    assert set(grads) == set(model.params)
    for k in grads:
        assert grads[k].shape == model.params[k].shape, k


def _captioning_gradcheck(cell_type):
    np.random.seed(231)
    batch_size, timesteps, input_dim, wordvec_dim, hidden_dim = 2, 3, 4, 5, 6
    vocab_size = len(NOTEBOOK_WORD_TO_IDX)
    captions = np.random.randint(vocab_size, size=(batch_size, timesteps))
    features = np.random.randn(batch_size, input_dim)
    model = CaptioningRNN(NOTEBOOK_WORD_TO_IDX, input_dim=input_dim, wordvec_dim=wordvec_dim,
                          hidden_dim=hidden_dim, cell_type=cell_type, dtype=np.float64)
    loss, grads = model.loss(features, captions)
    assert set(grads) == set(model.params)
    pairs = {}
    for name in sorted(grads):
        f = lambda _: model.loss(features, captions)[0]
        pairs[name] = (eval_numerical_gradient(f, model.params[name], verbose=False, h=1e-6),
                       grads[name])
    return pairs


def test_captioning_rnn_gradcheck():
    for name, (num, ana) in _captioning_gradcheck('rnn').items():
        err = rel_error(num, ana)
        print('%s relative error: %e' % (name, err))
        assert err < CAPTIONING_GRAD_TOL, name


def test_captioning_lstm_gradcheck():
    for name, (num, ana) in _captioning_gradcheck('lstm').items():
        scaled = np.max(np.abs(num - ana)) / np.max(np.abs(num) + np.abs(ana))
        print('%s relative error: %e (relative to the largest entry: %e)'
              % (name, rel_error(num, ana), scaled))
        assert scaled < CAPTIONING_LSTM_GRAD_TOL, name


def test_captioning_all_null_targets():
    """Captions whose every target is <NULL> give zero loss and zero gradients."""
    np.random.seed(0)
    for cell_type in ('rnn', 'lstm'):
        model = CaptioningRNN(NOTEBOOK_WORD_TO_IDX, input_dim=4, wordvec_dim=5, hidden_dim=6,
                              cell_type=cell_type, dtype=np.float64)
        captions = np.zeros((2, 5), dtype=np.int32)
        captions[:, 0] = 1
        loss, grads = model.loss(np.random.randn(2, 4), captions)
        assert loss == 0
        assert set(grads) == set(model.params)
        assert all(np.all(g == 0) for g in grads.values())


def test_captioning_init_params():
    np.random.seed(0)
    model = CaptioningRNN({'<NULL>': 0, '<START>': 1, '<END>': 2, 'a': 3}, input_dim=7,
                          wordvec_dim=5, hidden_dim=6, cell_type='lstm')
    shapes = {'W_embed': (4, 5), 'W_proj': (7, 6), 'b_proj': (6,), 'Wx': (5, 24),
              'Wh': (6, 24), 'b': (24,), 'W_vocab': (6, 4), 'b_vocab': (4,)}
    assert {k: v.shape for k, v in model.params.items()} == shapes
    assert all(v.dtype == np.float32 for v in model.params.values())
    assert (model._null, model._start, model._end) == (0, 1, 2)
    with pytest.raises(ValueError):
        CaptioningRNN({'<NULL>': 0}, cell_type='gru')


@pytest.mark.parametrize('cell_type', ['rnn', 'lstm'])
def test_sample_shape_and_start(cell_type):
    np.random.seed(231)
    word_to_idx = {'<NULL>': 0, '<START>': 1, '<END>': 2, 'cat': 3, 'dog': 4}
    model = CaptioningRNN(word_to_idx, input_dim=8, wordvec_dim=6, hidden_dim=5,
                          cell_type=cell_type, dtype=np.float64)
    # <START> can never win the argmax, so column 0 (the first sampled word,
    # not the <START> token fed in) holds no <START>.
    model.params['b_vocab'][word_to_idx['<START>']] = -1e3
    features = np.random.randn(3, 8)
    captions = model.sample(features, max_length=7)
    assert captions.shape == (3, 7)
    assert np.issubdtype(captions.dtype, np.integer)
    assert np.all((captions >= 0) & (captions < len(word_to_idx)))
    assert not np.any(captions[:, 0] == model._start)
    assert model.sample(features).shape == (3, 30)

    # Column 0 is the first word sampled after feeding <START>: the argmax of
    # the scores from one step on the projected features.
    p = model.params
    h0 = features.dot(p['W_proj']) + p['b_proj']
    x0 = p['W_embed'][np.full(3, 1)]
    if cell_type == 'rnn':
        h1, _ = rnn_step_forward(x0, h0, p['Wx'], p['Wh'], p['b'])
    else:
        h1, _, _ = lstm_step_forward(x0, h0, np.zeros_like(h0), p['Wx'], p['Wh'], p['b'])
    np.testing.assert_array_equal(captions[:, 0], np.argmax(h1.dot(p['W_vocab']) + p['b_vocab'], 1))


# ---------------------------------------------------------------------------
# Provided helpers
# ---------------------------------------------------------------------------

def test_affine_and_temporal_layers_gradcheck():
    np.random.seed(1)
    x = np.random.randn(3, 2, 4)
    w = np.random.randn(8, 5)
    b = np.random.randn(5)
    out, cache = affine_forward(x, w, b)
    dout = np.random.randn(*out.shape)
    dx, dw, db = affine_backward(dout, cache)
    f = lambda _: affine_forward(x, w, b)[0]
    for num_of, ana in ((x, dx), (w, dw), (b, db)):
        assert rel_error(eval_numerical_gradient_array(f, num_of, dout), ana) < 1e-8

    x = np.random.randn(2, 3, 4)
    w = np.random.randn(4, 5)
    b = np.random.randn(5)
    out, cache = temporal_affine_forward(x, w, b)
    dout = np.random.randn(*out.shape)
    dx, dw, db = temporal_affine_backward(dout, cache)
    f = lambda _: temporal_affine_forward(x, w, b)[0]
    for num_of, ana in ((x, dx), (w, dw), (b, db)):
        assert rel_error(eval_numerical_gradient_array(f, num_of, dout), ana) < 1e-8


def test_temporal_softmax_loss():
    # The sanity checks of the course's temporal_softmax_loss cell: with small
    # random scores the loss is about N * T * mask_rate * log(V) / N.
    np.random.seed(231)
    for N, T, V, p, expected in ((100, 1, 10, 1.0, 2.3), (100, 10, 10, 1.0, 23), (5000, 10, 10, 0.1, 2.3)):
        x = 0.001 * np.random.randn(N, T, V)
        y = np.random.randint(V, size=(N, T))
        mask = np.random.rand(N, T) <= p
        loss, _ = temporal_softmax_loss(x, y, mask)
        assert abs(loss - expected) < 0.05 * expected

    N, T, V = 7, 8, 9
    x = np.random.randn(N, T, V)
    y = np.random.randint(V, size=(N, T))
    mask = np.random.rand(N, T) > 0.5
    loss, dx = temporal_softmax_loss(x, y, mask, verbose=False)
    dx_num = eval_numerical_gradient(lambda x: temporal_softmax_loss(x, y, mask)[0], x, verbose=False)
    assert _report('temporal_softmax_loss dx error', rel_error(dx, dx_num)) < 1e-7


def test_eval_numerical_gradient_restores_input():
    x = np.random.RandomState(0).randn(3, 4)
    before = x.copy()
    grad = eval_numerical_gradient(lambda v: np.sum(v ** 3), x, verbose=False)
    np.testing.assert_array_equal(x, before)
    np.testing.assert_allclose(grad, 3 * before ** 2, rtol=1e-6)
    grad = eval_numerical_gradient_array(lambda v: v ** 2, x, np.ones_like(x))
    np.testing.assert_array_equal(x, before)
    np.testing.assert_allclose(grad, 2 * before, rtol=1e-6)
    assert rel_error(np.zeros(3), np.zeros(3)) == 0
    assert rel_error(np.array([1.0]), np.array([3.0])) == 0.5


def test_optim_update_rules():
    w = np.linspace(-1, 1, 6).reshape(2, 3)
    dw = np.linspace(0.5, -0.5, 6).reshape(2, 3)

    next_w, config = optim.adam(w, dw)
    assert config['learning_rate'] == 1e-3 and config['beta1'] == 0.9
    assert config['beta2'] == 0.999 and config['epsilon'] == 1e-8 and config['t'] == 1
    # The first Adam step moves every weight by about learning_rate against
    # the sign of its gradient.
    np.testing.assert_allclose(next_w, w - 1e-3 * np.sign(dw), atol=1e-7)
    next_w2, config = optim.adam(next_w, dw, config)
    assert config['t'] == 2
    np.testing.assert_allclose(next_w2, w - 2e-3 * np.sign(dw), atol=1e-7)

    next_w, config = optim.sgd(w, dw, {'learning_rate': 0.1})
    np.testing.assert_allclose(next_w, w - 0.1 * dw)

    next_w, config = optim.sgd_momentum(w, dw, {'learning_rate': 0.1})
    np.testing.assert_allclose(next_w, w - 0.1 * dw)
    np.testing.assert_allclose(config['velocity'], -0.1 * dw)

    next_w, config = optim.rmsprop(w, dw)
    np.testing.assert_allclose(config['cache'], 0.01 * dw ** 2)
    np.testing.assert_allclose(next_w, w - 1e-2 * np.sign(dw) * 10, rtol=1e-6)


# ---------------------------------------------------------------------------
# Synthetic data, coco_utils and the solver
# ---------------------------------------------------------------------------

@pytest.fixture(scope='module')
def coco_dir(tmp_path_factory):
    return write_synthetic_coco(tmp_path_factory.mktemp('coco'))


def test_synthetic_coco_is_deterministic_and_small(coco_dir, tmp_path):
    again = write_synthetic_coco(tmp_path / 'again')
    names = sorted(os.listdir(coco_dir))
    assert names == sorted(os.listdir(again)) == sorted([
        'coco2014_captions.h5', 'coco2014_vocab.json', 'train2014_urls.txt', 'val2014_urls.txt',
        'train2014_vgg16_fc7_pca.h5', 'train2014_vgg16_fc7.h5',
        'val2014_vgg16_fc7_pca.h5', 'val2014_vgg16_fc7.h5'])
    for name in names:
        assert Path(coco_dir, name).read_bytes() == Path(again, name).read_bytes(), name
    total = sum(os.path.getsize(os.path.join(coco_dir, n)) for n in names)
    print('synthetic set: %d bytes' % total)
    assert total < 1_000_000
    other = write_synthetic_coco(tmp_path / 'other', seed=5)
    assert (Path(other, 'coco2014_captions.h5').read_bytes()
            != Path(coco_dir, 'coco2014_captions.h5').read_bytes())


def test_load_coco_data(coco_dir):
    data = load_coco_data(base_dir=coco_dir)
    assert list(data) == ['train_captions', 'train_image_idxs', 'val_captions', 'val_image_idxs',
                          'train_features', 'val_features', 'idx_to_word', 'word_to_idx',
                          'train_urls', 'val_urls']
    vocab = json.loads(Path(coco_dir, 'coco2014_vocab.json').read_text())
    assert data['idx_to_word'] == vocab['idx_to_word']
    assert data['word_to_idx'] == vocab['word_to_idx']
    assert data['idx_to_word'][:4] == ['<NULL>', '<START>', '<END>', '<UNK>']
    assert all(data['word_to_idx'][w] == i for i, w in enumerate(data['idx_to_word']))
    assert 20 <= len(data['idx_to_word']) - 4 <= 40

    for split in ('train', 'val'):
        caps = data['%s_captions' % split]
        idxs = data['%s_image_idxs' % split]
        feats = data['%s_features' % split]
        urls = data['%s_urls' % split]
        assert caps.dtype == np.int32 and caps.ndim == 2 and caps.shape[1] == 17
        assert idxs.dtype == np.int32 and idxs.shape == caps.shape[:1]
        assert feats.dtype == np.float32 and feats.ndim == 2
        assert urls.shape == feats.shape[:1] and all(u.startswith('http') for u in urls)
        assert idxs.min() >= 0 and idxs.max() < feats.shape[0]
        assert np.all(caps[:, 0] == 1)
        for row in caps:
            words = [data['idx_to_word'][i] for i in row]
            end = words.index('<END>')
            assert all(w == '<NULL>' for w in words[end + 1:])
            assert '<NULL>' not in words[:end] and '<START>' not in words[1:]
    assert 200 <= data['train_captions'].shape[0] <= 500
    assert 50 <= data['train_features'].shape[0] <= 200
    # Several captions per image, as in COCO.
    assert len(np.unique(data['train_image_idxs'])) < data['train_captions'].shape[0]

    full = load_coco_data(base_dir=coco_dir, pca_features=False)
    assert full['train_features'].shape[0] == data['train_features'].shape[0]
    assert not np.array_equal(full['train_features'], data['train_features'])


def test_load_coco_data_max_train(coco_dir):
    data = load_coco_data(base_dir=coco_dir)
    np.random.seed(231)
    small = load_coco_data(base_dir=coco_dir, max_train=50)
    np.random.seed(231)
    keep = np.random.randint(data['train_captions'].shape[0], size=50)
    np.testing.assert_array_equal(small['train_captions'], data['train_captions'][keep])
    np.testing.assert_array_equal(small['train_image_idxs'], data['train_image_idxs'][keep])
    np.testing.assert_array_equal(small['train_features'], data['train_features'])
    np.testing.assert_array_equal(small['val_captions'], data['val_captions'])


def test_coco_data_dir_env_var(coco_dir):
    code = ('import deeplearning.coco_utils as c, os; '
            'assert os.path.samefile(c.BASE_DIR, os.environ["COCO_DATA_DIR"]); '
            'print(c.load_coco_data()["train_captions"].shape[0])')
    env = dict(os.environ, COCO_DATA_DIR=str(coco_dir),
               PYTHONPATH=os.pathsep.join([str(REFERENCE), os.environ.get('PYTHONPATH', '')]))
    done = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == load_coco_data(base_dir=coco_dir)['train_captions'].shape[0]

    env.pop('COCO_DATA_DIR')
    code = ('import deeplearning.coco_utils as c, os; '
            'print(os.path.relpath(c.BASE_DIR, os.path.dirname(c.__file__)))')
    done = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == os.path.join('datasets', 'coco_captioning')


def test_decode_captions():
    idx_to_word = ['<NULL>', '<START>', '<END>', '<UNK>', 'a', 'cat']
    caps = np.array([[1, 4, 5, 2, 0, 0],
                     [1, 4, 0, 3, 2, 5],
                     [4, 5, 5, 5, 5, 5]])
    assert decode_captions(caps, idx_to_word) == [
        '<START> a cat <END>', '<START> a <UNK> <END>', 'a cat cat cat cat cat']
    assert decode_captions(caps[0], idx_to_word) == '<START> a cat <END>'
    assert decode_captions(np.array([2, 4, 5]), idx_to_word) == '<END>'
    assert decode_captions(np.zeros((2, 3), dtype=np.int32), idx_to_word) == ['', '']


def test_sample_coco_minibatch(coco_dir):
    data = load_coco_data(base_dir=coco_dir)
    for split in ('train', 'val'):
        np.random.seed(0)
        captions, features, urls = sample_coco_minibatch(data, batch_size=7, split=split)
        np.random.seed(0)
        picks = np.random.choice(data['%s_captions' % split].shape[0], 7)
        idxs = data['%s_image_idxs' % split][picks]
        np.testing.assert_array_equal(captions, data['%s_captions' % split][picks])
        np.testing.assert_array_equal(features, data['%s_features' % split][idxs])
        np.testing.assert_array_equal(urls, data['%s_urls' % split][idxs])
        assert captions.shape == (7, 17) and features.shape == (7, data['train_features'].shape[1])
    captions, _, _ = sample_coco_minibatch(data)
    assert captions.shape[0] == 100


def test_solver_api(coco_dir):
    np.random.seed(0)
    data = load_coco_data(base_dir=coco_dir, max_train=30)
    model = CaptioningRNN(data['word_to_idx'], input_dim=data['train_features'].shape[1],
                          wordvec_dim=8, hidden_dim=8)
    with pytest.raises(ValueError):
        CaptioningSolver(model, data, update_rule='adam', bogus=1)
    with pytest.raises(ValueError):
        CaptioningSolver(model, data, update_rule='no_such_rule')
    solver = CaptioningSolver(model, data, update_rule='sgd', optim_config={'learning_rate': 0.5},
                              lr_decay=0.5, batch_size=10, num_epochs=2, verbose=False)
    solver.train()
    # 30 captions in batches of 10: 3 iterations per epoch, decayed twice.
    assert len(solver.loss_history) == 6 and solver.epoch == 2
    assert all(c['learning_rate'] == 0.125 for c in solver.optim_configs.values())
    assert set(solver.optim_configs) == set(model.params)
    assert len({id(c) for c in solver.optim_configs.values()}) == len(model.params)


@pytest.mark.parametrize('cell_type', ['rnn', 'lstm'])
def test_overfit_small_data(coco_dir, cell_type):
    cfg = OVERFIT_CONFIG[cell_type]
    start = time.perf_counter()
    np.random.seed(cfg['seed'])
    small_data = load_coco_data(base_dir=coco_dir, max_train=cfg['max_train'])
    model = CaptioningRNN(cell_type=cell_type, word_to_idx=small_data['word_to_idx'],
                          input_dim=small_data['train_features'].shape[1],
                          hidden_dim=cfg['hidden_dim'], wordvec_dim=cfg['wordvec_dim'],
                          dtype=np.float32)
    solver = CaptioningSolver(model, small_data, update_rule='adam',
                              num_epochs=cfg['num_epochs'], batch_size=cfg['batch_size'],
                              optim_config={'learning_rate': cfg['learning_rate']},
                              lr_decay=cfg['lr_decay'], verbose=False)
    solver.train()
    elapsed = time.perf_counter() - start
    final = solver.loss_history[-1]
    print('%s overfit: final loss %.4f (threshold %.1f, first %.2f) in %d iterations, %.2f s'
          % (cell_type, final, cfg['threshold'], solver.loss_history[0],
             len(solver.loss_history), elapsed))
    assert final < cfg['threshold']

    # A memorised training set is sampled back word for word.
    caps = small_data['train_captions']
    feats = small_data['train_features'][small_data['train_image_idxs']]
    sampled = model.sample(feats, max_length=caps.shape[1] - 1)
    assert sampled.shape == (caps.shape[0], caps.shape[1] - 1)
    assert not np.any(sampled[:, 0] == model._start)
    idx_to_word = small_data['idx_to_word']
    assert decode_captions(sampled, idx_to_word) == decode_captions(caps[:, 1:], idx_to_word)


# ---------------------------------------------------------------------------
# The student version of these files
# ---------------------------------------------------------------------------

STUDENT_FUNCTIONS = {
    'rnn_layers.py': ['rnn_step_forward', 'rnn_step_backward', 'rnn_forward', 'rnn_backward',
                      'word_embedding_forward', 'word_embedding_backward', 'lstm_step_forward',
                      'lstm_step_backward', 'lstm_forward', 'lstm_backward'],
    'classifiers/rnn.py': ['CaptioningRNN.loss', 'CaptioningRNN.sample'],
}


def test_stripped_files_import_and_return_placeholders(tmp_path):
    """With every solution region replaced by ``pass`` (what students get) the
    modules import, the helpers still work and each student function returns
    the starter code's placeholder."""
    from grader.tools.template import strip_source

    package = tmp_path / 'deeplearning'
    for rel in ('__init__.py', 'layers.py', 'rnn_layers.py', 'classifiers/__init__.py',
                'classifiers/rnn.py'):
        source = (REFERENCE / 'deeplearning' / rel).read_text()
        stripped = strip_source(source, rel)
        if rel in STUDENT_FUNCTIONS:
            assert stripped != source
            expected = len(STUDENT_FUNCTIONS[rel])
            assert source.count('# *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****') == expected
            assert source.count('# *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****') == expected
        (package / rel).parent.mkdir(parents=True, exist_ok=True)
        (package / rel).write_text(stripped)

    code = r'''
import numpy as np
from deeplearning.rnn_layers import *
from deeplearning.classifiers.rnn import CaptioningRNN
x2, x3 = np.ones((2, 3)), np.ones((2, 4, 3))
h, W, W4 = np.ones((2, 5)), np.ones((3, 5)), np.ones((3, 20))
res = {
  'rnn_step_forward': rnn_step_forward(x2, h, W, np.ones((5, 5)), np.ones(5)),
  'rnn_step_backward': rnn_step_backward(h, None),
  'rnn_forward': rnn_forward(x3, h, W, np.ones((5, 5)), np.ones(5)),
  'rnn_backward': rnn_backward(np.ones((2, 4, 5)), None),
  'word_embedding_forward': word_embedding_forward(np.zeros((2, 4), int), W),
  'word_embedding_backward': word_embedding_backward(np.ones((2, 4, 5)), None),
  'lstm_step_forward': lstm_step_forward(x2, h, h, W4, np.ones((5, 20)), np.ones(20)),
  'lstm_step_backward': lstm_step_backward(h, h, None),
  'lstm_forward': lstm_forward(x3, h, W4, np.ones((5, 20)), np.ones(20)),
  'lstm_backward': lstm_backward(np.ones((2, 4, 5)), None),
}
want = {'rnn_step_forward': (None, None), 'rnn_step_backward': (None,) * 5,
        'rnn_forward': (None, None), 'rnn_backward': (None,) * 5,
        'word_embedding_forward': (None, None), 'word_embedding_backward': None,
        'lstm_step_forward': (None,) * 3, 'lstm_step_backward': (None,) * 6,
        'lstm_forward': (None, None), 'lstm_backward': (None,) * 5}
assert res == want, res
assert abs(sigmoid(np.array([0.0]))[0] - 0.5) < 1e-12
loss, dx = temporal_softmax_loss(np.zeros((1, 2, 4)), np.zeros((1, 2), int), np.ones((1, 2), bool))
assert abs(loss - 2 * np.log(4)) < 1e-12
for cell in ('rnn', 'lstm'):
    m = CaptioningRNN({'<NULL>': 0, '<START>': 1, '<END>': 2}, input_dim=3, wordvec_dim=4,
                      hidden_dim=5, cell_type=cell)
    assert m.loss(np.ones((2, 3)), np.ones((2, 6), int)) == (0.0, {})
    caps = m.sample(np.ones((2, 3)), max_length=4)
    assert caps.shape == (2, 4) and caps.dtype == np.int32 and (caps == 0).all()
print('ok')
'''
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    done = subprocess.run([sys.executable, '-c', code], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == 'ok'
