"""Solve a safety-stock placement (GSM) instance: choose the method, run it, build the Result.

Methods (``params.method``):

``"auto"``
    ``"dp"`` when the network is a spanning tree (forest), else ``"mip"``.
``"dp"``
    Graves–Willems dynamic program (exact, trees only).
``"mip"``
    Exact for any acyclic network; currently ``"assignment"``.
``"assignment"``
    Spanning-forest DP relaxations give a first bound and incumbent. The LP relaxation of the
    (S, SI)-pair assignment MIP (:mod:`optim.models.safety_stock.assignment`: exact on trees,
    at least every spanning-tree bound on DAGs) is solved and rounded by thresholds. Past
    :data:`PAIR_LIMIT` pairs it is solved by column generation (start: the incumbent's pairs,
    all pairs with S = 0 and all with tau = 0; price every pair against the duals and add the
    most negative per stage; restricted value + sum of negative reduced costs is a lower
    bound at every round). When the rounding does not meet the LP bound, HiGHS solves the
    pair MIP (all pairs, or the generated ones past the limit) from the best point found.
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

import time
from typing import Any

import numpy as np
import pandas as pd

from optim.errors import InstanceError
from optim.instances.safety_stock import SafetyStockInstance
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
from optim.models.safety_stock.dp import DPTimeout
from optim.params import SolveParams
from optim.result import Result
from optim.status import Status

__all__ = ["METHODS", "solve"]

METHODS = ("auto", "dp", "mip", "assignment", "pwl", "pwl_full")
PAIR_LIMIT = 1_500_000  # beyond this many (S, SI) pairs the LP is solved by column generation
LP_ROUNDING = True  # "assignment": solve and round the LP relaxation before the MIP
CG_PAIRS_PER_STAGE = 10  # pairs priced into the LP per stage and column-generation round


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
    params = params or SolveParams()
    t0 = time.perf_counter()
    if params.method not in METHODS:
        raise InstanceError(
            f"method {params.method!r} is not a safety-stock method (allowed: "
            f"{', '.join(METHODS)}).",
            field="params.method",
        )
    if params.solver not in ("auto", "highs", "pyomo"):
        raise InstanceError(
            f"solver {params.solver!r} is not available for safety_stock (allowed: auto, highs, "
            "pyomo).",
            field="params.solver",
        )
    data = prepare(instance)
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
    # the instance travels with the result so that `optim simulate RESULT` needs nothing else
    info["instance"] = instance.model_dump(mode="json", exclude_none=True)
    if method == "dp":
        solver, version = "gsm-dp", ""
        deadline = None if params.time_limit is None else t0 + params.time_limit
        try:
            dp = tree_dp(data, deadline=deadline)
            sol = normalize(data, dp.outbound)
            status, bound, message = Status.OPTIMAL, dp.cost, ""
        except DPTimeout as stop:
            # best known: every stage stocks for its whole replenishment time (S = 0), always
            # feasible; bound: every stage at its cheapest net replenishment time
            sol = normalize(data, np.zeros(data.n, dtype=np.int64))
            bound = float(sum(float(data.stage_cost(j, np.array(0))) for j in range(data.n)))
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
            sol, status, bound, message, extra = _solve_assignment(data, params, t0)
        else:
            sol, status, bound, message, extra = _solve_pwl(
                data, params, t0, full=method == "pwl_full"
            )
        info.update(extra)
        solver, version = "highs", _highs_version()

    objective = sol.cost if sol is not None else None
    gap = None
    if objective is not None and bound is not None:
        bound = min(bound, objective) if status is Status.OPTIMAL else bound
        gap = max(objective - bound, 0.0) / max(1.0, abs(objective))
    tables = _tables(instance, data, sol) if sol is not None else {}
    return Result(
        kind="safety_stock",
        status=status,
        objective=objective,
        bound=bound,
        gap=gap,
        runtime=time.perf_counter() - t0,
        solver=solver,
        solver_version=version,
        tables=tables,
        message=message,
        params=params,
        info=info,
    )


def _highs_version() -> str:
    from optim.solvers import highs

    return highs.version()


def _pyomo_version() -> str:
    import pyomo.version

    return f"pyomo {pyomo.version.version} / HiGHS {_highs_version()}"


def _remaining(params: SolveParams, t0: float) -> float | None:
    if params.time_limit is None:
        return None
    return params.time_limit - (time.perf_counter() - t0)


def _relaxations(data: GSMData) -> tuple[float, Solution, list[np.ndarray]]:
    """Spanning-forest DP relaxations: best lower bound, best repaired solution, their taus."""
    lower = 0.0
    best: Solution | None = None
    seeds: list[np.ndarray] = []
    for forest in spanning_forests(data):
        dp = tree_dp(data, forest)
        lower = max(lower, dp.cost)
        cand = normalize(data, dp.outbound)
        seeds.append(dp.inbound + data.lead_time - dp.outbound)
        seeds.append(cand.tau)
        if best is None or cand.cost < best.cost:
            best = cand
    if best is None:  # pragma: no cover - spanning_forests always returns one forest
        best = normalize(data, np.zeros(data.n, dtype=np.int64))
    return lower, best, seeds


def _solve_assignment(
    data: GSMData, params: SolveParams, t0: float
) -> tuple[Solution, Status, float, str, dict[str, Any]]:
    from optim.solvers import highs
    from optim.solvers.highs_mip_start import solve_mip

    tol = max(params.mip_gap, 1e-9)
    lower, best, _ = _relaxations(data)
    extra: dict[str, Any] = {"relaxation_bound": lower, "relaxation_cost": best.cost}

    def gap() -> float:
        return (best.cost - lower) / max(1.0, best.cost)

    status, message = Status.OPTIMAL, ""
    # 1. LP relaxation (all pairs, or column generation past PAIR_LIMIT), then rounding.
    full = count_pairs(data) <= PAIR_LIMIT
    pairs = None if full else initial_pairs(data, [(best.outbound, best.inbound)])
    rounds = 0
    while gap() > tol and LP_ROUNDING:
        left = _remaining(params, t0)
        if left is not None and left <= 0:
            status, message = Status.TIME_LIMIT, "time limit reached in the LP relaxation"
            break
        master = build_assignment_mip(data, pairs, integer=False)
        left = _remaining(params, t0)  # building the LP takes time too
        if left is not None and left <= 0:
            status, message = Status.TIME_LIMIT, "time limit reached in the LP relaxation"
            break
        raw = highs.solve(master.lp, params, time_limit=left, want_duals=not full)
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
            break
        assert pairs is not None
        pairs = merge_pairs(pairs, add)
    extra["lp_rounds"] = rounds
    # 2. Branch and bound on the pair MIP (all pairs when they fit, else the generated ones).
    if gap() > tol and status is Status.OPTIMAL:
        left = _remaining(params, t0)
        if left is not None and left <= 0:
            status, message = Status.TIME_LIMIT, "time limit reached"
        else:
            own = [
                (np.array([best.outbound[j]]), np.array([best.inbound[j]])) for j in range(data.n)
            ]
            mip = build_assignment_mip(data, None if pairs is None else merge_pairs(pairs, own))
            start = mip.start_vector(best.outbound, best.inbound)
            sub = params.model_copy(update={"mip_gap": tol / 4})
            left = _remaining(params, t0)  # what is left after building the MIP
            raw = solve_mip(
                mip.lp, sub, time_limit=max(left, 1e-3) if left is not None else None, start=start
            )
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
    data: GSMData, params: SolveParams, t0: float, *, full: bool
) -> tuple[Solution, Status, float, str, dict[str, Any]]:
    from optim.solvers.highs_mip_start import solve_mip

    tol = max(params.mip_gap, 1e-9)
    lower, best, seeds = _relaxations(data)
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
        left = _remaining(params, t0)
        if left is not None and left <= 0:
            status, message = Status.TIME_LIMIT, "time limit reached"
            break
        mip = build_mip(data, bps)
        start = mip.start_vector(best.outbound, best.inbound, data.lead_time)
        sub = params.model_copy(update={"mip_gap": tol / 4})
        raw = solve_mip(mip.lp, sub, time_limit=left, start=start)
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


def _tables(
    instance: SafetyStockInstance, data: GSMData, sol: Solution
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
    return {"stages": stages, "demands": demands}
