"""Client-side errors: the server could not be reached, or did not answer like pgqueue."""

from __future__ import annotations

import socket

import aiohttp

from pgqueue_core.errors import PgQueueError, Unavailable


class ConnectionFailed(Unavailable):
    """No answer from the server at `url` (refused, unresolvable, timed out, cut off).

    A subclass of `Unavailable`, so code that retries while the database is down also
    retries while the server is unreachable.
    """

    def __init__(self, url: str, reason: str) -> None:
        super().__init__(f"cannot reach {url}: {reason}", {"url": url})
        self.url = url
        self.reason_text = reason


class ProtocolError(PgQueueError):
    """The server answered, but not with what the pgqueue API sends (wrong URL or proxy)."""

    code = 502
    reason = "Bad Gateway"

    def __init__(self, url: str, problem: str) -> None:
        super().__init__(f"unexpected answer from {url}: {problem}", {"url": url})
        self.url = url


def connect_reason(exc: aiohttp.ClientError) -> str:
    """Why a connection failed, in words a person acts on."""
    if isinstance(exc, aiohttp.ClientConnectorError):
        error = exc.os_error
        if isinstance(error, ConnectionRefusedError):
            return "connection refused (is the server running?)"
        if isinstance(error, socket.gaierror):
            return f"host {exc.host!r} not found ({error.strerror})"
        return error.strerror or str(error) or type(error).__name__
    if isinstance(exc, aiohttp.ServerDisconnectedError):
        return "the server closed the connection"
    if isinstance(exc, aiohttp.ClientPayloadError):
        return "the connection was cut off"
    return str(exc) or type(exc).__name__
