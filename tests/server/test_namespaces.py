"""Namespaces over HTTP: `?namespace=` isolation, the list, the read-only reserved namespace."""

from __future__ import annotations

from tests.support.server import Server, make_config, serving_app
from tests.support.waiting import wait_for


async def test_isolation(server: Server) -> None:
    a, b = {"namespace": "alpha"}, {"namespace": "beta"}
    assert (await server.post("/queue", {"queue": "jobs"}, params=a)).status == 201
    assert (await server.post("/queue", {"queue": "jobs", "retries": 9}, params=b)).status == 201
    task_a = (await server.post("/task", {"queue": "jobs", "payload": "a"}, params=a)).json
    task_b = (await server.post("/task", {"queue": "jobs", "payload": "b"}, params=b)).json
    assert task_a["namespace"] == "alpha"
    assert task_b["namespace"] == "beta"

    # Every read, claim and release by id stays in its namespace.
    assert (await server.get(f"/task/{task_a['id']}", params=b)).status == 404
    assert (await server.get("/task", params=a)).json["count"] == 1
    assert (await server.get("/queue/jobs", params=b)).json["retries"] == 9
    assert (await server.get("/queue", params={"namespace": "gamma"})).json["count"] == 0
    retained = await server.put("/task", params={**a, "worker": "w"})
    assert retained.json["id"] == task_a["id"]
    assert (await server.patch(f"/task/{task_a['id']}", {}, params=b)).status == 404
    assert (await server.patch(f"/task/{task_a['id']}", {}, params=a)).status == 200
    assert (await server.post(f"/task/{task_b['id']}/cancel", params=a)).status == 404
    # The default namespace saw none of it.
    assert (await server.get("/queue")).json == {"count": 0, "body": []}

    names = await server.get("/namespace")
    assert names.status == 200
    assert {"alpha", "beta"} <= set(names.json["body"])
    assert names.json["count"] == len(names.json["body"])
    assert names.json["body"] == sorted(names.json["body"])


async def test_namespace_is_normalised_and_validated(server: Server) -> None:
    await server.post("/queue", {"queue": "jobs"}, params={"namespace": " Alpha "})
    assert (await server.get("/queue/jobs", params={"namespace": "alpha"})).status == 200
    bad = await server.get("/queue", params={"namespace": "no way!"})
    assert bad.status == 400
    assert "namespace" in bad.json["reason"]
    twice = await server.get("/queue", params=[("namespace", "a"), ("namespace", "b")])
    assert twice.status == 400


async def test_reserved_namespace_is_read_only(server: Server) -> None:
    system = {"namespace": "pgqueue"}

    # Maintenance keeps its schedule there (registered once it first runs, just after the
    # server starts): visible, never writable.
    # The tickers are registered one after the other: wait for both, not for the namespace.
    async def registered() -> bool:
        tickers = await server.get("/ticker", params=system)
        assert tickers.status == 200
        return {t["ticker"] for t in tickers.json["body"]} >= {"cleanup", "lease-rescue"}

    await wait_for(registered, 10, "maintenance to register its schedule")
    assert "pgqueue" in (await server.get("/namespace")).json["body"]
    assert (await server.get("/queue", params=system)).status == 200
    assert (await server.get("/stats", params=system)).status == 200
    for method, path, body in (
        ("POST", "/queue", {"queue": "x"}),
        ("PATCH", "/ticker/cleanup", {"interval": "1s"}),
        ("DELETE", "/ticker/cleanup", None),
        ("PUT", "/task", None),
        ("GET", "/ticker/next", None),
    ):
        reply = await server.call(method, path, body=body, params=system)
        assert reply.status == 403, (method, path)
        assert "reserved" in reply.json["reason"]
    streamed = await server.get("/ticker", params=system, headers={"Accept": "text/event-stream"})
    assert streamed.status == 403


async def test_server_default_namespace(dsn: str) -> None:
    async with serving_app(make_config(dsn, namespace="tenant")) as srv:
        created = await srv.post("/queue", {"queue": "jobs"})
        assert created.json["namespace"] == "tenant"
        assert (await srv.get("/queue/jobs", params={"namespace": "default"})).status == 404
