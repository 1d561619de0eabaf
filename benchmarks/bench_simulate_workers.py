"""`optim simulate` with random lead times over worker processes (issue 15, a script).

A three-echelon distribution network (:func:`optim.instances.generators.gsm.distribution`:
plant -> ``--dcs`` DCs -> ``--retailers`` retailers each), two segments per retailer
(0.98 / 0.93, critical levels) and a random lead time at every retailer (normal, standard
deviation 30 % of the mean), solved once; then its stock plan is simulated (``--periods`` x
``--replications``) with 1 and ``--workers`` local processes, ``--repeats`` times each.
Every replication draws from its own random streams, so all runs must print the same table
(checked: the CSV bytes' hash). Printed per worker count: median wall and CPU seconds (this
process + its finished worker processes), and the ratio to one worker measured in the same
run; the load average before and after.

    .venv/bin/python benchmarks/bench_simulate_workers.py --dcs 10 --retailers 20 --repeats 3
"""

from __future__ import annotations

import argparse
import hashlib
import os
import resource
import statistics
import time


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)  # worker processes, once ended
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dcs", type=int, default=10)
    ap.add_argument("--retailers", type=int, default=20)
    ap.add_argument("--periods", type=int, default=2000)
    ap.add_argument("--replications", type=int, default=30)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    import optim
    from optim.instances.generators.gsm import distribution
    from optim.models.safety_stock.simulate import simulate, summary_line

    print(f"load before: {os.getloadavg()[0]:.1f}")
    base = distribution(args.dcs, args.retailers, seed=1, segments=(0.98, 0.93))
    retail = {d.stage for d in base.demands}
    inst = base.model_copy(
        update={
            "pooling": "critical_level",
            "stages": tuple(
                s.model_copy(update={"lead_time_std_dev": 0.3 * s.lead_time})
                if s.id in retail
                else s
                for s in base.stages
            ),
        }
    )
    inst = optim.from_dict(inst.model_dump(mode="json", exclude_none=True))  # validated
    t0 = time.perf_counter()
    plan = optim.solve(inst)
    print(
        f"{len(inst.stages)} stages, {len(inst.demands)} demands; solved in "
        f"{time.perf_counter() - t0:.1f} s ({plan.status.value}); simulating "
        f"{args.periods} periods x {args.replications} replications"
    )
    medians: dict[int, tuple[float, float]] = {}
    digests = set()
    for workers in sorted({1, args.workers}):
        walls, cpus = [], []
        for _ in range(args.repeats):
            w0, c0 = time.perf_counter(), _cpu()
            table = simulate(
                inst,
                plan,
                periods=args.periods,
                replications=args.replications,
                seed=0,
                workers=workers,
            )
            walls.append(time.perf_counter() - w0)
            cpus.append(_cpu() - c0)
            digests.add(hashlib.sha256(table.to_csv(index=False).encode()).hexdigest())
        medians[workers] = (statistics.median(walls), statistics.median(cpus))
        print(
            f"workers {workers}: median wall {medians[workers][0]:.2f} s, CPU "
            f"{medians[workers][1]:.2f} s (runs: {', '.join(f'{w:.2f}' for w in walls)} s)"
        )
    print(summary_line(table))
    if args.workers != 1:
        one, many = medians[1], medians[args.workers]
        print(
            f"ratio {args.workers} workers / 1: wall {many[0] / one[0]:.2f}, "
            f"CPU {many[1] / one[1]:.2f}"
        )
    print(f"same table for every run: {len(digests) == 1}")
    print(f"load after: {os.getloadavg()[0]:.1f}")


if __name__ == "__main__":
    main()
