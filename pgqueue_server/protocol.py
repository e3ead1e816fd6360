"""The HTTP/1.1 protocol pgqueue serves with: Sanic's, plus total deadlines for reading a
request and a cap on the connections of one client address.

Sanic's own REQUEST_TIMEOUT counts from the last byte received, so a client that trickles a
byte every few seconds holds a connection for ever (slowloris). Here a request's headers must
be complete within `header_timeout` seconds (of the connection's start for its first request,
of the request's first byte for the next ones on a keep-alive connection), and its body
within `body_timeout` seconds after the headers; past either, the answer is 408 (the error
envelope) and the connection closes. A connection that sends nothing at all is closed after
`header_timeout` too, without an answer.

Serve `create_app(config)` with `protocol=GuardedHttpProtocol` (as `pgqueue run` does) to get
them: Sanic takes its protocol class as an argument of `run`/`prepare`/`create_server`.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any, cast

from sanic.exceptions import BadRequest, RequestTimeout, SanicException
from sanic.http import Http, Stage
from sanic.server.protocols.http_protocol import HttpProtocol

from .config import ServerConfig


class TooManyConnections(SanicException):
    """429: the client address holds its limit of open connections already."""

    status_code = 429
    quiet = True
    key = "too_many_connections"


class ClientConnections:
    """The open connections of each client address in this process, and their limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open: collections.Counter[str] = collections.Counter()

    def admit(self, client: str | None) -> bool:
        """Count one more connection of `client` unless it holds `limit` already (0: no
        limit; None: a unix socket, never limited)."""
        if client is None:
            return True
        if self.limit and self.open[client] >= self.limit:
            return False
        self.open[client] += 1
        return True

    def release(self, client: str | None) -> None:
        if client is None:
            return
        self.open[client] -= 1
        if self.open[client] <= 0:
            del self.open[client]


class DeadlineHttp(Http):
    """Sanic's HTTP/1.1 request cycle with total deadlines for the headers and the body."""

    __slots__ = ("body_deadline",)

    async def http1_request_header(self) -> None:
        protocol = cast(GuardedHttpProtocol, self.protocol)
        loop = asyncio.get_running_loop()
        began = protocol.started if not protocol.requests else loop.time()
        timeout = protocol.config.header_timeout
        try:
            async with asyncio.timeout_at(began + timeout):
                await super().http1_request_header()
        except TimeoutError:
            raise RequestTimeout(f"request headers not received within {timeout:g}s") from None
        protocol.requests += 1
        self.body_deadline = loop.time() + protocol.config.body_timeout
        if protocol.refused:
            limit = protocol.app.ctx.client_connections.limit
            raise TooManyConnections(
                f"client {protocol.client} already holds {limit} open connection(s), the "
                "most allowed: reuse them (keep-alive) or close some",
                headers={"Retry-After": str(protocol.config.retry_after)},
            )

    def create_empty_request(self) -> None:
        """The request an error answer is built on when the request line could not be made
        into one. Sanic builds it from the URL received, which fails again when that URL is
        what could not be parsed (a control character in the target): the client then got no
        answer at all and the log a traceback. Without the URL, it gets its 400."""
        try:
            super().create_empty_request()
        except BadRequest:
            self.url = ""  # Sanic's own stand-in ("*") for a request without a URL
            super().create_empty_request()

    async def read(self) -> bytes | None:
        """A part of the request body, before the body's deadline."""
        try:
            async with asyncio.timeout_at(self.body_deadline):
                return await super().read()
        except TimeoutError:
            # Nothing more is read from this connection: it closes after the answer.
            self.keep_alive = False
            self.request_body = None
            if self.response is not None:  # answered already (the handler ignored the body)
                return None
            timeout = self.protocol.config.body_timeout
            raise RequestTimeout(f"request body not received within {timeout:g}s") from None


class GuardedHttpProtocol(HttpProtocol):
    """Sanic's HttpProtocol with DeadlineHttp and a cap on connections per client address:
    a connection beyond the cap is answered 429 (with the error envelope) to its first
    request and closed; one that sends nothing is closed at the header deadline."""

    HTTP_CLASS = DeadlineHttp
    # Sanic's protocol classes have no __dict__: every attribute needs a slot. (An error in
    # __init__ shows nowhere: asyncio just closes each new connection.)
    __slots__ = (
        "_first_request_timer",
        "client",
        "config",
        "counted",
        "refused",
        "requests",
        "started",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.config: ServerConfig = self.app.ctx.config
        self.client: str | None = None
        self.counted = False
        self.refused = False
        self.requests = 0
        self.started = 0.0
        self._first_request_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: Any) -> None:
        self.started = self.loop.time()
        peer = transport.get_extra_info("peername")
        self.client = str(peer[0]) if isinstance(peer, tuple) and peer else None
        self.counted = self.app.ctx.client_connections.admit(self.client)
        self.refused = not self.counted
        self._first_request_timer = self.loop.call_at(
            self.started + self.config.header_timeout, self._first_request_overdue
        )
        super().connection_made(transport)

    def _first_request_overdue(self) -> None:
        """No byte of a first request came in time: close without an answer (a request
        that is arriving, however slowly, gets its 408 from DeadlineHttp instead)."""
        http = self.http
        if not self.requests and (http is None or http.stage is Stage.IDLE):
            self.close()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._first_request_timer is not None:
            self._first_request_timer.cancel()
        if self.counted:
            self.counted = False
            self.app.ctx.client_connections.release(self.client)
        super().connection_lost(exc)
