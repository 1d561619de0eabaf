"""The main job (``make demo`` / ``optim demo``) and ``optim plan FOLDER``: the end-to-end
planning run.

Generates the seeded distributor example (:func:`~optim.planning.distributor.
distributor_example`: about 500 items, a plant, two DCs, six regional sites, about 200
customers, two years of weekly order history with trend, seasonality, promotions, returns
and a Q4 peak), runs segment → policy → safety stock → peak plan → rationing
(:func:`optim.planning.run`), writes the tables, result documents and ``report.html`` into
the output folder and prints a short per-segment summary. Progress goes to stderr. The
generated inputs are written too (``input/``, the planning-folder format of
:mod:`optim.planning.folder`), so ``optim plan OUT/input`` reproduces the run and a
planner sees the file layout to fill with real data.
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from optim import planning
from optim.params import SolveParams
from optim.planning.distributor import distributor_example
from optim.planning.folder import PlanningData, command_line_pins, read_folder, write_folder

__all__ = ["plan", "run", "summary"]


def _pct(x: float) -> str:
    return "—" if pd.isna(x) else f"{100 * x:.1f} %"


def summary(result: planning.PlanningRun) -> str:
    """Short plain-text summary: one line per customer segment, one per optimiser."""
    seg = result.tables["segment_summary"]
    table = pd.DataFrame(
        {
            "segment": seg["segment"],
            "customers": seg["customers"],
            "target": seg["service_level_target"].map(_pct),
            "SS cost/week": seg["safety_stock_cost_per_week"].map("{:,.0f}".format),
            "peak fill": seg["peak_fill_rate"].map(_pct),
            "peak on time": seg["peak_on_time_rate"].map(_pct),
            "short-week fill": seg["short_week_fill_rate"].map(_pct),
        }
    )
    gsm, cap, rat = result.safety_stock, result.capacity, result.rationing
    since = []
    if result.previous is not None:
        t = result.tables
        since = [
            f"since {result.previous.folder}: {len(t['changed_classes'])} class change(s), "
            f"{len(t['changed_stock'])} stock move(s) (value "
            f"{t['changed_stock']['value_change'].sum():+,.2f}), "
            f"{len(t['changed_allocation'])} allocation change(s) — see changes/"
        ]
    items = result.segmentation.items
    changes = result.segmentation.changes
    points = int(gsm.tables["stages"]["decoupling_point"].sum())
    lines_out = [
        f"optim planning run — {result.data.name}",
        f"segments: {len(items)} items "
        f"({', '.join(f'{k} {v}' for k, v in items['abc'].value_counts().sort_index().items())}"
        f"), {len(result.segmentation.customers)} customers; {len(changes)} class change(s) "
        "since last week's run",
        *since,
        "",
        table.to_string(index=False),
        "",
        f"safety stock : {gsm.status.value}, holding cost {gsm.objective:,.0f} per week "
        f"(gap {gsm.gap:.2%}), {points:,} stocking points",
    ]
    versus = result.tables.get("stock_vs_max_z")
    if versus is not None:
        total = versus[versus["location"] == "total"].iloc[0]
        lines_out.append(
            f"               critical levels: saving {total['saving_per_week']:,.0f} per week "
            f"({total['saving_share']:.1%}) against max_z (cover the strictest, "
            f"{total['holding_cost_per_week_max_z']:,.0f})"
        )
    precision = result.tables.get("simulation_precision")
    if precision is not None and len(precision):
        p = precision.iloc[0]
        lines_out.append(
            f"               simulated: {int(p['rows'] - p['misses']):,} of {int(p['rows']):,} "
            f"(item, stage, segment) targets met (median interval half-width "
            f"{100 * p['median_half_width']:.1f} points)"
        )
        below = int(p.get("groups_below_target", 0))
        if below:
            lines_out.append(
                f"               but {below:,} location x segment group(s) fall below target "
                "on average (see the report's alerts)"
            )
    if cap.has_solution():
        inv = cap.tables["inventory"].groupby("period")["prebuild"].sum()
        over = cap.tables["utilisation"]["overtime_used"].sum()
        # a plan stopped by the time limit (the lot-sizing MIP) states its gap, as the
        # safety-stock line does; an optimal LP's is 0 and left out
        gap = "" if cap.gap is None or cap.status.value == "optimal" else f" (gap {cap.gap:.2%})"
        lines_out.append(
            f"peak plan    : {cap.status.value}, cost {cap.objective:,.0f}{gap}; pre-build peaks "
            f"at {inv.max():,.0f} {result.unit} ({inv.idxmax() if len(inv) else '—'}), overtime "
            f"{over:,.0f} h"
        )
        if not result.capacity_floors:  # "optimal" is the fallback's: say it is one
            lines_out.append(
                "               the fill-rate floors cannot all be met: planned in strict "
                "priority order without floors (see the alerts)"
            )
    else:
        lines_out.append(f"peak plan    : {cap.status.value}, no plan ({cap.message})")
    if rat.has_solution():
        lines = rat.tables["lines"]
        short = int((lines["allocated"] < lines["requested"] - 1e-9).sum())
        lines_out.append(
            f"short week   : {rat.status.value}, {lines['allocated'].sum():,.0f} of "
            f"{lines['requested'].sum():,.0f} {result.unit} allocated, {short} of {len(lines)} "
            "lines short"
        )
    else:
        lines_out.append(f"short week   : {rat.status.value}, no allocation ({rat.message})")
    return "\n".join(lines_out)


def _job(
    data: PlanningData,
    out: Path,
    progress: planning.Progress,
    *,
    params: SolveParams | None,
    quiet: bool,
    stream: TextIO | None,
    command: str = "optim plan",
    write_input: bool = False,
    previous: Any = None,
) -> int:
    from optim.output import atomic_folder, check_target, hash_files

    out = Path(out)
    check_target(out)
    inputs = data.manifest_input
    if previous is not None:
        inputs["previous"] = {
            "folder": str(previous.folder),
            "input_sha256": previous.input_sha256,
        }
    if data.forecast != "statistical":
        progress.total -= 1  # no forecasting step
    from optim.planning.warmup import background
    from optim.workbook import writer_ready

    with writer_ready(), atomic_folder(out, command=command, inputs=inputs) as tmp:
        with background():  # a first run after an install compiles the kernels meanwhile
            result = planning.run(data, params=params, progress=progress, previous=previous)
        with progress.step("write tables, result documents and the HTML report"):
            if write_input:
                files = write_folder(data, tmp / "input")
                written = sorted(p for p in files.rglob("*") if p.is_file())
                inputs.update(folder="input", sha256=hash_files(written, root=files))
                # the report and workbook state the input's SHA-256, as `optim plan OUT/input`
                # states it for the same files
                names = [p.name for p in written]
                source = {"folder": "input", "files": names, "sha256": inputs["sha256"]}
                result = dataclasses.replace(
                    result, data=dataclasses.replace(result.data, source=source)
                )
            planning.write(result, tmp, atomic=False)
        paths = {"out": out, "report": out / "report.html"}
    if not quiet:
        stream = stream or sys.stdout
        print(summary(result), file=stream)
        for note in result.notes:
            print(f"\nnote: {note}", file=stream)
        print(f"\nwrote tables and {paths['report'].name} to {out}/", file=stream)
    from optim.cli import exit_code

    return max(exit_code(r) for r in (result.safety_stock, result.capacity, result.rationing))


def run(
    out: Path,
    *,
    seed: int = 2026,
    quiet: bool = False,
    stream: TextIO | None = None,
    params: SolveParams | None = None,
    **size: int,
) -> int:
    """Run the main job into folder ``out``; returns the CLI exit code.

    The folder is written atomically (:mod:`optim.output`): it appears complete, with its
    ``manifest.json``, or not at all.

    Parameters
    ----------
    out
        Output folder (created); the generated inputs go to ``out/input``.
    seed
        Seed of the example.
    quiet
        No progress and no summary.
    stream
        Where the summary goes (default stdout); progress goes to stderr.
    params
        Solver parameters (time limit …) of the three solves.
    **size
        Passed to :func:`~optim.planning.distributor.distributor_example` (e.g.
        ``n_items=60`` for a small run).
    """
    progress = planning.Progress(9, quiet=quiet)
    with progress.step("generate the example (seeded); it is written to input/"):
        data = distributor_example(seed, **size)
    return _job(
        data,
        out,
        progress,
        params=params,
        quiet=quiet,
        stream=stream,
        command=f"optim demo --seed {seed}",
        write_input=True,
    )


def plan(
    folder: Path,
    out: Path,
    *,
    quiet: bool = False,
    stream: TextIO | None = None,
    params: SolveParams | None = None,
    pins: dict[str, str] | None = None,
    previous: Path | None = None,
    pin_origins: dict[str, str] | None = None,
) -> int:
    """Run the planning chain on a planning folder (:mod:`optim.planning.folder`);
    ``pins`` (customer → segment, e.g. from ``--pin``) win over the folder's pins, checked
    against the folder first (errors name ``pin_origins[customer]``, e.g. ``--pin X=Y``);
    ``previous``: last week's output folder to compare with (:mod:`optim.planning.compare`),
    read and checked before any work."""
    progress = planning.Progress(9, quiet=quiet)
    with progress.step(f"read and check {folder}"):
        data = read_folder(folder)
        last = None
        if previous is not None:
            from optim.planning.compare import check_previous, read_previous

            last = read_previous(previous)
            check_previous(last, data)
        if pins:
            data = command_line_pins(data, pins, pin_origins or {})
    return _job(data, out, progress, params=params, quiet=quiet, stream=stream, previous=last)
