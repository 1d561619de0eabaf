r"""Builders: order history + segmentation + policy → optimizer instances.

Three pure functions (no I/O, no solver calls) turn a :class:`~optim.segmentation.Segmentation`
(its order history, customer segments and policy table) into validated instances:

* :func:`build_safety_stock` → :class:`~optim.instances.safety_stock.SafetyStockInstance`;
* :func:`build_rationing` → :class:`~optim.instances.rationing.RationingInstance`;
* :func:`build_capacity` → :class:`~optim.instances.capacity.CapacityInstance`.

Policy targets come from the **customer-segment rows** of the run's policy table
(``seg.config.policy``, rows with ``dimension="customer"``), so the built instances carry
exactly the service levels, service times and rationing rules of the table.

Service times. The policy states ``max_service_time_days``; instances count whole periods
of length :math:`\Delta` days (the segmentation's ``period``: 7 for ``"W"``, 1 for ``"D"``,
the mean Gregorian length for calendar periods, e.g. 30.436875 for ``"M"``). A promise is
converted down, never up: :math:`S = \lfloor d / \Delta \rfloor` (1 day → 0 weeks, 7 days →
1 week), so the instance never promises a segment a longer wait than the policy allows.

Safety-stock demand (one aggregate SKU family per stage). Every history location is mapped
to the stage that serves it. For stage :math:`j` and customer segment :math:`s`, with
:math:`\mu_{ils}, \sigma_{ils}` the per-period mean and standard deviation of item
:math:`i` at location :math:`l` for segment :math:`s` (zero-filled, sample ``ddof``;
:meth:`Segmentation.demand_stats`),

.. math::

    \mu_{js} = \sum_{i,\,l \to j} \mu_{ils}, \qquad
    \sigma_{js} = \sqrt{\textstyle\sum_{i,\,l \to j} \sigma_{ils}^2}
    \quad (\text{aggregation} = \text{"independent"}),

i.e. units of all items add up to one family and the item-location series are treated as
independent. ``aggregation="pooled"`` instead takes :math:`\sigma_{js}` as the standard
deviation of the summed per-period series of the cell (correlations included); means are
the same in both modes.

Safety-stock σ from forecast error (``demand_std``). Both safety-stock builders take an
optional frame ``item, segment, location, std_dev``; where it gives a finite value it
replaces :math:`\sigma_{ils}` above. Pass the backtest's forecast-error standard deviation
per period (:meth:`optim.forecasting.ForecastResult.demand_std`): the stock then covers
what the forecast gets wrong, not the trend, season and promotions the forecast already
foresees, which the history's standard deviation counts as uncertainty. GSM covers a net
replenishment time of :math:`\tau` periods with :math:`z\,\sigma\sqrt{\tau}`, i.e. the
per-period forecast errors are taken as independent across periods; with autocorrelated
errors (a missed level shift) the :math:`\tau`-period error grows faster than
:math:`\sqrt{\tau}` and the stock is too low.

Make-to-order demand (:func:`make_to_order_items`). An item whose policy text
(``forecasting`` after the demand-pattern overrides, :meth:`Segmentation.item_policy`)
offers make-to-order and whose demand is lumpy (rare, large orders: stock would wait long
between them) is made to order: :func:`build_item_safety_stock` leaves its demand out of
the GSM instance when it is passed as ``make_to_order`` — no stock anywhere on its path —
and :func:`make_to_order_demands` gives its cells with the promise the network can keep
without stock, the replenishment time :math:`R_j = \max_{p \to j} R_p + L_j` (a root:
its external service time plus its lead time), in periods of the network template.

Capacity penalties (default rule, overridable per segment). With :math:`K` the largest
customer rationing tier and :math:`t_s` the tier of segment :math:`s`: ``priority`` =
:math:`t_s`; ``lost_sales_cost`` :math:`= 10 \cdot 2^{K - t_s}` (tier 1 of 3 → 40, tier 2 →
20, tier 3 → 10); ``backlog_cost`` = 10 % of it per period; ``max_backlog_periods`` =
the converted ``max_service_time_days`` (as above); no ``min_fill_rate``. Doubling the
penalty per tier makes earlier tiers preferred when units compete for the same hours; use
``objective="lexicographic"`` for strict priority.
"""

from __future__ import annotations

import functools
import math
import warnings
from collections.abc import Collection, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import pandas as pd

from optim.errors import InstanceError
from optim.instances.capacity import CapacityInstance, Product, Resource
from optim.instances.rationing import RationingInstance
from optim.instances.safety_stock import SafetyStockInstance
from optim.models.graph import topological_order
from optim.segmentation.history import History, prepare_history
from optim.segmentation.policy import PolicyRow
from optim.segmentation.result import Segmentation
from optim.segmentation.stats import period_stats

__all__ = [
    "BACKLOG_SHARE",
    "LOST_SALES_BASE",
    "build_capacity",
    "build_item_safety_stock",
    "build_rationing",
    "build_safety_stock",
    "days_per_period",
    "make_to_order_demands",
    "make_to_order_items",
    "offers_make_to_order",
    "periods_of_days",
    "replenishment_times",
]

LOST_SALES_BASE = 10.0
"""Lost-sales penalty per unit of the last rationing tier (see module docstring)."""
BACKLOG_SHARE = 0.1
"""Backlog penalty per unit and period as a share of the lost-sales penalty."""


# --- helpers ----------------------------------------------------------------------------------
@functools.lru_cache(maxsize=64)
def days_per_period(period: str) -> float:
    """Length of one period of the pandas alias ``period`` in days.

    Fixed-length aliases (``"D"``, ``"h"``, ``"W"``, …) are exact; calendar aliases
    (``"M"``, ``"Q"``, ``"Y"``) take the mean length over a 400-year Gregorian cycle.
    """
    try:
        with warnings.catch_warnings():
            # a period alias such as "M" is a deprecated offset alias ("ME") to pandas; it is
            # not a fixed length either way and is measured below as a period
            warnings.simplefilter("ignore", FutureWarning)
            offset = pd.tseries.frequencies.to_offset(period)
        return pd.Timedelta(offset) / pd.Timedelta(days=1)  # type: ignore[arg-type]  # Tick only
    except (ValueError, TypeError):
        pass
    try:
        rng = pd.period_range("1800-01-01", "2199-12-31", freq=period)
    except (ValueError, TypeError) as exc:
        raise InstanceError(
            f"period {period!r} is not a pandas period alias (e.g. 'W', 'D', 'M').",
            field="period",
        ) from exc
    span = (rng[-1] + 1).start_time.to_pydatetime() - rng[0].start_time.to_pydatetime()
    return span.total_seconds() / 86400.0 / len(rng)


def periods_of_days(days: float, period: str) -> int:
    r"""Whole periods a promise of ``days`` allows: :math:`\lfloor d / \Delta \rfloor`."""
    return math.floor(days / days_per_period(period) + 1e-9)


def _customer_rows(seg: Segmentation) -> dict[str, PolicyRow]:
    rows = {
        name: row
        for name, row in seg.config.policy.segments.items()
        if row.dimension == "customer"
    }
    used = sorted(set(seg.customers["segment"].astype(str)))
    missing = [s for s in used if s not in rows]
    if missing:
        raise InstanceError(
            f"customer segment(s) {missing} have no customer row in the policy table "
            f"(customer rows: {sorted(rows)}).",
            field="policy.segments",
        )
    return rows


def _segment_of(seg: Segmentation, customers: pd.Series) -> np.ndarray:
    table = seg.customers.set_index("customer")["segment"]
    out = table.reindex(customers.to_numpy()).to_numpy(dtype=object)
    bad = pd.isna(out)
    if bad.any():
        unknown = sorted(set(customers.to_numpy()[bad].tolist()))
        raise InstanceError(
            f"customer(s) {unknown[:5]} of the history are not in the segmentation "
            f"({len(unknown)} in all); segment the same history first.",
            field="customer",
        )
    return out


def _history(seg: Segmentation, history: pd.DataFrame | History | None) -> History:
    """The history as a :class:`History` bucketed like ``seg`` (``seg.history`` if None)."""
    if history is None:
        if seg.history is None:
            raise InstanceError(
                "the segmentation holds no history; pass the order lines as `history`.",
                field="history",
            )
        return seg.history
    if isinstance(history, History):
        return history
    cfg = seg.config
    return prepare_history(
        history, period=cfg.period, value_basis=cfg.value_basis, returns=cfg.returns
    )


def _period_start(value: Any, period: str) -> pd.Timestamp:
    try:
        return pd.Timestamp(value).to_period(period).start_time
    except (ValueError, TypeError) as exc:
        raise InstanceError(f"{value!r} is not a date.", field="period") from exc


# --- safety stock -----------------------------------------------------------------------------
def build_safety_stock(
    seg: Segmentation,
    network: Mapping[str, Any],
    *,
    period: str | None = None,
    aggregation: Literal["independent", "pooled"] = "independent",
    ddof: int = 1,
    demand_std: pd.DataFrame | None = None,
) -> SafetyStockInstance:
    """Build a GSM safety-stock instance: demand per (demand stage, customer segment).

    Parameters
    ----------
    seg
        Segmentation holding its history (:func:`optim.segmentation.segment`).
    network
        ``{"stages": [...], "arcs": [...], "demand_stage_of_location": {location: stage}}``
        and optionally ``"name"`` and ``"pooling"``; stages and arcs as in
        :class:`~optim.instances.safety_stock.SafetyStockInstance` (times in periods).
        Every location of the history must be mapped to a stage.
    period
        Period of the instance; must equal the segmentation's period (default: it).
    aggregation
        ``"independent"``: variances of item × location series add; ``"pooled"``: standard
        deviation of the summed series (see module docstring).
    ddof
        Delta degrees of freedom of the standard deviations (1: sample).
    demand_std
        Per-period σ per (item, segment, location) replacing the history's, e.g. the
        forecast error (module docstring); ``"independent"`` aggregation only.

    Returns
    -------
    SafetyStockInstance
        One demand per (stage, customer segment) with positive demand; ``service_level``
        is the segment's policy service level, ``max_service_time`` its
        ``max_service_time_days`` converted down to whole periods, ``service_measure`` the
        row's measure (given or by the policy's default rule) and ``tier`` its
        ``rationing_tier`` (the priority of its critical level at a shared stage).

    Raises
    ------
    InstanceError
        Missing network keys, an unmapped location, a period other than the
        segmentation's, or a segment without a policy row.
    """
    cfg_period = seg.config.period
    if period is not None and period != cfg_period:
        raise InstanceError(
            f"period {period!r} differs from the segmentation's period {cfg_period!r}; the "
            "demand statistics are per segmentation period (rerun segment() with it).",
            field="period",
        )
    allowed = {"stages", "arcs", "demand_stage_of_location", "name", "pooling"}
    unknown = sorted(set(network) - allowed)
    if unknown:
        raise InstanceError(
            f"network: unknown key(s) {unknown}; allowed: {sorted(allowed)}.", field="network"
        )
    stage_of = _stage_of(network)
    rows = _customer_rows(seg)

    if demand_std is not None and aggregation != "independent":
        raise InstanceError(
            "demand_std needs aggregation='independent' (per-cell σ are root-sum-squared).",
            field="demand_std",
        )
    if aggregation == "independent":
        stats = seg.demand_stats(("item", "segment", "location"), ddof=ddof)
        stats = _with_demand_std(stats, demand_std)
        _check_mapped(stats["location"], stage_of)
        stats = stats.assign(stage=stats["location"].map(stage_of), var=stats["std"] ** 2)
        cells = stats.groupby(["stage", "segment"], sort=True)[["mean", "var"]].sum()
        cells["std"] = np.sqrt(cells["var"])
    elif aggregation == "pooled":
        hist = _history(seg, None)
        demand = hist.demand
        _check_mapped(demand["location"], stage_of)
        frame = pd.DataFrame(
            {
                "stage": demand["location"].map(stage_of).to_numpy(),
                "segment": _segment_of(seg, demand["customer"]),
                "period": demand["period"].to_numpy(),
                "quantity": demand["quantity"].to_numpy(),
            }
        )
        cells = period_stats(frame, len(hist.periods), ["stage", "segment"], ddof=ddof)
        cells = cells.set_index(["stage", "segment"])
    else:
        raise InstanceError(
            f"aggregation {aggregation!r} is not allowed; use 'independent' or 'pooled'.",
            field="aggregation",
        )

    demands = []
    flat = cells.reset_index()[["stage", "segment", "mean", "std"]]
    for stage, segment, mean, std in flat.itertuples(index=False, name=None):
        pol = rows[str(segment)]
        demands.append(
            {
                "stage": stage,
                "segment": segment,
                "mean": float(mean),
                "std_dev": float(std),
                "service_level": pol.service_level,
                "max_service_time": periods_of_days(pol.max_service_time_days, cfg_period),
                "service_measure": pol.measure,
                "tier": pol.rationing_tier,
            }
        )
    doc: dict[str, Any] = {
        "stages": list(network["stages"]),
        "arcs": list(network.get("arcs", [])),
        "demands": demands,
    }
    for key in ("name", "pooling"):
        if key in network:
            doc[key] = network[key]
    return SafetyStockInstance.model_validate(doc)


def build_item_safety_stock(
    seg: Segmentation,
    network: Mapping[str, Any],
    unit_cost: Mapping[str, float] | pd.Series,
    *,
    ddof: int = 1,
    demand_std: pd.DataFrame | None = None,
    make_to_order: Collection[str] = (),
) -> SafetyStockInstance:
    r"""Build a GSM instance with one network per item (a forest): the planner's SKU view.

    Every item gets its own copy of the ``network`` template, stage ids
    ``"{item}@{stage}"``. The template's ``holding_cost`` is read as a holding *rate* per
    unit of value and period: item :math:`i` at stage :math:`j` costs
    :math:`h_j \cdot c_i` with :math:`c_i` the item's ``unit_cost``. Only the stages that
    supply (directly or indirectly) a stage where the item has demand are kept.

    Demands are per (item, stage, customer segment): :math:`\mu` summed and
    :math:`\sigma` root-sum-squared over the history locations mapped to the stage (each
    location series taken as independent, zeros counted). Service level and maximum service
    time are the policy table's combined targets of the item's ABC class and the customer
    segment (:meth:`~optim.segmentation.PolicyTable.combine_rows`, the item's demand
    pattern applied), the days converted down to whole periods; ``service_measure`` and
    ``tier`` (the customer's rationing tier: the priority of its critical level where
    segments share a stage's stock) come from the same cell.

    Parameters
    ----------
    seg
        Segmentation holding its history.
    network
        Template ``{"stages", "arcs", "demand_stage_of_location"}`` (+ ``"name"``,
        ``"pooling"``) as for :func:`build_safety_stock`.
    unit_cost
        Item → unit cost (value) > 0 for every item with demand.
    ddof
        Delta degrees of freedom of the standard deviations.
    demand_std
        Per-period σ per (item, segment, location) replacing the history's, e.g. the
        forecast error (see the module docstring for how it scales with τ).
    make_to_order
        Items made to order (:func:`make_to_order_items`): their demand is left out, so
        they get no stock (:func:`make_to_order_demands` gives their cells and promises).

    Raises
    ------
    InstanceError
        As :func:`build_safety_stock`, or an item with demand but no positive unit cost.
    """
    stage_of = _stage_of(network)
    stats = _item_stats(seg, stage_of, ddof, demand_std)
    stats = stats[~stats["item"].isin(set(make_to_order))]
    cost = pd.Series(unit_cost, dtype=float)
    items = sorted(stats["item"].astype(str).unique())
    bad = [i for i in items if not (cost.get(i, np.nan) > 0)]
    if bad:
        raise InstanceError(
            f"unit_cost is missing or not > 0 for item(s) {bad[:5]} ({len(bad)} in all); "
            "every item with demand needs a positive unit cost.",
            field="unit_cost",
        )
    cells = _item_cells(stats)
    template = [dict(s) for s in network["stages"]]
    arcs = [dict(a) for a in network.get("arcs", [])]
    parents: dict[str, list[str]] = {str(s["id"]): [] for s in template}
    for a in arcs:
        parents.setdefault(str(a["target"]), []).append(str(a["source"]))

    needed = {
        item: set().union(*(upstream_stages(parents, s) for s in group))
        for item, group in cells.groupby("item", sort=True)["stage"].unique().items()
    }
    period = seg.config.period
    stages, item_arcs = [], []
    for item in items:
        keep = needed[item]
        for s in template:
            if str(s["id"]) in keep:
                rate = float(s.get("holding_cost", 0.0))
                stages.append(
                    s | {"id": f"{item}@{s['id']}", "holding_cost": rate * float(cost[item])}
                )
        for a in arcs:
            if str(a["source"]) in keep and str(a["target"]) in keep:
                item_arcs.append(
                    a | {"source": f"{item}@{a['source']}", "target": f"{item}@{a['target']}"}
                )
    columns = ["item", "stage", "segment", "mean", "var", "service_level", "days", "measure",
               "tier"]  # fmt: skip
    demands = [
        {
            "stage": f"{item}@{stage}",
            "segment": segment,
            "mean": float(mean),
            "std_dev": math.sqrt(var),
            "service_level": float(level),
            "max_service_time": periods_of_days(float(days), period),
            "service_measure": str(measure),
            "tier": int(tier),
        }
        for item, stage, segment, mean, var, level, days, measure, tier in cells[
            columns
        ].itertuples(index=False, name=None)
    ]
    doc: dict[str, Any] = {"stages": stages, "arcs": item_arcs, "demands": demands}
    for key in ("name", "pooling"):
        if key in network:
            doc[key] = network[key]
    return SafetyStockInstance.model_validate(doc)


def _item_stats(
    seg: Segmentation, stage_of: Mapping[str, str], ddof: int, demand_std: pd.DataFrame | None
) -> pd.DataFrame:
    """Per (item, segment, location) with demand: the policy cell, ``mean`` and ``std``
    (``demand_std``'s where given) and the serving ``stage``."""
    stats = seg.demand_stats(("item", "segment", "location"), ddof=ddof)
    stats = _with_demand_std(stats[stats["total"] > 0], demand_std)
    _check_mapped(stats["location"], stage_of)
    return stats.assign(stage=stats["location"].map(stage_of), var=stats["std"] ** 2)


def _item_cells(stats: pd.DataFrame) -> pd.DataFrame:
    """One row per (item, stage, segment): μ summed, σ² summed over its locations."""
    return (
        stats.groupby(["item", "stage", "segment"], sort=True)
        .agg(
            mean=("mean", "sum"),
            var=("var", "sum"),
            service_level=("service_level", "first"),
            days=("max_service_time_days", "first"),
            measure=("service_measure", "first"),
            tier=("rationing_tier", "first"),
        )
        .reset_index()
    )


def upstream_stages(parents: Mapping[str, Sequence[str]], stage: str) -> set[str]:
    """``stage`` and every stage above it, given each stage's suppliers."""
    seen, todo = {stage}, [stage]
    while todo:
        for p in parents.get(todo.pop(), []):
            if p not in seen:
                seen.add(p)
                todo.append(p)
    return seen


def offers_make_to_order(text: str) -> bool:
    """Whether a policy text (``forecasting``) offers make-to-order."""
    low = text.lower()
    return "make-to-order" in low or "make to order" in low


def make_to_order_items(seg: Segmentation) -> list[str]:
    """Items made to order whatever the network (module docstring): lumpy demand and a
    policy text that offers make-to-order. Sorted."""
    pol = seg.item_policy()
    text = pol["forecasting"].fillna("").astype(str)
    mto = (pol["pattern"].astype(str) == "lumpy") & text.map(offers_make_to_order)
    return sorted(pol.loc[mto, "item"].astype(str))


def replenishment_times(network: Mapping[str, Any]) -> dict[str, float]:
    """Per template stage: the replenishment time without stock anywhere upstream,
    :math:`R_j = \\max_{p \\to j} R_p + L_j` (a root: external service time + lead time),
    in periods."""
    stages = [dict(s) for s in network["stages"]]
    index = {str(s["id"]): k for k, s in enumerate(stages)}
    arcs = [(index[str(a["source"])], index[str(a["target"])]) for a in network.get("arcs", [])]
    parents: list[list[int]] = [[] for _ in stages]
    for a, b in arcs:
        parents[b].append(a)
    times = [0.0] * len(stages)
    order = topological_order(len(stages), [a for a, _ in arcs], [b for _, b in arcs])
    for j in order.tolist():
        s = stages[j]
        upstream = (
            max(times[p] for p in parents[j])
            if parents[j]
            else float(s.get("external_service_time", 0) or 0)
        )
        times[j] = upstream + float(s.get("lead_time", 0) or 0)
    return {str(s["id"]): times[k] for k, s in enumerate(stages)}


def make_to_order_demands(
    seg: Segmentation,
    network: Mapping[str, Any],
    items: Collection[str],
    *,
    ddof: int = 1,
    demand_std: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """The demand cells of the made-to-order ``items``, as :func:`build_item_safety_stock`
    would have built them, with the promise the network keeps without stock.

    Returns
    -------
    DataFrame
        Columns ``item, stage, segment, mean, std_dev, service_level, max_service_time,
        replenishment_time`` (periods; :func:`replenishment_times`), one row per (item,
        demand stage, customer segment), sorted.
    """
    stage_of = _stage_of(network)
    columns = ["item", "stage", "segment", "mean", "std_dev", "service_level",
               "max_service_time", "replenishment_time"]  # fmt: skip
    stats = _item_stats(seg, stage_of, ddof, demand_std)
    stats = stats[stats["item"].isin(set(items))]
    if stats.empty:
        return pd.DataFrame(columns=columns)
    cells = _item_cells(stats)
    period = seg.config.period
    return cells.assign(
        std_dev=np.sqrt(cells["var"]),
        max_service_time=[periods_of_days(float(d), period) for d in cells["days"]],
        replenishment_time=cells["stage"].map(replenishment_times(network)),
    )[columns]


def _with_demand_std(stats: pd.DataFrame, demand_std: pd.DataFrame | None) -> pd.DataFrame:
    """``stats`` with ``std`` replaced by ``demand_std``'s finite ``std_dev`` per (item,
    segment, location) cell (see module docstring); other cells keep the history's."""
    if demand_std is None:
        return stats
    need = ["item", "segment", "location", "std_dev"]
    if not isinstance(demand_std, pd.DataFrame) or any(c not in demand_std for c in need):
        raise InstanceError(f"demand_std must be a DataFrame with columns {need}.", "demand_std")
    table = demand_std[need].astype({"item": str, "segment": str, "location": str})
    if table.duplicated(["item", "segment", "location"]).any():
        raise InstanceError(
            "demand_std has duplicate (item, segment, location) rows.", "demand_std"
        )
    value = pd.to_numeric(table["std_dev"], errors="coerce")
    if (value < 0).any():
        raise InstanceError("demand_std.std_dev must be >= 0.", field="demand_std.std_dev")
    keys = pd.MultiIndex.from_frame(stats[["item", "segment", "location"]].astype(str))
    given = pd.Series(value.to_numpy(), index=pd.MultiIndex.from_frame(table[need[:3]]))
    new = given.reindex(keys).to_numpy(dtype=float)
    return stats.assign(std=np.where(np.isfinite(new), new, stats["std"].to_numpy()))


def _stage_of(network: Mapping[str, Any]) -> dict[str, str]:
    """Check the network's required keys; return its location → stage map."""
    for key in ("stages", "demand_stage_of_location"):
        if key not in network:
            raise InstanceError(f"network lacks {key!r}.", field=f"network.{key}")
    return {str(k): str(v) for k, v in dict(network["demand_stage_of_location"]).items()}


def _check_mapped(locations: pd.Series, stage_of: Mapping[str, str]) -> None:
    unmapped = sorted(set(locations.astype(str)) - set(stage_of))
    if unmapped:
        raise InstanceError(
            f"network.demand_stage_of_location does not map location(s) {unmapped[:5]} "
            f"({len(unmapped)} in all); map every location of the history to a stage.",
            field="network.demand_stage_of_location",
        )


# --- rationing --------------------------------------------------------------------------------
def build_rationing(
    seg: Segmentation,
    history: pd.DataFrame | History | None = None,
    *,
    week: Any,
    supply: pd.DataFrame,
    lanes: pd.DataFrame | None = None,
    lot_size: float | None = None,
    name: str | None = None,
    unit: str = "units",
) -> RationingInstance:
    """Build a rationing instance from one period's orders.

    Parameters
    ----------
    seg
        Segmentation (customer segments and policy table).
    history
        Order lines (DataFrame as for :func:`~optim.segmentation.prepare_history`) or a
        :class:`History`; default ``seg.history``. Bucketed with the segmentation's
        period and returns rule.
    week
        Any date inside the period to ration (with ``period="W"``: the week).
    supply
        ``item, location, quantity`` stock table. Demanded (item, location) pairs missing
        from it are added with quantity 0 (no stock there).
    lanes
        Optional ``location, customer, cost`` table, passed through.
    lot_size
        Lot size of every line (``1``: whole units; exact, by the rationing MIP stage);
        None: continuous quantities.
    name
        Optional instance name.
    unit
        What the quantities count (``plan.yaml``'s ``units``), named by the explanations.

    Returns
    -------
    RationingInstance
        One demand line per (customer, item, location) of the period, quantity = the
        period's demand after the returns rule (lines of the same cell summed), id
        ``"customer|item|location"``, segment = the customer's segment and
        ``locations=[location]`` when the history has locations. ``segments`` lists every
        customer row of the policy with its ``rationing_tier`` (renumbered 1..K keeping the
        order if the table's tiers have gaps) and ``fair_share``.

    Raises
    ------
    InstanceError
        No demand in the period, a customer not in the segmentation, a segment without a
        policy row, or an invalid instance.
    """
    hist = _history(seg, history)
    start = _period_start(week, seg.config.period)
    cells = hist.demand[hist.demand["period"] == start]
    if cells.empty:
        raise InstanceError(
            f"the history has no demand in the period starting {start.date()} "
            f"(periods {hist.periods[0].date()}..{hist.periods[-1].date()}).",
            field="week",
        )
    rows = _customer_rows(seg)
    has_locations = not (cells["location"] == "all").all()
    customer = cells["customer"].astype(str)
    item = cells["item"].astype(str)
    location = cells["location"].astype(str)
    demand = pd.DataFrame(
        {
            "id": (customer + "|" + item + "|" + location).to_numpy(),
            "customer": customer.to_numpy(),
            "item": item.to_numpy(),
            "quantity": cells["quantity"].to_numpy(dtype=float),
            "segment": _segment_of(seg, cells["customer"]),
        }
    )
    if lot_size is not None:
        demand["lot_size"] = float(lot_size)
    supply = _supply_frame(supply)
    if has_locations:
        demand["locations"] = [[loc] for loc in location.tolist()]
        need = pd.DataFrame({"item": item.to_numpy(), "location": location.to_numpy()})
        need = need.drop_duplicates()
        have = pd.MultiIndex.from_frame(supply[["item", "location"]])
        missing = need[~pd.MultiIndex.from_frame(need).isin(have)]
        if len(missing):
            supply = pd.concat([supply, missing.assign(quantity=0.0)], ignore_index=True)
    tiers = pd.Series({n: r.rationing_tier for n, r in rows.items()})
    dense = tiers.rank(method="dense").astype(np.int64)
    segments = pd.DataFrame(
        {
            "name": list(rows),
            "tier": dense.reindex(list(rows)).to_numpy(),
            "fair_share": [r.fair_share for r in rows.values()],
        }
    )
    return RationingInstance.from_frames(supply, demand, segments, lanes, name=name, unit=unit)


def _supply_frame(supply: pd.DataFrame) -> pd.DataFrame:
    if not isinstance(supply, pd.DataFrame):
        raise InstanceError("supply must be a DataFrame (item, location, quantity).", "supply")
    missing = [c for c in ("item", "location", "quantity") if c not in supply.columns]
    if missing:
        raise InstanceError(f"supply lacks column(s) {missing}.", field="supply")
    out = supply[["item", "location", "quantity"]].copy()
    out["item"] = out["item"].astype(str)
    out["location"] = out["location"].astype(str)
    return out.reset_index(drop=True)


# --- capacity ---------------------------------------------------------------------------------
def build_capacity(
    seg: Segmentation,
    history: pd.DataFrame | History | None = None,
    *,
    periods: Sequence[Any],
    resources: Sequence[Resource | Mapping[str, Any]],
    products: Sequence[Product | Mapping[str, Any]],
    product_of_item: Mapping[str, str] | None = None,
    segments: Mapping[str, Mapping[str, Any]] | None = None,
    objective: Literal["cost", "lexicographic"] = "cost",
    lot_sizing: bool = False,
    unit: str = "units",
) -> CapacityInstance:
    """Build a capacity instance: demand per (product, customer segment, period).

    Parameters
    ----------
    seg
        Segmentation (customer segments and policy table).
    history
        Order lines or a :class:`History` (default ``seg.history``), bucketed with the
        segmentation's period and returns rule.
    periods
        Dates inside the periods to plan, in time order; each becomes the label
        ``"YYYY-MM-DD"`` of its period start (use these labels in per-period capacities).
    resources, products
        As in :class:`~optim.instances.capacity.CapacityInstance`.
    product_of_item
        Item → product (e.g. an item family). Default: items whose id is a product id.
        Items mapped to no product are left out (the selection).
    segments
        Per-segment overrides of the default penalties (keys of
        :class:`~optim.instances.capacity.Segment`), e.g.
        ``{"strategic": {"min_fill_rate": 0.95}}``.
    objective, lot_sizing, unit
        Passed to the instance (``unit``: what the quantities count, ``plan.yaml``'s
        ``units``, named by the messages).

    Returns
    -------
    CapacityInstance
        Segments are every customer row of the policy with the penalties of the module
        docstring's rule (overridden by ``segments``); demand is the history's demand
        (after the returns rule) of the selected items and periods, summed over customers
        of a segment, locations and items of a product; zero cells are omitted.

    Raises
    ------
    InstanceError
        Unknown segment in ``segments``, a product of ``product_of_item`` not among
        ``products``, a customer not in the segmentation, or an invalid instance.
    """
    hist = _history(seg, history)
    period = seg.config.period
    starts = [_period_start(p, period) for p in periods]
    labels = [s.strftime("%Y-%m-%d") for s in starts]
    prods = [p if isinstance(p, Product) else Product.model_validate(dict(p)) for p in products]
    ids = [p.id for p in prods]
    if product_of_item is None:
        mapping = {i: i for i in ids}
    else:
        mapping = {str(k): str(v) for k, v in product_of_item.items()}
        unknown = sorted(set(mapping.values()) - set(ids))
        if unknown:
            raise InstanceError(
                f"product_of_item maps to product(s) {unknown[:5]} not among products.",
                field="product_of_item",
            )

    rows = _customer_rows(seg)
    k = max(r.rationing_tier for r in rows.values())
    seg_docs: dict[str, dict[str, Any]] = {}
    for name, r in rows.items():
        lost = LOST_SALES_BASE * 2.0 ** (k - r.rationing_tier)
        seg_docs[name] = {
            "name": name,
            "priority": r.rationing_tier,
            "backlog_cost": BACKLOG_SHARE * lost,
            "lost_sales_cost": lost,
            "max_backlog_periods": periods_of_days(r.max_service_time_days, period),
        }
    for name, over in (segments or {}).items():
        if name not in seg_docs:
            raise InstanceError(
                f"segments override names unknown segment {name!r} (known: {sorted(seg_docs)}).",
                field="segments",
            )
        seg_docs[name] |= dict(over)

    d = hist.demand
    product = d["item"].astype(str).map(mapping)
    keep = product.notna().to_numpy() & d["period"].isin(starts).to_numpy()
    d = d[keep]
    label_of = dict(zip(starts, labels, strict=True))
    frame = pd.DataFrame(
        {
            "product": product[keep].to_numpy(),
            "segment": _segment_of(seg, d["customer"]),
            "period": d["period"].map(label_of).to_numpy(),
            "quantity": d["quantity"].to_numpy(dtype=float),
        }
    )
    cells = frame.groupby(["product", "segment", "period"], sort=True)["quantity"].sum()
    cells = cells[cells > 0]
    demand = [
        {"product": p, "segment": s, "period": t, "quantity": float(q)}
        for p, s, t, q in cells.reset_index().itertuples(index=False, name=None)
    ]
    return CapacityInstance.model_validate(
        {
            "periods": labels,
            "resources": [r if isinstance(r, Resource) else dict(r) for r in resources],
            "products": prods,
            "segments": list(seg_docs.values()),
            "demand": demand,
            "objective": objective,
            "lot_sizing": lot_sizing,
            "unit": unit,
        }
    )
