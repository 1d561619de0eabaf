"""Solvers by name, and the one check every kind makes of ``params.solver``.

``get(name)`` returns the adapter (raising :class:`~optim.errors.SolverUnavailableError` with
an install hint when its package is missing); :func:`check` is the single solver-name check,
with one message for every kind. ``"auto"`` is resolved by each kind from the benchmark table
in ``benchmarks/RESULTS.md`` (see :func:`auto`).
"""

from __future__ import annotations

from collections.abc import Mapping

from optim.errors import InstanceError, SolverUnavailableError
from optim.solvers.base import Solver
from optim.solvers.cpsat import CpSatSolver
from optim.solvers.highs import HighsSolver
from optim.solvers.ortools_lp import GlopSolver, PdlpSolver
from optim.solvers.pyomo_highs import PyomoHighsSolver

__all__ = ["SOLVERS", "auto", "check", "get", "names"]

SOLVERS: dict[str, Solver] = {
    s.name: s
    for s in (HighsSolver(), CpSatSolver(), GlopSolver(), PdlpSolver(), PyomoHighsSolver())
}
"""Every adapter by its ``--solver`` name."""


def names() -> list[str]:
    """Known solver names, ``auto`` first."""
    return ["auto", *SOLVERS]


def get(name: str) -> Solver:
    """The adapter called ``name``; raises when unknown or not installed."""
    if name not in SOLVERS:
        raise InstanceError(
            f"params.solver {name!r} is not known; known: {', '.join(names())}",
            field="params.solver",
        )
    solver = SOLVERS[name]
    ok = solver.available()
    if not ok:
        raise SolverUnavailableError(ok.hint)
    return solver


def check(kind: str, name: str, allowed: Mapping[str, str], *, load: bool = True) -> str:
    """The one solver-name check: ``name`` must be a key of ``allowed`` for ``kind``.

    Parameters
    ----------
    kind
        The problem kind (for the message).
    name
        ``params.solver``.
    allowed
        Solver names this kind (or this instance) accepts → what each does here; a name
        outside it gets one message listing them, with ``why_not`` reasons from
        :data:`WHY_NOT` when the kind states one.
    load
        Also check the named backend imports (:func:`get`); ``False`` checks the name only
        (a service at submission, which never loads a solver itself).

    Returns ``name``. Raises :class:`~optim.errors.InstanceError` (field ``params.solver``,
    CLI exit 2).
    """
    if name in allowed:
        if load and name != "auto":
            get(name)
        return name
    if name not in SOLVERS and name != "auto":
        reason = "it is not a known solver"
    else:
        reason = WHY_NOT.get((kind, name), f"{kind} has no formulation for it")
    raise InstanceError(
        f"params.solver {name!r} is not available for {kind}: {reason}; allowed: "
        f"{', '.join(allowed)}",
        field="params.solver",
    )


WHY_NOT: dict[tuple[str, str], str] = {
    ("safety_stock", "cpsat"): "the GSM holding cost h·k·√τ is irrational, so the MIP has no "
    "exact integer scaling",
    ("safety_stock", "glop"): "the GSM is a MIP (or a DP), not an LP",
    ("safety_stock", "pdlp"): "the GSM is a MIP (or a DP), not an LP",
    ("rationing", "glop"): "the staged LPs need HiGHS' warm-started simplex and its duals "
    "(progressive filling); only the integer stage has a second engine (cpsat)",
    ("rationing", "pdlp"): "the staged LPs need vertex solutions to 1e-9 (a first-order "
    "method stops at a tolerance); only the integer stage has a second engine (cpsat)",
    ("capacity", "cpsat"): "CP-SAT works over the integers, and the capacity model (LP, or "
    "MIP with lot_sizing) has continuous production, overtime, inventory and shipments whose "
    "optimum is fractional in general (hours per unit), so no exact integer scaling exists",
    ("capacity", "glop"): "lot_sizing makes the model a MIP and GLOP solves LPs",
    ("capacity", "pdlp"): "lot_sizing makes the model a MIP and PDLP solves LPs",
}


AUTO_MARGIN = 1.5
"""Another engine replaces HiGHS under ``auto`` only where the engine table shows it faster
by this factor on the median (less is within the noise of the shared benchmark machine)."""


def auto(kind: str) -> str:
    """The engine ``--solver auto`` picks for ``kind``, following ``benchmarks/RESULTS.md``.

    Rule: HiGHS, unless the table (``benchmarks/bench_engines.py``, same run) shows another
    engine that is exact for the model and at least :data:`AUTO_MARGIN` × faster on the
    median. In the 2026-11-30 table no row does: GLOP is within ±20 % of HiGHS on the capacity
    LP, PDLP 4–8× slower at the sizes measured, CP-SAT slower on rationing's integer stage and
    refused on the capacity models — so ``auto`` is HiGHS for every kind.
    """
    return "highs"
