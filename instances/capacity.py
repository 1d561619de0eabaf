"""Schema of a peak-period capacity allocation instance, and its CSV-folder reader.

An instance lists ordered ``periods``, capacitated ``resources``, ``products`` (with the hours
each unit takes on each resource), customer ``segments`` (priority, backlog and lost-sales
penalties, optional fill-rate floor) and ``demand`` per (product, segment, period). The model
is stated in :mod:`optim.models.capacity`.

Every check raises :class:`optim.errors.InstanceError` naming the field, the offending id and
what is allowed.

CSV folder layout (:func:`read_csv_folder`)
-------------------------------------------
``periods.csv``
    column ``period``; rows in time order.
``resources.csv``
    ``id, capacity`` and optionally ``overtime_capacity, overtime_cost``.
``capacity.csv`` (optional)
    long table ``resource, period, capacity`` and optionally ``overtime_capacity``: per-period
    values that override ``resources.csv`` for the listed (resource, period) cells.
``products.csv``
    ``id, holding_cost`` and optionally ``initial_inventory, max_inventory, setup_cost,
    min_lot_size``; hours per unit either as columns ``usage_<resource>`` (empty = not used)
    or in ``usage.csv``.
``usage.csv`` (optional)
    long table ``product, resource, hours`` and optionally ``routing`` (alternative usage
    sets; rows without a routing, or a file without the column, form routing ``"default"``)
    and ``unit_cost`` (per unit made on that routing, constant per routing).
``segments.csv``
    ``name, priority, backlog_cost, lost_sales_cost`` and optionally
    ``max_backlog_periods, min_fill_rate`` (empty = no floor).
``demand.csv``
    ``product, segment, period, quantity``.
``settings.csv`` (optional)
    ``key, value`` rows; keys ``objective`` (``cost`` / ``lexicographic``) and ``lot_sizing``
    (``true`` / ``false``).

Nothing is dropped or merged in silence: a column a file does not know (a misspelt
``min_fill_rat`` would lose the floor), a repeated key row (resource and period,
product / segment / period, product / routing / resource, setting), a ``capacity.csv`` row
without a value, ``unit_cost`` cells of one routing that differ, and a ``demand.csv``
without rows are errors. Every error, also a schema error of the document built from the
files, names the file, the line as written (header = line 1), the column, the value and
what is allowed.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Sequence
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import Field, field_validator, model_validator

from optim.errors import InstanceError
from optim.instances.base import Document, Frozen, string_id

if TYPE_CHECKING:  # numpy and pandas are imported where used: `optim schema capacity` needs
    import numpy as np  # neither (CLI start-up)
    import pandas as pd

__all__ = [
    "CapacityInstance",
    "DemandRow",
    "Product",
    "Resource",
    "Routing",
    "Segment",
    "read_csv_folder",
]

NonNegative = Annotated[float, Field(ge=0)]
PerPeriod = NonNegative | dict[str, NonNegative]


_id = string_id


class Resource(Frozen):
    """A capacitated resource (a line, a machine group, a crew).

    Attributes
    ----------
    id
        Unique resource id.
    capacity
        Regular hours per period :math:`C_{rt}`: one number for every period, or
        ``{period: hours}`` covering every period.
    overtime_capacity
        Extra hours per period :math:`O_{rt}` that may be bought (same forms; default 0).
    overtime_cost
        Cost :math:`c_r` per overtime hour (default 0).
    """

    id: str = Field(min_length=1, description="Unique resource id.")
    capacity: PerPeriod = Field(description="Regular hours per period (number or {period: h}).")
    overtime_capacity: PerPeriod = Field(default=0.0, description="Overtime hours per period.")
    overtime_cost: NonNegative = Field(default=0.0, description="Cost per overtime hour.")

    _norm_id = field_validator("id", mode="before")(_id)


class Routing(Frozen):
    """One alternative way to make a product: its own hours per unit on each resource.

    Attributes
    ----------
    id
        Routing id, unique within its product.
    usage
        ``{resource: hours per unit}``; at least one entry with positive hours.
    unit_cost
        Extra cost per unit made on this routing (default 0), e.g. a slower alternate line.
    """

    id: str = Field(min_length=1, description="Routing id, unique within the product.")
    usage: dict[str, NonNegative] = Field(description="Hours per unit on each resource.")
    unit_cost: NonNegative = Field(default=0.0, description="Extra cost per unit made.")

    _norm_id = field_validator("id", mode="before")(_id)


class Product(Frozen):
    """A product made on the resources and held in stock.

    Give either ``usage`` (one way to make it) or ``routings`` (alternatives; the plan may
    split a period's production across them).

    Attributes
    ----------
    id
        Unique product id.
    holding_cost
        Cost :math:`h_p` per unit in stock at the end of a period.
    initial_inventory
        Stock :math:`I_{p0}` at the start of the horizon (default 0).
    usage
        ``{resource: hours per unit}`` (the single routing ``"default"``).
    routings
        Alternative usage sets (schema extension, see :class:`Routing`).
    max_inventory
        Upper bound on the end-of-period stock (default: none).
    setup_cost
        Cost per period in which a routing of the product produces (only with
        ``lot_sizing``; default 0).
    min_lot_size
        Minimum quantity per period and routing when it produces (only with ``lot_sizing``;
        default 0).
    """

    id: str = Field(min_length=1, description="Unique product id.")
    holding_cost: NonNegative = Field(description="Cost per unit held per period.")
    initial_inventory: NonNegative = Field(default=0.0, description="Stock at the start.")
    usage: dict[str, NonNegative] | None = Field(
        default=None, description="Hours per unit on each resource."
    )
    routings: list[Routing] | None = Field(
        default=None, description="Alternative usage sets (instead of usage)."
    )
    max_inventory: NonNegative | None = Field(default=None, description="Stock upper bound.")
    setup_cost: NonNegative = Field(default=0.0, description="Cost per production period.")
    min_lot_size: NonNegative = Field(default=0.0, description="Minimum production lot.")

    _norm_id = field_validator("id", mode="before")(_id)

    @property
    def routing_list(self) -> list[Routing]:
        """The product's routings (``usage`` becomes the routing ``"default"``)."""
        if self.routings is not None:
            return list(self.routings)
        return [Routing(id="default", usage=dict(self.usage or {}))]


class Segment(Frozen):
    """A customer segment.

    Attributes
    ----------
    name
        Unique segment name.
    priority
        1 is the highest; several segments may share a priority.
    backlog_cost
        Penalty :math:`b_s` per unit backlogged per period.
    lost_sales_cost
        Penalty :math:`\\ell_s` per unit lost.
    max_backlog_periods
        :math:`k_s`: how many periods unmet demand may wait (default 0: lost at once).
    min_fill_rate
        :math:`f_s`: share of the horizon's demand that must be shipped (default: none).
    """

    name: str = Field(min_length=1, description="Unique segment name.")
    priority: int = Field(ge=1, description="Priority, 1 highest.")
    backlog_cost: NonNegative = Field(description="Penalty per unit backlogged per period.")
    lost_sales_cost: NonNegative = Field(description="Penalty per unit lost.")
    max_backlog_periods: int = Field(default=0, ge=0, description="Periods demand may wait.")
    min_fill_rate: float | None = Field(
        default=None, ge=0, le=1, description="Share of demand that must be shipped."
    )

    _norm_name = field_validator("name", mode="before")(_id)


class DemandRow(Frozen):
    """Demand of one segment for one product in one period."""

    product: str
    segment: str
    period: str
    quantity: NonNegative

    _norm = field_validator("product", "segment", "period", mode="before")(_id)


class CapacityInstance(Document):
    """A peak-period capacity allocation instance (see :mod:`optim.models.capacity`).

    Attributes
    ----------
    kind
        Always ``"capacity"``.
    periods
        Period labels in time order.
    resources, products, segments, demand
        See :class:`Resource`, :class:`Product`, :class:`Segment`, :class:`DemandRow`.
    objective
        ``"cost"`` (default): minimise total cost. ``"lexicographic"``: minimise each
        priority's shortfall cost in turn, then total cost.
    lot_sizing
        When true, ``setup_cost`` and ``min_lot_size`` are modelled with binaries (a MIP);
        the default false solves the LP and ignores them.
    unit
        What the quantities count (``pcs``, ``boxes``); the result's messages name it.
    """

    kind: Literal["capacity"] = "capacity"
    periods: list[str] = Field(min_length=1, description="Period labels in time order.")
    resources: list[Resource] = Field(min_length=1)
    products: list[Product] = Field(min_length=1)
    segments: list[Segment] = Field(min_length=1)
    demand: list[DemandRow] = Field(default_factory=list)
    objective: Literal["cost", "lexicographic"] = "cost"
    lot_sizing: bool = False
    unit: str = Field(
        default="units",
        min_length=1,
        description="What the quantities count (e.g. pcs, boxes); the messages name it.",
    )

    @field_validator("periods", mode="before")
    @classmethod
    def _period_ids(cls, v: Any) -> Any:
        return [_id(p) for p in v] if isinstance(v, list) else v

    @model_validator(mode="after")
    def _check(self) -> CapacityInstance:
        # every field below names its record's index, so the CSV reader and the JSON/YAML
        # gate can point at the line the value was written on
        _check_periods(self.periods)
        check_supply(self.periods, self.resources, self.products)
        if self.lot_sizing:
            check_lots(self.periods, self.resources, self.products)
        _unique([s.name for s in self.segments], "segments", "name")
        if len(self.demand) <= PLAIN_DEMAND_ROWS:
            self._check_demand()
        else:
            _ = self.demand_arrays  # validates references and duplicates (vectorised)
        return self

    def _check_demand(self) -> None:
        """:attr:`demand_arrays`' checks (references column by column, then the first row
        that repeats a triple), with its messages, in plain Python: a small document's
        ``optim validate`` imports no numpy (tests/instances/test_capacity.py compares)."""
        cols = {
            "product": [p.id for p in self.products],
            "segment": [s.name for s in self.segments],
            "period": list(self.periods),
        }
        for name, known in cols.items():
            allowed = set(known)
            for k, d in enumerate(self.demand):
                label = getattr(d, name)
                if label not in allowed:
                    raise _unknown_demand(k, name, label, known)
        seen: set[tuple[str, str, str]] = set()
        for k, d in enumerate(self.demand):
            key = (d.product, d.segment, d.period)
            if key in seen:
                raise _duplicate_demand(d, k)
            seen.add(key)

    @cached_property
    def demand_arrays(self) -> dict[str, np.ndarray]:
        """Demand as integer index arrays ``product``, ``segment``, ``period`` + ``quantity``.

        Indices refer to the order of ``products``, ``segments`` and ``periods``. Validates
        references (one dictionary look-up per row and column) and duplicates (vectorised).
        """
        import numpy as np  # not pandas: `optim validate` of a document stays light

        n = len(self.demand)
        cols = {
            "product": [p.id for p in self.products],
            "segment": [s.name for s in self.segments],
            "period": list(self.periods),
        }
        out: dict[str, np.ndarray] = {}
        for name, known in cols.items():
            position = {label: k for k, label in enumerate(known)}  # unique: checked before
            labels = [getattr(d, name) for d in self.demand]
            idx = np.fromiter((position.get(v, -1) for v in labels), np.int64, n)
            bad = np.flatnonzero(idx < 0)
            if bad.size:
                k = int(bad[0])
                raise _unknown_demand(k, name, labels[k], known)
            out[name] = idx
        out["quantity"] = np.fromiter((d.quantity for d in self.demand), np.float64, n)
        if n:
            key = (out["product"] * len(self.segments) + out["segment"]) * len(self.periods) + out[
                "period"
            ]
            uniq, first = np.unique(key, return_index=True)
            if uniq.size < n:
                seen = np.zeros(n, dtype=bool)
                seen[first] = True
                again = int(np.flatnonzero(~seen)[0])  # the first row that repeats one
                raise _duplicate_demand(self.demand[again], again)
        return out

    def to_frames(self) -> dict[str, pd.DataFrame]:
        """The demand as a DataFrame (``demand``), for reporting."""
        import pandas as pd

        a = self.demand_arrays
        return {
            "demand": pd.DataFrame(
                {
                    "product": [self.products[i].id for i in a["product"]],
                    "segment": [self.segments[i].name for i in a["segment"]],
                    "period": [self.periods[i] for i in a["period"]],
                    "quantity": a["quantity"],
                }
            )
        }


def check_supply(
    periods: Sequence[str],
    resources: Sequence[Resource],
    products: Sequence[Product],
    *,
    key: str = "products",
    word: str = "product",
) -> None:
    """The checks of resources and products together: per-period capacities keyed by the
    periods (each period once), usage naming known resources, every product made by some
    resource, initial stock within the stock bound. ``key`` and ``word`` name the products
    in messages and fields: ``plan.yaml``'s reader runs this on its ``families`` before any
    solve (the capacity model refused them after the forecast, naming history.csv)."""
    pset = set(periods)
    rids = _unique([r.id for r in resources], "resources", "id")
    for k, r in enumerate(resources):
        for name in ("capacity", "overtime_capacity"):
            value = getattr(r, name)
            if isinstance(value, dict):
                for label in value:
                    if label not in pset:
                        raise InstanceError(
                            f"resources: {name} of resource '{r.id}' names unknown period "
                            f"'{label}' (periods: {_few(list(periods))}).",
                            field=f"resources[{k}].{name}.{label}",
                        )
                missing = [p for p in periods if p not in value]
                if missing:
                    raise InstanceError(
                        f"resources: {name} of resource '{r.id}' has no value for period "
                        f"'{missing[0]}'; give every period or one number.",
                        field=f"resources[{k}].{name}",
                    )
    rset = set(rids)
    _unique([p.id for p in products], key, "id")
    for k, p in enumerate(products):
        at = f"{key}[{k}]"
        if (p.usage is None) == (p.routings is None):
            raise InstanceError(
                f"{key}: {word} '{p.id}' must give exactly one of usage or routings.",
                field=f"{at}.usage",
            )
        if p.routings is not None:
            if not p.routings:
                raise InstanceError(
                    f"{key}: {word} '{p.id}' has an empty routings list; no resource can make it.",
                    field=f"{at}.routings",
                )
            _unique(
                [g.id for g in p.routings],
                f"{key} '{p.id}' routings",
                "id",
                path=f"{at}.routings",
            )
        for j, g in enumerate(p.routing_list):
            where = "usage" if p.routings is None else f"routing '{g.id}' usage"
            path = f"{at}.usage" if p.routings is None else f"{at}.routings[{j}].usage"
            for res in g.usage:
                if res not in rset:
                    raise InstanceError(
                        f"{key}: {where} of {word} '{p.id}' names unknown resource '{res}' "
                        f"(resources: {_few(rids)}).",
                        field=f"{path}.{res}",
                    )
            if not any(h > 0 for h in g.usage.values()):
                raise InstanceError(
                    f"{key}: no resource can make {word} '{p.id}': its {where} has no "
                    "resource with positive hours per unit.",
                    field=path,
                )
        if p.max_inventory is not None and p.initial_inventory > p.max_inventory:
            raise InstanceError(
                f"{key}: initial_inventory {p.initial_inventory:g} of {word} '{p.id}' "
                f"exceeds its max_inventory {p.max_inventory:g}.",
                field=f"{at}.initial_inventory",
            )


def check_lots(
    periods: Sequence[str],
    resources: Sequence[Resource],
    products: Sequence[Product],
    *,
    key: str = "products",
    word: str = "product",
) -> None:
    """Every ``min_lot_size`` fits some routing in some period (regular plus overtime hours):
    a larger one is a product that can never be made, and the plan lost all its demand
    without a word. ``key`` and ``word`` as in :func:`check_supply` (``plan.yaml``'s
    families)."""
    hours = {r.id: r for r in resources}

    def most(r: Resource, t: str) -> float:
        cap, ot = r.capacity, r.overtime_capacity
        return (cap[t] if isinstance(cap, dict) else cap) + (ot[t] if isinstance(ot, dict) else ot)

    for k, p in enumerate(products):
        if p.min_lot_size <= 0:
            continue
        best = max(
            min(most(hours[res], t) / h for res, h in g.usage.items() if h > 0)
            for g in p.routing_list
            for t in periods
        )
        if p.min_lot_size > best * (1 + 1e-9):
            raise InstanceError(
                f"{key}: min_lot_size {p.min_lot_size:g} of {word} '{p.id}' is more than "
                f"any routing can make in a period (regular plus overtime hours): the {word} "
                f"could never be made; allowed: at most {best:.6g}, or lot_sizing false.",
                field=f"{key}[{k}].min_lot_size",
            )


PLAIN_DEMAND_ROWS = 20_000
"""Demand rows up to which the instance's references and duplicates are checked in plain
Python (larger demand tables by :attr:`CapacityInstance.demand_arrays`, vectorised)."""


def _unknown_demand(k: int, name: str, label: str, known: list[str]) -> InstanceError:
    return InstanceError(
        f"demand[{k}].{name}: unknown {name} '{label}' (known: {_few(known)}).",
        field=f"demand[{k}].{name}",
    )


def _duplicate_demand(d: DemandRow, k: int) -> InstanceError:
    return InstanceError(
        f"demand: duplicate row for product '{d.product}', segment '{d.segment}', period "
        f"'{d.period}'; give one row per triple (sum the quantities).",
        field=f"demand[{k}]",
    )


def _few(ids: list[str], n: int = 8) -> str:
    shown = ", ".join(ids[:n])
    return shown + (f", … ({len(ids)} in all)" if len(ids) > n else "")


def _unique(ids: list[str], field: str, attr: str, *, path: str | None = None) -> list[str]:
    """``ids``; a repeated one is an error whose field is the repeat's path
    (``resources[3].id``, ``periods[2]``)."""
    seen: set[str] = set()
    for k, i in enumerate(ids):
        if i in seen:
            at = f"{path or field}[{k}]"
            raise InstanceError(
                f"{field}: duplicate {attr} '{i}'; every {attr} must be unique.",
                field=at if field == "periods" else f"{at}.{attr}",
            )
        seen.add(i)
    return ids


_PREFIX_INT = re.compile(r"^(.*?)(\d+)$")


def _period_keys(periods: list[str]) -> list[Any] | None:
    """Comparable keys when the labels show their order (dates, numbers, prefix + number)."""
    try:
        return [_dt.date.fromisoformat(p) for p in periods]
    except ValueError:
        pass
    try:
        return [float(p) for p in periods]
    except ValueError:
        pass
    matches = [_PREFIX_INT.match(p) for p in periods]
    if all(matches) and len({m.group(1) for m in matches if m}) == 1:
        return [int(m.group(2)) for m in matches if m]
    return None


def _check_periods(periods: list[str]) -> None:
    """Repeated labels are an error; so are labels that visibly run backwards.

    Order is checked when every label is an ISO date, a number, or one common prefix
    followed by a number (``W1``, ``W2``, …, ``2025-W10``): then labels must increase.
    """
    _unique(periods, "periods", "label")
    keys = _period_keys(periods)
    if keys is None:
        return
    for k in range(1, len(keys)):
        if not keys[k] > keys[k - 1]:
            raise InstanceError(
                f"periods: '{periods[k]}' comes after '{periods[k - 1]}' but is not later; "
                "list the periods in time order.",
                field=f"periods[{k}]",
            )


# --------------------------------------------------------------------------------------------
# CSV folder reader
# --------------------------------------------------------------------------------------------

_NUMBER = "a number from 0 to 1e12"
_COLUMNS: dict[str, tuple[str, ...]] = {
    "periods.csv": ("period",),
    "resources.csv": ("id", "capacity", "overtime_capacity", "overtime_cost"),
    "capacity.csv": ("resource", "period", "capacity", "overtime_capacity"),
    "products.csv": (
        "id",
        "holding_cost",
        "initial_inventory",
        "max_inventory",
        "setup_cost",
        "min_lot_size",
    ),
    "usage.csv": ("product", "routing", "resource", "hours", "unit_cost"),
    "segments.csv": (
        "name",
        "priority",
        "backlog_cost",
        "lost_sales_cost",
        "max_backlog_periods",
        "min_fill_rate",
    ),
    "demand.csv": ("product", "segment", "period", "quantity"),
    "settings.csv": ("key", "value"),
}
"""The columns each file may have (products.csv also ``usage_<resource>``)."""

_ALLOWED = {
    "priority": "a whole number >= 1 (1 is the highest)",
    "max_backlog_periods": "a whole number >= 0 (empty: 0)",
    "min_fill_rate": "a number from 0 to 1 (empty: no floor)",
    "id": "a non-empty id",
    "name": "a non-empty name",
    "period": "a period label of periods.csv",
    "value": "for objective: cost or lexicographic; for lot_sizing: true or false",
}
_BOOLEAN = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}
_FIELD = re.compile(r"^(\w+)(?:\[(\d+)\])?(?:\.(.+))?$")
_ROUTING = re.compile(r"^routings\[(\d+)\]\.(\w+)(?:\.(.+))?$")
_VALUE_ERROR = re.compile(r"Input should|must be a number|allowed: finite|at least 1 character")


def _allowed(column: str) -> str:
    return _ALLOWED.get(column, _NUMBER)


class _Folder:
    """The files of one capacity CSV folder, every cell as the text written, and where each
    value of the document built from them was written: :meth:`located` turns a schema error
    of the document (``periods[3]``, ``resources[0].capacity.W2``) into one that names the
    file, the line as the planner sees it (header = line 1), the column, the value as
    written and what is allowed."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.frames: dict[str, pd.DataFrame] = {}
        self.lines: dict[str, list[int]] = {}  # record index -> file line, per list
        self.cap_lines: dict[tuple[str, str, str], int] = {}  # (resource, period, column)
        self.usage_lines: dict[tuple[str, str, str], int] = {}  # (product, routing, resource)
        self.cost_lines: dict[tuple[str, str], int] = {}  # (product, routing) -> unit_cost
        self.routes: dict[str, list[str]] = {}  # product -> routing ids in document order
        self.setting_lines: dict[str, int] = {}
        self.usage_columns = False
        self.ids: dict[str, list[str]] = {}  # resource and product ids in document order

    def read(self, name: str, required: list[str], *, optional: bool = False) -> Any:
        path = self.folder / name
        if not path.exists():
            if optional:
                return None
            raise InstanceError(f"{path}: file not found (required: {', '.join(required)}).")
        from optim.instances import gate

        # every cell as the text written (empty: ""); the index is the file line (header = 1)
        frame = gate.read_csv_text(path, name, None, keep_case=True).fillna("")
        missing = [c for c in required if c not in frame.columns]
        if missing:
            raise gate.refuse(
                name,
                f"missing column(s) {', '.join(missing)} (has: {', '.join(frame.columns)})",
                line=1,
                allowed=f"a header with {', '.join(required)} (lower case)",
            )
        known = _COLUMNS[name]
        for col in frame.columns:
            if col not in known and not (name == "products.csv" and col.startswith("usage_")):
                extra = ", usage_<resource>" if name == "products.csv" else ""
                raise gate.refuse(
                    name,
                    f"unknown column {col!r} (a misspelt column would be ignored)",
                    line=1,
                    field=col,
                    allowed=", ".join(known) + extra,
                )
        self.frames[name] = frame
        return frame

    def cell(self, name: str, line: int, column: str | None) -> Any:
        frame = self.frames.get(name)
        if frame is None or column is None or column not in frame.columns:
            return None
        return frame.at[line, column]

    def spot(self, field: str) -> tuple[str, int, str | None] | None:
        """The file, line and column a document field was read from (None: not known)."""
        m = _FIELD.match(field)
        if m is None:
            return None
        top, index, rest = m.group(1), m.group(2), m.group(3) or ""
        if top in ("objective", "lot_sizing"):
            line = self.setting_lines.get(top)
            return None if line is None else ("settings.csv", line, "value")
        if index is None or top not in self.lines or int(index) >= len(self.lines[top]):
            return None
        k = int(index)
        line = self.lines[top][k]
        column, _, key = rest.partition(".")
        if top == "periods":
            return "periods.csv", line, "period"
        if top == "demand":
            return "demand.csv", line, column or None
        if top == "segments":
            return "segments.csv", line, column or None
        if top == "resources":
            written = self.cap_lines.get((self.ids["resources"][k], key, column)) if key else None
            if written is not None:
                return "capacity.csv", written, column
            return "resources.csv", line, column or None
        pid = self.ids["products"][k]
        if column == "usage" and key:
            if self.usage_columns:
                return "products.csv", line, f"usage_{key}"
            at = self.usage_lines.get((pid, "default", key))
            return ("usage.csv", at, "hours") if at is not None else None
        r = _ROUTING.match(rest)
        if r is not None and pid in self.routes and int(r.group(1)) < len(self.routes[pid]):
            route = self.routes[pid][int(r.group(1))]
            if r.group(2) == "usage" and r.group(3):
                at = self.usage_lines.get((pid, route, r.group(3)))
                return ("usage.csv", at, "hours") if at is not None else None
            if r.group(2) == "unit_cost" and (pid, route) in self.cost_lines:
                return "usage.csv", self.cost_lines[pid, route], "unit_cost"
        if column in ("usage", "routings"):
            return "products.csv", line, "id"
        return "products.csv", line, column or None

    def located(self, exc: InstanceError) -> InstanceError:
        """``exc`` (raised by the document) with the file, line, column and value in front."""
        from optim.instances import gate

        spot = self.spot(exc.field) if exc.field else None
        if spot is None:
            return exc
        name, line, column = spot
        message = str(exc)
        reason = message.split(": ", 1)[1] if ": " in message else message
        raw = self.cell(name, line, column)
        if column is not None and _VALUE_ERROR.search(reason):
            what = f"{gate.shown(raw)} is not allowed"
            allowed: str | None = _allowed(column)
            if column.startswith("usage_"):
                allowed = _NUMBER + " hours per unit (empty: not used)"
        else:
            what, allowed = reason.rstrip("."), None
        out = gate.refuse(name, what, line=line, field=column, allowed=allowed)
        out.field = exc.field
        return out


def _num(frame: pd.DataFrame, col: str, name: str, *, default: float | None = None):
    """Column as floats; empty cells → ``default`` (None keeps them as missing)."""
    from optim.instances import gate

    out: list[float | None] = []
    for line, v in zip(frame.index, frame[col].tolist(), strict=True):
        v = str(v).strip()
        if v == "":
            out.append(default)
            continue
        # a numeral as the gate spells one: float() also took '1_5' (as 15), '１５' and '١٥'
        value = float(v) if gate.NUMERAL.fullmatch(v) else math.nan
        if not math.isfinite(value):
            allowed = _allowed(col)
            raise InstanceError(
                f"{name} line {line}, column {col}: {v!r} is not a number; allowed: {allowed}.",
                field=f"{name}.{col}",
            )
        out.append(value)
    return out


def _clean_kw(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def _ids(frame: pd.DataFrame, column: str) -> list[str]:
    return [str(v).strip() for v in frame[column].tolist()]


def _labels(src: _Folder, name: str, column: str, what: str) -> list[str]:
    """The ids of a file's records (``column``, stripped): at least one row, none empty,
    none repeated; the record index -> file line map is kept for :meth:`_Folder.spot`."""
    from optim.instances import gate

    frame = src.frames[name]
    ids = _ids(frame, column)
    if not ids:
        raise gate.refuse(
            name, "has a header but no rows", line=1, allowed=f"at least one {what} row"
        )
    for k, label in enumerate(ids):
        if not label:
            raise gate.refuse(
                name,
                "(empty) is not allowed",
                line=int(frame.index[k]),
                field=column,
                allowed=f"a {what} {column}" if column != "period" else "a period label",
            )
    _first_repeat(name, frame, {column: ids}, f"each {column} once")
    src.lines[name.removesuffix(".csv")] = frame.index.tolist()
    return ids


def _first_repeat(
    name: str, frame: pd.DataFrame, keys: dict[str, list[str]], allowed: str
) -> None:
    """A row whose ``keys`` repeat an earlier row's is an error naming both lines."""
    import pandas as pd

    from optim.instances import gate

    table = pd.DataFrame(keys)
    again = table.duplicated(keep="first").to_numpy()
    if not again.any():
        return
    k = int(again.argmax())
    first = int((table == table.iloc[k]).all(axis=1).to_numpy().argmax())
    values = ", ".join(f"{c} {gate.shown(v[k])}" for c, v in keys.items())
    raise gate.refuse(
        name,
        f"{values} repeats line {frame.index[first]}",
        line=int(frame.index[k]),
        field=next(iter(keys)) if len(keys) == 1 else None,
        allowed=allowed,
    )


def _known(
    name: str,
    frame: pd.DataFrame,
    column: str,
    values: list[str],
    known: list[str],
    source: str,
) -> None:
    """Every value names a known id (vectorised; the first unknown one is the error)."""
    import numpy as np
    import pandas as pd

    from optim.instances import gate

    if not values:
        return
    bad = np.flatnonzero(~pd.Index(values, dtype=object).isin(known))
    if bad.size:
        k = int(bad[0])
        raise gate.refuse(
            name,
            f"unknown {column} {gate.shown(values[k])}",
            line=int(frame.index[k]),
            field=column,
            allowed=f"a {column} of {source} ({_few(known)})",
        )


def read_csv_folder(path: str | Path) -> CapacityInstance:
    """Read a capacity instance from a folder of CSV files (layout in the module docstring).

    Every error names the file, the line as written (header = line 1), the column, the value
    and what is allowed: a missing file or column, an unknown column, a cell that is not a
    number, an unknown resource / product / segment / period, a repeated key row, and every
    schema error of the document built from the files (a negative capacity, a priority
    below 1, ...).

    Parameters
    ----------
    path
        The folder.

    Returns
    -------
    CapacityInstance

    Raises
    ------
    InstanceError
        For a missing file or column, a non-numeric cell, or any schema error.
    """
    folder = Path(path)
    if not folder.is_dir():
        raise InstanceError(f"{folder}: not a folder.")
    src = _Folder(folder)
    from optim.instances import gate

    src.read("periods.csv", ["period"])
    periods = _labels(src, "periods.csv", "period", "period")
    res = src.read("resources.csv", ["id", "capacity"])
    rids = _labels(src, "resources.csv", "id", "resource")
    res_cap = _num(res, "capacity", "resources.csv")
    res_ot = (
        _num(res, "overtime_capacity", "resources.csv", default=0.0)
        if "overtime_capacity" in res
        else [0.0] * len(res)
    )
    res_otc = (
        _num(res, "overtime_cost", "resources.csv", default=0.0)
        if "overtime_cost" in res
        else [0.0] * len(res)
    )
    resources: dict[str, dict[str, Any]] = {
        rid: {
            "id": rid,
            "capacity": res_cap[k],
            "overtime_capacity": res_ot[k],
            "overtime_cost": res_otc[k],
        }
        for k, rid in enumerate(rids)
    }
    src.ids["resources"] = rids
    cap = src.read("capacity.csv", ["resource", "period", "capacity"], optional=True)
    if cap is not None:
        cap_res, cap_per = _ids(cap, "resource"), _ids(cap, "period")
        _known("capacity.csv", cap, "resource", cap_res, rids, "resources.csv")
        _known("capacity.csv", cap, "period", cap_per, periods, "periods.csv")
        _first_repeat(
            "capacity.csv",
            cap,
            {"resource": cap_res, "period": cap_per},
            "one row per (resource, period)",
        )
        cvals = _num(cap, "capacity", "capacity.csv")
        ovals = (
            _num(cap, "overtime_capacity", "capacity.csv") if "overtime_capacity" in cap else None
        )
        for k, (rid, p) in enumerate(zip(cap_res, cap_per, strict=True)):
            line = int(cap.index[k])
            if cvals[k] is None and (ovals is None or ovals[k] is None):
                raise gate.refuse(
                    "capacity.csv",
                    "(empty) is not allowed: the row would change nothing",
                    line=line,
                    field="capacity",
                    allowed=_NUMBER + " (hours of the resource in the period)",
                )
            rec = resources[rid]
            for key, vals in (("capacity", cvals), ("overtime_capacity", ovals)):
                if vals is None or vals[k] is None:
                    continue
                if not isinstance(rec[key], dict):
                    base = rec[key]
                    rec[key] = {q: base for q in periods}
                rec[key][p] = vals[k]
                src.cap_lines[rid, p, key] = line

    prod = src.read("products.csv", ["id", "holding_cost"])
    pids = _labels(src, "products.csv", "id", "product")
    src.ids["products"] = pids
    hold = _num(prod, "holding_cost", "products.csv")
    opt_cols = {
        c: _num(prod, c, "products.csv")
        for c in ("initial_inventory", "max_inventory", "setup_cost", "min_lot_size")
        if c in prod
    }
    usage_cols = [c for c in prod.columns if c.startswith("usage_")]
    for c in usage_cols:
        if c[len("usage_") :] not in resources:
            raise gate.refuse(
                "products.csv",
                f"column {c!r} names unknown resource {c[len('usage_') :]!r}",
                line=1,
                field=c,
                allowed=f"usage_<resource> for a resource of resources.csv ({_few(rids)})",
            )
    src.usage_columns = bool(usage_cols)
    usage_vals = {c: _num(prod, c, "products.csv") for c in usage_cols}
    products: dict[str, dict[str, Any]] = {}
    for k, pid in enumerate(pids):
        rec = {"id": pid, "holding_cost": hold[k]}
        rec.update(_clean_kw({c: v[k] for c, v in opt_cols.items()}))
        if usage_cols:
            rec["usage"] = {
                c[len("usage_") :]: v[k] for c, v in usage_vals.items() if v[k] is not None
            }
        products[pid] = rec
    use = src.read("usage.csv", ["product", "resource", "hours"], optional=True)
    if use is not None:
        if usage_cols:
            raise InstanceError(
                "usage.csv and usage_<resource> columns in products.csv both give usage; "
                "use one of them.",
                field="usage",
            )
        _read_usage(src, use, products, pids, rids)
    for rec in products.values():
        if "usage" not in rec and "routings" not in rec:
            rec["usage"] = {}

    seg = src.read("segments.csv", ["name", "priority", "backlog_cost", "lost_sales_cost"])
    names = _labels(src, "segments.csv", "name", "segment")
    prio = _num(seg, "priority", "segments.csv")
    bcost = _num(seg, "backlog_cost", "segments.csv")
    lcost = _num(seg, "lost_sales_cost", "segments.csv")
    kmax = (
        _num(seg, "max_backlog_periods", "segments.csv", default=0.0)
        if "max_backlog_periods" in seg
        else [0.0] * len(seg)
    )
    floor = (
        _num(seg, "min_fill_rate", "segments.csv") if "min_fill_rate" in seg else [None] * len(seg)
    )
    segments = []
    for k, name in enumerate(names):
        rec = {
            "name": name,
            "priority": prio[k],
            "backlog_cost": bcost[k],
            "lost_sales_cost": lcost[k],
            "max_backlog_periods": kmax[k],
        }
        if floor[k] is not None:
            rec["min_fill_rate"] = floor[k]
        segments.append(rec)

    dem = src.read("demand.csv", ["product", "segment", "period", "quantity"])
    if not len(dem):  # (an export that lost its rows would plan nothing, "optimal 0")
        raise gate.refuse(
            "demand.csv", "has a header but no rows", line=1, allowed="at least one demand row"
        )
    src.lines["demand"] = dem.index.tolist()
    keys = {c: gate.strip_text(dem[c]).tolist() for c in ("product", "segment", "period")}
    _known("demand.csv", dem, "product", keys["product"], pids, "products.csv")
    _known("demand.csv", dem, "segment", keys["segment"], names, "segments.csv")
    _known("demand.csv", dem, "period", keys["period"], periods, "periods.csv")
    _first_repeat(
        "demand.csv", dem, keys, "one row per (product, segment, period): add the quantities"
    )
    qty = _num(dem, "quantity", "demand.csv")
    demand = [
        {"product": p, "segment": s, "period": t, "quantity": q}
        for p, s, t, q in zip(keys["product"], keys["segment"], keys["period"], qty, strict=True)
    ]
    settings = _read_settings(src)
    try:
        return CapacityInstance(
            periods=periods,
            resources=list(resources.values()),
            products=list(products.values()),
            segments=segments,
            demand=demand,
            **settings,
        )
    except InstanceError as exc:
        raise src.located(exc) from None


def _read_usage(
    src: _Folder,
    use: pd.DataFrame,
    products: dict[str, dict[str, Any]],
    pids: list[str],
    rids: list[str],
) -> None:
    """usage.csv into the products' ``usage`` (one routing) or ``routings``."""
    from optim.instances import gate

    prods, res_ids = _ids(use, "product"), _ids(use, "resource")
    _known("usage.csv", use, "product", prods, pids, "products.csv")
    _known("usage.csv", use, "resource", res_ids, rids, "resources.csv")
    hours = _num(use, "hours", "usage.csv")
    ucost = _num(use, "unit_cost", "usage.csv") if "unit_cost" in use else [None] * len(use)
    routes = _ids(use, "routing") if "routing" in use else [""] * len(use)
    routes = [r or "default" for r in routes]
    _first_repeat(
        "usage.csv",
        use,
        {"product": prods, "routing": routes, "resource": res_ids},
        "one row per (product, routing, resource)",
    )
    per_product: dict[str, dict[str, dict[str, Any]]] = {}
    for k, (pid, rid) in enumerate(zip(prods, res_ids, strict=True)):
        line = int(use.index[k])
        route = per_product.setdefault(pid, {}).setdefault(
            routes[k], {"id": routes[k], "usage": {}}
        )
        route["usage"][rid] = hours[k]
        src.usage_lines[pid, routes[k], rid] = line
        if ucost[k] is not None:
            before = src.cost_lines.get((pid, routes[k]))
            if before is not None and route["unit_cost"] != ucost[k]:
                raise gate.refuse(
                    "usage.csv",
                    f"unit_cost {gate.shown(use.at[line, 'unit_cost'])} of product {pid!r} "
                    f"routing {routes[k]!r} differs from line {before}'s "
                    f"{gate.shown(use.at[before, 'unit_cost'])}",
                    line=line,
                    field="unit_cost",
                    allowed="one unit_cost per routing (other rows of it: the same or empty)",
                )
            route["unit_cost"] = ucost[k]
            src.cost_lines[pid, routes[k]] = line
    for pid, rec in products.items():
        routings = list(per_product.get(pid, {}).values())
        if len(routings) > 1 or any(
            g["id"] != "default" or "unit_cost" in g for g in routings
        ):  # a unit_cost is kept on the routing, never dropped
            rec["routings"] = routings
            src.routes[pid] = [g["id"] for g in routings]
        else:
            rec["usage"] = routings[0]["usage"] if routings else {}


def _read_settings(src: _Folder) -> dict[str, Any]:
    from optim.instances import gate

    settings: dict[str, Any] = {}
    sett = src.read("settings.csv", ["key", "value"], optional=True)
    if sett is None:
        return settings
    for k, (key, value) in enumerate(zip(_ids(sett, "key"), _ids(sett, "value"), strict=True)):
        line = int(sett.index[k])
        if key not in ("objective", "lot_sizing"):
            raise gate.refuse(
                "settings.csv",
                f"unknown key {gate.shown(key)}",
                line=line,
                field="key",
                allowed="objective, lot_sizing",
            )
        if key in src.setting_lines:
            raise gate.refuse(
                "settings.csv",
                f"key {key!r} repeats line {src.setting_lines[key]}",
                line=line,
                field="key",
                allowed="each key once",
            )
        src.setting_lines[key] = line
        if key == "objective":
            settings["objective"] = value
        elif value.lower() in _BOOLEAN:
            settings["lot_sizing"] = _BOOLEAN[value.lower()]
        else:
            raise gate.refuse(
                "settings.csv",
                f"lot_sizing {gate.shown(value)} is not allowed",
                line=line,
                field="value",
                allowed="true or false (also yes / no, 1 / 0)",
            )
    return settings
