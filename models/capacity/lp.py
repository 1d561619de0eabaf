"""Vectorised array build of the capacity LP/MIP (the fast path).

The exact reformulation (shipments split by the period of the demand they serve, lost sales
eliminated, variables only where demand is positive) is stated in
:mod:`optim.models.capacity`. :func:`build` returns a :class:`CapacityLP`: the
:class:`~optim.models.problem.LinearProgram` plus the column and row maps needed to read a
solution back (:func:`solution`) and to form lexicographic stage objectives
(:func:`shortfall_objective`).

Column blocks, in order: ``x`` (J·T), ``o`` (R·T), ``I`` (P·T), ``w`` (sparse), then
optional ``z`` setups (J·T, lot sizing), ``e`` floor slacks (one per floor, elastic floors)
and ``u`` extra hours (R·T, capacity slack).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from optim.models.capacity.data import CapacityData, CapacitySolution
from optim.models.problem import INF, LinearProgram, csr_from_triplets

F = NDArray[np.float64]
Int = NDArray[np.int64]


@dataclass
class CapacityLP:
    """A built model: the LP and the maps from instance indices to columns and rows."""

    lp: LinearProgram
    data: CapacityData
    x0: int
    o0: int
    i0: int
    wcol: Int  # (D+1, K, T): column of w[k, τ, δ], -1 where no variable
    z0: int  # -1 without setups
    e_cols: Int  # floor slack columns (elastic floors), one per floor row
    u0: int  # -1 without capacity slack
    cap_row0: int
    floor_rows: Int  # row of each segment's floor, -1 where none
    lost_offset: float  # lost-sales constant in the objective


def build(
    data: CapacityData,
    *,
    floors: str = "hard",
    capacity_slack: bool = False,
    lot_sizing: bool | None = None,
) -> CapacityLP:
    """Build the capacity model as arrays.

    Parameters
    ----------
    data
        The instance (:func:`optim.models.capacity.from_instance`).
    floors
        ``"hard"`` (the model), ``"elastic"`` (a slack ``e_s ≥ 0`` per floor, cost 0: the
        caller sets the diagnosis objective) or ``"drop"`` (no floor rows).
    capacity_slack
        Add extra hours ``u_rt ≥ 0`` to every capacity row (diagnosis).
    lot_sizing
        Override ``data.lot_sizing``.

    Returns
    -------
    CapacityLP
    """
    nt, nr, np_, _, nj, nk = data.shape
    lot = data.lot_sizing if lot_sizing is None else lot_sizing
    t_idx = np.arange(nt)
    seg = data.pair_segment
    kmax = data.max_backlog[seg]  # (K,)
    d = data.demand
    ndel = min(int(kmax.max(initial=0)) + 1, nt)  # waiting past the horizon is impossible
    # w[δ, k, τ]: demand of pair k and period τ shipped δ periods late (δ <= k_s, τ+δ < T)
    wmask = np.zeros((ndel, nk, nt), dtype=bool)
    for delta in range(ndel):
        wmask[delta, :, : nt - delta] = (d[:, : nt - delta] > 0) & (kmax[:, None] >= delta)

    # ---- columns
    x0 = 0
    o0 = x0 + nj * nt
    i0 = o0 + nr * nt
    w0 = i0 + np_ * nt
    nw = int(wmask.sum())
    wcol = np.full((ndel, nk, nt), -1, dtype=np.int64)
    wcol[wmask] = w0 + np.arange(nw)
    ncol = w0 + nw
    ncol_w = ncol
    z0 = -1
    zroutes = np.zeros(0, dtype=np.int64)
    if lot:
        need = (data.setup_cost > 0) | (data.min_lot_size > 0)
        zroutes = np.flatnonzero(need[data.route_product])
        if zroutes.size:
            z0 = ncol
            ncol += zroutes.size * nt
    floor_seg: Int = np.zeros(0, dtype=np.int64)
    if floors != "drop":
        floor_seg = np.flatnonzero(~np.isnan(data.min_fill_rate)).astype(np.int64)
    e_cols = np.zeros(0, dtype=np.int64)
    if floors == "elastic":
        e_cols = ncol + np.arange(floor_seg.size)
        ncol += floor_seg.size
    u0 = -1
    if capacity_slack:
        u0 = ncol
        ncol += nr * nt

    cost = np.zeros(ncol)
    lower = np.zeros(ncol)
    upper = np.full(ncol, INF)
    cost[x0:o0] = np.repeat(data.route_cost, nt)
    cost[o0:i0] = np.repeat(data.overtime_cost, nt)
    upper[o0:i0] = data.overtime_capacity.ravel()
    cost[i0:w0] = np.repeat(data.holding_cost, nt)
    upper[i0:w0] = np.repeat(data.max_inventory, nt)
    lost = data.lost_sales_cost[seg]
    delay = np.broadcast_to(np.arange(ndel)[:, None, None], wmask.shape)
    wcost = data.backlog_cost[seg][None, :, None] * delay - lost[None, :, None]
    cost[w0:ncol_w] = wcost[wmask]
    upper[w0:ncol_w] = np.broadcast_to(d[None], wmask.shape)[wmask]
    integrality = None
    if z0 >= 0:
        cost[z0 : z0 + zroutes.size * nt] = np.repeat(
            data.setup_cost[data.route_product[zroutes]], nt
        )
        upper[z0 : z0 + zroutes.size * nt] = 1.0
        integrality = np.zeros(ncol, dtype=np.int8)
        integrality[z0 : z0 + zroutes.size * nt] = 1
    offset = float(np.sum(lost * d.sum(axis=1)))

    rows: list[Int] = []
    cols: list[Int] = []
    vals: list[F] = []
    rlo: list[F] = []
    rhi: list[F] = []
    nrow = 0

    def add(r: Int, c: Int, v: F | float) -> None:
        rows.append(np.asarray(r, dtype=np.int64).ravel())
        cols.append(np.asarray(c, dtype=np.int64).ravel())
        vals.append(np.broadcast_to(np.asarray(v, dtype=np.float64), np.shape(r)).ravel())

    # ---- inventory balance (P·T rows): I_pt - I_p,t-1 - Σ_j x_pjt + Σ_s y_pst = I_p0·[t=0]
    inv_row0 = nrow
    pt = np.arange(np_ * nt)
    add(inv_row0 + pt, i0 + pt, 1.0)
    later = pt[(pt % nt) > 0]
    add(inv_row0 + later, i0 + later - 1, -1.0)
    jt_route = np.repeat(np.arange(nj), nt)
    jt_t = np.tile(t_idx, nj)
    add(inv_row0 + data.route_product[jt_route] * nt + jt_t, x0 + np.arange(nj * nt), -1.0)
    dd, kk, tt = np.nonzero(wmask)
    add(inv_row0 + data.pair_product[kk] * nt + tt + dd, wcol[dd, kk, tt], 1.0)
    rhs = np.zeros(np_ * nt)
    rhs[::nt] = data.initial_inventory
    rlo.append(rhs)
    rhi.append(rhs)
    nrow += np_ * nt

    # ---- demand rows: Σ_δ w[δ, k, τ] <= d_kτ where a demand may ship in several periods
    multi = wmask.sum(axis=0) > 1
    kr, tr = np.nonzero(multi)
    nbr = kr.size
    row_of = np.full((nk, nt), -1, dtype=np.int64)
    row_of[kr, tr] = nrow + np.arange(nbr)
    sel = wmask & multi[None]
    add(np.broadcast_to(row_of[None], wmask.shape)[sel], wcol[sel], 1.0)
    rlo.append(np.full(nbr, -INF))
    rhi.append(d[kr, tr])
    nrow += nbr

    # ---- capacity (R·T rows): Σ a_jr x_jt - o_rt [- u_rt] <= C_rt
    cap_row0 = nrow
    nu = data.use_route.size
    u_rows = (data.use_resource[:, None] * nt + t_idx[None, :]).ravel()
    u_cols = (x0 + data.use_route[:, None] * nt + t_idx[None, :]).ravel()
    add(cap_row0 + u_rows, u_cols, np.repeat(data.use_hours, nt))
    rt = np.arange(nr * nt)
    add(cap_row0 + rt, o0 + rt, -1.0)
    if u0 >= 0:
        add(cap_row0 + rt, u0 + rt, -1.0)
    rlo.append(np.full(nr * nt, -INF))
    rhi.append(data.capacity.ravel())
    nrow += nr * nt
    del nu

    # ---- fill-rate floors: Σ_{k∈s,t} y_kt [+ e_s] >= f_s D_s
    floor_rows = np.full(len(data.segments), -1, dtype=np.int64)
    seg_demand = np.bincount(seg, weights=d.sum(axis=1), minlength=len(data.segments))
    for n, s in enumerate(floor_seg):
        sel = wmask & (seg == s)[None, :, None]
        add(np.full(int(sel.sum()), nrow), wcol[sel], 1.0)
        if floors == "elastic":
            add(np.array([nrow]), np.array([e_cols[n]]), 1.0)
        rlo.append(np.array([data.min_fill_rate[s] * seg_demand[s]]))
        rhi.append(np.array([INF]))
        floor_rows[s] = nrow
        nrow += 1

    # ---- lot sizing: x_jt - M_jt z_jt <= 0 and x_jt - m_j z_jt >= 0
    if z0 >= 0:
        a = np.zeros((nj, nr))
        np.add.at(a, (data.use_route, data.use_resource), data.use_hours)
        avail = data.capacity + data.overtime_capacity  # (R, T)
        with np.errstate(divide="ignore"):
            per = np.where(a[zroutes][:, :, None] > 0, avail[None] / a[zroutes][:, :, None], INF)
        big = per.min(axis=1)  # (Z, T)
        nz = zroutes.size * nt
        zc = z0 + np.arange(nz)
        xc = x0 + (zroutes[:, None] * nt + t_idx[None, :]).ravel()
        add(nrow + np.arange(nz), xc, 1.0)
        add(nrow + np.arange(nz), zc, -big.ravel())
        rlo.append(np.full(nz, -INF))
        rhi.append(np.zeros(nz))
        nrow += nz
        mlot = np.repeat(data.min_lot_size[data.route_product[zroutes]], nt)
        pos = np.flatnonzero(mlot > 0)
        add(nrow + np.arange(pos.size), xc[pos], 1.0)
        add(nrow + np.arange(pos.size), zc[pos], -mlot[pos])
        rlo.append(np.zeros(pos.size))
        rhi.append(np.full(pos.size, INF))
        nrow += pos.size

    indptr, indices, values = csr_from_triplets(
        np.concatenate(rows), np.concatenate(cols), np.concatenate(vals), nrow
    )
    lp = LinearProgram(
        cost=cost,
        col_lower=lower,
        col_upper=upper,
        row_lower=np.concatenate(rlo),
        row_upper=np.concatenate(rhi),
        indptr=indptr,
        indices=indices,
        data=values,
        offset=offset,
        integrality=integrality,
    )
    return CapacityLP(
        lp=lp,
        data=data,
        x0=x0,
        o0=o0,
        i0=i0,
        wcol=wcol,
        z0=z0,
        e_cols=e_cols,
        u0=u0,
        cap_row0=cap_row0,
        floor_rows=floor_rows,
        lost_offset=offset,
    )


def shortfall_objective(model: CapacityLP, segments: NDArray[np.bool_]) -> tuple[F, float]:
    """Cost vector and constant of Σ_{s selected} (b_s B + ℓ_s L) on the model's columns."""
    data = model.data
    c = np.zeros(model.lp.num_cols)
    sel = segments[data.pair_segment]  # (K,)
    wm = (model.wcol >= 0) & sel[None, :, None]
    lost = data.lost_sales_cost[data.pair_segment]
    delay = np.broadcast_to(np.arange(model.wcol.shape[0])[:, None, None], model.wcol.shape)
    wcost = data.backlog_cost[data.pair_segment][None, :, None] * delay - lost[None, :, None]
    c[model.wcol[wm]] = wcost[wm]
    offset = float(np.sum(lost[sel] * data.demand[sel].sum(axis=1)))
    return c, offset


def served_columns(model: CapacityLP, segment: int) -> Int:
    """Columns whose sum is the shipments of ``segment`` over the horizon."""
    wm = (model.wcol >= 0) & (model.data.pair_segment == segment)[None, :, None]
    return model.wcol[wm]


def solution(model: CapacityLP, x: F) -> CapacitySolution:
    """Read primal values ``x`` back onto the instance's arrays (lost sales recomputed)."""
    data = model.data
    nt, nr, np_, _, nj, nk = data.shape
    prod = x[model.x0 : model.x0 + nj * nt].reshape(nj, nt)
    over = x[model.o0 : model.o0 + nr * nt].reshape(nr, nt)
    inv = x[model.i0 : model.i0 + np_ * nt].reshape(np_, nt)
    w = np.where(model.wcol >= 0, x[np.maximum(model.wcol, 0)], 0.0)
    w = np.maximum(w, 0.0)
    y = np.zeros((nk, nt))
    b = np.zeros((nk, nt))
    for delta in range(w.shape[0]):
        if delta:
            y[:, delta:] += w[delta, :, : nt - delta]
        else:
            y += w[0]
        # shipped δ late: in backlog at the end of τ, …, τ+δ-1
        for lag in range(delta):
            b[:, lag : nt - delta + lag] += w[delta, :, : nt - delta]
    lost = np.maximum(data.demand - w.sum(axis=0), 0.0)
    setups = None
    if model.z0 >= 0:
        need = (data.setup_cost > 0) | (data.min_lot_size > 0)
        zr = np.flatnonzero(need[data.route_product])
        setups = np.zeros((nj, nt))
        setups[zr] = np.round(x[model.z0 : model.z0 + zr.size * nt].reshape(zr.size, nt))
    elif data.lot_sizing:
        setups = np.zeros((nj, nt))
    return CapacitySolution(
        production=np.maximum(prod, 0.0),
        overtime=np.maximum(over, 0.0),
        inventory=np.maximum(inv, 0.0),
        shipments=y,
        backlog=b,
        lost=lost,
        setups=setups,
    )
