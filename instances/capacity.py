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
"""

from __future__ import annotations

import datetime as _dt
import math
import re
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
    """

    kind: Literal["capacity"] = "capacity"
    periods: list[str] = Field(min_length=1, description="Period labels in time order.")
    resources: list[Resource] = Field(min_length=1)
    products: list[Product] = Field(min_length=1)
    segments: list[Segment] = Field(min_length=1)
    demand: list[DemandRow] = Field(default_factory=list)
    objective: Literal["cost", "lexicographic"] = "cost"
    lot_sizing: bool = False

    @field_validator("periods", mode="before")
    @classmethod
    def _period_ids(cls, v: Any) -> Any:
        return [_id(p) for p in v] if isinstance(v, list) else v

    @model_validator(mode="after")
    def _check(self) -> CapacityInstance:
        _check_periods(self.periods)
        pset = set(self.periods)
        rids = _unique([r.id for r in self.resources], "resources", "id")
        for r in self.resources:
            for name in ("capacity", "overtime_capacity"):
                value = getattr(r, name)
                if isinstance(value, dict):
                    for key in value:
                        if key not in pset:
                            raise InstanceError(
                                f"resources: {name} of resource '{r.id}' names unknown period "
                                f"'{key}' (periods: {_few(self.periods)}).",
                                field=f"resources.{name}",
                            )
                    missing = [p for p in self.periods if p not in value]
                    if missing:
                        raise InstanceError(
                            f"resources: {name} of resource '{r.id}' has no value for period "
                            f"'{missing[0]}'; give every period or one number.",
                            field=f"resources.{name}",
                        )
        rset = set(rids)
        _unique([p.id for p in self.products], "products", "id")
        for p in self.products:
            if (p.usage is None) == (p.routings is None):
                raise InstanceError(
                    f"products: product '{p.id}' must give exactly one of usage or routings.",
                    field="products.usage",
                )
            if p.routings is not None:
                if not p.routings:
                    raise InstanceError(
                        f"products: product '{p.id}' has an empty routings list; no resource "
                        "can make it.",
                        field="products.routings",
                    )
                _unique([g.id for g in p.routings], f"products '{p.id}' routings", "id")
            for g in p.routing_list:
                where = "usage" if p.routings is None else f"routing '{g.id}' usage"
                for res in g.usage:
                    if res not in rset:
                        raise InstanceError(
                            f"products: {where} of product '{p.id}' names unknown resource "
                            f"'{res}' (resources: {_few(rids)}).",
                            field="products.usage",
                        )
                if not any(h > 0 for h in g.usage.values()):
                    raise InstanceError(
                        f"products: no resource can make product '{p.id}': its {where} has "
                        "no resource with positive hours per unit.",
                        field="products.usage",
                    )
            if p.max_inventory is not None and p.initial_inventory > p.max_inventory:
                raise InstanceError(
                    f"products: initial_inventory {p.initial_inventory:g} of product '{p.id}' "
                    f"exceeds its max_inventory {p.max_inventory:g}.",
                    field="products.initial_inventory",
                )
        _unique([s.name for s in self.segments], "segments", "name")
        _ = self.demand_arrays  # validates references and duplicates (vectorised)
        return self

    @cached_property
    def demand_arrays(self) -> dict[str, np.ndarray]:
        """Demand as integer index arrays ``product``, ``segment``, ``period`` + ``quantity``.

        Indices refer to the order of ``products``, ``segments`` and ``periods``. Validates
        references and duplicates without a Python loop over rows beyond reading them.
        """
        import numpy as np
        import pandas as pd

        n = len(self.demand)
        cols = {
            "product": pd.Index([p.id for p in self.products]),
            "segment": pd.Index([s.name for s in self.segments]),
            "period": pd.Index(self.periods),
        }
        out: dict[str, np.ndarray] = {}
        for name, index in cols.items():
            labels = [getattr(d, name) for d in self.demand]
            idx = index.get_indexer(pd.Index(labels)) if n else np.zeros(0, dtype=np.int64)
            bad = np.flatnonzero(idx < 0)
            if bad.size:
                k = int(bad[0])
                kind = {"product": "product", "segment": "segment", "period": "period"}[name]
                raise InstanceError(
                    f"demand[{k}].{name}: unknown {kind} '{labels[k]}' "
                    f"(known: {_few(list(index))}).",
                    field=f"demand[{k}].{name}",
                )
            out[name] = idx.astype(np.int64)
        out["quantity"] = np.fromiter((d.quantity for d in self.demand), np.float64, n)
        if n:
            key = (out["product"] * len(self.segments) + out["segment"]) * len(self.periods) + out[
                "period"
            ]
            uniq, first, counts = np.unique(key, return_index=True, return_counts=True)
            if uniq.size < n:
                dup = int(np.flatnonzero(counts > 1)[0])
                d = self.demand[int(first[dup])]
                raise InstanceError(
                    f"demand: duplicate row for product '{d.product}', segment "
                    f"'{d.segment}', period '{d.period}'; give one row per triple "
                    "(sum the quantities).",
                    field="demand",
                )
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


def _few(ids: list[str], n: int = 8) -> str:
    shown = ", ".join(ids[:n])
    return shown + (f", … ({len(ids)} in all)" if len(ids) > n else "")


def _unique(ids: list[str], field: str, attr: str) -> list[str]:
    seen: set[str] = set()
    for i in ids:
        if i in seen:
            raise InstanceError(
                f"{field}: duplicate {attr} '{i}'; every {attr} must be unique.",
                field=f"{field}.{attr}",
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


def _read(folder: Path, name: str, required: list[str], *, optional: bool = False):
    path = folder / name
    if not path.exists():
        if optional:
            return None
        raise InstanceError(f"{path}: file not found (required: {', '.join(required)}).")
    from optim.instances import gate

    # every cell as the text written (empty: ""); the index is the file line (header = 1)
    frame = gate.read_csv_text(path, name, None, keep_case=True).fillna("")
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InstanceError(
            f"{name}: missing column(s) {', '.join(missing)} (has: {', '.join(frame.columns)}).",
            field=name,
        )
    return frame


def _num(frame: pd.DataFrame, col: str, name: str, *, default: float | None = None):
    """Column as floats; empty cells → ``default`` (None keeps them as missing)."""
    out: list[float | None] = []
    for line, v in zip(frame.index, frame[col].tolist(), strict=True):
        v = str(v).strip()
        if v == "":
            out.append(default)
            continue
        try:
            value = float(v)
        except ValueError:
            value = math.nan
        if not math.isfinite(value):
            raise InstanceError(
                f"{name} line {line}, column {col}: {v!r} is not a number; allowed: a finite "
                "number.",
                field=f"{name}.{col}",
            )
        out.append(value)
    return out


def _clean_kw(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v is not None}


def read_csv_folder(path: str | Path) -> CapacityInstance:
    """Read a capacity instance from a folder of CSV files (layout in the module docstring).

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
    periods = _read(folder, "periods.csv", ["period"])["period"].str.strip().tolist()

    res = _read(folder, "resources.csv", ["id", "capacity"])
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
    resources: dict[str, dict[str, Any]] = {}
    for k, rid in enumerate(res["id"].str.strip()):
        if rid in resources:
            raise InstanceError(f"resources.csv: duplicate id '{rid}'.", field="resources.id")
        resources[rid] = {
            "id": rid,
            "capacity": res_cap[k],
            "overtime_capacity": res_ot[k],
            "overtime_cost": res_otc[k],
        }
    cap = _read(folder, "capacity.csv", ["resource", "period", "capacity"], optional=True)
    if cap is not None:
        cvals = _num(cap, "capacity", "capacity.csv")
        ovals = (
            _num(cap, "overtime_capacity", "capacity.csv") if "overtime_capacity" in cap else None
        )
        for k, (rid, per) in enumerate(
            zip(cap["resource"].str.strip(), cap["period"].str.strip(), strict=True)
        ):
            if rid not in resources:
                raise InstanceError(
                    f"capacity.csv line {cap.index[k]}: unknown resource '{rid}'.",
                    field="capacity.resource",
                )
            rec = resources[rid]
            for key, vals in (("capacity", cvals), ("overtime_capacity", ovals)):
                if vals is None or vals[k] is None:
                    continue
                if not isinstance(rec[key], dict):
                    base = rec[key]
                    rec[key] = {p: base for p in periods}
                rec[key][per] = vals[k]

    prod = _read(folder, "products.csv", ["id", "holding_cost"])
    products: dict[str, dict[str, Any]] = {}
    hold = _num(prod, "holding_cost", "products.csv")
    opt_cols = {
        c: _num(prod, c, "products.csv")
        for c in ("initial_inventory", "max_inventory", "setup_cost", "min_lot_size")
        if c in prod
    }
    usage_cols = [c for c in prod.columns if c.startswith("usage_")]
    usage_vals = {c: _num(prod, c, "products.csv") for c in usage_cols}
    for k, pid in enumerate(prod["id"].str.strip()):
        if pid in products:
            raise InstanceError(f"products.csv: duplicate id '{pid}'.", field="products.id")
        rec = {"id": pid, "holding_cost": hold[k]}
        rec.update(_clean_kw({c: v[k] for c, v in opt_cols.items()}))
        if usage_cols:
            rec["usage"] = {
                c[len("usage_") :]: v[k] for c, v in usage_vals.items() if v[k] is not None
            }
        products[pid] = rec
    use = _read(folder, "usage.csv", ["product", "resource", "hours"], optional=True)
    if use is not None:
        if usage_cols:
            raise InstanceError(
                "usage.csv and usage_<resource> columns in products.csv both give usage; "
                "use one of them.",
                field="usage",
            )
        hours = _num(use, "hours", "usage.csv")
        ucost = _num(use, "unit_cost", "usage.csv") if "unit_cost" in use else [None] * len(use)
        routes = (
            [r.strip() or "default" for r in use["routing"]]
            if "routing" in use
            else ["default"] * len(use)
        )
        per_product: dict[str, dict[str, dict[str, Any]]] = {}
        for k, (pid, rid) in enumerate(
            zip(use["product"].str.strip(), use["resource"].str.strip(), strict=True)
        ):
            if pid not in products:
                raise InstanceError(
                    f"usage.csv line {use.index[k]}: unknown product '{pid}'.",
                    field="usage.product",
                )
            route = per_product.setdefault(pid, {}).setdefault(
                routes[k], {"id": routes[k], "usage": {}}
            )
            if rid in route["usage"]:
                raise InstanceError(
                    f"usage.csv line {use.index[k]}: duplicate resource '{rid}' for product "
                    f"'{pid}' routing '{routes[k]}'.",
                    field="usage",
                )
            route["usage"][rid] = hours[k]
            if ucost[k] is not None:
                route["unit_cost"] = ucost[k]
        for pid, rec in products.items():
            routings = list(per_product.get(pid, {}).values())
            if "routing" in use and (
                len(routings) > 1 or (routings[:1] and routings[0]["id"] != "default")
            ):
                rec["routings"] = routings
            else:
                rec["usage"] = routings[0]["usage"] if routings else {}
    for rec in products.values():
        if "usage" not in rec and "routings" not in rec:
            rec["usage"] = {}

    seg = _read(folder, "segments.csv", ["name", "priority", "backlog_cost", "lost_sales_cost"])
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
    for k, name in enumerate(seg["name"].str.strip()):
        rec = {
            "name": name,
            "priority": _whole(prio[k], "segments.csv", "priority", name),
            "backlog_cost": bcost[k],
            "lost_sales_cost": lcost[k],
            "max_backlog_periods": _whole(kmax[k], "segments.csv", "max_backlog_periods", name),
        }
        if floor[k] is not None:
            rec["min_fill_rate"] = floor[k]
        segments.append(rec)

    dem = _read(folder, "demand.csv", ["product", "segment", "period", "quantity"])
    qty = _num(dem, "quantity", "demand.csv")
    demand = [
        {"product": p, "segment": s, "period": t, "quantity": q}
        for p, s, t, q in zip(
            dem["product"].str.strip(),
            dem["segment"].str.strip(),
            dem["period"].str.strip(),
            qty,
            strict=True,
        )
    ]
    settings: dict[str, Any] = {}
    sett = _read(folder, "settings.csv", ["key", "value"], optional=True)
    if sett is not None:
        for key, value in zip(sett["key"].str.strip(), sett["value"].str.strip(), strict=True):
            if key == "objective":
                settings["objective"] = value
            elif key == "lot_sizing":
                settings["lot_sizing"] = value.lower() in ("1", "true", "yes")
            else:
                raise InstanceError(
                    f"settings.csv: unknown key '{key}' (allowed: objective, lot_sizing).",
                    field="settings.key",
                )
    return CapacityInstance(
        periods=periods,
        resources=list(resources.values()),
        products=list(products.values()),
        segments=segments,
        demand=demand,
        **settings,
    )


def _whole(value: float | None, name: str, col: str, owner: str) -> Any:
    if value is None or value != int(value):
        raise InstanceError(
            f"{name}: {col} of '{owner}' must be a whole number, got {value!r}.",
            field=f"{name}.{col}",
        )
    return int(value)
