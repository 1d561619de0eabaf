"""Periodic-review inventory simulation of many stocking points and replications in one
compiled (numba) loop — per-element gamma draws through numpy cost ~1 µs each, ~8 s per demo
(timing and measures: :mod:`optim.models.replenishment`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from numba import njit

__all__ = ["SimulationResult", "raise_to_target", "simulate_periodic"]


@dataclass(frozen=True)
class SimulationResult:
    """Per stocking point: mean over replications and its standard error.

    ``cycle_service`` (share of review cycles whose risk window ends without a backorder),
    ``cycle_service_se``, ``fill_rate`` (share of demand served from stock in its period),
    ``fill_rate_se``, ``on_hand`` (mean end-of-period stock on hand), ``orders_per_period``,
    ``cycles`` (review cycles counted per replication).
    """

    cycle_service: np.ndarray
    cycle_service_se: np.ndarray
    fill_rate: np.ndarray
    fill_rate_se: np.ndarray
    on_hand: np.ndarray
    orders_per_period: np.ndarray
    cycles: np.ndarray


@njit(cache=True)
def _draw(values, cdf, i):  # pragma: no cover - compiled
    """One lead time of row ``i`` from its distribution (values, cumulative probabilities)."""
    u = np.random.random()  # noqa: NPY002
    k = 0
    while k < values.shape[1] - 1 and cdf[i, k] < u:
        k += 1
    return values[i, k]


@njit(cache=True)
def _kernel(
    mu, shape, scale, lead, review, s, S, lv, lc, periods, warm, reps, seed
):  # pragma: no cover - compiled
    """One row at a time, one replication after the other (timing: package docstring).
    Returns per (replication, row): cycles, good cycles, demand, served, on-hand sum,
    orders. Rows with ``lc[i, 0] < 1`` draw each order's lead time from ``lv``/``lc``
    (``lead[i]`` is then its largest value); the others draw nothing extra."""
    np.random.seed(seed)  # noqa: NPY002 - numba supports the legacy global generator
    n = mu.shape[0]
    out = np.zeros((6, reps, n))
    slots = 1
    cslots = 1
    for i in range(n):
        slots = max(slots, lead[i] + 1)
        cslots = max(cslots, lead[i] + review[i] + 1)
    pipe = np.zeros(slots)
    checks = np.zeros(cslots)
    for r in range(reps):
        for i in range(n):
            pipe[:] = 0.0
            checks[:] = 0.0
            random = lc[i, 0] < 1.0
            net = S[i]
            transit = 0.0
            window = lead[i] + review[i] - 1
            nxt = _draw(lv, lc, i) if random else lead[i]
            for t in range(warm + periods):
                k = t % slots
                net += pipe[k]
                transit -= pipe[k]
                pipe[k] = 0.0
                d = np.random.gamma(shape[i], scale[i]) if scale[i] > 0.0 else mu[i]  # noqa: NPY002
                served = min(d, max(net, 0.0))
                net -= d
                qty = 0.0
                if t % review[i] == 0:
                    cur = nxt  # this review's order's lead time
                    if random:  # the next review's: its arrival ends this cycle's window
                        nxt = _draw(lv, lc, i)
                        if t >= warm:
                            checks[(t + review[i] + nxt - 1) % cslots] += 1.0
                    if net + transit <= s[i]:
                        qty = S[i] - (net + transit)
                        if cur == 0:
                            net += qty
                        else:
                            pipe[(t + cur) % slots] += qty
                            transit += qty
                if t < warm:
                    continue
                out[2, r, i] += d
                out[3, r, i] += served
                out[4, r, i] += max(net, 0.0)
                if qty > 0.0:
                    out[5, r, i] += 1.0
                ok = net >= -1e-9 * max(1.0, S[i])
                if random:
                    c = checks[t % cslots]
                    if c > 0.0:
                        checks[t % cslots] = 0.0
                        out[0, r, i] += c
                        if ok:
                            out[1, r, i] += c
                    continue
                end = t - window
                if end >= warm and end % review[i] == 0:
                    out[0, r, i] += 1.0
                    if ok:
                        out[1, r, i] += 1.0
    return out


def lead_arrays(
    lead: np.ndarray, distribution: Sequence[Mapping[int, float] | None] | None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per row: the largest lead time, the values and the cumulative probabilities (padded
    with the last) of its whole-period lead-time distribution; rows without one (None) keep
    ``lead`` with probability 1."""
    n = lead.size
    if distribution is None:
        return lead, lead.reshape(n, 1).copy(), np.ones((n, 1))
    if len(distribution) != n:
        raise ValueError("lead_distribution needs one entry (or None) per row")
    dists: list[dict[int, float]] = []
    for i, d in enumerate(distribution):
        merged: dict[int, float] = {}
        for v, p in (d or {int(lead[i]): 1.0}).items():
            if int(v) != v or v < 0 or not p >= 0:
                raise ValueError("lead_distribution: whole periods >= 0 with probabilities >= 0")
            merged[int(v)] = merged.get(int(v), 0.0) + float(p)
        total = sum(merged.values())
        if not total > 0:
            raise ValueError("lead_distribution: probabilities must add up to > 0")
        dists.append({v: p / total for v, p in sorted(merged.items()) if p > 0})
    m = max(len(d) for d in dists) if dists else 1
    values, cdf = np.zeros((n, m), np.int64), np.ones((n, m))
    top = lead.copy()
    for i, d in enumerate(dists):
        vals, cum = np.array(list(d), np.int64), np.cumsum(list(d.values()))
        cum[-1] = 1.0
        values[i, : len(vals)], values[i, len(vals) :] = vals, vals[-1]
        cdf[i, : len(cum)] = cum
        top[i] = vals[-1]
    return top, values, cdf


def simulate_periodic(
    mean: object,
    std: object,
    lead: object,
    review: object,
    s: object,
    S: object,
    *,
    periods: int = 2000,
    replications: int = 4,
    warmup: int | None = None,
    seed: int = 0,
    lead_distribution: Sequence[Mapping[int, float] | None] | None = None,
) -> SimulationResult:
    """Simulate (R, s, S) periodic review with backorders for every stocking point at once.

    Parameters
    ----------
    mean, std
        Demand per period (gamma with this mean and standard deviation; ``std = 0``:
        constant demand).
    lead
        Whole periods from an order to its arrival (>= 0).
    review
        Review period R in whole periods (>= 1).
    s, S
        Reorder point and order-up-to level (``S >= s``; base stock: ``s = S``).
    periods
        Measured periods per replication, after ``warmup`` (default: 2 × the longest
        lead + review) periods that start from net stock ``S``.
    replications
        Independent replications (the standard errors are across them).
    seed
        Seed of the generator: same inputs and seed, same figures.
    lead_distribution
        Per row None (lead time ``lead``) or ``{whole periods: probability}``: every order
        then draws its own lead time from it (independently; orders may cross), and a
        review cycle ends just before the next review's order arrives. Rows without one
        draw the same numbers as without the argument.
    """
    mu, sd, lt, rv, lo, hi = (
        np.array(v, dtype=float).ravel()
        for v in np.broadcast_arrays(
            *(np.asarray(x, dtype=float) for x in (mean, std, lead, review, s, S))
        )
    )
    n = mu.size
    lt_i, rv_i = lt.astype(np.int64), rv.astype(np.int64)
    if n and ((lt_i < 0).any() or (rv_i < 1).any() or (hi < lo).any()):
        raise ValueError("simulate_periodic needs lead >= 0, review >= 1 and S >= s")
    lt_i, lv, lc = lead_arrays(lt_i, lead_distribution)
    reps = int(replications)
    span = int(lt_i.max() + rv_i.max()) if n else 1
    warm = 2 * span if warmup is None else int(warmup)
    gamma_ok = (mu > 0) & (sd > 0)
    safe_mu, safe_sd = np.where(mu > 0, mu, 1.0), np.where(sd > 0, sd, 1.0)
    shape = np.where(gamma_ok, safe_mu**2 / safe_sd**2, 1.0)
    scale = np.where(gamma_ok, safe_sd**2 / safe_mu, 0.0)
    cycles, good, demand_sum, served_sum, on_hand_sum, orders = _kernel(
        mu, shape, scale, lt_i, rv_i, lo, hi, lv, lc, int(periods), warm, reps, int(seed)
    )
    m = int(periods)

    def stat(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        se = x.std(axis=0, ddof=1) / np.sqrt(reps) if reps > 1 else np.full(n, np.nan)
        return x.mean(axis=0), se

    with np.errstate(invalid="ignore", divide="ignore"):
        cs, cs_se = stat(np.where(cycles > 0, good / np.maximum(cycles, 1), 1.0))
        fr, fr_se = stat(
            np.where(demand_sum > 0, served_sum / np.maximum(demand_sum, 1e-300), 1.0)
        )
    oh, _ = stat(on_hand_sum / m)
    op, _ = stat(orders / m)
    cy, _ = stat(cycles)
    return SimulationResult(cs, cs_se, fr, fr_se, oh, op, cy)


def raise_to_target(
    mean: np.ndarray,
    std: np.ndarray,
    lead: np.ndarray,
    review: np.ndarray,
    s: np.ndarray,
    S: np.ndarray,
    target: np.ndarray,
    *,
    lead_distribution: Sequence[Mapping[int, float] | None] | None = None,
    periods: int = 2000,
    replications: int = 4,
    seed: int = 1,
    max_steps: int = 100,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Raise ``s`` and ``S`` of every row whose simulated cycle service (this ``seed``) is
    below its ``target``, by the same whole units, until it meets it: steps of 5 % of the
    standard deviation of the longest risk window's demand (at least one unit).

    Use a seed other than the evaluation's, so that the evaluation is not the sample the
    levels were fitted to. Returns the new ``s``, ``S`` and the units added per row.
    """
    s, S = np.array(s, dtype=float), np.array(S, dtype=float)
    n = s.size
    top = lead_arrays(np.asarray(lead, dtype=np.int64).ravel(), lead_distribution)[0]
    window = np.maximum(top + np.asarray(review) - 1, 1)
    step = np.maximum(1.0, np.ceil(0.05 * np.asarray(std, dtype=float) * np.sqrt(window)))
    added = np.zeros(n)
    todo = np.arange(n)
    dists = list(lead_distribution) if lead_distribution is not None else [None] * n
    for _ in range(max_steps):
        if not todo.size:
            break
        sim = simulate_periodic(
            np.asarray(mean)[todo],
            np.asarray(std)[todo],
            np.asarray(lead)[todo],
            np.asarray(review)[todo],
            s[todo],
            S[todo],
            periods=periods,
            replications=replications,
            seed=seed,
            lead_distribution=[dists[i] for i in todo],
        )
        short = sim.cycle_service < np.asarray(target, dtype=float)[todo]
        todo = todo[short]
        s[todo] += step[todo]
        S[todo] += step[todo]
        added[todo] += step[todo]
    return s, S, added
