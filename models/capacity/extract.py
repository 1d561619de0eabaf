"""Result tables of a capacity solution, keyed by the instance's ids (pure, vectorised)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from optim.models.capacity.data import CapacityData, CapacitySolution, hours
from optim.precision import quantity_text

F = NDArray[np.float64]
TOL = 1e-7


def _labels(names: list[str], idx: NDArray[np.int64]) -> NDArray[np.object_]:
    return np.asarray(names, dtype=object)[idx]


def peak_periods(data: CapacityData) -> NDArray[np.bool_]:
    """Periods whose demand, made on each product's first routing, exceeds some resource.

    Needed hours of period ``t`` on resource ``r``: ``Σ_p a_{j(p) r} Σ_s d_pst`` with
    ``j(p)`` the product's first routing; the period is a peak when that exceeds
    ``C_rt + O_rt``.
    """
    nt, _nr, np_, _, nj, _ = data.shape
    dem_p = np.zeros((np_, nt))
    np.add.at(dem_p, data.pair_product, data.demand)
    _, first = np.unique(data.route_product, return_index=True)  # routes grouped by product
    take = np.zeros((nj, nt))
    take[first] = dem_p
    need = hours(data, take)
    return np.any(need > (data.capacity + data.overtime_capacity) * (1 + 1e-9) + 1e-9, axis=0)


def prebuild(data: CapacityData, sol: CapacitySolution) -> F:
    """Stock ``(P, T)`` at the end of each period beyond what is left of the initial stock.

    Initial inventory is taken to leave first (shipments draw on it before new production).
    """
    np_ = len(data.products)
    ship_p = np.zeros((np_, len(data.periods)))
    np.add.at(ship_p, data.pair_product, sol.shipments)
    left = np.maximum(data.initial_inventory[:, None] - np.cumsum(ship_p, axis=1), 0.0)
    return np.maximum(sol.inventory - left, 0.0)


def tables(
    data: CapacityData,
    sol: CapacitySolution,
    marginal_value: F | None = None,
) -> tuple[dict[str, pd.DataFrame], list[str]]:
    """All result tables and the message lines (pre-build).

    Parameters
    ----------
    data, sol
        Instance arrays and solution.
    marginal_value
        ``(R, T)`` value of one more regular hour (minus the capacity-row dual), or None.

    Returns
    -------
    (tables, lines)
    """
    nt, nr, np_, ns, nj, _nk = data.shape
    per = np.asarray(data.periods, dtype=object)
    out: dict[str, pd.DataFrame] = {}

    # production and hours per resource
    jj, tt = np.nonzero(sol.production > TOL)
    used = hours(data, sol.production)
    jhours = np.zeros((nj, nt))
    np.add.at(jhours, data.use_route, data.use_hours[:, None] * sol.production[data.use_route])
    out["production"] = pd.DataFrame(
        {
            "product": _labels(data.products, data.route_product[jj]),
            "routing": _labels(data.route_ids, jj),
            "period": per[tt],
            "quantity": sol.production[jj, tt],
            "hours": jhours[jj, tt],
        }
    )
    uh = data.use_hours[:, None] * sol.production[data.use_route]  # (U, T)
    uu, ut = np.nonzero(uh > TOL)
    uj = data.use_route[uu]
    out["production_hours"] = pd.DataFrame(
        {
            "product": _labels(data.products, data.route_product[uj]),
            "routing": _labels(data.route_ids, uj),
            "period": per[ut],
            "resource": _labels(data.resources, data.use_resource[uu]),
            "hours": uh[uu, ut],
        }
    )
    if sol.setups is not None:
        sj, st = np.nonzero(sol.setups > 0.5)
        out["setups"] = pd.DataFrame(
            {
                "product": _labels(data.products, data.route_product[sj]),
                "routing": _labels(data.route_ids, sj),
                "period": per[st],
                "setup_cost": data.setup_cost[data.route_product[sj]],
            }
        )

    # overtime and utilisation
    rr, rt = np.nonzero(sol.overtime > TOL)
    out["overtime"] = pd.DataFrame(
        {
            "resource": _labels(data.resources, rr),
            "period": per[rt],
            "hours": sol.overtime[rr, rt],
            "cost": sol.overtime[rr, rt] * data.overtime_cost[rr],
        }
    )
    ridx = np.repeat(np.arange(nr), nt)
    tidx = np.tile(np.arange(nt), nr)
    cap = data.capacity.ravel()
    with np.errstate(divide="ignore", invalid="ignore"):
        util = np.where(cap > 0, used.ravel() / cap, np.nan)
    out["utilisation"] = pd.DataFrame(
        {
            "resource": _labels(data.resources, ridx),
            "period": per[tidx],
            "capacity": cap,
            "overtime_capacity": data.overtime_capacity.ravel(),
            "hours_used": used.ravel(),
            "overtime_used": sol.overtime.ravel(),
            "utilisation": util,
        }
    )
    if marginal_value is not None:
        out["marginal_values"] = pd.DataFrame(
            {
                "resource": _labels(data.resources, ridx),
                "period": per[tidx],
                "marginal_value": marginal_value.ravel(),
            }
        )

    # inventory and pre-build
    pre = prebuild(data, sol)
    pidx = np.repeat(np.arange(np_), nt)
    ptidx = np.tile(np.arange(nt), np_)
    out["inventory"] = pd.DataFrame(
        {
            "product": _labels(data.products, pidx),
            "period": per[ptidx],
            "inventory": sol.inventory.ravel(),
            "prebuild": pre.ravel(),
        }
    )
    bp, bt = np.nonzero(pre > TOL)
    out["prebuild"] = pd.DataFrame(
        {"product": _labels(data.products, bp), "period": per[bt], "quantity": pre[bp, bt]}
    )

    # shipments, backlog, lost per (product, segment, period)
    prod_k = data.pair_product
    seg_k = data.pair_segment
    for name, arr in (("shipments", sol.shipments), ("backlog", sol.backlog), ("lost", sol.lost)):
        kk, kt = np.nonzero(arr > TOL)
        out[name] = pd.DataFrame(
            {
                "product": _labels(data.products, prod_k[kk]),
                "segment": _labels(data.segments, seg_k[kk]),
                "period": per[kt],
                "quantity": arr[kk, kt],
            }
        )

    # segments, overall and per demand period
    d = data.demand
    on_time, late = attribute(data, sol)
    short = (
        data.backlog_cost[seg_k][:, None] * sol.backlog
        + data.lost_sales_cost[seg_k][:, None] * sol.lost
    )

    def by_seg(a: F) -> F:  # (K, T) -> (S, T)
        o = np.zeros((ns, nt))
        np.add.at(o, seg_k, a)
        return o

    st_d, st_y, st_on, st_late = by_seg(d), by_seg(sol.shipments), by_seg(on_time), by_seg(late)
    st_b, st_l, st_c = by_seg(sol.backlog), by_seg(sol.lost), by_seg(short)
    st_served = st_on + st_late
    floor = np.where(np.isnan(data.min_fill_rate), 0.0, data.min_fill_rate)
    dem = st_d.sum(axis=1)
    out["segments"] = pd.DataFrame(
        {
            "segment": list(data.segments),
            "priority": data.priority,
            "demand": dem,
            "served": st_served.sum(axis=1),
            "served_on_time": st_on.sum(axis=1),
            "served_late": st_late.sum(axis=1),
            "lost": st_l.sum(axis=1),
            "backlog_unit_periods": st_b.sum(axis=1),
            "fill_rate": _rate(st_served.sum(axis=1), dem),
            "on_time_rate": _rate(st_on.sum(axis=1), dem),
            "min_fill_rate": floor,
            "shortfall_cost": st_c.sum(axis=1),
        }
    )
    sidx = np.repeat(np.arange(ns), nt)
    stidx = np.tile(np.arange(nt), ns)
    out["segment_periods"] = pd.DataFrame(
        {
            "segment": _labels(data.segments, sidx),
            "period": per[stidx],
            "demand": st_d.ravel(),
            "served_on_time": st_on.ravel(),
            "served_late": st_late.ravel(),
            "lost": st_l.ravel(),
            "fill_rate": _rate(st_served.ravel(), st_d.ravel()),
            "on_time_rate": _rate(st_on.ravel(), st_d.ravel()),
            "shipped": st_y.ravel(),
            "backlog": st_b.ravel(),
            "shortfall_cost": st_c.ravel(),
        }
    )

    lines = [_prebuild_line(data, pre)]
    return out, lines


def _rate(part: F, whole: F) -> F:
    """``part / whole`` clipped to [0, 1] (solver round-off); NaN where there is no demand."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(whole > 0, np.clip(part / whole, 0.0, 1.0), np.nan)


def attribute(data: CapacityData, sol: CapacitySolution) -> tuple[F, F]:
    """Served on time and served late ``(K, T)``, each by the period of the demand served.

    Shipments serve the oldest waiting demand first (first in, first out): of the demand of
    period τ that is not lost, ``d'_τ = d_τ - L_τ``, the part covered by the shipments up to
    and including τ is on time, the rest is shipped late (within the segment's
    ``max_backlog_periods``, as the model's backlog bound guarantees). So
    ``on_time + late + lost = demand`` in every period, and a period's fill rate
    ``(on_time + late) / demand`` never exceeds 1, however much earlier backlog that period's
    shipments clear.
    """
    kept = np.clip(data.demand - sol.lost, 0.0, None)  # (K, T): demand that will be served
    before = np.cumsum(kept, axis=1) - kept  # served demand of earlier periods
    shipped = np.cumsum(sol.shipments, axis=1)  # shipments up to the end of each period
    on_time = np.clip(shipped - before, 0.0, kept)
    return on_time, kept - on_time


def _span(labels: list[str], mask: NDArray[np.bool_], n: int = 6) -> str:
    chosen = [labels[t] for t in np.flatnonzero(mask)]
    return ", ".join(chosen[:n]) + (f", … ({len(chosen)} periods)" if len(chosen) > n else "")


def _prebuild_line(data: CapacityData, pre: F) -> str:
    peaks = peak_periods(data)
    held = pre.sum(axis=0)
    if not np.any(held > TOL):
        tail = f"; peak periods: {_span(data.periods, peaks)}" if peaks.any() else ""
        return f"pre-build: none{tail}."
    top = int(np.argmax(held))
    nprod = int(np.count_nonzero((pre > TOL).any(axis=1)))
    peak = f"peak periods: {_span(data.periods, peaks)}" if peaks.any() else "no peak period"
    return (
        f"pre-build: {nprod} product(s) stocked ahead in {_span(data.periods, held > TOL)}; "
        f"most held at the end of {data.periods[top]} ({quantity_text(held[top])} "
        f"{data.unit}); {peak}."
    )
