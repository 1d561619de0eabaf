"""CLI start-up and `optim validate` of a 10^6-line planning folder (issue 12).

Fresh processes; medians of N runs. Baseline measured in the same run: `python -c pass`
(interpreter start-up with this environment's site packages). Targets: --version, schema
and validate of a small document or of the demo's planning folder within 0.5 s; validate
of a folder with 10^6 history lines within 5 s. Both folders are also timed through
read_folder (pandas), the path `optim validate` took before they were checked in plain
Python (and still takes for a folder the plain check declines).

    .venv/bin/python benchmarks/bench_cli.py [--runs 5] [--lines 1000000] [--folder DIR]
        [--startup-only]

CPU seconds (user + sys) are printed beside wall: on a shared, loaded machine wall time
is mostly waiting for a core.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
OPTIM = [sys.executable, "-m", "optim.cli"]
READ_SUMMARY = [
    sys.executable,
    "-c",
    "import sys; from optim.planning.folder_check import read_summary; "
    "print(read_summary(sys.argv[1]))",
]


CPU: dict[str, float] = {}
"""Median CPU seconds (user + sys) of the last :func:`_time` call per command label."""


def _time(argv: list[str], runs: int) -> tuple[float, int]:
    """Median wall seconds and peak RSS (KiB) of ``argv``; the median CPU seconds (user +
    sys, which a loaded machine inflates far less than wall) go to ``CPU[argv joined]``."""
    times, cpu, peak = [], [], 0
    for _ in range(runs):
        start = time.perf_counter()
        proc = subprocess.run(
            ["/usr/bin/time", "-f", "%M %U %S", *argv], capture_output=True, text=True, check=False
        )
        times.append(time.perf_counter() - start)
        assert proc.returncode == 0, proc.stderr
        mem, user, system = proc.stderr.strip().splitlines()[-1].split()
        peak = max(peak, int(mem))
        cpu.append(float(user) + float(system))
    CPU[" ".join(argv)] = statistics.median(cpu)
    return statistics.median(times), peak


def big_folder(folder: Path, lines: int) -> Path:
    """The demo's planning folder with its history tiled to ``lines`` order lines (dates kept
    within the demo's two years, customers renamed per copy)."""
    from optim.planning.distributor import distributor_example
    from optim.planning.folder import write_folder

    data = distributor_example(2026)
    history = data.history
    copies = -(-lines // len(history))
    parts = [
        history.assign(customer=history["customer"] + (f"-{k}" if k else ""))
        for k in range(copies)
    ]
    big = pd.concat(parts, ignore_index=True).head(lines)
    import dataclasses

    return write_folder(dataclasses.replace(data, history=big), folder)


def small_folder(folder: Path) -> Path:
    """The demo's planning folder (the example's 2026 data as `optim demo` writes it)."""
    from optim.planning.distributor import distributor_example
    from optim.planning.folder import write_folder

    return write_folder(distributor_example(2026), folder)


def _startup(runs: int, base: float, base_cpu: float, data: Path, small: Path) -> None:
    """Time every start-up command (medians of ``runs`` fresh processes)."""
    example = str(data / "two_echelon_gsm.json")
    load = os.getloadavg()[0]
    for label, argv in (
        ("optim --version", [*OPTIM, "--version"]),
        ("optim schema safety_stock", [*OPTIM, "schema", "safety_stock"]),
        ("optim schema rationing", [*OPTIM, "schema", "rationing"]),
        ("optim schema capacity", [*OPTIM, "schema", "capacity"]),
        ("optim schema plan", [*OPTIM, "schema", "plan"]),
        ("optim schema result-rationing", [*OPTIM, "schema", "result-rationing"]),
        ("optim validate two_echelon_gsm.json", [*OPTIM, "validate", example]),
        # every kind's document (audit r12a: rationing and capacity import pandas here)
        *(
            (f"optim validate {name}.json", [*OPTIM, "validate", str(data / f"{name}.json")])
            for name in ("weekly_rationing", "peak_capacity")
        ),
        # the demo's planning folder: plain Python (optim.planning.folder_check), and as
        # read_folder reads it with pandas (the path before; errors and big folders go there)
        ("optim validate the demo's planning folder", [*OPTIM, "validate", str(small)]),
        ("  the same folder through read_folder", [*READ_SUMMARY, str(small)]),
    ):
        t, mem = _time(argv, runs)
        c = CPU[" ".join(argv)]
        print(
            f"{label:40s} median {t:.2f} s wall (+{t - base:.2f} s over baseline, ratio "
            f"{t / base:.2f}), {c:.2f} s CPU (+{c - base_cpu:.2f}), peak {mem / 1024:.0f} MiB"
        )
    print(f"load average {load:.1f} before, {os.getloadavg()[0]:.1f} after (2 cores)")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--lines", type=int, default=1_000_000)
    ap.add_argument("--folder", help="a big folder written earlier (skips generating it)")
    ap.add_argument("--startup-only", action="store_true", help="skip the big folder")
    args = ap.parse_args()
    data = ROOT / "instances" / "data"
    base, base_mem = _time([sys.executable, "-c", "pass"], args.runs)
    base_cpu = CPU[f"{sys.executable} -c pass"]
    print(
        f"baseline python -c pass: median {base:.2f} s wall, {base_cpu:.2f} s CPU, peak "
        f"{base_mem / 1024:.0f} MiB"
    )
    with tempfile.TemporaryDirectory() as tmp:
        small = small_folder(Path(tmp) / "demo")
        _startup(args.runs, base, base_cpu, data, small)
    if args.startup_only:
        return
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(args.folder) if args.folder else big_folder(Path(tmp) / "big", args.lines)
        size = sum(p.stat().st_size for p in folder.iterdir()) / 2**20
        with (folder / "history.csv").open("rb") as f:
            lines = sum(1 for _ in f) - 1
        argv = [*OPTIM, "validate", str(folder)]
        load = os.getloadavg()[0]
        t, mem = _time(argv, args.runs)
        print(
            f"optim validate FOLDER ({lines:,} history lines, {size:,.0f} MiB): median "
            f"{t:.2f} s wall (+{t - base:.2f} s over baseline), {CPU[' '.join(argv)]:.2f} s "
            f"CPU, peak {mem / 1024:.0f} MiB; load average {load:.1f} before, "
            f"{os.getloadavg()[0]:.1f} after (2 cores)"
        )
        argv = [*READ_SUMMARY, str(folder)]
        t, mem = _time(argv, args.runs)
        print(
            f"  the same folder through read_folder: median {t:.2f} s wall, "
            f"{CPU[' '.join(argv)]:.2f} s CPU, peak {mem / 1024:.0f} MiB"
        )


if __name__ == "__main__":
    main()
