"""The one table from exceptions to HTTP: status, the error JSON body, and extra headers.

Every error response of the server, Sanic's own (unknown route, wrong method, body too
large) included, is `{"object": "error", "code", "reason", "detail", "error"}`: `code` is the
HTTP status (as the original sent it), `error` the stable key programs branch on (the core
error's own key). An exception that is not in the table is a bug: it is logged with its
traceback and answered with a plain 500.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

from sanic import Request
from sanic import exceptions as sanic_exc
from sanic.handlers import ErrorHandler as SanicErrorHandler
from sanic.response import HTTPResponse, json

from pgqueue_core import Conflict, InvalidArgument, NotFound, PgQueueError, Unavailable

from .auth import Forbidden, Unauthorized

log = logging.getLogger("pgqueue.server")

# The status a request is counted and logged with when its client hung up before the answer
# (nginx's "client closed request"). Never sent: there is no one to send it to. Not a 5xx on
# purpose: the server did nothing wrong, and clients that give up must not trip the API-errors
# alert; yet a distinct label rather than none, because a rising rate of 499s is worth seeing
# (clients timing out before the server answers).
CLIENT_CLOSED_REQUEST = 499


@dataclass(frozen=True, slots=True)
class HttpError:
    """An exception as the client sees it."""

    status: int
    message: str
    key: str
    detail: Any = None
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def reason(self) -> str:
        try:
            phrase = HTTPStatus(self.status).phrase
        except ValueError:
            phrase = "Error"
        return f"{phrase}: {self.message}" if self.message else phrase

    def body(self) -> dict[str, Any]:
        return {
            "object": "error",
            "code": self.status,
            "reason": _writable(self.reason),
            "detail": _writable(self.detail),
            "error": self.key,
        }


def _writable(value: Any) -> Any:
    """`value` with every string UTF-8 can encode: a message may quote the request, and a
    request's JSON may hold lone surrogates (`"\\ud800"`), which no UTF-8 writer accepts;
    they are quoted as the escapes they were sent as."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, list | tuple):
        return [_writable(item) for item in value]
    if isinstance(value, dict):
        return {_writable(k): _writable(v) for k, v in value.items()}
    return value


def _sanic_message(exc: sanic_exc.SanicException, status: int) -> str:
    text = exc.args[0] if exc.args else ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = str(text or "")
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
    return "" if text == phrase else text


# The statuses of pgqueue's errors, most specific class first.
STATUSES: tuple[tuple[type[PgQueueError], int], ...] = (
    (InvalidArgument, 400),
    (Unauthorized, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (Unavailable, 503),
)
# Keys of the errors Sanic raises itself, by status.
_SANIC_KEYS = {
    400: "invalid_argument",
    404: "endpoint_not_found",
    405: "method_not_allowed",
    408: "request_timeout",
    413: "body_too_large",
    429: "too_many_requests",
    431: "headers_too_large",
    503: "unavailable",
}


def status_of(exc: PgQueueError) -> int:
    for cls, status in STATUSES:
        if isinstance(exc, cls):
            return status
    return 500


def to_http(exc: BaseException, *, retry_after: int = 2) -> HttpError:
    """The table. Order matters: specific classes first."""
    if isinstance(exc, PgQueueError):
        status = status_of(exc)
        headers = {}
        if status == 503:
            headers["Retry-After"] = str(retry_after)
        elif status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="pgqueue"'
        return HttpError(status, exc.message, exc.key, exc.detail, headers)
    if isinstance(exc, sanic_exc.RequestCancelled):  # Sanic's word for "the client left"
        return HttpError(
            CLIENT_CLOSED_REQUEST, "the client closed the connection", "client_closed_request"
        )
    if isinstance(exc, sanic_exc.NotFound):
        return HttpError(404, "no such endpoint (see /openapi.json)", _SANIC_KEYS[404])
    if isinstance(exc, sanic_exc.MethodNotAllowed):
        allowed = dict(exc.headers).get("Allow", "")
        message = "method not allowed on this path"
        if allowed:
            message += f" (allowed: {allowed})"
        return HttpError(
            405, message, _SANIC_KEYS[405], None, {"Allow": allowed} if allowed else {}
        )
    if isinstance(exc, sanic_exc.PayloadTooLarge):
        return HttpError(413, _sanic_message(exc, 413) or "request too large", _SANIC_KEYS[413])
    if isinstance(exc, sanic_exc.ServiceUnavailable):
        return HttpError(
            503,
            _sanic_message(exc, 503) or "try again later",
            _SANIC_KEYS[503],
            None,
            {"Retry-After": str(retry_after)},
        )
    if isinstance(exc, sanic_exc.SanicException) and 400 <= exc.status_code < 500:
        # e.g. 429 from the ticker stream limit, with its Retry-After
        status = exc.status_code
        headers = {str(k): str(v) for k, v in dict(exc.headers or {}).items()}
        key = getattr(exc, "key", None) or _SANIC_KEYS.get(status, f"http_{status}")
        return HttpError(status, _sanic_message(exc, status), key, None, headers)
    return HttpError(500, "internal error (logged on the server)", "internal_error")


def error_response(exc: BaseException, *, retry_after: int = 2) -> HTTPResponse:
    err = to_http(exc, retry_after=retry_after)
    return json(err.body(), status=err.status, headers=err.headers)


_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")


def _with_allow(err: HttpError, request: Request) -> HttpError:
    """Sanic's router leaves `Allow` out for some dynamic paths: ask it method by method."""
    allowed = []
    for method in _METHODS:
        try:
            request.app.router.get(request.path, method, request.headers.getone("host", None))
        except sanic_exc.SanicException:
            continue
        allowed.append(method)
    if not allowed:
        return err
    return HttpError(
        405,
        f"method not allowed on this path (allowed: {', '.join(allowed)})",
        err.key,
        None,
        {"Allow": ", ".join(allowed)},
    )


class ErrorHandler(SanicErrorHandler):
    """Sanic's error handler, answering every error with the pgqueue error body."""

    def __init__(self, retry_after: int = 2) -> None:
        super().__init__()
        self.retry_after = retry_after

    def default(self, request: Request, exception: Exception) -> HTTPResponse:
        err = to_http(exception, retry_after=self.retry_after)
        if err.status == 405 and "Allow" not in err.headers:
            err = _with_allow(err, request)
        if err.status >= 500 and not isinstance(exception, Unavailable):
            log.error(
                "%s %s failed: %s",
                request.method,
                request.path,
                type(exception).__name__,
                exc_info=exception,
            )
        elif isinstance(exception, Unavailable):
            log.warning("%s %s: %s", request.method, request.path, exception)
        return json(err.body(), status=err.status, headers=err.headers)

    @staticmethod
    def log(request: Request, exception: Exception) -> None:
        """Logging happens in `default`, once, without the noise of expected 4xx errors."""
