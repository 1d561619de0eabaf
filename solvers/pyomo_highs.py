"""Solve a Pyomo ``ConcreteModel`` with HiGHS through Pyomo (``appsi_highs``).

Reference formulations (``models/<kind>/pyomo.py``) are checked against the array fast paths
with this adapter. The solution is loaded into the model's variables when one exists.
"""

from __future__ import annotations

import math
import time
from typing import Any

from optim.errors import SolverUnavailableError
from optim.params import SolveParams
from optim.solvers.base import Availability, Capability, RawSolution
from optim.status import SolutionStatus, Termination

__all__ = ["PyomoHighsSolver", "PyomoSolution", "solve", "termination_map"]

PyomoSolution = RawSolution
"""The outcome of a Pyomo solve is the one raw-solution type (``x`` is ``None``: values are
loaded into the model's variables)."""


def _pyomo() -> Any:
    try:
        import pyomo.environ as pyo
    except ImportError as exc:  # pragma: no cover - pyomo is a core dependency
        raise SolverUnavailableError(
            "Pyomo is not installed. Install it with `pip install pyomo`."
        ) from exc
    return pyo


def termination_map() -> dict[Any, Termination]:
    """Pyomo ``TerminationCondition`` → :class:`optim.Termination` (tested row by row)."""
    from pyomo.opt import TerminationCondition as tc

    return {
        tc.optimal: Termination.OPTIMAL,
        tc.globallyOptimal: Termination.OPTIMAL,
        tc.locallyOptimal: Termination.OTHER_LIMIT,
        tc.feasible: Termination.OTHER_LIMIT,
        tc.infeasible: Termination.INFEASIBLE,
        tc.unbounded: Termination.UNBOUNDED,
        tc.infeasibleOrUnbounded: Termination.INFEASIBLE,
        tc.maxTimeLimit: Termination.TIME_LIMIT,
        tc.maxIterations: Termination.OTHER_LIMIT,
        tc.maxEvaluations: Termination.OTHER_LIMIT,
        tc.userInterrupt: Termination.INTERRUPTED,
        tc.error: Termination.ERROR,
        tc.solverFailure: Termination.ERROR,
        tc.internalSolverError: Termination.ERROR,
        tc.unknown: Termination.ERROR,
    }


def solve(model: Any, params: SolveParams | None = None) -> RawSolution:
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
    termination = termination_map().get(cond, Termination.ERROR)
    objective = bound = None
    solution = SolutionStatus.NONE
    if len(res.solution) > 0:
        model.solutions.load_from(res)
        obj = next(model.component_data_objects(pyo.Objective, active=True))
        objective = float(pyo.value(obj))
        minimize = obj.sense == pyo.minimize
        raw = res.problem.lower_bound if minimize else res.problem.upper_bound
        if raw is not None and math.isfinite(float(raw)):
            bound = float(raw)
        solution = (
            SolutionStatus.OPTIMAL
            if termination is Termination.OPTIMAL
            else SolutionStatus.FEASIBLE
        )
    elif termination is Termination.OPTIMAL:  # pragma: no cover - defensive
        termination = Termination.ERROR
    message = "" if solution is SolutionStatus.OPTIMAL else f"Pyomo/HiGHS: {cond}"
    return RawSolution(
        termination=termination,
        solution=solution,
        objective=objective,
        bound=bound,
        runtime=runtime,
        message=message,
        solver="pyomo",
    )


class PyomoHighsSolver:
    """The Pyomo reference formulations solved by HiGHS through Pyomo (``appsi_highs``).

    Its problem type is a Pyomo ``ConcreteModel`` (not a ``LinearProgram``): kinds route
    ``--solver pyomo`` to their reference formulation, which calls :func:`solve`.
    """

    name = "pyomo"
    capabilities = frozenset(
        {Capability.LP, Capability.MIP, Capability.DUALS, Capability.TIME_LIMIT}
    )

    def available(self) -> Availability:
        try:
            _pyomo()
        except SolverUnavailableError as exc:  # pragma: no cover - pyomo is a core dependency
            return Availability(False, str(exc))
        return Availability(True)

    def version(self) -> str:
        import pyomo.version

        from optim.solvers import highs

        return f"pyomo {pyomo.version.version} / HiGHS {highs.version()}"

    def solve(self, problem: Any, params: SolveParams, **_: Any) -> RawSolution:
        return solve(problem, params)
