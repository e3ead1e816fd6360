"""The JSON wire format of the models: durations in nanoseconds, RFC 3339 UTC timestamps.

The server encodes with these functions and decodes request bodies with them; the client
decodes responses into the same dataclasses. Input decoding raises InvalidArgument with a
message naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from . import validate
from .durations import parse_duration, to_ns
from .errors import InvalidArgument
from .models import (
    MISSING,
    Queue,
    QueueMeta,
    QueueSummary,
    Status,
    Task,
    TaskMeta,
    Ticker,
    TickerMeta,
)

JSON = dict[str, Any]


# ---- timestamps and durations ----------------------------------------------------------


def format_time(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with microseconds: 2026-11-28T10:00:00.123456Z."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: object, field: str) -> datetime | None:
    """An RFC 3339 timestamp with an offset (or null)."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidArgument(f"{field} must be an RFC 3339 timestamp string")
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "zZ" else text)
    except ValueError:
        raise InvalidArgument(
            f"{field}: {value!r} is not an RFC 3339 timestamp (e.g. 2026-11-28T10:00:00Z)"
        ) from None
    if parsed.tzinfo is None:
        raise InvalidArgument(f"{field}: {value!r} needs a time zone offset (e.g. Z)")
    return validate.utc(parsed, field)


def _duration(value: timedelta) -> int:
    return to_ns(value)


# ---- encode ------------------------------------------------------------------------------


def encode_queue(queue: Queue) -> JSON:
    return {
        "namespace": queue.namespace,
        "queue": queue.queue,
        "ttl": _duration(queue.ttl),
        "retries": queue.retries,
        "retry_delay": _duration(queue.retry_delay),
        "lease": _duration(queue.lease),
        "concurrency": queue.concurrency,
        "paused": queue.paused,
        "created_at": format_time(queue.created_at),
    }


def encode_task(task: Task) -> JSON:
    return {
        "id": task.id,
        "namespace": task.namespace,
        "queue": task.queue,
        "payload": task.payload,
        "result": task.result,
        "worker": task.worker,
        "status": task.status.value,
        "created_at": format_time(task.created_at),
        "delayed_at": format_time(task.delayed_at),
        "started_at": format_time(task.started_at),
        "finished_at": format_time(task.finished_at),
        "dies_at": format_time(task.dies_at),
        "retries": task.retries,
        "attempt": task.attempt,
        "priority": task.priority,
        "key": task.key,
        "leased_until": format_time(task.leased_until),
        "cancel_requested": task.cancel_requested,
    }


def encode_ticker(ticker: Ticker) -> JSON:
    return {
        "namespace": ticker.namespace,
        "ticker": ticker.ticker,
        "interval": _duration(ticker.interval),
        "payload": ticker.payload,
        "timestamp": format_time(ticker.timestamp),
    }


def encode_summary(summary: QueueSummary) -> JSON:
    return {
        "namespace": summary.namespace,
        "queue": summary.queue,
        "paused": summary.paused,
        "counts": {status.value: summary.counts.get(status, 0) for status in Status},
        "oldest": format_time(summary.oldest),
    }


def encode(obj: Queue | Task | Ticker | QueueSummary) -> JSON:
    """The wire JSON of any model."""
    if isinstance(obj, Task):
        return encode_task(obj)
    if isinstance(obj, Queue):
        return encode_queue(obj)
    if isinstance(obj, Ticker):
        return encode_ticker(obj)
    if isinstance(obj, QueueSummary):
        return encode_summary(obj)
    raise TypeError(f"cannot encode {type(obj).__name__}")


def encode_list(total: int, items: list[Any]) -> JSON:
    """The list envelope: total matching (ignoring paging) and the page, [] when empty."""
    return {"count": total, "body": [encode(item) for item in items]}


# ---- decode responses (client side) ------------------------------------------------------


def _time(obj: Mapping[str, Any], field: str) -> datetime | None:
    return parse_time(obj.get(field), field)


def _req_time(obj: Mapping[str, Any], field: str) -> datetime:
    value = parse_time(obj.get(field), field)
    if value is None:
        raise InvalidArgument(f"{field} is missing")
    return value


def decode_queue(obj: Mapping[str, Any]) -> Queue:
    concurrency = obj.get("concurrency")
    return Queue(
        namespace=obj["namespace"],
        queue=obj["queue"],
        ttl=parse_duration(obj["ttl"], "ttl"),
        retries=obj["retries"],
        retry_delay=parse_duration(obj["retry_delay"], "retry_delay"),
        lease=parse_duration(obj.get("lease", 300 * 10**9), "lease"),
        concurrency=concurrency,
        paused=bool(obj.get("paused", False)),
        created_at=_time(obj, "created_at") or datetime.fromtimestamp(0, UTC),
    )


def decode_task(obj: Mapping[str, Any]) -> Task:
    return Task(
        id=obj["id"],
        namespace=obj["namespace"],
        queue=obj["queue"],
        payload=obj.get("payload"),
        result=obj.get("result"),
        worker=obj.get("worker"),
        status=Status(obj["status"]),
        created_at=_req_time(obj, "created_at"),
        delayed_at=_time(obj, "delayed_at"),
        started_at=_time(obj, "started_at"),
        finished_at=_time(obj, "finished_at"),
        dies_at=_req_time(obj, "dies_at"),
        retries=obj["retries"],
        attempt=obj["attempt"],
        priority=obj.get("priority", 0),
        key=obj.get("key"),
        leased_until=_time(obj, "leased_until"),
        cancel_requested=bool(obj.get("cancel_requested", False)),
    )


def decode_ticker(obj: Mapping[str, Any]) -> Ticker:
    return Ticker(
        namespace=obj["namespace"],
        ticker=obj["ticker"],
        interval=parse_duration(obj["interval"], "interval"),
        payload=obj.get("payload"),
        timestamp=_time(obj, "timestamp"),
    )


def decode_summary(obj: Mapping[str, Any]) -> QueueSummary:
    counts = obj.get("counts") or {}
    return QueueSummary(
        namespace=obj["namespace"],
        queue=obj["queue"],
        paused=bool(obj.get("paused", False)),
        counts={Status(k): int(v) for k, v in counts.items() if k in Status._value2member_map_},
        oldest=_time(obj, "oldest"),
    )


# ---- decode requests (server side) ------------------------------------------------------


def _object(body: object, what: str) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise InvalidArgument(f"{what} must be a JSON object, got {_json_type(body)}")
    return body


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "an array",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def _check_keys(obj: Mapping[str, Any], allowed: set[str], ignored: set[str], what: str) -> None:
    unknown = set(obj) - allowed - ignored
    if unknown:
        raise InvalidArgument(
            f"unknown field(s) in {what}: {', '.join(sorted(map(str, unknown)))} "
            f"(allowed: {', '.join(sorted(allowed))})"
        )


def _int(obj: Mapping[str, Any], field: str) -> int | None:
    value = obj.get(field)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise InvalidArgument(f"{field} must be an integer, got {_json_type(value)}")
    return value


def _str(obj: Mapping[str, Any], field: str) -> str | None:
    value = obj.get(field)
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidArgument(f"{field} must be a string, got {_json_type(value)}")
    return value


def _bool(obj: Mapping[str, Any], field: str) -> bool | None:
    value = obj.get(field)
    if value is None:
        return None
    if not isinstance(value, bool):
        raise InvalidArgument(f"{field} must be true or false, got {_json_type(value)}")
    return value


def _dur(obj: Mapping[str, Any], field: str) -> timedelta | None:
    value = obj.get(field)
    return None if value is None else parse_duration(value, field)


_QUEUE_FIELDS = {"queue", "ttl", "retries", "retry_delay", "lease", "concurrency", "paused"}
_QUEUE_READ_ONLY = {"namespace", "created_at"}


def decode_queue_meta(body: object) -> QueueMeta:
    """A queue body: any subset of the fields (the name is required on create)."""
    obj = _object(body, "queue")
    _check_keys(obj, _QUEUE_FIELDS, _QUEUE_READ_ONLY, "queue")
    return QueueMeta(
        queue=_str(obj, "queue"),
        ttl=_dur(obj, "ttl"),
        retries=_int(obj, "retries"),
        retry_delay=_dur(obj, "retry_delay"),
        lease=_dur(obj, "lease"),
        concurrency=_int(obj, "concurrency"),
        paused=_bool(obj, "paused"),
    )


_TASK_FIELDS = {"queue", "payload", "delayed_at", "priority", "key"}


def decode_task_create(body: object) -> tuple[str, TaskMeta]:
    """A task creation body: {"queue", "payload", "delayed_at"?, "priority"?, "key"?}."""
    obj = _object(body, "task")
    _check_keys(obj, _TASK_FIELDS, set(), "task")
    queue = _str(obj, "queue")
    if queue is None:
        raise InvalidArgument("queue is required")
    if "payload" not in obj:
        raise InvalidArgument("payload is required (use null for an empty payload)")
    priority = _int(obj, "priority")
    return queue, TaskMeta(
        payload=obj["payload"],
        delayed_at=parse_time(obj.get("delayed_at"), "delayed_at"),
        priority=0 if priority is None else priority,
        key=_str(obj, "key"),
    )


_TICKER_FIELDS = {"ticker", "interval", "payload"}
_TICKER_READ_ONLY = {"namespace", "timestamp"}


def decode_ticker_meta(body: object) -> TickerMeta:
    obj = _object(body, "ticker")
    _check_keys(obj, _TICKER_FIELDS, _TICKER_READ_ONLY, "ticker")
    return TickerMeta(
        ticker=_str(obj, "ticker"),
        interval=_dur(obj, "interval"),
        payload=obj.get("payload", MISSING),
    )
