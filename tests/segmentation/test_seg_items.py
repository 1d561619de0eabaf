"""ABC / XYZ / intermittency against hand-computed examples and at their boundaries."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optim.segmentation import SegmentationConfig, segment

MONDAYS = pd.date_range("2024-01-01", periods=40, freq="7D")  # 2024-01-01 is a Monday


def _value_history(values: dict[str, float]) -> pd.DataFrame:
    """One line per item, quantity 1, price = value: item value = price."""
    return pd.DataFrame(
        {
            "date": MONDAYS[0],
            "customer": "c1",
            "item": list(values),
            "quantity": 1,
            "unit_price": list(values.values()),
        }
    )


def _weekly_history(series: dict[str, list[float]]) -> pd.DataFrame:
    """Item -> weekly quantities (0 = no line that week), price 1."""
    rows = [
        (MONDAYS[w], "c1", item, q, 1.0)
        for item, qs in series.items()
        for w, q in enumerate(qs)
        if q > 0
    ]
    return pd.DataFrame(rows, columns=["date", "customer", "item", "quantity", "unit_price"])


def test_abc_hand_computed() -> None:
    # values P 50, Q 30, R 12, S 5, T 3; total 100.
    # rank  value share cum   cum_before  class (A: cum_before < .80, B: < .95)
    # P     50    .50   .50   .00         A
    # Q     30    .30   .80   .50         A   (reaches exactly 80 % -> A)
    # R     12    .12   .92   .80         B   (cum_before exactly 80 % -> B)
    # S      5    .05   .97   .92         B   (crosses 95 % -> still B)
    # T      3    .03  1.00   .97         C
    seg = segment(_value_history({"T": 3, "R": 12, "P": 50, "S": 5, "Q": 30}))
    it = seg.items
    assert it["item"].tolist() == ["P", "Q", "R", "S", "T"]
    np.testing.assert_allclose(it["share"], [0.5, 0.3, 0.12, 0.05, 0.03])
    np.testing.assert_allclose(it["cum_share"], [0.5, 0.8, 0.92, 0.97, 1.0])
    assert it["abc"].tolist() == ["A", "A", "B", "B", "C"]


def test_abc_exactly_at_95_percent_is_b() -> None:
    # values 50, 30, 15, 5: cum .50 .80 .95 1.0 -> the item reaching exactly 95 % is B,
    # the next (cum_before exactly .95) is C.
    seg = segment(_value_history({"a": 50, "b": 30, "c": 15, "d": 5}))
    assert seg.items["abc"].tolist() == ["A", "A", "B", "C"]


def test_abc_top_item_is_always_a_and_ties_break_by_id() -> None:
    # one item with 90 % share: it alone reaches 80 % -> A; equal values rank by id.
    seg = segment(_value_history({"z": 5, "big": 90, "y": 5}))
    assert seg.items["item"].tolist() == ["big", "y", "z"]
    assert seg.items["abc"].tolist() == ["A", "B", "C"]


def test_abc_on_margin() -> None:
    # revenue ranks r1 (100) over r2 (60); margin ranks r2 (60-10=50) over r1 (100-90=10).
    df = _value_history({"r1": 100, "r2": 60}).assign(unit_cost=[90.0, 10.0])
    rev = segment(df)
    mar = segment(df, config=SegmentationConfig(value_basis="margin"))
    assert rev.items["item"].tolist() == ["r1", "r2"]
    assert mar.items["item"].tolist() == ["r2", "r1"]
    assert mar.items["value"].tolist() == [50.0, 10.0]


def test_xyz_and_intermittency_hand_computed() -> None:
    # 4 weeks, zeros counted, population moments:
    # steady [10,10,10,10]: mean 10, sd 0            -> CV 0      X; ADI 4/4 = 1    smooth
    # mid    [4, 0, 8, 4]:  mean 4, sq.dev 0+16+16+0 = 32, var 8, sd 2.8284 -> CV .7071 Y;
    #        ADI 4/3 = 1.333 >= 1.32 -> intermittent; sizes 4,8,4: mean 16/3,
    #        var ((4/3)^2*2 + (8/3)^2)/3 = (96/9)/3 = 32/9, CV2 = (32/9)/(256/9) = 0.125
    #        < 0.49 -> pattern intermittent
    # spike  [12,0,0,0]:    mean 3, sq.dev 81+9+9+9 = 108, var 27, sd 5.196 -> CV 1.732 Z;
    #        ADI 4, one size -> CV2 0 -> intermittent
    # lumpy  [1, 0, 9, 0]:  mean 2.5, sq.dev 2.25+6.25+42.25+6.25 = 57, var 14.25,
    #        sd 3.775 -> CV 1.51 Z; ADI 2; sizes 1, 9: mean 5, var 16, CV2 .64 -> lumpy
    seg = segment(
        _weekly_history(
            {
                "steady": [10, 10, 10, 10],
                "mid": [4, 0, 8, 4],
                "spike": [12, 0, 0, 0],
                "lumpy": [1, 0, 9, 0],
            }
        )
    )
    it = seg.items.set_index("item").loc[["steady", "mid", "spike", "lumpy"]]
    np.testing.assert_allclose(
        it["cv"], [0.0, np.sqrt(8) / 4, np.sqrt(27) / 3, np.sqrt(14.25) / 2.5]
    )
    np.testing.assert_allclose(it["adi"], [1.0, 4 / 3, 4.0, 2.0])
    np.testing.assert_allclose(it["cv2"], [0.0, 0.125, 0.0, 0.64])
    np.testing.assert_allclose(it["mean"], [10, 4, 3, 2.5])
    assert it["xyz"].tolist() == ["X", "Y", "Z", "Z"]
    assert it["intermittent"].tolist() == [False, True, True, True]
    assert it["pattern"].tolist() == ["smooth", "intermittent", "intermittent", "lumpy"]
    assert it["class"].tolist() == [f"{a}{x}" for a, x in zip(it["abc"], it["xyz"], strict=True)]


def test_xyz_boundaries_stay_in_the_steadier_class() -> None:
    # 2 weeks: [1, 3]: mean 2, sd 1 -> CV exactly 0.5 -> X;
    #          [2, 0]: mean 1, sd 1 -> CV exactly 1.0 -> Y;
    #          [3, 0] with a third item to keep the horizon: same CV 1.0 -> Y.
    seg = segment(_weekly_history({"half": [1, 3], "one": [2, 0], "one_b": [0, 3]}))
    it = seg.items.set_index("item")
    assert it.loc["half", "cv"] == pytest.approx(0.5)
    assert it.loc["one", "cv"] == pytest.approx(1.0)
    assert it.loc[["half", "one", "one_b"], "xyz"].tolist() == ["X", "Y", "Y"]


def test_adi_exactly_at_cutoff_is_intermittent() -> None:
    # horizon 33 weeks (first to last week with a line), demand in 25 of them:
    # ADI = 33/25 = 1.32 exactly -> intermittent (>=); in 26: ADI = 33/26 = 1.269 -> not.
    exact = [1.0] * 12 + [0.0] * 8 + [1.0] * 13
    below = [1.0] * 13 + [0.0] * 7 + [1.0] * 13
    seg = segment(_weekly_history({"exact": exact, "below": below}))
    it = seg.items.set_index("item")
    assert it.loc["exact", "adi"] == pytest.approx(1.32)
    assert bool(it.loc["exact", "intermittent"]) is True
    assert bool(it.loc["below", "intermittent"]) is False


def test_item_without_net_demand_is_c_z_none() -> None:
    df = pd.DataFrame(
        {
            "date": [MONDAYS[0], MONDAYS[0], MONDAYS[1]],
            "customer": "c1",
            "item": ["ok", "gone", "gone"],
            "quantity": [5, 2, -2],
            "unit_price": 1.0,
        }
    )
    # the return of "gone" is a week later: week 1 keeps +2, week 2 (-2) floors at 0.
    it = segment(df).items.set_index("item")
    assert it.loc["gone", "value"] == 2.0
    df.loc[2, "date"] = MONDAYS[0]  # same week: nets to 0
    it = segment(df).items.set_index("item")
    assert it.loc["gone", "value"] == 0.0
    assert (it.loc["gone", "abc"], it.loc["gone", "xyz"], it.loc["gone", "pattern"]) == (
        "C",
        "Z",
        "none",
    )
    assert bool(it.loc["gone", "intermittent"]) is True


@settings(max_examples=40, deadline=None)
@given(values=st.lists(st.integers(1, 10**6), min_size=1, max_size=30))
def test_abc_matches_exact_fraction_oracle(values: list[int]) -> None:
    """Brute force in exact rational arithmetic: rank by value (ties by id), A while the
    share before the item is < 4/5, B while < 19/20, else C."""
    ids = [f"i{k:02d}" for k in range(len(values))]
    seg = segment(_value_history(dict(zip(ids, map(float, values), strict=True))))
    ranked = sorted(zip(ids, values, strict=True), key=lambda p: (-p[1], p[0]))
    total, before, want = sum(values), 0, {}
    for item, v in ranked:
        share = Fraction(before, total)
        want[item] = "A" if share < Fraction(4, 5) else "B" if share < Fraction(19, 20) else "C"
        before += v
    assert seg.items["item"].tolist() == [i for i, _ in ranked]
    assert dict(zip(seg.items["item"], seg.items["abc"], strict=True)) == want
