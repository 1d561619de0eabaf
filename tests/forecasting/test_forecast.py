"""optim.forecast: wrapping statsforecast, the backtest, accuracy and intervals on series of
known structure, short and empty series."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest
from conftest import START, intermittent, lines, lumpy, seasonal

import optim
from optim.forecasting import forecast
from optim.forecasting.engine import run_series
from optim.forecasting.methods import choose_method

H = 13


def _matrix(result, n: int, column: str) -> np.ndarray:
    fc = result.forecast.sort_values(["item", "week"])
    return fc[column].to_numpy().reshape(n, H)


def test_wrapped_forecast_equals_statsforecast_own_call():
    """Our forecast of each method is the one StatsForecast itself returns for the series."""
    from statsforecast import StatsForecast
    from statsforecast.models import MSTL, TSB, AutoETS, CrostonSBA

    rng = np.random.default_rng(3)
    mstl = MSTL(season_length=52, trend_forecaster=AutoETS(model="ZZN"))
    cases = [
        (seasonal(rng, 1, 156)[0], "MSTL", mstl),
        (seasonal(rng, 1, 80)[0], "AutoETS", AutoETS(season_length=1)),
        (intermittent(rng, 1, 104)[0], "CrostonSBA", CrostonSBA()),
        (lumpy(rng, 1, 104)[0], "TSB", TSB(alpha_d=0.1, alpha_p=0.1)),
    ]  # fmt: skip
    for y, method, model in cases:
        nz = np.flatnonzero(y > 0)
        y = y[nz[0] : nz[-1] + 1]  # the history spans its first to its last order line
        res = forecast(lines(y[None, :]), horizon=H, by=("item",))
        assert res.forecast["method"].unique().tolist() == [method]
        df = pd.DataFrame(
            {"unique_id": "S000", "ds": START + pd.to_timedelta(np.arange(len(y)) * 7, "D"),
             "y": y}
        )  # fmt: skip
        own = StatsForecast(models=[model], freq="W-MON").forecast(df=df, h=H)
        ours = res.forecast.sort_values("week")
        assert ours["week"].tolist() == own["ds"].dt.strftime("%Y-%m-%d").tolist()
        np.testing.assert_allclose(ours["forecast"].to_numpy(), own.iloc[:, -1].to_numpy())


def test_backtest_never_uses_the_future():
    """A spike after an origin leaves that origin's forecast unchanged; later origins see it."""
    y = seasonal(np.random.default_rng(5), 1, 120)[0]
    first_origin = len(y) - H - 2 * 4
    spiked = y.copy()
    spiked[first_origin + 1] += 1000.0
    for method in ("AutoETS", "CrostonSBA", "MSTL"):
        a = run_series(y, method, H, 3, 4, 52)
        b = run_series(spiked, method, H, 3, 4, 52)
        np.testing.assert_array_equal(a.bt[0], b.bt[0])
        np.testing.assert_array_equal(a.base[0], b.base[0])
        assert not np.allclose(a.bt[2], b.bt[2]), method  # its training holds the spike
        assert not np.allclose(a.mean, b.mean), method


@pytest.mark.parametrize(
    ("name", "gen", "n", "weeks", "method", "metric"),
    [
        ("trend + yearly season", seasonal, 24, 156, "MSTL", "mase"),
        ("Bernoulli × gamma intermittent", intermittent, 150, 104, "CrostonSBA", "mase"),
        ("lumpy", lumpy, 150, 104, "TSB", "rmsse"),
    ],
)
def test_chosen_method_beats_seasonal_naive_and_intervals_hold(
    name, gen, n, weeks, method, metric
):
    """On generated series the pattern's method beats seasonal naive in the backtest (MASE;
    RMSSE for lumpy demand, where MAE-based scores reward forecasting zero), and the 90 %
    intervals cover the next, unseen 13 weeks 85–95 % of the time."""
    m = gen(np.random.default_rng(11), n, weeks + H)
    res = forecast(lines(m[:, :weeks]), horizon=H, by=("item",), level=0.9)
    share = res.errors["method"].value_counts(normalize=True)
    assert share.get(method, 0) >= 0.95, share
    row = res.accuracy.set_index("scope").loc["all"]
    assert row[metric] < 0.9 * row[f"naive_{metric}"], (name, row[metric], row[f"naive_{metric}"])
    assert abs(row["coverage"] - 0.9) <= 0.05, row["coverage"]  # backtest, leave-one-origin-out
    future = m[:, weeks:]
    lo, hi = _matrix(res, n, "lo"), _matrix(res, n, "hi")
    covered = ((future >= lo) & (future <= hi)).mean()
    assert abs(covered - 0.9) <= 0.05, (name, covered)


def test_accuracy_table_has_series_segment_pattern_and_baseline_rows():
    rng = np.random.default_rng(2)
    a = lines(seasonal(rng, 3, 110), prefix="A", customer="big")
    b = lines(intermittent(rng, 4, 110), prefix="B", customer="small")
    res = forecast(pd.concat([a, b]), horizon=6)
    acc = res.accuracy
    assert set(acc["scope"]) == {"series", "segment", "pattern", "all"}
    series = acc[acc["scope"] == "series"]
    assert len(series) == 7 and series[["mase", "rmsse", "bias", "coverage"]].notna().all().all()
    assert series[["naive_mase", "naive_rmsse", "naive_coverage"]].notna().all().all()
    assert (series["n_points"] == 3 * 6).all()
    assert set(acc.loc[acc["scope"] == "pattern", "pattern"]) == set(series["pattern"])
    fc = res.forecast
    assert list(fc.columns) == ["item", "segment", "location", "week", "forecast", "lo", "hi",
                                "method"]  # fmt: skip
    assert len(fc) == 7 * 6 and (fc["lo"] <= fc["forecast"]).all()
    assert (fc["forecast"] <= fc["hi"]).all() and (fc["lo"] >= 0).all()
    assert optim.forecast(pd.concat([a, b]), horizon=6).forecast.equals(fc)  # public entry


def test_short_series_get_a_non_seasonal_method_and_a_note():
    y = seasonal(np.random.default_rng(4), 1, 60)
    res = forecast(lines(y), horizon=H, by=("item",))
    assert res.errors["method"].tolist() == ["AutoETS"]
    assert "fewer than two seasons" in res.errors["note"].iloc[0]
    assert any("shorter than two seasons" in n for n in res.notes)
    assert choose_method("statistical forecasting", "smooth", 104, 52) == ("MSTL", "")
    assert choose_method("AutoARIMA please", "smooth", 104, 52) == ("AutoARIMA", "")


def test_a_history_too_short_for_a_backtest_gives_no_intervals_not_zero_wide_ones():
    """16 weeks hold no 3-origin backtest (13 to fit, origins 4 apart): every 90 % interval
    came out as [forecast, forecast], under a note promising "pooled intervals"."""
    y = lines(seasonal(np.random.default_rng(2), 3, 16))
    res = forecast(y, horizon=13, by=("item",))
    assert res.forecast["lo"].isna().all() and res.forecast["hi"].isna().all()
    assert res.forecast["forecast"].notna().all()
    assert any("no intervals (lo, hi empty): the history's 16 periods" in n for n in res.notes)
    assert not any("pooled" in n for n in res.notes)
    longer = forecast(lines(seasonal(np.random.default_rng(2), 3, 22)), horizon=13, by=("item",))
    assert (longer.forecast["hi"] > longer.forecast["lo"]).all()  # 22 periods: intervals
    assert not any("no intervals" in n for n in longer.notes)


def _held(message: str) -> list[int]:
    """The counts of origins an "allowed: 3, 18..19, 27..37 origins" message lists."""
    text = re.search(r"allowed: ([0-9., ]+) origins", message).group(1)
    out: list[int] = []
    for part in text.split(", "):
        lo, _, hi = part.partition("..")
        out += range(int(lo), int(hi or lo) + 1)
    return out


@pytest.mark.parametrize(("weeks", "horizon"), [(104, 13), (50, 52)])
def test_more_origins_than_the_history_holds_are_refused(weeks, horizon):
    """``origins=1000`` on two years gave NaN accuracy figures and zero-width intervals. The
    counts the message allows are exactly those that work: the default step shrinks as the
    origins grow, so they need not be contiguous (50 weeks at horizon 52: 3, 18..19, 27..37;
    "3..37" was said and 4 refused)."""
    y = lines(seasonal(np.random.default_rng(1), 2, weeks))  # demand from the first week
    with pytest.raises(optim.InstanceError, match="origins for this history") as err:
        forecast(y, horizon=horizon, by=("item",), origins=1000)
    assert err.value.field == "origins"
    held = _held(str(err.value))
    assert held[0] == 3
    edges = {k for k in held if k - 1 not in held or k + 1 not in held}  # each run's ends
    for k in sorted(edges | {k + 1 for k in edges} | {k - 1 for k in edges} - {2}):
        if k in held:
            assert (
                forecast(y, horizon=horizon, by=("item",), origins=k).forecast["hi"].notna().all()
            )
        else:
            with pytest.raises(optim.InstanceError, match="origins for this history"):
                forecast(y, horizon=horizon, by=("item",), origins=k)


def test_series_whose_lines_net_to_zero_get_zero_forecast_and_a_note():
    y = lines(intermittent(np.random.default_rng(1), 2, 104))
    gone = pd.DataFrame(
        {"date": [START, START], "customer": "C1", "item": "GONE", "quantity": [5.0, -5.0],
         "unit_price": 1.0}
    )  # fmt: skip
    res = forecast(pd.concat([y, gone]), horizon=4, by=("item",))
    zero = res.forecast[res.forecast["item"] == "GONE"]
    assert len(zero) == 4 and (zero["forecast"] == 0).all() and (zero["method"] == "zero").all()
    assert any("no demand" in n for n in res.notes)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"horizon": 0}, "horizon"), ({"horizon": -3}, "horizon"), ({"level": 1.0}, "level"),
     ({"level": 0.0}, "level"), ({"by": ("item", "colour")}, "by"), ({"origins": 2}, "origins")],
)  # fmt: skip
def test_bad_arguments_are_instance_errors(kwargs, field):
    y = lines(intermittent(np.random.default_rng(1), 1, 30))
    with pytest.raises(optim.InstanceError) as err:
        forecast(y, **kwargs)
    assert err.value.field == field


def test_baseline_is_statsforecast_seasonal_naive():
    """The vectorised baseline equals statsforecast's SeasonalNaive (Naive before a season)."""
    from statsforecast.models import Naive, SeasonalNaive

    from optim.forecasting.engine import seasonal_naive

    y = intermittent(np.random.default_rng(9), 3, 120) + 1.0
    ends = [40, 60, 100]
    got = seasonal_naive(y, ends, 30, 30, 52)
    for i in range(3):
        for k, o in enumerate(ends):
            model = SeasonalNaive(season_length=52) if o >= 52 else Naive()
            np.testing.assert_array_equal(got[i, k], model.forecast(y=y[i, :o], h=30)["mean"])


def test_worker_processes_give_the_same_arrays_as_one_process():
    """The fan-out path (>= 200 series, 2 workers, results stacked per chunk) equals the
    one-process run bit for bit, methods and notes included."""
    from optim.forecasting.core import forecast_arrays

    rng = np.random.default_rng(11)
    ys = np.vstack([intermittent(rng, 190, 60), lumpy(rng, 20, 60), np.zeros((2, 60))])
    methods = ["CrostonSBA"] * 190 + ["TSB"] * 20 + ["CrostonSBA"] * 2
    args = dict(horizon=8, level=0.9, origins=3, step=2)
    one = forecast_arrays(list(ys), methods, n_jobs=1, **args)
    _assert_same_run(one, forecast_arrays(list(ys), methods, n_jobs=2, **args))


def _assert_same_run(one, other) -> None:
    """Forecasts, intervals, methods, notes and backtest tables equal bit for bit."""
    for name in ("forecast", "lo", "hi"):
        np.testing.assert_array_equal(getattr(one, name), getattr(other, name))
    assert list(one.method) == list(other.method) and one.notes == other.notes
    for table in ("metrics", "baseline"):
        a, b = getattr(one, table), getattr(other, table)
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])


def test_series_on_a_dask_cluster_give_the_same_arrays_as_one_process(dask_cluster, monkeypatch):
    """The chunks of series go to the loopback Dask workers (with one local job too: the
    cluster in force takes the work, as every fan-out does); the arrays are the same."""
    from optim import executor
    from optim.forecasting.core import forecast_arrays

    rng = np.random.default_rng(5)
    ys = np.vstack([intermittent(rng, 200, 60), lumpy(rng, 60, 60)])
    methods = ["CrostonSBA"] * 200 + ["TSB"] * 60
    args = dict(horizon=6, level=0.9, origins=2, step=3)
    one = forecast_arrays(list(ys), methods, n_jobs=1, **args)
    chunks: list[int] = []
    real = executor.fan_out

    def spy(fn, items, **kws):
        chunks.append(len(items))
        return real(fn, items, **kws)

    monkeypatch.setattr(executor, "fan_out", spy)
    executor.use_cluster(dask_cluster)
    try:
        remote = forecast_arrays(list(ys), methods, n_jobs=1, **args)
    finally:
        executor.use_cluster(None)
    assert chunks == [8]  # one local job: 8 chunks, all to the cluster
    _assert_same_run(one, remote)


def test_forecasting_texts_naming_no_model_pass_and_misspelt_models_do_not() -> None:
    from optim.forecasting.methods import check_label
    from optim.segmentation.policy import default_policy

    table = default_policy()
    texts = [row.forecasting for row in table.segments.values()]
    texts += [rule.forecasting for rule in table.patterns.values() if rule.forecasting]
    for text in [*texts, "magic", "seasonal items", None, "AutoARIMA"]:
        assert check_label(text) == text
    for text, model in (
        ("Auto ARIMA", "AutoARIMA"),
        ("ARIMA", "AutoARIMA"),
        ("auto-ets", "AutoETS"),
    ):
        assert check_label(text) == text and choose_method(text, "smooth", 200, 52)[0] == model
    for typo in ("AutoArma", "autoEST", "Crostn", "IMAPPA", "msti"):
        with pytest.raises(ValueError, match="names no forecasting model, but"):
            check_label(typo)
