"""Prometheus metrics: queue sizes of every namespace, request counters, build info."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from pgqueue_core import __version__
from pgqueue_server.metrics import OLDEST_READY_HELP, QUEUE_TASKS_HELP, route_label
from tests.support.promtool import promtool_check
from tests.support.server import Server

STATUSES = ("new", "retry", "retained", "released", "failed", "expired", "cancelled")


async def _families(server: Server) -> dict[str, object]:
    reply = await server.get("/metrics")
    assert reply.status == 200
    assert reply.headers["Content-Type"].startswith("text/plain")
    return {f.name: f for f in text_string_to_metric_families(reply.text)}


async def test_queue_tasks_two_namespaces_same_queue(server: Server) -> None:
    for namespace, count in (("alpha", 2), ("beta", 3)):
        params = {"namespace": namespace}
        await server.post("/queue", {"queue": "jobs"}, params=params)
        for i in range(count):
            await server.post("/task", {"queue": "jobs", "payload": i}, params=params)
    await server.put("/task", params={"namespace": "beta", "worker": "w"})

    families = await _families(server)
    gauge = families["queue_tasks"]
    assert gauge.documentation == QUEUE_TASKS_HELP  # type: ignore[attr-defined]
    assert gauge.type == "gauge"  # type: ignore[attr-defined]
    values = {
        (s.labels["namespace"], s.labels["queue"], s.labels["status"]): s.value
        for s in gauge.samples  # type: ignore[attr-defined]
    }
    for namespace in ("alpha", "beta"):
        for status in STATUSES:
            assert (namespace, "jobs", status) in values  # zeros included
    assert values[("alpha", "jobs", "new")] == 2
    assert values[("beta", "jobs", "new")] == 2
    assert values[("beta", "jobs", "retained")] == 1
    assert values[("alpha", "jobs", "retained")] == 0

    oldest = families["pgqueue_queue_oldest_ready_seconds"]
    assert oldest.documentation == OLDEST_READY_HELP  # type: ignore[attr-defined]
    ages = {
        s.labels["namespace"]: s.value
        for s in oldest.samples  # type: ignore[attr-defined]
    }
    assert set(ages) >= {"alpha", "beta"} and all(0 <= age < 60 for age in ages.values())


async def test_request_metrics_and_build_info(server: Server) -> None:
    await server.get("/queue/missing")
    await server.get("/queue/missing")
    await server.get("/no/such/path")
    families = await _families(server)
    requests = families["pgqueue_http_requests"]
    counts = {
        (s.labels["method"], s.labels["route"], s.labels["status"]): s.value
        for s in requests.samples  # type: ignore[attr-defined]
        if s.name.endswith("_total")
    }
    assert counts[("GET", "/queue/{name}", "404")] == 2
    assert counts[("GET", "unmatched", "404")] == 1
    latency = families["pgqueue_http_request_duration_seconds"]
    assert any(
        s.labels.get("route") == "/queue/{name}"
        for s in latency.samples  # type: ignore[attr-defined]
    )
    build = families["pgqueue_build_info"]
    sample = build.samples[0]  # type: ignore[attr-defined]
    assert sample.value == 1
    assert sample.labels["version"] == __version__
    assert "pgqueue_sse_streams" in families


async def test_health_and_openapi_report_the_one_version(server: Server) -> None:
    # pgqueue_core.__version__, which the package metadata is built from too: a source tree
    # reports the same version as an installed wheel.
    assert (await server.get("/health")).json["version"] == __version__
    assert (await server.get("/openapi.json")).json["info"]["version"] == __version__


def test_route_label() -> None:
    assert route_label("api/task/<task_id:str>", "/api") == "/task/{task_id}"
    assert route_label("api/queue", "/api") == "/queue"
    assert route_label("queue/<name:str>/requeue", "") == "/queue/{name}/requeue"


async def test_flow_control_per_queue(server: Server) -> None:
    """Rate limits and breakers: the rate, the claims it cut short, whether the breaker holds
    the queue back and how often it opened; queues with neither are left out."""
    await server.post("/queue", {"queue": "limited", "rate": 0.5, "burst": 1})
    await server.post("/queue", {"queue": "guarded", "breaker_threshold": 1})
    await server.post("/queue", {"queue": "plain"})
    for queue in ("limited", "limited", "guarded"):
        assert (await server.post("/task", {"queue": queue, "payload": 1})).status == 201
    assert (await server.put("/task/limited", params={"worker": "w"})).status == 200
    assert (await server.put("/task/limited", params={"worker": "w"})).status == 204
    claimed = await server.put("/task/guarded", params={"worker": "w"})
    failed = await server.patch(f"/task/{claimed.json['id']}", {"fail": True})
    assert failed.status == 200, failed.text

    families = await _families(server)

    def values(name: str) -> dict[str, float]:
        return {
            s.labels["queue"]: s.value
            for s in families[name].samples  # type: ignore[attr-defined]
            if s.labels["namespace"] == "default" and not s.name.endswith("_created")
        }

    assert values("pgqueue_queue_rate_limit") == {"limited": 0.5}
    assert values("pgqueue_queue_throttled_claims") == {"limited": 1}
    assert values("pgqueue_queue_breaker_open") == {"guarded": 1}
    assert values("pgqueue_queue_breaker_trips") == {"guarded": 1}
    assert (await server.post("/queue/guarded/reset-breaker")).json["breaker"] == "closed"
    families = await _families(server)
    assert values("pgqueue_queue_breaker_open") == {"guarded": 0}
    promtool_check((await server.get("/metrics")).text)
