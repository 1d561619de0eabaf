"""Array view of a capacity instance and of a solution (shared by both formulations)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from optim.instances.capacity import CapacityInstance

LEX_TOLERANCE = 1e-6
"""Relative tolerance kept on every finished lexicographic stage."""

F = NDArray[np.float64]
Int = NDArray[np.int64]


@dataclass(frozen=True)
class CapacityData:
    """The instance as arrays indexed by position (labels kept for the tables).

    Demand lives on *pairs* ``k`` = (product, segment) with any demand row:
    ``demand[k, t]`` is :math:`d_{pst}`.
    """

    periods: list[str]
    resources: list[str]
    products: list[str]
    segments: list[str]
    capacity: F  # (R, T)
    overtime_capacity: F  # (R, T)
    overtime_cost: F  # (R,)
    holding_cost: F  # (P,)
    initial_inventory: F  # (P,)
    max_inventory: F  # (P,), inf when none
    setup_cost: F  # (P,)
    min_lot_size: F  # (P,)
    route_product: Int  # (J,)
    route_ids: list[str]  # (J,)
    route_cost: F  # (J,)
    use_route: Int  # (U,) usage entries: routing, resource, hours
    use_resource: Int
    use_hours: F
    priority: Int  # (S,)
    backlog_cost: F
    lost_sales_cost: F
    max_backlog: Int
    min_fill_rate: F  # nan when none
    pair_product: Int  # (K,)
    pair_segment: Int  # (K,)
    demand: F  # (K, T)
    lot_sizing: bool
    objective: str
    unit: str = "units"  # what the quantities count, for the messages

    @property
    def shape(self) -> tuple[int, int, int, int, int, int]:
        """``(T, R, P, S, J, K)``."""
        return (
            len(self.periods),
            len(self.resources),
            len(self.products),
            len(self.segments),
            len(self.route_ids),
            len(self.pair_product),
        )

    def usage_matrix(self) -> F:
        """Dense ``(J, R)`` hours per unit (for small instances and reports)."""
        _, nr, _, _, nj, _ = self.shape
        a = np.zeros((nj, nr))
        np.add.at(a, (self.use_route, self.use_resource), self.use_hours)
        return a


@dataclass(frozen=True)
class CapacitySolution:
    """Primal values on the arrays of :class:`CapacityData` (zeros where no variable)."""

    production: F  # (J, T)
    overtime: F  # (R, T)
    inventory: F  # (P, T)
    shipments: F  # (K, T)
    backlog: F  # (K, T)
    lost: F  # (K, T)
    setups: F | None = None  # (J, T) when lot sizing


def from_instance(instance: CapacityInstance) -> CapacityData:
    """Vectorised arrays of ``instance`` (one pass over its records, no loop over demand)."""
    periods = list(instance.periods)
    nt = len(periods)
    pidx = {p: t for t, p in enumerate(periods)}
    rid = [r.id for r in instance.resources]
    ridx = {r: k for k, r in enumerate(rid)}

    def per_period(value: float | dict[str, float]) -> F:
        if isinstance(value, dict):
            out = np.empty(nt)
            for key, v in value.items():
                out[pidx[key]] = v
            return out
        return np.full(nt, float(value))

    cap = np.array([per_period(r.capacity) for r in instance.resources]).reshape(-1, nt)
    ot = np.array([per_period(r.overtime_capacity) for r in instance.resources]).reshape(-1, nt)
    route_product: list[int] = []
    route_ids: list[str] = []
    route_cost: list[float] = []
    use_route: list[int] = []
    use_res: list[int] = []
    use_h: list[float] = []
    for p, prod in enumerate(instance.products):
        for g in prod.routing_list:
            j = len(route_ids)
            route_product.append(p)
            route_ids.append(g.id)
            route_cost.append(g.unit_cost)
            for res, h in g.usage.items():
                if h > 0:
                    use_route.append(j)
                    use_res.append(ridx[res])
                    use_h.append(h)
    segs = instance.segments
    ns = len(segs)
    a = instance.demand_arrays
    key = a["product"] * ns + a["segment"]
    pairs, inverse = np.unique(key, return_inverse=True)
    demand = np.zeros((pairs.size, nt))
    demand[inverse, a["period"]] = a["quantity"]
    prods = instance.products
    return CapacityData(
        periods=periods,
        resources=rid,
        products=[p.id for p in prods],
        segments=[s.name for s in segs],
        capacity=cap,
        overtime_capacity=ot,
        overtime_cost=np.array([r.overtime_cost for r in instance.resources], dtype=float),
        holding_cost=np.array([p.holding_cost for p in prods], dtype=float),
        initial_inventory=np.array([p.initial_inventory for p in prods], dtype=float),
        max_inventory=np.array(
            [np.inf if p.max_inventory is None else p.max_inventory for p in prods], dtype=float
        ),
        setup_cost=np.array([p.setup_cost for p in prods], dtype=float),
        min_lot_size=np.array([p.min_lot_size for p in prods], dtype=float),
        route_product=np.array(route_product, dtype=np.int64),
        route_ids=route_ids,
        route_cost=np.array(route_cost, dtype=float),
        use_route=np.array(use_route, dtype=np.int64),
        use_resource=np.array(use_res, dtype=np.int64),
        use_hours=np.array(use_h, dtype=float),
        priority=np.array([s.priority for s in segs], dtype=np.int64),
        backlog_cost=np.array([s.backlog_cost for s in segs], dtype=float),
        lost_sales_cost=np.array([s.lost_sales_cost for s in segs], dtype=float),
        max_backlog=np.array([s.max_backlog_periods for s in segs], dtype=np.int64),
        min_fill_rate=np.array(
            [np.nan if s.min_fill_rate is None else s.min_fill_rate for s in segs], dtype=float
        ),
        pair_product=(pairs // ns).astype(np.int64),
        pair_segment=(pairs % ns).astype(np.int64),
        demand=demand,
        lot_sizing=instance.lot_sizing,
        objective=instance.objective,
        unit=instance.unit,
    )


def hours(data: CapacityData, production: F) -> F:
    """Hours used ``(R, T)`` by ``production`` ``(J, T)``."""
    _, nr, _, _, _, _ = data.shape
    out = np.zeros((nr, production.shape[1]))
    np.add.at(out, data.use_resource, data.use_hours[:, None] * production[data.use_route])
    return out


def cost_terms(data: CapacityData, sol: CapacitySolution) -> dict[str, float]:
    """Each term of the cost of ``sol`` (holding, overtime, backlog, lost, routing, setup)."""
    seg = data.pair_segment
    terms = {
        "holding": float(np.sum(data.holding_cost[:, None] * sol.inventory)),
        "overtime": float(np.sum(data.overtime_cost[:, None] * sol.overtime)),
        "backlog": float(np.sum(data.backlog_cost[seg][:, None] * sol.backlog)),
        "lost_sales": float(np.sum(data.lost_sales_cost[seg][:, None] * sol.lost)),
        "routing": float(np.sum(data.route_cost[:, None] * sol.production)),
        "setup": 0.0,
    }
    if sol.setups is not None:
        terms["setup"] = float(np.sum(data.setup_cost[data.route_product][:, None] * sol.setups))
    return terms


def shortfall_by_segment(data: CapacityData, sol: CapacitySolution) -> F:
    """Shortfall cost Σ (b_s B + ℓ_s L) of each segment ``(S,)``."""
    seg = data.pair_segment
    per_pair = data.backlog_cost[seg] * sol.backlog.sum(axis=1) + data.lost_sales_cost[
        seg
    ] * sol.lost.sum(axis=1)
    return np.bincount(seg, weights=per_pair, minlength=len(data.segments)).astype(np.float64)
