"""Reorder points from the gamma demand model and the economic order quantity
(see :mod:`optim.models.replenishment`)."""

from __future__ import annotations

import numpy as np
from scipy.stats import gamma

__all__ = ["eoq", "reorder_point", "window_quantile"]


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


def eoq(demand: object, ordering_cost: object, holding_cost: object) -> np.ndarray:
    r"""Economic order quantity :math:`\sqrt{2K\mu/h}` per item (``demand`` per period,
    ``ordering_cost`` per order, ``holding_cost`` per unit and period); NaN where a cost is
    missing or not > 0, 0 without demand."""
    mu, k, h = _arrays(demand, ordering_cost, holding_cost)
    ok = (k > 0) & (h > 0) & np.isfinite(k) & np.isfinite(h)
    out = np.full(mu.shape, np.nan)
    out[ok] = np.sqrt(2.0 * k[ok] * np.maximum(mu[ok], 0.0) / h[ok])
    return out
