"""Turn a submission (folder or .zip, any layout) into an importable package.

The staged folder holds ``deeplearning/``: the template's provided modules plus
the student's files, found by name anywhere in the submission.  Student files
missing from the submission are left out, so the checks that need them fail
with a message saying so, and every other check still runs.

Each staged student file is then prepared (``prepare_sources``), keeping its
line numbers: the course year whose layout it follows is recognised
(``grader.course.years``) and reported; imports the grading environment cannot
satisfy are commented out with a note saying whether the line was the course's
or the student's; and the PyTorch files' GPU-only lines run on the CPU
(``grader.engine.rewrite``).
"""
from __future__ import annotations

import json
import os
import re
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

from grader.course import years
from grader.engine import files, grammar, rewrite, stubs
from grader.paths import FIXTURES, PACKAGE, TEMPLATE
from grader.questions import FILES, QUESTIONS, questions_of_file

MAX_ZIP_BYTES = 200 * 1024**2      # uncompressed total read from one upload
MAX_ZIP_MEMBERS = 20000
# Notebooks carry their output images; code is a tiny part of that.  Read before any worker starts, with the
# outputs dropped as they are parsed: the grader's peak is about twice the file (measured: 301 MB for a 144 MB
# notebook), within Gradescope's 768 MB.  A 72 MB notebook of images cost a student all of Q3 at 64 MB (probe N)
MAX_NOTEBOOK_BYTES = 160 * 1024**2
MAX_MEMBER_BYTES = MAX_NOTEBOOK_BYTES
MAX_SOURCE_BYTES = 5 * 1024**2     # one .py file (a graded one)
SOURCE_SUFFIXES = (".py", ".ipynb", ".zip")
IGNORED_DIRS = files.IGNORED_DIRS

# a frame of a worker's traceback: File "<path>", line <n>, in <function>
FRAME = re.compile(r'File "([^"\n]+)", line (\d+), in (\S+)')


class StagingError(Exception):
    """The submission cannot be read at all (not a folder, corrupt zip...)."""


@dataclass
class StagedFile:
    staged_as: str
    source: str | None = None       # path inside the submission
    origin: str = "missing"          # "file", "notebook", "missing", "unreadable"
    note: str = ""
    layout: str = ""                 # the course year's layout it follows ("CS231n 2021-2024 layout"), if recognised
    functions: list[str] = field(default_factory=list)  # notebook origin: the student-written functions taken
    provided_lines: int = 0          # notebook origin: lines 1..provided_lines are the course's provided code
    era: str = ""                    # a TensorFlow-track file: "tf1" or "tf2" (grader.course.tf_code)
    written: int = -1                # how many of the file's functions it implements (stubs.Counter; -1: unknown)
    era_evidence: list[int] = field(default_factory=list)  # a TensorFlow notebook's (TF1, TF2) evidence in all
                                     # its code cells (tf_code.era_scores), taken or not: sess = get_session()
    cell_map: list[list[int]] = field(default_factory=list)  # notebook origin: [first line here, lines, code
                                     # cell, its first line in the cell] of each definition taken from the notebook


def _unreadable_verb(sf: StagedFile) -> str:
    """What could not be done with an unreadable file: "imported" for a syntax error (grammar.syntax_error's
    note), "read" for bytes that are not text or a file too large."""
    return "imported" if sf.note.startswith("SyntaxError") else "read"


@dataclass
class StageReport:
    stage_dir: str
    files: dict[str, StagedFile] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)

    def to_json(self) -> str:
        return json.dumps({"stage_dir": self.stage_dir, "messages": self.messages,
                           "files": {k: asdict(v) for k, v in self.files.items()}}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "StageReport":
        d = json.loads(text)
        return cls(d["stage_dir"], {k: StagedFile(**v) for k, v in d["files"].items()}, d["messages"])

    def in_notebooks(self, text: str) -> str:
        """``text`` (a traceback of the worker) with each frame in a file assembled from a notebook followed by
        where that line is in the notebook: the staged file's line numbers mean nothing to its author."""
        def where(m):
            path, line = m.group(1).replace("\\", "/"), int(m.group(2))
            marker = f"{PACKAGE}/"
            sf = self.files.get(path.rsplit(marker, 1)[1]) if marker in path else None
            for first, n, cell, cell_line in (sf.cell_map if sf is not None and sf.origin == "notebook" else ()):
                if first <= line < first + n:
                    return (f"{m.group(0)}   [{sf.source}: code cell {cell}, line {cell_line + line - first} of "
                            "the cell]")
            return m.group(0)
        return FRAME.sub(where, text) if text else text

    def missing_message(self, staged_as: str, tensorflow: bool = False) -> str | None:
        """Student-facing reason a staged file is absent, or None if it is present.  ``tensorflow``: the rubric
        also grades the TensorFlow track, whose files were looked for too (a TensorFlow student who left out a
        notebook was told of the PyTorch file only, probe round M)."""
        f = self.files.get(staged_as)
        if f is None or f.origin in ("file", "notebook"):
            return None
        names = FILES[staged_as].shown
        if f.origin == "unreadable":
            verb = _unreadable_verb(f)  # a syntax error names the file as it is in the submission
            return f"{(f.source or names) if verb == 'imported' else names} could not be {verb} ({f.note}); these " \
                   "checks could not run"
        tf = [n for q in QUESTIONS.values() if tensorflow and staged_as in q.files
              for t in q.tf_files for n in FILES[t].names + FILES[t].notebooks]
        also = f", nor its TensorFlow version ({' or '.join(tf)})" if tf else ""
        return f"{names} was not found in your submission{also}; these checks could not run"


def _upload_line(line: str) -> str:
    """A skipped upload member's line; a notebook too large to read says how to make it small."""
    if ".ipynb:" in line and "larger than" in line:
        line += ("; its outputs (images) make it that large: clear them (Kernel > Restart & Clear Output, or "
                 "Edit > Clear All Outputs), save the notebook and upload it again")
    return f"upload: {line}"


def _extract(zpath: Path, dest: Path, messages: list[str], shown: str, budget: int) -> int:
    """Unpack the source files of an uploaded zip into ``dest`` (a new folder of ours); returns bytes written."""
    got = files.safe_extract(zpath, dest, suffixes=SOURCE_SUFFIXES, max_total=budget,
                             max_members=MAX_ZIP_MEMBERS, max_member=MAX_MEMBER_BYTES)
    messages += [_upload_line(f"{shown}/{line}") for line in got.skipped]
    return got.bytes


def _folder_for(zpath: Path) -> Path:
    """A new folder's path for the members of ``zpath`` (a path in our copy of the upload): beside it, named
    after it (``hw2.zip`` -> ``hw2/``, or ``hw2.1/`` when that is taken)."""
    dest, n = zpath.with_suffix(""), 1
    while dest.exists() or dest.is_symlink():
        dest, n = zpath.with_name(f"{zpath.stem}.{n}"), n + 1
    return dest


def _unpack_inner_zips(root: Path, messages: list[str], used: int) -> None:
    """A zip inside the upload (assignment2.zip left in the folder, or zipped inside the zip): unpack each
    once, into a new folder beside it (``root`` is ours: it holds no links)."""
    for inner in sorted(p for p in root.rglob("*.zip") if files.is_regular(p)):
        dest = _folder_for(inner)
        dest.mkdir()
        rel = inner.relative_to(root).as_posix()
        try:
            used += _extract(inner, dest, messages, rel, max(0, MAX_ZIP_BYTES - used))
        except files.ZipUnreadable as exc:
            messages.append(f"upload: {rel} was skipped: {exc}")


ARCHIVES = (".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tar.xz", ".rar", ".7z", ".gz")


def _other_archives(folder: Path) -> list[str]:
    """Lines naming the archives in an uploaded folder that are not read (only a .zip is): a folder holding only
    hw2.tar.gz was told "no rnn_layers.py in the submission" and nothing else (probe round N)."""
    out = []
    for dirpath, dirnames, filenames in os.walk(folder, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in IGNORED_DIRS and not d.startswith("."))
        for fn in sorted(filenames):
            kind = next((a for a in ARCHIVES if fn.lower().endswith(a)), None)
            if kind and files.is_regular(Path(dirpath) / fn):
                rel = (Path(dirpath) / fn).relative_to(folder).as_posix()
                out.append(f"upload: {rel} is a {kind} archive, which is not read: upload a .zip "
                           "(collectSubmission.sh makes one) or the files themselves")
    return out[:20]


def _walk_sources(root: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in IGNORED_DIRS and not d.startswith("."))
        for fn in sorted(filenames):
            if fn.startswith(".") or fn.endswith("-checkpoint.py") or fn.endswith("-checkpoint.ipynb"):
                continue
            p = Path(dirpath) / fn
            if p.suffix in (".py", ".ipynb") and files.is_regular(p):
                found.append(p)
    return found


# A folder or file name that says it is not the copy handed in: "assignment2_old/", "backup", "hw2 - Copy"
STALE = re.compile(r"(^|[^a-z0-9])(old|older|backup|backups|bak|archive|archived|prev|previous|orig|original|"
                   r"copy|unused|deprecated|draft|scratch|tmp|temp)([^a-z]|$)", re.I)


def _rank(rel: PurePosixPath, staged_as: str):
    """Lower is better: not in a folder named as a stale copy (old/, backup/), inside deeplearning/ or cs231n/,
    right sub-folder, shallow, CS182 name first."""
    parts = rel.parts[:-1]
    stale = any(STALE.search(p) for p in parts)
    in_pkg = any(p in ("deeplearning", "cs231n") for p in parts)
    sub_ok = ("classifiers" in parts) if staged_as.startswith("classifiers/") else ("classifiers" not in parts)
    names = FILES[staged_as].names
    name_rank = names.index(rel.name) if rel.name in names else len(names)
    return (stale, not sub_ok, not in_pkg, name_rank, len(parts), rel.as_posix())


def _read_source(path: Path) -> tuple[str | None, str]:
    """(text, how it was read) of a candidate file, or (None, why it cannot be read)."""
    try:
        if path.stat().st_size > MAX_SOURCE_BYTES:
            raise ValueError(f"larger than {MAX_SOURCE_BYTES // 1024**2} MB")
        return files.decode_source(files.read_regular(path, MAX_SOURCE_BYTES))
    except ValueError as exc:
        return None, str(exc)
    except OSError as exc:
        return None, exc.strerror or str(exc)


# What a student appends to a file's name that does not make it another file: "_final", "-v2", "_done", "2" (only
# these: "_tensorflow", "_old", "_test" name another file)
_VERSION_TAG = re.compile(r"[\s_\-.]*(final|finished|done|complete|completed|submit|submitted|submission|new|"
                          r"latest|fixed|working|mine|solution|solved|answers?|v?\d{1,3})$")


def _near_misses(sources: list[Path], root: Path, names: tuple[str, ...]) -> list[str]:
    """Files whose name is one of ``names`` but for case, a download's " (1)" or " - Copy", or a version tag
    ("rnn_layers_final.py", "network_visualization_v2.py": probe round N, 0/50 for correct code)."""
    want = {n.lower()[:-3] for n in names}
    out = []
    for p in sources:
        if p.suffix.lower() != ".py" or p.name in names:
            continue
        stem = re.sub(r"(\s*\(\d+\)|\s*-\s*copy(\s*\(\d+\))?|\s+copy)$", "", p.stem.lower())
        if stem in want:
            out.append(p.relative_to(root).as_posix())
            continue
        base = next((w for w in want if stem.startswith(w) and len(stem) > len(w)), None)
        tag = stem[len(base):] if base else ""
        if base and _VERSION_TAG.fullmatch(tag):  # a word that says which version, never another track's
            out.append(p.relative_to(root).as_posix())
    return out


def find_student_files(root: Path, template: Path = TEMPLATE
                       ) -> tuple[dict[str, StagedFile], list[str], list[Path], dict[str, str]]:
    """Each student file's copy in the upload at ``root``: the one that implements the most of the file's
    functions (``stubs``: the precheck bundle's starter files, a stale second download lose to the copy the
    student worked in), then the one in the course's folder, shallow, CS182's name first.  Returns the
    staged files, messages, the notebooks, and each readable file's text (decoded as Python reads it)."""
    sources = _walk_sources(root)
    found, messages, texts = {}, [], {}
    for staged_as, spec in FILES.items():
        names = spec.names
        cands = [p for p in sources if p.name in names]
        renamed = False
        if not cands:  # "rnn_layers (1).py" from a second download, "RNN_Layers.py": graded, and said so
            cands = [root / rel for rel in _near_misses(sources, root, names)]
            renamed = bool(cands)
        if not cands:
            found[staged_as] = StagedFile(staged_as)
            continue
        tpl = template / PACKAGE / staged_as
        counter = stubs.Counter(staged_as, tpl.read_text(encoding="utf-8") if tpl.is_file() else "")
        read = {p: _read_source(p) for p in cands}
        written = {p: (counter.count(read[p][0]) if read[p][0] is not None else -1) for p in cands}
        cands.sort(key=lambda p: (written[p] == 0, -max(written[p], 0),
                                  _rank(PurePosixPath(p.relative_to(root).as_posix()), staged_as)))
        best = cands[0]
        rel = best.relative_to(root).as_posix()
        sf = StagedFile(staged_as, rel, "file", written=written[best])
        text, how = read[best]
        if renamed:
            messages.append(f"{staged_as}: graded {rel} as {names[0]}, the course's name for it: rename the file "
                            f"{names[0]} when you hand it in")
        newer = grammar.newer_syntax(text) if text is not None else None
        broken = grammar.syntax_error(text) if text is not None and newer is None else None
        if text is None:
            sf.origin, sf.note = "unreadable", how
        elif newer is not None:  # Gradescope's Python cannot import it: graded so on every machine
            sf.origin, sf.note = "unreadable", grammar.describe(newer)
        elif broken is not None:  # said once, here; the course's starter stands in for it (stage())
            sf.origin, sf.note = "unreadable", broken
        else:
            texts[staged_as] = text
            if how:
                messages.append(f"{staged_as}: {rel} {how}; it is graded as UTF-8 text")
        if len(cands) > 1:
            others = ", ".join(c.relative_to(root).as_posix() for c in cands[1:4])
            why = ""
            if written[best] > 0 and any(written[c] == 0 for c in cands[1:]):
                why = (f" (it implements {written[best]} of the file's functions; "
                       + ", ".join(c.relative_to(root).as_posix() for c in cands[1:] if written[c] == 0)[:300]
                       + " implements none: the course's starter file)")
            if not why and any(read[c][0] != text for c in cands[1:]):
                # two versions of the file, neither the starter: say which one counted, and that they differ
                why = f" (a different version of the file: check that {rel} is the one you meant to hand in)"
            messages.append(f"{staged_as}: used {rel}; also found {others} (ignored){why}")
        found[staged_as] = sf
    notebooks = [p for p in sources if p.suffix == ".ipynb"]
    return found, messages, notebooks, texts


def _torch_file(staged_as: str) -> bool:
    return FILES[staged_as].framework != "tensorflow" and any(QUESTIONS[q].torch for q in questions_of_file(staged_as))


def _course_module(staged_as: str, module: str, level: int) -> tuple[str, ...] | None:
    """The path parts inside the staged package that an import of the course's package (``cs231n.x``,
    ``deeplearning.x``, ``.x``) in ``staged_as`` names; None for a relative import above the package."""
    if level:
        base = ([PACKAGE] + staged_as.split("/")[:-1])
        base = base[: len(base) - (level - 1)] if level > 1 else base
        if not base:
            return None
        return tuple(base[1:] + (module.split(".") if module else []))
    return tuple(module.split(".")[1:])


def _course_module_exists(pkg: Path, staged_as: str, module: str, level: int) -> bool:
    """Whether such an import finds a module of the staged package (the template's provided modules and the
    student's files)."""
    parts = _course_module(staged_as, module, level)
    if parts is None:
        return False
    target = pkg.joinpath(*parts) if parts else pkg
    return target.with_suffix(".py").is_file() or (target / "__init__.py").is_file()


def _graded_names() -> str:
    return ", ".join(n for f in FILES.values() for n in f.names[:1])


def _unavailable_imports(text: str, staged_as: str, pkg: Path, messages: list[str]) -> str:
    """Comment out module-level imports that cannot work here (a package the grading environment
    lacks, a course module this assignment does not have), saying whose line it was."""
    drop = {}
    for node, module, level in rewrite.module_imports(text):
        top = module.split(".")[0]
        if level or top in years.COURSE_PACKAGES:
            if _course_module_exists(pkg, staged_as, module, level):
                continue
            parts = _course_module(staged_as, module, level)
            student = "/".join(parts or ()) + ".py"
            if student in FILES:  # the student's own file, missing or unreadable: said where that file is
                drop.setdefault(node, (f"{FILES[student].shown} is not in your submission or could not be read",
                                       "student file"))
                continue
            what = (f"{('.' * level) + module} is neither a file of the course's package nor one the grader takes "
                    f"from a submission (only the course's files are graded: {_graded_names()}), so a helper "
                    "module of your own is not there: put its code into the graded file that uses it")
        elif years.installed(module):
            continue
        else:
            what = f"the grading environment does not have the package {module if years.installed(top) else top}"
        drop.setdefault(node, (what, ""))
    if not drop:
        return text
    for node, (what, kind) in sorted(drop.items(), key=lambda kv: kv[0].lineno):
        line = rewrite.statement_text(text, node)
        if kind == "student file":
            messages.append(f"{staged_as}: line {node.lineno} `{line}` is skipped: {what} (the checks that need "
                            "it say so)")
        elif years.is_provided_line(staged_as, line):
            messages.append(f"{staged_as}: line {node.lineno} is the course's provided `{line}`, and {what}: "
                            "not your fault (the course staff should fix the grading environment); the line is "
                            "skipped and the rest of your file is graded")
        else:
            messages.append(f"{staged_as}: line {node.lineno} `{line}` cannot run here: {what}; the line is "
                            "skipped so that the rest of your file can be graded (code that uses what it imports "
                            "will fail)")
    return rewrite.comment_out(text, list(drop), "skipped by the grader: not importable here")


def _staged_texts(present: dict, pkg: Path) -> dict[str, str]:
    """staged name -> the text staged for it in ``pkg`` (files that cannot be read as UTF-8 are left out:
    they are graded as they are)."""
    texts = {}
    for staged_as in present:
        try:
            texts[staged_as] = (pkg / staged_as).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
    return texts


def prepare_sources(report: StageReport, pkg: Path) -> None:
    """After the student's files are in ``pkg``: recognise each file's course-year layout, skip
    imports that cannot work in the grading environment, and run GPU-only lines of the PyTorch
    files on the CPU.  Every rewrite keeps the file's line numbers."""
    present = {k: sf for k, sf in report.files.items() if sf.origin in ("file", "notebook")}
    texts = _staged_texts(present, pkg)
    first = {}
    for k, t in texts.items():
        try:
            first[k] = years.detect(k, present[k].source or "", t, notebook=present[k].origin == "notebook")
        except (RecursionError, MemoryError, ValueError):
            first[k] = None
    courses = [lay.course for lay in first.values() if lay is not None]
    hint = max(set(courses), key=courses.count) if courses else None
    for staged_as, text in texts.items():
        sf = present[staged_as]
        try:
            lay = first[staged_as] or years.detect(staged_as, sf.source or "", text, course=hint)
            if lay is not None:
                sf.layout = lay.label
                report.messages.append(f"{staged_as}: recognised the {lay.label} ({lay.path})")
            new = _unavailable_imports(text, staged_as, pkg, report.messages)
            if _torch_file(staged_as):
                new, changes = rewrite.cpu_only(new)
                if changes:
                    report.messages.append(f"{staged_as}: GPU-only lines run on the CPU here (every check runs on "
                                           f"the CPU; your file is unchanged otherwise): {rewrite.summarize(changes)}")
        except (RecursionError, MemoryError, ValueError) as exc:  # a pathological file is graded as it is
            report.messages.append(f"{staged_as}: not prepared ({type(exc).__name__}); graded as submitted")
            continue
        if new != text:
            (pkg / staged_as).write_text(new, encoding="utf-8")


def prepare_tensorflow(report: StageReport, pkg: Path) -> None:
    """The TensorFlow track's files (after prepare_sources): one era for the submission (TF1 graph mode or
    TF2 eager, from all its TensorFlow code together: a style-transfer notebook alone may show none), written
    into each module as ``__tf_era__``; and where the network-visualization code has no step function (TF1:
    the step is part of ``create_class_visualization``), ``class_visualization_update_step`` made of it
    (``grader.course.tf_code.tf1_step_source``).  Lines are only appended: line numbers stay."""
    from grader.course import tf_code
    present = {k: sf for k, sf in report.files.items()
               if sf.origin in ("file", "notebook") and FILES[k].framework == "tensorflow"}
    texts = _staged_texts(present, pkg)
    if not texts:
        return
    try:
        # nothing tells (tensor ops only): a .py file is CS231n 2020's layout (TensorFlow 2), a notebook the
        # CS182 / CS231n 2017-2018 one (TensorFlow 1)
        default = "tf2" if any(present[k].origin == "file" for k in texts) else "tf1"
        era = tf_code.era_of_sources([t for k, t in texts.items() if not present[k].era_evidence], default=default,
                                     extra=[present[k].era_evidence for k in texts if present[k].era_evidence])
    except (RecursionError, MemoryError, ValueError):
        era = "tf1"
    for staged_as, text in texts.items():
        sf = present[staged_as]
        sf.era = era
        extra = []
        if "create_class_visualization" in FILES[staged_as].notebook_functions:
            try:
                names = tf_code.defined_names(text)
                step = (tf_code.tf1_step_source(text) if "create_class_visualization" in names
                        and tf_code.STEP_NAME not in names else None)
            except (RecursionError, MemoryError, ValueError):
                step = None
            if step:
                extra.append("# " + "-" * 60 + " added by the autograder\n" + step)
                report.messages.append(f"{staged_as}: the class-visualization step is graded as written inside "
                                       "create_class_visualization (the statements before its loop, then the step "
                                       "between the jitter and its undo)")
        extra.append(f"__tf_era__ = {era!r}  # added by the autograder: graded as {tf_code.LABELS[era]}\n")
        (pkg / staged_as).write_text(text.rstrip("\n") + "\n\n\n" + "\n".join(extra), encoding="utf-8")


def stage(submission: Path, template: Path = TEMPLATE, workdir: Path | None = None,
          datasets: Path | None = FIXTURES / "coco_synth") -> StageReport:
    """Stage ``submission`` into a fresh folder; the caller removes ``report.stage_dir``."""
    submission = Path(submission)
    if not submission.exists():
        raise StagingError(f"{submission} does not exist; pass a submission folder or a .zip file")
    if not (submission.is_dir() or submission.suffix.lower() == ".zip"):
        raise StagingError(f"{submission.name} is neither a folder nor a .zip; upload your assignment "
                           "folder's files or the zip made by collectSubmission.sh")
    base = Path(tempfile.mkdtemp(prefix="ag-stage-", dir=workdir))
    os.chmod(base, 0o755)
    # Everything is read from a copy of ours: regular files only, never through a link.
    root = base / "upload"
    root.mkdir()
    unpack_messages: list[str] = []
    if submission.is_dir():
        oversize: list[Path] = []
        used = files.copy_tree_regular(submission, root, suffixes=SOURCE_SUFFIXES, max_file=MAX_NOTEBOOK_BYTES,
                                       oversize=oversize)
        for p in oversize:
            rel = p.relative_to(submission)
            if p.suffix.lower() == ".zip":
                # assignment2.zip (datasets and all) left in the folder: its code members are read in place, as
                # an uploaded zip's are (probe round N: a 300 MB one was skipped whole, 0/60 for correct code)
                dest = _folder_for(root / rel)
                dest.mkdir(parents=True)
                try:
                    used += _extract(p, dest, unpack_messages, rel.as_posix(), max(0, MAX_ZIP_BYTES - used))
                except files.ZipUnreadable as exc:
                    unpack_messages.append(f"upload: {rel.as_posix()} was skipped: {exc}")
            else:
                unpack_messages.append(_upload_line(f"{rel.as_posix()}: larger than {MAX_NOTEBOOK_BYTES // 1024**2} "
                                                    "MB (skipped)"))
        unpack_messages += _other_archives(submission)
    else:
        try:
            used = _extract(submission, root, unpack_messages, submission.name, MAX_ZIP_BYTES)
        except files.ZipUnreadable as exc:
            shutil.rmtree(base, ignore_errors=True)
            raise StagingError(f"{exc}; upload a .zip made by collectSubmission.sh or your files directly") from None
        if not any(root.iterdir()) and not unpack_messages:
            unpack_messages.append(f"upload: {submission.name} holds no files (an empty zip): zip your assignment "
                                   "folder again (collectSubmission.sh makes the zip) and upload that")
    _unpack_inner_zips(root, unpack_messages, used)
    found, messages, notebooks, texts = find_student_files(root, template)
    messages += unpack_messages

    stage_dir = base / "stage"
    pkg = stage_dir / PACKAGE
    tpl_pkg = template / PACKAGE
    student_targets = set(FILES)
    for src in sorted(tpl_pkg.rglob("*.py")):
        rel = src.relative_to(tpl_pkg).as_posix()
        if rel in student_targets:
            continue
        dest = pkg / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
    if datasets is not None and datasets.exists():  # training data for the overfit checks (not secret)
        shutil.copytree(datasets, stage_dir / "datasets" / datasets.name)
    report = StageReport(str(stage_dir), found, messages)
    for staged_as, sf in found.items():
        if sf.origin == "file":
            dest = pkg / staged_as
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(texts[staged_as], encoding="utf-8")  # as UTF-8, whatever encoding Python read
    from grader.engine import notebook  # Q3-Q5 code may live only in a notebook
    notebook.fill_from_notebooks(report, root, notebooks, pkg, template=template)
    for staged_as, sf in found.items():
        starter = tpl_pkg / staged_as
        if sf.origin in ("missing", "unreadable") and starter.is_file() and not (pkg / staged_as).exists():
            # The course's starter file in its place: its own tests still say it is missing (StageReport), while
            # another file that imports it (classifiers/rnn.py: from ..rnn_layers import *) imports, and is judged
            # with correct versions of its functions standing in (probe round N: a correct rnn.py lost 19.5
            # points, "No module named deeplearning.rnn_layers ... so the fault is here")
            (pkg / staged_as).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(starter, pkg / staged_as)
    prepare_sources(report, pkg)
    prepare_tensorflow(report, pkg)
    for staged_as, sf in found.items():
        if sf.origin == "missing":
            report.messages.append(f"{staged_as}: no {FILES[staged_as].shown} in the submission")
        elif sf.origin == "unreadable":
            report.messages.append(f"{staged_as}: {sf.source} could not be {_unreadable_verb(sf)} ({sf.note})")

    for p in stage_dir.rglob("*"):
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    os.chmod(stage_dir, 0o755)
    return report
