r"""CP-SAT (OR-Tools' constraint-programming / SAT / LP hybrid) for integer programs, exactly.

CP-SAT works on integers only. A :class:`~optim.models.problem.LinearProgram` is handed to it
only when it can be written over the integers *without changing its optimum*; otherwise the
adapter refuses with :class:`NotExactlyScalable`, naming what is in the way. The scaling:

* **Columns.** Integer columns have grid 1. A continuous column is accepted only with a grid
  :math:`g_j` passed by the model (``grid=``), which states — and the model proves — that
  some optimum has :math:`x_j \in g_j \mathbb{Z}`; then :math:`x_j = g_j X_j` with
  integer :math:`X_j`. Bounds round inward exactly: :math:`X_j \in
  [\lceil l_j / g_j \rceil, \lfloor u_j / g_j \rfloor]`.
* **Exact rationals.** Every coefficient and grid must be the double nearest to a rational
  :math:`p/q` with :math:`q \le` :data:`MAX_DENOMINATOR` (so ``0.1`` is 1/10 and ``1/60`` is
  1/60, exactly as the model meant; LP noise such as ``12.000000001`` is refused).
* **Rows.** Row :math:`r` is multiplied by :math:`L_r`, the least common multiple of the
  denominators of its coefficients :math:`a_{rj} g_j`. Its activity is then an integer, so
  its bounds round inward exactly: :math:`\lceil L_r \ell_r \rceil \le \dots \le
  \lfloor L_r u_r \rfloor`.
* **Objective.** Multiplied by :math:`L_0`, the common denominator of :math:`c_j g_j`;
  reported back divided by :math:`L_0` (plus the offset).
* **Finite domains.** CP-SAT needs them. Missing upper bounds are implied from rows with
  non-negative coefficients over non-negative columns (:math:`x_j \le u_r / a_{rj}`), and for
  a column the objective pushes down that only appears where growing it loosens a row, from
  the largest value any row can ask of it (an optimum never exceeds it). A column that stays
  unbounded is refused.
* **Size.** Every scaled coefficient, bound and row activity must stay below
  :data:`MAX_INT` (2^53), so no integer overflows CP-SAT's 64 bits.

``extra["scaling"]`` states the factors used (objective multiplier, largest row multiplier,
grids), and the kinds copy it into the result.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from fractions import Fraction
from typing import Any

import numpy as np
from numpy.typing import NDArray

from optim.errors import NotExactlyScalable, SolverUnavailableError
from optim.params import SolveParams
from optim.solvers.base import ORTOOLS_HINT as HINT
from optim.solvers.base import Availability, Capability, RawSolution
from optim.status import SolutionStatus, Termination

__all__ = [
    "MAX_DENOMINATOR",
    "MAX_INT",
    "BeyondIntegerRange",
    "CpSatSolver",
    "NotExactlyScalable",
    "status_map",
]

MAX_DENOMINATOR = 10**9
MAX_INT = 2**53

RowBounds = tuple[Sequence[Fraction | None], Sequence[Fraction | None]]
"""Exact row bounds: (lower per row, upper per row), ``None`` where infinite."""


def _cp_model() -> Any:
    try:
        from ortools.sat.python import cp_model
    except ImportError as exc:  # pragma: no cover - ortools is a core dependency
        raise SolverUnavailableError(HINT) from exc
    return cp_model


def status_map() -> dict[str, tuple[Termination, SolutionStatus]]:
    """``CpSolverStatus`` name → (termination, solution) (tested row by row).

    ``FEASIBLE`` and ``UNKNOWN`` are refined at run time: with the time limit spent they are
    a time limit (with or without an incumbent).
    """
    return {
        "OPTIMAL": (Termination.OPTIMAL, SolutionStatus.OPTIMAL),
        "FEASIBLE": (Termination.OTHER_LIMIT, SolutionStatus.FEASIBLE),
        "INFEASIBLE": (Termination.INFEASIBLE, SolutionStatus.NONE),
        "MODEL_INVALID": (Termination.ERROR, SolutionStatus.NONE),
        "UNKNOWN": (Termination.ERROR, SolutionStatus.NONE),
    }


def rational(value: float, what: str) -> Fraction:
    """The rational ``p/q`` (``q ≤ MAX_DENOMINATOR``) whose nearest double is ``value``."""
    fr = Fraction(value).limit_denominator(MAX_DENOMINATOR)
    if float(fr) != value:
        raise NotExactlyScalable(
            f"{what} = {value!r} is not a rational with denominator ≤ {MAX_DENOMINATOR:,} "
            "(CP-SAT needs exact integer scaling); use --solver highs"
        )
    return fr


def as_meant(value: float) -> Fraction:
    """A bound as the model meant it: the rational ``p/q`` (``q ≤ MAX_DENOMINATOR``) whose
    nearest double is ``value`` (``4.8`` is 24/5, not the double just below it), else the
    double's exact value. Bounds need no exactness check: a row's activity is an integer
    after scaling, so its bounds round inward without changing the feasible set."""
    fr = Fraction(value).limit_denominator(MAX_DENOMINATOR)
    return fr if float(fr) == value else Fraction(value)


def on_grid(ints: Sequence[int], grid: Sequence[Fraction]) -> NDArray[np.float64]:
    """Column values ``X_j · g_j`` as the doubles nearest to the exact products (``63 · 1/10``
    is 6.3, not ``63 * 0.1`` = 6.300000000000001, which a later stage would read as a bound
    above 6.3)."""
    return np.array([float(v * g) for v, g in zip(ints, grid, strict=True)], dtype=np.float64)


def _lcm_of_denominators(values: list[Fraction]) -> int:
    out = 1
    for v in values:
        out = math.lcm(out, v.denominator)
    return out


class BeyondIntegerRange(NotExactlyScalable):
    """The exact integer form exists but one of its integers reaches 2^53 (CP-SAT computes
    in 64 bits; optim keeps every integer and row activity below :data:`MAX_INT`).

    ``what`` names the number, ``value`` is its size once scaled; ``multiplier`` is the
    objective's common denominator when the objective is what grew.
    """

    def __init__(self, what: str, value: int, multiplier: int | None = None) -> None:
        self.what, self.value, self.multiplier = what, value, multiplier
        why = "" if multiplier is None else f", objective multiplier {multiplier:.3e}"
        super().__init__(
            f"{what} scales to {value:.3e}{why}: beyond CP-SAT's safe integer range "
            f"2^53 = {MAX_INT:.3e}; use --solver highs"
        )

    def __reduce__(self) -> tuple[Any, ...]:  # picklable across worker processes
        return (BeyondIntegerRange, (self.what, self.value, self.multiplier))


def _check(value: int, what: str, multiplier: int | None = None) -> int:
    if abs(value) >= MAX_INT:
        raise BeyondIntegerRange(what, value, multiplier)
    return value


def implied_upper_bounds(
    lp: Any, upper: NDArray[np.float64], grid: NDArray[np.float64]
) -> NDArray[np.float64]:
    """Finite upper bounds implied by the rows (see the module docstring); ``inf`` where none.

    1. A row ``Σ a x ≤ u`` with every ``a > 0`` over columns with ``x ≥ 0`` gives
       ``x_j ≤ u / a_j`` (plus one grid step, see 2).
    2. A column the objective pushes down (cost > 0 when minimising) whose every row is
       loosened when it grows is, at any optimum, at most the largest value a row can ask of
       it: ``(ℓ_r − min rest) / a`` (``a > 0``) or ``(max rest − u_r) / |a|`` (``a < 0``),
       plus one grid step so that rounding to its grid cannot cut the optimum.
    """
    n = lp.num_cols
    upper = np.asarray(upper, dtype=np.float64).copy()
    lower = np.asarray(lp.col_lower, dtype=np.float64)
    indptr, indices, data = lp.indptr, lp.indices, lp.data
    rows = np.repeat(np.arange(lp.num_rows), np.diff(indptr))
    row_ok = np.ones(lp.num_rows, dtype=bool)
    np.logical_and.at(row_ok, rows, (data > 0) & (lower[indices] >= 0))
    sel = row_ok[rows] & np.isfinite(lp.row_upper[rows])
    if sel.any():
        # one grid step of room: the row still holds, so a looser domain changes nothing,
        # while ``u / a`` from a double just below the row's exact bound would cut it
        implied = np.full(n, np.inf)
        np.minimum.at(implied, indices[sel], lp.row_upper[rows[sel]] / data[sel])
        upper = np.minimum(upper, implied * (1 + 1e-12) + grid)
    push_down = (lp.cost > 0) if not lp.maximize else (lp.cost < 0)
    loosens = np.ones(n, dtype=bool)
    tightens = ((data > 0) & np.isfinite(lp.row_upper[rows])) | (
        (data < 0) & np.isfinite(lp.row_lower[rows])
    )
    np.logical_and.at(loosens, indices, ~tightens)
    todo = np.flatnonzero(~np.isfinite(upper) & push_down & loosens & np.isfinite(lower))
    if len(todo) == 0:
        return upper
    order = np.argsort(indices, kind="stable")
    starts = np.searchsorted(indices[order], todo)
    ends = np.searchsorted(indices[order], todo, side="right")
    with np.errstate(invalid="ignore"):
        for j, s0, s1 in zip(todo.tolist(), starts.tolist(), ends.tolist(), strict=True):
            need = float(lower[j])
            for k in order[s0:s1].tolist():
                r, a = int(rows[k]), float(data[k])
                lo, hi = int(indptr[r]), int(indptr[r + 1])
                idx, val = indices[lo:hi], data[lo:hi]
                keep = idx != j
                idx, val = idx[keep], val[keep]
                if a > 0 and np.isfinite(lp.row_lower[r]):
                    rest = float(np.sum(np.where(val > 0, val * lower[idx], val * upper[idx])))
                    need = max(need, (lp.row_lower[r] - rest) / a)
                elif a < 0 and np.isfinite(lp.row_upper[r]):
                    rest = float(np.sum(np.where(val > 0, val * upper[idx], val * lower[idx])))
                    need = max(need, (rest - lp.row_upper[r]) / -a)
            if np.isfinite(need):
                upper[j] = need + 1e-9 * max(1.0, abs(need)) + float(grid[j])
    return upper


def _apply_options(parameters: Any, params: SolveParams) -> None:
    """``solver_options`` keys that are CP-SAT parameters (others belong to other backends)."""
    for key, value in params.solver_options.items():
        if not key.startswith("_") and hasattr(parameters, key):
            setattr(parameters, key, value)


class CpSatSolver:
    """CP-SAT behind :class:`optim.solvers.base.Solver`, for integer programs scaled exactly.

    Deterministic: one search worker and ``params.seed`` unless ``solver_options`` set
    ``num_workers``. ``params.mip_gap`` is CP-SAT's ``relative_gap_limit``.
    """

    name = "cpsat"
    capabilities = frozenset({Capability.MIP, Capability.TIME_LIMIT, Capability.WARM_START})

    def available(self) -> Availability:
        try:
            _cp_model()
        except SolverUnavailableError as exc:  # pragma: no cover - ortools is a dependency
            return Availability(False, str(exc))
        return Availability(True)

    def version(self) -> str:
        import ortools

        return str(ortools.__version__)  # type: ignore[attr-defined]

    def scale(
        self,
        problem: Any,
        grid: Sequence[float | Fraction] | None = None,
        row_bounds: RowBounds | None = None,
    ) -> dict[str, Any]:
        """The exact integer form of ``problem`` (raises :class:`NotExactlyScalable`).

        ``row_bounds``: the rows' bounds as exact rationals (``None`` = infinite), when the
        model knows them exactly; otherwise each double is read by :func:`as_meant`.
        """
        lp = problem
        n = lp.num_cols
        integral = (
            np.zeros(n, dtype=bool) if lp.integrality is None else np.asarray(lp.integrality) > 0
        )
        if grid is None:
            cont = np.flatnonzero(~integral)
            if len(cont):
                raise NotExactlyScalable(
                    f"CP-SAT solves integer programs only: {len(cont)} of {n} columns are "
                    "continuous and the model states no integral grid for them (scaling them "
                    "to integers would change the optimum); use --solver highs"
                )
        gq = (
            [Fraction(1)] * n
            if grid is None
            else [
                v if isinstance(v, Fraction) else rational(float(v), f"grid of column {j}")
                for j, v in enumerate(grid)
            ]
        )
        if len(gq) != n or any(v <= 0 for v in gq):
            raise NotExactlyScalable("the column grids must be one positive number per column")
        g = np.array([float(v) for v in gq])
        upper = implied_upper_bounds(lp, np.asarray(lp.col_upper, dtype=np.float64), g)
        lower = np.asarray(lp.col_lower, dtype=np.float64)
        lo_i: list[int] = []
        hi_i: list[int] = []
        for j in range(n):
            if not (np.isfinite(lower[j]) and np.isfinite(upper[j])):
                raise NotExactlyScalable(
                    f"column {j} has no finite bound (CP-SAT needs finite domains); "
                    "use --solver highs"
                )
            lo = math.ceil(as_meant(float(lower[j])) / gq[j])
            hi = math.floor(as_meant(float(upper[j])) / gq[j])
            lo_i.append(_check(lo, f"lower bound of column {j}"))
            hi_i.append(_check(hi, f"upper bound of column {j}"))
        rows: list[tuple[list[int], list[int], int | None, int | None]] = []
        row_mult = 1
        for r in range(lp.num_rows):
            a, b = int(lp.indptr[r]), int(lp.indptr[r + 1])
            idx = lp.indices[a:b].tolist()
            coef = [
                rational(float(v), f"coefficient of row {r}") * gq[j]
                for j, v in zip(idx, lp.data[a:b].tolist(), strict=True)
            ]
            mult = _lcm_of_denominators(coef)
            row_mult = max(row_mult, mult)
            ints = [_check(int(c * mult), f"row {r}") for c in coef]
            if row_bounds is not None:
                exact_lo, exact_hi = row_bounds[0][r], row_bounds[1][r]
            else:
                lo_r, hi_r = float(lp.row_lower[r]), float(lp.row_upper[r])
                exact_lo = as_meant(lo_r) if np.isfinite(lo_r) else None
                exact_hi = as_meant(hi_r) if np.isfinite(hi_r) else None
            row_lo = None if exact_lo is None else math.ceil(exact_lo * mult)
            row_hi = None if exact_hi is None else math.floor(exact_hi * mult)
            act = sum(
                abs(c) * max(abs(lo_i[j]), abs(hi_i[j])) for c, j in zip(ints, idx, strict=True)
            )
            _check(act, f"activity of row {r}")
            rows.append((idx, ints, row_lo, row_hi))
        cost = [
            rational(float(c), f"cost of column {j}") * gq[j]
            for j, c in enumerate(np.asarray(lp.cost).tolist())
        ]
        obj_mult = _lcm_of_denominators(cost)
        obj = [
            _check(int(c * obj_mult), f"cost of column {j}", obj_mult) for j, c in enumerate(cost)
        ]
        _check(
            sum(abs(c) * max(abs(lo_i[j]), abs(hi_i[j])) for j, c in enumerate(obj)),
            "objective range",
            obj_mult,
        )
        return {
            "grid": g,
            "grid_exact": gq,
            "lower": lo_i,
            "upper": hi_i,
            "rows": rows,
            "cost": obj,
            "objective_multiplier": obj_mult,
            "largest_row_multiplier": row_mult,
        }

    def solve(
        self,
        problem: Any,
        params: SolveParams,
        *,
        time_limit: float | None = None,
        want_duals: bool = False,
        grid: Sequence[float | Fraction] | None = None,
        row_bounds: RowBounds | None = None,
        start: NDArray[np.float64] | None = None,
    ) -> RawSolution:
        """Solve the integer program ``problem`` exactly (see the module docstring).

        ``grid`` states an integral grid per column (continuous columns need one), as exact
        :class:`~fractions.Fraction` values or as doubles of decimals; ``row_bounds`` gives the
        rows' bounds exactly (lower list, upper list; ``None`` = infinite) where the model
        knows them as rationals its doubles only approximate (see :meth:`scale`);
        ``start`` is a hint (column values). ``want_duals`` cannot be honoured (no duals for
        integer programs) and is ignored.
        """
        cp_model = _cp_model()
        t0 = time.perf_counter()
        lp = problem
        form = self.scale(lp, grid, row_bounds)
        model = cp_model.CpModel()
        xs = [
            model.new_int_var(lo, hi, f"x{j}")
            for j, (lo, hi) in enumerate(zip(form["lower"], form["upper"], strict=True))
        ]
        for idx, ints, lo, hi in form["rows"]:
            expr = cp_model.LinearExpr.weighted_sum([xs[j] for j in idx], ints)
            if lo is not None and hi is not None:
                model.add_linear_constraint(expr, lo, hi)
            elif lo is not None:
                model.add(expr >= lo)
            elif hi is not None:
                model.add(expr <= hi)
        objective = cp_model.LinearExpr.weighted_sum(xs, form["cost"])
        if lp.maximize:
            model.maximize(objective)
        else:
            model.minimize(objective)
        if start is not None:
            for j, v in enumerate(np.asarray(start, dtype=np.float64).tolist()):
                model.add_hint(xs[j], round(v / form["grid"][j]))
        solver = cp_model.CpSolver()
        p = solver.parameters
        p.num_workers = 1
        p.random_seed = int(params.seed)
        p.relative_gap_limit = float(params.mip_gap)
        limit = time_limit if time_limit is not None else params.time_limit
        if limit is not None:
            p.max_time_in_seconds = float(max(limit, 1e-3))
        _apply_options(p, params)
        code = solver.solve(model)
        runtime = time.perf_counter() - t0
        name = solver.status_name(code)
        termination, solution = status_map().get(name, (Termination.ERROR, SolutionStatus.NONE))
        if name in ("FEASIBLE", "UNKNOWN") and limit is not None and runtime >= 0.99 * limit:
            termination = Termination.TIME_LIMIT
        x = None
        obj_value = bound = None
        L0 = form["objective_multiplier"]
        if solution is not SolutionStatus.NONE:
            ints = [solver.value(v) for v in xs]
            x = on_grid(ints, form["grid_exact"])
            total = sum(c * v for c, v in zip(form["cost"], ints, strict=True))
            obj_value = float(Fraction(total, L0)) + float(lp.offset)
            bound = float(Fraction(solver.best_objective_bound) / L0) + float(lp.offset)
        message = "" if solution is SolutionStatus.OPTIMAL else f"CP-SAT: {name}"
        return RawSolution(
            termination=termination,
            solution=solution,
            objective=obj_value,
            bound=bound,
            x=x,
            runtime=runtime,
            message=message,
            extra={
                "scaling": {
                    "objective_multiplier": L0,
                    "largest_row_multiplier": form["largest_row_multiplier"],
                    "grids": sorted({float(v) for v in form["grid"].tolist()}),
                }
            },
            solver=self.name,
        )
