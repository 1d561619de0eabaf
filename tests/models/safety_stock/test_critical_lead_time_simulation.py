"""Critical levels under random lead times, simulated (issue 10 x issue 14): ``optim simulate``
draws the lead times and applies the critical levels the result states; the model's
per-segment services agree with the simulation within sampling error on random small trees."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_critical_levels import _multi_segment

from optim.instances.safety_stock import SafetyStockInstance
from optim.models.safety_stock import prepare
from optim.models.safety_stock.critical import stage_specs
from optim.models.safety_stock.lead_times import needs_table
from optim.models.safety_stock.simulate import simulate
from optim.models.safety_stock.solve import solve, solve_cover_strictest


def _random_leads(rng: random.Random, inst: SafetyStockInstance) -> SafetyStockInstance:
    """Every stage a random lead time: discrete (2-3 points), normal or fractional."""
    doc = inst.model_dump(exclude_none=True)
    for s in doc["stages"]:
        kind = rng.choice(["discrete", "normal", "fractional", "fixed"])
        base = rng.randint(1, 3)
        s.pop("lead_time_std_dev", None)
        s.pop("lead_time_distribution", None)
        if kind == "discrete":
            values = sorted(rng.sample(range(0, 5), rng.randint(2, 3)))
            probs = [rng.random() + 0.1 for _ in values]
            total = sum(probs)
            s.pop("lead_time", None)
            s["lead_time_distribution"] = [
                {"value": v, "probability": p / total} for v, p in zip(values, probs, strict=True)
            ]
        elif kind == "normal":
            s["lead_time"] = base
            s["lead_time_std_dev"] = round(rng.uniform(0.2, 0.8), 2)
        elif kind == "fractional":
            s["lead_time"] = base + rng.choice([0.25, 0.5, 0.75])
        else:
            s["lead_time"] = base
    return SafetyStockInstance.model_validate(doc)


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 10_000))
def test_model_service_equals_simulated_service_with_random_lead_times(seed):
    rng = random.Random(seed)
    inst = _random_leads(rng, _multi_segment(rng, 5, 0))
    res = solve(inst)
    data = prepare(inst)
    specs = stage_specs(inst, data.n, data.ids)
    # meets_target is a test at simultaneous confidence: a plan that meets a fill-rate target
    # exactly is flagged with probability 1 - confidence, so hypothesis's search needs 0.999
    sim = simulate(inst, res, periods=2000, replications=20, seed=seed, confidence=0.999)
    model = res.table("demands")
    crit = {data.ids[j] for j in specs}
    for m, s in zip(model.itertuples(), sim.itertuples(), strict=True):
        assert s.critical_level == m.critical_level
        if m.stage not in crit:
            continue
        for col in ("cycle_service", "fill_rate"):
            want = getattr(m, f"expected_{col}")
            got = getattr(s, col)
            # 6 s.e. of 20 replication means (Student t, 19 df: two-sided 1e-5), replenishment
            # times up to ~12 periods make a replication's periods strongly dependent
            tol = 6 * max(s.stderr, 0.0015) + 0.003
            assert abs(got - want) < tol, (m.stage, m.segment, col, want, got)
    assert sim["meets_target"].all(), sim[~sim["meets_target"]]
    ref = solve_cover_strictest(inst)
    assert res.objective <= ref.objective + 1e-6 * max(1.0, ref.objective)


def test_random_lead_time_stages_that_supply_others_get_critical_levels():
    """A stage with demand of its own, successors and a random lead time serves its segments
    by critical levels (the downstream orders first) and meets every target in simulation."""
    doc = {
        "stages": [
            {"id": "plant", "lead_time": 2, "holding_cost": 1.0},
            {
                "id": "dc",
                "holding_cost": 2.0,
                "lead_time_distribution": [
                    {"value": 1, "probability": 0.5},
                    {"value": 3, "probability": 0.5},
                ],
            },
            {"id": "store", "lead_time": 1, "holding_cost": 3.0},
        ],
        "arcs": [{"source": "plant", "target": "dc"}, {"source": "dc", "target": "store"}],
        "demands": [
            {"stage": "dc", "segment": "key", "mean": 6, "std_dev": 4, "service_level": 0.98,
             "tier": 1, "max_service_time": 0},
            {"stage": "dc", "segment": "tail", "mean": 9, "std_dev": 5, "service_level": 0.85,
             "tier": 2, "max_service_time": 0},
            {"stage": "store", "segment": "key", "mean": 5, "std_dev": 3, "service_level": 0.95,
             "tier": 1, "max_service_time": 0},
        ],
    }  # fmt: skip
    inst = SafetyStockInstance.model_validate(doc)
    data = prepare(inst)
    specs = stage_specs(inst, data.n, data.ids)
    assert needs_table(inst.stages[1]) and 1 in specs and specs[1].flow
    res = solve(inst)
    dem = res.table("demands").set_index(["stage", "segment"])
    assert dem.loc[("dc", "tail"), "critical_level"] > 0
    assert (dem["expected_service"] >= dem["target"] - 1e-12).all()
    sim = simulate(inst, res, periods=3000, replications=10, seed=5)
    assert sim["meets_target"].all(), sim


def test_zero_std_dev_reproduces_the_deterministic_critical_levels_exactly():
    """``lead_time_std_dev: 0`` is the deterministic whole lead time: the same tables, plan,
    levels, services and simulation (the one-point distribution is tested in
    test_gsm_lead_time_critical.py)."""
    rng = random.Random(4)
    inst = _multi_segment(rng, 6, 0)
    doc = inst.model_dump(exclude_none=True)
    for s in doc["stages"]:
        s["lead_time_std_dev"] = 0.0
    zero = SafetyStockInstance.model_validate(doc)
    a, b = solve(inst), solve(zero)
    assert a.objective == b.objective and a.message == b.message
    for name in ("stages", "demands"):
        assert a.table(name).equals(b.table(name))
    sa = simulate(inst, a, periods=500, replications=4, seed=1)
    sb = simulate(zero, b, periods=500, replications=4, seed=1)
    assert sa.equals(sb)


def test_actual_upstream_is_refused_for_critical_levels_with_random_lead_times():
    """As with deterministic lead times: the cascading 'actual' mode has no critical levels,
    so it is refused rather than reported first come, first served."""
    rng = random.Random(9)
    inst = _random_leads(rng, _multi_segment(rng, 4, 0))
    data = prepare(inst)
    if not stage_specs(inst, data.n, data.ids) or not any(needs_table(s) for s in inst.stages):
        pytest.skip("draw without critical levels or random lead times")
    with pytest.raises(ValueError, match="not simulated for stages with critical levels"):
        simulate(inst, solve(inst), periods=50, replications=2, upstream="actual")


def test_stated_order_delays_simulate_as_the_model_tables_without_building_them(monkeypatch):
    """With random lead times the simulators take the order delays and safety stocks the
    result states (its stages table) and build no stage tables; the table is the same bytes
    as when they are recomputed from the model (stages table without ``order_delay``). Seed 4
    has an order delay of 3 periods at one stage."""
    from optim.models.safety_stock import simulate as sim_mod
    from optim.models.safety_stock import simulate_lead_times as lead_mod

    rng = random.Random(4)
    inst = _random_leads(rng, _multi_segment(rng, 5, 0))
    res = solve(inst)
    stages, demands = res.table("stages"), res.table("demands")
    assert stages["order_delay"].max() == 3
    built: list[int] = []

    def counted(instance, workers=1, deadline=None):
        built.append(workers)
        return prepare(instance, workers, deadline)

    for module in (sim_mod, lead_mod):
        monkeypatch.setattr(module, "prepare", counted)
    run = dict(periods=600, replications=4, seed=2, levels=demands)
    stated = simulate(inst, stages, **run).to_csv(index=False)
    assert built == []
    model = simulate(inst, stages.drop(columns=["order_delay"]), **run).to_csv(index=False)
    assert built == [1]  # prepared once for both simulators
    assert stated == model
