"""Source rewrites applied to a staged student file, keeping every line where it was.

Each rewrite edits spans of the source found with ``ast`` and replaces them in
place: no line is added or removed, so a traceback still points at the
student's own line (only columns on an edited line may move).  Nothing here
runs student code: the file is parsed, never imported.

- ``cpu_only``: GPU-only lines run on the CPU.  Every value check runs on the
  CPU, and code written on Colab or a GPU machine moves tensors and models to
  the GPU: ``torch.cuda.FloatTensor`` -> ``torch.FloatTensor`` (any
  ``torch.cuda.<X>Tensor``), the device strings ``'cuda'`` / ``'cuda:0'`` ->
  ``'cpu'`` (``device='cuda'``, ``torch.device("cuda")``, ``.to("cuda")``), and
  ``x.cuda(...)`` -> ``x.cpu()``.  The same mapping is applied to the constants
  taken from a notebook (``grader.engine.notebook``).  A static rewrite rather
  than a patched torch: ``torch.device`` and the tensor factories are C
  functions that torch itself calls, and replacing them in the worker would
  change torch for the grader's own helpers too.
- ``comment_out_imports``: module-level import lines whose package the grading
  environment does not have are commented out (the rest of the file can still
  be graded; a function that uses the name fails on its own).
"""
from __future__ import annotations

import ast
import re

_CUDA_DEVICE = re.compile(r"cuda(:\d+)?")
_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


def source_lines(src: str, keepends: bool = False) -> list[str]:
    """``src``'s lines as Python numbers them: ended by \\n, \\r\\n or \\r only (``str.splitlines`` also
    breaks at form feeds, U+2028 and other characters a comment may hold, and would shift every line
    after one)."""
    lines = _LINE.findall(src)
    return lines if keepends else [line.rstrip("\r\n") for line in lines]


def _offsets(src: str):
    """(line, byte column) -> character index into ``src`` (ast columns count UTF-8 bytes)."""
    lines = source_lines(src, keepends=True)
    starts, pos = [], 0
    for line in lines:
        starts.append(pos)
        pos += len(line)
    starts.append(pos)

    def index(lineno: int, col: int) -> int:
        line = lines[lineno - 1] if lineno - 1 < len(lines) else ""
        return starts[lineno - 1] + len(line.encode("utf-8")[:col].decode("utf-8", "ignore"))
    return index


def _apply(src: str, edits: list[tuple[int, int, str]]) -> str:
    """Replace non-overlapping character spans (outermost first wins)."""
    edits = sorted(edits, key=lambda e: (e[0], -e[1]))
    kept, end = [], -1
    for a, b, text in edits:
        if a >= end:
            kept.append((a, b, text))
            end = b
    for a, b, text in reversed(kept):
        src = src[:a] + text + src[b:]
    return src


def dotted(node) -> str | None:
    """``a.b.c`` for a Name/Attribute chain, None for anything else (a call, a subscript ...)."""
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute):
        base = dotted(node.value)
        return f"{base}.{node.attr}" if base else None
    return None


def cpu_only(src: str) -> tuple[str, list[tuple[int, str]]]:
    """``src`` with its GPU-only expressions mapped to the CPU, and (line, what) for each change.
    A file that does not parse is returned unchanged (its import reports the syntax error)."""
    try:
        tree = ast.parse(src)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return src, []
    index = _offsets(src)
    edits, changes = [], []
    for node in ast.walk(tree):
        if (isinstance(node, ast.Attribute) and node.attr.endswith("Tensor")
                and isinstance(node.value, ast.Attribute) and node.value.attr == "cuda"
                and dotted(node.value.value) == "torch"):
            a, b = index(node.lineno, node.col_offset), index(node.end_lineno, node.end_col_offset)
            edits.append((a, b, f"torch.{node.attr}"))
            changes.append((node.lineno, f"torch.cuda.{node.attr} -> torch.{node.attr}"))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and _CUDA_DEVICE.fullmatch(node.value):
            a, b = index(node.lineno, node.col_offset), index(node.end_lineno, node.end_col_offset)
            edits.append((a, b, "'cpu'"))
            changes.append((node.lineno, f"'{node.value}' -> 'cpu'"))
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "cuda"
              and dotted(node.func.value) != "torch"):
            # x.cuda(...) -> x.cpu(): from the end of x to the end of the call, keeping its line breaks
            a = index(node.func.value.end_lineno, node.func.value.end_col_offset)
            b = index(node.end_lineno, node.end_col_offset)
            breaks = src[a:b].count("\n")
            edits.append((a, b, ".cpu(" + "\n" * breaks + ")"))
            changes.append((node.lineno, ".cuda() -> .cpu()"))
    if not edits:
        return src, []
    new = _apply(src, edits)
    if new.count("\n") != src.count("\n"):  # never move a line
        return src, []
    try:
        ast.parse(new)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return src, []
    return new, sorted(set(changes))


def summarize(changes: list[tuple[int, str]], limit: int = 6) -> str:
    """'line 12: .cuda() -> .cpu(); line 30: 'cuda' -> 'cpu' ...'"""
    by_line: dict[int, list[str]] = {}
    for line, what in changes:
        by_line.setdefault(line, [])
        if what not in by_line[line]:
            by_line[line].append(what)
    parts = [f"line {n}: {', '.join(w)}" for n, w in sorted(by_line.items())]
    more = f"; and {len(parts) - limit} more line(s)" if len(parts) > limit else ""
    return "; ".join(parts[:limit]) + more


def module_imports(src: str) -> list[tuple[ast.stmt, str, int]]:
    """(statement, module, relative level) for each module-level import statement (one entry per
    imported module; ``from __future__`` left out)."""
    try:
        tree = ast.parse(src)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    out = []
    for node in tree.body:
        if isinstance(node, ast.Import):
            out += [(node, a.name, 0) for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module != "__future__":
            out.append((node, node.module or "", node.level))
    return out


def statement_text(src: str, node: ast.stmt) -> str:
    lines = source_lines(src)
    return "\n".join(lines[node.lineno - 1: node.end_lineno]).strip()


def comment_out(src: str, nodes: list[ast.stmt], reason: str) -> str:
    """Comment out each of ``nodes`` (module-level statements), line by line, with ``reason``
    after the first line; a statement that shares a line with another is left alone."""
    lines = source_lines(src, keepends=True)
    for node in sorted(nodes, key=lambda n: n.lineno, reverse=True):
        if node.col_offset != 0:
            continue
        first, last = node.lineno - 1, node.end_lineno - 1
        tail = lines[last].encode("utf-8")[node.end_col_offset:].decode("utf-8", "ignore")
        if tail.strip() and not tail.strip().startswith("#"):
            continue  # `import x; y = 1`: not a line of its own
        for i in range(first, last + 1):
            body = lines[i].rstrip("\r\n")
            end = lines[i][len(body):]
            note = f"  # [autograder: {reason}]" if i == first else ""
            lines[i] = "# " + body + note + end
    return "".join(lines)
