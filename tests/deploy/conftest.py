"""Fixtures of the deployment tests: a real PgBouncer in transaction pooling mode."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit, urlunsplit

import asyncpg
import pytest

from .procs import free_port, wait_for

# Few server connections for many clients: statements of different clients really do take
# turns on the same PostgreSQL sessions, as in production.
SERVER_CONNECTIONS = 4


@dataclass(frozen=True)
class PgBouncer:
    dsn: str  # the test's database, through PgBouncer
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def pgbouncer_binary() -> str:
    """Debian's pgbouncer; fails in CI (which installs it), skips on a developer's machine."""
    found = shutil.which("pgbouncer") or next(
        (p for p in ("/usr/sbin/pgbouncer", "/usr/bin/pgbouncer") if os.path.exists(p)), None
    )
    if found:
        return found
    reason = "pgbouncer is not installed (apt-get install pgbouncer; .ci/run installs it)"
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(reason)
    pytest.skip(reason)


def _config(upstream: str, port: int) -> str:
    parts = urlsplit(upstream)
    query = dict(parse_qsl(parts.query))
    # A unix socket directory (the embedded PostgreSQL) arrives as ?host=/path.
    host = parts.hostname or query.get("host") or "127.0.0.1"
    upstream_port = parts.port or query.get("port") or 5432
    login = f"user={parts.username or 'postgres'}"
    if parts.password:
        login += f" password={parts.password}"
    return f"""[databases]
* = host={host} port={upstream_port} {login}

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = {port}
unix_socket_dir =
auth_type = any
pool_mode = transaction
default_pool_size = {SERVER_CONNECTIONS}
max_client_conn = 500
ignore_startup_parameters = extra_float_digits
"""


@pytest.fixture
async def pgbouncer(dsn: str, tmp_path: Path) -> AsyncIterator[PgBouncer]:
    """PgBouncer in transaction pooling mode in front of the test's database, on a free
    port. Run as `nobody` when the tests run as root (it refuses to run as root)."""
    binary = pgbouncer_binary()
    port = free_port()
    ini = tmp_path / "pgbouncer.ini"
    ini.write_text(_config(dsn, port))  # read before it drops privileges
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
