"""Seeded order-history generator: shape, determinism, realism checks, speed."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from optim.instances.generators.history import DCS, REGIONS, generate_history
from optim.segmentation import segment

COLUMNS = [
    "date",
    "order",
    "customer",
    "item",
    "quantity",
    "unit_price",
    "unit_cost",
    "channel",
    "location",
]


def test_same_seed_same_frame_other_seed_other_frame() -> None:
    a = generate_history(5, n_items=30, n_customers=10, weeks=12)
    b = generate_history(5, n_items=30, n_customers=10, weeks=12)
    c = generate_history(6, n_items=30, n_customers=10, weeks=12)
    pd.testing.assert_frame_equal(a, b)
    assert not a.equals(c)


@pytest.mark.parametrize(("n_items", "n_customers", "weeks"), [(1, 1, 1), (2, 2, 2), (5, 3, 4)])
def test_tiny_sizes_work(n_items: int, n_customers: int, weeks: int) -> None:
    df = generate_history(0, n_items=n_items, n_customers=n_customers, weeks=weeks)
    assert list(df.columns) == COLUMNS
    assert df["item"].nunique() <= n_items and df["customer"].nunique() <= n_customers
    if len(df) and (df["quantity"] > 0).any():
        segment(df)


def test_default_size_is_realistic() -> None:
    df = generate_history(0)
    assert list(df.columns) == COLUMNS
    assert df["date"].is_monotonic_increasing
    assert (df["date"].dt.day_of_week < 5).all()
    assert set(df["location"]) <= set(DCS) | set(REGIONS)
    assert set(df["location"]) & set(DCS) and set(df["location"]) & set(REGIONS)
    assert set(df["channel"]) == {"key_account", "wholesale", "retail", "web"}
    assert (df["unit_cost"] < df["unit_price"]).all()
    neg = df["quantity"] < 0
    assert 0 < neg.mean() < 0.02  # returns exist but are rare

    seg = segment(df)
    cu = seg.customers
    # key accounts are the natural top-value group
    top = cu.head(10)["channel"]
    assert (top == "key_account").all()
    # the tail has intermittent items, the head steady ones
    it = seg.items
    assert it["intermittent"].mean() > 0.2
    assert not it.head(20)["intermittent"].any()
    assert set(it["abc"]) == {"A", "B", "C"} and set(it["xyz"]) == {"X", "Y", "Z"}
    # value concentration (Pareto-like): A items are a minority
    assert (it["abc"] == "A").mean() < 0.3
    assert np.isclose(it["share"].sum(), 1.0)


def test_peak_season_lifts_only_its_weeks_and_draws_nothing() -> None:
    kw = dict(n_items=40, n_customers=30, weeks=60, start="2023-07-03")
    base = generate_history(4, **kw)
    pd.testing.assert_frame_equal(base, generate_history(4, **kw, peak_weeks=(40, 52)))
    peak = generate_history(4, **kw, peak_weeks=(40, 52), peak_uplift=1.0)
    # same order lines (the peak draws no random numbers before the quantities); quantities
    # grow in the peak only (Poisson draws differ after the first peak line: compare sums)
    base = base[base["quantity"] > 0].reset_index(drop=True)
    peak = peak[peak["quantity"] > 0].reset_index(drop=True)
    assert peak[["date", "customer", "item"]].equals(base[["date", "customer", "item"]])
    iso = base["date"].dt.isocalendar().week.to_numpy()
    in_peak = (iso >= 40) & (iso <= 52)
    outside = peak["quantity"][~in_peak].sum() / base["quantity"][~in_peak].sum()
    inside = peak["quantity"][in_peak].sum() / base["quantity"][in_peak].sum()
    assert 0.95 < outside < 1.05
    assert 1.6 < inside < 2.4  # doubled expected quantity (1 + Poisson(λ - 1) per line)
