"""Invariants of every capacity solution, checked from the result tables (hypothesis), and
the marginal values checked by finite differences."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optim.instances.capacity import CapacityInstance
from optim.instances.generators.capacity import generate
from optim.models.capacity.solve import solve
from optim.params import SolveParams
from optim.status import Status

TOL = 1e-6


def grid(frame: pd.DataFrame, keys: list[str], index: list, value: str) -> pd.Series:
    """``value`` summed by ``keys`` on the full ``index`` (zeros where absent)."""
    full = pd.MultiIndex.from_tuples(index, names=keys) if len(keys) > 1 else pd.Index(index)
    s = frame.groupby(keys)[value].sum() if len(frame) else pd.Series(dtype=float)
    return s.reindex(full, fill_value=0.0)


def check_invariants(inst: CapacityInstance, res) -> None:
    T = list(inst.periods)
    util = res.table("utilisation")
    assert np.all(util["hours_used"] <= util["capacity"] + util["overtime_used"] + TOL)
    assert np.all(util["overtime_used"] <= util["overtime_capacity"] + TOL)
    assert np.all(util["overtime_used"] >= -TOL)
    # hours per resource agree with production × usage
    hours = grid(
        res.table("production_hours"),
        ["resource", "period"],
        list(util[["resource", "period"]].itertuples(index=False, name=None)),
        "hours",
    )
    assert np.allclose(hours.to_numpy(), util["hours_used"].to_numpy(), atol=1e-6)

    prods = {p.id: p for p in inst.products}
    made = grid(
        res.table("production"),
        ["product", "period"],
        [(p, t) for p in prods for t in T],
        "quantity",
    )
    pairs = sorted({(d.product, d.segment) for d in inst.demand})
    idx3 = [(p, s, t) for p, s in pairs for t in T]
    keys3 = ["product", "segment", "period"]
    ship = grid(res.table("shipments"), keys3, idx3, "quantity")
    back = grid(res.table("backlog"), keys3, idx3, "quantity")
    lost = grid(res.table("lost"), keys3, idx3, "quantity")
    dem = {(d.product, d.segment, d.period): d.quantity for d in inst.demand}
    inv = res.table("inventory").set_index(["product", "period"])["inventory"]
    for p, prod in prods.items():
        before = prod.initial_inventory
        for t in T:
            out = sum(ship[(p, s, t)] for q, s in pairs if q == p)
            assert inv[(p, t)] == pytest.approx(before + made[(p, t)] - out, abs=1e-6)
            assert inv[(p, t)] >= -TOL
            if prod.max_inventory is not None:
                assert inv[(p, t)] <= prod.max_inventory + TOL
            before = inv[(p, t)]
    segs = {s.name: s for s in inst.segments}
    for p, s in pairs:
        before = 0.0
        k = segs[s].max_backlog_periods
        for n, t in enumerate(T):
            d = dem.get((p, s, t), 0.0)
            assert back[(p, s, t)] == pytest.approx(
                before + d - ship[(p, s, t)] - lost[(p, s, t)], abs=1e-6
            )
            window = (
                sum(dem.get((p, s, T[q]), 0.0) for q in range(max(0, n - k + 1), n + 1))
                if k
                else 0.0
            )
            assert back[(p, s, t)] <= window + TOL
            assert min(ship[(p, s, t)], lost[(p, s, t)]) >= -TOL
            before = back[(p, s, t)]
        assert back[(p, s, T[-1])] == pytest.approx(0.0, abs=1e-6)
    # served on time + served late + lost = demand, by demand period; no rate above 1
    sp = res.table("segment_periods")
    parts = sp["served_on_time"] + sp["served_late"] + sp["lost"]
    assert np.allclose(parts.to_numpy(), sp["demand"].to_numpy(), atol=1e-6)
    assert (sp[["served_on_time", "served_late", "lost"]].to_numpy() >= -TOL).all()
    for frame in (sp, res.table("segments")):
        has = frame["demand"] > 0
        assert (frame.loc[has, "fill_rate"] <= 1.0).all()
        assert (frame.loc[has, "on_time_rate"] <= frame.loc[has, "fill_rate"] + TOL).all()
    # shipped (by ship period) adds up to served (by demand period) over the horizon
    by_seg = sp.groupby("segment")[["shipped", "served_on_time", "served_late"]].sum()
    assert np.allclose(
        by_seg["shipped"], by_seg["served_on_time"] + by_seg["served_late"], atol=1e-6
    )
    table = res.table("segments").set_index("segment")
    assert table["min_fill_rate"].notna().all()
    for name, seg in segs.items():
        want = 0.0 if seg.min_fill_rate is None else seg.min_fill_rate
        assert table.loc[name, "min_fill_rate"] == want
        if seg.min_fill_rate is not None and table.loc[name, "demand"] > 0:
            assert (
                table.loc[name, "served"] >= seg.min_fill_rate * table.loc[name, "demand"] - 1e-6
            )


sizes = st.fixed_dictionaries(
    {
        "seed": st.integers(0, 10_000),
        "n_periods": st.integers(2, 7),
        "n_products": st.integers(1, 4),
        "n_resources": st.integers(1, 3),
        "n_segments": st.integers(1, 3),
        "peak_factor": st.floats(1.0, 2.5),
        "demand_density": st.floats(0.3, 1.0),
        "routings": st.booleans(),
        "fill_floors": st.booleans(),
        "objective": st.sampled_from(["cost", "lexicographic"]),
        "n_families": st.sampled_from([None, 2]),
    }
)


@settings(max_examples=25, deadline=None)
@given(kw=sizes)
def test_invariants_hold(kw, table_cost) -> None:
    inst = generate(**kw)
    res = solve(inst, SolveParams(threads=2))
    assert res.status is Status.OPTIMAL, res.message
    check_invariants(inst, res)
    # the plan priced from its tables costs what HiGHS reported for the transport form
    # (lost sales as a constant minus the value of each shipment), and is the objective
    cost = table_cost(inst, res)
    assert cost == pytest.approx(res.info["solver_objective"], rel=1e-6, abs=1e-5)
    assert cost == pytest.approx(res.objective, rel=1e-6, abs=1e-5)


def _raise_penalties(inst: CapacityInstance, name: str, factor: float) -> CapacityInstance:
    doc = inst.model_dump()
    for seg in doc["segments"]:
        if seg["name"] == name:
            seg["backlog_cost"] *= factor
            seg["lost_sales_cost"] *= factor
    return CapacityInstance.model_validate(doc)


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    n_segments=st.integers(2, 4),
    factor=st.floats(1.0, 20.0),
    which=st.integers(0, 10),
)
def test_lexicographic_lower_penalties_never_move_higher_shortfall(
    seed, n_segments, factor, which
) -> None:
    inst = generate(
        seed=seed,
        n_periods=5,
        n_products=3,
        n_resources=2,
        n_segments=n_segments,
        peak_factor=2.0,
        objective="lexicographic",
    )
    lower = inst.segments[1 + which % (n_segments - 1)]  # never the top priority
    before = solve(inst)
    after = solve(_raise_penalties(inst, lower.name, factor))
    assert before.status is Status.OPTIMAL and after.status is Status.OPTIMAL
    for seg in inst.segments:
        if seg.priority < lower.priority:
            a = before.info["shortfall_by_segment"][seg.name]
            b = after.info["shortfall_by_segment"][seg.name]
            # each stage is kept within 1e-6 relative of its optimum
            assert b == pytest.approx(a, rel=3e-6, abs=3e-6)
    for g, z in before.info["stage_objectives"].items():
        if int(g) < lower.priority:
            assert after.info["stage_objectives"][g] == pytest.approx(z, rel=1e-7, abs=1e-7)


@pytest.mark.parametrize("seed", [21, 22, 23, 24])
def test_marginal_values_by_finite_differences(seed: int, with_capacity) -> None:
    inst = generate(
        seed=seed, n_periods=5, n_products=3, n_resources=2, n_segments=2, peak_factor=2.2
    )
    res = solve(inst)
    mv = res.table("marginal_values")
    base = res.objective
    h = 1e-3
    checked = binding = 0
    for r in range(len(inst.resources)):
        for t in range(len(inst.periods)):
            up = solve(with_capacity(inst, r, t, h)).objective
            down = solve(with_capacity(inst, r, t, -min(h, _cap(inst, r, t)))).objective
            fwd = (base - up) / h
            bwd = (down - base) / min(h, _cap(inst, r, t)) if _cap(inst, r, t) > 0 else fwd
            if abs(fwd - bwd) > 1e-6 * max(1.0, abs(fwd)):
                continue  # degenerate here: the dual is one of several
            value = mv.iloc[r * len(inst.periods) + t]
            assert value["resource"] == inst.resources[r].id
            assert value["period"] == inst.periods[t]
            assert value["marginal_value"] == pytest.approx(fwd, rel=1e-5, abs=1e-5)
            checked += 1
            binding += fwd > 1e-6
    assert checked >= len(inst.resources) * len(inst.periods) // 2
    assert binding >= 1


def _cap(inst: CapacityInstance, r: int, t: int) -> float:
    cap = inst.resources[r].capacity
    return cap[inst.periods[t]] if isinstance(cap, dict) else cap


@pytest.mark.parametrize("seed", [21, 31])
def test_pyomo_duals_equal_fast_duals(seed: int) -> None:
    inst = generate(
        seed=seed, n_periods=5, n_products=3, n_resources=2, n_segments=2, peak_factor=2.2
    )
    a = solve(inst).table("marginal_values")["marginal_value"].to_numpy()
    ref = solve(inst, SolveParams(solver="pyomo"))
    b = ref.table("marginal_values")["marginal_value"].to_numpy()
    assert a == pytest.approx(b, abs=1e-6)
