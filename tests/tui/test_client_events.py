"""Client.events against a real server: typed changes, filters, counts, resuming with
Last-Event-ID, a reset after a server restart, and bad input."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

import pytest

from pgqueue_core import InvalidArgument, NotFound, QueueMeta, Status, TaskMeta, TickerMeta
from pgqueue_core.models import QueueChange, TaskChange, TickerChange
from pgqueue_tui.client import Client, ConnectionFailed
from pgqueue_tui.events import EventStream, Reset, Stats, WatchEvent
from tests.support.cli import Server
from tests.support.net import free_port

# An id the server never gave: the stream starts with a reset, which the server sends once
# the subscription is live (so that changes made after it are certainly seen).
NOT_OURS = 1


async def _ready(stream: EventStream) -> None:
    async with asyncio.timeout(15):
        first = await anext(stream)
    assert isinstance(first, Reset), first


async def _until(
    stream: EventStream, predicate: Callable[[list[WatchEvent]], bool], within: float = 15
) -> list[WatchEvent]:
    seen: list[WatchEvent] = []
    async with asyncio.timeout(within):
        while not predicate(seen):
            seen.append(await anext(stream))
    return seen


def _tasks(events: list[WatchEvent]) -> list[tuple[str, int]]:
    return [(e.change, e.id) for e in events if isinstance(e, TaskChange)]


async def test_events_are_typed_and_claim_nothing(server: Server) -> None:
    client = Client(server.url, namespace="watched")
    async with client, client.events(last_event_id=NOT_OURS) as stream:
        await _ready(stream)
        await client.create_queue(QueueMeta(queue="q"))
        task = await client.create_task("q", TaskMeta(payload=1))
        claimed = await client.next_task("w", "q")
        assert claimed is not None and claimed.id == task.id
        await client.release_task(task.id, success=False, result={"error": "boom"})
        events = await _until(stream, lambda es: ("retry", task.id) in _tasks(es))
        stats = await _until(stream, lambda es: any(isinstance(e, Stats) for e in es))
    assert [e for e in events if isinstance(e, QueueChange)] == [
        QueueChange("watched", "q", "created")
    ]
    assert _tasks(events) == [("created", task.id), ("retained", task.id), ("retry", task.id)]
    retained = next(e for e in events if isinstance(e, TaskChange) and e.change == "retained")
    assert retained.status is Status.RETAINED and retained.attempt == 1
    assert isinstance(retained.waited, timedelta) and retained.waited >= timedelta(0)
    assert (
        next(e for e in events if isinstance(e, TaskChange) and e.change == "created").waited
        is None
    )
    counts = next(e for e in stats if isinstance(e, Stats))
    assert counts.namespace == "watched"
    assert [(s.queue, s.counts.get(Status.RETRY)) for s in counts.queues] == [("q", 1)]


async def test_filters_and_ticker_firings(server: Server) -> None:
    async with Client(server.url) as client:
        await client.create_queue(QueueMeta(queue="a"))
        await client.create_queue(QueueMeta(queue="b"))
        async with client.events(types=["task", "ticker"], queue="b", last_event_id=NOT_OURS) as s:
            await _ready(s)
            await client.create_task("a", TaskMeta(payload="a"))
            await client.create_ticker(TickerMeta(ticker="beat", interval=timedelta(hours=1)))
            b = await client.create_task("b", TaskMeta(payload="b"))
            async with client.ticker_stream() as consumer:  # a firing is a consumer's claim
                async with asyncio.timeout(15):
                    claimed = await anext(consumer)
            events = await _until(
                s,
                lambda es: (
                    ("created", b.id) in _tasks(es)
                    and any(isinstance(e, TickerChange) and e.change == "fired" for e in es)
                ),
            )
    assert _tasks(events) == [("created", b.id)]  # nothing of queue a
    assert not any(isinstance(e, (Stats, QueueChange)) for e in events)
    fired = next(e for e in events if isinstance(e, TickerChange) and e.change == "fired")
    assert (fired.ticker, fired.timestamp) == ("beat", claimed.timestamp)


async def test_resume_with_last_event_id(server: Server) -> None:
    """Events missed while away arrive on resuming from the last id seen."""
    seen_ids: list[str] = []
    async with Client(server.url) as client:
        await client.create_queue(QueueMeta(queue="q"))
        hook = lambda kind, event_id, doc: seen_ids.append(event_id)  # noqa: E731
        async with client.events(types=["task"], last_event_id=NOT_OURS, on_event=hook) as s:
            await _ready(s)
            first = await client.create_task("q", TaskMeta(payload=1))
            await _until(s, lambda es: ("created", first.id) in _tasks(es))
            last = s.last_event_id
        assert last == seen_ids[-1] and int(last) > NOT_OURS
        # Away: these happen while nobody's stream is open (the hub lingers watching).
        missed = [await client.create_task("q", TaskMeta(payload=n)) for n in range(3)]
        async with client.events(types=["task"], last_event_id=last) as resumed:
            events = await _until(resumed, lambda es: ("created", missed[-1].id) in _tasks(es))
    assert _tasks(events) == [("created", t.id) for t in missed]


async def test_a_restarted_server_resets_then_goes_on(server: Server) -> None:
    async with Client(server.url) as client:
        await client.create_queue(QueueMeta(queue="q"))
        async with client.events(types=["task"], max_delay=0.5, last_event_id=NOT_OURS) as s:
            await _ready(s)
            before = await client.create_task("q", TaskMeta(payload=1))
            await _until(s, lambda es: ("created", before.id) in _tasks(es))
            await asyncio.to_thread(server.kill)
            await asyncio.to_thread(server.start)
            # The new server cannot fill the gap: a reset, and the stream goes on.
            async with asyncio.timeout(30):
                assert isinstance(await anext(s), Reset)
            after = await client.create_task("q", TaskMeta(payload=2))
            events = await _until(s, lambda es: ("created", after.id) in _tasks(es))
            assert s.connections >= 2
    assert _tasks(events) == [("created", after.id)]


async def test_bad_input_and_unreachable_server(server: Server) -> None:
    async with Client(server.url) as client:
        with pytest.raises(InvalidArgument, match=r"unknown event type.*nope"):
            client.events(types=["task", "nope"])
        with pytest.raises(InvalidArgument, match="queue"):
            await anext(client.events(queue="Not A Name!"))
    async with Client(server.url, namespace="Bad Namespace") as other:
        with pytest.raises((InvalidArgument, NotFound)):
            await anext(other.events())
    async with Client(f"http://127.0.0.1:{free_port()}/api") as gone:
        with pytest.raises(ConnectionFailed):
            await anext(gone.events(fail_fast=True))
