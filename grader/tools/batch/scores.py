"""scores.csv (exact scores, as in results.json) and summary.txt (for people: at most 2 decimals)."""
from __future__ import annotations

import csv
import json
import math
import statistics
from pathlib import Path

import grader
from grader.engine.files import atomic_write
from grader.tools.batch.export import BatchError, Submission

META_COLUMNS = ("submission_id", "names", "emails", "sids")
END_COLUMNS = ("total", "status")


def fmt(x) -> str:
    """A score as written in scores.csv and diff.csv: exact to results.json's 4 decimals."""
    if x is None or x == "":
        return ""
    x = round(float(x), 4)
    return f"{x:.4f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))


def shown(x) -> str:
    """A score as shown to people (terminal, summary.txt, diff.txt): at most 2 decimals (0.83, not 0.8333)."""
    if x is None or x == "":
        return ""
    try:
        x = round(float(x), 2)
    except ValueError:
        return str(x)
    if x == 0:
        x = 0.0  # never "-0"
    return f"{x:.2f}".rstrip("0").rstrip(".") if x != int(x) else str(int(x))


def num(s):
    try:
        return float(s) if s not in (None, "") else None
    except (TypeError, ValueError):
        return None


def columns(rub) -> tuple[list[str], list[str]]:
    return [q.id for q in rub.questions], [e.name for e in rub.entries()]


def score_rows(rub, subs: list[Submission], statuses: dict[str, str], out: Path) -> tuple[list[str], list[dict]]:
    qcols, tcols = columns(rub)
    question_of = {e.name: e.question for e in rub.entries()}
    header = list(META_COLUMNS) + qcols + tcols + list(END_COLUMNS)
    rows = []
    for s in subs:
        row = {"submission_id": s.id, "names": "; ".join(s.names), "emails": "; ".join(s.emails),
               "sids": "; ".join(s.sids), "status": statuses.get(s.id, "")}
        res = None
        if row["status"] in ("ok", "unreadable", "grader_error"):
            try:
                res = json.loads((out / "results" / s.id / "results.json").read_text())
            except (OSError, ValueError):
                res = None
        if res is not None:
            by_name = {t.get("name"): t for t in res.get("tests", [])}
            qsum = {}
            for name in tcols:
                t = by_name.get(name)
                if t is not None:
                    row[name] = fmt(t.get("score", 0))
                    qsum[question_of[name]] = qsum.get(question_of[name], 0.0) + float(t.get("score", 0))
            for q in qcols:
                row[q] = fmt(qsum[q]) if q in qsum else ""
            row["total"] = fmt(res.get("score", 0))
        rows.append(row)
    return header, rows


def write_csv(path: Path, header: list[str], rows: list[dict]) -> None:
    import io
    buf = io.StringIO(newline="")
    w = csv.DictWriter(buf, fieldnames=header, extrasaction="ignore", restval="")
    w.writeheader()
    w.writerows(rows)
    atomic_write(path, buf.getvalue().encode("utf-8"))


def read_csv(path: Path) -> tuple[list[str], dict[str, dict]]:
    """A scores.csv written by ``python -m grader batch``; BatchError for anything else."""
    hint = "pass a scores.csv written by an earlier `python -m grader batch` (its --out folder holds one)"
    if not path.is_file():
        raise BatchError(f"--diff {path}: no such file; {hint}")
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            r = csv.DictReader(f)
            header = list(r.fieldnames or [])
            missing = [c for c in ("submission_id", "total", "status") if c not in header]
            if missing:
                raise BatchError(f"--diff {path}: not a scores.csv (no {', '.join(missing)} column); {hint}")
            rows = {row["submission_id"]: row for row in r}
    except (UnicodeDecodeError, csv.Error) as exc:
        raise BatchError(f"--diff {path}: not a scores.csv ({type(exc).__name__}: {exc}); {hint}") from None
    except OSError as exc:
        raise BatchError(f"--diff {path}: cannot be read ({exc.strerror or exc}); {hint}") from None
    return header, rows


BUCKETS = ((0.0, 0.0, "0%"), (0.0, 0.2, "<20%"), (0.2, 0.4, "20-39%"), (0.4, 0.6, "40-59%"),
           (0.6, 0.8, "60-79%"), (0.8, 1.0, "80-99%"), (1.0, 1.0, "100%"))


def _bucket(frac: float) -> str:
    if frac <= 1e-9:
        return "0%"
    if frac >= 1 - 1e-9:
        return "100%"
    for lo, hi, label in BUCKETS[1:-1]:
        if lo <= frac < hi:
            return label
    return "100%"


def _stats_block(label: str, values: list[float], max_pts: float) -> list[str]:
    if not values:
        return [f"{label} (of {shown(max_pts)}): no scores"]
    lines = [f"{label} (of {shown(max_pts)}): mean {statistics.mean(values):.2f}  median "
             f"{shown(statistics.median(values))}  min {shown(min(values))}  max {shown(max(values))}  "
             f"(n={len(values)})"]
    counts = {b[2]: 0 for b in BUCKETS}
    for v in values:
        counts[_bucket(v / max_pts if max_pts else 0.0)] += 1
    top = max(counts.values()) or 1
    for lab, c in counts.items():
        lines.append(f"    {lab:>7} {'#' * math.ceil(30 * c / top) if c else '':<30} {c}")
    return lines


def summary_text(rub, rows: list[dict], outcomes: dict, info: dict) -> str:
    qcols, tcols = columns(rub)
    max_of = {e.name: e.points for e in rub.entries()}
    qmax = {q.id: q.points for q in rub.questions}
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    scored = [r for r in rows if r.get("total", "") != ""]
    lines = [f"Batch regrade of {info['export']}",
             f"grader {grader.__version__}, rubric {rub.name} ({info['rubric_sha256'][:12]}), "
             f"fixtures manifest {info['fixtures_sha256'][:12] or 'none'}",
             f"{len(rows)} submissions: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())),
             f"wall time {info['wall_s']:.1f} s with {info['where']}: {info['graded']} graded"
             + (f" ({info['wall_s'] / info['graded']:.2f} s per submission)" if info["graded"] else "")
             + (f", {info['skipped']} already graded (--resume)" if info["skipped"] else ""),
             ""]
    max_total = sum(q.points for q in rub.questions)
    lines += _stats_block("total", [float(r["total"]) for r in scored], max_total)
    for q in qcols:
        lines += _stats_block(q, [float(r[q]) for r in scored if r.get(q, "") != ""], qmax[q])
    fails = []
    for t in tcols:
        vals = [float(r[t]) for r in scored if r.get(t, "") != ""]
        lost = [v for v in vals if v < max_of[t] - 1e-9]
        if lost:
            fails.append((len(lost), t, len(vals), statistics.mean(vals)))
    fails.sort(key=lambda f: (-f[0], f[1]))
    lines += ["", f"Most failed tests (submissions that lost points on it, of {len(scored)} scored):"]
    if not fails:
        lines.append("    none")
    for i, (n, t, m, mean) in enumerate(fails[:10], 1):
        lines.append(f"  {i:2d}. {t:<48} {n:4d}/{m} ({100 * n / m:.0f}%)  mean {shown(mean)}/{shown(max_of[t])}")
    look = [(r["submission_id"], r["status"], r.get("names", "")) for r in rows if r["status"] != "ok"]
    if look:
        lines += ["", "Submissions that need a look (not graded normally):"]
        for sid, st, names in look:
            oc = outcomes.get(sid)
            msg = oc.message if oc else ""
            lines.append(f"  {sid:<12} {st:<12} {names[:30]:<30} {msg}")
    return "\n".join(lines) + "\n"
