"""Precision of written tables (:mod:`optim.precision`, issue 12 item 6): whole units where
the data are whole, money to cents, and the rationing grid written exactly — the writer never
re-rounds an allocation, so no quantity moves across tiers between the solution and the file.
"""

from __future__ import annotations

import json
import re
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import optim
from optim.instances.generators.rationing import rationing_frames
from optim.instances.rationing import RationingInstance
from optim.precision import (
    column_kind,
    format_values,
    json_value,
    json_values,
    rounded,
    write_csv,
)

DECIMALS = re.compile(r"^-?\d+(\.\d+)?$")


def _decimals(text: str) -> int:
    return len(text.split(".")[1]) if "." in text else 0


@given(st.integers(0, 10**15 - 1))
def test_a_quantity_on_the_grid_reads_back_as_the_same_double(k):
    """Below 10^9 units rationing works on a grid of 10^-6 units: every grid value is
    written with at most six decimals and parses back to the very same double."""
    x = k / 1e6
    (text,) = format_values([x], "quantity")
    assert float(text) == x
    assert DECIMALS.match(text) and _decimals(text) <= 6
    assert ("." in text) == (not x.is_integer())


@given(st.floats(-1e12, 1e12, allow_nan=False))
def test_money_has_cents_and_stays_within_half_a_cent(x):
    (text,) = format_values([x], "money")
    assert DECIMALS.match(text) and _decimals(text) == 2
    assert abs(Decimal(text) - Decimal(x)) <= Decimal("0.005") + Decimal(abs(x)) * Decimal("1e-15")
    assert text != "-0.00"


def test_column_kinds_from_names_and_dtypes():
    kinds = {
        "quantity": "quantity",
        "allocated": "quantity",
        "min_quantity": "quantity",
        "base_stock_level": "quantity",  # units, although it says "level"
        "critical_level": "quantity",
        "safety_stock_units": "quantity",
        "unit_cost": "money",
        "holding_cost_per_week": "money",
        "safety_stock_value": "money",
        "saving_per_week": "money",
        "saving_share": "rate",
        "fill_rate": "rate",
        "service_level": "rate",
        "stock_mean_target": "rate",
        "demand_factor": "rate",  # a what-if factor, not units (1e300 was 301 digits)
        # --previous: a stage's stock change in units (was ten digits: 7.076923077 beside
        # 7.076923), its value and its relative change
        "change": "quantity",
        "value_change": "money",
        "change_rate": "rate",
        # a demand's or a forecast error's standard deviation is in units (its header
        # carried no unit, and it was written with ten significant digits)
        "sigma": "quantity",
        "sigma_history": "quantity",
        "z": "float",
    }
    assert {name: column_kind(name) for name in kinds} == kinds
    assert column_kind("quantity", pd.Series([1, 2])) == "int"  # integers are kept as written
    assert column_kind("quantity", pd.Series(["a"])) == "other"


def test_a_table_of_whole_units_has_no_decimals_and_money_has_cents(tmp_path):
    frame = pd.DataFrame(
        {
            "item": ["A", "B", "C"],
            "quantity": [151.0, 0.0, np.nan],  # whole: written as integers, NaN empty
            "requested": [2.5, 1e-7, -1e-9],  # 6 decimals at most, no "-0"
            "holding_cost": [380.9280785, 0.004, -0.001],
            "fill_rate": [0.9414999999999999, 1.0, 0.5],
        }
    )
    text = write_csv(frame, tmp_path / "t.csv").read_text()
    assert text.splitlines() == [
        "item,quantity,requested,holding_cost,fill_rate",
        "A,151,2.5,380.93,0.9415",
        "B,0,0,0.00,1",
        "C,,0,0.00,0.5",
    ]


def _solved(seed: int, **kw) -> tuple[RationingInstance, optim.Result]:
    inst = RationingInstance.from_frames(**rationing_frames(seed, **kw))
    return inst, optim.solve(inst)


QUANTITY_COLUMNS = (
    ("lines", ("requested", "allocated", "min_quantity")),
    ("allocations", ("quantity",)),
    ("segments", ("requested", "allocated")),
    ("unallocated", ("supply", "allocated", "unallocated")),
)
"""The quantity columns of a rationing result's tables."""


def _rationed(seed: int, tiers: int, whole: bool) -> optim.Result:
    """A small random rationing week solved; ``whole``: lot size 1 everywhere."""
    frames = rationing_frames(seed, tiers=tiers, n_lines=30, rules=("proportional", "equal"))
    if whole:
        frames["demand"]["lot_size"] = 1.0
    return optim.solve(RationingInstance.from_frames(**frames))


def _read(folder: Path, name: str) -> pd.DataFrame:
    return pd.read_csv(folder / f"{name}.csv", dtype=str, keep_default_na=False)


def _total(frame: pd.DataFrame, by: str | list[str], col: str) -> pd.Series:
    """Exact decimal sums of the written texts."""
    return frame.groupby(by)[col].agg(lambda s: sum(map(Decimal, s), Decimal(0)))


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 3), st.booleans())
def test_written_allocations_are_the_solution_exactly(tmp_path_factory, seed, tiers, whole):
    """The CSV tables of `optim solve --tables` hold every line's and every arc's allocation
    as the very same double the solver returned, and the written totals (per segment, i.e.
    per tier, and per stock cell) are the exact decimal sums of the written lines: writing
    moves no quantity between lines, tiers or locations. With lot size 1 everywhere (whole
    units) not one quantity has a decimal."""
    res = _rationed(seed, tiers, whole)
    out = tmp_path_factory.mktemp("tables")
    res.write_tables(out)
    tables = {
        name: _read(out, name) for name in ("lines", "allocations", "segments", "unallocated")
    }
    for name, cols in QUANTITY_COLUMNS:
        for col in cols:
            texts = tables[name][col].tolist()
            assert all(DECIMALS.match(t) and _decimals(t) <= 6 for t in texts), (name, col)
            if whole:
                assert not any("." in t for t in texts), (name, col, texts)
            if name in ("lines", "allocations"):  # the solution itself: the same doubles
                assert [float(t) for t in texts] == res.table(name)[col].tolist(), (name, col)
    lines, alloc = tables["lines"], tables["allocations"]
    per_line = _total(alloc, "demand_id", "quantity")
    assert (
        per_line == lines.set_index("demand_id")["allocated"].map(Decimal)[per_line.index]
    ).all()
    segments = tables["segments"].set_index("segment")
    per_segment = _total(lines, "segment", "allocated").reindex(segments.index, fill_value=0)
    assert (per_segment == segments["allocated"].map(Decimal)).all()
    cells = tables["unallocated"].set_index(["item", "location"])
    used = _total(alloc, ["item", "location"], "quantity").reindex(cells.index, fill_value=0)
    assert (used == cells["allocated"].map(Decimal)).all()
    supply = cells["supply"].map(Decimal)
    assert (supply - used == cells["unallocated"].map(Decimal)).all()
    assert (used <= supply).all()


@pytest.mark.parametrize("example", ["peak_capacity"])
def test_capacity_tables_write_money_to_cents(tmp_path, example):
    res = optim.solve(optim.load_example(example))
    res.write_tables(tmp_path)
    for path in sorted(tmp_path.glob("*.csv")):
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
        for col in table.columns:
            if column_kind(col) == "money" and res.table(path.stem)[col].dtype.kind == "f":
                assert all(_decimals(t) == 2 for t in table[col] if t), (path.name, col)
            if column_kind(col) == "quantity":
                assert all(_decimals(t) <= 6 for t in table[col]), (path.name, col)


# ----------------------------------------------------------------------------- result documents
SCALES = st.integers(-12, 12).flatmap(
    lambda e: st.floats(-(10.0**e), 10.0**e, allow_nan=False, allow_infinity=False)
)


@settings(max_examples=200, deadline=None)
@given(st.lists(SCALES, min_size=1, max_size=50))
def test_rounded_is_pythons_rounding_bit_for_bit(values):
    """The vectorised rule of the result documents is Python's per value: round(v, 6) for
    quantities, round(v, 2) for money, float(f"{v:.10g}") for rates."""
    special = [0.0, -0.0, 0.5e-6, 2.5e-6, 1e-7, 0.125, 1234567.1234565, 2.0**43 / 1e6, 1e15]
    x = np.array(values + special + [-v for v in special], dtype=np.float64)
    for kind, ref in (
        ("quantity", lambda v: round(v, 6)),
        ("money", lambda v: round(v, 2) + 0.0),
        ("rate", lambda v: float(f"{v:.10g}")),
    ):
        want = np.array([ref(v) for v in x.tolist()])
        assert np.array_equal(rounded(x, kind).view(np.int64), want.view(np.int64)), kind
        assert json_values(x, kind) == [json_value(v, kind) for v in x.tolist()], kind


def test_result_document_columns_follow_the_table_rule():
    """Whole quantities are integers, others keep six decimals (1234567.123456 exactly, which
    twelve significant digits would have written as 1234567.12346), money has cents, rates
    ten significant digits, and no float noise."""
    frame = pd.DataFrame(
        {
            "allocated": [151.0, 1234567.123456, 0.1 + 0.2, -1e-9, np.nan],
            "holding_cost": [380.9280785, 0.004, -0.001, 55.0, np.inf],
            "fill_rate": [0.9414999999999999, 1 / 3, 1.0, 0.1 + 0.2, 0.5],
        }
    )
    res = optim.Result(kind="rationing", status="optimal", objective=1.0, tables={"t": frame})
    text = res.to_json()
    rows = [line.strip().rstrip(",") for line in text.splitlines() if line.startswith("    {")]
    assert rows == [
        '{"allocated": 151, "holding_cost": 380.93, "fill_rate": 0.9415}',
        '{"allocated": 1234567.123456, "holding_cost": 0.0, "fill_rate": 0.3333333333}',
        '{"allocated": 0.3, "holding_cost": 0.0, "fill_rate": 1.0}',
        '{"allocated": 0, "holding_cost": 55.0, "fill_rate": 0.3}',
        '{"allocated": null, "holding_cost": "inf", "fill_rate": 0.5}',
    ]
    assert json.loads(text)["t"] == res.to_dict()["t"]


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000), st.integers(1, 3), st.booleans())
def test_result_document_allocations_are_the_solution_exactly(seed, tiers, whole):
    """The JSON result document holds every line's and arc's allocation as the very same
    double the solver returned (an integer where whole), and the written totals per segment
    (tier) and per stock cell are the exact decimal sums of the written lines, within supply:
    the document's precision moves no quantity between lines, tiers or locations. With lot
    size 1 everywhere no quantity is written with a decimal point."""
    res = _rationed(seed, tiers, whole)
    doc = json.loads(res.to_json(), parse_float=Decimal, parse_int=Decimal)
    assert json.loads(res.to_json()) == res.to_dict()
    for name, cols in QUANTITY_COLUMNS:
        for col in cols:
            values = [r[col] for r in doc[name] if r[col] is not None]
            if whole:
                assert all(v == v.to_integral_value() for v in values), (name, col)
            if name in ("lines", "allocations"):  # the solution itself: the same doubles
                want = res.table(name)[col].tolist()
                assert [None if r[col] is None else float(r[col]) for r in doc[name]] == [
                    None if np.isnan(v) else v for v in want
                ], (name, col)
    if whole:
        assert '"allocated": ' in res.to_json() and not re.search(
            r'"(allocated|quantity)": -?\d+\.', res.to_json()
        )
    lines = pd.DataFrame(doc["lines"])
    alloc = pd.DataFrame(doc["allocations"], columns=["demand_id", "item", "location", "quantity"])
    per_line = alloc.groupby("demand_id")["quantity"].agg(lambda s: sum(s, Decimal(0)))
    assert (per_line == lines.set_index("demand_id")["allocated"][per_line.index]).all()
    segments = pd.DataFrame(doc["segments"]).set_index("segment")
    per_segment = lines.groupby("segment")["allocated"].agg(lambda s: sum(s, Decimal(0)))
    assert (
        per_segment.reindex(segments.index, fill_value=Decimal(0)) == segments["allocated"]
    ).all()
    cells = pd.DataFrame(doc["unallocated"]).set_index(["item", "location"])
    used = alloc.groupby(["item", "location"])["quantity"].agg(lambda s: sum(s, Decimal(0)))
    used = used.reindex(cells.index, fill_value=Decimal(0))
    assert (used == cells["allocated"]).all()
    assert (cells["supply"] - used == cells["unallocated"]).all() and (
        used <= cells["supply"]
    ).all()


# ----------------------------------------------------------------------------- other CSV writers
NUMBER = re.compile(r"^-?\d+(\.\d+)?([eE][-+]?\d+)?$")


def _significant(text: str) -> int:
    mantissa = text.lstrip("-").split("e")[0].split("E")[0].replace(".", "").lstrip("0")
    return len(mantissa.rstrip("0")) if "." in text else len(mantissa)


def _check_written(path: Path) -> int:
    """Every number of the CSV by the table rule: whole values without a decimal point
    (money: cents), at most six decimals for quantities, cents for money, at most ten
    significant digits otherwise (no float noise such as 0.30000000000000004). Returns how
    many numeric cells were checked."""
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    checked = 0
    for col in table.columns:
        kind = column_kind(col)
        for text in table[col]:
            if not NUMBER.match(text):
                continue
            checked += 1
            value = float(text)
            if kind == "money" and "." in text:
                assert _decimals(text) == 2, (path.name, col, text)
                continue
            if value.is_integer() and abs(value) < 1e15:
                assert "." not in text and "e" not in text.lower(), (path.name, col, text)
            elif kind == "quantity":
                assert _decimals(text) <= 6, (path.name, col, text)
            else:
                assert _significant(text) <= 10, (path.name, col, text)
    return checked


def test_segment_forecast_review_and_batch_csvs_follow_the_table_rule(tmp_path):
    from optim import batch
    from optim.cli import main
    from optim.forecasting import forecast
    from optim.planning.distributor import distributor_example
    from optim.planning.review import read_shipments, review
    from optim.segmentation import default_policy

    history = distributor_example(4, n_items=30, n_customers=15, weeks=60).history
    assert (history["quantity"] % 1 == 0).all()  # whole units in, whole units out
    history.to_csv(tmp_path / "history.csv", index=False)
    assert main(["segment", str(tmp_path / "history.csv"), "--out", str(tmp_path / "seg")]) == 0
    for path in sorted((tmp_path / "seg").glob("*.csv")):
        _check_written(path)
    demand = pd.read_csv(tmp_path / "seg" / "demand.csv", dtype=str)
    assert not demand["quantity"].str.contains(".", regex=False).any()
    items = pd.read_csv(tmp_path / "seg" / "items.csv", dtype=str)
    assert items["value"].str.fullmatch(r"\d+\.\d\d").all()  # money to cents

    fc = forecast(history, horizon=4, by=("item",))
    fc.write(tmp_path / "fc")
    assert _check_written(tmp_path / "fc" / "forecast.csv") and _check_written(
        tmp_path / "fc" / "accuracy.csv"
    )
    back = pd.read_csv(tmp_path / "fc" / "forecast.csv")
    for col in ("forecast", "lo", "hi"):  # six decimals: within 5e-7 of the forecast
        assert np.abs(back[col].to_numpy() - fc.forecast[col].to_numpy()).max() <= 5e-7

    shipments = tmp_path / "shipments.csv"
    shipments.write_text(
        "customer,item,date,quantity,shipped_quantity,ship_date,segment,abc\n"
        "S1,I1,2026-01-05,100,100,2026-01-05,strategic,A\n"
        "S1,I1,2026-01-12,100,90,2026-01-13,strategic,A\n"
        "S2,I1,2026-02-02,50,50,2026-02-04,strategic,A\n"
        "T1,I3,2026-01-06,10,10,2026-01-10,transactional,C\n"
        "T2,I3,2026-02-10,20,20,2026-02-11,transactional,C\n",
        encoding="utf-8",
    )
    review(read_shipments(shipments), default_policy(), window=12, bucket=4).write(
        tmp_path / "rev"
    )
    assert _check_written(tmp_path / "rev" / "review.csv")
    assert _check_written(tmp_path / "rev" / "review_trend.csv")

    data = Path(__file__).resolve().parents[1] / "instances" / "data"
    doc = json.loads((data / "weekly_rationing.json").read_text())
    tasks = [
        (f"d{k}", batch.apply(doc, batch.Scenario(demand=k / 10)), optim.SolveParams())
        for k in (7, 13)
    ]
    batch.run(tasks, tmp_path / "batch")
    assert _check_written(tmp_path / "batch" / "batch.csv")
