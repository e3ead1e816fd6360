"""The Worker runtime: batched claims, bounded concurrency, batched completions, leases."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import random
import signal
import threading
import time
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from .errors import PgQueueError
from .maintenance import Maintenance
from .manager import Manager
from .models import Task
from .notifier import Event as NotifierEvent
from .notifier import Notifier
from .validate import JSON_ENCODER

log = logging.getLogger(__name__)

Handler = Callable[[Task], Awaitable[Any] | Any]

FAST_POLL = 0.5  # seconds between polls while notifications are not flowing
RETRY_DB_AFTER = 1.0  # seconds to wait after a database error before trying again
# A worker that keeps losing the race for notified tasks to other workers waits up to this
# long (random, doubling per lost race from 1 ms) before answering the next notification.
HERD_MAX_DELAY = 0.05


class _Stop(Exception):
    """Why a handler was cancelled (carried in the failure result)."""


@dataclass
class WorkerStats:
    """Counters of one Worker since it started (read them from any task)."""

    claimed: int = 0
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    lost: int = 0
    given_back: int = 0
    flushes: int = 0
    races_lost: int = 0  # claims after a notification that found nothing (another worker won)
    extra: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class _Done:
    task: Task
    success: bool
    result: str  # JSON text


class Worker:
    """Runs handlers for the tasks of some queues until `stop()`.

    `handlers` maps queue names to callables taking the Task; the return value is the success
    result, an exception the failure result. Sync handlers run in a thread pool.

    * at most `concurrency` handlers run at once. Tasks are claimed ahead into a buffer so
      that handlers never wait for a claim round trip: by default the buffer adapts, holding
      about two claim round trips' worth of work (measured), between none (slow handlers:
      other workers get the tasks) and 8 × `concurrency` (fast ones); an integer `prefetch`
      fixes its size (0: claim only for a free handler);
    * wake-ups come from LISTEN/NOTIFY (the Manager's notifier: one connection per pool), a
      timer to the next delayed task, and a poll every `poll_interval` seconds as a fallback
      (every 0.5 s while the LISTEN connection is down, or always with `listen=False`, e.g.
      behind PgBouncer);
    * results are written in batches (every `flush_interval` seconds or `flush_size`
      results), each guarded by the claim's attempt so that a task is never completed twice;
    * leases of held tasks are extended every `heartbeat_interval` seconds (default: a third
      of the shortest lease of its queues); a task whose lease was lost is abandoned, and one
      whose cancel was requested has its handler cancelled (it ends `cancelled`);
    * `stop()` (or SIGTERM/SIGINT when `handle_signals`) claims nothing new, gives back the
      tasks not started, waits up to `grace_period` seconds for running handlers (then
      cancels them: a failed attempt), writes every result and returns.
    * with `maintenance` the process also takes its turn at lease rescue, expiry and cleanup.
    """

    def __init__(
        self,
        manager: Manager,
        name: str,
        handlers: Mapping[str, Handler],
        *,
        concurrency: int = 16,
        prefetch: int | None = None,
        poll_interval: float = 5.0,
        grace_period: float = 30.0,
        listen: bool = True,
        maintenance: bool = True,
        handle_signals: bool = True,
        flush_interval: float = 0.005,
        flush_size: int = 500,
        heartbeat_interval: float | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError("concurrency must be at least 1")
        if not handlers:
            raise ValueError("a Worker needs at least one handler")
        self.manager = manager
        self.name = name
        self.handlers = dict(handlers)
        self.queues = sorted(self.handlers)
        self.concurrency = concurrency
        self.prefetch = prefetch if prefetch is None else max(0, prefetch)
        self.max_prefetch: int = 8 * concurrency if prefetch is None else max(0, prefetch)
        self.poll_interval = poll_interval
        self.grace_period = grace_period
        self.listen = listen
        self.maintenance = maintenance
        self.handle_signals = handle_signals
        self.flush_interval = flush_interval
        self.flush_size = flush_size
        self.heartbeat_interval = heartbeat_interval
        self.stats = WorkerStats()

        self._is_async = {q: _is_async(h) for q, h in self.handlers.items()}
        self._executor: ThreadPoolExecutor | None = None
        self._stopping = asyncio.Event()
        self._wake = asyncio.Event()
        self._room = asyncio.Event()
        self._flush_now = asyncio.Event()
        self._buffer: list[Task] = []  # claimed, not started (claim order)
        self._running: dict[int, asyncio.Task[None]] = {}
        self._reasons: dict[int, str] = {}  # why a running handler was cancelled
        self._done: list[_Done] = []  # results not yet written
        self._flushing: list[_Done] = []
        self._notifier: Notifier | None = None
        self._backoff = 0.0  # seconds to wait after a claim that found nothing
        self._due: float | None = None  # when the next waiting task becomes ready (epoch s)
        self._due_known = False  # whether _due is up to date
        self._reschedule = asyncio.Event()  # _due moved: recompute the idle timeout
        self._notified = False  # the pending wake-up is a notification of ready tasks
        self._herd_delay = 0.0  # see HERD_MAX_DELAY
        # Moving averages (seconds) of a handler run and of a claim round trip.
        self._handler_time: float | None = None
        self._claim_time: float | None = None
        self._closing = False  # set once no handler runs any more: flush what is left, end
        self.idle = asyncio.Event()  # set while the worker waits for work (for tests, probes)

    # ---- public -------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the worker to stop gracefully (a second call cancels running handlers)."""
        if self._stopping.is_set():
            for job in list(self._running.values()):
                job.cancel()
        self._stopping.set()
        self._wake.set()
        self._room.set()

    @property
    def in_flight(self) -> int:
        """Handlers running right now."""
        return len(self._running)

    @property
    def held(self) -> int:
        """Tasks claimed and not yet finished by a handler."""
        return len(self._buffer) + len(self._running)

    async def run(self) -> None:
        """Work until `stop()`; returns after every result was written."""
        for queue in self.queues:
            await self.manager.get_queue(queue)  # NotFound early, not in the loop
        heartbeat = self.heartbeat_interval or await self._default_heartbeat()
        if any(not is_async for is_async in self._is_async.values()):
            self._executor = ThreadPoolExecutor(self.concurrency, thread_name_prefix=self.name)
        maintenance = (
            Maintenance(
                self.manager.pool, self.manager.schema, connections=self.manager.connections
            )
            if self.maintenance
            else None
        )
        restore_signals = self._install_signals()
        if self.listen:
            self._notifier = self.manager.notifier
            self._notifier.subscribe(self._on_notify)
        if maintenance is not None:
            maintenance.start()
        flusher = asyncio.create_task(self._flush_loop(), name=f"{self.name}-flush")
        beater = asyncio.create_task(self._heartbeat_loop(heartbeat), name=f"{self.name}-beat")
        try:
            await self._claim_loop()
        finally:
            await self._shutdown(flusher, beater)
            if self._notifier is not None:
                await self._notifier.unsubscribe(self._on_notify)
            if maintenance is not None:
                await maintenance.stop()
            restore_signals()
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)

    # ---- claiming -----------------------------------------------------------------------

    def _on_notify(self, event: NotifierEvent | None) -> None:
        if event is None:  # (re)connected: anything may have happened meanwhile
            self._due_known = False
            self._wake.set()
            return
        namespace, queue, ready_at = event
        if namespace != self.manager.namespace or queue not in self.handlers:
            return
        if ready_at is None or ready_at <= time.time():
            self._notified = True
            self._wake.set()
        elif self._due is None or ready_at < self._due:
            self._due = ready_at  # a delayed task: wake up then, no claim now
            self._reschedule.set()

    def prefetch_now(self) -> int:
        """How many tasks to hold claimed beyond the running ones, right now."""
        if self.prefetch is not None:
            return self.prefetch
        if self._handler_time is None or self._claim_time is None:
            return self.concurrency  # nothing measured yet
        # Handlers finish `concurrency / handler_time` tasks a second; hold what they get
        # through in two claim round trips, so that a claim always lands before they run dry.
        wanted = 2 * self._claim_time * self.concurrency / max(self._handler_time, 1e-6)
        return min(self.max_prefetch, round(wanted))

    async def _claim_loop(self) -> None:
        while not self._stopping.is_set():
            prefetch = self.prefetch_now()
            room = self.concurrency + prefetch - self.held
            # Claim in batches: top the buffer up once it is down to half its size (claim for
            # every free handler when nothing is held ahead).
            if room <= 0 or len(self._buffer) > prefetch // 2:
                self._room.clear()
                await self._room.wait()
                continue
            notified, self._notified = self._notified, False
            if notified and self._herd_delay:
                # Every listening worker hears every insert; one that lost the last races
                # lets the worker that won answer first (and answers every notification
                # that arrives meanwhile with this one claim), so N idle worker processes
                # do not run N claims per single insert.
                await self._sleep(random.uniform(0, self._herd_delay))
                if self._stopping.is_set():
                    break
                room = self.concurrency + self.prefetch_now() - self.held
                if room <= 0:
                    continue
            self._wake.clear()
            started = asyncio.get_running_loop().time()
            try:
                tasks = await self.manager.next_tasks(self.name, *self.queues, limit=room)
            except PgQueueError as exc:
                log.warning(
                    "%s: claim failed (%s); retrying in %.0fs", self.name, exc, RETRY_DB_AFTER
                )
                await self._sleep(RETRY_DB_AFTER)
                continue
            except Exception:
                # A worker must outlive surprises (the chaos study's lesson): log loudly, go on.
                log.exception("%s: claim failed unexpectedly; retrying", self.name)
                await self._sleep(RETRY_DB_AFTER)
                continue
            self._claim_time = _average(
                self._claim_time, asyncio.get_running_loop().time() - started
            )
            if tasks:
                self.stats.claimed += len(tasks)
                self._buffer.extend(tasks)
                self._dispatch()
                self._backoff = 0.0
                self._herd_delay = 0.0
            else:
                if notified:
                    self.stats.races_lost += 1
                    self._herd_delay = min(max(self._herd_delay * 2, 0.001), HERD_MAX_DELAY)
                # Tasks may be due yet not claimable (a concurrency-limited queue is full,
                # rows locked by another claimer): back off instead of spinning.
                self._backoff = min(max(self._backoff * 2, 0.005), 1.0)
            if len(tasks) == room:
                continue  # probably more waiting: claim again as soon as there is room
            await self._idle()

    async def _idle(self) -> None:
        """Wait for a notification, the next delayed task, a poll, or room after a full claim.

        The next due time comes from the database only when it is not known: at start,
        after a reconnect, after the timer fired (the tasks then due are claimed, the next
        one is unknown); notifications of delayed tasks move it earlier without a query."""
        if self._wake.is_set():
            return
        if not self._due_known:
            try:
                due = await self.manager.next_due(*self.queues)
                self._due = None if due is None else due.timestamp()
                self._due_known = True
            except Exception:  # the claim loop reports database trouble; just wait
                self._due = None
        listening = self._notifier is not None and self._notifier.connected
        poll = self.poll_interval if listening else min(self.poll_interval, FAST_POLL)
        self.idle.set()
        try:
            while not self._wake.is_set():
                timeout = poll
                if self._due is not None:
                    until_due = max(0.0, self._due - time.time()) + 0.001
                    timeout = min(timeout, max(until_due, self._backoff))
                self._reschedule.clear()
                waits = [asyncio.ensure_future(e.wait()) for e in (self._wake, self._reschedule)]
                done, pending = await asyncio.wait(
                    waits, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
                )
                for waiter in pending:
                    waiter.cancel()
                if not done:  # the timer fired: look again, and ask what is due next
                    self._due_known = False
                    return
        finally:
            self.idle.clear()

    async def _sleep(self, seconds: float) -> None:
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)

    def _dispatch(self) -> None:
        """Start buffered tasks while fewer than `concurrency` handlers run."""
        while (
            self._buffer and len(self._running) < self.concurrency and not self._stopping.is_set()
        ):
            task = self._buffer.pop(0)
            job = asyncio.create_task(self._execute(task), name=f"{self.name}-task-{task.id}")
            self._running[task.id] = job

    # ---- running ------------------------------------------------------------------------

    async def _execute(self, task: Task) -> None:
        success, result = True, None
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            result = await self._call(task)
            self._handler_time = _average(self._handler_time, loop.time() - started)
        except asyncio.CancelledError:
            reason = self._reasons.pop(task.id, "stopped")
            if reason == "lost":
                self.stats.lost += 1
                return self._finished(task, None)
            success = False
            result = {
                "error": "Cancelled" if reason == "cancel" else "WorkerStopped",
                "message": "the task was cancelled"
                if reason == "cancel"
                else f"worker {self.name} stopped before the handler finished",
            }
        except Exception as exc:
            success = False
            result = {"error": type(exc).__name__, "message": str(exc)}
            self._handler_time = _average(self._handler_time, loop.time() - started)
        try:
            encoded = "null" if result is None else JSON_ENCODER.encode(result)
        except (TypeError, ValueError, RecursionError) as exc:
            success = False
            encoded = json.dumps(
                {"error": "ResultNotJSON", "message": f"the handler's result: {exc}"}
            )
        self._finished(task, _Done(task, success, encoded))

    async def _call(self, task: Task) -> Any:
        handler = self.handlers[task.queue]
        if self._is_async[task.queue]:
            outcome = handler(task)
        else:
            loop = asyncio.get_running_loop()
            outcome = await loop.run_in_executor(self._executor, handler, task)
        if inspect.isawaitable(outcome):
            outcome = await outcome
        return outcome

    def _finished(self, task: Task, done: _Done | None) -> None:
        self._running.pop(task.id, None)
        if done is not None:
            self._done.append(done)
            if len(self._done) >= self.flush_size or len(self._done) == 1:
                self._flush_now.set()
        self._dispatch()
        self._room.set()

    # ---- writing results ----------------------------------------------------------------

    async def _flush_loop(self) -> None:
        """Write results in batches until the worker is closing and nothing is left."""
        while True:
            await self._flush_now.wait()
            self._flush_now.clear()
            if not self._closing and len(self._done) < self.flush_size:
                await asyncio.sleep(self.flush_interval)  # gather a batch
            while self._done:
                if not await self._flush():
                    await asyncio.sleep(RETRY_DB_AFTER)
            if self._closing:
                return

    async def _flush(self) -> bool:
        """Write the pending results; False (results kept) when the database failed."""
        batch, self._done = self._done[: self.flush_size * 4], self._done[self.flush_size * 4 :]
        self._flushing = batch
        try:
            statuses = await self.manager.release_encoded(
                self.name,
                [d.task.id for d in batch],
                [d.task.attempt for d in batch],
                [d.success for d in batch],
                [d.result for d in batch],
            )
        except PgQueueError as exc:
            log.warning(
                "%s: writing %d result(s) failed (%s); will retry", self.name, len(batch), exc
            )
            self._done[:0] = batch
            return False
        except Exception:
            log.exception("%s: writing %d result(s) failed unexpectedly", self.name, len(batch))
            self._done[:0] = batch
            return False
        except BaseException:
            self._done[:0] = batch  # cancelled: keep them (writing twice is harmless)
            raise
        finally:
            self._flushing = []
        self.stats.flushes += 1
        for done in batch:
            status = statuses.get(done.task.id)
            if status is None:
                self.stats.lost += 1
                log.warning(
                    "%s: task %d was no longer ours when its result was written (lease lapsed "
                    "or it expired); result dropped",
                    self.name,
                    done.task.id,
                )
            elif status == "released":
                self.stats.succeeded += 1
            elif status == "cancelled":
                self.stats.cancelled += 1
            else:
                self.stats.failed += 1
        return True

    # ---- leases -------------------------------------------------------------------------

    async def _default_heartbeat(self) -> float:
        leases = [(await self.manager.get_queue(q)).lease for q in self.queues]
        return max(0.2, min(leases, default=timedelta(minutes=5)).total_seconds() / 3)

    async def _heartbeat_loop(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            held = {t.id: t for t in self._buffer}
            held.update({d.task.id: d.task for d in self._done + self._flushing})
            running = dict(self._running)
            ids = list(held) + [i for i in running if i not in held]
            if not ids:
                continue
            try:
                leases = await self.manager.extend_leases(ids, worker=self.name)
            except PgQueueError as exc:
                log.warning("%s: heartbeat failed (%s)", self.name, exc)
                continue
            except Exception:
                log.exception("%s: heartbeat failed unexpectedly", self.name)
                continue
            for task_id, job in running.items():
                lease = leases.get(task_id)
                if job.done() or task_id not in self._running:
                    continue
                if lease is None:
                    log.warning("%s: lost the lease of task %d; abandoning it", self.name, task_id)
                    self._cancel(task_id, "lost")
                elif lease.cancel_requested:
                    self._cancel(task_id, "cancel")
            # Only tasks the heartbeat asked about: one claimed while it awaited the database
            # is in the buffer now but not in `leases`, and is not lost.
            lost_buffered = [t for t in self._buffer if t.id in held and t.id not in leases]
            for task in lost_buffered:
                self._buffer.remove(task)
                self.stats.lost += 1
            if lost_buffered:
                self._room.set()

    def _cancel(self, task_id: int, reason: str) -> None:
        job = self._running.get(task_id)
        if job is not None and not job.done():
            self._reasons[task_id] = reason
            job.cancel()

    # ---- stopping -----------------------------------------------------------------------

    async def _shutdown(self, flusher: asyncio.Task[None], beater: asyncio.Task[None]) -> None:
        self._stopping.set()
        unstarted, self._buffer = self._buffer, []
        if unstarted:
            try:
                given = await self.manager.unclaim_tasks(
                    self.name, [(t.id, t.attempt) for t in unstarted]
                )
                self.stats.given_back += len(given)
            except PgQueueError as exc:
                log.warning(
                    "%s: could not give back %d unstarted task(s) (%s); their leases will "
                    "lapse and they will run again",
                    self.name,
                    len(unstarted),
                    exc,
                )
        if self._running:
            _, pending = await asyncio.wait(list(self._running.values()), timeout=self.grace_period)
            for job in pending:
                job.cancel()
            if pending:
                await asyncio.wait(pending, timeout=5)
        # Write the last results (heartbeats go on meanwhile), then stop both loops.
        self._closing = True
        self._flush_now.set()
        try:
            await asyncio.wait_for(asyncio.shield(flusher), max(self.grace_period, 5.0))
        except TimeoutError:
            log.error(
                "%s: %d result(s) could not be written; those tasks will run again after their "
                "leases lapse",
                self.name,
                len(self._done),
            )
        for loop_task in (flusher, beater):
            loop_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await loop_task

    def _install_signals(self) -> Callable[[], None]:
        if not self.handle_signals or threading.current_thread() is not threading.main_thread():
            return lambda: None
        loop = asyncio.get_running_loop()
        installed = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            previous = signal.getsignal(sig)
            try:
                loop.add_signal_handler(sig, self.stop)
            except (NotImplementedError, RuntimeError, ValueError):
                continue
            installed.append((sig, previous))

        def restore() -> None:
            for sig, previous in installed:
                loop.remove_signal_handler(sig)
                with contextlib.suppress(TypeError, ValueError):
                    signal.signal(sig, previous)

        return restore


def _average(current: float | None, sample: float, weight: float = 0.05) -> float:
    """Exponential moving average (the first sample starts it)."""
    return sample if current is None else current + weight * (sample - current)


def _is_async(handler: Handler) -> bool:
    if inspect.iscoroutinefunction(handler):
        return True
    call = getattr(handler, "__call__", None)  # noqa: B004 - async callable objects
    return call is not None and inspect.iscoroutinefunction(call)
