"""Shortage rationing: instance → staged allocation → :class:`optim.Result`.

The rules (exact, staged; see :mod:`optim.models.rationing`):

1. contractual minimums first, as their own stage;
2. tiers in order: a tier gets as much as possible before a lower tier gets anything from the
   same stock; stock a higher tier cannot use flows on;
3. inside a tier that cannot be served in full, the segments' fair-share rule, leximin on the
   rule's ratio (proportional: fill rate; equal: quantity; weighted: quantity per weight);
4. ``max_quantity``, ``lot_size`` and ``all_or_nothing`` always hold (integer rules by MIP);
5. then routing: lane cost, then change against ``previous`` (``stability``), then location
   preference (default order: location id); remaining ties are resolved by the deterministic
   single-threaded HiGHS simplex, so the same input gives byte-identical output.

Result tables: ``allocations`` (demand_id, item, location, quantity), ``lines`` (one row per
demand line with requested, allocated, fill_rate, tier, stage and a sentence that explains the
quantity), ``segments`` and ``unallocated`` (supply left per item and location).
"""

from __future__ import annotations

import time

import numpy as np
import pandas as pd

from optim import _rationing_engine as engine
from optim.instances.rationing import RationingInstance
from optim.models.rationing.arrays import RULES, Problem, prepare
from optim.params import SolveParams
from optim.result import Result
from optim.solvers import highs
from optim.status import Status

STAGE_NAMES = {
    engine.NO_STOCK: "no_stock",
    engine.FULL: "full",
    engine.CAPPED: "capped",
    engine.FAIR: "fair_share",
    engine.ZERO_LEFT: "nothing_left",
    engine.INTEGER: "integer",
}


def solve(instance: RationingInstance, params: SolveParams | None = None) -> Result:
    """Allocate scarce supply to demand lines by the instance's pre-approved rules.

    Parameters
    ----------
    instance
        A validated :class:`~optim.instances.rationing.RationingInstance`.
    params
        ``solver="auto"``/``"highs"`` runs the block-decomposed fast path; ``"pyomo"`` the
        Pyomo reference formulation (small instances; same answers, tested equal).

    Returns
    -------
    Result
        ``objective`` is the total allocated quantity.
    """
    params = params or SolveParams()
    start = time.perf_counter()
    problem = prepare(instance)
    if params.solver == "pyomo":
        from optim import _rationing_reference as reference

        try:
            outcome = reference.allocate(problem, params)
        except engine.EngineError as exc:
            return _failed(exc, params, start, "pyomo+highs")
        solver = "pyomo+highs"
    elif params.solver in ("auto", "highs"):
        try:
            outcome = engine.allocate(problem, params)
        except engine.EngineError as exc:
            return _failed(exc, params, start, "highs")
        solver = "highs"
    else:
        from optim.errors import InstanceError

        raise InstanceError(
            f"solver {params.solver!r} is not available for rationing; allowed: auto, highs, "
            "pyomo",
            field="solver",
        )
    tables = build_tables(instance, problem, outcome)
    total = float(outcome.alloc.sum())
    lane_cost = float((problem.arc_cost * outcome.flow).sum())
    requested = float(problem.request.sum())
    short = int((outcome.alloc < problem.cap - 1e-9 * np.maximum(1, problem.cap)).sum())
    message = (
        f"allocated {total:.10g} of {requested:.10g} requested "
        f"({total / requested:.1%}); {short} of {problem.num_lines} lines short"
    )
    return Result(
        kind="rationing",
        status=Status.OPTIMAL,
        objective=total,
        bound=total,
        gap=0.0,
        runtime=time.perf_counter() - start,
        solver=solver,
        solver_version=highs.version(),
        tables=tables,
        message=message,
        params=params,
        info={
            "total_requested": requested,
            "total_allocated": total,
            "lane_cost": lane_cost,
        },
    )


def _failed(exc: engine.EngineError, params: SolveParams, start: float, solver: str) -> Result:
    if exc.status is Status.TIME_LIMIT:
        msg = (
            "time limit reached before every stage finished; rationing returns no partial "
            "allocation because an unfinished stage would break the tier rules"
        )
    else:
        msg = f"a stage LP failed: {exc}"
    return Result(
        kind="rationing",
        status=exc.status,
        runtime=time.perf_counter() - start,
        solver=solver,
        solver_version=highs.version(),
        message=msg,
        params=params,
    )


def build_tables(
    inst: RationingInstance, p: Problem, out: engine.Outcome
) -> dict[str, pd.DataFrame]:
    """Result tables keyed by the instance's ids."""
    dem = inst.demand
    used = np.flatnonzero(out.flow > 0)
    allocations = pd.DataFrame(
        {
            "demand_id": p.line_id[p.arc_line[used]],
            "item": p.item_names[p.cell_item[p.arc_cell[used]]],
            "location": p.location_names[p.cell_location[p.arc_cell[used]]],
            "quantity": out.flow[used],
        }
    )
    stage = out.stage.copy()
    full = stage == engine.FULL
    stage[full & (p.cap < p.request - 1e-12)] = engine.CAPPED
    requested = p.request
    fill = out.alloc / requested
    rule = np.asarray(RULES, dtype=object)[p.rule]
    lines = pd.DataFrame(
        {
            "demand_id": p.line_id,
            "customer": dem["customer"].to_numpy(),
            "item": dem["item"].to_numpy(),
            "segment": dem["segment"].to_numpy(),
            "tier": p.tier,
            "fair_share": rule,
            "requested": requested,
            "allocated": out.alloc,
            "fill_rate": fill,
            "min_quantity": p.minimum,
            "stage": pd.Series(stage).map(STAGE_NAMES).to_numpy(),
            "explanation": _explain(p, out, stage),
        }
    )
    seg = (
        lines.groupby("segment", sort=False)
        .agg(lines=("demand_id", "size"), requested=("requested", "sum"),
             allocated=("allocated", "sum"))
        .reset_index()
    )
    seg = inst.segments.rename(columns={"name": "segment"}).merge(seg, on="segment", how="left")
    seg[["lines"]] = seg[["lines"]].fillna(0).astype(np.int64)
    seg[["requested", "allocated"]] = seg[["requested", "allocated"]].fillna(0.0)
    seg["fill_rate"] = np.where(seg["requested"] > 0, seg["allocated"] / seg["requested"].where(
        seg["requested"] > 0, 1.0), np.nan)
    seg = seg.sort_values(["tier", "segment"], kind="stable").reset_index(drop=True)
    taken = np.bincount(p.arc_cell, out.flow, p.num_cells)
    unallocated = pd.DataFrame(
        {
            "item": inst.supply["item"].to_numpy(),
            "location": inst.supply["location"].to_numpy(),
            "supply": p.supply,
            "allocated": taken,
            "unallocated": np.maximum(p.supply - taken, 0.0),
        }
    )
    return {
        "allocations": allocations,
        "lines": lines,
        "segments": seg,
        "unallocated": unallocated,
    }


def _fmt(values: np.ndarray) -> pd.Series:
    return pd.Series([f"{v:.6g}" for v in values], dtype=object)


def _explain(p: Problem, out: engine.Outcome, stage: np.ndarray) -> np.ndarray:
    """One sentence per line saying which rule gave its quantity."""
    n = p.num_lines
    text = np.empty(n, dtype=object)
    tier_txt = "tier " + pd.Series(p.tier).astype(str)
    full = stage == engine.FULL
    text[full] = (tier_txt[full] + ": served in full").to_numpy()
    capped = stage == engine.CAPPED
    if capped.any():
        text[capped] = (tier_txt[capped] + ": served up to its max_quantity "
                        + _fmt(p.cap[capped]).to_numpy()).to_numpy()
    # eligible locations of lines that were rationed (fair share / nothing left / no stock)
    rationed = np.flatnonzero(~(full | capped))
    eligible = pd.Series("", index=range(n), dtype=object)
    if len(rationed):
        sel = np.isin(p.arc_line, rationed)
        names = pd.Series(p.location_names[p.cell_location[p.arc_cell[sel]]])
        joined = names.groupby(p.arc_line[sel], sort=False).agg(", ".join)
        eligible.loc[joined.index] = joined.to_numpy()
    after = pd.Series(
        np.where(p.tier > 1, " after tier" + np.where(p.tier > 2, "s 1–", " ")
                 + (p.tier - 1).astype(str), ""), dtype=object
    )
    fair = np.flatnonzero(stage == engine.FAIR)
    if len(fair):
        lev = out.level[fair]
        rule = p.rule[fair]
        share = np.where(
            rule == 0,
            "proportional share: fill rate " + _fmt(lev).to_numpy(),
            np.where(
                rule == 1,
                "equal share: " + _fmt(lev).to_numpy() + " units",
                "weighted share: " + _fmt(lev).to_numpy() + " per unit of weight (weight "
                + _fmt(p.weight[fair]).to_numpy() + ")",
            ),
        )
        # lines frozen below the highest level of their tier in their component were held
        # back by the stock their eligible locations can reach
        key = pd.Series(p.line_component[fair] * (p.num_tiers + 1) + p.tier[fair])
        top = pd.Series(lev).groupby(key.to_numpy()).transform("max").to_numpy()
        held = lev < top * (1 - 1e-9)
        reason = np.where(held, "; held lower because its eligible locations run out", "")
        text[fair] = (
            tier_txt[fair].to_numpy() + ", " + share + " of the stock at "
            + eligible.iloc[fair].to_numpy() + " left" + after.iloc[fair].to_numpy() + reason
        )
    zero = np.flatnonzero(stage == engine.ZERO_LEFT)
    if len(zero):
        text[zero] = (
            tier_txt[zero].to_numpy() + ": nothing left at " + eligible.iloc[zero].to_numpy()
            + np.where(p.tier[zero] > 1, after.iloc[zero].to_numpy(), " for this line")
        )
    integer = np.flatnonzero(stage == engine.INTEGER)
    if len(integer):
        share = out.share[integer] if out.share is not None else np.full(len(integer), np.nan)
        got = out.alloc[integer]
        lot, aon = p.lot[integer], p.all_or_nothing[integer]
        why = np.where(
            aon & (got <= 0),
            "all_or_nothing: its share " + _fmt(share).to_numpy() + " is less than the full "
            + _fmt(p.cap[integer]).to_numpy() + ", so the line is dropped",
            np.where(
                aon,
                "all_or_nothing: served the full " + _fmt(got).to_numpy() + " (its share was "
                + _fmt(share).to_numpy() + ")",
                np.where(
                    lot > 0,
                    "fair share " + _fmt(share).to_numpy() + " rounded to "
                    + _fmt(got).to_numpy() + " in lots of " + _fmt(lot).to_numpy(),
                    "adjusted from its fair share " + _fmt(share).to_numpy() + " to "
                    + _fmt(got).to_numpy() + " around other lines' whole lots",
                ),
            ),
        )
        text[integer] = tier_txt[integer].to_numpy() + ", integer rules: " + why
    none = np.flatnonzero(stage == engine.NO_STOCK)
    if len(none):
        text[none] = (
            "no supply row of item " + p.item_names[p.line_item[none]].astype(str)
            + " at its eligible locations"
        )
    # contractual minimums
    has_min = np.flatnonzero(p.minimum > 0)
    if len(has_min):
        got = out.floor[has_min]
        ok = got >= p.minimum[has_min] * (1 - 1e-9)
        suffix = np.where(
            ok,
            "; contractual minimum " + _fmt(p.minimum[has_min]).to_numpy() + " guaranteed first",
            "; contractual minimum " + _fmt(p.minimum[has_min]).to_numpy()
            + " only partly covered (" + _fmt(got).to_numpy()
            + "): minimums were rationed by tier first",
        )
        text[has_min] = text[has_min] + suffix
    return text
