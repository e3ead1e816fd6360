"""Prometheus metrics of a worker: the core's plain WorkerStats rendered at scrape time by a
custom collector, and, under the supervisor, every worker process's metrics on one port."""

from __future__ import annotations

import logging
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from pgqueue_core.worker import WorkerStats

log = logging.getLogger(__name__)

# (field of QueueCounts / WorkerStats, help text): one counter each, by worker and queue.
COUNTERS = (
    ("claimed", "Tasks this worker claimed"),
    ("succeeded", "Tasks this worker completed successfully (released)"),
    ("failed", "Failed attempts this worker recorded (the task retried or failed for good)"),
    ("retried", "Failed attempts that will run again after their backoff"),
    ("cancelled", "Tasks whose cancel reached this worker while it held them"),
    ("lost", "Tasks this worker lost (lease lapsed or expired) before its result was written"),
)


class StatsSource(Protocol):
    """What the collector reads: a Worker (or a RemoteWorker with the same figures)."""

    name: str
    stats: WorkerStats

    @property
    def in_flight(self) -> int: ...


class WorkerCollector(Collector):
    """`pgqueue_worker_*` from a worker's stats, read at scrape time (in the HTTP server's
    thread: the dicts are copied before iterating, as the event loop may add to them)."""

    def __init__(self, worker: StatsSource) -> None:
        self.worker = worker

    def collect(self) -> Iterator[Metric]:
        name, stats = self.worker.name, self.worker.stats
        queues = sorted(stats.queues.items())
        for field, help_text in COUNTERS:
            family = CounterMetricFamily(
                f"pgqueue_worker_{field}", help_text, labels=["worker", "queue"]
            )
            for queue, counts in queues:
                family.add_metric([name, queue], getattr(counts, field))
            yield family
        histogram = HistogramMetricFamily(
            "pgqueue_worker_handler_seconds",
            "Time handlers took, by queue and outcome (success, failure, cancelled, lost)",
            labels=["worker", "queue", "outcome"],
        )
        for (queue, outcome), durations in sorted(stats.handler_seconds.items()):
            buckets = [(floatToGoString(le), n) for le, n in durations.cumulative()]
            histogram.add_metric([name, queue, outcome], buckets, durations.total)
        yield histogram
        in_flight = GaugeMetricFamily(
            "pgqueue_worker_in_flight", "Handlers running right now", labels=["worker"]
        )
        in_flight.add_metric([name], self.worker.in_flight)
        yield in_flight


def worker_registry(worker: StatsSource) -> CollectorRegistry:
    """The worker's collector plus the process and platform collectors (CPU, memory, fds)."""
    registry = CollectorRegistry()
    registry.register(WorkerCollector(worker))
    ProcessCollector(registry=registry)
    PlatformCollector(registry=registry)
    return registry


def serve(registry: CollectorRegistry, port: int, addr: str) -> tuple[Any, int]:
    """Serve `registry` at http://addr:port/metrics in a thread; (the server, its port)."""
    server, _thread = start_http_server(port, addr=addr, registry=registry)
    return server, int(server.server_port)


class Gathered(Collector):
    """The supervisor's view: the metrics of every worker process, fetched from each one's
    own endpoint (on 127.0.0.1, at the port it wrote to `ports_dir`) at scrape time and
    merged into one exposition. A process's series that lack a `worker` label (CPU, memory)
    get one. A process that does not answer is left out of that scrape."""

    def __init__(
        self, ports_dir: Path, names: Callable[[], Iterable[tuple[str, str]]], timeout: float = 2
    ) -> None:
        self.ports_dir = ports_dir
        self.names = names  # (slot, worker name) of the processes running now
        self.timeout = timeout

    def collect(self) -> Iterator[Metric]:
        merged: dict[str, Metric] = {}
        for slot, worker in self.names():
            try:
                port = int((self.ports_dir / f"{slot}.port").read_text())
                url = f"http://127.0.0.1:{port}/metrics"
                with urllib.request.urlopen(url, timeout=self.timeout) as resp:
                    text = resp.read().decode()
            except (OSError, ValueError) as exc:
                log.debug("metrics of %s unavailable: %s", worker, exc)
                continue
            for family in text_string_to_metric_families(text):
                into = merged.get(family.name)
                if into is None:
                    into = merged[family.name] = Metric(
                        family.name, family.documentation, family.type, family.unit
                    )
                for s in family.samples:
                    labels = s.labels if "worker" in s.labels else {**s.labels, "worker": worker}
                    into.samples.append(Sample(s.name, labels, s.value, s.timestamp, s.exemplar))
        yield from merged.values()
