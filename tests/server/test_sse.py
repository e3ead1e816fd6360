"""The ticker event stream: format, keep-alives, one consumer per firing, no loss on
disconnect, quick shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import asyncpg
import pytest

from pgqueue_core import Manager, Ticker, codec
from pgqueue_server import sse
from tests.support.server import Event, EventStream, Server, make_config, open_stream, serving_app
from tests.support.waiting import wait_for


async def _wait_fired(srv: Server, name: str, timestamp: str) -> None:
    """The firing a client received is committed (right after it was written)."""

    async def committed() -> bool:
        return bool((await srv.get(f"/ticker/{name}")).json["timestamp"] == timestamp)

    await wait_for(committed, 5, f"the firing of {name} to be committed")


def open_streams(srv: Server) -> float:
    return float(srv.app.ctx.metrics.streams._value.get())


async def test_stream_format(server: Server) -> None:
    await server.post("/ticker", {"ticker": "t1", "interval": "1h", "payload": {"x": 1}})
    async with open_stream(server) as stream:
        assert stream.response.status == 200
        assert stream.response.headers["Content-Type"].startswith("text/event-stream")
        event = await stream.next_event()
        assert stream.retry == server.config.sse_retry_ms
        assert event.event == "ticker"
        ticker = event.json
        assert ticker["ticker"] == "t1"
        assert ticker["namespace"] == "default"
        assert ticker["payload"] == {"x": 1}
        assert ticker["interval"] == 3600 * 10**9
        assert event.id == f"default/t1/{ticker['timestamp']}"
    await _wait_fired(server, "t1", ticker["timestamp"])


async def test_accept_header_on_ticker_list(server: Server) -> None:
    await server.post("/ticker", {"ticker": "t1", "interval": "1h"})
    async with open_stream(server, "/ticker") as stream:
        assert stream.response.headers["Content-Type"].startswith("text/event-stream")
        assert (await stream.next_event()).json["ticker"] == "t1"
    # Without the header it is the JSON list.
    listed = await server.get("/ticker")
    assert listed.json["count"] == 1


async def test_keepalive(dsn: str) -> None:
    async with serving_app(make_config(dsn, sse_keepalive=0.2)) as srv, open_stream(srv) as stream:
        started = time.monotonic()
        assert await stream.next_comment() == "pgqueue tickers"
        assert await stream.next_comment(within=2) == "keep-alive"
        assert await stream.next_comment(within=2) == "keep-alive"
        assert time.monotonic() - started < 2


async def _collect(stream: EventStream, sink: list[tuple[str, Any]]) -> None:
    while True:
        event = await stream.next_event(within=30)
        sink.append(("stream", event.json))


async def test_each_firing_to_exactly_one_consumer(server: Server, pool: asyncpg.Pool) -> None:
    """Two streams and an in-process ticker loop race for the same firings."""
    names = [f"t{i}" for i in range(6)]
    for name in names:
        await server.post("/ticker", {"ticker": name, "interval": "1s"})
    received: list[tuple[str, Any]] = []
    manager = await Manager.new(pool, "default")

    def in_process(ticker: Ticker) -> None:
        stamp = codec.format_time(ticker.timestamp)
        received.append(("loop", {"ticker": ticker.ticker, "timestamp": stamp}))

    async with open_stream(server) as one, open_stream(server) as two:
        tasks = [
            asyncio.create_task(_collect(one, received)),
            asyncio.create_task(_collect(two, received)),
            asyncio.create_task(manager.run_ticker_loop(in_process, max_sleep=0.2)),
        ]
        try:
            # Every ticker fires when first seen, then once a second.
            await wait_for(lambda: len(received) >= 3 * len(names), 10, "three rounds")
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
    firings = [(r["ticker"], r["timestamp"]) for _, r in received]
    assert len(firings) == len(set(firings)), f"a firing was delivered twice: {firings}"
    per_ticker = {name: sorted(ts for t, ts in firings if t == name) for name in names}
    assert all(len(stamps) >= 2 for stamps in per_ticker.values()), per_ticker
    assert {source for source, _ in received} >= {"stream"}


async def test_disconnected_stream_takes_nothing(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="pgqueue.server.access")
    async with open_stream(server) as stream:
        await stream.next_comment()
        await wait_for(lambda: open_streams(server) == 1, 5, "the stream to open")
    await wait_for(lambda: open_streams(server) == 0, 5, "the server to notice")
    lines = [r.getMessage() for r in caplog.records if "/ticker/next" in r.getMessage()]
    assert len(lines) == 1, lines
    assert lines[0].startswith("GET /api/ticker/next 200 ")
    assert lines[0].endswith("(client left)")
    await server.post("/ticker", {"ticker": "t1", "interval": "1h"})
    async with open_stream(server) as stream:
        event = await stream.next_event()
    assert event.json["ticker"] == "t1"


async def test_firing_claimed_while_client_vanishes_is_delivered_later(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The client goes away while the server holds a claimed firing it has not yet sent:
    the claim rolls back and the next stream receives the firing."""
    real_send = sse._send
    claimed = asyncio.Event()
    stuck = True

    async def send(response: Any, text: str, within: float) -> None:
        if stuck and text.startswith("event: ticker"):
            claimed.set()
            await asyncio.Event().wait()  # until the handler is cancelled
        await real_send(response, text, within)

    monkeypatch.setattr(sse, "_send", send)
    async with open_stream(server) as stream:
        await stream.next_comment()
        await server.post("/ticker", {"ticker": "t1", "interval": "1h"})
        async with asyncio.timeout(5):
            await claimed.wait()
    # The client is gone; Sanic cancels the handler and the claim is rolled back.
    await wait_for(lambda: open_streams(server) == 0, 5, "the handler to end")
    assert (await server.get("/ticker/t1")).json["timestamp"] is None
    stuck = False
    async with open_stream(server) as stream:
        event: Event = await stream.next_event()
    assert event.json["ticker"] == "t1"
    await _wait_fired(server, "t1", event.json["timestamp"])


async def test_shutdown_with_open_stream_is_quick(dsn: str) -> None:
    async with contextlib.AsyncExitStack() as stack:
        srv = await stack.enter_async_context(serving_app(make_config(dsn)))
        async with open_stream(srv) as stream:
            await stream.next_comment()
            started = time.monotonic()
            await stack.aclose()
            elapsed = time.monotonic() - started
            with pytest.raises(EOFError):
                await stream.next_event(within=2)
    assert elapsed < 1.5, f"shutdown took {elapsed:.2f}s"


async def test_stream_is_per_namespace(server: Server) -> None:
    await server.post("/ticker", {"ticker": "mine", "interval": "1h"}, params={"namespace": "a"})
    await server.post("/ticker", {"ticker": "other", "interval": "1h"}, params={"namespace": "b"})
    async with open_stream(server, namespace="a") as stream:
        event = await stream.next_event()
        assert event.json == {**event.json, "ticker": "mine", "namespace": "a"}
    untouched = await server.get("/ticker/other", params={"namespace": "b"})
    assert untouched.json["timestamp"] is None
