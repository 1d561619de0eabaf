"""report.xlsx (issue 12): one sheet per table with the summary first, typed cells, frozen
bold headers, widths; every number read back (openpyxl, an independent reader) equals the
run's tables."""

from __future__ import annotations

import zipfile

import numpy as np
import pandas as pd
import pytest

from optim import planning
from optim.planning.distributor import distributor_example
from optim.precision import column_kind, rounded
from optim.workbook import workbook_tables


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    run = planning.run(distributor_example(9, n_items=40, n_customers=20, weeks=56))
    out = tmp_path_factory.mktemp("wb") / "out"
    paths = planning.write(run, out)
    return run, paths["workbook"]


def test_sheets_summary_first_and_numbers_equal_the_tables(written):
    """Every number equals the run's table as its CSV holds it (audit: cells held the full
    doubles, so Excel sums differed from the CSV's in the cents, and a non-whole quantity
    showed two decimals where the CSV has six)."""
    run, path = written
    sheets = pd.read_excel(path, sheet_name=None)
    tables = workbook_tables(run)
    assert list(sheets) == list(tables) and list(sheets)[:2] == ["summary", "alerts"]
    for name, table in tables.items():
        back = sheets[name]
        assert list(back.columns) == [str(c) for c in table.columns], name
        assert len(back) == len(table), name
        for col in table.columns:
            if pd.api.types.is_numeric_dtype(table[col]) and not pd.api.types.is_bool_dtype(
                table[col]
            ):
                expected = table[col].to_numpy(float)
                if table[col].dtype.kind == "f":
                    expected = rounded(expected, column_kind(str(col)))
                np.testing.assert_array_equal(
                    back[str(col)].to_numpy(float), expected, err_msg=f"{name}.{col}"
                )


def test_sheets_equal_the_csv_files(written):
    """A sheet and the CSV file of the same table hold the same numbers, bit for bit."""
    run, path = written
    out = path.parent
    sheets = pd.read_excel(path, sheet_name=None)
    pairs = {
        "peak production": "capacity/production.csv",
        "peak shipments": "capacity/shipments.csv",
        "stock stages": "safety_stock/stages.csv",
        "stock by segment": "safety_stock/stock_by_segment.csv",
        "segment summary": "segment_summary.csv",
        "short week allocations": "rationing/allocations.csv",
    }
    for sheet, csv in pairs.items():
        back, table = sheets[sheet], pd.read_csv(out / csv)
        assert list(back.columns) == list(table.columns), sheet
        for col in table.columns:
            if pd.api.types.is_float_dtype(table[col]):
                np.testing.assert_array_equal(
                    back[col].to_numpy(float), table[col].to_numpy(float), err_msg=sheet
                )
    summary = sheets["segment summary"].set_index("segment")
    expected = run.tables["segment_summary"].set_index("segment")
    assert summary["short_week_allocated"].to_dict() == expected["short_week_allocated"].to_dict()


def test_cells_are_typed_headers_frozen(written):
    _, path = written
    import openpyxl

    book = openpyxl.load_workbook(path)
    sheet = book["segment summary"]
    assert sheet.freeze_panes == "A2"
    assert sheet["A1"].font.bold
    header = [c.value for c in sheet[1]]
    rate = header.index("service_level_target") + 1
    cell = sheet.cell(row=2, column=rate)
    assert isinstance(cell.value, float) and cell.number_format == "0.0%"
    assert isinstance(sheet.cell(row=2, column=header.index("customers") + 1).value, int)
    assert sheet.column_dimensions["A"].width >= len("segment")
    with zipfile.ZipFile(path) as z:
        assert "2000-01-01" in z.read("docProps/core.xml").decode()


def test_critical_level_sheets_and_saving_facts(written):
    """Issue 10: the workbook carries the saving against max_z, the stock and simulated
    service per location and segment and the simulation itself; summary facts = tables."""
    run, path = written
    sheets = pd.read_excel(path, sheet_name=None)
    for name in ("stock vs max_z", "service by segment", "stock simulation",
                 "simulation precision"):  # fmt: skip
        assert name in sheets, name
    assert len(sheets["stock simulation"]) == len(run.tables["service_simulation"])
    facts = dict(zip(sheets["summary"]["what"], sheets["summary"]["value"], strict=True))
    versus = run.tables["stock_vs_max_z"].set_index("location").loc["total"]
    assert float(facts["safety stock: saving per week vs max_z"]) == pytest.approx(
        versus["saving_per_week"]
    )
    assert float(facts["safety stock: max_z cost per week"]) == pytest.approx(
        run.baseline.objective
    )
    assert int(facts["stock simulation: targets missed"]) == int(
        (~run.tables["service_simulation"]["meets_target"]).sum()
    )


def test_dates_are_dates_and_summary_facts_have_formats(written):
    """(audit) The periods were text cells ('2025-07-07') and the summary's plan start a bare
    serial number (45845, format General); the summary's gap, share and money facts had no
    format (a gap of 8.6e-13 shown as such)."""
    import datetime as dt

    import openpyxl

    run, path = written
    book = openpyxl.load_workbook(path)
    sheet = book["peak production"]
    header = [c.value for c in sheet[1]]
    cell = sheet.cell(row=2, column=header.index("period") + 1)
    assert isinstance(cell.value, dt.datetime) and cell.number_format == "yyyy-mm-dd"
    assert cell.value.strftime("%Y-%m-%d") == str(run.capacity.tables["production"]["period"][0])
    facts = {r[0].value: r[1] for r in book["summary"].iter_rows(min_row=2)}
    start = facts["plan start"]
    assert start.value == run.data.plan_start.to_pydatetime()
    assert start.number_format == "yyyy-mm-dd"
    assert facts["peak plan: gap"].number_format == "0.0%"
    assert facts["safety stock: saving share vs max_z"].number_format == "0.0%"
    # the example states EUR (plan.yaml currency); without it: test_currency_and_units_...
    assert facts["safety stock: max_z cost per week"].number_format == '#,##0.00 "EUR"'
    assert facts["items"].number_format == "#,##0"
    # each solve's objective is named by what it is: the costs are money (were "objective",
    # shown as 5,486.820175)
    assert facts["safety stock: holding cost per week"].number_format == '#,##0.00 "EUR"'
    cost = facts["safety stock: holding cost per week"].value
    assert cost == pytest.approx(run.safety_stock.objective, rel=1e-15)
    assert facts["peak plan: cost"].number_format == '#,##0.00 "EUR"'
    assert facts["short week: allocated"].value == pytest.approx(run.rationing.objective)
    assert not any(str(k).endswith(": objective") for k in facts)


def test_currency_and_units_are_in_the_number_formats(written, tmp_path):
    """plan.yaml's ``currency`` and ``units`` are part of the money and quantity columns'
    number formats (the cells stay numbers, equal to the tables) and summary facts."""
    import dataclasses

    import openpyxl

    from optim.workbook import write_workbook

    run, _ = written
    stated = dataclasses.replace(
        run, data=dataclasses.replace(run.data, currency="EUR", units="pcs")
    )
    book = openpyxl.load_workbook(write_workbook(stated, tmp_path / "report.xlsx"))
    sheet = book["segment summary"]
    header = [c.value for c in sheet[1]]
    row = {h: sheet.cell(row=2, column=k + 1) for k, h in enumerate(header)}
    assert row["revenue"].number_format == '#,##0.00 "EUR"'
    assert row["short_week_requested"].number_format.endswith('"pcs"')
    assert row["customers"].number_format == "#,##0"  # a count, not a quantity
    assert row["service_level_target"].number_format == "0.0%"
    summary = run.tables["segment_summary"]
    assert row["revenue"].value == pytest.approx(float(summary["revenue"].iloc[0]), abs=0.005)
    facts = {r[0].value: r[1] for r in book["summary"].iter_rows(min_row=2)}
    assert facts["currency"].value == "EUR" and facts["units"].value == "pcs"
    assert facts["safety stock: max_z cost per week"].number_format == '#,##0.00 "EUR"'
    # not stated (the example states both): plain number formats, no currency or unit facts
    plain = dataclasses.replace(run, data=dataclasses.replace(run.data, currency=None, units=None))
    book = openpyxl.load_workbook(write_workbook(plain, tmp_path / "plain.xlsx"))
    sheet = book["segment summary"]
    row = {h: sheet.cell(row=2, column=k + 1) for k, h in enumerate(header)}
    assert row["revenue"].number_format == "#,##0.00"
    assert '"' not in row["short_week_requested"].number_format
    facts = {r[0].value: r[1] for r in book["summary"].iter_rows(min_row=2)}
    assert "currency" not in facts and "units" not in facts
    assert facts["safety stock: max_z cost per week"].number_format == "#,##0.00"


def test_every_csv_table_has_a_sheet_but_the_forecast_per_week(written):
    """(audit r12a) Issue 12 item 8 asks for one sheet per table: forecast accuracy, the
    stock moved by class and max_z's stages were CSV files without a sheet. Every CSV table
    of the output folder now has a sheet with its columns and rows, except
    forecast/forecast.csv (one row per series and week; 12.8 CPU s to write the demo's)."""
    _, path = written
    out = path.parent
    sheets = pd.read_excel(path, sheet_name=None)
    shapes = [(set(s.columns), len(s)) for s in sheets.values()]
    csvs = sorted(
        p for p in out.rglob("*.csv") if p.relative_to(out).as_posix() != "forecast/forecast.csv"
    )
    assert len(csvs) >= 30
    for csv in csvs:
        table = pd.read_csv(csv)
        # same rows; the columns, or the planner's of them (the stock simulation's sheet)
        assert any(
            rows == len(table)
            and cols <= set(table.columns)
            and len(cols) >= min(5, len(table.columns))
            for cols, rows in shapes
        ), csv.relative_to(out)


def test_the_workbook_written_on_another_core_is_the_same_file(written, tmp_path):
    """planning.write has report.xlsx written by a spawned process (optim.workbook.
    start_workbook) while it writes the CSV tables and the report: the file is the very bytes
    write_workbook gives in this process, and a failing writer's error reaches the caller."""
    from optim.workbook import start_workbook, write_workbook

    run, path = written
    here = write_workbook(run, tmp_path / "here.xlsx")
    assert here.read_bytes() == path.read_bytes()
    wait = start_workbook(run, tmp_path / "missing-folder" / "report.xlsx")
    from xlsxwriter.exceptions import FileCreateError

    with pytest.raises(FileCreateError, match="No such file or directory"):
        wait()


def test_a_writer_started_before_the_run_writes_the_same_file(written, tmp_path):
    """optim demo / plan start the workbook's process at the start of the run
    (optim.workbook.writer_ready: its imports off the write's critical path); start_workbook
    takes it (once) and the file is the same bytes; an unused writer is stopped at the end."""
    from optim import workbook

    run, path = written
    with workbook.writer_ready():
        started = workbook._writer
        assert started is not None
        wait = workbook.start_workbook(run, tmp_path / "early.xlsx")
        assert workbook._writer is None  # taken
        assert wait().read_bytes() == path.read_bytes()
    with workbook.writer_ready():
        unused = workbook._writer
    assert workbook._writer is None and unused is not None
    with pytest.raises(RuntimeError, match="shutdown"):  # stopped: takes no more work
        unused.submit(int)
