"""PostgreSQL for the tests: finding a server, databases on it, pools, rows behind the
Manager's back."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from .waiting import value_when

LOCAL_DSNS = (
    "postgresql://postgres@127.0.0.1:5432/postgres",
    "postgresql://postgres@127.0.0.1:5432/test",
)


def with_database(dsn: str, database: str) -> str:
    """The same server and credentials, another database."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + database))


async def answers(dsn: str) -> bool:
    try:
        conn = await asyncpg.connect(dsn, timeout=3)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    try:
        await conn.fetchval("SELECT 1")
        return True
    finally:
        await conn.close()


def docker_postgres(stack: contextlib.ExitStack) -> str | None:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env().ping()
    except Exception:
        return None
    from testcontainers.postgres import PostgresContainer

    container = stack.enter_context(PostgresContainer("postgres:16-alpine", driver=None))
    return str(container.get_connection_url())


def embedded_postgres(stack: contextlib.ExitStack) -> str:
    from pgqueue_core.embedded import EmbeddedPostgres

    folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="pgqueue-test-"))
    server = EmbeddedPostgres(os.path.join(folder, "data"))
    stack.callback(server.stop)
    return server.start()


async def admin(admin_dsn: str, *statements: str) -> None:
    """Run statements (CREATE/DROP DATABASE) on the admin connection's server."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def close_pool(pool: asyncpg.Pool, timeout: float = 10.0) -> None:
    """Close a pool; if a test left connections checked out (it failed midway), cut them
    after `timeout` instead of waiting for ever."""
    try:
        await asyncio.wait_for(pool.close(), timeout)
    except TimeoutError:
        pool.terminate()


async def close_promptly(pool: asyncpg.Pool, within: float = 5.0) -> None:
    """Close the pool, failing (after cutting its connections) if that takes long."""
    try:
        await asyncio.wait_for(pool.close(), within)
    except TimeoutError:
        pool.terminate()
        raise AssertionError(f"pool.close() took over {within}s: a connection leaked") from None


async def shift_task(conn: asyncpg.Connection, task_id: int, **columns: str) -> None:
    """Time travel: set timestamp columns of a task to SQL expressions (e.g. now() - ...)."""
    allowed = {"created_at", "delayed_at", "started_at", "finished_at", "dies_at", "leased_until"}
    assert set(columns) <= allowed, columns
    assignments = ", ".join(f"{column} = {expr}" for column, expr in columns.items())
    status = await conn.execute(f"UPDATE pgqueue.task SET {assignments} WHERE id = $1", task_id)
    assert status == "UPDATE 1"


async def db_now(conn: asyncpg.Connection) -> Any:
    return await conn.fetchval("SELECT now()")


async def wait_blocked(conn: asyncpg.Connection, count: int = 1, timeout: float = 10.0) -> None:
    """Wait until `count` other sessions of this database wait on a lock."""
    await value_when(
        lambda: conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        ),
        lambda n: n >= count,
        timeout,
    )


class NoDatabase:
    """A pool stand-in that fails any use: for checks that must happen before a query."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the database was used (pool.{name}) before input was checked")
