"""Goods receipts (``receipts.csv``): the data lead times are learned from.

One row per receipt::

    lane,order_date,receipt_date,quantity
    Plant,2026-01-05,2026-01-19,120

``lane`` names a supply lane: a stage id of the planning network template (the stage whose
lead time the receipts measure) or a supplier. An optional ``item`` column makes the lane
item-specific (``item@lane`` in the per-item network). Dates are ISO (``YYYY-MM-DD``);
``quantity`` > 0 (at most 1e12). The lead time of a receipt is ``receipt_date -
order_date`` in days, at most :data:`MAX_LEAD_TIME_DAYS` (a receipt dated a century late is a
typo, not a lead time).

:func:`read_receipts` validates every row and raises :class:`~optim.errors.InstanceError`
naming the file, the line as the planner sees it in a spreadsheet (the header is line 1), the
field and what is allowed.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from optim.errors import InstanceError
from optim.instances.gate import MAX_MAGNITUDE

__all__ = ["MAX_LEAD_TIME_DAYS", "REQUIRED", "read_receipts", "validate_receipts"]

MAX_LEAD_TIME_DAYS = 366
"""Longest lead time a receipt may show (the history's stated window is also 366 days)."""

REQUIRED = ("lane", "order_date", "receipt_date", "quantity")


def read_receipts(path: str | Path) -> pd.DataFrame:
    """Read and validate ``receipts.csv``.

    Returns
    -------
    pandas.DataFrame
        ``lane`` (str), optional ``item`` (str), ``order_date``, ``receipt_date``
        (``datetime64``), ``quantity`` (float), ``lead_time_days`` (float) and ``line`` (the
        row's line number in the file).
    """
    from optim.instances import gate

    path = Path(path)
    # through the input gate: an empty, binary or non-UTF-8 file, a repeated column name and
    # a ragged row are refused with the line; the index is the file line (blank lines kept)
    frame = gate.read_csv_text(path, path.name, None).fillna("")
    return validate_receipts(frame, path.name)


def validate_receipts(frame: pd.DataFrame, name: str = "receipts.csv") -> pd.DataFrame:
    """Validate raw receipt rows (strings as read); see :func:`read_receipts`."""
    frame = frame.rename(columns=lambda c: str(c).strip())
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise InstanceError(
            f"{name}: column(s) {missing} missing; a receipt needs {', '.join(REQUIRED)} "
            "(and optionally item).",
            field=missing[0],
        )
    unknown = [c for c in frame.columns if c not in (*REQUIRED, "item")]
    if unknown:  # (a misspelt optional item column was dropped: lanes learned for every item)
        raise InstanceError(
            f"{name} line 1: unknown column {unknown[0]!r} (a misspelt column would be "
            f"ignored); allowed: {', '.join((*REQUIRED, 'item'))}.",
            field=unknown[0],
        )
    if frame.empty:
        raise InstanceError(f"{name}: no receipts; give at least one row.", field=name)
    # the file line of each row (header = 1): the gate's index, else rows counted from line 2
    lines = frame.index if frame.attrs.get("text_cells") else pd.RangeIndex(2, 2 + len(frame))
    out = pd.DataFrame({"line": lines.to_numpy()})
    lane = frame["lane"].astype(str).str.strip()
    bad = lane == ""
    if bool(bad.any()):
        k = int(bad.to_numpy().argmax())
        raise InstanceError(f"{name} line {lines[k]}: lane is empty; name a lane.", field="lane")
    out["lane"] = lane.to_numpy()
    if "item" in frame.columns:
        out["item"] = frame["item"].astype(str).str.strip().to_numpy()
    for col in ("order_date", "receipt_date"):
        raw = frame[col].astype(str).str.strip()
        parsed = pd.to_datetime(raw, format="%Y-%m-%d", errors="coerce")
        bad = parsed.isna()
        if bool(bad.any()):
            k = int(bad.to_numpy().argmax())
            raise InstanceError(
                f"{name} line {lines[k]} (lane {out['lane'].iloc[k]!r}): {col} "
                f"{raw.iloc[k]!r} is not a date; write it as YYYY-MM-DD.",
                field=col,
            )
        out[col] = parsed.to_numpy()
    qty = pd.to_numeric(frame["quantity"].astype(str).str.strip(), errors="coerce")
    bad = ~(qty > 0) | ~qty.map(lambda v: math.isfinite(v) if v == v else False)
    bad |= qty > MAX_MAGNITUDE
    if bool(bad.any()):
        k = int(bad.to_numpy().argmax())
        raise InstanceError(
            f"{name} line {lines[k]} (lane {out['lane'].iloc[k]!r}): quantity "
            f"{frame['quantity'].iloc[k]!r} is not allowed; it must be a number > 0 (at most "
            "1e12).",
            field="quantity",
        )
    out["quantity"] = qty.to_numpy(dtype=float)
    days = (out["receipt_date"] - out["order_date"]).dt.days.astype(float)
    for bad, what in (
        (days < 0, "is before order_date {o}; a receipt cannot precede its order (swap the "
         "dates or fix the row)"),
        (days > MAX_LEAD_TIME_DAYS, "is {d:.0f} days after order_date {o}; allowed: a lead "
         f"time of at most {MAX_LEAD_TIME_DAYS} days (a mistyped year?)"),
    ):  # fmt: skip
        if bool(bad.any()):
            k = int(bad.to_numpy().argmax())
            o = f"{out['order_date'].iloc[k]:%Y-%m-%d}"
            raise InstanceError(
                f"{name} line {lines[k]} (lane {out['lane'].iloc[k]!r}): receipt_date "
                f"{out['receipt_date'].iloc[k]:%Y-%m-%d} "
                + what.format(o=o, d=days.iloc[k])
                + ".",
                field="receipt_date",
            )
    out["lead_time_days"] = days.to_numpy()
    return out
