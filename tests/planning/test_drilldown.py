"""The per-item drill-down's records (optim.planning.drilldown.item_records) are those of the
plain per-item implementation they replaced (frames and ``.loc`` per item, kept here as the
oracle): the same JSON, on a run with stocked and made-to-order items."""

from __future__ import annotations

import json
import math
from typing import Any

import pandas as pd
import pytest

from optim.planning import PlanningRun, run
from optim.planning.distributor import distributor_example
from optim.planning.drilldown import (
    COLUMNS,
    REPLENISHMENT,
    _num,
    item_records,
    rationing_lines_by_item,
)


@pytest.fixture(scope="module")
def small_run() -> PlanningRun:
    """The small seeded distributor (60 items, 30 customers, 60 weeks), run end to end."""
    return run(distributor_example(1, n_items=60, n_customers=30, weeks=60))


def test_item_records_are_the_per_item_reference(small_run: PlanningRun) -> None:
    got = item_records(small_run)
    want = _reference(small_run)
    assert any("promise" in rec for _, rec in got["items"])  # made-to-order items covered
    assert any(rec["stock"] and rec["lines"] for _, rec in got["items"])
    assert json.dumps(got, sort_keys=True) == json.dumps(want, sort_keys=True)


def _reference(run: PlanningRun) -> dict[str, Any]:
    """item_records as it was before it grouped the tables once: a ``.loc`` and a small
    frame per item (the oracle)."""
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
    made: dict[str, pd.DataFrame] = {}
    kinds: dict[str, str] = {}
    if replen is not None and len(replen):
        kinds = {
            str(k): ", ".join(sorted(g.unique()))
            for k, g in replen.groupby("item", sort=False)["policy"]
        }
        mto = replen[replen["policy"] == "make-to-order"]
        made = {str(k): g for k, g in mto.groupby("item", sort=False)}
    paths = run.tables.get("make_to_order_paths")
    path_of = (
        {str(k): g for k, g in paths.groupby("item", sort=False)} if paths is not None else {}
    )
    cell_targets = seg.demand_stats(("item", "segment"))
    if extra and replen is not None:
        replen = replen.drop_duplicates(["item", "location"]).set_index(["item", "location"])
    by_item_lines = rationing_lines_by_item(run)  # (unchanged by the grouping)
    stock_of = {k: g for k, g in stages.groupby("item", sort=False)}
    demand_of = {k: g for k, g in demands.groupby("item", sort=False)}
    out = []
    for row in items.to_dict("records"):
        item = str(row["item"])
        own = stock_of.get(item)
        if own is None and item not in made:
            continue
        pol = policy.loc[item] if item in policy.index else None
        targets = []
        levels = demand_of.get(item)
        if levels is None and item in made:  # made to order: not in the GSM instance
            levels = cell_targets[cell_targets["item"] == item]
        if levels is not None:
            for name, level in sorted(levels.groupby("segment")["service_level"].max().items()):
                rule = rules.get(str(name))
                days = rule.max_service_time_days if rule is not None else math.nan
                targets.append([str(name), _num(level, 4), _num(days, 1)])
        if own is None:  # made to order: no stock at any of its locations
            own = pd.DataFrame(
                {
                    "location": made[item]["location"].astype(str),
                    "safety_stock": 0.0,
                    "base_stock_level": 0.0,
                    "decoupling_point": False,
                }
            )
        stock = []
        for s in own.to_dict("records"):
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
                    "policy": kinds.get(item, ""),
                    **(
                        _reference_made_to_order(made[item], path_of.get(item))
                        if item in made
                        else {}
                    ),
                },
            ]
        )
    columns = dict(COLUMNS)
    columns["stock"] = [*COLUMNS["stock"], *(c.replace("_", " ") for c in extra)]
    return {"columns": columns, "items": out}


def _reference_made_to_order(rows: pd.DataFrame, paths: pd.DataFrame | None) -> dict[str, Any]:
    """A made-to-order item's ``promise`` and ``path`` rows (:data:`COLUMNS`)."""
    promise = [
        [
            str(r["location"]),
            _num(r["target"], 4),
            _num(r["promise_days"], 1),
            _num(r["cycle_service"], 4),
            bool(r["meets_target"]),
        ]
        for r in rows.to_dict("records")
    ]
    path = [
        [
            str(r["location"]),
            str(r["stage"]),
            str(r["lane"]),
            str(r["source"]),
            _num(r["mean_days"]),
            _num(r["std_days"]),
            _num(r["min_days"]),
            _num(r["max_days"]),
        ]
        for r in (paths.to_dict("records") if paths is not None else [])
    ]
    return {"promise": promise, "path": path}


def test_the_embedded_records_cannot_end_or_comment_out_their_script_element() -> None:
    """A customer id 'C<!--<script>' made the rest of the report script text (the browser's
    script-data states): 11 sections and the drill-down's own script gone, exit 0."""
    import dataclasses

    from optim.planning.drilldown import drilldown_section

    data = distributor_example(1, n_items=20, n_customers=10, weeks=60)
    nasty = "C<!--<script>&</script>"
    first = data.orders["customer"].iloc[0]
    rename = {"customer": lambda f: f["customer"].replace(first, nasty)}
    data = dataclasses.replace(
        data, history=data.history.assign(**rename), orders=data.orders.assign(**rename)
    )
    small = run(data)
    section = drilldown_section(small)
    payload = section.split('id="item-data">', 1)[1].split("</script>", 1)[0]
    assert not set("<>&") & set(payload)
    assert json.loads(payload) == json.loads(json.dumps(item_records(small)))
    assert nasty in json.dumps(json.loads(payload), ensure_ascii=False)
