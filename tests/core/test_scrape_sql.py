"""The queries /metrics runs on every scrape (queue_stats, queue_oldest_ready): what they
report, and that they stay index-driven on a big task table (no sequential scan of it)."""

from __future__ import annotations

import re
from datetime import timedelta

import asyncpg
import pytest

from pgqueue_core import Manager, QueueMeta, Status, System, TaskMeta

BIG = 300_000  # rows: the planner only prefers indexes once the table is big


async def test_oldest_ready_age_and_overdue_counted_as_expired(
    manager: Manager, pool: asyncpg.Pool
) -> None:
    for queue in ("jobs", "idle", "busy"):
        await manager.register_queue(QueueMeta(queue=queue, ttl=timedelta(hours=1)))
    old, new = await manager.create_tasks("jobs", [TaskMeta(payload=1), TaskMeta(payload=2)])
    await manager.create_tasks("busy", [TaskMeta(payload=1)])
    await manager.next_task("w", "busy")  # retained: nothing ready there
    await pool.execute(
        "UPDATE pgqueue.task SET created_at = now() - interval '120 seconds' WHERE id = $1", old
    )
    system = System(pool)
    ages = {(a.namespace, a.queue): a.seconds for a in await system.queue_oldest_ready()}
    assert 120 <= ages[("test", "jobs")] < 180
    assert ages[("test", "idle")] == 0 and ages[("test", "busy")] == 0

    # A task past dies_at that maintenance has not marked yet is expired as read.
    await pool.execute(
        "UPDATE pgqueue.task SET dies_at = now() - interval '1 second' WHERE id = $1", new
    )
    counts = {
        (s.queue, s.status): s.count for s in await system.queue_stats() if s.namespace == "test"
    }
    assert counts[("jobs", Status.NEW)] == 1 and counts[("jobs", Status.EXPIRED)] == 1
    assert counts[("busy", Status.RETAINED)] == 1 and counts[("idle", Status.NEW)] == 0
    assert await manager.queue_stats() == [
        s for s in await system.queue_stats() if s.namespace == "test"
    ]


@pytest.mark.slow
async def test_scrape_queries_do_not_scan_the_task_table(
    manager: Manager, pool: asyncpg.Pool
) -> None:
    """On a table of BIG rows (mostly finished tasks, as in production: they stay for their
    queue's TTL) in 20 queues, neither query reads the whole table."""
    for i in range(20):
        await manager.register_queue(QueueMeta(queue=f"q{i}"))
    # Bulk rows straight into the table (setting up, not the API under test).
    await pool.execute(
        """
        INSERT INTO pgqueue.task (namespace, queue, payload, status, dies_at, retries,
                                  finished_at, created_at)
        SELECT 'test', 'q' || (g % 20), '1',
               CASE WHEN g % 100 = 0 THEN 'new' WHEN g % 100 = 1 THEN 'retained'
                    ELSE 'released' END,
               now() + interval '1 hour', 3, now(), now() - interval '1 minute'
          FROM generate_series(1, $1) AS g
        """,
        BIG,
    )
    await pool.execute("VACUUM (ANALYZE) pgqueue.task")  # as autovacuum keeps it
    system = System(pool)
    await system.fold_counts()  # as maintenance does every second
    for name in ("queue_stats", "queue_oldest_ready"):
        sql = system.sql[name].sql
        plan = "\n".join(r[0] for r in await pool.fetch(f"EXPLAIN {sql}", None))
        # (task_count and task_count_change are small: scanned whole by design)
        assert not re.search(r"Seq Scan on task\b", plan), f"{name}:\n{plan}"
        print(f"{name}:\n{plan}")  # for -s: the plan read
    counts = {(s.queue, s.status): s.count for s in await system.queue_stats()}
    # q1 holds the rows g % 20 == 1: a fifth of them have g % 100 == 1 (retained).
    assert counts[("q1", Status.RELEASED)] == BIG // 20 * 4 // 5
    assert counts[("q1", Status.RETAINED)] == BIG // 20 // 5
