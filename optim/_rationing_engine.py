"""The staged rationing algorithm on arrays (see :mod:`optim.models.rationing` for the math).

Components of the line–cell graph are independent; they are packed into blocks of about
``BLOCK_SIZE`` arcs + lines and each block runs the stages as block-diagonal LPs. Simplex work
grows faster than linearly with LP size, so blocks beat one monolithic LP by a wide margin.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from optim.models.rationing.arrays import Problem
from optim.models.rationing.lp import Block, Change, Levels, build

__all__ = ["Block", "EngineError", "Outcome", "allocate"]
from optim.params import SolveParams
from optim.solvers import highs
from optim.status import Status

BLOCK_SIZE = 30_000
QUANTUM = 1e-6  # reporting grid of allocated quantities (units)

# stage codes per line (what decided its quantity)
NO_STOCK, FULL, CAPPED, FAIR, ZERO_LEFT, INTEGER = range(6)


class EngineError(RuntimeError):
    """A stage LP did not solve to optimality (carries the status)."""

    def __init__(self, status: Status, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Outcome:
    """Per-line and per-arc result of the staged algorithm."""

    alloc: NDArray[np.float64]
    flow: NDArray[np.float64]
    floor: NDArray[np.float64]
    stage: NDArray[np.int64]
    level: NDArray[np.float64]  # a_i / w_i at which a fair-share line froze (nan otherwise)
    min_stage: NDArray[np.int64]
    status: Status = Status.OPTIMAL
    lp_count: int = 0
    notes: list[str] = field(default_factory=list)


class _Clock:
    def __init__(self, params: SolveParams) -> None:
        self.deadline = (
            None if params.time_limit is None else time.perf_counter() + params.time_limit
        )

    def remaining(self) -> float | None:
        if self.deadline is None:
            return None
        left = self.deadline - time.perf_counter()
        if left <= 0:
            raise EngineError(Status.TIME_LIMIT, "time limit reached")
        return left


def _tol(values: NDArray[np.float64]) -> NDArray[np.float64]:
    return 1e-7 * np.maximum(1.0, np.abs(values))


class _Runner:
    def __init__(self, params: SolveParams) -> None:
        self.params = params
        self.clock = _Clock(params)
        self.lp_count = 0

    def solve(self, lp: highs.LinearProgram, *, duals: bool = False) -> highs.RawSolution:
        sol = highs.solve(lp, self.params, time_limit=self.clock.remaining(), want_duals=duals)
        self.lp_count += 1
        if sol.status is not Status.OPTIMAL or sol.x is None:
            raise EngineError(sol.status, sol.message or f"stage LP ended {sol.status.value}")
        return sol


def allocate(p: Problem, params: SolveParams) -> Outcome:
    """Run every stage on every block of components; returns per-line and per-arc values."""
    n, A = p.num_lines, p.num_arcs
    out = Outcome(
        alloc=np.zeros(n),
        flow=np.zeros(A),
        floor=np.zeros(n),
        stage=np.full(n, NO_STOCK, dtype=np.int64),
        level=np.full(n, np.nan),
        min_stage=np.full(n, -1, dtype=np.int64),
    )
    runner = _Runner(params)
    comp = p.line_component
    n_comp = int(max(comp.max(initial=-1), p.cell_component.max(initial=-1))) + 1
    arc_comp = comp[p.arc_line]
    line_order = np.argsort(comp, kind="stable")
    arc_order = np.argsort(arc_comp, kind="stable")
    cell_order = np.argsort(p.cell_component, kind="stable")
    lines_per = np.bincount(comp, minlength=n_comp)
    arcs_per = np.bincount(arc_comp, minlength=n_comp)
    cells_per = np.bincount(p.cell_component, minlength=n_comp)
    # components with lines and arcs only; others: nothing to decide
    size = np.where(arcs_per > 0, arcs_per + lines_per, 0)
    block_of = np.cumsum(size) // BLOCK_SIZE
    l_end, a_end, c_end = np.cumsum(lines_per), np.cumsum(arcs_per), np.cumsum(cells_per)
    local_line = np.empty(n, dtype=np.int64)
    local_cell = np.empty(p.num_cells, dtype=np.int64)
    starts = np.flatnonzero(np.r_[True, block_of[1:] != block_of[:-1]])
    ends = np.r_[starts[1:], n_comp]
    for c0, c1 in zip(starts, ends, strict=True):
        if size[c0:c1].sum() == 0:
            continue
        lo_l = l_end[c0 - 1] if c0 else 0
        lo_a = a_end[c0 - 1] if c0 else 0
        lo_c = c_end[c0 - 1] if c0 else 0
        gl = line_order[lo_l : l_end[c1 - 1]]
        ga = arc_order[lo_a : a_end[c1 - 1]]
        gc = cell_order[lo_c : c_end[c1 - 1]]
        _solve_block(p, out, runner, gl, ga, gc, local_line, local_cell)
    out.lp_count = runner.lp_count
    return out


def _solve_block(
    p: Problem,
    out: Outcome,
    runner: _Runner,
    gl: NDArray[np.int64],
    ga: NDArray[np.int64],
    gc: NDArray[np.int64],
    local_line: NDArray[np.int64],
    local_cell: NDArray[np.int64],
) -> None:
    local_line[gl] = np.arange(len(gl))
    local_cell[gc] = np.arange(len(gc))
    block = Block(
        num_lines=len(gl),
        arc_line=local_line[p.arc_line[ga]],
        arc_cell=local_cell[p.arc_cell[ga]],
        supply=p.supply[gc],
    )
    _, comp = np.unique(p.line_component[gl], return_inverse=True)
    tier = p.tier[gl]
    has_arc = np.bincount(block.arc_line, minlength=len(gl)) > 0
    cap = np.where(has_arc, p.cap[gl], 0.0)
    minimum = np.where(has_arc, p.minimum[gl], 0.0)
    floor = np.zeros(len(gl))
    if minimum.any():
        floor, min_stage, _ = _ration(
            runner, block, comp, tier, minimum, floor, p.rule_weight(p.minimum)[gl], p.num_tiers
        )
        out.min_stage[gl] = min_stage
        floor = np.minimum(floor, minimum)
    alloc, stage, level = _ration(
        runner, block, comp, tier, cap, floor, p.rule_weight(p.request)[gl], p.num_tiers
    )
    alloc = np.maximum(alloc, floor)
    flow = _route(runner, p, block, ga, alloc)
    out.floor[gl] = floor
    out.alloc[gl] = np.bincount(block.arc_line, flow, len(gl))
    out.flow[ga] = flow
    out.stage[gl] = np.where(has_arc, stage, NO_STOCK)
    out.level[gl] = level


def _line_sum(block: Block, x: NDArray[np.float64]) -> NDArray[np.float64]:
    return np.bincount(block.arc_line, x[: block.num_arcs], block.num_lines)


def _ration(
    runner: _Runner,
    block: Block,
    comp: NDArray[np.int64],
    tier: NDArray[np.int64],
    req: NDArray[np.float64],
    floor: NDArray[np.float64],
    weight: NDArray[np.float64],
    num_tiers: int,
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.float64]]:
    """Stages 1–2 on one block: lexicographic tier totals, then fair share in short tiers."""
    n = block.num_lines
    W = (num_tiers - tier + 1).astype(np.float64)
    sol = runner.solve(build(block, floor, req, W[block.arc_line], maximize=True).lp)
    a_max = _line_sum(block, sol.x)
    key = comp * num_tiers + (tier - 1)
    got = np.bincount(key, a_max)
    want = np.bincount(key, req)
    short = got < want - _tol(want)
    line_short = short[key] & (req > floor + _tol(req))
    alloc = np.where(line_short, floor, req)
    stage = np.where(req > 0, FULL, ZERO_LEFT)
    level = np.full(n, np.nan)
    for t in range(1, num_tiers + 1):
        todo = line_short & (tier == t)
        if not todo.any():
            continue
        comps = np.unique(comp[todo])
        in_s = np.isin(comp, comps)
        # later tiers of these components sit at their floors while tier t is shared out
        fixed = np.where(tier > t, floor, alloc)
        vals, lev = _leximin(runner, block, in_s, todo, fixed, floor, req, weight, comp)
        alloc[todo] = vals[todo]
        level[todo] = lev[todo]
        got = vals[todo]
        stage[todo] = np.where(
            got <= _tol(req[todo]), ZERO_LEFT, np.where(got >= req[todo] - _tol(req[todo]), FULL,
                                                        FAIR)
        )
    return alloc, stage, level


def _sub_block(block: Block, line_mask: NDArray[np.bool_]) -> tuple[Block, NDArray[np.int64],
                                                                    NDArray[np.int64]]:
    lines = np.flatnonzero(line_mask)
    arcs = np.flatnonzero(line_mask[block.arc_line])
    cells, cell_local = np.unique(block.arc_cell[arcs], return_inverse=True)
    local = np.full(block.num_lines, -1, dtype=np.int64)
    local[lines] = np.arange(len(lines))
    sub = Block(
        num_lines=len(lines),
        arc_line=local[block.arc_line[arcs]],
        arc_cell=cell_local.astype(np.int64),
        supply=block.supply[cells],
    )
    return sub, lines, arcs


def _leximin(
    runner: _Runner,
    block: Block,
    in_s: NDArray[np.bool_],
    todo: NDArray[np.bool_],
    fixed: NDArray[np.float64],
    floor: NDArray[np.float64],
    req: NDArray[np.float64],
    weight: NDArray[np.float64],
    comp: NDArray[np.int64],
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Progressive filling of the ``todo`` lines (others of ``in_s`` fixed at ``fixed``)."""
    sub, lines, _ = _sub_block(block, in_s)
    f, q, w = floor[lines], req[lines], weight[lines]
    active = todo[lines]
    value = fixed[lines].copy()
    value[active] = f[active]
    level = np.full(len(lines), np.nan)
    _, k_of = np.unique(comp[lines], return_inverse=True)
    lam_prev = np.zeros(int(k_of.max()) + 1)
    unfrozen = active & (q > f + _tol(q))
    value[active & ~unfrozen] = q[active & ~unfrozen]
    for _ in range(len(lines) + 2):
        if not unfrozen.any():
            break
        U = np.flatnonzero(unfrozen)
        ks, k_local = np.unique(k_of[U], return_inverse=True)
        cap = np.full(len(ks), np.inf)
        np.minimum.at(cap, k_local, q[U] / w[U])
        lo = value.copy()
        hi = value.copy()
        lo[U] = np.maximum(f[U], lam_prev[k_of[U]] * w[U])
        hi[U] = q[U]
        lp = build(
            sub, lo, hi, np.zeros(sub.num_arcs), maximize=True,
            levels=Levels(lines=U, weight=w[U], level=k_local, upper=cap),
        )
        sol = runner.solve(lp.lp, duals=True)
        assert sol.x is not None and sol.row_dual is not None
        lam = sol.x[lp.num_arcs : lp.num_arcs + lp.num_levels]
        dual = sol.row_dual[lp.level_rows]
        lam_line = lam[k_local]
        capped = q[U] / w[U] <= lam_line * (1 + 1e-9) + 1e-12
        blocked = (np.abs(dual) > 1e-9) & ~capped
        if not (capped.any() or blocked.any()):
            raise EngineError(Status.ERROR, "fair-share filling made no progress")
        value[U[capped]] = q[U[capped]]
        value[U[blocked]] = np.maximum(f[U[blocked]], lam_line[blocked] * w[U[blocked]])
        level[U[capped | blocked]] = lam_line[capped | blocked]
        unfrozen[U[capped | blocked]] = False
        lam_prev[ks] = lam
    out = fixed.copy()
    out[lines] = value
    lev = np.full(block.num_lines, np.nan)
    lev[lines] = level
    return out, lev


def _route(
    runner: _Runner, p: Problem, block: Block, ga: NDArray[np.int64], alloc: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Stage 4: fixed allocations, routed by lane cost, stability, then preference."""
    A = block.num_arcs
    multi = np.bincount(block.arc_line, minlength=block.num_lines) > 1
    if not multi.any():
        return _repair(block, alloc[block.arc_line].copy(), alloc)
    lo = np.maximum(0.0, alloc - 1e-9 * np.maximum(1.0, alloc))
    hi = alloc
    bounds: list[tuple[NDArray[np.float64], float, float]] = []
    change = None
    cost = p.arc_cost[ga]
    if np.any(cost > 0):
        sol = runner.solve(build(block, lo, hi, cost, maximize=False).lp)
        bounds.append((cost, 0.0, _keep(sol.objective)))
    if p.stability:
        prev = p.arc_previous[ga]
        has = np.flatnonzero(prev > 0)
        change = Change(arcs=has, previous=prev[has])
        c = (prev <= 0).astype(np.float64)
        sol = runner.solve(
            build(block, lo, hi, c, maximize=False, bounds=bounds, change=change,
                  change_cost=1.0).lp
        )
        bounds.append((c, 1.0, _keep(sol.objective)))
    sol = runner.solve(
        build(block, lo, hi, p.arc_rank[ga], maximize=False, bounds=bounds, change=change).lp
    )
    assert sol.x is not None
    return _repair(block, sol.x[:A], alloc)


def _keep(objective: float | None) -> float:
    value = float(objective or 0.0)
    return value + 1e-9 * max(1.0, abs(value))


def _repair(
    block: Block, flow: NDArray[np.float64], line_cap: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Snap flows to the reporting quantum and make supply and caps hold exactly.

    LP values carry ~1e-9 noise; quantities are reported on a grid of ``QUANTUM`` units.
    Rounding can overshoot a cell's supply or a line's cap by a few quanta: the excess is
    taken off the largest flow of that cell or line.
    """
    flow = np.round(np.maximum(flow, 0.0) / QUANTUM) * QUANTUM
    for owner, limit in ((block.arc_cell, block.supply), (block.arc_line, line_cap)):
        used = np.bincount(owner, flow, len(limit))
        excess = used - limit
        over = np.flatnonzero(excess > 0)
        if len(over):
            # largest arc per over-used owner
            arcs = np.flatnonzero(np.isin(owner, over))
            order = np.lexsort((-flow[arcs], owner[arcs]))
            first = arcs[order][np.r_[True, np.diff(owner[arcs][order]) != 0]]
            flow[first] = np.maximum(flow[first] - excess[owner[first]], 0.0)
    return flow
