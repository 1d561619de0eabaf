"""Scale benchmark of the capacity model (a script, not a timed test).

Default size: 52 weeks × 2,000 products × 50 resources × 4 segments (≈ 416,000 demand rows).
Measures, in one run:

* ``generate``: building and validating the instance (pydantic) from the seeded generator;
* ``solve``: :func:`optim.models.capacity.solve.solve` end to end (arrays, build, HiGHS, tables);
* ``raw``: the same LP(s) handed to highspy directly (``passModel`` of ready arrays + ``run``,
  same options, same thread pool) — the floor that any wrapper pays;
* the ratio ``solve / raw`` and the peak resident memory of the process.

Run: ``.venv/bin/python benchmarks/bench_capacity.py [--families 10] [--threads 2]``.
``--families 0`` makes every product draw its resources from all 50 (one coupled LP).
"""

from __future__ import annotations

import argparse
import resource
import time
from concurrent.futures import ThreadPoolExecutor

import highspy
import numpy as np

from optim.instances.generators.capacity import generate
from optim.models.capacity import decompose, from_instance
from optim.models.capacity.lp import build
from optim.models.capacity.solve import LARGE_LP, solve
from optim.params import SolveParams


def raw_solve(lp, options: dict, time_limit: float) -> float:
    """highspy only: pass the arrays and run; returns the objective."""
    h = highspy.Highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("threads", 0)  # same scheduler as the solve above
    h.setOptionValue("time_limit", time_limit)
    for k, v in options.items():
        h.setOptionValue(k, v)
    m = highspy.HighsLp()
    m.num_col_, m.num_row_ = lp.num_cols, lp.num_rows
    m.col_cost_, m.col_lower_, m.col_upper_ = lp.cost, lp.col_lower, lp.col_upper
    m.row_lower_, m.row_upper_, m.offset_ = lp.row_lower, lp.row_upper, lp.offset
    m.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    m.a_matrix_.start_ = lp.indptr.astype(np.int32)
    m.a_matrix_.index_ = lp.indices.astype(np.int32)
    m.a_matrix_.value_ = lp.data
    h.passModel(m)
    h.run()
    return h.getInfo().objective_function_value


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--periods", type=int, default=52)
    ap.add_argument("--products", type=int, default=2000)
    ap.add_argument("--resources", type=int, default=50)
    ap.add_argument("--segments", type=int, default=4)
    ap.add_argument("--families", type=int, default=10, help="0 = one coupled block")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--time-limit", type=float, default=600.0)
    args = ap.parse_args()

    t0 = time.perf_counter()
    inst = generate(
        n_periods=args.periods,
        n_products=args.products,
        n_resources=args.resources,
        n_segments=args.segments,
        seed=args.seed,
        n_families=args.families or None,
    )
    t_gen = time.perf_counter() - t0
    params = SolveParams(threads=args.threads, time_limit=args.time_limit)
    t0 = time.perf_counter()
    res = solve(inst, params)
    t_solve = time.perf_counter() - t0

    # raw highspy on the same LP blocks (arrays built outside the timing)
    data = from_instance(inst)
    parts = decompose.components(data) if args.families else [np.arange(len(data.products))]
    lps = [build(decompose.block(data, p).data).lp for p in parts]
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=args.threads) as pool:
        objs = list(
            pool.map(
                lambda lp: raw_solve(
                    lp, {"solver": "ipm"} if lp.num_cols >= LARGE_LP else {}, args.time_limit
                ),
                lps,
            )
        )
    t_raw = time.perf_counter() - t0
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

    print(
        f"size: {args.periods} periods x {args.products} products x {args.resources} resources "
        f"x {args.segments} segments, {len(inst.demand)} demand rows, "
        f"{len(parts)} block(s), threads={args.threads}"
    )
    print(
        f"LP: {res.info.get('num_cols')} cols, {res.info.get('num_rows')} rows, "
        f"{res.info.get('num_nonzeros')} nonzeros"
    )
    shown = "none" if res.objective is None else f"{res.objective:.10g}"
    print(f"status: {res.status.value}  objective: {shown}  raw: {sum(objs):.10g}")
    print(f"generate+validate: {t_gen:.2f} s")
    print(f"optim.models.capacity.solve.solve end to end: {t_solve:.2f} s")
    print(f"raw highspy (passModel+run, same LPs): {t_raw:.2f} s")
    print(f"ratio solve/raw: {t_solve / t_raw:.3f}")
    print(f"end to end incl. generate: {t_gen + t_solve:.2f} s")
    print(f"peak RSS: {peak_mb:.0f} MiB")


if __name__ == "__main__":
    main()
