"""Helpers: a real `optim serve` on loopback (a free port), talked to with httpx."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

KEY = "test-key-0123456789"
EXAMPLES = Path(__file__).resolve().parents[2] / "instances" / "data"


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def gone(pid: int) -> bool:
    """The process has ended (a zombie nobody reaps counts as ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] == "Z"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    store: Path
    log: Path
    args: list[str] = field(default_factory=list)

    def client(self, key: str | None = KEY, timeout: float = 60.0) -> httpx.Client:
        headers = {"Authorization": f"Bearer {key}"} if key else {}
        return httpx.Client(base_url=self.url, headers=headers, timeout=timeout)

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")


def start_server(
    tmp: Path, *extra: str, store: Path | None = None, env: dict[str, str] | None = None
) -> Server:
    """Start `optim serve` as a subprocess and wait until /readyz says a worker is warm
    (``env``: variables set for it, e.g. ``OPTIM_API_KEYS``)."""
    tmp.mkdir(parents=True, exist_ok=True)
    port = free_port()
    keys = tmp / "keys.txt"
    keys.write_text(f"# test keys\n{KEY}\n", encoding="utf-8")
    store = store or tmp / "jobs.db"
    log = tmp / f"server-{port}.log"
    args = [
        sys.executable, "-m", "optim.cli", "serve", "--host", "127.0.0.1", "--port", str(port),
        "--api-keys", str(keys), "--store", str(store), "--log-level", "info", *extra,
    ]  # fmt: skip
    keep = {k: v for k, v in os.environ.items() if k not in ("OPTIM_CLUSTER", "OPTIM_API_KEYS")}
    with log.open("wb") as out:
        process = subprocess.Popen(
            args, stdout=out, stderr=subprocess.STDOUT, env={**keep, **(env or {})}
        )
    server = Server(f"http://127.0.0.1:{port}", process, store, log, args)
    deadline = time.monotonic() + 300  # warm-up solves take ~5 s idle, minutes at load 25
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"optim serve exited {process.returncode}:\n{server.log_text()}")
        try:
            if httpx.get(f"{server.url}/readyz", timeout=2).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    stop_server(server)
    raise RuntimeError(f"optim serve did not get ready:\n{server.log_text()}")


def stop_server(server: Server, sig: int = signal.SIGTERM) -> None:
    if server.process.poll() is None:
        server.process.send_signal(sig)
        try:
            server.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait(timeout=30)


def wait_job(
    client: httpx.Client, job_id: str, *, until: tuple[str, ...], timeout: float = 120
) -> dict:
    """Wait for one of the states ``until``: long polls (``?wait=``) for the end of a job,
    short polls while waiting for ``running``."""
    wait = 0 if "running" in until else 5
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = client.get(f"/v1/jobs/{job_id}", params={"wait": wait}).raise_for_status().json()
        if job["status"] in until:
            return job
        if not wait:
            time.sleep(0.05)
    raise AssertionError(f"job {job_id} not {until} after {timeout} s: {job}")


def long_mip_body() -> bytes:
    """A capacity plan with lot sizing (26 weeks, 40 products): a MIP HiGHS works on for
    minutes, with an incumbent within a second (215 kB)."""
    from optim.instances.generators.capacity import generate

    inst = generate(n_periods=26, n_products=40, n_resources=4, lot_sizing=True, seed=1)
    return inst.model_dump_json().encode()
