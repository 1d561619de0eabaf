"""Problem types the model builders produce and the solver adapters consume.

A builder in :mod:`optim.models` returns a :class:`LinearProgram` (array form: CSR rows,
bounds, costs, integrality); an adapter in :mod:`optim.solvers` solves it. This module imports
no solver, so models never depend on solvers (the data flow is instance → build → solve).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["INF", "LinearProgram", "csr_from_triplets"]

INF = float("inf")


@dataclass
class LinearProgram:
    """``min/max c·x  s.t.  row_lower ≤ A x ≤ row_upper,  col_lower ≤ x ≤ col_upper``.

    ``A`` is given in CSR form (``indptr``, ``indices``, ``data``) with one row per
    constraint. ``integrality`` (optional) marks integer columns with 1.
    """

    cost: NDArray[np.float64]
    col_lower: NDArray[np.float64]
    col_upper: NDArray[np.float64]
    row_lower: NDArray[np.float64]
    row_upper: NDArray[np.float64]
    indptr: NDArray[np.int64]
    indices: NDArray[np.int64]
    data: NDArray[np.float64]
    maximize: bool = False
    offset: float = 0.0
    integrality: NDArray[np.int8] | None = None

    @property
    def num_cols(self) -> int:
        return int(self.cost.shape[0])

    @property
    def num_rows(self) -> int:
        return int(self.row_lower.shape[0])


def csr_from_triplets(
    rows: NDArray[np.int64], cols: NDArray[np.int64], vals: NDArray[np.float64], num_rows: int
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.float64]]:
    """CSR arrays from COO triplets (duplicates are kept; HiGHS sums nothing, so avoid them)."""
    order = np.lexsort((cols, rows))
    rows, cols, vals = rows[order], cols[order], vals[order]
    indptr = np.zeros(num_rows + 1, dtype=np.int64)
    np.add.at(indptr, rows + 1, 1)
    np.cumsum(indptr, out=indptr)
    return indptr, cols.astype(np.int64), vals.astype(np.float64)
