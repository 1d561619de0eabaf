"""The service under load, fuzzed through its OpenAPI document, and across a restart."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from _serve import (
    EXAMPLES,
    KEY,
    Server,
    gone,
    long_mip_body,
    start_server,
    stop_server,
    wait_job,
)

SMALL = (EXAMPLES / "weekly_rationing.json").read_bytes()
JSON = {"Content-Type": "application/json"}


def test_load_500_requests_from_20_clients_lose_no_job(server: Server) -> None:
    """20 clients: 200 job submissions + 100 synchronous solves + polls (≥ 500 requests).

    Requests differ in their time limit (20 distinct ones), so the workers solve under load
    and the result cache answers the repeats; every answer has the same bytes."""
    expected = None
    with server.client() as c:
        expected = c.post("/v1/solve", content=SMALL, headers=JSON).content

    def client_work(i: int) -> tuple[list[str], list[int], int]:
        ids, bad, sent = [], [], 0
        with server.client() as c:
            for k in range(15):
                limit = {"time_limit": 10 + (15 * i + k) % 20}
                if k % 3 == 2:
                    r = c.post("/v1/solve", params=limit, content=SMALL, headers=JSON)
                    sent += 1
                    if r.status_code != 200 or r.content != expected:
                        bad.append(r.status_code)
                    continue
                r = c.post("/v1/jobs", params=limit, content=SMALL, headers=JSON)
                sent += 1
                if r.status_code != 202:
                    bad.append(r.status_code)
                    continue
                ids.append(r.json()["id"])
            for job_id in ids:
                job = wait_job(c, job_id, until=("succeeded", "failed", "cancelled"))
                sent += 2
                result = c.get(f"/v1/jobs/{job_id}/result")
                if job["status"] != "succeeded" or result.content != expected:
                    bad.append(result.status_code)
        return ids, bad, sent

    with ThreadPoolExecutor(20) as pool:
        outcomes = list(pool.map(client_work, range(20)))
    ids = [i for o in outcomes for i in o[0]]
    assert [b for o in outcomes for b in o[1]] == []
    assert len(ids) == 200 and len(set(ids)) == 200
    assert sum(o[2] for o in outcomes) >= 500
    with server.client() as c:
        listed = {j["id"]: j["status"] for j in c.get("/v1/jobs?limit=1000").json()}
    assert all(listed[i] == "succeeded" for i in ids)


CONFORMANCE = (
    "not_a_server_error,status_code_conformance,content_type_conformance,"
    "response_headers_conformance,response_schema_conformance"
)


def test_openapi_fuzzed_by_schemathesis_gives_no_500_and_answers_as_documented(
    server: Server,
) -> None:
    """No 500, and every answer has a documented status, content type, headers and body
    schema. The request bodies' examples (the bundled instances) and the links from a
    submitted job to its operations let the stateful phase reach real jobs, not only 404s."""
    st = shutil.which("st", path=str(Path(sys.executable).parent))
    if st is None:
        pytest.skip("schemathesis is a dev dependency")
    r = subprocess.run(
        [st, "run", f"{server.url}/openapi.json", "--checks", CONFORMANCE,
         "--max-examples", "15", "--seed", "1", "--generation-deterministic",
         "-H", f"Authorization: Bearer {KEY}", "--request-timeout", "60",
         "--phases", "examples,fuzzing,stateful"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
    assert "operations" in r.stdout.lower() or "api operations" in r.stdout.lower(), r.stdout
    links = re.search(r"API Links:\s+(\d+) covered", r.stdout)
    assert links and int(links[1]) >= 4, r.stdout  # submitted jobs were followed
    assert "internal error" not in server.log_text()


def test_restart_keeps_finished_jobs_and_fails_interrupted_ones(tmp_path: Path) -> None:
    srv = start_server(tmp_path / "a", "--workers", "1")
    try:
        with srv.client() as c:
            done = c.post("/v1/jobs", content=SMALL, headers=JSON).json()
            wait_job(c, done["id"], until=("succeeded",))
            before = c.get(f"/v1/jobs/{done['id']}/result").content
            long = c.post("/v1/jobs", content=long_mip_body(), headers=JSON).json()
            running = wait_job(c, long["id"], until=("running", "succeeded", "failed"))
            assert running["status"] == "running"
    finally:  # the server dies without a word; its idle workers see the pipe close
        srv.process.send_signal(signal.SIGKILL)
        srv.process.wait(timeout=30)
    # the busy worker notices its server is gone and ends (it would solve on for nobody)
    pid, until = running["worker_pid"], time.monotonic() + 30
    while not gone(pid) and time.monotonic() < until:
        time.sleep(0.1)
    if not gone(pid):
        os.kill(pid, signal.SIGKILL)
        raise AssertionError("the worker outlived its server by 30 s")
    again = start_server(tmp_path / "b", "--workers", "1", store=srv.store)
    try:
        with again.client() as c:
            assert c.get(f"/v1/jobs/{done['id']}/result").content == before
            job = c.get(f"/v1/jobs/{long['id']}").json()
            assert job["status"] == "failed" and "interrupted" in job["message"]
            assert "1 job(s) interrupted" in again.log_text()
    finally:
        stop_server(again)
