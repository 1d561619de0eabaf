"""Vectorised validation of instance tables (pandas DataFrames from JSON, YAML or CSV).

Instances are columnar so that a weekly run of 10^6 demand lines validates in seconds. Every
check raises :class:`optim.errors.InstanceError` whose message names the table, the row, the
row's id, the field and what is allowed, e.g.::

    demand[3] (id 'L4'): quantity must be > 0, got -5
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import chain
from typing import Any

import numpy as np
import pandas as pd

from optim.errors import InstanceError
from optim.instances.gate import csv_record, text_hint


def _shown(value: Any) -> str:
    """``repr`` of a cell for messages, without numpy's type wrapper (``-1``, not
    ``np.int64(-1)``)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or (isinstance(value, float) and value != value):
        return "(empty)"  # a missing cell, never 'nan'
    return repr(value)


def _cell(frame: pd.DataFrame, col: str, row: int) -> str:
    """A cell for messages: a number of a CSV file's table (``attrs["csv_file"]``, rows
    from 0) as written there (``-40``, ``-40.0``, ``1e3``; the file is read again up to the
    row), whatever pandas made of its column; else :func:`_shown`."""
    value = frame[col].iloc[row]
    source = frame.attrs.get("csv_file")
    number = isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_))
    if source is not None and number and value == value:
        record = csv_record(source, row)
        k = list(frame.columns).index(col)
        if record is not None and k < len(record[1]):
            return record[1][k].strip()
    return _shown(value)


def _where(table: str, frame: pd.DataFrame, row: int, id_col: str | None) -> str:
    if id_col is not None and id_col in frame.columns:
        return f"{table}[{row}] ({id_col} {_shown(frame[id_col].iloc[row])})"
    return f"{table}[{row}]"


def to_frame(records: Any, table: str, columns: Sequence[str]) -> pd.DataFrame:
    """Turn a list of records (or a DataFrame) into a DataFrame; reject unknown columns."""
    if records is None:
        records = []
    if isinstance(records, pd.DataFrame):
        frame = records.reset_index(drop=True)
        twice = frame.columns[frame.columns.duplicated()]
        if len(twice):  # (a frame with two quantity columns ended in AttributeError)
            raise InstanceError(
                f"{table}: column {twice[0]!r} appears twice; allowed: each column once",
                field=f"{table}.{twice[0]}",
            )
    elif isinstance(records, list):
        if not all(issubclass(kind, dict) for kind in set(map(type, records))):
            for i, rec in enumerate(records):
                if not isinstance(rec, dict):
                    raise InstanceError(
                        f"{table}[{i}]: expected an object with fields {', '.join(columns)}, "
                        f"got {type(rec).__name__}",
                        field=f"{table}[{i}]",
                    )
        # the columns pandas would find (every key, in order of first appearance), gathered
        # at C speed: from_records' own per-record key scan is most of its time
        keys = list(dict.fromkeys(chain.from_iterable(records)))
        frame = pd.DataFrame.from_records(records, columns=keys) if records else pd.DataFrame()
        # records of a JSON/YAML document: a number written as text ("60") is refused, as in
        # the pydantic documents (a CSV cell is text by nature and is parsed)
        frame.attrs["records"] = True
    else:
        raise InstanceError(
            f"{table}: expected a list of records, got {type(records).__name__}", field=table
        )
    check_columns(frame.columns, table, columns)
    return frame


def check_columns(names: Iterable[Any], table: str, columns: Sequence[str]) -> None:
    """Refuse a column (field) name of ``table`` that is not one of ``columns``."""
    unknown = [c for c in names if c not in columns]
    if unknown:
        raise InstanceError(
            f"{table}: unknown field(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(columns)}",
            field=f"{table}.{unknown[0]}",
        )


def require_rows(frame: pd.DataFrame, table: str) -> None:
    if len(frame) == 0:
        raise InstanceError(f"{table}: at least one row is required, got none", field=table)


def id_column(
    frame: pd.DataFrame, table: str, col: str, *, id_col: str | None = None
) -> pd.Series:
    """A required identifier column as strings (ints are accepted and converted)."""
    if col not in frame.columns:
        raise InstanceError(f"{table}: missing required field {col!r}", field=f"{table}.{col}")
    values = frame[col]
    bad = values.isna().to_numpy().copy()
    if values.dtype == object or isinstance(values.dtype, pd.StringDtype):
        arr = values.to_numpy(dtype=object)
        if pd.api.types.infer_dtype(arr, skipna=True) not in ("string", "empty"):
            ok_type = np.fromiter(map(_is_id, arr), dtype=bool, count=len(arr))
            bad |= ~ok_type
    elif not pd.api.types.is_integer_dtype(values):
        bad[:] = True
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InstanceError(
            f"{_where(table, frame, row, id_col if id_col != col else None)}: {col} must be a "
            f"non-empty string id, got {_shown(values.iloc[row])}",
            field=f"{table}[{row}].{col}",
        )
    out = _stripped(values)
    empty = (out == "").to_numpy()
    if empty.any():
        row = int(np.flatnonzero(empty)[0])
        raise InstanceError(
            f"{table}[{row}]: {col} must be a non-empty string id", field=f"{table}[{row}].{col}"
        )
    return out


def number_column(
    frame: pd.DataFrame,
    table: str,
    col: str,
    *,
    id_col: str | None,
    default: float | None = None,
    ge: float | None = None,
    gt: float | None = None,
    integer: bool = False,
) -> pd.Series:
    """A numeric column; missing cells take ``default`` (or are an error when it is None).

    In records of a JSON/YAML document (:func:`to_frame` of a list) text is not a number:
    ``"60"`` is refused like ``true``; CSV cells and DataFrames of text are parsed."""
    if col not in frame.columns:
        if default is None:
            raise InstanceError(f"{table}: missing required field {col!r}", field=f"{table}.{col}")
        return pd.Series(np.full(len(frame), default, dtype=np.float64), index=frame.index)
    raw = frame[col]
    if pd.api.types.is_bool_dtype(raw):
        raise InstanceError(
            f"{table}[0]: {col} must be a number, got a boolean", field=f"{table}.{col}"
        )
    if raw.dtype == object:
        arr = raw.to_numpy(dtype=object)
        strict = bool(frame.attrs.get("records"))
        inferred = pd.api.types.infer_dtype(arr, skipna=True)
        if inferred in _NO_BOOL and not (strict and inferred == "string"):
            is_bad = np.zeros(len(arr), dtype=bool)
        else:
            is_bad = np.fromiter(
                (type(v) is bool or (strict and isinstance(v, str)) for v in arr),
                dtype=bool,
                count=len(arr),
            )
        if is_bad.any():
            row = int(np.flatnonzero(is_bad)[0])
            cell = raw.iloc[row]
            raise InstanceError(
                f"{_where(table, frame, row, id_col)}: {col} must be a number, "
                f"got {_shown(cell)}" + (f" ({text_hint(cell)})" if isinstance(cell, str) else ""),
                field=f"{table}[{row}].{col}",
            )
    values = pd.to_numeric(raw, errors="coerce")
    missing = raw.isna().to_numpy()
    unparsable = values.isna().to_numpy() & ~missing
    if unparsable.any():
        row = int(np.flatnonzero(unparsable)[0])
        raise InstanceError(
            f"{_where(table, frame, row, id_col)}: {col} must be a number, "
            f"got {_shown(raw.iloc[row])}",
            field=f"{table}[{row}].{col}",
        )
    arr = values.to_numpy(dtype=np.float64, na_value=np.nan)
    if missing.any():
        if default is None:
            row = int(np.flatnonzero(missing)[0])
            raise InstanceError(
                f"{_where(table, frame, row, id_col)}: {col} is required (got an empty or NaN "
                "value)",
                field=f"{table}[{row}].{col}",
            )
        arr = np.where(missing, default, arr)
    checks: list[tuple[np.ndarray, str]] = []
    if ge is not None:
        checks.append((~(arr >= ge), f">= {ge:g}"))
    if gt is not None:
        checks.append((~(arr > gt), f"> {gt:g}"))
    checks.append((np.isinf(arr) & (default is None or ~np.isinf(np.float64(default))), "finite"))
    if integer:
        checks.append((np.isfinite(arr) & (arr != np.round(arr)), "a whole number"))
    for bad, allowed in checks:
        bad = np.asarray(bad, dtype=bool)
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            raise InstanceError(
                f"{_where(table, frame, row, id_col)}: {col} must be {allowed}, "
                f"got {_cell(frame, col, row)}",
                field=f"{table}[{row}].{col}",
            )
    return pd.Series(arr, index=frame.index)


def bool_column(
    frame: pd.DataFrame, table: str, col: str, *, id_col: str | None, default: bool
) -> pd.Series:
    """A boolean column; accepts true/false, 1/0 and the strings 'true'/'false'/'yes'/'no'."""
    if col not in frame.columns:
        return pd.Series(np.full(len(frame), default), index=frame.index)
    raw = frame[col]
    out = _bool_values(raw, default)
    if out is None:
        mapping = {1: True, 0: False}  # True == 1, False == 0

        def conv(v: Any) -> Any:
            if v is None or (isinstance(v, float) and np.isnan(v)):
                return default
            if isinstance(v, str):
                return _WORDS.get(v.strip().lower())
            if isinstance(v, (bool, np.bool_, int, np.integer)):
                return mapping.get(bool(v) if isinstance(v, (bool, np.bool_)) else int(v))
            return None

        out = raw.map(conv)
    bad = out.isna().to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InstanceError(
            f"{_where(table, frame, row, id_col)}: {col} must be true or false, "
            f"got {_cell(frame, col, row)}",
            field=f"{table}[{row}].{col}",
        )
    return out.astype(bool)


_WORDS = {"true": True, "false": False, "yes": True, "no": False, "1": True, "0": False}
# infer_dtype results that cannot include a Python bool
_NO_BOOL = ("floating", "integer", "mixed-integer-float", "decimal", "string", "empty")


def _stripped(values: pd.Series) -> pd.Series:
    """``values.astype(str).str.strip()``, stripping each distinct value once.

    Id columns such as customer, item or segment repeat few values; a column of unique ids
    (sampled) is stripped directly.
    """
    arr = values.to_numpy(dtype=object) if values.dtype == object else None
    if arr is None or len(arr) < 1024:
        return values.astype(str).str.strip()
    if pd.unique(arr[:1024]).size > 512:
        if pd.api.types.infer_dtype(arr, skipna=False) == "string":  # str only: strip each
            texts = np.fromiter(map(str.strip, arr), dtype=object, count=len(arr))
            return pd.Series(texts, index=values.index, name=values.name)
        return values.astype(str).str.strip()
    codes, uniques = pd.factorize(arr)  # no missing values here
    texts = pd.Series(uniques).astype(str).str.strip().to_numpy(dtype=object)
    return pd.Series(texts[codes], index=values.index, name=values.name).astype(str)


def _is_id(v: Any) -> bool:
    return isinstance(v, (str, int)) and not isinstance(v, bool)


def _bool_values(raw: pd.Series, default: bool) -> pd.Series | None:
    """Vectorised :func:`bool_column` conversion (True/False, or NaN where invalid).

    Returns None for columns that need the per-cell rules (mixed types).
    """
    dtype = raw.dtype
    if isinstance(dtype, pd.api.extensions.ExtensionDtype) and not isinstance(
        dtype, pd.StringDtype
    ):
        return None
    if pd.api.types.is_bool_dtype(dtype):
        return pd.Series(raw.to_numpy(dtype=bool), index=raw.index, dtype=object)
    if pd.api.types.is_integer_dtype(dtype):
        arr = raw.to_numpy()
        out = np.full(len(arr), None, dtype=object)
        out[arr == 1] = True
        out[arr == 0] = False
        return pd.Series(out, index=raw.index, dtype=object)
    if pd.api.types.is_float_dtype(dtype):  # only NaN (the default) is allowed
        arr = raw.to_numpy(dtype=np.float64)
        out = np.full(len(arr), None, dtype=object)
        out[np.isnan(arr)] = default
        return pd.Series(out, index=raw.index, dtype=object)
    arr = raw.to_numpy(dtype=object)
    kind = pd.api.types.infer_dtype(arr, skipna=True)
    if kind not in ("boolean", "string", "empty"):
        return None
    missing = pd.isna(arr)
    if missing.any():
        holes = arr[missing]
        if not all(v is None or isinstance(v, float) for v in holes.tolist()):
            return None  # other NA kinds (pd.NA, NaT) follow the per-cell rules
    out = np.full(len(arr), default, dtype=object)
    present = ~missing
    if kind == "boolean":
        out[present] = arr[present].astype(bool)
    elif kind == "string":
        words = pd.Series(arr[present]).str.strip().str.lower().map(_WORDS)
        # pandas takes any na_value (object); pandas-stubs' Scalar leaves out None
        out[present] = words.to_numpy(dtype=object, na_value=None)  # type: ignore[call-overload]
    return pd.Series(out, index=raw.index, dtype=object)


def choice_column(
    frame: pd.DataFrame,
    table: str,
    col: str,
    *,
    id_col: str | None,
    allowed: Sequence[str],
    default: str,
) -> pd.Series:
    if col not in frame.columns:
        return pd.Series([default] * len(frame), index=frame.index, dtype=object)
    values = frame[col].where(frame[col].notna(), default)
    bad = ~values.isin(list(allowed)).to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InstanceError(
            f"{_where(table, frame, row, id_col)}: {col} must be one of "
            f"{', '.join(map(repr, allowed))}, got {_shown(frame[col].iloc[row])}",
            field=f"{table}[{row}].{col}",
        )
    return values.astype(object)


def unique(values: pd.Series | pd.DataFrame, table: str, what: str) -> None:
    """Reject duplicate ids (or duplicate key tuples) naming the first repeated one."""
    dup = values.duplicated().to_numpy()
    if dup.any():
        row = int(np.flatnonzero(dup)[0])
        key = values.iloc[row]
        shown = tuple(key) if isinstance(key, pd.Series) else key
        raise InstanceError(
            f"{table}[{row}]: duplicate {what} {_shown(shown)}; each must appear once",
            field=f"{table}[{row}]",
        )


def references(
    values: pd.Series,
    known: Iterable[str],
    *,
    table: str,
    col: str,
    frame: pd.DataFrame,
    id_col: str | None,
    what: str,
    hint: str = "",
) -> None:
    """Every value must be in ``known``; the error lists (a few of) the known ids."""
    known_index = pd.Index(list(known) if not isinstance(known, pd.Index) else known)
    bad = ~values.isin(known_index).to_numpy()
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        sample = ", ".join(map(str, sorted(map(str, known_index.unique()))[:8]))
        more = "" if known_index.nunique() <= 8 else ", …"
        raise InstanceError(
            f"{_where(table, frame, row, id_col)}: {col} {_shown(values.iloc[row])} is not a "
            f"known {what} (known: {sample}{more}){hint}",
            field=f"{table}[{row}].{col}",
        )
