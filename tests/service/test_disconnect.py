"""A synchronous solve whose client goes away is withdrawn, against a real `optim serve` with
one worker and a synchronous cap long enough (120 s) that only the withdrawal can free the
worker within the bounds below: a running solve is interrupted (the worker, not killed, is
free again and serves the next request at once), a queued one leaves the queue and frees its
place under ``--max-queue``, and a client that leaves during its upload is a log line, not an
internal error. The clients are raw sockets, so "disconnect" is exactly a closed socket."""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from _serve import (
    EXAMPLES,
    KEY,
    Server,
    cpu_seconds,
    long_mip_body,
    start_server,
    stop_server,
    wait_job,
)

CAP = 120.0  # --sync-time-limit: far beyond every bound asserted here
FREED_WITHIN = 15.0  # seconds from the close to a free worker (HiGHS stops in < 1 s idle)
JSON = {"Content-Type": "application/json"}
SMALL = (EXAMPLES / "weekly_rationing.json").read_bytes()


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(
        tmp_path_factory.mktemp("disconnect"),
        "--workers", "1", "--sync-time-limit", f"{CAP:g}", "--max-queue", "1",
        "--cache-mib", "0",
    )  # fmt: skip
    yield srv
    stop_server(srv)


def _send_solve(server: Server, body: bytes, *, send: int | None = None) -> socket.socket:
    """A raw HTTP/1.1 ``POST /v1/solve`` (``send``: only that many body bytes)."""
    host, port = server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    head = (
        f"POST /v1/solve HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {KEY}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    sock.sendall(head.encode() + body[:send])
    return sock


def _ready(server: Server) -> dict[str, Any]:
    with server.client() as c:
        r = c.get("/readyz")
    assert r.status_code == 200, r.text
    return dict(r.json())


def _until(server: Server, what: str, ok: Any, timeout: float) -> float:
    """Seconds until ``ok(/readyz)`` holds; fails after ``timeout``."""
    asked = time.monotonic()
    while not ok(state := _ready(server)):
        if time.monotonic() - asked > timeout:
            raise AssertionError(f"{what}: not within {timeout} s: {state}")
        time.sleep(0.05)
    return time.monotonic() - asked


def _worker_pid(server: Server) -> int:
    with server.client() as c:  # a short job reports the pid of the one worker
        job = c.post("/v1/jobs", params={"time_limit": 5}, content=SMALL, headers=JSON).json()
        wait_job(c, job["id"], until=("succeeded",))
    lines = re.findall(r"worker 0 ready \(pid (\d+)\)", server.log_text())
    return int(lines[-1])


def test_a_running_solve_whose_client_disconnects_is_interrupted(one_worker: Server) -> None:
    pid = _worker_pid(one_worker)
    sock = _send_solve(one_worker, long_mip_body())
    _until(one_worker, "the worker takes the solve", lambda s: s["workers_busy"] == 1, 60)
    spent, until = cpu_seconds(pid), time.monotonic() + 60
    while cpu_seconds(pid) - spent < 1 and time.monotonic() < until:
        time.sleep(0.1)  # branch and bound under way
    sock.close()
    freed = _until(one_worker, "the worker is free", lambda s: s["workers_busy"] == 0, 60)
    assert freed < FREED_WITHIN, f"the worker was free {freed:.1f} s after the close"
    idle = cpu_seconds(pid)
    time.sleep(1.0)
    assert cpu_seconds(pid) - idle < 0.2, "the worker still solves"
    log = one_worker.log_text()
    rid = re.search(
        r"request (\w+): the client disconnected after [\d.]+ s; its solve interrupted in "
        r"worker 0",
        log,
    )
    assert rid, log
    assert re.search(rf"request {rid[1]}: worker free again [\d.]+ s after its client", log)
    assert "did not answer a cancel" not in log  # interrupted, not killed
    # the same worker process serves the next request at once
    with one_worker.client() as c:
        asked = time.monotonic()
        r = c.post("/v1/solve", content=SMALL, headers=JSON)
        took = time.monotonic() - asked
    assert r.status_code == 200 and r.headers["X-Optim-Status"] == "optimal", r.text
    assert took < 10, took
    assert _worker_pid(one_worker) == pid
    print(f"\nworker free {freed:.2f} s after the client closed; next solve {took:.2f} s")


def test_a_queued_solve_whose_client_disconnects_leaves_the_queue(one_worker: Server) -> None:
    with one_worker.client() as c:
        job = c.post("/v1/jobs", params={"time_limit": 100}, content=long_mip_body(), headers=JSON)
        job_id = job.json()["id"]
        wait_job(c, job_id, until=("running",), timeout=60)
        sock = _send_solve(one_worker, SMALL)
        _until(one_worker, "the solve waits", lambda s: s["solves_waiting"] == 1, 30)
        # --max-queue 1: while it waits, a second synchronous solve is refused
        r = c.post("/v1/solve", content=SMALL, headers=JSON)
        assert r.status_code == 429 and "1 solves are waiting" in r.json()["detail"], r.text
        sock.close()
        left = _until(one_worker, "the solve leaves", lambda s: s["solves_waiting"] == 0, 30)
        assert left < 5
        assert re.search(
            r"request \w+: the client disconnected after [\d.]+ s; its solve withdrawn from "
            r"the queue",
            one_worker.log_text(),
        )
        # its place is free at once, not when the worker would have reached it: the next
        # solve is admitted (and withdrawn the same way)
        sock = _send_solve(one_worker, SMALL)
        _until(one_worker, "the next solve waits", lambda s: s["solves_waiting"] == 1, 30)
        sock.close()
        _until(one_worker, "the next solve leaves", lambda s: s["solves_waiting"] == 0, 30)
        assert c.delete(f"/v1/jobs/{job_id}").status_code == 200
        wait_job(c, job_id, until=("cancelled",), timeout=60)
        r = c.post("/v1/solve", content=SMALL, headers=JSON)
        assert r.status_code == 200, r.text
    assert _ready(one_worker)["workers_busy"] == 0
    # the withdrawn solve never reached the worker
    assert "worker free again" not in one_worker.log_text().split("withdrawn from the queue")[1]


def test_a_client_leaving_during_its_upload_is_logged_not_an_error(one_worker: Server) -> None:
    sock = _send_solve(one_worker, SMALL, send=100)
    time.sleep(0.3)
    sock.close()
    until = time.monotonic() + 30
    pattern = r"request \w+ POST /v1/solve: the client disconnected before its body was read"
    while not re.search(pattern, one_worker.log_text()) and time.monotonic() < until:
        time.sleep(0.1)
    log = one_worker.log_text()
    assert re.search(pattern, log), log
    assert "internal error" not in log and "Traceback" not in log
    assert _ready(one_worker)["solves_waiting"] == 0
