"""The HTTP API (FastAPI): asynchronous jobs, synchronous small solves, validation, schemas.

Solves run in the worker processes of :class:`~optim.service.pool.JobManager`, never in the
event loop; parsing and checking a submission runs in the thread pool. Every error answer is
JSON ``{"detail": ..., "request_id": ...}`` (plus ``field`` for invalid instances); the
request id is also the ``X-Request-ID`` header and appears in the log line of any 500.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

import orjson
from fastapi import Depends, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response, StreamingResponse
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect
from starlette.types import ASGIApp, Message, Receive, Scope, Send

import optim
from optim import api, result_schema
from optim.errors import InstanceError
from optim.models import choices
from optim.params import SolveParams
from optim.service import logs, payload
from optim.service.pool import JobManager, NotCancellable, QueueFull
from optim.service.store import TERMINAL, JobStore

log = logging.getLogger("optim.service")
FIRST = asyncio.FIRST_COMPLETED

SOLVERS = ("auto", "highs", "pyomo", "cpsat")
Status = Literal["queued", "running", "succeeded", "failed", "cancelled"]


@dataclass
class ServiceConfig:
    """Settings of one server (``optim serve`` options)."""

    host: str = "127.0.0.1"
    port: int = 8000
    workers: int = 2
    store: Path = Path("optim-service.db")
    api_keys: frozenset[str] = field(default_factory=frozenset)
    no_auth: bool = False
    max_body: int = 64 * 2**20  # bytes of a request body (and of an unpacked zip x4)
    max_time_limit: float = 3600.0  # seconds, cap (and default) of a job's time limit
    sync_time_limit: float = 30.0  # seconds, cap (and default) of POST /v1/solve
    max_queue: int = 1000  # queued jobs before 429
    cache_bytes: int = 64 * 2**20  # results of deterministic solves kept in memory (0: off)
    keep_days: float = 7.0  # an ended job (state, result) is deleted this long after it ended
    log_format: str = "text"  # or "json": one object a line (optim.service.logs)


class OrjsonResponse(JSONResponse):
    """A JSON answer serialised by orjson (FastAPI's ``ORJSONResponse`` is deprecated and
    warns in the server log on first use; this is the same rendering)."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_NON_STR_KEYS)


class ApiError(Exception):
    """An answer with ``status`` and a message (4xx the client can act on)."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.headers = status, headers


class JobView(BaseModel):
    """A job as the API reports it."""

    id: str
    kind: str
    status: Status
    created_at: str
    started_at: str | None = None
    finished_at: str | None = None
    progress: float = 0.0
    progress_detail: str = ""
    message: str = ""
    result_status: str | None = None
    exit_code: int | None = None
    result_type: str | None = None
    result_available: bool = False
    params: dict[str, Any] = {}
    content_type: str
    mode: str
    worker_pid: int | None = None


class ReadyView(BaseModel):
    """``/readyz``: the workers and what waits for them."""

    status: Literal["ready", "starting", "stopping"]
    workers_ready: int
    workers: int
    workers_busy: int
    queued: int
    solves_waiting: int


class ErrorView(BaseModel):
    detail: Any
    request_id: str | None = None
    field: str | None = None


_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"model": ErrorView} for code in (400, 401, 403, 404, 409, 413, 415, 422, 429, 500)
}
_JOB_LINKS = {  # where a submitted job's id leads (OpenAPI links: clients and fuzzers follow)
    name: {"operationId": operation, "parameters": {"job_id": "$response.body#/id"}}
    for name, operation in (
        ("GetJob", "get_job_v1_jobs__job_id__get"),
        ("GetJobResult", "job_result_v1_jobs__job_id__result_get"),
        ("GetJobEvents", "job_events_v1_jobs__job_id__events_get"),
        ("CancelJob", "cancel_job_v1_jobs__job_id__delete"),
    )
}
_SUBMIT_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    202: {
        "model": JobView,
        "description": "the job, queued (or ended: a result reused)",
        "links": _JOB_LINKS,
    },
    503: {"model": ErrorView, "description": "the service is stopping"},
}
_SYNC_ERRORS: dict[int | str, dict[str, Any]] = {
    **_ERRORS,
    503: {
        "model": ErrorView,
        "description": "no worker was free within the cap, or the service is stopping",
    },
    504: {"model": ErrorView, "description": "the solve did not stop at the cap"},
}

_EXAMPLES = resources.files("optim.instances") / "data"
_BODY = {
    "requestBody": {
        "required": True,
        "description": "an instance document (JSON or YAML, with its `kind`), or a folder as "
        "a zip file: the CSV files of a rationing or capacity instance, or a planning folder "
        "(`plan.yaml`, `history.csv`, …) as `optim plan` reads it",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["kind"],
                    "properties": {"kind": {"type": "string", "enum": sorted(api.KINDS)}},
                    "additionalProperties": True,
                },
                "examples": {  # the bundled examples: a client (or a fuzzer) sees valid ones
                    name: {"value": orjson.loads((_EXAMPLES / f"{name}.json").read_bytes())}
                    for name in optim.examples()
                },
            },
            "application/yaml": {"schema": {"type": "string"}},
            "application/zip": {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


def create_app(config: ServiceConfig) -> FastAPI:
    """The FastAPI application of one server (its job manager starts with the app)."""
    store = JobStore(config.store)
    manager = JobManager(
        store,
        workers=config.workers,
        max_queue=config.max_queue,
        max_bytes=4 * config.max_body,
        cache_bytes=config.cache_bytes,
        keep_seconds=config.keep_days * 86400,
    )

    checker = payload.Checker()
    kept = f" (jobs are kept {config.keep_days:g} days after they end)"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        manager.start()
        try:
            yield
        finally:
            await run_in_threadpool(manager.stop)
            checker.close()
            store.close()

    app = FastAPI(
        title="optim",
        version=_version(),
        description="Segment-aware inventory and allocation optimisation as a service: "
        "rationing, safety-stock placement, peak capacity, and the planning chain.",
        lifespan=lifespan,
        default_response_class=OrjsonResponse,
    )
    app.state.manager = manager
    app.state.config = config
    bearer = HTTPBearer(auto_error=False)
    header_key = APIKeyHeader(name="X-API-Key", auto_error=False)

    async def authorised(
        credentials: HTTPAuthorizationCredentials | None = Depends(bearer),  # noqa: B008
        key: str | None = Depends(header_key),
    ) -> None:
        if config.no_auth:
            return
        given = key or (credentials.credentials if credentials else None)
        if not given:
            raise ApiError(
                401,
                "missing API key: send 'Authorization: Bearer KEY' or 'X-API-Key: KEY'",
                {"WWW-Authenticate": "Bearer"},
            )
        if not any(hmac.compare_digest(given.encode(), k.encode()) for k in config.api_keys):
            raise ApiError(403, "the API key is not accepted")

    async def known_query(request: Request) -> None:
        """An unknown query parameter is refused (``?time_limt=5`` solved with no limit)."""
        route = request.scope.get("route")
        if route is None or not request.query_params:
            return
        allowed: set[str] = set()
        todo = [route.dependant]
        while todo:  # the route's parameters and its dependencies' (the solve query's)
            dependant = todo.pop()
            allowed |= {p.alias for p in dependant.query_params}
            todo.extend(dependant.dependencies)
        unknown = sorted(set(request.query_params) - allowed)
        if unknown:
            raise ApiError(
                422,
                f"unknown query parameter {unknown[0]!r}; allowed: "
                f"{', '.join(sorted(allowed)) or 'none'}",
            )
        # (?time_limit=5&time_limit=7 answered 200 with one of them silently)
        counts = Counter(k for k, _ in request.query_params.multi_items())
        twice = sorted(k for k, n in counts.items() if n > 1)
        if twice:
            raise ApiError(
                422, f"query parameter {twice[0]!r} is given twice; allowed: each parameter once"
            )

    auth = [Depends(authorised), Depends(known_query)]

    # -- errors ---------------------------------------------------------------------------
    def _error(request: Request, status: int, detail: Any, **extra: Any) -> JSONResponse:
        body = {"detail": detail, "request_id": _rid(request), **extra}
        return OrjsonResponse(body, status_code=status)

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> JSONResponse:
        response = _error(request, exc.status, str(exc))
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(payload.PayloadError)
    async def _payload_error(request: Request, exc: payload.PayloadError) -> JSONResponse:
        return _error(request, exc.status, str(exc))

    @app.exception_handler(InstanceError)
    async def _instance_error(request: Request, exc: InstanceError) -> JSONResponse:
        return _error(request, 422, str(exc), field=exc.field)

    @app.exception_handler(QueueFull)
    async def _queue_full(request: Request, exc: QueueFull) -> JSONResponse:
        response = _error(request, 429, str(exc))
        response.headers["Retry-After"] = "5"
        return response

    @app.exception_handler(NotCancellable)
    async def _not_cancellable(request: Request, exc: NotCancellable) -> JSONResponse:
        return _error(request, 409, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        response = _error(request, exc.status_code, exc.detail)
        response.headers.update(exc.headers or {})
        return response

    @app.exception_handler(RequestValidationError)
    async def _invalid_request(request: Request, exc: RequestValidationError) -> JSONResponse:
        # the value as written beside what is allowed (?time_limit=1e400 said "time_limit
        # inf s is above this server's cap", ?time_limit=-1 only "greater than 0")
        errors = exc.errors()
        problems = [
            f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
            + (f", got {e['input']!r}" if isinstance(e.get("input"), str) else "")
            for e in errors
        ]
        field = ".".join(str(p) for p in errors[0].get("loc", ())[1:]) if errors else None
        return _error(request, 422, "; ".join(problems) or "invalid request", field=field)

    @app.exception_handler(ClientDisconnect)
    async def _client_left(request: Request, exc: ClientDisconnect) -> Response:
        log.info(
            "request %s %s %s: the client disconnected before its body was read",
            _rid(request),
            request.method,
            request.url.path,
        )
        return Response(status_code=499)  # never sent: for the record (nginx's code)

    @app.exception_handler(Exception)
    async def _internal(request: Request, exc: Exception) -> JSONResponse:
        rid = _rid(request)
        log.error(
            "request %s %s %s: internal error", rid, request.method, request.url.path, exc_info=exc
        )
        return JSONResponse(
            {
                "detail": "internal error; quote the request id when reporting it",
                "request_id": rid,
            },
            status_code=500,
            headers={"X-Request-ID": rid},
        )

    app.add_middleware(RequestId)

    # -- health ---------------------------------------------------------------------------
    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """The server process answers."""
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["health"],
        response_model=ReadyView,
        responses={503: {"model": ReadyView, "description": "starting, or stopping"}},
    )
    async def readyz() -> JSONResponse:
        """Ready when at least one worker process is warm (503 otherwise, and while the
        service stops); says how many workers are solving, how many jobs are queued and how
        many synchronous solves wait."""
        stopping = manager.draining.is_set()
        ready = 0 if stopping else manager.ready_workers()
        body = ReadyView(
            status="stopping" if stopping else "ready" if ready else "starting",
            workers_ready=ready,
            workers=config.workers,
            workers_busy=manager.busy(),
            queued=manager.queued(),
            solves_waiting=manager.solves_waiting(),
        )
        return JSONResponse(body.model_dump(), status_code=200 if ready else 503)

    # -- jobs -----------------------------------------------------------------------------
    @app.post(
        "/v1/jobs",
        status_code=202,
        dependencies=auth,
        tags=["jobs"],
        openapi_extra=_BODY,
        responses=_SUBMIT_ERRORS,
    )
    async def submit(
        request: Request,
        query: SolveQuery = Depends(solve_query),  # noqa: B008
    ) -> JSONResponse:
        """Queue a solve; answers 202 with the job (poll it, or follow its events)."""
        _not_stopping()
        ctype = payload.media_type(request.headers.get("content-type"))
        body = await _read(request, config.max_body)
        params = query.params(config.max_time_limit)
        hit = manager.cached(body, ctype, params)
        if hit is not None:  # the same request solved before: valid, and its result is kept
            mode, kind = "instance", str(hit["kind"])
        else:
            mode, kind = await checker.run(payload.check, body, ctype, 4 * config.max_body)
            query.check(kind)
        if len(body) > payload.IN_PROCESS:  # writing megabytes to the store: off the loop
            job = await run_in_threadpool(manager.submit, kind, mode, body, ctype, params, hit)
        else:
            job = manager.submit(kind, mode, body, ctype, params, cached=hit)
        view = JobView(**job.public())
        return OrjsonResponse(
            view.model_dump(), status_code=202, headers={"Location": f"/v1/jobs/{job.id}"}
        )

    @app.get("/v1/jobs", dependencies=auth, tags=["jobs"], responses=_ERRORS)
    async def list_jobs(
        status: Status | None = None, limit: int = Query(100, ge=1, le=1000)
    ) -> list[JobView]:
        """Jobs, newest first (optionally of one status)."""
        live = [manager.get(j.id) for j in store.list(status=status, limit=limit)]
        return [JobView(**j.public()) for j in live if j is not None]

    @app.get("/v1/jobs/{job_id}", dependencies=auth, tags=["jobs"], responses=_ERRORS)
    async def get_job(
        job_id: str,
        wait: float = Query(
            0, ge=0, le=60, description="seconds to wait for the job to end (long poll)"
        ),
    ) -> JobView:
        """A job's status, time stamps and progress; with ``wait``, answers as soon as the job
        ends (or after ``wait`` seconds, whichever is first) instead of being polled."""
        job = _job(job_id)
        if wait > 0 and job.status not in TERMINAL:
            changed = asyncio.Event()
            loop = asyncio.get_running_loop()
            unwatch = manager.watch(job_id, lambda: loop.call_soon_threadsafe(changed.set))
            try:
                deadline = loop.time() + wait
                while (job := _job(job_id)).status not in TERMINAL:
                    left = deadline - loop.time()
                    if left <= 0:
                        break
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(changed.wait(), left)
                    changed.clear()
            finally:
                unwatch()
        return JobView(**job.public())

    @app.get(
        "/v1/jobs/{job_id}/result",
        dependencies=auth,
        tags=["jobs"],
        responses={
            **_ERRORS,
            200: {
                "content": {"application/json": {}, "application/zip": {}},
                "description": "the result document (a planning job: its output folder as a zip)",
            },
        },
    )
    async def job_result(job_id: str) -> Response:
        """The result document — the bytes `optim solve --out` writes for the same input."""
        job = _job(job_id)
        if job.status not in TERMINAL:
            raise ApiError(409, f"job {job_id} is {job.status}; the result is not ready yet")
        found = await run_in_threadpool(store.result, job_id)
        if found is None:
            raise ApiError(409, f"job {job_id} {job.status} without a result: {job.message}")
        data, media = found
        return Response(
            data,
            media_type=media,
            headers={
                "X-Optim-Status": job.result_status or "",
                "X-Optim-Exit-Code": str(job.exit_code),
            },
        )

    @app.get(
        "/v1/jobs/{job_id}/events",
        dependencies=auth,
        tags=["jobs"],
        responses={**_ERRORS, 200: {"content": {"text/event-stream": {}}}},
    )
    async def job_events(job_id: str, request: Request) -> StreamingResponse:
        """Server-sent events: one per change of status or progress; ends with the job."""
        _job(job_id)

        async def stream() -> AsyncIterator[str]:
            changed = asyncio.Event()
            loop = asyncio.get_running_loop()
            unwatch = manager.watch(job_id, lambda: loop.call_soon_threadsafe(changed.set))
            last: tuple[Any, ...] | None = None
            try:
                while True:
                    changed.clear()
                    job = manager.get(job_id)
                    if job is None:  # pragma: no cover - jobs are never deleted
                        return
                    state = (job.status, job.progress, job.progress_detail)
                    if state != last:
                        last = state
                        data = orjson.dumps(JobView(**job.public()).model_dump()).decode()
                        yield f"event: {job.status}\ndata: {data}\n\n"
                    if job.status in TERMINAL or await request.is_disconnected():
                        return
                    try:  # woken by the job's next change; a comment keeps proxies open
                        await asyncio.wait_for(changed.wait(), 15)
                    except TimeoutError:
                        yield ": keep-alive\n\n"
            finally:
                unwatch()

        return StreamingResponse(
            stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"}
        )

    @app.delete("/v1/jobs/{job_id}", dependencies=auth, tags=["jobs"], responses=_ERRORS)
    async def cancel_job(job_id: str) -> JobView:
        """Cancel a queued or running job (a running solver is stopped); 409 if it ended."""
        job = await run_in_threadpool(manager.cancel, job_id)
        if job is None:
            raise ApiError(404, f"no job with id {job_id!r}{kept}")
        return JobView(**job.public())

    # -- synchronous ----------------------------------------------------------------------
    @app.post(
        "/v1/solve",
        dependencies=auth,
        tags=["solve"],
        openapi_extra=_BODY,
        responses={**_SYNC_ERRORS, 200: {"content": {"application/json": {}}}},
    )
    async def solve_now(
        request: Request,
        query: SolveQuery = Depends(solve_query),  # noqa: B008
    ) -> Response:
        """Solve a small instance now (time limit capped); answers the result document."""
        _not_stopping()
        ctype = payload.media_type(request.headers.get("content-type"))
        body = await _read(request, config.max_body)
        params = query.params(config.sync_time_limit)
        asked = asyncio.get_running_loop().time()
        future = manager.solve(body, ctype, params, request_id=_rid(request))
        waited = asyncio.wrap_future(future)
        gone = asyncio.ensure_future(_disconnected(request))
        watched: set[asyncio.Future[Any]] = {waited, gone}
        try:  # a worker must take the solve within the cap (jobs may hold every worker)
            cap = config.sync_time_limit
            done, _ = await asyncio.wait(watched, timeout=cap, return_when=FIRST)
            if not done:
                if manager.withdraw(future):
                    raise ApiError(
                        503,
                        f"no worker was free within this server's {cap:g} s "
                        f"(all {config.workers} busy); retry later, or submit it as a job "
                        "(POST /v1/jobs)",
                        {"Retry-After": "5"},
                    )
                # a worker has it: the slot's wall clock bounds the solve
                done, _ = await asyncio.wait(watched, return_when=FIRST)
            if waited not in done:  # the client closed its connection: nobody wants the answer
                what = manager.abandon(future)
                took = asyncio.get_running_loop().time() - asked
                log.info(
                    "request %s: the client disconnected after %.1f s; its solve %s",
                    _rid(request),
                    took,
                    what,
                )
                return Response(status_code=499)  # never sent: for the record (nginx's code)
            if waited.cancelled():  # withdrawn by the service's stop
                _not_stopping()
            outcome = waited.result()
        finally:
            gone.cancel()
        if outcome.get("ok"):
            return Response(
                outcome["result"],
                media_type=outcome["result_type"],
                headers={
                    "X-Optim-Status": outcome["result_status"],
                    "X-Optim-Exit-Code": str(outcome["exit_code"]),
                    "X-Optim-Cache": "hit" if outcome.get("cached") else "miss",
                    "Server-Timing": _server_timing(outcome.get("timing", {})),
                },
            )
        if outcome.get("invalid"):
            status = int(outcome.get("status", 422))
            return _error(request, status, outcome["message"], field=outcome.get("field"))
        if outcome.get("timed_out"):
            return _error(request, 504, outcome["message"])
        log.error(
            "request %s: %s\n%s", _rid(request), outcome["message"], outcome.get("traceback", "")
        )
        return _error(request, 500, outcome["message"])

    @app.post(
        "/v1/validate", dependencies=auth, tags=["solve"], openapi_extra=_BODY, responses=_ERRORS
    )
    async def validate(request: Request) -> dict[str, Any]:
        """Check an instance like `optim validate`: 200 with its size, or 422 with the error."""
        ctype = payload.media_type(request.headers.get("content-type"))
        body = await _read(request, config.max_body)
        return await checker.run(payload.validate, body, ctype, 4 * config.max_body)

    @app.get("/v1/schema/{kind}", dependencies=auth, tags=["solve"], responses=_ERRORS)
    async def schema(kind: str) -> dict[str, Any]:
        """JSON Schema of an instance document (``rationing``, ``safety_stock``,
        ``capacity``), of a planning folder's ``plan.yaml`` (``plan``), of a result document
        (``result-KIND``) or of an output folder's ``manifest.json`` (``manifest``): what
        `optim schema KIND` prints."""
        if kind not in result_schema.SCHEMAS:
            raise ApiError(
                404, f"schema {kind!r} is not known; allowed: {', '.join(result_schema.SCHEMAS)}"
            )
        return result_schema.schema(kind)

    def _not_stopping() -> None:
        if manager.draining.is_set():
            raise ApiError(503, "the service is stopping; retry in a moment", {"Retry-After": "5"})

    def _job(job_id: str) -> Any:
        job = manager.get(job_id)
        if job is None:
            raise ApiError(404, f"no job with id {job_id!r}{kept}")
        return job

    return app


class RequestId:
    """ASGI middleware: a request id in ``request.state`` (and the log's context), the
    ``X-Request-ID`` header of every answer, and the request's access record. Plain ASGI,
    not ``@app.middleware("http")``: Starlette's ``BaseHTTPMiddleware`` runs each request
    through an extra task and memory streams, a fixed cost per request on the synchronous
    solve path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = uuid.uuid4().hex[:16]
        scope.setdefault("state", {})["request_id"] = rid
        header = (b"x-request-id", rid.encode())
        status = [500]  # if the app raises, the server answers 500
        began = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                kept = [h for h in message.get("headers", ()) if h[0].lower() != header[0]]
                message = {**message, "headers": [*kept, header]}
            await send(message)

        token = logs.REQUEST_ID.set(rid)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            logs.REQUEST_ID.reset(token)
            ms = 1e3 * (time.perf_counter() - began)
            logs.access(scope["method"], scope["path"], status[0], ms, rid)


def _version() -> str:
    try:
        from importlib.metadata import version

        return version("optim")
    except Exception:  # pragma: no cover - not installed
        return "0"


def _server_timing(timing: dict[str, float]) -> str:
    """``Server-Timing`` of a solve: time in the queue, in the worker, and the slot round trip."""
    return ", ".join(f"{name};dur={1e3 * value:.1f}" for name, value in timing.items())


def _rid(request: Request) -> str:
    return getattr(request.state, "request_id", "") or uuid.uuid4().hex[:16]


async def _disconnected(request: Request) -> None:
    """Returns when the client closes its connection (the ASGI ``http.disconnect`` message;
    the body has been read, so nothing else arrives on this request's channel)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def _read(request: Request, limit: int) -> bytes:
    """The body, refusing more than ``limit`` bytes (413) before reading it all."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise payload.PayloadError(413, f"the body has {declared} bytes; at most {limit} allowed")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise payload.PayloadError(413, f"the body exceeds {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass(frozen=True)
class SolveQuery:
    """The solve parameters of a request's query string (``POST /v1/jobs`` and ``/v1/solve``)."""

    time_limit: float | None
    solver: str
    method: str
    mip_gap: float

    def params(self, cap: float) -> dict[str, Any]:
        """Solve parameters; the cap is enforced by the worker slot (wall clock), so a request
        without a time limit solves exactly as `optim solve` without one (same bytes)."""
        if self.time_limit is not None and self.time_limit > cap:
            raise ApiError(
                422, f"time_limit {self.time_limit:g} s is above this server's cap of {cap:g} s"
            )
        return {
            "time_limit": self.time_limit,
            "solver": self.solver,
            "method": self.method,
            "mip_gap": self.mip_gap,
            "_wall_cap": cap,
        }

    def check(self, kind: str) -> None:
        """Refuse a method or solver ``kind`` does not have when the job is submitted (422),
        not when a worker takes it; a planning folder has no solve parameters to check."""
        if kind in choices.METHODS:
            fields = {"solver": self.solver, "method": self.method, "mip_gap": self.mip_gap}
            choices.check(kind, SolveParams.model_validate(fields), load=False)


def solve_query(
    time_limit: float | None = Query(
        None, gt=0, allow_inf_nan=False, description="seconds (capped)"
    ),
    solver: Literal["auto", "highs", "pyomo", "cpsat", "glop", "pdlp"] = "auto",
    method: str = Query("auto", max_length=32),
    mip_gap: float = Query(1e-6, ge=0, le=1, allow_inf_nan=False),
) -> SolveQuery:
    """The query parameters both solve endpoints take (one FastAPI dependency)."""
    return SolveQuery(time_limit, solver, method, mip_gap)


__all__ = ["ServiceConfig", "create_app"]
