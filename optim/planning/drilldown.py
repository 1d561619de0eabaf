"""Per-item drill-down of the planning report: pick an item, see everything planned for it.

For every item of the run the report embeds one compact record (JSON inside a
``<script type="application/json">``, no external loads): its class (ABC/XYZ, demand
pattern, sales value), its policy (forecasting, review frequency, the service target and
promise per customer segment it serves), its stock per stage (safety stock, base-stock
level, decoupling point; the replenishment parameters where the run computed them) and this
week's rationing lines (customer, segment, location, requested, allocated, the reason). A
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

__all__ = ["COLUMNS", "drilldown_section", "item_records"]

COLUMNS: dict[str, list[str]] = {
    "targets": ["customer segment", "service target", "promise (days)"],
    "stock": ["stage", "safety stock", "base-stock level", "decoupling point"],
    "lines": ["customer", "segment", "location", "requested", "allocated", "reason"],
}
"""Column headers of the three drill-down tables (the records' arrays follow this order)."""

REPLENISHMENT = ("reorder_point", "order_up_to", "eoq")
"""Replenishment columns shown per stage when the run has them (``tables["replenishment"]``)."""


def _num(value: Any, digits: int = 2) -> float | None:
    x = float(value)
    return round(x, digits) if math.isfinite(x) else None


def item_records(run: PlanningRun) -> dict[str, Any]:
    """The drill-down data: ``{"columns": …, "items": [[item, record], …]}`` in order of
    sales value (largest first). Items without history (no stock plan) are left out."""
    seg = run.segmentation
    items = seg.items.sort_values(["value", "item"], ascending=[False, True], kind="stable")
    policy = seg.item_policy().set_index("item")
    stages = run.safety_stock.tables.get("stages", pd.DataFrame(columns=["stage"]))
    parts = stages["stage"].astype(str).str.rsplit("@", n=1)
    stages = stages.assign(item=parts.str[0], location=parts.str[-1])
    demands = run.safety_stock.tables.get("demands", pd.DataFrame(columns=["stage"]))
    demands = demands.assign(item=demands["stage"].astype(str).str.rsplit("@", n=1).str[0])
    rules = run.policy.segments
    replen = run.tables.get("replenishment")
    extra = [c for c in REPLENISHMENT if replen is not None and c in replen.columns]
    if extra and replen is not None:
        replen = replen.drop_duplicates(["item", "location"]).set_index(["item", "location"])
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
    stock_of = {k: g for k, g in stages.groupby("item", sort=False)}
    demand_of = {k: g for k, g in demands.groupby("item", sort=False)}
    out = []
    for row in items.to_dict("records"):
        item = str(row["item"])
        if item not in stock_of:
            continue
        pol = policy.loc[item] if item in policy.index else None
        targets = []
        if item in demand_of:
            for name, level in sorted(
                demand_of[item].groupby("segment")["service_level"].max().items()
            ):
                rule = rules.get(str(name))
                days = rule.max_service_time_days if rule is not None else math.nan
                targets.append([str(name), _num(level, 4), _num(days, 1)])
        stock = []
        for s in stock_of[item].to_dict("records"):
            cells = [
                str(s["location"]),
                _num(s["safety_stock"]),
                _num(s["base_stock_level"]),
                bool(s["decoupling_point"]),
            ]
            if extra and replen is not None:
                key = (item, str(s["location"]))
                got: Any = replen.loc[key] if key in replen.index else None
                cells += [_num(got[c]) if got is not None else None for c in extra]
            stock.append(cells)
        out.append(
            [
                item,
                {
                    "class": f"{row['abc']}{row['xyz']}",
                    "pattern": str(row.get("pattern", "")),
                    "value": _num(row["value"]),
                    "forecasting": str(pol["forecasting"]) if pol is not None else "",
                    "review": str(pol["review_frequency"]) if pol is not None else "",
                    "targets": targets,
                    "stock": stock,
                    "lines": sorted(by_item_lines.get(item, [])),
                },
            ]
        )
    columns = dict(COLUMNS)
    columns["stock"] = [*COLUMNS["stock"], *(c.replace("_", " ") for c in extra)]
    return {"columns": columns, "items": out}


SCRIPT = """
(function () {
  var data = JSON.parse(document.getElementById('item-data').textContent);
  var pick = document.getElementById('item-pick'), box = document.getElementById('item-detail');
  var byId = {};
  data.items.forEach(function (pair) { byId[pair[0]] = pair[1]; });
  function cell(row, value, num) {
    var td = document.createElement('td');
    if (num) td.className = 'num';
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
        var shown = (pct && k === 1 && typeof v === 'number') ? (100 * v).toFixed(1) + '%' : v;
        cell(tr, shown, typeof v === 'number');
      });
    });
    box.appendChild(t);
  }
  function show(item) {
    var r = byId[item]; box.textContent = ''; if (!r) return;
    var p = document.createElement('p');
    p.textContent = item + ': class ' + r['class'] + ', ' + r.pattern + ' demand, sales value '
      + (r.value === null ? '–' : r.value.toLocaleString('en-US')) + '; forecasting: '
      + r.forecasting + ', review: ' + r.review + '.';
    box.appendChild(p);
    table('Service targets per customer segment', data.columns.targets, r.targets, true);
    table('Stock per stage', data.columns.stock, r.stock, false);
    table("This week's rationing lines", data.columns.lines, r.lines, false);
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
    options = "\n".join(
        f'<option value="{html.escape(item, quote=True)}">{html.escape(item)} '
        f"({html.escape(rec['class'])}, value {rec['value'] or 0:,.0f})</option>"
        for item, rec in data["items"]
    )
    payload = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    payload = payload.replace("</", "<\\/")  # never closes the script element
    return (
        '<section id="item-drilldown" class="table">\n<h2>Per item</h2>\n'
        '<p class="hint">Choose an item (largest sales value first): its class and policy, '
        "the service target per customer segment it serves, its stock per stage and this "
        "week's rationing lines with their reasons.</p>\n"
        '<label for="item-pick">Item </label>'
        f'<select id="item-pick">\n{options}\n</select>\n'
        '<div id="item-detail"></div>\n'
        '<noscript><p class="note">The drill-down needs JavaScript; the same numbers are in '
        "safety_stock/stages.csv, segmentation/item_policy.csv and rationing/lines.csv."
        "</p></noscript>\n"
        f'<script type="application/json" id="item-data">{payload}</script>\n'
        f"<script>{SCRIPT}</script>\n</section>"
    )
