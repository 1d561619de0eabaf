"""Pyomo reference formulation of the capacity model, stated exactly as in
:mod:`optim.models.capacity` (every variable, lost sales explicit, windows as rows).

It is built from the instance's records directly (no array reformulation), so that it checks
the fast path independently. :func:`build` returns the model; :func:`solution` reads solved
values back onto :class:`~optim.models.capacity.data.CapacityData` arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyomo.environ as pyo

from optim.instances.capacity import CapacityInstance
from optim.models.capacity.data import CapacityData, CapacitySolution


def _per_period(value: float | dict[str, float], periods: list[str]) -> dict[str, float]:
    if isinstance(value, dict):
        return {t: float(value[t]) for t in periods}
    return dict.fromkeys(periods, float(value))


def build(instance: CapacityInstance, *, lot_sizing: bool | None = None) -> pyo.ConcreteModel:
    """The capacity model as a Pyomo ``ConcreteModel``.

    Components: variables ``x[p, j, t]``, ``o[r, t]``, ``inv[p, t]``, ``y[p, s, t]``,
    ``backlog[p, s, t]``, ``lost[p, s, t]`` (and ``z[p, j, t]`` with lot sizing);
    constraints ``inventory_balance``, ``backlog_balance``, ``backlog_window``,
    ``backlog_end``, ``capacity[r, t]``, ``fill_floor[s]``; expressions ``total_cost`` and
    ``shortfall[g]`` per priority ``g``; the active objective ``obj`` minimises
    ``total_cost``. A ``dual`` import suffix is attached to the LP (not the MIP).
    """
    lot = instance.lot_sizing if lot_sizing is None else lot_sizing
    T = list(instance.periods)
    prev = {T[k]: (T[k - 1] if k else None) for k in range(len(T))}
    res = {r.id: r for r in instance.resources}
    cap = {r.id: _per_period(r.capacity, T) for r in instance.resources}
    otcap = {r.id: _per_period(r.overtime_capacity, T) for r in instance.resources}
    prods = {p.id: p for p in instance.products}
    routes = [(p.id, g.id) for p in instance.products for g in p.routing_list]
    usage = {(p.id, g.id): g.usage for p in instance.products for g in p.routing_list}
    rcost = {(p.id, g.id): g.unit_cost for p in instance.products for g in p.routing_list}
    segs = {s.name: s for s in instance.segments}
    dem: dict[tuple[str, str, str], float] = {}
    pairs: list[tuple[str, str]] = []
    for row in instance.demand:
        dem[(row.product, row.segment, row.period)] = row.quantity
        if (row.product, row.segment) not in pairs:
            pairs.append((row.product, row.segment))
    pairs.sort(key=lambda k: (list(prods).index(k[0]), list(segs).index(k[1])))

    def d(p: str, s: str, t: str) -> float:
        return dem.get((p, s, t), 0.0)

    m = pyo.ConcreteModel(name="capacity")
    m.T = pyo.Set(initialize=T, ordered=True)
    m.ROUTE = pyo.Set(initialize=routes, dimen=2, ordered=True)
    m.PAIR = pyo.Set(initialize=pairs, dimen=2, ordered=True)
    m.R = pyo.Set(initialize=list(res), ordered=True)
    m.P = pyo.Set(initialize=list(prods), ordered=True)

    m.x = pyo.Var(m.ROUTE, m.T, domain=pyo.NonNegativeReals)
    m.o = pyo.Var(m.R, m.T, bounds=lambda _, r, t: (0.0, otcap[r][t]))
    m.inv = pyo.Var(m.P, m.T, bounds=lambda _, p, t: (0.0, prods[p].max_inventory))
    m.y = pyo.Var(m.PAIR, m.T, domain=pyo.NonNegativeReals)
    m.backlog = pyo.Var(m.PAIR, m.T, domain=pyo.NonNegativeReals)
    m.lost = pyo.Var(m.PAIR, m.T, domain=pyo.NonNegativeReals)

    def inventory_balance(m: Any, p: str, t: str) -> Any:
        before = prods[p].initial_inventory if prev[t] is None else m.inv[p, prev[t]]
        made = sum(m.x[p, j, t] for (q, j) in routes if q == p)
        shipped = sum(m.y[q, s, t] for (q, s) in pairs if q == p)
        return m.inv[p, t] == before + made - shipped

    m.inventory_balance = pyo.Constraint(m.P, m.T, rule=inventory_balance)

    def backlog_balance(m: Any, p: str, s: str, t: str) -> Any:
        before = 0.0 if prev[t] is None else m.backlog[p, s, prev[t]]
        return m.backlog[p, s, t] == before + d(p, s, t) - m.y[p, s, t] - m.lost[p, s, t]

    m.backlog_balance = pyo.Constraint(m.PAIR, m.T, rule=backlog_balance)

    def backlog_window(m: Any, p: str, s: str, t: str) -> Any:
        k = segs[s].max_backlog_periods
        pos = T.index(t)
        window = sum(d(p, s, T[q]) for q in range(max(0, pos - k + 1), pos + 1)) if k else 0.0
        return m.backlog[p, s, t] <= window

    m.backlog_window = pyo.Constraint(m.PAIR, m.T, rule=backlog_window)
    m.backlog_end = pyo.Constraint(m.PAIR, rule=lambda m, p, s: m.backlog[p, s, T[-1]] == 0)

    def capacity(m: Any, r: str, t: str) -> Any:
        load = sum(usage[pj].get(r, 0.0) * m.x[pj[0], pj[1], t] for pj in routes)
        return load <= cap[r][t] + m.o[r, t]

    m.capacity = pyo.Constraint(m.R, m.T, rule=capacity)

    floors = [s for s in segs if segs[s].min_fill_rate is not None]
    m.FLOOR = pyo.Set(initialize=floors, ordered=True)

    def fill_floor(m: Any, s: str) -> Any:
        if not any(q == s for (_, q) in pairs):
            return pyo.Constraint.Skip  # no demand: the floor holds
        served = sum(m.y[p, q, t] for (p, q) in pairs if q == s for t in T)
        total = sum(d(p, q, t) for (p, q) in pairs if q == s for t in T)
        return served >= segs[s].min_fill_rate * total

    m.fill_floor = pyo.Constraint(m.FLOOR, rule=fill_floor)

    setup = 0.0
    if lot:
        zr = [pj for pj in routes if prods[pj[0]].setup_cost > 0 or prods[pj[0]].min_lot_size > 0]
        m.ZR = pyo.Set(initialize=zr, dimen=2, ordered=True)
        m.z = pyo.Var(m.ZR, m.T, domain=pyo.Binary)

        def most(pj: tuple[str, str], t: str) -> float:
            return min((cap[r][t] + otcap[r][t]) / h for r, h in usage[pj].items() if h > 0)

        m.lot_max = pyo.Constraint(
            m.ZR, m.T, rule=lambda m, p, j, t: m.x[p, j, t] <= most((p, j), t) * m.z[p, j, t]
        )
        m.lot_min = pyo.Constraint(
            m.ZR,
            m.T,
            rule=lambda m, p, j, t: m.x[p, j, t] >= prods[p].min_lot_size * m.z[p, j, t],
        )
        setup = sum(prods[p].setup_cost * m.z[p, j, t] for (p, j) in zr for t in T)

    m.total_cost = pyo.Expression(
        expr=sum(prods[p].holding_cost * m.inv[p, t] for p in prods for t in T)
        + sum(res[r].overtime_cost * m.o[r, t] for r in res for t in T)
        + sum(
            segs[s].backlog_cost * m.backlog[p, s, t] + segs[s].lost_sales_cost * m.lost[p, s, t]
            for (p, s) in pairs
            for t in T
        )
        + sum(rcost[pj] * m.x[pj[0], pj[1], t] for pj in routes for t in T)
        + setup
    )
    prios = sorted({s.priority for s in instance.segments})
    m.PRIO = pyo.Set(initialize=prios, ordered=True)
    m.shortfall = pyo.Expression(
        m.PRIO,
        rule=lambda m, g: sum(
            segs[s].backlog_cost * m.backlog[p, s, t] + segs[s].lost_sales_cost * m.lost[p, s, t]
            for (p, s) in pairs
            if segs[s].priority == g
            for t in T
        ),
    )
    m.stages = pyo.ConstraintList()
    m.obj = pyo.Objective(expr=m.total_cost, sense=pyo.minimize)
    if not hasattr(m, "z"):  # duals exist for the LP only
        m.dual = pyo.Suffix(direction=pyo.Suffix.IMPORT)
    return m


def solution(m: pyo.ConcreteModel, data: CapacityData) -> CapacitySolution:
    """Read the solved values of ``m`` onto the arrays of ``data``."""
    nt, nr, np_, _, nj, nk = data.shape
    T = data.periods

    def val(v: Any) -> float:
        x = pyo.value(v, exception=False)
        return 0.0 if x is None else float(x)

    prod = np.array(
        [
            [val(m.x[data.products[data.route_product[j]], data.route_ids[j], t]) for t in T]
            for j in range(nj)
        ]
    ).reshape(nj, nt)
    over = np.array([[val(m.o[r, t]) for t in T] for r in data.resources]).reshape(nr, nt)
    inv = np.array([[val(m.inv[p, t]) for t in T] for p in data.products]).reshape(np_, nt)
    keys = [
        (data.products[p], data.segments[s])
        for p, s in zip(data.pair_product, data.pair_segment, strict=True)
    ]
    y = np.array([[val(m.y[p, s, t]) for t in T] for p, s in keys]).reshape(nk, nt)
    b = np.array([[val(m.backlog[p, s, t]) for t in T] for p, s in keys]).reshape(nk, nt)
    lost = np.array([[val(m.lost[p, s, t]) for t in T] for p, s in keys]).reshape(nk, nt)
    setups = None
    if hasattr(m, "z"):
        setups = np.zeros((nj, nt))
        for j in range(nj):
            key = (data.products[data.route_product[j]], data.route_ids[j])
            if key in m.ZR:
                setups[j] = [round(val(m.z[key[0], key[1], t])) for t in T]
    elif data.lot_sizing:
        setups = np.zeros((nj, nt))
    return CapacitySolution(
        production=np.maximum(prod, 0.0),
        overtime=np.maximum(over, 0.0),
        inventory=np.maximum(inv, 0.0),
        shipments=np.maximum(y, 0.0),
        backlog=np.maximum(b, 0.0),
        lost=np.maximum(lost, 0.0),
        setups=setups,
    )


def capacity_duals(m: pyo.ConcreteModel, data: CapacityData) -> np.ndarray:
    """``(R, T)`` duals of the capacity rows from the ``dual`` suffix (0 where missing)."""
    return np.array(
        [[float(m.dual.get(m.capacity[r, t], 0.0)) for t in data.periods] for r in data.resources]
    ).reshape(len(data.resources), len(data.periods))
