"""The grader's side of the sandboxed worker (see grader/sandbox/worker.py).

The grader talks to one worker child at a time through a socket.  Every call
is bounded in CPU seconds (the rubric's per-check limit, measured on the
child itself, so a slow or loaded machine does not turn correct code into a
timeout) and in wall-clock time (a multiple of it, and the run's deadline, so
a sleeping or blocked submission is stopped too).  When a call hangs or the
child dies, the child is killed with everything it started, its private
folder is deleted, and the next call gets a fresh child forked from the zygote
that already holds numpy/torch.

Nothing from the worker is trusted: replies are parsed within bounds
(grader/sandbox/protocol.py), and any malformed reply is the student's
failure on that check.  A child killed by the kernel's OOM killer (the
container ran out of memory, which is not the student's doing) raises
``EnvironmentFailure`` instead, which the plugin retries once and otherwise
reports as the environment's fault.

Isolation: when run as root, the worker runs as the sandbox user; wherever
the kernel has Landlock, each child may read only the Python installation and
the staged submission and write only its private folder, whatever the user
(grader/sandbox/confine.py); this process is the subreaper of everything the
children start, and sweeps it away after each child (grader/sandbox/procs.py).
"""
from __future__ import annotations

import json
import os
import re
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
from grader.sandbox import confine, procs, protocol, worker
from grader.sandbox.protocol import Handle, Ref

ZYGOTE_START_TIMEOUT = 180.0  # torch import on a slow, shared CPU (measured 5-6 s here, ~20 s at 0.5 vCPU)
# Wall-clock bound of a call, as a multiple of its CPU-second limit: a correct submission on half a vCPU,
# or on a machine so loaded that it gets a tenth of a core, still gets its CPU seconds; a submission that
# sleeps does not wait forever (and the run's own budget bounds them all).
WALL_PER_CPU_SECOND = 10.0
POLL_S = 0.1                  # how often a waiting call looks at the child's CPU time
OUTPUT_LIMIT = 8000           # characters of a child's output accepted per reply
# Left, when a child's budget comes from the container, to the grader's own growth and to the libraries' code
# pages (the budget counts anonymous memory only).  At 768 MB with torch's CUDA build, the children of the
# torch zygote start with ~460-520 MB in use, so their budget is ~190-250 MB; the reference's largest need,
# Q5's visible checks in one child, is 138 MB.  A greedier child squeezes the code pages out: the container
# thrashes, and procs.ThrashWatch says so (the environment's failure, not the student's).
MEMORY_MARGIN = 64 * 1024**2
MAX_CALLBACKS = 50_000        # requests for correct building blocks in one call
MAX_CALLBACK_ELEMENTS = 4_000_000  # array elements per request for a building block

DEFAULT_LIMITS = {
    "memory_bytes": 2 * 1024**3,  # heap on top of what the zygote already holds (lowered to fit the container)
    "file_bytes": 64 * 1024**2,
    "nproc": 64,
    "cpu_s": 600,                 # a backstop per child; each call has its own CPU limit
}

# Set by a warm grader process (grader/tools/warm.py) that imported numpy and torch once: its runs fork
# their zygotes from it instead of starting fresh interpreters.
FORK_ZYGOTES = False

_BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); "
         f"from {worker.__name__} import {worker.zygote_main.__name__} as main; main(sys.argv[2:])")


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


class EnvironmentFailure(Exception):
    """The grading environment failed the call (the container ran out of memory): not the student's
    doing.  ``str()`` says so, for students and staff."""


class InternalError(Exception):
    """The grader itself failed (not the student's fault)."""


@dataclass
class CallResult:
    value: object
    ref: Ref | None  # the returned value, kept in the worker (for methods of a returned object)


@dataclass(frozen=True)
class Isolation:
    """How student code is confined in this run (``describe()`` is shown in the results)."""
    user: str | None        # separate sandbox user (root only)
    landlock: int           # Landlock ABI in use, 0 for none

    @property
    def isolated(self) -> bool:
        return bool(self.user or self.landlock)

    def describe(self) -> str:
        parts = []
        if self.user:
            parts.append(f"as the unprivileged user {self.user!r}")
        if self.landlock:
            parts.append(f"confined by Landlock (ABI {self.landlock}) to the Python installation and your files")
        if not parts:
            return ("NOT ISOLATED: this machine offers neither a separate user (run as root) nor Landlock (Linux "
                    "5.13+), so student code ran with the grader's own rights and could read or change the "
                    "grader's files; use this run for feedback only")
        return "student code ran " + " and ".join(parts)


def isolation_for(user: str | None) -> Isolation:
    abi = 0 if os.environ.get("AUTOGRADER_NO_LANDLOCK") == "1" else confine.landlock_abi()
    return Isolation(user if (user and os.getuid() == 0) else None, abi)


TENSORFLOW = "tensorflow"  # the zygote kind of the TensorFlow track (False: numpy only, True: torch)


@dataclass
class Sandbox:
    stage: Path
    torch: bool = False
    user: str | None = None
    limits: dict = field(default_factory=lambda: dict(DEFAULT_LIMITS))
    threads: int = 1
    deadline: float | None = None  # time.monotonic() value
    default_timeout: float = 30.0
    inworker: dict = field(default_factory=dict)  # zygote kind (False, True, "tensorflow") -> grader.inworker modules
    preimport: tuple = ()  # modules the course's provided lines import, loaded by the zygotes before forking
    tensorflow: bool = False  # TensorFlow-track questions are graded: a third zygote, which imports tensorflow

    def __post_init__(self):
        # Two zygotes: numpy-only questions fork from a light one at once, while the one that
        # imports torch (seconds) starts in the background; ``use_torch`` picks between them.  A third
        # kind, TENSORFLOW, imports tensorflow instead of torch (never both in one process), only when a
        # TensorFlow submission is graded; ``use_kind`` picks any of them.
        self._zygotes: dict = {}
        self.kind = False  # False (numpy), True (torch) or TENSORFLOW
        self._child = None  # (socket, pid, workdir)
        self._imports: dict[str, object] = {}
        self._timed_out: dict[tuple, float] = {}   # (label, building blocks standing in) -> its limit
        self._captured: list[str] | None = None
        self._budget_lowered = False
        self._oom_at_spawn = None
        self._thrash = procs.ThrashWatch()
        self._starved: str | None = None  # why the torch / TensorFlow zygotes were given up (the container thrashed)
        self._handles: dict[int, object] = {}
        self._next_handle = 1
        self.spawned = 0
        self.abrupt_ends = 0  # workers that ended abruptly (not an OOM kill): the plugin re-runs such a check once
        self._uid = _uid_of(self.user)
        self.isolation = isolation_for(self.user)
        procs.become_subreaper()
        self._work_root = Path(tempfile.mkdtemp(prefix="ag-work-"))
        os.chmod(self._work_root, 0o711)  # ours; the sandbox user may only enter its own child folders
        # A warm process (python -m grader batch) forks its zygotes instead of starting interpreters, all of
        # them now: later the run's checks (and the grader's own solution code) are loaded into this process,
        # and nothing of them may reach a worker; a zygote that has to be restarted then starts afresh.
        self._fork_zygotes = FORK_ZYGOTES
        if self.torch:
            self._zygote(True)  # start importing torch now, in the background
        if self.tensorflow:
            self._zygote(TENSORFLOW)  # and tensorflow, in a process of its own
        if self._fork_zygotes and self.inworker.get(False):
            self._zygote(False)
        self._fork_zygotes = False

    @property
    def torch_mode(self) -> bool:
        return self.kind is True

    # ------------------------------------------------------------ processes
    def _zygote(self, kind) -> "_Zygote":
        z = self._zygotes.get(kind)
        if z is None or z.proc.poll() is not None:
            if z is not None:
                z.kill()
            tf = kind == TENSORFLOW
            preimport = [m for m in self.preimport if not (tf and m.split(".")[0] in ("torch", "torchvision"))]
            cfg = {"stage": str(self.stage), "root": str(ROOT), "torch": kind is True, "user": self.user,
                   "limits": self.limits, "threads": self.threads,
                   "inworker": list(self.inworker.get(kind, ())), "aliases": module_aliases(),
                   "preimport": preimport,
                   "landlock": self.isolation.landlock, "readable": confine.python_paths() + [str(self.stage)],
                   "unreadable": [str(ROOT)]}
            if tf:
                cfg["tensorflow"] = True
                # TensorFlow's runtime seeds itself from std::random_device (/dev/urandom) in every child; without
                # it a child aborts on its first op
                cfg["readable"] = cfg["readable"] + ["/dev/urandom"]
            # TensorFlow's C++ logging goes to the zygote's stderr before any Python runs: quiet it there
            z = self._zygotes[kind] = _Zygote(cfg, self.threads, {"TF_CPP_MIN_LOG_LEVEL": "2"} if tf else None,
                                              fork=self._fork_zygotes and not tf)
            z.watch = self._memory_check
        return z

    def use_torch(self, flag: bool) -> None:
        """Run the next calls in a child of the torch zygote (PyTorch questions) or the light one."""
        self.use_kind(bool(flag and self.torch))

    def use_kind(self, kind) -> None:
        """Run the next calls in a child of the zygote of ``kind``: False (numpy), True (torch), TENSORFLOW."""
        if kind == TENSORFLOW and not self.tensorflow:
            raise InternalError("a TensorFlow question was graded by a sandbox started without TensorFlow")
        kind = kind if kind == TENSORFLOW else bool(kind and self.torch)
        if kind != self.kind:
            self.kill_child()
            self._imports.clear()  # modules are imported again in the new child
            self.kind = kind

    def drop_zygote(self, kind) -> None:
        """No more calls will need this zygote (False, True or TENSORFLOW): free its memory now."""
        if self.kind == kind:
            self.kill_child()
        z = self._zygotes.pop(kind, None)
        if z is not None:
            z.kill()

    def _new_workdir(self) -> Path:
        self.spawned += 1
        d = self._work_root / f"child{self.spawned}"
        os.mkdir(d, 0o700)
        if self._uid is not None:
            import pwd
            fd = os.open(d, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
            try:
                os.fchown(fd, self._uid, pwd.getpwuid(self._uid).pw_gid)
            finally:
                os.close(fd)
        return d

    def memory_budget(self) -> tuple[int, bool]:
        """(bytes a new child may allocate, whether the container lowered it below the default).

        Not lowered for a TensorFlow child: the budget is RLIMIT_DATA, which counts address space a process
        maps, and TensorFlow's runtime maps 0.7-1 GB it never touches (measured: every TF1 check of a correct
        submission died with a 400 MB budget, one of nine with 700 MB, none with 1000 MB, while the whole
        768 MB container's peak stayed at 648 MB).  There the container's own limit decides: an OOM kill is
        the environment's failure (``_crashed``), never the student's."""
        default = int(self.limits.get("memory_bytes") or DEFAULT_LIMITS["memory_bytes"])
        avail = procs.container_memory().available
        if avail is None or self.kind == TENSORFLOW:
            return default, False
        budget = max(32 * 1024**2, avail - MEMORY_MARGIN)
        return min(default, budget), budget < default

    def _memory_check(self) -> str | None:
        """None while the current call may go on; else why the container cannot run it.

        The first time the container thrashes (``procs.ThrashWatch``), the heavy zygotes (torch, TensorFlow:
        most of the memory) are given up and their questions' checks fail as the environment's; numpy checks
        go on in the memory freed.  Thrashing again, with numpy alone, stops every call."""
        why = self._thrash.check()
        if not why:
            return None
        if self._starved is None:
            self._starved = why
            for kind in [k for k in self._zygotes if k is not False]:
                if kind == self.kind:
                    self.kill_child()
                self._zygotes.pop(kind).kill()
            self._thrash = procs.ThrashWatch()
            return why if self.kind is not False else None
        self.kill_child()
        for z in self._zygotes.values():
            z.kill()
        self._zygotes.clear()
        return why

    def _spawn(self):
        if self._starved is not None and self.kind is not False:
            raise EnvironmentFailure(self._starved)
        why = self._memory_check()
        if why:
            raise EnvironmentFailure(why)
        z = self._zygote(self.kind)
        workdir = self._new_workdir()
        budget, self._budget_lowered = self.memory_budget()
        spec = {"workdir": str(workdir), "memory_bytes": budget}
        try:
            sock, pid = z.spawn(spec)
        except OSError:
            # the zygote died (a student's process may have killed it): start over once
            z.kill()
            self._zygotes.pop(self.kind, None)
            sock, pid = self._zygote(self.kind).spawn(spec)
        self._child = (sock, pid, workdir)
        self._oom_at_spawn = procs.container_memory().oom_kills

    def kill_child(self):
        if self._child is None:
            return
        sock, pid, workdir = self._child
        self._child = None
        try:
            os.killpg(pid, signal.SIGKILL)
        except OSError:
            pass
        sock.close()
        self._sweep()
        shutil.rmtree(workdir, ignore_errors=True)
        self._handles.clear()

    def _sweep(self):
        """Kill whatever the children started that is still running (their orphans are ours)."""
        procs.sweep({z.proc.pid for z in self._zygotes.values() if z.proc.poll() is None})

    def reset(self):
        """Next call runs in a fresh child (state from earlier calls is gone)."""
        self.kill_child()

    def close(self):
        self.kill_child()
        for z in self._zygotes.values():
            z.kill()
        self._zygotes.clear()
        procs.sweep(set())
        shutil.rmtree(self._work_root, ignore_errors=True)

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

    # ------------------------------------------------------------ correct building blocks
    def keep(self, value) -> Handle:
        """Hold ``value`` for the worker (until the current check ends); it gets an opaque handle."""
        h = Handle(self._next_handle)
        self._next_handle += 1
        self._handles[h.key] = value
        return h

    def held(self, handle, release: bool = False) -> object:
        """What ``keep`` gave ``handle`` for; ``release``: forget it now (a cache a backward pass consumed:
        a training run would otherwise keep every step's cache until the check ends)."""
        if not isinstance(handle, Handle) or handle.key not in self._handles:
            raise ValueError("the cache passed in is not one of this check's (a cache is valid only during "
                             "the check that made it, and a backward pass uses it once)")
        return self._handles.pop(handle.key) if release else self._handles[handle.key]

    def end_check(self):
        """The check is over: handles of correct building blocks are forgotten."""
        self._handles.clear()

    def _answer(self, head, value, callbacks: dict, counts: list) -> bytes:
        name = head.get("callback")
        counts[0] += 1
        fn = callbacks.get(name) if isinstance(name, str) else None
        if fn is None:
            return protocol.pack({"ok": False, "message": f"no building block {str(name)[:60]!r} in this call"})
        if counts[0] > MAX_CALLBACKS:
            return protocol.pack({"ok": False, "message": f"more than {MAX_CALLBACKS} requests in one call"})
        if not isinstance(value, list) or _elements(value) > MAX_CALLBACK_ELEMENTS:
            return protocol.pack({"ok": False, "message": "inputs too large for a building block"})
        try:
            out = fn(self, *value)
        except (ValueError, TypeError, IndexError, KeyError) as exc:  # inputs the building block cannot take
            return protocol.pack({"ok": False, "message": f"{name}: {str(exc)[:500]}"})
        return protocol.pack({"ok": True}, out)

    # ------------------------------------------------------------ requests
    def hung_alone(self, label: str) -> bool:
        """Whether a call labelled ``label`` ran out of time earlier in this run with no building block
        standing in (the student's own function hung)."""
        return (label, ()) in self._timed_out

    def request(self, op: str, payload=None, timeout: float | None = None, label: str = "the call",
                callbacks: dict | None = None):
        timeout = self.default_timeout if timeout is None else timeout
        wall = timeout * WALL_PER_CPU_SECOND
        if self.deadline is not None:
            left = self.deadline - time.monotonic()
            if left <= 0:
                raise DeadlineReached("not run: the grading time budget was used up by earlier checks")
            wall = min(wall, left)
        # One hang per call is enough: keep the run inside its budget.  The same call with correct building
        # blocks standing in is another call: the hang may have been in a block (one bug, one deduction).
        hang = (label, tuple(sorted(callbacks or ())))
        if hang in self._timed_out:
            raise WorkerTimeout(f"{label} did not return within {self._timed_out[hang]:g} s earlier in this "
                                "run (stopped), so it was not run again")
        if self._child is None:
            self._spawn()
        sock, pid, _ = self._child
        oom_before = self._oom_at_spawn
        reader = _CallReader(sock, pid, cpu_limit=timeout, wall_limit=wall, watch=self._memory_check)
        counts = [0]
        try:
            sock.sendall(protocol.pack({"op": op}, payload))
            while True:
                head, value = protocol.read_message(reader)
                if "callback" not in head:
                    break
                sock.sendall(self._answer(head, value, callbacks or {}, counts))
        except TimeoutError as exc:
            self.kill_child()
            self._timed_out[hang] = timeout
            raise WorkerTimeout(f"{label} did not return within {exc}" if str(exc) else
                                f"{label} did not return in time (stopped)") from None
        except (EOFError, ConnectionError, BrokenPipeError):
            self.kill_child()
            self._crashed(label, oom_before)
        except protocol.ProtocolError as exc:
            self.kill_child()
            raise WorkerCrashed(f"{label} sent back malformed data ({exc})") from None
        except _Thrashing as exc:
            self.kill_child()
            raise EnvironmentFailure(str(exc)) from None
        return self._reply(head, value, label)

    def _crashed(self, label, oom_before):
        if self._starved is not None and self.kind is not False:
            raise EnvironmentFailure(self._starved)
        oom_after = procs.container_memory().oom_kills
        if oom_before is not None and oom_after is not None and oom_after > oom_before:
            raise EnvironmentFailure(f"the grading environment ran out of memory while running {label} (the "
                                     "container's memory limit was hit; not your fault)")
        self.abrupt_ends += 1
        raise WorkerCrashed(f"the process running {label} ended abruptly (a crash, os._exit, a signal, or a "
                            "CPU/memory limit was hit)")

    def _reply(self, head: dict, value, label: str):
        stage = str(self.stage).rstrip("/") + "/"  # show paths as the student knows them
        work = str(self._work_root).rstrip("/") + "/"

        def text(key, n):
            v = head.get(key, "")
            return (v if isinstance(v, str) else "")[:n].replace(stage, "").replace(work, "")

        ok = head.get("ok")
        handle = head.get("handle")
        if not isinstance(ok, bool) or (handle is not None and (not isinstance(handle, int) or isinstance(handle, bool))):
            self.kill_child()
            raise WorkerCrashed(f"{label} sent back malformed data (a reply without a valid status)")
        out = text("output", OUTPUT_LIMIT)
        if out and self.kind == TENSORFLOW:
            out = _TF_INFO_LOG.sub("", out)  # TensorFlow's own C++ info lines are not the student's output
        if out and self._captured is not None:
            self._captured.append(out)
        if not ok:
            kind = head.get("error") if head.get("error") in ("exception", "exit", "protocol") else "exception"
            if kind == "protocol":
                raise StudentException(f"{label} returned a value that cannot be graded: {text('message', 2000)}",
                                       kind=kind)
            message = text("message", 4000)
            oom = procs.container_memory().oom_kills
            starved = self._budget_lowered or (oom is not None and self._oom_at_spawn is not None
                                               and oom > self._oom_at_spawn)
            if starved and _out_of_memory(text("exc_type", 100), message):
                raise EnvironmentFailure(f"{label} ran out of memory in a container smaller than the grader's "
                                         "usual budget (not your fault)")
            raise StudentException(message, text("exc_type", 200), text("traceback", 6000), kind)
        return head, value

    def import_module(self, module: str, timeout: float | None = None):
        """Import a staged module; the outcome (names or error) is cached for the whole run."""
        if module not in self._imports:
            try:
                _, info = self.request("import", {"module": module}, timeout, label=f"importing {module}")
                if not (isinstance(info, dict) and isinstance(info.get("names"), list)):
                    raise WorkerCrashed(f"importing {module} sent back malformed data")
                self._imports[module] = info
            except WorkerError as exc:
                self._imports[module] = exc
        got = self._imports[module]
        if isinstance(got, Exception):
            raise got
        return got

    def call(self, module: str | None, name: str | None, *args, kwargs=None, ref: Ref | None = None,
             seed: int | None = None, pick=None, timeout: float | None = None, label: str | None = None,
             batch=None, discard=False, callbacks: dict | None = None) -> CallResult:
        """Call ``module.name`` (or the callable at ``ref``) in the worker; ``callbacks``: the correct
        building blocks (name -> function(sandbox, *args)) the call may ask the grader for."""
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
        head, value = self.request("call", payload, timeout, label=label or f"{name or 'the call'}",
                                   callbacks=callbacks)
        h = head.get("handle")
        return CallResult(value, Ref(h) if isinstance(h, int) else None)


# What TensorFlow's C++ runtime prints at INFO level (absl logging, which TF_CPP_MIN_LOG_LEVEL does not reach in
# TF 2.20: "I0000 00:00:1796145368.271078   15382 mlir_graph_optimization_pass.cc:437] MLIR V1 optimization
# pass is not enabled"), and absl's notice before its first line.
_TF_INFO_LOG = re.compile(r"^(WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
                          r"|I\d{4} \d\d:\d\d:\d\d?[\d.]*\s+\d+ [\w./+-]+:\d+\] [^\n]*)\n?", re.M)

_OOM_TEXTS = ("can't allocate memory", "not enough memory", "could not create a primitive", "bad_alloc",
              "Cannot allocate memory", "out of memory", "failed to map segment")


def _out_of_memory(exc_type: str, message: str) -> bool:
    """An allocation failed: numpy's MemoryError, or torch's or oneDNN's allocator refusing (a RuntimeError)."""
    return exc_type == "MemoryError" or any(t in message for t in _OOM_TEXTS)


def _elements(value, depth=0) -> int:
    import numpy as np
    if depth > 8:
        return 0
    if isinstance(value, np.ndarray):
        return int(value.size)
    if isinstance(value, (list, tuple)):
        return sum(_elements(v, depth + 1) for v in value)
    if isinstance(value, dict):
        return sum(_elements(v, depth + 1) for v in value.values())
    return 1


def _uid_of(user):
    if user and os.getuid() == 0:
        import pwd
        return pwd.getpwnam(user).pw_uid
    return None


class _Zygote:
    """One zygote process (grader/sandbox/worker.py); started at once, waited for at its first spawn.

    Started in isolated mode (``-I``: no current folder, no PYTHON* variables) from ``/`` with an
    explicit path to the grader's package: nothing the sandbox user can write is ever imported by it,
    even when it runs as root before dropping privileges."""

    def __init__(self, cfg: dict, threads: int, extra_env: dict | None = None, fork: bool = False):
        self.watch = None  # the sandbox's ThrashWatch.check, consulted while the zygote starts
        self._log = tempfile.TemporaryFile()
        ours, theirs = socket.socketpair()
        if fork:  # a warm grader: this process already imported what the zygote needs (see FORK_ZYGOTES)
            self.proc = _Forked(lambda: _zygote_child(cfg, theirs.fileno(), self._log.fileno()))
            theirs.close()
            self.ctl = ours
            self.ready = False
            return
        # ATEN_CPU_CAPABILITY: staff may pin torch's CPU kernels (and it emulates another CPU for the tests)
        env = {k: v for k, v in os.environ.items()
               if k in ("PATH", "LANG", "LC_ALL", "CUDA_VISIBLE_DEVICES", "ATEN_CPU_CAPABILITY")}
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads), OPENBLAS_NUM_THREADS=str(threads))
        env.update(extra_env or {})
        self.proc = subprocess.Popen(
            [sys.executable, "-I", "-B", "-c", _BOOT, str(ROOT), "--control-fd", str(theirs.fileno()),
             "--config", json.dumps(cfg)],
            pass_fds=[theirs.fileno()], cwd="/", env=env,
            stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log)
        theirs.close()
        self.ctl = ours
        self.ready = False

    def _wait_ready(self):
        oom_before = procs.container_memory().oom_kills
        end = time.monotonic() + ZYGOTE_START_TIMEOUT
        ready = b""
        while time.monotonic() < end:
            why = self.watch() if self.watch else None
            if why:
                self.kill()
                raise EnvironmentFailure(why)
            r, _, _ = select.select([self.ctl], [], [], min(1.0, max(0.0, end - time.monotonic())))
            if r:
                try:
                    ready = self.ctl.recv(1)
                except OSError:
                    ready = b""
                break
        if ready != b"R":
            self.proc.kill()
            self.proc.wait()
            self._log.seek(0)
            log = self._log.read()[-3000:].decode(errors="replace")
            oom_after = procs.container_memory().oom_kills
            if (oom_before is not None and oom_after is not None and oom_after > oom_before) \
                    or self.proc.returncode == -signal.SIGKILL:
                mem = procs.container_memory()
                raise EnvironmentFailure("the grading environment ran out of memory while loading the worker's "
                                         "libraries" + (f" (container limit {mem.limit // 1024**2} MB)"
                                                        if mem.limit else "") + "; not your fault")
            raise InternalError("the worker process failed to start:\n" + log)
        self.ready = True

    def spawn(self, spec: dict) -> tuple[socket.socket, int]:
        if not self.ready:
            self._wait_ready()
        a, b = socket.socketpair()
        try:
            socket.send_fds(self.ctl, [json.dumps(spec).encode()], [b.fileno()])
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
        self._log.close()


def _zygote_child(cfg: dict, ctl_fd: int, log_fd: int) -> None:
    try:
        worker.forked_zygote(cfg, ctl_fd, log_fd)
    finally:
        os._exit(0)


class _Forked:
    """A forked process with the part of ``subprocess.Popen``'s interface the sandbox uses."""

    def __init__(self, target):
        self.returncode = None
        self.pid = os.fork()
        if self.pid == 0:
            target()
            os._exit(0)

    def poll(self):
        if self.returncode is None:
            try:
                pid, status = os.waitpid(self.pid, os.WNOHANG)
            except ChildProcessError:
                pid, status = self.pid, 0
            if pid:
                self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def kill(self):
        try:
            os.kill(self.pid, signal.SIGKILL)
        except OSError:
            pass

    def wait(self, timeout=None):
        if self.returncode is None:
            try:
                _, status = os.waitpid(self.pid, 0)
                self.returncode = os.waitstatus_to_exitcode(status)
            except ChildProcessError:
                self.returncode = 0
        return self.returncode


class _Thrashing(Exception):
    """The container thrashed during a call (``procs.ThrashWatch``); ``str()`` says so."""


class _CallReader:
    """Reads a call's reply while watching the child (its CPU seconds, the wall clock) and the container."""

    def __init__(self, sock, pid, cpu_limit: float, wall_limit: float, watch=None):
        self.sock, self.pid, self.watch = sock, pid, watch
        self.cpu_limit, self.wall_limit = cpu_limit, wall_limit
        self.start = time.monotonic()
        self.cpu0 = procs.cpu_seconds(pid) or 0.0

    def read(self, n):
        while True:
            elapsed = time.monotonic() - self.start
            if elapsed >= self.wall_limit:
                raise TimeoutError(f"{self.wall_limit:g} s (wall clock; stopped)")
            r, _, _ = select.select([self.sock], [], [], min(POLL_S, self.wall_limit - elapsed))
            if r:
                return self.sock.recv(min(n, 1 << 20))
            cpu = procs.cpu_seconds(self.pid)  # only while waiting: a reply already there costs no /proc read
            if cpu is not None and cpu - self.cpu0 > self.cpu_limit:
                raise TimeoutError(f"{self.cpu_limit:g} CPU seconds (stopped)")
            why = self.watch() if self.watch else None
            if why:
                raise _Thrashing(why)


def _recv_exact(sock, n):
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data
