"""CSV-folder input: both usage layouts, per-period capacity, routings, clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from optim.errors import InstanceError
from optim.instances.capacity import read_csv_folder
from optim.models.capacity.solve import solve


def write(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text.strip() + "\n", encoding="utf-8")
    return folder


HAND = {
    "periods.csv": "period\nW1\nW2\nW3",
    "resources.csv": "id,capacity\nline,10",
    "products.csv": "id,holding_cost,usage_line\nA,1,1",
    "segments.csv": (
        "name,priority,backlog_cost,lost_sales_cost,max_backlog_periods,min_fill_rate\n"
        "key,1,5,20,1,\nspot,2,0,8,0,"
    ),
    "demand.csv": (
        "product,segment,period,quantity\nA,key,W3,15\nA,spot,W1,5\nA,spot,W2,5\nA,spot,W3,10"
    ),
}


def test_hand_example_from_csv_columns(tmp_path: Path) -> None:
    inst = read_csv_folder(write(tmp_path / "hand", HAND))
    assert inst.products[0].usage == {"line": 1.0}
    assert inst.segments[0].min_fill_rate is None
    res = solve(inst)
    assert res.objective == pytest.approx(55.0, abs=1e-6)  # see test_capacity_hand.py


def test_long_usage_routings_capacity_and_settings(tmp_path: Path) -> None:
    files = dict(HAND)
    files["products.csv"] = "id,holding_cost,initial_inventory\nA,1,0"
    files["usage.csv"] = (
        "product,routing,resource,hours,unit_cost\nA,main,line,1,\nA,alt,press,2,0.5"
    )
    files["resources.csv"] = "id,capacity,overtime_capacity,overtime_cost\nline,10,,\npress,0,,"
    files["capacity.csv"] = "resource,period,capacity\npress,W3,4"
    files["settings.csv"] = "key,value\nobjective,lexicographic"
    inst = read_csv_folder(write(tmp_path / "long", files))
    assert inst.objective == "lexicographic"
    assert [g.id for g in inst.products[0].routings] == ["main", "alt"]
    assert inst.products[0].routings[1].unit_cost == 0.5
    assert inst.resources[1].capacity == {"W1": 0.0, "W2": 0.0, "W3": 4.0}
    res = solve(inst)
    # the press gives 2 more units in W3 at 0.5 each: spot loses 3 instead of 5
    assert res.table("lost")["quantity"].sum() == pytest.approx(3.0)
    alt = res.table("production").query("routing == 'alt'")
    assert alt["quantity"].sum() == pytest.approx(2.0)


def test_missing_column_is_named(tmp_path: Path) -> None:
    files = dict(HAND)
    files["segments.csv"] = "name,priority,lost_sales_cost\nkey,1,20"
    with pytest.raises(
        InstanceError, match=r"segments.csv line 1: missing column\(s\) backlog_cost"
    ):
        read_csv_folder(write(tmp_path / "bad", files))


def test_missing_file_and_bad_number(tmp_path: Path) -> None:
    files = dict(HAND)
    del files["demand.csv"]
    with pytest.raises(InstanceError, match=r"demand.csv: file not found"):
        read_csv_folder(write(tmp_path / "nofile", files))
    files = dict(HAND)
    files["resources.csv"] = "id,capacity\nline,ten"
    with pytest.raises(
        InstanceError, match=r"resources.csv line 2, column capacity: 'ten' is not a number"
    ):
        read_csv_folder(write(tmp_path / "nan", files))


def test_csv_reference_errors_name_the_id(tmp_path: Path) -> None:
    files = dict(HAND)
    files["demand.csv"] = "product,segment,period,quantity\nA,vip,W3,15"
    with pytest.raises(
        InstanceError, match=r"demand.csv line 2, column segment: unknown segment 'vip'"
    ):
        read_csv_folder(write(tmp_path / "ref", files))
    files = dict(HAND)
    files["products.csv"] = "id,holding_cost,usage_oven\nA,1,1"
    with pytest.raises(InstanceError, match=r"unknown resource 'oven'"):
        read_csv_folder(write(tmp_path / "res", files))
