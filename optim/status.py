"""One status vocabulary for every problem and backend."""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """Why the solve stopped and what it holds.

    Members
    -------
    OPTIMAL
        Proven optimal (within the requested gap for MIPs).
    FEASIBLE
        A feasible solution without proof of optimality (e.g. a MIP stopped at its gap limit).
    INFEASIBLE
        No solution satisfies the constraints; ``Result.diagnosis`` says which ones conflict.
    UNBOUNDED
        The objective can improve without limit (an instance error in every optim model).
    TIME_LIMIT
        The time limit was hit. With a solution it is returned with its gap; without one,
        ``Result.has_solution()`` is false.
    ERROR
        The solver failed; ``Result.message`` says how.
    """

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    TIME_LIMIT = "time_limit"
    ERROR = "error"
