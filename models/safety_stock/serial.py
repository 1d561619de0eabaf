r"""Serial chains in :math:`O(N^2)`: the extreme-point property of concave costs (Simpson 1958).

A serial chain (one directed path, stages :math:`1..N` from upstream) under the square-root
model has concave non-decreasing stage costs :math:`u_j\sqrt{\tau_j}`, so an optimal
solution lies at a vertex of the (totally unimodular) feasible polyhedron. When only the
first stage has an external service time and only the last stage a bound :math:`p` on its
outbound service time (its customers' promise), every vertex has this shape: some stages
*stock* (:math:`S_j = 0`), the stages between two stocking stages pass through
(:math:`\tau = 0`, :math:`S_j = SI_j + T_j`); after the last stocking stage :math:`m` either
all pass through (when the time accumulated since :math:`m`, :math:`W = \sum_{m<i\le N} T_i`
(plus :math:`s^e_1` when no stage stocks), is at most :math:`p`) or one stage :math:`j > m`
quotes :math:`S_j = p - \sum_{i>j} T_i \ge 0` and covers :math:`\tau_j = W - p`, the stages
after it passing through. So

.. math:: F(m) = \min_{m' < m} F(m') + u_m \sqrt{W(m'+1..m)}, \qquad
          \text{cost} = \min_m F(m) + [W_m > p]\,\sqrt{W_m - p}\min_{j \in J_m} u_j,

with :math:`J_m = \{j > m : \sum_{i>j} T_i \le p\}` — :math:`O(N^2)` work and :math:`O(N)`
memory, where the general tree DP needs :math:`O(N M^2)` with :math:`M` the cumulative lead
time (cubic in :math:`N` on a chain). The result is checked: its service times are
evaluated by :func:`~optim.models.safety_stock.data.normalize` and must give the same cost.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from optim.models.safety_stock.data import GSMData

__all__ = ["serial_chain_order", "solve_serial_chain"]


def serial_chain_order(data: GSMData) -> NDArray[np.int64] | None:
    """Stage positions from upstream to downstream when the fast path applies, else None.

    Applies to one directed path, square-root costs (no stage cost table), external service
    time only at the first stage and no binding bound on :math:`S_j` except at the last.
    """
    n = data.n
    if n < 2 or data.ss_table is not None or data.source.size != n - 1:
        return None
    indeg = np.bincount(data.target, minlength=n)
    outdeg = np.bincount(data.source, minlength=n)
    if indeg.max() > 1 or outdeg.max() > 1:
        return None
    heads = np.flatnonzero(indeg == 0)
    if heads.size != 1:
        return None
    nxt = np.full(n, -1, dtype=np.int64)
    nxt[data.source] = data.target
    order = [int(heads[0])]
    while nxt[order[-1]] >= 0:
        order.append(int(nxt[order[-1]]))
    if len(order) != n:
        return None
    path = np.array(order, dtype=np.int64)
    inner = path[:-1]
    if np.any(data.external[path[1:]] != 0):
        return None
    if np.any(data.s_max[inner] < data.tau_max[inner]):
        return None
    return path


def solve_serial_chain(data: GSMData, path: NDArray[np.int64]) -> tuple[float, NDArray[np.int64]]:
    """Optimal cost and outbound service times (by stage position) of a serial chain."""
    n = path.size
    T = data.lead_time[path].astype(np.int64)
    u = data.unit_cost[path].astype(np.float64)
    se = int(data.external[path[0]])
    p = int(data.s_max[path[-1]])
    pre = np.concatenate(([0], np.cumsum(T)))  # pre[i] = T_1 + ... + T_i (1-based)
    # F[m]: best cost of stages 1..m with stage m stocking (S_m = 0); F[0]: none stocks yet
    F = np.full(n + 1, math.inf)
    F[0] = 0.0
    arg = np.zeros(n + 1, dtype=np.int64)
    for m in range(1, n + 1):
        prev = np.arange(m)
        W = pre[m] - pre[prev] + np.where(prev == 0, se, 0)
        cand = F[:m] + u[m - 1] * np.sqrt(W.astype(np.float64))
        k = int(np.argmin(cand))
        F[m], arg[m] = cand[k], k
    # tail after the last stocking stage m: pass through, or one stage covers W - p
    suffix = pre[n] - pre  # suffix[j] = T_{j+1} + ... + T_N
    j0 = int(np.argmax(suffix[1:] <= p)) + 1 if bool(np.any(suffix[1:] <= p)) else n + 1
    # suffix minimum of u over stages j..N (1-based) and where it is attained
    best_u = np.full(n + 2, math.inf)
    best_j = np.zeros(n + 2, dtype=np.int64)
    for j in range(n, 0, -1):
        if u[j - 1] <= best_u[j + 1]:
            best_u[j], best_j[j] = u[j - 1], j
        else:
            best_u[j], best_j[j] = best_u[j + 1], best_j[j + 1]
    total, choice = math.inf, (0, 0)
    for m in range(n + 1):
        W = pre[n] - pre[m] + (se if m == 0 else 0)
        if p >= W or m == n:
            cost, j = F[m], 0
        else:
            lo = max(m + 1, j0)
            if lo > n:
                continue
            cost, j = F[m] + best_u[lo] * math.sqrt(W - p), int(best_j[lo])
        if cost < total:
            total, choice = cost, (m, j)
    # service times: stocking stages 0, pass-through SI + T, the covering stage p - suffix
    stocking = set()
    m = choice[0]
    while m > 0:
        stocking.add(m)
        m = int(arg[m])
    S = np.zeros(n, dtype=np.int64)
    si = se
    for j in range(1, n + 1):
        if j in stocking:
            S[j - 1] = 0
        elif j == choice[1]:
            S[j - 1] = p - int(suffix[j])
        else:
            S[j - 1] = si + T[j - 1]
        if j == n:
            S[j - 1] = min(int(S[j - 1]), p)
        si = int(S[j - 1])
    out = np.zeros(data.n, dtype=np.int64)
    out[path] = S
    return float(total), out
