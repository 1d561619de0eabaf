"""The frozen result every solve returns."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from json.encoder import encode_basestring_ascii as _encode_str
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from optim.errors import InstanceError, NoSolutionError
from optim.params import SolveParams
from optim.precision import (
    SIGNIFICANT_DIGITS,
    column_kind,
    json_texts,
    json_values,
    write_csv,
)
from optim.status import SolutionStatus, Status, Termination, split, summarize


@dataclass(frozen=True)
class Result:
    """Outcome of :func:`optim.solve`.

    Attributes
    ----------
    kind
        Problem kind of the instance (``"rationing"``, ``"safety_stock"``, ``"capacity"``).
    status
        One-axis summary (:class:`optim.Status`) of the two axes below, kept for callers
        and the CLI exit codes.
    termination
        Why the solve stopped (:class:`optim.Termination`).
    solution_status
        What the result holds (:class:`optim.SolutionStatus`): a proven optimum, a feasible
        solution (with its ``gap``), or none. A time limit with and without an incumbent
        differ here. Give both axes, or ``status`` alone (the axes are then derived; see
        :func:`optim.status.split`); when both are given, ``status`` must be their summary.
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
    termination: Termination | None = None
    solution_status: SolutionStatus | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", Status(self.status))
        if self.termination is None or self.solution_status is None:
            status = self.status
            termination, solution = split(status, self.objective is not None)
            object.__setattr__(self, "termination", self.termination or termination)
            object.__setattr__(self, "solution_status", self.solution_status or solution)
        summary = summarize(
            Termination(str(self.termination)), SolutionStatus(str(self.solution_status))
        )
        if self.status is not summary:
            raise ValueError(
                f"status {self.status!s} contradicts termination {self.termination!s} with "
                f"solution {self.solution_status!s} (their summary is {summary!s})"
            )

    def has_solution(self) -> bool:
        """True when the result holds a feasible solution."""
        return self.solution_status is not SolutionStatus.NONE

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
        Table columns of floats are written by :mod:`optim.precision`'s rule for their name
        (quantities to six decimals, integers where whole — allocations exactly as solved —,
        money to cents, other floats to ten significant digits); the scalar fields and
        ``info`` keep 12 significant digits (``float(f"{v:.12g}")``). NaN becomes ``None``
        and infinities the strings ``"inf"``/``"-inf"``; numpy scalars become Python
        scalars. Tables become lists of records.
        """
        doc = self._head(include_runtime)
        for name, frame in self.tables.items():
            doc[name] = _records(frame)
        return doc

    def to_json(self, path: str | Path | None = None, *, include_runtime: bool = False) -> str:
        """Serialise :meth:`to_dict` as JSON; also write it to ``path`` when given.

        ``json.loads(to_json())`` equals :meth:`to_dict`. The scalar fields are indented by
        2; each table record is written on one line (as ``json.dumps(record)`` would), so a
        table of 10^6 rows is encoded column by column in a few seconds.
        """
        head = self._head(include_runtime)
        for name in self.tables:
            head.pop(name, None)
        text = json.dumps(head, indent=2)
        parts = [text[:-2] if head else "{"]
        sep = "," if head else ""
        for name, frame in self.tables.items():
            parts.append(f"{sep}\n  {_key(name)}: ")
            parts.extend(_table_json(frame, "\n    ", "\n  "))
            sep = ","
        parts.append("\n}\n")
        text = "".join(parts)
        if path is not None:
            Path(path).write_text(text, encoding="utf-8")
        return text

    def _head(self, include_runtime: bool) -> dict[str, Any]:
        from optim.result_schema import RESULT_SCHEMA_VERSION

        doc: dict[str, Any] = {
            "kind": self.kind,
            "schema_version": RESULT_SCHEMA_VERSION,
            "status": self.status.value,
            "termination": str(self.termination),
            "solution_status": str(self.solution_status),
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
        return doc

    def write_tables(self, directory: str | Path, *, format: str = "csv") -> list[Path]:
        """Write every table as ``<name>.csv`` (or ``<name>.parquet``) in ``directory``.

        ``format="parquet"`` writes typed, compressed columns (full float precision; for a
        10^6-line rationing run about a tenth of the CSV size) and needs pyarrow
        (``pip install 'optim[parquet]'``). Returns the paths.
        """
        if format not in ("csv", "parquet"):
            raise InstanceError(
                f"table format {format!r} is not known; allowed: csv, parquet", field="format"
            )
        if format == "parquet":
            try:
                import pyarrow  # noqa: F401
            except ImportError as exc:
                raise InstanceError(
                    "writing parquet tables needs pyarrow (pip install 'optim[parquet]')",
                    field="format",
                ) from exc
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        paths = []
        for name, frame in self.tables.items():
            path = out / f"{name}.{format}"
            if format == "parquet":
                frame.to_parquet(path, index=False, engine="pyarrow", compression="zstd")
            else:
                write_csv(frame, path)
            paths.append(path)
        return paths

    def summary(self) -> str:
        """A short fixed-width text block for terminals and logs."""
        lines = [f"{self.kind} — status: {self.status.value.upper()}"]
        if self.status is Status.TIME_LIMIT:
            lines.append(f"termination: {self.termination!s}; solution: {self.solution_status!s}")
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


_CHUNK = 131_072  # rows encoded at a time (bounds the temporary object arrays)
_SMALL_TABLE = 256  # rows up to which a table is joined row by row (no piece merging)
_MERGE_LIMIT = 65_536  # at most this many distinct texts in a merged piece


def _clean(value: Any) -> Any:
    """Make numpy scalars, NaN and infinities JSON-safe and deterministic."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        if math.isnan(value):
            return None
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return float(f"{value:.{SIGNIFICANT_DIGITS}g}")
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_clean(v) for v in value]
    return value


def _key(name: Any) -> str:
    """A dict key as ``json.dumps`` writes it."""
    return json.dumps({name: 0})[1:-4]


def _column_texts(col: pd.Series, name: Any) -> tuple[np.ndarray, list[str]]:
    """``(codes, texts)``: the JSON text of row ``i`` is ``texts[codes[i]]``.

    Texts are ``json.dumps`` of the cell: float columns by the precision rule of their name
    (:func:`optim.precision.json_texts`), other cells as :func:`_clean` gives them; equal
    values share a code, so each distinct value is formatted once.
    """
    dtype = col.dtype
    if not isinstance(dtype, pd.api.extensions.ExtensionDtype):
        if pd.api.types.is_bool_dtype(dtype):
            return col.to_numpy(dtype=bool).astype(np.int64), ["false", "true"]
        if pd.api.types.is_integer_dtype(dtype):
            codes, uniques = pd.factorize(col.to_numpy())
            return codes, [str(int(v)) for v in uniques.tolist()]
        if pd.api.types.is_float_dtype(dtype):
            return json_texts(col.to_numpy(dtype=np.float64), column_kind(name, col))
    values = col.to_numpy(dtype=object)
    if (
        len(values) >= 1024
        and pd.api.types.infer_dtype(values, skipna=False) == "string"
        and pd.unique(values[:1024]).size > 512
    ):  # mostly distinct strings (ids): encode directly
        return np.arange(len(values)), list(map(_encode_str, values.tolist()))
    try:
        codes, uniques = pd.factorize(values)  # missing values (None, NaN, NA) get code -1
    except TypeError:  # unhashable cells (lists, dicts)
        pass
    else:
        if pd.api.types.infer_dtype(uniques, skipna=False) in ("string", "empty"):
            codes = np.where(codes < 0, len(uniques), codes)
            return codes, [*map(_encode_str, uniques.tolist()), "null"]
    texts = [json.dumps(_clean(v)) for v in values.tolist()]
    return np.arange(len(texts), dtype=np.int64), texts


def _table_json(frame: pd.DataFrame, row_sep: str, end: str) -> list[str]:
    """``[ {record}, … ]`` (as pieces to join) with one ``json.dumps(record)`` per line.

    Each column becomes codes into its distinct texts; keys and separators are glued to the
    texts of columns with few distinct values, and adjacent such columns are merged, so a
    row is the concatenation of a few pieces.
    """
    n = len(frame)
    if n == 0:
        return ["[]"]
    if frame.shape[1] == 0:
        return ["[" + row_sep + ("{}," + row_sep) * (n - 1) + "{}" + end + "]"]
    if n <= _SMALL_TABLE:  # the same texts, joined row by row without the merging machinery
        columns = [
            (("{" if j == 0 else ", ") + _key(name) + ": ", *_column_texts(col, name))
            for j, (name, col) in enumerate(frame.items())
        ]
        rows = [
            "".join([key + texts[codes[i]] for key, codes, texts in columns]) + "}"
            for i in range(n)
        ]
        return ["[" + row_sep + ("," + row_sep).join(rows) + end + "]"]
    limit = min(_MERGE_LIMIT, max(n // 4, 1))
    groups: list[tuple[np.ndarray | None, np.ndarray]] = []  # codes None: the same text

    def add(codes: np.ndarray | None, texts: np.ndarray) -> None:
        if groups:
            merged = _merge(*groups[-1], codes, texts, limit)
            if merged is not None:
                groups[-1] = merged
                return
        groups.append((codes, texts))

    for j, (name, col) in enumerate(frame.items()):
        col_codes, col_texts = _column_texts(col, name)
        add(None, np.array([("{" if j == 0 else ", ") + _key(name) + ": "], dtype=object))
        add(np.asarray(col_codes, dtype=np.int64), np.array(col_texts, dtype=object))
    add(None, np.array(["}," + row_sep], dtype=object))
    pieces = ["[" + row_sep]
    for start in range(0, n, _CHUNK):
        stop = min(start + _CHUNK, n)
        block = np.empty((stop - start, len(groups)), dtype=object)
        for j, (codes, texts) in enumerate(groups):
            block[:, j] = texts[0] if codes is None else texts[codes[start:stop]]
        if stop == n:  # no comma after the last record
            block[-1, -1] = block[-1, -1][: -len("," + row_sep)]
        pieces.append("".join(block.ravel().tolist()))
    pieces.append(end + "]")
    return pieces


def _merge(
    codes_a: np.ndarray | None,
    texts_a: np.ndarray,
    codes_b: np.ndarray | None,
    texts_b: np.ndarray,
    limit: int,
) -> tuple[np.ndarray | None, np.ndarray] | None:
    """Join two adjacent pieces into one when that makes at most ``limit`` distinct texts.

    A constant piece (``codes`` None: a key or a separator) is glued to every text of its
    neighbour; two coded pieces are merged on the pairs of codes (e.g. tier and rule).
    """
    ka, kb = len(texts_a), len(texts_b)
    if codes_a is None and codes_b is None:
        return None, np.array([texts_a[0] + texts_b[0]], dtype=object)
    if codes_b is None:
        return (codes_a, texts_a + texts_b[0]) if ka <= limit else None
    if codes_a is None:
        return (codes_b, texts_a[0] + texts_b) if kb <= limit else None
    if ka * kb > limit:
        return None
    return codes_a * kb + codes_b, (texts_a[:, None] + texts_b[None, :]).ravel()


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Table rows as dicts of cleaned Python values (see :func:`_clean`), column by column."""
    cols = list(frame.columns)
    if not cols:
        return [{} for _ in range(len(frame))]
    values = [_column_values(frame.iloc[:, j], cols[j]) for j in range(len(cols))]
    return [dict(zip(cols, row, strict=True)) for row in zip(*values, strict=True)]


def _column_values(col: pd.Series, name: Any) -> list[Any]:
    """The cells of ``col`` as the document holds them: float columns by the precision rule
    of their name (:func:`optim.precision.json_values`), other cells by :func:`_clean`."""
    dtype = col.dtype
    if not isinstance(dtype, pd.api.extensions.ExtensionDtype):
        if pd.api.types.is_bool_dtype(dtype) or pd.api.types.is_integer_dtype(dtype):
            return col.to_numpy().tolist()
        if pd.api.types.is_float_dtype(dtype):
            return json_values(col.to_numpy(dtype=np.float64), column_kind(name, col))
    return [_clean(v) for v in col.to_numpy(dtype=object).tolist()]
