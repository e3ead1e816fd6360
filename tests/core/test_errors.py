"""The one error hierarchy, and the one place database errors are translated."""

from __future__ import annotations

import asyncpg
import pytest

from pgqueue_core import (
    Conflict,
    InvalidArgument,
    Manager,
    NotFound,
    PgQueueError,
    QueueMeta,
    Unavailable,
)
from pgqueue_core.db import translate
from pgqueue_core.errors import error_for_code


def test_hierarchy_and_codes() -> None:
    for cls, code in ((InvalidArgument, 400), (NotFound, 404), (Conflict, 409), (Unavailable, 503)):
        err = cls("message", detail={"x": 1})
        assert isinstance(err, PgQueueError)
        assert (err.code, str(err), err.detail) == (code, "message", {"x": 1})
        assert type(error_for_code(code, "m")) is cls
    odd = error_for_code(418, "teapot")
    assert type(odd) is PgQueueError and odd.code == 418


async def test_constraint_violations_are_translated(
    manager: Manager, conn: asyncpg.Connection
) -> None:
    await manager.register_queue(QueueMeta(queue="q"))
    with pytest.raises(asyncpg.UniqueViolationError) as unique:
        await conn.execute("INSERT INTO pgqueue.queue (namespace, queue) VALUES ('test', 'q')")
    assert isinstance(translate(unique.value), Conflict)
    with pytest.raises(asyncpg.CheckViolationError) as check:
        await conn.execute(
            "INSERT INTO pgqueue.queue (namespace, queue, ttl) VALUES ('t', 'q', '-1 hour')"
        )
    mapped = translate(check.value)
    assert isinstance(mapped, InvalidArgument) and "ttl" in str(mapped)
    with pytest.raises(asyncpg.ForeignKeyViolationError) as fkey:
        await conn.execute(
            "INSERT INTO pgqueue.task (namespace, queue, payload, dies_at, retries) "
            "VALUES ('test', 'nope', '1', now(), 0)"
        )
    assert isinstance(translate(fkey.value), NotFound)
    with pytest.raises(asyncpg.DataError) as data:
        await conn.execute("SELECT 'x'::int")
    assert isinstance(translate(data.value), InvalidArgument)
    assert translate(RuntimeError("other")) is None


def test_connection_problems_are_unavailable() -> None:
    for exc in (OSError("refused"), TimeoutError(), asyncpg.InterfaceError("closed")):
        assert isinstance(translate(exc), Unavailable)


async def test_unreachable_database_is_unavailable(pool: asyncpg.Pool) -> None:
    mgr = await Manager.new(pool, "test", acquire_timeout=0.5)
    held = [await pool.acquire() for _ in range(pool.get_max_size())]
    try:
        with pytest.raises(Unavailable):
            await mgr.list_queues()
    finally:
        for conn in held:
            await pool.release(conn)
    await mgr.ping()
