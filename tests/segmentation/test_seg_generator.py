"""Seeded order-history generator: shape, determinism, realism checks, speed."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from optim.instances.generators_history import DCS, REGIONS, generate_history
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


def test_default_size_is_realistic_and_fast() -> None:
    t0 = time.perf_counter()
    df = generate_history(0)
    elapsed = time.perf_counter() - t0
    assert elapsed < 2.0, f"generate_history(0) took {elapsed:.2f} s"
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
