"""The server's log: one record a line, as text or as JSON (``optim serve --log-format``),
and one access record per request (method, path, status, milliseconds, request id).

In JSON every record is an object with ``time`` (UTC, ISO 8601), ``level``, ``logger``,
``message`` and, where known, ``request_id`` (the ``X-Request-ID`` of the answer),
``method``, ``path``, ``status``, ``ms`` and ``exception`` (the traceback), so a log
pipeline can follow a request without parsing messages. uvicorn's own records go through the
same handler.
"""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any

import orjson

REQUEST_ID: ContextVar[str] = ContextVar("optim_request_id", default="")
"""The request being answered (set by the request-id middleware for its task)."""

ACCESS = logging.getLogger("optim.access")
PROBES = frozenset({"/healthz", "/readyz"})  # asked every few seconds by a load balancer
FORMATS = ("text", "json")
_FIELDS = ("method", "path", "status", "ms")
TEXT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """A record as one JSON object (see the module)."""

    def format(self, record: logging.LogRecord) -> str:
        at = datetime.fromtimestamp(record.created, UTC)
        doc: dict[str, Any] = {
            "time": at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        rid = getattr(record, "request_id", "") or REQUEST_ID.get()
        if rid:
            doc["request_id"] = rid
        for name in _FIELDS:
            if hasattr(record, name):
                doc[name] = getattr(record, name)
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(doc).decode()


def configure(level: str, fmt: str) -> dict[str, Any] | None:
    """Set up the root logger; returns the ``log_config`` to give uvicorn (``None``: its
    records go to ours)."""
    if fmt == "json":
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(JsonFormatter())
        root = logging.getLogger()
        root.handlers = [handler]
        root.setLevel(getattr(logging, level.upper(), logging.INFO))
        return None
    logging.basicConfig(
        level=getattr(logging, level.upper(), logging.INFO), format=TEXT, stream=sys.stderr
    )
    import uvicorn.config

    return dict(uvicorn.config.LOGGING_CONFIG)


def access(method: str, path: str, status: int, ms: float, request_id: str) -> None:
    """The access record of one answered request (health probes: debug level)."""
    ACCESS.log(
        logging.DEBUG if path in PROBES else logging.INFO,
        "%s %s %d %.1f ms",
        method,
        path,
        status,
        ms,
        extra={
            "method": method,
            "path": path,
            "status": status,
            "ms": round(ms, 1),
            "request_id": request_id,
        },
    )
