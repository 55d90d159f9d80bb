"""Reading students' TensorFlow code (the TensorFlow track of Q3/Q4): which era it is written for, and
TF1's class-visualization step made into a function.

Pure ``ast`` over source text (nothing of the student's runs): importing this module imports nothing but the standard library, so
staging (grader side) and the worker's helpers (grader.inworker.tf_netvis) use the same rules.

- ``tf1`` -- CS182 HW2 and CS231n 2017-2018: TensorFlow 1.x graph mode (``sess.run``,
  ``tf.gradients``, ``model.image`` / ``model.classifier`` placeholders and tensors);
- ``tf2`` -- CS231n 2019-2020: TensorFlow 2 eager (``tf.GradientTape``, ``model(X)``).
"""
from __future__ import annotations

import ast
import textwrap

from grader.course import jitter_loop

LABELS = {"tf1": "TensorFlow (1.x style: graph mode, sess.run)", "tf2": "TensorFlow (2.x style: eager, GradientTape)"}


# Attribute chains and calls that only one era's code uses.  Counted on the AST, so the
# starter's comments (the 2019-2020 TF2 files still say "use model.scores") do not count.
_TF1_ATTRS = {"sess.run", "tf.gradients", "tf.placeholder", "tf.Session", "tf.InteractiveSession",
              "model.image", "model.classifier", "model.scores", "model.labels", "model.extract_features",
              "tf.get_variable", "tf.variable_scope", "tf.assign", "tf.to_float", "tf.global_variables_initializer",
              "tf.variables_initializer", "tf.train.AdamOptimizer", "tf.get_default_session", "tf.get_collection",
              "tf.random_uniform", "tf.squared_difference", "sess.graph"}
# tf.math and tf.linalg are no evidence: TensorFlow 1.13 and later have them too.
# The 2019 notebooks' set-up cells load the Keras SqueezeNet (model.load_weights, model.trainable = False) and
# walk its layers in their own extract_features(x, cnn) (cnn.net.layers): a notebook whose student cells are
# plain tensor ops is told by those (probe round M: one without its style_transfer cell was graded as TF1)
_TF2_ATTRS = {"tf.GradientTape", "tape.gradient", "tape.watch", "t.gradient", "t.watch", "tf.keras", "model.predict",
              "model.net", "cnn.net", "model.load_weights", "model.trainable"}


# The same as grader.engine.rewrite.dotted: this module also runs in the worker, which never imports engine/.
def _dotted(node) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = _dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def era_scores(src: str) -> tuple[int, int]:
    """(TF1 evidence, TF2 evidence) in Python source: counts of era-specific constructs."""
    try:
        tree = ast.parse(src)
    except (SyntaxError, ValueError):
        return 0, 0
    tf1 = tf2 = 0
    # one count per chain: tf.train.AdamOptimizer is not also tf.train
    inner = {id(n.value) for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and id(node) not in inner:
            d = _dotted(node)
            if d is None:
                continue
            parts = d.split(".")
            prefixes = {".".join(parts[:k]) for k in range(2, len(parts) + 1)}
            tf1 += bool(prefixes & _TF1_ATTRS)
            tf2 += bool(prefixes & _TF2_ATTRS)
            if node.attr == "numpy" and not parts[0] in ("np", "numpy"):
                tf2 += 1  # tensor.numpy()
        elif isinstance(node, ast.Call):
            f = _dotted(node.func)
            if f in ("model", "cnn", "SQUEEZENET"):
                tf2 += 1  # the Keras model called as a function
            elif f == "GradientTape":
                tf2 += 1
            for kw in node.keywords:
                if kw.arg == "keep_dims":
                    tf1 += 1
    return tf1, tf2


def era_of_source(src: str, default: str = "tf2") -> str:
    """'tf1' or 'tf2' for a student's TensorFlow source; ``default`` when nothing tells (code made only of
    tensor ops, e.g. a style-transfer file without the notebook's provided loop, runs the same in both)."""
    tf1, tf2 = era_scores(src)
    if tf1 == tf2:
        return default
    return "tf1" if tf1 > tf2 else "tf2"




def era_of_sources(sources, default: str = "tf2", extra=()) -> str:
    """One era for a whole submission (its TensorFlow files together: a style-transfer notebook alone may
    show none).  ``extra``: (TF1, TF2) evidence counted elsewhere (a notebook's cells that are not staged,
    such as ``sess = get_session()``)."""
    tf1 = tf2 = 0
    for src in sources:
        a, b = era_scores(src)
        tf1, tf2 = tf1 + a, tf2 + b
    for a, b in extra:
        tf1, tf2 = tf1 + a, tf2 + b
    if tf1 == tf2:
        return default
    return "tf1" if tf1 > tf2 else "tf2"


# ================================================================ TF1: the class-visualization step
STEP_NAME = "class_visualization_update_step"
_KWARG_NAMES = {"l2_reg", "learning_rate", "num_iterations", "blur_every", "max_jitter", "show_every"}


def _mentions(node, name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(node))


def _assigns(node, name: str) -> bool:
    targets = []
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
        targets = [node.target]
    for t in targets:
        for n in ast.walk(t):
            if isinstance(n, ast.Name) and n.id == name:
                return True
    return False


def tf1_step_source(src: str, func: str = "create_class_visualization") -> str | None:
    """A ``class_visualization_update_step(X, model, target_y, l2_reg, learning_rate)`` made of the TF1
    notebook's ``create_class_visualization``: its statements before the iteration loop (the graph:
    loss, grad, ...; minus the keyword-argument defaults and the random start image), then the loop
    body's statements between the jitter and the undo of the jitter (the sess.run step), then
    ``return X``.  None when ``src`` has no such function or its shape is not recognised.
    Pure text: nothing of the student's runs here."""
    try:
        tree = ast.parse(textwrap.dedent(src))
    except (SyntaxError, ValueError, RecursionError):
        return None
    defs = [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef) and n.name == func]
    if not defs:
        return None
    body = list(defs[-1].body)
    if body and isinstance(body[0], ast.Expr) and isinstance(getattr(body[0], "value", None), ast.Constant):
        body = body[1:]  # the docstring
    found = jitter_loop.find(body)
    if found is None:
        return None
    pre = []
    for n in body[:found.at]:
        if _assigns(n, "X"):
            continue  # the random starting image: the step gets X from the caller
        if any(_assigns(n, k) for k in _KWARG_NAMES) and _mentions(n, "kwargs"):
            continue  # l2_reg = kwargs.pop('l2_reg', 1e-3) ...: the caller's values win
        pre.append(n)
    jitter, undo = found.jitter, found.undo
    step = found.loop[(jitter + 1 if jitter is not None and jitter < undo else 0):undo]
    if jitter_loop.returns_or_yields(pre + step):
        return None
    lines = [f"def {STEP_NAME}(X, model, target_y, l2_reg, learning_rate):",
             "    # made by the autograder from create_class_visualization (TF1 notebook): the statements",
             "    # before its loop, then the step between the jitter and its undo",
             "    t, ox, oy = 0, 0, 0",
             "    num_iterations, blur_every, max_jitter, show_every = 100, 10, 16, 25"]
    for n in pre + step:
        lines.append(textwrap.indent(ast.unparse(n), "    "))
    lines.append("    return X")
    code = "\n".join(lines) + "\n"
    try:
        ast.parse(code)
    except SyntaxError:
        return None
    return code




def defined_names(src: str) -> set[str]:
    """Names of the functions and classes ``src`` defines at top level (empty if it does not parse)."""
    try:
        tree = ast.parse(src)
    except (SyntaxError, ValueError):
        return set()
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
