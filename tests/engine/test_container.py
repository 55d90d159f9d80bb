"""How the grader sees its container: the memory limit and the thrashing watch (grader/sandbox/procs.py),
on made-up cgroup trees and counters.

The full grades inside a memory-limited cgroup (768 MB / half a vCPU: full marks; 512 MB: full marks or
an explicit "out of memory ... not your fault", never a silent deduction) run as deployed, through
run_autograder with the drop to the sandbox user: tests/tools/test_run_autograder.py.
"""
from __future__ import annotations

import pytest

from grader.sandbox import procs


# ---------------------------------------------------------------- ThrashWatch, on made-up counters
MB = 1024**2


@pytest.fixture
def fake_cgroup(tmp_path, monkeypatch):
    """A v1 memory cgroup of 512 MB whose refault counter and clock the test moves: advance(seconds, MB)."""
    d = tmp_path / "memory" / "grader"
    d.mkdir(parents=True)
    (d / "memory.limit_in_bytes").write_text(str(512 * MB))
    page = procs.os.sysconf("SC_PAGE_SIZE")
    state = {"t": 1000.0, "pages": 0}

    def write():
        (d / "memory.stat").write_text(f"total_rss {300 * MB}\ntotal_workingset_refault_file {state['pages']}\n"
                                       "total_workingset_refault_anon 0\n")

    def advance(seconds, refault_mb):
        state["t"] += seconds
        state["pages"] += refault_mb * MB // page
        write()

    write()
    monkeypatch.setattr(procs, "_CGROUP_ROOT", tmp_path)
    monkeypatch.setattr(procs, "_own_cgroup", lambda: (None, d))
    monkeypatch.setattr(procs.time, "monotonic", lambda: state["t"])
    return advance


def _run(watch, advance, seconds, mb_per_s):
    for _ in range(seconds):
        advance(1, mb_per_s)
        if watch.check():
            return True
    return False


def test_thrash_watch_ignores_a_busy_container(fake_cgroup):
    watch = procs.ThrashWatch()
    assert watch.enabled and watch.limit == 512 * MB
    assert watch.check() is None
    # a cold start and bursts, as measured at 768 MB: under 3x the limit in every 30 s
    assert not _run(watch, fake_cgroup, 30, 40)       # 1200 MB in 30 s
    assert not _run(watch, fake_cgroup, 120, 10)
    fake_cgroup(1, 800)                                # one second's burst, then quiet again
    assert not _run(watch, fake_cgroup, 60, 0)


def test_thrash_watch_trips_on_sustained_thrashing_and_stays_tripped(fake_cgroup):
    watch = procs.ThrashWatch()
    assert _run(watch, fake_cgroup, 30, 480)  # 512 MB's measured 480 MB/s
    why = watch.check()
    assert "out of memory" in why and "512 MB" in why and "not your fault" in why
    fake_cgroup(600, 0)
    assert watch.check() == why


def test_thrash_watch_forgets_what_is_older_than_its_window(fake_cgroup):
    watch = procs.ThrashWatch()
    watch.check()
    fake_cgroup(1, 1000)
    assert watch.check() is None
    fake_cgroup(procs.ThrashWatch.WINDOW_S + 5, 0)
    watch.check()
    fake_cgroup(1, 1000)  # 2000 MB refaulted in all, but never more than 1000 MB in one window
    assert watch.check() is None


def test_thrash_watch_is_off_without_refault_counters(fake_cgroup, tmp_path):
    (tmp_path / "memory" / "grader" / "memory.stat").write_text(f"total_rss {300 * MB}\n")
    watch = procs.ThrashWatch()
    assert not watch.enabled and watch.check() is None


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_a_container_without_its_own_cgroup_namespace_still_finds_its_limit(tmp_path, monkeypatch, version):
    """/proc/self/cgroup names the host's path (Docker without cgroupns); the container's /sys/fs/cgroup is
    its own group: the limit and the refault counters are read there."""
    root = tmp_path / "cgroup"
    if version == "v1":
        top = root / "memory"
        top.mkdir(parents=True)
        (top / "memory.limit_in_bytes").write_text(str(768 * MB))
        (top / "memory.stat").write_text(f"total_rss {400 * MB}\ntotal_workingset_refault_file 5\n")
        listed = "4:memory:/docker/0123abcd\n1:cpu,cpuacct:/docker/0123abcd\n"
    else:
        top = root
        top.mkdir()
        (top / "memory.max").write_text(str(768 * MB))
        (top / "memory.stat").write_text(f"anon {400 * MB}\nworkingset_refault_file 5\n")
        listed = "0::/system.slice/docker-0123abcd.scope\n"
    (tmp_path / "self_cgroup").write_text(listed)
    monkeypatch.setattr(procs, "_CGROUP_ROOT", root)
    monkeypatch.setattr(procs, "_PROC_CGROUP", tmp_path / "self_cgroup")
    mem = procs.container_memory()
    assert (mem.limit, mem.used, mem.available) == (768 * MB, 400 * MB, 368 * MB)
    assert procs.ThrashWatch().enabled


# ---------------------------------------------------------------- the staff tool's container (grader/tools/container.py)
def test_container_counts_the_cpu_seconds_of_everything_in_it():
    """`make bench` reports a grade's CPU seconds beside its wall time (they compare across machines): a
    child that burns 0.4 CPU-s in a grandchild, under a quota of half a CPU, is counted whole."""
    import sys

    from grader.tools import container
    why = container.available()
    if why:
        pytest.skip(f"no container here: {why}")
    burn = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.4: pass\n"
    proc, info = container.run([sys.executable, "-c", f"import subprocess, sys; subprocess.run([sys.executable, "
                                f"'-c', {burn!r}], check=True)"], 256, 0.5, cold=False, timeout=60)
    assert proc.returncode == 0
    assert 0.4 <= info["cpu_s"] < 5, info
    assert info["seconds"] >= 0.7, info  # 0.4 CPU-s at half a CPU: the quota held it back
