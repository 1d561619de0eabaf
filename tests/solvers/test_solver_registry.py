"""The adapter protocol and the registry: one name check, one message, install hints."""

from __future__ import annotations

import numpy as np
import pytest

from optim import InstanceError, SolveParams
from optim.models.problem import LinearProgram, csr_from_triplets
from optim.solvers import registry
from optim.solvers.base import Capability, RawSolution, Solver
from optim.status import SolutionStatus, Status, Termination


@pytest.mark.parametrize("name", list(registry.SOLVERS))
def test_every_adapter_follows_the_protocol(name):
    solver = registry.SOLVERS[name]
    assert isinstance(solver, Solver)
    assert solver.name == name
    assert solver.available(), solver.available().hint
    assert solver.version()
    assert Capability.TIME_LIMIT in solver.capabilities


def test_capabilities_say_what_each_engine_does():
    caps = {n: s.capabilities for n, s in registry.SOLVERS.items()}
    assert Capability.MIP in caps["cpsat"] and Capability.LP not in caps["cpsat"]
    assert Capability.MIP not in caps["pdlp"] and Capability.DUALS in caps["pdlp"]
    assert Capability.MIP not in caps["glop"] and Capability.DUALS in caps["glop"]
    assert {Capability.LP, Capability.MIP, Capability.DUALS} <= caps["highs"]


def test_unknown_solver_gets_one_message():
    with pytest.raises(InstanceError, match=r"params\.solver 'gurobi' is not known") as info:
        registry.get("gurobi")
    assert info.value.field == "params.solver"


@pytest.mark.parametrize("kind", ["rationing", "capacity", "safety_stock"])
def test_the_same_message_for_every_kind(kind):
    allowed = {"auto": "", "highs": ""}
    with pytest.raises(
        InstanceError,
        match=rf"params\.solver 'nope' is not available for {kind}: it is not a known solver; "
        r"allowed: auto, highs",
    ):
        registry.check(kind, "nope", allowed)
    assert registry.check(kind, "highs", allowed) == "highs"


def test_raw_solution_derives_the_axes_from_a_legacy_status():
    raw = RawSolution(status=Status.TIME_LIMIT, objective=None, bound=None, x=None)
    assert (raw.termination, raw.solution) == (Termination.TIME_LIMIT, SolutionStatus.NONE)
    raw = RawSolution(termination=Termination.TIME_LIMIT, solution=SolutionStatus.FEASIBLE)
    assert raw.status is Status.TIME_LIMIT and raw.has_solution


def _tiny_lp() -> LinearProgram:
    # max x + 2y  s.t.  x + y ≤ 4,  -1 ≤ x - y ≤ 1  → (1.5, 2.5), 6.5
    rows = np.array([0, 0, 1, 1])
    cols = np.array([0, 1, 0, 1])
    vals = np.array([1.0, 1.0, 1.0, -1.0])
    ip, ix, dv = csr_from_triplets(rows, cols, vals, 2)
    return LinearProgram(
        cost=np.array([1.0, 2.0]),
        col_lower=np.zeros(2),
        col_upper=np.full(2, np.inf),
        row_lower=np.array([-np.inf, -1.0]),
        row_upper=np.array([4.0, 1.0]),
        indptr=ip,
        indices=ix,
        data=dv,
        maximize=True,
    )


@pytest.mark.parametrize("name", ["highs", "glop", "pdlp"])
def test_lp_engines_agree_with_the_hand_solution_and_duals(name):
    raw = registry.get(name).solve(_tiny_lp(), SolveParams(), want_duals=True)
    assert raw.status is Status.OPTIMAL
    assert raw.objective == pytest.approx(6.5, rel=1e-7)
    np.testing.assert_allclose(raw.x, [1.5, 2.5], atol=1e-6)
    # ∂ objective / ∂ bound: 1.5 per unit of the first row, -0.5 for the second's lower end
    np.testing.assert_allclose(raw.row_dual, [1.5, -0.5], atol=1e-6)
    assert raw.gap is not None and raw.gap <= 1e-6


def test_lp_engines_refuse_integer_columns():
    from dataclasses import replace

    lp = replace(_tiny_lp(), integrality=np.array([1, 1], dtype=np.int8))
    with pytest.raises(ValueError, match="glop solves LPs only"):
        registry.get("glop").solve(lp, SolveParams())
