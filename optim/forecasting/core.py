"""`forecast`: order history → one forecast per series, backtest accuracy and intervals."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optim.errors import InstanceError
from optim.forecasting.engine import MIN_TRAIN, backtest_origins, calibrate, run_matrix
from optim.forecasting.methods import choose_method
from optim.forecasting.overrides import apply_overrides
from optim.segmentation.config import SegmentationConfig
from optim.segmentation.core import _pattern, segment
from optim.segmentation.result import Segmentation

__all__ = [
    "BY_ALLOWED",
    "ForecastResult",
    "SeriesArrays",
    "forecast",
    "forecast_arrays",
    "season_length",
]

BY_ALLOWED = ("item", "segment", "location", "customer")
_SEASONS = {"W": 52, "M": 12, "MS": 12, "ME": 12, "Q": 4, "QS": 4, "QE": 4, "D": 7}


def season_length(period: str) -> int:
    """Periods per season: 52 for weeks (a year), 12 for months, 4 for quarters, 7 for days."""
    base = period.split("-")[0].upper()
    return _SEASONS.get(base, 1)


@dataclass(frozen=True)
class ForecastResult:
    """Result of :func:`forecast`.

    Attributes
    ----------
    forecast
        ``by`` keys, ``week`` (period start, ``YYYY-MM-DD``), ``forecast``, ``lo``, ``hi``,
        ``method`` (``override`` where the planner's file replaced it).
    accuracy
        Backtest accuracy: ``scope`` (``series``, ``segment``, ``pattern``, ``all``), the
        ``by`` keys (series rows) or the group, ``pattern``, ``method``, ``n_series``,
        ``n_points``, ``mase``, ``rmsse``, ``bias``, ``coverage``, ``sigma`` and the same
        figures of the seasonal-naïve baseline (``naive_*``), ``history_std``, ``note``.
    errors
        Per series: ``by`` keys, ``pattern``, ``method``, ``n_obs``, ``sigma`` (backtest
        forecast-error standard deviation per period), ``history_std`` (zero-filled
        standard deviation of the history), ``mean`` (mean demand per period), ``note``.
    notes
        Remarks for the planner (fallbacks, short or empty series, overrides applied).
    info
        Run facts: horizon, level, origins, step, season, series count, seconds.
    segmentation
        The segmentation the series' segments and policy rows came from.
    """

    forecast: pd.DataFrame
    accuracy: pd.DataFrame
    errors: pd.DataFrame
    notes: tuple[str, ...] = ()
    info: dict[str, Any] = field(default_factory=dict)
    segmentation: Segmentation | None = field(default=None, repr=False)

    def write(self, out: str | Path) -> Path:
        """Write ``forecast.csv`` and ``accuracy.csv`` into folder ``out`` (numbers by
        :mod:`optim.precision`: forecasts in units to six decimals, whole where whole)."""
        from optim.precision import write_csv

        folder = Path(out)
        folder.mkdir(parents=True, exist_ok=True)
        write_csv(self.forecast, folder / "forecast.csv")
        write_csv(self.accuracy, folder / "accuracy.csv")
        return folder

    def demand_std(self) -> pd.DataFrame:
        """Per-period forecast-error σ per series for the safety-stock builders
        (``demand_std=``): ``item, segment, location, std_dev`` (needs those ``by`` keys).
        Series without a backtest get NaN, so the builders keep the history's σ there."""
        need = ["item", "segment", "location"]
        missing = [k for k in need if k not in self.errors]
        if missing:
            raise InstanceError(
                f"demand_std needs a forecast by item, segment and location; missing {missing}.",
                field="by",
            )
        return self.errors[need].assign(std_dev=self.errors["sigma"].to_numpy())

    def summary(self) -> str:
        """A few lines for a terminal."""
        acc = self.accuracy
        info = self.info
        lines = [
            f"forecast: {info['series']} series × {info['horizon']} periods, level "
            f"{info['level']:g}, {info['origins']}-origin backtest (step {info['step']}), "
            f"{info['seconds']:.1f} s"
        ]

        def num(x: float) -> str:  # (no backtest: "MASE nan (seasonal naive nan)")
            return f"{x:.3f}" if np.isfinite(x) else "n/a"

        for row in acc[acc["scope"].isin(["pattern", "all"])].to_dict("records"):
            name = "all" if row["scope"] == "all" else str(row["pattern"])
            lines.append(
                f"  {name:<13} {row['n_series']:>6} series  MASE {num(row['mase'])} "
                f"(seasonal naive {num(row['naive_mase'])})  coverage {num(row['coverage'])} "
                f"(naive {num(row['naive_coverage'])})"
            )
        lines += [f"  note: {n}" for n in self.notes]
        return "\n".join(lines)


def _check_args(horizon: Any, level: Any, origins: Any, by: Sequence[str]) -> list[str]:
    if isinstance(horizon, bool) or not isinstance(horizon, int | np.integer) or horizon <= 0:
        raise InstanceError(
            f"horizon must be a whole number of periods > 0, got {horizon!r}.", field="horizon"
        )
    if not isinstance(level, int | float) or not 0.0 < float(level) < 1.0:
        raise InstanceError(
            f"level must be a probability strictly between 0 and 1 (e.g. 0.9), got {level!r}.",
            field="level",
        )
    if isinstance(origins, bool) or not isinstance(origins, int) or origins < 3:
        raise InstanceError(
            f"origins must be a whole number >= 3, got {origins!r}.", field="origins"
        )
    keys = [str(k).strip() for k in by]
    bad = [k for k in keys if k not in BY_ALLOWED]
    if bad or not keys or len(set(keys)) != len(keys):
        raise InstanceError(
            f"by={keys} is not allowed; use distinct keys of {list(BY_ALLOWED)}.", field="by"
        )
    return keys


def _series_frame(seg: Segmentation, keys: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Zero-filled demand per series (rows: ``keys``, columns: periods) and the key frame
    of every series the order lines name (including ones whose demand nets to zero)."""
    hist = seg.history
    assert hist is not None
    segment_of = seg.customers.set_index("customer")["segment"]

    def columns(frame: pd.DataFrame) -> dict[str, Any]:
        out = {}
        for k in keys:
            if k == "segment":
                out[k] = segment_of.reindex(frame["customer"]).to_numpy(dtype=object)
            else:
                out[k] = frame[k].to_numpy(dtype=object)
        return out

    d = hist.demand
    cells = pd.DataFrame(columns(d) | {"period": d["period"].to_numpy(), "q": d["quantity"]})
    sums = cells.groupby([*keys, "period"], sort=True)["q"].sum()
    wide = sums.unstack("period").reindex(columns=hist.periods).fillna(0.0)
    named = pd.DataFrame(columns(hist.lines)).drop_duplicates()
    return wide, named.sort_values(keys, kind="stable").reset_index(drop=True)


def _rms(err: np.ndarray) -> np.ndarray:
    """Root-mean-square of each series' finite errors (NaN without any, or when it is 0)."""
    valid = np.isfinite(err)
    n = valid.sum(axis=tuple(range(1, err.ndim)))
    e2 = np.where(valid, err * err, 0.0).sum(axis=tuple(range(1, err.ndim)))
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.sqrt(e2 / n)
    return np.where((n > 0) & (out > 0), out, np.nan)


def _intervals(
    fc: np.ndarray, err: np.ndarray, iscale: np.ndarray, final_scale: np.ndarray,
    groups: np.ndarray, level: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:  # fmt: skip
    """Conformal lo/hi of the final forecasts and leave-one-origin-out coverage flags.

    Series with backtest errors: scores studentised by the series' own backtest RMS error;
    series without: scores of their method scaled by the training scale (see
    :mod:`optim.forecasting.engine`)."""
    k_n = err.shape[1]
    rms = _rms(err)
    own = np.isfinite(rms)
    student = np.abs(err) / rms[:, None, None]
    scaled = np.abs(err) / iscale[:, :, None]
    half = np.full(fc.shape, np.nan)
    covered = np.full(err.shape, np.nan)
    all_student, all_scaled = calibrate(student[own], level), calibrate(scaled, level)
    for g in np.unique(groups):
        rows = groups == g
        with_own, without = rows & own, rows & ~own
        if with_own.any():
            qg = calibrate(student[with_own], level)
            half[with_own] = qg[None, :] * rms[with_own, None]
        if without.any():
            sg = scaled[rows]
            qg = calibrate(sg, level) if np.isfinite(sg).any() else all_scaled
            if not np.isfinite(qg).all():
                qg = all_student
            half[without] = qg[None, :] * final_scale[without, None]
        for k in range(k_n):  # origin k judged by scales and quantiles of the others only
            others = [j for j in range(k_n) if j != k]
            rms_k = _rms(err[with_own][:, others])
            ok = np.isfinite(rms_k)
            if not ok.any():
                continue
            sub = np.abs(err[with_own][ok][:, others]) / rms_k[ok, None, None]
            qk = calibrate(sub, level)
            score = np.abs(err[with_own][ok][:, k]) / rms_k[ok, None]
            flags = np.where(np.isfinite(score), score <= qk[None, :], np.nan)
            idx = np.flatnonzero(with_own)[ok]
            covered[idx, k] = flags
    # no scores at all (no backtest): no interval, not one of zero width
    return np.maximum(fc - half, 0.0), fc + half, covered


def _metrics(
    err: np.ndarray, actual: np.ndarray, scale: np.ndarray, scale2: np.ndarray,
    covered: np.ndarray,
) -> dict[str, np.ndarray]:  # fmt: skip
    valid = np.isfinite(err)
    scaled = valid & np.isfinite(scale)[:, :, None]
    judged = valid & np.isfinite(covered)
    n = valid.sum(axis=(1, 2))
    ns = scaled.sum(axis=(1, 2))
    nc = judged.sum(axis=(1, 2))
    has, hs = n > 0, ns > 0
    with np.errstate(invalid="ignore", divide="ignore"):
        ae = np.where(scaled, np.abs(err) / scale[:, :, None], 0.0).sum(axis=(1, 2))
        se = np.where(scaled, err * err / scale2[:, :, None], 0.0).sum(axis=(1, 2))
        e2 = np.where(valid, err * err, 0.0).sum(axis=(1, 2))
        esum = np.where(valid, err, 0.0).sum(axis=(1, 2))
        ysum = np.where(valid, actual, 0.0).sum(axis=(1, 2))
        cov = np.where(judged, covered, 0.0).sum(axis=(1, 2))
        return {
            "n_points": n,
            "mase": np.where(hs, ae / np.maximum(ns, 1), np.nan),
            "rmsse": np.where(hs, np.sqrt(se / np.maximum(ns, 1)), np.nan),
            "bias": np.where(has & (ysum > 0), esum / ysum, np.nan),
            "coverage": np.where(nc > 0, cov / np.maximum(nc, 1), np.nan),
            "sigma": np.where(has, np.sqrt(e2 / np.maximum(n, 1)), np.nan),
            "_esum": esum,
            "_ysum": ysum,
            "_cov": cov,
            "_nc": nc,
        }


@dataclass(frozen=True)
class SeriesArrays:
    """Array results of :func:`forecast_arrays` for S series: ``forecast``, ``lo``, ``hi``
    (S, H); ``method`` (S,) actually used; ``metrics`` and ``baseline`` (per series
    ``n_points, mase, rmsse, bias, coverage, sigma`` and sums for aggregates); ``notes``."""

    forecast: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    method: np.ndarray
    metrics: dict[str, np.ndarray]
    baseline: dict[str, np.ndarray]
    notes: list[str]


def forecast_arrays(
    ys: list[np.ndarray] | np.ndarray, methods: list[str], *, horizon: int, level: float = 0.9,
    origins: int = 3, step: int = 1, season: int = 52, n_jobs: int = 1,
) -> SeriesArrays:  # fmt: skip
    """Forecast, backtest and interval arrays of series given as arrays (the engine under
    :func:`forecast`; ``methods`` from :func:`~optim.forecasting.methods.choose_method`)."""
    y = np.asarray(ys, dtype=float) if len(ys) else np.zeros((0, horizon + 1))
    r = run_matrix(y, methods, horizon, origins, step, season, n_jobs)
    s_n = len(y)
    fc, bt, base, actual = r.mean, r.bt, r.base, r.actual
    scale, scale2, iscale, final_scale, used = r.scale, r.scale2, r.iscale, r.final_scale, r.method
    err, base_err = bt - actual, base - actual
    lo, hi, covered = _intervals(fc, err, iscale, final_scale, used, level)
    _, _, base_cov = _intervals(
        np.zeros_like(fc), base_err, iscale, final_scale, np.zeros(s_n, dtype=object), level
    )
    return SeriesArrays(
        forecast=fc,
        lo=lo,
        hi=hi,
        method=used,
        metrics=_metrics(err, actual, scale, scale2, covered),
        baseline=_metrics(base_err, actual, scale, scale2, base_cov),
        notes=list(r.notes),
    )


def forecast(
    history: pd.DataFrame | str | Path | Segmentation,
    *,
    horizon: int = 13,
    by: Sequence[str] = ("item", "segment", "location"),
    level: float = 0.9,
    overrides: pd.DataFrame | str | Path | None = None,
    config: SegmentationConfig | str | Path | None = None,
    origins: int = 3,
    step: int | None = None,
    n_jobs: int = 1,
) -> ForecastResult:
    """Forecast every series of the order history; backtest it; conformal intervals.

    Parameters
    ----------
    history
        Order lines (DataFrame, CSV or parquet path; read, validated and bucketed by
        :func:`optim.segmentation.prepare_history` with the config's period and returns
        rule — the same as ``optim segment``), or a :class:`Segmentation` holding them.
    horizon
        Periods to forecast (> 0).
    by
        Series keys, distinct among ``item, segment, location, customer`` (``segment`` is
        the customer segment of :func:`~optim.segmentation.segment`); a text is read as
        comma-separated keys (``"item,location"``).
    level
        Nominal coverage of the prediction intervals, in (0, 1).
    overrides
        The planner's ``forecast_overrides.csv`` (``by`` keys, ``week``, ``forecast``):
        replaces the statistical forecast of those series and weeks (see
        :mod:`optim.forecasting.overrides`).
    config
        Segmentation config (period, thresholds, policy table; default the packaged one).
    origins, step
        Backtest origins (>= 3) and periods between them (default ``max(1, horizon //
        origins)``, so the origins spread over one horizon).
    n_jobs
        Worker processes for the per-series fits.

    Returns
    -------
    ForecastResult

    Raises
    ------
    InstanceError
        Bad history (as ``optim segment``), ``horizon <= 0``, ``level`` outside (0, 1),
        unknown ``by`` keys, or an overrides file naming unknown series or weeks.
    """
    start = time.perf_counter()
    if isinstance(by, str):  # ("item" was read as the keys 'i', 't', 'e', 'm')
        by = by.split(",")
    keys = _check_args(horizon, level, origins, by)
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise InstanceError(f"n_jobs must be a whole number >= 1, got {n_jobs!r}.", field="n_jobs")
    given = step
    step = max(1, horizon // origins) if step is None else int(step)
    if step < 1:
        raise InstanceError(f"step must be >= 1, got {step!r}.", field="step")
    seg = history if isinstance(history, Segmentation) else segment(history, config=config)
    if seg.history is None:
        raise InstanceError("the segmentation holds no order history.", field="history")
    cfg = seg.config
    season = season_length(cfg.period)
    wide, named = _series_frame(seg, keys)
    hist_periods = seg.history.periods
    matrix = wide.to_numpy(dtype=float)
    n_all = matrix.shape[1]
    short = _check_backtest(
        n_all, horizon, origins, step, lambda k: max(1, horizon // k) if given is None else step
    )

    # ---- per series (zeros counted over the whole history, as in the demand statistics of
    # the segmentation): pattern, policy label, method
    positive = matrix > 0
    n_obs = np.full(len(matrix), n_all)
    nonzero = positive.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        adi = np.where(nonzero > 0, n_obs / np.maximum(nonzero, 1), np.nan)
        sizes = np.where(positive, matrix, np.nan)
        mean_size = np.nanmean(sizes, axis=1) if len(matrix) else np.zeros(0)
        cv2 = np.nanvar(sizes, axis=1) / mean_size**2 if len(matrix) else np.zeros(0)
    patterns = _pattern(adi, cv2, cfg) if len(matrix) else np.array([], dtype=object)
    abc = seg.items.set_index("item")["abc"] if "item" in keys else None
    index = wide.index.to_frame(index=False)
    labels: dict[tuple[str, str], str | None] = {}
    methods, notes = [], []
    for i in range(len(matrix)):
        cls = str(abc.get(index.at[i, "item"], "")) if abc is not None else ""
        pat = str(patterns[i])
        if (cls, pat) not in labels:
            labels[(cls, pat)] = _label(cfg, cls, pat)
        chosen, note = choose_method(labels[(cls, pat)], pat, int(n_obs[i]), season)
        methods.append(chosen)
        notes.append(note)
    arrays = forecast_arrays(
        list(matrix), methods, horizon=horizon, level=level, origins=origins, step=step,
        season=season, n_jobs=n_jobs,
    )  # fmt: skip
    s_n = len(matrix)
    fc, lo, hi, used = arrays.forecast, arrays.lo, arrays.hi, arrays.method
    m, b = arrays.metrics, arrays.baseline
    notes = ["; ".join(x for x in (a, r) if x) for a, r in zip(notes, arrays.notes, strict=True)]
    history_std = matrix.std(axis=1, ddof=1) if n_all > 1 else np.zeros(s_n)

    # ---- tables
    weeks = pd.period_range(hist_periods[-1], periods=horizon + 1, freq=cfg.period)[1:]
    week_labels = weeks.start_time.strftime("%Y-%m-%d").to_numpy()
    fc_frame = index.loc[index.index.repeat(horizon)].reset_index(drop=True)
    fc_frame["week"] = np.tile(week_labels, s_n)
    fc_frame["forecast"] = fc.ravel()
    fc_frame["lo"] = lo.ravel()
    fc_frame["hi"] = hi.ravel()
    fc_frame["method"] = np.repeat(used, horizon)

    errors = index.copy()
    errors["pattern"] = patterns
    errors["method"] = used
    errors["n_obs"] = n_obs.astype(np.int64)
    errors["sigma"] = m["sigma"]
    errors["history_std"] = history_std
    errors["mean"] = matrix.mean(axis=1) if n_all else np.zeros(s_n)
    errors["note"] = notes

    empty = _empty_series(named, index, keys)
    run_notes = _summarise_notes(notes)
    if short and s_n:
        run_notes.append(short)
    if len(empty):
        run_notes.append(
            f"{len(empty)} series have order lines but no demand after the returns rule "
            f"(e.g. {_key_text(empty.iloc[0], keys)}): forecast 0, method 'zero'"
        )
        fc_frame = pd.concat([fc_frame, _zero_rows(empty, week_labels)], ignore_index=True)
    if overrides is not None:
        fc_frame, n_over = apply_overrides(fc_frame, overrides, keys, week_labels)
        run_notes.append(f"{n_over} forecast(s) replaced by the planner's overrides")
    fc_frame = fc_frame.sort_values([*keys, "week"], kind="stable").reset_index(drop=True)

    accuracy = _accuracy(index, keys, patterns, used, notes, m, b, history_std)
    info = {
        "horizon": horizon,
        "level": float(level),
        "origins": origins,
        "step": step,
        "season": season,
        "series": s_n + len(empty),
        "methods": {str(k): int(v) for k, v in pd.Series(used).value_counts().items()},
        "seconds": time.perf_counter() - start,
    }
    return ForecastResult(
        forecast=fc_frame,
        accuracy=accuracy,
        errors=errors,
        notes=tuple(run_notes),
        info=info,
        segmentation=seg,
    )


def _check_backtest(
    n: int, horizon: int, origins: int, step: int, steps: Callable[[int], int]
) -> str:
    """'' when the history's ``n`` periods hold a backtest of ``origins`` origins ``step``
    apart, else the run's note: no accuracy figures and no intervals (nothing calibrates
    them; they read as intervals of zero width). Origins beyond what the history holds,
    where three would fit, are refused (``--origins 1000`` gave NaN figures and zero-width
    intervals for every series). ``steps``: the step of a count of origins (the given
    ``step``, else ``horizon // origins``), for the counts the history holds."""
    if backtest_origins(n, horizon, origins, step)[0]:
        return ""
    need = MIN_TRAIN + (origins - 1) * step + 1
    if origins > 3 and backtest_origins(n, horizon, 3, steps(3))[0]:
        # (the default step shrinks as origins grow: the counts held need not be contiguous)
        held = [k for k in range(3, n) if backtest_origins(n, horizon, k, steps(k))[0]]
        runs: list[list[int]] = []
        for k in held:
            if runs and k == runs[-1][-1] + 1:
                runs[-1].append(k)
            else:
                runs.append([k])
        counts = ", ".join(f"{r[0]}..{r[-1]}" if len(r) > 1 else f"{r[0]}" for r in runs)
        raise InstanceError(
            f"origins: a backtest of {origins} origins {step} period(s) apart needs at least "
            f"{need} periods of history, and the history has {n}; allowed: {counts} origins "
            "for this history.",
            field="origins",
        )
    return (
        f"no accuracy figures and no intervals (lo, hi empty): the history's {n} periods "
        f"are fewer than the {need} a {origins}-origin backtest needs ({MIN_TRAIN} to fit, "
        f"origins {step} apart)"
    )


def _label(cfg: SegmentationConfig, item_class: str, pattern: str) -> str | None:
    table = cfg.policy
    if item_class and item_class in table.segments:
        return table.item_row(item_class, pattern).forecasting
    rule = table.patterns.get(pattern)  # type: ignore[call-overload]
    return rule.forecasting if rule is not None else None


def _key_text(row: pd.Series, keys: list[str]) -> str:
    return ", ".join(f"{k}={row[k]}" for k in keys)


def _empty_series(named: pd.DataFrame, index: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    have = pd.MultiIndex.from_frame(index[keys].astype(str))
    mask = ~pd.MultiIndex.from_frame(named[keys].astype(str)).isin(have)
    return named[mask].reset_index(drop=True)


def _zero_rows(empty: pd.DataFrame, week_labels: np.ndarray) -> pd.DataFrame:
    h = len(week_labels)
    out = empty.loc[empty.index.repeat(h)].reset_index(drop=True)
    out["week"] = np.tile(week_labels, len(empty))
    out["forecast"] = 0.0
    out["lo"] = 0.0
    out["hi"] = 0.0
    out["method"] = "zero"
    return out


def _summarise_notes(notes: list[str]) -> list[str]:
    counts: dict[str, int] = {}
    for text in notes:
        for part in filter(None, text.split("; ")):
            kind = part.split(":")[0] if "failed" in part else _kind(part)
            counts[kind] = counts.get(kind, 0) + 1
    return [f"{n} series: {k}" for k, n in sorted(counts.items())]


def _kind(note: str) -> str:
    if "fewer than two seasons" in note:
        return "shorter than two seasons, non-seasonal method"
    if "too short for" in note:
        return "too short for the backtest"
    return note


def _accuracy(
    index: pd.DataFrame, keys: list[str], patterns: np.ndarray, used: np.ndarray,
    notes: list[str], m: dict[str, np.ndarray], b: dict[str, np.ndarray],
    history_std: np.ndarray,
) -> pd.DataFrame:  # fmt: skip
    names = ("mase", "rmsse", "bias", "coverage", "sigma")
    series = index.copy()
    series.insert(0, "scope", "series")
    series["pattern"] = patterns
    series["method"] = used
    series["n_series"] = 1
    series["n_points"] = m["n_points"]
    for k in names:
        series[k] = m[k]
    for k in names[:4]:
        series[f"naive_{k}"] = b[k]
    series["history_std"] = history_std
    series["note"] = notes

    groups: list[tuple[str, str | None, np.ndarray]] = []
    if "segment" in keys:
        groups += [("segment", s, index["segment"].to_numpy() == s) for s in
                   sorted(index["segment"].astype(str).unique())]  # fmt: skip
    groups += [("pattern", p, patterns == p) for p in sorted(set(patterns.tolist()))]
    groups.append(("all", None, np.ones(len(index), dtype=bool)))
    rows = []
    for scope, name, mask in groups:
        row: dict[str, Any] = {"scope": scope, **{k: "" for k in keys}}
        if scope == "segment":
            row["segment"] = name
        row["pattern"] = name if scope == "pattern" else ""
        row["method"] = "+".join(sorted(set(used[mask].tolist())))
        row["n_series"] = int(mask.sum())
        row["n_points"] = int(m["n_points"][mask].sum())
        for prefix, src in (("", m), ("naive_", b)):
            pts = src["_nc"][mask].sum()
            row[f"{prefix}mase"] = _nanmean(src["mase"][mask])
            row[f"{prefix}rmsse"] = _nanmean(src["rmsse"][mask])
            ysum = src["_ysum"][mask].sum()
            row[f"{prefix}bias"] = src["_esum"][mask].sum() / ysum if ysum > 0 else np.nan
            row[f"{prefix}coverage"] = src["_cov"][mask].sum() / pts if pts else np.nan
        row["sigma"] = _nanmean(m["sigma"][mask])
        row["history_std"] = _nanmean(history_std[mask])
        row["note"] = "means over series; bias and coverage over all backtest points"
        rows.append(row)
    return pd.concat([series, pd.DataFrame(rows)], ignore_index=True)[series.columns]


def _nanmean(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(x.mean()) if len(x) else math.nan
