"""The frozen result every solve returns."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optim.errors import NoSolutionError
from optim.params import SolveParams
from optim.status import Status


@dataclass(frozen=True)
class Result:
    """Outcome of :func:`optim.solve`.

    Attributes
    ----------
    kind
        Problem kind of the instance (``"rationing"``, ``"safety_stock"``, ``"capacity"``).
    status
        See :class:`optim.Status`.
    objective
        Objective value of the returned solution (``None`` without a solution). Its meaning is
        stated per problem (e.g. total allocated quantity for rationing).
    bound
        Best proven bound on the objective, where the method gives one.
    gap
        Relative gap ``|objective - bound| / max(1, |objective|)`` where both exist.
    runtime
        Wall-clock seconds of the solve (build + solve + extract).
    solver, solver_version
        Backend that produced the solution.
    tables
        Result tables keyed by name, indexed/keyed by the instance's own ids.
    message
        Human-readable note (why it stopped, what was dropped).
    diagnosis
        For infeasible or limited runs: which rules or targets conflict with which capacity.
    params
        The parameters used.
    info
        Small extra facts for the result document (e.g. stage count, tolerances used).
    """

    kind: str
    status: Status
    objective: float | None = None
    bound: float | None = None
    gap: float | None = None
    runtime: float = 0.0
    solver: str = ""
    solver_version: str = ""
    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    message: str = ""
    diagnosis: list[str] = field(default_factory=list)
    params: SolveParams = field(default_factory=SolveParams)
    info: dict[str, Any] = field(default_factory=dict)

    def has_solution(self) -> bool:
        """True when the result holds a feasible solution."""
        return self.status in (Status.OPTIMAL, Status.FEASIBLE) or (
            self.status is Status.TIME_LIMIT and self.objective is not None
        )

    def is_optimal(self) -> bool:
        """True when the solution is proven optimal."""
        return self.status is Status.OPTIMAL

    def table(self, name: str) -> pd.DataFrame:
        """Return result table ``name``; raises :class:`NoSolutionError` without a solution."""
        if not self.has_solution():
            raise NoSolutionError(f"no solution available (status {self.status.value}).")
        try:
            return self.tables[name]
        except KeyError:
            raise KeyError(
                f"no table {name!r}; this result has: {', '.join(sorted(self.tables))}"
            ) from None

    def to_dict(self, *, include_runtime: bool = False) -> dict[str, Any]:
        """The result document as plain JSON-able data.

        ``runtime`` is left out by default so that the same input gives byte-identical output.
        """
        doc: dict[str, Any] = {
            "kind": self.kind,
            "status": self.status.value,
            "objective": _clean(self.objective),
            "bound": _clean(self.bound),
            "gap": _clean(self.gap),
            "solver": self.solver,
            "solver_version": self.solver_version,
            "message": self.message,
            "diagnosis": list(self.diagnosis),
        }
        if include_runtime:
            doc["runtime_seconds"] = round(self.runtime, 6)
        doc.update({k: _clean(v) for k, v in self.info.items()})
        for name, frame in self.tables.items():
            doc[name] = _records(frame)
        return doc

    def to_json(self, path: str | Path | None = None, *, include_runtime: bool = False) -> str:
        """Serialise :meth:`to_dict` as JSON; also write it to ``path`` when given."""
        text = json.dumps(self.to_dict(include_runtime=include_runtime), indent=2) + "\n"
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def write_tables(self, directory: str | Path) -> list[Path]:
        """Write every table as ``<name>.csv`` in ``directory``; return the paths."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, frame in self.tables.items():
            path = out / f"{name}.csv"
            frame.to_csv(path, index=False, float_format="%.10g", lineterminator="\n")
            paths.append(path)
        return paths

    def summary(self) -> str:
        """A short fixed-width text block for terminals and logs."""
        lines = [f"{self.kind} — status: {self.status.value.upper()}"]
        if self.objective is not None:
            lines.append(f"objective: {self.objective:.6g}")
        if self.gap is not None:
            lines.append(f"gap: {self.gap:.3%}")
        lines.append(f"solver: {self.solver} {self.solver_version}".rstrip())
        lines.append(f"runtime: {self.runtime:.3f} s")
        if self.message:
            lines.append(self.message)
        lines.extend(f"diagnosis: {d}" for d in self.diagnosis)
        return "\n".join(lines)


def _clean(value: Any) -> Any:
    """Make numpy scalars, NaN and infinities JSON-safe and deterministic."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return float(f"{value:.12g}")
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    cols = list(frame.columns)
    return [
        {c: _clean(v) for c, v in zip(cols, row, strict=True)}
        for row in frame.itertuples(index=False, name=None)
    ]
