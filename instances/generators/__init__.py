"""Seeded instance generators, one module per kind: :mod:`.rationing`, :mod:`.capacity`,
:mod:`.gsm` (safety-stock networks) and :mod:`.history` (order history for segmentation).

Each draws from its own ``numpy`` / ``random`` generator seeded by the caller, so the same
seed gives the same instance on every machine; tests and benchmarks build their instances
here, never from the network.
"""
