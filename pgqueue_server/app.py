"""create_app(config) -> Sanic: routes, the error table, middleware, and the listeners that own
the database pool, the Managers and the background maintenance."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from sanic import Sanic
from sanic.log import LOGGING_CONFIG_DEFAULTS

from pgqueue_core import Maintenance, Manager, System, queries, validate
from pgqueue_core.db import keep_session

from . import codec
from .access import request_finished, request_started
from .auth import Authenticator
from .config import ServerConfig
from .errors import ErrorHandler
from .events import EventHub
from .metrics import Metrics
from .middleware import RequestScope
from .protocol import ClientConnections
from .routes import api
from .sse import StreamLimits, StreamSettings
from .waiting import Waiters

log = logging.getLogger("pgqueue.server")


def logging_config() -> dict[str, Any]:
    """Sanic's logging plus plain lines for pgqueue's own loggers (requests, maintenance)."""
    # Copy the sections we add to (the handlers hold streams, which cannot be deep-copied).
    config = {
        key: dict(value) if isinstance(value, dict) else value
        for key, value in LOGGING_CONFIG_DEFAULTS.items()
    }
    config["formatters"]["pgqueue"] = {
        "format": "%(asctime)s %(levelname)s %(name)s: %(message)s",
    }
    config["handlers"]["pgqueue"] = {
        "class": "logging.StreamHandler",
        "formatter": "pgqueue",
        "stream": "ext://sys.stderr",
    }
    # Propagation stays on: the root logger has no handler unless someone embeds and
    # configures it on purpose (then they see the records too).
    for name in ("pgqueue", "pgqueue_core"):
        config["loggers"][name] = {"level": "INFO", "handlers": ["pgqueue"], "propagate": True}
    return config


def create_app(config: ServerConfig) -> Sanic:
    """The Sanic app serving the pgqueue API described by `config`. Serve it with
    `protocol=GuardedHttpProtocol` (pgqueue_server.protocol), as `pgqueue run` does: that is
    what enforces the header and body deadlines and the connections per client.

    The app is named `config.app_name`: two apps of one name cannot exist in one process
    (Sanic's registry) unless `Sanic.test_mode` is set."""
    app = Sanic(
        config.app_name,
        error_handler=ErrorHandler(config.retry_after),
        dumps=codec.dumps,
        env_prefix=None,
        configure_logging=config.configure_logging,
        log_config=logging_config() if config.configure_logging else None,
    )
    app.config.update(
        REQUEST_MAX_SIZE=config.max_body,
        ACCESS_LOG=False,
        FALLBACK_ERROR_FORMAT="json",
        NOISY_EXCEPTIONS=False,
        # Streams end on their own at shutdown (before_server_stop); this only bounds
        # ordinary requests still running.
        GRACEFUL_SHUTDOWN_TIMEOUT=5.0,
        # A retain may wait up to 60 s for a task (wait=); Sanic's default would cut it at 60.
        RESPONSE_TIMEOUT=90,
        # Sanic 25.12 with uvloop can fail its graceful-shutdown wait ("Event loop stopped
        # before Future completed") and then skip the after_server_stop listeners; the
        # standard loop shuts down cleanly, and this server is database-bound anyway.
        USE_UVLOOP=False,
    )
    app.ctx.config = config
    app.ctx.metrics = Metrics()
    app.ctx.stopping = asyncio.Event()
    app.ctx.streams = set()
    app.ctx.sse_settings = StreamSettings(
        keepalive=config.sse_keepalive,
        poll=config.sse_poll,
        retry_ms=config.sse_retry_ms,
        send_timeout=config.sse_send_timeout,
    )
    app.ctx.stream_limits = StreamLimits(config.retry_after, config.pool_max)
    app.ctx.client_connections = ClientConnections(config.max_connections_per_client)
    authenticator = Authenticator(config.all_credentials())
    app.ctx.authenticated = authenticator.enabled
    app.blueprint(api(config.prefix))
    app.on_request(RequestScope(authenticator, config.namespace))
    app.register_listener(_open, "before_server_start")
    app.register_listener(_stopping, "before_server_stop")
    app.register_listener(_close, "after_server_stop")
    app.add_signal(request_started, "http.lifecycle.request")
    app.add_signal(request_finished, "http.lifecycle.response")
    return app


async def _open(app: Sanic) -> None:
    """Pool, Managers (migrating the schema if needed) and maintenance for this process."""
    import asyncpg  # the driver of the core: the server only opens and closes the pool

    config: ServerConfig = app.ctx.config
    app.ctx.stopping = asyncio.Event()
    pool = await asyncpg.create_pool(
        config.dsn,
        min_size=config.pool_min,
        max_size=config.pool_max,
        # Behind PgBouncer's transaction pooling a named statement prepared on one server
        # connection is unknown to the next one: use unnamed statements only.
        statement_cache_size=0 if config.pgbouncer else 100,
        # pgqueue leaves no session state behind: skip asyncpg's reset round trip per release.
        reset=keep_session,
    )
    app.ctx.pool = pool
    try:
        app.ctx.manager = await Manager.new(
            pool,
            config.namespace,
            schema=config.schema,
            acquire_timeout=config.acquire_timeout,
            query_timeout=config.query_timeout,
        )
    except BaseException:
        await pool.close()
        raise
    # Everything below shares the Manager's connections: each knows when another waits.
    connections = app.ctx.manager.connections
    # The reserved namespace is readable over the API; this Manager only ever reads.
    app.ctx.system_manager = Manager(
        pool,
        validate.RESERVED_NAMESPACE,
        schema=config.schema,
        sql=queries.load(config.schema),
        acquire_timeout=config.acquire_timeout,
        query_timeout=config.query_timeout,
        connections=connections,
        notifier=app.ctx.manager.notifier,
        publisher=app.ctx.manager.publisher,
    )
    app.ctx.system = System(
        pool,
        config.schema,
        acquire_timeout=config.acquire_timeout,
        query_timeout=config.query_timeout,
        connections=connections,
        publisher=app.ctx.manager.publisher,
    )
    app.ctx.events = EventHub(app.ctx.manager)
    app.ctx.waiters = Waiters(app.ctx.manager.notifier)
    app.ctx.maintenance = None
    if config.maintenance:
        app.ctx.maintenance = Maintenance(
            pool, config.schema, connections=connections, publisher=app.ctx.manager.publisher
        )
        app.ctx.maintenance.start()
    log.info(
        "serving namespace %r under %r (auth %s; pool %d, acquire timeout %gs)",
        config.namespace,
        config.prefix or "/",
        "on" if config.auth_enabled else "off",
        config.pool_max,
        config.acquire_timeout,
    )
    for credential in config.all_credentials():
        scope = credential.scope
        log.info(
            "token %r: %s, %s",  # names and scopes only: tokens never reach the log
            scope.name,
            "every namespace" if scope.namespaces is None else ", ".join(sorted(scope.namespaces)),
            "read-only" if scope.read_only else "read-write",
        )


async def _stopping(app: Sanic) -> None:
    """Tell open event streams to finish and give them a moment to, so that shutdown finds
    no busy connection to wait for."""
    app.ctx.stopping.set()
    streams: set[asyncio.Task[Any]] = app.ctx.streams
    if streams:
        await asyncio.wait(list(streams), timeout=1.0)


async def _close(app: Sanic) -> None:
    maintenance = getattr(app.ctx, "maintenance", None)
    if maintenance is not None:
        await maintenance.stop()
    hub = getattr(app.ctx, "events", None)
    if hub is not None:
        await hub.close()
    manager = getattr(app.ctx, "manager", None)
    if manager is not None:
        await manager.publisher.close()
    pool = getattr(app.ctx, "pool", None)
    if pool is not None:
        try:
            await asyncio.wait_for(pool.close(), 5.0)
        except TimeoutError:
            pool.terminate()
