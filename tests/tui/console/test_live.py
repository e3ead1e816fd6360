"""LiveState (what the watch stream told the console) and the percentile it reports."""

from __future__ import annotations

from datetime import timedelta

from pgqueue_core.models import QueueChange, QueueSummary, Status, TaskChange
from pgqueue_tui.events import Reset, Stats
from pgqueue_tui.live import BUCKET_SECONDS, BUCKETS, LiveState, percentile


def _task(change: str, task_id: int = 1, waited: float | None = None) -> TaskChange:
    wait = None if waited is None else timedelta(seconds=waited)
    return TaskChange("ns", "q", task_id, change, Status.NEW, 1, wait)


def test_percentile_is_nearest_rank() -> None:
    assert percentile([], 50) is None
    values = [float(n) for n in range(1, 101)]
    assert (percentile(values, 50), percentile(values, 99), percentile(values, 100)) == (
        50.0,
        99.0,
        100.0,
    )
    assert percentile([3.0], 99) == 3.0


def test_history_buckets_trim_and_reset() -> None:
    at = [1000.0]
    live = LiveState(clock=lambda: at[0])
    live.feed(_task("released"))
    live.feed(_task("failed", 7))
    live.feed(_task("retained", waited=0.25))
    at[0] += BUCKET_SECONDS
    live.feed(_task("released"))
    live.feed(_task("released"))
    summary = QueueSummary("ns", "q", False, {Status.NEW: 5, Status.RETRY: 2}, None)
    live.feed(Stats("ns", [summary]))
    completed, failed, backlog = live.series("q")
    assert len(completed) == BUCKETS
    assert (completed[-2:], failed[-2:], backlog[-2:]) == ([1, 2], [1, 0], [None, 7])
    assert list(live.history("q").failures) == [7] and live.waited("q") == [0.25]
    assert live.summaries == [summary]

    at[0] += BUCKETS * BUCKET_SECONDS  # everything above is older than the span now
    live.feed(Stats("ns", [summary]))
    completed, failed, _ = live.series("q")
    assert sum(completed) == sum(failed) == 0 and live.waited("q") == []

    live.feed(Reset("events were missed"))
    assert live.summaries is None and live.resets == 1
    live.feed(QueueChange("ns", "q", "deleted"))
    assert "q" not in live.queues
