"""The figures a Worker and its components keep: plain counters and handler-time histograms
(the core exports nothing itself; `pgqueue worker` renders these for Prometheus)."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field

# Upper bounds (seconds) of the handler-time histogram buckets: from a fast in-memory handler
# to a slow report; anything longer lands in the implicit +Inf bucket.
DURATION_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
)  # fmt: skip

# How a handler run ended, as the histogram labels it.
OUTCOMES = ("success", "failure", "cancelled", "lost")


@dataclass
class Durations:
    """A histogram of handler run times: a count per bucket of DURATION_BUCKETS (not
    cumulative; the last one is +Inf), their sum and count."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(DURATION_BUCKETS) + 1))
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(DURATION_BUCKETS, seconds)] += 1
        self.total += seconds

    @property
    def count(self) -> int:
        return sum(self.counts)

    def cumulative(self) -> list[tuple[float, int]]:
        """(upper bound, runs that took at most that long), ending with (inf, count)."""
        bounds = [*DURATION_BUCKETS, float("inf")]
        running, out = 0, []
        for bound, n in zip(bounds, self.counts, strict=True):
            running += n
            out.append((bound, running))
        return out


@dataclass
class QueueCounts:
    """What happened to the tasks of one queue in this worker."""

    claimed: int = 0
    succeeded: int = 0
    failed: int = 0  # results written as failures (some of them retried)
    retried: int = 0  # failures with a retry left: the task runs again after its backoff
    cancelled: int = 0
    lost: int = 0


@dataclass
class WorkerStats:
    """Counters of one Worker since it started (read them from any task); the totals, and
    per queue in `queues`, with the handler times by (queue, outcome) in `handler_seconds`."""

    claimed: int = 0
    succeeded: int = 0
    failed: int = 0  # every result written as a failure, whether the task is retried or not
    retried: int = 0
    cancelled: int = 0
    lost: int = 0
    given_back: int = 0
    flushes: int = 0
    races_lost: int = 0  # claims after a notification that found nothing (another worker won)
    extra: dict[str, int] = field(default_factory=dict)
    queues: dict[str, QueueCounts] = field(default_factory=dict)
    handler_seconds: dict[tuple[str, str], Durations] = field(default_factory=dict)

    def queue(self, name: str) -> QueueCounts:
        """The counts of queue `name` (created at zero)."""
        counts = self.queues.get(name)
        if counts is None:
            counts = self.queues[name] = QueueCounts()
        return counts

    def observe_handler(self, queue: str, outcome: str, seconds: float) -> None:
        """A handler of `queue` ran `seconds` and ended with `outcome` (one of OUTCOMES)."""
        durations = self.handler_seconds.get((queue, outcome))
        if durations is None:
            durations = self.handler_seconds[(queue, outcome)] = Durations()
        durations.observe(seconds)
