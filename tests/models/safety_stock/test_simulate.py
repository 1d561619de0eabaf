"""Monte-Carlo check of GSM solutions (optim.models.safety_stock.simulate).

The simulation is an independent check of the solver's safety stocks: under the GSM
assumption (suppliers keep their promises) a stage with one segment keeps its promise with
probability exactly alpha, so the simulated fill must bracket alpha; a deliberately
under-stocked solution must fail, or the test could not catch anything.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from optim.instances.generators.gsm import distribution, serial
from optim.instances.safety_stock import SafetyStockInstance
from optim.models.safety_stock.simulate import simulate, simulate_from_files
from optim.models.safety_stock.solve import solve


@pytest.fixture(scope="module")
def serial_case():
    """A 4-stage serial chain, solved exactly."""
    inst = serial(4, seed=1)
    return inst, solve(inst)


@pytest.fixture(scope="module")
def distribution_case():
    """Plant → 2 DCs → 3 retailers each, one segment per retailer, solved exactly."""
    inst = distribution(2, 3, seed=2)
    return inst, solve(inst)


@pytest.mark.parametrize("case", ["serial_case", "distribution_case"])
def test_planned_safety_stock_meets_targets(case, request):
    inst, res = request.getfixturevalue(case)
    out = simulate(inst, res, periods=2000, replications=20, seed=11)
    assert len(out) == len(inst.demands)
    # 3 standard errors: a false alarm has probability ~1e-3 per demand
    assert (out["fill"] >= out["target"] - 3 * out["stderr"]).all(), out


@pytest.mark.parametrize("case", ["serial_case", "distribution_case"])
def test_fill_is_calibrated(case, request):
    """A single-segment stage that holds stock keeps its promise with probability alpha."""
    inst, res = request.getfixturevalue(case)
    out = simulate(inst, res, periods=2000, replications=20, seed=12)
    tau = res.tables["stages"].set_index("stage")["net_replenishment_time"]
    stocked = out[out["stage"].map(tau) > 0]
    assert len(stocked) > 0
    assert (abs(stocked["fill"] - stocked["target"]) <= 4 * stocked["stderr"]).all(), stocked
    unstocked = out[out["stage"].map(tau) == 0]
    assert (unstocked["fill"] == 1.0).all()  # no stock needed: promise = SI + T


@pytest.mark.parametrize("case", ["serial_case", "distribution_case"])
def test_under_stock_is_detected(case, request):
    inst, res = request.getfixturevalue(case)
    out = simulate(inst, res, periods=2000, replications=20, seed=13, safety_stock_factor=0.6)
    tau = res.tables["stages"].set_index("stage")["net_replenishment_time"]
    stocked = out[out["stage"].map(tau) > 0]
    assert (stocked["fill"] < stocked["target"] - 3 * stocked["stderr"]).all(), stocked
    assert not stocked["meets_target"].any()


def test_actual_mode_equals_guaranteed_when_only_the_last_stage_stocks():
    """Upstream stages with tau = 0 never run short, so nothing can cascade."""
    inst = serial(3, seed=4)
    lead = {s.id: s.lead_time for s in inst.stages}
    s_out = {"1": lead["1"], "2": lead["1"] + lead["2"], "3": 0}  # only stage 3 stocks
    kw = {"periods": 500, "replications": 8, "seed": 5, "truncate_at_zero": True}
    a = simulate(inst, s_out, upstream="guaranteed", **kw)
    b = simulate(inst, s_out, upstream="actual", **kw)
    # "actual" measures kept periods (cycle service) only; its fill_rate is not simulated
    assert b["fill_rate"].isna().all()
    pd.testing.assert_frame_equal(a.drop(columns="fill_rate"), b.drop(columns="fill_rate"))


def test_actual_mode_cascades(serial_case):
    inst, res = serial_case
    kw = {"periods": 1000, "replications": 10, "seed": 6, "truncate_at_zero": True}
    g = simulate(inst, res, upstream="guaranteed", **kw)
    a = simulate(inst, res, upstream="actual", **kw)
    assert (a["fill"] <= g["fill"] + 1e-12).all()
    big = simulate(inst, res, upstream="actual", safety_stock_factor=4.0, **kw)
    assert (big["fill"] == 1.0).all()


def test_pooled_segments_share_one_fill():
    """Root-sum-square pooling gives both segments the same fill: the 0.98 segment misses.

    With ``max_z`` pooling the stage is sized for the strictest segment and both meet.
    """
    inst = distribution(1, 2, seed=3, segments=(0.80, 0.98), max_promise=0)
    inst = SafetyStockInstance.model_validate({**inst.model_dump(), "pooling": "root_sum_square"})
    kw = {"periods": 2000, "replications": 20, "seed": 7}
    out = simulate(inst, solve(inst), **kw)
    for _, grp in out.groupby("stage"):
        assert grp["fill"].nunique() == 1
    strict = out[out["target"] == 0.98]
    assert not strict["meets_target"].any(), strict
    max_z = SafetyStockInstance.model_validate({**inst.model_dump(), "pooling": "max_z"})
    out = simulate(max_z, solve(max_z), **kw)
    assert (out["fill"] >= out["target"] - 3 * out["stderr"]).all(), out


def test_same_seed_same_numbers(distribution_case):
    inst, res = distribution_case
    a = simulate(inst, res, periods=300, replications=4, seed=9)
    b = simulate(inst, res, periods=300, replications=4, seed=9)
    pd.testing.assert_frame_equal(a, b)
    c = simulate(inst, res, periods=300, replications=1, seed=9)  # batch means
    assert (c.loc[c["fill"] < 1, "stderr"] > 0).all()
    assert (c["fill"] < 1).any()


def test_simulate_from_files(tmp_path, distribution_case):
    inst, res = distribution_case
    (tmp_path / "inst.json").write_text(inst.model_dump_json())
    res.to_json(tmp_path / "result.json")
    got = simulate_from_files(
        tmp_path / "inst.json", tmp_path / "result.json", periods=300, replications=4
    )
    want = simulate(inst, res, periods=300, replications=4)
    # the document holds base stocks to six decimals (optim.precision): the file's plan is
    # the solution's within half a millionth of a unit, and simulates to the same figures
    assert (got["base_stock"] - want["base_stock"]).abs().max() <= 5e-7
    pd.testing.assert_frame_equal(
        got.drop(columns="base_stock"),
        want.drop(columns="base_stock"),
        check_exact=False,
        rtol=1e-9,
    )


def test_bad_solutions_are_rejected():
    inst = serial(3, seed=0)
    with pytest.raises(ValueError, match=r"no service time for stage\(s\) 3; allowed"):
        simulate(inst, {"1": 0, "2": 0})
    big = {s.id: 1000 for s in inst.stages}
    with pytest.raises(ValueError, match="negative net replenishment time"):
        simulate(inst, big)
    with pytest.raises(ValueError, match="truncate_at_zero"):
        simulate(inst, {"1": 0, "2": 0, "3": 0}, upstream="actual", truncate_at_zero=False)


def test_work_beyond_the_budget_and_a_single_sample_are_refused(serial_case):
    """10^6 periods × 10^4 replications ran on for hours (SIGTERM waits for the compiled
    kernel's piece); one replication of one period gave NaN intervals, every row a "miss"."""
    from optim.errors import InstanceError
    from optim.models.safety_stock.simulate import MAX_STEPS

    inst, res = serial_case
    rows = len(inst.stages) + len(inst.demands)
    periods = int(MAX_STEPS // (rows * 10)) + 1  # just beyond the budget with 10 replications
    with pytest.raises(InstanceError, match="simulated steps; allowed: at most") as err:
        simulate(inst, res, periods=periods, replications=10)
    assert err.value.field == "periods"
    with pytest.raises(InstanceError, match="no interval") as err:
        simulate(inst, res, periods=1, replications=1)
    assert err.value.field == "replications"
    table = simulate(inst, res, periods=2, replications=1)
    assert table["ci_high"].notna().all()


@settings(max_examples=15, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    lo=st.floats(0.0, 1.5),
    hi=st.floats(0.0, 1.5),
    upstream=st.sampled_from(["guaranteed", "actual"]),
)
def test_fill_is_monotone_in_safety_stock(seed, lo, hi, upstream):
    """Common random numbers: more safety stock never lowers any fill."""
    lo, hi = min(lo, hi), max(lo, hi)
    inst = distribution(2, 2, seed=seed % 50)
    s_out = {s.id: 0 for s in inst.stages}
    kw = {"periods": 200, "replications": 3, "seed": seed, "upstream": upstream}
    a = simulate(inst, s_out, safety_stock_factor=lo, **kw)
    b = simulate(inst, s_out, safety_stock_factor=hi, **kw)
    assert np.all(a["fill"].to_numpy() <= b["fill"].to_numpy() + 1e-12)


def _loop_reference(data, orders, base, s_out):
    """Period-by-period simulation of the 'actual' mode: kept[j, t] for one replication."""
    n, horizon = orders.shape
    pred = data.predecessors()
    cum = np.cumsum(orders, axis=1)
    ship = np.full((n, horizon), np.iinfo(np.int64).max, dtype=np.int64)
    received = np.zeros(n)
    arrived = [[] for _ in range(n)]  # completion time of each order period, once known
    nxt = [0] * n
    for v in range(horizon + 200):
        for j in data.order.tolist():
            # completion times of j's orders whose inputs have all shipped
            while len(arrived[j]) < horizon:
                t = len(arrived[j])
                starts = [t + int(data.external[j])] + [int(ship[i, t]) for i in pred[j]]
                if max(starts) > v:
                    break
                arrived[j].append(max(starts) + int(data.lead_time[j]))
            received[j] = sum(orders[j, t] for t, c in enumerate(arrived[j]) if c <= v)
            while (
                nxt[j] < horizon
                and nxt[j] + s_out[j] <= v
                and (base[j] + received[j] >= cum[j, nxt[j]] - 1e-9)
            ):
                ship[j, nxt[j]] = v
                nxt[j] += 1
    return ship <= np.arange(horizon) + s_out[:, None]


@pytest.mark.parametrize("seed", [0, 1])
def test_actual_mode_matches_a_period_by_period_loop(seed):
    from optim.models.safety_stock.data import prepare
    from optim.models.safety_stock.simulate import _kept_actual, _stage_orders

    inst = distribution(2, 2, seed=seed)
    data = prepare(inst)
    rng = np.random.default_rng(seed)
    s_out = rng.integers(0, 3, size=data.n)
    s_out = np.array([min(int(s), int(m)) for s, m in zip(s_out, data.s_max, strict=True)])
    s_in = data.external.copy()
    for i, j in zip(data.source.tolist(), data.target.tolist(), strict=True):
        s_in[j] = max(s_in[j], s_out[i])
    s_out = np.minimum(s_out, s_in + data.lead_time)
    tau = s_in + data.lead_time - s_out
    base = data.mean * tau + 0.3 * data.k * np.sqrt(tau)  # under-stocked: shortages cascade
    horizon = 120
    mu = np.array([d.mean for d in inst.demands])
    sd = np.array([d.std_dev for d in inst.demands])
    demand = np.maximum(
        rng.standard_normal((len(mu), 1, horizon)) * sd[:, None, None] + mu[:, None, None], 0
    )
    dstage = np.array([data.ids.index(d.stage) for d in inst.demands])
    succ = [[] for _ in range(data.n)]
    for i, j, q in zip(
        data.source.tolist(), data.target.tolist(), data.quantity.tolist(), strict=True
    ):
        succ[i].append((j, q))
    orders = _stage_orders(data.n, dstage, demand, succ, data.order[::-1].tolist())
    kept = _kept_actual(data, orders, base, s_out, np.arange(data.n))[:, 0, :]
    want = _loop_reference(data, orders[:, 0, :], base, s_out)
    late = horizon - int(s_out.max())  # ships beyond the horizon are unknown to both
    assert (~want[:, :late]).any()  # the case does exercise shortages
    np.testing.assert_array_equal(kept[:, :late], want[:, :late])


@pytest.mark.parametrize("df", [1, 2, 3, 5, 10, 29])
def test_t_quantile_against_scipy(df):
    stats = pytest.importorskip("scipy.stats")
    from optim.models.safety_stock.simulate import _t_quantile

    assert _t_quantile(0.975, df) == pytest.approx(stats.t.ppf(0.975, df), abs=5e-3)


@pytest.mark.parametrize("threads", [2, 3, 7])
def test_replications_on_threads_equal_one_thread(distribution_case, monkeypatch, threads):
    """The kernel's replications split over threads (NUMBA_NUM_THREADS runs of contiguous
    replications, each into its own array) give the very numbers of one thread."""
    from numba import config

    inst, res = distribution_case
    monkeypatch.setattr(config, "NUMBA_NUM_THREADS", 1)
    one = simulate(inst, res, periods=200, replications=7, seed=3)
    monkeypatch.setattr(config, "NUMBA_NUM_THREADS", threads)
    split = simulate(inst, res, periods=200, replications=7, seed=3)
    pd.testing.assert_frame_equal(one, split, check_exact=True)


def test_simulate_from_files_reads_the_instance_through_the_input_gate(tmp_path):
    """A repeated key in the instance document is refused with its file and line (the
    loader took the last value); a result document is read through the gate too."""
    import pytest

    from optim.errors import InstanceError

    path = tmp_path / "inst.yaml"
    path.write_text("kind: safety_stock\nname: a\nname: b\n")
    with pytest.raises(InstanceError, match=r"inst\.yaml line 3.*'name' appears twice"):
        simulate_from_files(path, tmp_path / "result.json")
    doc = tmp_path / "inst.json"
    doc.write_text('{"kind": "safety_stock", "kind": "safety_stock"}')
    with pytest.raises(InstanceError, match=r"inst\.json line 1.*appears twice"):
        simulate_from_files(doc, tmp_path / "result.json")


def test_simulate_from_files_takes_any_result_file_name_and_refuses_a_non_mapping(tmp_path):
    """A result saved as res.out was read as JSON before the gate (keep it so); a result
    document that is not a mapping raised TypeError on `"stages" in 42`."""
    import pytest

    inst = tmp_path / "inst.json"
    from pathlib import Path

    example = Path(__file__).parents[3] / "instances" / "data" / "two_echelon_gsm.json"
    inst.write_text(example.read_text())
    bad = tmp_path / "res.out"
    bad.write_text("42")
    with pytest.raises(ValueError, match="no 'stages' records"):
        simulate_from_files(inst, bad)
