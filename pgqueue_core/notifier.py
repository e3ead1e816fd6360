"""One LISTEN connection per pool and schema, fanning task notifications out to workers and
change batches (events.py) out to a watching server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from . import db, queries

log = logging.getLogger(__name__)

# A subscriber gets (namespace, queue, ready_at) for each notification — ready_at: when the
# task becomes ready (epoch seconds), None for "now" — or None after a (re)connect, when
# notifications may have been missed and everything is worth a look.
Event = tuple[str, str, float | None]
Subscriber = Callable[[Event | None], None]
# A change subscriber gets each payload of the events channel, or None after a (re)connect
# (changes may have been missed).
ChangeSubscriber = Callable[[str | None], None]

PROBE_EVERY = 10.0  # seconds between liveness checks of the listening connection
MAX_BACKOFF = 5.0


class Notifier:
    """Listens on the schema's task channel over one dedicated pooled connection, and
    reconnects (with backoff) whenever that connection drops. `connected` tells whether
    notifications are flowing; while it is False, subscribers should poll more often.

    Whoever owns the pool owns its Notifier: a Manager makes one and shares it with every
    Worker built on it (`manager.notifier`), so a process needs one LISTEN connection per pool
    however many Workers it runs. The connection is held while anyone is subscribed.
    """

    def __init__(self, pool: Any, schema: str) -> None:
        self._pool = pool
        self._channel = queries.channel(schema)
        self._changes_channel = f"{schema}_events"
        self._subscribers: set[Subscriber] = set()
        self._change_subscribers: set[ChangeSubscriber] = set()
        self._conn: Any = None
        self._task: asyncio.Task[None] | None = None
        self.connected = False
        self.reconnects = 0

    def subscribe(self, subscriber: Subscriber) -> None:
        """Call `subscriber` for each notification from now on (listening if not already)."""
        self._subscribers.add(subscriber)
        self._ensure_running()

    async def subscribe_changes(self, subscriber: ChangeSubscriber) -> None:
        """Call `subscriber` with each batch of changes published on the events channel (the
        connection listens on that channel only while someone subscribes to it)."""
        first = not self._change_subscribers
        self._change_subscribers.add(subscriber)
        if first and self._conn is not None:
            await self._listen_changes(self._conn)
        self._ensure_running()

    def _ensure_running(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self._run(), name="pgqueue-notifier")

    async def _listen_changes(self, conn: Any) -> None:
        with contextlib.suppress(Exception):  # a lost connection reconnects and listens then
            await conn.add_listener(self._changes_channel, self._on_change)

    async def unsubscribe(self, subscriber: Subscriber | ChangeSubscriber) -> None:
        """Stop calling `subscriber` (harmless if it was not subscribed); the last one out
        closes the LISTEN connection."""
        self._subscribers.discard(subscriber)
        self._change_subscribers.discard(subscriber)
        if not self._change_subscribers and self._conn is not None:
            with contextlib.suppress(Exception):
                await self._conn.remove_listener(self._changes_channel, self._on_change)
        if not self._subscribers and not self._change_subscribers and self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    def _on_change(self, _conn: Any, _pid: int, _channel: str, payload: str | None) -> None:
        for subscriber in list(self._change_subscribers):
            try:
                subscriber(payload)
            except Exception:
                log.exception("change subscriber failed")

    def _publish(self, event: Event | None) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber(event)
            except Exception:
                log.exception("notification subscriber failed")

    def _on_notify(self, _conn: Any, _pid: int, _channel: str, payload: str) -> None:
        namespace, _, rest = payload.partition("/")
        queue, _, at = rest.partition("@")
        try:
            ready_at = float(at) if at else None
        except ValueError:
            ready_at = None
        self._publish((namespace, queue, ready_at))

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            try:
                conn = await self._pool.acquire()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("notifier: cannot connect (%s); retrying in %.1fs", exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)
                continue
            lost = asyncio.Event()
            try:
                conn.add_termination_listener(lambda _c, lost=lost: lost.set())
                await conn.add_listener(self._channel, self._on_notify)
                if self._change_subscribers:
                    await conn.add_listener(self._changes_channel, self._on_change)
                self._conn = conn
                self.connected = True
                backoff = 0.1
                self._publish(None)
                self._on_change(conn, 0, self._changes_channel, None)
                await self._watch(conn, lost)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("notifier: connection lost (%s)", exc)
            finally:
                self.connected = False
                self._conn = None
                with contextlib.suppress(Exception):
                    if not conn.is_closed():
                        await conn.remove_listener(self._channel, self._on_notify)
                        await conn.remove_listener(self._changes_channel, self._on_change)
                with contextlib.suppress(Exception):
                    await asyncio.shield(db.reset_before_release(conn, timeout=2))
                with contextlib.suppress(Exception):
                    await asyncio.shield(db.release(self._pool, conn, timeout=2))
            self.reconnects += 1
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF)

    async def _watch(self, conn: Any, lost: asyncio.Event) -> None:
        """Return when the connection is gone (closed, or no answer to a probe)."""
        while not lost.is_set() and not conn.is_closed():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(lost.wait(), PROBE_EVERY)
                return
            await conn.fetchval("SELECT 1", timeout=PROBE_EVERY)
