"""Safety-stock solve (optim.models.safety_stock.solve): Result, tables, pooling, method."""

from __future__ import annotations

import json
import math
import random
from statistics import NormalDist

import pytest
from _gsm_testlib import Z_ONE, random_network

from optim.errors import InstanceError
from optim.instances.safety_stock import SafetyStockInstance
from optim.models.safety_stock import prepare
from optim.models.safety_stock.solve import solve
from optim.params import SolveParams
from optim.status import Status


def two_stage(**demand: object) -> SafetyStockInstance:
    """A (T=2, h=1) -> B (T=1, h=2); one segment at B with z = 1, sigma = 1, mean 10.

    By hand: S_B = 0 and S_A in {0, 1, 2} costs sqrt(2 - S_A) + 2 sqrt(S_A + 1), i.e.
    3.414, 3.828, 3.464: optimum S_A = 0, cost 2 + sqrt(2).
    """
    d = {
        "stage": "B",
        "segment": "retail",
        "mean": 10.0,
        "std_dev": 1.0,
        "service_level": Z_ONE,
        "max_service_time": 0,
    }
    d.update(demand)
    return SafetyStockInstance(
        stages=[
            {"id": "A", "lead_time": 2, "holding_cost": 1.0},
            {"id": "B", "lead_time": 1, "holding_cost": 2.0},
        ],
        arcs=[{"source": "A", "target": "B"}],
        demands=[d],
    )


@pytest.mark.parametrize("method", ["auto", "dp", "mip", "pwl", "pwl_full"])
def test_hand_checked_two_stage(method: str) -> None:
    res = solve(two_stage(), SolveParams(method=method))
    assert res.status is Status.OPTIMAL and res.kind == "safety_stock"
    assert res.objective == pytest.approx(2 + math.sqrt(2), rel=1e-12)
    assert res.gap is not None and res.gap <= 1e-9
    st = res.table("stages").set_index("stage")
    assert list(st.columns) == [
        "inbound_service_time",
        "outbound_service_time",
        "net_replenishment_time",
        "safety_stock",
        "base_stock_level",
        "holding_cost",
        "decoupling_point",
    ]
    assert st.loc["A", "outbound_service_time"] == 0 and st.loc["B", "inbound_service_time"] == 0
    assert (
        st.loc["A", "net_replenishment_time"] == 2 and st.loc["B", "net_replenishment_time"] == 1
    )
    assert st.loc["A", "safety_stock"] == pytest.approx(math.sqrt(2))
    assert st.loc["A", "base_stock_level"] == pytest.approx(20 + math.sqrt(2))
    assert st.loc["B", "base_stock_level"] == pytest.approx(10 + 1)
    assert st.loc["B", "holding_cost"] == pytest.approx(2.0)
    assert bool(st.loc["A", "decoupling_point"]) and bool(st.loc["B", "decoupling_point"])
    dem = res.table("demands")
    assert dem.to_dict("records")[0]["promise"] == 0
    assert dem.loc[0, "z"] == pytest.approx(1.0, abs=1e-12)


def test_longer_promise_moves_stock_upstream() -> None:
    """Promise 3 >= L_B = 3: nothing needs to be held anywhere."""
    res = solve(two_stage(max_service_time=3))
    assert res.objective == pytest.approx(0.0, abs=1e-12)
    st = res.table("stages").set_index("stage")
    assert not st["decoupling_point"].any()


def test_segments_share_stock_tightest_promise_binds() -> None:
    """Strategic (promise 0) and standard (promise 3) at one stage: S_B <= 0, RSS pooling."""
    base = two_stage()
    z99 = NormalDist().inv_cdf(0.99)
    inst = base.model_validate(
        {
            **base.model_dump(),
            "demands": [
                {**base.demands[0].model_dump(), "segment": "strategic", "service_level": 0.99},
                {
                    **base.demands[0].model_dump(),
                    "segment": "standard",
                    "max_service_time": 3,
                    "std_dev": 2.0,
                },
            ],
            "pooling": "root_sum_square",
        }
    )
    res = solve(inst)
    k = math.sqrt(z99**2 + 2.0**2)  # root-sum-square of z_d sigma_d
    assert res.objective == pytest.approx(k * (2 + math.sqrt(2)), rel=1e-12)
    dem = res.table("demands").set_index("segment")
    assert dem.loc["strategic", "promise"] == 0 and dem.loc["standard", "promise"] == 3
    assert dem.loc["standard", "service_time"] == 0
    assert dem.loc["strategic", "z"] == pytest.approx(z99)


def test_pooling_rules() -> None:
    demands = [
        {
            "stage": "B",
            "segment": "a",
            "mean": 1,
            "std_dev": 3.0,
            "service_level": 0.95,
            "max_service_time": 0,
        },
        {
            "stage": "B",
            "segment": "b",
            "mean": 1,
            "std_dev": 4.0,
            "service_level": 0.8,
            "max_service_time": 0,
        },
    ]
    base = two_stage().model_dump()
    z = [NormalDist().inv_cdf(0.95), NormalDist().inv_cdf(0.8)]
    expected = {
        "root_sum_square": math.hypot(3 * z[0], 4 * z[1]),
        "additive": 3 * z[0] + 4 * z[1],
        "max_z": max(z) * 5.0,
    }
    for pooling, k in expected.items():
        inst = SafetyStockInstance.model_validate({**base, "demands": demands, "pooling": pooling})
        data = prepare(inst)
        assert data.k[1] == pytest.approx(k, rel=1e-12)
        assert data.k[0] == pytest.approx(k, rel=1e-12)  # quantity 1: A covers the same demand
    assert expected["root_sum_square"] <= expected["additive"]


def test_quantities_scale_upstream_coverage() -> None:
    """phi multiplies quantities along paths and sums over paths (diamond A->B,C->D)."""
    inst = SafetyStockInstance(
        stages=[{"id": s, "lead_time": 1, "holding_cost": 1.0} for s in "ABCD"],
        arcs=[
            {"source": "A", "target": "B", "quantity": 2},
            {"source": "A", "target": "C", "quantity": 3},
            {"source": "B", "target": "D", "quantity": 1},
            {"source": "C", "target": "D", "quantity": 0.5},
        ],
        demands=[
            {
                "stage": "D",
                "segment": "x",
                "mean": 4,
                "std_dev": 1,
                "service_level": 0.9,
                "max_service_time": 0,
            }
        ],
    )
    data = prepare(inst)
    phi = dict(zip(data.ids, data.phi.toarray()[:, 0].tolist(), strict=True))
    assert phi == {"A": 2 * 1 + 3 * 0.5, "B": 1.0, "C": 0.5, "D": 1.0}
    assert data.mean[0] == pytest.approx(4 * 3.5)
    res = solve(inst)
    assert res.status is Status.OPTIMAL and res.info["method"] == "assignment"


def test_result_json_is_deterministic() -> None:
    inst = random_network(random.Random(3), 8, extra_arcs=3)
    a = solve(inst).to_json()
    b = solve(inst).to_json()
    assert a == b
    doc = json.loads(a)
    assert doc["kind"] == "safety_stock" and len(doc["stages"]) == 8


def test_bad_method_and_dp_on_dag() -> None:
    inst = random_network(random.Random(4), 6, extra_arcs=3)
    with pytest.raises(
        InstanceError, match=r"params\.method 'magic' is not available for safety_stock"
    ):
        solve(inst, SolveParams(method="magic"))
    with pytest.raises(InstanceError, match="method 'dp' needs a spanning tree"):
        solve(inst, SolveParams(method="dp"))
    with pytest.raises(InstanceError, match="solver 'cpsat' is not available"):
        solve(inst, SolveParams(solver="cpsat"))


def test_external_service_time_and_stage_bound() -> None:
    """s^e delays the supply; a stage bound max_service_time caps S at an inner stage."""
    base = two_stage(max_service_time=3).model_dump()
    base["stages"][0]["external_service_time"] = 2
    base["stages"][0]["max_service_time"] = 1
    inst = SafetyStockInstance.model_validate(base)
    res = solve(inst)
    st = res.table("stages").set_index("stage")
    assert st.loc["A", "inbound_service_time"] == 2
    assert st.loc["A", "outbound_service_time"] <= 1
    # by hand: S_A = 1 -> tau_A = 3, SI_B = 1, S_B = min(3, 1 + 1) = 2 -> tau_B = 0
    # S_A = 0 -> tau_A = 4 (cost 2), B: SI 0, S_B <= 1, tau_B >= 0 ... cost of best option:
    options = [
        math.sqrt(2 + 2 - sa) + 2 * math.sqrt(max(sa + 1 - min(3, sa + 1), 0)) for sa in (0, 1)
    ]
    assert res.objective == pytest.approx(min(options), rel=1e-12)


@pytest.mark.parametrize("method", ["assignment", "pwl"])
def test_time_limit_returns_incumbent_with_gap(method: str, monkeypatch) -> None:
    """A time limit that expires before the LP/MIP still returns the relaxation's point."""
    from optim import clock

    monkeypatch.setattr(clock, "MIN_BUDGET", 0.0)  # the limit itself, no floor

    inst = random_network(random.Random(8), 30, extra_arcs=25, max_lead=6)
    res = solve(inst, SolveParams(method=method, time_limit=1e-9))
    assert res.has_solution()
    if res.status is not Status.OPTIMAL:  # the relaxation alone may already prove it
        assert res.status in (Status.TIME_LIMIT, Status.FEASIBLE)
        assert res.bound is not None and res.bound <= res.objective
        assert res.gap is not None and res.gap > 0
    full = solve(inst, SolveParams(method=method))
    assert full.status is Status.OPTIMAL
    assert full.objective <= res.objective + 1e-9
    assert res.bound <= full.objective + 1e-9
