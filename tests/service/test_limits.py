"""The service's limits against a real `optim serve` with one worker: the synchronous solve's
cap (the solver stops there with its best solution; a solve no worker takes within the cap is
refused with 503, not left waiting behind an hour-long job), the queue length, an event loop
that answers while the worker solves, and an internal error's request id in the log."""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
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

CAP = 6.0  # --sync-time-limit of this server, seconds
JOB_CAP = 15.0  # --max-time-limit of this server, seconds
JSON = {"Content-Type": "application/json"}
SMALL = (EXAMPLES / "weekly_rationing.json").read_bytes()


@pytest.fixture(scope="module")
def one_worker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(
        tmp_path_factory.mktemp("limits"),
        "--workers", "1", "--sync-time-limit", f"{CAP:g}", "--max-time-limit", f"{JOB_CAP:g}",
        "--max-queue", "1",
        env={"OPTIM_API_KEYS": "env-key-0123456789-1, env-key-0123456789-2"},
    )  # fmt: skip
    yield srv
    stop_server(srv)


def test_api_keys_from_the_environment_and_the_file(one_worker: Server) -> None:
    for key, status in (
        ("env-key-0123456789-2", 200),
        ("env-key-0123456789-1", 200),
        (KEY, 200),
        ("env-key-0123456789", 403),
    ):
        with one_worker.client(key=key) as c:
            assert c.get("/v1/jobs").status_code == status, key
    with one_worker.client(key=None) as c:
        assert c.get("/v1/jobs", headers={"X-API-Key": "env-key-0123456789-1"}).status_code == 200


def test_sync_solve_stops_at_the_cap_with_its_best_solution(one_worker: Server) -> None:
    """No time limit asked: the server's cap interrupts HiGHS (the worker is not killed) and
    the answer is the result document with the incumbent, not an error."""
    with one_worker.client() as c:
        asked = time.monotonic()
        r = c.post("/v1/solve", content=long_mip_body(), headers=JSON)
        took = time.monotonic() - asked
    assert r.status_code == 200, r.text
    assert took < CAP + 5, "the worker was killed at the backstop instead of stopping at the cap"
    assert r.headers["X-Optim-Status"] == "time_limit"
    doc = r.json()
    assert doc["termination"] == "interrupted" and doc["status"] == "time_limit"
    if doc["solution_status"] == "feasible":  # an incumbent within the cap (~1 s idle)
        assert r.headers["X-Optim-Exit-Code"] == "0" and doc["gap"] > 0
    else:
        assert r.headers["X-Optim-Exit-Code"] == "4"
    assert "did not answer a cancel" not in one_worker.log_text()


def test_busy_worker_queue_and_health(one_worker: Server) -> None:
    long = long_mip_body()
    with one_worker.client() as c:
        job = c.post("/v1/jobs", content=long, headers=JSON).json()  # stopped at the cap
        running = wait_job(c, job["id"], until=("running", "succeeded", "failed"))
        assert running["status"] == "running"
        # the solve runs in the worker process: the event loop answers at once meanwhile
        spent = cpu_seconds(running["worker_pid"])
        for _ in range(5):
            asked = time.monotonic()
            assert c.get("/healthz").status_code == 200
            assert time.monotonic() - asked < 2.0
        # queue length 1: a second queued job is refused with 429
        queued = c.post("/v1/jobs", params={"time_limit": 14}, content=SMALL, headers=JSON)
        assert queued.status_code == 202 and queued.json()["status"] == "queued"
        full = c.post("/v1/jobs", params={"time_limit": 13}, content=SMALL, headers=JSON)
        assert full.status_code == 429 and full.headers["Retry-After"]
        assert "the queue holds 1 jobs" in full.json()["detail"]
        r = c.post("/v1/solve", params={"time_limit": 5}, content=SMALL, headers=JSON)
        assert r.status_code == 429 and "1 solves are waiting" in r.json()["detail"]
        assert c.delete(f"/v1/jobs/{queued.json()['id']}").json()["status"] == "cancelled"
        # the cancelled job no longer counts; the worker is busy for minutes: the synchronous
        # solve is refused once its cap has passed in the queue, with a message, not held
        asked = time.monotonic()
        r = c.post("/v1/solve", params={"time_limit": 4.5}, content=SMALL, headers=JSON)
        waited = time.monotonic() - asked
        assert r.status_code == 503, r.text
        assert "no worker was free within this server's 6 s" in r.json()["detail"]
        assert r.headers["Retry-After"] == "5" and CAP <= waited < CAP + 5
        assert cpu_seconds(running["worker_pid"]) > spent  # the job was solving all along
        # the job asked for no time limit: the server's cap stops HiGHS with its incumbent
        done = wait_job(c, job["id"], until=("cancelled", "failed", "succeeded"), timeout=60)
        assert done["status"] == "succeeded", done
        assert done["message"].startswith("stopped at this server's time-limit cap of 15 s: ")
        assert "best solution is kept (gap" in done["message"], done
        assert done["result_status"] == "time_limit" and done["exit_code"] == 0
        doc = c.get(f"/v1/jobs/{job['id']}/result").json()
        assert doc["termination"] == "interrupted" and doc["gap"] > 0
        started = datetime.fromisoformat(done["started_at"])
        took = (datetime.fromisoformat(done["finished_at"]) - started).total_seconds()
        assert JOB_CAP <= took < JOB_CAP + 5  # not killed at the backstop
        # the withdrawn solve never reaches the worker; the next one is solved at once
        r = c.post("/v1/solve", params={"time_limit": 4}, content=SMALL, headers=JSON)
        assert r.status_code == 200 and r.headers["X-Optim-Status"] == "optimal"
        assert "worker;dur=" in r.headers["Server-Timing"]


def test_worker_killed_in_a_sync_solve_is_500_with_the_request_id_in_the_log(
    one_worker: Server,
) -> None:
    pid = _worker(one_worker)
    answer: dict[str, httpx.Response] = {}

    def solve() -> None:
        with one_worker.client() as c:
            answer["r"] = c.post("/v1/solve", content=long_mip_body(), headers=JSON)

    idle = cpu_seconds(pid)
    thread = threading.Thread(target=solve)
    thread.start()
    until = time.monotonic() + CAP - 1
    while cpu_seconds(pid) - idle < 0.2 and time.monotonic() < until:
        time.sleep(0.05)  # the worker has the solve once it spends CPU on it
    os.kill(pid, signal.SIGKILL)
    thread.join(timeout=60)
    r = answer["r"]
    assert r.status_code == 500, r.text
    body = r.json()
    assert "the worker process ended (signal 9) during the solve" in body["detail"]
    assert body["request_id"] == r.headers["X-Request-ID"]
    logged = rf"request {body['request_id']}: the worker process ended"
    assert re.search(logged, one_worker.log_text())
    with one_worker.client() as c:  # a new worker takes over, once warm (readyz)
        until = time.monotonic() + 300
        while c.get("/readyz").status_code != 200 and time.monotonic() < until:
            time.sleep(0.2)
        r = c.post("/v1/solve", params={"time_limit": 3.5}, content=SMALL, headers=JSON)
        assert r.status_code == 200, r.text
    assert "Warning" not in one_worker.log_text()  # e.g. a deprecated response class


def _worker(server: Server) -> int:
    """The pid of the server's one worker process (a child running spawn_main)."""
    tasks = Path(f"/proc/{server.process.pid}/task").iterdir()  # the slot threads start them
    children = [c for t in tasks for c in (t / "children").read_text().split()]
    for child in map(int, children):
        if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
            return child
    raise AssertionError(f"no worker process among {children}")


def test_sync_solve_that_does_not_stop_at_the_cap_is_killed_and_answered_504(
    one_worker: Server,
) -> None:
    """The Pyomo path polls no cancel: at the cap plus the 5 s grace the slot kills the worker
    and the request is answered 504 with what to do (no 500, no hang)."""
    with one_worker.client() as c:
        asked = time.monotonic()
        r = c.post("/v1/solve", params={"solver": "pyomo"}, content=long_mip_body(), headers=JSON)
        took = time.monotonic() - asked
        assert r.status_code == 504, r.text
        assert (
            "did not stop at this server's time-limit cap of 6 s and was killed"
            in (r.json()["detail"])
        )
        assert "POST /v1/jobs" in r.json()["detail"]
        assert CAP + 5 <= took < CAP + 5 + 30
        until = time.monotonic() + 300  # a new worker takes over, once warm
        while c.get("/readyz").status_code != 200 and time.monotonic() < until:
            time.sleep(0.2)
        r = c.post("/v1/solve", params={"time_limit": 3}, content=SMALL, headers=JSON)
        assert r.status_code == 200, r.text
