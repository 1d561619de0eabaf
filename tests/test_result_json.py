"""Small tables are joined row by row; the text is the merged-column writer's, byte for byte."""

from __future__ import annotations

import numpy as np
import pandas as pd

import optim
from optim import result as result_mod
from optim.instances.generators.rationing import random_rationing
from optim.result import Result
from optim.status import Status


def _results() -> list[Result]:
    out = [optim.solve(optim.load_example(name)) for name in optim.examples()]
    out.append(optim.solve(random_rationing(3, n_lines=200, integer_quantities=False)))
    frame = pd.DataFrame(
        {
            "f": [18.75, 0.1, np.nan, np.inf, -np.inf, -0.0, 1 / 3, 0.1 + 0.2],
            "i": np.arange(8, dtype=np.int32),
            "b": [True, False] * 4,
            "s": ["a", 'q"uote', "é ü", None, "x", np.nan, "tab\t", "a"],
            "o": [[1, 2.5], {"k": np.float64(1.0)}, None, "s", 3, np.int64(4), np.nan, True],
            "cat": pd.Categorical(["u", "v", "u", None, "u", "v", "u", "v"]),
            "n": pd.array([1, 2, 3, 4, 5, 6, 7, 8], dtype="Int64"),
        }
    )
    dup = pd.DataFrame([[1, 2.5], [3, 4.5]], columns=["x", "x"])  # repeated column names
    nocols = pd.DataFrame(index=range(2))
    tables = {"t": frame, "empty": frame.iloc[:0], "dup": dup, "nocols": nocols}
    out.append(Result(kind="rationing", status=Status.OPTIMAL, objective=1.0, tables=tables))
    return out


def test_small_tables_write_the_merged_writers_bytes(monkeypatch):
    results = _results()
    assert any(len(f) <= result_mod._SMALL_TABLE for r in results for f in r.tables.values())
    small = [r.to_json() for r in results]
    monkeypatch.setattr(result_mod, "_SMALL_TABLE", 0)  # every table by the merged writer
    assert [r.to_json() for r in results] == small
