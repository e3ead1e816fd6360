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
from pgqueue_core.errors import ERROR_KEYS, error_for_key


def test_hierarchy_and_keys() -> None:
    for cls, key in (
        (InvalidArgument, "invalid_argument"),
        (NotFound, "not_found"),
        (Conflict, "conflict"),
        (Unavailable, "unavailable"),
    ):
        err = cls("message", detail={"x": 1})
        assert isinstance(err, PgQueueError)
        assert (err.key, str(err), err.detail) == (key, "message", {"x": 1})
        assert not hasattr(err, "code")  # the core knows no HTTP
        assert type(error_for_key(key, "m")) is cls
    specific = NotFound("task 1 is not retained", key="task_not_retained")
    assert specific.key == "task_not_retained" and NotFound.key == "not_found"
    again = error_for_key("task_not_retained", "m")
    assert type(again) is NotFound and again is not None and again.key == "task_not_retained"
    assert error_for_key("no_such_key", "m") is None
    assert all(key == key.lower() and " " not in key for key in ERROR_KEYS)


async def test_errors_name_what_was_not_found(manager: Manager) -> None:
    with pytest.raises(NotFound) as queue:
        await manager.get_queue("nope")
    assert queue.value.key == "queue_not_found"
    with pytest.raises(NotFound) as ticker:
        await manager.get_ticker("nope")
    assert ticker.value.key == "ticker_not_found"
    with pytest.raises(NotFound) as task:
        await manager.get_task(12345)
    assert task.value.key == "task_not_found"
    await manager.register_queue(QueueMeta(queue="q"))
    with pytest.raises(Conflict) as exists:
        await manager.create_queue(QueueMeta(queue="q"))
    assert exists.value.key == "queue_exists"


async def test_constraint_violations_are_translated(
    manager: Manager, conn: asyncpg.Connection
) -> None:
    await manager.register_queue(QueueMeta(queue="q"))
    with pytest.raises(asyncpg.UniqueViolationError) as unique:
        await conn.execute("INSERT INTO pgqueue.queue (namespace, queue) VALUES ('test', 'q')")
    mapped_unique = translate(unique.value)
    assert isinstance(mapped_unique, Conflict) and mapped_unique.key == "queue_exists"
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
