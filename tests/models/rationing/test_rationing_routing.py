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

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from optim import SolveParams
from optim.instances.generators.rationing import dense_rationing_frames, rationing_frames
from optim.instances.rationing import RationingInstance
from optim.models.problem import LinearProgram
from optim.models.rationing import engine, routing
from optim.models.rationing.arrays import Problem, prepare
from optim.solvers import highs
from optim.status import Status, Termination

DATA = Path(__file__).parent / "data"
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


PER_UNIT = 1_000_000  # quanta per unit (engine.QUANTUM = 1e-6)


def _ints(values, scale: int) -> list[int]:
    """``values`` as exact integers of ``1 / scale`` (asserting they are on that grid)."""
    v = np.asarray(values, dtype=np.float64) * scale
    whole = np.round(v)
    # a thousandth of a quantum, or the product's rounding (1e8 units × 1e6 is 1e14: a few
    # units of its last place, 0.016)
    assert np.all(np.abs(v - whole) <= 1e-3 + 4 * np.spacing(np.abs(v))), "off the grid"
    return [int(x) for x in whole]


def _exact(p: Problem, flow: np.ndarray) -> tuple[int, int, int]:
    """The routing criteria of grid flows as exact integers: lane cost in 1e-12 (costs in
    1e-6 × flows in quanta), change and preference rank in quanta."""
    q = _ints(flow, PER_UNIT)
    cost = _ints(p.arc_cost, PER_UNIT)
    rank = _ints(p.arc_rank, 1)
    change = 0
    if p.stability:
        prev = _ints(p.arc_previous, PER_UNIT)
        change = sum(abs(x - v) if v > 0 else x for x, v in zip(q, prev, strict=True))
    return (
        sum(c * x for c, x in zip(cost, q, strict=True)),
        change,
        sum(r * x for r, x in zip(rank, q, strict=True)),
    )


def _assert_feasible(p: Problem, flow: np.ndarray, alloc: np.ndarray) -> None:
    """Exactly, in quanta: every line routes its allocation, no cell gives more than it has."""
    q = np.array(_ints(flow, PER_UNIT), dtype=np.int64)
    assert np.all(q >= 0)
    lines = np.bincount(p.arc_line, q, p.num_lines).astype(np.int64)
    has = np.bincount(p.arc_line, minlength=p.num_lines) > 0
    assert lines[has].tolist() == np.array(_ints(alloc[has], PER_UNIT)).tolist()
    cells = np.bincount(p.arc_cell, q, p.num_cells).astype(np.int64)
    assert np.all(cells <= np.floor(p.supply * PER_UNIT + 1e-6))


def _closed(
    p: Problem, alloc: np.ndarray, floor: np.ndarray, grid: float = engine.QUANTUM
) -> np.ndarray:
    """Arcs a reported routing leaves empty: a line without an integer rule (with a minimum:
    above its ``floor``, beyond 1e-6 relative) at a cell where a line (no integer rule)
    short of its cap comes first — of a higher tier, or of the same tier with a lower
    fair-share ratio a / w (beyond 1e-6 relative, the leximin property's tolerance, or beyond
    what flooring both lines to the ``grid`` can part them, a quantum each: at a grid of
    1e-5, the one of quantities above 1e9, a line of weight 2 floored at level 0.8831181
    sits 3.1e-6 below it). Stock that rounding frees never goes to a line that comes after
    a short one there."""
    whole = (p.lot > 0) | p.all_or_nothing
    above = alloc > floor + 1e-6 * np.maximum(1.0, floor)
    short = (alloc < p.cap - 1e-9 * np.maximum(1.0, p.cap)) & ~whole
    w = p.rule_weight(p.request)
    ratio = alloc / w
    leximin = ~np.isin(p.line_component, p.line_component[whole])  # no integer rule moved it
    closed = np.zeros(p.num_arcs, bool)
    for k, (j, c) in enumerate(zip(p.arc_line.tolist(), p.arc_cell.tolist(), strict=True)):
        if (p.minimum[j] > 0 and not above[j]) or whole[j]:
            continue
        for i in p.arc_line[(p.arc_cell == c)].tolist():
            if short[i] and (
                p.tier[i] < p.tier[j]
                or (
                    p.tier[i] == p.tier[j]
                    and leximin[j]
                    and ratio[i]
                    < ratio[j] - max(1e-6 * max(1.0, ratio[j]), grid / w[i] + grid / w[j])
                )
            ):
                closed[k] = True
    return closed


def _assert_lexicographically_optimal(
    p: Problem, flow: np.ndarray, closed: np.ndarray | None = None
) -> None:
    """No routing of the same allocations (leaving the ``closed`` arcs empty) is
    lexicographically better, proven exactly.

    A feasible flow is optimal for a min-cost flow problem exactly when its residual network
    has no cycle of negative cost; with the lexicographic cost (lane cost, change, rank) —
    integers, compared as tuples — that is the lexicographic optimum. Residual arcs: line ->
    cell (more flow; change slope -1 below the previous quantity, else +1), cell -> line
    where the arc carries flow (less flow; minus the slope below the current flow), cell ->
    sink where the cell has stock left, sink -> cell where it gives some. Bellman-Ford from
    every node at distance 0: an improvement in round ``nodes`` means a negative cycle.
    Independent of the method under test (its own residual graph, its own integers).
    """
    q = _ints(flow, PER_UNIT)
    closed = np.zeros(p.num_arcs, bool) if closed is None else closed
    assert not np.any(np.array(q)[closed]), "flow on a closed arc"
    cost = _ints(p.arc_cost, PER_UNIT)
    rank = _ints(p.arc_rank, 1)
    prev = _ints(p.arc_previous, PER_UNIT) if p.stability else [0] * p.num_arcs
    n, C = p.num_lines, p.num_cells
    sink = n + C
    used = [0] * C
    for k, c in enumerate(p.arc_cell.tolist()):
        used[c] += q[k]
    stock = _ints(np.floor(p.supply * PER_UNIT + 1e-6) / PER_UNIT, PER_UNIT)
    edges = []
    for k, (i, c) in enumerate(zip(p.arc_line.tolist(), p.arc_cell.tolist(), strict=True)):
        up = (-1 if q[k] < prev[k] else 1) if p.stability else 0
        if not closed[k]:
            edges.append((i, n + c, (cost[k], up, rank[k])))
        if q[k] > 0:
            down = (-1 if q[k] <= prev[k] else 1) if p.stability else 0
            edges.append((n + c, i, (-cost[k], -down, -rank[k])))
    for c in range(C):
        if used[c] < stock[c]:
            edges.append((n + c, sink, (0, 0, 0)))
        if used[c] > 0:
            edges.append((sink, n + c, (0, 0, 0)))
    dist = [(0, 0, 0)] * (sink + 1)
    for _ in range(sink + 1):
        changed = False
        for u, v, w in edges:
            d = (dist[u][0] + w[0], dist[u][1] + w[1], dist[u][2] + w[2])
            if d < dist[v]:
                dist[v], changed = d, True
        if not changed:
            return
    raise AssertionError(
        "the routing has an improving residual cycle: not lexicographically optimal"
    )


def _assert_as_good(
    p: Problem,
    flow: np.ndarray,
    ref: np.ndarray,
    alloc,
    ref_alloc,
    floor,
    grid=engine.QUANTUM,
    relative: float = 1e-9,
) -> None:
    """``flow`` (the exact method) is feasible and lexicographically optimal (exact
    certificate), so at least as good as the LPs' routing ``ref`` of the same allocations
    (checked exactly too); where they differ first, the LPs' criterion is within what the LPs
    state they give away: each stage keeps the earlier criteria to 1e-9 (relative) of their
    optima and each line 1e-9 short, and the grid repair moves each arc by at most a quantum
    or two. (The LPs may spend that slack on a later criterion, so later ones are not
    compared: seed 2153 showed the change 3.3e-4 below the exact method's with the lane cost
    3.5e-7 above it.) ``relative``: what the first differing criterion may lose relative to
    its value (the stages' 1e-9, and at wide spans the LP solver's own tolerance on top).

    Both route the same allocations, quantum for quantum: the LP path's grid repair moves the
    quanta its noisy flows put at a full cell along augmenting paths instead of trimming
    them off a line."""
    _assert_feasible(p, flow, alloc)
    _assert_feasible(p, ref, ref_alloc)
    _assert_lexicographically_optimal(p, flow, _closed(p, alloc, floor, grid))
    assert _ints(alloc, PER_UNIT) == _ints(ref_alloc, PER_UNIT)
    ours, theirs = _exact(p, flow), _exact(p, ref)
    assert ours <= theirs
    coef = [np.abs(p.arc_cost), np.ones(p.num_arcs), np.abs(p.arc_rank)]
    unit = [PER_UNIT**2, PER_UNIT, PER_UNIT]
    for k in range(3):
        if ours[k] != theirs[k]:
            value = ours[k] / unit[k]
            slack = relative * max(1.0, abs(value)) + 1e-9 * float(coef[k] @ np.abs(ref))
            slack += 2e-6 * float(coef[k].sum())
            assert (theirs[k] - ours[k]) / unit[k] <= slack, (k, ours, theirs)
            break


# Instances that failed the earlier check (LP criteria compared one by one with a tolerance):
# the routing LPs keep the lane cost 1e-9 (relative) above its optimum and spend it on the
# change or rank (2153), and a tier-3 line lost a quantum in the LP path's grid repair (7180:
# a sub-quantum flow the LPs' 1e-9 slack let another line put at the full cell was rounded up
# there; now moved to that line's other cell). 145: the exact method itself routed the
# fractional shares and rounded after (a quantum left at a dearer cell; now it routes the
# floored quanta), and in units its flows carried float noise (6.126929999999997) that the
# repair turned into a quantum moved between lines (now it routes whole quanta).
DENSE = {"shape": "dense", "lanes": True, "stability": True, "integer_quantities": False}
FAILED_BEFORE = [
    (2153, DENSE | {"n_items": 5, "n_locations": 6, "tiers": 1, "rules": RULE_SETS[0],
                    "min_share": 0.0, "max_share": 0.3}),
    (7180, DENSE | {"n_items": 1, "n_locations": 2, "tiers": 3, "rules": RULE_SETS[0],
                    "min_share": 0.0, "max_share": 0.3}),
    (7180, DENSE | {"n_items": 1, "n_locations": 4, "tiers": 3, "rules": RULE_SETS[2],
                    "min_share": 0.3, "max_share": 0.0}),
    (145, DENSE | {"n_items": 2, "n_locations": 6, "tiers": 2, "rules": RULE_SETS[0],
                   "min_share": 0.0, "max_share": 0.3, "lanes": False, "stability": False}),
    (145, DENSE | {"shape": "sparse", "n_items": 2, "n_locations": 6, "tiers": 3,
                   "rules": RULE_SETS[0], "min_share": 0.0, "max_share": 0.0, "lanes": False,
                   "stability": False}),
]  # fmt: skip


def _with_examples(test):
    for seed, kw in FAILED_BEFORE:
        test = example(seed, kw)(test)
    return test


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@_with_examples
@given(st.integers(0, 10_000), shapes)
def test_exact_routing_is_as_good_as_the_routing_lps(seed, kw):
    inst = _instance(seed, kw)
    p = prepare(inst)
    fast = engine.allocate(p, SolveParams(method="auto"))
    lp = engine.allocate(p, SolveParams(method="lp"))
    _assert_as_good(p, fast.flow, lp.flow, fast.alloc, lp.alloc, fast.floor)
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


TIGHT = SolveParams(
    solver="pyomo",
    solver_options={"primal_feasibility_tolerance": 1e-9, "dual_feasibility_tolerance": 1e-9},
)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@example(0, DENSE | {"n_items": 1, "n_locations": 6, "tiers": 1, "rules": RULE_SETS[0],
                    "min_share": 0.3, "max_share": 0.0, "stability": False})  # fmt: skip
@example(0, DENSE | {"n_items": 1, "n_locations": 6, "tiers": 1, "rules": RULE_SETS[0],
                    "min_share": 0.3, "max_share": 0.0})  # fmt: skip
@given(st.integers(0, 10_000), shapes)
def test_exact_routing_is_as_good_as_the_pyomo_reference(seed, kw):
    """The routing stage alone: the engine's allocation routed by the method, checked
    lexicographically against the Pyomo reference's routing LPs
    (:func:`optim.models.rationing.reference.criteria_optima`): each criterion's optimum with
    the earlier ones held at the method's values — no slack to spend — equals the method's."""
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
    _assert_feasible(p, flow, alloc)
    _assert_lexicographically_optimal(p, flow)
    ours = routing.objectives(p, flow)
    best = reference.criteria_optima(p, alloc, ours, TIGHT)
    # HiGHS at 1e-9 feasibility: the optima are within a hundredth of a quantum per unit of
    # criterion scale; a routing one quantum better differs by >= 1e-6 on the change or rank
    np.testing.assert_allclose(best, ours, rtol=1e-9, atol=1e-8)


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


def test_routing_lps_on_a_dense_week_with_stability_and_minimums_and_caps():
    """Seed 2153 with minimums and caps: the third routing LP ended 'HiGHS: Unknown' (a line
    allocated nothing kept its arcs; presolve's forcing row on it came back from postsolve
    as a flow of -2.2e-6 the clean-up left; engine._route_lp). Now the LP path solves and
    routes the same quanta per line as the certified exact routing, at least as well."""
    kw = DENSE | {"n_items": 5, "n_locations": 6, "tiers": 2, "rules": RULE_SETS[0]}
    p = prepare(_instance(2153, kw | {"min_share": 0.3, "max_share": 0.3}))
    fast = engine.allocate(p, SolveParams(method="auto"))
    lp = engine.allocate(p, SolveParams(method="lp"))
    _assert_as_good(p, fast.flow, lp.flow, fast.alloc, lp.alloc, fast.floor)
    np.testing.assert_array_equal(fast.stage, lp.stage)


def test_a_routing_lp_highs_ends_unknown_is_solved_again_without_presolve():
    """The captured LP (data/routing_lp_highs_unknown.json: the third routing LP of seed
    2153 as built before arcs of lines allocated nothing were left out) ends 'HiGHS:
    Unknown' with presolve; the routing LPs then solve the same LP once more without
    presolve, at the same 1e-9 tolerances. Its optimum is the LP's own: HiGHS' interior
    point method (crossover on) finds the same objective, and the solution keeps every row
    and bound within 1e-9."""
    doc = json.loads((DATA / "routing_lp_highs_unknown.json").read_text())
    arrays = {k: np.array(v) for k, v in doc.items() if k not in ("about", "maximize")}
    lp = LinearProgram(**arrays, maximize=doc["maximize"])
    runner = engine._Runner(SolveParams())
    with pytest.raises(engine.EngineError, match="Unknown") as info:
        runner.solve(lp)
    assert info.value.termination is Termination.ERROR
    sol = engine._solve_routing_lp(runner, lp)
    assert sol.status is Status.OPTIMAL and sol.x is not None
    opts = runner.tight.solver_options | {"solver": "ipm", "run_crossover": "on"}
    ipm = highs.solve(lp, runner.tight.model_copy(update={"solver_options": opts}))
    assert ipm.status is Status.OPTIMAL
    assert sol.objective == pytest.approx(ipm.objective, rel=1e-9)
    x = sol.x[: lp.num_cols]
    rows = np.repeat(np.arange(lp.num_rows), np.diff(lp.indptr))
    act = np.bincount(rows, lp.data * x[lp.indices], lp.num_rows)
    assert np.all(act >= lp.row_lower - 1e-9) and np.all(act <= lp.row_upper + 1e-9)
    assert np.all(x >= lp.col_lower - 1e-9) and np.all(x <= lp.col_upper + 1e-9)
