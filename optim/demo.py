"""The main job on the bundled example (``make demo`` / ``optim demo``).

Until the segmentation pipeline lands it runs the bundled weekly rationing example: solve,
write the result document and tables, print the per-segment outcome and every line's reason.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

import optim


def run(out: Path, *, quiet: bool = False) -> int:
    """Run the demo into folder ``out``; returns the CLI exit code."""
    out.mkdir(parents=True, exist_ok=True)
    instance = optim.load_example("weekly_rationing")
    result = optim.solve(instance)
    result.to_json(out / "rationing_result.json")
    result.write_tables(out / "rationing")
    if not quiet:
        with pd.option_context("display.width", 160, "display.max_colwidth", 110):
            print("Weekly rationing — bundled example (instances/data/weekly_rationing.json)")
            print(result.summary())
            print()
            print(result.tables["segments"].to_string(index=False))
            print()
            lines = result.tables["lines"][
                ["demand_id", "segment", "requested", "allocated", "explanation"]
            ]
            print(lines.to_string(index=False))
            print(f"\nwrote {out / 'rationing_result.json'} and {out / 'rationing'}/*.csv")
    return 0 if result.has_solution() else 1
