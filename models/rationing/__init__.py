r"""Shortage rationing by pre-approved priority: the formulation.

Sets and data
-------------
- lines :math:`i \in I` with request :math:`r_i`, cap :math:`q_i = \min(r_i, \text{max}_i)`,
  contractual minimum :math:`m_i \le q_i`, tier :math:`t(i)` (1 first) and rule weight
  :math:`w_i` (proportional: :math:`w_i = r_i`; equal: :math:`w_i = 1`; weighted:
  :math:`w_i = \text{weight}_i`), so that the rule's ratio is :math:`a_i / w_i`.
- cells :math:`c = (\text{item}, \text{location})` with stock :math:`s_c`.
- arcs :math:`(i, c) \in E` when line *i* may draw from cell *c* (its item, an eligible
  location), with preference rank :math:`\rho_{ic}` and lane cost :math:`\kappa_{ic}`.

Variables: flows :math:`x_{ic} \ge 0`; allocation :math:`a_i = \sum_c x_{ic}`.
Feasible set :math:`P = \{a : \exists x \ge 0,\ \sum_i x_{ic} \le s_c,\ a_i \le q_i\}`.

Stages (lexicographic, each fixes what it decides)
--------------------------------------------------
0. **Minimums.** Run stages 1–2 with requests :math:`m_i` in place of :math:`q_i`; the result
   :math:`f_i \le m_i` becomes a floor :math:`a_i \ge f_i` for every later stage
   (:math:`f = m` whenever the minimums are jointly feasible).
1. **Tier totals.** :math:`\max \sum_i W_{t(i)} a_i` over :math:`a \in P, a \ge f` with any
   strictly decreasing :math:`W_1 > W_2 > \dots > W_K > 0`. :math:`P` (shifted by the floors)
   is a polymatroid, so the greedy theorem makes every optimum lexicographically optimal:
   tier 1 gets its maximum, then tier 2 the maximum left, … — exact, not a penalty
   approximation (write :math:`\sum_t W_t A_t = \sum_t (W_t - W_{t+1}) A_{\le t}` and note
   that each cumulative total :math:`A_{\le t}` is maximised at once by the greedy vector).
   A tier whose total equals its requests is served in full (:math:`a_i = q_i`).
2. **Fair share** in each tier that is short, in tier order, with earlier tiers fixed and
   later tiers held at their floors: the leximin vector of ratios :math:`a_i / w_i`, which
   for a polymatroid is Fujishige's lexicographically optimal base. Computed by progressive
   filling: :math:`\max \sum_k \lambda_k` s.t. :math:`a_i \ge \lambda_{k(i)} w_i` for the
   unfrozen lines of component *k*, :math:`\lambda_k \le \min q_i / w_i`; lines whose row has
   a non-zero dual are blocked in every optimum and freeze at :math:`\lambda_k w_i`, capped
   lines freeze at :math:`q_i`; repeat until every line is frozen. On a single location this
   is water-filling :math:`a_i = \min(q_i, \max(f_i, \lambda w_i))`.
3. **Integer rules.** Components with ``lot_size`` / ``all_or_nothing`` lines are re-solved tier
   by tier as MIPs: maximise the tier total under integrality, then minimise
   :math:`\sum_i |a_i - \hat a_i| / w_i` to the continuous fair share :math:`\hat a`.
4. **Routing.** With every :math:`a_i` fixed: minimise lane cost, then (``stability``) the
   change :math:`\sum |x_{ic} - x^{prev}_{ic}|`, then the preference rank
   :math:`\sum \rho_{ic} x_{ic}`; each stage keeps the previous optimum. One min-cost flow
   with lexicographic arc costs (:mod:`optim.models.rationing.routing`: successive shortest
   paths) on small components; three LPs per block elsewhere.

Items never share stock, and neither do the connected components of the line–cell graph, so
the stages run on batches of components (block-diagonal LPs) rather than one monolithic LP.
"""
