"""What a worker child may do (worker side: runs in the child, before any student code).

Resource limits: CPU seconds (a backstop; the grader measures each call's CPU
time itself), file size, open files, processes (when running as a separate
user), and memory as ``RLIMIT_DATA`` (heap and private writable mappings: a
clean ``MemoryError`` when exceeded, while shared libraries such as torch's
still load, which an address-space limit would refuse).

File access (Landlock, Linux 5.13+, through the ``py_landlock`` package): read
the Python installation, the staged submission and system libraries; read and
write only the child's own private folder; no TCP network, no execve, no
signals to processes outside the child's own domain (ABI 6+), and no
reading the grader, the reference, the fixtures or the results, whatever the
user.  Each child gets its own nested domain, so children cannot signal each
other, the zygote or the grader.
"""
from __future__ import annotations

import glob
import os
import resource
import signal
import sys


def vm_kb(field: str) -> int:
    """A ``/proc/self/status`` figure (``VmData``, ``VmRSS`` ...) in bytes (0 when unreadable)."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _setlim(which, value):
    try:
        resource.setrlimit(which, (value, value))
    except (ValueError, OSError):
        pass


def apply_limits(limits: dict, data_now: int, separate_user: bool) -> None:
    """``limits``: cpu_s, file_bytes, nproc, memory_bytes (on top of ``data_now``, the data size the
    child inherited from its zygote)."""
    _setlim(resource.RLIMIT_CORE, 0)
    if limits.get("cpu_s"):
        _setlim(resource.RLIMIT_CPU, int(limits["cpu_s"]))
    if limits.get("file_bytes"):
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit fails instead of killing
        _setlim(resource.RLIMIT_FSIZE, int(limits["file_bytes"]))
    if limits.get("memory_bytes"):
        _setlim(resource.RLIMIT_DATA, int(data_now + limits["memory_bytes"]))
    if limits.get("nproc") and separate_user and os.getuid() != 0:
        _setlim(resource.RLIMIT_NPROC, int(limits["nproc"]))  # per user: only meaningful for a user of its own
    _setlim(resource.RLIMIT_NOFILE, 256)


def python_paths() -> list[str]:
    """Folders the interpreter and its packages load from (what student code may read)."""
    out = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    out.update(p for p in sys.path if p and os.path.isdir(p))
    return sorted(p for p in out if os.path.exists(p))


SYSTEM_READ = ("/usr/lib", "/usr/lib64", "/lib", "/lib64", "/usr/local/lib", "/usr/share/zoneinfo",
               "/etc/ld.so.cache", "/etc/localtime", "/etc/passwd", "/etc/group", "/etc/nsswitch.conf",
               # what torch's cpuinfo and NNPACK read when first used in a child
               "/proc/cpuinfo", "/sys/devices/system/cpu")


def landlock_abi() -> int:
    """The kernel's Landlock ABI version, 0 when unavailable."""
    try:
        from py_landlock import get_abi_version
        return int(get_abi_version())
    except Exception:
        return 0


def restrict_files(read: list[str], read_write: list[str], exclude: list[str]) -> None:
    """Enter a new Landlock domain: read ``read`` (minus any folder in ``exclude``: the grader's own
    checkout may contain the Python environment), read and write ``read_write``, nothing else.
    Raises when the kernel cannot enforce it (the caller decides what that means)."""
    from py_landlock import Landlock
    from py_landlock.flags import AccessFs
    ll = Landlock(strict=False)  # best effort on older ABIs: handle what the kernel knows
    gpu = glob.glob("/dev/nvidia*")
    own = [os.path.realpath("/proc/self")]  # this child's own /proc entry, not other processes'
    readable = [p for p in read + list(SYSTEM_READ) + own + (["/proc", "/sys"] if gpu else []) if os.path.exists(p)]
    readable = [p for p in readable if not any(_inside(e, p) for e in exclude)]
    file_read = AccessFs.READ_FILE
    file_rw = AccessFs.READ_FILE | AccessFs.WRITE_FILE | AccessFs.TRUNCATE | AccessFs.IOCTL_DEV
    for p in readable:  # a rule on a file may only carry file rights
        if os.path.isdir(p):
            ll.allow_read(p)
        else:
            ll.add_path_rule(p, access=file_read)
    for p in read_write:
        ll.allow_read_write(p)
    for p in ["/dev/null"] + gpu:
        if os.path.exists(p):
            ll.add_path_rule(p, access=file_rw)
    ll.apply()


def _inside(folder: str, path: str) -> bool:
    """Whether ``folder`` lies inside ``path`` or is it (then allowing ``path`` would expose ``folder``)."""
    folder, path = os.path.realpath(folder), os.path.realpath(path)
    return folder == path or folder.startswith(path.rstrip("/") + "/")
