r"""A block-angular interior point for the coupled capacity LP (no plant structure).

The capacity LP built by :func:`optim.models.capacity.lp.build` (cost mode, no lot sizing, no
fill-rate floors) is block-angular: each product's inventory-balance rows (one per period) and
demand rows (one per pair and period that may ship in several periods) involve only that
product's columns, and the products are linked only by the capacity rows (one per resource
and period). General interior-point codes (HiGHS IPX) solve the normal equations
:math:`A\Theta A^\top \Delta y = r` iteratively and lose on the dense coupling; here they are
solved directly, exploiting the structure:

* every column lies in at most one demand row, so the demand rows' block of
  :math:`M = A\Theta A^\top` is diagonal and is eliminated first;
* what is left of each product is a dense :math:`|T| \times |T|` block (its balance rows),
  inverted for all products at once (batched LAPACK);
* a production column :math:`x_{jt}` meets the balance row of period :math:`t` and the
  capacity rows of period :math:`t` only, so the coupling of product :math:`p` with the
  capacity rows is :math:`g_{prt}` and its Schur-complement term is
  :math:`g_{prt}\,H_{p,tt'}\,g_{pr't'}`; the Schur complement on the :math:`|R||T|` capacity
  rows is assembled densely and factored by LAPACK Cholesky.

The method is Mehrotra's predictor-corrector (with up to two of Gondzio's centrality
correctors per iteration, each kept only if it lengthens the step) on the LP in the form
:math:`\min c^\top x,\ Ax = b,\ 0 \le x \le u` (inequality rows get a slack column, columns
are shifted/negated to a zero lower bound, fixed columns are substituted), stopping at
relative primal and dual infeasibility ``tol`` and relative duality gap ``gap_tol``. The
answer is the interior point itself (no crossover): the objective is within the reached gap
of the optimum, and the row duals are optimal duals within the reached dual infeasibility
and gap — where the LP is dual degenerate they are a point inside the optimal dual face (its
analytic centre's limit), not necessarily a vertex's basic duals.

:func:`structured` tells whether a built model has this structure (``None`` otherwise: the
caller keeps HiGHS).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np
import scipy.linalg as sla
from numpy.typing import NDArray
from scipy import sparse

from optim.instances.gate import memory_limit
from optim.models.capacity.lp import CapacityLP
from optim.models.problem import INF

F = NDArray[np.float64]
Int = NDArray[np.int64]

_B, _D, _L = 0, 1, 2  # row classes: balance (product block), demand (diagonal), linking


def _bincount(idx: Int, weights: F, n: int) -> F:
    return np.bincount(idx, weights, minlength=n).astype(np.float64, copy=False)


class NotStructured(ValueError):
    """The model is not block-angular in the way this method needs."""


@dataclass
class IpmResult:
    """Outcome of :func:`solve`: primal ``x`` and row duals in HiGHS's convention."""

    status: str  # "optimal" | "iteration_limit" | "time_limit" | "numerical"
    x: F
    row_dual: F
    objective: float  # primal objective c'x + offset
    dual_objective: float  # the dual bound (b'y - u'w + offset)
    iterations: int
    primal_infeasibility: float  # relative: ||b - Ax|| / (1 + ||b||) (bounds kept exactly)
    dual_infeasibility: float  # relative: ||c - A'y - z + w|| / (1 + ||c||)
    gap: float  # |primal - dual| / (1 + |primal|)
    seconds: float


@dataclass
class _Form:
    """The LP as min c'x, Ax = b, 0 <= x <= u (u may be inf) and the way back."""

    a: sparse.csr_matrix  # m x n
    b: F
    c: F
    u: F
    const: float
    keep: Int  # columns of the extended problem (original + slacks) kept
    sign: F  # per extended column: +1 (x = lo + v) or -1 (x = hi - v)
    base: F  # per extended column: lo or hi
    fixed_value: F  # per extended column: value of a fixed column (else 0)
    n_orig: int


def _standard_form(model: CapacityLP) -> _Form:
    lp = model.lp
    m, n = lp.num_rows, lp.num_cols
    a = sparse.csr_matrix((lp.data, lp.indices, lp.indptr), shape=(m, n))
    ineq = np.flatnonzero(lp.row_lower != lp.row_upper)
    slack = sparse.csr_matrix(
        (-np.ones(ineq.size), (ineq, np.arange(ineq.size))), shape=(m, ineq.size)
    )
    ext = sparse.hstack([a, slack], format="csc")
    lo = np.concatenate([lp.col_lower, lp.row_lower[ineq]])
    hi = np.concatenate([lp.col_upper, lp.row_upper[ineq]])
    c = np.concatenate([lp.cost, np.zeros(ineq.size)])
    b = np.where(lp.row_lower == lp.row_upper, lp.row_lower, 0.0)
    lo_fin, hi_fin = lo > -INF, hi < INF
    if np.any(~lo_fin & ~hi_fin):
        raise NotStructured("free columns")
    fixed = lo_fin & hi_fin & (hi - lo <= 0.0)
    sign = np.where(lo_fin, 1.0, -1.0)
    base = np.where(lo_fin, lo, hi)
    fixed_value = np.where(fixed, lo, 0.0)
    # x = base + sign * v: c'x = c'base + (sign c)'v ; A x = A base + (A sign) v
    shift = np.where(fixed, lo, base)
    b = b - ext @ shift
    const = lp.offset + float(c @ shift)
    keep = np.flatnonzero(~fixed)
    a_k = (ext[:, keep] @ sparse.diags(sign[keep])).tocsr()
    u = np.where(lo_fin & hi_fin, hi - lo, INF)[keep]
    return _Form(
        a=a_k,
        b=b,
        c=(sign * c)[keep],
        u=u,
        const=const,
        keep=keep,
        sign=sign,
        base=base,
        fixed_value=fixed_value,
        n_orig=n,
    )


class _Normal:
    """Direct solver of (A Θ A') y = r for the block-angular capacity structure."""

    def __init__(self, model: CapacityLP, a: sparse.csr_matrix) -> None:
        data = model.data
        nt, nr, np_ = len(data.periods), len(data.resources), len(data.products)
        m = a.shape[0]
        cap0, ncap = model.cap_row0, nr * nt
        if m != cap0 + ncap:
            raise NotStructured("rows after the capacity rows (floors, lot sizing)")
        # the dense per-product blocks (P × T × T floats, about four copies while factoring)
        # must fit the memory limit, estimated before any is allocated; beyond it HiGHS takes
        # the sparse LP (a 65 kB document of 1,000 products × 1,000 periods asked for 7.45 GiB
        # per copy and ended in a MemoryError, exit 1)
        need = 4 * 8 * np_ * nt * nt
        limit = memory_limit()
        if need > limit:
            raise NotStructured(
                f"dense blocks of {need / 2**30:,.1f} GiB exceed the memory limit "
                f"({limit / 2**30:,.0f} GiB)"
            )
        nbal = np_ * nt
        cls = np.full(m, _D, dtype=np.int64)
        cls[:nbal] = _B
        cls[cap0:] = _L
        self.nt, self.np, self.nl, self.m = nt, np_, ncap, m
        self.nbal, self.cap0 = nbal, cap0
        dindex = np.full(m, -1, dtype=np.int64)
        dindex[nbal:cap0] = np.arange(cap0 - nbal)
        self.nd = cap0 - nbal
        self.a = a
        self.at = a.T.tocsr()
        # every pair of rows (i, j) meeting in a column k: M_ij = sum a_ik a_jk θ_k
        csc = a.tocsc()
        cnt = np.diff(csc.indptr)
        ent_col = np.repeat(np.arange(a.shape[1]), cnt)
        reps = cnt[ent_col]
        ei = np.repeat(np.arange(csc.nnz), reps)
        start = np.repeat(csc.indptr[ent_col], reps)
        first = np.repeat(np.cumsum(reps) - reps, reps)
        ej = start + (np.arange(ei.size) - first)
        ri, rj = csc.indices[ei].astype(np.int64), csc.indices[ej].astype(np.int64)
        coef = csc.data[ei] * csc.data[ej]
        col = ent_col[ei]
        ci, cj = cls[ri], cls[rj]
        if np.any((ci == _D) & (cj == _L)):
            raise NotStructured("a demand row meets a linking row")
        dd = (ci == _D) & (cj == _D)
        if np.any(ri[dd] != rj[dd]):
            raise NotStructured("two demand rows share a column")
        self.dd_idx, self.dd_coef, self.dd_col = dindex[ri[dd]], coef[dd], col[dd]
        # balance-demand entries (i in B, j in D): unique pairs
        bd = (ci == _B) & (cj == _D)
        key = ri[bd] * m + rj[bd]
        ukey, inv = np.unique(key, return_inverse=True)
        self.bd_pair, self.bd_coef, self.bd_col = inv, coef[bd], col[bd]
        self.nbd = ukey.size
        bd_b, bd_d = ukey // m, dindex[ukey % m]
        self.bd_b, self.bd_d = bd_b, bd_d
        # pairs of balance rows meeting in one demand row: correction -e_i e_j / d
        order = np.argsort(bd_d, kind="stable")
        dcnt = np.bincount(bd_d, minlength=self.nd)
        g_of = np.repeat(np.arange(self.nd), dcnt)  # demand row of each sorted entry
        reps2 = dcnt[g_of]
        pi = np.repeat(np.arange(order.size), reps2)
        st = np.repeat(np.cumsum(dcnt)[g_of] - dcnt[g_of], reps2)
        fi = np.repeat(np.cumsum(reps2) - reps2, reps2)
        pj = st + (np.arange(pi.size) - fi)
        self.cr_i, self.cr_j = order[pi], order[pj]
        self.cr_d = bd_d[self.cr_i]
        b1, b2 = bd_b[self.cr_i], bd_b[self.cr_j]
        if np.any(b1 // nt != b2 // nt):
            raise NotStructured("a demand row meets two products")
        self.cr_flat = (b1 // nt) * nt * nt + (b1 % nt) * nt + (b2 % nt)
        # balance-balance within a product
        bb = (ci == _B) & (cj == _B)
        if np.any(ri[bb] // nt != rj[bb] // nt):
            raise NotStructured("a column meets two products' balance rows")
        self.bb_flat = (ri[bb] // nt) * nt * nt + (ri[bb] % nt) * nt + (rj[bb] % nt)
        self.bb_coef, self.bb_col = coef[bb], col[bb]
        # balance-linking: (p, t) with capacity row (r, t) only
        bl = (ci == _B) & (cj == _L)
        p_of, t_b = ri[bl] // nt, ri[bl] % nt
        lrow = rj[bl] - cap0
        r_of, t_l = lrow // nt, lrow % nt
        if np.any(t_b != t_l):
            raise NotStructured("a column meets different periods' balance and capacity rows")
        pr = np.unique(p_of * nr + r_of)
        pp, rr = pr // nr, pr % nr
        per = np.bincount(pp, minlength=np_)
        self.nslot = max(int(per.max(initial=0)), 1)
        slot_start = np.cumsum(per) - per
        slot = np.arange(pr.size) - slot_start[pp]
        self.res = np.zeros((np_, self.nslot), dtype=np.int64)  # padded slots: resource 0
        self.res[pp, slot] = rr
        self.has = np.zeros((np_, self.nslot), dtype=bool)
        self.has[pp, slot] = True
        slot_of = np.searchsorted(pr, p_of * nr + r_of) - slot_start[p_of]
        self.bl_flat = (p_of * self.nslot + slot_of) * nt + t_b
        self.bl_coef, self.bl_col = coef[bl], col[bl]
        ll = (ci == _L) & (cj == _L)
        li, lj = ri[ll] - cap0, rj[ll] - cap0  # (r, t) x (r', t'), stored as blocks [r, r', t, t']
        self.ll_flat = ((li // nt * nr + lj // nt) * nt + li % nt) * nt + lj % nt
        self.ll_coef, self.ll_col = coef[ll], col[ll]
        # Schur complement: product p adds diag(g_pa) H_p diag(g_pb) to the block of its
        # resources (r_a, r_b); the (p, a, b) triples are grouped by resource pair
        self._rowbase = self.res[:, :, None] * nt + np.arange(nt)[None, None, :]  # (P, S, T)
        upper = (
            self.res[:, :, None] <= self.res[:, None, :]
        )  # the (r_b, r_a) block is its transpose
        tp, ta, tb = np.nonzero(self.has[:, :, None] & self.has[:, None, :] & upper)
        key = self.res[tp, ta] * nr + self.res[tp, tb]
        order = np.argsort(key, kind="stable")
        self.tp, self.ta, self.tb = tp[order], ta[order], tb[order]
        ukey, self.tstart = np.unique(key[order], return_index=True)
        self.pair_a, self.pair_b = ukey // nr, ukey % nr
        self.nr = nr
        # chunks of whole groups, ~2,000 triples each (bounded memory)
        cuts = [0]
        for st in self.tstart[1:]:
            if st - self.tstart[cuts[-1]] >= 2000:
                cuts.append(int(np.searchsorted(self.tstart, st)))
        self.gchunks = [*cuts, ukey.size]

    def factor(self, theta: F, reg: float = 0.0) -> None:
        nt, np_ = self.nt, self.np
        w = theta
        self.dD = _bincount(self.dd_idx, self.dd_coef * w[self.dd_col], self.nd) + reg
        self.e = _bincount(self.bd_pair, self.bd_coef * w[self.bd_col], self.nbd)
        blk = _bincount(self.bb_flat, self.bb_coef * w[self.bb_col], np_ * nt * nt)
        corr = self.e[self.cr_i] * self.e[self.cr_j] / self.dD[self.cr_d]
        blk -= _bincount(self.cr_flat, corr, np_ * nt * nt)
        blk = blk.reshape(np_, nt, nt)
        if reg:
            blk[:, np.arange(nt), np.arange(nt)] += reg
        self.h = np.linalg.inv(blk)  # (P, T, T)
        g = _bincount(self.bl_flat, self.bl_coef * w[self.bl_col], self.res.size * nt)
        self.g = g.reshape(np_, self.nslot, nt)
        nr = self.nr
        blocks = _bincount(self.ll_flat, self.ll_coef * w[self.ll_col], self.nl * self.nl)
        blocks = blocks.reshape(nr, nr, nt, nt)
        for k0, k1 in zip(self.gchunks[:-1], self.gchunks[1:], strict=True):
            i0 = self.tstart[k0]
            i1 = self.tstart[k1] if k1 < self.tstart.size else self.tp.size
            tp, ta, tb = self.tp[i0:i1], self.ta[i0:i1], self.tb[i0:i1]
            c = self.g[tp, ta, :, None] * self.h[tp] * self.g[tp, tb, None, :]
            sums = np.add.reduceat(c, self.tstart[k0:k1] - i0, axis=0)
            pa, pb = self.pair_a[k0:k1], self.pair_b[k0:k1]
            blocks[pa, pb] -= sums
            off = pa != pb
            blocks[pb[off], pa[off]] -= sums[off].transpose(0, 2, 1)
        s = blocks.transpose(0, 2, 1, 3).reshape(self.nl, self.nl)
        if reg:
            s[np.arange(self.nl), np.arange(self.nl)] += reg
        self.chol = (np.linalg.cholesky(s).T, False)  # upper factor, Fortran order: no copy

    def _bd_apply(self, y_d: F) -> F:
        """M_BD y_D on the balance rows."""
        return _bincount(self.bd_b, self.e * y_d[self.bd_d], self.nbal)

    def _db_apply(self, y_b: F) -> F:
        return _bincount(self.bd_d, self.e * y_b[self.bd_b], self.nd)

    def _gt(self, v_b: F) -> F:
        """G' v: balance-row vector to the capacity rows."""
        gv = self.g * v_b.reshape(self.np, 1, self.nt)
        return _bincount(self._rowbase.ravel(), gv.ravel(), self.nl)

    def _g(self, y_l: F) -> F:
        return (self.g * y_l[self._rowbase]).sum(axis=1).ravel()

    def _hsolve(self, v_b: F) -> F:
        return np.einsum("ptu,pu->pt", self.h, v_b.reshape(self.np, self.nt)).ravel()

    def solve(self, r: F) -> F:
        nbal, cap0 = self.nbal, self.cap0
        r_b, r_d, r_l = r[:nbal], r[nbal:cap0], r[cap0:]
        rb2 = r_b - self._bd_apply(r_d / self.dD)
        k_rb = self._hsolve(rb2)
        y_l = sla.cho_solve(self.chol, r_l - self._gt(k_rb), check_finite=False)
        y_b = self._hsolve(rb2 - self._g(y_l))
        y_d = (r_d - self._db_apply(y_b)) / self.dD
        return np.concatenate([y_b, y_d, y_l])

    def apply(self, theta: F, y: F) -> F:
        """(A Θ A') y, for iterative refinement."""
        return self.a @ (theta * (self.at @ y))


def structured(model: CapacityLP) -> bool:
    """Whether ``model`` has the block-angular structure :func:`solve` needs."""
    if model.lp.integrality is not None and np.any(model.lp.integrality):
        return False
    if model.u0 >= 0 or np.any(model.floor_rows >= 0) or model.e_cols.size:
        return False
    try:
        _Normal(model, _standard_form(model).a)
    except NotStructured:
        return False
    return True


def _steps(p: _Point, d: _Point) -> tuple[float, float]:
    """Longest primal and dual steps (at most 1) that keep ``p + step * d`` nonnegative."""
    return min(_step(p.x, d.x), _step(p.s, d.s)), min(_step(p.z, d.z), _step(p.w, d.w))


def _step(v: F, dv: F) -> float:
    neg = dv < 0
    if not np.any(neg):
        return 1.0
    return float(min(1.0, np.min(-v[neg] / dv[neg])))


@dataclass
class _Point:
    """An iterate: x (columns), s = u - x on the upper-bounded columns ``up``, duals y, z, w."""

    x: F
    s: F
    y: F
    z: F
    w: F


@dataclass
class _Newton:
    """One iteration's linear system: residuals, the scaling Θ and its factored normal matrix."""

    form: _Form
    ne: _Normal
    up: Int
    theta: F
    rb: F
    rc: F
    ru: F

    def direction(self, p: _Point, rxz: F, rsw: F) -> _Point:
        """Newton step with complementarity right-hand sides ``rxz`` (x, z) and ``rsw`` (s, w)."""
        a, ne, up, theta = self.form.a, self.ne, self.up, self.theta
        rhat = self.rc - rxz / p.x
        rhat[up] += (rsw - p.w * self.ru) / p.s
        rhs = self.rb + a @ (theta * rhat)
        dy = ne.solve(rhs)
        for _ in range(2):  # iterative refinement of the normal equations
            res = rhs - ne.apply(theta, dy)
            if np.linalg.norm(res) <= 1e-12 * (1.0 + np.linalg.norm(rhs)):
                break
            dy += ne.solve(res)
        dx = theta * (ne.at @ dy - rhat)
        ds = self.ru - dx[up]
        return _Point(dx, ds, dy, (rxz - p.z * dx) / p.x, (rsw - p.w * ds) / p.s)


def _start(form: _Form, ne: _Normal, up: Int) -> _Point:
    """Mehrotra's starting point (least-norm x and least-squares y), shifted inside the box."""
    a, b, c, uu = form.a, form.b, form.c, form.u[up]
    ne.factor(np.ones(a.shape[1]), reg=1e-8)
    x = ne.at @ ne.solve(b)
    y = ne.solve(a @ c)
    rz = c - ne.at @ y
    x = x + max(-1.5 * float(x.min(initial=0.0)), 0.0)
    if up.size:
        x[up] = np.clip(x[up], 0.05 * uu, 0.95 * uu)
    zscale = max(1.0, float(np.abs(c).max(initial=0.0)))
    z = np.maximum(np.abs(rz), 0.1 * zscale)
    w = np.maximum(-rz[up], 0.0) + 0.1 * zscale
    return _Point(x, uu - x[up], y, z, w)


@np.errstate(over="ignore", invalid="ignore", divide="ignore")  # non-finite: "numerical"
def solve(
    model: CapacityLP,
    *,
    tol: float = 1e-8,
    gap_tol: float = 1e-8,
    max_iter: int = 150,
    time_limit: float | None = None,
    correctors: int = 2,
) -> IpmResult:
    """Solve the capacity LP of ``model`` by the block-angular interior point.

    Stops when the relative primal and dual infeasibilities are at most ``tol`` and the
    duality gap, relative to the reported cost (the objective with its constant), at most
    ``gap_tol`` (status ``"optimal"``), at ``max_iter`` iterations, at ``time_limit`` seconds,
    or when the normal matrix cannot be factored even with a regularisation of 1e-2 of Θ's
    largest entry, five steps in a row are shorter than 1e-6, or the iterate is no longer
    finite (``"numerical"``; an iterate that overflowed ran on as NaN to ``max_iter``, with
    numpy's overflow warnings on the console: seed 2284 of the random test).
    Raises :class:`NotStructured` where the model is not block-angular as required.
    """
    t0 = time.perf_counter()
    form = _standard_form(model)
    a, b, c, u = form.a, form.b, form.c, form.u
    ne = _Normal(model, a)
    up = np.flatnonzero(u < INF)
    uu = u[up]
    p = _start(form, ne, up)
    nb, nc, nu_ = 1.0 + np.linalg.norm(b), 1.0 + np.linalg.norm(c), 1.0 + np.linalg.norm(uu)
    status = "iteration_limit"
    iterations = stalls = 0
    pinf = dinf = gap = np.inf
    pobj = dobj = np.nan
    big_n = a.shape[1] + up.size
    while True:
        rb = b - a @ p.x
        rc = c - ne.at @ p.y - p.z
        rc[up] += p.w
        ru = uu - p.x[up] - p.s
        pobj = float(c @ p.x)
        dobj = float(b @ p.y - uu @ p.w)
        pinf = float(max(np.linalg.norm(rb) / nb, np.linalg.norm(ru) / nu_))
        dinf = float(np.linalg.norm(rc) / nc)
        gap = abs(pobj - dobj) / (1.0 + abs(pobj + form.const))  # of the reported cost
        if not all(map(math.isfinite, (pinf, dinf, gap))):
            status = "numerical"
            break
        if pinf <= tol and dinf <= tol and gap <= gap_tol:
            status = "optimal"
            break
        if iterations >= max_iter:
            break
        if time_limit is not None and time.perf_counter() - t0 > time_limit:
            status = "time_limit"
            break
        iterations += 1
        mu = (float(p.x @ p.z) + float(p.s @ p.w)) / big_n
        d_inv = p.z / p.x
        d_inv[up] += p.w / p.s
        theta = 1.0 / d_inv
        if not _factor(ne, theta):
            status = "numerical"
            break
        newton = _Newton(form, ne, up, theta, rb, rc, ru)
        aff = newton.direction(p, -p.x * p.z, -p.s * p.w)
        ap, ad = _steps(p, aff)
        mu_aff = (
            float((p.x + ap * aff.x) @ (p.z + ad * aff.z))
            + float((p.s + ap * aff.s) @ (p.w + ad * aff.w))
        ) / big_n
        sigma = (mu_aff / mu) ** 3
        rxz = sigma * mu - p.x * p.z - aff.x * aff.z
        rsw = sigma * mu - p.s * p.w - aff.s * aff.w
        d = newton.direction(p, rxz, rsw)
        ap, ad = _steps(p, d)
        for _ in range(correctors):  # Gondzio's centrality correctors
            tp, td = min(1.0, 1.5 * ap + 0.1), min(1.0, 1.5 * ad + 0.1)
            vxz = (p.x + tp * d.x) * (p.z + td * d.z)
            vsw = (p.s + tp * d.s) * (p.w + td * d.w)
            lo_t, hi_t = 0.1 * sigma * mu, 10.0 * sigma * mu
            txz = np.maximum(np.clip(vxz, lo_t, hi_t) - vxz, -hi_t)
            tsw = np.maximum(np.clip(vsw, lo_t, hi_t) - vsw, -hi_t)
            d2 = newton.direction(p, rxz + txz, rsw + tsw)
            ap2, ad2 = _steps(p, d2)
            if ap2 + ad2 < 1.01 * (ap + ad):
                break
            d, ap, ad, rxz, rsw = d2, ap2, ad2, rxz + txz, rsw + tsw
        eta = 0.9995
        ap, ad = eta * ap, eta * ad
        stalls = stalls + 1 if max(ap, ad) < 1e-6 else 0
        if stalls >= 5:
            status = "numerical"
            break
        p = _Point(p.x + ap * d.x, p.s + ap * d.s, p.y + ad * d.y, p.z + ad * d.z, p.w + ad * d.w)
    # back to the original columns
    v = np.zeros(form.sign.size)
    v[form.keep] = p.x
    full = form.fixed_value.copy()
    full[form.keep] = (form.base + form.sign * v)[form.keep]
    return IpmResult(
        status=status,
        x=full[: form.n_orig],
        row_dual=p.y,
        objective=pobj + form.const,
        dual_objective=dobj + form.const,
        iterations=iterations,
        primal_infeasibility=float(pinf),
        dual_infeasibility=float(dinf),
        gap=float(gap),
        seconds=time.perf_counter() - t0,
    )


def _factor(ne: _Normal, theta: F) -> bool:
    """Factor A Θ A'; on a failed Cholesky retry with a growing diagonal regularisation."""
    reg = 0.0
    while True:
        try:
            ne.factor(theta, reg)
            return True
        except np.linalg.LinAlgError:
            reg = max(reg * 100.0, 1e-12 * float(np.max(theta)))
            if reg > 1e-2 * float(np.max(theta)):
                return False
