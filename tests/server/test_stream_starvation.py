"""SPEC 7.2: a slow or stalled client never holds a database connection or transaction, and
one tenant's streams cannot starve another tenant's requests of pool connections."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator

import asyncpg

from pgqueue_server.auth import TokenScope
from tests.support.server import Server, make_config, serving_app

TENANT = "tenant-a-token"
ADMIN = "admin-token"
STREAMS = 32
WINDOW = 6.0  # seconds of load during which everything is measured


@contextlib.asynccontextmanager
async def stalled_streams(srv: Server, count: int) -> AsyncIterator[list[socket.socket]]:
    """`count` ticker streams of the tenant that never read a byte (tiny receive buffers,
    so the server's writes block at once)."""
    host, port = srv.base.split("//")[1].split("/")[0].split(":")
    request = (
        f"GET {srv.config.prefix}/ticker/next?namespace=a HTTP/1.1\r\nHost: {host}\r\n"
        f"Authorization: Bearer {TENANT}\r\nAccept: text/event-stream\r\n\r\n"
    ).encode()
    socks = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.setblocking(False)
            await asyncio.get_running_loop().sock_connect(sock, (host, int(port)))
            await asyncio.get_running_loop().sock_sendall(sock, request)
            socks.append(sock)
        yield socks
    finally:
        for sock in socks:
            sock.close()


async def test_stalled_streams_hold_no_transaction_and_starve_no_tenant(dsn: str) -> None:
    config = make_config(
        dsn,
        token=ADMIN,
        tokens=((TENANT, TokenScope("tenant-a", frozenset({"a"}))),),
        pool_max=4,
        acquire_timeout=2.0,
        sse_send_timeout=5.0,
    )
    payload = {"blob": "x" * 200_000}
    async with serving_app(config) as srv:
        for i in range(16):
            reply = await srv.post(
                "/ticker",
                {"ticker": f"t{i}", "interval": "1s", "payload": payload},
                params={"namespace": "a"},
                token=TENANT,
            )
            assert reply.status == 201, reply.text[:200]
        assert (await srv.post("/queue", {"queue": "b"}, params={"namespace": "b"})).status == 201
        observer = await asyncpg.connect(dsn)
        try:
            async with stalled_streams(srv, STREAMS):
                in_transaction, slowest, failures, requests = 0, 0.0, [], 0
                deadline = time.monotonic() + WINDOW
                while time.monotonic() < deadline:  # the window is the measurement
                    in_transaction = max(
                        in_transaction,
                        await observer.fetchval(
                            "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                            "current_database() AND state LIKE 'idle in transaction%' "
                            "AND now() - state_change > interval '0.5 seconds' "
                            "AND pid <> pg_backend_pid()"
                        ),
                    )
                    started = time.monotonic()
                    replies = await asyncio.gather(
                        srv.get("/queue/b", params={"namespace": "b"}),
                        srv.post("/task", {"queue": "b", "payload": 1}, params={"namespace": "b"}),
                    )
                    slowest = max(slowest, time.monotonic() - started)
                    requests += len(replies)
                    failures += [r.status for r in replies if r.status not in (200, 201)]
                    await asyncio.sleep(0.05)  # pacing of the probe, not a wait
                delivered = await observer.fetchval(
                    "SELECT count(*) FROM pgqueue.ticker WHERE namespace = 'a' "
                    "AND (fired_at IS NOT NULL OR claimed_at IS NOT NULL)"
                )
        finally:
            await observer.close()
    assert delivered > 0, "the streams never got a firing: the test applied no pressure"
    # (Between the statements of a short transaction, e.g. maintenance's, a connection is idle
    # in transaction for a moment; a send held it for seconds.)
    assert in_transaction == 0, f"{in_transaction} connection(s) held idle in transaction"
    assert not failures, f"{len(failures)} of {requests} requests of tenant b failed: {failures}"
    assert slowest < 1.0, f"a request of tenant b took {slowest:.2f}s"
