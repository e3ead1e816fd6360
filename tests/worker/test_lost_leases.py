"""A lease lost under a live worker: maintenance elsewhere rescued the tasks it holds.

The worker must let go at its next heartbeat: cancel the handler, never start the rescued
tasks it had claimed ahead, and never apply a late result over what happened since.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from datetime import timedelta

import asyncpg

from pgqueue_core import Manager, QueueMeta, Status, System, Task, TaskMeta, Worker
from tests.support.waiting import wait_for
from tests.support.worker import running_worker


async def lapse_and_rescue(pool: asyncpg.Pool, ids: list[int]) -> None:
    """Make the leases of `ids` lapse and run maintenance's lease rescue, as another process
    would after a lease: until every one of them is rescued (a heartbeat landing between
    the two statements extends the leases again, so the pair is repeated, bounded)."""
    system = System(pool)

    async def rescued() -> bool:
        await pool.execute(
            "UPDATE pgqueue.task SET leased_until = now() - interval '1 second' "
            "WHERE id = ANY ($1::bigint[]) AND status = 'retained'",
            ids,
        )
        await system.rescue()
        left = await pool.fetchval(
            "SELECT count(*) FROM pgqueue.task WHERE id = ANY ($1::bigint[]) "
            "AND status = 'retained'",
            ids,
        )
        return bool(left == 0)

    await wait_for(rescued, 10, "the leases to lapse and the tasks to be rescued")


async def test_lost_lease_cancels_the_handler_and_drops_rescued_siblings(
    manager: Manager, pool: asyncpg.Pool
) -> None:
    # A long backoff: the rescued tasks stay waiting, nobody claims them again here.
    await manager.register_queue(QueueMeta(queue="jobs", retry_delay=timedelta(hours=1)))
    ids = await manager.create_tasks("jobs", [TaskMeta(payload=i) for i in range(3)])
    started: list[int] = []
    first_running, cancelled = asyncio.Event(), asyncio.Event()

    async def handle(task: Task) -> str:
        started.append(task.id)
        first_running.set()
        try:
            await asyncio.Event().wait()  # works until told otherwise
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return "finished"

    # One handler at a time, two tasks claimed ahead of it: one runs, two wait in the buffer.
    worker = Worker(
        manager,
        "w",
        {"jobs": handle},
        concurrency=1,
        prefetch=2,
        heartbeat_interval=0.1,
        maintenance=False,
        grace_period=1,
        handle_signals=False,
    )
    async with running_worker(worker):
        async with asyncio.timeout(10):
            await first_running.wait()
        await wait_for(_true(lambda: worker.held == 3), 10, "one task running, two buffered")
        await lapse_and_rescue(pool, ids)
        async with asyncio.timeout(10):
            await cancelled.wait()  # the handler of a lost task is cancelled
        await wait_for(_true(lambda: worker.stats.lost == 3), 10, "all three counted lost")
        assert worker.held == 0
    assert started == [ids[0]]  # the rescued siblings in the buffer never started
    assert worker.stats.succeeded == worker.stats.failed == worker.stats.given_back == 0
    for task_id in ids:  # the rescue's outcome stands, untouched by the worker
        task = await manager.get_task(task_id)
        assert task.status == Status.RETRY and task.attempt == 1, task
        assert task.result["error"] == "LeaseExpired", task.result


async def test_late_result_of_a_lost_task_is_not_applied(
    manager: Manager, pool: asyncpg.Pool
) -> None:
    await manager.register_queue(QueueMeta(queue="jobs", retry_delay=timedelta(seconds=1)))
    (task_id,) = await manager.create_tasks("jobs", [TaskMeta(payload="x")])
    first_running, cancelled, late = asyncio.Event(), asyncio.Event(), asyncio.Event()

    async def handle(task: Task) -> str:
        if task.attempt > 1:
            return f"attempt {task.attempt}"
        first_running.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
        # A handler that will not be told: it ignores every cancellation (each heartbeat
        # that finds the lease lost cancels it again) and returns its result regardless,
        # when the test lets it (or after 20 s: a failed test must not hang on it).
        deadline = asyncio.get_running_loop().time() + 20
        while not late.is_set() and asyncio.get_running_loop().time() < deadline:
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(late.wait(), 1)
        return "late"

    # The same worker claims the rescued task again (attempt 2) while the handler of
    # attempt 1 still runs; the late result of attempt 1 must not release attempt 2.
    worker = Worker(
        manager,
        "w",
        {"jobs": handle},
        concurrency=1,
        prefetch=1,
        heartbeat_interval=0.1,
        poll_interval=0.2,
        maintenance=False,
        grace_period=1,
        handle_signals=False,
    )

    async def claimed_again() -> bool:
        task = await manager.get_task(task_id)
        return task.status == Status.RETAINED and task.attempt == 2

    async def released() -> bool:
        return (await manager.get_task(task_id)).status == Status.RELEASED

    async with running_worker(worker):
        async with asyncio.timeout(10):
            await first_running.wait()
        await lapse_and_rescue(pool, [task_id])
        async with asyncio.timeout(10):
            await cancelled.wait()
        await wait_for(claimed_again, 10, "the rescued task to be claimed again")
        late.set()  # attempt 1 returns its result now
        await wait_for(released, 10, "attempt 2 to be released")
    task = await manager.get_task(task_id)
    assert task.attempt == 2 and task.result == "attempt 2", task
    assert worker.stats.lost == 1 and worker.stats.succeeded == 1, worker.stats


def _true(check: Callable[[], bool]) -> Callable[[], Awaitable[bool]]:
    """A plain condition for `eventually`."""

    async def condition() -> bool:
        return check()

    return condition
