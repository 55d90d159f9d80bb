"""Staff commands refuse what is not what they expect: at once, exit 2, saying what was expected and how
to get it, and without grading or writing anything (no results, no ``batch_out/`` in the current folder,
no output folder next to the export).  Scores shown to people have at most 2 decimals; scores.csv keeps
them exact.
"""
from __future__ import annotations

import os
import re
import zipfile
from pathlib import Path

import pytest

from conftest import REFERENCE, ROOT, run_cli
from grader.engine import rubric as rubric_mod
from grader.tools.batch import Outcome, default_out
from grader.tools.batch.scores import summary_text

GRADESCOPE_HINT = "Assignment → Review Grades → Export Submissions"


def refused(r, *needles):
    """The command exited 2 with every needle in its message (and no traceback)."""
    assert r.returncode == 2, f"exit {r.returncode}\n{r.stdout}\n{r.stderr}"
    assert "Traceback" not in r.stderr, r.stderr
    for n in needles:
        assert n in r.stderr, f"{n!r} not in:\n{r.stderr}"


def nothing_in(folder: Path) -> None:
    assert not os.path.lexists(folder) or not any(folder.iterdir()), sorted(os.listdir(folder))


@pytest.fixture
def not_an_export(tmp_path):
    """A folder of folders (what /tmp looks like): no submission_metadata.yml.  Each holds only a cut-short
    zip, so a batch that grades them marks them unreadable without starting a grading."""
    root = tmp_path / "downloads"
    for sub in ("submission_1", "photos"):
        (root / sub).mkdir(parents=True)
        (root / sub / "upload.zip").write_bytes(b"PK\x03\x04 cut short")
    return root


@pytest.fixture
def export(tmp_path):
    """A minimal Gradescope export: metadata and one unreadable upload (graded 'unreadable' in no time)."""
    root = tmp_path / "assignment_1_export"
    (root / "submission_7").mkdir(parents=True)
    (root / "submission_7" / "upload.zip").write_bytes(b"PK\x03\x04 cut short")
    (root / "submission_metadata.yml").write_text("submission_7:\n  :submitters:\n  - :name: Ann\n")
    return root


def test_batch_refuses_a_folder_that_is_not_an_export(tmp_path, not_an_export):
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    r = run_cli("batch", not_an_export, cwd=cwd, env={"PYTHONPATH": str(ROOT)})
    refused(r, f"not a Gradescope export: no submission_metadata.yml in {not_an_export}",
            f"download it from {GRADESCOPE_HINT}", "or pass --no-metadata to grade every sub-folder")
    nothing_in(cwd)                                   # no batch_out/ in the current folder
    assert not default_out(not_an_export).exists()    # nor next to the export
    assert sorted(p.name for p in not_an_export.iterdir()) == ["photos", "submission_1"]


def test_batch_no_metadata_grades_every_subfolder_next_to_the_export(not_an_export):
    r = run_cli("batch", not_an_export, "--no-metadata")
    assert r.returncode == 0, r.stdout + r.stderr
    out = default_out(not_an_export)
    assert out == not_an_export.parent / "downloads_regrade" and (out / "batch.json").is_file()
    scores = (out / "scores.csv").read_text().splitlines()
    assert [ln.split(",")[0] for ln in scores[1:]] == ["1", "photos"]     # every sub-folder, without names
    assert all(ln.endswith(",unreadable") for ln in scores[1:])


def test_batch_refuses_zips_that_are_not_exports(tmp_path):
    junk = tmp_path / "export.zip"
    junk.write_bytes(b"PK\x03\x04 not really a zip")
    refused(run_cli("batch", junk), f"{junk} is not a zip file", "Export Submissions")
    plain = tmp_path / "plain.zip"
    with zipfile.ZipFile(plain, "w") as zf:
        zf.writestr("submission_1/rnn_layers.py", "x = 1\n")
    refused(run_cli("batch", plain), f"not a Gradescope export: no submission_metadata.yml in {plain}", GRADESCOPE_HINT)
    bad_meta = tmp_path / "bad.zip"
    with zipfile.ZipFile(bad_meta, "w") as zf:
        zf.writestr("export/submission_metadata.yml", "submission_1: [unclosed\n")
    refused(run_cli("batch", bad_meta), "is not valid submission metadata", GRADESCOPE_HINT)
    notes = tmp_path / "notes.txt"
    notes.write_text("hello\n")
    refused(run_cli("batch", notes), "is neither a folder nor a zip file")
    refused(run_cli("batch", tmp_path / "missing"), "does not exist", "Export Submissions")
    for z in ("export", "plain", "bad", "notes.txt", "missing"):
        assert not (tmp_path / f"{z.removesuffix('.txt')}_regrade").exists()


def test_batch_refuses_a_wrong_out_diff_or_resume(tmp_path, export):
    not_csv = tmp_path / "notes.md"
    not_csv.write_text("# my notes\n")
    refused(run_cli("batch", export, "--diff", not_csv, "--out", tmp_path / "o1"),
            f"--diff {not_csv}: not a scores.csv", "written by an earlier `python -m grader batch`")
    binary = tmp_path / "scores.csv"
    binary.write_bytes(b"\xff\xfe\x00garbage\x00")
    refused(run_cli("batch", export, "--diff", binary, "--out", tmp_path / "o1"), "not a scores.csv")
    refused(run_cli("batch", export, "--diff", tmp_path / "nope.csv", "--out", tmp_path / "o1"), "no such file")
    assert not (tmp_path / "o1").exists()

    empty = tmp_path / "empty"
    empty.mkdir()
    refused(run_cli("batch", export, "--out", empty, "--resume"),
            f"--resume: {empty} is not the folder of a previous batch")
    refused(run_cli("batch", export, "--out", tmp_path / "never", "--resume"), "is not the folder of a previous batch")
    busy = tmp_path / "home"
    busy.mkdir()
    (busy / "thesis.tex").write_text("\\begin{document}\n")
    refused(run_cli("batch", export, "--out", busy), f"--out {busy} already holds other files")
    refused(run_cli("batch", export, "--out", busy, "--resume"), "is not the folder of a previous batch")
    refused(run_cli("batch", export, "--out", export / "results"), "is inside the export")
    refused(run_cli("batch", export, "--out", not_csv), "is a file, not a folder")
    nothing_in(empty)
    assert sorted(os.listdir(busy)) == ["thesis.tex"] and not (export / "results").exists()
    assert not default_out(export).exists()

    # a real batch folder is accepted by --resume (nothing left to grade: exit 0)
    out = tmp_path / "out"
    r = run_cli("batch", export, "--out", out)
    assert r.returncode == 0, r.stderr
    r = run_cli("batch", export, "--out", out, "--resume", "--diff", out / "scores.csv")
    assert r.returncode == 0 and "0 graded, 1 skipped" in r.stderr, r.stderr


def test_wrong_options_are_refused(tmp_path, export):
    as_list = tmp_path / "list.yaml"
    as_list.write_text("- a\n- b\n")
    no_questions = tmp_path / "rubric.yaml"
    no_questions.write_text("name: mine\ntotal: 10\n")
    for cmd in (["grade", REFERENCE], ["batch", export, "--out", tmp_path / "o"]):
        refused(run_cli(*cmd, "--rubric", "cs999"), "no rubric named 'cs999'", "use one of cs182_hw2")
        refused(run_cli(*cmd, "--rubric", as_list), "not a rubric", "a rubric is a YAML mapping")
        refused(run_cli(*cmd, "--rubric", no_questions), "not a rubric", "questions")
        refused(run_cli(*cmd, "-j", "0"), "-j/--jobs: expected at least 1 process, not 0")
        refused(run_cli(*cmd, "-j", "two"), "expected a whole number of processes")
    refused(run_cli("mutants", "-j", "0"), "expected at least 1 process")
    results = tmp_path / "results.json"
    refused(run_cli("grade", REFERENCE, "--questions", "Q9", "--results", results),
            "unknown question(s) Q9", "this rubric has Q1, Q2, Q3, Q4")
    refused(run_cli("grade", REFERENCE, "--questions", ",", "--results", results), "expected question ids")
    # the flag repeated means every question given, not the last one only
    refused(run_cli("grade", REFERENCE, "--questions", "Q9", "--questions", "Q1", "--results", results),
            "unknown question(s) Q9")
    refused(run_cli("check", REFERENCE, "--questions", "Q1;Q2"), "expected question ids separated by commas")
    refused(run_cli("grade", "/nonexistent", "--results", results), "/nonexistent does not exist")
    assert not results.exists()          # a refused command writes no results.json
    refused(run_cli("batch", export, "-j", "2", "--scheduler", "tcp://127.0.0.1:8786", "--out", tmp_path / "o"),
            "-j is for grading on this machine")
    refused(run_cli("batch", export, "--timeout", "0", "--out", tmp_path / "o"), "must be a positive number")
    assert not (tmp_path / "o").exists()


def test_summary_shows_at_most_two_decimals():
    rub = rubric_mod.load("cs182_hw2").select(["Q1"])
    tests = [e.name for e in rub.entries()]
    rows = []
    for sid, frac in (("1", 1 / 3), ("2", 2 / 3)):
        row = {"submission_id": sid, "names": "", "status": "ok"}
        row.update({t: f"{round(e.points * frac, 4):g}" for t, e in zip(tests, rub.entries())})
        row["Q1"] = f"{round(30 * frac, 4):g}"
        row["total"] = row["Q1"]
        rows.append(row)
    text = summary_text(rub, rows, {"1": Outcome("1", "ok")}, {"export": "x", "rubric_sha256": "0" * 64,
                                                                "fixtures_sha256": "", "wall_s": 1.0, "where": "-j 1",
                                                                "graded": 2, "skipped": 0})
    assert "total (of 30): mean 15.00  median 15  min 10  max 20" in text
    assert "Most failed tests" in text and re.search(r"mean \d+(\.\d\d?)?/\d+", text)
    assert re.findall(r"\d\.\d{3,}", text) == []     # nothing like 1.6667 or 3.3333
