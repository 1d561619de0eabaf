"""Shortage-rationing instance (``kind: "rationing"``): who gets the last pallet.

The instance is columnar: its tables are validated pandas DataFrames, so a weekly run of 10^6
demand lines loads in seconds. The record models below (:class:`SupplyRecord`, …) document the
JSON contract and generate the JSON Schema (``optim schema rationing``); the validation itself
is vectorised (:mod:`optim.instances.tables`).

Tables
------
supply
    ``item, location, quantity ≥ 0`` — stock available per (item, location), unique pairs.
demand
    ``id, customer, item, quantity > 0, segment`` and optionally ``locations`` (eligible
    sources in order of preference; default: every location holding the item),
    ``min_quantity`` (contractual floor), ``max_quantity`` (cap), ``weight`` (> 0, for the
    weighted rule, default 1), ``all_or_nothing``, ``lot_size``.
segments
    ``name, tier (1 is served first), fair_share`` ∈ {proportional, equal, weighted}.
    Tiers are 1..K without gaps; segments sharing a tier share its fair-share rule (their
    lines are rationed together, and ratios of different rules are not comparable).
lanes (optional)
    ``location, customer, cost ≥ 0``: cost per unit shipped (default 0 for missing lanes).
    Lanes are master data: rows for customers or locations absent from this run are
    allowed and unused.
previous (optional) and stability
    Last run's allocation ``demand_id, location, quantity``; with ``stability: true`` the
    routing changes as little as the rules and lane costs allow. In a CSV folder,
    ``previous.csv`` switches stability on: it is the file's only use, and a folder has no
    other place to say so.
unit (optional)
    What the quantities count (``pcs``, ``boxes``; default ``units``): the lines'
    explanations name it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Hashable
from itertools import chain, islice
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, Field, model_validator

from optim.errors import MAGNITUDE, InstanceError
from optim.instances import tables as T
from optim.instances.base import TableInstance
from optim.instances.gate import _no_gc
from optim.instances.rationing_document import (
    DEMAND_COLUMNS,
    FAIR_SHARES,
    LANE_COLUMNS,
    MAX_QUANTITY,
    PREVIOUS_COLUMNS,
    SEGMENT_COLUMNS,
    SUPPLY_COLUMNS,
    RationingDocument,
)


# --- the validated, columnar instance ---------------------------------------------------------
class RationingInstance(TableInstance):
    """A validated rationing instance; tables are pandas DataFrames keyed by the user's ids.

    Build it from a document (``RationingInstance.model_validate(doc)``), from DataFrames
    (:meth:`from_frames`) or from files (:func:`optim.load`). Invalid input raises
    :class:`optim.errors.InstanceError` naming the table, row, id, field and what is allowed.
    """

    kind: Literal["rationing"] = "rationing"
    supply: pd.DataFrame
    demand: pd.DataFrame
    segments: pd.DataFrame
    lanes: pd.DataFrame
    previous: pd.DataFrame
    stability: bool = False
    name: str | None = None
    unit: str = Field(default="units", min_length=1)  # what quantities count, for the texts

    document_model: ClassVar[type[BaseModel]] = RationingDocument

    @model_validator(mode="before")
    @classmethod
    def _validate_tables(cls, data: Any) -> Any:
        from optim.instances.rationing_small import check_fields, plain_tables

        check_fields(data)
        stability = data.get("stability", False)
        tables = plain_tables(data)  # a small plain document: the same tables, no pandas checks
        if tables is None:
            with _no_gc():  # columns of 10^6 rows make millions of objects and no cycles
                tables = _validated(data)
        return tables | {
            "stability": bool(stability),
            "name": data.get("name"),
            "unit": data.get("unit", "units"),
        }

    @classmethod
    def from_frames(
        cls,
        supply: pd.DataFrame,
        demand: pd.DataFrame,
        segments: pd.DataFrame,
        lanes: pd.DataFrame | None = None,
        previous: pd.DataFrame | None = None,
        *,
        stability: bool = False,
        name: str | None = None,
        unit: str = "units",
    ) -> RationingInstance:
        """Build and validate from DataFrames with the documented columns."""
        return cls.model_validate(
            {
                "supply": supply,
                "demand": demand,
                "segments": segments,
                "lanes": lanes,
                "previous": previous,
                "stability": stability,
                "name": name,
                "unit": unit,
            }
        )

    def to_dict(self) -> dict[str, Any]:
        """The instance as a JSON-able document (the inverse of ``model_validate``)."""
        demand = self.demand.copy()
        demand["min_quantity"] = demand["min_quantity"].where(demand["min_quantity"] > 0)
        demand["max_quantity"] = demand["max_quantity"].where(np.isfinite(demand["max_quantity"]))
        demand["lot_size"] = demand["lot_size"].where(demand["lot_size"] > 0)
        records = []
        for rec in demand.to_dict(orient="records"):
            out: dict[Hashable, Any] = {}
            for k, v in rec.items():
                if k == "locations":
                    if v is not None:
                        out[k] = list(v)
                elif k == "all_or_nothing":
                    if v:
                        out[k] = True
                elif k == "weight":
                    if v != 1.0:
                        out[k] = float(v)
                elif isinstance(v, float) and np.isnan(v):
                    continue
                else:
                    out[k] = v.item() if isinstance(v, np.generic) else v
            records.append(out)
        doc: dict[str, Any] = {"kind": "rationing"}
        if self.name:
            doc["name"] = self.name
        if self.unit != "units":
            doc["unit"] = self.unit
        doc["supply"] = self.supply.to_dict(orient="records")
        doc["demand"] = records
        doc["segments"] = [
            {"name": name, "tier": int(tier), "fair_share": fair_share}
            for name, tier, fair_share in self.segments[["name", "tier", "fair_share"]].itertuples(
                index=False, name=None
            )
        ]
        if len(self.lanes):
            doc["lanes"] = self.lanes.to_dict(orient="records")
        if len(self.previous):
            doc["previous"] = self.previous.to_dict(orient="records")
        if self.stability:
            doc["stability"] = True
        return json.loads(json.dumps(doc))

    @classmethod
    def json_schema(cls) -> dict[str, Any]:
        """JSON Schema of the document form."""
        return RationingDocument.model_json_schema()

    @classmethod
    def from_csv_folder(cls, folder: str | Path) -> RationingInstance:
        """Read ``supply.csv``, ``demand.csv``, ``segments.csv`` (+ optional ``lanes.csv``,
        ``previous.csv``, which switches ``stability`` on) from a folder. ``locations`` cells
        list locations separated by ';'.
        """
        return cls.model_validate(read_csv_frames(folder))


_TABLE_ROW = re.compile(r"^(supply|demand|segments|lanes|previous)(?:\[(\d+)\])?( \([^)]*\))?: ")


def located_in_folder(exc: InstanceError, folder: Path) -> InstanceError:
    """``exc``, raised on the tables of a rationing CSV folder, with the file, the line as
    the planner sees it (header = line 1; blank lines and quoted line breaks counted as in
    the file) and the column in front, instead of the table row counted from 0
    (``demand[1] (id 'L2'): ...`` -> ``demand.csv line 3, column quantity (id 'L2'): ...``).
    The file is read again only here, on the error path, up to the row. The CLI applies it
    to the whole and the split run alike (their messages are one contract, tests/
    test_split.py); the Python API keeps the table rows."""
    from optim.instances import gate

    message = str(exc)
    m = _TABLE_ROW.match(message)
    path = folder / f"{m.group(1)}.csv" if m else None
    if m is None or path is None or not path.is_file():
        return exc
    field = exc.field or ""
    row = m.group(2)
    if row is None:  # a table-level error: the header (a column) or the file
        column = field.split(".", 1)[1] if "." in field else None
        line = 1 if column is not None or "row" in message else None
    else:
        column = field.split("].", 1)[1] if "]." in field else None
        record = gate.csv_record(path, int(row))
        line = record[0] if record else None
    head = gate.where(path.name, line, column) + (m.group(3) or "")
    return InstanceError(f"{head}: {message[m.end() :]}", field=exc.field)


def read_csv_frames(folder: str | Path) -> dict[str, Any]:
    """The raw tables of a rationing CSV folder (read, not validated yet)."""
    folder = Path(folder)
    frames: dict[str, Any] = {}
    id_cols = {
        "supply": ["item", "location"],
        "demand": ["id", "customer", "item", "segment", "locations"],
        "segments": ["name", "fair_share"],
        "lanes": ["location", "customer"],
        "previous": ["demand_id", "location"],
    }
    for table in ("supply", "demand", "segments", "lanes", "previous"):
        path = folder / f"{table}.csv"
        if not path.exists():
            if table in ("supply", "demand", "segments"):
                raise InstanceError(
                    f"{folder}: missing {table}.csv (a rationing folder needs supply.csv, "
                    "demand.csv and segments.csv)",
                    field=table,
                )
            continue
        frames[table] = read_csv(path, str_columns=id_cols[table])
    if "demand" in frames and "locations" in frames["demand"].columns:
        frames["demand"]["locations"] = _split_locations(frames["demand"]["locations"])
    if "previous" in frames:  # last week's allocation is given to be kept where it can be
        frames["stability"] = True
    return frames


def read_csv(path: Path, *, str_columns: list[str]) -> pd.DataFrame:
    """One CSV table through the input gate (:func:`optim.instances.gate.read_csv_text`, as
    capacity folders are read): ``str_columns`` as the text written, numbers parsed by
    pandas' C reader, rows counted from 0 (blank rows dropped). Its own pandas reading took
    a first row's extra cell as the index (every column shifted: "item 'WIDGET' is not a
    known item (known: DC1)"), named a repeated column 'quantity.1' and an unnamed one
    'Unnamed: 5'. ``attrs["csv_file"]``: a message shows a number as written in the file
    (:func:`optim.instances.tables.number_column`), not as pandas typed its column (a 1.5
    or a blank line elsewhere showed -40 as -40.0, and a split run's piece, without them,
    as -40)."""
    from optim.instances import gate

    frame = gate.read_csv_text(path, str(path), str_columns, keep_case=True)
    frame = frame.reset_index(drop=True)
    frame.attrs["csv_file"] = str(path)
    return frame


def _validated(data: dict[str, Any]) -> dict[str, pd.DataFrame]:
    supply = T.to_frame(data.get("supply"), "supply", SUPPLY_COLUMNS)
    demand = T.to_frame(data.get("demand"), "demand", DEMAND_COLUMNS)
    segments = T.to_frame(data.get("segments"), "segments", SEGMENT_COLUMNS)
    lanes = T.to_frame(data.get("lanes"), "lanes", LANE_COLUMNS)
    previous = T.to_frame(data.get("previous"), "previous", PREVIOUS_COLUMNS)
    for frame, table in ((supply, "supply"), (demand, "demand"), (segments, "segments")):
        T.require_rows(frame, table)

    # segments
    seg = pd.DataFrame({"name": T.id_column(segments, "segments", "name")})
    T.unique(seg["name"], "segments", "segment name")
    tier_values = T.number_column(segments, "segments", "tier", id_col="name", ge=1, integer=True)
    seg["fair_share"] = T.choice_column(
        segments,
        "segments",
        "fair_share",
        id_col="name",
        allowed=FAIR_SHARES,
        default="proportional",
    )
    # tiers are 1..K without gaps: K segments use no tier above K, so the first missing tier
    # is found among 1..K+1 (and a tier of 1e308 never reaches the int64 cast, which wraps)
    tiers = sorted(set(tier_values.tolist()))
    missing = sorted(set(range(1, len(seg) + 2)) - set(tiers))
    if missing[0] <= tiers[-1]:
        row = int(np.argmax(tier_values.to_numpy()))  # the highest tier is past the gap
        raise InstanceError(
            f"segments[{row}] (name {seg['name'].iloc[row]!r}): tier {tiers[-1]:g}: tiers "
            f"must be 1..K without gaps; no segment has tier {missing[0]} (tiers used: "
            f"{', '.join(f'{t:g}' for t in tiers)})",
            field=f"segments[{row}].tier",
        )
    seg.insert(1, "tier", tier_values.astype(np.int64))  # columns: name, tier, fair_share
    rules = seg.groupby("tier")["fair_share"].nunique()
    if (rules > 1).any():
        tier = int(rules.index[np.flatnonzero(rules.to_numpy() > 1)[0]])
        names = seg.loc[seg["tier"] == tier, ["name", "fair_share"]]
        listing = ", ".join(f"{n!r}: {r}" for n, r in names.itertuples(index=False))
        raise InstanceError(
            f"segments: segments sharing tier {tier} must share one fair_share rule, got "
            f"{listing}; give them the same rule or different tiers",
            field="segments.fair_share",
        )

    # supply
    sup = pd.DataFrame(
        {
            "item": T.id_column(supply, "supply", "item"),
            "location": T.id_column(supply, "supply", "location"),
        }
    )
    sup["quantity"] = T.number_column(supply, "supply", "quantity", id_col="item", ge=0)
    _check_magnitude(sup, "supply", "quantity", "item")
    T.unique(sup[["item", "location"]], "supply", "(item, location)")

    # demand
    dem = pd.DataFrame({"id": T.id_column(demand, "demand", "id")})
    T.unique(dem["id"], "demand", "id")
    for col in ("customer", "item", "segment"):
        dem[col] = T.id_column(demand, "demand", col, id_col="id")
    T.references(
        dem["segment"],
        seg["name"],
        table="demand",
        col="segment",
        frame=dem,
        id_col="id",
        what="segment",
    )
    check_demand_items(dem["item"], sup["item"].unique(), dem)
    qty = T.number_column(demand, "demand", "quantity", id_col="id", gt=0)
    mn = T.number_column(demand, "demand", "min_quantity", id_col="id", default=0.0, ge=0)
    mx = T.number_column(demand, "demand", "max_quantity", id_col="id", default=np.inf, ge=0)
    weight = T.number_column(demand, "demand", "weight", id_col="id", default=1.0, gt=0)
    lot = T.number_column(demand, "demand", "lot_size", id_col="id", default=0.0, ge=0)
    if "lot_size" in demand.columns:
        zero_lot = (lot.to_numpy() == 0) & demand["lot_size"].notna().to_numpy()
        if zero_lot.any():
            row = int(np.flatnonzero(zero_lot)[0])
            raise InstanceError(
                f"demand[{row}] (id {dem['id'].iloc[row]!r}): lot_size must be > 0 "
                "(leave it empty for no lot size), got 0",
                field=f"demand[{row}].lot_size",
            )
    aon = T.bool_column(demand, "demand", "all_or_nothing", id_col="id", default=False)
    _check_pairs(
        dem, mn.to_numpy() > qty.to_numpy() + 1e-12, "min_quantity", "quantity", mn, qty, "<="
    )
    _check_pairs(
        dem, mn.to_numpy() > mx.to_numpy() + 1e-12, "min_quantity", "max_quantity", mn, mx, "<="
    )
    lot_arr = lot.to_numpy()
    has_lot = lot_arr > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        off_lot = has_lot & (
            np.abs(
                mn / np.where(has_lot, lot_arr, 1) - np.round(mn / np.where(has_lot, lot_arr, 1))
            )
            > 1e-9
        )
    if off_lot.any():
        row = int(np.flatnonzero(off_lot)[0])
        raise InstanceError(
            f"demand[{row}] (id {dem['id'].iloc[row]!r}): min_quantity {mn.iloc[row]:g} is not a "
            f"multiple of lot_size {lot_arr[row]:g}; allowed: a multiple of the lot size",
            field=f"demand[{row}].min_quantity",
        )
    aon_arr = aon.to_numpy()
    cap = np.minimum(qty.to_numpy(), mx.to_numpy())
    aon_min = aon_arr & (mn.to_numpy() > 0) & (np.abs(mn.to_numpy() - cap) > 1e-9)
    if aon_min.any():
        row = int(np.flatnonzero(aon_min)[0])
        raise InstanceError(
            f"demand[{row}] (id {dem['id'].iloc[row]!r}): all_or_nothing with min_quantity "
            f"{mn.iloc[row]:g} is ambiguous; allowed: no min_quantity, or min_quantity equal to "
            f"the full amount {cap[row]:g}",
            field=f"demand[{row}].min_quantity",
        )
    aon_lot = aon_arr & has_lot
    if aon_lot.any():
        row = int(np.flatnonzero(aon_lot)[0])
        raise InstanceError(
            f"demand[{row}] (id {dem['id'].iloc[row]!r}): all_or_nothing and lot_size together "
            "are not supported; use one of them",
            field=f"demand[{row}].lot_size",
        )
    dem["quantity"] = qty
    dem["min_quantity"] = mn
    dem["max_quantity"] = mx
    dem["weight"] = weight
    dem["all_or_nothing"] = aon
    dem["lot_size"] = lot
    for col in ("quantity", "min_quantity", "lot_size"):
        _check_magnitude(dem, "demand", col, "id")
    dem["locations"] = _locations(demand, dem, set(sup["location"]))

    ln = _pair_table(lanes, "lanes", ("location", "customer"), "cost", id_col="location")
    pv = _pair_table(
        previous, "previous", ("demand_id", "location"), "quantity", id_col="demand_id"
    )
    if len(previous):
        _check_magnitude(pv, "previous", "quantity", "demand_id")
        T.references(
            pv["demand_id"],
            dem["id"],
            table="previous",
            col="demand_id",
            frame=pv,
            id_col=None,
            what="demand id",
        )
        T.references(
            pv["location"],
            sup["location"].unique(),
            table="previous",
            col="location",
            frame=pv,
            id_col="demand_id",
            what="location",
        )
    return {"supply": sup, "demand": dem, "segments": seg, "lanes": ln, "previous": pv}


def _pair_table(
    raw: pd.DataFrame, table: str, keys: tuple[str, str], value: str, *, id_col: str
) -> pd.DataFrame:
    """An optional table keyed by two ids with one value ≥ 0; the key pair is unique."""
    if not len(raw):
        empty = np.empty(0, dtype=object)
        return pd.DataFrame({keys[0]: empty, keys[1]: empty, value: np.empty(0, np.float64)})
    out = pd.DataFrame({k: T.id_column(raw, table, k) for k in keys})
    out[value] = T.number_column(raw, table, value, id_col=id_col, ge=0)
    T.unique(out[list(keys)], table, f"({keys[0]}, {keys[1]})")
    return out


def check_demand_items(items: pd.Series, known: Any, frame: pd.DataFrame) -> None:
    """Every demanded item has a supply row: the one message of the whole run and of the
    split run (:mod:`optim.split`), which checks its rows chunk by chunk."""
    T.references(
        items,
        known,
        table="demand",
        col="item",
        frame=frame,
        id_col="id",
        what="item",
        hint="; every demanded item needs a supply row (quantity 0 if it is out of stock)",
    )


def _check_magnitude(frame: pd.DataFrame, table: str, col: str, id_col: str) -> None:
    """Refuse a quantity above :data:`MAX_QUANTITY` (clear error, never a silently wrong plan)."""
    values = frame[col].to_numpy(dtype=np.float64)
    big = np.flatnonzero(values > MAX_QUANTITY)
    if len(big):
        row = int(big[0])
        raise InstanceError(
            f"{table}[{row}] ({id_col} {frame[id_col].iloc[row]!r}): {col} {values[row]:g} is "
            f"above {MAX_QUANTITY:g}, the largest quantity rationing plans exactly (on a grid of "
            "1e-6 units up to 1e9, 1e-3 units at 1e12); allowed: at most 1e12 — state larger "
            "quantities in a larger unit",
            field=f"{table}[{row}].{col}",
            kind=MAGNITUDE,
        )


def _check_pairs(
    dem: pd.DataFrame, bad: np.ndarray, a: str, b: str, va: pd.Series, vb: pd.Series, op: str
) -> None:
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        raise InstanceError(
            f"demand[{row}] (id {dem['id'].iloc[row]!r}): {a} {va.iloc[row]:g} must be {op} "
            f"{b} {vb.iloc[row]:g}",
            field=f"demand[{row}].{a}",
        )


def _split_locations(cells: pd.Series) -> pd.Series:
    """CSV ``locations`` cells → lists of stripped, non-empty ids (None for a blank cell).

    A weekly file repeats few distinct cells, so each distinct cell is split once.
    """
    codes, uniques = pd.factorize(cells.to_numpy(dtype=object))
    parsed = np.empty(len(uniques) + 1, dtype=object)  # the last slot: missing cells
    for i, value in enumerate(uniques.tolist()):
        text = str(value)
        parsed[i] = (
            None if text.strip() == "" else [p.strip() for p in text.split(";") if p.strip()]
        )
    return pd.Series(parsed[np.where(codes < 0, len(uniques), codes)], index=cells.index)


def _locations(raw: pd.DataFrame, dem: pd.DataFrame, known: set[str]) -> pd.Series:
    """Normalise ``locations`` to tuples of known, distinct location ids (or None).

    Vectorised over the flattened (line, location) pairs; the first offending line (in input
    order) is then checked cell by cell by :func:`_check_locations_cell` for its message.
    """
    n = len(dem)
    if "locations" not in raw.columns:
        return pd.Series([None] * n, index=dem.index, dtype=object)
    values = raw["locations"].to_numpy(dtype=object)
    kind = _sequence_kinds(values)
    seq = kind > 0
    other = np.flatnonzero(~seq)
    missing = [v is None or (isinstance(v, float) and np.isnan(v)) for v in values[other]]
    bad = np.zeros(n, dtype=bool)
    bad[other[~np.asarray(missing, dtype=bool)]] = True  # not a list (a string, a number, …)
    rows = np.flatnonzero(seq)
    cells = values[rows]
    lengths = np.fromiter(map(len, cells), dtype=np.int64, count=len(cells))
    bad[rows[lengths == 0]] = True
    flat = np.fromiter(chain.from_iterable(cells), dtype=object, count=int(lengths.sum()))
    # ids are str: numpy arrays hold numpy strings, JSON lists may hold numbers
    converted = bool((kind == 2).any()) or pd.api.types.infer_dtype(flat, skipna=False) not in (
        "string",
        "empty",
    )
    if converted:
        flat = np.array([str(v) for v in flat.tolist()], dtype=object)
    if len(flat):
        codes, uniques = pd.factorize(flat)
        row_of = np.repeat(rows, lengths)
        twice = pd.Index(row_of * len(uniques) + codes).duplicated()
        bad[row_of[twice]] = True
        unknown = ~pd.Index(uniques).isin(list(known))
        bad[row_of[unknown[codes]]] = True
    if bad.any():
        row = int(np.flatnonzero(bad)[0])
        _check_locations_cell(row, values[row], dem, known)
    if converted:
        it = iter(flat.tolist())
        tuples = [tuple(islice(it, k)) for k in lengths.tolist()]
    else:  # lists and tuples of str: the same tuples as ``tuple(str(v) for v in cell)``
        tuples = list(map(tuple, cells))
    if len(rows) == n:
        return pd.Series(tuples, index=dem.index, dtype=object)
    out: list[tuple[str, ...] | None] = [None] * n
    for row, locs in zip(rows.tolist(), tuples, strict=True):
        out[row] = locs
    return pd.Series(out, index=dem.index, dtype=object)


def _sequence_kinds(values: np.ndarray) -> np.ndarray:
    """Per value: 1 for a list or tuple, 2 for a numpy array, 0 otherwise (strings included);
    decided once per distinct type."""
    if len(values) == 0:
        return np.zeros(0, np.int8)
    types = np.fromiter(map(type, values), dtype=object, count=len(values))
    codes, kinds = pd.factorize(types)
    per_kind = np.array(
        [
            1 if issubclass(k, (list, tuple)) else 2 if issubclass(k, np.ndarray) else 0
            for k in kinds
        ],
        dtype=np.int8,
    )
    return per_kind[codes]


def _check_locations_cell(row: int, value: Any, dem: pd.DataFrame, known: set[str]) -> None:
    """Raise the :class:`InstanceError` of one bad ``locations`` cell."""
    where = f"demand[{row}] (id {dem['id'].iloc[row]!r})"
    if isinstance(value, str) or not isinstance(value, (list, tuple, np.ndarray)):
        raise InstanceError(
            f"{where}: locations must be a list of location ids, got {value!r}",
            field=f"demand[{row}].locations",
        )
    locs = tuple(str(v) for v in value)
    if len(locs) == 0:
        raise InstanceError(
            f"{where}: locations is empty; leave it out to allow every location",
            field=f"demand[{row}].locations",
        )
    if len(set(locs)) != len(locs):
        raise InstanceError(
            f"{where}: locations lists a location twice: {list(locs)}",
            field=f"demand[{row}].locations",
        )
    for loc in locs:
        if loc not in known:
            sample = ", ".join(sorted(known)[:8]) + (", …" if len(known) > 8 else "")
            raise InstanceError(
                f"{where}: locations entry {loc!r} is not a known location (known: {sample})",
                field=f"demand[{row}].locations",
            )
