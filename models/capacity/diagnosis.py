"""Auxiliary LPs that explain an infeasible capacity instance, and their reading.

Without fill-rate floors the model is always feasible (every unit can be lost; the schema
rejects ``initial_inventory > max_inventory``), so infeasibility means that some segments'
``min_fill_rate`` floors cannot be met together. Three kinds of auxiliary LP say why:

1. **Floor attainment** (:func:`elastic_floors`): every floor gets a slack ``e_s ≥ 0``,
   ``Σ y_s + e_s ≥ f_s D_s``; minimise ``Σ_s e_s / D_s`` (fill-rate points missed).
   Segments with ``e_s > 0`` are the floors that cannot all be met; ``f_s - e_s/D_s`` is the
   fill rate each reaches in that plan.
2. **Best fill rate alone** (:func:`max_served`): floors dropped, maximise ``Σ y_s`` of one
   segment: the highest fill rate that segment can reach at all.
3. **Missing capacity** (:func:`capacity_slack`): floors hard, every capacity row gets extra
   hours ``u_rt ≥ 0`` (beyond regular and overtime); minimise ``Σ u_rt``: how many hours are
   missing in which periods on which resources.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from optim.models.capacity.data import CapacityData
from optim.models.capacity.lp import CapacityLP, build, served_columns

F = NDArray[np.float64]


def segment_demand(data: CapacityData) -> F:
    """Total demand of each segment ``(S,)``."""
    return np.bincount(
        data.pair_segment, weights=data.demand.sum(axis=1), minlength=len(data.segments)
    ).astype(np.float64)


def elastic_floors(data: CapacityData) -> CapacityLP:
    """LP 1: minimise the fill-rate points missed over all floors."""
    model = build(data, floors="elastic")
    dem = segment_demand(data)
    cost = np.zeros(model.lp.num_cols)
    floor_seg = np.flatnonzero(~np.isnan(data.min_fill_rate))
    cost[model.e_cols] = 1.0 / np.maximum(dem[floor_seg], 1e-12)
    model.lp = replace(model.lp, cost=cost, offset=0.0)
    return model


def max_served(data: CapacityData, segment: int) -> CapacityLP:
    """LP 2: floors dropped, maximise the shipments of ``segment``."""
    model = build(data, floors="drop")
    cost = np.zeros(model.lp.num_cols)
    cost[served_columns(model, segment)] = 1.0
    model.lp = replace(model.lp, cost=cost, offset=0.0, maximize=True)
    return model


def capacity_slack(data: CapacityData) -> CapacityLP:
    """LP 3: floors hard, minimise the extra hours ``Σ u_rt`` needed."""
    model = build(data, capacity_slack=True)
    nt, nr = len(data.periods), len(data.resources)
    cost = np.zeros(model.lp.num_cols)
    cost[model.u0 : model.u0 + nr * nt] = 1.0
    model.lp = replace(model.lp, cost=cost, offset=0.0)
    return model


def read(
    data: CapacityData,
    elastic_x: F | None,
    alone: dict[int, float | None],
    slack_x: F | None,
    slack_model: CapacityLP | None,
    elastic_model: CapacityLP | None,
) -> tuple[list[str], dict[str, pd.DataFrame]]:
    """Diagnosis lines and tables from the auxiliary solutions.

    Parameters
    ----------
    elastic_x
        Solution of :func:`elastic_floors` (None if it failed).
    alone
        Segment index → objective of :func:`max_served` (None if it failed).
    slack_x, slack_model
        Solution and model of :func:`capacity_slack`.
    elastic_model
        Model of :func:`elastic_floors`.
    """
    lines: list[str] = []
    tables: dict[str, pd.DataFrame] = {}
    dem = segment_demand(data)
    floor_seg = np.flatnonzero(~np.isnan(data.min_fill_rate))
    rows = []
    if elastic_x is not None and elastic_model is not None:
        slack = elastic_x[elastic_model.e_cols]
        for n, s in enumerate(floor_seg):
            f = float(data.min_fill_rate[s])
            reach = f - slack[n] / dem[s] if dem[s] > 0 else 1.0
            best = alone.get(int(s))
            best_rate = best / dem[s] if best is not None and dem[s] > 0 else None
            short = slack[n] > 1e-7 * max(1.0, dem[s])
            rows.append(
                {
                    "segment": data.segments[s],
                    "priority": int(data.priority[s]),
                    "min_fill_rate": f,
                    "demand": float(dem[s]),
                    "reachable_together": float(reach),
                    "best_alone": best_rate,
                    "met": not short,
                }
            )
            if short:
                # a floor the segment reaches alone is missed only together with the others
                # (the fallback plan of a tier-1 segment may meet it): say which
                why = (
                    ""
                    if best_rate is None
                    else " together with the other floors"
                    if best_rate >= f - 1e-9
                    else " even alone"
                )
                msg = (
                    f"segment '{data.segments[s]}': min_fill_rate {f:.4g} cannot be met{why}; "
                    f"best fill rate reachable with every floor relaxed as little as "
                    f"possible: {reach:.4g}"
                )
                if best_rate is not None:
                    msg += f"; best alone (other floors dropped): {best_rate:.4g}"
                lines.append(msg + ".")
        tables["diagnosis_fill_rates"] = pd.DataFrame(rows)
    if slack_x is not None and slack_model is not None:
        nt, nr = len(data.periods), len(data.resources)
        u = slack_x[slack_model.u0 : slack_model.u0 + nr * nt].reshape(nr, nt)
        rr, tt = np.nonzero(u > 1e-7)
        tables["diagnosis_missing_capacity"] = pd.DataFrame(
            {
                "resource": np.asarray(data.resources, dtype=object)[rr],
                "period": np.asarray(data.periods, dtype=object)[tt],
                "missing_hours": u[rr, tt],
            }
        )
        if rr.size:
            lines.append(
                f"capacity missing to meet every floor: {u.sum():.6g} hours beyond regular "
                f"and overtime, in {len(set(tt.tolist()))} period(s)."
            )
            for r in np.unique(rr):
                cells = [f"{data.periods[t]} {u[r, t]:.6g} h" for t in np.flatnonzero(u[r] > 1e-7)]
                shown = ", ".join(cells[:8]) + (
                    f", … ({len(cells)} periods)" if len(cells) > 8 else ""
                )
                lines.append(f"resource '{data.resources[r]}' needs {shown}.")
    if not lines:
        lines.append(
            "infeasible, but relaxing the fill-rate floors does not explain it "
            "(check max_inventory against demand and initial inventory)."
        )
    return lines, tables
