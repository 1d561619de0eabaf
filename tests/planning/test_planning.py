"""End-to-end planning run on a small seed: every step's tables are consistent with the policy
table, the raw order history (recomputed independently with pandas) and each other."""

from __future__ import annotations

import dataclasses
import io
import math

import numpy as np
import pandas as pd
import pytest

import optim
from optim import planning
from optim.instances.safety_stock import SafetyStockInstance
from optim.planning.distributor import distributor_example, distributor_network

SMALL = {"n_items": 60, "n_customers": 30, "weeks": 60}


@pytest.fixture(scope="module")
def data():
    return distributor_example(1, **SMALL)


@pytest.fixture(scope="module")
def plan(data):
    return planning.run(data)


@pytest.fixture(scope="module")
def plan_naive(data):
    """The baseline run: seasonal-naive peak forecast and the history's σ."""
    return planning.run(dataclasses.replace(data, forecast="seasonal_naive"))


def _net_cells(lines: pd.DataFrame, segment_of: dict[str, str]) -> pd.DataFrame:
    """Returns rule 'net': sum per (item, customer, location, week), floored at zero."""
    week = lines["date"].dt.to_period("W").dt.start_time
    cells = lines.assign(week=week).groupby(["item", "customer", "location", "week"])
    out = cells["quantity"].sum().clip(lower=0).reset_index()
    return out.assign(segment=out["customer"].map(segment_of))


def test_example_is_seeded_and_shaped(data):
    again = distributor_example(1, **SMALL)
    pd.testing.assert_frame_equal(data.history, again.history)
    pd.testing.assert_frame_equal(data.orders, again.orders)
    assert data.history["date"].max() < data.orders["date"].min()
    assert data.orders["date"].dt.to_period("W").nunique() == 1
    assert data.plan_start == data.orders["date"].min().to_period("W").start_time + pd.Timedelta(
        weeks=1
    )
    net = distributor_network()
    assert {s["id"] for s in net["stages"]} == {"Plant", "DC-North", "DC-South"} | {
        f"R-0{k}" for k in range(1, 7)
    }
    assert set(data.history["location"]) <= set(net["demand_stage_of_location"])
    assert set(data.disruption) <= set(data.items["item"])


def test_gsm_targets_are_the_policy_tables(plan):
    """The service targets GSM placed stock for are the policy table's combined cells."""
    seg, table = plan.segmentation, plan.policy
    abc = seg.items.set_index("item")["abc"]
    demands = plan.safety_stock.tables["demands"]
    assert plan.safety_stock.status == "optimal" and len(demands) > 0
    for row in demands.itertuples(index=False):
        item = row.stage.rsplit("@", 1)[0]
        cell = table.combine_rows(abc[item], row.segment)
        assert row.service_level == cell["service_level"]
        assert row.promise == math.floor(cell["max_service_time_days"] / 7)
        assert row.service_time <= row.promise
    # the cell table shown to the planner is the same policy
    for row in plan.tables["cell_policy"].itertuples(index=False):
        cell = table.combine_rows(row.abc, row.segment)
        assert row.service_level == cell["service_level"]
        assert row.rationing_tier == cell["rationing_tier"]
    # the summary's targets are the customer rows of the policy
    for row in plan.tables["segment_summary"].itertuples(index=False):
        assert row.service_level_target == table.segments[row.segment].service_level
        assert row.rationing_tier == table.segments[row.segment].rationing_tier


def test_stock_attribution_adds_up(plan):
    by_seg = plan.tables["stock_by_segment"]
    stages = plan.safety_stock.tables["stages"].set_index("stage")
    sums = by_seg.groupby("stage")[["share", "safety_stock", "holding_cost"]].sum()
    held = stages.index[stages["safety_stock"] > 1e-9]
    assert np.allclose(sums.loc[held, "share"], 1.0)
    assert np.allclose(sums["safety_stock"], stages["safety_stock"].reindex(sums.index))
    assert np.allclose(sums["holding_cost"], stages["holding_cost"].reindex(sums.index))
    total = plan.tables["segment_summary"]["safety_stock_cost_per_week"].sum()
    assert total == pytest.approx(plan.safety_stock.objective)
    by_stage = plan.tables["stock_by_stage"]
    assert by_stage["holding_cost_per_week"].sum() == pytest.approx(plan.safety_stock.objective)


@pytest.mark.parametrize(
    ("pooling", "shares", "k"),
    [
        ("root_sum_square", (9 / 25, 16 / 25), 5.0),  # a² / Σa², k = sqrt(9 + 16)
        ("additive", (3 / 7, 4 / 7), 7.0),  # a / Σa, k = 3 + 4
        ("max_z", (9 / 25, 16 / 25), 5.0),  # σ² / Σσ² (one z), k = z sqrt(9 + 16)
    ],
)
def test_euler_attribution_closed_form(pooling, shares, k):
    """One stage, two segments at one service level, σ = 3 and 4: Euler shares in closed form;
    the amounts add up to the stage's stock z·k·sqrt(τ)."""
    demand = {"stage": "S", "mean": 10, "service_level": 0.95, "max_service_time": 0}
    inst = SafetyStockInstance.model_validate(
        {
            "stages": [{"id": "S", "lead_time": 4, "holding_cost": 2.0}],
            "demands": [
                demand | {"segment": "x", "std_dev": 3.0},
                demand | {"segment": "y", "std_dev": 4.0},
            ],
            "pooling": pooling,
        }
    )
    res = optim.solve(inst)
    out = planning.safety_stock_by_segment(res).set_index("segment")
    assert out.loc["x", "share"] == pytest.approx(shares[0])
    assert out.loc["y", "share"] == pytest.approx(shares[1])
    z = res.tables["demands"]["z"].iloc[0]
    assert out["safety_stock"].sum() == pytest.approx(z * k * 2.0)  # sqrt(τ = 4)


def test_attribution_refuses_a_stage_with_two_suppliers():
    demand = {"stage": "C", "segment": "x", "mean": 1, "std_dev": 1, "service_level": 0.9,
              "max_service_time": 0}  # fmt: skip
    inst = SafetyStockInstance.model_validate(
        {
            "stages": [{"id": s, "lead_time": 1, "holding_cost": 1.0} for s in "ABC"],
            "arcs": [{"source": "A", "target": "C"}, {"source": "B", "target": "C"}],
            "demands": [demand],
        }
    )
    with pytest.raises(optim.InstanceError, match="one supplier per stage"):
        planning.safety_stock_by_segment(optim.solve(inst))


def test_peak_plan_demand_is_the_forecast(data, plan):
    """Statistical forecast (default): the peak plan's demand per segment is the forecast's
    sum over the planned weeks; the stock comparison per item class is in the tables."""
    fc = plan.tables["forecast"]
    weeks = pd.date_range(data.plan_start, periods=data.plan_weeks, freq="7D")
    inside = fc[fc["week"].isin(weeks.strftime("%Y-%m-%d"))]
    want = inside.groupby("segment")["forecast"].sum()
    got = plan.capacity.tables["segments"].set_index("segment")["demand"]
    for name, qty in want.items():
        assert got[name] == pytest.approx(qty, rel=1e-9)
    moved = plan.tables["stock_moved"]
    assert set(moved["abc"]) <= {"A", "B", "C"} and moved["stock_history"].gt(0).all()
    total = plan.safety_stock.tables["stages"]["safety_stock"].sum()
    assert moved["stock_forecast"].sum() == pytest.approx(total)
    demands = plan.safety_stock.tables["demands"]
    assert not demands.empty


def test_peak_plan_demand_is_last_years_history_and_floors_hold(data, plan_naive):
    plan = plan_naive
    seg = plan.segmentation
    segment_of = dict(zip(seg.customers["customer"], seg.customers["segment"], strict=True))
    lag = pd.Timedelta(days=364)
    start = data.plan_start
    end = start + pd.Timedelta(weeks=data.plan_weeks)
    window = data.history[
        (data.history["date"] >= start - lag) & (data.history["date"] < end - lag)
    ]
    want = _net_cells(window, segment_of).groupby("segment")["quantity"].sum()
    got = plan.capacity.tables["segments"].set_index("segment")["demand"]
    for name, qty in want.items():
        assert got[name] == pytest.approx(qty)
    assert plan.capacity.has_solution()
    weeks = sorted(plan.capacity.tables["utilisation"]["period"].unique())
    assert weeks[0] == start.strftime("%Y-%m-%d") and len(weeks) == data.plan_weeks
    segs = plan.capacity.tables["segments"].set_index("segment")
    if plan.capacity_floors:
        for name, row in plan.policy.segments.items():
            if row.dimension == "customer" and name in segs.index:
                assert segs.loc[name, "min_fill_rate"] == row.service_level
                assert segs.loc[name, "fill_rate"] >= row.service_level - 1e-6
    else:
        assert any("fill-rate floors" in n for n in plan.notes)


def test_short_week_rationing_respects_planned_stock(data, plan):
    seg = plan.segmentation
    supply = plan.tables["supply"]
    # planned stock = floor(mean weekly demand at the site + the stage's safety stock)
    mean = seg.demand_stats(("item", "location")).set_index(["item", "location"])["mean"]
    ss = plan.safety_stock.tables["stages"].set_index("stage")["safety_stock"]
    for row in supply.itertuples(index=False):
        m = mean.get((row.item, row.location), 0.0)
        s = ss.get(f"{row.item}@{row.location}", 0.0)
        assert row.planned == math.floor(m + s + 1e-9)
        share = data.disruption.get(row.item, 1.0)
        assert row.quantity == math.floor(row.planned * share + 1e-9)
    lines = plan.rationing.tables["lines"]
    assert (lines["allocated"] == lines["allocated"].round()).all()  # whole units
    alloc = plan.rationing.tables["allocations"].groupby(["item", "location"])["quantity"].sum()
    cap = supply.set_index(["item", "location"])["quantity"]
    assert (alloc <= cap.reindex(alloc.index) + 1e-6).all()
    # requested per segment = this week's orders after the returns rule
    segment_of = dict(zip(seg.customers["customer"], seg.customers["segment"], strict=True))
    want = _net_cells(data.orders, segment_of).groupby("segment")["quantity"].sum()
    got = plan.rationing.tables["segments"].set_index("segment")
    for name, qty in want.items():
        assert got.loc[name, "requested"] == pytest.approx(qty)
    for name, row in got.iterrows():
        assert row["tier"] == plan.policy.segments[name].rationing_tier


def test_same_input_same_output(data, plan):
    again = planning.run(data)
    for kind in ("safety_stock", "capacity", "rationing"):
        assert getattr(again, kind).to_json() == getattr(plan, kind).to_json()
    for name, frame in plan.tables.items():
        pd.testing.assert_frame_equal(frame, again.tables[name])


def test_progress_reports_every_step(data):
    stream = io.StringIO()
    run = planning.run(data, progress=planning.Progress(7, stream=stream))
    text = stream.getvalue()
    assert text.count("done in") == 7 and "[7/7]" in text
    assert set(run.times) and all(t >= 0 for t in run.times.values())


def test_time_limit_without_solution_is_reported_not_a_crash(tmp_path, monkeypatch):
    """A solve that hits its time limit without a solution: exit 4, the summary and the
    report say which step has no solution, every other table is still written."""
    from optim import clock
    from optim.params import SolveParams
    from optim.planning import demo

    monkeypatch.setattr(clock, "MIN_BUDGET", 0.0)  # the limits without their floor

    stream = io.StringIO()
    code = demo.run(
        tmp_path, seed=1, stream=stream, params=SolveParams(time_limit=1e-9), quiet=False, **SMALL
    )
    text = stream.getvalue()
    html = (tmp_path / "report.html").read_text(encoding="utf-8")
    if "time_limit" not in text:  # pragma: no cover - a machine fast enough to finish
        pytest.skip("every solve finished within 1e-9 s")
    assert code == 4
    assert "no plan" in text or "no allocation" in text
    assert "No solution:" in html and "time_limit" in html
    assert (tmp_path / "segment_summary.csv").is_file()
    assert (tmp_path / "safety_stock" / "stages.csv").is_file()


def test_stock_plan_meets_every_segments_target_in_simulation(plan):
    """Independent check of step 3: simulate the placed base stocks under normal demand
    (seeded Monte Carlo, `optim.models.safety_stock.simulate`, longer than the run's own).
    Stock at a stage is shared by its segments, so at shared stages every segment must get at
    least its own target on average. Measured on this seed with the run's critical levels:
    strategic +0.0002 (s.e. 0.0002), standard +0.0122, transactional +0.0177 (earlier
    'max_z': strategic -0.0000; the 'root_sum_square' rule -0.0036 (s.e. 0.0007), which this
    test rejects)."""
    from optim.instances.safety_stock import SafetyStockInstance
    from optim.models.safety_stock.simulate import simulate

    inst = SafetyStockInstance.model_validate(plan.safety_stock.info["instance"])
    table = simulate(inst, plan.safety_stock, periods=3000, replications=8, seed=0)
    shared = table[table.groupby("stage")["segment"].transform("size") > 1]
    gap = (shared["fill"] - shared["target"]).groupby(shared["segment"]).mean()
    assert len(gap) >= 2
    assert (gap >= -0.0015).all(), gap.to_dict()
    assert (table["fill"] - table["target"]).mean() >= 0.0


def test_capacity_fallback_is_strict_priority_and_names_every_segment(data):
    # 60 % of the capacity: the policy's floors cannot all be met. The fallback must be the
    # capacity model's lexicographic mode (not the penalty-weighted cost mode), the note must
    # say so and list every segment's planned fill rate against its floor (a segment served
    # at ~0 % included), and no table may carry a NaN floor.
    import dataclasses

    tight = dataclasses.replace(
        data, resources=[dict(r, capacity=r["capacity"] * 0.6) for r in data.resources]
    )
    plan = planning.run(tight)
    assert not plan.capacity_floors
    cap = plan.capacity
    assert cap.info["objective_mode"] == "lexicographic"
    segs = cap.tables["segments"].set_index("segment")
    assert segs["min_fill_rate"].notna().all()
    assert (segs["fill_rate"] <= 1.0).all()
    # each priority stage's optimum is kept: the plan's shortfall of tier 1 is its minimum
    top = segs[segs["priority"] == segs["priority"].min()]
    stage = cap.info["stage_objectives"][str(int(top["priority"].iloc[0]))]
    assert top["shortfall_cost"].sum() == pytest.approx(stage, rel=1e-5, abs=1e-6)
    (note,) = [n for n in plan.notes if "fill-rate floors" in n]
    assert "strict priority order" in note and "lexicographic" in note
    assert "priority alone" not in note
    for name, row in plan.policy.segments.items():
        if row.dimension != "customer" or name not in segs.index:
            continue
        shown = f"'{name}' (tier {row.rationing_tier}) {segs.loc[name, 'fill_rate']:.1%}"
        assert shown in note
        if segs.loc[name, "fill_rate"] < row.service_level:
            assert f"{shown} against a floor of {row.service_level:.1%}: BELOW floor" in note
    assert (segs["fill_rate"] < 0.01).any()  # the lowest tier is (nearly) unserved here
    # a floor the fallback meets is not one that "cannot be met" (only together with the
    # others), and the run's summary does not call the fallback plainly "optimal"
    for name, row in plan.policy.segments.items():
        if name in segs.index and segs.loc[name, "fill_rate"] >= row.service_level:
            assert f"'{name}': min_fill_rate {row.service_level:.4g} cannot be met;" not in note
    from optim.planning.demo import summary

    assert "planned in strict priority order without floors" in summary(plan)
    # the alerts at the top name who misses its floor and by how many units (audit: one
    # alert without who or amount, "see the notes")
    from optim.alerts import collect

    alerts = [a for a in collect(plan) if a.topic == "capacity" and a.severity == "critical"]
    floor = {n: r.service_level for n, r in plan.policy.segments.items()}
    below = [n for n in segs.index if segs.loc[n, "fill_rate"] < floor[n] - 1e-9]
    assert below and sorted(a.who for a in alerts) == sorted(below)
    for a in alerts:
        r = segs.loc[a.who]
        assert a.amount == pytest.approx(r["demand"] * (floor[a.who] - r["fill_rate"]))
        unit = tight.units  # the example states pcs (plan.yaml units)
        assert a.unit == unit == "pcs" and f"{a.amount:,.0f} pcs short of the floor" in a.message


# --- issue 10: the planning run with critical levels ------------------------------------------
def test_stock_step_uses_critical_levels_with_the_policy_cells_measure_and_tier(plan):
    """The GSM step solves critical levels; every demand carries its policy cell's service
    measure (the item's pattern applied) and the customer's rationing tier."""
    inst = plan.safety_stock.info["instance"]
    assert inst["pooling"] == "critical_level"
    seg, table = plan.segmentation, plan.policy
    items = seg.items.set_index("item")
    for d in inst["demands"]:
        item = d["stage"].rsplit("@", 1)[0]
        cell = table.combine_rows(items.loc[item, "abc"], d["segment"], items.loc[item, "pattern"])
        assert d["service_measure"] == cell["service_measure"] == "cycle_service"
        assert d["tier"] == cell["rationing_tier"] == table.segments[d["segment"]].rationing_tier
    # the result's rows per (stage, segment) state the critical levels, all within base stock
    demands = plan.safety_stock.tables["demands"]
    stages = plan.safety_stock.tables["stages"].set_index("stage")
    assert (demands["critical_level"] >= 0).all()
    assert (
        demands["critical_level"]
        <= stages["base_stock_level"].reindex(demands["stage"]).to_numpy() + 1e-9
    ).all()
    assert (demands.groupby("stage")["critical_level"].max() > 0).any()  # reservation is used


def test_cost_is_at_most_max_z_on_the_same_instance_and_the_saving_adds_up(plan):
    base = plan.baseline
    assert base is not None and base.has_solution()
    # like for like: the same instance and demand laws, critical levels 0, strictest targets
    assert base.info["instance"] == plan.safety_stock.info["instance"]
    assert base.info["comparison"] == "cover_strictest"
    assert (base.table("demands")["critical_level"] == 0).all()
    cost, max_z = plan.safety_stock.objective, base.objective
    assert cost <= max_z + 1e-6 * max_z  # exact tree DP on both: never more than max_z
    assert "saving" in plan.safety_stock.message
    table = plan.tables["stock_vs_max_z"]
    total = table[table["location"] == "total"].iloc[0]
    assert total["holding_cost_per_week"] == pytest.approx(cost)
    assert total["holding_cost_per_week_max_z"] == pytest.approx(max_z)
    assert total["saving_per_week"] == pytest.approx(max_z - cost)
    assert total["saving_share"] == pytest.approx((max_z - cost) / max_z)
    rest = table[table["location"] != "total"]
    assert rest["saving_per_week"].sum() == pytest.approx(total["saving_per_week"])
    # the solver's own message states the same comparison
    assert plan.safety_stock.info["max_z_cost"] == pytest.approx(max_z)


def test_run_simulates_its_plan_and_every_miss_is_alerted(plan):
    """The run's simulation covers every (item, stage, segment) of the plan; on this seed
    every target is met (none of the intervals lies below its target), and no simulation
    alert is raised; the per-segment table and the summary are the simulation's numbers."""
    from optim.alerts import collect

    sim = plan.tables["service_simulation"]
    demands = plan.safety_stock.tables["demands"]
    assert len(sim) == len(demands)
    assert set(zip(sim["stage"], sim["segment"], strict=True)) == set(
        zip(demands["stage"], demands["segment"], strict=True)
    )
    prec = plan.tables["simulation_precision"].iloc[0]
    assert prec["rows"] == len(sim) and prec["misses"] == int((~sim["meets_target"]).sum())
    assert prec["misses"] == 0, sim[~sim["meets_target"]]
    assert prec["median_half_width"] < 0.03
    assert not [a for a in collect(plan) if a.message.startswith("simulated stock plan")]
    assert not plan.tables["service_by_segment"]["below_target_on_average"].any()
    assert prec["groups_below_target"] == 0
    by = plan.tables["service_by_segment"].set_index(["location", "segment"])
    for (loc, name), rows in sim.groupby(["location", "segment"]):
        assert by.loc[(loc, name), "items"] == rows["item"].nunique()
        assert by.loc[(loc, name), "simulated_service_level"] == pytest.approx(rows["fill"].mean())
    summary = plan.tables["segment_summary"].set_index("segment")
    for name, rows in sim.groupby("segment"):
        assert summary.loc[name, "stock_rows"] == len(rows)
        assert summary.loc[name, "simulated_service_level"] == pytest.approx(rows["fill"].mean())
        assert summary.loc[name, "simulated_misses"] == 0


def test_a_simulated_miss_is_named_in_an_alert(plan):
    """Under-stock the plan on purpose (half the safety stock): the simulation misses, and
    the alert rule names every missing segment with its worst stage."""
    import dataclasses

    from optim.alerts import collect
    from optim.instances.safety_stock import SafetyStockInstance
    from optim.models.safety_stock.simulate import simulate

    inst = SafetyStockInstance.model_validate(plan.safety_stock.info["instance"])
    stages = plan.safety_stock.tables["stages"]  # levels recomputed for the smaller stock
    table = simulate(inst, stages, periods=200, replications=12, safety_stock_factor=0.5)
    table = planning.pipeline._split_stage(table)
    table = table.assign(margin=table["fill"] - table["target"])
    missed = table[~table["meets_target"]]
    assert len(missed) > 0
    run = dataclasses.replace(plan, tables={**plan.tables, "service_simulation": table})
    alerts = [a for a in collect(run) if a.message.startswith("simulated stock plan")]
    assert {a.who for a in alerts} == set(missed["segment"])
    for a in alerts:
        rows = missed[missed["segment"] == a.who]
        assert a.amount == len(rows) and a.severity == "warning"
        worst = rows.sort_values("margin", kind="stable").iloc[0]
        assert worst["stage"] in a.message and f"{len(rows)} of " in a.message
    # the same shortfall on average per location and segment: a z-test over the items
    unit_cost = plan.data.items.set_index("item")["unit_cost"]
    groups = planning.pipeline.service_by_segment(
        table, plan.tables["stock_by_segment"], unit_cost
    )
    flagged = groups[groups["below_target_on_average"]]
    assert len(flagged) > 0 and (flagged["mean_gap_to_target"] < 0).all()
    run = dataclasses.replace(run, tables={**run.tables, "service_by_segment": groups})
    on_average = [a for a in collect(run) if "on average" in a.message]
    assert sorted((a.who, a.message.split(" at ")[1].split(" ")[0]) for a in on_average) == sorted(
        zip(flagged["segment"], flagged["location"], strict=True)
    )


def test_random_lead_times_keep_critical_levels_and_every_target():
    """A stage with a random lead time (as receipts give) keeps its critical levels: every
    segment its own target in the model and in the simulation that draws the lead times, at no
    more cost than covering the strictest on the same model (no fallback to max_z)."""
    from optim.models.safety_stock.simulate import simulate
    from optim.models.safety_stock.solve import solve_cover_strictest

    demand = {"stage": "S", "mean": 10, "std_dev": 3, "max_service_time": 0}
    inst = SafetyStockInstance.model_validate(
        {
            "stages": [{"id": "S", "lead_time": 2, "lead_time_std_dev": 0.5, "holding_cost": 1}],
            "demands": [
                demand | {"segment": "a", "service_level": 0.98, "tier": 1},
                demand | {"segment": "b", "service_level": 0.9, "tier": 2},
            ],
        }
    )
    res = optim.solve(inst)
    dem = res.table("demands").set_index("segment")
    assert dem.loc["b", "critical_level"] > 0 and "saving" in res.message
    assert res.objective <= solve_cover_strictest(inst).objective
    sim = simulate(inst, res, periods=2000, replications=10, seed=2)
    assert sim["meets_target"].all(), sim


def test_summary_says_when_groups_fall_below_target_on_average(plan):
    """The demo's summary line never says "all met" alone when the average test flags a group."""
    import dataclasses

    from optim.planning.demo import summary

    precision = plan.tables["simulation_precision"]
    quiet = summary(plan)
    flagged = precision.assign(groups_below_target=2)
    loud = summary(
        dataclasses.replace(plan, tables={**plan.tables, "simulation_precision": flagged})
    )
    assert "group(s) fall below target" not in quiet or int(precision["groups_below_target"][0])
    assert "2 location x segment group(s) fall below target on average" in loud
