"""A small, plain rationing document validated without pandas operations per check.

The vectorised validator (:func:`optim.instances.rationing._validated`) pays a fixed cost of a
few hundred pandas calls, ~10 ms of CPU, whatever the size: that is most of a synchronous
service solve of a few lines. :func:`plain_tables` checks a small document in plain Python
and builds the same validated frames directly. It only ever *accepts*: any value it does not
handle plainly (a number given as text, an integer id, a non-finite number, a flag other than
true/false, lanes or a previous allocation, …) and any rule a value breaks makes it return
``None``, and the full validator then runs and raises its message. So the messages of exit
code 2 have one source, and this path is equal to the full one wherever it answers
(tests/instances/test_rationing_small.py compares the two on generated and mutated
documents).
"""

from __future__ import annotations

import math
import sys
from typing import TYPE_CHECKING, Any

from optim.errors import InstanceError
from optim.instances.rationing_columns import (
    DEMAND_COLUMNS,
    FAIR_SHARES,
    MAX_QUANTITY,
    SEGMENT_COLUMNS,
    SUPPLY_COLUMNS,
)

if TYPE_CHECKING:  # numpy and pandas are imported where the frames are built: `optim
    import numpy as np  # validate` of a small document checks it without them (start-up)
    import pandas as pd

MAX_ROWS = 1000
"""Rows (supply + demand + segments) up to which :func:`plain_tables` is tried."""

_NUMBER = (int, float)  # exact types: bool is an int subclass and is refused
FIELDS = (
    "kind",
    "supply",
    "demand",
    "segments",
    "lanes",
    "previous",
    "stability",
    "name",
    "unit",
)
"""The fields of a rationing document."""


class _Decline(Exception):
    """Not a plain small document: the full validator decides (and names any error)."""


def check_fields(data: Any) -> None:
    """The document's own fields (an object, no unknown field, ``kind``, the three required
    tables, ``stability`` true or false); raises :class:`InstanceError`. The first checks of
    every rationing instance, the full validator's and :func:`plain_sizes`'."""
    if not isinstance(data, dict):
        raise InstanceError(f"rationing instance: expected an object, got {type(data).__name__}")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise InstanceError(
            f"rationing instance: unknown field(s) {', '.join(map(repr, unknown))}; "
            f"allowed: {', '.join(sorted(FIELDS))}",
            field=unknown[0],
        )
    if data.get("kind", "rationing") != "rationing":
        raise InstanceError(f"kind must be 'rationing', got {data.get('kind')!r}", field="kind")
    for required in ("supply", "demand", "segments"):
        if required not in data:
            raise InstanceError(
                f"rationing instance: missing required table {required!r}", field=required
            )
    stability = data.get("stability", False)
    numpy = sys.modules.get("numpy")  # (not imported: no numpy boolean to meet)
    if not isinstance(stability, bool) and not (numpy and isinstance(stability, numpy.bool_)):
        raise InstanceError(
            f"stability must be true or false, got {stability!r}", field="stability"
        )


def plain_sizes(data: Any) -> dict[str, int] | None:
    """The table sizes of a valid small plain document, checked without pandas (``optim
    validate``), or None: the full validator decides. Raises :class:`InstanceError` as
    :func:`check_fields` does."""
    check_fields(data)
    name = data.get("name")
    if not (name is None or type(name) is str):
        return None  # the instance's ``name`` field names the error
    unit = data.get("unit", "units")
    if not (type(unit) is str and unit):
        return None  # the instance's ``unit`` field names the error
    columns = _plain_columns(data)
    if columns is None:
        return None
    return {table: len(data[table]) for table in ("supply", "demand", "segments")}


def plain_tables(data: dict[str, Any]) -> dict[str, pd.DataFrame] | None:
    """The validated tables of a small plain document, or None (run the full validator)."""
    columns = _plain_columns(data)
    return None if columns is None else _frames(*columns)


def _plain_columns(data: dict[str, Any]) -> tuple[Any, ...] | None:
    """The checked columns of a small plain document, or None (run the full validator)."""
    supply, demand, segments = data.get("supply"), data.get("demand"), data.get("segments")
    if not (type(supply) is list and type(demand) is list and type(segments) is list):
        return None
    if not supply or not demand or not segments:
        return None
    if len(supply) + len(demand) + len(segments) > MAX_ROWS:
        return None
    if any(data.get(t) not in (None, []) for t in ("lanes", "previous")):
        return None
    try:
        return _columns(supply, demand, segments)
    except _Decline:
        return None


def _records(rows: list[Any], columns: tuple[str, ...]) -> list[dict[str, Any]]:
    allowed = set(columns)
    for row in rows:
        if type(row) is not dict or not allowed.issuperset(row):
            raise _Decline
    return rows


def _id(value: Any) -> str:
    if type(value) is not str:
        raise _Decline
    text = value.strip()
    if not text:
        raise _Decline
    return text


def _number(value: Any, default: float | None, *, low: float, strict: bool) -> float:
    """A finite number ``>= low`` (``> low`` when strict); None takes ``default``."""
    if value is None:
        if default is None:
            raise _Decline
        return default
    if type(value) not in _NUMBER:
        raise _Decline
    try:
        x = float(value)
    except OverflowError:
        raise _Decline from None
    if not math.isfinite(x) or x < low or (strict and x == low):
        raise _Decline
    return x


def _columns(supply: list[Any], demand: list[Any], segments: list[Any]) -> tuple[Any, ...]:
    # segments: unique names, tiers 1..K without gaps, one rule per tier
    names: list[str] = []
    tiers: list[int] = []
    rules: list[str] = []
    rule_of: dict[int, str] = {}
    for rec in _records(segments, SEGMENT_COLUMNS):
        tier = _number(rec.get("tier"), None, low=1, strict=False)
        if tier != round(tier):
            raise _Decline
        rule = rec.get("fair_share")
        rule = "proportional" if rule is None else rule
        if rule not in FAIR_SHARES or rule_of.setdefault(int(tier), rule) != rule:
            raise _Decline
        names.append(_id(rec.get("name")))
        tiers.append(int(tier))
        rules.append(rule)
    if len(set(names)) != len(names) or max(tiers) > len(tiers):  # K tiers need K segments
        raise _Decline
    if set(tiers) != set(range(1, max(tiers) + 1)):
        raise _Decline

    # supply: unique (item, location), quantity in [0, MAX_QUANTITY]
    items, places, stock = [], [], []
    for rec in _records(supply, SUPPLY_COLUMNS):
        items.append(_id(rec.get("item")))
        places.append(_id(rec.get("location")))
        stock.append(_quantity(rec.get("quantity"), None, strict=False))
    if len(set(zip(items, places, strict=True))) != len(items):
        raise _Decline

    # demand
    known_segments, known_items, known_places = set(names), set(items), set(places)
    n = len(demand)
    cols: dict[str, list[Any]] = {c: [] for c in DEMAND_COLUMNS if c != "locations"}
    locations: list[tuple[str, ...] | None] = [None] * n
    for i, rec in enumerate(_records(demand, DEMAND_COLUMNS)):
        cols["id"].append(_id(rec.get("id")))
        cols["customer"].append(_id(rec.get("customer")))
        item = _id(rec.get("item"))
        segment = _id(rec.get("segment"))
        if item not in known_items or segment not in known_segments:
            raise _Decline
        cols["item"].append(item)
        cols["segment"].append(segment)
        qty = _quantity(rec.get("quantity"), None, strict=True)
        low = _quantity(rec.get("min_quantity"), 0.0, strict=False)
        cap = _number(rec.get("max_quantity"), math.inf, low=0, strict=False)
        weight = _number(rec.get("weight"), 1.0, low=0, strict=True)
        lot = _quantity(rec.get("lot_size"), 0.0, strict=False)
        if lot == 0.0 and rec.get("lot_size") is not None:
            raise _Decline  # an explicit 0 (the full validator says: leave it empty)
        aon = rec.get("all_or_nothing")
        if aon is None:
            aon = False
        elif type(aon) is not bool:
            raise _Decline
        if low > qty + 1e-12 or low > cap + 1e-12:
            raise _Decline
        if lot > 0 and (aon or not _multiple(low, lot)):
            raise _Decline
        if aon and low > 0 and abs(low - min(qty, cap)) > 1e-9:
            raise _Decline
        for col, value in (
            ("quantity", qty),
            ("min_quantity", low),
            ("max_quantity", cap),
            ("weight", weight),
            ("all_or_nothing", aon),
            ("lot_size", lot),
        ):
            cols[col].append(value)
        where = rec.get("locations")
        if where is not None:
            if type(where) is not list or not where or any(type(v) is not str for v in where):
                raise _Decline
            if len(set(where)) != len(where) or not known_places.issuperset(where):
                raise _Decline
            locations[i] = tuple(where)
    if len(set(cols["id"])) != n:
        raise _Decline
    return names, tiers, rules, items, places, stock, cols, locations


def _frames(
    names: list[str],
    tiers: list[int],
    rules: list[str],
    items: list[str],
    places: list[str],
    stock: list[float],
    cols: dict[str, list[Any]],
    locations: list[tuple[str, ...] | None],
) -> dict[str, pd.DataFrame]:
    """The validated frames of the columns :func:`_columns` checked."""
    import numpy as np
    import pandas as pd

    from optim.instances.rationing import _pair_table

    empty = pd.DataFrame()
    dem = pd.DataFrame(
        {
            **{c: _texts(cols[c]) for c in ("id", "customer", "item", "segment")},
            **{
                c: _floats(cols[c]) for c in ("quantity", "min_quantity", "max_quantity", "weight")
            },
            "all_or_nothing": np.array(cols["all_or_nothing"], dtype=bool),
            "lot_size": _floats(cols["lot_size"]),
            "locations": _objects(locations),
        }
    )
    return {
        "supply": pd.DataFrame(
            {"item": _texts(items), "location": _texts(places), "quantity": _floats(stock)}
        ),
        "demand": dem,
        "segments": pd.DataFrame(
            {
                "name": _texts(names),
                "tier": np.array(tiers, dtype=np.int64),
                "fair_share": _texts(rules),
            }
        ),
        "lanes": _pair_table(empty, "lanes", ("location", "customer"), "cost", id_col=""),
        "previous": _pair_table(
            empty, "previous", ("demand_id", "location"), "quantity", id_col=""
        ),
    }


def _texts(values: list[Any]) -> np.ndarray:
    import numpy as np

    return np.array(values, dtype=object)


def _objects(values: list[Any]) -> np.ndarray:
    """An object array holding each value whole (a tuple of locations is one cell)."""
    import numpy as np

    out = np.empty(len(values), dtype=object)
    for i, value in enumerate(values):
        out[i] = value
    return out


def _floats(values: list[Any]) -> np.ndarray:
    import numpy as np

    return np.array(values, dtype=np.float64)


def _multiple(low: float, lot: float) -> bool:
    """Whether ``low`` is a whole number of lots (within 1e-9 of one); a ratio that
    overflows (a lot of 1e-307) is not (the full validator decides)."""
    ratio = low / lot
    return math.isfinite(ratio) and abs(ratio - round(ratio)) <= 1e-9


def _quantity(value: Any, default: float | None, *, strict: bool) -> float:
    """A quantity: a finite number ``>= 0`` (``> 0`` when strict), at most MAX_QUANTITY."""
    x = _number(value, default, low=0, strict=strict)
    if x > MAX_QUANTITY:
        raise _Decline
    return x
