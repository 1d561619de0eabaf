"""The exact routing (successive shortest paths, ``method="auto"``) is as good as the routing
LPs and the Pyomo reference, criterion by criterion.

Routing keeps every line's allocation and minimises lane cost, then change against the
previous allocation (``stability``), then preference rank. On random instances of both
shapes — lanes, stability with a previous allocation, caps, minimums, ties (whole quantities,
the equal rule), all three fair-share rules — the flow method and the staged LPs
(``method="lp"``) give the same allocation per line and the same three routing objectives
(each equal, in order); flows never exceed a cell's supply, every component was routed by the
method itself, and where the optimum is unique (small cases below) the flows are equal.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from optim import SolveParams
from optim.instances.generators.rationing import dense_rationing_frames, rationing_frames
from optim.instances.rationing import RationingInstance
from optim.models.rationing import engine, routing
from optim.models.rationing.arrays import Problem, prepare

RULE_SETS = [
    ("proportional", "proportional", "equal"),
    ("equal", "weighted", "proportional"),
    ("weighted", "equal", "equal"),
]


def _with_previous(frames: dict, seed: int) -> dict:
    """A previous allocation on some lines (at one of their eligible cells), stability on."""
    rng = np.random.default_rng(seed)
    dem, sup = frames["demand"], frames["supply"]
    rows = []
    for _, r in dem.sample(min(len(dem), 12), random_state=seed).iterrows():
        locs = r["locations"]
        if not isinstance(locs, list):
            locs = list(sup.loc[sup["item"] == r["item"], "location"])
        if locs:
            where = locs[int(rng.integers(len(locs)))]
            rows.append(
                {"demand_id": r["id"], "location": where, "quantity": float(rng.integers(1, 20))}
            )
    if rows:
        frames["previous"] = pd.DataFrame(rows)
        frames["stability"] = True
    return frames


shapes = st.fixed_dictionaries(
    {
        "shape": st.sampled_from(["sparse", "dense"]),
        "n_items": st.integers(1, 5),
        "n_locations": st.integers(1, 6),
        "tiers": st.integers(1, 3),
        "rules": st.sampled_from(RULE_SETS),
        "min_share": st.sampled_from([0.0, 0.3]),
        "max_share": st.sampled_from([0.0, 0.3]),
        "integer_quantities": st.booleans(),
        "lanes": st.booleans(),
        "stability": st.booleans(),
    }
)


def _instance(seed: int, kw: dict) -> RationingInstance:
    kw = dict(kw)
    shape, lanes, stability = kw.pop("shape"), kw.pop("lanes"), kw.pop("stability")
    if shape == "sparse":
        frames = rationing_frames(
            seed, n_customers=6, n_lines=40, stocked=(1, 5), lanes=lanes, **kw
        )
        if "weighted" in kw["rules"][: kw["tiers"]]:
            rng = np.random.default_rng(seed)
            frames["demand"]["weight"] = rng.integers(1, 5, len(frames["demand"])).astype(float)
    else:
        frames = dense_rationing_frames(seed, n_customers=4, lines_per_customer=10, **kw)
        if lanes:  # lane costs on a 0.01 grid: many equal-cost alternatives
            rng = np.random.default_rng(seed)
            pairs = (
                frames["demand"][["customer"]]
                .drop_duplicates()
                .merge(frames["supply"][["location"]].drop_duplicates(), how="cross")
            )
            frames["lanes"] = pairs.assign(cost=np.round(rng.uniform(0, 3, len(pairs)), 2))
    dem = frames["demand"]
    if "min_quantity" in dem:
        dem["min_quantity"] = np.fmin(dem["min_quantity"], np.floor(dem["quantity"]))
        if "max_quantity" in dem:
            dem["min_quantity"] = np.fmin(dem["min_quantity"], dem["max_quantity"])
    if stability:
        frames = _with_previous(frames, seed)
    return RationingInstance.from_frames(**frames)


def _assert_as_good(p: Problem, flow: np.ndarray, ref: np.ndarray, alloc, ref_alloc) -> None:
    np.testing.assert_allclose(alloc, ref_alloc, atol=1e-9)
    # each criterion equal given the earlier ones (grid rounding moves at most a few quanta)
    tol = (
        1e-6
        * (p.num_arcs + 1)
        * max(1.0, float(p.arc_cost.max(initial=0)), float(p.arc_rank.max(initial=0)))
    )
    np.testing.assert_allclose(
        routing.objectives(p, flow), routing.objectives(p, ref), atol=tol, rtol=1e-9
    )
    used = np.bincount(p.arc_cell, flow, p.num_cells)
    assert np.all(used <= p.supply + 1e-9 * np.maximum(1.0, p.supply))
    assert np.all(flow >= 0)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), shapes)
def test_exact_routing_is_as_good_as_the_routing_lps(seed, kw):
    inst = _instance(seed, kw)
    p = prepare(inst)
    fast = engine.allocate(p, SolveParams(method="auto"))
    lp = engine.allocate(p, SolveParams(method="lp"))
    _assert_as_good(p, fast.flow, lp.flow, fast.alloc, lp.alloc)
    # the method routed every component itself (no LP fallback)
    cost = routing.integer_costs(p.arc_cost)
    assert cost is not None
    has = np.bincount(p.arc_line, minlength=p.num_lines) > 0
    _, ok = routing.route(
        arc_line=p.arc_line,
        arc_cell=p.arc_cell,
        supply=p.supply,
        line_component=p.line_component,
        cell_component=p.cell_component,
        alloc=np.where(has, fast.alloc, 0.0),
        cost=cost,
        previous=p.arc_previous if p.stability else None,
        rank=p.arc_rank,
    )
    assert ok.all()


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), shapes)
def test_exact_routing_is_as_good_as_the_pyomo_reference(seed, kw):
    """The routing stage alone: the engine's allocation routed by the method and by the Pyomo
    reference's three routing LPs (:func:`optim.models.rationing.reference.route`)."""
    from optim.models.rationing import reference

    inst = _instance(seed, {**kw, "n_items": min(kw["n_items"], 2)})
    p = prepare(inst)
    alloc = engine.allocate(p, SolveParams()).alloc  # exactly feasible (on the grid)
    cost = routing.integer_costs(p.arc_cost)
    assert cost is not None
    flow, ok = routing.route(
        arc_line=p.arc_line,
        arc_cell=p.arc_cell,
        supply=p.supply,
        line_component=p.line_component,
        cell_component=p.cell_component,
        alloc=alloc,
        cost=cost,
        previous=p.arc_previous if p.stability else None,
        rank=p.arc_rank,
    )
    has = np.bincount(p.arc_line, minlength=p.num_lines) > 0
    assert ok[has].all()
    ref = reference.route(p, alloc, SolveParams(solver="pyomo"))
    np.testing.assert_allclose(np.bincount(p.arc_line, flow, p.num_lines), alloc, atol=1e-9)
    # the reference lets each line fall 1e-9 (relative) short of its allocation and solves to
    # HiGHS' 1e-7: its criteria may sit that much lower
    slack = 1e-8 * float(alloc.sum()) * (1.0 + max(float(p.arc_rank.max(initial=0)), 1.0))
    np.testing.assert_allclose(
        routing.objectives(p, flow), routing.objectives(p, ref), atol=slack + 1e-6, rtol=1e-9
    )
    used = np.bincount(p.arc_cell, flow, p.num_cells)
    assert np.all(used <= p.supply + 1e-9 * np.maximum(1.0, p.supply))


def _route(alloc, supply, arcs, rank, cost=None, previous=None):
    arcs = np.array(arcs)
    return routing.route(
        arc_line=arcs[:, 0],
        arc_cell=arcs[:, 1],
        supply=np.array(supply, dtype=float),
        line_component=np.zeros(len(alloc), np.int64),
        cell_component=np.zeros(len(supply), np.int64),
        alloc=np.array(alloc, dtype=float),
        cost=np.zeros(len(arcs), np.int64) if cost is None else np.array(cost, np.int64),
        previous=None if previous is None else np.array(previous, dtype=float),
        rank=np.array(rank, dtype=float),
    )


ARCS = [(0, 0), (0, 1), (1, 0), (1, 1)]  # two lines, both eligible at cells 0 and 1


def test_unique_optima_by_criterion():
    # preference alone: line 0 ranks cell 0 first, line 1 ranks cell 1 first
    flow, ok = _route([8, 8], [10, 10], ARCS, [0, 1, 1, 0])
    assert ok.all() and flow.tolist() == [8, 0, 0, 8]
    # lane cost first: line 1 is cheap at cell 1, whatever line 0 prefers
    flow, _ = _route([8, 8], [10, 10], ARCS, [0, 1, 0, 1], cost=[0, 5, 0, 1])
    assert flow.tolist() == [8, 0, 2, 6]
    # change before preference: last run gave line 0 three at cell 1 and line 1 eight at 0
    flow, _ = _route([8, 8], [10, 10], ARCS, [0, 1, 0, 1], previous=[0, 3, 8, 0])
    assert flow.tolist() == [2, 6, 8, 0]
    # a line through another's cell: line 0 (only cell 0) pushes line 1 to cell 1
    flow, _ = _route([6, 6], [6, 10], [(0, 0), (1, 0), (1, 1)], [0, 0, 1])
    assert flow.tolist() == [6, 0, 6]


def test_off_grid_lane_costs_go_to_the_lps():
    assert routing.integer_costs(np.array([0.5, 1.25])) is not None
    assert routing.integer_costs(np.array([1 / 3])) is None
