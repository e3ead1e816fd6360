"""A real PgBouncer in transaction pooling mode (the deployment tests' `pgbouncer` fixture)."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

import pytest

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


def pgbouncer_config(upstream: str, port: int) -> str:
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
