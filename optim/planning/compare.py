"""Comparison with last week's run: what changed, and why (``optim plan --previous DIR``).

:func:`read_previous` reads an earlier run's output folder (``optim plan`` / ``optim demo``)
through its manifest: the folder must hold a complete ``manifest.json`` whose checksums match
the files (:func:`optim.output.verify`), and the tables a comparison needs; anything else is
refused with a message naming the folder (CLI exit 2), before any work starts.

:func:`compare` puts this run next to it, in three tables:

``classes``
    items whose ABC or XYZ class changed, with the sales value and coefficient of variation
    behind the class (the reason: a demand change).
``stock``
    safety stock per (item, stage) that moved, in units and value, with the reasons found in
    the two runs' safety-stock instances: the item is new or gone (segmented in both runs
    but planned without stock in one, e.g. made to order: "no stock planned last week /
    this week", with its class and demand-pattern changes), its class changed, its service
    targets changed, its demand (mean or σ per period, more than :data:`DEMAND_TOLERANCE`
    relative) changed, the lead time or holding cost of one of its stages changed. ``none
    found`` when neither run's inputs for the item differ (the optimum moved for another
    item's sake cannot happen: items are planned independently).
``allocation``
    this week's allocation per (item, customer) against last week's, with the reasons: the
    customer's request, its segment (tier), the item's class, the stock at its location, or
    the other customers' requests at that location changed; a line only one week has; with
    none of these, where the segment gets the same total at the line's locations, the same
    stock split differently between its lines (the rounding to whole units broke a tie
    another way: which of two lines with equal fractions gets the odd unit).

Big moves become alerts (:func:`alerts`): a stage's stock up or down by at least
:data:`BIG_STOCK_CHANGE` (relative, or a stage stocked in one run only), a customer's fill
rate on an item down by at least :data:`BIG_FILL_DROP`, and a count of class changes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from optim.alerts import Alert
from optim.errors import InstanceError

if TYPE_CHECKING:
    from optim.planning.folder import PlanningData
    from optim.planning.pipeline import PlanningRun

__all__ = [
    "BIG_FILL_DROP",
    "BIG_STOCK_CHANGE",
    "DEMAND_TOLERANCE",
    "PreviousRun",
    "alerts",
    "check_previous",
    "compare",
    "read_previous",
]

DEMAND_TOLERANCE = 0.01
"""An item's mean or σ per period that moved by more than this (relative) is a demand change."""
BIG_STOCK_CHANGE = 0.5
"""A stage's safety stock moving by at least this share of last week's is alerted."""
BIG_FILL_DROP = 0.2
"""A customer's fill rate on an item dropping by at least this much (absolute) is alerted."""
MAX_STAGES_NAMED = 3
"""A reason names the (segment, target) changes of at most this many of an item's stages."""
MAX_ALERTS = 10
"""Per kind of big move, at most this many alerts (the largest); one more counts the rest."""
_EPS = 1e-6

NUMBERS = frozenset(
    {"value", "cv", "mean", "std", "safety_stock", "requested", "allocated", "quantity"}
)
"""Columns of :data:`REQUIRED` that hold numbers."""
REQUIRED: dict[str, tuple[str, ...]] = {
    "segmentation/items.csv": ("item", "abc", "xyz", "value", "cv", "mean", "std"),
    "segmentation/customers.csv": ("customer", "segment"),
    "safety_stock/stages.csv": ("stage", "safety_stock"),
    "rationing/lines.csv": ("demand_id", "customer", "item", "segment", "requested", "allocated"),
    "rationing/supply.csv": ("item", "location", "quantity"),
}
KEYS: dict[str, tuple[str, ...]] = {
    "segmentation/items.csv": ("item",),
    "segmentation/customers.csv": ("customer",),
    "safety_stock/stages.csv": ("stage",),
    "rationing/lines.csv": ("demand_id",),
    "rationing/supply.csv": ("item", "location"),
}
"""The columns that identify a row of each :data:`REQUIRED` table: each key once."""
FILLED = frozenset(
    {"item", "customer", "stage", "demand_id", "location", "abc", "segment"}
    | {"safety_stock", "requested", "allocated", "quantity"}
)
"""Columns a run always fills (``cv`` and the demand statistics may be empty)."""
RESULT = "safety_stock_result.json"


@dataclass(frozen=True)
class PreviousRun:
    """The parts of an earlier run's output folder a comparison reads.

    Attributes
    ----------
    folder
        The folder as given.
    manifest
        Its ``manifest.json`` (command, input facts, files).
    items, customers, stages, lines, supply
        ``segmentation/items.csv``, ``segmentation/customers.csv``,
        ``safety_stock/stages.csv``, ``rationing/lines.csv``, ``rationing/supply.csv``.
    instance
        The safety-stock instance of ``safety_stock_result.json`` (stages with lead times and
        holding costs, demands with mean, σ and service level).
    """

    folder: Path
    manifest: dict[str, Any]
    items: pd.DataFrame
    customers: pd.DataFrame
    stages: pd.DataFrame
    lines: pd.DataFrame
    supply: pd.DataFrame
    instance: dict[str, Any] = field(repr=False)

    @property
    def input_sha256(self) -> str:
        return str((self.manifest.get("input") or {}).get("sha256", ""))


def _refuse(folder: Path, what: str, option: str) -> InstanceError:
    return InstanceError(
        f"{option} {folder}: {what}; allowed: the output folder of an earlier `optim plan` "
        "or `optim demo` run, complete and unchanged (its manifest.json lists every file "
        "with its checksum)",
        field=option.lstrip("-"),
    )


def read_previous(folder: str | Path, option: str = "--previous") -> PreviousRun:
    """Read an earlier run's output folder (module docstring); refuse anything else.

    Raises
    ------
    InstanceError
        Not a folder, no or a broken manifest, files missing or changed since that run, a
        table without the columns a comparison needs.
    """
    from optim.instances import gate
    from optim.output import MANIFEST, SCHEMA, verify

    gate.check_path(folder, "folder")
    folder = Path(folder)
    if not folder.is_dir():
        raise _refuse(folder, "is not a folder" if folder.exists() else "does not exist", option)
    if not (folder / MANIFEST).is_file():
        raise _refuse(folder, f"has no {MANIFEST} (not a complete optim run)", option)
    try:
        manifest = gate.parse_json(gate.read_text(folder / MANIFEST, "manifest"), MANIFEST)
    except InstanceError as exc:
        raise _refuse(folder, f"its {MANIFEST} cannot be read ({exc})", option) from None
    if (
        not isinstance(manifest, dict)
        or manifest.get("schema") != SCHEMA
        or manifest.get("complete") is not True
        or not isinstance(manifest.get("files"), dict)
    ):
        raise _refuse(folder, f"its {MANIFEST} is not a complete optim manifest", option)
    problems = verify(folder)
    if problems:
        shown = "; ".join(problems[:3]) + (
            f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
        )
        raise _refuse(folder, f"does not match its {MANIFEST} ({shown})", option)
    missing = [name for name in (*REQUIRED, RESULT) if name not in manifest["files"]]
    if missing:
        raise _refuse(folder, f"is not a planning run's output (no {', '.join(missing)})", option)
    frames: dict[str, pd.DataFrame] = {}
    for name, columns in REQUIRED.items():
        text = set(gate.TEXT_COLUMNS) - NUMBERS
        frame = gate.read_csv_text(folder / name, f"{option} {folder}/{name}", text)
        absent = [c for c in columns if c not in frame.columns]
        if absent:
            raise _refuse(folder, f"{name} lacks column(s) {', '.join(absent)}", option)
        for col in NUMBERS.intersection(columns):
            if not pd.api.types.is_numeric_dtype(frame[col]):
                raise _refuse(folder, f"{name}, column {col}: not numbers", option)
        # (a blank safety_stock was read as 0 and a repeated line summed into its demand,
        # when the manifest had been written again over the edit)
        for col in FILLED.intersection(columns):
            line = gate.first_blank_line(frame, col)
            if line is not None:
                raise _refuse(folder, f"{name} line {line}, column {col}: (empty)", option)
        again = frame.duplicated(list(KEYS[name]))
        if again.any():
            line = frame.index[int(again.to_numpy().argmax())]
            key = ", ".join(KEYS[name])
            raise _refuse(folder, f"{name} line {line}: a second row of its {key}", option)
        frames[name] = frame
    try:
        doc = gate.parse_json(gate.read_text(folder / RESULT, RESULT), RESULT)
    except InstanceError as exc:  # named as every other refusal of the folder
        raise _refuse(folder, f"its {RESULT} cannot be read ({exc})", option) from None
    instance = doc.get("instance") if isinstance(doc, dict) else None
    if (
        not isinstance(instance, dict)
        or not isinstance(instance.get("stages"), list)
        or not isinstance(instance.get("demands"), list)
    ):
        raise _refuse(folder, f"{RESULT} carries no safety-stock instance", option)
    from optim import api

    try:  # its records are read by id, stage, lead time, ... (a record without "id": KeyError)
        api.from_dict(instance)
    except InstanceError as exc:
        raise _refuse(
            folder, f"the instance its {RESULT} carries: {str(exc).rstrip('.')}", option
        ) from None
    return PreviousRun(
        folder=folder,
        manifest=manifest,
        items=frames["segmentation/items.csv"],
        customers=frames["segmentation/customers.csv"],
        stages=frames["safety_stock/stages.csv"],
        lines=frames["rationing/lines.csv"],
        supply=frames["rationing/supply.csv"],
        instance=instance,
    )


# ----------------------------------------------------------------------------- helpers
def _item_of(stage: pd.Series) -> pd.Series:
    return stage.astype(str).str.rsplit("@", n=1).str[0]


def _location_of(stage: pd.Series) -> pd.Series:
    return stage.astype(str).str.rsplit("@", n=1).str[-1]


def _moved(a: float, b: float, tol: float = DEMAND_TOLERANCE) -> bool:
    return abs(a - b) > tol * max(abs(a), abs(b), 1e-9)


def _float(value: Any) -> float:
    return float(value)


def _num(value: Any) -> str:
    x = float(value)
    return f"{x:,.0f}" if abs(x) >= 100 or float(x).is_integer() else f"{x:,.2f}"


def _instance_facts(instance: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per item: its stages' lead-time facts, lead times and holding costs, its demand
    totals (mean, variance) and its service targets."""
    out: dict[str, dict[str, Any]] = {}

    def facts(item: str) -> dict[str, Any]:
        return out.setdefault(
            item,
            {"lead": {}, "lead_value": {}, "cost": {}, "targets": set(), "mean": 0.0, "var": 0.0},
        )

    for s in instance.get("stages", []):
        item, _, loc = str(s["id"]).rpartition("@")
        lead = (s.get("lead_time"), s.get("lead_time_std_dev"), s.get("lead_time_distribution"))
        facts(item)["lead"][loc] = json.dumps(lead, sort_keys=True)
        facts(item)["lead_value"][loc] = s.get("lead_time")
        facts(item)["cost"][loc] = float(s.get("holding_cost", 0.0))
    for d in instance.get("demands", []):
        f = facts(str(d["stage"]).rpartition("@")[0])
        f["mean"] += float(d.get("mean", 0.0))
        f["var"] += float(d.get("std_dev", 0.0)) ** 2
        f["targets"].add(
            (str(d["stage"]), str(d.get("segment", "")), float(d.get("service_level", 0.0)))
        )
    return out


def _target_change(before: set[tuple[str, str, float]], now: set[tuple[str, str, float]]) -> str:
    """The stages whose (segment, service target) pairs differ, as they were and are: a
    customer moving to another segment changes which segments a stage serves, not
    necessarily a target (the item's class may set every segment's target alike)."""

    def per_location(targets: set[tuple[str, str, float]]) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {}
        for stage, segment, level in sorted(targets, key=lambda t: (t[0], t[1], t[2])):
            loc = stage.rpartition("@")[2]
            out.setdefault(loc, []).append(f"{segment} {level:.1%}".strip())
        return out

    old, new = per_location(before), per_location(now)
    moved = [loc for loc in sorted(set(old) | set(new)) if old.get(loc) != new.get(loc)]
    shown = [
        f"{loc}: {', '.join(old.get(loc, [])) or 'none'} → {', '.join(new.get(loc, [])) or 'none'}"
        for loc in moved[:MAX_STAGES_NAMED]
    ]
    more = len(moved) - len(shown)
    return (
        "service targets per segment change ("
        + "; ".join(shown)
        + (f"; {more} more stage(s)" if more > 0 else "")
        + ")"
    )


def _stock_reasons(
    item: str,
    before: dict[str, Any] | None,
    now: dict[str, Any] | None,
    classes: dict[str, str],
    patterns: dict[str, tuple[str, str]] | None = None,
) -> str:
    """Why ``item``'s stock moved. ``patterns``: the demand pattern last week and now of the
    items both runs segmented — one without stock in a run was planned without stock then
    (e.g. made to order), not new or gone."""
    if before is None or now is None:
        if patterns is None or item not in patterns:
            return (
                "new item (not planned last week)" if before is None else "item no longer planned"
            )
        p0, p1 = patterns[item]
        return "; ".join(
            [f"no stock planned {'last week' if before is None else 'this week'}"]
            + ([f"class change ({classes[item]})"] if item in classes else [])
            + ([f"demand pattern change ({p0} → {p1})"] if p0 != p1 else [])
        )
    reasons = []
    if item in classes:
        reasons.append(f"class change ({classes[item]})")
    if before["targets"] != now["targets"]:
        reasons.append(_target_change(before["targets"], now["targets"]))
    m0, m1 = before["mean"], now["mean"]
    s0, s1 = math.sqrt(before["var"]), math.sqrt(now["var"])
    if _moved(m0, m1) or _moved(s0, s1):
        reasons.append(
            f"demand change (mean {_num(m0)} → {_num(m1)}, σ {_num(s0)} → {_num(s1)} per period)"
        )
    l0, l1 = before["lead_value"], now["lead_value"]
    leads = [
        f"{loc} {_num(l0.get(loc) or 0)} → {_num(l1.get(loc) or 0)}"
        if l0.get(loc) != l1.get(loc)
        else f"{loc} (variability)"
        for loc in sorted(set(before["lead"]) | set(now["lead"]))
        if before["lead"].get(loc) != now["lead"].get(loc)
    ]
    if leads:
        reasons.append("lead-time change (" + ", ".join(leads) + " periods)")
    costs = [
        loc
        for loc in sorted(set(before["cost"]) | set(now["cost"]))
        if _moved(before["cost"].get(loc, 0.0), now["cost"].get(loc, 0.0), 1e-9)
    ]
    if costs:
        reasons.append("holding-cost change (" + ", ".join(costs) + ")")
    return "; ".join(reasons) or "none found"


# ----------------------------------------------------------------------------- compare
def class_changes(items: pd.DataFrame, previous: pd.DataFrame) -> pd.DataFrame:
    """Items whose ABC or XYZ class changed (items in both runs)."""
    cols = ["item", "abc", "xyz", "value", "cv"]
    rank = "cum_share_before"  # the ABC metric: the share of the items ranked above
    if rank in items.columns and rank in previous.columns:
        cols.append(rank)
    both = (
        previous[cols]
        .astype({"item": str})
        .merge(items[cols].astype({"item": str}), on="item", suffixes=("_before", ""))
    )
    changed = both[(both["abc_before"] != both["abc"]) | (both["xyz_before"] != both["xyz"])]
    reasons = []
    for r in changed.to_dict("records"):
        parts, others = [], ""
        if r["abc_before"] != r["abc"]:
            if _moved(float(r["value_before"]), float(r["value"])) or rank not in r:
                parts.append(f"sales value {_num(r['value_before'])} → {_num(r['value'])}")
            else:  # its own sales held: other items' sales moved it up or down the ranking
                others = (
                    f"other items' sales change (its own sales value {_num(r['value'])} "
                    f"held; the items ranked above it hold {float(r[rank + '_before']):.1%} → "
                    f"{float(r[rank]):.1%} of sales value)"
                )
        if r["xyz_before"] != r["xyz"]:
            parts.append(f"coefficient of variation {r['cv_before']:.2f} → {r['cv']:.2f}")
        reasons.append(
            "; ".join(
                ([f"demand change ({', '.join(parts)})"] if parts else [])
                + ([others] if others else [])
            )
        )
    out = pd.DataFrame(
        {
            "item": changed["item"],
            "previous_class": changed["abc_before"] + changed["xyz_before"],
            "class": changed["abc"] + changed["xyz"],
            "previous_value": changed["value_before"].astype(float),
            "value": changed["value"].astype(float),
            "previous_cv": changed["cv_before"].astype(float),
            "cv": changed["cv"].astype(float),
            "reason": reasons,
        }
    )
    return out.sort_values("item", ignore_index=True)


def stock_changes(
    stages: pd.DataFrame,
    instance: dict[str, Any],
    previous: PreviousRun,
    classes: pd.DataFrame,
    unit_cost: pd.Series,
    items: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Safety stock per (item, stage) that moved, with reasons (module docstring); ``items``:
    this run's segmented items (with ``pattern``), so an item both runs segmented is not
    called new or gone when one run planned it without stock."""
    now = stages[["stage", "safety_stock"]].astype({"stage": str})
    before = previous.stages[["stage", "safety_stock"]].astype({"stage": str})
    both = before.merge(now, on="stage", how="outer", suffixes=("_before", ""))
    prev_q = both["safety_stock_before"].astype(float).fillna(0.0)
    cur_q = both["safety_stock"].astype(float).fillna(0.0)
    moved = (cur_q - prev_q).abs() > _EPS * np.maximum(1.0, prev_q.abs())
    both = both[moved.to_numpy()].assign(previous=prev_q[moved], current=cur_q[moved])
    item = _item_of(both["stage"])
    facts_now = _instance_facts(instance)
    facts_before = _instance_facts(previous.instance)
    class_of = dict(
        zip(classes["item"], classes["previous_class"] + " → " + classes["class"], strict=True)
    )
    patterns = None
    if items is not None and "pattern" in items.columns and "pattern" in previous.items.columns:
        pair = (
            previous.items[["item", "pattern"]]
            .astype(str)
            .merge(items[["item", "pattern"]].astype(str), on="item", suffixes=("_before", ""))
        )
        patterns = dict(
            zip(
                pair["item"],
                zip(pair["pattern_before"], pair["pattern"], strict=True),
                strict=True,
            )
        )
    change = both["current"] - both["previous"]
    out = pd.DataFrame(
        {
            "item": item.to_numpy(),
            "stage": _location_of(both["stage"]).to_numpy(),
            "previous_safety_stock": both["previous"].to_numpy(float),
            "safety_stock": both["current"].to_numpy(float),
            "change": change.to_numpy(float),
            "change_rate": np.where(
                both["previous"].to_numpy(float) > _EPS,
                change.to_numpy(float) / np.maximum(both["previous"].to_numpy(float), _EPS),
                np.nan,
            ),
            "value_change": (change * item.map(unit_cost).astype(float).fillna(0.0)).to_numpy(
                float
            ),
            "reason": [
                _stock_reasons(i, facts_before.get(i), facts_now.get(i), class_of, patterns)
                for i in item
            ],
        }
    )
    return out.sort_values(["item", "stage"], ignore_index=True)


def _lines(lines: pd.DataFrame) -> pd.DataFrame:
    """Lines per (item, customer, location) with the location taken from the line id."""
    frame = lines.astype({"customer": str, "item": str, "demand_id": str})
    cut = frame["customer"].str.len() + frame["item"].str.len() + 2
    location = [d[k:] for d, k in zip(frame["demand_id"], cut, strict=True)]
    out = frame.assign(location=location)[
        ["item", "customer", "location", "segment", "requested", "allocated"]
    ]
    return out.astype({"requested": float, "allocated": float})


def _split_again(item: str, r: dict[Any, Any], now: pd.Series, before: pd.Series) -> str:
    """The reason of a change with the same requests and stock as last week: where the
    segment got the same total at each of the line's locations, the same stock was split
    differently between the segment's lines (the rounding to whole units broke a tie
    another way); else "none found"."""
    seg = r["segment"]
    totals = []
    for loc in r["locations"]:
        key = (item, loc, seg)
        if key not in now.index or key not in before.index:
            return "none found"
        if abs(float(now[key]) - float(before[key])) > _EPS:
            return "none found"
        totals.append(f"{_num(float(now[key]))} at {loc}")
    return (
        f"same requests and stock as last week; {seg} gets the same {', '.join(totals)}, "
        "split differently between its lines (the rounding to whole units broke a tie "
        "another way)"
    )


def allocation_changes(
    lines: pd.DataFrame,
    supply: pd.DataFrame,
    previous: PreviousRun,
    classes: pd.DataFrame,
) -> pd.DataFrame:
    """This week's allocation per (item, customer) against last week's, with reasons."""
    now = _lines(lines)
    before = _lines(previous.lines)
    keys = ["item", "customer"]

    def per_pair(frame: pd.DataFrame) -> pd.DataFrame:
        return frame.groupby(keys, sort=True).agg(
            segment=("segment", "first"),
            locations=("location", lambda s: sorted(set(s))),
            requested=("requested", "sum"),
            allocated=("allocated", "sum"),
        )

    a, b = per_pair(before), per_pair(now)
    both = a.join(b, how="outer", lsuffix="_before")
    changed = (both["allocated"].fillna(-1.0) - both["allocated_before"].fillna(-1.0)).abs() > _EPS
    both = both[changed.to_numpy()]

    def at(frame: pd.DataFrame, cols: list[str], value: str) -> dict[tuple[str, str], float]:
        grouped = frame.astype({"item": str, "location": str}).groupby(cols)[value].sum()
        return {(str(k[0]), str(k[1])): float(v) for k, v in grouped.items()}  # type: ignore[index]

    stock_now = at(supply, ["item", "location"], "quantity")
    stock_before = at(previous.supply, ["item", "location"], "quantity")
    asked_now = at(now, ["item", "location"], "requested")
    asked_before = at(before, ["item", "location"], "requested")
    class_of = dict(
        zip(classes["item"], classes["previous_class"] + " → " + classes["class"], strict=True)
    )
    segment_now = now.groupby(["item", "location", "segment"])["allocated"].sum()
    segment_before = before.groupby(["item", "location", "segment"])["allocated"].sum()
    reasons = []
    for key, r in zip(both.index, both.to_dict("records"), strict=True):
        item = str(key[0])
        if not isinstance(r["locations_before"], list):
            reasons.append("no line last week")
            continue
        if not isinstance(r["locations"], list):
            reasons.append("no line this week")
            continue
        parts = []
        if abs(r["requested"] - r["requested_before"]) > _EPS:
            parts.append(
                f"demand change (requested {_num(r['requested_before'])} → {_num(r['requested'])})"
            )
        if r["segment"] != r["segment_before"]:
            parts.append(f"segment change ({r['segment_before']} → {r['segment']})")
        if item in class_of:
            parts.append(f"class change ({class_of[item]})")
        for loc in r["locations"]:
            s0, s1 = stock_before.get((item, loc), 0.0), stock_now.get((item, loc), 0.0)
            if abs(s1 - s0) > _EPS:
                parts.append(f"supply change ({loc} {_num(s0)} → {_num(s1)})")
            own0 = r["requested_before"] if loc in r["locations_before"] else 0.0
            others0 = asked_before.get((item, loc), 0.0) - own0
            others1 = asked_now.get((item, loc), 0.0) - r["requested"]
            if abs(others1 - others0) > _EPS:
                parts.append(
                    f"other customers' demand change ({loc} {_num(others0)} → {_num(others1)})"
                )
        if not parts and r["segment"] == r["segment_before"]:
            parts.append(_split_again(item, r, segment_now, segment_before))
        reasons.append("; ".join(parts) or "none found")
    out = both.reset_index()
    fill_before = out["allocated_before"] / out["requested_before"].where(
        out["requested_before"] > 0
    )
    fill = out["allocated"] / out["requested"].where(out["requested"] > 0)
    return pd.DataFrame(
        {
            "item": out["item"],
            "customer": out["customer"],
            "previous_segment": out["segment_before"],
            "segment": out["segment"],
            "previous_requested": out["requested_before"],
            "requested": out["requested"],
            "previous_allocated": out["allocated_before"],
            "allocated": out["allocated"],
            "change": out["allocated"].fillna(0.0) - out["allocated_before"].fillna(0.0),
            "previous_fill_rate": fill_before,
            "fill_rate": fill,
            "reason": reasons,
        }
    )


def check_previous(previous: PreviousRun, data: PlanningData) -> None:
    """Refuse an earlier run that cannot be last week's run of this data, before any work:
    one that shares no item with the folder's ``items.csv``, or plans a later week than
    ``data`` (its manifest's ``input.plan_start``; runs written before it was recorded are
    not checked for it). Another data set's output sharing a few item ids was compared as
    last week's, giving thousands of "changes"; one sharing none was refused only after
    every solve (:func:`compare` still checks the items it segmented)."""
    _check_shared_items(previous, data.items["item"])
    text = (previous.manifest.get("input") or {}).get("plan_start")
    this = data.plan_start.date()
    if isinstance(text, str) and text > this.isoformat():
        raise _refuse(
            previous.folder,
            f"it plans the week of {text}, after this run's week of {this.isoformat()} "
            "(another data set, or a later run?)",
            "--previous",
        )


def _check_shared_items(previous: PreviousRun, items: pd.Series) -> None:
    if not set(items.astype(str)) & set(previous.items["item"].astype(str)):
        raise _refuse(
            previous.folder, "shares no item with this run (another data set?)", "--previous"
        )


def compare(run: PlanningRun, previous: PreviousRun) -> dict[str, pd.DataFrame]:
    """The three change tables ``classes``, ``stock``, ``allocation`` (module docstring).

    Raises
    ------
    InstanceError
        The previous run shares no item with this one (another data set).
    """
    seg = run.segmentation
    _check_shared_items(previous, seg.items["item"])
    classes = class_changes(seg.items, previous.items)
    unit_cost = run.data.items.astype({"item": str}).set_index("item")["unit_cost"]
    stock = stock_changes(
        run.safety_stock.tables["stages"],
        run.safety_stock.info["instance"],
        previous,
        classes,
        unit_cost,
        seg.items,
    )
    if run.rationing.has_solution():
        allocation = allocation_changes(
            run.rationing.tables["lines"], run.tables["supply"], previous, classes
        )
    else:
        allocation = allocation_changes(
            previous.lines.iloc[:0], run.tables["supply"], previous, classes
        )
    return {"classes": classes, "stock": stock, "allocation": allocation}


def alerts(
    tables: dict[str, pd.DataFrame], units: str = "units", currency: str | None = None
) -> list[Alert]:
    """Big moves as alerts (module docstring), quantities in ``units`` and money in
    ``currency`` (``plan.yaml``'s ``units`` and ``currency``)."""
    out: list[Alert] = []
    money = f" {currency}" if currency else ""
    classes, stock, allocation = tables["classes"], tables["stock"], tables["allocation"]
    if len(classes):
        into_a = int(
            ((classes["class"].str[0] == "A") & (classes["previous_class"].str[0] != "A")).sum()
        )
        out_a = int(
            ((classes["class"].str[0] != "A") & (classes["previous_class"].str[0] == "A")).sum()
        )
        out.append(
            Alert(
                "info",
                "change",
                "",
                f"{len(classes):,} item(s) changed class since the last run ({into_a} into A, "
                f"{out_a} out of A); their targets and stock follow the new class",
                float(len(classes)),
                "items",
            )
        )
    rate = stock["change_rate"].to_numpy(float)
    big = stock[np.isnan(rate) | (np.abs(np.nan_to_num(rate)) >= BIG_STOCK_CHANGE - 1e-12)]
    big = big.assign(size=big["value_change"].abs()).sort_values(
        ["size", "item", "stage"], ascending=[False, True, True], kind="stable"
    )
    out.extend(
        _capped(
            (
                Alert(
                    "warning",
                    "change",
                    f"{r.item}@{r.stage}",
                    f"safety stock of {r.item} at {r.stage} {_num(r.previous_safety_stock)} → "
                    f"{_num(r.safety_stock)} {units}"
                    + (f" ({r.change_rate:+.0%})" if r.change_rate == r.change_rate else "")
                    + f", value {r.value_change:+,.2f}{money}; reason: {r.reason}",
                    float(r.change),
                    units,
                )
                for r in big.itertuples(index=False)
            ),
            len(big),
            f"stock moves of at least {BIG_STOCK_CHANGE:.0%} since the last run",
        )
    )
    drop = allocation["previous_fill_rate"] - allocation["fill_rate"]
    big_a = allocation[(drop >= BIG_FILL_DROP - 1e-12).to_numpy()]
    big_a = big_a.assign(size=drop[big_a.index]).sort_values(
        ["size", "item", "customer"], ascending=[False, True, True], kind="stable"
    )
    out.extend(
        _capped(
            (
                Alert(
                    "warning",
                    "change",
                    f"{r.customer} / {r.item}",
                    f"{r.customer} ({r.segment}) gets {_num(r.allocated)} of "
                    f"{_num(r.requested)} {units} of {r.item} ({r.fill_rate:.0%}) against "
                    f"{_num(r.previous_allocated)} of {_num(r.previous_requested)} "
                    f"({r.previous_fill_rate:.0%}) last run; reason: {r.reason}",
                    _float(r.change),
                    units,
                )
                for r in big_a.itertuples(index=False)
            ),
            len(big_a),
            f"fill-rate drops of at least {BIG_FILL_DROP:.0%} since the last run",
        )
    )
    return out


def _capped(alerts: Iterable[Alert], total: int, what: str) -> list[Alert]:
    shown = list(alerts)[:MAX_ALERTS]
    if total > MAX_ALERTS:
        shown.append(
            Alert(
                "info",
                "change",
                "",
                f"{total - MAX_ALERTS:,} more {what} (the largest {MAX_ALERTS} are listed; "
                "all in changes/*.csv)",
                float(total - MAX_ALERTS),
                "moves",
            )
        )
    return shown
