"""Peak-period capacity allocation: ``solve(instance, params) -> Result`` (kind ``"capacity"``).

Build → solve → extract, with the model stated in :mod:`optim.models.capacity`.

Backends (``params.solver``): ``"auto"`` / ``"highs"`` use the vectorised array build solved
by highspy (the fast path); ``"pyomo"`` solves the Pyomo reference formulation with HiGHS
through Pyomo. ``objective="lexicographic"`` runs one solve per priority plus a last cost
stage; ``params.time_limit`` covers all stages together.

Result tables: ``production``, ``production_hours``, ``overtime``, ``inventory`` (with a
``prebuild`` column), ``prebuild``, ``shipments``, ``backlog``, ``lost``, ``segments``,
``segment_periods``, ``utilisation``, ``marginal_values`` (cost mode, LP only), ``setups``
(lot sizing). ``segments`` and ``segment_periods`` split each period's demand into
``served_on_time + served_late + lost`` (oldest demand served first; rates never above 1;
``shipped`` is what leaves in the period). ``info["solver_objective"]`` is the objective the
solver reported for the last stage (the transport form's cost), which the tests check
against the cost priced from the tables. When infeasible, ``Result.diagnosis`` names the
floors that cannot be met, the best reachable fill rates and the missing hours, with the
tables ``diagnosis_fill_rates`` and ``diagnosis_missing_capacity``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, NamedTuple

import numpy as np

from optim import executor
from optim.clock import Clock
from optim.instances.capacity import CapacityInstance
from optim.models import choices
from optim.models.capacity import blockipm, decompose
from optim.models.capacity import diagnosis as diag
from optim.models.capacity.data import (
    LEX_TOLERANCE,
    CapacityData,
    CapacitySolution,
    cost_terms,
    from_instance,
    shortfall_by_segment,
)
from optim.models.capacity.extract import tables as make_tables
from optim.models.capacity.lp import CapacityLP, build, shortfall_objective, solution
from optim.models.problem import INF, LinearProgram
from optim.params import SolveParams
from optim.result import Result
from optim.solvers import highs
from optim.solvers.highs import RawSolution
from optim.status import Status

__all__ = ["solve"]

BACKENDS = ("auto", "highs", "pyomo")
METHODS = choices.METHODS["capacity"]


def _engines(instance: CapacityInstance) -> dict[str, str]:
    """``params.solver`` names this instance accepts (LP engines only without lot sizing)."""
    engines = choices.SOLVERS["capacity"]
    return {k: v for k, v in engines.items() if not instance.lot_sizing or k in BACKENDS}


def _engine(params: SolveParams) -> Any:
    """The adapter of ``params.solver`` for the array fast path (``auto`` → HiGHS)."""
    from optim.solvers import registry

    name = registry.auto("capacity") if params.solver == "auto" else params.solver
    return registry.get(name)


LARGE_LP = 20_000
"""Column count from which the LP is solved by interior point + crossover (faster here)."""

BLOCK_IPM_PRODUCTS = 1_000
"""Products from which a block (cost mode, LP, no floors) goes to the block-angular IPM.

:mod:`optim.models.capacity.blockipm` factors the coupling of the capacity rows directly; its
dense Schur complement on the |R|·|T| capacity rows costs the same whatever the product count,
so it pays off only on large coupled blocks whose coupling is what defeats IPX: at least
:data:`BLOCK_IPM_PRODUCTS` products and :data:`BLOCK_IPM_CAPACITY_ROWS` capacity rows
(measured in ``benchmarks/RESULTS.md``, "The coupled LP, session 4": 52 weeks × 50 resources
× 1,000 / 2,000 products 0.53 / 0.33 of IPX's CPU time, 250 products 6×; 8 weeks × 10
resources × 1,000 products 2× — IPX is fast there). Otherwise, and where it does not
converge, HiGHS IPX + crossover solves the block.
"""

BLOCK_IPM_CAPACITY_ROWS = 1_000
"""Capacity rows (resources × periods) from which a block may go to the block-angular IPM."""


@dataclass
class _BlockResult:
    status: Status
    sol: CapacitySolution | None
    marginal: np.ndarray | None
    bound: float | None
    stages: dict[str, float]
    message: str
    size: tuple[int, int, int]
    objective: float | None = None  # the solver's own objective value of the last stage
    algorithm: str = ""  # the HiGHS algorithm that solved it (see _algorithm)
    facts: dict[str, Any] = field(default_factory=dict)  # engine facts (PDLP tolerance, ...)


class _Outcome(NamedTuple):
    status: Status
    sol: CapacitySolution | None
    marginal: np.ndarray | None
    bound: float | None
    stages: dict[str, float]
    message: str
    solver: str
    version: str
    info: dict[str, Any]


BYTES_PER_CELL = 768
"""Memory of the solve per cell of its dense period blocks, T × (routings + products +
resources): measured about 950 bytes per cell (peak RSS 328 / 506 / 863 MiB for 200 × 500,
400 × 500 and 400 × 1,000 products × periods, one routing each, one resource, one demand
line, HiGHS), taken as 768 so the estimate stays below the need (a refusal is never a
false alarm; demand lines add shipment columns on top)."""
BASE_BYTES = 150 * 2**20
"""The interpreter, imports and solver libraries (peak RSS of a tiny solve)."""


def check_memory(instance: CapacityInstance) -> None:
    """Refuse an instance whose solve would need more than the memory limit
    (:func:`~optim.instances.gate.memory_limit`: 8 GiB, ``OPTIM_MEMORY_LIMIT_GB``), estimated from
    its size before anything is allocated: a 190 kB document of 3,000 products × 2,000 periods grew
    past 1.4 GiB in its first 48 s on the way to about 11 GiB (12 million cells at ~950 bytes)."""
    from optim.errors import InstanceError
    from optim.instances.gate import memory_limit

    periods = len(instance.periods)
    routings = sum(len(p.routing_list) for p in instance.products)
    cells = periods * (routings + len(instance.products) + len(instance.resources))
    need = BASE_BYTES + BYTES_PER_CELL * cells
    limit = memory_limit()
    if need > limit:
        raise InstanceError(
            f"periods: {periods:,} periods × ({routings:,} routings + "
            f"{len(instance.products):,} products + {len(instance.resources):,} resources) = "
            f"{cells:,} plan cells; the solve would need at least about "
            f"{need / 2**30:,.1f} GiB; allowed: at most {limit / 2**30:,.0f} GiB "
            "(OPTIM_MEMORY_LIMIT_GB) — plan fewer periods (coarser buckets) or products "
            "(families).",
            field="periods",
        )


MIN_SOLVER_SECONDS = 1.0
"""Least time each solver call gets, however little of ``params.time_limit`` is left.

Below about a second, whether a small model is solved before a wall-clock limit strikes
depends on the machine's load, not on the input: ``--time-limit 0.001`` on the bundled
example was optimal in one run and "no solution" in the next. With this floor the same input
gives the same outcome wherever the solve finishes well inside or well beyond the floor; a
solve whose length is within a hair of the limit remains at the mercy of the clock, as any
wall-clock limit does. The floor is stated in ``Result.info["solver_time_floor"]``; it is
the ``floor`` of the one time-limit clock (:class:`optim.clock.Clock`) the capacity solve runs on.
"""


def solve(
    instance: CapacityInstance | dict[str, Any], params: SolveParams | None = None
) -> Result:
    """Plan production, overtime, pre-build and segment service through a demand peak.

    Parameters
    ----------
    instance
        A :class:`~optim.instances.capacity.CapacityInstance` (or a mapping validated as one).
    params
        ``solver``: ``"auto"``/``"highs"`` (fast path) or ``"pyomo"`` (reference);
        ``time_limit`` for all stages; ``mip_gap`` for lot sizing; ``threads``: blocks
        solved at once; ``method``: ``"auto"`` splits the instance into independent blocks
        (products sharing no resource, no fill-rate floors; see
        :mod:`optim.models.capacity.decompose`), ``"monolithic"`` solves one LP.

    Returns
    -------
    Result
        ``objective`` is the total cost of the plan (in both objective modes).
    """
    params = params or SolveParams()
    if not isinstance(instance, CapacityInstance):
        instance = CapacityInstance.model_validate(instance)
    choices.check("capacity", params, _engines(instance))
    check_memory(instance)
    clock = Clock(params.time_limit, floor=MIN_SOLVER_SECONDS)
    data = from_instance(instance)
    backend = _backend_params(params)
    if params.solver == "pyomo":
        out = _solve_pyomo(instance, data, backend, clock)
    else:
        out = _solve_fast(data, backend, clock)
    status, sol, marginal, bound, stages, msg, solver_name, version, info = out
    info = dict(info)
    if params.time_limit is not None:
        info["solver_time_floor"] = MIN_SOLVER_SECONDS
    info["objective_mode"] = data.objective
    info["lot_sizing"] = data.lot_sizing
    if data.objective == "lexicographic":
        info["lexicographic_tolerance"] = LEX_TOLERANCE
        info["stage_objectives"] = stages
    if sol is None:
        lines: list[str] = []
        tabs: dict[str, Any] = {}
        if status is Status.INFEASIBLE:
            lines, tabs = _diagnose(data, backend, clock)
        return Result(
            kind="capacity",
            status=status,
            runtime=clock.elapsed(),
            solver=solver_name,
            solver_version=version,
            tables=tabs,
            message=msg,
            diagnosis=lines,
            params=params,
            info=info,
        )
    tabs, lines = make_tables(data, sol, marginal)
    terms = cost_terms(data, sol)
    objective = float(sum(terms.values()))
    info["cost_terms"] = terms
    info["shortfall_by_segment"] = dict(
        zip(data.segments, shortfall_by_segment(data, sol).tolist(), strict=True)
    )
    notes = [m for m in (msg,) if m]
    if data.objective == "lexicographic":
        notes.append(
            f"lexicographic: {len(stages)} priority stage(s) then total cost; each stage kept "
            f"within a relative tolerance of {LEX_TOLERANCE:g}."
        )
    if not data.lot_sizing and (np.any(data.setup_cost > 0) or np.any(data.min_lot_size > 0)):
        notes.append("setup_cost / min_lot_size ignored: lot_sizing is false (LP).")
    if marginal is None and data.objective == "cost" and status is Status.OPTIMAL:
        notes.append("no marginal values: the lot-sizing MIP has no duals.")
    if data.objective == "lexicographic":
        notes.append("marginal values are reported in cost mode only.")
    if "pdlp_tolerance" in info:
        reached = 0.0 if bound is None else abs(objective - bound) / max(1.0, abs(objective))
        notes.append(
            f"pdlp: first-order LP solve to a relative tolerance of {info['pdlp_tolerance']:g} "
            f"(reached gap {reached:.1e}, largest row violation "
            f"{info['max_row_violation']:.1e}); marginal values are its approximate duals."
        )
    if "ipm_gap" in info:
        notes.append(
            f"block interior point (no crossover): relative duality gap {info['ipm_gap']:.1e}, "
            f"relative primal / dual infeasibility {info['ipm_primal_infeasibility']:.1e} / "
            f"{info['ipm_dual_infeasibility']:.1e}; marginal values are its optimal duals to "
            "that accuracy (where several duals are optimal, an interior one, not a vertex's)."
        )
    notes.extend(lines)
    gap = None
    if bound is not None:
        gap = abs(objective - bound) / max(1.0, abs(objective))
    return Result(
        kind="capacity",
        status=status,
        objective=objective,
        bound=bound,
        gap=gap,
        runtime=clock.elapsed(),
        solver=solver_name,
        solver_version=version,
        tables=tabs,
        message="\n".join(notes),
        diagnosis=[],
        params=params,
        info=info,
    )


# --------------------------------------------------------------------------------------------
# fast path
# --------------------------------------------------------------------------------------------


def _with_row(lp: LinearProgram, coeffs: np.ndarray, lo: float, hi: float) -> LinearProgram:
    nz = np.flatnonzero(coeffs)
    return replace(
        lp,
        indptr=np.append(lp.indptr, lp.indptr[-1] + nz.size),
        indices=np.concatenate([lp.indices, nz]),
        data=np.concatenate([lp.data, coeffs[nz]]),
        row_lower=np.append(lp.row_lower, lo),
        row_upper=np.append(lp.row_upper, hi),
    )


def _backend_params(params: SolveParams) -> SolveParams:
    """HiGHS runs with ``threads=0``: "the process's scheduler, whatever it is".

    HiGHS fixes its global thread scheduler at the first solve of the process, and a later
    solve asking for another thread count fails ("Not Set"). ``params.threads`` is used
    here as the number of blocks solved at once, each by a serial HiGHS run; an explicit
    ``solver_options["threads"]`` still wins.
    """
    return params.model_copy(update={"solver_options": {"threads": 0, **params.solver_options}})


def _lp_params(params: SolveParams, num_cols: int, is_mip: bool) -> SolveParams:
    """Interior point (with crossover, so duals are basic) for large LPs unless chosen."""
    if is_mip or num_cols < LARGE_LP or "solver" in params.solver_options:
        return params
    return params.model_copy(update={"solver_options": {**params.solver_options, "solver": "ipm"}})


def _algorithm(params: SolveParams, is_mip: bool) -> str:
    """Name of the HiGHS algorithm ``params`` select (reported in ``info["lp_algorithm"]``)."""
    if is_mip:
        return "branch and cut (MIP)"
    opts = params.solver_options
    chosen = str(opts.get("solver", "choose"))
    if chosen in ("ipm", "ipx"):
        cross = str(opts.get("run_crossover", "on"))
        return (
            "interior point (IPX), no crossover"
            if cross == "off"
            else "interior point (IPX) + crossover"
        )
    return {"simplex": "dual simplex", "choose": "HiGHS's choice (simplex)"}.get(chosen, chosen)


def _solve_block(data: CapacityData, params: SolveParams, clock: Clock) -> _BlockResult:
    """Build and solve one (sub-)instance: cost mode, or the lexicographic stages."""
    engine = _engine(params)
    model = build(data)
    is_mip = model.lp.integrality is not None and bool(np.any(model.lp.integrality))
    block_ipm = _block_ipm_applies(data, params, is_mip)  # on the caller's options
    params = _lp_params(params, model.lp.num_cols, is_mip)
    size = (model.lp.num_cols, model.lp.num_rows, int(model.lp.indptr[-1]))
    if block_ipm:
        done = _solve_block_ipm(data, model, clock, size)
        if done is not None:
            return done  # else (not block-angular, or no convergence) HiGHS solves it
    stages: dict[str, float] = {}
    lp = model.lp
    if data.objective == "lexicographic":
        for g in sorted(set(data.priority.tolist())):
            c, off = shortfall_objective(model, data.priority == g)
            if not np.any(c):  # no demand of this priority here: nothing to decide
                stages[str(g)] = off
                continue
            raw = engine.solve(replace(lp, cost=c, offset=off), params, time_limit=clock.left())
            if raw.status is Status.TIME_LIMIT and raw.x is not None:
                # the stage's incumbent is a plan of the whole model (the stages only add
                # rows): the best solution found, its gap unknown (no bound on total cost)
                sol = solution(model, raw.x)
                return _BlockResult(raw.status, sol, None, None, stages, _why(raw, g), size)
            if raw.objective is None or raw.status not in (Status.OPTIMAL, Status.FEASIBLE):
                return _BlockResult(raw.status, None, None, None, stages, _why(raw, g), size)
            z = float(raw.objective)
            stages[str(g)] = z
            lp = _with_row(lp, c, -INF, z - off + LEX_TOLERANCE * max(1.0, abs(z)))
    want_duals = data.objective == "cost" and not is_mip
    raw = engine.solve(lp, params, time_limit=clock.left(), want_duals=want_duals)
    if raw.x is None or raw.status not in (Status.OPTIMAL, Status.FEASIBLE, Status.TIME_LIMIT):
        return _BlockResult(raw.status, None, None, None, stages, _why(raw, None), size)
    marginal = None
    if raw.row_dual is not None:
        nr, nt = len(data.resources), len(data.periods)
        duals = raw.row_dual[model.cap_row0 : model.cap_row0 + nr * nt].reshape(nr, nt)
        marginal = -duals + 0.0
    return _BlockResult(
        raw.status,
        solution(model, raw.x),
        marginal,
        raw.bound,
        stages,
        raw.message,
        size,
        raw.objective,
        _algorithm(params, is_mip),
        dict(raw.extra),
    )


def _block_ipm_applies(data: CapacityData, params: SolveParams, is_mip: bool) -> bool:
    """The rule: cost mode, an LP, ``auto``/``highs`` without an explicit HiGHS ``solver``
    option, no fill-rate floors, at least :data:`BLOCK_IPM_PRODUCTS` products and
    :data:`BLOCK_IPM_CAPACITY_ROWS` capacity rows in the block."""
    return (
        len(data.resources) * len(data.periods) >= BLOCK_IPM_CAPACITY_ROWS
        and not is_mip
        and data.objective == "cost"
        and params.solver in ("auto", "highs")
        and "solver" not in params.solver_options
        and not np.any(~np.isnan(data.min_fill_rate))
        and len(data.products) >= BLOCK_IPM_PRODUCTS
    )


def _solve_block_ipm(
    data: CapacityData, model: CapacityLP, clock: Clock, size: tuple[int, int, int]
) -> _BlockResult | None:
    """The block-angular interior point; ``None`` where HiGHS must solve the block instead."""
    try:
        res = blockipm.solve(model, time_limit=clock.left())
    except blockipm.NotStructured:
        return None
    if res.status == "time_limit":
        msg = (
            f"block interior point: time limit after {res.iterations} iterations, before "
            "convergence (an interior iterate is not a feasible plan)"
        )
        return _BlockResult(Status.TIME_LIMIT, None, None, None, {}, msg, size)
    if res.status != "optimal":
        return None
    nr, nt = len(data.resources), len(data.periods)
    duals = res.row_dual[model.cap_row0 : model.cap_row0 + nr * nt].reshape(nr, nt)
    facts = {
        "ipm_iterations": res.iterations,
        "ipm_gap": res.gap,
        "ipm_primal_infeasibility": res.primal_infeasibility,
        "ipm_dual_infeasibility": res.dual_infeasibility,
    }
    return _BlockResult(
        Status.OPTIMAL,
        solution(model, res.x),
        -duals + 0.0,
        res.dual_objective,
        {},
        "",
        size,
        res.objective,
        "block-angular interior point (no crossover)",
        facts,
    )


def _solve_shipped_block(task: tuple[CapacityData, SolveParams, float | None]) -> _BlockResult:
    """One block on another process (:func:`optim.executor.fan_out`), with the time left."""
    data, params, left = task
    return _solve_block(data, params, Clock(left, floor=MIN_SOLVER_SECONDS))


def _why(raw: RawSolution, priority: int | None) -> str:
    where = "cost stage" if priority is None else f"priority {priority} stage"
    return f"{where}: {raw.message or raw.status.value}"


def _solve_fast(data: CapacityData, params: SolveParams, clock: Clock) -> _Outcome:
    engine = _engine(params)
    name, version = engine.name, engine.version()
    has_floors = bool(np.any(~np.isnan(data.min_fill_rate)))
    whole = has_floors or params.method == "monolithic"
    parts = [np.arange(len(data.products))] if whole else decompose.components(data)
    if len(parts) == 1:
        r = _solve_block(data, params, clock)
        one: dict[str, Any] = {
            "num_cols": r.size[0],
            "num_rows": r.size[1],
            "num_nonzeros": r.size[2],
            "solver_objective": r.objective,
            "lp_algorithm": r.algorithm,
            **r.facts,
        }
        return _Outcome(
            r.status, r.sol, r.marginal, r.bound, r.stages, r.message, name, version, one
        )
    # largest first, so that the threads finish together
    parts.sort(key=lambda p: -int(np.sum(data.demand[np.isin(data.pair_product, p)] > 0)))
    blocks = [decompose.block(data, p) for p in parts]
    if executor.cluster_address():  # a Dask cluster in force: the blocks go to its workers
        left = None if clock.limit is None else clock.left()
        results = executor.fan_out(
            _solve_shipped_block,
            [(b.data, params, left) for b in blocks],
            desc="capacity blocks",
        )
    else:  # in this process: HiGHS releases the GIL, so threads solve blocks at once
        with ThreadPoolExecutor(max_workers=params.threads) as pool:
            results = list(pool.map(lambda b: _solve_block(b.data, params, clock), blocks))
    info: dict[str, Any] = {
        "blocks": len(blocks),
        "num_cols": sum(r.size[0] for r in results),
        "num_rows": sum(r.size[1] for r in results),
        "num_nonzeros": sum(r.size[2] for r in results),
        "solver_objective": None
        if any(r.objective is None for r in results)
        else float(sum(r.objective for r in results if r.objective is not None)),
        "lp_algorithm": "; ".join(sorted({r.algorithm for r in results if r.algorithm})),
    }
    bad = [r for r in results if r.sol is None]
    if bad:
        return _Outcome(bad[0].status, None, None, None, {}, bad[0].message, name, version, info)
    status = Status.OPTIMAL
    for r in results:
        if r.status is not Status.OPTIMAL:
            status = r.status
    sol = decompose.merge(data, blocks, [r.sol for r in results])
    marginal = None
    if all(r.marginal is not None for r in results):
        marginal = np.zeros((len(data.resources), len(data.periods)))
        for b, r in zip(blocks, results, strict=True):
            marginal[b.resources] = r.marginal
    bounds = [r.bound for r in results]
    bound = None if any(b is None for b in bounds) else float(sum(b for b in bounds if b))
    stages: dict[str, float] = {}
    for r in results:
        for g, z in r.stages.items():
            stages[g] = stages.get(g, 0.0) + z
    msgs = sorted({r.message for r in results if r.message})
    for r in results:  # engine facts: the worst block (largest tolerance or violation)
        for k, v in r.facts.items():
            info[k] = max(info.get(k, v), v) if isinstance(v, float) else v
    return _Outcome(status, sol, marginal, bound, stages, "; ".join(msgs), name, version, info)


# --------------------------------------------------------------------------------------------
# Pyomo reference
# --------------------------------------------------------------------------------------------


def _solve_pyomo(
    instance: CapacityInstance, data: CapacityData, params: SolveParams, clock: Clock
) -> _Outcome:
    import pyomo.environ as pyo
    from pyomo.core.expr.visitor import identify_variables

    from optim.models.capacity import pyomo as ref
    from optim.solvers import pyomo_highs

    m = ref.build(instance)
    stages: dict[str, float] = {}
    tag: tuple[str, str, dict[str, Any]] = ("pyomo", highs.version(), {})
    is_mip = hasattr(m, "z") and len(m.z) > 0
    if data.objective == "lexicographic":
        m.obj.deactivate()
        for g in m.PRIO:
            if not any(True for _ in identify_variables(m.shortfall[g].expr)):
                stages[str(g)] = 0.0
                continue
            stage = pyo.Objective(expr=m.shortfall[g], sense=pyo.minimize)
            m.add_component(f"stage_{g}", stage)
            res = pyomo_highs.solve(m, params.model_copy(update={"time_limit": clock.left()}))
            if res.status is Status.TIME_LIMIT and res.objective is not None:  # (as _solve_block)
                return _Outcome(
                    res.status, ref.solution(m, data), None, None, stages, res.message, *tag
                )
            if res.objective is None or res.status not in (Status.OPTIMAL, Status.FEASIBLE):
                return _Outcome(res.status, None, None, None, stages, res.message, *tag)
            z = float(res.objective)
            stages[str(g)] = z
            stage.deactivate()
            m.stages.add(m.shortfall[g] <= z + LEX_TOLERANCE * max(1.0, abs(z)))
        m.obj.activate()
    res = pyomo_highs.solve(m, params.model_copy(update={"time_limit": clock.left()}))
    if res.objective is None:
        return _Outcome(res.status, None, None, None, stages, res.message, *tag)
    sol = ref.solution(m, data)
    tag = (tag[0], tag[1], {"solver_objective": res.objective})
    marginal = None
    if data.objective == "cost" and not is_mip and hasattr(m, "dual") and len(m.dual) > 0:
        marginal = -ref.capacity_duals(m, data) + 0.0
    return _Outcome(res.status, sol, marginal, res.bound, stages, res.message, *tag)


# --------------------------------------------------------------------------------------------
# diagnosis of infeasible floors
# --------------------------------------------------------------------------------------------


def _diagnose(
    data: CapacityData, params: SolveParams, clock: Clock
) -> tuple[list[str], dict[str, Any]]:
    def run(model: CapacityLP) -> RawSolution:
        return highs.solve(model.lp, params, time_limit=clock.left())

    em = diag.elastic_floors(data)
    er = run(em)
    ex = er.x if er.status is Status.OPTIMAL else None
    alone: dict[int, float | None] = {}
    if ex is not None:
        dem = diag.segment_demand(data)
        floor_seg = np.flatnonzero(~np.isnan(data.min_fill_rate))
        slack = ex[em.e_cols]
        for n, s in enumerate(floor_seg):
            if slack[n] > 1e-7 * max(1.0, dem[s]):
                r = run(diag.max_served(data, int(s)))
                alone[int(s)] = r.objective if r.status is Status.OPTIMAL else None
    sm = diag.capacity_slack(data)
    sr = run(sm)
    sx = sr.x if sr.status is Status.OPTIMAL else None
    return diag.read(data, ex, alone, sx, sm, em)
