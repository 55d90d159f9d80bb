"""Grader code that runs *inside* the worker, beside the student's.

Everything here is imported by the zygote before it drops privileges.  What it
computes is treated exactly like student output: the grader checks it, never
trusts it.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

# CS231n's names for the staged CS182 modules: the same module objects, not copies.
MODULE_ALIASES = {
    "cs231n": "deeplearning",
    "deeplearning.net_visualization_pytorch": "deeplearning.network_visualization",
    "deeplearning.style_transfer_pytorch": "deeplearning.style_transfer",
}


class _AliasLoader(importlib.abc.Loader):
    def __init__(self, real: str):
        self.real = real

    def create_module(self, spec):
        return importlib.import_module(self.real)

    def exec_module(self, module):
        pass


class _AliasFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        for alias, real in MODULE_ALIASES.items():
            if fullname == alias or fullname.startswith(alias + "."):
                target_name = real + fullname[len(alias):]
                if target_name == fullname:
                    return None
                return importlib.util.spec_from_loader(fullname, _AliasLoader(target_name))
        return None


def install_aliases():
    if not any(isinstance(f, _AliasFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _AliasFinder())


def signature_info(fn):
    """Parameter names and defaults of a callable, for adapting to course variants."""
    import inspect
    try:
        sig = inspect.signature(fn)
    except (TypeError, ValueError):
        return {"params": [], "defaults": {}}
    return {"params": list(sig.parameters),
            "defaults": {k: repr(v.default) for k, v in sig.parameters.items()
                         if v.default is not inspect.Parameter.empty}}


def has_attr(module: str, name: str) -> bool:
    try:
        mod = importlib.import_module(module)
    except Exception:
        return False
    return hasattr(mod, name)


# ------------------------------------------------------------ captioning (Q1/Q2)
def make_captioning_model(word_to_idx, input_dim, wordvec_dim, hidden_dim, cell_type, dtype, params=None):
    """The student's CaptioningRNN, with ``params`` (name -> array) set when given."""
    import numpy as np
    from deeplearning.classifiers.rnn import CaptioningRNN
    model = CaptioningRNN(word_to_idx, input_dim=input_dim, wordvec_dim=wordvec_dim, hidden_dim=hidden_dim,
                          cell_type=cell_type, dtype=np.dtype(dtype).type)
    for k, v in (params or {}).items():
        model.params[k] = v
    return model


def loss_with_param(model, name, value, features, captions):
    """model.loss with one parameter replaced (for numeric gradients); returns the loss only."""
    old = model.params[name]
    model.params[name] = value
    try:
        return model.loss(features, captions)[0]
    finally:
        model.params[name] = old


def param_names(model):
    return sorted(model.params)


def train_captioning(data_dir, cell_type, config):
    """Train the student's CaptioningRNN with the *template's* CaptioningSolver on the synthetic set.

    Returns the loss history and the trained parameters; the grader recomputes the
    loss from those parameters itself."""
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
    solver.train()
    return {"loss_history": np.asarray(solver.loss_history, dtype=np.float64),
            "params": {k: np.asarray(v, dtype=np.float64) for k, v in model.params.items()},
            "train_captions": np.asarray(data["train_captions"]),
            "train_features": np.asarray(data["train_features"][data["train_image_idxs"]], dtype=np.float64)}
