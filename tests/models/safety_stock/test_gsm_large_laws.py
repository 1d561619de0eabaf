"""Discrete demand laws too large for a count lattice of ``h`` units (hostile-input hunt).

A Poisson demand with mean 1e12 at a stage serving two segments was solved ``optimal`` with
47.9 units of safety stock: its count of ``h`` units had variance ``mu h``, needed more than
``_MAX_POINTS`` lattice points, and the stage fell back to the square-root model on the
written ``std_dev`` (12, which a Poisson law ignores) instead of its own sqrt(mean) = 1e6,
with the message "no stage serves segments with different targets". Oracles here are closed
forms: ``z sigma sqrt(tau)`` with ``sigma = sqrt(mean)`` (the normal approximation), and the
moments of the Poisson law.
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np
import pytest

from optim.instances.safety_stock import SafetyStockInstance
from optim.models.safety_stock import critical
from optim.models.safety_stock.critical import demand_lattice, stage_fallbacks, stage_specs
from optim.models.safety_stock.simulate import normal_approximations, simulate
from optim.models.safety_stock.solve import solve

Z = NormalDist().inv_cdf


def _two_echelon(mean: float) -> SafetyStockInstance:
    """The hunt's document: store_a serves a Poisson segment and a normal one."""
    return SafetyStockInstance.model_validate(
        {
            "kind": "safety_stock",
            "stages": [
                {"id": "plant", "lead_time": 3, "holding_cost": 1.0},
                {"id": "dc", "lead_time": 1, "holding_cost": 2.0},
                {"id": "store_a", "lead_time": 1, "holding_cost": 3.0},
                {"id": "store_b", "lead_time": 1, "holding_cost": 3.0},
            ],
            "arcs": [
                {"source": "plant", "target": "dc"},
                {"source": "dc", "target": "store_a"},
                {"source": "dc", "target": "store_b"},
            ],
            "demands": [
                {"stage": "store_a", "segment": "strategic", "mean": mean, "std_dev": 12,
                 "service_level": 0.98, "max_service_time": 0, "distribution": "poisson"},
                {"stage": "store_a", "segment": "standard", "mean": 60, "std_dev": 20,
                 "service_level": 0.93, "max_service_time": 1},
                {"stage": "store_b", "segment": "standard", "mean": 50, "std_dev": 15,
                 "service_level": 0.93, "max_service_time": 1},
            ],
        }
    )  # fmt: skip


def _row(result, stage: str) -> dict:
    return result.tables["stages"].set_index("stage").loc[stage].to_dict()


@pytest.mark.parametrize("mean", [1e6, 1e9, 1e12])
def test_a_poisson_lattice_has_the_poisson_variance(mean):
    """On its stage's lattice (``h = 2^floor(log2(sqrt(mu)/16))`` units) a Poisson demand
    keeps its mean and its variance ``mu`` (plus the rounding's ``h^2/12``), in a few hundred
    points; the count of ``h`` units had variance ``mu h`` (5.7x the std dev at 1e6)."""
    h = 2.0 ** math.floor(math.log2(math.sqrt(mean) / 16))
    lat = demand_lattice(mean, 12.0, "poisson", h)
    x = (lat.lo + np.arange(lat.pmf.size)) * h
    m = float(lat.pmf @ x)
    sd = math.sqrt(float(lat.pmf @ (x - m) ** 2))
    assert abs(lat.pmf.sum() - 1) < 1e-12
    assert abs(m - mean) < 1e-9 * mean
    assert sd == pytest.approx(math.sqrt(mean + h * h / 12), rel=1e-4)
    assert lat.pmf.size < 1000


def test_the_hunts_poisson_1e12_is_sized_on_its_own_variance():
    """The repro: store_a's stock is the Poisson quantile, ``z sqrt(mu) sqrt(tau)`` up to one
    lattice step, not 47.9; its stages are tabulated and the message does not say that no
    stage serves segments with different targets."""
    inst = _two_echelon(1e12)
    res = solve(inst)
    assert res.status.value == "optimal"
    row = _row(res, "store_a")
    h = 32768.0
    want = Z(0.98) * 1e6 * math.sqrt(row["net_replenishment_time"])
    assert row["net_replenishment_time"] >= 1
    assert abs(row["safety_stock"] - want) <= h + 0.01 * want
    assert "no stage serves segments with different targets" not in res.message
    assert stage_specs(inst, 4, tuple(inst.stage_ids))
    # the plant keeps the square-root model: on sqrt(mean), not on the ignored std_dev 12
    plant = _row(res, "plant")
    sigma = math.sqrt(1e12 + 20**2 + 15**2)
    assert plant["safety_stock"] == pytest.approx(
        Z(0.98) * sigma * math.sqrt(plant["net_replenishment_time"]), rel=1e-9
    )


def _fallback_chain(mean: float) -> SafetyStockInstance:
    """dc serves two segments with different targets and the store's Poisson orders: on the
    dc's lattice (1/8 unit, from its own std dev 1) the Poisson law would need 2^18 times its
    points, so the dc keeps the square-root model."""
    return SafetyStockInstance.model_validate(
        {
            "kind": "safety_stock",
            "stages": [
                {"id": "plant", "lead_time": 2, "holding_cost": 1.0},
                {"id": "dc", "lead_time": 3, "holding_cost": 2.0},
                {"id": "store", "lead_time": 1, "holding_cost": 3.0},
            ],
            "arcs": [{"source": "plant", "target": "dc"}, {"source": "dc", "target": "store"}],
            "demands": [
                {"stage": "store", "segment": "online", "mean": mean, "std_dev": 12,
                 "service_level": 0.98, "max_service_time": 0, "distribution": "poisson"},
                {"stage": "dc", "segment": "walkin", "mean": 10, "std_dev": 1,
                 "service_level": 0.9, "max_service_time": 0},
                {"stage": "dc", "segment": "trade", "mean": 10, "std_dev": 1,
                 "service_level": 0.95, "max_service_time": 0},
            ],
        }
    )  # fmt: skip


def test_a_fallback_stage_is_sized_on_the_poissons_own_variance_and_says_so():
    """Closed form of the fallback: ``z_max sqrt(sum sigma_d^2) sqrt(tau)`` with the
    Poisson's sigma = sqrt(mean) (the written std_dev 12 would give 4.3e1, not 4.6e6); the
    message names the stage and the reason, and the simulation meets every target."""
    inst = _fallback_chain(1e12)
    ids = tuple(inst.stage_ids)
    assert set(stage_fallbacks(inst, 3, ids)) == {1}
    res = solve(inst)
    dc = _row(res, "dc")
    tau = dc["net_replenishment_time"]
    assert tau >= 1
    want = Z(0.98) * math.sqrt(1e12 + 1 + 1) * math.sqrt(tau)
    assert dc["safety_stock"] == pytest.approx(want, rel=1e-9)
    msg = res.message
    assert "stage 'dc' serves segments with different targets" in msg
    assert "65,536 lattice points" in msg and "square-root model" in msg
    assert "no stage serves segments" not in msg
    assert res.info["square_root_fallback_stages"] == {"dc": critical.stage_fallbacks(
        inst, 3, ids)[1]}  # fmt: skip
    sim = simulate(inst, res, periods=400, replications=8, seed=3)
    assert bool(sim["meets_target"].all())


def test_a_poisson_stage_just_below_the_point_limit_agrees_with_its_fallback(monkeypatch):
    """Continuity at ``_MAX_POINTS``: a one-segment Poisson stage (mean 1e8) tabulated with
    the limit at its size, and the same stage with the limit one point lower (the square-root
    fallback), hold the same stock up to one lattice step (512 units of ~3.3e4), and the
    fallback's is the closed form z sqrt(mu) sqrt(tau)."""
    doc = {
        "kind": "safety_stock",
        "stages": [{"id": "s", "lead_time": 4, "holding_cost": 1.0}],
        "demands": [
            {"stage": "s", "segment": "a", "mean": 1e8, "std_dev": 0, "service_level": 0.95,
             "max_service_time": 0, "distribution": "poisson"},
        ],
    }  # fmt: skip
    below = SafetyStockInstance.model_validate(doc)
    size = stage_specs(below, 1, ("s",))[0].segments[0].demand.pmf.size
    monkeypatch.setattr(critical, "_MAX_POINTS", size)
    tabulated = _row(solve(below), "s")["safety_stock"]
    monkeypatch.setattr(critical, "_MAX_POINTS", size - 1)
    above = SafetyStockInstance.model_validate(doc)
    assert stage_fallbacks(above, 1, ("s",)) and not stage_specs(above, 1, ("s",))
    res = solve(above)
    fallback = _row(res, "s")["safety_stock"]
    assert fallback == pytest.approx(Z(0.95) * 1e4 * 2.0, rel=1e-9)
    assert abs(tabulated - fallback) <= 512
    assert "stage 's' (poisson demand) qualifies but" in res.message
    assert normal_approximations(above) == ["s/a (poisson)"]
    assert normal_approximations(below) == []


@pytest.mark.parametrize(("mean", "sd"), [(1e6, 1100.0), (1e10, 2e5), (3000.0, 60.0)])
def test_a_low_spread_negative_binomial_lattice_keeps_its_variance(mean, sd):
    """A negative binomial with variance below ``mu h`` has no count of ``h`` units with its
    mean and variance (it was the Poisson count, variance ``mu h``): its own law rounded to
    the lattice keeps both."""
    h = 2.0 ** math.floor(math.log2(sd / 16))
    assert sd**2 <= mean * h
    lat = demand_lattice(mean, sd, "negative_binomial", h)
    x = (lat.lo + np.arange(lat.pmf.size)) * h
    m = float(lat.pmf @ x)
    assert abs(m - mean) < 1e-6 * mean
    assert math.sqrt(float(lat.pmf @ (x - m) ** 2)) == pytest.approx(
        math.sqrt(sd * sd + h * h / 12), rel=1e-4
    )
