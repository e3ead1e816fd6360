"""What the console learns from the watch stream (GET /events): live counts, per-queue
throughput, backlog and wait-time history, recent failures and ticker firings.

Plain data, no Textual: the app feeds it every event; screens read it when they draw. Time
comes from `clock` (monotonic seconds) so that tests can drive it.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from pgqueue_core.models import QueueChange, QueueSummary, TaskChange, TickerChange

from .events import Reset, Stats, WatchEvent

BUCKET_SECONDS = 10.0
BUCKETS = 30  # five minutes of history
WAIT_SAMPLES = 2000  # retained tasks' waits kept per queue (for p50/p99)
FAILURES_KEPT = 20


@dataclass
class QueueHistory:
    """One queue over the last BUCKETS × BUCKET_SECONDS: tasks completed and failed per
    bucket, the backlog (new + retry) at the end of each bucket, and recent waits."""

    completed: dict[int, int] = field(default_factory=dict)  # bucket number → count
    failed: dict[int, int] = field(default_factory=dict)
    backlog: dict[int, int] = field(default_factory=dict)
    waits: deque[tuple[float, float]] = field(default_factory=lambda: deque(maxlen=WAIT_SAMPLES))
    failures: deque[int] = field(default_factory=lambda: deque(maxlen=FAILURES_KEPT))
    failures_seen: int = 0  # grows with every failure: screens re-read when it moves


@dataclass(frozen=True, slots=True)
class Firing:
    ticker: str
    timestamp: datetime | None


class LiveState:
    """Everything the event stream told the console about one namespace."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.summaries: list[QueueSummary] | None = None  # None: no stats yet
        self.queues: dict[str, QueueHistory] = {}
        self.firings: deque[Firing] = deque(maxlen=500)
        self.events = 0
        self.resets = 0

    def bucket(self, at: float | None = None) -> int:
        return int((self.clock() if at is None else at) // BUCKET_SECONDS)

    def history(self, queue: str) -> QueueHistory:
        found = self.queues.get(queue)
        if found is None:
            found = self.queues[queue] = QueueHistory()
        return found

    def feed(self, event: WatchEvent) -> None:
        self.events += 1
        now = self.clock()
        match event:
            case TaskChange():
                history = self.history(event.queue)
                bucket = self.bucket(now)
                if event.change == "released":
                    history.completed[bucket] = history.completed.get(bucket, 0) + 1
                elif event.change == "failed":
                    history.failed[bucket] = history.failed.get(bucket, 0) + 1
                    history.failures.appendleft(event.id)
                    history.failures_seen += 1
                elif event.change == "retained" and event.waited is not None:
                    history.waits.append((now, event.waited.total_seconds()))
            case Stats():
                self.summaries = event.queues
                bucket = self.bucket(now)
                for summary in event.queues:
                    self.history(summary.queue).backlog[bucket] = summary.waiting
                self._trim(bucket)
            case TickerChange():
                if event.change == "fired":
                    self.firings.append(Firing(event.ticker, event.timestamp))
            case QueueChange():
                if event.change == "deleted":
                    self.queues.pop(event.queue, None)
            case Reset():
                # Missed events: the counts come back with the next stats; the history
                # keeps what it saw (a gap, not a lie).
                self.resets += 1
                self.summaries = None

    def _trim(self, bucket: int) -> None:
        oldest = bucket - BUCKETS
        for history in self.queues.values():
            for series in (history.completed, history.failed, history.backlog):
                for old in [b for b in series if b <= oldest]:
                    del series[old]

    def series(self, queue: str) -> tuple[list[int], list[int], list[int | None]]:
        """(completed, failed, backlog) per bucket, oldest first, the current one last
        (backlog None where no stats arrived in that bucket)."""
        history = self.queues.get(queue) or QueueHistory()
        now = self.bucket()
        buckets = range(now - BUCKETS + 1, now + 1)
        return (
            [history.completed.get(b, 0) for b in buckets],
            [history.failed.get(b, 0) for b in buckets],
            [history.backlog.get(b) for b in buckets],
        )

    def waited(self, queue: str, window: float = BUCKETS * BUCKET_SECONDS) -> list[float]:
        """Seconds waited (ready to retained) by the tasks retained in the last `window`."""
        history = self.queues.get(queue)
        if history is None:
            return []
        since = self.clock() - window
        return [seconds for at, seconds in history.waits if at >= since]


def percentile(values: list[float], p: float) -> float | None:
    """The p-th percentile (nearest rank) of `values`; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * p // 100))  # ceil
    return ordered[int(rank) - 1]
