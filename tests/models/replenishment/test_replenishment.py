"""Replenishment parameters: exact reorder point, EOQ, and the periodic-review simulator."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import gamma

from optim.models.replenishment import eoq, reorder_point, simulate_periodic, window_quantile


def test_eoq_is_the_closed_form_and_the_brute_force_minimum():
    q = eoq(12.0, 50.0, 0.3)
    assert q == pytest.approx(np.sqrt(2 * 50 * 12 / 0.3))
    grid = np.linspace(1, 400, 399_001)
    cost = 50 * 12 / grid + 0.3 * grid / 2
    assert grid[cost.argmin()] == pytest.approx(q, abs=1e-3)
    assert np.isnan(eoq(12.0, 0.0, 0.3)) and np.isnan(eoq(12.0, 50.0, float("nan")))
    assert eoq(0.0, 50.0, 0.3) == 0.0


def test_window_sum_is_gamma_with_w_times_the_shape():
    # the sum of W i.i.d. gamma periods (mean 4, sd 6) against its closed-form quantile
    rng = np.random.default_rng(1)
    k, theta, w = 4.0**2 / 6.0**2, 6.0**2 / 4.0, 5
    sums = rng.gamma(k, theta, size=(200_000, w)).sum(axis=1)
    q = window_quantile(4.0, 6.0, w, 0.9)
    assert np.mean(sums <= q) == pytest.approx(0.9, abs=0.003)
    assert q == pytest.approx(gamma.ppf(0.9, w * k, scale=theta))
    assert window_quantile(4.0, 0.0, 3, 0.99) == 12.0  # no variability: W mu
    assert window_quantile(4.0, 2.0, 0, 0.99) == 0.0  # nothing to cover
    assert window_quantile(0.0, 2.0, 3, 0.99) == 0.0  # no demand


@pytest.mark.parametrize(
    ("mean", "std", "window", "level"),
    [(3.0, 2.0, 4, 0.95), (0.4, 1.1, 3, 0.875), (20.0, 5.0, 1, 0.985)],
)
def test_reorder_point_is_the_smallest_whole_unit_meeting_the_target(mean, std, window, level):
    # brute force over whole units: s meets the target, s - 1 does not
    k, theta = mean**2 / std**2, std**2 / mean
    s = float(reorder_point(mean, std, window, level))
    cdf = lambda x: gamma.cdf(x, window * k, scale=theta)  # noqa: E731
    first = next(u for u in range(10_000) if cdf(u) >= level)
    assert s == first
    assert cdf(s) >= level > cdf(s - 1)


@settings(max_examples=12, deadline=None)
@given(
    mean=st.floats(0.2, 50.0),
    cv=st.floats(0.2, 3.0),
    lead=st.integers(0, 4),
    review=st.integers(1, 4),
    level=st.sampled_from([0.85, 0.875, 0.935, 0.95, 0.985]),
    q_periods=st.floats(0.0, 6.0),
    seed=st.integers(0, 1000),
)
def test_s_S_parameters_meet_the_target_in_simulation(
    mean, cv, lead, review, level, q_periods, seed
):
    """(R, s, S) with s from :func:`reorder_point` over W = L + R - 1 and any S >= s: the
    simulated cycle service is at least the target (the bound is exact, so only Monte Carlo
    noise may go below: 4 standard errors)."""
    std = cv * mean
    s = reorder_point(mean, std, lead + review - 1, level)
    S = s + q_periods * mean
    sim = simulate_periodic(mean, std, lead, review, s, S, periods=3000, replications=4, seed=seed)
    tol = 4 * max(float(sim.cycle_service_se[0]), np.sqrt(level * (1 - level) / sim.cycles[0] / 4))
    assert sim.cycle_service[0] >= level - tol, (sim, s, S)


def test_base_stock_cycle_service_equals_the_target_when_it_is_exact():
    # base stock (s = S, R = 1): every cycle starts at S, so cycle service = P(D(L) <= S)
    mean, std, lead, level = 5.0, 3.0, 3, 0.9
    S = window_quantile(mean, std, lead, level)
    sim = simulate_periodic(mean, std, lead, 1, S, S, periods=20_000, replications=4, seed=3)
    assert sim.cycle_service[0] == pytest.approx(level, abs=4 * sim.cycle_service_se[0] + 0.002)
    # one unit short of the quantile misses it
    low = simulate_periodic(
        mean, std, lead, 1, S - 3, S - 3, periods=20_000, replications=4, seed=3
    )
    assert low.cycle_service[0] < level - 0.01


def test_simulation_is_seeded_and_vectorised_rows_match_single_runs():
    args = dict(periods=500, replications=2, seed=7)
    a = simulate_periodic([5.0, 1.0], [2.0, 2.0], [2, 1], [1, 2], [14.0, 6.0], [30.0, 9.0], **args)
    b = simulate_periodic([5.0, 1.0], [2.0, 2.0], [2, 1], [1, 2], [14.0, 6.0], [30.0, 9.0], **args)
    np.testing.assert_array_equal(a.fill_rate, b.fill_rate)
    # deterministic demand, L = 2, R = 1, s = 2 mu, S = 2 mu: never short, one order a period
    d = simulate_periodic(5.0, 0.0, 2, 1, 10.0, 10.0, periods=100, replications=2)
    assert d.fill_rate[0] == 1.0 and d.cycle_service[0] == 1.0
    assert d.orders_per_period[0] == 1.0 and d.on_hand[0] == pytest.approx(0.0)
    with pytest.raises(ValueError):
        simulate_periodic(1.0, 1.0, 1, 0, 1.0, 2.0)


@settings(max_examples=40, deadline=None)
@given(
    mean=st.floats(0.5, 50),
    cv=st.floats(0.1, 3),
    review=st.integers(1, 4),
    leads=st.lists(st.integers(0, 6), min_size=2, max_size=4, unique=True),
    level=st.floats(0.5, 0.995),
)
def test_random_lead_reorder_point_is_the_smallest_whole_unit_of_the_mixture(
    mean, cv, review, leads, level
):
    from optim.models.replenishment.policy import random_lead_reorder_point

    probs = np.arange(1, len(leads) + 1, dtype=float)
    dist = dict(zip(leads, probs / probs.sum(), strict=True))
    std = cv * mean
    s = random_lead_reorder_point(mean, std, review, dist, level)

    def cdf(x):
        total = 0.0
        for lead, p in dist.items():
            w = lead + review - 1
            k, theta = w * mean**2 / std**2, std**2 / mean
            total += p * (gamma.cdf(x, k, scale=theta) if w > 0 else float(x >= 0))
        return total

    assert s == int(s) and s >= 0
    assert cdf(s) >= level - 1e-12
    assert s == 0 or cdf(s - 1) < level


def test_drawn_lead_times_leave_fixed_rows_unchanged_and_cover_the_mixture():
    """Rows without a distribution draw the same numbers as before; a row whose lead time is
    0 or 4 periods (mean 2) needs more stock than the fixed mean lead time: the fixed
    level misses in the drawn simulation, the mixture's reorder point meets the target."""
    from optim.models.replenishment.policy import random_lead_reorder_point

    args = dict(periods=3000, replications=4, seed=3)
    a = simulate_periodic([5.0, 8.0], [4.0, 6.0], [2, 1], [1, 2], [20, 30], [20, 45], **args)
    b = simulate_periodic(
        [5.0, 8.0], [4.0, 6.0], [2, 1], [1, 2], [20, 30], [20, 45],
        lead_distribution=[None, None], **args,
    )  # fmt: skip
    np.testing.assert_array_equal(a.cycle_service, b.cycle_service)
    np.testing.assert_array_equal(a.fill_rate, b.fill_rate)
    dist = {0: 0.5, 4: 0.5}
    fixed = float(reorder_point(10.0, 5.0, 2, 0.95))  # fixed lead 2, review 1
    mixed = random_lead_reorder_point(10.0, 5.0, 1, dist, 0.95)
    assert mixed > fixed
    sims = simulate_periodic(
        [10.0, 10.0], [5.0, 5.0], [2, 2], [1, 1], [fixed, mixed], [fixed, mixed],
        lead_distribution=[dist, dist], **args,
    )  # fmt: skip
    margin = 3 * sims.cycle_service_se
    assert sims.cycle_service[0] < 0.95 - margin[0]
    assert sims.cycle_service[1] >= 0.95
    # a deterministic distribution is the fixed lead time
    c = simulate_periodic(10.0, 5.0, 2, 1, fixed, fixed, lead_distribution=[{2: 1.0}], **args)
    d = simulate_periodic(10.0, 5.0, 2, 1, fixed, fixed, **args)
    np.testing.assert_array_equal(c.cycle_service, d.cycle_service)
