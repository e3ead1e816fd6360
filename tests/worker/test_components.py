"""The Worker's parts, each alone against a real PostgreSQL: Claimer, Completer, LeaseKeeper.

Each is a background loop (start; stop within a second, twice harmless) driven through its
own narrow interface, with a Manager for the database and no Worker around it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from collections.abc import Callable
from datetime import timedelta

import asyncpg
import pytest

from pgqueue_core import Manager, QueueMeta, Status, System, TaskMeta
from pgqueue_core.service import BackgroundLoop
from pgqueue_core.worker import Claimer, Completer, LeaseKeeper, WorkerStats
from pgqueue_core.worker.leases import Claim
from tests.support.waiting import wait_for


@pytest.fixture
async def jobs(manager: Manager) -> Manager:
    await manager.register_queue(QueueMeta(queue="jobs", retry_delay=timedelta(hours=1)))
    return manager


async def stopped_promptly(loop: BackgroundLoop) -> None:
    """Stop a loop: within a second, and a second stop is harmless."""
    started = time.monotonic()
    await loop.stop()
    assert time.monotonic() - started < 1.5
    assert not loop.running
    await loop.stop()


# ---- Claimer ------------------------------------------------------------------------------


def claimer_of(manager: Manager, claimed: asyncio.Event, **options: object) -> Claimer:
    settings: dict[str, object] = {
        "concurrency": 2,
        "prefetch": 0,
        "max_prefetch": 0,
        "poll_interval": 60.0,  # only a notification wakes it within a test
        "notifier": manager.notifier,
        "running": lambda: 0,  # no handlers: what it holds is its buffer
        "on_claimed": claimed.set,
        "stats": WorkerStats(),
    } | options
    return Claimer(manager, "c", ["jobs"], **settings)  # type: ignore[arg-type]


async def test_claimer_claims_for_free_room_only(jobs: Manager) -> None:
    ids = await jobs.create_tasks("jobs", [TaskMeta(payload=i) for i in range(5)])
    claimed = asyncio.Event()
    claimer = claimer_of(jobs, claimed)
    claimer.start()
    try:
        async with asyncio.timeout(5):
            await claimed.wait()
        assert [t.id for t in claimer.buffer] == ids[:2]  # concurrency 2, nothing ahead
        first = claimer.take()
        assert first is not None and first.id == ids[0] and first.worker == "c"
        assert claimer.take() is not None
        claimed.clear()
        claimer.room_freed()  # the buffer is empty (prefetch 0): room for two more
        async with asyncio.timeout(5):
            await claimed.wait()
        assert [t.id for t in claimer.buffer] == ids[2:4]
    finally:
        await stopped_promptly(claimer)
    assert claimer.stats.claimed == 4
    waiting, _ = await jobs.list_tasks(queue="jobs", status="new")
    assert waiting == 1  # nothing claimed beyond its room, nor after the stop
    # The lost claims a heartbeat reports leave the buffer (by id and attempt).
    assert claimer.discard({(ids[2], 2)}) == []
    assert [t.id for t in claimer.discard({(ids[2], 1)})] == [ids[2]]
    assert [t.id for t in claimer.take_all()] == [ids[3]] and not claimer.buffer


async def test_claimer_wakes_on_notify_and_adapts_its_buffer(jobs: Manager) -> None:
    claimed = asyncio.Event()
    claimer = claimer_of(jobs, claimed, concurrency=4, prefetch=None, max_prefetch=32)
    assert claimer.prefetch_now() == 4  # nothing measured yet: one buffer of concurrency
    claimer.start()
    try:
        async with asyncio.timeout(5):
            await claimer.idle.wait()  # nothing to claim: waits (the poll is a minute away)
        task = await jobs.create_task("jobs", TaskMeta(payload="x"))
        async with asyncio.timeout(5):
            await claimed.wait()
        assert [t.id for t in claimer.buffer] == [task.id]
        for _ in range(100):  # handlers far faster than a claim: the buffer grows
            claimer.handler_ran(0.00001)
        assert claimer.prefetch_now() == 32
        for _ in range(200):  # far slower: nothing held ahead
            claimer.handler_ran(10.0)
        assert claimer.prefetch_now() == 0
    finally:
        await stopped_promptly(claimer)


# ---- Completer ----------------------------------------------------------------------------


async def test_completer_writes_batches_guarded_by_attempt(jobs: Manager) -> None:
    await jobs.create_tasks("jobs", [TaskMeta(payload=i) for i in range(3)])
    ok, failing, stale = await jobs.next_tasks("w", "jobs", limit=3)
    stats = WorkerStats()
    completer = Completer(jobs, "w", stats, flush_interval=0.01)
    completer.start()
    try:
        completer.add(ok, True, json.dumps({"ok": 1}))
        completer.add(failing, False, json.dumps({"error": "E"}))
        # A result for an older claim of the task than the one it is in: never applied.
        completer.add(dataclasses.replace(stale, attempt=stale.attempt - 1), True, '"old"')
        assert completer.pending == 3
        assert {t.id for t in completer.holding()} == {ok.id, failing.id, stale.id}

        async def written() -> bool:
            return completer.pending == 0

        await wait_for(written, 5, "the results to be written")
    finally:
        await stopped_promptly(completer)
    assert (await jobs.get_task(ok.id)).result == {"ok": 1}
    assert (await jobs.get_task(failing.id)).status == Status.RETRY
    still = await jobs.get_task(stale.id)
    assert still.status == Status.RETAINED and still.result is None
    assert (stats.succeeded, stats.failed, stats.lost, stats.flushes) == (1, 1, 1, 1)


async def test_completer_writes_what_is_left_when_stopped(jobs: Manager) -> None:
    await jobs.create_tasks("jobs", [TaskMeta(payload=i) for i in range(3)])
    tasks = await jobs.next_tasks("w", "jobs", limit=3)
    completer = Completer(jobs, "w", WorkerStats(), flush_interval=3600)  # gathers for ever
    completer.start()
    for task in tasks:
        completer.add(task, True, '"done"')
    await stopped_promptly(completer)  # no gathering once stopping: written at once
    assert completer.pending == 0
    total, _ = await jobs.list_tasks(queue="jobs", status="released")
    assert total == 3


async def test_completer_retries_after_a_database_error(pool: asyncpg.Pool, dsn: str) -> None:
    impatient = await Manager.new(pool, "test", query_timeout=0.3)
    await impatient.register_queue(QueueMeta(queue="jobs"))
    await impatient.create_tasks("jobs", [TaskMeta(payload=1)])
    (task,) = await impatient.next_tasks("w", "jobs")
    stats = WorkerStats()
    completer = Completer(impatient, "w", stats)
    conn = await asyncpg.connect(dsn)  # holds the row lock

    async def lock_waiters() -> int:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                "AND datname = current_database()"
            )
        )

    async def blocked() -> bool:
        return await lock_waiters() > 0

    async def timed_out() -> bool:
        return await lock_waiters() == 0

    async def released() -> bool:
        return (await impatient.get_task(task.id)).status == Status.RELEASED

    completer.start()
    try:
        async with conn.transaction():
            # The row is locked: the write waits, then fails by its query timeout.
            await conn.execute("SELECT 1 FROM pgqueue.task WHERE id = $1 FOR UPDATE", task.id)
            completer.add(task, True, '"done"')
            await wait_for(blocked, 5, "the write to wait for the row lock")
            await wait_for(timed_out, 5, "the write to fail by its timeout")
            assert stats.flushes == 0 and completer.pending == 1  # kept for the retry
        await wait_for(released, 5, "the retry to write the result")
    finally:
        await stopped_promptly(completer)
        await conn.close()
    assert stats.succeeded == 1 and stats.flushes == 1


# ---- LeaseKeeper --------------------------------------------------------------------------


async def test_lease_keeper_extends_and_reports_lost_and_cancelled(
    jobs: Manager, pool: asyncpg.Pool
) -> None:
    await jobs.create_tasks("jobs", [TaskMeta(payload=i) for i in range(3)])
    kept, cancelled, lost = await jobs.next_tasks("w", "jobs", limit=3)
    claims: set[Claim] = {(t.id, t.attempt) for t in (kept, cancelled, lost)}
    await jobs.cancel_task(cancelled.id)
    await pool.execute(
        "UPDATE pgqueue.task SET leased_until = now() - interval '1 second' WHERE id = $1",
        lost.id,
    )
    assert await System(pool).rescue() == 1
    reported: dict[str, set[Claim]] = {}
    both = asyncio.Event()

    def report(kind: str) -> Callable[[set[Claim]], None]:
        def record(found: set[Claim]) -> None:
            reported[kind] = found
            if len(reported) == 2:
                both.set()

        return record

    keeper = LeaseKeeper(
        jobs,
        "w",
        lambda: claims,
        every=0.05,
        on_lost=report("lost"),
        on_cancel=report("cancel"),
    )
    keeper.start()
    try:
        async with asyncio.timeout(5):
            await both.wait()
    finally:
        await stopped_promptly(keeper)
    assert reported == {"lost": {(lost.id, 1)}, "cancel": {(cancelled.id, 1)}}
    extended = await jobs.get_task(kept.id)
    assert extended.leased_until is not None and kept.leased_until is not None
    assert extended.leased_until > kept.leased_until
