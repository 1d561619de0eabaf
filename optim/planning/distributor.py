r"""The seeded distributor example the main job runs on.

:func:`distributor_example` generates :class:`~optim.planning.folder.PlanningData` (order
history, this week's open orders, the network template, item master data, the plant's
resources and product families, the peak planning window) from a seed, so the example is
not committed as large files:

* **History**: :func:`~optim.instances.generators.history.generate_history` for
  ``weeks + 1`` weeks from Monday 2023-07-03, with a common Q4 peak (ISO weeks 40–52,
  uplift ``peak_uplift``); the last week is held out as this week's open ``orders``.
* **Network** (template per item, times in weeks, holding cost as a rate per unit of value
  and week, 25 % a year): ``Plant`` (lead time 2, raw material promised in 1) →
  ``DC-North``, ``DC-South`` (transit 1) → regional sites ``R-01``–``R-03`` from DC-North,
  ``R-04``–``R-06`` from DC-South (transit 1). Key accounts are served from the DCs, other
  customers from their regional site. Holding rates grow downstream (value added by
  transport): 1.0, 1.1 and 1.2 × 0.25 / 52. Pooling ``critical_level``: a stage's stock is
  shared by the segments it serves, with one base stock and a critical level per segment
  (:mod:`optim.models.safety_stock.critical`), so each segment gets its own service level;
  the planning run also solves ``max_z`` like for like (cover the strictest with critical
  levels 0 on the same demand laws) on the same instance to state the saving.
* **Families**: items are grouped into ``n_families`` product families by a seeded draw;
  each family's hours per unit on the plant's ``Assembly`` line ~ U(0.02, 0.08) and on
  ``Packing`` ~ U(0.01, 0.03); holding cost 0.25 / 52 × the family's demand-weighted unit
  cost.
* **Capacity**: regular hours per week = ``capacity_factor`` × the mean weekly load of the
  history's last 52 weeks (demand × hours per unit), so the Q4 peak (load ≈ 1 +
  ``peak_uplift`` times the base) exceeds it; overtime up to 10 % more at 60 per hour.
* **Planning window**: the 26 weeks after this week (Q3 to build ahead, Q4 peak).
* **Short supply**: ``disruption_share`` of the items (drawn by value, so A items are hit)
  arrive at ``disruption_level`` of their planned stock this week; the run derives
  planned stock from the safety-stock plan.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from optim.instances.generators.history import DCS, REGIONS, generate_history
from optim.planning.folder import PlanningData, items_without_history, without_history_note

__all__ = ["PlanningData", "distributor_example", "distributor_network"]

HOLDING_RATE = 0.25 / 52
"""Holding cost per unit of value and week (25 % a year)."""
ORDERING_COST = 25.0
"""Cost per replenishment order of the example (plan.yaml ``ordering_cost``): the EOQ of
its min/max items."""
CURRENCY, UNITS = "EUR", "pcs"
"""What the example's money and quantities are counted in (plan.yaml ``currency``,
``units``), so its report and workbook label them."""


def distributor_network() -> dict[str, Any]:
    """The network template: plant → two DCs → six regional sites (module docstring)."""
    stages = [
        {"id": "Plant", "lead_time": 2, "holding_cost": HOLDING_RATE, "external_service_time": 1}
    ]
    stages += [{"id": dc, "lead_time": 1, "holding_cost": 1.1 * HOLDING_RATE} for dc in DCS]
    stages += [{"id": r, "lead_time": 1, "holding_cost": 1.2 * HOLDING_RATE} for r in REGIONS]
    half = len(REGIONS) // 2
    arcs = [{"source": "Plant", "target": dc} for dc in DCS]
    arcs += [{"source": DCS[0], "target": r} for r in REGIONS[:half]]
    arcs += [{"source": DCS[1], "target": r} for r in REGIONS[half:]]
    return {
        "name": "distributor",
        # stock at a stage is shared by its segments: one base stock, a critical level per
        # segment, every segment at its own target (max_z is the run's comparison point)
        "pooling": "critical_level",
        "stages": stages,
        "arcs": arcs,
        "demand_stage_of_location": {loc: loc for loc in (*DCS, *REGIONS)},
    }


def distributor_example(
    seed: int = 2026,
    *,
    n_items: int = 500,
    n_customers: int = 200,
    weeks: int = 104,
    n_families: int = 24,
    peak_uplift: float = 0.6,
    capacity_factor: float = 1.0,
    disruption_share: float = 0.1,
    disruption_level: float = 0.45,
) -> PlanningData:
    """Generate the seeded distributor example (see module docstring).

    Parameters
    ----------
    seed
        Seed of every random draw; same arguments → identical data.
    n_items, n_customers, weeks
        Size of the history (weeks of history; one more week is generated as the orders).
    n_families
        Number of product families (capacity products).
    peak_uplift
        Q4 demand uplift common to all items.
    capacity_factor
        Regular capacity as a multiple of the mean weekly load of the last 52 weeks.
    disruption_share, disruption_level
        Share of items short this week and the share of their planned stock that arrives.
    """
    if weeks < 53:
        raise ValueError("weeks must be >= 53 (the capacity forecast repeats last year)")
    lines = generate_history(
        seed,
        n_items=n_items,
        n_customers=n_customers,
        weeks=weeks + 1,
        start="2023-07-03",
        peak_weeks=(40, 52),
        peak_uplift=peak_uplift,
    )
    first = lines["date"].min() - pd.Timedelta(days=lines["date"].min().weekday())
    this_week = first + pd.Timedelta(weeks=weeks)
    is_order = lines["date"] >= this_week
    history = lines[~is_order].reset_index(drop=True)
    orders = lines[is_order].reset_index(drop=True)

    rng = np.random.default_rng([seed, 1])
    item_ids = np.array([f"SKU-{i:05d}" for i in range(n_items)], dtype=object)
    cost = lines.groupby("item")["unit_cost"].first().reindex(item_ids)
    # items that never sold keep a cost so that the master data are complete
    cost = cost.fillna(float(np.nanmedian(cost.to_numpy()))) if cost.notna().any() else cost
    fam_ids = np.array([f"FAM-{f + 1:02d}" for f in range(n_families)], dtype=object)
    family = fam_ids[rng.integers(0, n_families, n_items)]
    items = pd.DataFrame({"item": item_ids, "family": family, "unit_cost": cost.to_numpy()})

    assembly = np.round(rng.uniform(0.02, 0.08, n_families), 4)
    packing = np.round(rng.uniform(0.01, 0.03, n_families), 4)
    last_year = history[history["date"] >= this_week - pd.Timedelta(weeks=52)]
    fam_of = dict(zip(items["item"], items["family"], strict=True))
    units = last_year.assign(family=last_year["item"].map(fam_of))
    units = units.assign(value=units["quantity"] * units["unit_cost"])
    per_fam = units.groupby("family")[["quantity", "value"]].sum().reindex(fam_ids, fill_value=0)
    fam_cost = np.where(
        per_fam["quantity"] > 0,
        per_fam["value"] / per_fam["quantity"].where(per_fam["quantity"] > 0, 1),
        float(items["unit_cost"].mean()),
    )
    weekly_units = per_fam["quantity"].to_numpy(float) / 52.0
    families = [
        {
            "id": str(f),
            "holding_cost": round(float(HOLDING_RATE * fam_cost[k]), 6),
            "usage": {"Assembly": float(assembly[k]), "Packing": float(packing[k])},
        }
        for k, f in enumerate(fam_ids)
    ]
    resources = []
    for rid, hours in (("Assembly", assembly), ("Packing", packing)):
        load = float(weekly_units @ hours)
        regular = round(capacity_factor * load, 1)
        resources.append(
            {
                "id": rid,
                "capacity": regular,
                "overtime_capacity": round(0.1 * regular, 1),
                "overtime_cost": 60.0,
            }
        )

    value = lines.assign(v=lines["quantity"] * lines["unit_price"]).groupby("item")["v"].sum()
    value = value.reindex(item_ids, fill_value=0.0).clip(lower=0.0)
    n_hit = round(disruption_share * n_items)
    disruption: dict[str, float] = {}
    if n_hit and value.sum() > 0:
        weights = (value / value.sum()).to_numpy()
        n_hit = min(n_hit, int((weights > 0).sum()))
        hit = rng.choice(item_ids, size=n_hit, replace=False, p=weights)
        disruption = {str(i): disruption_level for i in sorted(hit)}
    # the rule a planning folder applies by default (items_without_history: report), stated
    # in the run's notes as `optim plan` states it, so `optim demo` says why fewer items plan
    without = items_without_history(items, history)
    return PlanningData(
        name=f"distributor (seed {seed}, {n_items} items, {n_customers} customers)",
        notes=(without_history_note(without, len(items)),) if without else (),
        history=history,
        orders=orders,
        network=distributor_network(),
        items=items,
        families=families,
        resources=resources,
        plan_start=this_week + pd.Timedelta(weeks=1),
        plan_weeks=26,
        disruption=disruption,
        ordering_cost=ORDERING_COST,
        currency=CURRENCY,
        units=UNITS,
    )
