"""Grader code that runs *inside* the worker for the TensorFlow track of Q3 (network
visualization), beside the student's code.  Nothing secret here.

CS182 HW2 (and CS231n 2017-2020) let students do Q3 and Q4 in TensorFlow, in one of
two eras, told apart from the student's own code (:func:`detect_era`):

- ``tf1`` -- CS182 / CS231n 2017-2018, TensorFlow 1.x graph mode: a global ``sess``,
  ``model.image`` / ``model.labels`` placeholders, ``model.classifier`` (2018:
  ``model.scores``), ``tf.gradients`` and ``sess.run``.  Run here on a current
  TensorFlow through ``tf.compat.v1``: the student's module gets ``tf`` =
  ``tf.compat.v1`` and the globals ``sess`` and ``model`` the notebook had, and every
  call runs inside a fresh ``tf.Graph`` (so it works whether or not eager execution
  was disabled in the process, and nothing a call builds leaks into the next).
- ``tf2`` -- CS231n 2019-2020, TensorFlow 2 eager: ``tf.GradientTape``, a Keras
  SqueezeNet called as ``model(X)``, ``class_visualization_update_step(X, model,
  target_y, l2_reg, learning_rate)`` returning the new X.

The helpers take the same plain arguments as the PyTorch ones in
grader.inworker.netvis (numpy arrays in the project's NCHW layout, as the
fixtures store them), build the TensorFlow model of grader.course.tf_models (the
same seeded weights), call the student's function the way that era's notebook does
(NHWC numpy images, int32 labels), and return what the checks of
grader/checks/test_q3_netvis.py read: a returned tensor or array travels back as the
record the worker makes of a torch tensor (``{"__tensor__": array, "dtype":
"torch.float32", ...}``; ``dtype`` is spelled as the checks expect, ``tf_dtype`` is
TensorFlow's own name, ``framework`` is "tensorflow"), with images transposed back to
NCHW.  ``requires_grad`` of a record says whether the value is connected to the
input it was computed from (TF1: ``tf.gradients`` is not None; TF2: the tape's
gradient is not None), which is what the checks ask of a torch tensor.

In the TF1 notebooks the class-visualization step has no function of its own: it is
the two TODO blocks of ``create_class_visualization`` (the graph built before the
loop, the ``sess.run`` step inside it).  :func:`tf1_step_source` (grader.course.tf_code)
turns that function into a step function (pure ``ast``, nothing runs), which staging
appends to the student's module; :func:`class_vis_step` also does it on the fly.

Where this runs: the TensorFlow zygote (grader/sandbox/worker.py), a process that imports
tensorflow and never torch; the zygote calls :func:`zygote_setup` before it forks (no
TensorFlow runtime before fork), and the checks of grader/checks/test_q3_netvis.py call these
helpers with the PyTorch helpers' arguments when the question is graded on its TensorFlow track.
"""
from __future__ import annotations

import importlib
import inspect
import os

import numpy as np

from grader.course import tf_models

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # before TensorFlow is first imported: no C++ info logs

_THREADS = [1]
_KERAS: dict = {}
_ERAS: dict = {}


def _tf():
    import tensorflow as tf
    return tf


def configure(threads: int = 1) -> None:
    """Thread budget of TensorFlow in this process (sessions and eager ops) and quiet logs; call once, before
    the first op (a zygote may call it before it forks: it starts no TensorFlow runtime)."""
    _THREADS[0] = int(threads)
    tf = _tf()
    tf.get_logger().setLevel("ERROR")  # no Python-side deprecation notices (tf.to_float ...) in students' output
    try:
        tf.config.threading.set_intra_op_parallelism_threads(int(threads))
        tf.config.threading.set_inter_op_parallelism_threads(int(threads))
    except RuntimeError:  # the eager context already exists: sessions still get the budget
        pass


# ================================================================ which era
from grader.course.tf_code import era_of_source, era_scores  # noqa: E402,F401  (pure ast; shared with staging)


def detect_era(mod) -> str:
    """The era of an imported student module: ``mod.__tf_era__`` if staging set one, else from its source
    (with no evidence either way: TF2, or TF1 where eager execution is disabled in this process)."""
    forced = getattr(mod, "__tf_era__", None)
    if forced in ("tf1", "tf2"):
        return forced
    key = getattr(mod, "__name__", id(mod))
    if key not in _ERAS:
        try:
            src = inspect.getsource(mod)
        except (OSError, TypeError):
            src = ""
        # no evidence either way: graph mode if this process runs TF1 code (eager execution disabled)
        _ERAS[key] = era_of_source(src, default="tf2" if _tf().executing_eagerly() else "tf1")
    return _ERAS[key]


def _era(mod, era) -> str:
    return era if era in ("tf1", "tf2") else detect_era(mod)


# ================================================================ values -> records
def kind(v) -> str:
    if v is None:
        return "None"
    tf = _tf()
    if isinstance(v, tf.Variable):
        return "Variable"
    if isinstance(v, tf.Tensor):
        return "Tensor"
    return type(v).__name__


def is_tensor(v) -> bool:
    tf = _tf()
    return isinstance(v, (tf.Tensor, tf.Variable))


def record(arr, *, connected: bool = False, nchw: bool = False):
    """The worker's record of a tensor (as grader.sandbox.worker makes of a torch tensor), from a value."""
    a = np.asarray(arr)
    if a.dtype.kind == "f" and a.dtype.itemsize < 4:
        a = a.astype(np.float32)
    if nchw and a.ndim == 4 and a.shape[-1] == 3:
        a = tf_models.nhwc_to_nchw(a)
    return {"__tensor__": np.ascontiguousarray(a), "dtype": "torch." + a.dtype.name, "tf_dtype": a.dtype.name,
            "requires_grad": bool(connected), "shape": list(a.shape), "device": "cpu", "framework": "tensorflow"}


def eager_value(v):
    """numpy value of an eager tensor / variable (TF2)."""
    return v.numpy() if hasattr(v, "numpy") else np.asarray(v)


def as_record(v, *, nchw: bool = False, session=None, feed=None):
    """A returned image/array (numpy, eager tensor, variable, or -- TF1 -- a graph tensor evaluated in
    ``session``) as a record; anything else is returned as it is, for the check to describe."""
    if isinstance(v, np.ndarray) and v.dtype.kind in "biuf":
        return record(v, nchw=nchw)
    if is_tensor(v):
        if session is not None and not _tf().executing_eagerly():
            return record(session.run(v, feed or {}), nchw=nchw)
        return record(eager_value(v), nchw=nchw)
    return v


# ================================================================ TF1 environment
class TF1Env:
    """A fresh graph with (optionally) the seeded course model and a session, made the default ones while
    the student's code runs; the student's module gets tf = tf.compat.v1, sess and model as globals."""

    def __init__(self, mod, seed=None):
        tf = _tf()
        v1 = tf.compat.v1
        self.graph = tf.Graph()
        self.model = None
        with self.graph.as_default():
            if seed is not None:
                self.model = tf_models.SqueezeNetTF1(seed=int(seed))
            self.sess = v1.Session(graph=self.graph, config=tf_models.session_config(_THREADS[0]))
            if self.model is not None:
                self.model.initialize(self.sess)
        self.known = {id(v) for v in self.model.variables} if self.model is not None else set()
        bind_tf1(mod, self.sess, self.model)
        self._ctx = []

    def __enter__(self):
        self._ctx = [self.graph.as_default(), self.sess.as_default()]
        for c in self._ctx:
            c.__enter__()
        # TensorFlow 1.x's shapes while the student's code runs: an entry is a Dimension, so the era's
        # `features.get_shape()[3].value` works (TF 2 gives a plain int, which has no .value)
        _tf().compat.v1.disable_v2_tensorshape()
        return self

    def __exit__(self, *exc):
        _tf().compat.v1.enable_v2_tensorshape()
        for c in reversed(self._ctx):
            c.__exit__(*exc)
        self.sess.close()
        return False

    def init_new_variables(self):
        """Initialize variables the student's code created (the course's loops would have left them
        uninitialized; being lenient costs nothing)."""
        v1 = _tf().compat.v1
        new = [v for v in v1.global_variables() if id(v) not in self.known]
        if new:
            self.sess.run(v1.variables_initializer(new))
            self.known.update(id(v) for v in new)


def bind_tf1(mod, sess, model) -> None:
    """What the TF1 notebook's globals were: ``tf`` (1.x API), ``sess`` and ``model``."""
    tf = _tf()
    if getattr(mod, "tf", None) is tf:
        mod.tf = tf.compat.v1
    mod.sess = sess
    if model is not None:
        mod.model = model


def connected(out, x) -> bool:
    """TF1: whether graph tensor ``out`` depends on ``x`` through differentiable ops."""
    tf = _tf()
    try:
        return tf.compat.v1.gradients(out, x)[0] is not None
    except Exception:
        return False


# ================================================================ TF2 model
def keras_model(seed: int):
    """The seeded Keras SqueezeNet, built once per process and seed, its weights reset before each use
    (so whatever a student's function did to it does not reach the next check)."""
    seed = int(seed)
    if seed not in _KERAS:
        _KERAS[seed] = tf_models.keras_squeezenet(seed)
    model = _KERAS[seed]
    arrays = tf_models.tf_params(seed)
    for i, conv in enumerate(model.conv_layers()):
        conv.set_weights([arrays[2 * i], arrays[2 * i + 1]])
    model.trainable = False
    return model


def _need_eager():
    if not _tf().executing_eagerly():
        raise RuntimeError("this TensorFlow 2 code needs eager execution, but it was disabled in this process "
                           "(tf.compat.v1.disable_eager_execution())")


def _fn(module: str, name: str):
    mod = importlib.import_module(module)
    return mod, getattr(mod, name)


# ================================================================ Q3 helpers
def saliency(module, name, X, y, seed, era=None):
    """compute_saliency_maps(X, y, model): X NHWC float32 numpy, y int32 numpy; returns (N, H, W)."""
    mod, fn = _fn(module, name)
    Xh = tf_models.nchw_to_nhwc(X).astype(np.float32)
    labels = np.asarray(y).astype(np.int32)
    if _era(mod, era) == "tf1":
        with TF1Env(mod, seed) as env:
            out = fn(Xh.copy(), labels.copy(), env.model)
            env.init_new_variables()
            return as_record(out, session=env.sess, feed={env.model.image: Xh, env.model.labels: labels})
    _need_eager()
    mod.model = model = keras_model(seed)
    return as_record(fn(Xh.copy(), labels.copy(), model))


def fooling(module, name, X, target_y, seed, era=None):
    """make_fooling_image(X, target_y, model) on an NHWC float32 numpy X; also whether X was modified."""
    mod, fn = _fn(module, name)
    Xh = tf_models.nchw_to_nhwc(X).astype(np.float32)
    keep = Xh.copy()
    if _era(mod, era) == "tf1":
        with TF1Env(mod, seed) as env:
            result = fn(Xh, int(target_y), env.model)
            env.init_new_variables()
            rec = as_record(result, nchw=True, session=env.sess, feed={env.model.image: keep})
    else:
        _need_eager()
        mod.model = model = keras_model(seed)
        result = fn(Xh, int(target_y), model)
        rec = as_record(result, nchw=True)
    return {"result": rec, "input_changed": not np.array_equal(Xh, keep), "result_type": kind(result)}


from grader.course.tf_code import STEP_NAME, tf1_step_source  # noqa: E402  (pure ast; staging uses it too)


def tf1_step_function(mod):
    """The step of the module's create_class_visualization as a function whose globals are the module's."""
    src = None
    f = getattr(mod, "create_class_visualization", None)
    if f is not None:
        try:
            src = inspect.getsource(f)
        except (OSError, TypeError):
            src = None
    code = tf1_step_source(src) if src else None
    if code is None:
        raise LookupError("the class-visualization step could not be found: create_class_visualization should "
                          "keep the notebook's loop (jitter, your sess.run step, undo of the jitter)")
    ns: dict = {}
    exec(compile(code, f"<{STEP_NAME} from {getattr(mod, '__name__', 'module')}.create_class_visualization>",
                 "exec"), mod.__dict__, ns)
    return ns[STEP_NAME]


def class_vis_step(module, name, order, img, target_y, l2_reg, learning_rate, seed, era=None):
    """One class-visualization step; returns the image after it.

    TF2 (and a TF1 module whose staged copy has the step function): ``name(X, model, target_y,
    l2_reg, learning_rate)`` returning the new X; TF1 with ``name`` = "create_class_visualization" or
    no step function: the step is taken out of create_class_visualization (:func:`tf1_step_source`).
    ``order`` is accepted for the PyTorch helper's signature; TensorFlow has one order."""
    mod = importlib.import_module(module)
    era = _era(mod, era)
    Xh = tf_models.nchw_to_nhwc(img).astype(np.float32)
    before = Xh.copy()
    args = (int(target_y), float(l2_reg), float(learning_rate))
    if era == "tf1":
        fn = getattr(mod, name, None) if name != "create_class_visualization" else None
        if fn is None:
            fn = tf1_step_function(mod)
        with TF1Env(mod, seed) as env:
            ret = fn(Xh, env.model, *args)
            env.init_new_variables()
            rec = as_record(ret, nchw=True, session=env.sess, feed={env.model.image: before})
    else:
        _need_eager()
        tf = _tf()
        fn = getattr(mod, name)
        mod.model = model = keras_model(seed)
        x = tf.convert_to_tensor(Xh)
        try:
            ret = fn(x, model, *args)
            after = ret
        except AttributeError:  # code written for a tf.Variable (X.assign_add ...): give it one
            var = tf.Variable(Xh)
            ret = fn(var, model, *args)
            after = ret if ret is not None else var
        rec = as_record(after, nchw=True)
    if not (isinstance(rec, dict) and "__tensor__" in rec):
        return {"img": record(tf_models.nhwc_to_nchw(before), nchw=False), "changed": False, "returned": None,
                "returned_type": kind(ret)}
    changed = not (rec["__tensor__"].shape == tuple(np.shape(img))
                   and np.array_equal(rec["__tensor__"], np.asarray(img, dtype=rec["__tensor__"].dtype)))
    return {"img": rec, "changed": changed, "returned": rec, "returned_type": kind(ret)}


def classify(module, img, seed):
    """Class scores of one NCHW image under the seeded model (for the student pre-check)."""
    scores = tf_models.scores_numpy(tf_models.nchw_to_nhwc(img).astype(np.float32), int(seed))
    return record(scores[0])


__all__ = ["configure", "detect_era", "era_of_source", "era_scores", "saliency", "fooling", "class_vis_step",
           "classify", "tf1_step_source", "tf1_step_function", "TF1Env", "keras_model", "record", "as_record",
           "kind", "is_tensor", "connected", "bind_tf1", "eager_value", "STEP_NAME"]


def zygote_setup(threads: int = 1) -> None:
    """What the TensorFlow zygote does before it forks (grader.sandbox.worker): thread budget and quiet logs,
    and the seeded weights (numpy only).  No session, no eager op, no Keras model: a forked child of a process
    that ran TensorFlow hangs."""
    configure(threads)
    tf_models.preload()
