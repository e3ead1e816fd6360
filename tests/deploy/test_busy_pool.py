"""A process with more concurrent operations than pooled connections serves them all: the
connections the core keeps between operations must not starve those waiting for the pool
(under sustained load they used to time out after `acquire_timeout`: 503s from a server
that was merely busy)."""

from __future__ import annotations

import asyncio
import time

import asyncpg

from pgqueue_core import Manager, QueueMeta, System
from tests.support.db import close_pool


async def test_waiters_get_connections_under_sustained_load(dsn: str) -> None:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    try:
        manager = await Manager.new(pool, "busy", acquire_timeout=1.0)
        await manager.register_queue(QueueMeta(queue="q"))
        deadline = time.monotonic() + 3.0  # three acquire timeouts of constant demand

        async def client() -> int:
            done = 0
            while time.monotonic() < deadline:
                await manager.get_queue("q")  # Unavailable if it waited 1 s for a connection
                done += 1
            return done

        counts = await asyncio.gather(*(client() for _ in range(12)))
        assert min(counts) > 0, counts
    finally:
        await close_pool(pool)


async def test_maintenance_waiting_for_the_pool_is_served(dsn: str) -> None:
    # System (maintenance, statistics) shares the Manager's Connections: while it waits for
    # the pool, the connections the Manager would keep go back to the pool instead.
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    try:
        manager = await Manager.new(pool, "busy", acquire_timeout=1.0)
        await manager.register_queue(QueueMeta(queue="q"))
        system = System(pool, acquire_timeout=1.0, connections=manager.connections)
        deadline = time.monotonic() + 3.0  # three acquire timeouts of constant demand

        async def client() -> int:
            done = 0
            while time.monotonic() < deadline:
                await manager.get_queue("q")
                done += 1
            return done

        async def statistics() -> int:
            done = 0
            while time.monotonic() < deadline:
                await system.queue_stats()  # Unavailable if it waited 1 s for a connection
                done += 1
            return done

        # As many busy clients as connections: they never wait for the pool themselves (each
        # reuses the connection it keeps), so only the shared count tells them to let go.
        counts = await asyncio.gather(statistics(), client(), client())
        assert min(counts) > 0, counts
    finally:
        await close_pool(pool)
