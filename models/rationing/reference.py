"""Staged rationing through the Pyomo reference formulation (the fast path's oracle).

Independent of :mod:`optim.models.rationing.engine` on purpose: tier totals are maximised one tier
at a time (not by the weighted polymatroid LP), fair shares use one global level and a
per-line "can it still grow?" LP (not duals), and it works on the whole instance at once.
Meant for small instances (tests, ``solver="pyomo"``).
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo
from numpy.typing import NDArray

from optim.models.rationing import engine
from optim.models.rationing import pyomo as ref
from optim.models.rationing.arrays import Problem
from optim.params import SolveParams
from optim.solvers import pyomo_highs
from optim.status import Status

TOL = 1e-7


def _solve(m: pyo.ConcreteModel, params: SolveParams) -> float:
    sol = pyomo_highs.solve(m, params)
    if sol.status is not Status.OPTIMAL or sol.objective is None:
        raise engine.EngineError(sol.status, sol.message or "reference stage failed")
    return sol.objective


def _alloc(m: pyo.ConcreteModel, n: int) -> NDArray[np.float64]:
    return np.array([pyo.value(m.alloc[i]) for i in range(n)])


def staged(
    p: Problem,
    req: NDArray[np.float64],
    floor: NDArray[np.float64],
    weight: NDArray[np.float64],
    params: SolveParams,
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.float64]]:
    """Tiers in order; in a short tier, leximin of ``a_i / weight_i`` by progressive filling."""
    n = p.num_lines
    has_arc = np.bincount(p.arc_line, minlength=n) > 0
    req = np.where(has_arc, req, 0.0)
    value = floor.copy()
    stage = np.where(req > 0, engine.FULL, engine.ZERO_LEFT)
    level = np.full(n, np.nan)
    for t in range(1, p.num_tiers + 1):
        tier = np.flatnonzero(p.tier == t)
        if len(tier) == 0:
            continue
        lo = np.where(p.tier < t, value, floor)
        hi = np.where(p.tier < t, value, floor)
        lo[tier], hi[tier] = floor[tier], req[tier]
        total = _solve(ref.maximise_total(ref.flow_model(p, lo, hi), tier), params)
        if total >= req[tier].sum() - TOL * max(1.0, req[tier].sum()):
            value[tier] = req[tier]
            continue
        frozen = req[tier] <= floor[tier] + TOL
        value[tier[frozen]] = req[tier[frozen]]
        lam_prev = 0.0
        while not frozen.all():
            U = tier[~frozen]
            lo = np.where(p.tier < t, value, floor)
            hi = lo.copy()
            lo[tier], hi[tier] = value[tier], value[tier]
            lo[U] = np.maximum(floor[U], lam_prev * weight[U])
            hi[U] = req[U]
            cap = float(np.min(req[U] / weight[U]))
            m = ref.add_level(ref.flow_model(p, lo, hi), U, weight[U], cap)
            m.obj = pyo.Objective(expr=m.lam, sense=pyo.maximize)
            lam = _solve(m, params)
            progressed = False
            for i in U:
                k = int(np.flatnonzero(tier == i)[0])
                if req[i] / weight[i] <= lam * (1 + 1e-9) + 1e-12:
                    value[i], frozen[k], level[i] = req[i], True, lam
                    progressed = True
                    continue
                m = ref.add_level(ref.flow_model(p, lo, hi), U, weight[U], cap, fixed=lam)
                m.obj = pyo.Objective(expr=m.alloc[int(i)], sense=pyo.maximize)
                best = _solve(m, params)
                if best <= max(floor[i], lam * weight[i]) + TOL * max(1.0, best):
                    value[i], frozen[k], level[i] = max(floor[i], lam * weight[i]), True, lam
                    progressed = True
            if not progressed:  # pragma: no cover - cannot happen for an exact LP oracle
                raise engine.EngineError(Status.ERROR, "reference filling made no progress")
            lam_prev = lam
        short = tier[value[tier] < req[tier] - TOL * np.maximum(1.0, req[tier])]
        stage[short] = np.where(value[short] <= TOL, engine.ZERO_LEFT, engine.FAIR)
    return value, stage, level


def route(
    p: Problem,
    alloc: NDArray[np.float64],
    params: SolveParams,
    closed: NDArray[np.bool_] | None = None,
) -> NDArray[np.float64]:
    """Fixed allocations; minimise lane cost, then change (stability), then preference rank.

    Each line may fall 1e-9 (relative) short of its allocation and each stage keeps the
    earlier criteria within 1e-9 (relative) of their optima: room for the solver's
    tolerances, which a later criterion may use (see :func:`criteria_optima`). ``closed``
    arcs carry nothing."""
    lo = np.maximum(0.0, alloc - 1e-9 * np.maximum(1.0, alloc))
    keep: list[tuple[NDArray[np.float64], NDArray[np.float64] | None, float]] = []
    stages: list[tuple[NDArray[np.float64], NDArray[np.float64] | None]] = []
    if np.any(p.arc_cost > 0):
        stages.append((p.arc_cost, None))
    if p.stability:
        stages.append((np.zeros(p.num_arcs), p.arc_previous))
    stages.append((p.arc_rank, None))
    m = None
    for cost, prev in stages:
        m = _stage(p, lo, alloc, keep, cost, prev)
        for a in np.flatnonzero(closed) if closed is not None else ():
            m.x[int(a)].fix(0.0)
        best = _solve(m, params)
        keep.append((cost, prev, best + 1e-9 * max(1.0, abs(best))))
    assert m is not None
    return np.array([max(pyo.value(m.x[a]), 0.0) for a in range(p.num_arcs)])


def criteria_optima(
    p: Problem, alloc: NDArray[np.float64], held: NDArray[np.float64], params: SolveParams
) -> NDArray[np.float64]:
    """The three routing criteria's optima, each with the earlier ones held at ``held``.

    Criterion ``k`` (lane cost, change against ``previous`` — 0 without ``stability`` —,
    preference rank) is minimised with every line at exactly its allocation and criteria
    ``j < k`` at most ``held[j]`` (no slack). With ``held`` a routing's own criteria, the
    routing is lexicographically optimal exactly when each optimum equals its criterion: the
    lexicographic check of a routing with no tolerance spent on the earlier criteria.
    """
    stages = [(p.arc_cost, None), (np.zeros(p.num_arcs), p.arc_previous), (p.arc_rank, None)]
    keep: list[tuple[NDArray[np.float64], NDArray[np.float64] | None, float]] = []
    out = np.zeros(3)
    for k, (cost, prev) in enumerate(stages):
        if (k == 0 and not np.any(p.arc_cost != 0)) or (k == 1 and not p.stability):
            continue  # the criterion is 0 for every routing
        out[k] = _solve(_stage(p, alloc, alloc, keep, cost, prev), params)
        keep.append((cost, prev, float(held[k])))
    return out


def _stage(
    p: Problem,
    lo: NDArray[np.float64],
    alloc: NDArray[np.float64],
    keep: list[tuple[NDArray[np.float64], NDArray[np.float64] | None, float]],
    cost: NDArray[np.float64],
    prev: NDArray[np.float64] | None,
) -> pyo.ConcreteModel:
    """One routing LP: lines within ``[lo, alloc]``, the ``keep`` criteria bounded, minimise
    ``cost`` (the change against ``prev`` when given)."""
    m = ref.flow_model(p, lo, alloc)
    for j, (c, pv, bound) in enumerate(keep):
        setattr(m, f"keep{j}", pyo.Constraint(expr=_cost_expr(m, c, pv, f"k{j}") <= bound))
    m.obj = pyo.Objective(expr=_cost_expr(m, cost, prev, "obj"), sense=pyo.minimize)
    return m


def _cost_expr(
    m: pyo.ConcreteModel, cost: NDArray[np.float64], prev: NDArray[np.float64] | None, tag: str
) -> pyo.Expression:
    if prev is None:
        return sum(float(cost[a]) * m.x[a] for a in m.E if cost[a])
    block = pyo.Block()
    m.add_component(f"change_{tag}", block)
    block.dev = pyo.Var(m.E, domain=pyo.NonNegativeReals)
    block.pos = pyo.Constraint(m.E, rule=lambda b, a: b.dev[a] >= m.x[a] - float(prev[a]))
    block.neg = pyo.Constraint(m.E, rule=lambda b, a: b.dev[a] >= float(prev[a]) - m.x[a])
    return sum(block.dev[a] for a in m.E)


def allocate(p: Problem, params: SolveParams) -> engine.Outcome:
    """The reference counterpart of :func:`optim.models.rationing.engine.allocate`."""
    n = p.num_lines
    if np.any(p.lot > 0) or p.all_or_nothing.any():
        from optim.errors import InstanceError

        raise InstanceError(
            "solver 'pyomo' (the LP reference) does not implement lot_size / all_or_nothing; "
            "use solver 'auto' or 'highs'",
            field="solver",
        )
    floor = np.zeros(n)
    if p.minimum.any():
        floor, _, _ = staged(p, p.minimum, np.zeros(n), p.rule_weight(p.minimum), params)
        floor = np.minimum(floor, p.minimum)
    alloc, stage, level = staged(p, p.cap, floor, p.rule_weight(p.request), params)
    alloc = np.maximum(alloc, floor)
    # the quanta reported (the grid rule of engine._route), routed as such; arcs of a line
    # after a short one at the same cell (a lower tier, or a higher fair-share ratio) carry
    # nothing in every exact answer, so the quanta flooring the short line's share frees
    # stay at its cell (a tier-2 line took such a quantum and the tier check withheld it)
    share = np.minimum(engine.snap(alloc), p.cap)
    block = engine.Block(num_lines=n, arc_line=p.arc_line, arc_cell=p.arc_cell, supply=p.supply)
    closed, _, _ = engine._dominated(p, block, np.arange(p.num_arcs), share, p.cap, floor)
    alloc = engine.floor_to_grid(share)
    x = route(p, alloc, params, closed)
    flow = engine._repair(block, x, alloc, p.tier + 0.5 * engine.off_grid(alloc), closed)
    has_arc = np.bincount(p.arc_line, minlength=n) > 0
    return engine.Outcome(
        alloc=engine.grid_sum(p.arc_line, flow, n),
        flow=flow,
        floor=floor,
        stage=np.where(has_arc, stage, engine.NO_STOCK),
        level=level,
    )
