r"""Make-to-order promises: the replenishment time of an order through a supply path that
holds no stock, its distribution, its quantile and its simulation.

An order of a made-to-order item at demand stage :math:`j` waits for the whole path above
it: :math:`R_j = \max_{p \to j} R_p + L_j`, and at a stage without suppliers
:math:`R_j = E_j + L_j` (:math:`E_j` its external service time). Every stage's lead time
:math:`L_j` is an independent random variable with a discrete law in days (a lane's
receipts — whole days — or the network template's fixed time; a normal template lead time
is discretised by :func:`normal_days`).

Distribution (:func:`path_time_laws`)
    :math:`+` is the convolution of the two laws; the :math:`\max` over suppliers is the
    product of their CDFs. Exact when the suppliers' upstream paths share no stage (a tree:
    their times are independent). Where they share one (a network with re-converging
    paths) the product is a lower bound of the true CDF — every event
    :math:`\{R_p \le d\}` is a decreasing function of the same independent lead times, so
    they are positively correlated (Harris' inequality) — and the quantile below is never
    shorter than the exact one.

Promise (:func:`promise_days`)
    The smallest whole day :math:`d \ge 0` with :math:`P(R_j \le d) \ge \alpha`, the
    segment's service target: at least a share :math:`\alpha` of the orders arrive within
    it.

Simulation (:func:`simulate_promise`)
    Independent orders, each drawing every stage's lead time once (a stage on two paths is
    the same draw, so re-converging paths are simulated exactly), :math:`R` by the
    recursion above; the share of orders with :math:`R_j \le d` and its binomial standard
    error. An order's size does not change its time (no capacity in this model), so the
    share of units within the promise has the same expectation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np
from scipy.stats import norm

from optim.models.graph import topological_order

__all__ = [
    "Law",
    "law",
    "normal_days",
    "on_time_share",
    "path_time_laws",
    "promise_days",
    "simulate_promise",
    "simulate_times",
]

Law = tuple[np.ndarray, np.ndarray]
"""A discrete law: sorted distinct values (days) and their probabilities (sum 1)."""

_DIGITS = 9  # values equal to 1e-9 days are one value (float sums of whole days)


def law(values: Sequence[float] | np.ndarray, probs: Sequence[float] | np.ndarray) -> Law:
    """The law of ``values`` with weights ``probs`` (>= 0, sum > 0): equal values merged,
    sorted, zero weights dropped, rescaled to sum 1."""
    v = np.round(np.asarray(values, dtype=float), _DIGITS)
    p = np.asarray(probs, dtype=float)
    if v.shape != p.shape or not v.size or (p < 0).any() or not p.sum() > 0:
        raise ValueError("a law needs as many values as probabilities >= 0, adding up to > 0")
    keep = p > 0
    uniq, inv = np.unique(v[keep], return_inverse=True)
    mass = np.bincount(inv, weights=p[keep], minlength=uniq.size)
    return uniq, mass / mass.sum()


def normal_days(mean: float, std: float, tail: float = 1e-12) -> Law:
    """A normal lead time (days) in whole days rounded up, truncated at 0:
    :math:`P(k) = \\Phi((k - m)/s) - \\Phi((k - 1 - m)/s)` (all the mass below 0 at 0), up to
    the day where less than ``tail`` is left (added to the last day). Rounding up never
    shortens a promise."""
    if not std > 0:
        return law([max(0.0, math.ceil(mean - 1e-9))], [1.0])
    top = max(0, math.ceil(mean + std * float(norm.isf(tail))))
    days = np.arange(0, top + 1, dtype=float)
    cdf = norm.cdf((days - mean) / std)
    cdf[-1] = 1.0
    return law(days, np.diff(cdf, prepend=0.0))


def _add(a: Law, b: Law) -> Law:
    return law(np.add.outer(a[0], b[0]).ravel(), np.multiply.outer(a[1], b[1]).ravel())


def _max(laws: Sequence[Law]) -> Law:
    """The law of the maximum of independent variables: the product of their CDFs."""
    if len(laws) == 1:
        return laws[0]
    values = np.unique(np.concatenate([v for v, _ in laws]))
    cdf = np.ones(values.size)
    for v, p in laws:
        cum = np.concatenate([[0.0], np.cumsum(p)])
        cdf *= cum[np.searchsorted(v, values, side="right")]
    cdf[-1] = 1.0
    return law(values, np.diff(cdf, prepend=0.0))


def _order(
    ids: Sequence[str], arcs: Sequence[tuple[str, str]]
) -> tuple[list[int], list[list[int]]]:
    index = {s: k for k, s in enumerate(ids)}
    src = [index[a] for a, _ in arcs]
    tgt = [index[b] for _, b in arcs]
    parents: list[list[int]] = [[] for _ in ids]
    for a, b in zip(src, tgt, strict=True):
        parents[b].append(a)
    return topological_order(len(ids), src, tgt).tolist(), parents


def path_time_laws(
    ids: Sequence[str],
    arcs: Sequence[tuple[str, str]],
    lead: Mapping[str, Law],
    external: Mapping[str, float] | None = None,
) -> dict[str, Law]:
    """Per stage, the law of its replenishment time without stock (days; module
    docstring): ``lead`` gives every stage's lead-time law, ``external`` the external
    service time of stages without suppliers (default 0)."""
    external = external or {}
    order, parents = _order(ids, arcs)
    out: list[Law | None] = [None] * len(ids)
    for j in order:
        if parents[j]:
            up = _max([out[p] for p in parents[j]])  # type: ignore[misc]
        else:
            up = law([float(external.get(ids[j], 0.0))], [1.0])
        out[j] = _add(up, lead[ids[j]])
    return {ids[j]: out[j] for j in range(len(ids))}  # type: ignore[misc]


def promise_days(time: Law, level: float) -> int:
    """The smallest whole day ``d >= 0`` with P(time <= d) >= ``level`` (module docstring)."""
    values, probs = time
    cdf = np.cumsum(probs)
    k = min(int(np.searchsorted(cdf, level - 1e-12, side="left")), values.size - 1)
    return max(0, math.ceil(values[k] - 1e-9))


def simulate_times(
    ids: Sequence[str],
    arcs: Sequence[tuple[str, str]],
    lead: Mapping[str, Law],
    *,
    external: Mapping[str, float] | None = None,
    orders: int = 20_000,
    seed: int = 0,
) -> dict[str, np.ndarray]:
    """The replenishment times (days) of ``orders`` independent simulated orders at every
    stage (module docstring: each order draws every stage's lead time once). Seeded."""
    external = external or {}
    rng = np.random.default_rng(seed)
    order, parents = _order(ids, arcs)
    times = np.zeros((len(ids), orders))
    for j in order:
        values, probs = lead[ids[j]]
        cum = np.cumsum(probs)
        pick = np.minimum(np.searchsorted(cum, rng.random(orders), side="right"), values.size - 1)
        up = (
            np.max(times[parents[j]], axis=0)
            if parents[j]
            else np.full(orders, float(external.get(ids[j], 0.0)))
        )
        times[j] = up + values[pick]
    return {s: times[k] for k, s in enumerate(ids)}


def on_time_share(times: np.ndarray, days: float) -> tuple[float, float]:
    """The share of simulated orders whose time is within ``days`` and its binomial
    standard error."""
    share = float(np.mean(times <= days + 1e-9))
    return share, math.sqrt(share * (1.0 - share) / times.size)


def simulate_promise(
    ids: Sequence[str],
    arcs: Sequence[tuple[str, str]],
    lead: Mapping[str, Law],
    promises: Mapping[str, float],
    *,
    external: Mapping[str, float] | None = None,
    orders: int = 20_000,
    seed: int = 0,
) -> dict[str, tuple[float, float]]:
    """Simulate ``orders`` independent orders through the network (:func:`simulate_times`):
    per stage of ``promises``, the share of orders whose replenishment time is within its
    promise (days) and the share's binomial standard error (:func:`on_time_share`)."""
    times = simulate_times(ids, arcs, lead, external=external, orders=orders, seed=seed)
    return {stage: on_time_share(times[stage], days) for stage, days in promises.items()}
