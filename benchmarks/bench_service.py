"""Service and cluster benchmark (issue 15).

1. Latency of ``POST /v1/solve`` on the bundled ``weekly_rationing`` example under 20
   concurrent clients (a real ``optim serve --workers 2`` on loopback, httpx clients):
   p50 / p95 / max per round, median over rounds. Target: p95 ≤ 200 ms on 2 cores.
   Twice: with the result cache (the default; repeats of the same request are answered from
   memory) and with ``--cache-mib 0`` (every request solved by a worker). Baseline in the
   same run: one client alone (latency without queueing). The ``Server-Timing`` header of
   the solved requests splits the time: queue wait, worker (parse, solve, write), slot round
   trip; CPU seconds per request of the server, the workers and the client process (Linux
   /proc) say where the cores went.
2. A 100-scenario batch (demand × 10 factors, capacity cut × 10) of a generated rationing
   week: one local process (baseline), two local processes, and a Dask scheduler with two
   worker processes on loopback; wall time, median of rounds, ratio to the baseline; the
   batch.csv of every run is checked byte-equal.

3. Rationing at scale split over Dask (``--scale 100000,1000000``): a generated week of N
   order lines solved in one process (baseline) and with a Dask scheduler + 2 worker
   processes on loopback (the engine's independent blocks go to the workers); each run in a
   fresh process (a fresh cluster for Dask), wall time end to end (generate excluded: load,
   solve, result document) and peak memory (VmHWM) of the client and of every worker; the
   result bytes are checked equal.

Peak memory: VmHWM of the server and its worker processes (Linux /proc).

    .venv/bin/python benchmarks/bench_service.py [--rounds 3] [--requests 25] [--scale N,N]
        [--stall N]

4. ``--stall N``: /healthz latency (max, median of a 20 ms poller) while the server takes a
   generated rationing document of N order lines on ``/v1/validate`` and ``/v1/jobs``, and the
   server process's CPU for it (bodies above 1 MiB are checked in a separate process).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "service"))

from _serve import EXAMPLES, cpu_seconds, start_server, stop_server  # noqa: E402


def _hwm_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def _children(pid: int) -> list[int]:
    try:
        out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
        return [int(x) for x in out.stdout.split()]
    except OSError:
        return []


def _timing(header: str) -> dict[str, float]:
    out = {}
    for part in header.split(","):
        name, _, dur = part.strip().partition(";dur=")
        if dur:
            out[name] = float(dur)
    return out


def latency(rounds: int, per_client: int, cache: bool) -> None:
    body = (EXAMPLES / "weekly_rationing.json").read_bytes()
    headers = {"Content-Type": "application/json", "Authorization": "Bearer test-key-0123456789"}
    tmp = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    extra = () if cache else ("--cache-mib", "0")
    server = start_server(tmp, "--workers", "2", "--log-level", "warning", *extra)
    timings: list[dict[str, float]] = []
    try:
        with httpx.Client(base_url=server.url, headers=headers, timeout=60) as c:
            for _ in range(20):  # warm both workers
                c.post("/v1/solve", content=body).raise_for_status()
            alone = []
            for _ in range(50):
                t = time.perf_counter()
                c.post("/v1/solve", content=body).raise_for_status()
                alone.append(time.perf_counter() - t)

        def client(_: int) -> list[float]:
            out = []
            with httpx.Client(base_url=server.url, headers=headers, timeout=60) as c:
                for _ in range(per_client):
                    t = time.perf_counter()
                    r = c.post("/v1/solve", content=body)
                    out.append(time.perf_counter() - t)
                    assert r.status_code == 200, r.text
                    timings.append(_timing(r.headers.get("Server-Timing", "")))
            return out

        pids = [server.process.pid, *_children(server.process.pid)]
        cpu0 = {p: cpu_seconds(p) for p in pids}
        me0 = time.process_time()
        p50s, p95s, maxs, rates, n = [], [], [], [], 0
        for _ in range(rounds):
            t0 = time.perf_counter()
            with ThreadPoolExecutor(20) as pool:
                lat = sorted(x for got in pool.map(client, range(20)) for x in got)
            wall = time.perf_counter() - t0
            n += len(lat)
            p50s.append(lat[len(lat) // 2])
            p95s.append(lat[int(0.95 * (len(lat) - 1))])
            maxs.append(lat[-1])
            rates.append(len(lat) / wall)
        cpu = {p: (cpu_seconds(p) - cpu0[p]) / n for p in pids}
        client_cpu = (time.process_time() - me0) / n
        mem = {p: _hwm_mib(p) for p in pids}
    finally:
        stop_server(server)
        shutil.rmtree(tmp, ignore_errors=True)
    label = "result cache on (default)" if cache else "result cache off (--cache-mib 0)"
    print(f"## 1. POST /v1/solve, weekly_rationing, 20 concurrent clients, --workers 2, {label}")
    print(f"load average at the end: {os.getloadavg()[0]:.1f}")
    print(f"one client alone (baseline): median {statistics.median(alone) * 1e3:.1f} ms")
    print(f"rounds: {rounds} × {20 * per_client} requests")
    print(f"p50  median {statistics.median(p50s) * 1e3:.1f} ms   (rounds {_ms(p50s)})")
    print(f"p95  median {statistics.median(p95s) * 1e3:.1f} ms   (rounds {_ms(p95s)})")
    print(f"max  median {statistics.median(maxs) * 1e3:.1f} ms")
    print(f"throughput median {statistics.median(rates):.0f} solves/s")
    solved = [t for t in timings if t]
    if solved:
        parts = ", ".join(
            f"{k} {statistics.median(t[k] for t in solved if k in t):.1f} ms" for k in solved[0]
        )
        print(f"Server-Timing medians of the {len(solved)} solved requests: {parts}")
    print(
        "CPU per request: "
        + ", ".join(f"pid {p} {1e3 * v:.1f} ms" for p, v in cpu.items() if v > 0)
        + f", benchmark clients {1e3 * client_cpu:.1f} ms"
    )
    print("peak memory (VmHWM): " + ", ".join(f"pid {p} {m:.0f} MiB" for p, m in mem.items()))


def _ms(values: list[float]) -> str:
    return ", ".join(f"{v * 1e3:.0f}" for v in values)


def _loopback_cluster() -> Any:
    """A Dask scheduler and two single-threaded worker processes, on loopback only."""
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address="127.0.0.1:0",
        silence_logs=40,
    )


def batch(rounds: int) -> None:
    from optim import batch as batch_mod
    from optim import executor
    from optim.instances.generators.rationing import random_rationing
    from optim.params import SolveParams

    base = random_rationing(5, n_items=200, n_locations=4, n_customers=80, n_lines=2000).to_dict()
    scenarios = batch_mod.grid(
        demand=[0.8 + 0.05 * i for i in range(10)], capacity_cut=[float(i) for i in range(10)]
    )
    tasks = [(s.name, batch_mod.apply(base, s), SolveParams()) for s in scenarios]
    assert len(tasks) == 100
    tmp = Path(tempfile.mkdtemp(prefix="bench-batch-"))
    times: dict[str, list[float]] = {
        "local, 1 process": [],
        "local, 2 processes": [],
        "dask, 2 workers": [],
    }
    outputs: dict[str, bytes] = {}
    with _loopback_cluster() as cluster:
        for r in range(rounds):
            for label, workers, address in (
                ("local, 1 process", 1, None),
                ("local, 2 processes", 2, None),
                ("dask, 2 workers", 2, cluster.scheduler_address),
            ):
                out = tmp / f"{r}-{label.replace(' ', '').replace(',', '')}"
                executor.use_cluster(address)
                try:
                    t = time.perf_counter()
                    batch_mod.run(tasks, out, workers=workers)
                    times[label].append(time.perf_counter() - t)
                finally:
                    executor.use_cluster(None)
                outputs[label] = (out / "batch.csv").read_bytes()
        executor.disconnect(cluster.scheduler_address)
    shutil.rmtree(tmp, ignore_errors=True)
    same = len(set(outputs.values())) == 1
    print("\n## 2. 100-scenario batch (rationing, 2,000 lines; demand × cut grid)")
    baseline = statistics.median(times["local, 1 process"])
    for label, values in times.items():
        med = statistics.median(values)
        print(
            f"{label:20s} median {med:6.2f} s  ratio to 1 process {med / baseline:4.2f}  "
            f"(rounds {', '.join(f'{v:.2f}' for v in values)})"
        )
    print(f"batch.csv identical across executors: {same}")


def _scale_instance(lines: int) -> Path:
    """A generated week of ``lines`` order lines, written once as JSON (cached in /tmp)."""
    import json

    from optim.instances.generators.rationing import random_rationing

    path = Path(tempfile.gettempdir()) / f"bench-service-rationing-{lines}.json"
    if not path.exists():
        inst = random_rationing(
            11,
            n_items=max(10, lines // 5),
            n_locations=4,
            n_customers=max(10, lines // 200),
            n_lines=lines,
            eligible=(1, 2),
        )
        path.write_text(json.dumps(inst.to_dict()), encoding="utf-8")
    return path


def _scale_run(path: str, mode: str) -> None:
    """One measured run in this (fresh) process; prints one JSON line."""
    import hashlib
    import json

    import optim
    from optim import executor

    cluster = None
    if mode == "dask":
        cluster = _loopback_cluster()
        executor.use_cluster(cluster.scheduler_address)
        executor.fan_out(abs, [1, 2])  # connect before the clock starts
    t = time.perf_counter()
    result = optim.solve(optim.load(path))
    text = result.to_json()
    wall = time.perf_counter() - t
    workers: list[float] = []
    if cluster is not None:
        client = executor._dask_client(cluster.scheduler_address)
        workers = sorted(client.run(_hwm_mib_self).values())
        executor.use_cluster(None)
        executor.disconnect()
        cluster.close()
    print(
        json.dumps(
            {
                "wall": wall,
                "client_mib": _hwm_mib(os.getpid()),
                "workers_mib": workers,
                "sha256": hashlib.sha256(text.encode()).hexdigest(),
                "status": result.status.value,
            }
        )
    )


def _hwm_mib_self() -> float:
    return _hwm_mib(os.getpid())


def scale(sizes: list[int]) -> None:
    import json

    print("\n## 3. Rationing at scale: one process vs Dask (scheduler + 2 workers, loopback)")
    for lines in sizes:
        path = _scale_instance(lines)
        runs = {}
        for mode in ("local", "dask"):
            out = subprocess.run(
                [sys.executable, __file__, "--scale-run", str(path), mode],
                capture_output=True,
                text=True,
                check=True,
            )
            runs[mode] = json.loads(out.stdout.strip().splitlines()[-1])
        lo, da = runs["local"], runs["dask"]
        print(
            f"{lines:>10,} lines ({path.stat().st_size / 2**20:.0f} MiB JSON): "
            f"one process {lo['wall']:.1f} s, peak {lo['client_mib']:.0f} MiB | "
            f"Dask {da['wall']:.1f} s (ratio {da['wall'] / lo['wall']:.2f}), client peak "
            f"{da['client_mib']:.0f} MiB, workers peak "
            + ", ".join(f"{m:.0f}" for m in da["workers_mib"])
            + f" MiB | same bytes: {lo['sha256'] == da['sha256']} ({lo['status']})",
            flush=True,
        )


def _poll_health(url: str, seen: list[float], done: Any) -> None:
    """Ask /healthz every 20 ms until ``done`` is set; ``seen`` gets each latency."""
    with httpx.Client(base_url=url, timeout=60) as c:
        while not done.is_set():
            t = time.perf_counter()
            c.get("/healthz").raise_for_status()
            seen.append(time.perf_counter() - t)
            time.sleep(0.02)


def stall(lines: int, rounds: int) -> None:
    """/healthz latency while the server takes a large document (``--stall N``: a generated
    rationing week of N order lines, sent to ``/v1/validate`` and ``/v1/jobs``): a poller asks
    /healthz every 20 ms; its max and median per submission, and the server process's CPU."""
    import json
    import threading

    from optim.instances.generators.rationing import random_rationing

    inst = random_rationing(1, n_items=lines // 50, n_locations=8, n_customers=lines // 50,
                            n_lines=lines)  # fmt: skip
    body = json.dumps(inst.to_dict()).encode()
    tmp = Path(tempfile.mkdtemp(prefix="bench-stall-"))
    server = start_server(tmp, "--workers", "1", "--log-level", "warning")
    headers = {"Content-Type": "application/json", "Authorization": "Bearer test-key-0123456789"}
    print(f"## /healthz while a {len(body) / 2**20:.1f} MiB document ({lines} lines) is taken")
    try:
        for path in ["/v1/validate"] * rounds + ["/v1/jobs"] * rounds:
            seen: list[float] = []
            done = threading.Event()
            poller = threading.Thread(target=_poll_health, args=(server.url, seen, done))
            poller.start()
            time.sleep(0.3)
            cpu0 = cpu_seconds(server.process.pid)
            with httpx.Client(base_url=server.url, headers=headers, timeout=600) as c:
                t = time.perf_counter()
                r = c.post(path, content=body)
                took = time.perf_counter() - t
            cpu = cpu_seconds(server.process.pid) - cpu0
            time.sleep(0.3)
            done.set()
            poller.join()
            print(
                f"{path} {r.status_code} in {took:.2f} s; /healthz max "
                f"{max(seen) * 1e3:.0f} ms, median {statistics.median(seen) * 1e3:.1f} ms "
                f"({len(seen)} polls); server CPU {cpu:.2f} s; load {os.getloadavg()[0]:.1f}"
            )
    finally:
        stop_server(server)
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--requests", type=int, default=25, help="per client per round")
    parser.add_argument("--skip-latency", action="store_true")
    parser.add_argument("--skip-batch", action="store_true")
    parser.add_argument(
        "--cache",
        choices=("both", "on", "off"),
        default="both",
        help="latency with the result cache on, off (every request solved), or both",
    )
    parser.add_argument("--scale", default="", help="order-line counts, e.g. 100000,1000000")
    parser.add_argument(
        "--stall", type=int, default=0, help="order lines of the /healthz-while-submitting run"
    )
    parser.add_argument("--scale-run", nargs=2, metavar=("PATH", "MODE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.scale_run:
        _scale_run(*args.scale_run)
        return
    print(
        f"machine: {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start "
        "(shared with other jobs: read medians)"
    )
    if not args.skip_latency:
        for cache in (True, False):
            if args.cache in ("both", "on" if cache else "off"):
                latency(args.rounds, args.requests, cache=cache)
    if not args.skip_batch:
        batch(args.rounds)
    if args.scale:
        scale([int(x) for x in args.scale.split(",")])
    if args.stall:
        stall(args.stall, args.rounds)


if __name__ == "__main__":
    main()
