"""Bearer tokens: off by default; with a token every endpoint but health needs it; scopes."""

from __future__ import annotations

import logging

import pytest

from pgqueue_server.auth import TokenScope
from tests.support.server import Server, make_config, serving_app

TOKEN = "s3cret-token-value"


async def test_no_token_configured(server: Server) -> None:
    assert (await server.get("/queue")).status == 200
    assert (await server.get("/queue", token="anything")).status == 200


async def test_token_required(dsn: str, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    async with serving_app(make_config(dsn, token=TOKEN)) as srv:
        assert (await srv.get("/health", token="")).status == 200
        for path in ("/queue", "/task", "/ticker", "/namespace", "/metrics", "/openapi.json"):
            missing = await srv.get(path, token="")
            assert missing.status == 401, path
            assert missing.json["object"] == "error"
            assert missing.headers["WWW-Authenticate"].startswith("Bearer")
        wrong = await srv.get("/queue", token="nope")
        assert wrong.status == 401
        assert "invalid token" in wrong.json["reason"]
        basic = await srv.get("/queue", token="", headers={"Authorization": f"Basic {TOKEN}"})
        assert basic.status == 401
        assert (await srv.get("/queue")).status == 200
        assert (await srv.post("/queue", {"queue": "jobs"})).status == 201
        lower = await srv.get("/queue", token="", headers={"Authorization": f"bearer {TOKEN}"})
        assert lower.status == 200
        doc = (await srv.get("/openapi.json")).json
        assert doc["security"] == [{"bearer": []}]
        # Auth comes first: an unauthenticated client learns nothing else.
        assert (await srv.get("/queue/missing", token="")).status == 401
    assert TOKEN not in caplog.text


async def test_scoped_tokens(dsn: str) -> None:
    reader = TokenScope("reader", frozenset({"alpha"}), read_only=True)
    writer = TokenScope("writer", frozenset({"alpha"}))
    config = make_config(dsn, token=TOKEN, tokens=(("r-token", reader), ("w-token", writer)))
    async with serving_app(config) as srv:
        alpha, beta = {"namespace": "alpha"}, {"namespace": "beta"}
        assert (
            await srv.post("/queue", {"queue": "q"}, params=alpha, token="w-token")
        ).status == 201
        assert (await srv.get("/queue/q", params=alpha, token="r-token")).status == 200
        denied = await srv.post("/queue", {"queue": "z"}, params=alpha, token="r-token")
        assert denied.status == 403
        assert "read-only" in denied.json["reason"]
        assert (await srv.get("/queue", params=beta, token="r-token")).status == 403
        assert (await srv.get("/queue", token="w-token")).status == 403  # default namespace
        assert (await srv.get("/metrics", token="r-token")).status == 403
        stream = await srv.get(
            "/ticker", params=alpha, token="r-token", headers={"Accept": "text/event-stream"}
        )
        assert stream.status == 403
        assert (await srv.get("/queue", params=beta)).status == 200  # the admin token
