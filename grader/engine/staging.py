"""Turn a submission (folder or .zip, any layout) into an importable package.

The staged folder holds ``deeplearning/``: the template's provided modules plus
the student's files, found by name anywhere in the submission.  Student files
missing from the submission are left out, so the checks that need them fail
with a message saying so, and every other check still runs.
"""
from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile
import zipfile
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath

from grader.paths import FIXTURES, PACKAGE, STUDENT_FILES, TEMPLATE

MAX_ZIP_BYTES = 200 * 1024**2   # uncompressed total accepted from one upload
MAX_ZIP_MEMBERS = 20000
MAX_SOURCE_BYTES = 5 * 1024**2   # one .py / .ipynb file
IGNORED_DIRS = {"__MACOSX", ".ipynb_checkpoints", "__pycache__", ".git", ".venv", "venv", "env", ".env",
                "site-packages", "node_modules"}


class StagingError(Exception):
    """The submission cannot be read at all (not a folder, corrupt zip...)."""


@dataclass
class StagedFile:
    staged_as: str
    source: str | None = None       # path inside the submission
    origin: str = "missing"          # "file", "notebook", "missing", "unreadable"
    note: str = ""


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

    def missing_message(self, staged_as: str) -> str | None:
        """Student-facing reason a staged file is absent, or None if it is present."""
        f = self.files.get(staged_as)
        if f is None or f.origin in ("file", "notebook"):
            return None
        names = " or ".join(STUDENT_FILES[staged_as])
        if f.origin == "unreadable":
            return f"{names} could not be read ({f.note}); these checks could not run"
        return f"{names} was not found in your submission; these checks could not run"


def _safe_extract(zpath: Path, dest: Path):
    try:
        zf = zipfile.ZipFile(zpath)
    except (zipfile.BadZipFile, OSError) as exc:
        raise StagingError(f"{zpath.name} is not a readable zip file ({exc}); upload a .zip made by "
                           "collectSubmission.sh or your files directly") from None
    with zf:
        infos = zf.infolist()
        if len(infos) > MAX_ZIP_MEMBERS or sum(i.file_size for i in infos) > MAX_ZIP_BYTES:
            raise StagingError(f"{zpath.name} is too large to grade (over {MAX_ZIP_MEMBERS} files or "
                               f"{MAX_ZIP_BYTES // 1024**2} MB uncompressed); leave data sets out of the upload")
        for info in infos:
            name = PurePosixPath(info.filename.replace("\\", "/"))
            if info.is_dir() or name.is_absolute() or ".." in name.parts:
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                continue  # never follow links out of the upload
            if not name.suffix in (".py", ".ipynb", ".zip"):
                continue
            target = dest.joinpath(*name.parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with zf.open(info) as src, open(target, "wb") as out:
                shutil.copyfileobj(src, out)


def _walk_sources(root: Path) -> list[Path]:
    found = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if d not in IGNORED_DIRS and not d.startswith("."))
        for fn in sorted(filenames):
            if fn.startswith(".") or fn.endswith("-checkpoint.py") or fn.endswith("-checkpoint.ipynb"):
                continue
            p = Path(dirpath) / fn
            try:  # regular files only: a named pipe called rnn_layers.py would block the read forever
                regular = stat.S_ISREG(os.lstat(p).st_mode)
            except OSError:
                regular = False
            if p.suffix in (".py", ".ipynb") and regular:
                found.append(p)
    return found


def _rank(rel: PurePosixPath, staged_as: str):
    """Lower is better: inside deeplearning/ or cs231n/, right sub-folder, shallow, CS182 name first."""
    parts = rel.parts[:-1]
    in_pkg = any(p in ("deeplearning", "cs231n") for p in parts)
    sub_ok = ("classifiers" in parts) if staged_as.startswith("classifiers/") else ("classifiers" not in parts)
    name_rank = STUDENT_FILES[staged_as].index(rel.name)
    return (not sub_ok, not in_pkg, name_rank, len(parts), rel.as_posix())


def find_student_files(root: Path) -> tuple[dict[str, StagedFile], list[str], list[Path]]:
    sources = _walk_sources(root)
    files, messages = {}, []
    for staged_as, names in STUDENT_FILES.items():
        cands = [p for p in sources if p.name in names]
        if not cands:
            files[staged_as] = StagedFile(staged_as)
            continue
        cands.sort(key=lambda p: _rank(PurePosixPath(p.relative_to(root).as_posix()), staged_as))
        best = cands[0]
        rel = best.relative_to(root).as_posix()
        sf = StagedFile(staged_as, rel, "file")
        try:
            if best.stat().st_size > MAX_SOURCE_BYTES:
                raise ValueError(f"larger than {MAX_SOURCE_BYTES // 1024**2} MB")
            best.read_bytes().decode("utf-8")
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            sf.origin, sf.note = "unreadable", (str(exc) if isinstance(exc, ValueError) else
                                                "not UTF-8 text" if isinstance(exc, UnicodeDecodeError) else exc.strerror)
        if len(cands) > 1:
            others = ", ".join(c.relative_to(root).as_posix() for c in cands[1:4])
            messages.append(f"{staged_as}: used {rel}; also found {others} (ignored)")
        files[staged_as] = sf
    notebooks = [p for p in sources if p.suffix == ".ipynb"]
    return files, messages, notebooks


def stage(submission: Path, template: Path = TEMPLATE, workdir: Path | None = None,
          datasets: Path | None = FIXTURES / "coco_synth") -> StageReport:
    """Stage ``submission`` into a fresh folder; the caller removes ``report.stage_dir``."""
    submission = Path(submission)
    if not submission.exists():
        raise StagingError(f"{submission} does not exist; pass a submission folder or a .zip file")
    base = Path(tempfile.mkdtemp(prefix="ag-stage-", dir=workdir))
    os.chmod(base, 0o755)
    root = submission
    if submission.is_file():
        if submission.suffix.lower() != ".zip":
            raise StagingError(f"{submission.name} is neither a folder nor a .zip; upload your assignment "
                               "folder's files or the zip made by collectSubmission.sh")
        root = base / "upload"
        root.mkdir()
        _safe_extract(submission, root)
        # a zip inside the upload (e.g. assignment2.zip uploaded inside a folder zip): unpack it too
        for inner in list(root.rglob("*.zip")):
            try:
                _safe_extract(inner, inner.with_suffix(""))
            except StagingError:
                pass
    elif submission.is_dir():
        inner = min(submission.rglob("*.zip"), default=None)
        if inner is not None:  # e.g. assignment2.zip left inside the uploaded folder: unpack a copy
            root = base / "upload"
            shutil.copytree(submission, root, symlinks=True,
                            ignore=shutil.ignore_patterns(*IGNORED_DIRS, "*.h5", "*.npz", "*.pt", "*.pth"))
            try:
                _safe_extract(inner, (root / inner.relative_to(submission)).with_suffix(""))
            except StagingError:
                pass
    files, messages, notebooks = find_student_files(root)

    stage_dir = base / "stage"
    pkg = stage_dir / PACKAGE
    tpl_pkg = template / PACKAGE
    student_targets = set(STUDENT_FILES)
    for src in sorted(tpl_pkg.rglob("*.py")):
        rel = src.relative_to(tpl_pkg).as_posix()
        if rel in student_targets:
            continue
        dest = pkg / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dest)
    if datasets is not None and datasets.exists():  # training data for the overfit checks (not secret)
        shutil.copytree(datasets, stage_dir / "datasets" / datasets.name)
    report = StageReport(str(stage_dir), files, messages)
    for staged_as, sf in files.items():
        if sf.origin == "file":
            dest = pkg / staged_as
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(root / sf.source, dest)
    from grader.engine import notebook  # Q3-Q5 code may live only in a notebook
    notebook.fill_from_notebooks(report, root, notebooks, pkg, template=template)
    for staged_as, sf in files.items():
        if sf.origin == "missing":
            report.messages.append(f"{staged_as}: no {' or '.join(STUDENT_FILES[staged_as])} in the submission")
        elif sf.origin == "unreadable":
            report.messages.append(f"{staged_as}: {sf.source} could not be read ({sf.note})")
    for p in stage_dir.rglob("*"):
        os.chmod(p, 0o755 if p.is_dir() else 0o644)
    os.chmod(stage_dir, 0o755)
    return report
