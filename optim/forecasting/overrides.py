"""The planner's ``forecast_overrides.csv``: collaborative forecasts replacing statistical ones.

Columns: the forecast's ``by`` keys (e.g. ``item, segment, location``), ``week`` (any date
inside the forecast week; it is read as that week) and ``forecast`` (units, >= 0). Each row
replaces the statistical forecast of that series and week; its interval keeps the
statistical interval's offsets around the new value (``lo`` floored at 0) and ``method``
becomes ``override``.

Errors name the file, the line as the planner sees it (the header is line 1) and the field:
a missing column, a series the history does not have, a week outside the forecast horizon,
a forecast that is not a number >= 0, or the same series and week twice.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from optim.errors import InstanceError
from optim.instances.gate import MAX_MAGNITUDE, NUMERAL, iso_day

__all__ = ["apply_overrides", "read_overrides"]


def read_overrides(source: pd.DataFrame | str | Path) -> tuple[pd.DataFrame, str]:
    """The overrides table (all columns as text) and the name errors should use."""
    if isinstance(source, pd.DataFrame):
        frame, name = source.astype(str), "overrides"
    else:
        from optim.instances import gate

        path = Path(source)
        name = "standard input" if str(path) == "-" else path.name
        if str(path) != "-" and not path.is_file():
            raise InstanceError(f"overrides file {str(path)!r} does not exist.", "overrides")
        # through the input gate: encoding, ragged rows and the header checked; every cell
        # as written ("" when empty); the index is the file line (header = 1)
        frame = gate.read_csv_text(path, name, None).fillna("")
        return frame, name
    frame = frame.copy()
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    frame.index = pd.RangeIndex(2, 2 + len(frame))
    return frame, name


def apply_overrides(
    forecast: pd.DataFrame,
    source: pd.DataFrame | str | Path,
    keys: list[str],
    weeks: np.ndarray,
) -> tuple[pd.DataFrame, int]:
    """Replace forecasts by the overrides; returns the new frame and the number replaced."""
    frame, name = read_overrides(source)
    missing = [c for c in (*keys, "week", "forecast") if c not in frame.columns]
    if missing:
        raise InstanceError(
            f"{name} line 1: missing column(s) {', '.join(missing)}; needs "
            f"{', '.join([*keys, 'week', 'forecast'])}.",
            field=missing[0],
        )
    # a column past these was dropped: a `customer` column under the default keys, or a
    # comment, without a word
    extra = [str(c) for c in frame.columns if c not in (*keys, "week", "forecast")]
    if extra:
        raise InstanceError(
            f"{name} line 1: unknown column {extra[0]!r}; allowed: "
            f"{', '.join([*keys, 'week', 'forecast'])} (the forecast's --by keys, week, "
            "forecast).",
            field=extra[0],
        )
    if frame.empty:
        return forecast, 0
    for k in keys:
        frame[k] = frame[k].astype(str).str.strip()
    week_set = set(weeks.tolist())
    known = {k: set(forecast[k].astype(str)) for k in keys}
    series = set(map(tuple, forecast[keys].astype(str).to_numpy().tolist()))
    period_len = pd.Timestamp(weeks[1]) - pd.Timestamp(weeks[0]) if len(weeks) > 1 else None
    rows: dict[tuple[str, ...], float] = {}
    for line, rec in zip(frame.index, frame.to_dict("records"), strict=True):
        key = tuple(str(rec[k]) for k in keys)
        for k, v in zip(keys, key, strict=True):
            if v not in known[k]:
                raise InstanceError(
                    f"{name} line {line}: {k} {v!r} has no forecast series (not in the "
                    "order history).",
                    field=k,
                )
        if key not in series:
            raise InstanceError(
                f"{name} line {line}: series {dict(zip(keys, key, strict=True))} has no "
                "forecast (that combination has no order lines).",
                field=",".join(keys),
            )
        week = _week_of(rec["week"], weeks, period_len)
        if week not in week_set:
            raise InstanceError(
                f"{name} line {line}: week {rec['week']!r} is not a forecast week; allowed: "
                f"{weeks[0]} .. {weeks[-1]} (one of the {len(weeks)} forecast weeks).",
                field="week",
            )
        text = str(rec["forecast"]).strip()  # a numeral: float() also took 1_000, ５ and ١٢
        value = float(text) if NUMERAL.fullmatch(text) else float("nan")
        if not np.isfinite(value) or value < 0 or value > MAX_MAGNITUDE:  # (1e308 was taken)
            raise InstanceError(
                f"{name} line {line}: forecast {rec['forecast']!r} must be a number >= 0 "
                f"(at most {MAX_MAGNITUDE:.0e}).",
                field="forecast",
            )
        if (*key, week) in rows:
            raise InstanceError(
                f"{name} line {line}: series {dict(zip(keys, key, strict=True))} week {week} "
                "is overridden twice.",
                field="week",
            )
        rows[(*key, week)] = value
    out = forecast.copy()
    at = pd.MultiIndex.from_frame(out[[*keys, "week"]].astype(str))
    pos = at.get_indexer(pd.MultiIndex.from_tuples(list(rows), names=[*keys, "week"]))
    new = np.array(list(rows.values()), dtype=float)
    shift = new - out["forecast"].to_numpy()[pos]
    out.loc[pos, "forecast"] = new
    out.loc[pos, "lo"] = np.maximum(out["lo"].to_numpy()[pos] + shift, 0.0)
    out.loc[pos, "hi"] = out["hi"].to_numpy()[pos] + shift
    out.loc[pos, "method"] = "override"
    return out, len(rows)


def _week_of(text: str, weeks: np.ndarray, period_len: pd.Timedelta | None) -> str:
    """The forecast week a date falls in ('' when it is no date or outside every week)."""
    # a day written YYYY-MM-DD only: pandas read 08/07/2025 month first, and a time with
    # an offset ended as an internal error (comparing with the naive weeks)
    written = iso_day(str(text).strip())
    if written is None:
        return ""
    day = pd.Timestamp(written)
    starts = pd.to_datetime(pd.Index(weeks))
    if period_len is None:
        return str(weeks[0]) if day.normalize() == starts[0] else ""
    inside = (starts <= day) & (day < starts + period_len)
    return str(weeks[np.flatnonzero(inside)[0]]) if inside.any() else ""
