r"""The end-to-end planning run: segment → policy → safety stock → peak plan → rationing.

:func:`run` takes :class:`~optim.planning.distributor.PlanningData` (the bundled example:
:func:`~optim.planning.distributor.distributor_example`) and a policy table, and runs

1. **Segmentation** of the order history (:func:`optim.segmentation.segment`), as a weekly
   rerun: last week's run (the history without its last week) is passed as ``previous``,
   so the change list shows what this week's data moved and why (margin / N-run rules).
2. **Policy**: the table's targets per customer segment and item class; every
   (item class, customer segment) cell gets the combined target.
3. **Safety-stock placement** per item on the network template (GSM, one tree per item,
   exact DP; :func:`~optim.planning.build_item_safety_stock`) with **critical levels**
   (the network's ``pooling``, ``critical_level`` by default): a stage shared by segments
   holds one base stock and reserves stock for the higher tiers, so every (item, stage,
   segment) gets its own target in its own ``service_measure`` (the policy table's,
   :mod:`optim.segmentation.policy`) and its rationing tier as priority
   (:mod:`optim.models.safety_stock.critical`). The same instance is also solved with
   ``max_z`` like for like (:mod:`optim.models.safety_stock.strictest`: every segment
   covered at its stage's strictest target, critical levels 0, on the same demand laws and
   service measures): the comparison point, its cost minus the plan's is the **saving**
   (``stock_vs_max_z``), never negative. Lumpy items whose policy offers make-to-order are
   left out (:func:`~optim.planning.builders.make_to_order_items`): no stock, a promise
   equal to the replenishment time without stock (``segmentation/item_policy.csv``). Lead
   times made random by receipts keep the critical levels
   (:mod:`optim.models.safety_stock.lead_times`: the exact evaluation mixed over the
   replenishment time). Each
   stage's holding cost is attributed to the customer segments it covers by the Euler
   (marginal contribution) rule of the root-sum-square stock :math:`SS_j =
   \sqrt{\tau_j}\sqrt{\sum_d a_{jd}^2}`, :math:`a_{jd} = z_d\sigma_d` with :math:`z_d`
   of the segment's own target: demand ``d`` carries :math:`a_{jd}^2 / \sum_{d'}
   a_{jd'}^2` of stage ``j``'s cost; the shares add up to the total exactly
   (:func:`safety_stock_by_segment`, which also covers the other pooling rules).
4. **Simulation of the stock plan** (:func:`optim.models.safety_stock.simulate.simulate`,
   the policy exactly as planned: base stocks, critical levels, service times, the model's
   demand law): every (item, stage, segment)'s achieved service in its measure with a
   confidence interval, simultaneous over all rows (Bonferroni, 95 %).
   :data:`SIM_PERIODS` periods × :data:`SIM_REPLICATIONS` replications, seeded; a row
   whose interval lies wholly below its target (``ci_high < target``) is a miss, and every
   segment with a miss gets an alert (:mod:`optim.alerts`). Sampling precision (the median
   half-width of the intervals) is kept in ``simulation_precision``.
5. **Peak capacity plan** of the product families over the planning window. Forecast
   (``data.forecast``): ``"statistical"`` (default) — :func:`optim.forecast` per item ×
   customer segment × location (one statsforecast model per series from the policy table
   and the demand pattern, rolling-origin backtest, conformal intervals), whose
   per-period forecast error is also the σ of step 3 (the stock per item class is
   compared with the history-σ stock, :func:`stock_moved_by_class`);
   ``"seasonal_naive"`` — each planned week repeats the order lines of the same week 52
   weeks earlier (364 days, same weekday), per customer, and step 3 takes the history's σ.
   Lost-sales and backlog penalties follow the customer tiers
   (:func:`~optim.planning.build_capacity`), and each segment's policy service level is
   its fill-rate floor over the window. When capacity cannot meet every floor, the
   diagnosis (which segment, how many hours short on which resource and week) is kept in
   :attr:`PlanningRun.notes` and the plan is re-solved in the capacity model's strict
   lexicographic mode without floors (the first rationing tier's shortfall minimised first,
   then the next tier's, then cost); the note lists every segment's planned fill rate
   against its floor.
6. **Rationing** of this week's open orders. Supply is the given stock, or the planned
   stock of each (item, site): mean weekly demand at the site plus the stage's safety
   stock, floored to whole units, times the item's ``disruption`` share (floored). Lines
   get whole units (lot size 1, exact by the rationing MIP stage).

Every step's solver result, its tables (CSV) and a per-segment summary are written to the
output folder, with one self-contained HTML report (:mod:`optim.planning.report`).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from statistics import NormalDist
from typing import Any, TextIO, TypeVar

import numpy as np
import pandas as pd

import optim
from optim.alerts import Alert
from optim.errors import InstanceError, NoSolutionError
from optim.params import SolveParams, as_params
from optim.planning import warmup
from optim.planning.builders import (
    build_capacity,
    build_item_safety_stock,
    build_rationing,
    make_to_order_demands,
    make_to_order_items,
)
from optim.planning.folder import PlanningData
from optim.result import Result
from optim.segmentation import PolicyTable, Segmentation, SegmentationConfig, segment
from optim.status import Status

__all__ = [
    "SIM_PERIODS",
    "SIM_REPLICATIONS",
    "PlanningRun",
    "Progress",
    "forecast_as_lines",
    "run",
    "safety_stock_by_segment",
    "stock_moved_by_class",
    "write",
]

SIM_PERIODS = 250
"""Periods per replication of the stock plan's simulation (after the warm-up)."""
SIM_REPLICATIONS = 24
"""Independent replications of the stock plan's simulation (seed 0): 6,000 periods per row,
CI-sized (a few seconds on the demo's 5,463 rows); see ``simulation_precision``."""


class Progress:
    """Step-by-step progress on a text stream (stderr): ``[k/n] title …`` when a step
    starts, ``done in 1.2 s`` when it ends; ``quiet`` prints nothing. Every step is timed
    and the times are kept in :attr:`times`.
    """

    def __init__(self, total: int, stream: TextIO | None = None, quiet: bool = False) -> None:
        self.total = total
        self.stream = sys.stderr if stream is None else stream
        self.quiet = quiet
        self.count = 0
        self.times: dict[str, float] = {}

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        self.count += 1
        if not self.quiet:
            print(f"[{self.count}/{self.total}] {title} …", file=self.stream, flush=True)
        start = time.perf_counter()
        yield
        took = time.perf_counter() - start
        self.times[title] = took
        if not self.quiet:
            print(f"      done in {took:.1f} s", file=self.stream, flush=True)


@dataclass(frozen=True)
class PlanningRun:
    """Everything the run produced.

    Attributes
    ----------
    data
        The input data.
    segmentation
        This week's segmentation (with the change list against last week's run).
    policy
        The policy table used.
    safety_stock, capacity, rationing
        Solver results of steps 3, 5 and 6.
    baseline
        The safety-stock instance solved with ``max_z`` like for like (cover the
        strictest with critical levels 0 on the same demand laws,
        :func:`optim.models.safety_stock.solve.solve_cover_strictest`), the comparison
        point of the critical levels; None when the plan is not
        ``critical_level`` or the comparison found no solution.
    capacity_floors
        Whether the peak plan meets every segment's fill-rate floor (False: the floors
        conflict with capacity, see ``notes``; the plan is the strict lexicographic one).
    notes
        Diagnoses and remarks for the planner (the input reader's rules first).
    tables
        Derived tables: ``segment_summary``, ``cell_policy``, ``stock_by_stage``,
        ``stock_by_segment``, ``stock_vs_max_z``, ``service_simulation`` (one row per
        (item, stage, segment)), ``service_by_segment`` (per location and segment),
        ``simulation_precision``, ``supply`` (see :func:`run`).
    times
        Seconds per step.
    alerts
        Alerts a step raised itself (:mod:`optim.alerts`); the report shows these and every
        registered alert rule's first (:func:`optim.alerts.collect`).
    """

    data: PlanningData
    segmentation: Segmentation
    policy: PolicyTable
    safety_stock: Result
    capacity: Result
    rationing: Result
    capacity_floors: bool = True
    baseline: Result | None = None
    notes: tuple[str, ...] = ()
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    times: dict[str, float] = field(default_factory=dict)
    alerts: tuple[Alert, ...] = ()
    previous: Any = None
    """The earlier run compared with (:class:`~optim.planning.compare.PreviousRun`), or None;
    the change tables are ``tables["changed_classes" | "changed_stock" |
    "changed_allocation"]``."""

    def ok(self) -> bool:
        """Whether every solve returned a solution."""
        return all(r.has_solution() for r in (self.safety_stock, self.capacity, self.rationing))

    @property
    def unit(self) -> str:
        """What the run's quantities are counted in: ``plan.yaml`` ``units`` (e.g. ``pcs``),
        else ``"units"``."""
        return self.data.units or "units"


def _service_time_notes(table: PolicyTable, period: str) -> list[str]:
    """Warn where promised days are not whole periods (they are rounded down), and where
    two customer segments' different promises round to the same number of periods."""
    from optim.planning.builders import days_per_period, periods_of_days

    days = days_per_period(period)
    notes = []
    seen: dict[int, list[str]] = {}
    for name, row in table.segments.items():
        d = row.max_service_time_days
        whole = periods_of_days(d, period)
        seen.setdefault(whole, []).append(f"{name} ({d:g} day{'' if d == 1 else 's'})")
        if abs(d / days - round(d / days)) > 1e-9:
            notes.append(
                f"policy: max_service_time_days {d:g} of {name!r} is not a whole number of "
                f"{days:g}-day periods; it counts as {whole} period(s) (rounded down), so "
                f"promises from {whole * days:g} to {(whole + 1) * days - 1:g} days plan alike."
            )
    for whole, names in sorted(seen.items()):
        if len(names) > 1 and len({n.split(" (")[1] for n in names}) > 1:
            notes.append(
                f"policy: {', '.join(names)} all plan as {whole} period(s) of service time."
            )
    return notes


def safety_stock_by_segment(result: Result) -> pd.DataFrame:
    r"""Attribute each stage's safety-stock holding cost to the segments it covers.

    Euler (marginal-contribution) allocation of :math:`k_j`, which is homogeneous of degree
    one in the demands' :math:`a_d = z_d\sigma_d`, so the shares add up exactly. Weight of
    demand ``d`` at a stage above it, by the instance's pooling: ``root_sum_square``
    :math:`a_d^2`, ``additive`` :math:`a_d`, ``max_z`` :math:`\sigma_d^2`,
    ``critical_level`` :math:`a_d^2` with :math:`z_d` of the segment's own target (each
    segment is covered at its own level, so it carries what its own level calls for; the
    critical levels themselves are in the result's ``demands`` table). The network must
    be a forest with unit arc quantities (as built by ``build_item_safety_stock``).

    Returns
    -------
    DataFrame
        ``stage, segment, share, safety_stock, holding_cost`` (per stage the shares add
        to 1 and the amounts to the stage's).

    Raises
    ------
    InstanceError
        A stage with two suppliers or an arc quantity other than 1.
    """
    inst = result.info["instance"]
    demands = pd.DataFrame(inst["demands"])
    arcs = inst.get("arcs", [])
    parent = {a["target"]: a["source"] for a in arcs}
    if len(parent) != len(arcs) or any(float(a.get("quantity", 1.0)) != 1.0 for a in arcs):
        raise InstanceError(
            "safety_stock_by_segment needs a forest with unit arc quantities (one supplier "
            "per stage, quantity 1).",
            field="arcs",
        )
    z_of = result.tables["demands"].set_index(["stage", "segment"])["z"]
    z = z_of.reindex(pd.MultiIndex.from_frame(demands[["stage", "segment"]])).to_numpy(float)
    a = (z * demands["std_dev"].to_numpy(float)).clip(min=0.0)
    pooling = inst.get("pooling", "critical_level")
    if pooling in ("root_sum_square", "critical_level"):
        weight = a**2
    elif pooling == "additive":
        weight = a
    elif pooling == "max_z":
        weight = demands["std_dev"].to_numpy(float) ** 2
    else:
        raise InstanceError(
            f"pooling {pooling!r} is unknown; allowed: critical_level, max_z, "
            "root_sum_square, additive.",
            field="pooling",
        )
    own = pd.DataFrame({"stage": demands["stage"], "segment": demands["segment"], "w": weight})
    # push every demand's weight up its unique path to the root (forest)
    rows = [own]
    current = own
    while True:
        up = current["stage"].map(parent)
        current = current.assign(stage=up)[up.notna().to_numpy()]
        if current.empty:
            break
        rows.append(current)
    cover = pd.concat(rows).groupby(["stage", "segment"], sort=True)["w"].sum().reset_index()
    total = cover.groupby("stage")["w"].transform("sum")
    cover["share"] = np.where(total > 0, cover["w"] / total.where(total > 0, 1.0), 0.0)
    stages = result.tables["stages"].set_index("stage")
    cover["safety_stock"] = cover["share"] * stages["safety_stock"].reindex(cover["stage"]).values
    cover["holding_cost"] = cover["share"] * stages["holding_cost"].reindex(cover["stage"]).values
    return cover[["stage", "segment", "share", "safety_stock", "holding_cost"]]


def _split_stage(frame: pd.DataFrame) -> pd.DataFrame:
    parts = frame["stage"].str.rsplit("@", n=1, expand=True)
    return frame.assign(item=parts[0], location=parts[1])


def forecast_lines(history: pd.DataFrame, start: pd.Timestamp, weeks: int) -> pd.DataFrame:
    """Seasonal naïve forecast: the order lines of the same weeks one year (364 days) earlier."""
    lag = pd.Timedelta(days=364)
    end = start + pd.Timedelta(weeks=weeks)
    window = history[(history["date"] >= start - lag) & (history["date"] < end - lag)]
    return window.assign(date=window["date"] + lag).reset_index(drop=True)


T = TypeVar("T")


def _derived(build: Callable[[], T], what: str) -> T:
    """``build()``; an instance it refuses is the planner's input seen through the run, so
    the message says which input it comes from and what to change."""
    from optim.errors import MAGNITUDE

    try:
        return build()
    except InstanceError as exc:
        text = str(exc).rstrip(".")
        if exc.kind == MAGNITUDE:  # the input's lines are within the limit, their sums not
            text += "; the input lines are each within the limit, their sums are not — state "
            text += "the quantities in a larger unit"
        raise InstanceError(f"{what}: {text}.", field=exc.field) from None


def forecast_as_lines(fc: pd.DataFrame, seg: Segmentation) -> pd.DataFrame:
    """Forecast rows (item, segment, location, week, forecast) as order lines the builders
    read: one line per row dated at the week's start, booked to one customer of the
    segment (the builders aggregate per segment), value 0."""
    rep = seg.customers.drop_duplicates("segment").set_index("segment")["customer"]
    rows = fc[fc["forecast"] > 0]
    return pd.DataFrame(
        {
            "date": pd.to_datetime(rows["week"]).to_numpy(),
            "customer": rep.reindex(rows["segment"]).to_numpy(),
            "item": rows["item"].to_numpy(),
            "location": rows["location"].to_numpy(),
            "quantity": rows["forecast"].to_numpy(dtype=float),
            "unit_price": 0.0,
        }
    )


def stock_moved_by_class(
    seg: Segmentation, by_history: Result, by_forecast: Result, sigma: pd.DataFrame
) -> pd.DataFrame:
    """Safety stock per item ABC class with the history's σ and with the forecast-error σ.

    Columns ``abc, items, sigma_history, sigma_forecast, stock_history, stock_forecast,
    change_rate, why``: σ are sums over the class's (item, segment, location) cells, stock
    in units from the two GSM solutions, ``change_rate`` = stock_forecast / stock_history − 1
    (a rate, as :mod:`optim.precision` and the report write rates).
    """
    abc = seg.items.set_index("item")["abc"]
    out = []
    frames = {}
    for name, res in (("history", by_history), ("forecast", by_forecast)):
        st = _split_stage(res.tables["stages"])
        frames[name] = (
            st.assign(abc=abc.reindex(st["item"]).to_numpy()).groupby("abc")["safety_stock"].sum()
        )
    cells = sigma.assign(abc=abc.reindex(sigma["item"]).to_numpy())
    sig = cells.groupby("abc")[["history_std", "std_dev"]].sum()
    n_items = cells.groupby("abc")["item"].nunique()
    for cls in sorted(set(frames["history"].index) | set(frames["forecast"].index)):
        h, f = float(frames["history"].get(cls, 0.0)), float(frames["forecast"].get(cls, 0.0))
        sh, sf = float(sig["history_std"].get(cls, 0.0)), float(sig["std_dev"].get(cls, 0.0))
        ratio = sf / sh if sh > 0 else float("nan")
        why = (
            f"forecast error is {ratio:.0%} of the history's σ: "
            + (
                "trend, season and promotions the forecast foresees no longer count as risk"
                if ratio < 1
                else "the forecast misses more than the history varies (erratic or shifting "
                "demand)"
            )
            if ratio == ratio
            else "no σ"
        )
        out.append(
            {
                "abc": cls,
                "items": int(n_items.get(cls, 0)),
                "sigma_history": sh,
                "sigma_forecast": sf,
                "stock_history": h,
                "stock_forecast": f,
                "change_rate": f / h - 1.0 if h > 0 else float("nan"),
                "why": why,
            }
        )
    return pd.DataFrame(out)


def planned_supply(
    seg: Segmentation,
    stages: pd.DataFrame,
    orders: pd.DataFrame,
    disruption: dict[str, float],
) -> pd.DataFrame:
    """Planned stock per ordered (item, site): mean weekly demand + safety stock, floored,
    times the disruption share (floored). Columns ``item, location, planned, quantity``."""
    need = orders[["item", "location"]].drop_duplicates().astype(str)
    mean = seg.demand_stats(("item", "location")).set_index(["item", "location"])["mean"]
    ss = _split_stage(stages).set_index(["item", "location"])["safety_stock"]
    key = pd.MultiIndex.from_frame(need)
    planned = np.floor(
        mean.reindex(key).fillna(0.0).to_numpy() + ss.reindex(key).fillna(0.0).to_numpy() + 1e-9
    )
    share = need["item"].map(disruption).fillna(1.0).to_numpy(float)
    return need.assign(planned=planned, quantity=np.floor(planned * share + 1e-9)).sort_values(
        ["item", "location"], ignore_index=True
    )


def _segment_summary(
    seg: Segmentation,
    policy: PolicyTable,
    stock_by_segment: pd.DataFrame,
    capacity: Result,
    rationing: Result,
    simulation: pd.DataFrame,
) -> pd.DataFrame:
    rows = {n: r for n, r in policy.segments.items() if r.dimension == "customer"}
    sim = simulation.groupby("segment").agg(
        rows=("fill", "size"),
        misses=("meets_target", lambda m: int((~m.astype(bool)).sum())),
        service=("fill", "mean"),
        target=("target", "mean"),
    )
    counts = seg.customers["segment"].value_counts()
    value = seg.customers.groupby("segment")["value"].sum()
    ss = stock_by_segment.groupby("segment")[["safety_stock", "holding_cost"]].sum()
    empty = pd.DataFrame(
        columns=["segment", "demand", "fill_rate", "on_time_rate", "shortfall_cost",
                 "requested", "allocated"]
    )  # fmt: skip
    cap = capacity.tables.get("segments", empty).set_index("segment")
    rat = rationing.tables.get("segments", empty).set_index("segment")
    out = []
    for name, row in rows.items():
        out.append(
            {
                "segment": name,
                "customers": int(counts.get(name, 0)),
                "revenue": float(value.get(name, 0.0)),
                "service_level_target": row.service_level,
                "max_service_time_days": row.max_service_time_days,
                "rationing_tier": row.rationing_tier,
                "safety_stock_units": float(ss["safety_stock"].get(name, 0.0)),
                "safety_stock_cost_per_week": float(ss["holding_cost"].get(name, 0.0)),
                "stock_rows": int(sim["rows"].get(name, 0)),
                "stock_mean_target": float(sim["target"].get(name, np.nan)),
                "simulated_service_level": float(sim["service"].get(name, np.nan)),
                "simulated_misses": int(sim["misses"].get(name, 0)),
                "peak_demand": float(cap["demand"].get(name, 0.0)),
                "peak_fill_rate": float(cap["fill_rate"].get(name, np.nan)),
                "peak_on_time_rate": float(cap["on_time_rate"].get(name, np.nan)),
                "peak_shortfall_cost": float(cap["shortfall_cost"].get(name, 0.0)),
                "short_week_requested": float(rat["requested"].get(name, 0.0)),
                "short_week_allocated": float(rat["allocated"].get(name, 0.0)),
                "short_week_fill_rate": float(rat["fill_rate"].get(name, np.nan)),
            }
        )
    return pd.DataFrame(out)


STAGE_MODELS = {
    "normal": "critical levels, normal demand",
    "count": "critical levels, slow movers (count law)",
    "none": "no reservation (as max_z)",
}
"""Labels of :func:`stage_models`."""


def stage_models(inst: Any) -> pd.Series:
    r"""Stage id → how the plan models its stock (labels :data:`STAGE_MODELS`): critical
    levels with normal demand, critical levels where a segment's demand is slow or lumpy
    (Poisson / negative binomial, :func:`optim.models.safety_stock.critical.
    resolve_distribution`), or no reservation (:math:`z\sigma\sqrt\tau` as in max_z: a stage
    with one cycle-service segment, one that also supplies other stages, or no demand)."""
    from optim.models.safety_stock.critical import resolve_distribution, stage_specs

    ids = tuple(s.id for s in inst.stages)
    out = pd.Series(STAGE_MODELS["none"], index=list(ids), dtype=object)
    dem = inst.demands
    for j, spec in stage_specs(inst, len(ids), ids).items():
        laws = {
            resolve_distribution(dem[i].mean, dem[i].std_dev, dem[i].distribution)
            for i in spec.demands
        }
        out.iloc[j] = STAGE_MODELS["normal" if laws == {"normal"} else "count"]
    return out


def stock_vs_max_z(plan: Result, max_z: Result, unit_cost: pd.Series, inst: Any) -> pd.DataFrame:
    """The plan against ``max_z`` on the same instance, per location of the network template
    and per stage model (:func:`stage_models`): safety stock (units, value) and holding cost
    per week of both, the saving (max_z − plan, per week; negative: the plan holds more) and
    its share of the max_z cost. The last row, location ``total``, adds up the network (its
    holding costs are the two solves' objectives)."""
    model = stage_models(inst)
    frames = []
    for tag, res in (("", plan), ("_max_z", max_z)):
        st = _split_stage(res.tables["stages"])
        st = st.assign(
            value=st["safety_stock"] * st["item"].map(unit_cost).to_numpy(float),
            stage_model=model.reindex(st["stage"]).to_numpy(),
        )
        frames.append(
            st.groupby(["location", "stage_model"], sort=False)[
                ["safety_stock", "value", "holding_cost"]
            ]
            .sum()
            .rename(
                columns={
                    "safety_stock": f"safety_stock_units{tag}",
                    "value": f"safety_stock_value{tag}",
                    "holding_cost": f"holding_cost_per_week{tag}",
                }
            )
        )
    out = frames[0].join(frames[1], how="outer").fillna(0.0).sort_index()
    out.loc[("total", ""), :] = out.sum(axis=0)
    out["saving_per_week"] = out["holding_cost_per_week_max_z"] - out["holding_cost_per_week"]
    base = out["holding_cost_per_week_max_z"]
    out["saving_share"] = np.where(base > 0, out["saving_per_week"] / base.where(base > 0, 1), 0)
    return out.reset_index()


def simulate_plan(
    inst: Any, plan: Result, *, periods: int, replications: int, workers: int = 1
) -> pd.DataFrame:
    """The stock plan simulated as planned (seed 0; :mod:`optim.models.safety_stock.simulate`):
    one row per (item, stage, segment) with ``item`` and ``location`` split off the stage id;
    ``margin`` = achieved service − target in the segment's measure. ``workers``: local
    processes for the replications (the table does not depend on it)."""
    from optim.models.safety_stock.simulate import simulate

    table = simulate(
        inst, plan, periods=periods, replications=replications, seed=0, workers=workers
    )
    table = _split_stage(table)
    head = ["item", "location", "segment", "service_measure", "target", "fill", "ci_low",
            "ci_high", "meets_target"]  # fmt: skip
    rest = [c for c in table.columns if c not in head and c != "stage"]
    return table[["stage", *head, *rest]].assign(margin=table["fill"] - table["target"])


def simulation_precision(
    sim: pd.DataFrame, periods: int, replications: int, groups: pd.DataFrame | None = None
) -> pd.DataFrame:
    """One row stating the simulation's size and sampling precision: rows, periods,
    replications, the median and largest half-width of the (simultaneous 95 %) intervals,
    the misses (``ci_high < target``) and the (location, segment) groups below target on
    average (:func:`service_by_segment`)."""
    half = (sim["ci_high"] - sim["ci_low"]) / 2
    return pd.DataFrame(
        [
            {
                "rows": len(sim),
                "periods": periods,
                "replications": replications,
                "confidence": 0.95,
                "median_half_width": float(half.median()) if len(sim) else np.nan,
                "max_half_width": float(half.max()) if len(sim) else np.nan,
                "misses": int((~sim["meets_target"].astype(bool)).sum()),
                "groups_below_target": 0
                if groups is None
                else int(groups["below_target_on_average"].sum()),
            }
        ]
    )


def service_by_segment(
    sim: pd.DataFrame, by_seg: pd.DataFrame, unit_cost: pd.Series
) -> pd.DataFrame:
    """Per (location, customer segment): the safety stock attributed to the segment there
    (units, value, holding cost per week; :func:`safety_stock_by_segment`) and, where the
    segment has demand, its simulated service: items, the service measure(s), mean target,
    mean simulated service, the worst gap to target (service − target), the misses
    (``ci_high < target``), the mean gap with its standard error (the rows are independent
    items) and ``below_target_on_average`` (mean gap + q·s.e. < 0, one-sided, Bonferroni over
    the groups at 95 %): a systematic shortfall too small to show per item. Locations without
    demand (the plant) have stock, no service."""
    stock = _split_stage(by_seg)
    stock = stock.assign(
        value=stock["safety_stock"] * stock["item"].map(unit_cost).to_numpy(float)
    )
    per = (
        stock.groupby(["location", "segment"], sort=False)[
            ["safety_stock", "value", "holding_cost"]
        ]
        .sum()
        .rename(
            columns={
                "safety_stock": "safety_stock_units",
                "value": "safety_stock_value",
                "holding_cost": "holding_cost_per_week",
            }
        )
    )
    service = (
        sim.assign(var=sim["stderr"] ** 2)
        .groupby(["location", "segment"], sort=False)
        .agg(
            items=("item", "nunique"),
            service_measure=("service_measure", lambda m: ", ".join(sorted(set(m)))),
            mean_target=("target", "mean"),
            simulated_service_level=("fill", "mean"),
            worst_gap_to_target=("margin", "min"),
            misses=("meets_target", lambda m: int((~m.astype(bool)).sum())),
            mean_gap_to_target=("margin", "mean"),
            var=("var", "sum"),
            rows=("margin", "size"),
        )
    )
    # the mean gap over a group's items (independent rows) is far more precise than one
    # row: a systematic shortfall too small to show per item shows here (z-test, Bonferroni
    # over the groups at 95 %)
    service["gap_stderr"] = np.sqrt(service["var"]) / service["rows"]
    q = NormalDist().inv_cdf(1 - 0.05 / max(len(service), 1))
    service["below_target_on_average"] = (
        service["mean_gap_to_target"] + q * service["gap_stderr"] < 0
    )
    service = service.drop(columns=["var", "rows"])
    out = service.join(per, how="outer")
    out["items"] = out["items"].fillna(0).astype(np.int64)
    out["misses"] = out["misses"].fillna(0).astype(np.int64)
    out["service_measure"] = out["service_measure"].fillna("")
    out["below_target_on_average"] = out["below_target_on_average"].eq(True)  # NaN: no demand
    out[list(per.columns)] = out[list(per.columns)].fillna(0.0)
    return out.reset_index()


def _fallback_note(diagnosis: str, floors: dict[str, dict[str, float]], cap: Result) -> str:
    """What the peak-plan fallback did and what every segment gets against its floor."""
    text = (
        "peak plan: the policy's fill-rate floors cannot all be met with this capacity. "
        f"{diagnosis} Planned in strict priority order instead (lexicographic: the shortfall "
        "cost of the first rationing tier is minimised, then the next tier's with every "
        "earlier tier's kept, then total cost; no fill-rate floor imposed)."
    )
    segs = cap.tables.get("segments")
    if segs is None or segs.empty:
        return text
    parts = []
    ordered = segs.sort_values(["priority", "segment"], kind="stable")
    for seg_name, priority, demand_, fill_ in ordered[
        ["segment", "priority", "demand", "fill_rate"]
    ].itertuples(index=False, name=None):
        demand, fill = float(demand_), float(fill_)
        floor = floors.get(str(seg_name), {}).get("min_fill_rate")
        rate = "no demand" if demand <= 0 else f"{fill:.1%}"
        if floor is None:
            parts.append(f"'{seg_name}' (tier {priority}) {rate}, no floor")
            continue
        missed = demand > 0 and fill < floor - 1e-9
        verdict = "BELOW floor" if missed else "floor met"
        parts.append(
            f"'{seg_name}' (tier {priority}) {rate} against a floor of {floor:.1%}: {verdict}"
        )
    return f"{text} Planned fill rate per segment: " + "; ".join(parts) + "."


def run(
    data: PlanningData | str | os.PathLike[str],
    *,
    policy: PolicyTable | None = None,
    params: SolveParams | Mapping[str, Any] | None = None,
    progress: Progress | None = None,
    previous: Any = None,
    sim_periods: int = SIM_PERIODS,
    sim_replications: int = SIM_REPLICATIONS,
) -> PlanningRun:
    """Run the whole pipeline on ``data`` (module docstring); nothing is written.

    Parameters
    ----------
    data
        Planning data (history, orders, network, items, families, resources, window), or
        a planning folder (``str`` / ``Path``, read by :func:`read_folder`).
    policy
        Policy table (default: ``data.policy``, else the packaged one).
    params
        Solver parameters for the three solves: :class:`SolveParams` or a mapping of its
        fields (validated: an unknown field is refused).
    progress
        Progress reporter (default: none).
    previous
        Last week's run to compare with: its output folder (``str`` / ``Path``, read by
        :func:`optim.planning.compare.read_previous`) or a ``PreviousRun``. The change
        tables go to ``tables["changed_*"]``, big moves to the run's alerts.
    sim_periods, sim_replications
        Size of the stock plan's simulation (more: tighter intervals, longer run).

    Returns
    -------
    PlanningRun
    """
    if isinstance(data, str | os.PathLike):  # (a folder's path ended in AttributeError)
        from optim.planning.folder import read_folder

        data = read_folder(data)
    elif not isinstance(data, PlanningData):
        raise TypeError(
            f"data must be PlanningData or a planning folder's path, not {type(data).__name__}"
        )
    params = as_params(params)
    progress = progress or Progress(7, quiet=True)
    last_run = previous  # `previous` below is last week's segmentation
    if last_run is not None:
        from optim.planning.compare import PreviousRun, check_previous, read_previous

        if isinstance(last_run, str | os.PathLike):
            last_run = read_previous(os.fspath(last_run))
        elif not isinstance(last_run, PreviousRun):  # (123 ended in Path's TypeError)
            raise TypeError(
                "previous must be an earlier run's output folder (str or Path) or a "
                f"PreviousRun, not {type(last_run).__name__}"
            )
        check_previous(last_run, data)
    if policy is None and data.policy is not None:
        policy = PolicyTable.model_validate(data.policy)
    config = SegmentationConfig() if policy is None else SegmentationConfig(policy=policy)
    tables: dict[str, pd.DataFrame] = {}
    notes: list[str] = list(data.notes)
    pins = data.pins or None

    with progress.step(f"segment {len(data.history):,} order lines (and last week's run)"):
        dates = data.history["date"]
        last_monday = (dates.max() - pd.Timedelta(days=dates.max().weekday())).normalize()
        # last week's run: the lines before this week's, with the pins of the customers they
        # hold (a pinned customer new this week failed the run, exit 2, as "pinned but has
        # no order lines in the history", after `optim validate` passed the folder)
        earlier = data.history[dates < last_monday]
        known = set(earlier["customer"])
        earlier_pins = {c: s for c, s in (pins or {}).items() if c in known} or None
        previous = segment(earlier, config=config, overrides=earlier_pins)
        seg = segment(data.history, config=config, previous=previous, overrides=pins)
        table = seg.config.policy
        notes.extend(_service_time_notes(table, seg.config.period))
        cells = seg.demand_stats(("item", "segment"))
        tables["cell_policy"] = (
            cells.assign(abc=seg.items.set_index("item")["abc"].reindex(cells["item"]).values)
            .groupby(["abc", "segment", "service_measure"], sort=True)
            .agg(
                items=("item", "nunique"),
                service_level=("service_level", "first"),
                max_service_time_days=("max_service_time_days", "first"),
                rationing_tier=("rationing_tier", "first"),
                fair_share=("fair_share", "first"),
            )
            .reset_index()
        )

    fc = None
    if data.forecast == "statistical":
        with progress.step("forecast item × segment × location (statsforecast) and backtest"):
            from optim.forecasting import forecast

            plan_end = data.plan_start + pd.Timedelta(weeks=data.plan_weeks)
            assert seg.history is not None
            next_week = seg.history.periods[-1] + pd.Timedelta(weeks=1)
            horizon = max(1, (plan_end - next_week).days // 7)
            fc = forecast(seg, horizon=horizon, n_jobs=params.threads)
            tables["forecast"] = fc.forecast
            tables["forecast_accuracy"] = fc.accuracy[fc.accuracy["scope"] != "series"]
            notes.extend(f"forecast: {n}" for n in fc.notes)

    # the peak plan's instance is built (and so checked) before any solve: demand summed
    # per family, segment and week from the forecast may exceed what the models take
    # although every history line is within it (refused after minutes of solves before)
    weeks = pd.date_range(data.plan_start, periods=data.plan_weeks, freq="7D")
    if fc is not None:
        forecast_ = forecast_as_lines(fc.forecast, seg)
    else:
        forecast_ = forecast_lines(data.history, data.plan_start, data.plan_weeks)
    floors = {
        name: {"min_fill_rate": row.service_level}
        for name, row in table.segments.items()
        if row.dimension == "customer"
    }
    cap_kwargs: dict[str, Any] = {
        "periods": list(weeks),
        "resources": data.resources,
        "products": data.families,
        "product_of_item": dict(zip(data.items["item"], data.items["family"], strict=True)),
        "unit": data.units or "units",
        "lot_sizing": data.lot_sizing,
    }
    peak_demand = (
        "the peak plan's demand per family, segment and week (history.csv's "
        + ("forecast" if fc is not None else "demand")
        + ")"
    )
    cap_inst = _derived(
        lambda: build_capacity(seg, forecast_, segments=floors, **cap_kwargs), peak_demand
    )

    warmup.reached("safety_stock")  # a first run's kernels: optim.planning.warmup
    with progress.step("place safety stock per item on the network (GSM, critical levels)"):
        from optim.planning.builders import days_per_period

        unit_cost = data.items.set_index("item")["unit_cost"]
        demand_std = fc.demand_std() if fc is not None else None
        mto = make_to_order_items(seg)  # lumpy and the policy offers it: no stock
        gsm_inst = build_item_safety_stock(
            seg, data.network, unit_cost, demand_std=demand_std, make_to_order=mto
        )
        baseline, lanes = None, None
        if data.receipts is not None:  # lead times learned from receipts, drift flagged
            gsm_inst, baseline, lead_tables, lanes = _receipt_lead_times(
                gsm_inst, data.receipts, days_per_period(seg.config.period)
            )
            tables.update(lead_tables)
        gsm = optim.solve(gsm_inst, params)
        if baseline is not None and gsm.has_solution():
            base = optim.solve(baseline, params)
            if base.has_solution():
                tables["lead_time_drift"] = _drift_impact(
                    tables["lead_time_drift"], gsm, base, unit_cost
                )
        if not gsm.has_solution():  # the DP/relaxations always give one; guard the chain
            raise NoSolutionError(
                f"safety stock: {gsm.status.value} without a solution ({gsm.message}); the "
                "later steps need the stock plan."
            )
        max_z = None
        if gsm_inst.pooling == "critical_level":  # the comparison point: cover the strictest
            from optim.models.safety_stock.solve import solve_cover_strictest

            max_z = solve_cover_strictest(gsm_inst, params)  # the one the solve ran, kept
            if not max_z.has_solution():
                notes.append(
                    f"safety stock: the max_z comparison ended {max_z.status.value} without a "
                    "solution; no saving is stated."
                )
                max_z = None
            else:
                tables["stock_vs_max_z"] = stock_vs_max_z(gsm, max_z, unit_cost, gsm_inst)
        by_seg = safety_stock_by_segment(gsm)
        stages = _split_stage(gsm.tables["stages"])
        stages = stages.assign(value=stages["safety_stock"] * stages["item"].map(unit_cost))
        tables["stock_by_stage"] = (
            stages.groupby("location", sort=False)
            .agg(
                items=("item", "nunique"),
                decoupling_points=("decoupling_point", "sum"),
                safety_stock_units=("safety_stock", "sum"),
                safety_stock_value=("value", "sum"),
                holding_cost_per_week=("holding_cost", "sum"),
            )
            .reset_index()
        )
        tables["stock_by_segment"] = by_seg
        from optim.planning.replenishment import make_to_order_paths, replenishment_parameters

        tables["replenishment"], more = replenishment_parameters(
            seg,
            gsm_inst,
            gsm,
            days_per_period=days_per_period(seg.config.period),
            ordering_cost=data.ordering_cost,
            make_to_order=make_to_order_demands(seg, data.network, mto, demand_std=demand_std),
            network=data.network,
            lanes=lanes,
        )
        rep = tables["replenishment"]
        tables["make_to_order_paths"] = make_to_order_paths(
            rep[rep["item"].isin(mto)], data.network, lanes, days_per_period(seg.config.period)
        )
        if mto:
            notes.append(
                f"safety stock: {len(mto)} lumpy item(s) whose policy offers make-to-order "
                f"hold no stock ({', '.join(mto[:5])}{', …' if len(mto) > 5 else ''}); "
                "their promise is the replenishment time without stock at each one's "
                "service target, from the lanes' lead times, simulated "
                "(segmentation/item_policy.csv, make_to_order_paths.csv)."
            )
        notes.extend(more)
        if fc is not None:  # the baseline: the same placement on the history's σ
            base_inst = build_item_safety_stock(seg, data.network, unit_cost, make_to_order=mto)
            if data.receipts is not None:  # same lead times: only σ differs
                base_inst = _receipt_lead_times(
                    base_inst, data.receipts, days_per_period(seg.config.period)
                )[0]
            from optim.models.safety_stock.solve import solve_without_comparison

            base = solve_without_comparison(base_inst, params)  # its stages table only
            if base.has_solution():
                sigma = fc.errors[~fc.errors["item"].isin(mto)]
                sigma = sigma.assign(std_dev=sigma["sigma"])
                stats = seg.demand_stats(("item", "segment", "location"))
                sigma = sigma.merge(
                    stats[["item", "segment", "location", "std"]], how="inner"
                ).assign(
                    history_std=lambda f: f["std"],
                    std_dev=lambda f: f["std_dev"].where(f["std_dev"].notna(), f["std"]),
                )
                tables["stock_moved"] = stock_moved_by_class(seg, base, gsm, sigma)

        if "lead_time_drift" in tables:
            flagged = tables["lead_time_drift"]
            flagged = flagged[flagged["flagged"]]
            for row in flagged.itertuples():
                change = getattr(row, "safety_stock_change", float("nan"))
                notes.insert(
                    0,
                    f"lead time extended on lane {row.lane}: {row.base_mean_days:.1f} -> "
                    f"{row.recent_mean_days:.1f} days (Mann-Whitney p = {row.p_value:.2g}); "
                    f"planned with the recent lead times, safety stock "
                    f"{change:+,.0f} {data.units or 'units'}.",
                )

    warmup.reached("simulate")
    with progress.step(
        f"simulate the stock plan: {len(gsm_inst.demands):,} (item, stage, segment) rows, "
        f"{sim_periods} periods x {sim_replications} replications"
    ):
        sim = simulate_plan(
            gsm_inst,
            gsm,
            periods=sim_periods,
            replications=sim_replications,
            workers=params.threads,
        )
        tables["service_simulation"] = sim
        tables["service_by_segment"] = service_by_segment(sim, by_seg, unit_cost)
        tables["simulation_precision"] = simulation_precision(
            sim, sim_periods, sim_replications, tables["service_by_segment"]
        )

    if data.shipments is not None:  # feedback: achieved service against the targets
        from optim.planning.review import review

        rv = review(
            data.shipments,
            table,
            segment_of=seg.customers.set_index("customer")["segment"],
            class_of=seg.items.set_index("item")["abc"],
        )
        tables["review"], tables["review_trend"] = rv.table, rv.trend
        notes.extend(f"review: {n}" for n in rv.notes)

    kind = "MIP with setups" if data.lot_sizing else "LP"
    with progress.step(f"plan the peak: {data.plan_weeks} weeks, capacity per resource ({kind})"):
        cap = optim.solve(cap_inst, params)
        capacity_floors = cap.status != Status.INFEASIBLE
        if not capacity_floors:
            diagnosis = " ".join(cap.diagnosis)
            lexicographic = _derived(
                lambda: build_capacity(seg, forecast_, objective="lexicographic", **cap_kwargs),
                peak_demand,
            )
            cap = optim.solve(lexicographic, params)
            notes.append(_fallback_note(diagnosis, floors, cap))

    warmup.reached("rationing")
    with progress.step(f"ration this week's {len(data.orders):,} order lines"):
        if data.supply is not None:
            supply = data.supply.assign(planned=data.supply["quantity"])
            if data.supply_missing == "planned":
                planned = planned_supply(seg, gsm.tables["stages"], data.orders, data.disruption)
                have = pd.MultiIndex.from_frame(supply[["item", "location"]])
                extra = planned[
                    ~pd.MultiIndex.from_frame(planned[["item", "location"]]).isin(have)
                ]
                supply = pd.concat([supply, extra], ignore_index=True).sort_values(
                    ["item", "location"], ignore_index=True
                )
        else:
            supply = planned_supply(seg, gsm.tables["stages"], data.orders, data.disruption)
        tables["supply"] = supply
        rat_inst = _derived(
            lambda: build_rationing(
                seg,
                data.orders,
                week=data.orders["date"].min(),
                supply=supply[["item", "location", "quantity"]],
                lot_size=1.0,
                name="short week",
                unit=data.units or "units",
            ),
            "this week's orders.csv against "
            + (
                "the supply planned from history.csv's stock plan"
                if data.supply is None
                else "supply.csv and the supply planned where it is silent"
                if data.supply_missing == "planned"
                else "supply.csv"
            ),
        )
        rat = optim.solve(rat_inst, params)
        # the rationing model takes tiers 1..K: a policy's 1, 5, 3 became 1, 3, 2 in
        # rationing/segments.csv without a word (the order, and so the allocation, is kept)
        ranked = rat_inst.segments.set_index("name")["tier"]
        moved = [
            f"{name} {row.rationing_tier} -> {int(ranked[name])}"
            for name, row in table.segments.items()
            if name in ranked.index and row.rationing_tier != int(ranked[name])
        ]
        if moved:
            notes.append(
                "rationing: the policy's tiers are not 1..K, so they are ranked 1..K in "
                f"rationing/segments.csv, in the same order ({', '.join(moved)})."
            )
        merged = len(data.orders) - len(rat_inst.demand)
        if merged > 0:
            notes.append(
                f"rationing: the {len(data.orders):,} order lines of this week are "
                f"{len(rat_inst.demand):,} rationing lines — lines of the same customer, item "
                "and location are summed (returns netted, cells at or below zero dropped)."
            )

    with progress.step("summarise per segment"):
        tables["segment_summary"] = _segment_summary(seg, table, by_seg, cap, rat, sim)

    result = PlanningRun(
        data=data,
        segmentation=seg,
        policy=table,
        safety_stock=gsm,
        capacity=cap,
        rationing=rat,
        capacity_floors=capacity_floors,
        baseline=max_z,
        notes=tuple(notes),
        tables=tables,
        times=dict(progress.times),
    )
    return _with_comparison(result, last_run) if last_run is not None else result


def _with_comparison(run: PlanningRun, previous: Any) -> PlanningRun:
    """``run`` with the change tables against ``previous`` and alerts for its big moves."""
    import dataclasses

    from optim.planning import compare

    changed = compare.compare(run, previous)
    tables = {**run.tables, **{f"changed_{k}": v for k, v in changed.items()}}
    return dataclasses.replace(
        run,
        tables=tables,
        alerts=(*run.alerts, *compare.alerts(changed, run.unit, run.data.currency)),
        previous=previous,
    )


def _receipt_lead_times(
    inst: Any, receipts: pd.DataFrame, period_days: float
) -> tuple[Any, Any, dict[str, pd.DataFrame], dict[str, list[dict[str, float]]]]:
    """The GSM instance with lead times from receipts; the baseline before the drift when a
    lane drifted (else None); tables ``lead_time_lanes`` and ``lead_time_drift``; the
    distribution (periods) each lane is planned with.

    Flagged lanes take the recent window's distribution, the others the whole history
    (:mod:`optim.models.safety_stock.lead_time_data`). The baseline gives flagged lanes the
    distribution before the recent window: the difference is what the extension causes.
    """
    from optim.instances.safety_stock import SafetyStockInstance
    from optim.models.safety_stock.lead_time_data import (
        apply_lane_lead_times,
        lane_lead_times,
        lead_time_drift,
    )

    lanes = lane_lead_times(receipts, period_days)
    drift = lead_time_drift(receipts, period_days=period_days)
    longrun = dict(zip(lanes["lane"], lanes["distribution"], strict=True))
    current, before = dict(longrun), dict(longrun)
    for row in drift[drift["flagged"]].itertuples():
        current[row.lane] = row.recent_distribution
        before[row.lane] = row.base_distribution
    doc = inst.model_dump(mode="json", exclude_none=True)
    planned_doc, changed = apply_lane_lead_times(doc, current)
    planned = SafetyStockInstance.model_validate(planned_doc)
    baseline = None
    if bool(drift["flagged"].any()):
        baseline = SafetyStockInstance.model_validate(apply_lane_lead_times(doc, before)[0])
    used = {c.split("@", 1)[1] if "@" in c else c for c in changed} | set(changed)
    lanes = lanes.assign(
        used=lanes["lane"].isin(used),
        distribution=lanes["distribution"].map(
            lambda d: " ".join(f"{x['value']:.3g}:{x['probability']:.3g}" for x in d)
        ),
    )
    drift_table = drift.drop(columns=["recent_distribution", "base_distribution"])
    tables = {"lead_time_lanes": lanes, "lead_time_drift": drift_table}
    return planned, baseline, tables, current


def _drift_impact(
    drift: pd.DataFrame, plan: Result, base: Result, unit_cost: pd.Series
) -> pd.DataFrame:
    """What planning a drifted lane with its recent lead times changes, against its lead
    times before the recent window:
    ``safety_stock_change`` / ``safety_stock_value_change`` over the whole network (the
    optimiser may move stock away from the lane), ``lane_safety_stock_change`` at the lane's
    own stages. With several flagged lanes the network change is their joint effect."""
    a = plan.tables["stages"].set_index("stage")["safety_stock"]
    b = base.tables["stages"].set_index("stage")["safety_stock"].reindex(a.index)
    diff = (a - b).fillna(0.0)
    items = pd.Series([s.split("@", 1)[0] for s in diff.index], index=diff.index)
    stage = pd.Series([s.split("@", 1)[-1] for s in diff.index], index=diff.index)
    value = diff * items.map(unit_cost).fillna(0.0)
    units, money = [], []
    for lane in drift["lane"]:
        mask = (diff.index == lane) | (stage == lane)
        units.append(float(diff[mask].sum()))
        money.append(float(value[mask].sum()))
    flagged = drift["flagged"].to_numpy()
    return drift.assign(
        lane_safety_stock_change=units,
        lane_safety_stock_value_change=money,
        safety_stock_change=np.where(flagged, float(diff.sum()), 0.0),
        safety_stock_value_change=np.where(flagged, float(value.sum()), 0.0),
    )


def write(
    result: PlanningRun,
    out: str | Path,
    *,
    report: bool = True,
    atomic: bool = True,
) -> dict[str, Path]:
    """Write the run's tables (CSV), solver documents (JSON) and the HTML report into ``out``.

    Layout: ``segmentation/`` (items, customers, changes, policy, cell_policy, item_policy,
    make_to_order_paths),
    ``safety_stock/`` (stages, demands, stock_by_stage, stock_by_segment, stock_vs_max_z,
    max_z_stages, service_simulation, service_by_segment, simulation_precision),
    ``capacity/`` (every table of the capacity result), ``rationing/`` (every table of the
    rationing result + supply), ``forecast/`` (forecast.csv, accuracy.csv aggregates; with
    the statistical forecast, which also adds ``safety_stock/stock_moved_by_class.csv``),
    ``segment_summary.csv``, ``alerts.csv``, ``*_result.json``,
    ``report.html``, ``report.xlsx`` (:mod:`optim.workbook`) and ``manifest.json``; with a
    previous run, ``changes/`` (classes, stock, allocation: :mod:`optim.planning.compare`).
    ``atomic`` (default): the folder is written beside ``out`` and renamed onto it at the
    end (:mod:`optim.output`), so ``out`` is complete or untouched. Returns the main paths.
    """
    if not isinstance(result, PlanningRun):  # (None ended in AttributeError)
        raise TypeError(f"result must be a PlanningRun, not {type(result).__name__}")
    from optim.instances import gate

    gate.check_path(out, "out")
    out = Path(out)
    if atomic:
        from optim.output import atomic_folder

        with atomic_folder(
            out, command="optim.planning.write", inputs=result.data.manifest_input
        ) as tmp:
            paths = write(result, tmp, report=report, atomic=False)
        return {k: out / p.relative_to(tmp) for k, p in paths.items()}
    out.mkdir(parents=True, exist_ok=True)
    if not report:
        return _write_tables(result, out)
    from optim.planning.report import write_report
    from optim.workbook import start_workbook

    workbook = start_workbook(result, out / "report.xlsx")  # on another core meanwhile
    try:
        paths = _write_tables(result, out)
        paths["report"] = write_report(result, out / "report.html")
    except BaseException:
        with contextlib.suppress(Exception):
            workbook()  # the writer is done before the caller cleans up the folder
        raise
    paths["workbook"] = workbook()
    return paths


def _write_tables(result: PlanningRun, out: Path) -> dict[str, Path]:
    """:func:`write`'s CSV tables and result documents (all but the report and workbook)."""
    from optim.precision import write_csv

    seg = result.segmentation
    folder = out / "segmentation"
    folder.mkdir(exist_ok=True)
    for name, frame in seg.to_frames().items():
        if name in ("items", "customers", "changes", "policy"):
            write_csv(frame, folder / f"{name}.csv")
    write_csv(result.tables["cell_policy"], folder / "cell_policy.csv")
    from optim.planning.replenishment import item_policy_table

    write_csv(item_policy_table(seg, result.tables), folder / "item_policy.csv")
    if "make_to_order_paths" in result.tables:
        write_csv(result.tables["make_to_order_paths"], folder / "make_to_order_paths.csv")
    for kind, res in (
        ("safety_stock", result.safety_stock),
        ("capacity", result.capacity),
        ("rationing", result.rationing),
    ):
        res.to_json(out / f"{kind}_result.json")
        res.write_tables(out / kind)
    write_csv(result.tables["stock_by_stage"], out / "safety_stock" / "stock_by_stage.csv")
    write_csv(result.tables["stock_by_segment"], out / "safety_stock" / "stock_by_segment.csv")
    write_csv(result.tables["supply"], out / "rationing" / "supply.csv")
    for name in (
        "lead_time_lanes",
        "lead_time_drift",
        "stock_vs_max_z",
        "service_simulation",
        "service_by_segment",
        "simulation_precision",
    ):
        if name in result.tables:
            write_csv(result.tables[name], out / "safety_stock" / f"{name}.csv")
    if result.baseline is not None:
        write_csv(result.baseline.tables["stages"], out / "safety_stock" / "max_z_stages.csv")
    if result.previous is not None:  # changes since the previous run: changes/*.csv
        (out / "changes").mkdir(exist_ok=True)
        for name in ("classes", "stock", "allocation"):
            write_csv(result.tables[f"changed_{name}"], out / "changes" / f"{name}.csv")
    write_csv(result.tables["segment_summary"], out / "segment_summary.csv")
    if "forecast" in result.tables:
        (out / "forecast").mkdir(exist_ok=True)
        write_csv(result.tables["forecast"], out / "forecast" / "forecast.csv")
        write_csv(result.tables["forecast_accuracy"], out / "forecast" / "accuracy.csv")
    if "review" in result.tables:
        (out / "review").mkdir(exist_ok=True)
        write_csv(result.tables["review"], out / "review" / "review.csv")
        write_csv(result.tables["review_trend"], out / "review" / "review_trend.csv")
    if "stock_moved" in result.tables:
        write_csv(result.tables["stock_moved"], out / "safety_stock" / "stock_moved_by_class.csv")
    from optim.alerts import collect
    from optim.alerts import frame as alert_table

    write_csv(alert_table(collect(result)), out / "alerts.csv")
    return {"out": out, "summary": out / "segment_summary.csv"}
