r"""Feedback from what happened: achieved service per customer segment × item class against
the policy's targets (``optim review SHIPMENTS``, and the planning report when the folder
holds ``shipments.csv``).

Input: order lines with what was shipped — ``customer, item, date`` (order date),
``quantity`` (ordered), ``shipped_quantity`` and ``ship_date`` (empty when nothing shipped);
optional ``due_date`` (the promise; default: the order date + the cell's
``max_service_time_days`` from the policy table), ``segment`` and ``abc`` (else taken from a
segmentation). Read through the input gate: errors name the file, the line and the column.

Measures per (customer segment, item class) over the window — the last ``window`` weeks of
order dates up to the latest date in the file; lines not yet due at that date and not
shipped complete are left out (they may still ship in time):

* ``fill_rate`` = quantity shipped by the due date / quantity ordered (quantity service
  within the promise, shipped quantity capped at the ordered one);
* ``otif`` = lines shipped complete by the due date / lines;
* both compared with the cell's target (the policy's combined ``service_level``);
* **trend**: the same fill rate per ``bucket``-week bucket of order dates and its
  least-squares slope (points per bucket): ``worsening`` below −0.5, ``improving`` above
  +0.5, else ``stable``.

Flag and recommendation (rule, in this order) for a cell whose fill rate or OTIF is below
its target:

1. **re-segment** when one customer carries at least half of the cell's missed quantity
   (and the cell has other customers): that customer's orders do not fit its segment;
2. **change the policy** when the fill-rate gap is 5 points or more, or the trend is
   worsening: more stock at the same policy will not close it (e.g. base stock instead of
   min/max or make-to-order, a shorter review period);
3. **raise the service level** otherwise: plan the cell at its target plus the observed gap
   (at most 99.9 %).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optim.errors import InstanceError
from optim.segmentation.policy import PolicyTable

__all__ = ["ReviewResult", "read_shipments", "review"]

REQUIRED = ("customer", "item", "date", "quantity", "shipped_quantity", "ship_date")
OPTIONAL = ("due_date", "segment", "abc", "location")
TABLE_COLUMNS = [
    "segment",
    "abc",
    "lines",
    "ordered",
    "shipped_on_time",
    "fill_rate",
    "otif",
    "target",
    "fill_gap",
    "slope",
    "trend",
    "below_target",
    "recommendation",
]
TREND_COLUMNS = [
    "segment",
    "abc",
    "bucket",
    "bucket_start",
    "lines",
    "ordered",
    "fill_rate",
    "otif",
]
GAP_FOR_POLICY = 0.05
"""Fill-rate gap (5 points) from which the policy, not the level, is to change."""
TREND_STABLE = 0.005
"""Slope (points per bucket) within which the trend is stable."""
RESEGMENT_SHARE = 0.5
"""Share of a cell's missed quantity that makes one customer a re-segmentation case."""


@dataclass(frozen=True)
class ReviewResult:
    """Result of :func:`review`.

    Attributes
    ----------
    table
        Per (segment, abc): ``lines, ordered, shipped_on_time, fill_rate, otif, target,
        fill_gap, slope, trend, below_target, recommendation``.
    trend
        Per (segment, abc, bucket): ``bucket_start, lines, ordered, fill_rate, otif``.
    notes
        What was left out and why.
    info
        ``window_start``, ``as_of``, ``window_weeks``, ``bucket_weeks``.
    """

    table: pd.DataFrame
    trend: pd.DataFrame
    notes: tuple[str, ...] = ()
    info: dict[str, Any] = field(default_factory=dict)

    def write(self, out: str | Path) -> Path:
        """``review.csv`` and ``review_trend.csv`` into folder ``out`` (numbers by
        :mod:`optim.precision`)."""
        from optim.precision import write_csv

        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        write_csv(self.table, folder / "review.csv")
        write_csv(self.trend, folder / "review_trend.csv")
        return folder

    def summary(self) -> str:
        """A few lines for a terminal."""
        info = self.info
        lines = [
            f"review: {info['window_start']} .. {info['as_of']} ({info['window_weeks']} weeks, "
            f"trend per {info['bucket_weeks']} weeks)"
        ]
        for r in self.table.to_dict("records"):
            flag = "BELOW" if r["below_target"] else "ok   "
            lines.append(
                f"  {flag} {r['segment']:<14} {r['abc']:<2} fill {r['fill_rate']:6.1%}  OTIF "
                f"{r['otif']:6.1%}  target {r['target']:6.1%}  {r['trend']:<9}"
                + (f"  → {r['recommendation']}" if r["recommendation"] else "")
            )
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _bad(name: str, frame: pd.DataFrame, mask: pd.Series, col: str, allowed: str) -> None:
    from optim.instances import gate

    if mask.any():
        line: Any = mask.idxmax()
        raise InstanceError(
            f"{name} line {line}, column {col}: {gate.shown(frame[col].loc[line])}; "
            f"allowed: {allowed}.",
            field=f"{name}.{col}",
        )


def read_shipments(path: str | Path, name: str | None = None) -> pd.DataFrame:
    """Validated shipment lines (module docstring) through the input gate: dates parsed,
    ids stripped, quantities numbers; the index is the file line."""
    from optim.instances import gate
    from optim.segmentation.history import day_first, parse_dates

    name = name or ("standard input" if str(path) == "-" else Path(path).name)
    raw = gate.read_csv_text(path, name)
    missing = [c for c in REQUIRED if c not in raw.columns]
    if missing:
        raise InstanceError(
            f"{name} line 1: missing column(s) {', '.join(missing)}; required: "
            f"{', '.join(REQUIRED)} (optional: {', '.join(OPTIONAL)}).",
            field=f"{name}.{missing[0]}",
        )
    # a misspelt optional column was dropped: `due date` reviewed every line against the
    # policy's promise instead (fill 96.7 % read as 33.3 %), exit 0
    unknown = [str(c) for c in raw.columns if c not in REQUIRED + OPTIONAL]
    if unknown:
        raise InstanceError(
            f"{name} line 1: unknown column {unknown[0]!r}; allowed: {', '.join(REQUIRED)}, "
            f"{', '.join(OPTIONAL)}.",
            field=f"{name}.{unknown[0]}",
        )
    if raw.empty:
        raise InstanceError(f"{name}: no order lines; allowed: one line per order line.", name)
    out = raw.copy()
    for col in ("customer", "item", "segment", "abc", "location"):
        if col in out.columns:
            _bad(name, raw, raw[col].isna(), col, "a non-empty id")
            out[col] = gate.strip_text(out[col])
    for col in ("quantity", "shipped_quantity"):
        values = pd.to_numeric(raw[col], errors="coerce")
        ok = values.notna() & (values >= 0) & (values <= gate.MAX_MAGNITUDE)
        _bad(name, raw, ~ok, col, f"a number >= 0 (at most {gate.MAX_MAGNITUDE:.0e})")
        out[col] = values.astype(float)
    # one order of day and month for the whole file: a column that shows none follows the
    # others (each column decided alone read ship dates 03/02/2025 month first beside order
    # dates 29/01/2025); a date the file's order cannot read is refused below, by line
    texts = {}
    for col in ("date", "ship_date", "due_date"):
        if col in raw.columns:
            texts[col] = raw[col].copy()
            texts[col].attrs.update(source=name, name=col)
    dayfirst = day_first(*texts.values())
    for col, required in (("date", True), ("ship_date", False), ("due_date", False)):
        if col not in texts:
            continue
        text = texts[col]
        parsed = parse_dates(text.fillna(""), dayfirst=dayfirst)
        if getattr(parsed.dt, "tz", None) is not None:
            parsed = parsed.dt.tz_localize(None)
        given = text.notna() & (text.astype(str).str.strip() != "")
        _bad(name, raw, given & parsed.isna(), col, "a date such as 2026-03-02")
        if required:
            _bad(name, raw, ~given, col, "a date such as 2026-03-02 (every line has one)")
        out[col] = parsed.dt.normalize()
    shipped = out["shipped_quantity"] > 0
    _bad(
        name,
        raw,
        shipped & out["ship_date"].isna(),
        "ship_date",
        "the date of the shipment when shipped_quantity > 0",
    )
    # the review's window ends at the latest date: one stray year (2099) would leave every
    # line outside it; order dates follow the history's rule, shipments the same distance
    from optim.segmentation.history import MAX_GAP_DAYS, check_date_window

    dates = raw["date"].copy()
    dates.attrs["source"] = name
    check_date_window(dates, out["date"])
    latest = out["date"].max() + pd.Timedelta(days=MAX_GAP_DAYS)
    for col in ("ship_date", "due_date"):  # (a due date of 2020 made every line late)
        if col not in out.columns:
            continue
        when = out[col].notna()
        _bad(name, raw, when & (out[col] < out["date"]), col, "a date on or after the order date")
        _bad(
            name,
            raw,
            when & (out[col] > latest),
            col,
            f"a date at most {MAX_GAP_DAYS} days after the latest order date "
            f"({(latest - pd.Timedelta(days=MAX_GAP_DAYS)).date()}; a typo in the year?)",
        )
    out.attrs["name"] = name  # for review()'s messages
    return out


def _trend(values: np.ndarray) -> float:
    ok = np.isfinite(values)
    if ok.sum() < 2:
        return float("nan")
    x = np.arange(len(values))[ok]
    return float(np.polyfit(x, values[ok], 1)[0])


def _label(slope: float) -> str:
    if slope != slope:
        return "n/a"
    if slope < -TREND_STABLE:
        return "worsening"
    return "improving" if slope > TREND_STABLE else "stable"


def review(
    shipments: pd.DataFrame,
    policy: PolicyTable,
    *,
    segment_of: pd.Series | dict[str, str] | None = None,
    class_of: pd.Series | dict[str, str] | None = None,
    window: int = 13,
    bucket: int = 4,
) -> ReviewResult:
    """Achieved fill rate and OTIF per customer segment × item class (module docstring).

    Parameters
    ----------
    shipments
        Lines from :func:`read_shipments`.
    policy
        The policy table (targets and promises of each cell).
    segment_of, class_of
        Customer → segment and item → ABC class; default the file's ``segment`` / ``abc``
        columns.
    window, bucket
        Weeks reviewed (ending at the latest date in the file) and weeks per trend bucket.
    """
    if window < 1 or bucket < 1:
        raise InstanceError(
            f"window ({window}) and bucket ({bucket}) must be whole weeks >= 1.", "window"
        )
    notes: list[str] = []
    lines = shipments.copy()
    name = shipments.attrs.get("name", "shipments")
    for col, dimension in (("segment", "customer"), ("abc", "item")):
        if col in lines.columns and (segment_of if col == "segment" else class_of) is None:
            # the file's own segment / abc: a row of the policy of that dimension (an item
            # class B in the segment column was reviewed as a cell "B B"; 'Strategic' said
            # "policy has no row for segment" naming no file, line or column)
            allowed = sorted(n for n, r in policy.segments.items() if r.dimension == dimension)
            wrong = lines[col].notna() & ~lines[col].isin(allowed)
            if wrong.any():
                line = wrong.idxmax()
                raise InstanceError(
                    f"{name} line {line}, column {col}: {lines.at[line, col]!r} is not "
                    f"{'a customer segment' if col == 'segment' else 'an item class'} of the "
                    f"policy; allowed: {', '.join(allowed)}.",
                    field=col,
                )
    for col, mapping, what in (("segment", segment_of, "customer"), ("abc", class_of, "item")):
        if mapping is not None:
            lines[col] = lines[what].map(pd.Series(mapping, dtype=object))
        elif col not in lines.columns:
            raise InstanceError(
                f"shipments: no {col!r} column and no segmentation to take it from; give the "
                f"column or a segmentation (--segmentation).",
                field=col,
            )
        unknown = lines[col].isna()
        if unknown.all():  # nothing left to review: the segmentation is another data set's
            first = lines.index[0]
            raise InstanceError(
                f"{name} line {first}, column {what}: {lines.at[first, what]!r} has no {col} "
                f"in the segmentation, nor has any {what} of the file's {len(lines):,} "
                f"line(s), so no line is left to review; allowed: the segmentation of these "
                f"customers and items (--segmentation), or {col} columns in the file.",
                field=what,
            )
        if unknown.any():
            notes.append(
                f"{int(unknown.sum())} line(s) of {lines.loc[unknown, what].nunique()} "
                f"{what}(s) without a {col} in the segmentation are left out (e.g. "
                f"{lines.loc[unknown, what].iloc[0]!r})."
            )
            lines = lines[~unknown]
    dates = [lines["date"].max(), lines["ship_date"].max()]
    as_of = max(d for d in dates if pd.notna(d))
    start = as_of - pd.Timedelta(weeks=window) + pd.Timedelta(days=1)
    lines = lines[lines["date"] >= start]
    cells = {
        (a, s): policy.combine_rows(str(a), str(s))
        for a, s in lines[["abc", "segment"]].drop_duplicates().itertuples(index=False)
    }
    key = list(zip(lines["abc"], lines["segment"], strict=True))
    target = np.array([cells[k]["service_level"] for k in key], dtype=float)
    promise = np.array([cells[k]["max_service_time_days"] for k in key], dtype=float)
    due = lines["date"] + pd.to_timedelta(promise, unit="D")
    if "due_date" in lines.columns:
        due = lines["due_date"].where(lines["due_date"].notna(), due)
    lines = lines.assign(target=target, due=due)
    complete = lines["ship_date"].notna() & (lines["shipped_quantity"] >= lines["quantity"])
    open_ = (lines["due"] > as_of) & ~complete  # may still ship in time
    if open_.any():
        notes.append(f"{int(open_.sum())} line(s) not yet due on {as_of.date()} are left out.")
        lines = lines[~open_]
    if lines.empty:  # (an empty table and no word: --window 1 on a file's last week)
        notes.append(
            f"no line is left to review in the {window} week(s) to {as_of.date()}: the table is "
            "empty (a longer --window reaches earlier lines)."
        )
    elif window < bucket:
        notes.append(
            f"the {window}-week window holds no whole {bucket}-week trend bucket: no trend "
            "(a --bucket of at most the window gives one)."
        )
    over = lines["shipped_quantity"] > lines["quantity"]
    if over.any():  # (capped without a word: 40 shipped of 4 ordered read as a full line)
        first = lines[over].iloc[0]
        notes.append(
            f"{int(over.sum())} line(s) shipped more than ordered count as the ordered quantity "
            f"(e.g. {first['customer']!r}, {first['item']!r} ordered {first['date'].date()}: "
            f"{first['shipped_quantity']:g} shipped of {first['quantity']:g})."
        )
    on_time = lines["ship_date"].notna() & (lines["ship_date"] <= lines["due"])
    good = np.where(on_time, np.minimum(lines["shipped_quantity"], lines["quantity"]), 0.0)
    lines = lines.assign(
        good=good,
        missed=lines["quantity"] - good,
        otif=on_time & (lines["shipped_quantity"] >= lines["quantity"]),
        bucket=((lines["date"] - start).dt.days // (7 * bucket)).astype(int),
    )
    n_buckets = int(np.ceil(window / bucket))
    rows, trend_rows = [], []
    for (seg, abc), g in lines.groupby(["segment", "abc"], sort=True):
        ordered = float(g["quantity"].sum())
        fill = float(g["good"].sum()) / ordered if ordered > 0 else float("nan")
        otif = float(g["otif"].mean())
        tgt = float(g["target"].iloc[0])
        per = []
        for b in range(n_buckets):
            gb = g[g["bucket"] == b]
            qb = float(gb["quantity"].sum())
            fb = float(gb["good"].sum()) / qb if qb > 0 else float("nan")
            per.append(fb)
            trend_rows.append(
                {
                    "segment": seg,
                    "abc": abc,
                    "bucket": b,
                    "bucket_start": (start + pd.Timedelta(weeks=b * bucket)).date().isoformat(),
                    "lines": len(gb),
                    "ordered": qb,
                    "fill_rate": fb,
                    "otif": float(gb["otif"].mean()) if len(gb) else float("nan"),
                }
            )
        slope = _trend(np.array(per))
        below = fill < tgt or otif < tgt
        rec = ""
        if below:
            gap = max(tgt - fill, 0.0)
            by_cust = g.groupby("customer")["missed"].sum()
            top = by_cust.idxmax() if len(by_cust) else None
            share = float(by_cust.max() / by_cust.sum()) if by_cust.sum() > 0 else 0.0
            if top is not None and len(by_cust) > 1 and share >= RESEGMENT_SHARE:
                rec = (
                    f"re-segment: customer {top} carries {share:.0%} of the missed quantity; "
                    f"its orders do not fit segment {seg}"
                )
            elif gap >= GAP_FOR_POLICY or _label(slope) == "worsening":
                why = f"gap {gap:.1%}" if gap >= GAP_FOR_POLICY else "worsening trend"
                rec = (
                    f"change the policy of {abc} × {seg} ({why}): e.g. base stock instead of "
                    "min/max or make-to-order, a shorter review period"
                )
            else:
                new = min(0.999, tgt + max(gap, tgt - otif))
                rec = f"raise the service level of {abc} × {seg} from {tgt:.1%} to {new:.1%}"
        rows.append(
            {
                "segment": seg,
                "abc": abc,
                "lines": len(g),
                "ordered": ordered,
                "shipped_on_time": float(g["good"].sum()),
                "fill_rate": fill,
                "otif": otif,
                "target": tgt,
                "fill_gap": fill - tgt,
                "slope": slope,
                "trend": _label(slope),
                "below_target": below,
                "recommendation": rec,
            }
        )
    info = {
        "window_start": start.date().isoformat(),
        "as_of": as_of.date().isoformat(),
        "window_weeks": window,
        "bucket_weeks": bucket,
    }
    return ReviewResult(
        pd.DataFrame(rows, columns=TABLE_COLUMNS),
        pd.DataFrame(trend_rows, columns=TREND_COLUMNS),
        tuple(notes),
        info,
    )
