"""Critical levels under random lead times: the model's per-segment service against simulation
(issue 10 x issue 14, a script).

The model (:mod:`optim.models.safety_stock.lead_times`, "Critical levels under a random lead
time") mixes the exact evaluation over one whole-period replenishment time per period: all
orders of the last :math:`r - 1` periods are outstanding (no order crossing). Measured here on
``two_echelon_gsm`` with store_a's lead time made random (store_a serves a strategic 0.98 and
a standard 0.93 segment by critical levels), per segment and measure:

* ``model``: the solve's expected service;
* ``simulate``: ``optim simulate`` (:func:`~optim.models.safety_stock.simulate.simulate`),
  which draws a replenishment time per period and applies the stated levels — the model's
  convention, so its gap to the model is sampling error;
* ``crossing``: a period-by-period simulation of the physical system with independent lead
  times — each period's orders arrive after their own drawn lead time (whole periods, the
  fraction split as in the model), so orders cross; receipts, backorders first, then the
  classes lowest priority first from stock above their critical levels. Its gap to the model
  is the error of the no-crossing approximation (with the same mean number of outstanding
  periods, the independent lead times spread it less).

Run: ``.venv/bin/python benchmarks/bench_lead_time_levels.py [--periods 4000]
[--replications 20]`` (about a minute of CPU; prints one row per case, segment and measure
with the standard errors of the simulations).
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np

from optim.instances.safety_stock import SafetyStockInstance
from optim.models.safety_stock import prepare
from optim.models.safety_stock.critical import stage_specs
from optim.models.safety_stock.lead_times import lead_time_model
from optim.models.safety_stock.simulate import _Draws, simulate
from optim.models.safety_stock.simulate_lead_times import _replenishment_draws
from optim.models.safety_stock.solve import solve

EXAMPLE = Path(__file__).resolve().parents[1] / "instances" / "data" / "two_echelon_gsm.json"

CASES = {
    "discrete 1 / 3 (0.6 / 0.4)": {
        "lead_time_distribution": [
            {"value": 1, "probability": 0.6},
            {"value": 3, "probability": 0.4},
        ]
    },
    "discrete 1 / 5 (0.5 / 0.5)": {
        "lead_time_distribution": [
            {"value": 1, "probability": 0.5},
            {"value": 5, "probability": 0.5},
        ]
    },
    "fractional 1.5": {"lead_time": 1.5},
    "normal 2 +- 0.7": {"lead_time": 2, "lead_time_std_dev": 0.7},
}


def instance(lead: dict) -> SafetyStockInstance:
    doc = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    doc["stages"][2] = {"id": "store_a", "holding_cost": 3.0, **lead}
    return SafetyStockInstance.model_validate(doc)


def crossing(inst, res, stage: str, periods: int, reps: int, seed: int):
    """Per own demand of ``stage``: (cycle, fill) per replication, independent lead times."""
    data = prepare(inst)
    j = data.ids.index(stage)
    spec = stage_specs(inst, data.n, data.ids)[j]
    st = res.table("stages").set_index("stage")
    dem = res.table("demands")
    level = {
        i: float(dem.loc[i, "critical_level"]) for i in spec.demands
    }  # demand rows are in instance order
    base = float(st.loc[stage, "base_stock_level"])
    x = int(st.loc[stage, "inbound_service_time"] + st.loc[stage, "order_delay"])
    x -= int(st.loc[stage, "outbound_service_time"])
    model = lead_time_model(inst.stages[j])
    warm = 50
    horizon = warm + periods
    demand = _Draws.of(inst, data, False).all(seed, slice(0, reps), horizon)
    rng = np.random.default_rng([seed, 7])
    r = _replenishment_draws(rng, model, x, reps, horizon)
    classes = list(spec.demands)  # priority order, top first (no downstream flow here)
    orders = sum(demand[i] for i in classes)
    lag = int(max(r.max(), 0)) + 1
    arrive = np.zeros((reps, horizon + lag + 1))
    t = np.arange(horizon)
    for k in range(reps):  # the orders of period t arrive at t + r (before serving there)
        np.add.at(arrive[k], np.maximum(t + r[k], 0), orders[k])
    on_hand = np.full(reps, base)
    backlog = np.zeros(reps)
    hits = {i: np.zeros(reps) for i in classes}
    served = {i: np.zeros(reps) for i in classes}
    wanted = {i: np.zeros(reps) for i in classes}
    for u in range(horizon):
        on_hand += arrive[:, u]
        fill = np.minimum(on_hand, backlog)
        on_hand -= fill
        backlog -= fill
        for i in reversed(classes):  # lowest priority first
            d = demand[i, :, u]
            give = np.minimum(d, np.maximum(on_hand - level[i], 0.0))
            on_hand -= give
            backlog += d - give
            if u >= warm:
                hits[i] += d - give <= 1e-9 * np.maximum(1.0, d)
                served[i] += give
                wanted[i] += d
    return {i: (hits[i] / periods, served[i] / wanted[i]) for i in classes}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--periods", type=int, default=4000)
    ap.add_argument("--replications", type=int, default=20)
    args = ap.parse_args()
    cpu, wall = time.process_time(), time.perf_counter()
    print("case | segment | measure | model | simulate (s.e.) | crossing (s.e.) | difference")
    for name, lead in CASES.items():
        inst = instance(lead)
        res = solve(inst)
        sim = simulate(inst, res, periods=args.periods, replications=args.replications, seed=1)
        phys = crossing(inst, res, "store_a", args.periods, args.replications, seed=1)
        dem = res.table("demands")
        for i, (cyc, fil) in phys.items():
            row = dem.iloc[i]
            s = sim.iloc[i]
            for measure, arr in (("cycle_service", cyc), ("fill_rate", fil)):
                model = float(row[f"expected_{measure}"])
                se = arr.std(ddof=1) / math.sqrt(arr.size)
                ss = float(s["stderr"]) if s["service_measure"] == measure else float("nan")
                print(
                    f"{name} | {row['segment']} (target {row['target']:g}, "
                    f"level {row['critical_level']:g}) | {measure} | {model:.4f} | "
                    f"{float(s[measure]):.4f} ({ss:.4f}) | {arr.mean():.4f} ({se:.4f}) | "
                    f"{arr.mean() - model:+.4f}"
                )
    print(
        f"CPU {time.process_time() - cpu:.1f} s, wall {time.perf_counter() - wall:.1f} s "
        "(simulate's s.e. is shown for the segment's own measure)"
    )


if __name__ == "__main__":
    main()
