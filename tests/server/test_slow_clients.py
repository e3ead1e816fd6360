"""Slow and greedy clients (SPEC §7.2): a request's headers and its body each have a total
deadline, however the bytes trickle in, and one client address holds a bounded number of
connections; the flags that set them."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from pgqueue_core import InvalidArgument
from pgqueue_server.config import parse_run_args
from tests.support.net import free_port
from tests.support.processes import http_session, serve_process, wait_exit, wait_up
from tests.support.server import make_config, serving_app
from tests.support.waiting import wait_for

from .rawhttp import closed_after, connection, exchange, port_of, read_reply, request

DEADLINE = 1.0
# How late after its deadline a server may close: the event loop's latency on a busy
# machine (two cores shared with other test runs), with room to spare.
SLACK = 1.5


async def _trickle(writer: asyncio.StreamWriter, data: bytes, every: float) -> None:
    """Send `data` one byte at a time, `every` seconds apart, until the server hangs up."""
    with contextlib.suppress(ConnectionError):
        for byte in data:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(every)  # work: the slow client's pace


@contextlib.asynccontextmanager
async def _trickling(
    writer: asyncio.StreamWriter, data: bytes, every: float
) -> AsyncIterator[None]:
    task = asyncio.create_task(_trickle(writer, data, every))
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


def _status(received: bytes) -> int:
    return int(received.split(b" ", 2)[1]) if received.startswith(b"HTTP/1.1 ") else 0


async def test_trickled_headers_are_cut_off(dsn: str) -> None:
    config = make_config(dsn, header_timeout=DEADLINE)
    async with serving_app(config) as srv, connection(port_of(srv.base)) as (reader, writer):
        endless = b"GET /api/health HTTP/1.1\r\nHost: x\r\nX-Slow: " + b"a" * 10_000
        async with _trickling(writer, endless, every=0.1):
            took, received = await closed_after(reader, within=DEADLINE + SLACK + 5)
        # Each byte used to restart Sanic's request timeout (60 s): now the headers as a
        # whole get DEADLINE seconds, counted from the connection's start.
        assert DEADLINE - 0.2 < took < DEADLINE + SLACK, took
        assert _status(received) == 408, received[:300]
        assert b'"error":"request_timeout"' in received
        assert (await srv.get("/health")).status == 200


async def test_trickled_or_stalled_body_is_cut_off(dsn: str) -> None:
    config = make_config(dsn, body_timeout=DEADLINE)
    async with serving_app(config) as srv:
        port = port_of(srv.base)
        whole = request("POST", "/api/queue", [], b'{"queue": "' + b"q" * 2000 + b'"}')
        head, body = whole[: whole.index(b"\r\n\r\n") + 4], whole[whole.index(b"\r\n\r\n") + 4 :]
        for every in (0.1, None):  # a byte every 100 ms, then no byte at all
            async with connection(port) as (reader, writer):
                writer.write(head)
                await writer.drain()
                async with contextlib.AsyncExitStack() as stack:
                    if every is not None:
                        await stack.enter_async_context(_trickling(writer, body, every))
                    took, received = await closed_after(reader, within=DEADLINE + SLACK + 5)
            assert DEADLINE - 0.2 < took < DEADLINE + SLACK, (every, took)
            assert _status(received) == 408, received[:300]
            assert b'"error":"request_timeout"' in received
        assert (await srv.get("/queue/q")).status == 404  # nothing was created


async def test_deadlines_are_per_request(dsn: str) -> None:
    """A keep-alive connection idle for longer than the deadline serves its next request;
    a request slow but within the deadlines is served."""
    config = make_config(dsn, header_timeout=DEADLINE, body_timeout=DEADLINE)
    async with serving_app(config) as srv, connection(port_of(srv.base)) as (reader, writer):
        writer.write(request("GET", "/api/health", close=False))
        assert (await read_reply(reader)).status == 200
        await asyncio.sleep(DEADLINE + 0.5)  # work: an idle keep-alive gap past the deadline
        slow = request("POST", "/api/queue", [], b'{"queue": "slow"}', close=False)
        async with _trickling(writer, slow, every=DEADLINE / len(slow) / 2):
            reply = await read_reply(reader, within=DEADLINE * 3)
        assert reply.status == 201, reply


async def _healthy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(request("GET", "/api/health", close=False))
    reply = await read_reply(reader)
    assert reply.status == 200, reply


async def test_connections_per_client_address(dsn: str) -> None:
    config = make_config(dsn, max_connections_per_client=3, header_timeout=DEADLINE)
    async with serving_app(config) as srv, contextlib.AsyncExitStack() as stack:
        port = port_of(srv.base)
        held = [await stack.enter_async_context(connection(port)) for _ in range(3)]
        for conn in held:
            await _healthy(*conn)
        # One more from the same address: refused with the error envelope, then closed.
        refused = await exchange(port, request("GET", "/api/health"))
        assert refused.status == 429, refused
        assert refused.json["error"] == "too_many_connections"
        assert "127.0.0.1" in refused.json["reason"] and "3" in refused.json["reason"]
        assert int(refused.headers["retry-after"]) > 0
        # One that sends nothing is closed too, by the header deadline.
        async with connection(port) as (reader, _):
            took, received = await closed_after(reader, within=DEADLINE + SLACK + 5)
            assert took < DEADLINE + SLACK and received == b""
        # The three still work; once one leaves, a newcomer gets its place.
        for conn in held:
            await _healthy(*conn)
        held[0][1].close()

        async def admitted() -> bool:
            return (await exchange(port, request("GET", "/api/health"))).status == 200

        await wait_for(admitted, 5, "a free place")
        assert (await srv.get("/metrics")).status == 200


async def test_refused_connections_are_counted(dsn: str) -> None:
    async with serving_app(make_config(dsn, max_connections_per_client=1)) as srv:
        port = port_of(srv.base)
        async with connection(port) as held:
            await _healthy(*held)
            assert (await exchange(port, request("GET", "/api/queue"))).status == 429
            await _healthy(*held)
            held[1].write(request("GET", "/api/metrics"))
            metrics = (await read_reply(held[0])).body.decode()
        assert 'pgqueue_http_requests_total{method="GET",route="unmatched",status="429"} 1.0' in (
            metrics
        )


def test_slow_client_flags() -> None:
    config = parse_run_args(
        ["--header-timeout", "2.5", "--body-timeout", "20", "--max-connections-per-client", "8"],
        {},
    ).config
    assert (config.header_timeout, config.body_timeout) == (2.5, 20.0)
    assert config.max_connections_per_client == 8
    defaults = parse_run_args([], {}).config
    assert (defaults.header_timeout, defaults.body_timeout) == (10.0, 30.0)
    assert defaults.max_connections_per_client == 256
    assert parse_run_args(["--max-connections-per-client", "0"], {}).config  # 0: no limit


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--header-timeout", "0"], "--header-timeout must be positive"),
        (["--body-timeout", "-1"], "--body-timeout must be positive"),
        (["--max-connections-per-client", "-1"], "0 \\(no limit\\) or more"),
    ],
)
def test_bad_slow_client_flags(argv: list[str], message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        parse_run_args(argv, {})


async def test_pgqueue_run_enforces_the_deadline(dsn: str, tmp_path: Path) -> None:
    """The real command serves with the guarded protocol, in every worker process."""
    port = free_port()
    args = [dsn, "--addr", f"127.0.0.1:{port}", "--workers", "2", "--header-timeout", "1"]
    with serve_process(args, dict(os.environ), tmp_path / "server.log") as proc:
        async with http_session() as session:
            await wait_up(session, f"http://127.0.0.1:{port}/api", 30)
        for _ in range(2):  # either worker may take a connection: try more than one
            endless = b"GET /api/health HTTP/1.1\r\n" * 100
            async with (
                connection(port) as (reader, writer),
                _trickling(writer, endless, 0.1),
            ):
                took, received = await closed_after(reader, within=DEADLINE + SLACK + 5)
            assert took < DEADLINE + SLACK and _status(received) == 408, (took, received)
        proc.send_signal(signal.SIGTERM)
        assert await wait_exit(proc, 30) == 0
