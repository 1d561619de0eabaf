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
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from optim.models.safety_stock.critical import (
    Lattice,
    SegmentModel,
    StagePolicy,
    StageSpec,
    _held,
    _lower_bound,
    _memo_of,
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


def _cdf_at(lo: int, pmf: FloatArray, b: NDArray[np.int64]) -> FloatArray:
    """:math:`P(X \\le b)` for a lattice law ``(lo, pmf)``, at every ``b``."""
    cdf = np.concatenate([[0.0], np.cumsum(pmf)])
    return cdf[np.minimum(np.maximum(b - (lo - 1), 0), pmf.size)]


def least_unreserved(w: Lattice, segments: list[SegmentModel], b_min: int = 0) -> int:
    r"""Least base stock ``b >= b_min`` (lattice steps; not below the critical-level search's
    own start, the top class alone) with which every class meets its target with all critical
    levels 0; ``w`` is the demand of the earlier periods.

    Without reservation class :math:`k` (served after the classes below it) faces the stock
    :math:`(b - Z_k)^+`, :math:`Z_k = W + \sum_{i > k} D_i` (demand is non-negative), so for
    every ``b`` at once: cycle service :math:`P(Z_k + D_k \le b) + P(D_k = 0) P(Z_k > b)` and
    fill rate :math:`\sum_z P(Z_k = z)\, E[\min(D_k, (b - z)^+)] / E[D_k]` — one convolution
    per class instead of a search over ``b``; the same exact lattice arithmetic as
    :func:`.critical.evaluate_policy` (tested equal to a scan with it)."""
    start = _lower_bound(w, segments, b_min)
    z_lo, z = w.lo, w.pmf
    top = w.hi + sum(s.demand.hi for s in segments)  # every class served in full from here
    b = np.arange(start, max(top, start) + 1)
    ok = np.ones(b.size, dtype=bool)
    for seg in reversed(segments):  # lowest priority first: Z grows by each class served
        d = seg.demand
        both = np.convolve(z, d.pmf)  # Z + D_k: this class's test, and Z of the next class
        if seg.measure == "cycle_service":
            p0 = float(d.pmf[0]) if d.lo == 0 else 0.0
            service = _cdf_at(z_lo + d.lo, both, b) + p0 * (1.0 - _cdf_at(z_lo, z, b))
        else:
            _, csurv, mean = seg._cum  # csurv[x - lo]: E[min(D, x)] less the part below lo
            x = np.arange(max(top - z_lo, 0) + 1)
            up = np.minimum(np.maximum(x - d.lo, 0), csurv.size - 1)
            phi = np.minimum(x, max(d.lo, 0)) + csurv[up]
            conv = np.convolve(z, phi)[: x.size]  # sum_z P(Z = z) E[min(D, b - z)], z <= b
            at = np.minimum(np.maximum(b - z_lo, 0), x.size - 1)
            served = np.where(b >= z_lo, conv[at], 0.0)
            service = served / mean if mean > 0 else np.ones(b.size)
        ok &= service >= seg.target - 1e-12
        z_lo, z = z_lo + d.lo, both
    return int(b[int(np.argmax(ok))]) if ok.any() else int(b[-1])


def strictest_table(
    spec: StageSpec, tau_max: int, reserved: FloatArray | None = None
) -> FloatArray:
    """Safety stock of the stage covering the strictest without reservation, for
    :math:`\\tau = 0..` ``tau_max``: built as :func:`.critical.stage_table` (same windows,
    same floor from the previous :math:`\\tau`), with :func:`least_unreserved`.

    ``reserved``, the stage's critical-level table, only shortens the search: the least base
    stock with critical levels is a lower bound (module docstring) and so is
    :math:`(\\mu\\tau + SS^*(\\tau)) / g` (it is that or the floor), so the search starts
    there and finds the same least base stock above the floor."""
    memo = _memo_of(spec.segments)
    segs = strictest(spec.segments)
    ss = np.zeros(tau_max + 1)
    for tau in range(1, tau_max + 1):
        floor_b = math.ceil((spec.mean * tau + ss[tau - 1]) / spec.step - 1e-9)
        if reserved is not None:
            floor_b = max(floor_b, math.ceil((spec.mean * tau + reserved[tau]) / spec.step - 1e-6))
        b = least_unreserved(memo.window(tau - 1), segs, max(0, floor_b))
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


def cover_strictest_data(
    instance: SafetyStockInstance, data: GSMData, workers: int = 1
) -> GSMData:
    """``data`` (prepared for ``pooling="critical_level"``) with every critical-level stage's
    table (and order delays) replaced by the cover-the-strictest table of this module; every
    other stage's table is kept. ``data`` itself when no stage has critical levels.

    ``workers``: the network's items are cut into blocks (:func:`.tables.item_blocks`) on the
    executor seam (:func:`optim.executor.fan_out`: local processes, or the Dask cluster in
    force); a stage's table depends only on its own item, so the arrays are the same for any
    executor and worker count."""
    from dataclasses import replace

    from optim import executor
    from optim.models.safety_stock.tables import item_blocks, sub_instance

    if data.ss_table is None or not stage_specs(instance, data.n, data.ids):
        return data
    blocks = item_blocks(data, workers)
    if len(blocks) == 1:
        changed = [_strictest_tables(instance, data, data.ss_table)]
    else:
        tabs = data.ss_table
        changed = executor.fan_out(
            _block_strictest,
            [(sub_instance(instance, b), [tabs[j] for j in b.tolist()]) for b in blocks],
            workers=workers,
            desc="cover-the-strictest tables per item",
        )
    tables = list(data.ss_table)
    delays = list(data.order_delay) if data.order_delay is not None else None
    for stages, block in zip(blocks, changed, strict=True):
        for k, (table, delay) in block.items():
            j = int(stages[k])
            tables[j] = table
            if delay is not None:
                assert delays is not None  # random lead times have order delays
                delays[j] = delay
    out = data.with_table(tables)
    return out if delays is None else replace(out, order_delay=tuple(delays))


def _strictest_tables(
    instance: SafetyStockInstance, data: GSMData, reserved: Sequence[FloatArray]
) -> dict[int, tuple[FloatArray, NDArray[np.int64] | None]]:
    """Per critical-level stage position: its cover-the-strictest table and, under a random
    lead time, its order delays (``reserved``: the stages' critical-level tables)."""
    from optim.models.safety_stock.lead_times import critical_lead_time_table, needs_table

    out: dict[int, tuple[FloatArray, NDArray[np.int64] | None]] = {}
    for j, spec in stage_specs(instance, data.n, data.ids).items():
        stage = instance.stages[j]
        tau_max = int(data.tau_max[j])
        if needs_table(stage):
            out[j] = critical_lead_time_table(
                spec,
                stage,
                int(data.lead_time[j]),
                tau_max,
                base_stock=strictest_lead_time_base_stock,
            )
        else:
            out[j] = (strictest_table(spec, tau_max, reserved[j]), None)
    return out


def _block_strictest(
    piece: tuple[SafetyStockInstance, list[FloatArray]],
) -> dict[int, tuple[FloatArray, NDArray[np.int64] | None]]:
    """One block of :func:`cover_strictest_data` (a module function: processes and Dask run
    it): the block's items as an instance of their own and their critical-level tables."""
    from optim.models.safety_stock.data import prepare_arrays

    sub, reserved = piece
    return _strictest_tables(sub, prepare_arrays(sub), reserved)
