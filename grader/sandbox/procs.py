"""Processes and the container, as the grader sees them (grader side).

- ``become_subreaper``: orphans of this process's descendants (a student's
  double-forked or ``setsid`` daemon) are re-parented here instead of to init,
  so ``sweep`` finds and kills them: nothing a submission starts outlives the
  run, or even the check that started it.
- ``kill_tree``: stop a process and everything under it, freezing the tree
  first so nothing forks away while it is being killed.
- ``container_memory``: the memory limit of the cgroup this process runs in
  (v2 ``memory.max`` or v1 ``memory.limit_in_bytes``), what it uses now, and
  how often the kernel's OOM killer has fired in it, so a worker killed for the
  container's lack of memory is told apart from a student's crash.
- ``ThrashWatch``: whether the container is thrashing (re-reading from disk the
  pages it just evicted), the other way a container too small for torch shows:
  no OOM kill, only a run that crawls for many minutes.
"""
from __future__ import annotations

import ctypes
import os
import signal
import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36
_CGROUP_ROOT = Path("/sys/fs/cgroup")
_PROC_CGROUP = Path("/proc/self/cgroup")


def become_subreaper() -> bool:
    """Make this process the reaper of its descendants' orphans (Linux); False where unsupported."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _stat(pid: int) -> tuple[int, str] | None:
    """(parent pid, start time) of ``pid``, or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return int(fields[1]), fields[19]
    except (OSError, IndexError, ValueError):
        return None


def proc_table() -> dict[int, tuple[int, str]]:
    """pid -> (parent pid, start time) of every process /proc shows."""
    table = {}
    try:
        entries = os.listdir("/proc")
    except OSError:
        return table
    for entry in entries:
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None:
                table[int(entry)] = st
    return table


def descendants(pid: int, table: dict | None = None) -> dict[int, str]:
    """{pid: start time} of every descendant of ``pid``."""
    table = proc_table() if table is None else table
    kids: dict[int, list[int]] = {}
    for p, (ppid, _) in table.items():
        kids.setdefault(ppid, []).append(p)
    out, todo = {}, list(kids.get(pid, []))
    while todo:
        p = todo.pop()
        if p not in out and p in table:
            out[p] = table[p][1]
            todo += kids.get(p, [])
    return out


def _signal_all(pids, sig) -> None:
    for p in pids:
        try:
            os.kill(p, sig)
        except OSError:
            pass


def kill_all(pids: dict[int, str]) -> None:
    """SIGKILL the processes ``pids`` ({pid: start time}) and all their descendants, freezing them first
    (SIGSTOP) and looking again until no new process appears, so none can fork away."""
    tree = dict(pids)
    for _ in range(8):
        table = proc_table()
        live = {p: st for p, st in tree.items() if p in table and table[p][1] == st}  # same pid, same process
        _signal_all(live, signal.SIGSTOP)
        table = proc_table()
        more = {}
        for p in live:
            more.update(descendants(p, table))
        tree = {**live, **more}
        if not set(more) - set(live):
            break
    _signal_all(tree, signal.SIGKILL)
    _reap(tree)


def _reap(pids) -> None:
    """Collect the exit status of those of ``pids`` that are our children (orphans re-parented to us)."""
    for p in pids:
        try:
            os.waitpid(p, os.WNOHANG)
        except (ChildProcessError, OSError):
            pass


def sweep(keep: set[int]) -> int:
    """Kill every descendant of this process that is not in ``keep`` or under it; returns how many trees
    were killed.  With ``become_subreaper`` this catches daemons whose parents already exited."""
    me = os.getpid()
    table = proc_table()
    mine = {p: st for p, (ppid, st) in table.items() if ppid == me and p not in keep}
    if mine:
        kill_all(mine)
    return len(mine)


def kill_tree(pid: int, grace: float = 0.0, first: int = signal.SIGKILL) -> None:
    """Stop ``pid`` and everything under it.  With ``grace``, send ``first`` (e.g. SIGINT) and give the
    process that long to stop its own children and clean up, then SIGKILL what is left."""
    tree = descendants(pid)
    st = _stat(pid)
    if grace and st is not None:
        try:
            os.kill(pid, first)
        except OSError:
            pass
        end = time.monotonic() + grace
        while time.monotonic() < end and _stat(pid) is not None and not _zombie(pid):
            time.sleep(0.05)
    if st is not None:
        tree[pid] = st[1]
    kill_all(tree)


def _zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return True


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU seconds used by ``pid`` (all its threads), or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


# ------------------------------------------------------------------ the container's memory
@dataclass
class Memory:
    limit: int | None      # bytes the cgroup may use (None: no limit we can see)
    used: int | None       # anonymous bytes its processes hold now: what the kernel cannot drop to make room.
    #                        Mapped library pages are left out: they are reclaimable, and how many are resident
    #                        swings with the pressure (6 to 250 MB measured in one 768 MB run), which made the
    #                        budget swing with it.
    oom_kills: int | None  # times the OOM killer fired in it (None: not reported)

    @property
    def available(self) -> int | None:
        if self.limit is None or self.used is None:
            return None
        return max(0, self.limit - self.used)


def _read_int(path: Path) -> int | None:
    try:
        text = path.read_text().strip()
    except OSError:
        return None
    if text == "max":
        return None
    try:
        return int(text)
    except ValueError:
        return None


def _own_cgroup() -> tuple[Path | None, Path | None]:
    """(v2 folder, v1 memory folder) of this process's cgroup, where mounted.

    A container without a cgroup namespace of its own (Docker on cgroup v1, or v2 before cgroupns) lists
    the host's path in /proc/self/cgroup, while its /sys/fs/cgroup is its own group: where the listed path
    is not mounted, the mount's top folder is the group."""
    v2 = v1 = None
    try:
        lines = _PROC_CGROUP.read_text().splitlines()
    except OSError:
        return None, None
    for line in lines:
        parts = line.split(":", 2)
        if len(parts) != 3:
            continue
        _, controllers, rel = parts
        rel = rel.lstrip("/")
        if controllers == "":
            for cand in (_CGROUP_ROOT / rel, _CGROUP_ROOT):  # a host's root group has no memory.max
                if (cand / "memory.max").exists() or (cand / "memory.current").exists():
                    v2 = cand
                    break
        elif "memory" in controllers.split(","):
            bases = (_CGROUP_ROOT / "memory", _CGROUP_ROOT / "memory,cpu", _CGROUP_ROOT)
            v1 = next((b / rel for b in bases if (b / rel / "memory.limit_in_bytes").exists()),
                      next((b for b in bases if (b / "memory.limit_in_bytes").exists()), None))
    return v2, v1


_NO_LIMIT = 1 << 60  # v1 reports "unlimited" as a huge number


def container_memory(groups: tuple[Path | None, Path | None] | None = None) -> Memory:
    """The memory situation of this process's cgroup (everything None where there is no cgroup to read);
    ``groups``: ``_own_cgroup()``'s answer, when the caller already has it.

    The nearest limit up the hierarchy counts (a container's limit is often set on a parent)."""
    v2, v1 = groups or _own_cgroup()
    if v2 is not None:
        limit, d = None, v2
        while d != _CGROUP_ROOT.parent and str(d).startswith(str(_CGROUP_ROOT)):
            lim = _read_int(d / "memory.max")
            if lim is not None:
                limit = lim if limit is None else min(limit, lim)
            if d == _CGROUP_ROOT:
                break
            d = d.parent
        events = _kv(v2 / "memory.events")
        st = _kv(v2 / "memory.stat")
        used = st["anon"] if "anon" in st else _read_int(v2 / "memory.current")
        return Memory(limit, used, events.get("oom_kill"))
    if v1 is not None:
        limit, d = None, v1
        while str(d).startswith(str(_CGROUP_ROOT)) and (d / "memory.limit_in_bytes").exists():
            lim = _read_int(d / "memory.limit_in_bytes")
            if lim is not None and lim < _NO_LIMIT:
                limit = lim if limit is None else min(limit, lim)
            d = d.parent
        ctl = _kv(v1 / "memory.oom_control")
        st = _kv(v1 / "memory.stat")
        used = st["total_rss"] if "total_rss" in st else _read_int(v1 / "memory.usage_in_bytes")
        return Memory(limit, used, ctl.get("oom_kill"))
    return Memory(None, None, None)


def _kv(path: Path) -> dict[str, int]:
    out = {}
    try:
        for line in path.read_text().splitlines():
            k, _, v = line.partition(" ")
            if v.strip().lstrip("-").isdigit():
                out[k] = int(v)
    except OSError:
        pass
    return out


def _refaulted_bytes(v2: Path | None, v1: Path | None) -> int | None:
    """Bytes the cgroup has read back from disk soon after evicting them (the kernel's workingset refaults,
    file and anonymous pages, of the cgroup and everything under it), or None where not reported."""
    if v2 is not None:
        st, keys = _kv(v2 / "memory.stat"), ("workingset_refault_file", "workingset_refault_anon")
    elif v1 is not None:
        st, keys = _kv(v1 / "memory.stat"), ("total_workingset_refault_file", "total_workingset_refault_anon")
    else:
        return None
    if not any(k in st for k in keys):
        return None
    return sum(st.get(k, 0) for k in keys) * os.sysconf("SC_PAGE_SIZE")


class ThrashWatch:
    """Tells a container too small for the run apart from one that is merely busy.

    When the processes' anonymous memory nearly fills the limit, the kernel keeps evicting the libraries'
    code pages (torch's are hundreds of MB) and reading them back at once: no OOM kill, just a run that
    takes many minutes.  ``check()`` (cheap; it samples at most once a second) returns a message when, within
    the last ``WINDOW_S`` seconds, the cgroup re-read more than ``FACTOR`` times its whole limit.

    Measured here (reference/, cs231n_a3, torch's CUDA build on the CPU), the most refaulted in any 30 s:
    768 MB / 0.5 CPU, cold page cache (full marks in ~50 s), three runs: 0.49 to 0.68 GB, at most 0.88x the
    limit; 512 MB / 2 CPUs (thrashing; unfinished after 6 min without this watch): 1.1 GB within its first
    9 s, then about 480 MB/s, 28x the limit per 30 s.  3x leaves 3.4x over the first, and trips about 13 s
    into the second.  On a disk so slow that thrashing re-reads less than 3x the limit in 30 s (51 MB/s at
    512 MB), the run's own time budget still ends it.
    """
    WINDOW_S = 30.0
    FACTOR = 3.0

    def __init__(self):
        self._v2, self._v1 = _own_cgroup()
        self.limit = container_memory((self._v2, self._v1)).limit
        self._samples: deque = deque()
        self._last = 0.0
        self.tripped: str | None = None
        self.enabled = self.limit is not None and _refaulted_bytes(self._v2, self._v1) is not None

    def check(self) -> str | None:
        """None, or (from then on) why the container cannot run the grader."""
        if self.tripped or not self.enabled:
            return self.tripped
        now = time.monotonic()
        if now - self._last < 1.0:
            return None
        self._last = now
        refaulted = _refaulted_bytes(self._v2, self._v1)
        if refaulted is None:
            return None
        self._samples.append((now, refaulted))
        while now - self._samples[0][0] > self.WINDOW_S:
            self._samples.popleft()
        t0, r0 = self._samples[0]
        if refaulted - r0 > self.FACTOR * self.limit:
            mb = 1024**2
            self.tripped = (f"the grading environment is out of memory: in {now - t0:.0f} s the container "
                            f"(limit {self.limit // mb} MB) had to read {(refaulted - r0) // mb} MB of its "
                            "own evicted pages back from disk (thrashing), so the grader stopped rather than "
                            "crawl for many minutes; not your fault (course staff: give the autograder more "
                            "memory, at least 768 MB)")
        return self.tripped
