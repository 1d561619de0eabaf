r"""Lead times learned from receipts: per-lane statistics, empirical distributions, drift.

Input: validated receipts (:func:`optim.instances.receipts.read_receipts`), one lead time
per receipt in days. Every receipt counts once (an order's lead time does not depend on its
size).

Statistics (:func:`lane_lead_times`)
    per lane (and item when given): receipts, mean and sample standard deviation in days,
    and the empirical distribution in planning periods — the observed lead times divided
    by the period length in days (fractional values kept: the GSM handles them exactly),
    each with probability count / receipts. It becomes the stage's
    ``lead_time_distribution`` (:func:`apply_lane_lead_times`).

Drift (:func:`lead_time_drift`)
    For each lane the receipts *ordered* in the last ``recent_days`` before the newest order
    (the recent window) are compared with all earlier ones (the long run) by a one-sided
    Mann–Whitney U test (H1: recent lead times are stochastically larger; no normality
    assumed, ties handled by the normal approximation with tie correction, exact for small
    samples without ties as in :func:`scipy.stats.mannwhitneyu`). A lane is flagged when
    ``p < alpha`` (default 0.01), the recent mean exceeds the long-run mean, and both sides
    have at least ``min_receipts`` receipts (default 5). Flagged lanes are planned with the
    recent window's distribution (the lead time now in force); the others with the whole
    history.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import mannwhitneyu

__all__ = ["apply_lane_lead_times", "lane_key", "lane_lead_times", "lead_time_drift"]


def lane_key(frame: pd.DataFrame) -> pd.Series:
    """``item@lane`` when receipts carry an item, else ``lane``."""
    if "item" in frame.columns:
        item = frame["item"].astype(str)
        return (item + "@" + frame["lane"].astype(str)).where(item != "", frame["lane"])
    return frame["lane"].astype(str)


def _distribution(days: np.ndarray, period_days: float) -> list[dict[str, float]]:
    values, counts = np.unique(days, return_counts=True)
    probs = counts / counts.sum()
    return [
        {"value": float(v) / period_days, "probability": float(p)}
        for v, p in zip(values, probs, strict=True)
    ]


def lane_lead_times(receipts: pd.DataFrame, period_days: float = 7.0) -> pd.DataFrame:
    """Per lane: ``receipts``, ``mean_days``, ``std_days`` (sample, 0 for one receipt),
    ``min_days``, ``max_days``, ``mean_periods`` and ``distribution`` (periods)."""
    keyed = receipts.assign(key=lane_key(receipts))
    rows = []
    for key, group in keyed.groupby("key", sort=True):
        days = group["lead_time_days"].to_numpy(dtype=float)
        rows.append(
            {
                "lane": key,
                "receipts": int(days.size),
                "mean_days": float(days.mean()),
                "std_days": float(days.std(ddof=1)) if days.size > 1 else 0.0,
                "min_days": float(days.min()),
                "max_days": float(days.max()),
                "mean_periods": float(days.mean()) / period_days,
                "distribution": _distribution(days, period_days),
            }
        )
    return pd.DataFrame(rows)


def lead_time_drift(
    receipts: pd.DataFrame,
    *,
    recent_days: int = 56,
    alpha: float = 0.01,
    min_receipts: int = 5,
    period_days: float = 7.0,
) -> pd.DataFrame:
    """Per lane: the recent window against the long run (see the module docstring).

    Columns ``lane``, ``recent_receipts``, ``base_receipts``, ``recent_mean_days``,
    ``base_mean_days``, ``p_value`` (NaN when a side is too small), ``flagged``, and the two
    distributions in periods (``recent_distribution``, ``base_distribution``).
    """
    keyed = receipts.assign(key=lane_key(receipts))
    newest = keyed["order_date"].max()
    start = newest - pd.Timedelta(days=recent_days)
    rows = []
    for key, group in keyed.groupby("key", sort=True):
        recent = group.loc[group["order_date"] > start, "lead_time_days"].to_numpy(float)
        base = group.loc[group["order_date"] <= start, "lead_time_days"].to_numpy(float)
        enough = recent.size >= min_receipts and base.size >= min_receipts
        p = float(mannwhitneyu(recent, base, alternative="greater").pvalue) if enough else np.nan
        flagged = bool(enough and p < alpha and recent.mean() > base.mean())
        rows.append(
            {
                "lane": key,
                "recent_receipts": int(recent.size),
                "base_receipts": int(base.size),
                "recent_mean_days": float(recent.mean()) if recent.size else np.nan,
                "base_mean_days": float(base.mean()) if base.size else np.nan,
                "p_value": p,
                "flagged": flagged,
                "recent_distribution": _distribution(recent, period_days) if recent.size else [],
                "base_distribution": _distribution(base, period_days) if base.size else [],
            }
        )
    return pd.DataFrame(rows)


def apply_lane_lead_times(
    doc: dict[str, Any], distributions: dict[str, list[dict[str, float]]]
) -> tuple[dict[str, Any], list[str]]:
    """Give the stages of a safety-stock document the lanes' lead-time distributions.

    A stage ``"{item}@{stage}"`` takes the lane ``"{item}@{stage}"`` when present, else the
    lane ``"{stage}"``; a stage without a lane keeps its lead time. Returns the new document
    and the stage ids that were changed.
    """
    out = dict(doc)
    stages, changed = [], []
    for st in doc["stages"]:
        sid = str(st["id"])
        base = sid.split("@", 1)[1] if "@" in sid else sid
        dist = distributions.get(sid, distributions.get(base))
        if dist:
            new = {k: v for k, v in st.items() if k not in ("lead_time", "lead_time_std_dev")}
            new["lead_time_distribution"] = dist
            stages.append(new)
            changed.append(sid)
        else:
            stages.append(st)
    out["stages"] = stages
    return out, changed
