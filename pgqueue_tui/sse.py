"""Server-Sent Events over aiohttp: a parser of the text/event-stream format and a stream of
events that reconnects with backoff and `Last-Event-ID`.

The parser follows the WHATWG HTML standard ("Server-sent events", interpreting an event
stream): UTF-8 with one leading BOM ignored; lines end with CRLF, LF or CR (also when a CRLF
is split between two chunks); a blank line dispatches the event; `:` starts a comment; a
field's value loses one leading space; `data` lines join with LF; `id` sets the last event
ID (unless it holds NUL) and an event without data still updates it; `retry` takes ASCII
digits only; unknown fields are ignored; an event the stream ends before its blank line is
dropped.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import logging
import re
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Generic, Self, TypeVar

import aiohttp

from pgqueue_core.errors import PgQueueError

from .errors import ConnectionFailed, ProtocolError, connect_reason
from .transport import Params, response_error

log = logging.getLogger(__name__)

T = TypeVar("T")
StateHook = Callable[[bool, PgQueueError | None], None]

_LINE_END = re.compile(r"\r\n|\r|\n")
# Refusals a retry cannot change (a token, a namespace, a URL); other statuses (5xx, 429,
# a proxy's 502) are worth another attempt.
PERMANENT = frozenset({400, 401, 403, 404, 405, 406, 410})
_ERROR_BODY_LIMIT = 64 * 1024


@dataclass(frozen=True, slots=True)
class Event:
    """One dispatched event: its type (`message` unless an `event` field named one), its
    data, and the stream's last event ID when it was dispatched ("" for none)."""

    type: str
    data: str
    id: str


class Parser:
    """Incremental text/event-stream parser: `feed` it bytes as they arrive, it returns the
    events completed so far. One parser per connection; `last_event_id` starts as the ID a
    reconnection resumes from and follows the stream's `id` fields; `retry` is the last
    reconnection time (ms) the stream asked for, None if it never did."""

    def __init__(self, last_event_id: str = "") -> None:
        self.last_event_id = last_event_id
        self.retry: int | None = None
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._started = False  # past the first character (and its BOM, if it was one)
        self._after_cr = False  # the text so far ended in CR: a LF next completes a CRLF
        self._partial: list[str] = []  # the unfinished last line, in pieces
        self._data: list[str] = []
        self._type = ""
        # The stream's last event ID buffer starts as the ID resumed from (as Chromium's
        # parser does; the standard starts it empty), so events of a resumed stream that
        # carry no id do not make a later reconnection forget where it was.
        self._id = last_event_id

    def feed(self, chunk: bytes) -> list[Event]:
        text = self._decoder.decode(chunk)
        if not text:
            return []
        if not self._started:
            self._started = True
            text = text.removeprefix("\ufeff")
        if self._after_cr and text.startswith("\n"):
            text = text[1:]
        self._after_cr = text.endswith("\r")
        pieces = _LINE_END.split(text)
        if len(pieces) == 1:  # no line ends yet: nothing to join until there is one
            self._partial.append(text)
            return []
        lines = ["".join([*self._partial, pieces[0]]), *pieces[1:-1]]
        self._partial = [pieces[-1]] if pieces[-1] else []
        events = []
        for line in lines:
            event = self._process(line)
            if event is not None:
                events.append(event)
        return events

    def _process(self, line: str) -> Event | None:
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return None  # a comment (keep-alives)
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._type = value
        elif name == "id" and "\0" not in value:
            self._id = value
        elif name == "retry" and value.isascii() and value.isdigit():
            self.retry = int(value)
        return None  # other fields are ignored

    def _dispatch(self) -> Event | None:
        self.last_event_id = self._id
        data, event_type = self._data, self._type
        self._data, self._type = [], ""
        if not data:
            return None
        return Event(event_type or "message", "\n".join(data), self.last_event_id)


class Refused(Exception):
    """The server answered the stream's request with an error; `error` is its own."""

    def __init__(self, status: int, error: PgQueueError) -> None:
        super().__init__(str(error))
        self.status = status
        self.error = error


@asynccontextmanager
async def connect(
    session: aiohttp.ClientSession,
    url: str,
    *,
    params: Params | None = None,
    headers: dict[str, str] | None = None,
    last_event_id: str = "",
    timeout: aiohttp.ClientTimeout | None = None,
) -> AsyncIterator[aiohttp.ClientResponse]:
    """An open event stream: the response, its status and content type checked. Raises
    `Refused` with the error of the server's envelope for any status but 200, and
    `ProtocolError` when the answer is not an event stream."""
    sent = {**(headers or {}), "Accept": "text/event-stream", "Cache-Control": "no-cache"}
    if last_event_id:
        sent["Last-Event-ID"] = last_event_id
    async with session.get(url, params=params, headers=sent, timeout=timeout) as response:
        if response.status != 200:
            if response.status < 300:  # 204 and the like: no stream here
                raise ProtocolError(url, f"HTTP {response.status} instead of an event stream")
            raw = await response.content.read(_ERROR_BODY_LIMIT)
            try:
                doc = json.loads(raw) if raw else None
            except ValueError:
                doc = None
            retry_after = response.headers.get("Retry-After")
            raise Refused(response.status, response_error(response.status, doc, url, retry_after))
        media_type = response.headers.get("Content-Type", "").partition(";")[0].strip()
        if media_type.lower() != "text/event-stream":
            raise ProtocolError(url, "not an event stream (is the URL right?)")
        yield response


class EventSource(Generic[T]):
    """Async iterator over the events of one URL, as `decode` turns them into items (None:
    skip the event), across dropped connections.

    After a drop it waits `min_delay` seconds, doubling up to `max_delay`, and reconnects
    with `Last-Event-ID` (the server's `retry:` hint is read, but this backoff rules). A
    refusal a retry cannot change (bad token, unknown namespace, wrong URL: PERMANENT) raises
    the server's error; so does any failure to connect the first time with `fail_fast`.
    `connected` tells the current state; `on_state` is called with (connected, error)
    whenever it changes or a reconnect attempt fails, never for the consumer's own close.
    """

    def __init__(
        self,
        *,
        session: Callable[[], aiohttp.ClientSession],
        url: str,
        decode: Callable[[Event], T | None],
        params: Params | None = None,
        headers: dict[str, str] | None = None,
        last_event_id: str = "",
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
        self.last_event_id = last_event_id
        self._session = session
        self._decode = decode
        self._params = params
        self._headers = headers
        self._min_delay = min_delay
        self._max_delay = max_delay
        self._read_timeout = read_timeout
        self._fail_fast = fail_fast
        self._gen: AsyncGenerator[T, None] | None = None

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> T:
        if self._gen is None:
            self._gen = self._run()
        return await self._gen.__anext__()

    async def __aenter__(self) -> Self:
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

    async def _run(self) -> AsyncGenerator[T, None]:
        delay = self._min_delay
        timeout = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=self._read_timeout)
        while True:
            error: PgQueueError | None = None
            try:
                async with connect(
                    self._session(),
                    self.url,
                    params=self._params,
                    headers=self._headers,
                    last_event_id=self.last_event_id,
                    timeout=timeout,
                ) as response:
                    self._set(True, None)
                    delay = self._min_delay
                    parser = Parser(self.last_event_id)
                    async for chunk in response.content.iter_any():
                        for event in parser.feed(chunk):
                            self.last_event_id = event.id
                            item = self._decode(event)
                            if item is not None:
                                yield item
                        self.last_event_id = parser.last_event_id
            except Refused as exc:
                if exc.status in PERMANENT:
                    raise exc.error from None
                error = exc.error
            except (aiohttp.ClientError, ConnectionError, TimeoutError) as exc:
                error = self._failure(exc)
            if error is not None and self._fail_fast and self.connections == 0:
                raise error
            self._set(False, error)
            log.info("event stream %s: %s; reconnecting in %.2gs", self.url, error, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, self._max_delay)

    def _failure(self, exc: BaseException) -> PgQueueError:
        if isinstance(exc, aiohttp.SocketTimeoutError) or (
            isinstance(exc, TimeoutError) and not isinstance(exc, aiohttp.ClientError)
        ):
            return ConnectionFailed(self.url, f"nothing received for {self._read_timeout:g}s")
        if isinstance(exc, aiohttp.ClientError):
            return ConnectionFailed(self.url, connect_reason(exc))
        return ConnectionFailed(self.url, str(exc) or type(exc).__name__)


async def _empty() -> AsyncGenerator[Any, None]:
    return
    yield  # pragma: no cover - makes this an async generator
