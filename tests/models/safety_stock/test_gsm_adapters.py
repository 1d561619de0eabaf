"""The two small solver adapters of this area: Pyomo/HiGHS status table and MIP warm start."""

from __future__ import annotations

import random

import numpy as np
import pytest
from _gsm_testlib import random_network

from optim.models.safety_stock import build_assignment_mip, normalize, prepare
from optim.params import SolveParams
from optim.solvers import pyomo_highs
from optim.solvers.highs_mip_start import solve_mip
from optim.status import Status


@pytest.mark.parametrize(
    ("condition", "status"),
    [
        ("optimal", Status.OPTIMAL),
        ("globallyOptimal", Status.OPTIMAL),
        ("locallyOptimal", Status.FEASIBLE),
        ("feasible", Status.FEASIBLE),
        ("infeasible", Status.INFEASIBLE),
        ("unbounded", Status.UNBOUNDED),
        ("infeasibleOrUnbounded", Status.INFEASIBLE),
        ("maxTimeLimit", Status.TIME_LIMIT),
        ("maxIterations", Status.TIME_LIMIT),
        ("maxEvaluations", Status.TIME_LIMIT),
        ("userInterrupt", Status.TIME_LIMIT),
        ("error", Status.ERROR),
        ("solverFailure", Status.ERROR),
        ("internalSolverError", Status.ERROR),
        ("unknown", Status.ERROR),
    ],
)
def test_pyomo_status_rows(condition: str, status: Status) -> None:
    from pyomo.opt import TerminationCondition

    assert pyomo_highs.status_map()[getattr(TerminationCondition, condition)] is status


def test_pyomo_solve_small_model() -> None:
    import pyomo.environ as pyo

    m = pyo.ConcreteModel()
    m.x = pyo.Var(domain=pyo.NonNegativeIntegers, bounds=(0, 10))
    m.c = pyo.Constraint(expr=2 * m.x <= 7)
    m.o = pyo.Objective(expr=m.x, sense=pyo.maximize)
    res = pyomo_highs.solve(m, SolveParams(time_limit=10))
    assert res.status is Status.OPTIMAL and res.objective == pytest.approx(3.0)
    assert m.x.value == pytest.approx(3.0)


def test_warm_start_is_kept_under_a_tiny_node_budget() -> None:
    """With the start handed over, a MIP stopped at once still returns a point that good."""
    inst = random_network(random.Random(12), 15, extra_arcs=8, max_lead=4)
    data = prepare(inst)
    mip = build_assignment_mip(data)
    start = normalize(data, np.zeros(data.n, dtype=np.int64))
    x0 = mip.start_vector(start.outbound, start.inbound)
    params = SolveParams(solver_options={"mip_max_nodes": 0, "presolve": "off"})
    raw = solve_mip(mip.lp, params, start=x0)
    assert raw.x is not None and raw.objective is not None
    assert raw.objective <= start.cost + 1e-9
    full = solve_mip(mip.lp, SolveParams(mip_gap=1e-9), start=x0)
    assert full.status is Status.OPTIMAL and full.objective <= raw.objective + 1e-9
