"""Seeded generator of capacity instances with a demand peak.

Demand follows a smooth season with one peak (``peak_start``..``peak_end`` share of the
horizon at ``peak_factor`` times the base level) and lognormal noise. Each product uses
1–3 resources (its first one always); resource capacity is set so that the base demand
loads every resource to ``base_load`` of its regular hours, so the peak exceeds capacity
when ``peak_factor * base_load > 1 + overtime_share``.
"""

from __future__ import annotations

import numpy as np

from optim.instances.capacity import CapacityInstance

KB = True

__all__ = ["generate"]


def generate(
    *,
    n_periods: int = 12,
    n_products: int = 5,
    n_resources: int = 2,
    n_segments: int = 3,
    seed: int = 0,
    peak_factor: float = 1.6,
    peak_start: float = 0.6,
    peak_end: float = 0.8,
    base_load: float = 0.8,
    overtime_share: float = 0.1,
    demand_density: float = 1.0,
    fill_floors: bool = False,
    routings: bool = False,
    objective: str = "cost",
    lot_sizing: bool = False,
    n_families: int | None = None,
) -> CapacityInstance:
    """A random capacity instance.

    Parameters
    ----------
    n_periods, n_products, n_resources, n_segments
        Sizes (segments get priorities 1..n_segments).
    seed
        Random seed; the same arguments give the same instance.
    peak_factor, peak_start, peak_end
        Demand multiplier during the peak and its position as shares of the horizon.
    base_load
        Regular-hours load of every resource at base demand.
    overtime_share
        Overtime hours as a share of regular hours.
    demand_density
        Probability that a (product, segment, period) has a demand row.
    fill_floors
        Give the top-priority segment a ``min_fill_rate`` of 0.5 (always reachable here).
    routings
        Give every other product a second routing on another resource (``unit_cost`` > 0).
    objective, lot_sizing
        Passed to the instance.
    n_families
        ``None``: each product draws its resources from all of them (one coupled block).
        An integer: resources are split into that many plants and every product is made
        within its own plant (independent blocks, as with product families on lines).
    """
    rng = np.random.default_rng(seed)
    nt, np_, nr, ns = n_periods, n_products, n_resources, n_segments
    periods = [f"W{t + 1:02d}" for t in range(nt)]
    res_ids = [f"R{r + 1:03d}" for r in range(nr)]
    prod_ids = [f"P{p + 1:05d}" for p in range(np_)]
    seg_names = [f"S{s + 1}" for s in range(ns)]

    # demand: base level per (product, segment), season with a peak
    base = rng.lognormal(mean=2.0, sigma=0.6, size=(np_, ns)) * (0.5 + rng.random(ns))
    season = np.ones(nt)
    lo, hi = int(peak_start * nt), max(int(peak_end * nt), int(peak_start * nt) + 1)
    season[lo:hi] = peak_factor
    noise = rng.lognormal(mean=0.0, sigma=0.2, size=(np_, ns, nt))
    qty = np.round(base[:, :, None] * season[None, None, :] * noise, 1)
    present = rng.random((np_, ns, nt)) < demand_density
    pp, ss, tt = np.nonzero(present)

    # usage: first resource always, up to two more with probability 1/2 each
    hours = rng.uniform(0.05, 0.5, size=(np_, 3))
    if n_families is None:
        extra = rng.integers(0, nr, size=(np_, 3))
    else:
        nf = max(1, min(n_families, nr))
        plant = rng.integers(0, nf, size=np_)
        lo_r = (plant * nr) // nf
        hi_r = ((plant + 1) * nr) // nf
        extra = lo_r[:, None] + (rng.random((np_, 3)) * (hi_r - lo_r)[:, None]).astype(np.int64)
    use_mask = np.ones((np_, 3), dtype=bool)
    use_mask[:, 1:] = rng.random((np_, 2)) < 0.5
    usage: list[dict[str, float]] = []
    load = np.zeros(nr)
    base_p = base.sum(axis=1)
    for p in range(np_):
        u: dict[str, float] = {}
        for k in range(3):
            if use_mask[p, k] and res_ids[extra[p, k]] not in u:
                u[res_ids[extra[p, k]]] = round(float(hours[p, k]), 3)
                load[extra[p, k]] += u[res_ids[extra[p, k]]] * base_p[p]
        usage.append(u)
    cap = np.round(np.maximum(load / base_load, 1.0), 1)
    resources = [
        {
            "id": res_ids[r],
            "capacity": float(cap[r]),
            "overtime_capacity": float(np.round(overtime_share * cap[r], 1)),
            "overtime_cost": float(np.round(rng.uniform(20, 60), 2)),
        }
        for r in range(nr)
    ]
    holding = np.round(rng.uniform(0.05, 0.5, size=np_), 3)
    init = np.round(base_p * rng.uniform(0.0, 1.0, size=np_), 1)
    products = []
    for p in range(np_):
        rec: dict = {
            "id": prod_ids[p],
            "holding_cost": float(holding[p]),
            "initial_inventory": float(init[p]),
        }
        if lot_sizing:
            rec["setup_cost"] = float(np.round(rng.uniform(5, 50), 1))
            rec["min_lot_size"] = float(np.round(base_p[p] * 0.5, 1))
        if routings and p % 2 == 1:
            alt = res_ids[extra[p, 1] if extra[p, 1] != extra[p, 0] else (extra[p, 0] + 1) % nr]
            rec["routings"] = [
                {"id": "main", "usage": usage[p]},
                {
                    "id": "alt",
                    "usage": {alt: round(float(hours[p, 0]) * 1.5, 3)},
                    "unit_cost": float(np.round(rng.uniform(0.5, 3.0), 2)),
                },
            ]
        else:
            rec["usage"] = usage[p]
        products.append(rec)
    segments = []
    for s in range(ns):
        rank = ns - s  # 1st segment is the most valuable
        seg: dict = {
            "name": seg_names[s],
            "priority": s + 1,
            "backlog_cost": float(np.round(0.5 * rank + rng.uniform(0, 0.5), 2)),
            "lost_sales_cost": float(np.round(5.0 * rank + rng.uniform(0, 2), 2)),
            "max_backlog_periods": int(max(0, 2 - s)) if s < ns - 1 else 0,
        }
        if fill_floors and s == 0:
            seg["min_fill_rate"] = 0.5
        segments.append(seg)
    pl = np.asarray(prod_ids, dtype=object)[pp]
    sl = np.asarray(seg_names, dtype=object)[ss]
    tl = np.asarray(periods, dtype=object)[tt]
    ql = qty[pp, ss, tt].tolist()
    demand = [
        {"product": a, "segment": b, "period": c, "quantity": q}
        for a, b, c, q in zip(pl.tolist(), sl.tolist(), tl.tolist(), ql, strict=True)
    ]
    return CapacityInstance(
        periods=periods,
        resources=resources,
        products=products,
        segments=segments,
        demand=demand,
        objective=objective,
        lot_sizing=lot_sizing,
    )
