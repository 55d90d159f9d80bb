"""Student code from the seed documents, read at run time from ``../shared/seeds/``.

The seeds are the project's source material (see ../shared/DESIGN.md); the tests take real
students' code from them instead of keeping copies.  A test that needs a seed that is absent
is *skipped* with a message naming the missing file (``pytest.skip``), never passed.

Seed 001 (``001_*.txt``, a blog post): a real student's Q1/Q2 layer functions in markdown
``` python fences, clean and complete.  ``seed001_layer_functions()`` returns the fences' code,
joined in order.

Seed 004 (``004_*.txt``): the CS231n 2019 assignment-3 notebooks of one student, rendered as
text: prose, ``In [n]:`` cell markers, code in ``` fences, and the cells' printed outputs.  The
rendering damaged the code in three ways, which ``seed004_cells(notebook)`` repairs:

1. *Mixed outputs.*  A cell's printed output follows its code, sometimes inside the same fence
   (``gram_matrix_test(...)`` then ``Maximum error is 0.001``), sometimes as plain text or in a
   fence of its own.  Jupyter prints outputs after a cell's code, so a cell's code is a prefix of
   what follows its marker: fences are taken in order, and the code ends where

   - a fence's remaining lines no longer parse as Python (the longest prefix that parses is
     kept: the rest is output),
   - an ``Out [n]:`` marker starts (a displayed value),
   - a fence that would start a new statement holds only bare expressions that call nothing
     (the printed ``Error is 0.000`` parses as a comparison, a printed class name as a name), or
   - a line outside any fence is not code.  Outside fences the rendering left two kinds of code
     line: the continuation of a statement still open (a docstring split around a page break),
     and the classic last line of a notebook cell, a call of a function the cell defines
     (``test_sample_noise()``).  Every other unfenced line is prose or output.

   A printed line that parses as a call (``torch.Size([128, 1])``, printed by
   ``print(out.size())``) is recognised as output when it follows, after a blank line, a
   top-level ``print(...)`` call that ends the cell's code.

2. *Split cells.*  A page break splits a cell into several fences (and duplicates the line at
   the break: ``plt.axis('off')`` ends one fence and starts the next; the copy is dropped).  A
   fence continues the previous piece's block when that piece is still open (unterminated
   docstring, unclosed bracket, a block header without a body) or ends on an indented line;
   it starts a new top-level statement when the previous piece ended at column 0, when its
   first line calls a function the cell defines (the cell's test call), or when continuing the
   block would put it after that block's ``return`` (unreachable code: build_dc_classifier's
   cell, whose next fence is the top-level ``data = next(...)``).

3. *Lost indentation.*  Continuation fences lost leading spaces (between 0 and 8 per line,
   clamped at column 0).  A continuation is shifted right by the indentation of the previous
   piece's last line minus that of its own first line (+4 when the previous line opens a block);
   if that does not parse, the nearest shift that does.  Lines clamped to column 0 may have
   been indented less than that shift; the placement is then ambiguous, and two rules resolve the
   cases that matter: a ``return`` rendered at column 0 goes to its function's body level (a
   trailing ``return`` inside the function's main loop would end the loop after one pass:
   create_class_visualization), and an ``END OF YOUR CODE`` marker gets the indentation of its
   ``START OF YOUR CODE`` marker.  In the course's plotting helper show_saliency_maps (not
   graded, never run by the grader) ``plt.show()`` thus stays inside the loop.

Magic and shell lines (``%matplotlib inline``) are kept as text and ignored when parsing, as
Jupyter does.  Checked against a by-hand restoration of the same cells: every function and class
comes out with the same syntax tree (docstrings aside, which the hand copy had reflowed), except
show_saliency_maps' ``plt.show()`` above; tests/test_seeds.py checks the repairs on the seed.

Only the cells the seed holds are returned: the rendering starts each notebook after its set-up
cells (imports, ``NOISE_DIM``/``batch_size``, provided helpers), which are the course's, not the
student's (tests/engine/test_notebook.py adds the few it needs).
"""
from __future__ import annotations

import ast
import re
import warnings
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import pytest

from grader.paths import ROOT

SEEDS = ROOT.parent / "shared" / "seeds"

# notebook (file stem) -> its title line in seed 004: the three PyTorch notebooks (Q3-Q5), whose code
# cells hold the student's functions.  The seed's two captioning notebooks come before them (their
# titles only delimit the notebooks here): they hold the course's test cells, not the student's code
# (seed 001 has a student's Q1/Q2 functions), and one of their cells was rendered beyond repair (a
# call whose closing line the page break altered).
SEED004_NOTEBOOKS = {
    "NetworkVisualization-PyTorch": "Network Visualization (PyTorch)",
    "StyleTransfer-PyTorch": "Style Transfer",
    "GANs-PyTorch": "Generative Adversarial Networks (GANs)",
}
_TITLES = {"Image Captioning with RNNs", "Image Captioning with LSTMs", *SEED004_NOTEBOOKS.values()}

START = "# *****START OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****"
END = "# *****END OF YOUR CODE (DO NOT DELETE/MODIFY THIS LINE)*****"


# ------------------------------------------------------------------ finding seeds
def seed_path(number: str) -> Path:
    """The seed ``<number>_*.txt`` in ../shared/seeds/; skips the calling test if it is absent."""
    found = sorted(SEEDS.glob(f"{number}_*.txt"))
    if not found:
        pytest.skip(f"seed {number}_*.txt is missing from {SEEDS} (the tests that need it cannot run)")
    return found[0]


def seed_text(number: str) -> str:
    return seed_path(number).read_text(encoding="utf-8")


# ------------------------------------------------------------------ seed 001
def seed001_layer_functions() -> str:
    """Seed 001's Python fences (the student's rnn_*/word_embedding_*/lstm_* functions), in order."""
    blocks = re.findall(r"^```\s*python[ \t]*\n(.*?)^```", seed_text("001"), flags=re.S | re.M)
    return "\n\n".join(b.strip("\n") for b in blocks) + "\n"


# ------------------------------------------------------------------ seed 004
_MAGIC = re.compile(r"^[ \t]*[%!].*$", re.M)  # IPython magics and shell lines: not Python, kept as text
_MARK = re.compile(r"^\s*(In|Out|xx) \[\s*(\d*)\s*\]:\s*$")


@dataclass
class _Piece:
    fenced: bool
    lines: list[str]


def _notebook_lines(text: str, notebook: str) -> list[str]:
    if notebook not in SEED004_NOTEBOOKS:
        raise KeyError(f"seed 004 has no notebook {notebook!r}; it has {', '.join(SEED004_NOTEBOOKS)}")
    lines = text.splitlines()
    title = SEED004_NOTEBOOKS[notebook]
    try:
        start = next(i for i, ln in enumerate(lines) if ln.strip() == title)
    except StopIteration:
        raise AssertionError(f"seed 004 no longer holds the notebook titled {title!r}") from None
    end = next((i for i in range(start + 1, len(lines))
                if re.fullmatch(r"In \[\s*\]:", lines[i].strip()) or lines[i].strip() in _TITLES), len(lines))
    return lines[start + 1:end]


def _cells(lines: list[str]) -> list[list[_Piece]]:
    """Pieces (fences, and single unfenced lines) after each ``In``/``xx`` marker, up to the next
    marker or ``Out`` marker; blank unfenced lines are layout and dropped."""
    cells: list[list[_Piece]] = []
    current: list[_Piece] | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.strip().startswith("```"):
            j = i + 1
            while j < len(lines) and lines[j].strip() != "```":
                j += 1
            body = [ln.rstrip() for ln in lines[i + 1:j]]
            i = j + 1
            marks = [ln for ln in body if ln.strip()]
            if len(marks) == 1 and _MARK.match(marks[0]):  # a marker the rendering put in a fence
                line = marks[0]
            else:
                if current is not None:
                    current.append(_Piece(True, body))
                continue
        else:
            i += 1
        m = _MARK.match(line)
        if m:
            current = [] if m.group(1) in ("In", "xx") else None
            if current is not None:
                cells.append(current)
        elif current is not None and line.strip():
            current.append(_Piece(False, [line.rstrip()]))
    return cells


def _status(src: str) -> str:
    """"ok", "open" (a statement, string or bracket still open at the end) or "error"."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # SyntaxWarnings of the student's code ("is" with a literal)
            compile(_MAGIC.sub("", src), "<cell>", "exec", dont_inherit=True)
        return "ok"
    except SyntaxError as exc:
        msg = exc.msg or ""
        if (msg.startswith("unterminated triple-quoted string") or "was never closed" in msg
                or msg.startswith("expected an indented block") or "unexpected EOF" in msg):
            return "open"
        return "error"


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _last_code_line(lines: list[str]) -> str | None:
    return next((ln for ln in reversed(lines) if ln.strip()), None)


def _defined(lines: list[str]) -> set[str]:
    return set(re.findall(r"^\s*def (\w+)\(", "\n".join(lines), flags=re.M))


def _calls_defined(line: str, defined: set[str]) -> bool:
    m = re.match(r"(\w+)\(", line.strip())
    return bool(m and m.group(1) in defined)


def _shifted(lines: list[str], shift: int) -> list[str]:
    return [(" " * shift + ln) if ln.strip() else "" for ln in lines]


def _unreachable(code: list[str], first_new: int) -> bool:
    """Is the statement starting at line index ``first_new`` placed after a ``return`` of its block?"""
    try:
        tree = ast.parse("\n".join(code))
    except SyntaxError:
        return False
    for node in ast.walk(tree):
        for field in ("body", "orelse", "finalbody"):
            body = getattr(node, field, None)
            if not isinstance(body, list):
                continue
            seen_return = False
            for stmt in body:
                if isinstance(stmt, ast.stmt) and stmt.lineno - 1 == first_new and seen_return:
                    return True
                seen_return = seen_return or isinstance(stmt, ast.Return)
    return False


def _fix_clamped_returns(code: list[str], start: int, rendered: list[str], shift: int) -> None:
    """A ``return`` the rendering clamped to column 0 goes to its function's body level."""
    if shift <= 0:
        return
    for k, raw in enumerate(rendered):
        idx = start + k
        if raw.startswith("return") and idx < len(code):
            defs = [code[j] for j in range(idx - 1, -1, -1) if re.match(r"\s*def \w+\(", code[j])
                    and _indent(code[j]) < _indent(code[idx])]
            if defs:
                code[idx] = " " * (_indent(defs[0]) + 4) + raw


def _fix_end_markers(code: list[str]) -> list[str]:
    """An END OF YOUR CODE marker gets the indentation of the START marker it closes."""
    out, starts = list(code), []
    for idx, line in enumerate(out):
        if line.strip() == START:
            starts.append(_indent(line))
        elif line.strip() == END and starts:
            out[idx] = " " * starts.pop() + END
    return out


def _place(code: list[str], lines: list[str], shift: int) -> tuple[list[str], bool] | None:
    """``code`` followed by ``lines`` shifted right by ``shift`` (left if negative), cut where the rest
    stops parsing; and whether lines were cut off (printed output).  None if no line fits."""
    cand = _shifted(lines, shift) if shift >= 0 else [ln[-shift:] if ln.strip() else "" for ln in lines]
    trial = code + cand
    _fix_clamped_returns(trial, len(code), lines, shift)
    n = _longest_parsing_prefix(code, trial[len(code):])
    if n == 0:
        return None
    return trial[:len(code) + n], any(ln.strip() for ln in lines[n:])


def _longest_parsing_prefix(code: list[str], piece: list[str]) -> int:
    """How many of ``piece``'s lines, appended to ``code``, still make valid (or still open) Python."""
    for n in range(len(piece), 0, -1):
        if not piece[n - 1].strip():
            continue
        if _status("\n".join(code + piece[:n])) in ("ok", "open"):
            return n
    return 0


def _only_values(lines: list[str]) -> bool:
    """Are these lines, on their own, only bare expressions that call nothing (``Error is 0.000``
    parses as a comparison, ``hay`` as a name)?  Such a piece is printed output, not code."""
    try:
        body = ast.parse("\n".join(lines)).body
    except SyntaxError:
        return False
    return bool(body) and all(isinstance(n, ast.Expr) and not isinstance(n.value, ast.Call) for n in body)


def _strip_printed(code: list[str]) -> list[str]:
    """Drop what a final top-level ``print(...)`` printed (see the module docstring)."""
    try:
        tree = ast.parse("\n".join(code))
    except SyntaxError:
        return code
    body = tree.body
    for k in range(len(body) - 1, 0, -1):
        prev = body[k - 1]
        if (isinstance(prev, ast.Expr) and isinstance(prev.value, ast.Call)
                and isinstance(prev.value.func, ast.Name) and prev.value.func.id == "print"
                and all(isinstance(s, ast.Expr) for s in body[k:])
                and not code[prev.end_lineno].strip()):  # a blank line between the print and the rest
            return code[:prev.end_lineno]
    return code


def _assemble(pieces: list[_Piece]) -> str | None:
    code: list[str] = []
    for piece in pieces:
        lines = piece.lines
        if not code:
            if not piece.fenced:
                continue  # prose or output before the cell's first fence
            n = _longest_parsing_prefix([], lines)
            code = lines[:n]
            if n < len(lines) and any(ln.strip() for ln in lines[n:]):
                break
            continue
        state = _status("\n".join(code))
        defined = _defined(code)
        first = next((ln for ln in lines if ln.strip()), "")
        last = _last_code_line(code) or ""
        if state == "ok" and not piece.fenced and not _calls_defined(first, defined):
            break  # prose or printed output
        if state == "ok" and first.strip() == last.strip():
            lines = lines[lines.index(first) + 1:]  # the line a page break repeated
            first = next((ln for ln in lines if ln.strip()), "")
            if not first:
                continue
        # continuation of the open block, or a new top-level statement?
        cont = state == "open" or (_indent(last) > 0 and not _calls_defined(first, defined))
        chosen = None
        if cont:
            base = _indent(last) + (4 if last.rstrip().endswith(":") else 0) - _indent(first)
            lowest = -min(_indent(ln) for ln in lines if ln.strip())
            for s in [base] + [s for d in (4, 8, 12) for s in (base - d, base + d)]:
                if s < lowest:
                    continue
                placed = _place(code, lines, s)
                if placed is None:
                    continue
                if state == "ok" and _unreachable(placed[0], len(code) + next(
                        (k for k, ln in enumerate(lines) if ln.strip() and not ln.lstrip().startswith("#")), 0)):
                    break  # continuing would follow the block's return: a new statement instead
                chosen = placed
                break
        if chosen is None and state == "ok":
            if _only_values(lines):
                break  # a displayed value, not code
            chosen = _place(code + [""] if code[-1].strip() else code, lines, 0)
        if chosen is None:
            break  # not code: output
        code, ended = chosen
        if ended:
            break  # the rest of that fence was output
    while code and not code[-1].strip():
        code.pop()
    if not code or _status("\n".join(code)) != "ok":
        return None
    code = _strip_printed(_fix_end_markers(code))
    return "\n".join(code).strip("\n")


@lru_cache(maxsize=None)
def _seed004_cells(text: str, notebook: str) -> tuple[str, ...]:
    out = []
    for pieces in _cells(_notebook_lines(text, notebook)):
        src = _assemble(pieces)
        if src:
            out.append(src)
    return tuple(out)


def seed004_cells(notebook: str) -> list[str]:
    """The code cells of ``notebook`` (a key of SEED004_NOTEBOOKS) in seed 004, repaired as the
    module docstring describes; each cell's source compiles."""
    return list(_seed004_cells(seed_text("004"), notebook))


# ------------------------------------------------------------------ seed 002 (TensorFlow, CS231n 2017)
def _fences_by_heading(text: str) -> dict[str, list[str]]:
    """``#####`` heading -> the ```python fences under it (until the next heading of any level)."""
    out: dict[str, list[str]] = {}
    heading = None
    for part in re.split(r"^(#{2,5} .*)$", text, flags=re.M):
        if re.match(r"#{2,5} ", part):
            heading = part.lstrip("#").strip()
            continue
        if heading is not None:
            out.setdefault(heading, []).extend(
                re.findall(r"^```\s*python[ \t]*\n(.*?)^```", part, flags=re.S | re.M))
    return out


def seed002_tensorflow() -> dict[str, str]:
    """Seed 002's TensorFlow code of Q3/Q4 (CS231n 2017's TensorFlow 1.x notebooks, as a student's blog
    post quotes it): function name -> the student's lines, tabs turned into 4 spaces (the post's
    rendering).  ``create_class_visualization`` maps to the two TODO blocks of that function, joined
    by a line ``# --- step ---`` (the graph before the loop, then the ``sess.run`` step)."""
    fences = _fences_by_heading(seed_text("002"))

    def one(heading: str, must: str) -> str:
        hits = [f for f in fences.get(heading, []) if must in f]
        assert len(hits) == 1, f"seed 002: no single fence with {must!r} under {heading!r}"
        return hits[0].replace("\t", "    ").rstrip() + "\n"

    cv = one("Class visualization", "for t in range(num_iterations)").splitlines()
    ends = [i for i, line in enumerate(cv) if "END OF YOUR CODE" in line]
    graph_start = next(i for i, line in enumerate(cv) if line.startswith("grad = None")) + 1
    graph = [line for line in cv[graph_start:ends[0] - 1] if line.strip()]
    careful = next(i for i, line in enumerate(cv) if "Be very careful about the signs" in line)
    step = [line.strip() for line in cv[careful + 2:ends[1] - 1] if line.strip()]
    style = [f for f in fences.get("Style loss", [])]
    assert len(style) == 2, "seed 002: the style-loss section should hold gram_matrix's and style_loss's code"
    return {
        "compute_saliency_maps": one("Saliency Maps", "tf.gradients"),
        "make_fooling_image": one("Fooling Images", "X_fooling"),
        "create_class_visualization": "\n".join(graph) + "\n# --- step ---\n" + "\n".join(step) + "\n",
        "content_loss": one("Content loss", "content_weight"),
        "gram_matrix": style[0].replace("\t", "    ").rstrip() + "\n",
        "style_loss": style[1].replace("\t", "    ").rstrip() + "\n",
        "tv_loss": one("Total-variation regularization", "tv_weight"),
    }
