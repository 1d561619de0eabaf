"""MIP (adaptive and full), tree DP, brute force and the Pyomo reference agree."""

from __future__ import annotations

import random

import numpy as np
import pytest
from _gsm_testlib import brute_force, random_network

from optim.models.safety_stock import build_mip, default_breakpoints, prepare, tree_dp
from optim.models.safety_stock.solve import solve
from optim.params import SolveParams
from optim.solvers import highs
from optim.status import Status


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(1.0, abs(b))


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("method", ["mip", "assignment", "pwl", "pwl_full"])
def test_mip_equals_dp_on_trees(seed: int, method: str) -> None:
    rng = random.Random(seed)
    inst = random_network(rng, rng.randint(2, 30), max_lead=6)
    dp = solve(inst, SolveParams(method="dp"))
    mip = solve(inst, SolveParams(method=method))
    assert dp.status is Status.OPTIMAL and mip.status is Status.OPTIMAL
    assert _rel(mip.objective, dp.objective) <= 1e-9
    assert mip.bound is not None and _rel(mip.bound, mip.objective) <= 1e-6


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("method", ["mip", "pwl"])
def test_mip_equals_brute_force_on_tiny_dags(seed: int, method: str) -> None:
    rng = random.Random(500 + seed)
    inst = random_network(rng, rng.randint(2, 5), extra_arcs=rng.randint(1, 3))
    res = solve(inst, SolveParams(method=method))
    assert res.status is Status.OPTIMAL
    assert _rel(res.objective, brute_force(inst)) <= 1e-9


@pytest.mark.parametrize("seed", range(12))
def test_assignment_mip_without_lp_rounding(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """The branch-and-bound path of "assignment" (skipping the LP rounding) is exact too."""
    import optim.models.safety_stock.solve as oss

    monkeypatch.setattr(oss, "LP_ROUNDING", False)
    rng = random.Random(1500 + seed)
    inst = random_network(rng, rng.randint(3, 5), extra_arcs=rng.randint(1, 4))
    res = oss.solve(inst, SolveParams(method="assignment"))
    assert res.status is Status.OPTIMAL
    assert _rel(res.objective, brute_force(inst)) <= 1e-9


@pytest.mark.parametrize("seed", range(8))
def test_assignment_lp_is_exact_on_trees(seed: int) -> None:
    """LP relaxation of the pair assignment model = tree DP optimum (coupling argument)."""
    from dataclasses import replace

    from optim.models.safety_stock import build_assignment_mip

    rng = random.Random(2000 + seed)
    inst = random_network(rng, rng.randint(2, 25), max_lead=5)
    data = prepare(inst)
    lp = replace(build_assignment_mip(data).lp, integrality=None)
    raw = highs.solve(lp)
    assert raw.status is Status.OPTIMAL
    assert _rel(raw.objective, tree_dp(data).cost) <= 1e-7


@pytest.mark.parametrize("seed", range(8))
def test_assignment_lp_bounds_and_roundings(seed: int) -> None:
    """On DAGs: LP value >= every spanning-forest bound, <= optimum; roundings feasible."""
    from dataclasses import replace

    from optim.models.safety_stock import (
        build_assignment_mip,
        is_feasible,
        normalize,
        spanning_forests,
        threshold_roundings,
    )

    rng = random.Random(2100 + seed)
    inst = random_network(rng, rng.randint(3, 5), extra_arcs=rng.randint(2, 4))
    data = prepare(inst)
    mip = build_assignment_mip(data)
    raw = highs.solve(replace(mip.lp, integrality=None))
    opt = brute_force(inst)
    assert raw.objective <= opt + 1e-7
    for forest in spanning_forests(data):
        assert tree_dp(data, forest).cost <= raw.objective + 1e-7
    for s in threshold_roundings(mip, raw.x):
        sol = normalize(data, s)
        assert is_feasible(data, sol)
        assert sol.cost >= opt - 1e-9


@pytest.mark.parametrize("seed", range(6))
def test_raw_full_mip_equals_brute_force(seed: int) -> None:
    """The bare LinearProgram of build_mip (all integer breakpoints) is exact on its own."""
    rng = random.Random(900 + seed)
    inst = random_network(rng, rng.randint(2, 5), extra_arcs=2)
    data = prepare(inst)
    raw = highs.solve(build_mip(data).lp, SolveParams(mip_gap=1e-10))
    assert raw.status is Status.OPTIMAL
    assert _rel(raw.objective, brute_force(inst)) <= 1e-7


def test_coarse_breakpoints_give_lower_bound() -> None:
    """Chords of a concave cost under-estimate it: fewer breakpoints, lower MIP optimum."""
    rng = random.Random(42)
    inst = random_network(rng, 12, extra_arcs=6, max_lead=5)
    data = prepare(inst)
    full = highs.solve(build_mip(data).lp, SolveParams(mip_gap=1e-10)).objective
    coarse_bps = [np.array([0, int(L)]) for L in data.tau_max]
    coarse = highs.solve(build_mip(data, coarse_bps).lp, SolveParams(mip_gap=1e-10)).objective
    assert coarse <= full + 1e-9
    assert len(default_breakpoints(data)) == data.n


@pytest.mark.parametrize("seed", range(4))
def test_relaxation_is_a_lower_bound(seed: int) -> None:
    from optim.models.safety_stock import spanning_forests

    rng = random.Random(70 + seed)
    inst = random_network(rng, rng.randint(3, 5), extra_arcs=3)
    data = prepare(inst)
    opt = brute_force(inst)
    for forest in spanning_forests(data):
        assert tree_dp(data, forest).cost <= opt + 1e-9


@pytest.mark.parametrize("seed", range(6))
def test_pyomo_reference_equals_highs(seed: int) -> None:
    rng = random.Random(300 + seed)
    inst = random_network(rng, rng.randint(3, 8), extra_arcs=rng.randint(0, 4), max_lead=3)
    fast = solve(inst, SolveParams(method="mip"))
    ref = solve(inst, SolveParams(solver="pyomo", mip_gap=1e-9))
    assert ref.status is Status.OPTIMAL and fast.status is Status.OPTIMAL
    assert ref.solver == "pyomo-highs"
    assert _rel(ref.objective, fast.objective) <= 1e-7


def test_general_dag_auto_uses_mip() -> None:
    inst = random_network(random.Random(5), 10, extra_arcs=5)
    res = solve(inst)
    assert res.info["method"] == "assignment"
    assert res.status is Status.OPTIMAL
    assert res.gap is not None and res.gap <= 1e-6


@pytest.mark.parametrize("seed", range(10))
def test_column_generation_path(seed: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past PAIR_LIMIT the LP is solved by column generation; still exact with a proof."""
    import optim.models.safety_stock.solve as oss

    monkeypatch.setattr(oss, "PAIR_LIMIT", 0)
    monkeypatch.setattr(oss, "CG_PAIRS_PER_STAGE", 2)
    rng = random.Random(3000 + seed)
    inst = random_network(rng, rng.randint(3, 5), extra_arcs=rng.randint(1, 4), max_lead=4)
    res = oss.solve(inst, SolveParams(method="assignment"))
    assert res.status is Status.OPTIMAL
    assert _rel(res.objective, brute_force(inst)) <= 1e-9


@pytest.mark.parametrize("seed", range(5))
def test_column_generation_reaches_full_lp(seed: int) -> None:
    """Pricing with the LP duals: bound <= full LP <= restricted value, equal at the end."""
    from dataclasses import replace

    from optim.models.safety_stock import (
        build_assignment_mip,
        initial_pairs,
        merge_pairs,
        normalize,
        price_pairs,
    )

    rng = random.Random(3100 + seed)
    inst = random_network(rng, rng.randint(5, 12), extra_arcs=rng.randint(2, 6), max_lead=5)
    data = prepare(inst)
    full = highs.solve(replace(build_assignment_mip(data).lp, integrality=None)).objective
    zero = normalize(data, np.zeros(data.n, dtype=np.int64))
    pairs = initial_pairs(data, [(zero.outbound, zero.inbound)])
    for _ in range(200):
        master = build_assignment_mip(data, pairs, integer=False)
        raw = highs.solve(master.lp, want_duals=True)
        low, add, count = price_pairs(data, master, raw.row_dual, per_stage=3)
        assert raw.objective + low <= full + 1e-7 <= raw.objective + 2e-7
        if count == 0:
            break
        pairs = merge_pairs(pairs, add)
    assert _rel(raw.objective, full) <= 1e-7


@pytest.mark.parametrize("seed", range(10))
def test_forest_local_search_stays_feasible_never_worse_and_above_the_optimum(seed: int) -> None:
    """improve_by_forests: every step is a feasible point of the whole network, the cost
    never rises, and it cannot beat the brute-force optimum."""
    from optim.models.safety_stock import is_feasible, normalize, spanning_forests
    from optim.models.safety_stock.relax import improve_by_forests

    rng = random.Random(900 + seed)
    inst = random_network(rng, rng.randint(4, 6), extra_arcs=rng.randint(2, 4), max_lead=4)
    data = prepare(inst)
    start = normalize(data, np.zeros(data.n, dtype=np.int64))  # every stage stocks
    best, calls = improve_by_forests(data, start, spanning_forests(data), seed=seed)
    assert calls >= 2 and is_feasible(data, best)
    assert best.cost <= start.cost + 1e-12
    assert best.cost >= brute_force(inst) - 1e-9
