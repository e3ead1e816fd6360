"""The counters a Worker and its components keep."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class WorkerStats:
    """Counters of one Worker since it started (read them from any task)."""

    claimed: int = 0
    succeeded: int = 0
    failed: int = 0
    cancelled: int = 0
    lost: int = 0
    given_back: int = 0
    flushes: int = 0
    races_lost: int = 0  # claims after a notification that found nothing (another worker won)
    extra: dict[str, int] = field(default_factory=dict)
