r"""Peak-period capacity allocation across customer segments.

When a demand peak exceeds capacity: what to make when and on which resources, what to
pre-build, and which segment waits or loses how much.

Sets
----
:math:`t \in T` ordered periods (:math:`t = 1..|T|`), :math:`r \in R` resources,
:math:`p \in P` products, :math:`j \in J_p` routings of product :math:`p` (one, ``"default"``,
unless the product lists ``routings``), :math:`s \in S` segments.

Parameters
----------
:math:`C_{rt}` regular hours, :math:`O_{rt}` overtime hours, :math:`c_r` cost per overtime
hour; :math:`a_{jr}` hours per unit of routing :math:`j` on resource :math:`r`, :math:`u_j`
extra cost per unit made on routing :math:`j`; :math:`h_p` holding cost,
:math:`I_{p0}` initial and :math:`\bar I_p` maximum inventory; :math:`d_{pst}` demand;
:math:`b_s` backlog cost per unit and period, :math:`\ell_s` lost-sales cost per unit,
:math:`k_s` maximum backlog periods, :math:`f_s` fill-rate floor.

Variables
---------
production :math:`x_{pjt} \ge 0` (:math:`x_{pt} = \sum_j x_{pjt}`); overtime
:math:`o_{rt} \in [0, O_{rt}]`; end inventory :math:`0 \le I_{pt} \le \bar I_p`; shipments
:math:`y_{pst} \ge 0`; end backlog :math:`B_{pst} \ge 0`; lost sales :math:`L_{pst} \ge 0`.

Constraints
-----------
.. math::

    I_{pt} &= I_{p,t-1} + x_{pt} - \textstyle\sum_s y_{pst}
        && \text{(inventory balance)} \\
    B_{pst} &= B_{ps,t-1} + d_{pst} - y_{pst} - L_{pst},\quad B_{ps0} = 0
        && \text{(backlog balance)} \\
    B_{pst} &\le \textstyle\sum_{\tau=t-k_s+1}^{t} d_{ps\tau},\quad B_{ps|T|} = 0
        && \text{(demand waits at most } k_s \text{ periods; } k_s = 0 \Rightarrow B \equiv 0) \\
    \textstyle\sum_{p,j} a_{jr} x_{pjt} &\le C_{rt} + o_{rt}
        && \text{(capacity)} \\
    \textstyle\sum_{p,t} y_{pst} &\ge f_s \textstyle\sum_{p,t} d_{pst}
        && \text{(fill-rate floor)}

Objective
---------
.. math::

    \text{cost} = \sum h_p I_{pt} + \sum c_r o_{rt} + \sum b_s B_{pst}
                  + \sum \ell_s L_{pst} \;\bigl[+ \sum u_j x_{pjt}\bigr]

(the bracket is the routing extension and is zero without ``routings``).

* ``objective="cost"`` minimises cost. The marginal value of one more regular hour of
  resource :math:`r` in period :math:`t` is minus the dual of its capacity row.
* ``objective="lexicographic"`` minimises, priority by priority (1 first), that priority's
  shortfall cost :math:`\sum_{s \in g} (b_s B_{pst} + \ell_s L_{pst})`; each finished stage
  :math:`g` keeps ``shortfall_g <= z_g + tol * max(1, |z_g|)`` with ``tol = 1e-6``
  (:data:`LEX_TOLERANCE`); a last stage minimises total cost.

Extensions
----------
* **Alternative routings.** A product with ``routings: [{id, usage, unit_cost?}]`` instead of
  ``usage`` gets one production variable per routing and period, :math:`x_{pjt}`; the plan
  may split a period's production across routings. ``unit_cost`` :math:`u_j` prices slower
  or outsourced routes.
* **Lot sizing (MIP).** With ``lot_sizing: true`` a binary :math:`z_{pjt}` per routing and
  period adds ``setup_cost`` :math:`\sigma_p z_{pjt}` to the cost and enforces
  :math:`m_p z_{pjt} \le x_{pjt} \le M_{pjt} z_{pjt}`, with ``min_lot_size`` :math:`m_p` and
  :math:`M_{pjt} = \min_r (C_{rt} + O_{rt}) / a_{jr}` (no more can be made). Default: the
  LP, which ignores setup costs and lot sizes. No duals are reported for the MIP.

Fast-path reformulation (:mod:`.lp`, exact)
-------------------------------------------
Shipments are split by the period of the demand they serve: :math:`w_{ps\tau\delta} \ge 0`
ships demand of period :math:`\tau` in period :math:`\tau + \delta`, for
:math:`0 \le \delta \le k_s` and :math:`\tau + \delta \le |T|`, with

.. math::

    \textstyle\sum_\delta w_{ps\tau\delta} \le d_{ps\tau}, \qquad
    y_{pst} = \sum_{\delta} w_{ps,t-\delta,\delta}, \qquad
    B_{pst} = \sum_{\tau \le t < \tau + \delta} w_{ps\tau\delta}, \qquad
    L_{ps\tau} = d_{ps\tau} - \sum_\delta w_{ps\tau\delta},

so that backlog cost is :math:`b_s \delta` per unit shipped :math:`\delta` late and lost
sales cost :math:`\ell_s (d - \sum w)`: the objective is a constant
:math:`\sum \ell_s d_{ps\tau}` plus :math:`(b_s \delta - \ell_s)` on each
:math:`w_{ps\tau\delta}`. Every such :math:`w` gives a feasible :math:`(y, B, L)` of the
model above with the same cost; conversely any feasible :math:`(y, B, L)`, read first in
first out, gives a :math:`w` (each unit waits at most :math:`k_s` periods because
:math:`B_{pst}` never exceeds the last :math:`k_s` periods' demand) whose cost is no higher
(units the model lets wait and then loses are lost at once). So the optimal values agree;
the Pyomo reference (:mod:`.pyomo`) states the model as written above, with every variable,
and the tests compare the two. Variables exist only where demand is positive; the row
becomes a bound where a demand can ship in one period only (:math:`k_s = 0`).

Without fill-rate floors, products that share no resource form independent blocks
(:mod:`.decompose`) solved one by one (or in parallel threads) and added up: exact for the
LP, the MIP and every lexicographic stage. Large LPs (:data:`optim.models.capacity.solve.LARGE_LP`
columns or more) are solved by HiGHS's interior point method with crossover, so the
returned solution is a vertex and the duals are basic.

Reading the solution
--------------------
* on time: a period's shipments serve that period's demand first,
  ``on_time = min(y, d)``; ``fill_rate = Σ y / Σ d``. Backlog and lost sales are those of
  the transport form (unserved demand is lost in its own period).
* pre-build: stock at the end of a period beyond what is left of the initial inventory
  (initial stock is taken to leave first); peak periods are those whose demand, made on each
  product's first routing, needs more hours on some resource than regular plus overtime.
"""

from optim.models.capacity.data import LEX_TOLERANCE as LEX_TOLERANCE
from optim.models.capacity.data import CapacityData as CapacityData
from optim.models.capacity.data import CapacitySolution as CapacitySolution
from optim.models.capacity.data import from_instance as from_instance

__all__ = ["LEX_TOLERANCE", "CapacityData", "CapacitySolution", "from_instance"]
