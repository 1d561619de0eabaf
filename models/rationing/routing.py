r"""Exact routing of fixed allocations by successive shortest paths (no LP).

Stage 4 of rationing (:func:`optim.models.rationing.engine._route`) keeps every line's
allocation :math:`a_i` and chooses the flows :math:`x_{ic} \ge 0` with
:math:`\sum_c x_{ic} = a_i` and :math:`\sum_i x_{ic} \le s_c` that minimise, in this order,

1. lane cost :math:`\sum c_{ic} x_{ic}`;
2. with ``stability``, change :math:`\sum_{p_{ic} = 0} x_{ic} + \sum_{p_{ic} > 0}
   |x_{ic} - p_{ic}|` against the previous allocation :math:`p`;
3. preference :math:`\sum \mathrm{rank}_{ic} x_{ic}`.

The staged LPs solve three LPs per block. This is one min-cost flow with *lexicographic*
arc costs — the triple (lane cost, change, rank) compared in that order, an ordered group,
so shortest paths and the optimality conditions work on it unchanged — and with the change
term's convex :math:`|x - p|` as two parallel segments (slope −1 up to :math:`p`, then +1).
Per component of the line–cell graph (compiled, numba):

- lines with one eligible location, or nothing to route, keep their flow; their stock is
  taken off the cells first;
- the other lines start empty; each step sends flow along a shortest path (Bellman–Ford
  with a queue, lexicographic distances) from a line still below its allocation to a cell
  with stock left, through lines that re-route along zero-or-better residual arcs, as much
  as the path allows (successive shortest paths: no residual cycle ever has negative cost,
  so the final flow is optimal for the lexicographic objective).

Lane costs are compared exactly as integers: per component, of the coarsest grid of
:data:`COST_GRIDS` (1e-6, 1e-9, 1e-12) on which all its costs are whole numbers up to 2^40
(paths stay within one component, so each may have its own); a component whose costs fit no
grid (1/3 as a double) sends its block to the LPs; the change and rank terms are integers
already. Among several optimal routings the first found wins
(scan order: lines and arcs in input order), so the same input gives the same bytes.
A component that is too large (:data:`optim.models.rationing.waterfill.MAX_COMPONENT`, unless
its quantities span more than the LPs resolve, :data:`~optim.models.rationing.waterfill.LP_SPAN`)
or where a line cannot place its allocation (numerical trouble) is reported as not solved and
goes to the routing LPs.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit
from numpy.typing import NDArray

from optim.models.rationing.arrays import Problem
from optim.models.rationing.waterfill import Components, _ranges, watch

COST_GRIDS = (1e-6, 1e-9, 1e-12)  # lane costs are compared as exact integers of one of these
_COST_MAX = 2.0**40  # keeps path sums of integer costs far inside int64


def objectives(p: Problem, flow: NDArray[np.float64]) -> NDArray[np.float64]:
    """The routing criteria of ``flow``: (lane cost, change against ``previous`` when
    ``stability`` is on — else 0 —, preference rank), as stage 4 ranks routings."""
    prev = p.arc_previous
    change = float(np.where(prev > 0, np.abs(flow - prev), flow).sum()) if p.stability else 0.0
    return np.array([float(p.arc_cost @ flow), change, float(p.arc_rank @ flow)])


def integer_costs(
    cost: NDArray[np.float64], component: NDArray[np.int64] | None = None
) -> NDArray[np.int64] | None:
    """Lane costs as exact integers: per ``component`` (per arc; one when None), of the
    coarsest grid of :data:`COST_GRIDS` on which every cost of the component is a whole
    number (within a few units of the last place: the decimal written as a double) of at
    most 2^40; None when some component's costs fit no grid. Only costs within one component
    are ever compared or summed (a path never leaves it), so each component's own grid
    keeps every comparison exact: a cost of 0.1234567 routes exactly on 1e-9 beside
    components of whole cents."""
    comp = np.zeros(len(cost), np.int64) if component is None else component
    out = np.zeros(len(cost), np.int64)
    todo = np.ones(len(cost), dtype=bool)
    for grid in COST_GRIDS:
        units = cost / grid
        whole = np.round(units)
        # a decimal written as a double, divided by the grid: a few units of the last place
        noise = 8 * np.spacing(np.maximum(np.abs(units), 1.0))
        fits = (np.abs(units - whole) <= noise) & (np.abs(whole) <= _COST_MAX)
        take = todo & ~np.isin(comp, comp[todo & ~fits])
        out[take] = whole[take]
        todo &= ~take
        if not todo.any():
            return out
    return None


def route(
    *,
    arc_line: NDArray[np.int64],
    arc_cell: NDArray[np.int64],
    supply: NDArray[np.float64],
    line_component: NDArray[np.int64],
    cell_component: NDArray[np.int64],
    alloc: NDArray[np.float64],
    cost: NDArray[np.int64],
    previous: NDArray[np.float64] | None,
    rank: NDArray[np.float64],
    wide: NDArray[np.bool_] | None = None,
    deadline: float | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.bool_]]:
    """Flows of the lexicographically cheapest routing of ``alloc``; ``(flow, ok)``.

    ``cost``: lane cost per arc as integers (:func:`integer_costs`); ``previous``: last
    run's quantity per arc when ``stability`` is on (None: no change term); ``rank``: the
    arc's place in its line's preference list; ``wide`` (per line,
    :func:`optim.models.rationing.waterfill.wide_lines`): components routed whatever their
    size, the others up to :data:`~optim.models.rationing.waterfill.MAX_COMPONENT` lines +
    cells. ``ok`` per line: False on lines
    of components the method handed back (their flows are not set). Past the
    ``time.perf_counter()`` ``deadline``, or on a cancel, it raises
    :class:`~optim.models.rationing.waterfill.Stopped`
    (:func:`~optim.models.rationing.waterfill.watch`).
    """
    n = len(line_component)
    g = Components.of(arc_line, arc_cell, line_component, cell_component, wide)
    x = np.zeros(len(arc_line))
    ok_comp = np.zeros(len(g.lines_per), np.bool_)
    prev = np.zeros(len(arc_line)) if previous is None else previous
    with watch(deadline) as stop:
        _route_components(
            g.comp_line_ptr,
            g.comp_cell_ptr,
            g.small,
            g.line_arc_ptr,
            g.arc_cell,
            g.arc_line,
            g.cell_arc_ptr,
            g.cell_arc,
            g.cells(supply),
            g.lines(alloc),
            g.arcs(cost, np.int64),
            g.arcs(prev),
            previous is not None,
            g.arcs(np.round(rank), np.int64),
            x,
            ok_comp,
            stop,
        )
    flow = np.empty(len(arc_line))
    flow[g.arc_order] = x
    ok = np.empty(n, np.bool_)
    ok[g.order_l] = np.repeat(ok_comp, g.lines_per)
    return flow, ok


@njit(cache=True, inline="always")
def _less(a0: int, a1: int, a2: int, b0: int, b1: int, b2: int) -> bool:
    if a0 != b0:
        return a0 < b0
    if a1 != b1:
        return a1 < b1
    return a2 < b2


@njit(cache=True, inline="always")  # a call per relaxation cost a quarter of the kernel
def _relax(
    v: int,
    e0: int,
    e1: int,
    e2: int,
    k: int,
    reached: Any,
    d0: Any,
    d1: Any,
    d2: Any,
    pred: Any,
    queued: Any,
    queue: Any,
    tail: int,
) -> int:
    """Bellman-Ford step: node ``v`` reached by arc ``k`` at distance ``(e0, e1, e2)``;
    queued when that is shorter than what it had. Returns the new queue tail."""
    if not reached[v] or _less(e0, e1, e2, d0[v], d1[v], d2[v]):
        reached[v] = True
        d0[v], d1[v], d2[v] = e0, e1, e2
        pred[v] = k
        if not queued[v]:
            queued[v] = True
            queue[tail] = v
            tail += 1
            if tail == len(queue):  # circular; a branch is cheaper than %
                tail = 0
    return tail


@njit(cache=True, nogil=True)  # nogil: the watch thread runs beside it (waterfill.watch)
def _route_components(
    comp_line_ptr: Any,
    comp_cell_ptr: Any,
    small: Any,
    line_arc_ptr: Any,
    arc_cell: Any,
    arc_line: Any,
    cell_arc_ptr: Any,
    cell_arc: Any,
    supply: Any,
    alloc: Any,
    cost: Any,
    prev: Any,
    stability: bool,
    rank: Any,
    x: Any,
    ok: Any,
    stop: Any,
) -> None:
    n = len(alloc)
    C = len(supply)
    A = len(arc_cell)
    # per arc: flow on the segment below the previous quantity (slope -1) and above it
    x_lo = np.zeros(A)
    x_hi = np.zeros(A)
    cap_lo = np.zeros(A)  # the previous quantity (0 without stability)
    left = np.zeros(n)  # allocation still to route per line
    room = np.zeros(C)  # stock left per cell
    routed = np.zeros(n, np.bool_)  # lines in the flow problem (several arcs, a > 0)
    # lexicographic distances and the arc each node was reached by
    d0 = np.zeros(n + C, np.int64)
    d1 = np.zeros(n + C, np.int64)
    d2 = np.zeros(n + C, np.int64)
    reached = np.zeros(n + C, np.bool_)
    pred = np.zeros(n + C, np.int64)
    queued = np.zeros(n + C, np.bool_)
    queue = np.zeros(n + C + 1, np.int64)
    for comp in range(len(comp_line_ptr) - 1):
        if not small[comp]:
            continue
        l0, l1, c0, c1, a0, a1, eps = _ranges(
            comp, comp_line_ptr, comp_cell_ptr, line_arc_ptr, alloc, supply
        )
        if stop[0] != 0.0:
            stop[1] = stop[0]
            break
        # quantities come as whole quanta (engine._route_exact): half a quantum separates
        # stock from none exactly (a tolerance relative to a 3e14-quanta line lost 3e4)
        eps = min(eps, 0.5)
        for c in range(c0, c1):
            room[c] = supply[c]
        for k in range(a0, a1):
            x[k] = 0.0
            x_lo[k] = 0.0
            x_hi[k] = 0.0
            cap_lo[k] = prev[k] if stability else 0.0
        todo = 0
        for i in range(l0, l1):
            k0, k1 = line_arc_ptr[i], line_arc_ptr[i + 1]
            routed[i] = k1 - k0 > 1 and alloc[i] > eps
            left[i] = alloc[i] if routed[i] else 0.0
            if k1 - k0 == 1:  # no choice: the flow is the allocation
                x[k0] = alloc[i]
                room[arc_cell[k0]] -= alloc[i]
            if routed[i]:
                todo += 1
        good = True
        steps = 0
        max_steps = 4 * ((l1 - l0) + (c1 - c0) + (a1 - a0)) + 16
        while todo > 0:
            steps += 1
            if steps > max_steps:
                good = False
                break
            # Bellman-Ford from every line still below its allocation (distance 0)
            head = 0
            tail = 0
            size = len(queue)
            for i in range(l0, l1):
                reached[i] = False
                queued[i] = False
                if routed[i] and left[i] > eps:
                    reached[i] = True
                    d0[i] = 0
                    d1[i] = 0
                    d2[i] = 0
                    pred[i] = -1
                    queue[tail] = i
                    tail += 1
                    queued[i] = True
            for c in range(c0, c1):
                reached[n + c] = False
                queued[n + c] = False
            relaxations = 0
            limit = 4 * (l1 - l0 + c1 - c0) * (a1 - a0 + 1) + 64
            while head != tail:
                node = queue[head]
                head += 1
                if head == size:
                    head = 0
                queued[node] = False
                relaxations += 1
                if relaxations > limit:
                    break
                if node < n:  # a line: forward along each arc (the cheaper open segment)
                    i = node
                    if not routed[i]:
                        continue
                    for k in range(line_arc_ptr[i], line_arc_ptr[i + 1]):
                        s = 1 if stability else 0
                        if x_lo[k] < cap_lo[k] - eps:
                            s = -1
                        e0 = d0[i] + cost[k]
                        e1 = d1[i] + s
                        e2 = d2[i] + rank[k]
                        tail = _relax(
                            n + arc_cell[k], e0, e1, e2, k, reached, d0, d1, d2, pred, queued,
                            queue, tail,
                        )  # fmt: skip
                else:  # a cell: back along the flow of a routed line (its cheaper segment)
                    c = node - n
                    for j in range(cell_arc_ptr[c], cell_arc_ptr[c + 1]):
                        k = cell_arc[j]
                        i = arc_line[k]
                        if not routed[i]:
                            continue
                        if x_hi[k] > eps:
                            s = 1 if stability else 0
                        elif x_lo[k] > eps:
                            s = -1
                        else:
                            continue
                        e0 = d0[node] - cost[k]
                        e1 = d1[node] - s
                        e2 = d2[node] - rank[k]
                        tail = _relax(
                            i, e0, e1, e2, k, reached, d0, d1, d2, pred, queued, queue, tail
                        )
            if relaxations > limit or stop[0] != 0.0:
                good = False
                break
            # the nearest cell with stock left (first in order among equals)
            best = -1
            for c in range(c0, c1):
                v = n + c
                if (
                    reached[v]
                    and room[c] > eps
                    and (best < 0 or _less(d0[v], d1[v], d2[v], d0[best], d1[best], d2[best]))
                ):
                    best = v
            if best < 0:
                # no stock reachable: rounding of the stages' totals (within tolerance) or trouble
                for i in range(l0, l1):
                    if routed[i] and left[i] > 1e-9 * max(1.0, alloc[i]) + eps:
                        good = False
                break
            # bottleneck along the path, then push
            b = room[best - n]
            v = best
            hops = 0
            while hops <= (l1 - l0) + (c1 - c0):  # a path visits each node once
                hops += 1
                k = pred[v]
                i = arc_line[k]
                if x_lo[k] < cap_lo[k] - eps:
                    b = min(b, cap_lo[k] - x_lo[k])
                if pred[i] < 0:
                    b = min(b, left[i])
                    break
                k2 = pred[i]
                b = min(b, x_hi[k2] if x_hi[k2] > eps else x_lo[k2])
                v = n + arc_cell[k2]
            if hops > (l1 - l0) + (c1 - c0):  # pragma: no cover - no negative cycle exists
                good = False
                break
            room[best - n] -= b
            v = best
            while True:
                k = pred[v]
                i = arc_line[k]
                if x_lo[k] < cap_lo[k] - eps:
                    x_lo[k] += b
                else:
                    x_hi[k] += b
                if pred[i] < 0:
                    left[i] -= b
                    if left[i] <= eps:
                        todo -= 1
                    break
                k2 = pred[i]
                if x_hi[k2] > eps:
                    x_hi[k2] -= b
                else:
                    x_lo[k2] -= b
                v = n + arc_cell[k2]
        if stop[0] != 0.0:  # stopped inside the component: no answer
            stop[1] = stop[0]
            break
        ok[comp] = good
        if good:
            for i in range(l0, l1):
                if routed[i]:
                    for k in range(line_arc_ptr[i], line_arc_ptr[i + 1]):
                        x[k] = x_lo[k] + x_hi[k]
