"""Instances: one validated schema per kind (:mod:`.rationing`, :mod:`.safety_stock`,
:mod:`.capacity`) with their CSV-folder readers and JSON Schemas, shared validation helpers
(:mod:`.base`, :mod:`.tables`), foreign formats (:mod:`.io`: Willems / SNC chains, stockpyl,
the xlsx map), seeded generators (:mod:`.generators`) and the bundled examples (``data/``).

May import: :mod:`optim.errors`, other modules of :mod:`optim.instances` and the pure graph
helpers :mod:`optim.models.graph`. Never the other models, the solvers, the API, the CLI or
the planning product (checked by ``tests/test_layout.py``).
"""
