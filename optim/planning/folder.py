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
``supply.csv``   no       ``item, location, quantity``: stock this week (default: planned
                          stock from the safety-stock plan × disruption)
``policy.yaml``  no       the policy table (default: the packaged one)
``receipts.csv`` no       ``lane, order_date, receipt_date, quantity`` (+ ``item``): goods
                          receipts; each lane (a network stage id) is planned with its
                          empirical lead-time distribution, extended lanes flagged
                          (:mod:`optim.instances.receipts`)
================ ======== ===============================================================

:func:`read_folder` validates everything a run needs before any solve and raises
:class:`~optim.errors.InstanceError` naming the file, the field or row and what is allowed;
:func:`write_folder` writes the same layout (``optim demo`` writes its generated example as
``input/`` so ``optim plan demo-output/input`` reproduces it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

from optim.errors import InstanceError
from optim.instances.receipts import read_receipts

__all__ = ["PlanningData", "read_folder", "write_folder"]

PLAN_KEYS = {
    "name", "plan_start", "plan_weeks", "network", "resources", "families", "disruption",
    "forecast",
}  # fmt: skip
FORECASTS = ("statistical", "seasonal_naive")


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
    forecast
        ``"statistical"`` (default): the peak is planned on :func:`optim.forecast` and safety
        stock is sized from its forecast error; ``"seasonal_naive"``: last year's weeks and
        the history's standard deviation (the baseline).
    receipts
        Validated goods receipts (:func:`optim.instances.receipts.read_receipts`) or None.
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
    forecast: str = "statistical"
    receipts: pd.DataFrame | None = None


def _read_csv(folder: Path, name: str, required: bool = True) -> pd.DataFrame | None:
    path = folder / name
    if not path.is_file():
        if required:
            raise InstanceError(
                f"planning folder {str(folder)!r} lacks {name}; it needs history.csv, "
                "orders.csv, items.csv and plan.yaml (supply.csv, policy.yaml optional).",
                field=name,
            )
        return None
    try:
        frame = pd.read_csv(path, dtype={"item": str, "customer": str, "location": str})
    except (ValueError, OSError) as exc:
        raise InstanceError(f"{name}: cannot be read as CSV ({exc}).", field=name) from exc
    frame.columns = [str(c).strip().lower() for c in frame.columns]
    return frame


def _required_csv(folder: Path, name: str) -> pd.DataFrame:
    frame = _read_csv(folder, name)
    assert frame is not None  # _read_csv raises for a missing required file
    return frame


def _lines(frame: pd.DataFrame, name: str) -> pd.DataFrame:
    """Validate order lines with the segmentation's rules; dates parsed, ids stripped."""
    from optim.segmentation.history import prepare_history

    try:
        prepare_history(frame)
    except InstanceError as exc:
        raise InstanceError(f"{name}: {exc}", field=f"{name}.{exc.field}") from exc
    out = frame.copy()
    out["date"] = pd.to_datetime(out["date"])
    for col in ("customer", "item", "location"):
        if col in out:
            out[col] = out[col].astype(str).str.strip()
    return out


def _check(data: PlanningData) -> None:
    """Cross-checks a run needs before any solve (file-level errors name the file)."""
    if data.forecast not in FORECASTS:
        raise InstanceError(
            f"plan.yaml: forecast {data.forecast!r} is not allowed; use one of {list(FORECASTS)}.",
            "plan.forecast",
        )
    if data.plan_weeks < 1:
        raise InstanceError(
            f"plan.yaml: plan_weeks {data.plan_weeks} must be >= 1.", "plan.plan_weeks"
        )
    for key in ("stages", "demand_stage_of_location"):
        if key not in data.network:
            raise InstanceError(
                f"plan.yaml: network lacks {key!r}; it needs stages, arcs and "
                "demand_stage_of_location.",
                field=f"plan.network.{key}",
            )
    items = data.items
    missing = [c for c in ("item", "family", "unit_cost") if c not in items.columns]
    if missing:
        raise InstanceError(f"items.csv lacks column(s) {missing}.", field=f"items.{missing[0]}")
    dup = items["item"][items["item"].duplicated()]
    if len(dup):
        raise InstanceError(f"items.csv lists item {dup.iloc[0]!r} twice.", field="items.item")
    cost = pd.to_numeric(items["unit_cost"], errors="coerce")
    bad = ~(cost > 0) | ~cost.map(lambda v: math.isfinite(v) if v == v else False)
    if bad.any():
        row = int(bad.to_numpy().nonzero()[0][0])
        raise InstanceError(
            f"items.csv row {row}: unit_cost {items['unit_cost'].iloc[row]!r} of item "
            f"{items['item'].iloc[row]!r} must be a number > 0.",
            field="items.unit_cost",
        )
    known = set(items["item"])
    for name, frame in (("history.csv", data.history), ("orders.csv", data.orders)):
        unknown = sorted(set(frame["item"]) - known)
        if unknown:
            raise InstanceError(
                f"{name}: item(s) {unknown[:5]} ({len(unknown)} in all) are not in items.csv.",
                field=f"{name}.item",
            )
    families = {str(f.get("id")) for f in data.families}
    unknown = sorted(set(items["family"].astype(str)) - families)
    if unknown:
        raise InstanceError(
            f"items.csv: family {unknown[:5]} not among plan.yaml families {sorted(families)}.",
            field="items.family",
        )
    unknown = sorted(set(data.orders["customer"]) - set(data.history["customer"]))
    if unknown:
        raise InstanceError(
            f"orders.csv: customer(s) {unknown[:5]} have no order history, so they have no "
            "segment; add their history or leave them out.",
            field="orders.customer",
        )
    weeks = data.orders["date"].dt.to_period("W").unique()
    if len(weeks) != 1:
        raise InstanceError(
            f"orders.csv spans {len(weeks)} weeks ({', '.join(str(w) for w in weeks[:3])}); "
            "it must hold one week's open orders.",
            field="orders.date",
        )
    if data.orders["date"].min() <= data.history["date"].max():
        raise InstanceError(
            "orders.csv: this week's orders must come after the history (last history date "
            f"{data.history['date'].max().date()}).",
            field="orders.date",
        )
    for item, share in data.disruption.items():
        if item not in known:
            raise InstanceError(
                f"plan.yaml: disruption names item {item!r}, not in items.csv.",
                field="plan.disruption",
            )
        if not (isinstance(share, int | float) and 0.0 <= share <= 1.0):
            raise InstanceError(
                f"plan.yaml: disruption of {item!r} is {share!r}; allowed: a share in [0, 1].",
                field="plan.disruption",
            )
    if data.supply is not None:
        missing = [c for c in ("item", "location", "quantity") if c not in data.supply.columns]
        if missing:
            raise InstanceError(f"supply.csv lacks column(s) {missing}.", field="supply")


def read_folder(folder: str | Path) -> PlanningData:
    """Read and validate a planning folder (module docstring)."""
    from optim.segmentation.policy import read_yaml_mapping  # the segmentation's YAML rules

    folder = Path(folder)
    if not folder.is_dir():
        raise InstanceError(f"planning folder {str(folder)!r} does not exist.", field="folder")
    plan_path = folder / "plan.yaml"
    if not plan_path.is_file():
        raise InstanceError(f"planning folder {str(folder)!r} lacks plan.yaml.", "plan.yaml")
    plan = read_yaml_mapping(plan_path, "plan")
    unknown = sorted(set(plan) - PLAN_KEYS)
    missing = sorted({"plan_start", "plan_weeks", "network", "resources", "families"} - set(plan))
    if unknown or missing:
        raise InstanceError(
            f"plan.yaml: unknown key(s) {unknown}, missing key(s) {missing}; allowed: "
            f"{sorted(PLAN_KEYS)}.",
            field="plan",
        )
    try:
        start = pd.Timestamp(plan["plan_start"]).normalize()
    except (ValueError, TypeError) as exc:
        raise InstanceError(
            f"plan.yaml: plan_start {plan['plan_start']!r} is not a date.", "plan.plan_start"
        ) from exc
    weeks = plan["plan_weeks"]
    if not isinstance(weeks, int) or isinstance(weeks, bool):
        raise InstanceError(f"plan.yaml: plan_weeks {weeks!r} must be a whole number.", "plan")
    history = _lines(_required_csv(folder, "history.csv"), "history.csv")
    orders = _lines(_required_csv(folder, "orders.csv"), "orders.csv")
    items = _required_csv(folder, "items.csv")
    items = items.assign(item=items["item"].astype(str).str.strip())
    policy_path = folder / "policy.yaml"
    data = PlanningData(
        name=str(plan.get("name", folder.name)),
        history=history,
        orders=orders,
        network=dict(plan["network"]),
        items=items,
        families=list(plan["families"]),
        resources=list(plan["resources"]),
        plan_start=start - pd.Timedelta(days=start.weekday()),
        plan_weeks=weeks,
        supply=_read_csv(folder, "supply.csv", required=False),
        disruption={str(k): v for k, v in (plan.get("disruption") or {}).items()},
        policy=_policy(policy_path) if policy_path.is_file() else None,
        forecast=str(plan.get("forecast", "statistical")),
        receipts=read_receipts(folder / "receipts.csv")
        if (folder / "receipts.csv").is_file()
        else None,
    )
    _check(data)
    return data


def _policy(path: Path) -> dict[str, Any]:
    """The policy document of ``policy.yaml``, validated (errors name the file)."""
    from optim.segmentation.policy import PolicyTable, read_yaml_mapping, with_file

    doc = read_yaml_mapping(path, "policy")
    with_file(path, lambda: PolicyTable.model_validate(doc))
    return doc


def write_folder(data: PlanningData, folder: str | Path) -> Path:
    """Write ``data`` as a planning folder; :func:`read_folder` reads it back equal."""
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
    plan = {
        "name": data.name,
        "plan_start": data.plan_start.strftime("%Y-%m-%d"),
        "plan_weeks": data.plan_weeks,
        "network": data.network,
        "resources": data.resources,
        "families": data.families,
        "disruption": data.disruption,
        "forecast": data.forecast,
    }
    (folder / "plan.yaml").write_text(
        yaml.safe_dump(plan, sort_keys=False, allow_unicode=True), encoding="utf-8"
    )
    if data.policy is not None:
        (folder / "policy.yaml").write_text(
            yaml.safe_dump(data.policy, sort_keys=False, allow_unicode=True), encoding="utf-8"
        )
    return folder
