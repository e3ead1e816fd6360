"""Frozen dataclasses for queues, tasks and tickers, and the task Status enum."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Final


class Status(StrEnum):
    """Where a task is in its lifecycle (stored in the task row, indexed)."""

    NEW = "new"
    RETRY = "retry"
    RETAINED = "retained"
    RELEASED = "released"
    FAILED = "failed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL


TERMINAL: Final = frozenset({Status.RELEASED, Status.FAILED, Status.EXPIRED, Status.CANCELLED})
# Status by its stored text (a dict lookup is several times faster than Status(text)).
STATUSES: Final = {status.value: status for status in Status}
WAITING: Final = frozenset({Status.NEW, Status.RETRY})


class RawJSON:
    """JSON text that Python's json module cannot read although PostgreSQL stored it (a number
    of more than 4,300 digits, nesting deeper than the recursion limit), or reads into a
    string no UTF-8 writer can write (a lone surrogate escape such as "\\ud800", which the
    json column type accepts), written by some other client: kept as text and handed on
    unchanged, so that one such row never breaks a read. `text` is the JSON exactly as
    stored."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return f"RawJSON({self.text[:40]!r}{'...' if len(self.text) > 40 else ''})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, RawJSON) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


def load_json(text: str) -> Any:
    """A stored payload or result as Python values (RawJSON when Python cannot read it, or
    reads it into text that is not Unicode)."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return RawJSON(text)
    # Only an escape can hold a surrogate (UTF-8 cannot): look closer at those rows alone.
    if ("\\ud" in text or "\\uD" in text) and not _is_unicode(value):
        return RawJSON(text)
    return value


def _is_unicode(value: Any) -> bool:
    """Whether every string of a JSON value (object keys included) is Unicode text, that is
    holds no lone surrogate, so that it can be written as UTF-8."""
    try:
        json.dumps(value, ensure_ascii=False).encode("utf-8")
    except (UnicodeEncodeError, ValueError, RecursionError):
        return False
    return True


class _Missing:
    """Marks a field that was not given (JSON `null` is a value, a missing key is not)."""

    _instance: _Missing | None = None

    def __new__(cls) -> _Missing:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "MISSING"

    def __bool__(self) -> bool:
        return False


MISSING: Final = _Missing()


@dataclass(frozen=True, slots=True)
class QueueMeta:
    """Settings of a queue; `None` means "not given" (default on create, unchanged on update).

    `concurrency=0` on update removes a concurrency limit.
    """

    queue: str | None = None
    ttl: timedelta | None = None
    retries: int | None = None
    retry_delay: timedelta | None = None
    lease: timedelta | None = None
    concurrency: int | None = None
    paused: bool | None = None


@dataclass(frozen=True, slots=True)
class Queue:
    """A queue as stored."""

    namespace: str
    queue: str
    ttl: timedelta
    retries: int
    retry_delay: timedelta
    lease: timedelta
    concurrency: int | None
    paused: bool
    created_at: datetime

    @classmethod
    def from_record(cls, row: Any) -> Queue:
        return cls(
            namespace=row["namespace"],
            queue=row["queue"],
            ttl=row["ttl"],
            retries=row["retries"],
            retry_delay=row["retry_delay"],
            lease=row["lease"],
            concurrency=row["concurrency"],
            paused=row["paused"],
            created_at=row["created_at"],
        )


@dataclass(frozen=True, slots=True)
class TaskMeta:
    """What a caller gives to create a task. `payload` is required (None is JSON null).

    `key` de-duplicates: while a task with the same key in the same queue is not
    terminal, creating another returns that task instead of a new one.
    """

    payload: Any = MISSING
    delayed_at: datetime | None = None
    priority: int = 0
    key: str | None = None


@dataclass(frozen=True, slots=True)
class Task:
    """A task as stored (status as read: overdue tasks read as `expired`)."""

    id: int
    namespace: str
    queue: str
    payload: Any
    result: Any
    worker: str | None
    status: Status
    created_at: datetime
    delayed_at: datetime | None
    started_at: datetime | None
    finished_at: datetime | None
    dies_at: datetime
    retries: int
    attempt: int
    priority: int = 0
    key: str | None = None
    leased_until: datetime | None = None
    cancel_requested: bool = False

    @classmethod
    def from_record(cls, row: Any) -> Task:
        result = row["result"]
        return cls(
            id=row["id"],
            namespace=row["namespace"],
            queue=row["queue"],
            payload=load_json(row["payload"]),
            result=None if result is None else load_json(result),
            worker=row["worker"],
            status=STATUSES[row["status"]],
            created_at=row["created_at"],
            delayed_at=row["delayed_at"],
            started_at=row["started_at"],
            finished_at=row["finished_at"],
            dies_at=row["dies_at"],
            retries=row["retries"],
            attempt=row["attempt"],
            priority=row["priority"],
            key=row["key"],
            leased_until=row["leased_until"],
            cancel_requested=row["cancel_requested"],
        )


@dataclass(frozen=True, slots=True)
class TickerMeta:
    """Settings of a ticker; `None` means "not given" (a new ticker without an interval
    fires every minute; in an update, `ticker=""` is no rename, as None)."""

    ticker: str | None = None
    interval: timedelta | None = None
    payload: Any = MISSING


@dataclass(frozen=True, slots=True)
class Ticker:
    """A ticker as stored; `timestamp` is when it last fired (None: never)."""

    namespace: str
    ticker: str
    interval: timedelta
    payload: Any
    timestamp: datetime | None

    @classmethod
    def from_record(cls, row: Any) -> Ticker:
        return cls(
            namespace=row["namespace"],
            ticker=row["ticker"],
            interval=row["interval"],
            payload=load_json(row["payload"]),
            timestamp=row["fired_at"],
        )

    def next_at(self, now: datetime) -> datetime:
        """When this ticker matures next (now if it never fired or is overdue)."""
        if self.timestamp is None:
            return now
        return max(now, self.timestamp + self.interval)


@dataclass(frozen=True, slots=True)
class QueueStatus:
    """The number of tasks of one queue in one status (zeros included)."""

    namespace: str
    queue: str
    status: Status
    count: int


@dataclass(frozen=True, slots=True)
class QueueSummary:
    """One queue at a glance: task counts per status, and since when its oldest ready task
    has been waiting (`oldest`: None when nothing is ready)."""

    namespace: str
    queue: str
    paused: bool
    counts: dict[Status, int]
    oldest: datetime | None

    @property
    def waiting(self) -> int:
        return self.counts.get(Status.NEW, 0) + self.counts.get(Status.RETRY, 0)
