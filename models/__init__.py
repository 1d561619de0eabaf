"""Formulations, one room per kind: ``rationing/``, ``safety_stock/``, ``capacity/``.

Each kind's folder holds its math (module docstring), the array preparation, the builders,
the solve loop (``solve.py``: method choice, stages, extraction of result tables), and the
Pyomo reference formulation. :mod:`.problem` holds the problem types builders produce
(:class:`~optim.models.problem.LinearProgram`) and :mod:`.graph` the graph helpers.

May import: :mod:`optim.instances` (validated instances), :mod:`optim.solvers` (adapters, to
run a built problem), and the shared contract :mod:`optim.result`, :mod:`optim.status`,
:mod:`optim.params`, :mod:`optim.errors`. Never the API (:mod:`optim.api`), the CLI or the
planning product (:mod:`optim.planning`, :mod:`optim.segmentation`).
"""
