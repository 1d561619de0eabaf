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
the training's lag-1 MAE (its mean level where that is 0) instead; with no scores at all (a
history too short for the backtest) there is no interval (``lo``, ``hi`` empty). The backtest's
``coverage`` is leave-one-origin-out: origin :math:`k` is judged by :math:`r` and
:math:`q_h` computed from the other origins only, so no point is covered by an interval
calibrated on itself. Held-out coverage on generated series is tested to be within 5
points of nominal.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from optim.forecasting.methods import make_model

__all__ = [
    "MIN_SCORES",
    "MIN_TRAIN",
    "SeriesRun",
    "backtest_origins",
    "calibrate",
    "fit_series",
    "run_matrix",
    "run_series",
    "scale_of",
    "seasonal_naive",
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
    final_scale: Any
    method: Any
    notes: Any


def scale_of(train: np.ndarray) -> tuple[float, float]:
    """Lag-1 naïve MAE and MSE of ``train``; NaN when they are 0 (a constant training: the
    scaled errors are undefined)."""
    mae, mse, _ = _scales(np.asarray(train, dtype=float)[None, :], [len(train)])
    return float(mae[0, 0]), float(mse[0, 0])


def _scales(y: np.ndarray, ends: list[int]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per series (rows of ``y``) and training end ``o`` in ``ends``: lag-1 MAE and MSE of
    ``y[:, :o]`` (NaN where 0) and the conformal fallback scale (MAE, else mean level,
    else 1); arrays (S, len(ends))."""
    s_n = y.shape[0]
    d = np.diff(y, axis=1)
    zero = np.zeros((s_n, 1))
    cs_abs = np.hstack([zero, np.cumsum(np.abs(d), axis=1)])
    cs_sq = np.hstack([zero, np.cumsum(d * d, axis=1)])
    cs_lvl = np.hstack([zero, np.cumsum(np.abs(y), axis=1)])
    mae = np.full((s_n, len(ends)), np.nan)
    mse = np.full((s_n, len(ends)), np.nan)
    level = np.zeros((s_n, len(ends)))
    for j, o in enumerate(ends):
        if o >= 2:
            mae[:, j] = cs_abs[:, o - 1] / (o - 1)
            mse[:, j] = cs_sq[:, o - 1] / (o - 1)
        if o >= 1:
            level[:, j] = cs_lvl[:, o] / o
    mse = np.where(mae > 0, mse, np.nan)
    mae = np.where(mae > 0, mae, np.nan)
    iscale = np.where(np.isfinite(mae), mae, np.where(level > 0, level, 1.0))
    return mae, mse, iscale


def _fit(method: str, y: np.ndarray, h: int, season: int) -> tuple[np.ndarray, str]:
    """statsforecast's forecast of ``method`` on ``y``; the mean if the model fails (e.g.
    too few points), with the reason as a note."""
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


def backtest_origins(n: int, horizon: int, origins: int, step: int) -> tuple[list[int], int]:
    """Origins :math:`o_k` and backtest horizon :math:`H_b` (0: no backtest)."""
    hb = min(horizon, n - MIN_TRAIN - (origins - 1) * step)
    if hb < 1:
        return [], 0
    return [n - hb - (origins - 1 - k) * step for k in range(origins)], hb


def fit_series(
    y: np.ndarray, method: str, horizon: int, ends: list[int], hb: int, season: int
) -> tuple[np.ndarray, np.ndarray, str, str]:
    """One series: final forecast (H,), forecasts at the origins ``ends`` (K, H; NaN past
    ``hb``), the method used (``mean`` when the model failed on the full series) and notes.
    Each origin's fit sees ``y[:o]`` only."""
    bt = np.full((len(ends), horizon), np.nan)
    mean, note = _fit(method, y, horizon, season)
    notes = [note] if note else []
    for k, o in enumerate(ends):
        f, bad = _fit(method, y[:o], hb, season)
        if bad and not note:
            notes.append(f"origin {o}: {bad}")
        bt[k, :hb] = f
    return mean, bt, (method if not note else "mean"), "; ".join(notes)


def _fit_chunk(
    args: tuple[np.ndarray, list[str], int, list[int], int, int],
) -> tuple[np.ndarray, np.ndarray, list[str], list[str]]:
    """:func:`fit_series` of every row: final forecasts (S, H), backtest forecasts (S, K, H),
    methods used and notes — stacked, so a worker sends two arrays back instead of two per
    series (pickling 50,000 series' small arrays cost ~1.6 CPU-s)."""
    y, methods, horizon, ends, hb, season = args
    fits = [
        fit_series(row, m, horizon, ends, hb, season) for row, m in zip(y, methods, strict=True)
    ]
    if not fits:
        return np.zeros((0, horizon)), np.zeros((0, len(ends), horizon)), [], []
    return (
        np.stack([f[0] for f in fits]),
        np.stack([f[1] for f in fits]),
        [f[2] for f in fits],
        [f[3] for f in fits],
    )


def seasonal_naive(y: np.ndarray, ends: list[int], hb: int, horizon: int, season: int):
    """Seasonal-naïve forecasts of every row of ``y`` at each origin (S, K, H; NaN past
    ``hb``): the value one season earlier, naïve (last value) while the training is shorter
    than a season — what statsforecast's SeasonalNaive / Naive return (tested)."""
    out = np.full((y.shape[0], len(ends), horizon), np.nan)
    steps = np.arange(hb)
    for k, o in enumerate(ends):
        if o >= season:
            out[:, k, :hb] = y[:, o - season + steps % season]
        else:
            out[:, k, :hb] = y[:, [o - 1]]
    return out


def run_matrix(
    y: np.ndarray, methods: list[str], horizon: int, origins: int, step: int, season: int,
    n_jobs: int = 1,
) -> SeriesRun:  # fmt: skip
    """Final forecasts and the rolling-origin backtest of every row of ``y`` (series of
    equal length; see module docstring). Arrays in the result have a leading series axis."""
    s_n, n = y.shape
    ends, hb = backtest_origins(n, horizon, origins, step)
    from optim.executor import cluster_address, fan_out

    if s_n < 200 or (n_jobs <= 1 and cluster_address() is None):
        parts = [_fit_chunk((y, methods, horizon, ends, hb, season))]
    else:  # the project's one fan-out seam: local processes, or a Dask cluster when set
        size = math.ceil(s_n / (n_jobs * 8))
        chunks = [
            (y[i : i + size], methods[i : i + size], horizon, ends, hb, season)
            for i in range(0, s_n, size)
        ]
        parts = fan_out(_fit_chunk, chunks, workers=n_jobs, desc="forecast")
    k_n = origins
    bt = np.full((s_n, k_n, horizon), np.nan)
    actual = np.full((s_n, k_n, horizon), np.nan)
    base = np.full((s_n, k_n, horizon), np.nan)
    scale = np.full((s_n, k_n), np.nan)
    scale2 = np.full((s_n, k_n), np.nan)
    iscale = np.full((s_n, k_n), np.nan)
    mean = np.concatenate([p[0] for p in parts]) if s_n else np.zeros((0, horizon))
    notes = [note for p in parts for note in p[3]]
    if ends:
        bt[:] = np.concatenate([p[1] for p in parts]) if s_n else bt
        for k, o in enumerate(ends):
            actual[:, k, :hb] = y[:, o : o + hb]
        base = seasonal_naive(y, ends, hb, horizon, season)
        scale, scale2, iscale = _scales(y, ends)
    else:
        short = f"{n} periods: too short for a {k_n}-origin backtest"
        notes = ["; ".join(x for x in (note, short) if x) for note in notes]
    final_scale = _scales(y, [n])[2][:, 0]
    used = np.array([m for p in parts for m in p[2]], dtype=object)
    return SeriesRun(mean, bt, base, actual, scale, scale2, iscale, final_scale, used, notes)


def run_series(
    y: np.ndarray, method: str, horizon: int, origins: int, step: int, season: int
) -> SeriesRun:
    """:func:`run_matrix` of one series (arrays without the series axis)."""
    r = run_matrix(np.asarray(y, dtype=float)[None, :], [method], horizon, origins, step, season)
    return SeriesRun(
        r.mean[0], r.bt[0], r.base[0], r.actual[0], r.scale[0], r.scale2[0], r.iscale[0],
        r.final_scale[0], r.method[0], r.notes[0],
    )  # fmt: skip


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
