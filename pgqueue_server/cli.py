"""`pgqueue run [DSN]`: serve the API, on an embedded PostgreSQL when no DSN is given.

Sanic is imported once the arguments are good: `run --help` and usage errors stay quick."""

from __future__ import annotations

import asyncio
import dataclasses
import errno
import functools
import logging
import logging.config
import socket
import sys
from collections.abc import Mapping

from pgqueue_core import InvalidArgument

from .config import RunOptions, ServerConfig, parse_run_args, redact_dsn
from .tls import check_tls_files

log = logging.getLogger("pgqueue.server")


def run_main(argv: list[str], env: Mapping[str, str] | None = None) -> int:
    """The `run` command; returns the exit status (0 after a graceful shutdown)."""
    try:
        options = parse_run_args(argv, env)
    except InvalidArgument as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    except SystemExit as exc:  # argparse: --help (0) or a bad flag (2, message printed)
        return exc.code if isinstance(exc.code, int) else 2
    from .app import logging_config  # sanic's logging defaults

    logging.config.dictConfig(logging_config())
    for warning in options.warnings:
        log.warning("%s", warning)
    try:
        check_tls(options.config)
        check_address(options.config)
        return _run(options)
    except Exception as exc:
        log.debug("run failed", exc_info=True)
        message = str(exc) if isinstance(exc, RuntimeError | OSError) else repr(exc)
        print(f"Error: {message}", file=sys.stderr)
        return 1


def check_database(config: ServerConfig) -> None:
    """Connect once before serving, so a wrong DSN is one clear line, not a traceback."""
    import asyncpg  # the core's driver

    async def probe() -> None:
        conn = await asyncpg.connect(config.dsn, timeout=config.acquire_timeout)
        await conn.close()

    try:
        asyncio.run(probe())
    except Exception as exc:
        raise RuntimeError(
            f"cannot connect to PostgreSQL at {config.safe_dsn}: {type(exc).__name__}: {exc}"
        ) from exc


def check_address(config: ServerConfig) -> None:
    """Fail early, and clearly, on an address that cannot be listened on (before an
    embedded PostgreSQL is started for nothing, and instead of Sanic's bare errno)."""
    if config.port == 0:
        return
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            config.host, config.port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        with socket.socket(family, kind, proto) as probe:
            # As the server will bind: an old connection in TIME_WAIT does not count.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
    except OSError as exc:
        where = f"{config.host}:{config.port}"
        if exc.errno == errno.EADDRINUSE:
            reason = "the address is already in use (is another server running there?)"
        else:
            reason = exc.strerror or str(exc)
        raise RuntimeError(
            f"cannot listen on {where}: {reason}; choose another address with --addr HOST:PORT"
        ) from exc


def check_tls(config: ServerConfig) -> None:
    """Fail early, and clearly, on TLS files Sanic could not use."""
    if config.tls_cert is not None and config.tls_key is not None:
        check_tls_files(config.tls_cert, config.tls_key)


def _run(options: RunOptions) -> int:
    config = options.config
    if config.dsn is not None:
        log.info("using PostgreSQL at %s", config.safe_dsn)
        check_database(config)
        serve(config)
        return 0
    data_dir = options.data_dir
    try:
        from pgqueue_core.embedded import EmbeddedPostgres
    except ImportError as exc:  # pragma: no cover - the helper ships with the core
        raise RuntimeError(
            f"no DSN given and the embedded PostgreSQL is unavailable ({exc}); "
            "pass a DSN or set PGQUEUE_DSN"
        ) from exc
    log.info(
        "no DSN given (argument, PGQUEUE_DSN or DATABASE_URL): starting the embedded "
        "PostgreSQL in %s",
        data_dir,
    )
    embedded = EmbeddedPostgres(data_dir)
    try:
        dsn = embedded.start()
    except Exception as exc:
        raise RuntimeError(
            f"could not start the embedded PostgreSQL in {data_dir}: {exc} "
            "(pass a DSN or set PGQUEUE_DSN to use another server)"
        ) from exc
    log.info("embedded PostgreSQL ready at %s", redact_dsn(dsn))
    try:
        serve(dataclasses.replace(config, dsn=dsn))
    finally:
        log.info("stopping the embedded PostgreSQL")
        embedded.stop()
    return 0


def serve(config: ServerConfig) -> None:
    """Run the server until SIGINT/SIGTERM, then shut down gracefully."""
    from sanic import Sanic
    from sanic.worker.loader import AppLoader

    from .app import create_app
    from .protocol import GuardedHttpProtocol

    scheme = "https" if config.tls else "http"
    log.info(
        "listening on %s://%s:%d%s with %d worker(s)",
        scheme,
        config.host,
        config.port,
        config.prefix,
        config.workers,
    )
    loader = AppLoader(factory=functools.partial(create_app, config))
    app = loader.load()
    app.prepare(
        host=config.host,
        port=config.port,
        ssl=config.tls,
        workers=config.workers,
        single_process=config.workers == 1,
        access_log=False,
        motd=False,
        protocol=GuardedHttpProtocol,
    )
    if config.workers == 1:
        Sanic.serve_single(primary=app)
    else:
        Sanic.serve(primary=app, app_loader=loader)


def main(argv: list[str] | None = None) -> int:
    """`python -m pgqueue_server [run] [DSN] [flags]`."""
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["run"]:
        args = args[1:]
    return run_main(args)
