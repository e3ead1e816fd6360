"""Queue operations of the Manager: register, get, list, update, delete, pause, stats."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

from . import validate
from .base import ManagerBase
from .errors import Conflict, InvalidArgument, nothing_to_change, queue_not_found
from .models import Queue, QueueMeta, QueueStatus, QueueSummary, Status

MIN_LEASE_SECONDS = 1
MIN_COOLDOWN = timedelta(seconds=1)
MAX_COOLDOWN = timedelta(days=365)
MAX_WEIGHT = 1000


def _check_meta(meta: QueueMeta) -> QueueMeta:
    """Validate the given fields; returns the meta with the name normalised."""
    validate.duration(meta.ttl, "ttl")
    validate.duration(meta.retry_delay, "retry_delay")
    validate.duration(meta.lease, "lease", minimum=timedelta(seconds=MIN_LEASE_SECONDS))
    validate.integer(meta.retries, "retries", 0)
    validate.integer(meta.concurrency, "concurrency", 0)
    if meta.paused is not None and not isinstance(meta.paused, bool):
        raise InvalidArgument("paused must be a boolean")
    validate.rate(meta.rate)
    validate.integer(meta.burst, "burst", 0)
    validate.integer(meta.weight, "weight", 1, MAX_WEIGHT)
    validate.integer(meta.breaker_threshold, "breaker_threshold", 0)
    validate.duration(meta.breaker_cooldown, "breaker_cooldown", minimum=MIN_COOLDOWN)
    if meta.breaker_cooldown is not None and meta.breaker_cooldown > MAX_COOLDOWN:
        raise InvalidArgument("breaker_cooldown must be at most 365 days")
    if meta.queue is None:
        return meta
    return dataclasses.replace(meta, queue=validate.name(meta.queue, "queue"))


def _update_args(meta: QueueMeta, rename: str | None) -> tuple[Any, ...]:
    return (
        rename,
        meta.ttl,
        meta.retries,
        meta.retry_delay,
        meta.lease,
        meta.concurrency,
        meta.paused,
        None if meta.rate is None else float(meta.rate),
        meta.burst,
        meta.weight,
        meta.breaker_threshold,
        meta.breaker_cooldown,
    )


class QueueOps(ManagerBase):
    """Queues of the Manager's namespace."""

    async def create_queue(self, meta: QueueMeta) -> Queue:
        """Create a queue (defaults for fields not given); Conflict if it exists."""
        return await self._put_queue(meta, must_be_new=True)

    async def register_queue(self, meta: QueueMeta) -> Queue:
        """Upsert: a new queue gets defaults for fields not given; an existing queue
        changes only the fields given."""
        return await self._put_queue(meta, must_be_new=False)

    async def _put_queue(self, meta: QueueMeta, *, must_be_new: bool) -> Queue:
        if not meta.queue:
            raise InvalidArgument("queue name is required")
        meta = _check_meta(meta)
        async with self._conn() as conn, conn.transaction():
            inserted = await self._run_on(conn, "queue_insert", self.namespace, meta.queue)
            if inserted is None and must_be_new:
                raise Conflict(f"queue {meta.queue!r} already exists", key="queue_exists")
            row = await self._run_on(
                conn, "queue_update", self.namespace, meta.queue, *_update_args(meta, None)
            )
        queue = Queue.from_record(row)
        self._publisher.queue(self.namespace, queue.queue, "created" if inserted else "updated")
        return queue

    async def get_queue(self, name: str) -> Queue:
        name = validate.name(name, "queue")
        row = await self._run("queue_get", self.namespace, name)
        if row is None:
            raise queue_not_found(name)
        return Queue.from_record(row)

    async def list_queues(
        self, offset: int | None = 0, limit: int | None = 100
    ) -> tuple[int, list[Queue]]:
        """A page of queues by name, and how many there are in all."""
        offset, limit = validate.paging(offset, limit)
        rows = await self._run("queue_list", self.namespace, offset, limit)
        if rows:
            return rows[0]["total"], [Queue.from_record(r) for r in rows]
        return await self._run("queue_count", self.namespace), []

    async def update_queue(self, name: str, meta: QueueMeta) -> Queue:
        """Change the fields given; `meta.queue` renames, the tasks move along ("" or None:
        no rename). Naming no change at all is an InvalidArgument `nothing_to_change`,
        whether or not the queue exists."""
        name = validate.name(name, "queue")
        rename = validate.rename(meta.queue, "queue")
        settings = _check_meta(dataclasses.replace(meta, queue=None))
        if rename is None and settings == QueueMeta():
            raise nothing_to_change(
                "queue",
                "a new name (queue), ttl, retries, retry_delay, lease, concurrency, paused, "
                "rate, burst, weight, breaker_threshold or breaker_cooldown",
            )
        row = await self._run(
            "queue_update",
            self.namespace,
            name,
            *_update_args(settings, rename if rename != name else None),
        )
        if row is None:
            raise queue_not_found(name)
        queue = Queue.from_record(row)
        change = "updated"
        if rename is None and settings == QueueMeta(paused=settings.paused):
            change = "paused" if settings.paused else "resumed"
        self._publisher.queue(self.namespace, queue.queue, change)
        return queue

    async def pause_queue(self, name: str) -> Queue:
        """Stop handing out the queue's tasks (it still accepts new ones)."""
        return await self.update_queue(name, QueueMeta(paused=True))

    async def resume_queue(self, name: str) -> Queue:
        return await self.update_queue(name, QueueMeta(paused=False))

    async def reset_breaker(self, name: str) -> Queue:
        """Close the queue's circuit breaker and forget its failures (an operator's reset:
        the queue's tasks go out again at once)."""
        name = validate.name(name, "queue")
        row = await self._run("queue_reset_breaker", self.namespace, name)
        if row is None:
            raise queue_not_found(name)
        self._publisher.queue(self.namespace, name, "breaker-reset")
        return Queue.from_record(row)

    async def delete_queue(self, name: str) -> Queue:
        """Delete a queue and all of its tasks; returns the deleted queue."""
        name = validate.name(name, "queue")
        row = await self._run("queue_delete", self.namespace, name)
        if row is None:
            raise queue_not_found(name)
        self._publisher.queue(self.namespace, name, "deleted")
        return Queue.from_record(row)

    async def count_queue_tasks(self, name: str) -> int:
        """How many tasks (any status) a queue holds: what deleting it would take along."""
        name = validate.name(name, "queue")
        await self.get_queue(name)
        return int(await self._run("queue_task_count", self.namespace, name))

    async def queue_stats(self) -> list[QueueStatus]:
        """Task counts per queue and status of this namespace, zeros included."""
        rows = await self._run("queue_stats", self.namespace)
        return [
            QueueStatus(r["namespace"], r["queue"], Status(r["status"]), r["count"]) for r in rows
        ]

    async def queue_summaries(self) -> list[QueueSummary]:
        """Every queue of the namespace with its counts per status and oldest waiting task."""
        rows = await self._run("queue_summaries", self.namespace)
        summaries = {
            r["queue"]: QueueSummary(
                self.namespace,
                r["queue"],
                r["paused"],
                {},
                r["oldest"],
                breaker=r["breaker"],
                breaker_open_until=r["breaker_open_until"],
                rate=r["rate"],
            )
            for r in rows
        }
        for stat in await self.queue_stats():
            if stat.queue in summaries:
                summaries[stat.queue].counts[stat.status] = stat.count
        return list(summaries.values())
