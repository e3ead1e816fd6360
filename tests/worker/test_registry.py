"""The `Handlers` registry, and the figures a Worker keeps per queue (WorkerStats)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pgqueue_core import Handlers, Manager, QueueMeta, Task, TaskMeta, Worker
from pgqueue_core.worker import DURATION_BUCKETS, Durations
from tests.support.waiting import wait_for as eventually
from tests.support.worker import running_worker as running


def test_the_decorator_registers_and_returns_the_function() -> None:
    tasks = Handlers()

    @tasks.handler("emails")
    async def send(task: Task) -> str:
        return "sent"

    @tasks.handler("reports")
    def build(task: Task) -> str:
        return "built"

    assert dict(tasks) == {"emails": send, "reports": build}
    assert len(tasks) == 2 and "emails" in tasks
    assert "test_registry" in repr(tasks) and "send" in repr(tasks)


def test_a_second_handler_for_a_queue_is_an_error() -> None:
    tasks = Handlers({"emails": print})
    with pytest.raises(ValueError, match=r"emails.*has a handler already"):
        tasks.handler("emails")(print)
    with pytest.raises(ValueError, match="non-empty string"):
        tasks.add("", print)
    with pytest.raises(TypeError, match="not callable"):
        tasks.add("x", "print")  # type: ignore[arg-type]


def test_durations_are_a_cumulative_histogram() -> None:
    d = Durations()
    for seconds in (0.001, 0.005, 0.3, 1000):
        d.observe(seconds)
    cumulative = dict(d.cumulative())
    assert cumulative[0.005] == 2  # buckets hold values up to and including their bound
    assert cumulative[0.25] == 2 and cumulative[0.5] == 3
    assert cumulative[DURATION_BUCKETS[-1]] == 3 and cumulative[float("inf")] == 4
    assert d.count == 4 and d.total == pytest.approx(1000.306)


async def test_a_worker_runs_a_registry_sync_and_async_and_counts_per_queue(
    manager: Manager,
) -> None:
    for queue in ("emails", "reports"):
        await manager.register_queue(
            QueueMeta(queue=queue, retries=1, retry_delay=timedelta(hours=1))
        )
    tasks = Handlers()

    @tasks.handler("emails")
    async def send(task: Task) -> dict[str, object]:
        if task.payload == "bad":
            raise ConnectionError("421")
        return {"to": task.payload}

    @tasks.handler("reports")
    def build(task: Task) -> int:  # sync: the Worker runs it in a thread
        return int(task.payload) * 2

    await manager.create_tasks("emails", [TaskMeta(payload=p) for p in ("a", "b", "bad")])
    await manager.create_tasks("reports", [TaskMeta(payload=i) for i in range(4)])
    worker = Worker(manager, "reg", tasks, concurrency=4, handle_signals=False)

    async def all_written() -> bool:
        return worker.stats.succeeded + worker.stats.failed == 7

    async with running(worker):
        await eventually(all_written, 20, "every result written")
    stats = worker.stats
    emails, reports = stats.queues["emails"], stats.queues["reports"]
    assert (emails.claimed, emails.succeeded, emails.failed, emails.retried) == (3, 2, 1, 1)
    assert (reports.claimed, reports.succeeded, reports.failed) == (4, 4, 0)
    assert (stats.claimed, stats.succeeded, stats.failed, stats.retried) == (7, 6, 1, 1)
    assert stats.handler_seconds[("emails", "success")].count == 2
    assert stats.handler_seconds[("emails", "failure")].count == 1
    assert stats.handler_seconds[("reports", "success")].count == 4
    assert ("reports", "failure") not in stats.handler_seconds
    _, done = await manager.list_tasks(queue="reports", status="released")
    assert sorted(t.result for t in done) == [0, 2, 4, 6]
