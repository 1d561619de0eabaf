r"""Stable class assignment across reruns: a dead band around each threshold plus N runs.

Classes are ordered and numbered :math:`0, 1, \dots, K-1` (A, B, C; X, Y, Z; strategic,
standard, transactional; not intermittent, intermittent). For one entity let

* :math:`r` be the *raw* class of this run (nominal thresholds :math:`t`),
* :math:`[a, b]` the *band*: the classes the entity would get if every threshold moved
  anywhere within :math:`t(1 \pm m)` (``margin`` :math:`m`). Class rules are monotone in
  their thresholds, so the band is spanned by the two extreme moves and :math:`a \le r \le b`,
* :math:`p` the class held after the previous run and :math:`n_p` its run counter.

The held class is

.. math::

    h = \operatorname{clip}(p, a, b),

i.e. the class moves only as far as the metric is beyond a boundary by more than the margin;
a metric that stays within the band of the boundary it sits at never moves the class.
Then the counter counts consecutive runs in which the raw class differed from the held one,

.. math::

    n = \begin{cases} 0 & r = h \\ 1 & r \ne h,\ h \ne p \\ n_p + 1 & r \ne h,\ h = p
    \end{cases}

and when :math:`n \ge N` (``consecutive_runs``) the class follows the raw class,
:math:`h \leftarrow r, n \leftarrow 0`: it flips exactly at the N-th consecutive run across
the boundary. A new entity (no previous class) takes :math:`h = r, n = 0`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

__all__ = ["EPS", "Stabilised", "band_index", "class_index", "stabilise"]

#: Absolute tolerance for comparisons at a threshold (cumulative shares, CVs, ADIs):
#: floating-point sums that land within EPS of a threshold count as exactly on it.
EPS = 1e-9

NEW, SAME, MARGIN, RUNS, HOLD = "new", "same", "margin", "runs", "hold"


def class_index(
    metric: np.ndarray, thresholds: tuple[float, ...], closed: Literal["left", "right"]
) -> np.ndarray:
    """Number of thresholds the metric has passed (0 = first class).

    Parameters
    ----------
    metric
        One value per entity; NaN counts as having passed every threshold (last class).
    thresholds
        Increasing class boundaries.
    closed
        ``"left"``: a threshold is passed when ``metric >= t`` (a value on the boundary
        belongs to the upper class); ``"right"``: when ``metric > t`` (it belongs to the
        lower class). Values within :data:`EPS` of ``t`` count as equal to ``t``.
    """
    x = np.asarray(metric, dtype=float)
    idx = np.zeros(x.shape, dtype=np.int64)
    for t in thresholds:
        idx += (x >= t - EPS) if closed == "left" else (x > t + EPS)
    idx[np.isnan(x)] = len(thresholds)
    return idx


def band_index(
    metric: np.ndarray,
    thresholds: tuple[float, ...],
    margin: float,
    closed: Literal["left", "right"],
) -> tuple[np.ndarray, np.ndarray]:
    """Lowest and highest class over thresholds moved within ``t·(1 ± margin)``."""
    lo = class_index(metric, tuple(t * (1.0 + margin) for t in thresholds), closed)
    hi = class_index(metric, tuple(t * (1.0 - margin) for t in thresholds), closed)
    return lo, hi


@dataclass(frozen=True)
class Stabilised:
    """Outcome of :func:`stabilise`.

    Attributes
    ----------
    held
        Class index kept after this run.
    runs
        Consecutive runs (including this one) in which the raw class differed from the
        held class; 0 when they agree.
    how
        Per entity: ``"new"``, ``"same"`` (no change, raw agrees), ``"margin"`` (changed:
        beyond a boundary by the margin), ``"runs"`` (changed: N consecutive runs across),
        ``"hold"`` (raw differs but the class is held).
    """

    held: np.ndarray
    runs: np.ndarray
    how: np.ndarray


def stabilise(
    raw: np.ndarray,
    lo: np.ndarray,
    hi: np.ndarray,
    previous: np.ndarray,
    previous_runs: np.ndarray,
    consecutive_runs: int,
) -> Stabilised:
    """Apply the band-and-runs rule of the module docstring.

    Parameters
    ----------
    raw, lo, hi
        Raw class and band ``[lo, hi]`` (``lo <= raw <= hi``) per entity.
    previous
        Previously held class, ``-1`` for an entity without one.
    previous_runs
        Previous run counters (ignored for new entities).
    consecutive_runs
        N >= 1.
    """
    raw = np.asarray(raw, dtype=np.int64)
    prev = np.asarray(previous, dtype=np.int64)
    prev_runs = np.asarray(previous_runs, dtype=np.int64)
    new = prev < 0
    held = np.where(new, raw, np.clip(prev, lo, hi))
    moved = ~new & (held != prev)
    runs = np.where(raw == held, 0, np.where(moved, 1, prev_runs + 1))
    flip = runs >= consecutive_runs
    held = np.where(flip, raw, held)
    runs = np.where(flip, 0, runs)
    how = np.full(raw.shape, SAME, dtype=object)
    how[raw != held] = HOLD
    how[moved & ~flip] = MARGIN
    how[flip & (held != prev)] = RUNS
    how[new] = NEW
    return Stabilised(held=held, runs=runs, how=how)
