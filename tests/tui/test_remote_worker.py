"""RemoteWorker over real HTTP against a real server: drains with concurrency, keeps leases,
stops gracefully, survives its own SIGKILL and a server restart without losing a task or
releasing one twice."""

from __future__ import annotations

import asyncio
import collections
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from pgqueue_core import NotFound, QueueMeta, Status, Task, TaskMeta
from pgqueue_tui.client import Client
from pgqueue_tui.errors import Unauthorized
from pgqueue_tui.remote import RemoteWorker
from tests.support.server import Server, make_config
from tests.support.server import serving_app as serving
from tests.support.waiting import wait_for
from tests.support.worker import running_worker as working

ROOT = Path(__file__).resolve().parents[2]

# Every move of a task into `released` is logged by a trigger: a task released twice would
# show up twice, whatever the worker believed.
RELEASE_LOG = """
CREATE TABLE release_log (id bigint NOT NULL, worker text, at timestamptz DEFAULT now());
CREATE FUNCTION log_release() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO release_log (id, worker) VALUES (NEW.id, OLD.worker);
    RETURN NEW;
END $$;
CREATE TRIGGER log_release AFTER UPDATE ON pgqueue.task FOR EACH ROW
    WHEN (NEW.status = 'released' AND OLD.status IS DISTINCT FROM 'released')
    EXECUTE FUNCTION log_release();
"""


@pytest.fixture
async def api(dsn: str) -> AsyncIterator[Server]:
    """A server in this event loop, on a port of its own."""
    async with serving(make_config(dsn)) as srv:
        yield srv


@pytest.fixture
async def db(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(dsn)
    await conn.execute(RELEASE_LOG)
    try:
        yield conn
    finally:
        await conn.close()


async def statuses(db: asyncpg.Connection) -> collections.Counter[str]:
    rows = await db.fetch("SELECT status FROM pgqueue.task")
    return collections.Counter(r["status"] for r in rows)


async def released(db: asyncpg.Connection) -> int:
    return int(await db.fetchval("SELECT count(*) FROM pgqueue.task WHERE status = 'released'"))


async def fill(url: str, queue: str, count: int, lease: timedelta | None = None) -> list[int]:
    """A queue (a lapsed lease's retry is due at once) and `count` tasks in it; their ids."""
    async with Client(url) as client:
        await client.create_queue(
            QueueMeta(queue=queue, lease=lease, retry_delay=timedelta(milliseconds=1))
        )
        ids: list[int] = []
        for start in range(0, count, 1000):
            n = min(1000, count - start)
            ids += await client.create_tasks([(queue, TaskMeta(payload=i)) for i in range(n)])
        return ids


def remote(url: str, handlers: dict[str, Any], **options: Any) -> RemoteWorker:
    options.setdefault("handle_signals", False)
    options.setdefault("retry_max", 0.5)
    return RemoteWorker(url, handlers, name=f"rw-{uuid.uuid4().hex[:8]}", **options)


async def test_client_batches_are_typed(api: Server) -> None:
    ids = await fill(api.base, "jobs", 3)
    async with Client(api.base) as client:
        assert [t.id for t in await client.next_tasks("w", "jobs", limit=2)] == ids[:2]
        held = await client.next_tasks("w2", "jobs", limit=10, wait=1)
        assert [t.id for t in held] == ids[2:] and all(isinstance(t, Task) for t in held)
        outcomes = await client.release_tasks(
            "w", [(ids[0], True, {"ok": 1}), (ids[2], True, None)]
        )
        assert outcomes[0] == Status.RELEASED
        assert isinstance(outcomes[1], NotFound) and outcomes[1].key == "task_not_retained"
        beats = await client.extend_leases([ids[1], ids[2]], worker="w")
        assert not isinstance(beats[0], Exception) and beats[0].id == ids[1]
        assert isinstance(beats[1], NotFound) and beats[1].key == "task_not_retained"
        assert await client.next_tasks("w3", "jobs", limit=5, wait=0.2) == []


async def test_a_drain_with_concurrent_workers_handles_each_task_once(
    api: Server, db: asyncpg.Connection
) -> None:
    ids = await fill(api.base, "jobs", 600)
    handled: collections.Counter[int] = collections.Counter()
    peak = 0

    async def handler(task: Task) -> int:
        nonlocal peak
        running = sum(w.in_flight for w in workers)
        peak = max(peak, running)
        await asyncio.sleep(0.002)  # work
        handled[task.id] += 1
        return task.payload * 2

    workers = [remote(api.base, {"jobs": handler}, concurrency=8) for _ in range(2)]
    async with working(workers[0]), working(workers[1]):
        await wait_for(lambda: sum(handled.values()) == 600, 60, "every task handled")
        await wait_for(lambda: sum(w.stats.succeeded for w in workers) == 600, 10, "releases")
    assert set(handled) == set(ids) and set(handled.values()) == {1}
    assert all(w.stats.claimed > 0 for w in workers), [w.stats for w in workers]
    assert 8 < peak <= 16, peak
    assert await statuses(db) == {"released": 600}
    assert await db.fetchval("SELECT count(*) FROM release_log") == 600
    results = await db.fetch("SELECT payload::text, result::text FROM pgqueue.task")
    assert all(int(r["result"]) == 2 * int(r["payload"]) for r in results)


async def test_heartbeats_keep_a_long_tasks_lease(dsn: str, db: asyncpg.Connection) -> None:
    async with serving(make_config(dsn)) as srv:
        (task_id,) = await fill(srv.base, "slow", 1, lease=timedelta(seconds=1))
        started, finish = asyncio.Event(), asyncio.Event()

        async def handler(task: Task) -> str:
            started.set()
            await finish.wait()
            return "done"

        worker = remote(srv.base, {"slow": handler}, concurrency=1)
        async with working(worker):
            await asyncio.wait_for(started.wait(), 10)
            # Nine beats of a third of the lease: three leases' time, while the server's
            # maintenance looks for lapsed leases every second.
            await wait_for(lambda: worker.heartbeats >= 9, 20, "nine heartbeats")
            row = await db.fetchrow("SELECT status, worker, attempt FROM pgqueue.task")
            assert dict(row) == {"status": "retained", "worker": worker.name, "attempt": 1}
            finish.set()
            await wait_for(lambda: worker.stats.succeeded == 1, 10, "the release")
        row = await db.fetchrow("SELECT status, attempt, result::text FROM pgqueue.task")
        assert dict(row) == {"status": "released", "attempt": 1, "result": '"done"'}
        assert worker.stats.lost == 0 and task_id


async def test_graceful_stop_finishes_running_handlers_and_claims_no_more(
    api: Server, db: asyncpg.Connection
) -> None:
    await fill(api.base, "jobs", 10)
    go = asyncio.Event()

    async def handler(task: Task) -> None:
        await go.wait()

    worker = remote(api.base, {"jobs": handler}, concurrency=4)
    async with working(worker) as run:
        await wait_for(lambda: worker.in_flight == 4, 10, "four handlers running")
        worker.stop()
        await wait_for(lambda: not worker.retaining, 5, "retaining to stop")
        assert not run.done() and worker.in_flight == 4
        go.set()
        await asyncio.wait_for(run, 10)
    assert await statuses(db) == {"released": 4, "new": 6}
    assert worker.stats.succeeded == 4 and worker.stats.claimed == 4


async def test_a_second_stop_cancels_the_handlers(api: Server, db: asyncpg.Connection) -> None:
    await fill(api.base, "jobs", 3)
    never = asyncio.Event()

    async def handler(task: Task) -> None:
        await never.wait()

    worker = remote(api.base, {"jobs": handler}, concurrency=3)
    async with working(worker) as run:
        await wait_for(lambda: worker.in_flight == 3, 10, "three handlers running")
        worker.stop()
        worker.stop()
        await asyncio.wait_for(run, 10)
    # A cancelled handler is a failed attempt: the tasks wait for their retry.
    assert await statuses(db) == {"retry": 3}
    assert worker.stats.failed == 3


async def test_a_token_without_access_stops_the_worker_with_a_clear_error(dsn: str) -> None:
    async with serving(make_config(dsn, token="right")) as srv:
        worker = remote(srv.base, {"jobs": lambda t: None}, token="wrong")
        with pytest.raises(Unauthorized):
            await asyncio.wait_for(worker.run(), 10)
        unknown = remote(srv.base, {"nope": lambda t: None}, token="right")
        with pytest.raises(NotFound):
            await asyncio.wait_for(unknown.run(), 10)


async def test_a_killed_worker_process_loses_no_task(dsn: str, db: asyncpg.Connection) -> None:
    async with serving(make_config(dsn)) as srv:
        ids = await fill(srv.base, "jobs", 300, lease=timedelta(seconds=1))
        proc = subprocess.Popen(
            [sys.executable, "-m", "tests.tui.remote_proc", srv.base, "jobs", "doomed"],
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        try:
            held: list[asyncpg.Record] = []

            async def some_done_some_held() -> bool:
                nonlocal held
                if not await _count(db, "status = 'released'", 20):
                    return False
                held = await db.fetch("SELECT id FROM pgqueue.task WHERE status = 'retained'")
                return bool(held)

            await wait_for(some_done_some_held, 30, "the process to drain some and hold some")
            proc.send_signal(signal.SIGKILL)
            proc.wait(10)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        assert held, "the process held no task when it was killed"
        orphans = {r["id"] for r in held}
        survivor = remote(srv.base, {"jobs": lambda t: "saved"}, concurrency=8, wait=1.0)
        async with working(survivor):
            await wait_for(lambda: _count(db, "status = 'released'", 300), 60, "the drain")
        rows = await db.fetch("SELECT id, worker, attempt FROM pgqueue.task")
        assert {r["id"] for r in rows} == set(ids)
        rescued = [r for r in rows if r["id"] in orphans]
        # Those the killed process held came back when their leases lapsed and were finished
        # by the survivor, in a second attempt (unless their result had landed just before).
        assert any(r["worker"] == survivor.name and r["attempt"] == 2 for r in rescued), rescued
        log = await db.fetch("SELECT id, count(*) AS n FROM release_log GROUP BY id")
        assert len(log) == 300 and all(r["n"] == 1 for r in log)


async def _count(db: asyncpg.Connection, where: str, at_least: int) -> bool:
    return int(await db.fetchval(f"SELECT count(*) FROM pgqueue.task WHERE {where}")) >= at_least


async def test_a_server_restart_loses_nothing_and_releases_nothing_twice(
    dsn: str, db: asyncpg.Connection
) -> None:
    count = 3000
    handled: collections.Counter[int] = collections.Counter()

    async def handler(task: Task) -> None:
        await asyncio.sleep(0.001)  # work
        handled[task.id] += 1

    async with serving(make_config(dsn)) as first:
        url = first.base
        port = int(url.split(":")[2].split("/")[0])
        # A retain the server answers while it stops claims tasks whose answer never
        # arrives: they come back when their leases lapse (hence a short lease here).
        ids = await fill(url, "jobs", count, lease=timedelta(seconds=2))
        workers = [remote(url, {"jobs": handler}, concurrency=8, wait=2.0) for _ in range(2)]
        runs = [asyncio.create_task(w.run()) for w in workers]
        await wait_for(lambda: sum(handled.values()) >= 500, 60, "the drain to be under way")
    # The server is gone; the workers keep what they finished and retry.
    try:
        await wait_for(
            lambda: all(w.stats.extra.get("retries", 0) > 0 for w in workers), 20, "retries"
        )
        async with serving(make_config(dsn), port=port) as second:
            assert second.base == url
            await wait_for(lambda: _count(db, "status = 'released'", count), 90, "the drain")
    finally:
        for w in workers:
            w.stop()
        await asyncio.wait_for(asyncio.gather(*runs), 30)
    assert await statuses(db) == {"released": count}
    log = await db.fetch("SELECT id, count(*) AS n FROM release_log GROUP BY id")
    assert {r["id"] for r in log} == set(ids) and all(r["n"] == 1 for r in log)
    assert set(handled) == set(ids)
    assert sum(w.stats.succeeded for w in workers) == count
