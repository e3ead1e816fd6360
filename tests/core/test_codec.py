"""The JSON wire format (the core codec): nanosecond durations, RFC 3339 UTC times, envelopes,
input decoding."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from pgqueue_core import (
    MISSING,
    InvalidArgument,
    Manager,
    Queue,
    QueueMeta,
    QueueSummary,
    Status,
    Task,
    TaskMeta,
    Ticker,
    TickerMeta,
    codec,
)
from pgqueue_core.codec import encode, encode_list, format_time, parse_time
from pgqueue_core.requests import new_task as decode_task_create


def decode_queue(doc: Any) -> Queue:
    return codec.decode(Queue, doc)  # type: ignore[no-any-return]


def decode_task(doc: Any) -> Task:
    return codec.decode(Task, doc)  # type: ignore[no-any-return]


def decode_ticker(doc: Any) -> Ticker:
    return codec.decode(Ticker, doc)  # type: ignore[no-any-return]


def decode_summary(doc: Any) -> QueueSummary:
    return codec.decode(QueueSummary, doc)  # type: ignore[no-any-return]


def decode_queue_meta(body: object) -> QueueMeta:
    meta, _ = codec.decode_input(
        QueueMeta, body, what="queue", ignored=codec.read_only(Queue, QueueMeta)
    )
    return meta  # type: ignore[no-any-return]


def decode_ticker_meta(body: object) -> TickerMeta:
    meta, _ = codec.decode_input(
        TickerMeta, body, what="ticker", ignored=codec.read_only(Ticker, TickerMeta)
    )
    return meta  # type: ignore[no-any-return]


def test_format_time_is_rfc3339_utc() -> None:
    moment = datetime(2026, 11, 28, 11, 0, 0, 123456, tzinfo=timezone(timedelta(hours=1)))
    assert format_time(moment) == "2026-11-28T10:00:00.123456Z"
    assert format_time(None) is None
    assert format_time(datetime(2026, 11, 28, tzinfo=UTC)) == "2026-11-28T00:00:00.000000Z"


@pytest.mark.parametrize("year", [1, 999, 1000, 9999])
def test_format_time_pads_the_year_and_round_trips(year: int) -> None:
    """Years before 1000 (the bounds allow year 1) keep four digits, as RFC 3339 needs."""
    moment = datetime(year, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    text = format_time(moment)
    assert text == f"{year:04d}-01-02T03:04:05.000006Z"
    assert parse_time(text, "t") == moment


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-28T10:00:00Z",
        "2026-11-28T10:00:00z",
        "2026-11-28T11:00:00+01:00",
        "2026-11-28T10:00:00.000000Z",
        " 2026-11-28T10:00:00Z ",
    ],
)
def test_parse_time(text: str) -> None:
    assert parse_time(text, "t") == datetime(2026, 11, 28, 10, tzinfo=UTC)


@pytest.mark.parametrize("bad", ["", "yesterday", "2026-11-28T10:00:00", "2026-13-01T00:00Z", 5])
def test_parse_time_rejects(bad: object) -> None:
    with pytest.raises(InvalidArgument, match="delayed_at"):
        parse_time(bad, "delayed_at")


async def test_models_round_trip_through_json(manager: Manager) -> None:
    queue = await manager.register_queue(
        QueueMeta(queue="q", ttl=timedelta(hours=1), retry_delay=timedelta(seconds=90))
    )
    task = await manager.create_task(
        "q",
        TaskMeta(
            payload={"a": [1, None]},
            priority=2,
            key="k",
            delayed_at=datetime.now(UTC) + timedelta(minutes=1),
        ),
    )
    ticker = await manager.register_ticker(TickerMeta(ticker="t", interval=timedelta(seconds=5)))
    fired = await manager.next_ticker()
    assert fired is not None
    summary = (await manager.queue_summaries())[0]

    wire_queue = json.loads(json.dumps(encode(queue)))
    assert wire_queue["ttl"] == 3_600_000_000_000
    assert wire_queue["retry_delay"] == 90_000_000_000
    assert decode_queue(wire_queue) == queue

    wire_task = json.loads(json.dumps(encode(task)))
    assert wire_task["status"] == "new"
    assert wire_task["created_at"].endswith("Z")
    assert wire_task["started_at"] is None
    assert set(wire_task) >= {
        "id",
        "namespace",
        "queue",
        "payload",
        "result",
        "worker",
        "status",
        "created_at",
        "delayed_at",
        "started_at",
        "finished_at",
        "dies_at",
        "retries",
        "attempt",
    }
    assert decode_task(wire_task) == task

    assert json.loads(json.dumps(encode(ticker)))["timestamp"] is None
    wire_ticker = json.loads(json.dumps(encode(fired)))
    assert wire_ticker["interval"] == 5_000_000_000
    assert decode_ticker(wire_ticker) == fired

    wire_summary = json.loads(json.dumps(encode(summary)))
    assert set(wire_summary["counts"]) == {s.value for s in Status}
    assert decode_summary(wire_summary) == QueueSummary(
        summary.namespace,
        summary.queue,
        summary.paused,
        {s: summary.counts.get(s, 0) for s in Status},
        summary.oldest,
    )


def test_list_envelope() -> None:
    """Defect 3: an empty list still has a body."""
    assert encode_list(0, []) == {"count": 0, "body": []}
    with pytest.raises(TypeError):
        encode(object())


def test_decode_queue_meta() -> None:
    meta = decode_queue_meta(
        {
            "queue": "q",
            "ttl": "1h",
            "retries": 2,
            "retry_delay": 30_000_000_000,
            "namespace": "ignored",
            "created_at": "ignored",
        }
    )
    assert meta == QueueMeta(
        queue="q", ttl=timedelta(hours=1), retries=2, retry_delay=timedelta(seconds=30)
    )
    assert decode_queue_meta({}) == QueueMeta()
    assert decode_queue_meta({"retries": 2.0}).retries == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ([], "object"),
        ({"ttl": "soon"}, "ttl"),
        ({"ttl": True}, "ttl"),
        ({"retries": "3"}, "retries"),
        ({"retries": 1.5}, "retries"),
        ({"queue": 5}, "queue"),
        ({"paused": "no"}, "paused"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_decode_queue_meta_rejects(body: object, field: str) -> None:
    with pytest.raises(InvalidArgument, match=field):
        decode_queue_meta(body)


def test_decode_task_create() -> None:
    queue, meta = decode_task_create({"queue": "q", "payload": None})
    assert queue == "q" and meta.payload is None and meta.delayed_at is None
    _, meta = decode_task_create(
        {
            "queue": "q",
            "payload": [1],
            "delayed_at": "2030-01-01T00:00:00Z",
            "priority": 3,
            "key": "k",
        }
    )
    assert meta == TaskMeta(
        payload=[1], delayed_at=datetime(2030, 1, 1, tzinfo=UTC), priority=3, key="k"
    )


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"queue": "q"}, "payload"),
        ({"payload": 1}, "queue"),
        ({"queue": "q", "payload": 1, "delayed_at": "tomorrow"}, "delayed_at"),
        ({"queue": "q", "payload": 1, "priority": "high"}, "priority"),
        ({"queue": "q", "payload": 1, "id": 5}, "id"),
        ("text", "task"),
    ],
)
def test_decode_task_create_rejects(body: object, field: str) -> None:
    with pytest.raises(InvalidArgument, match=field):
        decode_task_create(body)


def test_decode_ticker_meta() -> None:
    meta = decode_ticker_meta({"ticker": "t", "interval": "PT1M"})
    assert meta == TickerMeta(ticker="t", interval=timedelta(minutes=1), payload=MISSING)
    assert decode_ticker_meta({"payload": None}).payload is None
    with pytest.raises(InvalidArgument, match="interval"):
        decode_ticker_meta({"interval": "often"})
