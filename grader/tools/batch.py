"""``python -m grader batch EXPORT``: regrade a whole Gradescope export.

EXPORT is the folder, or the zip of it, that Gradescope's "Export Submissions"
gives: ``submission_metadata.yml`` (Ruby-style keys such as ``:submitters:``)
and one folder per submission (``submission_123456789/``).  Every submission
is graded by the same engine as ``python -m grader grade`` (isolation and
limits included), each in its own subprocess, ``-j N`` at a time, with a time
limit per submission so that nothing one submission does can stall the batch.

OUT (``--out``) receives::

    results/<id>/results.json   Gradescope results of that submission
    results/<id>/stamp.json     status, grader version, rubric and fixtures hashes (for --resume)
    results/<id>/grade.log      what the grading subprocess printed
    scores.csv                  submission_id, names, emails, sids, Q1.., every test, total, status
    summary.txt                 per-question statistics, histograms, most failed tests
    diff.csv, diff.txt          with --diff PREVIOUS (an earlier scores.csv)

Status per submission: ``ok``; ``unreadable`` (nothing could be read: folder
missing from the export or unlistable, only corrupt zips; scored 0 with a
results.json saying so); ``grader_error`` (the grading subprocess exited
non-zero: the grader's fault, see grade.log; its results.json is kept when
there is one); ``timeout`` (killed after the per-submission limit, with the
worker processes it started; no scores); ``interrupted`` (Ctrl-C or SIGTERM came
first).  A progress bar (done/total, percent, elapsed, ETA) goes to stderr when
it is a terminal; otherwise only a final line.  The limit is the rubric's time budget + 120 s, or ``$AUTOGRADER_BATCH_TIMEOUT``
seconds.

``--resume`` skips a submission whose stamp shows it was graded (ok or
unreadable) by the same grader.__version__, rubric file (sha256), fixtures
manifest (sha256) and the same uploaded files; timeouts and grader errors are
graded again.

Exit status: 0 when every submission was graded (ok or unreadable), 1 when the
batch finished but some submissions hit a grader error or the time limit (they
are listed in summary.txt; rerun with --resume to retry only those), 2 for a
usage error, 130 when interrupted (what finished is written; --resume goes on).
"""
from __future__ import annotations

import csv
import hashlib
import json
import math
import os
import re
import shutil
import signal
import stat
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import yaml

import grader
from grader.engine import rubric as rubric_mod
from grader.engine.files import is_regular, sha256_file
from grader.paths import FIXTURES, ROOT

METADATA_NAMES = ("submission_metadata.yml", "submission_metadata.yaml")
META_COLUMNS = ("submission_id", "names", "emails", "sids")
END_COLUMNS = ("total", "status")
DONE_STATUSES = ("ok", "unreadable")      # --resume skips these; timeouts and grader errors are retried
ADVISORY_STAMP_KEYS = ("code_sha256",)      # recorded, and warned about, but not a reason to regrade
TIMEOUT_MARGIN_S = 120                      # staging, worker start, torch import on top of the rubric's budget
GRACE_S = 5                                 # after SIGINT, for the grader to stop its worker and clean up
SOURCE_SUFFIXES = (".py", ".ipynb", ".zip")
SKIP_EXTRACT_SUFFIXES = (".h5", ".hdf5", ".npz", ".npy", ".pt", ".pth", ".pkl", ".ckpt")  # data the grader never reads
IGNORED = {"__MACOSX", ".DS_Store"}


# ----------------------------------------------------------------------------- export
@dataclass
class Submission:
    id: str
    folder: str                     # name in the export
    path: Path
    names: list[str] = field(default_factory=list)
    emails: list[str] = field(default_factory=list)
    sids: list[str] = field(default_factory=list)
    in_metadata: bool = False


class BatchError(Exception):
    """A usage problem with the export (printed, exit 2)."""


class _MetaLoader(yaml.SafeLoader):
    """safe_load that reads Ruby-tagged values (``!ruby/object:...``) as plain data instead of failing."""


def _plain(loader, _suffix, node):
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    return loader.construct_scalar(node)


_MetaLoader.add_multi_constructor("!", _plain)
_MetaLoader.add_multi_constructor("tag:ruby.yaml.org", _plain)


def _strip_keys(obj):
    if isinstance(obj, dict):
        return {(str(k)[1:] if str(k).startswith(":") else str(k)): _strip_keys(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_strip_keys(v) for v in obj]
    return obj


def parse_metadata(text: str) -> dict[str, dict]:
    """Gradescope's submission_metadata.yml -> {folder name: info}, keys without their leading ':'."""
    data = yaml.load(text, Loader=_MetaLoader)
    data = _strip_keys(data) if data else {}
    if not isinstance(data, dict):
        raise ValueError("expected a mapping of submission folders")
    return {k: (v if isinstance(v, dict) else {}) for k, v in data.items()}


def _submitters(info: dict) -> tuple[list[str], list[str], list[str]]:
    subs = info.get("submitters") or []
    if isinstance(subs, dict):
        subs = [subs]
    names, emails, sids = [], [], []
    for s in subs:
        if not isinstance(s, dict):
            continue
        names.append("" if s.get("name") is None else str(s["name"]))
        emails.append("" if s.get("email") is None else str(s["email"]))
        sids.append("" if s.get("sid") is None else str(s["sid"]))
    return names, emails, sids


def submission_id(folder: str) -> str:
    m = re.fullmatch(r"submission_(\d+)", folder)
    sid = m.group(1) if m else folder
    return re.sub(r"[^A-Za-z0-9_.-]", "_", sid).lstrip(".") or "_"


def _id_key(sid: str):
    return (0, int(sid), "") if sid.isdigit() else (1, 0, sid)


def _safe_extract_export(zpath: Path, dest: Path) -> None:
    try:
        zf = zipfile.ZipFile(zpath)
    except (zipfile.BadZipFile, OSError) as exc:
        raise BatchError(f"{zpath} is not a readable zip file ({exc})") from None
    with zf:
        for info in zf.infolist():
            name = PurePosixPath(info.filename.replace("\\", "/"))
            if name.is_absolute() or ".." in name.parts or not name.parts or name.parts[0] in IGNORED:
                continue
            target = dest.joinpath(*name.parts)
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)  # keeps a submission folder even when all is skipped
            if (info.external_attr >> 16) & 0o170000 == 0o120000:
                continue  # a symbolic link: never follow links out of the export
            if name.suffix.lower() in SKIP_EXTRACT_SUFFIXES:
                continue
            try:
                with zf.open(info) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out)
            except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError) as exc:
                # a damaged member costs only its submission (it will look unreadable or incomplete)
                print(f"warning: could not extract {info.filename} ({exc})", file=sys.stderr)
                target.unlink(missing_ok=True)


def _export_root(path: Path) -> Path:
    def has_meta(p):
        return any((p / n).is_file() for n in METADATA_NAMES)

    def has_subs(p):
        return any(c.is_dir() and c.name.startswith("submission_") for c in p.iterdir())

    if has_meta(path):
        return path
    kids = [c for c in sorted(path.iterdir()) if c.is_dir() and c.name not in IGNORED and not c.name.startswith(".")]
    with_meta = [c for c in kids if has_meta(c)]
    if len(with_meta) == 1:
        return with_meta[0]
    if has_subs(path):
        return path
    if len(kids) == 1 and has_subs(kids[0]):
        return kids[0]
    return path


def load_export(path: Path) -> tuple[Path, list[Submission], list[str]]:
    """(export root, submissions sorted by id, warnings)."""
    warnings = []
    root = _export_root(path)
    meta: dict[str, dict] = {}
    meta_file = next((root / n for n in METADATA_NAMES if (root / n).is_file()), None)
    if meta_file is None:
        warnings.append(f"no submission_metadata.yml in {root}: grading every folder, without names")
    else:
        try:
            meta = parse_metadata(meta_file.read_text(encoding="utf-8", errors="replace"))
        except (yaml.YAMLError, ValueError) as exc:
            warnings.append(f"{meta_file.name} could not be parsed ({exc}): grading every folder, without names")
    folders = {c.name for c in root.iterdir()
               if c.is_dir() and c.name not in IGNORED and not c.name.startswith(".")}
    if not folders and not meta:
        raise BatchError(f"{path} holds no submission folders; pass the folder or zip that Gradescope's "
                         "\"Export Submissions\" gives (submission_metadata.yml and submission_<id>/ folders)")
    subs, seen = [], {}
    for folder in sorted(folders | set(meta)):
        sid = submission_id(folder)
        if sid in seen:
            warnings.append(f"{folder} and {seen[sid]} have the same id {sid}; {folder} is left out")
            continue
        seen[sid] = folder
        s = Submission(sid, folder, root / folder, in_metadata=folder in meta)
        if folder in meta:
            s.names, s.emails, s.sids = _submitters(meta[folder])
        elif meta:
            warnings.append(f"{folder} is not in {meta_file.name}: graded without names")
        subs.append(s)
    subs.sort(key=lambda s: _id_key(s.id))
    return root, subs, warnings


# ----------------------------------------------------------------------------- per submission
def unreadable_reason(path: Path) -> str | None:
    """Why nothing at all can be graded from this upload, or None (the grader then decides the rest)."""
    if not path.exists():
        return "the submission's folder is missing from the export"
    if path.is_file():
        if path.suffix.lower() == ".zip" and not zipfile.is_zipfile(path):
            return f"{path.name} is not a readable zip file"
        return None
    errors, sources, zips = [], [], []
    try:
        os.listdir(path)
    except OSError as exc:
        return f"the folder could not be read ({exc.strerror})"
    for dirpath, dirnames, filenames in os.walk(path, onerror=errors.append):
        dirnames[:] = [d for d in dirnames if d not in IGNORED]
        for fn in filenames:
            low = fn.lower()
            if not is_regular(Path(dirpath) / fn):
                continue
            if low.endswith((".py", ".ipynb")):
                sources.append(fn)
            elif low.endswith(".zip"):
                zips.append(Path(dirpath) / fn)
    if sources:
        return None
    if zips:
        bad = []
        for z in zips:
            try:
                with zipfile.ZipFile(z) as zf:
                    zf.infolist()
            except (zipfile.BadZipFile, OSError, ValueError):
                bad.append(z)
        if len(bad) == len(zips):
            names = ", ".join(z.name for z in bad[:3])
            return f"the upload holds only zip file(s) that cannot be opened ({names})"
        return None
    if errors:
        return f"the folder could not be read ({errors[0].strerror})"
    return None


def content_sha256(path: Path) -> str:
    """Fingerprint of what the grader can read from a submission (its .py, .ipynb and .zip files)."""
    h = hashlib.sha256()
    if path.is_file():
        h.update(sha256_file(path).encode())
    elif path.is_dir():
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames.sort()
            for fn in sorted(filenames):
                if fn.lower().endswith(SOURCE_SUFFIXES):
                    p = Path(dirpath) / fn
                    h.update(p.relative_to(path).as_posix().encode() + b"\0" + sha256_file(p).encode() + b"\n")
    return h.hexdigest()


def code_sha256() -> str:
    """The grading code itself (grader/, the template's provided modules).  Recorded in each stamp; --resume
    warns when it differs (a check was changed without raising grader.__version__) but keeps the grade."""
    h = hashlib.sha256()
    for base in (ROOT / "grader", ROOT / "student_template"):
        for p in sorted(base.rglob("*")):
            if p.is_file() and p.suffix in (".py", ".yaml", ".yml") and "__pycache__" not in p.parts:
                h.update(p.relative_to(ROOT).as_posix().encode() + b"\0" + sha256_file(p).encode() + b"\n")
    return h.hexdigest()


@dataclass
class Outcome:
    id: str
    status: str
    seconds: float = 0.0
    message: str = ""
    skipped: bool = False


def _proc_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, start time) for every process /proc shows (empty where there is no /proc)."""
    table: dict[int, tuple[int, str]] = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return table
    for entry in entries:
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                table[int(entry)] = (int(fields[1]), fields[19])
            except (OSError, IndexError, ValueError):
                continue
    return table


def _descendants(pid: int, table: dict | None = None) -> dict[int, str]:
    """{pid: start time} of every descendant of ``pid``."""
    table = _proc_table() if table is None else table
    kids: dict[int, list[int]] = {}
    for p, (ppid, _) in table.items():
        kids.setdefault(ppid, []).append(p)
    out, todo = {}, list(kids.get(pid, []))
    while todo:
        p = todo.pop()
        if p not in out:
            out[p] = table[p][1]
            todo += kids.get(p, [])
    return out


def kill_tree(proc: subprocess.Popen, grace: float = GRACE_S) -> None:
    """Stop a grading subprocess and everything it started.

    First SIGINT, so the grader stops its sandboxed worker (whose children run
    in their own sessions) and removes its temporary folders; then SIGKILL for
    what is left of the tree: the process group plus every descendant seen in
    /proc (before or after the SIGINT), frozen first so none can fork away.
    """
    tree = _descendants(proc.pid)
    if proc.poll() is None:
        try:
            os.kill(proc.pid, signal.SIGINT)
            proc.wait(timeout=grace)
        except (OSError, subprocess.TimeoutExpired):
            pass
    for _ in range(4):  # freeze, then look again for processes forked meanwhile
        table = _proc_table()
        live = {p: st for p, st in tree.items() if p in table and table[p][1] == st}  # same pid, same process
        if proc.poll() is None:
            live[proc.pid] = table.get(proc.pid, (0, ""))[1]
        for p in live:
            try:
                os.kill(p, signal.SIGSTOP)
            except OSError:
                pass
        more = {}
        table = _proc_table()
        for p in live:
            more.update(_descendants(p, table))
        tree = {**live, **more}
        if not set(more) - set(live):
            break
    for p in tree:
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except OSError:
        pass
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        pass


class Runner:
    """Grades submissions in subprocesses; thread-safe; ``stop()`` kills what runs."""

    def __init__(self, rub, out: Path, stamp: dict, timeout: float, extra_args: list[str] | None = None):
        self.rub, self.out, self.stamp, self.timeout = rub, out, stamp, timeout
        self.extra_args = extra_args or []
        self.running: dict[str, subprocess.Popen] = {}
        self.other_code: list[str] = []   # skipped by --resume although graded by other grader code
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.env = dict(os.environ)
        self.env["PYTHONPATH"] = str(ROOT) + (os.pathsep + self.env["PYTHONPATH"] if self.env.get("PYTHONPATH") else "")
        for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
            self.env.setdefault(var, "1")  # -j N submissions at once: one thread each

    def dir_for(self, sub: Submission) -> Path:
        return self.out / "results" / sub.id

    def stamp_for(self, sub: Submission) -> dict:
        return dict(self.stamp, submission=sub.folder, content_sha256=content_sha256(sub.path))

    def is_current(self, sub: Submission) -> str | None:
        """The recorded status when this submission was already graded with the same grader, rubric and fixtures."""
        d = self.dir_for(sub)
        try:
            old = json.loads((d / "stamp.json").read_text())
        except (OSError, ValueError):
            return None
        if not (d / "results.json").is_file() or old.get("status") not in DONE_STATUSES:
            return None
        want = self.stamp_for(sub)
        if any(old.get(k) != v for k, v in want.items() if k not in ADVISORY_STAMP_KEYS):
            return None
        if old.get("code_sha256") != want.get("code_sha256"):
            self.other_code.append(sub.id)
        return old["status"]

    def grade(self, sub: Submission) -> Outcome:
        try:
            return self._grade(sub)
        except Exception as exc:  # the batch's own trouble (disk full, no more processes...) costs one submission
            return Outcome(sub.id, "grader_error", 0.0, f"the batch could not grade it: {type(exc).__name__}: {exc}")

    def _grade(self, sub: Submission) -> Outcome:
        d = self.dir_for(sub)
        d.mkdir(parents=True, exist_ok=True)
        results, stamp_path, log = d / "results.json", d / "stamp.json", d / "grade.log"
        for p in (results, stamp_path):
            p.unlink(missing_ok=True)  # a crash must never leave an older run's results looking current
        t0 = time.monotonic()
        reason = unreadable_reason(sub.path)
        if reason is not None:
            from grader.engine.results import write_results, zero_results
            write_results(zero_results(self.rub, f"Your submission could not be read: {reason}. "
                                                  "Ask the course staff to look at your upload."), results)
            log.write_text(f"not graded: {reason}\n")
            oc = Outcome(sub.id, "unreadable", time.monotonic() - t0, reason)
        elif self.stopping.is_set():
            return Outcome(sub.id, "interrupted")
        else:
            oc = self._run(sub, results, log, t0)
        if oc.status == "interrupted":
            results.unlink(missing_ok=True)
            return oc
        stamp = dict(self.stamp_for(sub), status=oc.status, seconds=round(oc.seconds, 2), message=oc.message,
                     graded_at=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
        tmp = stamp_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(stamp, indent=1))
        os.replace(tmp, stamp_path)
        return oc

    def _run(self, sub: Submission, results: Path, log: Path, t0: float) -> Outcome:
        cmd = [sys.executable, "-m", "grader", "grade", str(sub.path.resolve()), "--results", str(results.resolve()),
               "--rubric", str(Path(self.rub.path).resolve()), "--quiet"] + self.extra_args
        with open(log, "wb") as logf:
            proc = subprocess.Popen(cmd, cwd=str(ROOT), env=self.env, stdin=subprocess.DEVNULL, stdout=logf,
                                    stderr=subprocess.STDOUT, start_new_session=True)
            with self.lock:
                self.running[sub.id] = proc
            try:
                if self.stopping.is_set():  # stop() may have looked at self.running just before
                    kill_tree(proc, grace=1)
                rc = proc.wait(timeout=self.timeout)
            except subprocess.TimeoutExpired:
                rc = None
                kill_tree(proc)
            finally:
                with self.lock:
                    self.running.pop(sub.id, None)
        secs = time.monotonic() - t0
        if self.stopping.is_set() and rc != 0:
            return Outcome(sub.id, "interrupted", secs)
        if rc is None:
            results.unlink(missing_ok=True)  # whatever it wrote while being stopped is not a grade
            with open(log, "a") as logf:
                logf.write(f"\n[batch] killed after {self.timeout:g} s (per-submission time limit)\n")
            return Outcome(sub.id, "timeout", secs, f"grading did not finish within {self.timeout:g} s")
        try:
            data = json.loads(results.read_text())
            ok_json = isinstance(data, dict) and isinstance(data.get("tests"), list)
        except (OSError, ValueError):
            ok_json = False
        if rc == 0 and ok_json:
            return Outcome(sub.id, "ok", secs)
        if not ok_json:
            results.unlink(missing_ok=True)
        why = f"the grader exited with status {rc}" if rc >= 0 else f"the grader was killed by signal {-rc}"
        if rc == 0:
            why = "the grader wrote no valid results.json"
        return Outcome(sub.id, "grader_error", secs, f"{why}; see {log.relative_to(self.out)}")

    def stop(self):
        self.stopping.set()
        with self.lock:
            procs = list(self.running.values())
        for p in procs:
            kill_tree(p, grace=1)


# ----------------------------------------------------------------------------- progress
def _hms(s: float) -> str:
    s = int(round(max(s, 0)))
    return f"{s // 3600}:{s % 3600 // 60:02d}:{s % 60:02d}" if s >= 3600 else f"{s // 60}:{s % 60:02d}"


class Progress:
    """A one-line progress bar on stderr (done/total, percent, elapsed, ETA); only a final line when not a TTY."""

    def __init__(self, total: int, to_grade: int, stream=None, tty: bool | None = None, width: int = 24):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.total, self.to_grade, self.width = total, to_grade, width
        self.done = total - to_grade   # submissions skipped by --resume count as done
        self.graded = 0
        self.t0 = time.monotonic()
        self.t_last = self.t0   # when the last submission finished
        self.last = ""
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = None

    def start(self):
        if self.tty:
            self._draw()
            self._thread = threading.Thread(target=self._tick, daemon=True)
            self._thread.start()

    def _tick(self):
        while not self._stop.wait(1.0):
            self._draw()

    def line(self, now: float | None = None) -> str:
        el = (time.monotonic() if now is None else now) - self.t0
        frac = self.done / self.total if self.total else 1.0
        fill = int(round(frac * self.width))
        left = self.to_grade - self.graded
        eta = "--:--"
        if self.graded:  # mean time per submission so far (-j N at once), counting down between completions
            at_last = self.t_last - self.t0
            eta = _hms(max(at_last / self.graded * left - (el - at_last), 0.0))
        return (f"[{'#' * fill}{'.' * (self.width - fill)}] {self.done}/{self.total} {frac * 100:3.0f}%  "
                f"elapsed {_hms(el)}  ETA {eta}" + (f"  {self.last}" if self.last else ""))

    def _draw(self):
        with self._lock:
            text = self.line()
            cols = shutil.get_terminal_size((100, 20)).columns
            self.stream.write("\r" + text[: cols - 1].ljust(cols - 1))
            self.stream.flush()

    def update(self, oc: Outcome):
        with self._lock:
            self.done += 1
            self.graded += 1
            self.t_last = time.monotonic()
            self.last = f"{oc.id}: {oc.status}"
        if self.tty:
            self._draw()

    def finish(self, text: str):
        self._stop.set()
        if self._thread:
            self._thread.join()
        if self.tty:
            self._draw()
            self.stream.write("\n")
        self.stream.write(text + "\n")
        self.stream.flush()


# ----------------------------------------------------------------------------- scores.csv / summary
def fmt(x) -> str:
    if x is None or x == "":
        return ""
    x = round(float(x), 4)
    return f"{x:.4f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))


def _num(s: str):
    try:
        return float(s) if s not in (None, "") else None
    except ValueError:
        return None


def columns(rub) -> tuple[list[str], list[str]]:
    return [q.id for q in rub.questions], [e.name for e in rub.entries()]


def score_rows(rub, subs: list[Submission], statuses: dict[str, str], out: Path) -> tuple[list[str], list[dict]]:
    qcols, tcols = columns(rub)
    question_of = {e.name: e.question for e in rub.entries()}
    header = list(META_COLUMNS) + qcols + tcols + list(END_COLUMNS)
    rows = []
    for s in subs:
        row = {"submission_id": s.id, "names": "; ".join(s.names), "emails": "; ".join(s.emails),
               "sids": "; ".join(s.sids), "status": statuses.get(s.id, "")}
        res = None
        if row["status"] in ("ok", "unreadable", "grader_error"):
            try:
                res = json.loads((out / "results" / s.id / "results.json").read_text())
            except (OSError, ValueError):
                res = None
        if res is not None:
            by_name = {t.get("name"): t for t in res.get("tests", [])}
            qsum = {}
            for name in tcols:
                t = by_name.get(name)
                if t is not None:
                    row[name] = fmt(t.get("score", 0))
                    qsum[question_of[name]] = qsum.get(question_of[name], 0.0) + float(t.get("score", 0))
            for q in qcols:
                row[q] = fmt(qsum[q]) if q in qsum else ""
            row["total"] = fmt(res.get("score", 0))
        rows.append(row)
    return header, rows


def write_csv(path: Path, header: list[str], rows: list[dict]) -> None:
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=header, extrasaction="ignore", restval="")
        w.writeheader()
        w.writerows(rows)
    os.replace(tmp, path)


def read_csv(path: Path) -> tuple[list[str], dict[str, dict]]:
    with open(path, newline="", encoding="utf-8-sig") as f:
        r = csv.DictReader(f)
        header = list(r.fieldnames or [])
        if "submission_id" not in header:
            raise BatchError(f"{path} has no submission_id column; pass a scores.csv written by "
                             "`python -m grader batch`")
        return header, {row["submission_id"]: row for row in r}


BUCKETS = ((0.0, 0.0, "0%"), (0.0, 0.2, "<20%"), (0.2, 0.4, "20-39%"), (0.4, 0.6, "40-59%"),
           (0.6, 0.8, "60-79%"), (0.8, 1.0, "80-99%"), (1.0, 1.0, "100%"))


def _bucket(frac: float) -> str:
    if frac <= 1e-9:
        return "0%"
    if frac >= 1 - 1e-9:
        return "100%"
    for lo, hi, label in BUCKETS[1:-1]:
        if lo <= frac < hi:
            return label
    return "100%"


def _stats_block(label: str, values: list[float], max_pts: float) -> list[str]:
    if not values:
        return [f"{label} (of {fmt(max_pts)}): no scores"]
    lines = [f"{label} (of {fmt(max_pts)}): mean {statistics.mean(values):.2f}  median {fmt(statistics.median(values))}"
             f"  min {fmt(min(values))}  max {fmt(max(values))}  (n={len(values)})"]
    counts = {b[2]: 0 for b in BUCKETS}
    for v in values:
        counts[_bucket(v / max_pts if max_pts else 0.0)] += 1
    top = max(counts.values()) or 1
    for lab, c in counts.items():
        lines.append(f"    {lab:>7} {'#' * math.ceil(30 * c / top) if c else '':<30} {c}")
    return lines


def summary_text(rub, rows: list[dict], outcomes: dict[str, Outcome], info: dict) -> str:
    qcols, tcols = columns(rub)
    max_of = {e.name: e.points for e in rub.entries()}
    qmax = {q.id: q.points for q in rub.questions}
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    scored = [r for r in rows if r.get("total", "") != ""]
    lines = [f"Batch regrade of {info['export']}",
             f"grader {grader.__version__}, rubric {rub.name} ({info['rubric_sha256'][:12]}), "
             f"fixtures manifest {info['fixtures_sha256'][:12] or 'none'}",
             f"{len(rows)} submissions: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())),
             f"wall time {info['wall_s']:.1f} s with -j {info['jobs']}: {info['graded']} graded"
             + (f" ({info['wall_s'] / info['graded']:.2f} s per submission)" if info["graded"] else "")
             + (f", {info['skipped']} already graded (--resume)" if info["skipped"] else ""),
             ""]
    max_total = sum(q.points for q in rub.questions)
    lines += _stats_block("total", [float(r["total"]) for r in scored], max_total)
    for q in qcols:
        lines += _stats_block(q, [float(r[q]) for r in scored if r.get(q, "") != ""], qmax[q])
    fails = []
    for t in tcols:
        vals = [float(r[t]) for r in scored if r.get(t, "") != ""]
        lost = [v for v in vals if v < max_of[t] - 1e-9]
        if lost:
            fails.append((len(lost), t, len(vals), statistics.mean(vals)))
    fails.sort(key=lambda f: (-f[0], f[1]))
    lines += ["", f"Most failed tests (submissions that lost points on it, of {len(scored)} scored):"]
    if not fails:
        lines.append("    none")
    for i, (n, t, m, mean) in enumerate(fails[:10], 1):
        lines.append(f"  {i:2d}. {t:<48} {n:4d}/{m} ({100 * n / m:.0f}%)  mean {mean:.2f}/{fmt(max_of[t])}")
    look = [(r["submission_id"], r["status"], r.get("names", "")) for r in rows if r["status"] != "ok"]
    if look:
        lines += ["", "Submissions that need a look (not graded normally):"]
        for sid, st, names in look:
            oc = outcomes.get(sid)
            msg = oc.message if oc else ""
            lines.append(f"  {sid:<12} {st:<12} {names[:30]:<30} {msg}")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- --diff
def diff_scores(old_header: list[str], old: dict[str, dict], new_header: list[str],
                new: dict[str, dict]) -> list[dict]:
    """Rows for diff.csv: every submission whose total, status or any test score changed; new and removed ones."""
    skip = set(META_COLUMNS) | set(END_COLUMNS)
    qpat = re.compile(r"Q\d+[a-z]?$")
    tests = [c for c in new_header if c not in skip and not qpat.match(c)]
    tests += [c for c in old_header if c not in skip and not qpat.match(c) and c not in tests]
    out = []

    def same(a, b):
        x, y = _num(a), _num(b)
        if x is None or y is None:
            return (a or "") == (b or "")
        return abs(x - y) <= 1e-6

    for sid in sorted(set(old) | set(new), key=_id_key):
        o, n = old.get(sid), new.get(sid)
        base = {"submission_id": sid, "names": (n or o).get("names", "")}
        if o is None:
            out.append(dict(base, change="new", old_total="", new_total=n.get("total", ""), delta="",
                            old_status="", new_status=n.get("status", ""), tests=""))
            continue
        if n is None:
            out.append(dict(base, change="removed", old_total=o.get("total", ""), new_total="", delta="",
                            old_status=o.get("status", ""), new_status="", tests=""))
            continue
        changed = [f"{t}: {fmt(o.get(t)) if _num(o.get(t)) is not None else (o.get(t) or '-')} -> "
                   f"{fmt(n.get(t)) if _num(n.get(t)) is not None else (n.get(t) or '-')}"
                   for t in tests if not same(o.get(t), n.get(t))]
        tot_changed = not same(o.get("total"), n.get("total"))
        st_changed = (o.get("status") or "") != (n.get("status") or "")
        if changed or tot_changed or st_changed:
            a, b = _num(o.get("total")), _num(n.get("total"))
            out.append(dict(base, change="changed", old_total=o.get("total", ""), new_total=n.get("total", ""),
                            delta=(("+" if b - a > 0 else "") + fmt(b - a)) if a is not None and b is not None else "",
                            old_status=o.get("status", ""), new_status=n.get("status", ""), tests="; ".join(changed)))
    return out


DIFF_COLUMNS = ["submission_id", "names", "change", "old_total", "new_total", "delta", "old_status", "new_status",
                "tests"]


def diff_text(rows: list[dict], previous: str, n_same: int) -> str:
    by = {k: [r for r in rows if r["change"] == k] for k in ("changed", "new", "removed")}
    lines = [f"Compared with {previous}: {len(by['changed'])} changed, {len(by['new'])} new, "
             f"{len(by['removed'])} removed, {n_same} unchanged."]
    if by["changed"]:
        lines.append("changed:")
        for r in by["changed"]:
            st = f"  [{r['old_status']} -> {r['new_status']}]" if r["old_status"] != r["new_status"] else ""
            tot = f"{r['old_total'] or '-'} -> {r['new_total'] or '-'}" + (f" ({r['delta']})" if r["delta"] else "")
            lines.append(f"  {r['submission_id']:<12} {r['names'][:30]:<30} total {tot}{st}")
            for t in filter(None, r["tests"].split("; ")):
                lines.append(f"      {t}")
    for kind in ("new", "removed"):
        if by[kind]:
            lines.append(f"{kind}:")
            for r in by[kind]:
                tot = r["new_total"] if kind == "new" else r["old_total"]
                st = r["new_status"] if kind == "new" else r["old_status"]
                lines.append(f"  {r['submission_id']:<12} {r['names'][:30]:<30} total {tot or '-'} ({st})")
    return "\n".join(lines) + "\n"


# ----------------------------------------------------------------------------- main
def run_batch(export: Path, out: Path, rub, jobs: int = 1, resume: bool = False, diff: Path | None = None,
              timeout: float | None = None, fixtures: Path = FIXTURES, progress_stream=None, tty: bool | None = None,
              log=print) -> int:
    t_start = time.monotonic()
    out.mkdir(parents=True, exist_ok=True)
    old = None
    if diff is not None:  # read it first: --out may be where the previous scores.csv lives
        if not diff.is_file():
            raise BatchError(f"--diff {diff}: no such file (pass an earlier scores.csv)")
        old = read_csv(diff)
    if not export.exists():
        raise BatchError(f"{export} does not exist; pass the folder or zip from Gradescope's \"Export Submissions\"")
    tmp = None
    try:
        if export.is_file():
            tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=str(out)))
            _safe_extract_export(export, tmp)
            base = tmp
        else:
            base = export
        _root, subs, warnings = load_export(base)
        for w in warnings:
            print(f"warning: {w}", file=sys.stderr)
        manifest = fixtures / "manifest.yaml"
        info = {"export": str(export), "jobs": jobs, "rubric_sha256": sha256_file(Path(rub.path)),
                "fixtures_sha256": sha256_file(manifest) if manifest.is_file() else ""}
        stamp = {"grader_version": grader.__version__, "code_sha256": code_sha256(), "rubric": rub.name,
                 "rubric_sha256": info["rubric_sha256"], "fixtures_sha256": info["fixtures_sha256"]}
        if timeout is None:
            timeout = rub.time_budget_s + TIMEOUT_MARGIN_S
        extra = ["--fixtures", str(fixtures.resolve())] if fixtures.resolve() != FIXTURES.resolve() else []
        runner = Runner(rub, out, stamp, timeout, extra)
        outcomes: dict[str, Outcome] = {}
        todo = []
        for s in subs:
            st = runner.is_current(s) if resume else None
            if st is not None:
                outcomes[s.id] = Outcome(s.id, st, skipped=True)
            else:
                todo.append(s)
        if runner.other_code:
            print(f"warning: --resume keeps {len(runner.other_code)} submission(s) graded by other grader code "
                  f"with the same version {grader.__version__} (e.g. {runner.other_code[0]}); after fixing a check, "
                  "regrade without --resume (into another --out, with --diff) or raise grader.__version__",
                  file=sys.stderr)
        prog = Progress(len(subs), len(todo), stream=progress_stream, tty=tty)
        prog.start()
        interrupted = False
        old_term = None
        if threading.current_thread() is threading.main_thread():  # SIGTERM too: stop the gradings, keep what finished
            def _term(signum, frame):
                raise KeyboardInterrupt
            old_term = signal.signal(signal.SIGTERM, _term)
        pool = ThreadPoolExecutor(max_workers=max(1, jobs))
        futures = []
        try:
            futures = [pool.submit(runner.grade, s) for s in todo]
            for fut in _as_completed(futures):
                oc = fut.result()
                outcomes[oc.id] = oc
                if oc.status != "interrupted":
                    prog.update(oc)
        except KeyboardInterrupt:
            interrupted = True
            runner.stop()
            for f in futures:
                f.cancel()
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            if old_term is not None:
                signal.signal(signal.SIGTERM, old_term)
        for f in futures:  # gradings that finished while the batch was being stopped still count
            if f.done() and not f.cancelled() and f.exception() is None and f.result().id not in outcomes:
                outcomes[f.result().id] = f.result()
        for s in todo:
            if s.id not in outcomes or outcomes[s.id].status == "interrupted":
                outcomes[s.id] = Outcome(s.id, "interrupted")
        wall = time.monotonic() - t_start
        graded = [o for o in outcomes.values() if not o.skipped and o.status != "interrupted"]
        info.update(wall_s=wall, graded=len(graded), skipped=sum(o.skipped for o in outcomes.values()))
        statuses = {k: o.status for k, o in outcomes.items()}
        header, rows = score_rows(rub, subs, statuses, out)
        write_csv(out / "scores.csv", header, rows)
        summary = summary_text(rub, rows, outcomes, info)
        (out / "summary.txt").write_text(summary, encoding="utf-8")
        counts: dict[str, int] = {}
        for o in outcomes.values():
            counts[o.status] = counts.get(o.status, 0) + 1
        prog.finish(f"batch: {len(subs)} submissions in {_hms(wall)} ({len(graded)} graded, "
                    f"{info['skipped']} skipped): " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        log(summary.rstrip("\n"))
        if old is not None:
            new = {r["submission_id"]: r for r in rows}
            drows = diff_scores(old[0], old[1], header, new)
            n_same = len(set(old[1]) & set(new)) - sum(r["change"] == "changed" for r in drows)
            write_csv(out / "diff.csv", DIFF_COLUMNS, drows)
            text = diff_text(drows, str(diff), n_same)
            (out / "diff.txt").write_text(text, encoding="utf-8")
            log("")
            log(text.rstrip("\n"))
        log(f"\nwritten: {out / 'scores.csv'}, {out / 'summary.txt'}"
            + (f", {out / 'diff.csv'}, {out / 'diff.txt'}" if old is not None else "")
            + f", per-submission results under {out / 'results'}/")
        if interrupted:
            print("interrupted: what finished is written; run again with --resume to go on", file=sys.stderr)
            return 130
        bad = [o for o in outcomes.values() if o.status in ("timeout", "grader_error")]
        return 1 if bad else 0
    finally:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _as_completed(futures):
    """concurrent.futures.as_completed, but waking up regularly so Ctrl-C is seen at once."""
    from concurrent.futures import FIRST_COMPLETED, wait
    pending = set(futures)
    while pending:
        done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
        yield from done


def main(args) -> int:
    try:
        rub = rubric_mod.load(args.rubric)
    except rubric_mod.RubricError as exc:
        print(f"python -m grader batch: {exc}", file=sys.stderr)
        return 2
    timeout = getattr(args, "timeout", None) or os.environ.get("AUTOGRADER_BATCH_TIMEOUT") or None
    try:
        timeout = float(timeout) if timeout is not None else None
        if timeout is not None and timeout <= 0:
            raise ValueError
    except ValueError:
        print(f"python -m grader batch: the per-submission time limit must be a positive number of seconds, "
              f"not {timeout!r}", file=sys.stderr)
        return 2
    fixtures = Path(args.fixtures) if getattr(args, "fixtures", None) else FIXTURES
    try:
        return run_batch(Path(args.export), Path(args.out), rub, jobs=max(1, args.jobs or 1), resume=args.resume,
                         diff=Path(args.diff) if args.diff else None, timeout=timeout, fixtures=fixtures)
    except BatchError as exc:
        print(f"python -m grader batch: {exc}", file=sys.stderr)
        return 2
