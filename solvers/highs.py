"""Adapter to HiGHS through highspy: one array-based LP/MIP in, one :class:`RawSolution` out.

Builders produce a :class:`LinearProgram` (CSR rows, bounds, costs, integrality); this module
is the only place that imports highspy for it. Status mapping is the table
:func:`termination_map`, tested row by row.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

from optim.errors import SolverUnavailableError
from optim.models.problem import LinearProgram
from optim.params import SolveParams
from optim.solvers.base import Availability, Capability, RawSolution, cancel_requested
from optim.status import SolutionStatus, Termination

__all__ = [
    "HighsSolver",
    "LinearProgram",
    "RawSolution",
    "Session",
    "solve",
    "termination_map",
    "version",
]


def _highspy() -> Any:
    try:
        import highspy
    except ImportError as exc:  # pragma: no cover - exercised only without highspy
        raise SolverUnavailableError(
            "The HiGHS solver package 'highspy' is not installed. Install it with "
            "`pip install highspy==1.12.0` (pinned to match ortools 9.15)."
        ) from exc
    return highspy


def version() -> str:
    """Version string of the installed HiGHS."""
    h = _highspy().Highs()
    return f"{h.versionMajor()}.{h.versionMinor()}.{h.versionPatch()}"


def termination_map() -> dict[Any, Termination]:
    """HiGHS model status → :class:`optim.Termination` (why it stopped; tested row by row).

    Whether a solution exists is read separately (HiGHS' primal solution status), so a time
    limit with an incumbent and one without share the row ``kTimeLimit``.
    """
    ms = _highspy().HighsModelStatus
    return {
        ms.kOptimal: Termination.OPTIMAL,
        ms.kInfeasible: Termination.INFEASIBLE,
        ms.kUnbounded: Termination.UNBOUNDED,
        ms.kUnboundedOrInfeasible: Termination.INFEASIBLE,
        ms.kTimeLimit: Termination.TIME_LIMIT,
        ms.kIterationLimit: Termination.OTHER_LIMIT,
        ms.kInterrupt: Termination.INTERRUPTED,
        ms.kSolutionLimit: Termination.OTHER_LIMIT,
        ms.kObjectiveBound: Termination.OTHER_LIMIT,
        ms.kObjectiveTarget: Termination.OTHER_LIMIT,
        ms.kModelEmpty: Termination.OPTIMAL,
        ms.kNotset: Termination.ERROR,
        ms.kLoadError: Termination.ERROR,
        ms.kModelError: Termination.ERROR,
        ms.kPresolveError: Termination.ERROR,
        ms.kSolveError: Termination.ERROR,
        ms.kPostsolveError: Termination.ERROR,
        ms.kMemoryLimit: Termination.OTHER_LIMIT,
        ms.kUnknown: Termination.ERROR,
    }


def new_highs(params: SolveParams, *, time_limit: float | None = None) -> Any:
    """A silent, deterministic ``Highs`` object configured from ``params``."""
    hp = _highspy()
    h = hp.Highs()
    h.setOptionValue("output_flag", False)
    # No "threads" option: HiGHS (1.12) fixes its thread pool at the first solve of a process
    # and fails later solves that ask for another count. Parallel work in optim runs over
    # independent blocks in worker processes instead (SolveParams.threads).
    h.setOptionValue("random_seed", params.seed)
    h.setOptionValue("mip_rel_gap", params.mip_gap)
    limit = time_limit if time_limit is not None else params.time_limit
    if limit is not None:
        h.setOptionValue("time_limit", float(max(limit, 1e-3)))
    for key, value in params.solver_options.items():
        h.setOptionValue(key, value)
    check = cancel_requested()
    if check is not None:
        _watch(h, check)
    return h


def _watch(h: Any, check: Any) -> None:
    """Interrupt ``h`` when ``check()`` turns true (polled by HiGHS' interrupt callbacks).

    HiGHS then stops with model status ``kInterrupt`` and keeps its incumbent (MIP) — mapped to
    :attr:`Termination.INTERRUPTED` with the best solution and its bound, like a time limit.
    """

    def poll(event: Any) -> None:
        if check():
            event.interrupt()

    h.cbSimplexInterrupt += poll
    h.cbIpmInterrupt += poll
    h.cbMipInterrupt += poll


def solve(
    lp: LinearProgram,
    params: SolveParams | None = None,
    *,
    time_limit: float | None = None,
    want_duals: bool = False,
) -> RawSolution:
    """Solve ``lp`` with HiGHS and map the outcome onto :class:`RawSolution`.

    A time limit returns the incumbent (MIP) with its bound, never raises.
    """
    params = params or SolveParams()
    start = time.perf_counter()
    h = _pass(lp, params, time_limit)
    return _run(h, lp, params, want_duals, start)


class Session:
    """One HiGHS model kept alive across re-solves (warm-started simplex).

    Used where a method solves a sequence of LPs that differ only in column bounds
    (progressive filling): HiGHS keeps the basis and re-optimises with few iterations.
    """

    def __init__(self, lp: LinearProgram, params: SolveParams | None = None) -> None:
        self.params = params or SolveParams()
        self.lp = lp
        self._h = _pass(lp, self.params)
        self.col_lower = np.asarray(lp.col_lower, dtype=np.float64).copy()
        self.col_upper = np.asarray(lp.col_upper, dtype=np.float64).copy()

    def set_col_bounds(
        self, cols: NDArray[np.int64], lower: NDArray[np.float64], upper: NDArray[np.float64]
    ) -> None:
        """Change the bounds of ``cols`` (applied at the next :meth:`run`)."""
        self.col_lower[cols] = lower
        self.col_upper[cols] = upper

    def run(self, *, time_limit: float | None = None, want_duals: bool = False) -> RawSolution:
        cols = np.arange(self.lp.num_cols, dtype=np.int32)
        self._h.changeColsBounds(len(cols), cols, self.col_lower, self.col_upper)
        if time_limit is not None:
            self._h.setOptionValue("time_limit", float(max(time_limit, 1e-3)))
        return _run(self._h, self.lp, self.params, want_duals, time.perf_counter())


def _pass(lp: LinearProgram, params: SolveParams, time_limit: float | None = None) -> Any:
    hp = _highspy()
    h = new_highs(params, time_limit=time_limit)
    model = hp.HighsLp()
    model.num_col_ = lp.num_cols
    model.num_row_ = lp.num_rows
    model.col_cost_ = np.asarray(lp.cost, dtype=np.float64)
    model.col_lower_ = np.asarray(lp.col_lower, dtype=np.float64)
    model.col_upper_ = np.asarray(lp.col_upper, dtype=np.float64)
    model.row_lower_ = np.asarray(lp.row_lower, dtype=np.float64)
    model.row_upper_ = np.asarray(lp.row_upper, dtype=np.float64)
    model.offset_ = float(lp.offset)
    model.sense_ = hp.ObjSense.kMaximize if lp.maximize else hp.ObjSense.kMinimize
    model.a_matrix_.format_ = hp.MatrixFormat.kRowwise
    model.a_matrix_.start_ = np.asarray(lp.indptr, dtype=np.int32)
    model.a_matrix_.index_ = np.asarray(lp.indices, dtype=np.int32)
    model.a_matrix_.value_ = np.asarray(lp.data, dtype=np.float64)
    if lp.integrality is not None and bool(np.any(lp.integrality)):
        model.integrality_ = [
            hp.HighsVarType.kInteger if v else hp.HighsVarType.kContinuous for v in lp.integrality
        ]
    h.passModel(model)
    return h


def _run(
    h: Any, lp: LinearProgram, params: SolveParams, want_duals: bool, start: float
) -> RawSolution:
    scope = cancel_requested()
    capped = False
    if scope is not None and scope.deadline is not None:  # see CancelScope.deadline
        left = max(scope.deadline - time.monotonic(), 1e-3)
        if left < h.getOptionValue("time_limit")[1]:
            h.setOptionValue("time_limit", left)
            capped = True
    h.run()
    raw_status = h.getModelStatus()
    hp = _highspy()
    if capped and raw_status == hp.HighsModelStatus.kTimeLimit and scope is not None and scope():
        raw_status = hp.HighsModelStatus.kInterrupt  # the cap's time, not the solve's limit
    termination = termination_map().get(raw_status, Termination.ERROR)
    info = h.getInfo()
    is_mip = lp.integrality is not None and bool(np.any(lp.integrality))
    has_primal = info.primal_solution_status == 2  # kSolutionStatusFeasible
    x = row_dual = col_dual = None
    objective = bound = None
    if has_primal or termination is Termination.OPTIMAL:
        sol = h.getSolution()
        x = np.asarray(sol.col_value, dtype=np.float64)
        objective = float(info.objective_function_value)
        if want_duals and not is_mip and sol.dual_valid:
            row_dual = np.asarray(sol.row_dual, dtype=np.float64)
            col_dual = np.asarray(sol.col_dual, dtype=np.float64)
    if is_mip:
        bound = float(info.mip_dual_bound) if x is not None else None
    elif termination is Termination.OPTIMAL:
        bound = objective
    solution = SolutionStatus.NONE
    if x is not None:
        solution = (
            SolutionStatus.OPTIMAL
            if termination is Termination.OPTIMAL
            else SolutionStatus.FEASIBLE
        )
    if (
        solution is SolutionStatus.OPTIMAL
        and is_mip
        and objective is not None
        and bound is not None
    ):
        gap = abs(objective - bound) / max(1.0, abs(objective))
        if gap > max(params.mip_gap, 1e-9) * 1.0001:  # stopped by another gap criterion
            termination, solution = Termination.OTHER_LIMIT, SolutionStatus.FEASIBLE
    message = (
        "" if solution is SolutionStatus.OPTIMAL else f"HiGHS: {h.modelStatusToString(raw_status)}"
    )
    return RawSolution(
        termination=termination,
        solution=solution,
        objective=objective,
        bound=bound,
        x=x,
        row_dual=row_dual,
        col_dual=col_dual,
        runtime=time.perf_counter() - start,
        message=message,
        solver="highs",
    )


def available() -> Availability:
    """Whether highspy imports (with the install hint when not)."""
    try:
        _highspy()
    except SolverUnavailableError as exc:  # pragma: no cover - highspy is a core dependency
        return Availability(False, str(exc))
    return Availability(True)


class HighsSolver:
    """HiGHS (simplex, interior point, branch-and-cut) behind :class:`optim.solvers.base.Solver`.

    The default engine of every kind: exact simplex vertices and duals for LPs, proven
    optima for MIPs.
    """

    name = "highs"
    capabilities = frozenset(
        {
            Capability.LP,
            Capability.MIP,
            Capability.DUALS,
            Capability.WARM_START,
            Capability.TIME_LIMIT,
            Capability.CANCEL,
        }
    )

    def available(self) -> Availability:
        return available()

    def version(self) -> str:
        return version()

    def solve(
        self,
        problem: LinearProgram,
        params: SolveParams,
        *,
        time_limit: float | None = None,
        want_duals: bool = False,
    ) -> RawSolution:
        return solve(problem, params, time_limit=time_limit, want_duals=want_duals)
