"""The staged rationing algorithm on arrays (see :mod:`optim.models.rationing` for the math).

Components of the line–cell graph are independent; they are packed into blocks of about
``BLOCK_SIZE`` arcs + lines and each block runs the stages as block-diagonal LPs. Simplex work
grows faster than linearly with LP size, so blocks beat one monolithic LP by a wide margin.
"""

from __future__ import annotations

import heapq
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, NamedTuple, cast

import numpy as np
from numpy.typing import NDArray

from optim import executor
from optim.models.rationing.arrays import Problem
from optim.models.rationing.lp import (
    Block,
    Change,
    Deviation,
    IntegerForm,
    Multiples,
    build,
    build_filling,
    integer_form,
)

__all__ = ["Block", "ComponentNotScalable", "EngineError", "Outcome", "allocate"]
from optim.clock import Clock, budget
from optim.params import SolveParams
from optim.solvers import highs
from optim.solvers.base import cancel_requested
from optim.status import Status, Termination

BLOCK_SIZE = 10_000
PARALLEL_MIN_ARCS = 100_000  # below this, worker start-up costs more than it saves
QUANTUM = 1e-6  # reporting grid of allocated quantities (units)
PER_UNIT = 1_000_000  # quanta per unit: a grid value is written as quanta / PER_UNIT, exactly
GRID_TOL = 0.01  # in quanta: LP noise (~1e-9 units) is far below, real fractions above
# largest quantity (units) at which the default method trusts the integer stage's HiGHS MIP:
# a component with a larger supply, cap or lot (or a span beyond waterfill.LP_SPAN) runs it
# in whole quanta on CP-SAT
MIP_TRUST = 1e5

# stage codes per line (what decided its quantity)
NO_STOCK, FULL, CAPPED, FAIR, ZERO_LEFT, INTEGER = range(6)


class EngineError(RuntimeError):
    """A stage LP did not solve to optimality (carries the status and why it stopped)."""

    def __init__(
        self, status: Status, message: str, termination: Termination | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.termination = termination

    def __reduce__(self) -> tuple[Any, ...]:  # sent back by worker processes
        return (EngineError, (self.status, str(self), self.termination))


class ComponentNotScalable(Exception):
    """CP-SAT cannot take one component's integer stage exactly: ``reason`` (the
    :class:`~optim.errors.NotExactlyScalable` raised) and ``component``, its index in the
    whole problem's ``line_component`` (blocks carry no ids; the caller names it)."""

    def __init__(self, reason: Exception, component: int) -> None:
        super().__init__(str(reason))
        self.reason = reason
        self.component = component

    def __reduce__(self) -> tuple[Any, ...]:  # sent back by worker processes
        return (ComponentNotScalable, (self.reason, self.component))


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


class _Clock(Clock):
    """The one time-limit clock (:class:`optim.clock.Clock`); a spent budget stops the stages.
    The budget is ``params.time_limit``, at least :data:`optim.clock.MIN_BUDGET`."""

    def __init__(self, params: SolveParams, deadline: float | None = None) -> None:
        super().__init__(budget(params.time_limit), deadline=deadline)

    def remaining(self) -> float | None:
        """Seconds left for the next LP; raises once the budget is spent or a cancel is
        requested (:func:`optim.solvers.base.interruptible`: checked before every LP, since
        a small LP may end before HiGHS polls it)."""
        cancel = cancel_requested()
        if cancel is not None and cancel():
            raise EngineError(Status.TIME_LIMIT, "cancelled", Termination.INTERRUPTED)
        if self.deadline is None:
            return None
        if self.expired():
            raise EngineError(Status.TIME_LIMIT, "time limit reached", Termination.TIME_LIMIT)
        return self.deadline - time.perf_counter()


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

    def solve(
        self,
        lp: highs.LinearProgram,
        *,
        duals: bool = False,
        exact: IntegerForm | None = None,
        options: dict[str, Any] | None = None,
    ) -> highs.RawSolution:
        """``lp`` at the tight tolerances (HiGHS, or CP-SAT for ``exact``); ``options``:
        HiGHS options for this solve only."""
        if exact is not None:  # the integer stage on CP-SAT (params.solver == "cpsat")
            from optim.solvers.cpsat import CpSatSolver

            sol = CpSatSolver().solve(
                lp,
                self.tight,
                time_limit=self.clock.remaining(),
                grid=exact.grid,
                row_bounds=exact.row_bounds,
            )
        else:
            params = self.tight
            if options:
                opts = params.solver_options | options
                params = params.model_copy(update={"solver_options": opts})
            sol = highs.solve(lp, params, time_limit=self.clock.remaining(), want_duals=duals)
        self.lp_count += 1
        if sol.status is not Status.OPTIMAL or sol.x is None:
            raise EngineError(
                sol.status, sol.message or f"stage LP ended {sol.status.value}", sol.termination
            )
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


def blocks(
    p: Problem, offset: int = 0
) -> list[tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]]:
    """Whole components packed into blocks of about ``BLOCK_SIZE`` arcs + lines.

    Returns (lines, arcs, cells) per block, as global indices. Components without arcs (lines
    with no eligible stock) are left out: there is nothing to decide for them. ``offset``:
    the arcs + lines of the components before ``p``'s first one when ``p`` is a slice of a
    larger instance cut at a block boundary (:mod:`optim.split`), so that
    the slice is packed into the very blocks the whole instance would be.
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
    block_of = (offset + np.cumsum(size)) // BLOCK_SIZE
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


# A week that takes every compiled kernel the stages run (the flow method with minimums and
# its routing over lines with two locations): :func:`load_kernels` solves it once per process.
_WARM_UP: dict[str, Any] = {
    "kind": "rationing",
    "supply": [
        {"item": "W", "location": "A", "quantity": 10},
        {"item": "W", "location": "B", "quantity": 5},
    ],
    "segments": [{"name": "s1", "tier": 1}, {"name": "s2", "tier": 2}],
    "demand": [
        {"id": "1", "customer": "c", "item": "W", "quantity": 9, "segment": "s1"},
        {"id": "2", "customer": "d", "item": "W", "quantity": 9, "segment": "s2",
         "min_quantity": 2},
    ],
}  # fmt: skip
_kernels_loaded = False


def load_kernels(params: SolveParams) -> float:
    """Compile or load from numba's cache the kernels of the flow method and the exact
    routing, once per process; the seconds it took (0 once loaded, or with ``method="lp"``,
    which runs none).

    The first solve in a process spent up to several seconds here (tens when the cache is
    cold), so a small week given ``--time-limit 1`` ended "time limit, no solution" on a
    loaded machine and was optimal in the next solve of the same process. The time limit
    counts the solve, from after this one-time start-up; the result's runtime includes it.
    """
    global _kernels_loaded
    if _kernels_loaded or params.method == "lp":
        return 0.0
    start = time.perf_counter()
    from optim.instances.rationing import RationingInstance
    from optim.models.rationing.arrays import prepare

    _solve_block(prepare(RationingInstance.model_validate(_WARM_UP)), _Runner(SolveParams()))
    _kernels_loaded = True
    return time.perf_counter() - start


def _warm_up_problem() -> Problem:
    from optim.instances.rationing import RationingInstance
    from optim.models.rationing.arrays import prepare

    return prepare(RationingInstance.model_validate(_WARM_UP))


def load_flow_kernel() -> None:
    """Compile (or load from numba's cache) the exact flow method's kernel alone
    (``waterfill._ration_components``, on the :func:`load_kernels` week): the kernel warm-up
    of a first planning run compiles it in one process and the routing's in the other
    (:func:`load_route_kernel`, :mod:`optim.planning.warmup`)."""
    p = _warm_up_problem()
    _exact(p, np.ones(p.num_lines, dtype=bool))


def load_route_kernel() -> None:
    """Compile (or load from numba's cache) the exact routing's kernel alone
    (``routing._route_components``, called as :func:`_route` calls it: the same types)."""
    from optim.models.rationing.routing import route

    p = _warm_up_problem()
    route(
        arc_line=p.arc_line,
        arc_cell=p.arc_cell,
        supply=p.supply,
        line_component=p.line_component,
        cell_component=p.cell_component,
        alloc=np.zeros(p.num_lines),
        cost=np.zeros(p.num_arcs, dtype=np.int64),
        previous=None,
        rank=np.zeros(p.num_arcs),
    )


def _worker(task: tuple[Problem, SolveParams, float | None]) -> _BlockResult | EngineError:
    sub, params, wall_deadline = task
    # the deadline travels as wall-clock time (perf_counter is per machine), moved on by the
    # worker process' own kernel start-up (:func:`load_kernels`)
    spent = load_kernels(params)
    deadline = (
        None
        if wall_deadline is None
        else time.perf_counter() + wall_deadline - time.time() + spent
    )
    try:
        return _solve_block(sub, _Runner(params, deadline=deadline))
    except EngineError as exc:
        return exc


def allocate(p: Problem, params: SolveParams, *, offset: int = 0) -> Outcome:
    """Run every stage on every block of components; returns per-line and per-arc values.

    With ``params.threads > 1`` (or a Dask cluster in force, see :mod:`optim.executor`) and
    more than ``PARALLEL_MIN_ARCS`` arcs, blocks are solved by worker processes (each block
    sent as a small self-contained sub-problem). Blocks are independent and placed by index,
    so the result is the same for any executor and worker count. A cancel
    (:func:`optim.solvers.base.interruptible`) reaches the local worker processes: blocks
    running there stop before their next stage, blocks not started are never run, and the
    solve ends ``interrupted`` (:func:`optim.executor.fan_out`, ``cancellable``). ``offset``:
    see :func:`blocks`.
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
    todo = blocks(p, offset)
    load_kernels(params)  # before the clock starts: a one-time start-up, not the solve's
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
        cancellable=True,
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
    if len(results) < len(todo):  # a cancel stopped the fan-out between blocks
        raise EngineError(Status.TIME_LIMIT, "cancelled", Termination.INTERRUPTED)
    return out


def _solve_block(p: Problem, runner: _Runner) -> _BlockResult:
    """All stages on one block; ``p`` is the block's sub-problem (local indices).

    Every component gets stages 0–2 from the exact flow method of
    :mod:`optim.models.rationing.waterfill` (``method`` ``"auto"``), those with integer
    rules then the integer stage (:func:`_integerize`) from its continuous shares; any
    component that method hands back runs the staged LPs. Routing is one pass for all.
    """
    runner.clock.remaining()  # a spent budget stops here: the compiled methods run no LP
    n = p.num_lines
    ga = np.arange(p.num_arcs)
    block = Block(num_lines=n, arc_line=p.arc_line, arc_cell=p.arc_cell, supply=p.supply)
    has_arc = np.bincount(block.arc_line, minlength=n) > 0
    cap = np.where(has_arc, p.cap, 0.0)
    floor, alloc = np.zeros(n), np.zeros(n)
    stage = np.full(n, NO_STOCK, dtype=np.int64)
    level = np.full(n, np.nan)
    share = None
    slow = has_arc.copy()
    if runner.params.method != "lp" and has_arc.any():
        lines, res = _exact(p, has_arc, runner.clock.deadline)
        done = lines[res[4]]
        floor[done], alloc[done], stage[done], level[done] = (r[res[4]] for r in res[:4])
        slow[done] = False
        whole = np.zeros(n, dtype=bool)
        whole[done] = True
        whole &= (p.lot > 0) | p.all_or_nothing
        if whole.any():  # the integer stage from the flow method's continuous shares
            share = np.full(n, np.nan)
            share[done] = alloc[done]
            alloc, stage = _integerize(
                runner,
                block,
                np.unique(p.line_component, return_inverse=True)[1],
                p.tier,
                cap,
                floor,
                p.rule_weight(p.request),
                alloc,
                stage,
                np.where(whole, p.lot, 0.0),
                whole & p.all_or_nothing,
                p.num_tiers,
                component=p.line_component,
            )
    if slow.any():
        lines = np.flatnonzero(slow)
        arcs = np.flatnonzero(slow[p.arc_line])
        cells = np.unique(p.arc_cell[arcs])
        r = _stages_lp(p.subset(lines, arcs, cells), runner)
        floor[lines], alloc[lines], stage[lines], level[lines] = r.floor, r.alloc, r.stage, r.level
        if r.share is not None:
            share = np.full(n, np.nan) if share is None else share
            share[lines] = r.share
    flow = _route(runner, p, block, ga, alloc, cap, floor)
    return _BlockResult(
        floor=floor,
        alloc=grid_sum(block.arc_line, flow, n),
        flow=flow,
        stage=np.where(has_arc, stage, NO_STOCK),
        level=level,
        share=share,
        lp_count=runner.lp_count,
    )


@contextmanager
def _stopped() -> Iterator[None]:
    """The compiled kernels stopped at the deadline or a cancel (:class:`waterfill.Stopped`),
    inside a component: the outcome of a stage LP stopped there (:meth:`_Clock.remaining`)."""
    from optim.models.rationing import waterfill

    try:
        yield
    except waterfill.Stopped as exc:
        why = Termination.INTERRUPTED if exc.cancelled else Termination.TIME_LIMIT
        raise EngineError(Status.TIME_LIMIT, str(exc), why) from None


@_stopped()
def _exact(
    p: Problem, fast: NDArray[np.bool_], deadline: float | None = None
) -> tuple[NDArray[np.int64], tuple[NDArray[Any], ...]]:
    """Stages 0–2 by the exact flow method on the ``fast`` lines (whole components).

    Returns the lines and ``(floor, alloc, stage, level, ok)`` for them; ``ok`` is False on
    lines of components the method handed back (too large — :data:`waterfill.MAX_COMPONENT`,
    with or without a time limit — or numerical trouble). The kernels stop at the
    ``time.perf_counter()`` ``deadline`` or a cancel, inside a component too:
    :func:`_stopped`.
    """
    from optim.models.rationing import waterfill  # numba: imported when first needed

    assert (waterfill.FULL, waterfill.FAIR, waterfill.ZERO_LEFT) == (FULL, FAIR, ZERO_LEFT)
    lines = np.flatnonzero(fast)
    arcs = np.flatnonzero(fast[p.arc_line])
    cells = np.unique(p.arc_cell[arcs])
    sub = p.subset(lines, arcs, cells)
    graph = waterfill.Graph(
        sub.arc_line, sub.arc_cell, sub.supply, sub.line_component, sub.cell_component,
        sub.tier, sub.num_tiers, waterfill.wide_lines(sub),  # wide: whatever its size
        deadline,
    )  # fmt: skip
    floor = np.zeros(len(lines))
    ok = np.ones(len(lines), dtype=bool)
    held = None
    if sub.minimum.any():
        # the floors: the continuous shares of the minimums, as the LP stages give them; the
        # main stage starts from the whole quanta they held (what their flooring left stays
        # with the minimums' tier)
        first = waterfill.ration_on_grid(
            graph,
            request=sub.minimum,
            floor=floor,
            weight=sub.rule_weight(sub.minimum),
            quantum=QUANTUM,  # whole quanta: exact at any span of magnitudes
        )
        floor, held, ok = np.minimum(first.share, sub.minimum), first.quanta, first.ok
    # the continuous shares, as the LP stages give them: the routing floors them to the grid
    # (the quanta flooring frees stay with their tier: waterfill's held quanta)
    main = waterfill.ration_on_grid(
        graph,
        request=sub.cap,
        floor=floor,
        weight=sub.rule_weight(sub.request),
        floor_quanta=held,
        quantum=QUANTUM,
    )
    alloc, stage, level, ok_main = main.share, main.stage, main.level, main.ok
    return lines, (floor, np.maximum(alloc, floor), stage, level, ok & ok_main)


def _stages_lp(p: Problem, runner: _Runner) -> _BlockResult:
    """Stages 0–3 (minimums, tier totals, fair share, integer rules) by the staged LPs."""
    gl = np.arange(p.num_lines)
    block = Block(num_lines=p.num_lines, arc_line=p.arc_line, arc_cell=p.arc_cell, supply=p.supply)
    _, comp = np.unique(p.line_component[gl], return_inverse=True)
    tier = p.tier[gl]
    has_arc = np.bincount(block.arc_line, minlength=len(gl)) > 0
    cap = np.where(has_arc, p.cap[gl], 0.0)
    minimum = np.where(has_arc, p.minimum[gl], 0.0)
    floor = np.zeros(len(gl))

    def ration(
        req: NDArray[np.float64], floor: NDArray[np.float64], weight: NDArray[np.float64]
    ) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.float64]]:
        """:func:`_ration`; when a later stage finds a tier counted as served in full
        infeasible, again with every shortfall counted (a tier short by less than ``_tol``
        of its total — 10 units of a 1e8-unit tier — was fixed at its requests, beyond the
        supply)."""
        args = (runner, block, comp, tier, req, floor, weight, p.num_tiers)
        try:
            return _ration(*args)
        except EngineError as exc:
            if exc.status is not Status.INFEASIBLE:
                raise
            return _ration(*args, exact_short=True)

    if minimum.any():
        floor, _, _ = ration(minimum, floor, p.rule_weight(p.minimum)[gl])
        floor = np.clip(floor, 0.0, minimum)  # LP noise: never "-0" in an explanation
    alloc, stage, level = ration(cap, floor, p.rule_weight(p.request)[gl])
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
            component=p.line_component[gl],
        )
    return _BlockResult(
        floor=floor,
        alloc=alloc,
        flow=np.zeros(0),
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
    *,
    exact_short: bool = False,
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.float64]]:
    """Stages 1–2 on one block: lexicographic tier totals, then fair share in short tiers.

    A tier is short when its stage-1 total is below its requests by more than ``_tol`` (LP
    noise), or by anything at all with ``exact_short`` (a needless filling round is harmless;
    a missed shortfall fixes the tier at more than the supply)."""
    n = block.num_lines
    W = (num_tiers - tier + 1).astype(np.float64)
    sol = runner.solve(build(block, floor, req, W[block.arc_line], maximize=True))
    a_max = _line_sum(block, sol.x)
    key = comp * num_tiers + (tier - 1)
    got = np.bincount(key, a_max)
    want = cast(NDArray[np.float64], np.bincount(key, req))
    short = got < want - (0.0 if exact_short else _tol(want))
    line_short = short[key] & (req > floor + _tol(req))
    alloc = np.where(line_short, floor, req)
    stage = np.where(req > 0, FULL, ZERO_LEFT)
    level = np.full(n, np.nan)
    for t in range(1, num_tiers + 1):
        todo = line_short & (tier == t)
        if not todo.any():
            continue
        # later tiers of these components sit at their floors while tier t is shared out
        fixed = np.where(tier > t, floor, alloc)
        vals, lev = _leximin(runner, _Shares(block, floor, req, weight, comp), todo, fixed)
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


@dataclass(frozen=True)
class _Shares:
    """What a tier's fair-share filling works on: the block, each line's floor, cap
    (``req``) and rule weight, and its component."""

    block: Block
    floor: NDArray[np.float64]
    req: NDArray[np.float64]
    weight: NDArray[np.float64]
    comp: NDArray[np.int64]


def _leximin(
    runner: _Runner, s: _Shares, todo: NDArray[np.bool_], fixed: NDArray[np.float64]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Progressive filling of the ``todo`` lines (the other lines fixed at ``fixed``).

    Each round raises one level λ_k per component (one warm-started HiGHS model); lines whose
    level row has a non-zero dual are blocked in every optimum and freeze there, lines that
    reach their cap freeze at it. When fewer than half of the model's components are still
    rising, the model is rebuilt on those alone, so late rounds stay small.
    """
    value = np.where(todo, s.floor, fixed)
    level = np.full(s.block.num_lines, np.nan)
    lam_prev = np.zeros(s.block.num_lines)  # per line: level of its component so far
    unfrozen = todo & (s.req > s.floor + _tol(s.req))
    value[todo & ~unfrozen] = s.req[todo & ~unfrozen]
    rounds = 0
    while unfrozen.any():
        live = np.isin(s.comp, np.unique(s.comp[unfrozen]))
        rounds += _filling_phase(runner, s, live, unfrozen, value, level, lam_prev)
        if rounds > s.block.num_lines + 2:  # pragma: no cover - each round freezes a line
            raise EngineError(Status.ERROR, "fair-share filling did not terminate")
    return value, level


def _filling_phase(
    runner: _Runner,
    s: _Shares,
    live: NDArray[np.bool_],
    unfrozen: NDArray[np.bool_],
    value: NDArray[np.float64],
    level: NDArray[np.float64],
    lam_prev: NDArray[np.float64],
) -> int:
    """Rounds of progressive filling on the components in ``live``; updates in place."""
    sub, lines = _sub_block(s.block, live)
    f, q, w = s.floor[lines], s.req[lines], s.weight[lines]
    _, k_of = np.unique(s.comp[lines], return_inverse=True)
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
            raise EngineError(
                sol.status, sol.message or "fair-share filling LP failed", sol.termination
            )
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
    *,
    component: NDArray[np.int64],
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Stage 3: components with integer rules, tier by tier as MIPs.

    Per tier: maximise the tier total with every lot / all-or-nothing rule as integrality,
    then, keeping that total, minimise ``Σ |a_i − share_i| / w_i`` (distance to the
    continuous fair share). Earlier tiers stay fixed, later ones at their floors (rounded down
    to whole lots; an all-or-nothing floor counts only if it is the full amount).

    HiGHS and CP-SAT solve one component at a time: components share no stock, so both
    objectives are sums over components and the tier total is at its maximum exactly when
    every component's is — the same optimum — while ties are broken inside each component
    alone (one MIP over a block's components broke them anew whenever another item's
    quantities changed) and each CP-SAT model's exact integer scaling (the common
    denominator of its fair shares and weights, :mod:`optim.solvers.cpsat`) spans one
    component's lines only. A component whose continuous shares and floors already keep
    every rule takes them as they are (no solve). A component the integer stage cannot
    take exactly (beyond CP-SAT's integer range, or a step not proven within its
    deterministic budget) raises :class:`ComponentNotScalable` with its index
    (``component``: per line, its component in the whole problem).

    ``method="auto"``: a component whose largest quantity (a supply at its cells, a line's
    cap or lot) exceeds :data:`MIP_TRUST` units or ``waterfill.LP_SPAN`` times its smallest
    positive one, and every component of a HiGHS group that fails, runs the integer stage
    in whole quanta on CP-SAT instead (:func:`_integerize_quanta`):
    HiGHS' 1e-9 tolerances are below the double resolution of such quantities, so its
    MIP ends "infeasible", "solve error" or with a total a quantum off.
    """
    from optim.errors import NotExactlyScalable

    integer = (lot > 0) | aon
    comps = np.unique(comp[integer])
    alloc = share.copy()
    stage = stage.copy()
    rules = _LineRules(tier, req, floor, weight, share, lot, aon, num_tiers)
    quanta = np.zeros(len(comps), dtype=bool)
    if runner.params.method != "lp":
        from optim.models.rationing.waterfill import LP_SPAN

        top = np.zeros(int(comp.max(initial=-1)) + 1)
        low = np.full(len(top), np.inf)
        supply = block.supply[block.arc_cell]
        for values, where in ((req, comp), (lot, comp), (supply, comp[block.arc_line])):
            np.maximum.at(top, where, values)
            np.minimum.at(low, where[values > 0], values[values > 0])
        quanta = (top[comps] > MIP_TRUST) | (top[comps] > LP_SPAN * low[comps])
    # the continuous shares already keep every rule (whole lots, all or nothing) and so do
    # the floors: they are the optimum (no integer plan beats a tier total of the continuous
    # stages, and their distance to the shares is 0); HiGHS' components only, whose totals
    # are the shares' (the whole-quanta stage also hands out what flooring shares frees)
    mult = np.where(lot > 0, lot, np.where(aon & (req > 0), req, 1.0))
    keeps = np.ones(len(integer), dtype=bool)  # per line
    for values in (share, floor):
        near = np.round(values / mult) * mult
        keeps &= ~integer | (np.abs(values - near) < GRID_TOL * QUANTUM)
    settled = np.isin(comps, comp[~keeps], invert=True) & ~quanta  # per component
    easy = integer & np.isin(comp, comps[settled])
    alloc[easy] = (np.round(share / mult) * mult)[easy]
    # one component at a time, so each answer depends on its own component only (in one
    # model HiGHS broke ties between lines of different items at random)
    groups = [(comps[k : k + 1], bool(quanta[k])) for k in np.flatnonzero(~settled)]
    while groups:
        group, by_quanta = groups.pop(0)
        in_group = np.isin(comp, group)
        try:
            if by_quanta:
                lines, value = _integerize_quanta(runner, block, in_group, rules)
            else:
                lines, value = _integerize_group(runner, block, in_group, rules)
        except NotExactlyScalable as exc:
            raise ComponentNotScalable(exc, int(component[np.argmax(in_group)])) from exc
        except EngineError as exc:
            # HiGHS failed numerically: the same components, one by one, in whole quanta
            if by_quanta or runner.params.method == "lp" or exc.status is Status.TIME_LIMIT:
                raise
            groups += [(group[k : k + 1], True) for k in range(len(group))]
            continue
        alloc[lines] = value
    moved = np.abs(alloc - share) > _tol(share)
    stage[moved] = INTEGER
    stage[moved & (alloc <= 0)] = INTEGER
    return alloc, stage


class _LineRules(NamedTuple):
    """Per-line data of the integer stage (block positions), as :func:`_integerize` takes it."""

    tier: NDArray[np.int64]
    req: NDArray[np.float64]
    floor: NDArray[np.float64]
    weight: NDArray[np.float64]
    share: NDArray[np.float64]
    lot: NDArray[np.float64]
    aon: NDArray[np.bool_]
    num_tiers: int


def _integerize_group(
    runner: _Runner, block: Block, in_group: NDArray[np.bool_], rules: _LineRules
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """The integer stage (see :func:`_integerize`) on the whole components of ``in_group``:
    their line indices and allocations."""
    tier, req, floor, weight, share, lot, aon, num_tiers = rules
    sub, lines = _sub_block(block, in_group)
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
        deviation = Deviation(lines=T, target=target[T], scale=w[T])
        cpsat = runner.params.solver == "cpsat"
        lp = build(
            sub, lo, hi, in_t[sub.arc_line].astype(np.float64), maximize=True, multiples=multiples
        )
        first = _solve_feasible_mip(
            runner, lp, integer_form(lp, sub, lo, hi, multiples) if cpsat else None
        )
        # on the grid when within its tolerance: a lot line's total of 5e-9 (HiGHS'
        # integrality tolerance) asked the next step for more than 0 of a 10-unit lot
        best = float(snap(np.array([first.objective or 0.0]))[0])
        free = T[~(is_lot[T] | is_aon[T])]
        lp = build(
            sub,
            lo,
            hi,
            np.zeros(sub.num_arcs),
            maximize=False,
            multiples=multiples,
            deviation=deviation,
            totals=[(T, best if cpsat else best - _total_slack(best))],
        )
        second = _solve_feasible_mip(
            runner,
            lp,
            integer_form(lp, sub, lo, hi, multiples, free_lines=free, deviation=deviation)
            if cpsat
            else None,
        )
        assert second.x is not None
        got = _line_sum(sub, second.x)
        snapped = np.where(is_lot | is_aon, np.round(got / mult) * mult, got)
        value[T] = snapped[T]
    return lines, value


def _solve_feasible_mip(
    runner: _Runner, lp: highs.LinearProgram, exact: IntegerForm | None
) -> highs.RawSolution:
    """One MIP of the integer stage (HiGHS, or CP-SAT for ``exact``), on HiGHS without
    presolve. These MIPs are one component's and feasible by construction (step A: the
    floors are a plan; step B: step A's plan keeps its own total), yet HiGHS 1.12.0's MIP
    presolve at the 1e-9 tolerances called a 6-column step-B MIP infeasible
    (``rationing_frames`` seed 121, ``--method lp``) and cycled for over 28 minutes on a
    step-A MIP of 40 small components (seed 753 of ``test_rationing_route_tiers``); without
    presolve both solve in about a second, with the same rows, bounds and tolerances.
    Without presolve HiGHS in turn ended "Solve error" on a 12-column step-A MIP whose
    integer columns are all fixed (seed 1076, 40 components, ``--method lp``), which its
    presolve solves at once: a MIP that fails without presolve (not for lack of time) is
    solved once more with it - the same MIP, never a loosened one."""
    if exact is not None:
        return runner.solve(lp, exact=exact)
    try:
        return runner.solve(lp, options={"presolve": "off"})
    except EngineError as exc:
        if exc.termination in (Termination.TIME_LIMIT, Termination.INTERRUPTED):
            raise
        return runner.solve(lp)


def _integerize_quanta(
    runner: _Runner, block: Block, in_group: NDArray[np.bool_], rules: _LineRules
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """The integer stage of :func:`_integerize` on one component in whole quanta, exactly.

    Every quantity is a whole number of ``QUANTUM`` (below 2^53 at any magnitude the
    engine sees: :func:`optim.models.rationing.solve.unit_exponent` keeps them ≤ 1e9
    units): supplies and caps floored to the grid (as the routing takes them), floors
    floored (to whole lots, or the full amount of an all-or-nothing line), lots and
    all-or-nothing amounts exact quanta, arcs integer quanta. Per tier, step A maximises
    the tier total over the integers on CP-SAT, which proves it optimal (lot counts
    branched first), so the tier totals are exact; step B keeps that total and minimises
    the same distance as HiGHS' step B, ``Σ |a_i − share_i| / w_i`` over whole quanta, by
    an exact branch and bound on rationals (:func:`_closest_totals`). CP-SAT's integer
    objective could not state it: weights 1 / w_i spanning 1e10 and distances of 1e14
    quanta, rounded to integers below 2^53, left a line of weight 3e8 a cost of 6 (a 1/6
    error), and the model was not proven within budget either (seed 106 at [3e11, 5e8]).
    Raises :class:`~optim.errors.NotExactlyScalable` when a lot or all-or-nothing amount
    is not whole quanta, the component's stock in quanta reaches 2^53, or a step is not
    proven within its deterministic budget.
    """
    from ortools.sat.python import cp_model

    from optim.errors import NotExactlyScalable

    tier, req, floor, weight, share, lot, aon, num_tiers = rules
    sub, lines = _sub_block(block, in_group)
    t_l, w = tier[lines], weight[lines]
    is_lot, is_aon = lot[lines] > 0, aon[lines]
    supply = np.floor(sub.supply / QUANTUM + GRID_TOL)
    cap = np.floor(req[lines] / QUANTUM + GRID_TOL)
    mult = np.where(is_lot, lot[lines], np.where(is_aon, req[lines], 1.0)) / QUANTUM
    whole = is_lot | is_aon
    if np.any(np.abs(mult - np.round(mult))[whole] >= GRID_TOL):
        bad = float(mult[whole][np.argmax(np.abs(mult - np.round(mult))[whole])])
        raise NotExactlyScalable(
            "the rationing integer stage works in whole quanta of the plan's grid; a lot size "
            f"or all-or-nothing amount of {bad:.6g} quanta is not whole."
        )
    mult = np.round(mult)
    if supply.sum() >= 2**53:
        raise NotExactlyScalable(
            "the rationing integer stage works in whole quanta of the plan's grid; the "
            f"component's stock is {supply.sum():.3e} quanta, beyond the exact integer range "
            "2^53."
        )
    f = np.floor(floor[lines] / QUANTUM + GRID_TOL)
    f[is_lot] = np.floor(f[is_lot] / mult[is_lot]) * mult[is_lot]
    f[is_aon] = np.where(
        floor[lines][is_aon] >= req[lines][is_aon] - _tol(req[lines][is_aon]), cap[is_aon], 0.0
    )
    f = np.minimum(f, cap)
    value = f.copy()
    arc_top = np.minimum(supply[sub.arc_cell], cap[sub.arc_line])
    for t in range(1, num_tiers + 1):
        T = np.flatnonzero(t_l == t)
        if len(T) == 0:
            continue
        lo = np.where(t_l < t, value, f).astype(np.int64)
        hi = lo.copy()
        lo[T], hi[T] = f[T], cap[T]
        m = cp_model.CpModel()
        x = [m.new_int_var(0, int(u), "") for u in arc_top.tolist()]
        for c, arcs in enumerate(_groups(sub.arc_cell, sub.num_cells)):
            if len(arcs):
                m.add(sum(x[k] for k in arcs) <= int(supply[c]))
        total, counts = [], []
        for i, arcs in enumerate(_groups(sub.arc_line, sub.num_lines)):
            a = m.new_int_var(int(lo[i]), int(max(hi[i], lo[i])), "")
            m.add(sum(x[k] for k in arcs) == a)
            if whole[i] and t_l[i] == t:
                y = m.new_int_var(int(lo[i] // mult[i]), int(hi[i] // mult[i]), "")
                m.add(a == int(mult[i]) * y)
                counts.append(y)
            total.append(a)
        # lot counts first: once they are fixed the rest is a transportation problem, whose
        # LP relaxation is integral, so each branch is proven at once (CP-SAT's own
        # branching over quantities of 1e14 quanta could not close the distance step's gap)
        m.add_decision_strategy(counts, cp_model.CHOOSE_MIN_DOMAIN_SIZE, cp_model.SELECT_MIN_VALUE)
        m.maximize(sum(total[i] for i in T))
        best = _cp_solve(runner, m, cp_model)
        start = [int(best.value(a)) for a in total]
        ints = np.where(whole & (t_l == t), mult, 0.0)
        step = _StepB(sub, supply, arc_top, lo, hi, T, ints, start, share[lines], w)
        got = _closest_totals(runner, step)
        value[T] = [got[i] for i in T.tolist()]
    return lines, value / PER_UNIT


def _groups(key: NDArray[np.int64], n: int) -> list[NDArray[np.int64]]:
    """Indices per group ``0..n-1`` of ``key``."""
    order = np.argsort(key, kind="stable")
    return np.split(order, np.searchsorted(key[order], np.arange(1, n)))


class _StepB(NamedTuple):
    """One tier's step B in whole quanta (positions in the component's block ``sub``):
    stock per cell and bound per arc, line bounds (``lo = hi`` off the tier), per line the
    multiple its amount keeps (0: none), step A's proven plan, the continuous fair shares
    (units) and the rule weights."""

    sub: Block
    supply: NDArray[np.float64]
    arc_top: NDArray[np.float64]
    lo: NDArray[np.int64]
    hi: NDArray[np.int64]
    T: NDArray[np.int64]
    mult: NDArray[np.float64]
    start: list[int]
    share: NDArray[np.float64]
    weight: NDArray[np.float64]


def _closest_totals(runner: _Runner, step: _StepB) -> list[int]:
    r"""Step B of the integer stage in whole quanta, exactly: among the plans whose tier-``T``
    total is ``start``'s (the proven maximum), line totals minimising
    :math:`\sum_{i \in T} |a_i - s_i| / w_i` over whole quanta, with :math:`s_i` the
    continuous fair share (the double ``share``, read exactly, in quanta) and :math:`w_i` the
    rule weight (1 where it is not positive) — the objective of HiGHS' step B, over the grid.

    Branch and bound over the tier's lot / all-or-nothing lines (``mult`` > 0: their amounts
    are whole multiples of it), on exact rationals: each node's relaxation lets those lines
    take any quantum in their bounds, their distance interpolated linearly between the
    multiples around the share (equal to it at every multiple: a lower bound, and tight —
    at a 3,000-line component with 600 lot lines the root's optimum kept every multiple,
    where the distance itself between whole quanta took over 2,000 nodes), and is a min-cost
    flow with convex costs (:class:`_ConvexFlow`), whose optimum is integral and exact; each
    child starts from its parent's optimal flow. A node whose relaxed distance is not below
    the best plan's is cut, one whose relaxation keeps every multiple is a plan, else it
    branches on the first line off its multiple (the nearer side first). ``start`` (step
    A's plan) is the first incumbent. Every comparison is of exact fractions, so the result
    is the proven optimum — or, past :data:`EXACT_NODES` nodes or :data:`EXACT_WORK` arc
    scans (deterministic budgets), the component is refused
    (:class:`~optim.errors.NotExactlyScalable`), never a plan not proven.
    """
    from optim.errors import NotExactlyScalable

    lo, hi, T, mult, start, share, weight = step[3:]
    idx = T.tolist()
    s = {i: Fraction(float(share[i])) * PER_UNIT for i in idx}
    inv = {i: 1 / Fraction(float(weight[i])) if weight[i] > 0 else Fraction(1) for i in idx}

    def distance(a: list[int]) -> Fraction:
        return sum((abs(a[i] - s[i]) * inv[i] for i in idx), Fraction(0))

    flow = _ConvexFlow(step, s, inv, runner.clock)
    ints = [i for i in idx if mult[i] > 0]
    m = {i: int(mult[i]) for i in ints}
    best, best_cost = start, distance(start)
    top = hi.copy()
    for i in ints:
        top[i] = hi[i] // m[i] * m[i]
    # a node: its parent's optimal flow and the one bound it changes (None: the root)
    stack: list[tuple[_Relaxed | None, int, bool, int]] = [(None, -1, False, 0)]
    nodes = 0
    while stack:
        nodes += 1
        if nodes > EXACT_NODES:
            raise NotExactlyScalable(_unproven(f"{EXACT_NODES:,} branch-and-bound nodes"))
        runner.clock.remaining()  # the time limit and cancel, between nodes
        parent, i, up, moved_to = stack.pop()
        node = flow.root(lo, top) if parent is None else flow.branch(parent, i, up, moved_to)
        runner.lp_count += 1
        if node is None:
            continue
        a = flow.totals(node)
        relaxed = flow.relaxed(a)
        if relaxed >= best_cost:
            continue
        off = [i for i in ints if a[i] % m[i]]
        if not off:  # a plan: its distance is the relaxed one
            best, best_cost = a, relaxed
            continue
        i = off[0]
        k = a[i] // m[i]
        down_first = a[i] - k * m[i] <= (k + 1) * m[i] - a[i]
        children = [(node, i, True, (k + 1) * m[i]), (node, i, False, k * m[i])]
        stack += children if down_first else children[::-1]  # the nearer side popped first
    return best


EXACT_NODES = 2_000
"""Branch-and-bound nodes per tier of :func:`_closest_totals` before the component is
refused (deterministic: a count, not a clock)."""
EXACT_WORK = 100_000_000
"""Residual-arc scans per tier of :func:`_closest_totals` before the component is refused
(components of 3,000 / 5,000 lines, 600 / 1,000 of them with lots, at 3e11 took up to
1.6e7 / 2.1e7 in one tier: 6 / 11 CPU s on the shared machine)."""


def _unproven(budget_text: str, what: str = "distance to the fair shares") -> str:
    return (
        "the rationing integer stage (lots / all-or-nothing beside quantities HiGHS' MIP "
        f"does not resolve) could not be proven optimal in whole quanta: the {what} was not "
        f"proven within {budget_text}."
    )


class _Relaxed(NamedTuple):
    """A relaxation's optimal flow: residual capacities, and each line's lower bound (its
    supply; its segments carry the rest of its total)."""

    cap: list[int]
    low: list[int]


class _ConvexFlow:
    r"""Step B's relaxation on one tier: given bounds ``lo ≤ a ≤ hi`` (the tier's lines; the
    others fixed at ``lo = hi``), line totals of whole quanta that route within the cells'
    stock, sum to ``total`` over the tier and minimise :math:`\sum |a_i - s_i| / w_i`.

    A min-cost flow: tier source → tier line in up to three parallel segments with the
    distance's slopes (−1/w below ⌊s⌋, (1 − 2 frac s)/w for the quantum from ⌊s⌋ to ⌈s⌉,
    +1/w above ⌈s⌉: the convex piecewise-linear function through the distances at whole
    quanta), line → cell (the arc's bound), cell → sink (its stock); each line's lower
    bound is a supply at its node. Every capacity is an integer, so the optimum is
    integral; costs are the slopes times one common denominator (Python integers, exact).
    The lower bounds are routed first (straight to a cell with stock left, else along
    augmenting paths: every cost on them is 0 and no residual arc enters the tier source
    yet, so no residual cycle is negative), then the rest of the total by successive
    shortest paths from the tier source (Bellman–Ford with a queue: costs are negative;
    each augmentation along a shortest path keeps every residual cycle non-negative), the
    whole demand, or the bounds are infeasible (None). ``work`` counts arc scans."""

    def __init__(
        self, step: _StepB, s: dict[int, Fraction], inv: dict[int, Fraction], clock: _Clock
    ) -> None:
        import math

        sub, supply, arc_top, T = step.sub, step.supply, step.arc_top, step.T
        total = sum(step.start[i] for i in T.tolist())
        self.sub, self.total, self.work, self.clock = sub, total, 0, clock
        self.head: list[int] = []  # per residual arc (2k forward, 2k + 1 its reverse)
        self.cap: list[int] = []
        self.cost: list[int] = []
        self.adj: list[list[int]] = []  # per node, its residual arcs
        self.segments: dict[int, list[int]] = {}  # per tier line, its segments' arcs
        self.supply = [int(v) for v in supply.tolist()]
        self.arc_top = [int(v) for v in arc_top.tolist()]
        self.T = T.tolist()
        # per tier line: the distance's breakpoints b0 ≤ s ≤ b1 (the whole quanta around
        # s, or the multiples around it for a line that keeps multiples) and slopes
        self.s, self.inv, self.bends = s, inv, {}
        slopes = {}
        for i in self.T:
            g = int(step.mult[i]) if step.mult[i] > 0 else 1
            b0, b1 = math.floor(s[i] / g) * g, math.ceil(s[i] / g) * g
            mid = (abs(b1 - s[i]) - abs(s[i] - b0)) / (b1 - b0) if b1 > b0 else Fraction(0)
            self.bends[i] = (b0, b1, mid * inv[i])
            slopes[i] = (-inv[i], mid * inv[i], inv[i])
        denominator = 1
        for v in (v for three in slopes.values() for v in three):
            denominator = math.lcm(denominator, v.denominator)
        self.pieces = {i: tuple(int(v * denominator) for v in k) for i, k in slopes.items()}

    def relaxed(self, a: list[int]) -> Fraction:
        """The relaxation's objective at ``a`` (exact): the distance, interpolated
        linearly between the multiples around the share on a line that keeps multiples
        (equal to it at every multiple, so a lower bound on any plan of the node)."""
        total = Fraction(0)
        for i in self.T:
            b0, b1, mid = self.bends[i]
            if b0 < a[i] < b1:
                total += abs(b0 - self.s[i]) * self.inv[i] + (a[i] - b0) * mid
            else:
                total += abs(a[i] - self.s[i]) * self.inv[i]
        return total

    def root(self, lo: NDArray[np.int64], hi: NDArray[np.int64]) -> _Relaxed | None:
        """The relaxation's optimum under the bounds ``lo ≤ a ≤ hi``; None: infeasible."""
        sub, n = self.sub, self.sub.num_lines
        lo_, hi_ = lo.tolist(), hi.tolist()
        rest = self.total - sum(lo_[i] for i in self.T)
        if rest < 0 or any(hi_[i] < lo_[i] for i in self.T):
            return None
        tier, sink = 0, 1 + n + sub.num_cells  # lines 1..n, cells after them
        self.head, self.cap, self.cost = [], [], []
        self.adj = [[] for _ in range(sink + 1)]
        self.segments = {}
        for i in self.T:
            b0, b1, _ = self.bends[i]
            ends = (min(b0, hi_[i]), min(b1, hi_[i]), hi_[i])
            at, self.segments[i] = lo_[i], []
            for end, k in zip(ends, self.pieces[i], strict=True):
                if end > at:
                    self.segments[i].append(self._add(tier, 1 + i, end - at, k))
                    at = end
        arcs = zip(sub.arc_line.tolist(), sub.arc_cell.tolist(), self.arc_top, strict=True)
        for line, cell, top in arcs:
            self._add(1 + line, 1 + n + cell, top, 0)
        cell_edge = [self._add(1 + n + c, sink, v, 0) for c, v in enumerate(self.supply)]
        # the lower bounds first (every cost on their paths is 0, and no residual arc
        # enters the tier source yet, so no residual cycle has a negative cost): straight
        # to a cell with stock left, else along augmenting paths
        cap, head = self.cap, self.head
        for i in range(n):
            need = lo_[i]
            for e in self.adj[1 + i]:
                if need == 0:
                    break
                if e % 2 == 0 and head[e] > n:
                    c = cell_edge[head[e] - 1 - n]
                    push = min(need, cap[e], cap[c])
                    cap[e] -= push
                    cap[e ^ 1] += push
                    cap[c] -= push
                    cap[c ^ 1] += push
                    need -= push
            if not self._send(1 + i, sink, need):
                return None
        # then the rest of the tier total from the tier source, along shortest paths
        # (Dijkstra on potentials: the distances from the tier source, unreachable nodes 0)
        dist: list[int | None] = [None] * len(self.adj)
        self._bellman_ford(tier, dist)
        if not self._send(tier, sink, rest, [0 if d is None else d for d in dist]):
            return None
        return _Relaxed(cap, lo_)

    def branch(self, parent: _Relaxed, i: int, up: bool, bound: int) -> _Relaxed | None:
        """The relaxation's optimum with line i's lower (``up``) or upper bound moved to
        ``bound``, from its ``parent``'s optimum: the bound cuts the capacity of i's
        segments — the cheapest first for a lower bound, whose flow becomes i's supply,
        the dearest first for an upper one — which removes residual arcs only, so no
        residual cycle turns negative; the flow that no longer balances then moves along
        shortest paths between the tier source and line i (successive shortest paths with
        excesses). None: infeasible."""
        cap, low = parent.cap.copy(), parent.low.copy()
        edges = self.segments.get(i, [])
        room = sum(cap[e] + cap[e ^ 1] for e in edges)
        cut = bound - low[i] if up else low[i] + room - bound
        if cut < 0 or cut > room:
            return None
        moved = 0  # flow to move from line i back to the tier source (up) or the reverse
        for e in edges if up else edges[::-1]:
            take = min(cap[e] + cap[e ^ 1], cut)
            flow = min(cap[e ^ 1], take) if up else max(0, take - cap[e])
            cap[e ^ 1] -= flow
            cap[e] -= take - flow
            moved += take - flow if up else flow
            cut -= take
        if up:
            low[i] = bound
        self.cap = cap
        tier = 0
        ok = self._send(1 + i, tier, moved) if up else self._send(tier, 1 + i, moved)
        return _Relaxed(cap, low) if ok else None

    def totals(self, node: _Relaxed) -> list[int]:
        """Line totals of a relaxation's optimum."""
        a = node.low.copy()
        for i, edges in self.segments.items():
            a[i] += sum(node.cap[e ^ 1] for e in edges)
        return a

    def _send(self, start: int, end: int, amount: int, pi: list[int] | None = None) -> bool:
        """``amount`` from ``start`` to ``end`` along successive shortest paths; False when
        no path is left before all of it is sent."""
        while amount > 0:
            push = self._augment(start, end, amount, pi)
            if push == 0:
                return False
            amount -= push
        return True

    def _add(self, u: int, v: int, c: int, k: int) -> int:
        e = len(self.head)
        self.head.extend((v, u))
        self.cap.extend((c, 0))
        self.cost.extend((k, -k))
        self.adj[u].append(e)
        self.adj[v].append(e + 1)
        return e

    def _augment(self, start: int, sink: int, most: int, pi: list[int] | None = None) -> int:
        """Up to ``most`` units along one shortest residual path from ``start`` to
        ``sink``; returns how many (0: no path). With potentials ``pi`` (every residual
        arc's reduced cost ``cost + pi[u] − pi[v]`` non-negative) by Dijkstra, stopping at
        the sink, and ``pi`` is moved on by ``min(d_v, d_sink)`` (which keeps them so);
        else by Bellman–Ford with a queue."""
        pred = self._dijkstra(start, sink, pi) if pi is not None else self._bellman_ford(start)
        if pred[sink] < 0:
            return 0
        cap, head = self.cap, self.head
        push, v = most, sink
        while v != start:
            push = min(push, cap[pred[v]])
            v = head[pred[v] ^ 1]
        v = sink
        while v != start:
            cap[pred[v]] -= push
            cap[pred[v] ^ 1] += push
            v = head[pred[v] ^ 1]
        if pi is not None and push < most:
            push += self._admissible(start, sink, most - push, pi)
        return push

    def _admissible(self, start: int, sink: int, most: int, pi: list[int]) -> int:
        """Up to ``most`` more units along paths of residual arcs of reduced cost 0 (after
        Dijkstra moved ``pi`` on, every shortest path's arcs are such): augmenting along
        them keeps every reduced cost non-negative, so each is a shortest path too — one
        Dijkstra for all the paths of equal length (lines of equal weight). Depth-first,
        each node's arcs scanned once (a node left with none is dropped); returns how many."""
        head, cap, cost, adj = self.head, self.cap, self.cost, self.adj
        at = [0] * len(adj)
        sent = 0
        while sent < most:
            path: list[int] = []
            on = {start}
            u = start
            while u != sink:
                arcs, k = adj[u], at[u]
                while k < len(arcs):
                    e = arcs[k]
                    v = head[e]
                    if (
                        cap[e] > 0
                        and v not in on
                        and (v == sink or at[v] < len(adj[v]))
                        and cost[e] + pi[u] - pi[v] == 0
                    ):
                        break
                    k += 1
                self._count(k - at[u] + 1)
                at[u] = k
                if k < len(arcs):
                    path.append(arcs[k])
                    u = head[arcs[k]]
                    on.add(u)
                elif u == start:
                    return sent
                else:  # u leads nowhere: back up past the arc into it
                    on.discard(u)
                    u = head[path.pop() ^ 1]
                    at[u] += 1
            push = min([most - sent] + [cap[e] for e in path])
            for e in path:
                cap[e] -= push
                cap[e ^ 1] += push
            sent += push
        return sent

    def _bellman_ford(self, start: int, dist: list[int | None] | None = None) -> list[int]:
        """Shortest-path tree from ``start`` (the arc into each node; −1: none), the
        distances written into ``dist`` when given."""
        from collections import deque

        head, cap, cost, adj = self.head, self.cap, self.cost, self.adj
        if dist is None:
            dist = [None] * len(adj)
        pred = [-1] * len(adj)
        dist[start] = 0
        queue, queued = deque([start]), [False] * len(adj)
        queued[start] = True
        while queue:
            u = queue.popleft()
            queued[u] = False
            du = dist[u]
            assert du is not None
            self._count(len(adj[u]))
            for e in adj[u]:
                if cap[e] > 0:
                    v, d = head[e], du + cost[e]
                    dv = dist[v]
                    if dv is None or d < dv:
                        dist[v], pred[v] = d, e
                        if not queued[v]:
                            queued[v] = True
                            queue.append(v)
        return pred

    def _dijkstra(self, start: int, sink: int, pi: list[int]) -> list[int]:
        head, cap, cost, adj = self.head, self.cap, self.cost, self.adj
        dist: list[int | None] = [None] * len(adj)
        pred = [-1] * len(adj)
        done = [False] * len(adj)
        dist[start] = 0
        heap = [(0, start)]
        while heap:
            d, u = heapq.heappop(heap)
            if done[u]:
                continue
            done[u] = True
            if u == sink:
                break
            self._count(len(adj[u]))
            base = d + pi[u]
            for e in adj[u]:
                if cap[e] > 0:
                    v = head[e]
                    if not done[v]:
                        dv, nd = dist[v], base + cost[e] - pi[v]
                        if dv is None or nd < dv:
                            dist[v], pred[v] = nd, e
                            heapq.heappush(heap, (nd, v))
        if not done[sink]:
            pred[sink] = -1
            return pred
        reach = dist[sink]
        assert reach is not None
        for v, dv in enumerate(dist):
            pi[v] += dv if done[v] and dv is not None else reach
        return pred

    def _count(self, scans: int) -> None:
        if (self.work + scans) >> 20 != self.work >> 20:
            self.clock.remaining()  # the time limit and cancel, every ~10^6 arc scans
        self.work += scans
        if self.work > EXACT_WORK:
            from optim.errors import NotExactlyScalable

            raise NotExactlyScalable(_unproven(f"{EXACT_WORK:,} arc scans"))


# CP-SAT settings tried in turn on one worker (deterministic) for the integer stage in whole
# quanta: on quantities of 1e14 quanta each of them at times ran for minutes without closing
# the gap (or counting deterministic time) where another proved the optimum at once (seeds
# 18, 65 and 106 of the magnitude tests), so each gets CP_WORK before the next one
_CP_SETTINGS = (
    {"linearization_level": 2},
    {"linearization_level": 2, "cp_model_presolve": False},
    {"cp_model_presolve": False},
)
CP_WORK = 1.0
"""CP-SAT's deterministic time per setting: its budget, so that whether a setting proves
the tier total, and so whether a component is refused, depend on the model and not on the
machine's load (with a wall-clock budget, a solve stopped after 1.64 or 2.21 units of work in
two runs). These solves take at most ~0.01 units (300 random weeks)."""
CP_SECONDS = 10.0
"""The wall-clock guard per setting, for a stall that counts no deterministic time."""


def _cp_solve(runner: _Runner, model: Any, cp_model: Any) -> Any:
    """The model solved by CP-SAT on one worker under each of :data:`_CP_SETTINGS` in turn
    (:data:`CP_WORK` units of deterministic time each, :data:`CP_SECONDS` at most) until one
    proves the optimum; if none does, the component is refused
    (:class:`~optim.errors.NotExactlyScalable`). The solve's own time limit ends it as a
    time limit."""
    from optim.errors import NotExactlyScalable

    for setting in _CP_SETTINGS:
        solver = cp_model.CpSolver()
        solver.parameters.num_workers = 1
        solver.parameters.random_seed = runner.params.seed or 0
        for key, val in setting.items():
            setattr(solver.parameters, key, val)
        left = runner.clock.remaining()
        solver.parameters.max_deterministic_time = CP_WORK
        solver.parameters.max_time_in_seconds = (
            CP_SECONDS if left is None else min(left, CP_SECONDS)
        )
        status = solver.solve(model)
        runner.lp_count += 1
        if status == cp_model.OPTIMAL:
            return solver
        if status not in (cp_model.FEASIBLE, cp_model.UNKNOWN):
            raise EngineError(Status.ERROR, f"CP-SAT ended {solver.status_name(status)}")
        if runner.clock.expired():
            raise EngineError(Status.TIME_LIMIT, "time limit reached", Termination.TIME_LIMIT)
    raise NotExactlyScalable(
        _unproven(
            f"{CP_WORK:g} unit(s) of CP-SAT's deterministic time under any of "
            f"{len(_CP_SETTINGS)} settings",
            "tier total",
        )
    )


def _total_slack(best: float) -> float:
    """How far below the first step's tier total ``best`` the second step's total row sits
    on HiGHS: room for the solver's 1e-9 tolerances, yet below ``GRID_TOL`` of a quantum,
    so that snapping to the 1e-6 grid restores the total exactly (a slack of 1e-9 · best let
    the distance-to-share step keep 55 − 5.5e-8 of a total 55, which the grid repair floored
    to 54.999999). CP-SAT meets the total exactly and needs none."""
    return min(1e-9 * max(1.0, abs(best)), 0.5 * GRID_TOL * QUANTUM)


def _route(
    runner: _Runner,
    p: Problem,
    block: Block,
    ga: NDArray[np.int64],
    alloc: NDArray[np.float64],
    cap: NDArray[np.float64],
    floor: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Stage 4: fixed allocations, routed by lane cost, stability, then preference.

    ``method="auto"``: the exact min-cost flow of :mod:`optim.models.rationing.routing` on
    every component it takes; the routing LPs on the rest (and everywhere with ``"lp"``).
    """
    share = np.minimum(snap(alloc), cap)
    # the quanta each line gets (a fractional share floored, as the grid repair does): routed
    # as such, the flows are the lexicographically best routing of what is reported (routing
    # the fractional shares and rounding after left quanta at dearer cells); the stock the
    # flooring frees stays with the lines the fair shares put first (_dominated)
    alloc = floor_to_grid(share)
    dominated, movable, behind = _dominated(p, block, ga, share, cap, floor)
    # ``behind``: arcs of lot / all-or-nothing lines at cells where a line of a higher tier
    # is short. A whole line's amount is fixed, so the routing may not close them; it leaves
    # out (``closed``: the repair gives them no quantum either) every such arc a component's
    # amounts do not need, so the quanta flooring the higher tier's shares frees there stay
    # with that tier (a lot line of tier 3 took such a quantum). Passes, each on the
    # components the one before could not route in whole quanta: (1) without behind arcs;
    # (2) with those of lines at their floor (the minimums' share): a whole line above its
    # floor has no flow at such a cell in any routing of the tier-optimal continuous amounts
    # (a unit moved from it to the short line, which may draw there, would raise that tier's
    # total with every lower tier still at or above its floor), so they route with its
    # behind arcs closed - the floored higher tier only needs less - while a line at its
    # floor may need them (minimums come before tiers); (3) with every arc, a safety net
    # for solver noise only (found by no test or scan). Before pass 2, one component with a
    # lot line at its floor that needed a behind arc opened them all and a lot line above
    # its floor took the freed quantum there (test_rationing_route_tiers).
    line = block.arc_line
    multi = np.bincount(line, minlength=block.num_lines) > 1
    closed = np.zeros(block.num_arcs, dtype=bool)
    x = alloc[line].copy()
    if multi.any():
        above = _above_floor(share, floor, _component_supply(p, block, ga))
        shut = [behind]
        if (behind & ~above[line]).any() and (behind & above[line]).any():
            shut.append(behind & above[line])
        if behind.any():
            shut.append(np.zeros_like(behind))
        by_lp = np.ones(block.num_lines, dtype=bool)
        if runner.params.method != "lp":
            runner.clock.remaining()
            limit = runner.clock.deadline
            todo = by_lp.copy()  # the lines (whole components) a pass routes
            for k, arcs_shut in enumerate(shut):
                usable = ~dominated & ~arcs_shut & todo[line]
                exact = _route_exact(p, block, ga, alloc, usable, limit)
                if exact is None:  # lane costs off every exact grid: the LPs route them all
                    assert k == 0  # the same costs on every pass
                    break
                on = todo[line]
                x[on], closed[on] = exact[0][on], arcs_shut[on]
                by_lp[todo] = ~exact[1][todo]
                if k == len(shut) - 1:
                    break
                todo = _unroutable(p, block, x, alloc, todo & ~by_lp)
                if not todo.any():
                    break
        if by_lp.any():
            arcs = np.flatnonzero(by_lp[line])
            for k, arcs_shut in enumerate(shut):
                try:
                    x[arcs] = _route_lp(runner, p, block, ga[arcs], alloc, by_lp, ~arcs_shut[arcs])
                except EngineError as exc:
                    if exc.status is not Status.INFEASIBLE or k == len(shut) - 1:
                        raise
                    continue
                closed[arcs] = arcs_shut[arcs]
                break
    closed &= multi[block.arc_line]
    prio = _priority(p, block, ga, alloc)
    return _repair(block, x, alloc, prio, dominated | closed, movable)


def _unroutable(
    p: Problem,
    block: Block,
    flow: NDArray[np.float64],
    alloc: NDArray[np.float64],
    done: NDArray[np.bool_],
) -> NDArray[np.bool_]:
    """Lines (whole components, among those routed: ``done``) whose ``flow`` misses a
    line's allocation or gives a cell more than its stock, in whole quanta."""
    n = block.num_lines
    x = np.round(flow / QUANTUM)
    short = np.bincount(block.arc_line, x, n) != np.round(alloc / QUANTUM)
    over = np.bincount(block.arc_cell, x, block.num_cells) > np.floor(
        block.supply / QUANTUM + GRID_TOL
    )
    bad = short | np.bincount(block.arc_line, over[block.arc_cell], n).astype(bool)
    return done & np.isin(p.line_component, p.line_component[bad & done])


@_stopped()
def _route_exact(
    p: Problem,
    block: Block,
    ga: NDArray[np.int64],
    alloc: NDArray[np.float64],
    usable: NDArray[np.bool_],
    deadline: float | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.bool_]] | None:
    """Flows by successive shortest paths over the ``usable`` arcs (the others carry
    nothing: :func:`_dominated`) and the lines it routed; None when a component's lane costs
    fit no exact cost grid (:func:`optim.models.rationing.routing.integer_costs`).

    Quantities go in as whole quanta (``alloc`` is on the grid, supplies floored to it):
    every bottleneck is then a difference of integers below 2^53, exact in doubles, so the
    flows come back exactly on the grid and the repair has nothing to round (routed in
    units, a flow of 6.126929999999997 let the repair trade a quantum between lines). It
    stops at the ``time.perf_counter()`` ``deadline`` or a cancel: :func:`_stopped`."""
    from optim.models.rationing import routing, waterfill  # numba: imported when first needed

    cost = routing.integer_costs(p.arc_cost[ga], p.line_component[block.arc_line])
    if cost is None:
        return None
    arcs = np.flatnonzero(usable)
    prev = np.round(p.arc_previous[ga[arcs]] * PER_UNIT) if p.stability else None
    flow, done = routing.route(
        arc_line=block.arc_line[arcs],
        arc_cell=block.arc_cell[arcs],
        supply=np.floor(block.supply / QUANTUM + GRID_TOL),
        line_component=p.line_component,
        cell_component=p.cell_component,
        alloc=np.round(alloc / QUANTUM),
        cost=cost[arcs],
        previous=prev,
        rank=p.arc_rank[ga[arcs]],
        wide=waterfill.wide_lines(p),
        deadline=deadline,
    )
    x = np.zeros(block.num_arcs)
    x[arcs] = flow / PER_UNIT
    return x, done


def _route_lp(
    runner: _Runner,
    p: Problem,
    block: Block,
    ga: NDArray[np.int64],
    alloc: NDArray[np.float64],
    lines: NDArray[np.bool_],
    usable: NDArray[np.bool_] | None = None,
) -> NDArray[np.float64]:
    """The routing LPs on the ``lines`` (whole components; ``ga``: their arcs, in order;
    ``usable``: per such arc, False on arcs left out).

    Arcs of lines allocated nothing carry nothing and are left out of the LPs: their line
    rows (``Σ x = 0``) were forcing rows for HiGHS' presolve, whose postsolve could hand the
    clean-up a flow of −2.2e-6 on such an arc that it did not repair ('HiGHS: Unknown' on the
    third LP, seed 2153 in test_rationing_routing). Each LP is solved by
    :func:`_solve_routing_lp`.
    """
    sub, idx = _sub_block(block, lines)
    hi = alloc[idx]
    x = np.zeros(sub.num_arcs)
    live = np.flatnonzero((hi[sub.arc_line] > 0) & (True if usable is None else usable))
    sub = Block(sub.num_lines, sub.arc_line[live], sub.arc_cell[live], sub.supply)
    ga = ga[live]
    lo = np.maximum(0.0, hi - 1e-9 * np.maximum(1.0, hi))
    bounds: list[tuple[NDArray[np.float64], float, float]] = []
    change = None
    cost = p.arc_cost[ga]
    if np.any(cost > 0):
        sol = _solve_routing_lp(runner, build(sub, lo, hi, cost, maximize=False))
        bounds.append((cost, 0.0, _keep(sol.objective)))
    if p.stability:
        prev = p.arc_previous[ga]
        has = np.flatnonzero(prev > 0)
        change = Change(arcs=has, previous=prev[has])
        c = (prev <= 0).astype(np.float64)
        sol = _solve_routing_lp(
            runner,
            build(sub, lo, hi, c, maximize=False, bounds=bounds, change=change, change_cost=1.0),
        )
        bounds.append((c, 1.0, _keep(sol.objective)))
    sol = _solve_routing_lp(
        runner, build(sub, lo, hi, p.arc_rank[ga], maximize=False, bounds=bounds, change=change)
    )
    assert sol.x is not None
    x[live] = sol.x[: sub.num_arcs]
    return x


def _solve_routing_lp(runner: _Runner, lp: highs.LinearProgram) -> highs.RawSolution:
    """One routing LP; when HiGHS ends it neither solved nor stopped by a limit ('HiGHS:
    Unknown': the clean-up after presolve left a bound violated beyond the 1e-9
    tolerances) or calls it infeasible, the same LP once more without presolve — same
    rows, bounds and tolerances, so the same optimum, never a loosened one. (Presolve
    called a routing of 3e11 units with minimums infeasible that the LP without it routes,
    as the brute force does: seed 1388 of test_wide_components_above_the_size_limit_are_
    exact, a random run. A routing that is infeasible, with arcs shut, stays so.)"""
    try:
        return runner.solve(lp)
    except EngineError as exc:
        if exc.termination is not Termination.ERROR and exc.status is not Status.INFEASIBLE:
            raise
        return runner.solve(lp, options={"presolve": "off"})


def _grid_tol(quanta: NDArray[np.float64]) -> NDArray[np.float64]:
    """How far (in quanta) a value may sit from the grid and still be on it: ``GRID_TOL``,
    or four steps of the doubles near it where those are coarser (beyond 2^45 quanta, 3.5e7
    units: 557417989.819655 units divide by ``QUANTUM`` to 557417989819654.94, which the
    flat tolerance floored, a quantum lost)."""
    return np.maximum(GRID_TOL, 4.0 * np.spacing(np.abs(quanta)))


def snap(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Values within ``_grid_tol`` of the grid (LP noise) put exactly on it."""
    q = values / QUANTUM
    grid = np.round(q)
    return np.where(np.abs(q - grid) < _grid_tol(q), grid / PER_UNIT, values)


def floor_to_grid(values: NDArray[np.float64]) -> NDArray[np.float64]:
    """Values off the grid floored to a whole number of quanta (the grid repair's target)."""
    down = np.floor(values / QUANTUM + GRID_TOL) / PER_UNIT
    return np.where(off_grid(values), down, values)


def grid_sum(
    group: NDArray[np.int64], values: NDArray[np.float64], n: int, per_unit: float = PER_UNIT
) -> NDArray[np.float64]:
    """Per-group totals of grid values, exact: whole quanta summed as integers, divided once
    (so a line's total is the double nearest its decimal value, whatever its arcs are)."""
    quanta = np.round(values * per_unit)
    return cast(NDArray[np.float64], np.bincount(group, quanta, n) / per_unit)


def off_grid(values: NDArray[np.float64]) -> NDArray[np.bool_]:
    q = values / QUANTUM
    return np.abs(q - np.round(q)) >= _grid_tol(q)


def _priority(
    p: Problem, block: Block, ga: NDArray[np.int64], alloc: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Who absorbs rounding first: lower tiers, and lines whose total is off the grid."""
    tier = np.zeros(block.num_lines)
    tier[block.arc_line] = p.tier[p.arc_line[ga]]
    return tier + 0.5 * off_grid(alloc)


def _dominated(
    p: Problem,
    block: Block,
    ga: NDArray[np.int64],
    alloc: NDArray[np.float64],
    cap: NDArray[np.float64],
    floor: NDArray[np.float64] | None = None,
) -> tuple[NDArray[np.bool_], NDArray[np.bool_], NDArray[np.bool_]]:
    """Arcs that must carry nothing (and, per line, whether its quanta may move; and the
    arcs of lot / all-or-nothing lines behind a short line of a higher tier).

    An arc is dominated when its line (no integer rule; with a minimum, only when its
    allocation is above its ``floor``, the minimum it got, by more than 1e-7 relative) sits
    at a cell where a line (no integer rule) is short of its cap (``alloc``: the fractional
    shares) that comes first: of a higher tier (smaller number), or of the same tier with a
    lower fair-share ratio ``a / w`` (beyond 1e-7 relative; in components without integer
    rules, where the shares are leximin). Tier dominance and leximin make these flows 0 in
    every exact answer (shifting them to the short line — as far as the line stays at or
    above its floor — would raise the higher tier's total, or the tier's minimum ratio), so
    the fractional shares route without them, and so do their floors. The routing LP keeps
    each line within 1e-9 of its allocation, and a flooring or those tolerances free stock at
    a cell; the routing and the grid repair must not hand it to a line that comes after a
    short one there. The second array: lines without a minimum or an integer rule (the
    lines :func:`_give_back` may take quanta from). The third: arcs of lines with an integer
    rule at a cell where a line of a higher tier is short — never dominated (such a line's
    amount is fixed), they are left out of the routing where the amounts route without them
    (:func:`_route`).
    """
    line = block.arc_line
    g = p.arc_line[ga]
    tier = np.zeros(block.num_lines, dtype=np.int64)
    tier[line] = p.tier[g]
    has_floor = np.zeros(block.num_lines, dtype=bool)
    has_floor[line] = p.minimum[g] > 0
    whole = np.zeros(block.num_lines, dtype=bool)  # lots / all-or-nothing: may stay short
    whole[line] = (p.lot > 0)[g] | p.all_or_nothing[g]
    weight = np.ones(block.num_lines)
    weight[line] = p.rule_weight(p.request)[g]
    ratio = alloc / np.where(weight > 0, weight, 1.0)
    # short beyond LP noise, or by a whole quantum once floored to the grid, as the tier
    # check on every answer measures it (two tier-1 lines' equal shares of 3999.999999 are
    # 1999.9999995 each, within 1e-9 of their cap of 2000: a tier-2 line took the quantum
    # their flooring freed and the check withheld the answer)
    on_grid = np.round(floor_to_grid(alloc) / QUANTUM) < np.floor(cap / QUANTUM + GRID_TOL)
    short = ((alloc < cap - 1e-9 * np.maximum(1.0, cap)) | on_grid) & ~whole
    best = np.full(block.num_cells, np.iinfo(np.int64).max)
    on = short[line]
    np.minimum.at(best, block.arc_cell[on], tier[line[on]])
    # the least ratio of a short line per (cell, tier)
    key = block.arc_cell * (int(tier.max(initial=0)) + 1) + tier[line]
    least = np.full(block.num_cells * (int(tier.max(initial=0)) + 1), np.inf)
    np.minimum.at(least, key[on], ratio[line[on]])
    # beyond LP noise and the grid: a quantum of either line moves its ratio by QUANTUM / w,
    # 8.6e-7 for a line of weight 0.004 beside one of 1e9 (a snap or a sub-quantum share
    # floored to 0 made the larger line "after" and emptied it)
    light = np.full(len(least), np.inf)
    np.minimum.at(light, key[on], weight[line[on]])
    grid = QUANTUM / np.where(weight > 0, weight, 1.0)
    after = ratio[line] > least[key] + 1e-7 * np.maximum(1.0, ratio[line]) + grid[line] + (
        QUANTUM / np.where(light[key] > 0, light[key], 1.0)
    )
    # leximin holds where no integer rule moved the shares (the integer stage minimises the
    # distance to them instead)
    comp = np.zeros(block.num_lines, dtype=np.int64)
    comp[line] = p.line_component[g]
    after &= ~np.isin(comp, comp[whole])[line]
    movable = ~has_floor & ~whole
    closable = movable.copy()
    if floor is not None:
        scale = _component_supply(p, block, ga)
        closable |= has_floor & ~whole & _above_floor(alloc, floor, scale)
    lower = tier[line] > best[block.arc_cell]
    return (lower | after) & closable[line], movable, lower & whole[line]


def _above_floor(
    alloc: NDArray[np.float64], floor: NDArray[np.float64], scale: NDArray[np.float64]
) -> NDArray[np.bool_]:
    """Lines whose ``alloc`` is above their ``floor`` (the minimums' share): by a whole
    quantum once floored, against the floor rounded up to the grid - the measure of the
    tier check on every answer (:func:`optim.models.rationing.solve.tier_violations`) - or
    by more than 1e-7 relative and more than the shares' rounding at the magnitude of the
    line's component (:data:`NOISE_ULPS` units in the last place of ``scale``, its supply:
    :func:`_component_supply`). With the relative margin alone, a line of tier 2 at
    100.000005 over its minimum of 100 stayed open at a cell where tier 1 was short and took
    the quantum tier 1's floored shares freed there; and at 6.4e8 units (1e12 at a grid of
    1e-3) the 1e-7 that tier 1's shares left of the supply's last place counted as a tier-2
    line's excess over its minimum, the line was closed there, lost its minimum with it, and
    the check withheld the answer (test_rationing_magnitudes, seed 88)."""
    whole = np.floor(alloc / QUANTUM + GRID_TOL) - np.ceil(floor / QUANTUM - GRID_TOL) >= 1
    margin = np.maximum(1e-7 * np.maximum(1.0, floor), NOISE_ULPS * np.spacing(scale))
    return whole | (alloc > floor + margin)


NOISE_ULPS = 16
"""How many units in the last place of a component's supply its continuous shares may be
off by (a tier's shares summed against the supply, a Newton step's rounding)."""


def _component_supply(p: Problem, block: Block, ga: NDArray[np.int64]) -> NDArray[np.float64]:
    """Each local line's component's total supply (the magnitude its shares are computed at)."""
    line = block.arc_line
    comp = np.zeros(block.num_lines, dtype=np.int64)
    comp[line] = p.line_component[p.arc_line[ga]]
    _, local = np.unique(comp, return_inverse=True)
    pairs = np.unique(local[line] * block.num_cells + block.arc_cell)  # (component, cell)
    total = np.bincount(
        pairs // block.num_cells, block.supply[pairs % block.num_cells], minlength=1
    ).astype(np.float64)
    return total[local]


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
    dominated: NDArray[np.bool_] | None = None,
    no_floor: NDArray[np.bool_] | None = None,
) -> NDArray[np.float64]:
    """Put flows on the ``QUANTUM`` grid with every line's total exact and no cell over supply.

    Each line's target is its allocation in quanta (exact when on the grid; a fractional
    share is floored, losing less than one quantum). Its arcs are floored and the missing
    quanta go to the arcs with the largest remainders (or are taken off its largest arc
    when solver noise overshot). Cells then above their supply and lines below their target
    (noise of the routing LPs) are mended exactly by moving whole quanta along augmenting
    paths (:func:`_augment`): no line loses a quantum whenever an integer routing of the
    targets exists. ``dominated`` arcs (see :func:`_dominated`) carry nothing and receive no
    quantum. Only where no such routing exists (supplies off the grid) is a cell's excess
    trimmed on the arc of its lowest-priority line (largest ``line_priority``), largest flow
    first, and a line that cannot place its quanta elsewhere ends below its target rather
    than take stock a higher tier is short of; with ``no_floor`` (per line), quanta a line
    lost to the trimming come back from lower tiers at its cells (:func:`_give_back`).
    """
    A, n = block.num_arcs, block.num_lines
    r = np.maximum(flow[:A], 0.0) / QUANTUM
    if dominated is None:
        dominated = np.zeros(A, dtype=bool)
    r[dominated] = 0.0
    base = np.floor(r + GRID_TOL)
    frac = np.where(dominated, -1.0, np.maximum(r - base, 0.0))
    units = alloc / QUANTUM
    target = np.where(off_grid(alloc), np.floor(units + GRID_TOL), np.round(units))
    deficit = target - np.bincount(block.arc_line, base, n)
    rank = _rank_within(block.arc_line, -frac)
    per_arc = np.bincount(block.arc_line, ~dominated, n)  # arcs that may take a quantum
    pos = np.maximum(deficit, 0.0)
    # one quantum to the `pos` arcs with the largest remainders; any rest to the first of them
    add = (rank < pos[block.arc_line]).astype(np.float64)
    add += np.where(rank == 0, np.maximum(pos - per_arc, 0.0)[block.arc_line], 0.0)
    out = base + np.where(dominated, 0.0, add)
    neg = np.minimum(deficit, 0.0)
    if neg.any():
        biggest = _rank_within(block.arc_line, -out) == 0
        out = np.maximum(out + np.where(biggest, neg[block.arc_line], 0.0), 0.0)
    stock = np.floor(block.supply / QUANTUM + GRID_TOL)
    excess = np.bincount(block.arc_cell, out, block.num_cells) - stock
    if np.any(excess > 0) or np.any(np.bincount(block.arc_line, out, n) < target):
        out = _augment(block, out, target, stock, ~dominated, np.where(dominated, 0.0, add), frac)
        excess = np.bincount(block.arc_cell, out, block.num_cells) - stock
    # Only where no routing of the targets in whole quanta exists (supplies off the grid at
    # several cells of a line): trim each cell's excess from the lowest-priority line holding
    # flow there, largest flow first; when that arc holds less than the excess, the next one
    # gives the rest (an arc without flow is never picked, so no cell stays above its supply).
    while np.any(excess > 0):
        key = np.where(out > 0, -line_priority[block.arc_line] * 1e15 - out, np.inf)
        first = (_rank_within(block.arc_cell, key) == 0) & (out > 0)
        cut = np.where(first, np.minimum(np.maximum(excess, 0)[block.arc_cell], out), 0.0)
        if not cut.any():  # pragma: no cover - excess without flow cannot happen
            break
        out = out - cut
        excess = excess - np.bincount(block.arc_cell, cut, block.num_cells)
    if no_floor is not None:
        out = _give_back(block, out, target, np.floor(line_priority), no_floor)
    return out / PER_UNIT


def _augment(
    block: Block,
    out: NDArray[np.float64],
    target: NDArray[np.float64],
    stock: NDArray[np.float64],
    usable: NDArray[np.bool_],
    add: NDArray[np.float64],
    frac: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Rounded flows (``out``, whole quanta per arc) moved along augmenting paths until every
    line routes exactly its ``target`` quanta and no cell gives more than its ``stock``.

    An integer max-flow repair: from a cell over its stock (or a line below its target) a
    breadth-first search walks cell -> line (one quantum less on an arc with flow) -> cell
    (one more on a ``usable`` arc of that line) ... to a cell with stock left, and moves the
    path's bottleneck along it; line totals on the way never change. Whenever an integer
    routing of the targets over the usable arcs exists, such a path exists for as long as a
    cell is over or a line short (the difference of the two routings decomposes into such
    paths), so the repair never loses a quantum that rounding need not lose: the LP path
    reports the same quanta per line as the exact routing. Search order keeps close to the
    LPs' flows: at a cell, arcs rounding added a quantum to (``add``) give first, smallest
    remainder ``frac`` first; from a line, arcs with the largest remainder first. Rare (LP
    noise at a few cells; the exact routing's flows need nothing): a plain loop.
    """
    out = out.copy()
    n, C = block.num_lines, block.num_cells
    line, cell = block.arc_line, block.arc_cell
    short = target - np.bincount(line, out, n)
    room = stock - np.bincount(cell, out, C)
    by_line = np.lexsort((-frac, line))
    line_ptr = np.searchsorted(line[by_line], np.arange(n + 1))
    by_cell = np.lexsort((frac, -add, cell))
    cell_ptr = np.searchsorted(cell[by_cell], np.arange(C + 1))
    # sources: cells over their stock (node n + c), then lines short of their target (node i)
    sources = [n + int(c) for c in np.flatnonzero(room < 0)]
    sources += [int(i) for i in np.flatnonzero(short > 0)]
    for s in sources:
        while (room[s - n] < 0) if s >= n else (short[s] > 0):
            pred = {s: -1}  # node -> the arc it was reached by
            queue = [s]
            sink = -1
            for v in queue:
                if v < n:  # a line: one quantum more on a usable arc
                    for k in by_line[line_ptr[v] : line_ptr[v + 1]]:
                        w = n + int(cell[k])
                        if usable[k] and w not in pred:
                            pred[w] = int(k)
                            if room[w - n] > 0:
                                sink = w
                                break
                            queue.append(w)
                else:  # a cell: one quantum less on an arc with flow
                    for k in by_cell[cell_ptr[v - n] : cell_ptr[v - n + 1]]:
                        w = int(line[k])
                        if out[k] > 0 and w not in pred:
                            pred[w] = int(k)
                            queue.append(w)
                if sink >= 0:
                    break
            if sink < 0:  # no integer routing of the targets: the trimming decides
                break
            path = []
            w = sink
            while w != s:
                k = pred[w]
                path.append(k)
                w = int(line[k]) if w >= n else n + int(cell[k])
            need = -room[s - n] if s >= n else short[s]
            move = min(need, room[sink - n], *(out[k] for k in path[1::2]))
            for k in path[0::2]:  # into cells: the last hop and every second one back
                out[k] += move
            for k in path[1::2]:
                out[k] -= move
            room[sink - n] -= move
            if s >= n:
                room[s - n] += move
            else:
                short[s] -= move
    return out


def _give_back(
    block: Block,
    out: NDArray[np.float64],
    target: NDArray[np.float64],
    tier: NDArray[np.float64],
    no_floor: NDArray[np.bool_],
) -> NDArray[np.float64]:
    """Quanta (``out``, per arc) a line lost to rounding come back from lower tiers.

    A line left below its ``target`` (trimmed at a cell where its tier had the lowest
    priority) takes the missing quanta, at its own cells in preference order, from lines of
    lower tiers without a minimum there (lowest tier first, largest flow first); a donor
    that falls short in turn does the same one tier down. Cell totals never change, so
    rounding never moves quantity from a higher tier to a lower one. Rare: a few lines per
    10^6, so a plain loop over them.
    """
    got = np.bincount(block.arc_line, out, block.num_lines)
    lost = np.flatnonzero(target - got >= 1 - GRID_TOL)
    if len(lost) == 0:
        return out
    out = out.copy()
    line_arcs = np.argsort(block.arc_line, kind="stable")
    line_ptr = np.searchsorted(block.arc_line[line_arcs], np.arange(block.num_lines + 1))
    cell_arcs = np.argsort(block.arc_cell, kind="stable")
    cell_ptr = np.searchsorted(block.arc_cell[cell_arcs], np.arange(block.num_cells + 1))
    heap = [(float(tier[i]), int(i)) for i in lost]
    heapq.heapify(heap)
    while heap:
        t, i = heapq.heappop(heap)
        for k in line_arcs[line_ptr[i] : line_ptr[i + 1]]:
            need = target[i] - got[i]
            if need < 1 - GRID_TOL:
                break
            here = cell_arcs[cell_ptr[block.arc_cell[k]] : cell_ptr[block.arc_cell[k] + 1]]
            donor_line = block.arc_line[here]
            ok = (tier[donor_line] > t) & no_floor[donor_line] & (out[here] > 0)
            here, donor_line = here[ok], donor_line[ok]
            for pos in np.lexsort((-out[here], -tier[donor_line])):
                move = min(need, out[here[pos]])
                j = int(donor_line[pos])
                out[here[pos]] -= move
                out[k] += move
                got[j] -= move
                got[i] += move
                heapq.heappush(heap, (float(tier[j]), j))
                need -= move
                if need < 1 - GRID_TOL:
                    break
    return out
