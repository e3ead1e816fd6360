"""The README's Python example, runnable as written:

PGQUEUE_DSN=postgresql://postgres@127.0.0.1:5432/test python examples/quickstart.py
"""

import asyncio
import os
from datetime import timedelta

import asyncpg

from pgqueue_core import Manager, QueueMeta, Task, TaskMeta, Worker

handled = asyncio.Event()
count = 0


async def send_email(task: Task) -> dict:
    global count
    print("sending to", task.payload["to"])
    count += 1
    if count == 101:
        handled.set()
    return {"sent": True}  # stored as the task's result


async def main() -> None:
    pool = await asyncpg.create_pool(os.environ["PGQUEUE_DSN"])
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


asyncio.run(main())
