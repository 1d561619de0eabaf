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
* ``crossing``: :func:`~optim.models.safety_stock.simulate_lead_times.simulate_crossing`, a
  period-by-period simulation of the physical system with independent lead
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

from optim.instances.safety_stock import SafetyStockInstance
from optim.models.safety_stock.simulate import simulate
from optim.models.safety_stock.simulate_lead_times import simulate_crossing
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
        phys = simulate_crossing(
            inst, res, "store_a", periods=args.periods, replications=args.replications, seed=1
        )
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
