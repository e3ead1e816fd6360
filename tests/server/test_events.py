"""GET /events (SPEC 7.5): observes the namespace and claims nothing; increasing ids, resume
with Last-Event-ID or a reset; filters; scoped like every route; a subscriber that falls
behind is dropped without slowing anyone; nothing is published while nobody watches."""

from __future__ import annotations

import asyncio
import socket
import time
from typing import Any

import pytest

from pgqueue_core import TaskMeta
from pgqueue_server.auth import TokenScope
from tests.support.server import Event, EventStream, Server, make_config, open_stream, serving_app
from tests.support.waiting import wait_for


async def _until(stream: EventStream, predicate: Any, within: float = 10) -> list[Event]:
    """Events (no keep-alives) until `predicate(events)` holds."""
    seen: list[Event] = []
    async with asyncio.timeout(within):
        while not predicate(seen):
            seen.append(await stream.next_event(within))
    return seen


def _changes(events: list[Event], kind: str = "task") -> list[tuple[str, Any]]:
    return [
        (e.json["change"], e.json.get("id", e.json.get("ticker")))
        for e in events
        if e.event == kind
    ]


async def _watching(srv: Server) -> None:
    """The hub's watcher row is stored (changes are published from now on)."""
    await wait_for(lambda: srv.app.ctx.events._watch.stored.is_set(), 5, "the hub to watch")


async def test_the_stream_sees_every_change_in_order(server: Server) -> None:
    async with open_stream(server, "/events?types=task,queue") as stream:
        await _watching(server)
        await server.post("/queue", {"queue": "q"})
        task = (await server.post("/task", {"queue": "q", "payload": 1})).json
        claimed = (await server.put("/task/q", params={"worker": "w"})).json
        await server.patch(f"/task/{claimed['id']}", {"result": "ok"})
        events = await _until(stream, lambda es: ("released", task["id"]) in _changes(es))
    assert stream.response.headers["Content-Type"].startswith("text/event-stream")
    assert [(e.event, e.json["change"]) for e in events if e.event == "queue"] == [
        ("queue", "created")
    ]
    assert _changes(events) == [
        ("created", task["id"]),
        ("retained", task["id"]),
        ("released", task["id"]),
    ]
    released = events[-1].json
    assert (released["status"], released["attempt"], released["queue"]) == ("released", 1, "q")
    retained = next(e.json for e in events if e.json.get("change") == "retained")
    assert isinstance(retained["waited"], int) and retained["waited"] >= 0  # nanoseconds
    ids = [int(e.id or 0) for e in events]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)


async def test_watching_consumes_no_firing(server: Server) -> None:
    """The console watches tickers fire; the firing still goes to the real consumer."""
    async with open_stream(server, "/events?types=ticker") as watcher:
        await _watching(server)
        await server.post("/ticker", {"ticker": "beat", "interval": "1h"})
        async with open_stream(server, "/ticker/next") as consumer:
            firing = await consumer.next_event()
        assert firing.json["ticker"] == "beat"
        events = await _until(watcher, lambda es: ("fired", "beat") in _changes(es, "ticker"))
    fired = next(e for e in events if e.json["change"] == "fired")
    assert fired.json["timestamp"] == firing.json["timestamp"]


async def test_filters_and_namespaces(server: Server) -> None:
    for namespace in ("default", "other"):
        await server.post("/queue", {"queue": "a"}, params={"namespace": namespace})
        await server.post("/queue", {"queue": "b"}, params={"namespace": namespace})
    async with open_stream(server, "/events?types=task&queue=b") as stream:
        await _watching(server)
        for namespace in ("other", "default"):
            for queue in ("a", "b"):
                await server.post(
                    "/task", {"queue": queue, "payload": namespace}, params={"namespace": namespace}
                )
        await server.post("/queue", {"queue": "c"})  # a queue change: not asked for
        mine = (await server.post("/task", {"queue": "b", "payload": "last"})).json
        events = await _until(stream, lambda es: ("created", mine["id"]) in _changes(es))
    assert {(e.json["namespace"], e.json["queue"]) for e in events} == {("default", "b")}
    assert {e.event for e in events} == {"task"}


async def test_resume_with_last_event_id_or_reset(server: Server) -> None:
    await server.post("/queue", {"queue": "q"})
    async with open_stream(server, "/events?types=task") as stream:
        await _watching(server)
        first = (await server.post("/task", {"queue": "q", "payload": 1})).json
        seen = await _until(stream, lambda es: bool(es))
    last_id = seen[-1].id
    assert last_id is not None and seen[-1].json["id"] == first["id"]
    # Meanwhile (the hub still watches, lingering): two more tasks.
    missed = [(await server.post("/task", {"queue": "q", "payload": i})).json for i in (2, 3)]
    await wait_for(
        lambda: sum(1 for e in server.app.ctx.events._ring if e.type == "task") >= 3,
        5,
        "the hub to keep the missed events",
    )
    async with open_stream(
        server, "/events?types=task", headers={"Last-Event-ID": last_id}
    ) as stream:
        again = await _until(stream, lambda es: len(es) >= 2)
    assert [e.json["id"] for e in again] == [t["id"] for t in missed]
    # An id the server no longer has (or never gave): a reset, then the stream goes on.
    async with open_stream(server, "/events?types=task", headers={"Last-Event-ID": "7"}) as stream:
        reset = await stream.next_event()
    assert reset.event == "reset"


async def test_stats_at_most_once_a_second(server: Server) -> None:
    await server.post("/queue", {"queue": "q"})
    await server.post("/task", {"queue": "q", "payload": 1})
    async with open_stream(server, "/events?types=stats") as stream:
        started = time.monotonic()
        stats = await _until(stream, lambda es: len(es) >= 2)
        elapsed = time.monotonic() - started
    assert elapsed >= 1.0
    body = stats[-1].json
    assert body["namespace"] == "default" and body["count"] == 1
    assert body["body"][0]["queue"] == "q" and body["body"][0]["counts"]["new"] == 1


async def test_scoped_like_every_route(dsn: str) -> None:
    scopes = (
        ("reader-token", TokenScope("reader", frozenset({"a"}), read_only=True)),
        ("other-token", TokenScope("other", frozenset({"b"}))),
    )
    config = make_config(dsn, token="admin-token", tokens=scopes)
    async with serving_app(config) as srv:
        reply = await srv.get("/events", params={"namespace": "a"}, token="other-token")
        assert reply.status == 403 and reply.json["error"] == "forbidden"
        assert (await srv.get("/events", token="")).status == 401
        async with open_stream(
            srv, "/events?namespace=a", headers={"Authorization": "Bearer reader-token"}
        ) as stream:
            assert stream.response.status == 200
        bad = await srv.get("/events", params={"types": "task,nope"})
        assert bad.status == 400 and "nope" in bad.json["reason"]


async def test_nothing_is_published_while_nobody_watches(server: Server) -> None:
    await server.post("/queue", {"queue": "q"})
    for i in range(20):
        await server.post("/task", {"queue": "q", "payload": i})
    await server.app.ctx.manager.publisher.refresh()
    await server.post("/task", {"queue": "q", "payload": "after"})
    await server.app.ctx.manager.publisher.send()
    assert server.app.ctx.manager.publisher.published == 0


async def test_a_subscriber_that_falls_behind_is_dropped(server: Server) -> None:
    """A stream that stops reading fills its queue and is dropped; creating tasks goes on at
    full speed meanwhile, and the other subscribers get everything."""
    server.app.ctx.events.backlog = 5000  # bursts of 2,000 below
    await server.post("/queue", {"queue": "q"})
    host, port = server.base.split("//")[1].split("/")[0].split(":")
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 2048)
    stalled.setblocking(False)
    loop = asyncio.get_running_loop()
    try:
        await loop.sock_connect(stalled, (host, int(port)))
        await loop.sock_sendall(
            stalled,
            f"GET {server.config.prefix}/events?types=task HTTP/1.1\r\nHost: x\r\n\r\n".encode(),
        )
        async with open_stream(server, "/events?types=task") as reader:
            await _watching(server)
            got: set[int] = set()
            ids: list[int] = []
            done = asyncio.Event()

            async def read() -> None:
                while not done.is_set() or not got >= set(ids):
                    got.add((await reader.next_event(30)).json["id"])

            reading = asyncio.create_task(read())
            started = time.monotonic()
            # 50,000 events for each subscriber: megabytes, more than socket buffers hold.
            manager = server.app.ctx.manager
            for _ in range(25):
                batch = [TaskMeta(payload=i) for i in range(2000)]
                ids.extend(await manager.create_tasks("q", batch))
                # The reader shares this event loop with the server and the producer: let it
                # keep up (the stalled one cannot, whatever the pace).
                await wait_for(lambda: len(got) >= len(ids) - 2000, 10, "the reader")
            creating = time.monotonic() - started
            done.set()
            async with asyncio.timeout(60):
                await reading
            assert got >= set(ids)
        await wait_for(
            lambda: not any(not s.dropped for s in server.app.ctx.events._subscriptions),
            10,
            "the stalled subscriber to be dropped",
        )
    finally:
        stalled.close()
    # Producers were not held up by the stalled subscriber.
    assert creating < 60


@pytest.mark.parametrize("path", ["/events"])
async def test_head_opens_no_stream(server: Server, path: str) -> None:
    reply = await server.call("HEAD", path)
    assert reply.status == 200 and reply.text == ""
    assert not server.app.ctx.events._subscriptions
