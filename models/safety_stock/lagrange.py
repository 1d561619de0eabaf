"""Lagrangian relaxation of the arcs outside a spanning forest (lower bound, incumbents).

Keep a spanning forest ``F`` of the arcs; for every other arc :math:`a = i \\to j` the
constraint :math:`S_i \\le SI_j` is written, as in the assignment MIP
(:mod:`optim.models.safety_stock.assignment`), as :math:`[S_i \\ge v] \\le [SI_j \\ge v]` for
:math:`v = 1, \\dots, \\bar S_i`, and dualised with multipliers :math:`\\lambda_{av} \\ge 0`:

.. math::

    L(\\lambda) = \\min_{(S, SI) \\text{ feasible on } F} \\sum_j c_j(S_j, SI_j)
    + \\sum_{a = i \\to j} \\sum_{v=1}^{\\bar S_i} \\lambda_{av}
      \\left([S_i \\ge v] - [SI_j \\ge v]\\right).

The penalty is a nondecreasing function of :math:`S_i` plus a nonincreasing function of
:math:`SI_j`, so the tree DP (:func:`optim.models.safety_stock.dp.tree_dp`, argument
``penalty``) computes :math:`L(\\lambda)` exactly; every feasible point of the GSM has a
penalty :math:`\\le 0`, so :math:`L(\\lambda) \\le` the optimum for every
:math:`\\lambda \\ge 0` (weak duality). At :math:`\\lambda = 0` it is the spanning-forest
bound. Because the pair LP of a tree problem is integral, :math:`\\max_\\lambda L` equals the
LP relaxation of the whole assignment MIP, reached here by tree DPs of milliseconds instead of
an LP with one column per :math:`(S, SI)` pair (639,612 columns on Willems chain 16).

:math:`\\max_\\lambda L` is approached by projected subgradient steps (Polyak step
:math:`\\theta (UB - L) / \\|g\\|^2` with :math:`g_{av} = [S_i \\ge v] - [SI_j \\ge v]` at the
DP's minimiser, :math:`\\theta` halved after ``patience`` steps without a better bound).
Every DP minimiser, completed by :func:`optim.models.safety_stock.data.normalize`, is a
feasible point (Lagrangian heuristic). When :math:`g = 0` the minimiser is feasible with
zero penalty, so the bound equals its cost: proven optimal.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from optim.models.safety_stock.data import GSMData, Solution, normalize
from optim.models.safety_stock.dp import DPTimeout, penalty_offsets, tree_dp

__all__ = ["LagrangeResult", "lagrangian_bound"]


@dataclass(frozen=True)
class LagrangeResult:
    """Best bound :math:`\\max L(\\lambda)` found, best feasible point, work done.

    ``multipliers`` are the :math:`\\lambda` of the best bound (flat, arc by arc, ``v``
    increasing) for a warm start; ``point`` the last DP minimiser ``(S, SI)`` (for
    branching). ``bound`` is ``-inf`` when no DP ran, ``inf`` when the bounds ``s_hi`` /
    ``si_lo`` leave no point; it may exceed ``best.cost`` (a node that can be pruned).
    """

    bound: float
    best: Solution
    iterations: int
    multipliers: NDArray[np.float64]
    point: tuple[NDArray[np.int64], NDArray[np.int64]] | None = None


class _Dual:
    """Index maps of the dualised constraints (one entry per arc outside ``F`` and ``v``)."""

    def __init__(self, data: GSMData, forest: NDArray[np.int64]) -> None:
        drop = np.ones(data.source.size, dtype=bool)
        drop[np.asarray(forest, dtype=np.int64)] = False
        i, j = data.source[drop], data.target[drop]
        top = data.s_max[i].astype(np.int64)
        self.size = int(top.sum())
        arc = np.repeat(np.arange(i.size), top)
        first = np.concatenate(([0], np.cumsum(top)[:-1])).astype(np.int64)
        self.v = np.arange(self.size, dtype=np.int64) - first[arc] + 1  # 1..top
        self.src, self.tgt = i[arc], j[arc]
        self.ps, self.pi = penalty_offsets(data)
        self.s_pos = self.ps[self.src] + self.v
        self.si_pos = self.pi[self.tgt] + self.v
        self.s_owner = np.repeat(np.arange(data.n), np.diff(self.ps))
        self.si_owner = np.repeat(np.arange(data.n), np.diff(self.pi))

    def penalty(self, lam: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """``pen_s[ps[k] + s] = sum over arcs out of k of sum_{v <= s} lam``; ``pen_si`` the
        negated sums over arcs into ``k`` up to ``SI_k``."""
        ds = np.bincount(self.s_pos, weights=lam, minlength=int(self.ps[-1]))
        dsi = np.bincount(self.si_pos, weights=lam, minlength=int(self.pi[-1]))
        cs, csi = np.cumsum(ds), np.cumsum(dsi)
        # segment starts carry no weight (v >= 1), so cs at a start sums earlier segments
        pen_s = cs - cs[self.ps[:-1]][self.s_owner]
        pen_si = -(csi - csi[self.pi[:-1]][self.si_owner])
        return pen_s, pen_si

    def subgradient(self, s: NDArray[np.int64], si: NDArray[np.int64]) -> NDArray[np.float64]:
        """:math:`g_{av} = [S_i \\ge v] - [SI_j \\ge v]`."""
        return (self.v <= s[self.src]).astype(np.float64) - (self.v <= si[self.tgt])


def lagrangian_bound(
    data: GSMData,
    forest: NDArray[np.int64],
    best: Solution,
    *,
    deadline: float | None = None,
    max_iter: int = 500,
    tol: float = 1e-9,
    theta: float = 1.0,
    patience: int = 8,
    min_theta: float = 1e-4,
    start: NDArray[np.float64] | None = None,
    s_hi: NDArray[np.int64] | None = None,
    si_lo: NDArray[np.int64] | None = None,
    dual: _Dual | None = None,
) -> LagrangeResult:
    """Subgradient ascent on :math:`L(\\lambda)` for the arcs outside ``forest``.

    Parameters
    ----------
    data
        Prepared instance arrays.
    forest
        Arc positions of a spanning forest (kept exact in the tree DP).
    best
        A feasible solution: the upper bound of the Polyak step and the incumbent returned
        when no DP minimiser completes to a cheaper one.
    deadline
        ``time.perf_counter()`` at which the ascent stops (checked inside every DP too).
    max_iter, tol, theta, patience, min_theta
        At most ``max_iter`` DPs; stop when the relative gap ``(UB - L) / max(1, UB)`` is at
        most ``tol``, or when the step factor ``theta`` (halved after ``patience`` steps
        without a better bound) falls below ``min_theta``.
    start
        Multipliers to start from (a previous result's ``multipliers``), default zero.
    s_hi, si_lo
        Bounds :math:`S_j \\le` ``s_hi`` and :math:`SI_j \\ge` ``si_lo`` (a branch-and-bound
        node): the bound is then one on the optimum within them (``inf`` when none is
        feasible for the forest).
    dual
        The index maps for ``forest`` (built when not given).

    Returns
    -------
    LagrangeResult
        ``bound <= `` the GSM optimum (weak duality), the best feasible point seen.
    """
    dual = _Dual(data, forest) if dual is None else dual
    lam = np.zeros(dual.size) if start is None else np.array(start, dtype=np.float64)
    bound = -np.inf
    best_lam = lam.copy()
    point: tuple[NDArray[np.int64], NDArray[np.int64]] | None = None
    stall = 0
    it = 0
    while it < max_iter:
        if deadline is not None and time.perf_counter() > deadline:
            break
        try:
            dp = tree_dp(
                data, forest, s_hi=s_hi, si_lo=si_lo, penalty=dual.penalty(lam), deadline=deadline
            )
        except DPTimeout:
            break
        it += 1
        point = (dp.outbound, dp.inbound)
        if not np.isfinite(dp.cost):  # no point within the bounds
            bound = np.inf
            break
        cand = normalize(data, np.minimum(dp.outbound, data.s_max))
        if cand.cost < best.cost:
            best = cand
        if not np.isfinite(bound) or dp.cost > bound + 1e-12 * max(1.0, abs(bound)):
            bound, best_lam, stall = float(dp.cost), lam.copy(), 0
        else:
            stall += 1
            if stall >= patience:
                theta, stall = theta / 2, 0
        g = dual.subgradient(dp.outbound, dp.inbound)
        g[(lam <= 0) & (g < 0)] = 0.0  # projected: these multipliers stay at zero
        norm = float(g @ g)
        if norm == 0.0:  # the minimiser satisfies every dropped arc with zero penalty
            bound = max(bound, float(dp.cost))
            break
        if best.cost - bound <= tol * max(1.0, best.cost) or theta < min_theta:
            break
        step = theta * (best.cost - float(dp.cost)) / norm
        lam = np.maximum(lam + step * g, 0.0)
    return LagrangeResult(
        bound=float(bound),
        best=best,
        iterations=it,
        multipliers=best_lam,
        point=point,
    )


#: bytes the open nodes of :func:`branch_and_bound` may hold (multipliers and boxes)
NODE_MEMORY = 512 * 2**20


@dataclass(frozen=True)
class BranchResult:
    """Outcome of :func:`branch_and_bound`: ``bound`` is proven (the least bound of the nodes
    left open, the incumbent's cost when none is left), ``nodes`` the nodes solved."""

    bound: float
    best: Solution
    nodes: int
    open_nodes: int


def branch_and_bound(
    data: GSMData,
    forest: NDArray[np.int64],
    root: LagrangeResult,
    *,
    deadline: float | None = None,
    tol: float = 1e-9,
    node_iter: int = 25,
    max_nodes: int = 100_000,
) -> BranchResult:
    """Best-first branch and bound with Lagrangian node bounds (exact for any DAG).

    A node is a box :math:`S_j \\le \\bar s_j`, :math:`SI_j \\ge \\underline{\\sigma}_j`; its
    bound is :func:`lagrangian_bound` within the box, warm-started from the parent's
    multipliers (``node_iter`` DPs at most). A node whose bound reaches the incumbent's cost
    (relative ``tol``) is pruned. Otherwise the dropped arc :math:`i \\to j` that the node's
    DP minimiser violates most (:math:`S_i - SI_j`, weighted by the two stages' cost rates)
    is split at :math:`c = \\lfloor (S_i + SI_j) / 2 \\rfloor`: every feasible point has
    :math:`S_i \\le c` or :math:`SI_j \\ge S_i \\ge c + 1`, and both children exclude the
    minimiser. Only arcs that the box does not already settle (:math:`\\bar s_i >
    \\underline\\sigma_j`) are split and ``c`` is clipped into
    :math:`[\\underline\\sigma_j, \\bar s_i - 1]`, so every child is a strictly smaller box and
    the search is finite. A box that settles every dropped arc is a tree problem: its DP is
    exact.

    Every solved node keeps one multiplier vector and two boxes for its children, so at most
    :data:`NODE_MEMORY` bytes of them are held: the search stops (open nodes and their least
    bound reported) after ``min(max_nodes, NODE_MEMORY / bytes per node)`` nodes.
    """
    import heapq

    dual = _Dual(data, forest)
    max_nodes = min(max_nodes, max(1, NODE_MEMORY // (8 * (dual.size + 4 * data.n))))
    drop = np.ones(data.source.size, dtype=bool)
    drop[np.asarray(forest, dtype=np.int64)] = False
    di, dj = data.source[drop], data.target[drop]
    weight = data.unit_cost[di] + data.unit_cost[dj] + 1e-9
    best = root.best
    heap: list[tuple[float, int, NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]] = []
    count = 0

    def push(
        bound: float, s_hi: NDArray[np.int64], si_lo: NDArray[np.int64], lam: NDArray[np.float64]
    ) -> None:
        nonlocal count
        heapq.heappush(heap, (bound, count, s_hi, si_lo, lam))
        count += 1

    def cutoff() -> float:
        return best.cost - tol * max(1.0, best.cost)

    def children(res: LagrangeResult, s_hi: NDArray[np.int64], si_lo: NDArray[np.int64]) -> None:
        open_arc = s_hi[di] > si_lo[dj]
        if res.point is None:  # pragma: no cover - callers pass a node with a DP point
            push(res.bound, s_hi, si_lo, res.multipliers)
            return
        s, si = res.point
        viol = np.where(open_arc, (s[di] - si[dj]) * weight, -np.inf)
        a = int(np.argmax(viol))
        if viol[a] <= 0:  # no violated open arc: split the open arc with the largest range
            viol = np.where(open_arc, (s_hi[di] - si_lo[dj]).astype(np.float64), -np.inf)
            a = int(np.argmax(viol))
        i, j = int(di[a]), int(dj[a])
        c = (int(s[i]) + int(si[j])) // 2
        c = min(max(c, int(si_lo[j])), int(s_hi[i]) - 1)
        left = s_hi.copy()
        left[i] = c
        right = si_lo.copy()
        right[j] = c + 1
        push(res.bound, left, si_lo, res.multipliers)
        push(res.bound, s_hi, right, res.multipliers)

    children(root, data.s_max.copy(), data.external.copy())
    nodes = 0
    while heap and nodes < max_nodes:
        if heap[0][0] >= cutoff():
            heap.clear()  # every open node is pruned by the incumbent
            break
        if deadline is not None and time.perf_counter() > deadline:
            break
        node_bound, _, s_hi, si_lo, lam = heapq.heappop(heap)
        if not (s_hi[di] > si_lo[dj]).any():
            # the box settles every dropped arc: a tree problem, exact without multipliers
            try:
                dp = tree_dp(data, forest, s_hi=s_hi, si_lo=si_lo, deadline=deadline)
            except DPTimeout:
                push(node_bound, s_hi, si_lo, lam)
                break
            nodes += 1
            if np.isfinite(dp.cost):
                cand = normalize(data, np.minimum(dp.outbound, data.s_max))
                best = cand if cand.cost < best.cost else best
            continue
        res = lagrangian_bound(
            data,
            forest,
            best,
            deadline=deadline,
            max_iter=node_iter,
            tol=tol,
            start=lam,
            s_hi=s_hi,
            si_lo=si_lo,
            dual=dual,
            theta=0.5,
            patience=4,
        )
        nodes += 1
        best = res.best
        if res.point is None and res.bound == -np.inf:  # deadline before the first DP
            push(node_bound, s_hi, si_lo, lam)
            break
        bound = max(node_bound, res.bound)
        if bound >= cutoff():
            continue
        children(
            LagrangeResult(bound, best, res.iterations, res.multipliers, res.point), s_hi, si_lo
        )
    low = min((h[0] for h in heap), default=best.cost)
    return BranchResult(bound=min(low, best.cost), best=best, nodes=nodes, open_nodes=len(heap))
