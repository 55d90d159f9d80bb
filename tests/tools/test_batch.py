"""``python -m grader batch`` (grader/tools/batch/): regrading a generated Gradescope export.

The export holds 15 submissions: the reference in several layouts (nested
assignment2/deeplearning/, flat files, an uploaded zip, CS231n's cs231n/
package, a group submission, a folder missing from the metadata), the
template, classic bugs (patched reference files), and broken uploads (a syntax
error, only a README, a corrupt zip, an rnn_backward that never returns, a
metadata entry without a folder).  A small rubric with only Q1 and short
per-call time limits keeps the batch fast and free of torch.

One batch run (-j 2) is checked in depth; then --resume (nothing regraded),
then a regrade of a few submissions with a rubric in which one test is worth
more points, whose --diff must name exactly the submissions and tests whose
scores changed; and, separately, a per-submission time limit that kills
one grading run while the other submission is graded.
"""
from __future__ import annotations

import csv
import io
import json
import os
import shutil
import subprocess
import time
import zipfile
from pathlib import Path

import pytest
import yaml

from conftest import PYTHON, REFERENCE, ROOT, TEMPLATE, rubric_subset
from grader.tools import batch as b
from grader.tools.batch.export import BatchError

REF = REFERENCE / "deeplearning"
TPL = TEMPLATE / "deeplearning"

# Classic bugs as exact find/replace patches of reference/deeplearning/rnn_layers.py.
CARRY = "dx_t, carry, dWx_t, dWh_t, db_t = rnn_step_backward(dh[:, t, :] + carry, cache[t])"
PATCHES = {
    "no_carry": (CARRY, CARRY.replace("dh[:, t, :] + carry", "dh[:, t, :]")),
    "embed_assign": ("np.add.at(dW, x, dout)", "dW[x] += dout"),
    "syntax": ("def rnn_step_forward(x, prev_h, Wx, Wh, b):", "def rnn_step_forward(x, prev_h, Wx, Wh, b)"),
    "loop": ("    for t in reversed(range(T)):\n        " + CARRY,
             "    try:  # leaves its pid where the test can check that it was stopped\n"
             "        import os\n"
             "        open(os.path.join({pids!r}, str(os.getpid())), 'w').close()\n"
             "    except Exception:\n"
             "        pass\n"
             "    while True:\n"
             "        pass\n"
             "    for t in reversed(range(T)):\n        " + CARRY),
}

# id -> (submitters, source, patches, layout); layout "missing" = in the metadata, no folder
SUBS = {
    "100000001": (["Ada Lovelace"], "ref", [], "nested"),
    "100000002": (["Alan Turing"], "ref", [], "flat"),
    "100000003": (["Grace Hopper"], "ref", [], "zip"),
    "100000004": (["Edsger Dijkstra"], "ref", [], "cs231n"),
    "100000005": (["Pair One", "Pair Two"], "ref", [], "flat"),
    "100000006": (["Tom Template"], "template", [], "nested"),
    "100000008": (["Nora Carry"], "ref", ["no_carry"], "nested"),
    "100000010": (["Emma Embed"], "ref", ["embed_assign"], "flat"),
    "100000014": (["Two Bugs"], "ref", ["no_carry", "embed_assign"], "flat"),
    "100000015": (["Sam Syntax"], "ref", ["syntax"], "nested"),
    "100000016": (["Rita Readme"], "readme", [], "flat"),
    "100000017": (["Cora Corrupt"], "corrupt", [], "flat"),
    "100000018": (["Lou Loop"], "ref", ["loop"], "nested"),
    "100000020": (None, "ref", [], "flat"),          # a folder that is not in the metadata
    "100000021": (["Mia Missing"], "ref", [], "missing"),
}
REFS = ["100000001", "100000002", "100000003", "100000004", "100000005", "100000020"]


def package_files(source: str, patches: list[str], pids: str) -> dict[str, str]:
    """deeplearning/ package files (relative path -> text), patched."""
    pkg = REF if source == "ref" else TPL
    files = {p.relative_to(pkg).as_posix(): p.read_text() for p in sorted(pkg.rglob("*.py"))}
    for name in patches:
        find, replace = PATCHES[name]
        assert files["rnn_layers.py"].count(find) == 1, name
        files["rnn_layers.py"] = files["rnn_layers.py"].replace(find, replace.replace("{pids!r}", repr(pids)))
    return files


def write_submission(folder: Path, source: str, patches: list[str], layout: str, pids: str) -> None:
    folder.mkdir(parents=True)
    if source == "readme":
        (folder / "README.md").write_text("I could not finish, sorry.\n")
        return
    if source == "corrupt":
        (folder / "assignment2.zip").write_bytes(b"PK\x03\x04 this upload was cut short")
        return
    files = package_files(source, patches, pids)
    if layout == "flat":  # the student uploaded the two files
        for rel in ("rnn_layers.py", "classifiers/rnn.py"):
            (folder / Path(rel).name).write_text(files[rel])
        return
    if layout == "cs231n":  # CS231n's package name and imports
        for rel, text in files.items():
            dest = folder / "cs231n" / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(text.replace("deeplearning.", "cs231n."))
        return
    if layout == "nested":
        for rel, text in files.items():
            dest = folder / "assignment2" / "deeplearning" / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_text(text)
        return
    assert layout == "zip"  # the zip made by collectSubmission.sh, uploaded as is
    with zipfile.ZipFile(folder / "assignment2.zip", "w") as zf:
        for rel, text in files.items():
            zf.writestr(f"assignment2/deeplearning/{rel}", text)


def metadata_yaml(ids) -> str:
    """submission_metadata.yml as Gradescope writes it (Ruby symbol keys)."""
    out = []
    for sid in ids:
        who, _, _, _ = SUBS[sid]
        if who is None:
            continue
        out.append(f"submission_{sid}:\n  :submitters:")
        for k, name in enumerate(who):
            login = name.lower().replace(" ", ".")
            out.append(f"  - :name: {name}\n    :sid: '30{sid[-4:]}{k}'\n    :email: {login}@berkeley.edu")
        out.append(f"  :created_at: 2019-10-01 12:00:{int(sid[-2:]):02d}.000000000 -07:00\n"
                   f"  :score: 0.0\n  :status: processed")
    return "\n".join(out) + "\n"


def build_export(dest: Path, ids, pids: Path) -> Path:
    root = dest / "assignment_1234_export"
    root.mkdir(parents=True)
    (root / "submission_metadata.yml").write_text(metadata_yaml(ids))
    for sid in ids:
        _, source, patches, layout = SUBS[sid]
        if layout != "missing":
            write_submission(root / f"submission_{sid}", source, patches, layout, str(pids))
    return root


def zip_folder(folder: Path, dest: Path) -> Path:
    with zipfile.ZipFile(dest, "w") as zf:
        for p in sorted(folder.rglob("*")):
            zf.write(p, p.relative_to(folder.parent).as_posix())
    return dest


# Q1's layer functions (1.1-1.6): the batch's mechanics are under test here, not the captioning model, whose
# gradient check and training took half of each grade
LAYER_TESTS = ("1.1", "1.2", "1.3", "1.4", "1.5", "1.6")
SMALL_TOTAL = rubric_subset(("Q1",), lambda t: t["number"] in LAYER_TESTS)["total"]


def small_rubric(path: Path, *, call_timeout=None, repoint=None) -> Path:
    """Q1 of cs182_hw2, its layer functions only (SMALL_TOTAL points); optionally another per-call limit, or
    one test (number, hidden) worth other points (its question and the total follow)."""
    d = rubric_subset(("Q1",), lambda t: t["number"] in LAYER_TESTS)
    d["name"] = "batch_test"
    if call_timeout:
        # the layer calls take milliseconds: a short limit keeps the never-returning rnn_backward cheap
        d["defaults"]["timeout"] = call_timeout
    if repoint:
        number, hidden, points = repoint
        ((q, t),) = [(q, t) for q in d["questions"] for t in q["tests"]
                     if t["number"] == number and bool(t.get("hidden")) == hidden]
        q["points"] += points - t["points"]
        d["total"] += points - t["points"]
        t["points"] = points
    path.write_text(yaml.safe_dump(d, sort_keys=False))
    return path


def batch(*args, env=None, timeout=900) -> subprocess.CompletedProcess:
    e = dict(os.environ, PYTHONPATH=str(ROOT), **(env or {}))
    return subprocess.run([PYTHON, "-m", "grader", "batch", *map(str, args)], cwd=ROOT, env=e, capture_output=True,
                          text=True, timeout=timeout)


def read_scores(path: Path) -> dict[str, dict]:
    with open(path, newline="") as f:
        return {r["submission_id"]: r for r in csv.DictReader(f)}


def scores_of(sid, out) -> dict[str, float]:
    res = json.loads((out / "results" / sid / "results.json").read_text())
    return {t["name"]: t["score"] for t in res["tests"]}


def test_batch_regrade_resume_and_diff(tmp_path):
    pids = tmp_path / "pids"
    pids.mkdir()
    ids = sorted(SUBS)
    export = build_export(tmp_path / "export", ids, pids)
    export_zip = zip_folder(export, tmp_path / "export.zip")
    rubric = small_rubric(tmp_path / "rubric.yaml", call_timeout=2)
    out = tmp_path / "out1"

    # ---- the whole export, from its zip, two at a time
    t0 = time.monotonic()
    r = batch(export_zip, "-j", 2, "--out", out, "--rubric", rubric)
    wall = time.monotonic() - t0
    print(f"\nbatch of {len(ids)} at -j 2: {wall:.1f} s ({wall / len(ids):.2f} s per submission)")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "[####" not in r.stderr  # not a TTY: no bar, only the final line
    assert f"batch: {len(ids)} submissions" in r.stderr.strip().splitlines()[-1]

    rows = read_scores(out / "scores.csv")
    assert sorted(rows) == ids
    with open(out / "scores.csv", newline="") as f:
        header = next(csv.reader(f))
    assert header[:5] == ["submission_id", "names", "emails", "sids", "Q1"]
    assert header[-2:] == ["total", "status"]
    assert "Q1.4 rnn_backward" in header and "Q1.4h rnn_backward (hidden cases)" in header
    status = {sid: row["status"] for sid, row in rows.items()}
    assert status["100000017"] == status["100000021"] == "unreadable", status
    assert all(status[s] == "ok" for s in ids if s not in ("100000017", "100000021")), status
    total = {sid: float(row["total"]) for sid, row in rows.items()}

    for sid in REFS:
        assert total[sid] == SMALL_TOTAL, (sid, rows[sid])
    for sid in ("100000006", "100000015", "100000016", "100000017", "100000021"):
        assert total[sid] == 0, (sid, rows[sid])      # template, syntax error, README only, unreadable
    assert rows["100000005"]["names"] == "Pair One; Pair Two"
    assert rows["100000005"]["emails"] == "pair.one@berkeley.edu; pair.two@berkeley.edu"
    assert rows["100000005"]["sids"] == "3000050; 3000051"
    assert rows["100000020"]["names"] == "" and rows["100000001"]["names"] == "Ada Lovelace"

    def lost(sid):  # tests that lost points
        return {k for k, v in scores_of(sid, out).items() if v < max_points[k]}

    res_ref = json.loads((out / "results" / "100000001" / "results.json").read_text())
    max_points = {t["name"]: t["max_score"] for t in res_ref["tests"]}
    for sid in ("100000008",):   # no carry of dprev_h: rnn_backward only (and what uses it)
        assert "Q1.4 rnn_backward" in lost(sid)
        assert not any(t.startswith(("Q1.1", "Q1.2", "Q1.3", "Q1.5", "Q1.6")) for t in lost(sid))
    for sid in ("100000010",):   # dW[x] += dout
        assert "Q1.6 word_embedding_backward" in lost(sid)
        assert not any(t.startswith(("Q1.1", "Q1.2", "Q1.3", "Q1.4"))
                       for t in lost(sid))
    assert {"Q1.4 rnn_backward", "Q1.6 word_embedding_backward"} <= lost("100000014")
    loop = json.loads((out / "results" / "100000018" / "results.json").read_text())   # engine's call limits
    assert float(rows["100000018"]["Q1.4 rnn_backward"]) == 0 and float(rows["100000018"]["Q1.1 rnn_step_forward"]) > 0
    assert "did not return within" in next(t["output"] for t in loop["tests"] if t["name"] == "Q1.4 rnn_backward")
    corrupt = json.loads((out / "results" / "100000017" / "results.json").read_text())
    assert "could not be read" in corrupt["output"] and corrupt["score"] == 0

    for sid in ids:
        stamp = json.loads((out / "results" / sid / "stamp.json").read_text())
        assert stamp["status"] == status[sid] and stamp["rubric"] == "batch_test"
        assert len(stamp["rubric_sha256"]) == 64 and "grader_version" in stamp and "fixtures_sha256" in stamp

    summary = (out / "summary.txt").read_text()
    assert f"total (of {SMALL_TOTAL:g}): mean" in summary and f"Q1 (of {SMALL_TOTAL:g}): mean" in summary
    assert "Most failed tests" in summary and "Q1.4 rnn_backward" in summary
    assert "100000017" in summary.split("need a look")[1]

    # ---- --resume: same grader, rubric and fixtures: nothing is graded again
    before = {sid: (out / "results" / sid / "results.json").stat().st_mtime_ns for sid in ids}
    csv_before = (out / "scores.csv").read_text()
    t0 = time.monotonic()
    r = batch(export, "-j", 2, "--out", out, "--rubric", rubric, "--resume")
    assert r.returncode == 0, r.stdout + r.stderr
    assert time.monotonic() - t0 < 20
    assert f"0 graded, {len(ids)} skipped" in r.stderr
    assert {sid: (out / "results" / sid / "results.json").stat().st_mtime_ns for sid in ids} == before
    assert (out / "scores.csv").read_text() == csv_before

    # ---- a TA reweights a test: Q1.4's hidden cases are worth 3 points instead of 2 (Q1 and the total one more).
    # Regrade a few submissions (one of them new) and diff against the first scores.csv.
    ids2 = ["100000001", "100000006", "100000008", "100000014"]
    export2 = build_export(tmp_path / "export2", ids2, pids)
    shutil.copytree(export / "submission_100000002", export2 / "submission_100000099")   # a new submission
    rubric2 = small_rubric(tmp_path / "rubric2.yaml", call_timeout=2, repoint=("1.4", True, 3))
    out2 = tmp_path / "out2"
    r = batch(export2, "-j", 2, "--out", out2, "--rubric", rubric2, "--diff", out / "scores.csv")
    assert r.returncode == 0, r.stdout + r.stderr
    t = "Q1.4h rnn_backward (hidden cases)"
    expected = {}
    for sid in ids2:
        old, new = scores_of(sid, out), scores_of(sid, out2)
        changed = {name for name in old if abs(old[name] - new[name]) > 1e-9}
        if changed:
            expected[sid] = changed
    # only Q1.4h changes, and only where it scored: the reference (2 -> 3) and the missing carry of
    # dprev_h, which still passes the hidden cases with T=1 (1 -> 1.5); never the template (0).  (On a
    # loaded machine a training check may also hit this test's short per-call limit in one run only.)
    assert {sid for sid, names in expected.items() if t in names} == {"100000001", "100000008", "100000014"}
    for sid, names in expected.items():
        for name in names - {t}:
            outputs = [next(x["output"] for x in json.loads((o / "results" / sid / "results.json").read_text())["tests"]
                            if x["name"] == name) for o in (out, out2)]
            assert any("did not return within" in o for o in outputs), (sid, name, outputs)
    assert (scores_of("100000001", out2)[t], scores_of("100000008", out2)[t]) == (3, 1.5)
    with open(out2 / "diff.csv", newline="") as f:
        diff = list(csv.DictReader(f))
    got = {d["submission_id"]: {x.split(": ")[0] for x in d["tests"].split("; ")}
           for d in diff if d["change"] == "changed"}
    assert got == expected
    assert {d["submission_id"] for d in diff if d["change"] == "new"} == {"100000099"}
    assert {d["submission_id"] for d in diff if d["change"] == "removed"} == set(ids) - set(ids2)
    for d in diff:
        if d["change"] == "changed":
            old, new = scores_of(d["submission_id"], out), scores_of(d["submission_id"], out2)
            assert f"{t}: {old[t]:g} -> {new[t]:g}" in d["tests"].split("; ")
            delta = sum(new[n] - old[n] for n in expected[d["submission_id"]])
            assert float(d["new_total"]) - float(d["old_total"]) == pytest.approx(delta)
    text = (out2 / "diff.txt").read_text()
    assert text in r.stdout
    assert f"{len(expected)} changed, 1 new, {len(set(ids) - set(ids2))} removed" in text


def test_metadata_ruby_keys_and_missing_pieces(tmp_path):
    meta = b.parse_metadata(metadata_yaml(["100000005"]) + "submission_7:\n  :submitters: []\n"
                            "submission_8: !ruby/object:Foo\n  :submitters:\n  - :name: X\n")
    assert meta["submission_100000005"]["submitters"][1] == {
        "name": "Pair Two", "sid": "3000051", "email": "pair.two@berkeley.edu"}
    assert b.submitters(meta["submission_7"]) == ([], [], [])
    assert b.submitters(meta["submission_8"]) == (["X"], [""], [""])
    # no metadata at all: refused, unless --no-metadata says to grade every folder, without names
    (tmp_path / "exp" / "submission_5").mkdir(parents=True)
    (tmp_path / "exp" / "other").mkdir()
    with pytest.raises(BatchError, match="no submission_metadata.yml"):
        b.load_export(tmp_path / "exp")
    root, subs, warnings = b.load_export(tmp_path / "exp", no_metadata=True)
    assert [s.id for s in subs] == ["5", "other"] and subs[0].names == [] and subs[0].path == root / "submission_5"


def test_batch_timeout_costs_only_that_submission(tmp_path):
    """A grading run that outlives the per-submission limit is killed (with its worker); the other is graded."""
    pids = tmp_path / "pids"
    pids.mkdir()
    export = build_export(tmp_path / "export", ["100000002", "100000018"], pids)
    rubric = small_rubric(tmp_path / "rubric.yaml", call_timeout=30)   # rnn_backward's first call outlives 12 s
    out = tmp_path / "out"
    t0 = time.monotonic()
    # 12 s: a correct submission's layer functions take 1.5 s in a warm fork, 2.1 s from a fresh interpreter (about
    # 3x that under a load of 4 on 2 cores, so 12 s leaves 1.9x); the looping one's first rnn_backward
    # call is limited to 30 CPU seconds, so only the per-submission limit can stop it earlier
    r = batch(export, "-j", 2, "--out", out, "--rubric", rubric,
              env={"AUTOGRADER_BATCH_TIMEOUT": "12"})
    assert time.monotonic() - t0 < 150
    assert r.returncode == 1, r.stdout + r.stderr   # the batch finished, one submission did not
    rows = read_scores(out / "scores.csv")
    assert rows["100000002"]["status"] == "ok" and float(rows["100000002"]["total"]) == SMALL_TOTAL
    assert rows["100000018"]["status"] == "timeout" and rows["100000018"]["total"] == ""
    assert not (out / "results" / "100000018" / "results.json").exists()
    assert "killed after 12 s" in (out / "results" / "100000018" / "grade.log").read_text()
    assert "timeout" in (out / "summary.txt").read_text().split("need a look")[1]
    time.sleep(0.5)
    for p in pids.iterdir():   # the student's never-ending call did not outlive its grading run
        try:
            state = Path(f"/proc/{p.name}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        assert state == "Z", f"student process {p.name} still running (state {state})"
    # a timeout is not a grade: --resume tries it again (and skips the graded one)
    r = batch(export, "-j", 2, "--out", out, "--rubric", rubric, "--resume", env={"AUTOGRADER_BATCH_TIMEOUT": "1"})
    assert "1 graded, 1 skipped" in r.stderr and read_scores(out / "scores.csv")["100000018"]["status"] == "timeout"


def test_diff_and_progress_formats():
    old_h = ["submission_id", "names", "emails", "sids", "Q1", "Q1.1 a", "Q1.2 b", "total", "status"]
    old = {"1": {"submission_id": "1", "names": "A", "Q1": "3", "Q1.1 a": "1", "Q1.2 b": "2", "total": "3",
                 "status": "ok"},
           "2": {"submission_id": "2", "names": "B", "Q1": "3", "Q1.1 a": "1", "Q1.2 b": "2", "total": "3",
                 "status": "ok"},
           "3": {"submission_id": "3", "names": "C", "total": "0", "status": "ok"}}
    new = {"1": dict(old["1"], **{"Q1.2 b": "1.5", "Q1": "2.5", "total": "2.5"}),
           "2": dict(old["2"], **{"Q1.1 a": "1.0000"}),
           "4": {"submission_id": "4", "names": "D", "total": "", "status": "timeout"}}
    rows = b.diff_scores(old_h, old, old_h, new)
    assert [(r["submission_id"], r["change"]) for r in rows] == [("1", "changed"), ("3", "removed"), ("4", "new")]
    assert rows[0]["tests"] == "Q1.2 b: 2 -> 1.5" and rows[0]["delta"] == "-0.5"
    text = b.diff_text(rows, "old.csv", 1)
    assert text.startswith("Compared with old.csv: 1 changed, 1 new, 1 removed, 1 unchanged.")
    assert "      Q1.2 b: 2 -> 1.5" in text
    # people see at most 2 decimals; diff.csv keeps the exact scores
    thirds = {"1": dict(old["1"], **{"Q1.2 b": "1.8333", "Q1": "2.8333", "total": "2.8333"})}
    (row,) = b.diff_scores(old_h, {"1": old["1"]}, old_h, thirds)
    assert row["tests"] == "Q1.2 b: 2 -> 1.8333" and row["delta"] == "-0.1667"
    text = b.diff_text([row], "old.csv", 0)
    assert "total 3 -> 2.83 (-0.17)" in text and "      Q1.2 b: 2 -> 1.83" in text and "1.8333" not in text

    buf = io.StringIO()
    p = b.Progress(10, 8, stream=buf, tty=False)
    p.t0 -= 30
    p.update(b.Outcome("7", "ok"))
    p.update(b.Outcome("8", "ok"))
    line = p.line()
    assert "4/10  40%" in line and "elapsed 0:30" in line and "ETA 1:30" in line
    p.finish("done")
    assert buf.getvalue() == "done\n"   # not a TTY: only the final line
    assert b.fmt(2.66666666) == "2.6667" and b.fmt(60.0) == "60" and b.fmt("") == ""
    assert b.shown(2.66666666) == "2.67" and b.shown(0.8333) == "0.83" and b.shown(60.0) == "60"
    assert b.shown(-0.001) == "0" and b.shown("") == ""
