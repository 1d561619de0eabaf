"""A capacity instance small enough to solve on paper.

One line with 10 h per week for three weeks, one product A taking 1 h per unit, holding
cost 1 per unit and week, no initial stock. Demand: segment ``key`` (priority 1, lost 20,
backlog 5, may wait 1 week) wants 15 in W3; segment ``spot`` (priority 2, lost 8, no
waiting) wants 5, 5, 10 in W1..W3.

On paper: 30 hours make at most 30 units, demand is 35, so at least 5 units are lost; the
cheapest to lose are spot's (8 < 20). Key's W3 demand cannot wait (the horizon ends), so
W3 needs 15 + 5 = 20 units against 10 hours: 10 are pre-built, 5 in W1 (held two weeks)
and 5 in W2 (held one week). Inventory is 5 after W1 and 10 after W2: holding 5 + 10 = 15;
lost 5 × 8 = 40; total cost 55. Losing spot in W1 or W2 instead only adds holding cost.

Marginal value of one more hour: in W3 one more spot unit is served (8); in W2 one more unit
is made and held a week (8 - 1 = 7); in W1 held two weeks (8 - 2 = 6).

Lexicographic: key's shortfall can be 0; then spot's minimum is 5 lost units = 40; then the
cost is 55 again (same plan).

With floors key 1.0 and spot 0.9: 15 + 18 = 33 units > 30 hours: infeasible, 3 hours short
in total; spot reaches 15/20 = 0.75 with key's floor kept, and 20/20 = 1.0 alone.
"""

from __future__ import annotations

import numpy as np
import pytest

from optim.instances.capacity import CapacityInstance
from optim.models.capacity.solve import solve
from optim.params import SolveParams
from optim.status import Status


def hand(**changes) -> CapacityInstance:
    doc = {
        "kind": "capacity",
        "periods": ["W1", "W2", "W3"],
        "resources": [{"id": "line", "capacity": 10}],
        "products": [{"id": "A", "holding_cost": 1, "usage": {"line": 1}}],
        "segments": [
            {
                "name": "key",
                "priority": 1,
                "backlog_cost": 5,
                "lost_sales_cost": 20,
                "max_backlog_periods": 1,
            },
            {"name": "spot", "priority": 2, "backlog_cost": 0, "lost_sales_cost": 8},
        ],
        "demand": [
            {"product": "A", "segment": "key", "period": "W3", "quantity": 15},
            {"product": "A", "segment": "spot", "period": "W1", "quantity": 5},
            {"product": "A", "segment": "spot", "period": "W2", "quantity": 5},
            {"product": "A", "segment": "spot", "period": "W3", "quantity": 10},
        ],
    }
    doc.update(changes)
    return CapacityInstance.model_validate(doc)


@pytest.mark.parametrize("solver", ["highs", "pyomo"])
def test_hand_optimum(solver: str) -> None:
    res = solve(hand(), SolveParams(solver=solver))
    assert res.status is Status.OPTIMAL
    assert res.objective == pytest.approx(55.0, abs=1e-6)
    assert res.info["cost_terms"]["holding"] == pytest.approx(15.0, abs=1e-6)
    assert res.info["cost_terms"]["lost_sales"] == pytest.approx(40.0, abs=1e-6)
    prod = res.table("production").set_index("period")["quantity"]
    assert prod.to_dict() == pytest.approx({"W1": 10.0, "W2": 10.0, "W3": 10.0})
    inv = res.table("inventory").set_index("period")
    assert inv["inventory"].tolist() == pytest.approx([5.0, 10.0, 0.0])
    assert inv["prebuild"].tolist() == pytest.approx([5.0, 10.0, 0.0])
    lost = res.table("lost")
    assert lost[["segment", "period"]].values.tolist() == [["spot", "W3"]]
    assert lost["quantity"].tolist() == pytest.approx([5.0])
    seg = res.table("segments").set_index("segment")
    assert seg.loc["key", "fill_rate"] == pytest.approx(1.0)
    assert seg.loc["spot", "fill_rate"] == pytest.approx(0.75)
    assert seg.loc["spot", "shortfall_cost"] == pytest.approx(40.0)
    mv = res.table("marginal_values")["marginal_value"].to_numpy()
    assert mv == pytest.approx([6.0, 7.0, 8.0], abs=1e-6)
    assert "pre-build: 1 product(s)" in res.message and "peak periods: W3" in res.message
    util = res.table("utilisation")["utilisation"].to_numpy()
    assert util == pytest.approx([1.0, 1.0, 1.0])


def test_prebuild_message_counts_in_the_instances_unit() -> None:
    """Issue 12 ("currency and units from plan.yaml"): the pre-build message said "units"
    and "10" as "%.6g" of the solver's double; it names the instance's ``unit`` and writes
    the quantity as the tables do (whole: no decimals)."""
    plain = solve(hand())
    assert "most held at the end of W2 (10 units);" in plain.message
    boxes = solve(hand(unit="boxes"))
    assert "most held at the end of W2 (10 boxes);" in boxes.message
    assert "units" not in boxes.message
    assert hand(unit="boxes").model_dump()["unit"] == "boxes"


@pytest.mark.parametrize("solver", ["highs", "pyomo"])
def test_hand_lexicographic(solver: str) -> None:
    res = solve(hand(objective="lexicographic"), SolveParams(solver=solver))
    assert res.status is Status.OPTIMAL
    assert res.info["lexicographic_tolerance"] == 1e-6
    stages = res.info["stage_objectives"]
    assert stages["1"] == pytest.approx(0.0, abs=1e-6)
    assert stages["2"] == pytest.approx(40.0, abs=1e-5)
    assert res.objective == pytest.approx(55.0, abs=1e-4)
    assert "tolerance of 1e-06" in res.message


def test_hand_backlog_waits_when_cheaper() -> None:
    # Only key demand: 22 in W2, may wait one week. W1 makes 10 and holds them (cost 10),
    # W2 makes 10 and ships 20, 2 wait (backlog 2 × 5 = 10) and W3 makes and ships them.
    # Holding (1) is cheaper than waiting (5), waiting cheaper than losing (20): cost 20.
    inst = hand(demand=[{"product": "A", "segment": "key", "period": "W2", "quantity": 22}])
    for solver in ("highs", "pyomo"):
        res = solve(inst, SolveParams(solver=solver))
        assert res.objective == pytest.approx(20.0, abs=1e-6)
        back = res.table("backlog")
        assert back[["segment", "period"]].values.tolist() == [["key", "W2"]]
        assert back["quantity"].sum() == pytest.approx(2.0)
        seg = res.table("segments").set_index("segment")
        assert seg.loc["key", "served_on_time"] == pytest.approx(20.0)
        assert seg.loc["key", "served"] == pytest.approx(22.0)
        assert seg.loc["key", "shortfall_cost"] == pytest.approx(10.0)


@pytest.mark.parametrize("solver", ["highs", "pyomo"])
def test_hand_infeasible_floors_diagnosis(solver: str) -> None:
    segs = hand().model_dump()["segments"]
    segs[0]["min_fill_rate"] = 1.0
    segs[1]["min_fill_rate"] = 0.9
    res = solve(hand(segments=segs), SolveParams(solver=solver))
    assert res.status is Status.INFEASIBLE
    text = "\n".join(res.diagnosis)
    # spot reaches its floor alone: missed only together with key's (an honest fallback
    # note must not call a floor it then meets one that "cannot be met")
    assert "segment 'spot': min_fill_rate 0.9 cannot be met together with the other" in text
    assert "0.75" in text and "best alone (other floors dropped): 1" in text
    assert "3 hours beyond regular and overtime" in text
    missing = res.tables["diagnosis_missing_capacity"]
    assert missing["missing_hours"].sum() == pytest.approx(3.0)
    rates = res.tables["diagnosis_fill_rates"].set_index("segment")
    assert bool(rates.loc["key", "met"]) and not bool(rates.loc["spot", "met"])
    assert not res.has_solution()


def test_a_floor_missed_alone_is_said_to_be() -> None:
    """5 h a week make 15 of spot's 20: its floor 0.9 fails even with no other floor."""
    segs = hand().model_dump()["segments"]
    segs[1]["min_fill_rate"] = 0.9
    res = solve(hand(segments=segs, resources=[{"id": "line", "capacity": 5}]))
    assert res.status is Status.INFEASIBLE
    text = "\n".join(res.diagnosis)
    assert "segment 'spot': min_fill_rate 0.9 cannot be met even alone;" in text
    assert "best alone (other floors dropped): 0.75" in text


def test_weekly_fill_rate_counts_late_units_in_the_week_ordered() -> None:
    # key wants 22 in W2 and 1 in W3 (may wait a week). W1 makes 10 and holds them, W2 makes
    # 10 and ships 20 (2 wait), W3 makes 3 and ships 3: W2's two late units and W3's one.
    # W3 *ships* 3 against a demand of 1; its fill rate is still 1 (not 3), and W2's two
    # units count as served late in W2, the week they were ordered.
    inst = hand(
        demand=[
            {"product": "A", "segment": "key", "period": "W2", "quantity": 22},
            {"product": "A", "segment": "key", "period": "W3", "quantity": 1},
        ]
    )
    for solver in ("highs", "pyomo"):
        res = solve(inst, SolveParams(solver=solver))
        sp = res.table("segment_periods").set_index(["segment", "period"]).loc["key"]
        assert sp["shipped"].tolist() == pytest.approx([0.0, 20.0, 3.0], abs=1e-6)
        assert sp["served_on_time"].tolist() == pytest.approx([0.0, 20.0, 1.0], abs=1e-6)
        assert sp["served_late"].tolist() == pytest.approx([0.0, 2.0, 0.0], abs=1e-6)
        assert sp.loc["W2", "fill_rate"] == pytest.approx(1.0)
        assert sp.loc["W2", "on_time_rate"] == pytest.approx(20 / 22)
        assert sp.loc["W3", "fill_rate"] == pytest.approx(1.0)
        assert np.isnan(sp.loc["W1", "fill_rate"])  # no demand: no rate
        seg = res.table("segments").set_index("segment").loc["key"]
        assert seg["served_on_time"] == pytest.approx(21.0)
        assert seg["served_late"] == pytest.approx(2.0)
        assert seg["min_fill_rate"] == 0.0  # no floor


@pytest.mark.parametrize("solver", ["highs", "pyomo"])
def test_tiny_time_limit_gives_the_same_outcome_every_run(solver: str) -> None:
    # 1 µs is gone before HiGHS starts; each solver call still gets MIN_SOLVER_SECONDS, so
    # the outcome does not depend on the machine's load (it flipped between exit 0 and 4)
    from optim.models.capacity.solve import MIN_SOLVER_SECONDS

    outcomes = set()
    for _ in range(5):
        res = solve(hand(objective="lexicographic"), SolveParams(solver=solver, time_limit=1e-6))
        outcomes.add((res.status, round(res.objective, 6)))
        assert res.info["solver_time_floor"] == MIN_SOLVER_SECONDS
    assert outcomes == {(Status.OPTIMAL, 55.0)}


def test_a_priority_stage_cut_by_the_time_limit_returns_its_plan(monkeypatch) -> None:
    # lexicographic + lot sizing at --time-limit: the priority-1 MIP stopped with a feasible
    # plan, which was thrown away ("solution: none", exit 4) where cost mode returned its best
    from optim.models.capacity import solve as capacity_solve
    from optim.solvers.base import RawSolution

    real = capacity_solve._engine(SolveParams())

    class CutStages:
        name, version = real.name, real.version

        @staticmethod
        def solve(lp, params, *, time_limit=None, **kw):
            raw = real.solve(lp, params, time_limit=time_limit, **kw)
            if kw:  # the cost stage (want_duals): as solved
                return raw
            return RawSolution(status=Status.TIME_LIMIT, objective=raw.objective, x=raw.x)

    monkeypatch.setattr(capacity_solve, "_engine", lambda params: CutStages)
    res = solve(hand(objective="lexicographic"), SolveParams(time_limit=5))
    assert res.status is Status.TIME_LIMIT and res.has_solution()
    assert res.objective >= 55.0 - 1e-6 and res.gap is None  # a plan, not the optimum
    assert res.info["shortfall_by_segment"]["key"] == pytest.approx(0.0, abs=1e-6)
    assert "priority 1 stage" in res.message


def test_hand_overtime() -> None:
    # 2 overtime hours per week at 3 per hour. Every extra unit saves a lost spot unit (8)
    # at 3 + holding: W3 (3), W2 (3 + 1), W1 (3 + 2). 5 units are missing: W3 2, W2 2, W1 1.
    # Production 11, 12, 12; shipments 5, 5, 25; inventory 6, 13 → holding 19;
    # overtime 5 h × 3 = 15; nothing lost: cost 34.
    inst = hand(
        resources=[{"id": "line", "capacity": 10, "overtime_capacity": 2, "overtime_cost": 3}]
    )
    res = solve(inst)
    assert res.objective == pytest.approx(34.0, abs=1e-6)
    ot = res.table("overtime").set_index("period")["hours"]
    assert ot.to_dict() == pytest.approx({"W1": 1.0, "W2": 2.0, "W3": 2.0})
    assert res.table("lost").empty
    assert np.all(res.table("marginal_values")["marginal_value"].to_numpy() >= -1e-9)


def test_waiting_longer_than_the_horizon_is_harmless() -> None:
    segs = hand().model_dump()["segments"]
    segs[0]["max_backlog_periods"] = 10
    for solver in ("highs", "pyomo"):
        res = solve(hand(segments=segs), SolveParams(solver=solver))
        assert res.objective == pytest.approx(55.0, abs=1e-6)


@pytest.mark.parametrize("solver", ["highs", "pyomo"])
@pytest.mark.parametrize("objective", ["cost", "lexicographic"])
def test_no_demand_and_unused_resource(solver: str, objective: str) -> None:
    # 3 units in stock that nobody wants are held for 2 weeks at 1: cost 6. A floor on a
    # segment without demand holds trivially; a resource nobody uses is simply idle.
    inst = hand(
        resources=[{"id": "line", "capacity": 10}, {"id": "idle", "capacity": 4}],
        products=[{"id": "A", "holding_cost": 1, "usage": {"line": 1}, "initial_inventory": 3}],
        segments=[
            {"name": "key", "priority": 1, "backlog_cost": 1, "lost_sales_cost": 2},
            {
                "name": "spot",
                "priority": 2,
                "backlog_cost": 1,
                "lost_sales_cost": 2,
                "min_fill_rate": 0.5,
            },
        ],
        demand=[],
        periods=["W1", "W2"],
        objective=objective,
    )
    res = solve(inst, SolveParams(solver=solver))
    assert res.status is Status.OPTIMAL
    assert res.objective == pytest.approx(6.0)
    assert res.table("shipments").empty
    assert res.table("segments")["demand"].tolist() == [0.0, 0.0]
