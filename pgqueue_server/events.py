"""The event hub behind `GET /events`: what changed, observed, never claimed.

One hub per server process. While it has subscribers it watches their namespaces (a row of
the `watcher` table, so that every process publishes those namespaces' changes), listens to
the published batches, gives every event an increasing id, keeps the last `ring` events so
that a client reconnecting with `Last-Event-ID` gets what it missed (or `reset` when that is
gone), and fans events out to bounded per-subscriber queues: a subscriber that falls behind
is dropped (its stream ends; it reconnects and resumes), never a reason to slow anyone else.
Every `stats_every` seconds it also sends each watched namespace's queue counts.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from pgqueue_core import Manager, PgQueueError, codec
from pgqueue_core.events import STATUS_AFTER, Watch, parse_batch
from pgqueue_core.models import QueueChange, Status, TaskChange, TickerChange

from . import codec as json_codec
from .sse import ClientGone, StreamSettings, abandon, send, start_stream

log = logging.getLogger("pgqueue.server.events")

TYPES = ("task", "queue", "ticker", "stats")


@dataclass(frozen=True, slots=True)
class Event:
    """One event as sent: its id, type, namespace and queue (for filters) and JSON text."""

    id: int
    type: str
    namespace: str
    queue: str | None
    data: str
    frame: str = ""  # the SSE frame, made once for every subscriber

    @classmethod
    def make(cls, id: int, type: str, namespace: str, queue: str | None, data: str) -> Event:
        frame = f"id: {id}\nevent: {type}\ndata: {data}\n\n"
        return cls(id, type, namespace, queue, data, frame)


@dataclass(eq=False)
class Subscription:
    """What one stream asked for, and its queue of event batches (None: dropped, it fell
    behind); `pending` counts the events queued, bounded by the hub's backlog."""

    manager: Manager  # of the subscription's namespace (its stats are read with it)
    types: frozenset[str]
    queues: frozenset[str]
    queue: asyncio.Queue[list[Event] | None] = field(default_factory=asyncio.Queue)
    pending: int = 0
    dropped: bool = False

    @property
    def namespace(self) -> str:
        return self.manager.namespace

    def wants(self, event: Event) -> bool:
        return self.wants_kind(event.type, event.namespace, event.queue)

    def wants_kind(self, kind: str, namespace: str, queue: str | None) -> bool:
        if kind == "reset":
            return True
        if namespace != self.namespace or kind not in self.types:
            return False
        return not self.queues or queue is None or queue in self.queues

    def take(self, batch: list[Event]) -> None:
        """The stream took `batch` off the queue."""
        self.pending -= len(batch)


class EventHub:
    """Watches, numbers, keeps and fans out the changes of the namespaces being watched."""

    def __init__(
        self,
        manager: Manager,
        *,
        ring: int = 50_000,
        backlog: int = 20_000,
        stats_every: float = 1.0,
        linger: float = 30.0,
    ) -> None:
        self.manager = manager
        self.backlog = backlog
        self.stats_every = stats_every
        self.linger = linger
        self._ring: collections.deque[Event] = collections.deque(maxlen=ring)
        # Ids grow across restarts of a server (the start time leads), so that an id from
        # before a restart is older than any after it and resumes as a `reset`.
        self._next_id = int(time.time()) * 1_000_000
        self._subscriptions: set[Subscription] = set()
        self._watch = Watch(manager.connections, manager._sql, f"server-{uuid.uuid4().hex[:12]}")
        self._listening = False
        self._stats: asyncio.Task[None] | None = None
        self._idle_since: float | None = None

    # ---- subscribing ---------------------------------------------------------------------

    @contextlib.asynccontextmanager
    async def subscribe(
        self,
        manager: Manager,
        types: Iterable[str] = TYPES,
        queues: Iterable[str] = (),
        last_id: int | None = None,
    ) -> AsyncIterator[Subscription]:
        """A subscription for the block: events from now on (after `last_id`, when given and
        still kept, else first a `reset` event)."""
        sub = Subscription(manager, frozenset(types), frozenset(queues))
        if last_id is not None:
            self._replay(sub, last_id)
        self._subscriptions.add(sub)
        await self._watch_now()
        try:
            yield sub
        finally:
            self._subscriptions.discard(sub)
            await self._watch_now()

    def _replay(self, sub: Subscription, last_id: int) -> None:
        oldest = self._ring[0].id if self._ring else self._next_id
        if last_id < oldest - 1 or last_id >= self._next_id:
            self._offer(sub, [self._reset()])  # the gap is gone, or the id is not ours
            return
        self._offer(sub, [e for e in self._ring if e.id > last_id and sub.wants(e)])

    async def _watch_now(self) -> None:
        namespaces = {s.namespace for s in self._subscriptions}
        if namespaces:
            self._idle_since = None
            self._watch.watch(namespaces)
            if not self._watch.running:
                self._watch.start()
            if not self._listening:
                self._listening = True
                await self.manager.notifier.subscribe_changes(self._on_batch)
            if self._stats is None:
                self._stats = asyncio.ensure_future(self._stats_loop())
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(5):
                    await self._watch.stored.wait()
            # This process's own changes are published from now on, not in two seconds.
            with contextlib.suppress(PgQueueError):
                await self.manager.publisher.refresh()
        elif self._idle_since is None:
            self._idle_since = time.monotonic()  # stop watching after `linger` (stats loop)

    async def close(self) -> None:
        """Stop watching and listening (stopping twice is harmless)."""
        if self._stats is not None:
            self._stats.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._stats
            self._stats = None
        await self._stop_watching()
        for sub in list(self._subscriptions):
            self._end(sub)

    async def _stop_watching(self) -> None:
        await self._watch.stop()
        self._watch.watch(())
        if self._listening:
            self._listening = False
            await self.manager.notifier.unsubscribe(self._on_batch)

    # ---- events in -----------------------------------------------------------------------

    def _on_batch(self, payload: str | None) -> None:
        if payload is None:  # (re)connected: what was published meanwhile is lost
            if self._ring:
                self._send([self._reset()])
            return
        groups = [self._events(record) for record in parse_batch(payload)]
        # Filters apply to whole records (one kind, namespace and queue each): every
        # subscriber gets one batch per notification, not one queue item per event.
        for sub in list(self._subscriptions):
            batch = [
                event
                for (kind, namespace, queue), events in groups
                if sub.wants_kind(kind, namespace, queue)
                for event in events
            ]
            if batch:
                self._offer(sub, batch)
        for _, events in groups:
            self._ring.extend(events)

    def _events(self, record: list[Any]) -> tuple[tuple[str, str, str | None], list[Event]]:
        kind, namespace, name, change = record[0], record[1], record[2], record[3]
        if kind == "task":
            status = Status(STATUS_AFTER.get(change, change))
            bodies: list[Any] = []
            for item in record[4]:
                waited = timedelta(milliseconds=item[2]) if len(item) > 2 else None
                bodies.append(TaskChange(namespace, name, item[0], change, status, item[1], waited))
            return (kind, namespace, name), [self._event(kind, namespace, name, b) for b in bodies]
        if kind == "queue":
            body: Any = QueueChange(namespace, name, change)
            return (kind, namespace, name), [self._event(kind, namespace, name, body)]
        stamp = codec.parse_time(record[4], "timestamp") if len(record) > 4 else None
        body = TickerChange(namespace, name, change, stamp)
        return (kind, namespace, None), [self._event(kind, namespace, None, body)]

    def _event(self, kind: str, namespace: str, queue: str | None, body: Any) -> Event:
        data = json_codec.dumps(codec.encode(body)).decode()
        self._next_id += 1
        return Event.make(self._next_id, kind, namespace, queue, data)

    def _reset(self) -> Event:
        self._next_id += 1
        return Event.make(self._next_id, "reset", "", None, '{"reason":"events were missed"}')

    def _send(self, events: list[Event]) -> None:
        self._ring.extend(events)
        for sub in list(self._subscriptions):
            batch = [event for event in events if sub.wants(event)]
            if batch:
                self._offer(sub, batch)

    def _offer(self, sub: Subscription, batch: list[Event]) -> None:
        if sub.dropped or not batch:
            return
        if sub.pending + len(batch) > self.backlog:
            self._end(sub)  # fell behind: its stream ends; the client resumes from its last id
            return
        sub.pending += len(batch)
        sub.queue.put_nowait(batch)

    def _end(self, sub: Subscription) -> None:
        if not sub.dropped:
            sub.dropped = True
            self._subscriptions.discard(sub)
            sub.queue.put_nowait(None)

    # ---- stats ---------------------------------------------------------------------------

    async def _stats_loop(self) -> None:
        while True:
            await asyncio.sleep(self.stats_every)
            if self._idle_since is not None:
                if time.monotonic() - self._idle_since > self.linger:
                    self._stats = None
                    await self._stop_watching()
                    return
                continue
            wanted = {s.namespace: s.manager for s in self._subscriptions if "stats" in s.types}
            for namespace, manager in sorted(wanted.items()):
                try:
                    summaries = await manager.queue_summaries()
                except PgQueueError as exc:
                    log.warning("events: stats of %s: %s", namespace, exc)
                    continue
                body = {"namespace": namespace, **codec.encode_list(len(summaries), summaries)}
                self._next_id += 1
                data = json_codec.dumps(body).decode()
                self._send([Event.make(self._next_id, "stats", namespace, None, data)])


# ---- the stream ------------------------------------------------------------------------------


async def stream_events(
    request: Any,
    hub: EventHub,
    manager: Manager,
    settings: StreamSettings,
    stopping: asyncio.Event,
    *,
    types: Iterable[str],
    queues: Iterable[str],
    last_id: int | None,
) -> None:
    """Serve one `GET /events` stream until the client leaves, falls behind or the server
    stops. Nothing here touches the database: the hub does, once for every subscriber."""
    response = await start_stream(request)
    async with hub.subscribe(manager, types, queues, last_id) as sub:
        try:
            await send(response, f"retry: {settings.retry_ms}\n: pgqueue events\n\n", settings)
            waiting = asyncio.ensure_future(stopping.wait())
            getting: asyncio.Future[list[Event] | None] | None = None
            try:
                while not stopping.is_set():
                    getting = asyncio.ensure_future(sub.queue.get())
                    done, _ = await asyncio.wait(
                        {getting, waiting},
                        timeout=settings.keepalive,
                        return_when=asyncio.FIRST_COMPLETED,
                    )
                    if getting not in done:
                        getting.cancel()
                        if not stopping.is_set():
                            await send(response, ": keep-alive\n\n", settings)
                        continue
                    batch = getting.result()
                    if batch is None:  # fell behind (or the hub closed): resume elsewhere
                        break
                    sub.take(batch)
                    frames, ended = [event.frame for event in batch], False
                    while not sub.queue.empty() and len(frames) < 5000:
                        more = sub.queue.get_nowait()
                        if more is None:
                            ended = True
                            break
                        sub.take(more)
                        frames.extend(event.frame for event in more)
                    await send(response, "".join(frames), settings)
                    if ended:
                        break
            finally:
                waiting.cancel()
                if getting is not None:
                    getting.cancel()
            with contextlib.suppress(Exception):
                await response.eof()
        except ClientGone as exc:
            log.info("event stream (%s) closed by the client: %s", manager.namespace, exc)
            abandon(request)
