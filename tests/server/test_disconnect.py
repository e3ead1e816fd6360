"""A client that hangs up mid-request is not a server error (SPEC §7.2): counted under
status 499 (nginx's "client closed request"), never as a 5xx, and not logged at ERROR."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

import asyncpg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.support.server import Server, make_config, open_stream, serving_app
from tests.support.waiting import wait_for

from .rawhttp import connection, exchange, port_of, request


async def _request_counts(srv: Server) -> dict[tuple[str, str, str], float]:
    reply = await srv.get("/metrics")
    assert reply.status == 200
    return {
        (s.labels["method"], s.labels["route"], s.labels["status"]): s.value
        for family in text_string_to_metric_families(reply.text)
        if family.name == "pgqueue_http_requests"
        for s in family.samples
        if s.name.endswith("_total")
    }


@contextlib.asynccontextmanager
async def _queue_table_locked(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """The queue table locked by another session: whoever reads it waits."""
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            await conn.execute("LOCK TABLE pgqueue.queue IN ACCESS EXCLUSIVE MODE")
            yield conn
    finally:
        await conn.close()


async def _lock_waiters(conn: asyncpg.Connection) -> int:
    return int(
        await conn.fetchval(
            "SELECT count(*) FROM pg_stat_activity"
            " WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
    )


def _no_errors(caplog: pytest.LogCaptureFixture) -> None:
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR and not _stale_cancel(r)]
    assert not errors, [f"{r.name}: {r.getMessage()}" for r in errors]


async def test_hang_up_while_the_handler_awaits_the_database(
    dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    # No maintenance loop: the only session that waits for the lock is the request's.
    async with serving_app(make_config(dsn, maintenance=False)) as srv:
        port = port_of(srv.base)
        async with _queue_table_locked(dsn) as locker:
            async with connection(port) as (_, writer):
                writer.write(request("GET", "/api/queue"))
                await writer.drain()
                # The handler is in the database, waiting for the lock: hang up now.
                await wait_for(lambda: _lock_waiters(locker), 5, "the request to wait")
            # The server cancels the handler, and its query with it.
            await wait_for(
                lambda: _lock_waiters_gone(locker), 5, "the abandoned query to be cancelled"
            )
        counts = await _eventually_counted(srv, ("GET", "/queue", "499"))
        assert not [key for key in counts if key[2].startswith("5")], counts
        assert (await srv.get("/queue")).status == 200  # the pool is fine
    _no_errors(caplog)
    assert any(" 499 " in r.getMessage() for r in caplog.records if r.name.endswith("access"))


async def test_hang_up_during_the_request_body(dsn: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO)
    async with serving_app(make_config(dsn)) as srv:
        port = port_of(srv.base)
        async with connection(port) as (reader, writer):
            head = request("POST", "/api/queue", [(b"Expect", b"100-continue")], b"x" * 100)
            writer.write(head[: head.index(b"\r\n\r\n") + 4])  # the head, no body yet
            await writer.drain()
            # The server asks for the body once it reads it: send a part, then hang up.
            async with asyncio.timeout(5):
                assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 100")
            writer.write(b'{"queue": ')
            await writer.drain()
        counts = await _eventually_counted(srv, ("POST", "/queue", "499"))
        assert not [key for key in counts if key[2].startswith("5")], counts
    _no_errors(caplog)


def _stale_cancel(record: logging.LogRecord) -> bool:
    """asyncpg sends a query's cancel request from a task of its own; one left pending when an
    earlier test's event loop closed is reported by the garbage collector whenever it runs,
    possibly during this test. It says nothing about how this server treats a hang-up."""
    message = record.getMessage()
    return (
        record.name == "asyncio"
        and message.startswith("Task was destroyed but it is pending")
        and "Connection._cancel()" in message
    )


async def _lock_waiters_gone(conn: asyncpg.Connection) -> bool:
    return await _lock_waiters(conn) == 0


async def _eventually_counted(
    srv: Server, key: tuple[str, str, str]
) -> dict[tuple[str, str, str], float]:
    """The request counts once `key` has been counted (the server notices a hang-up a few
    milliseconds after it happened)."""
    found: dict[tuple[str, str, str], float] = {}

    async def counted() -> bool:
        nonlocal found
        found = await _request_counts(srv)
        return found.get(key, 0) >= 1 or any(k[2].startswith("5") for k in found)

    await wait_for(counted, 5, f"{key} to be counted")
    assert found.get(key) == 1, found
    return found


async def test_hang_up_while_a_stream_claims_a_firing(
    dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Clients of `GET /api/ticker/next` that hang up while the stream's claim is in the
    database (here: waiting for a lock). The claim's statement used to be cancelled in
    flight; asyncpg then cancels it over a second connection and, when the first is given
    up meanwhile, logs "Future exception was never retrieved" at ERROR (about one stream in
    a hundred opened and closed at once did). The statement now finishes, the claim is given
    back, and the firing goes to the next stream. (Streams use a quarter of the pool at once:
    one claim waits for the lock, the others for a stream slot.)"""
    caplog.set_level(logging.INFO)
    async with serving_app(make_config(dsn, maintenance=False, max_streams_per_token=0)) as srv:
        port = port_of(srv.base)
        assert (await srv.post("/ticker", {"ticker": "tick", "interval": "1h"})).status == 201
        # Statistics are a snapshot per transaction: the lock's holder cannot watch them.
        locker, watcher = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
        try:
            async with locker.transaction():
                await locker.execute("LOCK TABLE pgqueue.ticker IN ACCESS EXCLUSIVE MODE")
                open_before = sum(srv.app.ctx.client_connections.open.values())
                async with contextlib.AsyncExitStack() as clients:
                    for _ in range(3):  # the pool holds 4 connections
                        _, writer = await clients.enter_async_context(connection(port))
                        writer.write(request("GET", "/api/ticker/next"))
                    await wait_for(
                        lambda: _lock_waiters_at_least(watcher, 1), 10, "a claim to wait"
                    )
                # All hung up: the server sees it, and its streams are told to stop.
                await wait_for(
                    lambda: sum(srv.app.ctx.client_connections.open.values()) == open_before,
                    5,
                    "the server to see the hang-ups",
                )
            await wait_for(lambda: not srv.app.ctx.streams, 10, "the streams to end")
        finally:
            await locker.close()
            await watcher.close()
        async with open_stream(srv) as stream:
            assert (await stream.next_event()).json["ticker"] == "tick"
    _no_errors(caplog)


async def _lock_waiters_at_least(conn: asyncpg.Connection, count: int) -> bool:
    return await _lock_waiters(conn) >= count


async def test_streams_closed_at_once_log_no_error(
    dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    """`GET /api/ticker/next`, read the head, hang up, 400 times: the hang-up comes while the
    stream's first claim is in the database. Before the claim's statement was left to
    finish, asyncpg logged "Future exception was never retrieved" (ConnectionDoesNotExistError,
    or ConnectionError "unexpected connection_lost() call" when it negotiates TLS) at ERROR
    in every such run (3 to 26 times in 600 streams)."""
    caplog.set_level(logging.ERROR)
    async with serving_app(make_config(dsn, max_streams_per_token=0)) as srv:
        port = port_of(srv.base)
        assert (await srv.post("/ticker", {"ticker": "tick", "interval": "1s"})).status == 201
        for _ in range(400):
            reply = await exchange(port, request("GET", "/api/ticker/next"))
            assert reply.status == 200, reply
        await wait_for(lambda: not srv.app.ctx.streams, 10, "the streams to end")
    _no_errors(caplog)
