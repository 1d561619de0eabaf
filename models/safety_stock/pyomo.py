"""Pyomo reference formulation of the GSM MIP (checked against the array fast path).

Same model as :mod:`optim.models.safety_stock.mip`, written independently with Pyomo's
``Piecewise`` component (incremental ``INC`` representation) on every integer breakpoint
:math:`0..L_j`:

.. math::

    \\min \\sum_j c_j \\quad\\text{s.t.}\\quad c_j = h_j k_j \\sqrt{\\tau_j}
    \\text{ (interpolated)},\\;
    \\tau_j = SI_j + T_j - S_j \\ge 0,\\;
    SI_j \\ge S_i \\;(i \\to j),\\;
    s^e_j \\le SI_j,\\; 0 \\le S_j \\le \\bar S_j,

with integer :math:`S_j, SI_j`. Variables are indexed by stage id.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from optim.models.safety_stock.data import GSMData

__all__ = ["build_pyomo"]


def build_pyomo(data: GSMData) -> Any:
    """Build the Pyomo ``ConcreteModel`` (no solve).

    The model has ``S``, ``SI``, ``tau`` and ``cost`` indexed by stage id, and objective
    ``total_cost``.
    """
    import pyomo.environ as pyo

    ids = list(data.ids)
    pos = {sid: j for j, sid in enumerate(ids)}
    m = pyo.ConcreteModel(name="gsm")
    m.J = pyo.Set(initialize=ids, ordered=True)
    m.S = pyo.Var(
        m.J, domain=pyo.NonNegativeIntegers, bounds=lambda _m, j: (0, int(data.s_max[pos[j]]))
    )
    m.SI = pyo.Var(
        m.J,
        domain=pyo.NonNegativeIntegers,
        bounds=lambda _m, j: (int(data.external[pos[j]]), int(data.si_max[pos[j]])),
    )
    m.tau = pyo.Var(m.J, bounds=lambda _m, j: (0, int(data.tau_max[pos[j]])))
    m.net_replenishment = pyo.Constraint(
        m.J, rule=lambda _m, j: _m.tau[j] == _m.SI[j] + int(data.lead_time[pos[j]]) - _m.S[j]
    )
    arcs = [
        (ids[i], ids[j]) for i, j in zip(data.source.tolist(), data.target.tolist(), strict=True)
    ]
    m.A = pyo.Set(initialize=arcs, dimen=2)
    m.inbound = pyo.Constraint(m.A, rule=lambda _m, i, j: _m.SI[j] >= _m.S[i])

    if data.ss_table is None:
        costed = [j for j in ids if data.unit_cost[pos[j]] > 0 and data.tau_max[pos[j]] > 0]
    else:
        assert data.holding is not None
        costed = [j for j in ids if data.holding[pos[j]] > 0 and data.tau_max[pos[j]] > 0]
    m.C = pyo.Set(initialize=costed, ordered=True)
    m.cost = pyo.Var(m.C, domain=pyo.NonNegativeReals)
    points = {j: list(range(int(data.tau_max[pos[j]]) + 1)) for j in costed}

    def f_rule(_m: Any, j: str, x: float) -> float:
        if data.ss_table is None:
            return float(data.unit_cost[pos[j]]) * math.sqrt(x)
        return float(data.stage_cost(pos[j], np.array(round(x))))

    m.holding = pyo.Piecewise(
        m.C, m.cost, m.tau, pw_pts=points, pw_constr_type="EQ", pw_repn="INC", f_rule=f_rule
    )
    m.total_cost = pyo.Objective(expr=sum(m.cost[j] for j in m.C), sense=pyo.minimize)
    return m


def service_times(model: Any, data: GSMData) -> tuple[list[int], list[int]]:
    """Rounded :math:`(S, SI)` in stage order from a solved model."""
    s = [round(model.S[j].value or 0) for j in data.ids]
    si = [round(model.SI[j].value or 0) for j in data.ids]
    return s, si
