"""Many solves at once: a list of instances, or what-if scenarios of one (``optim batch``).

Scenarios are the grid of three what-ifs applied to one instance document:

* ``demand`` — every demand quantity × f (rationing order lines and contractual minimums,
  capacity demand, safety-stock demand mean and standard deviation);
* ``capacity_cut`` — y % less capacity: rationing supply, capacity resources' regular
  capacity (overtime stays: the cut is the planner's lever, overtime the answer);
* ``disruption`` — ``WHERE:FRACTION``: a location's supply (rationing) or a resource's
  capacity and overtime capacity (capacity: the line is down that fraction of the time)
  lose that fraction.

Each solve is one piece of :func:`optim.executor.fan_out` (local processes or a Dask cluster),
and every result is written as ``<name>.result.json`` (the bytes ``optim solve --out`` writes)
plus one ``batch.csv`` summary row, in input order — the same files for any executor.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from optim import api, executor
from optim.errors import InstanceError
from optim.params import SolveParams

__all__ = ["Scenario", "apply", "grid", "run", "solve_one"]


@dataclass(frozen=True)
class Scenario:
    """One what-if: demand factor, capacity cut in percent, optional (where, fraction)."""

    demand: float = 1.0
    capacity_cut: float = 0.0
    disruption: tuple[str, float] | None = None

    @property
    def name(self) -> str:
        parts = [f"demand{self.demand:g}", f"cut{self.capacity_cut:g}"]
        if self.disruption:
            parts.append(f"{self.disruption[0]}-{self.disruption[1]:g}")
        return re.sub(r"[^A-Za-z0-9._-]+", "_", "_".join(parts))

    def flags(self) -> str:
        """The options that give this scenario, e.g. ``--demand 2 --capacity-cut 10``."""
        text = f"--demand {self.demand:g} --capacity-cut {self.capacity_cut:g}"
        if self.disruption:
            text += f" --disruption {self.disruption[0]}:{self.disruption[1]:g}"
        return text

    def row(self) -> dict[str, Any]:
        where, frac = self.disruption or ("", 0.0)
        return {
            "demand_factor": self.demand,
            "capacity_cut_pct": self.capacity_cut,
            "disruption": where,
            "disruption_fraction": frac,
        }


def parse_disruption(text: str) -> tuple[str, float]:
    """``WHERE:FRACTION`` (fraction in [0, 1]; ``WHERE`` alone means all of it)."""
    where, _, frac = text.rpartition(":") if ":" in text else (text, "", "1")
    try:
        value = float(frac)
    except ValueError:
        value = math.nan
    if not where or not 0 <= value <= 1:
        raise InstanceError(
            f"--disruption {text!r} must be WHERE:FRACTION with a fraction in [0, 1]",
            field="disruption",
        )
    return where, value


def grid(
    demand: list[float] | None = None,
    capacity_cut: list[float] | None = None,
    disruption: list[tuple[str, float]] | None = None,
) -> list[Scenario]:
    """Every combination of the what-ifs (an empty list means the base value only)."""
    for f in demand or ():
        if not (f >= 0 and math.isfinite(f)):
            raise InstanceError(
                f"--demand factor {f:g} must be a finite number >= 0", field="demand"
            )
    for y in capacity_cut or ():
        if not 0 <= y <= 100:
            raise InstanceError(f"--capacity-cut {y:g} % must be in [0, 100]", field="capacity")
    scenarios = [
        Scenario(d, c, s)
        for d, c, s in itertools.product(
            demand or [1.0],
            capacity_cut or [0.0],
            disruption or [None],  # type: ignore[list-item]
        )
    ]
    seen: set[str] = set()
    for sc in scenarios:  # (two rows of batch.csv named one result file, the last written)
        if sc.name in seen:
            raise InstanceError(  # (a repeated --disruption was named by its --demand)
                f"two scenarios are named {sc.name!r} ({sc.flags()}); allowed: what-if values "
                "that differ in their first 6 significant digits, each once.",
                field="scenario",
            )
        seen.add(sc.name)
    return scenarios


def _times(value: float, factor: float) -> float:
    """``value × factor`` to 15 significant digits (10 × 1.1 is 11); a factor of 1 keeps the
    value as written (rounding to six decimals turned a demand of 4e-7 units into 0, so the
    base scenario was not the instance ``optim solve`` solves)."""
    return value if factor == 1 else float(f"{value * factor:.15g}")


def _scale(records: list[dict[str, Any]], fields: tuple[str, ...], factor: float) -> None:
    for rec in records:
        for f in fields:
            if isinstance(rec.get(f), int | float):
                rec[f] = _times(rec[f], factor)


def _scale_capacity(
    rec: dict[str, Any], factor: float, fields: tuple[str, ...] = ("capacity",)
) -> None:
    for name in fields:
        value = rec.get(name)
        if isinstance(value, int | float):
            rec[name] = _times(value, factor)
        elif isinstance(value, dict):
            rec[name] = {k: _times(v, factor) for k, v in value.items()}
        elif isinstance(value, list):
            rec[name] = [_times(v, factor) for v in value]


def apply(doc: dict[str, Any], scenario: Scenario) -> dict[str, Any]:
    """The instance document with the scenario applied (a new document)."""
    doc = json.loads(json.dumps(doc))
    kind = doc.get("kind")
    cut = 1 - scenario.capacity_cut / 100
    if kind == "rationing":
        if scenario.demand == 0:  # (each scenario then failed on its lines, blaming them)
            raise InstanceError(
                "--demand 0 would make every demand line of the rationing instance 0; "
                "allowed: a factor > 0 (a rationing line needs a quantity > 0)",
                field="demand",
            )
        _scale(
            doc.get("demand", []), ("quantity", "min_quantity", "max_quantity"), scenario.demand
        )
        _scale(doc.get("supply", []), ("quantity",), cut)
        if scenario.disruption:
            where, frac = scenario.disruption
            hit = [r for r in doc.get("supply", []) if r.get("location") == where]
            if not hit:
                raise InstanceError(
                    f"disruption location {where!r} holds no supply", field="disruption"
                )
            _scale(hit, ("quantity",), 1 - frac)
    elif kind == "capacity":
        _scale(doc.get("demand", []), ("quantity",), scenario.demand)
        for rec in doc.get("resources", []):
            _scale_capacity(rec, cut)
        if scenario.disruption:
            where, frac = scenario.disruption
            hit = [r for r in doc.get("resources", []) if r.get("id") == where]
            if not hit:
                raise InstanceError(
                    f"disruption resource {where!r} is not in resources", field="disruption"
                )
            # a line down for that fraction of the time runs no overtime then either (all
            # of it down still made everything on overtime)
            _scale_capacity(hit[0], 1 - frac, ("capacity", "overtime_capacity"))
    elif kind == "safety_stock":
        _scale(doc.get("demands", []), ("mean", "std_dev"), scenario.demand)
        if scenario.capacity_cut or scenario.disruption:
            raise InstanceError(
                "safety_stock scenarios take a demand factor only", field="scenario"
            )
    else:
        raise InstanceError(f"no scenarios for kind {kind!r}", field="kind")
    try:  # (a scenario beyond the instance's limits failed in its solve: batch.csv was
        api.from_dict(doc)  # written beside exit 2, and --quiet said nothing)
    except InstanceError as exc:
        raise InstanceError(
            f"{scenario.flags()} makes the instance invalid ({str(exc).rstrip('.')}); allowed: "
            "what-if values whose scenario is a valid instance",
            field="scenario",
        ) from None
    return doc


def document(path: str | Path) -> dict[str, Any]:
    """An instance file or CSV folder as a validated document (a file's own document, so a
    scenario of factor 1 solves to the bytes of ``optim solve``)."""
    path = Path(path)
    if str(path) == "-" or not path.is_dir():
        from optim.instances import gate

        doc, text, suffix = gate.load_document(path, "instance document")
        try:
            api.from_dict(doc)
        except InstanceError as exc:
            raise gate.located(exc, str(path), text, suffix) from None
        return dict(doc)
    inst = api.load(path)
    if hasattr(inst, "to_dict"):
        return dict(inst.to_dict())
    # (kind is never set, so unset fields alone had none: "no scenarios for kind None")
    return {"kind": inst.kind, **inst.model_dump(mode="json", exclude_unset=True)}


def solve_one(task: tuple[str, Any, SolveParams]) -> dict[str, Any]:
    """Solve one piece (runs in a worker): its name, result document and summary row."""
    from optim.cli import exit_code

    name, what, params = task
    with executor.local_only():  # a piece never fans out to the cluster itself
        try:
            result = api.solve(what, params)
        except InstanceError as exc:
            return {"name": name, "error": f"invalid input: {exc}", "exit_code": 2}
    row = {
        "name": name,
        "kind": result.kind,
        "status": result.status.value,
        "objective": result.objective,
        "gap": result.gap,
        "exit_code": exit_code(result),
    }
    row.update({k: v for k, v in result.info.items() if isinstance(v, int | float)})
    return {"name": name, "text": result.to_json(), "row": row}


def run(
    tasks: list[tuple[str, Any, SolveParams]],
    out: Path,
    *,
    workers: int = 1,
    extra: list[dict[str, Any]] | None = None,
) -> pd.DataFrame:
    """Solve every task, write ``out/<name>.result.json`` and ``out/batch.csv``."""
    out.mkdir(parents=True, exist_ok=True)
    outcomes = executor.fan_out(solve_one, tasks, workers=workers, desc="batch")
    rows = []
    for i, got in enumerate(outcomes):
        row = {"name": got["name"], **(extra[i] if extra else {})}
        if "error" in got:
            row.update(
                {"status": "invalid", "exit_code": got["exit_code"], "message": got["error"]}
            )
        else:
            (out / f"{got['name']}.result.json").write_text(got["text"], encoding="utf-8")
            row.update(got["row"])
        rows.append(row)
    table = pd.DataFrame(rows)
    from optim.precision import write_csv

    write_csv(table, out / "batch.csv")
    return table
