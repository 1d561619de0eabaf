"""GSM as a MIP with piecewise-linear holding cost on integer breakpoints (pure builder).

Columns: :math:`S_j, SI_j` (integer) and, for every stage with :math:`h_j k_j > 0`, one
binary :math:`y_{jl}` and one continuous :math:`t_{jl}` per piece
:math:`[b_{jl}, b_{j,l+1}]` of its breakpoints :math:`b_{j0} = 0 < \\dots < b_{jm} = L_j`
(disaggregated convex-combination form, locally ideal):

.. math::

    \\min \\sum_j \\sum_l (\\alpha_{jl} y_{jl} + \\beta_{jl} t_{jl}) \\quad\\text{s.t.}\\quad
    SI_j - S_j + T_j = \\sum_l t_{jl},\\;
    \\sum_l y_{jl} = 1,\\;
    b_{jl} y_{jl} \\le t_{jl} \\le b_{j,l+1} y_{jl},\\;
    SI_j \\ge S_i \\;(i \\to j),

with :math:`\\beta_{jl}` the chord slope of :math:`c_j(\\tau) = h_j k_j \\sqrt\\tau` on the
piece and :math:`\\alpha_{jl} = c_j(b_{jl}) - \\beta_{jl} b_{jl}`. Stages without cost keep
only :math:`SI_j - S_j + T_j \\ge 0`.

Why integer breakpoints are exact: the constraints on :math:`(S, SI)` (and the piece bounds
:math:`b \\le \\tau \\le b'` once a piece is fixed) are difference constraints, a totally
unimodular system with integer right-hand sides, and the cost is concave, so an optimum lies at
an integral vertex, where the interpolation equals :math:`c_j`. With a *subset* of the integers
as breakpoints each chord lies below :math:`c_j` (concavity), so the MIP optimum is a lower
bound on the GSM optimum and its solution a feasible point; adding the solution's
:math:`\\tau_j` as breakpoints and re-solving converges (adaptive refinement).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from optim.models.problem import INF, LinearProgram, csr_from_triplets
from optim.models.safety_stock.data import GSMData

__all__ = ["GSMMip", "build_mip", "default_breakpoints", "extract_service_times"]


@dataclass(frozen=True)
class GSMMip:
    """The MIP and the maps back to stages.

    Attributes
    ----------
    lp
        The model for :func:`optim.solvers.highs.solve`.
    s_col, si_col
        Columns of :math:`S_j` and :math:`SI_j`.
    breakpoints
        Breakpoints used per stage (empty for stages without cost).
    """

    lp: LinearProgram
    s_col: NDArray[np.int64]
    si_col: NDArray[np.int64]
    breakpoints: tuple[NDArray[np.int64], ...]
    piece_col: NDArray[np.int64]

    def start_vector(
        self, outbound: NDArray[np.int64], inbound: NDArray[np.int64], lead_time: NDArray[np.int64]
    ) -> NDArray[np.float64]:
        """Full column vector of the feasible point with service times ``(S, SI)``."""
        x = np.zeros(self.lp.num_cols)
        x[self.s_col] = outbound
        x[self.si_col] = inbound
        tau = inbound + lead_time - outbound
        for j, b in enumerate(self.breakpoints):
            if b.size < 2:
                continue
            npc = b.size - 1
            piece = int(np.clip(np.searchsorted(b, tau[j], side="right") - 1, 0, npc - 1))
            y0 = int(self.piece_col[j])
            x[y0 + piece] = 1.0
            x[y0 + npc + piece] = float(tau[j])
        return x


def default_breakpoints(data: GSMData) -> list[NDArray[np.int64]]:
    """Every integer :math:`0..L_j` (exact in one solve)."""
    return [np.arange(int(L) + 1, dtype=np.int64) for L in data.tau_max]


def build_mip(
    data: GSMData,
    breakpoints: list[NDArray[np.int64]] | None = None,
    *,
    integer: bool = True,
) -> GSMMip:
    """Build the piecewise-linear GSM MIP.

    Parameters
    ----------
    data
        Prepared instance arrays (:func:`optim.models.safety_stock.prepare`).
    breakpoints
        Sorted integer breakpoints per stage; ``0`` and :math:`L_j` are added when missing.
        Default: every integer (the exact model).
    integer
        Declare :math:`S, SI` integer (they are integral at vertices anyway).

    Returns
    -------
    GSMMip
    """
    n = data.n
    L = data.tau_max
    if breakpoints is None:
        breakpoints = default_breakpoints(data)
    bps: list[NDArray[np.int64]] = []
    for j in range(n):
        if data.unit_cost[j] <= 0 or L[j] <= 0:
            bps.append(np.zeros(0, dtype=np.int64))
            continue
        b = np.asarray(breakpoints[j], dtype=np.int64)
        b = np.unique(np.concatenate(([0, int(L[j])], b[(b >= 0) & (b <= L[j])])))
        bps.append(b)

    s_col = np.arange(n, dtype=np.int64)
    si_col = n + np.arange(n, dtype=np.int64)
    cost = [np.zeros(2 * n)]
    lo = [np.zeros(n), data.external.astype(np.float64)]
    hi = [data.s_max.astype(np.float64), data.si_max.astype(np.float64)]
    integ = [np.full(2 * n, 1 if integer else 0, dtype=np.int8)]
    rows: list[NDArray[np.int64]] = []
    cols: list[NDArray[np.int64]] = []
    vals: list[NDArray[np.float64]] = []
    rlo: list[NDArray[np.float64]] = []
    rhi: list[NDArray[np.float64]] = []
    nrow = 0

    m = data.source.size  # arcs: SI_target - S_source >= 0
    if m:
        r = np.arange(m, dtype=np.int64)
        rows += [r, r]
        cols += [si_col[data.target], s_col[data.source]]
        vals += [np.ones(m), -np.ones(m)]
        rlo.append(np.zeros(m))
        rhi.append(np.full(m, INF))
        nrow += m

    ncol = 2 * n
    piece_col = np.full(n, -1, dtype=np.int64)
    for j in range(n):
        b = bps[j]
        tee = float(data.lead_time[j])
        if b.size < 2:  # no cost: tau_j >= 0
            rows.append(np.array([nrow, nrow]))
            cols.append(np.array([si_col[j], s_col[j]]))
            vals.append(np.array([1.0, -1.0]))
            rlo.append(np.array([-tee]))
            rhi.append(np.array([INF]))
            nrow += 1
            continue
        npc = b.size - 1
        if data.ss_table is not None:
            raise ValueError(
                "the piecewise-linear MIP assumes the square-root cost k*sqrt(tau); a stage "
                "cost table (critical levels, stochastic lead times) needs method 'dp' or "
                "'assignment'"
            )
        cb = data.unit_cost[j] * np.sqrt(b.astype(np.float64))
        slope = np.diff(cb) / np.diff(b)
        icpt = cb[:-1] - slope * b[:-1]
        piece_col[j] = ncol
        y = ncol + np.arange(npc, dtype=np.int64)
        t = ncol + npc + np.arange(npc, dtype=np.int64)
        ncol += 2 * npc
        cost += [icpt, slope]
        lo += [np.zeros(npc), np.zeros(npc)]
        hi += [np.ones(npc), b[1:].astype(np.float64)]
        integ += [np.ones(npc, dtype=np.int8), np.zeros(npc, dtype=np.int8)]
        # SI_j - S_j - sum_l t_jl = -T_j
        rows.append(np.full(2 + npc, nrow, dtype=np.int64))
        cols.append(np.concatenate(([si_col[j], s_col[j]], t)))
        vals.append(np.concatenate(([1.0, -1.0], -np.ones(npc))))
        rlo.append(np.array([-tee]))
        rhi.append(np.array([-tee]))
        nrow += 1
        # sum_l y_jl = 1
        rows.append(np.full(npc, nrow, dtype=np.int64))
        cols.append(y)
        vals.append(np.ones(npc))
        rlo.append(np.ones(1))
        rhi.append(np.ones(1))
        nrow += 1
        # t_jl - b_{l+1} y_jl <= 0 and t_jl - b_l y_jl >= 0
        r_up = nrow + np.arange(npc, dtype=np.int64)
        r_dn = nrow + npc + np.arange(npc, dtype=np.int64)
        rows += [r_up, r_up, r_dn, r_dn]
        cols += [t, y, t, y]
        vals += [np.ones(npc), -b[1:].astype(np.float64), np.ones(npc), -b[:-1].astype(np.float64)]
        rlo += [np.full(npc, -INF), np.zeros(npc)]
        rhi += [np.zeros(npc), np.full(npc, INF)]
        nrow += 2 * npc

    cat = np.concatenate
    indptr, indices, data_ = csr_from_triplets(cat(rows), cat(cols), cat(vals), nrow)
    lp = LinearProgram(
        cost=cat(cost).astype(np.float64),
        col_lower=cat(lo).astype(np.float64),
        col_upper=cat(hi).astype(np.float64),
        row_lower=cat(rlo).astype(np.float64),
        row_upper=cat(rhi).astype(np.float64),
        indptr=indptr,
        indices=indices,
        data=data_,
        integrality=cat(integ),
    )
    return GSMMip(lp=lp, s_col=s_col, si_col=si_col, breakpoints=tuple(bps), piece_col=piece_col)


def extract_service_times(
    mip: GSMMip, x: NDArray[np.float64]
) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Rounded :math:`(S, SI)` from a MIP solution vector."""
    s = np.rint(x[mip.s_col]).astype(np.int64)
    si = np.rint(x[mip.si_col]).astype(np.int64)
    return s, si
