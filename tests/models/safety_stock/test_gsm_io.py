"""Importers of published GSM data: snc text format, Willems XML map, stockpyl networks.

The cost convention is checked without any solver: a 20-line evaluator of the GSM objective
(written here from the formula, independent of ``optim.models``) must reproduce the
brute-force optima and the published per-stage costs at the published service times.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from statistics import NormalDist

import pytest

from optim.errors import InstanceError
from optim.instances.io.gsm import (
    cumulative_costs,
    from_stockpyl,
    read_willems,
    read_willems_xlsxmap,
    service_level_from_z,
)
from optim.instances.safety_stock import SafetyStockInstance

DATA = Path(__file__).resolve().parents[3].parent / "shared" / "data"
CASES = DATA / "gsm-cases"
WILLEMS = DATA / "willems2008"

pytestmark = pytest.mark.skipif(not DATA.exists(), reason=f"benchmark data not found at {DATA}")

# (name, stage whose cumulative cost the snc test overrides for solution 2, new value)
SMALL = [
    ("bulldozer_small_linear", "Main_Assembly", 1200.0),
    ("bulldozer_small_convergent", "Case&Frame", 550.0),
    ("battery_small_divergent", "Pack_SKU_A", 0.01),
]


def gsm_cost(inst: SafetyStockInstance, outbound: dict[str, int]) -> dict[str, float]:
    """Per-stage cost h_j sqrt(tau_j) sqrt(sum_d (phi_jd z_d sigma_d)^2) at outbound times S.

    Inbound times are normalised: SI_j = max(external, max over suppliers of S_i).
    """
    preds: dict[str, list[str]] = {s.id: [] for s in inst.stages}
    succ: dict[str, list[tuple[str, float]]] = {s.id: [] for s in inst.stages}
    for a in inst.arcs:
        preds[a.target].append(a.source)
        succ[a.source].append((a.target, a.quantity))
    z = {(d.stage, d.segment): NormalDist().inv_cdf(d.service_level) for d in inst.demands}
    sigma = {(d.stage, d.segment): d.std_dev for d in inst.demands}

    def paths(j: str) -> dict[tuple[str, str], float]:
        out = {key: 1.0 for key in z if key[0] == j}
        for k, q in succ[j]:
            for key, v in paths(k).items():
                out[key] = out.get(key, 0.0) + q * v
        return out

    cost = {}
    for s in inst.stages:
        si = max([outbound[i] for i in preds[s.id]], default=s.external_service_time)
        tau = si + s.lead_time - outbound[s.id]
        assert tau >= 0, (s.id, tau)
        spread = math.sqrt(sum((p * z[k] * sigma[k]) ** 2 for k, p in paths(s.id).items()))
        cost[s.id] = s.holding_cost * math.sqrt(tau) * spread
    return cost


def with_holding_cost(inst: SafetyStockInstance, stage: str, value: float) -> SafetyStockInstance:
    doc = inst.model_dump()
    for s in doc["stages"]:
        if s["id"] == stage:
            s["holding_cost"] = value
    return SafetyStockInstance.model_validate(doc)


# --- snc text format: structure ----------------------------------------------------------------


def test_bulldozer_structure_and_cumulative_cost():
    inst = read_willems(CASES / "bulldozer.txt", holding_rate=0.3)
    assert inst.name == "bulldozer"
    assert len(inst.stages) == 22 and len(inst.arcs) == 21 and inst.is_spanning_tree()
    assert [(d.stage, d.segment, d.mean, d.std_dev, d.max_service_time) for d in inst.demands] == [
        ("Final_Assembly", "default", 5.0, 3.0, 0)
    ]
    # Final assembly is the root of an assembly tree: its cumulative cost is the sum of every
    # added cost in the file (read here with the csv module, independently of the reader).
    with (CASES / "bulldozer.txt").open() as fh:
        total_added = sum(float(row[3]) for row in list(csv.reader(fh))[1:])
    final = next(s for s in inst.stages if s.id == "Final_Assembly")
    assert final.holding_cost == pytest.approx(0.3 * total_added, rel=1e-12)
    leaf = next(s for s in inst.stages if s.id == "Pin_Assembly")
    assert leaf.holding_cost == pytest.approx(0.3 * 90.0) and leaf.lead_time == 35
    assert inst.pooling == "root_sum_square"


def test_quantities_multiply_cumulative_cost():
    value = cumulative_costs(
        ["a", "b", "c"], [("a", "c", 2.0), ("b", "c", 1.0)], {"a": 1.0, "b": 3.0, "c": 0.5}
    )
    assert value == {"a": 1.0, "b": 3.0, "c": 0.5 + 2.0 * 1.0 + 3.0}


@pytest.mark.parametrize("z", [0.385, 1.036, 1.645, 1.751, 2.054, 2.326, 4.0])
def test_z_round_trips(z):
    assert NormalDist().inv_cdf(service_level_from_z(z)) == pytest.approx(z, abs=1e-9)


def test_all_willems_chains_parse_and_keep_z():
    sizes = []
    for k in range(1, 39):
        path = WILLEMS / "snc_converted_csv" / f"willems_{k:02d}.csv"
        inst = read_willems(path)
        sizes.append((len(inst.stages), len(inst.arcs)))
        with path.open() as fh:
            thres = {r[0]: float(r[7]) for r in list(csv.reader(fh))[1:] if r[5]}
        assert {d.stage for d in inst.demands} == set(thres)
        for d in inst.demands:
            assert NormalDist().inv_cdf(d.service_level) == pytest.approx(thres[d.stage], abs=1e-9)
    assert min(sizes) == (8, 10) and max(sizes) == (2025, 16225)  # the README's ranges


# --- cost convention against reference solutions -------------------------------------------------


@pytest.mark.parametrize(("name", "stage", "value"), SMALL)
def test_brute_force_costs_reproduced(name, stage, value):
    """Added costs, cumulated, rate 1: the snc brute-force optima to 1e-9 (both variants)."""
    inst = read_willems(CASES / f"{name}.txt", holding_rate=1.0)
    for k, variant in ((1, inst), (2, with_holding_cost(inst, stage, value))):
        ref = json.loads((CASES / f"brute_force_{name}_sol_{k}.json").read_text())
        outbound = {sid: v["s"] for sid, v in ref["optimal_solutions"][0].items()}
        assert sum(gsm_cost(variant, outbound).values()) == pytest.approx(ref["cost"], rel=1e-9)


@pytest.mark.parametrize(
    ("name", "rate", "total"), [("bulldozer", 0.3, 633_000), ("battery", 0.25, 853_000)]
)
def test_published_stage_costs_reproduced(name, rate, total):
    inst = read_willems(CASES / f"{name}.txt", holding_rate=rate)
    ref = json.loads((CASES / f"{name}_solution.json").read_text())
    cost = gsm_cost(inst, {sid: v["s"] for sid, v in ref})
    for sid, v in ref:
        if v["cost"] == 0:
            assert cost[sid] == 0.0, sid
        else:
            assert cost[sid] == pytest.approx(v["cost"], rel=1e-3), sid
    assert sum(cost.values()) == pytest.approx(total, rel=1e-3)


def test_cost_convention_cumulative_reads_values_verbatim():
    inst = read_willems(CASES / "bulldozer.txt", holding_rate=0.5, cost_convention="cumulative")
    final = next(s for s in inst.stages if s.id == "Final_Assembly")
    assert final.holding_cost == 0.5 * 8000.0


# --- fractional stage times ------------------------------------------------------------------


def test_lead_time_rounding_options():
    path = WILLEMS / "snc_converted_csv" / "willems_03.csv"
    with path.open() as fh:
        times = {r[0]: float(r[1]) for r in list(csv.reader(fh))[1:]}
    frac = sorted(sid for sid, t in times.items() if t != int(t))
    assert frac, "chain 3 has fractional stage times"
    with pytest.raises(InstanceError, match=rf"stage '{frac[0]}'.*not a whole number"):
        read_willems(path, lead_time_rounding="error")
    got = {
        mode: {s.id: s.lead_time for s in read_willems(path, lead_time_rounding=mode).stages}
        for mode in ("ceil", "round", "floor")
    }
    assert got["ceil"] == {k: math.ceil(t) for k, t in times.items()}  # the default
    assert got["floor"] == {k: math.floor(t) for k, t in times.items()}
    assert got["round"] == {k: math.floor(t + 0.5) for k, t in times.items()}
    assert {s.id: s.lead_time for s in read_willems(path).stages} == got["ceil"]


# --- malformed files ---------------------------------------------------------------------------

HEADER = (
    "stage_id,lead_time,max_s_time,cost_rate,risk_pool,"
    "ext_demand_mean,ext_demand_std,ext_demand_thres,up_stages\n"
)


@pytest.mark.parametrize(
    ("body", "match"),
    [
        ("A,2,,1,2,,,,\nB,1,0,1,,5,1,1.645,X,1\n", r"upstream stage 'X'"),
        ("A,2,,1,2,,,,B,1\nB,1,0,1,,5,1,1.645,A,1\n", r"cycle"),
        ("A,2,,1,2,,,,\nB,1,0,1,,5,1,1.645,A\n", r"pairs"),
        ("A,2,,1,1,,,,\nC,2,,1,2,,,,\nB,1,0,1,,5,1,1.645,A,1,C,1\n", r"risk_pool differs"),
        ("A,two,,1,2,,,,\n", r"line 2 \(stage 'A'\): lead_time 'two' is not a number"),
        ("A,2,,1,2,,,,\nA,1,0,1,,5,1,1.645,\n", r"stage 'A' appears twice"),
    ],
)
def test_malformed_rows_are_named(tmp_path, body, match):
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + body)
    with pytest.raises(InstanceError, match=match):
        read_willems(path)


def test_wrong_header_is_rejected(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("id,time\nA,1\n")
    with pytest.raises(InstanceError, match="not the snc GSM format"):
        read_willems(path)


def test_additive_pooling_and_blank_promise(tmp_path):
    path = tmp_path / "ok.csv"
    path.write_text(HEADER + "A,2,,1,1,,,,\nB,3,,1,,5,1,1.645,A,1\n")
    inst = read_willems(path)
    assert inst.pooling == "additive"
    assert inst.demands[0].max_service_time == 5  # longest lead time into B: never binds


# --- XML-map export ----------------------------------------------------------------------------


@pytest.mark.parametrize("chain", [2, 3, 17])
def test_xlsxmap_agrees_with_snc_conversion(chain):
    a = read_willems(WILLEMS / "snc_converted_csv" / f"willems_{chain:02d}.csv")
    b = read_willems_xlsxmap(WILLEMS / "raw_xmlmap_csv" / f"{chain:02d}.csv")
    sa, sb = {s.id: s for s in a.stages}, {s.id: s for s in b.stages}
    assert sa.keys() == sb.keys()
    assert {(x.source, x.target) for x in a.arcs} == {(x.source, x.target) for x in b.arcs}
    for sid in sa:
        assert sa[sid].lead_time == sb[sid].lead_time
        assert sa[sid].max_service_time == sb[sid].max_service_time
        assert sa[sid].holding_cost == pytest.approx(sb[sid].holding_cost, rel=1e-9)
    da, db = {d.stage: d for d in a.demands}, {d.stage: d for d in b.demands}
    assert da.keys() == db.keys()
    for sid, d in da.items():
        assert (d.max_service_time, d.mean) == (db[sid].max_service_time, db[sid].mean)
        assert d.std_dev == pytest.approx(db[sid].std_dev, rel=1e-9)
        # the snc file stores z rounded to 3 decimals; the workbook the service level
        za = NormalDist().inv_cdf(d.service_level)
        assert za == pytest.approx(NormalDist().inv_cdf(db[sid].service_level), abs=6e-4)


# --- stockpyl ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["example_6_5", "problem_6_9", "figure_6_14"])
def test_from_stockpyl_matches_stockpyl_cost(name):
    """At stockpyl's optimal CSTs our objective equals stockpyl's optimal cost."""
    pytest.importorskip("stockpyl")
    from stockpyl.gsm_tree import optimize_committed_service_times, preprocess_tree
    from stockpyl.instances import load_instance

    tree = load_instance(name)
    inst = from_stockpyl(tree)
    assert len(inst.stages) == len(tree.nodes)
    cst, cost = optimize_committed_service_times(preprocess_tree(tree))
    ours = gsm_cost(inst, {str(k): int(v) for k, v in cst.items()})
    assert sum(ours.values()) == pytest.approx(cost, rel=1e-9)


# --- seeded generators ---------------------------------------------------------------------------


def test_generators_are_seeded_trees():
    from optim.instances.generators.gsm import distribution, random_tree, serial

    a, b = random_tree(60, seed=4), random_tree(60, seed=4)
    assert a == b and a != random_tree(60, seed=5)
    assert a.is_spanning_tree() and len(a.arcs) == 59
    sources = {arc.source for arc in a.arcs}
    assert {d.stage for d in a.demands} == {s.id for s in a.stages} - sources
    chain = serial(5, seed=1)
    assert [(x.source, x.target) for x in chain.arcs] == [
        ("1", "2"),
        ("2", "3"),
        ("3", "4"),
        ("4", "5"),
    ]
    assert [d.stage for d in chain.demands] == ["5"]
    # holding cost grows downstream (cumulative value)
    h = [s.holding_cost for s in chain.stages]
    assert h == sorted(h)
    net = distribution(3, 2, seed=0, segments=(0.9, 0.99))
    assert len(net.stages) == 1 + 3 + 6 and len(net.demands) == 12
    assert {d.segment for d in net.demands} == {"s1", "s2"}
