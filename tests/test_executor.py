"""The executor seam: order, errors, and the same bytes for any executor and worker count.

The Dask tests start a real scheduler and two worker processes on loopback (the
``dask_cluster`` fixture of tests/conftest.py, ``distributed.LocalCluster``); nothing is mocked.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

import optim
from optim import executor
from optim.instances.generators.rationing import random_rationing
from optim.models.rationing import engine


def _slow_square(x: int) -> int:
    time.sleep(0.02 * (5 - x % 5))  # later items finish first
    return x * x


def _fail_on_three(x: int) -> int:
    if x == 3:
        raise ValueError("three")
    return x


def test_fan_out_keeps_submission_order_in_processes() -> None:
    assert executor.fan_out(_slow_square, range(10), workers=2) == [x * x for x in range(10)]


def test_fan_out_serial_is_lazy_and_stops() -> None:
    seen: list[int] = []

    def fn(x: int) -> int:
        seen.append(x)
        return x

    out = executor.fan_out(fn, iter(range(10)), total=10, stop=lambda r: r == 4)
    assert out == [0, 1, 2, 3, 4] and seen == out


def test_fan_out_keeps_a_bounded_window_of_pieces_in_flight() -> None:
    """A generator of pieces is drawn only as pieces finish: at most two per worker are
    submitted and unfinished (a big instance's blocks are never all in memory at once)."""
    done = [0]
    ahead: list[int] = []

    def pieces():
        for i in range(16):
            ahead.append(i - done[0])  # submitted and not yet finished when drawing piece i
            yield i

    with executor.on_progress(lambda d, t, s: done.__setitem__(0, d)):
        out = executor.fan_out(_slow_square, pieces(), total=16, workers=2)
    assert out == [x * x for x in range(16)]
    assert max(ahead) == 3  # the window (4) was full, never more


def test_fan_out_reraises_the_workers_exception() -> None:
    with pytest.raises(ValueError, match="three"):
        executor.fan_out(_fail_on_three, range(6), workers=2)


def _until_cancelled(x: int) -> str:
    """Piece 0 returns at once; the others wait up to 60 s for the cancel of their process."""
    from optim.solvers.base import cancel_requested

    if x == 0:
        return "first"
    end = time.monotonic() + 60
    while time.monotonic() < end:
        scope = cancel_requested()
        if scope is not None and scope():
            return "cancelled"
        time.sleep(0.01)
    return "ran to the end"


def test_a_cancel_reaches_the_pieces_running_in_worker_processes() -> None:
    """Cancelled once the first piece is back: the pieces running in the two workers see the
    parent's cancel and return, the rest are never started, and the results so far come back
    in order (a short list) — within seconds, where running on would take 60 s a piece."""
    from optim.solvers.base import interruptible

    cancel = threading.Event()
    start = time.monotonic()
    with (
        executor.on_progress(lambda done, total, desc: done >= 1 and cancel.set()),
        interruptible(cancel.is_set) as scope,
    ):
        out = executor.fan_out(_until_cancelled, range(12), workers=2, cancellable=True)
    assert time.monotonic() - start < 45  # spawning two workers under load takes a while
    assert scope.stops >= 1
    assert out[0] == "first" and 1 <= len(out) < 12
    assert set(out[1:]) <= {"cancelled"}


def test_a_cancelled_rationing_over_two_workers_stops_between_and_inside_blocks(
    small_blocks, monkeypatch
) -> None:
    """A rationing solve over 2 local workers, cancelled once its first block is back: the
    blocks still running stop before their next stage, the others never run, and the result
    says so on both axes (termination interrupted, no solution: rationing returns no partial
    allocation) — without solving the remaining blocks."""
    from optim.solvers.base import interruptible

    inst = _medium()
    progress: list[tuple[int, int]] = []
    cancel = threading.Event()

    def seen(done: int, total: int, desc: str) -> None:
        progress.append((done, total))
        if done >= 1:
            cancel.set()

    start = time.monotonic()
    with executor.on_progress(seen), interruptible(cancel.is_set):
        res = optim.solve(inst, threads=2, method="lp")
    took = time.monotonic() - start
    done, total = progress[-1]
    assert total > 8 and done < total  # blocks were left unsolved
    assert res.termination is optim.Termination.INTERRUPTED
    assert res.status is optim.Status.TIME_LIMIT and not res.has_solution()
    assert res.message.startswith("cancelled before every stage finished")
    assert took < 60, took


def _pid(_: int) -> int:
    time.sleep(0.05)
    return os.getpid()


def test_fan_outs_in_a_shared_pool_block_reuse_its_processes() -> None:
    """Inside :func:`executor.shared_pool` the fan-outs run on one pool of processes (every
    piece in one of its two processes), outside it every fan-out starts its own."""
    with executor.shared_pool(2):
        first = set(executor.fan_out(_pid, range(6), workers=2))
        pool = executor._shared.get().pool  # started by the first fan-out
        assert pool is not None and pool._pool is not None
        procs = set(pool._pool._processes)
        second = set(executor.fan_out(_pid, range(6), workers=2))
        assert executor._shared.get().pool is pool and set(pool._pool._processes) == procs
        assert set(executor.fan_out(_pid, range(1), workers=2)) == {os.getpid()}  # one piece
    assert len(procs) == 2 and first | second <= procs and os.getpid() not in procs
    assert set(executor.fan_out(_pid, range(4), workers=2)).isdisjoint(procs)


def test_progress_callback_counts_every_piece() -> None:
    calls: list[tuple[int, int, str]] = []
    with executor.on_progress(lambda d, t, s: calls.append((d, t, s))):
        executor.fan_out(_slow_square, range(4), workers=1, desc="squares")
    assert calls[0] == (0, 4, "squares") and calls[-1] == (4, 4, "squares")
    assert [c[0] for c in calls] == [0, 1, 2, 3, 4]


def test_cluster_address_comes_from_argument_setting_or_env(monkeypatch) -> None:
    monkeypatch.delenv(executor.ENV_CLUSTER, raising=False)
    assert executor.cluster_address() is None
    monkeypatch.setenv(executor.ENV_CLUSTER, "tcp://127.0.0.1:1")
    assert executor.cluster_address() == "tcp://127.0.0.1:1"
    assert executor.cluster_address("tcp://127.0.0.1:2") == "tcp://127.0.0.1:2"
    with pytest.raises(ValueError, match="tcp://HOST:PORT"):
        executor.cluster_address("127.0.0.1:8786")
    # an empty host or a port out of range ran the first steps, then timed out (exit 1)
    for bad in ("tcp://:8786", "tcp://127.0.0.1:99999", "tcp://127.0.0.1"):
        with pytest.raises(ValueError, match=r"a host and a port in 1\.\.65535"):
            executor.cluster_address(bad)


def test_a_scheduler_that_does_not_answer_is_an_input_error(monkeypatch) -> None:
    """An address nothing listens on ended as "internal error: OSError: Timed out"."""
    # distributed's config defaults are loaded before the override below (set on a config
    # without them, the context's exit removed every distributed default)
    import dask
    import distributed  # noqa: F401

    from optim.errors import InstanceError

    with (
        dask.config.set({"distributed.comm.timeouts.connect": "1s"}),
        pytest.raises(InstanceError, match=r"--cluster tcp://127\.0\.0\.1:9: no Dask scheduler"),
    ):
        executor._dask_client("tcp://127.0.0.1:9")


def test_the_cli_checks_the_cluster_before_the_first_step(tmp_path, monkeypatch, capsys) -> None:
    """A port nothing listens on failed at the first fan-out, after the steps before it and a
    30 s connect timeout; a malformed $OPTIM_CLUSTER ended as an internal error (exit 1)."""
    from optim import cli

    out = tmp_path / "out"
    start = time.perf_counter()
    code = cli.main(["plan", str(tmp_path), "--out", str(out), "--cluster", "tcp://127.0.0.1:9"])
    assert code == 2 and time.perf_counter() - start < 5  # before reading the folder
    err = capsys.readouterr().err
    assert "--cluster tcp://127.0.0.1:9: no Dask scheduler answers there" in err
    assert not out.exists() and executor.cluster_address() is None

    monkeypatch.setenv(executor.ENV_CLUSTER, "bogus")
    for argv in (["plan", str(tmp_path), "--out", str(out)], ["serve", "--no-auth"]):
        assert cli.main(argv) == 2  # the service's jobs fan out too: checked before it starts
        assert "$OPTIM_CLUSTER: cluster address 'bogus' must look like tcp://HOST:PORT" in (
            capsys.readouterr().err
        )
    monkeypatch.setenv(executor.ENV_CLUSTER, "tcp://127.0.0.1:9")
    assert cli.main(["plan", str(tmp_path), "--out", str(out)]) == 2
    assert "$OPTIM_CLUSTER=tcp://127.0.0.1:9: no Dask scheduler" in capsys.readouterr().err


def test_a_scheduler_without_workers_is_an_input_error(monkeypatch) -> None:
    """The pieces waited in the scheduler's queue for a worker that never came: forever."""
    distributed = pytest.importorskip("distributed")
    from optim.errors import InstanceError

    monkeypatch.setattr(executor, "WORKERS_TIMEOUT", 0.5)
    with distributed.LocalCluster(
        n_workers=0, host="127.0.0.1", dashboard_address="127.0.0.1:0", silence_logs=40
    ) as cluster:
        address = cluster.scheduler_address
        with pytest.raises(InstanceError, match=r"the scheduler has no workers \(waited 0.5 s"):
            executor._dask_client(address)
        assert address not in executor._clients


@pytest.fixture()
def small_blocks(monkeypatch):
    """Many blocks and the parallel path on a CI-sized instance (the decision is the parent's)."""
    monkeypatch.setattr(engine, "BLOCK_SIZE", 300)
    monkeypatch.setattr(engine, "PARALLEL_MIN_ARCS", 0)


def _medium():
    return random_rationing(11, n_items=300, n_locations=3, n_customers=60, n_lines=3000)


def _spy(monkeypatch) -> list[dict]:
    """Record how the engine fanned out (the real fan_out still runs)."""
    calls: list[dict] = []
    real = executor.fan_out

    def spy(fn, items, **kw):
        calls.append(kw)
        return real(fn, items, **kw)

    monkeypatch.setattr(engine.executor, "fan_out", spy)
    return calls


def test_rationing_same_bytes_for_one_and_two_local_workers(small_blocks, monkeypatch) -> None:
    inst = _medium()
    one = optim.solve(inst, threads=1).to_json()
    calls = _spy(monkeypatch)
    two = optim.solve(inst, threads=2).to_json()
    assert calls[0]["workers"] == 2 and calls[0]["total"] > 2  # really split and parallel
    assert one == two


def test_fan_out_on_dask_keeps_order(dask_cluster) -> None:
    assert executor.fan_out(_slow_square, range(10), cluster=dask_cluster) == [
        x * x for x in range(10)
    ]
    with pytest.raises(ValueError, match="three"):
        executor.fan_out(_fail_on_three, range(6), cluster=dask_cluster)


def test_rationing_of_1e5_lines_on_dask_same_bytes_as_local(dask_cluster, monkeypatch) -> None:
    """10^5 order lines: blocks solved by the two Dask workers, bytes equal to one process."""
    inst = random_rationing(
        7,
        n_items=20_000,
        n_locations=2,
        n_customers=500,
        n_lines=100_000,
        eligible=(1, 1),
        supply_factor=(1.0, 1.5),
    )
    local = optim.solve(inst).to_json()
    calls = _spy(monkeypatch)
    executor.use_cluster(dask_cluster)
    try:
        remote = optim.solve(inst).to_json()
    finally:
        executor.use_cluster(None)
    assert calls[0]["cluster"] == dask_cluster and calls[0]["total"] > 1
    assert remote == local


def test_split_rationing_folder_of_1e5_lines_on_dask_same_bytes_as_local(
    dask_cluster, tmp_path, split_pieces
) -> None:
    """A CSV folder of 10^5 order lines (and last week's allocation on 30 % of them) split
    into pieces (files in a scratch folder both worker processes read), solved by the two
    Dask workers and merged streaming: the tables and totals are byte for byte those of the
    one-process run."""
    from optim import split
    from optim.instances.generators.rationing import (
        previous_allocation,
        rationing_frames,
        write_csv_folder,
    )

    frames = rationing_frames(
        7,
        n_items=20_000,
        n_locations=4,
        n_customers=500,
        n_lines=100_000,
        eligible=(1, 2),
        supply_factor=(0.6, 1.3),
        lanes=True,
    )
    frames["previous"] = previous_allocation(frames, 0.3)
    write_csv_folder(frames, tmp_path / "in")
    local = optim.solve(optim.load(tmp_path / "in"))
    local.write_tables(tmp_path / "one")
    remote = split.solve_folder(
        tmp_path / "in", tmp_path / "dask", cluster=dask_cluster, piece_lines=20_000
    )
    assert split_pieces[0] >= 3
    assert remote.to_dict() == {k: v for k, v in local.to_dict().items() if k not in local.tables}
    for name in ("allocations", "lines", "segments", "unallocated"):
        one = (tmp_path / "one" / f"{name}.csv").read_bytes()
        assert (tmp_path / "dask" / f"{name}.csv").read_bytes() == one, name


def test_scenario_batch_on_dask_same_files_as_local(dask_cluster, tmp_path) -> None:
    from optim import batch
    from optim.params import SolveParams

    base = random_rationing(5, n_items=60, n_locations=3, n_customers=30, n_lines=400).to_dict()
    scenarios = batch.grid(
        demand=[0.8, 1.0, 1.2], capacity_cut=[0.0, 15.0], disruption=[("DC01", 0.5)]
    )
    tasks = [(s.name, batch.apply(base, s), SolveParams()) for s in scenarios]
    batch.run(tasks, tmp_path / "local", extra=[s.row() for s in scenarios])
    executor.use_cluster(dask_cluster)
    try:
        batch.run(tasks, tmp_path / "dask", workers=2, extra=[s.row() for s in scenarios])
    finally:
        executor.use_cluster(None)
    local = {p.name: p.read_bytes() for p in (tmp_path / "local").iterdir()}
    dask = {p.name: p.read_bytes() for p in (tmp_path / "dask").iterdir()}
    assert len(local) == 7 and local == dask


def test_capacity_blocks_on_dask_same_bytes_as_threads(dask_cluster, monkeypatch) -> None:
    """Independent plants (blocks) of a capacity plan: solved by the Dask workers when a
    cluster is in force, by threads here otherwise; the result is the same bytes."""
    from optim.instances.generators.capacity import generate

    inst = generate(n_periods=8, n_products=12, n_resources=4, n_families=4, seed=3)
    local = optim.solve(inst, threads=2).to_json()
    shipped: list[int] = []
    real = executor.fan_out

    def spy(fn, items, **kw):
        items = list(items)
        shipped.append(len(items))
        return real(fn, items, **kw)

    monkeypatch.setattr(executor, "fan_out", spy)
    executor.use_cluster(dask_cluster)
    try:
        remote = optim.solve(inst, threads=2).to_json()
    finally:
        executor.use_cluster(None)
    assert shipped and shipped[0] > 1  # really split into blocks sent to the cluster
    assert remote == local


_FAN_OUT = executor.fan_out  # the real one (tests patch the module attribute)
EXAMPLE = Path(__file__).resolve().parents[1] / "instances" / "data" / "two_echelon_gsm.json"


_RANDOM_LEAD = {
    "plant": {"lead_time_std_dev": 1.0},
    "store_a": {"lead_time_std_dev": 0.6},  # critical levels (strategic / standard)
    "store_b": {  # first come, first served; mean 1, the example's lead time
        "lead_time_distribution": [
            {"value": 0, "probability": 0.5},
            {"value": 2, "probability": 0.5},
        ]
    },
}


def _two_items(
    items: tuple[str, ...] = ("i1", "i2"), random_lead: str = "", at: tuple[str, ...] = ("plant",)
):
    """The two-echelon example once per item: a forest with critical levels at each DC;
    the stages ``at`` of item ``random_lead`` get a random lead time (:data:`_RANDOM_LEAD`)."""
    doc = json.loads(EXAMPLE.read_text(encoding="utf-8"))
    out: dict = {"kind": "safety_stock", "stages": [], "arcs": [], "demands": []}
    for item in items:
        out["stages"] += [
            {**s, "id": f"{item}@{s['id']}"}
            | (_RANDOM_LEAD[s["id"]] if item == random_lead and s["id"] in at else {})
            for s in doc["stages"]
        ]
        out["arcs"] += [
            {**a, "source": f"{item}@{a['source']}", "target": f"{item}@{a['target']}"}
            for a in doc["arcs"]
        ]
        out["demands"] += [{**d, "stage": f"{item}@{d['stage']}"} for d in doc["demands"]]
    return optim.from_dict(out)


def _count_pieces(monkeypatch) -> list[int]:
    """The piece count of every fan-out from here on (the real fan_out still runs)."""
    pieces: list[int] = []

    def spy(fn, items, **kws):
        items = list(items)
        pieces.append(len(items))
        return _FAN_OUT(fn, items, **kws)

    monkeypatch.setattr(executor, "fan_out", spy)
    return pieces


def _simulated(inst, plan, monkeypatch, **kw) -> tuple[str, list[int]]:
    """The simulation table as CSV text and the piece counts it fanned out."""
    from optim.models.safety_stock.simulate import simulate

    pieces = _count_pieces(monkeypatch)
    table = simulate(inst, plan, periods=400, replications=6, seed=4, **kw)
    return table.to_csv(index=False), pieces


def test_simulation_replications_same_table_for_one_and_two_local_workers(monkeypatch) -> None:
    inst = _two_items()
    plan = optim.solve(inst)
    one, unsplit = _simulated(inst, plan, monkeypatch, workers=1)
    two, split = _simulated(inst, plan, monkeypatch, workers=2)
    assert unsplit == [] and split == [2]  # one piece here; two pieces on two processes
    assert one == two


def test_simulation_replications_on_dask_same_table_as_local(dask_cluster, monkeypatch) -> None:
    inst = _two_items()
    plan = optim.solve(inst)
    local, _ = _simulated(inst, plan, monkeypatch)
    executor.use_cluster(dask_cluster)
    try:
        remote, pieces = _simulated(inst, plan, monkeypatch)
    finally:
        executor.use_cluster(None)
    assert pieces == [6]  # every replication its own piece (fewer than CLUSTER_PIECES)
    assert remote == local


def test_safety_stock_item_tables_same_for_one_and_two_local_workers(monkeypatch) -> None:
    """The per-item forest's stage tables (critical levels; one item with a random lead
    time) computed per block of items by two processes: the same arrays and result bytes."""
    import numpy as np

    from optim.models.safety_stock.data import prepare

    inst = _two_items(("i1", "i2", "i3", "i4", "i5"), random_lead="i3")
    one = prepare(inst)
    blocks = _count_pieces(monkeypatch)
    two = prepare(inst, workers=2)
    assert blocks == [2]  # five items in two blocks
    assert one.ss_table is not None and two.ss_table is not None
    assert one.order_delay is not None and two.order_delay is not None
    for a, b in zip(one.ss_table + one.order_delay, two.ss_table + two.order_delay, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    assert optim.solve(inst, threads=2).to_json() == optim.solve(inst).to_json()


def test_safety_stock_item_tables_on_dask_same_bytes_as_local(dask_cluster, monkeypatch) -> None:
    inst = _two_items(("i1", "i2", "i3"))
    local = optim.solve(inst).to_json()
    blocks = _count_pieces(monkeypatch)
    executor.use_cluster(dask_cluster)
    try:
        remote = optim.solve(inst).to_json()
    finally:
        executor.use_cluster(None)
    # one block per item (fewer items than CLUSTER_PIECES): the stage tables, then the
    # tables of the max_z comparison (cover the strictest) the solve runs for its message
    assert blocks == [3, 3]
    assert remote == local


def _fan_outs(monkeypatch) -> list[tuple[str, int]]:
    """(description, piece count) of every fan-out from here on (the real fan_out runs)."""
    seen: list[tuple[str, int]] = []

    def spy(fn, items, **kws):
        items = list(items)
        seen.append((kws.get("desc", ""), len(items)))
        return _FAN_OUT(fn, items, **kws)

    monkeypatch.setattr(executor, "fan_out", spy)
    return seen


def _lead_time_result(tmp_path: Path) -> Path:
    """A solved forest of three items; item i2's stores have random lead times (store_a,
    with critical levels: normal; store_b, first come first served: discrete)."""
    inst = _two_items(("i1", "i2", "i3"), random_lead="i2", at=("store_a", "store_b"))
    path = tmp_path / "result.json"
    path.write_text(optim.solve(inst).to_json(), encoding="utf-8")
    return path


def _simulate_cli(result: Path, out: Path, *args: str) -> bytes:
    from optim import cli

    argv = ["simulate", str(result), "--periods", "300", "--replications", "6", "--seed", "3"]
    assert cli.main([*argv, "--out", str(out), "--quiet", *args]) == 0
    return out.read_bytes()


_LEAD_SIM = (
    "simulation replications (random lead times)",
    "simulation replications (critical levels, random lead times)",
)


def test_optim_simulate_with_random_lead_times_same_bytes_for_one_and_two_workers(
    tmp_path, monkeypatch
) -> None:
    """Both lead-time simulators (first come first served, and critical levels) split their
    replications over two processes: the CSV of `optim simulate` is the same bytes, and the
    fan-outs report their progress."""
    result = _lead_time_result(tmp_path)
    seen = _fan_outs(monkeypatch)
    one = _simulate_cli(result, tmp_path / "one.csv", "--workers", "1")
    assert [p for d, p in seen if d in _LEAD_SIM] == [1, 1]
    seen.clear()
    progress: list[tuple[int, int, str]] = []
    with executor.on_progress(lambda *step: progress.append(step)):
        two = _simulate_cli(result, tmp_path / "two.csv", "--workers", "2")
    assert [(d, p) for d, p in seen if d in _LEAD_SIM] == [(d, 2) for d in _LEAD_SIM]
    for desc in _LEAD_SIM:  # progress (the bar on a terminal) counts every piece
        assert [(k, n) for k, n, d in progress if d == desc] == [(0, 2), (1, 2), (2, 2)]
    assert one == two
    import io

    import pandas as pd

    table = pd.read_csv(io.BytesIO(one)).set_index(["stage", "segment"])
    assert table.loc[("i2@store_a", "standard"), "critical_level"] > 0  # levels applied
    assert table["meets_target"].all()


def test_optim_simulate_with_random_lead_times_on_dask_same_bytes_as_local(
    dask_cluster, tmp_path, monkeypatch
) -> None:
    result = _lead_time_result(tmp_path)
    local = _simulate_cli(result, tmp_path / "local.csv")
    seen = _fan_outs(monkeypatch)
    remote = _simulate_cli(result, tmp_path / "dask.csv", "--cluster", dask_cluster)
    assert executor.cluster_address() is None  # the CLI leaves no cluster behind
    # every replication its own piece (fewer replications than CLUSTER_PIECES)
    assert [(d, p) for d, p in seen if d in _LEAD_SIM] == [(d, 6) for d in _LEAD_SIM]
    assert remote == local


def _strictest_arrays(inst, workers: int):
    from optim.models.safety_stock.data import prepare
    from optim.models.safety_stock.strictest import cover_strictest_data

    data = cover_strictest_data(inst, prepare(inst), workers=workers)
    assert data.ss_table is not None and data.order_delay is not None
    return list(data.ss_table) + list(data.order_delay)


def test_cover_the_strictest_tables_same_for_one_and_two_local_workers(monkeypatch) -> None:
    """The comparison point of critical levels (cover the strictest; one item's stores with
    random lead times) computed per block of items by two processes: the same arrays."""
    import numpy as np

    inst = _two_items(("i1", "i2", "i3", "i4"), random_lead="i3", at=("store_a", "store_b"))
    one = _strictest_arrays(inst, 1)
    seen = _fan_outs(monkeypatch)
    two = _strictest_arrays(inst, 2)
    assert ("cover-the-strictest tables per item", 2) in seen
    for a, b in zip(one, two, strict=True):
        assert a.dtype == b.dtype and np.array_equal(a, b)


def test_cover_the_strictest_tables_on_dask_same_bytes_as_local(dask_cluster, monkeypatch) -> None:
    """A solve with critical levels runs its max_z comparison (cover the strictest) on the
    cluster too: the result document, comparison cost included, is the same bytes."""
    from optim.models.safety_stock.solve import solve_cover_strictest

    inst = _two_items(("i1", "i2", "i3"), random_lead="i2", at=("store_a", "store_b"))
    local = solve_cover_strictest(inst).to_json()
    seen = _fan_outs(monkeypatch)
    executor.use_cluster(dask_cluster)
    try:
        remote = solve_cover_strictest(inst).to_json()
    finally:
        executor.use_cluster(None)
    assert ("cover-the-strictest tables per item", 3) in seen  # one block per item
    assert remote == local


def test_capacity_blocks_same_bytes_for_one_and_two_threads() -> None:
    """Without a cluster the independent plants are solved by threads of this process: one
    thread or two, the same result bytes."""
    from optim.instances.generators.capacity import generate

    inst = generate(n_periods=8, n_products=12, n_resources=4, n_families=4, seed=3)
    two = optim.solve(inst, threads=2)
    assert two.info["blocks"] > 1
    assert optim.solve(inst, threads=1).to_json() == two.to_json()


def test_actual_upstream_simulation_same_table_for_one_two_workers_and_dask(
    dask_cluster, monkeypatch
) -> None:
    """The cascading ``"actual"`` run (first come first served: max_z) splits its
    replications too: the same table on one process, two processes and the Dask workers."""
    inst = _two_items(("i1", "i2", "i3")).model_copy(update={"pooling": "max_z"})
    plan = optim.solve(inst)
    one, unsplit = _simulated(inst, plan, monkeypatch, upstream="actual")
    two, split = _simulated(inst, plan, monkeypatch, upstream="actual", workers=2)
    executor.use_cluster(dask_cluster)
    try:
        remote, shipped = _simulated(inst, plan, monkeypatch, upstream="actual")
    finally:
        executor.use_cluster(None)
    assert unsplit == [1] and split == [2] and shipped == [6]
    assert one == two == remote
