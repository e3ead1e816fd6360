"""Event streams over HTTP (pgqueue_tui/sse.py): refusals against the real server, and the
generic behaviour (Last-Event-ID resume, read timeout, a proxy's error page) against a plain
aiohttp endpoint that streams what each test needs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import aiohttp
import pytest
from aiohttp import web

from pgqueue_core import InvalidArgument, PgQueueError
from pgqueue_tui.client import Client, ConnectionFailed
from pgqueue_tui.errors import ServerError
from pgqueue_tui.sse import Event, EventSource
from tests.support.cli import Server

StateLog = list[tuple[bool, PgQueueError | None]]


class States:
    """Records on_state calls; `wait` returns once one matches."""

    def __init__(self) -> None:
        self.seen: StateLog = []
        self._changed = asyncio.Event()

    def __call__(self, connected: bool, error: PgQueueError | None) -> None:
        self.seen.append((connected, error))
        self._changed.set()

    async def wait(
        self, match: Callable[[bool, PgQueueError | None], bool], timeout: float = 15.0
    ) -> tuple[bool, PgQueueError | None]:
        async with asyncio.timeout(timeout):
            while True:
                for state in self.seen:
                    if match(*state):
                        return state
                self._changed.clear()
                await self._changed.wait()


# ---- against the real server ------------------------------------------------------------


async def test_a_refused_stream_raises_the_servers_own_error(server: Server) -> None:
    async with Client(server.url, namespace="Not A Name") as client:
        stream = client.ticker_stream()
        try:
            async with asyncio.timeout(15):
                await anext(stream)
        except InvalidArgument as exc:
            refused = exc
        finally:
            await stream.aclose()
    assert refused.key == "invalid_argument"
    assert "namespace" in str(refused)
    # The error came with the refusal itself: no second request asked what was wrong.
    assert "GET /api/ticker/next 400" in server.log()
    assert "GET /api/ticker " not in server.log()


async def test_a_stream_refused_for_now_is_retried(start_server: Callable[..., Server]) -> None:
    server = start_server("--max-streams-per-token", "1")
    async with Client(server.url) as client:
        first_states, second_states = States(), States()
        first = client.ticker_stream(on_state=first_states)
        holding = asyncio.ensure_future(anext(first))  # runs until a ticker fires: never here
        await first_states.wait(lambda up, _: up)

        async with client.ticker_stream(fail_fast=True) as with_fail_fast:
            with pytest.raises(ServerError) as refused:
                async with asyncio.timeout(15):
                    await anext(with_fail_fast)
        assert (refused.value.status, refused.value.key) == (429, "too_many_streams")

        second = client.ticker_stream(on_state=second_states, max_delay=0.5)
        waiting = asyncio.ensure_future(anext(second))
        _, error = await second_states.wait(lambda up, error: not up and error is not None)
        assert isinstance(error, ServerError) and error.key == "too_many_streams"
        assert "most allowed (1)" in str(error)  # the server's own words
        assert not waiting.done()

        await stop(holding)
        await first.aclose()
        await second_states.wait(lambda up, _: up)  # retried, and admitted now
        await stop(waiting)
        await second.aclose()


async def stop(task: asyncio.Future[object]) -> None:
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task


# ---- generic behaviour, against a plain endpoint ------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def endpoint(handler: Handler, hold: asyncio.Event | None = None) -> AsyncIterator[str]:
    """Serve `handler` at /events; `hold` (what handlers wait on to keep a stream open) is
    set before the server stops, which would otherwise wait for them."""
    app = web.Application()
    app.router.add_get("/events", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/events"
    finally:
        if hold is not None:
            hold.set()
        await runner.cleanup()


async def event_stream(request: web.Request, text: str) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    await response.write(text.encode())
    return response


def source(session: aiohttp.ClientSession, url: str, **options: object) -> EventSource[Event]:
    return EventSource(session=lambda: session, url=url, decode=lambda e: e, **options)  # type: ignore[arg-type]


async def test_reconnects_resume_with_last_event_id() -> None:
    seen_ids: list[str | None] = []
    hold = asyncio.Event()  # never set: the second connection stays open

    async def handler(request: web.Request) -> web.StreamResponse:
        seen_ids.append(request.headers.get("Last-Event-ID"))
        if len(seen_ids) == 1:  # two events, then the connection ends
            return await event_stream(request, "id: 1\ndata: a\n\nid: 2\nevent: x\ndata: b\n\n")
        response = await event_stream(request, "data: c\n\n")
        await hold.wait()
        return response

    async with endpoint(handler, hold) as url, aiohttp.ClientSession() as session:
        states = States()
        async with source(session, url, min_delay=0.05, on_state=states) as events:
            async with asyncio.timeout(15):
                got = [await anext(events) for _ in range(3)]
            assert events.last_event_id == "2"
    assert got == [Event("message", "a", "1"), Event("x", "b", "2"), Event("message", "c", "2")]
    assert seen_ids == [None, "2"]
    assert [up for up, _ in states.seen] == [True, False, True]
    assert states.seen[1][1] is None  # a clean end of stream is not an error


async def test_a_silent_stream_is_reconnected_after_read_timeout() -> None:
    connections = 0
    hold = asyncio.Event()

    async def handler(request: web.Request) -> web.StreamResponse:
        nonlocal connections
        connections += 1
        response = await event_stream(request, ": hello\n\n" if connections == 1 else "data: x\n\n")
        await hold.wait()
        return response

    async with endpoint(handler, hold) as url, aiohttp.ClientSession() as session:
        states = States()
        async with source(session, url, read_timeout=0.3, min_delay=0.05, on_state=states) as it:
            async with asyncio.timeout(15):
                assert (await anext(it)).data == "x"
    _, error = next(state for state in states.seen if state[1] is not None)
    assert isinstance(error, ConnectionFailed)
    assert "nothing received for 0.3s" in str(error)
    assert connections == 2


async def test_a_proxys_error_page_is_retried() -> None:
    answers = iter(
        [
            web.Response(status=502, text="<html>bad gateway</html>", content_type="text/html"),
            None,
        ]
    )

    async def handler(request: web.Request) -> web.StreamResponse:
        answer = next(answers, None)
        return answer if answer is not None else await event_stream(request, "data: up\n\n")

    async with endpoint(handler) as url, aiohttp.ClientSession() as session:
        states = States()
        async with source(session, url, min_delay=0.05, on_state=states) as events:
            async with asyncio.timeout(15):
                assert (await anext(events)).data == "up"
    failed, error = states.seen[0]
    assert not failed and isinstance(error, ServerError)
    assert error.status == 502 and f"HTTP 502 from {url}" in str(error)
