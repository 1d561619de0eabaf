"""Demand statistics per item × segment × location against a dense brute-force oracle."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optim.errors import InstanceError
from optim.instances.generators.history import generate_history
from optim.segmentation import Segmentation, segment


def _oracle(seg: Segmentation, by: list[str], ddof: int) -> pd.DataFrame:
    """Dense item × period matrix per group, zeros filled, numpy mean/std."""
    d = seg.history.demand.copy()
    d["segment"] = d["customer"].map(seg.customers.set_index("customer")["segment"])
    d["abc"] = d["item"].map(seg.items.set_index("item")["abc"])
    dense = d.pivot_table(index=by, columns="period", values="quantity", aggfunc="sum")
    dense = dense.reindex(columns=seg.history.periods, fill_value=0.0).fillna(0.0)
    x = dense.to_numpy()
    return pd.DataFrame(
        {"mean": x.mean(axis=1), "std": x.std(axis=1, ddof=ddof), "total": x.sum(axis=1)},
        index=dense.index,
    ).reset_index()


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 10_000), ddof=st.sampled_from([0, 1]))
def test_demand_stats_match_dense_oracle(seed: int, ddof: int) -> None:
    seg = segment(generate_history(seed, n_items=12, n_customers=8, weeks=15))
    for by in (["item", "segment", "location"], ["item"], ["abc", "location"]):
        got = seg.demand_stats(by, ddof=ddof)
        want = _oracle(seg, by, ddof)
        assert got[by].values.tolist() == want[by].values.tolist()
        np.testing.assert_allclose(got["mean"], want["mean"], rtol=1e-12)
        np.testing.assert_allclose(got["std"], want["std"], rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(got["total"], want["total"], rtol=1e-12)
        assert (got["periods"] == len(seg.history.periods)).all()
    # the item CV and ADI of the XYZ / intermittency classes, from the same dense matrix
    dense = _oracle(seg, ["item"], ddof=0).set_index("item")
    items = seg.items.set_index("item").loc[dense.index]
    np.testing.assert_allclose(items["cv"], dense["std"] / dense["mean"], rtol=1e-9)
    d = seg.history.demand.groupby(["item", "period"])["quantity"].sum()
    nonzero = (d > 0).groupby(level="item").sum().loc[dense.index]
    np.testing.assert_allclose(items["adi"], len(seg.history.periods) / nonzero)


def test_zeros_are_counted_hand_example() -> None:
    # i1 for c1 at L1: weeks 1..4 demand [6, 0, 0, 2] (week 2-3 without orders)
    # mean 8/4 = 2; sample sd: sq.dev 16+4+4+0 = 24, /3 = 8 -> sd 2.8284
    df = pd.DataFrame(
        {
            "date": ["2024-01-01", "2024-01-22"],
            "customer": ["c1", "c1"],
            "item": ["i1", "i1"],
            "quantity": [6, 2],
            "unit_price": 1.0,
            "location": "L1",
        }
    )
    row = segment(df).demand_stats().iloc[0]
    assert (row["item"], row["segment"], row["location"]) == ("i1", "strategic", "L1")
    assert row["periods"] == 4 and row["nonzero_periods"] == 2
    assert row["mean"] == pytest.approx(2.0)
    assert row["std"] == pytest.approx(np.sqrt(8.0))
    assert row["service_level"] == pytest.approx(0.985)
    assert row["rationing_tier"] == 1


def test_demand_stats_bad_by_and_missing_history() -> None:
    seg = segment(generate_history(3, n_items=5, n_customers=4, weeks=6))
    with pytest.raises(InstanceError, match="'colour'"):
        seg.demand_stats(["item", "colour"])
    frames = seg.to_frames()
    del frames["demand"]
    with pytest.raises(InstanceError, match="no demand history"):
        Segmentation.from_frames(frames).demand_stats()
