"""What the task counts of migration 7 cost: the drain with their triggers on and off, and a
scrape's queue_stats on a table of a million tasks; one run, on one database.

Drain: `make bench`'s pgqueue round (its Worker, no-op handler, `--jobs` tasks), `--repeat`
times with the count triggers enabled and disabled in turn; prints the median ratio.
Statements: a claim and a release of `--batch` tasks timed inside the database, the triggers
enabled and disabled in turn.
Scrape: `--rows` tasks in 20 queues (nine in ten released, the rest waiting: a ttl of finished
tasks and a backlog), vacuumed as autovacuum keeps them, then `--scrapes` runs of the
queue_stats query /metrics runs: the median time and the buffers one run touches.

    python bench/counts.py [--dsn …] [--rows 1000000] [--repeat 5]

Run from another checkout (PYTHONPATH=that checkout) it measures that checkout's query: how
the figures before migration 7 were taken.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time

import asyncpg
import drain_vs_raw
from scratch import default_dsn, scratch_database

from pgqueue_core import Manager, QueueMeta, System, TaskMeta

TRIGGERS = ("task_count_insert", "task_count_update", "task_count_delete")


async def drain(args: argparse.Namespace, dsn: str) -> None:
    settle = drain_vs_raw.settle
    results: dict[bool, list[float]] = {True: [], False: []}
    for index in range(args.repeat):
        for counts in (True, False) if index % 2 == 0 else (False, True):

            async def settle_then_switch(pool: asyncpg.Pool, on: bool = counts) -> None:
                # Once the tasks are in (their inserts counted either way): only the drain
                # runs with the triggers as chosen.
                if not on:
                    for name in TRIGGERS:
                        await pool.execute(f"ALTER TABLE pgqueue.task DISABLE TRIGGER {name}")
                await settle(pool)

            drain_vs_raw.settle = settle_then_switch
            try:
                rate = await drain_vs_raw.pgqueue_round(dsn, args.jobs, args.concurrency)
            finally:
                drain_vs_raw.settle = settle
            results[counts].append(rate)
            label = "counts on " if counts else "counts off"
            print(f"round {index + 1}: {label} {rate:10,.0f} tasks/s", flush=True)
    ratios = [on / off for on, off in zip(results[True], results[False], strict=True)]
    print(
        f"drain, counts on / off: median {statistics.median(ratios):.3f}x "
        f"(rounds: {', '.join(f'{r:.3f}' for r in ratios)})",
        flush=True,
    )


async def statements(args: argparse.Namespace, dsn: str) -> None:
    """Claim and release statements of `--batch` tasks timed inside the database (EXPLAIN
    ANALYZE: no round trip, no client), the count triggers enabled and disabled in turn."""
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    try:
        await pool.execute("DROP SCHEMA IF EXISTS pgqueue CASCADE")
        manager = await Manager.new(pool, "bench")
        await manager.register_queue(QueueMeta(queue="q"))
        for _ in range(20):
            await manager.create_tasks("q", [TaskMeta(payload={"i": i}) for i in range(1000)])
        times: dict[tuple[bool, str], list[float]] = {}
        async with pool.acquire() as conn:
            for on in (True, False, True, False):
                switch = "ENABLE" if on else "DISABLE"
                await conn.execute(f"ALTER TABLE pgqueue.task {switch} TRIGGER task_count_update")
                await conn.execute("UPDATE pgqueue.task SET status = 'new', finished_at = NULL")
                await conn.execute("VACUUM (ANALYZE) pgqueue.task")
                for _ in range(40):
                    claim = await conn.fetchval(
                        "EXPLAIN (ANALYZE, FORMAT JSON)"
                        " SELECT * FROM pgqueue.claim_tasks('bench', NULL, 'w', $1)",
                        args.batch,
                    )
                    release = await conn.fetchval(
                        "EXPLAIN (ANALYZE, FORMAT JSON) UPDATE pgqueue.task"
                        " SET status = 'released', finished_at = now() WHERE status = 'retained'"
                    )
                    for name, plan in (("claim", claim), ("release", release)):
                        ms = json.loads(plan)[0]["Execution Time"]
                        times.setdefault((on, name), []).append(ms)
        for name in ("claim", "release"):
            on, off = (statistics.median(times[flag, name]) for flag in (True, False))
            print(
                f"statements: {name} of {args.batch} tasks, in the database: {off:.3f} ms "
                f"without the count triggers, {on:.3f} ms with (+{on - off:.3f} ms)",
                flush=True,
            )
    finally:
        await pool.close()


async def scrape(args: argparse.Namespace, dsn: str) -> None:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4)
    try:
        await pool.execute("DROP SCHEMA IF EXISTS pgqueue CASCADE")
        manager = await Manager.new(pool, "bench")
        for i in range(20):
            await manager.register_queue(QueueMeta(queue=f"q{i}"))
        started = time.perf_counter()
        await pool.execute(
            """INSERT INTO pgqueue.task (namespace, queue, payload, status, dies_at, retries,
                                         finished_at)
               SELECT 'bench', 'q' || (g % 20), '{"i": 1}',
                      CASE WHEN g % 10 = 0 THEN 'new' ELSE 'released' END,
                      now() + interval '1 hour', 0,
                      CASE WHEN g % 10 = 0 THEN NULL ELSE now() END
                 FROM generate_series(1, $1) AS g""",
            args.rows,
        )
        print(f"scrape: {args.rows:,} tasks in {time.perf_counter() - started:.1f}s", flush=True)
        system = System(pool)
        if hasattr(system, "fold_counts"):
            await system.fold_counts()  # as maintenance does every second
        await pool.execute("VACUUM (ANALYZE) pgqueue.task")
        await pool.execute("CHECKPOINT")
        sql = system.sql["queue_stats"].sql
        async with pool.acquire() as conn:
            plan = json.loads(
                await conn.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", None)
            )[0]["Plan"]
            times = []
            for _ in range(args.scrapes):
                began = time.perf_counter()
                await conn.fetch(sql, None)
                times.append(time.perf_counter() - began)
        touched = plan["Shared Hit Blocks"] + plan["Shared Read Blocks"]
        print(
            f"scrape: queue_stats median {statistics.median(times) * 1000:.1f} ms "
            f"(min {min(times) * 1000:.1f}, max {max(times) * 1000:.1f}, {args.scrapes} runs), "
            f"{touched:,} buffers",
            flush=True,
        )
    finally:
        await pool.close()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", default=default_dsn(), help="default: BENCH_DSN, PGQUEUE_DSN")
    parser.add_argument("--jobs", type=int, default=20_000, help="tasks per drain round")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=5, help="drain rounds each way (0: none)")
    parser.add_argument("--batch", type=int, default=32, help="tasks per timed statement")
    parser.add_argument("--rows", type=int, default=1_000_000, help="tasks for the scrape")
    parser.add_argument("--scrapes", type=int, default=20)
    args = parser.parse_args()
    async with scratch_database(args.dsn, "pgq_counts") as dsn:
        if args.repeat:
            await drain(args, dsn)
            await statements(args, dsn)
        if args.rows:
            await scrape(args, dsn)


if __name__ == "__main__":
    asyncio.run(main())
