"""Run by tests/deploy/test_dist.py with the Python of a fresh virtualenv holding only the
built wheel and its dependencies, from a folder outside the source tree:

    python wheel_worker.py DSN COUNT

Registers a queue, creates COUNT tasks, runs a Worker until every one is handled, checks
they were all released with their results, prints one JSON line about the installed
package and exits 0 (any failure raises: non-zero).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import sys

import asyncpg

import pgqueue_core
from pgqueue_core import Manager, QueueMeta, Task, TaskMeta, Worker


async def main(dsn: str, count: int) -> dict[str, object]:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=4)
    try:
        manager = await Manager.new(pool, "wheel")  # migrates with the wheel's SQL files
        await manager.register_queue(QueueMeta(queue="doubles"))
        await manager.create_tasks("doubles", [TaskMeta(payload={"n": n}) for n in range(count)])
        handled: set[int] = set()
        all_handled = asyncio.Event()

        async def double(task: Task) -> dict[str, int]:
            handled.add(task.payload["n"])
            if len(handled) == count:
                all_handled.set()
            return {"double": 2 * task.payload["n"]}

        worker = Worker(manager, "wheel-1", {"doubles": double}, concurrency=4)
        running = asyncio.create_task(worker.run())
        waiting = asyncio.create_task(all_handled.wait())
        # Whichever comes first: every task handled, or the worker failing (then it raises).
        await asyncio.wait({running, waiting}, timeout=60, return_when=asyncio.FIRST_COMPLETED)
        if running.done():
            running.result()
            raise SystemExit("the worker stopped before every task was handled")
        if not all_handled.is_set():
            raise SystemExit(f"timed out: {len(handled)} of {count} tasks handled")
        worker.stop()  # graceful: every result is written before run() returns
        await running
        total, tasks = await manager.list_tasks(queue="doubles", status="released", limit=100)
        assert total == count, total
        assert sorted(t.result["double"] for t in tasks) == [2 * n for n in range(count)]
    finally:
        await pool.close()
    return {
        "released": total,
        "version": pgqueue_core.__version__,
        "metadata_version": importlib.metadata.version("pgqueue-py"),
        "core_file": pgqueue_core.__file__,
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(sys.argv[1], int(sys.argv[2])))))
