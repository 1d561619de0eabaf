r"""Multi-echelon safety-stock placement: the Guaranteed-Service Model (Graves & Willems 2000).

Data
----
Stages :math:`j \in J` with lead time :math:`T_j \in \mathbb{Z}_{\ge 0}`, holding cost
:math:`h_j \ge 0` per unit of safety stock per period, external inbound service time
:math:`s^e_j \ge 0` and optional bound :math:`\bar S_j`. Arcs :math:`i \to j` (``i`` supplies
``j``) with quantity :math:`q_{ij} > 0` form a directed acyclic graph. Demands
:math:`d \in D` (one per (stage, segment)) at stage :math:`j(d)` with mean :math:`\mu_d`,
standard deviation :math:`\sigma_d`, service level :math:`\alpha_d \in (0,1)`,
:math:`z_d = \Phi^{-1}(\alpha_d)`, and promised service time :math:`p_d`.

:math:`\varphi_{jd} = \sum_{\text{paths } j \to j(d)} \prod_{\text{arcs}} q` (units of
``j`` per unit of demand ``d``; :math:`\varphi_{j(d)d}` includes the empty path, 1).
Mean demand at ``j`` is :math:`\mu_j = \sum_d \varphi_{jd} \mu_d`.

Safety stock
------------
:math:`SS_j(\tau) = k_j \sqrt{\tau}` with, by ``pooling``:

* ``"critical_level"`` (default): a stage whose segments differ in target or service measure
  (or with fill-rate targets, or discrete demand) serves them from one base stock with a
  critical level per segment, the least stock with which *every* segment meets its own
  target (exact per-segment service, :mod:`.critical`); its safety stock is a table
  :math:`SS_j(\tau)` (below). Every other stage is sized as ``max_z``; a stage with one
  segment measured by cycle service is exactly :math:`z_d\sigma_d\sqrt\tau` as before.
* ``"max_z"``: :math:`k_j = \max_{d:\varphi_{jd}>0} z_d \cdot
  \sqrt{\sum_d (\varphi_{jd}\sigma_d)^2}` (pooled demand covered at the strictest service
  level among the segments the stage serves: one z for the stage, as in single-class GSM;
  every segment meets its target). The saving of ``critical_level`` is stated against
  covering the strictest *on the critical-level model* (the same demand laws and measures,
  critical levels 0: :mod:`.strictest`), never against this normal approximation.
* ``"root_sum_square"``: :math:`k_j = \sqrt{\sum_d (\varphi_{jd} z_d \sigma_d)^2}`.
  **Does not differentiate service**: stock is issued first come, first served, so every
  segment at a stage gets the same pooled service, below the strictest target (results
  that use it say so in their message).
* ``"additive"``: :math:`k_j = \sum_d \varphi_{jd} z_d \sigma_d` (no pooling: perfectly
  correlated segments; an upper bound on the root-sum-square stock; does not differentiate
  service either).

Service levels below 0.5 give :math:`z_d < 0`; :math:`k_j` is floored at 0.

Models whose stock is not :math:`k_j\sqrt\tau` hand a table :math:`SS_j(\tau)`,
:math:`\tau = 0..L_j`, non-decreasing in :math:`\tau` (:attr:`GSMData.ss_table`, built in
:mod:`.tables`); the tree DP, the assignment MIP and the Pyomo reference are exact for any
such table (tested against brute force), the piecewise-linear MIP needs the square root.
Random and fractional lead times (``lead_time_std_dev``, ``lead_time_distribution``) give
such tables: :mod:`.lead_times` (demand over a random replenishment time, exact mixture
quantile, stock held for early arrivals, optimal order-release delay).

Model
-----
Integer outbound service times :math:`S_j` and inbound service times :math:`SI_j`:

.. math::

    \min \sum_j h_j k_j \sqrt{\tau_j}
    \quad\text{s.t.}\quad
    \tau_j = SI_j + T_j - S_j \ge 0,\quad
    SI_j \ge S_i \;(i \to j),\quad
    SI_j \ge s^e_j,\quad
    0 \le S_j \le \bar S_j,\quad
    S_j \le p_d \;(j(d) = j).

Each demand ``d`` is a node fed by its stage with lead time 0, no holding cost and outbound
service time at most :math:`p_d`; as it holds no stock this is :math:`S_{j(d)} \le p_d`, so
segments at one stage share the stage's stock but may be promised different times (the
tightest promise binds). Safety stock is held at stages only; the base-stock level is
:math:`\mu_j \tau_j + SS_j(\tau_j)`. Every instance is feasible (:math:`S \equiv 0`,
:math:`SI_j = \max(s^e_j, \max_{i\to j} S_i)` satisfies all constraints), so a promise can
always be met by holding enough stock; it never makes the model infeasible.

WLOG :math:`SI_j = \max(s^e_j, \max_{i \to j} S_i)` and
:math:`S_j \le L_j := E_j + T_j` with :math:`E_j = \max(s^e_j, \max_{i\to j} L_i)`, so every
:math:`\tau_j \in \{0, \dots, L_j\}`.

Solvers
-------
* :func:`~optim.models.safety_stock.serial.solve_serial_chain` — serial chains (square-root
  costs, external time at the head only, the promise at the tail) in :math:`O(N^2)` by the
  extreme-point property, :mod:`.serial`; the solve uses it before the tree DP.
* :func:`solve_tree_dp` — exact dynamic program for spanning trees (serial, assembly,
  distribution, mixed; forests too), :math:`O(N M^2)` with ``M`` the longest replenishment
  time, vectorised per stage, :mod:`.dp`.
* :func:`build_assignment_mip` — one binary per feasible pair :math:`(S_j, SI_j)` with its
  exact cost and arcs as stochastic-dominance rows between cumulative indicators,
  :mod:`.assignment`. Its LP relaxation is exact on trees and on a general network at least
  as strong as every spanning-tree relaxation; threshold rounding of the LP gives feasible
  points. Default for general networks while the pair count is moderate.
* :func:`build_mip` — piecewise-linear MIP on integer breakpoints of
  :math:`\sqrt{\tau}` (exact: TU constraints + concave cost; a lower bound on a subset of
  the breakpoints), :mod:`.mip`, solved with adaptive refinement.
* :func:`spanning_forests` + :func:`tree_dp` — spanning-forest DP relaxations (lower bound and
  a first feasible point, Humair & Willems 2011), :mod:`.relax`.
* :func:`~optim.models.safety_stock.pyomo.build_pyomo` — Pyomo reference MIP.

The solve loops (LP, rounding, MIP, refinement) live in :mod:`optim.models.safety_stock.solve`.

References
----------
S. C. Graves, S. P. Willems (2000). Optimizing strategic safety stock placement in supply
chains. Manufacturing & Service Operations Management 2(1):68–83.
S. Humair, S. P. Willems (2011). Technical note — Optimizing strategic safety stock placement
in general acyclic networks. Operations Research 59(3):781–787.
"""

from __future__ import annotations

from optim.instances.safety_stock import SafetyStockInstance
from optim.models.safety_stock.assignment import (
    AssignmentMip,
    build_assignment_mip,
    count_pairs,
    initial_pairs,
    merge_pairs,
    price_pairs,
    threshold_roundings,
)
from optim.models.safety_stock.data import (
    GSMData,
    Solution,
    evaluate,
    is_feasible,
    normalize,
    prepare,
)
from optim.models.safety_stock.dp import TreeDPResult, is_forest, tree_dp
from optim.models.safety_stock.mip import GSMMip, build_mip, default_breakpoints
from optim.models.safety_stock.relax import spanning_forests

__all__ = [
    "AssignmentMip",
    "GSMData",
    "GSMMip",
    "Solution",
    "TreeDPResult",
    "build_assignment_mip",
    "build_mip",
    "count_pairs",
    "default_breakpoints",
    "evaluate",
    "initial_pairs",
    "is_feasible",
    "is_forest",
    "merge_pairs",
    "normalize",
    "prepare",
    "price_pairs",
    "solve_tree_dp",
    "spanning_forests",
    "threshold_roundings",
    "tree_dp",
]


def solve_tree_dp(instance: SafetyStockInstance | GSMData) -> Solution:
    """Exact GSM optimum of a spanning-tree network (Graves–Willems DP, :math:`O(NM^2)`).

    Parameters
    ----------
    instance
        The instance, or its prepared arrays (:func:`prepare`).

    Returns
    -------
    Solution
        Service times, net replenishment times, safety stock and cost per stage.

    Raises
    ------
    ValueError
        When the underlying undirected graph has a cycle (use the MIP).
    """
    data = prepare(instance) if isinstance(instance, SafetyStockInstance) else instance
    return normalize(data, tree_dp(data).outbound)
