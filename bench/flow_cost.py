"""What flow control costs the claim and the release, in the database, in one run.

Three schemas in one scratch database, migrated to version 5 (before flow control), 6 (flow
control) and the latest: each gets the same backlog in one queue (and, with `--queues N`,
spread over N queues), then claim+release cycles of `--batch` tasks run against them in
rotation, by one connection each, so that drift hits all alike. Reported: the median time
of a cycle per schema, and its ratio to version 5. No limit is set on any queue: this is
what the new claim (turns across queues, the random draw) and release (the breaker
aggregate) cost every queue.

    python bench/flow_cost.py [--dsn …] [--tasks 20000] [--batch 100] [--queues 1]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

import asyncpg
from scratch import default_dsn, scratch_database

from pgqueue_core.queries import migrations, render

VERSIONS = (5, 6, None)  # None: the latest


async def prepare(
    conn: asyncpg.Connection, schema: str, upto: int | None, args: argparse.Namespace
) -> None:
    await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}")
    for version, _, text in migrations():
        if upto is None or version <= upto:
            await conn.execute(render(text, schema))
    queues = [f"q{i}" for i in range(args.queues)]
    for queue in queues:
        await conn.execute(f"INSERT INTO {schema}.queue (namespace, queue) VALUES ('n', $1)", queue)
    await conn.execute(
        f"INSERT INTO {schema}.task (namespace, queue, payload, dies_at, retries) "
        "SELECT 'n', 'q' || (g % $2), '{\"i\": 1}', now() + interval '1 day', 3 "
        "FROM generate_series(1, $1) AS g",
        args.tasks,
        args.queues,
    )
    await conn.execute(f"VACUUM ANALYZE {schema}.task")


async def cycle(conn: asyncpg.Connection, schema: str, batch: int) -> float:
    started = time.perf_counter()
    rows = await conn.fetch(
        f"SELECT id, attempt FROM {schema}.claim_tasks('n', NULL, 'w', $1)", batch
    )
    ids = [r["id"] for r in rows]
    await conn.execute(
        f"SELECT count(*) FROM {schema}.release_tasks('n', 'w', $1::bigint[], $2::integer[], "
        "$3::boolean[], $4::json[])",
        ids,
        [r["attempt"] for r in rows],
        [True] * len(ids),
        ["null"] * len(ids),
    )
    return time.perf_counter() - started


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dsn", default=None)
    parser.add_argument("--tasks", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--queues", type=int, default=1)
    args = parser.parse_args()
    async with scratch_database(args.dsn or default_dsn()) as dsn:
        conn = await asyncpg.connect(dsn)
        try:
            schemas = {f"v{v or 'latest'}": v for v in VERSIONS}
            for schema, upto in schemas.items():
                await prepare(conn, schema, upto, args)
            times: dict[str, list[float]] = {s: [] for s in schemas}
            for _ in range(args.tasks // args.batch):
                for schema in schemas:
                    times[schema].append(await cycle(conn, schema, args.batch))
        finally:
            await conn.close()
    base = statistics.median(times["v5"])
    print(f"{args.tasks} tasks in {args.queues} queue(s), cycles of {args.batch}:")
    for schema, samples in times.items():
        median = statistics.median(samples)
        print(f"  {schema:9} {median * 1000:7.2f} ms/cycle  {median / base:5.2f}x version 5")


if __name__ == "__main__":
    asyncio.run(main())
