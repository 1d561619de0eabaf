"""Atomic output (issue 12): a run's folder is complete with its manifest, or untouched; a
real SIGTERM of a running `optim plan` never leaves a folder that looks complete."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from optim import planning
from optim.output import MANIFEST, atomic_folder, verify
from optim.planning.distributor import distributor_example
from optim.planning.folder import read_folder, write_folder

SMALL = {"n_items": 40, "n_customers": 20, "weeks": 56}


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_folder(distributor_example(7, **SMALL), tmp_path_factory.mktemp("o") / "in")


@pytest.fixture(scope="module")
def run(folder):
    return planning.run(read_folder(folder))


def test_write_takes_str_and_leaves_a_verified_manifest(run, folder, tmp_path):
    out = tmp_path / "out"
    paths = planning.write(run, str(out))
    assert paths["report"] == out / "report.html" and paths["report"].is_file()
    assert verify(out) == []
    manifest = json.loads((out / MANIFEST).read_text())
    assert manifest["complete"] and manifest["input"]["sha256"] == run.data.source["sha256"]
    assert "alerts.csv" in manifest["files"] and "report.html" in manifest["files"]
    # a second run replaces the folder as a whole: nothing of the first survives
    (out / "stray.csv").write_text("x")
    assert verify(out) == ["stray.csv: not written by the run"]
    planning.write(run, out)
    assert verify(out) == [] and not (out / "stray.csv").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no partial or old folders left


def test_failing_block_leaves_the_target_untouched(tmp_path):
    out = tmp_path / "out"
    with atomic_folder(out, command="test") as tmp:
        (tmp / "a.csv").write_text("1")
    before = (out / MANIFEST).read_bytes()
    with pytest.raises(RuntimeError), atomic_folder(out, command="test") as tmp:
        (tmp / "b.csv").write_text("2")
        raise RuntimeError("boom")
    assert (out / MANIFEST).read_bytes() == before and verify(out) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def _plan(folder: Path, out: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "optim.cli", "plan", str(folder), "--out", str(out), "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONHASHSEED": "0"},
    )


def _kill_while_writing(folder: Path, out: Path) -> tuple[int, str]:
    proc = _plan(folder, out)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and proc.poll() is None:
        if any(p.name.startswith(f".{out.name}.partial-") for p in out.parent.iterdir()):
            time.sleep(0.5)  # let it get well into the run
            break
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err.decode()


def test_sigterm_never_leaves_a_folder_that_looks_complete(folder, tmp_path):
    out = tmp_path / "out"
    code, err = _kill_while_writing(folder, out)
    assert code == 143, err
    assert "no incomplete output is left" in err
    # seen once in a clean-clone CI run (-n 2), not reproduced in 4 runs alone: say what was
    # there, and whether it was a complete run's folder, if it happens again
    listing = sorted(p.name for p in out.iterdir()) if out.is_dir() else None
    assert not out.exists(), (err, listing, verify(out) if out.is_dir() else None)
    assert list(tmp_path.iterdir()) == []  # the partial folder was removed too
    # a complete run, then a second run killed: the first run's folder stays, intact
    done = _plan(folder, out)
    assert done.wait(timeout=300) == 0, done.communicate()
    manifest = (out / MANIFEST).read_bytes()
    code, err = _kill_while_writing(folder, out)
    assert code == 143, err
    assert (out / MANIFEST).read_bytes() == manifest and verify(out) == []
    assert [p.name for p in tmp_path.iterdir()] == ["out"]


def test_foreign_folder_is_refused_before_work(folder, tmp_path, capsys):
    from optim.cli import main

    out = tmp_path / "mine"
    out.mkdir()
    (out / "notes.txt").write_text("my notes")
    assert main(["plan", str(folder), "--out", str(out), "--quiet"]) == 2
    assert "optim did not write" in capsys.readouterr().err
    assert [p.name for p in out.iterdir()] == ["notes.txt"]


def test_solve_tables_and_segment_out_are_atomic_with_a_manifest(folder, tmp_path, capsys):
    """`optim solve --tables DIR` and `optim segment --out DIR` write like the planning run:
    complete with a verified manifest, a rerun replaces the folder as a whole, a folder with
    files optim did not write is refused before any work (exit 2, nothing touched)."""
    from optim.cli import main

    example = Path(__file__).resolve().parents[1] / "instances" / "data" / "weekly_rationing.json"
    tables, seg = tmp_path / "tables", tmp_path / "seg"
    for _ in range(2):
        assert main(["solve", str(example), "--tables", str(tables), "--quiet"]) == 0
        history = str(folder / "history.csv")
        assert main(["segment", history, "--out", str(seg)]) == 0
        for out in (tables, seg):
            assert verify(out) == [] and (out / MANIFEST).is_file()
    manifest = json.loads((seg / MANIFEST).read_text())
    assert manifest["command"] == "optim segment" and manifest["input"]["path"] == history
    import jsonschema

    from optim.result_schema import document_schema

    for out in (tables, seg):
        jsonschema.validate(json.loads((out / MANIFEST).read_text()), document_schema("manifest"))
    assert "segmentation.json" in manifest["files"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["seg", "tables"]
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me")
    capsys.readouterr()
    assert main(["solve", str(example), "--tables", str(foreign), "--quiet"]) == 2
    assert "--tables" in capsys.readouterr().err
    assert main(["segment", history, "--out", str(foreign)]) == 2
    assert [p.name for p in foreign.iterdir()] == ["notes.txt"]


def test_run_notes_that_are_warnings_are_alerts(run):
    from optim.alerts import collect

    alerts = collect(run)
    policy = [n for n in run.notes if n.startswith("policy:")]
    assert policy  # the packaged policy's 1- and 3-day promises round to 0 weeks
    shown = {a.message: a for a in alerts}
    for note in policy:
        assert shown[note].severity == "warning" and shown[note].topic == "policy"
        if "is not a whole number" in note:  # the alert names its segment (who)
            assert shown[note].who and f" of {shown[note].who!r} " in note
    for note in run.data.notes:  # the reader's rules stay info
        assert shown[note].severity == "info"
    # order lines summed into rationing lines are said with both counts (issue 12: "776
    # order lines become 695 without saying so"); this example has such merges
    orders, lines = len(run.data.orders), len(run.rationing.tables["lines"])
    assert orders > lines
    merged = [n for n in run.notes if n.startswith("rationing: the ")]
    assert merged == [
        f"rationing: the {orders:,} order lines of this week are {lines:,} rationing lines — "
        "lines of the same customer, item and location are summed (returns netted, cells at "
        "or below zero dropped)."
    ]
    assert shown[merged[0]].severity == "info"
