"""The assignment, declared once: the student's files and the questions graded on them.

Every other part of the grader reads these two tables instead of keeping its own
list: staging (which files to look for, under which names), the notebook reader
(which functions a notebook may define), the rubric loader (whether a question
needs torch), the fixture generator (which builder makes a question's cases),
the worker (which in-worker helpers its zygote imports) and the mutant runner
(which questions a file can affect).  Adding a question means one ``Question``
here, its ``checks/test_<module>.py``, its builder in ``fixturegen/``, its
helpers in ``inworker/`` and its tests in a rubric.

Q3 and Q4 have a second track, TensorFlow (CS182 HW2: "You can do Questions 3 and 4 in
TensorFlow or PyTorch"): each ``Question`` lists its TensorFlow files (``tf_files``) and
helpers (``tf_inworker``) beside the PyTorch ones; ``grader.engine.tracks`` decides which one a
submission is graded on, under a rubric whose ``tracks`` include tensorflow.

Plain data only: importing this module imports nothing of the grader but ``paths``.
"""
from __future__ import annotations

from dataclasses import dataclass

from grader.paths import PACKAGE


@dataclass(frozen=True)
class StudentFile:
    """A file the student writes, staged as ``deeplearning/<staged_as>``."""
    staged_as: str
    names: tuple[str, ...]                  # file names accepted in a submission, CS182's first
    notebook_functions: tuple[str, ...] = ()  # the student-written functions a 2019 notebook may define
    notebook_modules: tuple[str, ...] = ()    # module names a notebook may import this file under
    framework: str = "numpy"                  # what its code runs on: "numpy", "pytorch" or "tensorflow"
    notebooks: tuple[str, ...] = ()           # the course's notebook names for it (a TensorFlow notebook is
                                              # taken only for a TensorFlow file, a PyTorch one for a PyTorch file)

    @property
    def module(self) -> str:
        """Dotted name of the staged module, e.g. ``deeplearning.classifiers.rnn``."""
        return PACKAGE + "." + self.staged_as[:-3].replace("/", ".")

    @property
    def shown(self) -> str:
        """How the file is named to a student: ``network_visualization.py or net_visualization_pytorch.py``."""
        return " or ".join(self.names)


@dataclass(frozen=True)
class Question:
    id: str
    check_module: str                 # grader/checks/test_<check_module>.py
    files: tuple[str, ...]            # staged_as of the student files its checks import
    torch: bool                       # its checks run student code that needs torch
    fixture_builder: str              # module under grader.fixturegen that builds its cases
    inworker: tuple[str, ...] = ()    # modules under grader.inworker its zygote imports
    # The TensorFlow track (CS182 HW2: "You can do Questions 3 and 4 in TensorFlow or PyTorch"): the same
    # checks and points, on these files instead of ``files``, with these in-worker helpers, in a zygote of
    # its own (never one that imported torch).  Graded only under a rubric with ``tracks: [pytorch,
    # tensorflow]``.
    tf_files: tuple[str, ...] = ()
    tf_inworker: tuple[str, ...] = ()

    def track_files(self, track: str) -> tuple[str, ...]:
        return self.tf_files if track == TENSORFLOW else self.files


PYTORCH, TENSORFLOW = "pytorch", "tensorflow"  # the two tracks of Q3/Q4
TRACKS = (PYTORCH, TENSORFLOW)

FILES: dict[str, StudentFile] = {f.staged_as: f for f in (
    StudentFile("rnn_layers.py", ("rnn_layers.py",)),
    StudentFile("classifiers/rnn.py", ("rnn.py",)),
    StudentFile("network_visualization.py", ("network_visualization.py", "net_visualization_pytorch.py"),
                ("compute_saliency_maps", "make_fooling_image", "update_class_visulization",
                 "class_visualization_update_step", "create_class_visualization"),
                ("network_visualization", "net_visualization_pytorch"), "pytorch",
                ("NetworkVisualization-PyTorch.ipynb",)),
    StudentFile("style_transfer.py", ("style_transfer.py", "style_transfer_pytorch.py"),
                ("content_loss", "gram_matrix", "style_loss", "tv_loss"),
                ("style_transfer", "style_transfer_pytorch"), "pytorch", ("StyleTransfer-PyTorch.ipynb",)),
    StudentFile("gan_pytorch.py", ("gan_pytorch.py",),
                ("sample_noise", "discriminator", "generator", "discriminator_loss", "generator_loss",
                 "get_optimizer", "ls_discriminator_loss", "ls_generator_loss", "build_dc_classifier",
                 "build_dc_generator"),
                ("gan_pytorch",), "pytorch", ("GANs-PyTorch.ipynb",)),
    # The TensorFlow track: CS231n 2020's files; CS182 HW2 and CS231n 2017-2019 wrote the functions in the
    # notebooks' cells (TF1 CS182 / CS231n 2017-2018, TF2 CS231n 2019).  TF1's class-visualization step
    # lives inside create_class_visualization (staging makes the step function of it).
    StudentFile("net_visualization_tensorflow.py", ("net_visualization_tensorflow.py",),
                ("compute_saliency_maps", "make_fooling_image", "class_visualization_update_step",
                 "create_class_visualization"),
                ("net_visualization_tensorflow",), "tensorflow", ("NetworkVisualization-TensorFlow.ipynb",)),
    StudentFile("style_transfer_tensorflow.py", ("style_transfer_tensorflow.py",),
                ("content_loss", "gram_matrix", "style_loss", "tv_loss"),
                ("style_transfer_tensorflow",), "tensorflow", ("StyleTransfer-TensorFlow.ipynb",)),
)}

QUESTIONS: dict[str, Question] = {q.id: q for q in (
    Question("Q1", "q1_rnn", ("rnn_layers.py", "classifiers/rnn.py"), False, "rnn", ("captioning",)),
    Question("Q2", "q2_lstm", ("rnn_layers.py", "classifiers/rnn.py"), False, "rnn", ("captioning",)),
    Question("Q3", "q3_netvis", ("network_visualization.py",), True, "netvis_style", ("netvis",),
             ("net_visualization_tensorflow.py",), ("tf_netvis",)),
    Question("Q4", "q4_style", ("style_transfer.py",), True, "netvis_style", ("style",),
             ("style_transfer_tensorflow.py",), ("tf_style",)),
    Question("Q5", "q5_gan", ("gan_pytorch.py",), True, "gan", ("gan",)),
)}


def by_check_module(module: str) -> Question | None:
    """The question whose checks are ``grader/checks/test_<module>.py`` (a rubric's ``module:`` key)."""
    return next((q for q in QUESTIONS.values() if q.check_module == module), None)


def module_aliases() -> dict[str, str]:
    """CS231n's names for the staged modules: ``cs231n`` is the package, and each other accepted
    file name is the same module (``cs231n.net_visualization_pytorch`` ->
    ``deeplearning.network_visualization``)."""
    out = {"cs231n": PACKAGE}
    for f in FILES.values():
        folder = f.staged_as.rpartition("/")[0]
        for name in f.names:
            alias = PACKAGE + "." + ((folder + "/") if folder else "").replace("/", ".") + name[:-3]
            if alias != f.module:
                out[alias] = f.module
    return out


def fixture_builders() -> tuple[str, ...]:
    """Each fixture builder once, in question order."""
    return tuple(dict.fromkeys(f"grader.fixturegen.{q.fixture_builder}" for q in QUESTIONS.values()))


def questions_of_file(staged_as: str) -> tuple[str, ...]:
    """The questions graded on a student file (in either track)."""
    return tuple(q.id for q in QUESTIONS.values() if staged_as in q.files or staged_as in q.tf_files)


def track_of_file(staged_as: str) -> str | None:
    """"tensorflow" for a file of a TensorFlow track, "pytorch" for the other files of a question that has one."""
    if any(staged_as in q.tf_files for q in QUESTIONS.values()):
        return TENSORFLOW
    if any(staged_as in q.files and q.tf_files for q in QUESTIONS.values()):
        return PYTORCH
    return None
