"""Stopping a real `optim serve` (SIGTERM, as a process manager does) while it works: the stop
is bounded by the cancel grace, not by the jobs' time limits; the running job is interrupted
and recorded failed with what it kept, the queued one failed with the reason, the event
stream that followed the job gets its last event, a synchronous solve waiting for the worker
gets an answer (503) instead of a dropped connection, and no worker process outlives it."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import Any

import httpx
from _serve import (
    EXAMPLES,
    KEY,
    cpu_seconds,
    gone,
    long_mip_body,
    start_server,
    stop_server,
    wait_job,
)

JSON = {"Content-Type": "application/json"}
SMALL = (EXAMPLES / "weekly_rationing.json").read_bytes()
STOPS_WITHIN = 25.0  # seconds: the cancel grace (10 s) and the server's own stop, under load


def test_sigterm_interrupts_running_work_and_records_it(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "a", "--workers", "1", "--max-time-limit", "600")
    seen: dict[str, Any] = {"events": []}
    try:
        with srv.client() as c:
            job = c.post("/v1/jobs", content=long_mip_body(), headers=JSON).json()
            running = wait_job(c, job["id"], until=("running",), timeout=60)
            queued = c.post("/v1/jobs", content=SMALL, headers=JSON).json()
        pid = running["worker_pid"]

        def follow() -> None:
            url, auth = f"{srv.url}/v1/jobs/{job['id']}/events", {"Authorization": f"Bearer {KEY}"}
            with httpx.stream("GET", url, headers=auth, timeout=120) as r:
                seen["events"] += [ln for ln in r.iter_lines() if ln.startswith("event:")]

        def solve() -> None:
            with srv.client(timeout=120) as c:
                seen["solve"] = c.post("/v1/solve", content=SMALL, headers=JSON)

        threads = [threading.Thread(target=f) for f in (follow, solve)]
        for t in threads:
            t.start()
        with srv.client() as c:  # the solve waits behind the job; the stream is open
            until = time.monotonic() + 30
            while c.get("/readyz").json()["solves_waiting"] != 1:
                assert time.monotonic() < until
                time.sleep(0.05)
        spent, until = cpu_seconds(pid), time.monotonic() + 60
        while cpu_seconds(pid) - spent < 1 and time.monotonic() < until:
            time.sleep(0.1)  # branch and bound under way
        asked = time.monotonic()
        srv.process.send_signal(signal.SIGTERM)
        srv.process.wait(timeout=120)
        took = time.monotonic() - asked
        for t in threads:
            t.join(timeout=30)
    finally:
        stop_server(srv)
    assert srv.process.returncode == 0, srv.log_text()
    assert took < STOPS_WITHIN, f"the stop took {took:.1f} s"
    assert gone(pid)
    assert seen["events"][-1] == "event: failed", seen["events"]
    r = seen["solve"]
    assert r.status_code == 503 and "the service is stopping" in r.json()["detail"], r.text
    log = srv.log_text()
    assert "did not answer a cancel" not in log and "Traceback" not in log, log
    again = start_server(tmp_path / "b", "--workers", "1", store=srv.store)
    try:
        with again.client() as c:
            done = c.get(f"/v1/jobs/{job['id']}").json()
            assert done["status"] == "failed", done
            assert done["message"].startswith("interrupted: the service stopped while it ran: ")
            assert done["message"].endswith("submit it again for the full solve"), done
            assert done["result_available"] and done["result_status"] == "time_limit", done
            doc = c.get(f"/v1/jobs/{job['id']}/result").json()
            assert doc["termination"] == "interrupted"
            if doc["solution_status"] == "feasible":  # an incumbent in the first second
                assert "best solution is kept (gap" in done["message"], done
            late = c.get(f"/v1/jobs/{queued['id']}").json()
            assert late["status"] == "failed", late
            assert late["message"] == (
                "interrupted: the service stopped before it started; submit it again"
            )
        assert "interrupted by the last stop" not in again.log_text()  # all recorded at stop
    finally:
        stop_server(again)
    print(f"\nSIGTERM to exit: {took:.2f} s")
