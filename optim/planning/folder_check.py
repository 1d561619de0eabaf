"""``optim validate FOLDER`` of a planning folder without pandas (issue 12: start-up ≤ 0.5 s).

:func:`validate_folder` first tries :func:`plain_summary`: plain Python over the folder's
rows (the csv text split on commas, :func:`~optim.instances.gate.iso_day` for dates,
strict number spellings), with ``plan.yaml`` checked by the very function
:func:`~optim.planning.folder.read_folder` uses. It only ever *accepts*: a folder it can
prove valid gets the summary and the notes ``read_folder`` gives it; anything else — an
error, an optional file (supply, pins, policy, receipts, shipments), quotes or a lone
``\\r`` in a CSV file, a blank line, a number or date spelt otherwise than plainly, an
empty id, a folder over :data:`PLAIN_MAX_BYTES` — returns None, and :func:`read_folder` reads the
folder with pandas, so every error keeps read_folder's message (file, line, column,
value, allowed) by construction. ``tests/test_loader_mutations.py`` checks on random
damage that both paths agree (same exit code, same message, same summary and notes).

Accepting means every check of :func:`read_folder` passes: the acceptance rules below are
the same as or stricter than its checks, rule for rule (noted at each).
"""

from __future__ import annotations

import datetime as _dt
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from itertools import pairwise, repeat
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from optim.errors import InstanceError
from optim.instances.gate import MAX_MAGNITUDE, iso_day
from optim.planning.folder import (
    FILES,
    MAX_START_AFTER_DAYS,
    _check_plan,
    _Plan,
    disrupted_without_history_note,
    uncovered_note,
    without_history_note,
)

__all__ = [
    "PLAIN_MAX_BYTES",
    "FolderSummary",
    "plain_summary",
    "read_summary",
    "validate_folder",
]

PLAIN_MAX_BYTES = 256 * 2**20
"""Folders whose CSV files are larger (~3.7 million history lines) are read by pandas at
once. Below, the plain pass reads them block by block: the 10^6-line folder of
``benchmarks/bench_cli.py`` (66 MiB) in 1.16 s and 152 MiB against read_folder's 2.30 s and
484 MiB (benchmarks/RESULTS.md, session 10; larger folders not measured: the pass holds the
bytes and the text at once, 2-3 times the files). A folder it declines after reading it pays
both passes."""
PLAIN_FILES = ("plan.yaml", "history.csv", "orders.csv", "items.csv")
NUMBER = re.compile(r"-?[0-9]{1,11}(\.[0-9]{1,12})?")
"""A number as the plain path accepts it: both pandas' C reader and :class:`float` read it
with the same sign and zero-ness, and below 1e11 in size (the gate allows 1e12); their
values may differ in the last place (a long decimal), so no check compares a value with a
bound closer than that."""
MAX_GAP_DAYS = 366  # optim.segmentation.history.MAX_GAP_DAYS (that module imports pandas)
MAX_SPAN_DAYS = 20 * 366  # optim.segmentation.history.MAX_SPAN_YEARS * 366


@dataclass(frozen=True)
class FolderSummary:
    """What ``optim validate FOLDER`` prints of a valid planning folder."""

    history_lines: int
    order_lines: int
    items: int
    plan_weeks: int
    plan_start: _dt.date
    notes: tuple[str, ...]

    def lines(self) -> list[str]:
        return [
            f"valid planning folder: {self.history_lines:,} history lines, "
            f"{self.order_lines:,} order lines, {self.items:,} items, "
            f"{self.plan_weeks} planned weeks from {self.plan_start}",
            *(f"note: {note}" for note in self.notes),
        ]


def validate_folder(folder: str | Path) -> FolderSummary:
    """The summary of a valid planning folder; raises read_folder's
    :class:`~optim.errors.InstanceError` otherwise (module docstring)."""
    plain = plain_summary(folder)
    return plain if plain is not None else read_summary(folder)


def read_summary(folder: str | Path) -> FolderSummary:
    """The summary of :func:`~optim.planning.folder.read_folder`'s reading of ``folder``
    (pandas; raises its errors)."""
    from optim.planning.folder import read_folder

    data = read_folder(folder)
    return FolderSummary(
        history_lines=len(data.history),
        order_lines=len(data.orders),
        items=len(data.items),
        plan_weeks=data.plan_weeks,
        plan_start=data.plan_start.date(),
        notes=data.notes,
    )


class _Unsure(Exception):
    """The plain path cannot prove the folder valid: read_folder decides."""


RECORD_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "stage": (
        frozenset({"id", "lead_time", "holding_cost"}),
        frozenset({"external_service_time", "max_service_time"}),
    ),
    "arc": (frozenset({"source", "target"}), frozenset({"quantity"})),
    "resource": (frozenset({"id", "capacity"}), frozenset({"overtime_capacity", "overtime_cost"})),
    "family": (
        frozenset({"id", "holding_cost"}),
        frozenset({"initial_inventory", "usage", "max_inventory", "setup_cost", "min_lot_size"}),
    ),
}
"""The fields, required and optional, of a record the plain path takes (the models take
more: random lead times, per-period capacities, routings; those go to read_folder)."""
RECORD_DEFAULTS: dict[str, dict[str, Any]] = {
    "stage": {"external_service_time": 0, "max_service_time": None},
    "arc": {"quantity": 1.0},
}
WHOLE = frozenset({"lead_time", "external_service_time", "max_service_time"})
PLAIN_LIMIT = 1e11
"""The largest number a plain record holds (the models allow 1e12)."""


def _plain_id(value: Any) -> bool:
    return type(value) is str and value != "" and value == value.strip()


def _plain_amount(value: Any) -> bool:
    """An int or a float (not a bool, not text) in [0, :data:`PLAIN_LIMIT`]."""
    return type(value) in (int, float) and 0 <= value <= PLAIN_LIMIT  # (NaN fails)


class PlainRecords:
    """``plan.yaml``'s records checked without the instance models (pydantic's import is
    ~40 % of a plain validate): a record is taken only when each field is plainly valid —
    ids as text without spaces at either end, whole periods as ints, every number an int or
    a float in [0, 1e11], an arc's quantity 1, no field but :data:`RECORD_FIELDS`' — which
    the models accept alike, with the same values (tests/test_loader_mutations.py draws
    records to show it). Any other record raises :class:`_Unsure`: read_folder's models
    decide and word the refusal. The poolings are the safety-stock model's (a test)."""

    poolings: tuple[str, ...] = ("critical_level", "max_z", "root_sum_square", "additive")

    def __call__(self, kind: str, rec: dict[str, Any]) -> SimpleNamespace:
        required, optional = RECORD_FIELDS[kind]
        if not required <= rec.keys() <= required | optional:
            raise _Unsure
        for key, value in rec.items():
            if key in ("id", "source", "target"):
                plain = _plain_id(value)
            elif key in WHOLE:
                plain = type(value) is int and 0 <= value <= PLAIN_LIMIT
            elif key == "quantity":
                plain = type(value) in (int, float) and value == 1
            elif key == "usage":
                plain = type(value) is dict and all(
                    _plain_id(k) and _plain_amount(v) for k, v in value.items()
                )
            else:
                plain = _plain_amount(value)
            if not plain:
                raise _Unsure
        out = RECORD_DEFAULTS.get(kind, {}) | rec
        if kind == "arc":
            out["quantity"] = float(out["quantity"])  # (the model's type)
        return SimpleNamespace(**out)

    def supply(
        self, weeks: list[str], resources: list[SimpleNamespace], families: list[SimpleNamespace]
    ) -> None:
        """Accepts what :func:`~optim.instances.capacity.check_supply` accepts of plain
        records (capacities are numbers here, ids unique: checked before): each family has
        ``usage`` naming only known resources, one of them with positive hours, and no
        initial stock above its stock bound; anything else goes to the model's check."""
        known = {r.id for r in resources}
        for fam in families:
            usage = getattr(fam, "usage", None)
            if not usage or not known.issuperset(usage) or not any(usage.values()):
                raise _Unsure
            bound = getattr(fam, "max_inventory", None)
            if bound is not None and getattr(fam, "initial_inventory", 0) > bound:
                raise _Unsure

    def lots(
        self, weeks: list[str], resources: list[SimpleNamespace], families: list[SimpleNamespace]
    ) -> None:
        """Accepts families without a minimum lot; the model's check takes the others."""
        if any(getattr(fam, "min_lot_size", 0) for fam in families):
            raise _Unsure


def plain_summary(folder: str | Path) -> FolderSummary | None:
    """The summary of a folder the plain path proves valid, else None (module docstring)."""
    try:
        return _summary(Path(folder))
    except (_Unsure, InstanceError):
        return None


def _summary(folder: Path) -> FolderSummary:
    if not folder.is_dir():
        raise _Unsure
    # read_folder refuses stray .csv/.yaml/.yml files; optional files take its path
    for p in folder.iterdir():
        if p.suffix.lower() in (".csv", ".yaml", ".yml") and p.name not in PLAIN_FILES:
            raise _Unsure
    assert set(PLAIN_FILES) <= set(FILES)
    if not all((folder / n).is_file() for n in PLAIN_FILES):
        raise _Unsure
    if sum((folder / n).stat().st_size for n in PLAIN_FILES[1:]) > PLAIN_MAX_BYTES:
        raise _Unsure
    # read_folder's own plan checks, its records checked plainly
    cfg = _check_plan(_Plan(folder / "plan.yaml"), PlainRecords())
    start = cfg["plan_start"]
    if type(start) is not _dt.date or cfg["pins"]:  # (pins are checked against the policy)
        raise _Unsure
    locations = set(cfg["locations"])
    history = _order_lines(folder / "history.csv", locations, window=True)
    orders = _order_lines(folder / "orders.csv", locations, window=False)
    known = _items(folder / "items.csv", {str(f.get("id")) for f in cfg["families"]})
    # cross-file references (read_folder: _bad_ref of item, location, customer)
    if not (history.items <= known and orders.items <= known):
        raise _Unsure
    if not orders.customers <= history.customers:
        raise _Unsure
    # one week of open orders, after the history (weeks Monday..Sunday, pandas' "W")
    if len({d - _dt.timedelta(days=d.weekday()) for d in orders.days}) != 1:
        raise _Unsure
    # read_folder: the history spans two weeks or more
    if len({d - _dt.timedelta(days=d.weekday()) for d in history.days}) < 2:
        raise _Unsure
    first, last = min(history.days), max(history.days)
    if not min(orders.days) > last or max(orders.days) > last + _dt.timedelta(
        days=MAX_START_AFTER_DAYS
    ):
        raise _Unsure
    # read_folder's order cells (customer, item, location summed): one above 0 and none
    # above 1e12. Decided without the sums, which pandas may round otherwise (it parses a
    # long decimal to the next double, and sums with compensation): a cell with positive
    # lines and no return is above 0 however it is summed, and one whose lines' sizes add up
    # to 1e12 less a millionth is at most 1e12. (The nets were compared: 111964427.506162251996
    # and -111964427.50616224 were 0 to pandas, 1.5e-8 to float(): second review.)
    cells = orders.cells.values()
    if not any(positive and not negative for positive, negative, _ in cells):
        raise _Unsure
    if max(size for _, _, size in cells) > MAX_MAGNITUDE * (1 - 1e-6):
        raise _Unsure
    weeks = cfg["plan_weeks"]
    if not (last < start + _dt.timedelta(days=7)) or start > last + _dt.timedelta(
        days=MAX_START_AFTER_DAYS
    ):
        raise _Unsure
    notes: list[str] = []
    lag = _dt.timedelta(days=364)
    uncovered = sum(1 for k in range(weeks) if start + _dt.timedelta(days=7 * k + 6) - lag < first)
    if uncovered and cfg["forecast"] == "seasonal_naive":
        notes.append(uncovered_note(uncovered, weeks))
    if not set(cfg["disruption"]) <= known:
        raise _Unsure
    without = sorted(known - history.items)
    if without:
        if cfg["items_without_history"] == "error":
            raise _Unsure
        notes.append(without_history_note(without, len(known)))
        idle = sorted(set(without) & set(cfg["disruption"]))
        if idle:
            notes.append(disrupted_without_history_note(idle))
    return FolderSummary(
        history_lines=history.rows,
        order_lines=orders.rows,
        items=len(known),
        plan_weeks=weeks,
        plan_start=start,
        notes=tuple(notes),
    )


BLOCK_CHARS = 1 << 18
"""The CSV text is split into cells a block of whole lines at a time: the cells of a block
are counted into each column's distinct values and freed, so the check never holds a
million cell strings (twice as fast as splitting the whole file at once)."""


def _table(path: Path) -> tuple[list[str], Iterator[dict[str, list[str]]]]:
    """The columns (names stripped, lower-cased as the gate does) of a plain CSV file and
    its rows as blocks of columns (cells as written): no quotes, no NUL, no ``\\r`` but in
    ``\\r\\n``, every line with the header's number of cells, at least one row
    (read_folder: gate.read_csv_text, whose pandas reader splits such text alike). A line
    with another number of cells raises :class:`_Unsure` when its block is reached."""
    from optim.instances import gate

    text = gate.decode(gate.read_bytes(path, "CSV file", gate.MAX_CSV_BYTES), path.name)
    if '"' in text or "\x00" in text:
        raise _Unsure
    if "\r" in text:  # Windows line ends (pandas splits at \r\n alike); a lone \r: unsure
        if text.count("\r") != text.count("\r\n"):
            raise _Unsure
        text = text.replace("\r\n", "\n")
    body = text.find("\n") + 1
    if body == 0 or body == len(text):  # no row
        raise _Unsure
    header = [h.strip().lower() for h in text[: body - 1].split(",")]
    if "" in header or len(set(header)) != len(header):
        raise _Unsure
    return header, _blocks(text, body, header)


def _blocks(text: str, start: int, header: list[str]) -> Iterator[dict[str, list[str]]]:
    n, end = len(header), len(text)
    while start < end:
        stop = text.find("\n", min(start + BLOCK_CHARS, end - 1)) + 1 or end
        lines = text[start:stop].split("\n")
        if lines[-1] == "":
            lines.pop()
        if set(map(str.count, lines, repeat(","))) != {n - 1}:  # (a blank line has none)
            raise _Unsure
        cells = ",".join(lines).split(",")  # row-major: column k is every n-th cell from k
        yield {name: cells[k::n] for k, name in enumerate(header)}
        start = stop


def _columns(
    path: Path,
    wanted: set[str],
    required: set[str],
    each: Callable[[dict[str, list[str]]], None] | None = None,
) -> tuple[int, set[str], dict[str, set[str]]]:
    """Rows, columns and the distinct cells of the ``wanted`` columns of a plain CSV file
    (:func:`_table`) that has the ``required`` columns; ``each`` sees every block of rows."""
    header, blocks = _table(path)
    if not required <= set(header):
        raise _Unsure
    distinct: dict[str, set[str]] = {name: set() for name in header if name in wanted}
    rows = 0
    for block in blocks:
        rows += len(block[header[0]])
        for name, values in distinct.items():
            values.update(block[name])
        if each is not None:
            each(block)
    return rows, set(header), distinct


def _ids(values: set[str]) -> set[str]:
    """The distinct ids (read_folder: an empty or blank id is an error; it strips ids, the
    plain path takes ids written without spaces at either end only, so rows compare as
    written)."""
    if "" in values or any(v != v.strip() for v in values):
        raise _Unsure
    return values


def _numbers(values: set[str], *, nonnegative: bool = False) -> dict[str, float]:
    """Each distinct spelling's value; every spelling :data:`NUMBER` (read_folder: finite,
    at most 1e12 in size, >= 0 for prices and costs)."""
    out = {}
    for v in values:
        if not NUMBER.fullmatch(v):
            raise _Unsure
        out[v] = float(v)
        if nonnegative and out[v] < 0:
            raise _Unsure
    return out


Key = tuple[str, str, str]  # customer, item, location as written


@dataclass
class _Lines:
    rows: int
    days: set[_dt.date]
    customers: set[str]
    items: set[str]
    cells: dict[Key, tuple[bool, bool, float]]  # orders, by customer, item and location


ORDER_COLUMNS = {"date", "order", "customer", "item", "quantity", "location"} | {
    "unit_price",
    "revenue",
    "unit_cost",
    "margin",
}
"""The columns of an order line the plain path checks; with ``channel`` (which read_folder
reads as text) the only ones it takes: any other column goes to read_folder, which refuses
it."""


def _order_lines(path: Path, locations: set[str], *, window: bool) -> _Lines:
    """history.csv / orders.csv (read_folder: check_lines, then the location references)."""
    rows_of = _Rows(orders=not window)
    required = {"date", "customer", "item", "quantity", "location"}  # location: see read_folder
    rows, header, col = _columns(path, ORDER_COLUMNS, required, rows_of.add)
    if not header & {"unit_price", "revenue"} or not header <= ORDER_COLUMNS | {"channel"}:
        raise _Unsure
    if "order" in col:
        _ids(col["order"])
    if not _ids(col["location"]) <= locations:
        raise _Unsure
    customers, items = _ids(col["customer"]), _ids(col["item"])
    days = {v: iso_day(v) for v in col["date"]}
    unique = sorted(d for d in days.values() if d is not None)
    if len(unique) != len(days):
        raise _Unsure
    if window and len(unique) > 1:
        gaps = max((b - a).days for a, b in pairwise(unique))
        if gaps > MAX_GAP_DAYS or (unique[-1] - unique[0]).days > MAX_SPAN_DAYS:
            raise _Unsure
    qty = _numbers(col["quantity"])
    if "revenue" in col:  # revenue has the sign of quantity
        rev = _numbers(col["revenue"])
        for q, r in rows_of.signs:
            if rev[r] * ((qty[q] > 0) - (qty[q] < 0)) < 0:
                raise _Unsure
    else:
        _numbers(col["unit_price"], nonnegative=True)
    if "margin" in col:
        _numbers(col["margin"])
    elif "unit_cost" in col:
        _numbers(col["unit_cost"], nonnegative=True)
    if window and not rows_of.has_demand(qty):
        raise _Unsure
    return _Lines(
        rows=rows,
        days=set(unique),
        customers=customers,
        items=items,
        cells={} if window else rows_of.cells(qty),
    )


CANDIDATES = 4096
"""Rows kept as witnesses of demand (a positive line of a customer, item and location
without returns); a history whose first rows have none is left to read_folder."""


class _Rows:
    """What the checks need of the order lines row by row, gathered block by block: the
    (quantity, revenue) spellings that occur together; rows whose quantity is written with a
    minus (returns, keyed by customer, item and location); the other rows of the first blocks,
    :data:`CANDIDATES` or more (candidates for demand); an orders file's rows (its cells)."""

    def __init__(self, *, orders: bool) -> None:
        self.orders = orders
        self.signs: set[tuple[str, str]] = set()
        self.minus: set[tuple[Key, str]] = set()
        self.candidates: set[tuple[Key, str]] = set()
        self.all: list[tuple[str, str, str, str]] = []

    def add(self, block: dict[str, list[str]]) -> None:
        quantity = block["quantity"]
        if "revenue" in block:
            self.signs.update(zip(quantity, block["revenue"], strict=True))
        keys = block["customer"], block["item"], block["location"]
        if self.orders:
            self.all.extend(zip(*keys, quantity, strict=True))
            return
        customer, item, location = keys
        self.minus.update(
            ((customer[k], item[k], location[k]), q)
            for k, q in enumerate(quantity)
            if q[:1] == "-"
        )
        if len(self.candidates) < CANDIDATES:
            self.candidates.update(
                ((customer[k], item[k], location[k]), q)
                for k, q in enumerate(quantity)
                if q[:1] != "-"
            )

    def has_demand(self, qty: dict[str, float]) -> bool:
        """Whether a customer, item and location has a positive line and no return: then
        the run has demand (read_folder: its _check_history_demand decides the rest; a
        demand that only rows after the candidates show is left to it)."""
        if not any(value < 0 for value in qty.values()):
            return any(value > 0 for value in qty.values())
        returned = {key for key, q in self.minus if qty[q] < 0}
        return any(qty[q] > 0 and key not in returned for key, q in self.candidates)

    def cells(self, qty: dict[str, float]) -> dict[Key, tuple[bool, bool, float]]:
        """Per (customer, item, location): whether a line is positive, whether one is
        negative, and the lines' sizes summed (read_folder: its _check_order_cells)."""
        out: dict[Key, tuple[bool, bool, float]] = {}
        for customer, item, location, q in self.all:
            cell, value = (customer, item, location), qty[q]
            positive, negative, size = out.get(cell, (False, False, 0.0))
            out[cell] = (positive or value > 0, negative or value < 0, size + abs(value))
        return out


def _items(path: Path, families: set[str]) -> set[str]:
    """items.csv's items (read_folder: columns, each item once, unit_cost > 0, families of
    plan.yaml)."""
    columns = {"item", "family", "unit_cost"}
    rows, header, col = _columns(path, columns, columns)
    if header != columns:
        raise _Unsure
    items = _ids(col["item"])
    if len(items) != rows or not _ids(col["family"]) <= families:
        raise _Unsure
    if min(_numbers(col["unit_cost"]).values()) <= 0:
        raise _Unsure
    return items
