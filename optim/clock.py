"""The one time-limit clock every kind uses (``SolveParams.time_limit`` covers all stages)."""

from __future__ import annotations

import time

from optim.params import SolveParams

MIN_SLICE = 1e-3
"""Seconds handed to a solver when the budget is spent (solvers reject a zero limit)."""


class Clock:
    """Wall-clock budget of one solve, started at construction.

    Parameters
    ----------
    limit
        Seconds for the whole solve (all stages, all blocks); ``None`` means no limit.
    deadline
        An absolute ``time.perf_counter()`` deadline to share (e.g. with worker processes);
        wins over ``limit``.
    floor
        Least seconds :meth:`left` hands to a solver call however little budget is left
        (default :data:`MIN_SLICE`). A kind whose outcome must not depend on the machine's
        load near a spent budget sets a larger floor (capacity: one second).
    """

    def __init__(
        self,
        limit: float | None = None,
        *,
        deadline: float | None = None,
        floor: float = MIN_SLICE,
    ) -> None:
        self.start = time.perf_counter()
        self.limit = limit
        self.floor = floor
        if deadline is None and limit is not None:
            deadline = self.start + limit
        self.deadline = deadline

    @classmethod
    def of(cls, params: SolveParams) -> Clock:
        """The clock of ``params.time_limit``."""
        return cls(params.time_limit)

    def left(self) -> float | None:
        """Seconds left for the next solver call (at least ``floor``), or ``None``."""
        if self.deadline is None:
            return None
        return max(self.deadline - time.perf_counter(), self.floor)

    def expired(self) -> bool:
        """True once the budget is spent."""
        return self.deadline is not None and time.perf_counter() >= self.deadline

    def elapsed(self) -> float:
        """Seconds since the clock started."""
        return time.perf_counter() - self.start
