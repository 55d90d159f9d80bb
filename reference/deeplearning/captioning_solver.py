"""
A solver that trains captioning models such as CaptioningRNN.

Example:

    data = load_coco_data(max_train=50)
    model = CaptioningRNN(data['word_to_idx'], input_dim=data['train_features'].shape[1])
    solver = CaptioningSolver(model, data,
                              update_rule='adam',
                              optim_config={'learning_rate': 5e-3},
                              lr_decay=0.95,
                              num_epochs=50, batch_size=25,
                              print_every=10)
    solver.train()
    # solver.loss_history now holds the loss of every iteration

The model must provide
- model.params: dictionary mapping parameter names to numpy arrays
- model.loss(features, captions): returns (loss, grads), where grads has the
  same keys as model.params
"""
from deeplearning import optim
from deeplearning.coco_utils import sample_coco_minibatch


class CaptioningSolver(object):
    """
    Trains a captioning model with minibatch gradient descent, using one of
    the update rules in deeplearning.optim.
    """

    def __init__(self, model, data, **kwargs):
        """
        Required arguments:
        - model: A model with the params / loss interface described above
        - data: Dictionary returned by load_coco_data

        Optional keyword arguments:
        - update_rule: Name of an update rule in deeplearning.optim
          (default 'sgd')
        - optim_config: Dictionary of hyperparameters handed to the update
          rule; every parameter gets its own copy (default {})
        - lr_decay: The learning rate is multiplied by this after every epoch
          (default 1.0)
        - batch_size: Number of captions per minibatch (default 100)
        - num_epochs: Number of epochs to train for (default 10)
        - print_every: Print the loss every this many iterations (default 10)
        - verbose: If False, print nothing (default True)
        """
        self.model = model
        self.data = data

        self.update_rule = kwargs.pop('update_rule', 'sgd')
        self.optim_config = kwargs.pop('optim_config', {})
        self.lr_decay = kwargs.pop('lr_decay', 1.0)
        self.batch_size = kwargs.pop('batch_size', 100)
        self.num_epochs = kwargs.pop('num_epochs', 10)
        self.print_every = kwargs.pop('print_every', 10)
        self.verbose = kwargs.pop('verbose', True)

        if kwargs:
            raise ValueError('Unrecognized arguments %s'
                             % ', '.join('"%s"' % k for k in kwargs))
        if not hasattr(optim, self.update_rule):
            raise ValueError('Invalid update_rule "%s"' % self.update_rule)
        self.update_rule = getattr(optim, self.update_rule)

        self._reset()

    def _reset(self):
        """Clear the training state; train() calls this only through __init__."""
        self.epoch = 0
        self.loss_history = []
        self.optim_configs = {name: dict(self.optim_config)
                              for name in self.model.params}

    def _step(self):
        """Make one gradient update on a freshly drawn training minibatch."""
        captions, features, _ = sample_coco_minibatch(
            self.data, batch_size=self.batch_size, split='train')

        loss, grads = self.model.loss(features, captions)
        self.loss_history.append(loss)

        for name, value in list(self.model.params.items()):
            next_value, next_config = self.update_rule(
                value, grads[name], self.optim_configs[name])
            self.model.params[name] = next_value
            self.optim_configs[name] = next_config

    def train(self):
        """Run the optimization for num_epochs epochs."""
        num_train = self.data['train_captions'].shape[0]
        iterations_per_epoch = max(num_train // self.batch_size, 1)
        num_iterations = self.num_epochs * iterations_per_epoch

        for it in range(num_iterations):
            self._step()

            if self.verbose and it % self.print_every == 0:
                print('(Iteration %d / %d) loss: %f'
                      % (it + 1, num_iterations, self.loss_history[-1]))

            if (it + 1) % iterations_per_epoch == 0:
                self.epoch += 1
                for config in self.optim_configs.values():
                    if 'learning_rate' in config:
                        config['learning_rate'] *= self.lr_decay
