"""Work across every namespace: statistics, expiry, lease rescue, cleanup, table health."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from . import db, queries
from .events import Publisher
from .models import QueueStatus, Status

log = logging.getLogger(__name__)

SYSTEM_NAMESPACE = "pgqueue"
# Advisory lock ids (with the schema's hash) of the maintenance jobs.
LOCK_EXPIRE, LOCK_RESCUE, LOCK_CLEANUP, LOCK_COUNTS = 1, 2, 3, 4


@dataclass(frozen=True, slots=True)
class TableHealth:
    table: str
    live_tuples: int
    dead_tuples: int
    bytes: int
    last_autovacuum: datetime | None
    autovacuum_count: int


@dataclass(frozen=True, slots=True)
class QueueAge:
    """How long the oldest ready task of a queue has been ready (0.0: none is)."""

    namespace: str
    queue: str
    seconds: float


@dataclass(frozen=True, slots=True)
class QueueFlow:
    """A queue's flow control as /metrics reports it: its rate limit (None: none), the claims
    that limit cut short, whether it has a breaker, the breaker as read and its openings."""

    namespace: str
    queue: str
    rate: float | None
    throttled: int
    guarded: bool
    breaker: str
    trips: int


class System:
    """pgqueue's own view of the database: every namespace at once. Not for applications:
    a Manager, bound to one namespace, is."""

    def __init__(
        self,
        pool: Any,
        schema: str = "pgqueue",
        *,
        acquire_timeout: float = 10.0,
        query_timeout: float | None = 60.0,
        connections: db.Connections | None = None,
        publisher: Publisher | None = None,
    ) -> None:
        self.pool = pool
        # Shared with the Managers on the pool (`manager.connections`), so that they know
        # when maintenance waits for a connection.
        self.connections = connections or db.Connections(pool)
        self.schema = queries.check_schema(schema)
        self.sql = queries.load(schema)
        # Expiries and rescues are changes too (for watchers of the event stream).
        self.publisher = publisher or Publisher(self.connections, self.sql)
        self.acquire_timeout = acquire_timeout
        self.query_timeout = query_timeout

    async def queue_stats(self) -> list[QueueStatus]:
        """Task counts per (namespace, queue, status) of every namespace, zeros included."""
        async with self.connections.pooled(self.acquire_timeout) as conn:
            rows = await conn.fetch(self.sql["queue_stats"].sql, None, timeout=self.query_timeout)
        return [
            QueueStatus(r["namespace"], r["queue"], Status(r["status"]), r["count"]) for r in rows
        ]

    async def queue_oldest_ready(self) -> list[QueueAge]:
        """Per queue of every namespace, since when its oldest ready task has been ready."""
        async with self.connections.pooled(self.acquire_timeout) as conn:
            rows = await conn.fetch(
                self.sql["queue_oldest_ready"].sql, None, timeout=self.query_timeout
            )
        return [QueueAge(r["namespace"], r["queue"], r["seconds"]) for r in rows]

    async def queue_flow(self) -> list[QueueFlow]:
        """Rate limits and breakers of every namespace's queues that have (or had) one."""
        async with self.connections.pooled(self.acquire_timeout) as conn:
            rows = await conn.fetch(self.sql["queue_flow"].sql, None, timeout=self.query_timeout)
        return [
            QueueFlow(
                r["namespace"],
                r["queue"],
                r["rate"],
                r["throttled"],
                r["guarded"],
                r["breaker"],
                r["breaker_trips"],
            )
            for r in rows
        ]

    async def tables(self) -> list[TableHealth]:
        async with self.connections.pooled(self.acquire_timeout) as conn:
            rows = await conn.fetch(self.sql["system_tables"].sql, timeout=self.query_timeout)
        return [
            TableHealth(
                r["relname"],
                r["n_live_tup"],
                r["n_dead_tup"],
                r["bytes"],
                r["last_autovacuum"],
                r["autovacuum_count"],
            )
            for r in rows
        ]

    async def expire(self, batch: int = 5000, *, namespace: str | None = None) -> int:
        """Store the expired status of every overdue task (of one namespace, or of all);
        returns how many."""
        return await self._batched("system_expire", LOCK_EXPIRE, batch, namespace)

    async def rescue(self, batch: int = 5000, *, namespace: str | None = None) -> int:
        """Return every task whose lease lapsed to retry (or failed / cancelled)."""
        return await self._batched("system_rescue", LOCK_RESCUE, batch, namespace)

    async def cleanup(self, batch: int = 5000, *, namespace: str | None = None) -> int:
        """Delete every terminal task whose queue ttl has passed since it ended."""
        # Overdue tasks are terminal as read but still stored live: store their expiry
        # first, or they would wait for the next run after an expiry pass.
        await self.expire(batch, namespace=namespace)
        return await self._batched("system_cleanup", LOCK_CLEANUP, batch, namespace)

    async def fold_counts(self) -> int:
        """Fold the task count changes the triggers appended into the per-queue counts (and
        drop the zero counts of queues gone); returns how many change rows were folded, 0 when
        another process is folding. Readers count right either way: this keeps what they
        read small."""
        pooled = self.connections.pooled(self.acquire_timeout)
        async with pooled as conn, conn.transaction():
            if not await conn.fetchval(self.sql["system_try_lock"].sql, LOCK_COUNTS):
                return 0
            folded = await conn.fetchval(
                self.sql["system_fold_counts"].sql, timeout=self.query_timeout
            )
            if folded:
                await conn.execute(self.sql["system_drop_counts"].sql, timeout=self.query_timeout)
        return int(folded)

    async def vacuum(self) -> list[str]:
        """VACUUM each of pgqueue's churning tables whose dead row versions passed their
        autovacuum threshold, where this role may; returns the tables vacuumed.

        Why: autovacuum visits a database once per `autovacuum_naptime` (1 min by default,
        server-wide, often not ours to change); a busy queue leaves millions of dead versions
        in a minute, and the claims slow down stepping over them (docs/reliability.md, "Table
        health"). VACUUM cannot run in a transaction: the maintenance ticker, not a lock,
        makes one process do it per period, and SKIP_LOCKED skips a table being vacuumed."""
        vacuumed = []
        async with self.connections.pooled(self.acquire_timeout) as conn:
            rows = await conn.fetch(self.sql["system_vacuum_due"].sql, timeout=self.query_timeout)
            for row in rows:
                # No statement timeout: a cancelled VACUUM throws its work away, and its
                # length is bounded by the table's size.
                await conn.execute(self.sql[f"system_vacuum_{row['relname']}"].sql, timeout=None)
                vacuumed.append(row["relname"])
        return vacuumed

    def _changed(self, namespace: str, query: str, rows: list[Any]) -> None:
        """Record for watchers what a maintenance batch changed (rows: queue, id, attempt and,
        for a rescue, the new status; a cleanup deletes, which is no change of a task)."""
        if query == "system_cleanup" or not rows or not self.publisher.watched(namespace):
            return
        groups: dict[tuple[str, str], list[tuple[int, int]]] = {}
        for row in rows:
            change = row["status"] if query == "system_rescue" else "expired"
            groups.setdefault((row["queue"], change), []).append((row["id"], row["attempt"]))
        for (queue, change), tasks in groups.items():
            self.publisher.tasks(namespace, queue, change, tasks)

    async def _batched(self, query: str, lock: int, batch: int, namespace: str | None) -> int:
        """Run a batch query per namespace until it finds nothing more, each batch its own
        transaction under the job's advisory lock: one process at a time does the job, and
        none waits for it. Every statement names its namespace (the tables are meant to be
        distributable by namespace)."""
        total = 0
        async with self.connections.pooled(self.acquire_timeout) as conn:
            if namespace is None:
                rows = await conn.fetch(self.sql["system_namespaces"].sql)
                namespaces = [r["namespace"] for r in rows]
            else:
                namespaces = [namespace]
            for name in namespaces:
                while True:
                    async with conn.transaction():
                        if not await conn.fetchval(self.sql["system_try_lock"].sql, lock):
                            return total
                        done = await conn.fetch(
                            self.sql[query].sql, name, batch, timeout=self.query_timeout
                        )
                    self._changed(name, query, done)
                    total += len(done)
                    if len(done) < batch:
                        break
        return total
