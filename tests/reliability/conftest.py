"""Fault-test fixtures: a PostgreSQL cluster of the test's own (which it may stop, start and
freeze: never the shared server); helpers in tests.support.cluster and .processes."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from pgqueue_core.embedded import EmbeddedPostgres
from tests.support.cluster import thaw
from tests.support.db import close_pool, close_promptly
from tests.support.net import free_port


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[EmbeddedPostgres]:
    """A PostgreSQL cluster of this test alone, on a TCP port (so that drops are real)."""
    server = EmbeddedPostgres(tmp_path / "pg", port=free_port())
    server.start()
    try:
        yield server
    finally:
        thaw(server)  # a test that failed while the cluster was frozen
        server.stop()


@pytest.fixture
async def own_pool(cluster: EmbeddedPostgres) -> AsyncIterator[asyncpg.Pool]:
    """A pool on the cluster; it must close promptly afterwards: a connection the outage
    left checked out would make `pool.close()` wait for ever."""
    pool = await asyncpg.create_pool(cluster.dsn, min_size=2, max_size=30)
    try:
        yield pool
    except BaseException:
        await close_pool(pool)
        raise
    await close_promptly(pool)
