"""Critical levels at a stage with a random lead time (issue 14 × issue 10).

Oracles: brute force over base stock and every critical level with services enumerated over
every (replenishment time, window demand, segment demands) outcome; a period-by-period
simulation of the policy with drawn lead times; the deterministic critical-level model for a
one-point distribution.
"""

from __future__ import annotations

import itertools
import json
import math
import random
from pathlib import Path

import numpy as np
import pytest

from optim.instances.safety_stock import SafetyStockInstance, Stage
from optim.models.safety_stock import prepare
from optim.models.safety_stock.critical import (
    Lattice,
    SegmentModel,
    StageSpec,
    stage_specs,
    window,
)
from optim.models.safety_stock.lead_times import (
    critical_lead_time_base_stock,
    critical_lead_time_policy,
)
from optim.models.safety_stock.solve import solve, solve_cover_strictest

EXAMPLE = Path(__file__).resolve().parents[3] / "instances" / "data" / "two_echelon_gsm.json"


def _stage(points: list[tuple[float, float]]) -> Stage:
    dist = [{"value": v, "probability": p} for v, p in points]
    return Stage.model_validate({"id": "s", "holding_cost": 1.0, "lead_time_distribution": dist})


def _spec(rng: random.Random) -> StageSpec:
    segs = []
    for _ in range(2):
        n = rng.randint(1, 3)
        pmf = np.array([rng.random() + 0.05 for _ in range(n)])
        segs.append(
            SegmentModel(
                Lattice(rng.randint(0, 1), pmf / pmf.sum()),
                rng.choice([0.7, 0.85, 0.95]),
                rng.choice(["cycle_service", "fill_rate"]),
            )
        )
    segs.sort(key=lambda s: -s.target)
    mean = sum(s.demand.mean() for s in segs)
    return StageSpec(0, (0, 1), tuple(segs), 1.0, mean)


def _services(spec: StageSpec, mix: dict[int, float], b: int, levels: tuple[int, ...]):
    """Per-segment (cycle, fill) by enumerating every outcome; r <= 0 serves everything."""
    segs = spec.segments
    period = segs[0].demand.add(segs[1].demand)
    cyc, served, dem = np.zeros(2), np.zeros(2), np.zeros(2)
    supports = [range(s.demand.lo, s.demand.hi + 1) for s in segs]
    for r, q in mix.items():
        w = window(period, r - 1) if r >= 1 else Lattice(0, np.ones(1))
        for wi, pw in enumerate(w.pmf):
            stock0 = max(b - (w.lo + wi), 0) if r >= 1 else math.inf
            for ds in itertools.product(*supports):
                p = (
                    q
                    * pw
                    * math.prod(
                        float(s.demand.pmf[d - s.demand.lo]) for s, d in zip(segs, ds, strict=True)
                    )
                )
                stock = stock0
                for k in (1, 0):  # lowest priority first
                    give = min(ds[k], max(stock - levels[k], 0))
                    stock -= give
                    cyc[k] += p * (give == ds[k])
                    served[k] += p * give
                    dem[k] += p * ds[k]
    fill = np.where(dem > 0, served / np.where(dem > 0, dem, 1.0), 1.0)
    return cyc, fill


def _meets(spec: StageSpec, cyc: np.ndarray, fill: np.ndarray) -> bool:
    return all(
        (cyc[k] if s.measure == "cycle_service" else fill[k]) >= s.target - 1e-9
        for k, s in enumerate(spec.segments)
    )


@pytest.mark.parametrize("seed", range(6))
def test_least_base_stock_equals_brute_force(seed: int) -> None:
    rng = random.Random(seed)
    spec = _spec(rng)
    lead = 3
    stage = _stage([(1.0, 0.3), (2.5, 0.3), (3.0, 0.4)])
    for tau in range(0, 5):
        x = tau - lead
        mix: dict[int, float] = {}  # t = m + f: m w.p. 1 - f, m + 1 w.p. f; r <= 0 in time
        for v, p in ((1.0, 0.3), (2.5, 0.3), (3.0, 0.4)):
            m, f = math.floor(x + v), (x + v) - math.floor(x + v)
            for r, q in ((m, p * (1 - f)), (m + 1, p * f)):
                mix[max(r, 0)] = mix.get(max(r, 0), 0.0) + q
        brute = None
        for b in range(0, 40):
            for c1 in range(0, b + 1):
                if _meets(spec, *_services(spec, mix, b, (0, c1))):
                    brute = b
                    break
            if brute is not None:
                break
        assert brute is not None
        assert critical_lead_time_base_stock(spec, stage, lead, tau) == brute, (seed, tau)


def test_policy_services_agree_with_a_period_by_period_simulation() -> None:
    """Draw a replenishment time per period, the window's demand from the simulated stream
    and serve the segments by critical levels: services within 4 standard errors."""
    rng = np.random.default_rng(3)
    spec = _spec(random.Random(11))
    points = [(1.0, 0.25), (2.5, 0.45), (4.0, 0.3)]
    stage, lead, tau = _stage(points), 4, 3
    b_ss = 2.0  # safety stock handed in (lattice step 1), levels greedy for its base stock
    pol = critical_lead_time_policy(spec, stage, lead, tau, b_ss)
    n = 60_000
    segs = spec.segments
    draws = [s.demand.lo + rng.choice(s.demand.pmf.size, size=n, p=s.demand.pmf) for s in segs]
    total = draws[0] + draws[1]
    cum = np.concatenate(([0], np.cumsum(total)))
    values = np.array([v for v, _ in points])
    probs = np.array([p for _, p in points])
    t = tau - lead + rng.choice(values, size=n, p=probs)  # replenishment time per period
    whole = np.floor(t)
    r = (whole + (rng.random(n) < t - whole)).astype(np.int64)  # the order's share in time
    hits, served = np.zeros((2, n)), np.zeros((2, n))
    start = int(values.max()) + 2
    for u in range(start, n):
        if r[u] <= 0:
            hits[:, u], served[:, u] = 1.0, [draws[0][u], draws[1][u]]
            continue
        stock = max(pol.b - int(cum[u] - cum[u - r[u] + 1]), 0)  # W: the r - 1 periods before u
        for k in (1, 0):
            give = min(int(draws[k][u]), max(stock - pol.levels[k], 0))
            stock -= give
            hits[k, u] = give == draws[k][u]
            served[k, u] = give
    for k in range(2):
        h = hits[k, start:]
        se = h.std() / math.sqrt(h.size)
        assert abs(h.mean() - pol.cycle[k]) <= 4 * se + 1e-3, (k, h.mean(), pol.cycle[k])
        d = draws[k][start:]
        fill = served[k, start:].sum() / d.sum()
        assert abs(fill - pol.fill[k]) <= 0.01, (k, fill, pol.fill[k])


def _two_echelon(store_a: dict[str, object]) -> SafetyStockInstance:
    doc = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    doc["stages"][2] = {"id": "store_a", "holding_cost": 3.0, **store_a}
    return SafetyStockInstance.model_validate(doc)


def test_one_point_distribution_reproduces_the_deterministic_critical_levels() -> None:
    det = _two_echelon({"lead_time": 1})
    one = _two_echelon({"lead_time_distribution": [{"value": 1, "probability": 1.0}]})
    a, b = prepare(det), prepare(one)
    assert a.ss_table is not None and b.ss_table is not None
    for ta, tb in zip(a.ss_table, b.ss_table, strict=True):
        assert np.array_equal(ta, tb)
    assert solve(det).objective == solve(one).objective


@pytest.mark.parametrize(
    "lead",
    [
        {
            "lead_time_distribution": [
                {"value": 1, "probability": 0.6},
                {"value": 3, "probability": 0.4},
            ]
        },
        {"lead_time": 1.5},
        {"lead_time": 2, "lead_time_std_dev": 0.7},
    ],
)
def test_random_lead_time_with_critical_levels_solves_every_segment_at_target(lead) -> None:
    inst = _two_echelon(lead)
    res = solve(inst)
    dem = res.table("demands")
    a = dem[dem["stage"] == "store_a"].set_index("segment")
    assert (a["expected_service"] >= a["target"] - 1e-12).all()
    assert a.loc["standard", "critical_level"] > 0  # the reservation is used
    assert "critical levels at 1 shared stage" in res.message
    ref = solve_cover_strictest(inst)  # the same lead-time model, levels 0
    assert res.objective < ref.objective  # differentiated service stocks less
    assert "saving" in res.message and res.info["max_z_cost"] == ref.objective
    # the stage table is the composed one: more stock than the deterministic mean lead time
    det = solve(_two_echelon({"lead_time": 1}))
    assert res.objective > det.objective


@pytest.mark.parametrize(
    "lead",
    [
        {
            "lead_time_distribution": [
                {"value": 1, "probability": 0.6},
                {"value": 3, "probability": 0.4},
            ]
        },
        {"lead_time": 2, "lead_time_std_dev": 0.7},
        {"lead_time": 1},
    ],
)
def test_time_limit_in_the_tables_returns_a_plan_meeting_every_target(lead, monkeypatch) -> None:
    """A limit that passes while the stage tables are built (here before the first stage)
    returns the all-stocking solution, which still meets every segment's target by the
    model's own services (critical levels at store_a, random or not), with the bound 0."""
    from optim import clock
    from optim.params import SolveParams
    from optim.status import Status

    monkeypatch.setattr(clock, "MIN_BUDGET", 0.0)  # the limit itself, no floor
    res = solve(_two_echelon(lead), SolveParams(time_limit=1e-9))
    assert res.status is Status.TIME_LIMIT and res.has_solution(), res.message
    assert res.bound == 0.0 and res.info["method"] == "all_stocking"
    dem = res.table("demands")
    assert (dem["expected_service"] >= dem["target"] - 1e-9).all(), dem


@pytest.mark.parametrize(
    ("lead", "pooling"),
    [
        (
            {
                "lead_time_distribution": [
                    {"value": 1, "probability": 0.6},
                    {"value": 3, "probability": 0.4},
                ]
            },
            "critical_level",
        ),
        ({"lead_time": 2, "lead_time_std_dev": 0.7}, "critical_level"),
        (
            {
                "lead_time_distribution": [
                    {"value": 1, "probability": 0.5},
                    {"value": 5, "probability": 0.5},
                ]
            },
            "max_z",
        ),
    ],
)
def test_no_crossing_model_is_conservative_when_orders_cross(lead, pooling) -> None:
    """The model (and optim simulate) let all orders of a period share one replenishment
    time: no crossing. With lead times drawn independently per period's orders, orders cross
    (simulate_crossing): every segment's cycle service is then at least the model's, within
    3 standard errors, and above it by more than 3 in the discrete cases (the number of
    outstanding periods keeps its mean and loses spread). Critical levels at store_a, and
    first come, first served (max_z: the model's pooled service is the floor of every
    segment there)."""
    from optim.models.safety_stock.simulate_lead_times import simulate_crossing

    inst = _two_echelon(lead).model_copy(update={"pooling": pooling})
    res = solve(inst)
    dem = res.table("demands")
    out = simulate_crossing(inst, res, "store_a", periods=3000, replications=8, seed=3)
    above = []
    for i, (cycle, _) in out.items():
        model = float(dem.iloc[i]["expected_cycle_service"])
        se = float(cycle.std(ddof=1)) / math.sqrt(cycle.size)
        assert cycle.mean() >= model - 3 * se - 1e-9, (i, cycle.mean(), model, se)
        above.append(cycle.mean() - model > 3 * se)
    if "lead_time_distribution" in lead:
        assert any(above)


def _lumpy_stage_with_receipt_lead_times() -> SafetyStockInstance:
    """One stage, two segments of intermittent demand (mean 0.04 and 0.19 per period, std
    devs 0.77 and 2.18) and a lead time of 5 or 10 days in weeks (the empirical law of a
    lane whose receipts alternate): the least base stock B* with critical levels is 0 (most
    periods have no demand), below the mean pipeline demand mu (x + E L) = 0.247, so the
    table floors SS^0 < 0 at 0 and the stage holds B = 0.247, less than one lattice step."""
    lead = [{"value": 5 / 7, "probability": 0.5}, {"value": 10 / 7, "probability": 0.5}]
    return SafetyStockInstance.model_validate(
        {
            "kind": "safety_stock",
            "name": "lumpy_receipt_lead_times",
            "pooling": "critical_level",
            "stages": [
                {"id": "dc", "holding_cost": 1.0, "lead_time_distribution": lead},
            ],
            "demands": [
                {"stage": "dc", "segment": "strategic", "mean": 0.0385, "std_dev": 0.77,
                 "service_level": 0.985, "max_service_time": 0, "tier": 1},
                {"stage": "dc", "segment": "standard", "mean": 0.192, "std_dev": 2.18,
                 "service_level": 0.935, "max_service_time": 0, "tier": 2},
            ],
        }
    )  # fmt: skip


def test_critical_levels_stay_within_the_base_stock_held_when_the_table_floors_at_zero() -> None:
    """Regression (hunt 12, ``optim plan`` with DC receipts of 5 and 10 days): the policy
    rounded the held base stock B = SS + mu (x + E L) *up* to the lattice, so where the
    table had floored SS^0 < 0 at 0 (B > B* h) the greedy levels were set for a stock the
    stage does not hold — critical level 1 above B = 0.247 — and the simulator refused the
    solver's own plan. Rounded down (as the deterministic model's policy_at), the levels
    fit in B, the model's services are those of the stock held, and the simulation meets
    every target."""
    from optim.models.safety_stock.simulate import simulate

    inst = _lumpy_stage_with_receipt_lead_times()
    res = solve(inst)
    stages = res.table("stages").set_index("stage")
    base = float(stages.loc["dc", "base_stock_level"])
    assert stages.loc["dc", "safety_stock"] == 0.0 and 0 < base < 1  # the floored regime
    dem = res.table("demands")
    assert (dem["critical_level"] <= base).all(), dem
    assert (dem["expected_service"] >= dem["target"] - 1e-12).all(), dem
    sim = simulate(inst, res, periods=2000, replications=8, seed=1)
    assert sim["meets_target"].all(), sim
    assert (sim["critical_level"] <= base).all(), sim


def test_policy_base_stock_is_the_held_stock_rounded_down() -> None:
    """critical_lead_time_policy's lattice base stock never exceeds the stock held (levels
    included) and never falls below the least base stock B* of the table."""
    inst = _lumpy_stage_with_receipt_lead_times()
    data = prepare(inst)
    spec = stage_specs(inst, data.n, data.ids)[0]
    stage, lead = inst.stages[0], int(data.lead_time[0])
    mean_lt = float(data.expected_lead_time()[0])
    for tau in range(lead, lead + 4):
        held = spec.mean * (tau - lead + mean_lt)  # SS 0: the floored table's stock
        for ss in (0.0, 0.3, 1.0, 2.7):
            pol = critical_lead_time_policy(spec, stage, lead, tau, ss)
            assert pol.b * spec.step <= held + ss + 1e-9, (tau, ss, pol)
            assert pol.b >= critical_lead_time_base_stock(spec, stage, lead, tau), (tau, ss)
            assert max(pol.levels) <= pol.b, (tau, ss, pol)
