"""The OpenAPI document matches the routes the app serves, under any prefix."""

from __future__ import annotations

import re

from pgqueue_server import create_app
from pgqueue_server.openapi import document
from tests.support.server import Server, make_config, serving_app


def _pattern(template: str) -> re.Pattern[str]:
    return re.compile("^" + re.sub(r"\\{[^}]+\\}", "[^/]+", re.escape(template)) + "$")


def _served(prefix: str) -> set[tuple[str, str]]:
    """(method, path with a sample value per parameter) of every route of the app."""
    app = create_app(make_config("postgresql://unused", prefix=prefix))
    found = set()
    for route in app.router.routes:
        path = "/" + re.sub(r"<[^>]+>", "x1", route.path).strip("/")
        path = path[len(prefix) :] or "/"
        # HEAD mirrors GET on every GET route (test_head.py) and is not listed separately.
        found |= {(method, path) for method in route.methods if method != "HEAD"}
    return found


def test_every_route_is_documented_and_every_operation_served() -> None:
    doc = document("/api", auth=False)
    documented = [
        (method.upper(), _pattern(template))
        for template, item in doc["paths"].items()
        for method in item
    ]
    served = _served("/api")
    assert len(served) >= 25
    undocumented = {
        (method, path)
        for method, path in served
        if not any(m == method and p.match(path) for m, p in documented)
    }
    assert not undocumented
    unserved = [
        (method, p.pattern)
        for method, p in documented
        if not any(m == method and p.match(path) for m, path in served)
    ]
    assert not unserved


async def test_document_and_root_prefix(dsn: str) -> None:
    async with serving_app(make_config(dsn, prefix="")) as srv:
        assert srv.base.endswith(str(srv.app.ctx.config.prefix))
        assert (await srv.get("/health")).status == 200
        doc = (await srv.get("/openapi.json")).json
        assert doc["openapi"] == "3.1.0"
        assert doc["servers"] == [{"url": "/"}]
        assert "security" not in doc
        assert (await srv.post("/queue", {"queue": "root"})).status == 201


async def test_served_document(server: Server) -> None:
    reply = await server.get("/openapi.json")
    assert reply.status == 200
    assert reply.json == document("/api", auth=False)
    assert reply.json["servers"] == [{"url": "/api"}]
