"""The one time-limit clock every kind uses (``SolveParams.time_limit`` covers all stages)."""

from __future__ import annotations

import time

from optim.params import SolveParams

MIN_SLICE = 1e-3
"""Seconds handed to a solver when the budget is spent (solvers reject a zero limit)."""

MIN_BUDGET = 1.0
"""Least time a rationing or safety-stock solve gets, however short ``params.time_limit``
is (capacity floors each solver call instead: its ``MIN_SOLVER_SECONDS``). Below it, whether
a small instance was solved before a wall-clock limit struck depended on the machine's load,
not on the input: the bundled 8-line week with ``time_limit=0.001`` was optimal in 7 of 30
solves of one process and "time limit, no solution" in 23. With the floor, an instance solved
well within a second is solved whatever the limit; one whose solve ends within a hair of its
limit remains at the mercy of the clock, as under any wall-clock limit."""


def budget(limit: float | None) -> float | None:
    """``limit`` (seconds, ``None``: none), at least :data:`MIN_BUDGET`."""
    return None if limit is None else max(limit, MIN_BUDGET)


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
        """The clock of ``params.time_limit``, at least :data:`MIN_BUDGET` (:func:`budget`)."""
        return cls(budget(params.time_limit))

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
