"""Benchmark of the planning run's lot-sizing MIP (``plan.yaml`` ``lot_sizing: true``) (a script).

The peak plan of the 50-item example (``distributor_example(3, n_items=50, n_customers=25,
weeks=56)``: 24 families, 2 resources, 3 customer segments, 26 weeks), with ``setup_cost``
and ``min_lot_size`` given to the first ``--families`` families, built as ``optim plan``
builds it and solved by HiGHS at each ``--limits`` time limit. Printed per limit: the status,
the objective, the relative gap to HiGHS' bound, the wall clock, and beside it the same
instance as the LP (``lot_sizing: false``): its optimal cost and solve time, the baseline.
The README's sentence on the MIP's difficulty quotes this script.

Run: ``.venv/bin/python benchmarks/bench_lot_sizing.py [--limits 10,120] [--families 6]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import optim
from optim.instances.capacity import CapacityInstance
from optim.planning import pipeline
from optim.planning.distributor import distributor_example


def peak_instance(families: int, setup_cost: float, min_lot: float) -> CapacityInstance:
    """The capacity instance ``optim plan`` solves for the example with setups."""
    data = distributor_example(3, n_items=50, n_customers=25, weeks=56)
    fams = [dict(f) for f in data.families]
    for f in fams[:families]:
        f |= {"setup_cost": setup_cost, "min_lot_size": min_lot}
    data = dataclasses.replace(data, families=fams, lot_sizing=True)
    grabbed: list[CapacityInstance] = []

    class _Stop(Exception):
        pass

    def grab(inst, params=None, **kw):  # the run's own build, stopped at its first solve
        if isinstance(inst, CapacityInstance):
            grabbed.append(inst)
            raise _Stop
        return solve(inst, params, **kw)

    solve = pipeline.optim.solve
    pipeline.optim.solve = grab
    try:
        pipeline.run(data)
    except _Stop:
        pass
    finally:
        pipeline.optim.solve = solve
    return grabbed[0]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--limits", default="10,120", help="time limits in seconds, comma separated")
    ap.add_argument("--families", type=int, default=6, help="families given setups")
    ap.add_argument("--setup-cost", type=float, default=40.0)
    ap.add_argument("--min-lot", type=float, default=30.0)
    args = ap.parse_args()
    inst = peak_instance(args.families, args.setup_cost, args.min_lot)
    print(
        f"peak plan: {len(inst.products)} families ({args.families} with setup_cost "
        f"{args.setup_cost:g}, min_lot_size {args.min_lot:g}), {len(inst.resources)} resources, "
        f"{len(inst.segments)} segments, {len(inst.periods)} weeks, {len(inst.demand)} demand rows"
    )
    lp = inst.model_copy(update={"lot_sizing": False})
    start = time.perf_counter()
    base = optim.solve(lp)
    print(
        f"LP (setups ignored): {base.status.value}, cost {base.objective:,.2f}, "
        f"{time.perf_counter() - start:.2f} s"
    )
    for limit in (float(x) for x in args.limits.split(",")):
        start = time.perf_counter()
        res = optim.solve(inst, optim.SolveParams(time_limit=limit))
        gap = "-" if res.gap is None else f"{res.gap:.2%}"
        print(
            f"MIP, time limit {limit:g} s: {res.status.value}, cost {res.objective:,.2f}, "
            f"gap {gap}, {time.perf_counter() - start:.1f} s"
        )


if __name__ == "__main__":
    main()
