"""Lagrangian relaxation of the non-forest arcs: a valid bound (brute force), the pair LP's
value at best, feasible incumbents; the tree DP's penalty terms are exact."""

from __future__ import annotations

import random

import numpy as np
import pytest
from _gsm_testlib import brute_force, random_network

from optim.models.safety_stock import (
    build_assignment_mip,
    is_feasible,
    normalize,
    prepare,
    spanning_forests,
    tree_dp,
)
from optim.models.safety_stock.dp import penalty_offsets
from optim.models.safety_stock.lagrange import _Dual, lagrangian_bound
from optim.params import SolveParams
from optim.solvers import highs


def _start(data):  # every stage stocks: always feasible
    return normalize(data, np.zeros(data.n, dtype=np.int64))


@pytest.mark.parametrize("seed", range(12))
def test_lagrangian_bound_is_below_the_brute_force_optimum(seed: int) -> None:
    """L(lambda) <= optimum for random multipliers and for the ascent's best; the incumbent
    is feasible and not below the optimum."""
    rng = random.Random(3100 + seed)
    inst = random_network(rng, rng.randint(3, 6), extra_arcs=rng.randint(1, 4), max_lead=5)
    data = prepare(inst)
    opt = brute_force(inst)
    forest = spanning_forests(data)[0]
    dual = _Dual(data, forest)
    gen = np.random.default_rng(seed)
    for _ in range(5):
        lam = gen.exponential(float(data.unit_cost.max()), dual.size) * gen.random(dual.size)
        assert tree_dp(data, forest, penalty=dual.penalty(lam)).cost <= opt + 1e-9
    res = lagrangian_bound(data, forest, _start(data))
    assert res.bound <= opt + 1e-9
    assert res.bound >= tree_dp(data, forest).cost - 1e-9  # never below lambda = 0
    assert is_feasible(data, res.best) and res.best.cost >= opt - 1e-9


@pytest.mark.parametrize("seed", range(6))
def test_lagrangian_bound_never_exceeds_the_pair_lp(seed: int) -> None:
    """Its supremum is the pair LP's value, so every L(lambda) is at most that LP value."""
    rng = random.Random(3300 + seed)
    inst = random_network(rng, rng.randint(5, 9), extra_arcs=rng.randint(2, 6), max_lead=5)
    data = prepare(inst)
    lp = build_assignment_mip(data, integer=False)
    raw = highs.solve(lp.lp, SolveParams())
    assert raw.objective is not None
    res = lagrangian_bound(data, spanning_forests(data)[0], _start(data), max_iter=300)
    assert res.bound <= raw.objective + 1e-7 * max(1.0, raw.objective)


@pytest.mark.parametrize("seed", range(6))
def test_penalty_terms_are_added_exactly(seed: int) -> None:
    """The DP with penalties = brute force over (S, SI) of cost + penalty on a small tree."""
    import itertools

    rng = random.Random(3500 + seed)
    inst = random_network(rng, rng.randint(2, 4), max_lead=3)
    data = prepare(inst)
    ps, pi = penalty_offsets(data)
    gen = np.random.default_rng(seed)
    pen_s, pen_si = gen.normal(0, 2, int(ps[-1])), gen.normal(0, 2, int(pi[-1]))
    got = tree_dp(data, penalty=(pen_s, pen_si))
    best = np.inf
    ranges = [range(int(data.s_max[j]) + 1) for j in range(data.n)] + [
        range(int(data.external[j]), int(data.si_max[j]) + 1) for j in range(data.n)
    ]
    for pt in itertools.product(*ranges):
        s, si = np.array(pt[: data.n]), np.array(pt[data.n :])
        tau = si + data.lead_time - s
        if (tau < 0).any() or (s[data.source] > si[data.target]).any():
            continue
        val = sum(float(data.stage_cost(j, tau[j])) for j in range(data.n))
        val += float(pen_s[ps[:-1] + s].sum() + pen_si[pi[:-1] + si].sum())
        best = min(best, val)
    assert abs(got.cost - best) <= 1e-9 * max(1.0, abs(best))
    s, si = got.outbound, got.inbound
    again = sum(float(data.stage_cost(j, si[j] + data.lead_time[j] - s[j])) for j in range(data.n))
    again += float(pen_s[ps[:-1] + s].sum() + pen_si[pi[:-1] + si].sum())
    assert abs(again - got.cost) <= 1e-9 * max(1.0, abs(best))


@pytest.mark.parametrize("seed", range(16))
def test_branch_and_bound_reaches_the_brute_force_optimum(seed: int) -> None:
    """From a deliberately weak root (the forest bound, lambda = 0) and 2 subgradient steps per
    node, the branch and bound closes the gap: no open node left, incumbent = brute-force
    optimum, bound = its cost (test_branch_and_bound_branches shows these cases branch)."""
    from optim.models.safety_stock.lagrange import branch_and_bound

    rng = random.Random(3700 + seed)
    inst = random_network(rng, rng.randint(4, 7), extra_arcs=rng.randint(2, 5), max_lead=5)
    data = prepare(inst)
    opt = brute_force(inst)
    forest = spanning_forests(data)[0]
    root = lagrangian_bound(data, forest, _start(data), max_iter=1)
    res = branch_and_bound(data, forest, root, tol=1e-12, node_iter=2)
    assert res.open_nodes == 0
    assert is_feasible(data, res.best)
    assert abs(res.best.cost - opt) <= 1e-9 * max(1.0, opt)
    assert res.bound <= opt + 1e-9 * max(1.0, opt)
    assert abs(res.bound - opt) <= 1e-9 * max(1.0, opt)


def test_branch_and_bound_branches() -> None:
    """The instances above are not all settled at the root: half of them split nodes."""
    from optim.models.safety_stock.lagrange import branch_and_bound

    nodes = []
    for seed in range(16):
        rng = random.Random(3700 + seed)
        inst = random_network(rng, rng.randint(4, 7), extra_arcs=rng.randint(2, 5), max_lead=5)
        data = prepare(inst)
        forest = spanning_forests(data)[0]
        root = lagrangian_bound(data, forest, _start(data), max_iter=1)
        nodes.append(branch_and_bound(data, forest, root, tol=1e-12, node_iter=2).nodes)
    assert sum(n > 0 for n in nodes) >= 6, nodes


def test_branch_and_bound_memory_cap_stops_with_a_valid_bound(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With room for one node only, the search stops early: open nodes left, the bound their
    least one (still <= the brute-force optimum), the incumbent feasible."""
    import optim.models.safety_stock.lagrange as lg

    monkeypatch.setattr(lg, "NODE_MEMORY", 1)
    for seed in range(16):  # the first instance of the branching test that branches
        rng = random.Random(3700 + seed)
        inst = random_network(rng, rng.randint(4, 7), extra_arcs=rng.randint(2, 5), max_lead=5)
        data = prepare(inst)
        forest = spanning_forests(data)[0]
        root = lagrangian_bound(data, forest, _start(data), max_iter=1)
        res = lg.branch_and_bound(data, forest, root, tol=1e-12, node_iter=2)
        if res.open_nodes:
            break
    assert res.nodes == 1 and res.open_nodes > 0
    opt = brute_force(inst)
    assert res.bound <= opt + 1e-9 * max(1.0, opt)
    assert is_feasible(data, res.best) and res.best.cost >= opt - 1e-9
