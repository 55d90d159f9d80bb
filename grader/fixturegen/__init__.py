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
# --check tolerances.  Same machine: regeneration is bit-identical.  Across
# machines, BLAS summation order moves float64 results by ~1e-15 relative and
# float32 (torch) results by ~1e-6; the bounds leave two orders of margin.
RTOL64, ATOL64 = 1e-12, 1e-13
RTOL32, ATOL32 = 1e-4, 1e-6


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
    v = {"python": platform.python_version(), "numpy": np.__version__}
    import h5py
    v["h5py"] = h5py.__version__
    if "torch" in sys.modules:
        v["torch"] = str(sys.modules["torch"].__version__)
    return v


def _close(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape or a.dtype.kind != b.dtype.kind:
        return False
    if a.dtype.kind in "biuSUO":
        return np.array_equal(a, b)
    if a.dtype == np.float32 or b.dtype == np.float32:
        return np.allclose(a, b, rtol=RTOL32, atol=ATOL32, equal_nan=True)
    return np.allclose(a, b, rtol=RTOL64, atol=ATOL64, equal_nan=True)


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
    for fname in fx.FILES:
        if not (committed / fname).exists() or not (fresh / fname).exists():
            continue
        old = fx.load_all(committed)
        new = fx.load_all(fresh)
        for fn in sorted(set(old) | set(new)):
            oc = {c.name: c for c in old.get(fn, [])}
            nc = {c.name: c for c in new.get(fn, [])}
            for name in sorted(set(oc) | set(nc)):
                if name not in oc or name not in nc:
                    problems.append(f"{fn}/{name}: case added or removed")
                    continue
                a, b = oc[name], nc[name]
                for part in ("inputs", "expected"):
                    da, db = getattr(a, part), getattr(b, part)
                    for k in sorted(set(da) | set(db)):
                        if k not in da or k not in db or not _close(da[k], db[k]):
                            problems.append(f"{fn}/{name}: {part}[{k}] differs from a fresh generation")
                if a.params != b.params or a.visibility != b.visibility:
                    problems.append(f"{fn}/{name}: parameters differ from a fresh generation")
        break  # _load_all reads both files at once
    for rel in sorted(fresh_manifest["files"]):
        if rel.startswith("coco_synth/") and (committed / rel).exists():
            if sha256_file(committed / rel) != fresh_manifest["files"][rel]:
                problems.append(f"{rel}: differs from a fresh generation")
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
