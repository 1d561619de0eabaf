"""Graves–Willems dynamic program on spanning trees (forests), vectorised over service times.

Root each tree of the forest anywhere and process the stages children first. For stage
``k`` with parent ``p`` let :math:`N_k` be ``k`` with everything hanging below it. Write

.. math::

    A_k(x) = \\sum_{c \\to k} \\min_{y \\le x} f_c(y), \\qquad
    B_k(y) = \\sum_{k \\to c} \\min_{x \\ge y} g_c(x),

over the upstream children (:math:`c \\to k`, constraint :math:`S_c \\le SI_k`) and the
downstream children (:math:`k \\to c`, constraint :math:`SI_c \\ge S_k`). With
:math:`c_k(S, SI) = h_k k_k \\sqrt{SI + T_k - S}` (``+inf`` when negative),

.. math::

    f_k(S) = B_k(S) + \\min_{SI} [c_k(S, SI) + A_k(SI)] \\quad (k \\to p),\\qquad
    g_k(SI) = A_k(SI) + \\min_{S} [c_k(S, SI) + B_k(S)] \\quad (p \\to k),

with :math:`S \\in [\\underline S_k, \\overline S_k]`, :math:`SI \\in [\\underline{SI}_k,
\\overline{SI}_k]`. Each stage costs one :math:`(\\overline S_k + 1) \\times
(\\overline{SI}_k + 1)` array operation, so the whole DP is :math:`O(N M^2)` with ``M`` the
longest replenishment time; the prefix/suffix minima are :math:`O(M)` per arc. The optimum is
:math:`\\min_S f_r(S)` at each root ``r``; service times are recovered top-down from stored
arg-minima.

The same routine solves relaxations of general acyclic networks: pass a spanning forest of
the arcs (the other arcs' constraints :math:`SI_j \\ge S_i` are dropped, so the value is a
lower bound, Humair & Willems 2011) and optional bounds on ``S`` and ``SI``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from optim.models.graph import is_forest
from optim.models.safety_stock.data import GSMData

__all__ = ["DPTimeout", "TreeDPResult", "dp_cells", "is_forest", "tree_dp"]


class DPTimeout(Exception):
    """The tree DP passed its deadline (``stages_done`` of ``stages`` processed)."""

    def __init__(self, stages_done: int, stages: int) -> None:
        super().__init__(f"tree DP stopped at its deadline after {stages_done} of {stages} stages")
        self.stages_done, self.stages = stages_done, stages


def dp_cells(data: GSMData) -> NDArray[np.int64]:
    """Cells of the (S, SI) array the tree DP builds per stage: its work and memory."""
    return (data.s_max.astype(np.int64) + 1) * (data.si_max.astype(np.int64) + 1)


INF = float("inf")


@dataclass(frozen=True)
class TreeDPResult:
    """Optimal value and service times of the (possibly relaxed) tree problem.

    ``cost`` is ``inf`` when the bounds leave no feasible point.
    """

    cost: float
    outbound: NDArray[np.int64]
    inbound: NDArray[np.int64]


def _prefix_argmin(v: NDArray[np.float64]) -> NDArray[np.int64]:
    """``out[i] = argmin(v[:i+1])`` (first occurrence)."""
    cm = np.minimum.accumulate(v)
    prev = np.concatenate(([INF], cm[:-1]))
    idx = np.where(v < prev, np.arange(v.size), 0)
    return np.maximum.accumulate(idx)


def _suffix_argmin(v: NDArray[np.float64]) -> NDArray[np.int64]:
    """``out[i] = argmin(v[i:]) + i`` (first occurrence from the right end kept lowest)."""
    r = v[::-1]
    cm = np.minimum.accumulate(r)
    prev = np.concatenate(([INF], cm[:-1]))
    idx = np.where(r <= prev, np.arange(r.size), 0)  # ties: prefer the smaller original index
    return (v.size - 1 - np.maximum.accumulate(idx))[::-1]


def tree_dp(
    data: GSMData,
    arcs: NDArray[np.int64] | None = None,
    *,
    s_lo: NDArray[np.int64] | None = None,
    s_hi: NDArray[np.int64] | None = None,
    si_lo: NDArray[np.int64] | None = None,
    si_hi: NDArray[np.int64] | None = None,
    deadline: float | None = None,
) -> TreeDPResult:
    """Exact optimum of the GSM restricted to the arc subset ``arcs`` (a spanning forest).

    Parameters
    ----------
    data
        Prepared instance arrays.
    arcs
        Positions into ``data.source``/``data.target`` of the arcs to keep (default: all,
        which must then form a forest). Constraints of the other arcs are dropped.
    s_lo, s_hi, si_lo, si_hi
        Optional bounds on :math:`S_j` and :math:`SI_j` (defaults ``0``, ``data.s_max``,
        ``data.external`` and ``data.si_max``).
    deadline
        ``time.perf_counter()`` value after which :class:`DPTimeout` is raised (checked
        after every stage).

    Returns
    -------
    TreeDPResult
        Optimal cost of the restricted problem and service times attaining it.
    """
    n = data.n
    keep = np.arange(data.source.size) if arcs is None else np.asarray(arcs, dtype=np.int64)
    src, tgt = data.source[keep], data.target[keep]
    if not is_forest(n, src, tgt):
        raise ValueError("the arcs do not form a spanning forest (the network is not a tree)")
    slo = np.zeros(n, dtype=np.int64) if s_lo is None else np.maximum(s_lo, 0)
    shi = data.s_max if s_hi is None else np.minimum(s_hi, data.s_max)
    ilo = data.external if si_lo is None else np.maximum(si_lo, data.external)
    ihi = data.si_max if si_hi is None else np.minimum(si_hi, data.si_max)

    # Adjacency with orientation: +1 neighbour is downstream (k -> c), -1 upstream (c -> k).
    adj: list[list[tuple[int, int]]] = [[] for _ in range(n)]
    for i, j in zip(src.tolist(), tgt.tolist(), strict=True):
        adj[i].append((j, 1))
        adj[j].append((i, -1))

    parent = np.full(n, -1, dtype=np.int64)
    up_to_parent = np.zeros(n, dtype=bool)  # True: k -> parent (f_k), False: parent -> k (g_k)
    seen = np.zeros(n, dtype=bool)
    order: list[int] = []
    roots: list[int] = []
    for r in range(n):
        if seen[r]:
            continue
        roots.append(r)
        seen[r] = True
        stack = [r]
        while stack:
            k = stack.pop()
            order.append(k)
            for c, o in adj[k]:
                if not seen[c]:
                    seen[c] = True
                    parent[c] = k
                    up_to_parent[c] = o == -1  # c is upstream of k
                    stack.append(c)

    values: list[NDArray[np.float64] | None] = [None] * n
    arg: list[NDArray[np.int64] | None] = [None] * n  # f: best SI per S; g: best S per SI
    ext_arg: list[NDArray[np.int64] | None] = [None] * n  # prefix (f) / suffix (g) argmin
    ext_val: list[NDArray[np.float64] | None] = [None] * n  # prefix (f) / suffix (g) min
    total = 0.0
    root_choice: dict[int, tuple[int, int]] = {}
    lead = data.lead_time
    for done, k in enumerate(reversed(order)):
        if deadline is not None and time.perf_counter() > deadline:
            raise DPTimeout(done, n)
        ns, ni = int(shi[k]) + 1, int(ihi[k]) + 1
        if ns <= 0 or ni <= 0:
            ns, ni = max(ns, 1), max(ni, 1)
        a = np.zeros(ni)
        b = np.zeros(ns)
        for c, o in adj[k]:
            if c == parent[k]:
                continue
            ev = ext_val[c]
            assert ev is not None
            if o == -1:  # c -> k: S_c <= SI_k
                idx = np.minimum(np.arange(ni), ev.size - 1)
                a += ev[idx]
            else:  # k -> c: SI_c >= S_k
                pad = np.full(max(ns - ev.size, 0), INF)
                b += np.concatenate((ev, pad))[:ns]
        si_idx = np.arange(ni)
        s_idx = np.arange(ns)
        a[(si_idx < ilo[k]) | (si_idx > ihi[k])] = INF
        b[(s_idx < slo[k]) | (s_idx > shi[k])] = INF
        tau = si_idx[None, :] + int(lead[k]) - s_idx[:, None]
        cost = data.stage_cost(k, tau)
        if parent[k] < 0 or up_to_parent[k]:
            m = cost + a[None, :]
            best = m.argmin(axis=1)
            f = m[s_idx, best] + b
            values[k], arg[k] = f, best
            if parent[k] < 0:
                s_star = int(f.argmin())
                total += float(f[s_star])
                root_choice[k] = (s_star, int(best[s_star]))
            else:
                ext_arg[k] = _prefix_argmin(f)
                ext_val[k] = np.minimum.accumulate(f)
        else:
            m = cost + b[:, None]
            best = m.argmin(axis=0)
            g = m[best, si_idx] + a
            values[k], arg[k] = g, best
            ext_arg[k] = _suffix_argmin(g)
            ext_val[k] = np.minimum.accumulate(g[::-1])[::-1]

    out = np.zeros(n, dtype=np.int64)
    inb = np.zeros(n, dtype=np.int64)
    if not np.isfinite(total):
        return TreeDPResult(INF, out, inb)
    for r, (s_star, si_star) in root_choice.items():
        out[r], inb[r] = s_star, si_star
    for k in order:  # parents before children
        p = int(parent[k])
        if p < 0:
            continue
        ea, ar = ext_arg[k], arg[k]
        assert ea is not None and ar is not None
        if up_to_parent[k]:  # k -> p: S_k <= SI_p
            s = int(ea[min(int(inb[p]), ea.size - 1)])
            out[k], inb[k] = s, int(ar[s])
        else:  # p -> k: SI_k >= S_p
            si = int(ea[int(out[p])])
            inb[k], out[k] = si, int(ar[si])
    return TreeDPResult(total, out, inb)
