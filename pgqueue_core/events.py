"""Changes to tasks, queues and tickers, published while somebody watches (GET /events).

Publishing costs nothing while nobody watches: every process that changes rows asks the
`watcher` table, at most every `refresh` seconds and without delaying the change, which
namespaces are watched (a cached set), and only then records its changes. Recorded changes
are sent in compact batches on the schema's events channel every `flush` seconds, so a busy
worker adds a few NOTIFY statements a second however many tasks it moves and however many
watch. Delivery is best effort: a batch lost with its process is lost; subscribers that
need certainty re-read the state (the stream says `reset` when it cannot fill a gap).

On the channel a batch is a JSON array of records:
  ["task", namespace, queue, change, [[id, attempt], ...]]   change: created, retained,
        released, retry, failed, expired, cancelled, requeued; a retained task's item is
        [id, attempt, waited] (milliseconds from ready to retained)
  ["queue", namespace, queue, change]                        created, updated, paused,
        resumed, deleted
  ["ticker", namespace, ticker, change, timestamp or null]   fired, created, updated, deleted
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from . import db
from .queries import Query
from .service import BackgroundLoop

log = logging.getLogger(__name__)

TASK_CHANGES = ("created", "retained", "released", "retry", "failed", "expired", "cancelled")
# The status a change leaves a task in (`requeued` puts it back to new).
STATUS_AFTER = {c: c for c in TASK_CHANGES} | {"created": "new", "requeued": "new"}
MAX_PAYLOAD = 7000  # bytes per NOTIFY (PostgreSQL's limit is 8000)
_IDS_PER_RECORD = 300


class Publisher:
    """Records the changes of the Managers sharing one pool while they are watched."""

    def __init__(
        self,
        connections: db.Connections,
        sql: dict[str, Query],
        *,
        refresh: float = 2.0,
        flush: float = 0.05,
        acquire_timeout: float = 5.0,
    ) -> None:
        self._connections = connections
        self._sql = sql
        self.refresh_every = refresh
        self.flush = flush
        self._acquire_timeout = acquire_timeout
        self._watched: frozenset[str] = frozenset()
        self._checked = float("-inf")
        self._refreshing: asyncio.Task[None] | None = None
        self._pending: list[list[Any]] = []
        self._flushing: asyncio.Task[None] | None = None
        self._closing = asyncio.Event()  # set: flush now
        self.published = 0  # batches sent (for tests and metrics)

    # ---- is anybody watching? ------------------------------------------------------------

    def watched(self, namespace: str) -> bool:
        """Whether changes of `namespace` are to be published (a cached answer; a stale
        one starts a refresh in the background and is used meanwhile)."""
        if time.monotonic() - self._checked > self.refresh_every and self._refreshing is None:
            self._refreshing = asyncio.ensure_future(self._refresh())
        return bool(self._watched) and ("*" in self._watched or namespace in self._watched)

    async def refresh(self) -> None:
        """Ask the watcher table now (a process that starts watching calls it, so that its
        own changes are published at once rather than after `refresh` seconds)."""
        if self._refreshing is not None:
            with contextlib.suppress(Exception):
                await self._refreshing
        await self._refresh()

    async def _refresh(self) -> None:
        try:
            async with self._connections.pooled(self._acquire_timeout) as conn:
                rows = await conn.fetch(self._sql["system_watched"].sql)
            self._watched = frozenset(r["namespace"] for r in rows)
        except Exception as exc:  # the next change asks again; publishing is best effort
            log.debug("events: cannot read the watchers (%s)", exc)
        finally:
            self._checked = time.monotonic()
            self._refreshing = None

    # ---- recording -----------------------------------------------------------------------

    def tasks(
        self, namespace: str, queue: str, change: str, claims: Iterable[tuple[int, ...]]
    ) -> None:
        """Tasks (id, attempt[, waited ms]) of one queue that went through `change`."""
        if not self.watched(namespace):
            return
        pairs = [list(claim) for claim in claims]
        for start in range(0, len(pairs), _IDS_PER_RECORD):
            self._record(["task", namespace, queue, change, pairs[start : start + _IDS_PER_RECORD]])

    def queue(self, namespace: str, queue: str, change: str) -> None:
        if self.watched(namespace):
            self._record(["queue", namespace, queue, change])

    def ticker(self, namespace: str, ticker: str, change: str, timestamp: str | None) -> None:
        if self.watched(namespace):
            self._record(["ticker", namespace, ticker, change, timestamp])

    def _record(self, record: list[Any]) -> None:
        self._pending.append(record)
        if self._flushing is None:
            self._flushing = asyncio.ensure_future(self._flush_soon())

    async def _flush_soon(self) -> None:
        try:
            with contextlib.suppress(TimeoutError):  # gather a batch (unless closing)
                await asyncio.wait_for(self._closing.wait(), self.flush)
            await self.send()
        finally:
            self._flushing = None
            if self._pending:  # recorded while sending
                self._flushing = asyncio.ensure_future(self._flush_soon())

    async def send(self) -> None:
        """Send what is recorded now (in as few notifications as fit)."""
        records, self._pending = self._pending, []
        if not records:
            return
        try:
            async with self._connections.pooled(self._acquire_timeout) as conn:
                for payload in _batches(records):
                    await conn.execute(self._sql["system_publish"].sql, payload)
                    self.published += 1
        except Exception as exc:
            log.warning("events: %d change(s) not published (%s)", len(records), exc)

    async def close(self) -> None:
        """Send what is recorded and stop (stopping twice is harmless)."""
        if (refreshing := self._refreshing) is not None:
            refreshing.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await refreshing
        # A flush is never cancelled: one that is sending holds the records it took. Wake
        # the one that is gathering, and wait for it (and for any it starts) to send.
        self._closing.set()
        try:
            while (flushing := self._flushing) is not None:
                await asyncio.wait({flushing})
            await self.send()
        finally:
            self._closing.clear()


class Watch(BackgroundLoop):
    """Says, for one watching process, which namespaces it watches ('*': all): keeps its rows
    of the `watcher` table alive (until = now + `ttl`, renewed every `every` seconds) so that
    every process publishes those namespaces' changes, and removes them when it watches
    nothing or stops. Only a namespace's watcher row makes its changes published."""

    name = "pgqueue-watch"

    def __init__(
        self,
        connections: db.Connections,
        sql: dict[str, Query],
        watcher: str,
        *,
        every: float = 5.0,
        ttl: float = 15.0,
        acquire_timeout: float = 5.0,
    ) -> None:
        super().__init__(interval=every)
        self._connections = connections
        self._sql = sql
        self.watcher = watcher
        self.ttl = ttl
        self._acquire_timeout = acquire_timeout
        self.namespaces: frozenset[str] = frozenset()
        self._stored: frozenset[str] | None = None
        self.stored = asyncio.Event()  # set once the rows say what `namespaces` says

    def watch(self, namespaces: Iterable[str]) -> None:
        """From now on watch these namespaces (the rows follow at once, in the loop)."""
        wanted = frozenset(namespaces)
        if wanted != self.namespaces:
            self.namespaces = wanted
            self.stored.clear()
            self.wake()

    async def tick(self) -> float | None:
        wanted = self.namespaces
        async with self._connections.pooled(self._acquire_timeout) as conn:
            if wanted:
                await conn.execute(
                    self._sql["system_watch"].sql,
                    self.watcher,
                    sorted(wanted),
                    timedelta(seconds=self.ttl),
                )
            elif self._stored:
                await conn.execute(self._sql["system_unwatch"].sql, self.watcher)
        self._stored = wanted
        if wanted == self.namespaces:
            self.stored.set()
        return None

    async def stop(self) -> None:
        await super().stop()
        if self._stored:
            with contextlib.suppress(Exception):
                async with self._connections.pooled(self._acquire_timeout) as conn:
                    await conn.execute(self._sql["system_unwatch"].sql, self.watcher)
            self._stored = frozenset()


def _batches(records: list[list[Any]]) -> Iterable[str]:
    """The records as JSON arrays of at most MAX_PAYLOAD bytes each."""
    parts: list[str] = []
    size = 2
    for record in records:
        text = json.dumps(record, separators=(",", ":"))
        if parts and size + len(text) + 1 > MAX_PAYLOAD:
            yield "[" + ",".join(parts) + "]"
            parts, size = [], 2
        parts.append(text)
        size += len(text) + 1
    if parts:
        yield "[" + ",".join(parts) + "]"


def parse_batch(payload: str) -> list[list[Any]]:
    """The records of one notification (malformed ones are skipped)."""
    try:
        records = json.loads(payload)
    except ValueError:
        return []
    if not isinstance(records, list):
        return []
    return [r for r in records if isinstance(r, list) and len(r) >= 4]
