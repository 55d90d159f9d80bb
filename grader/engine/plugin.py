"""pytest plugin that turns grader/checks/ into a grading run.

Loaded with ``-p grader.engine.plugin --ag-run RUN.json``.  It maps each collected
check to its rubric test, gives the checks a ``student`` fixture (the sandboxed
submission), sets each check's call timeout from the rubric, records per-check
feedback and the student's captured output, and (in the controlling process,
xdist or not) writes every outcome to the run's outcomes file.  Scores are
computed afterwards from those outcomes (grader/results.py).
"""
from __future__ import annotations

import json
import time
import traceback
from pathlib import Path

import pytest

from grader.engine import rubric as rubric_mod
from grader.checklib.compare import CheckFailure
from grader.sandbox.client import InternalError, Sandbox, WorkerError
from grader.engine.staging import StageReport
from grader.sandbox.student import Student, describe_worker_error

ENTRY_KEY = pytest.StashKey()


def pytest_addoption(parser):
    parser.addoption("--ag-run", default=None, help="grading run configuration (JSON), written by `python -m grader grade`")


def _run_cfg(config) -> dict:
    path = config.getoption("ag_run")
    if not path:
        raise pytest.UsageError("grader checks run only through `python -m grader grade` (no --ag-run given)")
    return json.loads(Path(path).read_text())


def check_key(nodeid: str) -> tuple[str, str, str]:
    """(module, check, case id) of a node id such as
    ``.../test_q1_rnn.py::test_rnn_step_backward[hidden-n1-dx]``."""
    path, _, rest = nodeid.partition("::")
    module = Path(path).stem
    module = module[5:] if module.startswith("test_") else module
    func, _, params = rest.partition("[")
    func = func[5:] if func.startswith("test_") else func
    return module, func, params.rstrip("]")


def entry_for(nodeid: str, rub) -> "rubric_mod.Entry | None":
    module, func, params = check_key(nodeid)
    vis = "hidden" if params.startswith("hidden") else "visible"
    for q in rub.questions:
        if q.module != module:
            continue
        for e in q.entries:
            if func in e.checks and e.cases in (vis, "any"):
                return e
    return None


def pytest_configure(config):
    if config.getoption("ag_run"):
        config._ag_cfg = _run_cfg(config)
        config._ag_rubric = rubric_mod.load(config._ag_cfg["rubric"]).select(config._ag_cfg.get("questions"))
        config._ag_torch_questions = {q.id: q.needs_torch for q in config._ag_rubric.questions}
        config._ag_outcomes = {}
        from grader.engine import cases as fx
        fx.set_dir(config._ag_cfg["fixtures"])


def pytest_collection_modifyitems(session, config, items):
    rub = getattr(config, "_ag_rubric", None)
    if rub is None:
        return
    keep, drop = [], []
    for item in items:
        e = entry_for(item.nodeid, rub)
        if e is None:
            drop.append(item)
        else:
            item.stash[ENTRY_KEY] = e
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
    items[:] = keep


@pytest.fixture(scope="session")
def run_cfg(request) -> dict:
    return request.config._ag_cfg


@pytest.fixture(scope="session")
def student(run_cfg):
    report = StageReport.from_json(Path(run_cfg["stage_report"]).read_text())
    left = run_cfg["deadline_epoch"] - time.time()
    sb = Sandbox(Path(report.stage_dir), torch=bool(run_cfg.get("torch")), user=run_cfg.get("user"),
                 threads=int(run_cfg.get("threads", 1)), deadline=time.monotonic() + left)
    yield Student(sb, report)
    sb.close()


_last_module = [None]


@pytest.fixture(autouse=True)
def _per_check(request, student):
    entry = request.node.stash.get(ENTRY_KEY, None)
    student.timeout = entry.timeout if entry else None
    module = request.node.module.__name__
    if _last_module[0] is not None and _last_module[0] != module:
        student.sandbox.reset()  # each question starts in a fresh worker
    _last_module[0] = module
    if entry is not None:
        student.sandbox.use_torch(request.config._ag_torch_questions.get(entry.question, False))
    student.sandbox.begin_capture()
    yield
    out = student.sandbox.end_capture()
    if out.strip():
        request.node.user_properties.append(("student_output", out))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    if call.excinfo is not None and call.when in ("setup", "call"):
        exc = call.excinfo.value
        if isinstance(exc, CheckFailure):
            item.user_properties.append(("feedback", str(exc)))
        elif isinstance(exc, WorkerError):
            item.user_properties.append(("feedback", describe_worker_error(exc)))
        elif isinstance(exc, (pytest.skip.Exception, KeyboardInterrupt)):
            pass
        else:
            kind = "the grader's worker could not start" if isinstance(exc, InternalError) else "internal grader error"
            item.user_properties.append(("internal_error", f"{kind}: {''.join(traceback.format_exception_only(type(exc), exc)).strip()}\n"
                                         + "".join(traceback.format_tb(call.excinfo.tb)[-5:])))
    return (yield)


def pytest_runtest_logreport(report):
    config = _CONFIG[0]
    if config is None or not hasattr(config, "_ag_outcomes"):
        return
    rec = config._ag_outcomes.setdefault(report.nodeid, {"outcome": "passed", "props": []})
    if report.failed:
        rec["outcome"] = "failed" if report.when == "call" or rec["outcome"] != "error" else rec["outcome"]
        if report.when != "call":
            rec["outcome"] = "error"
    elif report.skipped and rec["outcome"] == "passed":
        rec["outcome"] = "skipped"
    for k, v in report.user_properties:
        if [k, v] not in rec["props"]:
            rec["props"].append([k, v])
    rec["duration"] = rec.get("duration", 0.0) + float(getattr(report, "duration", 0.0) or 0.0)


_CONFIG = [None]


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    _CONFIG[0] = session.config
    # per-run state: grading twice in one process (grader.engine.grade.grade as a library) starts clean
    from grader.checklib import common as checklib
    checklib._memo.clear()
    _last_module[0] = None


def pytest_sessionfinish(session, exitstatus):
    config = session.config
    if not hasattr(config, "_ag_outcomes") or hasattr(config, "workerinput"):
        return  # xdist workers report to the controller, which writes the file
    Path(config._ag_cfg["outcomes"]).write_text(json.dumps(config._ag_outcomes, indent=1))
