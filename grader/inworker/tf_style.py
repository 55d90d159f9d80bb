"""Grader code that runs *inside* the worker for the TensorFlow track of Q4 (style transfer),
beside the student's code.  Nothing secret here.

The counterpart of grader.inworker.style, for students who did Q4 in
TensorFlow (see grader.inworker.tf_netvis for the two eras and how they are told apart).
The helpers take the fixtures' NCHW numpy arrays, hand the student's functions what that
era's notebook hands them, and send back records the checks of grader/checks/test_q4_style.py
read unchanged:

- feature maps become NHWC tensors of shape (1, H, W, C) that the result can be
  differentiated through (TF1: a placeholder times one, inside a fresh graph; TF2: a
  constant watched by a GradientTape), static shapes in both eras;
- content and style targets are what the course's loops pass: TF1 numpy arrays (the loop
  ``sess.run``s them), TF2 tensors; a style target is the course's (C, C) Gram matrix;
- the course's TensorFlow ``gram_matrix`` takes ONE image, (1, H, W, C) -> (C, C): a
  batch of N feature maps is graded image by image and the N results stacked to the
  (N, C, C) the fixtures hold (a (1, C, C) result is accepted as (C, C));
- a loss record's ``requires_grad`` says whether the loss is connected to its input.

style_transfer_run runs each era's provided loop (TF1: ``tf.compat.v1.train.AdamOptimizer``
on an image variable, clamped after each step; TF2: a GradientTape and the same Adam
update) with the student's four losses on the seeded TensorFlow SqueezeNet.

One bug, one deduction: ``style_loss`` and ``style_transfer_run`` take ``standins``, the student's
losses replaced for this call (the check decides which: grader/checklib/blocks.py); the replacements
(grader/inworker/tf_standins.py) ask the grader for values and gradients over the call's channel.  No
correct loss code is ever in this process (DESIGN.md invariant 9).
"""
from __future__ import annotations

import importlib

import numpy as np

from grader.course import tf_models
from grader.inworker import standins as S
from grader.inworker import tf_standins
from grader.inworker.tf_netvis import (TF1Env, _era, _need_eager, connected, eager_value, is_tensor, kind, keras_model,
                                       record)


def _tf():
    import tensorflow as tf
    return tf


def _nhwc(a) -> np.ndarray:
    return tf_models.nchw_to_nhwc(np.asarray(a, dtype=np.float32))


# ---------------------------------------------------------------- running one loss, either era
def _run_loss(mod, era, build, known_size=False):
    """``build(make_input)`` calls the student's function; ``make_input(array)`` makes a differentiable
    input from an NHWC array.  Returns the result as a record (or the raw non-tensor value).

    TF1: the input's N, H and W are unknown to the graph, as in the course's notebook, whose gram_matrix,
    style_loss and tv_loss tests (and the style targets of its style-transfer loop) run on features of
    ``model.image``, a placeholder of shape [None, None, None, 3]; only its content_loss test passes a
    feature map of known size (``known_size``).  A gram_matrix that reads H and W with get_shape() fails
    there, so it fails its own test here, not only the style-transfer run (probe round M)."""
    tf = _tf()
    if era == "tf1":
        with TF1Env(mod) as env:
            feed, inputs = {}, []

            def make_input(a):
                shape = a.shape if known_size else (None,) * (a.ndim - 1) + a.shape[-1:]
                ph = tf.compat.v1.placeholder(tf.float32, shape=shape)
                feed[ph] = a
                inputs.append(ph)
                return ph * 1.0  # a computed tensor, as a network's feature map is

            out = build(make_input)
            if not is_tensor(out):
                return out
            env.init_new_variables()
            value = env.sess.run(out, feed)
            return record(value, connected=any(connected(out, x) for x in inputs))
    _need_eager()
    inputs = []

    def make_input(a):
        t = tf.constant(a)
        tape.watch(t)
        inputs.append(t)
        return t

    with tf.GradientTape(persistent=True) as tape:
        out = build(make_input)
    if not is_tensor(out):
        return out
    is_connected = False
    for x in inputs:
        try:
            if tape.gradient(out, x) is not None:
                is_connected = True
        except Exception:
            pass
    return record(eager_value(out), connected=is_connected)


def content_loss(module, name, content_weight, current, original, era=None):
    """content_loss(w, current features (differentiable tensor), original features)."""
    mod = importlib.import_module(module)
    fn = getattr(mod, name)
    era = _era(mod, era)
    cur, orig = _nhwc(current), _nhwc(original)

    def build(make_input):
        target = orig if era == "tf1" else _tf().constant(orig)
        return fn(float(content_weight), make_input(cur), target)

    return _run_loss(mod, era, build, known_size=True)


def gram_matrix(module, name, features, normalize, era=None):
    """gram_matrix(features) (normalize None: left at its default) or gram_matrix(features, normalize=...),
    one image at a time ((1, H, W, C) -> (C, C)), stacked to (N, C, C)."""
    mod = importlib.import_module(module)
    fn = getattr(mod, name)
    era = _era(mod, era)
    f = _nhwc(features)
    n, c = f.shape[0], f.shape[-1]
    results = []
    for i in range(n):
        def build(make_input, i=i):
            x = make_input(f[i:i + 1])
            return fn(x) if normalize is None else fn(x, normalize=bool(normalize))
        results.append(_run_loss(mod, era, build))
    for r in results:
        if not (isinstance(r, dict) and "__tensor__" in r):
            return r
    grams = []
    for r in results:
        g = r["__tensor__"]
        if g.size != c * c:
            return r  # the check describes the wrong shape
        grams.append(g.reshape(c, c))
    out = record(np.stack(grams), connected=all(r["requires_grad"] for r in results))
    out["tf_shape"] = list(results[0]["shape"])
    return out


def style_loss(module, name, feats, style_layers, style_targets, style_weights, num_layers, standins=(), era=None):
    """style_loss(feats, style_layers, style_targets, style_weights) with ``num_layers`` feature maps (the
    unused ones (1, 1, 1, 1) zeros) and (C, C) targets.  ``standins``: the student's functions replaced for
    this call (``gram_matrix`` when the student's is wrong), by stand-ins that ask the grader."""
    mod = importlib.import_module(module)
    fn = getattr(mod, name)
    era = _era(mod, era)
    tf = _tf()
    maps = {int(k): _nhwc(v) for k, v in feats.items()}
    targets = [np.asarray(t, dtype=np.float32).reshape(np.shape(t)[-2:]) for t in style_targets]

    def build(make_input):
        full = [tf.zeros((1, 1, 1, 1)) for _ in range(int(num_layers))]
        for k, v in maps.items():
            full[k] = make_input(v)
        tg = targets if era == "tf1" else [tf.constant(t) for t in targets]
        return fn(full, [int(i) for i in style_layers], tg, [float(w) for w in style_weights])

    with S.installed(module, tf_standins.for_style(standins)):
        return _run_loss(mod, era, build)


def tv_loss(module, name, img, tv_weight, era=None):
    """tv_loss(img, w) on the (1, H, W, 3) image being optimized."""
    mod = importlib.import_module(module)
    fn = getattr(mod, name)
    era = _era(mod, era)
    x = _nhwc(img)
    return _run_loss(mod, era, lambda make_input: fn(make_input(x), float(tv_weight)))


# ---------------------------------------------------------------- style-transfer run
def _loss_problem(what, value, size):
    if not is_tensor(value):
        extra = ": not implemented yet" if value is None else " (a TensorFlow Tensor was expected)"
        return f"{what} returned {kind(value)}{extra}"
    if size != 1:
        return f"{what} returned a Tensor of shape {tuple(value.shape)}, not a scalar"
    return None


_NO_GRAD = ("the total loss does not depend on the image through TensorFlow's gradients: compute the losses with "
            "TensorFlow operations on the tensors you are given, without numpy, .numpy() or sess.run in between")


def style_transfer_run(module, names, content_img, style_img, seed, p, standins=(), era=None):
    """The course's style-transfer loop of the student's era with the student's content_loss /
    gram_matrix / style_loss / tv_loss (``standins``: those replaced for this run by stand-ins that ask the
    grader).  Returns the final image (NCHW) and the loss before each step, or a ``problem`` string when a
    loss cannot drive the optimization."""
    with S.installed(module, tf_standins.for_style(standins)):
        return _style_transfer_run(module, names, content_img, style_img, seed, p, set(standins), era)


def _style_transfer_run(module, names, content_img, style_img, seed, p, replaced, era):
    mod = importlib.import_module(module)
    era = _era(mod, era)
    fns = {k: (tf_standins.STYLE[k] if k in replaced else getattr(mod, names[k]))
           for k in ("content_loss", "gram_matrix", "style_loss", "tv_loss")}
    content, style = _nhwc(content_img), _nhwc(style_img)
    q = {"content_layer": int(p["content_layer"]), "content_weight": float(p["content_weight"]),
         "style_layers": [int(i) for i in p["style_layers"]], "style_weights": [float(w) for w in p["style_weights"]],
         "tv_weight": float(p["tv_weight"]), "num_iterations": int(p["num_iterations"])}
    if era == "tf1":
        out = _run_tf1(mod, fns, content, style, int(seed), q)
    else:
        _need_eager()
        out = _run_tf2(mod, fns, content, style, int(seed), q)
    if out.get("img") is not None:
        out["img"] = record(tf_models.nhwc_to_nchw(out["img"]))
    return out


INITIAL_LR, DECAYED_LR, DECAY_LR_AT = 3.0, 0.1, 180  # the course's loop


def _run_tf1(mod, fns, content, style, seed, q):
    tf = _tf()
    v1 = tf.compat.v1
    with TF1Env(mod, seed) as env:
        model, sess = env.model, env.sess
        feats = model.extract_features(model.image)
        content_target = sess.run(feats[q["content_layer"]], {model.image: content})
        gram_vars = [fns["gram_matrix"](feats[i]) for i in q["style_layers"]]
        for g in gram_vars:
            if not is_tensor(g):
                return {"problem": f"gram_matrix returned {kind(g)}" + (": not implemented yet" if g is None else "")}
        style_targets = sess.run(gram_vars, {model.image: style})
        img_var = v1.Variable(content, name="image")
        feats = model.extract_features(img_var)
        losses = {"content_loss": fns["content_loss"](q["content_weight"], feats[q["content_layer"]], content_target),
                  "style_loss": fns["style_loss"](feats, q["style_layers"], style_targets, q["style_weights"]),
                  "tv_loss": fns["tv_loss"](img_var, q["tv_weight"])}
        sess.run(v1.variables_initializer([img_var]))
        env.known.add(id(img_var))
        env.init_new_variables()
        for what, v in losses.items():
            size = int(np.size(sess.run(v))) if is_tensor(v) else 0
            problem = _loss_problem(what, v, size)
            if problem:
                return {"problem": problem}
        loss = tf.reshape(losses["content_loss"] + losses["style_loss"] + losses["tv_loss"], [])
        if v1.gradients(loss, img_var)[0] is None:
            return {"problem": _NO_GRAD}
        lr_var = v1.Variable(INITIAL_LR, name="lr")
        with v1.variable_scope("optimizer") as opt_scope:
            train_op = v1.train.AdamOptimizer(lr_var).minimize(loss, var_list=[img_var])
        opt_vars = v1.get_collection(v1.GraphKeys.GLOBAL_VARIABLES, scope=opt_scope.name)
        sess.run(v1.variables_initializer([lr_var] + opt_vars))
        clamp = v1.assign(img_var, tf.clip_by_value(img_var, -1.5, 1.5))
        decay = v1.assign(lr_var, DECAYED_LR)
        history = []
        for t in range(q["num_iterations"]):
            _, value = sess.run([train_op, loss])
            history.append(float(value))
            if t < DECAY_LR_AT:
                sess.run(clamp)
            if t == DECAY_LR_AT:
                sess.run(decay)
        img = sess.run(img_var)
    return {"img": img, "losses": np.asarray(history, dtype=np.float64), "problem": None}


def _run_tf2(mod, fns, content, style, seed, q):
    tf = _tf()
    model = keras_model(seed)
    mod.model = model
    feats = tf_models.keras_features(model, tf.constant(content))
    content_target = feats[q["content_layer"]]
    s_feats = tf_models.keras_features(model, tf.constant(style))
    style_targets = [fns["gram_matrix"](s_feats[i]) for i in q["style_layers"]]
    for g in style_targets:
        if not is_tensor(g):
            return {"problem": f"gram_matrix returned {kind(g)}" + (": not implemented yet" if g is None else "")}
    img_var = tf.Variable(content)
    m = tf.zeros_like(content)
    v = tf.zeros_like(content)
    b1, b2, eps = 0.9, 0.999, 1e-8  # Adam, as tf.compat.v1.train.AdamOptimizer and torch.optim.Adam
    history = []
    for t in range(q["num_iterations"]):
        with tf.GradientTape() as tape:
            feats = tf_models.keras_features(model, img_var)
            losses = {"content_loss": fns["content_loss"](q["content_weight"], feats[q["content_layer"]],
                                                          content_target),
                      "style_loss": fns["style_loss"](feats, q["style_layers"], style_targets, q["style_weights"]),
                      "tv_loss": fns["tv_loss"](img_var, q["tv_weight"])}
            if t == 0:
                for what, val in losses.items():
                    problem = _loss_problem(what, val, int(np.size(eager_value(val))) if is_tensor(val) else 0)
                    if problem:
                        return {"problem": problem}
            loss = tf.reshape(losses["content_loss"] + losses["style_loss"] + losses["tv_loss"], [])
        grad = tape.gradient(loss, img_var)
        if grad is None:
            return {"problem": _NO_GRAD}
        history.append(float(loss.numpy()))
        lr = INITIAL_LR if t <= DECAY_LR_AT else DECAYED_LR
        m = b1 * m + (1 - b1) * grad
        v = b2 * v + (1 - b2) * grad * grad
        step = t + 1
        lr_t = lr * np.sqrt(1 - b2 ** step) / (1 - b1 ** step)
        img_var.assign_sub(lr_t * m / (tf.sqrt(v) + eps))
        if t < DECAY_LR_AT:
            img_var.assign(tf.clip_by_value(img_var, -1.5, 1.5))
    return {"img": img_var.numpy(), "losses": np.asarray(history, dtype=np.float64), "problem": None}


__all__ = ["content_loss", "gram_matrix", "style_loss", "tv_loss", "style_transfer_run"]
