"""Retaining tasks: which task, from which queues, exactly once under concurrency, limits."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from pgqueue_core import InvalidArgument, Manager, NotFound, QueueMeta, Status, Task, TaskMeta
from tests.support.db import db_now, shift_task


@pytest.fixture
async def three(manager: Manager) -> Manager:
    for name in ("a", "b", "c"):
        await manager.register_queue(QueueMeta(queue=name))
    return manager


async def test_retain_sets_the_claim_fields(
    manager: Manager, queue: str, conn: asyncpg.Connection
) -> None:
    created = await manager.create_task(queue, TaskMeta(payload="x"))
    before = await db_now(conn)
    task = await manager.next_task(" worker-1 ", queue)
    after = await db_now(conn)
    assert task is not None and task.id == created.id
    assert task.status is Status.RETAINED
    assert task.worker == "worker-1"
    assert task.started_at is not None and before <= task.started_at <= after
    assert task.attempt == 1
    assert task.payload == "x"
    assert await manager.get_task(task.id) == task


async def test_fifo_by_creation(manager: Manager, queue: str) -> None:
    ids = await manager.create_tasks(queue, [TaskMeta(payload=i) for i in range(5)])
    got = [await manager.next_task("w", queue) for _ in range(5)]
    assert [t.id for t in got if t] == ids
    assert await manager.next_task("w", queue) is None


async def test_nothing_eligible_is_none_not_an_error(manager: Manager, queue: str) -> None:
    assert await manager.next_task("w", queue) is None
    assert await manager.next_task("w") is None
    assert await manager.next_tasks("w", queue, limit=5) == []


async def test_retain_from_any_queue(three: Manager) -> None:
    """Defect 1: no queue named means any queue of the namespace (it used to give nothing)."""
    mgr = three
    c = await mgr.create_task("c", TaskMeta(payload="c"))
    a = await mgr.create_task("a", TaskMeta(payload="a"))
    b = await mgr.create_task("b", TaskMeta(payload="b"))
    got = [await mgr.next_task("w") for _ in range(3)]
    # Across queues claims take turns (docs/flow-control.md), so not in creation order.
    assert sorted(t.id for t in got if t) == [c.id, a.id, b.id]
    assert await mgr.next_task("w") is None


async def test_retain_from_named_queues(three: Manager) -> None:
    mgr = three
    a = await mgr.create_task("a", TaskMeta(payload="a"))
    b = await mgr.create_task("b", TaskMeta(payload="b"))
    c = await mgr.create_task("c", TaskMeta(payload="c"))
    got_c = await mgr.next_task("w", "c")
    assert got_c is not None and got_c.id == c.id
    assert await mgr.next_task("w", "c") is None
    got = [await mgr.next_task("w", "b", "c", "a") for _ in range(2)]
    assert sorted(t.id for t in got if t) == [a.id, b.id]
    assert await mgr.next_task("w", " A ", "b") is None


async def test_unknown_queue_is_not_found(three: Manager) -> None:
    with pytest.raises(NotFound, match="nope"):
        await three.next_task("w", "nope")
    with pytest.raises(NotFound):
        await three.next_task("w", "a", "nope")
    with pytest.raises(InvalidArgument):
        await three.next_task("w", "Bad Queue")


@pytest.mark.parametrize("worker", ["", "   ", None, 5, "w" * 256])
async def test_worker_is_required(offline: Manager, worker: object) -> None:
    with pytest.raises(InvalidArgument, match="worker"):
        await offline.next_task(worker, "q")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="worker"):
        await offline.next_tasks(worker, limit=5)  # type: ignore[arg-type]


async def test_future_delayed_task_is_not_eligible(manager: Manager, queue: str) -> None:
    later = await manager.create_task(
        queue, TaskMeta(payload="later", delayed_at=datetime.now(UTC) + timedelta(minutes=5))
    )
    now = await manager.create_task(queue, TaskMeta(payload="now"))
    got = await manager.next_task("w")
    assert got is not None and got.id == now.id
    assert await manager.next_task("w") is None
    assert (await manager.get_task(later.id)).status is Status.NEW


async def test_overdue_task_is_never_retained(
    manager: Manager, queue: str, conn: asyncpg.Connection
) -> None:
    old = await manager.create_task(queue, TaskMeta(payload="old"))
    young = await manager.create_task(queue, TaskMeta(payload="young"))
    await shift_task(conn, old.id, dies_at="now()")
    got = await manager.next_task("w", queue)
    assert got is not None and got.id == young.id
    assert await manager.next_task("w", queue) is None
    assert (await manager.get_task(old.id)).status is Status.EXPIRED


async def test_priorities_higher_first_equal_fifo(manager: Manager, queue: str) -> None:
    specs = [0, 5, -1, 5, 0, 10]
    ids = await manager.create_tasks(queue, [TaskMeta(payload=p, priority=p) for p in specs])
    order = sorted(range(len(specs)), key=lambda i: (-specs[i], i))
    got = [await manager.next_task("w", queue) for _ in specs]
    assert [t.id for t in got if t] == [ids[i] for i in order]


async def test_priorities_across_queues(three: Manager) -> None:
    low = await three.create_task("a", TaskMeta(payload=1))
    high = await three.create_task("b", TaskMeta(payload=2, priority=3))
    got = await three.next_tasks("w", limit=10)
    assert [t.id for t in got] == [high.id, low.id]


@pytest.mark.parametrize("priority", [2**31, -(2**31), 1.5, "1"])
async def test_bad_priority(offline: Manager, priority: object) -> None:
    with pytest.raises(InvalidArgument):
        await offline.create_task("q", TaskMeta(payload=1, priority=priority))  # type: ignore[arg-type]


async def test_batch_claim(three: Manager) -> None:
    ids = await three.create_tasks("a", [TaskMeta(payload=i) for i in range(7)])
    other = await three.create_task("b", TaskMeta(payload="b"))
    got = await three.next_tasks("w", "a", limit=5)
    assert [t.id for t in got] == ids[:5]
    assert all(t.status is Status.RETAINED and t.attempt == 1 for t in got)
    rest = await three.next_tasks("w", limit=100)
    assert [t.id for t in rest] == [*ids[5:], other.id]
    with pytest.raises(InvalidArgument):
        await three.next_tasks("w", limit=0)


async def test_sixteen_workers_drain_two_thousand_tasks_exactly_once(
    dsn: str, manager: Manager, queue: str
) -> None:
    ids = await manager.create_tasks(queue, [TaskMeta(payload=i) for i in range(2000)])
    pools = [await asyncpg.create_pool(dsn, min_size=1, max_size=1) for _ in range(16)]
    try:
        workers = [await Manager.new(p, "test", migrate_schema=False) for p in pools]
        start = asyncio.Event()

        async def drain(index: int, mgr: Manager) -> list[Task]:
            await start.wait()
            mine = []
            while (task := await mgr.next_task(f"w{index}", queue)) is not None:
                mine.append(task)
            return mine

        runs = [asyncio.create_task(drain(i, m)) for i, m in enumerate(workers)]
        start.set()
        results = await asyncio.gather(*runs)
    finally:
        for p in pools:
            await p.close()
    claimed = Counter(t.id for mine in results for t in mine)
    assert sorted(claimed) == ids
    assert set(claimed.values()) == {1}
    # The work was really shared, and every task records the worker that holds it.
    assert sum(1 for mine in results if mine) > 1
    by_worker = {t.id: t.worker for mine in results for t in mine}
    count, stored = await manager.list_tasks(status="retained", limit=100)
    assert count == 2000
    assert all(t.worker == by_worker[t.id] and t.attempt == 1 for t in stored)


async def test_concurrent_batch_claims_never_overlap(
    dsn: str, manager: Manager, queue: str
) -> None:
    await manager.create_tasks(queue, [TaskMeta(payload=i) for i in range(500)])
    pools = [await asyncpg.create_pool(dsn, min_size=1, max_size=1) for _ in range(4)]
    try:
        workers = [await Manager.new(p, "test", migrate_schema=False) for p in pools]

        async def drain(mgr: Manager) -> list[int]:
            ids: list[int] = []
            while batch := await mgr.next_tasks("w", queue, limit=7):
                ids.extend(t.id for t in batch)
            return ids

        results = await asyncio.gather(*(drain(m) for m in workers))
    finally:
        for p in pools:
            await p.close()
    everything = [i for ids in results for i in ids]
    assert len(everything) == len(set(everything)) == 500


async def test_concurrency_limit_is_never_exceeded(dsn: str, manager: Manager) -> None:
    await manager.register_queue(QueueMeta(queue="limited", concurrency=3))
    await manager.create_tasks("limited", [TaskMeta(payload=i) for i in range(40)])
    pools = [await asyncpg.create_pool(dsn, min_size=1, max_size=1) for _ in range(10)]
    try:
        claimers = [await Manager.new(p, "test", migrate_schema=False) for p in pools]
        # Ten claimers asking for two tasks each at once: exactly the limit is handed out.
        start = asyncio.Event()

        async def claim_once(mgr: Manager, index: int) -> list[Task]:
            await start.wait()
            return await mgr.next_tasks(f"w{index}", "limited", limit=2)

        runs = [asyncio.create_task(claim_once(m, i)) for i, m in enumerate(claimers)]
        start.set()
        first = [t for got in await asyncio.gather(*runs) for t in got]
        assert len(first) == 3
        for task in first:
            await manager.release_task(task.id, success=True)

        # Then all of them claim and release until the queue is drained.
        held: set[int] = set()  # always a subset of what the database holds retained

        async def churn(mgr: Manager, index: int) -> None:
            while True:
                tasks = await mgr.next_tasks(f"w{index}", "limited", limit=2)
                if not tasks:
                    if not held:
                        return
                    await asyncio.sleep(0)
                    continue
                held.update(t.id for t in tasks)
                assert len(held) <= 3
                assert (await mgr.list_tasks(queue="limited", status="retained"))[0] <= 3
                for task in tasks:
                    held.discard(task.id)
                    await mgr.release_task(task.id, success=True)

        await asyncio.gather(*(churn(m, i) for i, m in enumerate(claimers)))
    finally:
        for p in pools:
            await p.close()
    assert (await manager.list_tasks(queue="limited", status="released"))[0] == 40


async def test_concurrency_limit_counts_only_live_claims(
    manager: Manager, conn: asyncpg.Connection
) -> None:
    """A retained task that expired no longer takes a slot of the queue's limit."""
    await manager.register_queue(QueueMeta(queue="limited", concurrency=1))
    await manager.create_tasks("limited", [TaskMeta(payload=i) for i in range(2)])
    first = await manager.next_task("w", "limited")
    assert first is not None
    assert await manager.next_task("w", "limited") is None
    await shift_task(conn, first.id, dies_at="now()")
    second = await manager.next_task("w", "limited")
    assert second is not None and second.id != first.id


async def test_limit_applies_per_queue(three: Manager) -> None:
    await three.update_queue("a", QueueMeta(concurrency=1))
    await three.create_tasks("a", [TaskMeta(payload=i) for i in range(3)])
    await three.create_tasks("b", [TaskMeta(payload=i) for i in range(3)])
    got = await three.next_tasks("w", limit=10)
    assert Counter(t.queue for t in got) == {"a": 1, "b": 3}


async def test_a_claim_never_waits_for_a_row_another_transaction_holds(
    manager: Manager, queue: str, conn: asyncpg.Connection
) -> None:
    # FOR UPDATE SKIP LOCKED: a claim passes over a waiting task that another transaction
    # has locked (another claimer mid-claim, an operator's UPDATE) instead of queueing
    # behind it. The locked task is the oldest, so a blocking claim would wait on it first.
    ids = await manager.create_tasks(queue, [TaskMeta(payload=i) for i in range(4)])
    async with conn.transaction():
        locked = await conn.fetchval("SELECT id FROM pgqueue.task WHERE id = $1 FOR UPDATE", ids[0])
        assert locked == ids[0]
        async with asyncio.timeout(2):  # a blocking claim waits until the rollback: never
            one = await manager.next_task("w1", queue)
            rest = await manager.next_tasks("w2", queue, limit=10)
    assert one is not None and one.id == ids[1]
    assert [t.id for t in rest] == ids[2:]
    # Once the lock is gone the skipped task is claimed like any other.
    again = await manager.next_task("w3", queue)
    assert again is not None and again.id == ids[0] and again.attempt == 1
