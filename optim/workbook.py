"""``report.xlsx``: the planning run's tables as one Excel workbook, beside ``report.html``.

One sheet per table of the output folder (all but ``forecast/forecast.csv``, one row per
series and week: its accuracy per segment is a sheet), the summary first (run facts, each
solve's status and objective, the alert count), then the alerts and the planner tables.
Cells are typed (numbers as numbers, dates as dates, true/false as booleans, empty for
missing), headers are bold and frozen, every sheet has an autofilter and column widths
fitted to the content; rates are shown as percentages, money to cents, quantities as whole
units where the column is whole, all with thousands separators; the currency and unit
stated in ``plan.yaml`` (``currency``, ``units``) are part of the money and quantity
columns' number formats (the cells stay numbers) and summary rows. Text columns of ISO
dates (``2025-07-07``: the periods) are written as dates; the summary's facts get their own
formats (dates as dates, shares and gaps as percentages, money to cents). A float cell
holds the very double the CSV table holds (the CSV writer's rule, :mod:`optim.precision`:
quantities to six decimals, money to cents, rates to ten significant digits), so a sum or
filter in Excel equals the same over the CSV file. Written with XlsxWriter (write-only, no
Excel needed); the document properties carry a fixed date, so the same run gives the same
workbook.
"""

from __future__ import annotations

import datetime as _dt
import math
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from optim.precision import QUANTITY_DECIMALS, column_kind, rounded

if TYPE_CHECKING:
    from optim.planning import PlanningRun

__all__ = ["start_workbook", "workbook_tables", "write_workbook", "writer_ready"]

MAX_WIDTH = 60
SIMULATION_COLUMNS = ("stage", "item", "location", "segment", "service_measure", "target", "fill",
                      "ci_low", "ci_high", "meets_target", "margin", "critical_level",
                      "base_stock")  # fmt: skip
"""Columns of the stock simulation's sheet (every column is in service_simulation.csv)."""


def workbook_tables(run: PlanningRun) -> dict[str, pd.DataFrame]:
    """Sheet name → table, in workbook order (summary first)."""
    from optim.alerts import collect, frame
    from optim.planning.replenishment import item_policy_table

    seg = run.segmentation
    facts: list[tuple[str, Any]] = [
        ("data set", run.data.name),
        ("history order lines", len(run.data.history)),
        ("open order lines this week", len(run.data.orders)),
        ("items", len(seg.items)),
        ("customers", len(seg.customers)),
        ("plan start", run.data.plan_start.to_pydatetime()),
        ("planned weeks", run.data.plan_weeks),
        ("input sha256", run.data.source.get("sha256", "")),
        *(
            (key, getattr(run.data, key))
            for key in ("currency", "units")
            if getattr(run.data, key, None) is not None
        ),
    ]
    for name, res, objective in (  # each objective named by what it is (money: cents)
        ("safety stock", run.safety_stock, "holding cost per week"),
        ("peak plan", run.capacity, "cost"),
        ("short week", run.rationing, "allocated"),
    ):
        facts.append((f"{name}: status", res.status.value))
        facts.append((f"{name}: {objective}", res.objective))
        facts.append((f"{name}: gap", res.gap))
    versus = run.tables.get("stock_vs_max_z")
    if versus is not None:
        total = versus[versus["location"] == "total"].iloc[0]
        facts.append(
            ("safety stock: max_z cost per week", float(total["holding_cost_per_week_max_z"]))
        )
        facts.append(("safety stock: saving per week vs max_z", float(total["saving_per_week"])))
        facts.append(("safety stock: saving share vs max_z", float(total["saving_share"])))
    precision = run.tables.get("simulation_precision")
    if precision is not None and len(precision):
        p = precision.iloc[0]
        facts.append(("stock simulation: rows", int(p["rows"])))
        facts.append(("stock simulation: targets missed", int(p["misses"])))
        facts.append(("stock simulation: median half-width", float(p["median_half_width"])))
    alerts = collect(run)
    for level in ("critical", "warning", "info"):
        facts.append((f"alerts: {level}", sum(a.severity == level for a in alerts)))
    stock = dict(run.tables)
    sim = stock.get("service_simulation")
    if sim is not None:  # the planner's columns (all of them in service_simulation.csv)
        stock["service_simulation"] = sim[[c for c in SIMULATION_COLUMNS if c in sim.columns]]
    tables: dict[str, pd.DataFrame] = {
        "summary": pd.DataFrame(facts, columns=["what", "value"]),
        "alerts": frame(alerts),
        **{
            f"changed {name}": run.tables[f"changed_{name}"]
            for name in ("classes", "stock", "allocation")
            if f"changed_{name}" in run.tables
        },
        "segment summary": run.tables["segment_summary"],
        "policy": run.policy.to_frame(),
        "cell policy": run.tables["cell_policy"],
        "items": seg.items,
        "item policy": item_policy_table(seg, run.tables),
        **(
            {"make-to-order paths": run.tables["make_to_order_paths"]}
            if "make_to_order_paths" in run.tables
            else {}
        ),
        "customers": seg.customers,
        "segment changes": seg.changes,
        "stock by stage": run.tables["stock_by_stage"],
        "stock by segment": run.tables["stock_by_segment"],
        **{
            sheet: stock[name]
            for sheet, name in (
                ("stock vs max_z", "stock_vs_max_z"),
                ("service by segment", "service_by_segment"),
                ("stock simulation", "service_simulation"),
                ("simulation precision", "simulation_precision"),
            )
            if name in stock
        },
        "supply": run.tables["supply"],
        # every other table the run writes as CSV (audit: these had no sheet), except the
        # forecast per series and week (forecast/forecast.csv: one row per series and week,
        # ~150,000 rows in the demo), summarised per segment by "forecast accuracy"
        **{
            sheet: run.tables[name]
            for sheet, name in (
                ("forecast accuracy", "forecast_accuracy"),
                ("stock moved by class", "stock_moved"),
                ("lead-time lanes", "lead_time_lanes"),
                ("lead-time drift", "lead_time_drift"),
                ("review", "review"),
                ("review trend", "review_trend"),
            )
            if name in run.tables
        },
        **({"stock max_z stages": run.baseline.tables["stages"]} if run.baseline else {}),
    }
    for prefix, res in (
        ("stock", run.safety_stock),
        ("peak", run.capacity),
        ("short week", run.rationing),
    ):
        for name, table in res.tables.items():
            tables[f"{prefix} {name}"[:31]] = table
    return tables


def _text_width(values: pd.Series) -> int:
    sample = values.head(500)
    lengths = sample.map(lambda v: len(_shown(v))) if len(sample) else pd.Series([0])
    return int(lengths.max()) if len(lengths) else 0


def _shown(value: Any) -> str:
    if isinstance(value, _dt.datetime) and not pd.isna(value):
        return value.strftime("%Y-%m-%d")
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:,.2f}"
    return str(value)


def write_workbook(run: PlanningRun, path: str | Path) -> Path:
    """Write :func:`workbook_tables` to ``path`` (``.xlsx``) and return the path."""
    return _write_tables(workbook_tables(run), *_labels(run), Path(path))


_writer: Any = None  # the writer process writer_ready started (a ProcessPoolExecutor)


def _two_cores() -> bool:
    import multiprocessing
    import os

    return len(os.sched_getaffinity(0)) >= 2 and not multiprocessing.current_process().daemon


def _ready() -> None:
    """The writer process's first task: its imports (XlsxWriter; pandas and this module came
    with the task)."""
    import xlsxwriter  # noqa: F401


@contextmanager
def writer_ready() -> Iterator[None]:
    """Start the process :func:`start_workbook` hands the workbook to now, at the start of a
    run: it imports pandas, optim and XlsxWriter (about a second) on the other core while the
    run works, instead of after the run, when it was the last thing the write waited for
    (a spawned process's start-up before the ~2.4 s of XlsxWriter; the CSV tables and the
    report took about as long as the whole workbook without it). Stopped at the end of the
    block if no workbook took it."""
    global _writer
    if _writer is not None or not _two_cores():
        yield
        return
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    pool.submit(_ready)
    _writer = pool
    try:
        yield
    finally:
        if _writer is pool:  # not used (the block failed or wrote no workbook)
            _writer = None
            pool.shutdown(wait=False, cancel_futures=True)


def start_workbook(run: PlanningRun, path: str | Path) -> Callable[[], Path]:
    """:func:`write_workbook` on another core: the tables are made here, then written by a
    spawned process while the caller goes on (the CSV tables and the HTML report: the demo's
    ~300,000 cells take XlsxWriter about 3 s of one core). Returns the function that waits
    for the file (raising what the writer raised) and returns its path. The same bytes as
    :func:`write_workbook`; written in this process where no second core is available, or
    in a daemonic process (which may not start processes). The process :func:`writer_ready`
    started, when there is one."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    global _writer
    path = Path(path)
    tables = workbook_tables(run)
    if not _two_cores():
        done = _write_tables(tables, *_labels(run), path)
        return lambda: done
    pool, _writer = _writer, None
    if pool is None:
        pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"))
    future = pool.submit(_write_tables, tables, *_labels(run), path)

    def wait() -> Path:
        try:
            return future.result()
        finally:
            pool.shutdown(cancel_futures=True)

    return wait


def _labels(run: PlanningRun) -> tuple[str, str | None, str | None]:
    """The workbook's title and the currency and unit labels of ``plan.yaml``."""
    cur, units = getattr(run.data, "currency", None), getattr(run.data, "units", None)
    return f"optim planning run — {run.data.name}", cur, units


def _write_tables(
    tables: dict[str, pd.DataFrame], title: str, cur: str | None, units: str | None, path: Path
) -> Path:
    import xlsxwriter

    book = xlsxwriter.Workbook(
        str(path),
        {
            "nan_inf_to_errors": True,
            "strings_to_numbers": False,
            "strings_to_formulas": False,
            "strings_to_urls": False,
        },
    )
    book.set_properties({"title": title, "created": _dt.datetime(2000, 1, 1)})
    header = book.add_format({"bold": True, "bg_color": "#F4F6F6", "bottom": 1})
    made: dict[str, Any] = {}

    def number_format(kind: str, col: str) -> Any:
        """The cell format of a ``kind`` column: the unit stated in plan.yaml appended to a
        money or quantity column's number format."""
        base = NUMBER_FORMATS.get(kind)
        if base is None:
            return None
        unit = cur if kind == "money" else units if column_kind(col) == "quantity" else None
        if unit and kind in ("int", "float", "money"):
            base = f'{base} "{unit}"'  # plan.yaml's label has no quotes or backslashes
        if base not in made:
            made[base] = book.add_format({"num_format": base})
        return made[base]

    for name, table in tables.items():
        sheet = book.add_worksheet(name)
        frame = table.reset_index(drop=True)
        for c, col in enumerate(frame.columns):
            sheet.write_string(0, c, str(col), header)
            values = frame[col]
            if values.dtype.kind == "f":  # the CSV's doubles (it writes 43.925598, 66.16)
                written = rounded(values.to_numpy(), column_kind(str(col)))
                values = pd.Series(written, index=values.index, name=values.name)
            elif _iso_dates(values):  # periods are text in the tables: dates in Excel
                values = pd.to_datetime(values, format="%Y-%m-%d")
            kind = _kind(values, str(col))
            fmt = number_format(kind, str(col))
            if name == "summary" and col == "value":
                facts = frame["what"].astype(str).tolist()
                fmts = [
                    number_format(_fact_kind(f, v), "") for f, v in zip(facts, values, strict=True)
                ]
                _write_column(sheet, c, values, fmts, number_format("date", ""))
            else:
                _write_column(sheet, c, values, fmt, number_format("date", ""))
            width = max(len(str(col)) + 2, _text_width(values) + 2, 8)
            sheet.set_column(c, c, min(width, MAX_WIDTH), fmt)
        sheet.freeze_panes(1, 0)
        if len(frame.columns):
            sheet.autofilter(0, 0, max(len(frame), 1), len(frame.columns) - 1)
    book.close()
    return path


NUMBER_FORMATS = {
    "int": "#,##0",
    "float": "#,##0.00####",  # the CSV's 6 decimals
    "money": "#,##0.00",
    "rate": "0.0%",
    "date": "yyyy-mm-dd",
}
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


def _iso_dates(values: pd.Series) -> bool:
    """A text column whose every cell is an ISO date (``2025-07-07``)."""
    if values.dtype != object or not len(values):
        return False
    cells = values.dropna()
    return bool(len(cells)) and all(isinstance(v, str) and _ISO_DATE.fullmatch(v) for v in cells)


def _fact_kind(what: str, value: Any) -> str:
    """The format of one summary fact: dates, shares and gaps as percentages, money by the
    column rule on the fact's words, whole numbers as such."""
    if isinstance(value, _dt.date):
        return "date"
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        return "text"
    words = re.sub(r"[^a-z0-9]+", "_", what.lower())
    if re.search(r"(^|_)(gap|half_width)(_|$)", words):
        return "rate"
    kind = column_kind(words)
    if kind in ("rate", "money"):
        return kind
    return "int" if float(value).is_integer() else "float"


def _kind(values: pd.Series, name: str) -> str:
    if pd.api.types.is_bool_dtype(values):
        return "bool"
    if pd.api.types.is_datetime64_any_dtype(values):
        return "date"
    if pd.api.types.is_integer_dtype(values):
        return "int"
    if pd.api.types.is_float_dtype(values):
        kind = column_kind(name)  # the CSV writer's rule (optim.precision)
        if kind in ("rate", "money"):
            return kind
        shown = np.round(values.dropna().to_numpy(), QUANTITY_DECIMALS)  # as the CSV has it
        return "int" if len(shown) and bool(np.all(shown == np.round(shown))) else "float"
    return "mixed"


def _write_column(
    sheet: Any, c: int, values: pd.Series, formats: Any, date_format: Any = None
) -> None:
    """Write one column's cells; ``formats`` is the column's format or one per cell; a date
    without one gets ``date_format`` (a date shown as its serial number reads as 45845)."""
    cells = values.tolist()
    each = formats if isinstance(formats, list) else [formats] * len(cells)
    for r, (value, fmt) in enumerate(zip(cells, each, strict=True), start=1):
        if value is None or (isinstance(value, float) and math.isnan(value)):
            sheet.write_blank(r, c, None, fmt)
        elif isinstance(value, bool | np.bool_):
            sheet.write_boolean(r, c, bool(value))
        elif isinstance(value, pd.Timestamp | _dt.datetime | _dt.date):
            if pd.isna(value):
                sheet.write_blank(r, c, None, fmt)
            else:
                stamp = pd.Timestamp(value).tz_localize(None).to_pydatetime()
                sheet.write_datetime(r, c, stamp, fmt if fmt is not None else date_format)
        elif isinstance(value, int | float | np.integer | np.floating):
            number = float(value)
            if math.isfinite(number):
                sheet.write_number(r, c, number, fmt)
            else:
                sheet.write_string(r, c, str(number))
        else:
            sheet.write_string(r, c, str(value))
