"""A stand-in for the HTTP client with fixed data and fixed times, for stable snapshots.

The server stamps real times and ids from a shared sequence; what the screens make of them
is tested against a real server elsewhere. Here only the pixels must not move.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from pgqueue_core.errors import NotFound
from pgqueue_core.models import Queue, QueueSummary, Status, Task, TaskChange, Ticker
from pgqueue_tui.client import Page
from pgqueue_tui.events import Stats
from pgqueue_tui.live import BUCKET_SECONDS, BUCKETS, LiveState

NOW = datetime(2026, 11, 28, 12, 4, 31, tzinfo=UTC)
NS = "default"


def _queue(name: str, paused: bool = False, concurrency: int | None = None, **flow: Any) -> Queue:
    return Queue(
        namespace=NS,
        queue=name,
        ttl=timedelta(hours=24),
        retries=3,
        retry_delay=timedelta(minutes=2),
        lease=timedelta(minutes=5),
        concurrency=concurrency,
        paused=paused,
        created_at=NOW - timedelta(days=12, hours=3),
        **flow,
    )


QUEUES = [
    # Rate-limited, its breaker closed after two failures in a row.
    _queue(
        "emails",
        concurrency=32,
        rate=200.0,
        burst=50,
        weight=2,
        breaker_threshold=5,
        breaker_cooldown=timedelta(minutes=1),
        breaker_failures=2,
    ),
    _queue("reports"),
    # Paused by an operator after its breaker opened.
    _queue(
        "webhooks",
        paused=True,
        breaker_threshold=3,
        breaker="open",
        breaker_open_until=NOW + timedelta(seconds=25),
        breaker_failures=3,
    ),
]

COUNTS = {
    "emails": (1204, 12, 32, 88410, 3, 0, 0),
    "reports": (0, 0, 1, 240, 0, 0, 2),
    "webhooks": (87, 0, 0, 1002, 41, 7, 0),
}
OLDEST = {"emails": timedelta(minutes=4, seconds=10), "webhooks": timedelta(minutes=18, seconds=2)}
ORDER = list(Status)

SUMMARIES = [
    QueueSummary(
        namespace=NS,
        queue=q.queue,
        paused=q.paused,
        counts=dict(zip(ORDER, COUNTS[q.queue], strict=True)),
        oldest=NOW - OLDEST[q.queue] if q.queue in OLDEST else None,
        breaker=q.breaker,
        breaker_open_until=q.breaker_open_until,
        rate=q.rate,
    )
    for q in QUEUES
]

TICKERS = [
    Ticker(NS, "heartbeat", timedelta(seconds=30), {}, NOW - timedelta(seconds=18)),
    Ticker(
        NS,
        "hourly-report",
        timedelta(hours=1),
        {"kind": "hourly"},
        NOW - timedelta(minutes=4, seconds=31),
    ),
    Ticker(NS, "nightly-cleanup", timedelta(days=1), {"scope": "all"}, None),
]


def _task(n: int) -> Task:
    status = [Status.FAILED, Status.RETAINED, Status.NEW, Status.RELEASED, Status.RETRY][n % 5]
    created = NOW - timedelta(minutes=3, seconds=7 * n)
    started = created + timedelta(seconds=20) if status is not Status.NEW else None
    finished = (
        started + timedelta(seconds=2)
        if status in (Status.FAILED, Status.RELEASED) and started
        else None
    )
    attempt = {Status.NEW: 0, Status.RETAINED: 1, Status.RETRY: 2, Status.FAILED: 4}.get(status, 1)
    retries = {Status.NEW: 3, Status.RETAINED: 3, Status.RETRY: 1, Status.FAILED: 0}.get(status, 2)
    result: Any = None
    if status in (Status.FAILED, Status.RETRY):
        result = {"error": "SMTPError", "message": "421 try again later"}
    elif status is Status.RELEASED:
        result = {"sent": True, "ms": 412}
    return Task(
        id=918200 + n,
        namespace=NS,
        queue="emails",
        payload={
            "to": f"user{n}@example.com",
            "template": "welcome",
            "vars": {"name": f"User {n}"},
        },
        result=result,
        worker=f"host-{n % 3 + 1}@{n % 7}" if started else None,
        status=status,
        created_at=created,
        delayed_at=created + timedelta(minutes=4) if status is Status.RETRY else None,
        started_at=started,
        finished_at=finished,
        dies_at=created + timedelta(hours=24),
        retries=retries,
        attempt=attempt,
        priority=5 if n % 4 == 0 else 0,
        key=f"welcome-{n}" if n % 6 == 0 else None,
        leased_until=started + timedelta(minutes=5)
        if status is Status.RETAINED and started
        else None,
    )


TASKS = [_task(n) for n in range(42)]


class FrozenClient:
    """The client methods the console calls, answering from the data above."""

    url = "http://queue.internal:8080/api"
    namespace: str | None = None

    def with_namespace(self, namespace: str | None) -> FrozenClient:
        return self

    async def close(self) -> None:
        pass

    async def health(self) -> dict[str, str]:
        return {"status": "ok", "namespace": NS, "version": "0.1.0"}

    async def list_namespaces(self) -> list[str]:
        return ["billing", NS, "pgqueue"]

    async def queue_summaries(self) -> list[QueueSummary]:
        return SUMMARIES

    async def list_queues(self, offset: int = 0, limit: int | None = None) -> Page[Queue]:
        return Page(len(QUEUES), QUEUES[offset : offset + (limit or 100)])

    async def get_queue(self, name: str) -> Queue:
        for queue in QUEUES:
            if queue.queue == name:
                return queue
        raise NotFound(f"queue {name!r} not found")

    async def list_tickers(self, offset: int = 0, limit: int | None = None) -> Page[Ticker]:
        return Page(len(TICKERS), TICKERS[offset : offset + (limit or 100)])

    async def list_tasks(
        self,
        queue: str | None = None,
        status: Any = None,
        offset: int = 0,
        limit: int | None = None,
    ) -> Page[Task]:
        found = [
            t
            for t in TASKS
            if (queue is None or t.queue == queue) and (status is None or t.status == status)
        ]
        return Page(len(found), found[offset : offset + min(limit or 100, 100)])

    async def get_task(self, task_id: int) -> Task:
        for task in TASKS:
            if task.id == task_id:
                return task
        raise NotFound(f"task {task_id} not found")

    def events(self, *args: Any, on_state: Any = None, **kwargs: Any) -> QuietStream:
        return QuietStream(on_state)


class QuietStream:
    """A watch stream that connects and on which nothing happens (the snapshots feed
    `app.live` themselves)."""

    def __init__(self, on_state: Any) -> None:
        self.on_state = on_state

    def __aiter__(self) -> QuietStream:
        return self

    async def __anext__(self) -> Any:
        if self.on_state is not None:
            self.on_state(True, None)
        await asyncio.Event().wait()  # never set: no event, ever
        raise StopAsyncIteration  # pragma: no cover

    async def aclose(self) -> None:
        pass


def frozen_live() -> LiveState:
    """Five minutes of the emails queue as the watch stream would have told them, on a
    clock that then stands still: a steady flow, a burst of failures, a backlog draining."""
    at = [0.0]
    live = LiveState(clock=lambda: at[0])
    failed = [t for t in TASKS if t.status is Status.FAILED]
    for bucket in range(BUCKETS):
        at[0] = 10_000.0 + bucket * BUCKET_SECONDS
        done = 20 + (bucket * 7) % 13
        for n in range(done):
            waited = timedelta(milliseconds=40 + (n * 37 + bucket * 11) % 400)
            if bucket > 20 and n == 0:
                waited = timedelta(seconds=3.2)
            live.feed(TaskChange(NS, "emails", 1, "retained", Status.RETAINED, 1, waited))
            live.feed(TaskChange(NS, "emails", 1, "released", Status.RELEASED, 1))
        if bucket in (17, 18, 19):
            for task in failed[(bucket - 17) * 3 : (bucket - 16) * 3]:
                live.feed(TaskChange(NS, "emails", task.id, "failed", Status.FAILED, 4))
        backlog = 1204 + max(0, 900 - abs(bucket - 18) * 120)
        counts = dict(zip(ORDER, COUNTS["emails"], strict=True)) | {Status.NEW: backlog}
        summary = QueueSummary(NS, "emails", False, counts, None)
        live.feed(Stats(NS, [summary]))
    at[0] += BUCKET_SECONDS / 2
    # The counts of the snapshots come from the client (nothing arrives on the stream).
    live.summaries = None
    return live
