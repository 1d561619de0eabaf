"""`optim segment` on the command line: tables written, pins, and bad input → exit 2 with one
message naming the column, row or id (nothing written)."""

from __future__ import annotations

import json

import pandas as pd
import pytest
import yaml

from optim.cli import main
from optim.instances.generators.history import generate_history


@pytest.fixture(scope="module")
def history() -> pd.DataFrame:
    return generate_history(2, n_items=15, n_customers=12, weeks=10)


def _csv(tmp_path, frame: pd.DataFrame, name: str = "history.csv"):
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_segment_writes_tables_and_pins_win(tmp_path, history, capsys):
    smallest = history.groupby("customer")["quantity"].sum().idxmin()
    out = tmp_path / "out"
    code = main(
        [
            "segment",
            str(_csv(tmp_path, history)),
            "--out",
            str(out),
            "--pin",
            f"{smallest}=strategic",
        ]
    )
    assert code == 0, capsys.readouterr().err
    customers = pd.read_csv(out / "customers.csv").set_index("customer")
    assert customers.loc[smallest, "segment"] == "strategic"
    assert bool(customers.loc[smallest, "pinned"])
    assert json.loads((out / "segmentation.json").read_text())
    pins = _csv(tmp_path, pd.DataFrame({"customer": [smallest], "segment": ["standard"]}), "p.csv")
    assert (
        main(["segment", str(_csv(tmp_path, history)), "--out", str(out), "--pins", str(pins)])
        == 0
    )
    customers = pd.read_csv(out / "customers.csv").set_index("customer")
    assert customers.loc[smallest, "segment"] == "standard"


@pytest.mark.parametrize(
    ("change", "args", "words"),
    [
        (lambda h: h.drop(columns="customer"), [], ["customer"]),
        (lambda h: h.assign(date=h["date"].astype(str).where(h.index != 3, "31/02/2024")), [],
         ["date", "31/02/2024"]),
        (lambda h: h.assign(quantity=h["quantity"].where(h.index != 5, -2)),
         ["--returns", "reject"], ["quantity", "-2"]),
        (lambda h: h, ["--pin", "NOBODY=strategic"], ["NOBODY"]),
        (lambda h: h, ["--pin", "C0000=platinum"], ["platinum"]),
        (lambda h: h, ["--pin", "C0000"], ["CUSTOMER=SEGMENT"]),
    ],
)  # fmt: skip
def test_bad_input_exits_2_and_names_it(tmp_path, history, capsys, change, args, words):
    out = tmp_path / "out"
    code = main(["segment", str(_csv(tmp_path, change(history))), "--out", str(out), *args])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("optim: invalid input:") and err.count("\n") == 1
    for word in words:
        assert word in err
    assert not out.exists()


def test_returns_are_netted_by_default_and_reported(tmp_path, history, capsys):
    """The stated rule: a negative line cancels demand of its own cell, never below zero, and
    the summary says how many lines and units were netted and how many cells floored."""
    first = history[history["quantity"] > 0].iloc[[0]]
    ret = first.assign(quantity=-10_000)
    code = main(["segment", str(_csv(tmp_path, pd.concat([history, ret])))])
    out = capsys.readouterr().out
    assert code == 0
    n = int((history["quantity"] < 0).sum()) + 1
    qty = float(-history["quantity"].clip(upper=0).sum()) + 10_000
    assert f"net: {n} negative lines, quantity {qty:g}" in out
    assert "1 cell(s) floored at zero" in out


def test_bad_config_exits_2_naming_file_and_field(tmp_path, history, capsys):
    from optim.segmentation import default_policy

    policy = default_policy().model_dump(mode="json")
    policy["segments"]["B"]["service_level"] = 1.5
    config = tmp_path / "cfg.yaml"
    config.write_text(yaml.safe_dump({"margin": 0.1, "policy": policy}), encoding="utf-8")
    code = main(["segment", str(_csv(tmp_path, history)), "--config", str(config)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "cfg.yaml" in err and "segments.B.service_level" in err and "1.5" in err


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("customer,segment,valid_until\nC0000,strategic,2026-01-01\n",
         ["line 1", "unknown column 'valid_until'"]),  # dropped without a word
        ("customer,segment\nC0000,\n", ["line 2, column segment: (empty)"]),  # KeyError, exit 1
        ("customer,segment\n,strategic\n", ["line 2, column customer: (empty)"]),  # 'nan'
        ("customer,segment\nC0000,strategic,x\n", ["line 2", "more cells than its header"]),
    ],
)  # fmt: skip
def test_a_pins_file_is_read_as_strictly_as_the_folders_pins_csv(
    tmp_path, history, capsys, text, words
):
    pins = tmp_path / "p.csv"
    pins.write_text(text, encoding="utf-8")
    _refused(tmp_path, history, capsys, ["--pins", str(pins)], ["p.csv", *words])


def _refused(tmp_path, history, capsys, args, words):
    """`optim segment` with ``args`` exits 2 naming every word and writes nothing."""
    out = tmp_path / "out"
    code = main(["segment", str(_csv(tmp_path, history)), "--out", str(out), *args])
    err = capsys.readouterr().err
    assert code == 2, err
    for word in words:
        assert word in err, err
    assert not out.exists()


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ("customer_rules:\n- segment: Strategic\n  top_value_share: 0.5\n",
         ["c.yaml line 2", "'Strategic' is not a customer segment; allowed: strategic"]),
        ("customer_rules:\n- segment: strategic\n  channels: [key_acount]\n",
         ["c.yaml line 3", "'key_acount' is not a channel of any order line"]),
    ],
)  # fmt: skip
def test_config_mistakes_found_against_the_history_name_their_line(
    tmp_path, history, capsys, config, words
):
    """A rule's segment or channel was refused naming the file but no line, or neither."""
    path = tmp_path / "c.yaml"
    path.write_text(config, encoding="utf-8")
    _refused(tmp_path, history, capsys, ["--config", str(path)], words)


def test_a_history_mistake_is_not_blamed_on_a_config_key_of_its_name(tmp_path, history, capsys):
    """A history column shares a config key's name (margin, period): its error was put at
    the config file's margin: line (second review)."""
    path = tmp_path / "c.yaml"
    path.write_text("period: W\nmargin: 0.1\n", encoding="utf-8")
    bad = history.assign(margin=["abc"] + [1.0] * (len(history) - 1))
    out = tmp_path / "out"
    code = main(["segment", str(_csv(tmp_path, bad)), "--config", str(path), "--out", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and "history.csv line 2, column margin" in err and "c.yaml" not in err, err
