"""The one error hierarchy of pgqueue. Errors carry a stable snake_case `key` that programs
branch on; they know nothing of HTTP (the server alone maps them to statuses)."""

from __future__ import annotations

from typing import Any


class PgQueueError(Exception):
    """Base class of every pgqueue error.

    `key` is stable across releases (`queue_not_found`, `task_not_retained`, …): the class
    gives a default, a raise site may name a more specific one. `detail` is any JSON value
    that helps (the server sends it as the error's `detail`).
    """

    key: str = "error"

    def __init__(self, message: str, detail: Any = None, *, key: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.detail = detail
        if key is not None:
            self.key = key

    def __str__(self) -> str:
        return self.message


class InvalidArgument(PgQueueError):
    """The caller gave a value that breaks a rule (bad name, negative duration, ...).

    Keys: `invalid_argument`; `nothing_to_change` (an update that names no change).
    """

    key = "invalid_argument"


class NotFound(PgQueueError):
    """The named queue, task or ticker does not exist in this namespace.

    Keys: `not_found`, `queue_not_found`, `task_not_found`, `ticker_not_found`;
    `task_not_retained` (the task exists but no worker holds it, or not this worker).
    """

    key = "not_found"


class Conflict(PgQueueError):
    """The object already exists, or is not in a state that allows the change.

    Keys: `conflict`, `queue_exists`, `ticker_exists`, `key_exists` (a live task holds the
    de-duplication key), `task_not_cancellable`, `task_not_requeueable`.
    """

    key = "conflict"


class Unavailable(PgQueueError):
    """The database cannot be reached (or no connection came free in time); try again."""

    key = "unavailable"


# Every key the core raises, with its class: the typed client re-raises the class a key names.
ERROR_KEYS: dict[str, type[PgQueueError]] = {
    "invalid_argument": InvalidArgument,
    "nothing_to_change": InvalidArgument,
    "not_found": NotFound,
    "queue_not_found": NotFound,
    "task_not_found": NotFound,
    "ticker_not_found": NotFound,
    "task_not_retained": NotFound,
    "conflict": Conflict,
    "queue_exists": Conflict,
    "ticker_exists": Conflict,
    "key_exists": Conflict,
    "task_not_cancellable": Conflict,
    "task_not_requeueable": Conflict,
    "unavailable": Unavailable,
}


def error_for_key(key: str, message: str, detail: Any = None) -> PgQueueError | None:
    """The error a key names (None: a key this version does not know)."""
    cls = ERROR_KEYS.get(key)
    return None if cls is None else cls(message, detail, key=key)


def queue_not_found(name: str) -> NotFound:
    return NotFound(f"queue {name!r} not found", key="queue_not_found")


def ticker_not_found(name: str) -> NotFound:
    return NotFound(f"ticker {name!r} not found", key="ticker_not_found")


def nothing_to_change(what: str, fields: str) -> InvalidArgument:
    """An update that names no change: the original's "No patch values" 400 (go-pg
    2d74e0c, pkg/queue/schema/queue.go:250-251, ticker.go:166-167), which its CLI meets
    when `update-queue`/`update-ticker` is given no flag."""
    return InvalidArgument(
        f"nothing to change in the {what}: give {fields}", key="nothing_to_change"
    )


def task_not_found(task_id: int) -> NotFound:
    return NotFound(f"task {task_id} not found", key="task_not_found")
