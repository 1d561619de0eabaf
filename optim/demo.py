"""The main job on the bundled examples (``make demo`` / ``optim demo``).

Until the segmentation pipeline lands it runs the bundled weekly rationing example (result
document, tables, per-segment outcome and every line's reason), then the bundled
safety-stock placement and peak-capacity examples, each written to its own folder.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import optim


def _show(title: str, frame: pd.DataFrame) -> None:
    print(f"\n{title}")
    print(frame.to_string(index=False))


def run(out: Path, *, quiet: bool = False) -> int:
    """Run the demo into folder ``out``; returns the CLI exit code."""
    out.mkdir(parents=True, exist_ok=True)
    ok = True
    # 1. who gets the last pallet this week
    result = optim.solve(optim.load_example("weekly_rationing"))
    result.to_json(out / "rationing_result.json")
    result.write_tables(out / "rationing")
    ok &= result.has_solution()
    # 2. where to hold safety stock for each segment's promise
    gsm = optim.solve(optim.load_example("two_echelon_gsm"))
    gsm.to_json(out / "safety_stock_result.json")
    gsm.write_tables(out / "safety_stock")
    ok &= gsm.has_solution()
    # 3. what to build ahead of the peak
    cap = optim.solve(optim.load_example("peak_capacity"))
    cap.to_json(out / "capacity_result.json")
    cap.write_tables(out / "capacity")
    ok &= cap.has_solution()
    if not quiet:
        with pd.option_context("display.width", 160, "display.max_colwidth", 110):
            print("Weekly rationing — bundled example (instances/data/weekly_rationing.json)")
            print(result.summary())
            _show("Per segment:", result.tables["segments"])
            _show(
                "Per line, with the rule that gave its quantity:",
                result.tables["lines"][
                    ["demand_id", "segment", "requested", "allocated", "explanation"]
                ],
            )
            print("\nSafety-stock placement — bundled example (two_echelon_gsm)")
            print(gsm.summary())
            _show(
                "Per stage:",
                gsm.tables["stages"][
                    [
                        "stage",
                        "outbound_service_time",
                        "safety_stock",
                        "holding_cost",
                        "decoupling_point",
                    ]
                ],
            )
            print("\nPeak capacity — bundled example (peak_capacity)")
            print(cap.summary())
            _show("Per segment:", cap.tables["segments"])
            print(f"\nwrote result documents and tables to {out}/")
    return 0 if ok else 1
