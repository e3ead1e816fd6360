"""Pool exhaustion: more concurrent requests than the server has connections. Requests wait
at most the acquire timeout and then answer 503; nothing deadlocks; afterwards the server
serves normally with no connection leaked."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import asyncpg

from pgqueue_core.embedded import EmbeddedPostgres
from tests.support.cluster import tcp_dsn
from tests.support.processes import call, http_session, serving
from tests.support.waiting import wait_for

POOL = 3
ACQUIRE = 1.0
CONCURRENT = 12


async def test_pool_exhaustion_is_503_then_recovers(
    cluster: EmbeddedPostgres, tmp_path: Path
) -> None:
    log = tmp_path / "server.log"
    flags = ("--pool-size", str(POOL), "--acquire-timeout", str(ACQUIRE))
    async with serving(tcp_dsn(cluster), log, *flags) as server, http_session(30) as http:
        base = server.base
        status, _, _, _ = await call(http, "POST", base + "/queue", json={"queue": "jobs"})
        assert status == 201
        blocker = await asyncpg.connect(cluster.dsn)
        try:
            # Every request reading the queue table now waits for this lock while holding
            # one of the server's connections: the pool runs dry.
            tx = blocker.transaction()
            await tx.start()
            await blocker.execute("LOCK TABLE pgqueue.queue IN ACCESS EXCLUSIVE MODE")
            requests = [
                asyncio.create_task(call(http, "GET", base + "/queue/jobs"))
                for _ in range(CONCURRENT)
            ]

            async def waiting() -> bool:
                return bool(
                    await blocker.fetchval(
                        "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                    )
                )

            await wait_for(waiting, 10, "requests to wait on the lock")
            done, _ = await asyncio.wait(requests, timeout=ACQUIRE + 2.0)
            refused = [t.result() for t in done]
            # Health needs a connection too: 503 within the bound as well.
            health = await call(http, "GET", base + "/health")
            await tx.rollback()
        finally:
            await blocker.close()
        # The requests that held a connection finish once the lock is gone: no deadlock.
        async with asyncio.timeout(10):
            replies = await asyncio.gather(*requests)

        assert len(refused) >= CONCURRENT - POOL, [r[0] for r in refused]
        for status, body, headers, seconds in refused:
            assert status == 503, body
            assert "no database connection became free within 1s" in body["reason"], body
            assert headers["Retry-After"] == "2"
            assert ACQUIRE * 0.9 <= seconds < ACQUIRE + 2.0, seconds
        assert health[0] == 503 and health[3] < ACQUIRE + 2.0, health
        served = [r for r in replies if r[0] == 200]
        assert 1 <= len(served) <= POOL
        assert len(served) + len(refused) == CONCURRENT

        # Normal service afterwards, at full concurrency, and no connection leaked.
        again = await asyncio.gather(*(call(http, "GET", base + "/queue/jobs") for _ in range(50)))
        assert {r[0] for r in again} == {200}
        conn = await asyncpg.connect(cluster.dsn)
        try:
            held = await conn.fetchval(
                "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' "
                "AND pid <> pg_backend_pid()"
            )
        finally:
            await conn.close()
        assert held <= POOL
    figures = {
        "refused": len(refused),
        "served": len(served),
        "slowest_503": round(max(r[3] for r in refused), 3),
        "fastest_503": round(min(r[3] for r in refused), 3),
    }
    print("\npool:", json.dumps(figures))
