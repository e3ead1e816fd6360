"""Any bytes in the Authorization header, the query and the path, on every route of the route
table, with and without tokens: a 4xx with the error envelope, never a 500 (SPEC §7.2)."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from typing import Any

import pytest
from sanic import Sanic

from pgqueue_core import InvalidArgument
from pgqueue_server.config import parse_run_args
from tests.support.server import make_config, serving_app

from .rawhttp import RawReply, exchange, port_of, request

TOKEN = "hostile-test-token-0123"

# Path segments in place of a route's parameters.
SEGMENTS = [b"%ff", b"%00", b"%c0%af", b"%ed%a0%80", b"%f0%9f%98", b"\xff", b"\x80x", b"%zz", b"%"]
# Query strings, raw bytes included.
QUERIES = [
    b"namespace=%ff",
    b"namespace=%00",
    b"namespace=\xff",
    b"namespace=%ed%a0%80",
    b"%ff=1",
    b"\xfe\xff=\xff",
    b"queue=%ff",
    b"queue=%00",
    b"worker=%00",
    b"worker=%ff%fe",
    b"worker=a%00b",
    b"status=%ff",
    b"limit=%ff",
    b"offset=%00",
    b"&&=&",
]
# Headers: the Authorization header above all, and the others the server reads.
HEADERS: list[tuple[bytes, bytes]] = [
    (b"Authorization", b"Bearer \xff"),
    (b"Authorization", b"\xff\xfe"),
    (b"Authorization", b"Bearer \x80abc\xc3"),
    (b"Authorization", b"Bearer %ff"),
    (b"Authorization", b"Bearer " + TOKEN.encode() + b"\xff"),
    (b"Authorization", b"\xffBearer " + TOKEN.encode()),
    (b"Accept", b"text/event-stream\xff"),
    (b"Content-Type", b"application/json\xff"),
    (b"Host", b"\xff\xfe"),
    (b"X-Forwarded-For", b"\xff"),
]


def routes(app: Sanic) -> Iterator[tuple[str, str]]:
    """Every (method, path template) of the route table."""
    for route in app.router.routes:
        for method in sorted(route.methods):
            yield method, "/" + route.path


def fill(template: str, segment: bytes) -> bytes:
    return re.sub(rb"<[^>]+>", lambda _: segment, template.encode())


def cases(app: Sanic, token: str | None) -> Iterator[tuple[str, bytes, list[tuple[bytes, bytes]]]]:
    auth = [(b"Authorization", f"Bearer {token}".encode())] if token else []
    for method, template in routes(app):
        if "<" in template:
            for segment in SEGMENTS:
                yield method, fill(template, segment), auth
        path = fill(template, b"x1")
        for query in QUERIES:
            yield method, path + b"?" + query, auth
        for header in HEADERS:
            # A hostile Authorization header replaces the valid one; others come with it.
            yield method, path, [header] if header[0] == b"Authorization" else [*auth, header]


def problem(reply: RawReply) -> str | None:
    """What is wrong with the answer to a hostile request (None: nothing)."""
    if reply.status >= 500:
        return f"{reply.status} {reply.body[:200]!r}"
    if reply.status < 400:
        return None
    if not reply.body and reply.headers.get("content-type") == "application/json":
        return None  # HEAD: the envelope's headers without it
    body: dict[str, Any] = reply.json
    if set(body) != {"object", "code", "reason", "detail", "error"}:
        return f"{reply.status} without the error envelope: {reply.body[:200]!r}"
    if body["code"] != reply.status or body["object"] != "error":
        return f"{reply.status} with a wrong envelope: {body}"
    return None


@pytest.mark.parametrize("token", [None, TOKEN], ids=["open", "tokens"])
async def test_any_bytes_on_every_route(dsn: str, token: str | None) -> None:
    async with serving_app(make_config(dsn, token=token, max_streams_per_token=0)) as srv:
        port = port_of(srv.base)
        found = []
        for method, target, headers in cases(srv.app, token):
            body = b"{}" if method in ("POST", "PUT", "PATCH") else b""
            reply = await exchange(port, request(method, target, headers, body))
            issue = problem(reply)
            if issue:
                found.append(f"{method} {target!r} {headers!r}: {issue}")
        assert not found, f"{len(found)} bad answer(s):\n" + "\n".join(found[:40])
        assert (await srv.get("/health")).status == 200


async def test_undecodable_authorization_is_401(dsn: str) -> None:
    async with serving_app(make_config(dsn, token=TOKEN)) as srv:
        port = port_of(srv.base)
        for value in (b"Bearer \xff", b"\xff", b"Bearer " + TOKEN.encode() + b"\xff"):
            reply = await exchange(port, request("GET", "/api/queue", [(b"Authorization", value)]))
            assert reply.status == 401, (value, reply.body)
            assert reply.json["error"] == "unauthorized"
            assert reply.headers["www-authenticate"].startswith("Bearer")
        # The token itself still works, sent the ordinary way.
        assert (await srv.get("/queue")).status == 200


async def test_undecodable_query_and_path_are_400(dsn: str) -> None:
    async with serving_app(make_config(dsn)) as srv:
        port = port_of(srv.base)
        for target, key in (
            (b"/api/queue?namespace=%ff", "invalid_argument"),
            (b"/api/queue/%ff", "invalid_argument"),
            (b"/api/task/%ff", "invalid_argument"),
            (b"/api/queue?namespace=\xff", "invalid_argument"),  # raw bytes: not a URL
            (b"/api/queue/\xff", "invalid_argument"),
            (b"/api/task?worker=a%00b", "invalid_argument"),
            (b"/api/task?worker=%ff", "invalid_argument"),
        ):
            method = "PUT" if b"worker" in target else "GET"
            reply = await exchange(port, request(method, target))
            assert reply.status == 400, (target, reply.status, reply.body)
            assert reply.json["error"] == key, (target, reply.json)


async def test_token_in_the_query_is_not_a_credential(dsn: str) -> None:
    """`?token=` is refused: without the header a 401 that says to send the header (the
    README says the same); with a valid header, an unknown query parameter (400)."""
    async with serving_app(make_config(dsn, token=TOKEN)) as srv:
        for path in ("/queue", "/metrics", "/ticker/next", "/queue/jobs"):
            reply = await srv.get(path, token="", params={"token": TOKEN})
            assert reply.status == 401, (path, reply.text)
            body = reply.json
            assert body["error"] == "unauthorized"
            assert "Authorization: Bearer" in body["reason"] and "URL" in body["reason"]
            assert TOKEN not in reply.text
        reply = await srv.get("/queue", params={"token": TOKEN})
        assert reply.status == 400 and "unknown query parameter" in reply.json["reason"]


def test_undecodable_token_setting_is_a_clear_error() -> None:
    """Bytes that are not UTF-8 in --token or PGQUEUE_TOKEN (Python hands them over as lone
    surrogates) stop `pgqueue run` with a message, not a traceback."""
    for argv, env in ((["--token", "ab\udcff"], {}), ([], {"PGQUEUE_TOKEN": "\udcffab"})):
        with pytest.raises(InvalidArgument, match="not UTF-8"):
            parse_run_args(argv, env)


def _errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_body_on_a_get_is_read_and_ignored(
    dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    """`GET /api/health` with the body `{}`: Sanic left the body of GET routes unread and
    logged "<Request: GET /api/health> body not consumed." at ERROR after each 2xx answer,
    which any client could repeat (health needs no token)."""
    caplog.set_level(logging.ERROR)
    async with serving_app(make_config(dsn)) as srv:
        port = port_of(srv.base)
        for method, target in (
            ("GET", "/api/health"),
            ("GET", "/api/queue"),
            ("HEAD", "/api/stats"),
        ):
            for body in (b"{}", b"\xff" * 100, b"[" * 100_000):
                reply = await exchange(port, request(method, target, body=body))
                assert reply.status == 200, (method, target, reply.status, reply.body[:200])
    assert not _errors(caplog)


async def test_a_control_character_in_the_target_is_400(
    dsn: str, caplog: pytest.LogCaptureFixture
) -> None:
    """`GET /api/queue?x=\\x1b`: the URL parser refuses the request line, and Sanic's error
    answer, built on a request made from that same URL, failed again: the client got no
    answer at all and the log "protocol.connection_task uncaught" with a traceback."""
    caplog.set_level(logging.ERROR)
    async with serving_app(make_config(dsn)) as srv:
        port = port_of(srv.base)
        for target in (
            b"/api/queue?x=\x1b",
            b"/api/queue/\x1b",
            b"/api/task?worker=\x00",
            b"/api/queue?x=\x7f",
            b"/api/queue?offset=%ED%A0%BD&limit=a+\xf3\x93\x95\xb1B_=\x1b",
        ):
            reply = await exchange(port, request("GET", target))
            assert reply.status == 400, (target, reply.status, reply.body)
            assert problem(reply) is None, (target, reply.body)
            assert reply.json["error"] == "invalid_argument"
        assert (await srv.get("/health")).status == 200
    assert not _errors(caplog)
