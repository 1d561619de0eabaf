"""Issue 12: rationing exact when huge and small quantities share stock (up to 1e12 units).

One or two lines of 1e8..1e12 units beside lines of tens: the flow method works in whole
quanta of the instance's grid (1e-6 units up to 1e9, 10^(k-6) above), so a tier 10 units
short of 1e12 is short. Checked against an independent brute force: exact integer max-flows
of the grid quantities (Python integers, no floating point) give each tier's lexicographic
total (the feasible line totals form a polymatroid, so tiers 1..t together get their max
flow); and line by line, no lower-tier line holds stock at a cell where a higher-tier line
is short (:func:`_crossing`, written independently of ``solve.tier_violations``).
"""

from __future__ import annotations

from collections import deque

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import optim
from optim import SolveParams
from optim.instances.generators.rationing import rationing_frames
from optim.instances.rationing import RationingInstance
from optim.models.rationing import engine, solve
from optim.models.rationing.arrays import prepare
from optim.status import Status


class _Flow:
    """Integer max flow on a residual graph (Edmonds–Karp, Python integers) that can be
    resumed after raising capacities: an augmenting path is simple, so it never lowers the
    flow on an arc out of the source."""

    def __init__(self, nodes: int) -> None:
        self.res: list[dict[int, int]] = [{} for _ in range(nodes)]

    def add(self, u: int, v: int, c: int) -> None:
        self.res[u][v] = self.res[u].get(v, 0) + c
        self.res[v].setdefault(u, 0)

    def augment(self, s: int, t: int) -> int:
        total = 0
        while True:
            parent = {s: s}
            queue = deque([s])
            while queue and t not in parent:
                u = queue.popleft()
                for v, c in self.res[u].items():
                    if c > 0 and v not in parent:
                        parent[v] = u
                        queue.append(v)
            if t not in parent:
                return total
            path, v = [], t
            while v != s:
                path.append((parent[v], v))
                v = parent[v]
            b = min(self.res[u][v] for u, v in path)
            for u, v in path:
                self.res[u][v] -= b
                self.res[v][u] += b
            total += b


def _max_flow(caps: list[int], arcs: list[tuple[int, int]], supply: list[int]) -> int:
    """Max flow source → line (cap) → cell (arc) → sink (supply), integers (Edmonds–Karp)."""
    n, m = len(caps), len(supply)
    s, t = n + m, n + m + 1
    g = _Flow(n + m + 2)
    for i, c in enumerate(caps):
        g.add(s, i, c)
    big = sum(supply) + 1
    for i, c in arcs:
        g.add(i, n + c, big)
    for c, q in enumerate(supply):
        g.add(n + c, t, q)
    return g.augment(s, t)


def _quanta(values: np.ndarray, grid: float) -> list[int]:
    return [int(v) for v in np.floor(values / grid + 0.01)]


def _crossing(p, out, grid: float) -> list[tuple[int, int]]:
    """(lower line, higher line) pairs where the lower-tier line holds a quantum above its
    floor at a cell where the higher-tier line (no integer rule) is a quantum short."""
    found = []
    cap = np.floor(p.cap / grid + 0.01) * grid
    for k in range(p.num_arcs):
        j, c = p.arc_line[k], p.arc_cell[k]
        if out.flow[k] < grid / 2 or out.alloc[j] - out.floor[j] < grid / 2:
            continue
        for k2 in np.flatnonzero(p.arc_cell == c):
            i = p.arc_line[k2]
            whole = p.lot[i] > 0 or p.all_or_nothing[i]
            if p.tier[i] < p.tier[j] and not whole and out.alloc[i] < cap[i] - grid / 2:
                found.append((int(j), int(i)))
    return found


def _assert_on_grid(p, out, grid: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Flows on the grid and summing to each line's allocation, supply and caps kept in
    whole quanta, no quantum crossing to a lower tier; returns the allocations, supplies
    and caps in quanta."""
    flow_q = np.round(out.flow / grid)
    alloc_q = np.round(out.alloc / grid)
    assert np.abs(out.flow / grid - flow_q).max(initial=0) < 0.2  # on the grid
    assert (np.bincount(p.arc_line, flow_q, p.num_lines) == alloc_q).all()
    supply_q = np.array(_quanta(p.supply, grid), dtype=float)
    assert (np.bincount(p.arc_cell, flow_q, p.num_cells) <= supply_q).all()
    cap_q = np.array(_quanta(p.cap, grid), dtype=float)
    assert (alloc_q >= 0).all() and (alloc_q <= cap_q).all()
    assert _crossing(p, out, grid) == []
    return alloc_q, supply_q, cap_q


def _mixed(
    seed: int,
    huge: list[float],
    tiers: int,
    lanes: bool,
    caps: bool,
    minimums: float = 0.0,
    lots: float = 0.0,
    aon: float = 0.0,
):
    """A small random week with the first ``len(huge)`` lines raised to the ``huge``
    quantities and one supply row of each such line's item raised alike (× 0.5..1.2, at
    most the 1e12 limit)."""
    frames = rationing_frames(
        seed, n_items=2, n_locations=3, n_customers=5, n_lines=12, tiers=tiers,
        eligible=(1, 3), stocked=(1, 3), lanes=lanes, max_share=0.3 if caps else 0.0,
        default_locations_share=0.2, min_share=minimums, lot_share=lots, aon_share=aon,
    )  # fmt: skip
    rng = np.random.default_rng(seed)
    dem, sup = frames["demand"], frames["supply"]
    for k, h in enumerate(huge):
        dem.loc[k, "quantity"] = h
        if "lot_size" in dem:  # the huge line itself is continuous
            dem.loc[k, "lot_size"] = np.nan
        if "max_quantity" in dem and dem.loc[k, "max_quantity"] == dem.loc[k, "max_quantity"]:
            dem.loc[k, "max_quantity"] = np.ceil(h * 0.7)
        rows = np.flatnonzero(sup["item"] == dem.loc[k, "item"])
        row = rows[rng.integers(len(rows))]
        sup.loc[row, "quantity"] = min(np.round(h * rng.uniform(0.5, 1.2)), 1e12)
    return RationingInstance.from_frames(**frames)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(0, 10_000),
    st.lists(st.sampled_from([2e8, 5e8, 1e9, 2e9, 1e10, 3e11, 1e12]), min_size=1, max_size=2),
    st.integers(1, 3),
    st.booleans(),
    st.booleans(),
)
def test_mixed_magnitudes_keep_tiers_exactly(seed, huge, tiers, lanes, caps):
    """Tier totals equal the integer max-flow brute force (up to the < 1 quantum per line a
    fair share loses when floored to the grid), no quantum crosses to a lower tier, supply
    is conserved and every line is within its cap; the flow method answers every component
    (no LP hand-back, which fails at these spans)."""
    inst = _mixed(seed, huge, tiers, lanes, caps)
    p = prepare(inst)
    k = solve.unit_exponent(p)
    grid = engine.QUANTUM * 10.0**k
    out = solve.allocate(p, SolveParams())
    alloc_q, supply_q, cap_q = _assert_on_grid(p, out, grid)
    arcs = list(zip(p.arc_line.tolist(), p.arc_cell.tolist(), strict=True))
    for t in range(1, p.num_tiers + 1):
        upto = p.tier <= t
        caps_t = [c if u else 0 for c, u in zip(cap_q.astype(int).tolist(), upto, strict=True)]
        best = _max_flow(caps_t, arcs, supply_q.astype(int).tolist())
        got = int(alloc_q[upto].sum())
        # each line of tiers 1..t loses less than one quantum to the grid
        assert 0 <= best - got <= max(int(upto.sum()) - 1, 0), (t, best, got)


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(0, 10_000),
    st.lists(st.sampled_from([5e8, 2e9, 3e11, 1e12]), min_size=1, max_size=2),
    st.booleans(),
)
@example(seed=88, huge=[1e12], lots=False)  # a tier-2 minimum lost to rounding at 6.4e8 units
def test_mixed_magnitudes_with_minimums_and_lots(seed, huge, lots):
    """With minimums (and lots on some small lines): every example gives a plan (components
    with lots take stages 0–2 from the flow method and the integer stage in whole quanta on
    CP-SAT; before, their staged LPs failed in about 20 % of these examples), which keeps
    every line at or above its minimums' share, and no quantum crosses to a lower tier.
    (Seed 88: tier 1's shares of 6.4e11 units left 1e-7 of the supply's last place to a
    tier-2 line at its minimum, which then counted as above it and lost it; the answer was
    withheld: engine._above_floor.)"""
    inst = _mixed(seed, huge, 3, False, False, minimums=0.4, lots=0.3 if lots else 0.0)
    p = prepare(inst)
    grid = engine.QUANTUM * 10.0 ** solve.unit_exponent(p)
    out = solve.allocate(p, SolveParams())
    assert _crossing(p, out, grid) == []
    assert (out.alloc >= np.floor(out.floor / grid + 0.01) * grid - grid / 2).all()
    flow_q = np.round(out.flow / grid)
    supply_q = np.floor(p.supply / grid + 0.01)
    assert (np.bincount(p.arc_cell, flow_q, p.num_cells) <= supply_q).all()


@pytest.mark.parametrize("quantity", [1e3, 1e8, 2e8, 5e8, 1e9, 1e10, 1e12])
def test_method_lp_at_mixed_magnitudes_is_exact_or_an_error(quantity):
    """The staged LPs (``method="lp"``) cannot resolve 20 units beside 1e8+ in one LP (at
    1e8 they left 0.1 unit of tier 1's stock unallocated; elsewhere HiGHS ended
    'Infeasible'): beyond their stated bound (``waterfill.LP_SPAN``) the input is refused
    before solving, naming the component and the span (exit 2); within it (1e3 beside 20)
    the plan is the exact flow method's. Never 'failed numerically', never a plan that
    breaks a tier."""
    import json
    import re
    from pathlib import Path

    from optim.errors import SpanBeyondMethod
    from optim.models.rationing import waterfill

    doc = json.loads(
        (Path(__file__).parents[3] / "instances" / "data" / "weekly_rationing.json").read_text()
    )
    doc["demand"][0]["quantity"] = quantity
    doc["supply"][0]["quantity"] = quantity
    if quantity / 20 > waterfill.LP_SPAN:
        with pytest.raises(SpanBeyondMethod, match=re.escape(f"a span of {quantity / 20:.3g}")):
            optim.solve(optim.from_dict(doc), SolveParams(method="lp"))
        return
    res = optim.solve(optim.from_dict(doc), SolveParams(method="lp"))
    assert res.status is Status.OPTIMAL, res.message
    lines = res.tables["lines"].set_index("demand_id")["allocated"]
    assert lines[["L3", "L4", "L5"]].sum() == 0
    exact = optim.solve(optim.from_dict(doc)).tables["lines"].set_index("demand_id")
    assert (lines == exact["allocated"]).all()  # the flow method's plan, to the quantum


def test_tier_check_withholds_an_answer_that_crosses_tiers(monkeypatch):
    """The combinatorial check after the stages: the answer the old relative tolerance gave
    at 1e12 (tier 1 counted as served 10 units short; tier 2 got DC2's stock) is reproduced
    with the flow method's former tolerances (``waterfill.ration`` without a quantum) and is
    withheld as an error naming both lines, never returned as a plan."""
    import json
    from pathlib import Path

    from optim.models.rationing import waterfill

    def relative(g, *, request, floor, weight, quantum, floor_quanta=None):
        # the flow method as it was: tolerances relative to the totals
        a, stage, level, ok = waterfill.ration(
            **g._asdict(), request=request, floor=floor, weight=weight
        )
        return waterfill._Answer(a, a, stage, level, ok, np.zeros(len(a), bool), a * 1e6)

    monkeypatch.setattr(waterfill, "ration_on_grid", relative)
    doc = json.loads(
        (Path(__file__).parents[3] / "instances" / "data" / "weekly_rationing.json").read_text()
    )
    doc["demand"][0]["quantity"] = 1e12
    doc["supply"][0]["quantity"] = 1e12
    res = optim.solve(optim.from_dict(doc))
    assert res.status is Status.ERROR and not res.has_solution()
    assert res.message.startswith(
        "the answer broke tier priority and was withheld: line L4 (tier 2) held 30 units of "
        "WIDGET at DC2 while line L1 (tier 1) was 40 units short and could be served from it"
    )
