"""Spanning-forest relaxations of a general acyclic network (lower bounds, starting points).

Keeping a spanning forest ``F`` of the arcs and dropping the constraints
:math:`SI_j \\ge S_i` of the other arcs leaves a tree problem that
:func:`optim.models.safety_stock.dp.tree_dp` solves exactly: its value is a lower bound on the
GSM optimum (Humair & Willems 2011) and its service times, completed by
:func:`optim.models.safety_stock.data.normalize`, a feasible solution.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from optim.models.graph import maximum_spanning_forest
from optim.models.safety_stock.data import GSMData

__all__ = ["spanning_forests"]


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
