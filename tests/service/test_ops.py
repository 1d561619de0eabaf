"""Running the service for a long time, against a real `optim serve` with JSON logs and a
three-second retention: ended jobs are deleted after ``--keep-days`` (and their inputs as
soon as they end), and the log is one JSON object a line with each request's access record
under the request id its answer carried."""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from _serve import EXAMPLES, Server, start_server, stop_server, wait_job

JSON = {"Content-Type": "application/json"}
SMALL = (EXAMPLES / "weekly_rationing.json").read_bytes()
KEEP = 3.0  # seconds (--keep-days as a fraction of a day)


@pytest.fixture(scope="module")
def ops(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    srv = start_server(
        tmp_path_factory.mktemp("ops"),
        "--workers", "1", "--keep-days", f"{KEEP / 86400:.10f}", "--log-format", "json",
    )  # fmt: skip
    yield srv
    stop_server(srv)


def test_ended_jobs_are_deleted_after_keep_days(ops: Server) -> None:
    """Not before: the job's age when it is gone is at least the retention."""
    with ops.client() as c:
        job = c.post("/v1/jobs", content=SMALL, headers=JSON).json()
        done = wait_job(c, job["id"], until=("succeeded",))
        with sqlite3.connect(ops.store) as db:
            row = db.execute("SELECT payload IS NULL FROM jobs WHERE id=?", (job["id"],))
            assert row.fetchone() == (1,)  # the input went with the end of the job
        assert c.get(f"/v1/jobs/{job['id']}/result").status_code == 200
        ended = datetime.fromisoformat(done["finished_at"])
        until = time.monotonic() + KEEP + 30
        while (r := c.get(f"/v1/jobs/{job['id']}")).status_code == 200:
            assert time.monotonic() < until, "the job was not deleted"
            time.sleep(0.1)
        age = (datetime.now(UTC) - ended).total_seconds()
        assert KEEP - 0.01 <= age < KEEP + 20, age
        assert r.status_code == 404, r.text
        assert "jobs are kept 3.47222e-05 days after they end" in r.json()["detail"]
        assert c.get(f"/v1/jobs/{job['id']}/result").status_code == 404
    with sqlite3.connect(ops.store) as db:
        assert db.execute("SELECT COUNT(*) FROM jobs WHERE id=?", (job["id"],)).fetchone() == (0,)
    assert "job(s) that ended over 3s ago deleted" in ops.log_text()


def test_json_log_is_one_object_a_line_with_access_records(ops: Server) -> None:
    with ops.client() as c:
        missing = c.get("/v1/jobs/nope")
        solved = c.post("/v1/solve", content=SMALL, headers=JSON)
    assert missing.status_code == 404 and solved.status_code == 200
    ids = {missing.headers["X-Request-ID"], solved.headers["X-Request-ID"]}
    until = time.monotonic() + 10
    while True:  # the access record follows the answer
        records = [json.loads(line) for line in ops.log_text().splitlines() if line.strip()]
        access = {r.get("request_id"): r for r in records if r["logger"] == "optim.access"}
        if ids <= access.keys() or time.monotonic() > until:
            break
        time.sleep(0.1)
    for record in records:
        assert {"time", "level", "logger", "message"} <= record.keys(), record
    miss = access[missing.headers["X-Request-ID"]]
    assert (miss["method"], miss["path"], miss["status"]) == ("GET", "/v1/jobs/nope", 404)
    hit = access[solved.headers["X-Request-ID"]]
    assert (hit["method"], hit["path"], hit["status"]) == ("POST", "/v1/solve", 200)
    assert miss["ms"] >= 0 and hit["ms"] > 0
    assert any(r["logger"].startswith("uvicorn") for r in records)  # uvicorn's too
    assert any(r["message"].startswith("optim serve: http://") for r in records)
