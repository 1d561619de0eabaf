"""Jobs and the solver worker processes, on the server side.

Each :class:`Slot` is a thread that owns one spawned worker process (warm: modules imported,
every example solved once) and feeds it tasks from one priority queue (synchronous solves
before queued jobs, then first come first served). A slot waits on both the worker's pipe and
its process sentinel, so a worker that dies — killed, out of memory, a crash in a native
library — fails its job with the reason and is replaced; nothing waits forever.

Cancelling a running job sets the worker's cancel event: solvers with the ``cancel``
capability stop and the job ends ``cancelled`` with the best solution found (its result
document says how far from optimal). A worker that does not answer within
:data:`CANCEL_GRACE` seconds is killed instead.

Results of deterministic solves (optimal, infeasible, unbounded: the same request gives the
same bytes) are kept in a bounded in-memory cache keyed by the request's bytes and
parameters, so a repeated request is answered without solving again (``--cache-mib 0``
turns it off).
"""

from __future__ import annotations

import concurrent.futures
import hashlib
import itertools
import json
import logging
import multiprocessing as mp
import queue
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from typing import Any

from optim.service.store import TERMINAL, Job, JobStore, now
from optim.service.worker import worker_main

log = logging.getLogger("optim.service")

CANCEL_GRACE = 10.0
"""Seconds a cancelled worker gets to return its best solution before it is killed."""

STOPPED = "interrupted: the service stopped "
"""How a job the service's stop interrupted begins its message."""

DETERMINISTIC = frozenset({"optimal", "infeasible", "unbounded"})
"""Terminations whose result depends on the request only (cacheable)."""


class QueueFull(Exception):
    """The queue holds its maximum number of jobs (HTTP 429)."""


class NotCancellable(Exception):
    """The job already ended (HTTP 409)."""


@dataclass(order=True)
class Task:
    priority: int
    seq: int
    job: Job | None = field(compare=False, default=None)
    message: dict[str, Any] | None = field(compare=False, default=None)
    future: concurrent.futures.Future[dict[str, Any]] | None = field(compare=False, default=None)
    key: str = field(compare=False, default="")
    enqueued: float = field(compare=False, default_factory=time.monotonic)
    sent: float = field(compare=False, default=0.0)
    request_id: str = field(compare=False, default="")  # of a synchronous solve, for the log
    abandoned: float | None = field(compare=False, default=None)  # when its client left


_STOP = -1


class Slot(threading.Thread):
    """One worker process and the thread that talks to it."""

    def __init__(self, manager: JobManager, index: int) -> None:
        super().__init__(name=f"optim-slot-{index}", daemon=True)
        self.manager = manager
        self.index = index
        self.process: Any = None
        self.conn: Any = None
        self.ready = False
        self.current: Task | None = None
        self.cancel_event = mp.get_context("spawn").Event()
        self.kill_at: float | None = None

    # -- worker process -------------------------------------------------------------------
    def _start_process(self) -> None:
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        process = ctx.Process(
            target=worker_main,
            args=(child, self.cancel_event),
            name=f"optim-worker-{self.index}",
        )
        process.daemon = True
        process.start()
        child.close()
        self.process, self.conn = process, parent

    def _spawn(self) -> None:
        self._start_process()
        while True:  # until the worker says it is warm (or dies trying)
            ready = wait([self.conn, self.process.sentinel], timeout=1.0)
            if self.manager.stopping.is_set():
                return
            if self.conn in ready and self.conn.poll():
                msg = self.conn.recv()
                if msg[0] == "ready":
                    self.ready = True
                    log.info("worker %d ready (pid %d)", self.index, msg[1])
                    return
            elif self.process.sentinel in ready:
                log.error(
                    "worker %d exited during start-up (code %s)", self.index, self.process.exitcode
                )
                self.process.join()
                self._start_process()

    def kill(self) -> None:
        """Stop the worker process now (shutdown, or a cancel the solver did not answer)."""
        if self.process is not None and self.process.is_alive():
            self.process.kill()

    def interrupt(self) -> None:
        """Ask the running solve to stop with its best solution; kill it after the grace."""
        self.cancel_event.set()
        self.kill_at = time.monotonic() + CANCEL_GRACE

    # -- task loop ------------------------------------------------------------------------
    def run(self) -> None:
        self._spawn()
        while not self.manager.stopping.is_set():
            task = self.manager.queue.get()
            if task.priority == _STOP:
                break
            if task.job is not None and task.job.status != "queued":
                continue  # cancelled while queued
            if task.future is not None and not self.manager._take(task):
                continue  # a synchronous solve withdrawn (no worker free in time, client gone)
            if self.process is None or not self.process.is_alive():
                self.ready = False
                self._spawn()
            self.cancel_event.clear()
            self.kill_at = None
            if not self.manager._assign(self, task):
                continue  # its client left while this slot was starting a new worker
            try:
                self._run(task)
            finally:
                self.current = None
        self.kill()

    def _run(self, task: Task) -> None:
        assert task.message is not None
        task.sent = time.monotonic()
        try:
            self.conn.send(task.message)
        except (OSError, EOFError):
            self._died(task)
            return
        cap = task.message.get("wall_cap")
        deadline = None if cap is None else time.monotonic() + cap + 5.0
        while True:
            ends = [t for t in (deadline, self.kill_at) if t is not None]
            # a cancel may set kill_at while we wait: look again at least twice a second
            left = 0.5 if not ends else max(0.0, min(min(ends) - time.monotonic(), 0.5))
            ready = wait([self.conn, self.process.sentinel], timeout=left)
            if not ready:
                now_ = time.monotonic()
                if deadline is not None and now_ >= deadline:
                    # over the server's cap: stop the worker, the sentinel follows
                    task.message["timed_out"] = True
                    self.kill()
                    deadline = None
                elif self.kill_at is not None and now_ >= self.kill_at:
                    log.warning("worker %d did not answer a cancel in time: killed", self.index)
                    self.kill()
                    self.kill_at = None
                continue
            if self.conn in ready:
                try:
                    msg = self.conn.recv()
                except (EOFError, OSError):
                    self._died(task)
                    return
                if msg[0] == "started":
                    self.manager._started(task, msg[1])
                elif msg[0] == "progress":
                    self.manager._progress(task, msg[1], msg[2], msg[3])
                elif msg[0] == "done":
                    self.manager._done(task, msg[1])
                    return
            elif self.process.sentinel in ready:
                self._died(task)
                return

    def _died(self, task: Task) -> None:
        self.process.join(timeout=5)
        code = self.process.exitcode
        self.ready = False
        self.manager._died(task, code)
        if not self.manager.stopping.is_set():
            self._spawn()


class ResultCache:
    """Outcomes of deterministic solves by request key, least recently used dropped first."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.size = 0
        self.items: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self.lock = threading.Lock()
        self.hits = self.misses = 0

    @staticmethod
    def key(body: bytes, content_type: str, params: dict[str, Any]) -> str:
        shown = {k: v for k, v in params.items() if not k.startswith("_")}
        digest = hashlib.sha256()
        digest.update(content_type.encode() + b"\0")
        digest.update(json.dumps(shown, sort_keys=True).encode() + b"\0")
        digest.update(body)
        return digest.hexdigest()

    def get(self, key: str) -> dict[str, Any] | None:
        with self.lock:
            found = self.items.get(key)
            if found is None:
                self.misses += 1
                return None
            self.items.move_to_end(key)
            self.hits += 1
            return found

    def put(self, key: str, outcome: dict[str, Any]) -> None:
        size = len(outcome.get("result", b""))
        if not key or size > self.max_bytes // 4:
            return
        kept = {k: v for k, v in outcome.items() if k not in ("seconds", "timing")}
        with self.lock:
            if key in self.items:
                return
            self.items[key] = kept
            self.size += size
            while self.size > self.max_bytes and self.items:
                _, old = self.items.popitem(last=False)
                self.size -= len(old.get("result", b""))


def cacheable(outcome: dict[str, Any]) -> bool:
    """A successful single-instance result whose bytes depend on the request only."""
    return (
        bool(outcome.get("ok"))
        and outcome.get("result_type") == "application/json"
        and outcome.get("termination") in DETERMINISTIC
    )


class JobManager:
    """The queue, the live jobs and the slots; the store keeps what must survive a restart."""

    def __init__(
        self,
        store: JobStore,
        *,
        workers: int,
        max_queue: int,
        max_bytes: int,
        cache_bytes: int = 0,
        keep_seconds: float = 7 * 86400.0,
    ) -> None:
        self.store = store
        self.keep_seconds = keep_seconds
        self.cache = ResultCache(cache_bytes) if cache_bytes > 0 else None
        self.watchers: dict[str, set[Callable[[], object]]] = {}
        self.workers = workers
        self.max_queue = max_queue
        self.max_bytes = max_bytes
        self.queue: queue.PriorityQueue[Task] = queue.PriorityQueue()
        self.live: dict[str, Job] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.draining = threading.Event()  # no new work: the service is stopping
        self.seq = itertools.count(store.next_seq())
        self.sync_waiting = 0  # synchronous solves waiting in the queue (not withdrawn)
        self.sync_tasks: dict[concurrent.futures.Future[dict[str, Any]], Task] = {}
        self.slots = [Slot(self, i) for i in range(workers)]

    def start(self) -> None:
        recovered = self.store.recover()
        if recovered:
            log.warning("%d job(s) interrupted by the last stop marked failed", recovered)
        for slot in self.slots:
            slot.start()
        threading.Thread(target=self._expire, name="optim-expire", daemon=True).start()

    def _expire(self) -> None:
        """Delete jobs that ended longer than ``keep_seconds`` ago: at start, then every
        quarter of that (at most hourly, at least every second) until the service stops."""
        every = min(3600.0, max(1.0, self.keep_seconds / 4))
        while True:
            gone = self.store.purge(now(ago=self.keep_seconds))
            if gone:
                log.info("%d job(s) that ended over %gs ago deleted", gone, self.keep_seconds)
            if self.stopping.wait(every):
                return

    def drain(self) -> None:
        """The service is stopping (SIGTERM): no new work; queued jobs fail with the reason,
        queued synchronous solves are withdrawn (their requests answer 503), and running solves
        are interrupted as a cancel does, so a job keeps its best solution and a synchronous
        request gets its answer, within :data:`CANCEL_GRACE` seconds."""
        if self.draining.is_set():
            return
        self.draining.set()
        with self.lock:
            for job in list(self.live.values()):
                if job.status == "queued":
                    self._finish(job, "failed", STOPPED + "before it started; submit it again")
                else:
                    job.stop_requested = True
            waiting = [f for f in self.sync_tasks if f.cancel()]
            for future in waiting:
                self.sync_waiting -= 1
                del self.sync_tasks[future]
            for slot in self.slots:
                if slot.current is not None:
                    slot.interrupt()
        if self.live or any(slot.current for slot in self.slots):
            log.info("stopping: running solves interrupted; waiting for their best solutions")

    def stop(self) -> None:
        """Drain, give interrupted solves their grace to answer, then end the workers."""
        self.drain()
        until = time.monotonic() + CANCEL_GRACE + 2.0  # a slot kills its worker at the grace
        while any(slot.current for slot in self.slots) and time.monotonic() < until:
            time.sleep(0.05)
        self.stopping.set()
        for _ in self.slots:
            self.queue.put(Task(_STOP, 0))
        for slot in self.slots:
            slot.kill()
        for slot in self.slots:
            slot.join(timeout=10)
        with self.lock:
            for job in list(self.live.values()):
                self._finish(job, "failed", STOPPED + "before it finished; submit it again")

    def ready_workers(self) -> int:
        return sum(slot.ready for slot in self.slots)

    def queued(self) -> int:
        with self.lock:
            return sum(job.status == "queued" for job in self.live.values())

    # -- API side -------------------------------------------------------------------------
    def cached(
        self, body: bytes, content_type: str, params: dict[str, Any]
    ) -> dict[str, Any] | None:
        """The outcome of an earlier identical deterministic solve, if kept."""
        if self.cache is None:
            return None
        return self.cache.get(ResultCache.key(body, content_type, params))

    def watch(self, job_id: str, callback: Callable[[], object]) -> Callable[[], object]:
        """Call ``callback`` (from any thread) whenever the job changes; returns the unwatch."""
        with self.lock:
            self.watchers.setdefault(job_id, set()).add(callback)

        def unwatch() -> None:
            with self.lock:
                found = self.watchers.get(job_id)
                if found is not None:
                    found.discard(callback)
                    if not found:
                        del self.watchers[job_id]

        return unwatch

    def _notify(self, job_id: str) -> None:
        """Wake the watchers of a job (caller holds the lock; callbacks must not block)."""
        for callback in self.watchers.get(job_id, ()):
            callback()

    def submit(
        self,
        kind: str,
        mode: str,
        body: bytes,
        content_type: str,
        params: dict[str, Any],
        cached: dict[str, Any] | None = None,
    ) -> Job:
        """Queue a job; with ``cached`` (an identical earlier solve) it ends at once."""
        with self.lock:
            if sum(job.status == "queued" for job in self.live.values()) >= self.max_queue:
                raise QueueFull(f"the queue holds {self.max_queue} jobs; retry later")
            seq = next(self.seq)
            job = Job(
                id=uuid.uuid4().hex,
                seq=seq,
                kind=kind,
                status="queued",
                created_at=now(),
                params=params,
                content_type=content_type,
                mode=mode,
            )
            self.store.add(job, body)
            self.live[job.id] = job
            if cached is not None:
                job.started_at = job.created_at
                self._succeeded(job, cached, "identical to an earlier request: result reused")
                return Job(**{**job.__dict__})
        key = ResultCache.key(body, content_type, params) if self.cache is not None else ""
        message = self._message(mode, body, content_type, params)
        self.queue.put(Task(1, seq, job=job, message=message, key=key))
        return job

    def solve(
        self, body: bytes, content_type: str, params: dict[str, Any], request_id: str = ""
    ) -> concurrent.futures.Future[dict[str, Any]]:
        """A synchronous solve: ahead of queued jobs; the future gets the worker's outcome."""
        future: concurrent.futures.Future[dict[str, Any]] = concurrent.futures.Future()
        key = ""
        if self.cache is not None:
            key = ResultCache.key(body, content_type, params)
            hit = self.cache.get(key)
            if hit is not None:
                future.set_result({**hit, "cached": True, "timing": {}})
                return future
        with self.lock:
            waiting = self.sync_waiting + sum(j.status == "queued" for j in self.live.values())
            if waiting >= self.max_queue:
                raise QueueFull(f"{waiting} solves are waiting; retry later")
            self.sync_waiting += 1
            message = self._message("any", body, content_type, params)
            task = Task(0, next(self.seq), message=message, future=future, key=key)
            task.request_id = request_id
            self.sync_tasks[future] = task
        self.queue.put(task)
        return future

    def withdraw(self, future: concurrent.futures.Future[dict[str, Any]]) -> bool:
        """Take back a synchronous solve no worker has taken; False once one has. Its place
        in the queue is freed at once (it no longer counts towards ``--max-queue``)."""
        with self.lock:  # a slot marks the future running when it takes the task
            if not future.cancel():
                return False
            self.sync_waiting -= 1
            self.sync_tasks.pop(future, None)
            return True

    def abandon(self, future: concurrent.futures.Future[dict[str, Any]]) -> str:
        """The client of a synchronous solve is gone: withdraw it from the queue, or interrupt
        its worker as ``DELETE /v1/jobs/{id}`` does (the solver stops, the worker is killed
        if it does not answer within :data:`CANCEL_GRACE`). Says which, for the log."""
        if self.withdraw(future):
            return "withdrawn from the queue"
        with self.lock:
            task = self.sync_tasks.get(future)
            if task is None or future.done():
                return "already solved"
            task.abandoned = time.monotonic()
            for slot in self.slots:
                if slot.current is task:
                    slot.interrupt()
                    return f"interrupted in worker {slot.index}"
        return "dropped before its worker started"  # the slot sees the mark (_assign)

    def _take(self, task: Task) -> bool:
        """A slot takes a synchronous solve off the queue: False if it was withdrawn."""
        assert task.future is not None
        with self.lock:
            taken = task.future.set_running_or_notify_cancel()
            if taken:  # a withdrawn one was counted off by withdraw
                self.sync_waiting -= 1
            return taken

    def _assign(self, slot: Slot, task: Task) -> bool:
        """The slot starts the task: False for a synchronous solve whose client left."""
        with self.lock:
            if task.abandoned is not None:
                self.sync_tasks.pop(task.future, None)  # type: ignore[arg-type]
                assert task.future is not None
                task.future.set_result({"ok": False, "message": "abandoned"})
                return False
            slot.current = task
            return True

    def busy(self) -> int:
        """Workers solving something now."""
        return sum(slot.current is not None for slot in self.slots)

    def solves_waiting(self) -> int:
        """Synchronous solves waiting for a worker (withdrawn ones not counted)."""
        with self.lock:
            return self.sync_waiting

    def _message(
        self, mode: str, body: bytes, content_type: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        params = dict(params)
        cap = params.pop("_wall_cap", None)
        return {
            "mode": mode,
            "body": body,
            "content_type": content_type,
            "params": params,
            "max_bytes": self.max_bytes,
            "wall_cap": cap,
        }

    def get(self, job_id: str) -> Job | None:
        with self.lock:
            job = self.live.get(job_id)
            if job is not None:
                return Job(**{**job.__dict__})
        return self.store.get(job_id)

    def cancel(self, job_id: str) -> Job | None:
        with self.lock:
            job = self.live.get(job_id)
            if job is None:
                stored = self.store.get(job_id)
                if stored is None:
                    return None
                raise NotCancellable(f"job {job_id} already ended ({stored.status})")
            if job.status == "queued":
                self._finish(job, "cancelled", "cancelled before it started")
                return Job(**{**job.__dict__})
            job.cancel_requested = True
            job.progress_detail = "cancelling: waiting for the solver's best solution"
            self._notify(job.id)
        for slot in self.slots:
            current = slot.current
            if current is not None and current.job is job:
                slot.interrupt()  # the solver stops; the slot records the outcome
        return self.get(job_id)

    # -- slot side (called from slot threads) ---------------------------------------------
    def _started(self, task: Task, pid: int) -> None:
        if task.job is None:
            return
        with self.lock:
            job = task.job
            if job.status in TERMINAL:  # cancelled between the queue and the worker
                job.cancel_requested = True
                for slot in self.slots:
                    if slot.current is task:
                        slot.interrupt()
                return
            job.status, job.started_at, job.worker_pid = "running", now(), pid
            self.store.update(job)
            self._notify(job.id)

    def _progress(self, task: Task, done: int, total: int, what: str) -> None:
        if task.job is None:
            return
        with self.lock:
            task.job.progress = round(done / total, 4) if total else 0.0
            task.job.progress_detail = f"{what}: {done}/{total}" if what else f"{done}/{total}"
            self._notify(task.job.id)

    def _done(self, task: Task, outcome: dict[str, Any]) -> None:
        outcome["timing"] = {
            "queue": task.sent - task.enqueued,
            "worker": outcome.get("seconds", 0.0),
            "slot": time.monotonic() - task.sent,
        }
        cancelled = task.job is not None and task.job.cancel_requested
        if self.cache is not None and not cancelled and not task.abandoned and cacheable(outcome):
            self.cache.put(task.key, outcome)
        if task.future is not None:
            self._sync_ended(task, outcome, "its solve stopped")
            return
        job = task.job
        assert job is not None
        with self.lock:
            if job.status in TERMINAL:
                return
            stopped = job.stop_requested and outcome.get("termination") not in DETERMINISTIC
            if outcome.get("ok") and stopped:  # the service stopped it: a failure, what it kept
                note = _cancel_note(outcome).removeprefix("cancelled while running: ")
                if outcome.get("kind") == "planning":
                    note = f"its output as the run ended (exit {outcome['exit_code']}) is kept"
                message = f"{STOPPED}while it ran: {note}; submit it again for the full solve"
                self._succeeded(job, outcome, message, status="failed")
            elif outcome.get("ok") and cancelled:
                self._succeeded(job, outcome, _cancel_note(outcome), status="cancelled")
            elif outcome.get("ok") and outcome.get("capped") is not None:
                note = _cancel_note(outcome).removeprefix("cancelled while running: ")
                cap = f"stopped at this server's time-limit cap of {outcome['capped']:g} s"
                self._succeeded(job, outcome, f"{cap}: {note}")
            elif outcome.get("ok"):
                self._succeeded(job, outcome, outcome.get("message", ""))
            elif cancelled:
                self._finish(job, "cancelled", f"cancelled while running: {outcome['message']}")
            else:
                if "traceback" in outcome:
                    log.error("job %s: %s\n%s", job.id, outcome["message"], outcome["traceback"])
                job.exit_code = 2 if outcome.get("invalid") else 1
                prefix = "invalid input: " if outcome.get("invalid") else ""
                self._finish(job, "failed", prefix + outcome["message"])

    def _succeeded(
        self, job: Job, outcome: dict[str, Any], message: str, status: str = "succeeded"
    ) -> None:
        """Record a job's result document (caller holds the lock)."""
        job.kind = outcome.get("kind", job.kind)
        job.result_status = outcome["result_status"]
        job.exit_code = outcome["exit_code"]
        job.result_type = outcome["result_type"]
        job.progress = 1.0
        self._finish(job, status, message, outcome["result"])

    def _died(self, task: Task, code: int | None) -> None:
        how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        if task.message and task.message.get("timed_out"):
            how = f"stopped at this server's time-limit cap of {task.message['wall_cap']:g} s"
        if task.future is not None:
            sent = task.message or {}
            timed_out = bool(sent.get("timed_out"))
            message = f"the worker process ended ({how}) during the solve"
            if timed_out:
                message = (
                    f"the solve did not stop at this server's time-limit cap of "
                    f"{sent['wall_cap']:g} s and was killed (no solution); submit it as a job "
                    "(POST /v1/jobs), whose cap is longer"
                )
            outcome = {"ok": False, "timed_out": timed_out, "message": message}
            self._sync_ended(task, outcome, f"its worker process ended ({how})")
            return
        job = task.job
        assert job is not None
        with self.lock:
            if job.status in TERMINAL:
                return
            if job.stop_requested:
                message = f"the worker did not stop within {CANCEL_GRACE:g} s and was killed"
                self._finish(job, "failed", f"{STOPPED}while it ran: {message}")
            elif job.cancel_requested:
                self._finish(
                    job,
                    "cancelled",
                    "cancelled while running: the worker did not stop within "
                    f"{CANCEL_GRACE:g} s and was killed (no solution kept)",
                )
            else:
                log.error("job %s: worker process ended (%s) while solving", job.id, how)
                self._finish(
                    job,
                    "failed",
                    f"the worker process solving this job ended ({how}); submit it again",
                )

    def _sync_ended(self, task: Task, outcome: dict[str, Any], how: str) -> None:
        """A synchronous solve's outcome to the request waiting for it (if it still waits)."""
        assert task.future is not None
        with self.lock:
            self.sync_tasks.pop(task.future, None)
        if task.abandoned is not None:
            log.info(
                "request %s: worker free again %.1f s after its client disconnected (%s)",
                task.request_id,
                time.monotonic() - task.abandoned,
                how,
                extra={"request_id": task.request_id},
            )
        task.future.set_result(outcome)

    def _finish(self, job: Job, status: str, message: str, result: bytes | None = None) -> None:
        """Record a terminal state (caller holds the lock)."""
        assert status in TERMINAL
        job.status, job.message, job.finished_at = status, message, now()
        job.worker_pid = None
        self.store.update(job, result)
        self.live.pop(job.id, None)
        self._notify(job.id)


def _cancel_note(outcome: dict[str, Any]) -> str:
    """What a cancelled job kept (its result document has the details)."""
    if not outcome.get("has_solution", True):
        return "cancelled while running: the solver stopped before it found a solution"
    gap = outcome.get("gap")
    if outcome.get("termination") == "optimal":
        return "cancelled while running, but the solve had already finished: optimal result kept"
    shown = f" (gap {gap:.3%})" if isinstance(gap, float) else ""
    return f"cancelled while running: the solver stopped; its best solution is kept{shown}"
