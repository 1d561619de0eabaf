"""Pyomo reference formulation of the rationing stages (readable; small instances).

:func:`flow_model` is the transportation model shared by every stage; the stage objectives
and the progressive-filling level are added by the small functions below. The staged loop
that solves them lives in :mod:`optim.models.rationing.reference`.
"""

from __future__ import annotations

import numpy as np
import pyomo.environ as pyo
from numpy.typing import NDArray

from optim.models.rationing.arrays import Problem


def flow_model(
    p: Problem, lower: NDArray[np.float64], upper: NDArray[np.float64]
) -> pyo.ConcreteModel:
    """``x_ic ≥ 0``; ``Σ_i x_ic ≤ s_c``; ``lower_i ≤ a_i = Σ_c x_ic ≤ upper_i``."""
    m = pyo.ConcreteModel()
    m.I = pyo.RangeSet(0, p.num_lines - 1)
    m.C = pyo.RangeSet(0, p.num_cells - 1)
    m.E = pyo.RangeSet(0, p.num_arcs - 1)
    m.x = pyo.Var(m.E, domain=pyo.NonNegativeReals)
    arcs_of_line: list[list[int]] = [[] for _ in range(p.num_lines)]
    arcs_of_cell: list[list[int]] = [[] for _ in range(p.num_cells)]
    for a, (i, c) in enumerate(zip(p.arc_line.tolist(), p.arc_cell.tolist(), strict=True)):
        arcs_of_line[i].append(a)
        arcs_of_cell[c].append(a)
    m.alloc = pyo.Expression(m.I, rule=lambda m, i: sum(m.x[a] for a in arcs_of_line[i]))
    m.supply = pyo.Constraint(
        m.C,
        rule=lambda m, c: (
            sum(m.x[a] for a in arcs_of_cell[c]) <= float(p.supply[c])
            if arcs_of_cell[c]
            else pyo.Constraint.Skip
        ),
    )
    m.line_lo = pyo.Constraint(
        m.I,
        rule=lambda m, i: (
            m.alloc[i] >= float(lower[i]) if arcs_of_line[i] else pyo.Constraint.Skip
        ),
    )
    m.line_hi = pyo.Constraint(
        m.I,
        rule=lambda m, i: (
            m.alloc[i] <= float(upper[i]) if arcs_of_line[i] else pyo.Constraint.Skip
        ),
    )
    return m


def maximise_total(m: pyo.ConcreteModel, lines: NDArray[np.int64]) -> pyo.ConcreteModel:
    """Objective: the total allocation of ``lines`` (a tier)."""
    m.obj = pyo.Objective(expr=sum(m.alloc[int(i)] for i in lines), sense=pyo.maximize)
    return m


def add_level(
    m: pyo.ConcreteModel,
    lines: NDArray[np.int64],
    weight: NDArray[np.float64],
    upper: float,
    fixed: float | None = None,
) -> pyo.ConcreteModel:
    """One level λ for every listed line: ``a_i ≥ λ w_i``, ``λ ≤ upper`` (or ``λ = fixed``)."""
    m.lam = pyo.Var(bounds=(0.0, upper))
    if fixed is not None:
        m.lam.fix(fixed)
    m.level = pyo.Constraint(
        range(len(lines)),
        rule=lambda m, k: m.alloc[int(lines[k])] >= float(weight[k]) * m.lam,
    )
    return m


def linear_cost(
    m: pyo.ConcreteModel, cost: NDArray[np.float64], previous: NDArray[np.float64] | None = None
) -> pyo.Expression:
    """``Σ cost_a x_a``, plus ``Σ |x_a − p_a|`` when ``previous`` is given."""
    expr = sum(float(cost[a]) * m.x[a] for a in m.E if cost[a])
    if previous is None:
        return expr
    m.dev = pyo.Var(m.E, domain=pyo.NonNegativeReals)
    m.dev_pos = pyo.Constraint(m.E, rule=lambda m, a: m.dev[a] >= m.x[a] - float(previous[a]))
    m.dev_neg = pyo.Constraint(m.E, rule=lambda m, a: m.dev[a] >= float(previous[a]) - m.x[a])
    return expr + sum(m.dev[a] for a in m.E)
