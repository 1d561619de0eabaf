"""Tree DP: equal to stockpyl's optimum and to brute force; invariants of its solutions."""

from __future__ import annotations

import random

import numpy as np
import pytest
from _gsm_testlib import brute_force, from_stockpyl, random_network, random_stockpyl_tree
from hypothesis import given, settings
from hypothesis import strategies as st

from optim.models.safety_stock import is_feasible, prepare, solve_tree_dp, tree_dp

STOCKPYL_TREES = [
    "example_6_5",  # mixed tree (Snyder & Shen Example 6.5)
    "problem_6_9",  # assembly/distribution
    "figure_6_14",  # 10-stage assembly
    "example_6_3",  # serial, 3 stages
    "problem_6_7",  # serial, 3 stages
    "problem_6_8",  # serial, 10 stages
]


def _rel(a: float, b: float) -> float:
    return abs(a - b) / max(1.0, abs(b))


@pytest.mark.parametrize("name", STOCKPYL_TREES)
def test_equals_stockpyl_textbook_trees(name: str) -> None:
    from stockpyl.gsm_tree import optimize_committed_service_times
    from stockpyl.instances import load_instance

    tree = load_instance(name)
    _, expected = optimize_committed_service_times(tree)
    sol = solve_tree_dp(from_stockpyl(tree))
    assert _rel(sol.cost, expected) <= 1e-9


def test_example_6_5_service_times() -> None:
    """Snyder & Shen Example 6.5: optimal CSTs {1: 0, 3: 0, 2: 0, 4: 1}, cost 8.2779."""
    from stockpyl.instances import load_instance

    inst = from_stockpyl(load_instance("example_6_5"))
    sol = solve_tree_dp(inst)
    s = dict(zip(inst.stage_ids, sol.outbound.tolist(), strict=True))
    assert s == {"1": 0, "3": 0, "2": 0, "4": 1}


@pytest.mark.parametrize("seed", range(12))
def test_equals_stockpyl_random_trees(seed: int) -> None:
    from stockpyl.gsm_tree import optimize_committed_service_times

    rng = random.Random(seed)
    tree = random_stockpyl_tree(rng, rng.randint(2, 14))
    _, expected = optimize_committed_service_times(tree)
    sol = solve_tree_dp(from_stockpyl(tree))
    assert _rel(sol.cost, expected) <= 1e-9


@pytest.mark.parametrize("seed", range(40))
def test_equals_brute_force_tiny_trees(seed: int) -> None:
    rng = random.Random(1000 + seed)
    inst = random_network(rng, rng.randint(1, 5))
    sol = solve_tree_dp(inst)
    assert is_feasible(prepare(inst), sol)
    assert _rel(sol.cost, brute_force(inst)) <= 1e-9


def test_rejects_non_tree() -> None:
    inst = random_network(random.Random(3), 6, extra_arcs=3)
    assert not inst.is_spanning_tree()
    with pytest.raises(ValueError, match="spanning forest"):
        solve_tree_dp(inst)


def test_forest_is_sum_of_components() -> None:
    rng = random.Random(7)
    a = random_network(rng, 5, pooling="root_sum_square")
    b = random_network(rng, 4, pooling="root_sum_square")
    ren = {s.id: f"x{s.id}" for s in b.stages}
    merged = a.model_validate(
        {
            "stages": [s.model_dump() for s in a.stages]
            + [{**s.model_dump(), "id": ren[s.id]} for s in b.stages],
            "arcs": [x.model_dump() for x in a.arcs]
            + [
                {**x.model_dump(), "source": ren[x.source], "target": ren[x.target]}
                for x in b.arcs
            ],
            "demands": [d.model_dump() for d in a.demands]
            + [{**d.model_dump(), "stage": ren[d.stage]} for d in b.demands],
            "pooling": "root_sum_square",
        }
    )
    total = solve_tree_dp(a).cost + solve_tree_dp(b).cost
    assert _rel(solve_tree_dp(merged).cost, total) <= 1e-12


def test_bounds_restrict_the_dp() -> None:
    """With S fixed by bounds the DP returns exactly the cost of that point."""
    inst = random_network(random.Random(11), 6)
    data = prepare(inst)
    s = np.minimum(data.s_max, 1)
    res = tree_dp(data, s_lo=s, s_hi=s)
    assert np.array_equal(res.outbound, s)
    free = tree_dp(data)
    assert free.cost <= res.cost + 1e-12


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10**6), st.integers(2, 25))
def test_solution_invariants(seed: int, n: int) -> None:
    """Feasible, SI = max of supplier S, tau >= 0, promises met, SS >= 0, cost = sum."""
    inst = random_network(random.Random(seed), n)
    data = prepare(inst)
    sol = solve_tree_dp(data)
    assert is_feasible(data, sol)
    pos = {sid: j for j, sid in enumerate(inst.stage_ids)}
    for d in inst.demands:
        assert sol.outbound[pos[d.stage]] <= d.max_service_time
    assert np.all(sol.safety_stock >= 0)
    assert np.isclose(sol.cost, float((sol.stage_cost).sum()))
    # never worse than the two trivial policies: S = 0 everywhere (stock everywhere)
    from optim.models.safety_stock import normalize

    assert sol.cost <= normalize(data, np.zeros(data.n, dtype=np.int64)).cost + 1e-9


def test_compiled_kernels_load_from_the_disk_cache_in_a_new_process() -> None:
    """The tree DP's kernels are compiled once and then loaded from numba's disk cache: a
    second process solving a tree compiles nothing (kernels defined inside a function were
    compiled again in every process, seconds of every planning run)."""
    import json
    import subprocess
    import sys

    code = (
        "import json, optim\n"
        "from optim.instances.generators.gsm import distribution\n"
        "from optim.models.safety_stock import dp_kernels as k\n"
        "optim.solve(distribution(2, 3, seed=1))\n"
        "print(json.dumps({n: [sum(getattr(k, n).stats.cache_hits.values()),\n"
        "    sum(getattr(k, n).stats.cache_misses.values())] for n in k.__all__}))\n"
    )
    runs = [
        json.loads(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout.splitlines()[-1]
        )
        for _ in range(2)
    ]
    assert runs[1]["bottom_up"][0] >= 1 and runs[1]["top_down"][0] >= 1  # loaded, not compiled
    assert all(misses == 0 for _, misses in runs[1].values()), runs
