"""The HTML report of the planning run (:mod:`optim.planning.report`), on the small distributor."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path

import pytest

from optim.planning import PlanningRun, run, write
from optim.planning.distributor import distributor_example
from optim.planning.report import (
    CSS,
    PLOTS,
    layered_layout,
    plot_segment_matrix,
    render_report,
    segment_matrix,
    write_report,
)

PLOT_IDS = (
    "segment-matrix", "stock-placement", "service-cost", "capacity", "rationing",
    "peak-forecast",
)  # fmt: skip


@pytest.fixture(scope="module")
def small_run() -> PlanningRun:
    """The small seeded distributor (60 items, 30 customers, 60 weeks), run end to end,
    without the example's currency and units (plain numbers and "units": the stated ones
    are checked by test_currency_and_units_from_plan_yaml and by the demo's audit test)."""
    import dataclasses

    data = distributor_example(1, n_items=60, n_customers=30, weeks=60)
    return run(dataclasses.replace(data, currency=None, units=None))


@pytest.fixture(scope="module")
def page(small_run: PlanningRun) -> str:
    """The rendered report of ``small_run``."""
    return render_report(small_run)


class _Sections(HTMLParser):
    """Collect each section's raw HTML and each table's cell texts by element id."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[list[str]]] = {}
        self.classes: dict[str, str] = {}
        self._table: str | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section" and a.get("id"):
            self.classes[str(a["id"])] = str(a.get("class"))
        elif tag == "table":
            self._table = str(a.get("id"))
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._table and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


@pytest.fixture(scope="module")
def parsed(page: str) -> _Sections:
    """Sections and tables of the report."""
    p = _Sections()
    p.feed(page)
    return p


def _section(page: str, sid: str) -> str:
    match = re.search(rf'<section id="{sid}"[^>]*>(.*?)</section>', page, flags=re.S)
    assert match, f"no section {sid}"
    return match.group(1)


def _row(table: list[list[str]], first: str) -> dict[str, str]:
    header = table[0]
    rows = [r for r in table[1:] if r[0] == first]
    assert len(rows) == 1, (first, table)
    return dict(zip(header, rows[0], strict=True))


def test_write_report_returns_path(small_run: PlanningRun, page: str, tmp_path: Path) -> None:
    path = write_report(small_run, tmp_path / "sub" / "report.html")
    assert path == tmp_path / "sub" / "report.html"
    text = path.read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>") and text.rstrip().endswith("</html>")
    assert text == page


def test_planning_write_calls_report(small_run: PlanningRun, tmp_path: Path) -> None:
    paths = write(small_run, tmp_path)
    assert paths["report"] == tmp_path / "report.html"
    assert paths["report"].stat().st_size > 10_000
    _check_precision(tmp_path)


def _check_precision(out: Path) -> None:
    """Every CSV table of the run (issue 12 item 6, :mod:`optim.precision`): quantities with
    at most six decimals and none written as ``151.0``, money with exactly two decimals;
    the short week is rationed in whole units, so its quantities have no decimals at all."""
    import pandas as pd

    from optim.precision import column_kind

    checked = {"quantity": 0, "money": 0}
    for path in sorted(out.rglob("*.csv")):
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
        for col in table.columns:
            kind = column_kind(col)
            texts = [t for t in table[col] if t and t not in ("True", "False")]
            if kind not in checked or not texts:
                continue
            if not all(re.fullmatch(r"-?\d+(\.\d+)?", t) for t in texts):
                continue  # a text column with a money-like name (e.g. a reason)
            decimals = [len(t.partition(".")[2]) for t in texts]
            if kind == "quantity":
                assert max(decimals) <= 6 and not any(t.endswith(".0") for t in texts), (
                    path.name,
                    col,
                )
            elif any(decimals):  # a float money column: cents everywhere
                assert set(decimals) == {2}, (path.name, col)
            checked[kind] += 1
    assert checked["quantity"] > 20 and checked["money"] > 5, checked
    for name, cols in (
        ("lines", ("requested", "allocated")),
        ("allocations", ("quantity",)),
        ("supply", ("planned", "quantity")),
    ):
        table = pd.read_csv(out / "rationing" / f"{name}.csv", dtype=str)
        for col in cols:
            assert not table[col].str.contains(".", regex=False).any(), (name, col)


def test_five_plot_sections_with_inline_svg(page: str, parsed: _Sections) -> None:
    plots = [sid for sid, cls in parsed.classes.items() if cls == "plot"]
    assert plots == list(PLOT_IDS)
    for sid in PLOT_IDS:
        body = _section(page, sid)
        assert body.count("<svg") == 1
        assert re.search(r"<h2>.+</h2>", body) and 'class="hint"' in body


def test_self_contained(page: str) -> None:
    lowered = page.lower()
    assert "http" not in lowered
    assert "<link" not in lowered and "<img" not in lowered
    # small inline scripts (sortable, filterable tables; the per-item drill-down and its
    # JSON data), nothing loaded
    scripts = re.findall(r"<script[^>]*>", lowered)
    assert len(scripts) <= 3 and not any("src" in s for s in scripts)
    assert "@import" not in lowered
    for ref in re.findall(r'href="([^"]*)"', page):
        assert ref.startswith(("#", "data:image/png;base64,")), ref[:40]
    for ref in re.findall(r"url\(([^)]*)\)", page):
        assert ref.startswith("#"), ref


def test_svg_ids_unique(page: str) -> None:
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))
    defined = set(ids)
    for ref in re.findall(r'(?:url\(#|href="#)([^)"]+)', page):
        assert ref in defined


def test_deterministic(small_run: PlanningRun, page: str) -> None:
    assert render_report(small_run) == page
    assert "runtime" not in page
    timed = render_report(small_run, include_runtime=True)
    assert "runtime" in timed and timed != page


def test_summary_table_matches_run(small_run: PlanningRun, parsed: _Sections) -> None:
    summary = small_run.tables["segment_summary"]
    table = parsed.tables["segment-summary-table"]
    assert [r[0] for r in table[1:]] == list(summary["segment"])
    for rec in summary.itertuples():
        row = _row(table, str(rec.segment))
        assert row["short week fill rate"] == f"{rec.short_week_fill_rate:.1%}"
        assert row["peak fill rate"] == f"{rec.peak_fill_rate:.1%}"
        assert row["service level target"] == f"{rec.service_level_target:.1%}"
        assert row["customers"] == f"{rec.customers:,}"
        assert row["revenue"] == f"{rec.revenue:,.2f}"  # money to cents (optim.precision)


def test_header_shows_each_solve(small_run: PlanningRun, parsed: _Sections) -> None:
    table = parsed.tables["solves"]
    for step, res in (
        ("safety stock", small_run.safety_stock),
        ("peak capacity plan", small_run.capacity),
        ("rationing", small_run.rationing),
    ):
        row = _row(table, step)
        assert row["status"] == res.status.value
        assert row["objective"] == f"{res.objective:,.2f}"
        assert row["gap"] == f"{res.gap:.2%}"


def test_plots_show_the_tables_numbers(small_run: PlanningRun, page: str) -> None:
    net = _section(page, "stock-placement")
    for rec in small_run.tables["stock_by_stage"].itertuples():
        assert f"{rec.safety_stock_value:,.0f} value" in net
        assert f"{rec.decoupling_points:,.0f} DP" in net
    ration = _section(page, "rationing")
    lines = small_run.rationing.tables["lines"]
    for rec in small_run.rationing.tables["segments"].itertuples():
        assert f"{rec.fill_rate:.1%}" in ration
        seg = lines[lines["segment"] == rec.segment]
        short = int((seg["allocated"] < seg["requested"] - 1e-6).sum())
        assert f"{short:,} of {len(seg):,} lines" in ration
    matrix = _section(page, "segment-matrix")
    items = small_run.segmentation.items
    for n in items.groupby(["abc", "xyz"]).size().to_numpy():
        assert re.search(rf">{n} items?\b", matrix), n


def test_segment_matrix_is_coloured_by_value_share(small_run: PlanningRun) -> None:
    """The first chart's colour is each ABC × XYZ cell's share of sales value (the data
    behind the image), annotated with the cell's item count and that share."""
    import numpy as np

    from optim.planning.report import fmt_pct

    items = small_run.segmentation.items
    cells = segment_matrix(small_run)
    value = items.groupby(["abc", "xyz"])["value"].sum()
    for rec in cells.itertuples():
        want = float(value.get((rec.abc, rec.xyz), 0.0)) / float(items["value"].sum())
        assert rec.value_share == pytest.approx(want, rel=1e-12, abs=1e-15)
        assert rec.items == int(((items["abc"] == rec.abc) & (items["xyz"] == rec.xyz)).sum())
    assert cells["value_share"].sum() == pytest.approx(1.0)
    fig = plot_segment_matrix(small_run)
    image = fig.axes[0].images[0]
    shown = np.asarray(image.get_array(), dtype=float)
    assert shown.ravel().tolist() == cells["value_share"].tolist()
    darkness = -image.to_rgba(shown)[..., :3].sum(axis=-1).ravel()  # Blues: darker = more
    share = cells["value_share"].to_numpy()
    for a in range(len(share)):
        for b in range(len(share)):
            if share[a] > share[b] + 1e-9:
                assert darkness[a] > darkness[b], (a, b)
    texts = [t.get_text() for t in fig.axes[0].texts]
    for rec, text in zip(cells.itertuples(), texts, strict=True):
        assert text.split("\n") == [
            f"{rec.items:,} item{'' if rec.items == 1 else 's'}",
            fmt_pct(rec.value_share),
        ]


def test_charts_keep_legends_off_the_data_and_one_unit_per_axis(small_run: PlanningRun) -> None:
    """No legend covers any axes' data area, and no two axes share an area (no twin axes
    mixing units: quantities of different units are separate panels)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    for sid, _, _, plot in PLOTS:
        fig = plot(small_run)
        renderer = FigureCanvasAgg(fig).get_renderer()
        fig.draw(renderer)
        boxes = [ax.get_window_extent(renderer) for ax in fig.axes]
        for k, a in enumerate(boxes):
            for b in boxes[k + 1 :]:
                assert not a.overlaps(b), sid
        for ax in fig.axes:
            legend = ax.get_legend()
            if legend is not None:
                box = legend.get_window_extent(renderer)
                assert not any(box.overlaps(b) for b in boxes), sid
                assert box.x1 <= fig.bbox.x1 + 1, sid  # inside the figure


def test_layout_is_readable_at_1024_px(page: str) -> None:
    """A bounded page width, charts that shrink to it, and every table inside a section
    that scrolls sideways instead of widening the page."""
    assert "max-width:1100px" in CSS and "svg{max-width:100%" in CSS
    assert "section,div.scroll{overflow-x:auto}" in CSS and "@media (max-width:1100px)" in CSS
    outside = re.sub(r"<section\b.*?</section>", "", page, flags=re.S)
    outside = re.sub(r'<div class="scroll">.*?</div>', "", outside, flags=re.S)
    assert page.count("<table") > 5 and "<table" not in outside


def test_other_tables_present(small_run: PlanningRun, parsed: _Sections) -> None:
    policy = parsed.tables["policy-table"]
    assert [r[0] for r in policy[1:]] == list(small_run.policy.segments)
    stages = parsed.tables["stock-by-stage-table"]
    assert [r[0] for r in stages[1:]] == list(small_run.tables["stock_by_stage"]["location"])
    assert len(parsed.tables["changes-table"]) - 1 == min(20, len(small_run.segmentation.changes))
    cells = parsed.tables["cell-policy-table"]
    want = small_run.tables["cell_policy"]
    assert [tuple(r[:2]) for r in cells[1:]] == list(
        zip(want["abc"], want["segment"], strict=True)
    )
    for name in ("capacity-segments-table", "rationing-segments-table"):
        assert {r[0] for r in parsed.tables[name][1:]} == set(
            small_run.tables["segment_summary"]["segment"]
        )


def test_forecast_sections_show_the_runs_numbers(small_run: PlanningRun, parsed) -> None:
    """The peak-forecast bands add up the forecast; the stock-moved and accuracy tables are
    the run's (statistical forecast, the default)."""
    from optim.planning.report import peak_forecast_bands

    bands = peak_forecast_bands(small_run)
    fc = small_run.tables["forecast"]
    assert bands["forecast"].sum() == pytest.approx(fc["forecast"].sum())
    assert (bands["lo"] <= bands["forecast"]).all() and (bands["forecast"] <= bands["hi"]).all()
    per_seg = fc.groupby("segment")["hi"].sum()  # root-sum-square is at most the plain sum
    assert (bands.groupby("segment")["hi"].sum() <= per_seg + 1e-6).all()
    moved = parsed.tables["stock-moved-table"]
    assert [r[0] for r in moved[1:]] == list(small_run.tables["stock_moved"]["abc"])
    # the relative change is a rate, shown as a percentage (was "0.09", a bare ratio)
    at = moved[0].index("change rate")
    rates = small_run.tables["stock_moved"]["change_rate"]
    assert [r[at] for r in moved[1:]] == [f"{x:.1%}" for x in rates]
    acc = parsed.tables["forecast-accuracy-table"]
    assert len(acc) - 1 == len(small_run.tables["forecast_accuracy"])


def test_layered_layout_dag() -> None:
    # two sources, a diamond and a long branch: x is the longest path from a source
    stages = ["S1", "S2", "A", "B", "C", "D"]
    arcs = [("S1", "A"), ("S1", "B"), ("A", "C"), ("B", "C"), ("S2", "C"), ("C", "D")]
    pos = layered_layout(stages, arcs)
    assert {s: pos[s][0] for s in stages} == {"S1": 0, "S2": 0, "A": 1, "B": 1, "C": 2, "D": 3}
    for a, b in arcs:
        assert pos[a][0] < pos[b][0]
    points = list(pos.values())
    assert len(set(points)) == len(points)
    # a parent sits level with the mean of its children (tree part)
    assert pos["S1"][1] == pytest.approx((pos["A"][1] + pos["B"][1]) / 2)


def test_week_without_shortage_renders_without_warnings() -> None:
    """Ample supply: no short line, the rationing panel says so (no empty legend)."""
    import dataclasses
    import warnings

    import pandas as pd

    data = distributor_example(2, n_items=30, n_customers=10, weeks=53)
    ample = data.orders[["item", "location"]].drop_duplicates().assign(quantity=1e6)
    plan = run(dataclasses.replace(data, supply=pd.DataFrame(ample)))
    lines = plan.rationing.tables["lines"]
    assert (lines["allocated"] == lines["requested"]).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        page = render_report(plan)
    assert "every line served in full" in page


def test_item_drilldown_equals_the_run_tables(small_run: PlanningRun, page: str) -> None:
    """The per-item drill-down (issue 12): one record per planned item, by sales value, whose
    stock per stage and rationing lines are the run's tables; embedded, no external loads."""
    import json
    import math

    body = _section(page, "item-drilldown")
    match = re.search(r'<script type="application/json" id="item-data">(.*?)</script>', body, re.S)
    assert match
    data = json.loads(match.group(1))
    items = [item for item, _ in data["items"]]
    stages = small_run.safety_stock.tables["stages"]
    planned = set(stages["stage"].str.rsplit("@", n=1).str[0])
    rep = small_run.tables["replenishment"]
    made = rep[rep["policy"] == "make-to-order"]
    lumpy = set(made["item"]) - planned  # made to order, no stock plan: in the drill-down too
    assert lumpy and set(items) == planned | set(rep["item"])
    _made_to_order_records_equal_the_tables(small_run, dict(data["items"]), lumpy)
    for item in set(made["item"]) - lumpy:  # stocked items made to order at some stages
        assert dict(data["items"])[item]["promise"] == _promise_rows(made[made["item"] == item])
    value = small_run.segmentation.items.set_index("item")["value"]
    assert [value[i] for i in items] == sorted((value[i] for i in items), reverse=True)
    assert body.count("<option ") == len(items) and "http" not in body
    lines = small_run.rationing.tables["lines"]
    seg_items = small_run.segmentation.items.set_index("item")
    for item, rec in data["items"]:  # every item: its numbers equal the tables
        assert rec["class"] == seg_items.at[item, "abc"] + seg_items.at[item, "xyz"]
        own = stages[stages["stage"].str.rsplit("@", n=1).str[0] == item]
        shown = {row[0]: row for row in rec["stock"]}
        assert len(shown) == (len(own) if item not in lumpy else (made["item"] == item).sum())
        for s in own.itertuples():
            row = shown[s.stage.rsplit("@", 1)[1]]
            assert math.isclose(row[1], s.safety_stock, abs_tol=0.005)
            assert row[3] == bool(s.decoupling_point)
        mine = lines[lines["item"] == item]
        assert len(rec["lines"]) == len(mine)
        assert sum(r[4] for r in rec["lines"]) == pytest.approx(mine["allocated"].sum(), abs=0.01)
    # a short line keeps its reason
    short = lines[lines["allocated"] < lines["requested"] - 1e-9]
    if len(short):
        row = short.iloc[0]
        rec = dict(data["items"])[row["item"]]
        assert any(r[0] == row["customer"] and r[5] == row["explanation"] for r in rec["lines"])


def test_replenishment_section_states_the_make_to_order_rule_and_the_tables_numbers(
    small_run: PlanningRun, page: str, parsed: _Sections
) -> None:
    """The replenishment section says what a make-to-order row's promise and cycle service
    are (only when the run has such rows), and its make-to-order rows show the replenishment
    table's numbers: count, mean target, mean and lowest simulated on-time share, mean
    promise (the full-precision data-v of each cell)."""
    import dataclasses
    import html

    body = _section(page, "replenishment")
    rule = (
        "make-to-order rows hold no stock: their promise (days) is the quantile of the "
        "replenishment time learned from the receipts' lanes"
    )
    text = html.unescape(body)
    assert rule in text and "simulated share of orders delivered within it" in text
    assert "promise the replenishment time" not in text
    rep = small_run.tables["replenishment"]
    made = rep[rep["policy"] == "make-to-order"]
    assert len(made) and made["cycle_service"].notna().all()
    table = re.search(r'<table id="replenishment-table">(.*?)</table>', body, re.S)
    assert table
    header = parsed.tables["replenishment-table"][0]
    shown = {}
    for tr in re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S)[1:]:
        cells = re.findall(r"<td[^>]*?(?: data-v=\"([^\"]*)\")?>(.*?)</td>", tr, re.S)
        row = dict(zip(header, cells, strict=True))
        if row["policy"][1] == "make-to-order":
            shown[(row["abc"][1], row["pattern"][1], int(float(row["review period"][0])))] = row
    want = made.groupby(["abc", "pattern", "review_period"], sort=True)
    assert set(shown) == {(a, p, int(r)) for a, p, r in want.groups}
    for (a, p, r), g in want:
        row = shown[(a, p, int(r))]
        assert float(row["rows"][0]) == len(g)
        for col, value in (
            ("target", g["target"].mean()),
            ("cycle service", g["cycle_service"].mean()),
            ("lowest", g["cycle_service"].min()),
            ("promise days", g["promise_days"].mean()),
        ):
            assert float(row[col][0]) == pytest.approx(value, rel=1e-12), (a, p, r, col)
    # no make-to-order row: no make-to-order sentence
    stocked = rep[rep["policy"] != "make-to-order"]
    plain = dataclasses.replace(small_run, tables={**small_run.tables, "replenishment": stocked})
    assert "make-to-order" not in _section(render_report(plain), "replenishment")


def _promise_rows(rows) -> list[list[object]]:
    """A made-to-order item's drill-down ``promise`` rows as the replenishment table has them."""
    return [
        [r.location, round(r.target, 4), round(r.promise_days, 1), round(r.cycle_service, 4),
         bool(r.meets_target)]
        for r in rows.itertuples()
    ]  # fmt: skip


def _made_to_order_records_equal_the_tables(run: PlanningRun, records, items) -> None:
    """Each made-to-order item's drill-down: policy, no stock, its promise rows and path rows
    equal tables["replenishment"] and tables["make_to_order_paths"], its rationing lines."""
    rep = run.tables["replenishment"]
    paths = run.tables["make_to_order_paths"]
    lines = run.rationing.tables["lines"]
    targets = run.segmentation.demand_stats(("item", "segment"))
    for item in sorted(items):
        rec = records[item]
        own = rep[rep["item"] == item]
        assert rec["policy"] == "make-to-order"
        assert [r[0] for r in rec["stock"]] == own["location"].tolist()
        assert all(r[1:4] == [0.0, 0.0, False] for r in rec["stock"])  # no stock anywhere
        assert rec["promise"] == _promise_rows(own)
        path = paths[paths["item"] == item]
        assert len(path) and len(rec["path"]) == len(path)
        for got, r in zip(rec["path"], path.itertuples(), strict=True):
            assert got[:4] == [r.location, r.stage, r.lane, r.source]
            assert got[4:] == pytest.approx(
                [r.mean_days, r.std_days, r.min_days, r.max_days], abs=0.005
            )
        mine = targets[targets["item"] == item].groupby("segment")["service_level"].max()
        assert [t[0] for t in rec["targets"]] == sorted(mine.index)
        assert [t[1] for t in rec["targets"]] == [round(mine[k], 4) for k in sorted(mine.index)]
        assert len(rec["lines"]) == int((lines["item"] == item).sum())


def test_stock_service_section_shows_the_tables_numbers(
    small_run: PlanningRun, page: str, parsed: _Sections
) -> None:
    """Critical levels in the report (issue 10): the saving against max_z in money and %, the
    simulation's size, precision and misses, and the per location × segment table — every
    number shown equals the run's tables; the section comes right after the solves."""
    from optim.planning.report import fmt_number, fmt_pct

    assert page.index('id="stock-service"') < page.index('id="segment-matrix"')
    assert page.index('id="solves"') < page.index('id="stock-service"')
    body = _section(page, "stock-service")
    versus = small_run.tables["stock_vs_max_z"]
    total = versus[versus["location"] == "total"].iloc[0]
    saving = re.search(r'<p id="saving">(.*?)</p>', body, flags=re.S)
    assert saving
    text = saving.group(1)
    assert f"holding cost {fmt_number(total['holding_cost_per_week'], 0)} per week" in text
    assert f"against {fmt_number(total['holding_cost_per_week_max_z'], 0)} with max_z" in text
    assert "no reservation, the same demand laws" in text  # like for like (strictest.py)
    assert (
        f"saving {fmt_number(total['saving_per_week'], 0)} per week "
        f"({fmt_pct(total['saving_share'])})" in text
    )
    assert small_run.safety_stock.objective == pytest.approx(total["holding_cost_per_week"])
    prec = small_run.tables["simulation_precision"].iloc[0]
    sim_text = re.search(r'<p id="simulation">(.*?)</p>', body, flags=re.S).group(1)
    rows, misses = int(prec["rows"]), int(prec["misses"])
    assert f"{rows - misses:,} of {rows:,} (item, stage, segment) targets met" in sim_text
    assert f"{int(prec['periods']):,} periods x {int(prec['replications']):,} replications" in (
        sim_text
    )
    assert f"median half-width {prec['median_half_width'] * 100:.2f} points" in sim_text
    shown = parsed.tables["service-by-segment-table"]
    want = small_run.tables["service_by_segment"]
    assert len(shown) - 1 == len(want)
    header = shown[0]
    for cells, rec in zip(shown[1:], want.itertuples(index=False), strict=True):
        row = dict(zip(header, cells, strict=True))
        assert (row["location"], row["segment"]) == (rec.location, rec.segment)
        assert row["simulated service level"] == fmt_pct(rec.simulated_service_level)
        assert row["mean target"] == fmt_pct(rec.mean_target)
        assert row["misses"] == f"{rec.misses:,}"
        # (audit) the gaps are percentages, and so is their standard error: it was shown as
        # a bare fraction to two decimals, "0.00" on every row beside a gap of "0.4%"
        assert row["mean gap to target"] == fmt_pct(rec.mean_gap_to_target)
        assert row["worst gap to target"] == fmt_pct(rec.worst_gap_to_target)
        assert row["gap stderr"] == fmt_pct(rec.gap_stderr, 2)
    assert any(0 < v < 0.005 for v in want["gap_stderr"])  # shown as 0.00 before
    versus_shown = parsed.tables["stock-vs-max-z-table"]
    assert [r[0] for r in versus_shown[1:]] == list(versus["location"])
    assert "stock-misses-table" not in parsed.tables  # no miss on this seed


def test_a_simulated_miss_is_at_the_top_and_listed(small_run: PlanningRun) -> None:
    """A row whose simulated interval lies below its target: an alert naming the segment and
    the stage at the top of the page, and the misses table lists it."""
    import dataclasses

    sim = small_run.tables["service_simulation"].copy()
    k = sim.index[0]
    sim.loc[k, ["fill", "ci_low", "ci_high"]] = sim.loc[k, "target"] - [0.05, 0.07, 0.03]
    sim.loc[k, "meets_target"] = False
    sim["margin"] = sim["fill"] - sim["target"]
    run_ = dataclasses.replace(small_run, tables={**small_run.tables, "service_simulation": sim})
    page = render_report(run_)
    parsed = _Sections()
    parsed.feed(page)
    stage, name = sim.loc[k, "stage"], sim.loc[k, "segment"]
    alerts = [r for r in parsed.tables["alerts-table"][1:] if "simulated stock plan" in r[3]]
    assert len(alerts) == 1 and alerts[0][2] == name and stage in alerts[0][3]
    assert page.index('id="alert-list"') < page.index('id="stock-service"')
    misses = parsed.tables["stock-misses-table"]
    assert len(misses) == 2 and misses[1][0] == stage


def test_currency_and_units_from_plan_yaml(small_run: PlanningRun, tmp_path: Path) -> None:
    """Issue 12 item 7 (audit: plan.yaml had no currency or units and refused both keys):
    ``currency: EUR`` and ``units: pcs`` read from plan.yaml are stated under the title, in
    the money and quantity columns' headers, the charts' axes and texts, and the alerts;
    without them the page is unchanged."""
    import dataclasses

    import yaml

    from optim.planning import read_folder
    from optim.planning.folder import write_folder

    folder = write_folder(small_run.data, tmp_path / "in")
    plan = yaml.safe_load((folder / "plan.yaml").read_text())
    (folder / "plan.yaml").write_text(yaml.safe_dump({**plan, "currency": "EUR", "units": "pcs"}))
    data = read_folder(folder)
    assert (data.currency, data.units) == ("EUR", "pcs")
    stated = dataclasses.replace(small_run, data=data)
    page = render_report(stated)
    assert "Money in EUR and quantities in pcs (plan.yaml)." in page
    p = _Sections()
    p.feed(page)
    header = p.tables["segment-summary-table"][0]
    assert "revenue (EUR)" in header and "safety stock cost per week (EUR)" in header
    assert "short week requested (pcs)" in header and "customers" in header  # a count: no unit
    assert "service level target" in header  # a rate: no unit
    # a column counted in units is counted in the stated unit: not "safety stock units (pcs)"
    assert "safety stock (pcs)" in header and "safety stock units" not in page
    # (audit) both σ's of forecast accuracy are quantities per period: "sigma (pcs)" but
    # "history std" had no unit (and its CSV ten significant digits, not six decimals)
    accuracy = p.tables["forecast-accuracy-table"][0]
    assert "sigma (pcs)" in accuracy and "history std (pcs)" in accuracy
    for sid in ("capacity", "rationing", "peak-forecast"):
        assert "<text" in page and ">pcs" in _section(page, sid), sid
    assert ">EUR<" in _section(page, "service-cost")  # the cost axes say their money
    saving = re.search(r'<p id="saving">(.*?)</p>', page, flags=re.S)
    assert saving and re.search(r"holding cost [\d,]+ EUR per week", saving.group(1))
    from optim.alerts import collect

    short = [a for a in collect(stated) if a.topic == "service" and a.unit]
    assert short and all(a.unit == "pcs" and " pcs short" in a.message for a in short)
    # not stated: no unit in any header, "units" on the axes as before
    assert "(EUR)" not in render_report(small_run) and "(pcs)" not in render_report(small_run)


def test_model_reasons_and_messages_count_in_plan_yaml_units(
    small_run: PlanningRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 12 ("currency and units from plan.yaml"; audit: the rationing reasons said
    "equal share: 11 units" and the pre-build message "(831.469 units)" under ``units:
    pcs``): the pipeline gives the rationing and capacity instances plan.yaml's unit, so
    their reasons and messages count in it — in the lines CSV, the result document, the
    report's drill-down and the workbook alike, the same text —, and "units" without it."""
    import dataclasses
    import json

    import openpyxl
    import pandas as pd

    from optim.planning import pipeline
    from optim.planning.drilldown import item_records

    units: list[str] = []
    build = pipeline.build_capacity

    def spy(*args, **kwargs):
        inst = build(*args, **kwargs)
        units.append(inst.unit)
        return inst

    monkeypatch.setattr(pipeline, "build_capacity", spy)
    boxed = run(dataclasses.replace(small_run.data, units="boxes"))
    assert units and set(units) == {"boxes"}
    lines = boxed.rationing.tables["lines"]
    equal = lines["explanation"].str.contains("equal share")
    assert equal.any() and lines.loc[equal, "explanation"].str.contains(r" boxes? ").all()
    for text in (*lines["explanation"], boxed.capacity.message, boxed.rationing.message):
        assert not re.search(r"\bunits?\b", text), text
    plain = small_run.rationing.tables["lines"]["explanation"]
    assert plain.str.contains(" units of the stock").any()  # the default: unchanged
    assert list(plain.str.replace(" units ", " boxes ")) == list(lines["explanation"])

    write(boxed, tmp_path)
    csv = pd.read_csv(tmp_path / "rationing" / "lines.csv", keep_default_na=False)
    assert list(csv["explanation"]) == list(lines["explanation"])
    doc = json.loads((tmp_path / "rationing_result.json").read_text())
    assert [r["explanation"] for r in doc["lines"]] == list(lines["explanation"])
    shown = {r[-1] for _, rec in item_records(boxed)["items"] for r in rec.get("lines", [])}
    assert shown == set(lines["explanation"])
    sheet = openpyxl.load_workbook(tmp_path / "report.xlsx", read_only=True)["short week lines"]
    rows = list(sheet.iter_rows(values_only=True))
    at = rows[0].index("explanation")
    assert [r[at] for r in rows[1:]] == list(lines["explanation"])


# ----------------------------------------------------- the inline scripts, run under node
NODE = __import__("shutil").which("node")
SHIM = Path(__file__).with_name("dom_shim.js")


def _node(program: str) -> list:
    import json
    import subprocess

    run_ = subprocess.run(
        [NODE, "-e", SHIM.read_text() + program], capture_output=True, text=True, timeout=60
    )
    assert run_.returncode == 0, run_.stderr
    return json.loads(run_.stdout)


@pytest.mark.skipif(NODE is None, reason="node runs the report's inline scripts")
def test_sorting_puts_empty_cells_last_both_ways() -> None:
    """(r12r) An empty numeric cell sorted as 0: between the negatives and the positives."""
    from optim.planning.report import SCRIPT

    program = (
        """
var t = document.createElement('table'); document.root.appendChild(t);
var h = t.createTHead().insertRow(), th = document.createElement('th'); h.appendChild(th);
var b = t.createTBody();
['3', '', '-1', '2'].forEach(function (v) {
  var td = document.createElement('td'); td.setAttribute('data-v', v); td.textContent = v;
  b.insertRow().appendChild(td);
});
"""
        + SCRIPT
        + """
var order = function () { return b.rows.map(function (r) { return r.textContent; }); };
th.listeners.click(); var up = order(); th.listeners.click(); var down = order();
console.log(JSON.stringify([up, down]));
"""
    )
    assert _node(program) == [["-1", "2", "3", ""], ["3", "2", "-1", ""]]


@pytest.mark.skipif(NODE is None, reason="node runs the report's inline scripts")
def test_drilldown_tables_of_another_item_are_sortable_and_filterable(page: str) -> None:
    """(r12r) The drill-down's tables built when another item is chosen had no filter box and
    no sorting (the table script had run once, over the first item's tables)."""
    from optim.planning.drilldown import SCRIPT as DRILL
    from optim.planning.report import SCRIPT

    data = re.search(r'<script type="application/json" id="item-data">(.*?)</script>', page, re.S)
    assert data is not None
    payload = data.group(1).replace("<\\/", "</")
    program = (
        "var data = " + payload + ";\n"
        """
var el = function (id, tag) { var e = document.createElement(tag); e.id = id;
  document.byId[id] = e; document.root.appendChild(e); return e; };
el('item-data', 'script').textContent = JSON.stringify(data);
var pick = el('item-pick', 'select'); pick.value = data.items[0][0];
var box = el('item-detail', 'div');
"""
        + DRILL
        + SCRIPT
        + """
pick.value = data.items[1][0]; pick.listeners.change();
var tables = box.children.filter(function (c) { return c.tagName === 'TABLE'; });
var ready = tables.filter(function (t) { return t.getAttribute('data-ready'); });
var boxes = box.children.filter(function (c) { return c.className === 'filter'; });
var stock = tables[1], cells = stock.tHead.rows[0].cells;
var k = cells.length - 1; cells[k].listeners.click();
var col = stock.tBodies[0].rows.map(function (r) { return r.cells[k].getAttribute('data-v'); });
console.log(JSON.stringify([tables.length, ready.length, boxes.length, col]));
"""
    )
    n_tables, ready, boxes, col = _node(program)
    assert n_tables >= ready >= 1 and boxes == ready  # every table of two rows or more
    values = [float(v) for v in col if v not in ("", None)]
    assert values == sorted(values)
