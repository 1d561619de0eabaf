"""Shared checks of capacity results."""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd
import pytest

from optim.instances.capacity import CapacityInstance
from optim.result import Result


def cost_from_tables(inst: CapacityInstance, res: Result) -> float:
    """The plan's cost recomputed from the result tables and the instance's prices alone.

    Independent of the solver's objective and of ``info["cost_terms"]``: each table row is
    priced with the instance's own numbers (holding per unit and period, overtime per hour,
    backlog per unit and period, lost sales per unit, routing unit cost, setup cost).
    """
    holding = {p.id: p.holding_cost for p in inst.products}
    setup = {p.id: p.setup_cost for p in inst.products}
    unit = {(p.id, g.id): g.unit_cost for p in inst.products for g in p.routing_list}
    ot = {r.id: r.overtime_cost for r in inst.resources}
    back = {s.name: s.backlog_cost for s in inst.segments}
    lost = {s.name: s.lost_sales_cost for s in inst.segments}
    t = res.tables

    def priced(name: str, key: str, value: str, price: dict) -> float:
        frame = t[name]
        return float((frame[value] * frame[key].map(price)).sum())

    cost = priced("inventory", "product", "inventory", holding)
    cost += priced("overtime", "resource", "hours", ot)
    cost += priced("backlog", "segment", "quantity", back)
    cost += priced("lost", "segment", "quantity", lost)
    prod = t["production"]
    keys = pd.Series(list(zip(prod["product"], prod["routing"], strict=True)), dtype=object)
    cost += float((prod["quantity"].to_numpy() * keys.map(unit).to_numpy()).sum())
    if "setups" in t:
        cost += sum(setup[p] for p in t["setups"]["product"])
    return float(cost)


@pytest.fixture(scope="session")
def table_cost() -> Callable[[CapacityInstance, Result], float]:
    return cost_from_tables


def capacity_changed(inst: CapacityInstance, r: int, t: int, delta: float) -> CapacityInstance:
    """``inst`` with ``delta`` more regular hours on resource ``r`` in period ``t``."""
    doc = inst.model_dump()
    res = doc["resources"][r]
    cap = res["capacity"]
    cap = dict(cap) if isinstance(cap, dict) else dict.fromkeys(inst.periods, cap)
    cap[inst.periods[t]] += delta
    res["capacity"] = cap
    return CapacityInstance.model_validate(doc)


@pytest.fixture(scope="session")
def with_capacity() -> Callable[[CapacityInstance, int, int, float], CapacityInstance]:
    return capacity_changed


def marginal_values_by_differences(
    inst: CapacityInstance,
    res: Result,
    objective: float,
    solve_objective: Callable[[CapacityInstance], float | None],
    every: int = 5,
) -> None:
    """Check ``res``'s marginal hour values against the cost's finite differences.

    Every ``every``-th (resource, period) cell: where the forward and backward differences of
    ``solve_objective`` around ``objective`` agree (no kink, so the dual is unique), the
    marginal value must equal -(d cost / d capacity); at least half the cells must be such,
    and at least one of them binding.
    """
    mv = res.table("marginal_values").set_index(["resource", "period"])["marginal_value"]
    h = 1e-3
    checked = binding = 0
    cells = [(r, t) for r in range(len(inst.resources)) for t in range(len(inst.periods))]
    for r, t in cells[::every]:
        up = solve_objective(capacity_changed(inst, r, t, h))
        down = solve_objective(capacity_changed(inst, r, t, -h))
        assert up is not None and down is not None
        fwd, bwd = (objective - up) / h, (down - objective) / h
        if abs(fwd - bwd) > 1e-6 * max(1.0, abs(fwd)):
            continue  # a kink: the dual is one of several subgradients
        value = mv[(inst.resources[r].id, inst.periods[t])]
        assert value == pytest.approx(fwd, rel=1e-5, abs=1e-5)
        checked += 1
        binding += fwd > 1e-6
    assert checked >= len(cells[::every]) // 2
    assert binding >= 1


@pytest.fixture(scope="session")
def marginal_check() -> Callable[..., None]:
    return marginal_values_by_differences
