"""Benchmark of ``optim demo`` as a planner runs it, on a cold and a warm numba cache (a script).

Each repeat runs ``optim demo --out DIR --quiet`` in a fresh process: ``cold`` with an empty
``NUMBA_CACHE_DIR`` (as after a plain ``pip install``: the kernels are compiled, on the
second core by the background warm-up, :mod:`optim.planning.warmup`), then ``warm`` with the
cache the cold run left. Measured per run: wall clock, CPU seconds (user + system of the
demo and every process it started and waited for), peak resident memory of the largest
process, the 1-minute load average before and after (a shared machine shows here), and the
SHA-256 over the output folder's files but ``manifest.json`` (the same for every run).
Medians are printed per kind. The target (issue 12): a cold first demo <= 30 s wall on an
idle 2-core machine.

Run: ``.venv/bin/python benchmarks/bench_demo.py [--repeats 3] [--kinds cold,warm]``.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

OPTIM = Path(sys.executable).with_name("optim")


def folder_hash(out: Path) -> str:
    """The output's hash as the shell gives it (``manifest.json`` aside: it has the time)."""
    cmd = "find . -type f ! -name manifest.json | sort | xargs sha256sum | sha256sum"
    return subprocess.run(
        ["bash", "-c", cmd], cwd=out, check=True, capture_output=True, text=True
    ).stdout.split()[0]


def one(cache: Path, out: Path) -> dict[str, float | str]:
    shutil.rmtree(out, ignore_errors=True)
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    load0 = os.getloadavg()[0]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([str(OPTIM), "demo", "--out", str(out), "--quiet"], env=env, check=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return {
        "wall": wall,
        "cpu": cpu,
        "rss_mib": after.ru_maxrss / 1024,
        "load": f"{load0:.1f}-{os.getloadavg()[0]:.1f}",
        "sha256": folder_hash(out)[:12],
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--kinds", default="cold,warm", help="cold, warm or both (default)")
    args = ap.parse_args()
    kinds = args.kinds.split(",")
    runs: dict[str, list[dict[str, float | str]]] = {kind: [] for kind in kinds}
    with tempfile.TemporaryDirectory(prefix="bench-demo-") as tmp:
        cache, out = Path(tmp) / "numba", Path(tmp) / "out"
        for _ in range(args.repeats):
            for kind in kinds:
                if kind == "cold":
                    shutil.rmtree(cache, ignore_errors=True)
                elif not cache.exists():  # warm: a cache filled by one demo first
                    one(cache, out)
                got = one(cache, out)
                runs[kind].append(got)
                print(
                    kind, {k: round(v, 2) if isinstance(v, float) else v for k, v in got.items()}
                )
    for kind, rows in runs.items():
        wall = statistics.median(float(r["wall"]) for r in rows)
        cpu = statistics.median(float(r["cpu"]) for r in rows)
        hashes = sorted({str(r["sha256"]) for r in rows})
        print(
            f"{kind}: median wall {wall:.1f} s, CPU {cpu:.1f} s over {len(rows)} run(s); "
            f"load {', '.join(str(r['load']) for r in rows)}; output sha256 {hashes}"
        )


if __name__ == "__main__":
    main()
