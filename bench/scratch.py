"""The benchmarks' database: a scratch database on a given server, or a PostgreSQL cluster
of the benchmark's own (the embedded one, on a free port in a temporary directory); either is
removed afterwards, so a benchmark never needs a particular database to exist.

The server comes from `--dsn`, else BENCH_DSN, else PGQUEUE_DSN; with none, the own cluster.
"""

from __future__ import annotations

import contextlib
import os
import socket
import tempfile
import uuid
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import asyncpg


def default_dsn() -> str | None:
    return os.environ.get("BENCH_DSN") or os.environ.get("PGQUEUE_DSN") or None


@contextlib.asynccontextmanager
async def scratch_database(
    dsn: str | None, prefix: str = "pgq_bench", settings: list[str] | None = None
) -> AsyncIterator[str]:
    """A fresh database on `dsn`'s server (any database of it names the server), or on a
    cluster of its own; `settings` (NAME=VALUE) are applied to the own cluster only."""
    if dsn is not None:
        if settings:
            raise SystemExit("--set changes a whole server: only with the benchmark's own cluster")
        name = f"{prefix}_{uuid.uuid4().hex[:8]}"
        conn = await asyncpg.connect(dsn)
        await conn.execute(f"CREATE DATABASE {name}")
        await conn.close()
        try:
            yield urlunsplit(urlsplit(dsn)._replace(path="/" + name))
        finally:
            conn = await asyncpg.connect(dsn)
            await conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            await conn.close()
        return
    from pgqueue_core.embedded import EmbeddedPostgres

    print("no DSN (--dsn, BENCH_DSN, PGQUEUE_DSN): starting a PostgreSQL of its own", flush=True)
    with tempfile.TemporaryDirectory(prefix="pgq-bench-") as folder:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        cluster = EmbeddedPostgres(os.path.join(folder, "pg"), port=port)
        try:
            own = await cluster.astart()
            conn = await asyncpg.connect(own)
            try:
                for setting in settings or []:
                    key, _, value = setting.partition("=")
                    await conn.execute(f"ALTER SYSTEM SET {key} = '{value}'")
                await conn.execute("SELECT pg_reload_conf()")
            finally:
                await conn.close()
            yield own
        finally:
            await cluster.astop()
