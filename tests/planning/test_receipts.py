"""Lead times from receipts: lane statistics, drift detection, the planning run's use of them
(alert at the top of the report, safety-stock change), bad receipts -> exit 2."""

from __future__ import annotations

import dataclasses
import shutil

import numpy as np
import pandas as pd
import pytest

from optim import planning
from optim.cli import main
from optim.errors import InstanceError
from optim.instances.generators.history import DCS
from optim.instances.receipts import read_receipts, validate_receipts
from optim.models.safety_stock.lead_time_data import lane_lead_times, lead_time_drift
from optim.planning.builders import make_to_order_items, replenishment_times
from optim.planning.distributor import distributor_example
from optim.planning.folder import read_folder, write_folder
from optim.planning.report import render_report

SMALL = {"n_items": 40, "n_customers": 20, "weeks": 56}


def _receipts(seed: int, *, shift_days: float = 14.0) -> pd.DataFrame:
    """Weekly orders on the Plant lane for a year (lead 14 +- 3 days, the last 8 weeks
    ``+shift_days``) and on a DC lane (7 +- 1 days, stable)."""
    rng = np.random.default_rng(seed)
    rows = []
    start = pd.Timestamp("2023-06-26")  # (received before the example's plan, 2024-08-05)
    for week in range(52):
        order = start + pd.Timedelta(weeks=week)
        plant = round(14 + rng.normal(0, 3) + (shift_days if week >= 44 else 0.0))
        dc = round(7 + rng.normal(0, 1))
        rows.append(("Plant", order, order + pd.Timedelta(days=max(plant, 0)), 100.0))
        rows.append((DCS[0], order, order + pd.Timedelta(days=max(dc, 0)), 40.0))
    frame = pd.DataFrame(rows, columns=["lane", "order_date", "receipt_date", "quantity"])
    for col in ("order_date", "receipt_date"):
        frame[col] = frame[col].dt.strftime("%Y-%m-%d")
    return frame


def test_lane_statistics_are_the_sample_statistics() -> None:
    rec = validate_receipts(_receipts(0))
    stats = lane_lead_times(rec, period_days=7.0).set_index("lane")
    plant = rec.loc[rec["lane"] == "Plant", "lead_time_days"].to_numpy()
    row = stats.loc["Plant"]
    assert row["receipts"] == 52
    assert row["mean_days"] == pytest.approx(plant.mean())
    assert row["std_days"] == pytest.approx(plant.std(ddof=1))
    dist = row["distribution"]
    assert sum(p["probability"] for p in dist) == pytest.approx(1.0)
    assert sum(p["value"] * p["probability"] for p in dist) == pytest.approx(plant.mean() / 7)


def test_drift_flags_the_extended_lane_only() -> None:
    drift = lead_time_drift(validate_receipts(_receipts(1))).set_index("lane")
    assert bool(drift.loc["Plant", "flagged"]) and drift.loc["Plant", "p_value"] < 1e-3
    assert not bool(drift.loc[DCS[0], "flagged"])
    assert drift.loc["Plant", "recent_receipts"] == 8


@pytest.mark.parametrize("seed", range(10))
def test_no_drift_no_flag(seed: int) -> None:
    # stable lead times: at alpha = 0.01 a false alarm in 10 seeded histories x 2 lanes
    # would be a (fixed, reproducible) 1-in-5 event; these seeds have none
    drift = lead_time_drift(validate_receipts(_receipts(100 + seed, shift_days=0.0)))
    assert not drift["flagged"].any()


def test_receipt_before_its_order_names_file_line_and_field(tmp_path) -> None:
    frame = _receipts(0)
    frame.loc[3, "receipt_date"] = "2023-07-01"
    path = tmp_path / "receipts.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(InstanceError) as err:
        read_receipts(path)
    msg = str(err.value)
    assert "receipts.csv line 5" in msg and "receipt_date 2023-07-01 is before order_date" in msg
    assert err.value.field == "receipt_date"


@pytest.mark.parametrize(
    ("col", "value", "words"),
    [
        ("order_date", "05/01/2025", "is not a date; write it as YYYY-MM-DD"),
        ("quantity", "-3", "quantity '-3' is not allowed; it must be a number > 0"),
        ("lane", " ", "lane is empty"),
    ],
)
def test_bad_receipt_fields(col: str, value: str, words: str) -> None:
    frame = _receipts(0).astype(str)
    frame.loc[0, col] = value
    with pytest.raises(InstanceError, match=r"receipts\.csv line 2") as err:
        validate_receipts(frame)
    assert words in str(err.value)


@pytest.fixture(scope="module")
def data():
    return distributor_example(3, **SMALL)


def test_planning_run_uses_receipts_and_alerts_on_top(data, tmp_path) -> None:
    folder = write_folder(data, tmp_path / "input")
    _receipts(1).to_csv(folder / "receipts.csv", index=False)
    loaded = read_folder(folder)
    assert loaded.receipts is not None and len(loaded.receipts) == 104
    run = planning.run(loaded)
    drift = run.tables["lead_time_drift"].set_index("lane")
    assert bool(drift.loc["Plant", "flagged"])
    # planned with the recent (longer) lead times: more safety stock in the network
    assert drift.loc["Plant", "safety_stock_change"] > 0
    assert drift.loc["Plant", "safety_stock_value_change"] > 0
    note = next(n for n in run.notes if n.startswith("lead time extended on lane Plant"))
    assert note.endswith(" pcs.")  # plan.yaml's units
    plant = run.safety_stock.tables["stages"]
    plant = plant[plant["stage"].str.endswith("@Plant")]
    assert len(plant) and (plant["mean_lead_time"] > 3.0).all()  # ~28 days = 4 weeks
    # the DC lane's receipts (7 +- 1 days) make its replenishment lead times random: the
    # parameters are sized and simulated with drawn lead times and meet their targets
    rep = run.tables["replenishment"]
    dc = rep[(rep["location"] == DCS[0]) & (rep["policy"] != "make-to-order") & (rep["mean"] > 0)]
    drawn = dc[dc["lead_time_distribution"] != ""]
    assert len(drawn) and drawn["meets_target"].all()
    assert drawn["why"].str.contains("lead time drawn from the lane's receipts").all()
    # made-to-order items promise from the lanes (Plant's recent, ~2 weeks longer window,
    # as GSM plans it): longer than the template's time, and met in simulation
    made = rep[rep["item"].isin(make_to_order_items(run.segmentation))]
    template = made["location"].map(replenishment_times(loaded.network)) * 7.0
    assert len(made) and made["meets_target"].all()
    assert made["why"].str.contains("lane Plant").all()
    assert (made["promise_days"] >= template + 7).all()
    paths = run.tables["make_to_order_paths"]
    assert set(paths["item"] + "@" + paths["location"]) == set(
        made["item"] + "@" + made["location"]
    )
    page = render_report(run)
    assert page.index('id="alerts"') < page.index("<table")
    assert "Lead time extended on lane Plant" in page
    plain = planning.run(dataclasses.replace(data))
    assert 'id="alerts"' not in render_report(plain)


def test_cli_plan_refuses_a_receipt_before_its_order(data, tmp_path, capsys) -> None:
    folder = write_folder(data, tmp_path / "input")
    frame = _receipts(0)
    frame.loc[0, ["order_date", "receipt_date"]] = ["2025-01-06", "2025-01-02"]
    frame.to_csv(folder / "receipts.csv", index=False)
    code = main(["plan", str(folder), "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert "receipts.csv line 2 (lane 'Plant'): receipt_date 2025-01-02" in err
    assert not (tmp_path / "out").exists()
    shutil.rmtree(folder)


def test_an_unknown_receipt_column_is_refused() -> None:
    """A misspelt optional `item` column (`itme`) was dropped without a word: the lane's
    lead time then applied to every item of the lane."""
    frame = _receipts(0).astype(str)
    frame["itme"] = "SKU-00001"
    with pytest.raises(InstanceError, match=r"receipts\.csv line 1: unknown column 'itme'"):
        validate_receipts(frame)


@pytest.mark.parametrize(
    ("row", "words"),
    [
        (("2031-03-03", "2031-03-10"), ["column receipt_date: 2031-03-10", "already received"]),
        (("2015-03-02", "2015-03-09"), ["column order_date: 2015-03-02", "no gap of more than"]),
    ],
)
def test_a_receipt_outside_the_folders_dates_is_refused(data, tmp_path, capsys, row, words):
    """A receipt dated years after the plan (a typo in the year) was the lane's recent lead
    time; one years before the rest planned the lane from another era: both silent."""
    folder = write_folder(data, tmp_path / "input")
    frame = _receipts(0)
    frame.loc[3, ["order_date", "receipt_date"]] = list(row)
    frame.to_csv(folder / "receipts.csv", index=False)
    assert main(["validate", str(folder)]) == 2
    err = capsys.readouterr().err
    for word in ("receipts.csv line 5 (lane 'DC-North')", "outside the receipts' dates", *words):
        assert word in err, err
    # received during the first planned week (a planner running on Wednesday) is taken
    end = data.plan_start + pd.Timedelta(days=6)
    frame.loc[3, ["order_date", "receipt_date"]] = [f"{end - pd.Timedelta(days=5):%Y-%m-%d}",
                                                    f"{end:%Y-%m-%d}"]  # fmt: skip
    frame.to_csv(folder / "receipts.csv", index=False)
    assert main(["validate", str(folder)]) == 0
