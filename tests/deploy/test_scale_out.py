"""Scale-out on one database: 3 `pgqueue run` processes (one with `--workers 2`) and 4 worker
processes. 20,000 tasks go in through the REST API and each is released exactly once; every
maintenance period is claimed by exactly one process; every maturity of a 1 s ticker, read
from the SSE streams of all three servers at once, is delivered exactly once and on schedule.
"""

from __future__ import annotations

import asyncio
import collections
import itertools
import os
import signal
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from pgqueue_core import Manager, QueueMeta
from tests.support.net import free_port
from tests.support.processes import Proc, processes, server_argv, wait_healthy, with_query
from tests.support.waiting import wait_for

from .sse import Received, read_events
from .worker_proc import PROOF_DDL

pytestmark = pytest.mark.slow

TASKS = 20_000
SERVERS = 3
WORKERS = 4
TICKER = "every-second"
TICK = timedelta(seconds=1)
QUIET_WATCH = 5.0  # seconds of ticker streams once the load is over

# Every committed change of a ticker's schedule, and by whom (the process's application_name):
# a maturity claimed twice would show as two rows with the same (namespace, ticker, fired_at).
CLAIMS_DDL = """
CREATE TABLE ticker_claims (
    namespace text NOT NULL, ticker text NOT NULL, fired_at timestamptz NOT NULL,
    app text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp());
CREATE FUNCTION record_ticker_claim() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO ticker_claims (namespace, ticker, fired_at, app)
    VALUES (NEW.namespace, NEW.ticker, NEW.fired_at, current_setting('application_name'));
    RETURN NULL;
END $$;
CREATE TRIGGER record_ticker_claim AFTER UPDATE OF fired_at ON pgqueue.ticker
    FOR EACH ROW WHEN (NEW.fired_at IS DISTINCT FROM OLD.fired_at)
    EXECUTE FUNCTION record_ticker_claim();
"""


@dataclass
class Fleet:
    servers: list[Proc]
    bases: list[str]  # the API of each server
    workers: list[Proc]


def start_fleet(dsn: str, tmp_path: Path, procs: list[Proc]) -> Fleet:
    """The servers (the first with two Sanic workers) and the worker processes; each names
    itself to PostgreSQL (application_name) so that the claims show who made them."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PGQUEUE_")}
    servers, bases = [], []
    for i in range(SERVERS):
        port = free_port()
        bases.append(f"http://127.0.0.1:{port}/api")
        argv = server_argv(
            with_query(dsn, application_name=f"server-{i}"),
            port,
            *("--pool-size", "5"),
            *(["--workers", "2"] if i == 0 else []),
        )
        servers.append(Proc(f"server-{i}", argv, tmp_path / f"server-{i}.log", env))
    procs.extend(servers)
    workers = []
    for i in range(WORKERS):
        argv = [
            *(sys.executable, "-m", "tests.deploy.worker_proc"),
            with_query(dsn, application_name=f"worker-{i}"),
            f"worker-{i}",
            *("--concurrency", "16", "--pool-size", "6"),
            # One wakes up on LISTEN/NOTIFY; three poll, as they would behind PgBouncer.
            *([] if i == 0 else ["--no-listen"]),
        ]
        workers.append(Proc(f"worker-{i}", argv, tmp_path / f"worker-{i}.log", env))
    procs.extend(workers)
    return Fleet(servers, bases, workers)


async def push_tasks(session: aiohttp.ClientSession, bases: list[str], total: int) -> None:
    """POST /task `total` times, spread over the servers, 12 requests in flight on each."""
    numbers = iter(range(total))

    async def pusher(base: str) -> None:
        for n in numbers:
            async with session.post(
                base + "/task", json={"queue": "jobs", "payload": {"n": n}}
            ) as resp:
                assert resp.status == 201, f"{base}: {resp.status} {await resp.text()}"

    await asyncio.gather(*(pusher(base) for base in bases * 12))


def assert_on_grid(
    stamps: list[datetime], what: str, period: timedelta = TICK, *, gaps: bool = True
) -> None:
    """Distinct, and apart by whole periods (by exactly one when `gaps` is False)."""
    assert len(stamps) == len(set(stamps)), f"{what}: a maturity was claimed twice: {stamps}"
    for earlier, later in itertools.pairwise(sorted(stamps)):
        periods = (later - earlier) / period
        assert periods == round(periods) >= 1, f"{what}: {later} is off the schedule"
        if not gaps:
            assert periods == 1, f"{what}: a firing was skipped between {earlier} and {later}"


@pytest.mark.timeout(180)  # ~40 s on a quiet 2-core machine; room for a busy one
async def test_three_servers_four_workers_one_database(dsn: str, tmp_path: Path) -> None:
    admin = await asyncpg.connect(dsn)
    try:
        await admin.execute(PROOF_DDL)
        await admin.execute(CLAIMS_DDL)
        pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
        try:
            manager = await Manager.new(pool, "default")
            await manager.register_queue(QueueMeta(queue="jobs"))
        finally:
            await pool.close()
        with processes() as procs:
            fleet = start_fleet(dsn, tmp_path, procs)
            events, quiet_from = await run_load(admin, fleet)
            for proc in procs:
                proc.signal(signal.SIGTERM)  # all at once: they stop in parallel
            codes = {proc.name: proc.stop() for proc in procs}
            assert codes == {proc.name: 0 for proc in procs}, "a process did not stop cleanly"
            for proc in procs:
                bad = [x for x in proc.output().splitlines() if "Traceback" in x or "ERROR" in x]
                assert bad == [], f"{proc.name} logged errors (see {proc.log})"
        await check_tasks(admin)
        await check_maintenance(admin)
        await check_ticker(admin, events, quiet_from)
    finally:
        await admin.close()


async def run_load(admin: Any, fleet: Fleet) -> tuple[list[Received], float]:
    """Ticker streams on every server throughout; 20,000 tasks pushed and drained; then a
    quiet watch of the ticker. Returns the events and when the quiet watch began."""
    bases = fleet.bases
    timeout = aiohttp.ClientTimeout(total=30)
    connector = aiohttp.TCPConnector(limit=64)
    stream_timeout = aiohttp.ClientTimeout(total=None, sock_read=30)  # keep-alives: 10 s
    events: list[Received] = []
    async with (
        aiohttp.ClientSession(connector=connector, timeout=timeout) as session,
        aiohttp.ClientSession(timeout=stream_timeout) as stream_session,
    ):
        await asyncio.gather(
            *(wait_healthy(session, s, b, 30) for s, b in zip(fleet.servers, bases, strict=True)),
            *(w.wait_output("ready", 30) for w in fleet.workers),
        )
        streams = [
            asyncio.create_task(
                read_events(stream_session, base + "/ticker/next", f"server-{i}", events)
            )
            for i, base in enumerate(bases)
        ]
        try:
            async with session.post(
                bases[1] + "/ticker", json={"ticker": TICKER, "interval": "1s"}
            ) as resp:
                assert resp.status == 201, await resp.text()
            started = time.monotonic()
            await push_tasks(session, bases, TASKS)
            pushed = time.monotonic() - started
            print(f"pushed {TASKS} tasks in {pushed:.1f}s ({TASKS / pushed:.0f}/s)")

            async def drained() -> bool:
                return await admin.fetchval("SELECT count(*) FROM proof") >= TASKS

            await wait_for(drained, 45, "the workers to run every task")
            print(f"all run {time.monotonic() - started - pushed:.1f}s after the last push")
            quiet_from = time.time()
            await asyncio.sleep(QUIET_WATCH)  # the watch itself: firings come meanwhile
            # No firing after this: the delete waits for a claim in progress to commit.
            async with session.delete(bases[2] + "/ticker/" + TICKER) as resp:
                assert resp.status == 200, await resp.text()

            async def every_claim_arrived() -> bool:
                for stream in streams:
                    if stream.done():
                        stream.result()  # a stream that failed fails the test now
                claimed = await admin.fetchval(
                    "SELECT count(*) FROM ticker_claims WHERE ticker = $1", TICKER
                )
                return len(events) >= claimed

            await wait_for(every_claim_arrived, 5, "the claimed firings to arrive")
        finally:
            for stream in streams:
                stream.cancel()
            await asyncio.gather(*streams, return_exceptions=True)
    return events, quiet_from


async def check_tasks(admin: Any) -> None:
    """Every task ran once (one proof row, first attempt) and is stored released."""
    runs = await admin.fetch(
        "SELECT task_id, count(*) AS runs, min(worker) AS worker, max(attempt) AS attempt "
        "FROM proof GROUP BY task_id"
    )
    assert len(runs) == TASKS
    assert [r["task_id"] for r in runs if r["runs"] != 1 or r["attempt"] != 1] == []
    per_worker = collections.Counter(r["worker"] for r in runs)
    assert set(per_worker) == {f"worker-{i}" for i in range(WORKERS)}, per_worker
    stored = await admin.fetch(
        "SELECT status, count(*) AS n, count(DISTINCT payload->>'n') AS distinct_n "
        "FROM pgqueue.task GROUP BY status"
    )
    assert [(r["status"], r["n"], r["distinct_n"]) for r in stored] == [("released", TASKS, TASKS)]
    mismatched = await admin.fetchval(
        "SELECT count(*) FROM pgqueue.task t JOIN proof p ON p.task_id = t.id "
        "WHERE t.worker IS DISTINCT FROM p.worker"
    )
    assert mismatched == 0


async def check_maintenance(admin: Any) -> None:
    """Each period of each maintenance job was claimed once, by one of many processes."""
    claims = await admin.fetch(
        "SELECT ticker, fired_at, app FROM ticker_claims WHERE namespace = 'pgqueue' "
        "ORDER BY fired_at"
    )
    rescue = [c for c in claims if c["ticker"] == "lease-rescue"]
    assert len(rescue) >= 10, claims
    assert_on_grid([c["fired_at"] for c in rescue], "lease-rescue")
    cleanup = [c["fired_at"] for c in claims if c["ticker"] == "cleanup"]
    assert cleanup, claims  # due at once: it had never run
    assert_on_grid(cleanup, "cleanup", timedelta(seconds=30))
    # Servers and workers all take turns: the schedule, not one process, decides.
    assert len({c["app"] for c in rescue}) >= 2, rescue


async def check_ticker(admin: Any, events: list[Received], quiet_from: float) -> None:
    """Every committed firing was delivered once over the streams; on the grid throughout;
    during the quiet watch none was skipped and each arrived promptly."""
    fired = await admin.fetch(
        "SELECT fired_at FROM ticker_claims WHERE ticker = $1 ORDER BY fired_at", TICKER
    )
    assert all(e.event == "ticker" and e.data["ticker"] == TICKER for e in events)
    ids = [e.id for e in events]
    assert len(ids) == len(set(ids)), f"a firing was delivered twice: {ids}"
    delivered = sorted(datetime.fromisoformat(e.data["timestamp"]) for e in events)
    assert delivered == [f["fired_at"] for f in fired]
    assert_on_grid(delivered, TICKER)
    quiet = [e for e in events if e.at >= quiet_from + 1.0]
    assert len(quiet) >= QUIET_WATCH - 2, [e.id for e in quiet]
    assert_on_grid([datetime.fromisoformat(e.data["timestamp"]) for e in quiet], TICKER, gaps=False)
    for e in quiet:
        late = e.at - datetime.fromisoformat(e.data["timestamp"]).timestamp()
        assert -0.05 < late < 0.5, f"{e.id} arrived {late:.3f}s after its maturity"
