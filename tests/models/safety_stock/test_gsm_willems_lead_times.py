"""All 38 Willems (2008) chains read with their stage-time variability (a CI-sized subset is
solved here; benchmarks/bench_gsm.py --stochastic solves all 38 and writes the table).

Under CI (``CI=true``) missing benchmark data is a failure, not a skip."""

from __future__ import annotations

import csv
import os
from pathlib import Path

import numpy as np
import pytest

from optim.errors import InstanceError
from optim.instances.io.gsm import read_willems_xlsxmap
from optim.models.safety_stock import prepare
from optim.models.safety_stock.data import prepare_arrays
from optim.models.safety_stock.lead_times import expected_lead_times
from optim.models.safety_stock.solve import solve
from optim.params import SolveParams
from optim.status import Status

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data" / "willems2008"
RAW = DATA / "raw_xmlmap_csv"
DETERMINISTIC = (2, 4, 13, 17, 18, 19, 23, 25, 27, 34, 35)


@pytest.fixture(scope="module", autouse=True)
def _data() -> None:
    if RAW.is_dir():
        return
    message = (
        f"Willems benchmark data not found at {RAW} (expected ../shared/data beside the clone)"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message)
    pytest.skip(message)


def test_every_chain_reads_with_its_lead_time_variability() -> None:
    discrete = normal = fractional = 0
    for chain in range(1, 39):
        inst = read_willems_xlsxmap(RAW / f"{chain:02d}.csv", lead_times="stochastic")
        kinds = {
            "discrete" if s.lead_time_distribution else "normal" if s.lead_time_std_dev else "-"
            for s in inst.stages
        }
        discrete += "discrete" in kinds
        normal += "normal" in kinds and "discrete" not in kinds
        fractional += any(float(s.lead_time) != int(s.lead_time) for s in inst.stages)
        if chain in DETERMINISTIC:
            assert kinds == {"-"}, chain
    # the data README: 12 chains with discrete distributions, 15 with std devs only
    assert (discrete, normal) == (12, 15)
    assert fractional >= 18


def test_treatments_agree_on_a_deterministic_chain() -> None:
    a = read_willems_xlsxmap(RAW / "02.csv")
    for treatment in ("stochastic", "mean", "max"):
        b = read_willems_xlsxmap(RAW / "02.csv", lead_times=treatment)
        assert b == a


def test_chain_8_typo_in_a_distribution_is_repaired_by_its_own_moments() -> None:
    """Part_0001 of chain 8 lists {1: 0.5, 45: 0.5} (mean 23, std dev 22) beside stageTime
    42.5 and stDevStageTime 2.5; 40 in place of 1 is the one repair that matches both, and
    Humair et al.'s pipeline stock for the chain (test below) confirms the mean 42.5."""
    inst = read_willems_xlsxmap(RAW / "08.csv", lead_times="stochastic")
    mean = read_willems_xlsxmap(RAW / "08.csv", lead_times="mean")
    top = read_willems_xlsxmap(RAW / "08.csv", lead_times="max")
    part = {s.id: s for s in inst.stages}["Part_0001"]
    assert part.lead_time_distribution is not None
    assert [(p.value, p.probability) for p in part.lead_time_distribution] == [
        (40.0, 0.5),
        (45.0, 0.5),
    ]
    for s, m, t in zip(inst.stages, mean.stages, top.stages, strict=True):
        if s.lead_time_distribution:
            values = [p.value for p in s.lead_time_distribution]
            assert m.lead_time == pytest.approx(s.lead_time) and t.lead_time == max(values)


def test_contradicting_distribution_without_a_single_repair_is_refused(tmp_path: Path) -> None:
    text = (RAW / "08.csv").read_text(encoding="utf-8-sig").splitlines()
    line = next(k for k, t in enumerate(text) if ",Part_0001,42.5," in t)
    # {2: 0.5, 44: 0.5}: no single value can be changed to give mean 42.5 and std dev 2.5
    text[line] = text[line].replace(",0.5,1,0.5,45,", ",0.5,2,0.5,44,")
    bad = tmp_path / "08.csv"
    bad.write_text("\n".join(text) + "\n", encoding="utf-8")
    with pytest.raises(InstanceError, match=f"line {line + 1} .*Part_0001.*stageTime") as err:
        read_willems_xlsxmap(bad, lead_times="stochastic")
    assert err.value.field == "StageTime_k_v"


def _reported() -> dict[tuple[int, str], tuple[int, int]]:
    with (DATA / "reference_results" / "optimal_inventory_levels.csv").open() as fh:
        return {
            (int(r["SupplyChain"]), r["LT"]): (int(r["SafetyStock"]), int(r["TotalStock"]))
            for r in csv.DictReader(fh)
        }


def _pipeline(chain: int, treatment: str) -> float:
    inst = read_willems_xlsxmap(RAW / f"{chain:02d}.csv", lead_times=treatment)
    return float(prepare_arrays(inst).mean @ expected_lead_times(inst))


def test_our_reading_gives_humair_et_al_pipeline_stock() -> None:
    """Humair et al.'s total stock less their safety stock is the pipeline stock
    sum_j mu_j E L_j. Under the mean and max treatments ours equals it to 10 units on every
    listed chain (stage times, demand means and BOM paths read as they did; max of a normal
    time = its 95th percentile); chain 5's max row is broken (total below safety stock).
    Stochastic rows: the same pipeline on chains 1, 3, 5 and 9; chain 15's row is
    inconsistent (its 77,500 below the mean treatment's 511,227; with the pipeline above its
    safety stock would be 775,010: a digit dropped); on the other chains with normal stage
    times their total exceeds safety plus pipeline stock (benchmarks/gsm_results.md)."""
    ref = _reported()
    for (chain, treatment), (ss, total) in sorted(ref.items()):
        if (chain, treatment) == (5, "max"):
            assert total < ss
            continue
        ours = _pipeline(chain, treatment)
        if treatment != "stochastic" or chain in (1, 3, 5, 9):
            assert abs(ours - (total - ss)) <= 10, (chain, treatment, ours, total - ss)
        else:
            assert total - ss > ours + 5, (chain, ours, total - ss)
    ss, total = ref[(15, "stochastic")]
    assert ss < ref[(15, "mean")][0]
    assert round(total - _pipeline(15, "mean")) == 775_010


@pytest.mark.parametrize(("chain", "rel"), [(1, 1e-4), (3, 1e-4), (9, 2e-4)])
def test_two_moment_method_reproduces_humair_et_al_stochastic_totals(
    chain: int, rel: float
) -> None:
    """With their closed form (lead_time_method="two_moment") the proven optimum holds the
    total safety stock Humair et al. report: 8,351 and 15,744 to the unit, 385,497 within
    0.02 %; our default exact quantile holds more (9,998 / 17,183 / 403,433)."""
    inst = read_willems_xlsxmap(RAW / f"{chain:02d}.csv", lead_times="stochastic")
    two = inst.model_copy(update={"lead_time_method": "two_moment"})
    res = solve(two, SolveParams(time_limit=60))
    assert res.status is Status.OPTIMAL, res.message
    reported = _reported()[(chain, "stochastic")][0]
    assert float(res.tables["stages"]["safety_stock"].sum()) == pytest.approx(reported, rel=rel)


@pytest.mark.parametrize("chain", [1, 3, 6, 9])
def test_small_chains_solved_to_proven_optimality_under_every_treatment(chain: int) -> None:
    costs = {}
    for treatment in ("stochastic", "mean", "max"):
        inst = read_willems_xlsxmap(RAW / f"{chain:02d}.csv", lead_times=treatment)
        res = solve(inst, SolveParams(time_limit=60))
        assert res.status is Status.OPTIMAL, (chain, treatment, res.message)
        assert res.bound == pytest.approx(res.objective, rel=1e-6)
        costs[treatment] = res.objective
        ss = res.tables["stages"]["safety_stock"]
        assert (ss >= 0).all()
    assert costs["max"] >= costs["mean"] - 1e-6 * costs["mean"]


def test_stochastic_stock_covers_more_than_mean_on_chain_1() -> None:
    """Chain 1 has one stage with a discrete stage time; the reference of Humair et al.
    (reference_results/optimal_inventory_levels.csv) lists 8,351 units stochastic vs 946 at
    the mean: variability dominates. Our model must show the same ordering."""
    ss = {}
    for treatment in ("stochastic", "mean"):
        res = solve(read_willems_xlsxmap(RAW / "01.csv", lead_times=treatment))
        ss[treatment] = float(res.tables["stages"]["safety_stock"].sum())
    assert ss["stochastic"] > 2 * ss["mean"]
    assert prepare(read_willems_xlsxmap(RAW / "01.csv", lead_times="stochastic")).ss_table


@pytest.mark.parametrize(
    "chain, treatment", [(16, "mean"), (20, "mean"), (21, "mean"), (26, "mean"), (21, "max")]
)
def test_dag_chains_proven_by_the_lagrangian_bound(chain: int, treatment: str) -> None:
    """Chains 16, 20, 21 and 26 stopped at 60 s with gaps of 3-32 % under the pair LP; the
    Lagrangian relaxation of their non-forest arcs (tree DPs) proves them without the LP,
    chain 21 under max lead times after a branch and bound on the dropped arcs: the bound
    meets the cost (validity of both tested against brute force in test_gsm_lagrange.py)."""
    inst = read_willems_xlsxmap(RAW / f"{chain:02d}.csv", lead_times=treatment)
    res = solve(inst, SolveParams(time_limit=60))
    assert res.status is Status.OPTIMAL, res.message
    assert res.info["lp_rounds"] == 0 and "lagrangian_bound" in res.info
    if treatment == "max":
        assert res.info["branch_nodes"] > 0 and res.info["branch_open_nodes"] == 0
    assert res.gap is not None and res.gap <= 1e-6


def test_tiny_time_limit_on_the_largest_chain_returns_in_time_with_a_gap() -> None:
    """Chain 38 (2,025 stages, 16,225 arcs, 125,194 pair columns) under a 3 s limit returns
    with a feasible solution and its bound within a slack of 0.5 CPU seconds past the limit
    (nothing after the deadline builds or sets up a model; what remains is the last DP chunk,
    completing the solution and the result tables). The slack is converted to wall time at
    this solve's own wall/CPU ratio: on a machine shared by many processes a CPU second takes
    several wall seconds (measured idle: 3.02 s wall for the 3 s limit)."""
    import time

    from optim.models.safety_stock import is_feasible, normalize

    inst = read_willems_xlsxmap(RAW / "38.csv", lead_times="mean")
    solve(read_willems_xlsxmap(RAW / "01.csv", lead_times="mean"))  # compile the kernels
    t0, c0 = time.perf_counter(), time.process_time()
    res = solve(inst, SolveParams(time_limit=3.0))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert wall <= 3.0 + 0.5 * max(1.0, wall / max(cpu, 1e-3)), (wall, cpu, res.message)
    assert res.status in (Status.TIME_LIMIT, Status.OPTIMAL), res.message
    assert res.objective is not None and res.bound is not None and res.gap is not None
    assert res.bound <= res.objective * (1 + 1e-9)
    data = prepare(inst)
    out = res.tables["stages"]["outbound_service_time"].to_numpy()
    sol = normalize(data, out)
    assert is_feasible(data, sol) and sol.cost == pytest.approx(res.objective, rel=1e-9)


def test_table_timeout_crosses_process_boundaries() -> None:
    """A block handed out with no time left stops at once, and its exception survives the
    pickling a worker process applies to it."""
    import pickle

    from optim.models.safety_stock.tables import TableTimeout, _block_tables

    inst = read_willems_xlsxmap(RAW / "01.csv", lead_times="stochastic")
    with pytest.raises(TableTimeout) as err:
        _block_tables((inst, 0.0))
    back = pickle.loads(pickle.dumps(err.value))
    assert (back.stages_done, back.stages) == (0, len(inst.stages)) and "0 of 8" in str(back)
    tables, _ = _block_tables((inst, None))
    assert tables is not None and len(tables) == len(inst.stages)


@pytest.mark.parametrize(
    ("chain", "whole", "tenths", "reported"),
    [(3, 5_155, 5_017, 5_004), (8, 54_064, 41_567, 41_180)],
)
def test_tenth_periods_approach_humair_et_al_mean_treatment(
    chain: int, whole: int, tenths: int, reported: int
) -> None:
    """Their service times may be fractional (a stage time of 9.5 passed on exactly); ours
    are whole periods. Counting time in tenths (every time in chains 3 and 8 but two stages
    of 2.7438 becomes whole) moves the mean-treatment optimum from 3 % and 31 % above their
    figure to 0.3 % and 0.9 %; the safety stock of a deterministic stage is unchanged by the
    rescaling (demand mean / 10, std dev / sqrt(10))."""
    ss = []
    for sub in (1, 10):
        inst = read_willems_xlsxmap(RAW / f"{chain:02d}.csv", lead_times="mean", subperiods=sub)
        res = solve(inst, SolveParams(time_limit=120))
        assert res.status is Status.OPTIMAL, res.message
        ss.append(round(float(res.tables["stages"]["safety_stock"].sum())))
    assert ss == pytest.approx([whole, tenths], rel=1e-3)  # cost-tied optima may differ
    assert abs(tenths - reported) < 0.01 * reported < whole - reported
    with pytest.raises(InstanceError, match="subperiods"):
        read_willems_xlsxmap(RAW / "03.csv", subperiods=0)


def test_some_reported_stochastic_figures_are_below_the_closed_forms_floor() -> None:
    """Under the two-moment closed form a stage with a random stage time holds at least
    z mu sigma_L whatever its service times (the lead-time term does not depend on them;
    the GSM's guaranteed service times keep it at the stage). On chains 6, 8 and 14 the sum
    of these floors is above Humair et al.'s stochastic safety stock, so those three figures
    do not come from that closed form over the stages as given (unlike chains 1, 3 and 9,
    reproduced above); chain 15's printed 77,500 is below it too (a dropped digit)."""
    from optim.models.safety_stock.lead_times import _stage_z, lead_time_model, needs_table

    ref = _reported()
    for chain in (6, 8, 14, 15):
        inst = read_willems_xlsxmap(RAW / f"{chain:02d}.csv", lead_times="stochastic")
        data = prepare_arrays(inst)
        sd_d = np.array([d.std_dev for d in inst.demands])
        sigma = np.sqrt(np.asarray(data.phi.multiply(data.phi) @ sd_d**2))
        floor = 0.0
        for j, stage in enumerate(inst.stages):
            if needs_table(stage):
                kind, v, p, sd = lead_time_model(stage)
                if kind != "normal":
                    sd = float(np.sqrt(((v - v @ p) ** 2) @ p))
                floor += _stage_z(data, j, float(sigma[j])) * float(data.mean[j]) * sd
        assert floor > ref[(chain, "stochastic")][0], chain


def test_stage_tables_honour_a_tiny_time_limit_on_the_largest_chain(monkeypatch) -> None:
    """Chain 38 under stochastic lead times: its tables (35,843 rows of a 101-point mixture
    quantile, ~2 CPU s; 17 s wall at load 10) used to run to the end whatever the limit. They
    now check the deadline between stages and between quantile calls of 4,096 rows; a
    0.05 s limit (far below the tables' CPU time on any machine: with 1 s an idle machine
    finished the tables and the DP returned its own bound) returns the feasible
    all-stocking solution (each stage's stock evaluated once by its model) with the trivial
    bound 0, within 1 CPU second of slack (the last quantile call, the fallback's ~0.1 CPU s
    and the result tables come after the deadline), converted to wall time at this run's
    wall/CPU ratio (as the test above)."""
    import time

    from optim import clock
    from optim.models.safety_stock import is_feasible, normalize

    monkeypatch.setattr(clock, "MIN_BUDGET", 0.0)  # the limit itself, no floor

    inst = read_willems_xlsxmap(RAW / "38.csv", lead_times="stochastic")
    solve(read_willems_xlsxmap(RAW / "01.csv", lead_times="stochastic"))  # imports, kernels
    t0, c0 = time.perf_counter(), time.process_time()
    res = solve(inst, SolveParams(time_limit=0.05))
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    assert wall <= 0.05 + 1.0 * max(1.0, wall / max(cpu, 1e-3)), (wall, cpu, res.message)
    assert res.status is Status.TIME_LIMIT and res.has_solution(), res.message
    assert res.bound == 0.0 and res.gap == 1.0 and res.objective is not None
    assert "reached while building the safety-stock tables" in res.message
    assert 0 <= res.info["tables_done"] < res.info["stages"] == 2025
    st = res.tables["stages"]
    assert (st["outbound_service_time"] == 0).all() and "order_delay" not in st  # none
    data = prepare(inst)  # the full tables: the fallback is that solution, feasible
    sol = normalize(data, st["outbound_service_time"].to_numpy())
    assert is_feasible(data, sol)


@pytest.mark.parametrize("chain", [1, 3, 8, 15])
def test_all_stocking_fallback_equals_the_full_tables_there(chain: int) -> None:
    """The fallback's one evaluation per stage is the full table's entry at the all-stocking
    net replenishment time (every S = 0): at that time no order delay helps."""
    from optim.models.safety_stock.tables import all_stocking_tables

    inst = read_willems_xlsxmap(RAW / f"{chain:02d}.csv", lead_times="stochastic")
    full, arrays = prepare(inst), prepare_arrays(inst)
    assert full.ss_table is not None
    tau = arrays.external + arrays.lead_time
    fallback = all_stocking_tables(inst, arrays)
    got = np.array([t[0] for t in fallback])
    want = np.array([full.ss_table[j][tau[j]] for j in range(arrays.n)])
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-9)
