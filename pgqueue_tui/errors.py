"""Client-side errors: the server refused the credentials, could not be reached, or did not
answer like pgqueue; and the one table from an error response back to an exception."""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING, Any

from pgqueue_core.errors import (
    ERROR_KEYS,
    Conflict,
    InvalidArgument,
    NotFound,
    PgQueueError,
    Unavailable,
)

if TYPE_CHECKING:  # the CLI imports this module for every command; aiohttp only when used
    import aiohttp


class Unauthorized(PgQueueError):
    """The server wants a (valid) bearer token (HTTP 401, key `unauthorized`)."""

    key = "unauthorized"


class Forbidden(PgQueueError):
    """The token may not do this (HTTP 403, key `forbidden`)."""

    key = "forbidden"


class ServerError(PgQueueError):
    """The server answered with an error this client has no class for (`status` says which)."""

    def __init__(self, message: str, detail: Any = None, *, key: str | None = None,
                 status: int = 500) -> None:  # fmt: skip
        super().__init__(message, detail, key=key)
        self.status = status


# Error key → class: the core's keys, the server's auth keys.
CLIENT_KEYS: dict[str, type[PgQueueError]] = {
    **ERROR_KEYS,
    "unauthorized": Unauthorized,
    "forbidden": Forbidden,
}
# An answer without a known key (an older server, a proxy): the class by HTTP status.
_BY_STATUS: dict[int, type[PgQueueError]] = {
    400: InvalidArgument,
    401: Unauthorized,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    503: Unavailable,
}


def error_for(status: int, key: str | None, message: str, detail: Any = None) -> PgQueueError:
    """The exception an error response stands for: by its key, else by its status."""
    cls = CLIENT_KEYS.get(key or "") or _BY_STATUS.get(status)
    if cls is None:
        return ServerError(message, detail, key=key, status=status)
    return cls(message, detail, key=key)


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

    key = "protocol_error"

    def __init__(self, url: str, problem: str) -> None:
        super().__init__(f"unexpected answer from {url}: {problem}", {"url": url})
        self.url = url


def connect_reason(exc: aiohttp.ClientError) -> str:
    """Why a connection failed, in words a person acts on."""
    import aiohttp

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
