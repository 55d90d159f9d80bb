"""The pytest plugin that turns ``grader/checks/`` into a grading run (grader side).

Loaded by ``engine.grade`` as ``-p grader.engine.plugin --ag-run RUN.json``.
It maps each collected check to its rubric test (checks no rubric test selects
are deselected), expands ``@cases.of(...)`` marks from the run's fixtures,
gives the checks a ``student`` fixture (the sandboxed submission), sets each
check's call timeout from the rubric, and records per check its outcome,
feedback and the student's captured output.  The controlling process (xdist
or not) writes the outcomes, each with its rubric test's name, to the run's
outcomes file; ``engine.results`` scores them.

Per-run state lives in ``config.stash`` (``RUN``), as pytest's own plugins keep
theirs: grading twice in one process starts clean.
"""
from __future__ import annotations

import json
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from grader.checklib.compare import CheckFailure
from grader.engine import cases as cases_mod
from grader.engine import rubric as rubric_mod
from grader.engine.runconfig import RunConfig
from grader.sandbox.client import TENSORFLOW, EnvironmentFailure, InternalError, Sandbox, WorkerError
from grader.sandbox.student import Student, describe_worker_error


@dataclass
class RunState:
    cfg: RunConfig
    rubric: rubric_mod.Rubric
    sandbox: Sandbox | None = None            # handed in by engine.grade (torch already importing), or made here
    outcomes: dict = field(default_factory=dict)
    last_module: str | None = None
    last_hidden: bool = False
    last_numpy_item: str | None = None        # after it, the light (numpy) zygote is not needed any more
    last_items: dict = field(default_factory=dict)  # zygote kind (True, TENSORFLOW) -> its last check's node id

    def uses_torch(self, question: str) -> bool:
        """Whether a question's checks run in the torch zygote (a PyTorch question, or a numpy question whose
        student files import torch)."""
        return question in self.cfg.torch_questions

    def zygote_kind(self, question: str):
        """The zygote a question's checks run in: TENSORFLOW (its TensorFlow track), True (torch), False."""
        if question in self.cfg.tf_questions or question in self.cfg.tf_unavailable:
            return TENSORFLOW
        return self.uses_torch(question)


RUN = pytest.StashKey[RunState]()
ENTRY = pytest.StashKey[rubric_mod.Entry]()


def pytest_addoption(parser):
    parser.addoption("--ag-run", default=None,
                     help="grading run configuration (JSON), written by `python -m grader grade`")


def check_key(nodeid: str) -> tuple[str, str, str]:
    """(module, check, case id) of a node id such as
    ``.../test_q1_rnn.py::test_rnn_step_backward[hidden-n1-dx]``."""
    path, _, rest = nodeid.partition("::")
    module = Path(path).stem
    module = module[5:] if module.startswith("test_") else module
    func, _, params = rest.partition("[")
    func = func[5:] if func.startswith("test_") else func
    return module, func, params.rstrip("]")


def entry_for(nodeid: str, rub: rubric_mod.Rubric) -> rubric_mod.Entry | None:
    """The rubric test a check counts towards: same module, check name listed, case visibility matches."""
    module, func, params = check_key(nodeid)
    vis = "hidden" if params.startswith("hidden") else "visible"
    for q in rub.questions:
        if q.module != module:
            continue
        for e in q.entries:
            if func in e.checks and e.cases in (vis, "any"):
                return e
    return None


class SandboxHandoff:
    """Passed to ``pytest.main(plugins=[...])`` by engine.grade: the run's sandbox, already started."""

    def __init__(self, sandbox: Sandbox):
        self.sandbox = sandbox

    @pytest.hookimpl(trylast=True)
    def pytest_configure(self, config):
        if RUN in config.stash:
            config.stash[RUN].sandbox = self.sandbox


def pytest_configure(config):
    config.addinivalue_line("markers", "cases(function, where, parts): one check per fixture case "
                                       "(grader.engine.cases.of)")
    path = config.getoption("ag_run")
    if path:
        cfg = RunConfig.from_json(Path(path).read_text())
        config.stash[RUN] = RunState(cfg, rubric_mod.load(cfg.rubric).select(cfg.questions))


def _state(config) -> RunState:
    if RUN not in config.stash:
        raise pytest.UsageError("grader checks run only through `python -m grader grade` (no --ag-run given)")
    return config.stash[RUN]


def pytest_generate_tests(metafunc):
    mark = metafunc.definition.get_closest_marker("cases")
    if mark is None:
        return
    function, = mark.args
    argnames, params = cases_mod.params(function, _state(metafunc.config).cfg.fixtures, mark.kwargs.get("where"),
                                        mark.kwargs.get("parts"))
    metafunc.parametrize(argnames, params)


def _hidden(nodeid: str) -> bool:
    return check_key(nodeid)[2].startswith("hidden")


def pytest_collection_modifyitems(session, config, items):
    if RUN not in config.stash:
        return
    state = config.stash[RUN]
    keep, drop = [], []
    for item in items:
        e = entry_for(item.nodeid, state.rubric)
        if e is None:
            drop.append(item)
        else:
            item.stash[ENTRY] = e
            keep.append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
    # Every visible check before any hidden one: nothing a hidden case's inputs leave behind (printed,
    # written to a file, kept by a daemon) can reach a visible test's feedback.
    keep.sort(key=lambda it: _hidden(it.nodeid))
    items[:] = keep
    numpy_items = [it.nodeid for it in keep if state.zygote_kind(it.stash[ENTRY].question) is False]
    state.last_numpy_item = numpy_items[-1] if numpy_items else None
    if state.cfg.tf_questions:  # two heavy zygotes in one run (Q3 in one framework, Q4 in the other): free each early
        for it in keep:
            kind = state.zygote_kind(it.stash[ENTRY].question)
            if kind is not False:
                state.last_items[kind] = it.nodeid


@pytest.fixture(scope="session")
def student(request):
    state = _state(request.config)
    cfg = state.cfg
    sb = state.sandbox
    owned = sb is None
    if owned:  # xdist worker, or a run without a prestarted sandbox
        sb = Sandbox(Path(cfg.stage.stage_dir), torch=bool(cfg.torch_questions), user=cfg.user, threads=cfg.threads,
                     preimport=tuple(cfg.preimport),
                     deadline=time.monotonic() + (cfg.deadline_epoch - time.time()),
                     inworker={False: tuple(cfg.numpy_inworker), True: tuple(cfg.torch_inworker),
                               TENSORFLOW: tuple(cfg.tf_inworker)},
                     tensorflow=bool(cfg.tf_questions))
    names = {}
    for e in state.rubric.entries():
        for c in e.checks:
            names.setdefault(c, e.name)
    yield Student(sb, cfg.stage, cfg.fixtures, state.rubric.isolate_building_blocks, names, tracks=cfg.tracks,
                  rubric_tracks=tuple(cfg.rubric_tracks))
    if owned:
        sb.close()


@pytest.fixture(autouse=True)
def _per_check(request, student):
    state = _state(request.config)
    entry = request.node.stash.get(ENTRY, None)
    student.timeout = entry.timeout if entry else None
    module, hidden = request.node.module.__name__, _hidden(request.node.nodeid)
    if state.last_module is not None and (state.last_module != module or hidden != state.last_hidden):
        student.sandbox.reset()  # each question, and the hidden cases, start in a fresh worker
    state.last_module, state.last_hidden = module, hidden
    student.in_hidden = hidden
    if entry is not None:
        if entry.question in state.cfg.tf_unavailable:
            raise EnvironmentFailure("this question's code is TensorFlow, and TensorFlow is not installed where the "
                                     "grader runs (the course staff must install requirements-tensorflow.txt); "
                                     "not your fault")
        kind = state.zygote_kind(entry.question)
        if kind is True or kind is False:
            student.sandbox.use_torch(kind)
        else:
            student.sandbox.use_kind(kind)
    student.sandbox.begin_capture()
    yield
    student.sandbox.end_check()
    for note in student.take_notes():
        request.node.user_properties.append(("note", note))
    out = student.sandbox.end_capture()
    if out.strip():
        request.node.user_properties.append(("student_output", out))
    if request.node.nodeid == state.last_numpy_item:
        student.sandbox.drop_zygote(False)  # only PyTorch checks remain: free the light zygote's memory
    for kind, last in state.last_items.items():
        if request.node.nodeid == last:
            student.sandbox.drop_zygote(kind)


@pytest.hookimpl(tryfirst=True)
def pytest_pyfunc_call(pyfuncitem):
    """Run the check; when the grading environment failed it (the container ran out of memory), run it once
    more in a fresh worker before reporting the environment's failure."""
    if RUN not in pyfuncitem.config.stash:
        return None
    args = {a: pyfuncitem.funcargs[a] for a in pyfuncitem._fixtureinfo.argnames}
    student = pyfuncitem.funcargs.get("student")
    crashes, memo = (student.sandbox.abrupt_ends, dict(student._memo)) if student is not None else (0, {})
    try:
        pyfuncitem.obj(**args)
    except EnvironmentFailure:
        if student is not None:
            student.sandbox.reset()
        pyfuncitem.obj(**args)
    except CheckFailure:
        # A worker that ended abruptly (not an OOM kill) failed this check: once more, in a fresh worker and
        # without what the failed attempt memoized.  A crash of the student's code happens again; TensorFlow
        # aborting once under memory pressure (seen twice in a loaded test run, oom_kills 0) does not.
        if student is None or student.sandbox.abrupt_ends == crashes:
            raise
        student.sandbox.reset()
        student._memo = memo
        pyfuncitem.obj(**args)
    return True


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    if call.excinfo is not None and call.when in ("setup", "call"):
        exc = call.excinfo.value
        if isinstance(exc, CheckFailure):
            item.user_properties.append(("feedback", str(exc)))
        elif isinstance(exc, WorkerError):
            item.user_properties.append(("feedback", describe_worker_error(exc)))
        elif isinstance(exc, EnvironmentFailure):
            item.user_properties.append(("environment_error", str(exc)))
        elif isinstance(exc, (pytest.skip.Exception, KeyboardInterrupt)):
            pass
        else:
            kind = "the grader's worker could not start" if isinstance(exc, InternalError) else "internal grader error"
            item.user_properties.append(("internal_error", f"{kind}: {''.join(traceback.format_exception_only(type(exc), exc)).strip()}\n"
                                         + "".join(traceback.format_tb(call.excinfo.tb)[-5:])))
    return (yield)


class _Recorder:
    """Collects every report in the controlling process (reports from xdist workers arrive here too)."""

    def __init__(self, state: RunState):
        self.state = state

    def pytest_runtest_logreport(self, report):
        state = self.state
        rec = state.outcomes.get(report.nodeid)
        if rec is None:
            e = entry_for(report.nodeid, state.rubric)
            _, func, params = check_key(report.nodeid)
            rec = state.outcomes[report.nodeid] = {"entry": e.name if e else None,
                                                   "label": f"{func}[{params}]" if params else func,
                                                   "outcome": "passed", "props": []}
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

    def pytest_sessionfinish(self, session, exitstatus):
        Path(self.state.cfg.outcomes).write_text(json.dumps(self.state.outcomes, indent=1))


@pytest.hookimpl(tryfirst=True)
def pytest_sessionstart(session):
    config = session.config
    if RUN in config.stash and not hasattr(config, "workerinput"):  # xdist workers report to the controller
        config.pluginmanager.register(_Recorder(config.stash[RUN]), "grader-outcomes")
