"""Critical levels against covering the strictest on the same model (issue 10, like for like).

Oracles: a scan over base stock with the exact evaluation at levels 0 (for the search), the
critical-level tables themselves (pointwise order), the GSM solvers on both tables, and the
state-by-state simulator (every segment meets its target).
"""

from __future__ import annotations

import math
import random

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_critical_levels import _multi_segment

from optim.instances.safety_stock import SafetyStockInstance
from optim.models.safety_stock import prepare
from optim.models.safety_stock.critical import (
    Lattice,
    SegmentModel,
    _lower_bound,
    evaluate_policy,
    stage_specs,
)
from optim.models.safety_stock.simulate import simulate
from optim.models.safety_stock.solve import solve, solve_cover_strictest
from optim.models.safety_stock.strictest import cover_strictest_data, least_unreserved, strictest


def _meets(w: Lattice, segs: list[SegmentModel], b: int) -> bool:
    pol = evaluate_policy(w, segs, b, [0] * len(segs))
    return all(
        (pol.fill[k] if s.measure == "fill_rate" else pol.cycle[k]) >= s.target - 1e-12
        for k, s in enumerate(segs)
    )


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 10_000))
def test_least_unreserved_base_stock_equals_a_scan(seed):
    rng = random.Random(seed)
    segs = []
    for _ in range(rng.randint(1, 3)):
        pmf = np.array([rng.random() + 0.02 for _ in range(rng.randint(1, 4))])
        segs.append(
            SegmentModel(
                Lattice(rng.randint(0, 2), pmf / pmf.sum()),
                rng.choice([0.6, 0.8, 0.9, 0.97]),
                rng.choice(["cycle_service", "fill_rate"]),
            )
        )
    raised = strictest(segs)
    assert all(s.target == max(t.target for t in segs) for s in raised)
    pmf = np.array([rng.random() + 0.02 for _ in range(rng.randint(1, 6))])
    w = Lattice(rng.randint(0, 3), pmf / pmf.sum())
    # the search starts at the critical-level search's lower bound (the top class alone), as
    # the critical-level search does: both start there, which keeps their order
    lb = _lower_bound(w, raised, 0)
    scan = next(b for b in range(lb, lb + 200) if _meets(w, raised, b))
    assert least_unreserved(w, raised) == scan
    b_min = rng.randint(0, scan + 3)
    assert least_unreserved(w, raised, b_min) == max(b_min, scan)


def _instance(rng: random.Random, n: int, extra: int) -> SafetyStockInstance:
    """:func:`test_critical_levels._multi_segment` (random network, 1-3 segments per demand
    stage, random targets and measures) with a random law per demand and tiers."""
    doc = _multi_segment(rng, n, extra).model_dump()
    for d in doc["demands"]:
        law = rng.choice(["normal", "poisson", "negative_binomial", "auto"])
        mean = d["mean"] = rng.uniform(2, 30)
        d["std_dev"] = {
            "normal": mean * rng.uniform(0.1, 0.45),
            "poisson": math.sqrt(mean),
            "negative_binomial": math.sqrt(mean) * rng.uniform(1.2, 2.0),
            "auto": mean * rng.uniform(0.1, 0.9),
        }[law]
        d["distribution"] = law
        d["tier"] = int(d["segment"][1:]) + 1
    return SafetyStockInstance.model_validate(doc)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000), st.integers(4, 7), st.sampled_from([0, 0, 1, 2]))
def test_critical_levels_cost_at_most_cover_the_strictest_and_meet_every_target(seed, n, extra):
    """Random multi-segment trees and DAGs with Poisson, negative-binomial and normal demand:
    the comparison's tables are pointwise >= the critical-level tables, the plan costs no more
    (the solvers are exact: tree DP, MIP at gap 1e-6), and every segment meets its target in
    simulation."""
    rng = random.Random(seed)
    inst = _instance(rng, n, extra)
    data = prepare(inst)
    ref_data = cover_strictest_data(inst, data)
    specs = stage_specs(inst, data.n, data.ids)
    if specs:
        assert data.ss_table is not None and ref_data.ss_table is not None
        for a, b in zip(data.ss_table, ref_data.ss_table, strict=True):
            assert (a <= b + 1e-9).all()
    res = solve(inst)
    ref = solve_cover_strictest(inst)
    assert ref.info["comparison"] == "cover_strictest"
    gap = 1e-6 * max(1.0, ref.objective)
    assert res.objective <= ref.objective + gap, (res.objective, ref.objective)
    if specs:
        assert res.info["max_z_cost"] == ref.objective
        assert "saving" in res.message and "more" not in res.message
    dem = ref.table("demands")
    assert (dem["critical_level"] == 0).all()  # the comparison reserves nothing
    # simultaneous confidence 0.999: a target met exactly is flagged with probability 0.001
    sim = simulate(inst, res, periods=1500, replications=8, seed=seed, confidence=0.999)
    assert sim["meets_target"].all(), sim[~sim["meets_target"]]


def test_comparison_of_the_example_states_levels_zero_and_meets_the_strictest():
    from pathlib import Path

    path = Path(__file__).resolve().parents[3] / "instances" / "data" / "two_echelon_gsm.json"
    inst = SafetyStockInstance.model_validate_json(path.read_text(encoding="utf-8"))
    res = solve(inst)
    ref = solve_cover_strictest(inst)
    assert res.objective < ref.objective
    assert f"{ref.objective:.6g}" in res.message and "saving" in res.message
    dem = ref.table("demands")
    a = dem[dem["stage"] == "store_a"]
    assert (a["critical_level"] == 0).all()
    strict = float(a["target"].max())  # every segment at the strictest target, levels 0
    assert (a["expected_service"] >= strict - 1e-12).all()
    sim = simulate(inst, ref, periods=1500, replications=8, seed=1)
    assert sim["meets_target"].all()


@pytest.mark.parametrize(("seed", "extra"), [(1, 0), (3, 2)])
def test_solve_without_comparison_is_the_same_placement(seed, extra):
    """:func:`solve_without_comparison` (the planning run's placement on the history's σ)
    is :func:`solve` but for the max_z comparison its message states: the same objective,
    bound and tables (the comparison is a second solve after the first)."""
    from optim.models.safety_stock.solve import solve_without_comparison

    inst = _multi_segment(random.Random(seed), 12, extra)
    full, plain = solve(inst), solve_without_comparison(inst)
    assert "saving" in full.message and "max_z comparison skipped" in plain.message
    assert (plain.status, plain.objective, plain.bound) == (
        full.status,
        full.objective,
        full.bound,
    )
    assert plain.tables.keys() == full.tables.keys()
    for name, table in full.tables.items():
        pd.testing.assert_frame_equal(plain.tables[name], table, check_exact=True)
