"""One self-contained HTML report of an end-to-end planning run (:mod:`optim.planning`).

:func:`render_report` turns a :class:`~optim.planning.PlanningRun` into one HTML page: a
header (data set, each solve's status, objective and gap), five plots and the main tables.
The plots are drawn with matplotlib's object API (no pyplot state) and embedded as inline
``<svg>`` with text kept as text, so the file needs no external CSS, JavaScript, fonts or
images.

1. **Segment matrix**: items per ABC × XYZ cell (count and share of sales value), and the
   customer segments' share of customers vs share of revenue.
2. **Stock placement**: the network template laid out in layers from its arcs (sources on
   the left), each stage sized and coloured by its safety-stock value, labelled with the
   value and the number of decoupling points.
3. **Service and cost by segment**: service target vs peak-plan vs short-week fill rate,
   and the safety-stock holding cost per week and peak shortfall cost per segment.
4. **Capacity and pre-build**: per resource, weekly regular and overtime hours against
   capacity; pre-build inventory per week; demand per segment per week.
5. **Rationing by tier**: requested vs allocated units per tier and segment, and the short
   lines per segment by how they were cut.

The output is deterministic: the same run gives byte-identical HTML (fixed SVG hash salt,
no dates, no runtimes unless ``include_runtime=True``).
"""

from __future__ import annotations

import html
import io
import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import matplotlib as mpl
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, PercentFormatter

from optim.result import Result

if TYPE_CHECKING:
    from optim.planning import PlanningRun
    from optim.result import Result

__all__ = ["fmt_money", "fmt_number", "fmt_pct", "render_report", "write_report"]

PALETTE = ("#1b4f72", "#2e86c1", "#85c1e9", "#d35400", "#7d3c98", "#229954", "#7f8c8d")
"""Segment colours, in the order of the segment summary (tier 1 first)."""

CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,sans-serif;margin:2em auto;
max-width:1100px;padding:0 1em;color:#1c2833;line-height:1.4}
h1{font-size:1.6em;margin-bottom:.2em}h2{font-size:1.25em;margin:1.6em 0 .3em;
border-bottom:1px solid #d5d8dc}p.hint{margin:.2em 0 .6em;color:#566573}
table{border-collapse:collapse;font-size:.85em;margin:.4em 0 1em}
th,td{padding:.25em .6em;border-bottom:1px solid #e5e8e8;text-align:left}
th{background:#f4f6f6}td.num{text-align:right;font-variant-numeric:tabular-nums}
svg{max-width:100%;height:auto}p.note{font-size:.85em;color:#566573}
tr.alert-critical td:first-child{color:#fff;background:#c0392b;font-weight:600}
tr.alert-warning td:first-child{background:#f5b041;font-weight:600}
tr.alert-info td:first-child{background:#d6eaf8}p.ok{color:#1e8449}
input.filter{display:block;margin:.3em 0;padding:.2em .4em;font-size:.85em;width:16em}
th[data-sort=up]:after{content:" ▲"}th[data-sort=down]:after{content:" ▼"}
section,div.scroll{overflow-x:auto}
@media (max-width:1100px){body{margin:1em auto}table{font-size:.8em}}
"""


# --------------------------------------------------------------------------- formatting
def fmt_pct(value: float, digits: int = 1) -> str:
    """Format a rate as a percentage (``0.886 -> "88.6%"``); NaN and None give ``"–"``."""
    if value is None or not math.isfinite(value):
        return "–"
    return f"{value:.{digits}%}"


def fmt_number(value: float, digits: int | None = None) -> str:
    """Format a number with thousands separators; NaN and None give ``"–"``.

    ``digits=None`` picks 0 decimals for integral values and magnitudes of at least 100,
    else 2.
    """
    if value is None or not math.isfinite(value):
        return "–"
    if digits is None:
        digits = 0 if abs(value) >= 100 or float(value).is_integer() else 2
    return f"{value:,.{digits}f}"


def currency(run: PlanningRun) -> str | None:
    """The money of the run's costs and values (``plan.yaml`` ``currency``), None if not
    stated."""
    return getattr(run.data, "currency", None)


def unit_name(run: PlanningRun) -> str:
    """The unit of the run's quantities (:attr:`optim.planning.PlanningRun.unit`)."""
    return run.unit


def fmt_money(run: PlanningRun, value: float, digits: int | None = 0) -> str:
    """:func:`fmt_number` followed by the run's currency when ``plan.yaml`` states one."""
    cur = currency(run)
    text = fmt_number(value, digits)
    return f"{text} {cur}" if cur and text != "–" else text


Labels = tuple[str | None, str | None]
"""``(currency, units)`` as stated in ``plan.yaml`` (None: not stated)."""


def labels(run: PlanningRun) -> Labels:
    """The run's :data:`Labels` for :func:`html_table`'s headers."""
    return currency(run), getattr(run.data, "units", None)


def header_label(name: str, stated: Labels = (None, None)) -> str:
    """A column's header: its name with spaces, and the currency of a money column or the
    unit of a quantity column (by :func:`optim.precision.column_kind`) where ``plan.yaml``
    states them."""
    from optim.precision import column_kind

    text = str(name).replace("_", " ")
    kind = column_kind(str(name))
    unit = stated[0] if kind == "money" else stated[1] if kind == "quantity" else None
    if unit and kind == "quantity":  # "safety stock units" counted in pcs: "safety stock (pcs)"
        text = " ".join(word for word in text.split(" ") if word != "units") or text
    return f"{text} ({unit})" if unit else text


def _column_formatter(name: str, values: pd.Series) -> Callable[[Any], str] | None:
    """The formatter of a numeric column, or None for text columns."""
    if pd.api.types.is_bool_dtype(values):
        return lambda v: "yes" if v else ""
    if not pd.api.types.is_numeric_dtype(values):
        return None
    from optim.precision import MONEY_DECIMALS, column_kind

    kind = column_kind(name, values)  # the CSV rule: rates as percentages, money to cents
    if kind == "rate":
        return lambda v: fmt_pct(float(v))
    if name.endswith("stderr") and kind == "float":  # of a rate or gap: points, not "0.00"
        return lambda v: fmt_pct(float(v), 2)
    if kind == "money" and not pd.api.types.is_integer_dtype(values):
        return lambda v: fmt_number(float(v), MONEY_DECIMALS)
    finite = values.to_numpy(float)
    finite = finite[np.isfinite(finite)]
    integral = bool(np.all(np.abs(finite - np.round(finite)) < 1e-6))
    large = finite.size > 0 and float(np.max(np.abs(finite))) >= 100
    digits = 0 if integral or large else 2
    return lambda v: fmt_number(float(v), digits)


def html_table(frame: pd.DataFrame, table_id: str, stated: Labels = (None, None)) -> str:
    """Render ``frame`` as an escaped HTML table with planner-friendly number formats; the
    headers of money and quantity columns carry the ``stated`` currency and unit
    (:func:`header_label`)."""
    cols = list(frame.columns)
    fmts = {c: _column_formatter(str(c), frame[c]) for c in cols}
    head = "".join(f"<th>{html.escape(header_label(str(c), stated))}</th>" for c in cols)
    rows = []
    for rec in frame.itertuples(index=False, name=None):
        cells = []
        for c, v in zip(cols, rec, strict=True):
            fmt = fmts[c]
            if fmt is None:
                text = "" if v is None or (isinstance(v, float) and math.isnan(v)) else str(v)
                cells.append(f"<td>{html.escape(text)}</td>")
            else:
                raw = float(v) if v is not None else math.nan
                key = f"{raw:.17g}" if math.isfinite(raw) else ""
                cells.append(f'<td class="num" data-v="{key}">{html.escape(fmt(v))}</td>')
        rows.append("<tr>" + "".join(cells) + "</tr>")
    body = "\n".join(rows)
    return (
        f'<table id="{table_id}">\n<thead><tr>{head}</tr></thead>\n'
        f"<tbody>\n{body}\n</tbody></table>"
    )


SCRIPT = """
window.optimTable = function (t) {
  var body = t.tBodies[0], head = t.tHead;
  if (!body || !head || body.rows.length < 2 || t.getAttribute('data-ready')) return;
  t.setAttribute('data-ready', '1');
  var box = document.createElement('input');
  box.type = 'search'; box.placeholder = 'filter rows…'; box.className = 'filter';
  box.addEventListener('input', function () {
    var q = box.value.toLowerCase();
    Array.prototype.forEach.call(body.rows, function (r) {
      r.style.display = r.textContent.toLowerCase().indexOf(q) < 0 ? 'none' : '';
    });
  });
  t.parentNode.insertBefore(box, t);
  Array.prototype.forEach.call(head.rows[0].cells, function (th, k) {
    th.title = 'click to sort'; th.style.cursor = 'pointer';
    th.addEventListener('click', function () {
      var up = th.getAttribute('data-sort') !== 'up';
      Array.prototype.forEach.call(head.rows[0].cells, function (o) {
        o.removeAttribute('data-sort');
      });
      th.setAttribute('data-sort', up ? 'up' : 'down');
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[k], y = b.cells[k];
        var vx = x.getAttribute('data-v'), vy = y.getAttribute('data-v');
        if (vx !== null && vy !== null) {
          if (vx === '' || vy === '') return (vx === '') - (vy === '');  // empty cells last
          var c = parseFloat(vx) - parseFloat(vy);
        } else {
          var c = x.textContent.localeCompare(y.textContent);
        }
        return up ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
};
document.querySelectorAll('table').forEach(window.optimTable);
"""
"""Sortable (click a header; empty cells last either way) and filterable (a search box
above each table) tables: a small inline script, no external loads; the page reads fine
without it. ``window.optimTable`` also serves the tables the drill-down builds when another
item is chosen."""


# --------------------------------------------------------------------------- svg output
def _svg(fig: Figure, prefix: str) -> str:
    """Inline SVG of ``fig``: no XML prolog or metadata, ids prefixed to be unique."""
    buf = io.StringIO()
    with mpl.rc_context({"svg.hashsalt": "optim-report", "svg.fonttype": "none"}):
        fig.savefig(buf, format="svg", metadata={"Date": None})
    text = buf.getvalue()
    text = text[text.index("<svg") :]
    text = re.sub(r"\s*<metadata>.*?</metadata>", "", text, flags=re.S)
    text = re.sub(r'\s+xmlns(?::xlink)?="[^"]*"', "", text)
    text = re.sub(r'\bid="', f'id="{prefix}-', text)
    text = text.replace("url(#", f"url(#{prefix}-").replace('href="#', f'href="#{prefix}-')
    return text.strip()


def _colours(segments: list[str]) -> dict[str, str]:
    return {s: PALETTE[k % len(PALETTE)] for k, s in enumerate(segments)}


def tick_label(value: float, _pos: object = None) -> str:
    """An axis tick with thousands separators and the decimals it has (at most two): a
    tick at 2.5 reads 2.5, not 2 (whole-number labels rounded the ticks of small axes)."""
    text = f"{value:,.2f}".rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def _thousands() -> FuncFormatter:
    return FuncFormatter(tick_label)


def _week_ticks(ax: Any, periods: list[str]) -> None:
    step = max(1, math.ceil(len(periods) / 13))
    ax.set_xticks(range(0, len(periods), step))
    ax.set_xticklabels([periods[k] for k in range(0, len(periods), step)], rotation=45, ha="right")


def _legend_outside(ax: Any, **kwargs: Any) -> None:
    """The legend to the right of the axes, never over the data (constrained layout makes
    room for it)."""
    ax.legend(
        loc="upper left",
        bbox_to_anchor=(1.01, 1.0),
        borderaxespad=0.0,
        frameon=False,
        fontsize=kwargs.pop("fontsize", 8),
        **kwargs,
    )


# --------------------------------------------------------------------------- plots
def segment_matrix(run: PlanningRun) -> pd.DataFrame:
    """The ABC × XYZ matrix behind the first chart: ``abc, xyz, items, value, value_share``
    per cell (every ABC × XYZ pair, empty cells with 0); the shares add up to 1."""
    items = run.segmentation.items
    abc = sorted(items["abc"].dropna().unique())
    xyz = sorted(items["xyz"].dropna().unique())
    index = pd.MultiIndex.from_product([abc, xyz], names=["abc", "xyz"])
    g = items.groupby(["abc", "xyz"])
    out = pd.DataFrame(
        {
            "items": g.size().reindex(index, fill_value=0),
            "value": g["value"].sum().reindex(index, fill_value=0.0),
        }
    ).reset_index()
    total = float(out["value"].sum())
    return out.assign(value_share=out["value"] / total if total > 0 else 0.0)


def plot_segment_matrix(run: PlanningRun) -> Figure:
    """ABC × XYZ heatmap coloured by share of sales value (annotated with item counts and
    the share: :func:`segment_matrix`), and customer segments' shares of customers and
    revenue."""
    cells = segment_matrix(run)
    abc = list(dict.fromkeys(cells["abc"]))
    xyz = list(dict.fromkeys(cells["xyz"]))
    grid = cells["items"].to_numpy(int).reshape(len(abc), len(xyz))
    share = cells["value_share"].to_numpy(float).reshape(len(abc), len(xyz))

    fig = Figure(figsize=(10, 3.8), layout="constrained")
    ax, bx = fig.subplots(1, 2, width_ratios=[1, 1.2])
    top = max(float(share.max()), 1e-12)
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=top * 1.15, aspect="auto")
    bar = fig.colorbar(image, ax=ax, fraction=0.06, pad=0.02)
    bar.ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    bar.set_label("share of sales value", fontsize=8)
    for i in range(len(abc)):
        for j in range(len(xyz)):
            n = int(grid[i, j])
            dark = share[i, j] > 0.6 * top
            ax.text(
                j,
                i,
                f"{n:,} item{'' if n == 1 else 's'}\n{fmt_pct(share[i, j])}",
                ha="center",
                va="center",
                fontsize=8,
                color="white" if dark else "#1c2833",
            )
    ax.set_xticks(range(len(xyz)), [f"{x}" for x in xyz])
    ax.set_yticks(range(len(abc)), [f"{a}" for a in abc])
    ax.set_xlabel("XYZ (demand variability: X steady … Z erratic)")
    ax.set_ylabel("ABC (sales value)")
    ax.set_title("Share of sales value per ABC × XYZ class")

    summary = run.tables["segment_summary"]
    segs = list(summary["segment"])
    cust = summary["customers"].to_numpy(float)
    rev = summary["revenue"].to_numpy(float)
    cust_share = cust / max(cust.sum(), 1e-12)
    rev_share = rev / max(rev.sum(), 1e-12)
    y = np.arange(len(segs))
    bx.barh(y - 0.2, cust_share, 0.4, color="#aab7b8", label="share of customers")
    bx.barh(y + 0.2, rev_share, 0.4, color="#1b4f72", label="share of revenue")
    for k in range(len(segs)):
        bx.text(
            cust_share[k],
            y[k] - 0.2,
            f" {int(cust[k]):,} customers ({fmt_pct(cust_share[k])})",
            va="center",
            fontsize=8,
        )
        bx.text(
            rev_share[k],
            y[k] + 0.2,
            f" {fmt_money(run, rev[k])} ({fmt_pct(rev_share[k])})",
            va="center",
            fontsize=8,
        )
    bx.set_yticks(y, segs)
    bx.invert_yaxis()
    bx.set_xlim(0, 1.45)
    bx.set_xticks([0, 0.25, 0.5, 0.75, 1.0])
    bx.xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    _legend_outside(bx)
    bx.set_title("Customer segments: customers vs revenue")
    return fig


def layered_layout(
    stages: list[str], arcs: list[tuple[str, str]]
) -> dict[str, tuple[float, float]]:
    """Positions of a DAG's nodes: x = longest path from a source, y = centred on successors.

    Each layer is ordered by the mean position of the node's predecessors (barycentre);
    then, from the last layer back, a node with successors moves to their mean height and
    the layer is pushed apart to keep one unit between neighbours.
    """
    succ: dict[str, list[str]] = {s: [] for s in stages}
    pred: dict[str, list[str]] = {s: [] for s in stages}
    for a, b in arcs:
        succ[a].append(b)
        pred[b].append(a)
    layer: dict[str, int] = {}
    order = {s: k for k, s in enumerate(stages)}
    pending = [s for s in stages if not pred[s]]
    indeg = {s: len(pred[s]) for s in stages}
    while pending:
        s = pending.pop(0)
        layer[s] = max((layer[p] + 1 for p in pred[s]), default=0)
        for t in succ[s]:
            indeg[t] -= 1
            if indeg[t] == 0:
                pending.append(t)
    for s in stages:  # nodes on a cycle (not expected): put them after the rest
        layer.setdefault(s, max(layer.values(), default=-1) + 1)
    layers: list[list[str]] = [[] for _ in range(max(layer.values(), default=-1) + 1)]
    for s in stages:
        layers[layer[s]].append(s)
    y: dict[str, float] = {}
    for nodes in layers:
        nodes.sort(
            key=lambda s: (np.mean([y[p] for p in pred[s] if p in y] or [order[s]]), order[s])
        )
        for k, s in enumerate(nodes):
            y[s] = float(k)
    for nodes in reversed(layers):
        for s in nodes:
            if succ[s]:
                y[s] = float(np.mean([y[t] for t in succ[s]]))
        for k in range(1, len(nodes)):
            y[nodes[k]] = max(y[nodes[k]], y[nodes[k - 1]] + 1.0)
    return {s: (float(layer[s]), -y[s]) for s in stages}


def plot_stock_placement(run: PlanningRun) -> Figure:
    """The network template with each stage sized/coloured by its safety-stock value."""
    net = run.data.network
    stages = [str(s["id"]) for s in net["stages"]]
    arcs = [(str(a["source"]), str(a["target"])) for a in net.get("arcs", [])]
    pos = layered_layout(stages, arcs)
    stock = run.tables["stock_by_stage"].set_index("location")
    value = stock["safety_stock_value"].reindex(stages).fillna(0.0).to_numpy(float)
    dps = stock["decoupling_points"].reindex(stages).fillna(0).to_numpy(float)
    n_layers = int(max(p[0] for p in pos.values())) + 1
    height = max(-p[1] for p in pos.values()) + 1
    fig = Figure(
        figsize=(max(6.0, 3.0 * n_layers), max(3.0, 0.9 * height + 1)), layout="constrained"
    )
    ax = fig.subplots()
    for a, b in arcs:
        ax.annotate(
            "",
            xy=pos[b],
            xytext=pos[a],
            arrowprops={
                "arrowstyle": "-|>",
                "color": "#95a5a6",
                "lw": 1.2,
                "shrinkA": 14,
                "shrinkB": 14,
            },
        )
    top = max(float(value.max()), 1e-12)
    sizes = 120 + 2200 * np.sqrt(value / top)
    xs = [pos[s][0] for s in stages]
    ys = [pos[s][1] for s in stages]
    points = ax.scatter(
        xs,
        ys,
        s=sizes,
        c=value,
        cmap="YlOrRd",
        vmin=0,
        vmax=top,
        edgecolors="#1c2833",
        linewidths=0.8,
        zorder=3,
    )
    for k, s in enumerate(stages):
        ax.annotate(
            f"{s}\n{fmt_money(run, value[k])} value\n{int(dps[k]):,} DP",
            (xs[k], ys[k]),
            xytext=(0, -np.sqrt(sizes[k]) / 2 - 4),
            textcoords="offset points",
            ha="center",
            va="top",
            fontsize=8,
        )
    cur = currency(run)
    fig.colorbar(
        points,
        ax=ax,
        label="safety-stock value" + (f" ({cur})" if cur else ""),
        shrink=0.8,
        format=_thousands(),
    )
    ax.set_xlim(-0.5, n_layers - 0.5)
    ax.set_ylim(-height + 0.1, 0.6)
    ax.set_axis_off()
    ax.set_title("Safety-stock value per stage (DP = decoupling points: items stocked there)")
    return fig


def _grouped_bars(
    ax: Any,
    x: np.ndarray,
    frame: pd.DataFrame,
    specs: tuple[tuple[str, str, str], ...],
    width: float,
    fmt: Callable[[float], str],
    rotation: float = 0,
) -> None:
    """One bar per (column, label, colour) of ``specs`` side by side at each ``x``, labelled."""
    centre = (len(specs) - 1) / 2
    for k, (col, label, colour) in enumerate(specs):
        vals = frame[col].to_numpy(float)
        pos = x + (k - centre) * width
        ax.bar(pos, vals, width, color=colour, label=label)
        for p, v in zip(pos, vals, strict=True):
            ax.text(p, v, fmt(v), ha="center", va="bottom", fontsize=7, rotation=rotation)


def plot_service_cost(run: PlanningRun) -> Figure:
    """Per customer segment: service target vs fill rates, and costs."""
    summary = run.tables["segment_summary"]
    segs = list(summary["segment"])
    x = np.arange(len(segs))
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    ax, bx, cx = fig.subplots(1, 3, width_ratios=[1.6, 1, 1])
    bars = (
        ("service_level_target", "service target", "#aab7b8"),
        ("peak_fill_rate", "peak plan fill rate", "#2e86c1"),
        ("short_week_fill_rate", "short-week fill rate", "#d35400"),
    )
    _grouped_bars(ax, x, summary, bars, 0.27, fmt_pct, rotation=90)
    ax.set_xticks(x, segs)
    ax.set_ylim(0, 1.3)
    ax.set_yticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    _legend_outside(ax)
    ax.set_title("Service: target vs achieved fill rate")
    for axis, (col, title, colour) in zip(
        (bx, cx),
        (
            ("safety_stock_cost_per_week", "Safety-stock holding cost\nper week", "#1b4f72"),
            ("peak_shortfall_cost", "Peak shortfall cost\nover the plan window", "#d35400"),
        ),
        strict=True,
    ):  # one unit per axis: cost per week and cost per plan window in separate panels
        _grouped_bars(axis, x, summary, ((col, title, colour),), 0.6, lambda v: fmt_number(v, 0))
        if currency(run):  # the money of the axis
            axis.set_ylabel(str(currency(run)))
        axis.set_xticks(x, segs, rotation=30, ha="right", fontsize=8)
        axis.yaxis.set_major_formatter(_thousands())
        top = float(summary[col].max())
        axis.set_ylim(0, top * 1.2 if top > 0 else 1.0)
        if top <= 0:
            axis.set_yticks([0])
        axis.set_title(title, fontsize=10)
    return fig


def plot_capacity(run: PlanningRun) -> Figure:
    """Per resource weekly hours vs capacity, pre-build inventory, demand per segment."""
    tables = run.capacity.tables
    util = tables["utilisation"]
    resources = list(dict.fromkeys(util["resource"]))
    periods = sorted(util["period"].astype(str).unique())
    inv = tables["inventory"]
    prebuild = inv.groupby(inv["period"].astype(str))["prebuild"].sum().reindex(periods)
    sp = tables["segment_periods"]
    demand = (
        sp.pivot_table(
            index=sp["period"].astype(str), columns="segment", values="demand", aggfunc="sum"
        )
        .reindex(periods)
        .fillna(0.0)
    )
    segs = [s for s in run.tables["segment_summary"]["segment"] if s in demand.columns]
    colours = _colours(list(run.tables["segment_summary"]["segment"]))
    x = np.arange(len(periods))
    fig = Figure(figsize=(10, 2.3 * (len(resources) + 2)), layout="constrained")
    axes = fig.subplots(len(resources) + 2, 1, sharex=True)
    for ax, res in zip(axes, resources, strict=False):
        r = util[util["resource"] == res].assign(period=lambda f: f["period"].astype(str))
        r = r.set_index("period").reindex(periods)
        over = r["overtime_used"].to_numpy(float)
        regular = r["hours_used"].to_numpy(float) - over
        ax.bar(x, regular, 0.8, color="#2e86c1", label="regular hours")
        ax.bar(x, over, 0.8, bottom=regular, color="#d35400", label="overtime hours")
        cap = r["capacity"].to_numpy(float)
        ax.step(x, cap, where="mid", color="#1c2833", lw=1.2, label="regular capacity")
        ax.step(
            x,
            cap + r["overtime_capacity"].to_numpy(float),
            where="mid",
            color="#1c2833",
            lw=1.0,
            ls="--",
            label="with overtime",
        )
        ax.set_ylabel("hours")
        ax.yaxis.set_major_formatter(_thousands())
        ax.set_ylim(
            0,
            1.3
            * float(
                np.nanmax(np.r_[cap + r["overtime_capacity"].to_numpy(float), regular + over, 1.0])
            ),
        )
        ax.set_title(f"{res}: hours used per week vs capacity", fontsize=10)
        _legend_outside(ax, fontsize=7)
    held = prebuild.fillna(0.0).to_numpy(float)
    axes[-2].bar(x, held, 0.8, color="#7d3c98")
    axes[-2].set_ylabel(unit_name(run))
    axes[-2].yaxis.set_major_formatter(_thousands())
    if not held.size or float(held.max()) <= 0:  # nothing pre-built: one tick at 0
        axes[-2].set_ylim(0, 1)
        axes[-2].set_yticks([0])
    axes[-2].set_title(
        "Pre-build inventory held at the end of the week (all families)", fontsize=10
    )
    bottom = np.zeros(len(periods))
    for s in segs:
        vals = demand[s].to_numpy(float)
        axes[-1].bar(x, vals, 0.8, bottom=bottom, color=colours[s], label=s)
        bottom += vals
    axes[-1].set_ylabel(unit_name(run))
    axes[-1].yaxis.set_major_formatter(_thousands())
    axes[-1].set_title("Forecast demand per customer segment", fontsize=10)
    _legend_outside(axes[-1], fontsize=7)
    _week_ticks(axes[-1], periods)
    return fig


def plot_rationing(run: PlanningRun) -> Figure:
    """Requested vs allocated per tier/segment, and short lines per segment by stage."""
    segt = run.rationing.tables["segments"].sort_values(["tier", "segment"], kind="stable")
    lines = run.rationing.tables["lines"]
    labels = [f"tier {t}\n{s}" for t, s in zip(segt["tier"], segt["segment"], strict=True)]
    x = np.arange(len(segt))
    fig = Figure(figsize=(10, 3.8), layout="constrained")
    ax, bx = fig.subplots(1, 2)
    req = segt["requested"].to_numpy(float)
    alloc = segt["allocated"].to_numpy(float)
    fill = segt["fill_rate"].to_numpy(float)
    ax.bar(x - 0.2, req, 0.4, color="#aab7b8", label="requested")
    ax.bar(x + 0.2, alloc, 0.4, color="#1b4f72", label="allocated")
    for i in range(len(x)):
        ax.text(
            x[i] + 0.2,
            alloc[i],
            fmt_pct(fill[i]),
            ha="center",
            va="bottom",
            fontsize=8,
        )
    ax.set_xticks(x, labels)
    ax.set_ylabel(unit_name(run))
    ax.yaxis.set_major_formatter(_thousands())
    _legend_outside(ax)
    ax.set_title("This week: requested vs allocated (fill rate)")
    short = lines[lines["allocated"] < lines["requested"] - 1e-6]
    counts = pd.crosstab(short["segment"], short["stage"]).reindex(
        list(segt["segment"]), fill_value=0
    )
    bottom = np.zeros(len(segt))
    stage_colour = {"fair_share": "#f5b041", "nothing_left": "#c0392b", "integer": "#8e44ad"}
    stage_label = {"integer": "lot rounding"}
    for k, stage in enumerate(counts.columns):
        vals = counts[stage].to_numpy(float)
        colour = stage_colour.get(stage, PALETTE[k % len(PALETTE)])
        bx.bar(
            x,
            vals,
            0.6,
            bottom=bottom,
            color=colour,
            label=stage_label.get(stage, str(stage).replace("_", " ")),
        )
        bottom += vals
    total = lines.groupby("segment").size().reindex(list(segt["segment"]), fill_value=0).to_numpy()
    for i in range(len(x)):
        bx.text(
            x[i],
            bottom[i],
            f"{int(bottom[i]):,} of {int(total[i]):,} lines",
            ha="center",
            va="bottom",
            fontsize=8,
        )
    bx.set_xticks(x, labels)
    bx.set_ylabel("order lines")
    bx.set_ylim(0, max(float(bottom.max()), 1.0) * 1.2)
    if len(counts.columns):
        _legend_outside(bx, title="cut at", title_fontsize=8)
    else:
        bx.text(0.5, 0.5, "every line served in full", transform=bx.transAxes, ha="center")
    bx.set_title("Short lines per segment")
    return fig


def peak_forecast_bands(run: PlanningRun) -> pd.DataFrame:
    """Weekly forecast per customer segment over the forecast horizon with an interval:
    ``segment, week, forecast, lo, hi``. Series' intervals do not add up; the segment's
    half-widths are root-sum-squared, i.e. the series' errors are taken as independent."""
    fc = run.tables["forecast"]
    up = (fc["hi"] - fc["forecast"]) ** 2
    down = (fc["forecast"] - fc["lo"]) ** 2
    g = fc.assign(up=up, down=down).groupby(["segment", "week"], sort=True)
    out = g[["forecast", "up", "down"]].sum(min_count=1).reset_index()  # no intervals: NaN
    return out.assign(
        lo=np.maximum(out["forecast"] - np.sqrt(out["down"]), 0.0),
        hi=out["forecast"] + np.sqrt(out["up"]),
    )[["segment", "week", "forecast", "lo", "hi"]]


def plot_peak_forecast(run: PlanningRun) -> Figure:
    """Forecast per customer segment and week with its interval; the plan window shaded."""
    bands = peak_forecast_bands(run)
    weeks = sorted(bands["week"].unique())
    segs = [s for s in run.tables["segment_summary"]["segment"] if s in set(bands["segment"])]
    colours = _colours(list(run.tables["segment_summary"]["segment"]))
    x = np.arange(len(weeks))
    fig = Figure(figsize=(10, 3.2), layout="constrained")
    ax = fig.subplots()
    for s in segs:
        b = bands[bands["segment"] == s].set_index("week").reindex(weeks)
        ax.plot(x, b["forecast"], color=colours[s], lw=1.6, label=f"{s}")
        ax.fill_between(x, b["lo"], b["hi"], color=colours[s], alpha=0.2, lw=0)
    start = run.data.plan_start.strftime("%Y-%m-%d")
    if start in weeks:
        ax.axvspan(weeks.index(start) - 0.5, len(weeks) - 0.5, color="#f4f6f6", zorder=0)
    ax.set_ylabel(f"{unit_name(run)} per week")
    ax.yaxis.set_major_formatter(_thousands())
    _legend_outside(ax, fontsize=7)
    _week_ticks(ax, weeks)
    return fig


PLOTS: tuple[tuple[str, str, str, Callable[[PlanningRun], Figure]], ...] = (
    (
        "segment-matrix",
        "1. Segment matrix",
        "Where the value sits: A items carry most sales value; Z items need the most buffer. "
        "Right: a few strategic customers carry a large share of revenue.",
        plot_segment_matrix,
    ),
    (
        "stock-placement",
        "2. Safety-stock placement on the network",
        "Bigger, darker stages hold more safety-stock value; decoupling points are the items "
        "that keep stock at that stage (the others are served through from upstream).",
        plot_stock_placement,
    ),
    (
        "service-cost",
        "3. Fill rate and cost by segment",
        "Compare achieved fill rates with the target of each segment; the cost panel shows what "
        "the service costs (stock) and what the peak shortfall costs.",
        plot_service_cost,
    ),
    (
        "capacity",
        "4. Capacity utilisation and pre-build",
        "Orange bars are overtime; purple bars are stock built ahead of the peak because weekly "
        "capacity cannot cover peak demand.",
        plot_capacity,
    ),
    (
        "rationing",
        "5. Rationing outcome by tier",
        "In a short week higher tiers are served first; short lines show who absorbs the "
        "shortage and whether it was cut by fair share or nothing was left.",
        plot_rationing,
    ),
)
"""Plot sections: id, title, reading hint, figure builder."""


# --------------------------------------------------------------------------- page
def _solves_table(run: PlanningRun, include_runtime: bool) -> str:
    rows = []
    steps: tuple[tuple[str, Result], ...] = (
        ("safety stock", run.safety_stock),
        ("peak capacity plan", run.capacity),
        ("rationing", run.rationing),
    )
    for name, res in steps:
        row = {
            "step": name,
            "status": str(res.status.value),
            "objective": fmt_number(res.objective, 2) if res.objective is not None else "–",
            "gap": fmt_pct(res.gap, 2) if res.gap is not None else "–",
            "solver": res.solver,
            "message": res.message,
        }
        if include_runtime:
            row["runtime"] = f"{res.runtime:.2f} s"
        rows.append(row)
    return f'<div class="scroll">{html_table(pd.DataFrame(rows), "solves")}</div>'


def _no_solution(result: Result) -> str:
    """A note in place of a plot or table whose solve returned no solution."""
    text = f"No solution: {result.kind} solve ended with status {result.status.value}"
    if result.message:
        text += f" ({result.message})"
    return f'<p class="note">{html.escape(text)}.</p>'


def _section(sid: str, title: str, hint: str, body: str, cls: str = "table") -> str:
    return (
        f'<section id="{sid}" class="{cls}">\n<h2>{html.escape(title)}</h2>\n'
        f'<p class="hint">{html.escape(hint)}</p>\n{body}\n</section>'
    )


def _metadata(run: PlanningRun) -> str:
    """Run metadata: optim version and the input's SHA-256 (from the planning folder; not
    its path, so the same input gives the same report wherever its folder lies)."""
    from optim.cli import _version

    source = getattr(run.data, "source", {}) or {}
    digest = source.get("sha256")
    text = f"optim {_version()}"
    if digest:
        text += f" · input SHA-256 {digest[:16]}…"
    return text


def _alerts_section(run: PlanningRun) -> str:
    """The alerts (:func:`optim.alerts.collect`), first on the page."""
    from optim.alerts import collect

    alerts = collect(run)
    if not alerts:
        body = '<p class="ok">Nothing to act on: every target is met and no rule was applied.</p>'
    else:
        rows = []
        for a in alerts:
            amount = fmt_number(a.amount) + (f" {a.unit}" if a.unit else "")
            rows.append(
                f'<tr class="alert-{a.severity}"><td>{html.escape(a.severity)}</td>'
                f"<td>{html.escape(a.topic)}</td><td>{html.escape(a.who)}</td>"
                f"<td>{html.escape(a.message)}</td>"
                f'<td class="num">{html.escape(amount if a.amount == a.amount else "")}</td></tr>'
            )
        body = (
            '<table id="alerts-table"><thead><tr><th>severity</th><th>topic</th><th>who</th>'
            "<th>what</th><th>how much</th></tr></thead><tbody>\n"
            + "\n".join(rows)
            + "\n</tbody></table>"
        )
    counts = {s: sum(a.severity == s for a in alerts) for s in ("critical", "warning", "info")}
    hint = ", ".join(f"{n} {s}" for s, n in counts.items()) + " — act on these first."
    return _section("alert-list", "Alerts to act on", hint, body)


def _lead_time_alerts(run: PlanningRun) -> str:
    """Lanes whose lead time extended (receipts.csv), first thing on the page."""
    drift = run.tables.get("lead_time_drift")
    if drift is None or not bool(drift["flagged"].any()):
        return ""
    items = []
    for row in drift[drift["flagged"]].itertuples():
        change = getattr(row, "safety_stock_change", float("nan"))
        value = getattr(row, "safety_stock_value_change", float("nan"))
        lane = getattr(row, "lane_safety_stock_change", float("nan"))
        items.append(
            f"<li><strong>Lead time extended on lane {html.escape(str(row.lane))}</strong>: "
            f"{row.base_mean_days:.1f} → {row.recent_mean_days:.1f} days on average "
            f"({row.recent_receipts} recent receipts against {row.base_receipts}; one-sided "
            f"Mann–Whitney p = {row.p_value:.2g}). Planned with the recent lead times: "
            f"network safety stock {change:+,.0f} {unit_name(run)} ({value:+,.0f}"
            f"{' ' + str(currency(run)) if currency(run) else ''} in value), "
            f"{lane:+,.0f} {unit_name(run)} at the lane's own stages, against its lead times "
            "before "
            "the recent window.</li>"
        )
    return (
        '<section id="alerts" class="alerts">\n<h2>Alerts</h2>\n<ul>\n'
        + "\n".join(items)
        + "\n</ul>\n</section>"
    )


def saving_text(run: PlanningRun) -> str:
    """The plan's holding cost against ``max_z`` (cover the strictest) on the same instance,
    the saving in money and %, and the same split by stage model (``stock_vs_max_z``)."""
    table = run.tables.get("stock_vs_max_z")
    pooling = run.safety_stock.info.get("instance", {}).get("pooling", "critical_level")
    if table is None:
        return (
            f"Stock planned with pooling {pooling!r}: no critical levels, so no saving against "
            "max_z is stated."
        )
    total = table[table["location"] == "total"].iloc[0]
    plan, base = float(total["holding_cost_per_week"]), float(total["holding_cost_per_week_max_z"])
    saving = float(total["saving_per_week"])
    text = (
        f"Critical levels (each segment its own target from shared stock): holding cost "
        f"{fmt_money(run, plan)} per week against {fmt_money(run, base)} with max_z (every "
        f"segment covered at its stage's strictest level, no reservation, the same demand "
        f"laws) on the same instance: saving "
        f"{fmt_money(run, saving)} per week ({fmt_pct(float(total['saving_share']))})."
    )
    by_model = (
        table[table["location"] != "total"]
        .groupby("stage_model", sort=True)[
            ["holding_cost_per_week", "holding_cost_per_week_max_z", "saving_per_week"]
        ]
        .sum()
    )
    parts = []
    from optim.planning.pipeline import STAGE_MODELS

    for name, row in by_model.iterrows():
        if name == STAGE_MODELS["none"]:
            continue
        b = float(row["holding_cost_per_week_max_z"])
        share = float(row["saving_per_week"]) / b if b > 0 else math.nan
        parts.append(
            f"stages with {name}: saving {fmt_money(run, float(row['saving_per_week']))} "
            f"({fmt_pct(share)})"
        )
    if parts:
        text += " By stage model: " + "; ".join(parts) + "."
    if bool((by_model["saving_per_week"] < 0).any()):
        text += (
            " A group with a negative saving holds more stock than under max_z because the "
            "two plans choose different service times (stock moves between stages; with equal "
            "service times every stage holds no more); the network total is at most max_z's "
            "when both solves are optimal."
        )
    return text


def simulation_text(run: PlanningRun) -> str:
    """What the run's simulation of the stock plan found, with its size and precision."""
    prec = run.tables.get("simulation_precision")
    if prec is None or prec.empty:
        return "The stock plan was not simulated."
    p = prec.iloc[0]
    rows, misses = int(p["rows"]), int(p["misses"])
    return (
        f"Simulated the stock plan as planned (base stocks, critical levels, service times, "
        f"the model's demand law): {rows - misses:,} of {rows:,} (item, stage, segment) "
        f"targets met, {misses:,} missed (interval wholly below the target); "
        f"{int(p.get('groups_below_target', 0)):,} location x segment group(s) below target on "
        "average over their items (see the table). "
        f"{int(p['periods']):,} periods x {int(p['replications']):,} replications, seed 0; "
        f"intervals are simultaneous over all rows at {fmt_pct(float(p['confidence']), 0)}, "
        f"median half-width {float(p['median_half_width']) * 100:.2f} points, largest "
        f"{float(p['max_half_width']) * 100:.2f} points."
    )


def _stock_service_section(run: PlanningRun) -> str:
    """Critical levels: the saving against max_z, stock and simulated service per segment."""
    body = [
        f'<p id="saving">{html.escape(saving_text(run))}</p>',
        f'<p id="simulation">{html.escape(simulation_text(run))}</p>',
    ]
    if "stock_vs_max_z" in run.tables:
        body.append(html_table(run.tables["stock_vs_max_z"], "stock-vs-max-z-table", labels(run)))
    if "service_by_segment" in run.tables:
        body.append(
            '<p class="hint">Stock and simulated service per location and customer segment '
            "(stock attributed by each segment's own-level requirement; service in the "
            "segment's measure, mean over its items).</p>"
        )
        body.append(
            html_table(run.tables["service_by_segment"], "service-by-segment-table", labels(run))
        )
    sim = run.tables.get("service_simulation")
    if sim is not None and not sim.empty:
        missed = sim[~sim["meets_target"].astype(bool)].sort_values("margin", kind="stable")
        if len(missed):
            cols = ["stage", "segment", "service_measure", "target", "fill", "ci_low", "ci_high"]
            body.append(
                f'<p class="hint">Misses ({len(missed):,}; the worst 50 shown, all in '
                "safety_stock/service_simulation.csv).</p>"
            )
            body.append(
                html_table(
                    missed[cols]
                    .head(50)
                    .rename(
                        columns={
                            "fill": "simulated_rate",
                            "ci_low": "interval_low_rate",
                            "ci_high": "interval_high_rate",
                        }
                    ),
                    "stock-misses-table",
                    labels(run),
                )
            )
    return _section(
        "stock-service",
        "Service from shared stock (critical levels)",
        "One base stock per stage and a critical level per segment: lower tiers stop being "
        "served from stock at their level, so each segment gets its own target. Compared "
        "with covering every segment at the strictest level (max_z), and proven by "
        "simulation.",
        "\n".join(body),
    )


def _replenishment_summary(table: pd.DataFrame) -> pd.DataFrame:
    return (
        table.groupby(["abc", "pattern", "policy", "review_period"], sort=True, dropna=False)
        .agg(
            rows=("item", "size"),
            target=("target", "mean"),
            cycle_service=("cycle_service", "mean"),
            lowest=("cycle_service", "min"),
            fill_rate=("fill_rate", "mean"),
            meets_target=("meets_target", "mean"),
            promise_days=("promise_days", "mean"),
        )
        .reset_index()
    )


def _replenishment_hint(table: pd.DataFrame) -> str:
    """The replenishment section's hint; the make-to-order sentence only where the run has
    make-to-order rows (:mod:`optim.planning.replenishment`)."""
    made = (table["policy"] == "make-to-order").any() if len(table) else False
    return (
        "Per item class, demand pattern and policy type: item × location rows, review period "
        "(periods), the target and the simulated cycle service (mean, lowest) and fill rate of "
        "the computed reorder points and order-up-to levels"
        + (
            "; make-to-order rows hold no stock: their promise (days) is the quantile of the "
            "replenishment time learned from the receipts' lanes (the template's lead times "
            "where there are none) at the strictest target of their segments — the whole "
            "supply path for lumpy items, GSM's upstream guaranteed service time + the "
            "stage's own lead time for the others — and their cycle service is the simulated "
            "share of orders delivered within it"
            if made
            else ""
        )
        + " (segmentation/item_policy.csv has every row and why)."
    )


CHANGES_SHOWN = 20
"""Rows of each change table shown in the report (the largest; all are in changes/*.csv)."""


def _changes_section(run: PlanningRun) -> str:
    """ "Changed since the last run" (``--previous``): counts, then the largest class, stock
    and allocation changes with their reasons (:mod:`optim.planning.compare`)."""
    prev = run.previous
    if prev is None:
        return ""
    classes = run.tables["changed_classes"]
    stock = run.tables["changed_stock"]
    alloc = run.tables["changed_allocation"]
    digest = prev.input_sha256
    hint = (
        f"Against {prev.folder}"
        + (f" (input SHA-256 {digest[:16]}…)" if digest else "")
        + f": {len(classes):,} item(s) changed class, {len(stock):,} stock position(s) moved "
        f"(value {stock['value_change'].sum():+,.2f}"
        f"{' ' + str(currency(run)) if currency(run) else ''}), {len(alloc):,} customer/item "
        f"allocation(s) changed. The largest {CHANGES_SHOWN} of each are shown; all are in "
        "changes/*.csv and the workbook."
    )
    top_stock = stock.reindex(stock["value_change"].abs().sort_values(ascending=False).index)
    top_alloc = alloc.reindex(alloc["change"].abs().sort_values(ascending=False).index)
    body = []
    for sid, title, frame in (
        ("changed-classes", "Class changes (ABC/XYZ)", classes),
        ("changed-stock", "Safety-stock moves per item and stage", top_stock),
        ("changed-allocation", "Allocation changes per item and customer", top_alloc),
    ):
        body.append(f"<h3>{html.escape(title)} ({len(frame):,})</h3>")
        body.append(
            html_table(frame.head(CHANGES_SHOWN), f"{sid}-table", labels(run))
            if len(frame)
            else '<p class="ok">None.</p>'
        )
    return _section("changed", "Changed since the last run", hint, "\n".join(body))


def _drilldown(run: PlanningRun) -> str:
    """The per-item drill-down (:mod:`optim.planning.drilldown`)."""
    from optim.planning.drilldown import drilldown_section

    return drilldown_section(run)


def render_report(run: PlanningRun, *, include_runtime: bool = False) -> str:
    """Render the planning run as one self-contained HTML page.

    Parameters
    ----------
    run
        The result of :func:`optim.planning.run`.
    include_runtime
        Also show solver and step runtimes (then the page is no longer reproducible).

    Returns
    -------
    str
        The HTML document.
    """
    data = run.data
    seg = run.segmentation
    facts = (
        f"{len(data.history):,} order lines of history, {len(seg.items):,} items, "
        f"{len(seg.customers):,} customers; this week: {len(data.orders):,} open order lines; "
        f"peak plan: {data.plan_weeks} weeks from {data.plan_start:%Y-%m-%d}."
    )
    stated = [
        f"{what} in {label}"
        for what, label in (("money", currency(run)), ("quantities", labels(run)[1]))
        if label
    ]
    if stated:
        said = " and ".join(stated)
        facts += f" {said[0].upper()}{said[1:]} (plan.yaml)."
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">\n<head>\n<meta charset="utf-8">',
        f"<title>Planning report — {html.escape(data.name)}</title>",
        f"<style>{CSS}</style>\n</head>\n<body>",
        f"<h1>Planning report</h1>\n<p><strong>{html.escape(data.name)}</strong></p>",
        f"<p>{html.escape(facts)}</p>",
        f'<p class="note">{html.escape(_metadata(run))}</p>',
        _lead_time_alerts(run),
        _alerts_section(run),
        _changes_section(run),
        _solves_table(run, include_runtime),
        _stock_service_section(run),
    ]
    if include_runtime and run.times:
        times = "; ".join(f"{k}: {v:.2f} s" for k, v in run.times.items())
        parts.append(f'<p class="note">Step times: {html.escape(times)}</p>')
    needs = {"capacity": run.capacity, "rationing": run.rationing}
    for sid, title, hint, builder in PLOTS:
        missing = needs.get(sid)
        if missing is not None and not missing.has_solution():
            parts.append(_section(sid, title, hint, _no_solution(missing), cls="plot"))
            continue
        parts.append(_section(sid, title, hint, _svg(builder(run), sid), cls="plot"))
    if "forecast" in run.tables:
        parts.append(
            _section(
                "peak-forecast",
                "6. Peak forecast with intervals",
                "Weekly forecast per customer segment (statsforecast model per item × segment × "
                "location) with its prediction interval (the shaded band; series' half-widths "
                "root-sum-squared, i.e. their errors taken as independent); the light area is "
                "the planned window. Backtest accuracy and interval coverage are in the table "
                "'Forecast accuracy'.",
                _svg(plot_peak_forecast(run), "peak-forecast"),
                cls="plot",
            )
        )
    for note in run.notes:
        parts.append(f'<p class="note">{html.escape(note)}</p>')

    summary = run.tables["segment_summary"]
    changes = seg.changes
    change_note = (
        f"{len(changes):,} change(s) against last week's run; the first 20 are shown."
        if len(changes)
        else "No segment changed against last week's run."
    )
    tables = (
        (
            "segment-summary",
            "Summary per customer segment",
            "Targets from the policy, the stock and its weekly cost attributed to the segment, "
            "the peak plan and this week's rationing.",
            summary,
        ),
        (
            "policy",
            "Policy table",
            "Targets per customer segment and item class.",
            run.policy.to_frame(),
        ),
        (
            "cell-policy",
            "Targets per item class × customer segment",
            f"What safety stock and rationing use: the policy's combine rule "
            f"({run.policy.combine!r}) applied to each cell; items = items with demand there.",
            run.tables["cell_policy"],
        ),
        (
            "item-policy",
            "Forecasting and review per item class and demand pattern",
            "Intermittent and lumpy items get other methods than smooth ones of the same class "
            "(the policy's pattern overrides).",
            seg.item_policy()
            .groupby(["abc", "pattern", "forecasting", "review_frequency"], sort=True)
            .size()
            .rename("items")
            .reset_index(),
        ),
        *(
            (
                (
                    "review",
                    "Service achieved against the targets (shipments)",
                    "Per customer segment × item class over the last 13 weeks of shipments.csv: "
                    "fill rate within the promise and on-time-in-full against the policy's "
                    "target, the trend (slope of the 4-week fill rate, points per bucket) and "
                    "what to do where it falls short (rule: optim.planning.review).",
                    run.tables["review"],
                ),
            )
            if "review" in run.tables
            else ()
        ),
        *(
            (
                (
                    "replenishment",
                    "Replenishment parameters, simulated",
                    _replenishment_hint(run.tables["replenishment"]),
                    _replenishment_summary(run.tables["replenishment"]),
                ),
            )
            if "replenishment" in run.tables
            else ()
        ),
        (
            "stock-by-stage",
            "Safety stock by stage",
            f"Per network stage: items, decoupling points, safety stock ({unit_name(run)}), "
            "value and holding cost per week.",
            run.tables["stock_by_stage"],
        ),
        ("changes", "Segmentation changes", change_note, changes.head(20)),
        *(
            (
                (
                    "stock-moved",
                    "Safety stock from forecast error, per item class",
                    "GSM placed stock twice: on the history's standard deviation and on the "
                    "backtest's forecast error (what is used). Change rate = forecast-error "
                    "stock / history stock − 1; σ are sums over the class's item × segment × "
                    "location cells.",
                    run.tables["stock_moved"],
                ),
            )
            if "stock_moved" in run.tables
            else ()
        ),
        *(
            (
                (
                    "forecast-accuracy",
                    "Forecast accuracy (rolling-origin backtest)",
                    "Per customer segment, demand pattern and overall: MASE, RMSSE, bias and "
                    "interval coverage of the chosen methods, and the same for seasonal naive "
                    "(naive_*). MASE below naive_mase: the method beats last year's weeks.",
                    run.tables["forecast_accuracy"].drop(columns=["note"], errors="ignore"),
                ),
            )
            if "forecast_accuracy" in run.tables
            else ()
        ),
        (
            "capacity-segments",
            "Peak plan per segment",
            f"Demand, served and lost quantities ({unit_name(run)}) and fill rates over the "
            "planning window.",
            run.capacity.tables.get("segments", pd.DataFrame()),
        ),
        (
            "rationing-segments",
            "Rationing per segment",
            "This week's allocation per tier.",
            run.rationing.tables.get("segments", pd.DataFrame()),
        ),
    )
    owner = {"capacity-segments": run.capacity, "rationing-segments": run.rationing}
    parts.append(_drilldown(run))
    for sid, title, hint, frame in tables:
        res = owner.get(sid)
        body = (
            _no_solution(res)
            if res is not None and not res.has_solution()
            else html_table(frame, f"{sid}-table", labels(run))
        )
        parts.append(_section(sid, title, hint, body))
    parts.append(f"<script>{SCRIPT}</script>")
    parts.append("</body>\n</html>\n")
    return "\n".join(parts)


def write_report(run: PlanningRun, path: Path, *, include_runtime: bool = False) -> Path:
    """Write :func:`render_report` to ``path`` (UTF-8) and return the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(render_report(run, include_runtime=include_runtime), encoding="utf-8")
    return path
