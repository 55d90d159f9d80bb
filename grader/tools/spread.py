"""``python -m grader.tools.spread``: how much the torch-computed fixture values move between machines.

Regenerates fixtures/ under settings that stand for other machines (another CPU's kernels, emulated
with ATEN_CPU_CAPABILITY, ONEDNN_MAX_CPU_ISA and MKL_ENABLE_INSTRUCTIONS; more threads) and prints, per
checked value, the largest drift from the committed fixtures (largest difference over the value's
scale, the measure of the checks), the tolerance the check grades with, and the margin between them.
Every tolerance must keep at least 100x over the spread (``fixtures --check`` allows 1/100 of it).
On a machine with a GPU, also run the GPU-optional checks there (``make bench`` notes the device).

A GPU's TF32 arithmetic is emulated on the CPU (``--tf32``): every float32 operand of a matrix product or a
convolution, forward and backward, rounded to TF32's 10-bit mantissa (round to nearest, ties away, as the
tensor cores' conversion does), accumulation in float32.  It is printed apart, with the margin the
tolerances would keep if TF32 were on: the worker switches it off (grader/sandbox/worker.py), so it is not
part of the spread the 100x applies to.
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


TF32 = "GPU TF32 (emulated)"


def _tf32_round(t):
    """float32 ``t`` rounded to TF32 (10 mantissa bits; round to nearest, ties away from zero)."""
    import torch
    bits = t.contiguous().view(torch.int32)
    return ((bits + 0x1000) & -0x2000).view(torch.float32).reshape(t.shape)


def _generate_with_tf32(out: str) -> None:
    """Generate the fixtures into ``out`` with TF32 emulated (see the module's docstring)."""
    import torch
    from torch.utils._python_dispatch import TorchDispatchMode
    aten = torch.ops.aten
    ops = {aten.mm.default, aten.bmm.default, aten.addmm.default, aten.baddbmm.default, aten.addbmm.default,
           aten.convolution.default, aten.convolution_backward.default}

    class TF32(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if func in ops:
                args = tuple(_tf32_round(a) if isinstance(a, torch.Tensor) and a.dtype == torch.float32 else a
                             for a in args)
            return func(*args, **(kwargs or {}))

    # The generator's own checks of float32 against float64 (its asserts: this runs under -O; the GAN oracle's
    # check) would stop at the first value TF32 moves: that movement is what is measured here
    from grader.fixturegen import gan
    gan._check_oracle = lambda *a, **k: None
    with TF32():
        fg.generate(Path(out))


def measure(settings: dict, committed: Path = FIXTURES) -> dict[tuple[str, str, str], dict]:
    """(function, part, key) -> {setting: largest drift over the cases}, and the tolerance allowed."""
    out: dict = {}
    for name, env in settings.items():
        with tempfile.TemporaryDirectory(prefix="ag-spread-") as tmp:
            cmd = [sys.executable, "-m", "grader", "fixtures", "--out", tmp] if name != TF32 else [
                sys.executable, "-O", "-c", "import sys; from grader.tools.spread import _generate_with_tf32; "
                "_generate_with_tf32(sys.argv[1])", tmp]
            proc = subprocess.run(cmd, cwd=ROOT, env=dict(os.environ, **env), capture_output=True, text=True)
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
    ap.add_argument("--tf32", action="store_true", help=f"also the column {TF32!r} (see above)")
    args = ap.parse_args(argv)
    settings = {k: v for k, v in SETTINGS.items() if not args.only or k in args.only.split(",")}
    if args.tf32:
        settings[TF32] = {}
    rows = measure(settings)
    tols = fg.grading_tolerances()
    names = list(settings)
    print(f"{'value':52} {'spread':>9} {'tolerance':>9} {'margin':>8}   " + "  ".join(names)
          + ("   margin with TF32" if args.tf32 else ""))
    worst_margin = worst_tf32 = float("inf")
    for (fn, part, key), row in sorted(rows.items()):
        spread = max((v for n, v in row["drift"].items() if n != TF32), default=0.0)
        tf32 = row["drift"].get(TF32, 0.0)
        if max(spread, tf32) == 0 or row["allowed"] == float("inf"):
            continue
        tol = tols.get((fn, key), tols.get(fn, 1e-7))
        margin = tol / spread if spread else float("inf")
        worst_margin = min(worst_margin, margin)
        line = (f"{fn + '/' + part + '/' + key:52} {spread:9.1e} {tol:9.0e} {margin:8.0f}   "
                + "  ".join(f"{row['drift'][n]:.1e}" for n in names))
        if args.tf32:
            worst_tf32 = min(worst_tf32, tol / tf32 if tf32 else float("inf"))
            line += f"   {tol / tf32 if tf32 else float('inf'):8.0f}"
        print(line)
    print(f"smallest margin: {worst_margin:.0f}x (at least {fg.MARGIN}x required)")
    if args.tf32:
        print(f"smallest margin if TF32 were on: {worst_tf32:.0f}x (the worker switches it off)")
    return 0 if worst_margin >= fg.MARGIN else 1


if __name__ == "__main__":
    sys.exit(main())
