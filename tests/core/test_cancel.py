"""Cancelling and requeueing tasks."""

from __future__ import annotations

from datetime import timedelta

import asyncpg
import pytest

from pgqueue_core import Conflict, InvalidArgument, Manager, NotFound, QueueMeta, Status, TaskMeta
from tests.support.db import shift_task


async def test_cancel_a_waiting_task(manager: Manager, queue: str) -> None:
    task = await manager.create_task(queue, TaskMeta(payload=1))
    cancelled = await manager.cancel_task(task.id)
    assert cancelled.status is Status.CANCELLED
    assert cancelled.finished_at is not None
    assert await manager.next_task("w", queue) is None
    with pytest.raises(Conflict):
        await manager.cancel_task(task.id)


async def test_cancel_a_retained_task(manager: Manager, queue: str) -> None:
    await manager.create_tasks(queue, [TaskMeta(payload=i) for i in range(2)])
    first = await manager.next_task("w", queue)
    second = await manager.next_task("w", queue)
    assert first and second
    flagged = await manager.cancel_task(first.id)
    assert flagged.status is Status.RETAINED and flagged.cancel_requested
    # The worker finds out: a failure ends it cancelled (no retry) ...
    ended = await manager.release_task(first.id, success=False, result="stopped")
    assert ended.status is Status.CANCELLED and ended.result == "stopped"
    # ... and work that completed anyway counts as done.
    await manager.cancel_task(second.id)
    done = await manager.release_task(second.id, success=True)
    assert done.status is Status.RELEASED


async def test_cancel_unknown_or_terminal(manager: Manager, queue: str) -> None:
    with pytest.raises(NotFound):
        await manager.cancel_task(5555)
    await manager.create_task(queue, TaskMeta(payload=1))
    task = await manager.next_task("w", queue)
    assert task is not None
    await manager.release_task(task.id, success=True)
    with pytest.raises(Conflict, match="released"):
        await manager.cancel_task(task.id)


async def test_requeue_a_failed_task(manager: Manager, conn: asyncpg.Connection) -> None:
    await manager.register_queue(QueueMeta(queue="q", retries=0, ttl=timedelta(minutes=10)))
    created = await manager.create_task("q", TaskMeta(payload="again"))
    task = await manager.next_task("w", "q")
    assert task is not None
    await manager.release_task(task.id, success=False, result="boom")
    await manager.update_queue("q", QueueMeta(retries=2))
    back = await manager.requeue_task(task.id)
    assert back.status is Status.NEW
    assert (back.retries, back.attempt, back.worker) == (2, 0, None)
    assert back.started_at is None and back.finished_at is None and back.delayed_at is None
    assert back.dies_at > created.dies_at
    assert back.payload == "again"
    again = await manager.next_task("w2", "q")
    assert again is not None and (again.id, again.attempt) == (task.id, 1)


async def test_requeue_expired_and_cancelled(
    manager: Manager, queue: str, conn: asyncpg.Connection
) -> None:
    expired = await manager.create_task(queue, TaskMeta(payload=1))
    cancelled = await manager.create_task(queue, TaskMeta(payload=2))
    await shift_task(conn, expired.id, dies_at="now()")
    await manager.cancel_task(cancelled.id)
    assert (await manager.requeue_task(expired.id)).status is Status.NEW
    assert (await manager.requeue_task(cancelled.id)).status is Status.NEW
    assert len(await manager.next_tasks("w", queue, limit=10)) == 2


async def test_requeue_refuses_live_tasks(manager: Manager, queue: str) -> None:
    task = await manager.create_task(queue, TaskMeta(payload=1))
    with pytest.raises(Conflict, match="only failed"):
        await manager.requeue_task(task.id)
    with pytest.raises(NotFound):
        await manager.requeue_task(99999)
    claimed = await manager.next_task("w", queue)
    assert claimed is not None
    with pytest.raises(Conflict):
        await manager.requeue_task(claimed.id)
    released = await manager.release_task(claimed.id, success=True)
    with pytest.raises(Conflict):
        await manager.requeue_task(released.id)


async def test_requeue_respects_a_live_key(manager: Manager, queue: str) -> None:
    old = await manager.create_task(queue, TaskMeta(payload=1, key="k"))
    await manager.cancel_task(old.id)
    live = await manager.create_task(queue, TaskMeta(payload=2, key="k"))
    assert live.id != old.id
    with pytest.raises(Conflict, match="key"):
        await manager.requeue_task(old.id)
    await manager.cancel_task(live.id)
    assert (await manager.requeue_task(old.id)).status is Status.NEW


async def test_requeue_tasks_of_a_queue(manager: Manager, conn: asyncpg.Connection) -> None:
    await manager.register_queue(QueueMeta(queue="q", retries=0))
    await manager.register_queue(QueueMeta(queue="other", retries=0))
    await manager.create_tasks("q", [TaskMeta(payload=i) for i in range(5)])
    await manager.create_task("other", TaskMeta(payload="x"))
    for task in await manager.next_tasks("w", limit=10):
        await manager.release_task(task.id, success=task.payload == 0)
    assert await manager.requeue_tasks("q", "failed") == 4
    assert (await manager.list_tasks(queue="q", status="new"))[0] == 4
    assert (await manager.list_tasks(queue="q", status="released"))[0] == 1
    assert (await manager.list_tasks(queue="other", status="failed"))[0] == 1
    assert await manager.requeue_tasks("q", Status.FAILED) == 0


async def test_requeue_tasks_brings_back_one_task_per_key(
    manager: Manager, queue: str, conn: asyncpg.Connection
) -> None:
    first = await manager.create_task(queue, TaskMeta(payload=1, key="k"))
    await manager.cancel_task(first.id)
    second = await manager.create_task(queue, TaskMeta(payload=2, key="k"))
    await manager.cancel_task(second.id)
    plain = await manager.create_task(queue, TaskMeta(payload=3))
    await shift_task(conn, plain.id, dies_at="now()")
    assert await manager.requeue_tasks(queue, "cancelled") == 1
    assert (await manager.get_task(second.id)).status is Status.NEW
    assert (await manager.get_task(first.id)).status is Status.CANCELLED
    assert await manager.requeue_tasks(queue, "expired") == 1
    assert (await manager.get_task(plain.id)).status is Status.NEW


async def test_requeue_tasks_arguments(manager: Manager, queue: str) -> None:
    for status in ("new", "retry", "retained", "released"):
        with pytest.raises(InvalidArgument):
            await manager.requeue_tasks(queue, status)
    with pytest.raises(InvalidArgument):
        await manager.requeue_tasks(queue, "bogus")
    with pytest.raises(NotFound):
        await manager.requeue_tasks("nope", "failed")
