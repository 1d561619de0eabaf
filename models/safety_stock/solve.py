"""Solve a safety-stock placement (GSM) instance: choose the method, run it, build the Result.

Methods (``params.method``):

``"auto"``
    ``"dp"`` when the network is a spanning tree (forest), else ``"mip"``.
``"dp"``
    Graves–Willems dynamic program (exact, trees only).
``"mip"``
    Exact for any acyclic network; currently ``"assignment"``.
``"assignment"``
    Spanning-forest DP relaxations give a first bound and incumbent, improved by a local
    search of exact tree DPs (:func:`~optim.models.safety_stock.relax.improve_by_forests`).
    The Lagrangian relaxation of the arcs outside the best forest
    (:mod:`optim.models.safety_stock.lagrange`: one tree DP per subgradient step) then
    raises the bound towards the pair LP's value and yields a feasible point per step; a
    best-first branch and bound on the dropped arcs with Lagrangian node bounds
    (:func:`~optim.models.safety_stock.lagrange.branch_and_bound`) closes what is left. Only
    when a gap remains after them, the LP relaxation of the
    (S, SI)-pair assignment MIP (:mod:`optim.models.safety_stock.assignment`: exact on trees,
    at least every spanning-tree bound on DAGs) is solved and rounded by thresholds. Past
    :data:`PAIR_LIMIT` pairs it is solved by column generation (start: the incumbent's pairs,
    all pairs with S = 0 and all with tau = 0; price every pair against the duals and add the
    most negative per stage; restricted value + sum of negative reduced costs is a lower
    bound at every round). When the rounding does not meet the LP bound, HiGHS solves the
    pair MIP (all pairs, or the generated ones past the limit) from the best point found.
    Neither is built when the time left is less than twice the predicted build and HiGHS
    set-up time (:data:`LP_CPU_PER_PAIR` per column, scaled by the solve's wall/CPU ratio):
    both are uninterruptible, so the result would come late; the best point and its bound
    are returned instead.
``"pwl"``
    Adaptive piecewise-linear MIP: MIPs whose concave costs are interpolated on a growing
    subset of the integer breakpoints are solved with HiGHS, each one warm-started from the
    incumbent. Every such MIP under-estimates the cost, so its dual bound is a valid lower
    bound, and its solution is a feasible point; the solution's net replenishment times are
    added as breakpoints until the interpolation is exact at the solution (bound = cost).
``"pwl_full"``
    One MIP on all integer breakpoints (the textbook model), warm-started from the relaxations.

``params.solver = "pyomo"`` solves the Pyomo reference formulation (all integer breakpoints)
through :mod:`optim.solvers.pyomo_highs` instead.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import pandas as pd

from optim.clock import Clock
from optim.errors import InstanceError
from optim.instances.safety_stock import SafetyStockInstance
from optim.models import choices
from optim.models.safety_stock import (
    GSMData,
    Solution,
    build_assignment_mip,
    build_mip,
    count_pairs,
    initial_pairs,
    merge_pairs,
    normalize,
    prepare,
    price_pairs,
    spanning_forests,
    threshold_roundings,
    tree_dp,
)
from optim.models.safety_stock.data import check_size, prepare_arrays
from optim.models.safety_stock.dp import DPTimeout
from optim.models.safety_stock.lagrange import branch_and_bound, lagrangian_bound
from optim.models.safety_stock.relax import improve_by_forests
from optim.models.safety_stock.serial import serial_chain_order, solve_serial_chain
from optim.models.safety_stock.tables import TableTimeout, all_stocking_tables
from optim.params import SolveParams
from optim.result import Result
from optim.status import Status

__all__ = ["METHODS", "solve", "solve_cover_strictest"]

METHODS = choices.METHODS["safety_stock"]
PAIR_LIMIT = 1_500_000  # beyond this many (S, SI) pairs the LP is solved by column generation
LP_ROUNDING = True  # "assignment": solve and round the LP relaxation before the MIP
CG_PAIRS_PER_STAGE = 10  # pairs priced into the LP per stage and column-generation round
#: pair LPs/MIPs with more columns run without HiGHS' presolve: its passes do not check the
#: time limit and remove almost nothing here (measured under load: 436 s of MIP presolve under
#: a 20 s limit on Willems chain 21, 241,348 columns; 22 s of LP presolve removing 0.2 % of
#: the columns on chain 16, 639,612 columns)
PRESOLVE_COLUMNS = 100_000
LOCAL_SEARCH_SHARE = 0.1  # share of the time left one forest local search may take
LAGRANGE_SHARE = 0.4  # share of the time left the Lagrangian ascent may take
BRANCH_SHARE = 0.8  # share of the time left after it the branch and bound may take
#: CPU seconds per pair column to build a pair LP and for HiGHS to set it up before its first
#: time check (measured on Willems chains 16 and 21: 1.6 and 2.3 microseconds)
LP_CPU_PER_PAIR = 2.5e-6


SOLVERS = choices.SOLVERS["safety_stock"]


def solve(instance: SafetyStockInstance, params: SolveParams | None = None) -> Result:
    """Optimal safety-stock placement.

    Parameters
    ----------
    instance
        A validated :class:`~optim.instances.safety_stock.SafetyStockInstance`.
    params
        ``method`` (see module doc), ``solver`` (``"auto"``/``"highs"`` or ``"pyomo"``),
        ``time_limit``, ``mip_gap`` (relative gap at which the MIP stops as optimal).

    Returns
    -------
    Result
        ``objective`` = total holding cost of safety stock per period, ``bound`` a proven
        lower bound; tables ``stages`` and ``demands``.
    """
    return _solve(instance, params or SolveParams())


def solve_without_comparison(
    instance: SafetyStockInstance, params: SolveParams | None = None
) -> Result:
    """:func:`solve` without the ``max_z`` comparison that its message states under
    ``pooling="critical_level"`` (a second solve, covering the strictest): the same
    placement and tables, for a caller that reads the tables only (the planning run's
    placement on the history's σ: the demo's safety-stock step 4.2 -> 3.5 CPU s)."""
    return _solve(instance, params or SolveParams(), compare=False)


def solve_cover_strictest(
    instance: SafetyStockInstance, params: SolveParams | None = None
) -> Result:
    """The comparison point of ``pooling="critical_level"``: the same instance and model with
    no reservation — every critical-level stage holds all critical levels at 0 and covers the
    strictest target among its classes, on the same demand laws, service measures and
    replenishment-time model (:mod:`optim.models.safety_stock.strictest`); other stages as in
    the plan. Its ``demands`` table states levels 0 and the model's services. The comparison
    :func:`solve` ran for its message on this very instance object is returned as is."""
    for inst, res in _COMPARISONS:
        if inst is instance:
            return res
    return _solve(instance, params or SolveParams(), strictest=True)


_COMPARISONS: list[tuple[SafetyStockInstance, Result]] = []  # the last solves' comparisons
_COMPARISONS_KEPT = 2


def _solve(
    instance: SafetyStockInstance,
    params: SolveParams,
    *,
    data: GSMData | None = None,
    strictest: bool = False,
    compare: bool = True,
) -> Result:
    """:func:`solve` (``data``: the instance already prepared) or, with ``strictest``,
    :func:`solve_cover_strictest`; ``compare=False``: :func:`solve_without_comparison`."""
    cpu0 = time.process_time()
    # one budget: tables, relaxations, LPs, MIPs, the comparison; at least MIN_BUDGET
    clock = Clock.of(params)
    choices.check("safety_stock", params)
    if data is None:
        try:
            data = prepare(instance, workers=params.threads, deadline=clock.deadline)
        except TableTimeout as stop:
            return _tables_timeout(instance, params, clock, stop)
    if strictest:
        from optim.models.safety_stock.strictest import cover_strictest_data

        data = cover_strictest_data(instance, data, workers=params.threads)
    tree = instance.is_spanning_tree()
    method = params.method
    if params.solver == "pyomo":
        if method == "dp":
            raise InstanceError(
                "method 'dp' runs without a solver; use solver='auto' or method='mip'.",
                field="params.method",
            )
        method = "pyomo"
    elif method == "auto":
        method = "dp" if tree else "mip"
    if method == "dp" and not tree:
        raise InstanceError(
            "method 'dp' needs a spanning tree (no undirected cycle); this network has one. "
            "Use method='mip' or 'auto'.",
            field="params.method",
        )

    info: dict[str, Any] = {"method": method, "stages": data.n, "arcs": int(data.source.size)}
    if strictest:
        info["comparison"] = "cover_strictest"
    # the instance travels with the result so that `optim simulate RESULT` needs nothing else
    info["instance"] = instance.model_dump(mode="json", exclude_none=True)
    path = serial_chain_order(data) if method == "dp" else None
    serial = None
    if path is not None:  # O(N^2) extreme-point DP, checked against the evaluation
        cost, out = solve_serial_chain(data, path)
        cand = normalize(data, out)
        if abs(cand.cost - cost) <= 1e-9 * max(1.0, abs(cost)):
            serial = cand
    if serial is None:
        check_size(instance, data.si_max, data.lead_time, data.s_max)
    if serial is not None:
        sol, status, bound, message = serial, Status.OPTIMAL, serial.cost, ""
        solver, version = "gsm-serial", ""
        info["method"] = "serial"
    elif method == "dp":
        solver, version = "gsm-dp", ""
        try:
            dp = tree_dp(data, deadline=clock.deadline)
            sol = normalize(data, dp.outbound)
            status, bound, message = Status.OPTIMAL, dp.cost, ""
        except DPTimeout as stop:
            # best known: every stage stocks for its whole replenishment time (S = 0), always
            # feasible; bound: every stage at its cheapest net replenishment time
            sol = normalize(data, np.zeros(data.n, dtype=np.int64))
            bound = _trivial_bound(data)
            status = Status.TIME_LIMIT
            message = (
                f"time limit reached in the tree DP ({stop.stages_done} of {stop.stages} "
                "stages); returned the feasible all-stocking solution (S = 0) with the "
                "trivial bound"
            )
    elif method == "pyomo":
        sol, status, bound, message = _solve_pyomo(data, params)
        solver, version = "pyomo-highs", _pyomo_version()
    else:
        if method == "mip":
            method = "assignment"
            info["method"] = method
        if method == "assignment":
            sol, status, bound, message, extra = _solve_assignment(data, params, clock, cpu0)
        else:
            sol, status, bound, message, extra = _solve_pwl(
                data, params, clock, full=method == "pwl_full"
            )
        info.update(extra)
        solver, version = "highs", _highs_version()

    objective = sol.cost if sol is not None else None
    gap = None
    if objective is not None and bound is not None:
        bound = min(bound, objective) if status is Status.OPTIMAL else bound
        gap = max(objective - bound, 0.0) / max(1.0, abs(objective))
    tables = _tables(instance, data, sol, strictest) if sol is not None else {}
    note = _pooling_note(
        instance, data, params, objective, info, clock, strictest, gap, compare=compare
    )
    if note:
        message = f"{message}; {note}" if message else note
    return Result(
        kind="safety_stock",
        status=status,
        objective=objective,
        bound=bound,
        gap=gap,
        runtime=clock.elapsed(),
        solver=solver,
        solver_version=version,
        tables=tables,
        message=message,
        params=params,
        info=info,
    )


def _tables_timeout(
    instance: SafetyStockInstance, params: SolveParams, clock: Clock, stop: TableTimeout
) -> Result:
    """The time limit passed while the stage tables were built, before any solver ran: the
    feasible all-stocking solution (every stage quotes S = 0, no order delay), each stage's
    stock evaluated once by its model (:func:`.tables.all_stocking_tables`), with the trivial
    bound 0 (safety stock is never negative), so the gap is 1."""
    arrays = prepare_arrays(instance)
    data = arrays.with_table(all_stocking_tables(instance, arrays))
    sol = normalize(data, np.zeros(data.n, dtype=np.int64))
    return Result(
        kind="safety_stock",
        status=Status.TIME_LIMIT,
        objective=sol.cost,
        bound=0.0,
        gap=1.0 if sol.cost > 0 else 0.0,
        runtime=clock.elapsed(),
        solver="gsm-tables",
        tables=_tables(instance, data, sol, False),
        message=(
            f"time limit ({params.time_limit:g} s) reached while building the safety-stock "
            f"tables of random lead times / critical levels ({stop.stages_done} of "
            f"{stop.stages} stages done), before any solver ran; returned the feasible "
            "all-stocking solution (every service time 0, no order delay) with the trivial "
            "bound 0: raise time_limit for an optimised placement"
        ),
        params=params,
        info={
            "method": "all_stocking",
            "stages": data.n,
            "arcs": int(data.source.size),
            "tables_done": stop.stages_done,
            "instance": instance.model_dump(mode="json", exclude_none=True),
        },
    )


def _highs_version() -> str:
    from optim.solvers import highs

    return highs.version()


def _pyomo_version() -> str:
    import pyomo.version

    return f"pyomo {pyomo.version.version} / HiGHS {_highs_version()}"


def _options(params: SolveParams, columns: int) -> dict[str, Any]:
    """HiGHS options of a pair LP/MIP: presolve off past :data:`PRESOLVE_COLUMNS` columns
    (unless the caller set it)."""
    options = dict(params.solver_options)
    if columns > PRESOLVE_COLUMNS:
        options.setdefault("presolve", "off")
    return options


def _search_deadline(clock: Clock) -> float | None:
    """Deadline of one local search: a tenth of the time left (none without a limit)."""
    return _share_deadline(clock, LOCAL_SEARCH_SHARE)


def _relaxations(
    data: GSMData, forests: list[np.ndarray], deadline: float | None = None
) -> tuple[float, Solution, list[np.ndarray], int]:
    """Spanning-forest DP relaxations: best lower bound, best repaired solution, their taus,
    and the position in ``forests`` of the forest with the best bound.

    At ``deadline`` (``time.perf_counter()``) the remaining forests are skipped; when none
    finished, the start is every stage stocking for its whole replenishment time (S = 0,
    always feasible) with the trivial bound.
    """
    lower = -math.inf
    best: Solution | None = None
    seeds: list[np.ndarray] = []
    top = 0
    for k, forest in enumerate(forests):
        try:
            dp = tree_dp(data, forest, deadline=deadline)
        except DPTimeout:
            break
        if dp.cost > lower:
            lower, top = dp.cost, k
        cand = normalize(data, dp.outbound)
        seeds.append(dp.inbound + data.lead_time - dp.outbound)
        seeds.append(cand.tau)
        if best is None or cand.cost < best.cost:
            best = cand
    if best is None:
        best, lower = normalize(data, np.zeros(data.n, dtype=np.int64)), _trivial_bound(data)
    return lower, best, seeds, top


def _trivial_bound(data: GSMData) -> float:
    """Every stage at its cheapest net replenishment time (zero)."""
    return float(sum(float(data.stage_cost(j, np.array(0))) for j in range(data.n)))


def _share_deadline(clock: Clock, share: float) -> float | None:
    """Deadline after ``share`` of the time left (none without a limit)."""
    left = clock.left()
    return None if left is None else time.perf_counter() + share * left


def _fits(clock: Clock, cpu0: float, pairs: int) -> tuple[bool, float]:
    """Whether a pair LP/MIP of ``pairs`` columns can be built and set up in the time left.

    Building it and HiGHS' set-up before its first time check are not interruptible; their
    CPU time is :data:`LP_CPU_PER_PAIR` per pair, scaled to wall time by this solve's
    wall/CPU ratio so far (the share of a core a loaded machine gives it). Returns the
    verdict and the predicted wall seconds; the model is built only if twice that is left.
    """
    left = clock.left()
    if left is None:
        return True, 0.0
    ratio = min(max(clock.elapsed() / max(time.process_time() - cpu0, 1e-3), 1.0), 50.0)
    need = LP_CPU_PER_PAIR * pairs * ratio
    return left >= 2 * need, need


def _solve_assignment(
    data: GSMData, params: SolveParams, clock: Clock, cpu0: float | None = None
) -> tuple[Solution, Status, float, str, dict[str, Any]]:
    """Method ``"assignment"`` (module doc); ``cpu0``: ``time.process_time()`` when the
    solve started (default: now), for the wall/CPU ratio of :func:`_fits`."""
    from optim.solvers import highs

    cpu0 = time.process_time() if cpu0 is None else cpu0
    from optim.solvers.highs_mip_start import solve_mip

    tol = max(params.mip_gap, 1e-9)
    forests = spanning_forests(data)
    lower, best, _, top = _relaxations(data, forests, clock.deadline)
    extra: dict[str, Any] = {"relaxation_bound": lower, "relaxation_cost": best.cost}

    def gap() -> float:
        return (best.cost - lower) / max(1.0, best.cost)

    if gap() > tol:  # exact tree DPs around the incumbent: a better start for LP and MIP
        best, dps = improve_by_forests(
            data, best, forests, seed=params.seed, deadline=_search_deadline(clock)
        )
        extra.update(local_search_cost=best.cost, local_search_dps=dps)
    if gap() > tol and not clock.expired():
        # Lagrangian relaxation of the arcs outside the best forest: the pair LP's bound by
        # tree DPs, and a feasible point from every DP
        lag = lagrangian_bound(
            data,
            forests[top],
            best,
            deadline=_share_deadline(clock, LAGRANGE_SHARE),
            tol=tol,
        )
        best = lag.best
        lower = max(lower, min(lag.bound, best.cost))
        extra.update(
            lagrangian_bound=lag.bound,
            lagrangian_cost=best.cost,
            lagrangian_iterations=lag.iterations,
        )
        if gap() > tol and lag.point is not None and not clock.expired():
            # branch and bound on the dropped arcs, Lagrangian bounds at the nodes
            bb = branch_and_bound(
                data, forests[top], lag, deadline=_share_deadline(clock, BRANCH_SHARE), tol=tol
            )
            best = bb.best
            lower = max(lower, min(bb.bound, best.cost))
            extra.update(
                branch_bound=bb.bound,
                branch_cost=best.cost,
                branch_nodes=bb.nodes,
                branch_open_nodes=bb.open_nodes,
            )

    status, message = Status.OPTIMAL, ""
    # 1. LP relaxation (all pairs, or column generation past PAIR_LIMIT), then rounding.
    pair_count = count_pairs(data)
    full = pair_count <= PAIR_LIMIT
    pairs = None if full else initial_pairs(data, [(best.outbound, best.inbound)])
    rounds = 0
    lp_seconds = 0.0
    while gap() > tol and LP_ROUNDING:
        size = pair_count if pairs is None else sum(int(s.size) for s, _ in pairs)
        fits, need = _fits(clock, cpu0, size)
        if clock.expired() or not fits:
            status, message = Status.TIME_LIMIT, _no_time("LP relaxation", size, need, clock)
            break
        master = build_assignment_mip(data, pairs, integer=False)
        if clock.expired():  # building the LP takes time too
            status, message = Status.TIME_LIMIT, "time limit reached in the LP relaxation"
            break
        lp_start = clock.elapsed()
        lp_params = params.model_copy(
            update={"solver_options": _options(params, master.lp.num_cols)}
        )
        raw = highs.solve(master.lp, lp_params, time_limit=clock.left(), want_duals=not full)
        lp_seconds = clock.elapsed() - lp_start
        rounds += 1
        if raw.status is not Status.OPTIMAL or raw.x is None:
            if raw.status is Status.TIME_LIMIT:
                status, message = Status.TIME_LIMIT, "time limit reached in the LP relaxation"
            break
        count = 0
        if pairs is not None and raw.row_dual is not None:
            low, add, count = price_pairs(data, master, raw.row_dual, per_stage=CG_PAIRS_PER_STAGE)
            lower = max(lower, float(raw.objective or 0.0) + low)
        if count == 0:
            lower = max(lower, float(raw.objective or 0.0))
            extra["lp_bound"] = raw.objective
        if count == 0 or gap() <= tol:
            for s in threshold_roundings(master, raw.x):
                cand = normalize(data, s)
                if cand.cost < best.cost:
                    best = cand
            extra["lp_rounding_cost"] = best.cost
            if gap() > tol:
                best, dps = improve_by_forests(
                    data, best, forests, seed=params.seed, deadline=_search_deadline(clock)
                )
                extra["lp_local_search_cost"] = best.cost
            break
        assert pairs is not None
        pairs = merge_pairs(pairs, add)
    extra["lp_rounds"] = rounds
    # 2. Branch and bound on the pair MIP (all pairs when they fit, else the generated ones).
    left = clock.left()
    if gap() > tol and status is Status.OPTIMAL:
        size = pair_count if pairs is None else sum(int(s.size) for s, _ in pairs) + data.n
        fits, need = _fits(clock, cpu0, size)
        if clock.expired() or not fits:
            status, message = Status.TIME_LIMIT, _no_time("MIP", size, need, clock)
        elif left is not None and left < lp_seconds:
            # the MIP starts by solving this LP again (a MIP start carries no basis)
            status = Status.TIME_LIMIT
            message = (
                f"time limit: the MIP's root LP needs about {lp_seconds:.3g} s (as the LP "
                f"relaxation did), {left:.3g} s were left"
            )
        else:
            own = [
                (np.array([best.outbound[j]]), np.array([best.inbound[j]])) for j in range(data.n)
            ]
            mip = build_assignment_mip(data, None if pairs is None else merge_pairs(pairs, own))
            start = mip.start_vector(best.outbound, best.inbound)
            sub = params.model_copy(
                update={"mip_gap": tol / 4, "solver_options": _options(params, mip.lp.num_cols)}
            )
            # what is left after building the MIP
            mip_start = clock.elapsed()
            raw = solve_mip(mip.lp, sub, time_limit=clock.left(), start=start)
            extra["mip_seconds"] = clock.elapsed() - mip_start
            if raw.bound is not None and pairs is None:  # restricted MIP: no bound
                lower = max(lower, raw.bound)
            if raw.x is not None:
                s, _ = mip.service_times(raw.x)
                cand = normalize(data, s)
                if cand.cost < best.cost:
                    best = cand
            if raw.status not in (Status.OPTIMAL, Status.FEASIBLE):
                status, message = raw.status, raw.message
    if gap() > tol:
        if status is Status.OPTIMAL:
            status = Status.FEASIBLE
        message = message or f"stopped with gap {gap():.3%}"
    return best, status, lower, message, extra


def _solve_pwl(
    data: GSMData, params: SolveParams, clock: Clock, *, full: bool
) -> tuple[Solution, Status, float, str, dict[str, Any]]:
    from optim.solvers.highs_mip_start import solve_mip

    tol = max(params.mip_gap, 1e-9)
    lower, best, seeds, _ = _relaxations(data, spanning_forests(data), clock.deadline)
    extra: dict[str, Any] = {"relaxation_bound": lower, "relaxation_cost": best.cost}

    def converged() -> bool:
        return best.cost - lower <= tol * max(1.0, best.cost)

    # Breakpoints: all integers (full) or a small set grown adaptively.
    if full:
        bps = [np.arange(int(L) + 1, dtype=np.int64) for L in data.tau_max]
    else:
        bps = [
            _initial_breakpoints(int(L), [int(s[j]) for s in seeds])
            for j, L in enumerate(data.tau_max.tolist())
        ]
    iterations = 0
    log: list[dict[str, float]] = []
    status = Status.OPTIMAL
    message = ""
    while not converged():
        if clock.expired():
            status, message = Status.TIME_LIMIT, "time limit reached"
            break
        mip = build_mip(data, bps)
        start = mip.start_vector(best.outbound, best.inbound, data.lead_time)
        sub = params.model_copy(update={"mip_gap": tol / 4})
        raw = solve_mip(mip.lp, sub, time_limit=clock.left(), start=start)
        iterations += 1
        if raw.bound is not None:
            lower = max(lower, raw.bound)
        if raw.x is None:
            status, message = raw.status, raw.message or "MIP returned no solution"
            break
        s = np.rint(raw.x[mip.s_col]).astype(np.int64)
        si = np.rint(raw.x[mip.si_col]).astype(np.int64)
        cand = normalize(data, s)
        if cand.cost < best.cost:
            best = cand
        log.append(
            {
                "pieces": int(sum(max(b.size - 1, 0) for b in bps)),
                "lower_bound": lower,
                "cost": best.cost,
            }
        )
        if raw.status is not Status.OPTIMAL and raw.status is not Status.FEASIBLE:
            status, message = raw.status, raw.message
            break
        grown = False
        tau_raw = si + data.lead_time - s
        for j, b in enumerate(bps):
            new = {int(tau_raw[j]), int(cand.tau[j])} - set(b.tolist())
            if new and data.unit_cost[j] > 0:
                bps[j] = np.union1d(b, np.array(sorted(new), dtype=np.int64))
                grown = True
        if not grown and raw.status is Status.OPTIMAL:
            # Interpolation exact at the relaxed optimum: its value is the GSM optimum.
            lower = max(lower, min(raw.objective or lower, best.cost))
            break
    if status is Status.OPTIMAL and not converged():
        status = Status.FEASIBLE
        message = message or (f"stopped with gap {(best.cost - lower) / max(1.0, best.cost):.3%}")
    extra.update(
        {
            "mip_iterations": iterations,
            "mip_log": log,
            "breakpoints": int(sum(max(b.size, 0) for b in bps)),
        }
    )
    return best, status, lower, message, extra


def _no_time(what: str, pairs: int, need: float, clock: Clock) -> str:
    """Why the pair LP/MIP was not started (or stopped)."""
    left = clock.left() or 0.0
    if clock.expired() or need == 0.0:
        return f"time limit reached before the {what}"
    return (
        f"time limit: building and setting up the {what} ({pairs:,} pair columns) takes about "
        f"{need:.3g} s here, {left:.3g} s were left; returned the best solution with its bound"
    )


def _initial_breakpoints(L: int, seeds: list[int]) -> np.ndarray:
    """0, 1, L and the relaxations' net replenishment times."""
    pts = {0, 1, L}
    pts.update(s for s in seeds if 0 <= s <= L)
    return np.array(sorted(pts), dtype=np.int64)


def _solve_pyomo(
    data: GSMData, params: SolveParams
) -> tuple[Solution | None, Status, float | None, str]:
    from optim.models.safety_stock.pyomo import build_pyomo, service_times
    from optim.solvers import pyomo_highs

    model = build_pyomo(data)
    raw = pyomo_highs.solve(model, params)
    if raw.objective is None:
        return None, raw.status, raw.bound, raw.message
    s, _ = service_times(model, data)
    sol = normalize(data, np.clip(np.asarray(s, dtype=np.int64), 0, data.s_max))
    return sol, raw.status, raw.bound, raw.message


def _pooling_note(
    instance: SafetyStockInstance,
    data: GSMData,
    params: SolveParams,
    objective: float | None,
    info: dict[str, Any],
    clock: Clock,
    strictest: bool = False,
    gap: float | None = None,
    *,
    compare: bool = True,
) -> str:
    """What the pooling rule means for service, and the saving of critical levels against
    covering the strictest on the same model (:mod:`optim.models.safety_stock.strictest`)."""
    if instance.pooling in ("root_sum_square", "additive"):
        return (
            f"pooling {instance.pooling!r} does not differentiate service: stock is issued first "
            "come, first served, so every segment at a stage gets the same service "
            "(expected_cycle_service) and segments stricter than the pooled level miss their "
            "target; use pooling 'critical_level'"
        )
    if instance.pooling != "critical_level" or objective is None:
        return ""
    from optim.models.safety_stock.critical import stage_fallbacks, stage_specs

    specs = stage_specs(instance, data.n, data.ids)
    fallbacks = stage_fallbacks(instance, data.n, data.ids)
    info["critical_level_stages"] = len(specs)
    if fallbacks:
        info["square_root_fallback_stages"] = {data.ids[j]: why for j, why in fallbacks.items()}
    fell = _fallback_note(instance, data, fallbacks)
    tail = f"; {fell}" if fell else ""
    if strictest:
        return (
            f"cover the strictest (the comparison point of critical levels): {len(specs)} "
            "shared stage(s) without reservation (critical levels 0), every segment covered at "
            "its stage's strictest target on the critical-level model's demand laws"
        ) + tail
    if not specs:
        if fell:
            return f"critical levels at no stage; {fell}"
        return "critical levels: no stage serves segments with different targets (as max_z)"
    if clock.expired() or not compare:
        why = "time limit reached" if compare else "not asked for"
        return (
            f"critical levels at {len(specs)} shared stage(s), each segment at its own target "
            f"(max_z comparison skipped: {why})"
        ) + tail
    left = clock.left()
    ref = _solve(
        instance,
        params if left is None else params.model_copy(update={"time_limit": left}),
        data=data,
        strictest=True,
    )
    _COMPARISONS.append((instance, ref))
    del _COMPARISONS[:-_COMPARISONS_KEPT]
    if ref.objective is None:
        return (
            "critical levels: each segment at its own target (max_z comparison not solved)" + tail
        )
    saving = ref.objective - objective
    info["max_z_cost"] = ref.objective
    info["saving_vs_max_z"] = saving
    head = (
        f"critical levels at {len(specs)} shared stage(s), each segment at its own target: "
        f"holding cost {objective:.6g} against {ref.objective:.6g} with max_z (cover the "
        "strictest, critical levels 0, same demand laws and service measures) on the same "
        "instance"
    )
    if saving < 0:  # only when a solve stopped early: both tables are ordered pointwise
        gaps = f"gaps {gap or 0.0:.3%} and {ref.gap or 0.0:.3%}"
        return f"{head}, {-saving:.6g} more: a solve stopped before optimality ({gaps}){tail}"
    return f"{head}, saving {saving:.6g} ({saving / max(ref.objective, 1e-12):.1%}){tail}"


def _fallback_note(instance: SafetyStockInstance, data: GSMData, fallbacks: dict[int, str]) -> str:
    """The stages that qualify for critical levels but keep the square-root model, and why
    (:func:`~optim.models.safety_stock.critical.stage_fallbacks`): their segments are covered
    at the stage's strictest target (max_z), on the normal approximation with each demand's
    own mean and variance (a Poisson demand's variance is its mean)."""
    if not fallbacks:
        return ""
    parts = []
    for j, why in fallbacks.items():
        segs = [d for d in instance.demands if d.stage == data.ids[j]]
        differ = len({(float(d.service_level), d.service_measure) for d in segs}) > 1
        laws = sorted({d.distribution for d in segs if d.distribution not in ("auto", "normal")})
        what = "serves segments with different targets" if differ else "qualifies"
        law = f" ({', '.join(laws)} demand)" if laws else ""
        parts.append(f"stage {data.ids[j]!r}{law} {what} but {why}")
    keeps = "these stages keep" if len(parts) > 1 else "it keeps"
    return (
        "no critical levels where " + "; ".join(parts) + f": {keeps} the square-root model "
        "(max_z: every segment covered at the stage's strictest target, no reservation) on "
        "the normal approximation with each demand's own mean and variance (Poisson: "
        "variance = mean; its std_dev is ignored)"
    )


def _tables(
    instance: SafetyStockInstance, data: GSMData, sol: Solution, strictest: bool = False
) -> dict[str, pd.DataFrame]:
    stages = pd.DataFrame(
        {
            "stage": list(data.ids),
            "inbound_service_time": sol.inbound,
            "outbound_service_time": sol.outbound,
            "net_replenishment_time": sol.tau,
            "safety_stock": sol.safety_stock,
            "base_stock_level": data.base_stock(sol.inbound, sol.outbound, sol.safety_stock),
            "holding_cost": sol.stage_cost,
            "decoupling_point": sol.safety_stock > 0,
        }
    )
    if data.order_delay is not None:  # random / fractional lead times
        stages.insert(4, "mean_lead_time", data.expected_lead_time())
        stages.insert(5, "order_delay", data.delay(sol.tau))
    pos = {sid: j for j, sid in enumerate(data.ids)}
    demands = pd.DataFrame(
        {
            "stage": [d.stage for d in instance.demands],
            "segment": [d.segment for d in instance.demands],
            "promise": [d.max_service_time for d in instance.demands],
            "service_time": [int(sol.outbound[pos[d.stage]]) for d in instance.demands],
            "service_level": [d.service_level for d in instance.demands],
            "z": data.z,
        }
    )
    for col, values in _segment_columns(instance, data, sol, strictest).items():
        demands[col] = values
    return {"stages": stages, "demands": demands}


def _segment_columns(
    instance: SafetyStockInstance, data: GSMData, sol: Solution, strictest: bool = False
) -> dict[str, list[Any]]:
    r"""Per (stage, segment): priority, critical level, measure, target and the model's service.

    Stages with critical levels: the exact services of :mod:`optim.models.safety_stock.critical`.
    Other stages serve first come, first served from normal demand: every segment gets the
    pooled cycle service :math:`\Phi(SS_j / (\sigma_j\sqrt{\tau_j}))` with
    :math:`\sigma_j^2 = \sum_d (\varphi_{jd}\sigma_d)^2` (1 at :math:`\tau_j = 0`), or
    with a random or fractional lead time :math:`P(D(R) \le B_j)` over the random
    replenishment time (:func:`~optim.models.safety_stock.lead_times.model_service`: the
    exact model's service also when ``lead_time_method="two_moment"`` sized the stock); its
    fill rate is left to the simulation (NaN).
    """
    from statistics import NormalDist

    from optim.models.safety_stock.critical import law_std_devs, policy_at, stage_specs
    from optim.models.safety_stock.lead_times import (
        critical_lead_time_policy,
        model_service,
        needs_table,
    )
    from optim.models.safety_stock.strictest import strictest_policy

    dem = instance.demands
    nd = len(dem)
    pos = {sid: j for j, sid in enumerate(data.ids)}
    sigma = law_std_devs(instance)
    pooled = np.sqrt(np.asarray(data.phi.multiply(data.phi) @ (sigma**2), dtype=np.float64))
    out: dict[str, list[Any]] = {
        "service_measure": [d.service_measure for d in dem],
        "target": [d.service_level for d in dem],
        "priority": [1] * nd,
        "critical_level": [0.0] * nd,
        "expected_cycle_service": [0.0] * nd,
        "expected_fill_rate": [float("nan")] * nd,
    }
    nd_ = NormalDist()
    delay = data.delay(sol.tau)
    lead_mean = data.expected_lead_time()
    for i, d in enumerate(dem):
        j = pos[d.stage]
        tau = int(sol.tau[j])
        if needs_table(instance.stages[j]):  # B_j = SS_j + mu_j (SI - S + delta + E L)
            x = tau - int(data.lead_time[j]) + int(delay[j])
            base = float(sol.safety_stock[j]) + float(data.mean[j]) * (x + float(lead_mean[j]))
            cyc = model_service(instance, data, j, tau, base)
        elif tau <= 0:
            cyc = 1.0
        elif pooled[j] <= 0:
            cyc = 1.0 if sol.safety_stock[j] >= 0 else 0.0
        else:
            cyc = nd_.cdf(float(sol.safety_stock[j]) / (pooled[j] * math.sqrt(tau)))
        out["expected_cycle_service"][i] = cyc
        if tau <= 0:
            out["expected_fill_rate"][i] = 1.0
    specs = stage_specs(instance, data.n, data.ids)
    for j, spec in specs.items():
        stage = instance.stages[j]
        if needs_table(stage):  # random lead time: the composed model, order delay included
            pol = critical_lead_time_policy(
                spec,
                stage,
                int(data.lead_time[j]),
                int(sol.tau[j] + delay[j]),
                float(sol.safety_stock[j]),
                reserve=not strictest,
            )
        elif strictest:
            pol = strictest_policy(spec, int(sol.tau[j]), float(sol.safety_stock[j]))
        else:
            pol = policy_at(spec, int(sol.tau[j]), float(sol.safety_stock[j]))
        for rank, i in enumerate(spec.demands):
            out["priority"][i] = rank + 1
            out["critical_level"][i] = pol.levels[rank] * spec.step
            out["expected_cycle_service"][i] = pol.cycle[rank]
            out["expected_fill_rate"][i] = pol.fill[rank]
    out["expected_service"] = [
        out["expected_fill_rate"][i]
        if d.service_measure == "fill_rate"
        else out["expected_cycle_service"][i]
        for i, d in enumerate(dem)
    ]
    return out
