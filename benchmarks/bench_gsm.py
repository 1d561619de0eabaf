"""Benchmark of the exact safety-stock (GSM) solver. Plain script; prints Markdown tables.

Usage (from the project root)::

    .venv/bin/python benchmarks/bench_gsm.py                 # everything, prints tables
    .venv/bin/python benchmarks/bench_gsm.py --write         # ... and writes gsm_results.md
    .venv/bin/python benchmarks/bench_gsm.py --skip-stockpyl --time-limit 30

Three parts (in this order):

1. Random trees of 1 000 stages (``instances.generators_gsm.random_tree``, seeds 0..2):
   median wall time of ``prepare`` (arrays) and of the whole ``solve`` (DP) over repeats.
   Target: <= 1 s.
2. Every Willems (2008) chain with deterministic lead times (2, 4, 13, 17, 18, 19, 23, 25,
   27, 34, 35), holding rate 0.35 × cumulative cost: stages, arcs, status, seconds, cost,
   proven gap, and the relative difference to the reported optimum (3 significant figures;
   known to be inconsistent for chains 18 and 19, see the data README).
3. The same solver against stockpyl's tree DP on a 300-stage random tree, in the same run
   (stockpyl once: it takes a minute or more). Target: >= 20x faster, equal cost.

4. ``--trees``: random trees of 5,000 stages (lead times up to 10 and 40 periods): median
   seconds of ``solve`` (tree DP), peak traced memory, and the ratio to the array-based tree
   DP this repository had before the compiled pass (loaded from git history, commit
   ``BASELINE_DP``), run on the same instances in the same process; costs must agree.
5. ``--lead-times``: all 38 chains from the XML-map export (``raw_xmlmap_csv``) under three
   lead-time treatments (``read_willems_xlsxmap(lead_times=...)``): ``stochastic`` (discrete
   distributions and std devs as given; solved with the exact quantile and, as row
   ``two-moment``, with Humair et al.'s closed form), ``mean`` and ``max`` (a normal time at
   its 95th percentile); one solve each (the 11
   deterministic chains once: the treatments coincide), status, the step that gave the bound,
   CPU and wall seconds (prepare + solve, one run), cost, bound, gap, total safety stock, and
   the safety stock reported by Humair et al. (2013) where
   ``reference_results/optimal_inventory_levels.csv`` has it; a summary line (solves, proven,
   total CPU and wall) and a table of total safety stock per treatment side by side. Replaces
   the section "All 38 Willems chains" of gsm_results.md with ``--write`` (the rest is kept).
   One command: ``.venv/bin/python benchmarks/bench_gsm.py --lead-times --time-limit 60
   --big-time-limit 60 --write``.

Peak memory: ``tracemalloc`` peak of a separate, untimed solve (Python and NumPy allocations;
HiGHS' own C++ memory is not traced), and the process high-water mark (``ru_maxrss``) after
each case, which does include HiGHS.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import resource
import statistics
import sys
import time
import tracemalloc
from pathlib import Path

from optim.instances.generators.gsm import random_tree
from optim.instances.io.gsm import read_willems, read_willems_xlsxmap, to_stockpyl
from optim.models.safety_stock import prepare
from optim.models.safety_stock.solve import solve
from optim.params import SolveParams

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "willems2008"
CHAINS = (2, 4, 13, 17, 18, 19, 23, 25, 27, 34, 35)


def median_time(fn, repeats: int) -> tuple[float, object]:
    """Median wall time of ``fn()`` over ``repeats`` calls, and the last return value."""
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def traced_peak_mib(fn) -> float:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1] / 2**20
    finally:
        tracemalloc.stop()


def maxrss_mib() -> float:
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return rss / 2**20 if sys.platform == "darwin" else rss / 2**10


def trees(repeats: int) -> list[str]:
    rows = [
        "| instance | stages | demands | prepare s (median) | solve s (median) | cost | "
        "status | traced peak MiB | maxrss MiB |",
        "|---|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    print("\n".join(rows), flush=True)
    for seed in range(3):
        inst = random_tree(1000, seed)
        t_prep, _ = median_time(lambda inst=inst: prepare(inst), repeats)
        t_solve, res = median_time(lambda inst=inst: solve(inst), repeats)
        peak = traced_peak_mib(lambda inst=inst: solve(inst))
        rows.append(
            f"| random_tree(1000, {seed}) | {len(inst.stages)} | {len(inst.demands)} | "
            f"{t_prep:.4f} | {t_solve:.4f} | {res.objective:.6g} | {res.status.value} | "
            f"{peak:.1f} | {maxrss_mib():.0f} |"
        )
        print(rows[-1], flush=True)
    return rows


def versus_stockpyl(n: int, repeats: int) -> list[str]:
    from stockpyl.gsm_tree import optimize_committed_service_times, preprocess_tree

    inst = random_tree(n, 0)
    t_ours, res = median_time(lambda: solve(inst), repeats)
    network = to_stockpyl(inst)
    t0 = time.perf_counter()
    _, cost = optimize_committed_service_times(preprocess_tree(network))
    t_sp = time.perf_counter() - t0
    rel = abs(res.objective - cost) / max(1.0, abs(cost))
    rows = [
        "| instance | stages | optim s (median) | stockpyl s (1 run) | speed-up | optim cost | "
        "stockpyl cost | rel. diff |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
        f"| random_tree({n}, 0) | {n} | {t_ours:.4f} | {t_sp:.1f} | {t_sp / t_ours:,.0f}x | "
        f"{res.objective:.10g} | {cost:.10g} | {rel:.1e} |",
    ]
    print("\n".join(rows), flush=True)
    return rows


def chains(time_limit: float, repeats: int, methods: list[str]) -> list[str]:
    reported = [
        float(v)
        for v in (DATA / "reference_results" / "reported_optimal_cost.txt").read_text().split()
    ]
    rows = [
        "| chain | stages | arcs | method | status | seconds | cost | bound | gap | reported | "
        "cost vs reported | traced peak MiB | maxrss MiB |",
        "|---:|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    print("\n".join(rows), flush=True)
    for k, method in ((k, m) for k in CHAINS for m in methods):
        params = SolveParams(time_limit=time_limit, method=method)
        inst = read_willems(DATA / "snc_converted_csv" / f"willems_{k:02d}.csv")
        t0 = time.perf_counter()
        res = solve(inst, params)
        first = time.perf_counter() - t0
        seconds = first
        if first < 5.0 and repeats > 1:  # cheap: take the median of a few more runs
            more, _ = median_time(lambda inst=inst, p=params: solve(inst, p), repeats - 1)
            seconds = statistics.median([first, more])
        peak = traced_peak_mib(lambda inst=inst, p=params: solve(inst, p)) if first < 30 else None
        ref = reported[k - 1]
        rows.append(
            f"| {k} | {len(inst.stages)} | {len(inst.arcs)} | {res.info.get('method', '?')} | "
            f"{res.status.value} | "
            f"{seconds:.3f} | {res.objective:.6g} | {res.bound:.6g} | {res.gap:.2e} | "
            f"{ref:.3g} | {(res.objective - ref) / ref:+.2%} | "
            f"{'n/a' if peak is None else f'{peak:.1f}'} | {maxrss_mib():.0f} |"
        )
        print(rows[-1], flush=True)
    return rows


LEAD_SECTION = "## All 38 Willems chains under three lead-time treatments"
#: ``two-moment``: the stochastic instance with lead_time_method="two_moment" (the closed
#: form of Humair et al. 2013, against which their figures are compared)
TREATMENTS = ("stochastic", "two-moment", "mean", "max")
TREE_SECTION = "## Trees of 5,000 stages (tree DP)"
BASELINE_DP = "0490743"  # the last commit with the array-based (numpy) tree DP


def _baseline_tree_dp():
    """The array-based tree DP of commit BASELINE_DP (from git history), or None."""
    import subprocess
    import types

    try:
        src = subprocess.run(
            ["git", "show", f"{BASELINE_DP}:models/safety_stock/dp.py"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    mod = types.ModuleType("baseline_dp")
    sys.modules["baseline_dp"] = mod  # dataclasses look their module up
    exec(compile(src, "baseline_dp.py", "exec"), mod.__dict__)
    return mod.tree_dp


def big_trees(repeats: int) -> list[str]:
    """Random trees of 5,000 stages: solve (tree DP) against the array-based baseline."""
    from optim.models.safety_stock import normalize

    base = _baseline_tree_dp()
    rows = [
        "| instance | stages | longest replenishment time | solve s (median) | baseline DP s "
        "(median) | speed-up | cost | baseline cost | traced peak MiB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    print("\n".join(rows), flush=True)
    for lead in (10, 40):
        for seed in range(2):
            inst = random_tree(5000, seed, max_lead_time=lead)
            data = prepare(inst)
            solve(inst)  # load the compiled kernels once
            t_ours, res = median_time(lambda inst=inst: solve(inst), repeats)
            if base is not None:
                t_base, dp = median_time(lambda d=data: base(d), repeats)
                b_cost = normalize(data, dp.outbound).cost
                ratio = f"{t_base / t_ours:,.1f}x"
            else:
                t_base, b_cost, ratio = float("nan"), float("nan"), "n/a"
            peak = traced_peak_mib(lambda inst=inst: solve(inst))
            rows.append(
                f"| random_tree(5000, {seed}, max_lead_time={lead}) | 5000 | "
                f"{int(data.tau_max.max())} | {t_ours:.3f} | {t_base:.3f} | {ratio} | "
                f"{res.objective:.10g} | {b_cost:.10g} | {peak:.1f} |"
            )
            print(rows[-1], flush=True)
    return rows


def lead_time_chains(time_limit: float, big_time_limit: float, only: list[int]) -> list[str]:
    """Every chain under stochastic / mean / max lead times (see the module docstring)."""
    import csv

    ref: dict[tuple[int, str], float] = {}
    with (DATA / "reference_results" / "optimal_inventory_levels.csv").open() as fh:
        for rec in csv.DictReader(fh):
            ref[(int(rec["SupplyChain"]), rec["LT"])] = float(rec["SafetyStock"])
    rows = [
        "| chain | stages | arcs | lead times | treatment | status | proof | CPU s | wall s | "
        "cost | bound | gap | total SS | SS reported (Humair et al.) |",
        "|---:|---:|---:|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    print("\n".join(rows), flush=True)
    wall_total = cpu_total = 0.0
    side: dict[int, dict[str, float]] = {}
    counts = {"solves": 0, "optimal": 0, "over": 0}
    for k in only:
        path = DATA / "raw_xmlmap_csv" / f"{k:02d}.csv"
        stoch = read_willems_xlsxmap(path, lead_times="stochastic")
        kinds = sorted(
            {
                "discrete"
                if s.lead_time_distribution
                else "normal"
                if s.lead_time_std_dev
                else "fractional"
                if float(s.lead_time) != int(s.lead_time)
                else "whole"
                for s in stoch.stages
            }
        )
        deterministic = kinds == ["whole"]
        for treatment in ("stochastic",) if deterministic else TREATMENTS:
            inst = (
                stoch
                if treatment == "stochastic"
                else stoch.model_copy(update={"lead_time_method": "two_moment"})
                if treatment == "two-moment"
                else read_willems_xlsxmap(path, lead_times=treatment)
            )
            limit = time_limit if len(inst.stages) <= 500 else big_time_limit
            t0, c0 = time.perf_counter(), time.process_time()
            res = solve(inst, SolveParams(time_limit=limit))
            seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
            wall_total += seconds
            cpu_total += cpu
            counts["solves"] += 1
            counts["optimal"] += res.status.value == "optimal"
            counts["over"] += seconds > limit
            ss = float(res.tables["stages"]["safety_stock"].sum()) if res.tables else float("nan")
            for name in TREATMENTS if deterministic else (treatment,):
                side.setdefault(k, {})[name] = ss
            label = "all (deterministic)" if deterministic else treatment
            r = ref.get((k, "stochastic" if treatment == "two-moment" else treatment))
            rows.append(
                f"| {k} | {len(inst.stages)} | {len(inst.arcs)} | {'+'.join(kinds)} | {label} | "
                f"{res.status.value} | {_proof(res.info)} | {cpu:.2f} | {seconds:.2f} | "
                f"{res.objective:.6g} | {res.bound:.6g} | {res.gap:.2e} | {ss:,.0f} | "
                f"{'' if r is None else f'{r:,.0f}'} |"
            )
            print(rows[-1], flush=True)
    tail = len(rows)
    rows += [
        "",
        f"Summary: {counts['solves']} solves, {counts['optimal']} proven optimal (gap <= 1e-6), "
        f"{counts['solves'] - counts['optimal']} stopped at the limit with the gap shown, "
        f"{counts['over']} over their limit; {cpu_total:.0f} CPU s, {wall_total:.0f} s wall "
        f"({wall_total / 60:.1f} min) in total; load average {os.getloadavg()[0]:.1f} at the "
        "end.",
        "",
        "Total safety stock per lead-time treatment, side by side (units; reported: Humair et "
        "al. 2013 where listed):",
        "",
        "| chain | stochastic (exact) | stochastic (two-moment) | mean | max | "
        "reported stochastic | reported mean | reported max |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for k, ss_by in side.items():
        cells = [f"{ss_by[t]:,.0f}" if t in ss_by else "" for t in TREATMENTS]
        names = ("stochastic", "mean", "max")
        rep = [f"{ref[(k, t)]:,.0f}" if (k, t) in ref else "" for t in names]
        rows.append(f"| {k} | {' | '.join(cells)} | {' | '.join(rep)} |")
    print("\n".join(rows[tail:]), flush=True)
    return rows


def _proof(info: dict[str, object]) -> str:
    """Which step of method "assignment" gave the final bound (or stopped)."""
    if "mip_seconds" in info:
        return "pair MIP"
    if str(info.get("lp_rounds", 0)) != "0":
        return "pair LP"
    if "branch_nodes" in info:
        return f"Lagrangian B&B ({info['branch_nodes']} nodes)"
    if "lagrangian_bound" in info:
        return "Lagrangian"
    return "forest DP" if "relaxation_bound" in info else str(info.get("method", "?"))


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--time-limit", type=float, default=60.0, help="per Willems chain")
    ap.add_argument(
        "--methods", default="auto", help="comma-separated solve methods for the chains"
    )
    ap.add_argument("--stockpyl-n", type=int, default=300)
    ap.add_argument("--skip-stockpyl", action="store_true")
    ap.add_argument("--write", action="store_true", help="write benchmarks/gsm_results.md")
    ap.add_argument(
        "--lead-times", action="store_true", help="only the 38 chains x 3 lead-time treatments"
    )
    ap.add_argument("--big-time-limit", type=float, default=120.0, help="chains > 500 stages")
    ap.add_argument("--chains", default="1-38", help="e.g. 1-38 or 1,3,22")
    ap.add_argument("--trees", action="store_true", help="only the 5,000-stage trees")
    args = ap.parse_args(argv)

    if args.trees:
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        part = [
            TREE_SECTION,
            "",
            f"Measured {stamp} by `benchmarks/bench_gsm.py --trees` (repeats={args.repeats}, "
            f"medians) on {platform.machine()}, {os.cpu_count()} CPUs shared by 8 agents, "
            f"Python {platform.python_version()}. Baseline: the array-based tree DP of commit "
            f"{BASELINE_DP}, same instances, same process.",
            "",
        ]
        print("\n".join(part), flush=True)
        part += big_trees(args.repeats)
        if args.write:
            _replace_section(TREE_SECTION, part)
        return

    if args.lead_times:
        only = _chain_list(args.chains)
        stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        part = [
            LEAD_SECTION,
            "",
            f"Measured {stamp} by `benchmarks/bench_gsm.py --lead-times` (one run per row, "
            f"time limit {args.time_limit:g} s per chain of <= 500 stages, "
            f"{args.big_time_limit:g} s above; default method) on {platform.machine()}, "
            f"{os.cpu_count()} CPUs shared by 8 agents (load average {os.getloadavg()[0]:.1f} "
            f"at the start), Python {platform.python_version()}. Rate 0.35 x cumulative cost. "
            "Seconds (wall, and CPU of the process: user + system, all threads) include "
            "building the stage tables; the first row also includes compiling the tree DP. "
            "Method `assignment` (every chain is a DAG): spanning-forest DPs and a forest local "
            "search, then the Lagrangian relaxation of the non-forest arcs (one tree DP per "
            "subgradient step), then a branch and bound on those arcs with Lagrangian node "
            "bounds, and the pair LP / MIP only if a gap remains and their set-up fits the "
            "time left. 'proof' names the last step that ran.",
            "",
        ]
        print("\n".join(part), flush=True)
        part += lead_time_chains(args.time_limit, args.big_time_limit, only)
        if args.write:
            _replace_section(LEAD_SECTION, part)
        return

    stamp = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
    header = [
        "# GSM benchmark results",
        "",
        f"Measured {stamp} by `benchmarks/bench_gsm.py` (repeats={args.repeats}, "
        f"time limit {args.time_limit:g} s per chain, methods {args.methods}) on "
        f"{platform.machine()}, "
        f"{os.cpu_count()} CPUs (shared), Python {platform.python_version()}.",
        "",
    ]
    out = [*header, "## Random trees, 1 000 stages (target <= 1 s)", ""]
    print("\n".join(out), flush=True)
    out += trees(args.repeats)
    part = ["", "## Willems (2008) chains with deterministic lead times (rate 0.35)", ""]
    print("\n".join(part), flush=True)
    out += part + chains(args.time_limit, args.repeats, args.methods.split(","))
    if not args.skip_stockpyl:  # last: stockpyl's memory would inflate maxrss of later rows
        part = ["", f"## Versus stockpyl, {args.stockpyl_n}-stage tree (target >= 20x)", ""]
        print("\n".join(part), flush=True)
        out += part + versus_stockpyl(args.stockpyl_n, args.repeats)
    if args.write:
        (ROOT / "benchmarks" / "gsm_results.md").write_text("\n".join(out) + "\n")


def _replace_section(title: str, part: list[str]) -> None:
    """Replace (or append) the section ``title`` of gsm_results.md, keeping the rest."""
    target = ROOT / "benchmarks" / "gsm_results.md"
    text = target.read_text() if target.exists() else "# GSM benchmark results\n"
    head, found, rest = text.partition(title)
    tail = rest[rest.find("\n## ") + 1 :] if found and "\n## " in rest else ""
    target.write_text(head.rstrip("\n") + "\n\n" + "\n".join(part) + "\n\n" + tail)


def _chain_list(text: str) -> list[int]:
    out: list[int] = []
    for piece in text.split(","):
        a, _, b = piece.partition("-")
        out += list(range(int(a), int(b or a) + 1))
    return out


if __name__ == "__main__":
    main()
