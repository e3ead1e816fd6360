"""The Worker runtime: claiming, running handlers, completing, lease keeping (one module each)."""

from .claimer import Claimer
from .completer import Completer
from .leases import LeaseKeeper
from .registry import Handlers
from .runtime import Handler, Worker
from .stats import DURATION_BUCKETS, OUTCOMES, Durations, QueueCounts, WorkerStats

__all__ = [
    "DURATION_BUCKETS",
    "OUTCOMES",
    "Claimer",
    "Completer",
    "Durations",
    "Handler",
    "Handlers",
    "LeaseKeeper",
    "QueueCounts",
    "Worker",
    "WorkerStats",
]
