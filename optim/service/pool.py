"""Jobs and the solver worker processes, on the server side.

Each :class:`Slot` is a thread that owns one spawned worker process and feeds it tasks from
one priority queue (synchronous solves before queued jobs, then first come first served). A
slot waits on both the worker's pipe and its process sentinel, so a worker that dies — killed,
out of memory, a crash in a native library — fails its job with the reason and is replaced;
nothing waits forever. Cancelling a running job stops its worker process the same way.
"""

from __future__ import annotations

import concurrent.futures
import itertools
import logging
import multiprocessing as mp
import queue
import threading
import uuid
from dataclasses import dataclass, field
from multiprocessing.connection import wait
from typing import Any

from optim.service.store import TERMINAL, Job, JobStore, now
from optim.service.worker import worker_main

log = logging.getLogger("optim.service")


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

    # -- worker process -------------------------------------------------------------------
    def _spawn(self) -> None:
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        process = ctx.Process(target=worker_main, args=(child,), name=f"optim-worker-{self.index}")
        process.daemon = True
        process.start()
        child.close()
        self.process, self.conn = process, parent
        while True:  # until the worker says it is warm (or dies trying)
            ready = wait([parent, process.sentinel], timeout=1.0)
            if self.manager.stopping.is_set():
                return
            if parent in ready and parent.poll():
                msg = parent.recv()
                if msg[0] == "ready":
                    self.ready = True
                    log.info("worker %d ready (pid %d)", self.index, msg[1])
                    return
            elif process.sentinel in ready:
                log.error(
                    "worker %d exited during start-up (code %s)", self.index, process.exitcode
                )
                process.join()
                process, parent = self._restart()

    def _restart(self) -> tuple[Any, Any]:
        ctx = mp.get_context("spawn")
        parent, child = ctx.Pipe()
        process = ctx.Process(target=worker_main, args=(child,), name=f"optim-worker-{self.index}")
        process.daemon = True
        process.start()
        child.close()
        self.process, self.conn = process, parent
        return process, parent

    def kill(self) -> None:
        """Stop the worker process now (cancel, shutdown)."""
        if self.process is not None and self.process.is_alive():
            self.process.kill()

    # -- task loop ------------------------------------------------------------------------
    def run(self) -> None:
        self._spawn()
        while not self.manager.stopping.is_set():
            task = self.manager.queue.get()
            if task.priority == _STOP:
                break
            if task.job is not None and task.job.status != "queued":
                continue  # cancelled while queued
            if self.process is None or not self.process.is_alive():
                self.ready = False
                self._spawn()
            self.current = task
            try:
                self._run(task)
            finally:
                self.current = None
        self.kill()

    def _run(self, task: Task) -> None:
        assert task.message is not None
        try:
            self.conn.send(task.message)
        except (OSError, EOFError):
            self._died(task)
            return
        while True:
            ready = wait([self.conn, self.process.sentinel])
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


class JobManager:
    """The queue, the live jobs and the slots; the store keeps what must survive a restart."""

    def __init__(self, store: JobStore, *, workers: int, max_queue: int, max_bytes: int) -> None:
        self.store = store
        self.workers = workers
        self.max_queue = max_queue
        self.max_bytes = max_bytes
        self.queue: queue.PriorityQueue[Task] = queue.PriorityQueue()
        self.live: dict[str, Job] = {}
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.seq = itertools.count(store.next_seq())
        self.slots = [Slot(self, i) for i in range(workers)]

    def start(self) -> None:
        recovered = self.store.recover()
        if recovered:
            log.warning("%d job(s) interrupted by the last stop marked failed", recovered)
        for slot in self.slots:
            slot.start()

    def stop(self) -> None:
        self.stopping.set()
        for _ in self.slots:
            self.queue.put(Task(_STOP, 0))
        for slot in self.slots:
            slot.kill()
        for slot in self.slots:
            slot.join(timeout=10)
        with self.lock:
            for job in list(self.live.values()):
                self._finish(job, "failed", "interrupted: the service stopped before it finished")

    def ready_workers(self) -> int:
        return sum(slot.ready for slot in self.slots)

    def queued(self) -> int:
        with self.lock:
            return sum(job.status == "queued" for job in self.live.values())

    # -- API side -------------------------------------------------------------------------
    def submit(
        self, kind: str, mode: str, body: bytes, content_type: str, params: dict[str, Any]
    ) -> Job:
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
        self.queue.put(
            Task(1, seq, job=job, message=self._message(mode, body, content_type, params))
        )
        return job

    def solve(
        self, body: bytes, content_type: str, params: dict[str, Any]
    ) -> concurrent.futures.Future[dict[str, Any]]:
        """A synchronous solve: ahead of queued jobs; the future gets the worker's outcome."""
        if self.queue.qsize() >= self.max_queue:
            raise QueueFull(f"{self.max_queue} solves are waiting; retry later")
        future: concurrent.futures.Future[dict[str, Any]] = concurrent.futures.Future()
        message = self._message("any", body, content_type, params)
        self.queue.put(Task(0, next(self.seq), message=message, future=future))
        return future

    def _message(
        self, mode: str, body: bytes, content_type: str, params: dict[str, Any]
    ) -> dict[str, Any]:
        return {
            "mode": mode,
            "body": body,
            "content_type": content_type,
            "params": params,
            "max_bytes": self.max_bytes,
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
        for slot in self.slots:
            current = slot.current
            if current is not None and current.job is job:
                slot.kill()  # the slot sees the process end and records the cancellation
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
                        slot.kill()
                return
            job.status, job.started_at, job.worker_pid = "running", now(), pid
            self.store.update(job)

    def _progress(self, task: Task, done: int, total: int, what: str) -> None:
        if task.job is None:
            return
        with self.lock:
            task.job.progress = round(done / total, 4) if total else 0.0
            task.job.progress_detail = f"{what}: {done}/{total}" if what else f"{done}/{total}"

    def _done(self, task: Task, outcome: dict[str, Any]) -> None:
        if task.future is not None:
            task.future.set_result(outcome)
            return
        job = task.job
        assert job is not None
        with self.lock:
            if job.status in TERMINAL:
                return
            if outcome.get("ok"):
                job.kind = outcome.get("kind", job.kind)
                job.result_status = outcome["result_status"]
                job.exit_code = outcome["exit_code"]
                job.result_type = outcome["result_type"]
                job.progress = 1.0
                self._finish(job, "succeeded", outcome.get("message", ""), outcome["result"])
            else:
                if "traceback" in outcome:
                    log.error("job %s: %s\n%s", job.id, outcome["message"], outcome["traceback"])
                job.exit_code = 2 if outcome.get("invalid") else 1
                prefix = "invalid input: " if outcome.get("invalid") else ""
                self._finish(job, "failed", prefix + outcome["message"])

    def _died(self, task: Task, code: int | None) -> None:
        how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        if task.future is not None:
            task.future.set_result(
                {"ok": False, "message": f"the worker process ended ({how}) during the solve"}
            )
            return
        job = task.job
        assert job is not None
        with self.lock:
            if job.status in TERMINAL:
                return
            if job.cancel_requested:
                self._finish(
                    job,
                    "cancelled",
                    "cancelled while running: the solver was stopped (no solution kept)",
                )
            else:
                log.error("job %s: worker process ended (%s) while solving", job.id, how)
                self._finish(
                    job,
                    "failed",
                    f"the worker process solving this job ended ({how}); submit it again",
                )

    def _finish(self, job: Job, status: str, message: str, result: bytes | None = None) -> None:
        """Record a terminal state (caller holds the lock)."""
        assert status in TERMINAL
        job.status, job.message, job.finished_at = status, message, now()
        job.worker_pid = None
        self.store.update(job, result)
        self.live.pop(job.id, None)
