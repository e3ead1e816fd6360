"""Releasing tasks: success, failure with exponential backoff, retries, who may release."""

from __future__ import annotations

import itertools
from datetime import timedelta

import asyncpg
import pytest

from pgqueue_core import (
    Completion,
    InvalidArgument,
    Manager,
    NotFound,
    QueueMeta,
    Status,
    Task,
    TaskMeta,
)
from tests.support.db import db_now, shift_task


async def claim(manager: Manager, queue: str, worker: str = "w") -> Task:
    task = await manager.next_task(worker, queue)
    assert task is not None
    return task


async def make_eligible(conn: asyncpg.Connection, task_id: int) -> None:
    """Time travel: the task's backoff is over."""
    await shift_task(conn, task_id, delayed_at="now() - interval '1 millisecond'")


async def test_release_success(manager: Manager, queue: str, conn: asyncpg.Connection) -> None:
    created = await manager.create_task(queue, TaskMeta(payload=1))
    task = await claim(manager, queue)
    before = await db_now(conn)
    done = await manager.release_task(task.id, success=True, result={"sent": True})
    after = await db_now(conn)
    assert done.id == created.id
    assert done.status is Status.RELEASED
    assert done.result == {"sent": True}
    assert done.finished_at is not None and before <= done.finished_at <= after
    assert done.leased_until is None
    assert (done.worker, done.attempt, done.retries) == ("w", 1, 3)
    assert await manager.get_task(task.id) == done
    assert await manager.next_task("w", queue) is None


async def test_release_failure_with_retries_left(
    manager: Manager, conn: asyncpg.Connection
) -> None:
    await manager.register_queue(QueueMeta(queue="q", retries=3, retry_delay=timedelta(seconds=30)))
    await manager.create_task("q", TaskMeta(payload=1))
    task = await claim(manager, "q")
    before = await db_now(conn)
    failed = await manager.release_task(task.id, success=False, result={"error": "boom"})
    after = await db_now(conn)
    assert failed.status is Status.RETRY
    assert failed.retries == 2
    assert failed.result == {"error": "boom"}
    assert failed.finished_at is None
    assert failed.delayed_at is not None
    assert before + timedelta(seconds=30) <= failed.delayed_at <= after + timedelta(seconds=33)
    # Not eligible until the backoff is over.
    assert await manager.next_task("w", "q") is None
    await make_eligible(conn, task.id)
    again = await claim(manager, "q", "other")
    assert (again.id, again.attempt, again.worker) == (task.id, 2, "other")


async def test_backoff_doubles(manager: Manager, conn: asyncpg.Connection) -> None:
    """Defect 7: retry_delay × 2^(attempt-1) (plus up to 10 % jitter), not quadratic."""
    base = timedelta(seconds=10)
    await manager.register_queue(QueueMeta(queue="q", retries=4, retry_delay=base))
    created = await manager.create_task("q", TaskMeta(payload=1))
    delays = []
    for attempt in range(1, 5):
        task = await claim(manager, "q")
        assert task.attempt == attempt
        before = await db_now(conn)
        failed = await manager.release_task(task.id, success=False)
        after = await db_now(conn)
        assert failed.status is Status.RETRY and failed.delayed_at is not None
        expected = base * 2 ** (attempt - 1)
        assert before + expected <= failed.delayed_at <= after + expected * 1.1
        delays.append((failed.delayed_at - after, failed.delayed_at - before))
        await make_eligible(conn, created.id)
    # Each delay is about twice the one before (jitter allows 1.8× to 2.2×).
    for (low, high), (next_low, next_high) in itertools.pairwise(delays):
        assert 1.8 * low.total_seconds() <= next_high.total_seconds()
        assert next_low.total_seconds() <= 2.2 * high.total_seconds()
    last = await claim(manager, "q")
    assert (await manager.release_task(last.id, success=False)).status is Status.FAILED


async def test_backoff_of_a_huge_attempt_stays_within_dies_at(
    manager: Manager, queue: str, conn: asyncpg.Connection
) -> None:
    await manager.create_task(queue, TaskMeta(payload=1))
    task = await claim(manager, queue)
    await conn.execute("UPDATE pgqueue.task SET attempt = 100000 WHERE id = $1", task.id)
    failed = await manager.release_task(task.id, success=False)
    assert failed.status is Status.RETRY
    assert failed.delayed_at == failed.dies_at


async def test_retries_two_means_three_runs(manager: Manager, conn: asyncpg.Connection) -> None:
    await manager.register_queue(QueueMeta(queue="q", retries=2))
    created = await manager.create_task("q", TaskMeta(payload=1))
    runs = 0
    while (task := await manager.next_task("w", "q")) is not None:
        runs += 1
        assert task.attempt == runs
        released = await manager.release_task(task.id, success=False, result={"run": runs})
        if released.status is Status.RETRY:
            await make_eligible(conn, task.id)
    assert runs == 3
    final = await manager.get_task(created.id)
    assert final.status is Status.FAILED
    assert (final.retries, final.attempt, final.result) == (0, 3, {"run": 3})
    assert final.finished_at is not None


async def test_retries_zero_means_one_run(manager: Manager) -> None:
    """Defect 7: retries = 0 means one run and no retry (it used to mean "never run")."""
    await manager.register_queue(QueueMeta(queue="q", retries=0))
    created = await manager.create_task("q", TaskMeta(payload=1))
    task = await claim(manager, "q")
    assert task.id == created.id
    failed = await manager.release_task(task.id, success=False, result="nope")
    assert failed.status is Status.FAILED
    assert failed.result == "nope"
    assert await manager.next_task("w", "q") is None


async def test_success_after_a_retry(
    manager: Manager, queue: str, conn: asyncpg.Connection
) -> None:
    await manager.create_task(queue, TaskMeta(payload=1))
    first = await claim(manager, queue)
    await manager.release_task(first.id, success=False, result="first")
    await make_eligible(conn, first.id)
    second = await claim(manager, queue)
    done = await manager.release_task(second.id, success=True, result="second")
    assert (done.status, done.result, done.attempt, done.retries) == (
        Status.RELEASED,
        "second",
        2,
        2,
    )


async def test_releasing_a_task_that_is_not_retained(
    manager: Manager, queue: str, conn: asyncpg.Connection
) -> None:
    waiting = await manager.create_task(queue, TaskMeta(payload=1))
    with pytest.raises(NotFound, match="not retained"):
        await manager.release_task(waiting.id, success=True)
    with pytest.raises(NotFound):
        await manager.release_task(waiting.id, success=False)
    assert (await manager.get_task(waiting.id)).status is Status.NEW
    task = await claim(manager, queue)
    await manager.release_task(task.id, success=True, result=1)
    for success in (True, False):
        with pytest.raises(NotFound):
            await manager.release_task(task.id, success=success, result=2)
    assert (await manager.get_task(task.id)).result == 1
    with pytest.raises(NotFound, match="not found"):
        await manager.release_task(987654, success=True)


async def test_releasing_an_expired_task(
    manager: Manager, queue: str, conn: asyncpg.Connection
) -> None:
    await manager.create_task(queue, TaskMeta(payload=1))
    task = await claim(manager, queue)
    await shift_task(conn, task.id, dies_at="now()")
    with pytest.raises(NotFound):
        await manager.release_task(task.id, success=True)
    assert (await manager.get_task(task.id)).status is Status.EXPIRED


async def test_release_guards_on_worker_and_attempt(manager: Manager, queue: str) -> None:
    await manager.create_task(queue, TaskMeta(payload=1))
    task = await claim(manager, queue, "mine")
    with pytest.raises(NotFound):
        await manager.release_task(task.id, success=True, worker="someone-else")
    with pytest.raises(NotFound):
        await manager.release_task(task.id, success=True, attempt=task.attempt + 1)
    done = await manager.release_task(task.id, success=True, worker="mine", attempt=1)
    assert done.status is Status.RELEASED


async def test_success_must_be_boolean(manager: Manager, queue: str) -> None:
    await manager.create_task(queue, TaskMeta(payload=1))
    task = await claim(manager, queue)
    for success in (None, 1, "yes"):
        with pytest.raises(InvalidArgument):
            await manager.release_task(task.id, success=success)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument):
        await manager.release_task(task.id, success=True, result=float("inf"))
    assert (await manager.get_task(task.id)).status is Status.RETAINED


async def test_release_many(manager: Manager, conn: asyncpg.Connection) -> None:
    await manager.register_queue(QueueMeta(queue="q", retries=1))
    await manager.create_tasks("q", [TaskMeta(payload=i) for i in range(4)])
    a, b, c, d = await manager.next_tasks("w", "q", limit=4)
    outcome = await manager.release_tasks(
        "w",
        [
            Completion(a.id, a.attempt, True, "a"),
            Completion(b.id, b.attempt, False, "b"),
            Completion(c.id, c.attempt + 1, True, "stale claim"),
        ],
    )
    assert outcome == {a.id: Status.RELEASED, b.id: Status.RETRY}
    assert (await manager.get_task(c.id)).status is Status.RETAINED
    assert await manager.release_tasks("other", [Completion(d.id, d.attempt, True)]) == {}
    assert await manager.release_tasks("w", []) == {}
    assert (await manager.get_task(b.id)).result == "b"
