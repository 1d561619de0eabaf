"""Safety stock from forecast error: σ handed to GSM is the backtest's forecast error."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import START, intermittent, lines

import optim
from optim.forecasting import forecast
from optim.planning.builders import build_item_safety_stock, build_safety_stock

NETWORK = {
    "stages": [
        {"id": "plant", "lead_time": 2, "holding_cost": 1.0},
        {"id": "dc", "lead_time": 1, "holding_cost": 2.0},
    ],
    "arcs": [{"source": "plant", "target": "dc"}],
    "demand_stage_of_location": {"all": "dc"},
}


@pytest.fixture(scope="module")
def seasonal_run():
    """One perfectly seasonal item (a yearly sine, no noise) and one intermittent item."""
    t = np.arange(156)
    wave = np.round(100 + 60 * np.sin(2 * np.pi * t / 52), 6)[None, :]
    frame = pd.concat(
        [lines(wave, prefix="SEAS"), lines(intermittent(np.random.default_rng(3), 1, 156))]
    )
    return forecast(frame, horizon=8)


def test_perfectly_seasonal_series_has_near_zero_forecast_error(seasonal_run):
    err = seasonal_run.errors.set_index("item").loc["SEAS000"]
    assert err["method"] == "MSTL"
    assert err["history_std"] > 40.0  # the season: 60/√2 ≈ 42
    assert err["sigma"] < 0.02 * err["history_std"], (err["sigma"], err["history_std"])


def test_builders_take_the_forecast_error_sigma(seasonal_run):
    seg = seasonal_run.segmentation
    std = seasonal_run.demand_std()
    cost = {"SEAS000": 1.0, "S000": 1.0}
    by_history = build_item_safety_stock(seg, NETWORK, cost)
    by_error = build_item_safety_stock(seg, NETWORK, cost, demand_std=std)
    h = {d.stage: d.std_dev for d in by_history.demands}
    e = {d.stage: d.std_dev for d in by_error.demands}
    sigma = std.set_index("item")["std_dev"]
    assert e["SEAS000@dc"] == pytest.approx(sigma["SEAS000"]) and e["SEAS000@dc"] < 1.0
    assert h["SEAS000@dc"] > 40.0
    assert e["S000@dc"] == pytest.approx(sigma["S000"])
    # less uncertainty → less stock: GSM on the two instances
    cost_h = optim.solve(by_history).objective
    cost_e = optim.solve(by_error).objective
    assert cost_e < cost_h
    agg = build_safety_stock(seg, NETWORK, demand_std=std)
    assert agg.demands[0].std_dev == pytest.approx(np.sqrt((sigma**2).sum()))


def test_cells_without_a_finite_sigma_keep_the_history_sigma(seasonal_run):
    seg = seasonal_run.segmentation
    std = seasonal_run.demand_std()
    std.loc[std["item"] == "S000", "std_dev"] = np.nan
    inst = build_item_safety_stock(seg, NETWORK, {"SEAS000": 1.0, "S000": 1.0}, demand_std=std)
    hist = seg.demand_stats(("item", "segment", "location")).set_index("item")["std"]
    assert {d.stage: d.std_dev for d in inst.demands}["S000@dc"] == pytest.approx(hist["S000"])


def test_bad_demand_std_is_an_instance_error(seasonal_run):
    seg = seasonal_run.segmentation
    with pytest.raises(optim.InstanceError, match="demand_std must be a DataFrame"):
        build_safety_stock(seg, NETWORK, demand_std=pd.DataFrame({"item": ["x"]}))
    bad = seasonal_run.demand_std().assign(std_dev=-1.0)
    with pytest.raises(optim.InstanceError, match=">= 0"):
        build_safety_stock(seg, NETWORK, demand_std=bad)
    with pytest.raises(optim.InstanceError, match="aggregation='independent'"):
        build_safety_stock(seg, NETWORK, aggregation="pooled", demand_std=bad)
    assert START.weekday() == 0
