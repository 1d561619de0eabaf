"""Customer segments: rules on value, frequency and channel; overrides (pins)."""

from __future__ import annotations

import pandas as pd
import pytest

from optim.errors import InstanceError
from optim.segmentation import CustomerRule, SegmentationConfig, segment

WEEKS = pd.date_range("2024-01-01", periods=10, freq="7D")


def _history() -> pd.DataFrame:
    """10 weeks. big: 60 % of value, orders every week (channel key_account);
    mid: 30 %, orders in 2 weeks; web: 8 %, 10 orders; tiny: 2 %, 1 order.

    cum_share_before: big .00, mid .60, web .90, tiny .98; orders/period 1.0, 0.2, 1.0, 0.1.
    Default rules: strategic = top 50 % of value and >= 0.5 orders/period -> big;
    standard = top 90 % -> mid (.60 < .90); standard = >= 1 order/period -> web;
    tiny matches nothing -> transactional.
    """
    rows = [(d, "big", "i1", 6, 10.0, "key_account") for d in WEEKS]  # 10 x 60 = 600
    rows += [(WEEKS[k], "mid", "i1", 15, 10.0, "wholesale") for k in (0, 5)]  # 300
    rows += [(d, "web", "i2", 1, 8.0, "web") for d in WEEKS]  # 80
    rows += [(WEEKS[3], "tiny", "i2", 1, 20.0, "web")]  # 20
    return pd.DataFrame(
        rows, columns=["date", "customer", "item", "quantity", "unit_price", "channel"]
    )


def test_default_rules_hand_computed() -> None:
    cu = segment(_history()).customers.set_index("customer")
    assert cu.loc[["big", "mid", "web", "tiny"], "value"].tolist() == [600, 300, 80, 20]
    assert cu.loc[["big", "mid", "web", "tiny"], "cum_share_before"].tolist() == pytest.approx(
        [0.0, 0.6, 0.9, 0.98]
    )
    assert cu.loc[["big", "mid", "web", "tiny"], "orders_per_period"].tolist() == [
        1.0,
        0.2,
        1.0,
        0.1,
    ]
    assert cu.loc[["big", "mid", "web", "tiny"], "segment"].tolist() == [
        "strategic",
        "standard",
        "standard",
        "transactional",
    ]
    assert cu.loc["big", "channel"] == "key_account"
    assert not cu["pinned"].any()


def test_channel_rule_and_custom_segments() -> None:
    cfg = SegmentationConfig(
        customer_rules=(
            CustomerRule(segment="strategic", channels=("key_account",)),
            CustomerRule(segment="standard", min_orders_per_period=0.2, top_value_share=0.95),
        )
    )
    cu = segment(_history(), config=cfg).customers.set_index("customer")
    assert cu.loc[["big", "mid", "web", "tiny"], "segment"].tolist() == [
        "strategic",
        "standard",
        "standard",
        "transactional",
    ]


def test_top_value_share_boundary_convention() -> None:
    # mid's cum_share_before is exactly .60; top_value_share .60 excludes it, .6000001 not.
    for share, expected in ((0.6, "transactional"), (0.6000001, "strategic")):
        cfg = SegmentationConfig(
            customer_rules=(CustomerRule(segment="strategic", top_value_share=share),)
        )
        cu = segment(_history(), config=cfg).customers.set_index("customer")
        assert cu.loc["mid", "segment"] == expected


def test_override_pins_and_survives_reruns() -> None:
    first = segment(_history(), overrides={"tiny": "strategic"})
    cu = first.customers.set_index("customer")
    assert cu.loc["tiny", "segment"] == "strategic" and cu.loc["tiny", "pinned"]
    assert cu.loc["tiny", "segment_raw"] == "transactional"
    assert cu.loc["tiny", "reason"] == "pinned to strategic by override"
    # rerun with the same pins: stays strategic, no change, whatever N and margin
    cfg = SegmentationConfig(consecutive_runs=1, margin=0.0)
    seg = first
    for _ in range(3):
        seg = segment(_history(), config=cfg, previous=seg, overrides={"tiny": "strategic"})
        assert seg.customers.set_index("customer").loc["tiny", "segment"] == "strategic"
        assert seg.changes.empty
    # pinning an existing customer to another segment is a listed change
    seg = segment(_history(), previous=seg, overrides={"tiny": "strategic", "big": "standard"})
    (row,) = seg.changes.itertuples(index=False)
    assert (row.id, row.previous, row.current) == ("big", "strategic", "standard")
    assert row.reason == "pinned to standard by override"


def test_override_unknown_customer_is_named() -> None:
    with pytest.raises(InstanceError, match="'ghost'") as err:
        segment(_history(), overrides={"ghost": "strategic"})
    assert err.value.field == "overrides.ghost"


def test_override_unknown_segment_is_named() -> None:
    with pytest.raises(InstanceError, match=r"'vip' is not a customer segment"):
        segment(_history(), overrides={"big": "vip"})


def test_customer_segment_hysteresis_on_orders_per_period() -> None:
    # one rule: standard when >= 0.5 orders/period; margin 10 % -> band [0.45, 0.55).
    cfg = SegmentationConfig(
        margin=0.1,
        consecutive_runs=5,
        customer_rules=(CustomerRule(segment="standard", min_orders_per_period=0.5),),
    )

    def hist(n_orders: int) -> pd.DataFrame:
        # "anchor" fixes the horizon: 2024-01-01 to Wed 2024-03-13 -> 11 weeks.
        last = WEEKS[-1] + pd.Timedelta(days=9)
        rows = [(WEEKS[0], "anchor", "i1", 1, 1.0), (last, "anchor", "i1", 1, 1.0)]
        rows += [(WEEKS[0] + pd.Timedelta(days=k), "c", "i1", 1, 1.0) for k in range(n_orders)]
        return pd.DataFrame(rows, columns=["date", "customer", "item", "quantity", "unit_price"])

    n_periods = segment(hist(1)).info["periods"]["n"]
    assert n_periods == 11
    # 6 orders: 6/11 = .545 in band, raw standard; 4/11 = .364 below .45; 5/11 = .4545 in band
    s0 = segment(hist(4), config=cfg)
    assert s0.customers.set_index("customer").loc["c", "segment"] == "transactional"
    s1 = segment(hist(6), config=cfg, previous=s0)  # in band: held
    c1 = s1.customers.set_index("customer").loc["c"]
    assert c1["segment"] == "transactional" and c1["segment_raw"] == "standard"
    assert "within margin" in c1["reason"]
    s2 = segment(hist(5), config=cfg, previous=s1)  # still in band, raw transactional
    assert s2.customers.set_index("customer").loc["c", "segment_runs"] == 0
    s3 = segment(hist(7), config=cfg, previous=s2)  # 7/11 = .636 >= .55 -> standard now
    c3 = s3.customers.set_index("customer").loc["c"]
    assert c3["segment"] == "standard" and c3["changed"]
    assert "tightened by 0.1" in c3["reason"]
