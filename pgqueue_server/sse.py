"""The ticker event stream: claim a firing, send it, acknowledge it; keep-alives; clean exits.

Nothing is written to a socket while a transaction is open or a connection is held: a firing
is claimed as a lease (`Manager.claim_firing`), written, then acknowledged. When the send fails
or the client disconnects (Sanic then cancels the handler), the firing is given back and
claimed again by another stream, an in-process ticker loop, or this client when it
reconnects; if the server dies mid-delivery, the lease lapses and the same happens.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import inspect
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, NoReturn, TypeVar

from sanic import Request
from sanic.exceptions import SanicException

from pgqueue_core import Manager, PgQueueError, Ticker
from pgqueue_core import codec as core_codec

from . import codec

log = logging.getLogger("pgqueue.server.sse")

HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class StreamSettings:
    keepalive: float = 10.0  # seconds between writes at most (Sanic kills idle streams at 60)
    poll: float = 1.0  # longest sleep, so tickers registered meanwhile are noticed
    retry_ms: int = 2000  # reconnect hint for clients
    send_timeout: float = 10.0  # a client that takes longer to accept an event is dropped


class TooManyStreams(SanicException):
    """429: the token (or, without authentication, the client address) holds its limit of
    open ticker streams already."""

    status_code = 429
    quiet = True
    key = "too_many_streams"


class StreamLimits:
    """Counts the open ticker streams of each owner (a token's name, or a client address)
    in this process and refuses one more than the owner's limit; `db_slots` bounds how many
    pooled connections the streams use at once (a quarter of the pool, at least one)."""

    def __init__(self, retry_after: int = 2, pool_size: int = 4) -> None:
        self.open: collections.Counter[str] = collections.Counter()
        self.retry_after = retry_after
        self.db_slots = asyncio.Semaphore(max(1, pool_size // 4))

    @contextlib.contextmanager
    def admit(self, owner: str, limit: int) -> Iterator[None]:
        """Hold one of `owner`'s `limit` stream slots (0: no limit) for the block; raise
        TooManyStreams, before anything was sent, when none is free."""
        if limit and self.open[owner] >= limit:
            raise TooManyStreams(
                f"{owner} already holds {self.open[owner]} open ticker stream(s), the most "
                f"allowed ({limit}): close one first",
                headers={"Retry-After": str(self.retry_after)},
            )
        self.open[owner] += 1
        try:
            yield
        finally:
            self.open[owner] -= 1
            if self.open[owner] <= 0:
                del self.open[owner]


class ClientGone(Exception):
    """The event could not be written: the client went away or stopped reading."""


def event(ticker: Ticker) -> str:
    """One SSE event: `event: ticker`, an id unique per firing, the ticker JSON as data."""
    stamp = core_codec.format_time(ticker.timestamp) or ""
    data = codec.dumps(core_codec.encode(ticker)).decode()
    return f"event: ticker\nid: {ticker.namespace}/{ticker.ticker}/{stamp}\ndata: {data}\n\n"


async def _send(response: Any, text: str, within: float) -> None:
    try:
        await asyncio.wait_for(response.send(text), within)
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        raise ClientGone(f"{type(exc).__name__}: {exc}") from exc


def abandon(request: Request) -> NoReturn:
    """End the handler of a stream whose client is gone as Sanic ends one when it sees a
    disconnect: by cancelling it. Returning instead would have Sanic write the stream's last
    chunk into the dead connection after the handler and log that at ERROR ("'NoneType'
    object has no attribute 'is_closing'") although nothing is wrong."""
    transport = getattr(request, "transport", None)
    if transport is not None:
        transport.close()
    raise asyncio.CancelledError("the client is gone")


async def send(response: Any, text: str, settings: StreamSettings) -> None:
    """Write to an event stream within the send timeout (else ClientGone)."""
    await _send(response, text, settings.send_timeout)


async def _deliver_one(
    manager: Manager, response: Any, settings: StreamSettings, slots: asyncio.Semaphore
) -> bool:
    """Claim one matured firing, write it with no database connection held, then record it
    as delivered; a firing that could not be written (the send failed, timed out, or the
    client left and Sanic cancelled the handler) is given back for the next claimant.

    The claim is a lease (send timeout + a margin): if this process dies mid-delivery, the
    lease lapses and the firing is claimed again. A firing that was written into the socket
    of a connection that dies at that very moment cannot be told apart from a delivered one:
    that is the one case where a client can miss a firing.

    No statement is cancelled in flight when the client leaves (asyncpg would cancel it over
    a second connection and, the first given up meanwhile, log "Future exception was never
    retrieved" at ERROR): a claim under way finishes, and its firing is given back.
    """
    lease = timedelta(seconds=settings.send_timeout + 5)
    claim = asyncio.ensure_future(_claim(manager, lease, slots))
    try:
        firing = await asyncio.shield(claim)
    except asyncio.CancelledError:
        with contextlib.suppress(BaseException):
            late = await claim
            if late is not None:
                await _settle(slots, manager.give_back_firing(late), "give back", manager.namespace)
        raise
    if firing is None:
        return False
    try:
        await _send(response, event(firing), settings.send_timeout)
    except BaseException:
        await asyncio.shield(
            _settle(slots, manager.give_back_firing(firing), "give back", manager.namespace)
        )
        raise
    await asyncio.shield(
        _settle(slots, manager.firing_delivered(firing), "acknowledge", manager.namespace)
    )
    return True


async def _claim(manager: Manager, lease: timedelta, slots: asyncio.Semaphore) -> Ticker | None:
    async with slots:
        return await manager.claim_firing(lease)


def _settle(
    slots: asyncio.Semaphore, step: Awaitable[Any], what: str, namespace: str
) -> asyncio.Task[None]:
    """Run the last step of a delivery to its end even if the handler is cancelled (the
    client left): a given-back firing must reach the database, and so must a delivered one,
    or it would be delivered again. A database error only delays: the lease lapses."""

    async def run() -> None:
        try:
            async with slots:
                await step
        except PgQueueError as exc:
            log.warning("ticker stream (%s): could not %s a firing: %s", namespace, what, exc)

    return asyncio.ensure_future(run())


async def _finished(call: Awaitable[T]) -> T:
    """`await call`, a database call that a client leaving does not cut short (see
    _deliver_one): the cancellation goes on once the call has returned."""
    task = asyncio.ensure_future(call)
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        with contextlib.suppress(BaseException):
            await task
        raise


async def _pause(stopping: asyncio.Event, seconds: float) -> None:
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stopping.wait(), max(seconds, 0.0))


async def start_stream(request: Request) -> Any:
    """The stream's response, its head not yet sent. The connection ends with the stream (no
    keep-alive), so a server shutting down does not wait for a client to send another request
    on it."""
    if request.stream is not None and hasattr(request.stream, "keep_alive"):
        setattr(request.stream, "keep_alive", False)  # noqa: B010 - not on the Stream type
    return await request.respond(content_type="text/event-stream", headers=HEADERS)


async def stream_head(request: Request) -> None:
    """HEAD on a stream: the status and headers GET would start the stream with, and nothing
    else: no firing is claimed and the connection is not held."""
    response = await start_stream(request)
    await response.send("")  # the head, framed as the stream's (chunked); HEAD sends no body
    # `response.eof()` would await the end of the body, but Sanic (25.12) ends a HEAD body
    # with a plain function, not a coroutine: every HEAD logged a TypeError traceback.
    ended = response.stream.send(b"", True)
    if inspect.isawaitable(ended):
        await ended


async def stream_tickers(
    request: Request,
    manager: Manager,
    settings: StreamSettings,
    stopping: asyncio.Event,
    slots: asyncio.Semaphore,
) -> None:
    """Serve the namespace's matured tickers until the client leaves or the server stops.
    Database work happens under `slots`, which bounds how many pooled connections all the
    streams of this process use at once: however many streams a tenant opens, and however
    slowly they read, the other requests keep the rest of the pool."""
    response = await start_stream(request)
    started = time.monotonic()
    sent = 0
    try:
        await _send(
            response, f"retry: {settings.retry_ms}\n: pgqueue tickers\n\n", settings.send_timeout
        )
        last_write = time.monotonic()
        while not stopping.is_set():
            wait = settings.poll
            try:
                if await _deliver_one(manager, response, settings, slots):
                    sent += 1
                    last_write = time.monotonic()
                    continue
                async with slots:
                    due = await _finished(manager.next_ticker_in())
                if due is not None:
                    # Due now but not claimable: another stream holds it; look again soon.
                    wait = min(wait, max(due, 0.02))
            except PgQueueError as exc:
                # The database went away: keep the stream (keep-alives go on) and retry.
                log.warning("ticker stream (%s): %s", manager.namespace, exc)
            idle = time.monotonic() - last_write
            if idle >= settings.keepalive:
                await _send(response, ": keep-alive\n\n", settings.send_timeout)
                last_write = time.monotonic()
                idle = 0.0
            await _pause(stopping, min(wait, settings.keepalive - idle))
        with contextlib.suppress(Exception):
            await response.eof()
    except ClientGone as exc:
        log.info("ticker stream (%s) closed by the client: %s", manager.namespace, exc)
        abandon(request)
    finally:
        log.debug(
            "ticker stream (%s) ended after %.1fs, %d event(s)",
            manager.namespace,
            time.monotonic() - started,
            sent,
        )


async def serve_stream(request: Request, run: Callable[[], Awaitable[None]]) -> None:
    """Serve an event stream (`run`) within the token's stream limit (429 before anything
    is sent when it holds its limit already); HEAD gets the head GET would, and nothing
    else runs. Shutdown waits, briefly, for the stream to end; the open streams are counted
    in the metrics, and a client that leaves is accounted as such."""
    from .access import account
    from .middleware import stream_owner

    ctx = request.app.ctx
    with ctx.stream_limits.admit(*stream_owner(request)):
        if request.method == "HEAD":
            await stream_head(request)
            return
        task = asyncio.current_task()
        ctx.streams.add(task)
        ctx.metrics.streams.inc()
        try:
            await run()
        except asyncio.CancelledError:
            account(request, 200, " (client left)")  # Sanic sends no response event then
            raise
        finally:
            ctx.metrics.streams.dec()
            ctx.streams.discard(task)
