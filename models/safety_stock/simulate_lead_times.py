"""Monte-Carlo check of GSM solutions with random or fractional lead times (issue 14).

:func:`optim.models.safety_stock.simulate.simulate` hands instances with a random or
fractional lead time here. The policy, the ``upstream`` modes and the statistics are those of
:mod:`optim.models.safety_stock.simulate` (its module docstring; one text, not repeated
here), with two differences:

* a stage with a random lead time receives each period's replenishment after a drawn lead
  time (normal with ``lead_time_std_dev``, or the given discrete distribution), its order
  released ``order_delay`` periods late (:mod:`.lead_times`);
* at stages without critical levels demand is normal (first come, first served) and each
  row's service is the cycle service (share of periods whose orders ship by :math:`t + S_j`);
  the intervals are per row at ``confidence`` (:func:`.simulate.simulate` asks for its rows
  at the Bonferroni level, so that its intervals are simultaneous over all rows);
* stages with critical levels (:func:`simulate_critical`) draw the lead times, the model's
  demand laws and apply the critical levels the result states, both measures per segment,
  with intervals simultaneous over all rows (as :mod:`.simulate`).

All three keep the model's convention: one replenishment time per period, no order crossing.
:func:`simulate_crossing` instead draws every period's lead time independently (orders cross),
the physical system against which that convention is conservative (:mod:`.lead_times`,
"Order crossing").
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from optim import executor
from optim.instances.safety_stock import SafetyStockInstance
from optim.models.safety_stock.data import GSMData, prepare
from optim.models.safety_stock.lead_times import lead_time_model, needs_table
from optim.models.safety_stock.simulate import (
    _BATCHES,
    _cumulative,
    _rep_pieces,
    _row,
    _row_searchsorted,
    _solution_arrays,
    _stage_orders,
    _t_quantile,
)

__all__ = ["simulate", "simulate_critical", "simulate_crossing"]

Upstream = Literal["guaranteed", "actual"]

_CHUNK_BYTES = 64 * 2**20  # demand and orders of one chunk of replications
LeadModel = tuple[str, NDArray[np.float64], NDArray[np.float64], float]
"""A stage's lead-time law: :func:`.lead_times.lead_time_model`."""


def simulate(
    instance: SafetyStockInstance,
    result: Any,
    periods: int = 2000,
    replications: int = 30,
    seed: int = 0,
    *,
    warmup: int | None = None,
    upstream: Upstream = "guaranteed",
    safety_stock_factor: float = 1.0,
    truncate_at_zero: bool | None = None,
    confidence: float = 0.95,
    workers: int = 1,
    data: GSMData | None = None,
) -> pd.DataFrame:
    """Simulate the base-stock policy of a GSM solution and measure kept promises.

    The parameters are those of :func:`optim.models.safety_stock.simulate.simulate` (same
    meaning and defaults), without ``levels``: stages here are served first come, first
    served. ``workers``: the replications are split over that many local processes (or the
    Dask cluster in force); every replication has its own random streams, so the table is
    the same for any executor and worker count. ``data``: the instance's arrays when the
    caller has them (:func:`.data.prepare` otherwise).

    Returns
    -------
    pandas.DataFrame
        One row per demand (stage, segment): ``stage``, ``segment``, ``target`` (service
        level), ``service_time`` (the stage's committed :math:`S_j`), ``max_service_time``,
        ``fill`` (fraction of periods whose demand shipped by :math:`t + S_j`), ``stderr``,
        ``ci_low``, ``ci_high``, ``meets_target``, ``samples`` (periods × replications).
    """
    if periods < 1 or replications < 1:
        raise ValueError("periods and replications must be >= 1.")
    if upstream not in ("guaranteed", "actual"):
        raise ValueError(f"upstream must be 'guaranteed' or 'actual', got {upstream!r}.")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}.")
    if truncate_at_zero is None:
        truncate_at_zero = upstream == "actual"
    if upstream == "actual" and not truncate_at_zero:
        raise ValueError("upstream='actual' needs non-negative demand: truncate_at_zero=True.")

    data = prepare(instance, workers=workers) if data is None else data
    s_out, s_in, ss = _solution_arrays(instance, data, result)
    tau = s_in + data.lead_time - s_out
    delay = data.delay(tau)  # order release delay of stages with random lead times
    if np.any(tau < 0):
        bad = data.ids[int(np.argmin(tau))]
        raise ValueError(f"stage {bad!r} has a negative net replenishment time; not a solution.")
    if warmup is None:
        warmup = int(data.tau_max.max(initial=0) + s_out.max(initial=0)) + 1
    horizon = warmup + periods + int(s_out.max(initial=0))

    dem = instance.demands
    from optim.models.safety_stock.critical import law_std_devs

    sd = law_std_devs(instance)
    pos = {sid: j for j, sid in enumerate(data.ids)}
    dstage = np.array([pos[d.stage] for d in dem], dtype=np.int64)
    report = np.unique(dstage)  # stages whose promise is reported
    phi2 = data.phi.multiply(data.phi).tocsr() if data.phi.nnz else data.phi
    order_sd = np.sqrt(np.asarray(phi2 @ (sd**2), dtype=np.float64)) if sd.size else np.zeros(0)
    succ: list[list[tuple[int, float]]] = [[] for _ in range(data.n)]
    for i, j, q in zip(
        data.source.tolist(), data.target.tolist(), data.quantity.tolist(), strict=True
    ):
        succ[i].append((j, q))
    run = _FcfsRun(
        data=data,
        seed=seed,
        horizon=horizon,
        warmup=warmup,
        periods=periods,
        upstream=upstream,
        truncate=bool(truncate_at_zero),
        batches=0 if replications >= 2 else min(_BATCHES, periods),
        mu=np.array([d.mean for d in dem], dtype=np.float64),
        sd=sd,
        dstage=dstage,
        report=report,
        lead_models=tuple(lead_time_model(s) for s in instance.stages),
        random_lead=tuple(needs_table(s) for s in instance.stages),
        s_in=s_in,
        s_out=s_out,
        delay=delay,
        tau=tau,
        base=data.base_stock(s_in, s_out, safety_stock_factor * ss),
        order_sd=order_sd,
        succ=tuple(tuple(x) for x in succ),
    )
    per_rep = max(1, data.n * (horizon + 1) * 8 * 3)
    parts = executor.fan_out(
        _fcfs_piece,
        [(run, r0, r1) for r0, r1 in _rep_pieces(replications, per_rep, workers, _CHUNK_BYTES)],
        workers=workers,
        desc="simulation replications (random lead times)",
    )
    samples = np.concatenate(parts, axis=1)  # (stages, replications or batches)
    k = samples.shape[1]
    fill = samples.mean(axis=1)
    stderr = samples.std(axis=1, ddof=1) / math.sqrt(k) if k > 1 else np.zeros(len(report))
    half = _t_quantile(0.5 + confidence / 2, k - 1) * stderr
    row_of = {int(j): r for r, j in enumerate(report.tolist())}

    rows = []
    for d_idx, d in enumerate(dem):
        j = int(dstage[d_idx])
        r = row_of[j]
        rows.append(_row(d, int(s_out[j]), fill[r], stderr[r], half[r], periods * replications))
    return pd.DataFrame(rows)


# --- internals -------------------------------------------------------------------------------
#
# Every replication draws from its own generators: child ``r`` of ``SeedSequence([seed, k])``
# (``numpy.random.SeedSequence.spawn``), ``k`` one key per purpose (:data:`_DEMAND`,
# :data:`_BRIDGE`, :data:`_REPLENISH`). A replication's numbers therefore do not depend on
# which piece it is in, nor on the worker or machine that runs it: the replications are cut
# into pieces on the executor seam (:func:`.simulate._rep_pieces`) and the tables are the
# same bytes for any executor and worker count.

_DEMAND = 0  # demand, then the lead times (first-come-first-served stages)
_BRIDGE = 1  # the Brownian-bridge share of a fractional window
_REPLENISH = 14  # the replenishment times of critical-level stages


def _streams(seed: int, key: int, reps: range) -> list[np.random.Generator]:
    """One generator per replication ``r`` in ``reps``: child ``r`` of
    ``SeedSequence([seed, key])``."""
    return [
        np.random.default_rng(np.random.SeedSequence([seed, key], spawn_key=(r,))) for r in reps
    ]


def _leads(
    gens: list[np.random.Generator],
    model: LeadModel,
    periods: int,
) -> NDArray[np.float64]:
    """Lead times of one stage, (replication, period), each row from its replication's
    generator."""
    return np.stack([_draw_lead(g, model, (periods,)) for g in gens])


@dataclass(frozen=True)
class _Reps:
    """What every piece of replications needs (a piece's run is sent to worker processes or
    Dask as is): the seed, the periods simulated (``horizon``, the first ``warmup`` not
    counted), ``batches`` (see each simulator), every stage's lead-time law and whether it
    is random (or fractional)."""

    seed: int
    horizon: int
    warmup: int
    batches: int
    base: NDArray[np.float64]  # base stock per stage
    tau: NDArray[np.int64]  # net replenishment time per stage
    lead_models: tuple[LeadModel, ...]
    random_lead: tuple[bool, ...]


@dataclass(frozen=True)
class _FcfsRun(_Reps):
    """A piece of :func:`simulate` (``batches`` 0: one sample per replication; else the batch
    means of the one replication)."""

    data: GSMData
    periods: int
    upstream: str
    truncate: bool
    mu: NDArray[np.float64]
    sd: NDArray[np.float64]
    dstage: NDArray[np.int64]
    report: NDArray[np.int64]
    s_in: NDArray[np.int64]
    s_out: NDArray[np.int64]
    delay: NDArray[np.int64]
    order_sd: NDArray[np.float64]
    succ: tuple[tuple[tuple[int, float], ...], ...]


def _fcfs_piece(task: tuple[_FcfsRun, int, int]) -> NDArray[np.float64]:
    """Replications ``r0 .. r1 - 1`` of :func:`simulate` (a module function: processes and
    Dask run it): the share of kept periods per (reported stage, replication), or per batch
    with one replication."""
    run, r0, r1 = task
    data, report, horizon = run.data, run.report, run.horizon
    reps = range(r0, r1)
    gens = _streams(run.seed, _DEMAND, reps)
    nd = run.mu.size
    demand = np.stack([g.standard_normal((nd, horizon)) for g in gens], axis=1)
    demand = demand * run.sd[:, None, None] + run.mu[:, None, None]
    if run.truncate:
        np.maximum(demand, 0.0, out=demand)
    orders = _stage_orders(
        data.n, run.dstage, demand, [list(x) for x in run.succ], data.order[::-1].tolist()
    )
    if run.upstream == "guaranteed":
        windows = [
            _leads(gens, run.lead_models[j], horizon)
            + float(run.s_in[j] + run.delay[j] - run.s_out[j])
            if run.random_lead[j]
            else None
            for j in report.tolist()
        ]
        kept = _kept_guaranteed(
            orders[report],
            run.base[report],
            run.tau[report],
            windows,
            run.order_sd[report],
            _streams(run.seed, _BRIDGE, reps),
        )
    else:
        draws = [
            np.ceil(_leads(gens, run.lead_models[j], horizon) - 1e-12).astype(np.int64)
            + int(run.delay[j])
            if run.random_lead[j]
            else None
            for j in range(data.n)
        ]
        kept = _kept_actual(data, orders, run.base, run.s_out, report, draws)
    kept = kept[:, :, run.warmup : run.warmup + run.periods]
    if not run.batches:
        return np.asarray(kept.mean(axis=2), dtype=np.float64)
    nb = run.batches
    usable = run.periods - run.periods % nb
    return np.asarray(kept[:, 0, :usable].reshape(len(report), nb, -1).mean(axis=2))


def _draw_lead(
    rng: np.random.Generator,
    model: LeadModel,
    shape: tuple[int, ...],
) -> NDArray[np.float64]:
    """Independent lead times of one stage, one per (replication, period)."""
    kind, values, prob, sd = model
    if kind == "normal":  # max(0, N(mean, sd^2)), as the model
        return np.maximum(values[0] + sd * rng.standard_normal(shape), 0.0)
    if values.size == 1:
        return np.full(shape, float(values[0]))
    return values[rng.choice(values.size, size=shape, p=prob)]


def _kept_guaranteed(
    orders: NDArray[np.float64],
    base: NDArray[np.float64],
    tau: NDArray[np.int64],
    windows: list[NDArray[np.float64] | None] | None = None,
    order_sd: NDArray[np.float64] | None = None,
    bridges: list[np.random.Generator] | None = None,
) -> NDArray[np.bool_]:
    """Kept[j, r, t]: demand of the replenishment window ending at ``t`` is at most ``B_j``.

    The window is ``tau_j`` periods for a deterministic lead time; for a random one it is
    ``windows[j][r, t] = SI_j - S_j + L`` (``L`` drawn per period, <= 0: nothing to cover).
    A fractional window takes the whole periods plus the fraction ``f`` of the period before
    them by a Brownian bridge (``f q + sqrt(f (1 - f)) sigma_j eps``), so demand over ``w``
    periods has variance ``sigma_j^2 w`` exactly, as the model assumes; ``eps`` of replication
    ``r`` comes from ``bridges[r]``, drawn for the stages whose row has such a fraction.
    """
    cum = _cumulative(orders)
    horizon = orders.shape[-1]
    t = np.arange(horizon)
    kept = np.empty(orders.shape, dtype=bool)
    for r, (b, w) in enumerate(zip(base.tolist(), tau.tolist(), strict=True)):
        tol = 1e-9 * max(1.0, abs(b))
        win = windows[r] if windows is not None else None
        if win is None:
            lo = np.maximum(t + 1 - w, 0)
            kept[r] = cum[r][:, t + 1] - cum[r][:, lo] <= b + tol
            continue
        span = np.maximum(win, 0.0)
        whole = np.floor(span).astype(np.int64)
        frac = span - whole
        lo = np.maximum(t[None, :] + 1 - whole, 0)
        demand = cum[r][:, 1:] - np.take_along_axis(cum[r], lo, axis=1)
        prev = lo - 1  # the period just before the whole periods
        has = (prev >= 0) & (frac > 0)
        if bool(has.any()):
            q = np.take_along_axis(orders[r], np.maximum(prev, 0), axis=1)
            assert bridges is not None and order_sd is not None
            eps = np.stack(
                [
                    g.standard_normal(q.shape[1]) if row.any() else np.zeros(q.shape[1])
                    for g, row in zip(bridges, has, strict=True)
                ]
            )
            part = frac * q + np.sqrt(frac * (1.0 - frac)) * float(order_sd[r]) * eps
            demand = demand + np.where(has, part, 0.0)
        kept[r] = demand <= b + tol
    return kept


def _kept_actual(
    data: GSMData,
    orders: NDArray[np.float64],
    base: NDArray[np.float64],
    s_out: NDArray[np.int64],
    report: NDArray[np.int64],
    draws: list[NDArray[np.int64] | None] | None = None,
) -> NDArray[np.bool_]:
    """Kept promises when late suppliers delay replenishment (suppliers first).

    A random lead time is drawn per order (``draws[j]``, rounded up to whole periods);
    orders are delivered in sequence (an order never overtakes an earlier one).
    """
    n, reps, horizon = orders.shape
    cum = _cumulative(orders)[:, :, 1:]  # A_j(t), inclusive, non-decreasing per row
    t = np.arange(horizon)
    never = np.iinfo(np.int64).max // 4
    ship = np.empty((n, reps, horizon), dtype=np.int64)  # G_j(t)
    pred = data.predecessors()
    for j in data.order.tolist():
        start = np.broadcast_to(t + data.external[j], (reps, horizon)).copy()
        for i in pred[j]:
            np.maximum(start, ship[i], out=start)
        lead_j = draws[j] if draws is not None and draws[j] is not None else data.lead_time[j]
        arrival = np.minimum(start, never) + lead_j  # completion of orders of t
        arrival = np.minimum(arrival, never)
        if draws is not None and draws[j] is not None:
            arrival = np.maximum.accumulate(arrival, axis=1)
        # First order index m with A_j(m) >= A_j(t) - B_j; available from arrival[m].
        need = cum[j] - base[j]
        first = _row_searchsorted(cum[j], need)
        avail_at = np.where(
            need <= 1e-9 * max(1.0, abs(base[j])),
            np.iinfo(np.int64).min // 4,
            np.take_along_axis(
                np.concatenate([arrival, np.full((reps, 1), never)], axis=1), first, axis=1
            ),
        )
        ship[j] = np.maximum(t + s_out[j], avail_at)
    return ship[report] <= (t + s_out[report][:, None])[:, None, :]


# --- stages with critical levels (issue 10 x issue 14) ----------------------------------------


def simulate_critical(
    instance: SafetyStockInstance, result: Any, levels: pd.DataFrame | None = None, **run: Any
) -> dict[int, tuple[NDArray[np.float64], NDArray[np.float64], float]]:
    r"""Per-segment service at the critical-level stages of an instance with random or
    fractional lead times, simulated as the result states the policy.

    Each period :math:`u` of a stage with critical levels: its replenishment time is drawn —
    :math:`t = x + L` with :math:`x = SI + \delta - S` and :math:`L` from the stage's
    lead-time law (the normal itself, not the model's quadrature), whole periods
    :math:`r = \lfloor t \rfloor + 1[U < t - \lfloor t \rfloor]` (the share of the period's
    orders that the arrival is in time for, as in :mod:`.lead_times`); a deterministic whole
    lead time gives :math:`r = \tau`. With :math:`r \le 0` the replenishment is there and
    every class is served; else the stock on hand after the backorders is
    :math:`(B - W)^+` with :math:`W` the simulated orders of the :math:`r - 1` periods
    before :math:`u` (one replenishment time per period, no order crossing: the model's
    approximation, stated in :mod:`.lead_times`), and the classes are served lowest priority
    first, each only from stock above its critical level. Demand is drawn from the model's
    laws (:func:`.critical.demand_laws`) with the same generator as :func:`.simulate.simulate`.

    ``levels`` and ``run`` (``periods``, ``replications``, ``seed``, ``warmup``,
    ``safety_stock_factor``, ``truncate_at_zero``, ``workers``) are the parameters of
    :func:`.simulate.simulate`, same meaning and defaults (``data``: the instance's arrays,
    as :func:`simulate`; others are ignored here): the
    replications are split over ``workers`` local processes (or the Dask cluster in force),
    each with its own random streams, so the result is the same for any executor and
    worker count.

    Returns ``{demand index: (cycle service, fill rate, critical level)}`` for the own
    demands of every critical-level stage: the services per replication (with one replication,
    per batch of 20 equal batches of the run).
    """
    from optim.models.safety_stock.critical import stage_specs
    from optim.models.safety_stock.simulate import _Draws, _levels

    periods, replications = int(run.get("periods", 2000)), int(run.get("replications", 30))
    seed, warmup = int(run.get("seed", 0)), run.get("warmup")
    workers = int(run.get("workers", 1))
    data = run.get("data")
    data = prepare(instance, workers=workers) if data is None else data
    specs = stage_specs(instance, data.n, data.ids)
    if not specs:
        return {}
    s_out, s_in, ss = _solution_arrays(instance, data, result)
    tau = s_in + data.lead_time - s_out
    x = s_in + data.delay(tau) - s_out  # replenishment time minus the lead time
    base = data.base_stock(s_in, s_out, float(run.get("safety_stock_factor", 1.0)) * ss)
    crit = _levels(instance, data, specs, result, levels, tau, ss, base)
    lead_models = [lead_time_model(s) for s in instance.stages]
    longest = max(
        int(x[j]) + math.ceil(float(lead_models[j][1].max()) + 6 * lead_models[j][3]) + 1
        for j in specs
    )
    if warmup is None:
        warmup = max(longest, 1)
    horizon = warmup + periods
    nd = len(instance.demands)
    crun = _CriticalRun(
        specs=specs,
        draws=_Draws.of(instance, data, bool(run.get("truncate_at_zero", False))),
        seed=seed,
        warmup=warmup,
        horizon=horizon,
        batches=1 if replications >= 2 else min(_BATCHES, periods),
        base=base,
        crit=crit,
        x=x,
        tau=tau,
        lead_models=tuple(lead_models),
        random_lead=tuple(needs_table(s) for s in instance.stages),
    )
    parts = executor.fan_out(
        _critical_piece,
        [
            (crun, r0, r1)
            for r0, r1 in _rep_pieces(replications, nd * horizon * 8, workers, _CHUNK_BYTES)
        ],
        workers=workers,
        desc="simulation replications (critical levels, random lead times)",
    )
    hits, served, wanted = (np.concatenate([p[i] for p in parts], axis=1) for i in range(3))
    size = periods // crun.batches  # periods per batch (the remainder is not counted)
    out: dict[int, tuple[NDArray[np.float64], NDArray[np.float64], float]] = {}
    for spec in specs.values():
        for d in spec.demands:
            w = wanted[d].ravel()
            fill = np.where(w > 0, served[d].ravel() / np.where(w > 0, w, 1), 1.0)
            out[d] = (hits[d].ravel() / size, fill, float(crit[d]))
    return out


@dataclass(frozen=True)
class _CriticalRun(_Reps):
    """A piece of :func:`simulate_critical` (``batches``: per replication 1, else 20)."""

    specs: dict[int, Any]  # stage position -> critical.StageSpec
    draws: Any  # simulate._Draws
    crit: NDArray[np.float64]  # critical level per demand
    x: NDArray[np.int64]  # replenishment time minus the lead time


def _critical_piece(
    task: tuple[_CriticalRun, int, int],
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]]:
    """Replications ``r0 .. r1 - 1`` of :func:`simulate_critical` (a module function:
    processes and Dask run it): periods without shortage, units served and units wanted per
    (demand, replication, batch). Demand comes from the (component, replication) streams of
    :class:`.simulate._Draws`, the replenishment times from the replication's own generator
    (the stages in turn)."""
    run, r0, r1 = task
    warmup, horizon, nb = run.warmup, run.horizon, run.batches
    periods = horizon - warmup
    size = periods // nb
    nd = run.draws.kind.size
    hits = np.zeros((nd, r1 - r0, nb))
    served = np.zeros((nd, r1 - r0, nb))
    wanted = np.zeros((nd, r1 - r0, nb))
    demand = run.draws.all(run.seed, slice(r0, r1), horizon)
    gens = _streams(run.seed, _REPLENISH, range(r0, r1))
    u = np.arange(warmup, horizon)
    for j, spec in run.specs.items():
        classes = [[(d, q) for d, q in spec.below]] if spec.flow else []
        classes += [[(d, 1.0)] for d in spec.demands]
        dk = [sum(q * demand[d] for d, q in entries) for entries in classes]
        orders = np.sum(dk, axis=0)
        cum = np.concatenate([np.zeros((orders.shape[0], 1)), np.cumsum(orders, axis=1)], 1)
        if run.random_lead[j]:
            model, xj = run.lead_models[j], int(run.x[j])
            r = np.stack([_replenishment_draws(g, model, xj, 1, u.size)[0] for g in gens])
        else:
            r = np.full((r1 - r0, u.size), int(run.tau[j]), dtype=np.int64)
        start = np.clip(u[None, :] - r + 1, 0, u[None, :])  # r <= 0: nothing (all served)
        w = cum[:, u] - np.take_along_axis(cum, start, axis=1)
        stock = np.where(r <= 0, np.inf, np.maximum(run.base[j] - w, 0.0))
        own = len(classes) - len(spec.demands)
        for k in range(len(classes) - 1, -1, -1):  # lowest priority first
            want = dk[k][:, warmup:]
            level = 0.0 if k < own else float(run.crit[spec.demands[k - own]])
            give = np.minimum(want, np.maximum(stock - level, 0.0))
            stock = stock - give
            if k >= own:
                d = spec.demands[k - own]
                met = want - give <= 1e-9 * np.maximum(1.0, want)
                for arr, v in ((hits, met), (served, give), (wanted, want)):
                    arr[d] = _batch_sums(v, nb, size)
    return hits, served, wanted


def _batch_sums(v: NDArray[np.generic], nb: int, size: int) -> NDArray[np.float64]:
    """Sums of ``nb`` consecutive batches of ``size`` periods (last axis)."""
    x = np.asarray(v[:, : nb * size], dtype=np.float64)
    return x.reshape(x.shape[0], nb, size).sum(axis=2)


def _replenishment_draws(
    rng: np.random.Generator,
    model: LeadModel,
    x: int,
    reps: int,
    periods: int,
) -> NDArray[np.int64]:
    """Whole-period replenishment times :math:`r` per (replication, period): :math:`t = x +
    L`, :math:`r = \\lfloor t \\rfloor + 1[U < t - \\lfloor t \\rfloor]`."""
    t = x + _draw_lead(rng, model, (reps, periods))
    whole = np.floor(t + 1e-9)
    frac = np.where(t - whole > 1e-9, t - whole, 0.0)
    return (whole + (rng.random((reps, periods)) < frac)).astype(np.int64)


# --- the physical system with independent lead times (orders cross) --------------------------


def simulate_crossing(
    instance: SafetyStockInstance,
    result: Any,
    stage: str,
    *,
    periods: int = 2000,
    replications: int = 20,
    seed: int = 0,
    warmup: int = 50,
) -> dict[int, tuple[NDArray[np.float64], NDArray[np.float64]]]:
    r"""Per-segment service at one demand stage when every period's orders get their own,
    independent lead time, so that orders cross.

    The model (:mod:`.lead_times`) and :func:`simulate` / :func:`simulate_critical` assume one
    replenishment time per period and no crossing: all orders of the last :math:`r - 1`
    periods are outstanding. Here the orders of period :math:`t` arrive at :math:`t + r_t`
    with :math:`r_t` drawn independently per period (whole periods, the fraction split as in
    the model, order delay included); each period: receipts, backorders first, then the
    segments lowest priority first, each from the stock above its critical level (0 at a
    first-come-first-served stage). Demand is drawn from the model's laws. With independent
    lead times the number of outstanding periods has the model's mean and less spread, so the
    model's service is expected to be conservative: the tests check it
    (tests/models/safety_stock/test_gsm_lead_time_critical.py).

    ``stage`` must serve only external demand (no stage downstream). Returns
    ``{demand index: (cycle service, fill rate)}`` per replication.
    """
    from optim.models.safety_stock.critical import stage_specs
    from optim.models.safety_stock.simulate import _Draws

    data = prepare(instance)
    if stage not in data.ids:
        raise ValueError(f"stage {stage!r} is not in the instance.")
    j = data.ids.index(stage)
    if bool(np.any(data.source == j)):
        raise ValueError(f"stage {stage!r} supplies other stages; give a demand stage only.")
    spec = stage_specs(instance, data.n, data.ids).get(j)
    own = [i for i, d in enumerate(instance.demands) if d.stage == stage]
    classes = list(spec.demands) if spec is not None else own  # top priority first
    st = result.table("stages").set_index("stage")
    dem = result.table("demands")
    level = {i: float(dem.iloc[i]["critical_level"]) if spec is not None else 0.0 for i in own}
    base = float(st.loc[stage, "base_stock_level"])
    x = int(st.loc[stage, "inbound_service_time"] + st.loc[stage, "order_delay"])
    x -= int(st.loc[stage, "outbound_service_time"])
    horizon = warmup + periods
    demand = _Draws.of(instance, data, False).all(seed, slice(0, replications), horizon)
    rng = np.random.default_rng([seed, 7])
    r = _replenishment_draws(rng, lead_time_model(instance.stages[j]), x, replications, horizon)
    orders = np.sum([demand[i] for i in classes], axis=0)
    arrive = np.zeros((replications, horizon + int(max(r.max(), 0)) + 1))
    t = np.arange(horizon)
    for k in range(replications):  # the orders of period t arrive at t + r (before serving)
        np.add.at(arrive[k], np.maximum(t + r[k], 0), orders[k])
    on_hand = np.full(replications, base)
    backlog = np.zeros(replications)
    hits = {i: np.zeros(replications) for i in classes}
    served = {i: np.zeros(replications) for i in classes}
    wanted = {i: np.zeros(replications) for i in classes}
    for u in range(horizon):
        on_hand += arrive[:, u]
        fill = np.minimum(on_hand, backlog)
        on_hand -= fill
        backlog -= fill
        for i in reversed(classes):  # lowest priority first
            d = demand[i, :, u]
            give = np.minimum(d, np.maximum(on_hand - level[i], 0.0))
            on_hand -= give
            backlog += d - give
            if u >= warmup:
                hits[i] += d - give <= 1e-9 * np.maximum(1.0, d)
                served[i] += give
                wanted[i] += d
    return {
        i: (hits[i] / periods, served[i] / np.where(wanted[i] > 0, wanted[i], 1.0))
        for i in classes
    }
