"""Run a command as in a small container: a memory limit and a CPU quota, through the kernel's cgroups.

Staff and test tool (needs root and a writable cgroup hierarchy, v1 at /sys/fs/cgroup/{memory,cpu} or
v2 at /sys/fs/cgroup): ``make bench`` grades inside Gradescope's default 768 MB / half a vCPU this
way, and the tests check that a memory-starved container gets either full marks or an explicit
environment error, never a silent deduction.
"""
from __future__ import annotations

import os
import subprocess
import time
import uuid
from pathlib import Path

CG = Path("/sys/fs/cgroup")


class Unavailable(Exception):
    """This machine cannot make such a container (not root, or no writable cgroup); ``str()`` says why."""


def _v2() -> bool:
    return (CG / "cgroup.controllers").exists()


def available() -> str | None:
    """None when a container can be made here, else why not."""
    if os.getuid() != 0:
        return "needs root (cgroups)"
    if _v2():
        return None if os.access(CG, os.W_OK) else "cgroup v2 is not writable"
    for c in ("memory", "cpu"):
        if not os.access(CG / c, os.W_OK):
            return f"cgroup v1 {c} controller is not writable"
    return None


def drop_page_cache() -> bool:
    """Start cold, as a fresh container does (False where the kernel does not allow it)."""
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def run(cmd: list[str], memory_mb: int, cpus: float, cold: bool = True, timeout: float = 900,
        **popen) -> tuple[subprocess.CompletedProcess, dict]:
    """Run ``cmd`` in a new cgroup of ``memory_mb`` MB and ``cpus`` CPUs; returns the process and what the
    cgroup saw: {"peak_mb", "oom_kills", "seconds", "cold", "cpu_s"} (cpu_s: CPU seconds of every process in
    it, which unlike the wall time compares across machines; 0.0 where the kernel does not count them)."""
    why = available()
    if why:
        raise Unavailable(why)
    name = f"ag-{uuid.uuid4().hex[:10]}"
    period = 100_000
    if _v2():
        d = CG / name
        d.mkdir()
        (d / "memory.max").write_text(str(memory_mb * 1024**2))
        if (d / "memory.swap.max").exists():
            (d / "memory.swap.max").write_text("0")
        (d / "cpu.max").write_text(f"{int(cpus * period)} {period}")
        dirs = [d]
    else:
        m, c = CG / "memory" / name, CG / "cpu" / name
        m.mkdir()
        c.mkdir()
        (m / "memory.limit_in_bytes").write_text(str(memory_mb * 1024**2))
        (c / "cpu.cfs_period_us").write_text(str(period))
        (c / "cpu.cfs_quota_us").write_text(str(int(cpus * period)))
        dirs = [m, c]
        if not (c / "cpuacct.usage").exists() and os.access(CG / "cpuacct", os.W_OK):  # cpuacct mounted apart
            (CG / "cpuacct" / name).mkdir()
            dirs.append(CG / "cpuacct" / name)
    procs_files = [str(d / "cgroup.procs") for d in dirs]

    def enter():
        for f in procs_files:
            with open(f, "w") as fh:
                fh.write(str(os.getpid()))

    cold = drop_page_cache() if cold else False
    t0 = time.time()
    try:
        proc = subprocess.run(cmd, preexec_fn=enter, timeout=timeout, **popen)
        seconds = time.time() - t0
        info = {"seconds": seconds, "cold": cold}
        if _v2():
            info["peak_mb"] = _int(dirs[0] / "memory.peak") / 1024**2
            info["oom_kills"] = _kv(dirs[0] / "memory.events").get("oom_kill", 0)
            info["cpu_s"] = _kv(dirs[0] / "cpu.stat").get("usage_usec", 0) / 1e6
        else:
            info["peak_mb"] = _int(dirs[0] / "memory.max_usage_in_bytes") / 1024**2
            info["oom_kills"] = _kv(dirs[0] / "memory.oom_control").get("oom_kill", 0)
            usage = [d / "cpuacct.usage" for d in dirs[1:] if (d / "cpuacct.usage").exists()]
            info["cpu_s"] = _int(usage[0]) / 1e9 if usage else 0.0
        return proc, info
    finally:
        for d in dirs:
            for _ in range(50):
                try:
                    d.rmdir()
                    break
                except OSError:  # a process is still leaving the group
                    for pid in _pids(d):
                        try:
                            os.kill(pid, 9)
                        except OSError:
                            pass
                    time.sleep(0.1)


def _pids(d: Path) -> list[int]:
    try:
        return [int(x) for x in (d / "cgroup.procs").read_text().split()]
    except (OSError, ValueError):
        return []


def _int(p: Path) -> int:
    try:
        return int(p.read_text().strip())
    except (OSError, ValueError):
        return 0


def _kv(p: Path) -> dict[str, int]:
    out = {}
    try:
        for line in p.read_text().splitlines():
            k, _, v = line.partition(" ")
            if v.strip().isdigit():
                out[k] = int(v)
    except OSError:
        pass
    return out
