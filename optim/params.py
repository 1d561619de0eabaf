"""Solve parameters shared by every problem."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class SolveParams(BaseModel):
    """How to solve: limits and backend choice. Frozen; build a variant with ``model_copy``.

    Attributes
    ----------
    time_limit
        Wall-clock limit in seconds for the whole solve (all stages); ``None`` means none.
    mip_gap
        Relative MIP gap at which a MIP stage stops as optimal.
    solver
        Backend: ``"auto"`` (the problem's fast path), ``"highs"`` (highspy), ``"pyomo"``
        (the Pyomo reference formulation solved by HiGHS through Pyomo), ``"cpsat"``.
    method
        Problem-specific method choice (e.g. ``"dp"`` / ``"mip"`` for safety stock).
    threads
        Parallel workers for problems that split into independent blocks (rationing
        components, capacity plants). Results do not depend on it.
    seed
        Random seed for solvers that use one.
    solver_options
        Extra backend options passed through verbatim.
    """

    # strict: SolveParams(time_limit="5") was taken as 5 s and threads=True as 1, against
    # the input gate's rule that text and booleans are never numbers
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)

    time_limit: float | None = Field(default=None, gt=0)
    mip_gap: float = Field(default=1e-6, ge=0, le=1)
    solver: str = "auto"
    method: str = "auto"
    threads: int = Field(default=1, ge=1)
    seed: int = 0
    solver_options: dict[str, Any] = Field(default_factory=dict)


def as_params(params: SolveParams | Mapping[str, Any] | None) -> SolveParams:
    """``params`` as :class:`SolveParams`: a mapping is validated (``{"time_limt": 5}`` is
    refused), ``None`` is the defaults. A mapping ended in ``AttributeError: 'dict' object has
    no attribute 'threads'`` where a function expected the model."""
    if isinstance(params, Mapping):
        return SolveParams.model_validate(dict(params))
    if params is None:
        return SolveParams()
    if not isinstance(params, SolveParams):
        raise TypeError(f"params must be SolveParams or a mapping, not {type(params).__name__}")
    return params
