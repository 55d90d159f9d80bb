"""``python -m grader.tools.spread``: how much the torch-computed fixture values move between machines.

Regenerates fixtures/ under settings that stand for other machines (another CPU's kernels, emulated
with ATEN_CPU_CAPABILITY, ONEDNN_MAX_CPU_ISA and MKL_ENABLE_INSTRUCTIONS; more threads) and prints, per
checked value, the largest drift from the committed fixtures (largest difference over the value's
scale, the measure of the checks), the tolerance the check grades with, and the margin between them.
Every tolerance must keep at least 100x over the spread (``fixtures --check`` allows 1/100 of it).
On a machine with a GPU, also run the GPU-optional checks there (``make bench`` notes the device).
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from grader import fixturegen as fg
from grader.paths import FIXTURES, ROOT

SETTINGS = {
    "this machine": {},
    "2 threads": {"AUTOGRADER_FIXTURE_THREADS": "2", "OMP_NUM_THREADS": "2"},
    "older CPU (no AVX2)": {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41",
                            "MKL_ENABLE_INSTRUCTIONS": "SSE4_2"},
    "older CPU, 2 threads": {"ATEN_CPU_CAPABILITY": "default", "ONEDNN_MAX_CPU_ISA": "SSE41",
                             "MKL_ENABLE_INSTRUCTIONS": "SSE4_2", "AUTOGRADER_FIXTURE_THREADS": "2",
                             "OMP_NUM_THREADS": "2"},
}


def measure(settings: dict, committed: Path = FIXTURES) -> dict[tuple[str, str, str], dict]:
    """(function, part, key) -> {setting: largest drift over the cases}, and the tolerance allowed."""
    out: dict = {}
    for name, env in settings.items():
        with tempfile.TemporaryDirectory(prefix="ag-spread-") as tmp:
            proc = subprocess.run([sys.executable, "-m", "grader", "fixtures", "--out", tmp], cwd=ROOT,
                                  env=dict(os.environ, **env), capture_output=True, text=True)
            if proc.returncode != 0:
                raise SystemExit(f"fixture generation failed under {name}:\n{proc.stderr[-2000:]}")
            for fn, case, part, key, d, lim in fg.value_drifts(committed, Path(tmp)):
                row = out.setdefault((fn, part, key), {"allowed": lim, "drift": {}})
                prev = row["drift"].get(name, 0.0)
                row["drift"][name] = float("nan") if d is None else max(prev, d)
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m grader.tools.spread", description=__doc__)
    ap.add_argument("--only", default=None, help="comma-separated setting names")
    args = ap.parse_args(argv)
    settings = {k: v for k, v in SETTINGS.items() if not args.only or k in args.only.split(",")}
    rows = measure(settings)
    tols = fg.grading_tolerances()
    names = list(settings)
    print(f"{'value':52} {'spread':>9} {'tolerance':>9} {'margin':>8}   " + "  ".join(names))
    worst_margin = float("inf")
    for (fn, part, key), row in sorted(rows.items()):
        spread = max(row["drift"].values())
        if spread == 0 or row["allowed"] == float("inf"):
            continue
        tol = tols.get((fn, key), tols.get(fn, 1e-7))
        margin = tol / spread
        worst_margin = min(worst_margin, margin)
        print(f"{fn + '/' + part + '/' + key:52} {spread:9.1e} {tol:9.0e} {margin:8.0f}   "
              + "  ".join(f"{row['drift'][n]:.1e}" for n in names))
    print(f"smallest margin: {worst_margin:.0f}x (at least {fg.MARGIN}x required)")
    return 0 if worst_margin >= fg.MARGIN else 1


if __name__ == "__main__":
    sys.exit(main())
