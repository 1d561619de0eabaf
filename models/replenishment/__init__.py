r"""Replenishment parameters of a single stocking point and their periodic-review simulation.

Demand model
------------
Demand per period is i.i.d. gamma with mean :math:`\mu` and standard deviation
:math:`\sigma` (shape :math:`k = \mu^2/\sigma^2`, scale :math:`\theta = \sigma^2/\mu`):
non-negative, skewed for intermittent demand, normal-like for smooth demand. The sum of
:math:`W` periods is then exactly gamma with shape :math:`Wk` and the same scale (mean
:math:`W\mu`, standard deviation :math:`\sigma\sqrt W`). In the planning run :math:`\sigma`
is the backtest's forecast-error standard deviation per period, so the window's demand is
the forecast plus an error that grows with :math:`\sqrt W` (independent period errors).

Timing (:func:`simulate_periodic`)
----------------------------------
Each period: the arrivals due join the stock; the period's demand is served from the
stock on hand and what it cannot serve is backordered; at the review at the end of the
period (every ``review`` periods, the first at period 0) the inventory position :math:`IP`
= net stock + pipeline is compared with the reorder point :math:`s` and, when
:math:`IP \le s`, an order brings it up to :math:`S`. An order placed at the end of period
:math:`t` arrives in time for the demand of period :math:`t + L` (``lead = 0``: at the end
of period :math:`t`, clearing its backorders). Net stock is measured at the end of the
period. Base stock is :math:`s = S` (order every review).

Risk window and the exact reorder point
---------------------------------------
The order placed at the review of period :math:`t` is the last to arrive before the end
of period :math:`t + L + R - 1`; the next review's order arrives for the demand of period
:math:`t + R + L`. So the net stock at the end of period :math:`t + L + R - 1` is
:math:`IP_t^+ - D(W)`, :math:`W = L + R - 1` periods of demand, and :math:`IP_t^+ \ge s`
whatever the undershoot. **Cycle service** — the share of review
cycles that end their window without a backorder — is therefore at least
:math:`P(D(W) \le s)`, and :func:`reorder_point` takes the smallest :math:`s` (whole units)
with :math:`P(D(W) \le s) \ge \alpha`: the segment's target :math:`\alpha` is met for every
:math:`S \ge s`. :math:`W` is GSM's net replenishment time :math:`\tau` when ``review = 1``
and ``lead = τ``. The fill rate (share of demand served from stock in its period) is
reported beside it.

Order quantity
--------------
:func:`eoq`: :math:`Q^* = \sqrt{2 K \mu / h}` (ordering cost :math:`K` per order, holding
cost :math:`h` per unit and period, demand :math:`\mu` per period), the minimiser of
:math:`K\mu/Q + hQ/2`. The order-up-to level is :math:`S = s + Q`.
"""

from optim.models.replenishment.policy import eoq, reorder_point, window_quantile
from optim.models.replenishment.simulate import SimulationResult, simulate_periodic

__all__ = [
    "SimulationResult",
    "eoq",
    "reorder_point",
    "simulate_periodic",
    "window_quantile",
]
