r"""Safety stock under random (or fractional) lead times: a stage cost table per stage.

Model
-----
Stage :math:`j` has a random lead time :math:`L_j` (independent of demand and of other
stages), given by its mean (``lead_time``) and either a standard deviation (normal) or a
discrete distribution :math:`\{(v_i, p_i)\}`. The solvers work with an integer lead time

.. math:: T_j = \lceil \max_i v_i \rceil \quad\text{(discrete)}, \qquad
          T_j = \lceil \bar L_j + 3 s_j \rceil \quad\text{(normal)},

so that :math:`\tau_j = SI_j + T_j - S_j \ge 0` and service times up to
:math:`SI_j + T_j` may be quoted (beyond the mean + 3 std devs a stage only holds stock
for early arrivals). With :math:`x = SI_j - S_j = \tau_j - T_j` the replenishment of an
order placed at :math:`t` arrives at :math:`t + SI_j + L_j` and is due at :math:`t + S_j`;
the stage is short iff demand over :math:`R = (x + L_j)^+` periods exceeds its base stock
:math:`B_j`. Demand over :math:`r` periods is :math:`N(\mu_j r, \sigma_j^2 r)` (continuous
time within a period: Brownian demand), :math:`\sigma_j^2 = \sum_d (\varphi_{jd}\sigma_d)^2`,
and the stage's service level is :math:`\Phi(z_j)` with :math:`z_j = k_j / \sigma_j` (the
pooling rule's effective safety factor, so a deterministic integer lead time gives back
:math:`k_j\sqrt\tau` exactly).

* Discrete lead times (exact convolution): :math:`B_j(\tau)` is the
  :math:`\Phi(z_j)`-quantile of the mixture :math:`\sum_i p_i N(\mu_j r_i, \sigma_j^2 r_i)`,
  :math:`r_i = (x + v_i)^+` (a point mass at 0 when :math:`r_i = 0`), found by bisection to
  1e-10 relative.
* Normal lead times :math:`L \sim \max(0, N(\bar L, s^2))`: the same mixture quantile over
  a 101-point equiprobable quadrature of :math:`L` (:func:`normal_nodes`).
* ``lead_time_method="two_moment"`` (instance field) instead uses the closed form of Humair,
  Ruark, Tomlin & Willems (2013), :func:`two_moment_stock`:
  :math:`SS^0_j = z_j \sqrt{\sigma_j^2 (x + E L_j)^+ + \mu_j^2 \operatorname{Var} L_j}
  + \mu_j E[(-(x + L_j))^+]` (demand over the replenishment time by its first two moments,
  plus early arrivals). It ignores the skew of demand over a random time, so it does not
  guarantee the target; it is there to compare with the literature and with tools that use
  it: on Willems chains 1 and 3 it reproduces Humair et al.'s total safety stock to the unit
  (benchmarks/gsm_results.md; tests/models/safety_stock/test_gsm_willems_lead_times.py).
  The default (``"exact"``) is the mixture quantile above, held to the target by the
  simulation tests.
* A fractional deterministic lead time is the one-point case:
  :math:`B_j = \mu_j r + k_j\sqrt r`, :math:`r = (x + \bar L)^+` — exact, no rounding of the
  time unit.

Safety stock is the expected on-hand stock (shortfalls ignored, as in the GSM):

.. math:: SS^0_j(\tau) = B_j(\tau) - \mu_j (x + E L_j)
          = \underbrace{B_j - \mu_j E R}_{\text{cover}}
          + \underbrace{\mu_j E[(-(x + L_j))^+]}_{\text{early arrivals}},

since replenishments that arrive before they are due wait on the shelf (floored at 0 for a
service level below 1/2). Early-arrival stock *falls* as :math:`\tau` grows, so
:math:`SS^0_j` is U-shaped, not monotone. A stage that would hold early arrivals can release
its order :math:`\delta \ge 0` periods later (i.e. plan with a larger inbound service time
than its suppliers quote, which the GSM allows: :math:`SI_j \ge S_i`), so its cost is

.. math:: SS_j(\tau) = \min_{\delta \ge 0,\ \tau + \delta \le L_j} SS^0_j(\tau + \delta),

non-decreasing in :math:`\tau` as the exact solvers need; the minimising
:math:`\delta` is kept (:attr:`GSMData.order_delay`, column ``order_delay``) and the
base-stock level is :math:`\mu_j (SI_j + \delta - S_j + E L_j) + SS_j`. Stages whose lead
time is a deterministic integer keep :math:`k_j\sqrt\tau` (increasing, :math:`\delta = 0`);
an instance without random or fractional lead times gets no table at all, so today's answers
are reproduced bit for bit.

Order crossing (the assumption)
-------------------------------
Both models here give all orders outstanding at a stage one replenishment time: the orders of
the last :math:`R` periods are outstanding together, so they arrive in the sequence they were
placed (no crossing). Where lead times are independent across the periods' orders (each
order its own draw), orders cross: the number of outstanding periods is then
:math:`N = \sum_{k \ge 0} 1[L_{u-k} > k]`, with the same mean :math:`\sum_k P(L > k) = E L`
and a smaller variance, :math:`\sum_k p_k(1 - p_k)` against :math:`\operatorname{Var} L =
\sum_k p_k(1 - p_k) + 2\sum_{k < m} p_m (1 - p_k)` (:math:`p_k = P(L > k)`). Less spread is
no theorem for every quantile, so the claim is measured:
:func:`.simulate_lead_times.simulate_crossing` simulates the physical system with
independent lead times, and every segment's cycle service there is at or above the model's
(within 3 standard errors, well above with discrete lead times), first come, first served and
with critical levels (tests/models/safety_stock/test_gsm_lead_time_critical.py,
``test_no_crossing_model_is_conservative_when_orders_cross``; 0.9 to 6.1 points in
benchmarks/bench_lead_time_levels.py). The model's stock is then more than independent lead
times need; ``optim simulate`` keeps the model's convention (one draw per period), so it
checks the model, not the crossing system.

Critical levels under a random lead time
----------------------------------------
A stage that serves segments by critical levels (:mod:`.critical`) and has a random or
fractional lead time. The critical-level model counts time in whole periods at the due
dates of the orders: with :math:`x = \tau - T_j` the replenishment of the orders due in
period :math:`u` is usable from period :math:`u + r` for a whole :math:`r`. A replenishment
time :math:`t = x + L_j = m + f` (:math:`0 \le f < 1`) is :math:`r = m` with probability
:math:`1 - f` and :math:`m + 1` with probability :math:`f` (orders spread evenly over the
period: an arrival a fraction :math:`f` into it is in time for the share :math:`1 - f` of
them), so :math:`E r = t` and the pipeline is the first-come-first-served model's; a
deterministic whole lead time gives :math:`r = \tau`, today's model. As in the
first-come-first-served model above (demand over a random replenishment time, the same
approximation: one replenishment time per period, no order crossing), :math:`r` is drawn
from the lead-time distribution (the 101-node quadrature of a normal one): with probability
:math:`q_r` the stock on hand before period :math:`u`'s orders is :math:`(B - W_{r-1})^+`,
:math:`W_m` the demand of :math:`m` periods (the exact lattice convolution of
:func:`.critical.window`), and with probability :math:`q_\infty = P(r \le 0)` the
replenishment is already there (every segment served). The segments' recursion acts on the
stock value, so the stock distribution is the mixture :math:`\sum_{r \ge 1} q_r (B -
W_{r-1})^+` and a segment's service is :math:`q_\infty + (1 - q_\infty)\,s_k` with
:math:`s_k` its service facing the finite part (normalised). So the least base stock
:math:`B^*(\tau)` and its greedy critical levels are those of
:func:`.critical.optimal_policy` on the finite mixture with every target conditioned,
:math:`(\alpha_k - q_\infty) / (1 - q_\infty)` (met outright when :math:`\le 0`). Safety
stock is the expected on-hand stock :math:`SS^0(\tau) = B^*(\tau)h - \mu_j (x + E L_j)`
(early arrivals included, floored at 0), and the stage table is :math:`\min_{\delta \ge 0}
SS^0(\tau + \delta)` with its order delay, as for first-come-first-served stages. A stage
that also supplies others serves the downstream orders as its top class, as without a random
lead time. The approximation: one replenishment time per period and no order crossing (all
orders of the last :math:`r - 1` periods outstanding); with independent lead times orders can
cross, and then the number of outstanding periods has the same mean but less spread. Checked
against brute force over base stock and levels, and ``optim simulate``
(:func:`.simulate_lead_times.simulate_critical`) draws the lead times, applies the critical
levels the result states and agrees with the model's per-segment services within sampling
error on random trees (tests/models/safety_stock/test_gsm_lead_time_critical.py,
test_critical_lead_time_simulation.py). A zero standard deviation or a one-point distribution
at a whole lead time is today's deterministic model exactly.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtr, ndtri

from optim.instances.safety_stock import NORMAL_NODES as _NORMAL_NODES
from optim.instances.safety_stock import NORMAL_SPAN

if TYPE_CHECKING:
    from optim.instances.safety_stock import SafetyStockInstance, Stage
    from optim.models.safety_stock.critical import (
        Lattice,
        SegmentModel,
        StagePolicy,
        StageSpec,
    )
    from optim.models.safety_stock.data import GSMData

__all__ = [
    "NORMAL_SPAN",
    "critical_lead_time_base_stock",
    "critical_lead_time_policy",
    "critical_lead_time_table",
    "expected_lead_times",
    "lead_time_model",
    "mixture_quantile",
    "model_service",
    "needs_table",
    "normal_nodes",
    "solver_lead_time",
    "stochastic_tables",
    "suffix_min",
    "two_moment_stock",
]

NORMAL_NODES = _NORMAL_NODES  # equiprobable quadrature nodes of a normal lead time

FloatArray = NDArray[np.float64]


def lead_time_model(stage: Stage) -> tuple[str, FloatArray, FloatArray, float]:
    """``(kind, values, probabilities, std_dev)`` of a stage's lead time.

    ``kind`` is ``"discrete"`` (values/probabilities, one point for a deterministic lead
    time) or ``"normal"`` (values = [mean], std_dev > 0).
    """
    if stage.lead_time_distribution is not None:
        v = np.array([p.value for p in stage.lead_time_distribution], dtype=np.float64)
        p = np.array([p.probability for p in stage.lead_time_distribution], dtype=np.float64)
        return "discrete", v, p / p.sum(), 0.0
    sd = float(stage.lead_time_std_dev or 0.0)
    mean = np.array([float(stage.lead_time)])
    if sd > 0:
        return "normal", mean, np.ones(1), sd
    return "discrete", mean, np.ones(1), 0.0


def normal_nodes(mean: float, sd: float) -> tuple[FloatArray, FloatArray]:
    """Equiprobable quadrature of :math:`\\max(0, N(mean, sd^2))`: the midpoint quantiles
    :math:`mean + sd\\,\\Phi^{-1}((i - 1/2)/K)`, :math:`i = 1..K`, floored at 0."""
    u = (np.arange(NORMAL_NODES) + 0.5) / NORMAL_NODES
    v = np.maximum(mean + sd * ndtri(u), 0.0)
    return v, np.full(NORMAL_NODES, 1.0 / NORMAL_NODES)


def solver_lead_time(stage: Stage) -> int:
    """Integer lead time :math:`T_j` the solvers use (see the module docstring; the
    instance's :attr:`~optim.instances.safety_stock.Stage.solver_lead_time`, which the input
    gate's memory estimate uses too)."""
    return stage.solver_lead_time


def _whole(stage: Stage) -> bool:
    """A deterministic whole lead time given as ``lead_time`` alone (the common case, fast)."""
    lt = stage.lead_time
    return (
        stage.lead_time_distribution is None
        and not stage.lead_time_std_dev
        and lt is not None
        and float(lt) == int(lt)
    )


def needs_table(stage: Stage) -> bool:
    """True unless the lead time is a deterministic whole number (the square-root model)."""
    if _whole(stage):
        return False
    return stage.table_points is not None


def mixture_quantile(
    alpha: float | FloatArray,
    mean: FloatArray,
    sd: FloatArray,
    prob: FloatArray,
    *,
    rtol: float = 1e-10,
) -> FloatArray:
    """Row-wise ``alpha``-quantile of mixtures ``sum_i prob[., i] N(mean[., i], sd[., i]^2)``.

    ``alpha`` is a scalar or one value per row, ``prob`` one row of weights for all rows or
    one per row; ``sd == 0`` is a point mass at ``mean``. A quantile that sits on a point
    mass is returned exactly (the smallest ``b`` with ``F(b) >= alpha``); otherwise
    safeguarded Newton on the mixture CDF (monotone): a Newton step from the two-moment
    normal guess when it stays inside the bracket, else bisection; stops when the CDF is
    within 1e-12 of ``alpha`` or the bracket within ``rtol`` of its scale.
    """
    mean = np.atleast_2d(mean)
    sd = np.atleast_2d(sd)
    rows = mean.shape[0]
    w = np.broadcast_to(np.atleast_2d(prob), mean.shape)
    a = np.broadcast_to(np.asarray(alpha, dtype=np.float64), (rows,)).copy()
    lo = (mean - 12.0 * sd).min(axis=1) - 1e-9
    hi = (mean + 12.0 * sd).max(axis=1) + 1e-9
    scale = np.maximum(np.abs(lo), np.abs(hi)) + 1.0
    safe = np.where(sd > 0, sd, 1.0)
    m1 = (mean * w).sum(axis=1)
    var = ((sd * sd + mean * mean) * w).sum(axis=1) - m1 * m1
    x = np.clip(m1 + ndtri(a) * np.sqrt(np.maximum(var, 0.0)), lo, hi)
    out = hi.copy()
    root2pi = math.sqrt(2 * math.pi)
    # quantiles on a point mass: F(m-) < alpha <= F(m) at an atom m. Rows of point masses
    # only: the discrete quantile. Mixed rows: their point masses must share one location
    # (0 in the lead-time model: no time to cover), tested once.
    atomic = (sd <= 0) & (w > 0)
    settled = np.zeros(rows, dtype=bool)
    pure = atomic.sum(axis=1) == (w > 0).sum(axis=1)
    if bool(pure.any()):
        idx = np.flatnonzero(pure)
        order = np.argsort(mean[idx], axis=1)
        ms = np.take_along_axis(mean[idx], order, axis=1)
        cw = np.cumsum(np.take_along_axis(w[idx], order, axis=1), axis=1)
        first = np.argmax(cw >= a[idx, None] - 1e-12, axis=1)
        out[idx] = ms[np.arange(idx.size), first]
        settled[idx] = True
    mixed = np.flatnonzero(atomic.any(axis=1) & ~pure)
    if mixed.size:
        loc = np.where(atomic[mixed], mean[mixed], np.nan)
        at = np.nanmin(loc, axis=1)
        if not np.allclose(np.nanmax(loc, axis=1), at):
            raise ValueError("point masses of a mixed row must share one location")
        mm, ss, sfc, wc = mean[mixed], sd[mixed], safe[mixed], w[mixed]
        with np.errstate(divide="ignore", invalid="ignore"):
            cont = (np.where(ss > 0, ndtr((at[:, None] - mm) / sfc), 0.0) * wc).sum(axis=1)
        mass = np.where(atomic[mixed], wc, 0.0).sum(axis=1)
        on = (cont < a[mixed]) & (cont + mass >= a[mixed])
        out[mixed[on]] = at[on]
        settled[mixed[on]] = True
    todo = np.flatnonzero(~settled)
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        for _ in range(200):
            if todo.size == 0:
                break
            if todo.size == rows:  # no copies while every row is open
                m, sgm, sf, ww, xx = mean, sd, safe, w, x
            else:
                m, sgm, sf, ww, xx = mean[todo], sd[todo], safe[todo], w[todo], x[todo]
            u = (xx[:, None] - m) / sf
            cdf = np.where(sgm > 0, ndtr(u), (xx[:, None] >= m).astype(np.float64))
            f = np.einsum("ij,ij->i", cdf, ww) - a[todo]
            pdf = np.where(sgm > 0, np.exp(-0.5 * u * u) / sf, 0.0)
            dens = np.einsum("ij,ij->i", pdf, ww) / root2pi
            lt, ht = lo[todo], hi[todo]
            lt = np.where(f < 0, xx, lt)
            ht = np.where(f < 0, ht, xx)
            lo[todo], hi[todo] = lt, ht
            hit = np.abs(f) <= 1e-12
            done = hit | (ht - lt <= rtol * scale[todo])
            out[todo] = np.where(hit, xx, ht)
            step = xx - f / dens
            ok = (dens > 0) & (step > lt) & (step < ht)
            x[todo] = np.where(ok, step, 0.5 * (lt + ht))
            todo = todo[~done]
    return out


def stochastic_tables(
    instance: SafetyStockInstance, data: GSMData, deadline: float | None = None
) -> tuple[list[FloatArray], list[NDArray[np.int64]]] | None:
    """Per-stage tables for random / fractional lead times, or ``None`` when none has one.

    Returns the tables (every stage: integer deterministic stages get :math:`k_j\\sqrt\\tau`)
    and, per stage and :math:`\\tau`, the order delay :math:`\\delta` that attains the entry
    (:math:`SS_j(\\tau) = \\min_{\\delta \\ge 0} SS^0_j(\\tau + \\delta)`, see the module
    docstring). The quantiles of stages whose distributions have the same number of points
    are found in vectorised calls of about :data:`CHUNK_ROWS` rows; ``deadline``
    (``time.perf_counter()``) is checked before each stage and each call
    (:class:`~optim.models.safety_stock.tables.TableTimeout` once passed).
    """
    from optim.models.safety_stock.tables import check_deadline

    if not any(needs_table(s) for s in instance.stages):
        return None
    phi = data.phi
    from optim.models.safety_stock.critical import law_std_devs

    sigma_d = law_std_devs(instance)
    sq = phi.multiply(phi).tocsr() if phi.nnz else phi
    sigma = (
        np.sqrt(np.asarray(sq @ (sigma_d**2), dtype=np.float64))
        if sigma_d.size
        else np.zeros(data.n)
    )
    raw: list[FloatArray | None] = [None] * data.n
    groups: dict[int, list[_Rows]] = {}
    done = 0  # stages whose table is final
    for j, stage in enumerate(instance.stages):
        check_deadline(deadline, done, data.n)
        L = int(data.tau_max[j])
        if not needs_table(stage):
            raw[j] = float(data.k[j]) * np.sqrt(np.arange(L + 1, dtype=np.float64))
            done += 1
            continue
        kind, v, p, sd = lead_time_model(stage)
        x = np.arange(L + 1, dtype=np.float64) - int(data.lead_time[j])
        mu, sig = float(data.mean[j]), float(sigma[j])
        if instance.lead_time_method == "two_moment" and (kind == "normal" or v.size > 1):
            raw[j] = two_moment_stock(x, v, p, sd, mu, sig, _stage_z(data, j, sig))
            done += 1
            continue
        if kind == "normal":
            v, p = normal_nodes(float(v[0]), sd)
        r = np.maximum(x[:, None] + v[None, :], 0.0)  # (tau, points)
        mean_lt = float(v @ p)
        if v.size == 1:  # deterministic (fractional) lead time: closed form
            raw[j] = float(data.k[j]) * np.sqrt(r[:, 0]) + mu * (r[:, 0] - (x + mean_lt))
            done += 1
            continue
        alpha = float(ndtr(_stage_z(data, j, sig)))
        groups.setdefault(v.size, []).append(_Rows(j, x, r, p, mu, sig, alpha, mean_lt))
    for chunk in _chunks(groups):
        check_deadline(deadline, done, data.n)
        _quantile_rows(chunk, raw)
        done += len(chunk)
    tables: list[FloatArray] = []
    delays: list[NDArray[np.int64]] = []
    for j, stage in enumerate(instance.stages):
        t = raw[j]
        assert t is not None
        if not needs_table(stage):
            tables.append(t)
            delays.append(np.zeros(t.size, dtype=np.int64))
            continue
        table, delay = suffix_min(np.maximum(t, 0.0))
        tables.append(table)
        delays.append(delay)
    return tables, delays


def two_moment_stock(
    x: FloatArray, v: FloatArray, p: FloatArray, sd: float, mu: float, sigma: float, z: float
) -> FloatArray:
    r"""Expected safety stock of the two-moment closed form (Humair et al. 2013) at
    :math:`x = SI - S` (one value per entry of ``x``), before the order delay.

    .. math:: SS^0 = z\sqrt{\sigma^2 (x + E L)^+ + \mu^2 \operatorname{Var} L}
              + \mu\, E[(-(x + L))^+]

    (cover of demand over the replenishment time by its mean and variance, plus the stock of
    early arrivals). ``v``/``p``: a discrete lead time; ``sd > 0``: a normal one with mean
    ``v[0]`` (not truncated at 0, as in the closed form).
    """
    if sd > 0:
        m, var = float(v[0]), sd * sd
        d = (x + m) / sd
        early = sd * np.exp(-0.5 * d * d) / math.sqrt(2 * math.pi) - (x + m) * ndtr(-d)
    else:
        m = float(v @ p)
        var = float(((v - m) ** 2) @ p)
        early = np.maximum(-(x[:, None] + v[None, :]), 0.0) @ p
    cover = z * np.sqrt(sigma * sigma * np.maximum(x + m, 0.0) + mu * mu * var)
    return np.asarray(cover + mu * early, dtype=np.float64)


@dataclass(frozen=True)
class _Rows:
    """One stage's quantile problems: tau rows of a mixture with the stage's points."""

    j: int
    x: FloatArray
    r: FloatArray
    p: FloatArray
    mu: float
    sigma: float
    alpha: float
    mean_lt: float


#: rows (net replenishment times x stages) of one vectorised quantile call: the unit of work
#: between two deadline checks (chain 38: 35,843 rows of 101 points, 9 calls)
CHUNK_ROWS = 4096


def _chunks(groups: dict[int, list[_Rows]]) -> list[list[_Rows]]:
    """The stages of each group cut into runs of about :data:`CHUNK_ROWS` rows."""
    out: list[list[_Rows]] = []
    for items in groups.values():
        run: list[_Rows] = []
        rows = 0
        for it in items:
            run.append(it)
            rows += it.x.size
            if rows >= CHUNK_ROWS:
                out.append(run)
                run, rows = [], 0
        if run:
            out.append(run)
    return out


def _quantile_rows(items: list[_Rows], raw: list[FloatArray | None]) -> None:
    """Fill ``raw`` for these stages (same number of points) by one vectorised quantile call."""
    r_all = np.concatenate([it.r for it in items])
    mu_rows = np.concatenate([np.full(it.x.size, it.mu) for it in items])
    sig_rows = np.concatenate([np.full(it.x.size, it.sigma) for it in items])
    p_rows = np.concatenate([np.broadcast_to(it.p, it.r.shape) for it in items])
    a_rows = np.concatenate([np.full(it.x.size, it.alpha) for it in items])
    b = mixture_quantile(
        a_rows, mu_rows[:, None] * r_all, sig_rows[:, None] * np.sqrt(r_all), p_rows
    )
    start = 0
    for it in items:
        raw[it.j] = b[start : start + it.x.size] - it.mu * (it.x + it.mean_lt)
        start += it.x.size


def suffix_min(raw: FloatArray) -> tuple[FloatArray, NDArray[np.int64]]:
    """``min(raw[t:])`` and the offset of its (first) argmin, for every ``t``."""
    n = raw.size
    r = raw[::-1]
    cm = np.minimum.accumulate(r)
    prev = np.concatenate(([np.inf], cm[:-1]))
    pos = np.maximum.accumulate(np.where(r <= prev, np.arange(n), 0))  # ties: smallest delay
    at = (n - 1 - pos)[::-1]
    return cm[::-1].copy(), (at - np.arange(n)).astype(np.int64)


def model_service(
    instance: SafetyStockInstance, data: GSMData, j: int, tau: int, base: float
) -> float:
    """:math:`P(D(R) \\le B)`: the service stage ``j`` gives with base stock ``base`` at
    net replenishment time ``tau`` (its order delay included) under the model above.

    With a discrete lead time the distribution of :math:`D(R)` has an atom at 0 (no time to
    cover), so the service can exceed the target: this is the value a simulation must meet.
    """
    stage = instance.stages[j]
    kind, v, p, sd = lead_time_model(stage)
    if kind == "normal":
        v, p = normal_nodes(float(v[0]), sd)
    delays = data.order_delay[j] if data.order_delay is not None else None
    delay = int(delays[min(max(tau, 0), delays.size - 1)]) if delays is not None else 0
    x = tau + delay - int(data.lead_time[j])
    r = np.maximum(x + v, 0.0)
    from optim.models.safety_stock.critical import law_std_devs

    sigma_d = law_std_devs(instance)
    row = data.phi[[j], :]
    sig = float(np.sqrt(np.sum((row.data * sigma_d[row.indices]) ** 2)))
    mean, spread = float(data.mean[j]) * r, sig * np.sqrt(r)
    safe = np.where(spread > 0, spread, 1.0)
    cdf = np.where(spread > 0, ndtr((base - mean) / safe), (base + 1e-9 >= mean).astype(float))
    return float(cdf @ p)


def _stage_z(data: GSMData, j: int, sigma: float) -> float:
    """Effective safety factor of stage ``j``: ``k_j / sigma_j``; with no demand variance
    (``sigma_j = 0``) the strictest z among the demands the stage serves (lead-time risk
    alone)."""
    if sigma > 0:
        return float(data.k[j]) / sigma
    row = data.phi[[j], :]
    cols = row.indices[row.data > 0]
    return max(float(data.z[cols].max()), 0.0) if cols.size else 0.0


def expected_lead_times(instance: SafetyStockInstance) -> FloatArray:
    """:math:`E L_j` per stage (the mean lead time, fractional allowed)."""
    return np.array([_mean_lead_time(s) for s in instance.stages], dtype=np.float64)


# --- critical levels under a random lead time (model: module docstring) ---------------------


def _replenishment_mixture(stage: Stage, x: int) -> tuple[float, dict[int, float]]:
    """:math:`(q_\\infty, \\{r: q_r\\})`: whole-period replenishment times of
    :math:`x + L` (a fraction ``f`` moves ``f`` of the point's mass one period later). For a
    normal lead time the probabilities are exact (:func:`_normal_split`), not the quadrature's:
    its 101 nodes put 6 % too little mass on the last period (0.0094 for 0.0100 at
    :math:`L \\sim N(1, 0.58^2)`), which moved services by up to 0.003 in simulation."""
    kind, v, p, sd = lead_time_model(stage)
    if kind == "normal":
        return _normal_split(x, float(v[0]), sd)
    t = x + v
    whole = np.floor(t + 1e-9)
    frac = np.where(t - whole > 1e-9, t - whole, 0.0)
    q_inf = 0.0
    finite: dict[int, float] = {}
    for r0, f, pi in zip(whole.astype(np.int64).tolist(), frac.tolist(), p.tolist(), strict=True):
        for r, q in ((r0, pi * (1.0 - f)), (r0 + 1, pi * f)):
            if q <= 0:
                continue
            if r <= 0:
                q_inf += q
            else:
                finite[r] = finite.get(r, 0.0) + q
    return q_inf, finite


def _normal_split(x: int, mean: float, sd: float) -> tuple[float, dict[int, float]]:
    r""":func:`_replenishment_mixture` of :math:`t = x + \max(0, L)`, :math:`L \sim N(\mu,
    s^2)`, exactly: the split gives :math:`r = m` with weight :math:`(1 - |t - m|)^+` (a tent),
    and the tent is the second difference of the ramp, so :math:`q_m = g(m - 1) - 2 g(m) +
    g(m + 1)` with :math:`g(c) = E[(t - c)^+]`: :math:`(x + \mu - c)\Phi(d) + sarphi(d)`,
    :math:`d = (x + \mu - c)/s`, for :math:`c \ge x`, and :math:`x - c + g(x)` below (the
    point mass :math:`t = x` of :math:`L \le 0`)."""

    def g(c: NDArray[np.float64]) -> NDArray[np.float64]:
        def above(c: NDArray[np.float64]) -> NDArray[np.float64]:
            d = (x + mean - c) / sd
            return (x + mean - c) * ndtr(d) + sd * np.exp(-0.5 * d * d) / math.sqrt(2 * math.pi)

        return np.where(c >= x, above(np.maximum(c, x)), x - c + above(np.full_like(c, x)))

    m = np.arange(x - 1, math.ceil(x + mean + 12 * sd) + 2, dtype=np.float64)
    q = np.maximum(g(m - 1) - 2 * g(m) + g(m + 1), 0.0)
    q = np.where(q > 1e-14, q, 0.0)  # no windows for periods that never happen
    q /= q.sum()
    q_inf = float(q[m <= 0].sum())
    finite = {
        int(r): float(w) for r, w in zip(m.tolist(), q.tolist(), strict=True) if r >= 1 and w > 0
    }
    return q_inf, finite


class _Windows:
    """Demand of ``m`` whole periods, :math:`W_m`, built once per stage by convolution."""

    def __init__(self, spec: StageSpec) -> None:
        from optim.models.safety_stock.critical import Lattice

        period = spec.segments[0].demand
        for s in spec.segments[1:]:
            period = period.add(s.demand)
        self.period = period
        self.cache = [Lattice(0, np.ones(1))]

    def __getitem__(self, m: int) -> Lattice:
        while len(self.cache) <= m:
            self.cache.append(self.cache[-1].add(self.period))
        return self.cache[m]

    def mixture(self, finite: dict[int, float]) -> Lattice:
        """:math:`W_{r-1}` mixed with weights ``finite`` (normalised)."""
        from optim.models.safety_stock.critical import Lattice

        parts = [(q, self[r - 1]) for r, q in sorted(finite.items())]
        lo = min(w.lo for _, w in parts)
        pmf = np.zeros(max(w.hi for _, w in parts) - lo + 1)
        for q, w in parts:
            pmf[w.lo - lo : w.lo - lo + w.pmf.size] += q * w.pmf
        return Lattice(lo, pmf / pmf.sum())


def _conditioned(spec: StageSpec, q_inf: float) -> list[SegmentModel]:
    """Segments with targets conditioned on a late replenishment (see above)."""
    from optim.models.safety_stock.critical import SegmentModel

    if q_inf <= 0:
        return list(spec.segments)
    return [
        SegmentModel(s.demand, max((s.target - q_inf) / (1.0 - q_inf), 0.0), s.measure)
        for s in spec.segments
    ]


def critical_lead_time_table(
    spec: StageSpec,
    stage: Stage,
    lead_time: int,
    tau_max: int,
    base_stock: Callable[..., int] | None = None,
) -> tuple[FloatArray, NDArray[np.int64]]:
    """Safety stock table and order delays of a critical-level stage with a random (or
    fractional) lead time, :math:`\\tau = 0..` ``tau_max`` (module docstring);
    ``lead_time`` is the solver's integer :math:`T_j`. ``base_stock`` (default
    :func:`critical_lead_time_base_stock`) gives :math:`B^*(\\tau)`; the comparison point
    without reservation passes its own (:mod:`.strictest`)."""
    least = critical_lead_time_base_stock if base_stock is None else base_stock
    windows = _Windows(spec)
    mean_lt = _mean_lead_time(stage)
    raw = np.zeros(tau_max + 1)
    for tau in range(tau_max + 1):
        b = least(spec, stage, lead_time, tau, windows)
        raw[tau] = b * spec.step - spec.mean * (tau - lead_time + mean_lt)
    return suffix_min(np.maximum(raw, 0.0))


def critical_lead_time_base_stock(
    spec: StageSpec, stage: Stage, lead_time: int, tau: int, windows: _Windows | None = None
) -> int:
    """:math:`B^*(\\tau)` in lattice steps: the least base stock with critical levels that
    meet every segment's target at net replenishment time ``tau`` (no order delay)."""
    from optim.models.safety_stock.critical import optimal_policy

    q_inf, finite = _replenishment_mixture(stage, tau - lead_time)
    if not finite:
        return 0
    w = (windows or _Windows(spec)).mixture(finite)
    return optimal_policy(w, _conditioned(spec, q_inf))[0]


def critical_lead_time_policy(
    spec: StageSpec,
    stage: Stage,
    lead_time: int,
    tau: int,
    safety_stock: float,
    *,
    reserve: bool = True,
) -> StagePolicy:
    """Base stock, greedy critical levels and the model's services of such a stage's own
    demands (``spec.demands``; the downstream flow's class, level 0, is left out) at the
    effective net replenishment time ``tau`` (order delay included) for the table's stock;
    ``reserve=False``: every level 0 (the comparison point of :mod:`.strictest`).

    The base stock is the one the stage holds, :math:`B = SS + \\mu (x + E L)`, on the
    lattice rounded down, :math:`b = \\lfloor B / h \\rfloor`, as
    :func:`.critical.policy_at` does: demand moves in whole steps, so stock between two
    lattice points adds only a partial fill. Where the table floored a negative
    :math:`SS^0` at 0 (the least base stock below the mean pipeline demand, e.g.
    intermittent demand), :math:`B > B^* h` and rounding up would give levels above
    :math:`B`, which the simulation cannot hold back."""
    from optim.models.safety_stock.critical import StagePolicy, evaluate_policy, greedy_levels

    k = len(spec.segments)
    x = tau - lead_time
    q_inf, finite = _replenishment_mixture(stage, x)
    if not finite:
        n = len(spec.demands)
        return StagePolicy(0, (0,) * n, (1.0,) * n, (1.0,) * n)
    mean_lt = _mean_lead_time(stage)
    # the base stock held, B = SS + mu (x + E L), down to the lattice (as .critical._held):
    # never above B, so no level exceeds the stock the stage holds, and never below the
    # table's B*(tau) — B is B* h, or more where the table floored SS^0 < 0 at 0
    b = max(0, math.floor((safety_stock + spec.mean * (x + mean_lt)) / spec.step + 1e-6))
    w = _Windows(spec).mixture(finite)
    levels = greedy_levels(w, _conditioned(spec, q_inf), b) if reserve else [0] * k
    if levels is None:  # pragma: no cover - the table only holds feasible base stocks
        levels = [0] * k
    pol = evaluate_policy(w, list(spec.segments), b, levels)
    own = 1 if spec.flow else 0  # the downstream flow's class is left out (as policy_at)
    return StagePolicy(
        b,
        pol.levels[own:],
        tuple(q_inf + (1.0 - q_inf) * c for c in pol.cycle[own:]),
        tuple(q_inf + (1.0 - q_inf) * f for f in pol.fill[own:]),
    )


def _mean_lead_time(stage: Stage) -> float:
    kind, v, p, sd = lead_time_model(stage)
    if kind == "normal":
        v, p = normal_nodes(float(v[0]), sd)
    return float(v @ p)
