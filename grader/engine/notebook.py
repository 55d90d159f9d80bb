"""Take Q3-Q5 definitions from a student's notebook when the .py file is missing.

The 2019 CS231n assignment had no ``network_visualization.py`` /
``style_transfer.py`` / ``gan_pytorch.py``: students wrote the functions in
the code cells of NetworkVisualization-PyTorch.ipynb, StyleTransfer-PyTorch.ipynb
and GANs-PyTorch.ipynb.  When such a file is missing from a submission, this
module assembles it from a notebook that defines the functions (found by
content, not by name), so those submissions are graded the same way.

The notebook is read as JSON and its cells are parsed with ``ast``; nothing of
it runs here.  The module written to the staged package is:

1. the template's file (the course's provided code and the stubs), then
2. from the notebook's code cells, in order, only
   - top-level ``import`` / ``from ... import`` statements, each wrapped in
     ``try/except Exception`` (a package the grader lacks cannot break the
     import); matplotlib/IPython/pylab/seaborn imports, ``__future__`` imports
     and imports of the module being built are dropped;
   - ``def`` and ``class`` statements (with their decorators), except
     redefinitions of what the template's file defines or imports as provided
     code (``bce_loss``, ``Flatten``, ``Unflatten``, ``jitter``, ``blur_image``,
     ``extract_features``, ...): provided code comes from the template, as for
     every other file (the template's versions are also the more lenient ones:
     its Flatten takes any shape, its bce_loss moves the labels to the logits'
     device);
   - simple constant assignments ``NAME = value`` (several targets or a tuple
     of names allowed) whose value contains only literals, names, attribute
     look-ups, operators, containers, subscripts and a few pure constructors
     (``torch.device``, ``torch.tensor``, ``np.array``, ...): ``NOISE_DIM = 96``,
     ``batch_size = 128``, ``dtype = torch.FloatTensor``.  CUDA tensor types
     and devices are mapped to the CPU ones (``torch.cuda.FloatTensor`` ->
     ``torch.FloatTensor``), because every value check runs on the CPU.
   Everything else (calls such as ``run_a_gan(...)``, model loading, data
   loading, training loops, plotting, ``%magic`` and ``!shell`` lines) is left
   out.  Definitions later in the notebook replace earlier ones, as when the
   notebook runs top to bottom.
3. For network visualization, when the notebook (2019 style) writes the class
   visualization step inline in ``create_class_visualization`` between the
   START/END OF YOUR CODE markers and defines no step function, that marked
   block becomes the body of ``update_class_visulization(model, target_y,
   l2_reg, learning_rate, img)`` (the step's variables have those names).
   The 2017-2018 notebooks have no such markers (a TODO box and an END OF
   YOUR CODE box, and the step works on ``img_var = Variable(img, ...)``):
   there the loop's statements between the jitter and its undo are the step,
   after the statements before the loop that define names the step uses.
   A notebook that defines the step as CS231n's
   ``class_visualization_update_step(img, model, target_y, l2_reg,
   learning_rate)`` is graded on that function, not on the template's stub of
   CS182's name (``StagedFile.functions`` lists what the notebook defined).
4. A student-written function whose definition sits in a part of a cell that
   does not parse becomes a function that raises ``SyntaxError`` naming the
   cell and line, so its checks say "cell 7 has a syntax error at line 19"
   instead of grading the template's stub as not implemented.

The staging report records which lines of the module are the template's
provided code (``StagedFile.provided_lines``), so a check can tell an error
raised inside provided code (``bce_loss``, ``jitter`` ...) from the student's
(``grader.checklib.provided``).
"""
from __future__ import annotations

import ast
import json
import re
import textwrap
from pathlib import Path

from grader.course import jitter_loop
from grader.course.tf_code import era_scores
from grader.engine import grammar, stubs
from grader.engine.rewrite import dotted, source_lines
from grader.paths import END_MARKER, PACKAGE, START_MARKER, TEMPLATE
from grader.questions import FILES

# Names that count as "the student wrote this" even though the template defines them as provided code
# (2019: the class visualization step lived inside create_class_visualization).  Their notebook
# definitions are still not used for those names; see _class_visualization_step.
_STEP_NAMES = ("update_class_visulization", "class_visualization_update_step")
DROPPED_IMPORTS = ("matplotlib", "IPython", "pylab", "seaborn", "ipywidgets", "google.colab", "tqdm.notebook")
PURE_CALLS = {"torch.device", "torch.tensor", "torch.Tensor", "torch.FloatTensor", "torch.LongTensor",
              "torch.zeros", "torch.ones", "np.array", "np.asarray", "numpy.array", "numpy.asarray",
              "np.float32", "np.float64", "float", "int", "str", "bool", "tuple", "list", "dict", "set",
              "frozenset", "range", "len", "torch.cuda.is_available", "abs", "min", "max", "round",
              "np.finfo", "np.iinfo", "numpy.finfo", "numpy.iinfo", "torch.finfo", "torch.iinfo",
              "math.sqrt", "math.log", "math.exp", "np.sqrt", "np.log", "np.exp",
              "np.zeros", "np.ones", "np.arange", "np.linspace", "np.eye", "torch.arange", "torch.linspace",
              "torch.eye"}
NOTEBOOK_MAX_BYTES = 160 * 1024 ** 2  # as grader/engine/staging.py's MAX_NOTEBOOK_BYTES (why: there)
_MAGIC = re.compile(r"^\s*[%!]")


# ------------------------------------------------------------------ reading notebooks
def _without_outputs(d: dict) -> dict:
    """A notebook's JSON object as it is parsed, its cell outputs and attachments (images) dropped at once."""
    for k in ("outputs", "attachments"):
        if k in d:
            d[k] = []
    return d


def code_cells(path: Path) -> list[str]:
    """The source of each code cell (nbformat 3 or 4), magics and shell lines blanked out."""
    try:
        if path.stat().st_size > NOTEBOOK_MAX_BYTES:
            return []
        nb = json.loads(path.read_bytes().decode("utf-8", "replace"), object_hook=_without_outputs)
    except (OSError, ValueError, RecursionError):
        return []
    if not isinstance(nb, dict):
        return []
    cells = nb.get("cells")
    if cells is None:  # nbformat 3
        cells = [c for ws in nb.get("worksheets") or [] if isinstance(ws, dict) for c in ws.get("cells") or []]
    out = []
    for c in cells if isinstance(cells, list) else []:
        if not isinstance(c, dict) or c.get("cell_type") != "code":
            continue
        src = c.get("source", c.get("input", ""))
        if isinstance(src, list):
            src = "".join(s for s in src if isinstance(s, str))
        if not isinstance(src, str):
            continue
        lines = source_lines(src)
        if lines and lines[0].lstrip().startswith("%%") and not re.match(r"\s*%%(time|timeit|capture)\b", lines[0]):
            continue  # a cell magic (%%bash, %%writefile ...): not Python
        out.append("\n".join("" if _MAGIC.match(line) else line for line in lines))
    return out


def _parse_blocks(src: str, errors: list | None = None) -> list[tuple[ast.AST, str]]:
    """(statement, its source lines) for each top-level statement; a cell that does not parse as a
    whole is split at unindented lines and the parts that parse are kept.  ``errors`` (if given)
    receives (line in the cell, message, names the broken part defines) for each part that does
    not parse."""
    try:
        tree = ast.parse(src)
        if grammar.newer_syntax(src) is None:  # a part only a newer Python reads is broken on Gradescope
            return [(node, src) for node in tree.body]
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        pass
    lines = source_lines(src)
    starts = [i for i, line in enumerate(lines)
              if line[:1] not in ("", " ", "\t", "#", ")", "]", "}")
              and not re.match(r"(else|elif|except|finally)\b", line)
              and not (i > 0 and lines[i - 1].startswith("@"))]
    out = []
    for a, b in zip(starts, starts[1:] + [len(lines)]):
        chunk = "\n" * a + "\n".join(lines[a:b])  # keep line numbers
        newer = grammar.newer_syntax(chunk)
        try:
            tree = ast.parse(chunk)
            if newer is not None:
                raise SyntaxError(newer[1])
        except SyntaxError as exc:
            if errors is not None:
                names = re.findall(r"^(?:async\s+)?(?:def|class)\s+(\w+)", "\n".join(lines[a:b]), re.M)
                where, msg = newer if newer is not None else (exc.lineno or a + 1, exc.msg or "invalid syntax")
                if newer is not None:
                    msg += f", which Gradescope's Python {'.'.join(map(str, grammar.GRADING_PYTHON))} cannot read"
                errors.append((where, msg, names))
            continue
        except (ValueError, RecursionError, MemoryError):
            continue
        out += [(node, chunk) for node in tree.body]
    return out


def _first_line(node) -> int:
    """The statement's first line in its cell, its decorators included."""
    return min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", [])])


def _segment(node, src: str) -> str:
    return "\n".join(source_lines(src)[_first_line(node) - 1: node.end_lineno])


def _simple(node) -> bool:
    """A value made of literals, names, attributes, operators, containers and pure constructors."""
    if isinstance(node, (ast.Constant, ast.Name)):
        return True
    if isinstance(node, ast.Attribute):
        return _simple(node.value)
    if isinstance(node, ast.UnaryOp):
        return _simple(node.operand)
    if isinstance(node, ast.BinOp):
        return _simple(node.left) and _simple(node.right)
    if isinstance(node, ast.BoolOp):
        return all(_simple(v) for v in node.values)
    if isinstance(node, ast.Compare):
        return _simple(node.left) and all(_simple(c) for c in node.comparators)
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return all(_simple(e) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is None or _simple(k) for k in node.keys) and all(_simple(v) for v in node.values)
    if isinstance(node, ast.Subscript):
        return _simple(node.value) and _simple(node.slice)
    if isinstance(node, ast.Slice):
        return all(p is None or _simple(p) for p in (node.lower, node.upper, node.step))
    if isinstance(node, ast.IfExp):  # device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
        return _simple(node.test) and _simple(node.body) and _simple(node.orelse)
    if isinstance(node, ast.Lambda):  # sq = lambda t: t * t: defining it runs nothing
        return all(_simple(d) for d in node.args.defaults + [d for d in node.args.kw_defaults if d is not None])
    if isinstance(node, ast.Call):
        return ((dotted(node.func) in PURE_CALLS or _nn_module(dotted(node.func)))
                and all(_simple(a) for a in node.args) and all(_simple(k.value) for k in node.keywords))
    return False


# torch.nn's losses and activations, built once in a cell and used by the student's functions
# (criterion = nn.BCEWithLogitsLoss(), mse = nn.MSELoss(reduction='sum'): probe round O, 1-5.5 points lost
# with "name 'criterion' is not defined"); building one runs nothing of the student's
_NN_MODULES = re.compile(r"(torch\.)?nn\.(\w*Loss|Softmax|LogSoftmax|Sigmoid|Tanh|ReLU|LeakyReLU|Flatten|"
                         r"Unflatten|Identity)")


def _nn_module(func: str | None) -> bool:
    return bool(func) and _NN_MODULES.fullmatch(func) is not None


class _CpuOnly(ast.NodeTransformer):
    """torch.cuda.FloatTensor -> torch.FloatTensor; torch.device('cuda...') -> torch.device('cpu')."""

    def visit_Attribute(self, node):
        self.generic_visit(node)
        if (isinstance(node.value, ast.Attribute) and node.value.attr == "cuda"
                and isinstance(node.value.value, ast.Name) and node.value.value.id == "torch"
                and node.attr.endswith("Tensor")):
            return ast.copy_location(ast.Attribute(value=node.value.value, attr=node.attr, ctx=node.ctx), node)
        return node

    def visit_Constant(self, node):
        if isinstance(node.value, str) and re.fullmatch(r"cuda(:\d+)?", node.value):
            return ast.copy_location(ast.Constant("cpu"), node)
        return node


def _targets(node) -> set[str]:
    """Every plain name an assignment statement binds (in tuples too), whatever its value."""
    if not isinstance(node, (ast.Assign, ast.AnnAssign)):
        return set()
    targets = node.targets if isinstance(node, ast.Assign) else [node.target]
    return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}


def _assigned_names(node) -> list[str] | None:
    """Target names of a simple constant assignment, or None if it is not one."""
    if isinstance(node, ast.AnnAssign):
        if node.value is None or not isinstance(node.target, ast.Name):
            return None
        targets, value = [node.target], node.value
    elif isinstance(node, ast.Assign):
        targets, value = node.targets, node.value
    else:
        return None
    names = []
    for t in targets:
        if isinstance(t, ast.Name):
            names.append(t.id)
        elif isinstance(t, (ast.Tuple, ast.List)) and all(isinstance(e, ast.Name) for e in t.elts):
            names += [e.id for e in t.elts]
        else:
            return None
    return names if _simple(value) else None


def _import_ok(node, staged_as: str) -> bool:
    mods = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
    if isinstance(node, ast.ImportFrom) and (node.level or node.module == "__future__"):
        return False
    for m in mods:
        if any(m == d or m.startswith(d + ".") for d in DROPPED_IMPORTS):
            return False
        if m.split(".")[-1] in FILES[staged_as].notebook_modules:
            return False
    return True


def _defined_functions(cells: list[str]) -> set[str]:
    names = set()
    for src in cells:
        for node, _ in _parse_blocks(src):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                names.add(node.name)
    return names


def _overridden(cells: list[str], provided: set[str]) -> dict[str, tuple[int, str]]:
    """Provided names (a class such as Unflatten) the notebook defines again, differently, after the course's
    cell: name -> (cell, source) of the last definition, the one the student's code ran with (probe round O: a
    student's own Unflatten(*shape) was replaced by the course's, and both DC networks failed)."""
    seen: dict[str, list[tuple[int, str]]] = {}
    for i, src in enumerate(cells):
        for node, text in _parse_blocks(src):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.name in provided:
                seen.setdefault(node.name, []).append((i, _segment(node, text)))
    return {n: d[-1] for n, d in seen.items() if len(d) > 1 and d[-1][1].strip() != d[0][1].strip()}


def _template_names(template_src: str) -> set[str]:
    """Names the template binds at top level with def/class or imports (provided helpers, stubs,
    helpers it imports such as image_utils.jitter)."""
    try:
        tree = ast.parse(template_src)
    except SyntaxError:
        return set()
    names = set()
    for n in tree.body:
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(n.name)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            names |= {(a.asname or a.name).split(".")[0] for a in n.names if a.name != "*"}
    return names


def _class_visualization_step(node, src: str) -> str | None:
    """update_class_visulization from the START/END block inside a 2019 create_class_visualization."""
    lines = source_lines(_segment(node, src))
    idx = [i for i, line in enumerate(lines) if line.strip() in (START_MARKER, END_MARKER)]
    if len(idx) < 2:
        found = _step_between_jitters(node)
        if found is None:
            return None
        pre, kept, step = found
        code = ("def update_class_visulization(model, target_y, l2_reg, learning_rate, img):\n"
                "    # the step written inside create_class_visualization's loop in the notebook (2017-2018: the\n"
                "    # statements between the jitter and its undo, after the names they use from before the loop)\n"
                "    t, ox, oy, dtype = 0, 0, 0, img.type()\n")
        if kept:
            # the names made before the loop (img_var = Variable(img, ...)) live across the steps on one img,
            # as in the notebook's loop: a gradient never zeroed adds up from step to step there, and here
            names = "(" + ", ".join(kept) + ",)"
            code = ("_AUTOGRADER_LOOP = {}  # img -> the names made before the notebook's loop\n\n\n" + code +
                    "    _state = _AUTOGRADER_LOOP.get('state')\n"
                    "    if _state is None or _state[0] is not img:\n" + textwrap.indent(pre, "        ") + "\n"
                    f"    else:\n        {names} = _state[1]\n" + textwrap.indent(step, "    ") + "\n"
                    f"    _AUTOGRADER_LOOP['state'] = (img, {names})\n")
        else:
            code += textwrap.indent(step, "    ") + "\n"
    else:
        body = textwrap.dedent("\n".join(lines[idx[0] + 1: idx[1]])).strip("\n")
        if not body.strip():
            body = "pass"
        code = ("def update_class_visulization(model, target_y, l2_reg, learning_rate, img):\n"
                "    # the step written inside create_class_visualization in the notebook\n"
                + textwrap.indent(body, "    ") + "\n")
    try:
        tree = ast.parse(code)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    if any(isinstance(n, (ast.Return, ast.Yield, ast.YieldFrom)) for n in ast.walk(tree.body[-1])):
        return None
    return code


_KWARGS = ("l2_reg", "learning_rate", "num_iterations", "blur_every", "max_jitter", "show_every")


def _step_between_jitters(node) -> tuple[str, list[str], str] | None:
    """The 2017-2018 create_class_visualization's step: in its jitter loop (``jitter_loop.find``), the
    statements between the jitter and its undo; and the statements before the loop that assign a name
    those use (``img_var = Variable(img, ...)``; not ``img`` itself, not the keyword arguments' defaults),
    with the names they assign: (before the loop, names, step).  None if the function does not have that
    shape or the step is empty."""
    def names(n, ctx):
        return {x.id for x in ast.walk(n) if isinstance(x, ast.Name) and isinstance(x.ctx, ctx)}

    body = list(node.body)
    found = jitter_loop.find(body)
    if found is None or found.jitter is None or found.undo <= found.jitter + 1:
        return None
    step = found.loop[found.jitter + 1:found.undo]
    used = set().union(*(names(n, ast.Load) for n in step))
    pre = [n for n in body[:found.at] if isinstance(n, (ast.Assign, ast.AnnAssign, ast.AugAssign))
           and (names(n, ast.Store) & used) - {"img"} and not names(n, ast.Store) & set(_KWARGS)
           and "img" not in names(n, ast.Store)]
    if jitter_loop.returns_or_yields(pre + step):
        return None
    kept = sorted({x for n in pre for x in names(n, ast.Store)})
    return "\n".join(ast.unparse(n) for n in pre), kept, "\n".join(ast.unparse(n) for n in step)


# ------------------------------------------------------------------ assembling a module
def _syntax_stub(name: str, cell: int, line: int, msg: str, shown: str) -> str:
    """A function that says, when called, that its definition in the notebook does not parse."""
    text = (f"cell {cell} of {shown} has a syntax error at line {line} of the cell ({msg}), so {name} could "
            "not be read from it: fix that cell (it must run in the notebook)")
    return (f"def {name}(*args, **kwargs):\n"
            f"    why = {text!r}\n"
            f"    raise SyntaxError(why)  # the notebook's definition of {name} does not parse\n")


def extract(cells: list[str], staged_as: str, template_src: str, shown: str = "the notebook") -> tuple[str, dict]:
    """Notebook part of the module for ``staged_as`` and a summary of what was taken."""
    wanted = FILES[staged_as].notebook_functions
    provided = _template_names(template_src) - set(wanted)
    if staged_as == "network_visualization.py":
        provided.add("create_class_visualization")  # provided in the template; its step is handled below
    parts, taken, consts, kept, imports = [], [], [], set(), 0
    spans: list[tuple[int, int, int]] = []  # (index in parts, cell, the part's first line in the cell)
    step_code = None
    defined = _defined_functions(cells)
    overrides = _overridden(cells, provided)
    own: list[str] = []
    broken: dict[str, tuple[int, int, str]] = {}  # wanted function -> (cell, line, message) of a part that does not parse
    for i, src in enumerate(cells):
        errors: list = []
        blocks = _parse_blocks(src, errors)
        for line, msg, names in errors:
            for n in names:
                if n in wanted:
                    broken[n] = (i + 1, line, msg)
        for node, text in blocks:
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                if _import_ok(node, staged_as):
                    parts.append(f"# cell {i + 1}\ntry:\n{textwrap.indent(_segment(node, text), '    ')}\n"
                                 "except Exception:  # not available where the grader runs\n    pass\n")
                    imports += 1
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                if node.name in provided and overrides.get(node.name) != (i, _segment(node, text)):
                    kept.add(node.name)
                    if (node.name == "create_class_visualization" and staged_as == "network_visualization.py"
                            and not (defined & set(_STEP_NAMES))):
                        step_code = _class_visualization_step(node, text) or step_code
                    continue
                parts.append(f"# cell {i + 1}\n{_segment(node, text)}\n")
                spans.append((len(parts) - 1, i + 1, _first_line(node)))
                if node.name in provided:
                    own.append(node.name)
                    kept.discard(node.name)
                if node.name in wanted and node.name not in taken:
                    taken.append(node.name)
            else:
                names = _assigned_names(node)
                if not names and staged_as in ("network_visualization.py", "net_visualization_tensorflow.py") \
                        and "class_names" in _targets(node) and "class_names" not in consts:
                    # the course's `X, y, class_names = load_imagenet_val(num=5)`: data the grader does not load,
                    # yet a student's function may print with it (probe round O: a correct make_fooling_image lost
                    # 5 points on "name 'class_names' is not defined"); the names, as the grader's model has them
                    parts.append(f"# cell {i + 1}: the course's ImageNet class names, as numbered labels\n"
                                 "class_names = {k: f'class {k}' for k in range(1000)}\n")
                    consts.append("class_names")
                if names:
                    new = _CpuOnly().visit(node)
                    ast.fix_missing_locations(new)
                    # guarded like the imports: a value made of what only the running notebook had (the
                    # course's `Xi = X[idx][None]`, X being loaded by a call that is not taken) is left out,
                    # instead of failing the import of every function of the file
                    parts.append(f"# cell {i + 1}\ntry:\n{textwrap.indent(ast.unparse(new), '    ')}\n"
                                 "except Exception:  # needs what only the running notebook had\n    pass\n")
                    consts += [n for n in names if n not in consts]
    if step_code is not None:
        parts.append(step_code)
        taken.append("update_class_visulization (the step inside create_class_visualization)")
    # a function whose only definition is in a part of a cell that does not parse: calling it says so
    # (instead of grading the template's stub as "not implemented")
    syntax_stubs = []
    if "create_class_visualization" in broken and step_code is None and not (defined & set(_STEP_NAMES)):
        step_alias = ("class_visualization_update_step" if FILES[staged_as].framework == "tensorflow"
                      else "update_class_visulization")
        broken.setdefault(step_alias, broken["create_class_visualization"])  # its step lives there
    for n, (cell, line, msg) in broken.items():
        if n in defined or n in taken or n == "create_class_visualization":
            continue
        parts.append(_syntax_stub(n, cell, line, msg, shown))
        syntax_stubs.append(n)
    names = [t.split(" ")[0] for t in taken] + syntax_stubs
    starts, line = [], 1  # each part's first line in the returned text
    for part in parts:
        starts.append(line)
        line += part.count("\n") + 1
    # [first line in the returned text, lines, cell, first line in the cell] of each definition taken whole
    cell_map = [[starts[k] + 1, parts[k].count("\n") - 1, cell, first] for k, cell, first in spans]
    return "\n".join(parts), {"cell_map": cell_map, "functions": taken, "constants": consts, "kept_from_template": sorted(kept),
                              "own_versions": own,
                              "imports": imports, "step_from_inline": step_code is not None,
                              "names": names, "syntax_errors": {n: broken[n] for n in syntax_stubs}}


def _score(cells: list[str], staged_as: str) -> int:
    return len(_defined_functions(cells) & set(FILES[staged_as].notebook_functions))


def notebook_framework(path: Path, cells: list[str]) -> str | None:
    """"tensorflow" or "pytorch": what a notebook's code imports (one of the two only), else what its name
    says (``NetworkVisualization-TensorFlow.ipynb``); None when nothing tells.  The two tracks' notebooks
    define functions of the same names: a file of one track is never taken from the other's notebook."""
    found = set()
    for src in cells:
        for node, _ in _parse_blocks(src):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                mods = [node.module or ""]
            else:
                continue
            for m in mods:
                top = m.split(".")[0]
                if top == "tensorflow":
                    found.add("tensorflow")
                elif top in ("torch", "torchvision"):
                    found.add("pytorch")
    if len(found) == 1:
        return found.pop()
    name = Path(path).name.lower()
    if "tensorflow" in name:
        return "tensorflow"
    if "pytorch" in name:
        return "pytorch"
    return None


def fill_from_notebooks(report, root, notebooks, pkg_dir, template: Path | None = None) -> None:
    """For each Q3-Q5 file missing from the submission, build it from the notebook that defines the
    most of its functions (if any) and mark it ``origin="notebook"`` in the staging report."""
    root, pkg_dir = Path(root), Path(pkg_dir)
    template = Path(template) if template is not None else TEMPLATE
    # a .py copy that implements none of the file's functions (the course's starter file, e.g. the precheck
    # bundle's student_template/ unpacked beside 2019 notebooks) gives way to a notebook that implements some
    targets = [sf for sf in report.files.values() if FILES[sf.staged_as].notebook_functions
               and (sf.origin == "missing" or (sf.origin == "file" and sf.written == 0))]
    if not targets or not notebooks:
        return
    parsed = {Path(nb): code_cells(Path(nb)) for nb in sorted(notebooks, key=lambda p: str(p))}
    for sf in targets:
        starter = sf.source if sf.origin == "file" else None
        try:
            others = _fill_one(sf, parsed, root, pkg_dir, template, need_written=starter is not None)
            if others and sf.origin == "notebook":  # as for two .py copies: which one counted is said
                report.messages.append(f"{sf.staged_as}: used the notebook {sf.source}; also found "
                                       f"{', '.join(others[:3])}, which implements its functions too (ignored)")
        except Exception as exc:  # a pathological notebook must not stop the grading of everything else
            if starter is None:
                (pkg_dir / sf.staged_as).unlink(missing_ok=True)
                sf.origin, sf.source, sf.note = "missing", None, ""
            report.messages.append(f"{sf.staged_as}: a notebook could not be used ({type(exc).__name__}: "
                                   f"{str(exc)[:200]})")
            continue
        if starter is not None and sf.origin == "notebook":
            report.messages.append(f"{sf.staged_as}: {starter} is the course's starter file (none of its functions "
                                   f"is written), so the functions were taken from the notebook {sf.source}")


def _fill_one(sf, parsed: dict, root: Path, pkg_dir: Path, template: Path, need_written: bool = False) -> list[str]:
    """Build ``sf``'s file from the notebook that implements the most of its functions (then: defines the
    most, has the course's name, comes first by path); with ``need_written``, only from one that implements
    at least one.  Returns the other notebooks that implement some of them (a stale -Copy1 notebook)."""
    spec = FILES[sf.staged_as]
    tpl = template / PACKAGE / sf.staged_as
    template_src = tpl.read_text() if tpl.exists() else ""
    counter = stubs.Counter(sf.staged_as, template_src)
    best, best_key, implementing = None, None, []
    for nb, cells in parsed.items():
        if spec.framework in ("pytorch", "tensorflow") and notebook_framework(nb, cells) not in (spec.framework, None):
            continue  # the other track's notebook
        s = _score(cells, sf.staged_as)
        if s == 0:
            continue
        # the cells' statements in order: the last definition of a name counts, as when the notebook runs
        written = counter.count_nodes([node for src in cells for node, _ in _parse_blocks(src)])
        if need_written and written == 0:
            continue
        key = (written, s, nb.name in spec.notebooks)
        if written:
            implementing.append(nb)
        if best_key is None or key > best_key:  # ties: the first by path
            best, best_key = nb, key
    if best is None:
        return []
    try:
        rel = best.relative_to(root).as_posix()
    except ValueError:
        rel = best.name
    body, info = extract(parsed[best], sf.staged_as, template_src, shown=rel)
    header = (f"# {PACKAGE}/{sf.staged_as} assembled by the autograder: the course's provided code\n"
              f"# (template), then the imports, definitions and constants of the code cells of {rel}.\n"
              "# Nothing else from the notebook runs here (no training, plotting or downloads).\n")
    provided = header + template_src.rstrip("\n")
    before_body = provided + "\n\n\n" + f"# {'-' * 60} from the notebook {rel}\n"
    source = before_body + body
    offset = before_body.count("\n")
    sf.cell_map = [[first + offset, n, cell, cell_line] for first, n, cell, cell_line in info["cell_map"]]
    dest = pkg_dir / sf.staged_as
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(source)
    sf.origin, sf.source = "notebook", rel
    if spec.framework == "tensorflow":  # every cell tells the era, the ones not taken too (sess = get_session())
        sf.era_evidence = [sum(x) for x in zip(*(era_scores(c) for c in parsed[best]))] or [0, 0]
    sf.functions = list(info["names"])
    sf.provided_lines = provided.count("\n") + 1
    note = "functions taken from the notebook's code cells: " + (", ".join(info["functions"]) or "none")
    if info["constants"]:
        note += "; constants: " + ", ".join(info["constants"])
    if info["kept_from_template"]:
        note += "; provided code kept from the course's file: " + ", ".join(info["kept_from_template"])
    if info["own_versions"]:
        note += ("; your own version of provided code, defined again after the course's cell: "
                 + ", ".join(info["own_versions"]))
    defined = _defined_functions(parsed[best])
    missing = [f for f in FILES[sf.staged_as].notebook_functions
               if f not in defined and f not in ("create_class_visualization", "class_visualization_update_step")]
    if info["step_from_inline"] or "class_visualization_update_step" in defined:
        missing = [f for f in missing if f != "update_class_visulization"]
    errors = info["syntax_errors"]
    for n, (cell, line, msg) in sorted(errors.items()):
        note += f"; {n}: cell {cell} has a syntax error at line {line} ({msg}), so it could not be read"
    missing = [f for f in missing if f not in errors]
    if missing:
        note += "; not defined in the notebook (graded as missing): " + ", ".join(missing)
    sf.note = note
    shown = []
    for nb in implementing:
        if nb != best:
            try:
                shown.append(nb.relative_to(root).as_posix())
            except ValueError:
                shown.append(nb.name)
    return shown
