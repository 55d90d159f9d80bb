"""
Layers for recurrent neural networks: the vanilla RNN and the LSTM (one step
and a whole sequence, forward and backward), word embeddings, and the temporal
affine and temporal softmax layers that turn hidden states into word scores.

Shapes follow one naming scheme throughout: a minibatch holds N sequences of
T steps; inputs have dimension D, hidden states dimension H, and the
vocabulary has V words.
"""
import numpy as np


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

    next_h = np.tanh(np.matmul(x, Wx) + np.matmul(prev_h, Wh) + b)
    cache = (x, prev_h, Wx, Wh, next_h)

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

    x, prev_h, Wx, Wh, next_h = cache
    dz = dnext_h * (1 - np.square(np.tanh(next_h)))
    dx = np.matmul(dz, Wx.T)
    dprev_h = np.matmul(dz, Wh.T)
    dWx = np.matmul(x.T, dz)
    dWh = np.matmul(prev_h.T, dz)
    db = np.sum(dz, axis=0)

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
    h = np.zeros((N, T, H))
    prev_h = h0
    for t in range(T):
        prev_h, _ = rnn_step_forward(x[:, t, :], prev_h, Wx, Wh, b)
        h[:, t, :] = prev_h
    cache = (x, h0, h, Wx, Wh)     # enough to rebuild every step's cache

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

    x, h0, h, Wx, Wh = cache
    N, T, H = dh.shape
    D = x.shape[2]
    dx = np.zeros((N, T, D))
    dWx = np.zeros((D, H))
    dWh = np.zeros((H, H))
    db = np.zeros(H)
    dprev_h = np.zeros((N, H))
    for t in reversed(range(T)):
        prev_h = h0 if t == 0 else h[:, t - 1, :]
        step_cache = (x[:, t, :], prev_h, Wx, Wh, h[:, t, :])
        dx[:, t, :], dprev_h, dWx_t, dWh_t, db_t = rnn_step_backward(dh[:, t, :] + dprev_h, step_cache)
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    dh0 = dprev_h

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

    out = W[x]
    cache = (x, W.shape[0])

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

    x, V = cache
    dW = np.zeros((V, dout.shape[2]))
    np.add.at(dW, x.flatten(), dout.reshape(-1, dout.shape[2]))

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

    H = prev_h.shape[1]
    a = x @ Wx + prev_h @ Wh + b
    i = sigmoid(a[:, :H])
    f = sigmoid(a[:, H:2 * H])
    o = sigmoid(a[:, 2 * H:3 * H])
    g = np.tanh(a[:, 3 * H:])
    next_c = f * prev_c + i * g
    next_h = o * np.tanh(next_c)
    cache = (x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c)

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

    x, prev_h, prev_c, Wx, Wh, i, f, o, g, next_c = cache
    tanh_c = np.tanh(next_c)
    dnext_c = dnext_c + dnext_h * o * (1 - tanh_c ** 2)
    da = np.concatenate([dnext_c * g * i * (1 - i),
                         dnext_c * prev_c * f * (1 - f),
                         dnext_h * tanh_c * o * (1 - o),
                         dnext_c * i * (1 - g ** 2)], axis=1)
    dprev_c = dnext_c * f
    dx = da @ Wx.T
    dprev_h = da @ Wh.T
    dWx = x.T @ da
    dWh = prev_h.T @ da
    db = da.sum(axis=0)

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
    h = np.zeros((N, T, H), dtype=x.dtype)
    c = np.zeros_like(h0)
    prev_h = h0
    cache = []
    for t in range(T):
        prev_h, c, step_cache = lstm_step_forward(x[:, t], prev_h, c, Wx, Wh, b)
        h[:, t] = prev_h
        cache.append(step_cache)

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
    x0, _, _, Wx, Wh = cache[0][:5]
    dx = np.zeros((N, T, x0.shape[1]), dtype=dh.dtype)
    dWx = np.zeros_like(Wx)
    dWh = np.zeros_like(Wh)
    db = np.zeros(4 * H, dtype=dh.dtype)
    dprev_h = np.zeros((N, H), dtype=dh.dtype)
    dprev_c = np.zeros((N, H), dtype=dh.dtype)
    for t in reversed(range(T)):
        dx[:, t], dprev_h, dprev_c, dWx_t, dWh_t, db_t = lstm_step_backward(dh[:, t] + dprev_h, dprev_c, cache[t])
        dWx += dWx_t
        dWh += dWh_t
        db += db_t
    dh0 = dprev_h

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
