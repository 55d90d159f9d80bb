"""Grade the TensorFlow-track solutions and their catalogued bugs with the project's real Q3/Q4 checks.

    .venv/bin/python tests/tf_track/check_tf_track.py            # visible cases, table, exit 1 on a surprise
    .venv/bin/python tests/tf_track/check_tf_track.py --hidden   # hidden cases too
    .venv/bin/python tests/tf_track/check_tf_track.py --tf1-eager  # TF1 code without disable_eager_execution()

Needs TensorFlow (requirements-tensorflow.txt) in the interpreter that runs it.

For every variant -- the correct solutions of both eras (tests/tf_track/solutions/tf1: the
CS182 / CS231n 2017-2018 notebooks, TensorFlow 1.x; tf2: CS231n 2020's .py files, TensorFlow 2)
and each patch of solutions/bugs.yaml -- it imports the student code (a notebook is assembled
into a module from its code cells: imports, definitions and constants, plus the TF1 class-
visualization step made by grader.inworker.tf_netvis.tf1_step_source, as staging would), then
runs the UNCHANGED check functions of grader/checks/test_q3_netvis.py and test_q4_style.py
on the fixture cases, with a stand-in for the sandbox that calls the TensorFlow helpers
(grader.inworker.tf_netvis / tf_style) in-process and passes their results through the
worker's wire format (grader.sandbox.protocol), as the real worker would.  So the
tolerances (SALIENCY_TOL, CLASS_VIS_TOL, CONTENT_TOL, ...), the fooling re-classification by
the grader's float64 model and the style-transfer re-scoring are exactly the PyTorch track's.

Each era runs in its own interpreter: TF1 variants after tf.compat.v1.disable_eager_execution()
(unless --tf1-eager), TF2 variants eagerly.  Expected: the correct solutions pass every case;
each bug fails the functions in its caught_by and passes the others.
"""
from __future__ import annotations

import argparse
import ast
import importlib
import io
import json
import os
import subprocess
import sys
import tempfile
import textwrap
import time
import types
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
SOLUTIONS = HERE / "solutions"
sys.path.insert(0, str(ROOT))

FUNCTIONS = ["saliency", "fooling", "class_vis", "content_loss", "gram_matrix", "style_loss", "tv_loss",
             "style_transfer_run"]
FILES = {"tf1": {"netvis": "NetworkVisualization-TensorFlow.ipynb", "style": "StyleTransfer-TensorFlow.ipynb"},
         "tf2": {"netvis": "net_visualization_tensorflow.py", "style": "style_transfer_tensorflow.py"}}


def variants() -> list[dict]:
    import yaml
    out = [{"name": "tf1", "solution": "tf1", "caught_by": [], "description": "correct, TF1 notebooks"},
           {"name": "tf2", "solution": "tf2", "caught_by": [], "description": "correct, TF2 .py files"}]
    out += yaml.safe_load((SOLUTIONS / "bugs.yaml").read_text())
    return out


# ---------------------------------------------------------------- building the student's modules
_DROPPED = ("matplotlib", "IPython", "pylab", "seaborn")


def assemble_notebook(path: Path) -> str:
    """A module from a notebook's code cells: imports (each in try/except), def/class statements and
    literal constants, in order; then, for a TF1 network-visualization notebook, the class-visualization
    step taken out of create_class_visualization.  Nothing else of the notebook runs."""
    from grader.engine.notebook import code_cells
    from grader.inworker import tf_netvis

    parts = [f"# assembled by check_tf_track.py from {path.name}: imports, definitions, constants\n"]
    defined, cv_src = set(), None
    for i, src in enumerate(code_cells(path)):
        try:
            tree = ast.parse(src)
        except SyntaxError:
            continue
        for node in tree.body:
            seg = ast.get_source_segment(src, node)
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                if any(m.split(".")[0] in _DROPPED for m in mods):
                    continue
                parts.append(f"try:  # cell {i + 1}\n{textwrap.indent(seg, '    ')}\nexcept Exception:\n    pass\n")
            elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                parts.append(f"# cell {i + 1}\n{seg}\n")
                defined.add(node.name)
                if node.name == "create_class_visualization":
                    cv_src = seg
            elif (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                  and all(isinstance(t, ast.Name) for t in node.targets)):
                parts.append(f"{seg}\n")
    if cv_src is not None and tf_netvis.STEP_NAME not in defined:
        step = tf_netvis.tf1_step_source(cv_src)
        if step:
            parts.append(step)
    return "\n".join(parts)


def build_variant(v: dict, workdir: Path) -> dict:
    """Write the (patched) student files of variant ``v`` as a package; returns {"netvis": module, "style": module}."""
    era = v["solution"]
    pkg = "tfv_" + v["name"]
    d = workdir / pkg
    d.mkdir()
    (d / "__init__.py").write_text("")
    out = {}
    for part, fname in FILES[era].items():
        text = (SOLUTIONS / era / fname).read_text()
        if v.get("file") == fname:
            if text.count(v["find"]) != 1:
                raise SystemExit(f"{v['name']}: the patch's find text occurs {text.count(v['find'])} times in {fname}")
            text = text.replace(v["find"], v["replace"])
        if fname.endswith(".ipynb"):
            p = workdir / f"{pkg}_{fname}"
            p.write_text(text)
            text = assemble_notebook(p)
            modname = "network_visualization_tf" if part == "netvis" else "style_transfer_tf"
        else:
            modname = fname[:-3]
        (d / f"{modname}.py").write_text(text)
        out[part] = f"{pkg}.{modname}"
    return out


def scipy_stub() -> None:
    """CS231n 2020's TF files import scipy.ndimage.filters.gaussian_filter1d at the top (for the provided
    blur_image); this environment has no scipy, so a stand-in module is installed (never called here)."""
    try:
        import scipy.ndimage.filters  # noqa: F401
        return
    except ImportError:
        pass

    def gaussian_filter1d(*a, **k):
        raise NotImplementedError("scipy is not installed")

    for name in ("scipy", "scipy.ndimage", "scipy.ndimage.filters"):
        sys.modules[name] = types.ModuleType(name)
    sys.modules["scipy.ndimage.filters"].gaussian_filter1d = gaussian_filter1d
    sys.modules["scipy.ndimage"].gaussian_filter1d = gaussian_filter1d


# ---------------------------------------------------------------- a sandbox stand-in
class _Result:
    def __init__(self, value):
        self.value = value


class InProcessSandbox:
    """sandbox.call(HELPERS, fn, module, *args) -> the TensorFlow helper of the same name, run here; its
    value goes through the worker's plain-data view and the wire format, as from a real worker."""

    def call(self, helpers, fn, module, *args, label=None, timeout=None, **_):
        from grader.checklib.compare import CheckFailure
        from grader.inworker import tf_netvis, tf_style
        from grader.sandbox import protocol
        from grader.sandbox.worker import Child

        target = tf_netvis if hasattr(tf_netvis, fn) and fn in ("saliency", "fooling", "class_vis_step",
                                                                 "classify") else tf_style
        try:
            value = getattr(target, fn)(module, *args)
        except Exception as exc:
            raise CheckFailure(f"{label or fn} raised {type(exc).__name__}: {str(exc)[:400]}") from None
        plain = Child.plain(Child.__new__(Child), value, 0)
        _, value = protocol.read_message(io.BytesIO(protocol.pack({"ok": True}, plain)))
        return _Result(value)


class FakeStudent:
    """What a check sees of the submission (grader.sandbox.student.Student), for in-process modules."""

    def __init__(self, modules: dict):
        self.modules = modules
        self.sandbox = InProcessSandbox()
        self.timeout = None

    def require(self, staged_as: str) -> str:
        return self.modules["netvis" if staged_as == "network_visualization.py" else "style"]

    def resolve(self, staged_as: str, *candidates: str) -> str:
        from grader.checklib.compare import fail
        mod = importlib.import_module(self.require(staged_as))
        for c in candidates:
            if hasattr(mod, c):
                return c
        if staged_as == "network_visualization.py" and hasattr(mod, "create_class_visualization"):
            return "create_class_visualization"  # TF1: tf_netvis takes the step out of it
        fail(f"{staged_as} does not define {' or '.join(candidates)}")


# ---------------------------------------------------------------- running the checks
def run_variant(v: dict, modules: dict, hidden: bool) -> dict:
    from grader.checklib.compare import CheckFailure
    from grader.checks import test_q3_netvis as q3, test_q4_style as q4
    from grader.engine.cases import cases

    plan = {"saliency": (q3.test_saliency, "compute_saliency_maps", [()]),
            "fooling": (q3.test_fooling, "make_fooling_image", [()]),
            "class_vis": (q3.test_class_visualization_step, "update_class_visulization", [()]),
            "content_loss": (q4.test_content_loss, "content_loss", [()]),
            "gram_matrix": (q4.test_gram_matrix, "gram_matrix", [()]),
            "style_loss": (q4.test_style_loss, "style_loss", [(w,) for w in q4.STYLE_WEIGHTINGS]),
            "tv_loss": (q4.test_tv_loss, "tv_loss", [()]),
            "style_transfer_run": (q4.test_style_transfer_run, "style_transfer_run", [()])}
    student = FakeStudent(modules)
    out = {}
    for key, (check, fixture, extra) in plan.items():
        passed, total, msgs, t0 = 0, 0, [], time.time()
        for case in cases(fixture):
            if case.hidden and not hidden:
                continue
            for e in extra:
                total += 1
                try:
                    check(student, case, *e)
                    passed += 1
                except CheckFailure as exc:
                    msgs.append(f"{case.name}{'/' + e[0] if e else ''}: {str(exc).splitlines()[0][:300]}")
        out[key] = {"passed": passed, "total": total, "messages": msgs, "seconds": round(time.time() - t0, 2)}
    return out


def worker(era: str, names: list[str], hidden: bool, tf1_eager: bool) -> None:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf
    if era == "tf1" and not tf1_eager:
        tf.compat.v1.disable_eager_execution()
    from grader.inworker import tf_netvis
    tf_netvis.configure(1)
    scipy_stub()
    with tempfile.TemporaryDirectory() as tmp:
        sys.path.insert(0, tmp)
        for v in variants():
            if v["name"] not in names:
                continue
            modules = build_variant(v, Path(tmp))
            print(json.dumps({"name": v["name"], "era": era, "results": run_variant(v, modules, hidden)}), flush=True)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--hidden", action="store_true", help="also the hidden fixture cases")
    ap.add_argument("--tf1-eager", action="store_true",
                    help="run TF1 code without tf.compat.v1.disable_eager_execution() (graph contexts only)")
    ap.add_argument("--variants", help="comma-separated variant names (default: all)")
    ap.add_argument("--worker", choices=["tf1", "tf2"], help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    all_v = variants()
    names = args.variants.split(",") if args.variants else [v["name"] for v in all_v]
    if args.worker:
        worker(args.worker, names, args.hidden, args.tf1_eager)
        return 0

    results = {}
    for era in ("tf1", "tf2"):
        mine = [v["name"] for v in all_v if v["solution"] == era and v["name"] in names]
        if not mine:
            continue
        cmd = [sys.executable, __file__, "--worker", era, "--variants", ",".join(mine)]
        cmd += ["--hidden"] if args.hidden else []
        cmd += ["--tf1-eager"] if args.tf1_eager else []
        t0 = time.time()
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT)
        for line in proc.stdout.splitlines():
            if line.startswith("{"):
                r = json.loads(line)
                results[r["name"]] = r["results"]
        if proc.returncode != 0:
            print(proc.stdout[-3000:], proc.stderr[-5000:], sep="\n", file=sys.stderr)
            return 2
        print(f"[{era}: {len(mine)} variants in {time.time() - t0:.0f} s]")

    short = {"saliency": "saliency", "fooling": "fooling", "class_vis": "class_vis", "content_loss": "content",
             "gram_matrix": "gram", "style_loss": "style", "tv_loss": "tv", "style_transfer_run": "st_run"}
    head = f"{'variant':32s}" + "".join(f"{short[k]:>10s}" for k in FUNCTIONS) + "  verdict"
    print(head)
    print("-" * len(head))
    surprises = 0
    details = []
    for v in all_v:
        r = results.get(v["name"])
        if r is None:
            continue
        row, ok = f"{v['name']:32s}", True
        for k in FUNCTIONS:
            c = r[k]
            failed = c["passed"] < c["total"]
            expected_fail = k in v.get("caught_by", [])
            cell = f"{c['passed']}/{c['total']}" + ("" if not failed else " F")
            row += f"{cell:>10s}"
            if failed != expected_fail:
                ok = False
            for m in c["messages"]:
                details.append(f"  {v['name']} / {k}: {m}")
        expect = "all pass" if not v.get("caught_by") else "fails " + ",".join(v["caught_by"])
        row += "  " + ("ok (" + expect + ")" if ok else "UNEXPECTED (" + expect + ")")
        surprises += not ok
        print(row)
    print()
    print("time per function (s), first variant of each era:")
    for era in ("tf1", "tf2"):
        if era in results:
            print(f"  {era}: " + ", ".join(f"{short[k]} {results[era][k]['seconds']}" for k in FUNCTIONS))
    if details:
        print("\nfailure messages (the checks' own feedback, first line):")
        print("\n".join(details))
    return 1 if surprises else 0


if __name__ == "__main__":
    sys.exit(main())
