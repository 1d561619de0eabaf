"""Reorder points from the gamma demand model and the economic order quantity
(see :mod:`optim.models.replenishment`)."""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import gamma

__all__ = ["eoq", "random_lead_reorder_point", "reorder_point", "window_quantile"]


def _arrays(*values: object) -> list[np.ndarray]:
    arrays = [np.asarray(v, dtype=float) for v in values]
    return [np.array(a, dtype=float) for a in np.broadcast_arrays(*arrays)]


def window_quantile(mean: object, std: object, window: object, level: object) -> np.ndarray:
    r"""The ``level`` quantile of ``window`` periods of gamma demand (mean ``mean``, standard
    deviation ``std`` per period); exact: the sum is gamma with shape :math:`Wk`.
    ``std = 0`` gives :math:`W\mu`; no demand or ``window = 0`` gives 0."""
    mu, sd, w, a = _arrays(mean, std, window, level)
    out = np.where(w > 0, mu * w, 0.0)
    random = (mu > 0) & (sd > 0) & (w > 0)
    if random.any():
        shape = w[random] * mu[random] ** 2 / sd[random] ** 2
        scale = sd[random] ** 2 / mu[random]
        out[random] = gamma.ppf(a[random], shape, scale=scale)
    return out


def reorder_point(mean: object, std: object, window: object, level: object) -> np.ndarray:
    """Smallest whole-unit reorder point ``s`` with P(demand over ``window`` periods <= s)
    >= ``level`` (module docstring: then every review cycle's window ends without a
    backorder with at least that probability)."""
    q = window_quantile(mean, std, window, level)
    return np.ceil(q)


def _window_cdf(x: float, mean: float, std: float, window: np.ndarray) -> np.ndarray:
    """P(demand over each of ``window`` periods <= x) under the gamma model."""
    w = np.asarray(window, dtype=float)
    if mean <= 0:
        return np.ones_like(w)
    if std <= 0:
        return (w * mean <= x + 1e-9).astype(float)
    out = np.ones_like(w)
    pos = w > 0
    out[pos] = gamma.cdf(x, w[pos] * mean**2 / std**2, scale=std**2 / mean)
    return out


def random_lead_reorder_point(
    mean: float, std: float, review: int, lead: dict[int, float], level: float
) -> float:
    r"""Smallest whole-unit ``s`` with :math:`\sum_l p_l\,P(D(l + R - 1) \le s) \ge \alpha`:
    :func:`reorder_point` with the lead time drawn from ``lead`` ({whole periods:
    probability}, independent of demand) — the risk window's demand is the mixture of the
    windows' gamma laws. Found by bisection between 0 and the longest window's point (where
    every term is already >= α)."""
    values = np.array(sorted(lead), dtype=float)
    probs = np.array([lead[int(v)] for v in values], dtype=float)
    probs = probs / probs.sum()
    window = np.maximum(values + review - 1, 0.0)
    hi = float(reorder_point(mean, std, window.max(), level))
    lo = -1.0  # mixture at lo < level (or lo = -1: nothing below 0)
    while hi - lo > 1:
        mid = math.floor((lo + hi) / 2)
        if float(probs @ _window_cdf(mid, mean, std, window)) >= level:
            hi = mid
        else:
            lo = mid
    return hi


def eoq(demand: object, ordering_cost: object, holding_cost: object) -> np.ndarray:
    r"""Economic order quantity :math:`\sqrt{2K\mu/h}` per item (``demand`` per period,
    ``ordering_cost`` per order, ``holding_cost`` per unit and period); NaN where a cost is
    missing or not > 0, 0 without demand."""
    mu, k, h = _arrays(demand, ordering_cost, holding_cost)
    ok = (k > 0) & (h > 0) & np.isfinite(k) & np.isfinite(h)
    out = np.full(mu.shape, np.nan)
    out[ok] = np.sqrt(2.0 * k[ok] * np.maximum(mu[ok], 0.0) / h[ok])
    return out
