"""Reading what a submission (or an export) holds, and writing the grader's own files, safely.

Grader side, and everything here treats the input as hostile: a path in an
upload may be a symbolic link (to the grader's own files), a named pipe or a
device (a read that never ends), and a zip member may lie about its size, be
corrupt, carry a name too long for the file system, or clash with a folder.
Nothing here follows a link, reads anything but a regular file, or writes
outside the destination; a bad member is skipped with a message and costs
only itself.
"""
from __future__ import annotations

import errno
import hashlib
import io
import os
import re
import shutil
import stat
import tempfile
import tokenize
import zipfile
import zlib
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

# Folders that hold no student code (tools, caches, environments): never searched, never copied.
IGNORED_DIRS = frozenset({"__MACOSX", ".ipynb_checkpoints", "__pycache__", ".git", ".venv", "venv", "env",
                          ".env", "site-packages", "node_modules"})


def is_regular(path: Path) -> bool:
    """A plain file, not a link, named pipe, socket or device (opening those may block or leave the upload)."""
    try:
        return stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def open_regular(path: Path):
    """Open ``path`` for reading only if it is a regular file and not a link (no race between check and open)."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0))
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_regular(path: Path, limit: int) -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes (ValueError when larger)."""
    with open_regular(path) as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ValueError(f"larger than {limit // 1024**2} MB")
    return data


_CODING_LINE = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*[-\w.]+")


def decode_source(data: bytes) -> tuple[str, str]:
    """A Python file's bytes as the import system reads them, made into UTF-8-ready text: (text, how).

    ``how`` is "" for plain UTF-8, else what was done (a clause: "was read as gbk, ..."), for the report.
    A byte-order mark is dropped, a PEP 263 declaration (``# -*- coding: latin-1 -*-``) is honoured and then
    made a plain comment (the text is staged as UTF-8); bytes that are not UTF-8 only in comments (Python
    imports such a file) become U+FFFD.  Raises ValueError, saying what to do, where Python itself could not read the file.
    Line numbers never change."""
    try:
        enc, first = tokenize.detect_encoding(io.BytesIO(data).readline)
    except SyntaxError as exc:
        if "unknown encoding" in str(exc):  # the declaration names a codec Python does not have
            raise ValueError(f"{exc}; save the file as UTF-8") from None
        enc, first = "utf-8", []  # no declaration, and the first lines are not UTF-8: decided below
    how = []
    if data.startswith(b"\xef\xbb\xbf"):
        data, how = data[3:], ["starts with a UTF-8 byte-order mark (dropped)"]
    declared = any(_CODING_LINE.match(line) for line in first)
    try:
        text = data.decode("utf-8" if enc == "utf-8-sig" else enc)
    except UnicodeDecodeError as exc:
        line = data[:exc.start].count(b"\n") + 1
        try:
            compile(data, "<submission>", "exec", dont_inherit=True)
        except (SyntaxError, ValueError):
            raise ValueError(f"byte 0x{data[exc.start]:02x} on line {line} is not {enc.upper()} text"
                             + ("" if declared else " and the file declares no other encoding")
                             + ": save the file as UTF-8") from None
        except (RecursionError, MemoryError):
            pass
        text = data.decode("utf-8", "replace")
        how.append(f"has bytes that are not UTF-8 in its comments (from line {line}; read as U+FFFD)")
    if declared and enc not in ("utf-8", "utf-8-sig"):
        lines = text.split("\n")
        for i in range(min(2, len(lines))):
            if _CODING_LINE.match(lines[i].encode("utf-8", "replace")):
                lines[i] = "# (an encoding declaration: the grader read this file as " + enc + ")"
        text = "\n".join(lines)
        how.append(f"was read as {enc}, as its encoding declaration says")
    return text, "; ".join(how)


def sha256_file(path: Path) -> str:
    """sha256 of a regular file ("" for anything else, or when it cannot be read)."""
    h = hashlib.sha256()
    try:
        with open_regular(path) as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
    except OSError:
        return ""
    return h.hexdigest()


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so a reader sees the old file or the new one, never half of one."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}-", dir=str(path.parent))
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


@dataclass
class Extracted:
    """What ``safe_extract`` wrote, and what it skipped and why (student-facing lines)."""
    files: list[Path] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    bytes: int = 0


class ZipUnreadable(Exception):
    """The zip as a whole cannot be opened; ``str()`` says why."""


def _make_dirs(dest: Path, parts: tuple[str, ...]) -> Path:
    """Create dest/parts[0]/.../parts[-1] one level at a time, refusing anything that is not a real folder."""
    cur = dest
    for part in parts:
        cur = cur / part
        try:
            os.mkdir(cur, 0o755)
        except FileExistsError:
            if not stat.S_ISDIR(os.lstat(cur).st_mode):
                raise OSError(errno.ENOTDIR, "a file of that name is already there", str(cur)) from None
    return cur


def safe_extract(zpath: Path, dest: Path, *, suffixes: tuple[str, ...] | None, max_total: int,
                 max_members: int, max_member: int, skip_suffixes: tuple[str, ...] = (),
                 keep_folders: bool = False) -> Extracted:
    """Extract the members of ``zpath`` whose name ends with one of ``suffixes`` (all when None) into
    ``dest`` (an empty folder the caller made).

    Never writes through a link or outside ``dest``, never trusts a member's declared size (at most
    ``max_member`` bytes each and ``max_total`` in all are read), and skips, with a reason, members that
    are links, corrupt, too large, badly named or that clash with another member.  Raises
    ``ZipUnreadable`` when the zip itself cannot be read or holds more than ``max_members`` entries."""
    out = Extracted()
    total = 0
    try:
        f = open_regular(zpath)
    except OSError as exc:
        raise ZipUnreadable(f"{zpath.name} could not be opened ({exc.strerror or exc})") from None
    try:
        try:
            zf = zipfile.ZipFile(f)
        except (zipfile.BadZipFile, OSError, ValueError, EOFError) as exc:
            raise ZipUnreadable(f"{zpath.name} is not a readable zip file ({exc})") from None
        with zf:
            infos = zf.infolist()
            if len(infos) > max_members:
                raise ZipUnreadable(f"{zpath.name} holds {len(infos)} entries, more than the {max_members} "
                                    "accepted")
            # a name the zip holds twice (a file added again to an existing zip): the last copy is the file,
            # as unzip and Python's zipfile read it
            last = {tuple(p for p in PurePosixPath(i.filename.replace("\\", "/")).parts if p not in ("", ".")): k
                    for k, i in enumerate(infos)}
            for k, info in enumerate(infos):
                raw = info.filename.replace("\\", "/")
                name = PurePosixPath(raw)
                parts = tuple(p for p in name.parts if p not in ("", "."))
                if last.get(parts) != k and not info.is_dir():
                    out.skipped.append(f"{raw}: an earlier copy of a file the zip holds twice (the last copy is "
                                       "used, as unzip does)")
                    continue
                if not parts or name.is_absolute() or ".." in parts:
                    if not info.is_dir():
                        out.skipped.append(f"{raw}: a path outside the zip's folder (skipped)")
                    continue
                if info.is_dir():
                    if keep_folders:
                        try:
                            _make_dirs(dest, parts)
                        except OSError as exc:
                            out.skipped.append(f"{raw}/: {exc.strerror or exc} (skipped)")
                    continue
                if stat.S_ISLNK(info.external_attr >> 16):
                    out.skipped.append(f"{raw}: a symbolic link (links are never followed; skipped)")
                    continue
                low = parts[-1].lower()
                if skip_suffixes and low.endswith(skip_suffixes):
                    if keep_folders:
                        try:
                            _make_dirs(dest, parts[:-1])
                        except OSError:
                            pass
                    continue
                if suffixes is not None and not low.endswith(suffixes):
                    continue
                try:
                    folder = _make_dirs(dest, parts[:-1])
                    target = folder / parts[-1]
                    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
                except OSError as exc:
                    why = ("its name is too long" if exc.errno == errno.ENAMETOOLONG else
                           "another file or folder of that name is already there"
                           if exc.errno in (errno.EEXIST, errno.ENOTDIR, errno.EISDIR) else exc.strerror or str(exc))
                    out.skipped.append(f"{raw}: {why} (skipped)")
                    continue
                written, problem = 0, None
                try:
                    with os.fdopen(fd, "wb") as dst, zf.open(info) as src:
                        while True:
                            chunk = src.read(1 << 16)
                            if not chunk:
                                break
                            written += len(chunk)
                            if written > max_member or total + written > max_total:
                                problem = (f"larger than {max_member // 1024**2} MB" if written > max_member else
                                           f"the upload is over {max_total // 1024**2} MB uncompressed")
                                break
                            dst.write(chunk)
                except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, zlib.error,
                        NotImplementedError, RuntimeError, MemoryError) as exc:
                    problem = f"it could not be read ({type(exc).__name__}: {exc})"
                if problem:
                    out.skipped.append(f"{raw}: {problem} (skipped)")
                    try:
                        os.unlink(target)
                    except OSError:
                        pass
                    continue
                total += written
                out.files.append(target)
    finally:
        f.close()
    out.bytes = total
    return out


def copy_tree_regular(src: Path, dest: Path, *, suffixes: tuple[str, ...] | None = None,
                      skip_dirs=IGNORED_DIRS, max_file: int | None = None, skipped: list | None = None,
                      oversize: list | None = None) -> int:
    """Copy the regular files of ``src`` (never links, pipes or devices; not into ignored folders; none
    over ``max_file`` bytes: each of those is named in ``skipped``, or listed in ``oversize`` when given,
    for the caller to read in place) to ``dest``; returns the bytes copied."""
    copied = 0
    for dirpath, dirnames, filenames in os.walk(src, followlinks=False):
        here = Path(dirpath)
        dirnames[:] = sorted(d for d in dirnames if d not in skip_dirs and not (here / d).is_symlink())
        for fn in sorted(filenames):
            p = here / fn
            if (suffixes is not None and not fn.lower().endswith(suffixes)) or not is_regular(p):
                continue
            if max_file is not None and p.lstat().st_size > max_file:
                if oversize is not None:
                    oversize.append(p)
                elif skipped is not None:
                    skipped.append(f"{p.relative_to(src).as_posix()}: larger than {max_file // 1024**2} MB (skipped)")
                continue
            target = dest / p.relative_to(src)
            target.parent.mkdir(parents=True, exist_ok=True)
            try:
                with open_regular(p) as fin, open(target, "wb") as fout:
                    shutil.copyfileobj(fin, fout)
                copied += target.stat().st_size
            except OSError:
                continue
    return copied
