"""``python -m grader batch EXPORT --scheduler ADDRESS`` (grader/tools/batch/cluster.py): the same regrade on
Dask ``distributed`` workers.

A local cluster of worker processes (``LocalCluster(n_workers=2, processes=True, threads_per_worker=1)``,
on the loopback interface only) grades a small export (the reference, the template, two classic bugs, one
uploaded as a zip) with a rubric file that exists only on the client; scores.csv must be byte for byte
the one the local process pool (``-j 2``) writes, and each submission's results must be the same tests
with the same scores and feedback.  A worker whose grader differs from the batch's refuses to grade.
"""
from __future__ import annotations

import json
import time

from conftest import ROOT
from test_batch import SMALL_TOTAL, batch, build_export, read_scores, small_rubric
from grader.tools.batch import cluster

IDS = ["100000001", "100000006", "100000008"]   # reference, template, no carry of dprev_h


def _results(out, sid):
    res = json.loads((out / "results" / sid / "results.json").read_text())
    return res["score"], [(t["name"], t["score"], t["status"], t["output"]) for t in res["tests"]]


def test_dask_workers_give_the_pools_scores(tmp_path, monkeypatch):
    from distributed import LocalCluster
    pids = tmp_path / "pids"
    pids.mkdir()
    export = build_export(tmp_path / "export", IDS, pids)
    # the rubric's own per-call limits (generous): the two runs must not differ by a time limit under load
    rubric = small_rubric(tmp_path / "rubric.yaml")

    t0 = time.monotonic()
    r = batch(export, "-j", 2, "--out", tmp_path / "pool", "--rubric", rubric)
    pool_s = time.monotonic() - t0
    assert r.returncode == 0, r.stdout + r.stderr

    monkeypatch.setenv("PYTHONPATH", str(ROOT))   # the workers import the grader from this checkout
    with LocalCluster(n_workers=2, processes=True, threads_per_worker=1, host="127.0.0.1",
                      dashboard_address=None) as lc:
        t0 = time.monotonic()
        r = batch(export, "--scheduler", lc.scheduler_address, "--out", tmp_path / "dask", "--rubric", rubric)
        dask_s = time.monotonic() - t0
    print(f"\n{len(IDS)} submissions: process pool -j 2 {pool_s:.1f} s, Dask (2 workers) {dask_s:.1f} s")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "Dask scheduler tcp://127.0.0.1" in r.stdout   # the summary says where it was graded

    pool_csv = (tmp_path / "pool" / "scores.csv").read_text()
    assert (tmp_path / "dask" / "scores.csv").read_text() == pool_csv
    rows = read_scores(tmp_path / "dask" / "scores.csv")
    assert float(rows["100000001"]["total"]) == SMALL_TOTAL and float(rows["100000006"]["total"]) == 0
    assert 0 < float(rows["100000008"]["total"]) < SMALL_TOTAL
    assert {row["status"] for row in rows.values()} == {"ok"}
    for sid in IDS:
        assert _results(tmp_path / "dask", sid) == _results(tmp_path / "pool", sid), sid
        log = (tmp_path / "dask" / "results" / sid / "grade.log").read_text()
        assert "graded on the Dask worker" in log
        stamp = json.loads((tmp_path / "dask" / "results" / sid / "stamp.json").read_text())
        assert stamp["status"] == "ok" and stamp["rubric"] == "batch_test"


def test_worker_with_other_grader_refuses(tmp_path):
    """A task whose batch ran another grader is not graded by this worker (it says which part differs)."""
    fp = dict(cluster.fingerprint(), code_sha256="0" * 64)
    reply = cluster.grade_remote({"id": "1", "folder": "submission_1", "files": b"", "rubric_file": "r.yaml",
                                  "rubric_text": "", "timeout": 10, "fingerprint": fp, "stop_event": None})
    assert "other grader code" in reply["refused"] and "code_sha256" in reply["refused"]
    assert "results" not in reply


def test_unreachable_scheduler_is_refused(tmp_path):
    export = build_export(tmp_path / "export", IDS[:1], tmp_path)
    t0 = time.monotonic()
    r = batch(export, "--scheduler", "tcp://127.0.0.1:9", "--out", tmp_path / "out", timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "no Dask scheduler answers there" in r.stderr and "dask scheduler" in r.stderr
    assert not (tmp_path / "out").exists()   # nothing written
    assert time.monotonic() - t0 < 60
