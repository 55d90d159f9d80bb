"""The two tracks of Q3/Q4: which framework each question of a submission is graded in (grader side).

CS182 HW2: "You can do Questions 3 and 4 in TensorFlow or PyTorch".  Under a rubric with
``tracks: [pytorch, tensorflow]`` a question is graded on the track whose files the student
handed in (``grader.questions``: ``files`` for PyTorch, ``tf_files`` for TensorFlow); a student
who did both gets both graded and keeps the better score per question, never the sum.  Each
track runs in a zygote of its own (TensorFlow never shares a process with torch).

Plain functions over the staging report; nothing here imports TensorFlow.
"""
from __future__ import annotations

import importlib.util
from pathlib import Path

from grader.questions import FILES, PYTORCH, QUESTIONS, TENSORFLOW

# What a TensorFlow student installs (the pre-check says so when it is missing).
TF_PACKAGE = "tensorflow-cpu==2.20.0"


def present(report, staged_as: str) -> bool:
    f = report.files.get(staged_as)
    return f is not None and f.origin in ("file", "notebook")


def plan(report, rub) -> dict[str, list[str]]:
    """question -> the tracks to grade it in (the first is graded first; two when the student did both)."""
    out = {}
    for q in rub.questions:
        spec = QUESTIONS.get(q.id)
        if spec is None or not spec.tf_files:
            continue
        if TENSORFLOW not in rub.tracks:
            out[q.id] = [PYTORCH]
            continue
        pt = any(present(report, f) for f in spec.files)
        tf = any(present(report, f) for f in spec.tf_files)
        out[q.id] = [PYTORCH, TENSORFLOW] if (pt and tf) else [TENSORFLOW] if tf else [PYTORCH]
    return out


def tensorflow_installed() -> bool:
    try:
        return importlib.util.find_spec("tensorflow") is not None
    except (ImportError, ValueError):
        return False


def label(report, qid: str, track: str) -> str:
    """"TensorFlow (1.x style: graph mode, sess.run)" / "PyTorch"."""
    if track != TENSORFLOW:
        return "PyTorch"
    from grader.course.tf_code import LABELS
    eras = {report.files[f].era for f in QUESTIONS[qid].tf_files if present(report, f) and report.files[f].era}
    return LABELS.get(next(iter(eras)), "TensorFlow") if len(eras) == 1 else "TensorFlow"


def files_shown(report, qid: str, track: str) -> str:
    return ", ".join(report.files[f].source for f in QUESTIONS[qid].track_files(track) if present(report, f))


def untracked_notes(report, rub, checking: bool = False) -> list[str]:
    """A rubric without the TensorFlow track, and a submission whose Q3/Q4 exist only in TensorFlow: say so."""
    if TENSORFLOW in rub.tracks:
        return []
    notes = []
    for q in rub.questions:
        spec = QUESTIONS.get(q.id)
        if spec is None or not spec.tf_files or any(present(report, f) for f in spec.files):
            continue
        tf = [report.files[f].source for f in spec.tf_files if present(report, f)]
        if tf:
            notes.append(f"{q.id}: found TensorFlow code ({', '.join(tf)}), but this autograder grades {q.id} in "
                         f"PyTorch only (its rubric, {rub.name}, has no TensorFlow track): hand in "
                         f"{' or '.join(FILES[f].shown for f in spec.files)}, or ask the course staff"
                         + (" (if your course allows TensorFlow, check with --rubric cs182_hw2_tf)" if checking else ""))
    return notes


def merge(rub, first: list[dict], second: list[dict], both: dict[str, tuple[str, str]], report) -> tuple[list[dict], list[str]]:
    """Per question graded in both tracks, keep the tests of the better track (ties: the first one).
    ``first``: every test of the first run; ``second``: the tests of the questions in ``both``
    (question -> (first track, second track)).  Returns (tests, output lines)."""
    by_q = {}
    for t in second:
        by_q.setdefault(t["tags"][0], []).append(t)
    lines, keep_second = [], set()
    for qid, (t1, t2) in both.items():
        a = sum(t["score"] for t in first if t["tags"][0] == qid)
        b = sum(t["score"] for t in by_q.get(qid, []))
        total = sum(t["max_score"] for t in first if t["tags"][0] == qid)
        win = t2 if b > a else t1
        if b > a:
            keep_second.add(qid)
        lines.append(f"{qid}: you handed in both a PyTorch and a TensorFlow version; both were graded and the "
                     f"better one counts (never the sum): {label(report, qid, t1)} {a:g}/{total:g}, "
                     f"{label(report, qid, t2)} {b:g}/{total:g}; kept {label(report, qid, win)}")
    tests = [t for t in first if t["tags"][0] not in keep_second]
    order = {e.name: i for i, e in enumerate(rub.entries())}
    tests += [t for t in second if t["tags"][0] in keep_second]
    tests.sort(key=lambda t: order.get(t["name"], len(order)))
    for t in tests:
        qid = t["tags"][0]
        if qid in both:
            track = both[qid][1] if qid in keep_second else both[qid][0]
            t["output"] = (f"graded as {label(report, qid, track)} (the better of your two versions)\n"
                           + t["output"]).strip()
    return tests, lines


def precheck_tensorflow_questions(rub, submission: Path, exclude=()) -> set[str]:
    """Questions a student's folder has only TensorFlow code for (read before staging, for the pre-check:
    they need tensorflow, not torch).  ``exclude``: folders not to look in (the grader's own, when the
    pre-check was unpacked into the student's folder)."""
    if TENSORFLOW not in rub.tracks or not Path(submission).is_dir():
        return set()
    from grader.engine import notebook, staging
    skip = [Path(e).resolve() for e in exclude]
    sources = [p for p in staging._walk_sources(Path(submission))
               if not any(e == p.resolve() or e in p.resolve().parents for e in skip)]
    names = {p.name for p in sources}
    frameworks = {notebook.notebook_framework(p, notebook.code_cells(p)) for p in sources if p.suffix == ".ipynb"}
    out = set()
    for q in rub.questions:
        spec = QUESTIONS.get(q.id)
        if spec is None or not spec.tf_files:
            continue
        tf = TENSORFLOW in frameworks or any(n in names for f in spec.tf_files for n in FILES[f].names)
        pt = PYTORCH in frameworks or any(n in names for f in spec.files for n in FILES[f].names)
        if tf and not pt:
            out.add(q.id)
    return out
