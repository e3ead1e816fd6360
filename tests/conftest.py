"""Real PostgreSQL for every test: a fresh database per test, cloned from a migrated template.

Where the server comes from, first that answers: $PGQUEUE_TEST_DSN; a local server at
127.0.0.1:5432; testcontainers when a Docker daemon answers; the embedded PostgreSQL.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest

from pgqueue_core import Manager
from pgqueue_core.migrate import migrate
from tests.support.db import (
    LOCAL_DSNS,
    admin,
    answers,
    close_pool,
    docker_postgres,
    embedded_postgres,
    with_database,
)


@pytest.fixture(scope="session")
def admin_dsn() -> Iterator[str]:
    """A DSN of a server where the tests may create and drop databases."""
    with contextlib.ExitStack() as stack:
        env = os.environ.get("PGQUEUE_TEST_DSN")
        if env:
            yield env
            return
        for dsn in LOCAL_DSNS:
            if asyncio.run(answers(dsn)):
                yield dsn
                return
        dsn = docker_postgres(stack)
        if dsn is None:
            dsn = embedded_postgres(stack)
        yield dsn


@pytest.fixture(scope="session")
def template_db(admin_dsn: str) -> Iterator[str]:
    """A database with the pgqueue schema migrated once; tests clone it."""
    name = f"pgq_tmpl_{uuid.uuid4().hex[:12]}"
    asyncio.run(admin(admin_dsn, f"CREATE DATABASE {name}"))

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
        asyncio.run(admin(admin_dsn, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
def dsn(admin_dsn: str, template_db: str) -> Iterator[str]:
    """A fresh, migrated database of this test alone."""
    name = f"pgq_t_{uuid.uuid4().hex[:12]}"
    asyncio.run(admin(admin_dsn, f"CREATE DATABASE {name} TEMPLATE {template_db}"))
    try:
        yield with_database(admin_dsn, name)
    finally:
        asyncio.run(admin(admin_dsn, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


@pytest.fixture
def empty_dsn(admin_dsn: str) -> Iterator[str]:
    """A fresh database without the pgqueue schema (for migration tests)."""
    name = f"pgq_e_{uuid.uuid4().hex[:12]}"
    asyncio.run(admin(admin_dsn, f"CREATE DATABASE {name}"))
    try:
        yield with_database(admin_dsn, name)
    finally:
        asyncio.run(admin(admin_dsn, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))


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


@pytest.fixture
async def conn(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """A connection of its own, for reading and rewriting rows behind the Manager's back."""
    connection = await asyncpg.connect(dsn)
    try:
        yield connection
    finally:
        await connection.close()
