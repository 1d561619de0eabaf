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
In period :math:`t` demand :math:`D_d(t) \\sim N(\\mu_d, \\sigma_d^2)` arrives at every
(stage, segment) :math:`d`, independently over :math:`d` and :math:`t`. Each stage passes its
demand up immediately: it orders :math:`q_j(t) = \\sum_d \\varphi_{jd} D_d(t)` (base-stock
ordering, every period). A stage serves all customers first-come-first-served and promises
to ship period :math:`t`'s orders by :math:`t + S_j`. With cumulative orders
:math:`A_j(t) = \\sum_{u \\le t} q_j(u)` and cumulative replenishments :math:`R_j(u)`
received by :math:`u`, the promise for period :math:`t` is **kept** iff

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

import json
import math
from collections.abc import Mapping
from pathlib import Path
from statistics import NormalDist
from typing import Any, Literal

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from optim.errors import InstanceError
from optim.instances.safety_stock import SafetyStockInstance
from optim.models.safety_stock.critical import StageSpec, lattice_law, policy_at, stage_specs
from optim.models.safety_stock.data import GSMData, prepare
from optim.models.safety_stock.lead_times import needs_table

__all__ = ["simulate", "simulate_from_files", "summary_line"]

Upstream = Literal["guaranteed", "actual"]

_ID_COLUMNS = ("stage", "stage_id", "id")
_S_COLUMNS = ("service_time", "outbound_service_time", "committed_service_time", "S")
_SI_COLUMNS = ("inbound_service_time", "SI")
_SS_COLUMNS = ("safety_stock",)
_CHUNK_BYTES = 256 * 2**20
_BATCHES = 20


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
    if upstream not in ("guaranteed", "actual"):
        raise ValueError(f"upstream must be 'guaranteed' or 'actual', got {upstream!r}.")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence}.")
    if truncate_at_zero is None:
        truncate_at_zero = upstream == "actual"
    if upstream == "actual" and not truncate_at_zero:
        raise ValueError("upstream='actual' needs non-negative demand: truncate_at_zero=True.")

    if any(needs_table(s) for s in instance.stages):
        return _with_lead_times(
            instance,
            result,
            periods=periods,
            replications=replications,
            seed=seed,
            warmup=warmup,
            upstream=upstream,
            safety_stock_factor=safety_stock_factor,
            truncate_at_zero=truncate_at_zero,
            confidence=confidence,
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
    mu = np.array([d.mean for d in dem], dtype=np.float64)
    sd = np.array([d.std_dev for d in dem], dtype=np.float64)
    pos = {sid: j for j, sid in enumerate(data.ids)}
    dstage = np.array([pos[d.stage] for d in dem], dtype=np.int64)
    specs = stage_specs(instance, data.n, data.ids)
    crit_levels = _levels(instance, data, specs, result, levels, tau, ss, base)
    if specs and upstream == "actual":
        raise ValueError(
            "upstream='actual' is not simulated for stages with critical levels; use "
            "upstream='guaranteed' (or pooling 'max_z')."
        )
    lattice = np.zeros(nd, dtype=np.int64)  # 0 normal, 1 lattice-normal, 2 poisson, 3 nbinom
    step = np.ones(nd)
    law_a = np.zeros(nd)
    law_b = np.zeros(nd)
    for spec in specs.values():
        for i in spec.demands:
            law, law_a[i], law_b[i] = lattice_law(
                dem[i].mean, dem[i].std_dev, dem[i].distribution, spec.step
            )
            lattice[i] = {"normal": 1, "poisson": 2, "negative_binomial": 3}[law]
            step[i] = spec.step
    crit = np.array(sorted(specs), dtype=np.int64)
    plain = np.setdiff1d(np.unique(dstage), crit)  # stages served first come, first served

    nb = 1 if replications >= 2 else min(_BATCHES, periods)
    blen = periods // nb
    # per demand: served, demand, periods without shortage (and counted periods) per sample
    served = np.zeros((nd, replications, nb))
    wanted = np.zeros((nd, replications, nb))
    ok = np.zeros((nd, replications, nb))
    count = np.zeros((nd, replications, nb))

    rng = np.random.default_rng(seed)
    per_rep = max(1, (nd + len(plain) * 4 + data.n) * (horizon + 1) * 8)
    chunk = int(max(1, min(replications, _CHUNK_BYTES // per_rep)))
    done = 0
    bidx = np.minimum((np.arange(periods)) // max(blen, 1), nb - 1)
    while done < replications:
        c = min(chunk, replications - done)
        demand = _draw(rng, mu, sd, (lattice, step, law_a, law_b), c, horizon, truncate_at_zero)
        reps = slice(done, done + c)
        if upstream == "guaranteed":
            if plain.size:
                _plain_stages(
                    data,
                    plain,
                    dstage,
                    demand,
                    base,
                    tau,
                    warmup,
                    periods,
                    bidx,
                    nb,
                    served,
                    wanted,
                    ok,
                    count,
                    reps,
                )
            if crit.size:
                _critical_stages(
                    specs,
                    crit,
                    demand,
                    base,
                    tau,
                    crit_levels,
                    warmup,
                    periods,
                    bidx,
                    nb,
                    served,
                    wanted,
                    ok,
                    count,
                    reps,
                )
        else:
            succ: list[list[tuple[int, float]]] = [[] for _ in range(data.n)]
            for i, j, q in zip(
                data.source.tolist(), data.target.tolist(), data.quantity.tolist(), strict=True
            ):
                succ[i].append((j, q))
            orders = _stage_orders(data.n, dstage, demand, succ, data.order[::-1].tolist())
            kept = _kept_actual(data, orders, base, s_out, plain)[:, :, warmup : warmup + periods]
            row = {int(j): r for r, j in enumerate(plain.tolist())}
            for i in range(nd):
                k = kept[row[int(dstage[i])]]
                ok[i, reps] = _batched(k.astype(np.float64), bidx, nb)
                count[i, reps] = _batched(np.ones_like(k, dtype=np.float64), bidx, nb)
            served[:, reps] = np.nan
            wanted[:, reps] = np.nan
        done += c

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
                "stage": d.stage,
                "segment": d.segment,
                "target": d.service_level,
                "service_time": int(s_out[j]),
                "max_service_time": d.max_service_time,
                "fill": float(value[i]),
                "stderr": float(stderr[i]),
                "ci_low": float(max(0.0, value[i] - half[i])),
                "ci_high": float(min(1.0, value[i] + half[i])),
                "meets_target": bool(value[i] + half[i] >= d.service_level),
                "samples": int(periods * replications),
                "service_measure": d.service_measure,
                "fill_rate": float(fill_samples[i].mean()),
                "cycle_service": float(cycle_samples[i].mean()),
                "critical_level": float(crit_levels[i]),
                "base_stock": float(base[j]),
            }
        )
    return pd.DataFrame(rows)


def _with_lead_times(instance: SafetyStockInstance, result: Any, **kwargs: Any) -> pd.DataFrame:
    """Random or fractional lead times: :mod:`.simulate_lead_times` (first come, first served,
    cycle service), with this module's columns (``fill_rate`` is not measured there: NaN)."""
    from optim.models.safety_stock.simulate_lead_times import simulate as simulate_lead_times

    out = simulate_lead_times(instance, result, **kwargs)
    measure = {(d.stage, d.segment): d.service_measure for d in instance.demands}
    keys = list(zip(out["stage"], out["segment"], strict=True))
    out["service_measure"] = [measure[k] for k in keys]
    out["fill_rate"] = np.nan
    out["cycle_service"] = out["fill"]
    out["critical_level"] = 0.0
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
    table = result if isinstance(result, pd.DataFrame) else None
    if table is None and not isinstance(result, Mapping):
        table = (getattr(result, "tables", None) or {}).get("stages")
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
        given = {
            (str(a), str(b)): float(v)
            for a, b, v in zip(levels["stage"], levels["segment"], values, strict=True)
            if v == v  # NaN: not given
        }
        pos = {sid: j for j, sid in enumerate(data.ids)}
        for i, d in enumerate(dem):
            c = given.get((d.stage, d.segment), 0.0)
            j = pos[d.stage]
            if c < 0 or c > base[j] + 1e-6 * max(1.0, abs(base[j])):
                raise InstanceError(
                    f"critical_level {c:g} of segment {d.segment!r} at stage {d.stage!r} is "
                    f"outside [0, base stock {base[j]:g}]; a segment cannot be held back above "
                    "the stock the stage holds.",
                    field=f"demands[{i}].critical_level",
                )
            if c > 0 and j not in specs:
                raise InstanceError(
                    f"critical_level {c:g} of segment {d.segment!r} at stage {d.stage!r}: that "
                    "stage serves first come, first served (no critical levels); give 0.",
                    field=f"demands[{i}].critical_level",
                )
            out[i] = c
        return out
    for j, spec in specs.items():
        pol = policy_at(spec, int(tau[j]), float(ss[j]))
        for rank, i in enumerate(spec.demands):
            out[i] = pol.levels[rank] * spec.step
    return out


def _draw(
    rng: np.random.Generator,
    mu: NDArray[np.float64],
    sd: NDArray[np.float64],
    laws: tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.float64], NDArray[np.float64]],
    c: int,
    horizon: int,
    truncate: bool,
) -> NDArray[np.float64]:
    """Demand (demands, replications, periods): normal, or the critical-level model's lattice.

    Lattice-normal: :math:`h \\cdot \\max(0, \\mathrm{round}(X/h))` with
    :math:`X \\sim N(\\mu, \\sigma^2)`, which is exactly the model's discretisation
    (:func:`optim.models.safety_stock.critical.demand_lattice`, up to its 1e-12 tail trim);
    Poisson and negative binomial: ``h`` times the count of
    :func:`~optim.models.safety_stock.critical.lattice_law`.
    """
    lattice, step, law_a, law_b = laws
    out = rng.standard_normal((len(mu), c, horizon))
    out *= sd[:, None, None]
    out += mu[:, None, None]
    if truncate:
        np.maximum(out, 0.0, out=out)
    idx = np.flatnonzero(lattice == 1)
    if idx.size:
        h = step[idx][:, None, None]
        out[idx] = np.maximum(np.rint(out[idx] / h), 0.0) * h
    for i in np.flatnonzero(lattice >= 2).tolist():
        if lattice[i] == 2:
            out[i] = rng.poisson(law_a[i], (c, horizon)) * step[i]
        else:
            out[i] = rng.negative_binomial(law_a[i], law_b[i], (c, horizon)) * step[i]
    return out


def _batched(x: NDArray[np.float64], bidx: NDArray[np.int64], nb: int) -> NDArray[np.float64]:
    """Sum over periods (last axis) into ``nb`` equal batches (the remainder joins the last)."""
    if nb == 1:
        return x.sum(axis=-1, keepdims=True)
    out = np.zeros((*x.shape[:-1], nb))
    for b in range(nb):
        out[..., b] = x[..., bidx == b].sum(axis=-1)
    return out


def _plain_stages(
    data: GSMData,
    plain: NDArray[np.int64],
    dstage: NDArray[np.int64],
    demand: NDArray[np.float64],
    base: NDArray[np.float64],
    tau: NDArray[np.int64],
    warmup: int,
    periods: int,
    bidx: NDArray[np.int64],
    nb: int,
    served: NDArray[np.float64],
    wanted: NDArray[np.float64],
    ok: NDArray[np.float64],
    count: NDArray[np.float64],
    reps: slice,
) -> None:
    """Stages serving first come, first served (GSM's window rule), grouped by ``tau``.

    Period ``t``'s orders are all served iff the orders of the ``tau`` periods ending at ``t``
    are at most ``B`` (cycle service, exactly :math:`\\Phi(z)` for one normal segment). Stock
    left for them after the backorders is :math:`(B - W_{\\tau-1})^+`; when it falls short
    every segment receives the same share of its (positive) demand (fill rate).
    """
    nd, c, horizon = demand.shape
    flat = demand.reshape(nd, -1)
    window = slice(warmup, warmup + periods)
    dem_of = np.flatnonzero(np.isin(dstage, plain))
    for w in np.unique(tau[plain]).tolist():
        rows = plain[tau[plain] == w]
        idx = dem_of[np.isin(dstage[dem_of], rows)]
        if idx.size == 0:
            continue
        d = np.maximum(demand[idx][:, :, window], 0.0)  # (demands, c, periods)
        wanted[idx, reps] = _batched(d, bidx, nb)
        count[idx, reps] = np.bincount(bidx, minlength=nb)
        if w == 0:
            served[idx, reps] = wanted[idx, reps]
            ok[idx, reps] = np.bincount(bidx, minlength=nb)
            continue
        orders = (data.phi[rows] @ flat).reshape(len(rows), c, horizon)
        cum = np.cumsum(orders[:, :, warmup - w : warmup + periods], axis=2)
        full = cum[:, :, w:] - cum[:, :, :-w]  # orders of the w periods ending at t
        own = orders[:, :, window]
        b = base[rows][:, None, None]
        kept = full <= b + 1e-9 * np.maximum(1.0, np.abs(b))
        avail = np.maximum(b - (full - own), 0.0)
        pos_own = np.maximum(own, 0.0)
        frac = np.where(pos_own > avail, avail / np.where(pos_own > 0, pos_own, 1.0), 1.0)
        row_of = np.searchsorted(rows, dstage[idx])
        served[idx, reps] = _batched(d * frac[row_of], bidx, nb)
        ok[idx, reps] = _batched(kept.astype(np.float64), bidx, nb)[row_of]


def _critical_stages(
    specs: dict[int, StageSpec],
    crit: NDArray[np.int64],
    demand: NDArray[np.float64],
    base: NDArray[np.float64],
    tau: NDArray[np.int64],
    levels: NDArray[np.float64],
    warmup: int,
    periods: int,
    bidx: NDArray[np.int64],
    nb: int,
    served: NDArray[np.float64],
    wanted: NDArray[np.float64],
    ok: NDArray[np.float64],
    count: NDArray[np.float64],
    reps: slice,
) -> None:
    """Critical-level stages, state by state (on hand, backorders, pipeline), all at once.

    Each period (time of the orders' due dates): receive the replenishment of the orders due
    ``tau`` periods ago, fill backorders (oldest first, no reservation), then serve the
    period's orders lowest priority first, segment ``k`` only from stock above ``c_k``; the
    rest is backordered. This is the policy stated in :mod:`optim.models.safety_stock.critical`,
    simulated without its closed form.
    """
    _, c, horizon = demand.shape
    kmax = max(len(specs[j].demands) for j in crit.tolist())
    m = len(crit)
    idx = np.full((m, kmax), -1, dtype=np.int64)
    for r, j in enumerate(crit.tolist()):
        idx[r, : len(specs[j].demands)] = specs[j].demands
    d = np.where((idx >= 0)[:, :, None, None], demand[np.maximum(idx, 0)], 0.0)  # (m,K,c,H)
    total = d.sum(axis=1)  # (m, c, H)
    tau_c = tau[crit]
    # arrivals[r, :, t] = total[r, :, t - tau]
    t = np.arange(horizon)
    src = t[None, :] - tau_c[:, None]
    arrivals = np.where(
        (src >= 0)[:, None, :],
        np.take_along_axis(total, np.broadcast_to(np.maximum(src, 0)[:, None, :], total.shape), 2),
        0.0,
    )
    crit_lv = np.where(idx >= 0, levels[np.maximum(idx, 0)], 0.0)  # (m, K)
    on_hand = np.broadcast_to(base[crit][:, None], (m, c)).copy()
    backlog = np.zeros((m, c))
    got = np.zeros((m, kmax, c, horizon))
    for u in range(horizon):
        on_hand += arrivals[:, :, u]
        x = np.minimum(on_hand, backlog)
        on_hand -= x
        backlog -= x
        for k in range(kmax - 1, -1, -1):
            give = np.minimum(d[:, k, :, u], np.maximum(on_hand - crit_lv[:, k, None], 0.0))
            on_hand -= give
            backlog += d[:, k, :, u] - give
            got[:, k, :, u] = give
    window = slice(warmup, warmup + periods)
    for r, j in enumerate(crit.tolist()):
        for k, i in enumerate(specs[j].demands):
            dk = d[r, k, :, window]
            gk = got[r, k, :, window]
            served[i, reps] = _batched(gk, bidx, nb)
            wanted[i, reps] = _batched(dk, bidx, nb)
            short = dk - gk > 1e-9 * np.maximum(1.0, dk)
            ok[i, reps] = _batched((~short).astype(np.float64), bidx, nb)
            count[i, reps] = _batched(np.ones_like(dk), bidx, nb)


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
    doc = json.loads(Path(result_json_path).read_text(encoding="utf-8"))
    if "stages" not in doc:
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
    text_suffix = path.suffix.lower()
    if text_suffix == ".json":
        return SafetyStockInstance.model_validate_json(path.read_text(encoding="utf-8"))
    if text_suffix in (".yaml", ".yml"):
        import yaml

        return SafetyStockInstance.model_validate(yaml.safe_load(path.read_text(encoding="utf-8")))
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
    missing = sorted(set(data.ids) - set(ids))
    if missing:
        raise ValueError(f"solution has no service time for stages {missing[:5]}.")
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
    return s_out, s_in, ss


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
