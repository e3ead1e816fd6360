"""Queues: upsert, validation, get/list paging, rename, delete, pause, stats."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from pgqueue_core import (
    Conflict,
    InvalidArgument,
    Manager,
    NotFound,
    QueueMeta,
    Status,
    TaskMeta,
)
from tests.support.db import shift_task


async def test_register_new_queue_gets_defaults(manager: Manager) -> None:
    queue = await manager.register_queue(QueueMeta(queue="emails"))
    assert queue.namespace == "test"
    assert queue.queue == "emails"
    assert queue.ttl == timedelta(hours=1)
    assert queue.retries == 3
    assert queue.retry_delay == timedelta(minutes=2)
    assert queue.concurrency is None
    assert queue.paused is False
    assert await manager.get_queue("emails") == queue


async def test_register_existing_changes_only_given_fields(manager: Manager) -> None:
    await manager.register_queue(
        QueueMeta(queue="q", ttl=timedelta(hours=24), retries=5, retry_delay=timedelta(seconds=7))
    )
    changed = await manager.register_queue(QueueMeta(queue="q", retries=0))
    assert (changed.ttl, changed.retries, changed.retry_delay) == (
        timedelta(hours=24),
        0,
        timedelta(seconds=7),
    )
    same = await manager.register_queue(QueueMeta(queue="q"))
    assert same == changed


async def test_register_normalises_the_name(manager: Manager) -> None:
    queue = await manager.register_queue(QueueMeta(queue="  Emails "))
    assert queue.queue == "emails"
    assert (await manager.get_queue("EMAILS")).queue == "emails"


async def test_create_queue_twice_is_a_conflict(manager: Manager) -> None:
    """Defect 5: a unique violation is a Conflict, not a crash."""
    await manager.create_queue(QueueMeta(queue="q"))
    with pytest.raises(Conflict):
        await manager.create_queue(QueueMeta(queue="q", retries=1))
    assert (await manager.get_queue("q")).retries == 3


@pytest.mark.parametrize(
    "meta",
    [
        QueueMeta(queue="q", ttl=timedelta(0)),
        QueueMeta(queue="q", ttl=timedelta(seconds=-1)),
        QueueMeta(queue="q", retry_delay=timedelta(0)),
        QueueMeta(queue="q", retry_delay=timedelta(microseconds=-1)),
        QueueMeta(queue="q", retries=-1),
        QueueMeta(queue="q", retries=2**31),
        QueueMeta(queue="q", retries=True),
        QueueMeta(queue="q", retries=1.5),  # type: ignore[arg-type]
        QueueMeta(queue="q", ttl=3600),  # type: ignore[arg-type]
        QueueMeta(queue="q", ttl=timedelta(days=200_000)),
        QueueMeta(queue="q", lease=timedelta(milliseconds=500)),
        QueueMeta(queue="q", concurrency=-1),
        QueueMeta(queue="q", paused="yes"),  # type: ignore[arg-type]
        QueueMeta(queue="Bad Name"),
        QueueMeta(queue="1q"),
        QueueMeta(queue="q" * 65),
        QueueMeta(),
    ],
)
async def test_invalid_queue_settings(offline: Manager, meta: QueueMeta) -> None:
    with pytest.raises(InvalidArgument):
        await offline.register_queue(meta)
    with pytest.raises(InvalidArgument):
        await offline.create_queue(meta)


async def test_invalid_update_leaves_queue_alone(manager: Manager) -> None:
    before = await manager.register_queue(QueueMeta(queue="q"))
    for meta in (QueueMeta(ttl=timedelta(0)), QueueMeta(retries=-1), QueueMeta(queue="Bad!")):
        with pytest.raises(InvalidArgument):
            await manager.update_queue("q", meta)
    assert await manager.get_queue("q") == before


async def test_zero_retries_is_allowed(manager: Manager) -> None:
    assert (await manager.register_queue(QueueMeta(queue="q", retries=0))).retries == 0


async def test_get_unknown_queue(manager: Manager) -> None:
    with pytest.raises(NotFound):
        await manager.get_queue("nope")
    with pytest.raises(NotFound):
        await manager.update_queue("nope", QueueMeta(retries=1))
    with pytest.raises(NotFound):
        await manager.delete_queue("nope")


async def test_list_paging_is_stable_and_count_ignores_paging(manager: Manager) -> None:
    names = [f"q{i:02d}" for i in range(25)]
    for name in reversed(names):
        await manager.register_queue(QueueMeta(queue=name))
    seen: list[str] = []
    for offset in range(0, 30, 7):
        count, page = await manager.list_queues(offset=offset, limit=7)
        assert count == 25
        seen.extend(q.queue for q in page)
    assert seen == names
    assert await manager.list_queues(offset=100, limit=10) == (25, [])
    count, page = await manager.list_queues(limit=0)
    assert (count, page) == (25, [])
    count, page = await manager.list_queues(limit=1000)
    assert count == 25 and len(page) == 25  # the cap is 100


@pytest.mark.parametrize(("offset", "limit"), [(-1, 10), (0, -1), ("1", 10), (0, 1.5)])
async def test_bad_paging(offline: Manager, offset: object, limit: object) -> None:
    with pytest.raises(InvalidArgument):
        await offline.list_queues(offset=offset, limit=limit)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument):
        await offline.list_tasks(offset=offset, limit=limit)  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument):
        await offline.list_tickers(offset=offset, limit=limit)  # type: ignore[arg-type]


async def test_list_queue_limit_is_capped_at_100(manager: Manager) -> None:
    for i in range(101):
        await manager.register_queue(QueueMeta(queue=f"q{i:03d}"))
    count, page = await manager.list_queues(limit=None)
    assert count == 101 and len(page) == 100
    assert page[0].queue == "q000" and page[-1].queue == "q099"


async def test_rename_moves_tasks(manager: Manager) -> None:
    await manager.register_queue(QueueMeta(queue="old", retries=1))
    ids = await manager.create_tasks("old", [TaskMeta(payload=i) for i in range(3)])
    claimed = await manager.next_task("w", "old")
    assert claimed is not None
    renamed = await manager.update_queue("old", QueueMeta(queue="new", retries=2))
    assert (renamed.queue, renamed.retries) == ("new", 2)
    with pytest.raises(NotFound):
        await manager.get_queue("old")
    count, tasks = await manager.list_tasks(queue="new")
    assert count == 3 and [t.id for t in tasks] == ids
    assert all(t.queue == "new" for t in tasks)
    assert await manager.list_tasks(queue="old") == (0, [])
    released = await manager.release_task(claimed.id, success=True)
    assert released.queue == "new"
    nxt = await manager.next_task("w", "new")
    assert nxt is not None and nxt.id == ids[1]


async def test_rename_onto_existing_is_a_conflict(manager: Manager) -> None:
    await manager.register_queue(QueueMeta(queue="a"))
    await manager.register_queue(QueueMeta(queue="b"))
    task = await manager.create_task("a", TaskMeta(payload=1))
    with pytest.raises(Conflict):
        await manager.update_queue("a", QueueMeta(queue="b"))
    assert (await manager.get_task(task.id)).queue == "a"
    assert {q.queue for q in (await manager.list_queues())[1]} == {"a", "b"}


async def test_empty_name_in_an_update_is_no_rename(manager: Manager) -> None:
    """An empty name in an update means "no rename", as for tickers (SPEC 7.1)."""
    await manager.register_queue(QueueMeta(queue="a"))
    queue = await manager.update_queue("a", QueueMeta(queue="", retries=9))
    assert (queue.queue, queue.retries) == ("a", 9)
    with pytest.raises(NotFound):
        await manager.update_queue("nope", QueueMeta(queue="", retries=1))
    with pytest.raises(InvalidArgument, match="name"):
        await manager.update_queue("a", QueueMeta(queue=" ", retries=1))


@pytest.mark.parametrize("meta", [QueueMeta(), QueueMeta(queue=""), QueueMeta(retries=None)])
async def test_update_with_nothing_to_change(manager: Manager, meta: QueueMeta) -> None:
    """The original's "No patch values" (what `pgqueue update-queue q` with no flag sends)."""
    before = await manager.register_queue(QueueMeta(queue="a"))
    for name in ("a", "nope"):
        with pytest.raises(InvalidArgument) as caught:
            await manager.update_queue(name, meta)
        assert caught.value.key == "nothing_to_change"
    assert await manager.get_queue("a") == before


async def test_rename_to_the_same_name_is_an_update(manager: Manager) -> None:
    await manager.register_queue(QueueMeta(queue="a"))
    queue = await manager.update_queue("a", QueueMeta(queue=" A ", retries=9))
    assert (queue.queue, queue.retries) == ("a", 9)


async def test_rename_does_not_touch_another_namespace(manager: Manager) -> None:
    other = manager.with_namespace("other")
    await manager.register_queue(QueueMeta(queue="a"))
    await other.register_queue(QueueMeta(queue="a"))
    await other.register_queue(QueueMeta(queue="b"))
    await other.create_task("a", TaskMeta(payload=1))
    await manager.update_queue("a", QueueMeta(queue="b"))
    assert (await other.list_tasks(queue="a"))[0] == 1
    assert await manager.list_tasks(queue="b") == (0, [])


async def test_delete_cascades_to_tasks(manager: Manager, conn: asyncpg.Connection) -> None:
    await manager.register_queue(QueueMeta(queue="a"))
    await manager.register_queue(QueueMeta(queue="b"))
    ids = await manager.create_tasks("a", [TaskMeta(payload=i) for i in range(5)])
    await manager.create_task("b", TaskMeta(payload="keep"))
    assert await manager.count_queue_tasks("a") == 5
    deleted = await manager.delete_queue("a")
    assert deleted.queue == "a"
    for task_id in ids:
        with pytest.raises(NotFound):
            await manager.get_task(task_id)
    assert await conn.fetchval("SELECT count(*) FROM pgqueue.task WHERE queue = 'a'") == 0
    assert (await manager.list_tasks())[0] == 1
    with pytest.raises(NotFound):
        await manager.create_task("a", TaskMeta(payload=1))


async def test_pause_and_resume(manager: Manager, queue: str) -> None:
    task = await manager.create_task(queue, TaskMeta(payload=1))
    assert (await manager.pause_queue(queue)).paused is True
    assert await manager.next_task("w", queue) is None
    assert await manager.next_task("w") is None
    assert await manager.next_tasks("w", limit=10) == []
    # A paused queue still accepts tasks.
    await manager.create_task(queue, TaskMeta(payload=2))
    assert (await manager.resume_queue(queue)).paused is False
    got = await manager.next_task("w", queue)
    assert got is not None and got.id == task.id


async def test_queue_stats_include_zeros(manager: Manager, conn: asyncpg.Connection) -> None:
    await manager.register_queue(QueueMeta(queue="a", retries=0))
    await manager.register_queue(QueueMeta(queue="b"))
    await manager.create_tasks("a", [TaskMeta(payload=i) for i in range(4)])
    t1 = await manager.next_task("w", "a")
    t2 = await manager.next_task("w", "a")
    t3 = await manager.next_task("w", "a")
    assert t1 and t2 and t3
    await manager.release_task(t1.id, success=True)
    await manager.release_task(t2.id, success=False)
    last = (await manager.list_tasks(queue="a", status="new"))[1][0]
    await shift_task(conn, last.id, dies_at="now() - interval '1 second'")
    stats = await manager.queue_stats()
    assert [(s.queue, s.status) for s in stats] == [
        (q, status) for q in ("a", "b") for status in Status
    ]
    counts = {(s.queue, s.status): s.count for s in stats}
    assert counts[("a", Status.NEW)] == 0
    assert counts[("a", Status.RETAINED)] == 1
    assert counts[("a", Status.RELEASED)] == 1
    assert counts[("a", Status.FAILED)] == 1
    assert counts[("a", Status.EXPIRED)] == 1
    assert all(counts[("b", s)] == 0 for s in Status)
    summaries = {s.queue: s for s in await manager.queue_summaries()}
    assert summaries["a"].counts[Status.RETAINED] == 1 and summaries["a"].waiting == 0
    assert summaries["b"].oldest is None


async def test_concurrency_setting_can_be_removed(manager: Manager) -> None:
    assert (await manager.register_queue(QueueMeta(queue="q", concurrency=3))).concurrency == 3
    assert (await manager.update_queue("q", QueueMeta(concurrency=0))).concurrency is None


async def test_concurrent_registration_and_creation(manager: Manager) -> None:
    results = await asyncio.gather(
        *(manager.register_queue(QueueMeta(queue="q", retries=i)) for i in range(8))
    )
    assert {q.queue for q in results} == {"q"}
    assert (await manager.list_queues())[0] == 1
    created = await asyncio.gather(
        *(manager.create_queue(QueueMeta(queue="fresh")) for _ in range(8)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in created) == 1
    assert all(isinstance(r, Conflict) for r in created if isinstance(r, BaseException))


async def test_oldest_is_the_oldest_ready_task(manager: Manager, conn: asyncpg.Connection) -> None:
    await manager.register_queue(QueueMeta(queue="q"))
    later = datetime.now(UTC) + timedelta(minutes=5)
    await manager.create_task("q", TaskMeta(payload="later", delayed_at=later))
    (summary,) = await manager.queue_summaries()
    assert summary.oldest is None  # waiting, but not ready yet
    ready = await manager.create_task("q", TaskMeta(payload="now"))
    (summary,) = await manager.queue_summaries()
    assert summary.oldest == ready.created_at
    await conn.execute(
        "UPDATE pgqueue.task SET created_at = created_at - interval '1 hour' WHERE id = $1",
        ready.id,
    )
    (summary,) = await manager.queue_summaries()
    assert summary.oldest == ready.created_at - timedelta(hours=1)
