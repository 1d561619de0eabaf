"""Rationing past one machine: the split run of a CSV folder over Dask workers (issue 15).

A dense weekly week (issue 13's shape: 20 locations, 200 lines per customer, 1–3 eligible
locations per line, almost every cell short) of ``--lines`` order lines is written as a CSV
folder in slices of at most 10^6 lines (each slice its own items, as a week of many
categories). Then, each in a fresh process:

- ``one process`` (``--one-process``): ``optim.load`` + ``optim.solve`` + the result tables,
  the planner's ``optim solve FOLDER --tables OUT`` — the whole instance in one process;
- ``split over Dask``: :func:`optim.split.solve_folder` with a scheduler and
  ``--workers`` single-threaded worker processes on loopback (the client streams the folder,
  the workers read their pieces from a scratch folder beside the output).

Printed: wall and CPU seconds (client + workers), peak RSS of the client and of each worker
(``ru_maxrss`` read in each process at the end), the load average around each run, and
whether the two runs wrote the same bytes.

``--batch``: the issue's 100-scenario batch instead — ``optim.batch`` over a generated
2,000-line rationing week (bench_service's), the grid demand × {0.8, 0.9, 1, 1.1, 1.2} ×
capacity cut {0, 5, 10, 15, 20} % × supply disruption {none, DC01 −50 %, DC02 −100 %,
DC03 −25 %}, each executor in a fresh process: local 1 process (the baseline), local 2
spawned processes, Dask (scheduler + 2 single-threaded workers on loopback, started before
the clock). Wall and CPU seconds (the process + its workers), the ratio to the baseline, and
whether every file (batch.csv and the 100 result documents) is the same bytes.

    .venv/bin/python benchmarks/bench_cluster.py --lines 1000000 --one-process
    .venv/bin/python benchmarks/bench_cluster.py --lines 10000000
    .venv/bin/python benchmarks/bench_cluster.py --batch --rounds 3
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

SLICE = 1_000_000

CHILD_ONE = r"""
import json, resource, sys, time
t0, c0 = time.perf_counter(), time.process_time()
import optim
res = optim.solve(optim.load(sys.argv[1]))
res.write_tables(sys.argv[2])
me = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"wall": time.perf_counter() - t0, "cpu": me.ru_utime + me.ru_stime,
                  "rss_mib": me.ru_maxrss / 1024, "message": res.message}))
"""

CHILD_SPLIT = r"""
import json, resource, sys, time
from distributed import Client, LocalCluster
workers, piece_lines = int(sys.argv[3]), int(sys.argv[4])
cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                       host="127.0.0.1", dashboard_address=None, silence_logs=40)
def usage():
    import resource
    me = resource.getrusage(resource.RUSAGE_SELF)
    return {"cpu": me.ru_utime + me.ru_stime, "rss_mib": me.ru_maxrss / 1024}
with Client(cluster.scheduler_address) as client:
    before = client.run(usage)
t0, c0 = time.perf_counter(), time.process_time()
from optim import split
res = split.solve_folder(sys.argv[1], sys.argv[2], cluster=cluster.scheduler_address,
                         piece_lines=piece_lines)
wall = time.perf_counter() - t0
me = resource.getrusage(resource.RUSAGE_SELF)
with Client(cluster.scheduler_address) as client:
    after = client.run(usage)
cluster.close()
print(json.dumps({"wall": wall, "client_cpu": me.ru_utime + me.ru_stime - c0,
                  "client_rss_mib": me.ru_maxrss / 1024,
                  "worker_cpu": [after[w]["cpu"] - before[w]["cpu"] for w in sorted(after)],
                  "worker_rss_mib": [after[w]["rss_mib"] for w in sorted(after)],
                  "message": res.message}))
"""


CHILD_BATCH = r"""
import json, resource, sys, time
from pathlib import Path
mode, out = sys.argv[1], Path(sys.argv[2])
from optim import batch, executor
from optim.instances.generators.rationing import random_rationing
from optim.params import SolveParams
base = random_rationing(5, n_items=200, n_locations=4, n_customers=80, n_lines=2000).to_dict()
scenarios = batch.grid(demand=[0.8, 0.9, 1.0, 1.1, 1.2], capacity_cut=[0.0, 5.0, 10.0, 15.0, 20.0],
                       disruption=[None, ("DC01", 0.5), ("DC02", 1.0), ("DC03", 0.25)])
tasks = [(s.name, batch.apply(base, s), SolveParams()) for s in scenarios]
assert len(tasks) == 100
def usage():
    import resource
    me = resource.getrusage(resource.RUSAGE_SELF)
    return me.ru_utime + me.ru_stime
cluster, workers = None, 1 if mode == "local1" else 2
if mode == "dask":
    from distributed import Client, LocalCluster
    cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
                           dashboard_address=None, silence_logs=40)
    with Client(cluster.scheduler_address) as client:
        before = sum(client.run(usage).values())
    executor.use_cluster(cluster.scheduler_address)
c0, t0 = usage(), time.perf_counter()
batch.run(tasks, out, workers=workers, extra=[s.row() for s in scenarios])
wall = time.perf_counter() - t0
me = usage() - c0
if cluster is not None:
    executor.use_cluster(None)
    with Client(cluster.scheduler_address) as client:
        others = sum(client.run(usage).values()) - before
    executor.disconnect(cluster.scheduler_address)
    cluster.close()
else:
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    others = kids.ru_utime + kids.ru_stime
print(json.dumps({"wall": wall, "cpu": me, "workers_cpu": others}))
"""


def batch(root: Path, rounds: int) -> None:
    """The 100-scenario batch on each executor, ``rounds`` times; medians and ratios."""
    import statistics

    modes = {
        "local, 1 process": "local1",
        "local, 2 processes": "local2",
        "Dask, 2 workers": "dask",
    }
    got: dict[str, list[dict]] = {label: [] for label in modes}
    digests = set()
    for r in range(rounds):
        for label, mode in modes.items():
            out = root / f"batch-{mode}-{r}"
            got[label].append(run(CHILD_BATCH, mode, str(out)))
            h = hashlib.sha256()
            for path in sorted(out.iterdir()):
                h.update(path.name.encode() + path.read_bytes())
            digests.add(h.hexdigest()[:16])
            shutil.rmtree(out)
    base = statistics.median(g["wall"] for g in got["local, 1 process"])
    cores = os.cpu_count()
    print(f"100-scenario batch (rationing, 2,000 lines), {rounds} round(s), {cores} cores")
    for label, runs in got.items():
        wall = statistics.median(g["wall"] for g in runs)
        cpu = statistics.median(g["cpu"] + g["workers_cpu"] for g in runs)
        loads = ", ".join(f"{g['load'][0]:.1f}->{g['load'][1]:.1f}" for g in runs)
        walls = ", ".join(f"{g['wall']:.1f}" for g in runs)
        print(
            f"{label:20s} wall {wall:7.1f} s (ratio {wall / base:4.2f})  CPU {cpu:7.1f} s "
            f"(process + workers)  rounds {walls}; "
            f"load {loads}"
        )
    print(f"every file the same bytes across executors and rounds: {len(digests) == 1}")


def write_week(folder: Path, lines: int, seed: int) -> None:
    """A dense week of ``lines`` lines in slices of at most 10^6 with disjoint items."""
    from bench_rationing import instance_frames

    from optim.instances.generators.rationing import write_csv_folder

    done, part = 0, 0
    while done < lines:
        n = min(SLICE, lines - done)
        frames = instance_frames("dense", n, seed + part)  # bench_rationing's week
        if part:
            tag = f"S{part}-"
            frames["supply"]["item"] = tag + frames["supply"]["item"]
            frames["demand"]["item"] = tag + frames["demand"]["item"]
            frames["demand"]["id"] = tag + frames["demand"]["id"]
            del frames["segments"]
        write_csv_folder(frames, folder, mode="a" if part else "w")
        done += len(frames["demand"])
        part += 1


def run(code: str, *args: str) -> dict:
    load = os.getloadavg()[0]
    proc = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    out["load"] = (load, os.getloadavg()[0])
    return out


def digest(folder: Path) -> str:
    h = hashlib.sha256()
    for name in ("allocations", "lines", "segments", "unallocated"):
        h.update((folder / f"{name}.csv").read_bytes())
    return h.hexdigest()[:16]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--piece-lines", type=int, default=200_000)
    ap.add_argument("--one-process", action="store_true", help="also the one-process run")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dir", default=None, help="work folder (default: a temporary one)")
    ap.add_argument("--batch", action="store_true", help="the 100-scenario batch instead")
    ap.add_argument("--rounds", type=int, default=1, help="--batch: rounds (medians)")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-cluster-", dir=args.dir))
    try:
        if args.batch:
            batch(root, args.rounds)
            return
        t = time.perf_counter()
        write_week(root / "week", args.lines, args.seed)
        size = sum(p.stat().st_size for p in (root / "week").iterdir()) / 2**20
        print(
            f"week: {args.lines:,} lines, CSV folder {size:,.0f} MiB "
            f"(written in {time.perf_counter() - t:.0f} s); {os.cpu_count()} cores"
        )
        digests = {}
        if args.one_process:
            one = run(CHILD_ONE, str(root / "week"), str(root / "one"))
            digests["one"] = digest(root / "one")
            print(
                f"one process: {one['wall']:.1f} s wall, {one['cpu']:.1f} CPU s, peak RSS "
                f"{one['rss_mib']:,.0f} MiB; load {one['load'][0]:.1f} -> {one['load'][1]:.1f}"
            )
        got = run(
            CHILD_SPLIT,
            str(root / "week"),
            str(root / "split"),
            str(args.workers),
            str(args.piece_lines),
        )
        digests["split"] = digest(root / "split")
        print(
            f"split over Dask ({args.workers} workers, pieces of {args.piece_lines:,} lines): "
            f"{got['wall']:.1f} s wall, CPU client {got['client_cpu']:.1f} s + workers "
            + " + ".join(f"{c:.1f}" for c in got["worker_cpu"])
            + f" s; peak RSS client {got['client_rss_mib']:,.0f} MiB, workers "
            + ", ".join(f"{r:,.0f}" for r in got["worker_rss_mib"])
            + f" MiB; load {got['load'][0]:.1f} -> {got['load'][1]:.1f}"
        )
        print(f"result: {got['message']}")
        if "one" in digests:
            same = digests["one"] == digests["split"]
            print(f"same bytes as the one-process run: {same} ({digests})")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
