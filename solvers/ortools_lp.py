"""GLOP (primal/dual simplex) and PDLP (first-order primal-dual) through OR-Tools.

Both take the array :class:`~optim.models.problem.LinearProgram` (continuous columns only) and
return a :class:`~optim.solvers.base.RawSolution`; the model is handed over in one call
(``ModelBuilderHelper.fill_model_from_sparse_data``), never variable by variable.

Row duals follow HiGHS' convention (``∂ objective / ∂ row bound``: the dual of a binding
``≤`` row of a minimisation is ≤ 0), checked against HiGHS in the tests.

PDLP stops at a relative tolerance, not at a vertex: its ``bound`` is the Lagrangian dual
objective of the duals it returns, so ``gap = |objective − bound| / max(1, |objective|)`` is
the optimality tolerance actually reached, and ``extra`` carries the largest primal row
violation and the tolerance asked for. Nothing of it is hidden: the kinds copy both into the
result.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from numpy.typing import NDArray

from optim.errors import SolverUnavailableError
from optim.params import SolveParams
from optim.solvers.base import ORTOOLS_HINT as HINT
from optim.solvers.base import Availability, Capability, RawSolution
from optim.status import SolutionStatus, Termination

__all__ = ["PDLP_TOLERANCE", "GlopSolver", "PdlpSolver", "lagrangian_bound", "status_map"]

PDLP_TOLERANCE = 1e-8
"""Relative and absolute optimality tolerance asked of PDLP (``solver_options`` key
``tolerance`` overrides it)."""


def _helper() -> Any:
    try:
        from ortools.linear_solver.python import model_builder_helper
    except ImportError as exc:  # pragma: no cover - ortools is a core dependency
        raise SolverUnavailableError(HINT) from exc
    return model_builder_helper


def _available() -> Availability:
    try:
        _helper()
    except SolverUnavailableError as exc:  # pragma: no cover - ortools is a core dependency
        return Availability(False, str(exc))
    return Availability(True)


def _version() -> str:
    import ortools

    return str(ortools.__version__)  # type: ignore[attr-defined]


def status_map() -> dict[str, tuple[Termination, SolutionStatus]]:
    """OR-Tools ``SolveStatus`` name → (termination, solution) (tested row by row).

    ``FEASIBLE`` and ``NOT_SOLVED`` are refined at run time: with the time limit spent they
    are a time limit.
    """
    return {
        "OPTIMAL": (Termination.OPTIMAL, SolutionStatus.OPTIMAL),
        "FEASIBLE": (Termination.OTHER_LIMIT, SolutionStatus.FEASIBLE),
        "INFEASIBLE": (Termination.INFEASIBLE, SolutionStatus.NONE),
        "UNBOUNDED": (Termination.UNBOUNDED, SolutionStatus.NONE),
        "ABNORMAL": (Termination.ERROR, SolutionStatus.NONE),
        "NOT_SOLVED": (Termination.ERROR, SolutionStatus.NONE),
        "MODEL_IS_VALID": (Termination.ERROR, SolutionStatus.NONE),
        "CANCELLED_BY_USER": (Termination.INTERRUPTED, SolutionStatus.NONE),
        "UNKNOWN_STATUS": (Termination.ERROR, SolutionStatus.NONE),
        "MODEL_INVALID": (Termination.ERROR, SolutionStatus.NONE),
        "INVALID_SOLVER_PARAMETERS": (Termination.ERROR, SolutionStatus.NONE),
        "SOLVER_TYPE_UNAVAILABLE": (Termination.ERROR, SolutionStatus.NONE),
        "INCOMPATIBLE_OPTIONS": (Termination.ERROR, SolutionStatus.NONE),
    }


def _csr(lp: Any) -> Any:
    from scipy.sparse import csr_matrix

    return csr_matrix(
        (
            np.asarray(lp.data, dtype=np.float64),
            np.asarray(lp.indices, dtype=np.int64),
            np.asarray(lp.indptr, dtype=np.int64),
        ),
        shape=(lp.num_rows, lp.num_cols),
    )


def lagrangian_bound(lp: Any, row_dual: NDArray[np.float64]) -> tuple[float | None, float]:
    """The Lagrangian dual objective of ``row_dual`` (HiGHS' sign convention) and the dual
    violation it had to drop.

    For a minimisation ``L(y) = Σ_r y_r b_r + Σ_j min_{l_j ≤ x_j ≤ u_j} (c − Aᵀy)_j x_j``
    with ``b_r = lower_r`` where ``y_r > 0`` and ``upper_r`` where ``y_r < 0`` (a
    maximisation mirrors it): a valid bound for any ``y``. A first-order method's duals are
    approximate, so a multiplier or reduced cost with the wrong sign for an infinite bound
    (which would make ``L`` infinite) is dropped, as PDLP does itself; the largest dropped
    magnitude relative to ``max(1, |c|)`` is returned as the dual violation.
    """
    y = np.asarray(row_dual, dtype=np.float64)
    cost = np.asarray(lp.cost, dtype=np.float64)
    d = cost - _csr(lp).T @ y
    sign = -1.0 if lp.maximize else 1.0  # maximisation: the mirror image
    ys, ds = sign * y, sign * d
    rb = np.where(ys > 0, lp.row_lower, lp.row_upper)
    cb = np.where(ds > 0, lp.col_lower, lp.col_upper)
    row_bad = ~np.isfinite(rb) & (ys != 0)
    col_bad = ~np.isfinite(cb) & (ds != 0)
    scale = max(1.0, float(np.max(np.abs(cost), initial=0.0)))
    violation = (
        max(
            float(np.max(np.abs(ys[row_bad]), initial=0.0)),
            float(np.max(np.abs(ds[col_bad]), initial=0.0)),
        )
        / scale
    )
    ys = np.where(row_bad, 0.0, ys)
    ds = np.where(col_bad, 0.0, ds)
    rb = np.where(np.isfinite(rb), rb, 0.0)
    cb = np.where(np.isfinite(cb), cb, 0.0)
    total = float(np.dot(ys, rb) + np.dot(ds, cb))
    return sign * total + float(lp.offset), violation


class _OrToolsLp:
    name = ""
    backend = ""
    capabilities = frozenset({Capability.LP, Capability.DUALS, Capability.TIME_LIMIT})

    def available(self) -> Availability:
        return _available()

    def version(self) -> str:
        return _version()

    def _options(self, params: SolveParams) -> str:
        return ""

    def solve(
        self,
        problem: Any,
        params: SolveParams,
        *,
        time_limit: float | None = None,
        want_duals: bool = False,
    ) -> RawSolution:
        lp = problem
        if lp.integrality is not None and bool(np.any(lp.integrality)):
            raise ValueError(
                f"{self.name} solves LPs only; this problem has integer columns (use highs "
                "or cpsat)"
            )
        mbh = _helper()
        start = time.perf_counter()
        model = mbh.ModelBuilderHelper()
        model.fill_model_from_sparse_data(
            np.asarray(lp.col_lower, dtype=np.float64),
            np.asarray(lp.col_upper, dtype=np.float64),
            np.asarray(lp.cost, dtype=np.float64),
            np.asarray(lp.row_lower, dtype=np.float64),
            np.asarray(lp.row_upper, dtype=np.float64),
            _csr(lp),
        )
        model.set_maximize(bool(lp.maximize))
        model.set_objective_offset(float(lp.offset))
        solver = mbh.ModelSolverHelper(self.backend)
        limit = time_limit if time_limit is not None else params.time_limit
        if limit is not None:
            solver.set_time_limit_in_seconds(float(max(limit, 1e-3)))
        options = self._options(params)
        if options:
            solver.set_solver_specific_parameters(options)
        solver.solve(model)
        runtime = time.perf_counter() - start
        name = solver.status().name
        termination, solution = status_map().get(name, (Termination.ERROR, SolutionStatus.NONE))
        out_of_time = limit is not None and runtime >= 0.99 * limit
        if name in ("FEASIBLE", "NOT_SOLVED") and out_of_time:
            termination = Termination.TIME_LIMIT
        x = row_dual = col_dual = None
        objective = bound = None
        extra: dict[str, Any] = {}
        if solution is not SolutionStatus.NONE and solver.has_solution():
            x = np.asarray(solver.variable_values(), dtype=np.float64)
            objective = float(solver.objective_value())
            y = np.asarray(solver.dual_values(), dtype=np.float64)
            bound, extra = self._bound(lp, y, objective)
            extra |= self._facts(lp, x, params)
            if want_duals:
                row_dual = y
                col_dual = np.asarray(solver.reduced_costs(), dtype=np.float64)
        else:
            solution = SolutionStatus.NONE
        message = "" if solution is SolutionStatus.OPTIMAL else f"{self.name}: {name}"
        return RawSolution(
            termination=termination,
            solution=solution,
            objective=objective,
            bound=bound,
            x=x,
            row_dual=row_dual,
            col_dual=col_dual,
            runtime=runtime,
            message=message,
            extra=extra,
            solver=self.name,
        )

    def _bound(
        self, lp: Any, y: NDArray[np.float64], objective: float
    ) -> tuple[float | None, dict[str, Any]]:
        return objective, {}

    def _facts(self, lp: Any, x: NDArray[np.float64], params: SolveParams) -> dict[str, Any]:
        return {}


class GlopSolver(_OrToolsLp):
    """GLOP, OR-Tools' simplex: a vertex and exact duals, like HiGHS' simplex."""

    name = "glop"
    backend = "glop"


class PdlpSolver(_OrToolsLp):
    """PDLP, OR-Tools' first-order LP method (no factorisation: scales to huge sparse LPs).

    Stops at the relative tolerance :data:`PDLP_TOLERANCE`; the reached tolerance is the
    reported gap (objective vs the Lagrangian bound of its duals), the primal row violation
    is in ``extra["max_row_violation"]`` and the dual one in
    ``extra["max_dual_violation"]``.
    """

    name = "pdlp"
    backend = "pdlp"

    def _tolerance(self, params: SolveParams) -> float:
        return float(params.solver_options.get("tolerance", PDLP_TOLERANCE))

    def _options(self, params: SolveParams) -> str:
        eps = self._tolerance(params)
        return (
            "termination_criteria { simple_optimality_criteria { "
            f"eps_optimal_relative: {eps!r} eps_optimal_absolute: {eps!r} }} }}"
        )

    def _bound(
        self, lp: Any, y: NDArray[np.float64], objective: float
    ) -> tuple[float | None, dict[str, Any]]:
        bound, violation = lagrangian_bound(lp, y)
        return bound, {"max_dual_violation": violation}

    def _facts(self, lp: Any, x: NDArray[np.float64], params: SolveParams) -> dict[str, Any]:
        act = _csr(lp) @ x
        scale = np.maximum(1.0, np.abs(act))
        over = np.maximum(act - lp.row_upper, lp.row_lower - act) / scale
        col = np.maximum(x - lp.col_upper, lp.col_lower - x) / np.maximum(1.0, np.abs(x))
        worst = max(float(np.max(over, initial=0.0)), float(np.max(col, initial=0.0)), 0.0)
        return {"pdlp_tolerance": self._tolerance(params), "max_row_violation": worst}
