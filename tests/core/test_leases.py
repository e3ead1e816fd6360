"""Leases: heartbeats extend them; a lapsed lease sends the task back (defect 6)."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from pgqueue_core import (
    InvalidArgument,
    Maintenance,
    Manager,
    NotFound,
    QueueMeta,
    Status,
    System,
    TaskMeta,
)
from tests.support.db import db_now, shift_task


async def test_claim_sets_the_queue_lease(manager: Manager, conn: asyncpg.Connection) -> None:
    await manager.register_queue(QueueMeta(queue="q", lease=timedelta(seconds=90)))
    await manager.create_task("q", TaskMeta(payload=1))
    task = await manager.next_task("w", "q")
    assert task is not None and task.started_at is not None
    assert task.leased_until == task.started_at + timedelta(seconds=90)


async def test_extend_lease(manager: Manager, queue: str, conn: asyncpg.Connection) -> None:
    await manager.create_task(queue, TaskMeta(payload=1))
    task = await manager.next_task("w", queue)
    assert task is not None
    await shift_task(conn, task.id, leased_until="now() + interval '1 second'")
    before = await db_now(conn)
    lease = await manager.extend_lease(task.id)
    after = await db_now(conn)
    assert lease.id == task.id and lease.cancel_requested is False
    assert before + timedelta(minutes=5) <= lease.leased_until <= after + timedelta(minutes=5)
    lease = await manager.extend_lease(task.id, timedelta(hours=2), worker="w")
    assert lease.leased_until >= after + timedelta(hours=2)
    assert (await manager.get_task(task.id)).leased_until == lease.leased_until


async def test_extend_lease_guards(manager: Manager, queue: str) -> None:
    waiting = await manager.create_task(queue, TaskMeta(payload=1))
    held = await manager.create_task(queue, TaskMeta(payload=2))
    await manager.create_task(queue, TaskMeta(payload=3))
    first = await manager.next_task("w", queue)
    second = await manager.next_task("w", queue)
    assert first and second and first.id == waiting.id and second.id == held.id
    await manager.release_task(first.id, success=True)
    with pytest.raises(NotFound, match="not retained"):
        await manager.extend_lease(first.id)
    with pytest.raises(NotFound):
        await manager.extend_lease(second.id, worker="thief")
    with pytest.raises(NotFound):
        await manager.extend_lease(424242)
    with pytest.raises(InvalidArgument):
        await manager.extend_lease(second.id, timedelta(milliseconds=10))
    leases = await manager.extend_leases([first.id, second.id, 424242])
    assert set(leases) == {second.id}
    assert await manager.extend_leases([]) == {}


async def test_heartbeat_reports_a_cancel_request(manager: Manager, queue: str) -> None:
    await manager.create_task(queue, TaskMeta(payload=1))
    task = await manager.next_task("w", queue)
    assert task is not None
    await manager.cancel_task(task.id)
    lease = await manager.extend_lease(task.id)
    assert lease.cancel_requested is True


async def test_lapsed_lease_is_rescued(
    manager: Manager, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    await manager.register_queue(QueueMeta(queue="q", retries=1, retry_delay=timedelta(seconds=20)))
    lost = await manager.create_task("q", TaskMeta(payload="lost"))
    alive = await manager.create_task("q", TaskMeta(payload="alive"))
    dead_claim = await manager.next_task("dead-worker", "q")
    live_claim = await manager.next_task("live-worker", "q")
    assert dead_claim and live_claim and dead_claim.id == lost.id
    await shift_task(conn, lost.id, leased_until="now() - interval '1 second'")
    system = System(pool)
    before = await db_now(conn)
    assert await system.rescue() == 1
    rescued = await manager.get_task(lost.id)
    assert rescued.status is Status.RETRY
    assert rescued.retries == 0
    assert rescued.leased_until is None
    assert rescued.result["error"] == "LeaseExpired"
    assert rescued.result["worker"] == "dead-worker"
    assert rescued.delayed_at is not None
    assert rescued.delayed_at >= before + timedelta(seconds=20)
    assert (await manager.get_task(alive.id)).status is Status.RETAINED
    assert await system.rescue() == 0
    # The dead worker's late release is refused; the task runs again elsewhere.
    with pytest.raises(NotFound):
        await manager.release_task(lost.id, success=True, worker="dead-worker", attempt=1)
    await shift_task(conn, lost.id, delayed_at="now() - interval '1 millisecond'")
    again = await manager.next_task("new-worker", "q")
    assert again is not None and (again.id, again.attempt) == (lost.id, 2)
    # With no retries left a lapsed lease ends the task as failed.
    await shift_task(conn, lost.id, leased_until="now() - interval '1 second'")
    assert await system.rescue() == 1
    assert (await manager.get_task(lost.id)).status is Status.FAILED


async def test_lapsed_lease_of_a_cancelled_task(
    manager: Manager, queue: str, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    await manager.create_task(queue, TaskMeta(payload=1))
    task = await manager.next_task("w", queue)
    assert task is not None
    await manager.cancel_task(task.id)
    await shift_task(conn, task.id, leased_until="now() - interval '1 second'")
    assert await System(pool).rescue() == 1
    assert (await manager.get_task(task.id)).status is Status.CANCELLED


async def test_rescue_covers_every_namespace_in_batches(
    manager: Manager, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    other = manager.with_namespace("other")
    for mgr in (manager, other):
        await mgr.register_queue(QueueMeta(queue="q"))
        await mgr.create_tasks("q", [TaskMeta(payload=i) for i in range(15)])
        assert len(await mgr.next_tasks("w", "q", limit=15)) == 15
    await conn.execute("UPDATE pgqueue.task SET leased_until = now() - interval '1 second'")
    assert await System(pool).rescue(batch=4) == 30
    for mgr in (manager, other):
        assert (await mgr.list_tasks(status="retry"))[0] == 15


async def test_maintenance_rescues_lapsed_leases(
    manager: Manager, queue: str, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    await manager.create_task(queue, TaskMeta(payload=1))
    task = await manager.next_task("w", queue)
    assert task is not None
    await shift_task(conn, task.id, leased_until="now() - interval '1 second'")
    maintenance = Maintenance(pool)
    assert "lease-rescue" in await maintenance.run_due()
    assert maintenance.counts["rescued"] == 1
    assert (await manager.get_task(task.id)).status is Status.RETRY
