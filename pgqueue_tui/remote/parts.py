"""The parts of a RemoteWorker: retains, releases and heartbeats over the REST API (SPEC 7.4)."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import os
import socket
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from pgqueue_core import handlers as calls
from pgqueue_core.errors import NotFound, PgQueueError, Unavailable
from pgqueue_core.models import Status, Task
from pgqueue_core.service import BackgroundLoop
from pgqueue_core.tasks import Lease
from pgqueue_core.worker import WorkerStats

from ..errors import ServerError

if TYPE_CHECKING:
    from ..client import Client

log = logging.getLogger(__name__)

Handler = calls.Handler[Task]
Claim = tuple[int, int]  # (task id, attempt)

MAX_RETAIN = 1000  # the server's bound on one retain
MAX_WAIT = 60.0  # the server's bound on a long-poll


def default_name() -> str:
    """host-pid-random: unique per process, as a worker name must be (releases and
    heartbeats are guarded by it)."""
    return f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"


def retryable(exc: BaseException) -> bool:
    """Whether an error is the server's or the network's passing trouble (down, restarting,
    its database unreachable, a 5xx): retry later. Anything else (a token without access,
    an unknown queue, a bad request) will not get better by retrying."""
    if isinstance(exc, Unavailable):  # includes ConnectionFailed
        return True
    return isinstance(exc, ServerError) and exc.status >= 500


class Backoff:
    """Delays that double from `low` to `high` seconds, back to `low` after a success."""

    def __init__(self, low: float, high: float) -> None:
        self.low, self.high = low, high
        self.delay = 0.0

    def failed(self) -> float:
        self.delay = min(self.high, max(self.low, self.delay * 2))
        return self.delay

    def reset(self) -> None:
        self.delay = 0.0


class _Loop(BackgroundLoop):
    """A BackgroundLoop whose sleeps end early when it stops."""

    async def sleep(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), seconds)


class Seats:
    """The worker's capacity (`concurrency + prefetch`) against the tasks it holds (buffered
    and running) and those its retains under way have asked for; shared by its retainers."""

    def __init__(self, capacity: int, buffer: collections.deque[Task], running: Callable[[], int]):
        self.capacity = capacity
        self.buffer = buffer
        self._running = running
        self.asked = 0

    @property
    def held(self) -> int:
        return len(self.buffer) + self._running()

    def free(self) -> int:
        return self.capacity - self.held - self.asked


class Retainer(_Loop):
    """Retains tasks of `queues` into `seats.buffer` while seats are free: `limit` = the free
    seats (at most `batch_size`), long-polling up to `wait` seconds when none is ready. It
    waits for room until at least half a batch is free (or nothing is held or asked for), so
    that retains stay batches; several retainers share the seats to keep retains in flight
    back to back. Passing trouble: retried with backoff; any other error goes to `on_fatal`
    (the worker stops)."""

    def __init__(
        self,
        client: Client,
        worker: str,
        queues: list[str],
        *,
        seats: Seats,
        batch_size: int,
        wait: float,
        backoff: Backoff,
        on_claimed: Callable[[], None],
        on_fatal: Callable[[PgQueueError], None],
        stats: WorkerStats,
        index: int = 0,
    ) -> None:
        super().__init__(interval=1.0, stop_timeout=0.2)
        self.name = f"{worker}-retain-{index}"
        self.client = client
        self.worker = worker
        self.queues = queues
        self.seats = seats
        self.idle = asyncio.Event()  # set while a retain is under way (tests, probes)
        self.batch_size = batch_size
        self.wait = wait
        self.backoff = backoff
        self._on_claimed = on_claimed
        self._on_fatal = on_fatal
        self.stats = stats
        self._room = asyncio.Event()

    def room_freed(self) -> None:
        self._room.set()

    async def stop(self) -> None:
        # A long-poll under way is cut off: tasks the server claimed for it meanwhile come
        # back when their leases lapse (at-least-once; the retain is short when busy).
        self._room.set()
        await super().stop()

    async def tick(self) -> float | None:
        seats = self.seats
        room = min(seats.free(), self.batch_size)
        busy = seats.held + seats.asked
        if room <= 0 or (busy and room < min(self.batch_size, seats.capacity) // 2):
            self._room.clear()
            await self._room.wait()
            return 0
        self.idle.set()
        seats.asked += room
        try:
            tasks = await self.client.next_tasks(
                self.worker, *self.queues, limit=room, wait=self.wait
            )
        except PgQueueError as exc:
            if not retryable(exc):
                self._on_fatal(exc)
                return None
            self.stats.extra["retries"] = self.stats.extra.get("retries", 0) + 1
            delay = self.backoff.failed()
            log.warning("%s: retain failed (%s); retrying in %.1fs", self.worker, exc, delay)
            await self.sleep(delay)
            return 0
        finally:
            seats.asked -= room
            self.idle.clear()
        self.backoff.reset()
        if tasks:
            self.stats.claimed += len(tasks)
            for task in tasks:
                self.stats.queue(task.queue).claimed += 1
            seats.buffer.extend(tasks)
            self._on_claimed()
        elif not self.wait:
            await self.sleep(1.0)  # a plain poll found nothing: do not spin
        return 0


@dataclass(slots=True)
class Outcome:
    """The result of one claim, waiting to be sent."""

    task: Task
    success: bool
    result: Any


class Releaser(_Loop):
    """Sends `add`ed results in batches of at most `flush_size` (PATCH /task): the first
    result starts a wait of `flush_interval` seconds for more (none once a batch is full).
    Each release is guarded by the worker name, so a task handed to another worker (its
    lease lapsed) is refused (`task_not_retained`: logged, counted in `stats.lost`). When the
    server cannot be reached the results are kept and sent again with backoff: a batch the
    server applied but whose answer was lost is refused the second time, never applied
    twice. `stop()` sends what is left, trying for up to `final_flush_within` seconds."""

    def __init__(
        self,
        client: Client,
        worker: str,
        stats: WorkerStats,
        *,
        flush_interval: float,
        flush_size: int,
        final_flush_within: float,
        backoff: Backoff,
        on_fatal: Callable[[PgQueueError], None],
    ) -> None:
        super().__init__(interval=1.0)
        self.name = f"{worker}-release"
        self.client = client
        self.worker = worker
        self.stats = stats
        self.flush_interval = flush_interval
        self.flush_size = flush_size
        self.final_flush_within = final_flush_within
        self.backoff = backoff
        self._on_fatal = on_fatal
        self._pending: list[Outcome] = []
        self._sending: list[Outcome] = []
        self._closing = False
        self._written = asyncio.Event()
        self._written.set()

    @property
    def pending(self) -> int:
        return len(self._pending) + len(self._sending)

    def holding(self) -> Iterator[Task]:
        for outcome in self._sending:
            yield outcome.task
        for outcome in self._pending:
            yield outcome.task

    def add(self, task: Task, success: bool, result: Any) -> None:
        self._pending.append(Outcome(task, success, result))
        self._written.clear()
        if len(self._pending) == 1 or len(self._pending) >= self.flush_size:
            self.wake()

    async def stop(self) -> None:
        if self.running and self.pending:
            self._closing = True
            self.wake()
            try:
                await asyncio.wait_for(self._written.wait(), self.final_flush_within)
            except TimeoutError:
                log.error(
                    "%s: %d result(s) could not be sent; those tasks will run again after "
                    "their leases lapse",
                    self.worker,
                    self.pending,
                )
        await super().stop()

    async def tick(self) -> float | None:
        if self._pending and len(self._pending) < self.flush_size and not self._closing:
            await asyncio.sleep(self.flush_interval)
        while self._pending:
            if not await self._send():
                await asyncio.sleep(self.backoff.failed())  # not cut short: stop() waits
        if not self.pending:
            self._written.set()
        return None

    async def _send(self) -> bool:
        batch, self._pending = self._pending[: self.flush_size], self._pending[self.flush_size :]
        self._sending = batch
        try:
            outcomes = await self.client.release_tasks(
                self.worker, [(o.task.id, o.success, o.result) for o in batch]
            )
        except PgQueueError as exc:
            self._pending[:0] = batch
            if not retryable(exc):
                self._on_fatal(exc)
                self._pending.clear()  # nothing more will be accepted: their leases lapse
                return True
            self.stats.extra["retries"] = self.stats.extra.get("retries", 0) + 1
            log.warning("%s: sending %d result(s) failed (%s)", self.worker, len(batch), exc)
            return False
        except BaseException:
            self._pending[:0] = batch  # cancelled: keep them (sending twice is harmless)
            raise
        finally:
            self._sending = []
        self.backoff.reset()
        self.stats.flushes += 1
        for outcome, answer in zip(batch, outcomes, strict=True):
            counts = self.stats.queue(outcome.task.queue)
            if isinstance(answer, PgQueueError):
                self.stats.lost += 1
                counts.lost += 1
                log.warning(
                    "%s: the result of task %d was refused (%s): the lease was lost, or an "
                    "earlier send was applied before its answer was lost",
                    self.worker,
                    outcome.task.id,
                    answer,
                )
            elif answer == Status.RELEASED:
                self.stats.succeeded += 1
                counts.succeeded += 1
            elif answer == Status.CANCELLED:
                self.stats.cancelled += 1
                counts.cancelled += 1
            else:
                self.stats.failed += 1
                counts.failed += 1
                if answer == Status.RETRY:
                    self.stats.retried += 1
                    counts.retried += 1
        return True


class Heartbeat(_Loop):
    """Every `every` seconds, extends the leases of the claims `held()` lists, in one
    PATCH per 1000; reports the ones no longer this worker's (`on_lost`) and the ones whose
    cancel was requested (`on_cancel`). A failed heartbeat is tried at the next beat."""

    def __init__(
        self,
        client: Client,
        worker: str,
        held: Callable[[], Iterator[Claim]],
        *,
        every: float,
        on_lost: Callable[[set[Claim]], None],
        on_cancel: Callable[[set[Claim]], None],
    ) -> None:
        super().__init__(interval=every)
        self.name = f"{worker}-heartbeat"
        self.client = client
        self.worker = worker
        self._held = held
        self._on_lost = on_lost
        self._on_cancel = on_cancel
        self.beats = 0

    async def tick(self) -> float | None:
        claims = set(self._held())
        if not claims:
            return None
        ids = list(dict.fromkeys(task_id for task_id, _ in claims))
        leases: dict[int, Lease] = {}
        refused: set[int] = set()
        try:
            for start in range(0, len(ids), MAX_RETAIN):
                chunk = ids[start : start + MAX_RETAIN]
                answers = await self.client.extend_leases(chunk, worker=self.worker)
                for task_id, answer in zip(chunk, answers, strict=True):
                    if isinstance(answer, Lease):
                        leases[task_id] = answer
                    elif isinstance(answer, NotFound):
                        refused.add(task_id)
        except PgQueueError as exc:
            log.warning("%s: heartbeat failed (%s)", self.worker, exc)
            return None
        self.beats += 1
        lost = {c for c in claims if c[0] in refused}
        cancel = {c for c in claims if c[0] in leases and leases[c[0]].cancel_requested}
        if lost:
            self._on_lost(lost)
        if cancel:
            self._on_cancel(cancel)
        return None
