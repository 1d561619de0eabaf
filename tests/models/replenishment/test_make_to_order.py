"""Make-to-order promises: the path's replenishment-time law against brute-force enumeration,
the promise against the brute-force quantile, the simulation against the target."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm

from optim.models.replenishment.make_to_order import (
    law,
    normal_days,
    path_time_laws,
    promise_days,
    simulate_promise,
)

TREE = (["P", "D1", "D2", "R1", "R2", "R3"], [("P", "D1"), ("P", "D2"), ("D1", "R1"),
        ("D1", "R2"), ("D2", "R3")])  # fmt: skip
ASSEMBLY = (["A", "B", "M", "R"], [("A", "M"), ("B", "M"), ("M", "R")])
DIAMOND = (["P", "X", "Y", "R"], [("P", "X"), ("P", "Y"), ("X", "R"), ("Y", "R")])


def _brute(ids, arcs, lead, external):
    """Every combination of the stages' lead-time values with its probability: the exact
    law of each stage's replenishment time by enumeration (dependence included)."""
    parents = {s: [a for a, b in arcs if b == s] for s in ids}
    out = {s: {} for s in ids}
    for combo in itertools.product(*(range(lead[s][0].size) for s in ids)):
        p = math.prod(float(lead[s][1][k]) for s, k in zip(ids, combo, strict=True))
        value = dict(zip(ids, combo, strict=True))
        time: dict[str, float] = {}
        for s in ids:  # ids are listed suppliers first
            up = max((time[q] for q in parents[s]), default=external.get(s, 0.0))
            time[s] = up + float(lead[s][0][value[s]])
            out[s][time[s]] = out[s].get(time[s], 0.0) + p
    return out


def _brute_quantile(dist: dict[float, float], level: float) -> int:
    total = 0.0
    for v in sorted(dist):
        total += dist[v]
        if total >= level - 1e-12:
            return math.ceil(v - 1e-9)
    raise AssertionError


@st.composite
def _laws(draw, ids):
    out = {}
    for s in ids:
        n = draw(st.integers(1, 3))
        values = draw(st.lists(st.integers(0, 30), min_size=n, max_size=n, unique=True))
        weights = draw(st.lists(st.integers(1, 9), min_size=n, max_size=n))
        out[s] = law(values, weights)
    return out


@pytest.mark.parametrize("network", [TREE, ASSEMBLY], ids=["distribution", "assembly"])
@settings(max_examples=25, deadline=None)
@given(data=st.data(), level=st.sampled_from([0.5, 0.85, 0.9, 0.95, 0.985, 0.99, 1.0]))
def test_tree_promise_is_the_brute_force_quantile(network, data, level):
    ids, arcs = network
    lead = data.draw(_laws(ids))
    external = {ids[0]: 7.0}
    laws = path_time_laws(ids, arcs, lead, external)
    brute = _brute(ids, arcs, lead, external)
    for s in ids:
        values, probs = laws[s]
        want = sorted(brute[s].items())
        np.testing.assert_allclose(values, [v for v, _ in want])
        np.testing.assert_allclose(probs, [p for _, p in want], atol=1e-12)
        assert promise_days(laws[s], level) == _brute_quantile(brute[s], level)


@settings(max_examples=25, deadline=None)
@given(data=st.data(), level=st.sampled_from([0.5, 0.9, 0.95, 0.99]))
def test_reconverging_paths_never_promise_less_than_the_exact_quantile(data, level):
    ids, arcs = DIAMOND
    lead = data.draw(_laws(ids))
    laws = path_time_laws(ids, arcs, lead)
    exact = _brute(ids, arcs, lead, {})["R"]
    assert promise_days(laws["R"], level) >= _brute_quantile(exact, level)


@pytest.mark.parametrize("network", [TREE, DIAMOND], ids=["tree", "diamond"])
def test_simulated_share_within_the_promise_meets_the_target(network):
    ids, arcs = network
    rng = np.random.default_rng(5)
    lead = {s: law(rng.integers(1, 20, size=4), rng.integers(1, 6, size=4)) for s in ids}
    laws = path_time_laws(ids, arcs, lead, {ids[0]: 3.0})
    brute = _brute(ids, arcs, lead, {ids[0]: 3.0})
    for level in (0.8, 0.95):
        promise = {s: promise_days(laws[s], level) for s in ids}
        sim = simulate_promise(
            ids, arcs, lead, promise, external={ids[0]: 3.0}, orders=20_000, seed=1
        )
        for s in ids:
            share, se = sim[s]
            exact = sum(p for v, p in brute[s].items() if v <= promise[s] + 1e-9)
            assert exact >= level  # the promise holds exactly (re-converging paths too)
            assert abs(share - exact) <= 4 * max(se, 1e-4)  # the simulation measures it
            assert share >= level - 3 * se


def test_normal_lead_time_rounds_up_to_whole_days():
    values, probs = normal_days(10.0, 2.0)
    cdf = np.cumsum(probs)
    assert cdf[-1] == pytest.approx(1.0)
    k = values <= 16
    np.testing.assert_allclose(cdf[k], norm.cdf((values[k] - 10.0) / 2.0), atol=1e-12)
    values, probs = normal_days(6.5, 0.0)
    assert values.tolist() == [7.0] and probs.tolist() == [1.0]
