r"""Critical-level stock reservation: every segment its own service level from shared stock.

Policy at one stage (periodic review; time counted at the *due date* of the orders)
-----------------------------------------------------------------------------------
A stage with net replenishment time :math:`\tau` (GSM: :math:`\tau = SI + T - S`) holds base
stock :math:`B` and serves segments :math:`k = 1..K` in priority order (1 first; priority =
the segment's rationing ``tier``, then its higher service level, then input order). Segment
:math:`k` has a *critical level* :math:`c_k` with :math:`c_1 = 0`. Each period :math:`u`:

1. the replenishment of the orders due :math:`\tau` periods ago arrives (GSM: suppliers keep
   their promises; every order of every segment is passed upstream when it is placed);
2. stock on hand first fills the backorders of earlier periods, oldest first and without any
   reservation (they are already late);
3. the orders due in period :math:`u` are served segment by segment, **lowest priority
   first** (the worst case for the reservation: the top segment's orders come last), segment
   :math:`k` only from stock above :math:`c_k`: it receives
   :math:`\min(D_k, (R_{k+1} - c_k)^+)` where :math:`R_{k+1}` is the stock left after the
   segments below it; what it does not receive is backordered (late).

Stages that also supply other stages
------------------------------------
A stage :math:`j` with demand of its own *and* successors serves, besides its own segments,
the replenishment orders of the stages below it: one more class, the **downstream flow**,
whose demand per period is :math:`F = \sum_d \varphi_{jd} D_d` over the demands ``d`` served
through its successors (:math:`\varphi_{jd}` units of ``j`` per unit of ``d``, summed over
paths). The flow gets the **top priority** (critical level 0) and the target "all of the
period's downstream orders served by their due date" (cycle service) at the strictest
target of the demands it carries. Why: the stages below were sized on the GSM's guarantee
that their replenishment arrives on time; a shortage of the flow breaks that promise for every
customer below at once, so no own segment of ``j`` may hold stock back from it, and at the
strictest downstream level the flow is covered at least as ``max_z`` (cover the strictest)
covers it. ``j``'s own segments follow in their priority order with their own critical
levels. The recursion, the evaluation and the search below are unchanged: the flow is one more
segment (its law the convolution of the laws it carries) — the orders of all classes are
replenished :math:`\tau` periods after their due date.

One law per demand
------------------
Each demand has one law (:func:`resolve_distribution`) and one lattice step, the
:func:`own_step` of its own stage (a power of two), used by every stage that carries it and by
the simulator. Critical levels go to every stage with demand of its own where
:func:`needs_levels` holds and, closing over the network, to every stage with demand of its
own whose orders carry demand of such a stage (the stage above it, and the stages below a
supplying one): a stage whose orders contain negative-binomial or Poisson demand is modelled
on it, not on a normal approximation. A stage's lattice step :math:`g` is the largest power of
two on which all of its demands (times :math:`\varphi`) lie, so the convolutions stay exact.
Stages without demand of their own keep the square-root model (no service of theirs is
reported; with the GSM's guaranteed upstream they never delay a customer).

Exact evaluation
----------------
Every order is replenished :math:`\tau` periods after its due date and backorders are filled
first, so the stock on hand in step 3 is :math:`R_{K+1} = (B - W)^+` with :math:`W` the total
demand due in the :math:`\tau - 1` previous periods, independent of the period's own demands
:math:`D_1..D_K`. The stock left for segment :math:`k` follows the one-dimensional recursion
:math:`R_k = \min(R_{k+1}, \max(R_{k+1} - D_k, c_k))` with independent :math:`D_k`. Per-period
demands live on a lattice :math:`\{0, h, 2h, \dots\}` (normal demand discretised with step
:math:`h = 2^{\lfloor \log_2 (\sigma/8) \rfloor}`, :math:`\sigma` the stage's pooled standard
deviation, and negative values set to 0; Poisson and negative binomial counts of
:math:`h = 2^{\lfloor \log_2 \max(1, \sigma/16) \rfloor}` units with mean and variance
matched; ``distribution="auto"`` takes the normal when :math:`\sigma \le \mu/2` and the
negative binomial — Poisson if :math:`\sigma^2 \le \mu` — for slow, lumpy demand), so the
distribution of :math:`W` is an exact convolution and every segment's

* ``cycle_service`` :math:`= P(D_k \le (R_{k+1} - c_k)^+)` (share of periods without a
  shortage for the segment) and
* ``fill_rate`` :math:`= E[\min(D_k, (R_{k+1} - c_k)^+)] / E[D_k]` (share of its demand served
  from stock by its due date)

is computed exactly for the lattice demand the simulator draws (:mod:`.simulate` draws from
these very probabilities and runs the policy state by state, not this recursion; tests compare
the two). With :math:`\tau = 0`
the period's own replenishment arrives at the due date: everything is served, no stock.

Optimisation per stage and :math:`\tau`
---------------------------------------
Holding cost is :math:`h_j (B - \mu_j\tau)` (the GSM safety stock, the expected net
inventory), so the problem is the least lattice :math:`B` for which critical levels exist
that let every segment meet its target. For fixed :math:`B`: segment :math:`k`'s service
falls in :math:`c_k` and rises with :math:`R_{k+1}`, which is stochastically increasing in
:math:`c_{k+1}, \dots, c_K` and in :math:`B` (the recursion is monotone). Hence the greedy
choice — from the lowest segment up, the largest :math:`c_k` that still meets segment
:math:`k`'s target — leaves the most stock to every segment above, and a :math:`B` is feasible
iff the greedy levels satisfy the top segment; feasibility is monotone in :math:`B`, so
:math:`B^*(\tau)` is found by bisection. The stage's table is
:math:`SS(\tau) = \max(SS(\tau - 1), B^*(\tau) - \mu_j \tau)` rounded up to the lattice with
:math:`SS(0) = 0`: non-decreasing (what the GSM solvers need) and feasible at every
:math:`\tau` (more stock, levels recomputed greedily for it, never hurts).

A stage with one segment measured by ``cycle_service`` keeps the GSM square-root model
:math:`z\sigma\sqrt\tau` exactly (normal demand, the existing solvers and tests).

Sources
-------
R. Dekker, R. M. Hill, M. J. Kleijn, R. H. Teunter (2002). On the (S−1, S) lost sales
inventory model with priority demand classes. Naval Research Logistics 49(6):593–610.
V. Deshpande, M. A. Cohen, K. Donohue (2003). A threshold inventory rationing policy for
service-differentiated demand classes. Management Science 49(6):683–703.
R. H. Teunter, W. K. Klein Haneveld (2008). Dynamic inventory rationing strategies for
inventory systems with two demand classes, Poisson demand and backordering. European Journal
of Operational Research 190(1):156–178.
K. C. Frank, R. Q. Zhang, I. Duenyas (2003). Optimal policies for inventory systems with
priority demand classes. Operations Research 51(6):993–1002 (periodic review, rationing).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING, Any

import numpy as np
from numba import njit
from numpy.typing import NDArray

if TYPE_CHECKING:
    from optim.instances.safety_stock import Demand, SafetyStockInstance

__all__ = [
    "DISTRIBUTIONS",
    "MEASURES",
    "Lattice",
    "SegmentModel",
    "StagePolicy",
    "StageSpec",
    "demand_lattice",
    "evaluate_policy",
    "greedy_levels",
    "lattice_law",
    "law_std_dev",
    "law_std_devs",
    "needs_levels",
    "optimal_policy",
    "policy_at",
    "resolve_distribution",
    "stage_fallbacks",
    "stage_specs",
    "stage_table",
    "window",
]

FloatArray = NDArray[np.float64]
MEASURES = ("cycle_service", "fill_rate")
DISTRIBUTIONS = ("auto", "normal", "poisson", "negative_binomial")
_TAIL = 1e-12  # probability mass trimmed from lattice tails
_STEPS_PER_SIGMA = 8


@dataclass(frozen=True)
class Lattice:
    """A distribution on the integers ``lo, lo + 1, ...`` (in lattice steps): ``pmf[i]`` is
    the probability of ``lo + i``."""

    lo: int
    pmf: FloatArray

    @property
    def hi(self) -> int:
        return self.lo + self.pmf.size - 1

    def mean(self) -> float:
        return float(np.dot(self.pmf, np.arange(self.lo, self.hi + 1)))

    def add(self, other: Lattice) -> Lattice:
        """Distribution of the sum of two independent variables (tails trimmed)."""
        return _trim(self.lo + other.lo, np.convolve(self.pmf, other.pmf))


@dataclass(frozen=True)
class SegmentModel:
    """One segment at a stage: its per-period demand lattice, target and service measure."""

    demand: Lattice
    target: float
    measure: str  # "cycle_service" | "fill_rate"

    @cached_property
    def _cum(self) -> tuple[FloatArray, FloatArray, float]:
        cdf = np.cumsum(self.demand.pmf)
        csurv = np.concatenate([[0.0], np.cumsum(1.0 - cdf)])
        return cdf, csurv, self.demand.mean()

    def service(self, avail: NDArray[np.int64]) -> FloatArray:
        """Service per period when ``avail`` units (lattice steps) are available to it."""
        return self.service_as(self.measure, avail)

    def service_as(self, measure: str, avail: NDArray[np.int64]) -> FloatArray:
        """:meth:`service` in the given measure (the model reports both)."""
        x = np.maximum(avail, 0)
        d = self.demand
        cdf, csurv, mean = self._cum
        idx = x - d.lo
        if measure == "cycle_service":
            return np.where(idx < 0, 0.0, cdf[np.minimum(np.maximum(idx, 0), cdf.size - 1)])
        # E[min(D, x)] = sum_{y < x} P(D > y); P(D > y) = 1 for y < lo
        surv = cdf  # only its size is used below
        if mean <= 0:
            return np.ones_like(x, dtype=np.float64)
        below = np.minimum(x, max(d.lo, 0))  # the y < lo part, each contributing 1
        upper = np.minimum(np.maximum(x - d.lo, 0), surv.size)  # P(D > y) = 0 past hi
        return (below + csurv[upper]) / mean


@dataclass(frozen=True)
class StagePolicy:
    """Base stock ``b`` and critical levels (lattice steps, priority order) with the model's
    expected services (``cycle``, ``fill`` per segment)."""

    b: int
    levels: tuple[int, ...]
    cycle: tuple[float, ...]
    fill: tuple[float, ...]


def _trim(lo: int, pmf: FloatArray) -> Lattice:
    pmf = np.maximum(pmf, 0.0)
    cdf = np.cumsum(pmf)
    total = cdf[-1]
    first = int(np.searchsorted(cdf, _TAIL * total, side="right"))
    last = int(np.searchsorted(cdf, (1 - _TAIL) * total, side="left"))
    last = min(max(last, first), pmf.size - 1)
    first = min(first, last)
    kept = pmf[first : last + 1].copy()
    kept[0] += float(cdf[first - 1]) if first > 0 else 0.0
    kept[-1] += float(total - cdf[last])
    return Lattice(lo + first, kept / kept.sum())


def resolve_distribution(mean: float, std_dev: float, distribution: str) -> str:
    """The demand law of a segment at a stage with critical levels.

    ``"auto"`` (the default): ``"normal"`` when :math:`\\sigma \\le \\mu / 2` (less than
    2.3 % of the normal below zero), otherwise — slow or lumpy demand, where a normal would put
    much of its mass on negative demand — ``"negative_binomial"`` when
    :math:`\\sigma^2 > \\mu`, else ``"poisson"``.
    """
    if distribution != "auto":
        return distribution
    if std_dev <= mean / 2:
        return "normal"
    return "negative_binomial" if std_dev**2 > mean else "poisson"


def law_std_dev(mean: float, std_dev: float, distribution: str) -> float:
    """Standard deviation of one period's demand under its stated law: :math:`\\sqrt\\mu`
    for ``distribution="poisson"`` (its written ``std_dev`` is ignored), the written
    ``std_dev`` otherwise (normal, negative binomial; ``"auto"`` is normal wherever the
    square-root model is used, :func:`resolve_distribution` only at critical-level stages)."""
    if distribution == "poisson":
        return math.sqrt(max(mean, 0.0))
    return std_dev


def law_std_devs(instance: SafetyStockInstance) -> FloatArray:
    """:func:`law_std_dev` per demand of a ``pooling="critical_level"`` instance, the normal
    model's :math:`\\sigma_d` wherever it is used (the square-root stages, a stage that keeps
    it because its law is too large to tabulate, the simulator's normal draws): one law per
    demand at every stage. Other pooling rules assume normal demand with ``std_dev``."""
    if instance.pooling != "critical_level":
        return np.array([d.std_dev for d in instance.demands], dtype=np.float64)
    return np.array(
        [law_std_dev(d.mean, d.std_dev, d.distribution) for d in instance.demands],
        dtype=np.float64,
    )


def lattice_law(
    mean: float, std_dev: float, distribution: str, step: float
) -> tuple[str, float, float]:
    """How one period's demand is drawn, in lattice steps ``h``: ``("normal", mu, sigma)``
    (then :math:`\\max(0, \\mathrm{round}(X / h))`), ``("poisson", m, 0)`` or
    ``("negative_binomial", n, p)`` (counts of ``h`` units, mean and variance matched:
    :math:`m = \\mu/h`, :math:`v = \\sigma^2/h^2`), or, where a count of ``h > 1`` units
    cannot match both moments (a Poisson law, whose count of ``h`` units would have variance
    :math:`\\mu h`, not :math:`\\mu`; a negative binomial with :math:`\\sigma^2 \\le \\mu h`),
    the stated law itself rounded to the lattice like the normal: ``("rounded_poisson", mu,
    0)`` or ``("rounded_negative_binomial", r, p)`` in units (:math:`\\mathrm{round}(X/h)`,
    a tie split between its two neighbours)."""
    dist = resolve_distribution(mean, std_dev, distribution)
    if dist == "normal" or mean <= 0:
        return ("normal", mean, std_dev)
    m = mean / step
    v = std_dev**2 / step**2
    if dist == "negative_binomial" and v > m * (1.0 + 1e-9):
        # (a variance within 1e-9 of the mean is Poisson: r = m^2 / (v - m) would pass
        # 10^9 m and the lgamma differences of the count law lose every digit)
        r = m * m / (v - m)
        if r > 0.0:
            return ("negative_binomial", r, m / v)
        # m * m underflowed (a mean below ~1e-154 steps): the negative binomial's
        # P(D > 0) = 1 - p^r is below 1e-300, so both laws are the point mass at 0 in
        # doubles, and the Poisson count avoids lgamma(0).
    if step > 1.0:
        var = std_dev**2
        if dist == "negative_binomial" and var > mean * (1.0 + 1e-9):
            return ("rounded_negative_binomial", mean * mean / (var - mean), mean / var)
        return ("rounded_poisson", mean, 0.0)
    return ("poisson", m, 0.0)


def _rounded_count(law: str, a: float, b: float, step: float) -> Lattice:
    """The law of :math:`\\mathrm{round}(X/h)` for a Poisson(``a``) or negative binomial
    (``r = a``, ``p = b``) count ``X`` of units and a step ``h > 1`` (a power of two in the
    model):
    the bin of lattice point ``i`` holds the units strictly between :math:`(i \\pm 1/2) h` and
    half the mass at each end, so the rounding is symmetric (mean kept to first order). The
    cdf at the bin ends is the regularised incomplete gamma / beta function, so a mean of
    :math:`10^{12}` takes a few hundred points (its standard deviation over ``h``)."""
    from scipy.special import betainc, pdtr

    if law == "rounded_poisson":
        mean, sd = a, math.sqrt(a)
    else:
        mean = a * (1 - b) / b
        sd = math.sqrt(mean / b)
    lo = max(0, math.floor((mean - 14 * sd) / step))
    hi = math.ceil((mean + 30 * sd + 30) / step) + 1
    ends = (np.arange(lo, hi + 1, dtype=np.float64) + 0.5) * step

    def cdf(k: FloatArray) -> FloatArray:  # P(X <= k), k whole
        if law == "rounded_poisson":
            p = pdtr(np.maximum(k, 0.0), a)
        else:
            p = betainc(a, np.maximum(k, 0.0) + 1.0, b)
        return np.where(k < 0, 0.0, np.asarray(p, dtype=np.float64))

    # P(X < end) + P(X = end) / 2 (an end between two counts: P(X <= end))
    cum = 0.5 * (cdf(np.ceil(ends) - 1.0) + cdf(np.floor(ends)))
    cum[-1] = 1.0  # the upper tail to the last point, the lower one to the first
    return _trim(lo, np.diff(np.concatenate(([0.0], cum))))


@lru_cache(maxsize=65536)
def demand_lattice(mean: float, std_dev: float, distribution: str, step: float) -> Lattice:
    """Per-period demand of one segment on the lattice ``{0, step, 2 step, ...}``.

    ``normal``: :math:`P(ih) = \\Phi((ih + h/2 - \\mu)/\\sigma) - \\Phi((ih - h/2 -
    \\mu)/\\sigma)`, with all mass below :math:`h/2` at 0 (negative demand is no demand).
    ``poisson`` / ``negative_binomial``: counts of ``step`` units (:func:`lattice_law`).
    """
    if mean <= 0:
        return Lattice(0, np.ones(1))
    law, a, b = lattice_law(mean, std_dev, distribution, step)
    if law.startswith("rounded_"):
        return _rounded_count(law, a, b, step)
    if law == "normal":
        if std_dev <= 0:
            v = max(0, round(mean / step))
            return Lattice(v, np.ones(1))
        lo = max(0, math.floor((mean - 9 * std_dev) / step))
        hi = max(lo + 1, math.ceil((mean + 9 * std_dev) / step))
        edges = (np.arange(lo, hi + 2) - 0.5) * step
        cdf = _norm_cdf((edges - mean) / std_dev)
        if lo == 0:
            cdf[0] = 0.0  # negative demand is no demand: its mass goes to 0
        return _trim(lo, np.diff(cdf))
    if law == "poisson":
        sd = math.sqrt(a)
        k = np.arange(int(a + 14 * sd + 30) + 1, dtype=np.float64)
        logp = k * math.log(a) - a - _log_factorial(k.size)
    else:
        r, p = a, b
        m = r * (1 - p) / p
        sd = math.sqrt(m / p)
        k = np.arange(int(m + 30 * sd + 30) + 1, dtype=np.float64)
        lgr = np.fromiter(map(math.lgamma, (k + r).tolist()), np.float64, k.size)
        logp = lgr - math.lgamma(r) - _log_factorial(k.size) + r * math.log(p) + k * math.log1p(-p)
    return _trim(0, np.exp(logp))


_LOG_FACTORIALS = [np.zeros(0)]


def _log_factorial(n: int) -> FloatArray:
    """``math.lgamma(v + 1.0)`` for ``v = 0..n-1``: the same numbers, computed once per
    process and extended on demand."""
    have = _LOG_FACTORIALS[0]
    if have.size < n:
        more = np.arange(have.size, max(n, 2 * have.size), dtype=np.float64) + 1.0
        new = np.fromiter(map(math.lgamma, more.tolist()), np.float64, more.size)
        have = _LOG_FACTORIALS[0] = np.concatenate([have, new])
    return have[:n]


_ERF = np.frompyfunc(math.erf, 1, 1)


def _norm_cdf(x: NDArray[np.floating]) -> FloatArray:
    erf = np.asarray(_ERF(np.asarray(x, dtype=np.float64) / math.sqrt(2.0)), dtype=np.float64)
    return 0.5 * (1.0 + erf)


def window(period: Lattice, periods: int) -> Lattice:
    """Total demand of ``periods`` independent periods (``periods >= 0``)."""
    out = Lattice(0, np.ones(1))
    for _ in range(periods):
        out = out.add(period)
    return out


def _stock(w: Lattice, b: int) -> Lattice:
    """Distribution of :math:`(b - W)^+`."""
    vals = b - np.arange(w.hi, w.lo - 1, -1)  # ascending
    pmf = w.pmf[::-1]
    neg = vals < 0
    if not neg.any():
        return Lattice(int(vals[0]), pmf.copy())
    zero = float(pmf[neg].sum())
    keep = ~neg
    if not keep.any():
        return Lattice(0, np.ones(1))
    rest = pmf[keep]
    lo = int(vals[keep][0])
    if lo == 0:
        out = rest.copy()
        out[0] += zero
        return Lattice(0, out)
    return Lattice(0, np.concatenate([[zero], np.zeros(lo - 1), rest]))


def _after(r: Lattice, seg: SegmentModel, c: int) -> Lattice:
    """Stock left after segment ``seg`` with critical level ``c``: min(R, max(R - D, c))."""
    if r.hi <= c:
        return r
    first = max(c + 1 - r.lo, 0)  # index of the first value above c
    conv = np.convolve(r.pmf[first:], seg.demand.pmf[::-1])  # R - D on the part above c
    lo2 = r.lo + first - seg.demand.hi
    # every value is R <= c or max(R - D, c): none below min(R.lo, max(c, lo2)) (c itself
    # only when something is lumped there: a stock far above c must not span 0..c)
    new_lo = min(r.lo, max(c, lo2))
    new_hi = max(r.hi, lo2 + conv.size - 1)
    out = np.zeros(new_hi - new_lo + 1)
    out[r.lo - new_lo : r.lo - new_lo + first] += r.pmf[:first]
    cut = max(c - lo2, 0)  # values of R - D below c are lumped at c
    if cut < conv.size:  # (all of R - D below c: nothing but the lump, whose index is c)
        out[lo2 - new_lo + cut : lo2 - new_lo + conv.size] += conv[cut:]
    if cut:
        out[c - new_lo] += float(conv[:cut].sum())
    nz = np.flatnonzero(out > 0)
    return Lattice(new_lo + int(nz[0]), out[nz[0] : nz[-1] + 1])


def _service(r: Lattice, seg: SegmentModel, c: int) -> tuple[float, float]:
    """(cycle service, fill rate) of a segment with critical level ``c`` facing stock ``R``."""
    avail = np.arange(r.lo, r.hi + 1) - c
    cyc = seg.service_as("cycle_service", avail)
    fil = seg.service_as("fill_rate", avail)
    return float(np.dot(r.pmf, cyc)), float(np.dot(r.pmf, fil))


def _measured(r: Lattice, seg: SegmentModel, c: int) -> float:
    avail = np.arange(r.lo, r.hi + 1) - c
    return float(np.dot(r.pmf, seg.service(avail)))


def evaluate_policy(
    w: Lattice, segments: list[SegmentModel], b: int, levels: list[int] | tuple[int, ...]
) -> StagePolicy:
    """Exact services of every segment (priority order) for base stock ``b`` and critical
    levels ``levels`` (lattice steps); ``w`` is the demand of the ``tau - 1`` earlier periods."""
    r = _stock(w, b)
    cyc = [0.0] * len(segments)
    fil = [0.0] * len(segments)
    for k in range(len(segments) - 1, -1, -1):
        cyc[k], fil[k] = _service(r, segments[k], int(levels[k]))
        if k:
            r = _after(r, segments[k], int(levels[k]))
    return StagePolicy(b, tuple(int(c) for c in levels), tuple(cyc), tuple(fil))


_MATRIX_CELLS = 40_000  # above this many (level, stock) cells, bisection on the level


def _largest_level(r: Lattice, seg: SegmentModel, tol: float) -> int | None:
    """Largest critical level ``c`` with which ``seg`` meets its target facing stock ``R``
    (its service is non-increasing in ``c``), or ``None`` when even ``c = 0`` misses."""
    hi = max(r.hi, 0)
    vals = np.arange(r.lo, r.hi + 1)
    if (hi + 1) * vals.size <= _MATRIX_CELLS:
        g = seg.service(np.arange(hi + 1))  # service when x units are available, x = 0..hi
        avail = np.maximum(vals[None, :] - np.arange(hi + 1)[:, None], 0)
        ok = np.flatnonzero(g[avail] @ r.pmf >= seg.target - tol)
        return None if ok.size == 0 or ok[0] != 0 else int(ok[-1])
    if _measured(r, seg, 0) < seg.target - tol:
        return None
    lo = 0
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _measured(r, seg, mid) >= seg.target - tol:
            lo = mid
        else:
            hi = mid - 1
    return lo


def greedy_levels(w: Lattice, segments: list[SegmentModel], b: int) -> list[int] | None:
    """Largest critical levels (lowest segment first) meeting every target, or ``None``."""
    tol = 1e-12
    r = _stock(w, b)
    levels = [0] * len(segments)
    for k in range(len(segments) - 1, 0, -1):
        seg = segments[k]
        level = _largest_level(r, seg, tol)
        if level is None:
            return None
        levels[k] = level
        r = _after(r, seg, level)
    if _measured(r, segments[0], 0) < segments[0].target - tol:
        return None
    return levels


def _quantile(x: Lattice, p: float) -> int:
    return int(np.searchsorted(np.cumsum(x.pmf), p - 1e-12)) + x.lo


def _alone_cycle_quantile(w: Lattice, top: SegmentModel, b_min: int) -> int:
    r"""Least ``b >= b_min`` with which the top segment, alone behind no one with all of
    :math:`(b - W)^+`, has cycle service :math:`P(D = 0 \text{ or } W + D \le b) =
    P(W + D \le b) + P(D = 0) P(W > b)` at least its target: a period without demand has
    no shortage, so for slow movers this is below the quantile of :math:`W + D`."""
    d = top.demand
    p0 = float(d.pmf[0]) if d.lo == 0 else 0.0
    if p0 == 0.0:
        return max(b_min, _quantile(w.add(d), top.target))
    if p0 >= top.target - 1e-12:
        return b_min  # met with no stock at all
    s = w.add(d)
    x = np.arange(s.lo, s.hi + 1)
    cw = np.concatenate([[0.0], np.cumsum(w.pmf)])
    fw = cw[np.clip(x - w.lo + 1, 0, w.pmf.size)]  # P(W <= x)
    ok = np.cumsum(s.pmf) + p0 * (1.0 - fw) >= top.target - 1e-12
    return max(b_min, int(x[int(np.argmax(ok))]) if ok.any() else s.hi)


def optimal_policy(
    w: Lattice, segments: list[SegmentModel], b_min: int = 0
) -> tuple[int, list[int]]:
    """Least base stock ``b >= b_min`` (lattice steps) with critical levels meeting every
    target, and the greedy levels for it."""
    top = segments[0]
    # lower bound: the top segment alone, behind no one (segments below only take stock)
    lo = b_min
    if top.measure == "cycle_service":
        lo = _alone_cycle_quantile(w, top, lo)
    # from the lower bound upwards in doubling steps (the answer is usually a few steps above
    # the previous tau's stock), then bisection
    step = 1
    hi = lo
    while greedy_levels(w, segments, hi) is None:
        lo = hi + 1
        hi = hi + step
        step *= 2
    while lo < hi:
        mid = (lo + hi) // 2
        if greedy_levels(w, segments, mid) is not None:
            hi = mid
        else:
            lo = mid + 1
    levels = greedy_levels(w, segments, hi)
    assert levels is not None
    return hi, levels


# --- compiled search: the functions above, without numpy's per-call overhead ------------------
#
# ``stage_table`` runs the base-stock search thousands of times on small lattices, where numpy's
# per-call overhead dominates. The kernels below do the same arithmetic (stock after the
# earlier periods, the one-dimensional recursion, the largest level by the same scan or
# bisection, the same doubling-then-bisection on the base stock) on plain arrays; the numpy
# functions above stay the readable reference and tests check both give the same policies.

_Packed = tuple[
    NDArray[np.int64],  # lo per segment (priority order)
    NDArray[np.int64],  # pmf size per segment
    FloatArray,  # cdf, one row per segment (padded)
    FloatArray,  # csurv: sum_{y < x} P(D > y) - lo part, one row per segment (padded)
    FloatArray,  # mean (lattice steps)
    FloatArray,  # target
    NDArray[np.bool_],  # measured by fill rate
    FloatArray,  # pmf, one row per segment (padded)
    FloatArray,  # tail: sum_{m' >= m} pmf[m'], one row per segment (padded)
]


def _pack(segments: list[SegmentModel] | tuple[SegmentModel, ...]) -> _Packed:
    k = len(segments)
    m = max(s.demand.pmf.size for s in segments)
    lo = np.array([s.demand.lo for s in segments], dtype=np.int64)
    size = np.array([s.demand.pmf.size for s in segments], dtype=np.int64)
    cdf = np.ones((k, m))
    csurv = np.zeros((k, m + 1))
    pmf = np.zeros((k, m))
    mean = np.zeros(k)
    for i, s in enumerate(segments):
        c, cs, mu = s._cum
        cdf[i, : c.size] = c
        csurv[i, : cs.size] = cs
        pmf[i, : c.size] = s.demand.pmf
        mean[i] = mu
    target = np.array([s.target for s in segments], dtype=np.float64)
    fill = np.array([s.measure == "fill_rate" for s in segments], dtype=np.bool_)
    tail = np.cumsum(pmf[:, ::-1], axis=1)[:, ::-1].copy()
    return lo, size, cdf, csurv, mean, target, fill, pmf, tail


_ZERO: Any = np.int64(0)  # typed int64 by numba (a Python int would be a literal)
"""Level or segment 0 as a plain int64: a literal ``0`` argument makes numba compile
:func:`_nb_measured` once more per literal (three versions, ~2 s, against one)."""


@njit(cache=True)
def _nb_measured(
    r_lo: int, r: FloatArray, k: int, c: int, segs: _Packed
) -> float:  # pragma: no cover - compiled
    """:func:`_measured`: service of segment ``k`` with level ``c`` facing stock ``R`` (the
    per-unit service is :meth:`SegmentModel.service`, inlined)."""
    lo, size, cdf, csurv, mean, _, fill, _, _ = segs
    d_lo = lo[k]
    n = size[k]
    total = 0.0
    if not fill[k]:
        for i in range(r.size):
            x = max(r_lo + i - c, 0) - d_lo
            if x >= 0:
                total += r[i] * cdf[k, min(x, n - 1)]
        return total
    if mean[k] <= 0:
        return 1.0
    for i in range(r.size):
        x = max(r_lo + i - c, 0)
        below = min(x, max(d_lo, 0))
        up = min(max(x - d_lo, 0), n)
        total += r[i] * ((below + csurv[k, up]) / mean[k])
    return total


@njit(cache=True)
def _nb_stock(w_lo: int, w: FloatArray, b: int) -> tuple[int, FloatArray]:  # pragma: no cover
    """:func:`_stock`: the distribution of :math:`(b - W)^+` as (lo, pmf)."""
    top = b - w_lo
    if top < 0:
        return 0, np.ones(1)
    lo = max(b - (w_lo + w.size - 1), 0)
    out = np.zeros(top - lo + 1)
    for i in range(w.size):
        v = b - (w_lo + i)
        if v < 0:
            v = 0
        out[v - lo] += w[i]
    return lo, out


@njit(cache=True)
def _nb_after(
    r_lo: int, r: FloatArray, k: int, c: int, segs: _Packed
) -> tuple[int, FloatArray]:  # pragma: no cover - compiled
    """:func:`_after`: stock left after segment ``k`` with level ``c``, zeros trimmed. The
    demands that would take the stock to ``c`` or below all leave it at ``c``: their mass is
    one product with the tail sum (the inner loop over the others vectorises)."""
    r_hi = r_lo + r.size - 1
    if r_hi <= c:
        return r_lo, r
    d_lo = segs[0][k]
    d_size = segs[1][k]
    pmf = segs[7][k]
    tail = segs[8][k]
    new_lo = min(r_lo, c)
    out = np.zeros(r_hi - new_lo + 1)
    for i in range(r.size):
        v = r_lo + i
        p = r[i]
        if v <= c:
            out[v - new_lo] += p
            continue
        free = v - d_lo - c  # demands m < free leave v - d_lo - m > c
        top = min(free, d_size)
        base = v - d_lo - new_lo
        for m in range(top):
            out[base - m] += p * pmf[m]
        if free < d_size:
            out[c - new_lo] += p * tail[max(free, 0)]
    first = 0
    while first < out.size - 1 and not out[first] > 0:
        first += 1
    last = out.size - 1
    while last > first and not out[last] > 0:
        last -= 1
    return new_lo + first, out[first : last + 1].copy()


@njit(cache=True)
def _nb_largest_level(
    r_lo: int, r: FloatArray, k: int, segs: _Packed, tol: float
) -> int:  # pragma: no cover - compiled
    """:func:`_largest_level`; -1 for ``None``."""
    target = segs[5][k] - tol
    hi = max(r_lo + r.size - 1, 0)
    if _nb_measured(r_lo, r, k, _ZERO, segs) < target:
        return -1
    lo = 0  # service is non-increasing in the level: bisection
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if _nb_measured(r_lo, r, k, mid, segs) >= target:
            lo = mid
        else:
            hi = mid - 1
    return lo


@njit(cache=True)
def _nb_greedy(
    w_lo: int, w: FloatArray, segs: _Packed, b: int, levels: NDArray[np.int64]
) -> bool:  # pragma: no cover - compiled
    """:func:`greedy_levels` into ``levels``; False when no levels meet every target."""
    tol = 1e-12
    r_lo, r = _nb_stock(w_lo, w, b)
    n = levels.size
    levels[:] = 0
    for k in range(n - 1, 0, -1):
        level = _nb_largest_level(r_lo, r, k, segs, tol)
        if level < 0:
            return False
        levels[k] = level
        r_lo, r = _nb_after(r_lo, r, k, level, segs)
    return _nb_measured(r_lo, r, _ZERO, _ZERO, segs) >= segs[5][0] - tol


@njit(cache=True)
def _nb_optimal(
    w_lo: int, w: FloatArray, segs: _Packed, lo: int, levels: NDArray[np.int64]
) -> int:  # pragma: no cover - compiled
    """:func:`optimal_policy` from the lower bound ``lo``; the levels land in ``levels``."""
    step = 1
    hi = lo
    while not _nb_greedy(w_lo, w, segs, hi, levels):
        lo = hi + 1
        hi = hi + step
        step *= 2
    while lo < hi:
        mid = (lo + hi) // 2
        if _nb_greedy(w_lo, w, segs, mid, levels):
            hi = mid
        else:
            lo = mid + 1
    _nb_greedy(w_lo, w, segs, hi, levels)
    return hi


@njit(cache=True)
def _nb_quantile_of_sum(
    w_lo: int, w: FloatArray, d_lo: int, d: FloatArray, p: float, p0: float
) -> int:  # pragma: no cover - compiled
    """Least ``x`` with :math:`P(W + D \\le x) + p_0 P(W > x) \\ge p - 10^{-12}`
    (independent W, D; ``p0`` = :math:`P(D = 0)`: a period without demand has no shortage;
    with ``p0 = 0`` the quantile of :math:`W + D`)."""
    conv = np.zeros(w.size + d.size - 1)
    for i in range(w.size):
        for m in range(d.size):
            conv[i + m] += w[i] * d[m]
    cw = np.cumsum(w)
    total = 0.0
    for i in range(conv.size):
        total += conv[i]
        tail = 0.0
        if p0 > 0.0:
            j = d_lo + i  # x - w_lo
            tail = p0 * (1.0 - cw[min(j, w.size - 1)])
        if total + tail >= p - 1e-12:
            return w_lo + d_lo + i
    return w_lo + d_lo + conv.size - 1


_ALONE_SLACK = 1e-9  # the necessary condition below is tested this much below the target


@njit(cache=True)
def _nb_alone(w_lo: int, w: FloatArray, segs: _Packed, k: int, b: int) -> bool:  # pragma: no cover
    r"""Segment ``k`` would meet its target (less a slack) with all of :math:`(b - W)^+`
    available to it and level 0. Necessary for ``b`` to be feasible: the segments after it
    only take stock and its level is :math:`\ge 0` (the recursion never leaves it more than
    :math:`(b - W)^+`), and its service rises with what is available to it."""
    r_lo, r = _nb_stock(w_lo, w, b)
    return _nb_measured(r_lo, r, k, _ZERO, segs) >= segs[5][k] - 1e-12 - _ALONE_SLACK


@njit(cache=True)
def _nb_alone_bound(w_lo: int, w: FloatArray, segs: _Packed, lo: int) -> int:  # pragma: no cover
    """Least ``b >= lo`` at which every segment passes :func:`_nb_alone` (each test is
    monotone in ``b``): no base stock below it is feasible."""
    best = lo
    for k in range(segs[5].size):
        if _nb_alone(w_lo, w, segs, k, best):
            continue
        low = best + 1
        hi = best + 1
        step = 1
        while not _nb_alone(w_lo, w, segs, k, hi):
            low = hi + 1
            hi += step
            step *= 2
        while low < hi:
            mid = (low + hi) // 2
            if _nb_alone(w_lo, w, segs, k, mid):
                hi = mid
            else:
                low = mid + 1
        best = hi
    return best


@njit(cache=True)
def _nb_search(
    w_lo: int, w: FloatArray, segs: _Packed, lo: int, guess: int, levels: NDArray[np.int64]
) -> int:  # pragma: no cover - compiled
    """Least ``b >= lo`` for which greedy levels meet every target (the levels land in
    ``levels``), searched from ``guess``: galloping down from a feasible guess or up from an
    infeasible one, then bisection. Feasibility is monotone in ``b``, so this is
    :func:`_nb_optimal`'s answer, in fewer greedy evaluations when the guess is close."""
    hi = max(guess, lo)
    if _nb_greedy(w_lo, w, segs, hi, levels):
        low = lo
        step = 1
        while hi > low:
            probe = max(hi - step, low)
            if _nb_greedy(w_lo, w, segs, probe, levels):
                hi = probe
                step *= 2
            else:
                low = probe + 1
                break
    else:
        low = hi + 1
        step = 1
        hi = low
        while not _nb_greedy(w_lo, w, segs, hi, levels):
            low = hi + 1
            hi += step
            step *= 2
    while low < hi:
        mid = (low + hi) // 2
        if _nb_greedy(w_lo, w, segs, mid, levels):
            hi = mid
        else:
            low = mid + 1
    _nb_greedy(w_lo, w, segs, hi, levels)
    return hi


def _lower_bound(
    w: Lattice, segments: list[SegmentModel] | tuple[SegmentModel, ...], b_min: int
) -> int:
    """The top segment alone, behind no one (segments below only take stock): with cycle
    service it needs :math:`P(W + D_1 \\le b) + P(D_1 = 0) P(W > b) \\ge` its target (a
    period without demand has no shortage)."""
    top = segments[0]
    if top.measure == "cycle_service":
        d = top.demand
        p0 = float(d.pmf[0]) if d.lo == 0 else 0.0
        if p0 >= top.target - 1e-12:
            return b_min
        q = _nb_quantile_of_sum(w.lo, w.pmf, d.lo, d.pmf, top.target, p0)
        return max(b_min, int(q))
    return b_min


def fast_policy(
    w: Lattice, segments: list[SegmentModel], b_min: int = 0, packed: _Packed | None = None
) -> tuple[int, list[int]]:
    """:func:`optimal_policy` by the compiled kernels (same search, same answer)."""
    segs = _pack(segments) if packed is None else packed
    levels = np.zeros(len(segments), dtype=np.int64)
    b = _nb_optimal(w.lo, w.pmf, segs, _lower_bound(w, segments, b_min), levels)
    return int(b), [int(c) for c in levels]


def fast_levels(
    w: Lattice, segments: list[SegmentModel], b: int, packed: _Packed | None = None
) -> list[int] | None:
    """:func:`greedy_levels` by the compiled kernels."""
    levels = np.zeros(len(segments), dtype=np.int64)
    segs = _pack(segments) if packed is None else packed
    if not _nb_greedy(w.lo, w.pmf, segs, b, levels):
        return None
    return [int(c) for c in levels]


def stage_table(
    segments: list[SegmentModel], step: float, mean: float, tau_max: int
) -> FloatArray:
    """Safety stock for :math:`\\tau = 0..` ``tau_max``: non-decreasing, and at every
    :math:`\\tau` the least lattice base stock above the previous one's with critical levels
    meeting every target (:func:`policy_at` gives the levels)."""
    memo = _memo_of(segments)
    ss = np.zeros(tau_max + 1)
    levels = np.zeros(len(segments), dtype=np.int64)
    offset = 0  # the previous tau's base stock above its necessary bound: the next guess
    for tau in range(1, tau_max + 1):
        w = memo.window(tau - 1)
        floor_b = math.ceil((mean * tau + ss[tau - 1]) / step - 1e-9)
        lo = _lower_bound(w, segments, max(0, floor_b))
        bound = int(_nb_alone_bound(w.lo, w.pmf, memo.packed, lo))
        b = int(_nb_search(w.lo, w.pmf, memo.packed, bound, bound + offset, levels))
        offset = b - bound
        memo.levels[(tau, b)] = [int(c) for c in levels]
        ss[tau] = max(b * step - mean * tau, ss[tau - 1])
    return ss


class _Memo:
    """What the searches of one stage share: the packed segments, the windows of earlier
    periods' demand and the greedy levels found per (tau, base stock)."""

    def __init__(self, segments: tuple[SegmentModel, ...]) -> None:
        self.segments = segments
        self.packed = _pack(segments)
        period = segments[0].demand
        for s in segments[1:]:
            period = period.add(s.demand)
        self.period = period
        self.windows = [Lattice(0, np.ones(1))]
        self.levels: dict[tuple[int, int], list[int]] = {}

    def window(self, periods: int) -> Lattice:
        """Total demand of ``periods`` periods (:func:`window`, kept)."""
        while len(self.windows) <= periods:
            self.windows.append(self.windows[-1].add(self.period))
        return self.windows[periods]


_MEMOS: dict[tuple[int, ...], _Memo] = {}  # by the identity of the segment objects


def _memo_of(segments: list[SegmentModel] | tuple[SegmentModel, ...]) -> _Memo:
    """The stage's memo when its segments come from a cached :func:`stage_specs` (kept with
    it), else a fresh one."""
    memo = _MEMOS.get(tuple(id(s) for s in segments))
    if memo is not None and all(a is b for a, b in zip(memo.segments, segments, strict=True)):
        return memo
    return _Memo(tuple(segments))


# --- the stages of an instance that use critical levels ---------------------------------------


@dataclass(frozen=True)
class StageSpec:
    """A stage served by critical levels: its classes in priority order and its lattice.

    ``segments`` are the classes, top priority first: with ``flow`` the first is the stage's
    downstream replenishment orders (``below``: (demand, units per unit of it) of every demand
    served through the stage's successors), then the stage's own demands (``demands``, demand
    indices, in priority order). ``step`` is the lattice step :math:`g` and ``mean`` the mean
    demand per period of all of it (instance means).
    """

    stage: int  # stage position
    demands: tuple[int, ...]  # own demand indices, priority order (top first)
    segments: tuple[SegmentModel, ...]
    step: float  # lattice step g (units of stock per lattice step)
    mean: float  # mean demand per period (instance means, own and downstream)
    flow: bool = False  # segments[0] is the downstream flow
    below: tuple[tuple[int, float], ...] = ()  # (demand, units per unit) served downstream


def _priority_key(d: Demand, index: int) -> tuple[float, float, int]:
    return (float(d.tier) if d.tier is not None else 0.0, -float(d.service_level), index)


def needs_levels(demands: list[Demand]) -> bool:
    """A stage needs its own table when two of its segments differ in target or measure, or
    a segment is measured by fill rate or has discrete demand; a single normal segment measured
    by cycle service keeps the square-root model."""
    if any(d.service_measure != "cycle_service" for d in demands):
        return True
    if any(d.distribution not in ("normal", "auto") for d in demands):
        return True
    return len({float(d.service_level) for d in demands}) > 1


_MAX_POINTS = 1 << 16  # lattice points of one period's demand at a stage (else no levels)


def own_step(demands: list[Demand]) -> float:
    r"""Lattice step :math:`h` of the demands of one stage (a power of two, so that the
    lattices of all stages nest): :math:`2^{\lfloor \log_2 \max(1, \sigma/16) \rfloor}` for
    counts (whole units) and :math:`2^{\lfloor \log_2 (\sigma/8) \rfloor}` for normal demand,
    :math:`\sigma` the stage's pooled standard deviation (a Poisson demand's variance is its
    mean)."""
    laws = [resolve_distribution(d.mean, d.std_dev, d.distribution) for d in demands]
    var = [
        d.mean if law == "poisson" else d.std_dev**2 for d, law in zip(demands, laws, strict=True)
    ]
    sigma = math.sqrt(sum(var))
    if any(law != "normal" for law in laws):
        return 2.0 ** math.floor(math.log2(max(1.0, sigma / 16)))
    return 2.0 ** math.floor(math.log2(sigma / _STEPS_PER_SIGMA)) if sigma > 0 else 1.0


def _dyadic_exponent(v: float) -> int | None:
    """``e`` with ``v = m 2^e``, ``m`` an odd integer; ``None`` when ``v`` is not a dyadic
    rational (then it lies on no power-of-two lattice)."""
    if v <= 0 or not math.isfinite(v):
        return None
    p, q = v.as_integer_ratio()
    if q & (q - 1):
        return None
    e = -(q.bit_length() - 1)
    while p % 2 == 0:
        p //= 2
        e += 1
    return e


def _scaled(x: Lattice, q: int) -> Lattice:
    """The lattice of ``q X`` (``q`` a positive integer)."""
    if q == 1:
        return x
    pmf = np.zeros((x.pmf.size - 1) * q + 1)
    pmf[::q] = x.pmf
    return Lattice(x.lo * q, pmf)


def _paths(instance: SafetyStockInstance, pos: dict[str, int], n: int) -> list[dict[int, float]]:
    r"""Per stage, ``{demand: units of the stage per unit of it}`` over every path down to the
    demand's stage (the GSM's :math:`\varphi_{jd}`)."""
    from optim.models.graph import topological_order

    src = [pos[a.source] for a in instance.arcs]
    tgt = [pos[a.target] for a in instance.arcs]
    down: list[list[tuple[int, float]]] = [[] for _ in range(n)]
    for i, j, a in zip(src, tgt, instance.arcs, strict=True):
        down[i].append((j, float(a.quantity)))
    rows: list[dict[int, float]] = [{} for _ in range(n)]
    for d, dm in enumerate(instance.demands):
        rows[pos[dm.stage]][d] = 1.0
    for j in topological_order(n, src, tgt)[::-1].tolist():  # customers first
        for k, q in down[j]:
            for d, v in rows[k].items():
                rows[j][d] = rows[j].get(d, 0.0) + q * v
    return rows


_SPECS: list[
    tuple[SafetyStockInstance, tuple[str, ...], dict[int, StageSpec], dict[int, str]]
] = []
_SPECS_KEPT = 2  # solve, its tables and its max_z comparison ask for the same instance


def stage_specs(
    instance: SafetyStockInstance, n_stages: int, ids: tuple[str, ...]
) -> dict[int, StageSpec]:
    """:func:`_stage_specs`, kept for the last instances asked (they are frozen), with the
    memo of every stage's search (:func:`stage_table`, :func:`policy_at` share it). Instances
    of another pooling rule have none and are not kept: the ``max_z`` comparison solved
    between a solve and its tables, the report or the simulation must not push the
    critical-level instance out."""
    return _kept_specs(instance, n_stages, ids)[0]


def stage_fallbacks(
    instance: SafetyStockInstance, n_stages: int, ids: tuple[str, ...]
) -> dict[int, str]:
    """Stages that qualify for critical levels (:func:`_stage_specs`) but keep the
    square-root model (``max_z`` on each demand's own mean and variance, :func:`law_std_dev`),
    with the reason: ``{stage position: why}``. The solve's message names them."""
    return _kept_specs(instance, n_stages, ids)[1]


def _kept_specs(
    instance: SafetyStockInstance, n_stages: int, ids: tuple[str, ...]
) -> tuple[dict[int, StageSpec], dict[int, str]]:
    if instance.pooling != "critical_level":
        return {}, {}
    for inst, kept_ids, specs, fallbacks in _SPECS:
        if inst is instance and kept_ids == ids:
            return specs, fallbacks
    specs, fallbacks = _stage_specs(instance, n_stages, ids)
    _SPECS.append((instance, ids, specs, fallbacks))
    for spec in specs.values():
        _MEMOS[tuple(id(s) for s in spec.segments)] = _Memo(spec.segments)
    while len(_SPECS) > _SPECS_KEPT:
        for spec in _SPECS.pop(0)[2].values():
            _MEMOS.pop(tuple(id(s) for s in spec.segments), None)
    return specs, fallbacks


def _stage_specs(
    instance: SafetyStockInstance, n_stages: int, ids: tuple[str, ...]
) -> tuple[dict[int, StageSpec], dict[int, str]]:
    """Stages of a ``pooling="critical_level"`` instance that get critical levels, and those
    that qualify but keep the square-root model, with the reason (:func:`stage_fallbacks`).

    A stage with demand of its own qualifies when :func:`needs_levels` holds for its demands,
    or when demand served through a qualifying stage also reaches it (the stage above or below
    a critical-level stage): every demand has one law (:func:`demand_lattice` at its own
    stage's :func:`own_step`), and a stage whose orders contain such demand is modelled on it
    rather than on the normal approximation. A stage that supplies others gets the downstream
    replenishment orders as its top class (see the module docstring). A stage keeps the
    square-root model (``max_z``) when a path quantity is not a dyadic rational (0.5, 2, 3
    are; 0.3 is not) or when one period's demand would need more than ``_MAX_POINTS`` lattice
    points (then on each demand's own mean and variance, :func:`law_std_dev`: a Poisson
    demand's :math:`\\sqrt\\mu`, not its ignored ``std_dev``). A random or fractional lead time
    is no exception: its stage gets the composed table of
    :func:`.lead_times.critical_lead_time_table`.
    """
    if instance.pooling != "critical_level":
        return {}, {}
    pos = {sid: j for j, sid in enumerate(ids)}
    dem = list(instance.demands)
    own: dict[int, list[int]] = {}
    for i, d in enumerate(dem):
        own.setdefault(pos[d.stage], []).append(i)
    has_succ = np.zeros(n_stages, dtype=bool)
    for a in instance.arcs:
        has_succ[pos[a.source]] = True
    chosen = {j for j, idx in own.items() if needs_levels([dem[i] for i in idx])}
    rows = _paths(instance, pos, n_stages) if chosen and has_succ.any() else None
    if rows is not None:  # the closure: stages whose orders carry a chosen stage's demand
        drawn = set().union(*(rows[j] for j in chosen))
        grew = True
        while grew:
            grew = False
            for j in own:
                if j not in chosen and not drawn.isdisjoint(rows[j]):
                    chosen.add(j)
                    drawn.update(rows[j])
                    grew = True
    step = {j: own_step([dem[i] for i in idx]) for j, idx in own.items()}
    out: dict[int, StageSpec] = {}
    fallbacks: dict[int, str] = {}
    for j in sorted(chosen):
        row = rows[j] if rows is not None else {i: 1.0 for i in own[j]}
        spec = _spec(dem, j, own[j], row, step, pos)
        if isinstance(spec, str):
            fallbacks[j] = spec
        else:
            out[j] = spec
    return out, fallbacks


def _spec(
    dem: list[Demand],
    j: int,
    own: list[int],
    row: dict[int, float],
    step: dict[int, float],
    pos: dict[str, int],
) -> StageSpec | str:
    """One stage's classes on the common lattice of its demands, or why it has none (see
    above)."""
    unit = {d: phi * step[pos[dem[d].stage]] for d, phi in row.items() if phi > 0}
    odd = [d for d, v in unit.items() if _dyadic_exponent(v) is None]
    if odd:
        return (
            f"the units per unit of demand {dem[odd[0]].segment!r} at stage "
            f"{dem[odd[0]].stage!r} ({row[odd[0]]:g}) put its demand on no power-of-two "
            "lattice of the stage"
        )
    g = 2.0 ** min(e for e in map(_dyadic_exponent, unit.values()) if e is not None)
    too_large = (
        f"one period's demand would need more than {_MAX_POINTS:,} lattice points of {g:g} units"
    )

    def base(d: int) -> Lattice:
        return demand_lattice(
            dem[d].mean, dem[d].std_dev, dem[d].distribution, step[pos[dem[d].stage]]
        )

    # a law scaled onto a finer lattice grows by the ratio of the steps: refuse before
    # allocating it (a 10^12 mean on a lattice of 1/8 units would be 10^9 points)
    if any((base(d).pmf.size - 1) * round(unit[d] / g) + 1 > _MAX_POINTS for d in unit):
        return too_large

    def law(d: int) -> Lattice:
        return _scaled(base(d), round(unit[d] / g))

    order = sorted(own, key=lambda i: _priority_key(dem[i], i))
    own_set = set(own)
    below = tuple((d, row[d]) for d in sorted(row) if d not in own_set and row[d] > 0)
    classes = [
        SegmentModel(law(i), float(dem[i].service_level), dem[i].service_measure) for i in order
    ]
    if below:
        flow = law(below[0][0])
        for d, _ in below[1:]:
            flow = flow.add(law(d))
        target = max(float(dem[d].service_level) for d, _ in below)
        classes.insert(0, SegmentModel(flow, target, "cycle_service"))
    if sum(c.demand.pmf.size for c in classes) > _MAX_POINTS:
        return too_large
    mean = float(sum(dem[d].mean * phi for d, phi in row.items()))
    return StageSpec(j, tuple(order), tuple(classes), g, mean, bool(below), below)


def demand_laws(
    instance: SafetyStockInstance, n_stages: int, ids: tuple[str, ...]
) -> dict[int, tuple[Lattice, float]]:
    r"""Demands drawn from a lattice law (every demand at or below a critical-level stage):
    ``{demand: (lattice in steps, step)}`` — the one law the model and the simulator use for
    it. The other demands are normal, :math:`N(\mu, \sigma^2)`."""
    specs = stage_specs(instance, n_stages, ids)
    pos = {sid: j for j, sid in enumerate(ids)}
    dem = list(instance.demands)
    drawn = {i for spec in specs.values() for i in spec.demands}
    drawn.update(d for spec in specs.values() for d, _ in spec.below)
    own: dict[int, list[int]] = {}
    for i, d in enumerate(dem):
        own.setdefault(pos[d.stage], []).append(i)
    out = {}
    for i in sorted(drawn):
        h = own_step([dem[k] for k in own[pos[dem[i].stage]]])
        out[i] = (demand_lattice(dem[i].mean, dem[i].std_dev, dem[i].distribution, h), h)
    return out


def _held(spec: StageSpec, tau: int, safety_stock: float) -> int:
    """Base stock in lattice steps that the stage holds: :math:`\\lfloor (\\mu\\tau + SS) /
    g \\rfloor`. Demand moves in whole steps, so stock between two lattice points serves a
    period's orders completely exactly when the lower point does (a fraction of a step only
    adds a partial fill); the table's stock is never below the optimal lattice point."""
    return max(0, math.floor((spec.mean * tau + safety_stock) / spec.step + 1e-6))


def policy_at(spec: StageSpec, tau: int, safety_stock: float) -> StagePolicy:
    """The stage's policy at net replenishment time ``tau`` for the table's safety stock:
    base stock on the lattice and the greedy critical levels for it, with levels and services
    per own demand (``spec.demands``; the downstream flow's class, level 0, is left out)."""
    k = len(spec.segments)
    if tau <= 0:
        pol = StagePolicy(0, (0,) * k, (1.0,) * k, (1.0,) * k)
    else:
        b = _held(spec, tau, safety_stock)
        memo = _memo_of(spec.segments)
        w = memo.window(tau - 1)
        levels = memo.levels.get((tau, b)) or fast_levels(w, list(spec.segments), b, memo.packed)
        if levels is None:  # pragma: no cover - the table only holds feasible base stocks
            levels = [0] * k
        pol = evaluate_policy(w, list(spec.segments), b, levels)
    if not spec.flow:
        return pol
    return StagePolicy(pol.b, pol.levels[1:], pol.cycle[1:], pol.fill[1:])
