"""The Worker runtime against a real PostgreSQL, in-process and as real processes."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import signal
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from pgqueue_core import Manager, QueueMeta, Status, Task, TaskMeta, Worker
from tests.support.processes import WorkerProcess
from tests.support.waiting import wait_for
from tests.support.worker import running_worker


def all_released(manager: Manager, n: int, queue: str = "jobs") -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        total, _ = await manager.list_tasks(queue=queue, status="released", limit=1)
        return total == n

    return check


async def idle(worker: Worker) -> None:
    """Wait until the worker has nothing to do and waits for a wake-up."""
    async with asyncio.timeout(10):
        await worker.idle.wait()


@pytest.fixture
async def jobs(manager: Manager) -> Manager:
    await manager.register_queue(
        QueueMeta(queue="jobs", retries=3, retry_delay=timedelta(seconds=1))
    )
    return manager


async def test_drain_20000_tasks_32_way_each_exactly_once(jobs: Manager) -> None:
    n = 20_000
    for start in range(0, n, 5_000):
        await jobs.create_tasks("jobs", [TaskMeta(payload=i) for i in range(start, start + 5_000)])
    seen: collections.Counter[int] = collections.Counter()
    active = peak = 0
    all_seen = asyncio.Event()

    async def handle(task: Task) -> None:
        nonlocal active, peak
        active += 1
        peak = max(peak, active)
        await asyncio.sleep(0)  # let the other handlers interleave
        seen[task.payload] += 1
        active -= 1
        if len(seen) == n:
            all_seen.set()

    worker = Worker(jobs, "drainer", {"jobs": handle}, concurrency=32, handle_signals=False)
    async with running_worker(worker), asyncio.timeout(120):
        await all_seen.wait()
    assert set(seen) == set(range(n))
    assert max(seen.values()) == 1
    assert 1 < peak <= 32
    assert await all_released(jobs, n)()
    assert worker.stats.succeeded == n


async def test_worker_processes_drain_each_task_exactly_once(
    jobs: Manager, dsn: str, processes: list[WorkerProcess], pool: asyncpg.Pool
) -> None:
    n = 2_000
    await jobs.create_tasks("jobs", [TaskMeta(payload=i) for i in range(n)])
    for index in range(4):
        processes.append(WorkerProcess(dsn, f"proc-{index}", "record", concurrency=8))
    await wait_for(all_released(jobs, n), 60, "every task released")
    rows = await pool.fetch(
        "SELECT task_id, count(*) AS n, count(DISTINCT worker) AS w FROM proof "
        "WHERE event = 'done' GROUP BY task_id"
    )
    assert len(rows) == n
    assert all(r["n"] == 1 for r in rows)
    workers = await pool.fetchval("SELECT count(DISTINCT worker) FROM proof")
    assert workers >= 2  # the work was really shared


async def test_sigkilled_worker_tasks_run_again_elsewhere_exactly_once(
    manager: Manager, dsn: str, processes: list[WorkerProcess], pool: asyncpg.Pool
) -> None:
    await manager.register_queue(
        QueueMeta(
            queue="jobs", retries=3, retry_delay=timedelta(seconds=1), lease=timedelta(seconds=2)
        )
    )
    ids = await manager.create_tasks("jobs", [TaskMeta(payload=i) for i in range(8)])
    doomed = WorkerProcess(dsn, "doomed", "block", concurrency=4)
    processes.append(doomed)

    async def holding() -> bool:
        return (
            await pool.fetchval(
                "SELECT count(*) FROM proof WHERE worker = 'doomed' AND event = 'start'"
            )
            == 4
        )

    await wait_for(holding, 30, "the doomed worker to hold 4 tasks")
    held = {r["task_id"] for r in await pool.fetch("SELECT task_id FROM proof")}
    doomed.signal(signal.SIGKILL)
    doomed.wait(10)

    rescuer = WorkerProcess(dsn, "rescuer", "record", concurrency=4)
    processes.append(rescuer)
    await wait_for(all_released(manager, 8), 60, "every task released")

    done = await pool.fetch("SELECT task_id, worker FROM proof WHERE event = 'done'")
    assert sorted(r["task_id"] for r in done) == sorted(ids)  # each exactly once
    assert {r["worker"] for r in done} == {"rescuer"}
    for task_id in held:
        task = await manager.get_task(task_id)
        assert task.attempt == 2  # killed attempt + the successful one
        assert task.retries == 2  # the lapsed lease counted as a failed attempt
        assert task.worker == "rescuer"


async def test_sigterm_lets_running_handlers_finish(
    jobs: Manager, dsn: str, processes: list[WorkerProcess], pool: asyncpg.Pool
) -> None:
    await jobs.create_tasks("jobs", [TaskMeta(payload=i) for i in range(6)])
    worker = WorkerProcess(dsn, "slowpoke", "slow", concurrency=3)
    processes.append(worker)

    async def three_started() -> bool:
        return await pool.fetchval("SELECT count(*) FROM proof WHERE event = 'start'") == 3

    await wait_for(three_started, 30, "three handlers running")
    worker.signal(signal.SIGTERM)
    assert worker.wait(15) == 0
    events = await pool.fetch("SELECT task_id, event FROM proof ORDER BY at")
    started = {r["task_id"] for r in events if r["event"] == "start"}
    finished = [r["task_id"] for r in events if r["event"] == "done"]
    assert len(started) == 3 and sorted(finished) == sorted(started)
    for task_id in started:
        assert (await jobs.get_task(task_id)).status == Status.RELEASED
    _, waiting = await jobs.list_tasks(queue="jobs", status="new")
    assert len(waiting) == 3 and all(t.attempt == 0 for t in waiting)


async def test_graceful_stop_gives_back_unstarted_and_finishes_running(jobs: Manager) -> None:
    await jobs.create_tasks("jobs", [TaskMeta(payload=i) for i in range(10)])
    gate = asyncio.Event()
    started: list[int] = []
    four_running = asyncio.Event()

    async def handle(task: Task) -> str:
        started.append(task.id)
        if len(started) == 4:
            four_running.set()
        await gate.wait()
        return "done"

    worker = Worker(
        jobs, "stopper", {"jobs": handle}, concurrency=4, prefetch=4, handle_signals=False
    )
    async with running_worker(worker) as run:
        async with asyncio.timeout(10):
            await four_running.wait()
        worker.stop()
        gate.set()
        async with asyncio.timeout(10):
            await run
    assert worker.stats.succeeded == 4
    for task_id in started:
        task = await jobs.get_task(task_id)
        assert task.status == Status.RELEASED and task.result == "done"
    total, waiting = await jobs.list_tasks(queue="jobs", status="new")
    assert total == 6 and all(t.attempt == 0 and t.worker is None for t in waiting)
    assert worker.stats.given_back == 4


async def test_stop_after_grace_period_fails_the_attempt(jobs: Manager) -> None:
    (task_id,) = await jobs.create_tasks("jobs", [TaskMeta(payload="stuck")])
    started = asyncio.Event()

    async def handle(task: Task) -> None:
        started.set()
        await asyncio.Event().wait()

    worker = Worker(
        jobs, "impatient", {"jobs": handle}, concurrency=1, grace_period=0.2, handle_signals=False
    )
    async with running_worker(worker) as run:
        async with asyncio.timeout(10):
            await started.wait()
        worker.stop()
        async with asyncio.timeout(10):
            await run
    task = await jobs.get_task(task_id)
    assert task.status == Status.RETRY and task.retries == 2
    assert task.result["error"] == "WorkerStopped"


async def test_delayed_task_starts_within_100ms_of_delayed_at(jobs: Manager) -> None:
    started = asyncio.Event()
    started_at: list[float] = []

    async def handle(task: Task) -> None:
        started_at.append(time.time())
        started.set()

    worker = Worker(
        jobs, "punctual", {"jobs": handle}, concurrency=2, poll_interval=30, handle_signals=False
    )
    async with running_worker(worker):
        await idle(worker)
        due = datetime.now(UTC) + timedelta(seconds=1.5)
        await jobs.create_task("jobs", TaskMeta(payload="later", delayed_at=due))
        async with asyncio.timeout(10):
            await started.wait()
    lag = started_at[0] - due.timestamp()
    assert 0 <= lag < 0.1, f"started {lag * 1000:.1f} ms after delayed_at"


async def test_retry_backoff_doubles_end_to_end(manager: Manager) -> None:
    await manager.register_queue(
        QueueMeta(queue="flaky", retries=2, retry_delay=timedelta(seconds=1))
    )
    (task_id,) = await manager.create_tasks("flaky", [TaskMeta(payload="x")])
    attempts: list[float] = []
    failed = asyncio.Event()

    async def handle(task: Task) -> None:
        attempts.append(time.monotonic())
        if len(attempts) == 3:
            failed.set()
        raise RuntimeError(f"attempt {task.attempt} failed")

    worker = Worker(
        manager, "flaky", {"flaky": handle}, concurrency=1, poll_interval=30, handle_signals=False
    )
    async with running_worker(worker), asyncio.timeout(20):
        await failed.wait()
    gaps = [b - a for a, b in itertools.pairwise(attempts)]
    assert 1.0 <= gaps[0] < 1.1 + 0.15
    assert 2.0 <= gaps[1] < 2.2 + 0.15
    task = await manager.get_task(task_id)
    assert task.status == Status.FAILED and task.attempt == 3
    assert task.result == {"error": "RuntimeError", "message": "attempt 3 failed"}


async def test_sync_handlers_run_in_threads(jobs: Manager) -> None:
    ids = await jobs.create_tasks("jobs", [TaskMeta(payload=i) for i in range(20)])

    def square(task: Task) -> int:
        time.sleep(0.01)  # blocking work belongs in a thread
        return int(task.payload) ** 2

    worker = Worker(jobs, "threads", {"jobs": square}, concurrency=8, handle_signals=False)
    async with running_worker(worker):
        await wait_for(all_released(jobs, 20), 20, "every task released")
    results = {(await jobs.get_task(i)).result for i in ids}
    assert results == {i * i for i in range(20)}


async def test_heartbeat_keeps_a_long_task_alive(manager: Manager) -> None:
    await manager.register_queue(QueueMeta(queue="long", lease=timedelta(seconds=1)))
    (task_id,) = await manager.create_tasks("long", [TaskMeta(payload="x")])
    done = asyncio.Event()

    async def handle(task: Task) -> str:
        await asyncio.sleep(3)  # three leases long
        done.set()
        return "ok"

    worker = Worker(manager, "steady", {"long": handle}, concurrency=1, handle_signals=False)
    async with running_worker(worker), asyncio.timeout(15):
        await done.wait()
    task = await manager.get_task(task_id)
    assert task.status == Status.RELEASED and task.attempt == 1 and task.result == "ok"


async def test_cancel_reaches_the_running_handler(manager: Manager) -> None:
    await manager.register_queue(QueueMeta(queue="long", lease=timedelta(seconds=1)))
    (task_id,) = await manager.create_tasks("long", [TaskMeta(payload="x")])
    started, cancelled = asyncio.Event(), asyncio.Event()

    async def handle(task: Task) -> None:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise

    async def is_cancelled() -> bool:
        return (await manager.get_task(task_id)).status == Status.CANCELLED

    worker = Worker(manager, "victim", {"long": handle}, concurrency=1, handle_signals=False)
    async with running_worker(worker):
        async with asyncio.timeout(10):
            await started.wait()
        await manager.cancel_task(task_id)
        async with asyncio.timeout(10):
            await cancelled.wait()
        await wait_for(is_cancelled, 10, "the task to end cancelled")
    assert (await manager.get_task(task_id)).result["error"] == "Cancelled"


async def test_failures_and_unencodable_results_are_recorded(jobs: Manager) -> None:
    ids = await jobs.create_tasks("jobs", [TaskMeta(payload="boom"), TaskMeta(payload="set")])

    async def handle(task: Task) -> object:
        if task.payload == "boom":
            raise ValueError("no good")
        return {1, 2}  # a set is not JSON

    async def both_failed_once() -> bool:
        total, _ = await jobs.list_tasks(queue="jobs", status="retry", limit=1)
        return total == 2

    worker = Worker(jobs, "careful", {"jobs": handle}, concurrency=2, handle_signals=False)
    async with running_worker(worker):
        await wait_for(both_failed_once, 10, "both tasks to fail once")
    boom, unencodable = [await jobs.get_task(i) for i in ids]
    assert boom.result == {"error": "ValueError", "message": "no good"}
    assert unencodable.result["error"] == "ResultNotJSON"


async def test_wakes_on_notify_for_a_64_character_namespace(pool: asyncpg.Pool) -> None:
    namespace = "n" + "x" * 63
    manager = await Manager.new(pool, namespace)
    await manager.register_queue(QueueMeta(queue="jobs"))
    got = asyncio.Event()

    async def handle(task: Task) -> None:
        got.set()

    worker = Worker(
        manager, "far", {"jobs": handle}, concurrency=1, poll_interval=60, handle_signals=False
    )
    async with running_worker(worker):
        await idle(worker)  # only a notification can wake it within 60 s
        await manager.create_task("jobs", TaskMeta(payload=1))
        async with asyncio.timeout(5):
            await got.wait()


async def test_listen_connection_dropped_reconnects(jobs: Manager, pool: asyncpg.Pool) -> None:
    got: list[int] = []
    arrived = asyncio.Event()

    async def handle(task: Task) -> None:
        got.append(task.payload)
        arrived.set()

    worker = Worker(
        jobs, "resilient", {"jobs": handle}, concurrency=1, poll_interval=60, handle_signals=False
    )
    async with running_worker(worker):
        await idle(worker)

        # Idle can come before the notifier has run LISTEN (its connection is its own task).
        async def listening() -> bool:
            return jobs.notifier.connected

        await wait_for(listening, 5, "the notifier to listen")
        killed = await pool.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE query LIKE 'LISTEN%' AND datname = current_database()"
        )
        assert killed == 1

        async def reconnected() -> bool:
            notifier = jobs.notifier
            return notifier.reconnects >= 1 and notifier.connected

        await wait_for(reconnected, 10, "the LISTEN connection to come back")
        await jobs.create_task("jobs", TaskMeta(payload=7))
        async with asyncio.timeout(5):
            await arrived.wait()
    assert got == [7]


async def test_slow_handlers_do_not_hoard_tasks(jobs: Manager, pool: asyncpg.Pool) -> None:
    await jobs.create_tasks("jobs", [TaskMeta(payload=i) for i in range(20)])
    done = 0
    four_done = asyncio.Event()

    async def handle(task: Task) -> None:
        nonlocal done
        await asyncio.sleep(0.2)  # the work: slow next to a claim round trip
        done += 1
        if done == 4:
            four_done.set()

    worker = Worker(jobs, "slow", {"jobs": handle}, concurrency=2, handle_signals=False)
    async with running_worker(worker):
        async with asyncio.timeout(30):
            await four_done.wait()
        held = []
        waiting = []
        for _ in range(20):  # sample what the worker holds while it works
            # Claimed and not finished (a finished task may stay `retained` in the table for
            # the few ms until its batched release is written: that is not hoarding).
            held.append(worker.held)
            new = await pool.fetchval("SELECT count(*) FROM pgqueue.task WHERE status = 'new'")
            waiting.append(new + done)  # `done` read after the count: finished by then
            await asyncio.sleep(0.02)
    assert worker.prefetch_now() == 0
    assert max(held) <= 2  # only what its two handlers run: the rest stays for other workers
    assert min(waiting) >= 20 - 2  # every task neither finished nor running was left unclaimed


async def test_fast_handlers_claim_ahead(jobs: Manager) -> None:
    n = 5000
    await jobs.create_tasks("jobs", [TaskMeta(payload=i) for i in range(n)])
    seen = 0
    all_seen = asyncio.Event()

    async def handle(task: Task) -> None:
        nonlocal seen
        seen += 1
        if seen == n:
            all_seen.set()

    worker = Worker(jobs, "fast", {"jobs": handle}, concurrency=4, handle_signals=False)
    async with running_worker(worker), asyncio.timeout(60):
        await all_seen.wait()
    # Handlers far faster than a claim round trip: the buffer grows to its ceiling.
    assert worker.prefetch_now() > worker.concurrency
    assert worker.prefetch_now() <= 8 * worker.concurrency


async def _lost_races(jobs: Manager, n: int) -> int:
    """Four idle workers hear each of `n` single inserts; returns how many of their claims
    after a notification found nothing (every task must still run exactly once)."""
    seen: collections.Counter[int] = collections.Counter()

    async def handle(task: Task) -> None:
        seen[task.payload] += 1

    workers = [
        Worker(jobs, f"herd-{i}", {"jobs": handle}, concurrency=4, handle_signals=False)
        for i in range(4)
    ]

    async def all_seen() -> bool:
        return sum(seen.values()) == n

    async with contextlib.AsyncExitStack() as stack:
        for w in workers:
            await stack.enter_async_context(running_worker(w))
        for w in workers:
            await idle(w)
        for i in range(n):
            await jobs.create_task("jobs", TaskMeta(payload=i))
            await asyncio.sleep(0.001)  # a steady trickle of single inserts
        await wait_for(all_seen, 30, "every task run")
    assert set(seen) == set(range(n)) and set(seen.values()) == {1}
    return sum(w.stats.races_lost for w in workers)


async def test_idle_workers_do_not_stampede_on_single_inserts(
    jobs: Manager, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every listening worker hears every insert. Without the herd delay each insert costs
    # about three empty claims (three of the four workers lose the race); with it, workers
    # that keep losing answer later and with one claim for many notifications.
    from pgqueue_core.worker import claimer

    monkeypatch.setattr(claimer, "HERD_MAX_DELAY", 0.0)
    stampede = await _lost_races(jobs, 200)
    monkeypatch.undo()
    calm = await _lost_races(jobs, 200)
    print(f"empty claims after notifications: {stampede} without the herd delay, {calm} with")
    assert stampede >= 200  # the stampede is real (several empty claims per insert) ...
    assert calm * 2 <= stampede  # ... and the herd delay cuts it by half at least (~4x here)


async def test_workers_on_one_pool_share_one_listen_connection(
    jobs: Manager, pool: asyncpg.Pool
) -> None:
    other = jobs.with_namespace("other")
    await other.register_queue(QueueMeta(queue="jobs"))

    async def handle(task: Task) -> None:
        pass

    workers = [
        Worker(manager, name, {"jobs": handle}, concurrency=1, handle_signals=False)
        for manager, name in ((jobs, "one"), (jobs, "two"), (other, "three"))
    ]

    async def listening() -> int:
        return int(
            await pool.fetchval(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE query LIKE 'LISTEN%' AND datname = current_database()"
            )
        )

    async with contextlib.AsyncExitStack() as stack:
        for w in workers:
            await stack.enter_async_context(running_worker(w))
        for w in workers:
            await idle(w)
        assert jobs.notifier is other.notifier and jobs.notifier.connected
        assert await listening() == 1

    async def closed() -> bool:
        return await listening() == 0

    await wait_for(closed, 10, "the LISTEN connection to go back once every worker stopped")
