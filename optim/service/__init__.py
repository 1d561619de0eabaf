"""optim as a service: ``optim serve`` (FastAPI + uvicorn) with asynchronous jobs.

Under ``/v1``: ``POST /jobs`` (an instance document, or a folder as a zip) → 202 and the job;
``GET /jobs/{id}`` (status, time stamps, progress), ``/jobs/{id}/result`` (the bytes
``optim solve --out`` writes), ``/jobs/{id}/events`` (server-sent events), ``DELETE
/jobs/{id}`` (cancel), ``GET /jobs``; ``POST /solve`` (synchronous, time limit capped),
``POST /validate``, ``GET /schema/{kind}``; ``/healthz`` and ``/readyz`` outside ``/v1``.
OpenAPI at ``/openapi.json``.

Solves run in spawned worker processes (:mod:`optim.service.pool`); job state and results are
kept in SQLite (:mod:`optim.service.store`). FastAPI and uvicorn are imported only here, so the
rest of the CLI starts without them.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import socket
import sqlite3
import sys
from collections.abc import Iterator
from pathlib import Path

import uvicorn

from optim.errors import InstanceError
from optim.service import logs
from optim.service.app import ServiceConfig, create_app
from optim.service.pool import CANCEL_GRACE, JobManager

__all__ = ["ENV_API_KEYS", "ServiceConfig", "create_app", "is_loopback", "read_api_keys", "serve"]

ENV_API_KEYS = "OPTIM_API_KEYS"


def is_loopback(host: str) -> bool:
    """True for addresses only this machine can reach."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


MIN_KEY_LENGTH = 16
"""Characters an API key has at least (``secrets.token_urlsafe(32)`` gives 43)."""


def read_api_keys(path: str | Path | None) -> frozenset[str]:
    """Keys from ``path`` (one per line, ``#`` comments) and ``$OPTIM_API_KEYS`` (commas).

    A key is :data:`MIN_KEY_LENGTH` or more printable ASCII characters without spaces: what an
    ``Authorization`` header carries intact (a key with a space or an accent could never be
    sent; a file read by mistake, such as /etc/passwd, made every line a key, and ``abc`` was
    as good as any). The message names the line and the key's length, never the key.
    """
    keys: set[str] = set()
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InstanceError(f"--api-keys {path}: cannot read it ({exc})", "api-keys") from None
        for number, line in enumerate(text.splitlines(), 1):
            key = line.strip()
            if key and not key.startswith("#"):
                keys.add(_checked_key(key, f"--api-keys {path} line {number}"))
        if not keys:
            raise InstanceError(f"--api-keys {path}: the file holds no key", "api-keys")
    for number, key in enumerate(os.environ.get(ENV_API_KEYS, "").split(","), 1):
        if key.strip():
            keys.add(_checked_key(key.strip(), f"${ENV_API_KEYS} key {number}"))
    return frozenset(keys)


def _checked_key(key: str, where: str) -> str:
    if len(key) < MIN_KEY_LENGTH or not all("!" <= c <= "~" for c in key):
        raise InstanceError(
            f"{where}: the key ({len(key)} characters) is not accepted; allowed: "
            f"{MIN_KEY_LENGTH} or more printable ASCII characters without spaces (e.g. "
            "python -c 'import secrets; print(secrets.token_urlsafe(32))')",
            "api-keys",
        )
    return key


class DrainingServer(uvicorn.Server):
    """uvicorn's server, draining the job manager first when told to stop (SIGTERM, SIGINT):
    queued jobs fail with the reason, running solves are interrupted and keep their best
    solution, so the requests and event streams waiting on them end and the stop is bounded,
    instead of waiting for hour-long jobs (or their event streams) to finish."""

    def __init__(self, settings: uvicorn.Config, manager: JobManager) -> None:
        super().__init__(settings)
        self.manager = manager

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        self.manager.drain()
        await super().shutdown(sockets)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """As uvicorn's, without raising the signal again once the stop has completed (it
        would reach the CLI as an interrupted command, exit 143): a drained stop exits 0."""
        with super().capture_signals():
            yield
            if self.should_exit and not self.force_exit:
                self._captured_signals.clear()


def serve(config: ServiceConfig, log_level: str = "info") -> int:
    """Run the server until interrupted (SIGTERM or SIGINT: drained, see
    :class:`DrainingServer`); returns the exit code."""
    if config.no_auth and not is_loopback(config.host):
        raise InstanceError(
            f"--no-auth is refused on {config.host}: without API keys the service may only "
            "listen on a loopback address (127.0.0.1, ::1, localhost)",
            field="no-auth",
        )
    if not config.no_auth and not config.api_keys:
        raise InstanceError(
            f"no API keys: pass --api-keys FILE or set {ENV_API_KEYS}, or --no-auth "
            "(loopback only)",
            field="api-keys",
        )
    log_config = logs.configure(log_level, config.log_format)
    listener = _listen(config.host, config.port)  # a taken port: exit 2 before any worker
    try:
        app = create_app(config)
    except (sqlite3.Error, OSError) as exc:
        listener.close()
        raise InstanceError(
            f"--store {config.store}: cannot open the job store there ({exc})", field="store"
        ) from None
    started = (
        f"optim serve: http://{config.host}:{config.port} ({config.workers} workers, "
        f"store {config.store}, {'no auth' if config.no_auth else 'API keys'})"
    )
    if config.log_format == "json":
        logging.getLogger("optim.service").info(started)
    else:
        print(started, file=sys.stderr, flush=True)
    settings = uvicorn.Config(
        app,
        host=config.host,
        port=config.port,
        log_level=log_level,
        access_log=False,  # optim.access has the request id and the time taken
        log_config=log_config,
        # a backstop: interrupted solves answer within the cancel grace, and with them the
        # requests and event streams that wait for them
        timeout_graceful_shutdown=int(CANCEL_GRACE) + 5,
    )
    DrainingServer(settings, app.state.manager).run(sockets=[listener])
    return 0


def _listen(host: str, port: int) -> socket.socket:
    """The server's socket, bound here so that an address in use or not of this machine is
    an input error naming the options (uvicorn would start the workers, then exit 3)."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[
            0
        ]
    except socket.gaierror as exc:
        raise InstanceError(f"--host {host}: not an address ({exc.strerror})", "host") from None
    sock = socket.socket(family, kind, proto)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind(address)
    except OSError as exc:
        sock.close()
        raise InstanceError(
            f"--host {host} --port {port}: cannot listen there ({exc.strerror})", field="port"
        ) from None
    return sock
