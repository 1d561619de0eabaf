"""Benchmark of critical levels (issue 10): the GSM step and the simulation (a script).

Instances
---------
* ``demo``: the demo's per-item forest (``optim demo``'s seeded distributor example, seed
  2026: about 3,579 stages / 5,463 demands), built exactly as the planning run builds it — the
  instance is taken from the run's own safety-stock result (``info["instance"]``), so it is
  what ``optim demo`` solves (default pooling ``critical_level``).
* ``tree``: a 1,000-stage distribution tree (plant → 9 DCs → 110 retailers each) with three
  segments (0.99 / 0.95 / 0.90) at every retailer
  (:func:`optim.instances.generators.gsm.distribution`, seed 1).

Measured per instance, medians over ``--repeats`` in this process after one warm-up call
(numba kernels loaded; the first call's extra cost is printed as ``first``):

* ``critical``: :func:`optim.solve` with ``pooling="critical_level"`` — the whole GSM step:
  stage tables, tree DP, result tables and the ``max_z`` comparison solve its message states;
* ``max_z``: :func:`optim.solve` of the same instance with ``pooling="max_z"`` (the baseline,
  same run) and the ratio ``critical / max_z``;
* ``simulate`` (demo only): ``optim simulate RESULT`` as a planner runs it (a fresh process,
  imports included, default 2,000 periods × 30 replications), the in-process
  :func:`optim.models.safety_stock.simulate.simulate` on the same result, and the same
  simulation of the ``max_z`` result (baseline); misses per simulation;
* peak traced memory (``tracemalloc``) of one critical-level solve and one simulation.

``--only step``: the GSM step *inside the demo* as ``optim demo`` reports it (the progress
step "place safety stock …": both critical-level solves — the forecast-σ plan and the
history-σ baseline —, the max_z comparison, the replenishment parameters and the tables),
each repeat in a fresh process (the numba kernels load from the disk cache, as in a planner's
second run): wall and CPU seconds (user + sys of the process during the step) of the step and
of the whole planning run (without writing), medians, and the load average around them.

Run: ``.venv/bin/python benchmarks/bench_critical.py [--repeats 3] [--only demo|tree|step]
[--instance FILE]`` (``--instance`` reuses a demo instance written by ``--save FILE``).
Targets (issue 10): demo GSM step ≤ 5 s, 1,000-stage tree ≤ 5 s, ``optim simulate`` of the
demo's rows ≤ 10 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path
from typing import Any

import optim
from optim.instances.safety_stock import SafetyStockInstance

CLI = "import sys; from optim.cli import main; sys.exit(main(sys.argv[1:]))"

STEP = """
import json, time
from contextlib import contextmanager
from optim import planning
from optim.planning.distributor import distributor_example
orig, cpu = planning.Progress.step, {}
@contextmanager
def step(self, title):
    c = time.process_time()
    with orig(self, title):
        yield
    cpu[title] = time.process_time() - c
planning.Progress.step = step
progress = planning.Progress(9, quiet=True)
t, c = time.perf_counter(), time.process_time()
planning.run(distributor_example(2026), progress=progress)
run_wall, run_cpu = time.perf_counter() - t, time.process_time() - c
title = next(k for k in progress.times if k.startswith("place safety stock"))
print(json.dumps({"step_s": progress.times[title], "step_cpu_s": cpu[title],
                  "run_s": run_wall, "run_cpu_s": run_cpu}))
"""


def demo_instance(path: str | None, save: str | None) -> SafetyStockInstance:
    """The instance the planning run solves (from the run itself, or a saved copy)."""
    if path:
        return SafetyStockInstance.model_validate_json(Path(path).read_text(encoding="utf-8"))
    from optim import planning
    from optim.planning.distributor import distributor_example

    run = planning.run(distributor_example(2026))
    inst = SafetyStockInstance.model_validate(run.safety_stock.info["instance"])
    if save:
        Path(save).write_text(inst.model_dump_json(), encoding="utf-8")
    return inst


def tree_instance() -> SafetyStockInstance:
    from optim.instances.generators.gsm import distribution

    return distribution(9, 110, seed=1, segments=(0.99, 0.95, 0.90))


def timed(fn: Any, repeats: int, make: Any = None) -> tuple[float, float, Any]:
    """(first call, median of the next ``repeats``, last value); ``make()`` (untimed) gives
    each call its argument."""
    arg = make() if make else None
    t = time.perf_counter()
    value = fn(arg)
    first = time.perf_counter() - t
    times = []
    for _ in range(repeats):
        arg = make() if make else None
        t = time.perf_counter()
        value = fn(arg)
        times.append(time.perf_counter() - t)
    return first, statistics.median(times), value


def peak_mib(fn: Any) -> float:
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak / 2**20


def fresh(inst: SafetyStockInstance, pooling: str) -> SafetyStockInstance:
    """A new instance object, so that nothing a previous solve kept (the stage specs and
    search memo kept per instance, the demand-lattice cache) is reused: every timed solve
    does all of its work."""
    from optim.models.safety_stock.critical import demand_lattice

    demand_lattice.cache_clear()
    return inst.model_copy(update={"pooling": pooling}, deep=True)


def bench_solve(name: str, inst: SafetyStockInstance, repeats: int) -> dict[str, Any]:
    crit = fresh(inst, "critical_level")
    first, med, res = timed(optim.solve, repeats, lambda: fresh(inst, "critical_level"))
    _, base, ref_res = timed(optim.solve, repeats, lambda: fresh(inst, "max_z"))
    row = {
        "instance": name,
        "stages": len(inst.stages),
        "demands": len(inst.demands),
        "critical_stages": res.info.get("critical_level_stages"),
        "critical_s": med,
        "first_s": first,
        "max_z_s": base,
        "ratio": med / base,
        "peak_mib": peak_mib(lambda: optim.solve(crit)),
        "cost": res.objective,
        "max_z_cost": ref_res.objective,
        "saving": (ref_res.objective - res.objective) / ref_res.objective,
    }
    row["_results"] = (res, ref_res)
    return row


def bench_simulate(inst: SafetyStockInstance, res: Any, ref: Any, repeats: int) -> dict[str, Any]:
    from optim.models.safety_stock.simulate import simulate

    _, med, table = timed(lambda _: simulate(inst, res), repeats)
    ref_inst = inst.model_copy(update={"pooling": "max_z"})
    _, base, ref_table = timed(lambda _: simulate(ref_inst, ref), repeats)
    with tempfile.TemporaryDirectory() as tmp:
        doc = Path(tmp) / "result.json"
        doc.write_text(json.dumps(res.to_dict()), encoding="utf-8")
        cli = []
        for _ in range(repeats):
            t = time.perf_counter()
            done = subprocess.run(
                [sys.executable, "-c", CLI, "simulate", str(doc), "--quiet"],
                capture_output=True,
                text=True,
                check=False,
            )
            cli.append(time.perf_counter() - t)
        summary = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr
    return {
        "rows": len(table),
        "cli_s": statistics.median(cli),
        "simulate_s": med,
        "max_z_simulate_s": base,
        "ratio": med / base,
        "peak_mib": peak_mib(lambda: simulate(inst, res)),
        "misses": int((~table["meets_target"]).sum()),
        "max_z_misses": int((~ref_table["meets_target"]).sum()),
        "cli_summary": summary[:300],
    }


def bench_step(repeats: int) -> dict[str, Any]:
    """The demo's GSM step in fresh processes (see the module docstring): medians."""
    import os

    load = [os.getloadavg()[0]]
    rows = []
    for _ in range(repeats):
        done = subprocess.run(
            [sys.executable, "-c", STEP], capture_output=True, text=True, check=True
        )
        rows.append(json.loads(done.stdout.strip().splitlines()[-1]))
        load.append(os.getloadavg()[0])
    out: dict[str, Any] = {
        k: statistics.median(r[k] for r in rows)
        for k in ("step_s", "step_cpu_s", "run_s", "run_cpu_s")
    }
    out.update(repeats=repeats, load_1min=[round(x, 1) for x in load])
    return out


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3, help="timed repeats (median)")
    ap.add_argument("--only", choices=("demo", "tree", "step"), help="one measurement only")
    ap.add_argument("--instance", help="demo instance JSON (skips the planning run)")
    ap.add_argument("--save", help="write the demo instance here (for --instance)")
    args = ap.parse_args(argv)
    print("machine shared with other jobs (8 agents on 2 cores): medians, not minima")
    if args.only == "step":
        print(json.dumps({"demo_gsm_step": bench_step(args.repeats)}))
        return
    if args.only in (None, "tree"):
        row = bench_solve("tree", tree_instance(), args.repeats)
        row.pop("_results")
        print(json.dumps(row, default=float))
    if args.only in (None, "demo"):
        inst = demo_instance(args.instance, args.save)
        row = bench_solve("demo", inst, args.repeats)
        res, ref = row.pop("_results")
        print(json.dumps(row, default=float))
        print(json.dumps({"simulate": bench_simulate(inst, res, ref, args.repeats)}))


if __name__ == "__main__":
    main()
