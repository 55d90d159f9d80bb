"""
First-order update rules used by the solvers.

Every rule has the signature

    next_w, config = update(w, dw, config)

where
- w: Array of current parameter values
- dw: Array of the same shape as w with the gradient of the loss on w
- config: Dictionary of hyperparameters (learning rate, decay rates, ...) and
  of any state the rule carries from one step to the next (moving averages,
  step counter). A missing entry takes the rule's default; passing None is the
  same as passing an empty dictionary.

and the return values are
- next_w: The parameter values after one update
- config: The configuration dictionary to pass to the next call
"""
import numpy as np


def sgd(w, dw, config=None):
    """
    Plain stochastic gradient descent.

    config:
    - learning_rate: Scalar step size (default 1e-2)
    """
    if config is None:
        config = {}
    config.setdefault('learning_rate', 1e-2)

    next_w = w - config['learning_rate'] * dw
    return next_w, config


def sgd_momentum(w, dw, config=None):
    """
    Stochastic gradient descent with momentum.

    config:
    - learning_rate: Scalar step size (default 1e-2)
    - momentum: Scalar in [0, 1) weighting the previous velocity (default 0.9)
    - velocity: Array of the same shape as w holding the moving average of
      the updates (default zeros)
    """
    if config is None:
        config = {}
    config.setdefault('learning_rate', 1e-2)
    config.setdefault('momentum', 0.9)
    velocity = config.get('velocity', np.zeros_like(w))

    velocity = config['momentum'] * velocity - config['learning_rate'] * dw
    next_w = w + velocity
    config['velocity'] = velocity
    return next_w, config


def rmsprop(w, dw, config=None):
    """
    RMSProp: scale each step by a running root-mean-square of the gradients.

    config:
    - learning_rate: Scalar step size (default 1e-2)
    - decay_rate: Scalar in [0, 1) for the running average of squared
      gradients (default 0.99)
    - epsilon: Small scalar that keeps the division finite (default 1e-8)
    - cache: Running average of squared gradients (default zeros)
    """
    if config is None:
        config = {}
    config.setdefault('learning_rate', 1e-2)
    config.setdefault('decay_rate', 0.99)
    config.setdefault('epsilon', 1e-8)
    config.setdefault('cache', np.zeros_like(w))

    decay = config['decay_rate']
    cache = decay * config['cache'] + (1 - decay) * dw * dw
    next_w = w - config['learning_rate'] * dw / (np.sqrt(cache) + config['epsilon'])
    config['cache'] = cache
    return next_w, config


def adam(w, dw, config=None):
    """
    Adam: momentum on the gradient and on its square, with bias correction.

    config:
    - learning_rate: Scalar step size (default 1e-3)
    - beta1: Decay rate of the first-moment average (default 0.9)
    - beta2: Decay rate of the second-moment average (default 0.999)
    - epsilon: Small scalar that keeps the division finite (default 1e-8)
    - m: First-moment average of the gradient (default zeros)
    - v: Second-moment average of the gradient (default zeros)
    - t: Number of updates made so far (default 0)
    """
    if config is None:
        config = {}
    config.setdefault('learning_rate', 1e-3)
    config.setdefault('beta1', 0.9)
    config.setdefault('beta2', 0.999)
    config.setdefault('epsilon', 1e-8)
    config.setdefault('m', np.zeros_like(w))
    config.setdefault('v', np.zeros_like(w))
    config.setdefault('t', 0)

    beta1, beta2 = config['beta1'], config['beta2']
    t = config['t'] + 1
    m = beta1 * config['m'] + (1 - beta1) * dw
    v = beta2 * config['v'] + (1 - beta2) * (dw * dw)
    m_hat = m / (1 - beta1 ** t)
    v_hat = v / (1 - beta2 ** t)
    next_w = w - config['learning_rate'] * m_hat / (np.sqrt(v_hat) + config['epsilon'])

    config['m'], config['v'], config['t'] = m, v, t
    return next_w, config
