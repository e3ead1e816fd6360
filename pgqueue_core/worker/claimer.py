"""Claiming: the claim loop, its wake-ups and the buffer of tasks claimed ahead."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import random
import time
from collections.abc import Callable, Collection, Sequence
from datetime import datetime
from typing import Protocol

from ..errors import PgQueueError
from ..models import Task
from ..notifier import Event as NotifierEvent
from ..notifier import Notifier
from ..service import BackgroundLoop
from .stats import WorkerStats

log = logging.getLogger(__name__)

FAST_POLL = 0.5  # seconds between polls while notifications are not flowing
RETRY_DB_AFTER = 1.0  # seconds to wait after a database error before trying again
# A worker that keeps losing the race for notified tasks to other workers waits up to this
# long (random, doubling per lost race from 1 ms) before answering the next notification.
HERD_MAX_DELAY = 0.05


class ClaimSource(Protocol):
    """What the Claimer needs of a Manager."""

    @property
    def namespace(self) -> str: ...

    async def next_tasks(self, worker: str, *queues: str, limit: int = 100) -> list[Task]: ...

    async def next_due(self, *queues: str) -> datetime | None: ...


class Claimer(BackgroundLoop):
    """Keeps the worker supplied: claims tasks of `queues` in batches into `buffer`, where the
    worker takes them (`take`) when a handler is free.

    It claims while the tasks held — buffered plus `running()` — are fewer than
    `concurrency + prefetch_now()`, topping the buffer up once it is down to half its size.
    The buffer adapts (`prefetch=None`): about two claim round trips' worth of work, from the
    measured claim time and the handler time the worker reports (`handler_ran`), between none
    and `max_prefetch`; an integer `prefetch` fixes it. `on_claimed()` is called after each
    claim that found tasks, `room_freed()` tells it a handler finished.

    Between claims it waits for a wake-up: a notification (`notifier`) of a ready task, the
    due time of the next delayed one, or a poll every `poll_interval` seconds (at most
    FAST_POLL while notifications are not flowing). `idle` is set while it waits.
    """

    def __init__(
        self,
        manager: ClaimSource,
        worker: str,
        queues: Sequence[str],
        *,
        concurrency: int,
        prefetch: int | None,
        max_prefetch: int,
        poll_interval: float,
        notifier: Notifier | None,
        running: Callable[[], int],
        on_claimed: Callable[[], None],
        stats: WorkerStats,
    ) -> None:
        super().__init__(interval=poll_interval)
        self.name = f"{worker}-claim"
        self.manager = manager
        self.worker = worker
        self.queues = list(queues)
        self._queue_set = frozenset(queues)
        self.concurrency = concurrency
        self.prefetch = prefetch
        self.max_prefetch = max_prefetch
        self.poll_interval = poll_interval
        self.notifier = notifier
        self.stats = stats
        self.buffer: collections.deque[Task] = collections.deque()  # claimed, not started
        self.idle = asyncio.Event()  # set while it waits for work (for tests, probes)
        self._running = running
        self._on_claimed = on_claimed
        self._wakeup = asyncio.Event()  # a notification, a reconnect, or stop
        self._room = asyncio.Event()  # a handler finished, a buffered task went away, or stop
        self._reschedule = asyncio.Event()  # _due moved: recompute the idle timeout
        self._notified = False  # the pending wake-up is a notification of ready tasks
        self._herd_delay = 0.0  # see HERD_MAX_DELAY
        self._backoff = 0.0  # seconds to wait after a claim that found nothing
        self._due: float | None = None  # when the next waiting task becomes ready (epoch s)
        self._due_known = False  # whether _due is up to date
        # Moving averages (seconds) of a handler run and of a claim round trip.
        self._handler_time: float | None = None
        self._claim_time: float | None = None

    # ---- what the worker calls ------------------------------------------------------------

    def start(self) -> None:
        if self.notifier is not None and not self.running:
            self.notifier.subscribe(self._on_notify)
        super().start()

    async def stop(self) -> None:
        """Claim nothing more; a claim under way completes (its tasks land in the buffer)."""
        self._wakeup.set()
        self._room.set()
        await super().stop()
        if self.notifier is not None:
            await self.notifier.unsubscribe(self._on_notify)

    @property
    def held(self) -> int:
        """Tasks claimed and not finished: buffered plus running."""
        return len(self.buffer) + self._running()

    def take(self) -> Task | None:
        """The next buffered task (claim order), None when the buffer is empty."""
        return self.buffer.popleft() if self.buffer else None

    def take_all(self) -> list[Task]:
        """Empty the buffer (the worker gives these back when it stops)."""
        tasks = list(self.buffer)
        self.buffer.clear()
        return tasks

    def discard(self, claims: Collection[tuple[int, int]]) -> list[Task]:
        """Drop the buffered tasks of these (id, attempt) claims (their leases were lost)."""
        dropped = [t for t in self.buffer if (t.id, t.attempt) in claims]
        if dropped:
            kept = [t for t in self.buffer if (t.id, t.attempt) not in claims]
            self.buffer = collections.deque(kept)
            self._room.set()
        return dropped

    def room_freed(self) -> None:
        self._room.set()

    def handler_ran(self, seconds: float) -> None:
        """A handler took `seconds` (feeds the adaptive buffer)."""
        self._handler_time = _average(self._handler_time, seconds)

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

    # ---- the loop ---------------------------------------------------------------------------

    def _on_notify(self, event: NotifierEvent | None) -> None:
        if event is None:  # (re)connected: anything may have happened meanwhile
            self._due_known = False
            self._wakeup.set()
            return
        namespace, queue, ready_at = event
        if namespace != self.manager.namespace or queue not in self._queue_set:
            return
        if ready_at is None or ready_at <= time.time():
            self._notified = True
            self._wakeup.set()
        elif self._due is None or ready_at < self._due:
            self._due = ready_at  # a delayed task: wake up then, no claim now
            self._reschedule.set()

    async def tick(self) -> float:
        """One claim, with the waits before it (room, herd delay) and after it (idle)."""
        prefetch = self.prefetch_now()
        room = self.concurrency + prefetch - self.held
        # Claim in batches: top the buffer up once it is down to half its size (claim for
        # every free handler when nothing is held ahead).
        if room <= 0 or len(self.buffer) > prefetch // 2:
            self._room.clear()
            await self._room.wait()
            return 0
        notified, self._notified = self._notified, False
        if notified and self._herd_delay:
            # Every listening worker hears every insert; one that lost the last races lets
            # the worker that won answer first (and answers every notification that arrives
            # meanwhile with this one claim), so N idle worker processes do not run N claims
            # per single insert.
            await self._sleep(random.uniform(0, self._herd_delay))
            if self._stopping.is_set():
                return 0
            room = self.concurrency + self.prefetch_now() - self.held
            if room <= 0:
                return 0
        self._wakeup.clear()
        loop = asyncio.get_running_loop()
        started = loop.time()
        try:
            tasks = await self.manager.next_tasks(self.worker, *self.queues, limit=room)
        except PgQueueError as exc:
            log.warning(
                "%s: claim failed (%s); retrying in %.0fs", self.worker, exc, RETRY_DB_AFTER
            )
            await self._sleep(RETRY_DB_AFTER)
            return 0
        except Exception:
            # A worker must outlive surprises (the chaos study's lesson): log loudly, go on.
            log.exception("%s: claim failed unexpectedly; retrying", self.worker)
            await self._sleep(RETRY_DB_AFTER)
            return 0
        self._claim_time = _average(self._claim_time, loop.time() - started)
        if tasks:
            self.stats.claimed += len(tasks)
            for task in tasks:
                self.stats.queue(task.queue).claimed += 1
            self.buffer.extend(tasks)
            self._on_claimed()
            self._backoff = 0.0
            self._herd_delay = 0.0
        else:
            if notified:
                self.stats.races_lost += 1
                self._herd_delay = min(max(self._herd_delay * 2, 0.001), HERD_MAX_DELAY)
            # Tasks may be due yet not claimable (a concurrency-limited queue is full, rows
            # locked by another claimer): back off instead of spinning.
            self._backoff = min(max(self._backoff * 2, 0.005), 1.0)
        if len(tasks) < room:  # else probably more waiting: claim again once there is room
            await self._idle()
        return 0

    async def _idle(self) -> None:
        """Wait for a notification, the next delayed task, a poll, or stop.

        The next due time comes from the database only when it is not known: at start,
        after a reconnect, after the timer fired (the tasks then due are claimed, the next
        one is unknown); notifications of delayed tasks move it earlier without a query."""
        if self._wakeup.is_set():
            return
        if not self._due_known:
            try:
                due = await self.manager.next_due(*self.queues)
                self._due = None if due is None else due.timestamp()
                self._due_known = True
            except Exception:  # the claim reports database trouble; just wait
                self._due = None
        listening = self.notifier is not None and self.notifier.connected
        poll = self.poll_interval if listening else min(self.poll_interval, FAST_POLL)
        self.idle.set()
        try:
            while not self._wakeup.is_set():
                timeout = poll
                if self._due is not None:
                    # A due time ahead is exact (a delayed task, or a queue's limit opening:
                    # an empty bucket, a breaker's cooldown); one already past means tasks
                    # are ready yet were not claimable (a full concurrency limit, rows other
                    # claimers hold): back off instead of spinning.
                    until_due = self._due - time.time()
                    timeout = min(
                        timeout, until_due + 0.001 if until_due > 0 else max(self._backoff, 0.001)
                    )
                self._reschedule.clear()
                waits = [asyncio.ensure_future(e.wait()) for e in (self._wakeup, self._reschedule)]
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
        """Sleep, cut short by stop."""
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)


def _average(current: float | None, sample: float, weight: float = 0.05) -> float:
    """Exponential moving average (the first sample starts it)."""
    return sample if current is None else current + weight * (sample - current)
