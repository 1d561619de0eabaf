"""GSM as an assignment MIP over (S, SI) pairs: exact costs, LP exact on trees (pure builder).

For every stage ``j`` enumerate the pairs :math:`p = (s, \\sigma)` with
:math:`0 \\le s \\le \\bar S_j`, :math:`s^e_j \\le \\sigma \\le E_j`, :math:`s \\le \\sigma + T_j`
and a binary :math:`x_{jp}` (stage ``j`` uses pair ``p``), cost
:math:`c_{jp} = h_j k_j \\sqrt{\\sigma + T_j - s}` (exact, no interpolation). Cumulative
indicators :math:`U_{jv} = [S_j \\ge v]` and :math:`W_{jv} = [SI_j \\ge v]` (continuous in
[0, 1]) are tied to the pairs by

.. math::

    \\sum_p x_{jp} = 1,\\quad
    U_{jv} - U_{j,v+1} = \\sum_{p: s_p = v} x_{jp},\\quad
    W_{jv} - W_{j,v+1} = \\sum_{p: \\sigma_p = v} x_{jp},

(with :math:`U_{j0} = W_{j0} = 1` and zero past the top value), and an arc :math:`i \\to j`
becomes :math:`U_{iv} \\le W_{jv}` for every :math:`v \\ge 1`, which for 0/1 values is
:math:`S_i \\le SI_j`.

Strength. For fractional ``x`` the arc rows say that the distribution of :math:`S_i` is
stochastically dominated by that of :math:`SI_j`, which is exactly when a coupling with
:math:`S_i \\le SI_j` exists (quantile coupling). On a spanning tree these couplings glue into
one distribution over feasible integer solutions whose stage marginals are ``x``, so the LP
relaxation is exact on trees, and on a general network its value is at least the DP bound of
*every* spanning-forest relaxation (Humair & Willems 2011) at once.

Size: one column per pair (:math:`\\le (\\bar S_j + 1)(E_j - s^e_j + 1)` per stage); use
:func:`count_pairs` to decide before building.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from optim.models.problem import INF, LinearProgram, csr_from_triplets
from optim.models.safety_stock.data import GSMData

__all__ = [
    "AssignmentMip",
    "build_assignment_mip",
    "count_pairs",
    "initial_pairs",
    "merge_pairs",
    "price_pairs",
    "threshold_roundings",
]


def _pairs(data: GSMData, j: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    s = np.arange(int(data.s_max[j]) + 1)
    si = np.arange(int(data.external[j]), int(data.si_max[j]) + 1)
    ss, ii = np.meshgrid(s, si, indexing="ij")
    ok = ss <= ii + int(data.lead_time[j])
    return ss[ok].astype(np.int64), ii[ok].astype(np.int64)


def count_pairs(data: GSMData) -> int:
    """Number of pair columns :func:`build_assignment_mip` would create."""
    total = 0
    for j in range(data.n):
        s = np.arange(int(data.s_max[j]) + 1)[:, None]
        si = np.arange(int(data.external[j]), int(data.si_max[j]) + 1)[None, :]
        total += int(np.count_nonzero(s <= si + int(data.lead_time[j])))
    return total


@dataclass(frozen=True)
class AssignmentMip:
    """The MIP and the maps back to stages.

    Attributes
    ----------
    lp
        The model for :func:`optim.solvers.highs.solve`.
    pair_start
        First pair column of every stage (pairs of stage ``j`` are
        ``pair_start[j]:pair_start[j+1]``).
    pair_s, pair_si
        :math:`(s, \\sigma)` of every pair column.
    top_s, top_si
        Largest :math:`S_j` / :math:`SI_j` (number of ``U`` / ``W`` columns of stage ``j``).
    u_row, w_row
        Row of :math:`U_{j,1}` / :math:`W_{j,1}`'s link constraint (``v`` at ``+ v - 1``).
    """

    lp: LinearProgram
    pair_start: NDArray[np.int64]
    pair_s: NDArray[np.int64]
    pair_si: NDArray[np.int64]
    top_s: NDArray[np.int64]
    top_si: NDArray[np.int64]
    u_row: NDArray[np.int64]
    w_row: NDArray[np.int64]

    def service_times(self, x: NDArray[np.float64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
        """:math:`(S, SI)` from a solution: the pair with the largest value at every stage."""
        n = self.pair_start.size - 1
        s = np.zeros(n, dtype=np.int64)
        si = np.zeros(n, dtype=np.int64)
        for j in range(n):
            a, b = int(self.pair_start[j]), int(self.pair_start[j + 1])
            p = a + int(np.argmax(x[a:b]))
            s[j], si[j] = self.pair_s[p], self.pair_si[p]
        return s, si

    def start_vector(
        self, outbound: NDArray[np.int64], inbound: NDArray[np.int64]
    ) -> NDArray[np.float64]:
        """Full column vector of the feasible point with service times ``(S, SI)``."""
        x = np.zeros(self.lp.num_cols)
        n = self.pair_start.size - 1
        ncols_pairs = int(self.pair_start[-1])
        u0 = ncols_pairs
        for j in range(n):
            a, b = int(self.pair_start[j]), int(self.pair_start[j + 1])
            hit = np.flatnonzero(
                (self.pair_s[a:b] == outbound[j]) & (self.pair_si[a:b] == inbound[j])
            )
            x[a + int(hit[0])] = 1.0
        # cumulative indicators follow from x; they occupy the columns after the pairs
        x[u0:] = self._cumulative(x[:u0], outbound, inbound)
        return x

    def _cumulative(
        self, _x: NDArray[np.float64], outbound: NDArray[np.int64], inbound: NDArray[np.int64]
    ) -> NDArray[np.float64]:
        vals = []
        n = self.pair_start.size - 1
        for j in range(n):
            vals.append((np.arange(1, int(self.top_s[j]) + 1) <= outbound[j]).astype(np.float64))
        for j in range(n):
            vals.append((np.arange(1, int(self.top_si[j]) + 1) <= inbound[j]).astype(np.float64))
        return np.concatenate(vals) if vals else np.zeros(0)


def build_assignment_mip(
    data: GSMData,
    pairs: list[tuple[NDArray[np.int64], NDArray[np.int64]]] | None = None,
    *,
    integer: bool = True,
) -> AssignmentMip:
    """Build the assignment MIP (``integer=False``: its LP relaxation).

    Parameters
    ----------
    data
        Prepared instance arrays.
    pairs
        Optional subset ``(s, si)`` of the feasible pairs per stage (a restricted master for
        column generation; it must contain a feasible point). Default: all pairs.
    integer
        Declare the pair columns binary.
    """
    n = data.n
    ps, psi, start = [], [], [0]
    for j in range(n):
        s, si = _pairs(data, j) if pairs is None else pairs[j]
        ps.append(s)
        psi.append(si)
        start.append(start[-1] + s.size)
    pair_s = np.concatenate(ps)
    pair_si = np.concatenate(psi)
    npairs = int(start[-1])
    pair_start = np.array(start, dtype=np.int64)
    owner = np.repeat(np.arange(n), np.diff(pair_start))
    tau = pair_si + data.lead_time[owner] - pair_s
    if data.ss_table is None:
        pair_cost = data.unit_cost[owner] * np.sqrt(tau.astype(np.float64))
    else:
        pair_cost = np.concatenate(
            [data.stage_cost(j, tau[start[j] : start[j + 1]]) for j in range(n)]
        )

    # Cumulative columns: U_{j,v} for v = 1..top_s_j, then W_{j,v} for v = 1..top_si_j.
    top_s = data.s_max.astype(np.int64)
    top_si = data.si_max.astype(np.int64)
    u_start = npairs + np.concatenate(([0], np.cumsum(top_s)))
    w_start = int(u_start[-1]) + np.concatenate(([0], np.cumsum(top_si)))
    ncol = int(w_start[-1])

    rows: list[NDArray[np.int64]] = []
    cols: list[NDArray[np.int64]] = []
    vals: list[NDArray[np.float64]] = []
    rlo: list[NDArray[np.float64]] = []
    rhi: list[NDArray[np.float64]] = []
    nrow = 0

    # sum_p x_jp = 1
    rows.append(owner.astype(np.int64))
    cols.append(np.arange(npairs, dtype=np.int64))
    vals.append(np.ones(npairs))
    rlo.append(np.ones(n))
    rhi.append(np.ones(n))
    nrow += n

    def link(values: NDArray[np.int64], top: NDArray[np.int64], cstart: NDArray[np.int64]) -> None:
        """Rows C_{j,v} - C_{j,v+1} - sum_{p: value_p = v} x_jp = 0 for v = 1..top_j.

        (C_{j,0} = 1 is implicit: sum_p x = 1 covers v = 0.)
        """
        nonlocal nrow
        for j in range(n):
            t = int(top[j])
            if t == 0:
                continue
            r0 = nrow
            a, b = int(pair_start[j]), int(pair_start[j + 1])
            v = values[a:b]
            sel = v >= 1
            rows.append(r0 + v[sel] - 1)
            cols.append(np.arange(a, b, dtype=np.int64)[sel])
            vals.append(-np.ones(int(sel.sum())))
            c = int(cstart[j]) + np.arange(t, dtype=np.int64)
            rows.append(r0 + np.arange(t, dtype=np.int64))
            cols.append(c)
            vals.append(np.ones(t))
            if t > 1:
                rows.append(r0 + np.arange(t - 1, dtype=np.int64))
                cols.append(c[1:])
                vals.append(-np.ones(t - 1))
            rlo.append(np.zeros(t))
            rhi.append(np.zeros(t))
            nrow += t

    u_row = nrow + np.concatenate(([0], np.cumsum(top_s)[:-1]))
    link(pair_s, top_s, u_start)
    w_row = nrow + np.concatenate(([0], np.cumsum(top_si)[:-1]))
    link(pair_si, top_si, w_start)

    # arcs i -> j: U_{i,v} - W_{j,v} <= 0 for v = 1..top_s_i
    for i, j in zip(data.source.tolist(), data.target.tolist(), strict=True):
        t = int(top_s[i])
        if t == 0:
            continue
        r = nrow + np.arange(t, dtype=np.int64)
        v = np.arange(t, dtype=np.int64)
        rows += [r, r]
        cols += [int(u_start[i]) + v, int(w_start[j]) + v]
        vals += [np.ones(t), -np.ones(t)]
        # W_{j,v} exists for v <= top_si_j; top_s_i <= L_i <= E_j = top_si_j
        rlo.append(np.full(t, -INF))
        rhi.append(np.zeros(t))
        nrow += t

    cat = np.concatenate
    indptr, indices, data_ = csr_from_triplets(cat(rows), cat(cols), cat(vals), nrow)
    integrality = np.zeros(ncol, dtype=np.int8)
    if integer:
        integrality[:npairs] = 1
    lp = LinearProgram(
        cost=np.concatenate((pair_cost, np.zeros(ncol - npairs))),
        col_lower=np.zeros(ncol),
        col_upper=np.ones(ncol),
        row_lower=cat(rlo).astype(np.float64),
        row_upper=cat(rhi).astype(np.float64),
        indptr=indptr,
        indices=indices,
        data=data_,
        integrality=integrality,
    )
    return AssignmentMip(
        lp=lp,
        pair_start=pair_start,
        pair_s=pair_s,
        pair_si=pair_si,
        top_s=top_s,
        top_si=top_si,
        u_row=u_row,
        w_row=w_row,
    )


def threshold_roundings(
    mip: AssignmentMip, x: NDArray[np.float64], *, max_thresholds: int = 64
) -> list[NDArray[np.int64]]:
    """Feasible outbound service times from a fractional solution by threshold rounding.

    For :math:`\\theta \\in (0, 1]` set :math:`S_j(\\theta) = \\#\\{v \\ge 1 : U_{jv} \\ge
    \\theta\\}` and :math:`SI_j(\\theta)` alike from ``W``. Arc rows :math:`U_{iv} \\le W_{jv}`
    give :math:`S_i(\\theta) \\le SI_j(\\theta)`, and :math:`s \\le \\sigma + T_j` on every pair
    gives :math:`S_j(\\theta) \\le SI_j(\\theta) + T_j`, so every threshold yields a feasible
    point (one :math:`\\theta` for all stages). Returns the distinct ``S`` vectors for up to
    ``max_thresholds`` thresholds (quantiles of the fractional values).
    """
    n = mip.pair_start.size - 1
    npairs = int(mip.pair_start[-1])
    top_s = mip.top_s
    u = np.clip(x[npairs : npairs + int(top_s.sum())], 0.0, 1.0)
    frac = np.unique(u[(u > 1e-9) & (u < 1 - 1e-9)])
    thetas = np.concatenate(
        ([1.0 - 1e-9, 1e-9 + 0.5], frac[:: max(1, frac.size // max_thresholds)])
    )
    owner = np.repeat(np.arange(n), top_s)
    out: list[NDArray[np.int64]] = []
    seen: set[bytes] = set()
    for th in np.unique(thetas):
        s = np.bincount(owner, weights=(u >= th - 1e-9).astype(np.float64), minlength=n)
        s = np.rint(s).astype(np.int64)
        key = s.tobytes()
        if key not in seen:
            seen.add(key)
            out.append(s)
    return out


def initial_pairs(
    data: GSMData, points: list[tuple[NDArray[np.int64], NDArray[np.int64]]]
) -> list[tuple[NDArray[np.int64], NDArray[np.int64]]]:
    """A small pair set per stage for column generation.

    Per stage: the pairs of the given feasible ``(S, SI)`` points (so the restricted LP is
    feasible), every pair with :math:`S_j = 0` and every pair with :math:`\\tau_j = 0`.
    """
    out = []
    for j in range(data.n):
        si = np.arange(int(data.external[j]), int(data.si_max[j]) + 1, dtype=np.int64)
        t = int(data.lead_time[j])
        zero_tau = si + t
        keep = zero_tau <= data.s_max[j]
        cand_s = [np.zeros_like(si), zero_tau[keep]]
        cand_si = [si, si[keep]]
        for s_pt, si_pt in points:
            cand_s.append(np.array([s_pt[j]], dtype=np.int64))
            cand_si.append(np.array([si_pt[j]], dtype=np.int64))
        grid = np.unique(np.stack((np.concatenate(cand_s), np.concatenate(cand_si))), axis=1)
        out.append((grid[0].astype(np.int64), grid[1].astype(np.int64)))
    return out


def price_pairs(
    data: GSMData,
    mip: AssignmentMip,
    row_dual: NDArray[np.float64],
    *,
    per_stage: int = 8,
    tol: float = 1e-9,
) -> tuple[float, list[tuple[NDArray[np.int64], NDArray[np.int64]]], int]:
    """Price every feasible pair against the duals of a restricted LP.

    Reduced cost of pair :math:`(s, \\sigma)` at stage ``j``:
    :math:`c_{j}(s, \\sigma) - y_j + y^U_{j,s} + y^W_{j,\\sigma}` (``y`` the row duals of the
    convexity and link rows; :math:`y^U_{j,0} = y^W_{j,0} = 0`).

    Returns
    -------
    tuple
        ``(sum_j min(0, min_p rc_jp), pairs to add per stage, number added)``; the restricted
        LP value plus the first entry is a lower bound on the full LP (and so on the GSM).
    """
    add: list[tuple[NDArray[np.int64], NDArray[np.int64]]] = []
    total = 0.0
    count = 0
    for j in range(data.n):
        ts, tsi = int(mip.top_s[j]), int(mip.top_si[j])
        ext, t = int(data.external[j]), int(data.lead_time[j])
        s = np.arange(ts + 1)[:, None]
        si = np.arange(ext, tsi + 1)[None, :]
        tau = si + t - s
        yu = np.concatenate(([0.0], row_dual[int(mip.u_row[j]) : int(mip.u_row[j]) + ts]))
        yw = np.concatenate(([0.0], row_dual[int(mip.w_row[j]) : int(mip.w_row[j]) + tsi]))
        rc = (
            np.where(tau >= 0, data.stage_cost(j, tau), 0.0)
            - row_dual[j]
            + yu[:, None]
            + yw[ext : tsi + 1][None, :]
        )
        rc = np.where(tau >= 0, rc, np.inf)
        a, b = int(mip.pair_start[j]), int(mip.pair_start[j + 1])
        rc[mip.pair_s[a:b], mip.pair_si[a:b] - ext] = np.inf  # already in the master
        flat = rc.ravel()
        k = min(per_stage, flat.size)
        idx = np.argpartition(flat, k - 1)[:k] if k < flat.size else np.arange(flat.size)
        idx = idx[flat[idx] < -tol]
        low = float(flat.min()) if flat.size else 0.0
        total += min(0.0, low) if np.isfinite(low) else 0.0
        r, c = np.unravel_index(idx, rc.shape)
        add.append((r.astype(np.int64), (c + ext).astype(np.int64)))
        count += int(idx.size)
    return total, add, count


def merge_pairs(
    base: list[tuple[NDArray[np.int64], NDArray[np.int64]]],
    extra: list[tuple[NDArray[np.int64], NDArray[np.int64]]],
) -> list[tuple[NDArray[np.int64], NDArray[np.int64]]]:
    """Union of two pair sets, stage by stage."""
    out = []
    for (s0, i0), (s1, i1) in zip(base, extra, strict=True):
        g = np.unique(np.stack((np.concatenate((s0, s1)), np.concatenate((i0, i1)))), axis=1)
        out.append((g[0].astype(np.int64), g[1].astype(np.int64)))
    return out
