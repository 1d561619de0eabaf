"""HiGHS MIP solve with a warm start (a known feasible point), for iterative MIP methods.

Same contract as :func:`optim.solvers.highs.solve` (a :class:`LinearProgram` in, a
:class:`RawSolution` out) plus ``start``: a full column vector handed to HiGHS as its first
incumbent, so that a time-limited run never returns worse than the start.
"""

from __future__ import annotations

import time

import numpy as np
from numpy.typing import NDArray

from optim.models.problem import LinearProgram
from optim.params import SolveParams
from optim.solvers.highs import RawSolution, _highspy, _pass, _run

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
    t0 = time.perf_counter()
    h = _pass(lp, params, time_limit)
    if start is not None:
        sol = _highspy().HighsSolution()
        sol.col_value = np.asarray(start, dtype=np.float64).tolist()
        sol.value_valid = True
        h.setSolution(sol)
    return _run(h, lp, params, False, t0)
