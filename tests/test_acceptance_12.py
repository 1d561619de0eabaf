"""Second review of issue 12 ("What to build" 2 and 4-8) as a planner uses the product: each
test is a gap found by running the CLI on a clean checkout, or a claim of the issue that no
test exercised yet.

- 6, ``-`` reads stdin: the option files (``--config``, ``--policy``, ``--overrides``) said
  "file '-' does not exist" -> test_option_files_read_stdin_as_dash
- 4, a killed run: SIGTERM was tested, SIGKILL not -> test_sigkill_leaves_the_previous_run_
  and_no_folder_that_looks_complete
- 7, ``--previous DIR`` reasons: an ABC class moved by other items' sales was called a
  "demand change (sales value 34,132 -> 34,132)"; a stage whose segments changed (a customer
  moved segment) read "service target change (98.5% -> 98.5%)"; the change alerts spoke of
  "units" and money without the currency of plan.yaml ->
  test_a_class_moved_by_other_items_is_not_called_a_demand_change,
  test_a_stock_reason_names_the_segments_whose_targets_changed,
  test_change_alerts_speak_the_plan_yaml_units_and_currency
- 7, ``--previous DIR`` stock reasons: an item stocked in one run only, segmented in both
  (made to order in the other), was "new item (not planned last week)" or "item no longer
  planned" -> test_an_item_stocked_in_one_run_only_is_not_called_new_when_both_planned_it
- exit 1 where the input is at fault: ``optim review --segmentation`` whose segmentation
  knows none of the shipments' customers ended "internal error: ValueError: max() arg is an
  empty sequence" -> test_review_with_no_line_left_is_refused_naming_why
"""

from __future__ import annotations

import math
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from optim.cli import main
from optim.output import MANIFEST, verify
from optim.planning.compare import _stock_reasons, alerts, class_changes

ROOT = Path(__file__).resolve().parents[1]
POLICY = ROOT / "optim" / "segmentation" / "default_policy.yaml"


# ----------------------------------------------------------------------------- 6: stdin
def _stdin(text: str):
    """A standard input holding ``text`` (bytes underneath, as the gate reads it)."""
    import io

    return io.TextIOWrapper(io.BytesIO(text.encode()), encoding="utf-8")


def _history(path: Path) -> Path:
    """A small order history: 3 customers, 4 items, 60 weeks (enough for a backtest)."""
    rows = []
    for week in range(60):
        day = pd.Timestamp("2024-01-01") + pd.Timedelta(weeks=week)
        for c, customer in enumerate(("C1", "C2", "C3")):
            for i, item in enumerate(("I1", "I2", "I3", "I4")):
                qty = 1 + (week * (c + 2) + i * 3) % 7
                rows.append((day.date().isoformat(), customer, item, qty, 10.0 + i))
    frame = pd.DataFrame(rows, columns=["date", "customer", "item", "quantity", "unit_price"])
    frame.to_csv(path, index=False)
    return path


FORECAST = ["forecast", "{history}", "--by", "item", "--horizon", "2", "--out", "{out}"]


@pytest.mark.parametrize(
    "command",
    [
        ["segment", "{history}", "--config", "-", "--out", "{out}"],
        [*FORECAST, "--config", "-"],
        [*FORECAST, "--overrides", "-"],
        ["review", "{shipments}", "--policy", "-", "--out", "{out}"],
    ],
    ids=["segment --config", "forecast --config", "forecast --overrides", "review --policy"],
)
def test_option_files_read_stdin_as_dash(tmp_path, capsys, monkeypatch, command):
    """Issue 12, 6: "`-` reads stdin". The main inputs did; the option files did not."""
    history = _history(tmp_path / "history.csv")
    shipments = tmp_path / "shipments.csv"
    shipments.write_text(
        "customer,item,date,quantity,shipped_quantity,ship_date,segment,abc\n"
        "C1,I1,2025-01-06,5,5,2025-01-07,standard,A\n"
        "C2,I2,2025-01-06,4,2,2025-01-20,strategic,B\n"
    )
    out = tmp_path / "out"
    argv = [a.format(history=history, shipments=shipments, out=out) for a in command]
    if "--overrides" in argv:
        stdin = "item,week,forecast\n"
    elif "--policy" in argv:
        stdin = POLICY.read_text()
    else:
        stdin = "abc_thresholds: [0.7, 0.9]\n"
    monkeypatch.setattr(sys, "stdin", _stdin(stdin))
    code = main(argv)
    err = capsys.readouterr().err
    assert code == 0, err
    assert "does not exist" not in err
    assert (out / MANIFEST).is_file()


def test_the_other_files_read_stdin_as_dash_too(tmp_path, capsys, monkeypatch):
    """README: `-` reads standard input for every file a command reads: pins, a previous
    segmentation.json (segment --previous, review --segmentation), shipments."""
    history = _history(tmp_path / "history.csv")
    seg = tmp_path / "seg"
    monkeypatch.setattr(sys, "stdin", _stdin("customer,segment\nC3,strategic\n"))
    assert main(["segment", str(history), "--pins", "-", "--out", str(seg)]) == 0
    customers = pd.read_csv(seg / "customers.csv").set_index("customer")["segment"]
    assert customers["C3"] == "strategic"
    document = (seg / "segmentation.json").read_text()
    monkeypatch.setattr(sys, "stdin", _stdin(document))
    assert main(["segment", str(history), "--previous", "-", "--out", str(tmp_path / "s2")]) == 0
    shipments = (
        "customer,item,date,quantity,shipped_quantity,ship_date\nC1,I1,2025-01-06,5,5,2025-01-07\n"
    )
    monkeypatch.setattr(sys, "stdin", _stdin(document))
    shipped = tmp_path / "shipments.csv"
    shipped.write_text(shipments)
    assert (
        main(["review", str(shipped), "--segmentation", "-", "--out", str(tmp_path / "r1")]) == 0
    )
    monkeypatch.setattr(sys, "stdin", _stdin(shipments))
    argv = ["review", "-", "--segmentation", str(seg / "segmentation.json")]
    assert main([*argv, "--out", str(tmp_path / "r2")]) == 0, capsys.readouterr().err
    assert (tmp_path / "r1" / "review.csv").read_bytes() == (
        tmp_path / "r2" / "review.csv"
    ).read_bytes()


def test_a_bad_option_file_on_stdin_is_named_standard_input(tmp_path, capsys, monkeypatch):
    """An error in a file read from stdin names standard input and the line of its field."""
    history = _history(tmp_path / "history.csv")
    monkeypatch.setattr(sys, "stdin", _stdin("consecutive_runs: 2\nabc_thresholds: [0.9, 0.5]\n"))
    code = main(["segment", str(history), "--config", "-", "--out", str(tmp_path / "o")])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "standard input line 2" in err and "abc_thresholds" in err
    assert not (tmp_path / "o").exists()


# ----------------------------------------------------------------------------- exit 2
def test_review_with_no_line_left_is_refused_naming_why(tmp_path, capsys):
    """A segmentation that knows none of the shipments' customers left no line to review:
    exit 1 ("max() arg is an empty sequence") before; exit 2 naming the file now."""
    shipments = tmp_path / "shipments.csv"
    shipments.write_text(
        "customer,item,date,quantity,shipped_quantity,ship_date\n"
        "K7,I1,2025-01-06,5,5,2025-01-07\n"
        "K8,I2,2025-01-06,5,5,2025-01-07\n"
    )
    history = _history(tmp_path / "history.csv")
    seg = tmp_path / "seg"
    assert main(["segment", str(history), "--out", str(seg)]) == 0
    capsys.readouterr()
    out = tmp_path / "out"
    code = main(
        ["review", str(shipments), "--segmentation", str(seg / "segmentation.json"),
         "--out", str(out)]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2, err
    assert "internal error" not in err
    assert "shipments.csv line 2, column customer: 'K7' has no segment" in err, err
    assert not out.exists()


# ----------------------------------------------------------------------------- 4: SIGKILL
def _plan_folder(root: Path) -> Path:
    from optim.planning.distributor import distributor_example
    from optim.planning.folder import write_folder

    return write_folder(distributor_example(7, n_items=40, n_customers=20, weeks=56), root / "in")


def _tree(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_sigkill_leaves_the_previous_run_and_no_folder_that_looks_complete(tmp_path):
    """Issue 12, 4: "a killed run never leaves a folder that looks complete". A second
    `optim plan` into the same folder, SIGKILLed (no handler runs) once it has written files:
    the target is the first run, byte for byte, and checks against its manifest; whatever
    else is left is hidden and holds no manifest (cannot be taken for a run)."""
    folder = _plan_folder(tmp_path)
    out = tmp_path / "work" / "out"
    argv = [sys.executable, "-m", "optim.cli", "plan", str(folder), "--out", str(out)]
    env = {**os.environ, "PYTHONHASHSEED": "0"}
    first = subprocess.run([*argv, "--quiet"], env=env, capture_output=True, timeout=600)
    assert first.returncode == 0, first.stderr.decode()
    before = _tree(out)
    proc = subprocess.Popen(
        [*argv, "--quiet", "--pin", "C0001=strategic"],  # another run: other bytes
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 300
    written = 0
    while time.monotonic() < deadline and proc.poll() is None:
        partial = [p for p in out.parent.iterdir() if p.name.startswith(".out.partial-")]
        try:
            written = sum(1 for p in partial for f in p.rglob("*") if f.is_file())
        except OSError:  # renamed while we looked
            written = 0
        if written >= 5:
            break
        time.sleep(0.02)
    if proc.poll() is not None:
        pytest.skip("the second run ended before it could be killed (starved test process)")
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    assert written >= 5
    assert _tree(out) == before and verify(out) == []
    for p in out.parent.iterdir():
        if p.name != "out":
            assert p.name.startswith("."), p.name  # hidden
            assert not any(f.name == MANIFEST for f in p.rglob("*")), p.name


# ----------------------------------------------------------------------------- 7: --previous
def _items(rows):
    return pd.DataFrame(rows, columns=["item", "abc", "xyz", "value", "cv", "cum_share_before"])


def test_a_class_moved_by_other_items_is_not_called_a_demand_change():
    """ABC ranks by the share of sales value of the items ranked above an item
    (``cum_share_before``): an item whose own sales did not move changes class when others'
    do. Its reason was "demand change (sales value 34,132 → 34,132)"."""
    before = _items([("I1", "A", "Y", 34131.56, 0.78, 0.7182), ("I2", "A", "Y", 9e4, 0.5, 0.1)])
    now = _items([("I1", "B", "Y", 34131.56, 0.78, 0.8146), ("I2", "A", "Y", 9e5, 0.5, 0.1)])
    reason = class_changes(now, before).set_index("item").at["I1", "reason"]
    assert "demand change" not in reason, reason
    assert "34,132" in reason and "71.8%" in reason and "81.5%" in reason, reason
    # its own sales moved: a demand change, as before
    now.loc[0, "value"] = 20000.0
    reason = class_changes(now, before).set_index("item").at["I1", "reason"]
    assert reason.startswith("demand change (sales value 34,132 → 20,000"), reason
    # an XYZ move is the item's own demand (its coefficient of variation)
    now.loc[0, ["abc", "xyz", "value", "cv"]] = ["A", "Z", 34131.56, 1.4]
    reason = class_changes(now, before).set_index("item").at["I1", "reason"]
    assert reason == "demand change (coefficient of variation 0.78 → 1.40)", reason


def _facts(targets):
    return {"lead": {}, "lead_value": {}, "cost": {}, "targets": set(targets), "mean": 10.0,
            "var": 4.0}  # fmt: skip


def test_a_stock_reason_names_the_segments_whose_targets_changed():
    """A customer moved from transactional to standard: the item's stages serve other
    segments at the same 98.5 % (the item's class sets it). The reason read "service target
    change (98.5% → 98.5%)", which names no change."""
    before = _facts({("I@R-01", "transactional", 0.985), ("I@R-03", "standard", 0.985),
                     ("I@DC", "standard", 0.985)})  # fmt: skip
    now = _facts({("I@R-01", "standard", 0.985), ("I@DC", "standard", 0.985)})
    reason = _stock_reasons("I", before, now, {})
    assert "98.5% → 98.5%" not in reason, reason
    assert "R-01: transactional 98.5% → standard 98.5%" in reason, reason
    assert "R-03: standard 98.5% → none" in reason, reason
    assert "DC:" not in reason, reason  # unchanged there
    # a target that moved is shown as it moved
    now2 = _facts({("I@R-01", "transactional", 0.935), ("I@R-03", "standard", 0.985),
                   ("I@DC", "standard", 0.985)})  # fmt: skip
    reason = _stock_reasons("I", before, now2, {})
    assert "R-01: transactional 98.5% → transactional 93.5%" in reason, reason
    assert _stock_reasons("I", before, before, {}) == "none found"


def test_an_item_stocked_in_one_run_only_is_not_called_new_when_both_planned_it():
    """Issue 12, 7 (audit of --previous on the demo with C0004's last year dropped): items
    both runs segmented but only one stocked (lumpy demand: made to order) read "new item
    (not planned last week)" or "item no longer planned"; they were planned, without stock.
    """
    now = _facts({("I@R-01", "standard", 0.985)})
    flips = {"I": ("lumpy", "intermittent"), "K": ("intermittent", "intermittent")}
    assert _stock_reasons("I", None, now, {}, flips) == (
        "no stock planned last week; demand pattern change (lumpy → intermittent)"
    )
    assert _stock_reasons("I", now, None, {"I": "BY → BZ"}, {"I": ("intermittent", "lumpy")}) == (
        "no stock planned this week; class change (BY → BZ); demand pattern change "
        "(intermittent → lumpy)"
    )
    assert _stock_reasons("K", now, None, {}, flips) == "no stock planned this week"
    # an item only one run segmented is new or gone, as before
    assert _stock_reasons("J", None, now, {}, flips) == "new item (not planned last week)"
    assert _stock_reasons("J", now, None, {}, flips) == "item no longer planned"
    assert _stock_reasons("I", None, now, {}) == "new item (not planned last week)"


def _change_tables():
    classes = pd.DataFrame(columns=["item", "previous_class", "class"])
    stock = pd.DataFrame(
        {
            "item": ["I1"],
            "stage": ["R-01"],
            "previous_safety_stock": [10.0],
            "safety_stock": [0.0],
            "change": [-10.0],
            "change_rate": [-1.0],
            "value_change": [-148.21],
            "reason": ["lead-time change (R-01 1 → 2 periods)"],
        }
    )
    allocation = pd.DataFrame(
        {
            "item": ["I1"],
            "customer": ["C1"],
            "previous_segment": ["standard"],
            "segment": ["standard"],
            "previous_requested": [4.0],
            "requested": [4.0],
            "previous_allocated": [4.0],
            "allocated": [0.0],
            "change": [-4.0],
            "previous_fill_rate": [1.0],
            "fill_rate": [0.0],
            "reason": ["supply change (R-01 4 → 0)"],
        }
    )
    return {"classes": classes, "stock": stock, "allocation": allocation}


def test_change_alerts_speak_the_plan_yaml_units_and_currency():
    """Issue 12, 7: "currency and units from plan.yaml". Every other alert said "pcs" when
    plan.yaml states ``units: pcs``; the change alerts said "units", and their value change
    had no currency."""
    got = alerts(_change_tables(), units="pcs", currency="EUR")
    assert len(got) == 2
    for a in got:
        assert a.unit == "pcs" and " pcs" in a.message and " units" not in a.message, a
    (stock,) = [a for a in got if a.who == "I1@R-01"]
    assert "value -148.21 EUR" in stock.message, stock.message
    assert math.isclose(stock.amount, -10.0)
    # without plan.yaml's words: "units", no currency
    plain = alerts(_change_tables())
    assert all(a.unit == "units" and " units" in a.message for a in plain)
    assert "value -148.21;" in plain[0].message or "value -148.21;" in plain[1].message


# ----------------------------------------------------------------------------- 1, 4: --out
def test_review_out_never_replaces_a_folder_optim_did_not_write(tmp_path, capsys):
    """`optim review --out DIR` replaced DIR as a whole (the atomic commit) without asking
    whether optim wrote it: a planner's folder with other files lost them. Now refused
    before any work (exit 2, as segment, plan and solve --tables refuse it)."""
    shipments = tmp_path / "shipments.csv"
    shipments.write_text(
        "customer,item,date,quantity,shipped_quantity,ship_date,segment,abc\n"
        "C1,I1,2025-01-06,5,5,2025-01-07,standard,A\n"
    )
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    code = main(["review", str(shipments), "--out", str(mine)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert f"--out {mine}" in err and "optim did not write" in err
    assert (mine / "notes.txt").read_text() == "keep me"
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]


def test_forecast_out_is_atomic_with_a_manifest_and_checked_before_work(tmp_path, capsys):
    """`optim forecast --out` wrote its two tables in place (no manifest, a killed run left
    one of them), and an --out that is a file ended "internal error: FileExistsError" after
    the whole forecast (exit 1). Now: the atomic folder with its manifest, and the path
    checked first (exit 2)."""
    history = _history(tmp_path / "history.csv")
    afile = tmp_path / "afile"
    afile.write_text("x")
    argv = ["forecast", str(history), "--by", "item", "--horizon", "2", "--out"]
    code = main([*argv, str(afile)])
    err = capsys.readouterr().err
    assert code == 2 and "internal error" not in err and "--out" in err, err
    assert afile.read_text() == "x"
    out = tmp_path / "out"
    assert main([*argv, str(out)]) == 0
    assert verify(out) == [] and {"forecast.csv", "accuracy.csv"} <= {
        p.name for p in out.iterdir()
    }
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_batch_out_that_is_a_file_is_refused_before_work(tmp_path, capsys):
    """`optim batch --out FILE` solved every instance, then ended "internal error:
    FileExistsError" (exit 1)."""
    afile = tmp_path / "afile"
    afile.write_text("x")
    example = ROOT / "instances" / "data" / "weekly_rationing.json"
    code = main(["batch", str(example), "--out", str(afile), "--quiet"])
    err = capsys.readouterr().err
    assert code == 2 and "internal error" not in err and "--out" in err, err
    assert afile.read_text() == "x"
