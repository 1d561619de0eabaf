r"""Per-period demand statistics per group (e.g. item × customer segment × location).

For a group :math:`g` let :math:`x_{g,t}` be its demand in period :math:`t = 1..n` of the
horizon (every period from the first to the last one in the history), **zero in periods
without orders**, and :math:`k_g` the number of periods with :math:`x_{g,t} > 0`. Then

.. math::

    \mu_g = \frac1n \sum_t x_{g,t}, \qquad
    \sigma_g = \sqrt{\frac{\sum_{t: x_{g,t}>0} (x_{g,t} - \mu_g)^2 + (n - k_g)\,\mu_g^2}
                          {n - \mathrm{ddof}}},

which is the ordinary (sample, ``ddof=1``) standard deviation of the zero-filled series,
computed from the non-zero cells only. These are the per-period demand mean and standard
deviation the safety-stock and rationing instances take.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from optim.errors import InstanceError

__all__ = ["period_stats"]


def period_stats(
    demand: pd.DataFrame, n_periods: int, by: Sequence[str], ddof: int = 1
) -> pd.DataFrame:
    """Zero-filled per-period mean and standard deviation of ``quantity`` per group.

    Parameters
    ----------
    demand
        Demand cells with a ``period`` column, a ``quantity`` column and the ``by`` columns.
    n_periods
        Number of periods of the horizon (``n`` above).
    by
        Grouping columns.
    ddof
        Delta degrees of freedom of the standard deviation (1: sample).

    Returns
    -------
    DataFrame
        ``by`` columns, ``periods``, ``nonzero_periods``, ``total``, ``mean``, ``std``,
        ``cv``; one row per group with positive demand, sorted by ``by``.
    """
    if n_periods <= ddof:
        raise InstanceError(
            f"demand statistics with ddof={ddof} need more than {ddof} period(s); the history "
            f"spans {n_periods}.",
            field="history",
        )
    keys = list(by)
    cells = demand.groupby([*keys, "period"], sort=True, observed=True)["quantity"].sum()
    cells = cells[cells > 0]
    g = cells.groupby(level=list(range(len(keys))), sort=True)
    k = g.size()
    total = g.sum()
    mean = total / n_periods
    group_of_cell = cells.reset_index(level="period", drop=True).index
    dev2 = (cells.to_numpy() - mean.reindex(group_of_cell).to_numpy()) ** 2
    ss = pd.Series(dev2, index=cells.index).groupby(level=list(range(len(keys)))).sum()
    ss = ss + (n_periods - k) * mean**2
    std = np.sqrt(ss / (n_periods - ddof))
    out = pd.DataFrame(
        {
            "periods": n_periods,
            "nonzero_periods": k.astype(np.int64),
            "total": total,
            "mean": mean,
            "std": std,
            "cv": std / mean,
        }
    )
    out.index.names = keys
    return out.reset_index()
