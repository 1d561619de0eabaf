"""Benchmark: forecasts + 3-origin backtest + conformal intervals of 50,000 weekly series.

Series (item × segment × location, 104 weeks) follow the demand-pattern mix that
``optim forecast`` finds on the demo's distributor history at that granularity (87.6 %
intermittent, 11.6 % lumpy, 0.5 % smooth, 0.4 % erratic; seasonal smooth/erratic series,
Bernoulli × gamma intermittent and lumpy ones). Each repetition runs the chosen methods
(CrostonSBA / TSB / MSTL) through :func:`optim.forecasting.core.forecast_arrays` with
``--jobs`` worker processes, and the baseline: the same pipeline with seasonal naïve for
every series, in the same process. Prints median wall time, peak memory (max RSS of the
parent and of the largest worker), CPU seconds (parent + workers: on a shared machine
CPU-s / jobs is what the wall time would be on idle cores) and the ratio to the baseline.
No tracemalloc: tracing every allocation made the parent's CPU 2.0-2.5x (measured at 5,000
series, one process: 3.5 CPU-s untraced, 8.5 traced); earlier figures traced the parent's
share (baseline, metrics, intervals, collecting the workers' results), not the workers.

    .venv/bin/python benchmarks/bench_forecast.py [--series 50000] [--reps 3] [--jobs 2]
        [--phases 1000]   (CPU per phase and per method on a sample; --reps 0: only that)
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import time

import numpy as np

from optim.forecasting.core import forecast_arrays
from optim.forecasting.methods import choose_method

MIX = {"intermittent": 0.876, "lumpy": 0.116, "smooth": 0.005, "erratic": 0.003}


def generate(n: int, weeks: int, seed: int = 0) -> tuple[list[np.ndarray], list[str]]:
    rng = np.random.default_rng(seed)
    kinds = rng.choice(list(MIX), size=n, p=np.array(list(MIX.values())) / sum(MIX.values()))
    t = np.arange(weeks)
    ys, patterns = [], []
    for kind in kinds:
        if kind in ("smooth", "erratic"):
            level = rng.uniform(50, 150)
            noise = 0.1 if kind == "smooth" else 0.6
            season = 1 + 0.4 * np.sin(2 * np.pi * t / 52 + rng.uniform(0, 6.3))
            y = level * season * np.maximum(rng.normal(1, noise, weeks), 0)
        else:
            p = rng.uniform(0.05, 0.6)
            shape = 4.0 if kind == "intermittent" else 0.8
            y = (rng.random(weeks) < p) * rng.gamma(shape, 20 / shape, weeks)
        ys.append(np.round(y, 1))
        patterns.append(str(kind))
    return ys, patterns


def _cpu() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def run(ys: list[np.ndarray], methods: list[str], jobs: int) -> tuple[float, float]:
    """Wall seconds and CPU seconds (this process + its finished workers) of one run."""
    start, cpu = time.perf_counter(), _cpu()
    forecast_arrays(ys, methods, horizon=13, level=0.9, origins=3, step=4, n_jobs=jobs)
    return time.perf_counter() - start, _cpu() - cpu


def phases(ys: list[np.ndarray], methods: list[str], sample: int) -> dict[str, float]:
    """CPU seconds per series of each phase, measured in this process (no workers) on the
    first ``sample`` series: final fits, the 3 backtest origins' fits, and the rest of
    :func:`forecast_arrays` (seasonal-naive baseline, scales, conformal intervals, metrics)."""
    from optim.forecasting.engine import backtest_origins, fit_series

    y, m = np.asarray(ys[:sample], dtype=float), methods[:sample]
    ends, hb = backtest_origins(y.shape[1], 13, 3, 4)
    t0 = time.process_time()
    for row, meth in zip(y, m, strict=True):
        fit_series(row, meth, 13, [], 0, 52)
    t1 = time.process_time()
    for row, meth in zip(y, m, strict=True):
        fit_series(row, meth, 13, ends, hb, 52)
    t2 = time.process_time()
    forecast_arrays(list(y), m, horizon=13, level=0.9, origins=3, step=4, n_jobs=1)
    t3 = time.process_time()
    n = len(y)
    final, with_bt, total = (t1 - t0) / n, (t2 - t1) / n, (t3 - t2) / n
    out = {"final fits": final, "backtest fits": with_bt - final, "rest": total - with_bt}
    for name in sorted(set(m)):  # all four fits of one series, per method
        rows = [row for row, meth in zip(y, m, strict=True) if meth == name]
        t = time.process_time()
        for row in rows:
            fit_series(row, name, 13, ends, hb, 52)
        out[f"{name} ({len(rows)})"] = (time.process_time() - t) / len(rows)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, default=50_000)
    ap.add_argument("--weeks", type=int, default=104)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument(
        "--phases", type=int, default=0, help="also time the phases on this many series"
    )
    args = ap.parse_args()
    ys, patterns = generate(args.series, args.weeks)
    methods = [choose_method(None, p, args.weeks, 52)[0] for p in patterns]
    counts = {m: methods.count(m) for m in sorted(set(methods))}
    print(f"{args.series} series × {args.weeks} weeks, methods {counts}, jobs {args.jobs}")
    import statsforecast.models  # noqa: F401  (import cost is not part of a run)

    if args.phases:
        per = phases(ys, methods, args.phases)
        print(f"phases on {args.phases} series, CPU-s per series (x {args.series:,} series):")
        for name, sec in list(per.items())[:3]:
            print(f"  {name:<14} {sec * 1e3:7.3f} ms  ({sec * args.series:6.1f} CPU-s)")
        print("  per method, final + backtest fits of one series of that method:")
        for name, sec in list(per.items())[3:]:
            print(f"  {name:<20} {sec * 1e3:8.3f} ms")
    if args.reps == 0:
        return
    ours, base = [], []
    for _ in range(args.reps):
        ours.append(run(ys, methods, args.jobs))
        base.append(run(ys, ["SeasonalNaive"] * len(ys), args.jobs))
        print(
            f"  run: chosen methods {ours[-1][0]:.1f} s wall / {ours[-1][1]:.1f} CPU-s, "
            f"seasonal naive {base[-1][0]:.1f} s wall / {base[-1][1]:.1f} CPU-s"
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    t_ours = statistics.median(w for w, _ in ours)
    t_base = statistics.median(w for w, _ in base)
    c_ours = statistics.median(c for _, c in ours)
    c_base = statistics.median(c for _, c in base)
    print(
        f"median {t_ours:.1f} s wall, {c_ours:.1f} CPU-s (seasonal-naive baseline {t_base:.1f} s "
        f"wall, {c_base:.1f} CPU-s; ratio {t_ours / t_base:.2f} wall, {c_ours / c_base:.2f} CPU); "
        f"peak memory: parent {peak:.0f} MiB (max RSS), largest worker {children:.0f} MiB "
        f"(max RSS); load average at the end {os.getloadavg()[0]:.1f}"
    )


if __name__ == "__main__":
    main()
