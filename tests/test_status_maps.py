"""Every backend status maps onto one optim.Status (the mapping tables, row by row)."""

from __future__ import annotations

import highspy
import pytest
from pyomo.opt import TerminationCondition

from optim import Status
from optim.solvers import highs, pyomo_highs

HIGHS_EXPECTED = {
    "kOptimal": Status.OPTIMAL,
    "kInfeasible": Status.INFEASIBLE,
    "kUnbounded": Status.UNBOUNDED,
    "kUnboundedOrInfeasible": Status.INFEASIBLE,
    "kTimeLimit": Status.TIME_LIMIT,
    "kIterationLimit": Status.TIME_LIMIT,
    "kInterrupt": Status.TIME_LIMIT,
    "kSolutionLimit": Status.FEASIBLE,
    "kObjectiveBound": Status.FEASIBLE,
    "kObjectiveTarget": Status.FEASIBLE,
    "kModelEmpty": Status.OPTIMAL,
    "kNotset": Status.ERROR,
    "kLoadError": Status.ERROR,
    "kModelError": Status.ERROR,
    "kPresolveError": Status.ERROR,
    "kSolveError": Status.ERROR,
    "kPostsolveError": Status.ERROR,
    "kMemoryLimit": Status.ERROR,
    "kUnknown": Status.ERROR,
}


@pytest.mark.parametrize(("name", "expected"), HIGHS_EXPECTED.items())
def test_highs_status_row(name, expected):
    assert highs.status_map()[getattr(highspy.HighsModelStatus, name)] is expected


def test_highs_map_covers_every_status():
    members = {m for m in dir(highspy.HighsModelStatus) if m.startswith("k")}
    assert members - {"kHighsInterrupt"} <= set(HIGHS_EXPECTED)


@pytest.mark.parametrize(
    ("cond", "expected"),
    [
        (TerminationCondition.optimal, Status.OPTIMAL),
        (TerminationCondition.infeasible, Status.INFEASIBLE),
        (TerminationCondition.unbounded, Status.UNBOUNDED),
        (TerminationCondition.maxTimeLimit, Status.TIME_LIMIT),
        (TerminationCondition.feasible, Status.FEASIBLE),
        (TerminationCondition.error, Status.ERROR),
    ],
)
def test_pyomo_status_row(cond, expected):
    assert pyomo_highs.status_map()[cond] is expected
