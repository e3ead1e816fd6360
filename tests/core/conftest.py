"""Fixtures of the core tests: a raw connection for time travel, a queue, an offline Manager."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest

from pgqueue_core import Manager, QueueMeta
from tests.support.db import NoDatabase


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


@pytest.fixture
async def offline() -> Manager:
    """A Manager of namespace "test" whose every database access fails the test."""
    return await Manager.new(NoDatabase(), "test", migrate_schema=False)
