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
from typing import Any

import numpy as np
from numpy.typing import NDArray

from optim.models.graph import is_forest
from optim.models.safety_stock.data import GSMData

__all__ = [
    "DPTimeout",
    "TreeDPResult",
    "dp_cells",
    "is_forest",
    "penalty_offsets",
    "tree_dp",
]


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


_COMPILED: list[tuple[Any, Any]] = []

#: (S, SI) cells per compiled call between two checks of the deadline (a few ms of work)
CHUNK_CELLS = 4_000_000


def _kernels() -> tuple[Any, Any]:
    """The bottom-up pass and the top-down recovery (:mod:`.dp_kernels`, loaded on first use)."""
    if not _COMPILED:
        from optim.models.safety_stock.dp_kernels import bottom_up, top_down

        _COMPILED.append((bottom_up, top_down))
    return _COMPILED[0]


def penalty_offsets(data: GSMData) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Offsets of every stage's ``S = 0..s_max`` and ``SI = 0..si_max`` in penalty arrays.

    Stage ``k``'s term for ``S_k = s`` is ``pen_s[ps[k] + s]`` (``ps[-1]`` is the length).
    """
    ps = np.concatenate(([0], np.cumsum(data.s_max.astype(np.int64) + 1))).astype(np.int64)
    pi = np.concatenate(([0], np.cumsum(data.si_max.astype(np.int64) + 1))).astype(np.int64)
    return ps, pi


def _cost_per_tau(
    data: GSMData, lengths: NDArray[np.int64]
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """Every stage's cost at ``tau = 0..lengths[k] - 1``, concatenated, and the offsets."""
    ptr = np.concatenate(([0], np.cumsum(lengths))).astype(np.int64)
    if data.ss_table is None:
        owner = np.repeat(np.arange(data.n), lengths)
        local = np.arange(int(ptr[-1])) - ptr[owner]
        return ptr, data.unit_cost[owner] * np.sqrt(local.astype(np.float64))
    owner = np.repeat(np.arange(data.n), lengths)
    return ptr, data.table_cost(owner, np.arange(int(ptr[-1])) - ptr[owner])[1]


def tree_dp(
    data: GSMData,
    arcs: NDArray[np.int64] | None = None,
    *,
    s_lo: NDArray[np.int64] | None = None,
    s_hi: NDArray[np.int64] | None = None,
    si_lo: NDArray[np.int64] | None = None,
    si_hi: NDArray[np.int64] | None = None,
    deadline: float | None = None,
    penalty: tuple[NDArray[np.float64], NDArray[np.float64]] | None = None,
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
        after every ~:data:`CHUNK_CELLS` cells).
    penalty
        Optional ``(pen_s, pen_si)``: terms added to the cost, ``pen_s[ps + S_k]`` and
        ``pen_si[pi + SI_k]`` for every stage ``k`` with ``ps``/``pi`` the offsets of
        :func:`penalty_offsets` (Lagrangian relaxation of the dropped arcs,
        :mod:`optim.models.safety_stock.lagrange`); the returned cost includes them.

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

    bottom_up, top_down = _kernels()
    ns = np.maximum(shi.astype(np.int64) + 1, 1)
    ni = np.maximum(ihi.astype(np.int64) + 1, 1)
    lead = data.lead_time.astype(np.int64)
    is_f = (parent < 0) | up_to_parent
    size = np.where(is_f, ns, ni)
    off = np.concatenate(([0], np.cumsum(size))).astype(np.int64)
    ct_ptr, ct = _cost_per_tau(data, ni + lead)
    deg = np.array([len(x) for x in adj], dtype=np.int64)
    adj_ptr = np.concatenate(([0], np.cumsum(deg))).astype(np.int64)
    adj_node = np.fromiter((c for x in adj for c, _ in x), dtype=np.int64, count=int(deg.sum()))
    adj_dir = np.fromiter((o for x in adj for _, o in x), dtype=np.int64, count=int(deg.sum()))
    total_cells = int(off[-1])
    val = np.empty(total_cells)
    arg = np.zeros(total_cells, dtype=np.int64)
    ext_val = np.empty(total_cells)
    ext_arg = np.zeros(total_cells, dtype=np.int64)
    root_s = np.zeros(n, dtype=np.int64)
    root_si = np.zeros(n, dtype=np.int64)
    if penalty is None:
        pen_s = pen_si = np.zeros(0)
        ps_off = pi_off = np.zeros(1, dtype=np.int64)
    else:
        pen_s, pen_si = (np.asarray(p, dtype=np.float64) for p in penalty)
        ps_off, pi_off = penalty_offsets(data)
        if pen_s.size != ps_off[-1] or pen_si.size != pi_off[-1]:
            raise ValueError("penalty arrays do not match penalty_offsets(data)")
    post = np.array(order[::-1], dtype=np.int64)
    total = 0.0
    # compiled calls of about CHUNK_CELLS (S, SI) cells each, the deadline checked between them
    work = np.cumsum((ns * ni)[post])
    cuts = np.searchsorted(work, np.arange(CHUNK_CELLS, int(work[-1]), CHUNK_CELLS), "right")
    bounds = np.unique(np.concatenate(([0], cuts, [n])))
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist(), strict=True):
        if deadline is not None and time.perf_counter() > deadline:
            raise DPTimeout(lo, n)
        total += bottom_up(
            post, lo, hi, parent, up_to_parent, adj_ptr, adj_node, adj_dir,
            ns, ni, lead, slo.astype(np.int64), shi.astype(np.int64), ilo.astype(np.int64),
            ihi.astype(np.int64), ct_ptr, ct, off, val, arg, ext_val, ext_arg, root_s, root_si,
            pen_s, ps_off, pen_si, pi_off,
        )  # fmt: skip

    out = np.zeros(n, dtype=np.int64)
    inb = np.zeros(n, dtype=np.int64)
    if not np.isfinite(total):
        return TreeDPResult(INF, out, inb)
    out[roots] = root_s[roots]
    inb[roots] = root_si[roots]
    top_down(np.array(order, dtype=np.int64), parent, up_to_parent, off, arg, ext_arg, out, inb)
    return TreeDPResult(total, out, inb)
