"""Benchmark of the main job (``optim demo``): the end-to-end planning run (a script).

Each repeat runs, in one fresh process (``python -m optim demo`` would be the same code):
generate the seeded example → segment → per-item GSM → peak LP → rationing → write the
CSV tables, result documents and ``report.html``. Measured per repeat, medians printed:

* ``job``: the whole job, wall clock, in a fresh subprocess (imports included, as a planner
  runs it);
* per step (from the job's own progress timer);
* ``solves``: the three bare :func:`optim.solve` calls on the same instances, timed in this
  process (the baseline: what the optimisers alone cost) and the ratio ``job / solves``;
* peak resident memory of the job's process (``ru_maxrss`` of the child).

Run: ``.venv/bin/python benchmarks/bench_planning.py [--repeats 3] [--seed 2026]
[--items 500 --customers 200]``. The issue's target: under two minutes on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time

CHILD = """
import json, resource, sys, time
from pathlib import Path
t0 = time.perf_counter()
from optim import planning
from optim.planning import demo
from optim.planning.distributor import distributor_example
from optim.planning.folder import write_folder
seed, items, customers = (int(a) for a in sys.argv[1:4])
out = Path(sys.argv[4])
progress = planning.Progress(7, quiet=True)
with progress.step("generate"):
    data = distributor_example(seed, n_items=items, n_customers=customers)
    write_folder(data, out / "input")
run = planning.run(data, progress=progress)
with progress.step("write + report"):
    planning.write(run, out)
total = time.perf_counter() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"job": total, "steps": progress.times, "rss_mib": rss, "ok": run.ok()}))
"""


def bare_solves(seed: int, items: int, customers: int) -> float:
    """The three optimisers alone on the run's instances (built outside the timer)."""
    import pandas as pd

    import optim
    from optim import planning
    from optim.planning.distributor import distributor_example
    from optim.segmentation import (
        build_capacity,
        build_item_safety_stock,
        build_rationing,
        segment,
    )

    data = distributor_example(seed, n_items=items, n_customers=customers)
    run = planning.run(data)  # for the planned supply and the policy floors
    seg = segment(data.history)
    gsm = build_item_safety_stock(seg, data.network, data.items.set_index("item")["unit_cost"])
    weeks = list(pd.date_range(data.plan_start, periods=data.plan_weeks, freq="7D"))
    floors = {
        n: {"min_fill_rate": r.service_level}
        for n, r in run.policy.segments.items()
        if r.dimension == "customer"
    }
    cap = build_capacity(
        seg,
        planning.forecast_lines(data.history, data.plan_start, data.plan_weeks),
        periods=weeks,
        resources=data.resources,
        products=data.families,
        product_of_item=dict(zip(data.items["item"], data.items["family"], strict=True)),
        segments=floors if run.capacity_floors else None,
    )
    supply = run.tables["supply"][["item", "location", "quantity"]]
    rat = build_rationing(seg, data.orders, week=data.orders["date"].min(), supply=supply)
    t0 = time.perf_counter()
    for inst in (gsm, cap, rat):
        optim.solve(inst)
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=2026)
    ap.add_argument("--items", type=int, default=500)
    ap.add_argument("--customers", type=int, default=200)
    args = ap.parse_args()

    jobs, rss, steps, solves = [], [], {}, []
    for k in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            out = subprocess.run(
                [sys.executable, "-c", CHILD, str(args.seed), str(args.items),
                 str(args.customers), tmp],
                capture_output=True, text=True, check=True,
            )  # fmt: skip
            wall = time.perf_counter() - start
        rec = json.loads(out.stdout.strip().splitlines()[-1])
        assert rec["ok"], "a solve returned no solution"
        jobs.append(wall)
        rss.append(rec["rss_mib"])
        for name, t in rec["steps"].items():
            steps.setdefault(name, []).append(t)
        solves.append(bare_solves(args.seed, args.items, args.customers))
        print(f"repeat {k + 1}: job {wall:.2f} s, solves alone {solves[-1]:.2f} s", flush=True)

    med = statistics.median
    print(f"\nmain job, seed {args.seed}, {args.items} items, {args.customers} customers, "
          f"{args.repeats} repeats (medians)")  # fmt: skip
    print(f"  job (fresh process, imports included): {med(jobs):.2f} s "
          f"(runs {', '.join(f'{j:.2f}' for j in jobs)})")  # fmt: skip
    for name, ts in steps.items():
        print(f"    {name:<62} {med(ts):6.2f} s")
    print(f"  three solves alone (baseline)        : {med(solves):.2f} s")
    print(f"  ratio job / solves                   : {med(jobs) / med(solves):.1f}")
    print(f"  peak resident memory of the job      : {med(rss):.0f} MiB")
    print(f"  this process high-water mark         : "
          f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB")  # fmt: skip
    print(f"  target (< 120 s on 2 cores)          : {'met' if med(jobs) < 120 else 'MISSED'}")


if __name__ == "__main__":
    main()
