"""Spanning-forest relaxations of a general acyclic network (lower bounds, starting points).

Keeping a spanning forest ``F`` of the arcs and dropping the constraints
:math:`SI_j \\ge S_i` of the other arcs leaves a tree problem that
:func:`optim.models.safety_stock.dp.tree_dp` solves exactly: its value is a lower bound on the
GSM optimum (Humair & Willems 2011) and its service times, completed by
:func:`optim.models.safety_stock.data.normalize`, a feasible solution.
"""

from __future__ import annotations

import time

import numpy as np
from numpy.typing import NDArray

from optim.models.graph import maximum_spanning_forest
from optim.models.safety_stock.data import GSMData, Solution, normalize

__all__ = ["improve_by_forests", "spanning_forests"]


def spanning_forests(data: GSMData) -> list[NDArray[np.int64]]:
    """A few spanning forests (arc positions) whose DP relaxations tend to be tight.

    1. Critical suppliers: every stage keeps the arc from the supplier with the longest
       replenishment time :math:`L_i` (an in-branching: the binding inbound constraint).
    2. Maximum spanning forest by the cost weight :math:`h k` of the arc's two stages, so the
       expensive stages keep their constraints.
    """
    src, tgt = data.source, data.target
    if src.size == 0:
        return [np.zeros(0, dtype=np.int64)]
    out: list[NDArray[np.int64]] = []
    longest = data.tau_max.astype(np.float64)
    best: dict[int, int] = {}
    for a, (i, j) in enumerate(zip(src.tolist(), tgt.tolist(), strict=True)):
        if j not in best or longest[i] > longest[src[best[j]]]:
            best[j] = a
    out.append(np.array(sorted(best.values()), dtype=np.int64))
    w = data.unit_cost[src] + data.unit_cost[tgt] + 1e-9 * longest[src]
    out.append(maximum_spanning_forest(data.n, src, tgt, w))
    return out


def improve_by_forests(
    data: GSMData,
    best: Solution,
    forests: list[NDArray[np.int64]],
    *,
    seed: int = 0,
    rounds: int = 3,
    max_passes: int = 40,
    deadline: float | None = None,
) -> tuple[Solution, int]:
    """Local search on a feasible solution by exact tree DPs (a large neighbourhood).

    For a spanning forest ``F``, fix every other arc :math:`i \\to j` at a cut value ``c``
    taken from the incumbent (its :math:`S_i`, or its :math:`SI_j` on alternate passes):
    :math:`S_i \\le c \\le SI_j`. Every solution of the tree DP under these bounds is
    feasible for the whole network, and the incumbent is one of them, so the DP's optimum
    never costs more: each step is exact on its neighbourhood and the cost never rises.
    Passes run over ``forests`` and random maximum spanning forests (seeded) until ``rounds``
    passes in a row improve nothing, after ``max_passes`` passes, or at ``deadline``
    (``time.perf_counter()``).

    Returns the best solution and the number of tree DPs run.
    """
    from optim.models.safety_stock.dp import DPTimeout, tree_dp

    src, tgt = data.source, data.target
    if src.size == 0:
        return best, 0
    rng = np.random.default_rng(seed)
    pool = list(forests)
    calls = 0
    idle = 0
    step = 0
    while idle < rounds and step < max_passes:
        improved = False
        if step >= len(pool):  # a fresh random forest per pass once the given ones are used
            pool.append(maximum_spanning_forest(data.n, src, tgt, rng.random(src.size)))
        forest = pool[step]
        for use_si in (False, True):
            if deadline is not None and time.perf_counter() > deadline:
                return best, calls
            cross = np.ones(src.size, dtype=bool)
            cross[forest] = False
            i, j = src[cross], tgt[cross]
            cut = best.inbound[j] if use_si else best.outbound[i]
            s_hi = data.s_max.copy()
            si_lo = data.external.copy()
            np.minimum.at(s_hi, i, cut)
            np.maximum.at(si_lo, j, cut)
            try:
                dp = tree_dp(data, forest, s_hi=s_hi, si_lo=si_lo, deadline=deadline)
            except DPTimeout:
                return best, calls
            calls += 1
            if not np.isfinite(dp.cost):  # pragma: no cover - the incumbent is feasible
                continue
            cand = normalize(data, np.minimum(dp.outbound, data.s_max))
            if cand.cost < best.cost * (1 - 1e-12) - 1e-12:
                best, improved = cand, True
        idle = 0 if improved else idle + 1
        step += 1
    return best, calls
