"""
Layers for recurrent neural networks: the vanilla RNN and the LSTM (one step
and a whole sequence, forward and backward), word embeddings, and the temporal
affine and temporal softmax layers that turn hidden states into word scores.

Shapes follow one naming scheme throughout: a minibatch holds N sequences of
T steps; inputs have dimension D, hidden states dimension H, and the
vocabulary has V words.
"""
import numpy as np


from collections import namedtuple

RNNCache = namedtuple('RNNCache', ['x', 'prev_h', 'Wx', 'Wh', 'next_h'])
LSTMCache = namedtuple('LSTMCache', ['x', 'prev_h', 'prev_c', 'Wx', 'Wh', 'i', 'f', 'o', 'g', 'next_c'])
SeqCache = namedtuple('SeqCache', ['steps', 'D'])



def rnn_step_forward(x, prev_h, Wx, Wh, b):
    """
    One time step of a vanilla RNN with a tanh nonlinearity:

        next_h = tanh(x Wx + prev_h Wh + b)

    Inputs:
    - x: Inputs at this time step, of shape (N, D)
    - prev_h: Hidden state from the previous time step, of shape (N, H)
    - Wx: Input-to-hidden weights, of shape (D, H)
    - Wh: Hidden-to-hidden weights, of shape (H, H)
    - b: Biases, of shape (H,)

    Returns a tuple of:
    - next_h: New hidden state, of shape (N, H)
    - cache: Whatever the backward pass needs
    """
    next_h, cache = None, None
    ##############################################################################
    # TODO: Compute the new hidden state of one vanilla RNN step and store it    #
    # in next_h. Put everything rnn_step_backward will need into cache.          #
    ##############################################################################
    # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****

    z = np.einsum('nd,dh->nh', x, Wx) + np.einsum('nk,kh->nh', prev_h, Wh) + b
    next_h = np.tanh(z)
    cache = RNNCache(x, prev_h, Wx, Wh, next_h)

    # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    ##############################################################################
    #                             END OF YOUR CODE                               #
    ##############################################################################
    return next_h, cache


def rnn_step_backward(dnext_h, cache):
    """
    Backward pass of one vanilla RNN time step.

    Inputs:
    - dnext_h: Gradient of the loss with respect to next_h, of shape (N, H)
    - cache: The cache returned by rnn_step_forward

    Returns a tuple of:
    - dx: Gradient with respect to the inputs, of shape (N, D)
    - dprev_h: Gradient with respect to the previous hidden state, of shape (N, H)
    - dWx: Gradient with respect to Wx, of shape (D, H)
    - dWh: Gradient with respect to Wh, of shape (H, H)
    - db: Gradient with respect to b, of shape (H,)
    """
    dx, dprev_h, dWx, dWh, db = None, None, None, None, None
    ##############################################################################
    # TODO: Back-propagate dnext_h through one vanilla RNN step.                 #
    #                                                                            #
    # HINT: the derivative of tanh can be written with the value tanh itself     #
    # produced in the forward pass.                                              #
    ##############################################################################
    # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****

    dz = dnext_h * (1 - cache.next_h ** 2)
    dx = np.einsum('nh,dh->nd', dz, cache.Wx)
    dprev_h = np.einsum('nh,kh->nk', dz, cache.Wh)
    dWx = np.einsum('nd,nh->dh', cache.x, dz)
    dWh = np.einsum('nk,nh->kh', cache.prev_h, dz)
    db = np.einsum('nh->h', dz)

    # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    ##############################################################################
    #                             END OF YOUR CODE                               #
    ##############################################################################
    return dx, dprev_h, dWx, dWh, db


def rnn_forward(x, h0, Wx, Wh, b):
    """
    Run a vanilla RNN over a whole minibatch of sequences of length T and
    return the hidden state of every time step.

    Inputs:
    - x: Inputs of every time step, of shape (N, T, D)
    - h0: Initial hidden state, of shape (N, H)
    - Wx: Input-to-hidden weights, of shape (D, H)
    - Wh: Hidden-to-hidden weights, of shape (H, H)
    - b: Biases, of shape (H,)

    Returns a tuple of:
    - h: Hidden states of all time steps, of shape (N, T, H)
    - cache: Whatever the backward pass needs
    """
    h, cache = None, None
    ##############################################################################
    # TODO: Run the RNN over the sequence, calling rnn_step_forward once per     #
    # time step (a Python loop over T is fine), and collect the hidden states    #
    # in h.                                                                      #
    ##############################################################################
    # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****

    N, T, D = x.shape
    H = h0.shape[1]
    h = np.empty((N, T, H))
    steps = [None] * T
    h_t = np.zeros_like(h0)
    for t in range(T):
        h_t, steps[t] = rnn_step_forward(x[:, t, :], h_t, Wx, Wh, b)
        h[:, t, :] = h_t
    cache = SeqCache(steps, D)

    # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    ##############################################################################
    #                             END OF YOUR CODE                               #
    ##############################################################################
    return h, cache


def rnn_backward(dh, cache):
    """
    Backward pass of a vanilla RNN over a whole sequence.

    Inputs:
    - dh: Upstream gradients of all hidden states, of shape (N, T, H). These
      come from the losses at each time step only; the gradient that flows
      from one time step back into the previous one is not included and has
      to be added along the way.
    - cache: The cache returned by rnn_forward

    Returns a tuple of:
    - dx: Gradient with respect to the inputs, of shape (N, T, D)
    - dh0: Gradient with respect to the initial hidden state, of shape (N, H)
    - dWx: Gradient with respect to Wx, of shape (D, H)
    - dWh: Gradient with respect to Wh, of shape (H, H)
    - db: Gradient with respect to b, of shape (H,)
    """
    dx, dh0, dWx, dWh, db = None, None, None, None, None
    ##############################################################################
    # TODO: Back-propagate through the whole sequence, calling                   #
    # rnn_step_backward once per time step from the last one to the first.       #
    # Remember that each hidden state receives gradient both from dh and from    #
    # the following time step.                                                   #
    ##############################################################################
    # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****

    N, T, H = dh.shape
    D = cache.D
    dx = np.empty((N, T, D))
    dWx, dWh, db = 0, 0, 0
    dh_prev = np.zeros((N, H))
    for t in range(T - 1, -1, -1):
        dx_t, dh_prev, dWx_t, dWh_t, db_t = rnn_step_backward(dh[:, t, :] + dh_prev, cache.steps[t])
        dx[:, t, :] = dx_t
        dWx = dWx + dWx_t
        dWh = dWh + dWh_t
        db = db + db_t
    dh0 = dh_prev

    # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    ##############################################################################
    #                             END OF YOUR CODE                               #
    ##############################################################################
    return dx, dh0, dWx, dWh, db


def word_embedding_forward(x, W):
    """
    Look up word vectors. Each of the N sequences has T words, given as
    indices into a vocabulary of V words; each word is mapped to a vector of
    dimension D.

    Inputs:
    - x: Integer array of shape (N, T); every entry is in the range [0, V)
    - W: Word vectors, of shape (V, D); row v is the vector of word v

    Returns a tuple of:
    - out: The word vector of every input word, of shape (N, T, D)
    - cache: Whatever the backward pass needs
    """
    out, cache = None, None
    ##############################################################################
    # TODO: Look up the vector of every word in x. Integer array indexing does   #
    # this in one line.                                                          #
    ##############################################################################
    # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****

    out = np.take(W, x, axis=0)
    cache = (x, W.shape)

    # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    ##############################################################################
    #                             END OF YOUR CODE                               #
    ##############################################################################
    return out, cache


def word_embedding_backward(dout, cache):
    """
    Backward pass of the word embedding. The word indices are integers and
    get no gradient; only the gradient of the embedding matrix is returned.

    Inputs:
    - dout: Upstream gradients, of shape (N, T, D)
    - cache: The cache returned by word_embedding_forward

    Returns:
    - dW: Gradient with respect to the word vectors, of shape (V, D)
    """
    dW = None
    ##############################################################################
    # TODO: Accumulate the upstream gradients into the rows of the words that    #
    # were looked up. A word may occur many times in the minibatch, and every    #
    # occurrence adds to its row.                                                #
    #                                                                            #
    # HINT: np.add.at                                                            #
    ##############################################################################
    # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****

    x, (V, D) = cache
    flat_x = x.reshape(-1)
    flat_d = dout.reshape(-1, D)
    dW = np.stack([np.bincount(flat_x, weights=flat_d[:, j], minlength=V) for j in range(D)], axis=1)

    # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    ##############################################################################
    #                             END OF YOUR CODE                               #
    ##############################################################################
    return dW


def sigmoid(x):
    """
    Logistic sigmoid 1 / (1 + exp(-x)), computed without overflow for inputs
    of either sign.
    """
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def lstm_step_forward(x, prev_h, prev_c, Wx, Wh, b):
    """
    One time step of an LSTM.

    The activation a = x Wx + prev_h Wh + b, of shape (N, 4H), is cut into
    four blocks of H columns, in this order: the input gate i, the forget gate
    f, the output gate o and the block input g, with

        i = sigmoid(a_i), f = sigmoid(a_f), o = sigmoid(a_o), g = tanh(a_g)
        next_c = f * prev_c + i * g
        next_h = o * tanh(next_c)

    (products elementwise). A sigmoid() function is defined in this file.

    Inputs:
    - x: Inputs at this time step, of shape (N, D)
    - prev_h: Previous hidden state, of shape (N, H)
    - prev_c: Previous cell state, of shape (N, H)
    - Wx: Input-to-hidden weights, of shape (D, 4H)
    - Wh: Hidden-to-hidden weights, of shape (H, 4H)
    - b: Biases, of shape (4H,)

    Returns a tuple of:
    - next_h: New hidden state, of shape (N, H)
    - next_c: New cell state, of shape (N, H)
    - cache: Whatever the backward pass needs
    """
    next_h, next_c, cache = None, None, None
    ##############################################################################
    # TODO: Compute one LSTM step as described above, storing the new hidden     #
    # and cell states in next_h and next_c and everything lstm_step_backward     #
    # will need in cache.                                                        #
    ##############################################################################
    # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****

    a = np.einsum('nd,dk->nk', x, Wx) + np.einsum('nh,hk->nk', prev_h, Wh) + b
    a_i, a_f, a_o, a_g = np.split(a, 4, axis=1)
    i, f, o = sigmoid(a_i), sigmoid(a_f), sigmoid(a_o)
    g = np.tanh(a_g)
    next_c = f * prev_c + i * g
    next_h = o * np.tanh(next_c)
    cache = LSTMCache(x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c)

    # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    ##############################################################################
    #                             END OF YOUR CODE                               #
    ##############################################################################
    return next_h, next_c, cache


def lstm_step_backward(dnext_h, dnext_c, cache):
    """
    Backward pass of one LSTM time step.

    Inputs:
    - dnext_h: Gradient with respect to the new hidden state, of shape (N, H)
    - dnext_c: Gradient with respect to the new cell state, of shape (N, H)
    - cache: The cache returned by lstm_step_forward

    Returns a tuple of:
    - dx: Gradient with respect to the inputs, of shape (N, D)
    - dprev_h: Gradient with respect to the previous hidden state, of shape (N, H)
    - dprev_c: Gradient with respect to the previous cell state, of shape (N, H)
    - dWx: Gradient with respect to Wx, of shape (D, 4H)
    - dWh: Gradient with respect to Wh, of shape (H, 4H)
    - db: Gradient with respect to b, of shape (4H,)
    """
    dx, dprev_h, dprev_c, dWx, dWh, db = None, None, None, None, None, None
    ##############################################################################
    # TODO: Back-propagate through one LSTM step. next_c reaches the loss both   #
    # directly (dnext_c) and through next_h.                                     #
    #                                                                            #
    # HINT: sigmoid and tanh have derivatives that are easy to write with        #
    # their own outputs.                                                         #
    ##############################################################################
    # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****

    c = cache
    tc = np.tanh(c.next_c)
    dc = dnext_c + dnext_h * c.o * (1 - tc ** 2)
    da_i = dc * c.g * c.i * (1 - c.i)
    da_f = dc * c.prev_c * c.f * (1 - c.f)
    da_o = dnext_h * tc * c.o * (1 - c.o)
    da_g = dc * c.i * (1 - c.g ** 2)
    da = np.hstack([da_i, da_f, da_o, da_g])
    dx = np.einsum('nk,dk->nd', da, c.Wx)
    dprev_h = np.einsum('nk,hk->nh', da, c.Wh)
    dprev_c = dc * c.f
    dWx = np.einsum('nd,nk->dk', c.x, da)
    dWh = np.einsum('nh,nk->hk', c.prev_h, da)
    db = da.sum(0)

    # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    ##############################################################################
    #                             END OF YOUR CODE                               #
    ##############################################################################
    return dx, dprev_h, dprev_c, dWx, dWh, db


def lstm_forward(x, h0, Wx, Wh, b):
    """
    Run an LSTM over a whole minibatch of sequences of length T and return
    the hidden state of every time step.

    Only the initial hidden state is an input: the initial cell state is zero.
    The cell states are internal to the LSTM and are not returned.

    Inputs:
    - x: Inputs of every time step, of shape (N, T, D)
    - h0: Initial hidden state, of shape (N, H)
    - Wx: Input-to-hidden weights, of shape (D, 4H)
    - Wh: Hidden-to-hidden weights, of shape (H, 4H)
    - b: Biases, of shape (4H,)

    Returns a tuple of:
    - h: Hidden states of all time steps, of shape (N, T, H)
    - cache: Whatever the backward pass needs
    """
    h, cache = None, None
    ##############################################################################
    # TODO: Run the LSTM over the sequence, calling lstm_step_forward once per   #
    # time step, starting from the cell state zero.                              #
    ##############################################################################
    # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****

    N, T, D = x.shape
    H = h0.shape[1]
    h = np.empty((N, T, H))
    steps = [None] * T
    h_t, c_t = h0, np.zeros((N, H))
    for t in range(T):
        h_t, c_t, steps[t] = lstm_step_forward(x[:, t, :], h_t, c_t, Wx, Wh, b)
        h[:, t, :] = h_t
    cache = SeqCache(steps, D)

    # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    ##############################################################################
    #                             END OF YOUR CODE                               #
    ##############################################################################
    return h, cache


def lstm_backward(dh, cache):
    """
    Backward pass of an LSTM over a whole sequence.

    Inputs:
    - dh: Upstream gradients of all hidden states, of shape (N, T, H); as for
      rnn_backward, these do not include the gradient flowing between steps
    - cache: The cache returned by lstm_forward

    Returns a tuple of:
    - dx: Gradient with respect to the inputs, of shape (N, T, D)
    - dh0: Gradient with respect to the initial hidden state, of shape (N, H)
    - dWx: Gradient with respect to Wx, of shape (D, 4H)
    - dWh: Gradient with respect to Wh, of shape (H, 4H)
    - db: Gradient with respect to b, of shape (4H,)
    """
    dx, dh0, dWx, dWh, db = None, None, None, None, None
    ##############################################################################
    # TODO: Back-propagate through the whole sequence, calling                   #
    # lstm_step_backward once per time step from the last one to the first,      #
    # carrying the gradients of both the hidden and the cell state.              #
    ##############################################################################
    # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****

    N, T, H = dh.shape
    dx = np.empty((N, T, cache.D))
    dWx, dWh, db = 0, 0, 0
    dh_prev = np.zeros((N, H))
    dc_prev = np.zeros((N, H))
    for t in range(T - 1, -1, -1):
        dx[:, t, :], dh_prev, dc_prev, dWx_t, dWh_t, db_t = lstm_step_backward(dh[:, t, :] + dh_prev, dc_prev, cache.steps[t])
        dWx = dWx + dWx_t
        dWh = dWh + dWh_t
        db = db + db_t
    dh0 = dh_prev

    # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
    ##############################################################################
    #                             END OF YOUR CODE                               #
    ##############################################################################
    return dx, dh0, dWx, dWh, db


def temporal_affine_forward(x, w, b):
    """
    Apply the same affine map to the vector at every time step: N sequences
    of T vectors of dimension D become N sequences of T vectors of
    dimension M.

    Inputs:
    - x: Inputs, of shape (N, T, D)
    - w: Weights, of shape (D, M)
    - b: Biases, of shape (M,)

    Returns a tuple of:
    - out: Outputs, of shape (N, T, M)
    - cache: Values needed by temporal_affine_backward
    """
    N, T, D = x.shape
    out = x.reshape(N * T, D).dot(w).reshape(N, T, w.shape[1]) + b
    cache = (x, w, b)
    return out, cache


def temporal_affine_backward(dout, cache):
    """
    Backward pass of the temporal affine layer.

    Inputs:
    - dout: Upstream gradients, of shape (N, T, M)
    - cache: The cache returned by temporal_affine_forward

    Returns a tuple of:
    - dx: Gradient with respect to the inputs, of shape (N, T, D)
    - dw: Gradient with respect to the weights, of shape (D, M)
    - db: Gradient with respect to the biases, of shape (M,)
    """
    x, w, b = cache
    N, T, D = x.shape
    M = w.shape[1]
    dout_flat = dout.reshape(N * T, M)
    dx = dout_flat.dot(w.T).reshape(N, T, D)
    dw = x.reshape(N * T, D).T.dot(dout_flat)
    db = dout_flat.sum(axis=0)
    return dx, dw, db


def temporal_softmax_loss(x, y, mask, verbose=False):
    """
    Softmax cross-entropy loss over sequences. At each of the T time steps of
    each of the N sequences, x holds scores over a vocabulary of V words and y
    the index of the correct word. The loss is summed over time steps and
    averaged over the minibatch.

    Sequences of different lengths are padded to a common length T; mask tells
    which time steps are real and contribute to the loss (padded steps add
    nothing to the loss and get zero gradient).

    Inputs:
    - x: Scores, of shape (N, T, V)
    - y: Correct word indices, of shape (N, T); 0 <= y[i, t] < V
    - mask: Boolean array of shape (N, T); mask[i, t] is True when the step
      x[i, t] counts towards the loss
    - verbose: If True, print the shape of the flattened gradient

    Returns a tuple of:
    - loss: Scalar loss
    - dx: Gradient of the loss with respect to the scores x, of shape (N, T, V)
    """
    N, T, V = x.shape
    scores = x.reshape(N * T, V)
    targets = y.reshape(N * T)
    weights = mask.reshape(N * T)
    rows = np.arange(N * T)

    shifted = scores - scores.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = -np.sum(weights * log_probs[rows, targets]) / N

    dscores = np.exp(log_probs)
    dscores[rows, targets] -= 1
    dscores *= weights[:, np.newaxis] / N

    if verbose:
        print('dx_flat: ', dscores.shape)

    dx = dscores.reshape(N, T, V)
    return loss, dx
