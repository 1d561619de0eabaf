"""`optim batch`: what-if scenarios and many instances, each result the bytes of `optim solve`."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

import optim
from optim import api, batch, cli
from optim.errors import InstanceError

DATA = Path(__file__).resolve().parents[1] / "instances" / "data"


def _doc(name: str) -> dict:
    return json.loads((DATA / f"{name}.json").read_text())


def test_scenarios_change_what_they_say() -> None:
    doc = _doc("weekly_rationing")
    s = batch.Scenario(demand=1.5, capacity_cut=20, disruption=("DC2", 0.5))
    out = batch.apply(doc, s)
    assert [d["quantity"] for d in out["demand"]] == [1.5 * d["quantity"] for d in doc["demand"]]
    for before, after in zip(doc["supply"], out["supply"], strict=True):
        f = 0.8 * (0.5 if before["location"] == "DC2" else 1.0)
        assert after["quantity"] == pytest.approx(before["quantity"] * f)
    assert doc == _doc("weekly_rationing")  # the base document is untouched
    cap = batch.apply(_doc("peak_capacity"), batch.Scenario(0.5, 10, ("line", 1.0)))
    assert cap["resources"][0]["capacity"] == 0
    assert cap["demand"][0]["quantity"] == 7.5
    gsm = batch.apply(_doc("two_echelon_gsm"), batch.Scenario(demand=2))
    assert gsm["demands"][0]["mean"] == 80 and gsm["demands"][0]["std_dev"] == 24


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (
            lambda: batch.apply(_doc("weekly_rationing"), batch.Scenario(disruption=("X", 1))),
            "'X' holds no supply",
        ),
        (
            lambda: batch.apply(_doc("two_echelon_gsm"), batch.Scenario(capacity_cut=5)),
            "demand factor only",
        ),
        (lambda: batch.grid(capacity_cut=[150]), "[0, 100]"),
        (lambda: batch.grid(demand=[-1]), ">= 0"),
        # two rows of batch.csv named one result file (the last one written)
        (lambda: batch.grid(demand=[1, 1]), "two scenarios are named 'demand1_cut0'"),
        (lambda: batch.grid(capacity_cut=[10, 10.00001]), "first 6 significant digits"),
        (
            lambda: batch.grid(disruption=[("line", 0.5), ("line", 0.5000001)]),
            "named 'demand1_cut0_line-0.5' (--demand 1 --capacity-cut 0 --disruption line:0.5)",
        ),
        (lambda: batch.parse_disruption("DC1:2"), "WHERE:FRACTION"),
        # each scenario failed on its demand lines (blaming the instance) and batch.csv was
        # written beside exit 2
        (
            lambda: batch.apply(_doc("weekly_rationing"), batch.Scenario(demand=0)),
            "--demand 0 would make every demand line of the rationing instance 0",
        ),
        # the scenario failed in its solve: batch.csv was written beside exit 2, its message
        # (a quantity the planner never wrote) printed by no one under --quiet
        (
            lambda: batch.apply(_doc("peak_capacity"), batch.Scenario(demand=1e300)),
            "--demand 1e+300 --capacity-cut 0 makes the instance invalid (demand[0]: quantity",
        ),
    ],
)
def test_bad_scenarios_are_input_errors(call, words) -> None:
    with pytest.raises(InstanceError, match=re.escape(words)):
        call()


def test_batch_results_are_the_bytes_of_optim_solve(tmp_path: Path, capsys) -> None:
    base = DATA / "weekly_rationing.json"
    code = cli.main(
        [
            "batch",
            str(base),
            "--demand",
            "0.8,1.2",
            "--capacity-cut",
            "10",
            "--disruption",
            "DC1:0.5",
            "--out",
            str(tmp_path / "b"),
            "--quiet",
        ]
    )
    assert code == 0
    names = sorted(p.name for p in (tmp_path / "b").iterdir())
    assert names == [
        "batch.csv",
        "demand0.8_cut10_DC1-0.5.result.json",
        "demand1.2_cut10_DC1-0.5.result.json",
    ]
    scenario = batch.apply(_doc("weekly_rationing"), batch.Scenario(1.2, 10, ("DC1", 0.5)))
    (tmp_path / "s.json").write_text(json.dumps(scenario))
    cli.main(["solve", str(tmp_path / "s.json"), "--out", str(tmp_path / "s.out"), "--quiet"])
    got = (tmp_path / "b" / "demand1.2_cut10_DC1-0.5.result.json").read_bytes()
    assert got == (tmp_path / "s.out").read_bytes()
    # many instances, two local processes: one result per instance, same bytes
    files = [str(DATA / f"{n}.json") for n in ("peak_capacity", "two_echelon_gsm")]
    assert (
        cli.main(["batch", *files, "--workers", "2", "--out", str(tmp_path / "m"), "--quiet"]) == 0
    )
    cli.main(["solve", files[1], "--out", str(tmp_path / "g.out"), "--quiet"])
    assert (tmp_path / "m" / "two_echelon_gsm.result.json").read_bytes() == (
        tmp_path / "g.out"
    ).read_bytes()
    capsys.readouterr()
    assert (
        cli.main(["batch", files[0], files[1], "--demand", "2", "--out", str(tmp_path / "x")]) == 2
    )
    assert "apply to one instance" in capsys.readouterr().err


def test_instances_named_alike_get_one_result_file_each(tmp_path: Path) -> None:
    """x-2.json, a/x.json, b/x.json: b/x.json was named x-2 (its position), overwriting the
    first instance's x-2.result.json while batch.csv listed three rows."""
    text = (DATA / "peak_capacity.json").read_text()
    files = [tmp_path / "x-2.json", tmp_path / "a" / "x.json", tmp_path / "b" / "x.json"]
    for f in files:
        f.parent.mkdir(exist_ok=True)
        f.write_text(text)
    out = tmp_path / "out"
    assert cli.main(["batch", *map(str, files), "--out", str(out), "--quiet"]) == 0
    names = (out / "batch.csv").read_text().splitlines()[1:]
    assert [n.split(",")[0] for n in names] == ["x-2", "x", "x-3"]
    assert len(list(out.glob("*.result.json"))) == 3


def test_a_factor_of_one_keeps_small_quantities() -> None:
    """Every what-if value was rounded to six decimals: a capacity instance in thousands of
    tonnes (demand 5e-7) lost its demand in the base scenario, which then solved to another
    objective than `optim solve` of the same file."""
    doc = _doc("peak_capacity")
    for row in doc["demand"]:
        row["quantity"] *= 1e-7
    doc["resources"][0]["capacity"] = {"W1": 1e-6, "W2": 1.234567e-6, "W3": 1e-6}
    assert batch.apply(doc, batch.Scenario()) == doc
    twice = batch.apply(doc, batch.Scenario(demand=2, capacity_cut=10))
    assert [r["quantity"] for r in twice["demand"]] == [3e-6, 1e-6, 1e-6, 2e-6]
    assert twice["resources"][0]["capacity"]["W2"] == 1.1111103e-6


def test_a_disrupted_resource_loses_its_overtime_too_a_capacity_cut_does_not() -> None:
    """--disruption line (all of it) still made everything on overtime: a line that is down
    runs no overtime either. A --capacity-cut stays on the regular hours (overtime is the
    answer to it)."""
    doc = _doc("peak_capacity")
    doc["resources"][0]["overtime_capacity"] = 100
    down = batch.apply(doc, batch.Scenario(disruption=("line", 1.0)))
    assert down["resources"][0]["capacity"] == 0 and down["resources"][0]["overtime_capacity"] == 0
    half = batch.apply(doc, batch.Scenario(disruption=("line", 0.5)))
    assert half["resources"][0]["overtime_capacity"] == 50
    cut = batch.apply(doc, batch.Scenario(capacity_cut=50))
    assert cut["resources"][0]["capacity"] == 5 and cut["resources"][0]["overtime_capacity"] == 100
    result = optim.solve(api.from_dict(down))
    produced = sum(r["quantity"] for r in result.tables["production"].to_dict("records"))
    assert produced == 0  # nothing made on a line that is down


def test_what_ifs_of_a_capacity_csv_folder(tmp_path: Path, peak_capacity_folder: Path) -> None:
    """The folder's document had no kind (unset fields only): "no scenarios for kind None"."""
    folder = peak_capacity_folder
    out = tmp_path / "b"
    assert cli.main(["batch", str(folder), "--demand", "1,2", "--out", str(out), "--quiet"]) == 0
    cli.main(["solve", str(folder), "--out", str(tmp_path / "s.out"), "--quiet"])
    assert (out / "demand1_cut0.result.json").read_bytes() == (tmp_path / "s.out").read_bytes()
