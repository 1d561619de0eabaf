"""Goods receipts (``receipts.csv``): the data lead times are learned from.

One row per receipt::

    lane,order_date,receipt_date,quantity
    Plant,2026-01-05,2026-01-19,120

``lane`` names a supply lane: a stage id of the planning network template (the stage whose
lead time the receipts measure) or a supplier. An optional ``item`` column makes the lane
item-specific (``item@lane`` in the per-item network). Dates are ISO (``YYYY-MM-DD``);
``quantity`` > 0. The lead time of a receipt is ``receipt_date - order_date`` in days.

:func:`read_receipts` validates every row and raises :class:`~optim.errors.InstanceError`
naming the file, the line as the planner sees it in a spreadsheet (the header is line 1), the
field and what is allowed.
"""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from optim.errors import InstanceError

__all__ = ["REQUIRED", "read_receipts", "validate_receipts"]

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
    path = Path(path)
    try:
        frame = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig")
    except (OSError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise InstanceError(
            f"{path.name}: cannot be read as CSV ({exc}).", field=path.name
        ) from None
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
    if frame.empty:
        raise InstanceError(f"{name}: no receipts; give at least one row.", field=name)
    lines = pd.RangeIndex(2, 2 + len(frame))  # header is line 1
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
    if bool(bad.any()):
        k = int(bad.to_numpy().argmax())
        raise InstanceError(
            f"{name} line {lines[k]} (lane {out['lane'].iloc[k]!r}): quantity "
            f"{frame['quantity'].iloc[k]!r} is not allowed; it must be a number > 0.",
            field="quantity",
        )
    out["quantity"] = qty.to_numpy(dtype=float)
    days = (out["receipt_date"] - out["order_date"]).dt.days.astype(float)
    early = days < 0
    if bool(early.any()):
        k = int(early.to_numpy().argmax())
        raise InstanceError(
            f"{name} line {lines[k]} (lane {out['lane'].iloc[k]!r}): receipt_date "
            f"{out['receipt_date'].iloc[k]:%Y-%m-%d} is before order_date "
            f"{out['order_date'].iloc[k]:%Y-%m-%d}; a receipt cannot precede its order "
            "(swap the dates or fix the row).",
            field="receipt_date",
        )
    out["lead_time_days"] = days.to_numpy()
    return out
