"""Adapter to HiGHS through highspy: one array-based LP/MIP in, one :class:`RawSolution` out.

Builders produce a :class:`LinearProgram` (CSR rows, bounds, costs, integrality); this module
is the only place that imports highspy for it. Status mapping is the table
:data:`STATUS_MAP`, tested row by row.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from optim.errors import SolverUnavailableError
from optim.models.problem import LinearProgram
from optim.params import SolveParams
from optim.status import Status


@dataclass
class RawSolution:
    """What a backend returns before any problem-specific extraction."""

    status: Status
    objective: float | None
    bound: float | None
    x: NDArray[np.float64] | None
    row_dual: NDArray[np.float64] | None = None
    col_dual: NDArray[np.float64] | None = None
    runtime: float = 0.0
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def gap(self) -> float | None:
        if self.objective is None or self.bound is None:
            return None
        return abs(self.objective - self.bound) / max(1.0, abs(self.objective))


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


def status_map() -> dict[Any, Status]:
    """HiGHS model status → :class:`optim.Status` (MIP time-limit rows refined at runtime)."""
    ms = _highspy().HighsModelStatus
    return {
        ms.kOptimal: Status.OPTIMAL,
        ms.kInfeasible: Status.INFEASIBLE,
        ms.kUnbounded: Status.UNBOUNDED,
        ms.kUnboundedOrInfeasible: Status.INFEASIBLE,
        ms.kTimeLimit: Status.TIME_LIMIT,
        ms.kIterationLimit: Status.TIME_LIMIT,
        ms.kInterrupt: Status.TIME_LIMIT,
        ms.kSolutionLimit: Status.FEASIBLE,
        ms.kObjectiveBound: Status.FEASIBLE,
        ms.kObjectiveTarget: Status.FEASIBLE,
        ms.kModelEmpty: Status.OPTIMAL,
        ms.kNotset: Status.ERROR,
        ms.kLoadError: Status.ERROR,
        ms.kModelError: Status.ERROR,
        ms.kPresolveError: Status.ERROR,
        ms.kSolveError: Status.ERROR,
        ms.kPostsolveError: Status.ERROR,
        ms.kMemoryLimit: Status.ERROR,
        ms.kUnknown: Status.ERROR,
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
    return h


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
    h.run()
    raw_status = h.getModelStatus()
    status = status_map().get(raw_status, Status.ERROR)
    info = h.getInfo()
    is_mip = lp.integrality is not None and bool(np.any(lp.integrality))
    has_primal = info.primal_solution_status == 2  # kSolutionStatusFeasible
    x = row_dual = col_dual = None
    objective = bound = None
    if has_primal or status is Status.OPTIMAL:
        sol = h.getSolution()
        x = np.asarray(sol.col_value, dtype=np.float64)
        objective = float(info.objective_function_value)
        if want_duals and not is_mip and sol.dual_valid:
            row_dual = np.asarray(sol.row_dual, dtype=np.float64)
            col_dual = np.asarray(sol.col_dual, dtype=np.float64)
    if is_mip:
        bound = float(info.mip_dual_bound) if x is not None else None
        if status is Status.TIME_LIMIT and x is None:
            objective = None
    elif status is Status.OPTIMAL:
        bound = objective
    if status is Status.OPTIMAL and is_mip and objective is not None and bound is not None:
        gap = abs(objective - bound) / max(1.0, abs(objective))
        if gap > max(params.mip_gap, 1e-9) * 1.0001:
            status = Status.FEASIBLE
    message = "" if status is Status.OPTIMAL else f"HiGHS: {h.modelStatusToString(raw_status)}"
    return RawSolution(
        status=status,
        objective=objective,
        bound=bound,
        x=x,
        row_dual=row_dual,
        col_dual=col_dual,
        runtime=time.perf_counter() - start,
        message=message,
    )
