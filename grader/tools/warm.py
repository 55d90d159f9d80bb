"""A warm grader: numpy, torch and the grading engine imported once, a fresh grader forked per submission.

Grading many submissions (``python -m grader batch``, ``python -m grader mutants``) would otherwise pay,
for each, a new interpreter, numpy, pytest and above all torch's import (several seconds each).  A
``WarmGrader`` is one server process (started in isolated mode from ``/``, like the worker's zygotes)
that imports them once and then, per request, forks a child that runs ``python -m grader grade ...``
exactly as the command line does, from a state that has never graded anything: no submission's
files, state or processes reach another's.  The child forks its worker zygotes from itself before it
imports the run's checks, so the zygotes start with torch loaded and with nothing of the grader's
own solution code (grader/sandbox/worker.py ``forked_zygote`` drops every grader module a worker does
not need); everything else (sandbox user, Landlock, limits, the sweep of what a submission starts) is
the same as for a single ``grade``.

Grader side; the server never runs student code itself.
"""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from grader.paths import ROOT
from grader.sandbox import procs

_BOOT = ("import sys; sys.path.insert(0, sys.argv[1]); "
         f"from {__name__} import serve; serve(int(sys.argv[2]), sys.argv[3] == 'torch')")


class WarmGrader:
    """One warm server; ``grade(argv)`` runs ``python -m grader`` ARGV in a fresh fork of it."""

    def __init__(self, env: dict | None = None, start_timeout: float = 300.0, torch: bool = True):
        """``torch``: preload torch and torchvision (about 5 CPU-s); leave it out for a rubric whose questions
        never run torch (a regrade of Q1/Q2)."""
        ours, theirs = socket.socketpair()
        self._log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen([sys.executable, "-I", "-B", "-c", _BOOT, str(ROOT), str(theirs.fileno()),
                                      "torch" if torch else "numpy"],
                                     pass_fds=[theirs.fileno()], cwd="/", env=env or dict(os.environ),
                                     stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log)
        theirs.close()
        self.sock = ours
        self.sock.settimeout(start_timeout)
        if self._line() != {"ready": True}:
            raise RuntimeError("the warm grader did not start: " + self._tail())
        self.sock.settimeout(None)
        self.child: int | None = None

    def _tail(self) -> str:
        self._log.seek(0)
        return self._log.read()[-3000:].decode(errors="replace")

    def _line(self) -> dict:
        data = b""
        while not data.endswith(b"\n"):
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("the warm grader stopped: " + self._tail())
            data += chunk
        return json.loads(data)

    def grade(self, argv: list[str], log: Path, timeout: float | None = None, stopped=lambda: False,
              poll: float = 0.2, cwd: Path | None = None) -> tuple[int | None, bool]:
        """Run the CLI with ``argv`` in a fresh fork (working directory ``cwd``, default ours); its output
        (stdout and stderr, one stream) goes to ``log``.  Returns (exit status, or None when it was
        killed at ``timeout``; whether it was stopped because ``stopped()`` became true).  A run that is
        killed is killed with everything it started."""
        self.sock.sendall(json.dumps({"argv": [str(a) for a in argv], "log": str(Path(log).resolve()),
                                      "cwd": str(cwd or os.getcwd())}).encode() + b"\n")
        self.child = self._line()["pid"]
        deadline = None if timeout is None else time.monotonic() + timeout
        killed, was_stopped = False, False
        try:
            self.sock.settimeout(poll)
            while True:
                try:
                    rc = self._line()["rc"]
                    break
                except (socket.timeout, TimeoutError):
                    if killed:
                        continue
                    if stopped():
                        procs.kill_tree(self.child, grace=1.0, first=signal.SIGINT)
                        killed, was_stopped = True, True
                    elif deadline is not None and time.monotonic() > deadline:
                        procs.kill_tree(self.child)
                        killed = True
        finally:
            self.sock.settimeout(None)
            self.child = None
        return (None if killed and not was_stopped else rc), was_stopped

    def close(self):
        if self.child:
            procs.kill_tree(self.child)
        try:
            self.sock.close()
        finally:
            self.proc.kill()
            self.proc.wait()
            self._log.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


_TORCH_PRELOAD = ("torch", "torchvision", "PIL", "scipy.ndimage", "grader.inworker.netvis", "grader.inworker.style",
                  "grader.inworker.gan")


def _preload(torch: bool = True) -> None:
    """What every run needs, imported once: never the checks, the fixtures or the grader's own solutions."""
    import importlib
    import warnings
    for name in ("numpy", "h5py", "yaml", "pytest",
                 "grader.cli", "grader.engine.grade", "grader.engine.plugin", "grader.sandbox.worker",
                 "grader.inworker.compat", "grader.inworker.channel", "grader.inworker.standins",
                 "grader.inworker.captioning", "grader.course.years") + (_TORCH_PRELOAD if torch else ()):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                importlib.import_module(name)
        except ImportError:
            pass


def serve(fd: int, torch: bool = True) -> None:
    """The server: one request (a JSON line: argv, log) at a time, each graded in a fresh fork."""
    sock = socket.socket(fileno=fd)
    _preload(torch)
    sock.sendall(b'{"ready": true}\n')
    buf = b""
    while True:
        while b"\n" not in buf:
            chunk = sock.recv(65536)
            if not chunk:
                return
            buf += chunk
        line, buf = buf.split(b"\n", 1)
        req = json.loads(line)
        pid = os.fork()
        if pid == 0:
            sock.close()
            _run(req)
        sock.sendall(json.dumps({"pid": pid}).encode() + b"\n")
        _, status = os.waitpid(pid, 0)
        sock.sendall(json.dumps({"rc": os.waitstatus_to_exitcode(status)}).encode() + b"\n")


def _run(req: dict) -> None:
    rc = 1
    try:
        os.setsid()
        os.chdir(req.get("cwd") or "/")
        fd = os.open(req["log"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        sys.stdout = open(1, "w", buffering=1, closefd=False)
        sys.stderr = open(2, "w", buffering=1, closefd=False)
        from grader.cli import main
        from grader.sandbox import client
        client.FORK_ZYGOTES = True
        rc = main(req["argv"])
    except SystemExit as exc:
        rc = exc.code if isinstance(exc.code, int) else 1
    except BaseException:
        import traceback
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(rc if isinstance(rc, int) else 1)
