"""Job state and results in one embedded SQLite file.

Only the server process touches the database (one connection, serialised by a lock; WAL so a
reader never waits for a writer). A job row is written when it is accepted and when it ends,
so a restart loses nothing finished; :meth:`JobStore.recover` marks jobs that were queued or
running when the previous process stopped as failed, with the reason.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

TERMINAL = ("succeeded", "failed", "cancelled")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at TEXT NOT NULL,
    started_at TEXT,
    finished_at TEXT,
    progress REAL NOT NULL DEFAULT 0,
    message TEXT NOT NULL DEFAULT '',
    result_status TEXT,
    exit_code INTEGER,
    params TEXT NOT NULL,
    content_type TEXT NOT NULL,
    mode TEXT NOT NULL,
    payload BLOB,
    result BLOB,
    result_type TEXT
);
CREATE INDEX IF NOT EXISTS jobs_seq ON jobs (seq);
"""


def now(ago: float = 0.0) -> str:
    """UTC time stamp (``ago`` seconds back), ISO 8601 with milliseconds."""
    at = datetime.now(UTC) - timedelta(seconds=ago)
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass
class Job:
    """What the API reports about a job (the payload and result bytes live in the store)."""

    id: str
    kind: str
    status: str
    created_at: str
    params: dict[str, Any]
    content_type: str
    mode: str
    seq: int = 0
    started_at: str | None = None
    finished_at: str | None = None
    progress: float = 0.0
    message: str = ""
    result_status: str | None = None
    exit_code: int | None = None
    result_type: str | None = None
    # live only (not stored)
    progress_detail: str = ""
    worker_pid: int | None = None
    cancel_requested: bool = field(default=False, repr=False)
    stop_requested: bool = field(default=False, repr=False)  # the service is stopping

    def public(self) -> dict[str, Any]:
        doc = asdict(self)
        doc.pop("cancel_requested")
        doc.pop("stop_requested")
        doc.pop("seq")
        doc["params"] = {k: v for k, v in self.params.items() if not k.startswith("_")}
        doc["result_available"] = self.result_type is not None
        return doc


_COLUMNS = (
    "id, seq, kind, status, created_at, started_at, finished_at, progress, message, "
    "result_status, exit_code, params, content_type, mode, result_type"
)


class JobStore:
    """The SQLite file at ``path`` (created with its folder if missing)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
        with self._lock:
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def next_seq(self) -> int:
        with self._lock:
            row = self._db.execute("SELECT COALESCE(MAX(seq), 0) FROM jobs").fetchone()
        return int(row[0]) + 1

    def recover(self) -> int:
        """Mark jobs left queued or running by a previous process failed; returns how many."""
        with self._lock:
            cur = self._db.execute(
                "UPDATE jobs SET status='failed', finished_at=?, message=?, payload=NULL "
                "WHERE status IN ('queued', 'running')",
                (
                    now(),
                    "interrupted: the service stopped before this job finished; submit it again",
                ),
            )
        return cur.rowcount

    def add(self, job: Job, payload: bytes) -> None:
        with self._lock:
            self._db.execute(
                "INSERT INTO jobs (id, seq, kind, status, created_at, progress, message, params, "
                "content_type, mode, payload) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    job.id,
                    job.seq,
                    job.kind,
                    job.status,
                    job.created_at,
                    job.progress,
                    job.message,
                    json.dumps(job.params),
                    job.content_type,
                    job.mode,
                    payload,
                ),
            )

    def update(self, job: Job, result: bytes | None = None) -> None:
        """Write the job's state (and its result bytes, when given)."""
        with self._lock:
            self._db.execute(
                "UPDATE jobs SET status=?, started_at=?, finished_at=?, progress=?, message=?, "
                "result_status=?, exit_code=?, result_type=?, result=COALESCE(?, result), "
                "payload=CASE WHEN ? THEN NULL ELSE payload END WHERE id=?",
                (
                    job.status,
                    job.started_at,
                    job.finished_at,
                    job.progress,
                    job.message,
                    job.result_status,
                    job.exit_code,
                    job.result_type,
                    result,
                    job.status in TERMINAL,  # an ended job's input is not needed again
                    job.id,
                ),
            )

    def purge(self, before: str) -> int:
        """Delete the jobs (state, input, result) that ended before the time stamp ``before``
        (ISO 8601 as :func:`now` writes it, so text order is time order); returns how many.
        SQLite reuses the freed pages, so a store under steady use stops growing."""
        with self._lock:
            cur = self._db.execute(
                "DELETE FROM jobs WHERE finished_at < ? AND status IN "
                "('succeeded', 'failed', 'cancelled')",
                (before,),
            )
        return cur.rowcount

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            row = self._db.execute(f"SELECT {_COLUMNS} FROM jobs WHERE id=?", (job_id,)).fetchone()
        return _job(row) if row else None

    def payload(self, job_id: str) -> bytes | None:
        with self._lock:
            row = self._db.execute("SELECT payload FROM jobs WHERE id=?", (job_id,)).fetchone()
        return bytes(row[0]) if row and row[0] is not None else None

    def result(self, job_id: str) -> tuple[bytes, str] | None:
        with self._lock:
            row = self._db.execute(
                "SELECT result, result_type FROM jobs WHERE id=?", (job_id,)
            ).fetchone()
        if not row or row[0] is None:
            return None
        return bytes(row[0]), str(row[1])

    def list(self, *, status: str | None = None, limit: int = 100) -> list[Job]:
        query = f"SELECT {_COLUMNS} FROM jobs"
        args: tuple[Any, ...] = ()
        if status:
            query += " WHERE status=?"
            args = (status,)
        query += " ORDER BY seq DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(query, (*args, limit)).fetchall()
        return [_job(r) for r in rows]


def _job(row: tuple[Any, ...]) -> Job:
    (
        id_,
        seq,
        kind,
        status,
        created,
        started,
        finished,
        progress,
        message,
        result_status,
        exit_code,
        params,
        content_type,
        mode,
        result_type,
    ) = row
    return Job(
        id=id_,
        seq=seq,
        kind=kind,
        status=status,
        created_at=created,
        started_at=started,
        finished_at=finished,
        progress=progress,
        message=message,
        result_status=result_status,
        exit_code=exit_code,
        params=json.loads(params),
        content_type=content_type,
        mode=mode,
        result_type=result_type,
    )
