"""Every backend status maps onto the two axes (termination × solution), row by row, and
the one-axis :class:`optim.Status` is their summary (the CLI's exit codes read it)."""

from __future__ import annotations

import highspy
import pytest
from ortools.linear_solver.python import model_builder_helper
from ortools.sat import cp_model_pb2
from pyomo.opt import TerminationCondition

from optim import Result, SolutionStatus, Status, Termination
from optim.cli import exit_code
from optim.solvers import cpsat, highs, ortools_lp, pyomo_highs
from optim.status import split, summarize

T, S = Termination, SolutionStatus

HIGHS_EXPECTED = {
    "kOptimal": T.OPTIMAL,
    "kInfeasible": T.INFEASIBLE,
    "kUnbounded": T.UNBOUNDED,
    "kUnboundedOrInfeasible": T.INFEASIBLE,
    "kTimeLimit": T.TIME_LIMIT,
    "kIterationLimit": T.OTHER_LIMIT,
    "kInterrupt": T.INTERRUPTED,
    "kSolutionLimit": T.OTHER_LIMIT,
    "kObjectiveBound": T.OTHER_LIMIT,
    "kObjectiveTarget": T.OTHER_LIMIT,
    "kModelEmpty": T.OPTIMAL,
    "kNotset": T.ERROR,
    "kLoadError": T.ERROR,
    "kModelError": T.ERROR,
    "kPresolveError": T.ERROR,
    "kSolveError": T.ERROR,
    "kPostsolveError": T.ERROR,
    "kMemoryLimit": T.OTHER_LIMIT,
    "kUnknown": T.ERROR,
}


@pytest.mark.parametrize(("name", "expected"), HIGHS_EXPECTED.items())
def test_highs_termination_row(name, expected):
    assert highs.termination_map()[getattr(highspy.HighsModelStatus, name)] is expected


def test_highs_map_covers_every_status():
    members = {m for m in dir(highspy.HighsModelStatus) if m.startswith("k")}
    assert members - {"kHighsInterrupt"} <= set(HIGHS_EXPECTED)


PYOMO_EXPECTED = {
    "optimal": T.OPTIMAL,
    "globallyOptimal": T.OPTIMAL,
    "locallyOptimal": T.OTHER_LIMIT,
    "feasible": T.OTHER_LIMIT,
    "infeasible": T.INFEASIBLE,
    "unbounded": T.UNBOUNDED,
    "infeasibleOrUnbounded": T.INFEASIBLE,
    "maxTimeLimit": T.TIME_LIMIT,
    "maxIterations": T.OTHER_LIMIT,
    "maxEvaluations": T.OTHER_LIMIT,
    "userInterrupt": T.INTERRUPTED,
    "error": T.ERROR,
    "solverFailure": T.ERROR,
    "internalSolverError": T.ERROR,
    "unknown": T.ERROR,
}


@pytest.mark.parametrize(("name", "expected"), PYOMO_EXPECTED.items())
def test_pyomo_termination_row(name, expected):
    assert pyomo_highs.termination_map()[getattr(TerminationCondition, name)] is expected


ORTOOLS_LP_EXPECTED = {
    "OPTIMAL": (T.OPTIMAL, S.OPTIMAL),
    "FEASIBLE": (T.OTHER_LIMIT, S.FEASIBLE),
    "INFEASIBLE": (T.INFEASIBLE, S.NONE),
    "UNBOUNDED": (T.UNBOUNDED, S.NONE),
    "ABNORMAL": (T.ERROR, S.NONE),
    "NOT_SOLVED": (T.ERROR, S.NONE),
    "MODEL_IS_VALID": (T.ERROR, S.NONE),
    "CANCELLED_BY_USER": (T.INTERRUPTED, S.NONE),
    "UNKNOWN_STATUS": (T.ERROR, S.NONE),
    "MODEL_INVALID": (T.ERROR, S.NONE),
    "INVALID_SOLVER_PARAMETERS": (T.ERROR, S.NONE),
    "SOLVER_TYPE_UNAVAILABLE": (T.ERROR, S.NONE),
    "INCOMPATIBLE_OPTIONS": (T.ERROR, S.NONE),
}


@pytest.mark.parametrize(("name", "expected"), ORTOOLS_LP_EXPECTED.items())
def test_glop_pdlp_status_row(name, expected):
    assert ortools_lp.status_map()[name] == expected


def test_glop_pdlp_map_covers_every_status():
    assert set(model_builder_helper.SolveStatus.__members__) == set(ORTOOLS_LP_EXPECTED)


CPSAT_EXPECTED = {
    "OPTIMAL": (T.OPTIMAL, S.OPTIMAL),
    "FEASIBLE": (T.OTHER_LIMIT, S.FEASIBLE),
    "INFEASIBLE": (T.INFEASIBLE, S.NONE),
    "MODEL_INVALID": (T.ERROR, S.NONE),
    "UNKNOWN": (T.ERROR, S.NONE),
}


@pytest.mark.parametrize(("name", "expected"), CPSAT_EXPECTED.items())
def test_cpsat_status_row(name, expected):
    assert cpsat.status_map()[name] == expected


def test_cpsat_map_covers_every_status():
    assert set(cp_model_pb2.CpSolverStatus.keys()) == set(CPSAT_EXPECTED)


SUMMARY = [
    (T.OPTIMAL, S.OPTIMAL, Status.OPTIMAL, 0),
    (T.OTHER_LIMIT, S.FEASIBLE, Status.FEASIBLE, 0),
    (T.TIME_LIMIT, S.FEASIBLE, Status.TIME_LIMIT, 0),
    (T.TIME_LIMIT, S.NONE, Status.TIME_LIMIT, 4),
    (T.INTERRUPTED, S.FEASIBLE, Status.TIME_LIMIT, 0),
    (T.INTERRUPTED, S.NONE, Status.TIME_LIMIT, 4),
    (T.INFEASIBLE, S.NONE, Status.INFEASIBLE, 3),
    (T.UNBOUNDED, S.NONE, Status.UNBOUNDED, 3),
    (T.OTHER_LIMIT, S.NONE, Status.ERROR, 1),
    (T.ERROR, S.NONE, Status.ERROR, 1),
]


@pytest.mark.parametrize(("termination", "solution", "status", "code"), SUMMARY)
def test_two_axes_summary_and_exit_code(termination, solution, status, code):
    assert summarize(termination, solution) is status
    res = Result(
        kind="capacity",
        status=status,
        objective=None if solution is S.NONE else 1.0,
        termination=termination,
        solution_status=solution,
    )
    assert res.has_solution() is (solution is not S.NONE)
    assert exit_code(res) == code
    doc = res.to_dict()
    assert (doc["termination"], doc["solution_status"]) == (termination.value, solution.value)


@pytest.mark.parametrize("status", list(Status))
@pytest.mark.parametrize("has", [False, True])
def test_split_round_trips_the_one_axis_status(status, has):
    assert summarize(*split(status, has)) is status


def test_time_limit_with_and_without_a_solution_differ_on_the_second_axis():
    with_sol = Result(kind="capacity", status=Status.TIME_LIMIT, objective=3.0)
    without = Result(kind="capacity", status=Status.TIME_LIMIT)
    assert with_sol.solution_status is S.FEASIBLE and without.solution_status is S.NONE
    assert with_sol.termination is without.termination is T.TIME_LIMIT


def test_contradicting_axes_are_refused():
    with pytest.raises(ValueError, match="contradicts"):
        Result(
            kind="capacity",
            status=Status.OPTIMAL,
            termination=T.TIME_LIMIT,
            solution_status=S.NONE,
        )
