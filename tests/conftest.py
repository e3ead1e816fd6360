"""Real PostgreSQL for every test: a fresh database per test, cloned from a migrated template.

Where the server comes from, first that answers: $PGQUEUE_TEST_DSN; a local server at
127.0.0.1:5432; testcontainers when a Docker daemon answers; the embedded PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from pgqueue_core import Manager, Worker
from pgqueue_core.migrate import migrate

log = logging.getLogger(__name__)

LOCAL_DSNS = (
    "postgresql://postgres@127.0.0.1:5432/postgres",
    "postgresql://postgres@127.0.0.1:5432/test",
)


def with_database(dsn: str, database: str) -> str:
    """The same server and credentials, another database."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path="/" + database))


async def _answers(dsn: str) -> bool:
    try:
        conn = await asyncpg.connect(dsn, timeout=3)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    try:
        await conn.fetchval("SELECT 1")
        return True
    finally:
        await conn.close()


def _docker_postgres(stack: contextlib.ExitStack) -> str | None:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env().ping()
    except Exception:
        return None
    from testcontainers.postgres import PostgresContainer

    container = stack.enter_context(PostgresContainer("postgres:16-alpine", driver=None))
    return str(container.get_connection_url())


def _embedded_postgres(stack: contextlib.ExitStack) -> str:
    from pgqueue_core.embedded import EmbeddedPostgres

    folder = stack.enter_context(tempfile.TemporaryDirectory(prefix="pgqueue-test-"))
    server = EmbeddedPostgres(os.path.join(folder, "data"))
    stack.callback(server.stop)
    return server.start()


@pytest.fixture(scope="session")
def admin_dsn() -> Iterator[str]:
    """A DSN of a server where the tests may create and drop databases."""
    with contextlib.ExitStack() as stack:
        env = os.environ.get("PGQUEUE_TEST_DSN")
        if env:
            yield env
            return
        for dsn in LOCAL_DSNS:
            if asyncio.run(_answers(dsn)):
                yield dsn
                return
        dsn = _docker_postgres(stack)
        if dsn is None:
            dsn = _embedded_postgres(stack)
        yield dsn


async def _admin(admin_dsn: str, *statements: str) -> None:
    conn = await asyncpg.connect(admin_dsn)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def template_db(admin_dsn: str) -> Iterator[str]:
    """A database with the pgqueue schema migrated once; tests clone it."""
    name = f"pgq_tmpl_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(admin_dsn, f"CREATE DATABASE {name}"))

    async def setup() -> None:
        conn = await asyncpg.connect(with_database(admin_dsn, name))
        try:
            await migrate(conn)
        finally:
            await conn.close()

    asyncio.run(setup())
    try:
        yield name
    finally:
        asyncio.run(_admin(admin_dsn, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
def dsn(admin_dsn: str, template_db: str) -> Iterator[str]:
    """A fresh, migrated database of this test alone."""
    name = f"pgq_t_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(admin_dsn, f"CREATE DATABASE {name} TEMPLATE {template_db}"))
    try:
        yield with_database(admin_dsn, name)
    finally:
        asyncio.run(_admin(admin_dsn, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
def empty_dsn(admin_dsn: str) -> Iterator[str]:
    """A fresh database without the pgqueue schema (for migration tests)."""
    name = f"pgq_e_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(admin_dsn, f"CREATE DATABASE {name}"))
    try:
        yield with_database(admin_dsn, name)
    finally:
        asyncio.run(_admin(admin_dsn, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


async def close_pool(pool: asyncpg.Pool, timeout: float = 10.0) -> None:
    """Close a pool; if a test left connections checked out (it failed midway), cut them
    after `timeout` instead of waiting for ever."""
    try:
        await asyncio.wait_for(pool.close(), timeout)
    except TimeoutError:
        pool.terminate()


@pytest.fixture
async def pool(dsn: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=10)
    try:
        yield pool
    finally:
        await close_pool(pool)


@pytest.fixture
async def manager(pool: asyncpg.Pool) -> Manager:
    return await Manager.new(pool, "test")


@contextlib.asynccontextmanager
async def running(worker: Worker, *, within: float = 30.0) -> AsyncIterator[asyncio.Task[None]]:
    """`worker.run()` as a task for the duration of the block (which gets the task).

    Afterwards, whether the block passed or failed, the worker is stopped and awaited: a
    graceful stop for up to `within` seconds (none when the block failed), then a second
    stop (running handlers are cancelled), then the run task itself is cancelled, so a
    failing test never hangs on its worker. A run that failed, or did not stop in time,
    fails the test (unless the block already failed: its own error is the one reported).
    To stop the worker inside the block, call `worker.stop()` and await the task there.
    """
    run = asyncio.create_task(worker.run(), name=f"run-{worker.name}")
    failed = False
    try:
        yield run
    except BaseException:
        failed = True
        raise
    finally:
        stopped = await _stop_worker(worker, run, 0.0 if failed else within)
        if run.done() and not run.cancelled():
            error = run.exception()  # retrieved either way: no "never retrieved" warning
            if error is not None and not failed:
                raise error
        if not stopped and not failed:
            raise AssertionError(f"worker {worker.name} did not stop within {within}s")


async def _stop_worker(worker: Worker, run: asyncio.Task[None], within: float) -> bool:
    """Stop the worker, escalating; whether it stopped by itself within `within` seconds."""
    if run.done():
        return True
    worker.stop()
    done, _ = await asyncio.wait([run], timeout=within)
    if done:
        return True
    worker.stop()  # a second stop cancels the running handlers
    done, _ = await asyncio.wait([run], timeout=5)
    if not done:
        run.cancel()
        await asyncio.wait([run], timeout=5)
    return False
