"""``make bench``: how fast, and how big, grading a correct submission is.

Grades reference/ under a rubric (default cs231n_a3, all questions) five
times through the real CLI and prints the median wall time, the peak memory
of the whole process tree (grader, zygote and worker children together; PSS,
so pages shared after fork are counted once, as a container's memory limit
counts them), the time per question, and the bare cost of importing torch and
torchvision for comparison.  Targets: <= 10 s wall on this 2-core machine, and
Gradescope's default 768 MB container.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from grader.paths import REFERENCE, ROOT

TARGET_WALL_S = 10.0
TARGET_MEM_MB = 768


def _tree(pid):
    """pid and its descendants, from /proc/<pid>/task/*/children (no scan of all of /proc)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def _mem_kb(pid, field):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class TreeSampler(threading.Thread):
    """Samples the summed PSS and RSS of a process tree every 50 ms; keeps the peaks (MB)."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak_pss, self.peak_rss, self.peak_anon = pid, 0.0, 0.0, 0.0
        self.stop = threading.Event()

    def run(self):
        while not self.stop.is_set():
            pids = _tree(self.pid)
            self.peak_pss = max(self.peak_pss, sum(_mem_kb(p, "Pss") for p in pids) / 1024)
            self.peak_rss = max(self.peak_rss, sum(_mem_kb(p, "Rss") for p in pids) / 1024)
            self.peak_anon = max(self.peak_anon, sum(_mem_kb(p, "Pss_Anon") for p in pids) / 1024)
            time.sleep(0.05)


def measure(cmd, sample=True):
    """(wall seconds, sampler or None, exit code, stderr).  Sampling reads every process's page
    tables (seconds of CPU with torch's mappings), so timed runs are not sampled."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    sampler = TreeSampler(proc.pid) if sample else None
    if sampler:
        sampler.start()
    _, err = proc.communicate()
    wall = time.perf_counter() - t0
    if sampler:
        sampler.stop.set()
        sampler.join()
    return wall, sampler, proc.returncode, err.decode(errors="replace")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m grader.tools.bench", description=__doc__)
    ap.add_argument("--rubric", default="cs231n_a3")
    ap.add_argument("--runs", type=int, default=5, help="timed runs")
    ap.add_argument("--memory-runs", type=int, default=2, help="extra runs that sample memory")
    ap.add_argument("--submission", default=str(REFERENCE))
    args = ap.parse_args(argv)

    walls, pss, rss, anon, per_q, score = [], [], [], [], {}, None
    cmd = [sys.executable, "-m", "grader", "grade", args.submission, "--rubric", args.rubric, "--quiet"]
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "results.json"
        for i in range(args.runs + args.memory_runs):
            timed = i < args.runs
            wall, s, rc, err = measure(cmd + ["--results", str(out)], sample=not timed)
            if rc != 0:
                print(f"grading failed (exit {rc}):\n{err[-2000:]}", file=sys.stderr)
                return 1
            res = json.loads(out.read_text())
            score = (res["score"], sum(t["max_score"] for t in res["tests"]))
            if timed:
                walls.append(wall)
                for t in res["tests"]:
                    q = t["tags"][0]
                    per_q.setdefault(q, [0.0] * args.runs)[i] += t.get("extra_data", {}).get("seconds", 0.0)
                print(f"run {i + 1}: {wall:.2f} s, score {score[0]:g}/{score[1]:g}", flush=True)
            else:
                pss.append(s.peak_pss)
                rss.append(s.peak_rss)
                anon.append(s.peak_anon)
                print(f"memory run {i + 1 - args.runs}: peak PSS {s.peak_pss:.0f} MB (anonymous {s.peak_anon:.0f} MB,"
                      f" RSS summed {s.peak_rss:.0f} MB), {wall:.2f} s while sampled", flush=True)
    imp = [measure([sys.executable, "-c", "import torch, torchvision"]) for _ in range(3)]

    med = statistics.median
    print()
    print(f"grading {Path(args.submission).name} with {args.rubric}: score {score[0]:g}/{score[1]:g}")
    print(f"  wall time, median of {args.runs}: {med(walls):.2f} s (min {min(walls):.2f}, max {max(walls):.2f}); "
          f"target <= {TARGET_WALL_S:g} s: {'met' if med(walls) <= TARGET_WALL_S else 'NOT met'}")
    print(f"  peak memory of grader + workers, median of {args.memory_runs} sampled runs: PSS {med(pss):.0f} MB (RSS summed over processes "
          f"{med(rss):.0f} MB); Gradescope default {TARGET_MEM_MB} MB: "
          f"{'fits' if med(pss) <= TARGET_MEM_MB else 'does NOT fit'}; of which anonymous (not reclaimable) "
          f"{med(anon):.0f} MB")
    print("  time in checks per question (median; the first question also pays the worker start):")
    for q in sorted(per_q):
        print(f"    {q}: {med(per_q[q]):.2f} s")
    print(f"  bare `import torch, torchvision` (median of 3): {med([w for w, *_ in imp]):.2f} s, "
          f"peak PSS {med([s.peak_pss for _, s, *_ in imp]):.0f} MB, anonymous {med([s.peak_anon for _, s, *_ in imp]):.0f} MB")
    print(f"  machine: {os.cpu_count()} CPUs; torch threads per worker: $AUTOGRADER_THREADS "
          f"(default 1)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
