"""Rationing at wide spans: where the staged LPs stop being reliable, and what the exact
flow method costs on one large component (issue 12, ``waterfill.LP_SPAN`` and
``waterfill.MAX_COMPONENT``).

``--spans N``: N random small weeks per magnitude (2 items, 3 locations, 12 lines of ~5..100
units, one or two lines raised to 1e4..1e12 units with one of their item's cells, tiers,
lanes, caps and minimums varied by seed), solved by the staged LPs (``method="lp"``, the
refusal beyond ``LP_SPAN`` switched off); prints the failure rate per half-decade of span
(largest / smallest positive quantity of the widest component, ``waterfill.spans``).

``--component SIZES``: one item whose lines and cells form one component of each size, in
two shapes — the dense benchmark's (one line of 2e8 units beside lines of ~20) and a sparse
one (50 locations, minimums, caps and lanes, quantities of ~20) — with ``MAX_COMPONENT``
lifted: CPU seconds of the flow method (stages 0–2) and of the exact routing, then of the
staged LPs on the same component (where they answer).

``--clock SIZE``: what watching the kernels costs (``waterfill.watch``), and how promptly
they stop: a dense week of many small components (40,000 lines) and one wide component of
SIZE lines + cells (a line of 1e9 beside lines of ~20, the kernels take it whatever its
size), each solved without a limit (no watch thread), with a limit far ahead (a thread
waiting for the deadline) and inside a cancel scope (a thread looking for the cancel every
``WATCH_SECONDS``), interleaved, median CPU seconds of ``--repeat`` runs; then the wide one
under ``time_limit=1`` (CPU and wall until it stops, and how far past the deadline).

    python benchmarks/bench_rationing_span.py --spans 60
    python benchmarks/bench_rationing_span.py --component 2000,5000,10000,20000
    python benchmarks/bench_rationing_span.py --clock 10000 --repeat 3
"""

from __future__ import annotations

import argparse
import collections
import math
import time
from contextlib import nullcontext

import numpy as np


def _week(seed: int, huge: list[float]):
    from optim.instances.generators.rationing import rationing_frames
    from optim.instances.rationing import RationingInstance

    frames = rationing_frames(
        seed, n_items=2, n_locations=3, n_customers=5, n_lines=12, tiers=1 + seed % 3,
        eligible=(1, 3), stocked=(1, 3), lanes=seed % 4 < 2,
        max_share=0.3 if seed % 5 < 2 else 0.0, min_share=0.4 if seed % 3 == 0 else 0.0,
    )  # fmt: skip
    rng = np.random.default_rng(seed)
    dem, sup = frames["demand"], frames["supply"]
    for k, h in enumerate(huge):
        dem.loc[k, "quantity"] = h
        if "max_quantity" in dem and dem.loc[k, "max_quantity"] == dem.loc[k, "max_quantity"]:
            dem.loc[k, "max_quantity"] = np.ceil(h * 0.7)
        rows = np.flatnonzero(sup["item"] == dem.loc[k, "item"])
        sup.loc[rows[rng.integers(len(rows))], "quantity"] = min(
            np.round(h * rng.uniform(0.5, 1.2)), 1e12
        )
    return RationingInstance.from_frames(**frames)


def spans(seeds: int) -> None:
    from optim import SolveParams
    from optim.models.rationing import engine, solve, waterfill
    from optim.models.rationing.arrays import prepare

    waterfill.LP_SPAN = math.inf  # measure the LPs themselves: no refusal
    count: dict[float, list[int]] = collections.defaultdict(lambda: [0, 0])
    start = time.process_time()
    for magnitude in (1e4, 1e5, 3e5, 1e6, 3e6, 1e7, 1e8, 1e9, 1e10, 1e12):
        for seed in range(seeds):
            rng = np.random.default_rng(seed + 1000)
            huge = [magnitude] if seed % 2 == 0 else [magnitude, magnitude * rng.uniform(0.1, 1)]
            p = prepare(_week(seed, huge))
            bucket = math.floor(math.log10(waterfill.spans(p)[1].max()) * 2) / 2
            try:
                solve.allocate(p, SolveParams(method="lp"))
                failed = 0
            except engine.EngineError:
                failed = 1
            count[bucket][0] += 1
            count[bucket][1] += failed
    print(f"staged LPs, {seeds} weeks per magnitude ({time.process_time() - start:.1f} CPU s)")
    for b in sorted(count):
        n, f = count[b]
        print(f"  span 1e{b:.1f}..1e{b + 0.5:.1f}: {f} of {n} failed ({f / n:.0%})")


def component(sizes: list[int]) -> None:
    from optim import SolveParams
    from optim.instances.generators.rationing import one_component_frames, rationing_frames
    from optim.instances.rationing import RationingInstance
    from optim.models.rationing import engine, routing, solve, waterfill
    from optim.models.rationing.arrays import prepare

    cpu: dict[str, float] = {}

    def timed(module, name):
        inner = getattr(module, name)

        def run(*args, **kwargs):
            c = time.process_time()
            try:
                return inner(*args, **kwargs)
            finally:
                cpu[name] = cpu.get(name, 0.0) + time.process_time() - c

        setattr(module, name, run)

    timed(waterfill, "ration_on_grid")
    timed(routing, "route")
    waterfill.MAX_COMPONENT = 10**9
    bound = waterfill.LP_SPAN
    for shape, size in [(shape, size) for shape in ("dense", "sparse") for size in sizes]:
        if shape == "dense":  # one line of 2e8 beside lines of ~20
            p = prepare(RationingInstance.from_frames(**one_component_frames(0, size, 2e8)))
        else:  # 50 locations, minimums, caps and lanes; quantities of ~20 only
            frames = rationing_frames(
                0, n_items=1, n_locations=50, n_customers=max(1, size // 20),
                n_lines=size - 50, tiers=3, eligible=(1, 3), stocked=(10, 50),
                default_locations_share=0.0, min_share=0.2, max_share=0.2, lanes=True,
            )  # fmt: skip
            p = prepare(RationingInstance.from_frames(**frames))
        if size == sizes[0]:
            solve.allocate(p, SolveParams(threads=1))  # compiles the kernels
        cpu.clear()
        out = solve.allocate(p, SolveParams(threads=1))
        flow, route = cpu.get("ration_on_grid", 0.0), cpu.get("route", 0.0)
        c = time.process_time()
        waterfill.LP_SPAN = math.inf
        try:
            solve.allocate(p, SolveParams(method="lp", threads=1))
            lp = f"{time.process_time() - c:.2f} CPU s"
        except engine.EngineError as exc:
            lp = f"failed after {time.process_time() - c:.2f} CPU s ({exc})"
        waterfill.LP_SPAN = bound
        print(
            f"  {shape}: one component of {p.num_lines + p.num_cells:,} lines + cells "
            f"({p.num_arcs:,} arcs): flow method {flow:.2f} CPU s, exact routing "
            f"{route:.2f} CPU s ({out.lp_count} LPs); staged LPs {lp}"
        )


def clock(size: int, repeat: int) -> None:
    from optim import SolveParams
    from optim.instances.generators.rationing import dense_rationing_frames, one_component_frames
    from optim.instances.rationing import RationingInstance
    from optim.models.rationing import engine, solve
    from optim.models.rationing.arrays import prepare
    from optim.solvers.base import interruptible

    dense = dense_rationing_frames(0, n_items=5_000, n_customers=2_000, lines_per_customer=20)
    wide = one_component_frames(0, size, 1e9)
    weeks = {
        "dense week": prepare(RationingInstance.from_frames(**dense)),
        f"one wide component of {size:,}": prepare(RationingInstance.from_frames(**wide)),
    }
    engine.load_kernels(SolveParams())
    ways = ("no limit", "limit 3600 s", "cancel scope")
    for name, p in weeks.items():
        cpu: dict[str, list[float]] = {k: [] for k in ways}
        digests = set()
        for _ in range(repeat):
            for way in ways:
                params = SolveParams(threads=1, time_limit=3600 if way == "limit 3600 s" else None)
                c = time.process_time()
                with interruptible(lambda: False) if way == "cancel scope" else nullcontext():
                    out = solve.allocate(p, params)
                cpu[way].append(time.process_time() - c)
                digests.add(hash(out.alloc.tobytes() + out.flow.tobytes()))
        med = {k: float(np.median(v)) for k, v in cpu.items()}
        print(
            f"  {name} ({p.num_lines:,} lines, {p.num_arcs:,} arcs), median CPU s of "
            f"{repeat}: "
            + ", ".join(f"{k} {v:.3f}" for k, v in med.items())
            + f"; limit / none {med['limit 3600 s'] / med['no limit']:.3f}, cancel / none "
            + f"{med['cancel scope'] / med['no limit']:.3f}; "
            + f"{'the same plan' if len(digests) == 1 else 'PLANS DIFFER'} in every run"
        )
    p = weeks[f"one wide component of {size:,}"]
    c, w = time.process_time(), time.perf_counter()
    try:
        solve.allocate(p, SolveParams(threads=1, time_limit=1))
        what = "finished"
    except engine.EngineError as exc:
        what = str(exc)
    c, w = time.process_time() - c, time.perf_counter() - w
    print(
        f"  time_limit=1 on the wide component: {what} after {c:.2f} CPU s, {w:.2f} s wall "
        f"({w - 1:.3f} s past the deadline)"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--spans", type=int, default=0, metavar="SEEDS")
    ap.add_argument("--component", default="", metavar="SIZES")
    ap.add_argument("--clock", type=int, default=0, metavar="SIZE")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    if args.spans:
        spans(args.spans)
    if args.component:
        component([int(s) for s in args.component.split(",")])
    if args.clock:
        clock(args.clock, args.repeat)


if __name__ == "__main__":
    main()
