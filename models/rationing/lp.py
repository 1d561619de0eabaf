"""LP builders for one block of components (pure: arrays in, ``LinearProgram`` out).

Column layout of :func:`build`: ``[x_a for arcs] [d_a for arcs with a previous quantity]
[y_i integer multiples] [e_i deviations]``; rows: ``[cells] [lines] [objective-bound rows]
[change rows] [deviation rows] [tier-total rows]``. :func:`build_filling` has its own layout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction

import numpy as np
from numpy.typing import NDArray

from optim.models.problem import LinearProgram, csr_from_triplets

INF = np.inf


@dataclass(frozen=True)
class Block:
    """A set of whole components with local indices."""

    num_lines: int
    arc_line: NDArray[np.int64]  # local line of each arc
    arc_cell: NDArray[np.int64]  # local cell of each arc
    supply: NDArray[np.float64]  # per local cell

    @property
    def num_arcs(self) -> int:
        return int(self.arc_line.shape[0])

    @property
    def num_cells(self) -> int:
        return int(self.supply.shape[0])


@dataclass(frozen=True)
class Change:
    """``d_a ≥ |x_a − p_a|`` for arcs with a previous quantity ``p_a > 0``."""

    arcs: NDArray[np.int64]
    previous: NDArray[np.float64]


@dataclass(frozen=True)
class Multiples:
    """Integer rule ``Σ_{a∈i} x_a = m_i · y_i`` with integer ``y_i ∈ [lower_i, upper_i]``.

    ``lot_size``: ``m_i`` = lot; ``all_or_nothing``: ``m_i`` = full amount, ``y_i ∈ {0, 1}``.
    """

    lines: NDArray[np.int64]
    multiple: NDArray[np.float64]
    lower: NDArray[np.float64]
    upper: NDArray[np.float64]


@dataclass(frozen=True)
class Deviation:
    """``e_i ≥ |Σ_{a∈i} x_a − target_i|`` with cost ``1 / scale_i`` (distance to fair share)."""

    lines: NDArray[np.int64]
    target: NDArray[np.float64]
    scale: NDArray[np.float64]


def build(
    block: Block,
    line_lower: NDArray[np.float64],
    line_upper: NDArray[np.float64],
    arc_cost: NDArray[np.float64],
    *,
    maximize: bool,
    bounds: list[tuple[NDArray[np.float64], float, float]] | None = None,
    change: Change | None = None,
    change_cost: float = 0.0,
    multiples: Multiples | None = None,
    deviation: Deviation | None = None,
    totals: list[tuple[NDArray[np.int64], float]] | None = None,
) -> LinearProgram:
    """Transportation LP of ``block`` with optional level, bound and change parts.

    Parameters
    ----------
    line_lower, line_upper
        Bounds on each line's allocation ``Σ_{a∈i} x_a``.
    arc_cost
        Objective coefficient of each ``x_a``.
    bounds
        Rows ``Σ_a coef_a x_a + d_coef·Σ_a d_a ≤ value`` given as ``(coef, d_coef, value)``:
        they keep an earlier stage's optimum.
    change
        Adds ``d_a`` columns with cost ``change_cost`` and rows ``d_a ≥ ±(x_a − p_a)``.
    multiples
        Integer columns ``y_i`` (the MIP part of the integer rules); the listed lines' rows
        become ``Σ x − m_i y_i ∈ [line_lower_i − …, …]`` with bounds ``[0, 0]``.
    deviation
        Columns ``e_i`` (objective ``1/scale_i``) with rows ``e_i ≥ ±(Σ x − target_i)``.
    totals
        Rows ``Σ_{i∈lines} Σ_{a∈i} x_a ≥ value`` that keep an earlier tier total.
    """
    A, C, n = block.num_arcs, block.num_cells, block.num_lines
    P = 0 if change is None else int(change.arcs.shape[0])
    arcs = np.arange(A, dtype=np.int64)
    rows = [block.arc_cell, C + block.arc_line]
    cols = [arcs, arcs]
    vals = [np.ones(A), np.ones(A)]
    row_lower = [np.full(C, -INF), np.asarray(line_lower, dtype=np.float64)]
    row_upper = [block.supply.astype(np.float64), np.asarray(line_upper, dtype=np.float64)]
    next_row = C + n
    for coef, d_coef, value in bounds or []:
        nz = np.flatnonzero(coef)
        rows.append(np.full(len(nz), next_row))
        cols.append(nz)
        vals.append(coef[nz])
        if change is not None and d_coef:
            rows.append(np.full(P, next_row))
            cols.append(A + np.arange(P))
            vals.append(np.full(P, d_coef))
        row_lower.append(np.array([-INF]))
        row_upper.append(np.array([value]))
        next_row += 1
    if change is not None and P:
        d = A + np.arange(P)
        r1 = next_row + np.arange(P)  # d - x >= -p
        r2 = next_row + P + np.arange(P)  # d + x >= p
        rows += [r1, r1, r2, r2]
        cols += [d, change.arcs, d, change.arcs]
        vals += [np.ones(P), -np.ones(P), np.ones(P), np.ones(P)]
        row_lower += [-change.previous, change.previous]
        row_upper += [np.full(P, INF), np.full(P, INF)]
        next_row += 2 * P
    col = A + P
    extra_cost: list[NDArray[np.float64]] = []
    extra_lower: list[NDArray[np.float64]] = []
    extra_upper: list[NDArray[np.float64]] = []
    integrality = None
    if multiples is not None and len(multiples.lines):
        M = int(multiples.lines.shape[0])
        y = col + np.arange(M)
        rows.append(C + multiples.lines)
        cols.append(y)
        vals.append(-multiples.multiple)
        row_lower[1] = row_lower[1].copy()
        row_upper[1] = row_upper[1].copy()
        row_lower[1][multiples.lines] = 0.0
        row_upper[1][multiples.lines] = 0.0
        extra_cost.append(np.zeros(M))
        extra_lower.append(multiples.lower)
        extra_upper.append(multiples.upper)
        integrality = np.zeros(col + M, dtype=np.int8)
        integrality[y] = 1
        col += M
    if deviation is not None and len(deviation.lines):
        D = int(deviation.lines.shape[0])
        e = col + np.arange(D)
        row_of_line = np.full(n, -1, dtype=np.int64)
        row_of_line[deviation.lines] = np.arange(D)
        sel = row_of_line[block.arc_line] >= 0
        k = row_of_line[block.arc_line[sel]]
        r1 = next_row + k  # e - Σx >= -target
        r2 = next_row + D + k  # e + Σx >= target
        rows += [r1, r2, next_row + np.arange(D), next_row + D + np.arange(D)]
        cols += [arcs[sel], arcs[sel], e, e]
        vals += [-np.ones(int(sel.sum())), np.ones(int(sel.sum())), np.ones(D), np.ones(D)]
        row_lower += [-deviation.target, deviation.target]
        row_upper += [np.full(D, INF), np.full(D, INF)]
        next_row += 2 * D
        extra_cost.append(1.0 / deviation.scale)
        extra_lower.append(np.zeros(D))
        extra_upper.append(np.full(D, INF))
        col += D
    for lines_t, value in totals or []:
        member = np.zeros(n, dtype=bool)
        member[lines_t] = True
        on = np.flatnonzero(member[block.arc_line])
        rows.append(np.full(len(on), next_row))
        cols.append(on)
        vals.append(np.ones(len(on)))
        row_lower.append(np.array([value]))
        row_upper.append(np.array([INF]))
        next_row += 1
    if integrality is not None and integrality.shape[0] < col:
        integrality = np.concatenate([integrality, np.zeros(col - integrality.shape[0], np.int8)])
    indptr, indices, data = csr_from_triplets(
        np.concatenate(rows), np.concatenate(cols), np.concatenate(vals), next_row
    )
    cost = np.concatenate([arc_cost, np.full(P, change_cost), *extra_cost])
    col_upper = np.concatenate([np.full(A, INF), np.full(P, INF), *extra_upper])
    col_lower = np.concatenate([np.zeros(A + P), *extra_lower])
    return LinearProgram(
        cost=cost.astype(np.float64),
        col_lower=col_lower.astype(np.float64),
        col_upper=col_upper.astype(np.float64),
        integrality=integrality,
        row_lower=np.concatenate(row_lower),
        row_upper=np.concatenate(row_upper),
        indptr=indptr,
        indices=indices,
        data=data,
        maximize=maximize,
    )


@dataclass(frozen=True)
class FillingLayout:
    """Column blocks of :func:`build_filling`: ``x`` arcs, ``a`` lines, ``λ`` levels, ``z``."""

    num_arcs: int
    num_lines: int
    num_levels: int
    num_level_rows: int

    @property
    def a(self) -> slice:
        return slice(self.num_arcs, self.num_arcs + self.num_lines)

    @property
    def lam(self) -> slice:
        start = self.num_arcs + self.num_lines
        return slice(start, start + self.num_levels)

    @property
    def z(self) -> slice:
        start = self.num_arcs + self.num_lines + self.num_levels
        return slice(start, start + self.num_level_rows)


def build_filling(
    block: Block,
    lower: NDArray[np.float64],
    upper: NDArray[np.float64],
    level_lines: NDArray[np.int64],
    level_weight: NDArray[np.float64],
    level_of: NDArray[np.int64],
    num_levels: int,
) -> tuple[LinearProgram, FillingLayout]:
    """Progressive-filling LP whose iterations change column bounds only.

    ``max Σ_k λ_k`` s.t. ``Σ_{a∈c} x_a ≤ s_c``; ``Σ_{a∈i} x_a − a_i = 0``;
    ``a_i − w_i λ_{k(i)} + z_i ≥ 0`` for the level lines. Bounds: ``a_i ∈ [lower, upper]``,
    ``λ_k ∈ [0, 0]`` and ``z_i ∈ [0, 0]`` until the caller opens them: freeing ``z_i``
    switches line *i*'s level row off once the line is frozen.
    """
    A, C, n, L = block.num_arcs, block.num_cells, block.num_lines, len(level_lines)
    arcs = np.arange(A, dtype=np.int64)
    a_col = A + np.arange(n)
    lam_col = A + n + level_of
    z_col = A + n + num_levels + np.arange(L)
    level_row = C + n + np.arange(L)
    rows = np.concatenate(
        [block.arc_cell, C + block.arc_line, C + np.arange(n), level_row, level_row, level_row]
    )
    cols = np.concatenate([arcs, arcs, a_col, a_col[level_lines], lam_col, z_col])
    vals = np.concatenate(
        [np.ones(A), np.ones(A), -np.ones(n), np.ones(L), -level_weight, np.ones(L)]
    )
    indptr, indices, data = csr_from_triplets(rows, cols, vals, C + n + L)
    layout = FillingLayout(A, n, num_levels, L)
    num_cols = A + n + num_levels + L
    cost = np.zeros(num_cols)
    cost[layout.lam] = 1.0
    col_lower = np.zeros(num_cols)
    col_upper = np.zeros(num_cols)
    col_upper[:A] = INF
    col_lower[layout.a] = lower
    col_upper[layout.a] = upper
    lp = LinearProgram(
        cost=cost,
        col_lower=col_lower,
        col_upper=col_upper,
        row_lower=np.concatenate([np.full(C, -INF), np.zeros(n), np.zeros(L)]),
        row_upper=np.concatenate([block.supply.astype(np.float64), np.zeros(n), np.full(L, INF)]),
        indptr=indptr,
        indices=indices,
        data=data,
        maximize=True,
    )
    return lp, layout


@dataclass(frozen=True)
class IntegerForm:
    """:func:`build`'s integer-stage MIP stated exactly for CP-SAT: a grid per column and
    every row's bounds as rationals (``None`` where infinite)."""

    grid: list[Fraction]
    row_lower: list[Fraction | None]
    row_upper: list[Fraction | None]

    @property
    def row_bounds(self) -> tuple[list[Fraction | None], list[Fraction | None]]:
        return self.row_lower, self.row_upper


def integer_form(
    lp: LinearProgram,
    block: Block,
    lo: NDArray[np.float64],
    hi: NDArray[np.float64],
    multiples: Multiples,
    *,
    free_lines: NDArray[np.int64] | None = None,
    deviation: Deviation | None = None,
    max_digits: int = 6,
) -> IntegerForm:
    r"""Column grids and exact row bounds under which :func:`build`'s integer-stage MIP ``lp``
    (built without ``bounds`` and ``change``) keeps its optimum over the integers (for CP-SAT,
    :mod:`optim.solvers.cpsat`).

    With a quantity unit :math:`g = 10^{-k}` (the largest, :math:`k \le` ``max_digits``) of
    which every supply and multiple is an integer multiple, every line bound and fair share
    read as a rational :math:`N / D` of :math:`g` (below), and :math:`L` the least common
    multiple of the denominators of the line bounds and of the shares of the lines in
    ``free_lines`` (continuous lines whose total may still move; an earlier tier's share is
    a bound here):

    * arcs ``x`` have grid :math:`G = g / L`: once the integer multiples ``y`` are fixed, the
      rest is a transportation problem (cell rows, line rows, the tier-total row — a network
      matrix, totally unimodular) with right-hand sides in :math:`G\mathbb{Z}`, so its
      optimum is attained on the grid; the distance-to-share cost ``|a_i − t_i|`` keeps this
      since every free line's target :math:`t_i` is on :math:`G\mathbb{Z}` too (a share of
      a third refines the grid to thirds; before, such a line was refused);
    * ``y`` are integers (grid 1);
    * a deviation ``e_i = |a_i − t_i|`` with :math:`t_i / G = N_i / D_i` in lowest terms lies
      on :math:`(G / D_i)\mathbb{Z}`.

    A component whose :math:`L` makes an integer pass 2^53 is refused by the adapter
    (:class:`~optim.solvers.cpsat.BeyondIntegerRange`, named per component by the solve).

    Row bounds are the exact values those doubles stand for: a multiple of :math:`g` (cells,
    lines, tier totals — an earlier stage's quantity 6.300000000000001 is 63/10) or, for the
    deviation rows, :math:`\pm N_i g / D_i`. Reading the doubles themselves would round a
    bound inward past the value meant (a share 35.199999999999996 read exactly made the
    distance to it 35.1 — CP-SAT then optimised another problem — and a fixed 6.300000000000001
    gave the bounds ``[64, 63]`` in tenths: infeasible).

    A share is read as the rational :math:`N_i / D_i` (:math:`D_i \le 10^6`) within
    :math:`10^{-12}` relative of the LP's double (the share the LP meant; HiGHS itself solves
    the stage to 1e-9). Grids are returned as exact fractions.

    Raises :class:`~optim.errors.NotExactlyScalable` naming a supply or multiple off every
    such unit, or a bound or share that is no such rational.
    """
    from optim.errors import NotExactlyScalable

    checks: list[tuple[str, NDArray[np.float64]]] = [
        ("supply", block.supply),
        ("lot size / all-or-nothing amount", multiples.multiple),
    ]
    unit = None
    for k in range(max_digits + 1):
        g = 10.0**-k
        if all(_on_grid(v, g) for _, v in checks):
            unit = g
            break
    if unit is None:
        g = 10.0**-max_digits
        what, values = next((w, v) for w, v in checks if not _on_grid(v, g))
        bad = values[~_on_grid_mask(values, g)][0]
        raise NotExactlyScalable(
            f"--solver cpsat: the rationing integer stage has a {what} of {bad:.12g}, not a "
            f"multiple of {g:g}; CP-SAT works over the integers and rounding it would change "
            f"the allocation. Use --solver highs (or round the input to at most {max_digits} "
            "decimals)."
        )
    q = Fraction(1, round(1 / unit))
    # line bounds (an earlier tier's fair share, a minimum's share) and the fair shares of
    # lines without an integer rule: rationals N / D of the unit; their common denominator L
    # refines the grid of the continuous columns to q / L
    fine = 1
    shares: dict[int, Fraction] = {}
    bounds = [("line lower bound", lo), ("line upper bound", hi)]
    for what, values in bounds:
        for v in values[np.isfinite(values)].tolist():
            fine = math.lcm(fine, _units(v, unit, what).denominator)
    if deviation is not None and len(deviation.lines):
        free = np.zeros(block.num_lines, dtype=bool)
        if free_lines is not None:
            free[free_lines] = True
        for i, (line, t) in enumerate(
            zip(deviation.lines.tolist(), deviation.target.tolist(), strict=True)
        ):
            shares[i] = _units(t, unit, "fair share")
            if free[line]:
                fine = math.lcm(fine, shares[i].denominator)
    G = q / fine
    A = block.num_arcs
    grid = [G] * A + [Fraction(1)] * len(multiples.lines)
    row_grid = [G] * lp.num_rows
    if deviation is not None and len(deviation.lines):
        D = len(deviation.lines)
        first = block.num_cells + block.num_lines  # build's deviation rows (no bounds/change)
        for i in range(D):
            step = G / (shares[i] * fine).denominator
            grid.append(step)
            row_grid[first + i] = row_grid[first + D + i] = step
    return IntegerForm(
        grid=grid,
        row_lower=[
            _exact(v, s, "row lower bound")
            for v, s in zip(lp.row_lower.tolist(), row_grid, strict=True)
        ],
        row_upper=[
            _exact(v, s, "row upper bound")
            for v, s in zip(lp.row_upper.tolist(), row_grid, strict=True)
        ],
    )


def _units(value: float, unit: float, what: str) -> Fraction:
    """``value / unit`` as the rational ``N / D`` (``D ≤ 10^6``) it stands for: the one within
    1e-12 relative of the double (the share the LP meant; HiGHS solves to 1e-9)."""
    fr = Fraction(value / unit).limit_denominator(10**6)
    if abs(float(fr) * unit - value) > 1e-12 * max(1.0, abs(value)):
        from optim.errors import NotExactlyScalable

        raise NotExactlyScalable(
            f"--solver cpsat: the rationing integer stage has a {what} of {value!r}, not a "
            f"rational number of {unit:g} units with a denominator ≤ 10^6, so it has no "
            "exact integer scaling. Use --solver highs."
        )
    return fr


def _exact(value: float, step: Fraction, what: str) -> Fraction | None:
    """``value`` as the multiple of ``step`` it stands for (within 1e-9 relative)."""
    if not np.isfinite(value):
        return None
    n = round(Fraction(value) / step)
    if abs(n - value / float(step)) > 1e-9 * max(1.0, abs(n)):
        from optim.errors import NotExactlyScalable

        raise NotExactlyScalable(
            f"--solver cpsat: a {what} of the rationing integer stage, {value!r}, is not a "
            f"multiple of {step}; use --solver highs"
        )
    return n * step


def _on_grid_mask(values: NDArray[np.float64], g: float) -> NDArray[np.bool_]:
    v = np.asarray(values, dtype=np.float64) / g
    return np.abs(v - np.round(v)) <= 1e-9 * np.maximum(1.0, np.abs(v))


def _on_grid(values: NDArray[np.float64], g: float) -> bool:
    return bool(np.all(_on_grid_mask(values, g)))
