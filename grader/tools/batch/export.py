"""Reading a Gradescope export: its metadata, its submission folders, and whether it is one at all.

EXPORT is the folder, or the zip of it, that Gradescope's *Assignment → Review
Grades → Export Submissions* gives: ``submission_metadata.yml`` (Ruby-style
keys such as ``:submitters:``) and one folder per submission
(``submission_123456789/``).  Anything else is refused before anything is
graded or written (``BatchError``, exit 2), unless ``--no-metadata`` says to
grade every sub-folder of a plain folder, without names.
"""
from __future__ import annotations

import hashlib
import io
import os
import re
import zipfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import yaml

from grader.engine.files import (IGNORED_DIRS, ZipUnreadable, is_regular, open_regular, safe_extract,
                                 sha256_file)

METADATA_NAMES = ("submission_metadata.yml", "submission_metadata.yaml")
SOURCE_SUFFIXES = (".py", ".ipynb", ".zip")        # what the grader reads from a submission
SKIP_EXTRACT_SUFFIXES = (".h5", ".hdf5", ".npz", ".npy", ".pt", ".pth", ".pkl", ".ckpt")  # data never read
IGNORED = IGNORED_DIRS | {".DS_Store"}
# An export is the staff's own download, but its members are the students' uploads: bounded all the same.
EXPORT_MAX_TOTAL = 50 * 1024**3
EXPORT_MAX_MEMBERS = 2_000_000
EXPORT_MAX_MEMBER = 1024**3
METADATA_MAX_BYTES = 256 * 1024**2
HOW_TO_EXPORT = ("download it from Assignment → Review Grades → Export Submissions, or pass --no-metadata to "
                 "grade every sub-folder")


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
    """A usage problem (printed, exit 2): the command was given something that is not what it expects."""


# ----------------------------------------------------------------------------- metadata
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


def submitters(info: dict) -> tuple[list[str], list[str], list[str]]:
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


def id_key(sid: str):
    return (0, int(sid), "") if sid.isdigit() else (1, 0, sid)


def _parse_or_refuse(text: str, where: str) -> dict[str, dict]:
    try:
        return parse_metadata(text)
    except (yaml.YAMLError, ValueError, RecursionError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise BatchError(f"not a Gradescope export: {where} is not valid submission metadata ({first}); "
                         f"{HOW_TO_EXPORT}") from None


# ----------------------------------------------------------------------------- finding the export
def _visible_dirs(path: Path) -> list[Path]:
    try:
        kids = sorted(path.iterdir())
    except OSError as exc:
        raise BatchError(f"{path} cannot be read ({exc.strerror or exc})") from None
    return [c for c in kids if c.is_dir() and not c.is_symlink() and c.name not in IGNORED
            and not c.name.startswith(".")]


def _has_meta(p: Path) -> bool:
    return any(is_regular(p / n) for n in METADATA_NAMES)


def export_root(path: Path) -> Path:
    """The folder that holds submission_metadata.yml: ``path`` itself or its only sub-folder that has
    one (a zip of the export folder); else ``path``."""
    if _has_meta(path):
        return path
    with_meta = [c for c in _visible_dirs(path) if _has_meta(c)]
    if len(with_meta) == 1:
        return with_meta[0]
    kids = _visible_dirs(path)
    if not any(c.name.startswith("submission_") for c in kids) and len(kids) == 1:
        return kids[0]   # --no-metadata: the zip of a folder of submissions
    return path


def zip_metadata_member(zpath: Path) -> tuple[str | None, int]:
    """(name of the submission_metadata.yml member, at the root or one folder down; number of members).
    BatchError when the file is not a readable zip."""
    try:
        with open_regular(zpath) as f, zipfile.ZipFile(f) as zf:
            names = [i.filename.replace("\\", "/") for i in zf.infolist()]
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
        raise BatchError(f"{zpath} is not a zip file ({exc}); pass the export's folder or the .zip that "
                         "Gradescope's Export Submissions gives") from None
    found = [n for n in names if PurePosixPath(n).name in METADATA_NAMES and len(PurePosixPath(n).parts) <= 2
             and not PurePosixPath(n).parts[0] in IGNORED]
    found.sort(key=lambda n: (len(PurePosixPath(n).parts), n))
    return (found[0] if found else None), len(names)


def validate_export(export: Path, no_metadata: bool) -> None:
    """Refuse (BatchError) what is not a Gradescope export, before anything is written."""
    if not os.path.lexists(export):
        raise BatchError(f"{export} does not exist; pass the folder or .zip from Gradescope's Assignment → "
                         "Review Grades → Export Submissions")
    if export.is_file():
        if export.suffix.lower() != ".zip" and not zipfile.is_zipfile(export):
            raise BatchError(f"{export} is neither a folder nor a zip file; pass the folder or .zip from "
                             "Gradescope's Export Submissions")
        member, count = zip_metadata_member(export)
        if count == 0:
            raise BatchError(f"{export} is an empty zip file; pass the .zip from Gradescope's Export Submissions")
        if member is None and not no_metadata:
            raise BatchError(f"not a Gradescope export: no submission_metadata.yml in {export}; {HOW_TO_EXPORT}")
        if member is not None and not no_metadata:
            with open_regular(export) as f, zipfile.ZipFile(f) as zf:
                info = zf.getinfo(member)
                if info.file_size > METADATA_MAX_BYTES:
                    raise BatchError(f"not a Gradescope export: {member} in {export} is larger than "
                                     f"{METADATA_MAX_BYTES // 1024**2} MB")
                try:
                    text = zf.read(info).decode("utf-8", "replace")
                except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as exc:
                    raise BatchError(f"{export}: {member} cannot be read ({exc})") from None
            _parse_or_refuse(text, f"{member} in {export}")
        return
    if not export.is_dir():
        raise BatchError(f"{export} is neither a folder nor a zip file; pass the folder or .zip from Gradescope's "
                         "Export Submissions")
    root = export_root(export)
    meta = next((root / n for n in METADATA_NAMES if is_regular(root / n)), None)
    if meta is None and not no_metadata:
        raise BatchError(f"not a Gradescope export: no submission_metadata.yml in {export}; {HOW_TO_EXPORT}")
    if meta is not None and not no_metadata:
        try:
            text = meta.read_bytes()[:METADATA_MAX_BYTES + 1].decode("utf-8", "replace")
        except OSError as exc:
            raise BatchError(f"{meta} cannot be read ({exc.strerror or exc})") from None
        _parse_or_refuse(text, str(meta))
    elif not _visible_dirs(root):
        raise BatchError(f"{export} holds no sub-folders to grade; pass the folder or .zip from Gradescope's "
                         "Export Submissions")


def extract_export(zpath: Path, dest: Path) -> list[str]:
    """Unpack an export zip into ``dest`` (links, paths outside it and data files skipped; every
    submission folder kept even when all its files are skipped); returns warnings."""
    try:
        got = safe_extract(zpath, dest, suffixes=None, max_total=EXPORT_MAX_TOTAL, max_members=EXPORT_MAX_MEMBERS,
                           max_member=EXPORT_MAX_MEMBER, skip_suffixes=SKIP_EXTRACT_SUFFIXES, keep_folders=True)
    except ZipUnreadable as exc:
        raise BatchError(f"{zpath}: {exc}") from None
    return [f"{zpath.name}: {s}" for s in got.skipped]


def load_export(path: Path, no_metadata: bool = False) -> tuple[Path, list[Submission], list[str]]:
    """(export root, submissions sorted by id, warnings).  Without metadata (``no_metadata``) every
    sub-folder is a submission, graded without names."""
    warnings = []
    root = export_root(path)
    meta: dict[str, dict] = {}
    meta_file = next((root / n for n in METADATA_NAMES if is_regular(root / n)), None)
    if no_metadata:
        if meta_file is not None:
            warnings.append(f"--no-metadata: {meta_file.name} is not read; every folder is graded, without names")
        meta_file = None
    elif meta_file is None:
        raise BatchError(f"not a Gradescope export: no submission_metadata.yml in {path}; {HOW_TO_EXPORT}")
    else:
        meta = _parse_or_refuse(meta_file.read_text(encoding="utf-8", errors="replace"), str(meta_file))
    folders = {c.name for c in _visible_dirs(root)}
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
            s.names, s.emails, s.sids = submitters(meta[folder])
        elif meta:
            warnings.append(f"{folder} is not in {meta_file.name}: graded without names")
        subs.append(s)
    subs.sort(key=lambda s: id_key(s.id))
    return root, subs, warnings


# ----------------------------------------------------------------------------- one submission's files
def _source_files(path: Path):
    """(relative posix name, path) of every regular .py/.ipynb/.zip file the grader could read."""
    if path.is_file():
        if is_regular(path):
            yield path.name, path
        return
    for dirpath, dirnames, filenames in os.walk(path, followlinks=False):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if d not in IGNORED and not (here / d).is_symlink())
        for fn in sorted(filenames):
            p = here / fn
            if fn.lower().endswith(SOURCE_SUFFIXES) and is_regular(p):
                yield p.relative_to(path).as_posix(), p


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
        for rel, p in _source_files(path):
            h.update(rel.encode() + b"\0" + sha256_file(p).encode() + b"\n")
    return h.hexdigest()


def pack_submission(path: Path, max_file: int = EXPORT_MAX_MEMBER) -> tuple[bytes, list[str]]:
    """The files the grader reads from a submission (its .py, .ipynb and .zip files; never a link),
    as a zip in memory, to send to a remote worker; and what was left out."""
    buf, left_out = io.BytesIO(), []
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=1) as zf:
        for rel, p in _source_files(path):
            try:
                if p.lstat().st_size > max_file:
                    left_out.append(f"{rel}: larger than {max_file // 1024**2} MB")
                    continue
                with open_regular(p) as f:
                    zf.writestr(zipfile.ZipInfo(rel, date_time=(1980, 1, 1, 0, 0, 0)), f.read(),
                                compress_type=zipfile.ZIP_DEFLATED)
            except OSError as exc:
                left_out.append(f"{rel}: {exc.strerror or exc}")
    return buf.getvalue(), left_out
