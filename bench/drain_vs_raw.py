"""`make bench`: pgqueue's drain against the raw-SQL limit, on the same database, in one run.

The raw-SQL limit is the least work any PostgreSQL queue must do per task: a minimal table
(id, payload, status) with one partial index, claimed 100 rows per `UPDATE … WHERE id IN
(SELECT … FOR UPDATE SKIP LOCKED LIMIT 100) RETURNING` and completed 100 rows per
`UPDATE … WHERE id = ANY(…)`, each its own transaction, by `--loops` concurrent loops.
pgqueue runs its Worker (no-op async handler, `--concurrency`) on the same number of tasks,
once with every task at the default priority and once with priorities spread over 0..9
(what priorities cost a drain). Rounds rotate so that drift hits all alike; the results are
median ratios.

    python bench/drain_vs_raw.py [--dsn postgresql://postgres@127.0.0.1:5432/postgres]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import signal
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from datetime import timedelta

import aiohttp
import asyncpg
from scratch import default_dsn, scratch_database

from pgqueue_core import Manager, QueueMeta, Task, TaskMeta, Worker

RAW_DDL = """
CREATE TABLE raw_task (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                       payload jsonb NOT NULL, status text NOT NULL DEFAULT 'new');
CREATE INDEX raw_task_new ON raw_task (id) WHERE status = 'new';
"""
RAW_CLAIM = """UPDATE raw_task SET status = 'running'
 WHERE id IN (SELECT id FROM raw_task WHERE status = 'new' ORDER BY id LIMIT $1
              FOR UPDATE SKIP LOCKED)
RETURNING id, payload"""
RAW_DONE = "UPDATE raw_task SET status = 'done' WHERE id = ANY ($1::bigint[])"


async def settle(pool: asyncpg.Pool) -> None:
    await pool.execute("VACUUM ANALYZE")
    await pool.execute("CHECKPOINT")


async def raw_round(dsn: str, n: int, loops: int, batch: int) -> float:
    pool = await asyncpg.create_pool(dsn, min_size=loops, max_size=loops + 1)
    try:
        await pool.execute("DROP TABLE IF EXISTS raw_task")
        await pool.execute(RAW_DDL)
        payloads = [json.dumps({"i": i}) for i in range(n)]
        await pool.execute("INSERT INTO raw_task (payload) SELECT unnest($1::jsonb[])", payloads)
        await settle(pool)
        handled = 0

        async def loop() -> None:
            nonlocal handled
            async with pool.acquire() as conn:
                while True:
                    rows = await conn.fetch(RAW_CLAIM, batch)
                    if not rows:
                        return
                    for row in rows:
                        json.loads(row["payload"])  # what any queue does with a payload
                    await conn.execute(RAW_DONE, [r["id"] for r in rows])
                    handled += len(rows)

        started = time.perf_counter()
        await asyncio.gather(*(loop() for _ in range(loops)))
        elapsed = time.perf_counter() - started
        assert handled == n, (handled, n)
        return n / elapsed
    finally:
        await pool.close()


# The subscribers run in a process of their own, as real watchers would: reading 20 streams
# in the benchmark's own event loop would slow its Worker down, not the queue. They read
# every byte and count events without parsing them (what a client does with an event is
# the client's cost, not the queue's).
SUBSCRIBERS = """
import asyncio, json, signal, sys
import aiohttp

async def main(base, n):
    counts = [0] * n
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=None)) as session:
        async def subscribe(index):
            async with session.get(base + "/events", params={"namespace": "bench"}) as reply:
                async for chunk in reply.content.iter_any():  # all of it, counted cheaply
                    counts[index] += chunk.count(b"\\nevent: ")
        readers = [asyncio.ensure_future(subscribe(i)) for i in range(n)]
        await stop.wait()
        for reader in readers:
            reader.cancel()
        await asyncio.gather(*readers, return_exceptions=True)
    print(json.dumps(counts), flush=True)

asyncio.run(main(sys.argv[1], int(sys.argv[2])))
"""


@contextlib.asynccontextmanager
async def watched(dsn: str, subscribers: int) -> AsyncIterator[list[int]]:
    """`subscribers` clients (one process) of a `pgqueue run` server's GET /events on
    namespace `bench`, reading everything, from when the watch is registered until the block
    ends; the list then holds each one's count of events."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}/api"
    server = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "pgqueue_server", "run", dsn, "--addr", f"127.0.0.1:{port}",
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    readers = None
    counts: list[int] = []
    try:
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                with contextlib.suppress(aiohttp.ClientError):
                    async with session.get(base + "/health") as reply:
                        if reply.status == 200:
                            break
                await asyncio.sleep(0.05)
        readers = await asyncio.create_subprocess_exec(
            sys.executable, "-c", SUBSCRIBERS, base, str(subscribers), stdout=subprocess.PIPE
        )
        conn = await asyncpg.connect(dsn)
        try:  # the server registers its watch (a watcher row) for the namespace
            while not await conn.fetchval(
                "SELECT count(*) FROM pgqueue.watcher WHERE namespace = 'bench'"
            ):
                if readers.returncode is not None:
                    raise SystemExit(f"the subscribers exited ({readers.returncode})")
                await asyncio.sleep(0.05)
        finally:
            await conn.close()
        yield counts
    finally:
        if readers is not None:
            readers.send_signal(signal.SIGTERM)
            out, _ = await readers.communicate()
            counts.extend(json.loads(out or b"[]"))
        server.send_signal(signal.SIGTERM)
        await server.wait()


async def pgqueue_round(
    dsn: str, n: int, concurrency: int, priorities: bool = False, subscribers: int = 0
) -> float:
    pool = await asyncpg.create_pool(dsn, min_size=2, max_size=concurrency + 8)
    stack = contextlib.AsyncExitStack()
    try:
        await pool.execute("DROP SCHEMA IF EXISTS pgqueue CASCADE")
        manager = await Manager.new(pool, "bench")
        await manager.register_queue(
            QueueMeta(queue="bench", retries=0, retry_delay=timedelta(seconds=1))
        )
        for start in range(0, n, 1000):
            await manager.create_tasks(
                "bench",
                [
                    TaskMeta(payload={"i": i}, priority=(i * 7) % 10 if priorities else 0)
                    for i in range(start, min(n, start + 1000))
                ],
            )
        await settle(pool)
        counts = await stack.enter_async_context(watched(dsn, subscribers)) if subscribers else []
        await manager.publisher.refresh()  # publishing, as every process does within 2 s
        seen = 0
        all_seen = asyncio.Event()

        async def handle(task: Task) -> None:
            nonlocal seen
            seen += 1
            if seen == n:
                all_seen.set()

        worker = Worker(
            manager, "bench", {"bench": handle}, concurrency=concurrency, handle_signals=False
        )
        started = time.perf_counter()
        run = asyncio.create_task(worker.run())
        await all_seen.wait()
        # Timed until the database shows every task released (results are written in batches).
        while (await manager.list_tasks("bench", "released", limit=1))[0] < n:  # noqa: ASYNC110
            await asyncio.sleep(0.001)
        elapsed = time.perf_counter() - started
        worker.stop()
        await run
        await asyncio.sleep(0.5 if subscribers else 0)  # the last events reach the subscribers
        return n / elapsed
    finally:
        await stack.aclose()
        await pool.close()
        if subscribers:
            print(f"    events received per subscriber: {min(counts):,}..{max(counts):,}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dsn",
        default=default_dsn(),
        help="a server to use (default: BENCH_DSN, PGQUEUE_DSN, else own cluster)",
    )
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--loops", type=int, default=2, help="concurrent raw-SQL loops")
    parser.add_argument("--batch", type=int, default=100, help="raw-SQL rows per statement")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument(
        "--subscribers",
        type=int,
        default=20,
        help="GET /events subscribers of the watched pgqueue round (0: no such round)",
    )
    args = parser.parse_args()
    async with scratch_database(args.dsn) as dsn:
        await rounds(args, dsn)


async def rounds(args: argparse.Namespace, dsn: str) -> None:
    watched_label = f"pgqueue+{args.subscribers} watchers"
    results: dict[str, list[float]] = {"raw": [], "pgqueue": [], "pgqueue+priorities": []}
    if args.subscribers:
        results[watched_label] = []
    for index in range(args.repeat):
        order = list(results)
        order = order[index % len(order) :] + order[: index % len(order)]
        for label in order:
            if label == "raw":
                rate = await raw_round(dsn, args.jobs, args.loops, args.batch)
            else:
                rate = await pgqueue_round(
                    dsn,
                    args.jobs,
                    args.concurrency,
                    priorities=label == "pgqueue+priorities",
                    subscribers=args.subscribers if label == watched_label else 0,
                )
            results[label].append(rate)
            print(f"round {index + 1}: {label:20s} {rate:10,.0f} tasks/s", flush=True)
    raw, ours, prio = results["raw"], results["pgqueue"], results["pgqueue+priorities"]
    ratios = [o / r for o, r in zip(ours, raw, strict=True)]
    prio_ratios = [p / o for p, o in zip(prio, ours, strict=True)]
    print(
        f"\nraw SQL limit             median {statistics.median(raw):10,.0f} tasks/s"
        f"\npgqueue drain             median {statistics.median(ours):10,.0f} tasks/s"
        f"\npgqueue drain, priorities median {statistics.median(prio):10,.0f} tasks/s"
        f"\npgqueue / raw             median {statistics.median(ratios):.2f}x "
        f"(rounds: {', '.join(f'{r:.2f}' for r in ratios)})"
        f"\npriorities / none         median {statistics.median(prio_ratios):.2f}x "
        f"(rounds: {', '.join(f'{r:.2f}' for r in prio_ratios)})"
    )
    if args.subscribers:
        watch_ratios = [w / o for w, o in zip(results[watched_label], ours, strict=True)]
        print(
            f"{args.subscribers} watchers / none       median "
            f"{statistics.median(watch_ratios):.2f}x "
            f"(rounds: {', '.join(f'{r:.2f}' for r in watch_ratios)})"
        )


if __name__ == "__main__":
    asyncio.run(main())
