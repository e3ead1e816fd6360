"""Ticker endpoints over HTTP: create, list, get, update, rename, delete."""

from __future__ import annotations

import pytest

from tests.support.server import Server

SECOND = 10**9


async def test_ticker_crud(server: Server) -> None:
    created = await server.post("/ticker", {"ticker": "hourly", "interval": "1h"})
    assert created.status == 201
    ticker = created.json
    assert ticker == {
        "namespace": "default",
        "ticker": "hourly",
        "interval": 3600 * SECOND,
        "payload": {},
        "timestamp": None,
    }
    assert (
        await server.post("/ticker", {"ticker": "hourly", "interval": 60 * SECOND})
    ).status == 409
    assert (await server.get("/ticker/hourly")).json == ticker
    listed = await server.get("/ticker")
    assert listed.json == {"count": 1, "body": [ticker]}

    patched = await server.patch("/ticker/hourly", {"interval": "2h", "payload": {"x": 1}})
    assert patched.status == 200
    assert patched.json["interval"] == 7200 * SECOND
    assert patched.json["payload"] == {"x": 1}
    renamed = await server.patch("/ticker/hourly", {"ticker": "twohourly"})
    assert renamed.json["ticker"] == "twohourly"
    assert (await server.get("/ticker/hourly")).status == 404

    deleted = await server.delete("/ticker/twohourly")
    assert deleted.status == 200
    assert deleted.json["ticker"] == "twohourly"
    assert (await server.delete("/ticker/twohourly")).status == 404
    assert (await server.patch("/ticker/twohourly", {"interval": "1h"})).status == 404
    assert (await server.get("/ticker")).json == {"count": 0, "body": []}


async def test_rename_onto_existing_is_409(server: Server) -> None:
    await server.post("/ticker", {"ticker": "a", "interval": "1m"})
    await server.post("/ticker", {"ticker": "b", "interval": "1m"})
    assert (await server.patch("/ticker/a", {"ticker": "b"})).status == 409


async def test_ticker_named_next(server: Server) -> None:
    """GET /ticker/next is the stream; a ticker called `next` can still be changed."""
    assert (await server.post("/ticker", {"ticker": "next", "interval": "1m"})).status == 201
    assert (await server.patch("/ticker/next", {"interval": "2m"})).status == 200
    assert (await server.delete("/ticker/next")).status == 200
    assert (await server.delete("/ticker/next")).status == 404


async def test_ticker_bad_input(server: Server) -> None:
    for body in (
        {"ticker": "", "interval": "1m"},
        {"ticker": "t", "interval": 0},
        {"ticker": "t", "interval": "500ms"},
        {"ticker": "t", "interval": "often"},
        {"ticker": "T T", "interval": "1m"},
        {"interval": "1m"},
        {"ticker": "t", "interval": "1m", "colour": "red"},
    ):
        reply = await server.post("/ticker", body)
        assert reply.status == 400, body


async def test_create_without_interval_fires_every_minute(server: Server) -> None:
    created = await server.post("/ticker", {"ticker": "t"})
    assert created.status == 201
    assert created.json["interval"] == 60 * SECOND


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"ticker": ""},
        {"ticker": None, "interval": None},
        {"namespace": "other", "timestamp": "2030-01-01T00:00:00Z"},  # read-only, ignored
    ],
)
async def test_patch_with_nothing_to_change(server: Server, body: dict[str, object]) -> None:
    """SPEC 7.1: 400 nothing_to_change, for an existing ticker and a missing one alike."""
    await server.post("/ticker", {"ticker": "t", "interval": "1h"})
    for name in ("t", "nope"):
        reply = await server.patch(f"/ticker/{name}", body)
        assert reply.status == 400, (name, reply.text)
        assert reply.json["error"] == "nothing_to_change"
    # An empty name next to a real change is no rename; a missing ticker is then a 404.
    changed = await server.patch("/ticker/t", {"ticker": "", "interval": "2h"})
    assert (changed.status, changed.json["ticker"]) == (200, "t")
    missing = await server.patch("/ticker/nope", {"ticker": "", "interval": "2h"})
    assert (missing.status, missing.json["error"]) == (404, "ticker_not_found")
