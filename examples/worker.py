"""An example pgqueue worker: two queues, graceful shutdown on SIGTERM, Prometheus metrics.

    PGQUEUE_DSN=postgresql://postgres@127.0.0.1:5432/test python examples/worker.py

Environment:
  PGQUEUE_DSN         PostgreSQL URL (required)
  PGQUEUE_NAMESPACE   namespace of the queues (default "default", the server's default)
  PGQUEUE_PGBOUNCER   "1" when PGQUEUE_DSN points at PgBouncer in transaction pooling mode:
                      no cached prepared statements, no LISTEN (the worker polls every 0.5 s)
  WORKER_NAME         name recorded on the tasks it runs (default host@pid)
  WORKER_CONCURRENCY  handlers running at once (default 16)
  METRICS_PORT        port of the Prometheus endpoint /metrics (default 9100; 0: none)
  EMAIL_FAILURE_RATE  share of emails that fail, to show retries (default 0.05)

It registers the queues `emails` and `reports` if they do not exist (an existing queue keeps
its settings), then works until SIGTERM or Ctrl-C, letting running handlers finish, and
exits 0. The metrics are the ones `pgqueue worker --metrics-port` serves (docs/workers.md).

The same handlers without this script (the queues must exist):

    PGQUEUE_DSN=... pgqueue worker examples.worker:tasks --metrics-port 9100
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket

import asyncpg

from pgqueue_core import Handlers, Manager, QueueMeta, Task, Worker
from pgqueue_worker.metrics import serve, worker_registry

log = logging.getLogger("example-worker")

FAILURE_RATE = float(os.environ.get("EMAIL_FAILURE_RATE", "0.05"))

tasks = Handlers()


@tasks.handler("emails")
async def send_email(task: Task) -> dict[str, object]:
    """Pretend to send an email; fails now and then so that retries show up in metrics."""
    await asyncio.sleep(random.uniform(0.01, 0.05))  # the SMTP round trip
    if random.random() < FAILURE_RATE:
        raise ConnectionError("SMTP server said 421, try again later")
    return {"sent_to": task.payload.get("to") if isinstance(task.payload, dict) else None}


@tasks.handler("reports")
def build_report(task: Task) -> dict[str, object]:
    """A synchronous, CPU-bound handler: pgqueue runs it in a thread."""
    size = int(task.payload.get("rows", 1000)) if isinstance(task.payload, dict) else 1000
    return {"rows": size, "checksum": sum(i * i for i in range(size)) % 1_000_003}


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    dsn = os.environ["PGQUEUE_DSN"]
    name = os.environ.get("WORKER_NAME", f"{socket.gethostname()}@{os.getpid()}")
    concurrency = int(os.environ.get("WORKER_CONCURRENCY", "16"))
    pgbouncer = os.environ.get("PGQUEUE_PGBOUNCER", "").lower() in {"1", "true", "yes", "on"}
    # Connections: one per running handler that uses the database, plus the claim loop,
    # result writer, heartbeat, maintenance and the LISTEN connection.
    pool = await asyncpg.create_pool(
        dsn,
        min_size=2,
        max_size=concurrency + 6,
        statement_cache_size=0 if pgbouncer else 100,
    )
    try:
        manager = await Manager.new(pool, os.environ.get("PGQUEUE_NAMESPACE", "default"))
        for queue in tasks:
            await manager.register_queue(QueueMeta(queue=queue))
        worker = Worker(manager, name, tasks, concurrency=concurrency, listen=not pgbouncer)
        port = int(os.environ.get("METRICS_PORT", "9100"))
        if port:
            # The worker's own figures (WorkerStats), rendered at scrape time.
            serve(worker_registry(worker), port, "0.0.0.0")
            log.info("metrics on http://0.0.0.0:%d/metrics", port)
        log.info("worker %s handling emails, reports (SIGTERM stops it gracefully)", name)
        await worker.run()  # returns after SIGTERM/SIGINT once running handlers finished
        log.info("worker %s stopped: %s", name, worker.stats)
    finally:
        await pool.close()


if __name__ == "__main__":
    asyncio.run(main())
