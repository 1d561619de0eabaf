"""The block-angular interior point (:mod:`optim.models.capacity.blockipm`) on coupled
instances (every product draws on shared resources: one block), against HiGHS.

Independent checks: the objective of HiGHS IPX + crossover and of the dual simplex (within
1e-6 relative), the plan's feasibility in the LP's own rows and bounds, and the marginal hour
values against the objective's finite differences (unique where the LP is not degenerate at
that cell, so any optimal dual must equal them).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from scipy import sparse

import optim.models.capacity.solve as capacity_module
from optim.instances.capacity import CapacityInstance
from optim.instances.generators.capacity import generate
from optim.models.capacity import blockipm, from_instance
from optim.models.capacity.lp import build
from optim.models.capacity.solve import solve
from optim.params import SolveParams
from optim.solvers import highs
from optim.status import Status


def coupled(seed: int, **kw: object) -> CapacityInstance:
    args: dict = dict(n_periods=10, n_products=30, n_resources=5, n_segments=3, peak_factor=1.9)
    args.update(kw)
    return generate(seed=seed, **args)


def _check_against_highs(inst: CapacityInstance, *, breakdown: bool = False) -> None:
    """The block IPM's plan against HiGHS. With ``breakdown``, the IPM may instead stop
    "numerical" (never "optimal" with a wrong plan): then the capacity solve falls back to
    HiGHS (test_a_breakdown_near_the_optimum_falls_back_to_highs)."""
    model = build(from_instance(inst))
    lp = model.lp
    res = blockipm.solve(model)
    if breakdown and res.status == "numerical":
        return
    assert res.status == "optimal"
    for algorithm in ("ipm", "simplex"):
        raw = highs.solve(lp, SolveParams(solver_options={"solver": algorithm}))
        assert raw.status is Status.OPTIMAL and raw.objective is not None
        ref = raw.objective
        assert res.objective == pytest.approx(ref, rel=1e-6, abs=1e-6)
    assert res.dual_objective == pytest.approx(res.objective, rel=1e-6, abs=1e-6)
    # the plan is feasible in the LP's own terms (rows and bounds, 1e-6 scaled)
    a = sparse.csr_matrix((lp.data, lp.indices, lp.indptr), shape=(lp.num_rows, lp.num_cols))
    ax = a @ res.x
    scale = 1.0 + np.abs(np.where(np.isfinite(lp.row_upper), lp.row_upper, 0.0))
    assert np.all(ax - lp.row_upper <= 1e-6 * scale)
    assert np.all(lp.row_lower - ax <= 1e-6 * scale)
    assert np.all(res.x >= lp.col_lower - 1e-9)
    assert np.all(res.x <= lp.col_upper + 1e-6 * (1.0 + np.abs(lp.col_upper)))


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_block_ipm_equals_highs(seed) -> None:
    _check_against_highs(coupled(seed))


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 10_000),
    products=st.integers(3, 25),
    resources=st.integers(1, 6),
    periods=st.integers(2, 12),
    peak=st.floats(1.0, 2.5),
    density=st.sampled_from([0.5, 1.0]),
    routings=st.booleans(),
)
@example(seed=2284, products=3, resources=2, periods=6, peak=1.0, density=0.5, routings=False)
def test_block_ipm_equals_highs_on_random_instances(
    seed, products, resources, periods, peak, density, routings
) -> None:
    _check_against_highs(
        coupled(
            seed,
            n_products=products,
            n_resources=resources,
            n_periods=periods,
            peak_factor=peak,
            demand_density=density,
            routings=routings,
        ),
        breakdown=True,
    )


BREAKDOWN = {
    "n_products": 4,
    "n_resources": 3,
    "n_periods": 9,
    "peak_factor": 1.0,
    "demand_density": 0.5,
}
"""A case hypothesis found (outside the CI profile) where the IPM breaks down near the
optimum: at iteration 8 the iterate is feasible to 1e-15 with a gap of 2.5e-7, then the
Schur complement of the capacity rows loses its accuracy to cancellation (Θ spans 1e-12 to
1e11) and the next steps lose primal feasibility; no other of 60 random instances did."""


def test_an_iterate_that_overflows_stops_numerical_and_the_solve_falls_back(
    monkeypatch, recwarn
) -> None:
    """Seed 2284 (found by a random run): the iterate lost feasibility after 10 iterations,
    overflowed and ran on as NaN to the 150-iteration limit, printing numpy's overflow
    warnings ("iteration_limit"). It stops "numerical" at once, silently, and the capacity
    solve answers through HiGHS."""
    inst = coupled(
        2284, n_products=3, n_resources=2, n_periods=6, peak_factor=1.0, demand_density=0.5
    )
    res = blockipm.solve(build(from_instance(inst)))
    assert res.status == "numerical" and res.iterations < 30
    assert not [w for w in recwarn if issubclass(w.category, RuntimeWarning)]
    got = _solved_as_by_simplex(monkeypatch, inst)
    assert "(IPX)" in got.info["lp_algorithm"]  # the stage it broke down on: HiGHS


def _solved_as_by_simplex(monkeypatch, inst: CapacityInstance) -> Any:
    """The capacity solve, made to take the block interior point, answers ``inst`` optimally
    with the dual simplex's objective; returns its result."""
    monkeypatch.setattr(capacity_module, "BLOCK_IPM_PRODUCTS", 1)
    monkeypatch.setattr(capacity_module, "BLOCK_IPM_CAPACITY_ROWS", 1)
    monkeypatch.setattr(capacity_module, "LARGE_LP", 1)
    got = solve(inst)
    ref = solve(inst, SolveParams(solver_options={"solver": "simplex"}))
    assert got.status is Status.OPTIMAL
    assert got.objective == pytest.approx(ref.objective, rel=1e-6)
    return got


def test_a_breakdown_near_the_optimum_falls_back_to_highs(monkeypatch) -> None:
    inst = coupled(31, **BREAKDOWN)
    res = blockipm.solve(build(from_instance(inst)))
    assert res.status in ("optimal", "numerical")  # stated, never a wrong "optimal"
    got = _solved_as_by_simplex(monkeypatch, inst)
    if res.status == "numerical":
        assert "block" not in got.info["lp_algorithm"] and "ipm_gap" not in got.info


def test_structure_is_checked() -> None:
    assert blockipm.structured(build(from_instance(coupled(1))))
    assert not blockipm.structured(build(from_instance(coupled(1, fill_floors=True))))
    assert not blockipm.structured(build(from_instance(coupled(1, lot_sizing=True))))


def test_solve_uses_it_above_the_rule_and_duals_match_finite_differences(
    monkeypatch, marginal_check
) -> None:
    inst = coupled(4)
    exact = SolveParams(solver_options={"solver": "simplex"})
    simplex = solve(inst, exact)
    monkeypatch.setattr(capacity_module, "BLOCK_IPM_PRODUCTS", 10)
    monkeypatch.setattr(capacity_module, "BLOCK_IPM_CAPACITY_ROWS", 50)
    monkeypatch.setattr(capacity_module, "LARGE_LP", 500)  # as large coupled LPs are
    base = solve(inst, SolveParams(method="monolithic"))
    assert base.info["num_cols"] >= 500
    assert base.info["lp_algorithm"] == "block-angular interior point (no crossover)"
    assert base.status is Status.OPTIMAL
    assert base.info["ipm_gap"] <= 1e-8
    assert base.objective == pytest.approx(simplex.objective, rel=1e-6)
    assert "block interior point" in base.message
    # below the rule, or with an explicit HiGHS algorithm, HiGHS solves it
    assert solve(inst, exact).info["lp_algorithm"] == "dual simplex"
    monkeypatch.setattr(capacity_module, "BLOCK_IPM_PRODUCTS", 31)
    assert "block" not in solve(inst, SolveParams(method="monolithic")).info["lp_algorithm"]
    monkeypatch.setattr(capacity_module, "BLOCK_IPM_PRODUCTS", 10)
    monkeypatch.setattr(capacity_module, "BLOCK_IPM_CAPACITY_ROWS", 51)
    assert "block" not in solve(inst, SolveParams(method="monolithic")).info["lp_algorithm"]
    # the capacity duals equal -(d cost / d capacity) wherever that derivative exists
    marginal_check(inst, base, simplex.objective, lambda i: solve(i, exact).objective)


def test_no_convergence_falls_back_to_highs_and_a_time_limit_gives_no_plan(monkeypatch) -> None:
    inst = coupled(2)
    ref = solve(inst, SolveParams(solver_options={"solver": "simplex"}))
    monkeypatch.setattr(capacity_module, "BLOCK_IPM_PRODUCTS", 10)
    monkeypatch.setattr(capacity_module, "BLOCK_IPM_CAPACITY_ROWS", 50)
    real = blockipm.solve
    monkeypatch.setattr(blockipm, "solve", lambda model, **kw: real(model, max_iter=1))
    res = solve(inst, SolveParams(method="monolithic"))
    assert "block" not in res.info["lp_algorithm"] and "ipm_gap" not in res.info
    assert res.status is Status.OPTIMAL
    assert res.objective == pytest.approx(ref.objective, rel=1e-6)
    monkeypatch.setattr(blockipm, "solve", lambda model, **kw: real(model, time_limit=0.0))
    res = solve(inst, SolveParams(method="monolithic"))
    assert res.status is Status.TIME_LIMIT and res.objective is None
    assert "interior iterate is not a feasible plan" in res.message
