"""A real `pgqueue run` subprocess per test, and a runner for the `pgqueue` console script
(helpers in tests.support.cli)."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from pgqueue_tui.client import Client
from tests.support.cli import Result, Server, run_cli


@pytest.fixture
def log_dir() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="pgqueue-tui-") as folder:
        yield folder


@pytest.fixture
def start_server(dsn: str, log_dir: str) -> Iterator[Callable[..., Server]]:
    """Start servers on the test's database (extra flags such as --token); all stop after."""
    servers: list[Server] = []

    def start(*flags: str) -> Server:
        server = Server(dsn, *flags, log_dir=log_dir)
        servers.append(server)
        server.start()
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture
def server(start_server: Callable[..., Server]) -> Server:
    return start_server()


@pytest.fixture
def cli(server: Server) -> Callable[..., Result]:
    """`cli("queues", "--json")` against the test's server."""

    def run(*args: str, stdin: str | None = None, **env: str) -> Result:
        return run_cli(*args, url=server.url, stdin=stdin, **env)

    return run


@pytest.fixture
def api(server: Server) -> Callable[..., Any]:
    """`api("create_task", "q", TaskMeta(payload=1))`: arrange a test through the client
    library in-process (much cheaper than a `pgqueue` subprocess)."""

    def call(method: str, *args: Any, **kwargs: Any) -> Any:
        async def run() -> Any:
            async with Client(server.url) as client:
                return await getattr(client, method)(*args, **kwargs)

        return asyncio.run(run())

    return call
