r"""Customer metrics and rule-based segments (strategic / standard / transactional).

Per customer :math:`c`:

* ``value``: revenue or margin over the history after the returns rule;
  ``cum_share_before``: cumulative value share of the customers ranked before it (ranked by
  decreasing value, ties by id; the ABC convention);
* ``orders_per_period``: distinct orders (order ids, or order dates when there is no
  ``order`` column) with a positive line, divided by the number of periods of the horizon;
* ``channel``: the channel on most of its lines (ties: alphabetically first).

:class:`~optim.segmentation.config.CustomerRule` s are tried in order and the first rule whose
conditions all hold gives the segment; no match gives ``default_segment``. Every condition is
an "at least" condition, so loosening the thresholds by the margin (``top_value_share ·
(1 + m)``, ``min_orders_per_period · (1 − m)``, ``min_value · (1 − m)``) can only move a
customer to a more important segment and tightening only to a less important one: the
two give the band used by :mod:`optim.segmentation.stability`. Channels have no margin.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from optim.segmentation.config import CustomerRule
from optim.segmentation.history import History
from optim.segmentation.items import ranked_shares
from optim.segmentation.stability import EPS

__all__ = ["apply_rules", "customer_metrics"]


def customer_metrics(history: History, value_column: str) -> pd.DataFrame:
    """Per customer: value, shares, orders, orders per period and channel (value rank order)."""
    lines = history.lines
    customers = np.unique(lines["customer"].to_numpy(dtype=str))
    value = history.demand.groupby("customer", sort=True)[value_column].sum()
    value = value.reindex(customers, fill_value=0.0).fillna(0.0)
    out = ranked_shares(customers, value.to_numpy()).rename(columns={"id": "customer"})

    positive = lines[lines["quantity"] > 0]
    per_customer = positive.groupby("customer", sort=True)["order"].nunique()
    orders = per_customer.reindex(out["customer"], fill_value=0).to_numpy(dtype=np.int64)
    counts = lines.groupby(["customer", "channel"], sort=True).size().reset_index(name="n")
    counts = counts.sort_values(["customer", "n", "channel"], ascending=[True, False, True])
    channel = counts.drop_duplicates("customer").set_index("customer")["channel"]
    out["orders"] = orders
    out["orders_per_period"] = orders / len(history.periods)
    out["channel"] = channel.reindex(out["customer"]).to_numpy(dtype=object)
    return out


def apply_rules(
    metrics: pd.DataFrame,
    rules: tuple[CustomerRule, ...],
    segments: tuple[str, ...],
    default_segment: str,
    loosen: float = 0.0,
) -> np.ndarray:
    """Segment index (position in ``segments``) of each customer under the rules.

    ``loosen`` > 0 loosens every numeric threshold by that relative amount, < 0 tightens it.
    """
    n = len(metrics)
    seg = np.full(n, segments.index(default_segment), dtype=np.int64)
    done = np.zeros(n, dtype=bool)
    before = metrics["cum_share_before"].to_numpy(dtype=float)
    opp = metrics["orders_per_period"].to_numpy(dtype=float)
    value = metrics["value"].to_numpy(dtype=float)
    channel = metrics["channel"].to_numpy(dtype=str)
    for rule in rules:
        ok = ~done
        if rule.top_value_share is not None:
            ok &= before < rule.top_value_share * (1.0 + loosen) - EPS
        if rule.min_orders_per_period is not None:
            ok &= opp >= rule.min_orders_per_period * (1.0 - loosen) - EPS
        if rule.min_value is not None:
            ok &= value >= rule.min_value * (1.0 - loosen) - EPS
        if rule.channels is not None:
            ok &= np.isin(channel, np.asarray(rule.channels, dtype=str))
        seg[ok] = segments.index(rule.segment)
        done |= ok
    return seg
