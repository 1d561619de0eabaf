"""Shortage rationing: instance → staged allocation → :class:`optim.Result`.

The rules (exact, staged; see :mod:`optim.models.rationing`):

1. contractual minimums first, as their own stage;
2. tiers in order: a tier gets as much as possible before a lower tier gets anything from the
   same stock; stock a higher tier cannot use flows on;
3. inside a tier that cannot be served in full, the segments' fair-share rule, leximin on the
   rule's ratio (proportional: fill rate; equal: quantity; weighted: quantity per weight);
4. ``max_quantity``, ``lot_size`` and ``all_or_nothing`` always hold (integer rules by MIP);
5. then routing: lane cost, then change against ``previous`` (``stability``), then location
   preference (default order: location id). Routings equal on all three criteria can differ
   arc by arc; the tie is resolved deterministically — by the exact routing's scan order
   (:mod:`optim.models.rationing.routing`, ``method="auto"``) or by the single-threaded HiGHS
   simplex (``method="lp"``) — so the same input gives byte-identical output.

Result tables: ``allocations`` (demand_id, item, location, quantity), ``lines`` (one row per
demand line with requested, allocated, fill_rate, tier, stage and a sentence that explains the
quantity), ``segments`` and ``unallocated`` (supply left per item and location).
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Callable
from dataclasses import replace
from functools import partial

import numpy as np
import pandas as pd

from optim.instances.rationing import RationingInstance
from optim.models import choices
from optim.models.rationing import engine
from optim.models.rationing.arrays import RULES, Problem, Rule, prepare
from optim.params import SolveParams
from optim.precision import format_values
from optim.result import Result
from optim.solvers import highs
from optim.status import SolutionStatus, Status, Termination

METHODS = choices.METHODS["rationing"]

STAGE_NAMES = {
    engine.NO_STOCK: "no_stock",
    engine.FULL: "full",
    engine.CAPPED: "capped",
    engine.FAIR: "fair_share",
    engine.ZERO_LEFT: "nothing_left",
    engine.INTEGER: "integer",
}


SOLVERS = choices.SOLVERS["rationing"]


def solve(instance: RationingInstance, params: SolveParams | None = None) -> Result:
    """Allocate scarce supply to demand lines by the instance's pre-approved rules.

    Parameters
    ----------
    instance
        A validated :class:`~optim.instances.rationing.RationingInstance`.
    params
        ``solver="auto"``/``"highs"`` runs the block-decomposed fast path; ``"pyomo"`` the
        Pyomo reference formulation (small instances; same answers, tested equal).
        ``method="auto"`` gives components without integer rules the exact flow method
        (:mod:`optim.models.rationing.waterfill`) and every small component the exact routing
        (:mod:`optim.models.rationing.routing`); ``"lp"`` runs the staged LPs everywhere.

    Returns
    -------
    Result
        ``objective`` is the total allocated quantity.
    """
    params = params or SolveParams()
    check(params)
    start = time.perf_counter()
    problem = prepare(instance)
    check_memory(problem)
    try:
        outcome = allocate(problem, params)
    except engine.EngineError as exc:
        return _failed(exc, params, start, solver_name(params), problem)
    except engine.ComponentNotScalable as exc:
        raise _refused(exc, problem) from exc
    return finished(
        build_tables(instance, problem, outcome),
        alloc=outcome.alloc,
        request=problem.request,
        cap=problem.cap,
        lane=problem.arc_cost * outcome.flow,
        params=params,
        start=start,
    )


BYTES_PER_LINE = 300
BYTES_PER_ARC = 300
"""What the solve allocates beyond the loaded week, per order line and per (line, location)
arc, erring low (it refuses weeks: a false alarm would refuse a solvable one). Measured at
200,000 lines (``python benchmarks/bench_rationing_memory.py --shape dense|sparse``): dense,
389,638 arcs, 251 MiB above the instance, estimated 169 MiB; sparse, 400,573 arcs, 199 MiB,
estimated 172 MiB."""


def check_memory(p: Problem) -> None:
    """Refuse a week whose solve would need more than the memory limit
    (:func:`~optim.instances.gate.memory_limit`: 8 GiB, ``OPTIM_MEMORY_LIMIT_GB``) beyond the
    loaded instance, estimated from its lines and arcs before the stages allocate anything (issue
    12: memory estimated from the input)."""
    from optim.errors import InstanceError
    from optim.instances.gate import memory_limit

    need = BYTES_PER_LINE * p.num_lines + BYTES_PER_ARC * p.num_arcs
    limit = memory_limit()
    if need > limit:
        raise InstanceError(
            f"demand: {p.num_lines:,} order lines with {p.num_arcs:,} (line, location) pairs; "
            f"the solve would need at least about {need / 2**30:,.1f} GiB beyond the week "
            f"itself; allowed: at most {limit / 2**30:,.0f} GiB "
            "(OPTIM_MEMORY_LIMIT_GB) — solve a CSV folder piece by piece with "
            "`optim solve FOLDER --split --tables DIR` (memory bounded per worker), or raise "
            "the limit on a larger machine.",
            field="demand",
        )


def check(params: SolveParams) -> None:
    """Refuse a method or solver rationing does not have (:class:`InstanceError`)."""
    choices.check("rationing", params)


def solver_name(params: SolveParams) -> str:
    """The ``solver`` a rationing result names for ``params.solver``."""
    return {"pyomo": "pyomo+highs", "cpsat": "cpsat+highs"}.get(params.solver, "highs")


def allocate(
    problem: Problem, params: SolveParams, *, offset: int = 0, unit: int | None = None
) -> engine.Outcome:
    """The staged allocation of ``problem`` (raises :class:`engine.EngineError`,
    :class:`engine.ComponentNotScalable` or, before solving, :func:`check_span`'s refusal).
    ``offset`` (:func:`engine.blocks`) and ``unit`` (the exponent of :func:`_in_units`, else
    :func:`unit_exponent` of ``problem``) let a slice of a larger instance be solved exactly
    as the whole instance solves it."""
    check_span(problem, params)
    k = unit_exponent(problem) if unit is None else unit
    if params.solver == "pyomo":
        from optim.models.rationing import reference

        out = _in_units(reference.allocate, problem, params, k)
    else:
        out = _in_units(partial(engine.allocate, offset=offset), problem, params, k)
    crossed, stranded = tier_violations(problem, out, engine.QUANTUM * 10.0**k)
    if len(crossed) or len(stranded):
        raise engine.EngineError(Status.ERROR, _crossed(problem, out, crossed, stranded))
    return out


_BROKE = "the answer broke tier priority"


def tier_violations(
    p: Problem, out: engine.Outcome, quantum: float
) -> tuple[np.ndarray, np.ndarray]:
    """Where the answer breaks tier priority: ``(arcs, cells)``, both empty in every correct
    answer.

    A line of a higher tier (smaller number) without an integer rule, short of its cap on
    the grid, can gain stock at a cell it may draw on directly, or by moving other lines'
    flow (line → any of its cells → a line with flow there → …, an augmenting path that
    keeps every other line's total): :func:`waterfill.reach_gain`, a lower bound of how many
    grid quanta. An arc breaks tier priority when its line, of a lower tier, holds stock
    there above its own floor (its minimums' share) that the higher tier could gain; a cell
    when stock left there unallocated could be gained. Flooring each share and supply to
    the grid leaves under one quantum per line and cell, so a finding counts only when the
    gain reaches the component's lines + cells in quanta: exact beyond that, and
    independent of the stages' tolerances. At the cell itself the check is exact to one
    quantum: an arc of a lower-tier line holding a quantum at a cell where such a short line
    may draw, with its line a quantum above its floor (rounded up) - rounding never hands a
    lower tier the quantum a higher tier's floored share freed. A check on every answer, so
    that a numerical slip (a relative tolerance calling a tier 10 units short of 1e12
    "served") is an error, never a plan. One compiled breadth-first search per tier.
    """
    from optim.models.rationing.waterfill import reach_gain

    n, C = p.num_lines, p.num_cells
    none = np.zeros(0, dtype=np.int64)
    cap_q = np.floor(p.cap / quantum + 0.01)
    alloc_q = np.round(out.alloc / quantum)
    short = np.where((p.lot > 0) | p.all_or_nothing, 0.0, np.maximum(cap_q - alloc_q, 0.0))
    if not (short >= 1).any():
        return none, none
    order = np.lexsort((p.arc_cell, p.arc_line))
    line_ptr = np.r_[0, np.cumsum(np.bincount(p.arc_line, minlength=n))]
    cell_ptr = np.r_[0, np.cumsum(np.bincount(p.arc_cell, minlength=C))]
    by_cell = np.argsort(p.arc_cell[order], kind="stable")
    flow_q = np.round(out.flow / quantum)
    surplus = np.maximum(alloc_q - np.floor(out.floor / quantum + 0.01), 0.0)
    free = np.maximum(np.floor(p.supply / quantum + 0.01) - np.bincount(p.arc_cell, flow_q, C), 0)
    n_comp = int(max(p.line_component.max(initial=-1), p.cell_component.max(initial=-1))) + 1
    slack = (
        np.bincount(p.line_component, minlength=n_comp)
        + np.bincount(p.cell_component, minlength=n_comp)
    )[p.cell_component]
    # at one cell, exact to the quantum: a line holding a quantum there while a line of a
    # higher tier (no integer rule) is short at the same cell holds it above its floor
    # rounded up (a unit moved from it to the short line raises that tier's total; the
    # routing never gives a lower tier such a quantum, a lot line's included)
    first = np.full(C, np.iinfo(np.int64).max)
    on = short[p.arc_line] >= 1
    np.minimum.at(first, p.arc_cell[on], p.tier[p.arc_line[on]])
    above = alloc_q - np.ceil(out.floor / quantum - 0.01) >= 1
    arcs = [
        np.flatnonzero(
            (p.tier[p.arc_line] > first[p.arc_cell]) & (flow_q >= 1) & above[p.arc_line]
        )
    ]
    cells = [none]
    for t in np.unique(p.tier[short >= 1]):
        gain = reach_gain(
            line_ptr, p.arc_cell[order], cell_ptr, by_cell, p.arc_line[order],
            (short >= 1) & (p.tier <= t), short, flow_q[order],
        )  # fmt: skip
        lower = p.tier[p.arc_line] > t
        take = np.minimum(np.minimum(gain[p.arc_cell], flow_q), surplus[p.arc_line])
        arcs.append(np.flatnonzero(lower & (take >= slack[p.arc_cell])))
        cells.append(np.flatnonzero(np.minimum(gain, free) >= slack))
    return np.unique(np.concatenate(arcs)), np.unique(np.concatenate(cells))


def _crossed(p: Problem, out: engine.Outcome, arcs: np.ndarray, cells: np.ndarray) -> str:
    """The first finding of :func:`tier_violations`, as the planner knows it."""
    if len(arcs):
        k = int(arcs[0])
        j, c = int(p.arc_line[k]), int(p.arc_cell[k])
        held = f"line {p.line_id[j]} (tier {p.tier[j]}) held {out.flow[k]:.10g} units"
        tier = p.tier[j]
    else:
        c = int(cells[0])
        used = float(out.flow[p.arc_cell == c].sum())
        held = f"{p.supply[c] - used:.10g} units were left unallocated"
        tier = p.num_tiers + 1
    item = p.cell_item[c]
    short = np.flatnonzero((p.tier < tier) & (out.alloc < p.cap) & (p.line_item == item))
    i = int(short[np.argmin(p.tier[short])]) if len(short) else 0
    where = str(p.location_names[p.cell_location[c]])
    return (
        f"{_BROKE} and was withheld: {held} of {p.item_names[item]} at {where} while line "
        f"{p.line_id[i]} (tier {p.tier[i]}) was {p.cap[i] - out.alloc[i]:.10g} units short "
        "and could be served from it"
    )


def finished(
    tables: dict[str, pd.DataFrame],
    *,
    alloc: np.ndarray,
    request: np.ndarray,
    cap: np.ndarray,
    lane: np.ndarray,
    params: SolveParams,
    start: float,
) -> Result:
    """The optimal result of per-line ``alloc`` / ``request`` / ``cap`` (input order) and
    per-arc lane cost × flow ``lane`` (arc order): objective, message and totals."""
    total = float(alloc.sum())
    lane_cost = float(lane.sum())
    requested = float(request.sum())
    short = int((alloc < cap - 1e-9 * np.maximum(1, cap)).sum())
    message = (
        f"allocated {total:.10g} of {requested:.10g} requested "
        f"({total / requested:.1%}); {short} of {len(alloc)} lines short"
    )
    solver = solver_name(params)
    return Result(
        kind="rationing",
        status=Status.OPTIMAL,
        objective=total,
        bound=total,
        gap=0.0,
        runtime=time.perf_counter() - start,
        solver=solver,
        solver_version=_version(solver),
        tables=tables,
        message=message,
        params=params,
        info={
            "total_requested": requested,
            "total_allocated": total,
            "lane_cost": lane_cost,
        },
    )


# Quantities are planned on a grid of ``engine.QUANTUM`` (1e-6) units; a double carries that
# grid exactly (with the engine's snapping tolerance to spare) up to 1e9 units.
PLAIN_LIMIT = 1e9


def unit_exponent(p: Problem) -> int:
    """The ``k`` such that quantities divided by ``10**k`` are at most :data:`PLAIN_LIMIT`.

    0 for every instance up to 1e9 units; the instance schema refuses quantities above
    :data:`optim.instances.rationing.MAX_QUANTITY` (1e12, so ``k ≤ 3``).
    """
    return exponent_of(
        max(
            float(np.max(p.supply, initial=0.0)),
            float(np.max(p.cap, initial=0.0)),
            float(np.max(p.lot, initial=0.0)),
            float(np.max(p.arc_previous, initial=0.0)),
        )
    )


def exponent_of(top: float) -> int:
    """The least ``k`` with ``top ≤ PLAIN_LIMIT · 10**k`` (see :func:`unit_exponent`)."""
    k = 0
    while top > PLAIN_LIMIT * 10.0**k:
        k += 1
    return k


def _in_units(
    allocate: Callable[[Problem, SolveParams], engine.Outcome],
    p: Problem,
    params: SolveParams,
    k: int | None = None,
) -> engine.Outcome:
    """``allocate(p)`` with quantities stated in units of ``10**k`` (:func:`unit_exponent`).

    Every rule is invariant under a common scale of the quantities (tier totals, leximin of
    ``a_i / w_i``, caps, minimums, lots, lane cost, change and preference), so the plan in the
    larger unit is the plan, scaled; it is reported on a grid of ``10**k`` quanta (1e-3 units
    at 1e12) instead of 1e-6 units. ``k = 0`` (up to 1e9 units): ``allocate(p)`` itself.
    """
    k = unit_exponent(p) if k is None else k
    if k == 0:
        return allocate(p, params)
    unit = 10.0**k
    scaled = replace(
        p,
        supply=p.supply / unit,
        request=p.request / unit,
        cap=p.cap / unit,
        minimum=p.minimum / unit,
        lot=p.lot / unit,
        arc_previous=p.arc_previous / unit,
    )
    out = allocate(scaled, params)
    # flows are whole quanta of the scaled grid: exact integers times the larger quantum
    quanta = np.round(out.flow / engine.QUANTUM)
    per_unit = 10.0 ** (6 - k)  # quanta per unit (k ≤ 3 keeps it an exact integer)
    flow = quanta / per_unit
    # ratios a_i / w_i carry the unit unless w_i is the request itself (proportional)
    level_unit = np.where(p.rule == Rule.PROPORTIONAL, 1.0, unit)
    return engine.Outcome(
        alloc=engine.grid_sum(p.arc_line, flow, p.num_lines, per_unit),
        flow=flow,
        floor=out.floor * unit,
        stage=out.stage,
        level=out.level * level_unit,
        share=None if out.share is None else out.share * unit,
        lp_count=out.lp_count,
    )


def _version(solver: str) -> str:
    if solver.startswith("cpsat"):
        import ortools

        return f"ortools {ortools.__version__} / HiGHS {highs.version()}"  # type: ignore[attr-defined]
    return highs.version()


def component_name(p: Problem, component: int) -> str:
    """One component as the planner knows it: its lines, items and locations (the first
    three of each, then how many more)."""
    lines = np.flatnonzero(p.line_component == component)
    arcs = np.isin(p.arc_line, lines)
    items = sorted({str(v) for v in p.item_names[p.line_item[lines]]})
    places = sorted({str(v) for v in p.location_names[p.cell_location[p.arc_cell[arcs]]]})

    def listed(names: list[str]) -> str:
        return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")

    return (
        f"the component of {len(lines)} line(s) ({listed([str(v) for v in p.line_id[lines]])}) "
        f"of item(s) {listed(items)} at {listed(places)}"
    )


def check_span(p: Problem, params: SolveParams) -> None:
    """Refuse, before solving, an input the staged LPs cannot solve exactly
    (:class:`~optim.errors.SpanBeyondMethod`, CLI exit 2): with ``method="lp"`` or the Pyomo
    reference, a component whose quantities span more than
    :data:`~optim.models.rationing.waterfill.LP_SPAN` (:func:`waterfill.spans`; the widest
    is named). The default method is exact at every span up to 1e12 units."""
    if params.method != "lp" and params.solver != "pyomo":
        return
    from optim.errors import SpanBeyondMethod
    from optim.models.rationing import waterfill

    comps, span, low, top = waterfill.spans(p)
    if not (span > waterfill.LP_SPAN).any():
        return
    k = int(np.argmax(span))
    option = "--method lp" if params.method == "lp" else "--solver pyomo"
    raise SpanBeyondMethod(
        f"{option}: {component_name(p, int(comps[k]))} has quantities from {low[k]:.10g} "
        f"to {top[k]:.10g} units, a span of {span[k]:.3g} (largest / smallest positive), "
        f"beyond {waterfill.LP_SPAN:g}, the widest span the staged LPs resolve exactly "
        "(measured: HiGHS' tolerances fail on some instances from about 4e5 on). The "
        "default method (--method auto, --solver highs) is exact at any span up to 1e12 "
        "units: use it for this input."
    )


def _refused(exc: engine.ComponentNotScalable, p: Problem) -> Exception:
    """CP-SAT's refusal of one component, naming it as the planner knows it: its lines,
    items and locations (:class:`~optim.errors.NotExactlyScalable`, CLI exit 2)."""
    from optim.errors import NotExactlyScalable
    from optim.solvers.cpsat import MAX_INT, BeyondIntegerRange

    where = component_name(p, exc.component)
    reason = exc.reason
    if not isinstance(reason, BeyondIntegerRange):
        return NotExactlyScalable(f"{reason} In {where}.")
    multiplier = (
        "" if reason.multiplier is None else f"; objective multiplier {reason.multiplier:.3e}"
    )
    return NotExactlyScalable(
        f"--solver cpsat: the rationing integer stage of {where} needs integers up to "
        f"{reason.value:.3e} once scaled exactly ({reason.what}{multiplier}), beyond CP-SAT's "
        f"safe range 2^53 = {MAX_INT:.3e}. The distance to the fair shares weighs each line by "
        "1 / its rule weight, so its exact common denominator grows with the distinct weights "
        "and share denominators of one component. Use --solver highs."
    )


def _failed(
    exc: engine.EngineError, params: SolveParams, start: float, solver: str, p: Problem
) -> Result:
    status = exc.status
    if status is Status.TIME_LIMIT:
        why = "cancelled" if exc.termination is Termination.INTERRUPTED else "time limit reached"
        msg = (
            f"{why} before every stage finished; rationing returns no partial "
            "allocation because an unfinished stage would break the tier rules"
        )
    else:
        # every rationing instance has an allocation (zero for every line fits), so a stage
        # LP that says infeasible or unbounded failed numerically: an error (exit 1), never
        # "no solution: infeasible" (exit 3), which would blame the input
        status = Status.ERROR
        span = _span_note(p)
        what = (
            str(exc) if str(exc).startswith(_BROKE) else f"a stage LP failed numerically ({exc})"
        )
        msg = (
            f"{what}; every rationing instance has an allocation, so the input is not "
            f"infeasible{span}"
        )
    return Result(
        kind="rationing",
        status=status,
        termination=exc.termination if status is Status.TIME_LIMIT else None,
        solution_status=SolutionStatus.NONE if status is Status.TIME_LIMIT else None,
        runtime=time.perf_counter() - start,
        solver=solver,
        solver_version=_version(solver),
        message=msg,
        params=params,
    )


def _span_note(p: Problem) -> str:
    """What :func:`_failed` says of the widest component's span (:func:`waterfill.spans`).

    The staged LPs run only on components within :data:`waterfill.LP_SPAN`: wider ones take
    the flow method (their integer stage on CP-SAT in whole quanta), and ``--method lp`` /
    ``--solver pyomo`` refuse them before solving. Beyond it only the routing LPs still run,
    for lane costs on no exact grid (measured reliable there). Either way a failure is a bug
    to report."""
    from optim.models.rationing import waterfill

    comps, span, low, top = waterfill.spans(p)
    if not len(comps):
        return ""
    k = int(np.argmax(span))
    where = (
        f"; its widest component's quantities span {low[k]:g} to {top[k]:g} units, a ratio of "
        f"{span[k]:.1e}"
    )
    if span[k] <= waterfill.LP_SPAN:
        return (
            f"{where}, within what the staged LPs resolve ({waterfill.LP_SPAN:g}): a bug, "
            "please report the instance"
        )
    return (
        f"{where}, beyond what the staged LPs resolve ({waterfill.LP_SPAN:g}), where only the "
        "routing LPs of lane costs on no exact grid still run: a bug, please report the "
        "instance"
    )


def build_tables(
    inst: RationingInstance, p: Problem, out: engine.Outcome
) -> dict[str, pd.DataFrame]:
    """Result tables keyed by the instance's ids.

    Columns are built as numpy arrays and each table is constructed once (no groupby, merge
    or sort of frames): a small instance's tables cost well under a millisecond of pandas.
    """
    dem = inst.demand
    used = np.flatnonzero(out.flow > 0)
    allocations = pd.DataFrame(
        {
            "demand_id": p.line_id[p.arc_line[used]],
            "item": p.item_names[p.cell_item[p.arc_cell[used]]],
            "location": p.location_names[p.cell_location[p.arc_cell[used]]],
            "quantity": out.flow[used],
        }
    )
    stage = out.stage.copy()
    full = stage == engine.FULL
    stage[full & (p.cap < p.request - 1e-12)] = engine.CAPPED
    requested = p.request
    fill = out.alloc / requested
    rule = np.asarray(RULES, dtype=object)[p.rule]
    segment = dem["segment"].to_numpy()
    lines = pd.DataFrame(
        {
            "demand_id": p.line_id,
            "customer": dem["customer"].to_numpy(),
            "item": dem["item"].to_numpy(),
            "segment": segment,
            "tier": p.tier,
            "fair_share": rule,
            "requested": requested,
            "allocated": out.alloc,
            "fill_rate": fill,
            "min_quantity": p.minimum,
            "stage": _STAGE_TEXT[stage],
            "explanation": _explain(p, out, stage, inst.unit),
        }
    )
    taken = np.bincount(p.arc_cell, out.flow, p.num_cells)
    unallocated = pd.DataFrame(
        {
            "item": inst.supply["item"].to_numpy(),
            "location": inst.supply["location"].to_numpy(),
            "supply": p.supply,
            "allocated": taken,
            "unallocated": np.maximum(p.supply - taken, 0.0),
        }
    )
    return {
        "allocations": allocations,
        "lines": lines,
        "segments": _segments(inst.segments, segment, requested, out.alloc),
        "unallocated": unallocated,
    }


_STAGE_TEXT = np.array(
    [STAGE_NAMES.get(code) for code in range(max(STAGE_NAMES) + 1)], dtype=object
)
"""Stage names by stage code (a lookup array)."""


def _segments(
    segments: pd.DataFrame, segment: np.ndarray, requested: np.ndarray, allocated: np.ndarray
) -> pd.DataFrame:
    """One row per segment of the instance (also those without lines), by tier then name:
    its lines, requested and allocated totals (correctly rounded sums, :func:`math.fsum`)
    and fill rate (NaN without demand)."""
    names = segments["name"].to_numpy(dtype=object)
    tiers = segments["tier"].to_numpy(dtype=np.int64)
    at = pd.Index(names).get_indexer(segment)  # every line's segment is known (validated)
    count = np.bincount(at, minlength=len(names)).astype(np.int64)
    order = np.argsort(at, kind="stable")
    bounds = np.r_[0, np.cumsum(count)].tolist()
    req_sorted, alloc_sorted = requested[order], allocated[order]
    req = np.array([math.fsum(req_sorted[a:b].tolist()) for a, b in itertools.pairwise(bounds)])
    got = np.array([math.fsum(alloc_sorted[a:b].tolist()) for a, b in itertools.pairwise(bounds)])
    with np.errstate(invalid="ignore", divide="ignore"):
        fill = np.where(req > 0, got / np.where(req > 0, req, 1.0), np.nan)
    rows = sorted(range(len(names)), key=lambda i: (tiers[i], names[i]))
    return pd.DataFrame(
        {
            "segment": names[rows],
            "tier": tiers[rows],
            "fair_share": segments["fair_share"].to_numpy(dtype=object)[rows],
            "lines": count[rows],
            "requested": req[rows],
            "allocated": got[rows],
            "fill_rate": fill[rows],
        }
    )


def _fmt(values: np.ndarray) -> np.ndarray:
    """``f"{v:.6g}"`` of every value (object array); each distinct value is formatted once.
    For rates and weights: quantities are written as in the tables (:func:`_qty`)."""
    x = np.ascontiguousarray(values, dtype=np.float64)
    codes, uniques = pd.factorize(x.view(np.int64))  # bitwise: -0.0, 0.0 and NaN kept apart
    texts = np.array([f"{v:.6g}" for v in uniques.view(np.float64).tolist()], dtype=object)
    return texts[codes]


def _qty(values: np.ndarray) -> np.ndarray:
    """The texts of quantities as the tables write them (:mod:`optim.precision`): whole
    numbers without decimals, others to at most six, never an exponent (object array)."""
    return np.asarray(format_values(values, "quantity"), dtype=object)


def _by_value(values: np.ndarray, text: Callable[[int], str]) -> np.ndarray:
    """``text(v)`` for every small non-negative integer ``v`` (tiers), via a lookup table."""
    table = np.array([text(v) for v in range(int(values.max(initial=0)) + 1)], dtype=object)
    return table[values]


def _eligible(p: Problem, lines: np.ndarray) -> np.ndarray:
    """Per line, its eligible locations in preference order joined by ", " ("" if none).

    Only ``lines`` (a boolean mask) are filled. Arcs are sorted by (line, rank), so the k-th
    arc of every line is appended in one vectorised step per k.
    """
    out = np.full(p.num_lines, "", dtype=object)
    arcs = np.flatnonzero(lines[p.arc_line])
    if len(arcs) == 0:
        return out
    line = p.arc_line[arcs]
    names = p.location_names[p.cell_location[p.arc_cell[arcs]]]
    first = np.r_[True, line[1:] != line[:-1]]
    starts = np.flatnonzero(first)
    pos = np.arange(len(arcs)) - starts[np.cumsum(first) - 1]
    out[line[starts]] = names[starts]
    for k in range(1, int(pos.max()) + 1):
        at = pos == k
        out[line[at]] = out[line[at]] + ", " + names[at]
    return out


def _explain(
    p: Problem, out: engine.Outcome, stage: np.ndarray, unit: str = "units"
) -> np.ndarray:
    """One sentence per line saying which rule gave its quantity; an equal share is counted
    in ``unit`` (the instance's, e.g. ``pcs``), quantities are written as in the tables."""
    n = p.num_lines
    text = np.empty(n, dtype=object)
    tier_txt = _by_value(p.tier, lambda t: f"tier {t}")
    full = stage == engine.FULL
    text[full] = _by_value(p.tier, lambda t: f"tier {t}: served in full")[full]
    capped = stage == engine.CAPPED
    if capped.any():
        text[capped] = tier_txt[capped] + ": served up to its max_quantity " + _qty(p.cap[capped])
    # eligible locations of lines that were rationed (fair share / nothing left / no stock)
    eligible = _eligible(p, ~(full | capped))
    after = _by_value(
        p.tier, lambda t: f" after tier{'s 1–' if t > 2 else ' '}{t - 1}" if t > 1 else ""
    )
    fair = np.flatnonzero(stage == engine.FAIR)
    if len(fair):
        lev = out.level[fair]
        rule = p.rule[fair]
        lev_txt = _fmt(lev)
        one = "unit" if unit == "units" else unit  # a label of the planner's is kept as given
        share = np.where(
            rule == Rule.PROPORTIONAL,
            "proportional share: fill rate " + lev_txt,
            np.where(
                rule == Rule.EQUAL,
                "equal share: " + _qty(lev) + np.where(lev == 1.0, f" {one}", f" {unit}"),
                "weighted share: "
                + lev_txt
                + " per unit of weight (weight "
                + _fmt(p.weight[fair])
                + ")",
            ),
        )
        # lines frozen below the highest level of their tier in their component were held
        # back by the stock their eligible locations can reach
        key = p.line_component[fair] * (p.num_tiers + 1) + p.tier[fair]
        groups, at = np.unique(key, return_inverse=True)
        top = np.full(len(groups), -np.inf)
        np.fmax.at(top, at, lev)  # NaN skipped, as a groupby max does
        top = top[at]
        held = lev < top * (1 - 1e-9)
        reason = np.where(held, "; held lower because its eligible locations run out", "")
        text[fair] = (
            tier_txt[fair]
            + ", "
            + share
            + " of the stock at "
            + eligible[fair]
            + " left"
            + after[fair]
            + reason
        )
    zero = np.flatnonzero(stage == engine.ZERO_LEFT)
    if len(zero):
        text[zero] = (
            tier_txt[zero]
            + ": nothing left at "
            + eligible[zero]
            + np.where(p.tier[zero] > 1, after[zero], " for this line")
        )
    integer = np.flatnonzero(stage == engine.INTEGER)
    if len(integer):
        share = out.share[integer] if out.share is not None else np.full(len(integer), np.nan)
        got = out.alloc[integer]
        lot, aon = p.lot[integer], p.all_or_nothing[integer]
        share_txt, got_txt = _qty(share), _qty(got)
        why = np.where(
            aon & (got <= 0),
            "all_or_nothing: its share "
            + share_txt
            + " is less than the full "
            + _qty(p.cap[integer])
            + ", so the line is dropped",
            np.where(
                aon,
                "all_or_nothing: served the full "
                + got_txt
                + " (its share was "
                + share_txt
                + ")",
                np.where(
                    lot > 0,
                    "fair share "
                    + share_txt
                    + " rounded to "
                    + got_txt
                    + " in lots of "
                    + _qty(lot),
                    "adjusted from its fair share "
                    + share_txt
                    + " to "
                    + got_txt
                    + " around other lines' whole lots",
                ),
            ),
        )
        text[integer] = tier_txt[integer] + ", integer rules: " + why
    none = np.flatnonzero(stage == engine.NO_STOCK)
    if len(none):
        text[none] = (
            "no supply row of item "
            + p.item_names[p.line_item[none]].astype(str).astype(object)
            + " at its eligible locations"
        )
    # contractual minimums
    has_min = np.flatnonzero(p.minimum > 0)
    if len(has_min):
        got = out.floor[has_min]
        ok = got >= p.minimum[has_min] * (1 - 1e-9)
        min_txt = _qty(p.minimum[has_min])
        suffix = np.where(
            ok,
            "; contractual minimum " + min_txt + " guaranteed first",
            "; contractual minimum "
            + min_txt
            + " only partly covered ("
            + _qty(got)
            + "): minimums were rationed by tier first",
        )
        text[has_min] = text[has_min] + suffix
    return text
