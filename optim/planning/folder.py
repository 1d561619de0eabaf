"""Inputs of the end-to-end planning run, and their folder format.

A planning folder holds

================ ======== ===============================================================
file             required content
================ ======== ===============================================================
``history.csv``  yes      order lines (columns as :mod:`optim.segmentation.history`)
``orders.csv``   yes      this week's open order lines (same columns): the week to ration
``items.csv``    yes      ``item, family, unit_cost`` (family = capacity product)
``plan.yaml``    yes      ``plan_start`` (a date in the first planned week), ``plan_weeks``,
                          ``network`` (per-item template: ``stages``, ``arcs``,
                          ``demand_stage_of_location``), ``resources`` and ``families``
                          (capacity resources and products, as in the capacity schema),
                          optional ``name``, ``disruption`` (item → share of planned
                          stock that arrives this week) and ``forecast`` (``statistical``,
                          the default, or ``seasonal_naive``: how the peak is forecast)
                          and ``ordering_cost`` (currency per replenishment order: the
                          min/max order quantity is the EOQ; without it one review
                          period's demand, :mod:`optim.planning.replenishment`);
                          ``lot_sizing`` (``true``: the peak plan is a MIP with the
                          families' ``setup_cost`` and ``min_lot_size``; default ``false``,
                          an LP, refuses families that give either);
                          ``currency`` (e.g. ``EUR``) and ``units`` (e.g. ``pcs``): what
                          money and quantities are counted in, shown in the report's and
                          the workbook's columns, charts and alerts
``supply.csv``   no       ``item, location, quantity``: stock this week (default: planned
                          stock from the safety-stock plan × disruption); pairs of this
                          week's orders it does not list follow ``supply_missing``
``pins.csv``     no       ``customer, segment``: customers pinned to a segment
``policy.yaml``  no       the policy table (default: the packaged one)
``receipts.csv`` no       ``lane, order_date, receipt_date, quantity`` (+ ``item``): goods
                          receipts; each lane (a network stage id) is planned with its
                          empirical lead-time distribution, extended lanes flagged
                          (:mod:`optim.instances.receipts`)
``shipments.csv`` no      ``customer, item, date, quantity, shipped_quantity, ship_date``
                          (+ ``due_date``): what was shipped; the report reviews the
                          achieved service against the targets
                          (:mod:`optim.planning.review`)
================ ======== ===============================================================

Rules the planner chooses in ``plan.yaml`` (reported in the run's notes):

``supply_missing``
    ``error`` (default): every (item, location) of ``orders.csv`` must be in ``supply.csv``;
    ``planned``: unlisted pairs get the planned stock; ``zero``: they get none.
``items_without_history``
    ``report`` (default): items of ``items.csv`` without order lines are listed in the
    notes and get no stock plan; ``error``: refused.
``pins``
    ``{customer: segment}``, merged with ``pins.csv``: a pin of ``pins.csv`` wins over
    ``plan.yaml``'s (each such override is listed in the notes), ``optim plan --pin`` wins
    over both (listed too); a customer pinned to two segments within ``pins.csv`` is an
    error, and so is a pin for a customer without order lines in ``history.csv``.

Limits: ``plan_weeks`` in 1..:data:`MAX_PLAN_WEEKS`; ``plan_start`` and the orders' dates
within :data:`MAX_START_AFTER_DAYS` days after the last history line (the seasonal naïve forecast
repeats last year's weeks); numbers strict and finite (:mod:`optim.instances.gate`).

:func:`read_folder` validates everything a run needs before any solve and raises
:class:`~optim.errors.InstanceError` naming the file, the field or row and what is allowed;
:func:`write_folder` writes the same layout (``optim demo`` writes its generated example as
``input/`` so ``optim plan demo-output/input`` reproduces it).
"""

from __future__ import annotations

import datetime as _dt
import os
import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from optim.errors import InstanceError
from optim.instances.gate import iso_day
from optim.planning.plan_document import (
    FORECASTS,
    ITEM_RULES,
    LABEL_PATTERN,
    MAX_PLAN_WEEKS,
    NETWORK_KEYS,
    PLAN_KEYS,
    REQUIRED_PLAN_KEYS,
    SUPPLY_RULES,
    plan_schema,
)

if TYPE_CHECKING:  # pandas is imported where a frame is built: `optim validate FOLDER`
    import pandas as pd  # checks the plan without it (optim.planning.folder_check)

__all__ = ["PlanningData", "plan_schema", "read_folder", "write_folder"]

FILES = (
    "plan.yaml",
    "history.csv",
    "orders.csv",
    "items.csv",
    "supply.csv",
    "pins.csv",
    "policy.yaml",
    "receipts.csv",
    "shipments.csv",
)
"""The files a planning folder may hold; any other ``.csv`` / ``.yaml`` / ``.yml`` file is
refused (a misspelt ``supplies.csv`` would otherwise plan with the planned stock)."""
MAX_START_AFTER_DAYS = 364
"""``plan_start`` and the dates of ``orders.csv`` lie at most this many days after the last
history line."""
ID_COLUMNS = ("customer", "item", "location", "channel", "order", "family", "segment")


@dataclass(frozen=True)
class PlanningData:
    """Inputs of the end-to-end planning run (:func:`optim.planning.run`).

    Attributes
    ----------
    name
        Name of the data set.
    history
        Order lines (columns as :mod:`optim.segmentation.history`), dates parsed.
    orders
        This week's open order lines (same columns): the week to ration.
    network
        Per-item network template for :func:`~optim.planning.build_item_safety_stock`.
    items
        ``item, family, unit_cost`` for the items of the history.
    families
        Capacity products, one per family (``id, holding_cost, usage`` …).
    resources
        Capacity resources (``id, capacity, overtime_capacity, overtime_cost``).
    plan_start
        Monday of the first planning week; ``plan_weeks`` weeks are planned.
    plan_weeks
        Length of the capacity planning window in weeks.
    supply
        ``item, location, quantity`` stock available this week, or None to derive it from
        the safety-stock plan (cycle stock + safety stock) scaled by ``disruption``.
    disruption
        Item → share of its planned stock that arrives this week (items not listed: 1).
    policy
        Policy table document (``combine``, ``segments``) or None for the packaged one.
    supply_missing, items_without_history
        The rules chosen in ``plan.yaml`` (module docstring).
    forecast
        ``"statistical"`` (default): the peak is planned on :func:`optim.forecast` and safety
        stock is sized from its forecast error; ``"seasonal_naive"``: last year's weeks and
        the history's standard deviation (the baseline).
    ordering_cost
        Cost per replenishment order for the EOQ of min/max items (None: not given).
    lot_sizing
        True: the peak plan is a MIP with the families' ``setup_cost`` and
        ``min_lot_size``; False (default): an LP, and families must have neither.
    currency, units
        What money and quantities are counted in (``plan.yaml``; None: not stated, shown
        as plain numbers and "units").
    pins
        Customer → segment pins (``plan.yaml`` ``pins:`` and ``pins.csv``).
    notes
        What the reader found and decided (rules applied), for the run's summary.
    source
        Where the data came from: ``folder`` and the SHA-256 of its files (the output
        manifest records it).
    receipts
        Validated goods receipts (:func:`optim.instances.receipts.read_receipts`) or None.
    shipments
        Validated shipped order lines (:func:`optim.planning.review.read_shipments`) or None.
    """

    name: str
    history: pd.DataFrame
    orders: pd.DataFrame
    network: dict[str, Any]
    items: pd.DataFrame
    families: list[dict[str, Any]]
    resources: list[dict[str, Any]]
    plan_start: pd.Timestamp
    plan_weeks: int
    supply: pd.DataFrame | None = None
    disruption: dict[str, float] = field(default_factory=dict)
    policy: dict[str, Any] | None = None
    supply_missing: str = "error"
    items_without_history: str = "report"
    pins: dict[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    source: dict[str, Any] = field(default_factory=dict)
    forecast: str = "statistical"
    ordering_cost: float | None = None
    lot_sizing: bool = False
    receipts: pd.DataFrame | None = None
    currency: str | None = None
    units: str | None = None
    shipments: pd.DataFrame | None = None

    @property
    def manifest_input(self) -> dict[str, Any]:
        """The input facts an output folder's manifest records: :attr:`source` and the first
        planned week (``plan_start``, read back by ``--previous``)."""
        return {**self.source, "plan_start": self.plan_start.date().isoformat()}


def items_without_history(items: pd.DataFrame, history: pd.DataFrame) -> list[str]:
    """Items of ``items`` with no order line in ``history`` (sorted): they get no stock plan."""
    return sorted(set(items["item"]) - set(history["item"]))


def without_history_note(without: list[str], n_items: int) -> str:
    """The run's note for the rule ``items_without_history: report``: how many items of
    items.csv get no stock plan, and the first few."""
    return (
        f"items: {len(without)} of {n_items} items of items.csv have no order lines in "
        "history.csv and get no stock plan (rule items_without_history: report): "
        f"{', '.join(without[:5])}{', …' if len(without) > 5 else ''}."
    )


def disrupted_without_history_note(items: list[str]) -> str:
    """The run's note for ``disruption`` entries on items without order lines: they get no
    stock plan, so the disruption changes nothing (it was accepted without a word)."""
    return (
        f"disruption: {len(items)} item(s) of plan.yaml disruption have no order lines in "
        "history.csv, so they get no stock plan and their disruption changes nothing: "
        f"{', '.join(items[:5])}{', …' if len(items) > 5 else ''}."
    )


def uncovered_note(uncovered: int, weeks: int) -> str:
    """The run's note for a seasonal naïve forecast of weeks without history a year earlier."""
    return (
        f"forecast: {uncovered} of the {weeks} planned weeks have no history a year "
        "earlier, so the seasonal naïve forecast gives them no demand."
    )


class _Plan:
    """``plan.yaml`` with the text kept, so every error names its line."""

    def __init__(self, path: Path) -> None:
        from optim.instances import gate

        self.path = path
        self.text = gate.read_text(path, "plan.yaml")
        doc = gate.parse_yaml(self.text, "plan.yaml")
        if not isinstance(doc, dict):
            raise gate.refuse(
                "plan.yaml",
                f"holds {type(doc).__name__ if doc is not None else 'nothing'}",
                allowed="a mapping of plan keys (see `optim schema plan`)",
            )
        self.doc = doc

    def error(self, where: str, what: str, allowed: str | None = None) -> InstanceError:
        from optim.instances import gate

        line = gate.field_line(self.text, ".yaml", where)
        return gate.refuse("plan.yaml", what, line=line, field=where, allowed=allowed)

    def located(self, exc: InstanceError, prefix: str) -> InstanceError:
        path = f"{prefix}.{exc.field}" if exc.field else prefix
        return self.error(path.replace(".[", "["), str(exc).rstrip("."))


class Records(Protocol):
    """A check of ``plan.yaml``'s records for :func:`_check_plan`: the poolings allowed, and
    a call that returns a record (``"stage"``, ``"arc"``, ``"resource"``, ``"family"``) as
    the model reads it or raises."""

    poolings: tuple[str, ...]

    def __call__(self, kind: str, rec: dict[str, Any]) -> Any: ...

    def supply(self, weeks: list[str], resources: list[Any], families: list[Any]) -> None:
        """The resources and families (as returned by the call) checked together; ``weeks``
        are the planned weeks' labels (``YYYY-MM-DD`` of their Mondays)."""

    def lots(self, weeks: list[str], resources: list[Any], families: list[Any]) -> None:
        """With ``lot_sizing: true``: every family's ``min_lot_size`` fits some week."""


class ModelRecords:
    """``plan.yaml``'s records (a ``stage`` and an ``arc`` of the network, a ``resource``, a
    ``family``) checked by the instance models, as :func:`read_folder` checks them; a
    refusal is the model's :class:`~optim.errors.InstanceError`. ``optim validate`` first
    tries a plain check that only accepts (:mod:`optim.planning.folder_check`)."""

    def __init__(self) -> None:
        from optim.instances.capacity import Product, Resource
        from optim.instances.safety_stock import POOLINGS, Arc, Stage

        self.poolings: tuple[str, ...] = POOLINGS
        self.models: dict[str, Any] = {
            "stage": Stage,
            "arc": Arc,
            "resource": Resource,
            "family": Product,
        }

    def __call__(self, kind: str, rec: dict[str, Any]) -> Any:
        """The record as the model reads it (attributes ``id``, ``lead_time``, …)."""
        from pydantic import ValidationError

        from optim.instances.base import instance_error

        try:
            return self.models[kind].model_validate(rec)
        except ValidationError as exc:
            raise instance_error(exc, rec) from None

    def supply(self, weeks: list[str], resources: list[Any], families: list[Any]) -> None:
        """The capacity model's checks of resources and families together
        (:func:`~optim.instances.capacity.check_supply`), naming them ``families``."""
        from optim.instances.capacity import check_supply

        check_supply(weeks, resources, families, key="families", word="family")

    def lots(self, weeks: list[str], resources: list[Any], families: list[Any]) -> None:
        """:func:`~optim.instances.capacity.check_lots`, naming them ``families``."""
        from optim.instances.capacity import check_lots

        check_lots(weeks, resources, families, key="families", word="family")


def _plan_monday(raw: Any) -> _dt.date | None:
    """The Monday of ``plan_start``'s week (None: not a day written ``YYYY-MM-DD`` or a YAML
    date). Other spellings are refused: pandas read ``08/07/2025`` month first even in a
    folder whose CSV files are day first (the plan started a month late, exit 0), ``2025-07``
    as 1 July, ``today`` from the clock, and a time with an offset ended as an internal
    error."""
    day = iso_day(raw)
    return None if day is None else day - _dt.timedelta(days=day.weekday())


def _check_plan(plan: _Plan, records: Records | None = None) -> dict[str, Any]:
    """Shapes, types and limits of every ``plan.yaml`` key; returns the checked values.
    ``records`` checks the stages, arcs, resources and families (:class:`ModelRecords`
    when None) and names the poolings allowed."""
    from optim.instances import gate

    check = records if records is not None else ModelRecords()
    doc = plan.doc
    unknown = sorted(map(str, set(doc) - PLAN_KEYS))
    if unknown:
        raise plan.error(
            unknown[0], f"unknown key {unknown[0]!r}", f"the keys {', '.join(sorted(PLAN_KEYS))}"
        )
    missing = [k for k in REQUIRED_PLAN_KEYS if k not in doc]
    if missing:
        raise plan.error(
            missing[0], f"missing key {missing[0]!r}", f"{', '.join(REQUIRED_PLAN_KEYS)} required"
        )
    out: dict[str, Any] = {}
    name = doc.get("name", None)
    if name is not None and not isinstance(name, str | int):
        raise plan.error("name", f"name {gate.shown(name)} is not text", "a name")
    raw_start = doc["plan_start"]
    start = _plan_monday(raw_start)
    if start is None:
        raise plan.error(
            "plan_start",
            f"plan_start {gate.shown(raw_start)} is not a day written YYYY-MM-DD",
            "a date such as 2025-06-02 (year, month, day)",
        )
    out["plan_start"] = start
    weeks = doc["plan_weeks"]
    if not isinstance(weeks, int) or isinstance(weeks, bool):
        raise plan.error(
            "plan_weeks",
            f"plan_weeks {gate.shown(weeks)} is not a whole number",
            f"a whole number of weeks in 1..{MAX_PLAN_WEEKS}",
        )
    if not 1 <= weeks <= MAX_PLAN_WEEKS:
        raise plan.error(
            "plan_weeks",
            f"plan_weeks {weeks} is out of range",
            f"a whole number of weeks in 1..{MAX_PLAN_WEEKS} (plan_weeks must be >= 1)",
        )
    out["plan_weeks"] = weeks

    network = doc["network"]
    if not isinstance(network, dict):
        raise plan.error(
            "network", "network is not a mapping", "stages, arcs and demand_stage_of_location"
        )
    bad = sorted(map(str, set(network) - NETWORK_KEYS))
    if bad:
        raise plan.error(
            f"network.{bad[0]}", f"unknown network key {bad[0]!r}", ", ".join(sorted(NETWORK_KEYS))
        )
    # (checked later by the safety-stock model, naming no file: 'pooling: Input should be
    # ...' after the history was read, and `optim validate` passed it)
    pooling = network.get("pooling", "critical_level")
    if pooling not in check.poolings:
        raise plan.error(
            "network.pooling",
            f"network.pooling is {gate.shown(pooling)}",
            " | ".join(check.poolings),
        )
    net_name = network.get("name")
    if net_name is not None and not isinstance(net_name, str):
        raise plan.error(
            "network.name", f"network.name {gate.shown(net_name)} is not text", "a name"
        )
    for key in ("stages", "demand_stage_of_location"):
        if key not in network:
            raise plan.error(
                "network",
                f"network lacks {key!r}",
                "a network with stages, arcs and demand_stage_of_location",
            )
    stages = network["stages"]
    if not isinstance(stages, list) or not stages:
        raise plan.error(
            "network.stages",
            "network.stages is not a non-empty list",
            "a list of stages (id, lead_time, holding_cost)",
        )
    parsed: list[Any] = []
    for k, rec in enumerate(stages):
        if not isinstance(rec, dict):
            raise plan.error(
                f"network.stages[{k}]", "a stage is not a mapping", "id, lead_time, holding_cost"
            )
        try:
            parsed.append(check("stage", rec))
        except InstanceError as exc:
            raise plan.located(exc, f"network.stages[{k}]") from None
    ids = [st.id for st in parsed]
    for k, sid in enumerate(ids):
        if sid in ids[:k]:
            raise plan.error(
                f"network.stages[{k}].id", f"stage {sid!r} is listed twice", "each stage once"
            )
    arcs = network.get("arcs") or []
    if not isinstance(arcs, list):
        raise plan.error("network.arcs", "network.arcs is not a list", "a list of source/target")
    pairs: list[tuple[str, str]] = []
    for k, rec in enumerate(arcs):
        if not isinstance(rec, dict):
            raise plan.error(f"network.arcs[{k}]", "an arc is not a mapping", "source, target")
        try:
            arc = check("arc", rec)
        except InstanceError as exc:
            raise plan.located(exc, f"network.arcs[{k}]") from None
        for end in ("source", "target"):
            if getattr(arc, end) not in ids:
                raise plan.error(
                    f"network.arcs[{k}].{end}",
                    f"arc {end} {getattr(arc, end)!r} is not a stage of network.stages",
                    f"one of {', '.join(ids[:8])}{', …' if len(ids) > 8 else ''}",
                )
        # the run attributes each stage's stock to the segments below it along a tree of
        # unit arcs (pipeline.safety_stock_by_segment): refused there after the solves,
        # naming no file
        if arc.quantity != 1:
            raise plan.error(
                f"network.arcs[{k}].quantity",
                f"arc quantity {gate.shown(rec.get('quantity'))} ({arc.source} -> {arc.target})",
                "1 (omit it): the planning run's network is a tree of unit arcs",
            )
        first = next((u for u, v in pairs if v == arc.target), None)
        if first is not None:
            raise plan.error(
                f"network.arcs[{k}].target",
                f"stage {arc.target!r} has a second supplier {arc.source!r} (the first is "
                f"{first!r})",
                "one supplier per stage: the planning run's network is a tree",
            )
        pairs.append((arc.source, arc.target))
    from optim.models.graph import find_cycle

    index = {sid: k for k, sid in enumerate(ids)}
    cycle = [
        ids[k]
        for k in find_cycle(len(ids), [index[u] for u, _ in pairs], [index[v] for _, v in pairs])
    ]
    if cycle:
        raise plan.error(
            "network.arcs",
            "the arcs form a cycle: " + " -> ".join([*cycle, cycle[0]]),
            "an acyclic network",
        )
    parents = [t for _, t in pairs]
    tree = len(set(parents)) == len(parents)
    try:
        gate.check_gsm_memory(
            **gate.memory_inputs(parsed, pairs), tree=tree, where="network.stages"
        )
    except InstanceError as exc:
        raise plan.error(str(exc.field), str(exc).rstrip(".")) from None
    mapping = network["demand_stage_of_location"]
    if not isinstance(mapping, dict) or not mapping:
        raise plan.error(
            "network.demand_stage_of_location", "it is not a mapping", "location: stage lines"
        )
    for loc, stage in mapping.items():
        if str(stage).strip() not in ids:
            raise plan.error(
                f"network.demand_stage_of_location.{loc}",
                f"location {loc!r} maps to {gate.shown(stage)}, not a stage of network.stages",
                f"one of {', '.join(ids[:8])}",
            )
    # ids as the models read them, spaces at either end gone: the run reads these records
    # again, and a stage 'Plant ' passed here but failed the plan after the forecast
    located = {str(k).strip(): str(v).strip() for k, v in mapping.items()}
    out["network"] = dict(network) | {
        "stages": [rec | {"id": st.id} for rec, st in zip(stages, parsed, strict=True)],
        "demand_stage_of_location": located,
    }
    if "arcs" in network:
        out["network"]["arcs"] = [
            rec | {"source": s, "target": t} for rec, (s, t) in zip(arcs, pairs, strict=True)
        ]
    out["locations"] = located

    models: dict[str, list[Any]] = {}
    for key, what in (("resources", "resource"), ("families", "family")):
        records = doc[key]
        if not isinstance(records, list) or not records:
            raise plan.error(key, f"{key} is not a non-empty list", f"a list of {what} records")
        # (a repeated id was refused by the capacity model after the forecast, as
        # "products: duplicate id", naming no file)
        listed: dict[str, int] = {}
        models[key] = []
        for k, rec in enumerate(records):
            if not isinstance(rec, dict):
                raise plan.error(f"{key}[{k}]", f"a {what} is not a mapping", "id: … records")
            try:
                models[key].append(check(what, rec))
            except InstanceError as exc:
                raise plan.located(exc, f"{key}[{k}]") from None
            rid = str(models[key][-1].id)  # (as the model reads it: spaces at either end go)
            if rid in listed:
                raise plan.error(
                    f"{key}[{k}].id",
                    f"{what} {rid!r} is listed twice (first as {key}[{listed[rid]}])",
                    f"each {what} once",
                )
            listed[rid] = k
        out[key] = [rec | {"id": m.id} for rec, m in zip(records, models[key], strict=True)]
    # resources and families together, as the capacity model checks them: a family without
    # usage, with zero usage or naming an unknown resource, or a capacity keyed by a week
    # outside the plan, passed `optim validate` and failed the plan ~9 s in, naming
    # history.csv's forecast
    weeks_planned = [(start + _dt.timedelta(weeks=w)).isoformat() for w in range(weeks)]
    try:
        check.supply(weeks_planned, models["resources"], models["families"])
    except InstanceError as exc:
        field = str(exc.field)
        what = str(exc).rstrip(".").removeprefix("resources: ").removeprefix("families: ")
        last = re.sub(r"\[\d+\]", "", field.rsplit(".", 1)[-1])
        rule: str | None = None
        if field.startswith("resources"):
            rule = (
                f"one number for every week, or a value keyed by each planned week's Monday "
                f"({weeks_planned[0]} … {weeks_planned[-1]})"
            )
        elif "exactly one of usage or routings" in what:
            rule = "either usage (resource: hours per unit) or routings, not both"
        elif ".usage." in field:
            rule = "a resource id of plan.yaml resources"
        elif last == "usage":
            rule = "usage: resource: hours per unit, positive for at least one resource"
        elif last == "routings":
            rule = "a non-empty list of routings"
        elif last == "id":
            rule = "each routing id once"
        elif last == "initial_inventory":
            rule = "initial_inventory <= max_inventory"
        raise plan.error(field, what.split(" (periods: ")[0], rule) from None

    cost = doc.get("ordering_cost")
    if cost is not None and (
        isinstance(cost, bool) or not isinstance(cost, int | float) or not 0 <= cost <= 1e12
    ):
        raise plan.error(
            "ordering_cost",
            f"ordering_cost is {gate.shown(cost)}",
            "a number >= 0 (currency per replenishment order)",
        )
    out["ordering_cost"] = None if cost is None else float(cost)
    lot = doc.get("lot_sizing", False)
    if not isinstance(lot, bool):
        raise plan.error("lot_sizing", f"lot_sizing is {gate.shown(lot)}", "true or false")
    out["lot_sizing"] = lot
    # the peak plan is an LP unless the planner asks for setups: a family's setup_cost or
    # min_lot_size was dropped without a word (only a note in capacity_result.json)
    for k, fam in enumerate(models["families"]):
        for term in ("setup_cost", "min_lot_size"):
            value = getattr(fam, term, 0)
            if value and not lot:
                raise plan.error(
                    f"families[{k}].{term}",
                    f"{term} {value:g} of family {fam.id!r} takes effect only with "
                    "lot_sizing: true",
                    f"lot_sizing: true in plan.yaml (the peak plan becomes a MIP with {term} "
                    f"per family, resource and week), or {term} 0",
                )
    if lot:  # (a min_lot_size no week can make passed validate; the plan refused it after
        # the forecast, naming history.csv)
        try:
            check.lots(weeks_planned, models["resources"], models["families"])
        except InstanceError as exc:
            said, _, fits = (
                str(exc).rstrip(".").removeprefix("families: ").partition("; allowed: ")
            )
            raise plan.error(str(exc.field), said, fits or None) from None
    for key, example in (("currency", "EUR"), ("units", "pcs")):
        label = doc.get(key)
        if label is not None and not (
            isinstance(label, str) and re.fullmatch(LABEL_PATTERN, label)
        ):
            raise plan.error(
                key,
                f"{key} is {gate.shown(label)}",
                f"text of 1..12 characters such as {example} (no quotes, backslashes or line "
                "breaks, no space at either end)",
            )
        out[key] = label
    disruption = doc.get("disruption") or {}
    if not isinstance(disruption, dict):
        raise plan.error("disruption", "disruption is not a mapping", "item: share lines")
    for item, share in disruption.items():
        if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
            raise plan.error(
                f"disruption.{item}",
                f"disruption of {str(item)!r} is {gate.shown(share)}",
                "a share in [0, 1] (a number, not text)",
            )
    out["disruption"] = {str(k): float(v) for k, v in disruption.items()}
    for key, allowed, default in (
        ("supply_missing", SUPPLY_RULES, "error"),
        ("items_without_history", ITEM_RULES, "report"),
        ("forecast", FORECASTS, "statistical"),
    ):
        value = doc.get(key, default)
        if value not in allowed:
            raise plan.error(key, f"{key} is {gate.shown(value)}", " | ".join(allowed))
        out[key] = value
    pins = doc.get("pins") or {}
    if not isinstance(pins, dict) or not all(
        isinstance(v, str) and isinstance(k, str | int) for k, v in pins.items()
    ):
        raise plan.error("pins", "pins is not a mapping of customer: segment", "customer: segment")
    out["pins"] = {str(k): v for k, v in pins.items()}
    out["name"] = None if name is None else str(name)
    return out


def _csv(folder: Path, name: str, required: bool = True) -> pd.DataFrame | None:
    """A folder CSV through the input gate (cells as written, index = file line)."""
    from optim.instances import gate

    path = folder / name
    if not path.exists():
        if required:
            raise InstanceError(
                f"planning folder {str(folder)!r} lacks {name}; it needs history.csv, "
                "orders.csv, items.csv and plan.yaml (supply.csv, pins.csv, policy.yaml "
                "optional).",
                field=name,
            )
        return None
    return gate.read_csv_text(path, name)


def _columns(frame: pd.DataFrame, name: str, required: tuple[str, ...]) -> None:
    """The file has the ``required`` columns and no other (an extra column was dropped
    without a word: items.csv's ``holding_cost`` was never used)."""
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise InstanceError(
            f"{name} line 1: missing column(s) {', '.join(missing)}; required: "
            f"{', '.join(required)} (has: {', '.join(frame.columns)}).",
            field=f"{name}.{missing[0]}",
        )
    unknown = [str(c) for c in frame.columns if c not in required]
    if unknown:
        raise InstanceError(
            f"{name} line 1: unknown column {unknown[0]!r}; allowed: {', '.join(required)} "
            "(no other column is read).",
            field=f"{name}.{unknown[0]}",
        )


def _bad_ref(
    frame: pd.DataFrame, name: str, col: str, known: set[str], what: str, hint: str = ""
) -> None:
    """Every value of ``frame[col]`` must be in ``known``: the first stray names its line."""
    from optim.instances import gate

    values = frame[col]
    bad = ~values.isin(known)
    if bad.any():
        line: Any = bad.idxmax()
        value = frame[col].loc[line]
        strays = sorted(set(values[bad]))
        sample = ", ".join(sorted(known)[:8]) + (", …" if len(known) > 8 else "")
        more = (
            f" ({len(strays)} unknown values in all: {', '.join(strays[:5])})"
            if len(strays) > 1
            else ""
        )
        raise InstanceError(
            f"{name} line {line}, column {col}: {gate.shown(value)} is not {what}{more}; "
            f"allowed: {sample}{hint}.",
            field=f"{name}.{col}",
        )


def _lines(
    frame: pd.DataFrame, name: str, *, window: bool, dayfirst: bool | None = None
) -> pd.DataFrame:
    """Validate order lines with the segmentation's rules; dates parsed, ids stripped,
    numbers typed; the index stays the file line. Each column is parsed once: the typed
    frame takes the validated dates and ids (no bucketing: validation needs none)."""
    from optim.segmentation.history import check_lines

    frame = frame.copy(deep=False)
    frame.attrs["source"] = name
    lines = check_lines(frame, date_window=window, dayfirst=dayfirst)
    return _typed(
        frame,
        {
            "date": lines.dates.to_numpy(),
            "customer": lines.customer,
            "item": lines.item,
            "location": lines.location,
            "channel": lines.channel,
            "order": lines.order,
        },
    )


def _check_history_demand(history: pd.DataFrame) -> None:
    """The run's demand cells: lines summed per customer, item, location and week (returns
    netted), those above zero kept; with none, the run failed after segmenting ("stages is
    empty" from the safety-stock step, naming no file). Proven at once by a positive line
    whose customer, item and location has no return (usually the first); else by the
    weekly sums."""
    keys = ["customer", "item", "location"]
    q = history["quantity"].to_numpy(dtype=float)
    if not (q > 0).any():
        raise InstanceError(
            f"history.csv line {history.index[0]}, column quantity: none of the "
            f"{len(history):,} order lines has a quantity > 0; allowed: an order history with "
            "demand.",
            field="history.quantity",
        )
    returns = q < 0
    if not returns.any():
        return
    columns = [history[k].to_numpy(dtype=object) for k in keys]
    returned = set(zip(*(c[returns] for c in columns), strict=True))
    for k in (q > 0).nonzero()[0]:
        if (columns[0][k], columns[1][k], columns[2][k]) not in returned:
            return
    week = history["date"].dt.to_period("W").rename("week")
    if (history.groupby([*(history[k] for k in keys), week])["quantity"].sum() > 0).any():
        return
    raise InstanceError(
        f"history.csv line {history.index[0]}, column quantity: no demand — the "
        f"{len(history):,} order lines sum to 0 or less for every customer, item, location "
        "and week (returns netted); allowed: an order history with demand.",
        field="history.quantity",
    )


def _check_order_cells(orders: pd.DataFrame) -> None:
    """The week to ration as the run builds it: the lines of one customer, item and location
    summed (returns netted), cells at or below zero dropped. No cell left, or a cell above
    the largest quantity rationing plans exactly, was refused after the forecast and the
    solves, as "the history has no demand in the period" / "demand[6] (id 'C1|I1|R-03')",
    naming neither orders.csv nor a line."""
    from optim.instances import gate

    keys = [c for c in ("customer", "item", "location") if c in orders.columns]
    net = orders.groupby(keys, sort=False)["quantity"].transform("sum")
    if not (net > 0).any():
        raise InstanceError(
            f"orders.csv line {orders.index[0]}, column quantity: no open order to ration — "
            f"the {len(orders)} order line(s) sum to 0 or less for every "
            f"{', '.join(keys)} (returns netted); allowed: at least one positive order.",
            field="orders.quantity",
        )
    big = net > gate.MAX_MAGNITUDE
    if big.any():
        line: Any = big.idxmax()
        raise InstanceError(
            f"orders.csv line {line}, column quantity: the lines of "
            + ", ".join(f"{k} {orders[k].loc[line]!r}" for k in keys)
            + f" sum to {gate.shown(float(net.loc[line]))}; allowed: at most "
            f"{gate.MAX_MAGNITUDE:.0e} per customer, item and location (the largest quantity "
            "rationing plans exactly; state larger quantities in a larger unit).",
            field="orders.quantity",
        )


def _typed(frame: pd.DataFrame, parsed: dict[str, Any] | None = None) -> pd.DataFrame:
    """Cells as written → typed columns (dates, stripped ids, numbers where every cell is
    one), as ``pandas.read_csv`` would give them; ``parsed`` holds columns already parsed
    (one value per row)."""
    import pandas as pd

    from optim.instances import gate

    parsed = parsed or {}
    columns: dict[str, Any] = {}
    for col in frame.columns:
        raw = frame[col]
        if parsed.get(col) is not None:
            columns[col] = parsed[col]
        elif col == "date":
            columns[col] = _parse_dates(raw).to_numpy()
        elif col in ID_COLUMNS:  # (an empty cell is '', not 'nan', in messages and checks)
            columns[col] = gate.strip_text(raw.fillna("")).to_numpy()
        elif pd.api.types.is_numeric_dtype(raw.dtype) and not pd.api.types.is_bool_dtype(
            raw.dtype
        ):
            columns[col] = raw.to_numpy()
        else:
            values = pd.to_numeric(raw, errors="coerce")
            typed = not values.isna().any() or (raw == "").all()
            columns[col] = (values if typed else raw).to_numpy()
    out = pd.DataFrame(columns, index=frame.index, columns=frame.columns)
    out.attrs.update(frame.attrs)
    return out


def _parse_dates(raw: pd.Series) -> pd.Series:
    from optim.segmentation.history import parse_dates

    parsed = parse_dates(raw)
    if getattr(parsed.dt, "tz", None) is not None:
        parsed = parsed.dt.tz_localize(None)
    return parsed


def read_folder(folder: str | os.PathLike[str]) -> PlanningData:
    """Read and validate a planning folder (module docstring) before any solve.

    Every file passes the input gate (:mod:`optim.instances.gate`); then the cross-file
    references are checked: items of the order lines in ``items.csv``, families in
    ``plan.yaml``, locations of ``history.csv``, ``orders.csv`` and ``supply.csv`` mapped
    by ``network.demand_stage_of_location``, customers of ``orders.csv`` in the history,
    ``supply.csv`` complete for this week's orders (or the ``supply_missing`` rule), dates
    within the stated window. Errors name the file, the line, the column or field, the
    value and what is allowed; the rules applied are listed in ``notes``.
    """
    import pandas as pd

    from optim.instances import gate

    gate.check_path(folder, "folder")
    folder = Path(folder)
    if not folder.is_dir():
        raise InstanceError(
            f"planning folder {str(folder)!r} does not exist"
            + (" (it is a file)" if folder.exists() else "")
            + "; allowed: a folder with history.csv, orders.csv, items.csv and plan.yaml.",
            field="folder",
        )
    strays = sorted(
        p.name
        for p in folder.iterdir()
        if p.suffix.lower() in (".csv", ".yaml", ".yml") and p.name not in FILES
    )
    if strays:
        from difflib import get_close_matches

        near = get_close_matches(strays[0], FILES, n=1)
        raise InstanceError(
            f"planning folder {str(folder)!r}: {strays[0]!r} is not a file optim reads"
            + (f" (did you mean {near[0]!r}?)" if near else "")
            + f"; allowed: {', '.join(FILES)} (move other files out of the folder).",
            field=strays[0],
        )
    plan_path = folder / "plan.yaml"
    if not plan_path.exists():
        raise InstanceError(f"planning folder {str(folder)!r} lacks plan.yaml.", "plan.yaml")
    plan = _Plan(plan_path)
    cfg = _check_plan(plan)
    notes: list[str] = []

    history_raw = _csv(folder, "history.csv")
    orders_raw = _csv(folder, "orders.csv")
    items_raw = _csv(folder, "items.csv")
    assert history_raw is not None and orders_raw is not None and items_raw is not None
    locations = cfg["locations"]
    for name, raw in (("history.csv", history_raw), ("orders.csv", orders_raw)):
        if "location" not in raw.columns and "all" not in locations:
            raise InstanceError(
                f"{name} line 1: no location column; plan.yaml maps locations "
                f"{', '.join(sorted(locations)[:8])} to stages "
                "(network.demand_stage_of_location), so every order line needs its location "
                f"(has: {', '.join(raw.columns)}).",
                field=f"{name}.location",
            )
    # one order of day and month for the folder: this week's orders dated 07/01..07/04 show
    # none, and were refused (or read month first) beside a history that shows it
    dayfirst = None
    if "date" in history_raw.columns and "date" in orders_raw.columns:
        from optim.segmentation.history import day_first

        dates = []
        for name, raw in (("history.csv", history_raw), ("orders.csv", orders_raw)):
            dates.append(raw["date"].copy())
            dates[-1].attrs.update(source=name, name="date")
        dayfirst = day_first(*dates)
    history = _lines(history_raw, "history.csv", window=True, dayfirst=dayfirst)
    orders = _lines(orders_raw, "orders.csv", window=False, dayfirst=dayfirst)

    _columns(items_raw, "items.csv", ("item", "family", "unit_cost"))
    if items_raw.empty:  # (every history line was then "not an item of items.csv; allowed: .")
        raise InstanceError(
            "items.csv line 1: no item rows; allowed: one row per item (item, family, unit_cost).",
            field="items.item",
        )
    items = _typed(items_raw)
    for col in ("item", "family"):  # (an empty item was read as 'nan' and blamed history.csv)
        blank = items[col] == ""
        if blank.any():
            line: Any = blank.idxmax()
            raise InstanceError(
                f"items.csv line {line}, column {col}: no {col} (the cell is empty or "
                "blank); allowed: an id.",
                field=f"items.{col}",
            )
    dup = items["item"].duplicated()
    if dup.any():
        line = dup.idxmax()
        raise InstanceError(
            f"items.csv line {line}, column item: {items['item'].loc[line]!r} is listed "
            "twice; allowed: each item once.",
            field="items.item",
        )
    cost = pd.to_numeric(items_raw["unit_cost"], errors="coerce")
    bad = ~((cost > 0) & (cost <= gate.MAX_MAGNITUDE))
    if bad.any():
        line = bad.idxmax()
        raise InstanceError(
            f"items.csv line {line}, column unit_cost: "
            f"{gate.shown(items_raw['unit_cost'].loc[line])} of item "
            f"{items['item'].loc[line]!r}; allowed: a number > 0 (at most "
            f"{gate.MAX_MAGNITUDE:.0e}).",
            field="items.unit_cost",
        )
    known_items = set(items["item"])
    for name, frame in (("history.csv", history), ("orders.csv", orders)):
        _bad_ref(frame, name, "item", known_items, "an item of items.csv")
        if "location" in frame.columns:
            _bad_ref(
                frame,
                name,
                "location",
                set(locations),
                "a location of plan.yaml network.demand_stage_of_location",
                " (a typo, or a site to add to the network)",
            )
    families = {str(f.get("id")) for f in cfg["families"]}
    _bad_ref(items, "items.csv", "family", families, "a family of plan.yaml families")
    _bad_ref(
        orders,
        "orders.csv",
        "customer",
        set(history["customer"]),
        "a customer with order history, so it has no segment",
        " (add its history or leave the line out)",
    )
    weeks = orders["date"].dt.to_period("W").unique()
    if len(weeks) != 1:
        first = orders["date"].dt.to_period("W")
        line = (first != first.iloc[0]).idxmax()
        raise InstanceError(
            f"orders.csv line {line}, column date: {orders_raw['date'].loc[line]!r} is in "
            f"another week than line {orders.index[0]} ({len(weeks)} weeks in all); allowed: "
            "one week's open orders.",
            field="orders.date",
        )
    # (a history of one week passed, and the run failed: "history.csv has no order lines"
    # from last week's segmentation, "need more than 1 period(s)" from the demand's spread)
    first, last = history["date"].min(), history["date"].max()
    week = (first - pd.Timedelta(days=first.weekday())).normalize()  # its Monday
    if last < week + pd.Timedelta(days=7):  # (min and max: to_period cost 59 ms per 10^6)
        line = history.index[0]
        raise InstanceError(
            f"history.csv line {line}, column date: {history_raw['date'].loc[line]!r}: the "
            f"{len(history):,} order line(s) all lie in one week "
            f"({week.date()} to {(week + pd.Timedelta(days=6)).date()}); "
            "allowed: order lines in two weeks or more (the safety stock needs the spread of "
            "weekly demand).",
            field="history.date",
        )
    if orders["date"].min() <= last:
        line = orders["date"].idxmin()
        raise InstanceError(
            f"orders.csv line {line}, column date: {orders_raw['date'].loc[line]!r}; allowed: "
            f"this week's orders come after the history (last history date {last.date()}).",
            field="orders.date",
        )
    if orders["date"].max() > last + pd.Timedelta(days=MAX_START_AFTER_DAYS):
        # (every line in one week of 2099: the week check above passed it, and it was planned)
        line = orders["date"].idxmax()
        raise InstanceError(
            f"orders.csv line {line}, column date: {orders_raw['date'].loc[line]!r} is more "
            f"than {MAX_START_AFTER_DAYS} days after the last history date ({last.date()}); "
            "allowed: this week's orders, within the window plan_start has too.",
            field="orders.date",
        )
    _check_history_demand(history)
    _check_order_cells(orders)
    # (a plain day from plan.yaml becomes the nanosecond stamp pandas gave it before)
    start, weeks_n = pd.Timestamp(cfg["plan_start"]).as_unit("ns"), cfg["plan_weeks"]
    if not last < start + pd.Timedelta(days=7) or start > last + pd.Timedelta(
        days=MAX_START_AFTER_DAYS
    ):
        raise plan.error(
            "plan_start",
            f"plan_start {start.date()} (its week's Monday) is outside the history's window",
            f"a date after the last history line ({last.date()}) and at most "
            f"{MAX_START_AFTER_DAYS} days after it",
        )
    lag = pd.Timedelta(days=364)
    first_hist = history["date"].min()
    uncovered = sum(
        1
        for k in range(weeks_n)
        if start + pd.Timedelta(weeks=k) + pd.Timedelta(days=6) - lag < first_hist
    )
    if uncovered and cfg["forecast"] == "seasonal_naive":
        notes.append(uncovered_note(uncovered, weeks_n))
    for item in cfg["disruption"]:
        if item not in known_items:
            raise plan.error(
                f"disruption.{item}",
                f"disruption names item {item!r}, not in items.csv",
                "items of items.csv",
            )
    without = items_without_history(items, history)
    if without:
        if cfg["items_without_history"] == "error":
            line = items.index[items["item"].isin(without)][0]
            raise InstanceError(
                f"items.csv line {line}, column item: {items['item'].loc[line]!r} has no order "
                f"lines in history.csv ({len(without)} such items); allowed: items with "
                "history (or items_without_history: report in plan.yaml).",
                field="items.item",
            )
        notes.append(without_history_note(without, len(known_items)))
        idle = sorted(set(without) & set(cfg["disruption"]))
        if idle:
            notes.append(disrupted_without_history_note(idle))

    supply = _supply(folder, known_items, set(locations), orders, cfg, notes)
    policy_path = folder / "policy.yaml"
    policy = _policy(policy_path) if policy_path.exists() else None
    from optim.segmentation.policy import PolicyTable, default_policy

    table = default_policy() if policy is None else PolicyTable.model_validate(policy)
    segments = {n for n, r in table.segments.items() if r.dimension == "customer"}
    pins = dict(cfg["pins"])
    customers = set(history["customer"])
    for customer, name in pins.items():
        if name not in segments:
            raise plan.error(
                f"pins.{customer}",
                f"pin of {customer!r} names segment {name!r}",
                f"a customer segment of the policy: {', '.join(sorted(segments))}",
            )
        if customer not in customers:  # (segmenting would refuse it, naming no file)
            raise plan.error(
                f"pins.{customer}",
                f"pin of {customer!r} names a customer without order lines in history.csv",
                "customers of history.csv (a pin for a typo would pin nobody)",
            )
    pins_raw = _csv(folder, "pins.csv", required=False)
    if pins_raw is not None:
        _columns(pins_raw, "pins.csv", ("customer", "segment"))
        pins_raw = _typed(pins_raw)
        _bad_ref(pins_raw, "pins.csv", "segment", segments, "a customer segment of the policy")
        _bad_ref(
            pins_raw,
            "pins.csv",
            "customer",
            customers,
            "a customer with order lines in history.csv",
            " (a pin for a typo would pin nobody)",
        )
        pins.update(_pin_rows(pins_raw, pins, plan, notes))
    from optim.output import hash_files

    # every file the run reads is in the input hash (receipts.csv was not: a run planned
    # with other lead times showed the same input hash)
    read = [folder / n for n in FILES if (folder / n).is_file()]
    from optim.instances.receipts import read_receipts

    receipts = (
        read_receipts(folder / "receipts.csv") if (folder / "receipts.csv").is_file() else None
    )
    if receipts is not None:
        _receipt_window(receipts, max(start + pd.Timedelta(days=6), orders["date"].max()))
        _receipt_lanes(receipts, cfg["network"], known_items, notes)
    source = {"folder": str(folder), "files": [p.name for p in read], "sha256": hash_files(read)}
    return PlanningData(
        name=cfg["name"] if cfg["name"] is not None else folder.name,
        history=history.reset_index(drop=True),
        orders=orders.reset_index(drop=True),
        network=cfg["network"],
        items=items.reset_index(drop=True),
        families=cfg["families"],
        resources=cfg["resources"],
        plan_start=start,
        plan_weeks=weeks_n,
        supply=supply,
        disruption=cfg["disruption"],
        policy=policy,
        supply_missing=cfg["supply_missing"],
        items_without_history=cfg["items_without_history"],
        forecast=cfg["forecast"],
        ordering_cost=cfg["ordering_cost"],
        lot_sizing=cfg["lot_sizing"],
        currency=cfg["currency"],
        units=cfg["units"],
        pins=pins,
        notes=tuple(notes),
        source=source,
        receipts=receipts,
        shipments=_shipments(folder / "shipments.csv"),
    )


def _receipt_window(receipts: pd.DataFrame, last: pd.Timestamp) -> None:
    """Receipts are goods already received, by the end of the first planned week or this
    week's orders, and their order dates have no gap of more than a year: a receipt dated
    years after the plan (a typo in the year) was the lane's "recent" lead time, one years
    before the rest planned the lane from another era, both without a word."""
    import pandas as pd

    from optim.segmentation.history import MAX_GAP_DAYS, stray_dates

    late = receipts["receipt_date"] > last
    where = "receipt_date"
    allowed = (
        f"on or before {last:%Y-%m-%d} (the end of plan_start's week or this week's "
        "orders): goods already received"
    )
    if not late.any():
        gap = stray_dates(receipts["order_date"].to_numpy(dtype="datetime64[D]"))
        if gap is None:
            return
        stray, days_away, near = gap
        late = pd.Series(stray, index=receipts.index)
        where = "order_date"
        allowed = (
            f"no gap of more than {MAX_GAP_DAYS} days between consecutive order dates (this "
            f"one lies {days_away:,} days from the nearest other, {near:%Y-%m-%d})"
        )
    row = receipts[late].iloc[0]
    raise InstanceError(
        f"receipts.csv line {row['line']} (lane {row['lane']!r}), column {where}: "
        f"{row[where]:%Y-%m-%d} is outside the receipts' dates ({int(late.sum())} such "
        f"row(s)); allowed: {allowed} (a typo in the year?).",
        field=where,
    )


def _receipt_lanes(
    receipts: pd.DataFrame, network: dict[str, Any], items: set[str], notes: list[str]
) -> None:
    """Receipts plan a stage when their lane is one of the network's stages (and their item,
    when given, one of items.csv); other lanes (a supplier, a typo) are measured and shown
    but plan nothing: said in the notes, naming their first line."""
    stages = {str(s.get("id")) for s in network.get("stages", []) if isinstance(s, dict)}
    off = ~receipts["lane"].isin(stages)
    if "item" in receipts.columns:
        off |= ~receipts["item"].isin(items) & (receipts["item"] != "")
    if off.any():
        first = receipts[off].iloc[0]
        lanes = sorted(set(receipts.loc[off, "lane"]))
        notes.append(
            f"receipts: {int(off.sum())} receipt(s) on lane(s) {', '.join(lanes[:5])}"
            f"{', …' if len(lanes) > 5 else ''} (first: receipts.csv line {first['line']}) "
            "name no stage of plan.yaml network (or an item not in items.csv): their lead "
            "times are shown but plan no stage."
        )


def _pin_rows(
    frame: pd.DataFrame, yaml_pins: dict[str, str], plan: _Plan, notes: list[str]
) -> dict[str, str]:
    """pins.csv's pins. A customer pinned twice to different segments in the file is an
    error naming both lines; a pin that overrides plan.yaml's (pins.csv wins) is listed in
    the notes with both places, never a silent last-one-wins."""
    from optim.instances import gate

    out: dict[str, str] = {}
    lines: dict[str, Any] = {}
    overridden: list[str] = []
    for line, customer, name in zip(frame.index, frame["customer"], frame["segment"], strict=True):
        before = out.get(customer)
        if before is not None and before != name:
            raise gate.refuse(
                "pins.csv",
                f"customer {customer!r} is pinned to {name!r} here and to {before!r} on line "
                f"{lines[customer]}",
                line=int(line),
                field="segment",
                allowed="one segment per customer",
            )
        other = yaml_pins.get(customer)
        if other is not None and other != name and customer not in out:
            at = gate.field_line(plan.text, ".yaml", f"pins.{customer}")
            overridden.append(
                f"{customer} {name} (pins.csv line {line}) over {other} (plan.yaml"
                + (f" line {at})" if at is not None else ")")
            )
        out[customer] = name
        lines.setdefault(customer, line)
    if overridden:
        notes.append(
            f"pins: {len(overridden)} pin(s) of pins.csv override plan.yaml's pins (pins.csv "
            f"wins): {'; '.join(overridden[:5])}{'; …' if len(overridden) > 5 else ''}."
        )
    return out


def command_line_pins(
    data: PlanningData, pins: dict[str, str], origins: dict[str, str]
) -> PlanningData:
    """``data`` with pins given beside the folder (``optim plan --pin`` / ``--pins FILE``),
    which win over the folder's; each that overrides a folder pin is listed in the notes
    (it was not). Every customer has order lines in ``history.csv`` and every segment is a
    customer segment of the policy. Errors name ``origins[customer]`` (``--pin
    C9=strategic``, ``--pins f.csv line 3``) before any work."""
    from optim.segmentation.policy import PolicyTable, default_policy

    table = default_policy() if data.policy is None else PolicyTable.model_validate(data.policy)
    segments = sorted(n for n, r in table.segments.items() if r.dimension == "customer")
    customers = set(data.history["customer"])
    for customer, name in pins.items():
        where = origins.get(customer, f"pin {customer}={name}")
        if name not in segments:
            raise InstanceError(
                f"{where}: segment {name!r} is not a customer segment of the policy; "
                f"allowed: {', '.join(segments)}.",
                field=f"pins.{customer}",
            )
        if customer not in customers:
            sample = sorted(customers)
            raise InstanceError(
                f"{where}: customer {customer!r} has no order lines in history.csv (a pin "
                f"for a typo would pin nobody); allowed: {', '.join(sample[:8])}"
                f"{', …' if len(sample) > 8 else ''}.",
                field=f"pins.{customer}",
            )
    overridden = [
        f"{c} {name} ({origins.get(c, 'pin')}) over {data.pins[c]}"
        for c, name in pins.items()
        if data.pins.get(c, name) != name
    ]
    notes = list(data.notes)
    if overridden:
        notes.append(
            f"pins: {len(overridden)} pin(s) of the command line override the folder's pins "
            f"(plan.yaml, pins.csv; the command line wins): {'; '.join(overridden[:5])}"
            f"{'; …' if len(overridden) > 5 else ''}."
        )
    return replace(data, pins={**data.pins, **pins}, notes=tuple(notes))


def _shipments(path: Path) -> pd.DataFrame | None:
    from optim.planning.review import read_shipments

    return read_shipments(path).reset_index(drop=True) if path.is_file() else None


def _supply(
    folder: Path,
    items: set[str],
    locations: set[str],
    orders: pd.DataFrame,
    cfg: dict[str, Any],
    notes: list[str],
) -> pd.DataFrame | None:
    import pandas as pd

    from optim.instances import gate

    raw = _csv(folder, "supply.csv", required=False)
    if raw is None:
        return None
    _columns(raw, "supply.csv", ("item", "location", "quantity"))
    frame = _typed(raw)
    _bad_ref(frame, "supply.csv", "item", items, "an item of items.csv")
    _bad_ref(
        frame,
        "supply.csv",
        "location",
        locations,
        "a location of plan.yaml network.demand_stage_of_location",
    )
    qty = pd.to_numeric(raw["quantity"], errors="coerce")
    bad = ~((qty >= 0) & (qty <= gate.MAX_MAGNITUDE))
    if bad.any():
        line: Any = bad.idxmax()
        raise InstanceError(
            f"supply.csv line {line}, column quantity: {gate.shown(raw['quantity'].loc[line])}; "
            f"allowed: a number >= 0 (at most {gate.MAX_MAGNITUDE:.0e}).",
            field="supply.quantity",
        )
    frame["quantity"] = qty
    dup = frame.duplicated(["item", "location"])
    if dup.any():
        line = dup.idxmax()
        raise InstanceError(
            f"supply.csv line {line}: item {frame['item'].loc[line]!r} at location "
            f"{frame['location'].loc[line]!r} is listed twice; allowed: each pair once.",
            field="supply.item",
        )
    need = orders[["item", "location"]].drop_duplicates()
    have = pd.MultiIndex.from_frame(frame[["item", "location"]])
    missing = need[~pd.MultiIndex.from_frame(need).isin(have)]
    if len(missing):
        rule = cfg["supply_missing"]
        first = missing.index[0]
        pairs = ", ".join(f"{i}@{loc}" for i, loc in missing.head(5).itertuples(index=False))
        if rule == "error":
            raise InstanceError(
                f"orders.csv line {first}: item {missing['item'].iloc[0]!r} at location "
                f"{missing['location'].iloc[0]!r} has no row in supply.csv ({len(missing)} "
                f"ordered pairs without supply: {pairs}); allowed: a supply row for every "
                "ordered (item, location), or supply_missing: planned | zero in plan.yaml.",
                field="supply.csv",
            )
        notes.append(
            f"supply: {len(missing)} ordered (item, location) pairs are not in supply.csv and "
            + ("get the planned stock" if rule == "planned" else "get no stock")
            + f" (rule supply_missing: {rule}): {pairs}{', …' if len(missing) > 5 else ''}."
        )
    # plan.yaml's disruption scales planned stock; stock stated in supply.csv is taken as
    # written, which the planner is told rather than left to find out (audit r12a)
    stated = sorted(set(cfg["disruption"]) & set(frame["item"]))
    if stated:
        notes.append(
            f"supply: {len(stated)} item(s) of plan.yaml disruption have their stock in "
            "supply.csv, taken as written (the disruption share scales planned stock only): "
            f"{', '.join(stated[:5])}{', …' if len(stated) > 5 else ''}."
        )
    return frame.reset_index(drop=True)


def _policy(path: Path) -> dict[str, Any]:
    """The policy document of ``policy.yaml``, validated (errors name the file and line)."""
    from optim.segmentation.config import SegmentationConfig
    from optim.segmentation.policy import PolicyTable, read_yaml_mapping, with_file

    doc = read_yaml_mapping(path, "policy")
    table = with_file(path, lambda: PolicyTable.model_validate(doc))

    # a row for every segment the run segments into (validate passed a policy without one
    # and the run's first step then refused it naming neither the file nor a line)
    def covers() -> None:
        try:
            SegmentationConfig(policy=table)
        except InstanceError as exc:  # (at the line of `segments:`)
            raise InstanceError(str(exc), field="segments") from None

    with_file(path, covers)
    return doc


def write_folder(data: PlanningData, folder: str | Path) -> Path:
    """Write ``data`` as a planning folder; :func:`read_folder` reads it back equal."""
    from optim.instances import gate

    if not isinstance(data, PlanningData):  # (5 ended in "'int' object has no attribute")
        raise TypeError(f"data must be PlanningData, not {type(data).__name__}")
    gate.check_path(folder, "folder")
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for name, lines in (("history.csv", data.history), ("orders.csv", data.orders)):
        lines.to_csv(folder / name, index=False, lineterminator="\n", date_format="%Y-%m-%d")
    data.items.to_csv(folder / "items.csv", index=False, lineterminator="\n")
    if data.supply is not None:
        data.supply.to_csv(folder / "supply.csv", index=False, lineterminator="\n")
    if data.receipts is not None:
        cols = [
            c
            for c in ("lane", "item", "order_date", "receipt_date", "quantity")
            if c in data.receipts.columns
        ]
        data.receipts[cols].to_csv(
            folder / "receipts.csv", index=False, lineterminator="\n", date_format="%Y-%m-%d"
        )
    if data.shipments is not None:
        data.shipments.to_csv(
            folder / "shipments.csv", index=False, lineterminator="\n", date_format="%Y-%m-%d"
        )
    plan = {
        "name": data.name,
        "plan_start": data.plan_start.strftime("%Y-%m-%d"),
        "plan_weeks": data.plan_weeks,
        "network": data.network,
        "resources": data.resources,
        "families": data.families,
        "disruption": data.disruption,
    }
    if data.supply_missing != "error":
        plan["supply_missing"] = data.supply_missing
    if data.items_without_history != "report":
        plan["items_without_history"] = data.items_without_history
    if data.pins:
        plan["pins"] = dict(data.pins)
    if data.forecast != "statistical":
        plan["forecast"] = data.forecast
    if data.ordering_cost is not None:
        plan["ordering_cost"] = data.ordering_cost
    if data.lot_sizing:
        plan["lot_sizing"] = True
    for key in ("currency", "units"):
        if getattr(data, key) is not None:
            plan[key] = getattr(data, key)
    from optim.instances import gate

    (folder / "plan.yaml").write_text(gate.dump_yaml(plan), encoding="utf-8")
    if data.policy is not None:
        (folder / "policy.yaml").write_text(gate.dump_yaml(data.policy), encoding="utf-8")
    return folder
