"""One seam for work that fans out: local processes by default, Dask distributed on a cluster.

Every place in optim that splits work into independent pieces (rationing blocks, scenario
batches, …) goes through :func:`fan_out`, which runs ``fn`` over the items and returns the
results **in submission order**, whatever ran them and in whatever order they finished. The
pieces are deterministic, so the result is the same bytes for any executor and worker count.

Which executor runs the pieces:

1. a Dask distributed cluster, when an address is given — the ``cluster`` argument, else
   :func:`use_cluster` (the CLI's ``--cluster tcp://HOST:PORT``), else the environment
   variable ``OPTIM_CLUSTER``;
2. else local worker processes (``spawn``: no state leaks from the parent; HiGHS keeps one
   thread pool per process) when ``workers > 1``;
3. else the calling process, one piece after the other (no start-up cost).

:func:`executor` gives the same choice as a :class:`concurrent.futures.Executor` for code
that wants ``submit``/``map`` itself. Fan-outs that take longer than a second show a progress
bar on stderr (only on a terminal); a service can observe progress with :func:`on_progress`.
Dask is imported only when a cluster is used, so ``import optim`` stays light.
"""

from __future__ import annotations

import atexit
import contextlib
import contextvars
import itertools
import multiprocessing as mp
import os
import sys
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any, TypeVar

__all__ = [
    "ENV_CLUSTER",
    "LocalExecutor",
    "cluster_address",
    "disconnect",
    "executor",
    "fan_out",
    "local_only",
    "on_progress",
    "pieces",
    "probe",
    "shared_pool",
    "use_cluster",
]

T = TypeVar("T")
R = TypeVar("R")

ENV_CLUSTER = "OPTIM_CLUSTER"
CLUSTER_PIECES = 8
"""Pieces a divisible fan-out is split into, at least, when a Dask cluster is in force."""
WORKERS_TIMEOUT = 60.0
"""Seconds a new client waits for the scheduler's first worker (workers may still be starting)."""
_configured: str | None = None
_progress: contextvars.ContextVar[Callable[[int, int, str], None] | None] = contextvars.ContextVar(
    "optim_progress", default=None
)
_local_only: contextvars.ContextVar[bool] = contextvars.ContextVar("optim_local", default=False)
_clients: dict[str, Any] = {}
_clients_lock = threading.Lock()


def use_cluster(address: str | None) -> None:
    """Send fan-outs of this process to the Dask scheduler at ``address`` (``None``: local)."""
    global _configured
    _configured = _check_address(address) if address else None


def cluster_address(cluster: str | None = None) -> str | None:
    """The scheduler address in force: ``cluster``, else :func:`use_cluster`, else the env.

    ``None`` inside :func:`local_only` (a piece already running on a cluster worker).
    """
    if _local_only.get():
        return None
    address = cluster or _configured or os.environ.get(ENV_CLUSTER) or None
    return _check_address(address) if address else None


def pieces(workers: int, items: int, cluster: str | None = None) -> int:
    """How many pieces to split ``items`` divisible units of work into: one per local worker,
    at least :data:`CLUSTER_PIECES` on a cluster (its size is not known here), never more
    than ``items`` and at least one. Callers whose pieces are deterministic get the same
    result for any count."""
    want = max(workers, CLUSTER_PIECES) if cluster_address(cluster) else workers
    return max(1, min(want, items))


def _check_address(address: str) -> str:
    shape = f"cluster address {address!r} must look like tcp://HOST:PORT (a Dask scheduler"
    if not address.startswith(("tcp://", "tls://", "inproc://", "ucx://")):
        raise ValueError(shape + ")")
    if address.startswith(("tcp://", "tls://")):  # (port 99999 and an empty host ran the
        host, port = _host_port(address)  # first steps, then timed out: exit 1)
        if not host or not (port.isascii() and port.isdecimal()) or not 1 <= int(port) <= 65535:
            raise ValueError(shape + ", a host and a port in 1..65535)")
    return address


def _host_port(address: str) -> tuple[str, str]:
    """Host and port text of a ``tcp://`` or ``tls://`` address."""
    host, _, port = address[6:].rpartition(":")
    return host, port


@contextlib.contextmanager
def local_only() -> Iterator[None]:
    """Fan-outs in this block stay in this process's reach (no cluster; nested pieces)."""
    token = _local_only.set(True)
    try:
        yield
    finally:
        _local_only.reset(token)


@contextlib.contextmanager
def on_progress(callback: Callable[[int, int, str], None]) -> Iterator[None]:
    """Call ``callback(done, total, description)`` as the fan-outs in this block progress."""
    token = _progress.set(callback)
    try:
        yield
    finally:
        _progress.reset(token)


class LocalExecutor(Executor):
    """``workers`` spawned processes; with one worker, runs each call at submit time.

    ``cancellable``: the processes share :attr:`cancel_event` with this one, and every call
    runs inside an :func:`optim.solvers.base.interruptible` block on it, so setting it stops
    the solves running there (HiGHS interrupts, the rationing stages end) as a cancel of
    this process would stop its own.
    """

    def __init__(self, workers: int = 1, *, cancellable: bool = False) -> None:
        self.workers = max(1, int(workers))
        ctx = mp.get_context("spawn")
        self.cancel_event: Any = ctx.Event() if cancellable and self.workers > 1 else None
        self._pool: ProcessPoolExecutor | None = None
        if self.cancel_event is not None:
            self._pool = ProcessPoolExecutor(
                self.workers,
                mp_context=ctx,
                initializer=_take_cancel_event,
                initargs=(self.cancel_event,),
            )
        elif self.workers > 1:
            self._pool = ProcessPoolExecutor(self.workers, mp_context=ctx)

    def submit(self, fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> Future[R]:
        if self._pool is not None:
            if self.cancel_event is not None:
                return self._pool.submit(_call_interruptible, fn, *args, **kwargs)
            return self._pool.submit(fn, *args, **kwargs)
        future: Future[R] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # handed to the caller through the future
            future.set_exception(exc)
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=cancel_futures)


_worker_cancel: Any = None
"""In a worker process of a cancellable :class:`LocalExecutor`: the parent's cancel event."""


def _take_cancel_event(event: Any) -> None:
    global _worker_cancel
    _worker_cancel = event


def _call_interruptible(fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> R:
    from optim.solvers.base import interruptible

    with interruptible(_worker_cancel.is_set):
        return fn(*args, **kwargs)


def _not_answering(address: str, reason: object, source: str = "--cluster ") -> Exception:
    from optim.errors import InstanceError

    return InstanceError(
        f"{source}{address}: no Dask scheduler answers there "
        f"({' '.join(str(reason).split())}); allowed: the address of a running "
        "scheduler (dask scheduler prints it), or no --cluster to run locally",
        field="cluster",
    )


def probe(address: str, timeout: float = 5.0, source: str = "--cluster ") -> None:
    """Raise an input error unless something listens at a tcp:// or tls:// ``address``.

    A TCP connect, no Dask handshake (the scheduler logs the closed connection at INFO): a
    refused port answers at once, where a Dask client retries for its whole connect timeout
    (30 s by default) before it gives up. Other schemes are left to the client. ``source``
    starts the message: where the address came from.
    """
    address = _check_address(address)
    if not address.startswith(("tcp://", "tls://")):
        return
    import socket

    host, port = _host_port(address)
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
            pass
    except OSError as exc:
        raise _not_answering(address, exc, source) from None


def _dask_client(address: str) -> Any:
    """One client per scheduler address and process (connecting takes ~0.1 s)."""
    with _clients_lock:
        client = _clients.get(address)
        if client is None or client.status not in ("running", "connecting"):
            from distributed import Client

            try:
                client = Client(address, set_as_default=False)
            except OSError as exc:  # (ended as "internal error: OSError: Timed out …")
                raise _not_answering(address, exc) from None
            try:  # a scheduler without workers queued the pieces: the run waited forever
                client.wait_for_workers(1, timeout=WORKERS_TIMEOUT)
            except TimeoutError:
                from optim.errors import InstanceError

                client.close()
                raise InstanceError(
                    f"--cluster {address}: the scheduler has no workers (waited "
                    f"{WORKERS_TIMEOUT:g} s for one); allowed: a scheduler with at least one "
                    f"worker (dask worker {address}), or no --cluster to run locally",
                    field="cluster",
                ) from None
            _clients[address] = client
        return client


def disconnect(address: str | None = None) -> None:
    """Close this process's client of ``address`` (every client when ``None``)."""
    with _clients_lock:
        for key in [k for k in _clients if address is None or k == address]:
            with contextlib.suppress(Exception):
                _clients.pop(key).close()


atexit.register(disconnect)


class _SharedPool:
    """The worker processes of a :func:`shared_pool` block, started when first needed."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.pool: LocalExecutor | None = None

    def get(self) -> LocalExecutor:
        if self.pool is None:
            self.pool = LocalExecutor(self.workers)
        return self.pool


_shared: contextvars.ContextVar[_SharedPool | None] = contextvars.ContextVar(
    "optim_shared_pool", default=None
)


@contextlib.contextmanager
def shared_pool(workers: int) -> Iterator[None]:
    """Local fan-outs in this block (of at most ``workers`` workers, not cancellable) run on
    one pool of ``workers`` processes, started by the first of them and shut down at the
    end, instead of each starting its own: a spawned process costs a second or more of CPU
    before its first piece (imports, compiled kernels loaded), and a step that fans out
    several times (the stage tables, then the simulation's replications) pays it once."""
    holder = _SharedPool(max(1, int(workers)))
    token = _shared.set(holder)
    try:
        yield
    finally:
        _shared.reset(token)
        if holder.pool is not None:
            holder.pool.shutdown(cancel_futures=True)


@contextlib.contextmanager
def executor(
    workers: int = 1, cluster: str | None = None, *, cancellable: bool = False
) -> Iterator[Executor]:
    """A :class:`concurrent.futures.Executor`: Dask when a cluster is in force, else local
    (``cancellable``: see :class:`LocalExecutor`; inside :func:`shared_pool`, its pool)."""
    address = cluster_address(cluster)
    if address:
        ex = _dask_client(address).get_executor(pure=False)
        try:
            yield ex
        finally:
            ex.shutdown(wait=False)
        return
    holder = _shared.get()
    if holder is not None and not cancellable and 1 < workers <= holder.workers:
        yield holder.get()
        return
    local = LocalExecutor(workers, cancellable=cancellable)
    try:
        yield local
    finally:
        local.shutdown(cancel_futures=True)


def fan_out(
    fn: Callable[[T], R],
    items: Iterable[T],
    *,
    workers: int = 1,
    cluster: str | None = None,
    desc: str = "",
    stop: Callable[[R], bool] | None = None,
    total: int | None = None,
    cancellable: bool = False,
) -> list[R]:
    """``[fn(item) for item in items]`` on the executor in force, in submission order.

    ``stop(result)`` true ends a one-process run early (the results so far are returned);
    parallel runs finish every item. An exception raised by ``fn`` is re-raised here (the
    first one in submission order). ``items`` is consumed lazily (pass ``total`` for the
    progress count when it has no length): a parallel run keeps at most two pieces per
    worker submitted and unfinished (:func:`_window`), so a generator of large pieces (the
    blocks of a big instance) never has them all in memory at once, here or serialised.

    ``cancellable``: a parallel run inside an :func:`optim.solvers.base.interruptible` block
    polls its cancel (every 0.1 s and as pieces finish). Once set, local worker processes see
    it too (their solves stop with what they have: :class:`LocalExecutor`), no further piece
    is submitted, pieces not started are dropped, and the results so far are returned in
    submission order up to the first piece without one — a short list, which the caller
    must read as cancelled. On a Dask cluster the pieces already running finish. A one-process
    run needs none of this: its pieces poll the cancel themselves.
    """
    address = cluster_address(cluster)
    if total is None:
        items = items if isinstance(items, Sequence) else list(items)
        total = len(items)
    bar = _Progress(total, desc)
    try:
        if not address and (workers <= 1 or total <= 1):
            out: list[R] = []
            for item in items:
                out.append(fn(item))
                bar.advance()
                if stop is not None and stop(out[-1]):
                    break
            return out
        workers = min(workers, total)
        scope = None
        if cancellable:
            from optim.solvers.base import cancel_requested

            scope = cancel_requested()
        with executor(workers, address, cancellable=scope is not None) as ex:
            return _windowed(ex, fn, items, _window(workers, address), bar, scope)
    finally:
        bar.close()


def _window(workers: int, address: str | None) -> int:
    """Pieces in flight at most: two per local worker, or per thread of the Dask cluster."""
    if address:
        with contextlib.suppress(Exception):  # a cluster that cannot say: its default
            workers = max(workers, sum(_dask_client(address).nthreads().values()))
        workers = max(workers, CLUSTER_PIECES)
    return 2 * max(workers, 1)


def _windowed(
    ex: Executor,
    fn: Callable[[T], R],
    items: Iterable[T],
    window: int,
    bar: _Progress,
    cancel: Callable[[], bool] | None = None,
) -> list[R]:
    """Submit ``items`` keeping at most ``window`` unfinished; results in submission order
    (up to the first piece without one, after ``cancel()`` turned true)."""
    from concurrent.futures import FIRST_COMPLETED, wait

    source = enumerate(items)
    pending: dict[Future[R], int] = {}
    finished: dict[int, Future[R]] = {}
    cancelled = False

    def top_up() -> None:
        for i, item in itertools.islice(source, window - len(pending)):
            pending[ex.submit(fn, item)] = i

    top_up()
    while pending:
        done, _ = wait(
            pending, timeout=None if cancel is None else 0.1, return_when=FIRST_COMPLETED
        )
        for future in done:
            finished[pending.pop(future)] = future
            bar.advance()
        if cancel is not None and not cancelled and cancel():
            cancelled = True
            event = getattr(ex, "cancel_event", None)
            if event is not None:
                event.set()  # the running pieces stop with what they have
            for future in [f for f in pending if f.cancel()]:  # not started: dropped
                del pending[future]
        if not cancelled:
            top_up()
    n = 0
    while n in finished:
        n += 1
    return [finished[i].result() for i in range(n)]


class _Progress:
    """tqdm on stderr (shown after one second, only on a terminal) + the progress callback."""

    def __init__(self, total: int, desc: str) -> None:
        self.total, self.desc, self.done = total, desc, 0
        self.callback = _progress.get()
        self.bar = None
        if total > 1 and sys.stderr is not None and sys.stderr.isatty():
            from tqdm import tqdm

            self.bar = tqdm(
                total=total, desc=desc or None, delay=1.0, file=sys.stderr, leave=False
            )
        if self.callback is not None:
            self.callback(0, total, desc)

    def advance(self) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.update(1)
        if self.callback is not None:
            self.callback(self.done, self.total, self.desc)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
