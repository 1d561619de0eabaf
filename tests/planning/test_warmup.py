"""The kernel warm-up (optim.planning.warmup) on an empty numba cache, in fresh processes
(numba reads ``NUMBA_CACHE_DIR`` at import)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from optim.planning import warmup

_RUN_SMALL = """
import importlib, json, sys
from pathlib import Path
from optim.planning import warmup
from optim.planning.demo import run
before = warmup.missing()
code = run(Path(sys.argv[1]), quiet=True, n_items=40, n_customers=20, weeks=60)
stats = {}
for module, names in warmup.KERNELS:
    mod = importlib.import_module(module)
    for name in names:
        s = getattr(mod, name).stats
        stats[f"{module}.{name}"] = [sum(s.cache_hits.values()), sum(s.cache_misses.values())]
print(json.dumps({"before": before, "code": code, "stats": stats, "missing": warmup.missing()}))
"""


def _python(code: str, cache: Path, *args: str) -> str:
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    done = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_warm_caches_every_kernel_a_planning_run_calls(tmp_path: Path) -> None:
    """An empty cache misses every kernel; after :func:`warmup.warm` a planning run loads each
    kernel it calls from the cache and compiles none (so no warm-up process starts)."""
    cache = tmp_path / "numba"
    names = [f"{m}.{n}" for m, ns in warmup.KERNELS for n in ns]
    code = "import json; from optim.planning import warmup; print(json.dumps(warmup.missing()))"
    assert json.loads(_python(code, cache)) == names
    _python("from optim.planning.warmup import warm; warm()", cache)
    out = json.loads(_python(_RUN_SMALL, cache, str(tmp_path / "out")))
    assert out["before"] == [] and out["code"] == 0
    for name, (_, misses) in out["stats"].items():
        assert misses == 0, name
    # kernels called from Python (the others, e.g. running_min, from within kernels)
    called = {name.rsplit(".", 1)[0] for name, (hits, _) in out["stats"].items() if hits}
    assert called >= {m for m, _ in warmup.KERNELS} - {"optim.models.rationing.routing"}


def test_a_cold_run_compiles_each_kernel_in_one_process_only(tmp_path: Path) -> None:
    """On an empty cache the planning run compiles nothing the warm-up process compiles: the
    safety-stock, simulation and replenishment kernels are loaded from the cache the warm-up
    wrote (it waits for them: before, the main process reached them first and compiled them
    in both processes); rationing's kernels, which the main process compiles meanwhile
    (:func:`warmup.reached`), at most once. At the end every kernel is cached."""
    out = json.loads(_python(_RUN_SMALL, tmp_path / "numba", str(tmp_path / "out")))
    assert out["code"] == 0 and out["missing"] == []
    rationing = ("optim.models.rationing.waterfill", "optim.models.rationing.routing")
    for name, (_, misses) in out["stats"].items():
        if name.startswith(rationing):
            assert misses <= 1, name
        else:
            assert misses == 0, name


_KERNEL_STATS = """
import json, sys
from optim.models.rationing import engine, routing, waterfill
from optim.params import SolveParams
{"flow": engine.load_flow_kernel, "route": engine.load_route_kernel,
 "all": lambda: engine.load_kernels(SolveParams())}[sys.argv[1]]()
print(json.dumps({n: sum(f.stats.cache_misses.values()) for n, f in (
    ("flow", waterfill._ration_components), ("route", routing._route_components))}))
"""


def test_rationing_kernels_compile_alone_with_the_types_the_solve_uses(tmp_path: Path) -> None:
    """The warm-up splits rationing's two kernels between the processes
    (:func:`~optim.models.rationing.engine.load_flow_kernel` in one,
    :func:`~optim.models.rationing.engine.load_route_kernel` in the other): each compiles
    its kernel only, for the signature the solve then loads from the cache (no compile)."""
    cache = tmp_path / "numba"
    assert json.loads(_python(_KERNEL_STATS, cache, "flow")) == {"flow": 1, "route": 0}
    assert json.loads(_python(_KERNEL_STATS, cache, "route")) == {"flow": 0, "route": 1}
    assert json.loads(_python(_KERNEL_STATS, cache, "all")) == {"flow": 0, "route": 0}


class _Alive:
    def is_alive(self) -> bool:
        return True


def _signals() -> warmup._Signals:
    import threading

    return warmup._Signals(
        done={name: threading.Event() for name in warmup.STAGES},
        claimed=threading.Event(),
        rationed=threading.Event(),
        routed=threading.Event(),
        lock=threading.Lock(),
    )


def test_main_process_compiles_the_flow_kernel_and_waits_for_the_routing(monkeypatch) -> None:
    """(Threads for the two processes.) The main process reaching safety stock first claims
    rationing's flow kernel and compiles it; the warm-up, reaching rationing, compiles the
    routing kernel and then waits for the flow kernel; the main process's rationing step
    waits for the routing kernel, never compiles it."""
    import threading

    from optim.models.rationing import engine

    calls: list[str] = []
    monkeypatch.setattr(engine, "load_flow_kernel", lambda: calls.append("flow"))
    monkeypatch.setattr(engine, "load_route_kernel", lambda: calls.append("route"))
    sig = _signals()
    monkeypatch.setattr(warmup, "_main", (_Alive(), sig))
    later = threading.Timer(0.2, sig.done["safety_stock"].set)  # the warm-up, meanwhile
    later.start()
    warmup.reached("safety_stock")  # the warm-up has not cached safety stock: claim
    later.join()
    assert calls == ["flow"] and sig.claimed.is_set() and sig.rationed.is_set()
    sig.done["simulate"].set()
    warmup.reached("simulate")

    def child() -> None:  # the warm-up process at its rationing step
        warmup._child = sig
        try:
            warmup.reached("rationing")
        finally:
            warmup._child = None

    helper = threading.Thread(target=child)
    helper.start()
    helper.join(30)
    assert calls == ["flow", "route"] and sig.routed.is_set()
    warmup.reached("rationing")  # returns: the routing kernel is cached
    assert calls == ["flow", "route"]
