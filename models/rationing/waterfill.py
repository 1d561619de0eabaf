r"""Exact tier totals and leximin fair share of small components by augmenting paths (no LP).

The staged LPs of :mod:`optim.models.rationing` (stages 0–2) decide, per component of the
line–cell graph, the tier totals and the leximin vector of ratios :math:`a_i / w_i` in each
short tier. A weekly instance has tens of thousands of small components (an item, its ~20
lines and the locations they may draw from), where a sequence of warm-started LPs spends
most of its time on overhead. This module computes the same quantities combinatorially,
component by component, in compiled code (numba):

- **Feasibility of line totals** :math:`a` is a bipartite transportation problem: a flow
  :math:`x \ge 0` with :math:`\sum_c x_{ic} = a_i` and :math:`\sum_i x_{ic} \le s_c`. A flow
  is kept for the current totals and raised by augmenting paths (line → cell, cell → line
  along a positive flow, …, ending at a cell with stock left), so raising one line never
  lowers another line's total (Edmonds–Karp, multi-source BFS).
- **Tier totals.** All lines start at their floors; tier by tier, the tier's lines are
  raised towards their caps by augmenting paths with earlier tiers fixed at their final
  allocations and later tiers at their floors. Augmenting paths give the maximum tier total,
  which (the feasible set is a polymatroid) is the lexicographic tier total of stage 1 for
  any allocation of the earlier tiers. A tier reaching its requests (within ``1e-7``
  relative, as the LP stage) is served in full.
- **Leximin fair share** in a short tier: progressive filling. With the unfrozen lines at
  :math:`a_i(\lambda) = \min(q_i, \max(f_i, \lambda w_i))`, the largest feasible level
  :math:`\lambda^*` is found by Newton's method on the parametric cut: start at the smallest
  cap level :math:`\min q_i / w_i`; when augmenting gets stuck, the lines reachable from a
  line still short (the source side :math:`S` of a minimum cut) and their cells
  :math:`N(S)` give the next level as the root of
  :math:`\sum_{i \in S} a_i(\lambda) = s(N(S))` (piecewise linear, solved exactly). The
  cut functions are concave in :math:`\lambda` below the caps, so the iterates decrease
  monotonically to :math:`\lambda^*` in finitely many steps. At :math:`\lambda^*` a line
  freezes when it reaches its cap, or when no augmenting path leaves it (it lies in a tight
  set: the LP stage's non-zero dual); a line above the water line (:math:`f_i > \lambda w_i`)
  in a tight set freezes at its floor, where the LP stage would freeze it once
  :math:`\lambda` reaches :math:`f_i / w_i`. Repeat until every line is frozen. The
  result is the unique leximin vector (Fujishige's lexicographically optimal base), so it
  equals the LP stages' answer; each frozen line's level is :math:`a_i / w_i`.

Every float comparison uses a tolerance of ``1e-10`` × the component's largest quantity; a
line's answer is its target value (the flow follows within that tolerance). A component
where a step does not make the progress the theory guarantees (numerical trouble) is
reported as not solved and goes back to the LP stages.

Which components: those of at most :data:`MAX_COMPONENT` lines + cells, and every component
whose quantities span more than :data:`LP_SPAN` (:func:`spans`), whatever its size: the
staged LPs do not resolve such a component reliably, the flow method in whole quanta does.
The methods' work grows faster than linearly with a component's size, yet up to 10,000
lines + cells they beat the staged LPs on the same component (one item, stages and routing
together: 0.6 / 6.4 / 22.6 CPU s against 1.5 / 13.4 (failed) / 73.1 at 1,840 / 4,900 /
10,000 lines + cells, dense shape; 1.1 / 4.9 / 35.5 against 2.5 / 35.6 / 52.8 at 2,000 /
5,000 / 10,000, sparse with minimums, caps and lanes; ``bench_rationing_span.py``); at
20,000 they took 140 CPU s. So :data:`MAX_COMPONENT` is 10,000 and a larger component of a
narrow span stays with the LPs. The rule is the same with or without a time limit, so a
plan does not depend on whether one was given: the kernels stop inside a component too,
within milliseconds of the deadline or a cancel (:func:`watch`, :class:`Stopped`), as the
LPs stop between and inside their solves.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

import numpy as np
from numba import njit
from numpy.typing import NDArray

from optim.models.rationing.arrays import Problem
from optim.solvers.base import cancel_requested

# stage codes of the engine (optim's rationing engine imports and checks them)
FULL, FAIR, ZERO_LEFT = 1, 3, 4

MAX_COMPONENT = 10_000  # lines + cells; larger components stay with the LP stages...
LP_SPAN = 1e5  # ...unless their quantities span more than this (the staged LPs' stated bound)
_REL_EPS = 1e-10  # flow tolerance relative to the component's largest quantity
_TOL = 1e-7  # the LP stages' tolerance for "served in full" / "short"

# Why the kernels stopped (the first of their ``stop`` flags, :func:`watch`): they read the
# flag before every search and leave a component the moment it is set
TIME_LIMIT, CANCELLED = 1, 2
WATCH_SECONDS = 0.01  # how often the watch looks for a cancel while the kernels run


class Stopped(Exception):
    """The kernels stopped inside a component: the deadline passed, or a cancel was
    requested (``cancelled``; :func:`optim.solvers.base.interruptible`). Nothing they
    computed is kept."""

    def __init__(self, cancelled: bool) -> None:
        super().__init__("cancelled" if cancelled else "time limit reached")
        self.cancelled = cancelled


@contextmanager
def watch(deadline: float | None) -> Iterator[NDArray[np.float64]]:
    """The ``stop`` flags of a kernel call, ``[why, why the kernel left]``: the first is set
    at the ``time.perf_counter()`` ``deadline`` or on a cancel — on entry if either is due,
    then by a thread that waits for the deadline (looking for a cancel every
    :data:`WATCH_SECONDS`) while the kernel runs without the GIL (``nogil``). The kernel
    reads it before every search and, set, leaves its component unanswered, noting why in
    the second; then :class:`Stopped` is raised. Reading a flag costs the kernels nothing
    measurable; a look at the clock from within them (numba's object mode) cost about 20 %
    of a dense week's flow method even where it was never made. A call with neither a
    deadline nor a cancel to look for starts no thread."""
    cancel = cancel_requested()

    def why() -> int:
        if cancel is not None and cancel():
            return CANCELLED
        return TIME_LIMIT if deadline is not None and time.perf_counter() >= deadline else 0

    stop = np.array([why(), 0.0])
    done = threading.Event()

    def run() -> None:
        while not stop[0]:
            wait = WATCH_SECONDS if cancel is not None else None
            if deadline is not None:
                left = max(deadline - time.perf_counter(), 0.0)
                wait = left if wait is None else min(wait, left)
            if done.wait(wait):
                return
            stop[0] = why()

    thread = threading.Thread(target=run, name="rationing kernel watch", daemon=True)
    if (deadline is not None or cancel is not None) and not stop[0]:
        thread.start()
    try:
        yield stop
    finally:
        done.set()
        if thread.is_alive():
            thread.join()
    if stop[1]:
        raise Stopped(stop[1] == CANCELLED)


_Ints = NDArray[np.int64]


@dataclass(frozen=True)
class Components:
    """Lines, cells and arcs renumbered so that each component is a contiguous range.

    ``comp_line_ptr`` / ``comp_cell_ptr``: the ranges of each component; arcs are sorted by
    (line, cell) — ``arc_order`` maps them back — with ``line_arc_ptr`` (CSR by line) and
    ``cell_arc`` / ``cell_arc_ptr`` (the arcs of each cell). ``small``: the components the
    compiled methods take: at most :data:`MAX_COMPONENT` lines + cells, or
    ``wide`` (per line, :func:`wide_lines`: beyond what the LPs resolve) whatever their size.
    """

    order_l: NDArray[np.int64]
    order_c: NDArray[np.int64]
    lines_per: NDArray[np.int64]
    comp_line_ptr: NDArray[np.int64]
    comp_cell_ptr: NDArray[np.int64]
    small: NDArray[np.bool_]
    arc_order: NDArray[np.int64]
    arc_line: NDArray[np.int64]
    arc_cell: NDArray[np.int64]
    line_arc_ptr: NDArray[np.int64]
    cell_arc: NDArray[np.int64]
    cell_arc_ptr: NDArray[np.int64]

    @classmethod
    def of(
        cls,
        arc_line: NDArray[np.int64],
        arc_cell: NDArray[np.int64],
        line_component: NDArray[np.int64],
        cell_component: NDArray[np.int64],
        wide: NDArray[np.bool_] | None = None,
    ) -> Components:
        n, C = len(line_component), len(cell_component)
        order_l = np.argsort(line_component, kind="stable")
        order_c = np.argsort(cell_component, kind="stable")
        # components of lines or cells (a block may hold a cell no line draws on)
        comps = np.unique(np.concatenate([line_component, cell_component]))
        lines_per = np.bincount(np.searchsorted(comps, line_component), minlength=len(comps))
        cells_per = np.bincount(np.searchsorted(comps, cell_component), minlength=len(comps))
        small = (lines_per + cells_per) <= MAX_COMPONENT
        if wide is not None and wide.any():
            small[np.searchsorted(comps, line_component[wide])] = True
        line_pos = np.empty(n, np.int64)
        line_pos[order_l] = np.arange(n)
        cell_pos = np.empty(C, np.int64)
        cell_pos[order_c] = np.arange(C)
        al, ac = line_pos[arc_line], cell_pos[arc_cell]
        by_line = np.lexsort((ac, al)).astype(np.int64)
        al, ac = al[by_line], ac[by_line]
        return cls(
            order_l=order_l,
            order_c=order_c,
            lines_per=lines_per.astype(np.int64),
            comp_line_ptr=np.r_[0, np.cumsum(lines_per)].astype(np.int64),
            comp_cell_ptr=np.r_[0, np.cumsum(cells_per)].astype(np.int64),
            small=small,
            arc_order=by_line,
            arc_line=al.astype(np.int64),
            arc_cell=ac.astype(np.int64),
            line_arc_ptr=np.r_[0, np.cumsum(np.bincount(al, minlength=n))].astype(np.int64),
            cell_arc=np.argsort(ac, kind="stable").astype(np.int64),
            cell_arc_ptr=np.r_[0, np.cumsum(np.bincount(ac, minlength=C))].astype(np.int64),
        )

    def kernel_graph(
        self,
    ) -> tuple[_Ints, _Ints, NDArray[np.bool_], _Ints, _Ints, _Ints, _Ints, _Ints]:
        """The graph as the kernels take it, their first arguments: ``comp_line_ptr,
        comp_cell_ptr, small, line_arc_ptr, arc_cell, arc_line, cell_arc_ptr, cell_arc``."""
        return (
            self.comp_line_ptr, self.comp_cell_ptr, self.small, self.line_arc_ptr,
            self.arc_cell, self.arc_line, self.cell_arc_ptr, self.cell_arc,
        )  # fmt: skip

    def lines(self, values: NDArray[Any], dtype: Any = np.float64) -> NDArray[Any]:
        """Per-line ``values`` in component order (contiguous, for the kernels)."""
        return np.ascontiguousarray(values[self.order_l], dtype=dtype)

    def cells(self, values: NDArray[Any], dtype: Any = np.float64) -> NDArray[Any]:
        """Per-cell ``values`` in component order."""
        return np.ascontiguousarray(values[self.order_c], dtype=dtype)

    def arcs(self, values: NDArray[Any], dtype: Any = np.float64) -> NDArray[Any]:
        """Per-arc ``values`` in the sorted arc order."""
        return np.ascontiguousarray(values[self.arc_order], dtype=dtype)


def ration(
    *,
    arc_line: NDArray[np.int64],
    arc_cell: NDArray[np.int64],
    supply: NDArray[np.float64],
    line_component: NDArray[np.int64],
    cell_component: NDArray[np.int64],
    tier: NDArray[np.int64],
    request: NDArray[np.float64],
    floor: NDArray[np.float64],
    weight: NDArray[np.float64],
    num_tiers: int,
    quantum: float | None = None,
    wide: NDArray[np.bool_] | None = None,
    deadline: float | None = None,
) -> tuple[NDArray[np.float64], NDArray[np.int64], NDArray[np.float64], NDArray[np.bool_]]:
    """Stages 1–2 (tier totals, leximin fair share) on every component of the arrays.

    ``request`` is the upper bound of each line (its cap, or its minimum in stage 0),
    ``floor`` its lower bound (jointly feasible), ``weight`` the rule's :math:`w_i`. Every
    line must have at least one arc; ``wide`` (per line, :func:`wide_lines`): components
    taken whatever their size, the others up to :data:`MAX_COMPONENT`; past
    the ``time.perf_counter()`` ``deadline``, or on a cancel, :class:`Stopped` is raised
    (:func:`watch`). Returns ``(alloc, stage, level, ok)`` per line; lines of
    components with ``ok`` False (too large, or numerical trouble) carry no answer.

    With ``quantum`` (the engine's reporting grid), every flow is a whole number of quanta
    (:func:`in_quanta`): supplies, requests and floors floored to the grid, each fair share's
    goal floored too. Sums and differences of integers below 2^53 are exact in doubles, so
    whether a tier is served in full, whether a level is feasible and whether a line can
    still grow are decided exactly, whatever the quantities' span (a tier 10 units short of
    1e12 is short; a relative tolerance called it full). A line's answer is then its request
    (served in full), or its continuous share floored to the grid; its level and stage are
    those of the continuous share.
    """
    g = Graph(
        arc_line, arc_cell, supply, line_component, cell_component, tier, num_tiers, wide,
        deadline,
    )  # fmt: skip
    if quantum is None:
        r = _ration_arrays(g, request, floor, weight, False)
    else:
        r = ration_on_grid(g, request=request, floor=floor, weight=weight, quantum=quantum)
    return r.alloc, r.stage, r.level, r.ok


class Graph(NamedTuple):
    """The line–cell graph :func:`ration` works on (see its arguments); ``wide`` (per line,
    :func:`wide_lines`): components taken whatever their size (the others up to
    :data:`MAX_COMPONENT`); ``deadline``: a ``time.perf_counter()`` time at which the
    kernels stop (:class:`Stopped`)."""

    arc_line: NDArray[np.int64]
    arc_cell: NDArray[np.int64]
    supply: NDArray[np.float64]
    line_component: NDArray[np.int64]
    cell_component: NDArray[np.int64]
    tier: NDArray[np.int64]
    num_tiers: int
    wide: NDArray[np.bool_] | None = None
    deadline: float | None = None


class _Answer(NamedTuple):
    """Per line: ``alloc`` (on the grid with a quantum), ``share`` (the continuous fair
    share), ``stage``, ``level``, ``ok`` (its component answered) and ``hold`` (a quantum
    held for its tier, the kernel's held quanta: in ``quanta`` but not in ``alloc``)."""

    alloc: NDArray[np.float64]
    share: NDArray[np.float64]
    stage: NDArray[np.int64]
    level: NDArray[np.float64]
    ok: NDArray[np.bool_]
    hold: NDArray[np.bool_]
    quanta: NDArray[np.float64] | None = None


def ration_on_grid(
    g: Graph,
    *,
    request: NDArray[np.float64],
    floor: NDArray[np.float64],
    weight: NDArray[np.float64],
    quantum: float,
    floor_quanta: NDArray[np.float64] | None = None,
) -> _Answer:
    """:func:`ration` in whole quanta of ``quantum``. ``alloc`` is on the grid, ``share`` the
    continuous share it was floored from (the request or the floor where the line holds
    it), ``quanta`` the whole quanta each line held in the flow (its grid allocation plus a
    quantum held for its tier). ``floor_quanta``: the floors as held in whole quanta (the
    minimum stage's ``quanta``), so that the quanta its flooring left stay with it."""
    per_unit = round(1.0 / quantum)
    request_q = in_quanta(request, quantum)
    floor_c = floor / quantum  # the continuous floors (the levels are the LP stages')
    base = in_quanta(floor, quantum) if floor_quanta is None else floor_quanta
    whole = g._replace(supply=in_quanta(g.supply, quantum))
    r = _ration_arrays(whole, request_q, floor_c, weight, True, base)
    a_q, s_q = r.alloc, r.share
    # served in full: the request itself (floored to the grid where it is routed); at the
    # floor: the floor itself; otherwise the share's whole quanta, exactly
    alloc = np.where(a_q >= request_q, request, np.where(a_q <= base, floor, a_q / per_unit))
    share = np.where(a_q >= request_q, request, np.where(s_q <= floor_c, floor, s_q * quantum))
    return r._replace(
        alloc=alloc,
        share=np.minimum(share, request),
        level=r.level * quantum,
        quanta=a_q + r.hold,
    )


def spans(
    p: Problem,
) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Per component of ``p`` (its labels, ascending): the ratio of its largest quantity to
    its smallest positive one — requests, caps, minimums, lots, supplies and, with
    ``stability``, previous quantities (1 where it has none) — then those two quantities.
    The staged LPs' numerical reach is a ratio: every rule is invariant under a common scale
    of the quantities."""
    parts = [p.request, p.cap, p.minimum, p.lot]
    labels = [p.line_component] * len(parts) + [p.cell_component]
    parts.append(p.supply)
    if p.stability:
        parts.append(p.arc_previous)
        labels.append(p.line_component[p.arc_line])
    values = np.concatenate(parts)
    comps, at = np.unique(np.concatenate(labels), return_inverse=True)
    top = np.zeros(len(comps))
    np.maximum.at(top, at, values)
    low = np.full(len(comps), np.inf)
    pos = values > 0
    np.minimum.at(low, at[pos], values[pos])
    span = np.where(np.isfinite(low), top / np.where(np.isfinite(low), low, 1.0), 1.0)
    return comps.astype(np.int64), span, low, top


def wide_lines(p: Problem) -> NDArray[np.bool_]:
    """Per line of ``p``: its component's quantities span more than :data:`LP_SPAN`
    (:func:`spans`), beyond what the staged LPs resolve. Only components of more than
    :data:`MAX_COMPONENT` lines + cells are looked at (the others are taken anyway)."""
    _, size = np.unique(np.concatenate([p.line_component, p.cell_component]), return_counts=True)
    if size.max(initial=0) <= MAX_COMPONENT:
        return np.zeros(p.num_lines, dtype=np.bool_)
    comps, span, _, _ = spans(p)
    return cast(NDArray[np.bool_], (span > LP_SPAN)[np.searchsorted(comps, p.line_component)])


def in_quanta(values: NDArray[np.float64], quantum: float) -> NDArray[np.float64]:
    """Quantities as whole quanta, floored (within the engine's snapping tolerance of 1 %
    of a quantum: LP noise or a decimal written as a double)."""
    return np.floor(values / quantum + 0.01)


def _ration_arrays(
    graph: Graph,
    request: NDArray[np.float64],
    floor: NDArray[np.float64],
    weight: NDArray[np.float64],
    integral: bool,
    base: NDArray[np.float64] | None = None,
) -> _Answer:
    n = len(graph.tier)
    g = Components.of(
        graph.arc_line, graph.arc_cell, graph.line_component, graph.cell_component, graph.wide
    )
    alloc = np.zeros(n)
    share = np.zeros(n)
    hold = np.zeros(n, np.bool_)
    stage = np.zeros(n, np.int64)
    level = np.full(n, np.nan)
    ok_comp = np.zeros(len(g.lines_per), np.bool_)
    with watch(graph.deadline) as stop:
        _ration_components(
            *g.kernel_graph(),
            g.cells(graph.supply),
            g.lines(request),
            g.lines(floor),
            g.lines(floor if base is None else base),
            g.lines(weight),
            g.lines(graph.tier, np.int64),
            int(graph.num_tiers),
            alloc,
            share,
            hold,
            stage,
            level,
            ok_comp,
            integral,
            stop,
        )
    out_alloc, out_share, out_hold = np.empty(n), np.empty(n), np.empty(n, np.bool_)
    out_stage, out_level = np.empty(n, np.int64), np.empty(n)
    out_alloc[g.order_l], out_share[g.order_l], out_hold[g.order_l] = alloc, share, hold
    out_stage[g.order_l], out_level[g.order_l] = stage, level
    ok = np.empty(n, np.bool_)
    ok[g.order_l] = np.repeat(ok_comp, g.lines_per)
    return _Answer(out_alloc, out_share, out_stage, out_level, ok, out_hold)


# --- the kernel (compiled by numba on first use, cached on disk) ---------------------------
@njit(cache=True)
def _augment(
    l0: int,
    l1: int,
    c0: int,
    c1: int,
    target: Any,
    a: Any,
    x: Any,
    used: Any,
    supply: Any,
    line_arc_ptr: Any,
    arc_cell: Any,
    arc_line: Any,
    cell_arc_ptr: Any,
    cell_arc: Any,
    seen_line: Any,
    seen_cell: Any,
    par_line: Any,
    par_cell: Any,
    queue: Any,
    eps: float,
    stop: Any,
) -> bool:
    """Raise lines towards ``target`` by augmenting paths; True when every line got there.

    On return (stuck), ``seen_line`` / ``seen_cell`` mark the source side of a minimum cut.
    False too once ``stop`` is set (:func:`watch`: read before every search).
    """
    while True:
        if stop[0] != 0.0:
            return False
        for i in range(l0, l1):
            seen_line[i] = False
        for c in range(c0, c1):
            seen_cell[c] = False
        head = 0
        tail = 0
        for i in range(l0, l1):
            if target[i] - a[i] > eps:
                seen_line[i] = True
                par_line[i] = -1
                queue[tail] = i
                tail += 1
        if tail == 0:
            return True
        found = -1
        while head < tail and found < 0:
            node = queue[head]
            head += 1
            if node >= 0:  # a line: any of its cells
                for k in range(line_arc_ptr[node], line_arc_ptr[node + 1]):
                    c = arc_cell[k]
                    if not seen_cell[c]:
                        seen_cell[c] = True
                        par_cell[c] = k
                        if supply[c] - used[c] > eps:
                            found = c
                            break
                        queue[tail] = -c - 1
                        tail += 1
            else:  # a cell: lines that draw on it (send their flow elsewhere)
                c = -node - 1
                for j in range(cell_arc_ptr[c], cell_arc_ptr[c + 1]):
                    k = cell_arc[j]
                    i = arc_line[k]
                    if not seen_line[i] and x[k] > eps:
                        seen_line[i] = True
                        par_line[i] = k
                        queue[tail] = i
                        tail += 1
        if found < 0:
            return False
        b = supply[found] - used[found]
        c = found
        while True:
            k = par_cell[c]
            i = arc_line[k]
            if par_line[i] < 0:
                b = min(b, target[i] - a[i])
                break
            k2 = par_line[i]
            b = min(b, x[k2])
            c = arc_cell[k2]
        used[found] += b
        c = found
        while True:
            k = par_cell[c]
            x[k] += b
            i = arc_line[k]
            if par_line[i] < 0:
                a[i] += b
                break
            k2 = par_line[i]
            x[k2] -= b
            c = arc_cell[k2]


@njit(cache=True)
def _whole(value: float) -> float:
    """A goal in quanta: ``value`` floored to a whole quantum (a share a hair below a whole
    number, by rounding, counts as that number; a goal one quantum too high is caught by the
    exact feasibility check and the level lowered)."""
    return float(np.floor(value + 1e-7))


@njit(cache=True)
def _ranges(
    comp: int,
    comp_line_ptr: Any,
    comp_cell_ptr: Any,
    line_arc_ptr: Any,
    quantity: Any,
    supply: Any,
) -> tuple[int, int, int, int, int, int, float]:
    """Line, cell and arc ranges of component ``comp`` and its flow tolerance: ``_REL_EPS``
    × its largest quantity (line ``quantity`` or cell supply, at least 1)."""
    l0, l1 = comp_line_ptr[comp], comp_line_ptr[comp + 1]
    c0, c1 = comp_cell_ptr[comp], comp_cell_ptr[comp + 1]
    scale = 1.0
    for i in range(l0, l1):
        scale = max(scale, quantity[i])
    for c in range(c0, c1):
        scale = max(scale, supply[c])
    return l0, l1, c0, c1, line_arc_ptr[l0], line_arc_ptr[l1], _REL_EPS * scale


@njit(cache=True)
def _stable_order(keys: Any, m: int) -> Any:
    """``np.argsort(keys[:m], kind="mergesort")``: ascending, ties in index order (a stable
    sort's order is unique), by a bottom-up merge sort in plain loops - numba took ~1.5 s to
    compile the ``np.argsort`` it replaces (RESULTS.md, "A cold first demo")."""
    order = np.empty(m, np.int64)
    for i in range(m):
        order[i] = i
    spare = np.empty(m, np.int64)
    width = 1
    while width < m:
        for lo in range(0, m, 2 * width):
            mid = min(lo + width, m)
            hi = min(lo + 2 * width, m)
            i, j, k = lo, mid, lo
            while i < mid and j < hi:
                if keys[order[j]] < keys[order[i]]:  # ties: the left run's first
                    spare[k] = order[j]
                    j += 1
                else:
                    spare[k] = order[i]
                    i += 1
                k += 1
            while i < mid:
                spare[k] = order[i]
                i += 1
                k += 1
            while j < hi:
                spare[k] = order[j]
                j += 1
                k += 1
        order, spare = spare, order
        width *= 2
    return order


@njit(cache=True)
def _before(a: float, b: float) -> bool:
    """numba's float order for sorting (``numba.np.numpy_support.lt_floats``): NaN last."""
    return a < b or (np.isnan(b) and not np.isnan(a))


@njit(cache=True)
def _quick_order(keys: Any, m: int) -> Any:
    """``np.argsort(keys[:m])`` exactly as numba compiles it (its default quicksort,
    ``numba.misc.quicksort``: median-of-three partitions, the larger part stacked, insertion
    sort below 15 keys), ties included - the same permutation, step by step, in plain loops
    (numba took ~1.5 s to compile the ``np.argsort`` it replaces; the Newton step's sums run
    in this order, so it must stay numba's; tests/models/rationing/test_waterfill_order.py)."""
    order = np.empty(m, np.int64)
    for i in range(m):
        order[i] = i
    if m < 2:
        return order
    stack_lo = np.empty(100, np.int64)
    stack_hi = np.empty(100, np.int64)
    stack_lo[0] = 0
    stack_hi[0] = m - 1
    n = 1
    while n > 0:
        n -= 1
        low = stack_lo[n]
        high = stack_hi[n]
        while high - low >= 15:  # partition around the median of three
            mid = (low + high) >> 1
            if _before(keys[order[mid]], keys[order[low]]):
                order[low], order[mid] = order[mid], order[low]
            if _before(keys[order[high]], keys[order[mid]]):
                order[high], order[mid] = order[mid], order[high]
            if _before(keys[order[mid]], keys[order[low]]):
                order[low], order[mid] = order[mid], order[low]
            pivot = keys[order[mid]]
            order[high], order[mid] = order[mid], order[high]
            i = low
            j = high - 1
            while True:
                while i < high and _before(keys[order[i]], pivot):
                    i += 1
                while j >= low and _before(pivot, keys[order[j]]):
                    j -= 1
                if i >= j:
                    break
                order[i], order[j] = order[j], order[i]
                i += 1
                j -= 1
            order[i], order[high] = order[high], order[i]
            if high - i > i - low:  # the larger part waits on the stack
                if high > i:
                    stack_lo[n] = i + 1
                    stack_hi[n] = high
                    n += 1
                high = i - 1
            else:
                if i > low:
                    stack_lo[n] = low
                    stack_hi[n] = i - 1
                    n += 1
                low = i + 1
        for i in range(low + 1, high + 1):  # insertion sort of order[low:high + 1]
            k = order[i]
            v = keys[k]
            j = i
            while j > low and _before(v, keys[order[j - 1]]):
                order[j] = order[j - 1]
                j -= 1
            order[j] = k
    return order


@njit(cache=True)
def _copy_state(
    l0: int,
    l1: int,
    a0: int,
    a1: int,
    c0: int,
    c1: int,
    a: Any,
    x: Any,
    used: Any,
    to_a: Any,
    to_x: Any,
    to_used: Any,
) -> None:
    """Copy one component's line totals, arc flows and cell use (save or restore); plain
    loops: the slice assignments they replace took numba 3.7 s to compile (RESULTS.md)."""
    for i in range(l0, l1):
        to_a[i] = a[i]
    for k in range(a0, a1):
        to_x[k] = x[k]
    for c in range(c0, c1):
        to_used[c] = used[c]


@njit(cache=True, nogil=True)  # nogil: the watch thread runs beside it
def _ration_components(
    comp_line_ptr: Any,
    comp_cell_ptr: Any,
    small: Any,
    line_arc_ptr: Any,
    arc_cell: Any,
    arc_line: Any,
    cell_arc_ptr: Any,
    cell_arc: Any,
    supply: Any,
    req: Any,
    floor: Any,
    base: Any,
    weight: Any,
    tier: Any,
    num_tiers: int,
    alloc: Any,
    share: Any,
    hold: Any,
    stage: Any,
    level: Any,
    ok: Any,
    integral: bool,
    stop: Any,
) -> None:
    n = len(req)
    C = len(supply)
    A = len(arc_cell)
    x = np.zeros(A)
    used = np.zeros(C)
    a = np.zeros(n)
    target = np.zeros(n)
    goal = np.zeros(n)  # what the flow must reach: ``target``, floored to whole quanta if integral
    cut = np.zeros(n, np.bool_)
    held = np.zeros(n, np.bool_)  # a quantum held for the line's tier (the held quanta below)
    save_a = np.zeros(n)
    save_x = np.zeros(A)
    save_used = np.zeros(C)
    seen_line = np.zeros(n, np.bool_)
    seen_cell = np.zeros(C, np.bool_)
    reach_line = np.zeros(n, np.bool_)
    reach_cell = np.zeros(C, np.bool_)
    par_line = np.zeros(n, np.int64)
    par_cell = np.zeros(C, np.int64)
    queue = np.zeros(n + C + 1, np.int64)
    unfrozen = np.zeros(n, np.bool_)
    todo = np.zeros(n, np.bool_)
    bp = np.zeros(n)
    for comp in range(len(comp_line_ptr) - 1):
        if not small[comp]:
            continue
        l0, l1, c0, c1, a0, a1, eps = _ranges(
            comp, comp_line_ptr, comp_cell_ptr, line_arc_ptr, req, supply
        )
        if stop[0] != 0.0:
            stop[1] = stop[0]
            break
        # stock left at a cell counts as open only above what the lines' own shortfalls
        # (each ≤ eps) may leave behind
        eps_open = eps * (l1 - l0 + 2)
        if integral:  # whole quanta: every flow, use and goal is an exact integer
            eps = 0.5
            eps_open = 0.5
        for k in range(a0, a1):
            x[k] = 0.0
        for c in range(c0, c1):
            used[c] = 0.0
        for i in range(l0, l1):
            a[i] = 0.0
            target[i] = floor[i]
            goal[i] = base[i]
            held[i] = False
            level[i] = np.nan
            stage[i] = FULL if req[i] > 0 else ZERO_LEFT
        good = _augment(
            l0, l1, c0, c1, goal, a, x, used, supply, line_arc_ptr, arc_cell, arc_line,
            cell_arc_ptr, cell_arc, seen_line, seen_cell, par_line, par_cell, queue, eps, stop,
        )  # fmt: skip
        for t in range(1, num_tiers + 1):
            if not good:
                break
            want = 0.0
            count = 0
            for i in range(l0, l1):
                if tier[i] == t:
                    want += req[i]
                    count += 1
            if count == 0:
                continue
            _copy_state(l0, l1, a0, a1, c0, c1, a, x, used, save_a, save_x, save_used)
            for i in range(l0, l1):
                if tier[i] == t:
                    target[i] = req[i]
                    goal[i] = req[i]
            _augment(
                l0, l1, c0, c1, goal, a, x, used, supply, line_arc_ptr, arc_cell, arc_line,
                cell_arc_ptr, cell_arc, seen_line, seen_cell, par_line, par_cell, queue, eps,
                stop,
            )  # fmt: skip
            got = 0.0
            for i in range(l0, l1):
                if tier[i] == t:
                    got += a[i]
            if got >= want - (0.5 if integral else _TOL * max(1.0, abs(want))):
                continue  # served in full: the targets are the requests
            # short: back to the floors; lines whose request is (about) their floor get it
            _copy_state(l0, l1, a0, a1, c0, c1, save_a, save_x, save_used, a, x, used)
            for i in range(l0, l1):
                unfrozen[i] = False
                todo[i] = False
                if tier[i] == t:
                    if req[i] > (
                        base[i] + 0.5 if integral else floor[i] + _TOL * max(1.0, abs(req[i]))
                    ):
                        unfrozen[i] = True
                        todo[i] = True
                        target[i] = floor[i]
                        goal[i] = base[i]
                    else:
                        target[i] = req[i]
                        goal[i] = req[i]
            good = _augment(
                l0, l1, c0, c1, goal, a, x, used, supply, line_arc_ptr, arc_cell, arc_line,
                cell_arc_ptr, cell_arc, seen_line, seen_cell, par_line, par_cell, queue, eps,
                stop,
            )  # fmt: skip
            lam_prev = 0.0
            left = 0
            for i in range(l0, l1):
                if unfrozen[i]:
                    left += 1
            while good and left > 0:
                lam_cap = np.inf
                for i in range(l0, l1):
                    if unfrozen[i]:
                        lam_cap = min(lam_cap, req[i] / weight[i])
                lam = lam_cap
                _copy_state(l0, l1, a0, a1, c0, c1, a, x, used, save_a, save_x, save_used)
                feasible = False
                for i in range(l0, l1):
                    cut[i] = False
                for _ in range(4 * (l1 - l0) + 8):
                    for i in range(l0, l1):
                        if unfrozen[i]:
                            target[i] = min(req[i], max(floor[i], lam * weight[i]))
                            goal[i] = max(base[i], _whole(target[i])) if integral else target[i]
                    if _augment(
                        l0, l1, c0, c1, goal, a, x, used, supply, line_arc_ptr, arc_cell,
                        arc_line, cell_arc_ptr, cell_arc, seen_line, seen_cell, par_line,
                        par_cell, queue, eps, stop,
                    ):  # fmt: skip
                        feasible = True
                        break
                    if stop[0] != 0.0:
                        break
                    # Newton step: the cut S (seen lines) and its cells N(S)
                    rest = 0.0
                    for c in range(c0, c1):
                        if seen_cell[c]:
                            rest += supply[c]
                    m: Any = np.int64(0)  # int64, not Literal[int](0): one compile of the sort
                    for i in range(l0, l1):
                        if seen_line[i]:
                            if unfrozen[i]:
                                bp[m] = floor[i] / weight[i]
                                queue[m] = i
                                m += 1
                            else:  # continuous shares: the level is the LP stages'
                                rest -= target[i]
                    if m == 0:
                        break
                    if integral:  # this cut is tight at its root: its lines freeze there
                        for i in range(l0, l1):
                            cut[i] = seen_line[i] and unfrozen[i]
                    order = _quick_order(bp, m)
                    f_above = 0.0
                    for j in range(m):
                        f_above += floor[queue[j]]
                    w_below = 0.0
                    new = -1.0
                    for j in range(m):
                        i = queue[order[j]]
                        w_below += weight[i]
                        f_above -= floor[i]
                        cand = (rest - f_above) / w_below
                        nxt = bp[order[j + 1]] if j + 1 < m else np.inf
                        if cand <= nxt:
                            new = cand
                            break
                    _copy_state(l0, l1, a0, a1, c0, c1, save_a, save_x, save_used, a, x, used)
                    if integral:
                        if not new < lam and lam > 0:
                            # the root, in doubles, floored a goal a quantum too high: a few
                            # units of the last place lower
                            new = lam * (1.0 - 1e-15)
                        # the frozen shares' sum carries the doubles' rounding (0.1 quanta at
                        # 1e15): a root below the last level is that level
                        new = max(new, lam_prev)
                    if not new < lam or new < lam_prev - 1e-9 * max(1.0, lam):
                        break
                    lam = max(new, lam_prev)  # rounding below the last level: that level
                if not feasible:
                    good = False
                    break
                # freeze: lines at their cap, and lines no augmenting path leaves
                for i in range(l0, l1):
                    reach_line[i] = False
                for c in range(c0, c1):
                    reach_cell[c] = supply[c] - used[c] > eps_open
                tail = 0
                for c in range(c0, c1):
                    if reach_cell[c]:
                        queue[tail] = -c - 1
                        tail += 1
                head = 0
                while head < tail:
                    node = queue[head]
                    head += 1
                    if node < 0:
                        c = -node - 1
                        for j in range(cell_arc_ptr[c], cell_arc_ptr[c + 1]):
                            i = arc_line[cell_arc[j]]
                            if not reach_line[i]:
                                reach_line[i] = True
                                queue[tail] = i
                                tail += 1
                    else:
                        for k in range(line_arc_ptr[node], line_arc_ptr[node + 1]):
                            c = arc_cell[k]
                            if x[k] > eps and not reach_cell[c]:
                                reach_cell[c] = True
                                queue[tail] = -c - 1
                                tail += 1
                frozen = 0
                for i in range(l0, l1):
                    if not unfrozen[i]:
                        continue
                    if (
                        goal[i] >= req[i]
                        if integral
                        else req[i] / weight[i] <= lam * (1 + 1e-9) + 1e-12
                    ):
                        target[i] = req[i]  # the flow follows at the next augmentation
                        goal[i] = req[i]
                    elif reach_line[i] and not cut[i]:
                        continue
                    unfrozen[i] = False
                    level[i] = target[i] / weight[i]
                    frozen += 1
                if frozen == 0:
                    good = False
                    break
                left -= frozen
                lam_prev = lam
            if not good:
                break
            if integral:
                # The quanta a short tier's floored shares left free are held for the tier:
                # one more quantum to each of its lines that can still reach one, largest
                # remainder ``target - goal`` first, marked ``held``. The lower tiers, raised
                # after it, cannot take them; the answer gives each held quantum back (a
                # share is floored to the grid, as the LP stages' is when routed), so
                # rounding never moves stock to a lower tier. Each line below its continuous
                # share is tried once (an augmenting path of whole quanta, or none).
                m = np.int64(0)  # (as above)
                for i in range(l0, l1):
                    if todo[i] and target[i] - goal[i] > 1e-9:
                        bp[m] = goal[i] - target[i]  # ascending: largest remainder first
                        queue[m] = i
                        m += 1
                short_lines = queue[:m].copy()
                for j in _stable_order(bp, m):
                    i = short_lines[j]
                    goal[i] += 1.0
                    if _augment(
                        l0, l1, c0, c1, goal, a, x, used, supply, line_arc_ptr, arc_cell,
                        arc_line, cell_arc_ptr, cell_arc, seen_line, seen_cell, par_line,
                        par_cell, queue, 0.5, stop,
                    ):  # fmt: skip
                        held[i] = True
                    else:
                        goal[i] = a[i]
            for i in range(l0, l1):
                if todo[i]:
                    # whole quanta: exactly what the line gets (a line 10 units short of 1e12
                    # is not "served in full")
                    tol = 0.5 if integral else _TOL * max(1.0, abs(req[i]))
                    got = goal[i] - held[i] if integral else target[i]
                    if got <= tol:
                        stage[i] = ZERO_LEFT
                    elif got >= req[i] - tol:
                        stage[i] = FULL
                    else:
                        stage[i] = FAIR
        if stop[0] != 0.0:  # stopped inside the component: no answer
            stop[1] = stop[0]
            break
        ok[comp] = good
        if good:
            for i in range(l0, l1):
                alloc[i] = goal[i] - 1.0 if held[i] else goal[i]
                hold[i] = held[i]
                share[i] = target[i]


@njit(cache=True)
def reach_gain(
    line_arc_ptr: Any,
    arc_cell: Any,
    cell_arc_ptr: Any,
    cell_arc: Any,
    arc_line: Any,
    source: Any,
    short: Any,
    flow: Any,
) -> Any:
    """Per cell, the most quanta the ``source`` lines could still gain there along one
    path (0 where none reaches): line → any of its cells → another line with ``flow``
    there (that line moves flow to its other cells) → …, a path's gain being the least of
    the source's ``short`` and the flows it moves (a widest path, by label correcting; all
    in whole quanta). Arcs are in CSR order by line (``line_arc_ptr``); ``cell_arc`` lists
    each cell's arcs.
    """
    n = len(line_arc_ptr) - 1
    C = len(cell_arc_ptr) - 1
    line_gain = np.zeros(n)
    cell_gain = np.zeros(C)
    queued = np.zeros(n, np.bool_)
    queue = np.empty(n + 1, np.int64)
    size = n + 1
    head = 0
    tail = 0
    for i in range(n):
        if source[i]:
            line_gain[i] = short[i]
            queue[tail] = i
            tail += 1
            queued[i] = True
    while head != tail:
        i = queue[head]
        head = head + 1 if head + 1 < size else 0
        queued[i] = False
        for k in range(line_arc_ptr[i], line_arc_ptr[i + 1]):
            c = arc_cell[k]
            if cell_gain[c] >= line_gain[i]:
                continue
            cell_gain[c] = line_gain[i]
            for m in range(cell_arc_ptr[c], cell_arc_ptr[c + 1]):
                k2 = cell_arc[m]
                j = arc_line[k2]
                g = min(cell_gain[c], flow[k2])
                if g <= line_gain[j]:
                    continue
                line_gain[j] = g
                if not queued[j]:
                    queued[j] = True
                    queue[tail] = j
                    tail = tail + 1 if tail + 1 < size else 0
    return cell_gain
