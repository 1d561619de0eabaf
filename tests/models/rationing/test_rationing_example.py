"""The hand-checkable example (see the ``weekly`` fixture) and the result document."""

from __future__ import annotations

import json

import pytest

import optim
from optim import SolveParams, Status, clock

EXPECTED = {"L1": 60, "L2": 40, "L3": 18.75, "L4": 11.25, "L5": 0, "G1": 30, "G2": 20, "G3": 0}


@pytest.mark.parametrize("solver", ["highs", "pyomo"])
def test_hand_computed_allocation(weekly, solver):
    res = optim.solve(weekly, SolveParams(solver=solver))
    assert res.status is Status.OPTIMAL
    got = res.table("lines").set_index("demand_id")["allocated"].to_dict()
    assert got == pytest.approx(EXPECTED, abs=1e-6)
    assert res.objective == pytest.approx(180)


def test_explanations_name_the_rule(weekly):
    lines = optim.solve(weekly).table("lines").set_index("demand_id")
    assert lines.loc["L1", "explanation"] == "tier 1: served in full"
    assert "proportional share: fill rate 0.375" in lines.loc["L4", "explanation"]
    assert "DC2" in lines.loc["L4", "explanation"]
    assert "after tier 1" in lines.loc["L3", "explanation"]
    assert lines.loc["L5", "stage"] == "nothing_left"
    assert "contractual minimum 15 guaranteed first" in lines.loc["G2", "explanation"]
    assert lines.loc["L3", "stage"] == "fair_share"


def test_routing_and_unallocated(weekly):
    res = optim.solve(weekly)
    alloc = res.table("allocations")
    by = alloc.groupby(["demand_id", "location"])["quantity"].sum().to_dict()
    # L2 must use DC1 so that the tier-2 line L4 (DC2 only) can get DC2 stock
    assert by == pytest.approx(
        {
            ("L1", "DC1"): 60,
            ("L2", "DC1"): 40,
            ("L3", "DC2"): 18.75,
            ("L4", "DC2"): 11.25,
            ("G1", "DC1"): 30,
            ("G2", "DC1"): 20,
        }
    )
    left = res.table("unallocated")
    assert left["unallocated"].sum() == pytest.approx(0.0)
    seg = res.table("segments").set_index("segment")
    assert seg.loc["standard", "fill_rate"] == pytest.approx(50 / 120)


def test_result_document_is_deterministic_and_complete(weekly, tmp_path):
    first = optim.solve(weekly).to_json()
    second = optim.solve(optim.load_example("weekly_rationing")).to_json()
    assert first == second
    doc = json.loads(first)
    for key in ("status", "objective", "allocations", "lines", "segments", "unallocated"):
        assert key in doc
    line = doc["lines"][0]
    for key in (
        "demand_id",
        "requested",
        "allocated",
        "fill_rate",
        "tier",
        "stage",
        "explanation",
    ):
        assert key in line


def test_round_trip_document(weekly):
    again = optim.from_dict(weekly.to_dict())
    assert optim.solve(again).to_json() == optim.solve(weekly).to_json()


def test_time_limit_without_solution_is_reported_not_raised(weekly, monkeypatch):
    monkeypatch.setattr(clock, "MIN_BUDGET", 0.0)  # the limit itself, without the floor
    res = optim.solve(weekly, SolveParams(time_limit=1e-9))
    assert res.status is Status.TIME_LIMIT
    assert not res.has_solution()
    with pytest.raises(optim.NoSolutionError):
        res.table("lines")
