"""A worker process for the deployment tests.

    python -m tests.deploy.worker_proc DSN NAME [--queue Q] [--concurrency N] [--pool-size N]
        [--no-listen] [--poll-interval S] [--statement-cache-size N]

Works the queue (default `jobs`, namespace `default`, which must exist) until SIGTERM. Every
handler run stores a row in the table `proof` (task id, attempt, worker, pid) before it
returns: a real side effect, so a task run twice shows up as two rows (rows of concurrent
runs are written together, one COPY per batch, to leave a 2-core machine to the rest).
Prints "ready" once the worker waits for work, and "stopped" after a graceful exit.
"""

from __future__ import annotations

import argparse
import asyncio
import os
from typing import Any

import asyncpg

from pgqueue_core import Manager, Task, Worker

PROOF_DDL = """CREATE UNLOGGED TABLE IF NOT EXISTS proof (
    task_id bigint NOT NULL, attempt integer NOT NULL, worker text NOT NULL,
    pid integer NOT NULL, at timestamptz NOT NULL DEFAULT clock_timestamp())"""


class Proof:
    """Proof rows written in batches; `record` returns once its row is stored."""

    def __init__(self, pool: Any) -> None:
        self.pool = pool
        self.rows: list[tuple[int, int, str, int]] = []
        self.waiters: list[asyncio.Future[None]] = []
        self.writer: asyncio.Task[None] | None = None

    async def record(self, row: tuple[int, int, str, int]) -> None:
        stored = asyncio.get_running_loop().create_future()
        self.rows.append(row)
        self.waiters.append(stored)
        if self.writer is None or self.writer.done():
            self.writer = asyncio.create_task(self._write())
        await stored

    async def _write(self) -> None:
        while self.rows:  # rows that come during a write go in the next one
            rows, waiters = self.rows, self.waiters
            self.rows, self.waiters = [], []
            try:
                await self.pool.copy_records_to_table(
                    "proof", records=rows, columns=["task_id", "attempt", "worker", "pid"]
                )
            except Exception as exc:
                for waiter in waiters:
                    waiter.set_exception(exc)
            else:
                for waiter in waiters:
                    waiter.set_result(None)


async def main(args: argparse.Namespace) -> None:
    pool = await asyncpg.create_pool(
        args.dsn,
        min_size=1,
        max_size=args.pool_size or args.concurrency + 2,
        statement_cache_size=args.statement_cache_size,
    )
    pid = os.getpid()
    try:
        manager = await Manager.new(pool, "default")
        proof = Proof(pool)

        async def handle(task: Task) -> dict[str, int]:
            await proof.record((task.id, task.attempt, args.name, pid))
            return {"pid": pid}

        worker = Worker(
            manager,
            args.name,
            {args.queue: handle},
            concurrency=args.concurrency,
            listen=args.listen,
            poll_interval=args.poll_interval,
        )
        running = asyncio.create_task(worker.run())
        idle = asyncio.create_task(worker.idle.wait())
        await asyncio.wait([running, idle], return_when=asyncio.FIRST_COMPLETED)
        idle.cancel()
        print("ready", flush=True)
        await running
        print(f"stopped {worker.stats}", flush=True)
    finally:
        await pool.close()


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="worker_proc")
    parser.add_argument("dsn")
    parser.add_argument("name")
    parser.add_argument("--queue", default="jobs")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--pool-size", type=int, default=0, help="0: concurrency + 2")
    parser.add_argument("--no-listen", dest="listen", action="store_false")
    parser.add_argument("--statement-cache-size", type=int, default=100)
    parser.add_argument("--poll-interval", type=float, default=5.0)
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse()))
