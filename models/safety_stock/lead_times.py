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
  a 101-point equiprobable quadrature of :math:`L` (:func:`normal_nodes`). Humair, Ruark,
  Tomlin & Willems (2013) use the two-moment closed form
  :math:`B_j = \mu_j E R + z_j \sqrt{\sigma_j^2 E R + \mu_j^2 \operatorname{Var} R}`;
  it ignores the skew of demand over a random time and put fills up to 0.5 points below
  target in our simulations, so the mixture is used (the simulation test holds it to
  sampling error).
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
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtr, ndtri

if TYPE_CHECKING:
    from optim.instances.safety_stock import SafetyStockInstance, Stage
    from optim.models.safety_stock.data import GSMData

__all__ = [
    "NORMAL_SPAN",
    "expected_lead_times",
    "lead_time_model",
    "mixture_quantile",
    "model_service",
    "needs_table",
    "normal_nodes",
    "solver_lead_time",
    "stochastic_tables",
    "suffix_min",
]

NORMAL_SPAN = 3.0  # a normal lead time is considered up to mean + 3 std devs (T_j)
NORMAL_NODES = 101  # equiprobable quadrature nodes of a normal lead time

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
    """Integer lead time :math:`T_j` the solvers use (see the module docstring)."""
    kind, v, _, sd = lead_time_model(stage)
    top = float(v.max()) + (NORMAL_SPAN * sd if kind == "normal" else 0.0)
    return math.ceil(top - 1e-12)


def needs_table(stage: Stage) -> bool:
    """True unless the lead time is a deterministic whole number (the square-root model)."""
    kind, v, _, _ = lead_time_model(stage)
    return kind == "normal" or v.size > 1 or float(v[0]) != int(v[0])


def mixture_quantile(
    alpha: float, mean: FloatArray, sd: FloatArray, prob: FloatArray, *, rtol: float = 1e-10
) -> FloatArray:
    """Row-wise ``alpha``-quantile of normal mixtures ``sum_i prob[i] N(mean[., i], sd[., i]^2)``.

    ``sd == 0`` is a point mass at ``mean``. Bisection on the mixture CDF (monotone), to
    ``rtol`` of the bracket's scale.
    """
    mean = np.atleast_2d(mean)
    sd = np.atleast_2d(sd)
    lo = (mean - 12.0 * sd).min(axis=1) - 1e-9
    hi = (mean + 12.0 * sd).max(axis=1) + 1e-9
    scale = np.maximum(np.abs(lo), np.abs(hi)) + 1.0
    safe = np.where(sd > 0, sd, 1.0)
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        z = (mid[:, None] - mean) / safe
        cdf = np.where(sd > 0, ndtr(z), (mid[:, None] >= mean).astype(np.float64))
        f = cdf @ prob
        below = f < alpha
        lo = np.where(below, mid, lo)
        hi = np.where(below, hi, mid)
        if bool(np.all(hi - lo <= rtol * scale)):
            break
    return hi


def _table(
    kind: str,
    values: FloatArray,
    prob: FloatArray,
    lt_sd: float,
    T: int,
    tau_max: int,
    mu: float,
    sigma: float,
    k: float,
    z: float,
) -> FloatArray:
    """Safety stock for tau = 0..tau_max of one stage (before flooring / running max)."""
    x = np.arange(tau_max + 1, dtype=np.float64) - T
    if kind == "normal":
        values, prob = normal_nodes(float(values[0]), lt_sd)
    mean_lt = float(values @ prob)
    r = np.maximum(x[:, None] + values[None, :], 0.0)  # (tau, points)
    if values.size == 1:  # deterministic (fractional) lead time: closed form
        r1 = r[:, 0]
        return k * np.sqrt(r1) + mu * (r1 - (x + mean_lt))
    b = mixture_quantile(float(ndtr(z)), mu * r, sigma * np.sqrt(r), prob)
    return b - mu * (x + mean_lt)


def stochastic_tables(
    instance: SafetyStockInstance, data: GSMData
) -> tuple[list[FloatArray], list[NDArray[np.int64]]] | None:
    """Per-stage tables for random / fractional lead times, or ``None`` when none has one.

    Returns the tables (every stage: integer deterministic stages get :math:`k_j\\sqrt\\tau`)
    and, per stage and :math:`\\tau`, the order delay :math:`\\delta` that attains the entry
    (:math:`SS_j(\\tau) = \\min_{\\delta \\ge 0} SS^0_j(\\tau + \\delta)`, see the module
    docstring).
    """
    if not any(needs_table(s) for s in instance.stages):
        return None
    phi = data.phi
    sigma_d = np.array([d.std_dev for d in instance.demands], dtype=np.float64)
    sq = phi.multiply(phi).tocsr() if phi.nnz else phi
    sigma = np.sqrt(np.asarray(sq @ (sigma_d**2), dtype=np.float64)) if sigma_d.size else None
    tables: list[FloatArray] = []
    delays: list[NDArray[np.int64]] = []
    for j, stage in enumerate(instance.stages):
        L = int(data.tau_max[j])
        if not needs_table(stage):
            tables.append(float(data.k[j]) * np.sqrt(np.arange(L + 1, dtype=np.float64)))
            delays.append(np.zeros(L + 1, dtype=np.int64))
            continue
        kind, v, p, sd = lead_time_model(stage)
        sig = float(sigma[j]) if sigma is not None else 0.0
        raw = _table(
            kind,
            v,
            p,
            sd,
            int(data.lead_time[j]),
            L,
            float(data.mean[j]),
            sig,
            float(data.k[j]),
            _stage_z(data, j, sig),
        )
        table, delay = suffix_min(np.maximum(raw, 0.0))
        tables.append(table)
        delays.append(delay)
    return tables, delays


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
    x = tau + int(data.delay(np.full(data.n, tau))[j]) - int(data.lead_time[j])
    r = np.maximum(x + v, 0.0)
    sigma_d = np.array([d.std_dev for d in instance.demands], dtype=np.float64)
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
    out = []
    for s in instance.stages:
        kind, v, p, sd = lead_time_model(s)
        if kind == "normal":
            v, p = normal_nodes(float(v[0]), sd)
        out.append(float(v @ p))
    return np.array(out, dtype=np.float64)
