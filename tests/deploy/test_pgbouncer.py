"""pgqueue through a real PgBouncer in transaction pooling mode (4 server connections shared
by every client): the Manager, a polling Worker, and `pgqueue run --pgbouncer`.

Behind transaction pooling a client keeps a PostgreSQL session only for one transaction, so
nothing may rely on session state: asyncpg's named prepared statements (its statement cache,
hence `statement_cache_size=0`), LISTEN (hence `Worker(listen=False)`), session advisory
locks (pgqueue takes transaction-scoped ones only). The first test shows the cache failing,
the others that pgqueue works without it.
"""

from __future__ import annotations

import asyncio
import collections
import os
import time
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import aiohttp
import asyncpg
import pytest

from pgqueue_core import (
    Maintenance,
    Manager,
    QueueMeta,
    Status,
    System,
    Task,
    TaskMeta,
    TickerMeta,
    Worker,
)
from pgqueue_server.config import parse_run_args
from tests.support.db import close_pool, with_database
from tests.support.net import free_port
from tests.support.pgbouncer import PgBouncer
from tests.support.processes import Proc, server_argv, wait_healthy
from tests.support.waiting import wait_for

from .sse import Received, read_events


@pytest.fixture
async def bounced(pgbouncer: PgBouncer) -> AsyncIterator[asyncpg.Pool]:
    """A pool through PgBouncer, with more clients than PgBouncer has server connections."""
    pool = await asyncpg.create_pool(pgbouncer.dsn, min_size=2, max_size=16, statement_cache_size=0)
    try:
        yield pool
    finally:
        await close_pool(pool)


async def test_cached_statements_break_behind_transaction_pooling(pgbouncer: PgBouncer) -> None:
    """Why the setting exists: a statement prepared in one server session is unknown in the
    next one PgBouncer hands out."""
    first = await asyncpg.connect(pgbouncer.dsn)  # the default statement cache
    second = await asyncpg.connect(pgbouncer.dsn)
    try:
        assert await first.fetchval("SELECT $1::int + 1", 1) == 2  # prepared in session A
        async with second.transaction():  # session A is now the second client's
            await second.execute("SELECT 1")
            with pytest.raises(asyncpg.exceptions.InvalidSQLStatementNameError):
                await first.fetchval("SELECT $1::int + 1", 1)  # session B: no such statement
    finally:
        await first.close()
        await second.close()


async def test_migrations_through_pgbouncer(pgbouncer: PgBouncer, empty_dsn: str) -> None:
    """Concurrent first-time migrations of an empty database, all through PgBouncer."""
    target = with_database(pgbouncer.dsn, empty_dsn.rsplit("/", 1)[1])
    pool = await asyncpg.create_pool(target, min_size=1, max_size=8, statement_cache_size=0)
    try:
        managers = await asyncio.gather(*(Manager.new(pool, f"ns{i}") for i in range(4)))
        await managers[0].register_queue(QueueMeta(queue="q"))
        assert [q.queue for q in (await managers[0].list_queues())[1]] == ["q"]
    finally:
        await close_pool(pool)


async def test_manager_operations_through_pgbouncer(bounced: asyncpg.Pool) -> None:
    manager = await Manager.new(bounced, "bouncer")
    await manager.register_queue(QueueMeta(queue="mail", retries=1, retry_delay=timedelta(1)))
    await manager.register_queue(QueueMeta(queue="short", ttl=timedelta(seconds=1)))
    # Single, bulk and de-duplicated creates side by side (the keyed path is a transaction).
    singles = await asyncio.gather(
        *(manager.create_task("mail", TaskMeta(payload={"n": i})) for i in range(40))
    )
    await manager.create_tasks("mail", [TaskMeta(payload={"n": i}) for i in range(500)])
    keyed = await asyncio.gather(
        *(manager.create_task("mail", TaskMeta(payload=1, key="same")) for _ in range(8))
    )
    assert len({t.id for t in keyed}) == 1
    total = 40 + 500 + 1
    assert (await manager.list_tasks(queue="mail", limit=1))[0] == total

    # Eight claimers at once: every task handed out once.
    claimed = await asyncio.gather(
        *(manager.next_tasks(f"w{i}", "mail", limit=100) for i in range(8))
    )
    ids = [t.id for batch in claimed for t in batch]
    assert len(ids) == len(set(ids)) == total
    first = next(t for batch in claimed for t in batch)  # some claimers may get none
    failed = await manager.release_task(first.id, success=False, result={"error": "x"})
    assert failed.status is Status.RETRY
    rest = [t for batch in claimed for t in batch if t.id != first.id]
    done = await asyncio.gather(
        *(manager.release_task(t.id, success=True, result=t.id) for t in rest)
    )
    assert {t.status for t in done} == {Status.RELEASED}
    assert (await manager.get_task(singles[0].id)).status in {Status.RELEASED, Status.RETRY}
    stats = {(s.queue, s.status): s.count for s in await manager.queue_stats()}
    assert stats[("mail", Status.RELEASED)] == total - 1

    # Tickers: a maturity has one claimant; a claim held in a transaction is not lost.
    await manager.register_ticker(TickerMeta(ticker="tick", interval=timedelta(hours=1)))
    claims = await asyncio.gather(*(manager.next_ticker() for _ in range(8)))
    assert sum(c is not None for c in claims) == 1
    await manager.register_ticker(TickerMeta(ticker="tock", interval=timedelta(hours=1)))

    async def deliver_and_fail() -> None:
        async with manager.claim_ticker() as ticker:
            assert ticker is not None and ticker.ticker == "tock"
            raise RuntimeError("delivery failed: the claim rolls back")

    with pytest.raises(RuntimeError):
        await deliver_and_fail()
    assert (await manager.next_ticker()) is not None

    # Maintenance: transaction-scoped advisory locks and ticker claims, across namespaces.
    await manager.create_tasks("short", [TaskMeta(payload=i) for i in range(20)])

    async def overdue() -> bool:  # expired as read once their ttl of a second has passed
        return (await manager.list_tasks(queue="short", status="expired", limit=1))[0] == 20

    await wait_for(overdue, 5, "the short tasks to pass their ttl")
    system = System(bounced)
    expired = await asyncio.gather(*(system.expire() for _ in range(4)))
    assert sum(expired) == 20  # one pass did them, the others found the lock taken or nothing
    ran = await Maintenance(bounced).run_due()
    assert set(ran) == {"lease-rescue", "cleanup", "vacuum"}


async def test_polling_worker_through_pgbouncer(bounced: asyncpg.Pool) -> None:
    """A Worker with listen=False drains through PgBouncer and notices new work by polling
    (every 0.5 s: `min(poll_interval, 0.5)` without LISTEN)."""
    manager = await Manager.new(bounced, "bouncer")
    await manager.register_queue(QueueMeta(queue="jobs"))
    total = 3000
    await manager.create_tasks("jobs", [TaskMeta(payload=i) for i in range(total)])
    runs: collections.Counter[int] = collections.Counter()
    arrived: dict[int, float] = {}

    async def handle(task: Task) -> int:
        runs[task.payload] += 1
        arrived[task.payload] = time.monotonic()
        return int(task.payload)

    worker = Worker(
        manager, "bounced", {"jobs": handle}, concurrency=16, listen=False, handle_signals=False
    )
    running = asyncio.create_task(worker.run())
    try:
        await wait_for(lambda: len(runs) == total, 60, "the worker to drain the queue")
        await wait_for(worker.idle.is_set, 5, "the worker to wait for work")
        created = time.monotonic()
        await manager.create_task("jobs", TaskMeta(payload=total))
        await wait_for(lambda: total in runs, 5, "the worker to poll the new task")
        assert arrived[total] - created < 1.5  # one poll interval, plus a claim
    finally:
        worker.stop()
        await asyncio.wait_for(running, 30)
    assert set(runs.values()) == {1} and len(runs) == total + 1
    assert (await manager.list_tasks(queue="jobs", status="released", limit=1))[0] == total + 1


def test_pgbouncer_setting() -> None:
    assert parse_run_args([], env={}).config.pgbouncer is False
    assert parse_run_args(["--pgbouncer"], env={}).config.pgbouncer is True
    assert parse_run_args([], env={"PGQUEUE_PGBOUNCER": "1"}).config.pgbouncer is True
    assert parse_run_args([], env={"PGQUEUE_PGBOUNCER": "no"}).config.pgbouncer is False


async def test_server_through_pgbouncer(pgbouncer: PgBouncer, dsn: str, tmp_path: Path) -> None:
    """`pgqueue run` with PGQUEUE_PGBOUNCER=1 serves the API, streams tickers and runs its
    maintenance through PgBouncer, then stops cleanly."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PGQUEUE_")}
    port = free_port()
    base = f"http://127.0.0.1:{port}/api"
    server = Proc(
        "server",
        server_argv(pgbouncer.dsn, port, "--pool-size", "8"),
        tmp_path / "server.log",
        {**env, "PGQUEUE_PGBOUNCER": "1"},
    )
    admin = await asyncpg.connect(dsn)  # directly, to watch
    try:
        timeout = aiohttp.ClientTimeout(total=20)
        async with aiohttp.ClientSession(timeout=timeout) as session:
            await wait_healthy(session, server, base, 20)
            await exercise_api(session, base)

        async def maintained() -> bool:  # lease rescue and cleanup both ran
            fired = await admin.fetchval(
                "SELECT count(*) FROM pgqueue.ticker WHERE namespace = 'pgqueue' "
                "AND ticker IN ('lease-rescue', 'cleanup') AND fired_at IS NOT NULL"
            )
            return bool(fired == 2)

        await wait_for(maintained, 10, "the server's maintenance to run")
        assert server.stop() == 0, server.output()[-3000:]
    finally:
        server.stop()
        await admin.close()
    log = server.output()
    assert "Traceback" not in log and "ERROR" not in log, log[-3000:]


async def exercise_api(session: aiohttp.ClientSession, base: str) -> None:
    async def call(method: str, path: str, body: object = None, expect: int = 200) -> object:
        async with session.request(method, base + path, json=body) as resp:
            text = await resp.text()
            assert resp.status == expect, f"{method} {path}: {resp.status} {text}"
            return await resp.json() if text else None

    await call("POST", "/queue", {"queue": "jobs"}, 201)
    gate = asyncio.Semaphore(24)  # more requests in flight than PgBouncer has sessions

    async def create(n: int) -> object:
        async with gate:
            return await call("POST", "/task", {"queue": "jobs", "payload": {"n": n}}, 201)

    await asyncio.gather(*(create(n) for n in range(300)))

    async def retain_and_release(i: int) -> None:
        async with gate:
            task = await call("PUT", f"/task?worker=w{i % 4}&queue=jobs")
            assert isinstance(task, dict)
            await call("PATCH", f"/task/{task['id']}", {"result": {"ok": True}})

    await asyncio.gather(*(retain_and_release(i) for i in range(300)))
    listed = await call("GET", "/task?queue=jobs&status=released&limit=1")
    assert isinstance(listed, dict) and listed["count"] == 300
    async with session.get(base + "/metrics") as resp:
        metrics = await resp.text()
    assert 'queue_tasks{namespace="default",queue="jobs",status="released"} 300.0' in metrics

    events: list[Received] = []
    stream = asyncio.create_task(read_events(session, base + "/ticker/next", "server", events))
    try:
        await call("POST", "/ticker", {"ticker": "beat", "interval": "1h"}, 201)
        await wait_for(lambda: bool(events) or stream.done(), 10, "the ticker's first firing")
        assert [e.data["ticker"] for e in events] == ["beat"]
    finally:
        stream.cancel()
        await asyncio.gather(stream, return_exceptions=True)
