"""The console against a real `pgqueue run`: one server per test process, a fresh namespace
per test (isolated and cheap); helpers to wait on what the screen shows in tests.support.console."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import asyncpg
import pytest

from pgqueue_core import Manager
from pgqueue_tui.app import ConsoleApp
from pgqueue_tui.client import Client
from tests.support.cli import Server
from tests.support.db import admin, with_database


@pytest.fixture(scope="session")
def console_server(
    admin_dsn: str, template_db: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """A `pgqueue run` shared by this test process's console tests."""
    name = f"pgq_console_{uuid.uuid4().hex[:10]}"
    asyncio.run(admin(admin_dsn, f"CREATE DATABASE {name} TEMPLATE {template_db}"))
    server = Server(with_database(admin_dsn, name), log_dir=str(tmp_path_factory.mktemp("srv")))
    try:
        server.start()
        yield server
    finally:
        server.stop()
        asyncio.run(admin(admin_dsn, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
def ns() -> str:
    """A namespace of this test alone."""
    return f"t{uuid.uuid4().hex[:12]}"


@pytest.fixture
async def client(console_server: Server, ns: str) -> AsyncIterator[Client]:
    """The API of the test's namespace, to arrange data and check what the console did."""
    async with Client(console_server.url, namespace=ns) as c:
        yield c


@pytest.fixture
async def manager(console_server: Server, ns: str) -> AsyncIterator[Manager]:
    """The core API on the server's database, for bulk set-ups (thousands of tasks)."""
    pool = await asyncpg.create_pool(console_server.dsn, min_size=1, max_size=2)
    try:
        yield await Manager.new(pool, ns)
    finally:
        await pool.close()


@pytest.fixture
def console(console_server: Server, ns: str) -> Callable[..., ConsoleApp]:
    """`console()` builds an app on the test's namespace (fast refresh for tests)."""

    def make(**options: Any) -> ConsoleApp:
        options.setdefault("refresh", 0.25)
        options.setdefault("theme", "pgqueue-dark")
        return ConsoleApp(Client(console_server.url, namespace=ns), **options)

    return make
