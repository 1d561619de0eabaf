"""Request bodies: instance documents (JSON, YAML) and folders sent as zip files.

Shared by the server (checks a submission before it is accepted) and the worker processes
(read it again and solve). Errors the client can fix are :class:`PayloadError` (HTTP status
and a message) or :class:`~optim.errors.InstanceError` (422, the messages of exit code 2).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import concurrent.futures.process
import io
import multiprocessing
import os
import tempfile
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePosixPath
from typing import Any, TypeVar

from optim import api
from optim.errors import SYNTAX, InstanceError
from optim.instances import gate

JSON_TYPES = ("application/json",)
YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml")
ZIP_TYPES = ("application/zip", "application/x-zip-compressed")
ACCEPTED = JSON_TYPES + YAML_TYPES + ZIP_TYPES
PLANNING_MARKER = "plan.yaml"
MAX_ZIP_FILES = 200
BODY = "request body"
"""How messages name a document sent as the body (as they name a file)."""
T = TypeVar("T")


class PayloadError(Exception):
    """A body the server cannot take: ``status`` is the HTTP status to answer with."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status

    def __reduce__(self) -> tuple[Any, ...]:  # raised in the check process, read in the server
        return (type(self), (self.status, str(self)))


def media_type(header: str | None) -> str:
    """The bare media type of a Content-Type header; 415 when it is not one we read."""
    value = (header or "").split(";")[0].strip().lower()
    if value not in ACCEPTED:
        shown = value or "none"
        raise PayloadError(
            415,
            f"content type {shown!r} is not accepted; send an instance document as "
            "application/json or application/yaml, or a folder as application/zip",
        )
    return value


def _text(body: bytes) -> str:
    if not body.strip():
        raise PayloadError(400, "the request body is empty; send an instance document")
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise PayloadError(400, f"the body is not UTF-8 text (byte {exc.start})") from None


def decode(body: bytes, content_type: str) -> Any:
    """Parse a JSON or YAML body through the input gate, as a file is: repeated keys, NaN
    literals, deep nesting and YAML alias bombs refused (:class:`~optim.errors.InstanceError`,
    422, naming the line and field); a body that is not well-formed is a 400 with the
    position."""
    text = _text(body)
    parse = gate.parse_json if content_type in JSON_TYPES else gate.parse_yaml
    try:
        return parse(text, BODY)
    except InstanceError as exc:
        if exc.kind == SYNTAX:
            raise PayloadError(400, str(exc)) from None
        raise


def unpack(body: bytes, dest: Path, max_bytes: int) -> Path:
    """Extract a zip body into ``dest``; returns the folder holding the files.

    A zip of one top-level folder returns that folder. Refuses paths leaving ``dest``, more
    than ``MAX_ZIP_FILES`` files, and more than ``max_bytes`` uncompressed (zip bombs).
    """
    try:
        archive = zipfile.ZipFile(io.BytesIO(body))
    except zipfile.BadZipFile:
        raise PayloadError(400, "the body is not a valid zip file") from None
    with archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        if not members:
            raise PayloadError(422, "the zip file holds no files")
        if len(members) > MAX_ZIP_FILES:
            raise PayloadError(
                413, f"the zip file holds {len(members)} files (at most {MAX_ZIP_FILES})"
            )
        total = sum(m.file_size for m in members)
        if total > max_bytes:
            raise PayloadError(
                413, f"the zip file unpacks to {total} bytes; at most {max_bytes} allowed"
            )
        seen: set[tuple[str, ...]] = set()
        for m in members:
            parts = PurePosixPath(m.filename.replace("\\", "/")).parts
            if not parts or parts[0] == "/" or ".." in parts or ":" in parts[0]:
                raise PayloadError(422, f"zip entry {m.filename!r}: paths must stay inside")
            if parts[0] == "__MACOSX":
                continue
            if parts in seen:  # the last copy silently won: a demand.csv of 4 rows was dropped
                raise PayloadError(
                    422, f"zip entry {m.filename!r} appears twice; allowed: each file once"
                )
            seen.add(parts)
            target = dest.joinpath(*parts)
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(m) as src:
                data = src.read(max_bytes + 1)
            if len(data) > m.file_size:
                raise PayloadError(422, f"zip entry {m.filename!r} is larger than it declares")
            target.write_bytes(data)
    top = [p for p in dest.iterdir() if p.name != "__MACOSX"]
    if len(top) == 1 and top[0].is_dir():
        return top[0]
    return dest


def is_planning(folder: Path) -> bool:
    """A planning folder (``optim plan``) has a ``plan.yaml``."""
    return (folder / PLANNING_MARKER).is_file()


def instance(body: bytes, content_type: str, scratch: Path, max_bytes: int) -> tuple[str, Any]:
    """Read a body: ``("instance", instance)`` or ``("planning", folder)``.

    Raises :class:`PayloadError` or :class:`~optim.errors.InstanceError`.
    """
    if content_type in ZIP_TYPES:
        folder = unpack(body, scratch, max_bytes)
        try:
            if is_planning(folder):
                # what `optim validate FOLDER` checks, before the job is accepted (a plan.yaml
                # that is not YAML was "valid", 200, and the job failed after it was queued)
                from optim.planning.folder_check import validate_folder

                validate_folder(folder)
                return "planning", folder
            try:
                return "instance", api.load(folder)
            except InstanceError as exc:  # the file line, as `optim solve FOLDER` names it
                from optim.instances.rationing import located_in_folder

                raise located_in_folder(exc, folder) from None
        except InstanceError as exc:
            raise _in_zip(exc, scratch) from None
    return "instance", document(body, content_type)


def _in_zip(exc: InstanceError, scratch: Path) -> InstanceError:
    """``exc`` naming the zip's own folders: the server's scratch folder
    (``/tmp/optim-check-8ejucfeq/week48``) is no place the client knows."""
    text = str(exc)
    for where, shown in ((f"{scratch}{os.sep}", ""), (str(scratch), "the zip's top level")):
        text = text.replace(where, shown)
    return InstanceError(text, field=exc.field, kind=exc.kind)


LOCATE_MAX_BYTES = {".json": 2**20, ".yaml": 2**17}
"""Bodies up to this size get the line of a validation error's field (finding it reads the
body again: ~0.4 s per MiB of JSON, ~6 s per MiB of YAML, in the one check process)."""


def document(body: bytes, content_type: str) -> Any:
    """The instance of a JSON or YAML document body (no files involved); a validation error
    names the line of its field in a body of up to :data:`LOCATE_MAX_BYTES`."""
    doc = decode(body, content_type)
    try:
        return api.from_dict(doc)
    except InstanceError as exc:
        raise located(exc, body, content_type) from None


def located(exc: InstanceError, body: bytes, content_type: str) -> InstanceError:
    """``exc`` naming the request body, and the line of its field in a document body of up
    to :data:`LOCATE_MAX_BYTES` (a validation error, or a solve's refusal of a field)."""
    suffix = ".json" if content_type in JSON_TYPES else ".yaml"
    if len(body) > LOCATE_MAX_BYTES[suffix]:
        return InstanceError(f"{BODY}: {exc}", field=exc.field, kind=exc.kind)
    return gate.located(exc, BODY, _text(body), suffix)


def check(body: bytes, content_type: str, max_bytes: int) -> tuple[str, str]:
    """Read and validate a submission: ``(mode, kind)`` (``kind`` ``planning`` for a
    planning folder, checked in full when its job runs)."""
    with tempfile.TemporaryDirectory(prefix="optim-check-") as tmp:
        mode, what = instance(body, content_type, Path(tmp), max_bytes)
        return mode, ("planning" if mode == "planning" else what.kind)


def validate(body: bytes, content_type: str, max_bytes: int) -> dict[str, Any]:
    """``POST /v1/validate``: the kind and the size of each table of a valid instance."""
    with tempfile.TemporaryDirectory(prefix="optim-check-") as tmp:
        mode, what = instance(body, content_type, Path(tmp), max_bytes)
        if mode == "planning":
            files = sorted(p.name for p in what.iterdir())
            return {
                "valid": True,
                "kind": "planning",
                "files": files,
                "note": "checked as `optim validate FOLDER` checks it (the run's own checks "
                "follow when the job runs)",
            }
        sizes = {
            name: len(getattr(what, name))
            for name in type(what).model_fields
            if hasattr(getattr(what, name), "__len__") and not isinstance(getattr(what, name), str)
        }
        return {"valid": True, "kind": what.kind, "counts": {k: v for k, v in sizes.items() if v}}


IN_PROCESS = 2**20
"""Bodies above this many bytes are read and validated in the check process (below: a thread
of the server, a few milliseconds)."""


class Checker:
    """Reads and validates submissions beside the event loop.

    Parsing and validating a large body holds the GIL for seconds (``json.loads`` of 12 MB:
    0.8 s, pydantic over its tables: more), which stalled every other request of the server
    — ``/healthz`` too — for that long when it ran in a thread. Bodies above
    :data:`IN_PROCESS` bytes go to one spawned process instead (started on first use, one
    check at a time; a process that dies is replaced and the request answered 500 by the
    caller); small ones stay in a thread, where the round trip would cost more than the check.
    """

    def __init__(self) -> None:
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    async def run(self, fn: Callable[[bytes, str, int], T], body: bytes, *args: Any) -> T:
        if len(body) <= IN_PROCESS:
            return await asyncio.to_thread(fn, body, *args)
        with self._lock:
            if self._pool is None:
                context = multiprocessing.get_context("spawn")
                self._pool = concurrent.futures.ProcessPoolExecutor(1, mp_context=context)
            pool = self._pool
        try:
            return await asyncio.wrap_future(pool.submit(fn, body, *args))
        except concurrent.futures.process.BrokenProcessPool:
            with self._lock:
                if self._pool is pool:
                    self._pool = None
            raise

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = None
