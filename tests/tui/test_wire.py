"""Claimed tasks are decoded from the response bytes with msgspec (pgqueue_tui/wire.py) when
that gives what `codec.decode` gives, and the codec's way otherwise: same tasks, same errors."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
from aiohttp import web

from pgqueue_core import QueueMeta, Status, Task, TaskMeta, codec
from pgqueue_tui import wire
from pgqueue_tui.client import Client, ProtocolError
from tests.support.server import Server, make_config, serving_app

SENT: dict[str, Any] = {
    "id": 5,
    "namespace": "default",
    "queue": "q",
    "payload": {"big": 2**70, "f": 0.1, "s": "é", "nested": [[1], {"a": None}]},
    "result": None,
    "worker": "w",
    "status": "retained",
    "created_at": "2026-11-28T10:00:00.123456Z",
    "delayed_at": None,
    "started_at": "2026-11-28T10:00:01Z",
    "finished_at": None,
    "dies_at": "2026-11-28T11:00:00.123456Z",
    "retries": 3,
    "attempt": 1,
    "priority": 2,
    "key": None,
    "leased_until": "2026-11-28T10:05:01.000001Z",
    "cancel_requested": False,
}
# Documents the fast path leaves to the codec, which takes them (and what it makes of them).
ODD = {
    "offset": {**SENT, "created_at": "2026-11-28T12:00:00.123456+02:00"},
    "status in capitals": {**SENT, "status": "RETAINED"},
    "integer as 1.0": {**SENT, "attempt": 1.0},
}
# From an older server: the fields it did not have take the model's defaults, either way.
OLDER = {k: v for k, v in SENT.items() if k not in ("priority", "key", "leased_until")}
BAD = {
    "no time zone": {**SENT, "dies_at": "2026-11-28T11:00:00"},
    "unknown status": {**SENT, "status": "lost"},
    "id missing": {k: v for k, v in SENT.items() if k != "id"},
}


def envelope(*tasks: Any) -> bytes:
    return json.dumps({"count": len(tasks), "body": list(tasks)}).encode()


def test_the_fast_path_gives_what_the_codec_gives() -> None:
    tasks = wire.task_list(envelope(SENT, OLDER))
    assert tasks == [codec.decode(Task, SENT), codec.decode(Task, OLDER)]
    assert tasks is not None and tasks[0].payload["big"] == 2**70


@pytest.mark.parametrize("doc", [*ODD.values(), *BAD.values()], ids=[*ODD, *BAD])
def test_the_fast_path_declines_what_it_cannot_vouch_for(doc: Any) -> None:
    assert wire.task_list(envelope(SENT, doc)) is None


def test_the_fast_path_declines_other_shapes() -> None:
    assert wire.task_list(json.dumps([SENT]).encode()) is None  # a bare array
    assert wire.task_list(b"{not json") is None
    assert wire.task_list(envelope(SENT)[:-1]) is None


@pytest.fixture
async def stub() -> AsyncIterator[tuple[str, dict[str, bytes]]]:
    """A server answering PUT /api/task/q with whatever `answer["body"]` holds."""
    answer: dict[str, bytes] = {}

    async def retain(request: web.Request) -> web.Response:
        return web.Response(body=answer["body"], content_type="application/json")

    app = web.Application()
    app.router.add_route("PUT", "/api/task/q", retain)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/api", answer
    finally:
        await runner.cleanup()


async def test_the_client_decodes_odd_documents_the_codec_way(
    stub: tuple[str, dict[str, bytes]],
) -> None:
    url, answer = stub
    async with Client(url) as client:
        for name, doc in ODD.items():
            answer["body"] = envelope(SENT, doc)
            tasks = await client.next_tasks("w", "q", limit=2)
            assert tasks == [codec.decode(Task, SENT), codec.decode(Task, doc)], name
        for doc in BAD.values():
            answer["body"] = envelope(SENT, doc)
            with pytest.raises(ProtocolError, match="malformed response"):
                await client.next_tasks("w", "q", limit=2)
        answer["body"] = b"<html>"
        with pytest.raises(ProtocolError, match="not JSON"):
            await client.next_tasks("w", "q", limit=2)


@pytest.fixture
async def api(dsn: str) -> AsyncIterator[Server]:
    async with serving_app(make_config(dsn)) as srv:
        yield srv


async def test_claimed_tasks_read_as_the_task_reads(api: Server) -> None:
    docs: list[Any] = []
    async with Client(api.base) as client, Client(api.base, on_json=docs.append) as watched:
        await client.create_queue(QueueMeta(queue="q"))
        ids = await client.create_tasks([("q", TaskMeta(payload={"i": i})) for i in range(4)])
        claimed = await client.next_tasks("w", "q", limit=2)
        assert [t.id for t in claimed] == ids[:2]
        assert claimed == [await client.get_task(i) for i in ids[:2]]
        assert all(t.status is Status.RETAINED for t in claimed)
        # A client that shows documents (the CLI's --json) still gets the document sent.
        more = await watched.next_tasks("w", "q", limit=2)
        assert [t.id for t in more] == ids[2:]
        assert docs[-1]["count"] == 2 and [d["id"] for d in docs[-1]["body"]] == ids[2:]
        assert await client.next_tasks("w", "q", limit=2) == []
