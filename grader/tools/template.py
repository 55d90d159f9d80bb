"""Generate ``student_template/`` from ``reference/`` by stripping solution regions.

Each region between the START/END markers becomes ``pass`` (or nothing, when
the markers sit inside an open bracket such as ``nn.Sequential(``), so the
module still imports and each function returns the placeholder set before its
region, as the course's starter code does.  Everything else is copied as is.
"""
from __future__ import annotations

import ast
import io
import sys
import tokenize
from pathlib import Path

from grader.paths import END_MARKER, REFERENCE, START_MARKER, TEMPLATE


class MarkerError(ValueError):
    pass


def _bracket_depth_by_line(source: str) -> dict[int, int]:
    """Open-bracket depth at the start of each line (1-based)."""
    depth, out = 0, {}
    toks = tokenize.generate_tokens(io.StringIO(source).readline)
    last_line = 0
    for tok in toks:
        for ln in range(last_line + 1, tok.start[0] + 1):
            out.setdefault(ln, depth)
        last_line = max(last_line, tok.start[0])
        if tok.type == tokenize.OP:
            if tok.string in "([{":
                depth += 1
            elif tok.string in ")]}":
                depth -= 1
    return out


def strip_source(source: str, name: str = "<source>") -> str:
    lines = source.splitlines(keepends=True)
    depth = _bracket_depth_by_line(source)
    out, i, regions = [], 0, 0
    while i < len(lines):
        line = lines[i]
        if line.strip() == START_MARKER:
            indent = line[: len(line) - len(line.lstrip())]
            j = i + 1
            while j < len(lines) and lines[j].strip() != END_MARKER:
                if lines[j].strip() == START_MARKER:
                    raise MarkerError(f"{name}:{j + 1}: START marker inside an open region")
                j += 1
            if j == len(lines):
                raise MarkerError(f"{name}:{i + 1}: START marker without END marker")
            out.append(line)
            out.append("\n")
            if depth.get(i + 1, 0) == 0:
                out.append(f"{indent}pass\n")
                out.append("\n")
            out.append(lines[j])
            regions += 1
            i = j + 1
            continue
        if line.strip() == END_MARKER:
            raise MarkerError(f"{name}:{i + 1}: END marker without START marker")
        out.append(line)
        i += 1
    result = "".join(out)
    try:
        ast.parse(result)
    except SyntaxError as exc:
        raise MarkerError(f"{name}: stripped source does not parse: {exc}") from None
    return result


def render(reference: Path = REFERENCE) -> dict[str, bytes]:
    """Relative path -> bytes of every file the template should contain."""
    files = {}
    for path in sorted(reference.rglob("*")):
        if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
            continue
        rel = path.relative_to(reference).as_posix()
        data = path.read_bytes()
        if path.suffix == ".py":
            data = strip_source(data.decode("utf-8"), rel).encode("utf-8")
        files[rel] = data
    return files


def existing(template: Path = TEMPLATE) -> dict[str, bytes]:
    if not template.exists():
        return {}
    return {p.relative_to(template).as_posix(): p.read_bytes() for p in sorted(template.rglob("*"))
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".pyc"}


def diff(reference: Path = REFERENCE, template: Path = TEMPLATE) -> list[str]:
    want, have = render(reference), existing(template)
    problems = []
    for rel in sorted(set(want) | set(have)):
        if rel not in have:
            problems.append(f"missing: {rel}")
        elif rel not in want:
            problems.append(f"extra (not generated from reference/): {rel}")
        elif want[rel] != have[rel]:
            problems.append(f"differs from what the generator writes: {rel}")
    return problems


def write(reference: Path = REFERENCE, template: Path = TEMPLATE) -> int:
    want = render(reference)
    for rel in existing(template):
        if rel not in want:
            (template / rel).unlink()
    for rel, data in want.items():
        dest = template / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        if not dest.exists() or dest.read_bytes() != data:
            dest.write_bytes(data)
    return len(want)


def main(args) -> int:
    reference = Path(args.reference) if getattr(args, "reference", None) else REFERENCE
    template = Path(args.out) if getattr(args, "out", None) else TEMPLATE
    try:
        if args.check:
            problems = diff(reference, template)
            if problems:
                print(f"student_template/ is out of date ({len(problems)} file(s)); "
                      "run `python -m grader template` to regenerate it, never edit it by hand:", file=sys.stderr)
                for p in problems:
                    print("  " + p, file=sys.stderr)
                return 1
            print(f"student_template/ matches reference/ ({len(render(reference))} files)")
            return 0
        n = write(reference, template)
        print(f"wrote {n} files to {template}")
        return 0
    except MarkerError as exc:
        print(f"template: {exc}", file=sys.stderr)
        return 1
