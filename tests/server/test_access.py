"""Read-only enforcement, checked from the route table rather than from a list kept by hand:
every route that changes state (any method but GET, and the GETs that claim) declares write
access, a read-only token is refused on each of them before anything happens, and reads
stay open to it. A route added later is covered without touching this test."""

from __future__ import annotations

import re
from typing import Any

import asyncpg

from pgqueue_server.auth import Access, TokenScope
from tests.support.server import Server, make_config, serving_app

ADMIN = "access-admin-token-0123456789"
READER = "access-reader-token-0123456789"
STREAM = {"Accept": "text/event-stream"}
CLAIMING_GETS = {"/api/ticker/next"}  # a GET that hands out a firing


def _calls(srv: Server, values: dict[str, str]) -> list[tuple[str, str, Access, dict[str, Any]]]:
    """(method, path, declared access, extra) for every method of every route; GET /ticker
    twice (a list, and as the stream that claims)."""
    calls = []
    for route in srv.app.router.routes:
        template = "/" + route.path
        path = re.sub(r"<([^:>]+)[^>]*>", lambda m: values[m.group(1)], template)
        access = Access(getattr(route.ctx, "access", Access.WRITE))
        for method in sorted(route.methods - {"HEAD", "OPTIONS"}):
            calls.append((method, path, access, {}))
            if method == "GET" and getattr(route.ctx, "streams", False):
                calls.append((method, path, Access.WRITE, {"headers": STREAM}))
    return calls


async def _state(dsn: str) -> list[Any]:
    conn = await asyncpg.connect(dsn)
    try:
        return [
            await conn.fetch(f"SELECT * FROM pgqueue.{table} ORDER BY 1")
            for table in ("queue", "task", "ticker")
        ]
    finally:
        await conn.close()


async def test_every_route_that_writes_is_refused_to_a_read_only_token(dsn: str) -> None:
    reader = TokenScope(name="reader", read_only=True)
    config = make_config(dsn, token=ADMIN, tokens=((READER, reader),), maintenance=False)
    async with serving_app(config) as srv:
        # One name for the queue and the ticker: `<name>` finds either.
        assert (await srv.post("/queue", {"queue": "jobs"})).status == 201
        task = await srv.post("/task", {"queue": "jobs", "payload": 1})
        assert (await srv.post("/ticker", {"ticker": "jobs", "interval": "1h"})).status == 201
        values = {"queue": "jobs", "name": "jobs", "task_id": str(task.json["id"])}
        calls = _calls(srv, values)
        assert {(m, p) for m, p, *_ in calls} >= {("PUT", "/api/task"), ("GET", "/api/events")}

        before = await _state(dsn)
        for method, path, access, extra in calls:
            relative = path.removeprefix(srv.config.prefix)
            declared_write = method != "GET" or path in CLAIMING_GETS or extra
            assert (access is Access.WRITE) == bool(declared_write), (method, path, access)
            if access is Access.WRITE:
                body: Any = {} if method in ("POST", "PATCH") else None
                reply = await srv.call(method, relative, body=body, token=READER, **extra)
                assert reply.status == 403, (method, path, reply.status, reply.text)
                assert reply.json["error"] == "forbidden" and "read-only" in reply.json["reason"]
        assert await _state(dsn) == before  # refused before anything happened

        for method, path, access, _ in calls:
            if access is Access.READ and path != "/api/events":  # a stream: see test_events
                reply = await srv.call(method, path.removeprefix(srv.config.prefix), token=READER)
                assert reply.status == 200, (method, path, reply.status, reply.text)
