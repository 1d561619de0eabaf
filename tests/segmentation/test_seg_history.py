"""Input validation and the returns rule of the order-history reader."""

from __future__ import annotations

import pandas as pd
import pytest

from optim.errors import InstanceError
from optim.segmentation import SegmentationConfig, prepare_history, segment


def _lines(**extra: list) -> pd.DataFrame:
    base = {
        "date": ["2024-01-01", "2024-01-02", "2024-01-09"],
        "customer": ["c1", "c2", "c1"],
        "item": ["i1", "i1", "i2"],
        "quantity": [10, 5, 2],
        "unit_price": [2.0, 2.0, 7.5],
    }
    base.update(extra)
    return pd.DataFrame(base)


@pytest.mark.parametrize("column", ["date", "customer", "item", "quantity"])
def test_missing_required_column_is_named(column: str) -> None:
    with pytest.raises(InstanceError, match=f"missing column\\(s\\) {column};") as err:
        prepare_history(_lines().drop(columns=column))
    assert err.value.field == column


def test_missing_price_and_revenue_is_named() -> None:
    with pytest.raises(InstanceError, match="missing column unit_price"):
        prepare_history(_lines().drop(columns="unit_price"))


@pytest.mark.parametrize("column", ["unitcost", "bogus"])
def test_an_unknown_dataframe_column_is_refused_as_in_a_csv_file(column: str) -> None:
    """A CSV file's unknown column was refused, a DataFrame's ignored: `unitcost` segmented
    without margins, exit 0 (the Python API and the CLI give one verdict)."""
    with pytest.raises(InstanceError, match=f"history: unknown column '{column}'") as err:
        segment(_lines(**{column: [1.0, 1.0, 1.0]}))
    assert err.value.field == column


def test_margin_basis_needs_cost_or_margin() -> None:
    with pytest.raises(InstanceError, match="'unit_cost' or 'margin'"):
        prepare_history(_lines(), value_basis="margin")


def test_unparsable_date_names_column_row_and_value() -> None:
    df = _lines(date=["2024-01-01", "not a date", "2024-01-09"])
    with pytest.raises(
        InstanceError, match=r"history row 1, column date: 'not a date' is not a date"
    ) as err:
        prepare_history(df)
    assert err.value.field == "date"


def test_non_numeric_quantity_is_named() -> None:
    with pytest.raises(
        InstanceError,
        match=r"row 1, column quantity: 'ten' is not a number; allowed: a finite number",
    ):
        prepare_history(_lines(quantity=[1, "ten", 2]))


def test_negative_quantity_rejected_under_reject_rule() -> None:
    df = _lines(quantity=[10, -5, 2])
    with pytest.raises(InstanceError, match=r"row 1, column quantity: -5 must be >= 0"):
        prepare_history(df, returns="reject")
    with pytest.raises(InstanceError, match="column quantity"):
        segment(df, config=SegmentationConfig(returns="reject"))


def test_negative_price_and_cost_rejected() -> None:
    with pytest.raises(
        InstanceError, match=r"row 1, column unit_price: -1 is negative; allowed: >= 0"
    ):
        prepare_history(_lines(unit_price=[2.0, -1.0, 3.0]))
    with pytest.raises(
        InstanceError, match=r"row 1, column unit_cost: -1 is negative; allowed: >= 0"
    ):
        prepare_history(_lines(unit_cost=[1.0, -1.0, 3.0]))


def test_revenue_sign_must_follow_quantity() -> None:
    df = _lines(revenue=[20.0, -10.0, 15.0]).drop(columns="unit_price")
    with pytest.raises(
        InstanceError, match=r"row 1, column revenue: -10 must have the sign of quantity"
    ):
        prepare_history(df)


def test_empty_ids_rejected() -> None:
    with pytest.raises(InstanceError, match=r"row 2, column customer: \(empty\) is empty"):
        prepare_history(_lines(customer=["c1", "c2", None]))


def test_empty_history_and_bad_paths(tmp_path) -> None:
    with pytest.raises(InstanceError, match="no order lines"):
        prepare_history(_lines().iloc[:0])
    with pytest.raises(InstanceError, match="does not exist"):
        prepare_history(tmp_path / "nope.csv")
    bad = tmp_path / "h.xlsx"
    bad.write_text("x")
    with pytest.raises(InstanceError, match=r"suffix '\.xlsx'"):
        prepare_history(bad)


def test_csv_round_trip_and_column_names_normalised(tmp_path) -> None:
    df = _lines().rename(columns={"date": " Date ", "unit_price": "Unit_Price"})
    path = tmp_path / "h.csv"
    df.to_csv(path, index=False)
    a = segment(path)
    b = segment(_lines())
    pd.testing.assert_frame_equal(a.items, b.items)
    pd.testing.assert_frame_equal(a.customers, b.customers)


def test_parquet_input(tmp_path) -> None:
    pytest.importorskip("pyarrow")
    path = tmp_path / "h.parquet"
    _lines().to_parquet(path)
    pd.testing.assert_frame_equal(segment(path).items, segment(_lines()).items)


def _returns_history() -> pd.DataFrame:
    # week of 2024-01-01: c1/i1 buys 10, returns 4 (same week) -> net 6;
    # c2/i1 buys 3, returns 5 -> net -2, floored at 0 (cell dropped);
    # week of 2024-01-08: c1/i1 returns 1 in a week without purchase -> floored at 0.
    return pd.DataFrame(
        {
            "date": ["2024-01-01", "2024-01-03", "2024-01-02", "2024-01-04", "2024-01-09"],
            "customer": ["c1", "c1", "c2", "c2", "c1"],
            "item": ["i1"] * 5,
            "quantity": [10, -4, 3, -5, -1],
            "unit_price": [1.0] * 5,
        }
    )


def test_returns_net_floors_per_cell() -> None:
    h = prepare_history(_returns_history(), returns="net")
    assert h.demand[["customer", "quantity"]].values.tolist() == [["c1", 6.0]]
    assert h.demand["revenue"].tolist() == [6.0]
    assert h.returns == {
        "policy": "net",
        "negative_lines": 3,
        "negative_quantity": 10.0,
        "floored_cells": 2,
    }
    seg = segment(_returns_history())
    assert seg.info["returns"]["policy"] == "net"
    assert seg.items["value"].tolist() == [6.0]


def test_a_history_without_returns_reports_a_returned_quantity_of_plus_zero() -> None:
    """It was -0.0: segmentation.json said -0.0 and the summary "0 negative lines, quantity
    -0"."""
    h = prepare_history(_returns_history().iloc[[0]], returns="net")
    assert str(h.returns["negative_quantity"]) == "0.0"
    assert "0 negative lines, quantity 0, " in segment(_returns_history().iloc[[0, 2]]).summary()


def test_returns_exclude_drops_negative_lines() -> None:
    h = prepare_history(_returns_history(), returns="exclude")
    assert h.demand[["customer", "quantity"]].values.tolist() == [["c1", 10.0], ["c2", 3.0]]
    assert h.returns["policy"] == "exclude"
    assert h.returns["negative_lines"] == 3


def test_parquet_without_engine_says_so(tmp_path, monkeypatch) -> None:
    """Without the optional pyarrow, pandas raises ImportError: we turn it into one message."""

    def no_engine(*args, **kwargs):
        raise ImportError("Missing optional dependency 'pyarrow'.")

    monkeypatch.setattr(pd, "read_parquet", no_engine)
    path = tmp_path / "h.parquet"
    path.write_bytes(b"PAR1")
    with pytest.raises(InstanceError, match=r"parquet engine .*pip install 'optim\[parquet\]'"):
        prepare_history(path)
