"""``--diff PREVIOUS``: which submissions' scores changed since an earlier scores.csv, and on which tests.

diff.csv holds exact scores (as scores.csv); diff.txt and the terminal show at most 2 decimals."""
from __future__ import annotations

import re

from grader.tools.batch.export import id_key
from grader.tools.batch.scores import END_COLUMNS, META_COLUMNS, fmt, num, shown

DIFF_COLUMNS = ["submission_id", "names", "change", "old_total", "new_total", "delta", "old_status", "new_status",
                "tests"]


def _same(a, b) -> bool:
    x, y = num(a), num(b)
    if x is None or y is None:
        return (a or "") == (b or "")
    return abs(x - y) <= 1e-6


def _cell(v, how) -> str:
    return how(v) if num(v) is not None else (v or "-")


def diff_scores(old_header: list[str], old: dict[str, dict], new_header: list[str],
                new: dict[str, dict]) -> list[dict]:
    """Rows for diff.csv: every submission whose total, status or any test score changed; new and removed
    ones.  Each row also carries ``_changes`` [(test, old, new)] for diff_text (not a csv column)."""
    skip = set(META_COLUMNS) | set(END_COLUMNS)
    qpat = re.compile(r"Q\d+[a-z]?$")
    tests = [c for c in new_header if c not in skip and not qpat.match(c)]
    tests += [c for c in old_header if c not in skip and not qpat.match(c) and c not in tests]
    out = []
    for sid in sorted(set(old) | set(new), key=id_key):
        o, n = old.get(sid), new.get(sid)
        base = {"submission_id": sid, "names": (n or o).get("names", ""), "_changes": []}
        if o is None:
            out.append(dict(base, change="new", old_total="", new_total=n.get("total", ""), delta="",
                            old_status="", new_status=n.get("status", ""), tests=""))
            continue
        if n is None:
            out.append(dict(base, change="removed", old_total=o.get("total", ""), new_total="", delta="",
                            old_status=o.get("status", ""), new_status="", tests=""))
            continue
        changes = [(t, o.get(t), n.get(t)) for t in tests if not _same(o.get(t), n.get(t))]
        tot_changed = not _same(o.get("total"), n.get("total"))
        st_changed = (o.get("status") or "") != (n.get("status") or "")
        if changes or tot_changed or st_changed:
            a, b = num(o.get("total")), num(n.get("total"))
            out.append(dict(base, change="changed", old_total=o.get("total", ""), new_total=n.get("total", ""),
                            delta=(("+" if b - a > 0 else "") + fmt(b - a)) if a is not None and b is not None else "",
                            old_status=o.get("status", ""), new_status=n.get("status", ""),
                            tests="; ".join(f"{t}: {_cell(x, fmt)} -> {_cell(y, fmt)}" for t, x, y in changes),
                            _changes=changes))
    return out


def diff_text(rows: list[dict], previous: str, n_same: int) -> str:
    by = {k: [r for r in rows if r["change"] == k] for k in ("changed", "new", "removed")}
    lines = [f"Compared with {previous}: {len(by['changed'])} changed, {len(by['new'])} new, "
             f"{len(by['removed'])} removed, {n_same} unchanged."]
    if by["changed"]:
        lines.append("changed:")
        for r in by["changed"]:
            st = f"  [{r['old_status']} -> {r['new_status']}]" if r["old_status"] != r["new_status"] else ""
            delta = num(r["delta"])
            tot = (f"{_cell(r['old_total'], shown)} -> {_cell(r['new_total'], shown)}"
                   + (f" ({'+' if delta > 0 else ''}{shown(delta)})" if delta is not None else ""))
            lines.append(f"  {r['submission_id']:<12} {r['names'][:30]:<30} total {tot}{st}")
            for t, x, y in r.get("_changes") or []:
                lines.append(f"      {t}: {_cell(x, shown)} -> {_cell(y, shown)}")
    for kind in ("new", "removed"):
        if by[kind]:
            lines.append(f"{kind}:")
            for r in by[kind]:
                tot = r["new_total"] if kind == "new" else r["old_total"]
                st = r["new_status"] if kind == "new" else r["old_status"]
                lines.append(f"  {r['submission_id']:<12} {r['names'][:30]:<30} total {_cell(tot, shown)} ({st})")
    return "\n".join(lines) + "\n"
