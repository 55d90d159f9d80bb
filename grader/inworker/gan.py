"""Grader code for Q5 (GANs) that runs *inside* the worker, beside the student's.

Imported by the zygote before it drops privileges (grader.sandbox.worker.TORCH_HELPERS);
reads no grader file at call time.  Everything it returns is untrusted (student
code ran in this process): the checks in grader/checks/test_q5_gan.py compare
it with fixtures or recompute the verdict in the grader's own process.

The student's module is ``deeplearning.gan_pytorch`` (a ``gan_pytorch.py``
file, or one assembled from a 2019 notebook by grader.engine.notebook).  Two course
signatures are accepted and told apart with ``inspect`` here, in the worker:

- 2019 notebook: ``discriminator()``, ``generator(noise_dim=NOISE_DIM)``,
  ``build_dc_classifier()`` (``Unflatten(batch_size, 1, 28, 28)`` with the
  notebook's global ``batch_size = 128``), ``build_dc_generator(noise_dim)``,
  ``sample_noise(batch_size, dim)``;
- 2020 files: ``discriminator(seed=None)``, ``generator(noise_dim, seed=None)``,
  ``build_dc_classifier(batch_size)``, ``sample_noise(batch_size, dim, seed=None)``.

A few functions here are pure numpy/torch code that the grader also uses on
its own side (``init_arrays``, ``stroke_images``): they never touch the
student's module.
"""
from __future__ import annotations

import importlib
import time

import numpy as np
import torch

# Imported here, while the zygote can still read the grader's files (never at call time).
from grader.course.models import load_params_by_order, seeded_params
from grader.course.gan import evaluation_data, stroke_images  # noqa: F401  (re-exported for the worker)
from grader.inworker import standins as S
from grader.inworker.compat import signature_info

MODULE = "deeplearning.gan_pytorch"
# The notebooks' global batch size: 2019 solutions hard-wire it into
# Unflatten(batch_size, ...), so every forward pass of a DC model uses it.
NOTEBOOK_BATCH_SIZE = 128
NOTEBOOK_NOISE_DIM = 96

# The student's get_optimizer builds a torch optimizer, and the first one built in a process imports what it
# lazily needs (torch._dynamo: 1.5 CPU-s).  Built once here, in the zygote, so that no child pays it again.
torch.optim.Adam([torch.zeros(1, requires_grad=True)])


# ------------------------------------------------------------------ shared, pure
def init_arrays(shapes, seed, offsets=None, scales=None) -> list:
    """Deterministic float32 weights for parameters of ``shapes`` (in order).

    ``grader.course.models.seeded_params`` draws (He-scaled weights, 0.05-std
    vectors), then ``offsets[i]`` is added to and ``scales[i]`` multiplies array
    i (e.g. BatchNorm weights get +1 so every channel keeps its sign and scale;
    a scale of 0 zeroes a layer)."""
    arrays = seeded_params([tuple(int(d) for d in s) for s in shapes], int(seed))
    out = []
    for i, a in enumerate(arrays):
        if scales is not None and float(scales[i]) != 1.0:
            a = a * np.float32(scales[i])
        if offsets is not None and float(offsets[i]) != 0.0:
            a = a + np.float32(offsets[i])
        out.append(np.ascontiguousarray(a, dtype=np.float32))
    return out


# ------------------------------------------------------------------ the student's module
def _module():
    return importlib.import_module(MODULE)


def _signature(fn):
    return signature_info(fn)


def _required(info) -> list:
    return [p for p in info["params"] if p not in info["defaults"]]


def builder_call(name: str, noise_dim=None):
    """How to call the student's builder ``name``: (args, kwargs, description)."""
    fn = getattr(_module(), name)
    info = _signature(fn)
    params, required = info["params"], _required(info)
    args, kwargs = [], {}
    if name in ("generator", "build_dc_generator"):
        if noise_dim is not None:
            if "noise_dim" in params:
                kwargs["noise_dim"] = int(noise_dim)
            elif params:
                args.append(int(noise_dim))
    elif name == "build_dc_classifier":
        # 2020: build_dc_classifier(batch_size); 2019: no argument (global batch_size)
        if "batch_size" in params:
            kwargs["batch_size"] = NOTEBOOK_BATCH_SIZE
        elif required:
            args.append(NOTEBOOK_BATCH_SIZE)
    shown = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return args, kwargs, f"{name}({', '.join(shown)})"


def build_model(name: str, noise_dim=None):
    args, kwargs, desc = builder_call(name, noise_dim)
    model = getattr(_module(), name)(*args, **kwargs)
    if model is None:
        raise TypeError(f"{desc} returned None: not implemented yet (it should return an nn.Module)")
    if not isinstance(model, torch.nn.Module):
        raise TypeError(f"{desc} returned a {type(model).__name__}; an nn.Module (e.g. nn.Sequential) was expected")
    return model, desc


def model_info(name: str, noise_dim=None) -> dict:
    """Parameter count and shapes of the student's model (what the notebook's count test sees)."""
    model, desc = build_model(name, noise_dim)
    params = list(model.parameters())
    return {"call": desc, "type": type(model).__name__,
            "count": int(sum(int(p.numel()) for p in params)),
            "shapes": [[int(d) for d in p.shape] for p in params],
            "layers": [type(m).__name__ for m in model.modules()][1:60]}


def model_forward(name: str, noise_dim, shapes, seed, offsets, x, train=True) -> dict:
    """The student's model with fixture weights loaded by parameter order, applied to ``x``.

    Runs on the CPU in float32, without gradients, in train mode by default (the
    notebook never switches the GAN models to eval mode: BatchNorm uses the
    batch's statistics)."""
    model, desc = build_model(name, noise_dim)
    model = model.to(device="cpu", dtype=torch.float32)
    xt = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    params = list(model.parameters())
    got = [tuple(int(d) for d in p.shape) for p in params]
    want = [tuple(int(d) for d in s) for s in shapes]
    if got != want:
        # a module of the student's own that declares its layers in another order than it applies them
        # (every Linear first, then the BatchNorms): the order its forward pass uses them in
        params = params_in_call_order(model, xt)
        if params is None or [tuple(int(d) for d in p.shape) for p in params] != want:
            return {"call": desc, "mismatch": True, "shapes": [list(s) for s in got]}
    load_params_by_order(model, init_arrays(want, seed, offsets), params)
    model.train(bool(train))
    with torch.no_grad():
        out = model(xt)
    return {"call": desc, "mismatch": False, "out": out}


def params_in_call_order(model, x):
    """``model``'s parameters ordered by the first call of the module that holds them in a forward pass on
    ``x`` (each module's own in their declared order; parameters no call used last); None if that pass
    fails.  The pass runs on a copy, so BatchNorm's running statistics of ``model`` are not touched."""
    import copy
    probe = copy.deepcopy(model)
    owners = [m for m in probe.modules() if list(m.parameters(recurse=False))]
    order: list = []
    hooks = [m.register_forward_pre_hook(lambda mod, _inp: order.append(mod) if mod not in order else None)
             for m in owners]
    try:
        with torch.no_grad():
            probe(x)
    except Exception:  # noqa: BLE001  (the caller reports the declared order's mismatch)
        return None
    finally:
        for h in hooks:
            h.remove()
    index = {id(p): i for i, p in enumerate(probe.parameters())}
    mine = list(model.parameters())
    ranked = [p for m in order for p in m.parameters(recurse=False)]
    ranked += [p for p in probe.parameters() if all(p is not q for q in ranked)]
    return [mine[index[id(p)]] for p in ranked]


def call_with_tensors(name: str, *arrays):
    """Call the student's ``name`` on float32 CPU tensors made from ``arrays`` (as the notebook's tests do)."""
    tensors = [torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)) for a in arrays]
    return getattr(_module(), name)(*tensors)


def loss_on_logits(name: str, *arrays) -> dict:
    """The student's loss ``name`` on logits that require grad and come out of an operation (as a network's
    output does in training), and which of them the returned loss reaches through autograd: {"value": what
    it returned, "connected": [bool per input] or None when it is not a scalar tensor that requires grad}."""
    leaves = [torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).requires_grad_() for a in arrays]
    out = getattr(_module(), name)(*[t * 1.0 for t in leaves])
    connected = None
    if isinstance(out, torch.Tensor) and out.requires_grad and out.numel() == 1:
        grads = torch.autograd.grad(out.sum(), leaves, allow_unused=True)
        connected = [g is not None for g in grads]
    return {"value": out, "connected": connected}


def optimizer_steps(params, grads_seq) -> dict:
    """What get_optimizer's optimizer does: for a small model with ``params`` (arrays in
    model.parameters() order), one ``step()`` per entry of ``grads_seq`` (the gradients to set); returns
    the parameters after each step.  The grader compares them with the Adam steps it computes itself,
    so only what the optimizer really does counts, not what it says about itself."""
    model = torch.nn.Sequential(torch.nn.Linear(5, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    load_params_by_order(model, params)
    opt = _module().get_optimizer(model)
    if opt is None:
        return {"none": True}
    if not callable(getattr(opt, "step", None)) or not callable(getattr(opt, "zero_grad", None)):
        return {"none": False, "type": type(opt).__name__, "steps": None}
    out = []
    for grads in grads_seq:
        opt.zero_grad()
        for p, g in zip(model.parameters(), grads):
            p.grad = torch.from_numpy(np.array(g, dtype=np.float32))
        opt.step()
        out.append([p.detach().cpu().float().numpy().copy() for p in model.parameters()])
    return {"none": False, "type": type(opt).__name__, "steps": out}


# ------------------------------------------------------------------ training run
def _train_once(cfg, device: str) -> dict:
    mod = _module()
    D, _ = build_model("discriminator")
    G, _ = build_model("generator", cfg["noise_dim"])
    for model, key in ((D, "d_init"), (G, "g_init")):
        spec = cfg[key]
        shapes = [tuple(int(d) for d in p.shape) for p in model.parameters()]
        if [list(s) for s in shapes] != [list(s) for s in spec["shapes"]]:
            who = "discriminator()" if key == "d_init" else "generator()"
            if not shapes:
                return {"error": f"{who} returns a model with no parameters (not implemented yet), so there is "
                                 "nothing to train"}
            return {"error": f"{who} does not have the course's parameters (count and shapes), so the training "
                             "run cannot start from its fixed initial weights; fix the architecture first"}
        load_params_by_order(model, init_arrays(shapes, spec["seed"], spec.get("offsets"), spec.get("scales")))
    D = D.to(device).train()
    G = G.to(device).train()
    D_solver = mod.get_optimizer(D)
    G_solver = mod.get_optimizer(G)
    if D_solver is None or G_solver is None:
        return {"error": "get_optimizer returned None (not implemented yet), so nothing can be trained"}
    data = stroke_images(cfg["data_seed"], cfg["n_data"])
    data = torch.from_numpy(2.0 * data - 1.0).reshape(-1, 1, 28, 28)  # [0, 1] -> [-1, 1], as run_a_gan
    B, nd = cfg["batch_size"], cfg["noise_dim"]
    rs = np.random.RandomState(cfg["seed"])
    gen = torch.Generator().manual_seed(cfg["seed"])  # noise drawn on the CPU: the same on any device

    def noise():
        return (2.0 * torch.rand(B, nd, generator=gen) - 1.0).to(device)

    def d_step():
        x = data[torch.from_numpy(rs.randint(0, data.shape[0], B))].to(device)
        D_solver.zero_grad()
        with torch.no_grad():
            fake = G(noise()).reshape(B, 1, 28, 28)
        loss = mod.discriminator_loss(D(x), D(fake))
        loss.backward()
        D_solver.step()
        return loss

    def g_step():
        G_solver.zero_grad()
        loss = mod.generator_loss(D(G(noise()).reshape(B, 1, 28, 28)))
        loss.backward()
        G_solver.step()
        return loss

    d_hist, g_hist = [], []

    def value(loss):
        if not isinstance(loss, torch.Tensor):
            raise TypeError(f"a loss function returned a {type(loss).__name__}; a torch tensor was expected")
        return float(loss.detach().reshape(-1)[0].cpu())

    t0 = time.perf_counter()
    for _ in range(cfg["g_steps"]):
        for _ in range(cfg["d_steps"]):
            d_hist.append(value(d_step()))
        g_hist.append(value(g_step()))
    for _ in range(cfg["d_steps"]):  # end on the discriminator's turn
        d_hist.append(value(d_step()))
    elapsed = time.perf_counter() - t0
    return {"device": device, "seconds": elapsed,
            "d_loss": np.asarray(d_hist, np.float64), "g_loss": np.asarray(g_hist, np.float64),
            "d_params": [p.detach().cpu().float().numpy() for p in D.parameters()],
            "g_params": [p.detach().cpu().float().numpy() for p in G.parameters()]}


def train_gan(cfg, standins=()) -> dict:
    """``train`` with ``standins`` (the student's functions replaced by the grader's for this run: one bug,
    one deduction); see _train_gan."""
    with S.installed(MODULE, S.for_gan(standins)):
        return _train_gan(cfg)


def _train_gan(cfg) -> dict:
    """Train the student's discriminator() and generator() with the student's
    discriminator_loss, generator_loss and get_optimizer on synthetic strokes.

    CUDA when torch sees a GPU, else the CPU.  Should the run fail on the GPU
    (e.g. the student's loss makes its labels with ``.type(torch.FloatTensor)``,
    which stays on the CPU), it is repeated on the CPU, so a correct submission
    gets the same verdict on both.  Returns the loss histories and the trained
    parameters (plain arrays); the grader measures the result itself."""
    use_cuda = False
    try:
        use_cuda = bool(cfg.get("allow_cuda", True)) and torch.cuda.is_available()
    except Exception:
        use_cuda = False
    note = ""
    if use_cuda:
        try:
            torch.backends.cudnn.deterministic = True
            res = _train_once(cfg, "cuda")
            if "error" in res:
                return res
            print(f"GAN training check: {cfg['g_steps']} generator steps ran on the GPU "
                  f"({torch.cuda.get_device_name(0)}) in {res['seconds']:.1f} s")
            return res
        except Exception as exc:  # fall back: the CPU run decides
            note = f" (the GPU run failed with {type(exc).__name__}: {str(exc)[:200]}; repeated on the CPU)"
    res = _train_once(cfg, "cpu")
    if "error" in res:
        return res
    res["note"] = note
    print(f"GAN training check: {cfg['g_steps']} generator steps ran on the CPU in {res['seconds']:.1f} s{note}")
    return res


def separation_logits(d_params, g_params) -> dict:
    """The student's own discriminator()/generator() with trained parameters, on the evaluation data.

    Used only where the grader's own recomputation is absent (the student pre-check):
    logits of D on held-out real images and on G's samples."""
    D, _ = build_model("discriminator")
    G, _ = build_model("generator", NOTEBOOK_NOISE_DIM)
    load_params_by_order(D, [np.asarray(a, dtype=np.float32) for a in d_params])
    load_params_by_order(G, [np.asarray(a, dtype=np.float32) for a in g_params])
    real, z = evaluation_data()
    with torch.no_grad():
        fake = G(torch.from_numpy(z)).reshape(-1, 1, 28, 28)
        return {"real": D(torch.from_numpy(real)).double().numpy().ravel(),
                "fake": D(fake).double().numpy().ravel()}
