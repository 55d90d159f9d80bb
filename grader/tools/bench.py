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
DEFAULT_RUBRIC = "cs182_hw2"  # what `grader grade` and run_autograder use unless told otherwise
TARGET_CONTAINER_S = 20.0   # a full grade in Gradescope's default container (768 MB, half a vCPU)
TARGET_BATCH_S = 300.0      # 100 correct submissions, -j 2, this 2-core machine


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
    ap.add_argument("--batch", type=int, default=100, help="submissions in the batch throughput run (0: skip)")
    ap.add_argument("--batch-rubric", default="cs182_hw2")
    ap.add_argument("--cold", action="store_true", help="also time the batch with a fresh process per submission")
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
          f"(default 1); {torch_build()}")
    container_run(args)
    if args.batch:
        batch_run(args)
    return 0


def torch_build() -> str:
    """Which torch the figures are of: PyPI's Linux wheel is the CUDA build (about 3 GB of libraries mapped at
    import, measured with 2.14.1), while setup.sh installs the CPU wheel on Gradescope (version "+cpu")."""
    from importlib import metadata
    try:
        v = metadata.version("torch")
    except metadata.PackageNotFoundError:
        return "torch not installed"
    if "+cpu" in v:
        return f"torch {v} (the CPU build, as setup.sh installs on Gradescope)"
    return (f"torch {v} (not the CPU build that setup.sh installs on Gradescope: a torch worker's start here "
            "reads more libraries and costs more CPU than there)")


def container_run(args) -> None:
    """The same grade in Gradescope's default container (768 MB, half a vCPU, a cold page cache), under the
    shipped default rubric (cs182_hw2, Q1-Q4) and under ``args.rubric``; and at 512 MB (2 CPUs), where the run
    must give full marks or say that the environment ran out of memory (exit 1, "not your fault" on the tests
    it could not run): never a silent deduction."""
    from grader.tools import container
    why = container.available()
    if why:
        print(f"  in a 768 MB / 0.5 CPU container: not measured ({why})")
        return
    runs = [(DEFAULT_RUBRIC, 768, 0.5)] if args.rubric != DEFAULT_RUBRIC else []
    for rubric, memory_mb, cpus in runs + [(args.rubric, 768, 0.5), (args.rubric, 512, 2)]:
        with tempfile.TemporaryDirectory() as tmp:
            out = Path(tmp) / "results.json"
            proc, info = container.run([sys.executable, "-m", "grader", "grade", args.submission, "--rubric",
                                        rubric, "--results", str(out), "--quiet"], memory_mb, cpus, cwd=ROOT,
                                       capture_output=True, text=True)
            res = json.loads(out.read_text()) if out.exists() else None
        score = res["score"] if res else None
        line = (f"  {rubric} in a {memory_mb} MB / {cpus:g} CPU container ({'cold' if info['cold'] else 'warm'} "
                f"page cache): {info['seconds']:.1f} s ({info['cpu_s']:.1f} CPU-s), exit {proc.returncode}, score "
                f"{score}, peak {info['peak_mb']:.0f} MB, OOM kills {info['oom_kills']}")
        if memory_mb == 768:
            line += f"; target <= {TARGET_CONTAINER_S:g} s: {'met' if info['seconds'] <= TARGET_CONTAINER_S else 'NOT met'}"
        else:
            short = [t for t in (res or {}).get("tests", []) if t["score"] < t["max_score"]]
            silent = [t["name"] for t in short if "not your fault" not in t["output"]]
            line += ("; NO results.json" if res is None else
                     "; full marks" if not short else
                     f"; SILENT DEDUCTION on {silent}" if silent or proc.returncode == 0 else
                     "; the tests it could not run say the environment ran out of memory (not the student's "
                     "fault), exit 1")
        print(line, flush=True)


def batch_run(args) -> None:
    """Throughput of `python -m grader batch -j 2` on an export of ``args.batch`` copies of the submission."""
    import shutil
    with tempfile.TemporaryDirectory() as tmp:
        export = Path(tmp) / "export"
        export.mkdir()
        meta = []
        for i in range(args.batch):
            shutil.copytree(Path(args.submission), export / f"submission_{1000 + i}",
                            ignore=shutil.ignore_patterns("__pycache__"))
            meta.append(f"submission_{1000 + i}:\n  :submitters:\n  - :name: Student {i}\n    :email: s{i}@x.edu\n"
                        f"    :sid: '{i}'\n")
        (export / "submission_metadata.yml").write_text("".join(meta))
        for label, env in (("cold", {"AUTOGRADER_BATCH_COLD": "1"}), ("warm", {})):
            if label == "cold" and not args.cold:
                continue
            out = Path(tmp) / f"out-{label}"
            t0 = time.perf_counter()
            proc = subprocess.run([sys.executable, "-m", "grader", "batch", str(export), "--out", str(out), "-j", "2",
                                   "--rubric", args.batch_rubric], cwd=ROOT, env=dict(os.environ, **env),
                                  capture_output=True, text=True)
            wall = time.perf_counter() - t0
            ok = proc.returncode == 0
            print(f"  batch of {args.batch} with {args.batch_rubric}, -j 2, {label} "
                  f"({'a fresh process per submission' if label == 'cold' else 'a warm grader per slot'}): "
                  f"{wall:.0f} s ({wall / args.batch:.1f} s per submission){'' if ok else ' FAILED'}"
                  + (f"; target <= {TARGET_BATCH_S:g} s for 100: {'met' if wall * 100 / args.batch <= TARGET_BATCH_S else 'NOT met'}"
                     if label == "warm" else ""))


if __name__ == "__main__":
    sys.exit(main())
