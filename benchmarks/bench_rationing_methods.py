"""Rationing's two methods on one week: the default (``--method auto``: exact flow method and
exact routing) against the staged LPs (``--method lp``), engine solve only, in one process.

Prints, per method, the median CPU seconds (user + system) and wall seconds of
:func:`optim.models.rationing.engine.allocate` over ``--repeats`` (one thread, after a
warm-up solve that loads the compiled kernels), the number of LPs, and then how many lines'
allocations differ between the methods in whole 1e-6 quanta (0 expected: the LP path's grid
repair moves its solver noise along augmenting paths) and how many stages differ. The week
is :mod:`bench_rationing`'s (``instance_frames``).

    python benchmarks/bench_rationing_methods.py --lines 100000 --shape dense
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=100_000)
    ap.add_argument("--shape", choices=("sparse", "dense"), default="dense")
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()

    from bench_rationing import instance_frames

    from optim import SolveParams
    from optim.instances.rationing import RationingInstance
    from optim.models.rationing import engine
    from optim.models.rationing.arrays import prepare

    frames = instance_frames(args.shape, args.lines, args.seed)
    p = prepare(RationingInstance.from_frames(**frames))
    engine.allocate(p, SolveParams(threads=1))  # warm-up: imports, compiled kernels
    print(f"[{args.shape}] {p.num_lines:,} lines, {p.num_arcs:,} arcs, {p.num_cells:,} cells")
    quanta = {}
    stage = {}
    for method in ("auto", "lp"):
        cpu, wall = [], []
        for _ in range(args.repeats):
            c, w = time.process_time(), time.perf_counter()
            out = engine.allocate(p, SolveParams(method=method, threads=1))
            cpu.append(time.process_time() - c)
            wall.append(time.perf_counter() - w)
        quanta[method] = np.round(out.alloc / engine.QUANTUM).astype(np.int64)
        stage[method] = out.stage
        print(
            f"  method {method}: {statistics.median(cpu):.2f} CPU s, "
            f"{statistics.median(wall):.2f} s wall (median of {args.repeats}), "
            f"{out.lp_count:,} LPs"
        )
    print(
        f"  lines whose allocation differs (whole quanta): "
        f"{int(np.sum(quanta['auto'] != quanta['lp']))}; stages differ: "
        f"{int(np.sum(stage['auto'] != stage['lp']))}"
    )


if __name__ == "__main__":
    main()
