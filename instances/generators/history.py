r"""Seeded generator of a distributor's order history (weekly order lines).

Model (all draws from one ``numpy.random.Generator(seed)``, vectorised):

* **Items** :math:`i`: popularity :math:`\pi_i \sim \text{LogNormal}(0, 1)`, the last
  ``intermittent_share`` of the items (the tail) scaled by 0.02 so they sell rarely and
  lumpily; unit price :math:`p_i \sim \text{LogNormal}(\ln 20, 0.8)`, unit cost
  :math:`p_i \cdot U(0.55, 0.85)`; base line quantity :math:`q_i \sim \text{LogNormal}(\ln 4,
  0.6)`. Demand multiplier per week :math:`w`:
  :math:`m_{iw} = \max(0.2, 1 + \beta_i w / 52) \cdot (1 + a_i \sin(2\pi w / 52 + \phi_i))
  \cdot u_{iw}` with trend :math:`\beta_i \sim N(0, 0.15)`, seasonal amplitude
  :math:`a_i \sim U(0, 0.5)`, phase :math:`\phi_i \sim U(0, 2\pi)` and promotion uplift
  :math:`u_{iw} \sim U(1.5, 3)` with probability ``promo_rate`` (else 1); a common peak
  season multiplies weeks whose Monday falls in ISO weeks ``peak_weeks`` (inclusive, e.g.
  ``(40, 52)`` for Q4) of every item by ``1 + peak_uplift`` (default: no peak).
* **Customers** in three natural value groups: key accounts (10 %, channel
  ``key_account``, served from a DC, order in a week with probability ≈ 0.9, ≈ 25 lines per
  order, quantity scale 4, 8 % discount), regular (30 %, ``wholesale``/``retail``, ≈ 0.5,
  ≈ 8 lines, scale 1.5, 3 %) and small (60 %, ``retail``/``web``, ≈ 0.15, ≈ 3 lines, scale
  0.7, no discount). Regular and small customers are served from one of six regional sites
  ``R-01`` … ``R-06``; key accounts from ``DC-North`` or ``DC-South``.
* **Lines**: each (customer, week) order event gets a weekday (Mon–Fri) and
  :math:`1 + \text{Poisson}(L_c - 1)` lines; each line's item is drawn by popularity and its
  quantity is :math:`1 + \text{Poisson}(\max(0, q_i s_c m_{iw} - 1))`.
* **Returns**: a ``return_rate`` share of lines gets a negative line (part of the quantity)
  later in the same week.

Columns: ``date, order, customer, item, quantity, unit_price, unit_cost, channel,
location``; rows sorted by date, customer, order, item.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["DCS", "REGIONS", "generate_history"]

DCS = ("DC-North", "DC-South")
REGIONS = tuple(f"R-{k:02d}" for k in range(1, 7))

# group: share of customers, weekly order probability, lines per order, quantity scale,
# discount
_GROUPS = {
    "key": (0.10, 0.90, 25.0, 4.0, 0.08),
    "regular": (0.30, 0.50, 8.0, 1.5, 0.03),
    "small": (0.60, 0.15, 3.0, 0.7, 0.00),
}


def _group_sizes(n: int) -> np.ndarray:
    shares = np.array([g[0] for g in _GROUPS.values()])
    sizes = np.floor(shares * n).astype(np.int64)
    sizes[sizes == 0] = 1 if n >= len(shares) else 0
    sizes[-1] = n - sizes[:-1].sum()
    if sizes[-1] < 0:  # n < 3: fill groups in order
        sizes = np.array([1 if k < n else 0 for k in range(len(shares))])
    return sizes


def generate_history(
    seed: int,
    n_items: int = 500,
    n_customers: int = 200,
    weeks: int = 104,
    *,
    start: str = "2023-01-02",
    intermittent_share: float = 0.3,
    promo_rate: float = 0.03,
    return_rate: float = 0.01,
    peak_weeks: tuple[int, int] | None = None,
    peak_uplift: float = 0.0,
) -> pd.DataFrame:
    """Return a seeded order history of a distributor (see module docstring).

    Parameters
    ----------
    seed
        Seed of the ``numpy.random.Generator``; same seed → identical frame.
    n_items, n_customers, weeks
        Size of the history (any >= 1).
    start
        First day; moved back to its Monday so weeks run Monday–Sunday.
    intermittent_share
        Share of items in the slow, intermittent tail.
    promo_rate
        Probability of a promotion per item and week.
    return_rate
        Share of lines that get a (partial) return in the same week.
    peak_weeks, peak_uplift
        ISO weeks (first, last) of a peak season common to all items and its uplift
        (0.6: 60 % more demand). The peak draws no random numbers itself: order events,
        items and lines are those without a peak (returns, drawn from the quantities,
        may differ).

    Returns
    -------
    DataFrame
        Columns ``date, order, customer, item, quantity, unit_price, unit_cost, channel,
        location``.
    """
    if min(n_items, n_customers, weeks) < 1:
        raise ValueError("n_items, n_customers and weeks must be >= 1")
    if peak_uplift < -1.0:
        raise ValueError("peak_uplift must be >= -1")
    first = pd.Timestamp(start).normalize()
    first -= pd.Timedelta(days=first.weekday())
    rng = np.random.default_rng(seed)

    # ---- items
    pop = rng.lognormal(0.0, 1.0, n_items)
    n_tail = round(intermittent_share * n_items)
    if n_tail:
        pop[n_items - n_tail :] *= 0.02
    pop /= pop.sum()
    price = np.round(rng.lognormal(np.log(20.0), 0.8, n_items), 2) + 0.5
    cost = np.round(price * rng.uniform(0.55, 0.85, n_items), 2)
    base_qty = rng.lognormal(np.log(4.0), 0.6, n_items)
    w = np.arange(weeks)
    trend = np.maximum(0.2, 1.0 + rng.normal(0.0, 0.15, n_items)[:, None] * w / 52.0)
    amp = rng.uniform(0.0, 0.5, n_items)[:, None]
    phase = rng.uniform(0.0, 2 * np.pi, n_items)[:, None]
    season = 1.0 + amp * np.sin(2 * np.pi * w / 52.0 + phase)
    promo = np.where(
        rng.random((n_items, weeks)) < promo_rate, rng.uniform(1.5, 3.0, (n_items, weeks)), 1.0
    )
    mult = trend * season * promo
    if peak_weeks is not None:
        mondays = first + pd.to_timedelta(7 * w, unit="D")
        iso = mondays.isocalendar().week.to_numpy()
        in_peak = (iso >= peak_weeks[0]) & (iso <= peak_weeks[1])
        mult = mult * np.where(in_peak, 1.0 + peak_uplift, 1.0)

    # ---- customers
    sizes = _group_sizes(n_customers)
    group = np.repeat(np.arange(3), sizes)
    table = np.array([g[1:] for g in _GROUPS.values()])  # prob, lines, scale, discount
    p_order = np.clip(table[group, 0] * rng.uniform(0.8, 1.2, n_customers), 0.02, 1.0)
    lines_mean = table[group, 1] * rng.uniform(0.7, 1.3, n_customers)
    scale = table[group, 2] * rng.lognormal(0.0, 0.3, n_customers)
    discount = table[group, 3]
    channel_choice = rng.random(n_customers) < 0.5
    channel = np.where(
        group == 0,
        "key_account",
        np.where(
            group == 1,
            np.where(channel_choice, "wholesale", "retail"),
            np.where(channel_choice, "retail", "web"),
        ),
    )
    site = np.where(
        group == 0,
        np.array(DCS)[rng.integers(0, len(DCS), n_customers)],
        np.array(REGIONS)[rng.integers(0, len(REGIONS), n_customers)],
    )

    # ---- order events (week-major) and lines
    ordered = rng.random((weeks, n_customers)) < p_order
    ev_week, ev_cust = np.nonzero(ordered)
    n_events = len(ev_week)
    ev_day = rng.integers(0, 5, n_events)
    n_lines = 1 + rng.poisson(np.maximum(lines_mean[ev_cust] - 1.0, 0.0))
    line_ev = np.repeat(np.arange(n_events), n_lines)
    cust, week = ev_cust[line_ev], ev_week[line_ev]
    item = rng.choice(n_items, size=len(line_ev), p=pop)
    lam = base_qty[item] * scale[cust] * mult[item, week]
    qty = 1 + rng.poisson(np.maximum(lam - 1.0, 0.0))
    day = week * 7 + ev_day[line_ev]

    # ---- returns: part of the line, later in the same week (Mon–Fri)
    ret = np.flatnonzero(rng.random(len(line_ev)) < return_rate)
    ret_qty = -rng.integers(1, qty[ret] + 1)
    ret_day = day[ret] + rng.integers(0, 5 - ev_day[line_ev[ret]])
    line_ev = np.concatenate([line_ev, line_ev[ret]])
    cust = np.concatenate([cust, cust[ret]])
    item = np.concatenate([item, item[ret]])
    qty = np.concatenate([qty, ret_qty])
    day = np.concatenate([day, ret_day])

    order = np.lexsort((item, line_ev, cust, day))
    line_ev, cust, item, qty, day = (a[order] for a in (line_ev, cust, item, qty, day))
    cust_ids = np.array([f"C{c:04d}" for c in range(n_customers)], dtype=object)
    item_ids = np.array([f"SKU-{i:05d}" for i in range(n_items)], dtype=object)
    order_ids = np.array([f"O{e:07d}" for e in range(n_events)], dtype=object)
    return pd.DataFrame(
        {
            "date": first + pd.to_timedelta(day, unit="D"),
            "order": order_ids[line_ev],
            "customer": cust_ids[cust],
            "item": item_ids[item],
            "quantity": qty.astype(np.int64),
            "unit_price": np.round(price[item] * (1.0 - discount[cust]), 2),
            "unit_cost": cost[item],
            "channel": channel[cust].astype(object),
            "location": site[cust].astype(object),
        }
    )
