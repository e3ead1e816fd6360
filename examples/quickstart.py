"""The README's Python example, runnable as written (from the repository, after `make install`):

    .venv/bin/python examples/quickstart.py

It uses PGQUEUE_DSN when set; otherwise the embedded PostgreSQL that `make run` uses (started
here if it is not running, and stopped again at the end).
"""

import asyncio
import os
import sys
from datetime import timedelta

try:
    import asyncpg

    from pgqueue_core import Manager, QueueMeta, Task, TaskMeta, Worker
    from pgqueue_core.embedded import EmbeddedPostgres, default_data_dir
except ImportError as exc:  # run by a Python without pgqueue installed
    sys.exit(f"{exc}: run this with the project's environment: .venv/bin/python {sys.argv[0]}")

handled = asyncio.Event()
count = 0


async def send_email(task: Task) -> dict:
    global count
    print("sending to", task.payload["to"])
    count += 1
    if count == 101:
        handled.set()
    return {"sent": True}  # stored as the task's result


async def main(dsn: str) -> None:
    pool = await asyncpg.create_pool(dsn)
    mgr = await Manager.new(pool, "myapp")  # creates/migrates the pgqueue schema
    await mgr.register_queue(
        QueueMeta(
            queue="emails", ttl=timedelta(hours=24), retries=3, retry_delay=timedelta(minutes=1)
        )
    )
    task = await mgr.create_task("emails", TaskMeta(payload={"to": "a@example.com"}))
    await mgr.create_tasks(
        "emails", [TaskMeta(payload={"to": f"{i}@example.com"}) for i in range(100)]
    )

    worker = Worker(mgr, "worker-1", {"emails": send_email}, concurrency=8)
    running = asyncio.create_task(worker.run())  # Ctrl-C / SIGTERM also stop it gracefully
    await handled.wait()
    worker.stop()  # graceful: running handlers finish, results are written
    await running

    print(await mgr.get_task(task.id))
    await pool.close()


if __name__ == "__main__":
    if dsn := os.environ.get("PGQUEUE_DSN"):
        asyncio.run(main(dsn))
    else:
        embedded = EmbeddedPostgres(default_data_dir())
        started_here = embedded.pid is None
        print(f"no PGQUEUE_DSN: using the embedded PostgreSQL in {embedded.data_dir}")
        try:
            asyncio.run(main(embedded.start()))
        finally:
            if started_here:
                embedded.stop()
