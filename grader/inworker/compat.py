"""What student code sees of its environment inside the worker: module aliases and introspection.

Imported by the zygote before it drops privileges.  CS231n's module names
(``cs231n``, ``cs231n.net_visualization_pytorch``...) resolve to the same staged
modules as CS182's; the table comes from ``grader.questions`` through the
zygote's configuration.
"""
from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

# alias -> staged module (grader.questions.module_aliases(), sent in the zygote's configuration)
MODULE_ALIASES: dict[str, str] = {}


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


def install_aliases(aliases: dict[str, str]):
    """CS231n's names for the staged modules: the same module objects, not copies."""
    MODULE_ALIASES.clear()
    MODULE_ALIASES.update(aliases)
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
