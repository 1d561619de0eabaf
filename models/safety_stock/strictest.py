r"""The comparison point of critical levels: cover the strictest, like for like.

``pooling="max_z"`` covers every segment of a stage at the stage's strictest target with one
first-come-first-served stock on the normal square-root model. A critical-level stage
(:mod:`.critical`) is sized on each demand's own law (discretised normal, Poisson, negative
binomial), in whole periods and in each segment's own service measure. Comparing the two
mixes the saving of the reservation with the difference of the demand models (on the
planning demo's small seed critical levels cost 694.94 against max_z's 683.70: max_z's normal
approximation under-covers skewed demand). The saving is therefore stated against **the same
model without reservation**:

* every stage with critical levels keeps its classes, their laws, lattice and service
  measures and its replenishment-time model (whole periods; under a random lead time the
  mixture of :mod:`.lead_times`), but holds **all critical levels at 0** and raises **every
  class's target to the strictest target at the stage** (the downstream flow's included):
  "cover the strictest" evaluated exactly as the critical-level model evaluates service;
* every other stage keeps its table (the same square-root or lead-time model as in the plan).

Why critical levels can only be cheaper or equal. For a stage and :math:`\tau`, the levels
:math:`(0, \dots, 0)` meeting the raised targets also meet the original ones (each is at most
the strictest), so they are a feasible point of the critical-level search: the least base
stock with critical levels :math:`B^*(\tau)` is at most the least base stock without them
:math:`B^0(\tau)`. Both searches start from the previous :math:`\tau`'s stock and feasibility
is monotone in :math:`B` (stock after every class is stochastically increasing in :math:`B`
when levels are fixed), so by induction over :math:`\tau` the tables
:math:`SS(\tau) = \max(SS(\tau - 1), B(\tau) g - \mu\tau)` (and, under a random lead time,
the suffix minima over the order delay) are ordered pointwise. The GSM optimum over pointwise
smaller stage costs is no larger, so with exact solvers (tree DP; the DAG solver at gap 0)
``cost(critical_level) <= cost(cover the strictest)``; with a stated gap, up to that gap.
Tested by hypothesis over random multi-segment trees and DAGs, with every segment meeting its
target in simulation.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from numba import njit
from numpy.typing import NDArray

from optim.models.safety_stock.critical import (
    Lattice,
    SegmentModel,
    StagePolicy,
    StageSpec,
    _held,
    _lower_bound,
    _memo_of,
    _nb_after,
    _nb_measured,
    _nb_stock,
    _pack,
    evaluate_policy,
    stage_specs,
)

if TYPE_CHECKING:
    from optim.instances.safety_stock import SafetyStockInstance, Stage
    from optim.models.safety_stock.data import GSMData

__all__ = [
    "cover_strictest_data",
    "least_unreserved",
    "strictest",
    "strictest_lead_time_base_stock",
    "strictest_policy",
    "strictest_table",
]

FloatArray = NDArray[np.float64]


def strictest(segments: list[SegmentModel] | tuple[SegmentModel, ...]) -> list[SegmentModel]:
    """The classes with every target raised to the strictest (own law and measure kept)."""
    top = max(s.target for s in segments)
    return [SegmentModel(s.demand, top, s.measure) for s in segments]


@njit(cache=True)
def _nb_unreserved(w_lo: int, w: FloatArray, segs: tuple, b: int) -> bool:  # pragma: no cover
    """Every class meets its target with all critical levels 0 and base stock ``b``."""
    r_lo, r = _nb_stock(w_lo, w, b)
    target = segs[5]
    for k in range(target.size - 1, -1, -1):  # lowest priority first, as the policy serves
        if _nb_measured(r_lo, r, k, 0, segs) < target[k] - 1e-12:
            return False
        if k:
            r_lo, r = _nb_after(r_lo, r, k, 0, segs)
    return True


def least_unreserved(
    w: Lattice, segments: list[SegmentModel], b_min: int = 0, packed: tuple | None = None
) -> int:
    """Least base stock ``b >= b_min`` (lattice steps) with which every class meets its
    target with all critical levels 0 (``w``: the demand of the earlier periods). Feasibility
    is monotone in ``b``: doubling steps from the critical-level lower bound, then bisection."""
    segs = _pack(segments) if packed is None else packed

    def ok(b: int) -> bool:
        return bool(_nb_unreserved(w.lo, w.pmf, segs, b))

    lo = _lower_bound(w, segments, b_min)  # valid: no levels is one choice of levels
    hi, grow = lo, 1
    while not ok(hi):
        lo, hi, grow = hi + 1, hi + grow, grow * 2
    while lo < hi:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if ok(mid) else (mid + 1, hi)
    return hi


def strictest_table(spec: StageSpec, tau_max: int) -> FloatArray:
    """Safety stock of the stage covering the strictest without reservation, for
    :math:`\\tau = 0..` ``tau_max``: built as :func:`.critical.stage_table` (same windows,
    same floor from the previous :math:`\\tau`), with :func:`least_unreserved`."""
    memo = _memo_of(spec.segments)
    segs = strictest(spec.segments)
    packed = _pack(segs)
    ss = np.zeros(tau_max + 1)
    for tau in range(1, tau_max + 1):
        floor_b = math.ceil((spec.mean * tau + ss[tau - 1]) / spec.step - 1e-9)
        b = least_unreserved(memo.window(tau - 1), segs, max(0, floor_b), packed)
        ss[tau] = max(b * spec.step - spec.mean * tau, ss[tau - 1])
    return ss


def strictest_policy(spec: StageSpec, tau: int, safety_stock: float) -> StagePolicy:
    """:func:`.critical.policy_at` without reservation: the table's base stock, levels 0 and
    the exact services of the stage's own demands (the downstream flow left out)."""
    k = len(spec.segments)
    if tau <= 0:
        pol = StagePolicy(0, (0,) * k, (1.0,) * k, (1.0,) * k)
    else:
        w = _memo_of(spec.segments).window(tau - 1)
        pol = evaluate_policy(w, list(spec.segments), _held(spec, tau, safety_stock), [0] * k)
    if not spec.flow:
        return pol
    return StagePolicy(pol.b, pol.levels[1:], pol.cycle[1:], pol.fill[1:])


def strictest_lead_time_base_stock(
    spec: StageSpec, stage: Stage, lead_time: int, tau: int, windows: object | None = None
) -> int:
    """:func:`.lead_times.critical_lead_time_base_stock` without reservation: the least base
    stock on the same replenishment-time mixture with levels 0 and every conditioned target
    raised to the strictest."""
    from optim.models.safety_stock.lead_times import (
        _conditioned,
        _replenishment_mixture,
        _Windows,
    )

    q_inf, finite = _replenishment_mixture(stage, tau - lead_time)
    if not finite:
        return 0
    win = windows if isinstance(windows, _Windows) else _Windows(spec)
    return least_unreserved(win.mixture(finite), strictest(_conditioned(spec, q_inf)))


def cover_strictest_data(instance: SafetyStockInstance, data: GSMData) -> GSMData:
    """``data`` (prepared for ``pooling="critical_level"``) with every critical-level stage's
    table (and order delays) replaced by the cover-the-strictest table of this module; every
    other stage's table is kept. ``data`` itself when no stage has critical levels."""
    from dataclasses import replace

    from optim.models.safety_stock.lead_times import critical_lead_time_table, needs_table

    specs = stage_specs(instance, data.n, data.ids)
    if not specs or data.ss_table is None:
        return data
    tables = list(data.ss_table)
    delays = list(data.order_delay) if data.order_delay is not None else None
    for j, spec in specs.items():
        stage = instance.stages[j]
        tau_max = int(data.tau_max[j])
        if needs_table(stage):
            assert delays is not None  # random lead times have order delays
            tables[j], delays[j] = critical_lead_time_table(
                spec,
                stage,
                int(data.lead_time[j]),
                tau_max,
                base_stock=strictest_lead_time_base_stock,
            )
        else:
            tables[j] = strictest_table(spec, tau_max)
    out = data.with_table(tables)
    return out if delays is None else replace(out, order_delay=tuple(delays))
