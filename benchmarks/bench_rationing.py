"""Weekly rationing at scale: end to end vs one raw-highspy LP of the same instance.

Default size (issue 13): 10^6 demand lines, 50,000 items × 20 locations × 5,000 customers,
3 tiers, 1–3 eligible locations per line, in two shapes:

- ``sparse``: items stocked at 3–8 locations, 66 % of items short (the first benchmark);
- ``dense``: a fully short week — 200 lines per customer, stock at almost every
  (item, location) that has demand, at 20–110 % of what is asked there; tiers 1–3 rationed
  by ``equal`` / ``weighted`` / ``proportional``.

Each shape is written as a CSV folder and as one JSON document. Each measurement runs in a
fresh process and prints the phases:

- ``optim``: read (parse the files), validate, solve (``threads`` workers), write the result
  document (JSON) — the planner's ``optim solve week.json --out result.json``.
- ``raw LP``: build and solve, directly in highspy, the single LP ``max Σ W_tier x`` over the
  same arcs and supplies (the first of optim's stages, without reading or writing): one
  column per (line, eligible stocked location), a request row per line (``≤`` its cap) and a
  supply row per (item, location); HiGHS defaults (presolve, dual simplex), one thread. Build
  and solve are printed separately, wall and CPU; loading the instance is not timed.

A warm-up solve runs first: the flow kernels are numba functions compiled once per checkout
and cached on disk (~30 CPU s when the cache is cold), which is not part of a weekly run.

Prints medians over ``--repeats``, peak memory (parent + largest worker; an upper bound of
the simultaneous peak is parent + workers × largest worker) and the size of the result.

    python benchmarks/bench_rationing.py                               # full size, both shapes
    python benchmarks/bench_rationing.py --lines 100000 --shape dense  # quick

Time on an idle 2-core machine, one shape at 10^6 lines with ``--repeats 1``: generating and
writing the instance, two optim runs (CSV, JSON) and the raw LP — the raw LP dominates: its
dual simplex took 7.2 CPU s at 10^5 dense lines and 37.1 CPU s at 3·10^5 (109k and 327k
iterations; growth ~n^1.5), so about 4 minutes at 10^6. ``--skip-baseline`` leaves it out.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHILD_OPTIM = r"""
import json, os, resource, sys, time
t0 = time.perf_counter()
import optim
from optim import SolveParams
from optim.api import read_document
from optim.instances.rationing import RationingInstance, read_csv_frames
source, out, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
def cpu():  # this process and its finished workers, user + system
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
t1, c1 = time.perf_counter(), cpu()
if os.path.isdir(source):
    frames = read_csv_frames(source)       # read: the CSV files into raw frames
    t2, c2 = time.perf_counter(), cpu()
    inst = RationingInstance.model_validate(frames)  # validate: columnar checks
else:
    doc = read_document(source)            # read: parse the JSON text
    t2, c2 = time.perf_counter(), cpu()
    inst = optim.from_dict(doc)            # validate
t3, c3 = time.perf_counter(), cpu()
res = optim.solve(inst, SolveParams(threads=threads))
t4, c4 = time.perf_counter(), cpu()
res.to_json(out)
t5, c5 = time.perf_counter(), cpu()
ru_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
ru_kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"import": t1 - t0, "read": t2 - t1, "validate": t3 - t2, "solve": t4 - t3,
                  "write": t5 - t4, "total": t5 - t1, "cpu_read": c2 - c1,
                  "cpu_validate": c3 - c2, "cpu_solve": c4 - c3, "cpu_write": c5 - c4,
                  "cpu_total": c5 - c1, "status": res.status.value,
                  "objective": res.objective, "rss_mib": ru_self, "worker_rss_mib": ru_kids,
                  "out_mb": os.path.getsize(out) / 1e6, "lps": res.info.get("lp_count")}))
"""

CHILD_RAW = r"""
import json, resource, sys, time
import numpy as np
import optim
from optim.models.rationing.arrays import prepare
inst = optim.load(sys.argv[1])  # not timed: the baseline starts from optim's arrays
p = prepare(inst)
import highspy
t0, c0 = time.perf_counter(), time.process_time()
# build: one column per arc, rows = request caps (lines) then supplies (cells); CSC arrays
A, n, C = p.num_arcs, p.num_lines, p.num_cells
h = highspy.Highs()
h.setOptionValue("output_flag", False)
h.setOptionValue("time_limit", float(sys.argv[2]))
lp = highspy.HighsLp()
lp.num_col_, lp.num_row_ = A, n + C
lp.col_cost_ = (p.num_tiers - p.tier[p.arc_line] + 1).astype(np.float64)
lp.col_lower_, lp.col_upper_ = np.zeros(A), np.full(A, np.inf)
lp.row_lower_ = np.full(n + C, -np.inf)
lp.row_upper_ = np.concatenate([p.cap, p.supply])
lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
lp.a_matrix_.start_ = np.arange(0, 2 * A + 1, 2, dtype=np.int32)
idx = np.empty(2 * A, dtype=np.int32)
idx[0::2], idx[1::2] = p.arc_line, n + p.arc_cell
lp.a_matrix_.index_, lp.a_matrix_.value_ = idx, np.ones(2 * A)
lp.sense_ = highspy.ObjSense.kMaximize
h.passModel(lp)
t1, c1 = time.perf_counter(), time.process_time()
h.run()  # HiGHS defaults (presolve, dual simplex), one thread
t2, c2 = time.perf_counter(), time.process_time()
info = h.getInfo()
print(json.dumps({"build": t1 - t0, "cpu_build": c1 - c0, "solve": t2 - t1,
                  "cpu_solve": c2 - c1, "total": t2 - t0, "cpu_total": c2 - c0,
                  "status": h.modelStatusToString(h.getModelStatus()),
                  "objective": info.objective_function_value,
                  "iterations": info.simplex_iteration_count,
                  "rows": n + C, "columns": A,
                  "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

CHILD_WARM = r"""
import time
t0, c0 = time.perf_counter(), time.process_time()
import optim
from optim.instances.generators.rationing import dense_rationing_frames
from optim.instances.rationing import RationingInstance
optim.solve(RationingInstance.from_frames(**dense_rationing_frames(0)))
print('{"total": %f, "cpu_total": %f}' % (time.perf_counter() - t0, time.process_time() - c0))
"""


def instance_frames(shape: str, lines: int, seed: int) -> dict:
    from optim.instances.generators.rationing import dense_rationing_frames, rationing_frames

    if shape == "dense":  # issue 13: every item stocked almost everywhere it is asked, short
        return dense_rationing_frames(
            seed,
            n_items=max(1, lines // 20),
            n_locations=20,
            n_customers=max(1, lines // 200),
            lines_per_customer=min(200, lines),
            tiers=3,
            eligible=(1, 3),
            stocked_share=0.97,
            supply_factor=(0.2, 1.1),
            rules=("equal", "weighted", "proportional"),
        )
    return rationing_frames(
        seed,
        n_items=max(1, lines // 20),
        n_locations=20,
        n_customers=max(1, min(5_000, lines // 200)),
        n_lines=lines,
        tiers=3,
        eligible=(1, 3),
        stocked=(3, 8),
        default_locations_share=0.0,
    )


def write_instance(folder: Path, json_path: Path, frames: dict) -> dict[str, float]:
    """The instance as a CSV folder and as one JSON document; facts for the header."""
    folder.mkdir()
    for name, frame in frames.items():
        frame = frame.copy()
        if name == "demand":
            frame["locations"] = frame["locations"].map(
                lambda v: ";".join(v) if isinstance(v, list) else ""
            )
        frame.to_csv(folder / f"{name}.csv", index=False)
    doc = {"kind": "rationing"}
    for name, frame in frames.items():
        records = frame.to_dict(orient="records")
        for rec in records:  # leave out empty cells, as a planner's document would
            for key in [k for k, v in rec.items() if isinstance(v, float) and v != v]:
                del rec[key]
        doc[name] = records
    json_path.write_text(json.dumps(doc), encoding="utf-8")
    dem = frames["demand"]
    supply = frames["supply"].groupby("item")["quantity"].sum()
    want = dem.groupby("item")["quantity"].sum()
    cells = frames["supply"].groupby(["item", "location"])["quantity"].sum()
    arcs = dem[["item", "quantity"]].assign(location=dem["locations"]).explode("location")
    asked = arcs.groupby(["item", "location"]).size()
    return {
        "lines": len(dem),
        "supply_rows": len(frames["supply"]),
        "arcs": float(dem["locations"].map(len).sum()),
        "short_items": float((supply.reindex(want.index).fillna(0) < want).mean()),
        "stocked_cells": float(cells.reindex(asked.index).notna().mean()),
        "json_mb": json_path.stat().st_size / 1e6,
    }


def run(code: str, *args: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


PHASES = (
    "read",
    "validate",
    "solve",
    "write",
    "total",
    "cpu_read",
    "cpu_validate",
    "cpu_solve",
    "cpu_write",
    "cpu_total",
    "rss_mib",
    "worker_rss_mib",
    "out_mb",
)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--shape", choices=("sparse", "dense", "both"), default="both")
    ap.add_argument("--input", choices=("csv", "json", "both"), default="both")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--baseline-time-limit", type=float, default=900.0)
    ap.add_argument("--skip-baseline", action="store_true")
    args = ap.parse_args()
    shapes = ("sparse", "dense") if args.shape == "both" else (args.shape,)
    warm = run(CHILD_WARM)  # numba compiles the flow kernels once per install (disk cache)
    print(
        f"warm-up (a small solve: imports, and the compiled kernels built or loaded from the "
        f"disk cache; not in the figures below): {warm['total']:.1f} s, "
        f"{warm['cpu_total']:.1f} CPU s"
    )
    inputs = ("csv", "json") if args.input == "both" else (args.input,)
    for shape in shapes:
        with tempfile.TemporaryDirectory() as tmp:
            folder, json_path = Path(tmp) / "week", Path(tmp) / "week.json"
            t = time.perf_counter()
            facts = write_instance(
                folder, json_path, instance_frames(shape, args.lines, args.seed)
            )
            print(
                f"[{shape}] instance: {facts['lines']:,.0f} lines, {facts['arcs']:,.0f} arcs, "
                f"{facts['supply_rows']:,.0f} supply rows ({facts['stocked_cells']:.0%} of asked "
                f"cells stocked), {facts['short_items']:.0%} of items short at item level; "
                f"JSON {facts['json_mb']:.0f} MB (generated in {time.perf_counter() - t:.1f} s)"
            )
            totals, cpu_totals = {}, {}
            for kind in inputs:
                source = folder if kind == "csv" else json_path
                runs = [
                    run(
                        CHILD_OPTIM, str(source), str(Path(tmp) / "result.json"), str(args.threads)
                    )
                    for _ in range(args.repeats)
                ]
                med = {k: statistics.median(r[k] for r in runs) for k in PHASES}
                totals[kind] = med["total"]
                print(
                    f"[{shape}/{kind}] optim end to end (median of {len(runs)}, {args.threads} "
                    f"workers): {med['total']:.1f} s = read {med['read']:.1f} + validate "
                    f"{med['validate']:.1f} + solve {med['solve']:.1f} + write {med['write']:.1f}"
                    "; all runs: " + ", ".join(f"{r['total']:.1f}" for r in runs)
                )
                print(
                    f"  CPU seconds (this process + its workers): {med['cpu_total']:.1f} = read "
                    f"{med['cpu_read']:.1f} + validate {med['cpu_validate']:.1f} + solve "
                    f"{med['cpu_solve']:.1f} + write {med['cpu_write']:.1f}"
                )
                cpu_totals[kind] = med["cpu_total"]
                print(
                    f"  status {runs[0]['status']}, objective {runs[0]['objective']:.6f}; peak "
                    f"RSS {med['rss_mib']:.0f} MiB main + {med['worker_rss_mib']:.0f} MiB per "
                    f"worker; result document {med['out_mb']:.0f} MB"
                )
            if not args.skip_baseline:
                raw = run(CHILD_RAW, str(folder), str(args.baseline_time_limit))
                print(
                    f"[{shape}] raw highspy LP ({raw['columns']:,} columns, {raw['rows']:,} "
                    f"rows; 1 process): {raw['total']:.1f} s = build {raw['build']:.1f} + "
                    f"solve {raw['solve']:.1f}; CPU {raw['cpu_total']:.1f} s = build "
                    f"{raw['cpu_build']:.1f} + solve {raw['cpu_solve']:.1f}; {raw['status']} "
                    f"after {raw['iterations']:,} simplex iterations, objective "
                    f"{raw['objective']:.6f}, peak RSS {raw['rss_mib']:.0f} MiB"
                )
                finished = raw["status"] == "Optimal"
                for kind, total in totals.items():
                    print(
                        f"[{shape}/{kind}] ratio optim end to end / raw LP: wall "
                        f"{total / raw['total']:.2f}, CPU "
                        f"{cpu_totals[kind] / raw['cpu_total']:.2f}"
                        + (
                            " (target <= 1.5)"
                            if finished
                            else " (raw LP did NOT finish: the ratio is only an upper bound)"
                        )
                    )


if __name__ == "__main__":
    main()
