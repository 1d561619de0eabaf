"""Critical-level reservation (issue 10): exact per-segment service, optimal (B, c), GSM tables.

Oracles: brute-force enumeration of the policy's allocation over every joint demand outcome
(independent of the one-dimensional recursion), brute force over (B, c), closed forms
(Poisson windows), the state-by-state simulator (``models.safety_stock.simulate``), and
``max_z`` on the same instance.
"""

from __future__ import annotations

import itertools
import json
import math
import random
from pathlib import Path

import numpy as np
import pytest
from _gsm_testlib import random_network
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from optim.cli import main
from optim.errors import InstanceError
from optim.instances.safety_stock import SafetyStockInstance
from optim.models.safety_stock import prepare
from optim.models.safety_stock.critical import (
    Lattice,
    SegmentModel,
    _after,
    demand_lattice,
    evaluate_policy,
    fast_levels,
    fast_policy,
    greedy_levels,
    optimal_policy,
    stage_table,
    window,
)
from optim.models.safety_stock.simulate import simulate
from optim.models.safety_stock.solve import solve, solve_cover_strictest

EXAMPLE = Path(__file__).resolve().parents[3] / "instances" / "data" / "two_echelon_gsm.json"

# --- exact evaluation against enumeration ----------------------------------------------------


def _enumerate(w: Lattice, segs: list[SegmentModel], b: int, levels: list[int]):
    """Services by enumerating every (W, D_1..D_K): the policy as stated, no recursion."""
    k = len(segs)
    cyc, served, dem = np.zeros(k), np.zeros(k), np.zeros(k)
    supports = [range(s.demand.lo, s.demand.hi + 1) for s in segs]
    for wi, pw in enumerate(w.pmf):
        on_hand0 = max(b - (w.lo + wi), 0)
        for ds in itertools.product(*supports):
            p = pw * math.prod(
                float(s.demand.pmf[d - s.demand.lo]) for s, d in zip(segs, ds, strict=True)
            )
            on_hand = on_hand0
            for j in range(k - 1, -1, -1):  # lowest priority first
                give = min(ds[j], max(on_hand - levels[j], 0))
                on_hand -= give
                cyc[j] += p * (give == ds[j])
                served[j] += p * give
                dem[j] += p * ds[j]
    return cyc, np.where(dem > 0, served / np.where(dem > 0, dem, 1), 1.0)  # no demand: 1


def _small_segments(rng: random.Random, k: int) -> list[SegmentModel]:
    segs = []
    for _ in range(k):
        n = rng.randint(1, 4)
        pmf = np.array([rng.random() + 0.05 for _ in range(n)])
        segs.append(
            SegmentModel(
                Lattice(rng.randint(0, 2), pmf / pmf.sum()),
                rng.choice([0.6, 0.8, 0.9, 0.95]),
                rng.choice(["cycle_service", "fill_rate"]),
            )
        )
    segs.sort(key=lambda s: -s.target)
    return segs


@pytest.mark.parametrize("seed", range(12))
def test_exact_service_equals_enumeration(seed):
    rng = random.Random(seed)
    segs = _small_segments(rng, rng.randint(1, 3))
    pmf = np.array([rng.random() + 0.05 for _ in range(rng.randint(1, 4))])
    w = Lattice(rng.randint(0, 3), pmf / pmf.sum())
    b = rng.randint(0, 10)
    levels = [0] + [rng.randint(0, b) for _ in segs[1:]]
    got = evaluate_policy(w, segs, b, levels)
    cyc, fill = _enumerate(w, segs, b, levels)
    np.testing.assert_allclose(got.cycle, cyc, atol=1e-12)
    np.testing.assert_allclose(got.fill, fill, atol=1e-12)


@pytest.mark.parametrize("seed", range(10))
def test_optimal_policy_equals_brute_force_over_b_and_levels(seed):
    """Least B over every (B, c) with c_1 = 0 (enumeration of all levels, exact services)."""
    rng = random.Random(100 + seed)
    segs = _small_segments(rng, rng.randint(2, 3))
    w = window(segs[0].demand.add(segs[-1].demand), rng.randint(0, 2))
    best = None
    for b in range(0, 30):
        for rest in itertools.product(range(b + 1), repeat=len(segs) - 1):
            pol = evaluate_policy(w, segs, b, (0, *rest))
            got = [
                pol.fill[k] if s.measure == "fill_rate" else pol.cycle[k]
                for k, s in enumerate(segs)
            ]
            if all(g >= s.target - 1e-12 for g, s in zip(got, segs, strict=True)):
                best = b
                break
        if best is not None:
            break
    assert best is not None
    b, levels = optimal_policy(w, segs)
    assert b == best
    assert greedy_levels(w, segs, b - 1) is None if b > 0 else True
    pol = evaluate_policy(w, segs, b, levels)
    for k, s in enumerate(segs):
        got = pol.fill[k] if s.measure == "fill_rate" else pol.cycle[k]
        assert got >= s.target - 1e-12


def _poisson_cdf(x: int, lam: float) -> float:
    return sum(math.exp(-lam) * lam**i / math.factorial(i) for i in range(x + 1))


@pytest.mark.parametrize(("tau", "b"), [(1, 3), (2, 6), (3, 9)])
def test_closed_forms_poisson_two_classes(tau, b):
    """Poisson classes (top rate 1.5, low rate 2), F_m the Poisson(m) cdf, W the
    (tau - 1)-period demand. A class with no demand has no shortage. With c_2 = 0 (low class
    first, no reservation): top P = F_{3.5 tau}(B) + e^{-1.5} (1 - F_{3.5(tau-1)+2}(B)),
    low P = F_{3.5(tau-1)+2}(B) + e^{-2} (1 - F_{3.5(tau-1)}(B)). With c_2 = B the low class
    never gets stock: top P = F_{3.5(tau-1)+1.5}(B) + e^{-1.5} (1 - F_{3.5(tau-1)}(B)),
    low P = e^{-2}."""
    top = SegmentModel(demand_lattice(1.5, 0, "poisson", 1.0), 0.9, "cycle_service")
    low = SegmentModel(demand_lattice(2.0, 0, "poisson", 1.0), 0.8, "cycle_service")
    w = window(top.demand.add(low.demand), tau - 1)
    m = 3.5 * (tau - 1)
    pol = evaluate_policy(w, [top, low], b, [0, 0])
    want_top = _poisson_cdf(b, m + 3.5) + math.exp(-1.5) * (1 - _poisson_cdf(b, m + 2))
    want_low = _poisson_cdf(b, m + 2) + math.exp(-2) * (1 - _poisson_cdf(b, m))
    assert pol.cycle == pytest.approx((want_top, want_low), abs=1e-10)
    pol = evaluate_policy(w, [top, low], b, [0, b])
    want_top = _poisson_cdf(b, m + 1.5) + math.exp(-1.5) * (1 - _poisson_cdf(b, m))
    assert pol.cycle == pytest.approx((want_top, math.exp(-2.0)), abs=1e-10)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(0, 10_000),
    st.integers(1, 3),
    st.sampled_from(["normal", "poisson", "negative_binomial"]),
    st.integers(0, 6),
)
def test_compiled_search_equals_the_reference(seed, k, law, periods):
    """The numba kernels (``fast_policy`` / ``fast_levels``, used by ``stage_table`` and
    ``policy_at``) give exactly the numpy reference's base stock and levels."""
    rng = random.Random(seed)
    means = [rng.uniform(0.2, 30) for _ in range(k)]
    sds = [
        m * rng.uniform(0.1, 0.6) if law == "normal" else math.sqrt(m) * rng.uniform(1, 3)
        for m in means
    ]
    sigma = math.sqrt(sum(s * s for s in sds))
    h = sigma / 8 if law == "normal" else max(1.0, sigma / 16)
    segs = sorted(
        (
            SegmentModel(
                demand_lattice(m, s, law, h),
                rng.choice([0.8, 0.9, 0.95, 0.99, 0.999]),
                rng.choice(["cycle_service", "fill_rate"]),
            )
            for m, s in zip(means, sds, strict=True)
        ),
        key=lambda s: -s.target,
    )
    period = segs[0].demand
    for s in segs[1:]:
        period = period.add(s.demand)
    w = window(period, periods)
    b_min = rng.randint(0, 5)
    want = optimal_policy(w, segs, b_min)
    assert fast_policy(w, segs, b_min) == want
    for b in range(max(0, want[0] - 3), want[0] + 3):
        assert fast_levels(w, segs, b) == greedy_levels(w, segs, b)


@settings(max_examples=60, deadline=None)
@given(
    st.floats(0.01, 2000.0),
    st.floats(0.5, 4.0),
    st.sampled_from(["poisson", "negative_binomial"]),
    st.integers(-2, 4),
)
def test_count_lattices_equal_the_direct_formula_bit_for_bit(mean, spread, law, e):
    """The count laws use a kept table of log-factorials and map ``math.lgamma`` over arrays:
    the very numbers of the direct formula (one ``math.lgamma`` per point), bit for bit.
    (A law a count of ``h > 1`` units cannot match in mean and variance is the stated law
    rounded to the lattice instead: test_gsm_large_laws.)"""
    from optim.models.safety_stock.critical import _trim, lattice_law

    h = 2.0**e
    got = demand_lattice.__wrapped__(mean, math.sqrt(mean) * spread, law, h)
    kind, a, b = lattice_law(mean, math.sqrt(mean) * spread, law, h)
    assume(not kind.startswith("rounded_"))
    if kind == "poisson":
        k = np.arange(int(a + 14 * math.sqrt(a) + 30) + 1, dtype=np.float64)
        lg = np.array([math.lgamma(v + 1.0) for v in k.tolist()])
        logp = k * math.log(a) - a - lg
    else:
        m = a * (1 - b) / b
        k = np.arange(int(m + 30 * math.sqrt(m / b) + 30) + 1, dtype=np.float64)
        lg = np.array([math.lgamma(v + 1.0) for v in k.tolist()])
        lgr = np.array([math.lgamma(v + a) for v in k.tolist()])
        logp = lgr - math.lgamma(a) - lg + a * math.log(b) + k * math.log1p(-b)
    want = _trim(0, np.exp(logp))
    assert got.lo == want.lo and got.pmf.tobytes() == want.pmf.tobytes()


@pytest.mark.parametrize(
    ("mean", "std_dev", "law", "step"),
    [
        (1e-300, 1.0, "auto", 1.0),  # m * m underflows: r = 0 once, lgamma(0) raised
        (1e-200, 1e-3, "negative_binomial", 0.01),
        (0.1, 0.01, "negative_binomial", 0.001),  # v = m up to rounding: r ~ 1e17
        (10.0, 0.1, "negative_binomial", 0.001),
    ],
)
def test_count_lattices_at_the_edges_are_probability_laws(mean, std_dev, law, step):
    """A mean so small that ``m * m`` underflows, and a variance equal to the mean up to
    rounding, give a proper law (finite, sums to 1, no warning) instead of ``lgamma(0)`` or
    an ``exp`` overflow; the first was an exit 1 on ``optim solve``."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        lat = demand_lattice.__wrapped__(mean, std_dev, law, step)
    assert np.isfinite(lat.pmf).all() and abs(lat.pmf.sum() - 1.0) < 1e-12
    expected = mean / step
    got = float(np.dot(np.arange(lat.pmf.size) + lat.lo, lat.pmf))
    assert got == pytest.approx(expected, rel=1e-6, abs=1e-9)


def test_a_vanishing_mean_solves_on_the_cli(tmp_path, capsys):
    doc = json.loads(EXAMPLE.read_text())
    doc["demands"][1].update(mean=1e-300, std_dev=1.0)
    for d, tier in zip(doc["demands"], (1, 2, 2), strict=True):
        d["tier"] = tier
    path = tmp_path / "tiny.json"
    path.write_text(json.dumps(doc))
    assert main(["solve", str(path), "--out", str(tmp_path / "out.json")]) == 0


def _reference_table(segs: list[SegmentModel], h: float, mean: float, tau_max: int):
    """The stage table by the numpy reference: at every tau the least feasible base stock
    from the floor of the previous tau's stock (``optimal_policy``), and its greedy levels."""
    period = segs[0].demand
    for s in segs[1:]:
        period = period.add(s.demand)
    ss, levels = np.zeros(tau_max + 1), {}
    for tau in range(1, tau_max + 1):
        floor_b = math.ceil((mean * tau + ss[tau - 1]) / h - 1e-9)
        b, levels[tau] = optimal_policy(window(period, tau - 1), segs, max(0, floor_b))
        ss[tau] = max(b * h - mean * tau, ss[tau - 1])
    return ss, levels


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(0, 10_000),
    st.integers(1, 4),
    st.sampled_from(["normal", "poisson", "negative_binomial", "small", "mixed"]),
    st.integers(1, 8),
)
def test_stage_table_equals_the_reference_search(seed, k, law, tau_max):
    """``stage_table`` (compiled search from a necessary bound and a guess, galloping, and
    the tail-sum after-recursion) gives exactly the reference's table and levels at every
    tau, with the top class not always the strictest (a downstream flow at level 0)."""
    from optim.models.safety_stock.critical import _MEMOS, _Memo

    rng = random.Random(seed)
    if law == "small":
        segs = _small_segments(rng, k)
        h = 1.0
    else:
        laws = [rng.choice(["normal", "poisson", "negative_binomial"]) for _ in range(k)]
        laws = laws if law == "mixed" else [law] * k
        means = [rng.uniform(0.2, 40) for _ in range(k)]
        sds = [
            m * rng.choice([0.0, 0.1, 0.3, 0.6])
            if lw == "normal"
            else math.sqrt(m) * rng.uniform(1, 3)
            for m, lw in zip(means, laws, strict=True)
        ]
        sigma = math.sqrt(sum(s * s for s in sds)) or 1.0
        h = 2.0 ** math.floor(math.log2(max(1.0, sigma / 16) if law != "normal" else sigma / 8))
        segs = [
            SegmentModel(
                demand_lattice(m, s, lw, h),
                rng.choice([0.8, 0.9, 0.935, 0.95, 0.985, 0.99, 0.999]),
                rng.choice(["cycle_service", "fill_rate"]),
            )
            for m, s, lw in zip(means, sds, laws, strict=True)
        ]
        segs[1:] = sorted(segs[1:], key=lambda s: -s.target)  # the top class: any target
    mean = sum(s.demand.mean() for s in segs) * h
    want, want_levels = _reference_table(segs, h, mean, tau_max)
    key = tuple(id(s) for s in segs)
    _MEMOS[key] = memo = _Memo(tuple(segs))  # as stage_specs registers a stage's memo
    try:
        got = stage_table(segs, h, mean, tau_max)
    finally:
        _MEMOS.pop(key)
    assert np.array_equal(got, want)
    for tau in range(1, tau_max + 1):  # the levels kept for the table's base stock
        assert memo.levels[(tau, round((mean * tau + got[tau]) / h))] == want_levels[tau]


def test_table_is_non_decreasing_and_feasible_at_every_tau():
    h = 1.0
    segs = [
        SegmentModel(demand_lattice(10, 4, "normal", h), 0.98, "cycle_service"),
        SegmentModel(demand_lattice(8, 4, "normal", h), 0.90, "fill_rate"),
        SegmentModel(demand_lattice(3, 3, "negative_binomial", h), 0.85, "cycle_service"),
    ]
    ss = stage_table(segs, h, 21.0, 8)
    assert ss[0] == 0 and (np.diff(ss) >= 0).all()
    period = segs[0].demand.add(segs[1].demand).add(segs[2].demand)
    for tau in range(1, 9):
        w = window(period, tau - 1)
        b = round((21.0 * tau + ss[tau]) / h)
        assert greedy_levels(w, segs, b) is not None


# --- the instance: reduction, results, simulation --------------------------------------------


def two_echelon() -> SafetyStockInstance:
    return SafetyStockInstance.model_validate_json(EXAMPLE.read_text(encoding="utf-8"))


def test_single_segment_stages_reduce_exactly_to_square_root_gsm():
    rng = random.Random(5)
    for _ in range(5):
        inst = random_network(rng, 7, pooling="max_z")
        one = {}
        for d in inst.demands:
            one.setdefault(d.stage, d)
        doc = inst.model_dump()
        doc["demands"] = [d.model_dump() for d in one.values()]
        a = SafetyStockInstance.model_validate({**doc, "pooling": "max_z"})
        b = SafetyStockInstance.model_validate({**doc, "pooling": "critical_level"})
        assert prepare(b).ss_table is None
        assert solve(b).objective == solve(a).objective


def test_result_rows_and_saving_message():
    res = solve(two_echelon())
    dem = res.table("demands").set_index("segment")
    a = res.table("demands")
    a = a[a["stage"] == "store_a"].set_index("segment")
    assert a.loc["strategic", "critical_level"] == 0 and a.loc["strategic", "priority"] == 1
    assert a.loc["standard", "critical_level"] > 0
    assert (a["expected_service"] >= a["target"] - 1e-12).all()
    assert set(dem.columns) >= {"critical_level", "service_measure", "target", "expected_service"}
    ref = solve_cover_strictest(two_echelon())  # max_z like for like (same demand laws)
    assert res.objective < ref.objective
    assert res.info["max_z_cost"] == pytest.approx(ref.objective)
    assert "saving" in res.message and f"{ref.objective:.6g}" in res.message
    rss = solve(two_echelon().model_copy(update={"pooling": "root_sum_square"}))
    assert "does not differentiate service" in rss.message


def test_stage_specs_outlive_the_max_z_comparisons():
    """The planning run solves the instance (with its max_z comparison inside), then max_z
    again, then reports and simulates the plan: the stage specs (and the searches' memos)
    are computed once, not again after every max_z solve."""
    from optim.models.safety_stock.critical import stage_specs

    inst = two_echelon()
    ids = tuple(s.id for s in inst.stages)
    solve(inst)
    specs = stage_specs(inst, len(ids), ids)
    assert specs
    for _ in range(3):
        solve(inst.model_copy(update={"pooling": "max_z"}))
    assert stage_specs(inst, len(ids), ids) is specs


def test_model_service_equals_simulated_service_on_the_example():
    inst = two_echelon()
    res = solve(inst)
    sim = simulate(inst, res, periods=3000, replications=12, seed=3)
    model = res.table("demands")
    for m, s in zip(model.itertuples(), sim.itertuples(), strict=True):
        if m.stage == "store_a":
            for col in ("cycle_service", "fill_rate"):
                want = getattr(m, f"expected_{col}")
                assert abs(getattr(s, col) - want) < 0.004, (m.segment, col, want)
    assert sim["meets_target"].all()


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(0, 10_000),
    st.lists(st.sampled_from([0.85, 0.9, 0.95, 0.99]), min_size=2, max_size=3, unique=True),
    st.sampled_from(["cycle_service", "fill_rate"]),
    st.sampled_from(["normal", "poisson", "negative_binomial"]),
)
def test_model_equals_simulation_random_stage(seed, targets, measure, law):
    """Model (exact recursion) vs the state-by-state simulator, within sampling error."""
    rng = random.Random(seed)
    demands = []
    for k, t in enumerate(targets):
        mean = rng.uniform(2, 12)
        sd = math.sqrt(mean) * rng.uniform(1.2, 2.0) if law != "poisson" else 0.0
        demands.append(
            {
                "stage": "s",
                "segment": f"g{k}",
                "mean": mean,
                "std_dev": sd if law != "normal" else mean * rng.uniform(0.2, 0.45),
                "service_level": t,
                "max_service_time": 0,
                "service_measure": measure,
                "distribution": law,
            }
        )
    inst = SafetyStockInstance.model_validate(
        {
            "stages": [
                {"id": "u", "lead_time": rng.randint(1, 3), "holding_cost": 1.0},
                {"id": "s", "lead_time": rng.randint(1, 3), "holding_cost": 2.0},
            ],
            "arcs": [{"source": "u", "target": "s"}],
            "demands": demands,
        }
    )
    res = solve(inst)
    sim = simulate(inst, res, periods=2000, replications=10, seed=seed)
    model = res.table("demands")
    for m, s in zip(model.itertuples(), sim.itertuples(), strict=True):
        for col in ("cycle_service", "fill_rate"):
            want = getattr(m, f"expected_{col}")
            got = getattr(s, col)
            tol = 5 * max(s.stderr, 0.0015) + 0.002
            assert abs(got - want) < tol, (m.segment, col, want, got)


def _multi_segment(rng: random.Random, n: int, extra: int) -> SafetyStockInstance:
    inst = random_network(rng, n, extra_arcs=extra, pooling="max_z")
    doc = inst.model_dump()
    sources = {a.source for a in inst.arcs}
    demands = []
    for s in inst.stages:
        if s.id in sources and rng.random() < 0.7:
            continue
        for k in range(rng.randint(1, 3)):
            mean = rng.uniform(5, 40)
            demands.append(
                {
                    "stage": s.id,
                    "segment": f"g{k}",
                    "mean": mean,
                    "std_dev": mean * rng.uniform(0.1, 0.45),
                    "service_level": rng.choice([0.8, 0.9, 0.95, 0.98]),
                    "max_service_time": rng.randint(0, 2),
                    "service_measure": rng.choice(["cycle_service", "fill_rate"]),
                }
            )
    doc["demands"] = demands
    doc["pooling"] = "critical_level"
    return SafetyStockInstance.model_validate(doc)


@pytest.mark.parametrize(("seed", "extra"), [(1, 0), (2, 0), (3, 2), (4, 3)])
def test_random_trees_and_dags_meet_every_target(seed, extra):
    """Every segment meets its target in simulation; cost within one lattice step per critical
    stage of max_z's (lumpier lattice demand can need more than the normal square root)."""
    rng = random.Random(seed)
    inst = _multi_segment(rng, 8, extra)
    res = solve(inst)
    sim = simulate(inst, res, periods=2000, replications=10, seed=seed)
    assert sim["meets_target"].all(), sim[~sim["meets_target"]]
    ref = solve(inst.model_copy(update={"pooling": "max_z"}))
    assert res.objective <= ref.objective * (1 + 1e-9) + 1e-9, (res.objective, ref.objective)


# --- bad input and the command line ----------------------------------------------------------


def _doc() -> dict:
    return json.loads(EXAMPLE.read_text(encoding="utf-8"))


@pytest.mark.parametrize(
    ("field", "value", "match"),
    [
        ("service_level", 1.0, "service_level 1.0 of segment 'strategic' at stage 'store_a'"),
        ("service_level", 0.0, "outside \\(0, 1\\)"),
        ("service_measure", "ready_rate", "service_measure 'ready_rate' of segment 'strategic'"),
        ("tier", 1, "segment 'standard' at stage 'store_a' has no tier"),
    ],
)
def test_bad_input_names_field_and_id(tmp_path, capsys, field, value, match):
    doc = _doc()
    doc["demands"][0][field] = value
    with pytest.raises(InstanceError, match=match):
        SafetyStockInstance.model_validate(doc)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    assert main(["solve", str(path)]) == 2
    assert field in capsys.readouterr().err


def test_cli_solve_simulate_check_on_the_example(tmp_path, capsys):
    out = tmp_path / "r.json"
    assert main(["solve", str(EXAMPLE), "--out", str(out), "--quiet"]) == 0
    csv = tmp_path / "s.csv"
    args = ["simulate", str(out), "--out", str(csv), "--replications", "10", "--check"]
    assert main(args) == 0
    text = capsys.readouterr().out.strip().splitlines()
    assert text[-1] == "3 of 3 targets met; misses: none"
    head = csv.read_text().splitlines()[0].split(",")
    for col in ("stage", "segment", "target", "ci_low", "ci_high", "meets_target"):
        assert col in head
    for col in ("service_measure", "fill_rate", "cycle_service"):
        assert col in head
    # a hand-edited result: critical level above the base stock -> exit 2 naming field and id
    doc = json.loads(out.read_text())
    for row in doc["demands"]:
        if row["segment"] == "standard" and row["stage"] == "store_a":
            row["critical_level"] = 1e6
    out.write_text(json.dumps(doc))
    assert main(["simulate", str(out)]) == 2
    err = capsys.readouterr().err
    assert "critical_level" in err and "'standard'" in err and "'store_a'" in err


def test_check_exits_5_on_a_miss(tmp_path, capsys):
    """Root-sum-square pooling gives the strategic segment the pooled level: a miss."""
    doc = _doc()
    doc["pooling"] = "root_sum_square"
    path = tmp_path / "rss.json"
    path.write_text(json.dumps(doc))
    out = tmp_path / "r.json"
    assert main(["solve", str(path), "--out", str(out), "--quiet"]) == 0
    assert main(["simulate", str(out), "--replications", "10", "--check", "--quiet"]) == 5
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert last.startswith("2 of 3 targets met; misses: store_a/strategic")


# --- stages that also supply others; one law per demand (the demo's DC misses) ---------------


def _dc_network(dc_segments: list[float], law: str) -> SafetyStockInstance:
    """plant -> dc -> two stores; the stores serve two segments each, the DC its own."""
    rng = random.Random(7)

    def demand(stage: str, k: int, target: float) -> dict:
        mean = rng.uniform(2, 8)
        sd = math.sqrt(mean) * 1.6 if law == "negative_binomial" else mean * 0.3
        return dict(stage=stage, segment=f"g{k}", mean=mean, std_dev=sd, service_level=target)

    demands = [demand(s, k, t) for s in ("a", "b") for k, t in enumerate([0.97, 0.88])]
    demands += [demand("dc", k, t) for k, t in enumerate(dc_segments)]
    return SafetyStockInstance.model_validate(
        {
            "stages": [
                {"id": "plant", "lead_time": 2, "holding_cost": 0.5},
                {"id": "dc", "lead_time": 2, "holding_cost": 1.0},
                {"id": "a", "lead_time": 1, "holding_cost": 2.0},
                {"id": "b", "lead_time": 2, "holding_cost": 2.0},
            ],
            "arcs": [
                {"source": "plant", "target": "dc"},
                {"source": "dc", "target": "a"},
                {"source": "dc", "target": "b"},
            ],
            "demands": [d | {"max_service_time": 0} for d in demands],
        }
    )


@pytest.mark.parametrize(
    ("dc_segments", "law"),
    [([0.985], "negative_binomial"), ([0.95, 0.85], "normal"), ([0.99, 0.9], "negative_binomial")],
)
def test_supplying_stage_gets_levels_and_every_target_holds(dc_segments, law):
    """The DC serves its own segments and the stores' orders (the flow, top priority, level
    0): critical levels at the DC, the model's services equal the simulated ones and every
    (stage, segment) meets its target — the demo's DC rows used to miss with a normal-sized DC
    under negative-binomial store demand."""
    from optim.models.safety_stock.critical import stage_specs

    inst = _dc_network(dc_segments, law)
    data = prepare(inst)
    specs = stage_specs(inst, data.n, data.ids)
    dc = data.ids.index("dc")
    assert dc in specs and specs[dc].flow and len(specs[dc].demands) == len(dc_segments)
    assert {d for d, _ in specs[dc].below} == {0, 1, 2, 3}  # every store demand, phi = 1
    assert data.ids.index("plant") not in specs  # no demand of its own: square-root model
    res = solve(inst)
    sim = simulate(inst, res, periods=3000, replications=12, seed=5)
    assert sim["meets_target"].all(), sim
    model = res.table("demands")
    for m, s in zip(model.itertuples(), sim.itertuples(), strict=True):
        want = m.expected_service
        assert abs(s.fill - want) < 5 * max(s.stderr, 0.0015) + 0.002, (m.stage, m.segment)


def test_one_law_per_demand_on_a_power_of_two_lattice():
    """A store demand has the same lattice at its store and in the DC's flow, and the DC's
    lattice step divides every step it carries."""
    from optim.models.safety_stock.critical import demand_laws, stage_specs

    inst = _dc_network([0.985], "negative_binomial")
    data = prepare(inst)
    specs = stage_specs(inst, data.n, data.ids)
    laws = demand_laws(inst, data.n, data.ids)
    assert set(laws) == set(range(len(inst.demands)))
    for spec in specs.values():
        assert math.log2(spec.step).is_integer()
        for d in spec.demands:
            h = laws[d][1]
            assert (h / spec.step).is_integer()


@pytest.mark.parametrize("seed", range(24))
def test_slow_movers_least_base_stock_equals_a_scan_from_zero(seed):
    """A cycle-service top segment that often has no demand (a period without demand has no
    shortage): the searches' lower bound must never pass the least feasible base stock."""
    rng = random.Random(700 + seed)
    k = rng.randint(1, 3)
    targets = sorted((rng.choice([0.8, 0.9, 0.95, 0.98, 0.99]) for _ in range(k)), reverse=True)
    segs = []
    for i, target in enumerate(targets):
        p0 = rng.uniform(0.4, 0.95)
        rest = np.array([rng.random() + 0.05 for _ in range(rng.randint(1, 4))])
        pmf = np.concatenate([[p0], (1 - p0) * rest / rest.sum()])
        measure = "cycle_service" if i == 0 else rng.choice(["cycle_service", "fill_rate"])
        segs.append(SegmentModel(Lattice(0, pmf), target, measure))
    total = segs[0].demand
    for s in segs[1:]:
        total = total.add(s.demand)
    w = window(total, rng.randint(1, 3))
    least = next(b for b in range(0, 400) if greedy_levels(w, segs, b) is not None)
    assert optimal_policy(w, segs)[0] == least
    assert fast_policy(w, segs)[0] == least


def test_stock_far_above_the_critical_level_keeps_its_support():
    """A demand of mean 1e12 (the gate's limit) with std_dev 12 solved on a lattice of step
    1: the stock left after a segment spanned 0..B (``min(R.lo, c, ...)`` with c = 0), 3.6
    TiB, and `optim solve` ended "internal error: MemoryError". Values far above ``c`` keep
    their own support: the same law as near 0, shifted."""
    r = Lattice(10**12, np.array([0.25, 0.5, 0.25]))
    near = Lattice(5, r.pmf)
    seg = SegmentModel(Lattice(0, np.array([0.5, 0.5])), 0.9, "cycle_service")
    far = _after(r, seg, 0)
    assert far.lo == 10**12 - 1
    np.testing.assert_allclose(far.pmf, [0.125, 0.375, 0.375, 0.125])
    np.testing.assert_array_equal(far.pmf, _after(near, seg, 0).pmf)
    # a critical level inside the support still lumps what falls below it at c
    low = _after(Lattice(0, np.array([0.25, 0.5, 0.25])), seg, 1)
    assert low.lo == 0
    np.testing.assert_allclose(low.pmf, [0.25, 0.625, 0.125])
    # and all of R - D below c: only the lump at c (R above c), R at or below c kept
    big = SegmentModel(Lattice(21, np.array([1.0])), 0.9, "cycle_service")
    lump = _after(Lattice(20, np.full(20, 0.05)), big, 30)
    assert lump.lo == 20
    np.testing.assert_allclose(lump.pmf, [0.05] * 10 + [0.5])
