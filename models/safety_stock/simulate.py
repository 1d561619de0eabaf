"""Monte-Carlo check of a safety-stock placement: are the promised service times kept?

The Guaranteed-Service Model (GSM) sizes the base stock of every stage so that a *bounded*
demand is always served within the committed service time. Real demand is not bounded; this
module simulates the base-stock policy that a GSM solution prescribes and measures each
segment's service.

Policy simulated (periodic review, one period = one time unit of the instance)
------------------------------------------------------------------------------
Stage :math:`j` has outbound service time :math:`S_j`, inbound service time :math:`SI_j`,
lead time :math:`T_j`, net replenishment time :math:`\\tau_j = SI_j + T_j - S_j` and base stock

.. math:: B_j = \\mu_j \\tau_j + f \\cdot SS_j,

with :math:`\\mu_j = \\sum_d \\varphi_{jd} \\mu_d`, :math:`SS_j` the solution's safety stock and
:math:`f` = ``safety_stock_factor`` (1 = as planned; < 1 a deliberate under-stock).
In period :math:`t` demand :math:`D_d(t)` arrives at every (stage, segment) :math:`d`,
independently over :math:`d` and :math:`t`: :math:`N(\\mu_d, \\sigma_d^2)` with :math:`\\sigma_d`
the standard deviation of the demand's own law (a Poisson demand's :math:`\\sqrt{\\mu_d}`,
:func:`optim.models.safety_stock.critical.law_std_dev`; a discrete law drawn so is listed by
:func:`normal_approximations`), or — for every demand
at or below a stage with critical levels — the one lattice law the model uses for it
(:func:`optim.models.safety_stock.critical.demand_laws`), drawn by inverse transform from the
model's own probabilities. Each (connected component, replication) draws from its own
xoshiro256+ stream seeded by (``seed``, component, replication), so the numbers do not depend
on the thread that runs it, and ``"guaranteed"`` and ``"actual"`` see the same demand.
Each stage passes its demand up immediately: it orders
:math:`q_j(t) = \\sum_d \\varphi_{jd} D_d(t)` (base-stock ordering, every period). A stage
serves all customers first-come-first-served and promises to ship period :math:`t`'s
orders by :math:`t + S_j`. With cumulative orders :math:`A_j(t) = \\sum_{u \\le t} q_j(u)`
and cumulative replenishments :math:`R_j(u)` received by :math:`u`, the promise for period
:math:`t` is **kept** iff

.. math:: A_j(t) \\le B_j + R_j(t + S_j).

``upstream="guaranteed"`` (the GSM assumption, default)
    Replenishment always arrives exactly :math:`SI_j + T_j` after the order, i.e. suppliers
    keep their promises (by "extraordinary measures" when demand exceeds the bound). Then
    :math:`R_j(u) = A_j(u - SI_j - T_j)` and the promise is kept iff the demand over the
    :math:`\\tau_j` periods :math:`t-\\tau_j+1..t` is at most :math:`B_j`. For a stage with one
    segment this happens with probability :math:`\\Phi(z_d) = \\alpha_d` exactly, so the
    simulation checks the solution's safety stocks against the targets. With several
    segments pooled first come, first served at one stage (``max_z``, ``root_sum_square``),
    every segment gets the same cycle service, which can be below the target of the most
    demanding segment — the simulation shows it. Stock left for period :math:`t`'s orders
    after the backorders is :math:`(B_j - W_{\\tau_j - 1})^+`; when it falls short every
    segment gets the same share of its (positive) demand (``fill_rate``).

    Stages with **critical levels** (``pooling="critical_level"``) are simulated state by
    state — receipts, backorders first, then the period's orders lowest priority first, each
    segment only from stock above its critical level — with the model's lattice demand
    (:mod:`optim.models.safety_stock.critical`), so the per-segment services the solve
    reports are checked by a simulation of exactly the stated policy.

Service measures (one definition for model, simulator and report): ``cycle_service`` = share
of periods in which the segment has no shortage (at first-come-first-served stages: the
stage's promise is kept); ``fill_rate`` = share of the segment's demand served from stock by
its due date.
``upstream="actual"``
    No extraordinary measures: a supplier that runs short ships late, and stage :math:`j` can
    only start period :math:`t`'s replenishment when every input has arrived:
    completion at :math:`\\max(t + s^e_j, \\max_{i \\to j} G_i(t)) + T_j`, where
    :math:`G_i(t) = \\max(t + S_i, \\min\\{v : B_i + R_i(v) \\ge A_i(t)\\})` is the time
    supplier :math:`i` actually ships period :math:`t`'s orders. Shortages cascade, so
    customer service is typically below :math:`\\alpha`: this measures what the GSM bound
    does not promise. It needs non-negative demand, so demand is truncated at zero, which
    raises the mean demand (by 8 % at a coefficient of variation of 1) while the base stock
    still covers the untruncated mean: on data with very noisy demand (some Willems chains
    have coefficients of variation of 4 to 7) the "actual" fill mostly measures that bias.

Statistics
----------
Each replication runs ``warmup + periods`` periods from an empty pipeline with on-hand stock
:math:`B_j` (a valid state of the base-stock system); the first ``warmup`` periods (default:
the longest cumulative lead time plus the longest service time) are discarded. The fraction
of kept periods is computed per replication; the reported
value is the mean over replications with a ``confidence`` interval from the Student t
distribution of the replication means (independent by construction, so no autocorrelation
bias). With one replication, 20 batch means of the single run are used instead.
``meets_target`` is true when the upper limit reaches the segment's target, the limits being
simultaneous over all rows (Bonferroni; see ``confidence``).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from statistics import NormalDist
from typing import Any, Literal

import numpy as np
import pandas as pd
from numba import config as numba_config
from numba import njit
from numpy.typing import NDArray

from optim import executor
from optim.errors import InstanceError, ResultError
from optim.instances.safety_stock import SafetyStockInstance
from optim.models.graph import DisjointSets
from optim.models.safety_stock.critical import (
    StageSpec,
    demand_laws,
    law_std_devs,
    policy_at,
    stage_specs,
)
from optim.models.safety_stock.data import GSMData, prepare
from optim.models.safety_stock.lead_times import needs_table

__all__ = ["simulate", "simulate_from_files", "summary_line"]

Upstream = Literal["guaranteed", "actual"]

_ID_COLUMNS = ("stage", "stage_id", "id")
_S_COLUMNS = ("service_time", "outbound_service_time", "committed_service_time", "S")
_SI_COLUMNS = ("inbound_service_time", "SI")
_SS_COLUMNS = ("safety_stock",)
MAX_STEPS = 3e10
"""(stage or demand row) × period × replication steps one call may simulate: the demo's 2,206
stages and 3,377 rows over 20,000 periods × 30 replications (3.4·10^9 steps) took 20 s, so
the cap is a few minutes. 10^6 periods × 10^4 replications ran on for hours, and SIGTERM waits
for the compiled kernel's current piece."""
_CHUNK_BYTES = 256 * 2**20
_BATCHES = 20
_ACTUAL_WITH_LEVELS = (
    "upstream='actual' is not simulated for stages with critical levels; use "
    "upstream='guaranteed' (or pooling 'max_z')."
)


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
    levels: pd.DataFrame | None = None,
    workers: int = 1,
) -> pd.DataFrame:
    """Simulate the base-stock policy of a GSM solution and measure each segment's service.

    Parameters
    ----------
    instance
        The instance that was solved.
    result
        The solution: an :class:`optim.Result` with a ``stages`` table, the ``stages`` table
        itself (a DataFrame with a stage-id column and the outbound service time, optionally
        the inbound service time and the safety stock), or a mapping ``{stage_id: S_j}``.
        Missing inbound service times are taken as :math:`\\max(s^e_j, \\max_{i\\to j} S_i)`,
        missing safety stocks are recomputed from the instance.
    periods
        Periods counted per replication (after the warm-up).
    replications
        Independent replications.
    seed
        Seed of the random generator (same seed, same numbers).
    warmup
        Periods discarded at the start of each replication; default
        :math:`\\max_j L_j + \\max_j S_j + 1` with :math:`L_j` the longest cumulative lead
        time into stage :math:`j` (enough for shortages to propagate down the network).
    upstream
        ``"guaranteed"`` (GSM assumption) or ``"actual"`` (shortages cascade; stages without
        critical levels only); see the module docstring.
    safety_stock_factor
        Multiplies every safety stock (1 = the solution as planned).
    truncate_at_zero
        Draw demand as :math:`\\max(0, N(\\mu, \\sigma^2))`. Default: ``False`` for
        ``"guaranteed"`` (the model's normal demand), ``True`` for ``"actual"`` (required).
    confidence
        Simultaneous confidence of the intervals of all rows (Bonferroni: each row's interval
        has level ``1 - (1 - confidence) / rows``), so that a plan meeting every target shows
        no miss with probability at least ``confidence`` — on thousands of rows a per-row 95 %
        interval would flag 2.5 % of exactly met targets.
    levels
        Critical levels per (``stage``, ``segment``) in a ``critical_level`` column (the
        result's ``demands`` table); default: the result's own table when ``result`` is a
        Result, else the model's levels for the solution's base stocks.
    workers
        Local worker processes the replications are split over (:mod:`optim.executor`; a
        Dask cluster in force takes them instead). The table is the same for any executor
        and worker count: every (component, replication) has its own random stream (with
        random lead times: every replication its own streams, :mod:`.simulate_lead_times`).

    Returns
    -------
    pandas.DataFrame
        One row per demand (stage, segment): ``stage``, ``segment``, ``target`` (service
        level), ``service_time`` (the stage's committed :math:`S_j`), ``max_service_time``,
        ``fill`` (the achieved service in the segment's ``service_measure``), ``stderr``,
        ``ci_low``, ``ci_high``, ``meets_target`` (``ci_high >= target``), ``samples``
        (periods × replications), ``service_measure``, ``fill_rate``, ``cycle_service``
        (both measures, point estimates), ``critical_level`` and ``base_stock``.
    """
    if periods < 1 or replications < 1:
        raise ValueError("periods and replications must be >= 1.")
    from optim.errors import InstanceError

    if periods < 2 and replications < 2:  # (one sample: NaN intervals read as misses)
        raise InstanceError(
            "one replication of one period gives no interval; allowed: periods >= 2 or "
            "replications >= 2.",
            field="replications",
        )
    steps = (len(instance.stages) + len(instance.demands)) * float(periods) * replications
    if steps > MAX_STEPS:
        raise InstanceError(
            f"{periods:,} periods × {replications:,} replications over "
            f"{len(instance.stages):,} stages and {len(instance.demands):,} demand rows are "
            f"{steps:,.0f} simulated steps; allowed: at most {MAX_STEPS:,.0f} (a few "
            "minutes) — fewer periods or replications.",
            field="periods",
        )
    if upstream not in ("guaranteed", "actual"):
        raise ValueError(f"upstream must be 'guaranteed' or 'actual', got {upstream!r}.")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}.")
    if truncate_at_zero is None:
        truncate_at_zero = upstream == "actual"
    if upstream == "actual" and not truncate_at_zero:
        raise ValueError("upstream='actual' needs non-negative demand: truncate_at_zero=True.")

    if any(needs_table(s) for s in instance.stages):
        with executor.shared_pool(workers):  # both lead-time simulators: one pool
            return _with_lead_times(
                instance,
                result,
                levels,
                periods=periods,
                replications=replications,
                seed=seed,
                warmup=warmup,
                upstream=upstream,
                safety_stock_factor=safety_stock_factor,
                truncate_at_zero=truncate_at_zero,
                confidence=confidence,
                workers=workers,
            )
    data = _prepared(instance, result)
    s_out, s_in, ss = _solution_arrays(instance, data, result)
    tau = s_in + data.lead_time - s_out
    if np.any(tau < 0):
        bad = data.ids[int(np.argmin(tau))]
        raise ValueError(f"stage {bad!r} has a negative net replenishment time; not a solution.")
    base = data.mean * tau + safety_stock_factor * ss
    if warmup is None:
        warmup = int(data.tau_max.max(initial=0) + s_out.max(initial=0)) + 1
    horizon = warmup + periods + int(s_out.max(initial=0))

    dem = instance.demands
    nd = len(dem)
    pos = {sid: j for j, sid in enumerate(data.ids)}
    dstage = np.array([pos[d.stage] for d in dem], dtype=np.int64)
    specs = stage_specs(instance, data.n, data.ids)
    crit_levels = _levels(instance, data, specs, result, levels, tau, ss, base)
    if specs and upstream == "actual":
        raise ValueError(_ACTUAL_WITH_LEVELS)
    draws = _Draws.of(instance, data, truncate_at_zero)
    nb = 1 if replications >= 2 else min(_BATCHES, periods)
    bidx = np.minimum(np.arange(periods) // max(periods // nb, 1), nb - 1)
    if upstream == "guaranteed":
        served, wanted, ok, count = _guaranteed(
            draws,
            _Stages.of(data, dstage, specs, base, tau, crit_levels),
            (seed, replications, horizon, warmup, periods),
            bidx,
            nb,
            workers,
        )
    else:
        served = np.full((nd, replications, nb), np.nan)
        wanted = served.copy()
        ok = np.zeros((nd, replications, nb))
        count = np.zeros((nd, replications, nb))
        succ: list[list[tuple[int, float]]] = [[] for _ in range(data.n)]
        for i, j, q in zip(
            data.source.tolist(), data.target.tolist(), data.quantity.tolist(), strict=True
        ):
            succ[i].append((j, q))
        run = (data, draws, dstage, base, s_out, succ, (seed, horizon, warmup, periods), bidx, nb)
        per_rep = max(1, (nd + 3 * data.n) * (horizon + 1) * 8)
        parts = executor.fan_out(
            _actual_piece,
            [
                (run, r0, r1)
                for r0, r1 in _rep_pieces(replications, per_rep, workers, _CHUNK_BYTES)
            ],
            workers=workers,
            desc="simulation replications (actual upstream)",
        )
        ok = np.concatenate([p[0] for p in parts], axis=1)
        count = np.concatenate([p[1] for p in parts], axis=1)

    cycle_samples = (ok / np.maximum(count, 1)).reshape(nd, -1)
    with np.errstate(invalid="ignore", divide="ignore"):
        fill_samples = np.where(wanted > 0, served / np.where(wanted > 0, wanted, 1), 1.0)
    fill_samples = np.where(np.isnan(wanted), np.nan, fill_samples)  # "actual": not measured
    fill_samples = fill_samples.reshape(nd, -1)
    measure = np.array([d.service_measure == "fill_rate" for d in dem])
    samples = np.where(measure[:, None], fill_samples, cycle_samples)
    k = samples.shape[1]
    value = samples.mean(axis=1)
    stderr = samples.std(axis=1, ddof=1) / math.sqrt(k) if k > 1 else np.zeros(nd)
    # simultaneous intervals (Bonferroni): with nd rows a plan that meets every target shows
    # no miss with probability >= confidence, however many rows there are
    alpha = (1 - confidence) / max(nd, 1)
    half = _t_quantile(1 - alpha / 2, k - 1) * stderr
    rows = []
    for i, d in enumerate(dem):
        j = int(dstage[i])
        rows.append(
            {
                **_row(d, int(s_out[j]), value[i], stderr[i], half[i], periods * replications),
                "service_measure": d.service_measure,
                "fill_rate": float(fill_samples[i].mean()),
                "cycle_service": float(cycle_samples[i].mean()),
                "critical_level": float(crit_levels[i]),
                "base_stock": float(base[j]),
            }
        )
    return pd.DataFrame(rows)


def _actual_piece(task: tuple[Any, int, int]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Replications ``r0 .. r1 - 1`` of the ``"actual"`` run (a module function: processes
    and Dask run it): kept and counted periods per (demand, replication, batch)."""
    (data, draws, dstage, base, s_out, succ, sizes, bidx, nb), r0, r1 = task
    seed, horizon, warmup, periods = sizes
    report = np.unique(dstage)
    row = {int(j): r for r, j in enumerate(report.tolist())}
    demand = draws.all(seed, slice(r0, r1), horizon)
    orders = _stage_orders(data.n, dstage, demand, succ, data.order[::-1].tolist())
    kept = _kept_actual(data, orders, base, s_out, report)[:, :, warmup : warmup + periods]
    ok = np.zeros((dstage.size, r1 - r0, nb))
    count = np.zeros((dstage.size, r1 - r0, nb))
    for i in range(dstage.size):
        k = kept[row[int(dstage[i])]].astype(np.float64)
        ok[i] = _batched(k, bidx, nb)
        count[i] = _batched(np.ones_like(k), bidx, nb)
    return ok, count


def _rep_pieces(
    replications: int, per_rep: int, workers: int, chunk_bytes: int
) -> list[tuple[int, int]]:
    """Replication ranges ``[r0, r1)``: :func:`optim.executor.pieces` pieces (one per local
    worker, at least :data:`optim.executor.CLUSTER_PIECES` on a cluster), each cut further so
    that its arrays (``per_rep`` bytes a replication) stay within ``chunk_bytes``. Every
    replication draws from its own streams, so any cut gives the same numbers."""
    chunk = int(max(1, min(replications, chunk_bytes // max(per_rep, 1))))
    count = executor.pieces(workers, replications)
    cuts = np.linspace(0, replications, count + 1).round().astype(np.int64).tolist()
    return [
        (r0, min(r0 + chunk, b)) for a, b in itertools.pairwise(cuts) for r0 in range(a, b, chunk)
    ]


def _row(
    d: Any, service_time: int, value: float, stderr: float, half: float, samples: int
) -> dict[str, Any]:
    """The columns every simulator's table shares for one demand (stage, segment): its
    target and committed service time, the measured service with its standard error and
    interval, and whether the interval reaches the target."""
    return {
        "stage": d.stage,
        "segment": d.segment,
        "target": d.service_level,
        "service_time": service_time,
        "max_service_time": d.max_service_time,
        "fill": float(value),
        "stderr": float(stderr),
        "ci_low": float(max(0.0, value - half)),
        "ci_high": float(min(1.0, value + half)),
        "meets_target": bool(value + half >= d.service_level),
        "samples": int(samples),
    }


def _with_lead_times(
    instance: SafetyStockInstance,
    result: Any,
    levels: pd.DataFrame | None = None,
    **kwargs: Any,
) -> pd.DataFrame:
    """Random or fractional lead times: :mod:`.simulate_lead_times` — first come, first served
    stages by its :func:`~.simulate_lead_times.simulate` (cycle service; ``fill_rate`` is not
    measured there: NaN), stages with critical levels by its
    :func:`~.simulate_lead_times.simulate_critical` (lead times drawn, critical levels
    applied, both measures) — with this module's columns and its intervals, simultaneous
    over all rows at ``confidence``."""
    from optim.models.safety_stock.simulate_lead_times import simulate as simulate_lead_times
    from optim.models.safety_stock.simulate_lead_times import simulate_critical

    ids = tuple(instance.stage_ids)
    if kwargs.get("upstream", "guaranteed") != "guaranteed" and stage_specs(
        instance, len(ids), ids
    ):
        raise ValueError(_ACTUAL_WITH_LEVELS)
    kwargs["data"] = _lead_time_data(instance, result, int(kwargs.get("workers", 1)))
    nd = len(instance.demands)
    alpha = (1 - float(kwargs.get("confidence", 0.95))) / max(nd, 1)
    # its per-row intervals at level 1 - alpha: simultaneous over all rows (Bonferroni), as
    # this module's rows and simulate_critical's (at 95 % per row, 2.5 % of the rows of a
    # plan that meets its targets exactly would be flagged as misses)
    out = simulate_lead_times(instance, result, **{**kwargs, "confidence": 1 - alpha})
    measure = {(d.stage, d.segment): d.service_measure for d in instance.demands}
    keys = list(zip(out["stage"], out["segment"], strict=True))
    out["service_measure"] = [measure[k] for k in keys]
    out["fill_rate"] = np.nan
    out["cycle_service"] = out["fill"]
    out["critical_level"] = 0.0
    if kwargs.get("upstream", "guaranteed") != "guaranteed":
        return out
    kwargs.pop("upstream", None)
    crit = simulate_critical(instance, result, levels, **kwargs)
    if not crit:
        return out
    row_of = {k: i for i, k in enumerate(keys)}
    for d, (cycle, fill, level) in crit.items():
        dm = instance.demands[d]
        samples = fill if dm.service_measure == "fill_rate" else cycle
        value = float(samples.mean())
        k = samples.size
        stderr = float(samples.std(ddof=1) / math.sqrt(k)) if k > 1 else 0.0
        half = _t_quantile(1 - alpha / 2, k - 1) * stderr
        i = row_of[(dm.stage, dm.segment)]
        row = _row(
            dm, int(out.at[i, "service_time"]), value, stderr, half, int(out.at[i, "samples"])
        )
        for col, v in row.items():
            out.at[i, col] = v
        out.at[i, "fill_rate"] = float(fill.mean())
        out.at[i, "cycle_service"] = float(cycle.mean())
        out.at[i, "critical_level"] = level
    return out


def _lead_time_data(instance: SafetyStockInstance, result: Any, workers: int) -> GSMData:
    """The network arrays both lead-time simulators share. When the solution states every
    stage's safety stock and order delay (the ``stages`` table of a result), the stage tables
    are not built: the order delays are the stated ones (:meth:`GSMData.delay` then gives
    that delay at any :math:`\tau`). Otherwise :func:`.data.prepare` (``workers``: its
    blocks of items on the executor seam) gives the model's."""
    from dataclasses import replace

    from optim.models.safety_stock.data import prepare_arrays

    table = _stages_table(result)
    if table is None or _column(table, _SS_COLUMNS) is None or "order_delay" not in table:
        return prepare(instance, workers=workers)
    data = prepare_arrays(instance)
    id_col = _column(table, _ID_COLUMNS)
    if id_col is None:
        return prepare(instance, workers=workers)
    stated = dict(zip(table[id_col].astype(str), table["order_delay"].tolist(), strict=True))
    if set(stated) != set(data.ids) or any(v != v for v in stated.values()):  # NaN: not stated
        return prepare(instance, workers=workers)
    delays = tuple(np.array([int(stated[sid])], dtype=np.int64) for sid in data.ids)
    return replace(data, order_delay=delays)


def _stages_table(result: Any) -> pd.DataFrame | None:
    """The solution's ``stages`` table: ``result`` itself (a DataFrame) or its table."""
    if isinstance(result, pd.DataFrame):
        return result
    if isinstance(result, Mapping):
        return None
    return (getattr(result, "tables", None) or {}).get("stages")


def normal_approximations(instance: SafetyStockInstance) -> list[str]:
    """``stage/segment (law)`` of every demand with a discrete law (Poisson, negative
    binomial) that is drawn from the normal approximation :math:`N(\\mu, \\sigma^2)` of its
    law's own mean and variance (:func:`~optim.models.safety_stock.critical.law_std_dev`):
    no stage with critical levels carries it, because its stage keeps the square-root model
    (:func:`~optim.models.safety_stock.critical.stage_fallbacks`), which sized it on that
    approximation."""
    if instance.pooling != "critical_level":
        return []
    ids = tuple(instance.stage_ids)
    laws = demand_laws(instance, len(ids), ids)
    out = []
    for i, d in enumerate(instance.demands):
        law = d.distribution
        if law in ("poisson", "negative_binomial") and d.mean > 0 and i not in laws:
            out.append(f"{d.stage}/{d.segment} ({law})")
    return out


def summary_line(table: pd.DataFrame) -> str:
    """``k of n targets met; misses: stage/segment (measure ci_high < target), ...``."""
    miss = table[~table["meets_target"].astype(bool)]
    n = len(table)
    text = f"{n - len(miss)} of {n} targets met"
    if len(miss):
        shown = [
            f"{r.stage}/{r.segment} ({r.service_measure} {r.ci_high:.4f} < {r.target:g})"
            for r in miss.head(10).itertuples()
        ]
        more = f", ... ({len(miss) - 10} more)" if len(miss) > 10 else ""
        text += "; misses: " + ", ".join(shown) + more
    else:
        text += "; misses: none"
    return text


def _prepared(instance: SafetyStockInstance, result: Any) -> GSMData:
    """The network arrays; the stage tables only when the solution lacks safety stocks."""
    table = _stages_table(result)
    if table is not None and _column(table, _SS_COLUMNS) is not None:
        return prepare(instance.model_copy(update={"pooling": "max_z"}))
    return prepare(instance)


def _levels(
    instance: SafetyStockInstance,
    data: GSMData,
    specs: dict[int, StageSpec],
    result: Any,
    levels: pd.DataFrame | None,
    tau: NDArray[np.int64],
    ss: NDArray[np.float64],
    base: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Critical level per demand (units); 0 at stages without critical levels."""
    dem = instance.demands
    out = np.zeros(len(dem))
    if levels is None and not isinstance(result, (pd.DataFrame, Mapping)):
        table = (getattr(result, "tables", None) or {}).get("demands")
        if table is not None and "critical_level" in table.columns:
            levels = table
    if levels is not None:
        values = pd.to_numeric(levels["critical_level"], errors="coerce").to_numpy(np.float64)
        rows = [(str(a), str(b)) for a, b in zip(levels["stage"], levels["segment"], strict=True)]
        known = {(d.stage, d.segment) for d in dem}
        row_of: dict[tuple[str, str], int] = {}
        for k, key in enumerate(rows):  # (a renamed or repeated row was dropped or shadowed,
            # and the segment simulated with the critical level 0: "3 of 3 targets met")
            if key not in known or key in row_of:
                why = (
                    "is not a demand of the instance"
                    if key not in known
                    else f"is listed twice (also demands[{row_of[key]}])"
                )
                raise ResultError(
                    f"stage {key[0]!r} segment {key[1]!r} {why}; allowed: one row per demand "
                    "of the instance",
                    field=f"demands[{k}]",
                )
            row_of[key] = k
        given = {key: float(v) for key, v in zip(rows, values, strict=True) if v == v}
        pos = {sid: j for j, sid in enumerate(data.ids)}
        for i, d in enumerate(dem):
            j = pos[d.stage]
            key = (d.stage, d.segment)
            if key not in given and j in specs:
                raise ResultError(  # (the table's line: the row is not there to point at)
                    f"the solution gives no critical_level for segment {d.segment!r} at stage "
                    f"{d.stage!r}, which has critical levels; allowed: a demands row for it",
                    field="demands" if key not in row_of else f"demands[{row_of[key]}]",
                )
            c = given.get(key, 0.0)
            field = f"demands[{row_of[key]}].critical_level" if key in row_of else "demands"
            if c < 0 or c > base[j] + 1e-6 * max(1.0, abs(base[j])):
                raise ResultError(
                    f"critical_level {c:g} of segment {d.segment!r} at stage {d.stage!r} is "
                    f"outside [0, base stock {base[j]:g}]; a segment cannot be held back above "
                    "the stock the stage holds",
                    field=field,
                )
            if c > 0 and j not in specs:
                raise ResultError(
                    f"critical_level {c:g} of segment {d.segment!r} at stage {d.stage!r}: that "
                    "stage serves first come, first served (no critical levels); give 0",
                    field=field,
                )
            out[i] = c
        return out
    delay = data.delay(tau)
    for j, spec in specs.items():
        stage = instance.stages[j]
        if needs_table(stage):  # random lead time: the composed model, order delay included
            from optim.models.safety_stock.lead_times import critical_lead_time_policy

            t = int(tau[j] + delay[j])
            pol = critical_lead_time_policy(spec, stage, int(data.lead_time[j]), t, float(ss[j]))
        else:
            pol = policy_at(spec, int(tau[j]), float(ss[j]))
        for rank, i in enumerate(spec.demands):
            out[i] = pol.levels[rank] * spec.step
    return out


def _batched(x: NDArray[np.float64], bidx: NDArray[np.int64], nb: int) -> NDArray[np.float64]:
    """Sum over periods (last axis) into ``nb`` equal batches (the remainder joins the last)."""
    if nb == 1:
        return x.sum(axis=-1, keepdims=True)
    out = np.zeros((*x.shape[:-1], nb))
    for b in range(nb):
        out[..., b] = x[..., bidx == b].sum(axis=-1)
    return out


# --- the demand draws and the guaranteed-service simulation (compiled) -------------------------
#
# Every (connected component of the network, replication) pair is one task: its demands are
# drawn from a generator seeded by (seed, component, replication) — the same numbers whichever
# thread runs it, and the same for "guaranteed" and "actual" — then every stage with demand of
# its own is simulated on the orders it receives (its own demand and the demand served below
# it, times the path quantities).


@dataclass(frozen=True)
class _Draws:
    r"""How every demand is drawn: normal :math:`N(\mu, \sigma^2)` (``kind`` 0, truncated at 0
    when asked) or, at and around critical-level stages, the model's lattice law
    (:func:`~optim.models.safety_stock.critical.demand_laws`: ``kind`` 1, inverse transform of
    the very probabilities the model uses, with a guide table), grouped by component."""

    kind: NDArray[np.int64]
    mu: NDArray[np.float64]
    sd: NDArray[np.float64]
    lo: NDArray[np.float64]  # lattice: value = (lo + index) * step
    step: NDArray[np.float64]
    cdf: NDArray[np.float64]  # concatenated, cdf_off per demand
    cdf_off: NDArray[np.int64]
    guide: NDArray[np.int64]  # concatenated, one entry per cdf entry plus one
    truncate: bool
    comp_off: NDArray[np.int64]  # demands of component c: comp_dem[comp_off[c]:comp_off[c+1]]
    comp_dem: NDArray[np.int64]
    local: NDArray[np.int64]  # index of each demand within its component

    @staticmethod
    def of(instance: SafetyStockInstance, data: GSMData, truncate: bool) -> _Draws:
        dem = instance.demands
        nd = len(dem)
        laws = demand_laws(instance, data.n, data.ids)
        kind = np.zeros(nd, dtype=np.int64)
        lo = np.zeros(nd)
        step = np.ones(nd)
        cdfs: list[NDArray[np.float64]] = []
        guides: list[NDArray[np.int64]] = []
        for i in range(nd):
            if i not in laws:
                cdfs.append(np.ones(1))
                guides.append(np.zeros(2, dtype=np.int64))
                continue
            lat, h = laws[i]
            kind[i], lo[i], step[i] = 1, lat.lo, h
            cdf = np.cumsum(lat.pmf)
            cdf[-1] = 1.0
            cdfs.append(cdf)
            g = cdf.size
            guides.append(np.searchsorted(cdf, np.arange(g + 1) / g, side="left"))
        sets = DisjointSets(data.n)
        for i, j in zip(data.source.tolist(), data.target.tolist(), strict=True):
            sets.union(i, j)
        pos = {sid: j for j, sid in enumerate(data.ids)}
        root = np.array([sets.find(pos[d.stage]) for d in dem], dtype=np.int64)
        comp_dem = np.argsort(root, kind="stable").astype(np.int64)
        _, starts = np.unique(root[comp_dem], return_index=True)
        comp_off = np.append(starts, nd).astype(np.int64)
        local = np.zeros(nd, dtype=np.int64)
        for c in range(comp_off.size - 1):
            members = comp_dem[comp_off[c] : comp_off[c + 1]]
            local[members] = np.arange(members.size)
        sizes = np.array([c.size for c in cdfs], dtype=np.int64)
        return _Draws(
            kind,
            np.array([d.mean for d in dem], dtype=np.float64),
            law_std_devs(instance),  # normal draws: a Poisson demand's sqrt(mean)
            lo,
            step,
            np.concatenate(cdfs) if cdfs else np.zeros(0),
            np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
            np.concatenate(guides) if guides else np.zeros(0, dtype=np.int64),
            truncate,
            comp_off,
            comp_dem,
            local,
        )

    def arrays(self) -> tuple[Any, ...]:
        return (
            self.kind,
            self.mu,
            self.sd,
            self.lo,
            self.step,
            self.cdf,
            self.cdf_off,
            self.guide,
            self.truncate,
            self.comp_off,
            self.comp_dem,
            self.local,
        )

    def all(self, seed: int, reps: slice, horizon: int) -> NDArray[np.float64]:
        """Demand (demands, replications ``reps``, periods), as the guaranteed run draws it."""
        nd = self.kind.size
        out = np.zeros((nd, reps.stop - reps.start, horizon))
        _nb_draw_all(seed, reps.start, out, self.arrays())
        return out


@dataclass(frozen=True)
class _Stages:
    """The stages with demand of their own, as flat arrays for the kernel. Stage ``s`` of
    component ``c`` is ``st[st_off[c]:st_off[c+1]]``; its orders are the demands
    ``row_dem[row_off[s]:row_off[s+1]]`` times ``row_phi``; with ``crit[s]`` its classes
    ``cls_off[s]:cls_off[s+1]`` (priority order) each sum the entries
    ``ent_off[k]:ent_off[k+1]`` and report into demand ``cls_row[k]`` (-1: the downstream
    flow) with level ``cls_level[k]``; without, its own demands ``own[own_off[s]:...]`` are
    reported first come, first served."""

    st_off: NDArray[np.int64]
    st: NDArray[np.int64]
    base: NDArray[np.float64]
    tau: NDArray[np.int64]
    crit: NDArray[np.bool_]
    row_off: NDArray[np.int64]
    row_dem: NDArray[np.int64]
    row_phi: NDArray[np.float64]
    own_off: NDArray[np.int64]
    own: NDArray[np.int64]
    cls_off: NDArray[np.int64]
    ent_off: NDArray[np.int64]
    ent_dem: NDArray[np.int64]
    ent_phi: NDArray[np.float64]
    cls_row: NDArray[np.int64]
    cls_level: NDArray[np.float64]

    @staticmethod
    def of(
        data: GSMData,
        dstage: NDArray[np.int64],
        specs: dict[int, StageSpec],
        base: NDArray[np.float64],
        tau: NDArray[np.int64],
        levels: NDArray[np.float64],
    ) -> _Stages:
        phi = data.phi.tocsr()
        stages = np.unique(dstage)
        sets = DisjointSets(data.n)
        for i, j in zip(data.source.tolist(), data.target.tolist(), strict=True):
            sets.union(i, j)
        # components in the order _Draws numbers them (by the root of their first demand)
        root = np.array([sets.find(int(j)) for j in dstage.tolist()], dtype=np.int64)
        comp_of_root = {int(r): c for c, r in enumerate(np.unique(root).tolist())}
        comp = np.array([comp_of_root[sets.find(int(j))] for j in stages.tolist()])
        stages = stages[np.argsort(comp, kind="stable")]
        counts = np.bincount(comp, minlength=len(comp_of_root))
        own_of: dict[int, list[int]] = {}
        for i, j in enumerate(dstage.tolist()):
            own_of.setdefault(j, []).append(i)
        row_off, own_off, cls_off, ent_off = [0], [0], [0], [0]
        row_dem: list[int] = []
        row_phi: list[float] = []
        own: list[int] = []
        ent_dem: list[int] = []
        ent_phi: list[float] = []
        cls_row: list[int] = []
        cls_level: list[float] = []
        for j in stages.tolist():
            lo, hi = phi.indptr[j], phi.indptr[j + 1]
            row_dem.extend(phi.indices[lo:hi].tolist())
            row_phi.extend(phi.data[lo:hi].tolist())
            row_off.append(len(row_dem))
            spec = specs.get(j)
            if spec is None:
                own.extend(own_of[j])
            else:
                classes: list[tuple[list[tuple[int, float]], int, float]] = []
                if spec.flow:
                    classes.append((list(spec.below), -1, 0.0))
                classes.extend(([(i, 1.0)], i, float(levels[i])) for i in spec.demands)
                for entries, report, level in classes:
                    ent_dem.extend(d for d, _ in entries)
                    ent_phi.extend(q for _, q in entries)
                    ent_off.append(len(ent_dem))
                    cls_row.append(report)
                    cls_level.append(level)
            own_off.append(len(own))
            cls_off.append(len(cls_row))

        def ints(x: list[int]) -> NDArray[np.int64]:
            return np.array(x, dtype=np.int64)

        def floats(x: list[float]) -> NDArray[np.float64]:
            return np.array(x, dtype=np.float64)

        return _Stages(
            np.concatenate([[0], np.cumsum(counts)]).astype(np.int64),
            stages.astype(np.int64),
            base.astype(np.float64),
            tau.astype(np.int64),
            np.array([int(j) in specs for j in stages.tolist()], dtype=np.bool_),
            ints(row_off),
            ints(row_dem),
            floats(row_phi),
            ints(own_off),
            ints(own),
            ints(cls_off),
            ints(ent_off),
            ints(ent_dem),
            floats(ent_phi),
            ints(cls_row),
            floats(cls_level),
        )


_STAGE_FIELDS = (
    "st_off",
    "st",
    "base",
    "tau",
    "crit",
    "row_off",
    "row_dem",
    "row_phi",
    "own_off",
    "own",
    "cls_off",
    "ent_off",
    "ent_dem",
    "ent_phi",
    "cls_row",
    "cls_level",
)


def _guaranteed(
    draws: _Draws,
    stages: _Stages,
    run: tuple[int, int, int, int, int],
    bidx: NDArray[np.int64],
    nb: int,
    workers: int = 1,
) -> tuple[NDArray[np.float64], ...]:
    """served, wanted, kept periods and counted periods per (demand, replication, batch).

    The replications are split into contiguous pieces (:func:`optim.executor.pieces`) on the
    executor seam (:func:`optim.executor.fan_out`: ``workers`` local processes, or the Dask
    cluster in force); replication ``r`` draws from its own streams ``(seed, component, r)``
    wherever it runs, so the arrays are the same for any executor and piece count.
    """
    seed, reps, horizon, warmup, periods = run
    net = tuple(getattr(stages, f) for f in _STAGE_FIELDS)
    law = draws.arrays()
    cuts = np.linspace(0, reps, executor.pieces(workers, reps) + 1).round().astype(np.int64)
    tasks = [
        ((seed, r0, r1 - r0, horizon, warmup, periods), bidx, nb, law, net)
        for r0, r1 in itertools.pairwise(cuts.tolist())
    ]
    if len(tasks) == 1:
        out = _replications(tasks[0])
    else:
        parts = executor.fan_out(
            _replications, tasks, workers=workers, desc="simulation replications"
        )
        out = np.concatenate(parts, axis=2)
    return out[0], out[1], out[2], out[3]


def _replications(task: tuple[Any, ...]) -> NDArray[np.float64]:
    """One piece of :func:`_guaranteed`: replications ``rep0 .. rep0 + reps - 1`` (a module
    function, so that worker processes and Dask can run it)."""
    (seed, rep0, reps, horizon, warmup, periods), bidx, nb, law, net = task
    # the kernel is serial and releases the GIL: the replications are split into contiguous
    # runs over NUMBA_NUM_THREADS (default: the CPU count), each into its own array and
    # thread (a replication's numbers do not depend on where it runs); the serial kernel
    # compiles in about half the time ``parallel=True`` took (RESULTS.md, "A cold first demo")
    threads = int(numba_config.NUMBA_NUM_THREADS)  # type: ignore[attr-defined]
    cuts = np.linspace(0, reps, max(1, min(reps, threads)) + 1).round()
    runs = [(r0, r1 - r0) for r0, r1 in itertools.pairwise(cuts.astype(np.int64).tolist())]

    def one(run: tuple[int, int]) -> NDArray[np.float64]:
        part = np.zeros((4, law[0].size, run[1], nb))
        _nb_guaranteed(seed, rep0 + run[0], run[1], horizon, warmup, periods, bidx, law, net, part)
        return part

    if len(runs) == 1:
        return one(runs[0])
    with ThreadPoolExecutor(len(runs)) as pool:
        return np.concatenate(list(pool.map(one, runs)), axis=2)


# xoshiro256+ (Blackman & Vigna), one stream per (seed, component, replication) seeded by
# splitmix64: a few integer operations per number, the same numbers on any thread


@njit(cache=True)
def _nb_splitmix(x: np.uint64) -> tuple[np.uint64, np.uint64]:  # pragma: no cover - compiled
    x = x + np.uint64(0x9E3779B97F4A7C15)
    z = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x, z ^ (z >> np.uint64(31))


@njit(cache=True)
def _nb_stream(seed: int, comp: int, rep: int) -> NDArray[np.uint64]:  # pragma: no cover
    state = np.empty(4, dtype=np.uint64)
    x, k = _nb_splitmix(np.uint64(seed))
    x, k = _nb_splitmix(k ^ np.uint64(comp))
    x, k = _nb_splitmix(k ^ np.uint64(rep))
    for i in range(4):
        x, state[i] = _nb_splitmix(x)
    return state


@njit(cache=True, inline="always")
def _nb_uniform(s: NDArray[np.uint64]) -> float:  # pragma: no cover - compiled
    """Uniform on [0, 1) with 53 random bits."""
    r = s[0] + s[3]
    t = s[1] << np.uint64(17)
    s[2] ^= s[0]
    s[3] ^= s[1]
    s[1] ^= s[2]
    s[0] ^= s[3]
    s[2] ^= t
    s[3] = (s[3] << np.uint64(45)) | (s[3] >> np.uint64(19))
    return float(r >> np.uint64(11)) * (1.0 / 9007199254740992.0)


@njit(cache=True)
def _nb_fill(buf: Any, comp: int, s: Any, law: Any) -> None:  # pragma: no cover - compiled
    """Draw the component's demands into ``buf`` (demand-major, then period): normal by
    Box–Muller, lattice laws by inverse transform with the guide table."""
    kind, mu, sd, lo, step, cdf, cdf_off, guide, truncate, comp_off, comp_dem, _ = law
    horizon = buf.shape[1]
    for a in range(comp_off[comp + 1] - comp_off[comp]):
        d = comp_dem[comp_off[comp] + a]
        if kind[d] == 0:
            for t in range(horizon):
                u1 = 1.0 - _nb_uniform(s)
                u2 = _nb_uniform(s)
                z = math.sqrt(-2.0 * math.log(u1)) * math.cos(2.0 * math.pi * u2)
                x = mu[d] + sd[d] * z
                buf[a, t] = max(x, 0.0) if truncate else x
            continue
        c0 = cdf_off[d]
        g = cdf_off[d + 1] - c0
        g0 = c0 + d  # a guide has one entry more than its cdf
        for t in range(horizon):
            u = _nb_uniform(s)
            i = guide[g0 + int(u * g)]
            while cdf[c0 + i] < u:
                i += 1
            buf[a, t] = (lo[d] + i) * step[d]


@njit(cache=True)
def _nb_draw_all(seed: int, rep0: int, out: Any, law: Any) -> None:  # pragma: no cover
    comp_off, comp_dem = law[9], law[10]
    for comp in range(comp_off.size - 1):
        buf = np.empty((comp_off[comp + 1] - comp_off[comp], out.shape[2]))
        for r in range(out.shape[1]):
            _nb_fill(buf, comp, _nb_stream(seed, comp, rep0 + r), law)
            for a in range(buf.shape[0]):
                out[comp_dem[comp_off[comp] + a], r, :] = buf[a]


@njit(cache=True, nogil=True)  # nogil: _replications runs it on several threads
def _nb_guaranteed(
    seed: int,
    rep0: int,
    reps: int,
    horizon: int,
    warmup: int,
    periods: int,
    bidx: Any,
    law: Any,
    net: Any,
    out: Any,
) -> None:  # pragma: no cover - compiled
    """Every (component, replication ``rep0 + r``): draw, then simulate each stage with its
    own demand (``out[..., r, :]``).

    First come, first served (``crit`` false): period ``t``'s orders are all served iff the
    orders of the ``tau`` periods ending at ``t`` are at most ``B``; the stock left for them
    after the backorders, :math:`(B - W_{\\tau-1})^+`, is shared in proportion to the orders
    (fill rate). Critical levels: state by state — receive the orders of ``tau`` periods ago,
    fill backorders oldest first without reservation, serve the period's classes lowest
    priority first, class ``k`` only from stock above its level.
    """
    comp_off = law[9]
    local = law[11]
    (
        st_off,
        st,
        base,
        tau,
        crit,
        row_off,
        row_dem,
        row_phi,
        own_off,
        own,
        cls_off,
        ent_off,
        ent_dem,
        ent_phi,
        cls_row,
        cls_level,
    ) = net
    ncomp = comp_off.size - 1
    for task in range(ncomp * reps):
        comp = task // reps
        r = task % reps
        buf = np.empty((comp_off[comp + 1] - comp_off[comp], horizon))
        _nb_fill(buf, comp, _nb_stream(seed, comp, rep0 + r), law)
        orders = np.zeros(horizon)
        cum = np.zeros(horizon + 1)
        for si in range(st_off[comp], st_off[comp + 1]):
            j = st[si]
            orders[:] = 0.0
            for e in range(row_off[si], row_off[si + 1]):
                a = local[row_dem[e]]
                for t in range(horizon):
                    orders[t] += row_phi[e] * buf[a, t]
            b = base[j]
            w = tau[j]
            if not crit[si]:
                for t in range(horizon):
                    cum[t + 1] = cum[t] + orders[t]
                tol = 1e-9 * max(1.0, abs(b))
                for p in range(periods):
                    t = warmup + p
                    frac = 1.0
                    kept = 1.0
                    if w > 0:
                        full = cum[t + 1] - cum[t + 1 - w]
                        kept = 1.0 if full <= b + tol else 0.0
                        pos = max(orders[t], 0.0)
                        avail = max(b - (full - orders[t]), 0.0)
                        if pos > avail:
                            frac = avail / pos
                    for e in range(own_off[si], own_off[si + 1]):
                        d = own[e]
                        x = max(buf[local[d], t], 0.0)
                        out[0, d, r, bidx[p]] += x * frac
                        out[1, d, r, bidx[p]] += x
                        out[2, d, r, bidx[p]] += kept
                        out[3, d, r, bidx[p]] += 1.0
                continue
            on_hand = b
            backlog = 0.0
            for t in range(horizon):
                if t >= w:
                    on_hand += orders[t - w]
                x = min(on_hand, backlog)
                on_hand -= x
                backlog -= x
                for k in range(cls_off[si + 1] - 1, cls_off[si] - 1, -1):
                    dk = 0.0
                    for e in range(ent_off[k], ent_off[k + 1]):
                        dk += ent_phi[e] * buf[local[ent_dem[e]], t]
                    give = min(dk, max(on_hand - cls_level[k], 0.0))
                    on_hand -= give
                    backlog += dk - give
                    d = cls_row[k]
                    if d >= 0 and warmup <= t < warmup + periods:
                        bb = bidx[t - warmup]
                        out[0, d, r, bb] += give
                        out[1, d, r, bb] += dk
                        out[2, d, r, bb] += 0.0 if dk - give > 1e-9 * max(1.0, dk) else 1.0
                        out[3, d, r, bb] += 1.0


def simulate_from_files(
    instance_path: str | Path, result_json_path: str | Path, **kwargs: Any
) -> pd.DataFrame:
    """Simulate a solution stored on disk (the ``optim simulate RESULT`` command).

    Parameters
    ----------
    instance_path
        The instance: a JSON or YAML document of a :class:`SafetyStockInstance`, or a chain in
        the snc text format (``.csv`` / ``.txt``, read with
        :func:`optim.instances.io.gsm.read_willems` defaults).
    result_json_path
        A result document written by :meth:`optim.Result.to_json`; its ``stages`` records
        give the service times (and safety stocks).
    **kwargs
        Passed to :func:`simulate` (``periods``, ``replications``, ``seed``, ...).
    """
    instance = _load_instance(Path(instance_path))
    from optim.instances import gate

    result_path = Path(result_json_path)  # JSON whatever its suffix, through the gate
    doc = gate.parse_json(gate.read_text(result_path, "result document"), str(result_path))
    if not isinstance(doc, dict) or "stages" not in doc:
        raise ValueError(
            f"{result_json_path}: no 'stages' records; expected a safety_stock result document."
        )
    if doc.get("kind", "safety_stock") != "safety_stock":
        raise ValueError(
            f"{result_json_path}: result kind {doc.get('kind')!r} is not safety_stock."
        )
    if "demands" in doc and "levels" not in kwargs:
        table = pd.DataFrame(doc["demands"])
        if "critical_level" in table.columns:
            kwargs["levels"] = table
    return simulate(instance, pd.DataFrame(doc["stages"]), **kwargs)


# --- internals -------------------------------------------------------------------------------


def _load_instance(path: Path) -> SafetyStockInstance:
    """A JSON or YAML document through the input gate (repeated keys, NaN literals, alias
    bombs refused; errors name the file and line), else a chain in the snc text format."""
    if path.suffix.lower() in (".json", ".yaml", ".yml"):
        from optim.instances import gate

        doc, text, suffix = gate.load_document(path, "instance document")
        try:
            return SafetyStockInstance.model_validate(doc)
        except InstanceError as exc:
            raise gate.located(exc, str(path), text, suffix) from None
    from optim.instances.io.gsm import read_willems

    return read_willems(path)


def _column(frame: pd.DataFrame, names: tuple[str, ...]) -> str | None:
    return next((c for c in names if c in frame.columns), None)


def _solution_arrays(
    instance: SafetyStockInstance, data: GSMData, result: Any
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """Outbound and inbound service times and safety stocks, by stage position."""
    pos = {sid: j for j, sid in enumerate(data.ids)}
    s_in: NDArray[np.int64] | None = None
    ss: NDArray[np.float64] | None = None
    if isinstance(result, Mapping):
        table = pd.DataFrame({"stage": list(result), "service_time": list(result.values())})
    elif isinstance(result, pd.DataFrame):
        table = result
    else:
        tables = getattr(result, "tables", None)
        if not tables or "stages" not in tables:
            raise ValueError("result has no 'stages' table; was the solve successful?")
        table = tables["stages"]
    id_col = _column(table, _ID_COLUMNS)
    s_col = _column(table, _S_COLUMNS)
    if id_col is None or s_col is None:
        raise ValueError(
            f"stages table needs a stage-id column ({'/'.join(_ID_COLUMNS)}) and an outbound "
            f"service-time column ({'/'.join(_S_COLUMNS)}); it has {list(table.columns)}."
        )
    ids = [str(v) for v in table[id_col].tolist()]
    unknown = next((k for k, i in enumerate(ids) if i not in pos), None)
    if unknown is not None:  # (a renamed row was reported as the missing one it replaced)
        raise ResultError(
            f"stage {ids[unknown]!r} is not a stage of the instance; allowed: one row per "
            f"stage of the instance ({_listed(data.ids)})",
            field=f"stages[{unknown}].{id_col}",
        )
    first = {i: k for k, i in reversed(list(enumerate(ids)))}  # each id's first row
    twice = next((k for k, i in enumerate(ids) if first[i] != k), None)
    if twice is not None:  # (the first row's stock was simulated, the second ignored)
        raise ResultError(
            f"stage {ids[twice]!r} is listed twice in the solution (also stages"
            f"[{first[ids[twice]]}]); allowed: one row per stage",
            field=f"stages[{twice}].{id_col}",
        )
    missing = [sid for sid in data.ids if sid not in first]
    if missing:
        raise ResultError(
            f"the solution has no service time for stage(s) {_listed(missing)}; allowed: a "
            "stages table with a row for every stage of the instance",
            field="stages",
        )
    idx = np.array([pos[i] for i in ids], dtype=np.int64)
    s_out = np.zeros(data.n, dtype=np.int64)
    s_out[idx] = np.asarray(table[s_col], dtype=np.int64)
    si_col = _column(table, _SI_COLUMNS)
    if si_col is not None:
        s_in = np.zeros(data.n, dtype=np.int64)
        s_in[idx] = np.asarray(table[si_col], dtype=np.int64)
    else:
        s_in = data.external.copy()
        for i, j in zip(data.source.tolist(), data.target.tolist(), strict=True):
            s_in[j] = max(s_in[j], s_out[i])
    ss_col = _column(table, _SS_COLUMNS)
    if ss_col is not None:
        ss = np.zeros(data.n, dtype=np.float64)
        ss[idx] = np.asarray(table[ss_col], dtype=np.float64)
    else:
        tau = np.maximum(s_in + data.lead_time - s_out, 0)
        ss = np.array([float(data.safety_stock(j, tau[j])) for j in range(data.n)])
    for i, j in zip(data.source.tolist(), data.target.tolist(), strict=True):
        if s_in[j] < s_out[i]:
            raise ValueError(
                f"stage {data.ids[j]!r} has inbound service time {s_in[j]} below the outbound "
                f"service time {s_out[i]} of its supplier {data.ids[i]!r}; not a GSM solution."
            )
    _check_stated(table, data, idx, s_out, s_in, ss)
    return s_out, s_in, ss


_STATED_TOLERANCE = 1e-6
"""Relative tolerance of a stated base stock against the one simulated (the result document
rounds its numbers; a hand edit or another instance is off by far more)."""


def _check_stated(
    table: pd.DataFrame,
    data: GSMData,
    idx: NDArray[np.int64],
    s_out: NDArray[np.int64],
    s_in: NDArray[np.int64],
    ss: NDArray[np.float64],
) -> None:
    """The stages table's derived columns are the policy simulated, or :class:`ResultError`.

    The simulation derives every stage's base stock from the stated service times and safety
    stock with the instance's lead time and mean demand; a stated ``net_replenishment_time``
    or ``base_stock_level`` that differs (a result edited by hand, or simulated with another
    instance than it was solved for) would simulate another policy than the one the result
    states ("3 of 3 targets met" for a base stock of 0). Rows that leave them out (NaN) are
    not checked.
    """
    tau = s_in + data.lead_time - s_out
    rows = list(enumerate(idx.tolist()))
    if "net_replenishment_time" in table.columns:
        stated = pd.to_numeric(table["net_replenishment_time"], errors="coerce").to_numpy(
            np.float64
        )
        for k, j in rows:
            value = float(stated[k])
            if value == value and value != float(tau[j]):
                raise ResultError(
                    f"stage {data.ids[j]!r} states net_replenishment_time {value:g}, but its "
                    f"inbound_service_time {int(s_in[j])} + the instance's lead time "
                    f"{int(data.lead_time[j])} - outbound_service_time {int(s_out[j])} = "
                    f"{int(tau[j])}; allowed: the row `optim solve --out` wrote for this "
                    "instance (a result edited by hand or paired with another instance is not "
                    "simulated)",
                    field=f"stages[{k}].net_replenishment_time",
                )
    if "base_stock_level" in table.columns:
        stated = pd.to_numeric(table["base_stock_level"], errors="coerce").to_numpy(np.float64)
        pipe = s_in + data.delay(tau) - s_out + data.expected_lead_time()
        derived = data.base_stock(s_in, s_out, ss)
        for k, j in rows:
            value, want = float(stated[k]), float(derived[j])
            if value == value and not math.isclose(
                value, want, rel_tol=_STATED_TOLERANCE, abs_tol=_STATED_TOLERANCE
            ):
                raise ResultError(
                    f"stage {data.ids[j]!r} states base_stock_level {value:.10g}, but the "
                    f"instance's mean demand {float(data.mean[j]):.10g} x {float(pipe[j]):g} "
                    f"periods (inbound + lead time - outbound service time) + safety_stock "
                    f"{float(ss[j]):.10g} = {want:.10g} is the base stock it would simulate; "
                    "allowed: the base stock `optim solve --out` wrote for this instance (a "
                    "result edited by hand or paired with another instance is not simulated)",
                    field=f"stages[{k}].base_stock_level",
                )


def _listed(ids: Any, most: int = 10) -> str:
    """``a, b, c`` (the first ``most``, then ``and N more``)."""
    ids = list(ids)
    more = f" and {len(ids) - most} more" if len(ids) > most else ""
    return ", ".join(ids[:most]) + more


def _stage_orders(
    n: int,
    dstage: NDArray[np.int64],
    demand: NDArray[np.float64],
    succ: list[list[tuple[int, float]]],
    reverse: list[int],
) -> NDArray[np.float64]:
    """Orders placed by every stage each period: own demand plus downstream orders × BOM."""
    orders = np.zeros((n, *demand.shape[1:]), dtype=np.float64)
    np.add.at(orders, dstage, demand)
    for j in reverse:  # customers before suppliers
        for k, q in succ[j]:
            orders[j] += q * orders[k]
    return orders


def _cumulative(orders: NDArray[np.float64]) -> NDArray[np.float64]:
    """``A[..., t + 1]`` = orders of periods ``0..t``; ``A[..., 0] = 0``."""
    out = np.zeros((*orders.shape[:-1], orders.shape[-1] + 1), dtype=np.float64)
    np.cumsum(orders, axis=-1, out=out[..., 1:])
    return out


def _kept_guaranteed(
    orders: NDArray[np.float64],
    base: NDArray[np.float64],
    tau: NDArray[np.int64],
) -> NDArray[np.bool_]:
    """Kept[j, r, t]: demand of the ``tau_j`` periods ending at ``t`` is at most ``B_j``."""
    cum = _cumulative(orders)
    horizon = orders.shape[-1]
    t = np.arange(horizon)
    kept = np.empty(orders.shape, dtype=bool)
    for r, (b, w) in enumerate(zip(base.tolist(), tau.tolist(), strict=True)):
        lo = np.maximum(t + 1 - w, 0)
        kept[r] = cum[r][:, t + 1] - cum[r][:, lo] <= b + 1e-9 * max(1.0, abs(b))
    return kept


def _kept_actual(
    data: GSMData,
    orders: NDArray[np.float64],
    base: NDArray[np.float64],
    s_out: NDArray[np.int64],
    report: NDArray[np.int64],
) -> NDArray[np.bool_]:
    """Kept promises when late suppliers delay replenishment (suppliers first)."""
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
        arrival = np.minimum(start, never) + data.lead_time[j]  # completion of orders of t
        arrival = np.minimum(arrival, never)
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


def _row_searchsorted(rows: NDArray[np.float64], values: NDArray[np.float64]) -> NDArray[np.int64]:
    """``searchsorted(rows[r], values[r], 'left')`` for every row of non-decreasing ``rows``."""
    reps, horizon = rows.shape
    span = float(rows[:, -1].max() - min(0.0, float(rows[:, 0].min()))) + 1.0
    offset = (np.arange(reps, dtype=np.float64) * 2.0 * span)[:, None]
    flat = (rows + offset).ravel()
    clipped = np.clip(values, rows[:, :1] - 0.5, rows[:, -1:] + 0.5)
    idx = np.searchsorted(flat, (clipped + offset).ravel(), side="left").reshape(reps, -1)
    return np.minimum(idx - (np.arange(reps) * horizon)[:, None], horizon)


def _t_quantile(p: float, df: int) -> float:
    """Student-t quantile: exact for df <= 2, Cornish–Fisher expansion above.

    At p = 0.975 the error is 4e-3 for df = 3, 3e-4 for df = 5 and below 1e-5 for df >= 10
    (slightly low, i.e. the interval is a touch narrow for very few replications).
    """
    z = NormalDist().inv_cdf(p)
    if df <= 0:
        return float("inf")
    if df == 1:
        return math.tan(math.pi * (p - 0.5))
    if df == 2:
        a = 4 * p * (1 - p)
        return (2 * p - 1) * math.sqrt(2 / a)
    g1 = (z**3 + z) / 4
    g2 = (5 * z**5 + 16 * z**3 + 3 * z) / 96
    g3 = (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / 384
    g4 = (79 * z**9 + 776 * z**7 + 1482 * z**5 - 1920 * z**3 - 945 * z) / 92160
    return z + g1 / df + g2 / df**2 + g3 / df**3 + g4 / df**4
