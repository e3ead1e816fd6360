"""Tasks: create (one and many), de-duplication keys, get, list with filters and paging."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from pgqueue_core import (
    MISSING,
    InvalidArgument,
    Manager,
    NotFound,
    QueueMeta,
    Status,
    TaskMeta,
)
from tests.support.db import db_now, shift_task


async def test_create_task_fields(manager: Manager, conn: asyncpg.Connection) -> None:
    await manager.register_queue(QueueMeta(queue="q", ttl=timedelta(minutes=5), retries=4))
    before = await db_now(conn)
    task = await manager.create_task("q", TaskMeta(payload={"to": "a@b.c", "n": [1, 2.5]}))
    after = await db_now(conn)
    assert task.namespace == "test" and task.queue == "q"
    assert task.payload == {"to": "a@b.c", "n": [1, 2.5]}
    assert task.status is Status.NEW
    assert (task.result, task.worker, task.started_at, task.finished_at) == (None,) * 4
    assert task.delayed_at is None
    assert (task.retries, task.attempt) == (4, 0)
    assert before <= task.created_at <= after
    assert task.dies_at == task.created_at + timedelta(minutes=5)
    assert await manager.get_task(task.id) == task


async def test_any_json_payload(manager: Manager, queue: str) -> None:
    payloads = [None, 0, -1.5, 2**70, "", [], {}, "text", "ünï\u2603", [None], {"a": {"b": [True]}}]
    for payload in payloads:
        task = await manager.create_task(queue, TaskMeta(payload=payload))
        assert task.payload == payload
        assert (await manager.get_task(task.id)).payload == payload
    ids = await manager.create_tasks(queue, [TaskMeta(payload=p) for p in payloads])
    assert [(await manager.get_task(i)).payload for i in ids] == payloads


async def test_payload_is_required(manager: Manager, queue: str) -> None:
    """Defect 5: a missing payload is a validation error (JSON null is a value)."""
    with pytest.raises(InvalidArgument, match="payload"):
        await manager.create_task(queue, TaskMeta())
    with pytest.raises(InvalidArgument):
        await manager.create_task(queue, TaskMeta(payload=MISSING))
    with pytest.raises(InvalidArgument):
        await manager.create_tasks(queue, [TaskMeta(payload=1), TaskMeta()])
    assert await manager.list_tasks() == (0, [])


@pytest.mark.parametrize("payload", [float("nan"), float("inf"), {1, 2}, object(), {(1, 2): "x"}])
async def test_unserialisable_payload(offline: Manager, payload: object) -> None:
    with pytest.raises(InvalidArgument):
        await offline.create_task("q", TaskMeta(payload=payload))
    with pytest.raises(InvalidArgument):
        await offline.create_tasks("q", [TaskMeta(payload=payload)])


async def test_payload_keeps_what_jsonb_would_refuse(manager: Manager, queue: str) -> None:
    """Payloads are stored as `json` text: a NUL character and the key order survive."""
    task = await manager.create_task(queue, TaskMeta(payload={"z": "\x00", "a": 1}))
    again = await manager.get_task(task.id)
    assert again.payload == {"z": "\x00", "a": 1}
    assert list(again.payload) == ["z", "a"]


async def test_unknown_queue(manager: Manager, queue: str) -> None:
    for call in (
        manager.create_task("nope", TaskMeta(payload=1)),
        manager.create_task("nope", TaskMeta(payload=1, key="k")),
        manager.create_tasks("nope", [TaskMeta(payload=1)]),
        manager.create_tasks("nope", [TaskMeta(payload=1, priority=2)]),
        manager.create_tasks("nope", []),
    ):
        with pytest.raises(NotFound):
            await call
    with pytest.raises(InvalidArgument):
        await manager.create_task("Bad Queue", TaskMeta(payload=1))


async def test_delayed_task(manager: Manager, conn: asyncpg.Connection) -> None:
    await manager.register_queue(QueueMeta(queue="q", ttl=timedelta(minutes=1)))
    later = datetime.now(UTC) + timedelta(hours=2)
    task = await manager.create_task("q", TaskMeta(payload=1, delayed_at=later))
    assert task.delayed_at == later
    assert task.dies_at == later + timedelta(minutes=1)
    assert await manager.next_task("w", "q") is None
    assert await manager.next_due("q") == later
    await shift_task(conn, task.id, delayed_at="now() - interval '1 millisecond'")
    got = await manager.next_task("w", "q")
    assert got is not None and got.id == task.id


async def test_delayed_at_in_the_past(manager: Manager, queue: str) -> None:
    with pytest.raises(InvalidArgument, match="past"):
        await manager.create_task(
            queue, TaskMeta(payload=1, delayed_at=datetime.now(UTC) - timedelta(minutes=1))
        )
    # A few seconds of clock skew are tolerated; dies_at counts from now then.
    skewed = datetime.now(UTC) - timedelta(seconds=2)
    task = await manager.create_task(queue, TaskMeta(payload=1, delayed_at=skewed))
    assert task.dies_at == task.created_at + timedelta(hours=1)


async def test_delayed_at_needs_a_time_zone(manager: Manager, queue: str) -> None:
    naive = datetime.now() + timedelta(hours=1)
    with pytest.raises(InvalidArgument, match="time zone"):
        await manager.create_task(queue, TaskMeta(payload=1, delayed_at=naive))


async def test_create_tasks_ten_thousand_in_one_call(manager: Manager, queue: str) -> None:
    ids = await manager.create_tasks(queue, [TaskMeta(payload={"i": i}) for i in range(10_000)])
    assert len(ids) == len(set(ids)) == 10_000
    assert ids == sorted(ids)
    assert (await manager.list_tasks(queue=queue))[0] == 10_000
    first, last = await manager.get_task(ids[0]), await manager.get_task(ids[-1])
    assert (first.payload, last.payload) == ({"i": 0}, {"i": 9999})
    assert last.status is Status.NEW and last.retries == 3


async def test_create_tasks_limits(manager: Manager, queue: str) -> None:
    with pytest.raises(InvalidArgument):
        await manager.create_tasks(queue, [TaskMeta(payload=i) for i in range(10_001)])
    assert await manager.create_tasks(queue, []) == []
    assert (await manager.list_tasks())[0] == 0


async def test_create_tasks_with_options(manager: Manager, queue: str) -> None:
    later = datetime.now(UTC) + timedelta(hours=1)
    ids = await manager.create_tasks(
        queue,
        [
            TaskMeta(payload=0),
            TaskMeta(payload=1, priority=5),
            TaskMeta(payload=2, delayed_at=later),
        ],
    )
    tasks = [await manager.get_task(i) for i in ids]
    assert [t.payload for t in tasks] == [0, 1, 2]
    assert [t.priority for t in tasks] == [0, 5, 0]
    assert tasks[2].delayed_at == later


# ---- de-duplication -------------------------------------------------------------------


async def test_key_deduplicates_live_tasks(manager: Manager, queue: str) -> None:
    first, created = await manager.create_task_or_get(queue, TaskMeta(payload=1, key="k"))
    assert created and first.key == "k"
    again, created = await manager.create_task_or_get(queue, TaskMeta(payload=2, key="k"))
    assert not created and again.id == first.id and again.payload == 1
    other = await manager.create_task(queue, TaskMeta(payload=3, key="other"))
    assert other.id != first.id
    # While retained the key is still held; once terminal it is free again.
    claimed = await manager.next_task("w", queue)
    assert claimed is not None and claimed.id == first.id
    assert (await manager.create_task(queue, TaskMeta(payload=4, key="k"))).id == first.id
    await manager.release_task(first.id, success=True)
    fresh = await manager.create_task(queue, TaskMeta(payload=5, key="k"))
    assert fresh.id not in (first.id, other.id) and fresh.payload == 5


async def test_key_is_per_queue(manager: Manager) -> None:
    await manager.register_queue(QueueMeta(queue="a"))
    await manager.register_queue(QueueMeta(queue="b"))
    a = await manager.create_task("a", TaskMeta(payload=1, key="k"))
    b = await manager.create_task("b", TaskMeta(payload=1, key="k"))
    assert a.id != b.id


async def test_overdue_task_frees_its_key(
    manager: Manager, queue: str, conn: asyncpg.Connection
) -> None:
    first = await manager.create_task(queue, TaskMeta(payload=1, key="k"))
    await shift_task(conn, first.id, dies_at="now() - interval '1 second'")
    second = await manager.create_task(queue, TaskMeta(payload=2, key="k"))
    assert second.id != first.id
    assert (await manager.get_task(first.id)).status is Status.EXPIRED


async def test_concurrent_creators_with_one_key_make_one_task(
    manager: Manager, queue: str, pool: asyncpg.Pool
) -> None:
    managers = [manager] + [await Manager.new(pool, "test") for _ in range(3)]
    results = await asyncio.gather(
        *(
            managers[i % 4].create_task_or_get(queue, TaskMeta(payload=i, key="once"))
            for i in range(20)
        )
    )
    assert len({task.id for task, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert (await manager.list_tasks(queue=queue))[0] == 1


async def test_create_tasks_with_keys(manager: Manager, queue: str) -> None:
    live = await manager.create_task(queue, TaskMeta(payload="live", key="b"))
    ids = await manager.create_tasks(
        queue,
        [
            TaskMeta(payload=1, key="a"),
            TaskMeta(payload=2),
            TaskMeta(payload=3, key="a"),
            TaskMeta(payload=4, key="b"),
            TaskMeta(payload=5, key="c"),
        ],
    )
    assert ids[0] == ids[2] and ids[3] == live.id
    assert len({ids[0], ids[1], ids[4], live.id}) == 4
    tasks = {i: await manager.get_task(i) for i in ids}
    assert [tasks[i].payload for i in ids] == [1, 2, 1, "live", 5]
    assert (await manager.list_tasks())[0] == 4


@pytest.mark.parametrize("key", ["", 5, "k" * 1025])
async def test_bad_keys(offline: Manager, key: object) -> None:
    with pytest.raises(InvalidArgument):
        await offline.create_task("q", TaskMeta(payload=1, key=key))  # type: ignore[arg-type]


# ---- read -----------------------------------------------------------------------------


async def test_get_unknown_task(manager: Manager) -> None:
    with pytest.raises(NotFound):
        await manager.get_task(123456)
    for bad in (0, -1, 2**63, "1", True, 1.0):
        with pytest.raises(InvalidArgument):
            await manager.get_task(bad)  # type: ignore[arg-type]


async def test_list_filters_by_queue_and_status(manager: Manager) -> None:
    """Defect 2: `status` and `queue` filters work, and only this namespace is listed."""
    await manager.register_queue(QueueMeta(queue="a", retries=0))
    await manager.register_queue(QueueMeta(queue="b"))
    other = manager.with_namespace("other")
    await other.register_queue(QueueMeta(queue="a"))
    await other.create_tasks("a", [TaskMeta(payload=i) for i in range(3)])
    a_ids = await manager.create_tasks("a", [TaskMeta(payload=i) for i in range(4)])
    b_ids = await manager.create_tasks("b", [TaskMeta(payload=i) for i in range(2)])
    first = await manager.next_task("w", "a")
    second = await manager.next_task("w", "a")
    assert first and second
    await manager.release_task(first.id, success=False)
    assert await manager.list_tasks(queue="a", status=Status.FAILED) == (
        1,
        [await manager.get_task(first.id)],
    )
    count, tasks = await manager.list_tasks(status="retained")
    assert count == 1 and tasks[0].id == second.id
    count, tasks = await manager.list_tasks(status=" NEW ")
    assert count == 4 and [t.id for t in tasks] == a_ids[2:] + b_ids
    count, tasks = await manager.list_tasks(queue="b")
    assert count == 2 and [t.id for t in tasks] == b_ids
    assert (await manager.list_tasks())[0] == 6
    assert await manager.list_tasks(queue="nope") == (0, [])
    assert await manager.list_tasks(status="released") == (0, [])


async def test_unknown_status_filter(manager: Manager) -> None:
    with pytest.raises(InvalidArgument, match="status"):
        await manager.list_tasks(status="done")


async def test_list_paging_is_stable_and_count_ignores_paging(manager: Manager, queue: str) -> None:
    ids = await manager.create_tasks(queue, [TaskMeta(payload=i) for i in range(250)])
    seen: list[int] = []
    for offset in range(0, 260, 30):
        count, page = await manager.list_tasks(offset=offset, limit=30)
        assert count == 250
        seen.extend(t.id for t in page)
    assert seen == ids
    count, page = await manager.list_tasks(status="new", offset=240, limit=100)
    assert count == 250 and [t.id for t in page] == ids[240:]
    assert await manager.list_tasks(offset=1000) == (250, [])
    assert (await manager.list_tasks(limit=0)) == (250, [])
    count, page = await manager.list_tasks(limit=500)
    assert count == 250 and len(page) == 100
