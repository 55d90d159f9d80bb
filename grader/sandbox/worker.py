"""The sandboxed worker: the only processes that run student code (worker side).

The grader starts a *zygote* with ``python -I -c`` (isolated mode: no current
folder, no PYTHON* variables on the path) from ``/``: it imports the heavy
libraries (numpy, and torch/torchvision when asked) and the in-worker helpers
once, drops to the sandbox user when started as root, takes the grader's
folder off ``sys.path`` and seals the ``grader`` package (no further grader
module can be imported), then forks one child per spawn request on its control
socket.  A child gets a fresh copy of the zygote (no student state), its own
private folder, resource limits and Landlock confinement (grader/sandbox/
confine.py), and serves calls over its own socket.  The zygote never imports
student code, so a crash or hang costs one child, not the heavy imports.

The grader is never forked: the zygote is a fresh interpreter, so nothing the
grader holds (fixtures, expected values, solution code) is in this memory.

During a call, in-worker helpers may ask the grader for a correct building
block (``channel.call``): the request goes back over the child's socket and
the grader answers from its own process (grader/sandbox/client.py); what the
worker holds of it is a ``Handle``, meaningless outside that call.
"""
from __future__ import annotations

import argparse
import gc
import importlib
import io
import json
import os
import random
import signal
import socket
import sys
import traceback

import numpy as np

from grader.sandbox import confine, protocol
from grader.sandbox.protocol import Handle, Opaque, ProtocolError, Ref

OUTPUT_KEEP = 4000  # characters of student output returned per call


# ---------------------------------------------------------------- child side
class _SockStream:
    """File-like reader over a socket, for protocol.read_message."""

    def __init__(self, sock):
        self.sock = sock

    def read(self, n):
        return self.sock.recv(min(n, 1 << 20))


class Child:
    def __init__(self, sock: socket.socket, cfg: dict, spec: dict):
        self.sock = sock
        self.cfg = cfg
        self.workdir = spec["workdir"]
        self.memory_bytes = spec.get("memory_bytes")
        self.stream = _SockStream(sock)
        self.handles: dict[int, object] = {}
        self.next_handle = 1
        self.out_path = os.path.join(self.workdir, ".output")

    # -- output capture: fd 1 and 2 go to a private file, read back per call
    def _redirect_output(self):
        fd = os.open(self.out_path, os.O_RDWR | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        os.close(devnull)
        sys.stdout = io.TextIOWrapper(os.fdopen(1, "wb", buffering=0), write_through=True, errors="replace")
        sys.stderr = io.TextIOWrapper(os.fdopen(2, "wb", buffering=0), write_through=True, errors="replace")

    def _take_output(self) -> str:
        for s in (sys.stdout, sys.stderr):
            try:
                s.flush()
            except Exception:
                pass
        try:
            size = os.lseek(1, 0, os.SEEK_END)
            with open(self.out_path, "rb") as f:
                if size > 2 * OUTPUT_KEEP:
                    head = f.read(OUTPUT_KEEP // 2)
                    f.seek(size - OUTPUT_KEEP // 2)
                    tail = f.read()
                    data = head + b"\n... [%d bytes of output cut] ...\n" % (size - OUTPUT_KEEP) + tail
                else:
                    data = f.read()
            os.ftruncate(1, 0)
            os.lseek(1, 0, os.SEEK_SET)
            os.lseek(2, 0, os.SEEK_SET)
        except OSError:
            return ""
        return data.decode("utf-8", "replace")

    def serve(self):
        os.setsid()
        os.chdir(self.workdir)
        os.environ.update(TMPDIR=self.workdir, HOME=self.workdir, MPLCONFIGDIR=self.workdir)
        self._redirect_output()
        limits = dict(self.cfg.get("limits", {}))
        if self.memory_bytes:
            limits["memory_bytes"] = self.memory_bytes
        confine.apply_limits(limits, confine.vm_kb("VmData"), self.cfg.get("sandboxed", False))
        if self.cfg.get("landlock"):
            try:
                confine.restrict_files(self.cfg["readable"], [self.workdir], self.cfg.get("unreadable", []))
            except Exception as exc:  # never run student code less confined than the grader announced
                print(f"worker confinement failed: {exc}", file=sys.__stderr__)
                os._exit(3)
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(int(self.cfg.get("threads", 1)))
        from grader.inworker import channel
        channel.install(self._callback)
        while True:
            try:
                head, payload = protocol.read_message(self.stream)
            except (EOFError, ConnectionError, ProtocolError):
                os._exit(0)
            reply, value = self.handle(head, payload)
            reply["output"] = self._take_output()
            try:
                data = protocol.pack(reply, value)
            except ProtocolError as exc:
                data = protocol.pack({"ok": False, "error": "protocol", "message": str(exc),
                                      "output": reply["output"]}, None)
            self.sock.sendall(data)

    def _callback(self, fn: str, args: list):
        """Ask the grader for ``fn(*args)`` (a correct building block) during the current call."""
        try:
            self.sock.sendall(protocol.pack({"callback": fn}, list(args)))
            head, value = protocol.read_message(self.stream)
        except (EOFError, ConnectionError, ProtocolError):
            os._exit(0)
        if not head.get("ok"):
            raise RuntimeError(str(head.get("message", "the grader refused the request")))
        return value

    # -- values
    def resolve(self, obj):
        if isinstance(obj, Ref):
            if obj.handle not in self.handles:
                raise KeyError(f"unknown handle {obj.handle}")
            cur = self.handles[obj.handle]
            for step in obj.path:
                if isinstance(step, str) and step.startswith("."):
                    cur = getattr(cur, step[1:])
                else:
                    cur = cur[step]
            return cur
        if isinstance(obj, list):
            return [self.resolve(v) for v in obj]
        if isinstance(obj, tuple):
            return tuple(self.resolve(v) for v in obj)
        if isinstance(obj, dict):
            return {k: self.resolve(v) for k, v in obj.items()}
        return obj

    def plain(self, obj, handle, path=(), depth=0):
        """Best plain-data view of obj; anything else becomes an Opaque marker."""
        if depth > 8:
            return Opaque(type(obj).__name__, Ref(handle, path))
        if obj is None or isinstance(obj, (bool, int, float, str, np.bool_, np.integer, np.floating, Handle)):
            return obj
        if isinstance(obj, np.ndarray):
            if obj.dtype.kind in "biufc":
                return obj
            return Opaque(f"ndarray[{obj.dtype}]", Ref(handle, path))
        torch = sys.modules.get("torch")
        if torch is not None and isinstance(obj, torch.Tensor):
            try:
                arr = obj.detach().cpu()
                if arr.dtype == torch.bfloat16 or arr.dtype == torch.float16:
                    arr = arr.float()
                return {"__tensor__": arr.numpy(), "dtype": str(obj.dtype), "device": str(obj.device),
                        "requires_grad": bool(obj.requires_grad), "shape": list(obj.shape)}
            except Exception:
                return Opaque("Tensor", Ref(handle, path))
        if isinstance(obj, (list, tuple)) and len(obj) <= 10000:
            vals = [self.plain(v, handle, path + (i,), depth + 1) for i, v in enumerate(obj)]
            return tuple(vals) if isinstance(obj, tuple) else vals
        if isinstance(obj, dict) and len(obj) <= 10000 and all(isinstance(k, str) for k in obj):
            return {k: self.plain(v, handle, path + (k,), depth + 1) for k, v in obj.items()}
        return Opaque(type(obj).__name__, Ref(handle, path))

    # -- operations
    def handle(self, head, payload):
        op = head.get("op")
        try:
            if op == "import":
                mod = importlib.import_module(payload["module"])
                names = sorted(n for n in dir(mod) if not n.startswith("__"))
                return {"ok": True}, {"file": getattr(mod, "__file__", None) or "", "names": names}
            if op == "call":
                return self.op_call(payload)
            return {"ok": False, "error": "protocol", "message": f"unknown op {op!r}"}, None
        except SystemExit as exc:
            return {"ok": False, "error": "exit", "message": f"the code called sys.exit({exc.code!r})",
                    "traceback": _student_tb()}, None
        except BaseException as exc:  # student code may raise anything, KeyboardInterrupt included
            return {"ok": False, "error": "exception", "exc_type": type(exc).__name__,
                    "message": _short(str(exc)), "traceback": _student_tb()}, None

    def store(self, value) -> int:
        h = self.next_handle
        self.next_handle += 1
        self.handles[h] = value
        return h

    def pick(self, h, pick):
        value = self.handles[h]
        if pick is None:
            return self.plain(value, h)
        out = []
        for path in pick:
            v = self.resolve(Ref(h, tuple(path)))
            out.append(self.plain(v, h, tuple(path)))
        return out

    def op_call(self, p):
        if "ref" in p:
            fn = self.resolve(p["ref"])
        else:
            mod = importlib.import_module(p["module"])
            fn = mod
            for part in p["name"].split("."):
                fn = getattr(fn, part)
        args = self.resolve(p.get("args", []))
        kwargs = self.resolve(p.get("kwargs", {}))
        seed = p.get("seed")
        results = []
        batch = p.get("batch")  # same function over several argument lists: one round trip
        arglists = [self.resolve(a) for a in batch] if batch is not None else [args]
        for a in arglists:
            if seed is not None:
                _seed_everything(seed)
            value = fn(*a, **kwargs)
            h = self.store(value)
            results.append(self.pick(h, p.get("pick")))
            if p.get("discard"):
                del self.handles[h]
        if batch is not None:
            return {"ok": True}, results
        return {"ok": True, "handle": h}, results[0]


def _seed_everything(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch = sys.modules.get("torch")
    if torch is not None:
        torch.manual_seed(seed)


def _short(s: str, n=2000) -> str:
    return s if len(s) <= n else s[: n // 2] + " ... " + s[-n // 2:]


def _student_tb() -> str:
    """The traceback, keeping only frames outside the grader's own worker code."""
    etype, exc, tb = sys.exc_info()
    frames = [f for f in traceback.extract_tb(tb) if os.sep + "grader" + os.sep not in f.filename
              and "importlib" not in f.filename]
    lines = traceback.format_list(frames[-8:]) + traceback.format_exception_only(etype, exc)
    return _short("".join(lines), 3000)


# ---------------------------------------------------------------- zygote side
def _drop_privileges(user: str):
    import pwd
    pw = pwd.getpwnam(user)
    os.setgroups([])
    os.setgid(pw.pw_gid)
    os.setuid(pw.pw_uid)
    os.environ["USER"] = user


def _seal_grader(root: str) -> None:
    """No grader module beyond those already imported can be imported from here on: the grader's
    folder leaves sys.path and every grader package forgets where its modules live."""
    sys.path[:] = [p for p in sys.path if p and os.path.realpath(p) != os.path.realpath(root)]
    for name, mod in list(sys.modules.items()):
        if (name == "grader" or name.startswith("grader.")) and hasattr(mod, "__path__"):
            mod.__path__ = []
    importlib.invalidate_caches()


def zygote_main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--control-fd", type=int, required=True)
    ap.add_argument("--config", required=True, help="JSON (see grader/sandbox/client.py, _Zygote)")
    args = ap.parse_args(argv)
    serve_zygote(json.loads(args.config), socket.socket(fileno=args.control_fd))


# Grader modules a worker keeps: its own machinery, the in-worker helpers, course data.
WORKER_MODULES = ("grader", "grader.sandbox", "grader.sandbox.worker", "grader.sandbox.protocol",
                  "grader.sandbox.confine", "grader.inworker", "grader.course")


def forked_zygote(cfg: dict, ctl_fd: int, log_fd: int) -> None:
    """A zygote forked from a warm grader process (``python -m grader batch``) instead of started afresh.

    The warm process imported numpy and torch but never ran student code, fixtures or solution code
    (grader/sandbox/client.py forks zygotes before a run's checks are imported); what it holds of the
    grader beyond the worker's own modules is dropped here before anything else happens."""
    os.setsid()
    os.dup2(log_fd, 1)
    os.dup2(log_fd, 2)
    os.closerange(3, ctl_fd)
    os.closerange(ctl_fd + 1, 1024)
    for name in [n for n in sys.modules if n == "grader" or n.startswith("grader.")]:
        if not (name in WORKER_MODULES or name.startswith(("grader.inworker.", "grader.course."))):
            del sys.modules[name]
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGCHLD):
        signal.signal(sig, signal.SIG_DFL)
    os.chdir("/")
    serve_zygote(cfg, socket.socket(fileno=ctl_fd))


def serve_zygote(cfg: dict, ctl: socket.socket) -> None:
    """Import what the children share, drop privileges, seal the grader, then fork a child per request."""
    if cfg.get("torch"):
        import torch  # (heavy imports, once per grading run; torchvision only if the staged code imports it)
        torch.backends.cuda.matmul.allow_tf32 = False  # the same arithmetic on every GPU as on the CPU
        torch.backends.cudnn.allow_tf32 = False
    if cfg.get("tensorflow"):  # the TensorFlow track's own zygote: never torch in the same process
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        import tensorflow  # noqa: F401  (imported only: no TensorFlow runtime may start before fork)
    importlib.import_module("grader.inworker.compat")
    importlib.import_module("grader.inworker.channel")
    for name in cfg.get("inworker", ()):  # the questions' in-worker helpers, loaded before privileges drop
        importlib.import_module("grader.inworker." + name)
    for name in ("numpy.random", "numpy.linalg", "h5py", "json", "logging", "math", "random", "collections",
                 "py_landlock"):
        try:  # common lazy imports, done while every file is still readable
            importlib.import_module(name)
        except ImportError:
            pass

    if cfg.get("landlock"):  # py_landlock finds libc by running ldconfig: once here, not in every child
        confine.landlock_abi()
    # what student code of every course year expects: numpy 1.x names, scipy's old module paths, and the
    # modules the course's provided lines import (loaded now, while every file is readable, and once)
    sys.modules["grader.inworker.compat"].install_course_compat(torch=bool(cfg.get("torch")),
                                                                 modules=cfg.get("preimport", []),
                                                                 tensorflow=bool(cfg.get("tensorflow")))
    if cfg.get("tensorflow"):  # threads and quiet logs; the seeded weights (numpy): no TF runtime before fork
        importlib.import_module("grader.inworker.tf_netvis").zygote_setup(int(cfg.get("threads", 1)))
    sandboxed = False
    if cfg.get("user") and os.getuid() == 0:
        _drop_privileges(cfg["user"])
        sandboxed = True
    cfg["sandboxed"] = sandboxed
    _seal_grader(cfg["root"])
    sys.path.insert(0, cfg["stage"])  # student code sees the staged package (and the Python installation)
    sys.dont_write_bytecode = True
    compat = sys.modules["grader.inworker.compat"]
    compat.install_aliases(cfg.get("aliases", {}))
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped automatically

    # Everything imported so far is shared with the children after fork; a collection in a child would
    # write to every one of those objects' headers and copy their pages (measured: ~150 MB per torch child)
    gc.freeze()
    ctl.sendall(b"R")  # ready
    while True:
        try:
            msg, fds, _flags, _addr = socket.recv_fds(ctl, 65536, 1)
        except OSError:
            return
        if not msg:
            return
        if not fds:
            continue
        try:
            spec = json.loads(msg.decode())
        except ValueError:
            os.close(fds[0])
            continue
        pid = os.fork()
        if pid == 0:
            ctl.close()
            child_sock = socket.socket(fileno=fds[0])
            try:
                Child(child_sock, cfg, spec).serve()
            finally:
                os._exit(0)
        os.close(fds[0])
        ctl.sendall(pid.to_bytes(4, "little"))
