"""``python -m grader fixtures [--check]``: build fixtures/ from reference/.

Writes ``visible.h5`` and ``hidden.h5`` (cases from the builders in
``grader/fixturegen/*.py``, one per question as grader.questions declares), the synthetic captioning data set under ``coco_synth/``
and ``manifest.yaml`` (sha256 of every file, seeds, library versions).
``--check`` regenerates everything in a temporary folder and compares it with
the committed files, within the tolerances below.
"""
from __future__ import annotations

import importlib
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np
import yaml

from grader.engine import cases as fx
from grader.engine.files import sha256_file
from grader.paths import FIXTURES, REFERENCE
from grader.questions import fixture_builders

SYNTH_SEED = 2019


def _import_reference(reference: Path):
    sys.path.insert(0, str(reference))
    for name in [m for m in sys.modules if m == "deeplearning" or m.startswith("deeplearning.")]:
        del sys.modules[name]
    ref = importlib.import_module("deeplearning")
    for sub in ("rnn_layers", "classifiers.rnn", "layers"):
        importlib.import_module("deeplearning." + sub)
    return ref


def generate(out_dir: Path, reference: Path = REFERENCE) -> dict:
    out_dir.mkdir(parents=True, exist_ok=True)
    ref = _import_reference(reference)
    all_cases = []
    for modname in fixture_builders():
        try:
            mod = importlib.import_module(modname)
        except ModuleNotFoundError as exc:
            if exc.name == modname:
                continue  # that question's builders are not written yet
            raise
        all_cases += mod.build(ref)
    fx.write_cases(out_dir / "visible.h5", [c for c in all_cases if not c.hidden])
    fx.write_cases(out_dir / "hidden.h5", [c for c in all_cases if c.hidden])
    from grader.course.coco_synth import write_synthetic_coco
    write_synthetic_coco(out_dir / "coco_synth", seed=SYNTH_SEED)
    manifest = {
        "generator": "python -m grader fixtures (from reference/); never edit these files by hand",
        "seeds": {"synthetic_coco": SYNTH_SEED,
                  "cases": {f"{c.function}/{c.name}": c.seed for c in sorted(all_cases, key=lambda c: (c.function, c.name))}},
        "versions": _versions(),
        "files": {p.relative_to(out_dir).as_posix(): sha256_file(p) for p in sorted(out_dir.rglob("*"))
                  if p.is_file() and p.name != "manifest.yaml"},
    }
    (out_dir / "manifest.yaml").write_text(yaml.safe_dump(manifest, sort_keys=True))
    return manifest


def _versions():
    """Library versions, and the machine that generated the files (different CPUs give float32 results
    that differ in the last bits; fixtures --check allows for that, see ``compare``)."""
    v = {"python": platform.python_version(), "numpy": np.__version__}
    import h5py
    v["h5py"] = h5py.__version__
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        v["torch"] = str(torch.__version__)
        v["torch_cpu_capability"] = str(torch.backends.cpu.get_cpu_capability())
    v["machine"] = platform.machine()
    v["cpu"] = _cpu_model()
    return v


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


# ------------------------------------------------------------------ --check
# A fresh generation must agree with the committed fixtures MARGIN times more closely than grading
# needs: the same measure as the checks (largest difference over the value's largest magnitude), and
# the tolerance of the check that reads the value, divided by MARGIN.  Float32 (torch) values move by
# up to ~1e-5 of their scale between CPUs (measured: `python -m grader.tools.spread`), float64 (numpy)
# values by ~1e-15; a real change to the reference moves them by far more.
MARGIN = 100
# Figures of a trajectory (an optimizer's path, how many steps a search took): they depend on every bit
# of the float32 arithmetic, so they are reported, never compared (no check compares a student with them).
INFORMATIONAL = {("make_fooling_image", "reference_rel_change"), ("style_transfer_run", "reference_loss_ratio"),
                 ("style_transfer_run", "reference_final_loss")}


def grading_tolerances() -> dict:
    """Fixture function (or (function, key)) -> the tolerance its check grades with (the measure of
    ``norm_error``)."""
    from grader.checklib import captioning as cap
    from grader.checklib import rnn_layers as rl
    from grader.checks import test_q3_netvis as q3
    from grader.checks import test_q4_style as q4
    from grader.checks import test_q5_gan as q5
    out = {}
    for fn in rl.FORWARD:
        out[fn] = rl.FORWARD_TOL
    for fn in rl.BACKWARD:
        out[fn] = rl.BACKWARD_TOL
    out[("captioning_loss", "loss")] = cap.LOSS_TOL
    out.update(captioning_loss=cap.GRADS_TOL, captioning_gradcheck=cap.GRADS_TOL,
               compute_saliency_maps=q3.SALIENCY_TOL, update_class_visulization=q3.CLASS_VIS_TOL,
               content_loss=q4.CONTENT_TOL, gram_matrix=q4.GRAM_TOL, style_loss=q4.STYLE_TOL, tv_loss=q4.TV_TOL,
               style_transfer_run=q4.STYLE_TOL, gan_losses=q5.LOSS_TOL, ls_losses=q5.LOSS_TOL,
               get_optimizer=q5.HYPER_TOL)
    for fn in ("discriminator_forward", "generator_forward", "build_dc_classifier_forward",
               "build_dc_generator_forward"):
        out[fn] = q5.FORWARD_TOL
    return out


def drift(function: str, part: str, key: str, old, new, case_inputs: dict) -> float | None:
    """How far a fresh value is from the committed one, relative to its scale (None: not comparable,
    e.g. another shape or dtype kind; 0.0 for equal integers)."""
    a, b = np.asarray(old), np.asarray(new)
    if a.shape != b.shape or (a.dtype.kind in "biu") != (b.dtype.kind in "biu"):
        return None
    if a.dtype.kind not in "fc":
        return 0.0 if np.array_equal(a, b) else None
    if function == "update_class_visulization" and part == "expected" and key == "img":
        base = np.asarray(case_inputs["img"], np.float64)  # the check compares the step, not the image
        a, b = a.astype(np.float64) - base, b.astype(np.float64) - base
    a, b = a.astype(np.float64), b.astype(np.float64)
    if not (np.all(np.isfinite(a)) and np.all(np.isfinite(b))):
        return 0.0 if np.array_equal(a, b, equal_nan=True) else None
    scale = float(np.max(np.abs(b))) if b.size else 0.0
    return float(np.max(np.abs(a - b)) / scale) if scale > 0 else float(np.max(np.abs(a - b), initial=0.0))


def value_drifts(committed: Path, fresh: Path) -> list[tuple[str, str, str, str, float | None, float]]:
    """(function, case, part, key, drift, allowed) of every stored value (inputs, expected and float
    parameters), informational figures with allowed = inf."""
    tols = grading_tolerances()
    old, new = fx.load_all(committed), fx.load_all(fresh)
    rows = []
    for fn in sorted(set(old) | set(new)):
        oc = {c.name: c for c in old.get(fn, [])}
        nc = {c.name: c for c in new.get(fn, [])}
        for name in sorted(set(oc) & set(nc)):
            a, b = oc[name], nc[name]
            for part in ("inputs", "expected"):
                da, db = getattr(a, part), getattr(b, part)
                for k in sorted(set(da) & set(db)):
                    allowed = tols.get((fn, k), tols.get(fn, 1e-7)) / MARGIN
                    lim = float("inf") if (fn, k) in INFORMATIONAL else allowed
                    rows.append((fn, name, part, k, drift(fn, part, k, da[k], db[k], a.inputs), lim))
            for k in sorted(set(a.params) & set(b.params)):
                if isinstance(a.params[k], float) or isinstance(b.params[k], float):
                    lim = float("inf") if (fn, k) in INFORMATIONAL else tols.get(fn, 1e-7) / MARGIN
                    rows.append((fn, name, "params", k, drift(fn, "params", k, a.params[k], b.params[k], {}), lim))
    return rows


def compare(committed: Path, fresh: Path) -> list[str]:
    problems = []
    man_path = committed / "manifest.yaml"
    if not man_path.exists():
        return ["fixtures/manifest.yaml is missing"]
    manifest = yaml.safe_load(man_path.read_text())
    on_disk = {p.relative_to(committed).as_posix() for p in committed.rglob("*")
               if p.is_file() and p.name != "manifest.yaml" and "__pycache__" not in p.parts}
    for rel in sorted(on_disk - set(manifest["files"])):
        problems.append(f"{rel}: not listed in the manifest (not made by the generator)")
    for rel, sha in sorted(manifest["files"].items()):
        p = committed / rel
        if not p.exists():
            problems.append(f"{rel}: listed in the manifest but missing")
        elif sha256_file(p) != sha:
            problems.append(f"{rel}: sha256 differs from the manifest (edited by hand?)")
    fresh_manifest = yaml.safe_load((fresh / "manifest.yaml").read_text())
    if set(fresh_manifest["files"]) != set(manifest["files"]):
        problems.append("the set of generated files changed: "
                        f"{sorted(set(fresh_manifest['files']) ^ set(manifest['files']))}")
    if fresh_manifest["seeds"] != manifest["seeds"]:
        problems.append("the seeds or the list of cases changed")
    old, new = fx.load_all(committed), fx.load_all(fresh)
    for fn in sorted(set(old) | set(new)):
        oc = {c.name: c for c in old.get(fn, [])}
        nc = {c.name: c for c in new.get(fn, [])}
        for name in sorted(set(oc) ^ set(nc)):
            problems.append(f"{fn}/{name}: case added or removed")
        for name in sorted(set(oc) & set(nc)):
            a, b = oc[name], nc[name]
            for part in ("inputs", "expected"):
                if set(getattr(a, part)) != set(getattr(b, part)):
                    problems.append(f"{fn}/{name}: the {part} stored changed")
            exact_a = {k: v for k, v in a.params.items() if not isinstance(v, float)}
            exact_b = {k: v for k, v in b.params.items() if not isinstance(v, float)}
            if exact_a != exact_b or a.visibility != b.visibility or set(a.params) != set(b.params):
                problems.append(f"{fn}/{name}: parameters differ from a fresh generation")
    for fn, name, part, k, d, lim in value_drifts(committed, fresh):
        if d is None:
            problems.append(f"{fn}/{name}: {part}[{k}] changed shape or kind in a fresh generation")
        elif d > lim:
            problems.append(f"{fn}/{name}: {part}[{k}] differs from a fresh generation by {d:.1e} of its scale "
                            f"(allowed {lim:.0e}: the check's tolerance / {MARGIN})")
    problems += _compare_coco(committed / "coco_synth", fresh / "coco_synth")
    return problems


def _compare_coco(old: Path, new: Path) -> list[str]:
    """The synthetic captioning data: text files exactly, HDF5 datasets by value (float64 within 1e-12 of
    their scale: only BLAS summation order differs between machines)."""
    import h5py
    problems = []
    if not old.exists() or not new.exists():
        return problems
    for p in sorted(new.iterdir()):
        q = old / p.name
        if not q.exists():
            continue
        if p.suffix != ".h5":
            if p.read_bytes() != q.read_bytes():
                problems.append(f"coco_synth/{p.name}: differs from a fresh generation")
            continue
        with h5py.File(p, "r") as fn_, h5py.File(q, "r") as fo:
            if set(fn_) != set(fo):
                problems.append(f"coco_synth/{p.name}: datasets differ from a fresh generation")
                continue
            for k in fn_:
                d = drift("coco", "data", k, fo[k][()], fn_[k][()], {})
                if d is None or d > 1e-12:
                    problems.append(f"coco_synth/{p.name}: {k} differs from a fresh generation")
    return problems


def main(args) -> int:
    if args.check:
        with tempfile.TemporaryDirectory(prefix="ag-fixtures-") as tmp:
            generate(Path(tmp))
            problems = compare(FIXTURES, Path(tmp))
        if problems:
            print(f"fixtures/ is out of date ({len(problems)} problem(s)); run `python -m grader fixtures` "
                  "to regenerate it, never edit it by hand:", file=sys.stderr)
            for p in problems[:50]:
                print("  " + p, file=sys.stderr)
            return 1
        print("fixtures/ matches a fresh generation from reference/")
        return 0
    out = Path(args.out) if getattr(args, "out", None) else FIXTURES
    manifest = generate(out)
    total = sum((out / rel).stat().st_size for rel in manifest["files"])
    print(f"wrote {len(manifest['files'])} fixture files ({total / 1024:.0f} KiB) to {out}")
    return 0
