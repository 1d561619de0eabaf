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
