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

        h0, cache_h0 = affine_forward(features, W_proj, b_proj)
        x, cache_embed = word_embedding_forward(captions_in, W_embed)
        if self.cell_type == 'rnn':
            h, cache_rnn = rnn_forward(x, h0, Wx, Wh, b)
        elif self.cell_type == 'lstm':
            h, cache_rnn = lstm_forward(x, h0, Wx, Wh, b)
        scores, cache_scores = temporal_affine_forward(h, W_vocab, b_vocab)
        loss, dscores = temporal_softmax_loss(scores, captions_out, mask)

        dh, grads['W_vocab'], grads['b_vocab'] = temporal_affine_backward(dscores, cache_scores)
        if self.cell_type == 'rnn':
            dx, dh0, grads['Wx'], grads['Wh'], grads['b'] = rnn_backward(dh, cache_rnn)
        elif self.cell_type == 'lstm':
            dx, dh0, grads['Wx'], grads['Wh'], grads['b'] = lstm_backward(dh, cache_rnn)
        grads['W_embed'] = word_embedding_backward(dx, cache_embed)
        dfeatures, grads['W_proj'], grads['b_proj'] = affine_backward(dh0, cache_h0)

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

        prev_h, _ = affine_forward(features, W_proj, b_proj)
        prev_c = np.zeros_like(prev_h)
        x = self._start * np.ones((N, 1), dtype=np.int32)
        for t in range(max_length):
            x_embed, _ = word_embedding_forward(x, W_embed)
            x_embed = x_embed.reshape(N, -1)
            if self.cell_type == 'rnn':
                next_h, _ = rnn_step_forward(x_embed, prev_h, Wx, Wh, b)
            else:
                next_h, next_c, _ = lstm_step_forward(x_embed, prev_h, prev_c, Wx, Wh, b)
                prev_c = next_c
            scores, _ = affine_forward(next_h, W_vocab, b_vocab)
            captions[:, t] = scores.argmax(axis=1)
            x = captions[:, t].reshape(N, 1)
            prev_h = next_h

        # *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****
        ############################################################################
        #                             END OF YOUR CODE                             #
        ############################################################################
        return captions
