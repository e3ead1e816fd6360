"""Throughput and backlog trend per queue, from successive snapshots of the status counts.

The server keeps no history: each refresh of the overview is a sample. Finished tasks
(released + failed) only grow until the cleanup deletes old ones, so a drop is read as
"nothing finished" rather than as negative throughput.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field


@dataclass
class _Series:
    done: int | None = None
    increments: deque[tuple[float, int]] = field(default_factory=deque)
    waiting: deque[tuple[float, int]] = field(default_factory=deque)
    first: float = 0.0


class Throughput:
    """done/s per queue: the current rate, a bucketed history for a sparkline, and whether
    the backlog (new + retry) grew over the rate window."""

    def __init__(self, buckets: int = 12, bucket_seconds: float = 10.0, window: float = 10.0):
        self.buckets = buckets
        self.bucket_seconds = bucket_seconds
        self.window = window
        self._series: dict[str, _Series] = {}

    @property
    def span(self) -> float:
        """Seconds the sparkline covers."""
        return self.buckets * self.bucket_seconds

    def record(self, queue: str, done: int, waiting: int, at: float) -> None:
        """One sample: the queue's released + failed total and its waiting count at `at`."""
        series = self._series.get(queue)
        if series is None:
            series = self._series[queue] = _Series(first=at)
        if series.done is not None and done > series.done:
            series.increments.append((at, done - series.done))
        series.done = done
        series.waiting.append((at, waiting))
        horizon = at - max(self.span, self.window)
        while series.increments and series.increments[0][0] <= horizon:
            series.increments.popleft()
        while len(series.waiting) > 1 and series.waiting[1][0] <= at - self.window:
            series.waiting.popleft()

    def forget(self, keep: set[str]) -> None:
        """Drop queues that are gone (deleted, or another namespace)."""
        for queue in set(self._series) - keep:
            del self._series[queue]

    def rate(self, queue: str, now: float) -> float:
        """Tasks finished per second over the last `window` seconds (less at the start)."""
        series = self._series.get(queue)
        if series is None:
            return 0.0
        elapsed = min(self.window, now - series.first)
        if elapsed <= 0:
            return 0.0
        done = sum(n for at, n in series.increments if at > now - self.window)
        return done / elapsed

    def history(self, queue: str, now: float) -> list[float]:
        """Tasks per second in each bucket, oldest first, the newest ending at `now`."""
        values = [0.0] * self.buckets
        series = self._series.get(queue)
        if series is None:
            return values
        for at, n in series.increments:
            back = int((now - at) // self.bucket_seconds)
            if 0 <= back < self.buckets:
                values[self.buckets - 1 - back] += n / self.bucket_seconds
        return values

    def growing(self, queue: str) -> bool:
        """Whether the backlog is larger now than at the start of the window."""
        series = self._series.get(queue)
        if series is None or len(series.waiting) < 2:
            return False
        return series.waiting[-1][1] > series.waiting[0][1]
