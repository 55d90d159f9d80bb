"""Hostile submissions, one per class of attack (issue "Security"), graded through the real CLI.

Each submission is the reference solution (so every check it does not attack keeps its points) with a
payload added by a student who has read this repository.  Each must gain nothing, crash nothing, and
leave no process behind.  The same classes through run_autograder, as root with the drop to the sandbox
user, are in tests/tools/test_run_autograder.py and test_security_gradescope.py.
"""
from __future__ import annotations

import io
import sys
import json
import os
import shutil
import stat
import subprocess
import tempfile
import time
import zipfile
from pathlib import Path

import pytest

from conftest import FIXTURES, REFERENCE, ROOT, grade, rubric_subset
from grader.sandbox import confine

LANDLOCK = confine.landlock_abi() > 0
needs_landlock = pytest.mark.skipif(not LANDLOCK, reason="this kernel has no Landlock (Linux 5.13+)")

# Grader modules a worker child may hold: its own machinery, the in-worker helpers and course data.
ALLOWED_IN_WORKER = ("grader", "grader.sandbox", "grader.sandbox.worker", "grader.sandbox.protocol",
                     "grader.sandbox.confine", "grader.inworker", "grader.course")


def hostile(tmp_path: Path, payload: str, file: str = "rnn_layers.py", name: str = "hostile") -> Path:
    """A copy of reference/ with ``payload`` appended to deeplearning/<file>."""
    dest = tmp_path / name
    shutil.copytree(REFERENCE, dest, ignore=shutil.ignore_patterns("__pycache__"))
    target = dest / "deeplearning" / file
    target.write_text(target.read_text() + "\n\n" + payload)
    return dest


def _wrap_step_forward(body: str) -> str:
    """Payload that runs ``body`` (with ``print`` captured into the check's output) on every call of
    rnn_step_forward, then computes the right answer."""
    return ("_orig_step = rnn_step_forward\n\n\n"
            "def rnn_step_forward(x, prev_h, Wx, Wh, b):\n"
            + "".join("    " + line + "\n" for line in body.strip().splitlines())
            + "    return _orig_step(x, prev_h, Wx, Wh, b)\n")


# ------------------------------------------------------------------ 4. nothing of the grader in the worker
@needs_landlock
def test_worker_holds_no_solution_and_reads_nothing_of_the_grader(tmp_path):
    secrets = [FIXTURES / "hidden.h5", REFERENCE / "deeplearning" / "rnn_layers.py",
               ROOT / "grader" / "checks" / "test_q1_rnn.py", ROOT / "grader" / "oracle" / "style.py"]
    body = f"""
import sys, os
print("MODULES", sorted(n for n in sys.modules if n.startswith("grader")))
for mod in ("grader.paths", "grader.oracle.style", "grader.engine.cases"):
    try:
        __import__(mod)
        print("IMPORTED", mod)
    except Exception as e:
        print("blocked", mod)
for p in {[str(p) for p in secrets]!r}:
    try:
        open(p, "rb").read(1)
        print("READ", p)
    except OSError:
        print("denied", p)
try:
    os.kill(os.getppid(), 0)
    print("SIGNALLED the zygote")
except OSError:
    print("signal blocked")
try:
    open("/tmp/ag-escape-probe", "w").write("x")
    print("WROTE outside its folder")
except OSError:
    print("write blocked")
"""
    g = grade(hostile(tmp_path, _wrap_step_forward(body)), questions="Q1")
    out = g.tests["Q1.1 rnn_step_forward"]["output"]
    mods = json.loads(out.split("MODULES ", 1)[1].split("\n", 1)[0].replace("'", '"'))
    print(mods)
    assert mods and all(m in ALLOWED_IN_WORKER or m.startswith(("grader.inworker.", "grader.course."))
                        for m in mods), mods
    assert "IMPORTED" not in out and "READ" not in out and "SIGNALLED" not in out and "WROTE" not in out, out
    assert out.count("blocked grader.") == 3 and out.count("denied") == len(secrets)
    assert g.results["score"] == sum(t["max_score"] for t in g.results["tests"])  # lost nothing else


# ------------------------------------------------------------------ 1. no code of the submission ever runs as root
@needs_landlock
def test_planted_grader_package_is_never_imported(tmp_path):
    """The submission plants grader/__init__.py in its working folder and kills its zygote, so the grader
    restarts one: the new zygote (run by the grader, as root on Gradescope) must not import it.  (Without
    Landlock the same attack is made as the sandbox user, in test_security_gradescope.py.)"""
    marker_dir = Path(tempfile.mkdtemp(prefix="ag-plant-"))
    os.chmod(marker_dir, 0o777)
    marker = marker_dir / "planted-code-ran"
    plant = f"open({str(marker)!r}, 'w').write(str(__import__('os').getuid()))\n"
    body = f"""
import os, signal
for d in (".", "grader"):
    os.makedirs("grader", exist_ok=True)
open("grader/__init__.py", "w").write({plant!r})
open("grader/__main__.py", "w").write({plant!r})
try:
    os.kill(os.getppid(), signal.SIGKILL)
except OSError:
    pass
"""
    try:
        g = grade(hostile(tmp_path, _wrap_step_forward(body)), questions="Q1")
        assert not marker.exists(), f"planted code ran as uid {marker.read_text()}"
        assert g.results["score"] > 0  # grading went on
    finally:
        shutil.rmtree(marker_dir, ignore_errors=True)


# ------------------------------------------------------------------ 2. links, pipes and devices in the upload
def test_links_pipes_and_devices_are_never_followed(tmp_path):
    sub = tmp_path / "upload"
    shutil.copytree(REFERENCE, sub, ignore=shutil.ignore_patterns("__pycache__"))
    pkg = sub / "deeplearning"
    (pkg / "classifiers" / "rnn.py").unlink()
    (pkg / "classifiers" / "rnn.py").symlink_to(REFERENCE / "deeplearning" / "classifiers" / "rnn.py")
    (sub / "a.zip").symlink_to("/dev/zero")
    os.mkfifo(sub / "lstm.zip")
    victim = tmp_path / "victim"
    victim.mkdir()
    (sub / "inner").symlink_to(victim)  # an inner zip named inner.zip would unpack "into" it
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("payload.py", "print('x')\n")
    (sub / "inner.zip").write_bytes(buf.getvalue())
    t0 = time.time()
    g = grade(sub, questions="Q1", timeout=300)
    assert time.time() - t0 < 120
    assert list(victim.iterdir()) == []  # nothing unpacked through the link
    lost = g.lost()
    assert "Q1.7 CaptioningRNN.loss (rnn)" in lost and "not found" in lost["Q1.7 CaptioningRNN.loss (rnn)"]
    assert "Q1.1 rnn_step_forward" not in lost  # the regular rnn_layers.py was graded


def test_a_zip_member_that_is_a_link_is_skipped(tmp_path):
    z = tmp_path / "upload.zip"
    with zipfile.ZipFile(z, "w") as zf:
        for p in (REFERENCE / "deeplearning").rglob("*.py"):
            zf.write(p, "deeplearning/" + p.relative_to(REFERENCE / "deeplearning").as_posix())
        link = zipfile.ZipInfo("deeplearning/classifiers/rnn.py.orig")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(link, str(ROOT / "fixtures" / "hidden.h5"))
    g = grade(z, questions="Q1")
    assert g.results["score"] == sum(t["max_score"] for t in g.results["tests"])
    assert "symbolic link" in g.results["output"]


# ------------------------------------------------------------------ 8. zips that used to crash staging
def _zip_with(tmp_path, extra) -> Path:
    z = tmp_path / "upload.zip"
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for p in (REFERENCE / "deeplearning").rglob("*.py"):
            zf.write(p, "deeplearning/" + p.relative_to(REFERENCE / "deeplearning").as_posix())
        extra(zf)
    return z


def test_bad_zip_members_cost_only_themselves(tmp_path):
    def extra(zf):
        zf.writestr("x" * 300 + ".py", "print(1)\n")                       # name too long for the disk
        zf.writestr("clash.py", "a = 1\n")
        zf.writestr("clash.py/inner.py", "b = 2\n")                         # a file where a folder must go
        zf.writestr("corrupt.py", "c = 3\n" * 1000)
    z = _zip_with(tmp_path, extra)
    data = bytearray(z.read_bytes())
    # corrupt the compressed bytes of corrupt.py (CRC / inflate error when read)
    with zipfile.ZipFile(z) as zf:
        info = zf.getinfo("corrupt.py")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    for i in range(start + 5, start + 25):
        data[i] ^= 0xFF
    z.write_bytes(bytes(data))
    g = grade(z, questions="Q1")
    assert g.results["score"] == sum(t["max_score"] for t in g.results["tests"]), g.lost()
    out = g.results["output"]
    assert "name is too long" in out and "already there" in out and "could not be read" in out, out


def test_a_member_that_lies_about_its_size_is_cut_off(tmp_path):
    """The central directory says 10 bytes; the stream inflates to far more: at most the limit is read."""
    from grader.engine import files
    z = tmp_path / "lie.zip"
    big = b"#" * (3 * 1024 * 1024)
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("deeplearning/huge.py", big)
    data = bytearray(z.read_bytes())
    with zipfile.ZipFile(z) as zf:
        info = zf.getinfo("deeplearning/huge.py")
    # patch the declared uncompressed size (local header at +22, central directory entry) to 10 bytes
    data[info.header_offset + 22: info.header_offset + 26] = (10).to_bytes(4, "little")
    cd = data.rfind(b"PK\x01\x02")
    data[cd + 24: cd + 28] = (10).to_bytes(4, "little")
    z.write_bytes(bytes(data))
    dest = tmp_path / "out"
    dest.mkdir()
    got = files.safe_extract(z, dest, suffixes=(".py",), max_total=10**9, max_members=10, max_member=1024 * 1024)
    assert not (dest / "deeplearning" / "huge.py").exists()
    assert any("huge.py" in s for s in got.skipped), got.skipped


# ------------------------------------------------------------------ 3. verdicts from data the worker supplies
def test_a_forged_training_run_earns_nothing(tmp_path):
    """The submission's CaptioningRNN is the template's stub; at import it replaces the grader's in-worker
    training helper with one that returns made-up data on which made-up parameters have a tiny loss."""
    sub = tmp_path / "forged"
    shutil.copytree(REFERENCE, sub, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copyfile(ROOT / "student_template" / "deeplearning" / "classifiers" / "rnn.py",
                    sub / "deeplearning" / "classifiers" / "rnn.py")
    payload = '''
import sys as _sys
import numpy as _np


def _forged(data_dir, cell_type, config):
    V, D, W, H = 1004, 512, config["wordvec_dim"], config["hidden_dim"]
    G = 4 * H if cell_type == "lstm" else H
    p = {"W_embed": _np.zeros((V, W)), "W_proj": _np.zeros((D, H)), "b_proj": _np.zeros(H),
         "Wx": _np.zeros((W, G)), "Wh": _np.zeros((H, G)), "b": _np.zeros(G),
         "W_vocab": _np.zeros((H, V)), "b_vocab": _np.zeros(V)}
    p["b_vocab"][0] = 50.0  # every word predicted as <NULL>: loss ~0 on all-<NULL> captions
    return {"loss_history": _np.zeros(3), "params": p,
            "train_captions": _np.zeros((50, 17), dtype=_np.int64), "train_features": _np.zeros((50, D))}


for _name in list(_sys.modules):
    if _name.startswith("grader.inworker"):
        setattr(_sys.modules[_name], "train_captioning", _forged)
'''
    target = sub / "deeplearning" / "classifiers" / "rnn.py"
    target.write_text(target.read_text() + payload)
    g = grade(sub, questions="Q1,Q2")
    lost = g.lost()
    assert "Q1.9 overfit small data (rnn)" in lost and "Q2.7 overfit small data (lstm)" in lost, g.results["score"]


# ------------------------------------------------------------------ 6. the wire
_WIRE = '''
import os as _os, socket as _socket, stat as _stat, struct as _struct, json as _json


def _grader_socket():
    for fd in range(3, 256):
        try:
            if _stat.S_ISSOCK(_os.fstat(fd).st_mode):
                return fd
        except OSError:
            pass


def _send_raw(data):
    _os.write(_grader_socket(), data)


def _header(obj):
    raw = _json.dumps(obj).encode()
    return _struct.pack("<I", len(raw)) + raw
'''

_ATTACKS = {
    # function name -> bytes the payload writes to the grader before returning normally
    "rnn_step_forward": "_struct.pack('<I', 60 * 1024 * 1024) + b'[' * 4096",
    "rnn_forward": "_header({'ok': True, 'payload': eval('[' * 50000 + ']' * 50000)}) if False else "
                   "_struct.pack('<I', 100000) + b'[' * 50000 + b']' * 50000",
    "word_embedding_forward": "_header({'ok': True, 'payload': {'$nd': 0, 'dtype': '<f8', "
                              "'shape': [2 ** 62, 4]}, 'buffers': [32]}) + b'x' * 32",
    "lstm_step_forward": "_header({'ok': 'yes', 'handle': 'NaN', 'payload': None, 'buffers': []})",
}


def test_malformed_replies_are_the_students_failure_on_that_check(tmp_path):
    payload = _WIRE
    for fn, data in _ATTACKS.items():
        payload += (f"\n\n_orig_{fn} = {fn}\n\n\ndef {fn}(*a, **k):\n"
                    f"    _send_raw({data})\n"
                    f"    return _orig_{fn}(*a, **k)\n")
    t0 = time.time()
    g = grade(hostile(tmp_path, payload), questions="Q1,Q2", timeout=400)
    took = time.time() - t0
    assert g.proc.returncode == 0 and "INTERNAL" not in g.proc.stderr, g.proc.stderr[-2000:]
    lost = g.lost()
    for test in ("Q1.1 rnn_step_forward", "Q1.3 rnn_forward", "Q1.5 word_embedding_forward",
                 "Q2.1 lstm_step_forward"):
        assert test in lost and "malformed" in lost[test], (test, lost.get(test))
    assert "Q1.6 word_embedding_backward" not in lost or "malformed" in lost["Q1.6 word_embedding_backward"]
    assert took < 200, took


# ------------------------------------------------------------------ 7. hidden inputs in visible feedback
@pytest.mark.parametrize("step_backward", ["right", "wrong"])
def test_hidden_inputs_never_reach_a_visible_test(tmp_path, step_backward):
    """Code that logs every input rnn_step_forward sees to a file in its folder and prints the whole log.
    ``wrong``: its rnn_step_backward is wrong too, so rnn_backward's visible checks fail as written and the
    grader asks whether rnn_step_forward passes its own tests (one bug, one deduction): that must run only
    its visible cases there (it ran the hidden ones too, in the visible tests' worker)."""
    from grader.engine import cases
    hidden = {f"{float(c.inputs['x'].sum()):.9e}" for c in cases.cases("rnn_step_forward", FIXTURES) if c.hidden}
    body = '''
import os
with open("inputs.log", "a") as f:
    f.write("%.9e\\n" % float(x.sum()))
try:
    open("/tmp/ag-shared-log", "a").write("%.9e\\n" % float(x.sum()))
except OSError:
    pass
for p in ("inputs.log", "/tmp/ag-shared-log"):
    try:
        print(open(p).read())
    except OSError:
        pass
'''
    payload = _wrap_step_forward(body)
    if step_backward == "wrong":
        payload += ("\n\n_orig_step_back = rnn_step_backward\n\n\n"
                    "def rnn_step_backward(dnext_h, cache):\n"
                    "    dx, dprev_h, dWx, dWh, db = _orig_step_back(dnext_h, cache)\n"
                    "    return dx, dprev_h, dWx, dWh, 2 * db\n")
    g = grade(hostile(tmp_path, payload), questions="Q1")
    visible = "\n".join(t["output"] for t in g.results["tests"] if t["visibility"] == "visible")
    assert hidden and not any(h in visible for h in hidden)
    if step_backward == "right":
        assert g.results["score"] == sum(t["max_score"] for t in g.results["tests"])
    else:
        lost = {t["name"] for t in g.results["tests"] if t["score"] < t["max_score"]}
        assert lost == {"Q1.2 rnn_step_backward", "Q1.2h rnn_step_backward (hidden cases)"}, lost
        assert "passes with a correct rnn_step_backward" in "\n".join(
            t["output"] for t in g.results["tests"] if t["name"] == "Q1.4 rnn_backward")


# ------------------------------------------------------------------ 9. nothing outlives the run
# Student code (run once per child) that starts a double-forked setsid daemon and prints its pid.
DAEMON = '''
import os, time
if not globals().get("_spawned"):
    globals()["_spawned"] = True
    r, w = os.pipe()
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            os.write(w, str(os.getpid()).encode())
            os.close(w)
            while True:
                time.sleep(0.2)
        os._exit(0)
    os.close(w)
    print("DAEMON", os.read(r, 32).decode())
'''


def _assert_daemon_gone(output: str) -> None:
    """The daemon whose pid DAEMON printed in ``output`` is gone (or a zombie) once the run has ended."""
    pid = int(output.split("DAEMON ", 1)[1].split()[0])
    time.sleep(0.5)
    assert not Path(f"/proc/{pid}").exists() or Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] == "Z"


def test_a_setsid_daemon_does_not_outlive_the_run(tmp_path):
    g = grade(hostile(tmp_path, _wrap_step_forward(DAEMON)), questions="Q1")
    _assert_daemon_gone(g.tests["Q1.1 rnn_step_forward"]["output"])


# ------------------------------------------------------------------ 8. a full disk while writing results
@pytest.mark.skipif(os.getuid() != 0, reason="needs root to mount a small tmpfs")
def test_a_full_disk_while_writing_results_leaves_a_valid_results_json(tmp_path):
    mnt = tmp_path / "small"
    mnt.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)]).returncode != 0:
        pytest.skip("cannot mount a tmpfs here")
    try:
        out = mnt / "results.json"
        # leave room for the small placeholder (about 5 kB for Q1) but not for the full results (about 25 kB)
        filler = mnt / "filler"
        with open(filler, "wb") as f:
            f.write(b"\0" * (64 * 1024 - 12 * 1024))
        g = grade(REFERENCE, "--results", str(out), questions="Q1", check=False)
        res = json.loads(out.read_text())
        assert g.proc.returncode == 1  # the grader says it could not write its results
        assert "not your fault" in res["tests"][0]["output"] and res["score"] == 0
        from grader.engine.results import validate
        assert validate(res) == []
    finally:
        subprocess.run(["umount", str(mnt)])


# ------------------------------------------------------------------ the channel to correct building blocks
def test_model_code_that_abuses_the_building_block_channel_gains_nothing(tmp_path):
    """A buggy rnn_backward that asks the grader's channel for the right answer, and a CaptioningRNN.loss
    that floods the channel, sends it a huge array and replays a cache handle kept from an earlier check:
    rnn_backward still loses its points, nothing else does (the model is judged with a correct
    rnn_backward, as one bug, one deduction wants), and nothing breaks."""
    sub = tmp_path / "abuse"
    shutil.copytree(REFERENCE, sub, ignore=shutil.ignore_patterns("__pycache__"))
    layers = sub / "deeplearning" / "rnn_layers.py"
    src = layers.read_text()
    bug = "        dWh += dWh_t\n        db += db_t\n    dh0 = carry\n"
    assert src.count(bug) == 1
    layers.write_text(src.replace(bug, "        dWh = dWh_t\n        db += db_t\n    dh0 = carry\n") + '''

_buggy_rnn_backward = rnn_backward


def rnn_backward(dh, cache):
    try:
        from grader.inworker import channel
        return tuple(channel.call("rnn_backward", dh, cache))
    except Exception:
        return _buggy_rnn_backward(dh, cache)
''')
    model = sub / "deeplearning" / "classifiers" / "rnn.py"
    model.write_text(model.read_text() + '''

_KEPT = []
_honest_loss = CaptioningRNN.loss


def _abusive_loss(self, features, captions):
    if len(_KEPT) > 2:  # once per worker is enough to show each attack; the rest of the time, honest
        return _honest_loss(self, features, captions)
    _KEPT.append(None)
    try:
        from grader.inworker import channel
        from grader.sandbox.protocol import Handle
        for args in ((np.zeros(5_000_000),), (Handle(1),), tuple(k for k in _KEPT[3:4] if k)):
            try:
                _KEPT.append(channel.call("rnn_forward", *args))
            except Exception:
                pass
        for _ in range(60_000):
            try:
                channel.call("word_embedding_forward", np.zeros((1, 1), dtype=np.int64), np.zeros((1, 1)))
            except Exception:
                break
    except Exception:
        pass
    return _honest_loss(self, features, captions)


CaptioningRNN.loss = _abusive_loss
''')
    t0 = time.time()
    g = grade(sub, questions="Q1", timeout=600)
    assert time.time() - t0 < 300
    lost = g.lost()
    assert "Q1.4 rnn_backward" in lost, "the channel answered the student's own rnn_backward"
    assert set(lost) <= {"Q1.4 rnn_backward", "Q1.4h rnn_backward (hidden cases)"}, sorted(lost)
    assert "INTERNAL" not in g.proc.stderr


# ------------------------------------------------------------------ 9. a normal user's run (a TA's laptop, a pre-check)
@pytest.fixture(scope="module")
def user_python(tmp_path_factory):
    """A Python the unprivileged user ``nobody`` can run, with this venv's packages: a venv of the system
    python3 (this venv's base lives in root's home, which nobody cannot read)."""
    import sys
    if os.getuid() != 0:
        pytest.skip("needs root to run the grader as another user")
    sys_py = shutil.which("python3", path="/usr/bin:/bin:/usr/local/bin")
    want = f"{sys.version_info[0]}.{sys.version_info[1]}"
    if not sys_py or subprocess.run([sys_py, "-c", "import sys; print('%d.%d' % sys.version_info[:2])"],
                                    capture_output=True, text=True).stdout.strip() != want:
        pytest.skip(f"no system python{want} to make a venv the user nobody can read")
    base = Path(tempfile.mkdtemp(prefix="ag-userpy-", dir="/tmp"))
    os.chmod(base, 0o755)
    subprocess.run([sys_py, "-m", "venv", "--without-pip", str(base / "venv")], check=True)
    site = next(Path(sys.prefix).glob("lib/python3*/site-packages"))
    sp = next((base / "venv" / "lib").glob("python3*/site-packages"))
    (sp / "grader_venv_packages.pth").write_text(f"{site}\n")
    for p in [base, *base.rglob("*")]:
        if not p.is_symlink():
            p.chmod(p.stat().st_mode | 0o055)
    py = base / "venv" / "bin" / "python"
    if subprocess.run(["runuser", "-u", "nobody", "--", str(py), "-c", "import numpy, torch, h5py, yaml, pytest"],
                      capture_output=True).returncode != 0:
        pytest.skip("the user nobody cannot import this venv's packages")
    yield py
    shutil.rmtree(base, ignore_errors=True)


@needs_landlock
def test_a_normal_users_run_is_confined_too(tmp_path, user_python):
    """As an unprivileged user (no user switch possible), Landlock alone keeps the submission from the
    fixtures and the reference, and the run's sweep from leaving its daemon behind."""
    body = f"""
import os, time
for p in {[str(FIXTURES / "hidden.h5"), str(REFERENCE / "deeplearning" / "rnn_layers.py")]!r}:
    try:
        open(p, "rb").read(1)
        print("READ", p)
    except OSError:
        print("denied", p)
""" + DAEMON
    out = Path(tempfile.mkdtemp(prefix="ag-userrun-", dir="/tmp"))  # tmp_path is private to root
    sub = hostile(out, _wrap_step_forward(body))
    for p in [out, *out.rglob("*")]:
        p.chmod(p.stat().st_mode | 0o077 if p.is_dir() else p.stat().st_mode | 0o044)
    try:
        proc = subprocess.run(["runuser", "-u", "nobody", "--", str(user_python), "-m", "grader", "grade", str(sub),
                               "--questions", "Q1", "--results", str(out / "r.json"), "--quiet"],
                              cwd=ROOT, capture_output=True, text=True, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        res = json.loads((out / "r.json").read_text())
    finally:
        shutil.rmtree(out, ignore_errors=True)
    text = next(t["output"] for t in res["tests"] if t["name"] == "Q1.1 rnn_step_forward")
    assert "READ" not in text and text.count("denied") >= 2, text
    _assert_daemon_gone(text)
    assert "NOT ISOLATED" not in res["output"]


# ------------------------------------------------------------------ 9. two submissions side by side
@needs_landlock
def test_a_hostile_submission_cannot_touch_the_one_graded_next_to_it(tmp_path):
    """A batch grades a hostile submission and a correct one at the same time (-j 2): the hostile one
    signals every process it can see, tries to read the checkout's reference through the paths other
    processes show in /proc, and writes into every grading folder it finds; the correct one keeps full
    marks."""
    body = f"""
import os, signal, glob, sys
me = os.getpid()
for entry in os.listdir("/proc"):
    if entry.isdigit() and int(entry) != me:
        try:
            os.kill(int(entry), signal.SIGKILL)
        except OSError:
            pass
try:
    sys.path.insert(0, {str(REFERENCE)!r})
    open({str(REFERENCE / "deeplearning" / "rnn_layers.py")!r}).read()
    print("READ the reference")
except OSError:
    pass
for d in glob.glob("/tmp/ag-*/*") + glob.glob("/tmp/ag-*"):
    try:
        open(os.path.join(d, "planted.py"), "w").write("raise SystemExit")
        print("WROTE", d)
    except OSError:
        pass
"""
    export = tmp_path / "export"
    export.mkdir()
    hostile(export, _wrap_step_forward(body), name="submission_1")
    shutil.copytree(REFERENCE, export / "submission_2", ignore=shutil.ignore_patterns("__pycache__"))
    (export / "submission_metadata.yml").write_text(
        "".join(f"submission_{i}:\n  :submitters:\n  - :name: Student {i}\n    :email: s{i}@x.edu\n    :sid: '{i}'\n"
                for i in (1, 2)))
    # Q1 (where the hostile code runs, in rnn_step_forward) and Q4 (so both runs hold a torch zygote while it
    # does): the whole cs182_hw2 doubled this test's time and added no process the attack does not meet
    import yaml
    rub = rubric_subset(("Q1", "Q4"))
    rubric = tmp_path / "q1_q4.yaml"
    rubric.write_text(yaml.safe_dump(rub, sort_keys=False))
    out = tmp_path / "out"
    proc = subprocess.run([sys.executable, "-m", "grader", "batch", str(export), "--out", str(out), "--rubric",
                           str(rubric), "-j", "2"], cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    good = json.loads((out / "results" / "2" / "results.json").read_text())
    assert good["score"] == rub["total"] == 50, [(t["name"], t["output"][:200]) for t in good["tests"]
                                                 if t["score"] < t["max_score"]]
    bad = json.loads((out / "results" / "1" / "results.json").read_text())
    text = "\n".join(t["output"] for t in bad["tests"])
    assert "READ" not in text and "WROTE" not in text, text[:3000]
