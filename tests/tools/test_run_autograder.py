"""run_autograder end to end, as on Gradescope, in a simulated root (AUTOGRADER_ROOT).

dist/autograder.zip is built (from this checkout's tracked files, see tests/tools/test_bundles.make_repo), unpacked
into ROOT/source, run_autograder is copied to ROOT/run_autograder as Gradescope does, and a real upload
is graded into ROOT/results/results.json.  `python3` is this machine's venv Python (no pip install in
tests).  As root, a hostile submission then tries, at import and at call time, to read the hidden
fixtures, the grader's code and the results, and to write results.json; it must get nothing, and its
score must be exactly what its (correct) code earns.
"""
import hashlib
import json
import os
import pwd
import re
import shutil
import stat
import subprocess
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

from conftest import PYTHON, REFERENCE
from grader.engine.results import validate
from grader.tools import container
from test_bundles import build, make_repo

IS_ROOT = os.getuid() == 0
PROBE_USER = "nobody"  # any unprivileged user: can it run the Python we hand to run_autograder?
QUESTIONS = "Q1,Q2"  # deterministic and quick; the Q3-Q5 checks are graded the same way when present


# ------------------------------------------------------------------ helpers
def _world_dir(prefix: str) -> Path:
    """A fresh folder in /tmp that every user can traverse (so only run_autograder's own chmods protect
    what is inside; pytest's tmp_path is private to root and would hide a missing chmod)."""
    d = Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))
    os.chmod(d, 0o755)
    return d


def _wrapper(bin_dir: Path, name: str, body: str) -> Path:
    p = bin_dir / name
    p.write_text("#!/bin/sh\n" + body + "\n")
    p.chmod(0o755)
    return p


def _as_user_can_read(user: str, path: Path) -> bool:
    return subprocess.run(["runuser", "-u", user, "--", "head", "-c", "1", str(path)],
                          capture_output=True).returncode == 0


_users = iter(range(1000))


@pytest.fixture
def sandbox_user():
    """A sandbox user of this test's own (not yet created: run_autograder creates it, as it would if
    setup.sh had not).  Own users, because the grader kills every process of its sandbox user when a run
    ends, so two runs sharing one user (xdist, other test files) would kill each other's workers."""
    name = f"agt{os.getpid() % 100000}x{next(_users)}"
    yield name
    if IS_ROOT:
        subprocess.run(["userdel", name], capture_output=True)


@pytest.fixture(scope="module")
def autograder_zip(tmp_path_factory):
    base = tmp_path_factory.mktemp("ag")
    out = base / "autograder.zip"
    build(make_repo(base / "repo"), "gradescope", out)
    return out


@pytest.fixture(scope="module")
def python3():
    """The python3 run_autograder finds on PATH, and whether the sandbox user can run it.

    This venv's Python when the sandbox user can read its installation; otherwise (here the base
    Python lives under /root, mode 700) a venv of the system python3, same minor version, that
    sees this venv's packages: the situation on Gradescope (system python3, world-readable)."""
    base = _world_dir("ag-py-")
    bin_dir = base / "bin"
    bin_dir.mkdir()
    chosen, usable = PYTHON, not IS_ROOT
    if IS_ROOT:
        probe = ["-c", "import numpy, json, secrets, logging, h5py"]
        if subprocess.run(["runuser", "-u", PROBE_USER, "--", PYTHON, *probe], capture_output=True).returncode == 0:
            usable = True
        else:
            site = subprocess.run([PYTHON, "-c", "import numpy, os; print(os.path.dirname(os.path.dirname("
                                   "numpy.__file__)))"], capture_output=True, text=True).stdout.strip()
            want = subprocess.run([PYTHON, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True,
                                  text=True).stdout
            sys_py = shutil.which("python3", path="/usr/bin:/bin:/usr/local/bin")
            if sys_py and subprocess.run([sys_py, "-c", "import sys; print(sys.version_info[:2])"],
                                         capture_output=True, text=True).stdout == want:
                subprocess.run([sys_py, "-m", "venv", "--without-pip", str(base / "venv")], check=True)
                sp = next((base / "venv" / "lib").glob("python3*/site-packages"))
                (sp / "main_venv_packages.pth").write_text(site + "\n")
                for p in [base, *base.rglob("*")]:
                    if not p.is_symlink():
                        p.chmod(p.stat().st_mode | 0o055)
                if subprocess.run(["runuser", "-u", PROBE_USER, "--", str(base / "venv" / "bin" / "python"),
                                   *probe], capture_output=True).returncode == 0:
                    chosen, usable = str(base / "venv" / "bin" / "python"), True
    _wrapper(bin_dir, "python3", f'exec "{chosen}" "$@"')
    yield bin_dir, chosen, usable
    shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def sim_root(autograder_zip):
    root = _world_dir("ag-sim-")
    subprocess.run(["unzip", "-q", str(autograder_zip), "-d", str(root / "source")], check=True)
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")  # what Gradescope does
    (root / "submission").mkdir()
    (root / "results").mkdir()
    yield root
    shutil.rmtree(root, ignore_errors=True)


def run_autograder(root: Path, bin_dir: Path, container_limits=None,
                   **env_extra) -> tuple[subprocess.CompletedProcess, dict | None]:
    """``container_limits``: (MB, CPUs) of a memory- and CPU-limited cgroup to run it in, cold page cache."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AUTOGRADER_")}
    env.update(AUTOGRADER_ROOT=str(root), PATH=f"{bin_dir}:{os.environ['PATH']}", AUTOGRADER_QUESTIONS=QUESTIONS)
    env.update({k: v for k, v in env_extra.items() if v is not None})
    for k in [k for k, v in env_extra.items() if v is None]:
        env.pop(k, None)
    t0 = time.time()
    cmd = ["bash", str(root / "run_autograder")]
    if container_limits:
        # the bound only turns a regression (minutes of thrashing) into a failure instead of a hung suite
        proc, info = container.run(cmd, *container_limits, cwd="/", capture_output=True, text=True, env=env,
                                   timeout=400)
        print(f"\nin a {container_limits[0]} MB / {container_limits[1]:g} CPU container: {info}")
    else:
        proc = subprocess.run(cmd, cwd="/", capture_output=True, text=True, env=env, timeout=300)
    print(f"\n$ run_autograder ({time.time() - t0:.1f} s, exit {proc.returncode})\n{proc.stdout[-4000:]}"
          f"{proc.stderr[-3000:]}")
    path = root / "results" / "results.json"
    return proc, (json.loads(path.read_text()) if path.exists() else None)


def _collect_submission_zip(dest: Path, package: Path) -> Path:
    """The zip collectSubmission.sh makes: assignment2/deeplearning/..., notebooks beside it."""
    with zipfile.ZipFile(dest, "w") as zf:
        for p in sorted(package.rglob("*.py")):
            zf.write(p, "assignment2/deeplearning/" + p.relative_to(package).as_posix())
        zf.writestr("assignment2/RNN_Captioning.ipynb", json.dumps({"cells": [], "nbformat": 4,
                                                                    "nbformat_minor": 2, "metadata": {}}))
        zf.writestr("assignment2/collectSubmission.sh", "zip -r assignment2.zip . -x '*.git*' '*datasets*'\n")
    return dest


def _assert_full_marks(results: dict):
    assert results is not None, "no results.json"
    assert validate(results) == []
    names = {t["name"] for t in results["tests"]}
    assert {n.split(".")[0] for n in names} == set(QUESTIONS.split(","))
    assert any("(hidden cases)" in n for n in names), "the Gradescope bundle must run the hidden cases"
    failed = [(t["name"], t["output"][:300]) for t in results["tests"] if t["status"] != "passed"]
    assert not failed, failed
    assert results["score"] == sum(t["max_score"] for t in results["tests"]) == 60


def _assert_locked(root: Path):
    for d in (root / "source", root / "results"):
        st = d.stat()
        assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == 0, f"{d} is {oct(st.st_mode)}, uid {st.st_uid}"
    loose = [p for p in (root / "source").rglob("*") if p.stat().st_mode & 0o077]
    assert not loose, f"readable by others: {loose[:5]}"


# ------------------------------------------------------------------ tests
def test_grades_a_collect_submission_zip(sim_root, python3, sandbox_user):
    bin_dir, _, _ = python3
    _collect_submission_zip(sim_root / "submission" / "assignment2.zip", REFERENCE / "deeplearning")
    proc, results = run_autograder(sim_root, bin_dir, AUTOGRADER_SANDBOX_USER=sandbox_user)
    assert proc.returncode == 0
    if IS_ROOT:  # the sandbox user was missing: run_autograder created it
        assert f"sandbox user {sandbox_user} is missing" in proc.stderr and pwd.getpwnam(sandbox_user)
    _assert_full_marks(results)
    # the staged file is named with its place in the upload (and the course layout it follows, if recognised)
    assert re.search(r"^rnn_layers.py: graded \S*assignment2/deeplearning/rnn_layers.py( \(.*\))?$", results["output"],
                     re.M), results["output"]
    if IS_ROOT:
        _assert_locked(sim_root)


HOSTILE = r'''

# ---------------------------------------------------------------- hostile additions (test only)
import glob as _glob
import importlib as _importlib
import json as _json
import os as _os

_AG_ROOT = __AG_ROOT__
_AG_DONE = set()


def _ag_attack(phase):
    if phase in _AG_DONE:
        return
    _AG_DONE.add(phase)
    out = []

    def rec(op, target, fn):
        entry = {"phase": phase, "op": op, "target": target, "uid": _os.getuid(), "euid": _os.geteuid()}
        try:
            entry.update(ok=True, got=repr(fn())[:300])
        except BaseException as exc:  # noqa: B036
            entry.update(ok=False, got=f"{type(exc).__name__}: {str(exc)[:200]}")
        out.append(entry)

    src, res = _AG_ROOT + "/source", _AG_ROOT + "/results"
    for p in (src + "/fixtures/hidden.h5", src + "/fixtures/visible.h5", src + "/fixtures/manifest.yaml",
              src + "/grader/oracle/captioning.py", src + "/grader/fixturegen/rnn.py", src + "/grader/rubrics/cs182_hw2.yaml",
              src + "/run_autograder", res + "/results.json"):
        rec("read", p, lambda p=p: open(p, "rb").read(64))
    for d in (src, src + "/grader", src + "/fixtures", res):
        rec("list", d, lambda d=d: _os.listdir(d))
    for d in _glob.glob("/tmp/ag-run-*"):  # the grader's run folders (run.json, outcomes.json)
        rec("list", d, lambda d=d: _os.listdir(d))
        rec("write", d + "/outcomes.json", lambda d=d: open(d + "/outcomes.json", "w").write("{}"))
    rec("write", res + "/results.json",
        lambda: open(res + "/results.json", "w").write(_json.dumps({"score": 1000, "tests": []})))
    rec("write", res + "/extra.json", lambda: open(res + "/extra.json", "w").write("{}"))
    rec("write", src + "/grader/engine/results.py",
        lambda: open(src + "/grader/engine/results.py", "a").write("\n# pwned\n"))
    rec("write", src + "/fixtures/visible.h5", lambda: open(src + "/fixtures/visible.h5", "r+b").write(b"x"))
    rec("import", "grader.fixturegen.rnn", lambda: _importlib.import_module("grader.fixturegen.rnn").__file__)
    rec("import", "grader.engine.cases hidden cases",
        lambda: len(_importlib.import_module("grader.engine.cases").cases("rnn_step_forward", src + "/fixtures")))
    try:
        zygote = _os.getppid()
        grader = int([ln.split()[1] for ln in open(f"/proc/{zygote}/status") if ln.startswith("PPid:")][0])
        rec("read", "/proc/<grader>/environ", lambda: open(f"/proc/{grader}/environ", "rb").read(64))
        rec("read", "/proc/<grader>/mem", lambda: open(f"/proc/{grader}/mem", "rb").read(1))
        rec("signal", "the grader process", lambda: _os.kill(grader, 0))
    except Exception as exc:
        out.append({"phase": phase, "op": "find grader", "ok": False, "got": repr(exc), "uid": _os.getuid(),
                    "euid": _os.geteuid()})
    # Reported on stdout (the sandbox lets the worker write nowhere else): the grader shows it in the test's
    # output, where the test reads it back.  A summary, to stay within the captured output's limit.
    errors = {}
    for e in out:
        if not e["ok"]:
            errors[e["got"].split(":")[0]] = errors.get(e["got"].split(":")[0], 0) + 1
    print("AGLOG " + _json.dumps({
        "phase": phase, "uid": _os.getuid(), "euid": _os.geteuid(), "n": len(out), "errors": errors,
        "hidden_read": any(e["op"] == "read" and e["target"].endswith("hidden.h5") for e in out),
        "ok": [[e["op"], e["target"], e["got"][:80]] for e in out if e["ok"]][:5]}, sort_keys=True), flush=True)


_ag_attack("import")
_ag_rnn_step_forward = rnn_step_forward


def rnn_step_forward(x, prev_h, Wx, Wh, b):
    _ag_attack("call")
    return _ag_rnn_step_forward(x, prev_h, Wx, Wh, b)
'''


def _drop_ready(python3, sandbox_user) -> tuple[Path, str, int]:
    """Skips unless the drop to the sandbox user can really happen here (root, and a Python that user can
    run); creates that user.  Returns (the bin folder with python3, that Python, the user's uid)."""
    bin_dir, chosen, usable = python3
    if not IS_ROOT:
        pytest.skip("the sandbox-user boundary needs root (as on Gradescope); this test runs as "
                    f"{pwd.getpwuid(os.getuid()).pw_name}")
    if not usable:
        pytest.skip("no Python on this machine that an unprivileged user can run")
    subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", sandbox_user], check=True)
    return bin_dir, chosen, pwd.getpwnam(sandbox_user).pw_uid


def test_hostile_submission_gets_nothing(sim_root, python3, sandbox_user):
    bin_dir, chosen, uid = _drop_ready(python3, sandbox_user)
    src, res = sim_root / "source", sim_root / "results"
    # control: as unpacked, the secrets ARE readable by the sandbox user; only run_autograder protects them
    assert _as_user_can_read(sandbox_user, src / "fixtures" / "hidden.h5")
    assert _as_user_can_read(sandbox_user, src / "grader" / "engine" / "grade.py")
    ref = REFERENCE / "deeplearning"
    code = (ref / "rnn_layers.py").read_text() + HOSTILE.replace("__AG_ROOT__", repr(str(sim_root)))
    (sim_root / "submission" / "rnn_layers.py").write_text(code)  # a flat upload of the student files
    shutil.copy(ref / "classifiers" / "rnn.py", sim_root / "submission" / "rnn.py")
    before = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in src.rglob("*") if p.is_file()}
    proc, results = run_autograder(sim_root, bin_dir, AUTOGRADER_SANDBOX_USER=sandbox_user)
    assert results is not None, proc.stderr
    summaries = {}
    for t in results["tests"]:
        for ln in t["output"].splitlines():
            if ln.startswith("AGLOG "):
                s = json.loads(ln[6:])
                summaries[(s["phase"], json.dumps(s, sort_keys=True))] = s
    attempts = list(summaries.values())
    print(f"python3 = {chosen}; hostile code ran {len(attempts)} time(s) (as uid {uid}):")
    for a in attempts:
        print(f"  [{a['phase']:6}] {a['n']} attempts as uid {a['uid']}/{a['euid']}: {a['errors']}; succeeded: {a['ok']}")
    assert proc.returncode == 0
    assert "cannot read this Python installation" not in proc.stderr
    # the hostile code ran, as the sandbox user, at import time and at call time ...
    assert {a["phase"] for a in attempts} == {"import", "call"}, attempts[:3]
    assert all(a["uid"] == uid and a["euid"] == uid for a in attempts)
    assert all(a["hidden_read"] and a["n"] >= 19 for a in attempts)
    # ... and got nothing: every read, listing, write, import and signal failed
    succeeded = [a["ok"] for a in attempts if a["ok"]]
    assert not succeeded, succeeded
    assert all(sum(a["errors"].values()) == a["n"] for a in attempts)
    # the grader's files and the results are untouched; the score is what the (correct) code earns
    after = {p: hashlib.sha256(p.read_bytes()).hexdigest() for p in src.rglob("*") if p.is_file()}
    assert after == before
    assert sorted(os.listdir(res)) == ["results.json"]
    _assert_full_marks(results)
    _assert_locked(sim_root)


def test_same_score_five_times_as_the_sandbox_user(sim_root, python3, sandbox_user, tmp_path):
    """run_autograder 5 times in a row on one submission, as on Gradescope (the sandbox user really dropped
    to): every test gets the same score and status each time.  Q3 (torch, the trajectories most
    sensitive to threads and arithmetic: the fooling image, the class visualization), each with a
    catalogued bug; numpy Q1 is deterministic arithmetic and graded on every other run_autograder test."""
    bin_dir, _, _ = _drop_ready(python3, sandbox_user)
    from grader.tools import mutants
    catalogue = {m.name: m for m in mutants.load()}
    sub = REFERENCE
    for i, name in enumerate(("fooling_single_step", "class_visualization_l2_wrong_sign")):
        sub = mutants.apply(catalogue[name], tmp_path / f"with_{i + 1}_bugs", reference=sub)
    shutil.rmtree(sim_root / "submission")
    shutil.copytree(sub / "deeplearning", sim_root / "submission" / "deeplearning",
                    ignore=shutil.ignore_patterns("__pycache__"))
    runs = []
    for _ in range(5):
        proc, results = run_autograder(sim_root, bin_dir, AUTOGRADER_SANDBOX_USER=sandbox_user,
                                       AUTOGRADER_QUESTIONS="Q3")
        assert proc.returncode == 0 and results is not None, proc.stderr[-2000:]
        # the drop to the sandbox user happened (grade warns when that user cannot run this Python)
        assert "cannot read this Python installation" not in proc.stderr and "NOT ISOLATED" not in results["output"]
        runs.append({t["name"]: (t["score"], t["status"]) for t in results["tests"]})
        full = {t["name"]: t["max_score"] for t in results["tests"]}
    print(f"score on each run: {[sum(s for s, _ in r.values()) for r in runs]}")
    assert all(r == runs[0] for r in runs[1:]), [sorted(set(r.items()) ^ set(runs[0].items())) for r in runs[1:]]
    lost = {n for n, (score, _) in runs[0].items() if score < full[n]}
    assert {"Q3.2 make_fooling_image", "Q3.3 update_class_visulization"} <= lost, lost   # a real comparison


def test_python_dying_still_leaves_valid_results(sim_root, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    _wrapper(bin_dir, "python3", "kill -9 $$")  # the interpreter dies at once (think: OOM killer)
    _collect_submission_zip(sim_root / "submission" / "assignment2.zip", REFERENCE / "deeplearning")
    proc, results = run_autograder(sim_root, bin_dir)
    assert results is not None and validate(results) == []
    assert results["score"] == 0 and "exit status 137" in results["output"] and "not your fault" in results["output"]


def test_hung_grader_is_stopped_with_valid_results(sim_root, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    # the grading command (however run_autograder starts the grader: `-m grader` or `-I ... grader.cli`) hangs
    _wrapper(bin_dir, "python3", 'case "$*" in *" grade "*) exec sleep 60;; *) exit 1;; esac')
    t0 = time.time()
    proc, results = run_autograder(sim_root, bin_dir, AUTOGRADER_TIMEOUT="1")
    assert time.time() - t0 < 30
    assert results is not None and validate(results) == []
    assert results["score"] == 0 and "stopped after 1 s" in results["output"]


def test_rubric_from_file_or_env(sim_root, tmp_path, sandbox_user):
    """run_autograder takes the rubric from $AUTOGRADER_RUBRIC, else from source/autograder_rubric."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "args.log"
    _wrapper(bin_dir, "python3", f'echo "$@" >> "{log}"; exit 1')
    (sim_root / "source" / "autograder_rubric").write_text("# built with AUTOGRADER_RUBRIC\ncs231n_a3\n")
    run_autograder(sim_root, bin_dir, AUTOGRADER_SANDBOX_USER=sandbox_user)
    run_autograder(sim_root, bin_dir, AUTOGRADER_RUBRIC="my.yaml", AUTOGRADER_SANDBOX_USER=sandbox_user)
    (sim_root / "source" / "autograder_rubric").unlink()
    run_autograder(sim_root, bin_dir, AUTOGRADER_SANDBOX_USER=sandbox_user)
    calls = [ln for ln in log.read_text().splitlines() if " grade " in ln]
    assert len(calls) == 3, log.read_text()
    assert [re.search(r"--rubric (\S+)", c).group(1) for c in calls] == ["cs231n_a3", "my.yaml", "cs182_hw2"]
    assert all(f"{sim_root}/submission --results {sim_root}/results/results.json" in c for c in calls)
    if IS_ROOT:
        assert all(f"--user {sandbox_user}" in c for c in calls)


@pytest.mark.parametrize("detect", ["GRADESCOPE=1", "AUTOGRADER_ROOT"])
def test_setup_sh_gradescope_branch(sim_root, tmp_path, detect):
    """setup.sh run as root from ROOT/source: pip-installs the pinned requirements into python3 (stubbed:
    no network in tests) and creates the sandbox user; the grader's files end up root-only."""
    if not IS_ROOT:
        pytest.skip("setup.sh's Gradescope branch runs as root")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "calls.log"
    _wrapper(bin_dir, "apt-get", f'echo "apt-get $*" >> "{log}"')
    _wrapper(bin_dir, "python3", f'case "$*" in "-m pip"*|*"import numpy, h5py"*) echo "python3 $*" >> "{log}"; '
                                 f'exit 0;; esac\nexec "{PYTHON}" "$@"')  # pip and the import check: stubbed
    user = f"agsetup{os.getpid() % 100000}"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AUTOGRADER_", "GRADESCOPE"))}
    env.update(PATH=f"{bin_dir}:{os.environ['PATH']}", AUTOGRADER_SANDBOX_USER=user)
    env.update({"GRADESCOPE": "1"} if detect == "GRADESCOPE=1" else {"AUTOGRADER_ROOT": str(sim_root)})
    try:
        proc = subprocess.run(["bash", "./setup.sh"], cwd=sim_root / "source", capture_output=True, text=True,
                              env=env, timeout=300)
        print(proc.stdout, proc.stderr, log.read_text() if log.exists() else "")
        assert proc.returncode == 0, proc.stderr
        calls = log.read_text()
        assert re.search(rf"python3 -m pip install .*-r {re.escape(str(sim_root))}/source/requirements.txt", calls)
        assert "import numpy, h5py, yaml, pytest, torch, torchvision" in calls  # the install is verified
        assert pwd.getpwnam(user).pw_shell.endswith("nologin")
        assert not (sim_root / "source" / ".venv").exists()
        assert list((sim_root / "source" / "grader" / "sandbox" / "__pycache__").glob("worker.*.pyc"))  # precompiled
        loose = [p for p in (sim_root / "source").rglob("*") if p.stat().st_mode & 0o077]
        assert not loose
    finally:
        subprocess.run(["userdel", user], capture_output=True)


# ------------------------------------------------------------------ a memory-limited container, as deployed
@pytest.mark.skipif(container.available() is not None, reason=f"no memory-limited container here: {container.available()}")
@pytest.mark.parametrize("memory_mb, cpus", [(768, 0.5), (512, 2)], ids=["768MB-half-cpu", "512MB"])
def test_a_full_grade_in_a_small_container(sim_root, python3, sandbox_user, memory_mb, cpus):
    """The reference under cs231n_a3 (every question), through run_autograder with the drop to the sandbox
    user, in a cgroup.  Gradescope's default (768 MB, half a vCPU, cold page cache): full marks.  512 MB:
    full marks, or the checks that did not fit say the environment ran out of memory (not the student's
    fault) and the numpy questions are still graded in full: never a silent deduction, never minutes of
    thrashing (grader/sandbox/procs.py, ThrashWatch)."""
    bin_dir, _, _ = _drop_ready(python3, sandbox_user)
    shutil.rmtree(sim_root / "submission")
    shutil.copytree(REFERENCE / "deeplearning", sim_root / "submission" / "deeplearning",
                    ignore=shutil.ignore_patterns("__pycache__"))
    proc, res = run_autograder(sim_root, bin_dir, container_limits=(memory_mb, cpus),
                               AUTOGRADER_SANDBOX_USER=sandbox_user, AUTOGRADER_RUBRIC="cs231n_a3",
                               AUTOGRADER_QUESTIONS=None)
    assert proc.returncode == 0 and res is not None, proc.stderr[-3000:]
    assert "cannot read this Python installation" not in proc.stderr and "NOT ISOLATED" not in res["output"]
    short = [t for t in res["tests"] if t["score"] < t["max_score"]]
    if memory_mb == 768 or not short:
        assert res["score"] == 100 and not short, {t["name"]: t["output"][:300] for t in short}
        return
    silent = {t["name"]: t["output"][:300] for t in short if "not your fault" not in t["output"]}
    assert not silent, silent
    assert all("out of memory" in t["output"] for t in short)
    assert "course staff should look at this run" in res["output"]  # flagged for staff (run_autograder exits 0)
    numpy_q = [t for t in res["tests"] if t["tags"][0] in ("Q1", "Q2")]
    assert numpy_q and all(t["score"] == t["max_score"] for t in numpy_q), \
        {t["name"]: t["output"][:200] for t in numpy_q if t["score"] < t["max_score"]}
