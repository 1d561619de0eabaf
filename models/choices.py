"""What each problem kind accepts as ``params.method`` and ``params.solver``.

Plain data and one check, light to import (no numpy, no solver), so that a service refuses a
job's parameters when it is submitted, before any solve module loads; each kind's solve loop
runs the same check first. A capacity instance with lot sizing narrows its solvers further
(``models.capacity.solve``: LP engines cannot solve the MIP).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from optim.errors import InstanceError

if TYPE_CHECKING:
    from optim.params import SolveParams

METHODS: dict[str, tuple[str, ...]] = {
    # auto: the exact flow methods (stages 0-2, routing) on components up to 10,000 lines +
    # cells or spanning beyond 1e5, staged LPs on the other large ones; the integer stage
    # (lots, all-or-nothing) by HiGHS' MIP up to 1e5 units and a span of 1e5, in whole
    # quanta on CP-SAT beyond; lp: the staged LPs and the HiGHS MIP everywhere (the same
    # answers at ordinary magnitudes; kept as the independent second method)
    "rationing": ("auto", "lp"),
    "safety_stock": ("auto", "dp", "mip", "assignment", "pwl", "pwl_full"),
    "capacity": ("auto", "monolithic"),
}

SOLVERS: dict[str, dict[str, str]] = {
    "rationing": {
        "auto": "the block-decomposed staged LPs and MIPs by HiGHS",
        "highs": "the same",
        "pyomo": "the Pyomo reference formulation solved by HiGHS through Pyomo",
        "cpsat": "the integer stage (lots, all-or-nothing, whole units) by CP-SAT, exactly "
        "scaled; the staged LPs by HiGHS",
    },
    "safety_stock": {
        "auto": "the DP on spanning trees, else the MIP by HiGHS",
        "highs": "the same, HiGHS for every LP/MIP",
        "pyomo": "the Pyomo reference MIP solved by HiGHS through Pyomo",
    },
    "capacity": {
        "auto": "HiGHS",
        "highs": "HiGHS",
        "pyomo": "the Pyomo reference formulation solved by HiGHS through Pyomo",
        "glop": "OR-Tools' simplex (LP only: no lot sizing)",
        "pdlp": "OR-Tools' first-order LP method (LP only: no lot sizing)",
    },
}
"""``params.solver`` names each kind accepts → what each does there."""


def check(
    kind: str,
    params: SolveParams,
    solvers: Mapping[str, str] | None = None,
    *,
    load: bool = True,
) -> None:
    """Refuse a ``params.method`` or ``params.solver`` ``kind`` does not have.

    ``solvers`` narrows the kind's :data:`SOLVERS` for one instance; ``load=False`` checks the
    solver's name without importing it (see :func:`optim.solvers.registry.check`). Raises
    :class:`~optim.errors.InstanceError` (CLI exit 2, service 422) naming what is allowed.
    """
    methods = METHODS[kind]
    if params.method not in methods:
        raise InstanceError(
            f"params.method {params.method!r} is not available for {kind}; allowed: "
            + ", ".join(methods),
            field="params.method",
        )
    from optim.solvers import registry

    allowed = SOLVERS[kind] if solvers is None else solvers
    registry.check(kind, params.solver, allowed, load=load)


__all__ = ["METHODS", "SOLVERS", "check"]
