"""The HTTP API against a real `optim serve` subprocess: jobs, bytes, errors, auth, cancel."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import time
import zipfile
from pathlib import Path

import pytest
from _serve import EXAMPLES, KEY, Server, cpu_seconds, free_port, long_mip_body, wait_job

from optim import api, cli, result_schema

KINDS = ("weekly_rationing", "two_echelon_gsm", "peak_capacity")


def _cli_bytes(path: Path, tmp_path: Path) -> bytes:
    out = tmp_path / f"{path.stem}.result.json"
    assert cli.main(["solve", str(path), "--out", str(out), "--quiet"]) == 0
    return out.read_bytes()


def _cli_error(path: Path, capsys: pytest.CaptureFixture[str]) -> str:
    """The CLI's exit-2 message for the file, naming the body where it names the file (the
    same bytes: the same line)."""
    assert cli.main(["solve", str(path), "--quiet"]) == cli.EXIT_INPUT
    message = capsys.readouterr().err.strip().removeprefix("optim: invalid input: ")
    assert message.startswith(f"{path} line "), message
    return "request body" + message.removeprefix(str(path))


@pytest.mark.parametrize("name", KINDS)
def test_job_result_is_the_cli_result_byte_for_byte(
    server: Server, name: str, tmp_path: Path
) -> None:
    path = EXAMPLES / f"{name}.json"
    with server.client() as c:
        r = c.post(
            "/v1/jobs", content=path.read_bytes(), headers={"Content-Type": "application/json"}
        )
        assert r.status_code == 202, r.text
        job = r.json()
        assert job["status"] == "queued" and r.headers["Location"] == f"/v1/jobs/{job['id']}"
        assert job["params"] == {"time_limit": None, "solver": "auto", "method": "auto",
                                 "mip_gap": 1e-6}  # fmt: skip
        done = wait_job(c, job["id"], until=("succeeded", "failed"))
        assert done["status"] == "succeeded", done
        assert done["started_at"] and done["finished_at"] and done["progress"] == 1.0
        result = c.get(f"/v1/jobs/{job['id']}/result")
        assert result.status_code == 200
        assert result.headers["content-type"] == "application/json"
        assert result.content == _cli_bytes(path, tmp_path)
        # the synchronous solve answers the same bytes
        sync = c.post(
            "/v1/solve", content=path.read_bytes(), headers={"Content-Type": "application/json"}
        )
        assert sync.status_code == 200 and sync.content == result.content
        assert sync.headers["X-Optim-Exit-Code"] == "0"
        # an optimal result depends on the request only: the repeat is served from the cache
        assert sync.headers["X-Optim-Cache"] == "hit"
        again = c.post(
            "/v1/jobs", content=path.read_bytes(), headers={"Content-Type": "application/json"}
        ).json()
        assert again["status"] == "succeeded" and "reused" in again["message"]
        assert c.get(f"/v1/jobs/{again['id']}/result").content == result.content
        # other parameters are another request: solved again, with its timing
        fresh = c.post(
            "/v1/solve",
            params={"time_limit": 29},
            content=path.read_bytes(),
            headers={"Content-Type": "application/json"},
        )
        assert fresh.status_code == 200 and fresh.headers["X-Optim-Cache"] == "miss"
        assert "worker;dur=" in fresh.headers["Server-Timing"]


def test_yaml_and_zipped_folder_are_instances_too(server: Server, tmp_path: Path) -> None:
    import pandas as pd
    import yaml

    doc = json.loads((EXAMPLES / "weekly_rationing.json").read_text())
    folder = tmp_path / "week"  # the same week as a folder of CSV files
    folder.mkdir()
    for table in ("supply", "demand", "segments"):
        frame = pd.DataFrame(api.from_dict(doc).to_dict()[table])
        if "locations" in frame:
            frame["locations"] = frame["locations"].map(
                lambda v: ";".join(v) if isinstance(v, list) else ""
            )
        frame.to_csv(folder / f"{table}.csv", index=False)
    with server.client() as c:
        r = c.post(
            "/v1/solve",
            content=yaml.safe_dump(doc).encode(),
            headers={"Content-Type": "application/yaml"},
        )
        assert r.status_code == 200
        assert r.content == _cli_bytes(EXAMPLES / "weekly_rationing.json", tmp_path)
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as z:
            for p in sorted(folder.iterdir()):
                z.write(p, f"week/{p.name}")
        r = c.post("/v1/jobs", content=buf.getvalue(), headers={"Content-Type": "application/zip"})
        assert r.status_code == 202, r.text
        assert r.json()["kind"] == "rationing"
        assert wait_job(c, r.json()["id"], until=("succeeded", "failed"))["status"] == "succeeded"
        zipped = c.get(f"/v1/jobs/{r.json()['id']}/result").content
        assert zipped == _cli_bytes(folder, tmp_path)


def test_events_stream_progress_until_the_job_ends(server: Server) -> None:
    with server.client() as c:
        job = c.post(
            "/v1/jobs",
            params={"time_limit": 28},  # a request of its own (not answered from the cache)
            content=(EXAMPLES / "weekly_rationing.json").read_bytes(),
            headers={"Content-Type": "application/json"},
        ).json()
        events = []
        with c.stream("GET", f"/v1/jobs/{job['id']}/events") as r:
            assert r.headers["content-type"].startswith("text/event-stream")
            for line in r.iter_lines():
                if line.startswith("event: "):
                    events.append(line.removeprefix("event: "))
        assert events[-1] == "succeeded"
        assert set(events) <= {"queued", "running", "succeeded"}
        listed = c.get("/v1/jobs", params={"limit": 1000}).json()
        assert job["id"] in {j["id"] for j in listed}


def test_api_keys(server: Server) -> None:
    body = (EXAMPLES / "weekly_rationing.json").read_bytes()
    h = {"Content-Type": "application/json"}
    with server.client(key=None) as c:
        r = c.post("/v1/jobs", content=body, headers=h)
        assert r.status_code == 401 and "API key" in r.json()["detail"]
        assert c.get("/v1/jobs").status_code == 401
        assert c.get("/healthz").status_code == 200
        assert c.get("/openapi.json").status_code == 200
        assert c.post("/v1/validate", content=body, headers=h | {"X-API-Key": KEY}).json()["valid"]
    with server.client(key="wrong") as c:
        r = c.get("/v1/jobs")
        assert r.status_code == 403 and "not accepted" in r.json()["detail"]


def test_infeasible_instance_is_a_result_with_its_diagnosis(
    server: Server, tmp_path: Path
) -> None:
    """Floors no plan can meet: the job succeeds with the result document `optim solve`
    writes (exit code 3), whose diagnosis names the segment and the missing capacity."""
    doc = json.loads((EXAMPLES / "peak_capacity.json").read_text())
    doc["segments"][0]["min_fill_rate"] = 1.0
    doc["segments"][1]["min_fill_rate"] = 0.9
    path = tmp_path / "floors.json"
    path.write_text(json.dumps(doc))
    out = tmp_path / "floors.result.json"
    assert cli.main(["solve", str(path), "--out", str(out), "--quiet"]) == cli.EXIT_INFEASIBLE
    with server.client() as c:
        job = c.post(
            "/v1/jobs", content=path.read_bytes(), headers={"Content-Type": "application/json"}
        ).json()
        done = wait_job(c, job["id"], until=("succeeded", "failed"))
        assert done["status"] == "succeeded" and done["result_status"] == "infeasible", done
        assert done["exit_code"] == cli.EXIT_INFEASIBLE
        result = c.get(f"/v1/jobs/{job['id']}/result")
        assert result.headers["X-Optim-Exit-Code"] == "3"
        sync = c.post(
            "/v1/solve", content=path.read_bytes(), headers={"Content-Type": "application/json"}
        )
    assert result.content == sync.content == out.read_bytes()
    diagnosis = " ".join(result.json()["diagnosis"])
    assert "segment 'spot': min_fill_rate 0.9 cannot be met" in diagnosis
    assert "capacity missing to meet every floor" in diagnosis


def test_invalid_instance_is_422_with_the_cli_message(
    server: Server, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    doc = json.loads((EXAMPLES / "weekly_rationing.json").read_text())
    doc["demand"][0]["quantity"] = -5
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(doc))
    expected = _cli_error(bad, capsys)
    with server.client() as c:
        for path in ("/v1/jobs", "/v1/solve", "/v1/validate"):
            r = c.post(
                path, content=bad.read_bytes(), headers={"Content-Type": "application/json"}
            )
            assert r.status_code == 422, (path, r.text)
            assert r.json()["detail"] == expected
            assert r.json()["request_id"] == r.headers["X-Request-ID"]


_ALIAS_BOMB = (
    "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
    + "".join(f"a{k}: &a{k} [" + ", ".join([f"*a{k - 1}"] * 10) + "]\n" for k in range(1, 9))
    + "kind: safety_stock\n"
).encode()


@pytest.mark.parametrize(
    ("content", "ctype", "status", "words"),
    [
        (b'{"kind": "rationing",', "application/json", 400, "invalid JSON at line 1"),
        # the input gate, as for files (json.loads kept the last 'kind', yaml.safe_load
        # expanded aliases)
        (b'{"kind": "x", "kind": "rationing"}', "application/json", 422, "appears twice"),
        (b'{"kind": "rationing", "x": NaN}', "application/json", 422, "NaN is not a number"),
        (_ALIAS_BOMB, "application/yaml", 422, "through aliases"),
        (b"", "application/json", 400, "empty"),
        (b"\xff\xfe\x00", "application/json", 400, "not UTF-8"),
        (b"[1, 2]", "application/json", 422, "must be an object"),
        (b'{"kind": "nope"}', "application/json", 422, "kind 'nope' is not known"),
        (b'{"kind": "rationing"}', "text/plain", 415, "content type 'text/plain'"),
        (b'{"kind": "rationing"}', "", 415, "content type"),
        (b"kind: [", "application/yaml", 400, "invalid YAML"),
        (b"not a zip", "application/zip", 400, "not a valid zip"),
        (b"x" * (5 * 2**20), "application/json", 413, "at most"),
    ],
)
def test_bad_bodies_are_4xx_with_a_message(
    server: Server, content: bytes, ctype: str, status: int, words: str
) -> None:
    with server.client() as c:
        for path in ("/v1/jobs", "/v1/solve", "/v1/validate"):
            r = c.post(path, content=content, headers={"Content-Type": ctype})
            assert r.status_code == status, (path, r.text)
            assert words in r.json()["detail"], (path, r.json())


def test_large_bodies_are_checked_beside_the_event_loop(server: Server) -> None:
    """A 3 MB body is parsed and validated in the check process: the server process (its
    event loop) spends almost no CPU on it, so other requests are not held up meanwhile (in
    a thread, json.loads and pydantic held the GIL: /healthz waited up to 1 s on 12 MB)."""
    from optim.instances.generators.rationing import random_rationing

    doc = random_rationing(1, n_items=500, n_locations=4, n_customers=500, n_lines=25_000)
    tables = doc.to_dict()
    body = json.dumps(tables).encode()
    assert 2**20 < len(body) < 4 * 2**20  # above the in-thread size, below --max-body 4
    tables["demand"][7]["quantity"] = -5
    bad = json.dumps(tables).encode()
    h = {"Content-Type": "application/json"}
    with server.client() as c:
        assert c.post("/v1/validate", content=body, headers=h).status_code == 200  # warm
        spent = cpu_seconds(server.process.pid)
        for _ in range(3):
            r = c.post("/v1/validate", content=body, headers=h)
            assert r.status_code == 200 and r.json()["counts"]["demand"] == 25_000
        server_cpu = cpu_seconds(server.process.pid) - spent
        for path in ("/v1/validate", "/v1/jobs"):  # the check's errors come back as before
            r = c.post(path, content=bad, headers=h)
            assert r.status_code == 422 and "quantity must be > 0" in r.json()["detail"]
            assert r.json()["field"] == "demand[7].quantity"
    assert server_cpu < 0.15, f"server CPU {server_cpu:.3f} s for 3 checks of {len(body)} bytes"


def _zip(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buf.getvalue()


def test_zip_leaving_its_folder_or_bombs_are_refused(server: Server) -> None:
    h = {"Content-Type": "application/zip"}
    bomb = _zip({"plan.yaml": b"kind: plan\n", "history.csv": bytes(20 * 2**20)})
    assert len(bomb) < 100_000  # 20 MiB of zeros, deflated
    with server.client() as c:
        for path in ("/v1/jobs", "/v1/validate"):
            r = c.post(path, content=_zip({"../evil.csv": b"a,b\n"}), headers=h)
            assert r.status_code == 422 and "stay inside" in r.json()["detail"]
            r = c.post(path, content=_zip({"/etc/evil.csv": b"a,b\n"}), headers=h)
            assert r.status_code == 422 and "stay inside" in r.json()["detail"]
            r = c.post(path, content=bomb, headers=h)
            assert r.status_code == 413 and "unpacks to" in r.json()["detail"], r.text


def test_planning_folder_zip_gives_the_optim_plan_output(
    server: Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A zipped planning folder is a planning job; its result is the output folder of
    `optim plan` on the same folder (tables, report, workbook), as a zip, byte for byte."""
    from optim.planning.distributor import distributor_example
    from optim.planning.folder import write_folder
    from optim.service.worker import zip_folder

    folder = write_folder(
        distributor_example(3, n_items=6, n_customers=4, weeks=56), tmp_path / "week48"
    )
    body = _zip({f"week48/{p.name}": p.read_bytes() for p in sorted(folder.iterdir())})
    with server.client(timeout=300) as c:
        job = c.post("/v1/jobs", content=body, headers={"Content-Type": "application/zip"})
        assert job.status_code == 202 and job.json()["kind"] == "planning", job.text
        monkeypatch.chdir(tmp_path)  # `optim plan week48` run beside the folder, meanwhile
        assert cli.main(["plan", "week48", "--out", str(tmp_path / "out"), "--quiet"]) == 0
        done = wait_job(c, job.json()["id"], until=("succeeded", "failed"), timeout=300)
        assert done["status"] == "succeeded" and done["exit_code"] == 0, done
        result = c.get(f"/v1/jobs/{done['id']}/result")
    assert result.headers["content-type"] == "application/zip"
    names = set(zipfile.ZipFile(io.BytesIO(result.content)).namelist())
    assert {"report.html", "report.xlsx", "manifest.json", "rationing/allocations.csv"} <= names
    assert result.content == zip_folder(tmp_path / "out")


def test_unknown_ids_kinds_and_limits(server: Server) -> None:
    body = (EXAMPLES / "peak_capacity.json").read_bytes()
    h = {"Content-Type": "application/json"}
    with server.client() as c:
        for method, path in [
            ("GET", "/v1/jobs/nope"),
            ("GET", "/v1/jobs/nope/result"),
            ("GET", "/v1/jobs/nope/events"),
            ("DELETE", "/v1/jobs/nope"),
        ]:
            r = c.request(method, path)
            assert r.status_code == 404 and "no job with id 'nope'" in r.json()["detail"]
        r = c.get("/v1/schema/nope")
        assert r.status_code == 404 and "allowed: capacity" in r.json()["detail"]
        assert "result-rationing" in r.json()["detail"]
        assert c.get("/v1/schema/rationing").json() == api.schema("rationing")
        # the result documents, plan.yaml and manifest.json too: what `optim schema` prints
        for name in result_schema.SCHEMAS:
            assert c.get(f"/v1/schema/{name}").json() == result_schema.schema(name), name
        assert c.get("/v1/schema/result-capacity").json()["properties"]["diagnosis"]
        r = c.post("/v1/solve", params={"time_limit": 10_000}, content=body, headers=h)
        assert r.status_code == 422 and "cap of 30 s" in r.json()["detail"]
        r = c.post("/v1/jobs", params={"time_limit": 10_000}, content=body, headers=h)
        assert r.status_code == 422 and "cap of 3600 s" in r.json()["detail"]
        r = c.post("/v1/jobs", params={"time_limit": -1}, content=body, headers=h)
        assert r.status_code == 422 and r.json()["detail"].endswith(", got '-1'"), r.text
        assert r.json()["field"] == "time_limit"
        # the value as written (1e400 was read as infinity: "time_limit inf s is above ...")
        for written in ("1e400", "inf", "nan"):
            r = c.post("/v1/solve", params={"time_limit": written}, content=body, headers=h)
            assert r.status_code == 422, r.text
            assert r.json()["detail"] == (
                f"query.time_limit: Input should be a finite number, got '{written}'"
            )
        # the LP backends `optim solve --solver` offers for capacity (422 before)
        for name in ("glop", "pdlp"):
            r = c.post("/v1/solve", params={"solver": name}, content=body, headers=h)
            assert r.status_code == 200 and r.json()["solver"] == name, r.text
        r = c.post("/v1/solve", params=[("time_limit", 5), ("time_limit", 7)], content=body,
                   headers=h)  # fmt: skip
        assert r.status_code == 422 and "'time_limit' is given twice" in r.text, r.text
        # a misspelt parameter: it solved with no time limit, 200
        r = c.post("/v1/solve", params={"time_limt": 5}, content=body, headers=h)
        assert r.status_code == 422 and "unknown query parameter 'time_limt'" in r.text, r.text
        assert "time_limit" in r.json()["detail"]
        assert c.get("/v1/jobs", params={"limt": 3}).status_code == 422
        # a method or solver the kind does not have: refused at submission, no job queued
        listed = len(c.get("/v1/jobs", params={"limit": 1000}).json())
        r = c.post("/v1/jobs", params={"method": "bogus"}, content=body, headers=h)
        assert r.status_code == 422, r.text
        assert r.json()["detail"] == (
            "params.method 'bogus' is not available for capacity; allowed: auto, monolithic"
        )
        gsm = (EXAMPLES / "two_echelon_gsm.json").read_bytes()
        r = c.post("/v1/jobs", params={"solver": "cpsat"}, content=gsm, headers=h)
        assert r.status_code == 422 and "not available for safety_stock" in r.json()["detail"]
        assert len(c.get("/v1/jobs", params={"limit": 1000}).json()) == listed
        job = c.post("/v1/jobs", content=body, headers=h).json()
        wait_job(c, job["id"], until=("succeeded",))
        r = c.delete(f"/v1/jobs/{job['id']}")
        assert r.status_code == 409 and "already ended (succeeded)" in r.json()["detail"]


def test_cancel_keeps_the_best_solution_and_a_killed_worker_fails_its_job(
    server: Server,
) -> None:
    """DELETE interrupts HiGHS (no kill): the job ends cancelled with its incumbent and gap.
    A worker killed mid-job fails that job with the reason; nothing hangs."""
    body = long_mip_body()
    small = (EXAMPLES / "weekly_rationing.json").read_bytes()
    h = {"Content-Type": "application/json"}
    with server.client() as c:
        first = c.post("/v1/jobs", content=body, headers=h).json()
        running = wait_job(c, first["id"], until=("running", "succeeded", "failed"))
        assert running["status"] == "running" and running["worker_pid"]
        # branch and bound under way, an incumbent found: 3 s of the worker's CPU (on a
        # loaded machine 3 s of wall time may be a fraction of that)
        spent, until = cpu_seconds(running["worker_pid"]), time.monotonic() + 120
        while cpu_seconds(running["worker_pid"]) - spent < 3 and time.monotonic() < until:
            time.sleep(0.2)
        asked = time.monotonic()
        r = c.delete(f"/v1/jobs/{first['id']}")
        assert r.status_code == 200
        done = wait_job(c, first["id"], until=("cancelled", "failed", "succeeded"), timeout=60)
        assert done["status"] == "cancelled", done
        assert time.monotonic() - asked < 10, "the solver did not stop on the cancel"
        assert "best solution is kept (gap" in done["message"], done
        assert done["result_available"] and done["result_status"] == "time_limit"
        doc = c.get(f"/v1/jobs/{first['id']}/result").json()
        assert doc["solution_status"] == "feasible" and doc["objective"] is not None
        assert doc["termination"] == "interrupted"  # not "time_limit": the job was cancelled
        assert doc["gap"] > 0 and "Interrupted by user" in doc["message"]
        assert "did not answer a cancel" not in server.log_text()
        # the same worker process goes on with the next job (it was not killed)
        after = c.post("/v1/jobs", params={"time_limit": 27}, content=small, headers=h).json()
        assert wait_job(c, after["id"], until=("succeeded", "failed"))["status"] == "succeeded"

        second = c.post("/v1/jobs", content=body, headers=h).json()
        running = wait_job(c, second["id"], until=("running", "succeeded", "failed"))
        assert running["status"] == "running"
        os.kill(running["worker_pid"], signal.SIGKILL)
        done = wait_job(c, second["id"], until=("failed", "succeeded", "cancelled"), timeout=60)
        assert done["status"] == "failed"
        assert "worker process solving this job ended (signal 9)" in done["message"]
        assert f"job {second['id']}: worker process ended" in server.log_text()
        # the pool replaced its workers: new work still gets done
        again = c.post("/v1/jobs", params={"time_limit": 26}, content=small, headers=h).json()
        assert wait_job(c, again["id"], until=("succeeded", "failed"))["status"] == "succeeded"


def test_no_auth_needs_loopback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OPTIM_API_KEYS", raising=False)
    store = str(tmp_path / "x.db")
    assert cli.main(["serve", "--host", "0.0.0.0", "--no-auth", "--store", store]) == 2
    assert "--no-auth is refused on 0.0.0.0" in capsys.readouterr().err
    assert cli.main(["serve", "--store", store]) == 2
    assert "no API keys" in capsys.readouterr().err
    empty = tmp_path / "keys.txt"
    empty.write_text("# none\n")
    assert cli.main(["serve", "--api-keys", str(empty), "--store", store]) == 2
    assert "holds no key" in capsys.readouterr().err
    # a weak key, a key no header can carry, a file read by mistake: the line, never the key
    for text, line in (("# keys\nabc\n", 2), ("k" * 16 + " 2\n", 1), ("root:x:0:0\n", 1)):
        empty.write_text(text)
        assert cli.main(["serve", "--api-keys", str(empty), "--store", store]) == 2
        err = capsys.readouterr().err
        assert f"--api-keys {empty} line {line}: the key (" in err and "16 or more" in err
        assert text.splitlines()[line - 1] not in err
    monkeypatch.setenv("OPTIM_API_KEYS", "x" * 20 + ", short")
    assert cli.main(["serve", "--store", store]) == 2
    assert "$OPTIM_API_KEYS key 2: the key (5 characters) is not accepted" in (
        capsys.readouterr().err
    )


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (["--workers", "0"], "--workers: '0'; allowed: solver worker processes, a whole number"),
        (["--port", "70000"], "--port: '70000'; allowed: TCP port, a whole number in [1, 65,535]"),
        (["--max-body", "nan"], "--max-body: 'nan' is not finite; allowed: MiB"),
        (["--max-body", "0"], "--max-body: '0'; allowed: MiB, a number in [0.001, 1024]"),
        (["--sync-time-limit", "-1"], "--sync-time-limit: '-1' seconds; allowed: seconds > 0"),
        (["--max-time-limit", "inf"], "--max-time-limit: 'inf' is not finite"),
        (["--max-queue", "0"], "--max-queue: '0'; allowed: queued jobs, a whole number"),
        (["--cache-mib", "-1"], "--cache-mib: '-1'; allowed: MiB, a number in [0, 65536]"),
        (["--store", "{tmp}"], "--store {tmp}: cannot open the job store there"),
        (["--store", "{tmp}/text.db"], "cannot open the job store there (file is not a database)"),
        (["--port", "{taken}"], "--host 127.0.0.1 --port {taken}: cannot listen there"),
    ],
)
def test_serve_options_are_checked_before_it_starts(
    args: list[str], said: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Exit 2 naming the option and what is allowed (exit 1 'internal error' for a bad
    store, uvicorn's exit 3 after starting the workers for a port in use, a server with no
    worker for --workers 0), before any worker starts."""
    (tmp_path / "text.db").write_text("not a database\n")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        fill = {"tmp": str(tmp_path), "taken": str(taken.getsockname()[1])}
        argv = ["serve", "--no-auth", "--store", str(tmp_path / "jobs.db")]
        argv += ["--port", str(free_port())]  # the options below come later: they win
        argv += [a.format(**fill) for a in args]
        assert cli.main(argv) == cli.EXIT_INPUT
    assert said.format(**fill) in capsys.readouterr().err


def test_a_zip_with_a_file_twice_is_refused(tmp_path: Path) -> None:
    """Two entries demand.csv: the last one silently won (a solve of its one row, 200)."""
    import io
    import warnings
    import zipfile

    from optim.service.payload import PayloadError, unpack

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z, warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile's "Duplicate name"
        z.writestr("demand.csv", b"product,segment,period,quantity\nA,key,W1,4\n")
        z.writestr("demand.csv", b"product,segment,period,quantity\nA,key,W3,999\n")
    with pytest.raises(PayloadError, match=r"'demand\.csv' appears twice") as caught:
        unpack(buf.getvalue(), tmp_path, 2**20)
    assert caught.value.status == 422


def test_a_planning_zip_is_checked_as_optim_validate_checks_its_folder(tmp_path: Path) -> None:
    """A zipped planning folder whose plan.yaml is not YAML (or repeats a key) was "valid"
    (200) and accepted as a job (202), which then failed; now 422 with the file and line."""
    from optim.errors import InstanceError
    from optim.planning.distributor import distributor_example
    from optim.planning.folder import write_folder
    from optim.service.payload import validate

    folder = write_folder(
        distributor_example(3, n_items=6, n_customers=4, weeks=56), tmp_path / "week48"
    )
    files = {f"week48/{p.name}": p.read_bytes() for p in sorted(folder.iterdir())}
    ok = validate(_zip(files), "application/zip", 2**26)
    assert ok["valid"] and ok["kind"] == "planning"
    plan = files["week48/plan.yaml"].decode()
    for bad, words in (
        (plan.replace("plan_weeks: ", "plan_weeks: [", 1), "invalid YAML"),
        (plan + "plan_weeks: 26\n", "appears twice"),
    ):
        with pytest.raises(InstanceError, match=r"plan\.yaml line") as caught:
            validate(_zip({**files, "week48/plan.yaml": bad.encode()}), "application/zip", 2**26)
        assert words in str(caught.value)
    # errors name the zip's folders, not the server's scratch folder (/tmp/optim-check-…)
    del files["week48/items.csv"]
    with pytest.raises(InstanceError, match=r"^planning folder 'week48' lacks items\.csv"):
        validate(_zip(files), "application/zip", 2**26)
    with pytest.raises(InstanceError, match=r"^the zip's top level: no known set of CSV files"):
        validate(
            _zip({"demand.csv": b"product,segment,period,quantity\n"}), "application/zip", 2**26
        )


def test_a_planning_run_refusing_its_input_says_so_once(tmp_path: Path) -> None:
    """A failed planning job's message read "invalid input: invalid input: …" (the job adds
    its own prefix to the CLI's)."""
    from optim.params import SolveParams
    from optim.planning.distributor import distributor_example
    from optim.planning.folder import write_folder
    from optim.service.worker import _plan

    folder = write_folder(
        distributor_example(3, n_items=6, n_customers=4, weeks=56), tmp_path / "week48"
    )
    (folder / "items.csv").unlink()
    outcome = _plan(folder, tmp_path / "out", SolveParams())
    assert outcome["invalid"] and not outcome["ok"]
    assert outcome["message"].startswith("planning folder"), outcome["message"]
    assert "invalid input" not in outcome["message"] and "items.csv" in outcome["message"]


def test_a_zipped_rationing_folder_names_the_file_line(tmp_path: Path) -> None:
    """The service said `supply[1] (item 'WIDGET'): …` where `optim solve FOLDER` names
    `supply.csv line 3, column quantity`."""
    from optim.errors import InstanceError
    from optim.service.payload import validate

    files = {
        "rat/supply.csv": b"item,location,quantity\nWIDGET,DC1,100\nWIDGET,DC2,1_5\n",
        "rat/demand.csv": b"id,customer,item,quantity,segment\nL1,Acme,WIDGET,60,strategic\n",
        "rat/segments.csv": b"name,tier,fair_share\nstrategic,1,proportional\n",
    }
    with pytest.raises(InstanceError, match=r"^supply\.csv line 3, column quantity"):
        validate(_zip(files), "application/zip", 2**26)


def test_a_solves_refusal_of_a_field_names_the_body_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A refusal raised by the solve itself (past the reading's checks) named neither the
    request body nor a line (`optim solve FILE` names the file's). The reading's memory
    check, which now refuses this serial chain first, is switched off to reach the solve's."""
    from optim.instances import gate
    from optim.service.worker import run_task

    monkeypatch.setattr(gate, "check_gsm_memory", lambda *a, **k: None)
    doc = json.loads((EXAMPLES / "two_echelon_gsm.json").read_text())
    doc["stages"], doc["arcs"] = doc["stages"][:1], []
    doc["stages"][0]["lead_time_std_dev"] = 1e12
    doc["demands"] = [{**doc["demands"][0], "stage": "plant"}]
    body = json.dumps(doc, indent=1).encode()
    lines = body.decode().splitlines()
    line = next(k for k, t in enumerate(lines, 1) if '"lead_time"' in t)
    task = {"params": {}, "content_type": "application/json", "body": body}
    outcome = run_task(task)
    assert outcome["invalid"] and outcome["field"] == "stages[0].lead_time", outcome
    assert outcome["message"].startswith(f"request body line {line}: stage 'plant'"), outcome
