r"""Item metrics and raw classes: ABC on value, XYZ on demand variability, intermittency.

Let :math:`v_i` be item :math:`i`'s value over the history (revenue or margin after the
returns rule; negative margins count as 0 for the shares) and :math:`V = \sum_i v_i`. Items
are ranked by decreasing value (ties by item id). With :math:`s_i = v_i / V` and the
cumulative share before the item :math:`c^-_i = \sum_{j \text{ ranked before } i} s_j`:

* **ABC**: A if :math:`c^-_i < t_A`, B if :math:`t_A \le c^-_i < t_B`, else C (defaults
  0.80 / 0.95). The A items are the smallest top set whose cumulative share reaches
  :math:`t_A`; an item whose cumulative share :math:`c_i = c^-_i + s_i` is exactly 80 % is A.
  With :math:`V = 0` every item is C.

Let :math:`x_{i,1..n}` be the item's demand per period over all :math:`n` periods of the
horizon, **zero for periods without orders**, and :math:`k_i` the number of periods with
:math:`x > 0`. With population moments (``ddof=0``)
:math:`\bar x = \frac1n\sum_t x_t`, :math:`\sigma^2 = \frac1n\sum_t (x_t - \bar x)^2`:

* **XYZ**: :math:`CV = \sigma / \bar x`; X if :math:`CV \le 0.5`, Y if
  :math:`0.5 < CV \le 1.0`, else Z (a CV exactly on a threshold stays in the steadier
  class; no demand at all → CV undefined → Z).
* **Intermittency** (Syntetos & Boylan 2005; Syntetos, Boylan & Croston 2005): average
  inter-demand interval :math:`ADI = n / k` and the squared CV of the non-zero demand sizes
  :math:`CV^2 = \operatorname{var}(x_t \mid x_t > 0) / \operatorname{mean}(x_t \mid x_t>0)^2`
  (population variance). The item is *intermittent* when :math:`ADI \ge 1.32`; the pattern
  is smooth (ADI < 1.32, CV² < 0.49), erratic (ADI < 1.32, CV² ≥ 0.49), intermittent
  (ADI ≥ 1.32, CV² < 0.49) or lumpy (both ≥). Intermittent and lumpy items need
  Croston-type forecasts and other stock policies than the normal-demand ones.

References
----------
Syntetos, A. A., Boylan, J. E., Croston, J. D. (2005). On the categorization of demand
patterns. Journal of the Operational Research Society 56(5), 495–503.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from optim.segmentation.history import History
from optim.segmentation.stats import period_stats

__all__ = ["item_metrics", "ranked_shares"]


def ranked_shares(ids: np.ndarray, values: np.ndarray) -> pd.DataFrame:
    """Rank by decreasing value (ties by id) and return shares.

    Returns a frame in rank order with columns ``id, value, share, cum_share,
    cum_share_before``; negative values count as zero in the shares.
    """
    values = np.asarray(values, dtype=float)
    order = np.lexsort((np.asarray(ids, dtype=str), -values))
    v = np.clip(values[order], 0.0, None)
    total = v.sum()
    if total > 0:
        cum = np.cumsum(v)
        share, cum_share, before = v / total, cum / total, (cum - v) / total
    else:
        share = cum_share = np.zeros_like(v)
        before = np.ones_like(v)
    return pd.DataFrame(
        {
            "id": np.asarray(ids)[order],
            "value": values[order],
            "share": share,
            "cum_share": cum_share,
            "cum_share_before": before,
        }
    )


def item_metrics(history: History, value_column: str) -> pd.DataFrame:
    """Per item: value, shares, periodic demand moments, CV, ADI and CV².

    Every item with at least one order line is listed (an item whose lines all net to zero
    has value 0 and no demand). Rows are in ABC rank order.
    """
    demand = history.demand
    items = np.unique(history.lines["item"].to_numpy(dtype=str))
    value = demand.groupby("item", sort=True)[value_column].sum().reindex(items, fill_value=0.0)
    out = ranked_shares(items, value.fillna(0.0).to_numpy()).rename(columns={"id": "item"})

    n = len(history.periods)
    stats = period_stats(demand, n, ["item"], ddof=0).set_index("item")
    # non-zero demand sizes per period for CV²
    per_period = demand.groupby(["item", "period"], sort=True)["quantity"].sum()
    sizes = per_period[per_period > 0].groupby(level="item", sort=True)
    stats["adi"] = n / stats["nonzero_periods"]
    stats["cv2"] = sizes.var(ddof=0) / sizes.mean() ** 2
    stats = stats[["mean", "std", "cv", "nonzero_periods", "adi", "cv2"]]
    stats = stats.reindex(out["item"])
    stats["nonzero_periods"] = stats["nonzero_periods"].fillna(0).astype(np.int64)
    stats[["mean", "std"]] = stats[["mean", "std"]].fillna(0.0)
    return pd.concat([out.reset_index(drop=True), stats.reset_index(drop=True)], axis=1)
