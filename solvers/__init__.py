"""Solver adapters: a built problem (:class:`optim.models.problem.LinearProgram`) in, a raw
solution out — HiGHS through highspy (:mod:`.highs`, with warm-started sessions and MIP
starts in :mod:`.highs_mip_start`) and Pyomo's HiGHS interface (:mod:`.pyomo_highs`).

May import: :mod:`optim.models.problem` (the problem types), :mod:`optim.status`,
:mod:`optim.params`, :mod:`optim.errors`. Never a kind's model (``optim.models.<kind>``),
the instances, the API or the CLI: solvers depend on models' problem types, not the reverse.
"""
