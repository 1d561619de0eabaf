"""Audit of issue 12's "Why" list: every item, reproduced on the CLI from the bundled examples
and the demo's planning folder, mapped to the test that proves it fixed.

Each input test asserts exit 2, the file, the line as the planner sees it (header = line 1;
in JSON / YAML the line of the field), the field, and that nothing was written. Tests named
without a path are in this file; ``test_gate`` is tests/test_gate.py.

Item of "Why" → the test(s) that prove it fixed ("(audit)": found misbehaving by this audit
and fixed with it).

Silent wrong answers
- ``"lead_time": "-3"``, ``"holding_cost": "-1"`` → test_gate::
  test_safety_stock_numbers_are_strict, test_gate::test_string_number_names_the_line_of_the_field
- negative ``mean`` / ``std_dev`` stored → test_gate::test_safety_stock_numbers_are_strict
  (std_dev -2), test_negative_mean_and_text_std_dev
- ``mean: 1e308`` gives objective ``"inf"`` → test_gate::test_safety_stock_numbers_are_strict
- booleans as numbers (``capacity``, ``lead_time``, history quantity ``True``) →
  test_gate::test_capacity_boolean_is_refused, test_gate::test_safety_stock_numbers_are_strict,
  test_gate::test_history_mistakes
- (audit) rationing documents took ``"quantity": "60"`` and tier ``"1"`` as numbers; a tier of
  1e308 wrapped in the int64 cast → test_rationing_document_numbers_are_strict
- a duplicate JSON key keeps the last value → test_gate::test_duplicate_json_key_names_its_line
- a history line dated 2099, a quantity of 1e308, a second ``quantity`` column →
  test_gate::test_history_mistakes
- an empty network solves "optimal 0" → test_gate::test_nan_literal_and_empty_network
- ``--method bogus`` ignored for rationing → test_bogus_method_is_refused_for_every_kind
- (audit) ``optim simulate RESULT`` converted a result's service times written as text,
  booleans or 0.5, simulated negative ones and read a null critical level as 0 →
  test_simulate_reads_result_numbers_strictly

Planning folders
- a location typo in ``orders.csv`` → test_gate::test_location_typo_in_orders
- a partial ``supply.csv`` means zero stock → test_gate::test_partial_supply_is_an_error_or_...
- an arc to an unknown stage in ``plan.yaml`` → test_gate::test_plan_yaml_mistakes
- ``orders.csv`` / ``history.csv`` without ``location`` (exit 1; blamed ``'all'``) →
  test_gate::test_missing_columns_name_the_right_file,
  test_history_without_location_names_history_csv
- ``plan_start`` before the history → test_gate::test_plan_yaml_mistakes,
  test_plan_start_outside_the_window
- (audit) pins: a pin naming a customer without history passed validate and failed later
  naming no file; a customer pinned twice took the last pin; pins.csv overriding plan.yaml
  said nothing; ``--pin`` errors spoke of "overrides" →
  test_pins_are_checked_against_the_history_and_each_other,
  test_command_line_pins_name_where_they_were_written,
  test_planning_pins.py::test_pins_from_plan_yaml_pins_csv_and_the_command_line
- (audit) receipts.csv past the gate (empty file exit 1, lines off after a blank line, a
  second quantity column, 1e300, a year-2099 receipt); a stray ``supplies.csv`` ignored; a
  receipts lane naming no stage silent; receipts.csv missing from the input hash →
  test_receipts_mistakes, test_stray_files_receipt_lanes_and_the_input_hash
- ``max_service_time_days`` 3 → 6 silently changes nothing →
  test_service_days_that_round_alike_are_warned, test_output::test_run_notes_that_are_warnings_...
- 776 order lines become 695 (merges) → test_output::test_run_notes_that_are_warnings_are_alerts
- 500 items become 471 → test_gate::test_items_without_history_are_reported_or_refused;
  (audit r12a) still silent in ``optim demo`` →
  test_items_without_history_are_noted_by_the_example_as_by_the_folder,
  test_the_demo_states_what_optim_plan_states_of_the_same_input (which also covers the
  demo's solver seed, input SHA-256, currency / units and the disruption alert)

Exit 1 where the input is at fault
- non-UTF-8, deeply nested JSON, an unreadable file → test_gate::test_non_utf8_binary_deep_...
- ``--time-limit -1 | nan | 0``, ``--mip-gap -5`` → test_gate::test_bad_solve_options
- ``--threads 0``, ``--seed -1``, ``simulate --periods 0`` → test_gate::test_bad_job_and_...;
  every other numeric option of every command → test_every_numeric_option_is_checked (audit:
  ``batch --time-limit -1`` was exit 1; ``batch --workers 0``, ``forecast --jobs 0`` and
  ``batch --demand inf`` ran; ``forecast --horizon 20000`` was exit 1, 100000 ran on)
- (audit) ``-`` (standard input) for a history or shipments file: "history file '-' does not
  exist" → test_history_and_shipments_from_standard_input
- empty / binary history, mixed time zones → test_gate::test_empty_and_binary_history,
  test_gate::test_history_mistakes; (audit r12a) a zone on a later line blamed line 2 →
  test_a_time_zone_on_a_later_line_names_that_line_and_both_zones
- a garbage ``--previous`` → test_gate::test_garbage_previous (segment),
  tests/planning/test_compare.py (plan)
- ``plan.yaml`` fields of the wrong shape → test_gate::test_plan_yaml_mistakes
- output paths that are a folder, missing or read-only → test_gate::test_output_paths_are_...
- (audit) ``batch`` what-ifs of safety-stock and capacity documents were refused as "not a
  JSON or YAML document" → test_batch_scenarios_of_every_kind

Messages
- rows counted from 0 instead of file lines → test_gate::test_location_typo_in_orders,
  test_csv_errors_name_the_file_line (audit: a quoted line break put later rows one line
  short; an unclosed quote named no line)
- ``np.float64(nan)`` / ``np.int64(-17)`` in messages → asserted by every ``_refused``
- ``orders.csv`` errors speak of a "history column" → test_orders_csv_errors_name_orders_csv
- ``service_level: 99.5`` names no segment → test_gate::test_policy_error_names_the_segment;
  (audit) still so, and on the wrong line, for a segment whose name begins with "str",
  "int" or "float" (``strategic``: the error path dropped it as a pydantic union tag) in a
  planning folder's policy.yaml and ``optim review --policy`` →
  test_policy_yaml_error_names_the_segment_and_its_line
- (audit) capacity CSV folders: schema errors found after the folder was read named the
  document field (``periods[3].capacity``), not the file and line; a repeated capacity.csv /
  settings.csv row, an empty capacity cell, a misspelt column, ``lot_sizing: maybe`` were
  taken silently; a unit_cost without a routing column was dropped →
  test_capacity_csv_errors_name_the_file_line_and_column,
  test_capacity_csv_unit_cost_without_routing_column_is_kept
- (audit) rationing CSV folders named the table row counted from 0 (``demand[1]`` for file
  line 3) and an empty cell as ``nan`` → test_rationing_csv_errors_name_the_file_line_and_column

Resources
- a YAML alias bomb → test_gate::test_yaml_alias_bomb_is_refused_quickly
- ``lead_time: 1000000`` allocates terabytes (memory estimated before allocation, refused
  beyond the cap) → test_gate::test_lead_time_million_is_refused_before_allocation,
  models/safety_stock/test_gsm_limits.py::test_huge_lead_time_is_refused_before_allocation;
  (audit r12a) it named the line of ``stages``, not the stage's →
  test_a_lead_time_beyond_the_memory_cap_names_its_own_line
- (audit) a 65 kB capacity document (1,000 products × 1,000 periods) asked the block
  interior point for 7.45 GiB per copy (MemoryError, exit 1) →
  test_block_ipm_memory_is_estimated_before_allocation
- (audit) a 190 kB capacity document of 3,000 products × 2,000 periods ran on towards
  ~11 GiB → test_capacity_memory_is_estimated_before_allocation
- ``plan_weeks: 1000000`` → test_gate::test_plan_yaml_mistakes
- the tree DP ignores ``--time-limit`` → models/safety_stock/test_gsm_limits.py::
  test_tree_dp_honours_the_time_limit_with_a_feasible_solution_and_bound
- a 5,000-stage serial chain takes > 10 minutes → models/safety_stock/test_gsm_serial.py::
  test_5000_stage_serial_chain_is_solved_exactly_and_fast; trees: test_5000_stage_trees_...
- rationing at 1e25 "unbounded", at 5e8 "no progress" → models/rationing/
  test_rationing_waterfill.py (every quantity scaled 5e8..1e12; refused above 1e12);
  (audit) one large line beside small ones: at 1e8 a tier short by 10 units was counted as
  served and the next stage said "infeasible" (exit 3) → test_a_large_line_beside_small_ones_
  is_rationed_exactly; one line of 2e8..1e12 beside lines of 20 (failed numerically, and at
  1e12 tier 2 got stock while tier 1 was short): the flow method works in whole quanta of the
  grid → test_mixed_magnitudes_up_to_1e12_are_exact, models/rationing/
  test_rationing_magnitudes.py (hypothesis against an integer max-flow brute force); every
  answer passes a combinatorial tier check or is withheld as an error →
  test_rationing_magnitudes::test_tier_check_withholds_an_answer_that_crosses_tiers; the
  staged LPs (--method lp, components with lots) still fail at these spans, as an error
  naming the span, not "infeasible" → test_a_stage_lp_failure_is_not_called_infeasible

Output is not atomic
- SIGTERM mid-write; a killed second run → test_output::test_sigterm_never_leaves_a_folder_...

Honesty of fallbacks and tables
- the capacity fallback, transactional missing, ``min_fill_rate`` NaN →
  tests/planning/test_planning.py::test_capacity_fallback_is_strict_priority_and_names_...
- weekly ``fill_rate`` 3.03 → models/capacity/test_capacity_hand.py::
  test_weekly_fill_rate_counts_late_units_in_the_week_ordered, test_capacity_properties.py
- the grid repair moves a quantum across tiers → models/rationing/test_rationing_waterfill.py::
  test_no_quantum_crosses_tiers_at_scale_like_shapes
- ``--time-limit 0.001`` exits 4 or 0 → models/capacity/test_capacity_hand.py::
  test_tiny_time_limit_gives_the_same_outcome_every_run
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest
import yaml

from optim.cli import main
from optim.planning.distributor import distributor_example
from optim.planning.folder import write_folder

DATA = Path(__file__).parents[1] / "instances" / "data"
GSM, CAPACITY, RATIONING = (
    DATA / f"{n}.json" for n in ("two_echelon_gsm", "peak_capacity", "weekly_rationing")
)
SMALL = {"n_items": 40, "n_customers": 20, "weeks": 56}


def _refused(capsys, argv: list[str], *words: str, out: Path | None = None) -> str:
    """Exit 2, no traceback, one message line holding every word, nothing written."""
    code = main([str(a) for a in argv])
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err and "np.float64" not in err and "np.int64" not in err
    message = err.splitlines()[0]
    for word in words:
        assert word in message, (word, message)
    if out is not None:
        assert not out.exists()
    return message


def _line_of(path: Path, needle: str) -> int:
    return next(k for k, line in enumerate(path.read_text().splitlines(), 1) if needle in line)


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    return write_folder(distributor_example(5, **SMALL), tmp_path_factory.mktemp("w") / "in")


# ----------------------------------------------------------------- silent wrong answers
@pytest.mark.parametrize(
    ("table", "k", "key", "value", "words"),
    [
        ("demand", 0, "quantity", "60", ["'60'", "(text in quotes", "without quotes"]),
        ("supply", 1, "quantity", "30", ["'30'", "(text in quotes"]),
        ("demand", 5, "min_quantity", "10", ["'10'", "(text in quotes"]),
        ("segments", 0, "tier", "1", ["'1'", "(text in quotes"]),
        ("segments", 0, "tier", "one", ["'one'", "(text, not a number)"]),
        ("segments", 2, "tier", 1e308, ["1e+308", "no segment has tier 3", "without gaps"]),
        ("demand", 3, "quantity", True, ["True"]),
    ],
)
@pytest.mark.parametrize("suffix", [".json", ".yaml"])
def test_rationing_document_numbers_are_strict(
    tmp_path, capsys, table, k, key, value, words, suffix
):
    doc = json.loads(RATIONING.read_text())
    doc[table][k][key] = value
    path = tmp_path / f"r{suffix}"
    if suffix == ".json":
        path.write_text(json.dumps(doc, indent=1))
        line = _line_of(path, json.dumps({key: value})[1:-1])
    else:
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        line = _line_of(path, yaml.safe_dump({key: value}).strip())
    out = tmp_path / "res.json"
    _refused(
        capsys,
        ["solve", path, "--out", out],
        f"{path} line {line}",
        f"{table}[{k}]",
        key,
        *words,
        out=out,
    )


def test_negative_mean_and_text_std_dev(tmp_path, capsys):
    for key, value, words in (("mean", -5, ["-5", "negative"]), ("std_dev", "-1", ["'-1'"])):
        doc = json.loads(GSM.read_text())
        doc["demands"][0][key] = value
        path = tmp_path / "g.json"
        path.write_text(json.dumps(doc, indent=1))
        line = _line_of(path, json.dumps({key: value})[1:-1])
        out = tmp_path / "res.json"
        _refused(
            capsys, ["solve", path, "--out", out], f"{path} line {line}", key, *words, out=out
        )


@pytest.mark.parametrize("example", [GSM, CAPACITY, RATIONING])
def test_bogus_method_is_refused_for_every_kind(tmp_path, capsys, example):
    """(audit r12a: the message named the document field ``params.method``, not the option
    the planner typed)"""
    out = tmp_path / "res.json"
    _refused(
        capsys,
        ["solve", example, "--method", "bogus", "--out", out],
        "--method 'bogus' is not available",
        "allowed",
        out=out,
    )
    _refused(
        capsys,
        ["solve", example, "--solver", "glop" if example == RATIONING else "cpsat", "--out", out],
        "--solver '",
        "allowed",
        out=out,
    )


@pytest.fixture(scope="module")
def gsm_result(tmp_path_factory):
    """The GSM example solved: the result document ``optim simulate`` reads."""
    out = tmp_path_factory.mktemp("sim") / "result.json"
    assert main(["solve", str(GSM), "--out", str(out)]) == 0
    return json.loads(out.read_text())


@pytest.mark.parametrize(
    ("table", "key", "value"),
    [
        ("stages", "outbound_service_time", "1"),
        ("stages", "outbound_service_time", True),
        ("stages", "outbound_service_time", 0.5),
        ("stages", "outbound_service_time", -5),
        ("stages", "safety_stock", "12"),
        ("demands", "critical_level", None),
        ("demands", "critical_level", -1e308),
        ("stages", "safety_stock", 1e16),
        ("stages", "safety_stock", 10**400),  # (math.isfinite of it: OverflowError, exit 1)
    ],
)
def test_simulate_reads_result_numbers_strictly(gsm_result, tmp_path, capsys, table, key, value):
    """(audit) ``optim simulate RESULT`` read the result's tables without the gate: a service
    time written as text or a boolean was converted, 0.5 floored to 0 and -5 simulated
    ("3 of 3 targets met"), a null critical level read as 0 (a miss reported for a level
    nobody gave). Now exit 2 naming the file, the line and the field."""
    doc = json.loads(json.dumps(gsm_result))
    doc[table][1][key] = value
    path = tmp_path / "result.json"
    path.write_text(json.dumps(doc, indent=1))
    lines = path.read_text().splitlines()
    start = _line_of(path, f'"{table}": [')
    line = next(k for k in range(start, len(lines) + 1) if f'"{key}": ' in lines[k - 1])
    line = next(  # the second record's field
        k for k in range(line + 1, len(lines) + 1) if f'"{key}": ' in lines[k - 1]
    )
    out = tmp_path / "sim.csv"
    _refused(
        capsys,
        ["simulate", path, "--periods", 50, "--out", out],
        f"{path} line {line}",
        f"{table}[1].{key}",
        "allowed",
        out=out,
    )


# ----------------------------------------------------------------- planning folders
def _drop_column(path: Path, column: str) -> None:
    rows = [r.split(",") for r in path.read_text().splitlines()]
    k = rows[0].index(column)
    path.write_text("\n".join(",".join(r[:k] + r[k + 1 :]) for r in rows) + "\n")


def _replace_cell(path: Path, line: int, column: str, value: str) -> None:
    rows = path.read_text().splitlines()
    cells = rows[line - 1].split(",")
    cells[rows[0].split(",").index(column)] = value
    rows[line - 1] = ",".join(cells)
    path.write_text("\n".join(rows) + "\n")


def _plan_refused(capsys, copy: Path, tmp_path: Path, *words: str) -> str:
    out = tmp_path / "out"
    message = _refused(capsys, ["plan", copy, "--out", out, "--quiet"], *words, out=out)
    assert _refused(capsys, ["validate", copy], *words) == message
    return message


def test_history_without_location_names_history_csv(folder, tmp_path, capsys):
    copy = shutil.copytree(folder, tmp_path / "bad")
    _drop_column(copy / "history.csv", "location")
    message = _plan_refused(capsys, copy, tmp_path, "history.csv line 1", "no location column")
    assert "'all'" not in message


@pytest.mark.parametrize(
    ("column", "value", "words"),
    [
        ("quantity", "abc", ["'abc'", "not a number"]),
        ("quantity", "True", ["'True'"]),
        ("quantity", "1e308", ["too large"]),
        ("date", "", ["(empty)", "not a date"]),
        ("date", "2099-01-01", ["'2099-01-01'", "one week"]),
        ("item", "", ["(empty)"]),
        ("item", "SKU-99999", ["'SKU-99999'", "items.csv"]),
        ("customer", "", ["(empty)"]),
    ],
)
def test_orders_csv_errors_name_orders_csv(folder, tmp_path, capsys, column, value, words):
    copy = shutil.copytree(folder, tmp_path / "bad")
    _replace_cell(copy / "orders.csv", 4, column, value)
    message = _plan_refused(capsys, copy, tmp_path, f"orders.csv line 4, column {column}", *words)
    assert "history" not in message.split(";")[0]


def _first_customer(folder: Path) -> str:
    return (folder / "history.csv").read_text().splitlines()[1].split(",")[2]


@pytest.mark.parametrize(
    ("pins_csv", "yaml_pins", "words"),
    [
        ("C9999,strategic\n", None, ["pins.csv line 2, column customer", "'C9999'"]),
        ("{c},strategic\n{c},standard\n", None, ["pins.csv line 3, column segment", "line 2"]),
        (None, "missing", ["plan.yaml line", "pins.C9999", "history.csv"]),
    ],
    ids=["unknown-customer", "twice", "yaml-unknown-customer"],
)
def test_pins_are_checked_against_the_history_and_each_other(
    folder, tmp_path, capsys, pins_csv, yaml_pins, words
):
    """(audit) A pin naming a customer without history passed ``validate`` and failed in the
    segmentation step naming no file ("overrides names customer"); a customer pinned twice
    in pins.csv silently took the last pin (pins.csv over plan.yaml is the stated rule, its
    overrides are listed: tests/test_planning_pins.py)."""
    copy = shutil.copytree(folder, tmp_path / "bad")
    customer = _first_customer(copy)
    if pins_csv is not None:
        (copy / "pins.csv").write_text("customer,segment\n" + pins_csv.format(c=customer))
    if yaml_pins is not None:
        pin = {"C9999": "strategic"} if yaml_pins == "missing" else {customer: yaml_pins}
        plan = yaml.safe_load((copy / "plan.yaml").read_text())
        (copy / "plan.yaml").write_text(yaml.safe_dump(plan | {"pins": pin}, sort_keys=False))
    _plan_refused(capsys, copy, tmp_path, *words)


@pytest.mark.parametrize(
    ("argv", "words"),
    [
        (["--pin", "C9999=strategic"], ["--pin C9999=strategic", "history.csv", "allowed"]),
        (["--pin", "{c}=platinum"], ["=platinum", "'platinum'", "allowed: standard"]),
        (["--pins", "{pins}"], ["pins.csv line 3", "C9999"]),
        (["--pins", "{twice}"], ["line 3, column segment", "on line 2"]),
    ],
)
def test_command_line_pins_name_where_they_were_written(folder, tmp_path, capsys, argv, words):
    """(audit) ``optim plan --pin`` / ``--pins`` for an unknown customer or segment failed in
    the segmentation step as "overrides names customer ..."; a customer twice in a --pins file
    took the last pin. Now checked against the folder before any work, naming the option or
    the file line; ``optim segment`` names them too."""
    customer = _first_customer(folder)
    (tmp_path / "pins.csv").write_text(f"customer,segment\n{customer},strategic\nC9999,standard\n")
    (tmp_path / "twice.csv").write_text(
        f"customer,segment\n{customer},strategic\n{customer},standard\n"
    )
    argv = [
        a.format(c=customer, pins=tmp_path / "pins.csv", twice=tmp_path / "twice.csv")
        for a in argv
    ]
    out = tmp_path / "out"
    _refused(capsys, ["plan", folder, "--out", out, "--quiet", *argv], *words, out=out)
    # optim segment: the same place, and what is allowed (audit: its messages spoke of
    # "overrides names customer 'C9999'" / "overrides['C1'] = 'platinum'" and allowed nothing)
    message = _refused(capsys, ["segment", folder / "history.csv", *argv], *words[:1], "allowed")
    assert "overrides" not in message


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("", ["receipts.csv", "empty"]),  # was exit 1
        ("{h}Plant,2024-03-01,2024-03-10,40\n\nPlant,2024-03-01,2024-03-10,-40\n", ["line 4"]),
        (
            "lane,order_date,receipt_date,quantity,quantity\nPlant,2024-03-01,2024-03-10,4,5\n",
            ["twice"],
        ),
        ("{h}Plant,2024-03-01,2024-03-10,1e300\n", ["line 2", "'1e300'", "1e12"]),
        ("{h}Plant,2024-03-01,2099-03-10,40\n", ["line 2", "2099-03-10", "366 days"]),
    ],
    ids=["empty", "blank-line", "column-twice", "huge", "year-2099"],
)
def test_receipts_mistakes(folder, tmp_path, capsys, text, words):
    """(audit) receipts.csv was read past the input gate: an empty file ended in exit 1, a
    blank line put later rows one line short, a second quantity column was taken silently, a
    quantity of 1e300 and a receipt 75 years after its order were planned."""
    copy = shutil.copytree(folder, tmp_path / "bad")
    (copy / "receipts.csv").write_text(text.format(h="lane,order_date,receipt_date,quantity\n"))
    _plan_refused(capsys, copy, tmp_path, "receipts.csv", *words)


def test_stray_files_receipt_lanes_and_the_input_hash(folder, tmp_path, capsys):
    """(audit) A misspelt ``supplies.csv`` was ignored (the run planned with planned stock); a
    receipts lane naming no stage planned nothing without a word; receipts.csv was not in
    the input hash, so runs with other lead times showed the same hash."""
    from optim.planning.folder import read_folder

    copy = shutil.copytree(folder, tmp_path / "bad")
    (copy / "supplies.csv").write_text("item,location,quantity\n")
    _plan_refused(capsys, copy, tmp_path, "'supplies.csv'", "did you mean 'supply.csv'")
    (copy / "supplies.csv").unlink()
    rows = "lane,order_date,receipt_date,quantity\nPlant,2024-03-01,2024-03-10,40\n"
    (copy / "receipts.csv").write_text(rows)
    before = read_folder(copy)
    assert "receipts.csv" in before.source["files"]
    assert not any("receipts:" in n for n in before.notes)
    (copy / "receipts.csv").write_text(rows + "Planty,2024-03-01,2024-03-12,40\n")
    after = read_folder(copy)
    assert after.source["sha256"] != before.source["sha256"]
    (note,) = [n for n in after.notes if n.startswith("receipts:")]
    assert "Planty" in note and "receipts.csv line 3" in note


@pytest.mark.parametrize("start", ["2023-01-02", "2030-01-07"])
def test_plan_start_outside_the_window(folder, tmp_path, capsys, start):
    copy = shutil.copytree(folder, tmp_path / "bad")
    plan = yaml.safe_load((copy / "plan.yaml").read_text())
    plan["plan_start"] = start
    (copy / "plan.yaml").write_text(yaml.safe_dump(plan, sort_keys=False))
    line = _line_of(copy / "plan.yaml", "plan_start:")
    _plan_refused(
        capsys,
        copy,
        tmp_path,
        f"plan.yaml line {line}, field plan_start",
        start,
        "after the last history line",
    )


def test_service_days_that_round_alike_are_warned():
    """Raising a promise from 3 to 6 days changes nothing in weekly periods: said, per
    segment, and the segments that plan alike are named together."""
    from optim.planning.pipeline import _service_time_notes
    from optim.segmentation import PolicyTable, default_policy

    doc = default_policy().model_dump(mode="json")
    doc["segments"]["strategic"]["max_service_time_days"] = 7.0
    doc["segments"]["standard"]["max_service_time_days"] = 6.0
    notes = _service_time_notes(PolicyTable.model_validate(doc), "W")
    assert any(
        "max_service_time_days 6 of 'standard'" in n and "from 0 to 6 days plan alike" in n
        for n in notes
    ), notes
    assert not any("of 'strategic' is not a whole" in n for n in notes)
    together = [n for n in notes if "all plan as 0 period(s)" in n]
    assert len(together) == 1 and "standard (6 days)" in together[0]
    doc["segments"]["standard"]["max_service_time_days"] = 1.0  # r12r: it said "(1 days)"
    notes = _service_time_notes(PolicyTable.model_validate(doc), "W")
    assert any("standard (1 day)" in n for n in notes) and not any("1 days" in n for n in notes)


# ----------------------------------------------------------------- options and batch
@pytest.mark.parametrize(
    "argv",
    [
        ["batch", GSM, "--workers", "0"],
        ["batch", GSM, "--time-limit", "-1"],
        ["batch", GSM, "--time-limit", "nan"],
        ["batch", GSM, "--demand", "inf"],
        ["batch", GSM, "--demand", "-1"],
        ["batch", CAPACITY, "--capacity-cut", "150"],
        ["forecast", "{history}", "--jobs", "0"],
        ["forecast", "{history}", "--horizon", "0"],
        ["forecast", "{history}", "--horizon", "20000"],  # (audit) was exit 1 past year 2262
        ["forecast", "{history}", "--level", "1"],
        ["forecast", "{history}", "--origins", "1"],
        ["review", "{history}", "--window", "0"],
        ["review", "{history}", "--bucket", "0"],
        ["simulate", "r.json", "--replications", "0"],
        ["simulate", "r.json", "--workers", "0"],
        ["plan", "{folder}", "--time-limit", "nan"],
        ["plan", "{folder}", "--seed", "-1"],
        ["demo", "--threads", "300"],
        ["solve", GSM, "--threads", "x"],
        ["solve", GSM, "--mip-gap", "nan"],
        ["solve", GSM, "--time-limit", "inf"],
    ],
    ids=lambda argv: " ".join(str(a) for a in (argv[0], *argv[-2:])),
)
def test_every_numeric_option_is_checked(folder, tmp_path, capsys, argv):
    option, value = argv[-2:]
    argv = [str(a).format(history=folder / "history.csv", folder=folder) for a in argv]
    out = tmp_path / "out"
    _refused(capsys, [*argv, "--out", out], option.lstrip("-"), value, out=out)


@pytest.mark.parametrize("example", [GSM, CAPACITY])
def test_batch_scenarios_of_every_kind(tmp_path, capsys, example):
    """A what-if of a safety-stock or capacity document runs (it was refused as "not a JSON
    document"); factor 1 gives the bytes of `optim solve`."""
    out = tmp_path / "b"
    assert main(["batch", str(example), "--demand", "1", "--out", str(out), "--quiet"]) == 0
    (result,) = out.glob("*.result.json")
    solo = tmp_path / "solo.json"
    assert main(["solve", str(example), "--out", str(solo), "--quiet"]) == 0
    assert result.read_bytes() == solo.read_bytes()
    doubled = tmp_path / "d"
    assert main(["batch", str(example), "--demand", "2", "--out", str(doubled), "--quiet"]) == 0
    (twice,) = doubled.glob("*.result.json")
    assert json.loads(twice.read_text())["objective"] > json.loads(solo.read_text())["objective"]
    capsys.readouterr()


def test_history_and_shipments_from_standard_input(folder, tmp_path, capsys, monkeypatch):
    """(audit) Item 6's ``-`` for standard input: ``optim segment -`` and ``optim forecast -``
    said "history file '-' does not exist", ``optim review -`` named the input "-" and
    history errors from standard input said "row" instead of the line."""
    import io
    import sys

    history = (folder / "history.csv").read_bytes()

    def stdin(data: bytes) -> None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))

    stdin(history)
    assert main(["segment", "-", "--out", str(tmp_path / "seg")]) == 0
    capsys.readouterr()
    assert (tmp_path / "seg" / "customers.csv").is_file()
    stdin(b"date,customer,item,quantity,unit_price\n2025-01-06,C1,I1,5,2\n2025-01-13,C1,I1,x,2\n")
    _refused(capsys, ["segment", "-"], "standard input line 3, column quantity", "'x'")
    stdin(
        b"customer,item,date,quantity,shipped_quantity,ship_date\nC1,I1,2025-01-06,5,5,2025-01-06\n"
    )
    _refused(capsys, ["review", "-"], "standard input line 1", "allowed")


# ----------------------------------------------------------------- messages: file lines
HEADER = "date,customer,item,quantity,unit_price\n"


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (HEADER + "2025-01-06,C1,I1,5,2\n\n2025-01-13,C1,I1,abc,2\n", 4, ["'abc'"]),
        (HEADER + '2025-01-06,"C\n1",I1,5,2\n2025-01-13,C1,I1,abc,2\n', 4, ["'abc'"]),
        ((HEADER + "2025-01-06,C1,I1,5,2\n2025-01-13,C1,I1,abc,2\n").replace("\n", "\r\n"), 3, []),
        ("\ufeff" + HEADER + "2025-01-06,C1,I1,5,2\n2025-01-13,C1,I1,abc,2\n", 3, ["'abc'"]),
        (HEADER + "2025-01-06,C1,I1,5,2\n2025-01-13,C1\n", 3, ["quantity", "(empty)"]),
        (HEADER + '2025-01-06,C1,I1,5,2\n2025-01-13,"C1,I1,5,2\n', 3, ["closing quote"]),
        (HEADER + "2025-01-06,C1,I1,5,2\n2025-01-13,C1,I1,5,2,9\n", 3, ["same number of cells"]),
    ],
    ids=["blank", "quoted-break", "crlf", "bom", "truncated", "open-quote", "extra-cell"],
)
def test_csv_errors_name_the_file_line(tmp_path, capsys, text, line, words):
    path = tmp_path / "history.csv"
    path.write_bytes(text.encode("utf-8"))
    out = tmp_path / "seg"
    _refused(capsys, ["segment", path, "--out", out], f"history.csv line {line}", *words, out=out)


@pytest.mark.parametrize("segment", ["strategic", "standard", "integrated", "float"])
def test_policy_yaml_error_names_the_segment_and_its_line(folder, tmp_path, capsys, segment):
    """(audit) ``strategic``'s service_level 99.5 in policy.yaml was reported as
    ``segments.service_level`` on the line of ``segments:``."""
    from optim.segmentation import default_policy

    doc = default_policy().model_dump(mode="json")
    doc["segments"] = {(segment if k == "standard" else k): v for k, v in doc["segments"].items()}
    doc["segments"][segment]["service_level"] = 99.5
    copy = shutil.copytree(folder, tmp_path / "bad")
    path = copy / "policy.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    lines = path.read_text().splitlines()
    start = lines.index(f"  {segment}:") + 1
    line = next(k for k in range(start, len(lines) + 1) if "99.5" in lines[k - 1])
    words = [f"line {line}", f"segments.{segment}.service_level", "99.5"]
    _plan_refused(capsys, copy, tmp_path, "policy.yaml", *words)
    shipped = tmp_path / "shipments.csv"
    shipped.write_text(
        "customer,item,date,quantity,shipped_quantity,ship_date\nC1,I1,2025-01-06,5,5,2025-01-06\n"
    )
    _refused(capsys, ["review", shipped, "--policy", path], "policy.yaml", *words)


# ----------------------------------------------------------------- capacity CSV folders
CAPACITY_CSV = {
    "periods.csv": "period\nW1\nW2\nW3\n",
    "resources.csv": "id,capacity\nline,10\n",
    "capacity.csv": "resource,period,capacity\nline,W2,12\n",
    "products.csv": "id,holding_cost,usage_line\nA,1,1\n",
    "segments.csv": "name,priority,backlog_cost,lost_sales_cost,max_backlog_periods\n"
    "key,1,5,20,1\nspot,2,0,8,0\n",
    "demand.csv": "product,segment,period,quantity\nA,key,W3,15\nA,spot,W1,5\n"
    "A,spot,W2,5\nA,spot,W3,10\n",
}


def _capacity_folder(root: Path, **files: str) -> Path:
    folder = root / "peak"
    folder.mkdir(parents=True)
    for name, text in (CAPACITY_CSV | {f"{k}.csv": v for k, v in files.items()}).items():
        (folder / name).write_text(text)
    return folder


def test_capacity_csv_folder_is_valid(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["solve", str(_capacity_folder(tmp_path)), "--out", str(out), "--quiet"]) == 0
    assert json.loads(out.read_text())["status"] == "optimal"


@pytest.mark.parametrize(
    ("file", "text", "words"),
    [
        # schema errors of the document built from the folder: the file, line, column, value
        ("resources", "id,capacity\nline,-10\n", ["line 2, column capacity", "'-10'"]),
        ("capacity", "resource,period,capacity\nline,W2,-4\n", ["line 2, column capacity"]),
        ("capacity", "resource,period,capacity\nline,W2,1e13\n", ["'1e13'", "1e12"]),
        ("products", "id,holding_cost,usage_line\nA,-1,1\n", ["line 2, column holding_cost"]),
        ("products", "id,holding_cost,usage_line\nA,1,-1\n", ["line 2, column usage_line"]),
        ("products", "id,holding_cost,usage_line\nA,1,0\n", ["line 2, column id", "no resource"]),
        (
            "segments",
            CAPACITY_CSV["segments.csv"].replace("key,1,", "key,0,"),
            ["column priority"],
        ),
        ("segments", CAPACITY_CSV["segments.csv"].replace("key,1,", "key,1.5,"), ["'1.5'"]),
        ("segments", CAPACITY_CSV["segments.csv"].replace("spot,2,0,", "spot,2,-1,"), ["line 3"]),
        (
            "demand",
            CAPACITY_CSV["demand.csv"].replace("W1,5", "W1,-5"),
            ["line 3, column quantity"],
        ),
        ("demand", CAPACITY_CSV["demand.csv"].replace("W1,5", "W1,"), ["line 3", "(empty)"]),
        ("periods", "period\nW1\nW3\nW2\n", ["line 4, column period", "not later"]),
        # unknown references
        (
            "capacity",
            "resource,period,capacity\nlin,W2,4\n",
            ["column resource", "'lin'", "(line)"],
        ),
        ("capacity", "resource,period,capacity\nline,W9,4\n", ["column period", "'W9'"]),
        ("demand", CAPACITY_CSV["demand.csv"].replace("spot,W2", "vip,W2"), ["line 4", "'vip'"]),
        (
            "demand",
            CAPACITY_CSV["demand.csv"].replace("A,spot,W1", "B,spot,W1"),
            ["line 3", "'B'"],
        ),
        ("products", "id,holding_cost,usage_oven\nA,1,1\n", ["line 1, column usage_oven"]),
        # repeated key rows, empty ids, rows that would change nothing
        ("capacity", "resource,period,capacity\nline,W2,4\nline,W2,5\n", ["line 3", "line 2"]),
        ("demand", CAPACITY_CSV["demand.csv"] + "A,key,W3,2\n", ["line 6", "repeats line 2"]),
        ("resources", "id,capacity\nline,10\nline,5\n", ["line 3, column id", "line 2"]),
        ("periods", "period\nW1\nW2\nW2\n", ["line 4, column period", "repeats line 3"]),
        ("segments", CAPACITY_CSV["segments.csv"] + "key,3,0,1,0\n", ["line 4", "repeats"]),
        ("products", "id,holding_cost,usage_line\n,1,1\n", ["line 2, column id", "(empty)"]),
        ("capacity", "resource,period,capacity\nline,W2,\n", ["line 2, column capacity"]),
        ("demand", "product,segment,period,quantity\n", ["line 1", "no rows"]),
        # cells that are not numbers, columns nobody reads, settings
        ("capacity", "resource,period,capacity\nline,W2,four\n", ["'four' is not a number"]),
        ("resources", "id,capacity\nline,true\n", ["'true' is not a number"]),
        (
            "segments",
            CAPACITY_CSV["segments.csv"].replace("max_backlog", "max_backlg"),
            ["line 1"],
        ),
        ("settings", "key,value\nobjective,fast\n", ["line 2, column value", "'fast'"]),
        ("settings", "key,value\nlot_sizing,maybe\n", ["line 2, column value", "'maybe'"]),
        ("settings", "key,value\nobjective,cost\nobjective,lexicographic\n", ["line 3"]),
        # usage.csv: references, repeats, a unit_cost that differs within its routing
        ("usage", "product,resource,hours\nA,oven,1\n", ["column resource", "'oven'"]),
        ("usage", "product,resource,hours\nA,line,1\nA,line,2\n", ["line 3", "repeats line 2"]),
        ("usage", "product,resource,hours\nA,line,\n", ["line 2, column hours", "(empty)"]),
        (
            "usage",
            "product,resource,hours,unit_cost\nA,line,1,2\nA,press,1,3\n",
            ["line 3, column unit_cost", "line 2"],
        ),
    ],
)
def test_capacity_csv_errors_name_the_file_line_and_column(tmp_path, capsys, file, text, words):
    """Capacity CSV folders: every error, also the schema errors found once the folder is
    read, names the file, the line as written, the column, the value and what is allowed,
    exit 2, nothing written (audit: these named the document field, ``periods[3]``,
    ``resources[0].capacity``; a repeated capacity.csv row, an empty capacity cell, a
    misspelt column, ``lot_sizing: maybe``, a repeated setting and a unit_cost without a
    routing column were taken silently)."""
    files = {file: text}
    if file == "usage":
        files["products"] = "id,holding_cost\nA,1\n"
        files["resources"] = "id,capacity\nline,10\npress,4\n"
    folder = _capacity_folder(tmp_path, **files)
    out = tmp_path / "r.json"
    _refused(capsys, ["solve", folder, "--out", out], f"{file}.csv line", *words, out=out)
    message = _refused(capsys, ["validate", folder], f"{file}.csv")
    assert "allowed" in message or "not later" in message or "no resource" in message


def test_capacity_csv_unit_cost_without_routing_column_is_kept(tmp_path):
    """usage.csv's unit_cost on a product's only routing was dropped when the file had no
    routing column (audit): it is kept, as in the document form."""
    import optim

    usage = "product,resource,hours,unit_cost\nA,line,1,0.5\n"
    files = {"usage": usage, "products": "id,holding_cost\nA,1\n"}
    inst = optim.load(_capacity_folder(tmp_path, **files))
    assert inst.products[0].routings[0].unit_cost == 0.5
    plain = optim.load(_capacity_folder(tmp_path / "plain", products=CAPACITY_CSV["products.csv"]))
    made = optim.solve(inst).table("production")["quantity"].sum()
    assert optim.solve(inst).objective == pytest.approx(optim.solve(plain).objective + 0.5 * made)


# ----------------------------------------------------------------- rationing CSV folders
RATIONING_CSV = {
    "supply": "item,location,quantity\nWIDGET,DC1,100\nWIDGET,DC2,30\n",
    "segments": "name,tier,fair_share\nstrategic,1,proportional\nstandard,2,proportional\n",
    "demand": "id,customer,item,quantity,segment,locations\nL1,Acme,WIDGET,60,strategic,DC1\n"
    "L2,Beta,WIDGET,40,strategic,\nL3,Gamma,WIDGET,50,standard,DC2;DC1\n",
}
DEMAND_CSV = RATIONING_CSV["demand"]


@pytest.mark.parametrize(
    ("file", "text", "words"),
    [
        (
            "demand",
            DEMAND_CSV.replace("40,strategic", "-40,strategic"),
            ["line 3, column quantity"],
        ),
        (  # a blank line and a quoted line break: the line as the planner sees it
            "demand",
            DEMAND_CSV.replace("\nL2,Beta", '\n\nL2,"Be\nta"').replace("40,strat", "-40,strat"),
            ["line 4, column quantity", "(id 'L2')"],
        ),
        ("demand", DEMAND_CSV.replace("40,strategic", "40,strat"), ["line 3, column segment"]),
        ("demand", DEMAND_CSV.replace("DC2;DC1", "DC3;DC1"), ["line 4, column locations", "DC3"]),
        ("demand", DEMAND_CSV.replace("L2,", ","), ["line 3, column id", "(empty)"]),
        ("demand", DEMAND_CSV.replace("L2,", "L1,"), ["line 3", "duplicate id 'L1'"]),
        ("demand", DEMAND_CSV.replace("id,customer", "ID,customer"), ["line 1, column ID"]),
        ("supply", RATIONING_CSV["supply"] + "WIDGET,DC1,5\n", ["line 4", "duplicate"]),
        ("supply", RATIONING_CSV["supply"].replace("30", "-30"), ["line 3, column quantity"]),
        ("segments", RATIONING_CSV["segments"].replace("standard,2", "standard,3"), ["line 3"]),
        ("previous", "demand_id,location,quantity\nL9,DC1,5\n", ["line 2, column demand_id"]),
        ("lanes", "location,customer,cost\nDC1,Acme,-1\n", ["line 2, column cost"]),
    ],
)
def test_rationing_csv_errors_name_the_file_line_and_column(tmp_path, capsys, file, text, words):
    """Rationing CSV folders (audit): errors named the table row counted from 0
    (``demand[1] (id 'L2')`` for file line 3) and an empty cell as ``nan``; the CLI names
    the file, the line as written and the column, for the whole and the split run. Exit 2,
    nothing written."""
    folder = tmp_path / "week"
    folder.mkdir()
    for name, body in (RATIONING_CSV | {file: text}).items():
        (folder / f"{name}.csv").write_text(body)
    out = tmp_path / "r.json"
    message = _refused(
        capsys, ["solve", folder, "--out", out], f"{file}.csv line", *words, out=out
    )
    assert "nan" not in _refused(capsys, ["validate", folder], f"{file}.csv line", *words)
    if file in ("demand", "previous") and "line 1," not in message:  # the split run alike
        tables = tmp_path / "tables"
        argv = ["solve", folder, "--split", "--tables", tables]
        assert _refused(capsys, argv, f"{file}.csv line", out=tables) == message


# ----------------------------------------------------------------- resources
def test_5000_stage_trees_are_proven():
    """The tree DP at 5,000+ stages: a 50 × 100 distribution network and a random tree are
    proven optimal in seconds (the 5,000-stage serial chain: test_gsm_serial)."""
    from optim.instances.generators.gsm import distribution, random_tree
    from optim.models.safety_stock.solve import solve
    from optim.params import SolveParams
    from optim.status import Status

    for inst in (distribution(50, 100, 0), random_tree(5000, 0)):
        assert len(inst.stages) >= 5000
        start = time.perf_counter()
        res = solve(inst, SolveParams(time_limit=60))
        assert res.status is Status.OPTIMAL and res.info["method"] == "dp"
        assert res.bound == res.objective
        assert time.perf_counter() - start < 30  # ~0.2 CPU s each on an idle machine


# ----------------------------------------------------------------- rationing magnitudes
def _widget_tier_one(quantity: float, params=None):
    """The weekly example with strategic line L1 (DC1 only) and WIDGET's stock at DC1 both
    raised to ``quantity``: tier 1 (L1, L2 = 40) is short by exactly 10 units (DC2 holds 30),
    so tier 2 gets no WIDGET and tier 1 shares ``quantity + 30`` in proportion."""
    import optim

    doc = json.loads(RATIONING.read_text())
    doc["demand"][0]["quantity"] = quantity
    doc["supply"][0]["quantity"] = quantity
    return optim.solve(optim.from_dict(doc), params)


def _assert_exact_tier_one(res, quantity: float) -> None:
    lines = res.tables["lines"].set_index("demand_id")["allocated"]
    share = (quantity + 30) / (quantity + 40)
    from optim.models.rationing.solve import exponent_of

    # the grid: 1e-6 units up to 1e9, then units of 10^k (1e-3 units at 1e12)
    quantum = 1e-6 * 10.0 ** exponent_of(quantity)
    assert abs(lines["L2"] - 40 * share) <= quantum
    assert abs(lines["L1"] + lines["L2"] - (quantity + 30)) <= 2 * quantum  # each on the grid
    assert lines[["L3", "L4", "L5"]].sum() == 0  # tier 1 is short: lower tiers get no WIDGET


@pytest.mark.parametrize("quantity", [1e6, 5e7, 1e8])
def test_a_large_line_beside_small_ones_is_rationed_exactly(quantity):
    """A 1e8-unit line beside lines of 20..60 units: a tier short by 10 units was counted
    as served in full (the shortfall was under 1e-7 of its total), fixed at its requests
    beyond the supply, and the next stage reported "infeasible" (exit 3)."""
    res = _widget_tier_one(quantity)
    assert res.has_solution(), res.message
    _assert_exact_tier_one(res, quantity)


def test_a_stage_lp_failure_is_not_called_infeasible(monkeypatch):
    """A stage LP that ends infeasible (a bug: the staged LPs run only within their stated
    span, ``waterfill.LP_SPAN``) gives an error that says so and names the widest span
    (exit 1), never "infeasible" (exit 3), which blames the input: every rationing instance
    has an allocation. At 5e8 beside 20, ``--method lp`` is refused before solving (exit 2)
    instead of failing numerically, as it did."""
    from optim.errors import SpanBeyondMethod
    from optim.models.rationing import engine
    from optim.params import SolveParams
    from optim.status import Status

    with pytest.raises(SpanBeyondMethod, match=r"a span of 2\.5e\+07"):
        _widget_tier_one(5e8, SolveParams(method="lp"))

    def infeasible(*args, **kwargs):
        raise engine.EngineError(Status.INFEASIBLE, "HiGHS: Infeasible")

    monkeypatch.setattr(engine, "allocate", infeasible)
    res = _widget_tier_one(5e3, SolveParams(method="lp"))
    assert res.status is Status.ERROR
    assert "failed numerically" in res.message and "not infeasible" in res.message
    assert "span 20 to 5000 units, a ratio of 2.5e+02, within what the staged LPs" in (res.message)
    assert res.message.endswith("a bug, please report the instance")


@pytest.mark.parametrize("quantity", [2e8, 5e8, 1e9, 2e9, 5e9, 1e10, 1e11, 3e11, 1e12])
def test_mixed_magnitudes_up_to_1e12_are_exact(quantity):
    """One line of 2e8..1e12 units beside lines of 20 failed numerically in the fair-share
    filling (unbounded / no progress), and at 1e12 the answer was wrong: tier 2 got DC2's 30
    units while tier 1 was short (a tolerance relative to the tier total called 10 units
    short "served"). The flow method now works in whole quanta of the grid: exact, the
    closed form checked on the instance's grid (1e-6 units up to 1e9, 10^(k-6) above)."""
    res = _widget_tier_one(quantity)
    assert res.has_solution(), res.message
    _assert_exact_tier_one(res, quantity)


def test_block_ipm_memory_is_estimated_before_allocation(monkeypatch):
    """The capacity model's block interior point holds P × T × T dense blocks: a 65 kB
    document of 1,000 products × 1,000 periods asked for 7.45 GiB per copy (MemoryError, exit
    1). The need is estimated first; beyond the memory limit HiGHS solves the sparse LP."""
    import optim.models.capacity.solve as capacity_module
    from optim.instances.generators.capacity import generate
    from optim.models.capacity import blockipm
    from optim.models.capacity.solve import solve
    from optim.params import SolveParams
    from optim.status import Status

    inst = generate(seed=4, n_periods=10, n_products=30, n_resources=5, n_segments=3)
    monkeypatch.setattr(capacity_module, "BLOCK_IPM_PRODUCTS", 10)
    monkeypatch.setattr(capacity_module, "BLOCK_IPM_CAPACITY_ROWS", 50)
    monkeypatch.setattr(capacity_module, "LARGE_LP", 500)
    need = 4 * 8 * 30 * 10 * 10  # the estimate: four copies of 30 blocks of 10 × 10 floats
    monkeypatch.setattr(blockipm, "memory_limit", lambda: need)
    within = solve(inst, SolveParams(method="monolithic"))
    assert within.info["lp_algorithm"].startswith("block-angular interior point")
    monkeypatch.setattr(blockipm, "memory_limit", lambda: need - 1)
    beyond = solve(inst, SolveParams(method="monolithic"))
    assert "block" not in beyond.info["lp_algorithm"] and beyond.status is Status.OPTIMAL
    assert beyond.objective == pytest.approx(within.objective, rel=1e-6)


def test_capacity_memory_is_estimated_before_allocation(tmp_path, capsys):
    """(audit) A 190 kB capacity document of 3,000 products × 2,000 periods ran on, past
    1.4 GiB in its first 48 s on the way to about 11 GiB (12 million plan cells at ~950
    bytes each). The solve's need is estimated from the document's size and refused beyond
    the memory limit before anything is allocated; the bundled example is far below it."""
    from optim.models.capacity.solve import BASE_BYTES, BYTES_PER_CELL

    doc = json.loads(CAPACITY.read_text())
    doc["periods"] = [f"W{t}" for t in range(2000)]
    doc["products"] = [
        {"id": f"P{p}", "holding_cost": 1, "usage": {"line": 1}} for p in range(3000)
    ]
    doc["demand"] = [{"product": "P0", "segment": "key", "period": "W3", "quantity": 15}]
    path = tmp_path / "big.json"
    path.write_text(json.dumps(doc))
    out = tmp_path / "res.json"
    started = time.perf_counter()
    message = _refused(
        capsys, ["solve", path, "--out", out], "periods", "12,002,000 plan cells", "GiB",
        "OPTIM_MEMORY_LIMIT_GB", out=out,
    )  # fmt: skip
    assert time.perf_counter() - started < 10  # refused at once, not after a build
    assert f"{(BASE_BYTES + BYTES_PER_CELL * 12_002_000) / 2**30:,.1f} GiB" in message
    assert main(["solve", str(CAPACITY), "--out", str(out)]) == 0


@pytest.mark.parametrize("value", ["8GB", "nan", "-1", "0", "inf", "1e400"])
def test_a_memory_limit_variable_that_is_not_a_number_of_gib_is_exit_2(
    value, tmp_path, capsys, monkeypatch
):
    """``OPTIM_MEMORY_LIMIT_GB`` was parsed at import: ``8GB`` or ``nan`` ended every command
    as an internal error (exit 1), ``inf`` in an OverflowError, and ``-1`` refused every
    instance as needing more than "-1 GiB"."""
    week = DATA / "weekly_rationing.json"
    out = tmp_path / "res.json"
    monkeypatch.setenv("OPTIM_MEMORY_LIMIT_GB", value)
    message = _refused(capsys, ["solve", week, "--out", out], "$OPTIM_MEMORY_LIMIT_GB=", out=out)
    assert f"={value!r} is not a memory limit; allowed: a number of GiB > 0" in message
    assert "weekly_rationing" not in message  # the variable's fault, not the file's
    monkeypatch.setenv("OPTIM_MEMORY_LIMIT_GB", " 0.5 ")
    assert main(["solve", str(week), "--out", str(out)]) == 0


def test_rationing_memory_is_estimated_before_the_stages_allocate(tmp_path, capsys, monkeypatch):
    """(audit, r12r) A rationing week had no memory estimate: a CSV folder within the 4 GiB
    file cap of ~50 million lines would run into the machine's memory. Its need beyond the
    loaded week (``BYTES_PER_LINE`` / ``BYTES_PER_ARC``, measured to err low) is checked
    before the stages run; beyond the limit: exit 2 naming lines, pairs, GiB, the limit's
    variable and ``--split``. The limit is lowered here to the bundled week's need."""
    from optim.instances import gate
    from optim.models.rationing import solve as rationing_solve

    week = DATA / "weekly_rationing.json"
    need = rationing_solve.BYTES_PER_LINE * 8 + rationing_solve.BYTES_PER_ARC * 11
    out = tmp_path / "res.json"
    monkeypatch.setattr(gate, "MEMORY_LIMIT_BYTES", need - 1)
    _refused(
        capsys, ["solve", week, "--out", out], "demand: 8 order lines with 11 (line, location)",
        "GiB", "OPTIM_MEMORY_LIMIT_GB", "--split", out=out,
    )  # fmt: skip
    monkeypatch.setattr(gate, "MEMORY_LIMIT_BYTES", need)
    assert main(["solve", str(week), "--out", str(out)]) == 0


# ------------------------------------------------------------- acceptance audit (session 7)
def test_a_time_zone_on_a_later_line_names_that_line_and_both_zones(tmp_path, capsys):
    """(audit r12a) One order line with a time zone among lines without one blamed the
    first line (line 2, which has none) and counted every line as bad: a Series compared
    with None is unequal everywhere. Now the line with the zone is named, with both zones."""
    rows = [f"2025-01-{d:02d},C1,I1,5,2" for d in (6, 13, 20)]
    rows[1] = "2025-01-13T00:00+02:00,C1,I1,4,2"
    path = tmp_path / "history.csv"
    path.write_text("date,customer,item,quantity,unit_price\n" + "\n".join(rows) + "\n")
    out = tmp_path / "seg"
    message = _refused(
        capsys, ["segment", path, "--out", out], "history.csv line 3", "column date",
        "UTC+02:00", "first line (line 2) has none", out=out,
    )  # fmt: skip
    assert "bad lines" not in message  # the one line, not every line


def test_a_lead_time_beyond_the_memory_cap_names_its_own_line(tmp_path, capsys):
    """(audit r12a) ``lead_time: 1000000`` was refused naming the line of ``stages`` (4),
    not of the stage's lead_time (5)."""
    path = tmp_path / "big.json"
    path.write_text(GSM.read_text().replace('"lead_time": 3', '"lead_time": 1000000', 1))
    out = tmp_path / "res.json"
    _refused(
        capsys, ["solve", path, "--out", out], f"line {_line_of(path, '1000000')}:",
        "lead_time 1,000,000 at stage 'plant'", "GiB", out=out,
    )  # fmt: skip


def test_axis_ticks_keep_their_decimals():
    """(audit r12a) Axis ticks were formatted as whole numbers: the shortfall-cost axis of
    the demo (0..20 EUR) read 0, 2, 5, 8, 10 for ticks at 0, 2.5, 5, 7.5, 10."""
    from optim.planning.report import tick_label

    labels = [tick_label(x) for x in (0.0, 2.5, 7.5, 12_500.0, 0.25, -0.0, 1_234_567.0)]
    assert labels == ["0", "2.5", "7.5", "12,500", "0.25", "0", "1,234,567"]


def test_the_demo_states_what_optim_plan_states_of_the_same_input(tmp_path, monkeypatch):
    """(audit r12a) ``optim demo`` and ``optim plan OUT/input`` differed: the demo passed its
    example seed (2026) to the solvers as their seed, so rationing broke exact ties the
    other way (SKU-00125's two equal lines at R-03: 9/8 vs 8/9); its report had no input
    SHA-256; it did not say that 29 of 500 items get no stock plan (the note `optim plan`
    gives, issue 12's "500 items become 471 without saying so"); its plan.yaml stated no
    currency or units. Now the folder gives the same files byte for byte (README), the
    report names money and units, and the disrupted supply is an alert whose amount is the
    supply table's."""
    import hashlib

    import pandas as pd

    from optim.params import SolveParams
    from optim.planning import demo, read_folder

    out, again = tmp_path / "demo", tmp_path / "plan"
    seeds = []  # the solver seed each run solves with

    def small(seed, **_):  # `optim demo` on the small example
        return distributor_example(seed, **SMALL)

    def spied(data, params=None, **kwargs):
        seeds.append((params or SolveParams()).seed)
        return planned(data, params=params, **kwargs)

    planned = demo.planning.run
    monkeypatch.setattr(demo, "distributor_example", small)
    monkeypatch.setattr(demo.planning, "run", spied)
    assert main(["demo", "--seed", "4", "--out", str(out), "--quiet"]) == 0
    assert main(["plan", str(out / "input"), "--out", str(again), "--quiet"]) == 0
    assert seeds == [0, 0]  # the example's seed is not the solvers' (it was: [4, 0])
    first = json.loads((out / "manifest.json").read_text())["files"]
    second = json.loads((again / "manifest.json").read_text())["files"]
    assert {k for k in first if not k.startswith("input/")} == set(second)
    differ = [k for k in second if first[k]["sha256"] != second[k]["sha256"]]
    assert differ == []
    digest = json.loads((out / "manifest.json").read_text())["input"]["sha256"]
    html = (out / "report.html").read_text(encoding="utf-8")
    assert f"input SHA-256 {digest[:16]}" in html and "Money in EUR and quantities in pcs" in html
    assert (
        hashlib.sha256((out / "report.html").read_bytes()).hexdigest()
        == second["report.html"]["sha256"]
    )
    data = read_folder(out / "input")
    assert (data.currency, data.units) == ("EUR", "pcs")
    assert distributor_example(4, **SMALL).notes == data.notes
    alerts = pd.read_csv(out / "alerts.csv")
    disrupted = alerts[alerts["message"].str.startswith("disruption:")]
    supply = pd.read_csv(out / "rationing" / "supply.csv")
    lost = supply[supply["item"].isin(list(data.disruption))]
    missing = (lost["planned"] - lost["quantity"]).sum()
    assert missing > 0 and len(disrupted) == 1
    assert disrupted.iloc[0]["amount"] == missing and disrupted.iloc[0]["unit"] == "pcs"
    assert f"{missing:,.0f} pcs missing" in disrupted.iloc[0]["message"]


def test_items_without_history_are_noted_by_the_example_as_by_the_folder():
    """(audit r12a) The seeded example (``optim demo``) planned 471 of its 500 items without
    the note a planning folder gives (rule items_without_history: report)."""
    data = distributor_example(2026)
    assert len(data.notes) == 1 and data.notes[0].startswith("items: 29 of 500 items")


def test_a_disruption_of_items_with_stated_supply_is_noted(folder, tmp_path):
    """(audit r12a) plan.yaml's ``disruption`` scales planned stock only: an item whose stock
    supply.csv states kept its full quantity, silently. The reader now says so."""
    from optim.planning import read_folder

    copy = shutil.copytree(folder, tmp_path / "in")
    plan = yaml.safe_load((copy / "plan.yaml").read_text())
    orders = (copy / "orders.csv").read_text().splitlines()
    header = orders[0].split(",")
    item, location = header.index("item"), header.index("location")
    pairs = sorted({(r.split(",")[item], r.split(",")[location]) for r in orders[1:]})
    (copy / "supply.csv").write_text(
        "item,location,quantity\n" + "".join(f"{i},{loc},10\n" for i, loc in pairs)
    )
    plan["disruption"] = {pairs[0][0]: 0.5, **(plan.get("disruption") or {})}
    (copy / "plan.yaml").write_text(yaml.safe_dump(plan, sort_keys=False))
    hit = sorted({i for i, _ in pairs} & set(plan["disruption"]))
    (note,) = [n for n in read_folder(copy).notes if "disruption" in n]
    assert note.startswith(f"supply: {len(hit)} item(s) of plan.yaml disruption")
    assert "taken as written" in note and hit[0] in note
    del plan["disruption"]
    (copy / "plan.yaml").write_text(yaml.safe_dump(plan, sort_keys=False))
    assert not [n for n in read_folder(copy).notes if "disruption" in n]


def test_simulate_takes_what_solve_writes_at_the_inputs_largest_numbers(tmp_path, capsys):
    """(audit-in) A mean of 1e12 (the inputs' limit) gives base stocks above 1e12: `optim
    solve` wrote the result and `optim simulate` refused it ("allowed: a number >= 0")."""
    doc = json.loads(GSM.read_text())
    doc["demands"][0]["mean"] = 1e12
    (tmp_path / "big.json").write_text(json.dumps(doc))
    result = tmp_path / "result.json"
    assert main(["solve", str(tmp_path / "big.json"), "--out", str(result), "--quiet"]) == 0
    assert max(r["base_stock_level"] for r in json.loads(result.read_text())["stages"]) > 1e12
    assert main(["simulate", str(result), "--periods", "200", "--quiet"]) == 0, capsys.readouterr()
    assert "targets met" in capsys.readouterr().out
