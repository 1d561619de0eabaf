"""Solve a Pyomo ``ConcreteModel`` with HiGHS through Pyomo (``appsi_highs``).

Reference formulations (``models/<kind>/pyomo.py``) are checked against the array fast paths
with this adapter. The solution is loaded into the model's variables when one exists.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from optim.errors import SolverUnavailableError
from optim.params import SolveParams
from optim.status import Status

__all__ = ["PyomoSolution", "solve", "status_map"]


@dataclass(frozen=True)
class PyomoSolution:
    """Outcome of a Pyomo solve; variable values are loaded into the model itself."""

    status: Status
    objective: float | None
    bound: float | None
    runtime: float
    message: str = ""


def _pyomo() -> Any:
    try:
        import pyomo.environ as pyo
    except ImportError as exc:  # pragma: no cover - pyomo is a core dependency
        raise SolverUnavailableError(
            "Pyomo is not installed. Install it with `pip install pyomo`."
        ) from exc
    return pyo


def status_map() -> dict[Any, Status]:
    """Pyomo ``TerminationCondition`` → :class:`optim.Status`."""
    from pyomo.opt import TerminationCondition as tc

    return {
        tc.optimal: Status.OPTIMAL,
        tc.globallyOptimal: Status.OPTIMAL,
        tc.locallyOptimal: Status.FEASIBLE,
        tc.feasible: Status.FEASIBLE,
        tc.infeasible: Status.INFEASIBLE,
        tc.unbounded: Status.UNBOUNDED,
        tc.infeasibleOrUnbounded: Status.INFEASIBLE,
        tc.maxTimeLimit: Status.TIME_LIMIT,
        tc.maxIterations: Status.TIME_LIMIT,
        tc.maxEvaluations: Status.TIME_LIMIT,
        tc.userInterrupt: Status.TIME_LIMIT,
        tc.error: Status.ERROR,
        tc.solverFailure: Status.ERROR,
        tc.internalSolverError: Status.ERROR,
        tc.unknown: Status.ERROR,
    }


def solve(model: Any, params: SolveParams | None = None) -> PyomoSolution:
    """Solve ``model`` (one objective, minimised or maximised) with HiGHS via Pyomo.

    Parameters
    ----------
    model
        A Pyomo ``ConcreteModel``.
    params
        ``time_limit``, ``mip_gap``, ``seed`` and ``solver_options`` are passed on (no thread
        count: HiGHS fixes it per process at the first solve).
    """
    params = params or SolveParams()
    pyo = _pyomo()
    opt = pyo.SolverFactory("appsi_highs")
    if not opt.available():  # pragma: no cover - highspy is a core dependency
        raise SolverUnavailableError(
            "Pyomo cannot load HiGHS (appsi_highs). Install it with `pip install highspy==1.12.0`."
        )
    options = {
        "mip_rel_gap": params.mip_gap,
        "random_seed": params.seed,
        **params.solver_options,
    }
    if params.time_limit is not None:
        # HiGHS' own option: the legacy `timelimit` keyword is not applied by appsi_highs
        options.setdefault("time_limit", float(params.time_limit))
    kwargs: dict[str, Any] = {"load_solutions": False, "options": options}
    t0 = time.perf_counter()
    res = opt.solve(model, **kwargs)
    runtime = time.perf_counter() - t0
    cond = res.solver.termination_condition
    status = status_map().get(cond, Status.ERROR)
    objective = bound = None
    if len(res.solution) > 0:
        model.solutions.load_from(res)
        obj = next(model.component_data_objects(pyo.Objective, active=True))
        objective = float(pyo.value(obj))
        minimize = obj.sense == pyo.minimize
        raw = res.problem.lower_bound if minimize else res.problem.upper_bound
        if raw is not None and math.isfinite(float(raw)):
            bound = float(raw)
    elif status is Status.OPTIMAL:  # pragma: no cover - defensive
        status = Status.ERROR
    message = "" if status is Status.OPTIMAL else f"Pyomo/HiGHS: {cond}"
    return PyomoSolution(status, objective, bound, runtime, message)
