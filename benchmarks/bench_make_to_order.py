"""Benchmark of the make-to-order promises (issue 11) on the demo's data (a script).

The demo's seeded distributor example (seed 2026) is segmented as the planning run does it;
its lumpy items whose policy offers make-to-order (:func:`optim.planning.builders.
make_to_order_items`) get their promise rows (path laws, quantile per item × location, one
simulation of :data:`~optim.planning.replenishment.MTO_ORDERS` orders per distinct path) and
the path table (:func:`~optim.planning.replenishment.make_to_order_paths`), twice:

* ``template`` (the baseline): no receipts, every stage's lead time fixed by the template;
* ``lanes``: receipts-like lead-time distributions (52 seeded normal draws in whole days) on
  the Plant (14 ± 3 d) and DC-North (7 ± 1 d) lanes, so the laws are convolutions.

Printed: rows, medians over ``--repeats`` of CPU seconds (process time) and wall seconds,
the ratio lanes / template, and the peak traced memory (``tracemalloc``) of one lanes call.

Run: ``.venv/bin/python benchmarks/bench_make_to_order.py [--repeats 5]``.
"""

from __future__ import annotations

import argparse
import os
import time
import tracemalloc

import numpy as np
import pandas as pd

from optim.planning.builders import make_to_order_demands, make_to_order_items
from optim.planning.distributor import distributor_example
from optim.planning.replenishment import MTO_ORDERS, _make_to_order_rows, make_to_order_paths
from optim.segmentation import PolicyTable, SegmentationConfig, segment


def _lane(rng: np.random.Generator, mean: float, sd: float, n: int = 52) -> list[dict]:
    days, counts = np.unique(np.maximum(0, np.round(rng.normal(mean, sd, n))), return_counts=True)
    return [{"value": d / 7.0, "probability": c / n} for d, c in zip(days, counts, strict=True)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    data = distributor_example(2026)
    policy = PolicyTable.model_validate(data.policy) if data.policy is not None else None
    seg = segment(data.history, config=SegmentationConfig(policy=policy) if policy else None)
    items = make_to_order_items(seg)
    cells = make_to_order_demands(seg, data.network, items)
    labels = seg.item_policy()[["item", "abc", "pattern", "forecasting", "review_frequency"]]
    rng = np.random.default_rng(0)
    cases = {"template": None, "lanes": {"Plant": _lane(rng, 14, 3), "DC-North": _lane(rng, 7, 1)}}

    def once(lanes):
        rows, _ = _make_to_order_rows(cells, labels, 7.0, {}, data.network, lanes, MTO_ORDERS, 0)
        make_to_order_paths(pd.DataFrame(rows), data.network, lanes, 7.0)
        return rows

    print(f"load average before: {os.getloadavg()}")
    medians = {}
    for name, lanes in cases.items():
        once(lanes)  # warm-up
        runs = []
        for _ in range(args.repeats):
            c0, w0 = time.process_time(), time.perf_counter()
            rows = once(lanes)
            runs.append((time.process_time() - c0, time.perf_counter() - w0))
        medians[name] = np.median(runs, axis=0)
        print(
            f"{name}: {len(items)} make-to-order items, {len(rows)} item x location rows: "
            f"median CPU {medians[name][0]:.3f} s, wall {medians[name][1]:.3f} s"
        )
    print(f"ratio lanes / template: CPU {medians['lanes'][0] / medians['template'][0]:.2f}")
    tracemalloc.start()
    once(cases["lanes"])
    print(f"peak traced memory (lanes): {tracemalloc.get_traced_memory()[1] / 2**20:.1f} MiB")
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
