"""Namespaces: name rules, the reserved system namespace, listing, strict isolation."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import asyncpg
import pytest

from pgqueue_core import (
    InvalidArgument,
    Maintenance,
    Manager,
    NotFound,
    QueueMeta,
    Status,
    System,
    TaskMeta,
    TickerMeta,
)
from pgqueue_core.queries import channel
from tests.support.db import NoDatabase


@pytest.mark.parametrize(
    ("given", "bound"),
    [
        ("myapp", "myapp"),
        ("  MyApp ", "myapp"),
        ("a", "a"),
        ("a1_b-c", "a1_b-c"),
        ("x" * 64, "x" * 64),
        ("\tabc\n", "abc"),
    ],
)
async def test_valid_names_are_normalised(given: str, bound: str) -> None:
    mgr = await Manager.new(NoDatabase(), given, migrate_schema=False)
    assert mgr.namespace == bound


@pytest.mark.parametrize(
    "name", ["", " ", "1abc", "_abc", "-abc", "a b", "a.b", "a/b", "é", "x" * 65, "a\nb"]
)
async def test_invalid_names_are_rejected(name: str) -> None:
    with pytest.raises(InvalidArgument):
        await Manager.new(NoDatabase(), name)


async def test_non_string_name_is_rejected() -> None:
    with pytest.raises(InvalidArgument):
        await Manager.new(NoDatabase(), 42)  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["pgqueue", "PGQUEUE", " pgqueue "])
async def test_reserved_namespace_cannot_be_bound(name: str) -> None:
    with pytest.raises(InvalidArgument, match="reserved"):
        await Manager.new(NoDatabase(), name)


async def test_with_namespace_rejects_reserved(offline: Manager) -> None:
    with pytest.raises(InvalidArgument):
        offline.with_namespace("pgqueue")
    other = offline.with_namespace(" Other ")
    assert other.namespace == "other"
    assert offline.with_namespace("test") is offline


async def test_default_namespace(pool: asyncpg.Pool) -> None:
    mgr = await Manager.new(pool)
    assert mgr.namespace == "default"


async def test_namespaces_listed_from_queues_and_tickers(pool: asyncpg.Pool) -> None:
    zeta = await Manager.new(pool, "zeta")
    alpha = await Manager.new(pool, "alpha")
    mid = await Manager.new(pool, "mid")
    assert await zeta.list_namespaces() == []
    await zeta.register_queue(QueueMeta(queue="q"))
    await zeta.register_queue(QueueMeta(queue="r"))
    await alpha.register_ticker(TickerMeta(ticker="t", interval=timedelta(hours=1)))
    await mid.register_queue(QueueMeta(queue="q"))
    await mid.register_ticker(TickerMeta(ticker="t", interval=timedelta(hours=1)))
    assert await zeta.list_namespaces() == ["alpha", "mid", "zeta"]
    await mid.delete_queue("q")
    await mid.delete_ticker("t")
    assert await alpha.list_namespaces() == ["alpha", "zeta"]


async def test_system_namespace_appears_in_the_list(pool: asyncpg.Pool) -> None:
    mgr = await Manager.new(pool, "app")
    await mgr.register_queue(QueueMeta(queue="q"))
    await Maintenance(pool).run_due()
    assert await mgr.list_namespaces() == ["app", "pgqueue"]
    # The application cannot see or claim the system's tickers.
    assert await mgr.list_tickers() == (0, [])
    assert await mgr.next_ticker() is None


async def test_long_namespace_end_to_end(pool: asyncpg.Pool, dsn: str) -> None:
    """Defect 12: a namespace longer than 50 bytes works for insert, wake-up, claim, release."""
    name = "n" * 64
    mgr = await Manager.new(pool, name)
    queue = "q" * 64
    await mgr.register_queue(QueueMeta(queue=queue))
    listener = await asyncpg.connect(dsn)
    heard: asyncio.Queue[str] = asyncio.Queue()
    try:
        await listener.add_listener(channel("pgqueue"), lambda *args: heard.put_nowait(args[3]))
        task = await mgr.create_task(queue, TaskMeta(payload={"x": 1}))
        ids = await mgr.create_tasks(queue, [TaskMeta(payload=i) for i in range(3)])
        async with asyncio.timeout(5):
            assert await heard.get() == f"{name}/{queue}"
    finally:
        await listener.close()
    got = await mgr.next_task("w", queue)
    assert got is not None and got.id == task.id and got.namespace == name
    done = await mgr.release_task(got.id, success=True, result="ok")
    assert done.status is Status.RELEASED
    assert (await mgr.list_tasks(queue=queue))[0] == 4
    assert len(ids) == 3


@pytest.fixture
async def two(pool: asyncpg.Pool) -> tuple[Manager, Manager]:
    """Two namespaces, each with a queue named "shared" holding one task."""
    a = await Manager.new(pool, "alpha")
    b = await Manager.new(pool, "beta")
    for mgr in (a, b):
        await mgr.register_queue(QueueMeta(queue="shared", retries=0))
        await mgr.create_task("shared", TaskMeta(payload=mgr.namespace))
    return a, b


async def test_same_queue_name_in_two_namespaces_stays_apart(
    two: tuple[Manager, Manager],
) -> None:
    a, b = two
    await a.update_queue("shared", QueueMeta(retries=7))
    assert (await b.get_queue("shared")).retries == 0
    count_a, tasks_a = await a.list_tasks()
    count_b, tasks_b = await b.list_tasks(queue="shared")
    assert count_a == count_b == 1
    assert tasks_a[0].payload == "alpha" and tasks_b[0].payload == "beta"
    got = await a.next_task("w", "shared")
    assert got is not None and got.payload == "alpha"
    assert await a.next_task("w") is None
    got_b = await b.next_task("w")
    assert got_b is not None and got_b.payload == "beta"
    await a.delete_queue("shared")
    assert (await b.list_tasks())[0] == 1
    with pytest.raises(NotFound):
        await a.get_queue("shared")


async def test_task_ids_do_not_cross_namespaces(two: tuple[Manager, Manager]) -> None:
    a, b = two
    task_b = (await b.list_tasks())[1][0]
    with pytest.raises(NotFound):
        await a.get_task(task_b.id)
    claimed = await b.next_task("w", "shared")
    assert claimed is not None and claimed.id == task_b.id
    with pytest.raises(NotFound):
        await a.release_task(task_b.id, success=True)
    with pytest.raises(NotFound):
        await a.release_task(task_b.id, success=False)
    with pytest.raises(NotFound):
        await a.extend_lease(task_b.id)
    assert await a.extend_leases([task_b.id]) == {}
    with pytest.raises(NotFound):
        await a.cancel_task(task_b.id)
    assert (await b.get_task(task_b.id)).status is Status.RETAINED
    assert (await b.release_task(task_b.id, success=False)).status is Status.FAILED
    with pytest.raises(NotFound):
        await a.requeue_task(task_b.id)
    assert all(t.namespace == "alpha" for t in (await a.list_tasks(status="failed"))[1])
    assert (await a.list_tasks(status="failed"))[0] == 0


async def test_queue_stats_per_namespace(two: tuple[Manager, Manager], pool: asyncpg.Pool) -> None:
    """Defect 9: two namespaces with queues of the same name give distinct series."""
    a, b = two
    await b.create_task("shared", TaskMeta(payload=2))
    stats_a = {(s.queue, s.status): s.count for s in await a.queue_stats()}
    assert stats_a[("shared", Status.NEW)] == 1
    everything = await System(pool).queue_stats()
    keys = [(s.namespace, s.queue, s.status) for s in everything]
    assert len(keys) == len(set(keys)) == 2 * len(Status)
    counts = {(s.namespace, s.status): s.count for s in everything}
    assert counts[("alpha", Status.NEW)] == 1
    assert counts[("beta", Status.NEW)] == 2
