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
