"""The solver-adapter contract: :class:`Solver`, :class:`Capability`, :class:`RawSolution`.

An adapter turns one problem type of :mod:`optim.models` (today the array
:class:`~optim.models.problem.LinearProgram`; the Pyomo reference adapter takes a Pyomo model)
into one :class:`RawSolution`. Adapters import their backend lazily, say whether it is
installed (:meth:`Solver.available`, with an install hint) and declare what they can do
(:attr:`Solver.capabilities`); :mod:`optim.solvers.registry` holds them by name. Solvers depend
on the models' problem types, never the reverse, and never on a kind's solve loop.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np
from numpy.typing import NDArray

from optim.params import SolveParams
from optim.status import SolutionStatus, Status, Termination, split, summarize

if TYPE_CHECKING:  # the problem type lives with the models; imported for annotations only
    from optim.models.problem import LinearProgram

__all__ = [
    "Availability",
    "CancelScope",
    "Capability",
    "RawSolution",
    "Solver",
    "cancel_requested",
    "interruptible",
]


ORTOOLS_HINT = (
    "OR-Tools is not installed. Install it with `pip install ortools==9.15.6755` "
    "(pinned to match highspy 1.12.0)."
)
"""Install hint of the OR-Tools adapters (CP-SAT, GLOP, PDLP)."""


class Capability(StrEnum):
    """What an adapter can do (checked against what a model needs before solving)."""

    LP = "lp"
    """Continuous linear programs."""
    MIP = "mip"
    """Integer columns (exactly: CP-SAT needs every column integral after exact scaling)."""
    DUALS = "duals"
    """Row duals of an LP (marginal values)."""
    WARM_START = "warm_start"
    """A start point or a kept basis across re-solves."""
    TIME_LIMIT = "time_limit"
    """Honours a wall-clock limit and returns its incumbent."""
    CANCEL = "cancel"
    """Can be interrupted from another thread."""


@dataclass(frozen=True)
class Availability:
    """Whether a backend is installed; falsy when not, with ``hint`` saying how to install."""

    ok: bool
    hint: str = ""

    def __bool__(self) -> bool:
        return self.ok


@dataclass
class RawSolution:
    """What every adapter returns before any problem-specific extraction.

    The two status axes (``termination`` × ``solution``) are the facts; ``status`` is their
    one-axis summary (:func:`optim.status.summarize`). Give either the two axes or, in older
    code, ``status`` alone (the axes are then derived with :func:`optim.status.split`).

    Attributes
    ----------
    objective, bound
        Objective of ``x`` and the best proven bound (``None`` where there is none). For PDLP
        the bound is the dual objective of its approximate duals, so ``gap`` is PDLP's
        achieved relative tolerance.
    x, row_dual, col_dual
        Column values and (LP) duals in the problem's own scale and sign convention (HiGHS':
        the dual of a ``≤`` row of a minimisation is ≤ 0).
    extra
        Backend facts worth reporting (e.g. ``scaling`` for CP-SAT, tolerances for PDLP).
    """

    status: Status = None  # type: ignore[assignment]  # set in __post_init__
    objective: float | None = None
    bound: float | None = None
    x: NDArray[np.float64] | None = None
    row_dual: NDArray[np.float64] | None = None
    col_dual: NDArray[np.float64] | None = None
    runtime: float = 0.0
    message: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    termination: Termination = None  # type: ignore[assignment]
    solution: SolutionStatus = None  # type: ignore[assignment]
    solver: str = ""

    def __post_init__(self) -> None:
        if self.termination is None or self.solution is None:
            if self.status is None:
                raise TypeError("RawSolution needs status or (termination, solution)")
            has = self.x is not None or self.objective is not None
            self.termination, self.solution = split(self.status, has)
        else:
            self.status = summarize(self.termination, self.solution)

    @property
    def has_solution(self) -> bool:
        return self.solution is not SolutionStatus.NONE

    @property
    def gap(self) -> float | None:
        if self.objective is None or self.bound is None:
            return None
        return abs(self.objective - self.bound) / max(1.0, abs(self.objective))


@runtime_checkable
class Solver(Protocol):
    """One backend behind optim's models.

    Attributes
    ----------
    name
        Registry name (``--solver NAME``).
    capabilities
        What it can do; a model needing more is refused before solving.
    """

    name: str
    capabilities: frozenset[Capability]

    def available(self) -> Availability:
        """Whether the backend imports; the hint says how to install it."""
        ...

    def version(self) -> str:
        """Backend version string."""
        ...

    def solve(
        self,
        problem: LinearProgram,
        params: SolveParams,
        *,
        time_limit: float | None = None,
        want_duals: bool = False,
    ) -> RawSolution:
        """Solve ``problem``; a time limit returns the incumbent, never raises for it."""
        ...


class CancelScope:
    """One :func:`interruptible` block: its check, and how often a poll found it set.

    Calling the scope polls ``check``; a poll that finds it set is counted in :attr:`stops`
    (the poller stops on it: HiGHS interrupts, the rationing stages end), so
    :func:`optim.solve` can tell a solve that stopped on the cancel (termination
    ``interrupted``) from one that stopped at its time limit.
    """

    def __init__(self, check: Callable[[], bool], deadline: float | None = None) -> None:
        self.check = check
        self.deadline = deadline
        """``time.monotonic()`` from which the scope is set whatever ``check`` says (a
        wall-clock cap), if any: HiGHS does not poll its interrupt callbacks everywhere (MIP
        heuristics were measured running 10 s without one), so its adapter also sets the time
        left as its own time limit and reports reaching it as an interrupt."""
        self.stops = 0

    def __call__(self) -> bool:
        if self.check() or (self.deadline is not None and time.monotonic() >= self.deadline):
            self.stops += 1
            return True
        return False


_cancel_check: CancelScope | None = None


@contextlib.contextmanager
def interruptible(
    check: Callable[[], bool], deadline: float | None = None
) -> Iterator[CancelScope]:
    """Solves inside this block stop when ``check()`` turns true (the ``cancel`` capability).

    ``check`` is polled from the solver's interrupt callbacks (HiGHS: simplex, interior point
    and branch-and-bound), so it must be cheap and thread-safe (e.g. ``Event.is_set`` of a
    :mod:`multiprocessing` event set by the process that wants the solve stopped). An
    interrupted solve returns like a time limit: termination ``interrupted``, the best
    solution found so far (if any) with its bound. Adapters without the capability ignore it.
    ``deadline`` (``time.monotonic()``): a time from which the block counts as cancelled too
    (a wall-clock cap), see :attr:`CancelScope.deadline`. Yields the block's :class:`CancelScope`.
    """
    global _cancel_check
    previous, _cancel_check = _cancel_check, CancelScope(check, deadline)
    try:
        yield _cancel_check
    finally:
        _cancel_check = previous


def cancel_requested() -> CancelScope | None:
    """The scope of the innermost :func:`interruptible` block (``None`` outside one); call it
    to poll the check."""
    return _cancel_check
