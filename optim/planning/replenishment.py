r"""Replenishment parameters per item × stocking location, computed and simulated.

The policy table's ``forecasting`` / ``review_frequency`` labels become numbers
(:func:`replenishment_parameters`, the planning run's ``segmentation/item_policy.csv``).
Every item × demand stage of the safety-stock plan gets, with the demand GSM planned it
for (:math:`\mu` summed, :math:`\sigma` root-sum-squared over the stage's segments — the
forecast-error σ when the run forecasts) and the strictest target of its segments:

* **policy type** (rule, in this order): *make-to-order* when the item's policy text
  (``forecasting`` after the demand-pattern overrides) offers make-to-order and either the
  item is lumpy (rare, large orders: stock would wait long between them; decided before
  GSM, :func:`optim.planning.builders.make_to_order_items`: its demand is left out of the
  GSM instance, so no stage holds stock for it, and the rows come from ``make_to_order``)
  or its segments' promise covers the stage's make-to-order promise (below: GSM's upstream
  guaranteed service time + the quantile of the stage's own lead time); *min/max* — ``(s, S)`` when
  reviewed every period, ``(R, s, S)`` otherwise — when the text names min/max; otherwise
  *base stock* ``(R, S)``.
* **review period** :math:`R` from ``review_frequency`` (:func:`review_periods`: daily 1
  day, weekly 7, biweekly / fortnightly 14, monthly 28, quarterly 91, or "every N days /
  weeks / months"), in whole periods (at least 1).
* **lead time** :math:`L` = the stage's net replenishment time :math:`\tau` in the GSM
  solution (its upstream's guaranteed service time plus its own lead time minus its promise
  to customers), rounded up to whole periods.
* **base stock**: GSM's base-stock level :math:`\mu\tau + SS_\tau`; with :math:`R > 1` the
  same model over :math:`T = \tau + R - 1` periods (an order waits up to :math:`R - 1`
  periods for its review): :math:`\mu T + SS_\tau\sqrt{T/\tau}` (or
  :math:`\mu T + z_\alpha\sigma\sqrt{T}` when :math:`\tau = 0`), in whole units, raised to
  the min/max reorder point below (the exact gamma quantile of the risk window) where
  GSM's normal model is short under skewed demand (``why`` says so). Reorder point =
  order-up-to level.
* **min/max**: :math:`s` = the smallest whole unit with :math:`P(D(L + R - 1) \le s) \ge
  \alpha` under the gamma forecast-error model
  (:func:`optim.models.replenishment.reorder_point`: exact, every review cycle then ends
  its risk window without a backorder with probability ≥ α); :math:`S = s + Q` with
  :math:`Q` the EOQ :math:`\sqrt{2K\mu/h}` when an ordering cost :math:`K` is given
  (``plan.yaml`` ``ordering_cost``, currency per order; :math:`h` = the stage's holding
  cost per unit and period, i.e. the network template's holding rate × the item's unit
  cost), else :math:`Q = \mu R` (one review period's demand).
* **make-to-order**: no stock (reorder point and order-up-to 0) and a promise, in days.
  *At a stage of a stocked item* (in the GSM instance): the stage's upstream guarantees its
  outbound service time :math:`S` (GSM's inbound service time :math:`SI` of the stage, the
  bound GSM plans with; the root's external service time), so an order waits at most
  :math:`S` for supply and then the stage's own lead time :math:`L`, random — its lane's
  receipts as GSM planned them, else the template's time. **Rule:** the promise is the
  smallest whole day :math:`d` with :math:`P(S + L \le d) \ge \alpha` (:math:`S` + the
  :math:`\alpha` quantile of :math:`L`, rounded up; :math:`\alpha` the strictest target of
  the stage's segments) — the row is made to order only when the segments' promise covers
  this :math:`d`, else it holds stock (a lane's long tail then makes a stocked row, sized
  for the drawn lead times below). It is simulated like the lumpy rows below, drawing
  :math:`L` from the lane with the upstream delay at its bound :math:`S` (not simulated:
  GSM guarantees it; an upstream stage that misses its own target delays these orders
  too). Without receipts :math:`L` is the template's (fixed: the promise is
  :math:`\lceil S + L \rceil`, every simulated order on time) and a note says so.
  *For lumpy made-to-order items* the replenishment time without stock anywhere on the path
  (:mod:`optim.models.replenishment.make_to_order`: the recursion
  :math:`R_j = \max_{p \to j} R_p + L_j` over the network template, every stage's lead
  time :math:`L_j` drawn from its lane's receipts — lane ``item@stage``, else ``stage``;
  a drifted lane's recent window, as GSM plans it — or, without a lane, the template's
  lead time; the root's external service time first). **Rule:** the promise is the
  smallest whole day :math:`d` with :math:`P(R_j \le d) \ge \alpha`, :math:`\alpha`
  the strictest target of the item × location's segments (so every segment's target is
  covered); exact on the template's tree, never shorter where paths re-converge. Without
  receipts the path's lead times are the template's (fixed: the promise is the
  template's replenishment time) and a note says so. Each promise is then simulated
  (:func:`~optim.models.replenishment.make_to_order.simulate_times`,
  :data:`MTO_ORDERS` orders drawing every stage's lead time, seeded; one simulation per
  distinct path, shared by the items whose paths use the same lanes): ``cycle_service``
  of a make-to-order row is the share of its orders delivered within the promise (its
  binomial standard error in ``cycle_service_se``), judged against the target like the
  stocked rows. The path's stages, lanes and lead-time figures are
  :func:`make_to_order_paths` (``segmentation/make_to_order_paths.csv``).

* **random lead times** (a stage whose lane's lead time was learned from receipts,
  :mod:`optim.models.safety_stock.lead_time_data`, in the GSM instance as its
  ``lead_time_distribution``): the replenishment time of an order is
  :math:`\lceil SI - S + v\rceil` whole periods for a lead time :math:`v` drawn from the
  distribution (``lead_time_distribution`` column); the reorder point is the smallest
  :math:`s` with :math:`\sum_v p_v P(D(W_v) \le s) \ge \alpha` over the risk windows
  :math:`W_v` (min/max: this :math:`s`; base stock: raised to it), raised further where a
  sizing simulation that draws every order's lead time (seed + 1) still falls short; the
  evaluation below draws the lead times too. ``lead_time`` stays GSM's mean :math:`\tau`.

Every stocked row is then simulated (:func:`optim.models.replenishment.simulate_periodic`,
seeded): the achieved cycle service (and fill rate) is written beside its target; so is
every make-to-order row's on-time share (above); ``meets_target`` is False where it
falls short by more than the simultaneous 95 % (Bonferroni over the simulated rows) margin
of the simulation's standard error.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import norm

from optim.instances.safety_stock import SafetyStockInstance
from optim.models.replenishment import eoq, reorder_point, simulate_periodic
from optim.models.replenishment.make_to_order import (
    Law,
    law,
    normal_days,
    on_time_share,
    path_time_laws,
    promise_days,
    simulate_times,
)
from optim.models.replenishment.policy import random_lead_reorder_point
from optim.models.replenishment.simulate import raise_to_target
from optim.planning.builders import offers_make_to_order, upstream_stages
from optim.result import Result
from optim.segmentation import Segmentation

__all__ = [
    "REPLENISHMENT_COLUMNS",
    "item_policy_table",
    "item_policy_with_parameters",
    "make_to_order_paths",
    "replenishment_parameters",
    "review_periods",
]

REPLENISHMENT_COLUMNS = [
    "item",
    "location",
    "abc",
    "pattern",
    "policy",
    "review_period",
    "lead_time",
    "mean",
    "std_dev",
    "target",
    "reorder_point",
    "order_up_to",
    "order_quantity",
    "eoq",
    "gsm_base_stock",
    "promise_days",
    "lead_time_distribution",
    "cycle_service",
    "cycle_service_se",
    "fill_rate",
    "meets_target",
    "why",
]
_DAYS = {
    "daily": 1.0,
    "weekly": 7.0,
    "biweekly": 14.0,
    "bi-weekly": 14.0,
    "fortnightly": 14.0,
    "semimonthly": 14.0,
    "monthly": 28.0,
    "quarterly": 91.0,
}
_EVERY = re.compile(r"every\s+(\d+(?:\.\d+)?)\s*(day|week|month)s?")
_UNIT_DAYS = {"day": 1.0, "week": 7.0, "month": 28.0}
SIM_PERIODS = 1000
"""Measured periods per replication of the evaluation (seed 0)."""
REPLICATIONS = 4
MTO_ORDERS = 20_000
"""Simulated orders per made-to-order item (binomial standard error at most 0.0036)."""
Lanes = Mapping[str, Sequence[Mapping[str, float]]]
"""Lane key (``item@stage`` or ``stage``) -> lead-time distribution in periods, as
:func:`optim.models.safety_stock.lead_time_data.lane_lead_times` gives it."""


def review_periods(text: str, days_per_period: float) -> tuple[int, str]:
    """Whole periods between reviews for a ``review_frequency`` text (module docstring),
    at least 1, and a note when the text is not understood (then 1 period)."""
    low = text.strip().lower()
    match = _EVERY.search(low)
    hits = [k for k in _DAYS if k in low]
    if match:
        days = float(match.group(1)) * _UNIT_DAYS[match.group(2)]
    elif hits:
        days = _DAYS[max(hits, key=len)]  # "biweekly" before "weekly"
    else:
        days = float("nan")
    if math.isnan(days):
        return 1, (
            f"review_frequency {text!r} is not understood (daily, weekly, biweekly, monthly, "
            "quarterly or 'every N days/weeks/months'); reviewed every period"
        )
    return max(1, math.floor(days / days_per_period + 1e-9)), ""


MTO_WHY = (
    "lumpy demand and the policy offers make-to-order: no stock on its path, the promise "
    "is the replenishment time without stock"
)


def _review_of(text: Any, days_per_period: float, unknown: dict[str, str]) -> int:
    """:func:`review_periods` of a policy's ``review_frequency`` (weekly when missing); a
    text not understood is noted in ``unknown``."""
    freq = "weekly" if pd.isna(text) else str(text)
    review, note = review_periods(freq, days_per_period)
    if note:
        unknown[freq] = note
    return review


def _policy_kind(text: str, promise: float, replenish: float) -> tuple[str, str]:
    low = text.lower()
    if offers_make_to_order(text) and promise >= replenish:
        return "make-to-order", (
            f"the segments' promise ({promise:g} d) covers the replenishment time "
            f"({replenish:g} d)"
        )
    if "min/max" in low or "min-max" in low or "(s, s)" in low or "(s,s)" in low:
        return "min/max", "the policy names min/max"
    return "base stock", "the policy plans by forecast (GSM base stock)"


def replenishment_parameters(
    seg: Segmentation,
    instance: SafetyStockInstance,
    gsm: Result,
    *,
    days_per_period: float,
    ordering_cost: float | None = None,
    periods: int = SIM_PERIODS,
    seed: int = 0,
    make_to_order: pd.DataFrame | None = None,
    network: Mapping[str, Any] | None = None,
    lanes: Lanes | None = None,
    mto_orders: int = MTO_ORDERS,
) -> tuple[pd.DataFrame, list[str]]:
    """Replenishment parameters per item × demand stage (module docstring) and notes.

    Parameters
    ----------
    seg
        The run's segmentation (item classes, patterns, policy table).
    instance, gsm
        The item-level GSM instance (stage ids ``"{item}@{stage}"``, demands per segment)
        and its solution (``stages`` table).
    days_per_period
        Length of a planning period in days.
    ordering_cost
        Cost per order for the EOQ (None: no EOQ, :math:`Q = \\mu R`).
    periods, seed
        Simulation length per replication and seed.
    make_to_order
        The cells of the items made to order, left out of ``instance``
        (:func:`optim.planning.builders.make_to_order_demands`): one make-to-order row per
        item × demand stage, no stock, promise from the path (module docstring).
    network
        The network template (stages, arcs); needed with ``make_to_order``.
    lanes
        The lead-time distributions learned from receipts per lane (periods; the ones GSM
        planned with), or None (no receipts: the template's lead times, with a note).
    mto_orders
        Simulated orders per made-to-order item.

    Returns
    -------
    (DataFrame, list[str])
        Columns :data:`REPLENISHMENT_COLUMNS` and notes for the planner.
    """
    notes: list[str] = []
    demands = pd.DataFrame(
        [
            {
                "stage": d.stage,
                "mean": d.mean,
                "var": d.std_dev**2,
                "target": d.service_level,
                "promise": d.max_service_time,
            }
            for d in instance.demands
        ]
    )
    mto = make_to_order if make_to_order is not None else pd.DataFrame()
    if demands.empty and mto.empty:
        return pd.DataFrame(columns=REPLENISHMENT_COLUMNS), notes
    if demands.empty:
        demands = pd.DataFrame(columns=["stage", "mean", "var", "target", "promise"])
    cells = (
        demands.groupby("stage", sort=True)
        .agg(
            mean=("mean", "sum"),
            var=("var", "sum"),
            target=("target", "max"),
            promise=("promise", "min"),
        )
        .reset_index()
    )
    parts = cells["stage"].str.rsplit("@", n=1, expand=True)
    cells = cells.assign(item=parts[0], location=parts[1], std_dev=np.sqrt(cells["var"]))
    stages = gsm.tables["stages"].set_index("stage")
    lead = {s.id: float(s.lead_time) for s in instance.stages}
    holding = {s.id: float(s.holding_cost) for s in instance.stages}
    random_stages = {
        s.id: [(p.value, p.probability) for p in s.lead_time_distribution]
        for s in instance.stages
        if s.lead_time_distribution is not None and len(s.lead_time_distribution) > 1
    }
    cells = cells.assign(
        outbound=stages["outbound_service_time"].reindex(cells["stage"]).to_numpy(dtype=float),
        tau=stages["net_replenishment_time"].reindex(cells["stage"]).to_numpy(dtype=float),
        inbound=stages["inbound_service_time"].reindex(cells["stage"]).to_numpy(dtype=float),
        gsm_base=stages["base_stock_level"].reindex(cells["stage"]).to_numpy(dtype=float),
        gsm_ss=stages["safety_stock"].reindex(cells["stage"]).to_numpy(dtype=float),
        stage_lead=cells["stage"].map(lead).to_numpy(dtype=float),
        holding=cells["stage"].map(holding).to_numpy(dtype=float),
    )
    policy = seg.item_policy()[["item", "abc", "pattern", "forecasting", "review_frequency"]]
    cells = cells.merge(policy, on="item", how="left")
    unknown: dict[str, str] = {}
    rows: list[dict[str, Any]] = []
    at_stage = _StagePromises(instance, lanes, days_per_period, mto_orders, seed)
    records: list[dict[str, Any]] = cells.to_dict("records")  # type: ignore[assignment]
    for c in records:
        text = "" if pd.isna(c["forecasting"]) else str(c["forecasting"])
        pattern = "none" if pd.isna(c["pattern"]) else str(c["pattern"])
        review = _review_of(c["review_frequency"], days_per_period, unknown)
        offer = None
        if offers_make_to_order(text):  # promise: upstream's S + the lead time's quantile
            offer = at_stage.promise(str(c["item"]), str(c["location"]), c["inbound"], c["target"])
        replenish = float("nan") if offer is None else float(offer["promise_days"])
        kind, why = _policy_kind(text, c["promise"] * days_per_period, replenish)
        if kind == "make-to-order" and offer is not None:
            covers = c["promise"] * days_per_period
            why = f"the segments' promise ({covers:g} d) covers {offer['why']}"
        dist = None
        if kind != "make-to-order" and c["stage"] in random_stages:
            dist = _whole_lead_times(random_stages[c["stage"]], c["inbound"] - c["outbound"])
        rows.append(
            {
                "item": c["item"],
                "location": c["location"],
                "abc": c["abc"],
                "pattern": pattern,
                "policy": kind,
                "lead_dist": dist,
                "review_period": review,
                "lead_time": math.ceil(c["tau"] - 1e-9) if kind != "make-to-order" else 0,
                "mean": c["mean"],
                "std_dev": c["std_dev"],
                "target": c["target"],
                "gsm_base_stock": c["gsm_base"],
                "gsm_ss": c["gsm_ss"],
                "tau": c["tau"],
                "holding": c["holding"],
                "promise_days": c["promise"] * days_per_period,
                "why": why,
            }
            | (at_stage.simulate(offer) if kind == "make-to-order" and offer else {})
        )
    notes.extend(at_stage.notes())
    if len(mto):
        if network is None:
            raise ValueError("replenishment_parameters: make_to_order needs the network")
        made, more = _make_to_order_rows(
            mto, policy, days_per_period, unknown, network, lanes, mto_orders, seed
        )
        rows.extend(made)
        notes.extend(more)
    notes.extend(unknown.values())
    out = pd.DataFrame(rows)  # in stage-id order, the made-to-order rows among them
    out = out.iloc[np.argsort((out["item"] + "@" + out["location"]).to_numpy(), kind="stable")]
    out = out.reset_index(drop=True)
    mu, sd = out["mean"].to_numpy(float), out["std_dev"].to_numpy(float)
    r, L = out["review_period"].to_numpy(np.int64), out["lead_time"].to_numpy(np.int64)
    alpha = out["target"].to_numpy(float)
    kinds = out["policy"].to_numpy()
    q_eoq = eoq(mu, np.nan if ordering_cost is None else ordering_cost, out["holding"])
    q = np.where(np.isfinite(q_eoq), q_eoq, mu * r)
    # min/max: exact reorder point over the risk window, S = s + Q
    s_minmax = reorder_point(mu, sd, L + r - 1, alpha)
    # base stock: GSM's level, extended over the review period by GSM's square-root model
    tau, ss = out["tau"].to_numpy(float), out["gsm_ss"].to_numpy(float)
    T = tau + r - 1
    with np.errstate(invalid="ignore", divide="ignore"):
        extended = np.where(
            tau > 0,
            mu * T + ss * np.sqrt(T / np.where(tau > 0, tau, 1.0)),
            mu * T + np.maximum(norm.ppf(alpha), 0.0) * sd * np.sqrt(T),
        )
    gsm_level = np.where(r == 1, out["gsm_base_stock"].to_numpy(float), extended)
    base = np.maximum(np.ceil(gsm_level - 1e-9), s_minmax)  # raised where GSM's normal is short
    raised = (kinds == "base stock") & (base > np.ceil(gsm_level - 1e-9))
    out.loc[raised, "why"] = [
        f"GSM base stock {g:,.1f} raised to {b:,.0f}, the gamma quantile of its risk window: "
        f"GSM's normal model is short under this skew (σ/μ {cv:.2f})"
        for g, b, cv in zip(
            gsm_level[raised], base[raised], (sd / np.maximum(mu, 1e-12))[raised], strict=True
        )
    ]
    is_mm, is_base = kinds == "min/max", kinds == "base stock"
    out["reorder_point"] = np.where(is_mm, s_minmax, np.where(is_base, base, 0.0))
    out["order_up_to"] = np.where(is_mm, s_minmax + q, np.where(is_base, base, 0.0))
    dists: list[dict[int, float] | None] = list(out["lead_dist"])
    random = np.array([d is not None for d in dists]) & (kinds != "make-to-order") & (mu > 0)
    out["lead_time_distribution"] = [
        " ".join(f"{k}:{p:.3g}" for k, p in d.items()) if d else "" for d in dists
    ]
    if random.any():  # lead times drawn from the lane's receipts: size for them
        _size_for_random_lead_times(out, random, q, is_mm, periods, seed)
    out["order_quantity"] = np.where(is_mm, q, np.where(is_base, mu * r, 0.0))
    out["eoq"] = q_eoq
    stocked = (kinds != "make-to-order") & (mu > 0)
    sim_cols = ("cycle_service", "cycle_service_se", "fill_rate")
    for col in sim_cols:
        out[col] = np.nan
    if stocked.any():
        sim = simulate_periodic(
            mu[stocked],
            sd[stocked],
            L[stocked],
            r[stocked],
            out["reorder_point"].to_numpy(float)[stocked],
            out["order_up_to"].to_numpy(float)[stocked],
            periods=periods,
            replications=REPLICATIONS,
            seed=seed,
            lead_distribution=[d for d, k in zip(dists, stocked, strict=True) if k],
        )
        # standard error: across replications, at least the binomial one of all cycles
        p = sim.cycle_service
        binomial = np.sqrt(p * (1 - p) / np.maximum(sim.cycles * REPLICATIONS, 1))
        out.loc[stocked, "cycle_service"] = p
        out.loc[stocked, "cycle_service_se"] = np.maximum(sim.cycle_service_se, binomial)
        out.loc[stocked, "fill_rate"] = sim.fill_rate
    # a miss: below the target by more than the simultaneous (Bonferroni, 95 %) margin
    promised = out["on_time"].notna().to_numpy() if "on_time" in out else np.zeros(len(out), bool)
    if promised.any():  # made to order: the simulated share of orders within the promise
        out.loc[promised, "cycle_service"] = out.loc[promised, "on_time"]
        out.loc[promised, "cycle_service_se"] = out.loc[promised, "on_time_se"]
    judged = stocked | promised
    z = norm.ppf(1 - 0.05 / max(1, int(judged.sum())))
    se = out["cycle_service_se"].fillna(0.0)
    out["meets_target"] = np.where(
        judged, out["cycle_service"] >= out["target"] - z * se, True
    ).astype(bool)
    if raised.any():
        notes.append(
            f"replenishment: {int(raised.sum())} base-stock levels raised above GSM's (normal "
            "model) to the gamma quantile of their risk window, so they meet their target "
            "under the skewed forecast error."
        )
    missed = out[~out["meets_target"]]
    if len(missed):
        worst = missed.assign(gap=missed["target"] - missed["cycle_service"]).nlargest(1, "gap")
        w = worst.iloc[0]
        notes.append(
            f"replenishment: {len(missed)} of {int(judged.sum())} simulated item × location rows "
            f"miss their target in simulation (worst {w['item']}@{w['location']}, "
            f"{w['policy']}: cycle service {w['cycle_service']:.1%} against "
            f"{w['target']:.1%})."
        )
    return out[REPLENISHMENT_COLUMNS].reset_index(drop=True), notes


def _whole_lead_times(lane: list[tuple[float, float]], shift: float) -> dict[int, float] | None:
    """The stage's lead-time distribution (periods) as whole-period replenishment times
    :math:`\\lceil SI - S + v \\rceil \\ge 0` with their probabilities; None when one value."""
    out: dict[int, float] = {}
    for value, prob in lane:
        k = max(0, math.ceil(shift + value - 1e-9))
        out[k] = out.get(k, 0.0) + prob
    return dict(sorted(out.items())) if len(out) > 1 else None


def _size_for_random_lead_times(
    out: pd.DataFrame,
    random: np.ndarray,
    q: np.ndarray,
    is_mm: np.ndarray,
    periods: int,
    seed: int,
) -> None:
    """Rows whose lane's lead time is random (receipts): the reorder point over the mixture
    of risk windows (:func:`~optim.models.replenishment.policy.random_lead_reorder_point`;
    base stock: raised to it), then raised further where a sizing simulation with drawn lead
    times (seed + 1, not the evaluation's) still falls short. In place."""
    idx = np.flatnonzero(random)
    s_old = out["reorder_point"].to_numpy(float)
    mu, sd = out["mean"].to_numpy(float), out["std_dev"].to_numpy(float)
    review, target = out["review_period"].to_numpy(np.int64), out["target"].to_numpy(float)
    dists = list(out["lead_dist"])
    mix = np.array(
        [random_lead_reorder_point(mu[i], sd[i], int(review[i]), dists[i], target[i]) for i in idx]
    )
    s_new = np.where(is_mm[idx], mix, np.maximum(s_old[idx], mix))
    up_new = np.where(is_mm[idx], mix + q[idx], s_new)
    s_fit, up_fit, added = raise_to_target(
        out["mean"].to_numpy(float)[idx],
        out["std_dev"].to_numpy(float)[idx],
        out["lead_time"].to_numpy(np.int64)[idx],
        out["review_period"].to_numpy(np.int64)[idx],
        s_new,
        up_new,
        out["target"].to_numpy(float)[idx],
        lead_distribution=list(out["lead_dist"].iloc[idx]),
        periods=periods,
        replications=REPLICATIONS,
        seed=seed + 1,
    )
    out.loc[idx, "reorder_point"] = s_fit
    out.loc[idx, "order_up_to"] = up_fit
    out.loc[idx, "why"] = [
        f"{w}; lead time drawn from the lane's receipts ({d}): reorder point {a:,.0f} over "
        f"the mixture of risk windows (fixed lead time {lt}: {b:,.0f})"
        + (f", +{x:,.0f} where the sizing simulation fell short" if x > 0 else "")
        for w, d, a, lt, b, x in zip(
            out["why"].iloc[idx],
            out["lead_time_distribution"].iloc[idx],
            s_fit,
            out["lead_time"].iloc[idx],
            s_old[idx],
            added,
            strict=True,
        )
    ]


def _make_to_order_rows(
    mto: pd.DataFrame,
    policy: pd.DataFrame,
    days_per_period: float,
    unknown: dict[str, str],
    network: Mapping[str, Any],
    lanes: Lanes | None,
    orders: int,
    seed: int,
) -> tuple[list[dict[str, Any]], list[str]]:
    """Rows of the items made to order (:func:`replenishment_parameters`): per item × stage
    μ summed and σ root-sum-squared over its segments, the strictest target, no stock, the
    promise from the path's lead times and its simulated on-time share; and notes."""
    cells = (
        mto.assign(var=mto["std_dev"].astype(float) ** 2)
        .groupby(["item", "stage"], sort=True)
        .agg(mean=("mean", "sum"), var=("var", "sum"), target=("service_level", "max"))
        .reset_index()
        .merge(policy, on="item", how="left")
    )
    rows: list[dict[str, Any]] = []
    template_only = 0
    # items whose paths use the same lanes share the laws and one simulation of the orders
    shared: dict[tuple[str, ...], tuple[_Path, dict[str, Law], dict[str, np.ndarray]]] = {}
    ids = [str(s["id"]) for s in network["stages"]]
    records: list[dict[str, Any]] = cells.to_dict("records")  # type: ignore[assignment]
    for item, grouped in itertools.groupby(records, key=lambda c: str(c["item"])):
        group = list(grouped)
        key = _lane_keys(item, ids, lanes)
        if key not in shared:
            path = _Path(item, network, lanes, days_per_period)
            shared[key] = (
                path,
                path_time_laws(path.ids, path.arcs, path.laws, path.external),
                simulate_times(
                    path.ids,
                    path.arcs,
                    path.laws,
                    external=path.external,
                    orders=orders,
                    seed=seed + 7919 * (len(shared) + 1),
                ),
            )
        path, times, drawn = shared[key]
        promise = {
            str(c["stage"]): promise_days(times[str(c["stage"])], float(c["target"]))
            for c in group
        }
        sim = {stage: on_time_share(drawn[stage], days) for stage, days in promise.items()}
        for c in group:
            stage = str(c["stage"])
            above = path.upstream(stage)
            measured = [s for s in above if path.lane[s]]
            template_only += not measured
            review = _review_of(c["review_frequency"], days_per_period, unknown)
            rows.append(
                {
                    "item": str(item),
                    "location": stage,
                    "abc": c["abc"],
                    "pattern": "none" if pd.isna(c["pattern"]) else str(c["pattern"]),
                    "policy": "make-to-order",
                    "lead_dist": None,
                    "review_period": review,
                    "lead_time": 0,
                    "mean": c["mean"],
                    "std_dev": math.sqrt(c["var"]),
                    "target": c["target"],
                    "gsm_base_stock": 0.0,
                    "gsm_ss": 0.0,
                    "tau": 0.0,
                    "holding": np.nan,
                    "promise_days": float(promise[stage]),
                    "on_time": sim[stage][0],
                    "on_time_se": sim[stage][1],
                    "why": (
                        f"{MTO_WHY}: promise {promise[stage]} d, the {float(c['target']):.1%} "
                        f"quantile of the path's replenishment time ({path.describe(above)}); "
                        "cycle service = simulated share of orders within the promise"
                    ),
                }
            )
    notes = []
    if template_only:
        notes.append(
            f"make-to-order: {template_only} promise(s) use the network template's lead times "
            + (
                "(no receipts.csv); give receipts to promise from the lanes' measured lead times."
                if lanes is None
                else "on their whole path (no receipts lane for any of its stages)."
            )
        )
    return rows, notes


def _lead_law(
    points: Sequence[tuple[float, float]] | None, mean: float, std: float, days: float
) -> Law:
    """A stage's lead-time law in days: its discrete distribution (``(value, probability)``
    in periods: a lane's receipts or the template's) or its normal template time
    (:func:`~optim.models.replenishment.make_to_order.normal_days`; fixed when ``std`` is 0)."""
    if points:
        return law([v * days for v, _ in points], [q for _, q in points])
    return normal_days(mean * days, std * days)


class _StagePromises:
    r"""Make-to-order at a stage of a stocked item (module docstring): GSM's upstream stage
    guarantees its outbound service time :math:`S`, so an order at the stage waits at most
    :math:`S` for its inbound supply and then the stage's own (random) lead time :math:`L`.
    Promise: the smallest whole day :math:`d` with :math:`P(S + L \le d) \ge \alpha`
    (:func:`path_time_laws` of the stage alone with :math:`S` as its external service time,
    :func:`promise_days`); simulated with :func:`simulate_times` (the upstream delay at its
    bound :math:`S`; one simulation per distinct law and :math:`S`)."""

    def __init__(
        self,
        instance: SafetyStockInstance,
        lanes: Lanes | None,
        days: float,
        orders: int,
        seed: int,
    ) -> None:
        self.stages = {s.id: s for s in instance.stages}
        self.lanes, self.days, self.orders, self.seed = lanes, days, orders, seed
        self.times: dict[tuple[Any, ...], Law] = {}
        self.leads: dict[tuple[Any, ...], Law] = {}
        self.drawn: dict[tuple[Any, ...], np.ndarray] = {}
        self.template = 0

    def promise(self, item: str, location: str, inbound: float, target: float) -> dict[str, Any]:
        """The promise (whole days) of ``item`` at ``location`` given GSM's inbound service
        time (periods), with its key for :meth:`simulate` and the explanation."""
        sid = f"{item}@{location}"
        st = self.stages[sid]
        points = st.lead_time_distribution
        lead = _lead_law(
            [(p.value, p.probability) for p in points] if points else None,
            float(st.lead_time),
            float(st.lead_time_std_dev or 0.0),
            self.days,
        )
        upstream = float(inbound) * self.days
        key = (upstream, lead[0].tobytes(), lead[1].tobytes())  # rows alike share
        if key not in self.times:
            self.times[key] = path_time_laws([sid], [], {sid: lead}, {sid: upstream})[sid]
            self.leads[key] = lead
        days = promise_days(self.times[key], float(target))
        lane = _lane_keys(item, [location], self.lanes)[0]
        mean = float(lead[0] @ lead[1])
        std = math.sqrt(max(0.0, float((lead[0] - mean) ** 2 @ lead[1])))
        source = f"lane {lane}" if lane else "template"
        return {
            "key": key,
            "promise_days": days,
            "lane": lane,
            "why": (
                f"GSM's upstream guaranteed service time {upstream:g} d + the "
                f"{float(target):.1%} quantile of the stage's lead time ({mean:.3g} ± "
                f"{std:.2g} d, {source}): promise {days} d; cycle service = simulated share of "
                "orders within it (upstream delay at GSM's bound)"
            ),
        }

    def simulate(self, offer: Mapping[str, Any]) -> dict[str, Any]:
        """The row's promise and its simulated on-time share (columns ``on_time``,
        ``on_time_se``)."""
        key = offer["key"]
        if key not in self.drawn:
            self.drawn[key] = simulate_times(
                ["stage"],
                [],
                {"stage": self.leads[key]},
                external={"stage": key[0]},
                orders=self.orders,
                seed=self.seed + 104_729 * (len(self.drawn) + 1),
            )["stage"]
        self.template += not offer["lane"]
        share, se = on_time_share(self.drawn[key], offer["promise_days"])
        return {"promise_days": float(offer["promise_days"]), "on_time": share, "on_time_se": se}

    def notes(self) -> list[str]:
        if not self.template:
            return []
        return [
            f"make-to-order: {self.template} promise(s) at a stocked item's stage (upstream "
            "service time + own lead time) use the stage's template lead time "
            + (
                "(no receipts.csv); give receipts to promise from the lane's measured lead times."
                if self.lanes is None
                else "(no receipts lane for the stage)."
            )
        ]


def _lane_keys(item: str, ids: Sequence[str], lanes: Lanes | None) -> tuple[str, ...]:
    """Per stage the lane whose receipts give its lead time: ``item@stage``, else
    ``stage``, else "" (the template's)."""
    if not lanes:
        return ("",) * len(ids)
    return tuple(next((k for k in (f"{item}@{s}", s) if lanes.get(k)), "") for s in ids)


class _Path:
    """The network template seen by one made-to-order item: stage ids, arcs, each stage's
    lead-time law (days), its lane key ("" for the template's time) and external service
    times (days)."""

    def __init__(
        self, item: str, network: Mapping[str, Any], lanes: Lanes | None, days: float
    ) -> None:
        stages = [dict(s) for s in network["stages"]]
        self.ids = [str(s["id"]) for s in stages]
        self.arcs = [(str(a["source"]), str(a["target"])) for a in network.get("arcs") or []]
        self.laws: dict[str, Law] = {}
        self.lane: dict[str, str] = {}
        self.parents: dict[str, list[str]] = {}
        for a, b in self.arcs:
            self.parents.setdefault(b, []).append(a)
        supplied = set(self.parents)
        self.external = {  # a stage with suppliers waits for them instead
            str(s["id"]): 0.0
            if str(s["id"]) in supplied
            else float(s.get("external_service_time") or 0) * days
            for s in stages
        }
        for s, key in zip(stages, _lane_keys(item, self.ids, lanes), strict=True):
            sid = str(s["id"])
            self.lane[sid] = key
            dist = lanes[key] if key and lanes is not None else s.get("lead_time_distribution")
            self.laws[sid] = _lead_law(
                [(float(p["value"]), float(p["probability"])) for p in dist] if dist else None,
                float(s.get("lead_time") or 0),
                float(s.get("lead_time_std_dev") or 0),
                days,
            )

    def upstream(self, stage: str) -> list[str]:
        """``stage`` and every stage above it, in the template's order."""
        seen = upstream_stages(self.parents, stage)
        return [s for s in self.ids if s in seen]

    def figures(self, stage: str) -> dict[str, float]:
        """Mean, standard deviation (of the law used), min and max of a stage's lead time."""
        values, probs = self.laws[stage]
        mean = float(values @ probs)
        return {
            "mean_days": mean,
            "std_days": math.sqrt(max(0.0, float((values - mean) ** 2 @ probs))),
            "min_days": float(values[0]),
            "max_days": float(values[-1]),
        }

    def describe(self, stages: Sequence[str]) -> str:
        parts = []
        for s in stages:
            f = self.figures(s)
            where = f"lane {self.lane[s]}" if self.lane[s] else "template"
            ext = self.external[s]
            parts.append(
                f"{s} {f['mean_days']:.3g} ± {f['std_days']:.2g} d ({where})"
                + (f" after {ext:g} d external" if ext else "")
            )
        return "; ".join(parts)


MTO_PATH_COLUMNS = ["item", "location", "stage", "lane", "source", "external_days",
                    "mean_days", "std_days", "min_days", "max_days"]  # fmt: skip


def make_to_order_paths(
    rows: pd.DataFrame,
    network: Mapping[str, Any],
    lanes: Lanes | None,
    days_per_period: float,
) -> pd.DataFrame:
    """Per made-to-order ``item, location`` row: every stage of its supply path (the
    location and the stages above it, in the template's order), the lane whose receipts
    give its lead time (``source`` receipts) or none (``source`` template), and the
    lead-time figures of the law the promise used (days; the standard deviation of the
    law, i.e. of the receipts with weight 1/n each)."""
    out = []
    paths: dict[str, _Path] = {}
    for item, location in zip(rows["item"].astype(str), rows["location"].astype(str), strict=True):
        if item not in paths:
            paths[item] = _Path(item, network, lanes, days_per_period)
        path = paths[item]
        for stage in path.upstream(location):
            out.append(
                {
                    "item": item,
                    "location": location,
                    "stage": stage,
                    "lane": path.lane[stage],
                    "source": "receipts" if path.lane[stage] else "template",
                    "external_days": path.external[stage],
                    **path.figures(stage),
                }
            )
    return pd.DataFrame(out, columns=MTO_PATH_COLUMNS)


def item_policy_table(seg: Segmentation, tables: Mapping[str, pd.DataFrame]) -> pd.DataFrame:
    """``segmentation/item_policy.csv`` and the workbook's "item policy" sheet: the policy
    labels per item with the replenishment numbers per item × location when the run has
    them (:func:`item_policy_with_parameters`)."""
    if "replenishment" not in tables:
        return seg.item_policy()
    return item_policy_with_parameters(seg.item_policy(), tables["replenishment"])


def item_policy_with_parameters(item_policy: pd.DataFrame, params: pd.DataFrame) -> pd.DataFrame:
    """The per-item policy labels (:meth:`Segmentation.item_policy`) joined to the per item ×
    location numbers; items without a stocking location keep one row without numbers."""
    labels = item_policy.drop(columns=["abc", "pattern"])
    out = params.merge(labels, on="item", how="outer", sort=False)
    missing = out["policy"].isna()
    if missing.any():
        pol = item_policy.set_index("item")
        out.loc[missing, "abc"] = pol["abc"].reindex(out.loc[missing, "item"]).to_numpy()
        out.loc[missing, "pattern"] = pol["pattern"].reindex(out.loc[missing, "item"]).to_numpy()
    return out
