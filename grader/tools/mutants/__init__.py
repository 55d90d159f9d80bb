"""``python -m grader mutants``: every catalogued student bug must be caught.

The catalogue (``grader/tools/mutants/q*.yaml``) stores each classic bug as an
exact find/replace patch of a file of ``reference/deeplearning/``, with the
rubric tests of the function it breaks that must catch it (``caught_by``) and,
optionally, other tests of that same function that may lose points too
(``function_tests``; a test's hidden twin always may).  Each mutant is applied
to a copy of the reference and graded through the real CLI; a mutant
*escapes* when a named test keeps full marks, and *leaks* when any test outside
its function loses points: one bug, one deduction (DESIGN.md invariant 10).

The TensorFlow track of Q3/Q4 has catalogues of its own (``q3_tensorflow.yaml``,
``q4_tensorflow.yaml``): their patches apply to the TensorFlow solutions in
``tests/tf_track/solutions/`` (``reference:``, a folder of the checkout: ``tf1`` holds the
CS182 / CS231n 2017-2018 notebooks, TF 1.x; ``tf2`` CS231n 2020's ``.py`` files, TF 2), which
are copied as they are (a student's folder) before ``file`` (a path inside that folder) is patched,
and they are graded under a rubric with the TensorFlow track (``rubric:``, e.g. cs182_hw2_tf, whose
names ``caught_by`` uses).  Without TensorFlow installed they are reported as skipped.
"""
from __future__ import annotations

import concurrent.futures as cf
import json
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from grader.paths import REFERENCE, ROOT
from grader.questions import FILES, questions_of_file

CATALOGUE = Path(__file__).resolve().parent
# Which questions a patched file can affect (the questions graded for a mutant).
FILE_QUESTIONS = {f: questions_of_file(f) for f in FILES}


@dataclass
class Mutant:
    name: str
    question: str
    file: str
    find: str
    replace: str
    caught_by: list[str]
    description: str = ""
    function_tests: list[str] = field(default_factory=list)
    reference: str = ""   # a folder of the checkout to patch instead of reference/ (the TensorFlow solutions)
    rubric: str = ""      # the rubric it is graded under instead of the run's (one with the TensorFlow track)

    @property
    def tensorflow(self) -> bool:
        return bool(self.reference)

    def allowed(self) -> set[str]:
        """The tests of the mutated function: those that must lose points, the others that may, and the
        hidden twin of each."""
        names = set(self.caught_by) | set(self.function_tests)
        twins = set()
        for n in names:
            num, _, label = n.partition(" ")
            twins.add(f"{num}h {label} (hidden cases)" if not num.endswith("h") else
                      f"{num[:-1]} {label.replace(' (hidden cases)', '')}")
        return names | twins


def load(catalogue: Path = CATALOGUE) -> list[Mutant]:
    out = []
    for path in sorted(catalogue.glob("q*.yaml")):
        for d in yaml.safe_load(path.read_text()) or []:
            q = "Q" + path.stem[1:].split("_")[0]   # q3.yaml, q3_tensorflow.yaml -> Q3
            out.append(Mutant(d["name"], d.get("question", q), d["file"], d["find"], d["replace"],
                              list(d["caught_by"]), d.get("description", ""), list(d.get("function_tests", [])),
                              d.get("reference", ""), d.get("rubric", "")))
    names = [m.name for m in out]
    if len(set(names)) != len(names):
        raise ValueError("mutant names must be unique")
    return out


def apply(m: Mutant, dest: Path, reference: Path = REFERENCE) -> Path:
    """Copy reference/ (or the mutant's own ``reference`` folder) to dest and patch it; raises ValueError if
    the patch does not apply exactly once."""
    if m.reference:
        shutil.copytree(ROOT / m.reference, dest, ignore=shutil.ignore_patterns("__pycache__"))
        target = dest / m.file
    else:
        shutil.copytree(reference, dest)
        target = dest / "deeplearning" / m.file
    if not target.is_file():
        raise ValueError(f"mutant {m.name}: no file {m.file} to patch")
    src = target.read_text()
    n = src.count(m.find)
    if n != 1:
        raise ValueError(f"mutant {m.name}: the 'find' text occurs {n} times in {m.file} (must be exactly once)")
    target.write_text(src.replace(m.find, m.replace))
    return dest


@dataclass
class Outcome:
    mutant: Mutant
    lost: dict[str, tuple] = field(default_factory=dict)  # test -> (score, max)
    error: str = ""
    seconds: float = 0.0
    skipped: str = ""     # why it was not graded (TensorFlow mutants where TensorFlow is not installed)

    @property
    def escaped(self) -> list[str]:
        return [t for t in self.mutant.caught_by if t not in self.lost]

    @property
    def leaked(self) -> list[str]:
        """Tests outside the mutated function that lost points."""
        allowed = self.mutant.allowed()
        return sorted(t for t in self.lost if t not in allowed)

    @property
    def ok(self) -> bool:
        return bool(self.skipped) or (not self.error and not self.escaped and not self.leaked)


def run_one(m: Mutant, rubric: str, fixtures: Path | None = None, warm=None) -> Outcome:
    t0 = time.time()
    if m.tensorflow:
        from grader.engine.tracks import tensorflow_installed
        if not tensorflow_installed():
            return Outcome(m, skipped="TensorFlow is not installed (pip install -r requirements-tensorflow.txt)")
        rubric = m.rubric or rubric
    with tempfile.TemporaryDirectory(prefix=f"ag-mutant-{m.name}-") as tmp:
        try:
            sub = apply(m, Path(tmp) / "submission")
        except ValueError as exc:
            return Outcome(m, error=str(exc))
        qs = ",".join(sorted(set(FILE_QUESTIONS.get(m.file, (m.question,))) | {m.question}))
        out = Path(tmp) / "results.json"
        argv = ["grade", str(sub), "--rubric", rubric, "--questions", qs, "--results", str(out), "--quiet"]
        if fixtures:
            argv += ["--fixtures", str(fixtures)]
        if warm is not None:  # a warm grader: the same CLI, without a new interpreter and torch import each time
            log = Path(tmp) / "grade.log"
            rc, _ = warm.grade(argv, log, timeout=600)
            rc = -9 if rc is None else rc
            stderr = log.read_text(errors="replace") if log.exists() else ""
        else:
            proc = subprocess.run([sys.executable, "-m", "grader", *argv], cwd=ROOT, capture_output=True,
                                  text=True, timeout=600)
            rc, stderr = proc.returncode, proc.stderr
        if rc != 0 or not out.exists():
            return Outcome(m, error=f"grading failed (exit {rc}): {stderr[-500:]}", seconds=time.time() - t0)
        res = json.loads(out.read_text())
    lost = {t["name"]: (t["score"], t["max_score"]) for t in res["tests"] if t["score"] < t["max_score"]}
    known = {t["name"] for t in res["tests"]}
    o = Outcome(m, lost, seconds=time.time() - t0)
    unknown = [t for t in m.caught_by if t not in known]
    if unknown:
        o.error = f"caught_by names tests that were not run: {unknown}"
    return o


def run(mutants: list[Mutant], rubric: str = "cs231n_a3", jobs: int = 2, fixtures: Path | None = None,
        progress=None) -> list[Outcome]:
    """Grade every mutant, ``jobs`` at a time, each slot through a warm grader of its own."""
    import queue

    from grader.tools.warm import WarmGrader
    jobs = max(1, min(jobs, len(mutants)))
    warm: queue.Queue = queue.Queue()

    def one(m):
        w = warm.get()
        try:
            return run_one(m, rubric, fixtures, w)
        finally:
            warm.put(w)

    slots = []
    try:
        with cf.ThreadPoolExecutor(max_workers=jobs) as pool:
            slots = list(pool.map(lambda _: WarmGrader(), range(jobs)))
            for w in slots:
                warm.put(w)
            futs = {pool.submit(one, m): m for m in mutants}
            outcomes = []
            for f in cf.as_completed(futs):
                outcomes.append(f.result())
                if progress:
                    progress(outcomes[-1])
    finally:
        for w in slots:
            w.close()
    order = {m.name: i for i, m in enumerate(mutants)}
    return sorted(outcomes, key=lambda o: order[o.mutant.name])


def report(outcomes: list[Outcome]) -> str:
    w = max([len(o.mutant.name) for o in outcomes] + [6])
    lines = [f"{'mutant':<{w}}  {'q':3}  {'status':8}  {'outside':7}  caught by / problem", "-" * (w + 70)]
    for o in outcomes:
        outside = "-" if (o.error or o.skipped) else str(len(o.leaked))
        if o.skipped:
            status, detail = "skipped", o.skipped
        elif o.error:
            status, detail = "ERROR", o.error
        elif o.escaped:
            status, detail = "ESCAPED", "not caught by " + ", ".join(o.escaped)
        elif o.leaked:
            status, detail = "LEAKED", "tests outside the mutated function lost points: " + ", ".join(o.leaked)
        else:
            status, detail = "caught", ", ".join(sorted(o.lost))
        lines.append(f"{o.mutant.name:<{w}}  {o.mutant.question:3}  {status:8}  {outside:>7}  {detail}")
    n_ok = sum(o.ok and not o.skipped for o in outcomes)
    n_run = sum(not o.skipped for o in outcomes)
    lines.append("-" * (w + 70))
    lines.append(f"{n_ok}/{n_run} mutants caught on the tests of their own function, and only there "
                 "(column 'outside': tests of other functions that lost points)"
                 + (f"; {len(outcomes) - n_run} skipped" if n_run < len(outcomes) else ""))
    return "\n".join(lines)


def main(args) -> int:
    try:
        mutants = load()
    except (ValueError, KeyError, yaml.YAMLError) as exc:
        print(f"mutants: bad catalogue: {exc}", file=sys.stderr)
        return 2
    if args.only:
        want = [w.strip() for w in args.only.split(",") if w.strip()]
        mutants = [m for m in mutants if m.name in want or m.question in want]
        if not mutants:
            print(f"mutants: nothing matches --only {args.only}", file=sys.stderr)
            return 2
    t0 = time.time()
    done = [0]

    tty = sys.stderr.isatty()

    def progress(o):
        done[0] += 1
        if tty:
            print(f"\r[{done[0]}/{len(mutants)}] {o.mutant.name:<40}", end="", file=sys.stderr, flush=True)

    outcomes = run(mutants, args.rubric, args.jobs, progress=progress)
    if tty:
        print("\r" + " " * 60 + "\r", end="", file=sys.stderr)
    print(report(outcomes))
    print(f"({time.time() - t0:.0f} s)")
    return 0 if all(o.ok for o in outcomes) else 1
