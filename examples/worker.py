"""An example pgqueue worker: two queues, graceful shutdown on SIGTERM, Prometheus metrics.

    PGQUEUE_DSN=postgresql://postgres@127.0.0.1:5432/test python examples/worker.py

Environment: PGQUEUE_DSN (required), PGQUEUE_NAMESPACE (default "default"),
WORKER_NAME (default host@pid), WORKER_CONCURRENCY (default 16), METRICS_PORT (default 9100;
0 turns the metrics endpoint off). It registers the queues `emails` and `reports` if they do
not exist, then works until SIGTERM or Ctrl-C, letting running handlers finish.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import socket
from collections.abc import Iterator

import asyncpg
from prometheus_client import REGISTRY, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from pgqueue_core import Manager, QueueMeta, Task, Worker

log = logging.getLogger("example-worker")


async def send_email(task: Task) -> dict[str, object]:
    """Pretend to send an email; fails now and then so that retries show up in metrics."""
    await asyncio.sleep(random.uniform(0.01, 0.05))  # the SMTP round trip
    if random.random() < 0.05:
        raise ConnectionError("SMTP server said 421, try again later")
    return {"sent_to": task.payload.get("to") if isinstance(task.payload, dict) else None}


def build_report(task: Task) -> dict[str, object]:
    """A synchronous, CPU-bound handler: pgqueue runs it in a thread."""
    size = int(task.payload.get("rows", 1000)) if isinstance(task.payload, dict) else 1000
    return {"rows": size, "checksum": sum(i * i for i in range(size)) % 1_000_003}


class WorkerCollector(Collector):
    """Exports the Worker's own counters at scrape time."""

    def __init__(self, worker: Worker) -> None:
        self.worker = worker

    def collect(self) -> Iterator[GaugeMetricFamily | CounterMetricFamily]:
        stats = self.worker.stats
        labels = ["worker"]
        name = [self.worker.name]
        for field, help_text in (
            ("claimed", "Tasks claimed by this worker"),
            ("succeeded", "Tasks this worker released as successful"),
            ("failed", "Tasks this worker released as failed (retry or failed)"),
            ("cancelled", "Tasks whose cancel reached this worker"),
            ("lost", "Tasks this worker lost (lease lapsed or expired)"),
        ):
            counter = CounterMetricFamily(f"pgqueue_worker_{field}", help_text, labels=labels)
            counter.add_metric(name, getattr(stats, field))
            yield counter
        gauge = GaugeMetricFamily(
            "pgqueue_worker_in_flight", "Handlers running right now", labels=labels
        )
        gauge.add_metric(name, self.worker.in_flight)
        yield gauge


async def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    dsn = os.environ["PGQUEUE_DSN"]
    name = os.environ.get("WORKER_NAME", f"{socket.gethostname()}@{os.getpid()}")
    concurrency = int(os.environ.get("WORKER_CONCURRENCY", "16"))
    pool = await asyncpg.create_pool(dsn, min_size=2, max_size=concurrency + 6)
    try:
        manager = await Manager.new(pool, os.environ.get("PGQUEUE_NAMESPACE", "default"))
        for queue in ("emails", "reports"):
            await manager.register_queue(QueueMeta(queue=queue))
        worker = Worker(
            manager,
            name,
            {"emails": send_email, "reports": build_report},
            concurrency=concurrency,
        )
        port = int(os.environ.get("METRICS_PORT", "9100"))
        if port:
            REGISTRY.register(WorkerCollector(worker))
            start_http_server(port)
            log.info("metrics on http://0.0.0.0:%d/metrics", port)
        log.info("worker %s handling emails, reports (SIGTERM stops it gracefully)", name)
        await worker.run()  # returns after SIGTERM/SIGINT once running handlers finished
        log.info("worker %s stopped: %s", name, worker.stats)
    finally:
        await pool.close()


if __name__ == "__main__":
    asyncio.run(main())
