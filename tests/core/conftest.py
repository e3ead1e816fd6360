"""Fixtures of the core tests: a raw connection for time travel, a queue, an offline Manager."""

from __future__ import annotations

import pytest

from pgqueue_core import Manager, QueueMeta
from tests.support.db import NoDatabase


@pytest.fixture
async def queue(manager: Manager) -> str:
    """A queue named "q" with long ttl and retry delay (nothing lapses by itself)."""
    await manager.register_queue(QueueMeta(queue="q"))
    return "q"


@pytest.fixture
async def offline() -> Manager:
    """A Manager of namespace "test" whose every database access fails the test."""
    return await Manager.new(NoDatabase(), "test", migrate_schema=False)
