"""Changes are published on the events channel while, and only while, somebody watches."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import asyncpg
import pytest

from pgqueue_core import Manager, QueueMeta, System, TaskMeta, TickerMeta
from pgqueue_core.events import Watch, parse_batch


class Recorder:
    """Everything published on the events channel, as records."""

    def __init__(self) -> None:
        self.records: list[list[Any]] = []
        self.changed = asyncio.Event()
        self.listening = asyncio.Event()  # a (re)connect says None

    def __call__(self, payload: str | None) -> None:
        if payload is None:
            self.listening.set()
        else:
            self.records.extend(parse_batch(payload))
            self.changed.set()

    async def until(self, predicate: Any, what: str) -> None:
        async with asyncio.timeout(5):
            while not predicate(self.records):
                self.changed.clear()
                await self.changed.wait()

    def tasks(self, change: str) -> list[tuple[str, int, int]]:
        return [
            (r[2], task_id, attempt)
            for r in self.records
            if r[0] == "task" and r[3] == change
            for task_id, attempt, *_ in r[4]
        ]


@pytest.fixture
async def recorder(manager: Manager) -> AsyncIterator[Recorder]:
    seen = Recorder()
    await manager.notifier.subscribe_changes(seen)
    try:
        async with asyncio.timeout(5):
            await seen.listening.wait()
        yield seen
    finally:
        await manager.notifier.unsubscribe(seen)


@pytest.fixture
async def watched(manager: Manager) -> AsyncIterator[Watch]:
    watch = Watch(manager.connections, manager._sql, "test-watcher")
    watch.watch({manager.namespace})
    watch.start()
    try:
        async with asyncio.timeout(5):
            await watch.stored.wait()
        await manager.publisher.refresh()
        yield watch
    finally:
        await watch.stop()


async def test_nothing_is_published_while_nobody_watches(
    manager: Manager, recorder: Recorder
) -> None:
    await manager.register_queue(QueueMeta(queue="q"))
    await manager.create_tasks("q", [TaskMeta(payload=i) for i in range(10)])
    await manager.next_tasks("w", "q", limit=5)
    await manager.publisher.refresh()
    await manager.create_task("q", TaskMeta(payload=1))
    await manager.close()
    assert manager.publisher.published == 0
    assert recorder.records == []


async def test_every_change_is_published_while_watched(
    manager: Manager, recorder: Recorder, watched: Watch, conn: asyncpg.Connection
) -> None:
    await manager.register_queue(QueueMeta(queue="q", retry_delay=timedelta(hours=1)))
    ids = await manager.create_tasks("q", [TaskMeta(payload=i) for i in range(3)])
    single = await manager.create_task("q", TaskMeta(payload="x"))
    claimed = await manager.next_tasks("w", "q", limit=3)
    await manager.release_task(claimed[0].id, True)
    await manager.release_task(claimed[1].id, False, {"error": "x"})
    await manager.cancel_task(single.id)
    await manager.requeue_task(single.id)
    await manager.update_queue("q", QueueMeta(paused=True))
    await manager.register_ticker(TickerMeta(ticker="t", interval=timedelta(hours=1)))
    fired = await manager.next_ticker()
    assert fired is not None
    # Maintenance: a lapsed lease is a rescue, an overdue task an expiry.
    await conn.execute(
        "UPDATE pgqueue.task SET leased_until = now() - interval '1 second' WHERE id = $1",
        claimed[2].id,
    )
    system = System(manager.pool, connections=manager.connections, publisher=manager.publisher)
    assert await system.rescue(namespace=manager.namespace) == 1
    await manager.close()

    def complete(records: list[list[Any]]) -> bool:
        return any(r[0] == "task" and r[3] == "retry" and len(r[4]) == 1 for r in records) and (
            any(r[0] == "ticker" and r[3] == "fired" for r in records)
        )

    await recorder.until(complete, "the changes")
    assert {i for _, i, _ in recorder.tasks("created")} == {*ids, single.id}
    assert {(i, a) for _, i, a in recorder.tasks("retained")} == {(t.id, 1) for t in claimed}
    assert [i for _, i, _ in recorder.tasks("released")] == [claimed[0].id]
    assert {i for _, i, _ in recorder.tasks("retry")} == {claimed[1].id, claimed[2].id}
    assert [i for _, i, _ in recorder.tasks("cancelled")] == [single.id]
    assert [i for _, i, _ in recorder.tasks("requeued")] == [single.id]
    queue_changes = [r[3] for r in recorder.records if r[0] == "queue"]
    assert queue_changes == ["created", "paused"]
    ticker_changes = [(r[2], r[3]) for r in recorder.records if r[0] == "ticker"]
    assert ticker_changes == [("t", "created"), ("t", "fired")]
    # Batched: far fewer notifications than changes.
    assert manager.publisher.published < 10


async def test_other_namespaces_are_not_published(
    manager: Manager, recorder: Recorder, watched: Watch
) -> None:
    other = manager.with_namespace("other")
    await other.register_queue(QueueMeta(queue="q"))
    await manager.register_queue(QueueMeta(queue="mine"))
    await manager.close()
    await recorder.until(lambda rs: any(r[0] == "queue" for r in rs), "a queue change")
    assert [(r[1], r[2]) for r in recorder.records] == [(manager.namespace, "mine")]


async def test_closing_while_a_batch_is_sent_loses_none_of_it(
    manager: Manager, pool: asyncpg.Pool, recorder: Recorder, watched: Watch
) -> None:
    publisher = manager.publisher
    publisher.flush = 0.0
    # Every connection of the pool taken: the flush that starts must wait inside send().
    free = pool.get_max_size() - (pool.get_size() - pool.get_idle_size())
    held = [await pool.acquire() for _ in range(free)]
    try:
        publisher.queue(manager.namespace, "q", "created")
        async with asyncio.timeout(5):
            while publisher._pending:  # noqa: ASYNC110 (until the flush task takes the batch)
                await asyncio.sleep(0)
        closing = asyncio.create_task(publisher.close())
        await asyncio.sleep(0)
    finally:
        for conn in held:
            await pool.release(conn)
    await closing
    await recorder.until(lambda rs: any(r[0] == "queue" for r in rs), "the queue change")
    assert [r[2:] for r in recorder.records] == [["q", "created"]]
