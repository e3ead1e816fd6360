"""Helpers of the core tests: a raw connection for time travel, polling with a deadline."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import asyncpg
import pytest

from pgqueue_core import Manager, QueueMeta

T = TypeVar("T")


@pytest.fixture
async def conn(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection of its own, for reading and rewriting rows behind the Manager's back."""
    connection = await asyncpg.connect(dsn)
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
async def queue(manager: Manager) -> str:
    """A queue named "q" with long ttl and retry delay (nothing lapses by itself)."""
    await manager.register_queue(QueueMeta(queue="q"))
    return "q"


async def eventually(
    probe: Callable[[], Awaitable[T]], accept: Callable[[T], bool], timeout: float = 10.0
) -> T:
    """Call `probe` until `accept` holds for its value; fail after `timeout` seconds.

    Only for waiting on the database clock (a ttl or interval must really pass).
    """
    value = await probe()
    async with asyncio.timeout(timeout):
        while not accept(value):
            await asyncio.sleep(0.05)
            value = await probe()
    return value


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
    await eventually(
        lambda: conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'"
        ),
        lambda n: n >= count,
        timeout,
    )


class _NoDatabase:
    """A pool stand-in that fails any use: for checks that must happen before a query."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"the database was used (pool.{name}) before input was checked")


@pytest.fixture
async def offline() -> Manager:
    """A Manager of namespace "test" whose every database access fails the test."""
    return await Manager.new(_NoDatabase(), "test", migrate_schema=False)
