r"""Per-series fits and the rolling-origin backtest; accuracy and conformal intervals.

**Backtest.** A series :math:`y_1..y_n` with horizon :math:`H` is refit at :math:`K` origins
:math:`o_k = n - H_b - (K-1-k)\,s` (``k = 0..K-1``, step :math:`s` periods) on
:math:`y_1..y_{o_k}` only and forecast :math:`H_b` periods ahead, compared with
:math:`y_{o_k+1}..y_{o_k+H_b}`. :math:`H_b = H` unless the earliest origin would keep fewer
than :data:`MIN_TRAIN` periods; then :math:`H_b` shrinks (no backtest when it would be < 1,
with a note). A fit at an origin sees nothing after it (tested: a spike after an origin
does not move that origin's forecast). The seasonal-naïve baseline (naïve while the
training is shorter than one season) is backtested at the same origins.

**Accuracy** per series over all backtest points (origin :math:`k`, step :math:`h`), error
:math:`e = \hat y - y`, scales from the training at each origin (lag-1 naïve, as in M5):
:math:`d_k = \operatorname{mean}|y_t - y_{t-1}|`, :math:`d^{(2)}_k = \operatorname{mean}
(y_t - y_{t-1})^2` (an origin whose training is constant has no scale and is left out
of MASE and RMSSE):
``MASE`` :math:`= \operatorname{mean}(|e| / d_k)`, ``RMSSE`` :math:`=
\sqrt{\operatorname{mean}(e^2 / d^{(2)}_k)}`, ``bias`` :math:`= \sum e / \sum y` (positive:
over-forecast), ``sigma`` :math:`= \sqrt{\operatorname{mean}\, e^2}` (the per-period forecast
error the safety-stock builders take).

**Intervals** (split conformal, studentised): a series' backtest errors are divided by its
own backtest RMS error :math:`r`, and the scores of all series of one method are pooled per
step :math:`h` (all steps together where a step has fewer than :data:`MIN_SCORES`);
:math:`q_h` is their :math:`\lceil (N+1)\,\ell \rceil`-th smallest (level :math:`\ell`).
The interval of a forecast :math:`\hat y` is :math:`[\max(0, \hat y - q_h r),\ \hat y + q_h
r]`, so noisier series get wider intervals and the error's growth with the step is the
method's. A series without a backtest (too short) uses the scores of its method scaled by
the training's lag-1 MAE (its mean level where that is 0) instead. The backtest's
``coverage`` is leave-one-origin-out: origin :math:`k` is judged by :math:`r` and
:math:`q_h` computed from the other origins only, so no point is covered by an interval
calibrated on itself. Held-out coverage on generated series is tested to be within 5
points of nominal.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass

import numpy as np

from optim.forecasting.methods import make_model

__all__ = [
    "MIN_SCORES",
    "MIN_TRAIN",
    "SeriesRun",
    "calibrate",
    "interval_scale",
    "run_series",
    "scale_of",
]

MIN_TRAIN = 13
"""Fewest periods a backtest origin keeps for fitting."""
MIN_SCORES = 30
"""Fewest scores a horizon step needs for a step-specific conformal quantile."""


@dataclass
class SeriesRun:
    """One series' forecasts: ``mean`` (H,), backtest forecasts ``bt`` and baseline
    forecasts ``base`` (K, H; NaN where the backtest horizon is shorter), actuals
    ``actual`` (K, H), MASE/RMSSE scales per origin ``scale``/``scale2`` (K,; NaN when
    undefined), conformal scales ``iscale`` (K,) and ``final_scale``, the method actually
    used and a note."""

    mean: np.ndarray
    bt: np.ndarray
    base: np.ndarray
    actual: np.ndarray
    scale: np.ndarray
    scale2: np.ndarray
    iscale: np.ndarray
    final_scale: float
    method: str
    note: str


def scale_of(train: np.ndarray) -> tuple[float, float]:
    """Lag-1 naïve MAE and MSE of ``train``; NaN when they are 0 (a constant training: the
    scaled errors are undefined)."""
    if len(train) >= 2:
        d = np.diff(train)
        mae, mse = float(np.mean(np.abs(d))), float(np.mean(d * d))
        if mae > 0:
            return mae, mse
    return math.nan, math.nan


def interval_scale(train: np.ndarray) -> float:
    """Scale of the conformal scores: the lag-1 MAE, else the mean level, else 1."""
    mae, _ = scale_of(train)
    if np.isfinite(mae):
        return mae
    level = float(np.mean(np.abs(train))) if len(train) else 0.0
    return level if level > 0 else 1.0


def _fit(method: str, y: np.ndarray, h: int, season: int) -> tuple[np.ndarray, str]:
    """statsforecast's forecast of ``method`` on ``y``; HistoricAverage if the model fails
    (e.g. too few points), with the reason as a note."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out = make_model(method, season).forecast(y=y, h=h)["mean"]
        out = np.asarray(out, dtype=float)
        if out.shape == (h,) and np.all(np.isfinite(out)):
            return out, ""
        why = "non-finite forecast"
    except Exception as exc:  # a model that cannot fit this series
        why = f"{type(exc).__name__}: {exc}"
    return np.full(h, float(np.mean(y)) if len(y) else 0.0), f"{method} failed ({why}); mean"


def _baseline(y: np.ndarray, h: int, season: int) -> np.ndarray:
    """statsforecast's seasonal naïve; naïve (last value) while shorter than one season."""
    model = make_model("SeasonalNaive" if len(y) >= season else "Naive", season)
    return np.asarray(model.forecast(y=y, h=h)["mean"], dtype=float)


def run_series(
    y: np.ndarray, method: str, horizon: int, origins: int, step: int, season: int
) -> SeriesRun:
    """Final forecast and rolling-origin backtest of one series (see module docstring)."""
    n = len(y)
    k_n = origins
    bt = np.full((k_n, horizon), np.nan)
    base = np.full((k_n, horizon), np.nan)
    actual = np.full((k_n, horizon), np.nan)
    scale = np.full(k_n, np.nan)
    scale2 = np.full(k_n, np.nan)
    iscale = np.full(k_n, np.nan)
    notes = []
    mean, note = _fit(method, y, horizon, season)
    used = method if not note else "mean"
    if note:
        notes.append(note)
    hb = min(horizon, n - MIN_TRAIN - (k_n - 1) * step)
    if hb < 1:
        notes.append(f"{n} periods: too short for a {k_n}-origin backtest")
    else:
        for k in range(k_n):
            o = n - hb - (k_n - 1 - k) * step
            train = y[:o]
            f, bad = _fit(used if used != "mean" else method, train, hb, season)
            if bad and not note:
                notes.append(f"origin {o}: {bad}")
            bt[k, :hb] = f
            base[k, :hb] = _baseline(train, hb, season)
            actual[k, :hb] = y[o : o + hb]
            scale[k], scale2[k] = scale_of(train)
            iscale[k] = interval_scale(train)
    return SeriesRun(
        mean, bt, base, actual, scale, scale2, iscale, interval_scale(y), used, "; ".join(notes)
    )


def _conformal_q(scores: np.ndarray, level: float) -> float:
    s = scores[np.isfinite(scores)]
    if len(s) == 0:
        return math.nan
    rank = math.ceil((len(s) + 1) * level)
    if rank > len(s):
        return float(s.max())
    return float(np.partition(s, rank - 1)[rank - 1])


def calibrate(scores: np.ndarray, level: float) -> np.ndarray:
    """Conformal quantile per horizon step of ``scores`` (series, origins, steps)."""
    h = scores.shape[-1]
    flat = scores.reshape(-1, h)
    counts = np.isfinite(flat).sum(axis=0)
    pooled = _conformal_q(flat.ravel(), level)
    return np.array(
        [_conformal_q(flat[:, j], level) if counts[j] >= MIN_SCORES else pooled for j in range(h)]
    )
