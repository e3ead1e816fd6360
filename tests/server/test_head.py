"""HEAD on every GET route of the route table: the status and headers of GET, no body
(load balancers probe /health with HEAD); on the ticker streams without streaming or
claiming a firing."""

from __future__ import annotations

import logging
import re
from typing import Any

import pytest

from tests.support.server import Server, make_config, open_stream, serving_app

from .rawhttp import RawReply, closed_after, connection, exchange, port_of, read_reply, request

TOKEN = "head-test-token-0123456789"
STREAM = [(b"Accept", b"text/event-stream")]


def _auth(token: str | None) -> list[tuple[bytes, bytes]]:
    return [(b"Authorization", f"Bearer {token}".encode())] if token else []


async def _head(port: int, target: str, headers: list[tuple[bytes, bytes]]) -> RawReply:
    """A HEAD answer, and proof that nothing but the head came: the connection closes
    (Connection: close) with no byte after it."""
    async with connection(port) as (reader, writer):
        writer.write(request("HEAD", target, headers))
        reply = await read_reply(reader, head_only=True, within=5)
        _, rest = await closed_after(reader, within=5)
        assert rest == b"", (target, rest[:200])
        return reply


def _same_head(get: RawReply, head: RawReply, get_again: RawReply, target: str) -> None:
    assert head.status == get.status, (target, get.status, head.status)
    assert set(head.headers) == set(get.headers), (target, get.headers, head.headers)
    for name, value in get.headers.items():
        if name == "content-length" and get_again.headers.get(name) != value:
            continue  # the body changes from call to call (metrics): only its presence counts
        assert head.headers[name] == value, (target, name, value, head.headers[name])


async def _fill(srv: Server) -> dict[str, str]:
    """Something for each route parameter to find."""
    assert (await srv.post("/queue", {"queue": "jobs"})).status == 201
    task = await srv.post("/task", {"queue": "jobs", "payload": 1})
    return {"queue": "jobs", "name": "jobs", "task_id": str(task.json["id"])}


def _targets(srv: Server, values: dict[str, str]) -> list[tuple[str, Any]]:
    """(path, route) for every route of the table that answers GET."""
    found = []
    for route in srv.app.router.routes:
        if "GET" not in route.methods:
            continue
        path = "/" + route.path
        if path.startswith("/api/ticker/<"):
            path = "/api/ticker/tick"
        found.append((re.sub(r"<([^:>]+)[^>]*>", lambda m: values[m.group(1)], path), route))
    return found


async def test_every_get_route_answers_head(dsn: str) -> None:
    async with serving_app(make_config(dsn)) as srv:
        values = await _fill(srv)
        port = port_of(srv.base)
        targets = _targets(srv, values)
        assert len(targets) >= 10, targets
        for target, route in targets:
            assert "HEAD" in route.methods, f"{target}: GET without HEAD"
            if target in ("/api/ticker/next",):
                continue  # the stream: below
            get = await exchange(port, request("GET", target))
            head = await _head(port, target, [])
            again = await exchange(port, request("GET", target))
            _same_head(get, head, again, target)
        # Errors too: same status and headers, no body.
        for target in ("/api/queue/missing", "/api/task/999", "/api/queue?limit=x"):
            get = await exchange(port, request("GET", target))
            assert get.status >= 400
            _same_head(get, await _head(port, target, []), get, target)
        health = await _head(port, "/api/health", [])
        assert health.status == 200 and int(health.headers["content-length"]) > 0


async def test_head_needs_the_token_get_needs(dsn: str) -> None:
    async with serving_app(make_config(dsn, token=TOKEN)) as srv:
        port = port_of(srv.base)
        assert (await _head(port, "/api/health", [])).status == 200
        for target in ("/api/queue", "/api/ticker/next", "/api/metrics"):
            refused = await _head(port, target, [])
            assert refused.status == 401, target
            assert refused.headers["www-authenticate"].startswith("Bearer")
            assert (await _head(port, target, _auth(TOKEN))).status == 200, target


async def test_head_on_a_stream_claims_nothing(dsn: str) -> None:
    async with serving_app(make_config(dsn, max_streams_per_token=1)) as srv:
        port = port_of(srv.base)
        assert (await srv.post("/ticker", {"ticker": "tick", "interval": "1h"})).status == 201
        before = (await srv.get("/ticker/tick")).json["timestamp"]
        for target, headers in (("/api/ticker/next", STREAM), ("/api/ticker", STREAM)):
            head = await _head(port, target, headers)
            assert head.status == 200, (target, head)
            assert head.headers["content-type"].startswith("text/event-stream")
            assert head.headers["cache-control"] == "no-cache"
        # Nothing was claimed: the ticker is still due, and a real stream gets the firing.
        assert (await srv.get("/ticker/tick")).json["timestamp"] == before
        assert not srv.app.ctx.stream_limits.open  # and no stream slot is held
        async with open_stream(srv) as stream:
            event = await stream.next_event()
            assert event.json["ticker"] == "tick"
            streamed = {k.lower(): v for k, v in stream.response.headers.items()}
            assert set(streamed) == set(head.headers), (streamed, head.headers)
            for name in ("content-type", "cache-control", "transfer-encoding", "connection"):
                assert streamed.get(name) == head.headers.get(name), name
            # With the one slot taken, HEAD answers what GET would: 429.
            refused = await _head(port, "/api/ticker/next", STREAM)
            assert refused.status == 429 and refused.headers["retry-after"] == "2"


async def test_head_on_a_stream_logs_no_error(dsn: str, caplog: pytest.LogCaptureFixture) -> None:
    """`HEAD /api/ticker/next` (and HEAD /api/ticker with Accept: text/event-stream) ended the
    head with `response.eof()`, which awaited Sanic's plain-function HEAD writer: every HEAD
    logged "TypeError: object NoneType can't be used in 'await' expression" at ERROR."""
    caplog.set_level(logging.ERROR)
    async with serving_app(make_config(dsn)) as srv:
        port = port_of(srv.base)
        for target, headers in (("/api/ticker/next", []), ("/api/ticker", STREAM)):
            head = await _head(port, target, headers)
            assert head.status == 200, (target, head)
            assert head.headers["content-type"].startswith("text/event-stream")
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not errors, [r.getMessage() for r in errors]
