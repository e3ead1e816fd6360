"""A pool whose reset sends nothing (`db.keep_session`, the server's) gets its connections
back with no session state: the notifier's LISTEN connection included."""

from __future__ import annotations

import asyncio

import asyncpg

from pgqueue_core import Manager, QueueMeta, TaskMeta
from pgqueue_core.db import keep_session
from pgqueue_core.manager import DEFAULT_SCHEMA
from pgqueue_core.notifier import Notifier

from ..conftest import close_pool


async def test_the_notifier_gives_its_connection_back_listening_to_nothing(dsn: str) -> None:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1, reset=keep_session)
    try:
        notifier = Notifier(pool, DEFAULT_SCHEMA)
        connected = asyncio.Event()
        changes: list[str | None] = []

        def on_event(event: object) -> None:
            if event is None:  # published once the connection listens
                connected.set()

        notifier.subscribe(on_event)
        await notifier.subscribe_changes(changes.append)
        async with asyncio.timeout(10):
            await connected.wait()
        await notifier.unsubscribe(on_event)
        await notifier.unsubscribe(changes.append)
        async with pool.acquire() as conn:  # the only connection: the notifier's, given back
            assert await conn.fetch("SELECT pg_listening_channels()") == []
    finally:
        await close_pool(pool)


async def test_statements_work_across_releases_without_a_reset(dsn: str) -> None:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=1, reset=keep_session)
    try:
        manager = await Manager.new(pool, "test")
        await manager.register_queue(QueueMeta(queue="q"))
        for n in range(3):  # each on the one connection, given back in between
            await manager.create_task("q", TaskMeta(payload=n))
        (task,) = await manager.next_tasks("w", "q", limit=1)
        await manager.release_task(task.id)
        await manager.close()
        async with pool.acquire() as conn:
            assert not conn.is_in_transaction()
            assert await conn.fetch("SELECT pg_listening_channels()") == []
    finally:
        await close_pool(pool)
