"""Long-poll retains (SPEC 7.4 `wait=`): woken by the database's notifications, no connection
held while waiting, no stampede when one task arrives for many waiters."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from tests.support.server import Reply, Server, make_config, serving_app
from tests.support.waiting import wait_for


@pytest.fixture
async def jobs(server: Server) -> Server:
    assert (await server.post("/queue", {"queue": "jobs"})).status == 201
    return server


def _waiting(srv: Server, count: int) -> None:
    assert srv.app.ctx.waiters.count == count


async def _waiters(srv: Server, count: int) -> None:
    await wait_for(lambda: srv.app.ctx.waiters.count >= count, 10, f"{count} waiting retains")


async def test_nothing_comes_204_after_the_wait(jobs: Server) -> None:
    started = time.monotonic()
    reply = await jobs.put("/task/jobs", params={"worker": "w", "wait": "1s"})
    elapsed = time.monotonic() - started
    assert reply.status == 204
    assert 1.0 <= elapsed < 3.0, elapsed
    assert jobs.app.ctx.waiters.count == 0


async def test_an_insert_wakes_a_waiting_retain_at_once(jobs: Server) -> None:
    retain = asyncio.create_task(
        jobs.put("/task/jobs", params={"worker": "w", "wait": "30s", "limit": "10"})
    )
    await _waiters(jobs, 1)
    created_at = time.monotonic()
    task = (await jobs.post("/task", {"queue": "jobs", "payload": 1})).json
    reply: Reply = await asyncio.wait_for(retain, 10)
    woke_after = time.monotonic() - created_at
    assert reply.status == 200 and reply.json["body"][0]["id"] == task["id"]
    # Woken by the notification, not by the 5 s safety poll.
    assert woke_after < 2.0, woke_after


async def test_no_connection_is_held_while_waiting(dsn: str) -> None:
    async with serving_app(make_config(dsn, pool_max=2, maintenance=False)) as srv:
        await srv.post("/queue", {"queue": "jobs"})
        retains = [
            asyncio.create_task(srv.put("/task/jobs", params={"worker": f"w{i}", "wait": "20s"}))
            for i in range(10)
        ]
        try:
            await _waiters(srv, 10)
            observer = await asyncpg.connect(dsn)
            try:
                # Sampled a few times: a waiter's safety poll (every 5 s) may be claiming at
                # one moment; one held for the wait would be there at every sample.
                samples = []
                for _ in range(5):
                    samples.append(
                        await observer.fetchval(
                            "SELECT count(*) FROM pg_stat_activity"
                            " WHERE datname = current_database() AND state <> 'idle'"
                            " AND pid <> pg_backend_pid() AND query NOT LIKE 'LISTEN%'"
                        )
                    )
                    await asyncio.sleep(0.05)
            finally:
                await observer.close()
            assert min(samples) == 0 and max(samples) <= 1, samples
            # With 10 retains waiting on a pool of 2, other requests still answer at once.
            started = time.monotonic()
            assert (await srv.get("/queue/jobs")).status == 200
            assert time.monotonic() - started < 1.0
        finally:
            for retain in retains:
                retain.cancel()
            await asyncio.gather(*retains, return_exceptions=True)


async def test_one_task_for_many_waiters_wakes_one(jobs: Server) -> None:
    retains = [
        asyncio.create_task(jobs.put("/task/jobs", params={"worker": f"w{i}", "wait": "3s"}))
        for i in range(20)
    ]
    await _waiters(jobs, 20)
    wakes_before = jobs.app.ctx.waiters.wakes
    await jobs.post("/task", {"queue": "jobs", "payload": "only"})
    replies = await asyncio.gather(*retains)
    assert sorted(r.status for r in replies) == [200] + [204] * 19
    # One waiter woke for the one notification, and (its claim of one being full) the next
    # looked too: two claims, not a stampede of 20.
    assert jobs.app.ctx.waiters.wakes - wakes_before <= 2


async def test_a_full_claim_wakes_the_next_waiter(jobs: Server) -> None:
    retains = [
        asyncio.create_task(jobs.put("/task/jobs", params={"worker": f"w{i}", "wait": "20s"}))
        for i in range(5)
    ]
    await _waiters(jobs, 5)
    started = time.monotonic()
    # One statement, one notification, five tasks: each waiter takes one, in turn.
    await jobs.post("/task", [{"queue": "jobs", "payload": i} for i in range(5)])
    replies = await asyncio.wait_for(asyncio.gather(*retains), 10)
    assert sorted(r.json["payload"] for r in replies) == [0, 1, 2, 3, 4]
    assert time.monotonic() - started < 3.0


async def test_a_delayed_task_is_handed_out_when_it_is_due(jobs: Server) -> None:
    retain = asyncio.create_task(jobs.put("/task/jobs", params={"worker": "w", "wait": "20s"}))
    await _waiters(jobs, 1)
    due = datetime.now(UTC) + timedelta(seconds=1.5)
    await jobs.post("/task", {"queue": "jobs", "payload": 1, "delayed_at": due.isoformat()})
    reply = await asyncio.wait_for(retain, 10)
    got_at = datetime.now(UTC)
    assert reply.status == 200
    assert due <= got_at < due + timedelta(seconds=2)  # the notification's timer, not a poll


@pytest.mark.parametrize("wait", ["61s", "-1s", "soon", "PT2M"])
async def test_wait_is_checked(jobs: Server, wait: str) -> None:
    reply = await jobs.put("/task/jobs", params={"worker": "w", "wait": wait})
    assert reply.status == 400 and "wait" in reply.json["reason"]


async def test_unknown_queue_is_404_at_once(jobs: Server) -> None:
    started = time.monotonic()
    reply = await jobs.put("/task/nope", params={"worker": "w", "wait": "30s"})
    assert reply.status == 404 and time.monotonic() - started < 2
    _waiting(jobs, 0)
