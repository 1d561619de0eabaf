"""Rationing's integer stage in whole quanta, step B (the distance to the fair shares, exact
or refused: ``engine._closest_totals``): how often a component is refused, and what it costs.

Weeks with lots (30 % of lines), all-or-nothing lines (15 %) and minimums on 30 %, the first
line raised to HUGE units and its item's first supply row to 2/3 of that, so every
component of that item runs the integer stage in whole quanta (above ``engine.MIP_TRUST``):

``--weeks N``: N small weeks per magnitude (2 items, 3 locations, 12 lines);
``--sizes S``: one week of one item, 5 locations and S lines per size (one large component).

Prints per setting: weeks, components refused (``NotExactlyScalable``), step B's calls,
branch-and-bound nodes, arc scans (largest per call), and CPU seconds of step B (median and
largest per call) and of the whole solve (median per week), with the load average.

    python benchmarks/bench_rationing_step_b.py --weeks 100
    python benchmarks/bench_rationing_step_b.py --sizes 1000,3000 --seeds 3
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

HUGE = (2e5, 1e8, 1e10, 3e11, 1e12)


def _week(seed: int, huge: float, lines: int):
    from optim.instances.generators.rationing import rationing_frames
    from optim.instances.rationing import RationingInstance

    small = lines <= 12
    frames = rationing_frames(
        seed, n_items=2 if small else 1, n_locations=3 if small else 5,
        n_customers=5 if small else lines // 4, n_lines=lines, tiers=3, eligible=(1, 3),
        stocked=(1, 3) if small else (2, 5), min_share=0.3, lot_share=0.3, aon_share=0.15,
    )  # fmt: skip
    dem, sup = frames["demand"], frames["supply"]
    dem.loc[0, "quantity"] = huge
    if "lot_size" in dem:  # the raised line itself is continuous
        dem.loc[0, "lot_size"] = np.nan
    rows = np.flatnonzero(sup["item"] == dem.loc[0, "item"])
    sup.loc[rows[0], "quantity"] = np.round(huge * 2 / 3)
    return RationingInstance.from_frames(**frames)


def run(label: str, weeks: list) -> None:
    from optim import SolveParams
    from optim.errors import NotExactlyScalable
    from optim.models.rationing import engine, solve
    from optim.models.rationing.arrays import prepare

    calls: list[float] = []
    closest, root, branch = (
        engine._closest_totals, engine._ConvexFlow.root, engine._ConvexFlow.branch
    )  # fmt: skip
    nodes = [0]

    def spy(runner, step):  # type: ignore[no-untyped-def]
        t0 = time.process_time()
        try:
            return closest(runner, step)
        finally:
            calls.append(time.process_time() - t0)

    def counted(f):  # type: ignore[no-untyped-def]
        def g(self, *a):  # type: ignore[no-untyped-def]
            nodes[0] += 1
            return f(self, *a)

        return g

    engine._closest_totals = spy  # type: ignore[assignment]
    engine._ConvexFlow.root = counted(root)  # type: ignore[method-assign]
    engine._ConvexFlow.branch = counted(branch)  # type: ignore[method-assign]
    scans = []
    real_count = engine._ConvexFlow._count

    def count(self, n):  # type: ignore[no-untyped-def]
        real_count(self, n)
        scans.append(self.work)

    engine._ConvexFlow._count = count  # type: ignore[method-assign]
    refused, cpu = 0, []
    try:
        for inst in weeks:
            p = prepare(inst)
            t0 = time.process_time()
            try:
                solve.allocate(p, SolveParams())
            except (NotExactlyScalable, engine.ComponentNotScalable):
                refused += 1
            cpu.append(time.process_time() - t0)
    finally:
        engine._closest_totals = closest  # type: ignore[assignment]
        engine._ConvexFlow.root, engine._ConvexFlow.branch = root, branch  # type: ignore[method-assign]
        engine._ConvexFlow._count = real_count  # type: ignore[method-assign]
    b = np.array(calls) if calls else np.zeros(1)
    print(
        f"{label:>24}: {len(weeks)} weeks, {refused} refused, {len(calls)} step-B calls, "
        f"{nodes[0]} nodes, largest arc scans {max(scans, default=0):,}; step B CPU s median "
        f"{np.median(b):.4f} max {b.max():.3f}; solve CPU s median {np.median(cpu):.3f} "
        f"(load {os.getloadavg()[0]:.1f})"
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weeks", type=int, default=0)
    ap.add_argument("--sizes", default="")
    ap.add_argument("--seeds", type=int, default=3)
    args = ap.parse_args()
    for huge in HUGE if args.weeks else ():
        run(f"12 lines, {huge:g}", [_week(s, huge, 12) for s in range(args.weeks)])
    for size in [int(v) for v in args.sizes.split(",") if v]:
        run(f"{size} lines, 3e11", [_week(s, 3e11, size) for s in range(args.seeds)])


if __name__ == "__main__":
    main()
