"""Alerts: what a planner must act on, shown first in the report (and ``alerts.csv``).

An :class:`Alert` is one record (severity, topic, who, message, amount, unit). Alerts come
from rules: a rule is a function ``PlanningRun -> Iterable[Alert]`` registered with
:func:`alert_rule`; :func:`collect` runs every rule and sorts the alerts (critical first,
then by topic and who), so the report and the summary show them in one deterministic order.
A step that knows about a problem can also put alerts on the run itself
(``PlanningRun.alerts``); :func:`collect` includes them.

Built-in rules: a solve without a solution; fill-rate floors the capacity cannot meet (each
segment planned below its floor, with the units it falls short);
segments served below their service target in the short week (who, how many units short);
supply disrupted this week (``plan.yaml`` ``disruption``: items, sites, units missing);
segments whose simulated service from the stock plan misses its target somewhere
(``ci_high < target`` in the run's simulation, the worst (item, stage) rows named) or is
below it on average over a location's items; customer segment × item classes whose
achieved fill rate or OTIF in the shipments (``optim review``, ``tables["review"]``) is
below target, with the review's recommendation; the
rules the input reader applied (``PlanningData.notes``); the run's own notes
(:data:`NOTE_SEVERITY`: lead-time drift, policy promises rounded to periods and the capacity
fallback's diagnosis are warnings, the rest ``info``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pandas as pd

    from optim.planning import PlanningRun

__all__ = ["SEVERITIES", "Alert", "alert_rule", "collect", "frame"]

Severity = Literal["critical", "warning", "info"]
SEVERITIES: tuple[str, ...] = ("critical", "warning", "info")


@dataclass(frozen=True)
class Alert:
    """One thing to act on.

    Attributes
    ----------
    severity
        ``critical`` (a target or a plan is missing), ``warning`` (a target is missed),
        ``info`` (a rule was applied, something to know).
    topic
        Area: ``service``, ``capacity``, ``supply``, ``stock``, ``data``, ``lead_time``, …
    who
        The segment, item, customer or resource concerned ("" for the whole run).
    message
        One sentence saying what happened and how much.
    amount, unit
        The size of the problem (units short, hours missing …), NaN when not a quantity.
    """

    severity: Severity
    topic: str
    who: str
    message: str
    amount: float = math.nan
    unit: str = ""


Rule = Callable[["PlanningRun"], Iterable[Alert]]
RULES: list[Rule] = []


def alert_rule(rule: Rule) -> Rule:
    """Register ``rule`` (decorator): :func:`collect` runs it on every planning run."""
    RULES.append(rule)
    return rule


def collect(run: PlanningRun) -> list[Alert]:
    """Every alert of ``run``: its own plus every registered rule's, sorted."""
    out = list(getattr(run, "alerts", ()) or ())
    for rule in RULES:
        out.extend(rule(run))
    rank = {s: k for k, s in enumerate(SEVERITIES)}
    return sorted(out, key=lambda a: (rank.get(a.severity, 9), a.topic, a.who, a.message))


def frame(alerts: Iterable[Alert]) -> pd.DataFrame:
    """Alerts as a table (columns of :class:`Alert`)."""
    import pandas as pd

    rows = [asdict(a) for a in alerts]
    return pd.DataFrame(rows, columns=["severity", "topic", "who", "message", "amount", "unit"])


# ----------------------------------------------------------------------------- rules
def _solves(run: PlanningRun) -> tuple[tuple[str, Any], ...]:
    """The run's three solves by the alert topic each belongs to."""
    return (("stock", run.safety_stock), ("capacity", run.capacity), ("supply", run.rationing))


@alert_rule
def _no_solution(run: PlanningRun) -> Iterable[Alert]:
    for topic, res in _solves(run):
        if not res.has_solution():
            yield Alert(
                "critical",
                topic,
                "",
                f"{res.kind} solve: {res.status.value} without a solution ({res.message})",
            )


@alert_rule
def _stopped_early(run: PlanningRun) -> Iterable[Alert]:
    """A solve that the time limit stopped with a plan: the plan is the best found, not
    proven optimal (the lot-sizing MIP's peak plan said so only in the report's solves
    table)."""
    for topic, res in _solves(run):
        if res.has_solution() and res.status.value == "time_limit":
            gap = "" if res.gap is None else f", within {res.gap:.2%} of the best bound"
            yield Alert(
                "warning",
                topic,
                "",
                f"{res.kind} solve: stopped at the time limit with the best plan found{gap}; "
                "a longer --time-limit may find a better one",
            )


def _units(run: PlanningRun) -> str:
    """The unit of the run's quantities (:attr:`optim.planning.PlanningRun.unit`)."""
    return run.unit


@alert_rule
def _floors(run: PlanningRun) -> Iterable[Alert]:
    """When capacity cannot meet the policy's fill-rate floors: one alert per customer
    segment planned below its floor, naming it and how many units it falls short of the
    floor over the plan window (demand × (floor − planned fill rate))."""
    if run.capacity_floors:
        return
    segs = run.capacity.tables.get("segments") if run.capacity.has_solution() else None
    floors = {  # the policy's floors (the fallback plan was solved without them)
        str(name): float(row.service_level)
        for name, row in run.policy.segments.items()
        if row.dimension == "customer"
    }
    below = []
    if segs is not None and {"segment", "priority", "fill_rate", "demand"} <= set(segs.columns):
        ordered = segs.sort_values(["priority", "segment"], kind="stable")
        for r in ordered.to_dict("records"):
            floor = floors.get(str(r["segment"]))
            fill, demand = float(r["fill_rate"]), float(r["demand"])
            if floor is not None and demand > 0 and fill < floor - 1e-9:
                below.append((str(r["segment"]), int(r["priority"]), floor, fill, demand))
    unit = _units(run)
    for name, tier, floor, fill, demand in below:
        short = demand * (floor - fill)
        yield Alert(
            "critical",
            "capacity",
            name,
            f"peak plan: {name} (tier {tier}) is planned at {fill:.1%} against its fill-rate "
            f"floor of {floor:.1%}: {short:,.0f} {unit} short of the floor over the plan "
            "window (capacity cannot meet every floor; planned in strict priority order, "
            "see the notes for the diagnosis)",
            short,
            unit,
        )
    if not below:
        yield Alert(
            "critical",
            "capacity",
            "",
            "the policy's fill-rate floors cannot all be met with this capacity; the peak "
            "plan is the strict-priority one (see the notes for the diagnosis)",
        )


@alert_rule
def _short_week(run: PlanningRun) -> Iterable[Alert]:
    summary = run.tables.get("segment_summary")
    if summary is None or not run.rationing.has_solution():
        return
    for row in summary.to_dict("records"):
        req, got = float(row["short_week_requested"]), float(row["short_week_allocated"])
        target = float(row["service_level_target"])
        name = str(row["segment"])
        if req > 0 and got / req < target - 1e-9:
            yield Alert(
                "warning",
                "service",
                name,
                f"short week: {name} gets {got:,.0f} of {req:,.0f} {_units(run)} "
                f"({got / req:.1%}, target {target:.1%}), {req - got:,.0f} {_units(run)} short",
                req - got,
                _units(run),
            )


@alert_rule
def _disruption(run: PlanningRun) -> Iterable[Alert]:
    """Supply disrupted this week (``plan.yaml`` ``disruption``): one alert with how many
    items and sites receive less than their planned stock, the units missing and the
    items that lose most (from the supply table the short week was rationed on)."""
    supply = run.tables.get("supply")
    shares = getattr(run.data, "disruption", None) or {}
    if supply is None or not shares or not {"planned", "quantity"} <= set(supply.columns):
        return
    hit = supply[supply["item"].isin(list(shares)) & (supply["quantity"] < supply["planned"])]
    if hit.empty:
        return
    lost = (hit["planned"] - hit["quantity"]).groupby(hit["item"]).sum()
    worst = lost.sort_values(ascending=False, kind="stable")
    unit = _units(run)
    named = ", ".join(
        f"{item} {shares[item]:.0%} ({amount:,.0f} {unit} missing)"
        for item, amount in worst.head(5).items()
    )
    total, planned = float(lost.sum()), float(hit["planned"].sum())
    yield Alert(
        "warning",
        "supply",
        "",
        f"disruption: {hit['item'].nunique()} item(s), at {len(hit)} (item, location) "
        f"pair(s), receive {planned - total:,.0f} of {planned:,.0f} {unit} of their planned "
        "stock this week "
        f"(plan.yaml disruption), {total:,.0f} {unit} missing; most: {named}"
        f"{', …' if len(worst) > 5 else ''}",
        total,
        unit,
    )


@alert_rule
def _stock_service(run: PlanningRun) -> Iterable[Alert]:
    """Every customer segment with a (item, stage) row whose simulated service is below its
    target with the simulation's confidence (``ci_high < target``), naming the worst rows."""
    sim = run.tables.get("service_simulation")
    if sim is None or sim.empty:
        return
    missed = sim[~sim["meets_target"].astype(bool)]
    for name, rows in missed.groupby("segment", sort=True):
        total = int((sim["segment"] == name).sum())
        worst = rows.sort_values("margin", kind="stable").head(3)
        shown = "; ".join(
            f"{r.stage} {r.service_measure} {r.fill:.1%} (interval up to {r.ci_high:.1%}) "
            f"against {r.target:.1%}"
            for r in worst.itertuples()
        )
        more = f" and {len(rows) - 3} more" if len(rows) > 3 else ""
        yield Alert(
            "warning",
            "service",
            str(name),
            f"simulated stock plan: {name} misses its target at {len(rows)} of {total} "
            f"stocking rows: {shown}{more}",
            float(len(rows)),
            "rows",
        )


@alert_rule
def _stock_service_on_average(run: PlanningRun) -> Iterable[Alert]:
    """Every (location, customer segment) whose simulated service is below its target on
    average over its items (a systematic shortfall too small to show per item)."""
    groups = run.tables.get("service_by_segment")
    if groups is None or "below_target_on_average" not in groups:
        return
    below = groups[groups["below_target_on_average"].astype(bool)]
    cols = ["location", "segment", "items", "mean_gap_to_target", "gap_stderr"]
    for location, segment, items, gap_, se in below[cols].itertuples(index=False, name=None):
        gap = float(gap_)
        yield Alert(
            "warning",
            "service",
            str(segment),
            f"simulated stock plan: {segment} at {location} is below its target on "
            f"average over {int(items)} items by {-gap * 100:.2f} points (s.e. "
            f"{float(se) * 100:.2f}; significant at 95 % over all location x "
            "segment groups), a systematic shortfall too small to show per item",
            -gap * 100,
            "points",
        )


@alert_rule
def _review_below_target(run: PlanningRun) -> Iterable[Alert]:
    """Every (customer segment, item class) the shipments review flags below target
    (:mod:`optim.planning.review`): its achieved figures, trend and recommendation; the
    amount is the larger of the fill-rate and OTIF gaps, in points."""
    table = run.tables.get("review")
    if table is None or table.empty:
        return
    for r in table[table["below_target"].astype(bool)].to_dict("records"):
        target, fill, otif = float(r["target"]), float(r["fill_rate"]), float(r["otif"])
        gap = max(target - fill, target - otif)
        yield Alert(
            "warning",
            "review",
            f"{r['segment']} × {r['abc']}",
            f"shipments: {r['segment']} × {r['abc']} achieved fill rate {fill:.1%} and OTIF "
            f"{otif:.1%} against {target:.1%} over {int(r['lines']):,} lines (trend "
            f"{r['trend']}); {r['recommendation']}",
            gap * 100,
            "points",
        )


@alert_rule
def _reader_notes(run: PlanningRun) -> Iterable[Alert]:
    for note in getattr(run.data, "notes", ()) or ():
        topic = note.split(":", 1)[0] if ":" in note[:20] else "data"
        yield Alert("info", topic, "", note)


NOTE_SEVERITY: tuple[tuple[str, Severity, str], ...] = (
    ("lead time extended", "warning", "lead_time"),
    ("policy:", "warning", "policy"),
    ("peak plan:", "warning", "capacity"),
    ("forecast:", "warning", "forecast"),
)
"""Run notes (``PlanningRun.notes`` beyond the reader's) that are warnings: prefix, severity,
topic. Other notes (e.g. how order lines were merged for rationing) are ``info``."""


_NOTE_WHO = re.compile(r"^policy: max_service_time_days \S+ of '([^']+)' ")
"""The segment a policy note is about (the alert's who)."""


@alert_rule
def _run_notes(run: PlanningRun) -> Iterable[Alert]:
    """The run's own notes (lead-time drift, policy rounding, the capacity fallback's
    diagnosis …) as alerts; the reader's notes are :func:`_reader_notes`'."""
    read = set(getattr(run.data, "notes", ()) or ())
    for note in getattr(run, "notes", ()) or ():
        if note in read:
            continue
        for prefix, severity, topic in NOTE_SEVERITY:
            if note.startswith(prefix):
                named = _NOTE_WHO.search(note)
                yield Alert(severity, topic, named.group(1) if named else "", note)
                break
        else:
            topic = note.split(":", 1)[0] if ":" in note[:20] else "run"
            yield Alert("info", topic, "", note)


def to_records(alerts: Iterable[Alert]) -> list[dict[str, Any]]:
    """Alerts as plain dicts (JSON)."""
    return [asdict(a) for a in alerts]
