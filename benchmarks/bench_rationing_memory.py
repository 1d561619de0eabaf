"""What a rationing solve allocates beyond the loaded week, against ``solve.check_memory``'s
estimate (which must err low: it refuses weeks, so a false alarm would refuse a solvable one).

    python benchmarks/bench_rationing_memory.py --lines 200000 --shape dense

Prints lines, arcs, the instance's RSS, the solve's peak RSS above it (VmHWM after resetting
the peak, Linux), the estimate and their ratio (estimate / measured, below 1 when it errs low).
"""

from __future__ import annotations

import argparse
import gc
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))


def _status(key: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    raise RuntimeError(key)


def main() -> None:
    from bench_rationing import instance_frames

    import optim
    from optim.instances.rationing import RationingInstance
    from optim.models.rationing import solve
    from optim.models.rationing.arrays import prepare

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lines", type=int, default=200_000)
    ap.add_argument("--shape", choices=("sparse", "dense"), default="dense")
    args = ap.parse_args()
    week = RationingInstance.from_frames(**instance_frames(args.shape, args.lines, 0))
    p = prepare(week)
    lines, arcs = p.num_lines, p.num_arcs
    del p
    gc.collect()
    optim.solve(RationingInstance.from_frames(**instance_frames(args.shape, 50, 0)))  # kernels
    base = _status("VmRSS")
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the peak to the current RSS
    optim.solve(week).to_dict()
    used = _status("VmHWM") - base
    estimate = solve.BYTES_PER_LINE * lines + solve.BYTES_PER_ARC * arcs
    print(
        f"[{args.shape}] {lines:,} lines, {arcs:,} arcs: instance RSS {base / 2**20:,.0f} MiB, "
        f"solve peak above it {used / 2**20:,.0f} MiB, estimate {estimate / 2**20:,.0f} MiB, "
        f"ratio {estimate / used:.2f}"
    )


if __name__ == "__main__":
    main()
