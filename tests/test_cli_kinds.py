"""The CLI contract for the safety-stock and capacity kinds."""

from __future__ import annotations

import json
from pathlib import Path

import optim
from optim.cli import main

DATA = Path(optim.__file__).resolve().parents[1] / "instances" / "data"


def test_solve_and_simulate_safety_stock(tmp_path, capsys):
    out = tmp_path / "gsm.json"
    assert main(["solve", str(DATA / "two_echelon_gsm.json"), "--out", str(out), "--quiet"]) == 0
    doc = json.loads(out.read_text())
    assert doc["status"] == "optimal"
    assert {r["stage"] for r in doc["stages"]} == {"plant", "dc", "store_a", "store_b"}
    capsys.readouterr()
    table = tmp_path / "sim.csv"
    assert (
        main(
            ["simulate", str(out), "--replications", "8", "--periods", "500", "--out", str(table)]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "strategic" in printed and "standard" in printed
    again = tmp_path / "sim2.csv"  # replications split over two processes: the same table
    args = ["simulate", str(out), "--replications", "8", "--periods", "500", "--quiet"]
    assert main([*args, "--workers", "2", "--out", str(again)]) == 0
    assert again.read_bytes() == table.read_bytes()
    assert main([*args, "--workers", "0"]) == 2


def test_simulate_rejects_other_documents(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["solve", str(DATA / "weekly_rationing.json"), "--out", str(out), "--quiet"]) == 0
    assert main(["simulate", str(out)]) == 2
    assert "expected a safety_stock result" in capsys.readouterr().err


def test_capacity_solve_and_infeasible_exit_code(tmp_path, capsys):
    assert main(["solve", str(DATA / "peak_capacity.json"), "--quiet"]) == 0
    doc = json.loads((DATA / "peak_capacity.json").read_text())
    doc["segments"][0]["min_fill_rate"] = 1.0
    doc["segments"][1]["min_fill_rate"] = 0.9
    bad = tmp_path / "floors.json"
    bad.write_text(json.dumps(doc))
    assert main(["solve", str(bad), "--quiet"]) == 3
    err = capsys.readouterr().err
    assert "infeasible" in err
    assert "spot" in err  # the diagnosis names the segment whose floor cannot be met


def test_bad_safety_stock_input_exit_2(tmp_path, capsys):
    doc = json.loads((DATA / "two_echelon_gsm.json").read_text())
    doc["arcs"].append({"source": "store_a", "target": "plant"})
    bad = tmp_path / "cycle.json"
    bad.write_text(json.dumps(doc))
    assert main(["validate", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "cycle" in err and "plant" in err


def test_schema_for_every_kind(capsys):
    for kind in ("rationing", "safety_stock", "capacity"):
        assert main(["schema", kind]) == 0
        assert json.loads(capsys.readouterr().out)["properties"]["kind"]


def test_capacity_csv_folder_through_the_cli(tmp_path, capsys, peak_capacity_folder):
    folder = peak_capacity_folder
    out = tmp_path / "r.json"
    assert main(["solve", str(folder), "--out", str(out), "--quiet"]) == 0
    assert json.loads(out.read_text())["objective"] == 55.0  # the hand example, from CSV
