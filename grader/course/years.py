"""The course years students submit from: their files, layouts and provided import lines.

Plain data (a table) and small pure functions; importing this module imports nothing
but the standard library and ``grader.questions``.  Used by

- staging, to say which course year's layout a student file follows
  ("rnn_layers.py: graded cs231n/rnn_layers.py (CS231n 2021-2024 layout)") and to
  tell a course-provided import line from the student's own;
- the worker (``grader.inworker.compat.preimport``), to import what the provided
  lines need while every file is still readable;
- the project's tests: ``required_modules()`` lists every module a provided line of
  any year imports, which must be importable where student code runs, and
  ``provided_names()`` the names those lines take from the course's own modules
  (which come from the template and must define them).

Sources: the starter code of each year as students committed it to public
repositories (CS231n assignment 3 of 2019-2024: ``cs231n/*.py`` and the 2019
notebooks; CS182 HW2 of spring 2019-2021: ``deeplearning/*.py``); the first lines
of each student file are the course's, verbatim.  A year is listed once per file
layout: files that did not change between years share one ``Layout``.
"""
from __future__ import annotations

import ast
import importlib.util
import re
from dataclasses import dataclass

from grader.questions import FILES

# Packages a course's provided lines import, and which requirement pins them here
# (pillow comes with torchvision, which requires it).
THIRD_PARTY = {"numpy": "numpy", "torch": "torch", "torchvision": "torchvision", "PIL": "pillow (torchvision's)",
               "scipy": "scipy", "h5py": "h5py", "tensorflow": "tensorflow-cpu (requirements-tensorflow.txt)"}
# Course packages: an import of these is the staged package itself (grader.questions.module_aliases).
COURSE_PACKAGES = ("cs231n", "deeplearning")


@dataclass(frozen=True)
class Layout:
    """One version of one student file, shared by the course years that shipped it unchanged."""
    staged_as: str                 # grader.questions.FILES key
    course: str                    # "CS231n" or "CS182"
    years: str                     # "2021-2024", "spring 2019-2021"
    path: str                      # where the starter keeps it ("cs231n/rnn_layers.py", a notebook name)
    imports: tuple[str, ...]       # the course's provided import lines (and other provided module-level lines)
    signs: tuple[str, ...] = ()    # regular expressions (MULTILINE) that all match this layout's source
    notebook: bool = False         # the functions live in a notebook's cells (2019 CS231n)
    framework: str = ""            # "tensorflow" for the TensorFlow track's files (their imports are needed
                                   # only where a TensorFlow submission is graded)

    @property
    def label(self) -> str:
        return f"{self.course} {self.years} layout"


_NV_2019 = ("import torch", "from torch.autograd import Variable", "import torchvision",
            "import torchvision.transforms as T", "import random", "import numpy as np",
            "from scipy.ndimage.filters import gaussian_filter1d", "import matplotlib.pyplot as plt",
            "from cs231n.image_utils import SQUEEZENET_MEAN, SQUEEZENET_STD", "from PIL import Image",
            "from cs231n.data_utils import load_imagenet_val")
_ST_2019 = ("import torch", "import torch.nn as nn", "import torchvision", "import torchvision.transforms as T",
            "import PIL", "import numpy as np", "from scipy.misc import imread", "from collections import namedtuple",
            "import matplotlib.pyplot as plt", "from cs231n.image_utils import SQUEEZENET_MEAN, SQUEEZENET_STD")
_GAN_2019 = ("import torch", "import torch.nn as nn", "from torch.nn import init", "import torchvision",
             "import torchvision.transforms as T", "import torch.optim as optim", "from torch.utils.data import DataLoader",
             "from torch.utils.data import sampler", "import torchvision.datasets as dset", "import numpy as np",
             "import matplotlib.pyplot as plt", "import matplotlib.gridspec as gridspec")
_GAN_PY = ("import numpy as np", "import torch", "import torch.nn as nn", "import torchvision",
           "import torchvision.transforms as T", "import torch.optim as optim", "from torch.utils.data import sampler",
           "import PIL")
_NV_PY = ("import torch", "import random", "import torchvision.transforms as T", "import numpy as np",
          "from .image_utils import SQUEEZENET_MEAN, SQUEEZENET_STD",
          "from scipy.ndimage.filters import gaussian_filter1d")

LAYOUTS: tuple[Layout, ...] = (
    # ---------------------------------------------------------------- Q1/Q2 numpy files
    Layout("rnn_layers.py", "CS231n", "2019-2020", "cs231n/rnn_layers.py",
           ("from __future__ import print_function, division", "from builtins import range", "import numpy as np"),
           (r"^from builtins import range",)),
    Layout("rnn_layers.py", "CS231n", "2021-2024", "cs231n/rnn_layers.py", ("import numpy as np",),
           (r"^def affine_forward\(",)),
    Layout("rnn_layers.py", "CS182", "spring 2019-2021", "deeplearning/rnn_layers.py", ("import numpy as np",)),
    Layout("classifiers/rnn.py", "CS231n", "2019-2020", "cs231n/classifiers/rnn.py",
           ("from builtins import range", "from builtins import object", "import numpy as np",
            "from cs231n.layers import *", "from cs231n.rnn_layers import *"),
           (r"^from (cs231n|\.\.)\.?layers import \*",)),
    Layout("classifiers/rnn.py", "CS231n", "2021-2024", "cs231n/classifiers/rnn.py",
           ("import numpy as np", "from ..rnn_layers import *"),
           (r"^from \.\.rnn_layers import \*", r"^class CaptioningRNN:")),
    Layout("classifiers/rnn.py", "CS182", "spring 2019-2021", "deeplearning/classifiers/rnn.py",
           ("from builtins import range", "from builtins import object", "import numpy as np",
            "from deeplearning.layers import *", "from deeplearning.rnn_layers import *"),
           (r"^from deeplearning\.",)),
    # ---------------------------------------------------------------- Q3 network visualization
    Layout("network_visualization.py", "CS231n", "2019", "NetworkVisualization-PyTorch.ipynb", _NV_2019, notebook=True),
    Layout("network_visualization.py", "CS231n", "2020-2023", "cs231n/net_visualization_pytorch.py", _NV_PY,
           (r"^def class_visualization_update_step\(",)),
    Layout("network_visualization.py", "CS182", "spring 2019-2021", "deeplearning/network_visualization.py",
           ("import random", "import numpy as np", "import torch", "import torch.nn.functional as F"),
           (r"^def update_class_visulization\(",)),
    # ---------------------------------------------------------------- Q4 style transfer (CS231n: 2019-2020 only)
    Layout("style_transfer.py", "CS231n", "2019", "StyleTransfer-PyTorch.ipynb", _ST_2019, notebook=True),
    Layout("style_transfer.py", "CS231n", "2020", "cs231n/style_transfer_pytorch.py",
           ("import torch", "import torch.nn as nn", "import torchvision", "import torchvision.transforms as T",
            "import PIL", "import numpy as np", "from .image_utils import SQUEEZENET_MEAN, SQUEEZENET_STD",
            "dtype = torch.FloatTensor"),
           (r"^from \.image_utils import",)),
    Layout("style_transfer.py", "CS182", "spring 2019-2021", "deeplearning/style_transfer.py",
           ("import numpy as np", "import torch", "import torch.nn.functional as F")),
    # ---------------------------------------------------------------- Q3/Q4, TensorFlow track (CS231n 2020's files;
    # CS182 HW2 and CS231n 2017-2019 wrote these functions in the notebooks' cells)
    Layout("net_visualization_tensorflow.py", "CS231n", "2020", "cs231n/net_visualization_tensorflow.py",
           ("import tensorflow as tf", "import numpy as np", "from scipy.ndimage.filters import gaussian_filter1d"),
           framework="tensorflow"),
    Layout("style_transfer_tensorflow.py", "CS231n", "2020", "cs231n/style_transfer_tensorflow.py",
           ("import tensorflow as tf", "import numpy as np"), framework="tensorflow"),
    # ---------------------------------------------------------------- Q5 GANs (CS231n only)
    Layout("gan_pytorch.py", "CS231n", "2019", "GANs-PyTorch.ipynb", _GAN_2019, notebook=True),
    Layout("gan_pytorch.py", "CS231n", "2020", "cs231n/gan_pytorch.py", _GAN_PY + ("dtype = torch.FloatTensor",),
           (r"^def build_dc_classifier\(batch_size\)", r"^#?\s*dtype = torch\.(cuda\.)?FloatTensor\s*(#.*)?$")),
    Layout("gan_pytorch.py", "CS231n", "2021-2024", "cs231n/gan_pytorch.py",
           _GAN_PY + ("dtype = torch.cuda.FloatTensor if torch.cuda.is_available() else torch.FloatTensor",),
           (r"^def build_dc_classifier\(batch_size\)",
            r"^dtype = torch\.cuda\.FloatTensor if torch\.cuda\.is_available\(\) else torch\.FloatTensor")),
)


@dataclass(frozen=True)
class CourseYear:
    """One course offering: where its students' files are and the course's own (provided) modules.

    The provided modules are staged from the template, never from a submission
    (``grader.engine.staging``); they are listed here for reference."""
    title: str
    package: str
    files: tuple[str, ...]              # the student files' paths in the starter (notebooks for 2019's Q3-Q5)
    provided_modules: tuple[str, ...]
    requirements: str = ""              # the starter's pinned packages, where the starter ships a requirements.txt


YEARS: tuple[CourseYear, ...] = (
    CourseYear("CS231n 2019", "cs231n",
               ("cs231n/rnn_layers.py", "cs231n/classifiers/rnn.py", "NetworkVisualization-PyTorch.ipynb",
                "StyleTransfer-PyTorch.ipynb", "GANs-PyTorch.ipynb"),
               ("layers.py", "optim.py", "captioning_solver.py", "coco_utils.py", "gradient_check.py",
                "image_utils.py", "data_utils.py")),
    CourseYear("CS231n 2020", "cs231n",
               ("cs231n/rnn_layers.py", "cs231n/classifiers/rnn.py", "cs231n/net_visualization_pytorch.py",
                "cs231n/style_transfer_pytorch.py", "cs231n/gan_pytorch.py"),
               ("layers.py", "optim.py", "captioning_solver.py", "coco_utils.py", "gradient_check.py",
                "image_utils.py", "data_utils.py")),
    CourseYear("CS231n 2021-2023", "cs231n",
               ("cs231n/rnn_layers.py", "cs231n/classifiers/rnn.py", "cs231n/net_visualization_pytorch.py",
                "cs231n/gan_pytorch.py"),
               ("optim.py", "captioning_solver.py", "captioning_solver_transformer.py", "coco_utils.py",
                "gradient_check.py", "image_utils.py", "data_utils.py", "transformer_layers.py",
                "classifiers/transformer.py", "simclr/contrastive_loss.py", "simclr/data_utils.py", "simclr/utils.py"),
               "numpy, scipy, Pillow, imageio, matplotlib, jupyter (2023 requirements.txt; torch from Colab)"),
    CourseYear("CS231n 2024", "cs231n",
               ("cs231n/rnn_layers.py", "cs231n/classifiers/rnn.py", "cs231n/gan_pytorch.py"),
               ("optim.py", "captioning_solver.py", "captioning_solver_transformer.py", "coco_utils.py",
                "gradient_check.py", "image_utils.py", "transformer_layers.py", "classifiers/transformer.py",
                "simclr/contrastive_loss.py", "simclr/data_utils.py", "simclr/utils.py")),
    CourseYear("CS182 spring 2019-2021", "deeplearning",
               ("deeplearning/rnn_layers.py", "deeplearning/classifiers/rnn.py",
                "deeplearning/network_visualization.py", "deeplearning/style_transfer.py"),
               ("layers.py", "optim.py", "captioning_solver.py", "coco_utils.py", "gradient_check.py",
                "image_utils.py"),
               "numpy==1.16.2, scipy==1.2.1, torch==1.4.0, torchvision==0.5.0 (spring 2021 requirements.txt)"),
)


# ------------------------------------------------------------------ import lines
def import_targets(line: str) -> list[tuple[str, tuple[str, ...], int]]:
    """(module, names taken from it, relative level) for an import line; [] for anything else."""
    try:
        tree = ast.parse(line.strip())
    except SyntaxError:
        return []
    out = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            out += [(a.name, (), 0) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            out.append((node.module or "", tuple(a.name for a in node.names), node.level))
    return out


def _is_course_module(module: str, level: int) -> bool:
    return level > 0 or module.split(".")[0] in COURSE_PACKAGES


def _normal(line: str) -> str:
    return re.sub(r"\s+", " ", line.split("#", 1)[0]).strip()


PROVIDED_LINES: dict[tuple[str, bool], frozenset[str]] = {
    (staged_as, nb): frozenset(_normal(i) for lay in LAYOUTS if lay.staged_as == staged_as and lay.notebook == nb
                               for i in lay.imports)
    for staged_as in FILES for nb in (False, True)}


def is_provided_line(staged_as: str, line: str, *, notebook: bool = False) -> bool:
    """Whether ``line`` is one of the course's provided lines of ``staged_as`` (of a ``.py`` file, or of
    the 2019 notebooks' cells when ``notebook``) in some year."""
    return _normal(line) in PROVIDED_LINES.get((staged_as, notebook), frozenset())


def required_modules(*, notebooks: bool = False, tensorflow: bool = False) -> list[str]:
    """Every module a course-provided line of a student file imports, in any year: each must be
    importable where student code runs.  Notebook set-up cells are left out unless
    ``notebooks`` (their imports are guarded when a notebook is read, and they import
    plotting packages, ``scipy.misc.imread`` (gone from SciPy) and datasets the grader never
    needs); the TensorFlow track's files unless ``tensorflow`` (TensorFlow is installed only where
    that track is graded, and only its own zygote may import it)."""
    mods = set()
    for lay in LAYOUTS:
        if (lay.notebook and not notebooks) or (lay.framework == "tensorflow" and not tensorflow):
            continue
        for line in lay.imports:
            for module, _, level in import_targets(line):
                if module and not _is_course_module(module, level):
                    mods.add(module)
    return sorted(mods)


def required_names() -> dict[str, set[str]]:
    """module -> names the provided lines take from it (``from scipy.ndimage.filters import
    gaussian_filter1d``): each must exist there."""
    out: dict[str, set[str]] = {}
    for lay in LAYOUTS:
        if lay.notebook or lay.framework == "tensorflow":
            continue
        for line in lay.imports:
            for module, names, level in import_targets(line):
                if module and names and not _is_course_module(module, level):
                    out.setdefault(module, set()).update(n for n in names if n != "*")
    return out


def provided_names() -> dict[str, set[str]]:
    """Course module (path in the package, e.g. ``image_utils.py``) -> names the provided lines of
    the student files take from it (``*`` for a star import).  Those modules are staged from
    the template, which must define the names."""
    out: dict[str, set[str]] = {}
    for lay in LAYOUTS:
        if lay.notebook:
            continue
        for line in lay.imports:
            for module, names, level in import_targets(line):
                if not _is_course_module(module, level):
                    continue
                parts = module.split(".")
                if level == 0:
                    parts = parts[1:]  # drop cs231n / deeplearning
                if not parts:
                    continue
                out.setdefault("/".join(parts) + ".py", set()).update(names or ("*",))
    return out


def missing_modules(modules=None) -> list[tuple[str, str]]:
    """(module, error) for each of ``modules`` (default: ``required_modules()``) that cannot be
    imported here.  Imports them: run it where the grader's own environment may be imported (a
    test, the worker before it runs student code), never on a submission's modules."""
    bad = []
    for m in required_modules() if modules is None else modules:
        try:
            importlib.import_module(m)
        except Exception as exc:  # ImportError, or a broken installation
            bad.append((m, f"{type(exc).__name__}: {exc}"))
    for module, names in (required_names().items() if modules is None else ()):
        if any(m == module for m, _ in bad):
            continue
        mod = importlib.import_module(module)
        bad += [(f"{module}.{n}", "not defined") for n in sorted(names) if not hasattr(mod, n)]
    return bad


def installed(module: str) -> bool:
    """Whether ``module`` can be imported here, as far as can be told without importing anything: its
    top-level package is found, and inside a namespace package (``google``: protobuf installs
    ``google.protobuf``, Colab has ``google.colab``) so is the rest of its name.  A regular package is
    taken at its word (its ``__init__`` may add submodules: ``tensorflow.keras``)."""
    import importlib.machinery
    parts = module.split(".")
    try:
        spec = importlib.util.find_spec(parts[0])
        for i in range(1, len(parts)):
            if spec is None or spec.origin is not None or not spec.submodule_search_locations:
                break
            spec = importlib.machinery.PathFinder.find_spec(".".join(parts[:i + 1]),
                                                            list(spec.submodule_search_locations))
    except (ImportError, ValueError):
        return False
    return spec is not None


# ------------------------------------------------------------------ which layout a file follows
def detect(staged_as: str, source_path: str, text: str, *, notebook: bool = False,
           course: str | None = None) -> Layout | None:
    """The layout a student file follows, from where it was found (``cs231n/``, ``deeplearning/``,
    the CS231n file names), its provided lines and its signatures; None if nothing tells.
    ``course``: the course the submission's other files follow, for a file that does not tell
    by itself (a flat upload's ``rnn_layers.py``)."""
    hint = course
    cands = [lay for lay in LAYOUTS if lay.staged_as == staged_as and lay.notebook == notebook]
    if notebook:
        return cands[0] if cands else None
    parts = source_path.replace("\\", "/").split("/")
    name = parts[-1]
    course = None
    if "deeplearning" in parts[:-1] or re.search(r"^from deeplearning[. ]", text, re.M):
        course = "CS182"
    elif "cs231n" in parts[:-1] or name in ("net_visualization_pytorch.py", "style_transfer_pytorch.py",
                                            "net_visualization_tensorflow.py", "style_transfer_tensorflow.py") \
            or re.search(r"^from (cs231n[. ]|\.)", text, re.M):
        course = "CS231n"
    elif name in ("network_visualization.py", "style_transfer.py"):
        course = "CS182"
    guessed = course is None and hint is not None
    course = course or hint
    scored = []
    for lay in cands:
        if course and lay.course != course:
            continue
        signs = sum(bool(re.search(s, text, re.M)) for s in lay.signs)
        if lay.signs and signs < len(lay.signs):
            continue
        provided = sum(1 for line in text.splitlines()[:40] if _normal(line) in {_normal(i) for i in lay.imports})
        scored.append((signs, provided, lay))
    if not scored:
        return None
    scored.sort(key=lambda t: (t[0], t[1]), reverse=True)
    best = scored[0]
    if (course is None or guessed) and best[0] == 0 and len(scored) > 1:
        return None
    if course is None and best[0] == 0:
        return None
    return best[2]
