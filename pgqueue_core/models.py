"""Frozen dataclasses for queues, tasks and tickers, and the task Status enum."""

from __future__ import annotations

import dataclasses
import json
import typing
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, ClassVar, Final


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


def wire(
    doc: str = "", *, kind: str | None = None, column: str | None = None, **schema: Any
) -> dict[str, Any]:
    """A field's wire metadata (pgqueue_core/codec.py): its description, its kind when the
    annotation does not say it (`"name"`: a queue, ticker or namespace name), the table
    column it is read from when the names differ, and JSON Schema bounds."""
    meta: dict[str, Any] = {"doc": doc, "schema": schema}
    if kind is not None:
        meta["kind"] = kind
    if column is not None:
        meta["column"] = column
    return meta


NAME: Final = wire(kind="name")


def _reader(cls: type) -> Any:
    """A function building a `cls` from a database row (generated once from the fields:
    JSON columns decoded, statuses looked up; as fast as writing it out)."""
    hints = typing.get_type_hints(cls)
    args = []
    for f in dataclasses.fields(cls):
        column = f.metadata.get("column", f.name)
        value = f"row[{column!r}]"
        if hints[f.name] is Any:
            value = f"_json({value})"
        elif hints[f.name] is Status:
            value = f"_STATUSES[{value}]"
        args.append(f"{f.name}={value}")
    source = f"def read_{cls.__name__}(row):\n    return cls({', '.join(args)})\n"
    scope: dict[str, Any] = {"cls": cls, "_json": _load_or_null, "_STATUSES": STATUSES}
    exec(source, scope)
    return scope[f"read_{cls.__name__}"]


def _load_or_null(text: str | None) -> Any:
    return None if text is None else load_json(text)


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

    queue: str | None = field(default=None, metadata=wire("queue name", kind="name"))
    ttl: timedelta | None = field(default=None, metadata=wire("task lifetime (default 1h)"))
    retries: int | None = field(
        default=None, metadata=wire("retries after a failure (default 3)", minimum=0)
    )
    retry_delay: timedelta | None = field(
        default=None, metadata=wire("backoff base: retry_delay × 2^(attempt-1) (default 2m)")
    )
    lease: timedelta | None = field(
        default=None, metadata=wire("lease of a retained task, at least 1s (default 5m)")
    )
    concurrency: int | None = field(
        default=None,
        metadata=wire("most tasks retained at once, across workers; 0: no limit", minimum=0),
    )
    paused: bool | None = field(default=None, metadata=wire("hands out no task while true"))
    rate: float | None = field(
        default=None,
        metadata=wire(
            "most tasks started per second, across all workers; 0: no limit",
            minimum=0,
            maximum=1e9,
        ),
    )
    burst: int | None = field(
        default=None,
        metadata=wire(
            "most tasks started at once after a quiet spell (rate limit); 0: one second's worth",
            minimum=0,
        ),
    )
    weight: int | None = field(
        default=None,
        metadata=wire(
            "tasks taken per turn when a claim spans several queues (default 1)",
            minimum=1,
            maximum=1000,
        ),
    )
    breaker_threshold: int | None = field(
        default=None,
        metadata=wire(
            "failed attempts in a row that open the circuit breaker; 0: no breaker",
            minimum=0,
        ),
    )
    breaker_cooldown: timedelta | None = field(
        default=None,
        metadata=wire("how long an open breaker hands out nothing, 1s..1y (default 30s)"),
    )


@dataclass(frozen=True, slots=True)
class Queue:
    """A queue as stored."""

    namespace: str = field(metadata=NAME)
    queue: str = field(metadata=NAME)
    ttl: timedelta = field(metadata=wire("task lifetime"))
    retries: int = field(metadata=wire("retries after a failure", minimum=0))
    retry_delay: timedelta = field(metadata=wire("backoff base"))
    lease: timedelta = field(metadata=wire("lease of a retained task"))
    concurrency: int | None = field(
        metadata=wire("most tasks retained at once; null: no limit", minimum=1)
    )
    paused: bool = field(metadata=wire("hands out no task while true"))
    created_at: datetime = field(metadata=wire())
    rate: float | None = field(
        default=None, metadata=wire("most tasks started per second; null: no limit")
    )
    burst: int | None = field(
        default=None,
        metadata=wire("most tasks started at once; null: one second's worth", minimum=1),
    )
    weight: int = field(
        default=1, metadata=wire("tasks taken per turn in a claim spanning several queues")
    )
    breaker_threshold: int | None = field(
        default=None,
        metadata=wire("failed attempts in a row that open the breaker; null: none", minimum=1),
    )
    breaker_cooldown: timedelta = field(
        default=timedelta(seconds=30), metadata=wire("how long an open breaker holds")
    )
    breaker: str = field(
        default="closed",
        metadata=wire(
            "closed; open (hands out nothing until breaker_open_until); half-open (one "
            "probe task may go out: its success closes the breaker, its failure opens it)",
            enum=["closed", "open", "half-open"],
        ),
    )
    breaker_open_until: datetime | None = field(
        default=None, metadata=wire("when the open breaker turns half-open")
    )
    breaker_failures: int = field(
        default=0, metadata=wire("failed attempts in a row, as the breaker counts them")
    )

    from_record: ClassVar[Callable[[Any], Queue]]


@dataclass(frozen=True, slots=True)
class TaskMeta:
    """What a caller gives to create a task. `payload` is required (None is JSON null).

    `key` de-duplicates: while a task with the same key in the same queue is not
    terminal, creating another returns that task instead of a new one.
    """

    payload: Any = field(
        default=MISSING, metadata=wire("any JSON (null is a value; the field is required)")
    )
    delayed_at: datetime | None = field(
        default=None, metadata=wire("not before this time (not in the past)")
    )
    priority: int = field(
        default=0,
        metadata=wire("higher runs first", minimum=-(2**31 - 1), maximum=2**31 - 1),
    )
    key: str | None = field(
        default=None,
        metadata=wire(
            "de-duplication key: while a live task of the queue has it, that task is "
            "returned (200) instead of a new one (201)",
            minLength=1,
            maxLength=1024,
        ),
    )


@dataclass(frozen=True, slots=True)
class Task:
    """A task as stored (status as read: overdue tasks read as `expired`)."""

    id: int = field(metadata=wire(format="int64", minimum=1))
    namespace: str = field(metadata=NAME)
    queue: str = field(metadata=NAME)
    payload: Any = field(metadata=wire("as given at creation"))
    result: Any = field(metadata=wire("of the last attempt (success or failure)"))
    worker: str | None = field(metadata=wire("the last worker that retained it"))
    status: Status = field(metadata=wire("as read: an overdue task is expired"))
    created_at: datetime = field(metadata=wire())
    delayed_at: datetime | None = field(metadata=wire("not run before"))
    started_at: datetime | None = field(metadata=wire("the last attempt started"))
    finished_at: datetime | None = field(metadata=wire("ended (terminal statuses)"))
    dies_at: datetime = field(metadata=wire("expires unless released before"))
    retries: int = field(metadata=wire("retries left"))
    attempt: int = field(metadata=wire("times retained"))
    priority: int = field(default=0, metadata=wire("higher runs first"))
    key: str | None = field(default=None, metadata=wire("de-duplication key"))
    leased_until: datetime | None = field(
        default=None, metadata=wire("a retained task's lease ends (heartbeats extend it)")
    )
    cancel_requested: bool = field(
        default=False, metadata=wire("a cancel was asked while it was retained")
    )

    from_record: ClassVar[Callable[[Any], Task]]


@dataclass(frozen=True, slots=True)
class TickerMeta:
    """Settings of a ticker; `None` means "not given" (a new ticker without an interval
    fires every minute; in an update, `ticker=""` is no rename, as None)."""

    ticker: str | None = field(default=None, metadata=wire("ticker name", kind="name"))
    interval: timedelta | None = field(
        default=None, metadata=wire("at least 1s (a new ticker: default 1 minute)")
    )
    payload: Any = field(default=MISSING, metadata=wire("sent with each firing (default {})"))


@dataclass(frozen=True, slots=True)
class Ticker:
    """A ticker as stored; `timestamp` is when it last fired (None: never)."""

    namespace: str = field(metadata=NAME)
    ticker: str = field(metadata=NAME)
    interval: timedelta = field(metadata=wire("fires every interval"))
    payload: Any = field(metadata=wire("sent with each firing"))
    timestamp: datetime | None = field(
        metadata=wire("when it last fired (its scheduled time)", column="fired_at")
    )

    from_record: ClassVar[Callable[[Any], Ticker]]

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

    namespace: str = field(metadata=NAME)
    queue: str = field(metadata=NAME)
    paused: bool = field(metadata=wire())
    counts: dict[Status, int] = field(metadata=wire("tasks per status (as read)"))
    oldest: datetime | None = field(metadata=wire("since when the oldest ready task waits"))
    breaker: str = field(
        default="closed",
        metadata=wire("closed, open or half-open", enum=["closed", "open", "half-open"]),
    )
    breaker_open_until: datetime | None = field(
        default=None, metadata=wire("when the open breaker turns half-open")
    )
    rate: float | None = field(
        default=None, metadata=wire("most tasks started per second; null: no limit")
    )

    @property
    def waiting(self) -> int:
        return self.counts.get(Status.NEW, 0) + self.counts.get(Status.RETRY, 0)


Queue.from_record = staticmethod(_reader(Queue))
Task.from_record = staticmethod(_reader(Task))
Ticker.from_record = staticmethod(_reader(Ticker))


# ---- what the event stream (GET /events) says --------------------------------------------


@dataclass(frozen=True, slots=True)
class TaskChange:
    """A task went through a change: created, retained, released, retry, failed, expired,
    cancelled or requeued."""

    namespace: str = field(metadata=NAME)
    queue: str = field(metadata=NAME)
    id: int = field(metadata=wire(format="int64", minimum=1))
    change: str = field(metadata=wire("what happened"))
    status: Status = field(metadata=wire("the status it is in now"))
    attempt: int = field(metadata=wire("times retained"))
    waited: timedelta | None = field(
        default=None, metadata=wire("retained: how long it waited from ready to claimed")
    )


@dataclass(frozen=True, slots=True)
class QueueChange:
    """A queue was created, updated, paused, resumed or deleted."""

    namespace: str = field(metadata=NAME)
    queue: str = field(metadata=NAME)
    change: str = field(metadata=wire("what happened"))


@dataclass(frozen=True, slots=True)
class TickerChange:
    """A ticker was created, updated, deleted, or fired (`timestamp`: the firing's time)."""

    namespace: str = field(metadata=NAME)
    ticker: str = field(metadata=NAME)
    change: str = field(metadata=wire("what happened"))
    timestamp: datetime | None = field(metadata=wire("the firing's scheduled time"))
