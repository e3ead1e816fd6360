"""The per-queue task counts kept by triggers (migration 7): they follow every kind of write
exactly, folded or not, and reading them costs the same however many tasks the table holds."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import asyncpg

from pgqueue_core import Maintenance, Manager, QueueMeta, Status, System, TaskMeta
from tests.support.db import shift_task

# The counts as kept (folded + not folded yet) and as counted from the table, zeros left out.
KEPT = """SELECT namespace, queue, status, sum(n)::bigint AS n FROM (
              SELECT namespace, queue, status, n FROM pgqueue.task_count
              UNION ALL
              SELECT namespace, queue, status, n FROM pgqueue.task_count_change) c
          GROUP BY 1, 2, 3 HAVING sum(n) <> 0 ORDER BY 1, 2, 3"""
COUNTED = """SELECT namespace, queue, status, count(*) AS n FROM pgqueue.task
              GROUP BY 1, 2, 3 ORDER BY 1, 2, 3"""


async def assert_kept(conn: asyncpg.Connection) -> dict[tuple[str, str], int]:
    kept = [tuple(r) for r in await conn.fetch(KEPT)]
    assert kept == [tuple(r) for r in await conn.fetch(COUNTED)]
    return {(r[1], r[2]): r[3] for r in kept}


async def test_counts_follow_every_kind_of_write(
    manager: Manager, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    system = System(pool)
    await manager.register_queue(QueueMeta(queue="q", retries=1, retry_delay=timedelta(hours=1)))
    await manager.register_queue(QueueMeta(queue="r"))
    ids = await manager.create_tasks("q", [TaskMeta(payload=i) for i in range(6)])
    await manager.create_task("q", TaskMeta(payload="k", key="k"))
    await manager.create_task("q", TaskMeta(payload="k", key="k"))  # a live key: no insert
    await manager.create_batch([("r", TaskMeta(payload=1)), ("q", TaskMeta(payload=2))])
    assert await assert_kept(conn) == {("q", "new"): 8, ("r", "new"): 1}

    claimed = await manager.next_tasks("w", "q", limit=5)
    await manager.extend_leases([t.id for t in claimed], worker="w")  # nothing changes status
    await manager.release_task(claimed[0].id, worker="w")
    await manager.release_task(claimed[1].id, False, worker="w")  # → retry
    await manager.cancel_task(ids[5])
    await manager.unclaim_tasks("w", [(claimed[2].id, claimed[2].attempt)])
    assert await assert_kept(conn) == {
        ("q", "new"): 3,
        ("q", "retry"): 1,
        ("q", "retained"): 2,
        ("q", "released"): 1,
        ("q", "cancelled"): 1,
        ("r", "new"): 1,
    }
    assert await system.fold_counts() > 0
    assert await conn.fetchval("SELECT count(*) FROM pgqueue.task_count_change") == 0
    await assert_kept(conn)

    # Maintenance: expiry of an overdue task, cleanup of finished ones past their ttl.
    await shift_task(conn, claimed[3].id, dies_at="now() - interval '1 second'")
    await conn.execute(
        "UPDATE pgqueue.task SET finished_at = now() - interval '2 hours' WHERE status = 'released'"
    )
    assert await system.cleanup() == 1
    counts = await assert_kept(conn)
    assert counts[("q", "expired")] == 1 and ("q", "released") not in counts
    await manager.requeue_task(claimed[3].id)
    # COPY (bulk loads) goes through the same trigger.
    await conn.copy_records_to_table(
        "task",
        schema_name="pgqueue",
        columns=["namespace", "queue", "payload", "dies_at", "retries"],
        records=[
            ("test", "r", json.dumps(i), await conn.fetchval("SELECT now() + '1h'"), 0)
            for i in range(3)
        ],
    )
    assert (await assert_kept(conn))[("r", "new")] == 4

    # A renamed queue carries its tasks (ON UPDATE CASCADE); a deleted one takes them along.
    await manager.update_queue("r", QueueMeta(queue="s"))
    counts = await assert_kept(conn)
    assert counts[("s", "new")] == 4 and ("r", "new") not in counts
    await manager.delete_queue("q")
    assert await assert_kept(conn) == {("s", "new"): 4}
    await system.fold_counts()
    # The fold keeps only counts of queues that exist.
    rows = await conn.fetch("SELECT DISTINCT queue FROM pgqueue.task_count ORDER BY 1")
    assert [r["queue"] for r in rows] == ["s"]
    stats = {(s.queue, s.status): s.count for s in await manager.queue_stats()}
    assert stats[("s", Status.NEW)] == 4 and sum(stats.values()) == 4
    await conn.execute("TRUNCATE pgqueue.task")  # no transition tables: counts emptied too
    assert await assert_kept(conn) == {}


async def test_counts_of_a_rolled_back_write_never_show(
    manager: Manager, conn: asyncpg.Connection
) -> None:
    await manager.register_queue(QueueMeta(queue="q"))
    tx = conn.transaction()
    await tx.start()
    await conn.execute(
        "INSERT INTO pgqueue.task (namespace, queue, payload, dies_at, retries)"
        " VALUES ('test', 'q', '1', now() + interval '1 hour', 0)"
    )
    assert await assert_kept(conn) == {("q", "new"): 1}
    await tx.rollback()
    assert await assert_kept(conn) == {}


async def test_maintenance_folds_the_changes(manager: Manager, pool: asyncpg.Pool) -> None:
    await manager.register_queue(QueueMeta(queue="q"))
    await manager.create_tasks("q", [TaskMeta(payload=i) for i in range(3)])
    maintenance = Maintenance(pool)
    await maintenance.run_due()  # the first run of each job is due at once
    assert maintenance.counts["folded"] >= 1
    assert await pool.fetchval("SELECT count(*) FROM pgqueue.task_count_change") == 0
    assert (
        await pool.fetchval("SELECT n FROM pgqueue.task_count WHERE queue = 'q' AND status = 'new'")
        == 3
    )


def buffers(plan: Any) -> int:
    """Shared buffers the statement touched (hit or read), planning left out."""
    node = json.loads(plan)[0]["Plan"]
    return int(node["Shared Hit Blocks"]) + int(node["Shared Read Blocks"])


async def scrape_buffers(system: System, conn: asyncpg.Connection) -> int:
    await conn.execute("VACUUM (ANALYZE) pgqueue.task")  # as autovacuum keeps it
    sql = system.sql["queue_stats"].sql
    # The plan the server would run (a custom plan for NULL: every namespace).
    return buffers(await conn.fetchval(f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", None))


async def test_a_scrape_reads_as_much_on_a_big_table_as_on_a_small_one(
    manager: Manager, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    """queue_stats at 1,000 and at 101,000 tasks (finished ones, as a ttl keeps them, and a
    backlog): the buffers it reads may grow with the depth of an index (one level per probe),
    never with the rows (counting them read ~250 more pages here)."""
    queues = 4
    for i in range(queues):
        await manager.register_queue(QueueMeta(queue=f"q{i}"))
    system = System(pool)
    bulk = """INSERT INTO pgqueue.task (namespace, queue, payload, status, dies_at, retries,
                                        finished_at)
              SELECT 'test', 'q' || (g % $2), '1', CASE WHEN g % 10 = 0 THEN 'new'
                                                       ELSE 'released' END,
                     now() + interval '1 hour', 0,
                     CASE WHEN g % 10 = 0 THEN NULL ELSE now() END
                FROM generate_series(1, $1) AS g"""
    await conn.execute(bulk, 1_000, queues)  # setting up: rows straight into the table
    await system.fold_counts()
    small = await scrape_buffers(system, conn)
    await conn.execute(bulk, 100_000, queues)
    await system.fold_counts()
    big = await scrape_buffers(system, conn)
    print(f"queue_stats buffers: {small} at 1,000 tasks, {big} at 101,000")  # for -s
    assert big <= small + 2 * queues
    stats = {(s.queue, s.status.value): s.count for s in await system.queue_stats() if s.count}
    assert stats == await assert_kept(conn)
    assert sum(stats.values()) == 101_000
