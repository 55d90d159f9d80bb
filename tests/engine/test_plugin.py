"""grader/engine/plugin.py on its own: a tiny check module run through the plugin with pytester.

The run gets a small rubric YAML, a RunConfig (as engine.grade writes it) and a fixtures folder of
three cases written here.  The checks pass, fail with a CheckFailure (directly, through
checklib.compare and through Student.call on a missing file), break with a grader bug (in the
check and in a fixture), and one check is selected by no rubric test.  What the plugin records for
the scorer (the run's outcomes file) is checked entry by entry.  A grading run is a pytest session of
its own (`runpytest_subprocess`), as in `python -m grader grade`: the plugin's sandbox client makes its
process the reaper of everything below it and sweeps it at the end, which inside this test process
would also stop what the other tests started.
"""
import json
import time

import numpy as np
import pytest

from grader.engine import cases, plugin
from grader.engine.runconfig import RunConfig
from grader.engine.staging import StagedFile, StageReport
from grader.paths import ROOT

pytest_plugins = ["pytester"]

CHECKS = '''
import pytest

from grader.checklib.compare import CheckFailure, check_close
from grader.engine import cases


@pytest.fixture
def broken():
    raise RuntimeError("fixture bug")


def test_passes(student):
    assert student.timeout == 7  # the rubric test's own per-call limit reaches the check


def test_wrong_value(student):
    check_close("next_h", [[1.0, 2.0]], [[1.0, 2.5]], 1e-8)


def test_missing_file(student):
    student.call("rnn_layers.py", "rnn_step_forward", 1, 2)


def test_grader_bug(student):
    {}["no such key"]


def test_broken_fixture(student, broken):
    pass


def test_not_in_rubric(student):
    raise AssertionError("no rubric test selects this check: it must never run")


@cases.of("tiny_function")
def test_per_case(student, case):
    if case.inputs["x"].sum() > 10:
        raise CheckFailure(f"case {case.name}: x is too large")
'''

RUBRIC = """
name: tiny
title: A tiny rubric for the plugin's tests
total: 12
time_budget_s: 120
defaults: {timeout: 5}
questions:
- id: Q9
  title: tiny
  points: 12
  module: q9_tiny
  tests:
  - {number: 9.1, name: passes, points: 2, checks: [passes], timeout: 7}
  - {number: 9.2, name: values, points: 2, checks: [wrong_value, missing_file]}
  - {number: 9.3, name: bugs, points: 2, checks: [grader_bug, broken_fixture]}
  - {number: 9.4, name: cases, points: 3, checks: [per_case]}
  - {number: 9.4, name: cases, points: 3, checks: [per_case], hidden: true}
"""


def _grade(pytester, tmp_path, monkeypatch, checks: str, rubric: str, questions=("Q9",), student_code=None):
    """Run a check module through the plugin, as a grading run of its own; returns (pytester result,
    outcomes by node id).  ``student_code``: the staged rnn_layers.py (absent when None)."""
    fixtures = tmp_path / "fixtures"
    fixtures.mkdir()
    small, large = np.ones(3), np.full(3, 5.0)
    cases.write_cases(fixtures / "visible.h5", [cases.Case("tiny_function", "a_small", "visible", {"x": small}),
                                                cases.Case("tiny_function", "b_large", "visible", {"x": large})])
    cases.write_cases(fixtures / "hidden.h5", [cases.Case("tiny_function", "hidden-small", "hidden", {"x": small})])
    (tmp_path / "tiny.yaml").write_text(rubric)
    stage = tmp_path / "stage"
    (stage / "deeplearning").mkdir(parents=True)
    staged = StagedFile("rnn_layers.py")
    if student_code is not None:
        (stage / "deeplearning" / "__init__.py").write_text("")
        (stage / "deeplearning" / "rnn_layers.py").write_text(student_code)
        staged = StagedFile("rnn_layers.py", source="rnn_layers.py", origin="file")
    outcomes = tmp_path / "outcomes.json"
    cfg = RunConfig(stage=StageReport(str(stage), {"rnn_layers.py": staged}),
                    rubric=str(tmp_path / "tiny.yaml"), questions=list(questions), fixtures=str(fixtures),
                    deadline_epoch=time.time() + 120, outcomes=str(outcomes))
    run_json = tmp_path / "run.json"
    run_json.write_text(cfg.to_json())
    pytester.makepyfile(test_q9_tiny=checks)
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    result = pytester.runpytest_subprocess("-p", "grader.engine.plugin", "--ag-run", str(run_json), "-p",
                                           "no:xdist", "-p", "no:cacheprovider", "-q")
    return result, json.loads(outcomes.read_text())


@pytest.fixture
def run(pytester, tmp_path, monkeypatch):
    """The tiny check module graded with no student file; (pytester result, outcomes by node id)."""
    return _grade(pytester, tmp_path, monkeypatch, CHECKS, RUBRIC)


def _by_check(outcomes: dict) -> dict:
    out = {}
    for nodeid, rec in outcomes.items():
        _, func, params = plugin.check_key(nodeid)
        out[f"{func}[{params}]" if params else func] = dict(rec, props=dict(rec["props"]))
    return out


def test_outcomes_entries_and_deselection(run):
    result, outcomes = run
    result.assert_outcomes(passed=3, failed=4, errors=1, deselected=1)
    got = _by_check(outcomes)
    assert sorted(got) == ["broken_fixture", "grader_bug", "missing_file", "passes", "per_case[a_small]",
                           "per_case[b_large]", "per_case[hidden-small]", "wrong_value"]
    assert "not_in_rubric" not in json.dumps(outcomes)  # deselected: never run, never recorded
    entries = {k: v["entry"] for k, v in got.items()}
    assert entries == {"passes": "Q9.1 passes", "wrong_value": "Q9.2 values", "missing_file": "Q9.2 values",
                       "grader_bug": "Q9.3 bugs", "broken_fixture": "Q9.3 bugs",
                       "per_case[a_small]": "Q9.4 cases", "per_case[b_large]": "Q9.4 cases",
                       "per_case[hidden-small]": "Q9.4h cases (hidden cases)"}
    outcome = {k: v["outcome"] for k, v in got.items()}
    assert outcome == {"passes": "passed", "wrong_value": "failed", "missing_file": "failed", "grader_bug": "failed",
                       "broken_fixture": "error", "per_case[a_small]": "passed", "per_case[b_large]": "failed",
                       "per_case[hidden-small]": "passed"}
    assert got["per_case[b_large]"]["label"] == "per_case[b_large]"
    assert all(v["duration"] >= 0 for v in got.values())


def test_feedback_comes_from_check_failures(run):
    _, outcomes = run
    got = _by_check(outcomes)
    assert got["wrong_value"]["props"]["feedback"].startswith("next_h: relative error 1.1e-01, expected below 1e-08")
    assert ("rnn_layers.py was not found in your submission; these checks could not run"
            in got["missing_file"]["props"]["feedback"])
    assert got["per_case[b_large]"]["props"]["feedback"] == "case b_large: x is too large"
    for name in ("wrong_value", "missing_file", "per_case[b_large]"):
        assert "internal_error" not in got[name]["props"], name
    assert got["passes"]["props"] == {}


def test_internal_errors_are_recorded_as_such(run):
    _, outcomes = run
    got = _by_check(outcomes)
    bug = got["grader_bug"]["props"]
    assert "feedback" not in bug
    assert bug["internal_error"].startswith("internal grader error: KeyError: 'no such key'")
    assert "test_q9_tiny.py" in bug["internal_error"]  # with where it happened, for staff
    fixture = got["broken_fixture"]["props"]
    assert "feedback" not in fixture
    assert fixture["internal_error"].startswith("internal grader error: RuntimeError: fixture bug")


def test_checks_need_a_grading_run(pytester):
    """Without --ag-run (a plain pytest of grader/checks/), a check stops with a usage error that says how
    checks are run, instead of grading against nothing."""
    pytester.makepyfile(test_q9_tiny=CHECKS)
    result = pytester.runpytest("-p", "grader.engine.plugin", "-p", "no:xdist", "-p", "no:cacheprovider",
                                "-k", "passes")
    assert result.ret != 0
    result.stdout.fnmatch_lines(["*grader checks run only through `python -m grader grade`*"])


def test_check_key_parses_node_ids():
    assert plugin.check_key("grader/checks/test_q1_rnn.py::test_rnn_step_backward[hidden-n1-dx]") == (
        "q1_rnn", "rnn_step_backward", "hidden-n1-dx")
    assert plugin.check_key("test_q9_tiny.py::test_passes") == ("q9_tiny", "passes", "")


CRASH_CHECKS = '''
from grader.checklib.compare import CheckFailure

ATTEMPTS = {"once": 0, "always": 0, "wrong": 0}


def _attempt(student, name, crash):
    ATTEMPTS[name] += 1
    with open("attempts.txt", "a") as f:  # the pytester folder, where the test reads it
        f.write(f"{name} {ATTEMPTS[name]}\\n")
    got = student.call("rnn_layers.py", "crash_if", crash, ATTEMPTS[name]).value
    if got != 1:
        raise CheckFailure(f"{name}: got {got}")


def test_once(student):
    _attempt(student, "once", "first")   # the worker dies on the first attempt only


def test_always(student):
    _attempt(student, "always", "every")


def test_wrong(student):
    _attempt(student, "wrong", "never")  # returns 2 on its first attempt: a plain failure
'''

CRASH_STUDENT = '''
import os


def crash_if(when, attempt):
    if when == "every" or (when == "first" and attempt == 1):
        os._exit(3)
    return 1 if when != "never" else attempt + 1
'''

CRASH_RUBRIC = """
name: tiny
title: A check whose worker ends abruptly
total: 3
time_budget_s: 120
defaults: {timeout: 20}
questions:
- id: Q9
  title: tiny
  points: 3
  module: q9_tiny
  tests:
  - {number: 9.1, name: once, points: 1, checks: [once]}
  - {number: 9.2, name: always, points: 1, checks: [always]}
  - {number: 9.3, name: wrong, points: 1, checks: [wrong]}
"""


def test_a_worker_that_ends_abruptly_once_gets_one_more_attempt(pytester, tmp_path, monkeypatch):
    """A check whose worker ended abruptly (not an OOM kill; e.g. TensorFlow aborting under load) runs once
    more in a fresh worker: passing then, it passes.  A crash every time still fails, after exactly two
    attempts, saying the process ended abruptly; a plain wrong answer is not retried."""
    result, outcomes = _grade(pytester, tmp_path, monkeypatch, CRASH_CHECKS, CRASH_RUBRIC, student_code=CRASH_STUDENT)
    got = _by_check(outcomes)
    assert {k: v["outcome"] for k, v in got.items()} == {"once": "passed", "always": "failed", "wrong": "failed"}
    assert "ended abruptly" in got["always"]["props"]["feedback"]
    assert got["wrong"]["props"]["feedback"] == "wrong: got 2"
    attempts = (pytester.path / "attempts.txt").read_text().split("\n")
    assert attempts == ["once 1", "once 2", "always 1", "always 2", "wrong 1", ""]
