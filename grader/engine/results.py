"""Scores from check outcomes, Gradescope's results.json, and the terminal table.

results.json follows Gradescope's specification: top-level ``score``,
``execution_time``, ``output``, ``visibility``, ``stdout_visibility`` and
``tests``; each test has ``name``, ``number``, ``score``, ``max_score``,
``status``, ``output``, ``visibility`` and ``tags``.
"""
from __future__ import annotations

import json
from pathlib import Path

from grader.engine.files import atomic_write


OUTPUT_LIMIT = 6000  # characters of feedback per test
STUDENT_OUTPUT_LIMIT = 1500


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 60] + f"\n... [{len(text) - n + 60} more characters cut]"


def score_tests(rub, outcomes: dict) -> tuple[list[dict], list[str]]:
    """One Gradescope test per rubric entry; returns (tests, internal error notes).

    ``outcomes``: node id -> {"entry": rubric test name, "label", "outcome", "props", "duration"}
    as the grading plugin records them."""
    by_entry: dict[str, list[tuple[str, dict]]] = {}
    for nodeid, rec in outcomes.items():
        if rec.get("entry"):
            by_entry.setdefault(rec["entry"], []).append((nodeid, rec))
    tests, internal = [], []
    for e in rub.entries():
        # in the rubric's order of checks (a loss's value before its gradients: the first failure is the cause)
        recs = sorted(by_entry.get(e.name, []), key=lambda r: (_check_rank(e.checks, r[0]), r[0]))
        lines, outputs = [], []
        if not recs:
            internal.append(f"{e.name}: no checks ran for this test")
            lines.append("This test could not run (internal grader error: no checks were collected). "
                         "Please tell the course staff.")
        passed, seconds = 0, 0.0
        for nodeid, rec in recs:
            seconds += float(rec.get("duration", 0.0))
            props = dict((k, v) for k, v in rec["props"])
            label = rec.get("label", nodeid)
            if rec["outcome"] == "passed":
                passed += 1
                lines.append(f"PASS {label}" + "".join(f" ({n})" for n in props_all(rec, "note")))
            else:
                if "internal_error" in props:
                    internal.append(f"{nodeid}: {props['internal_error']}")
                    why = "internal grader error (not your fault); the course staff have been told"
                elif "environment_error" in props:
                    internal.append(f"{nodeid}: grading environment failure: {props['environment_error']}")
                    why = (f"{props['environment_error']}; this check could not be graded and the course staff have "
                           "been told")
                else:
                    why = props.get("feedback", "failed")
                lines.append(f"FAIL {label}: {why}")
            if props.get("student_output"):
                outputs.append(f"--- your code printed during {label} ---\n"
                               + _clip(props["student_output"], STUDENT_OUTPUT_LIMIT))
        frac = passed / len(recs) if recs else 0.0
        score = round(e.points * frac, 4)
        head = f"{passed}/{len(recs)} checks passed" if recs else ""
        text = "\n".join([head] + lines + outputs).strip()
        tests.append({
            "name": e.name, "number": e.number, "score": score, "max_score": e.points,
            "status": "passed" if recs and passed == len(recs) else "failed",
            "output": _clip(text, OUTPUT_LIMIT), "visibility": e.visibility,
            "tags": [e.question] + (["hidden-cases"] if e.cases == "hidden" else []),
            "extra_data": {"seconds": round(seconds, 3), "checks": len(recs), "passed": passed},
        })
    return tests, internal


def _check_rank(checks: list[str], nodeid: str) -> int:
    """Where the check a node id runs (``...::test_<check>[case]``) stands in the rubric test's list."""
    name = nodeid.split("::")[-1].split("[")[0]
    name = name[5:] if name.startswith("test_") else name
    return checks.index(name) if name in checks else len(checks)


def props_all(rec: dict, key: str) -> list[str]:
    return [v for k, v in rec.get("props", []) if k == key and isinstance(v, str)]


def zero_results(rub, message: str, execution_time: float = 0.0) -> dict:
    """Every rubric test at 0 with ``message``: for an unreadable upload or a grader failure."""
    tests = [{"name": e.name, "number": e.number, "score": 0.0, "max_score": e.points, "status": "failed",
              "output": message, "visibility": e.visibility, "tags": [e.question]} for e in rub.entries()]
    return build_results(tests, message, execution_time)


def build_results(tests: list[dict], output: str, execution_time: float) -> dict:
    return {
        "score": round(sum(t["score"] for t in tests), 4),
        "execution_time": int(round(execution_time)),
        "output": output,
        "visibility": "visible",
        "stdout_visibility": "hidden",
        "tests": tests,
    }


def write_results(results: dict, path: Path) -> None:
    """Atomic write: a reader never sees half a file."""
    atomic_write(Path(path), json.dumps(results, indent=2).encode())


def validate(results: dict) -> list[str]:
    """Problems with respect to Gradescope's field rules (empty list when valid)."""
    problems = []
    for key, typ in (("score", (int, float)), ("execution_time", int), ("output", str),
                     ("visibility", str), ("stdout_visibility", str), ("tests", list)):
        if not isinstance(results.get(key), typ):
            problems.append(f"top-level {key!r} missing or of the wrong type")
    vis_ok = {"visible", "hidden", "after_due_date", "after_published"}
    if results.get("visibility") not in vis_ok or results.get("stdout_visibility") not in vis_ok:
        problems.append("visibility values must be one of " + ", ".join(sorted(vis_ok)))
    names = set()
    for t in results.get("tests", []):
        for key, typ in (("name", str), ("number", str), ("score", (int, float)), ("max_score", (int, float)),
                         ("status", str), ("output", str), ("visibility", str)):
            if not isinstance(t.get(key), typ):
                problems.append(f"test {t.get('name')!r}: {key!r} missing or of the wrong type")
        if t.get("status") not in ("passed", "failed"):
            problems.append(f"test {t.get('name')!r}: status must be passed or failed")
        if t.get("visibility") not in vis_ok:
            problems.append(f"test {t.get('name')!r}: bad visibility")
        if isinstance(t.get("score"), (int, float)) and isinstance(t.get("max_score"), (int, float)) \
                and not 0 <= t["score"] <= t["max_score"]:
            problems.append(f"test {t.get('name')!r}: score outside [0, max_score]")
        if t.get("name") in names:
            problems.append(f"duplicate test name {t.get('name')!r}")
        names.add(t.get("name"))
    if isinstance(results.get("score"), (int, float)) and results.get("tests"):
        if abs(results["score"] - sum(t.get("score", 0) for t in results["tests"])) > 1e-6:
            problems.append("top-level score is not the sum of the tests' scores")
    return problems


def shown(x: float) -> str:
    """A score as people read it: at most 2 decimals (0.83/2.5, never 0.8333/2.5); results.json keeps it exact."""
    return f"{round(float(x), 2):g}"


def table(results: dict, width: int = 100) -> str:
    rows = []
    for t in results["tests"]:
        reason = ""
        if t["status"] != "passed":
            fails = [ln for ln in t["output"].splitlines() if ln.startswith("FAIL ")]
            reason = fails[0][5:] if fails else t["output"].splitlines()[0] if t["output"] else ""
        mark = "pass" if t["status"] == "passed" else "FAIL"
        rows.append((t["number"], t["name"], f"{shown(t['score'])}/{shown(t['max_score'])}", mark, reason))
    w_num = max([len(r[0]) for r in rows] + [3])
    w_name = min(max([len(r[1]) for r in rows] + [4]), 48)
    lines = [f"{'#':<{w_num}}  {'test':<{w_name}}  {'score':>9}  {'':4}  reason", "-" * width]
    for num, name, sc, mark, reason in rows:
        line = f"{num:<{w_num}}  {name[:w_name]:<{w_name}}  {sc:>9}  {mark:4}  {reason}"
        lines.append(line if len(line) <= width * 2 else line[: width * 2 - 3] + "...")
    total = sum(t["max_score"] for t in results["tests"])
    lines.append("-" * width)
    lines.append(f"total: {shown(results['score'])} / {shown(total)}")
    return "\n".join(lines)
