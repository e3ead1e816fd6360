"""The database goes away under a running `pgqueue run`: every API call answers 503 with the
error body and `Retry-After` within a bounded time (no request hangs), health is 503, and
everything resumes by itself when the database is back. Also with the database frozen (no
answer at all, as behind a network partition) rather than stopped."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from pathlib import Path
from typing import Any

import aiohttp

from pgqueue_core.embedded import EmbeddedPostgres
from tests.support.cluster import freeze, tcp_dsn, thaw
from tests.support.processes import call, http_session, serving
from tests.support.waiting import wait_for

# Every endpoint, as (method, path, options); {id} is a task of the queue.
CALLS: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/namespace", {}),
    ("GET", "/queue", {}),
    ("GET", "/queue/jobs", {}),
    ("POST", "/queue", {"json": {"queue": "other"}}),
    ("PATCH", "/queue/jobs", {"json": {"retries": 4}}),
    ("GET", "/task", {"params": {"queue": "jobs"}}),
    ("POST", "/task", {"json": {"queue": "jobs", "payload": {"n": 1}}}),
    ("PUT", "/task", {"params": {"worker": "w"}}),
    ("PUT", "/task/jobs", {"params": {"worker": "w"}}),
    ("GET", "/task/{id}", {}),
    ("PATCH", "/task/{id}", {"json": {"result": 1}}),
    ("GET", "/ticker", {}),
    ("POST", "/ticker", {"json": {"ticker": "t2", "interval": "1h"}}),
    ("GET", "/ticker/beat", {}),
    ("GET", "/metrics", {}),
    ("GET", "/health", {}),
]
BOUND = 3.0  # seconds: the longest any request may take while the database is away


async def _setup(http: aiohttp.ClientSession, base: str) -> int:
    status, _, _, _ = await call(http, "POST", base + "/queue", json={"queue": "jobs"})
    assert status == 201
    status, _, _, _ = await call(
        http, "POST", base + "/ticker", json={"ticker": "beat", "interval": "1s"}
    )
    assert status == 201
    status, task, _, _ = await call(
        http, "POST", base + "/task", json={"queue": "jobs", "payload": 0}
    )
    assert status == 201
    return int(task["id"])


async def _every_call(http: aiohttp.ClientSession, base: str, task_id: int) -> list[Any]:
    """All endpoints at once (plus a second round of the same), each timed."""
    requests = [
        call(http, method, base + path.format(id=task_id), **options)
        for method, path, options in CALLS * 2
    ]
    return list(await asyncio.gather(*requests))


def _assert_503(replies: list[Any], what: str) -> float:
    """Every reply a 503 with the error body and Retry-After; returns the slowest."""
    for (method, path, _), (status, body, headers, seconds) in zip(CALLS * 2, replies, strict=True):
        where = f"{method} {path} ({what})"
        assert status == 503, (where, status, body)
        assert body["object"] == "error" and body["code"] == 503, where
        assert "database" in body["reason"] or "connection" in body["reason"], body
        assert int(headers["Retry-After"]) >= 1, where
        assert seconds < BOUND, (where, seconds)
    return max(seconds for *_, seconds in replies)


async def _read_tickers(url: str, got: list[float]) -> None:
    """A raw SSE client: record when each ticker event arrives (until cancelled)."""
    timeout = aiohttp.ClientTimeout(total=None, sock_read=30)
    async with (
        aiohttp.ClientSession(timeout=timeout) as http,
        http.get(url, headers={"Accept": "text/event-stream"}) as resp,
    ):
        assert resp.status == 200
        async for line in resp.content:
            if line.startswith(b"event: ticker"):
                got.append(time.monotonic())


async def test_database_stopped_then_back(cluster: EmbeddedPostgres, tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    async with (
        serving(tcp_dsn(cluster), log, "--acquire-timeout", "1") as server,
        http_session() as http,
    ):
        base = server.base
        task_id = await _setup(http, base)
        before: list[float] = []
        early = asyncio.create_task(_read_tickers(base + "/ticker/next", before))
        await wait_for(lambda: len(before) >= 1, 10, "a ticker before the outage")

        await asyncio.to_thread(cluster.stop)
        down_at = time.monotonic()
        slowest = _assert_503(await _every_call(http, base, task_id), "database stopped")
        # A stream opened during the outage is served (keep-alives) and delivers later.
        during: list[float] = []
        late = asyncio.create_task(_read_tickers(base + "/ticker/next", during))
        slowest = max(slowest, _assert_503(await _every_call(http, base, task_id), "again"))
        outage = time.monotonic() - down_at

        await asyncio.to_thread(cluster.start)
        up_at = time.monotonic()

        # Every endpoint works again, nothing restarted by hand.
        recovery = await _recovered(http, base, task_id)
        await wait_for(lambda: any(t > up_at for t in before), 10, "the old stream to resume")
        # Each firing goes to one stream: with the old one gone the new one must get the next
        # (while both are open the old one may win every race for the 1 s ticker).
        await _stop_reading(early)
        await wait_for(lambda: len(during) >= 1, 10, "the stream opened in the outage")
        await _stop_reading(late)
    output = log.read_text()
    assert "Traceback" not in output
    _report("stopped", slowest=slowest, outage=outage, recovery=recovery)


async def test_database_frozen_then_back(cluster: EmbeddedPostgres, tmp_path: Path) -> None:
    """SIGSTOP every PostgreSQL process: sockets stay open and nothing answers, so only the
    server's own timeouts (acquire, query) bound a request."""
    log = tmp_path / "server.log"
    flags = ("--acquire-timeout", "1", "--query-timeout", "1.5")
    async with serving(tcp_dsn(cluster), log, *flags) as server, http_session() as http:
        base = server.base
        task_id = await _setup(http, base)
        freeze(cluster)
        try:
            slowest = _assert_503(await _every_call(http, base, task_id), "database frozen")
        finally:
            thaw(cluster)

        recovery = await _recovered(http, base, task_id)
    _report("frozen", slowest=slowest, recovery=recovery)


async def _stop_reading(reader: asyncio.Task[None]) -> None:
    reader.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await reader


async def _recovered(http: aiohttp.ClientSession, base: str, task_id: int) -> float:
    """Seconds until health answers 200 again; then every endpoint must work."""

    async def healthy() -> bool:
        status, _, _, _ = await call(http, "GET", base + "/health")
        return status == 200

    recovery = await wait_for(healthy, 15, "health to turn 200 again")
    for method, path, options in CALLS:
        status, body, _, _ = await call(http, method, base + path.format(id=task_id), **options)
        assert status < 400 or status in (404, 409), (method, path, status, body)
    return recovery


def _report(case: str, **figures: float) -> None:
    """Figures for the README (Reliability) (shown with `pytest -s`)."""
    print(f"\nunreachable[{case}]:", json.dumps({k: round(v, 3) for k, v in figures.items()}))
