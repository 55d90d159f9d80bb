"""An image captioning model built from the layers in deeplearning.rnn_layers."""
import numpy as np

from deeplearning.layers import *
from deeplearning.rnn_layers import *


class CaptioningRNN(object):
    """
    CaptioningRNN turns image feature vectors into captions with a recurrent
    network (a vanilla RNN or an LSTM).

    Image features have dimension D, the vocabulary has V words, captions are
    sequences of length T, word vectors have dimension W, the recurrent hidden
    state has dimension H, and minibatches hold N examples.

    The model is trained without any regularization.
    """

    def __init__(self, word_to_idx, input_dim=512, wordvec_dim=128,
                 hidden_dim=128, cell_type='rnn', dtype=np.float32):
        """
        Build a CaptioningRNN with freshly initialized parameters.

        Inputs:
        - word_to_idx: Dictionary of the V vocabulary words, mapping each word
          to a distinct integer in the range [0, V); it must contain '<NULL>'
          and normally contains '<START>' and '<END>'
        - input_dim: Dimension D of the image feature vectors
        - wordvec_dim: Dimension W of the word vectors
        - hidden_dim: Dimension H of the recurrent hidden state
        - cell_type: 'rnn' for a vanilla RNN or 'lstm' for an LSTM
        - dtype: numpy floating type of the parameters; float32 for training,
          float64 for numeric gradient checks
        """
        if cell_type not in {'rnn', 'lstm'}:
            raise ValueError('Invalid cell_type "%s"' % cell_type)

        self.cell_type = cell_type
        self.dtype = dtype
        self.word_to_idx = word_to_idx
        self.idx_to_word = {i: w for w, i in word_to_idx.items()}
        self.params = {}

        vocab_size = len(word_to_idx)

        self._null = word_to_idx['<NULL>']
        self._start = word_to_idx.get('<START>', None)
        self._end = word_to_idx.get('<END>', None)

        # Word vectors
        self.params['W_embed'] = np.random.randn(vocab_size, wordvec_dim) / 100

        # Projection of the image features to the initial hidden state
        self.params['W_proj'] = np.random.randn(input_dim, hidden_dim) / np.sqrt(input_dim)
        self.params['b_proj'] = np.zeros(hidden_dim)

        # Recurrent cell; an LSTM has four blocks of H activations
        gates = {'rnn': 1, 'lstm': 4}[cell_type]
        self.params['Wx'] = np.random.randn(wordvec_dim, gates * hidden_dim) / np.sqrt(wordvec_dim)
        self.params['Wh'] = np.random.randn(hidden_dim, gates * hidden_dim) / np.sqrt(hidden_dim)
        self.params['b'] = np.zeros(gates * hidden_dim)

        # Hidden state to vocabulary scores
        self.params['W_vocab'] = np.random.randn(hidden_dim, vocab_size) / np.sqrt(hidden_dim)
        self.params['b_vocab'] = np.zeros(vocab_size)

        for name, value in self.params.items():
            self.params[name] = value.astype(self.dtype)

    def loss(self, features, captions):
        """
        Training-time loss and gradients. The ground-truth captions are fed to
        the recurrent network one word at a time, and the network is scored on
        predicting the word that follows each input word.

        Inputs:
        - features: Image features, of shape (N, D)
        - captions: Ground-truth captions, an integer array of shape (N, T);
          every entry is in the range 0 <= captions[i, t] < V

        Returns a tuple of:
        - loss: Scalar loss
        - grads: Dictionary with the same keys as self.params holding the
          gradient of the loss with respect to each parameter
        """
        # The network reads every word but the last (captions_in, which starts
        # with <START>) and must predict every word but the first (captions_out):
        # after reading word t it should output word t + 1.
        captions_in = captions[:, :-1]
        captions_out = captions[:, 1:]

        # Padding (<NULL>) positions of captions_out do not count.
        mask = (captions_out != self._null)

        # Image features -> initial hidden state
        W_proj, b_proj = self.params['W_proj'], self.params['b_proj']

        # Word vectors
        W_embed = self.params['W_embed']

        # Recurrent cell
        Wx, Wh, b = self.params['Wx'], self.params['Wh'], self.params['b']

        # Hidden state -> vocabulary scores
        W_vocab, b_vocab = self.params['W_vocab'], self.params['b_vocab']

        loss, grads = 0.0, {}
        ############################################################################
        # TODO: Write the forward and the backward pass of the model.              #
        #                                                                          #
        # Forward:                                                                 #
        # (1) Project the image features to the initial hidden state, of shape     #
        #     (N, H), with an affine layer.                                        #
        # (2) Embed the words of captions_in, giving an array of shape (N, T, W).  #
        # (3) Run the vanilla RNN or the LSTM (as self.cell_type says) over the    #
        #     embedded words, giving hidden states of shape (N, T, H).             #
        # (4) Turn every hidden state into vocabulary scores with a temporal       #
        #     affine layer, giving an array of shape (N, T, V).                    #
        # (5) Compute the temporal softmax loss against captions_out, leaving      #
        #     out the <NULL> positions with the mask above.                        #
        #                                                                          #
        # Backward: compute the gradient of the loss with respect to every         #
        # parameter and store it in grads under the parameter's name, so that      #
        # grads[k] goes with self.params[k]. Store the loss in loss.               #
        #                                                                          #
        # The layers in deeplearning.layers may be used here.                      #
        ############################################################################
        # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****

        forward = {'rnn': rnn_forward, 'lstm': lstm_forward}[self.cell_type]
        backward = {'rnn': rnn_backward, 'lstm': lstm_backward}[self.cell_type]
        h0 = np.einsum('nd,dh->nh', features, W_proj) + b_proj
        we, we_cache = word_embedding_forward(captions_in, W_embed)
        hs, rec_cache = forward(we, h0, Wx, Wh, b)
        scores, aff_cache = temporal_affine_forward(hs, W_vocab, b_vocab)
        loss, dscores = temporal_softmax_loss(scores, captions_out, mask, verbose=False)
        dhs, dW_vocab, db_vocab = temporal_affine_backward(dscores, aff_cache)
        dwe, dh0, dWx, dWh, db = backward(dhs, rec_cache)
        dW_embed = word_embedding_backward(dwe, we_cache)
        dW_proj = np.einsum('nd,nh->dh', features, dh0)
        db_proj = dh0.sum(axis=0)
        grads = {'W_proj': dW_proj, 'b_proj': db_proj, 'W_embed': dW_embed, 'Wx': dWx, 'Wh': dWh, 'b': db,
                 'W_vocab': dW_vocab, 'b_vocab': db_vocab}

        # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
        ############################################################################
        #                             END OF YOUR CODE                             #
        ############################################################################

        return loss, grads

    def sample(self, features, max_length=30):
        """
        Test-time greedy captioning. The initial hidden state is the affine
        projection of the image features and the first input word is <START>.
        At every step the current word is embedded, one recurrent step is
        taken, the new hidden state is turned into vocabulary scores, and the
        highest-scoring word becomes both the output and the next input.

        For an LSTM the cell state starts at zero.

        Inputs:
        - features: Image features, of shape (N, D)
        - max_length: Length T of the generated captions

        Returns:
        - captions: Integer array of shape (N, max_length) of sampled word
          indices in the range [0, V). Column 0 holds the first sampled word,
          not the <START> token.
        """
        N = features.shape[0]
        captions = self._null * np.ones((N, max_length), dtype=np.int32)

        W_proj, b_proj = self.params['W_proj'], self.params['b_proj']
        W_embed = self.params['W_embed']
        Wx, Wh, b = self.params['Wx'], self.params['Wh'], self.params['b']
        W_vocab, b_vocab = self.params['W_vocab'], self.params['b_vocab']

        ############################################################################
        # TODO: Generate captions one word at a time. Start from the hidden state  #
        # obtained by projecting the image features and from the word <START>      #
        # (its index is self._start). At every time step:                          #
        # (1) embed the current word;                                              #
        # (2) take one step of the RNN / LSTM from the previous hidden state       #
        #     with the embedded word;                                              #
        # (3) score every vocabulary word from the new hidden state;               #
        # (4) pick the highest-scoring word, write its index into captions, and    #
        #     feed it in at the next step.                                         #
        #                                                                          #
        # You may keep generating after <END> has been produced.                   #
        #                                                                          #
        # HINT: rnn_forward and lstm_forward need the whole input sequence in      #
        # advance, so call rnn_step_forward or lstm_step_forward in a loop. The    #
        # whole minibatch is processed at once. An LSTM starts with a zero cell    #
        # state.                                                                   #
        ############################################################################
        # *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****

        h = np.einsum('nd,dh->nh', features, W_proj) + b_proj
        c = np.zeros_like(h)
        word = np.repeat(self._start, N)
        finished = np.zeros(N, dtype=bool)
        for t in range(max_length):
            emb = W_embed[word]
            if self.cell_type == 'rnn':
                h, _ = rnn_step_forward(emb, h, Wx, Wh, b)
            else:
                h, c, _ = lstm_step_forward(emb, h, c, Wx, Wh, b)
            scores = np.einsum('nh,hv->nv', h, W_vocab) + b_vocab
            word = np.argmax(scores, axis=1)
            captions[:, t] = np.where(finished, self._null, word)
            finished |= (word == self._end)
            if finished.all():
                break

        # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
        ############################################################################
        #                             END OF YOUR CODE                             #
        ############################################################################
        return captions
