"""The solver worker process: reads a task from its pipe, solves, sends the result back.

Messages to the server: ``("ready", pid)`` once warmed up, ``("started", pid)`` per task,
``("progress", done, total, what)`` from the fan-outs (:func:`optim.executor.on_progress`,
at most five a second) and ``("done", outcome)``. A task is a dict: ``mode`` (``"instance"``
or ``"planning"``), ``body`` (bytes), ``content_type``, ``params`` (SolveParams fields) and
``max_bytes`` (unzip limit).

Cancelling: the server sets the worker's ``cancel`` event; solvers with the ``cancel``
capability poll it (:func:`optim.solvers.base.interruptible`) and stop with their best
solution, which comes back as a normal outcome. The server's time-limit cap (``wall_cap``)
stops a solve the same way, without a time limit in its parameters, so a solve that ends
sooner writes the bytes of `optim solve` without ``--time-limit``. The process is killed only
if it does not answer within the server's grace period (work that polls nothing).
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import tempfile
import threading
import time
import traceback
import zipfile
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

RESULT_JSON = "application/json"
RESULT_ZIP = "application/zip"
PLANNING_FOLDER = "input"
"""Name of a zipped planning folder whose files sit at the zip's root."""


def run_task(task: dict[str, Any]) -> dict[str, Any]:
    """Solve one task; never raises (errors come back as an outcome)."""
    from optim.errors import InstanceError
    from optim.params import SolveParams
    from optim.service import payload

    try:
        params = SolveParams.model_validate(task["params"])
        if task["content_type"] not in payload.ZIP_TYPES:  # a document: no files to unpack
            instance = payload.document(task["body"], task["content_type"])
            try:
                return _solved(instance, params)
            except InstanceError as exc:  # a solve's refusal of a field (it named no line)
                if not exc.field or exc.field.startswith("params."):
                    raise
                raise payload.located(exc, task["body"], task["content_type"]) from None
        with tempfile.TemporaryDirectory(prefix="optim-job-") as tmp:
            scratch = Path(tmp) / PLANNING_FOLDER  # a zip's files at its root land here
            scratch.mkdir()
            mode, what = payload.instance(
                task["body"], task["content_type"], scratch, task["max_bytes"]
            )
            if mode == "planning":
                return _plan(what, Path(tmp) / "out", params)
            return _solved(what, params)
    except InstanceError as exc:
        return {"ok": False, "invalid": True, "message": str(exc), "field": exc.field}
    except payload.PayloadError as exc:
        return {"ok": False, "invalid": True, "status": exc.status, "message": str(exc)}
    except Exception as exc:  # reported as an internal error of this job
        return {
            "ok": False,
            "message": f"internal error: {type(exc).__name__}: {exc}",
            "traceback": traceback.format_exc(),
        }


def _solved(instance: Any, params: Any) -> dict[str, Any]:
    """Solve one instance: the outcome with the bytes `optim solve --out` writes."""
    from optim import api, cli

    result = api.solve(instance, params)
    text = result.to_json()
    return {
        "ok": True,
        "kind": result.kind,
        "result": text.encode("utf-8"),
        "result_type": RESULT_JSON,
        "result_status": result.status.value,
        "termination": result.termination and result.termination.value,
        "gap": result.gap,
        "has_solution": result.has_solution(),
        "exit_code": cli.exit_code(result),
        "message": result.message,
    }


def _plan(folder: Path, out: Path, params: Any) -> dict[str, Any]:
    """A planning folder: the `optim plan` run, its output folder returned as one zip.

    The run names the folder as the zip does (its top folder, else ``input``) from the
    folder's parent, so the report and manifest — which quote the input folder — are the
    bytes ``optim plan NAME --out OUT`` writes when run beside that folder.
    """
    from optim import cli

    name = f"./{folder.name}" if folder.name.startswith("-") else folder.name  # not an option
    argv = ["plan", name, "--out", str(out.resolve()), "--quiet"]
    if params.time_limit is not None:
        argv += ["--time-limit", str(params.time_limit)]
    err = io.StringIO()
    with (
        contextlib.chdir(folder.parent),
        contextlib.redirect_stderr(err),
        contextlib.redirect_stdout(io.StringIO()),
    ):
        code = cli.main(argv)
    message = err.getvalue().strip()
    if code == cli.EXIT_INPUT:
        # the job's message gets its own "invalid input: " (it said it twice)
        text = message.removeprefix("optim: ").removeprefix("invalid input: ")
        return {"ok": False, "invalid": True, "message": text}
    if not out.is_dir():
        return {"ok": False, "message": message or f"the planning run ended with exit {code}"}
    return {
        "ok": True,
        "kind": "planning",
        "result": zip_folder(out),
        "result_type": RESULT_ZIP,
        "result_status": "succeeded" if code == cli.EXIT_OK else "failed",
        "exit_code": code,
        "message": message,
    }


def zip_folder(folder: Path) -> bytes:
    """The folder's files as a zip: sorted names, fixed time stamps (same run, same bytes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(p for p in folder.rglob("*") if p.is_file()):
            info = zipfile.ZipInfo(path.relative_to(folder).as_posix(), (1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())
    return buffer.getvalue()


def _exit_with_parent(every: float = 0.5) -> None:
    """End this process when the server process is gone (killed without a word, SIGKILL or
    out of memory): a worker in the middle of a solve would otherwise go on solving for
    nobody until the solve ends. A thread checks the parent's pid (re-parenting changes it)."""
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(every)
        os._exit(3)

    threading.Thread(target=watch, name="optim-orphan-watch", daemon=True).start()


def worker_main(conn: Connection, cancel: Any = None) -> None:
    """Entry point of a worker process (spawned by :class:`optim.service.pool.Slot`).

    ``cancel``: a :mod:`multiprocessing` event the server sets to interrupt the running solve.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server decides when workers stop
    _exit_with_parent()
    import optim
    from optim import executor
    from optim.solvers.base import interruptible

    # warm-up: imports and the first solve of each kind cost ~1 s; pay it before work arrives
    for name in optim.examples():
        with contextlib.suppress(Exception):
            optim.solve(optim.load_example(name))
    conn.send(("ready", os.getpid()))
    last = [0.0]

    def progress(done: int, total: int, what: str) -> None:
        t = time.monotonic()
        if done == total or t - last[0] >= 0.2:
            last[0] = t
            conn.send(("progress", done, total, what))

    while True:
        try:
            task = conn.recv()
        except (EOFError, OSError):
            return
        if task is None:
            return
        conn.send(("started", os.getpid()))
        t0 = time.perf_counter()
        cap = task.get("wall_cap")
        stop_at = None if cap is None else time.monotonic() + cap
        cancelled = cancel.is_set if cancel is not None else (lambda: False)
        stop = interruptible(cancelled, deadline=stop_at)
        with executor.on_progress(progress), stop:
            outcome = run_task(task)
        outcome["seconds"] = time.perf_counter() - t0
        cancelled = cancel is not None and cancel.is_set()
        if not cancelled and outcome.get("termination") == "interrupted":
            outcome["capped"] = cap  # stopped by the cap, not by a cancel
        conn.send(("done", outcome))
