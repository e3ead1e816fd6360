"""Fixtures of the deployment tests: a real PgBouncer in transaction pooling mode."""

from __future__ import annotations

import os
import signal
import subprocess
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from tests.support.net import free_port
from tests.support.pgbouncer import PgBouncer, pgbouncer_binary, pgbouncer_config
from tests.support.waiting import wait_for


@pytest.fixture
async def pgbouncer(dsn: str, tmp_path: Path) -> AsyncIterator[PgBouncer]:
    """PgBouncer in transaction pooling mode in front of the test's database, on a free
    port. Run as `nobody` when the tests run as root (it refuses to run as root)."""
    binary = pgbouncer_binary()
    port = free_port()
    ini = tmp_path / "pgbouncer.ini"
    ini.write_text(pgbouncer_config(dsn, port))  # read before it drops privileges
    log = tmp_path / "pgbouncer.log"
    argv = [binary, *(["-u", "nobody"] if os.geteuid() == 0 else []), str(ini)]
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    parts = urlsplit(dsn)  # the same database name, any user (auth_type any), no query
    bouncer = PgBouncer(
        urlunsplit(parts._replace(netloc=f"postgres@127.0.0.1:{port}", query="")), log
    )

    async def answers() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"pgbouncer exited with {proc.returncode}: {bouncer.output()}")
        try:
            conn = await asyncpg.connect(bouncer.dsn, statement_cache_size=0, timeout=2)
        except (OSError, asyncpg.PostgresError):
            return False
        await conn.close()
        return True

    try:
        await wait_for(answers, 10, "pgbouncer to accept connections")
        yield bouncer
    finally:
        proc.send_signal(signal.SIGTERM)  # immediate shutdown
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
