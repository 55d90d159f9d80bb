"""Q1/Q2 (captioning) helpers that run *inside* the worker, beside the student's code.

They build the student's CaptioningRNN with given parameters, evaluate its loss
with one parameter replaced (numeric gradients), and train it with the
template's CaptioningSolver.  Everything returned is treated like student
output (grader/checklib/captioning.py).

``standins`` names the student's layer functions replaced, for that call, by
the grader's (one bug, one deduction: grader/inworker/standins.py).
"""
from __future__ import annotations

import contextlib

from grader.inworker import standins as S

LAYERS_MODULE = S.LAYERS_MODULE


def _standing_in(names, objects=()):
    """The stand-ins for ``names``, installed in the staged package and in ``objects`` (the model judged)."""
    if not names:
        return contextlib.nullcontext()
    import importlib
    mod = importlib.import_module(LAYERS_MODULE)
    originals = {n: getattr(mod, n, None) for n in S.STEP_NAMES + ("rnn_forward", "lstm_forward")}
    return S.installed(LAYERS_MODULE, S.for_layers(names, originals), objects)


def call_with(standins, fn, *args):
    """``fn(*args)`` (e.g. a model's loss or sample method) with ``standins`` in place."""
    with _standing_in(standins, [getattr(fn, "__self__", None)]):
        return fn(*args)


def call_named_with(standins, module, name, *args):
    """The student's ``module.name(*args)`` with ``standins`` in place (looked up after they are)."""
    import importlib
    with _standing_in(standins):
        return getattr(importlib.import_module(module), name)(*args)

# the grader asks for it by this module's name (grader/checklib/rnn_layers.py)
cache_with_outputs = S.cache_with_outputs


def make_captioning_model(word_to_idx, input_dim, wordvec_dim, hidden_dim, cell_type, dtype, params=None):
    """The student's CaptioningRNN, with ``params`` (name -> array) set when given."""
    import numpy as np
    from deeplearning.classifiers.rnn import CaptioningRNN
    model = CaptioningRNN(word_to_idx, input_dim=input_dim, wordvec_dim=wordvec_dim, hidden_dim=hidden_dim,
                          cell_type=cell_type, dtype=np.dtype(dtype).type)
    for k, v in (params or {}).items():
        model.params[k] = v
    return model


def loss_with_param(model, name, value, features, captions, standins=()):
    """model.loss with one parameter replaced (for numeric gradients); returns the loss only."""
    old = model.params[name]
    model.params[name] = value
    try:
        with _standing_in(standins, [model]):
            return model.loss(features, captions)[0]
    finally:
        model.params[name] = old


def train_captioning(data_dir, cell_type, config, standins=()):
    """Train the student's CaptioningRNN with the *template's* CaptioningSolver on the synthetic set.

    Returns the loss history and the trained parameters; the grader recomputes the
    loss from those parameters itself, on its own copy of the training data."""
    import numpy as np
    from deeplearning.captioning_solver import CaptioningSolver
    from deeplearning.classifiers.rnn import CaptioningRNN
    from deeplearning.coco_utils import load_coco_data
    np.random.seed(config["seed"])
    data = load_coco_data(base_dir=data_dir, max_train=config["max_train"])
    model = CaptioningRNN(cell_type=cell_type, word_to_idx=data["word_to_idx"],
                          input_dim=data["train_features"].shape[1], hidden_dim=config["hidden_dim"],
                          wordvec_dim=config["wordvec_dim"])
    solver = CaptioningSolver(model, data, update_rule="adam", num_epochs=config["num_epochs"],
                              batch_size=config["batch_size"],
                              optim_config={"learning_rate": config["learning_rate"]},
                              lr_decay=config["lr_decay"], verbose=False, print_every=10 ** 9)
    with _standing_in(standins, [model]):
        solver.train()
    return {"loss_history": np.asarray(solver.loss_history, dtype=np.float64),
            "params": {k: np.asarray(v, dtype=np.float64) for k, v in model.params.items()}}
