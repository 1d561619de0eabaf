"""`optim forecast` on files: outputs, overrides, and bad input (exit 2, file/line/field)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from conftest import intermittent, lines, seasonal

from optim.cli import main


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    rng = np.random.default_rng(8)
    frame = pd.concat([lines(seasonal(rng, 2, 70), prefix="A"), lines(intermittent(rng, 2, 70))])
    path = tmp_path_factory.mktemp("fc") / "history.csv"
    frame.to_csv(path, index=False)
    return path


def _run(capsys, *argv):
    code = main([str(a) for a in argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_writes_forecast_and_accuracy(history, tmp_path, capsys):
    code, out, _ = _run(capsys, "forecast", history, "--horizon", 5, "--out", tmp_path)
    assert code == 0 and "series" in out
    fc = pd.read_csv(tmp_path / "forecast.csv")
    assert list(fc.columns) == ["item", "segment", "location", "week", "forecast", "lo", "hi",
                                "method"]  # fmt: skip
    assert len(fc) == 4 * 5
    acc = pd.read_csv(tmp_path / "accuracy.csv")
    assert {"mase", "rmsse", "bias", "coverage", "naive_mase", "naive_coverage"} <= set(acc)


def test_overrides_replace_the_forecast(history, tmp_path, capsys):
    _run(capsys, "forecast", history, "--horizon", 5, "--by", "item", "--out", tmp_path / "a")
    base = pd.read_csv(tmp_path / "a" / "forecast.csv")
    week = base["week"].iloc[1]
    pd.DataFrame({"item": ["A000"], "week": [week], "forecast": [123.0]}).to_csv(
        tmp_path / "forecast_overrides.csv", index=False
    )
    code, out, _ = _run(
        capsys, "forecast", history, "--horizon", 5, "--by", "item",
        "--overrides", tmp_path / "forecast_overrides.csv", "--out", tmp_path / "b",
    )  # fmt: skip
    assert code == 0 and "replaced by the planner's overrides" in out
    new = pd.read_csv(tmp_path / "b" / "forecast.csv")
    hit = (new["item"] == "A000") & (new["week"] == week)
    assert new.loc[hit, "forecast"].tolist() == [123.0]
    assert new.loc[hit, "method"].tolist() == ["override"]
    old = base[(base["item"] == "A000") & (base["week"] == week)].iloc[0]
    width = new.loc[hit, "hi"].iloc[0] - 123.0
    assert width == pytest.approx(old["hi"] - old["forecast"])
    assert new[~hit].drop(columns="method").equals(base[~hit].drop(columns="method"))


@pytest.mark.parametrize(
    ("rows", "needle"),
    [
        ([("A000", "W1", "5"), ("NOPE", "W1", "5")], "line 3: item 'NOPE'"),
        ([("A000", "2001-01-01", "5")], "line 2: week '2001-01-01' is not a forecast week"),
        ([("A000", "W1", "-1")], "line 2: forecast '-1' must be a number >= 0"),
        ([("A000", "W1", "x")], "line 2: forecast 'x'"),
        # (a forecast of 1e308 was taken and written)
        ([("A000", "W1", "1e308")], "line 2: forecast '1e308' must be a number >= 0 (at most"),
        ([("A000", "W1", "1"), ("A000", "W1", "2")], "line 3: series"),
        # float() took these; a time with an offset ended as an internal error (exit 1)
        ([("A000", "W1", "1_000")], "line 2: forecast '1_000'"),
        ([("A000", "W1", "５")], "line 2: forecast '５'"),
        ([("A000", "2023-08-01T10:00:00+02:00", "5")], "line 2: week '2023-08-01T10:00"),
    ],
)
def test_bad_overrides_exit_2_naming_file_line_and_field(history, tmp_path, capsys, rows, needle):
    _run(capsys, "forecast", history, "--horizon", 3, "--by", "item", "--out", tmp_path / "a")
    w1 = pd.read_csv(tmp_path / "a" / "forecast.csv")["week"].iloc[0]
    path = tmp_path / "forecast_overrides.csv"
    frame = pd.DataFrame(rows, columns=["item", "week", "forecast"])
    frame["week"] = frame["week"].replace("W1", w1)
    frame.to_csv(path, index=False)
    code, _, err = _run(capsys, "forecast", history, "--horizon", 3, "--by", "item",
                        "--overrides", path)  # fmt: skip
    assert code == 2
    assert "forecast_overrides.csv" in err and needle in err, err


def test_overrides_missing_column(history, tmp_path, capsys):
    path = tmp_path / "o.csv"
    pd.DataFrame({"item": ["A000"], "forecast": [1]}).to_csv(path, index=False)
    code, _, err = _run(capsys, "forecast", history, "--by", "item", "--overrides", path)
    # the header's line, and the columns as the planner writes them (it said "['week']")
    assert code == 2 and "o.csv line 1: missing column(s) week; needs item, week, forecast" in err
    # a column past the keys was dropped without a word (a comment, or customer under --by item)
    pd.DataFrame(
        {"item": ["A000"], "week": ["2024-01-01"], "forecast": [1], "note": ["x"]}
    ).to_csv(path, index=False)
    code, _, err = _run(capsys, "forecast", history, "--by", "item", "--overrides", path)
    assert (
        code == 2 and "o.csv line 1: unknown column 'note'; allowed: item, week, forecast" in err
    )


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["--horizon", "0"], "--horizon must be a whole number of periods > 0"),
        (["--horizon", "-2"], "--horizon must be"),
        (["--level", "1"], "--level must be strictly between 0 and 1"),
        (["--level", "0"], "--level must be"),
        (["--by", "item,colour"], "by=['item', 'colour'] is not allowed"),
        (["--by", ",item"], "by=['', 'item'] is not allowed"),  # (the blank key was dropped)
        (["--origins", "1000"], "origins: a backtest of 1000 origins"),
    ],
)
def test_bad_arguments_exit_2(history, capsys, argv, needle):
    code, _, err = _run(capsys, "forecast", history, *argv)
    assert code == 2 and needle in err, err


def test_missing_history_file_exits_2(tmp_path, capsys):
    code, _, err = _run(capsys, "forecast", tmp_path / "nope.csv")
    assert code == 2 and "nope.csv" in err


def test_a_history_without_a_backtest_prints_n_a_not_nan(tmp_path, capsys):
    """16 weeks hold no backtest: the summary printed "MASE nan (seasonal naive nan)"."""
    path = tmp_path / "short.csv"
    lines(seasonal(np.random.default_rng(3), 2, 16)).to_csv(path, index=False)
    code, out, _ = _run(capsys, "forecast", path, "--by", "item")
    assert code == 0 and "MASE n/a (seasonal naive n/a)" in out and "nan" not in out
    assert "no accuracy figures and no intervals" in out
