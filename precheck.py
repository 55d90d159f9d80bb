#!/usr/bin/env python3
"""Run the autograder's visible checks on your assignment, before you submit.

In a terminal:

    python precheck.py                   # the folder this file is in
    python precheck.py FOLDER_OR_ZIP     # another assignment folder, or your submission .zip
    python precheck.py --questions Q1,Q2
    python precheck.py --rubric cs231n_a3

In a notebook cell (in the assignment folder):

    import precheck
    precheck.check("Q1")                 # one question; precheck.check("Q1", "Q2"); all: precheck.check()

Same checks, table and feedback as Gradescope for the visible tests; Gradescope
also runs hidden tests (the output says how many).  Needs Python 3.10+ with
numpy, h5py, pyyaml and pytest; torch and torchvision for the PyTorch
questions (skipped with a message when torch is missing).  Equivalent to
``python -m grader check`` run from this folder.

``precheck.check`` grades in a separate process (nothing of the grader, and
none of your modules, is imported into your notebook's kernel), on your code as
it is now: your saved ``.py`` files and, for functions written in notebook
cells (CS231n 2019), the definitions your kernel holds at this moment, even if
the notebook is not saved.
"""
import os
import sys

# Plain syntax on purpose: an old Python must get to the message below.
HERE = os.path.dirname(os.path.abspath(__file__))
NEEDED = (("numpy", "numpy"), ("h5py", "h5py"), ("yaml", "pyyaml"), ("pytest", "pytest"))
PACKAGES = ("deeplearning", "cs231n")
KERNEL_OPTION = "--kernel-cells"   # precheck.check(): the kernel's definitions, for the grading subprocess


def _assignment_folder():
    """The assignment folder this file was unpacked into (or the one above it)."""
    parent = os.path.dirname(HERE)
    if not any(os.path.isdir(os.path.join(HERE, p)) for p in PACKAGES) \
            and any(os.path.isdir(os.path.join(parent, p)) for p in PACKAGES):
        return parent
    return HERE


def main(argv):
    if sys.version_info < (3, 10):
        sys.stderr.write("precheck: Python 3.10 or newer is needed; this is Python %s (%s).\n"
                         "Run it with the Python you use for the assignment, e.g. python3.10 precheck.py\n"
                         % (sys.version.split()[0], sys.executable))
        return 2
    import importlib.util
    missing = [pip for mod, pip in NEEDED if importlib.util.find_spec(mod) is None]
    if missing:
        sys.stderr.write(
            "precheck: this Python (%s) lacks the package(s) %s that the checks need.\n"
            "Install them in the environment you use for the assignment, e.g.\n"
            "    %s -m pip install %s\n"
            "(torch and torchvision are needed only for the PyTorch questions.)\n"
            % (sys.executable, ", ".join(missing), sys.executable, " ".join(missing)))
        return 2
    if not os.path.isdir(os.path.join(HERE, "grader")):
        sys.stderr.write("precheck: the grader/ folder is missing next to precheck.py; unzip all of "
                         "precheck.zip into your assignment folder.\n")
        return 2
    argv = list(argv)
    kernel_cells = None
    if KERNEL_OPTION in argv:
        i = argv.index(KERNEL_OPTION)
        kernel_cells = argv[i + 1] if i + 1 < len(argv) else None
        del argv[i:i + 2]
    sys.path.insert(0, HERE)
    from grader.cli import build_parser
    from grader.engine import grade as run
    args = build_parser().parse_args(["check"] + argv)
    if args.submission == "." and "." not in argv:
        args.submission = _assignment_folder()  # wherever it is run from
        if args.submission != HERE and kernel_cells is None:
            print("precheck: checking %s (the folder above this one)" % args.submission)
    notes = []
    if "--rubric" not in argv and args.questions:
        other = _rubric_for(args.rubric, args.questions.split(","))
        if other:
            notes.append("NOTE: %s %s graded in the %s rubric, not in %s: checked with %s (pass --rubric / rubric= "
                         "to choose)." % (args.questions, "is" if "," not in args.questions else "are", other,
                                          args.rubric, other))
            args.rubric = other
            if kernel_cells is None:
                print("precheck: " + notes[-1][6:])
    if kernel_cells is None:
        return run.main(args)
    from grader.engine import precheck as engine
    files = engine.graded_files(args.rubric, args.questions.split(",") if args.questions else None)
    copy, kernel_notes, scratch = engine.with_kernel_cells(args.submission, kernel_cells, files)
    try:
        original, args.submission = args.submission, str(copy)
        code = run.main(args)
        if args.results:
            engine.relabel_kernel_cells(args.results, original)
        if notes + kernel_notes and args.results:
            engine.add_notes(args.results, notes + kernel_notes)
        return code
    finally:
        import shutil
        shutil.rmtree(scratch, ignore_errors=True)


def _rubric_for(default, questions):
    """Another shipped rubric that has all of ``questions`` when ``default`` lacks one (Q5: cs231n_a3)."""
    try:
        from grader.engine import rubric as rubric_mod
        ids = set(q.upper() for q in questions)
        if ids <= set(q.id for q in rubric_mod.load(default).questions):
            return None
        for name in rubric_mod.available():
            if ids <= set(q.id for q in rubric_mod.load(name).questions):
                return name
    except Exception:  # the check itself says what is wrong
        return None
    return None


# ------------------------------------------------------------------ precheck.check(): from a notebook cell
def check(*questions, **options):
    """Run the visible checks of ``questions`` ("Q1", "Q1", "Q2", or "Q1,Q2"; none: all) on your code as it
    is now, and return a table (shown as HTML in a notebook, as text elsewhere).

    Options: ``rubric`` (cs182_hw2 by default; cs231n_a3 for the GAN question Q5), ``folder`` (your
    assignment folder; default: the one this file is in), ``timeout`` (seconds, default 900).

    The checks run in a separate Python process, the same sandbox as ``python precheck.py``; your kernel
    imports nothing of the grader.  Functions and classes you defined in notebook cells are taken as your
    kernel holds them now (saved or not); your .py files as they are saved."""
    import json
    import subprocess
    import tempfile
    import time
    from subprocess import TimeoutExpired
    unknown = sorted(set(options) - {"rubric", "folder", "timeout"})
    if unknown:
        raise TypeError("precheck.check() got unexpected option(s) %s; it takes rubric=, folder=, timeout="
                        % ", ".join(unknown))
    wanted = []
    for q in questions:
        for part in str(q).split(","):
            part = part.strip().upper()
            if part and part not in wanted:
                wanted.append(part)
    folder = os.path.abspath(options.get("folder") or _assignment_folder())
    timeout = float(options.get("timeout") or 900)
    started = time.time()
    payload = _kernel_definitions()
    with tempfile.TemporaryDirectory(prefix="precheck-") as tmp:
        cells = os.path.join(tmp, "kernel.json")
        results = os.path.join(tmp, "results.json")
        with open(cells, "w") as f:
            json.dump(payload, f)
        cmd = [sys.executable, os.path.join(HERE, "precheck.py"), folder, "--results", results, "--quiet",
               KERNEL_OPTION, cells]
        if wanted:
            cmd += ["--questions", ",".join(wanted)]
        if options.get("rubric"):
            cmd += ["--rubric", str(options["rubric"])]
        env = dict(os.environ, NO_COLOR="1", TERM="dumb", PYTHONIOENCODING="utf-8")
        proc = subprocess.Popen(cmd, cwd=HERE, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
        try:
            _out, err = proc.communicate(timeout=timeout)
        except TimeoutExpired:
            _stop(proc)
            return CheckResult(None, wanted, error="the check did not finish within %g s (pass timeout= for "
                                                   "more time)" % timeout, seconds=time.time() - started)
        except BaseException:  # the kernel was interrupted: the grading stops too
            _stop(proc)
            raise
        err = err.decode("utf-8", "replace").strip()[-4000:]
        try:
            with open(results) as f:
                data = json.load(f)
        except (OSError, ValueError):
            data = None
    if data is None or proc.returncode == 2:
        return CheckResult(None, wanted, error=err or "the check stopped with exit status %d" % proc.returncode,
                           seconds=time.time() - started)
    warning = err if proc.returncode != 0 else ""
    return CheckResult(data, wanted, warning=warning, notes=payload.get("notes", []),
                       seconds=time.time() - started)


def _stop(proc):
    """Stop the grading subprocess: SIGINT first, so the grader stops its sandboxed workers and removes its
    temporary folders, then SIGKILL for its process group."""
    import signal
    from subprocess import TimeoutExpired
    killpg = getattr(os, "killpg", None)
    for sig, wait in ((signal.SIGINT, 5), (getattr(signal, "SIGKILL", signal.SIGTERM), 5)):
        try:
            if killpg is not None:
                killpg(proc.pid, sig)
            else:
                proc.send_signal(sig)
        except OSError:
            pass
        try:
            proc.communicate(timeout=wait)
            return
        except TimeoutExpired:
            continue
        except Exception:
            return


def _shown(score):
    """A score for people: at most 2 decimals (0.83, not 0.8333)."""
    score = round(float(score), 2)
    if score == int(score):
        return str(int(score))
    return ("%.2f" % score).rstrip("0").rstrip(".")


def _html(text):
    return (str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


class CheckResult(object):
    """The outcome of ``precheck.check``: ``tests`` (name, score, max_score, status, reason, output),
    ``score``, ``max_score``, ``passed``, ``output`` (Gradescope's text: notes, hidden tests), ``error``."""

    def __init__(self, results, questions, error=None, warning="", notes=(), seconds=0.0):
        self.questions = list(questions)
        self.error = error
        self.warning = warning
        self.seconds = seconds
        self.tests = []
        self.output = ""
        self.score = self.max_score = 0.0
        if results is not None:
            for t in results.get("tests", []):
                reason = ""
                if t.get("status") != "passed":
                    lines = (t.get("output") or "").splitlines()
                    fails = [ln for ln in lines if ln.startswith("FAIL ")]
                    reason = fails[0][5:] if fails else (lines[0] if lines else "")
                self.tests.append({"name": t.get("name", ""), "score": float(t.get("score", 0)),
                                   "max_score": float(t.get("max_score", 0)), "status": t.get("status", ""),
                                   "reason": reason, "output": t.get("output", "")})
            self.score = float(results.get("score", 0))
            self.max_score = sum(t["max_score"] for t in self.tests)
            self.output = results.get("output", "")
        self.notes = [n for n in notes if n]

    @property
    def passed(self):
        return self.error is None and bool(self.tests) and all(t["status"] == "passed" for t in self.tests)

    def rows(self):
        return [(t["name"], "%s/%s" % (_shown(t["score"]), _shown(t["max_score"])),
                 "pass" if t["status"] == "passed" else "FAIL", t["reason"]) for t in self.tests]

    def _lines(self):
        """The notes shown under the table: Gradescope's output (hidden tests, skipped questions, where
        each file came from) and anything the kernel could not hand over."""
        return [ln for ln in self.output.splitlines() if ln.strip()] + self.notes

    def _title(self):
        which = ", ".join(self.questions) if self.questions else "all questions"
        return "precheck: %s (visible tests)" % which

    def __str__(self):
        out = [self._title()]
        if self.error is not None:
            out.append("The check could not run: " + self.error)
            return "\n".join(out)
        rows = self.rows()
        w_name = max([len(r[0]) for r in rows] + [4])
        w_score = max([len(r[1]) for r in rows] + [5])
        out.append("%-*s  %*s  %-4s  %s" % (w_name, "test", w_score, "score", "", "reason"))
        out.append("-" * (w_name + w_score + 14))
        for name, score, mark, reason in rows:
            out.append(("%-*s  %*s  %-4s  %s" % (w_name, name, w_score, score, mark, reason)).rstrip())
        out.append("-" * (w_name + w_score + 14))
        out.append("total: %s / %s" % (_shown(self.score), _shown(self.max_score)))
        out += [""] + self._lines() if self._lines() else []
        if self.warning:
            out += ["", "The grader reported a problem (not your fault; tell the course staff):", self.warning]
        return "\n".join(out)

    __repr__ = __str__

    def _repr_html_(self):
        h = ["<div class=\"precheck\"><b>%s</b>" % _html(self._title())]
        if self.error is not None:
            h.append("<pre>The check could not run: %s</pre></div>" % _html(self.error))
            return "\n".join(h)
        h.append("<table><thead><tr><th style=\"text-align:left\">test</th><th>score</th><th></th>"
                 "<th style=\"text-align:left\">reason</th></tr></thead><tbody>")
        for name, score, mark, reason in self.rows():
            color = "#1a7f37" if mark == "pass" else "#cf222e"
            h.append("<tr><td style=\"text-align:left\">%s</td><td>%s</td><td style=\"color:%s\">%s</td>"
                     "<td style=\"text-align:left\">%s</td></tr>" % (_html(name), _html(score), color, mark,
                                                                    _html(reason)))
        h.append("</tbody><tfoot><tr><td style=\"text-align:left\"><b>total</b></td><td><b>%s / %s</b></td>"
                 "<td></td><td></td></tr></tfoot></table>" % (_shown(self.score), _shown(self.max_score)))
        if self._lines():
            h.append("<pre style=\"white-space:pre-wrap\">%s</pre>" % _html("\n".join(self._lines())))
        if self.warning:
            h.append("<pre>The grader reported a problem (not your fault; tell the course staff):\n%s</pre>"
                     % _html(self.warning))
        h.append("</div>")
        return "\n".join(h)


# ------------------------------------------------------------------ the kernel's definitions
_KERNEL_NAMES = {"In", "Out", "get_ipython", "exit", "quit", "open"}


def _namespace():
    """The notebook's variables: IPython's user namespace when running in a kernel, else __main__'s."""
    ipython = sys.modules.get("IPython")
    if ipython is not None:
        try:
            shell = ipython.get_ipython()
        except Exception:
            shell = None
        if shell is not None and isinstance(getattr(shell, "user_ns", None), dict):
            return shell.user_ns
    main_module = sys.modules.get("__main__")
    return dict(vars(main_module)) if main_module is not None else {}


def _top_level_segment(lines, name, kinds, near=None):
    """The source of the top-level def/class ``name`` in ``lines`` (the one around line ``near``, else the
    last one), decorators included; None when there is none."""
    import ast
    try:
        tree = ast.parse("".join(lines))
    except (SyntaxError, ValueError):
        return None
    found = None
    for node in tree.body:
        if isinstance(node, kinds) and node.name == name:
            start = min([node.lineno] + [d.lineno for d in node.decorator_list])
            if near is None or start <= near <= node.end_lineno:
                found = "".join(lines[start - 1:node.end_lineno])
    return found


def _source(obj, name, history):
    """The source of a function or class defined in the kernel, as the kernel holds it now."""
    import ast
    import inspect
    import linecache
    import textwrap
    try:
        return textwrap.dedent(inspect.getsource(obj))
    except (OSError, TypeError, IndentationError):
        pass
    kinds = (ast.ClassDef,) if inspect.isclass(obj) else (ast.FunctionDef, ast.AsyncFunctionDef)
    if inspect.isclass(obj):  # before Python 3.13, inspect cannot find classes defined in a notebook cell
        for member in vars(obj).values():
            member = getattr(member, "__func__", getattr(member, "fget", member))
            code = getattr(member, "__code__", None)
            if code is not None:
                src = _top_level_segment(linecache.getlines(code.co_filename), name, kinds, near=code.co_firstlineno)
                if src:
                    return src
    for cell in reversed(history):  # the last cell that defined it
        src = _top_level_segment([ln + "\n" for ln in cell.splitlines()], name, kinds)
        if src:
            return src
    return None


def _constant(value, depth=0):
    """Python source that rebuilds a simple value (numbers, strings, tuples of them, torch dtypes and
    tensor types), or None."""
    import math
    if isinstance(value, str) and len(value) > 2000:
        return None
    if value is None or isinstance(value, (bool, int, str)):
        text = repr(value)
        return text if len(text) <= 2000 else None
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else None
    if isinstance(value, (tuple, list)) and depth == 0 and len(value) <= 100:
        parts = [_constant(v, 1) for v in value]
        if all(p is not None for p in parts):
            body = ", ".join(parts)
            return ("(%s,)" % body if len(parts) == 1 else "(%s)" % body) if isinstance(value, tuple) else "[%s]" % body
        return None
    kind = type(value)
    if getattr(kind, "__module__", "") == "torch" and kind.__name__ == "dtype":
        return repr(value)                       # torch.float32
    if getattr(kind, "__module__", "") == "torch" and kind.__name__ == "device":
        return "torch.device(%r)" % str(value)
    if isinstance(value, type) and str(getattr(value, "__module__", "")).startswith("torch") \
            and value.__name__.endswith("Tensor"):
        return "%s.%s" % (value.__module__, value.__name__)   # dtype = torch.cuda.FloatTensor
    return None


def _kernel_definitions():
    """What the grading subprocess needs of the kernel: one code cell per import, constant, function and
    class the notebook holds now (plain data: sources, never objects)."""
    import inspect
    ns = _namespace()
    history = [c for c in (ns.get("In") or []) if isinstance(c, str)] if isinstance(ns.get("In"), list) else []
    imports, constants, defs, defined, unreadable = [], [], [], [], []
    for name, value in list(ns.items()):
        if name.startswith("_") or name in _KERNEL_NAMES:
            continue
        try:
            if inspect.ismodule(value):
                mod = value.__name__
                if mod != "__main__" and mod != "precheck":
                    imports.append("import %s" % mod if mod == name else "import %s as %s" % (mod, name))
                continue
            const = _constant(value)
            if const is not None:
                constants.append("%s = %s" % (name, const))
                continue
            if not (inspect.isfunction(value) or inspect.isclass(value)):
                continue
            module = getattr(value, "__module__", None)
            if module == "__main__":
                if value.__name__ != name:   # an alias (f = g) or a lambda
                    continue
                src = _source(value, name, history)
                if src is None:
                    unreadable.append(name)
                else:
                    defs.append(src)
                    defined.append(name)
            elif module and "<" not in value.__qualname__ and "." not in value.__qualname__ \
                    and module != "precheck":
                imports.append("from %s import %s as %s" % (module, value.__qualname__, name))
        except Exception:  # one odd object must not stop the check
            continue
    cells = (["\n".join(imports)] if imports else []) + (["\n".join(constants)] if constants else []) + defs
    notes = []
    if unreadable:
        notes.append("NOTE: the source of %s could not be read from your kernel (defined with exec?); the "
                     "saved version is checked." % ", ".join(unreadable))
    return {"version": 1, "cells": cells, "defined": defined, "notes": notes}


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
