"""The sandboxed worker: the only process that runs student code.

``python -m grader.sandbox.worker`` starts a *zygote*: it imports the heavy libraries
(numpy, and torch/torchvision when asked) once, drops to the sandbox user when
started as root, then forks one child per request on its control socket.  Each
child gets a fresh copy of the zygote (no student state), sets its resource
limits, and serves calls over its own socket.  The zygote itself never imports
student code, so a crash or hang costs one child, not the heavy imports.

The grader is never forked: the zygote is a fresh interpreter, so nothing the
grader holds (fixtures, expected values) is in the worker's memory.
"""
from __future__ import annotations

import argparse
import glob
import importlib
import io
import json
import os
import random
import resource
import signal
import socket
import sys
import traceback

import numpy as np

from grader.sandbox import protocol
from grader.sandbox.protocol import Opaque, ProtocolError, Ref

OUTPUT_KEEP = 4000  # characters of student output returned per call


# ---------------------------------------------------------------- child side
class _SockStream:
    """File-like reader over a socket, for protocol.read_message."""

    def __init__(self, sock):
        self.sock = sock

    def read(self, n):
        return self.sock.recv(min(n, 1 << 20))


class Child:
    def __init__(self, sock: socket.socket, cfg: dict):
        self.sock = sock
        self.cfg = cfg
        self.stream = _SockStream(sock)
        self.handles: dict[int, object] = {}
        self.next_handle = 1
        self.out_path = os.path.join(cfg["workdir"], f"out-{os.getpid()}.log")

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

    def _limits(self):
        lim = self.cfg.get("limits", {})
        def setlim(which, value):
            try:
                resource.setrlimit(which, (value, value))
            except (ValueError, OSError):
                pass
        setlim(resource.RLIMIT_CORE, 0)
        if lim.get("cpu_s"):
            setlim(resource.RLIMIT_CPU, int(lim["cpu_s"]))
        if lim.get("file_bytes"):
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead of killing
            setlim(resource.RLIMIT_FSIZE, int(lim["file_bytes"]))
        if lim.get("memory_bytes") and not glob.glob("/dev/nvidia[0-9]*"):
            # address space already mapped (torch maps a lot) plus the budget; not with a GPU, where
            # CUDA reserves far more address space than it uses (the container's limit applies there)
            setlim(resource.RLIMIT_AS, _vm_size() + int(lim["memory_bytes"]))
        if lim.get("nproc") and os.getuid() != 0 and self.cfg.get("sandboxed"):
            setlim(resource.RLIMIT_NPROC, int(lim["nproc"]))
        setlim(resource.RLIMIT_NOFILE, 256)

    def serve(self):
        os.setsid()
        os.chdir(self.cfg["workdir"])
        self._redirect_output()
        self._limits()
        if "torch" in sys.modules:
            sys.modules["torch"].set_num_threads(int(self.cfg.get("threads", 1)))
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
        if obj is None or isinstance(obj, (bool, int, float, str, np.bool_, np.integer, np.floating)):
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


def _vm_size() -> int:
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


# ---------------------------------------------------------------- zygote side
def _drop_privileges(user: str):
    import pwd
    pw = pwd.getpwnam(user)
    os.setgroups([])
    os.setgid(pw.pw_gid)
    os.setuid(pw.pw_uid)
    os.environ["HOME"] = "/tmp"
    os.environ["USER"] = user


def zygote_main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--control-fd", type=int, required=True)
    ap.add_argument("--config", required=True, help="JSON: stage, workdir, torch, user, limits, threads")
    args = ap.parse_args(argv)
    cfg = json.loads(args.config)
    ctl = socket.socket(fileno=args.control_fd)

    if cfg.get("torch"):
        import torch  # noqa: F401  (heavy imports, once per grading run)
        import torchvision  # noqa: F401
    importlib.import_module("grader.inworker.compat")
    for name in cfg.get("inworker", ()):  # the questions' in-worker helpers, loaded before privileges drop
        importlib.import_module("grader.inworker." + name)
    for name in ("numpy.random", "numpy.linalg", "h5py", "json", "logging", "math", "random", "collections"):
        try:  # common lazy imports, done while every file is still readable
            importlib.import_module(name)
        except ImportError:
            pass

    sandboxed = False
    if cfg.get("user") and os.getuid() == 0:
        _drop_privileges(cfg["user"])
        sandboxed = True
    cfg["sandboxed"] = sandboxed
    # Student code sees only the staged package: the grader's folder leaves sys.path.
    from grader.paths import ROOT
    root = str(ROOT)
    sys.path[:] = [cfg["stage"]] + [p for p in sys.path if p and os.path.abspath(p) != root]
    sys.dont_write_bytecode = True
    sys.modules["grader.inworker.compat"].install_aliases(cfg.get("aliases", {}))
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # children are reaped automatically

    ctl.sendall(b"R")  # ready
    while True:
        try:
            msg, fds, _flags, _addr = socket.recv_fds(ctl, 16, 1)
        except OSError:
            return
        if not msg:
            return
        if not fds:
            continue
        pid = os.fork()
        if pid == 0:
            ctl.close()
            child_sock = socket.socket(fileno=fds[0])
            try:
                Child(child_sock, cfg).serve()
            finally:
                os._exit(0)
        os.close(fds[0])
        ctl.sendall(pid.to_bytes(4, "little"))


if __name__ == "__main__":
    zygote_main()
