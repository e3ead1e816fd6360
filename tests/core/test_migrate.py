"""Schema migrations: a dedicated schema, versioned, concurrent-safe, idempotent."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import asyncpg
import pytest

from pgqueue_core import InvalidArgument, Manager, QueueMeta, TaskMeta
from pgqueue_core.migrate import current_version, latest_version, migrate
from pgqueue_core.queries import migrations, render

# Everything that makes up a schema, in a comparable form.
_DUMP_QUERIES = {
    "columns": """
        SELECT table_name, column_name, ordinal_position, data_type, is_nullable,
               column_default, is_identity, identity_generation
          FROM information_schema.columns WHERE table_schema = $1
         ORDER BY table_name, ordinal_position""",
    "constraints": """
        SELECT c.conrelid::regclass::text AS rel, c.conname, c.contype,
               pg_get_constraintdef(c.oid) AS def
          FROM pg_constraint c JOIN pg_namespace n ON n.oid = c.connamespace
         WHERE n.nspname = $1 ORDER BY 1, 2""",
    "indexes": """
        SELECT tablename, indexname, indexdef FROM pg_indexes
         WHERE schemaname = $1 ORDER BY 1, 2""",
    "functions": """
        SELECT p.proname, pg_get_function_identity_arguments(p.oid) AS args,
               pg_get_functiondef(p.oid) AS def
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
         WHERE n.nspname = $1 ORDER BY 1, 2""",
    "triggers": """
        SELECT tgrelid::regclass::text, tgname, pg_get_triggerdef(t.oid)
          FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = $1 AND NOT t.tgisinternal ORDER BY 1, 2""",
    "types": """
        SELECT t.typname, t.typtype FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
         WHERE n.nspname = $1 ORDER BY 1""",
    "options": """
        SELECT c.relname, c.relkind, c.reloptions FROM pg_class c
          JOIN pg_namespace n ON n.oid = c.relnamespace
         WHERE n.nspname = $1 ORDER BY 1""",
}


async def dump_schema(conn: asyncpg.Connection, schema: str) -> dict[str, list[tuple[object, ...]]]:
    dump = {}
    for name, query in _DUMP_QUERIES.items():
        dump[name] = [tuple(row) for row in await conn.fetch(query, schema)]
    return dump


@pytest.fixture
async def empty_conn(empty_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(empty_dsn)
    try:
        yield conn
    finally:
        await conn.close()


async def test_fresh_database_is_migrated_to_latest(empty_conn: asyncpg.Connection) -> None:
    assert await current_version(empty_conn, "pgqueue") == 0
    applied = await migrate(empty_conn)
    assert applied == latest_version() >= 1
    assert await current_version(empty_conn, "pgqueue") == latest_version()
    rows = await empty_conn.fetch("SELECT version, name FROM pgqueue.migration ORDER BY version")
    assert [(r["version"], r["name"]) for r in rows] == [(v, n) for v, n, _ in migrations()]


async def test_objects_live_in_the_dedicated_schema_only(empty_conn: asyncpg.Connection) -> None:
    """Defect 13: nothing is created unqualified in the caller's default schema."""
    await migrate(empty_conn)
    public = await empty_conn.fetch(
        """SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public'
           UNION ALL
           SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace
            WHERE n.nspname = 'public'
           UNION ALL
           SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = 'public'"""
    )
    assert public == []
    tables = await empty_conn.fetch(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'pgqueue' ORDER BY 1"
    )
    assert [r["table_name"] for r in tables] == [
        "migration",
        "queue",
        "task",
        "task_count",
        "task_count_change",
        "task_read",
        "ticker",
        "watcher",
    ]


async def test_migrating_again_is_a_no_op(empty_conn: asyncpg.Connection) -> None:
    await migrate(empty_conn)
    before = await dump_schema(empty_conn, "pgqueue")
    applied_at = await empty_conn.fetch("SELECT * FROM pgqueue.migration ORDER BY version")
    assert await migrate(empty_conn) == 0
    assert await dump_schema(empty_conn, "pgqueue") == before
    assert await empty_conn.fetch("SELECT * FROM pgqueue.migration ORDER BY version") == applied_at


async def test_concurrent_managers_migrate_once(empty_dsn: str) -> None:
    pools = [await asyncpg.create_pool(empty_dsn, min_size=1, max_size=2) for _ in range(2)]
    try:
        managers = await asyncio.gather(Manager.new(pools[0], "one"), Manager.new(pools[1], "two"))
        assert [m.namespace for m in managers] == ["one", "two"]
        async with pools[0].acquire() as conn:
            versions = await conn.fetch("SELECT version FROM pgqueue.migration ORDER BY 1")
            assert [r["version"] for r in versions] == list(range(1, latest_version() + 1))
        # Both managers work on the one schema.
        await managers[0].register_queue(QueueMeta(queue="q"))
        assert (await managers[1].list_namespaces()) == ["one"]
    finally:
        for pool in pools:
            await pool.close()


async def test_concurrent_migrate_calls_on_many_connections(empty_dsn: str) -> None:
    conns = [await asyncpg.connect(empty_dsn) for _ in range(4)]
    try:
        applied = await asyncio.gather(*(migrate(c) for c in conns))
        assert sorted(applied) == [0, 0, 0, latest_version()]
    finally:
        for conn in conns:
            await conn.close()


async def test_migrated_schema_equals_plain_concatenation(
    dsn: str, empty_conn: asyncpg.Connection
) -> None:
    """Applying the migrations one by one gives the same schema as running them as one
    script on an empty database."""
    plain = "\n".join(text for _, _, text in migrations())
    await empty_conn.execute("CREATE SCHEMA pgqueue")
    await empty_conn.execute(render(plain, "pgqueue"))
    migrated = await asyncpg.connect(dsn)
    try:
        expected = await dump_schema(migrated, "pgqueue")
    finally:
        await migrated.close()
    actual = await dump_schema(empty_conn, "pgqueue")
    # The migration bookkeeping table is migrate()'s own, not part of the scripts.
    for name in expected:
        expected[name] = [row for row in expected[name] if "migration" not in str(row[:2])]
    assert actual == expected
    assert expected["columns"] and expected["functions"] and expected["triggers"]


async def test_custom_schema(empty_dsn: str) -> None:
    pool = await asyncpg.create_pool(empty_dsn, min_size=1, max_size=2)
    try:
        mgr = await Manager.new(pool, "app", schema="jobs")
        await mgr.register_queue(QueueMeta(queue="q"))
        await mgr.create_task("q", TaskMeta(payload=1))
        async with pool.acquire() as conn:
            assert await conn.fetchval("SELECT count(*) FROM jobs.task") == 1
            assert await conn.fetchval("SELECT to_regclass('pgqueue.task')") is None
    finally:
        await pool.close()


@pytest.mark.parametrize("schema", ["Bad", "1abc", "a-b", "x; DROP TABLE y", "", "a" * 41])
async def test_schema_names_are_checked(schema: str) -> None:
    with pytest.raises(InvalidArgument):
        await Manager.new(object(), "app", schema=schema)


def test_migration_files_are_numbered_without_gaps() -> None:
    found = migrations()
    assert [v for v, _, _ in found] == list(range(1, len(found) + 1))
    for _, _, text in found:
        # Every object is schema-qualified: nothing lands in the search_path's schema.
        assert "{schema}." in text
