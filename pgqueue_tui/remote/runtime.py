"""RemoteWorker: the in-process Worker's handlers and guarantees, over HTTP with a URL and token."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from pgqueue_core import handlers as calls
from pgqueue_core.errors import PgQueueError
from pgqueue_core.models import Task
from pgqueue_core.service import install_stop_signals
from pgqueue_core.validate import JSON_ENCODER
from pgqueue_core.worker import WorkerStats

from ..client import Client
from .parts import (
    MAX_RETAIN,
    MAX_WAIT,
    Backoff,
    Claim,
    Handler,
    Heartbeat,
    Releaser,
    Retainer,
    Seats,
    default_name,
    retryable,
)

log = logging.getLogger(__name__)


class RemoteWorker:
    """Runs handlers for the tasks of some queues of a pgqueue server until `stop()`.

    `handlers` maps queue names to callables taking the Task, as for `pgqueue_core.Worker`:
    the return value (JSON) is the success result, an exception the failure result; sync
    handlers run in a thread pool. Delivery is at least once.

    * at most `concurrency` handlers run at once; tasks are retained in batches sized to the
      free capacity (`concurrency + prefetch` minus those held, at most `batch_size`), each
      retain a long-poll of up to `wait` seconds when nothing is ready; `retainers` retains
      may be under way at once (more than one hides the round trip when tasks are short);
    * results are sent in batches (every `flush_interval` seconds, or `flush_size` results),
      each guarded by the worker's `name` (unique per process: the default is host-pid-random);
    * leases of held tasks are extended every `heartbeat_interval` seconds (default: a third
      of the shortest lease of its queues); a task whose lease was lost has its handler
      cancelled and its result dropped, one whose cancel was requested is cancelled;
    * `stop()` (or SIGTERM/SIGINT when `handle_signals`) retains nothing new, runs the tasks
      held, waits up to `grace_period` seconds for them (then cancels them: a failed
      attempt), sends every result and returns; a second `stop()` cancels the handlers now;
    * a server that is down or restarting is waited for (retries back off from `retry_min`
      to `retry_max` seconds; unsent results are kept); an error that retrying cannot cure
      (a token without access, an unknown queue) stops the worker and `run()` raises it.
    """

    def __init__(
        self,
        url: str,
        handlers: Mapping[str, Handler],
        *,
        name: str | None = None,
        token: str | None = None,
        namespace: str | None = None,
        concurrency: int = 16,
        prefetch: int = 0,
        batch_size: int = 100,
        retainers: int = 1,
        wait: float = 30.0,
        grace_period: float = 30.0,
        handle_signals: bool = True,
        flush_interval: float = 0.005,
        flush_size: int = 500,
        heartbeat_interval: float | None = None,
        retry_min: float = 0.1,
        retry_max: float = 5.0,
        timeout: float = 30.0,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if not handlers:
            raise ValueError("a RemoteWorker needs at least one handler")
        if not 0 <= wait <= MAX_WAIT:
            raise ValueError(f"wait must be between 0 and {MAX_WAIT:g} seconds")
        self.client = Client(url, namespace=namespace, token=token, timeout=timeout)
        self.name = name or default_name()
        self.handlers = dict(handlers)
        self.queues = sorted(self.handlers)
        self.concurrency = concurrency
        self.prefetch = max(0, prefetch)
        self.grace_period = grace_period
        self.handle_signals = handle_signals
        self.heartbeat_interval = heartbeat_interval
        self.stats = WorkerStats()
        self.error: PgQueueError | None = None  # why the worker stopped by itself

        self._is_async = {q: calls.is_async(h) for q, h in self.handlers.items()}
        self._executor: ThreadPoolExecutor | None = None
        self._stopping = asyncio.Event()
        self._cancelled = False  # a second stop(): cancel handlers, drop what is buffered
        self._running: dict[Claim, asyncio.Task[None]] = {}
        self._abandoned: dict[Claim, str] = {}
        self._backoff = Backoff(retry_min, retry_max)
        self._buffer: collections.deque[Task] = collections.deque()  # retained, not started
        self._seats = Seats(concurrency + self.prefetch, self._buffer, lambda: len(self._running))
        self._retainers = [
            Retainer(
                self.client,
                self.name,
                self.queues,
                seats=self._seats,
                batch_size=max(1, min(batch_size, MAX_RETAIN)),
                wait=wait,
                backoff=self._backoff,
                on_claimed=self._dispatch,
                on_fatal=self._fatal,
                stats=self.stats,
                index=index,
            )
            for index in range(max(1, retainers))
        ]
        self._releaser = Releaser(
            self.client,
            self.name,
            self.stats,
            flush_interval=flush_interval,
            flush_size=max(1, min(flush_size, MAX_RETAIN)),
            final_flush_within=max(grace_period, 5.0),
            backoff=Backoff(retry_min, retry_max),
            on_fatal=self._fatal,
        )
        self._heartbeat = Heartbeat(
            self.client,
            self.name,
            self._held_claims,
            every=heartbeat_interval or 1.0,  # the default is read from the queues in run()
            on_lost=self._on_lost,
            on_cancel=self._on_cancel,
        )
        self.idle = self._retainers[0].idle  # set while a retain is under way

    # ---- public -------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the worker to stop gracefully (a second call cancels running handlers)."""
        if self._stopping.is_set():
            self._cancel_all()
        self._stopping.set()

    @property
    def in_flight(self) -> int:
        return len(self._running)

    @property
    def held(self) -> int:
        return self._seats.held

    @property
    def retaining(self) -> bool:
        """Whether it still retains (False once stopping)."""
        return any(retainer.running for retainer in self._retainers)

    @property
    def heartbeats(self) -> int:
        """Heartbeats sent that the server answered."""
        return self._heartbeat.beats

    async def run(self) -> None:
        """Work until `stop()`; returns after every result was sent (raises the error that
        stopped the worker by itself)."""
        restore_signals = install_stop_signals(self.stop, self.handle_signals)
        try:
            if await self._start():
                for retainer in self._retainers:
                    retainer.start()
                self._releaser.start()
                self._heartbeat.start()
                await self._stopping.wait()
                await self._shutdown()
        finally:
            restore_signals()
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)
            await self.client.close()
        if self.error is not None:
            raise self.error

    # ---- starting -----------------------------------------------------------------------

    async def _start(self) -> bool:
        """Check the queues (and the token's access) once the server answers; False when
        stopped meanwhile."""
        while not self._stopping.is_set():
            try:
                leases = [(await self.client.get_queue(q)).lease for q in self.queues]
            except PgQueueError as exc:
                if not retryable(exc):
                    self.error = exc
                    log.error("%s: cannot work: %s", self.name, exc)
                    return False
                delay = self._backoff.failed()
                log.warning("%s: server not ready (%s); retrying in %.1fs", self.name, exc, delay)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), delay)
                continue
            self._backoff.reset()
            if self.heartbeat_interval is None:
                shortest = min(leases, default=timedelta(minutes=5)).total_seconds()
                self._heartbeat.interval = max(0.2, shortest / 3)
            if any(not is_async for is_async in self._is_async.values()):
                self._executor = ThreadPoolExecutor(self.concurrency, thread_name_prefix=self.name)
            return True
        return False

    def _fatal(self, exc: PgQueueError) -> None:
        if self.error is None:
            self.error = exc
            log.error("%s: stopping: %s", self.name, exc)
        self._stopping.set()

    # ---- running handlers ---------------------------------------------------------------

    def _dispatch(self) -> None:
        while len(self._running) < self.concurrency and not self._cancelled:
            if not self._buffer:
                return
            task = self._buffer.popleft()
            job = asyncio.create_task(self._execute(task), name=f"{self.name}-task-{task.id}")
            self._running[(task.id, task.attempt)] = job

    async def _execute(self, task: Task) -> None:
        claim = (task.id, task.attempt)
        ran = await calls.run(
            self.handlers[task.queue],
            task,
            run_async=self._is_async[task.queue],
            executor=self._executor,
            worker=self.name,
            reason=lambda: self._abandoned.get(claim, "stopped"),
        )
        lost = self._abandoned.pop(claim, None) == "lost"
        self.stats.observe_handler(task.queue, "lost" if lost else ran.outcome, ran.seconds)
        if lost:
            self.stats.lost += 1  # handed on meanwhile: the result belongs to no claim
            self.stats.queue(task.queue).lost += 1
            return self._finished(claim)
        success, result = ran.success, ran.result
        if result is not None:
            try:
                JSON_ENCODER.encode(result)  # a bad result must not fail a whole batch
            except (TypeError, ValueError, RecursionError) as exc:
                success, result = False, calls.not_json(exc)
        self._releaser.add(task, success, result)
        self._finished(claim)

    def _finished(self, claim: Claim) -> None:
        self._running.pop(claim, None)
        self._dispatch()
        for retainer in self._retainers:
            retainer.room_freed()

    # ---- leases -------------------------------------------------------------------------

    def _held_claims(self) -> Iterator[Claim]:
        for task in self._buffer:
            yield task.id, task.attempt
        for task in self._releaser.holding():
            yield task.id, task.attempt
        yield from self._running

    def _on_lost(self, claims: set[Claim]) -> None:
        for claim in claims:
            log.warning("%s: lost the lease of task %d; abandoning it", self.name, claim[0])
            self._abandon(claim, "lost")
        buffer = self._buffer
        kept = [t for t in buffer if (t.id, t.attempt) not in claims]
        self.stats.lost += len(buffer) - len(kept)
        buffer.clear()
        buffer.extend(kept)

    def _on_cancel(self, claims: set[Claim]) -> None:
        for claim in claims:
            self._abandon(claim, "cancel")

    def _abandon(self, claim: Claim, reason: str) -> None:
        job = self._running.get(claim)
        if job is not None and not job.done():
            if self._abandoned.get(claim) != "lost":
                self._abandoned[claim] = reason
            job.cancel()

    def _cancel_all(self) -> None:
        self._cancelled = True
        self.stats.lost += len(self._buffer)  # not started: their leases lapse
        self._buffer.clear()
        for job in list(self._running.values()):
            job.cancel()

    # ---- stopping -----------------------------------------------------------------------

    async def _shutdown(self) -> None:
        await asyncio.gather(*(retainer.stop() for retainer in self._retainers))
        self._dispatch()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.grace_period
        # Run what is held (a buffer exists only with prefetch): the server has no way to
        # give an unstarted claim back, and a lapsed lease would cost the task a retry.
        while self._running and not self._cancelled:
            left = deadline - loop.time()
            if left <= 0:
                self._cancel_all()
                break
            await asyncio.wait(list(self._running.values()), timeout=left)
        if self._running:
            await asyncio.wait(list(self._running.values()), timeout=5)
        await self._releaser.stop()
        await self._heartbeat.stop()
