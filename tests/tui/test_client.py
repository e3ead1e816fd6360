"""The typed client library against a real server: models, errors, streaming, reconnects."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web

from pgqueue_core import (
    Conflict,
    InvalidArgument,
    NotFound,
    PgQueueError,
    Queue,
    QueueMeta,
    Status,
    Task,
    TaskMeta,
    Ticker,
    TickerMeta,
    Unavailable,
)
from pgqueue_tui.client import Client, ConnectionFailed, Page, ProtocolError
from pgqueue_tui.errors import ServerError, Unauthorized
from tests.support.cli import Server
from tests.support.net import free_port


async def test_queues_are_typed(server: Server) -> None:
    async with Client(server.url, namespace="lib") as client:
        queue = await client.create_queue(
            QueueMeta(queue="emails", ttl=timedelta(hours=2), retries=5, concurrency=3)
        )
        assert isinstance(queue, Queue)
        assert (queue.namespace, queue.ttl, queue.retries) == ("lib", timedelta(hours=2), 5)
        assert queue.concurrency == 3
        assert queue.paused is False
        assert queue.created_at.tzinfo is not None

        page = await client.list_queues()
        assert isinstance(page, Page)
        count, items = page
        assert (count, items) == (1, [queue])
        assert await client.get_queue("emails") == queue

        renamed = await client.update_queue("emails", QueueMeta(queue="mail", retries=1))
        assert (renamed.queue, renamed.retries, renamed.ttl) == ("mail", 1, timedelta(hours=2))
        assert (await client.pause_queue("mail")).paused is True
        assert (await client.resume_queue("mail")).paused is False
        limited = await client.update_queue(
            "mail", QueueMeta(rate=2.5, burst=5, weight=7, breaker_threshold=3)
        )
        assert (limited.rate, limited.burst, limited.weight) == (2.5, 5, 7)
        assert (limited.breaker_threshold, limited.breaker) == (3, "closed")
        reset = await client.reset_breaker("mail")
        assert isinstance(reset, Queue)
        assert reset == await client.get_queue("mail")
        summary = (await client.queue_summaries())[0]
        assert (summary.rate, summary.breaker, summary.breaker_open_until) == (2.5, "closed", None)
        assert "lib" in await client.list_namespaces()
        assert (await client.delete_queue("mail")).queue == "mail"
        assert (await client.list_queues()).count == 0


async def test_tasks_are_typed(server: Server) -> None:
    async with Client(server.url) as client:
        await client.create_queue(QueueMeta(queue="q", retries=0))
        task = await client.create_task("q", TaskMeta(payload={"a": [1, 2]}, priority=2))
        assert isinstance(task, Task)
        assert (task.status, task.payload, task.priority) == (Status.NEW, {"a": [1, 2]}, 2)
        assert await client.get_task(task.id) == task

        same, created = await client.create_task_or_get("q", TaskMeta(payload=None, key="k"))
        again, created_again = await client.create_task_or_get("q", TaskMeta(payload=1, key="k"))
        assert (created, created_again, again.id) == (True, False, same.id)

        retained = await client.next_task("worker-1", "q")
        assert retained is not None
        assert retained.id == task.id
        assert (retained.status, retained.worker, retained.attempt) == (
            Status.RETAINED,
            "worker-1",
            1,
        )
        beat = await client.extend_lease(task.id, timedelta(minutes=10), worker="worker-1")
        assert beat.leased_until is not None
        assert beat.leased_until > datetime.now(UTC) + timedelta(minutes=9)
        failed = await client.release_task(task.id, success=False, result={"error": "x"})
        assert (failed.status, failed.result) == (Status.FAILED, {"error": "x"})
        requeued = await client.requeue_task(task.id)
        assert requeued.status is Status.NEW

        other = await client.next_task("worker-2")  # any queue
        assert other is not None
        done = await client.release_task(other.id, result=[1])
        assert done.status is Status.RELEASED
        assert done.finished_at is not None

        cancelled = await client.cancel_task(same.id)
        assert cancelled.status is Status.CANCELLED
        assert await client.requeue_tasks("q", Status.CANCELLED) == 1

        count, tasks = await client.list_tasks(queue="q", limit=1)
        assert count == 2
        assert len(tasks) == 1
        summary = (await client.queue_summaries())[0]
        assert (summary.queue, summary.counts[Status.NEW], summary.waiting) == ("q", 1, 1)
        assert summary.counts[Status.RELEASED] == 1


async def test_errors_are_the_core_classes(server: Server) -> None:
    async with Client(server.url) as client:
        with pytest.raises(NotFound) as missing:
            await client.get_queue("nope")
        assert "nope" in str(missing.value)
        assert not str(missing.value).startswith("Not Found")
        await client.create_queue(QueueMeta(queue="q"))
        with pytest.raises(Conflict):
            await client.create_queue(QueueMeta(queue="q"))
        with pytest.raises(InvalidArgument):
            await client.create_task(
                "q", TaskMeta(payload=1, delayed_at=datetime(2001, 1, 1, tzinfo=UTC))
            )
        with pytest.raises(InvalidArgument):
            await client.list_tasks(status="bogus")
        with pytest.raises(NotFound):
            await client.release_task(12345)
        task = await client.create_task("q", TaskMeta(payload=1))
        await client.cancel_task(task.id)
        with pytest.raises(Conflict):
            await client.cancel_task(task.id)
        assert await client.next_task("w", "q") is None


async def test_namespaces_are_isolated(server: Server) -> None:
    async with Client(server.url, namespace="one") as one:
        two = one.with_namespace("two")
        await one.create_queue(QueueMeta(queue="q"))
        with pytest.raises(NotFound):
            await two.get_queue("q")
        await two.create_queue(QueueMeta(queue="q", retries=9))
        assert (await one.get_queue("q")).retries != 9
    assert two.namespace == "two"


async def test_unreachable_server_raises_connection_failed() -> None:
    url = f"http://127.0.0.1:{free_port()}/api"
    async with Client(url) as client:
        with pytest.raises(ConnectionFailed) as failed:
            await client.list_queues()
    assert isinstance(failed.value, Unavailable)
    assert failed.value.url == url
    assert url in str(failed.value)


async def test_bad_url_is_rejected_at_once() -> None:
    with pytest.raises(InvalidArgument):
        Client("localhost:8080")


async def test_token(start_server: Callable[..., Server]) -> None:
    server = start_server("--token", "s3cret")
    async with Client(server.url) as anonymous:
        with pytest.raises(Unauthorized):
            await anonymous.list_queues()
        with pytest.raises(Unauthorized):
            async with anonymous.ticker_stream() as stream:
                await anext(stream)
    async with Client(server.url, token="s3cret") as client:
        assert (await client.list_queues()).count == 0


async def test_errors_come_back_as_the_class_and_key_raised(server: Server) -> None:
    async with Client(server.url) as client:
        with pytest.raises(NotFound) as missing:
            await client.get_queue("nope")
        assert missing.value.key == "queue_not_found"
        await client.create_queue(QueueMeta(queue="q"))
        with pytest.raises(Conflict) as exists:
            await client.create_queue(QueueMeta(queue="q"))
        assert exists.value.key == "queue_exists"
        task = await client.create_task("q", TaskMeta(payload=1))
        with pytest.raises(NotFound) as not_retained:
            await client.release_task(task.id)
        assert not_retained.value.key == "task_not_retained"
        assert "not retained" in str(not_retained.value)


async def test_on_json_sees_the_wire_documents(server: Server) -> None:
    seen: list[Any] = []
    async with Client(server.url, on_json=seen.append) as client:
        await client.create_queue(QueueMeta(queue="q", ttl=timedelta(seconds=90)))
    assert seen[-1]["ttl"] == 90 * 10**9


async def test_ticker_stream_yields_tickers_and_reconnects(server: Server) -> None:
    states: list[tuple[bool, str | None]] = []
    async with Client(server.url) as client:
        await client.create_ticker(
            TickerMeta(ticker="tick", interval=timedelta(seconds=1), payload={"n": 1})
        )
        async with client.ticker_stream(max_delay=1.0) as stream:
            stream.on_state = lambda up, error: states.append((up, str(error) if error else None))
            async with asyncio.timeout(15):
                first = await anext(stream)
            assert isinstance(first, Ticker)
            assert (first.ticker, first.payload, first.interval) == (
                "tick",
                {"n": 1},
                timedelta(seconds=1),
            )
            assert stream.connected

            await asyncio.to_thread(server.kill)
            await asyncio.to_thread(server.start)
            async with asyncio.timeout(30):
                second = await anext(stream)
            assert second.ticker == "tick"
            assert first.timestamp is not None
            assert second.timestamp is not None
            assert second.timestamp > first.timestamp
            assert stream.connected
            assert stream.connections >= 2
        assert not stream.connected
    assert states[0] == (True, None)
    assert (False, None) in states or any(not up and err for up, err in states)
    assert states[-1] == (True, None)  # closing is not reported as a lost connection


async def test_ticker_stream_fail_fast() -> None:
    url = f"http://127.0.0.1:{free_port()}/api"
    async with Client(url) as client:
        stream = client.ticker_stream(fail_fast=True)
        with pytest.raises(ConnectionFailed):
            await anext(stream)


async def test_ticker_stream_keeps_trying_until_the_server_comes(dsn: str, log_dir: str) -> None:
    server = Server(dsn, log_dir=log_dir)  # not started yet
    try:
        async with Client(server.url) as client:
            stream = client.ticker_stream(max_delay=0.5)
            waiting = asyncio.ensure_future(anext(stream))
            await asyncio.to_thread(server.start)
            async with Client(server.url) as admin:
                await admin.create_ticker(TickerMeta(ticker="late", interval=timedelta(hours=1)))
            async with asyncio.timeout(20):
                ticker = await waiting
            assert ticker.ticker == "late"
            await stream.aclose()
    finally:
        server.stop()


async def test_server_documents(server: Server) -> None:
    async with Client(server.url) as client:
        assert (await client.health())["status"] == "ok"
        assert "# TYPE" in await client.metrics()
        assert "/queue" in (await client.openapi())["paths"]
        with pytest.raises(PgQueueError) as wrong_method:
            await client.request("DELETE", "/namespace")
        assert isinstance(wrong_method.value, ServerError)
        assert (wrong_method.value.status, wrong_method.value.key) == (405, "method_not_allowed")


async def test_something_else_answering_is_a_protocol_error() -> None:
    async def page(request: web.Request) -> web.Response:
        return web.Response(text="<html>not pgqueue</html>", content_type="text/html")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", page)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with Client(f"http://127.0.0.1:{port}/api") as client:
            with pytest.raises(ProtocolError, match="not JSON"):
                await client.list_queues()
            with pytest.raises(ProtocolError, match="not an event stream"):
                await anext(client.ticker_stream())
    finally:
        await runner.cleanup()
