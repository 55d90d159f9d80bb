"""Which Python's grammar a student file is read with: Gradescope's, on every machine.

Grader side (staging; also in the student's pre-check, on the student's own Python).  Gradescope grades
with the system python3 of its Ubuntu 22.04 image, 3.10 (setup.sh), while a student may write on 3.12
(Colab) and staff may regrade on 3.11.  A line that only a newer Python reads (an f-string reusing its own
quotes inside ``{...}``, ``except*``, ``type X = ...``, ``def f[T](...)``) would import here and fail with a
SyntaxError there: a grade that depends on the machine, and a pre-check that passes a file Gradescope cannot
read.  ``newer_syntax`` finds such a line with the grammar of GRADING_PYTHON whatever Python runs it, so
staging says the same thing everywhere (grader/engine/staging.py).
"""
from __future__ import annotations

import ast
import io
import re
import sys
import tokenize

GRADING_PYTHON = (3, 10)   # Gradescope's system python3 (setup.sh checks it is at least this)
_SHOWN = ".".join(map(str, GRADING_PYTHON))

# what a line may start with that Python 3.10 reads as a syntax error (on a Python that has no
# feature_version check for it)
_NEWER_LINES = (
    (re.compile(r"\s*except\s*\*"), "except* (exception groups, Python 3.11+)"),
    (re.compile(r"\s*type\s+[A-Za-z_]\w*\s*(\[[^\]]*\])?\s*="), "a type statement (Python 3.12+)"),
    (re.compile(r"\s*(async\s+)?(def|class)\s+[A-Za-z_]\w*\s*\["), "a type parameter list (Python 3.12+)"),
)
_VERSION_MSG = re.compile(r"only supported in Python (3\.\d+) and greater")
SAME_QUOTES = "an f-string that uses its own quote character inside {...} (Python 3.12+)"


def newer_syntax(text: str) -> tuple[int, str] | None:
    """(line, what it is) of the first line of ``text`` that Python GRADING_PYTHON cannot read but a newer
    Python can; None when there is none (a file with a plain syntax error included: that is its own)."""
    try:
        ast.parse(text, feature_version=GRADING_PYTHON)
    except SyntaxError as exc:
        return _explained(text, exc)
    except (ValueError, RecursionError, MemoryError):
        return None
    if sys.version_info >= (3, 12):  # PEP 701 f-strings parse under any feature_version there
        return _reused_quotes(text)
    return None


def syntax_error(text: str) -> str | None:
    """The student-facing reason ``text`` cannot be imported on any Python (a plain syntax error, not newer
    syntax: ``newer_syntax`` says those), or None.  IPython's own syntax (``%matplotlib inline``, ``!pip``)
    pasted from a notebook is named as such."""
    try:
        ast.parse(text, feature_version=GRADING_PYTHON)
        return None
    except SyntaxError as exc:
        line, msg = exc.lineno or 1, exc.msg or "invalid syntax"
    except (ValueError, RecursionError, MemoryError) as exc:
        return f"it cannot be parsed as Python ({type(exc).__name__})"
    lines = text.splitlines()
    src = lines[line - 1].strip() if 0 < line <= len(lines) else ""
    shown = f": {src[:80]}" if src else ""
    if src.startswith(("%", "!")):
        return (f"SyntaxError at line {line}{shown}: that is IPython syntax, which works only in a notebook's "
                "cell, not in a .py file: delete that line")
    return f"SyntaxError at line {line} ({msg}){shown}"


def describe(found: tuple[int, str]) -> str:
    """The student-facing reason, for a file ``newer_syntax`` found a line in."""
    line, what = found
    fix = (": use the other kind of quote inside the braces, e.g. f\"{d['key']}\"" if what == SAME_QUOTES
           else ": write it the way Python 3.10 allows")
    return (f"line {line} uses {what}, which Gradescope's Python {_SHOWN} cannot read, so the file would not "
            f"import there; every machine grades it as Gradescope does. Rewrite that line{fix}")


def _explained(text: str, exc: SyntaxError) -> tuple[int, str] | None:
    line = exc.lineno or 1
    lines = text.splitlines()
    if _VERSION_MSG.search(exc.msg or ""):
        # the same words and line as an older Python finds (3.11+ may point a line past an except* clause)
        for n in range(line, max(line - 3, 0), -1):
            for pattern, what in _NEWER_LINES:
                if n <= len(lines) and pattern.match(lines[n - 1]):
                    return n, what
        return line, exc.msg
    try:
        ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        pass
    else:  # this Python reads it: only the older grammar does not
        return line, (exc.msg or "syntax newer than Python " + _SHOWN)
    # this Python cannot read it either (it is not newer than GRADING_PYTHON): newer syntax, or a plain error?
    src = lines[line - 1] if 0 < line <= len(lines) else ""
    if (exc.msg or "").startswith("f-string") and _line_reuses_quotes(src):
        return line, SAME_QUOTES
    for pattern, what in _NEWER_LINES:
        if pattern.match(src):
            return line, what
    return None


def _line_reuses_quotes(src: str) -> bool:
    """Whether a line holds f"...{... "..." ...}..." (or the same with '): what Python 3.12 first allowed."""
    return bool(re.search(r"""\bf(?P<q>["'])[^\n]*?\{[^}\n]*(?P=q)[^}\n]*\}""", src, re.I))


def _reused_quotes(text: str) -> tuple[int, str] | None:
    """Python 3.12+: an f-string whose replacement field holds a string (or f-string) in its own quotes, or a
    comment; what an older Python's tokenizer cannot read."""
    stack: list[str] = []  # the quote of each f-string being read
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            kind = tokenize.tok_name.get(tok.type, "")
            if kind == "FSTRING_END":
                if stack:
                    stack.pop()
                continue
            if stack and kind in ("STRING", "FSTRING_START", "COMMENT"):
                outer = stack[-1]
                inner = _quote(tok.string) if kind != "COMMENT" else ""
                if kind == "COMMENT" or (inner[:1] == outer[:1] and (len(outer) == 1 or inner == outer)):
                    return tok.start[0], SAME_QUOTES if kind != "COMMENT" else "a comment inside an f-string's " \
                        "{...} (Python 3.12+)"
            if kind == "FSTRING_START":
                stack.append(_quote(tok.string))
    except (tokenize.TokenError, SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    return None


def _quote(token: str) -> str:
    body = token.lstrip("rRbBuUfF")
    return body[:3] if body[:3] in ('"""', "'''") else body[:1]
