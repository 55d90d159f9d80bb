"""``batch EXPORT --scheduler tcp://HOST:8786``: the same regrade, on Dask ``distributed`` workers.

Each submission is one task.  The batch (the client) packs the files the
grader reads from the submission (.py, .ipynb, .zip; never a link) into a zip
in memory and sends it with the rubric's text; the task, on a worker, unpacks
it into a temporary folder (``grader.engine.files.safe_extract``), runs
``python -m grader grade`` on it in a subprocess, exactly as the local pool
does (same isolation, same per-submission time limit, the process tree killed
at the limit), and returns the exit status, the results.json text and the
log.  The client writes ``results/<id>/`` and decides the status as for a
local grading, so scores.csv is the same as with ``-j N``.

A worker grades only with the same grader: each task compares the worker's
``grader.__version__``, grading code (sha256 of grader/ and the template's
provided modules) and fixtures manifest with the client's, and refuses
(``grader_error``, naming the worker) when one differs.  Ctrl-C / SIGTERM on
the client cancels queued tasks and sets a Dask ``Event`` that running tasks
poll, so their grading subprocesses stop too.

Workers are started from an autograder checkout (or the unpacked Gradescope
bundle) with its pinned requirements, one thread each (a task is one
grading subprocess)::

    dask scheduler                                  # prints tcp://HOST:8786
    cd autograder && PYTHONPATH=$PWD dask worker tcp://HOST:8786 --nthreads 1 --nworkers 2
"""
from __future__ import annotations

import functools
import socket
import tempfile
import time
import uuid
from concurrent.futures import CancelledError
from pathlib import Path

import grader
from grader.engine.files import ZipUnreadable, safe_extract, sha256_file
from grader.paths import FIXTURES
from grader.tools.batch.export import (EXPORT_MAX_MEMBER, EXPORT_MAX_MEMBERS, EXPORT_MAX_TOTAL, BatchError,
                                       Submission, pack_submission)
from grader.tools.batch.runner import (POLL_S, Outcome, Runner, code_sha256, grade_command, grading_env,
                                       run_grading)

PIN = "dask[distributed]==2026.8.0"
CONNECT_TIMEOUT_S = 15
LOG_LIMIT = 1024 * 1024          # bytes of a grading's log sent back
FINGERPRINT_KEYS = ("grader_version", "code_sha256", "fixtures_sha256")


def fingerprint(fixtures: Path = FIXTURES) -> dict:
    """What must be the same on the client and on every worker for a grade to be the same."""
    manifest = fixtures / "manifest.yaml"
    return {"grader_version": grader.__version__, "code_sha256": code_sha256(),
            "fixtures_sha256": sha256_file(manifest) if manifest.is_file() else ""}


@functools.lru_cache(maxsize=1)
def _worker_fingerprint() -> dict:
    return fingerprint()


def connect(address: str, timeout: float = CONNECT_TIMEOUT_S):
    """A ``distributed.Client`` on the scheduler at ``address`` with at least one worker, or BatchError."""
    try:
        from distributed import Client
    except ImportError:
        raise BatchError(f"--scheduler needs the Python package distributed, which this Python lacks; install "
                         f"the pinned requirements (pip install '{PIN}'), or leave out --scheduler to grade "
                         "here") from None
    if "://" not in address and ":" not in address:
        raise BatchError(f"--scheduler {address}: expected a Dask scheduler's address such as tcp://HOST:8786 "
                         "(`dask scheduler` prints it)")
    def unanswered(exc):
        return BatchError(f"--scheduler {address}: no Dask scheduler answers there ({exc}); start one with "
                          f"`dask scheduler` and workers with `dask worker {address} --nthreads 1` run from an "
                          "autograder checkout, or leave out --scheduler to grade here")
    _probe(address, timeout, unanswered)
    try:
        client = Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError, ValueError) as exc:
        raise unanswered(exc) from None
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        client.close()
        raise BatchError(f"--scheduler {address}: the scheduler has no workers ({exc}); start them with "
                         f"`dask worker {address} --nthreads 1` from an autograder checkout") from None
    return client


def _probe(address: str, timeout: float, error) -> None:
    """A refused TCP connection is known at once; distributed's own connect retries it until ``timeout``
    (15 s of a TA's time for a mistyped port).  Other schemes are left to distributed."""
    scheme, _, rest = address.rpartition("://")
    host, _, port = rest.rpartition(":")
    if scheme not in ("", "tcp") or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]") or "127.0.0.1", int(port)), timeout=timeout).close()
    except OSError as exc:
        raise error(exc) from None


def _stop_check(name: str | None):
    """A function that says whether the batch's stop Event is set (asked at most once a second)."""
    if not name:
        return lambda: False
    try:
        from distributed import Event
        ev = Event(name)
    except Exception:  # no client reachable from this task: the time limit still bounds the grading
        return lambda: False
    state = {"t": 0.0, "set": False}

    def stopped() -> bool:
        now = time.monotonic()
        if now - state["t"] >= 1.0:
            state["t"] = now
            try:
                state["set"] = bool(ev.is_set())
            except Exception:
                pass
        return state["set"]
    return stopped


def grade_remote(task: dict) -> dict:
    """On a Dask worker: grade one packed submission with this worker's grader; plain data back."""
    t0 = time.monotonic()
    host = socket.gethostname()
    mine = _worker_fingerprint()
    differ = [k for k in FINGERPRINT_KEYS if task["fingerprint"].get(k) != mine.get(k)]
    if differ:
        detail = ", ".join(f"{k} {str(mine.get(k))[:12]} here, {str(task['fingerprint'].get(k))[:12]} in the batch"
                           for k in differ)
        return {"refused": f"the Dask worker on {host} runs other grader code than the batch ({detail}); install "
                           "the same autograder commit (and fixtures) on every worker", "host": host}
    with tempfile.TemporaryDirectory(prefix="ag-dask-") as tmp:
        tmp = Path(tmp)
        packed = tmp / "submission.zip"
        packed.write_bytes(task["files"])
        sub_dir = tmp / "sub" / task["folder"]
        sub_dir.mkdir(parents=True)
        try:
            got = safe_extract(packed, sub_dir, suffixes=None, max_total=EXPORT_MAX_TOTAL,
                               max_members=EXPORT_MAX_MEMBERS, max_member=EXPORT_MAX_MEMBER, keep_folders=True)
            skipped = got.skipped
        except ZipUnreadable as exc:
            skipped = [str(exc)]
        packed.unlink()
        rubric = tmp / "rubric" / task["rubric_file"]
        rubric.parent.mkdir()
        rubric.write_text(task["rubric_text"], encoding="utf-8")
        results, log = tmp / "results.json", tmp / "grade.log"
        rc, stopped = run_grading(grade_command(sub_dir, results, rubric), log, task["timeout"], grading_env(),
                                  stopped=_stop_check(task.get("stop_event")))
        try:
            text = results.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            text = None
        try:
            with open(log, "rb") as f:
                out = f.read(LOG_LIMIT)
        except OSError:
            out = b""
        head = "".join(f"[worker] {s}\n" for s in skipped)
        return {"rc": rc, "stopped": stopped, "results": text, "log": head + out.decode("utf-8", "replace"),
                "host": host, "seconds": time.monotonic() - t0}


class DaskRunner(Runner):
    """A Runner whose gradings run as tasks on a Dask cluster (``grade_remote``)."""

    def __init__(self, client, rub, out: Path, stamp: dict, timeout: float, fp: dict):
        super().__init__(rub, out, stamp, timeout)
        self.client, self.fp = client, fp
        self.token = uuid.uuid4().hex[:12]
        self.event_name = f"autograder-batch-stop-{self.token}"
        self.rubric_file = Path(rub.path).name
        self.rubric_text = Path(rub.path).read_text(encoding="utf-8")

    def parallelism(self, n_todo: int) -> int:
        """How many submissions are in flight at once: enough to keep every worker thread busy."""
        try:
            threads = sum(self.client.nthreads().values())
        except Exception:
            threads = 1
        return max(1, min(n_todo, max(8, 2 * threads), 256))

    def describe(self) -> str:
        try:
            workers = self.client.nthreads()
        except Exception:
            workers = {}
        return (f"Dask scheduler {self.client.scheduler.address} ({len(workers)} worker(s), "
                f"{sum(workers.values())} thread(s))")

    def _run(self, sub: Submission, results: Path, log: Path, t0: float) -> Outcome:
        files, left_out = pack_submission(sub.path)
        task = {"id": sub.id, "folder": sub.folder, "files": files, "rubric_file": self.rubric_file,
                "rubric_text": self.rubric_text, "timeout": self.timeout, "fingerprint": self.fp,
                "stop_event": self.event_name}
        fut = self.client.submit(grade_remote, task, key=f"grade-{sub.id}-{self.token}", pure=False)
        try:
            while True:
                if self.stopping.is_set():
                    fut.cancel()
                    return Outcome(sub.id, "interrupted", time.monotonic() - t0)
                try:
                    reply = fut.result(timeout=POLL_S)
                    break
                except TimeoutError:
                    continue
        except CancelledError:
            if self.stopping.is_set():
                return Outcome(sub.id, "interrupted", time.monotonic() - t0)
            reply = {"error": "the task was cancelled on the cluster"}
        except Exception as exc:  # KilledWorker, a lost scheduler...: the cluster's trouble, not the student's
            reply = {"error": f"{type(exc).__name__}: {exc}"}
        finally:
            del fut
        head = "".join(f"[batch] not sent to the worker: {s}\n" for s in left_out)
        if "error" in reply or "refused" in reply:
            why = reply.get("refused") or f"the Dask task failed ({reply['error']})"
            log.write_text(head + f"[batch] {why}\n", encoding="utf-8")
            return Outcome(sub.id, "grader_error", time.monotonic() - t0,
                           f"{why}; see {log.relative_to(self.out).as_posix()}")
        log.write_text(head + f"[batch] graded on the Dask worker {reply['host']} in {reply['seconds']:.1f} s\n"
                       + reply["log"], encoding="utf-8")
        if reply["results"] is not None:
            results.write_text(reply["results"], encoding="utf-8")
        return self._finish(sub, reply["rc"], reply["stopped"], results, log, t0)

    def stop(self):
        super().stop()
        try:
            from distributed import Event
            Event(self.event_name, client=self.client).set()
        except Exception:
            pass

    def close(self):
        try:
            self.client.close()
        except Exception:
            pass
