"""The Worker: runs handlers for claimed tasks; claiming, completing and leases are its parts."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

from .. import handlers as calls
from ..errors import PgQueueError
from ..maintenance import Maintenance
from ..manager import Manager
from ..models import Task
from ..service import install_stop_signals
from ..validate import JSON_ENCODER
from .claimer import Claimer
from .completer import Completer
from .leases import Claim, LeaseKeeper
from .stats import WorkerStats

log = logging.getLogger(__name__)

Handler = calls.Handler[Task]


class Worker:
    """Runs handlers for the tasks of some queues until `stop()`.

    `handlers` maps queue names to callables taking the Task (a dict, or a `Handlers`
    registry filled with its decorator); the return value is the success result, an
    exception the failure result. Sync handlers run in a thread pool. `stats` counts what
    happened, in total and per queue, with handler times by queue and outcome.

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
      of the shortest lease of its queues); a task whose lease was lost is abandoned (its
      handler cancelled, its late result ignored; lost tasks not started are dropped), and
      one whose cancel was requested has its handler cancelled (it ends `cancelled`);
    * `stop()` (or SIGTERM/SIGINT when `handle_signals`) claims nothing new, gives back the
      tasks not started, waits up to `grace_period` seconds for running handlers (then
      cancels them: a failed attempt), writes every result and returns.
    * with `maintenance` the process also takes its turn at lease rescue, expiry and cleanup.

    The parts, each a background loop of its own: a `Claimer` (claims, wake-ups, buffer), a
    `Completer` (batched results) and a `LeaseKeeper` (heartbeats). The Worker runs the
    handlers between them.
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

        self._is_async = {q: calls.is_async(h) for q, h in self.handlers.items()}
        self._executor: ThreadPoolExecutor | None = None
        self._stopping = asyncio.Event()
        self._running: dict[Claim, asyncio.Task[None]] = {}
        self._abandoned: dict[Claim, str] = {}  # why a running handler was cancelled
        self._claimer = Claimer(
            manager,
            name,
            self.queues,
            concurrency=concurrency,
            prefetch=self.prefetch,
            max_prefetch=self.max_prefetch,
            poll_interval=poll_interval,
            notifier=manager.notifier if listen else None,
            running=lambda: len(self._running),
            on_claimed=self._dispatch,
            stats=self.stats,
        )
        self._completer = Completer(
            manager,
            name,
            self.stats,
            flush_interval=flush_interval,
            flush_size=flush_size,
            final_flush_within=max(grace_period, 5.0),
        )
        self._leases = LeaseKeeper(
            manager,
            name,
            self._held_claims,
            every=heartbeat_interval or 1.0,  # the default is read from the queues in run()
            on_lost=self._on_lost,
            on_cancel=self._on_cancel,
        )
        self.idle = self._claimer.idle  # set while the worker waits for work (tests, probes)

    # ---- public -------------------------------------------------------------------------

    def stop(self) -> None:
        """Ask the worker to stop gracefully (a second call cancels running handlers)."""
        if self._stopping.is_set():
            for job in list(self._running.values()):
                job.cancel()
        self._stopping.set()

    @property
    def in_flight(self) -> int:
        """Handlers running right now."""
        return len(self._running)

    @property
    def held(self) -> int:
        """Tasks claimed and not yet finished by a handler."""
        return self._claimer.held

    def prefetch_now(self) -> int:
        """How many tasks to hold claimed beyond the running ones, right now."""
        return self._claimer.prefetch_now()

    async def run(self) -> None:
        """Work until `stop()`; returns after every result was written."""
        for queue in self.queues:
            await self.manager.get_queue(queue)  # NotFound early, not in the loop
        self._leases.interval = self.heartbeat_interval or await self._default_heartbeat()
        if any(not is_async for is_async in self._is_async.values()):
            self._executor = ThreadPoolExecutor(self.concurrency, thread_name_prefix=self.name)
        maintenance = (
            Maintenance(
                self.manager.pool,
                self.manager.schema,
                connections=self.manager.connections,
                publisher=self.manager.publisher,
            )
            if self.maintenance
            else None
        )
        restore_signals = install_stop_signals(self.stop, self.handle_signals)
        self._claimer.start()
        if maintenance is not None:
            maintenance.start()
        self._completer.start()
        self._leases.start()
        try:
            await self._stopping.wait()
        finally:
            await self._shutdown()
            if maintenance is not None:
                await maintenance.stop()
            restore_signals()
            if self._executor is not None:
                self._executor.shutdown(wait=False, cancel_futures=True)

    # ---- running handlers ---------------------------------------------------------------

    def _dispatch(self) -> None:
        """Start buffered tasks while fewer than `concurrency` handlers run."""
        while len(self._running) < self.concurrency and not self._stopping.is_set():
            task = self._claimer.take()
            if task is None:
                return
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
        if ran.outcome in ("success", "failure"):  # what a handler costs, for the buffer
            self._claimer.handler_ran(ran.seconds)
        lost = self._abandoned.pop(claim, None) == "lost"
        self.stats.observe_handler(task.queue, "lost" if lost else ran.outcome, ran.seconds)
        if lost:
            # The lease lapsed and the task was handed on: whatever the handler made of it
            # (it was cancelled, or ignored that) belongs to no claim any more.
            self.stats.lost += 1
            self.stats.queue(task.queue).lost += 1
            return self._finished(claim)
        success = ran.success
        try:
            encoded = "null" if ran.result is None else JSON_ENCODER.encode(ran.result)
        except (TypeError, ValueError, RecursionError) as exc:
            success, encoded = False, json.dumps(calls.not_json(exc))
        self._completer.add(task, success, encoded)
        self._finished(claim)

    def _finished(self, claim: Claim) -> None:
        self._running.pop(claim, None)
        self._dispatch()
        self._claimer.room_freed()

    # ---- leases -------------------------------------------------------------------------

    async def _default_heartbeat(self) -> float:
        leases = [(await self.manager.get_queue(q)).lease for q in self.queues]
        return max(0.2, min(leases, default=timedelta(minutes=5)).total_seconds() / 3)

    def _held_claims(self) -> Iterator[Claim]:
        """Every claim whose lease the worker needs: buffered, running, result not written."""
        for task in self._claimer.buffer:
            yield task.id, task.attempt
        for task in self._completer.holding():
            yield task.id, task.attempt
        yield from self._running

    def _on_lost(self, claims: set[Claim]) -> None:
        for claim in claims:
            job = self._running.get(claim)
            if job is not None and not job.done():
                log.warning("%s: lost the lease of task %d; abandoning it", self.name, claim[0])
                self._abandon(claim, "lost")
        for task in self._claimer.discard(claims):
            self.stats.lost += 1
            self.stats.queue(task.queue).lost += 1

    def _on_cancel(self, claims: set[Claim]) -> None:
        for claim in claims:
            self._abandon(claim, "cancel")

    def _abandon(self, claim: Claim, reason: str) -> None:
        job = self._running.get(claim)
        if job is not None and not job.done():
            if self._abandoned.get(claim) != "lost":  # once lost, its result is never wanted
                self._abandoned[claim] = reason
            job.cancel()

    # ---- stopping -----------------------------------------------------------------------

    async def _shutdown(self) -> None:
        self._stopping.set()
        await self._claimer.stop()  # a claim under way lands in the buffer first
        unstarted = self._claimer.take_all()
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
        # Write the last results (heartbeats go on meanwhile), then stop the heartbeats.
        await self._completer.stop()
        await self._leases.stop()
