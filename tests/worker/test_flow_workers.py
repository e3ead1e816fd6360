"""Flow control under real concurrent workers: a rate limit kept by four worker processes
together, fair claims while one queue drains a 100k backlog, and a circuit breaker's whole
cycle with a handler that fails and then recovers. (The rules one claim at a time:
tests/core/test_flow.py.)"""

from __future__ import annotations

import asyncio
import signal
from collections import Counter
from datetime import timedelta
from pathlib import Path

import asyncpg

from pgqueue_core import Manager, QueueMeta, Status, Task, TaskMeta, Worker
from tests.support.processes import Proc
from tests.support.waiting import wait_for
from tests.support.worker import running_worker
from tests.worker.test_command import HANDLERS, PGQUEUE, clean_env

RATE = 200.0
BURST = 100


async def test_four_processes_start_tasks_at_the_queue_rate(
    manager: Manager, dsn: str, tmp_path: Path
) -> None:
    """200/s with a burst of 100, kept by 4 worker processes together: the burst goes out
    at once, then 200 ± 10 % start per second over 10 s, and no second burst comes."""
    await manager.register_queue(QueueMeta(queue="jobs", rate=RATE, burst=BURST, paused=True))
    for _ in range(3):
        await manager.create_tasks("jobs", [TaskMeta(payload=i) for i in range(1000)])
    argv = [
        *PGQUEUE, "worker", f"{HANDLERS}:tasks", "--queues", "jobs", "--name", "r",
        "--namespace", manager.namespace, "--processes", "4", "--concurrency", "8",
    ]  # fmt: skip
    sup = Proc("supervisor", argv, tmp_path / "s.log", clean_env(PGQUEUE_DSN=dsn))
    conn = await asyncpg.connect(dsn)
    try:
        for i in range(4):
            await sup.wait_output(f"worker r-{i} ready", 60)
        await manager.resume_queue("jobs")

        async def started() -> int:
            return int(await conn.fetchval("SELECT count(*) FROM pgqueue.task WHERE attempt > 0"))

        async def enough() -> bool:
            sup.check_alive()
            return await started() >= BURST + RATE * 11

        await wait_for(enough, 60, "11 s of tasks to start")
        rows = await conn.fetch(
            "SELECT extract(epoch FROM started_at - min(started_at) OVER ())::float8 AS at, "
            "worker FROM pgqueue.task WHERE attempt > 0 ORDER BY started_at"
        )
        sup.signal(signal.SIGTERM)
        assert await sup.wait_exit(60) == 0, sup.output()[-3000:]
    finally:
        sup.stop()
        await conn.close()
    at = [r["at"] for r in rows]
    # The burst: the full bucket goes out at once (and not much more with it).
    first = sum(1 for t in at if t < 0.2)
    assert BURST <= first <= BURST + RATE * 0.2 + 10, first
    # Then the rate: 10 s from half a second on.
    steady = sum(1 for t in at if 0.5 <= t < 10.5) / 10
    assert RATE * 0.9 <= steady <= RATE * 1.1, steady
    # No second burst: no second after the first holds more than the rate (+10 %).
    after = [t for t in at if 0.5 <= t < 10.5]
    busiest = max(sum(1 for u in after[i:] if u < t + 1.0) for i, t in enumerate(after) if t < 9.5)
    assert busiest <= RATE * 1.1, busiest
    # Every process took part.
    assert len({r["worker"] for r in rows}) == 4, Counter(r["worker"] for r in rows)


BACKLOG = 100_000
TRICKLE = 10  # tasks per second


async def test_a_backlog_in_one_queue_does_not_starve_another(
    pool: asyncpg.Pool, manager: Manager, conn: asyncpg.Connection
) -> None:
    """Queue a holds a 100k backlog, queue b gets 10 tasks/s: while a drains, b's tasks wait
    at most a second at p99 (before fair claims they waited for the whole backlog)."""
    await manager.register_queue(QueueMeta(queue="a"))
    await manager.register_queue(QueueMeta(queue="b"))
    for _ in range(BACKLOG // 10_000):
        await manager.create_tasks("a", [TaskMeta(payload=None)] * 10_000)

    async def nothing(task: Task) -> None:
        return None

    handlers = {"a": nothing, "b": nothing}
    workers = [
        Worker(manager, f"f{i}", handlers, handle_signals=False, maintenance=i == 0)
        for i in range(2)
    ]
    trickled: list[int] = []

    async def trickle() -> None:
        while True:
            trickled.append((await manager.create_task("b", TaskMeta(payload=None))).id)
            await asyncio.sleep(1 / TRICKLE)

    async def a_left() -> int:
        return int(
            await conn.fetchval(
                "SELECT count(*) FROM pgqueue.task WHERE queue = 'a' AND status = 'new'"
            )
        )

    async with running_worker(workers[0]), running_worker(workers[1]):
        feeder = asyncio.create_task(trickle())
        try:
            # Measure only while a drains: stop feeding b before its backlog runs out.
            await wait_for(lambda: _below(a_left, BACKLOG // 10), 300, "a to drain")
        finally:
            feeder.cancel()
        measured = list(trickled)
        still = await a_left()

        async def b_started() -> bool:
            return not await conn.fetchval(
                "SELECT count(*) FROM pgqueue.task WHERE id = ANY ($1) AND started_at IS NULL",
                measured,
            )

        await wait_for(b_started, 30, "every b task to start")
    assert still > 0  # a was still draining when the last b task was created
    waits = sorted(
        await conn.fetch(
            "SELECT extract(epoch FROM started_at - created_at)::float8 AS w FROM pgqueue.task "
            "WHERE id = ANY ($1)",
            measured,
        ),
        key=lambda r: r["w"],
    )
    assert len(waits) >= 20, len(waits)  # a took a couple of seconds at least
    p99 = waits[int(len(waits) * 0.99) - 1]["w"] if len(waits) >= 100 else waits[-1]["w"]
    assert p99 <= 1.0, [round(r["w"], 3) for r in waits[-5:]]


async def _below(count: object, limit: int) -> bool:
    return await count() < limit  # type: ignore[operator,no-any-return]


async def test_the_breaker_cycle_with_real_workers(
    manager: Manager, conn: asyncpg.Connection
) -> None:
    """A handler that fails until its service comes back: 3 failures in a row open the
    breaker, which then hands out nothing; after the cooldown one probe goes out; its failure
    opens it again; once the service is back the next probe closes it and every task runs.
    No task fails for good and none is lost: they waited."""
    cooldown = timedelta(seconds=1)
    await manager.register_queue(
        QueueMeta(
            queue="flaky",
            retries=20,
            retry_delay=timedelta(milliseconds=50),
            breaker_threshold=3,
            breaker_cooldown=cooldown,
        )
    )
    ids = await manager.create_tasks("flaky", [TaskMeta(payload=i) for i in range(20)])
    service_up = False
    calls: list[tuple[float, int, bool]] = []  # (when, task id, succeeded)
    loop = asyncio.get_running_loop()

    async def call_service(task: Task) -> str:
        calls.append((loop.time(), task.id, service_up))
        if not service_up:
            raise ConnectionError("service unavailable")
        return "ok"

    async def trips() -> int:
        return int(
            await conn.fetchval(
                "SELECT breaker_trips FROM pgqueue.queue WHERE queue = 'flaky' AND namespace = $1",
                manager.namespace,
            )
        )

    workers = [
        Worker(
            manager,
            f"b{i}",
            {"flaky": call_service},
            concurrency=1,
            prefetch=0,
            handle_signals=False,
            maintenance=i == 0,
        )
        for i in range(2)
    ]
    async with running_worker(workers[0]), running_worker(workers[1]):
        await wait_for(lambda: _at_least(trips, 1), 30, "the breaker to open")
        opened = len(calls)
        assert (await manager.get_queue("flaky")).breaker == "open"
        assert opened >= 3
        # While open, nothing goes out; after the cooldown one probe does, fails, and the
        # breaker opens again.
        await wait_for(lambda: _at_least(trips, 2), 30, "the probe to fail")
        reopened = len(calls)
        # At most one task per worker was already running when it opened, plus the probe.
        assert reopened - opened <= 3, calls[opened - 3 :]
        service_up = True

        async def all_released() -> bool:
            tasks = [await manager.get_task(i) for i in ids]
            return all(t.status == Status.RELEASED for t in tasks)

        await wait_for(all_released, 60, "every task to run once the service is back")
    queue = await manager.get_queue("flaky")
    assert (queue.breaker, queue.breaker_failures) == ("closed", 0)
    assert await trips() == 2
    succeeded = [c for c in calls if c[2]]
    assert sorted(c[1] for c in succeeded) == sorted(ids)  # each ran to success exactly once
    # The first success was the probe, alone: the next call started after it had finished.
    first_ok = calls.index(succeeded[0])
    assert all(c[2] for c in calls[first_ok:])


async def _at_least(count: object, n: int) -> bool:
    return await count() >= n  # type: ignore[operator,no-any-return]
