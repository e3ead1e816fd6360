"""The ticker stream: matured tickers over SSE (aiohttp-sse-client), reconnecting with backoff."""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import AsyncGenerator, Awaitable, Callable
from datetime import timedelta
from typing import Any

import aiohttp
from aiohttp_sse_client.client import EventSource

from pgqueue_core import wire
from pgqueue_core.errors import PgQueueError, Unavailable
from pgqueue_core.models import Ticker

from .errors import ConnectionFailed, ProtocolError, connect_reason, error_for

log = logging.getLogger(__name__)
# The library logs every refused or dropped stream at ERROR; TickerStream reports those
# itself. Without a handler of its own, Python would print them to stderr (over a console).
logging.getLogger("aiohttp_sse_client").addHandler(logging.NullHandler())

StateHook = Callable[[bool, PgQueueError | None], None]

# aiohttp-sse-client reports a refused stream only as "fetch URL failed: 401"; these
# statuses will not change by retrying, anything else (5xx, proxies) is worth a retry.
_STATUS = re.compile(r"failed(?: with wrong response status)?: (\d{3})$")
_PERMANENT = frozenset({400, 401, 403, 404, 405, 406})


class _EventSource(EventSource):
    """EventSource that ignores the server's `retry:` hint: the library doubles the hint on
    every drop, which would leave a console waiting many seconds; TickerStream owns the
    backoff instead."""

    def _process_field(self, field_name: str, field_value: str) -> None:
        if field_name != "retry":
            super()._process_field(field_name, field_value)


class TickerStream:
    """Async iterator of matured tickers, each claimed by this stream alone.

    It keeps going across dropped connections (waiting `min_delay` seconds, doubling up to
    `max_delay`) until closed or cancelled. Errors a retry cannot fix (bad token, unknown
    namespace, wrong URL) are raised. `connected` tells the current state; `on_state` is
    called with (connected, error) whenever it changes or a reconnect attempt fails.
    """

    def __init__(
        self,
        *,
        session: Callable[[], aiohttp.ClientSession],
        url: str,
        params: list[tuple[str, str]],
        headers: dict[str, str],
        probe: Callable[[], Awaitable[None]],
        on_json: Callable[[Any], None] | None = None,
        on_state: StateHook | None = None,
        min_delay: float = 0.25,
        max_delay: float = 5.0,
        read_timeout: float = 35.0,
        fail_fast: bool = False,
    ) -> None:
        self.url = url
        self.on_state = on_state
        self.connected = False
        self.connections = 0
        self.last_error: PgQueueError | None = None
        self._session = session
        self._params = params
        self._headers = headers
        self._probe = probe
        self._on_json = on_json
        self._min_delay = min_delay
        self._max_delay = max_delay
        self._read_timeout = read_timeout
        self._fail_fast = fail_fast
        self._gen: AsyncGenerator[Ticker, None] | None = None

    def __aiter__(self) -> TickerStream:
        return self

    async def __anext__(self) -> Ticker:
        if self._gen is None:
            self._gen = self._run()
        return await self._gen.__anext__()

    async def __aenter__(self) -> TickerStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connection; iterating afterwards ends at once."""
        gen, self._gen = self._gen, None
        if gen is not None:
            await gen.aclose()
        self._gen = _empty()
        self.connected = False  # the consumer's own doing: no on_state call

    # ---- internals ----------------------------------------------------------------

    def _set(self, connected: bool, error: PgQueueError | None) -> None:
        if connected == self.connected and error is None:
            return
        self.connected = connected
        self.last_error = error
        if connected:
            self.connections += 1
        if self.on_state is not None:
            self.on_state(connected, error)

    def _source(self, last_id: str) -> Any:
        headers = dict(self._headers)
        if last_id:
            headers["Last-Event-Id"] = last_id
        return _EventSource(
            self.url,
            session=self._session(),
            # The library waits twice this after a clean end of stream before reconnecting.
            reconnection_time=timedelta(seconds=self._min_delay / 2),
            max_connect_retry=0,
            on_open=lambda: self._set(True, None),
            on_error=lambda: self._set(False, None),
            params=self._params,
            headers=headers,
            timeout=aiohttp.ClientTimeout(
                total=None, sock_connect=10, sock_read=self._read_timeout
            ),
        )

    async def _run(self) -> AsyncGenerator[Ticker, None]:
        delay = self._min_delay
        last_id = ""
        while True:
            source = self._source(last_id)
            try:
                await source.connect()
                delay = self._min_delay
                async for event in source:
                    last_id = event.last_event_id or last_id
                    ticker = self._ticker(event.type, event.data)
                    if ticker is not None:
                        yield ticker
            except (aiohttp.ClientError, ConnectionError, TimeoutError) as exc:
                error = await self._failure(exc)
                if self._fail_fast and self.connections == 0:
                    raise error from None
                self._set(False, error)
                log.info("ticker stream: %s; reconnecting in %.2gs", error, delay)
            finally:
                await source.close()
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_delay)

    def _ticker(self, event_type: str | None, data: str) -> Ticker | None:
        if event_type != "ticker":
            return None
        try:
            doc = json.loads(data)
            ticker = wire.decode_ticker(doc)
        except (ValueError, KeyError, TypeError, PgQueueError) as exc:
            log.warning("ticker stream: skipping a malformed event (%s): %.200s", exc, data)
            return None
        if self._on_json is not None:
            self._on_json(doc)
        return ticker

    async def _failure(self, exc: BaseException) -> PgQueueError:
        """The error a failed connection stands for; raises it when retrying cannot help."""
        if isinstance(exc, aiohttp.ClientError):
            return ConnectionFailed(self.url, connect_reason(exc))
        if isinstance(exc, TimeoutError):
            return ConnectionFailed(self.url, f"nothing received for {self._read_timeout:g}s")
        message = str(exc)
        if "Content-Type" in message:
            raise ProtocolError(self.url, "not an event stream (is the URL right?)")
        match = _STATUS.search(message)
        if match is None:  # an OS-level error, not a refusal by the server
            return ConnectionFailed(self.url, message or type(exc).__name__)
        status = int(match.group(1))
        if status in _PERMANENT:
            await self._probe()  # raises the server's own error when it is not transient
            raise error_for(status, None, f"HTTP {status} from {self.url}")
        return Unavailable(f"HTTP {status} from {self.url}")


async def _empty() -> AsyncGenerator[Ticker, None]:
    return
    yield  # pragma: no cover - makes this an async generator
