"""The one table from exceptions to HTTP: status, the error JSON body, and extra headers.

Every error response of the server, Sanic's own (unknown route, wrong method, body too
large) included, is `{"object": "error", "code", "reason", "detail"}`. An exception that is
not in the table is a bug: it is logged with its traceback and answered with a plain 500.
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

from pgqueue_core import PgQueueError, Unavailable

log = logging.getLogger("pgqueue.server")


@dataclass(frozen=True, slots=True)
class HttpError:
    """An exception as the client sees it."""

    status: int
    message: str
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
            "reason": self.reason,
            "detail": self.detail,
        }


def _sanic_message(exc: sanic_exc.SanicException, status: int) -> str:
    text = exc.args[0] if exc.args else ""
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    text = str(text or "")
    phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
    return "" if text == phrase else text


def to_http(exc: BaseException, *, retry_after: int = 2) -> HttpError:
    """The table. Order matters: specific classes first."""
    if isinstance(exc, Unavailable):
        return HttpError(503, exc.message, exc.detail, {"Retry-After": str(retry_after)})
    if isinstance(exc, PgQueueError):
        headers = {}
        if exc.code == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="pgqueue"'
        return HttpError(exc.code, exc.message, exc.detail, headers)
    if isinstance(exc, sanic_exc.NotFound):
        return HttpError(404, "no such endpoint (see /openapi.json)")
    if isinstance(exc, sanic_exc.MethodNotAllowed):
        allowed = dict(exc.headers).get("Allow", "")
        message = "method not allowed on this path"
        if allowed:
            message += f" (allowed: {allowed})"
        return HttpError(405, message, None, {"Allow": allowed} if allowed else {})
    if isinstance(exc, sanic_exc.PayloadTooLarge):
        return HttpError(413, _sanic_message(exc, 413) or "request too large")
    if isinstance(exc, sanic_exc.ServiceUnavailable):
        return HttpError(
            503,
            _sanic_message(exc, 503) or "try again later",
            None,
            {"Retry-After": str(retry_after)},
        )
    if isinstance(exc, sanic_exc.SanicException) and 400 <= exc.status_code < 500:
        # e.g. 429 from the ticker stream limit, with its Retry-After
        headers = {str(k): str(v) for k, v in dict(exc.headers or {}).items()}
        return HttpError(exc.status_code, _sanic_message(exc, exc.status_code), None, headers)
    return HttpError(500, "internal error (logged on the server)")


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
