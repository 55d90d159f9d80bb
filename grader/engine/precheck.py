"""``python -m grader check`` / ``python precheck.py``: a student's visible pre-check.

Same engine and table as Gradescope; only the visible cases run (a staff
checkout's hidden fixtures are left out too), PyTorch questions are skipped
with a note when torch is missing, and when the grader was unpacked inside the
student's folder only the student's own source files are graded.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from grader.engine import staging
from grader.paths import ROOT

NEEDED = (("numpy", "numpy"), ("h5py", "h5py"), ("yaml", "pyyaml"), ("pytest", "pytest"))


def packages_present() -> bool:
    missing = [pip for mod, pip in NEEDED if importlib.util.find_spec(mod) is None]
    if missing:
        print(f"The autograder's checks need the Python package(s) {', '.join(missing)}, which this Python "
              f"({sys.executable}) does not have.\nInstall them in the environment you use for the "
              f"assignment, e.g.\n    {sys.executable} -m pip install {' '.join(missing)}", file=sys.stderr)
    return not missing


def _contains(folder: Path, path: Path) -> bool:
    folder, path = folder.resolve(), path.resolve()
    return path == folder or folder in path.parents


def _copy_sources(src: Path, dest: Path) -> Path:
    """Copy the .py/.ipynb files of ``src`` (not the grader's own folders, not zips) into ``dest``."""
    skip = {(ROOT / d).resolve() for d in ("grader", "student_template", "fixtures", "reference", "tests",
                                           "dist", ".venv")}
    dest.mkdir(parents=True, exist_ok=True)
    for dirpath, dirnames, filenames in os.walk(src):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if d not in staging.IGNORED_DIRS and not d.startswith(".")
                             and (here / d).resolve() not in skip)
        for fn in filenames:
            p = here / fn
            if p.suffix in (".py", ".ipynb") and not p.is_symlink() \
                    and p.resolve() != (ROOT / "precheck.py").resolve():
                target = dest / p.relative_to(src)
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(p, target)
    return dest


def _torch_problem(try_import: bool) -> str | None:
    """Why this Python cannot run the PyTorch questions (None if it can).  An installed torch is imported in
    a child interpreter, not here: a build that does not fit this machine can kill the interpreter that
    imports it (illegal instruction, a missing library's abort), and the check must still grade the other
    questions and say why; nor does this process then hold torch's few hundred MB while the worker imports
    it again."""
    why = next((f"{m} is not installed" for m in ("torch", "torchvision") if importlib.util.find_spec(m) is None), None)
    if why is None and try_import:
        try:
            proc = subprocess.run([sys.executable, "-c", "import torch, torchvision"], capture_output=True,
                                  text=True, timeout=600, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            return "importing it did not finish within 10 minutes"
        if proc.returncode < 0:
            try:
                name = signal.Signals(-proc.returncode).name
            except ValueError:
                name = f"signal {-proc.returncode}"
            why = f"importing it kills the interpreter ({name}: a build that does not fit this machine?)"
        elif proc.returncode != 0:
            lines = [ln for ln in proc.stderr.strip().splitlines() if ln.strip()]
            why = f"importing it fails ({lines[-1].strip() if lines else f'exit status {proc.returncode}'})"
    return why


def prepare(rub, fixtures: Path, submission: Path, notes: list[str]):
    """Adapt a grading run to a student's machine; returns (rubric, fixtures, submission, folders to remove)."""
    cleanup: list[Path] = []
    from grader.engine.tracks import precheck_tensorflow_questions  # Q3/Q4 written in TensorFlow need no torch
    tf_only = precheck_tensorflow_questions(rub, submission, [ROOT / d for d in ("grader", "student_template", "fixtures",
                                                                                  "reference", "tests", "dist", ".venv")])
    torch_qs = [q for q in rub.questions if q.needs_torch and q.id not in tf_only]
    if torch_qs:
        why = _torch_problem(try_import=any(q.has_checks for q in torch_qs))
        if why:
            ids = ", ".join(q.id for q in torch_qs)
            notes.append(f"NOTE: {ids} skipped: these questions need PyTorch and {why} in this Python "
                         f"({sys.executable}). To check them, install torch and torchvision "
                         f"({sys.executable} -m pip install torch torchvision) and run this again.")
            rub = rub.replace([q for q in rub.questions if not q.needs_torch or q.id in tf_only])
    unchecked = [q.id for q in rub.questions if not q.has_checks]
    if unchecked:
        notes.append(f"NOTE: {', '.join(unchecked)} not checked here: this copy of the grader has no checks "
                     "for them; Gradescope grades them.")
    if (fixtures / "hidden.h5").exists():  # a staff checkout: leave the hidden cases out, as the pre-check does
        vis = Path(tempfile.mkdtemp(prefix="ag-visible-"))
        cleanup.append(vis)
        shutil.copytree(fixtures, vis / "fixtures", ignore=shutil.ignore_patterns("*hidden*", "manifest.yaml"))
        fixtures = vis / "fixtures"
    if submission.is_dir() and _contains(submission, ROOT):
        # e.g. `python precheck.py` in the assignment folder the pre-check was unpacked into: grade the
        # student's source files, not the grader's own folders (student_template/ ...) or old zips
        copy = Path(tempfile.mkdtemp(prefix="ag-check-"))
        cleanup.append(copy)
        submission = _copy_sources(submission, copy / submission.resolve().name)
    return rub, fixtures, submission, cleanup


# ------------------------------------------------------------------ precheck.check() from a notebook
KERNEL_NOTEBOOK = "precheck_kernel.ipynb"   # where the kernel's cells go when no saved notebook has that file's code


def _defined(cells: list[str]) -> set[str]:
    """Names of the functions and classes the cells define at top level (a cell that does not parse is
    read line by line)."""
    import ast
    import re
    names = set()
    for src in cells:
        try:
            names |= {n.name for n in ast.parse(src).body
                      if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            names |= set(re.findall(r"^(?:async\s+)?(?:def|class)\s+(\w+)", src, re.M))
    return names


def _code_cell(source: str) -> dict:
    return {"cell_type": "code", "execution_count": None, "metadata": {}, "outputs": [], "source": source}


def _merged_notebook(saved: Path | None, cells: list[str]) -> dict:
    """``saved``'s cells (all of them, so the grader's cell numbers stay those of the saved notebook), then
    the kernel's cells: later definitions replace earlier ones, as when the notebook runs."""
    import json
    from grader.engine import notebook
    nb = None
    if saved is not None:
        try:
            nb = json.loads(saved.read_bytes().decode("utf-8", "replace"))
        except (OSError, ValueError, RecursionError):
            nb = None
        if not (isinstance(nb, dict) and isinstance(nb.get("cells"), list)):  # nbformat 3 or odd: code cells only
            nb = {"cells": [_code_cell(c) for c in notebook.code_cells(saved)]}
    nb = nb or {"cells": []}
    nb.setdefault("metadata", {})
    nb["nbformat"], nb["nbformat_minor"] = 4, 4
    nb["cells"] = list(nb["cells"]) + [_code_cell(c) for c in cells]
    return nb


def graded_files(rubric_name: str, questions: list[str] | None) -> list[str] | None:
    """The staged student files the rubric's (selected) questions grade, in every track it grades; None
    when the rubric cannot be read (the check itself then says why)."""
    from grader.engine import rubric as rubric_mod
    from grader.questions import by_check_module
    try:
        rub = rubric_mod.load(rubric_name).select(questions)
    except Exception:
        return None
    tf = "tensorflow" in (getattr(rub, "tracks", None) or ())
    out = []
    for q in rub.questions:
        spec = by_check_module(q.module)
        if spec is not None:
            out += list(spec.files) + (list(getattr(spec, "tf_files", ()) or ()) if tf else [])
    return list(dict.fromkeys(out))


def with_kernel_cells(submission, kernel_json, files: list[str] | None = None) -> tuple[Path, list[str], Path]:
    """A temporary copy of the student's sources in which, for each Q3-Q5 file written in notebook cells
    (of ``files``, the graded ones; all when None), the notebook that the grader would take it from also
    holds the running kernel's definitions (after its saved cells, so they win).  Returns (the copy, notes
    for the student, the folder to remove)."""
    import json
    from grader.engine import notebook
    from grader.questions import FILES
    submission = Path(submission)
    scratch = Path(tempfile.mkdtemp(prefix="ag-kernel-"))
    copy = scratch / (submission.resolve().name or "submission")
    if submission.is_dir():
        _copy_sources(submission, copy)
    else:
        copy.mkdir(parents=True)
        shutil.copyfile(submission, copy / submission.name)
    try:
        payload = json.loads(Path(kernel_json).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        payload = {}
    cells = [c for c in payload.get("cells") or [] if isinstance(c, str)]
    defined = {n for n in payload.get("defined") or [] if isinstance(n, str)}
    notes: list[str] = []
    if not defined:
        return copy, notes, scratch
    found, _messages, notebooks, _texts = staging.find_student_files(copy)
    parsed = {nb: notebook.code_cells(nb) for nb in sorted(notebooks, key=str)}
    targets: dict[Path | None, set[str]] = {}
    for staged_as, spec in FILES.items():
        mine = sorted(defined & set(spec.notebook_functions))
        if not mine or (files is not None and staged_as not in files):
            continue
        sf = found.get(staged_as)
        if sf is not None and sf.origin == "file":
            notes.append(f"NOTE: your notebook's kernel defines {', '.join(mine)}, but {sf.source} is what is "
                         "graded (as on Gradescope): put your changes into that file and save it.")
            continue
        best, best_score = None, 0
        for nb, nb_cells in parsed.items():
            score = len(_defined(nb_cells) & set(spec.notebook_functions))
            if score > best_score:
                best, best_score = nb, score
        targets.setdefault(best, set()).update(mine)
    for saved, names in targets.items():
        dest = saved if saved is not None else copy / KERNEL_NOTEBOOK
        dest.write_text(json.dumps(_merged_notebook(saved, cells), indent=1), encoding="utf-8")
        where = saved.relative_to(copy).as_posix() if saved is not None else "your notebook"
        it = "it" if len(names) == 1 else "them"
        notes.append(f"NOTE: {', '.join(sorted(names))} checked as your notebook's kernel defines {it} now "
                     f"(unsaved changes included), with the rest of {where}.")
    return copy, list(dict.fromkeys(notes)), scratch


def relabel_kernel_cells(results_path, original) -> None:
    """In a check's results.json, a traceback frame in a cell that the kernel added (after the saved
    notebook's cells, see ``with_kernel_cells``) is named as the kernel's definition: its cell number exists
    only in the merged copy, never in the student's notebook.  ``original``: the folder the student checked."""
    import json
    import re
    from grader.engine import notebook
    from grader.engine.results import write_results
    path = Path(results_path)
    try:
        results = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    saved: dict[str, int | None] = {}

    def saved_cells(rel: str) -> int | None:
        if rel not in saved:
            nb = Path(original) / rel
            saved[rel] = 0 if rel == KERNEL_NOTEBOOK else len(notebook.code_cells(nb)) if nb.is_file() else None
        return saved[rel]

    def relabel(m):
        count = saved_cells(m.group(1))
        if count is None or int(m.group(2)) <= count:
            return m.group(0)
        return f"[your notebook kernel's current definition (saved or not), line {m.group(3)} of it]"

    frame = re.compile(r"\[([^\]\n]+?): code cell (\d+), line (\d+) of the cell\]")
    results["output"] = frame.sub(relabel, results.get("output") or "")
    for t in results.get("tests") or []:
        if isinstance(t, dict) and isinstance(t.get("output"), str):
            t["output"] = frame.sub(relabel, t["output"])
    write_results(results, path)


def add_notes(results_path, notes: list[str]) -> None:
    """Append notes to the output of a results.json the check wrote."""
    import json
    from grader.engine.results import write_results
    path = Path(results_path)
    try:
        results = json.loads(path.read_text())
    except (OSError, ValueError):
        return
    results["output"] = "\n".join([results.get("output") or ""] + list(notes)).strip("\n")
    write_results(results, path)
