"""The staged rationing algorithm on arrays (see :mod:`optim.models.rationing` for the math).

Components of the line–cell graph are independent; they are packed into blocks of about
``BLOCK_SIZE`` arcs + lines and each block runs the stages as block-diagonal LPs. Simplex work
grows faster than linearly with LP size, so blocks beat one monolithic LP by a wide margin.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from typing import cast

import numpy as np
from numpy.typing import NDArray

from optim import executor
from optim.models.rationing.arrays import Problem
from optim.models.rationing.lp import (
    Block,
    Change,
    Deviation,
    Multiples,
    build,
    build_filling,
)

__all__ = ["Block", "EngineError", "Outcome", "allocate"]
from optim.params import SolveParams
from optim.solvers import highs
from optim.status import Status

BLOCK_SIZE = 10_000
PARALLEL_MIN_ARCS = 100_000  # below this, worker start-up costs more than it saves
QUANTUM = 1e-6  # reporting grid of allocated quantities (units)
GRID_TOL = 0.01  # in quanta: LP noise (~1e-9 units) is far below, real fractions above

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
    share: NDArray[np.float64] | None = None  # continuous fair share before integer rules
    lp_count: int = 0


class _Clock:
    def __init__(self, params: SolveParams, deadline: float | None = None) -> None:
        self.deadline = (
            deadline
            if deadline is not None or params.time_limit is None
            else time.perf_counter() + params.time_limit
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
    def __init__(self, params: SolveParams, deadline: float | None = None) -> None:
        self.params = params
        # quantities are reported on a 1e-6 grid: solve to 1e-9 so that snapping is exact
        tight = {
            "primal_feasibility_tolerance": 1e-9,
            "dual_feasibility_tolerance": 1e-9,
            "mip_feasibility_tolerance": 1e-9,
        }
        self.tight = params.model_copy(update={"solver_options": tight | params.solver_options})
        self.clock = _Clock(params, deadline)
        self.lp_count = 0

    def solve(self, lp: highs.LinearProgram, *, duals: bool = False) -> highs.RawSolution:
        sol = highs.solve(lp, self.tight, time_limit=self.clock.remaining(), want_duals=duals)
        self.lp_count += 1
        if sol.status is not Status.OPTIMAL or sol.x is None:
            raise EngineError(sol.status, sol.message or f"stage LP ended {sol.status.value}")
        return sol


@dataclass
class _BlockResult:
    floor: NDArray[np.float64]
    alloc: NDArray[np.float64]
    flow: NDArray[np.float64]
    stage: NDArray[np.int64]
    level: NDArray[np.float64]
    share: NDArray[np.float64] | None
    lp_count: int


def blocks(p: Problem) -> list[tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]]:
    """Whole components packed into blocks of about ``BLOCK_SIZE`` arcs + lines.

    Returns (lines, arcs, cells) per block, as global indices. Components without arcs (lines
    with no eligible stock) are left out: there is nothing to decide for them.
    """
    comp = p.line_component
    n_comp = int(max(comp.max(initial=-1), p.cell_component.max(initial=-1))) + 1
    arc_comp = comp[p.arc_line]
    line_order = np.argsort(comp, kind="stable")
    arc_order = np.argsort(arc_comp, kind="stable")
    cell_order = np.argsort(p.cell_component, kind="stable")
    lines_per = np.bincount(comp, minlength=n_comp)
    arcs_per = np.bincount(arc_comp, minlength=n_comp)
    cells_per = np.bincount(p.cell_component, minlength=n_comp)
    size = np.where(arcs_per > 0, arcs_per + lines_per, 0)
    block_of = np.cumsum(size) // BLOCK_SIZE
    l_end, a_end, c_end = np.cumsum(lines_per), np.cumsum(arcs_per), np.cumsum(cells_per)
    starts = np.flatnonzero(np.r_[True, block_of[1:] != block_of[:-1]])
    ends = np.r_[starts[1:], n_comp]
    out = []
    for c0, c1 in zip(starts, ends, strict=True):
        if size[c0:c1].sum() == 0:
            continue
        lo_l = l_end[c0 - 1] if c0 else 0
        lo_a = a_end[c0 - 1] if c0 else 0
        lo_c = c_end[c0 - 1] if c0 else 0
        out.append(
            (
                line_order[lo_l : l_end[c1 - 1]],
                arc_order[lo_a : a_end[c1 - 1]],
                cell_order[lo_c : c_end[c1 - 1]],
            )
        )
    return out


def _worker(task: tuple[Problem, SolveParams, float | None]) -> _BlockResult | EngineError:
    sub, params, wall_deadline = task
    # the deadline travels as wall-clock time: perf_counter is per machine
    deadline = None if wall_deadline is None else time.perf_counter() + wall_deadline - time.time()
    try:
        return _solve_block(sub, _Runner(params, deadline=deadline))
    except EngineError as exc:
        return exc


def allocate(p: Problem, params: SolveParams) -> Outcome:
    """Run every stage on every block of components; returns per-line and per-arc values.

    With ``params.threads > 1`` (or a Dask cluster in force, see :mod:`optim.executor`) and
    more than ``PARALLEL_MIN_ARCS`` arcs, blocks are solved by worker processes (each block
    sent as a small self-contained sub-problem). Blocks are independent and placed by index,
    so the result is the same for any executor and worker count.
    """
    n, A = p.num_lines, p.num_arcs
    out = Outcome(
        share=np.full(n, np.nan),
        alloc=np.zeros(n),
        flow=np.zeros(A),
        floor=np.zeros(n),
        stage=np.full(n, NO_STOCK, dtype=np.int64),
        level=np.full(n, np.nan),
    )
    todo = blocks(p)
    deadline = _Clock(params).deadline
    wall = None if deadline is None else time.time() + deadline - time.perf_counter()
    workers = min(params.threads, len(todo), os.cpu_count() or 1)
    cluster = executor.cluster_address()
    if A < PARALLEL_MIN_ARCS:
        workers, cluster = 1, None
    results = executor.fan_out(
        _worker,
        ((p.subset(gl, ga, gc), params, wall) for gl, ga, gc in todo),
        total=len(todo),
        workers=workers,
        cluster=cluster,
        desc="rationing blocks",
        stop=lambda res: isinstance(res, EngineError),
    )
    for (gl, ga, _), res in zip(todo, results, strict=False):
        if isinstance(res, EngineError):
            raise res
        out.floor[gl] = res.floor
        out.alloc[gl] = res.alloc
        out.flow[ga] = res.flow
        out.stage[gl] = res.stage
        out.level[gl] = res.level
        if res.share is not None:
            assert out.share is not None
            out.share[gl] = res.share
        out.lp_count += res.lp_count
    return out


def _solve_block(p: Problem, runner: _Runner) -> _BlockResult:
    """All stages on one block; ``p`` is the block's sub-problem (local indices)."""
    gl = np.arange(p.num_lines)
    ga = np.arange(p.num_arcs)
    block = Block(num_lines=p.num_lines, arc_line=p.arc_line, arc_cell=p.arc_cell, supply=p.supply)
    _, comp = np.unique(p.line_component[gl], return_inverse=True)
    tier = p.tier[gl]
    has_arc = np.bincount(block.arc_line, minlength=len(gl)) > 0
    cap = np.where(has_arc, p.cap[gl], 0.0)
    minimum = np.where(has_arc, p.minimum[gl], 0.0)
    floor = np.zeros(len(gl))
    if minimum.any():
        floor, _, _ = _ration(
            runner, block, comp, tier, minimum, floor, p.rule_weight(p.minimum)[gl], p.num_tiers
        )
        floor = np.minimum(floor, minimum)
    alloc, stage, level = _ration(
        runner, block, comp, tier, cap, floor, p.rule_weight(p.request)[gl], p.num_tiers
    )
    alloc = np.maximum(alloc, floor)
    integer = has_arc & ((p.lot[gl] > 0) | p.all_or_nothing[gl])
    share = None
    if integer.any():
        share = alloc
        alloc, stage = _integerize(
            runner,
            block,
            comp,
            tier,
            cap,
            floor,
            p.rule_weight(p.request)[gl],
            alloc,
            stage,
            p.lot[gl],
            p.all_or_nothing[gl] & has_arc,
            p.num_tiers,
        )
    flow = _route(runner, p, block, ga, alloc, cap)
    return _BlockResult(
        floor=floor,
        alloc=cast(NDArray[np.float64], np.bincount(block.arc_line, flow, len(gl))),
        flow=flow,
        stage=np.where(has_arc, stage, NO_STOCK),
        level=level,
        share=share,
        lp_count=runner.lp_count,
    )


def _line_sum(block: Block, x: NDArray[np.float64]) -> NDArray[np.float64]:
    # weighted bincount is float64 (numpy's stub says intp whatever the weights)
    return cast(
        NDArray[np.float64], np.bincount(block.arc_line, x[: block.num_arcs], block.num_lines)
    )


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
    sol = runner.solve(build(block, floor, req, W[block.arc_line], maximize=True))
    a_max = _line_sum(block, sol.x)
    key = comp * num_tiers + (tier - 1)
    got = np.bincount(key, a_max)
    want = cast(NDArray[np.float64], np.bincount(key, req))
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
            got <= _tol(req[todo]),
            ZERO_LEFT,
            np.where(got >= req[todo] - _tol(req[todo]), FULL, FAIR),
        )
    return alloc, stage, level


def _sub_block(block: Block, line_mask: NDArray[np.bool_]) -> tuple[Block, NDArray[np.int64]]:
    """The lines in ``line_mask`` (whole components) as a block; returns it and their indices."""
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
    return sub, lines


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
    """Progressive filling of the ``todo`` lines (others of ``in_s`` fixed at ``fixed``).

    Each round raises one level λ_k per component (one warm-started HiGHS model); lines whose
    level row has a non-zero dual are blocked in every optimum and freeze there, lines that
    reach their cap freeze at it. When fewer than half of the model's components are still
    rising, the model is rebuilt on those alone, so late rounds stay small.
    """
    value = np.where(todo, floor, fixed)
    level = np.full(block.num_lines, np.nan)
    lam_prev = np.zeros(block.num_lines)  # per line: level of its component so far
    unfrozen = todo & (req > floor + _tol(req))
    value[todo & ~unfrozen] = req[todo & ~unfrozen]
    rounds = 0
    while unfrozen.any():
        live = np.isin(comp, np.unique(comp[unfrozen]))
        rounds += _filling_phase(
            runner, block, live, unfrozen, value, level, lam_prev, floor, req, weight, comp
        )
        if rounds > block.num_lines + 2:  # pragma: no cover - each round freezes a line
            raise EngineError(Status.ERROR, "fair-share filling did not terminate")
    return value, level


def _filling_phase(
    runner: _Runner,
    block: Block,
    live: NDArray[np.bool_],
    unfrozen: NDArray[np.bool_],
    value: NDArray[np.float64],
    level: NDArray[np.float64],
    lam_prev: NDArray[np.float64],
    floor: NDArray[np.float64],
    req: NDArray[np.float64],
    weight: NDArray[np.float64],
    comp: NDArray[np.int64],
) -> int:
    """Rounds of progressive filling on the components in ``live``; updates in place."""
    sub, lines = _sub_block(block, live)
    f, q, w = floor[lines], req[lines], weight[lines]
    _, k_of = np.unique(comp[lines], return_inverse=True)
    K = int(k_of.max()) + 1
    free = unfrozen[lines].copy()
    rows_of = np.flatnonzero(free)
    lo = value[lines].copy()
    hi = lo.copy()
    lo[rows_of], hi[rows_of] = f[rows_of], q[rows_of]
    lp, lay = build_filling(sub, lo, hi, rows_of, w[rows_of], k_of[rows_of], K)
    session = highs.Session(lp, runner.tight)
    a0, lam0, z0 = lay.a.start, lay.lam.start, lay.z.start
    row_index = np.full(len(lines), -1, dtype=np.int64)
    row_index[rows_of] = np.arange(len(rows_of))
    rounds = 0
    while free.any():
        U = np.flatnonzero(free)
        if rounds and len(np.unique(k_of[U])) < K / 2:
            break  # rebuild on the components still rising
        cap = np.full(K, np.inf)
        np.minimum.at(cap, k_of[U], q[U] / w[U])
        cap = np.where(np.isfinite(cap), cap, 0.0)
        session.set_col_bounds(lam0 + np.arange(K), np.zeros(K), cap)
        session.set_col_bounds(a0 + U, np.maximum(f[U], lam_prev[lines[U]] * w[U]), q[U])
        sol = session.run(time_limit=runner.clock.remaining(), want_duals=True)
        runner.lp_count += 1
        rounds += 1
        if sol.status is not Status.OPTIMAL or sol.x is None or sol.row_dual is None:
            raise EngineError(sol.status, sol.message or "fair-share filling LP failed")
        lam = sol.x[lay.lam]
        dual = sol.row_dual[sub.num_cells + sub.num_lines + row_index[U]]
        lam_line = lam[k_of[U]]
        capped = q[U] / w[U] <= lam_line * (1 + 1e-9) + 1e-12
        blocked = (np.abs(dual) > 1e-9) & ~capped
        if not (capped.any() or blocked.any()):
            raise EngineError(Status.ERROR, "fair-share filling made no progress")
        done = U[capped | blocked]
        got = np.where(capped, q[U], np.maximum(f[U], lam_line * w[U]))[capped | blocked]
        value[lines[done]] = got
        level[lines[done]] = lam[k_of[done]]
        free[done] = False
        unfrozen[lines[done]] = False
        lam_prev[lines] = np.maximum(lam_prev[lines], lam[k_of])
        # frozen lines: fixed allocation, level row switched off
        session.set_col_bounds(a0 + done, got, got)
        session.set_col_bounds(
            z0 + row_index[done], np.zeros(len(done)), np.full(len(done), np.inf)
        )
    return rounds


def _integerize(
    runner: _Runner,
    block: Block,
    comp: NDArray[np.int64],
    tier: NDArray[np.int64],
    req: NDArray[np.float64],
    floor: NDArray[np.float64],
    weight: NDArray[np.float64],
    share: NDArray[np.float64],
    stage: NDArray[np.int64],
    lot: NDArray[np.float64],
    aon: NDArray[np.bool_],
    num_tiers: int,
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Stage 3: components with integer rules, tier by tier as MIPs.

    Per tier: maximise the tier total with every lot / all-or-nothing rule as integrality,
    then, keeping that total, minimise ``Σ |a_i − share_i| / w_i`` (distance to the
    continuous fair share). Earlier tiers stay fixed, later ones at their floors (rounded down
    to whole lots; an all-or-nothing floor counts only if it is the full amount).
    """
    integer = (lot > 0) | aon
    comps = np.unique(comp[integer])
    sub, lines = _sub_block(block, np.isin(comp, comps))
    t_l, q, w, target = tier[lines], req[lines], weight[lines], share[lines]
    is_lot, is_aon = lot[lines] > 0, aon[lines]
    mult = np.where(is_lot, lot[lines], np.where(is_aon, q, 1.0))
    f = floor[lines].copy()
    f[is_lot] = np.floor(f[is_lot] / mult[is_lot] + 1e-9) * mult[is_lot]
    f[is_aon] = np.where(f[is_aon] >= q[is_aon] - _tol(q[is_aon]), q[is_aon], 0.0)
    top = np.where(is_lot, np.floor(q / mult + 1e-9), 1.0)
    value = f.copy()
    int_lines = np.flatnonzero(is_lot | is_aon)
    for t in range(1, num_tiers + 1):
        T = np.flatnonzero(t_l == t)
        if len(T) == 0:
            continue
        lo = np.where(t_l < t, value, f)
        hi = lo.copy()
        lo[T], hi[T] = f[T], q[T]
        y_lo = np.round(lo[int_lines] / mult[int_lines])
        y_hi = np.where(t_l[int_lines] == t, top[int_lines], y_lo)
        multiples = Multiples(lines=int_lines, multiple=mult[int_lines], lower=y_lo, upper=y_hi)
        in_t = np.zeros(sub.num_lines, dtype=bool)
        in_t[T] = True
        first = runner.solve(
            build(
                sub,
                lo,
                hi,
                in_t[sub.arc_line].astype(np.float64),
                maximize=True,
                multiples=multiples,
            )
        )
        best = float(first.objective or 0.0)
        second = runner.solve(
            build(
                sub,
                lo,
                hi,
                np.zeros(sub.num_arcs),
                maximize=False,
                multiples=multiples,
                deviation=Deviation(lines=T, target=target[T], scale=w[T]),
                totals=[(T, best - 1e-9 * max(1.0, best))],
            )
        )
        assert second.x is not None
        got = _line_sum(sub, second.x)
        snapped = np.where(is_lot | is_aon, np.round(got / mult) * mult, got)
        value[T] = snapped[T]
    alloc = share.copy()
    alloc[lines] = value
    stage = stage.copy()
    moved = np.abs(alloc - share) > _tol(share)
    stage[moved] = INTEGER
    stage[moved & (alloc <= 0)] = INTEGER
    return alloc, stage


def _route(
    runner: _Runner,
    p: Problem,
    block: Block,
    ga: NDArray[np.int64],
    alloc: NDArray[np.float64],
    cap: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Stage 4: fixed allocations, routed by lane cost, stability, then preference."""
    A = block.num_arcs
    alloc = np.minimum(snap(alloc), cap)
    multi = np.bincount(block.arc_line, minlength=block.num_lines) > 1
    if not multi.any():
        return _repair(block, alloc[block.arc_line].copy(), alloc, _priority(p, block, ga, alloc))
    lo = np.maximum(0.0, alloc - 1e-9 * np.maximum(1.0, alloc))
    hi = alloc
    bounds: list[tuple[NDArray[np.float64], float, float]] = []
    change = None
    cost = p.arc_cost[ga]
    if np.any(cost > 0):
        sol = runner.solve(build(block, lo, hi, cost, maximize=False))
        bounds.append((cost, 0.0, _keep(sol.objective)))
    if p.stability:
        prev = p.arc_previous[ga]
        has = np.flatnonzero(prev > 0)
        change = Change(arcs=has, previous=prev[has])
        c = (prev <= 0).astype(np.float64)
        sol = runner.solve(
            build(block, lo, hi, c, maximize=False, bounds=bounds, change=change, change_cost=1.0)
        )
        bounds.append((c, 1.0, _keep(sol.objective)))
    sol = runner.solve(
        build(block, lo, hi, p.arc_rank[ga], maximize=False, bounds=bounds, change=change)
    )
    assert sol.x is not None
    return _repair(block, sol.x[:A], alloc, _priority(p, block, ga, alloc))


def snap(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Values within ``GRID_TOL`` quantum of the grid (LP noise) put exactly on it."""
    grid = np.round(values / QUANTUM)
    return np.where(np.abs(values / QUANTUM - grid) < GRID_TOL, grid * QUANTUM, values)


def off_grid(values: NDArray[np.float64]) -> NDArray[np.bool_]:
    return np.abs(values / QUANTUM - np.round(values / QUANTUM)) >= GRID_TOL


def _priority(
    p: Problem, block: Block, ga: NDArray[np.int64], alloc: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Who absorbs rounding first: lower tiers, and lines whose total is off the grid."""
    tier = np.zeros(block.num_lines)
    tier[block.arc_line] = p.tier[p.arc_line[ga]]
    return tier + 0.5 * off_grid(alloc)


def _keep(objective: float | None) -> float:
    value = float(objective or 0.0)
    return value + 1e-9 * max(1.0, abs(value))


def _rank_within(group: NDArray[np.int64], key: NDArray[np.float64]) -> NDArray[np.int64]:
    """Rank of each element within its group when sorted by ``key`` ascending."""
    order = np.lexsort((key, group))
    g = group[order]
    starts = np.flatnonzero(np.r_[True, g[1:] != g[:-1]]) if len(g) else np.zeros(0, np.int64)
    rank = np.empty(len(order), dtype=np.int64)
    rank[order] = np.arange(len(order)) - np.repeat(starts, np.diff(np.r_[starts, len(order)]))
    return rank


def _repair(
    block: Block,
    flow: NDArray[np.float64],
    alloc: NDArray[np.float64],
    line_priority: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Put flows on the ``QUANTUM`` grid with every line's total exact and no cell over supply.

    Each line's target is its allocation in quanta (exact when on the grid; a fractional
    share is floored, losing less than one quantum). Its arcs are floored and the missing
    quanta go to the arcs with the largest remainders (or are taken off its largest arc
    when solver noise overshot). A cell still above its supply after that (noise) is trimmed
    on the arc of its lowest-priority line (largest ``line_priority``), largest flow first.
    """
    A, n = block.num_arcs, block.num_lines
    r = np.maximum(flow[:A], 0.0) / QUANTUM
    base = np.floor(r + GRID_TOL)
    frac = np.maximum(r - base, 0.0)
    units = alloc / QUANTUM
    target = np.where(off_grid(alloc), np.floor(units + GRID_TOL), np.round(units))
    deficit = target - np.bincount(block.arc_line, base, n)
    rank = _rank_within(block.arc_line, -frac)
    per_arc = np.bincount(block.arc_line, minlength=n)
    pos = np.maximum(deficit, 0.0)
    # one quantum to the `pos` arcs with the largest remainders; any rest to the first of them
    add = (rank < pos[block.arc_line]).astype(np.float64)
    add += np.where(rank == 0, np.maximum(pos - per_arc, 0.0)[block.arc_line], 0.0)
    out = base + add
    neg = np.minimum(deficit, 0.0)
    if neg.any():
        biggest = _rank_within(block.arc_line, -out) == 0
        out = np.maximum(out + np.where(biggest, neg[block.arc_line], 0.0), 0.0)
    excess = np.bincount(block.arc_cell, out, block.num_cells) - np.floor(
        block.supply / QUANTUM + GRID_TOL
    )
    if np.any(excess > 0):
        key = -line_priority[block.arc_line] * 1e15 - out
        first = _rank_within(block.arc_cell, key) == 0
        out = np.maximum(out - np.where(first, np.maximum(excess, 0)[block.arc_cell], 0.0), 0.0)
    return out * QUANTUM
