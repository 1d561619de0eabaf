"""Scale benchmark of the capacity model (a script, not a timed test).

Default size: 52 weeks × 2,000 products × 50 resources × 4 segments (≈ 416,000 demand rows).
Measures, in one run:

* ``generate``: building and validating the instance (pydantic) from the seeded generator;
* ``solve``: :func:`optim.models.capacity.solve.solve` end to end (arrays, build, HiGHS, tables);
* ``raw``: the same LP(s) handed to highspy directly (``passModel`` of ready arrays + ``run``,
  same options, same thread pool) — the floor that any wrapper pays;
* the ratio ``solve / raw`` and the peak resident memory of the process;
* wall-clock *and* CPU seconds of each (the CPU time of the process, all threads), and the
  load average before and after: on a machine shared with other jobs the wall clock
  measures the neighbours as much as the code, CPU seconds much less so.

``--repeats N`` runs the solve and the raw baseline N times each and prints every run and the
medians. ``--coupled`` (= ``--families 0``) is issue 9's coupled instance: every product draws
its 1–3 resources from all 50, so the LP does not decompose; its baseline is one raw-highspy
IPM solve (IPX + crossover, as optim's fast path uses for LPs of ``LARGE_LP`` columns or
more), while optim's solve takes the block-angular interior point
(:mod:`optim.models.capacity.blockipm`) for coupled blocks of ``BLOCK_IPM_PRODUCTS`` products
or more: each run line names optim's LP method, its objective's relative difference to the
raw IPX + crossover answer and the CPU ratio (the comparable figure on a shared machine).

``--variants V,V`` (coupled instance only) also times raw-highspy variants of the one LP,
each against the IPX + crossover baseline of the same run: ``nocrossover`` (IPX alone),
``dualize0`` / ``dualize2`` / ``dualize3`` (``ipx_dualize_strategy``), ``simplex`` (dual
simplex) and ``working-set`` — IPX on the LP keeping only the capacity rows that bind at the
baseline's optimum (nonzero dual): a relaxation whose optimum is feasible and hence optimal,
i.e. the best a capacity-row working set could do with the set known in hindsight.

Run: ``.venv/bin/python benchmarks/bench_capacity.py [--families 10] [--threads 2]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace

import highspy
import numpy as np
from scipy.sparse import csr_matrix

from optim.instances.generators.capacity import generate
from optim.models.capacity import decompose, from_instance
from optim.models.capacity.lp import build
from optim.models.capacity.solve import LARGE_LP, solve
from optim.params import SolveParams


def raw_solve(lp, options: dict, time_limit: float) -> float:
    """highspy only: pass the arrays and run; returns the objective."""
    return float(raw_highs(lp, options, time_limit).getInfo().objective_function_value)


def raw_highs(lp, options: dict, time_limit: float):
    """highspy only: pass the arrays and run; returns the solved ``Highs``."""
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
    return h


VARIANTS = {
    "nocrossover": {"solver": "ipm", "run_crossover": "off"},
    "dualize0": {"solver": "ipm", "ipx_dualize_strategy": 0},
    "dualize2": {"solver": "ipm", "ipx_dualize_strategy": 2},
    "dualize3": {"solver": "ipm", "ipx_dualize_strategy": 3},
    "simplex": {"solver": "simplex"},
}


def variants(model, names: list[str], time_limit: float) -> None:
    """Time raw-highspy variants of the coupled LP against IPX + crossover (see the doc)."""
    lp = model.lp
    h, wall, cpu = _timed(lambda: raw_highs(lp, {"solver": "ipm"}, time_limit))
    base = h.getInfo().objective_function_value
    print(f"variant ipx+crossover (baseline): {base:.10g}, {wall:.2f} s wall / {cpu:.2f} s CPU")
    for name in names:
        sub = lp
        if name == "working-set":
            nr, nt = len(model.data.resources), len(model.data.periods)
            dual = np.asarray(h.getSolution().row_dual)
            rows = model.cap_row0 + np.arange(nr * nt)
            keep = np.ones(lp.num_rows, dtype=bool)
            keep[rows[np.abs(dual[rows]) <= 1e-9]] = False
            a = csr_matrix((lp.data, lp.indices, lp.indptr), shape=(lp.num_rows, lp.num_cols))
            a = a[keep]
            sub = replace(
                lp,
                indptr=a.indptr.astype(np.int64),
                indices=a.indices.astype(np.int64),
                data=a.data,
                row_lower=lp.row_lower[keep],
                row_upper=lp.row_upper[keep],
            )
            print(f"  working set: {int(np.sum(keep[rows]))} of {nr * nt} capacity rows bind")
        opts = VARIANTS.get(name, {"solver": "ipm"})
        hv, wall_v, cpu_v = _timed(lambda s=sub, o=opts: raw_highs(s, o, time_limit))
        obj = hv.getInfo().objective_function_value
        print(
            f"variant {name}: {hv.modelStatusToString(hv.getModelStatus())}, {obj:.10g} "
            f"(rel diff {abs(obj - base) / max(1.0, abs(base)):.1e}), {wall_v:.2f} s wall / "
            f"{cpu_v:.2f} s CPU, CPU ratio to the baseline {cpu_v / max(cpu, 1e-9):.2f}",
            flush=True,
        )


def _timed(fn):
    """``(result, wall seconds, CPU seconds of this process)`` of ``fn()``."""
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--periods", type=int, default=52)
    ap.add_argument("--products", type=int, default=2000)
    ap.add_argument("--resources", type=int, default=50)
    ap.add_argument("--segments", type=int, default=4)
    ap.add_argument("--families", type=int, default=10, help="0 = one coupled block")
    ap.add_argument("--coupled", action="store_true", help="the coupled instance (families 0)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--time-limit", type=float, default=600.0)
    ap.add_argument(
        "--variants",
        default="",
        help="comma-separated raw-highspy variants of the coupled LP: "
        + ", ".join([*VARIANTS, "working-set"]),
    )
    ap.add_argument("--skip-solve", action="store_true", help="only the variants")
    args = ap.parse_args()
    if args.coupled:
        args.families = 0

    load0 = os.getloadavg()
    inst, t_gen, _ = _timed(
        lambda: generate(
            n_periods=args.periods,
            n_products=args.products,
            n_resources=args.resources,
            n_segments=args.segments,
            seed=args.seed,
            n_families=args.families or None,
        )
    )
    params = SolveParams(threads=args.threads, time_limit=args.time_limit)
    # raw highspy on the same LP blocks (arrays built outside the timing)
    data = from_instance(inst)
    parts = decompose.components(data) if args.families else [np.arange(len(data.products))]
    lps = [build(decompose.block(data, p).data).lp for p in parts]

    def raw() -> list[float]:
        with ThreadPoolExecutor(max_workers=args.threads) as pool:
            return list(
                pool.map(
                    lambda lp: raw_solve(
                        lp, {"solver": "ipm"} if lp.num_cols >= LARGE_LP else {}, args.time_limit
                    ),
                    lps,
                )
            )

    if args.variants:
        if len(parts) != 1:
            raise SystemExit("--variants needs the coupled instance (--coupled)")
        variants(build(data), args.variants.split(","), args.time_limit)
        if args.skip_solve:
            return
    runs = []
    for n in range(args.repeats):
        res, ws, cs = _timed(lambda: solve(inst, params))
        objs, wr, cr = _timed(raw)
        runs.append((ws, cs, wr, cr))
        shown = "none" if res.objective is None else f"{res.objective:.10g}"
        rel = (
            "-"
            if res.objective is None
            else f"{abs(res.objective - sum(objs)) / max(1.0, abs(sum(objs))):.1e}"
        )
        print(
            f"run {n + 1}: optim {ws:.2f} s wall / {cs:.2f} s CPU, raw {wr:.2f} s wall / "
            f"{cr:.2f} s CPU, ratio {ws / wr:.3f} wall / {cs / max(cr, 1e-9):.3f} CPU; status "
            f"{res.status.value}, objective {shown}, raw {sum(objs):.10g} (rel diff {rel}); "
            f"optim's LP method: {res.info.get('lp_algorithm')}"
            + "".join(
                f", {k} {res.info[k]:.3g}"
                for k in (
                    "ipm_iterations",
                    "ipm_gap",
                    "ipm_primal_infeasibility",
                    "ipm_dual_infeasibility",
                )
                if k in res.info
            ),
            flush=True,
        )
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load1 = os.getloadavg()
    med = [statistics.median(r[i] for r in runs) for i in range(4)]

    print(
        f"size: {args.periods} periods x {args.products} products x {args.resources} resources "
        f"x {args.segments} segments, {len(inst.demand)} demand rows, "
        f"{len(parts)} block(s), threads={args.threads}"
    )
    print(
        f"LP: {res.info.get('num_cols')} cols, {res.info.get('num_rows')} rows, "
        f"{res.info.get('num_nonzeros')} nonzeros"
    )
    print(f"generate+validate: {t_gen:.2f} s")
    print(
        f"median of {args.repeats}: optim solve end to end {med[0]:.2f} s wall "
        f"({med[1]:.2f} s CPU); raw highspy (passModel+run, same LPs) {med[2]:.2f} s wall "
        f"({med[3]:.2f} s CPU); ratio solve/raw {med[0] / med[2]:.3f} wall, "
        f"{med[1] / max(med[3], 1e-9):.3f} CPU"
    )
    print(f"end to end incl. generate (median): {t_gen + med[0]:.2f} s")
    print(f"peak RSS of the process: {peak_mb:.0f} MiB")
    print(
        f"load average (1, 5, 15 min) before {load0[0]:.1f} {load0[1]:.1f} {load0[2]:.1f}, "
        f"after {load1[0]:.1f} {load1[1]:.1f} {load1[2]:.1f} on {os.cpu_count()} cores "
        "(machine shared with other jobs)"
    )


if __name__ == "__main__":
    main()
