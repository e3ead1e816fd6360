"""Prometheus metrics: queue sizes read from the database at scrape time, request counters and
latency per route, open streams, build info. One registry per app (tests run many apps)."""

from __future__ import annotations

import functools
import platform
import re
from collections.abc import Iterable, Sequence
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.registry import Collector

from pgqueue_core import QueueStatus, System, __version__
from pgqueue_core.system import QueueAge, QueueFlow

QUEUE_TASKS_HELP = "Number of tasks in each queue by status"
OLDEST_READY_HELP = (
    "Seconds since the oldest ready task of each queue became ready (0: none is waiting)"
)
_METHODS = frozenset({"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"})
_MAX_CHILDREN = 1024  # cached (method, route, status) series
_PARAM = re.compile(r"<([^:>]+)(?::[^>]*)?>")


@functools.lru_cache(maxsize=256)
def route_label(path: str, prefix: str) -> str:
    """A route's path template relative to the API prefix: 'api/task/<task_id:str>' →
    '/task/{task_id}' (bounded cardinality, unlike raw paths)."""
    label = "/" + _PARAM.sub(r"{\1}", path).strip("/")
    if prefix and (label == prefix or label.startswith(prefix + "/")):
        label = label[len(prefix) :] or "/"
    return label


class QueueTasks(Collector):
    """`queue_tasks{namespace,queue,status}` and
    `pgqueue_queue_oldest_ready_seconds{namespace,queue}` from one scrape's queries."""

    def __init__(self, stats: Sequence[QueueStatus], ages: Sequence[QueueAge] = ()) -> None:
        self.stats = stats
        self.ages = ages

    def collect(self) -> Iterable[Metric]:
        family = GaugeMetricFamily(
            "queue_tasks", QUEUE_TASKS_HELP, labels=["namespace", "queue", "status"]
        )
        for stat in self.stats:
            family.add_metric([stat.namespace, stat.queue, stat.status.value], stat.count)
        yield family
        oldest = GaugeMetricFamily(
            "pgqueue_queue_oldest_ready_seconds", OLDEST_READY_HELP, labels=["namespace", "queue"]
        )
        for age in self.ages:
            oldest.add_metric([age.namespace, age.queue], max(0.0, age.seconds))
        yield oldest


class QueueFlowMetrics(Collector):
    """Flow control per queue that has a rate limit or a breaker (docs/flow-control.md)."""

    def __init__(self, flows: Sequence[QueueFlow]) -> None:
        self.flows = flows

    def collect(self) -> Iterable[Metric]:
        labels = ["namespace", "queue"]
        rate = GaugeMetricFamily(
            "pgqueue_queue_rate_limit",
            "Most tasks a queue may start per second, across all workers",
            labels=labels,
        )
        throttled = CounterMetricFamily(
            "pgqueue_queue_throttled_claims",
            "Claims that found a queue's tasks ready but its rate limit cut short",
            labels=labels,
        )
        open_ = GaugeMetricFamily(
            "pgqueue_queue_breaker_open",
            "1 while a queue's circuit breaker is open or half-open (holding its tasks back), "
            "0 while closed",
            labels=labels,
        )
        trips = CounterMetricFamily(
            "pgqueue_queue_breaker_trips",
            "Times a queue's circuit breaker opened (a failed half-open probe included)",
            labels=labels,
        )
        for flow in self.flows:
            key = [flow.namespace, flow.queue]
            if flow.rate is not None:
                rate.add_metric(key, flow.rate)
            if flow.rate is not None or flow.throttled:
                throttled.add_metric(key, flow.throttled)
            if flow.guarded or flow.breaker != "closed" or flow.trips:
                open_.add_metric(key, 0.0 if flow.breaker == "closed" else 1.0)
                trips.add_metric(key, flow.trips)
        yield from (rate, throttled, open_, trips)


class Metrics:
    """The app's collectors. Request metrics are per process; queue sizes come from the
    database, so every server process reports the same."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "pgqueue_http_requests",
            "HTTP requests handled, by method, route and status",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}
        self.latency = Histogram(
            "pgqueue_http_request_duration_seconds",
            "Time to answer HTTP requests (streams: until they end), by method and route",
            ["method", "route"],
            registry=self.registry,
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.streams = Gauge(
            "pgqueue_sse_streams",
            "Ticker event streams open in this process",
            registry=self.registry,
        )
        build = Info("pgqueue_build", "pgqueue build information", registry=self.registry)
        build.info({"version": __version__, "python": platform.python_version()})

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        children = self._children.get(key)
        if children is None:  # labels() costs more than the observation: once per series
            label = method if method in _METHODS else "OTHER"
            children = (
                self.requests.labels(label, route, str(status)),
                self.latency.labels(label, route),
            )
            if len(self._children) < _MAX_CHILDREN:  # methods are the client's choice
                self._children[key] = children
        children[0].inc()
        children[1].observe(seconds)

    async def render(self, system: System) -> bytes:
        """The exposition text: this registry plus queue sizes and ages queried now."""
        stats = await system.queue_stats()
        ages = await system.queue_oldest_ready()
        flows = await system.queue_flow()
        return (
            generate_latest(self.registry)
            + generate_latest(QueueTasks(stats, ages))
            + generate_latest(QueueFlowMetrics(flows))
        )
