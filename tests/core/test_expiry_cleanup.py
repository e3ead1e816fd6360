"""Expiry (visible on read, stored by maintenance) and cleanup of finished tasks (defect 8)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg

from pgqueue_core import Maintenance, Manager, QueueMeta, Status, System, Task, TaskMeta
from tests.support.db import shift_task
from tests.support.waiting import value_when


async def stored_status(conn: asyncpg.Connection, task_id: int) -> str | None:
    status: str | None = await conn.fetchval(
        "SELECT status FROM pgqueue.task WHERE id = $1", task_id
    )
    return status


async def test_one_second_ttl_expires_on_read_and_is_never_retained(
    manager: Manager, conn: asyncpg.Connection
) -> None:
    await manager.register_queue(QueueMeta(queue="short", ttl=timedelta(seconds=1)))
    task = await manager.create_task("short", TaskMeta(payload=1))
    assert task.status is Status.NEW
    assert task.dies_at == task.created_at + timedelta(seconds=1)
    # Wait for the database clock to pass dies_at, reading the task as a client would.
    expired = await value_when(
        lambda: manager.get_task(task.id), lambda t: t.status is Status.EXPIRED
    )
    assert expired.finished_at == task.dies_at
    # No maintenance has run: the stored row still says new, yet nobody can retain it.
    assert await stored_status(conn, task.id) == "new"
    assert await manager.next_task("w", "short") is None
    assert await manager.next_task("w") is None
    assert await manager.list_tasks(status="expired") == (1, [expired])
    assert await manager.list_tasks(status="new") == (0, [])
    counts = {s.status: s.count for s in await manager.queue_stats()}
    assert counts[Status.EXPIRED] == 1 and counts[Status.NEW] == 0


async def test_overdue_retained_task_reads_as_expired(
    manager: Manager, queue: str, conn: asyncpg.Connection
) -> None:
    await manager.create_task(queue, TaskMeta(payload=1))
    task = await manager.next_task("w", queue)
    assert task is not None
    await shift_task(conn, task.id, dies_at="now() - interval '1 second'")
    read = await manager.get_task(task.id)
    assert read.status is Status.EXPIRED
    assert read.finished_at == read.dies_at
    assert read.leased_until is None
    assert (await manager.list_tasks(status="retained"))[0] == 0


async def test_system_expire_stores_the_status(
    manager: Manager, queue: str, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    other = manager.with_namespace("other")
    await other.register_queue(QueueMeta(queue=queue))
    ids = await manager.create_tasks(queue, [TaskMeta(payload=i) for i in range(12)])
    ids += await other.create_tasks(queue, [TaskMeta(payload=i) for i in range(3)])
    held = await manager.next_task("w", queue)
    assert held is not None
    await conn.execute("UPDATE pgqueue.task SET dies_at = now() - interval '1 second'")
    fresh = await manager.create_task(queue, TaskMeta(payload="fresh"))
    assert await System(pool).expire(batch=5) == 15
    for task_id in ids:
        assert await stored_status(conn, task_id) == "expired"
    assert await stored_status(conn, fresh.id) == "new"
    read = await manager.get_task(held.id)
    assert read.status is Status.EXPIRED and read.finished_at == read.dies_at
    assert await System(pool).expire() == 0


async def finish(manager: Manager, queue: str, success: bool) -> Task:
    await manager.create_task(queue, TaskMeta(payload=success))
    task = await manager.next_task("w", queue)
    assert task is not None
    return await manager.release_task(task.id, success=success)


async def test_cleanup_after_the_queue_ttl(
    manager: Manager, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    await manager.register_queue(QueueMeta(queue="q", ttl=timedelta(hours=1), retries=0))
    old_done = await finish(manager, "q", True)
    old_failed = await finish(manager, "q", False)
    old_cancelled = await manager.cancel_task(
        (await manager.create_task("q", TaskMeta(payload="c"))).id
    )
    recent = await finish(manager, "q", True)
    waiting = await manager.create_task("q", TaskMeta(payload="waiting"))
    for task in (old_done, old_failed, old_cancelled):
        await shift_task(conn, task.id, finished_at="now() - interval '1 hour 1 second'")
    await shift_task(conn, recent.id, finished_at="now() - interval '59 minutes'")
    await shift_task(conn, waiting.id, created_at="now() - interval '1 day'")
    assert await System(pool).cleanup() == 3
    _, left = await manager.list_tasks()
    assert [t.id for t in left] == [recent.id, waiting.id]
    assert await System(pool).cleanup() == 0


async def test_expired_tasks_are_cleaned_a_ttl_after_dies_at(
    manager: Manager, queue: str, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    long_ago = await manager.create_task(queue, TaskMeta(payload=1))
    lately = await manager.create_task(queue, TaskMeta(payload=2))
    await shift_task(conn, long_ago.id, dies_at="now() - interval '1 hour 1 second'")
    await shift_task(conn, lately.id, dies_at="now() - interval '10 minutes'")
    # Nothing stored the expiry yet: cleanup still sees both as ended at dies_at.
    assert await System(pool).cleanup() == 1
    _, left = await manager.list_tasks()
    assert [(t.id, t.status) for t in left] == [(lately.id, Status.EXPIRED)]


async def test_cleanup_uses_each_queues_own_ttl(
    manager: Manager, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    await manager.register_queue(QueueMeta(queue="short", ttl=timedelta(minutes=1)))
    await manager.register_queue(QueueMeta(queue="long", ttl=timedelta(days=1)))
    short = await finish(manager, "short", True)
    long = await finish(manager, "long", True)
    for task in (short, long):
        await shift_task(conn, task.id, finished_at="now() - interval '2 hours'")
    assert await System(pool).cleanup() == 1
    assert [t.id for t in (await manager.list_tasks())[1]] == [long.id]


async def test_cleanup_has_no_cap_and_covers_every_namespace(
    manager: Manager, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    """Defect 8: no per-run cap, and every namespace, not just the one holding the ticker."""
    other = manager.with_namespace("other")
    for mgr in (manager, other):
        await mgr.register_queue(QueueMeta(queue="q"))
        await mgr.create_tasks("q", [TaskMeta(payload=i) for i in range(150)])
        claimed = await mgr.next_tasks("w", "q", limit=150)
        assert len(claimed) == 150
        for task in claimed:
            await mgr.release_task(task.id, success=True)
    await conn.execute("UPDATE pgqueue.task SET finished_at = now() - interval '2 hours'")
    assert await System(pool).cleanup(batch=7) == 300
    assert await conn.fetchval("SELECT count(*) FROM pgqueue.task") == 0


async def test_cleanup_runs_in_one_process_at_a_time(
    manager: Manager, queue: str, pool: asyncpg.Pool, dsn: str, conn: asyncpg.Connection
) -> None:
    done = await finish(manager, queue, True)
    await shift_task(conn, done.id, finished_at="now() - interval '2 hours'")
    # Another process is cleaning up (it holds the job's lock): this one does nothing.
    other = await asyncpg.connect(dsn)
    try:
        async with other.transaction():
            await other.execute("SELECT pg_advisory_xact_lock(hashtext('pgqueue'), 3)")
            assert await System(pool).cleanup() == 0
            assert (await manager.get_task(done.id)).status is Status.RELEASED
    finally:
        await other.close()
    assert await System(pool).cleanup() == 1


async def test_maintenance_claims_each_period_once(
    manager: Manager, pool: asyncpg.Pool, dsn: str, conn: asyncpg.Connection
) -> None:
    await manager.register_queue(QueueMeta(queue="q", retries=0))
    old = [await finish(manager, "q", True) for _ in range(3)]
    for task in old:
        await shift_task(conn, task.id, finished_at="now() - interval '2 hours'")
    second_pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    try:
        one, two = Maintenance(pool), Maintenance(second_pool)
        ran = await asyncio.gather(one.run_due(), two.run_due())
    finally:
        await second_pool.close()
    jobs = sorted(job for jobs in ran for job in jobs)
    assert jobs == ["cleanup", "lease-rescue", "vacuum"]
    assert one.counts["cleaned"] + two.counts["cleaned"] == 3
    assert await one.run_due() == []
    assert await conn.fetchval("SELECT count(*) FROM pgqueue.task") == 0


async def test_maintenance_loop_starts_and_stops(pool: asyncpg.Pool) -> None:
    maintenance = Maintenance(pool)
    await maintenance.stop()  # before start: harmless
    maintenance.start()
    assert maintenance.running
    async with asyncio.timeout(2):
        await maintenance.stop()
    assert not maintenance.running
    await maintenance.stop()


async def test_status_is_stored_and_indexed(manager: Manager, conn: asyncpg.Connection) -> None:
    """Defect 14: the status is a stored, indexed column, not computed by a function."""
    column = await conn.fetchrow(
        "SELECT data_type FROM information_schema.columns "
        "WHERE table_schema = 'pgqueue' AND table_name = 'task' AND column_name = 'status'"
    )
    assert column is not None and column["data_type"] == "text"
    indexes = await conn.fetch(
        "SELECT indexdef FROM pg_indexes WHERE schemaname = 'pgqueue' AND tablename = 'task'"
    )
    assert any("status" in r["indexdef"] for r in indexes)
    # The status-as-read helpers are one-expression SQL functions that the planner inlines:
    # a read of a large table calls no function per row.
    from pgqueue_core import queries

    sql = queries.load("pgqueue")["task_list"].sql
    for param, value in (("$1", "'test'"), ("$2", "NULL"), ("$3", "'new'"), ("$4", "0")):
        sql = sql.replace(param, value)
    plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN VERBOSE " + sql.replace("$5", "10")))
    assert "task_status(" not in plan and "task_has_status(" not in plan, plan
    assert "CASE WHEN" in plan
    # A stored terminal status is what a read returns.
    await manager.register_queue(QueueMeta(queue="q"))
    for status in ("released", "failed", "cancelled", "expired"):
        task = await manager.create_task("q", TaskMeta(payload=1))
        await conn.execute(
            "UPDATE pgqueue.task SET status = $2, finished_at = now() WHERE id = $1",
            task.id,
            status,
        )
        assert (await manager.get_task(task.id)).status == status
