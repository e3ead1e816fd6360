"""Maintenance's own VACUUM of the churning tables once their dead row versions pass the
autovacuum threshold (autovacuum itself visits once per naptime), where the role may."""

from __future__ import annotations

import os

import asyncpg

from pgqueue_core import Maintenance, Manager, QueueMeta, System, TaskMeta


async def dead_rows_reported(conn: asyncpg.Connection) -> None:
    """Make this session's table statistics visible now (they are flushed at most once a
    second otherwise)."""
    await conn.execute("SELECT pg_stat_force_next_flush()")
    await conn.execute("SELECT 1")  # the flush happens at the end of a statement


async def test_maintenance_vacuums_the_task_table_past_its_threshold(
    manager: Manager, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    # Autovacuum, visiting meanwhile, would take the dead rows away from under the test.
    await conn.execute("ALTER TABLE pgqueue.task SET (autovacuum_enabled = off)")
    await manager.register_queue(QueueMeta(queue="q"))
    await manager.create_tasks("q", [TaskMeta(payload=i) for i in range(3000)])
    system = System(pool)
    await dead_rows_reported(conn)
    assert await system.vacuum() == []  # inserts leave no dead rows: autovacuum's business
    await conn.execute("DELETE FROM pgqueue.task WHERE id % 3 = 0")  # 1,000 dead: not yet
    await dead_rows_reported(conn)
    assert await system.vacuum() == []
    await conn.execute("UPDATE pgqueue.task SET priority = 1 WHERE id % 3 = 1")  # 2,000 dead
    await dead_rows_reported(conn)
    maintenance = Maintenance(pool)
    assert "vacuum" in await maintenance.run_due()
    assert maintenance.counts["vacuums"] >= 1
    assert (
        await conn.fetchval(
            "SELECT vacuum_count FROM pg_stat_user_tables WHERE relid = 'pgqueue.task'::regclass"
        )
        == 1
    )


async def test_no_vacuum_where_the_role_does_not_own_the_tables(
    manager: Manager, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    await conn.execute("ALTER TABLE pgqueue.task SET (autovacuum_enabled = off)")
    await manager.register_queue(QueueMeta(queue="q"))
    await manager.create_tasks("q", [TaskMeta(payload=i) for i in range(3000)])
    await conn.execute("DELETE FROM pgqueue.task")
    await dead_rows_reported(conn)
    system = System(pool)
    due = system.sql["system_vacuum_due"].sql
    assert [r["relname"] for r in await conn.fetch(due)] == ["task"]
    role = f"pgq_not_owner_{os.getpid()}"
    await conn.execute(f"CREATE ROLE {role}")
    try:
        await conn.execute(f"GRANT USAGE ON SCHEMA pgqueue TO {role}")
        await conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA pgqueue TO {role}")
        async with conn.transaction():
            await conn.execute(f"SET LOCAL ROLE {role}")
            assert await conn.fetch(due) == []
    finally:
        await conn.execute(f"DROP OWNED BY {role}")
        await conn.execute(f"DROP ROLE {role}")
