"""``python -m grader grade``: one submission in, results.json out.

submission -> staging -> sandboxed worker -> checks (pytest) -> scores ->
results.json.  Exit 0 whenever grading completed, whatever the score; 2 for a
usage error; 1 when the grader itself failed (a valid results.json that says
so is still written).
"""
from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from grader.engine import rubric as rubric_mod
from grader.engine import staging
from grader.engine.runconfig import RunConfig
from grader.course.years import required_modules
from grader.paths import CHECKS, FIXTURES, PACKAGE, ROOT, TEMPLATE
from grader.engine import tracks
from grader.questions import PYTORCH, QUESTIONS, TENSORFLOW
from grader.sandbox.client import TENSORFLOW as TF_ZYGOTE, Sandbox, isolation_for
from grader.engine.results import build_results, score_tests, table, validate, write_results, zero_results


PLACEHOLDER = ("The autograder did not finish grading this submission: the grading environment failed (for "
               "example its disk was full). This is not your fault; the course staff can see this run and will "
               "regrade it.")


def grade(submission: Path, rub, *, jobs: int = 1, user: str | None = None, fixtures: Path = FIXTURES,
          template: Path = TEMPLATE, checking: bool = False) -> tuple[dict, list[str]]:
    """Grade and return (results dict, internal error notes)."""
    t0 = time.time()
    try:
        report = staging.stage(submission, template, datasets=fixtures / "coco_synth")
    except staging.StagingError as exc:
        return zero_results(rub, f"Your submission could not be read: {exc}", time.time() - t0), []
    base = Path(report.stage_dir).parent
    run_dir = Path(tempfile.mkdtemp(prefix="ag-run-"))
    try:
        hidden_total = sum(1 for q in rub.questions if q.has_checks for e in q.entries if e.cases == "hidden")
        has_hidden = (fixtures / "hidden.h5").exists()
        if not has_hidden:  # the student pre-check bundle: hidden tests are not part of this run
            rub = rub.without_hidden()
        rub = rub.replace([q for q in rub.questions if q.has_checks])  # questions without checks are not listed
        specs = [QUESTIONS[q.id] for q in rub.questions if q.id in QUESTIONS]
        imported = {f: staged_imports(Path(report.stage_dir), f) for f, sf in report.files.items()
                    if sf.origin in ("file", "notebook")}
        # Q3/Q4's track (PyTorch or TensorFlow, grader/engine/tracks.py): a student who did both is graded twice
        plan = tracks.plan(report, rub)
        track_lines: list[str] = tracks.untracked_notes(report, rub, checking)
        internal: list[str] = []
        tf_missing = not tracks.tensorflow_installed() and any(TENSORFLOW in ts for ts in plan.values())
        if tf_missing:
            for qid, ts in list(plan.items()):
                if ts == [PYTORCH, TENSORFLOW]:  # the PyTorch version is graded; the TensorFlow one cannot be
                    plan[qid] = [PYTORCH]
                    internal.append(f"{qid}: the submission's TensorFlow version was not graded: tensorflow is not "
                                    "installed here (requirements-tensorflow.txt)")
            if checking:  # a student's own machine: skip those questions, saying what to install
                skipped = [qid for qid, ts in plan.items() if ts == [TENSORFLOW]]
                if skipped:
                    track_lines.append(f"NOTE: {', '.join(skipped)} skipped: your code for them is TensorFlow, and "
                                       f"this Python ({sys.executable}) has no tensorflow. To check them, install it "
                                       f"({sys.executable} -m pip install {tracks.TF_PACKAGE}) and run this again.")
                    rub = rub.replace([q for q in rub.questions if q.id not in skipped])
                    specs = [s for s in specs if s.id not in skipped]
                    for qid in skipped:
                        plan.pop(qid)
        runs = [{qid: ts[0] for qid, ts in plan.items()}]
        both = {qid: (ts[0], ts[1]) for qid, ts in plan.items() if len(ts) > 1}
        if both:
            runs.append({qid: ts[1] for qid, ts in both.items()})
        results_of_runs = []
        for i, run_tracks in enumerate(runs):
            sel = rub if i == 0 else rub.replace([q for q in rub.questions if q.id in run_tracks])
            run_specs = [s for s in specs if s.id in {q.id for q in sel.questions}]
            cfg = _run_config(report, sel, run_specs, run_tracks, imported, fixtures, t0, run_dir / f"outcomes{i}.json",
                              user, tf_missing)
            (run_dir / f"run{i}.json").write_text(cfg.to_json())
            if sel.questions:
                internal += _run_pytest(sorted({str(CHECKS / f"test_{q.module}.py") for q in sel.questions}),
                                        run_dir / f"run{i}.json", cfg, jobs)
            outcomes_path = Path(cfg.outcomes)
            outcomes = json.loads(outcomes_path.read_text()) if outcomes_path.exists() else {}
            run_tests, notes = score_tests(sel, outcomes)
            internal += notes
            results_of_runs.append(run_tests)
        tests = results_of_runs[0]
        if both:
            tests, merged_lines = tracks.merge(rub, tests, results_of_runs[1], both, report)
            track_lines += merged_lines
        for qid, ts in plan.items():
            if TENSORFLOW in rub.tracks and len(ts) == 1:
                shown = tracks.files_shown(report, qid, ts[0])
                track_lines.append(f"{qid}: graded as {tracks.label(report, qid, ts[0])}" + (f" ({shown})" if shown else ""))
        lines = [f"Graded with rubric {rub.name} ({rub.title})."] + track_lines
        graded_files = {f for s in specs for t in (plan.get(s.id) or [PYTORCH]) for f in s.track_files(t)}
        for name, sf in sorted(report.files.items()):
            if name not in graded_files:
                continue
            if sf.origin == "file":
                lines.append(f"{name}: graded {sf.source}" + (f" ({sf.layout})" if getattr(sf, "layout", "") else ""))
            elif sf.origin == "notebook":
                lines.append(f"{name}: taken from your notebook {sf.source} ({sf.note})")
        lines += [m for m in report.messages if m.split(":", 1)[0] in graded_files | {"upload"}
                  and ": recognised the " not in m]  # the layout is on the file's "graded" line
        if not has_hidden and hidden_total:
            lines.append(f"{hidden_total} hidden test(s) also run on Gradescope: the same functions on other "
                         "shapes, seeds and edge cases (N=1, T=1, D != H, float32, NULL padding, batches).")
        iso = isolation_for(user)
        if not iso.isolated:
            lines.append(iso.describe())
        if internal:
            lines.append("The grader hit an internal error or the grading environment failed on some checks (not "
                         "your fault); the course staff should look at this run.")
        return build_results(tests, "\n".join(lines), time.time() - t0), internal
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
        shutil.rmtree(base, ignore_errors=True)


def _run_config(report, rub, specs, run_tracks: dict, imported: dict, fixtures: Path, t0: float, outcomes: Path,
                user, tf_missing: bool) -> RunConfig:
    """One pytest run's configuration: which zygote each question's checks run in, and what it pre-imports."""
    tf_specs = [s for s in specs if run_tracks.get(s.id) == TENSORFLOW]
    # A numpy question whose files import torch (an unused `import torch` is common) runs in the torch
    # zygote, where torch is already loaded, instead of importing it again in every child.
    on_torch = [s for s in specs if s not in tf_specs
                and (s.torch or any("torch" in imported.get(f, ()) for f in s.files))]
    # What the zygotes import before forking: the modules the course's provided lines need, where the
    # staged files import them (torchvision costs seconds; a submission that never imports it saves them)
    tops = set().union(*imported.values()) if imported else set()
    preimport = [m for m in required_modules() if m.split(".")[0] in tops]
    return RunConfig(stage=report, rubric=rub.path, questions=[q.id for q in rub.questions],
                     fixtures=str(fixtures), deadline_epoch=t0 + rub.time_budget_s,
                     outcomes=str(outcomes), user=user,
                     threads=int(os.environ.get("AUTOGRADER_THREADS", "1")),
                     torch_questions=[s.id for s in on_torch],
                     preimport=preimport,
                     numpy_inworker=sorted({m for s in specs if s not in on_torch and s not in tf_specs
                                            for m in s.inworker}),
                     torch_inworker=sorted({m for s in on_torch for m in s.inworker}),
                     tf_questions=[] if tf_missing else [s.id for s in tf_specs],
                     tf_inworker=sorted({m for s in tf_specs for m in s.tf_inworker}),
                     tracks=dict(run_tracks), tf_unavailable=[s.id for s in tf_specs] if tf_missing else [],
                     rubric_tracks=list(rub.tracks))


def staged_imports(stage: Path, staged_as: str, _seen=None) -> set[str]:
    """Top-level modules a staged file imports, anywhere in it, following imports of the staged package's
    own modules (``from .image_utils import ...`` brings in what image_utils imports)."""
    import ast
    seen = set() if _seen is None else _seen
    if staged_as in seen:
        return set()
    seen.add(staged_as)
    path = stage / PACKAGE / staged_as
    try:
        tree = ast.parse(path.read_bytes())
    except (OSError, SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
    out, inner = set(), []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            out.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            mod = node.module or ""
            if node.level or mod.split(".")[0] in ("deeplearning", "cs231n"):
                rel = mod.split(".", 1)[1] if not node.level and "." in mod else ("" if not node.level else mod)
                inner += [rel] if rel else [a.name for a in node.names]
            else:
                out.add(mod.split(".")[0])
    for name in inner:
        out |= staged_imports(stage, name.replace(".", "/") + ".py", seen)
    return out


def _run_pytest(modules: list[str], run_json: Path, cfg: RunConfig, jobs: int) -> list[str]:
    import pytest

    from grader.engine import plugin
    args = ["-p", plugin.__name__, "--ag-run", str(run_json), "-q", "--tb=no", "-p", "no:cacheprovider",
            "--assert=plain",  # checks raise CheckFailure, never assert: no need to rewrite (compile) them
            "--rootdir", str(ROOT), "-c", os.devnull, "--no-header", "-W", "ignore::DeprecationWarning"]
    args += ["-n", str(jobs)] if jobs > 1 else ["-p", "no:xdist"]
    buf = io.StringIO()
    sandbox = None
    if jobs == 1:  # one process runs every check: start the worker (and torch's import) before pytest starts
        sandbox = Sandbox(Path(cfg.stage.stage_dir), torch=bool(cfg.torch_questions), user=cfg.user,
                          threads=cfg.threads, preimport=tuple(cfg.preimport),
                          deadline=time.monotonic() + (cfg.deadline_epoch - time.time()),
                          inworker={False: tuple(cfg.numpy_inworker), True: tuple(cfg.torch_inworker),
                                    TF_ZYGOTE: tuple(cfg.tf_inworker)},
                          tensorflow=bool(cfg.tf_questions))
    try:
        with contextlib.redirect_stdout(buf):
            code = pytest.main(args + modules, plugins=[plugin.SandboxHandoff(sandbox)] if sandbox else [])
    finally:
        if sandbox is not None:
            sandbox.close()
    if code not in (0, 1, 5):  # 1: some checks failed (normal); others: pytest itself failed
        return [f"pytest exited with status {int(code)}:\n{buf.getvalue()[-3000:]}"]
    return []


def _readable_by_others(path: Path) -> bool:
    """Can an unprivileged user reach ``path`` (every parent searchable, the file readable)?"""
    path = path.resolve()
    for p in [path] + list(path.parents):
        try:
            mode = p.stat().st_mode
        except OSError:
            return False
        if p != path and not mode & 0o001:
            return False
    return bool(path.stat().st_mode & 0o004)


def sandbox_user(requested: str | None) -> str | None:
    """The user student code runs as: only when we are root (as on Gradescope), and only if that
    user can read this Python installation; otherwise None, with a warning."""
    if os.getuid() != 0:
        return None  # only root can switch users; grading still runs, without the user boundary
    import pwd
    user = requested or os.environ.get("AUTOGRADER_SANDBOX_USER") or "student"
    try:
        pwd.getpwnam(user)
    except KeyError:
        if requested:
            raise SystemExit(f"python -m grader grade: no user named {user!r} on this machine (create it, as "
                             "setup.sh does on Gradescope, or leave out --user)")
        user = "nobody"
    import numpy
    if not (_readable_by_others(Path(os.__file__)) and _readable_by_others(Path(numpy.__file__))):
        if requested:
            raise SystemExit(f"python -m grader grade: --user {user}: that user cannot read this Python "
                             f"installation ({Path(os.__file__).parent}); use a Python outside root's home "
                             "(as Gradescope's system python3), or leave out --user")
        print(f"warning: running as root, but the sandbox user {user!r} cannot read this Python installation "
              f"({Path(os.__file__).parent}); student code runs as root, without the user boundary. "
              "Gradescope's system python3 does not have this problem.", file=sys.stderr)
        return None
    return user


def main(args) -> int:
    results_path = Path(args.results) if args.results else None
    t0 = time.time()
    checking = args.command == "check"  # students: visible checks only, same table and feedback
    notes: list[str] = []
    if checking:
        from grader.engine import precheck as check
        if not check.packages_present():
            return 2
    try:
        rub = rubric_mod.load(args.rubric)
        questions = args.questions.split(",") if args.questions else None
        rub = rub.select(questions)
    except rubric_mod.RubricError as exc:
        print(f"python -m grader {args.command}: {exc}", file=sys.stderr)
        return 2
    submission = Path(args.submission)
    try:
        usable = submission.is_dir() or submission.is_file()
        what = "does not exist" if not os.path.lexists(submission) else "is neither a folder nor a file"
    except OSError as exc:
        usable, what = False, f"cannot be read ({exc.strerror or exc})"
    if not checking and not usable:
        print(f"python -m grader {args.command}: {submission} {what}; pass the submission's folder or its .zip "
              "(e.g. examples/buggy_submission)", file=sys.stderr)
        return 2
    if results_path is not None:
        # A valid results.json from the start: should writing the real one fail later (a full disk), this one
        # stays, and it blames no one.
        try:
            write_results(zero_results(rub, PLACEHOLDER), results_path)
        except OSError as exc:
            print(f"python -m grader {args.command}: cannot write {results_path} ({exc.strerror or exc}); "
                  "pass --results with a writable path", file=sys.stderr)
            return 2
    user = sandbox_user(getattr(args, "user", None))
    fixtures = Path(args.fixtures) if getattr(args, "fixtures", None) else FIXTURES
    cleanup: list[Path] = []
    if checking:
        rub, fixtures, submission, cleanup = check.prepare(rub, fixtures, submission, notes)
    try:
        results, internal = grade(submission, rub, jobs=max(1, getattr(args, "jobs", 1) or 1), user=user,
                                  fixtures=fixtures, checking=checking)
    except Exception as exc:  # the grader itself failed: still leave a valid results.json
        import traceback
        tb = traceback.format_exc()
        results = zero_results(rub, "The autograder failed internally (not your fault); the course staff "
                                     f"have been told.\n{type(exc).__name__}: {exc}", time.time() - t0)
        internal = [tb]
    finally:
        for d in cleanup:
            shutil.rmtree(d, ignore_errors=True)
    if notes:
        results["output"] = "\n".join([results["output"]] + notes)
    problems = validate(results)
    if problems:
        internal.append("results failed validation: " + "; ".join(problems))
    if results_path is not None:
        try:
            write_results(results, results_path)
        except OSError as exc:  # the placeholder written at the start stays
            internal.append(f"could not write {results_path} ({exc.strerror or exc}); it says the grading did "
                            "not finish (not the student's fault)")
            results_path = None
    if not getattr(args, "quiet", False):
        print(table(results))
        if results["output"]:
            print("\n" + results["output"])
        if results_path is not None:
            print(f"results written to {results_path}")
    if internal:
        print("\nINTERNAL GRADER ERRORS (the grader's fault, not the submission's):", file=sys.stderr)
        for note in internal:
            print("  " + note.replace("\n", "\n  "), file=sys.stderr)
        return 1
    return 0

