"""A Worker's heartbeat must never drop a task it claimed while the heartbeat was under way.

Found by the soak (`make soak`: 98 of 3.65 million tasks claimed and never run, then expired):
the heartbeat extended the leases of the tasks it saw, awaited the database, and then judged
every task in the buffer *now* against that answer, so a task claimed during the await was
taken for one whose lease was lost and silently dropped (left `retained` until its lease
lapsed, or expired). A heartbeat every 10 ms made the race certain; fixed in the heartbeat
(now `LeaseKeeper`, which reports only the claims it asked about).
"""

from __future__ import annotations

import asyncio

import asyncpg

from pgqueue_core import Manager, QueueMeta, Task, TaskMeta, Worker
from tests.support.waiting import wait_for
from tests.support.worker import running_worker

N = 20_000


async def test_heartbeat_keeps_tasks_claimed_meanwhile(pool: asyncpg.Pool) -> None:
    manager = await Manager.new(pool, "beat")
    await manager.register_queue(QueueMeta(queue="q"))
    for start in range(0, N, 10_000):
        await manager.create_tasks("q", [TaskMeta(payload=i) for i in range(start, start + 10_000)])
    seen: set[int] = set()
    everything = asyncio.Event()

    async def handle(task: Task) -> None:
        seen.add(task.payload)
        if len(seen) == N:
            everything.set()

    worker = Worker(
        manager,
        "beat",
        {"q": handle},
        concurrency=32,
        handle_signals=False,
        maintenance=False,
        heartbeat_interval=0.01,
    )
    async with running_worker(worker):
        await wait_for(
            lambda: everything.is_set() or worker.stats.lost > 0, 30, "all handled or a drop"
        )
    assert worker.stats.lost == 0, worker.stats
    assert len(seen) == N
