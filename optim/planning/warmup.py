"""Compile the planning run's numba kernels on the second core while the first one works.

The kernels of safety stock (critical levels, the tree DP, the stock plan's simulation), of
the replenishment simulation and of rationing are compiled on first use and kept in numba's
on-disk cache (``cache=True``; ``NUMBA_CACHE_DIR`` or ``__pycache__`` beside the modules).
After an install or a clone the cache is empty and the compilation costs more than the rest of
the demo (benchmarks/RESULTS.md, "optim demo: first run after an install").

:func:`background` starts, when the cache of any kernel in :data:`KERNELS` is missing or out
of date, one spawned process that runs a small planning example through the same code
(:func:`warm`: rationing's kernels first, then the seeded distributor example with the
seasonal naive forecast, so that it reaches the kernels at once) and so writes the cache,
while the main process reads, segments and forecasts. A kernel the main process reaches
first it compiles itself, as without the warm-up; numba writes its cache files atomically, so
neither process reads a partial file. ``tests/planning/test_warmup.py`` shows that
:func:`warm` caches every kernel a planning run calls; the demo's files were the same bytes
cold with and without the warm-up and warm (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import importlib
import multiprocessing
from collections.abc import Iterator
from contextlib import contextmanager
from multiprocessing.process import BaseProcess

KERNELS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "optim.models.safety_stock.critical",
        ("_nb_search", "_nb_alone_bound", "_nb_quantile_of_sum"),
    ),
    ("optim.models.safety_stock.dp_kernels", ("bottom_up", "top_down", "running_min")),
    ("optim.models.safety_stock.simulate", ("_nb_guaranteed",)),
    ("optim.models.replenishment.simulate", ("_kernel",)),
    ("optim.models.rationing.waterfill", ("_ration_components",)),
    ("optim.models.rationing.routing", ("_route_components",)),
)
"""The kernels a planning run calls from Python (module, names); their callees are compiled
with them."""


def missing() -> list[str]:
    """The kernels of :data:`KERNELS` without a current entry in numba's disk cache (none
    written yet, or written for other source or another numba)."""
    out = []
    for module, names in KERNELS:
        mod = importlib.import_module(module)
        for name in names:
            try:  # numba's own check: the index exists, its version and source stamp match
                current = bool(getattr(mod, name)._cache._cache_file._load_index())
            except Exception:  # another numba: assume nothing is cached
                current = False
            if not current:
                out.append(f"{module}.{name}")
    return out


def warm() -> None:
    """Compile and cache every kernel of :data:`KERNELS` (the spawned process' target; also
    ``make install``): rationing's first (the longest compile, ~19 CPU s, and the last one
    the planning run needs), then a small planning example (nothing written) for the rest."""
    import dataclasses

    from optim.models.rationing.engine import load_kernels
    from optim.params import SolveParams
    from optim.planning import pipeline
    from optim.planning.distributor import distributor_example

    load_kernels(SolveParams())
    data = distributor_example(2026, n_items=40, n_customers=20, weeks=60)
    pipeline.run(dataclasses.replace(data, forecast="seasonal_naive"))


@contextmanager
def background() -> Iterator[BaseProcess | None]:
    """While the block runs, compile the kernels in a spawned process if any is missing from
    the cache (the process, else ``None``); at the end the process is stopped if still busy
    (a cache file is written whole or not at all)."""
    if not missing():
        yield None
        return
    proc = multiprocessing.get_context("spawn").Process(
        target=warm, name="optim-kernel-warm-up", daemon=True
    )
    proc.start()
    try:
        yield proc
    finally:
        if proc.is_alive():
            proc.terminate()
        proc.join()
