"""HiGHS MIP solve with a warm start (a known feasible point), for iterative MIP methods.

Same contract as :func:`optim.solvers.highs.solve` (a :class:`LinearProgram` in, a
:class:`RawSolution` out) plus ``start``: a full column vector handed to HiGHS as its first
incumbent, so that a time-limited run never returns worse than the start.
"""

from __future__ import annotations

import time

import numpy as np
from numpy.typing import NDArray
from optim.solvers.highs import LinearProgram, RawSolution, _highspy, new_highs, status_map

from optim.params import SolveParams
from optim.status import Status

__all__ = ["solve_mip"]


def solve_mip(
    lp: LinearProgram,
    params: SolveParams | None = None,
    *,
    time_limit: float | None = None,
    start: NDArray[np.float64] | None = None,
) -> RawSolution:
    """Solve the MIP ``lp`` with HiGHS, optionally from the feasible point ``start``.

    Returns the incumbent and the dual bound on a time limit, never raises for it.
    """
    params = params or SolveParams()
    hp = _highspy()
    t0 = time.perf_counter()
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
    if lp.integrality is not None:
        model.integrality_ = [
            hp.HighsVarType.kInteger if v else hp.HighsVarType.kContinuous for v in lp.integrality
        ]
    h.passModel(model)
    if start is not None:
        sol = hp.HighsSolution()
        sol.col_value = np.asarray(start, dtype=np.float64).tolist()
        sol.value_valid = True
        h.setSolution(sol)
    h.run()
    raw_status = h.getModelStatus()
    status = status_map().get(raw_status, Status.ERROR)
    info = h.getInfo()
    x = None
    objective = bound = None
    if info.primal_solution_status == 2 or status is Status.OPTIMAL:
        x = np.asarray(h.getSolution().col_value, dtype=np.float64)
        objective = float(info.objective_function_value)
        bound = float(info.mip_dual_bound)
    if status is Status.OPTIMAL and objective is not None and bound is not None:
        gap = abs(objective - bound) / max(1.0, abs(objective))
        if gap > max(params.mip_gap, 1e-9) * 1.0001:
            status = Status.FEASIBLE
    message = "" if status is Status.OPTIMAL else f"HiGHS: {h.modelStatusToString(raw_status)}"
    return RawSolution(
        status=status,
        objective=objective,
        bound=bound,
        x=x,
        runtime=time.perf_counter() - t0,
        message=message,
    )
