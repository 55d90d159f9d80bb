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
