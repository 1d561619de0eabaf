"""Read and validate order lines, and bucket them into periodic demand.

Input columns (names are matched after stripping blanks and lower-casing):

========== ======== ==========================================================
column     required meaning
========== ======== ==========================================================
date       yes      order date (anything :func:`pandas.to_datetime` parses)
customer   yes      customer id
item       yes      item id
quantity   yes      ordered quantity; negative lines are returns/cancellations
unit_price one of   price per unit (revenue = quantity · unit_price)
revenue    one of   line revenue (used when both are given)
unit_cost  no       cost per unit (margin = revenue − quantity · unit_cost)
margin     no       line margin (used when both are given)
channel    no       sales channel of the customer (missing → "unspecified")
location   no       shipping site (missing column → every line at "all")
order      no       order id; without it an order is a customer's lines on one date
========== ======== ==========================================================

Returns rule (``returns``): ``"net"`` (default) sums all lines of the same item, customer,
location and period and floors the sum at zero, so a return only cancels demand of its own
cell and never creates negative demand; ``"exclude"`` drops negative lines; ``"reject"``
raises :class:`~optim.errors.InstanceError` on the first negative line. The number of
negative lines, the quantity they carried and the number of cells floored at zero are
reported in ``Segmentation.info["returns"]``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optim.errors import InstanceError

__all__ = ["History", "load_history", "prepare_history"]

REQUIRED = ("date", "customer", "item", "quantity")
LINE_COLUMNS = [
    "date",
    "period",
    "customer",
    "item",
    "location",
    "channel",
    "order",
    "quantity",
    "revenue",
    "margin",
]


@dataclass(frozen=True)
class History:
    """Validated order history, bucketed per period.

    Attributes
    ----------
    lines
        Clean order lines (columns :data:`LINE_COLUMNS`); ``margin`` is NaN when neither
        ``unit_cost`` nor ``margin`` was given.
    demand
        Demand cells after the returns rule: one row per (item, customer, location, period)
        with positive quantity; columns ``item, customer, location, period, quantity,
        revenue, margin``.
    periods
        Every period of the horizon, first to last period seen, as period start timestamps.
    has_margin
        Whether margin could be computed.
    returns
        Report of the returns rule (policy, lines, quantity, floored cells).
    """

    lines: pd.DataFrame
    demand: pd.DataFrame
    periods: pd.DatetimeIndex
    has_margin: bool
    returns: dict[str, Any]


def load_history(source: pd.DataFrame | str | Path) -> pd.DataFrame:
    """Return the raw order lines of a DataFrame, a CSV file or a parquet file."""
    if isinstance(source, pd.DataFrame):
        return source
    path = Path(source)
    if not path.is_file():
        raise InstanceError(f"history file {str(path)!r} does not exist.", field="history")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return pd.read_csv(path)
    if suffix in (".parquet", ".pq"):
        try:
            return pd.read_parquet(path)
        except ImportError as exc:
            raise InstanceError(
                f"reading {str(path)!r} needs a parquet engine (pyarrow; "
                f"pip install 'optim[parquet]'): {exc}",
                field="history",
            ) from exc
    raise InstanceError(
        f"history file {str(path)!r} has suffix {suffix!r}; allowed: .csv, .parquet, .pq.",
        field="history",
    )


def _first_bad(column: str, raw: pd.Series, bad: np.ndarray, what: str) -> InstanceError:
    pos = int(np.flatnonzero(bad)[0])
    return InstanceError(
        f"history column {column!r} {what}: row {raw.index[pos]!r} has {raw.iloc[pos]!r} "
        f"({int(bad.sum())} bad row(s) in total).",
        field=column,
    )


def _numeric(df: pd.DataFrame, column: str, *, nonnegative: bool = False) -> np.ndarray:
    raw = df[column]
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        raise _first_bad(column, raw, bad, "must hold finite numbers")
    if nonnegative and (values < 0).any():
        raise _first_bad(column, raw, values < 0, "must be >= 0")
    return values


def _ids(df: pd.DataFrame, column: str) -> np.ndarray:
    raw = df[column]
    bad = raw.isna().to_numpy()
    if bad.any():
        raise _first_bad(column, raw, bad, "must not be empty")
    codes, uniques = pd.factorize(raw, sort=False)  # strip each distinct id once
    names = np.array([str(u).strip() for u in uniques], dtype=object)
    return names[codes]


def _dates(df: pd.DataFrame) -> pd.Series:
    raw = df["date"]
    if pd.api.types.is_datetime64_any_dtype(raw):
        parsed = raw
    else:
        parsed = pd.to_datetime(raw, errors="coerce")
    bad = parsed.isna().to_numpy()
    if bad.any():
        raise _first_bad("date", raw, bad, "must hold parsable dates")
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)
    return parsed.reset_index(drop=True)


def _check_columns(columns: Iterable[str]) -> None:
    cols = set(columns)
    missing = [c for c in REQUIRED if c not in cols]
    if missing:
        raise InstanceError(
            f"history is missing column(s) {missing}; required: {list(REQUIRED)} and one "
            "of 'unit_price' or 'revenue'.",
            field=missing[0],
        )
    if "unit_price" not in cols and "revenue" not in cols:
        raise InstanceError(
            "history is missing column 'unit_price' (or 'revenue'); one of them gives the "
            "value of each line.",
            field="unit_price",
        )


def prepare_history(
    source: pd.DataFrame | str | Path,
    *,
    period: str = "W",
    value_basis: str = "revenue",
    returns: str = "net",
) -> History:
    """Validate order lines and bucket them into per-period demand cells.

    Parameters
    ----------
    source
        DataFrame, or path of a CSV or parquet file, with the columns of the module table.
    period
        Pandas period alias of the buckets.
    value_basis
        ``"revenue"`` or ``"margin"``; margin needs ``unit_cost`` or ``margin``.
    returns
        ``"net"`` | ``"exclude"`` | ``"reject"`` (see module docstring).

    Returns
    -------
    History

    Raises
    ------
    InstanceError
        Missing column, unparsable date, non-numeric or negative price/cost, empty id, or a
        negative quantity under ``returns="reject"``; the message names the column and row.
    """
    raw = load_history(source)
    if not isinstance(raw, pd.DataFrame) or raw.empty:
        raise InstanceError("history has no order lines.", field="history")
    df = raw.copy()
    df.columns = [str(c).strip().lower() for c in df.columns]
    if df.columns.duplicated().any():
        dup = sorted(set(df.columns[df.columns.duplicated()]))
        raise InstanceError(f"history has duplicate column(s) {dup}.", field=dup[0])
    _check_columns(df.columns)
    if value_basis == "margin" and "unit_cost" not in df.columns and "margin" not in df.columns:
        raise InstanceError(
            "value_basis='margin' needs a 'unit_cost' or 'margin' column in the history.",
            field="unit_cost",
        )

    dates = _dates(df)
    quantity = _numeric(df, "quantity")
    negative = quantity < 0
    if returns == "reject" and negative.any():
        raise _first_bad("quantity", df["quantity"], negative, "must be >= 0 (returns='reject')")
    if "revenue" in df.columns:
        revenue = _numeric(df, "revenue")
        wrong_sign = revenue * np.sign(quantity) < 0
        if wrong_sign.any():
            raise _first_bad(
                "revenue", df["revenue"], wrong_sign, "must have the sign of quantity"
            )
    else:
        revenue = quantity * _numeric(df, "unit_price", nonnegative=True)
    has_margin = "margin" in df.columns or "unit_cost" in df.columns
    if "margin" in df.columns:
        margin = _numeric(df, "margin")
    elif "unit_cost" in df.columns:
        margin = revenue - quantity * _numeric(df, "unit_cost", nonnegative=True)
    else:
        margin = np.full(len(df), np.nan)

    customer = _ids(df, "customer")
    channel: np.ndarray
    if "channel" in df.columns:
        named = df["channel"].astype("string").str.strip().fillna("unspecified")
        channel = named.replace("", "unspecified").to_numpy(dtype=object)
    else:
        channel = np.full(len(df), "unspecified", dtype=object)
    location = (
        _ids(df, "location") if "location" in df.columns else np.full(len(df), "all", dtype=object)
    )
    order = (
        _ids(df, "order") if "order" in df.columns else dates.dt.strftime("%Y-%m-%d").to_numpy()
    )
    lines = pd.DataFrame(
        {
            "date": dates.to_numpy(),
            "period": dates.dt.to_period(period).dt.start_time.to_numpy(),
            "customer": customer,
            "item": _ids(df, "item"),
            "location": location,
            "channel": channel,
            "order": order,
            "quantity": quantity,
            "revenue": revenue,
            "margin": margin,
        },
        columns=LINE_COLUMNS,
    )

    report: dict[str, Any] = {
        "policy": returns,
        "negative_lines": int(negative.sum()),
        "negative_quantity": float(-quantity[negative].sum()),
        "floored_cells": 0,
    }
    kept = lines[~negative] if returns == "exclude" else lines
    keys = ["item", "customer", "location", "period"]
    cells = kept.groupby(keys, sort=True, observed=True)[["quantity", "revenue", "margin"]].sum(
        min_count=1
    )
    if not has_margin:
        cells["margin"] = np.nan
    positive = cells["quantity"].to_numpy() > 0
    report["floored_cells"] = int((cells["quantity"].to_numpy() < 0).sum())
    demand = cells[positive].reset_index()

    first, last = lines["period"].min(), lines["period"].max()
    periods = pd.period_range(first, last, freq=period).start_time
    return History(
        lines=lines, demand=demand, periods=periods, has_margin=has_margin, returns=report
    )
