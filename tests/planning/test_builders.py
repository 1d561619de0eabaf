"""Builders history + segmentation + policy → safety-stock, rationing, capacity instances.

Every demand figure is recomputed independently from the raw order lines with pandas
(net returns per item/customer/location/week floored at zero, zero-filled weeks).
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import optim
from optim.errors import InstanceError
from optim.instances.generators.history import generate_history
from optim.instances.safety_stock import SafetyStockInstance
from optim.planning.builders import (
    build_capacity,
    build_item_safety_stock,
    build_rationing,
    build_safety_stock,
    days_per_period,
    periods_of_days,
)
from optim.segmentation import PolicyTable, SegmentationConfig, default_policy, segment

STAGE_OF = {"DC-North": "key", "DC-South": "key", **{f"R-0{k}": "regional" for k in range(1, 7)}}
NETWORK = {
    "stages": [
        {"id": "plant", "lead_time": 2, "holding_cost": 1.0},
        {"id": "dc", "lead_time": 1, "holding_cost": 2.0},
        {"id": "key", "lead_time": 1, "holding_cost": 3.0},
        {"id": "regional", "lead_time": 1, "holding_cost": 3.0},
    ],
    "arcs": [
        {"source": "plant", "target": "dc"},
        {"source": "dc", "target": "key"},
        {"source": "dc", "target": "regional"},
    ],
    "demand_stage_of_location": STAGE_OF,
}
WEEK = "2023-02-08"  # a Wednesday: the week starting Monday 2023-02-06


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    return generate_history(seed=3, n_items=20, n_customers=15, weeks=12)


@pytest.fixture(scope="module")
def seg(history):
    return segment(history)


@pytest.fixture(scope="module")
def cells(history, seg) -> pd.DataFrame:
    """Independent weekly demand cells: net per (item, customer, location, week), > 0."""
    h = history.assign(week=history["date"].dt.to_period("W").dt.start_time)
    c = h.groupby(["item", "customer", "location", "week"])["quantity"].sum().reset_index()
    c = c[c["quantity"] > 0]
    segment_of = dict(zip(seg.customers["customer"], seg.customers["segment"], strict=True))
    return c.assign(segment=c["customer"].map(segment_of), stage=c["location"].map(STAGE_OF))


def _weeks(history) -> pd.DatetimeIndex:
    w = history["date"].dt.to_period("W")
    return pd.period_range(w.min(), w.max(), freq="W").start_time


def _summed_variance(cells, history, by: list[str]) -> pd.Series:
    """Sum over item x location of the variance of each zero-filled weekly series, per `by`."""
    index = list(dict.fromkeys([*by, "item", "location"]))
    series = cells.pivot_table(
        index=index, columns="week", values="quantity", aggfunc="sum"
    ).reindex(columns=_weeks(history), fill_value=0)
    return series.fillna(0).var(axis=1, ddof=1).groupby(level=by).sum()


def _customer_policy(seg):
    return {n: r for n, r in seg.config.policy.segments.items() if r.dimension == "customer"}


# --- period conversion --------------------------------------------------------------------------
def test_days_per_period_and_conversion_round_down():
    assert days_per_period("W") == 7.0
    assert days_per_period("D") == 1.0
    assert days_per_period("M") == pytest.approx(146097 / 4800)  # Gregorian mean month
    assert [periods_of_days(d, "W") for d in (0, 1, 3, 6.9, 7, 13, 14)] == [0, 0, 0, 0, 1, 1, 2]
    assert periods_of_days(3, "D") == 3


# --- safety stock -------------------------------------------------------------------------------
def test_safety_stock_solves_and_targets_are_the_policy(seg):
    inst = build_safety_stock(seg, NETWORK)
    assert optim.solve(inst).status == "optimal"
    policy = _customer_policy(seg)
    assert {d.segment for d in inst.demands} == set(seg.customers["segment"])
    for d in inst.demands:
        row = policy[d.segment]
        assert d.service_level == row.service_level
        assert d.max_service_time == math.floor(row.max_service_time_days / 7)


@pytest.mark.parametrize("aggregation", ["independent", "pooled"])
def test_safety_stock_demand_matches_history(seg, history, cells, aggregation):
    inst = build_safety_stock(seg, NETWORK, aggregation=aggregation)
    n = len(_weeks(history))
    got = {(d.stage, d.segment): (d.mean, d.std_dev) for d in inst.demands}
    totals = cells.groupby(["stage", "segment"])["quantity"].sum()
    assert set(got) == set(totals.index)
    if aggregation == "independent":  # variances of zero-filled item x location series add
        std = np.sqrt(_summed_variance(cells, history, ["stage", "segment"]))
    else:  # standard deviation of the summed, zero-filled series
        series = cells.pivot_table(
            index=["stage", "segment"], columns="week", values="quantity", aggfunc="sum"
        ).reindex(columns=_weeks(history), fill_value=0)
        std = series.fillna(0).std(axis=1, ddof=1)
    for key, (mean, sd) in got.items():
        assert mean * n == pytest.approx(totals[key])
        assert sd == pytest.approx(std[key])


def test_safety_stock_errors(seg):
    partial = {**NETWORK, "demand_stage_of_location": {"DC-North": "key"}}
    with pytest.raises(InstanceError, match="does not map location"):
        build_safety_stock(seg, partial)
    with pytest.raises(InstanceError, match="differs from the segmentation"):
        build_safety_stock(seg, NETWORK, period="D")
    with pytest.raises(InstanceError, match="lacks 'stages'"):
        build_safety_stock(seg, {"demand_stage_of_location": STAGE_OF})


# --- rationing ----------------------------------------------------------------------------------
def _week_cells(cells):
    return cells[cells["week"] == pd.Timestamp(WEEK).to_period("W").start_time]


def test_rationing_solves_with_policy_rules_and_history_demand(seg, history, cells):
    week = _week_cells(cells)
    stock = week.groupby(["item", "location"])["quantity"].sum().mul(0.6).round()
    supply = stock.reset_index().iloc[1:]  # one (item, location) pair left out: no stock
    inst = build_rationing(seg, history, week=WEEK, supply=supply)
    res = optim.solve(inst)
    assert res.status == "optimal"

    policy = _customer_policy(seg)
    segs = inst.segments.set_index("name")
    assert set(segs.index) == set(policy)
    for name, row in policy.items():
        assert segs.loc[name, "tier"] == row.rationing_tier
        assert segs.loc[name, "fair_share"] == row.fair_share

    dem = inst.demand
    assert dem["quantity"].sum() == pytest.approx(week["quantity"].sum())
    by_seg = dem.groupby("segment")["quantity"].sum()
    expect = week.groupby("segment")["quantity"].sum()
    pd.testing.assert_series_equal(by_seg, expect, check_names=False, check_dtype=False)
    lines = {
        (c, i, tuple(locs), q)
        for c, i, locs, q in dem[["customer", "item", "locations", "quantity"]].itertuples(
            index=False
        )
    }
    expect_lines = {
        (c, i, (loc,), float(q))
        for c, i, loc, q in week[["customer", "item", "location", "quantity"]].itertuples(
            index=False
        )
    }
    assert lines == expect_lines
    segment_of = dict(zip(seg.customers["customer"], seg.customers["segment"], strict=True))
    assert (dem["segment"] == dem["customer"].map(segment_of)).all()
    left_out = tuple(stock.index[0])
    row = inst.supply.set_index(["item", "location"]).loc[left_out]
    assert float(row["quantity"]) == 0.0
    assert res.tables["allocations"]["quantity"].sum() <= stock.iloc[1:].sum() + 1e-6


def test_rationing_from_segmentation_history_and_empty_week(seg, history):
    supply = pd.DataFrame({"item": ["SKU-00000"], "location": ["R-01"], "quantity": [1.0]})
    with pytest.raises(InstanceError, match="no demand in the period"):
        build_rationing(seg, week="2030-01-01", supply=supply)
    a = build_rationing(seg, week=WEEK, supply=supply)  # seg.history
    b = build_rationing(seg, history, week=WEEK, supply=supply)
    pd.testing.assert_frame_equal(a.demand, b.demand)


def test_custom_policy_targets_flow_through(history):
    """Non-default targets (and tiers with gaps) reach the instances unchanged."""
    base = default_policy()
    custom = {
        "strategic": {"service_level": 0.99, "max_service_time_days": 14, "rationing_tier": 1},
        "standard": {"service_level": 0.95, "max_service_time_days": 7, "rationing_tier": 4},
        "transactional": {"service_level": 0.9, "max_service_time_days": 21, "rationing_tier": 9},
    }
    rows = {n: r.model_copy(update=custom.get(n, {})) for n, r in base.segments.items()}
    policy = PolicyTable(combine=base.combine, segments=rows)
    seg = segment(history, config=SegmentationConfig(policy=policy))
    ss = build_safety_stock(seg, NETWORK)
    for d in ss.demands:
        assert d.service_level == custom[d.segment]["service_level"]
        assert d.max_service_time == custom[d.segment]["max_service_time_days"] // 7
    supply = pd.DataFrame({"item": ["SKU-00000"], "location": ["R-01"], "quantity": [1.0]})
    tiers = build_rationing(seg, week=WEEK, supply=supply).segments.set_index("name")["tier"]
    assert tiers.to_dict() == {"strategic": 1, "standard": 2, "transactional": 3}  # order kept
    cap = build_capacity(
        seg, periods=PERIODS, resources=[{"id": "line", "capacity": 60}], products=_products()
    )
    assert {s.name: s.priority for s in cap.segments} == {
        "strategic": 1,
        "standard": 4,
        "transactional": 9,
    }
    assert {s.name: s.max_backlog_periods for s in cap.segments} == {
        "strategic": 2,
        "standard": 1,
        "transactional": 3,
    }


# --- capacity -----------------------------------------------------------------------------------
PERIODS = ["2023-03-06", "2023-03-13", "2023-03-20"]
ITEMS = ["SKU-00000", "SKU-00001", "SKU-00002"]


def _products():
    return [{"id": i, "holding_cost": 1.0, "usage": {"line": 1.0}} for i in ITEMS]


def test_capacity_solves_and_demand_matches_history(seg, cells):
    inst = build_capacity(
        seg, periods=PERIODS, resources=[{"id": "line", "capacity": 60}], products=_products()
    )
    assert optim.solve(inst).status == "optimal"
    assert inst.periods == PERIODS
    sel = cells[cells["item"].isin(ITEMS) & cells["week"].isin(pd.to_datetime(PERIODS))]
    expect = sel.groupby(["item", "segment", "week"])["quantity"].sum()
    expect.index = expect.index.set_levels(
        expect.index.levels[2].strftime("%Y-%m-%d"), level="week"
    )
    got = inst.to_frames()["demand"].set_index(["product", "segment", "period"])["quantity"]
    assert got.sum() == pytest.approx(sel["quantity"].sum())
    assert dict(got) == pytest.approx(dict(expect))


def test_capacity_default_penalties_and_overrides(seg):
    policy = _customer_policy(seg)
    k = max(r.rationing_tier for r in policy.values())
    inst = build_capacity(
        seg,
        periods=PERIODS,
        resources=[{"id": "line", "capacity": 60}],
        products=_products(),
        segments={"strategic": {"min_fill_rate": 0.5, "lost_sales_cost": 99.0}},
    )
    for s in inst.segments:
        row = policy[s.name]
        assert s.priority == row.rationing_tier
        assert s.max_backlog_periods == math.floor(row.max_service_time_days / 7)
        if s.name == "strategic":
            assert (s.lost_sales_cost, s.min_fill_rate) == (99.0, 0.5)
        else:
            assert s.lost_sales_cost == 10.0 * 2 ** (k - row.rationing_tier)
            assert s.backlog_cost == pytest.approx(0.1 * s.lost_sales_cost)
    with pytest.raises(InstanceError, match="unknown segment"):
        build_capacity(
            seg,
            periods=PERIODS,
            resources=[{"id": "line", "capacity": 60}],
            products=_products(),
            segments={"gold": {"priority": 1}},
        )


def test_capacity_item_family(seg, cells):
    family = {i: "fam" for i in ITEMS}
    inst = build_capacity(
        seg,
        periods=PERIODS,
        resources=[{"id": "line", "capacity": 200}],
        products=[{"id": "fam", "holding_cost": 1.0, "usage": {"line": 1.0}}],
        product_of_item=family,
        objective="lexicographic",
    )
    assert optim.solve(inst).status == "optimal"
    sel = cells[cells["item"].isin(ITEMS) & cells["week"].isin(pd.to_datetime(PERIODS))]
    got = inst.to_frames()["demand"].groupby("segment")["quantity"].sum()
    expect = sel.groupby("segment")["quantity"].sum()
    pd.testing.assert_series_equal(got, expect, check_names=False, check_dtype=False)


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 10_000), weeks=st.integers(3, 10))
def test_totals_conserved_across_histories(seed, weeks):
    """Invariant: safety-stock means x periods and capacity demand add up to the history."""
    history = generate_history(seed=seed, n_items=8, n_customers=10, weeks=weeks)
    seg = segment(history)
    h = history.assign(week=history["date"].dt.to_period("W").dt.start_time)
    net = h.groupby(["item", "customer", "location", "week"])["quantity"].sum()
    net = net[net > 0]
    n = len(_weeks(history))
    ss = build_safety_stock(seg, NETWORK)
    assert sum(d.mean for d in ss.demands) * n == pytest.approx(net.sum())
    starts = sorted(net.index.get_level_values("week").unique())
    items = sorted(history["item"].unique())
    cap = build_capacity(
        seg,
        periods=starts,
        resources=[{"id": "line", "capacity": 1.0}],
        products=[{"id": i, "holding_cost": 1.0, "usage": {"line": 1.0}} for i in items],
    )
    assert cap.to_frames()["demand"]["quantity"].sum() == pytest.approx(net.sum())


# --- per-item safety stock ----------------------------------------------------------------------
def _unit_cost(history) -> pd.Series:
    return history.groupby("item")["unit_cost"].first()


def test_item_safety_stock_forest_costs_targets_and_demand(seg, history, cells):
    cost = _unit_cost(history)
    inst = build_item_safety_stock(seg, NETWORK, cost)
    rate = {s["id"]: s["holding_cost"] for s in NETWORK["stages"]}
    # stages: exactly the template stages upstream of a stage where the item has demand
    up = {"plant": {"plant"}, "dc": {"plant", "dc"}, "key": {"plant", "dc", "key"}}
    up["regional"] = {"plant", "dc", "regional"}
    want = {
        f"{i}@{s}"
        for i, g in cells.groupby("item")["stage"]
        for s in set().union(*(up[x] for x in g.unique()))
    }
    assert {s.id for s in inst.stages} == want
    for s in inst.stages:
        item, tmpl = s.id.rsplit("@", 1)
        assert s.holding_cost == pytest.approx(rate[tmpl] * cost[item])
    assert all(a.source.split("@")[0] == a.target.split("@")[0] for a in inst.arcs)
    # targets: the policy table's combined (item class, customer segment) cell
    abc = seg.items.set_index("item")["abc"]
    table = seg.config.policy
    n = len(_weeks(history))
    totals = cells.groupby(["item", "stage", "segment"])["quantity"].sum()
    assert {(*d.stage.rsplit("@", 1), d.segment) for d in inst.demands} == set(totals.index)
    for d in inst.demands:
        item, stage = d.stage.rsplit("@", 1)
        cell = table.combine_rows(abc[item], d.segment)
        assert d.service_level == cell["service_level"]
        assert d.max_service_time == math.floor(cell["max_service_time_days"] / 7)
        assert d.mean * n == pytest.approx(totals[(item, stage, d.segment)])
    # independent σ: root-sum-square over the cell's locations of zero-filled weekly series
    var = _summed_variance(cells, history, ["item", "stage", "segment"])
    for d in inst.demands:
        item, stage = d.stage.rsplit("@", 1)
        assert d.std_dev == pytest.approx(math.sqrt(var[(item, stage, d.segment)]))
    res = optim.solve(inst)
    assert res.status == "optimal"
    # a forest of independent items: the optimum is the sum of the per-item optima
    doc = inst.model_dump()
    total = 0.0
    for item in sorted({s.id.rsplit("@", 1)[0] for s in inst.stages}):
        mine = {
            key: [r for r in doc[key] if (r.get("id") or r.get("stage") or r["source"])
                  .startswith(f"{item}@")]
            for key in ("stages", "arcs", "demands")
        }  # fmt: skip
        total += optim.solve(SafetyStockInstance.model_validate(mine)).objective
    assert res.objective == pytest.approx(total, rel=1e-9)


def test_item_safety_stock_errors(seg, history):
    cost = _unit_cost(history)
    with pytest.raises(InstanceError, match="unit_cost is missing or not > 0 for item"):
        build_item_safety_stock(seg, NETWORK, cost.iloc[1:])
    with pytest.raises(InstanceError, match="does not map location"):
        build_item_safety_stock(
            seg, {**NETWORK, "demand_stage_of_location": {"DC-North": "key"}}, cost
        )
    with pytest.raises(InstanceError, match="lacks 'stages'"):
        build_item_safety_stock(seg, {"demand_stage_of_location": STAGE_OF}, cost)
