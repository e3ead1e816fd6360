"""ServerConfig: the one place the server's settings are read (CLI flags and environment)."""

from __future__ import annotations

import argparse
import dataclasses
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from pgqueue_core import InvalidArgument, validate
from pgqueue_core.embedded import default_data_dir

from .auth import ADMIN, Credential, TokenScope, check_unique, digest, parse_tokens

DEFAULT_ADDR = "localhost:8080"
DEFAULT_PREFIX = "/api"
MIB = 1024 * 1024
POOL_SIZE = 10
ACQUIRE_TIMEOUT = 5.0
QUERY_TIMEOUT = 30.0
MAX_STREAMS_PER_TOKEN = 32
# A request's headers must arrive within HEADER_TIMEOUT seconds (of the connection's start for
# its first request, of the request's first byte for the next ones), its body within
# BODY_TIMEOUT seconds after the headers: 1 MiB at 35 KB/s. Both are totals, unlike Sanic's
# REQUEST_TIMEOUT, which every byte restarts.
HEADER_TIMEOUT = 10.0
BODY_TIMEOUT = 30.0
# Enough for a few keep-alive worker pools behind one address (a NAT, a proxy).
MAX_CONNECTIONS_PER_CLIENT = 256
_PREFIX_RE = re.compile(r"^(/[A-Za-z0-9._~-]+)*$")
# Sanic's rule for app names.
_APP_NAME_RE = re.compile(r"^[a-zA-Z][a-zA-Z0-9_-]*$")


@dataclass(frozen=True, slots=True)
class ServerConfig:
    """Everything `create_app` needs. Secrets are kept out of `repr` (and so out of logs)."""

    dsn: str | None = field(default=None, repr=False)
    host: str = "localhost"
    port: int = 8080
    prefix: str = DEFAULT_PREFIX
    namespace: str = validate.DEFAULT_NAMESPACE
    # The admin token: every request but health needs it when set. Scoped tokens (per
    # namespace, read-only) arrive as `tokens` (in code) or `credentials` (from a tokens
    # file or PGQUEUE_TOKENS); see auth.py.
    token: str | None = field(default=None, repr=False)
    tokens: tuple[tuple[str, TokenScope], ...] = field(default=(), repr=False)
    credentials: tuple[Credential, ...] = field(default=(), repr=False)
    tls_cert: str | None = None
    tls_key: str | None = None
    workers: int = 1
    schema: str = "pgqueue"
    max_body: int = MIB
    pool_min: int = 1
    pool_max: int = POOL_SIZE
    # How long a request waits for a pooled connection before answering 503.
    acquire_timeout: float = ACQUIRE_TIMEOUT
    query_timeout: float = QUERY_TIMEOUT
    retry_after: int = 2
    # Ticker streams one token may hold open at once in this process (0: no limit); without
    # authentication the limit applies per client address.
    max_streams_per_token: int = MAX_STREAMS_PER_TOKEN
    # Slow clients: total deadlines for a request's headers and body (408 past them), and the
    # connections one client address may hold open in this process (0: no limit; 429 past it).
    header_timeout: float = HEADER_TIMEOUT
    body_timeout: float = BODY_TIMEOUT
    max_connections_per_client: int = MAX_CONNECTIONS_PER_CLIENT
    maintenance: bool = True
    # A PgBouncer in transaction pooling mode sits between the server and PostgreSQL: no
    # prepared statement may outlive a transaction, so asyncpg keeps no statement cache.
    pgbouncer: bool = False
    # SSE: keep-alive period (well under Sanic's 60 s response timeout), the longest sleep
    # before new tickers are noticed, the reconnect hint, and the longest a send may block.
    sse_keepalive: float = 10.0
    sse_poll: float = 1.0
    sse_retry_ms: int = 2000
    sse_send_timeout: float = 10.0
    log_requests: bool = True
    configure_logging: bool = False
    # The Sanic app's name. Sanic keeps every app in a registry keyed by name and refuses a
    # second app of a name in one process (unless Sanic.test_mode): give each app served at
    # the same time in one process a name of its own.
    app_name: str = "pgqueue"

    def __post_init__(self) -> None:
        object.__setattr__(self, "namespace", validate.namespace(self.namespace))
        object.__setattr__(self, "prefix", normalise_prefix(self.prefix))
        if (self.tls_cert is None) != (self.tls_key is None):
            raise InvalidArgument("--tls-cert and --tls-key must be given together")
        if self.workers < 1:
            raise InvalidArgument("--workers must be at least 1")
        if not _APP_NAME_RE.match(self.app_name):
            raise InvalidArgument(
                f"invalid app name {self.app_name!r}: a letter, then letters, digits, _ or -"
            )
        if not 0 < self.port < 65536:
            raise InvalidArgument(f"port {self.port} is out of range")
        if self.max_body < 1024:
            raise InvalidArgument("--max-body must be at least 1024 bytes")
        if self.pool_max < 1:
            raise InvalidArgument("--pool-size must be at least 1")
        object.__setattr__(self, "pool_min", max(0, min(self.pool_min, self.pool_max)))
        if not self.acquire_timeout > 0:
            raise InvalidArgument("--acquire-timeout must be positive")
        if not self.query_timeout > 0:
            raise InvalidArgument("--query-timeout must be positive")
        if self.max_streams_per_token < 0:
            raise InvalidArgument("--max-streams-per-token must be 0 (no limit) or more")
        if not self.header_timeout > 0:
            raise InvalidArgument("--header-timeout must be positive")
        if not self.body_timeout > 0:
            raise InvalidArgument("--body-timeout must be positive")
        if self.max_connections_per_client < 0:
            raise InvalidArgument("--max-connections-per-client must be 0 (no limit) or more")
        try:
            credentials = self.all_credentials()
        except UnicodeEncodeError:  # bytes from argv or the environment that are not UTF-8
            raise InvalidArgument(
                "a token is not UTF-8 text (check --token and PGQUEUE_TOKEN)"
            ) from None
        check_unique(credentials)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ServerConfig:
        """The settings `pgqueue run` would use without flags (PGQUEUE_DSN or DATABASE_URL,
        PGQUEUE_TOKEN, PGQUEUE_NAMESPACE), for serving `create_app` some other way."""
        config = parse_run_args([], env).config
        return dataclasses.replace(config, configure_logging=False)

    def all_credentials(self) -> list[Credential]:
        """Every accepted bearer token and what it may do (empty: no authentication)."""
        found = [Credential(digest(token), scope) for token, scope in self.tokens]
        found.extend(self.credentials)
        if self.token:
            found.append(Credential(digest(self.token), ADMIN))
        return found

    @property
    def auth_enabled(self) -> bool:
        return bool(self.token or self.tokens or self.credentials)

    @property
    def tls(self) -> dict[str, str] | None:
        if self.tls_cert is None or self.tls_key is None:
            return None
        return {"cert": self.tls_cert, "key": self.tls_key}

    @property
    def safe_dsn(self) -> str:
        """The DSN with any password hidden, fit for logs."""
        return redact_dsn(self.dsn or "")


def normalise_prefix(prefix: str) -> str:
    """'/api', 'api/' → '/api'; '' or '/' → '' (routes at the root)."""
    cleaned = "/" + prefix.strip().strip("/") if prefix.strip().strip("/") else ""
    if not _PREFIX_RE.match(cleaned):
        raise InvalidArgument(f"invalid --prefix {prefix!r}: use a path such as /api")
    return cleaned


def parse_addr(addr: str) -> tuple[str, int]:
    """'localhost:8080', ':8080' (every interface), '[::1]:8080' → (host, port)."""
    match = re.fullmatch(
        r"(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<host>[^:\[\]]*)):(?P<port>\d{1,5})", addr
    )
    if match is None:
        raise InvalidArgument(f"invalid --addr {addr!r}: use HOST:PORT, e.g. localhost:8080")
    host = match.group("v6") or match.group("host") or "0.0.0.0"
    port = int(match.group("port"))
    if not 0 < port < 65536:
        raise InvalidArgument(f"invalid --addr {addr!r}: port must be 1-65535")
    return host, port


def redact_dsn(dsn: str) -> str:
    try:
        parts = urlsplit(dsn)
    except ValueError:
        return "<unparseable DSN>"
    if parts.password is None:
        return dsn
    netloc = parts.netloc.replace(":" + parts.password + "@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def run_parser(prog: str = "pgqueue run") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=prog,
        description="Serve the pgqueue REST + SSE API. Without a DSN (argument, PGQUEUE_DSN "
        "or DATABASE_URL) an embedded PostgreSQL is started in "
        "${XDG_DATA_HOME:-~/.local/share}/pgqueue/postgres.",
    )
    parser.add_argument("dsn", nargs="?", help="PostgreSQL URL, e.g. postgresql://u@host/db")
    parser.add_argument("--addr", default=DEFAULT_ADDR, help="listen address (HOST:PORT)")
    parser.add_argument("--prefix", default=DEFAULT_PREFIX, help="path prefix of the API")
    parser.add_argument("--namespace", default=None, help="default namespace of requests")
    parser.add_argument(
        "--token",
        default=None,
        help="require 'Authorization: Bearer TOKEN' (prefer PGQUEUE_TOKEN: flags show in ps)",
    )
    parser.add_argument(
        "--tokens-file",
        default=None,
        help="JSON file of scoped tokens (per namespace, read-only; docs/security.md"
        "); also PGQUEUE_TOKENS_FILE, or the JSON itself in PGQUEUE_TOKENS",
    )
    parser.add_argument("--tls-cert", default=None, help="TLS certificate file (PEM)")
    parser.add_argument("--tls-key", default=None, help="TLS private key file (PEM)")
    parser.add_argument("--workers", type=int, default=1, help="server processes")
    parser.add_argument("--data-dir", default=None, help="embedded PostgreSQL data directory")
    parser.add_argument(
        "--pgbouncer",
        action="store_true",
        help="the DSN points at a PgBouncer in transaction pooling mode: use no cached "
        "prepared statements (also PGQUEUE_PGBOUNCER=1)",
    )
    limits = parser.add_argument_group("limits")
    limits.add_argument(
        "--pool-size",
        type=int,
        default=POOL_SIZE,
        help="database connections per server process (default %(default)s)",
    )
    limits.add_argument(
        "--acquire-timeout",
        type=float,
        default=ACQUIRE_TIMEOUT,
        help="seconds a request waits for a free connection before answering 503 "
        "(default %(default)s)",
    )
    limits.add_argument(
        "--query-timeout",
        type=float,
        default=QUERY_TIMEOUT,
        help="seconds a database statement may take before the request answers 503 "
        "(default %(default)s)",
    )
    limits.add_argument(
        "--max-body",
        type=parse_size,
        default=MIB,
        help="largest request body, e.g. 1MiB or 65536 (default 1MiB); larger: 413",
    )
    limits.add_argument(
        "--max-streams-per-token",
        type=int,
        default=MAX_STREAMS_PER_TOKEN,
        help="ticker streams one token may hold open (0: no limit; default %(default)s); more: 429",
    )
    limits.add_argument(
        "--header-timeout",
        type=float,
        default=HEADER_TIMEOUT,
        help="seconds a client has to send a request's headers, however slowly the bytes come "
        "(default %(default)s); later: 408 and the connection is closed",
    )
    limits.add_argument(
        "--body-timeout",
        type=float,
        default=BODY_TIMEOUT,
        help="seconds a client has to send a request's body after its headers "
        "(default %(default)s); later: 408 and the connection is closed",
    )
    limits.add_argument(
        "--max-connections-per-client",
        type=int,
        default=MAX_CONNECTIONS_PER_CLIENT,
        help="connections one client address may hold open per server process (0: no limit; "
        "default %(default)s); more: 429 and the connection is closed",
    )
    return parser


_SIZE_RE = re.compile(r"^\s*(\d+)\s*(|b|k|kb|kib|m|mb|mib)\s*$", re.IGNORECASE)
_SIZE_UNITS = {"": 1, "b": 1, "k": 1024, "kb": 1024, "kib": 1024, "m": MIB, "mb": MIB, "mib": MIB}


def parse_size(text: str) -> int:
    """'65536', '64k', '64KiB', '1MiB' → bytes (binary units)."""
    match = _SIZE_RE.match(text)
    if match is None:
        raise argparse.ArgumentTypeError(f"invalid size {text!r}: use e.g. 65536, 64KiB, 1MiB")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2).lower()]


def load_credentials(path: str | None, inline: str | None) -> tuple[Credential, ...]:
    """The scoped tokens of a tokens file and of PGQUEUE_TOKENS (the same JSON), together."""
    found: list[Credential] = []
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise InvalidArgument(f"cannot read the tokens file {path}: {exc}") from None
        found.extend(parse_tokens(text, f"tokens file {path}"))
    if inline and inline.strip():
        found.extend(parse_tokens(inline, "PGQUEUE_TOKENS"))
    return tuple(found)


def tokens_file_warning(path: str | None) -> str | None:
    """A warning when a tokens file can be read by other users."""
    if not path:
        return None
    try:
        mode = Path(path).stat().st_mode
    except OSError:
        return None
    if mode & 0o077:
        return (
            f"the tokens file {path} is readable by other users (mode {mode & 0o777:o}): "
            "chmod 600 it, or store 'sha256' digests instead of tokens"
        )
    return None


@dataclass(frozen=True, slots=True)
class RunOptions:
    """What `pgqueue run` was asked for: the server config and, without a DSN, where the
    embedded PostgreSQL lives."""

    config: ServerConfig
    data_dir: Path
    warnings: tuple[str, ...] = ()


def parse_run_args(argv: Sequence[str], env: Mapping[str, str] | None = None) -> RunOptions:
    """Flags first, then the environment (PGQUEUE_DSN, DATABASE_URL, PGQUEUE_TOKEN,
    PGQUEUE_TOKENS_FILE, PGQUEUE_TOKENS, PGQUEUE_NAMESPACE). Raises InvalidArgument for bad
    values; argparse exits on bad flags."""
    env = os.environ if env is None else env
    args = run_parser().parse_args(list(argv))
    host, port = parse_addr(args.addr)
    dsn = args.dsn or env.get("PGQUEUE_DSN") or env.get("DATABASE_URL") or None
    tokens_file = args.tokens_file or env.get("PGQUEUE_TOKENS_FILE") or None
    credentials = load_credentials(tokens_file, env.get("PGQUEUE_TOKENS"))
    warning = tokens_file_warning(tokens_file)
    config = ServerConfig(
        dsn=dsn,
        host=host,
        port=port,
        prefix=args.prefix,
        namespace=args.namespace or env.get("PGQUEUE_NAMESPACE") or validate.DEFAULT_NAMESPACE,
        token=args.token or env.get("PGQUEUE_TOKEN") or None,
        credentials=credentials,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        workers=args.workers,
        pool_max=args.pool_size,
        acquire_timeout=args.acquire_timeout,
        query_timeout=args.query_timeout,
        max_body=args.max_body,
        max_streams_per_token=args.max_streams_per_token,
        header_timeout=args.header_timeout,
        body_timeout=args.body_timeout,
        max_connections_per_client=args.max_connections_per_client,
        pgbouncer=args.pgbouncer
        or env.get("PGQUEUE_PGBOUNCER", "").strip().lower() in {"1", "true", "yes", "on"},
        configure_logging=True,
    )
    data_dir = Path(args.data_dir) if args.data_dir else default_data_dir(env)
    return RunOptions(config=config, data_dir=data_dir, warnings=(warning,) if warning else ())
