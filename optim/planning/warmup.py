"""Compile the planning run's numba kernels on the second core while the first one works.

The kernels of safety stock (critical levels, the tree DP, the stock plan's simulation), of
the replenishment simulation and of rationing are compiled on first use and kept in numba's
on-disk cache (``cache=True``; ``NUMBA_CACHE_DIR`` or ``__pycache__`` beside the modules).
After an install or a clone the cache is empty and the compilation costs more than the rest of
the demo (benchmarks/RESULTS.md, "optim demo: first run after an install").

:func:`background` starts, when the cache of any kernel in :data:`KERNELS` is missing or out
of date, one spawned process that runs a small planning example through the same code
(:func:`warm`: the seeded distributor example with the seasonal naive forecast, so that it
reaches the kernels at once, in the order the run needs them) and so writes the cache, while
the main process reads, segments and forecasts. No kernel is compiled in both processes: at
each step that calls kernels (:data:`STAGES`) the main process calls :func:`reached`, which
loads that step's kernels from the cache once the warm-up has written them; the main
process, reaching safety stock before the warm-up has, compiles rationing's flow kernel
meanwhile and the warm-up its routing kernel after the others (each then loads the other's).
Numba writes its cache files atomically, so
neither process reads a partial file. ``tests/planning/test_warmup.py`` shows that
:func:`warm` caches every kernel a planning run calls and that a cold run compiles each
kernel in one process; the demo's files are the same bytes cold with and without the
warm-up and warm (benchmarks/RESULTS.md).

:func:`missing` reads numba's cache index through the dispatcher's private ``_cache``
attribute: numba (0.68) has no public call that says whether a kernel is cached without
compiling or loading it (``Dispatcher.stats`` counts hits and misses only after a call).
"""

from __future__ import annotations

import importlib
import multiprocessing
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.process import BaseProcess
from typing import Any

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


STAGES = ("safety_stock", "simulate", "rationing")
"""The planning run's steps that call kernels, in order (:func:`reached` is called at the
start of each): the safety-stock step (critical levels, the tree DP, the replenishment
simulation), the stock plan's simulation and rationing."""


@dataclass
class _Signals:
    """What the two processes tell each other (multiprocessing events of one context)."""

    done: dict[str, Any]  # stage -> set once the warm-up cached that stage's kernels
    claimed: Any  # set when the main process compiles rationing's flow kernel itself
    rationed: Any  # set once it has (it is in the cache)
    routed: Any  # set once the warm-up cached rationing's routing kernel (when claimed)
    lock: Any  # check-and-claim of rationing, atomic in both processes


_main: tuple[BaseProcess, _Signals] | None = None  # the main process: its warm-up, if any
_child: _Signals | None = None  # the warm-up process: its signals


def _wait(event: Any, proc: BaseProcess | None = None) -> None:
    while not event.wait(0.05):
        if proc is not None and not proc.is_alive():
            return  # ended (or failed): the caller compiles what is left itself


def reached(stage: str) -> None:
    """Called by the planning run at the start of each step of :data:`STAGES`; nothing unless
    a warm-up process works beside this one (or this is that process).

    Main process: a stage's kernels are loaded from the cache the warm-up writes, never
    compiled twice. The warm-up goes through the stages in the run's order; when the main
    process reaches the safety-stock step before the warm-up has cached it, it compiles
    rationing's flow kernel itself meanwhile (the run's longest compile, needed last), then
    waits for the warm-up's safety-stock kernels; at each later stage it waits for that
    stage's kernels, at rationing for the routing kernel, which the warm-up then compiles
    after the simulation's (before, the main process compiled both of rationing's kernels
    on its critical path while the warm-up, done, waited for them). In the warm-up process:
    marks the stages before ``stage`` as cached; at rationing, when the main process took
    the flow kernel, compiles the routing kernel and loads the flow kernel once cached.
    """
    if _child is not None:
        sig = _child
        with sig.lock:
            for name in STAGES[: STAGES.index(stage)]:
                sig.done[name].set()
            mine = stage == "rationing" and not sig.claimed.is_set()
        if stage == "rationing" and not mine:
            from optim.models.rationing.engine import load_route_kernel

            load_route_kernel()
            sig.routed.set()
            # the main process compiles it: load it from the cache (the wait also returns
            # when the main process is gone, killed: it polled forever before)
            _wait(sig.rationed, multiprocessing.parent_process())
        return
    if _main is None:
        return
    proc, sig = _main
    if stage == "safety_stock":
        with sig.lock:
            claim = not sig.done["safety_stock"].is_set()
            if claim:
                sig.claimed.set()
        if claim:
            from optim.models.rationing.engine import load_flow_kernel

            load_flow_kernel()
            sig.rationed.set()
    if stage == "rationing" and sig.claimed.is_set():
        _wait(sig.routed, proc)  # ended early: the rationing step compiles it
        return
    _wait(sig.done[stage], proc)


def warm(signals: _Signals | None = None) -> None:
    """Compile and cache every kernel of :data:`KERNELS` (the spawned process' target, with
    the main process' ``signals``; also ``make install``, without): a small planning example
    (the seeded distributor example with the seasonal naive forecast, nothing written) reaches
    the kernels in the order the planning run needs them, then rationing's (compiled by the
    example's rationing step, or by the main process, see :func:`reached`)."""
    import dataclasses

    from optim.models.rationing.engine import load_kernels
    from optim.params import SolveParams
    from optim.planning import pipeline
    from optim.planning.distributor import distributor_example

    global _child
    _child = signals
    try:
        data = distributor_example(2026, n_items=40, n_customers=20, weeks=60)
        pipeline.run(dataclasses.replace(data, forecast="seasonal_naive"))
        load_kernels(SolveParams())
        if signals is not None:
            for event in signals.done.values():
                event.set()
    finally:
        _child = None


@contextmanager
def background() -> Iterator[BaseProcess | None]:
    """While the block runs, compile the kernels in a spawned process if any is missing from
    the cache (the process, else ``None``; the block's planning run coordinates with it
    through :func:`reached`); at the end the process is stopped if still busy (a cache file
    is written whole or not at all)."""
    global _main
    if not missing():
        yield None
        return
    ctx = multiprocessing.get_context("spawn")
    signals = _Signals(
        done={name: ctx.Event() for name in STAGES},
        claimed=ctx.Event(),
        rationed=ctx.Event(),
        routed=ctx.Event(),
        lock=ctx.Lock(),
    )
    proc = ctx.Process(target=warm, args=(signals,), name="optim-kernel-warm-up", daemon=True)
    proc.start()
    _main = (proc, signals)
    try:
        yield proc
    finally:
        _main = None
        if proc.is_alive():
            proc.terminate()
        proc.join()
