"""The grader's own forward pass of the course's fully connected D and G (numpy).

Gradescope-only (left out of the student pre-check): the GAN training verdict
is computed here, in the grader process, from the parameters the worker
returns, so it does not rest on numbers the student's process reports, and the
grader never imports torch.
"""
from __future__ import annotations

import numpy as np

from grader.course.gan import D_SIZES, TRAINING, evaluation_data, g_sizes, linear_shapes, separation_scores


def _check(params, sizes, what):
    want = linear_shapes(sizes)
    if len(params) != len(want):
        raise ValueError(f"the {what} has {len(params)} parameter tensors, expected {len(want)}")
    for i, (p, s) in enumerate(zip(params, want)):
        if list(np.shape(p)) != s:
            raise ValueError(f"{what} parameter {i} has shape {list(np.shape(p))}, expected {s}")


def discriminator(params, x):
    """x: (N, 784) -> logits (N,); Linear-LeakyReLU(0.01)-Linear-LeakyReLU(0.01)-Linear, float64."""
    h = np.asarray(x, np.float64)
    for i in range(0, len(params), 2):
        h = h @ np.asarray(params[i], np.float64).T + np.asarray(params[i + 1], np.float64)
        if i < len(params) - 2:
            h = np.where(h > 0, h, 0.01 * h)
    return h.ravel()


def generator(params, z):
    """z: (N, noise_dim) -> images (N, 784) in (-1, 1); Linear-ReLU-Linear-ReLU-Linear-Tanh, float64."""
    h = np.asarray(z, np.float64)
    for i in range(0, len(params), 2):
        h = h @ np.asarray(params[i], np.float64).T + np.asarray(params[i + 1], np.float64)
        h = np.maximum(h, 0.0) if i < len(params) - 2 else np.tanh(h)
    return h


def separation(d_params, g_params) -> dict:
    """How well the trained D tells held-out real images from the trained G's samples.
    Raises ValueError when the parameters do not fit the course's architecture."""
    _check(d_params, D_SIZES, "discriminator")
    _check(g_params, g_sizes(TRAINING["noise_dim"]), "generator")
    real, z = evaluation_data()
    fake = generator(g_params, z)
    return separation_scores(discriminator(d_params, real.reshape(len(real), -1)), discriminator(d_params, fake))


# ---------------------------------------------------------------- correct building blocks (one bug, one deduction)
# While the GAN training run is judged and some of the student's networks, losses or optimizer are wrong,
# the worker's stand-ins (grader/inworker/standins.py) ask for these over the call's channel.  Each takes
# the Sandbox first; activations and optimizer state stay here, behind handles.
def _mlp_forward(params, x, hidden, last):
    """Fully connected layers with activation ``hidden`` between them and ``last`` at the end; returns the
    output and what the backward pass needs."""
    h = np.asarray(x, np.float64).reshape(len(x), -1)
    acts = []
    for i in range(0, len(params), 2):
        W, b = np.asarray(params[i], np.float64), np.asarray(params[i + 1], np.float64)
        z = h @ W.T + b
        acts.append((h, z))
        h = hidden(z) if i < len(params) - 2 else last(z)
    return h, acts


def _leaky(z):
    return np.where(z > 0, z, 0.01 * z)


def _mlp_backward(params, acts, out, dout, kind):
    grads = [None] * len(params)
    d = np.asarray(dout, np.float64).reshape(out.shape)
    for li in reversed(range(len(acts))):
        h_in, z = acts[li]
        last = li == len(acts) - 1
        if kind == "discriminator":
            dz = d if last else d * np.where(z > 0, 1.0, 0.01)
        else:
            dz = d * (1.0 - out ** 2) if last else d * (z > 0)
        W = np.asarray(params[2 * li], np.float64)
        grads[2 * li], grads[2 * li + 1] = dz.T @ h_in, dz.sum(axis=0)
        d = dz @ W
    return d, grads


def _net(kind, params, x):
    sizes = D_SIZES if kind == "discriminator" else g_sizes(np.shape(params[0])[1])
    _check(params, sizes, kind)
    if kind == "discriminator":
        return _mlp_forward(params, x, _leaky, lambda z: z)
    return _mlp_forward(params, x, lambda z: np.maximum(z, 0.0), np.tanh)


def cb_net_forward(sb, kind, x, *params):
    """The course's discriminator ("discriminator", logits (N, 1)) or generator (images (N, 784))."""
    if kind not in ("discriminator", "generator"):
        raise ValueError("unknown network")
    out, acts = _net(kind, params, x)
    return out.astype(np.float32), sb.keep(("net", kind, [np.asarray(p, np.float64) for p in params], acts, out))


def cb_net_backward(sb, handle, dout):
    """(d input, [d params]) for d output = dout."""
    got = sb.held(handle, release=True)
    if not (isinstance(got, tuple) and got and got[0] == "net"):
        raise ValueError("not a network's handle")
    _, kind, params, acts, out = got
    dx, grads = _mlp_backward(params, acts, out, dout, kind)
    return dx.astype(np.float32), [g.astype(np.float32) for g in grads]


def _bce(s, y):
    s = np.asarray(s, np.float64)
    return float(np.mean(np.maximum(s, 0) - s * y + np.log1p(np.exp(-np.abs(s))))), \
        (0.5 * (1.0 + np.tanh(0.5 * s)) - y) / s.size


def cb_discriminator_loss(sb, logits_real, logits_fake):
    lr, dr = _bce(logits_real, 1.0)
    lf, df = _bce(logits_fake, 0.0)
    return lr + lf, dr.astype(np.float32), df.astype(np.float32)


def cb_generator_loss(sb, logits_fake):
    loss, d = _bce(logits_fake, 1.0)
    return loss, d.astype(np.float32)


ADAM = {"lr": 1e-3, "beta1": 0.5, "beta2": 0.999, "eps": 1e-8}  # the notebook's get_optimizer


def adam_steps(params, grads_seq, lr, beta1, beta2, eps=1e-8):
    """Parameters after each Adam step (torch.optim.Adam's update, float64)."""
    p = [np.asarray(a, np.float64).copy() for a in params]
    m = [np.zeros_like(a) for a in p]
    v = [np.zeros_like(a) for a in p]
    out = []
    for t, grads in enumerate(grads_seq, start=1):
        for k, g in enumerate(grads):
            g = np.asarray(g, np.float64)
            m[k] = beta1 * m[k] + (1 - beta1) * g
            v[k] = beta2 * v[k] + (1 - beta2) * g * g
            mhat, vhat = m[k] / (1 - beta1 ** t), v[k] / (1 - beta2 ** t)
            p[k] = p[k] - lr * mhat / (np.sqrt(vhat) + eps)
        out.append([a.copy() for a in p])
    return out


def cb_optimizer_new(sb, n):
    return sb.keep(("adam", {"t": 0, "m": None, "v": None, "n": int(n)}))


def cb_optimizer_step(sb, handle, params, grads):
    """One Adam step of the notebook's optimizer on ``params`` with ``grads`` (None: no gradient)."""
    got = sb.held(handle)
    if not (isinstance(got, tuple) and got[0] == "adam") or len(params) != got[1]["n"] or len(grads) != len(params):
        raise ValueError("not this optimizer's parameters")
    st = got[1]
    if st["m"] is None:
        st["m"] = [np.zeros(np.shape(p)) for p in params]
        st["v"] = [np.zeros(np.shape(p)) for p in params]
    st["t"] += 1
    t, b1, b2 = st["t"], ADAM["beta1"], ADAM["beta2"]
    out = []
    for k, (p, g) in enumerate(zip(params, grads)):
        p = np.asarray(p, np.float64)
        if g is None:
            out.append(p.astype(np.float32))
            continue
        g = np.asarray(g, np.float64)
        st["m"][k] = b1 * st["m"][k] + (1 - b1) * g
        st["v"][k] = b2 * st["v"][k] + (1 - b2) * g * g
        mhat, vhat = st["m"][k] / (1 - b1 ** t), st["v"][k] / (1 - b2 ** t)
        out.append((p - ADAM["lr"] * mhat / (np.sqrt(vhat) + ADAM["eps"])).astype(np.float32))
    return out


CALLBACKS = {"net_forward": cb_net_forward, "net_backward": cb_net_backward,
             "discriminator_loss": cb_discriminator_loss, "generator_loss": cb_generator_loss,
             "optimizer_new": cb_optimizer_new, "optimizer_step": cb_optimizer_step}
PROVIDES = {"discriminator": ("net_forward", "net_backward"), "generator": ("net_forward", "net_backward"),
            "discriminator_loss": ("discriminator_loss",), "generator_loss": ("generator_loss",),
            "get_optimizer": ("optimizer_new", "optimizer_step")}
