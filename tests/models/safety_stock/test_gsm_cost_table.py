"""A stage cost table (safety stock per tau) drives every exact GSM solver the same way."""

from __future__ import annotations

import itertools
import random
from dataclasses import replace

import numpy as np
import pytest
from _gsm_testlib import random_network

from optim.clock import Clock
from optim.models.safety_stock import normalize, prepare, tree_dp
from optim.models.safety_stock.data import GSMData
from optim.models.safety_stock.solve import _solve_assignment
from optim.params import SolveParams


def _brute(data: GSMData) -> float:
    ranges = [range(int(m) + 1) for m in data.s_max]
    return min(normalize(data, list(s)).cost for s in itertools.product(*ranges))


def _random_tables(data: GSMData, rng: np.random.Generator) -> list[np.ndarray]:
    # arbitrary non-decreasing, non-concave stock per tau (critical levels and discrete demand
    # give step-shaped tables); zero at tau = 0 is not assumed either
    return [
        np.cumsum(rng.uniform(0, 5, int(t) + 1) * rng.integers(0, 2, int(t) + 1))
        for t in data.tau_max
    ]


@pytest.mark.parametrize("seed", range(6))
def test_sqrt_table_reproduces_the_square_root_model(seed: int) -> None:
    rng = random.Random(seed)
    data = prepare(random_network(rng, rng.randint(2, 12), max_lead=5))
    table = [data.k[j] * np.sqrt(np.arange(int(t) + 1)) for j, t in enumerate(data.tau_max)]
    tabled = data.with_table(table)
    plain, via = tree_dp(data), tree_dp(tabled)
    assert via.cost == pytest.approx(plain.cost, rel=1e-12, abs=1e-12)
    sol = normalize(tabled, via.outbound)
    ref = normalize(data, plain.outbound)
    assert np.allclose(sol.safety_stock, ref.safety_stock)


@pytest.mark.parametrize("seed", range(12))
def test_tree_dp_equals_brute_force_on_arbitrary_tables(seed: int) -> None:
    rng = random.Random(100 + seed)
    data = prepare(random_network(rng, rng.randint(2, 5), max_lead=3))
    data = data.with_table(_random_tables(data, np.random.default_rng(seed)))
    sol = normalize(data, tree_dp(data).outbound)
    assert sol.cost == pytest.approx(_brute(data), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("seed", range(8))
def test_assignment_mip_equals_brute_force_on_arbitrary_tables(seed: int) -> None:
    rng = random.Random(300 + seed)
    data = prepare(random_network(rng, rng.randint(3, 5), extra_arcs=rng.randint(1, 3)))
    data = data.with_table(_random_tables(data, np.random.default_rng(seed)))
    sol, status, bound, *_ = _solve_assignment(data, SolveParams(method="assignment"), Clock())
    assert status.value == "optimal" and bound <= sol.cost + 1e-9
    assert sol.cost == pytest.approx(_brute(data), rel=1e-9, abs=1e-9)


def test_table_of_wrong_length_is_refused() -> None:
    data = prepare(random_network(random.Random(1), 3, max_lead=2))
    with pytest.raises(ValueError, match="needs tau"):
        data.with_table([np.zeros(1)] * data.n)
    with pytest.raises(ValueError, match="decreases"):
        data.with_table([np.arange(int(t) + 1)[::-1].astype(float) for t in data.tau_max])
    assert replace(data).ss_table is None


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("tabled", [False, True])
def test_vectorised_table_cost_equals_the_per_stage_functions(seed: int, tabled: bool) -> None:
    """GSMData.table_cost (evaluate, the tree DP's cost rows) = safety_stock / stage_cost of
    each stage, element for element, negative tau (inf) and tau past the table included."""
    rng = random.Random(700 + seed)
    data = prepare(random_network(rng, rng.randint(2, 8), extra_arcs=2))
    if tabled:
        data = data.with_table(_random_tables(data, np.random.default_rng(seed)))
    gen = np.random.default_rng(seed)
    owner = gen.integers(0, data.n, 200)
    tau = gen.integers(-2, int(data.tau_max.max()) + 3, 200)
    ss, cost = data.table_cost(owner, tau)
    for q in range(owner.size):
        j, t = int(owner[q]), np.array(tau[q])
        assert ss[q] == float(data.safety_stock(j, t))
        assert cost[q] == float(data.stage_cost(j, t))
