"""A worker process for the tests: `python -m tests.worker.proc DSN NAME MODE [CONCURRENCY]`.

MODE `block`: every handler records its start and then waits forever (to be killed).
MODE `record`: every handler records its start and its completion, then returns.
MODE `slow`: like record, with half a second of work in between (to be stopped mid-task).
Starts and completions go to the table `proof` of the same database: a real side effect.
Prints "ready" once the worker runs.
"""

from __future__ import annotations

import asyncio
import os
import sys

import asyncpg

from pgqueue_core import Manager, Task, Worker

PROOF_DDL = """CREATE TABLE IF NOT EXISTS proof (
    task_id bigint NOT NULL, worker text NOT NULL, pid integer NOT NULL,
    event text NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())"""


async def main(dsn: str, name: str, mode: str, concurrency: int) -> None:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=concurrency + 6)
    await pool.execute(PROOF_DDL)
    manager = await Manager.new(pool, "test")
    pid = os.getpid()

    async def record(task: Task, event: str) -> None:
        await pool.execute(
            "INSERT INTO proof (task_id, worker, pid, event) VALUES ($1, $2, $3, $4)",
            task.id,
            name,
            pid,
            event,
        )

    async def handle(task: Task) -> dict[str, int]:
        await record(task, "start")
        if mode == "block":
            await asyncio.Event().wait()
        elif mode == "slow":
            await asyncio.sleep(0.5)  # the work itself, not a wait for something
        await record(task, "done")
        return {"pid": pid}

    worker = Worker(manager, name, {"jobs": handle}, concurrency=concurrency, prefetch=0)
    running = asyncio.create_task(worker.run())
    print("ready", flush=True)
    await running
    print("stopped", flush=True)
    await pool.close()


if __name__ == "__main__":
    dsn, name, mode = sys.argv[1:4]
    concurrency = int(sys.argv[4]) if len(sys.argv) > 4 else 4
    asyncio.run(main(dsn, name, mode, concurrency))
