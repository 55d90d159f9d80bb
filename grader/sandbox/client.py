"""Grader-side handle on the sandboxed worker (see grader/worker.py).

The grader talks to one worker child at a time through a socket; every call
has a timeout, and the run has a global deadline.  When a call hangs or the
child dies, the child is killed and the next call gets a fresh one, forked
from the zygote that already holds numpy/torch.
"""
from __future__ import annotations

import json
import os
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

from grader.paths import ROOT
from grader.questions import module_aliases
from grader.sandbox import protocol
from grader.sandbox.protocol import Ref

ZYGOTE_START_TIMEOUT = 120.0  # torch import on a slow, shared CPU

DEFAULT_LIMITS = {
    "memory_bytes": 2 * 1024**3,  # on top of what the zygote already mapped
    "file_bytes": 64 * 1024**2,
    "nproc": 64,
    "cpu_s": 600,
}


class WorkerError(Exception):
    """Something went wrong on the student's side of a call; ``str()`` is student-facing."""


class StudentException(WorkerError):
    def __init__(self, message, exc_type="", traceback="", kind="exception"):
        super().__init__(message)
        self.exc_type, self.traceback, self.kind = exc_type, traceback, kind


class WorkerTimeout(WorkerError):
    pass


class WorkerCrashed(WorkerError):
    pass


class DeadlineReached(WorkerError):
    pass


class InternalError(Exception):
    """The grader itself failed (not the student's fault)."""


@dataclass
class CallResult:
    value: object
    ref: Ref | None  # the returned value, kept in the worker (for methods of a returned object)


@dataclass
class Sandbox:
    stage: Path
    torch: bool = False
    user: str | None = None
    limits: dict = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    threads: int = 1
    deadline: float | None = None  # time.monotonic() value
    default_timeout: float = 30.0
    inworker: dict = field(default_factory=dict)  # torch? -> grader.inworker modules its zygote imports

    def __post_init__(self):
        # Two zygotes: numpy-only questions fork from a light one at once, while the one that
        # imports torch (seconds) starts in the background; ``use_torch`` picks between them.
        self._zygotes: dict[bool, _Zygote] = {}
        self.torch_mode = False
        self._child = None  # (socket, pid)
        self._imports: dict[str, object] = {}
        self._timed_out: dict[str, float] = {}
        self._pids: list[int] = []  # every child's process group, killed at close
        self._captured: list[str] | None = None
        self.spawned = 0
        self._uid = _uid_of(self.user)
        self._workdir = _workdir_for(self._uid)
        if self.torch:
            self._zygote(True)  # start importing torch now, in the background

    # ------------------------------------------------------------ processes
    def _zygote(self, with_torch: bool) -> "_Zygote":
        z = self._zygotes.get(with_torch)
        if z is None or z.proc.poll() is not None:
            cfg = {"stage": str(self.stage), "workdir": str(self._workdir), "torch": with_torch,
                   "user": self.user, "limits": self.limits, "threads": self.threads,
                   "inworker": list(self.inworker.get(with_torch, ())), "aliases": module_aliases()}
            z = self._zygotes[with_torch] = _Zygote(cfg, self.threads, self._workdir)
        return z

    def use_torch(self, flag: bool) -> None:
        """Run the next calls in a child of the torch zygote (PyTorch questions) or the light one."""
        flag = bool(flag and self.torch)
        if flag != self.torch_mode:
            self.kill_child()
            self._imports.clear()  # modules are imported again in the new child
            self.torch_mode = flag

    def _spawn(self):
        z = self._zygote(self.torch_mode)
        try:
            sock, pid = z.spawn()
        except OSError:
            # the zygote died (a student's process may have killed it): start over once
            z.kill()
            self._zygotes.pop(self.torch_mode, None)
            sock, pid = self._zygote(self.torch_mode).spawn()
        self._child = (sock, pid)
        self._pids.append(pid)
        self.spawned += 1

    def kill_child(self):
        if self._child is None:
            return
        sock, pid = self._child
        self._child = None
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        sock.close()

    def reset(self):
        """Next call runs in a fresh child (state from earlier calls is gone)."""
        self.kill_child()

    def close(self):
        self.kill_child()
        for z in self._zygotes.values():
            z.kill()
        self._zygotes.clear()
        for pid in self._pids:  # a child may have left processes in its group
            try:
                os.killpg(pid, signal.SIGKILL)
            except OSError:
                pass
        if self._uid is not None and os.environ.get("AUTOGRADER_EXCLUSIVE") == "1":
            # the only run on this machine (Gradescope): also whatever escaped its process group
            _kill_uid(self._uid)
        shutil.rmtree(self._workdir, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ------------------------------------------------------------ capture
    def begin_capture(self):
        self._captured = []

    def end_capture(self) -> str:
        text = "".join(self._captured or [])
        self._captured = None
        return text

    # ------------------------------------------------------------ requests
    def request(self, op: str, payload=None, timeout: float | None = None, label: str = "the call"):
        timeout = self.default_timeout if timeout is None else timeout
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise DeadlineReached("not run: the grading time budget was used up by earlier checks")
            timeout = min(timeout, left)
        if label in self._timed_out:  # one hang per function is enough: keep the run inside its budget
            raise WorkerTimeout(f"{label} did not return within {self._timed_out[label]:g} s earlier in this "
                                "run (stopped), so it was not run again")
        if self._child is None:
            self._spawn()
        sock, pid = self._child
        try:
            sock.sendall(protocol.pack({"op": op}, payload))
            head, value = protocol.read_message(_TimedReader(sock, timeout))
        except TimeoutError:
            self.kill_child()
            self._timed_out[label] = timeout
            raise WorkerTimeout(f"{label} did not return within {timeout:g} s (stopped)") from None
        except (EOFError, ConnectionError, BrokenPipeError):
            self.kill_child()
            raise WorkerCrashed(f"the process running {label} ended abruptly (a crash, os._exit, "
                                "or a memory/CPU limit was hit)") from None
        except protocol.ProtocolError as exc:
            self.kill_child()
            raise WorkerCrashed(f"{label} sent back malformed data ({exc})") from None
        stage = str(self.stage).rstrip("/") + "/"  # show paths as the student knows them
        out = str(head.get("output") or "").replace(stage, "")
        if out and self._captured is not None:
            self._captured.append(out)
        if not head.get("ok"):
            kind = head.get("error", "exception")
            if kind == "protocol":
                raise StudentException(f"{label} returned a value that cannot be graded: {head.get('message')}",
                                       kind=kind)
            raise StudentException(str(head.get("message", "")).replace(stage, ""), head.get("exc_type", ""),
                                   str(head.get("traceback", "")).replace(stage, ""), kind)
        return head, value

    def import_module(self, module: str, timeout: float | None = None):
        """Import a staged module; the outcome (names or error) is cached for the whole run."""
        if module not in self._imports:
            try:
                _, info = self.request("import", {"module": module}, timeout, label=f"importing {module}")
                self._imports[module] = info
            except WorkerError as exc:
                self._imports[module] = exc
        got = self._imports[module]
        if isinstance(got, Exception):
            raise got
        return got

    def call(self, module: str | None, name: str | None, *args, kwargs=None, ref: Ref | None = None,
             seed: int | None = None, pick=None, timeout: float | None = None, label: str | None = None,
             batch=None, discard=False) -> CallResult:
        payload = {"args": list(args), "kwargs": kwargs or {}}
        if ref is not None:
            payload["ref"] = ref
        else:
            payload["module"], payload["name"] = module, name
            self.import_module(module, timeout)
        if seed is not None:
            payload["seed"] = seed
        if pick is not None:
            payload["pick"] = [list(p) for p in pick]
        if batch is not None:
            payload["batch"] = [list(a) for a in batch]
        if discard:
            payload["discard"] = True
        head, value = self.request("call", payload, timeout, label=label or f"{name or 'the call'}")
        h = head.get("handle")
        return CallResult(value, Ref(h) if isinstance(h, int) else None)


def _uid_of(user):
    if user and os.getuid() == 0:
        import pwd
        return pwd.getpwnam(user).pw_uid
    return None


def _workdir_for(uid) -> Path:
    """A private working folder for the worker (owned by the sandbox user when there is one)."""
    workdir = Path(tempfile.mkdtemp(prefix="ag-work-"))
    os.chmod(workdir, 0o700)
    if uid is not None:
        import pwd
        os.chown(workdir, uid, pwd.getpwuid(uid).pw_gid)
    return workdir


class _Zygote:
    """One ``python -m grader.sandbox.worker`` process; started at once, waited for at its first spawn."""

    def __init__(self, cfg: dict, threads: int, workdir: Path):
        self._log = tempfile.TemporaryFile()
        ours, theirs = socket.socketpair()
        env = {k: v for k, v in os.environ.items()
               if k in ("PATH", "LANG", "LC_ALL", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "CUDA_VISIBLE_DEVICES")}
        env["PYTHONPATH"] = str(ROOT)
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env.setdefault("OMP_NUM_THREADS", str(threads))
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "grader.sandbox.worker", "--control-fd", str(theirs.fileno()), "--config", json.dumps(cfg)],
            pass_fds=[theirs.fileno()], cwd=str(workdir), env=env,
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log)
        theirs.close()
        self.ctl = ours
        self.ready = False

    def _wait_ready(self):
        self.ctl.settimeout(ZYGOTE_START_TIMEOUT)
        try:
            ready = self.ctl.recv(1)
        except OSError:
            ready = b""
        if ready != b"R":
            self.proc.kill()
            self._log.seek(0)
            raise InternalError("the worker process failed to start:\n"
                                + self._log.read()[-3000:].decode(errors="replace"))
        self.ctl.settimeout(None)
        self.ready = True

    def spawn(self) -> tuple[socket.socket, int]:
        if not self.ready:
            self._wait_ready()
        a, b = socket.socketpair()
        try:
            socket.send_fds(self.ctl, [b"S"], [b.fileno()])
            self.ctl.settimeout(30)
            pid = int.from_bytes(_recv_exact(self.ctl, 4), "little")
            self.ctl.settimeout(None)
        except OSError:
            a.close()
            raise
        finally:
            b.close()
        return a, pid

    def kill(self):
        self.proc.kill()
        self.proc.wait()
        self.ctl.close()


class _TimedReader:
    def __init__(self, sock, timeout):
        self.sock = sock
        self.end = time.monotonic() + timeout

    def read(self, n):
        left = self.end - time.monotonic()
        if left <= 0:
            raise TimeoutError
        r, _, _ = select.select([self.sock], [], [], left)
        if not r:
            raise TimeoutError
        return self.sock.recv(min(n, 1 << 20))


def _recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def _kill_uid(uid: int):
    """Kill every process left by the sandbox user (escaped grandchildren included)."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid == uid:
                os.kill(int(entry), signal.SIGKILL)
        except OSError:
            pass
