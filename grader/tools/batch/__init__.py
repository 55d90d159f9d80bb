"""``python -m grader batch EXPORT``: regrade a whole Gradescope export.

EXPORT is the folder, or the zip of it, that Gradescope's *Assignment → Review
Grades → Export Submissions* gives: ``submission_metadata.yml`` and one folder
per submission (``submission_123456789/``).  Anything else is refused at once
(exit 2) before anything is graded or written; ``--no-metadata`` grades every
sub-folder of a folder that has no metadata, without names.  Every submission
is graded by the same engine as ``python -m grader grade``, each in its own
subprocess, ``-j N`` at a time on this machine, or as tasks on Dask workers
with ``--scheduler tcp://HOST:8786`` (``cluster.py``).

OUT (``--out``; default: ``<export>_regrade/`` next to the export) receives::

    batch.json                  marks the folder as a batch's (grader version, rubric, export)
    results/<id>/results.json   Gradescope results of that submission
    results/<id>/stamp.json     status, grader version, rubric and fixtures hashes (for --resume)
    results/<id>/grade.log      what the grading subprocess printed
    scores.csv                  submission_id, names, emails, sids, Q1.., every test, total, status
    summary.txt                 per-question statistics, histograms, most failed tests
    diff.csv, diff.txt          with --diff PREVIOUS (an earlier scores.csv)

An existing OUT must be a previous batch's folder (or empty); ``--resume``
needs one, and skips a submission whose stamp shows it was graded (ok or
unreadable) by the same grader.__version__, rubric file (sha256), fixtures
manifest (sha256) and the same uploaded files; timeouts and grader errors are
graded again.  scores.csv and diff.csv hold exact scores (as results.json);
what is shown to people (summary, diff.txt) has at most 2 decimals.

Parts: ``export`` (reading and refusing exports), ``runner`` (one submission
in a subprocess), ``cluster`` (the same on Dask), ``progress``, ``scores``
(scores.csv, summary), ``diff``.

Exit status: 0 when every submission was graded (ok or unreadable), 1 when the
batch finished but some submissions hit a grader error or the time limit (they
are listed in summary.txt; rerun with --resume to retry only those), 2 for a
usage error, 130 when interrupted (what finished is written; --resume goes on).
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import tempfile
import threading
import time
from concurrent.futures import FIRST_COMPLETED, ThreadPoolExecutor, wait
from pathlib import Path

import grader
from grader.engine import rubric as rubric_mod
from grader.engine.files import atomic_write, sha256_file
from grader.paths import FIXTURES
from grader.tools.batch.diff import DIFF_COLUMNS, diff_scores, diff_text
from grader.tools.batch.export import (BatchError, Submission, extract_export, load_export, parse_metadata,
                                       submitters, validate_export)
from grader.tools.batch.progress import Progress, hms
from grader.tools.batch.runner import TIMEOUT_MARGIN_S, Outcome, Runner, code_sha256
from grader.tools.batch.scores import fmt, read_csv, score_rows, shown, summary_text, write_csv

__all__ = ["main", "run_batch", "BatchError", "Submission", "Outcome", "Progress", "load_export",
           "parse_metadata", "submitters", "diff_scores", "diff_text", "fmt", "shown", "default_out"]

MARKER = "batch.json"


# ----------------------------------------------------------------------------- --out
def default_out(export: Path) -> Path:
    """``<export>_regrade`` next to the export (``x.zip`` -> ``x_regrade``)."""
    export = Path(os.path.abspath(export))
    stem = export.name[:-4] if export.name.lower().endswith(".zip") else export.name
    return export.parent / f"{stem}_regrade"


def is_batch_folder(path: Path) -> bool:
    return (path / MARKER).is_file() or ((path / "scores.csv").is_file() and (path / "results").is_dir())


def validate_out(out: Path, export: Path, resume: bool) -> None:
    """Refuse (BatchError) an --out that the batch must not write into."""
    if os.path.lexists(out) and not out.is_dir():
        raise BatchError(f"--out {out} is a file, not a folder; pass a new folder (it is created) or the folder "
                         "of a previous batch")
    if resume:
        if not out.is_dir() or not is_batch_folder(out):
            raise BatchError(f"--resume: {out} is not the folder of a previous batch (it has no {MARKER}, or "
                             "scores.csv and results/); pass the --out of the batch to continue, or leave out "
                             "--resume to start a new one")
    elif out.is_dir() and any(out.iterdir()) and not is_batch_folder(out):
        raise BatchError(f"--out {out} already holds other files; pass a new or empty folder, or the folder of a "
                         "previous batch (to regrade into it)")
    if export.is_dir():
        e, o = export.resolve(), out.resolve()
        if o == e or e in o.parents:
            raise BatchError(f"--out {out} is inside the export {export}; pass a folder outside it (the default "
                             f"is {default_out(export)})")


# ----------------------------------------------------------------------------- the batch
def _as_completed(futures):
    """concurrent.futures.as_completed, but waking up regularly so Ctrl-C is seen at once."""
    pending = set(futures)
    while pending:
        done, pending = wait(pending, timeout=0.5, return_when=FIRST_COMPLETED)
        yield from done


def run_batch(export: Path, out: Path | None, rub, jobs: int = 1, resume: bool = False, diff: Path | None = None,
              timeout: float | None = None, fixtures: Path = FIXTURES, progress_stream=None, tty: bool | None = None,
              log=print, no_metadata: bool = False, scheduler: str | None = None) -> int:
    t_start = time.monotonic()
    export = Path(export)
    # ---- refuse what is wrong before anything is written
    validate_export(export, no_metadata)
    out = Path(out) if out is not None else default_out(export)
    validate_out(out, export, resume)
    old = read_csv(diff) if diff is not None else None   # read it first: --out may be where it lives
    if timeout is None:
        timeout = rub.time_budget_s + TIMEOUT_MARGIN_S
    manifest = fixtures / "manifest.yaml"
    info = {"export": str(export), "rubric_sha256": sha256_file(Path(rub.path)),
            "fixtures_sha256": sha256_file(manifest) if manifest.is_file() else ""}
    stamp = {"grader_version": grader.__version__, "code_sha256": code_sha256(), "rubric": rub.name,
             "rubric_sha256": info["rubric_sha256"], "fixtures_sha256": info["fixtures_sha256"]}
    if scheduler:
        from grader.tools.batch import cluster
        if fixtures.resolve() != FIXTURES.resolve():
            raise BatchError("--fixtures cannot be used with --scheduler (the workers grade with their own fixtures)")
        runner = cluster.DaskRunner(cluster.connect(scheduler), rub, out, stamp, timeout,
                                    cluster.fingerprint(fixtures))
    else:
        extra = ["--fixtures", str(fixtures.resolve())] if fixtures.resolve() != FIXTURES.resolve() else []
        runner = Runner(rub, out, stamp, timeout, extra)
        runner.jobs = jobs
    tmp = None
    try:
        try:
            out.mkdir(parents=True, exist_ok=True)
            atomic_write(out / MARKER, json.dumps({"grader_version": grader.__version__, "rubric": rub.name,
                                                   "rubric_sha256": info["rubric_sha256"], "export": str(export),
                                                   "started": time.strftime("%Y-%m-%dT%H:%M:%S%z")},
                                                  indent=1).encode())
        except OSError as exc:
            raise BatchError(f"--out {out}: cannot write there ({exc.strerror or exc}); pass a writable "
                             "folder") from None
        if export.is_file():
            tmp = Path(tempfile.mkdtemp(prefix=".export-", dir=str(out)))
            for w in extract_export(export, tmp):
                print(f"warning: {w}", file=sys.stderr)
            base = tmp
        else:
            base = export
        _root, subs, warnings = load_export(base, no_metadata)
        for w in warnings:
            print(f"warning: {w}", file=sys.stderr)
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
        info["where"] = runner.describe()
        prog = Progress(len(subs), len(todo), stream=progress_stream, tty=tty)
        prog.start()
        interrupted = False
        old_term = None
        if threading.current_thread() is threading.main_thread():  # SIGTERM too: stop the gradings, keep what finished
            def _term(signum, frame):
                raise KeyboardInterrupt
            old_term = signal.signal(signal.SIGTERM, _term)
        pool = ThreadPoolExecutor(max_workers=runner.parallelism(len(todo)))
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
        atomic_write(out / "summary.txt", summary.encode("utf-8"))
        counts: dict[str, int] = {}
        for o in outcomes.values():
            counts[o.status] = counts.get(o.status, 0) + 1
        prog.finish(f"batch: {len(subs)} submissions in {hms(wall)} ({len(graded)} graded, "
                    f"{info['skipped']} skipped): " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
        log(summary.rstrip("\n"))
        if old is not None:
            new = {r["submission_id"]: r for r in rows}
            drows = diff_scores(old[0], old[1], header, new)
            n_same = len(set(old[1]) & set(new)) - sum(r["change"] == "changed" for r in drows)
            write_csv(out / "diff.csv", DIFF_COLUMNS, drows)
            text = diff_text(drows, str(diff), n_same)
            atomic_write(out / "diff.txt", text.encode("utf-8"))
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
        runner.close()
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def main(args) -> int:
    prog = "python -m grader batch"
    try:
        rub = rubric_mod.load(args.rubric)
    except rubric_mod.RubricError as exc:
        print(f"{prog}: --rubric: {exc}", file=sys.stderr)
        return 2
    timeout = getattr(args, "timeout", None)
    if timeout is None:
        timeout = os.environ.get("AUTOGRADER_BATCH_TIMEOUT") or None
    try:
        timeout = float(timeout) if timeout is not None else None
        if timeout is not None and not timeout > 0:
            raise ValueError
    except ValueError:
        print(f"{prog}: the per-submission time limit (--timeout or $AUTOGRADER_BATCH_TIMEOUT) must be a positive "
              f"number of seconds, not {timeout!r}", file=sys.stderr)
        return 2
    scheduler = getattr(args, "scheduler", None)
    jobs = getattr(args, "jobs", None)
    if scheduler and jobs is not None:
        print(f"{prog}: -j is for grading on this machine; with --scheduler the Dask workers' threads decide how "
              "many submissions are graded at once (start them with `dask worker ADDRESS --nthreads 1`)",
              file=sys.stderr)
        return 2
    fixtures = Path(args.fixtures) if getattr(args, "fixtures", None) else FIXTURES
    try:
        return run_batch(Path(args.export), Path(args.out) if args.out else None, rub, jobs=jobs or 1,
                         resume=args.resume, diff=Path(args.diff) if args.diff else None, timeout=timeout,
                         fixtures=fixtures, no_metadata=getattr(args, "no_metadata", False), scheduler=scheduler)
    except BatchError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 2
