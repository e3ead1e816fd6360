"""Faults with a PostgreSQL of the test's own (embedded, in a temporary directory), which the
test stops and starts: never the shared server."""

from __future__ import annotations

import asyncio
import collections

import asyncpg

from pgqueue_core import Manager, QueueMeta, Task, TaskMeta, Worker
from pgqueue_core.embedded import EmbeddedPostgres
from tests.support.worker import running_worker


async def test_worker_drains_through_a_postgres_restart(
    cluster: EmbeddedPostgres, own_pool: asyncpg.Pool
) -> None:
    manager = await Manager.new(own_pool, "chaos", acquire_timeout=2)
    await manager.register_queue(QueueMeta(queue="jobs"))
    n = 3000
    await manager.create_tasks("jobs", [TaskMeta(payload=i) for i in range(n)])
    runs: collections.Counter[int] = collections.Counter()
    third, everything = asyncio.Event(), asyncio.Event()

    async def handle(task: Task) -> None:
        await asyncio.sleep(0.001)  # a little work, so that the outage finds tasks in flight
        runs[task.payload] += 1
        if len(runs) >= n // 3:
            third.set()
        if len(runs) == n:
            everything.set()

    async def all_released() -> bool:
        total, _ = await manager.list_tasks(queue="jobs", status="released", limit=1)
        return total == n

    worker = Worker(manager, "survivor", {"jobs": handle}, concurrency=16, handle_signals=False)
    async with running_worker(worker) as run:
        async with asyncio.timeout(60):
            await third.wait()
        await asyncio.to_thread(cluster.stop)  # fast shutdown: every connection is cut
        assert not run.done(), run.exception() if run.done() else None
        await asyncio.sleep(1.0)  # the outage itself lasts a second
        await asyncio.to_thread(cluster.start)
        async with asyncio.timeout(120):
            await everything.wait()
        async with asyncio.timeout(60):
            while not await all_released():  # noqa: ASYNC110 - polling the database's state
                await asyncio.sleep(0.05)
        notifier = manager.notifier
        assert notifier.reconnects >= 1
        async with asyncio.timeout(30):
            while not notifier.connected:  # noqa: ASYNC110 - LISTEN re-subscribed by itself
                await asyncio.sleep(0.05)
    assert set(runs) == set(range(n))
    # A task whose completion was lost in the outage may run again (at-least-once); that can
    # only be one that was claimed then: at most the held tasks plus one batch of results.
    again = [task for task, count in runs.items() if count > 1]
    assert max(runs.values()) <= 2
    assert len(again) <= 16 + 16 + worker.flush_size, again
