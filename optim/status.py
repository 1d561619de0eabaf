"""One status vocabulary for every problem and backend, on two axes.

Why the solve stopped (:class:`Termination`) and what it holds (:class:`SolutionStatus`) are
separate facts, as in OR-Tools MathOpt (``TerminationReason`` × ``FeasibilityStatus``) and
Pyomo contrib (``TerminationCondition`` × ``SolutionStatus``): a time limit with an incumbent
and one without are told apart by the second axis, not by whether ``objective`` is set.

:class:`Status` is the one-axis summary kept for existing callers and the CLI exit codes;
:func:`summarize` derives it from the two axes and :func:`split` goes back (the table in
:data:`SUMMARY`, tested row by row).
"""

from __future__ import annotations

from enum import StrEnum


class Status(StrEnum):
    """Why the solve stopped and what it holds (one-axis summary of the two axes).

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
        The time limit was hit (or the solve was interrupted). With a solution it is returned
        with its gap; without one, ``Result.has_solution()`` is false.
    ERROR
        The solver failed; ``Result.message`` says how.
    """

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    TIME_LIMIT = "time_limit"
    ERROR = "error"


class Termination(StrEnum):
    """Why the solver (or the staged method) stopped.

    Members
    -------
    OPTIMAL
        Converged: optimal within the requested tolerances (MIP gap, PDLP's relative
        tolerance — the gap says how far).
    INFEASIBLE
        Proven infeasible (or infeasible-or-unbounded, which no optim model can be unbounded).
    UNBOUNDED
        Proven unbounded.
    TIME_LIMIT
        The wall-clock limit was reached.
    INTERRUPTED
        Cancelled by the user or the service.
    OTHER_LIMIT
        Another limit stopped it before a proof: iteration, solution count, objective target,
        or a refinement loop that did not close its gap.
    ERROR
        The solver failed or the model was rejected; the message says why.
    """

    OPTIMAL = "optimal"
    INFEASIBLE = "infeasible"
    UNBOUNDED = "unbounded"
    TIME_LIMIT = "time_limit"
    INTERRUPTED = "interrupted"
    OTHER_LIMIT = "other_limit"
    ERROR = "error"


class SolutionStatus(StrEnum):
    """What the result holds.

    Members
    -------
    OPTIMAL
        A solution proven optimal (within the tolerances).
    FEASIBLE
        A feasible solution without that proof (its gap says how far it may be).
    NONE
        No solution.
    """

    OPTIMAL = "optimal"
    FEASIBLE = "feasible"
    NONE = "none"


def summarize(termination: Termination, solution: SolutionStatus) -> Status:
    """The one-axis :class:`Status` of a (termination, solution) pair.

    A proven optimum is ``OPTIMAL``; a time limit or interruption is ``TIME_LIMIT`` whether
    or not it holds a solution (``has_solution`` tells them apart); another stop with a
    feasible solution is ``FEASIBLE``; otherwise the termination reason decides.
    """
    if solution is SolutionStatus.OPTIMAL:
        return Status.OPTIMAL
    if termination in (Termination.TIME_LIMIT, Termination.INTERRUPTED):
        return Status.TIME_LIMIT
    if solution is SolutionStatus.FEASIBLE:
        return Status.FEASIBLE
    if termination is Termination.INFEASIBLE:
        return Status.INFEASIBLE
    if termination is Termination.UNBOUNDED:
        return Status.UNBOUNDED
    return Status.ERROR


def split(status: Status, has_solution: bool) -> tuple[Termination, SolutionStatus]:
    """The two axes of a one-axis ``status`` (``has_solution``: a solution was returned).

    Used where a caller still states only :class:`Status`; ``summarize(*split(s, h)) is s``
    for every row (tested).
    """
    if status is Status.OPTIMAL:
        return Termination.OPTIMAL, SolutionStatus.OPTIMAL
    if status is Status.FEASIBLE:
        return Termination.OTHER_LIMIT, SolutionStatus.FEASIBLE
    if status is Status.TIME_LIMIT:
        sol = SolutionStatus.FEASIBLE if has_solution else SolutionStatus.NONE
        return Termination.TIME_LIMIT, sol
    if status is Status.INFEASIBLE:
        return Termination.INFEASIBLE, SolutionStatus.NONE
    if status is Status.UNBOUNDED:
        return Termination.UNBOUNDED, SolutionStatus.NONE
    return Termination.ERROR, SolutionStatus.NONE
