"""Per-item drill-down of the planning report: pick an item, see everything planned for it.

For every item of the run the report embeds one compact record (JSON inside a
``<script type="application/json">``, no external loads): its class (ABC/XYZ, demand
pattern, sales value), its policy (forecasting, review frequency, the policy types of its
item × location rows, the service target and promise per customer segment it serves), its
stock per stage (safety stock, base-stock level, decoupling point; the replenishment
parameters where the run computed them) and this week's rationing lines (customer, segment,
location, requested, allocated, the reason). A make-to-order item (no stock plan) shows its
locations with no stock, each one's promise, target and simulated on-time share
(``tables["replenishment"]``), and every stage of each supply path with the lane whose
receipts gave its lead time and that lead time's figures
(``tables["make_to_order_paths"]``). A
small inline script fills the tables for the item chosen in a list sorted by sales value;
it writes cells with ``textContent`` only (ids from the planner's files are never parsed as
HTML). Numbers are rounded (units to 2 decimals, rates to 4) and keys sorted, so the same run
gives the same bytes. Size, measured on the demo (seed 2026, 471 planned items): the
drill-down is 346 kB of a 604 kB report.
"""

from __future__ import annotations

import html
import json
import math
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from optim.planning import PlanningRun

__all__ = ["COLUMNS", "drilldown_section", "item_records", "rationing_lines_by_item"]

COLUMNS: dict[str, list[str]] = {
    "targets": ["customer segment", "service target", "promise (days)"],
    "stock": ["stage", "safety stock", "base-stock level", "decoupling point"],
    "lines": ["customer", "segment", "location", "requested", "allocated", "reason"],
    "promise": ["location", "service target", "promise (days)", "on time (simulated)",
                "meets target"],
    "path": ["location", "stage", "lane", "source", "mean (days)", "std dev (days)",
             "min (days)", "max (days)"],
}  # fmt: skip
"""Column headers of the drill-down tables (the records' arrays follow this order);
``promise`` and ``path`` only for make-to-order items."""

REPLENISHMENT = ("reorder_point", "order_up_to", "eoq")
"""Replenishment columns shown per stage when the run has them (``tables["replenishment"]``)."""


def _num(value: Any, digits: int = 2) -> float | None:
    x = float(value)
    return round(x, digits) if math.isfinite(x) else None


def rationing_lines_by_item(run: PlanningRun) -> dict[str, list[list[Any]]]:
    """This week's rationing lines per item: customer, segment, location, requested,
    allocated, explanation (the drill-down's rows)."""
    lines = run.rationing.tables.get("lines") if run.rationing.has_solution() else None
    by_item_lines: dict[str, list[list[Any]]] = {}
    if lines is not None and len(lines):
        cut = lines["customer"].astype(str).str.len() + lines["item"].astype(str).str.len() + 2
        loc = [d[k:] for d, k in zip(lines["demand_id"].astype(str), cut, strict=True)]
        for r, where in zip(lines.to_dict("records"), loc, strict=True):
            by_item_lines.setdefault(str(r["item"]), []).append(
                [
                    str(r["customer"]),
                    str(r["segment"]),
                    where,
                    _num(r["requested"]),
                    _num(r["allocated"]),
                    str(r.get("explanation", "")),
                ]
            )
    return by_item_lines


def _by_key(keys: Any, rows: Any) -> dict[Any, list[Any]]:
    """``rows`` grouped by ``keys`` (equal-length iterables): ``{key: [row, …]}`` in the
    order of first appearance, rows in their order - what ``groupby(sort=False)`` gives,
    without a frame per group."""
    out: dict[Any, list[Any]] = {}
    for key, row in zip(keys, rows, strict=True):
        out.setdefault(key, []).append(row)
    return out


def _levels(frame: pd.DataFrame) -> dict[Any, list[tuple[Any, Any]]]:
    """Per item of ``frame`` (columns item, segment, service_level): ``(segment, highest
    service level)`` sorted - the per-item ``groupby("segment")["service_level"].max()``."""
    top = frame.groupby(["item", "segment"], sort=False)["service_level"].max()
    pairs = zip(top.index.get_level_values(1), top, strict=True)
    out = _by_key(top.index.get_level_values(0), pairs)
    return {k: sorted(v) for k, v in out.items()}


def item_records(run: PlanningRun) -> dict[str, Any]:
    """The drill-down data: ``{"columns": …, "items": [[item, record], …]}`` in order of
    sales value (largest first). Every item with a stock plan or a replenishment row (made
    to order) has a record; items without history are left out.

    The tables are grouped by item once, in plain columns (a ``.loc`` and a small frame per
    item took ~1.5 s of the demo's report for its 471 items)."""
    seg = run.segmentation
    items = seg.items.sort_values(["value", "item"], ascending=[False, True], kind="stable")
    policy = seg.item_policy().set_index("item")  # one row per item
    policy_of = dict(
        zip(
            policy.index,
            zip(policy["forecasting"], policy["review_frequency"], strict=True),
            strict=True,
        )
    )
    stages = run.safety_stock.tables.get("stages", pd.DataFrame(columns=["stage"]))
    parts = stages["stage"].astype(str).str.rsplit("@", n=1)
    stages = stages.assign(item=parts.str[0], location=parts.str[-1])
    demands = run.safety_stock.tables.get("demands", pd.DataFrame(columns=["stage"]))
    demands = demands.assign(item=demands["stage"].astype(str).str.rsplit("@", n=1).str[0])
    rules = run.policy.segments
    replen = run.tables.get("replenishment")
    extra = [c for c in REPLENISHMENT if replen is not None and c in replen.columns]
    made: dict[str, list[Any]] = {}
    kinds: dict[str, str] = {}
    if replen is not None and len(replen):
        kinds = {
            str(k): ", ".join(sorted(g.unique()))
            for k, g in replen.groupby("item", sort=False)["policy"]
        }
        mto = replen[replen["policy"] == "make-to-order"]
        promise = zip(
            mto["location"].astype(str),
            mto["location"],
            mto["target"],
            mto["promise_days"],
            mto["cycle_service"],
            mto["meets_target"],
            strict=True,
        )
        made = {str(k): v for k, v in _by_key(mto["item"], promise).items()}
    paths = run.tables.get("make_to_order_paths")
    path_of: dict[str, list[Any]] = {}
    if paths is not None:
        cols = ["location", "stage", "lane", "source", "mean_days", "std_days", "min_days"]
        rows = zip(*(paths[c] for c in [*cols, "max_days"]), strict=True)
        path_of = {str(k): v for k, v in _by_key(paths["item"], rows).items()}
    cell_levels = _levels(seg.demand_stats(("item", "segment")))
    extra_of: dict[Any, tuple[Any, ...]] = {}
    if extra and replen is not None:
        first = replen.drop_duplicates(["item", "location"])
        keys = zip(first["item"], first["location"], strict=True)
        extra_of = dict(zip(keys, zip(*(first[c] for c in extra), strict=True), strict=True))
    by_item_lines = rationing_lines_by_item(run)
    stock_cols = ["location", "safety_stock", "base_stock_level", "decoupling_point"]
    stock_of = _by_key(stages["item"], zip(*(stages[c] for c in stock_cols), strict=True))
    demand_levels = _levels(demands) if len(demands) else {}
    in_demands = set(demands["item"])  # an item there has its targets there (maybe none)
    out = []
    for row in items.to_dict("records"):
        item = str(row["item"])
        own = stock_of.get(item)
        if own is None and item not in made:
            continue
        pol = policy_of.get(item)
        targets = []
        levels = demand_levels.get(item, [] if item in in_demands else None)
        if levels is None and item in made:  # made to order: not in the GSM instance
            levels = cell_levels.get(item, [])
        for name, level in levels or []:
            rule = rules.get(str(name))
            days = rule.max_service_time_days if rule is not None else math.nan
            targets.append([str(name), _num(level, 4), _num(days, 1)])
        if own is None:  # made to order: no stock at any of its locations
            own = [(where, 0.0, 0.0, False) for where, *_ in made[item]]
        stock = []
        for where, safety, base, decoupling in own:
            cells = [str(where), _num(safety), _num(base), bool(decoupling)]
            if extra:
                got = extra_of.get((item, str(where)))
                cells += [_num(v) for v in got] if got is not None else [None] * len(extra)
            stock.append(cells)
        out.append(
            [
                item,
                {
                    "class": f"{row['abc']}{row['xyz']}",
                    "pattern": str(row.get("pattern", "")),
                    "value": _num(row["value"]),
                    "forecasting": str(pol[0]) if pol is not None else "",
                    "review": str(pol[1]) if pol is not None else "",
                    "targets": targets,
                    "stock": stock,
                    "lines": sorted(by_item_lines.get(item, [])),
                    "policy": kinds.get(item, ""),
                    **(_made_to_order(made[item], path_of.get(item)) if item in made else {}),
                },
            ]
        )
    columns = dict(COLUMNS)
    columns["stock"] = [*COLUMNS["stock"], *(c.replace("_", " ") for c in extra)]
    return {"columns": columns, "items": out}


def _made_to_order(rows: list[Any], paths: list[Any] | None) -> dict[str, Any]:
    """A made-to-order item's ``promise`` and ``path`` rows (:data:`COLUMNS`) from its
    replenishment rows (location as text, location, target, promise days, cycle service,
    meets target) and supply-path rows (the ``path`` columns' fields)."""
    promise = [
        [str(where), _num(target, 4), _num(days, 1), _num(cycle, 4), bool(meets)]
        for where, _, target, days, cycle, meets in rows
    ]
    path = [
        [str(where), str(stage), str(lane), str(source), _num(mean), _num(std), _num(lo),
         _num(hi)]
        for where, stage, lane, source, mean, std, lo, hi in (paths or [])
    ]  # fmt: skip
    return {"promise": promise, "path": path}


SCRIPT = """
(function () {
  var data = JSON.parse(document.getElementById('item-data').textContent);
  var pick = document.getElementById('item-pick'), box = document.getElementById('item-detail');
  var byId = {};
  data.items.forEach(function (pair) { byId[pair[0]] = pair[1]; });
  function cell(row, value, num, raw) {
    var td = document.createElement('td');
    if (num) { td.className = 'num'; td.setAttribute('data-v', raw === null ? '' : raw); }
    td.textContent = value === null ? '–' : value === true ? 'yes' : value === false ? ''
      : (typeof value === 'number' ? value.toLocaleString('en-US') : value);
    row.appendChild(td);
  }
  function table(title, cols, rows, pct) {
    var h = document.createElement('h3'); h.textContent = title + ' (' + rows.length + ')';
    box.appendChild(h);
    if (!rows.length) { var p = document.createElement('p'); p.className = 'note';
      p.textContent = 'None.'; box.appendChild(p); return; }
    var t = document.createElement('table'), head = t.createTHead().insertRow();
    cols.forEach(function (c) { var th = document.createElement('th'); th.textContent = c;
      head.appendChild(th); });
    var body = t.createTBody();
    rows.forEach(function (r) {
      var tr = body.insertRow();
      r.forEach(function (v, k) {
        var shown = (pct.indexOf(k) >= 0 && typeof v === 'number')
          ? (100 * v).toFixed(1) + '%' : v;
        cell(tr, shown, typeof v === 'number' || v === null, v);
      });
    });
    box.appendChild(t);
    if (window.optimTable) window.optimTable(t);  // sortable and filterable like the rest
  }
  function show(item) {
    var r = byId[item]; box.textContent = ''; if (!r) return;
    var p = document.createElement('p');
    p.textContent = item + ': class ' + r['class'] + ', ' + r.pattern + ' demand, sales value '
      + (r.value === null ? '–' : r.value.toLocaleString('en-US')) + '; forecasting: '
      + r.forecasting + ', review: ' + r.review + (r.policy ? '; policy: ' + r.policy : '')
      + '.';
    box.appendChild(p);
    table('Service targets per customer segment', data.columns.targets, r.targets, [1]);
    table('Stock per stage', data.columns.stock, r.stock, []);
    if (r.promise) {
      table('Make-to-order promise per location', data.columns.promise, r.promise, [1, 3]);
      table('Supply path: lanes and lead times', data.columns.path, r.path, []);
    }
    table("This week's rationing lines", data.columns.lines, r.lines, []);
  }
  pick.addEventListener('change', function () { show(pick.value); });
  show(pick.value);
})();
"""
"""Fills the drill-down for the chosen item (textContent only; no external loads)."""


def drilldown_section(run: PlanningRun) -> str:
    """The "Per item" section: a list of items (by sales value) and the chosen item's
    class, policy, stock per stage and rationing lines (module docstring)."""
    data = item_records(run)
    if not data["items"]:
        return ""
    from optim.planning.report import currency

    money = f" {html.escape(str(currency(run)))}" if currency(run) else ""  # plan.yaml's
    options = "\n".join(
        f'<option value="{html.escape(item, quote=True)}">{html.escape(item)} '
        f"({html.escape(rec['class'])}, value {rec['value'] or 0:,.0f}{money})</option>"
        for item, rec in data["items"]
    )
    payload = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    # <, > and & as JSON escapes: the text can neither close the script element nor open
    # an HTML comment in it (a customer id 'C<!--<script>' made the rest of the report
    # script text: 11 sections and the drill-down gone, exit 0)
    payload = payload.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    return (
        '<section id="item-drilldown" class="table">\n<h2>Per item</h2>\n'
        '<p class="hint">Choose an item (largest sales value first): its class and policy, '
        "the service target per customer segment it serves, its stock per stage (a "
        "make-to-order item: none, its promise per location and the lanes of its supply "
        "path) and this week's rationing lines with their reasons.</p>\n"
        '<label for="item-pick">Item </label>'
        f'<select id="item-pick">\n{options}\n</select>\n'
        '<div id="item-detail"></div>\n'
        '<noscript><p class="note">The drill-down needs JavaScript; the same numbers are in '
        "safety_stock/stages.csv, segmentation/item_policy.csv, "
        "segmentation/make_to_order_paths.csv and rationing/lines.csv."
        "</p></noscript>\n"
        f'<script type="application/json" id="item-data">{payload}</script>\n'
        f"<script>{SCRIPT}</script>\n</section>"
    )
