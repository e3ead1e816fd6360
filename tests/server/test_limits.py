"""Limits that keep one client from hurting the others, each a clear 4xx: concurrent ticker
streams per token (429), request body size (413, set with --max-body), page size (capped at
100, as SPEC §4 says); and the flags that set them and the pool."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import pytest

from pgqueue_server.auth import TokenScope
from pgqueue_server.config import MIB, parse_run_args
from tests.support.server import EventStream, Server, make_config, open_stream, serving_app
from tests.support.waiting import wait_for

ADMIN = "admin-token-0123456789"
ONE = "one-stream-token-0123456789"
MANY = "unlimited-token-0123456789"


@contextlib.asynccontextmanager
async def stream(
    srv: Server, token: str | None, path: str = "/ticker/next"
) -> AsyncIterator[EventStream]:
    """An open ticker stream (its first comment read, so the server counts it)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with open_stream(srv, path, headers=headers) as events:
        assert events.response.status == 200
        await events.next_comment()
        yield events


async def _refused(srv: Server, token: str | None, path: str = "/ticker/next") -> dict[str, object]:
    async with asyncio.timeout(5):
        reply = await srv.get(path, token=token or "", headers={"Accept": "text/event-stream"})
    assert reply.status == 429, reply.text
    assert reply.headers["Retry-After"] == "2"
    body = reply.json
    assert body["object"] == "error" and body["code"] == 429
    return dict(body)


async def test_streams_per_token(dsn: str) -> None:
    scopes = (
        (ONE, TokenScope("one", frozenset({"default"}), max_streams=1)),
        (MANY, TokenScope("many", max_streams=0)),  # 0: no limit for this token
    )
    config = make_config(dsn, token=ADMIN, tokens=scopes, max_streams_per_token=2)
    async with serving_app(config) as srv:
        async with stream(srv, ADMIN), stream(srv, ADMIN, "/ticker"):
            # The third stream of the admin token, by either path, is refused...
            body = await _refused(srv, ADMIN)
            assert "token 'admin' already holds 2 open ticker stream(s)" in body["reason"]
            await _refused(srv, ADMIN, "/ticker")
            # ...the other routes of the same token are not limited...
            assert (await srv.get("/ticker", token=ADMIN)).status == 200
            # ...and other tokens have limits of their own.
            async with stream(srv, ONE):
                body = await _refused(srv, ONE)
                assert "token 'one'" in body["reason"] and "(1)" in body["reason"]
            async with stream(srv, MANY), stream(srv, MANY), stream(srv, MANY):
                pass
        # Closing a stream frees its slot (once the server has noticed the client left).
        await wait_for(lambda: not srv.app.ctx.stream_limits.open, 5, "the slots to free up")
        async with stream(srv, ONE):
            pass


async def test_streams_per_client_address_without_auth(dsn: str) -> None:
    async with serving_app(make_config(dsn, max_streams_per_token=1)) as srv, stream(srv, None):
        body = await _refused(srv, None)
        assert "client 127.0.0.1 already holds 1" in body["reason"]


async def test_no_stream_limit(dsn: str) -> None:
    async with (
        serving_app(make_config(dsn, max_streams_per_token=0)) as srv,
        stream(srv, None),
        stream(srv, None),
        stream(srv, None),
    ):
        assert (await srv.get("/health")).status == 200


async def test_page_size_is_capped(server: Server) -> None:
    for i in range(105):
        assert (await server.post("/queue", {"queue": f"q{i:03d}"})).status == 201
    page = await server.get("/queue", params={"limit": "1000"})
    assert page.status == 200
    assert page.json["count"] == 105 and len(page.json["body"]) == 100


def test_limit_flags() -> None:
    config = parse_run_args(
        [
            "--pool-size", "3", "--acquire-timeout", "0.5", "--query-timeout", "2",
            "--max-body", "64KiB", "--max-streams-per-token", "0",
        ],
        {},
    ).config  # fmt: skip
    assert (config.pool_max, config.pool_min) == (3, 1)
    assert (config.acquire_timeout, config.query_timeout) == (0.5, 2.0)
    assert (config.max_body, config.max_streams_per_token) == (64 * 1024, 0)
    defaults = parse_run_args([], {}).config
    assert (defaults.pool_max, defaults.max_body, defaults.max_streams_per_token) == (10, MIB, 32)
    assert parse_run_args(["--max-body", "2m"], {}).config.max_body == 2 * MIB
    assert parse_run_args(["--max-body", "4096"], {}).config.max_body == 4096


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--pool-size", "0"], "--pool-size must be at least 1"),
        (["--acquire-timeout", "0"], "--acquire-timeout must be positive"),
        (["--query-timeout", "-1"], "--query-timeout must be positive"),
        (["--max-body", "100"], "--max-body must be at least 1024"),
        (["--max-streams-per-token", "-1"], "0 (no limit) or more"),
    ],
)
def test_bad_limit_flags(argv: list[str], message: str) -> None:
    from pgqueue_core import InvalidArgument

    with pytest.raises(InvalidArgument, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_run_args(argv, {})


def test_bad_size_flag(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        parse_run_args(["--max-body", "lots"], {})
    assert "invalid size 'lots'" in capsys.readouterr().err
