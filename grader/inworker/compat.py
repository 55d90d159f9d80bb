"""What student code sees of its environment inside the worker: module aliases, the names older
course years relied on, and introspection.

Imported by the zygote before it drops privileges.  CS231n's module names
(``cs231n``, ``cs231n.net_visualization_pytorch``...) resolve to the same staged
modules as CS182's; the table comes from ``grader.questions`` through the
zygote's configuration.

``install_course_compat()`` is what the zygote calls once, before it forks
children for student code (it changes this process only, never the grader's):

- ``install_numpy1_aliases()``: the numpy 1.x names that numpy 2 removed
  (``np.int``, ``np.float``, ``np.product``, ``np.asscalar``, ``np.NaN`` ...),
  with numpy 1.x's meaning, for code written for the CS182 2019-2021 and
  CS231n 2019-2020 environments (numpy 1.16-1.19);
- ``install_scipy_aliases()``: ``scipy.ndimage.filters`` (which the provided
  first lines of CS231n 2019-2023's network visualization import) for a SciPy
  that no longer ships it;
- ``install_torch_legacy()``: PyTorch 0.3-1.4 behaviour that torch 2.x made an
  error (``loss.data[0]``, ``backward(retain_variables=True)``, uint8 masks), for
  code written in the 2017-2020 course years;
- ``sys.breakpointhook``: a ``breakpoint()`` left in a function does nothing, as
  ``PYTHONBREAKPOINT=0`` makes it (nobody is at a keyboard to answer a debugger);
- ``preimport()``: the modules those provided lines import
  (``grader.course.years.required_modules()``), loaded while every file is
  readable, before the zygote drops privileges.
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


# ------------------------------------------------------------------ numpy 1.x names
def _asscalar(a):
    """numpy 1.x ``np.asscalar(a)``: ``a.item()``."""
    return a.item()


def _alen(a):
    """numpy 1.x ``np.alen(a)``: the length of the first dimension."""
    import numpy as np
    return len(np.array(a, ndmin=1))


def _msort(a):
    """numpy 1.x ``np.msort(a)``: sorted along the first axis."""
    import numpy as np
    return np.sort(a, axis=0)


def _asfarray(a, dtype=None):
    """numpy 1.x ``np.asfarray``: an array of a floating type (float64 unless a float dtype is given)."""
    import numpy as np
    dtype = np.dtype(np.float64 if dtype is None else dtype)
    if not np.issubdtype(dtype, np.inexact):
        dtype = np.dtype(np.float64)
    return np.asarray(a, dtype=dtype)


def numpy1_aliases() -> dict:
    """name -> value of each numpy 1.x name that numpy 2 removed, as numpy 1.x defined it.

    The builtin-type aliases are the builtins themselves (``np.int is int`` as in numpy < 1.24),
    the function aliases are numpy's own functions (``np.product is np.prod``).  ``np.bool`` and
    ``np.long`` are left as numpy 2 has them: numpy 2 defines them again (as ``np.bool_`` and
    the C long), and for dtypes they mean what numpy 1.x meant."""
    import math
    import warnings

    import numpy as np
    exc = getattr(np, "exceptions", np)  # numpy < 1.25 (a student's pre-check) has them at the top level
    aliases = {
        # builtin type aliases (numpy < 1.24)
        "int": int, "float": float, "complex": complex, "object": object, "str": str, "unicode": str,
        # scalar type aliases (numpy < 2.0)
        "float_": np.float64, "complex_": np.complex128, "cfloat": np.complex128, "singlecomplex": np.complex64,
        "longfloat": np.longdouble, "longcomplex": np.clongdouble, "clongfloat": np.clongdouble,
        "string_": np.bytes_, "unicode_": np.str_, "int0": np.intp, "uint0": np.uintp, "bool8": np.bool_,
        "object0": np.object_, "str0": np.str_, "bytes0": np.bytes_, "void0": np.void,
        # constants
        "NaN": np.nan, "NAN": np.nan, "Inf": np.inf, "Infinity": np.inf, "infty": np.inf, "PINF": np.inf,
        "NINF": -np.inf, "PZERO": 0.0, "NZERO": -0.0,
        # functions
        "product": np.prod, "cumproduct": np.cumprod, "sometrue": np.any, "alltrue": np.all,
        "round_": np.round, "asscalar": _asscalar, "alen": _alen, "msort": _msort, "asfarray": _asfarray,
        "mat": np.asmatrix,
        # modules and exceptions numpy 1.x re-exported
        "math": math, "warnings": warnings,
    }
    for name in ("AxisError", "ComplexWarning", "VisibleDeprecationWarning", "RankWarning", "TooHardError"):
        if hasattr(exc, name):
            aliases[name] = getattr(exc, name)
    return aliases


def install_numpy1_aliases() -> list[str]:
    """Give this process's numpy the numpy 1.x names that numpy 2 removed (``numpy1_aliases()``);
    names numpy still has are left alone.  Returns the names added.  Idempotent."""
    import numpy as np
    added = []
    for name, value in numpy1_aliases().items():
        if name in np.__dict__:
            continue
        setattr(np, name, value)
        added.append(name)
    return added


def install_torch_legacy() -> list[str]:
    """PyTorch 0.3-1.4 behaviour that torch 2.x turned into errors, for code of the 2017-2020 course years.
    Each shim acts only where torch 2.x would raise, so code of today's course (and the grader's own
    in-worker helpers) runs exactly as before.  Returns what was installed.  Idempotent.

    - ``loss.data[0]``: before 0.4 a scalar was a one-element tensor (the era's idiom for a loss's value);
      index 0 or -1 of a 0-dim tensor gives the tensor itself.
    - ``backward(retain_variables=...)``: the name of ``retain_graph`` until 0.4.
    - ``scores.gather(1, y.view(-1, 1)).squeeze().backward(torch.ones(N))`` with N = 1: before 0.4 the
      squeeze left shape (1,); a gradient with the output's number of elements takes the output's shape.
    - uint8 (ByteTensor) masks in ``masked_select`` / ``masked_fill`` / ``masked_scatter``: required until
      torch 1.2, accepted until 1.4; taken as bool masks."""
    import functools

    import torch
    T = torch.Tensor
    if getattr(T, "_autograder_legacy", False):
        return []
    getitem = T.__getitem__

    @functools.wraps(getitem)
    def __getitem__(self, idx):
        if type(idx) is int and idx in (0, -1) and self.dim() == 0:
            return self
        return getitem(self, idx)

    backward = T.backward

    @functools.wraps(backward)
    def tensor_backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None, **legacy):
        if "retain_variables" in legacy:
            retain_graph = legacy.pop("retain_variables")
        if legacy:
            raise TypeError(f"backward() got an unexpected keyword argument {next(iter(legacy))!r}")
        if (isinstance(gradient, torch.Tensor) and gradient.shape != self.shape
                and gradient.numel() == self.numel()):
            gradient = gradient.reshape(self.shape)
        return backward(self, gradient, retain_graph, create_graph, inputs=inputs)

    autograd_backward = torch.autograd.backward

    @functools.wraps(autograd_backward)
    def autograd_backward_legacy(*args, **kwargs):
        if "retain_variables" in kwargs:
            kwargs["retain_graph"] = kwargs.pop("retain_variables")
        return autograd_backward(*args, **kwargs)

    def bool_mask(fn, method: bool):
        @functools.wraps(fn)
        def shim(*args, **kwargs):
            args = list(args)
            i = 1  # (self, mask, ...) and torch.masked_select(input, mask, ...) alike
            if "mask" in kwargs:
                m = kwargs["mask"]
                if isinstance(m, torch.Tensor) and m.dtype == torch.uint8:
                    kwargs["mask"] = m.bool()
            elif len(args) > i and isinstance(args[i], torch.Tensor) and args[i].dtype == torch.uint8:
                args[i] = args[i].bool()
            return fn(*args, **kwargs)
        return shim

    # torch's notices about the era's spellings (size_average=, volatile=, F.sigmoid, uint8 indices) would fill
    # every check's "your code printed" section with the grader's paths: the code is graded as it is
    import warnings
    for message in (r"size_average and reduce args will be deprecated", r"volatile was removed",
                    r"nn\.functional\.(sigmoid|tanh) is deprecated", r"nn\.init\.\w+ is now deprecated",
                    r"indexing with dtype torch\.uint8 is now deprecated", r"torch\.autograd\.Variable"):
        warnings.filterwarnings("ignore", message=message)
    T.__getitem__ = __getitem__
    T.backward = tensor_backward
    torch.autograd.backward = autograd_backward_legacy
    for name in ("masked_select", "masked_fill", "masked_fill_", "masked_scatter", "masked_scatter_"):
        setattr(T, name, bool_mask(getattr(T, name), True))
    for name in ("masked_select", "masked_fill", "masked_scatter"):
        setattr(torch, name, bool_mask(getattr(torch, name), False))
    T._autograder_legacy = True
    return ["Tensor.__getitem__ (0-dim [0])", "backward(retain_variables=)", "backward(gradient of the output's "
            "size)", "uint8 masks"]


def install_scipy_aliases() -> list[str]:
    """``scipy.ndimage.filters`` (deprecated since SciPy 1.8, still shipped by 1.15) as an alias
    of ``scipy.ndimage`` should a SciPy without it be installed.  Returns the aliases added."""
    added = []
    try:
        import scipy.ndimage
    except ImportError:
        return added
    for old in ("filters", "interpolation", "measurements", "morphology"):
        name = f"scipy.ndimage.{old}"
        if name in sys.modules:
            continue
        try:
            importlib.import_module(name)
        except ImportError:
            sys.modules[name] = scipy.ndimage
            setattr(scipy.ndimage, old, scipy.ndimage)
            added.append(name)
    return added


def preimport(torch: bool = True, modules=None, tensorflow: bool = False) -> list[str]:
    """Import the modules the courses' provided lines import (``modules``, default
    ``grader.course.years.required_modules()``; numpy-only ones unless ``torch``), so that they load
    before the zygote drops privileges and once per run.  Returns the ones that could not be imported
    (the project's tests require none)."""
    import warnings

    if modules is None:
        from grader.course.years import required_modules
        modules = required_modules()
    failed = []
    for name in modules:
        top = name.split(".")[0]
        if tensorflow and top in ("torch", "torchvision"):
            continue  # never in TensorFlow's process (torchvision after tensorflow crashes with the CUDA build)
        if not torch and not tensorflow and top in ("torch", "torchvision", "PIL", "scipy"):
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # scipy.ndimage.filters is deprecated
                importlib.import_module(name)
        except Exception:
            failed.append(name)
    return failed


def install_course_compat(torch: bool = True, modules=None, tensorflow: bool = False) -> dict:
    """Everything student code of any course year needs from its environment; the zygote calls it
    once, before forking and before it seals the grader package (``torch``: whether this zygote runs
    the PyTorch questions; ``modules``: the list to pre-import, e.g. sent in the zygote's configuration
    as ``grader.course.years.required_modules()``, so that the worker needs no grader module for it).
    Returns what it did, for a log line."""
    # a breakpoint() left in a function: a no-op, as PYTHONBREAKPOINT=0 makes it (the worker runs with -I,
    # which ignores that variable); nobody is at a keyboard to answer a debugger here
    sys.breakpointhook = lambda *args, **kwargs: None
    numpy_names = install_numpy1_aliases()
    # scipy.ndimage costs 0.4 CPU-s to import: only where the staged files import scipy (the grader sends
    # ``modules`` filtered by what they import; the CS231n 2019-2023 network visualization files do)
    wants_scipy = modules is None or any(m.split(".")[0] == "scipy" for m in modules)
    scipy_names = install_scipy_aliases() if (torch or tensorflow) and wants_scipy else []
    torch_names = install_torch_legacy() if torch else []
    failed = preimport(torch, modules, tensorflow)
    return {"numpy": numpy_names, "scipy": scipy_names, "torch": torch_names, "not_importable": failed}
