"""Weekly rationing at scale: end to end vs one raw-highspy LP of the same instance.

Default size (the issue's): 10^6 demand lines, 50,000 items × 20 locations × 5,000
customers, 3 tiers, 1–3 eligible locations per line. Each measurement runs in a fresh
process:

- ``optim``: read the CSV folder, validate, solve (``threads`` workers), write the result
  document (JSON) — the planner's ``optim solve FOLDER --out result.json``.
- ``raw LP``: build and solve, directly in highspy, the single LP ``max Σ W_tier x`` over the
  same arcs and supplies (the first of optim's stages, without reading or writing).

Prints medians over ``--repeats`` and peak memory (parent + largest worker; an upper bound
of the simultaneous peak is parent + workers × largest worker).

    python benchmarks/bench_rationing.py                 # full size
    python benchmarks/bench_rationing.py --lines 100000  # quick
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
import json, resource, sys, time
t0 = time.perf_counter()
import optim
from optim import SolveParams
folder, out, threads = sys.argv[1], sys.argv[2], int(sys.argv[3])
t1 = time.perf_counter()
inst = optim.load(folder)
t2 = time.perf_counter()
res = optim.solve(inst, SolveParams(threads=threads))
t3 = time.perf_counter()
res.to_json(out)
t4 = time.perf_counter()
ru_self = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
ru_kids = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
print(json.dumps({"import": t1 - t0, "read_validate": t2 - t1, "solve": t3 - t2,
                  "write": t4 - t3, "total": t4 - t1, "status": res.status.value,
                  "objective": res.objective, "rss_mib": ru_self, "worker_rss_mib": ru_kids,
                  "lps": res.info.get("lp_count")}))
"""

CHILD_RAW = r"""
import json, resource, sys, time
import numpy as np
import optim
from optim.models.rationing.arrays import prepare
inst = optim.load(sys.argv[1])
p = prepare(inst)
import highspy
t0 = time.perf_counter()
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
h.run()
t1 = time.perf_counter()
print(json.dumps({"total": t1 - t0, "status": h.modelStatusToString(h.getModelStatus()),
                  "objective": h.getInfo().objective_function_value,
                  "rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def write_instance(folder: Path, lines: int, seed: int) -> dict[str, float]:
    from optim.instances.generators.rationing import rationing_frames

    frames = rationing_frames(
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
    for name, frame in frames.items():
        frame = frame.copy()
        if name == "demand":
            frame["locations"] = frame["locations"].map(
                lambda v: ";".join(v) if isinstance(v, list) else ""
            )
        frame.to_csv(folder / f"{name}.csv", index=False)
    dem = frames["demand"]
    supply = frames["supply"].groupby("item")["quantity"].sum()
    want = dem.groupby("item")["quantity"].sum()
    short_items = float((supply.reindex(want.index).fillna(0) < want).mean())
    return {
        "lines": len(dem),
        "arcs": float(dem["locations"].map(len).sum()),
        "short_items": short_items,
    }


def run(code: str, *args: str) -> dict:
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--baseline-time-limit", type=float, default=900.0)
    ap.add_argument("--skip-baseline", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "week"
        folder.mkdir()
        t = time.perf_counter()
        facts = write_instance(folder, args.lines, args.seed)
        print(
            f"instance: {facts['lines']:,.0f} lines, {facts['arcs']:,.0f} arcs, "
            f"{facts['short_items']:.0%} of items short at item level "
            f"(generated in {time.perf_counter() - t:.1f} s)"
        )
        runs = [
            run(CHILD_OPTIM, str(folder), str(Path(tmp) / "result.json"), str(args.threads))
            for _ in range(args.repeats)
        ]
        med = {
            k: statistics.median(r[k] for r in runs)
            for k in ("read_validate", "solve", "write", "total", "rss_mib", "worker_rss_mib")
        }
        print(
            f"optim end to end (median of {len(runs)}, {args.threads} workers): "
            f"{med['total']:.1f} s = read+validate {med['read_validate']:.1f} + solve "
            f"{med['solve']:.1f} + write {med['write']:.1f}; all runs: "
            + ", ".join(f"{r['total']:.1f}" for r in runs)
        )
        print(
            f"  status {runs[0]['status']}, objective {runs[0]['objective']:.6f}; peak RSS "
            f"{med['rss_mib']:.0f} MiB main + {med['worker_rss_mib']:.0f} MiB per worker"
        )
        if not args.skip_baseline:
            raw = run(CHILD_RAW, str(folder), str(args.baseline_time_limit))
            print(
                f"raw highspy LP (build + solve, 1 process): {raw['total']:.1f} s, "
                f"{raw['status']}, objective {raw['objective']:.6f}, peak RSS "
                f"{raw['rss_mib']:.0f} MiB"
            )
            print(
                f"ratio optim end to end / raw LP: {med['total'] / raw['total']:.2f} (target <= 3)"
            )


if __name__ == "__main__":
    main()
