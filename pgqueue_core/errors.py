"""The one error hierarchy of pgqueue: every layer raises and maps these."""

from __future__ import annotations

from typing import Any


class PgQueueError(Exception):
    """Base class of every pgqueue error; `code` is a stable HTTP-like status."""

    code = 500
    reason = "Internal Server Error"

    def __init__(self, message: str, detail: Any = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail

    def __str__(self) -> str:
        return self.message


class InvalidArgument(PgQueueError):
    """The caller gave a value that breaks a rule (bad name, negative duration, ...)."""

    code = 400
    reason = "Bad Request"


class Unauthorized(PgQueueError):
    """No or wrong credentials."""

    code = 401
    reason = "Unauthorized"


class Forbidden(PgQueueError):
    """Credentials are valid but do not allow this request."""

    code = 403
    reason = "Forbidden"


class NotFound(PgQueueError):
    """The named queue, task or ticker does not exist in this namespace."""

    code = 404
    reason = "Not Found"


class Conflict(PgQueueError):
    """The object already exists, or the change clashes with another object."""

    code = 409
    reason = "Conflict"


class Unavailable(PgQueueError):
    """The database cannot be reached (or no connection came free in time); try again."""

    code = 503
    reason = "Service Unavailable"


ERRORS_BY_CODE: dict[int, type[PgQueueError]] = {
    cls.code: cls
    for cls in (InvalidArgument, Unauthorized, Forbidden, NotFound, Conflict, Unavailable)
}


def error_for_code(code: int, message: str, detail: Any = None) -> PgQueueError:
    """The error class for an HTTP-like status code (used by the client to re-raise)."""
    cls = ERRORS_BY_CODE.get(code)
    if cls is None:
        err = PgQueueError(message, detail)
        err.code = code
        return err
    return cls(message, detail)
