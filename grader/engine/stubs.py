"""Which copy of a student file holds the work: how many of the assignment's functions a copy implements.

A submission often holds a file twice: the precheck bundle's ``student_template/`` unpacked into the
assignment folder, a stale ``cs231n/`` beside the ``deeplearning/`` the student worked in, ``assignment2
(1)/`` from a second download, Jupyter's ``...-Copy1.ipynb``.  The copy the student worked in is the one
whose functions are written; staging (``grader.engine.staging``) and the notebook reader
(``grader.engine.notebook``) rank candidates by this count first and by where they lie only after.

A function counts as written when its body holds a statement that is neither the starter's placeholder
(``pass``, a docstring, ``raise NotImplementedError``, ``x = None``, ``return a, b``) nor one of the
provided statements of the same function in the course's file (the template).  Pure ``ast`` over text:
nothing of the student's runs here.
"""
from __future__ import annotations

import ast

from grader.questions import FILES


def _placeholder(stmt: ast.stmt) -> bool:
    if isinstance(stmt, ast.Pass):
        return True
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Constant):  # a docstring, `...`
        return True
    if isinstance(stmt, ast.Raise):
        exc = stmt.exc.func if isinstance(stmt.exc, ast.Call) else stmt.exc
        return isinstance(exc, ast.Name) and exc.id == "NotImplementedError"
    if isinstance(stmt, (ast.Assign, ast.AnnAssign)):
        value = stmt.value
        vals = value.elts if isinstance(value, ast.Tuple) else [value]
        return all(v is None or (isinstance(v, ast.Constant) and v.value is None) for v in vals)
    if isinstance(stmt, ast.Return):
        vals = stmt.value.elts if isinstance(stmt.value, ast.Tuple) else [stmt.value]
        return all(v is None or isinstance(v, (ast.Name, ast.Constant)) for v in vals)
    return False


def _functions(nodes) -> dict[str, ast.AST]:
    """name -> the last definition of each top-level function and each method (``loss``, ``sample``) among
    the top-level statements ``nodes``."""
    out = {}
    for node in nodes:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            out[node.name] = node
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    out[item.name] = item
    return out


def _parse(text: str):
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


class Counter:
    """``count(text)``: how many of ``staged_as``'s functions ``text`` implements, against ``template_text``
    (the course's file; "" when there is none, as for the TensorFlow files)."""

    def __init__(self, staged_as: str, template_text: str):
        tree = _parse(template_text) if template_text else None
        tpl = _functions(tree.body) if tree is not None else {}
        # the student-written functions: those a notebook may define, else the template's (its provided
        # functions count only where a copy changed them)
        self.names = set(FILES[staged_as].notebook_functions) or set(tpl)
        self.provided = {name: {ast.dump(s) for s in ast.walk(fn) if isinstance(s, ast.stmt) and s is not fn}
                         for name, fn in tpl.items()}

    def written(self, fn) -> bool:
        provided = self.provided.get(fn.name, set())
        return any(not _placeholder(s) and ast.dump(s) not in provided for s in fn.body)

    def count_nodes(self, nodes) -> int:
        """Among the top-level statements ``nodes`` (a module's, or a notebook's cells' in order)."""
        return sum(1 for name, fn in _functions(nodes).items() if name in self.names and self.written(fn))

    def count(self, text: str) -> int:
        """-1 when ``text`` does not parse (such a copy is ranked by where it lies, after parsed ones)."""
        tree = _parse(text)
        return -1 if tree is None else self.count_nodes(tree.body)
