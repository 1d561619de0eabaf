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

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optim.errors import InstanceError

__all__ = [
    "CheckedLines",
    "History",
    "check_date_window",
    "check_lines",
    "day_first",
    "load_history",
    "prepare_history",
]

REQUIRED = ("date", "customer", "item", "quantity")
OPTIONAL = ("unit_price", "revenue", "unit_cost", "margin", "channel", "location", "order")
"""The optional columns of the module docstring's table (one of the first two is needed)."""
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


MAX_GAP_DAYS = 366
"""Longest allowed gap between consecutive order dates: a line dated years away from the
rest (``2099`` for ``2025``) would otherwise create thousands of empty periods and turn
every item intermittent."""
MAX_SPAN_YEARS = 20
"""Longest history (first to last order date)."""


def load_history(source: pd.DataFrame | str | Path) -> pd.DataFrame:
    """Return the raw order lines of a DataFrame, a CSV file, ``-`` (standard input, CSV) or
    a parquet file.

    A CSV file passes the input gate (:func:`optim.instances.gate.read_csv_text`): cells
    are kept as written and the frame's index is the file line of each row, so errors name
    the line the planner sees.
    """
    if isinstance(source, pd.DataFrame):
        return source
    if not isinstance(source, str | os.PathLike):  # (None ended in pathlib's TypeError)
        raise TypeError(
            "history must be a DataFrame of order lines or the path of a CSV or parquet "
            f"file, not {type(source).__name__}"
        )
    from optim.instances import gate

    if str(source) == "-":  # standard input: CSV
        return gate.read_csv_text("-", "standard input")
    path = Path(source)
    if not path.is_file():
        raise InstanceError(
            f"history file {str(path)!r} does not exist"
            + (" (it is a folder)" if path.is_dir() else "")
            + "; allowed: a .csv or .parquet file.",
            field="history",
        )
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return gate.read_csv_text(path, str(path))
    if suffix in (".parquet", ".pq"):
        gate.read_bytes(path, "parquet file", gate.MAX_CSV_BYTES)  # size and readability
        try:
            frame = pd.read_parquet(path)
        except ImportError as exc:
            raise InstanceError(
                f"reading {str(path)!r} needs a parquet engine (pyarrow; "
                f"pip install 'optim[parquet]'): {exc}",
                field="history",
            ) from exc
        except Exception as exc:  # pyarrow raises its own error types for corrupt files
            raise InstanceError(
                f"{path}: cannot be read as parquet ({type(exc).__name__}: {exc}).",
                field="history",
            ) from None
        frame.attrs["source"] = str(path)
        return frame
    raise InstanceError(
        f"history file {str(path)!r} has suffix {suffix!r}; allowed: .csv, .parquet, .pq.",
        field="history",
    )


def _is_csv(source: str) -> bool:
    """Whether lines of ``source`` are file lines (a CSV file or standard input)."""
    return source.endswith(".csv") or source == "standard input"


def _first_bad(column: str, raw: pd.Series, bad: np.ndarray, what: str) -> InstanceError:
    """One error naming the file, the line (CSV: as in the file) or row, the column and the
    value as written."""
    from optim.instances.gate import shown

    pos = int(np.flatnonzero(bad)[0])
    source = raw.attrs.get("source")
    place = f"{source if source else 'history'} {shown_line(raw, pos)}"
    count = int(bad.sum())
    more = f" ({count} bad lines in all)" if count > 1 else ""
    return InstanceError(
        f"{place}, column {column}: {shown(raw.iloc[pos])} {what}{more}.",
        field=column,
    )


def _numeric(df: pd.DataFrame, column: str, *, nonnegative: bool = False) -> np.ndarray:
    from optim.instances.gate import MAX_MAGNITUDE

    raw = df[column]
    if pd.api.types.is_bool_dtype(raw.dtype):
        raise _first_bad(column, raw, np.ones(len(raw), bool), "is a boolean, not a number")
    if raw.dtype == object and not df.attrs.get("text_cells"):
        is_bool = np.fromiter((type(v) is bool for v in raw.to_numpy()), bool, len(raw))
        if is_bool.any():
            raise _first_bad(column, raw, is_bool, "is a boolean, not a number")
    values = pd.to_numeric(raw, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    bad = ~np.isfinite(values)
    if bad.any():
        raise _first_bad(column, raw, bad, "is not a number; allowed: a finite number")
    big = np.abs(values) > MAX_MAGNITUDE
    if big.any():
        raise _first_bad(
            column, raw, big, f"is too large; allowed: at most {MAX_MAGNITUDE:.0e} in size"
        )
    if nonnegative and (values < 0).any():
        raise _first_bad(column, raw, values < 0, "is negative; allowed: >= 0")
    return values


def _ids(df: pd.DataFrame, column: str) -> np.ndarray:
    raw = df[column]
    codes, uniques = pd.factorize(raw, sort=False)  # check and strip each distinct id once
    names = np.array([str(u).strip() for u in uniques], dtype=object)
    missing = np.array([u == "" for u in uniques] + [True], dtype=bool)[codes]  # -1: NaN
    if missing.any():
        raise _first_bad(column, raw, missing, "is empty; allowed: an id")
    empty = names == ""
    if empty.any():
        raise _first_bad(column, raw, empty[codes], "is blank; allowed: an id")
    return names[codes]


def _dates(df: pd.DataFrame, window: bool = True, dayfirst: bool | None = None) -> pd.Series:
    raw = df["date"]
    if pd.api.types.is_datetime64_any_dtype(raw):
        parsed = raw
    else:
        parsed = parse_dates(raw, dayfirst=day_first(raw) if dayfirst is None else dayfirst)
        if not pd.api.types.is_datetime64_any_dtype(parsed):  # mixed time zones
            # compared one by one: a Series compared with None is unequal everywhere, which
            # blamed the first line itself when it had no zone
            zones = [_zone(v) for v in parsed]
            bad = np.array([z != zones[0] for z in zones]) | parsed.isna().to_numpy()
            pos = int(np.flatnonzero(bad)[0])
            raise _first_bad(
                "date",
                raw,
                bad,
                f"has time zone {zones[pos]} while the first line ({shown_line(raw, 0)}) "
                f"has {zones[0]}; allowed: one time zone (or none) for every line",
            )
    bad = parsed.isna().to_numpy()
    if bad.any():
        raise _first_bad("date", raw, bad, "is not a date; allowed: a date such as 2025-03-31")
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)
    if window:
        check_date_window(raw, parsed)
    return parsed.reset_index(drop=True)


_NUMERIC_DAY = re.compile(r"\s*(\d{1,2})[/.](\d{1,2})[/.]\d{2,4}(?!\d)")


def day_first(*columns: pd.Series) -> bool:
    """Whether a file writes numeric dates day first (``13/05/2023``), from its date
    ``columns`` (``attrs["name"]``: the column's name, default ``date``). Each date was read
    alone, month first where it could be: a European history's ``07/05/2023`` became
    5 July and its ``13/05/2023`` 13 May, silently. One order for the whole file: day first
    when a date has a first number above 12, month first when one has its second above 12;
    refused when the file shows both, and when it has numeric dates but shows neither (one
    ``07/03/2024`` among ISO dates was read as 3 July, exit 0)."""
    day = month = first = None  # (value, column, position) of the evidence
    for raw in columns:
        values = pd.unique(raw.to_numpy(dtype=object))
        for value in values:
            m = _NUMERIC_DAY.match(value) if isinstance(value, str) else None
            if m is None:
                continue
            if first is None:
                first = (value, raw)
            if day is None and int(m.group(1)) > 12:
                day = (value, raw)
            if month is None and int(m.group(2)) > 12:
                month = (value, raw)
    if day is not None and month is not None:
        (dv, draw), (mv, mraw) = day, month
        where = shown_line(draw, int(np.flatnonzero((draw == dv).to_numpy())[0]))
        raise _first_bad(
            mraw.attrs.get("name", "date"),
            mraw,
            (mraw == mv).to_numpy(),
            f"is written month first while {dv!r} ({where}) is day first; allowed: one "
            "order of day and month in the file (or dates such as 2025-03-31)",
        )
    if first is not None and day is None and month is None:
        value, raw = first
        m = _NUMERIC_DAY.match(value)
        assert m is not None
        a, b = int(m.group(1)), int(m.group(2))
        raise _first_bad(
            raw.attrs.get("name", "date"),
            raw,
            (raw == value).to_numpy(),
            f"may be day {a} of month {b} or month {a} day {b}: no date of the file shows "
            "which number is the day; allowed: dates such as 2025-03-31, or numeric dates "
            "of which one has a day above 12",
        )
    return day is not None


def _zone(value: object) -> str:
    """A parsed date's time zone as a planner reads it: ``UTC+02:00``, or ``none``."""
    zone = getattr(value, "tzinfo", None)
    return "none" if zone is None else str(zone)


def shown_line(raw: pd.Series, pos: int) -> str:
    """Where row ``pos`` of a history column is: ``line N`` of a CSV file, else ``row N``."""
    label = raw.index[pos]
    if isinstance(label, np.integer):
        label = int(label)
    source = raw.attrs.get("source")
    return f"line {label}" if source and _is_csv(source) else f"row {label!r}"


def parse_dates(raw: pd.Series, *, dayfirst: bool = False) -> pd.Series:
    """Dates as written → timestamps (NaT where unparsable); ISO dates take the fast
    vectorised path, other spellings are parsed one by one (``dayfirst``: ``07/05/2023`` is
    7 May). Mixed time zones give an object series (refused by the caller with the line)."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # mixed offsets: refused by the caller with the line
        try:
            parsed = pd.to_datetime(raw, errors="coerce", format="ISO8601")
        except (ValueError, TypeError, OverflowError):
            parsed = None
        if parsed is not None and pd.api.types.is_datetime64_any_dtype(parsed):
            missing = parsed.isna().to_numpy()
            if missing.any():  # only then look at the cells as written (10^6 lines: 0.2 s)
                missing &= raw.notna().to_numpy()
                if raw.dtype == object:
                    missing &= (raw != "").to_numpy()
            if not missing.any():
                return parsed
            if parsed.dt.tz is None:
                redo = pd.to_datetime(
                    raw[missing], errors="coerce", format="mixed", dayfirst=dayfirst
                )
                if pd.api.types.is_datetime64_any_dtype(redo) and redo.dt.tz is None:
                    parsed = parsed.copy()
                    parsed[missing] = redo
                    return parsed
        try:
            return pd.to_datetime(raw, errors="coerce", format="mixed", dayfirst=dayfirst)
        except (ValueError, TypeError, OverflowError):
            return pd.Series([pd.to_datetime(v, errors="coerce") for v in raw], index=raw.index)


def stray_dates(days: np.ndarray) -> tuple[np.ndarray, int, pd.Timestamp] | None:
    """Where ``days`` (``datetime64[D]``) have a gap of more than :data:`MAX_GAP_DAYS`
    between consecutive dates: the rows on the side of the largest gap with fewer rows (the
    stray ones), the gap in days and the nearest date on the other side; None without one."""
    uniq, counts = np.unique(days, return_counts=True)
    if len(uniq) < 2:
        return None
    gaps = np.diff(uniq).astype(np.int64)
    k = int(np.argmax(gaps))
    if gaps[k] <= MAX_GAP_DAYS:
        return None
    later = counts[k + 1 :].sum() <= counts[: k + 1].sum()  # the later side has fewer rows
    stray = days > uniq[k] if later else days <= uniq[k]
    return stray, int(gaps[k]), pd.Timestamp(uniq[k] if later else uniq[k + 1])


def check_date_window(raw: pd.Series, parsed: pd.Series) -> None:
    """Refuse a line dated far away from the rest (more than :data:`MAX_GAP_DAYS` between
    consecutive order dates) and histories longer than :data:`MAX_SPAN_YEARS`."""
    days = parsed.to_numpy(dtype="datetime64[D]")
    uniq = np.unique(days)
    if len(uniq) < 2:
        return
    gap = stray_dates(days)
    if gap is not None:
        stray, days_away, other = gap
        raise _first_bad(
            "date",
            raw,
            stray,
            f"lies {days_away:,} days away from the other order lines (nearest "
            f"{other.date()}); allowed: no gap of more than {MAX_GAP_DAYS} days "
            "between consecutive order dates (a typo in the year?)",
        )
    span = int((uniq[-1] - uniq[0]).astype(np.int64))
    if span > MAX_SPAN_YEARS * 366:
        raise _first_bad(
            "date",
            raw,
            days == uniq[0],
            f"starts a history of {span / 365.25:.0f} years; allowed: at most "
            f"{MAX_SPAN_YEARS} years of order lines",
        )


def _check_columns(columns: Iterable[str], source: str = "history") -> None:
    cols = set(columns)
    columns = list(columns)
    head = f"{source} line 1" if _is_csv(source) else source
    missing = [c for c in REQUIRED if c not in cols]
    if missing:
        raise InstanceError(
            f"{head}: missing column(s) {', '.join(missing)}; required: "
            f"{', '.join(REQUIRED)} and one of unit_price or revenue (has: "
            f"{', '.join(map(str, columns))}).",
            field=missing[0],
        )
    if "unit_price" not in cols and "revenue" not in cols:
        raise InstanceError(
            f"{head}: missing column unit_price (or revenue); one of them gives "
            "the value of each line.",
            field="unit_price",
        )
    # a column beyond these was dropped: a misspelt `ordr` made every customer's lines of a
    # day one order (C0043 fell from standard to transactional), exit 0; a DataFrame or a
    # parquet file is held to the same columns as a CSV file (`unitcost` was ignored there)
    unknown = [c for c in columns if c not in REQUIRED + OPTIONAL]
    if unknown:
        raise InstanceError(
            f"{head}: unknown column {unknown[0]!r}; allowed: {', '.join(REQUIRED)}, "
            f"{', '.join(OPTIONAL)} (a misspelt optional column would be ignored).",
            field=unknown[0],
        )


@dataclass(frozen=True)
class CheckedLines:
    """Order lines after validation, before any bucketing (:func:`check_lines`).

    Each array has one entry per input row, in input order; ``index`` is the input's index
    (CSV: the file line). ``order`` is None when the input has no order column.
    """

    index: pd.Index
    dates: pd.Series
    customer: np.ndarray
    item: np.ndarray
    location: np.ndarray
    channel: np.ndarray
    order: np.ndarray | None
    quantity: np.ndarray
    revenue: np.ndarray
    margin: np.ndarray
    has_margin: bool
    negative: np.ndarray


def check_lines(
    source: pd.DataFrame | str | Path,
    *,
    value_basis: str = "revenue",
    returns: str = "net",
    date_window: bool = True,
    dayfirst: bool | None = None,
) -> CheckedLines:
    """Validate order lines (columns, dates, numbers, ids) and return them parsed, each
    column once; :func:`prepare_history` buckets the result. Same errors and parameters
    as :func:`prepare_history`; ``dayfirst`` is the order of day and month decided for a
    set of files (a planning folder's history and orders: :func:`day_first`), else the
    file's own."""
    raw = load_history(source)
    source_name = raw.attrs.get("source", "history") if isinstance(raw, pd.DataFrame) else None
    if not isinstance(raw, pd.DataFrame) or raw.empty:
        raise InstanceError(f"{source_name or 'history'} has no order lines.", field="history")
    df = raw.copy(deep=False)  # the caller's frame keeps its columns and attrs
    df.columns = [str(c).strip().lower() for c in df.columns]
    if df.columns.duplicated().any():
        dup = sorted(set(df.columns[df.columns.duplicated()]))
        raise InstanceError(
            f"{source_name} has column {dup[0]!r} twice; allowed: each column once.",
            field=dup[0],
        )
    _check_columns(df.columns, source_name)
    df.attrs["source"] = source_name
    if value_basis == "margin" and "unit_cost" not in df.columns and "margin" not in df.columns:
        raise InstanceError(
            "value_basis='margin' needs a 'unit_cost' or 'margin' column in the history.",
            field="unit_cost",
        )

    dates = _dates(df, date_window, dayfirst)
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
        # strip each distinct channel once (10^6 lines name a handful); missing and blank
        # cells are "unspecified" (code -1 picks the last name)
        codes, uniques = pd.factorize(df["channel"], use_na_sentinel=True)
        names = [str(u).strip() or "unspecified" for u in uniques] + ["unspecified"]
        channel = np.array(names, dtype=object)[codes]
    else:
        channel = np.full(len(df), "unspecified", dtype=object)
    location = (
        _ids(df, "location") if "location" in df.columns else np.full(len(df), "all", dtype=object)
    )
    order = _ids(df, "order") if "order" in df.columns else None  # checked before item
    return CheckedLines(
        index=df.index,
        dates=dates,
        customer=customer,
        item=_ids(df, "item"),
        location=location,
        channel=channel,
        order=order,
        quantity=quantity,
        revenue=revenue,
        margin=margin,
        has_margin=has_margin,
        negative=negative,
    )


def prepare_history(
    source: pd.DataFrame | str | Path,
    *,
    period: str = "W",
    value_basis: str = "revenue",
    returns: str = "net",
    date_window: bool = True,
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
    date_window
        Refuse a line dated more than :data:`MAX_GAP_DAYS` away from the others (default).

    Returns
    -------
    History

    Raises
    ------
    InstanceError
        Missing column, unparsable date, non-numeric or negative price/cost, empty id, or a
        negative quantity under ``returns="reject"``; the message names the column and row.
    """
    c = check_lines(source, value_basis=value_basis, returns=returns, date_window=date_window)
    dates, quantity, negative, has_margin = c.dates, c.quantity, c.negative, c.has_margin
    order = c.order if c.order is not None else dates.dt.strftime("%Y-%m-%d").to_numpy()
    lines = pd.DataFrame(
        {
            "date": dates.to_numpy(),
            "period": dates.dt.to_period(period).dt.start_time.to_numpy(),
            "customer": c.customer,
            "item": c.item,
            "location": c.location,
            "channel": c.channel,
            "order": order,
            "quantity": quantity,
            "revenue": c.revenue,
            "margin": c.margin,
        },
        columns=LINE_COLUMNS,
    )

    report: dict[str, Any] = {
        "policy": returns,
        "negative_lines": int(negative.sum()),
        "negative_quantity": abs(float(quantity[negative].sum())),  # (-0.0 read "quantity -0")
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
