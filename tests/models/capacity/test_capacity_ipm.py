"""The interior-point path for large LPs (IPX + crossover) against the dual simplex, on
mid-size coupled instances (every product draws on shared resources: one block).

``LARGE_LP`` is lowered so that CI-sized instances take the path that the 52-week,
2,000-product instances take; the answers must be those of the simplex: cost within 1e-6
relative, and the marginal hour values (capacity-row duals) equal to the objective's finite
differences wherever the LP is not degenerate there.
"""

from __future__ import annotations

import pytest

import optim.models.capacity.solve as capacity_module
from optim.instances.capacity import CapacityInstance
from optim.instances.generators.capacity import generate
from optim.models.capacity.solve import solve
from optim.params import SolveParams
from optim.status import Status


def coupled(seed: int) -> CapacityInstance:
    return generate(
        n_periods=10, n_products=30, n_resources=5, n_segments=3, seed=seed, peak_factor=1.9
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_interior_point_path_equals_simplex(seed, monkeypatch) -> None:
    monkeypatch.setattr(capacity_module, "LARGE_LP", 500)
    inst = coupled(seed)
    ipm = solve(inst, SolveParams(method="monolithic"))
    simplex = solve(inst, SolveParams(solver_options={"solver": "simplex"}))
    assert ipm.info["lp_algorithm"] == "interior point (IPX) + crossover"
    assert simplex.info["lp_algorithm"] == "dual simplex"
    assert ipm.info["num_cols"] >= 500 and ipm.info.get("blocks", 1) == 1
    assert ipm.status is Status.OPTIMAL and simplex.status is Status.OPTIMAL
    assert ipm.objective == pytest.approx(simplex.objective, rel=1e-6)
    assert ipm.info["solver_objective"] == pytest.approx(simplex.objective, rel=1e-6)


def test_interior_point_duals_by_finite_differences(monkeypatch, marginal_check) -> None:
    # the crossover returns a vertex, so the duals are basic (as the simplex's): each
    # non-degenerate cell's marginal value equals -(d objective / d capacity)
    monkeypatch.setattr(capacity_module, "LARGE_LP", 500)
    inst = coupled(4)
    base = solve(inst)
    assert base.info["lp_algorithm"] == "interior point (IPX) + crossover"
    marginal_check(inst, base, base.objective, lambda i: solve(i).objective)
