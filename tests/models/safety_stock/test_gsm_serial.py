"""Serial chains by the O(N^2) extreme-point DP: equal to the general tree DP, and fast."""

from __future__ import annotations

import random
import time
from typing import Any

import numpy as np
import pytest

from optim.instances.safety_stock import SafetyStockInstance
from optim.models.safety_stock import normalize, prepare, tree_dp
from optim.models.safety_stock.serial import serial_chain_order, solve_serial_chain
from optim.models.safety_stock.solve import solve
from optim.params import SolveParams
from optim.status import Status


def _chain(rng: random.Random, n: int, *, promise: int, external: int) -> dict[str, Any]:
    ids = [f"s{i}" for i in range(n)]
    rng.shuffle(ids)  # stage order in the document is not the path order
    return {
        "kind": "safety_stock",
        "stages": [
            {
                "id": sid,
                "lead_time": rng.randint(0, 6),
                "holding_cost": round(rng.uniform(0.0, 3.0), 3),
                **({"external_service_time": external} if sid == "s0" else {}),
            }
            for sid in ids
        ],
        "arcs": [
            {"source": f"s{i}", "target": f"s{i + 1}", "quantity": rng.choice([1, 2, 0.5])}
            for i in range(n - 1)
        ],
        "demands": [
            {
                "stage": f"s{n - 1}",
                "segment": "g",
                "mean": 10,
                "std_dev": rng.uniform(1, 5),
                "service_level": 0.95,
                "max_service_time": promise,
            }
        ],
    }


@pytest.mark.parametrize("seed", range(40))
def test_serial_fast_path_equals_the_tree_dp(seed: int) -> None:
    rng = random.Random(seed)
    n = rng.randint(2, 25)
    doc = _chain(rng, n, promise=rng.choice([0, 0, 1, 3, 8, 30]), external=rng.choice([0, 0, 2]))
    data = prepare(SafetyStockInstance.model_validate(doc))
    path = serial_chain_order(data)
    assert path is not None
    cost, out = solve_serial_chain(data, path)
    exact = tree_dp(data)
    assert cost == pytest.approx(exact.cost, rel=1e-9, abs=1e-9)
    assert normalize(data, out).cost == pytest.approx(cost, rel=1e-9, abs=1e-9)


def test_fast_path_declines_what_it_does_not_cover() -> None:
    rng = random.Random(1)
    doc = _chain(rng, 5, promise=0, external=0)
    for st in doc["stages"]:
        if st["id"] == "s1":
            st.update(lead_time=2, max_service_time=0)  # an inner bound that binds
    assert serial_chain_order(prepare(SafetyStockInstance.model_validate(doc))) is None
    doc = _chain(rng, 5, promise=0, external=0)
    doc["arcs"].append({"source": "s0", "target": "s4"})  # not a path
    assert serial_chain_order(prepare(SafetyStockInstance.model_validate(doc))) is None


def test_5000_stage_serial_chain_is_solved_exactly_and_fast() -> None:
    rng = np.random.default_rng(0)
    n = 5000
    doc = {
        "kind": "safety_stock",
        "stages": [
            {"id": f"s{i}", "lead_time": int(rng.integers(1, 6)), "holding_cost": 1 + i / n}
            for i in range(n)
        ],
        "arcs": [{"source": f"s{i}", "target": f"s{i + 1}"} for i in range(n - 1)],
        "demands": [
            {
                "stage": f"s{n - 1}",
                "segment": "g",
                "mean": 10,
                "std_dev": 3,
                "service_level": 0.95,
                "max_service_time": 0,
            }
        ],
    }
    t0 = time.perf_counter()
    res = solve(SafetyStockInstance.model_validate(doc), SolveParams(time_limit=60))
    took = time.perf_counter() - t0
    assert res.status is Status.OPTIMAL and res.info["method"] == "serial"
    assert res.bound == res.objective
    assert took < 30  # the general DP needs ~5e11 cells here (hours, ~9 GB per stage)
