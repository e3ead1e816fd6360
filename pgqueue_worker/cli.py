"""`pgqueue worker MODULE:ATTR`: parse the command line, find the handlers, then run one
worker in this process or, with --processes, supervise several."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from pgqueue_core import Handlers, Manager, PgQueueError, Worker, __version__
from pgqueue_core.errors import InvalidArgument, NotFound, Unavailable

from .target import TargetError, load_handlers, select

log = logging.getLogger("pgqueue.worker")

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2  # bad command line, handlers not found, no database: the supervisor gives up
EXIT_NOT_FOUND = 3  # a queue of the handlers does not exist (yet)
EXIT_UNAVAILABLE = 4  # the database (or the server) cannot be reached
EXIT_AUTH = 5  # the server refused the token (as the other pgqueue commands)

CHILD_ENV = "PGQUEUE_WORKER_CHILD"  # "<slot>:<supervisor pid>:<ports dir or empty>"

EPILOG = """\
MODULE:ATTR names a dict of queue → handler, a pgqueue_core.Handlers registry, or a callable
returning one; the current directory is on the import path. Handlers take the Task and may
be async (run on the event loop) or sync (run in a thread pool).

examples:
  pgqueue worker myapp.tasks:handlers --dsn postgresql://localhost/app
  PGQUEUE_DSN=postgresql://localhost/app pgqueue worker myapp.tasks:tasks --queues emails
  pgqueue worker myapp.tasks:tasks --processes 4 --concurrency 32 --metrics-port 9100

SIGTERM or SIGINT stops gracefully: nothing new is claimed, running handlers finish (up to
--grace-period), results are written, exit 0; a second signal stops at once.
exit codes: 0 stopped  1 other error  2 usage or handlers not found  3 unknown queue
  4 database unreachable"""


class UsageError(Exception):
    """A mistake on the command line (exit 2, one line)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(message)


def _positive(kind: type[int] | type[float]) -> Callable[[str], int | float]:
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not 0 < value < float("inf"):
            raise argparse.ArgumentTypeError(f"{text!r} is not positive")
        return value

    return parse


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number")
    return int(text)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pgqueue worker",
        description="Run the handlers MODULE:ATTR names for the tasks of their queues.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("target", metavar="MODULE:ATTR", help="where the handlers are")
    where = parser.add_argument_group("where the tasks are (one of)")
    where.add_argument("--dsn", help="PostgreSQL URL (env PGQUEUE_DSN or DATABASE_URL)")
    where.add_argument("--url", help="a pgqueue server's API URL: work over REST (env PGQUEUE_URL)")
    where.add_argument("--token", help="bearer token for --url (env PGQUEUE_TOKEN)")
    parser.add_argument(
        "--namespace", help="namespace of the queues (env PGQUEUE_NAMESPACE, default 'default')"
    )
    parser.add_argument(
        "--queues",
        action="append",
        metavar="Q[,Q...]",
        help="work on these queues only (repeatable; default: every queue with a handler)",
    )
    parser.add_argument(
        "--concurrency",
        type=_positive(int),
        default=16,
        metavar="N",
        help="handlers running at once, per process (default 16)",
    )
    parser.add_argument(
        "--prefetch",
        type=int,
        metavar="N",
        help="tasks claimed ahead of free handlers (default: adapts; 0: claim only for a "
        "free handler, fair for slow tasks)",
    )
    parser.add_argument(
        "--name", help="worker name recorded on the tasks (default host@pid; -K per process)"
    )
    parser.add_argument(
        "--processes",
        type=_positive(int),
        metavar="N",
        help="run N worker processes under a supervisor that restarts any that crashes",
    )
    parser.add_argument(
        "--grace-period",
        type=_positive(float),
        default=30.0,
        metavar="SECONDS",
        help="on stop, how long running handlers may take before they are cancelled (30)",
    )
    parser.add_argument(
        "--metrics-port",
        type=_port,
        metavar="PORT",
        help="serve Prometheus metrics at http://ADDR:PORT/metrics (all processes on one port)",
    )
    parser.add_argument(
        "--metrics-addr", default="0.0.0.0", metavar="ADDR", help="(default 0.0.0.0)"
    )
    parser.add_argument(
        "--pgbouncer",
        action="store_true",
        help="the DSN points at PgBouncer in transaction mode: no statement cache, no LISTEN",
    )
    parser.add_argument("--log-level", default="INFO", help="(default INFO)")
    parser.add_argument("--version", action="version", version=f"pgqueue {__version__}")
    return parser


@dataclass(frozen=True)
class Options:
    target: str
    dsn: str | None
    url: str | None
    token: str | None
    namespace: str
    queues: list[str] | None
    concurrency: int
    prefetch: int | None
    name: str
    processes: int | None
    grace_period: float
    metrics_port: int | None
    metrics_addr: str
    pgbouncer: bool
    log_level: str


def parse(argv: Sequence[str], env: dict[str, str]) -> Options:
    """Flags first, then the environment; exactly one of a database or a server."""
    ns = build_parser().parse_args(argv)
    queues = [q.strip() for arg in ns.queues or [] for q in arg.split(",") if q.strip()]
    dsn, url = ns.dsn, ns.url
    if dsn and url:
        raise UsageError("give --dsn or --url, not both")
    if not dsn and not url:
        dsn = env.get("PGQUEUE_DSN") or env.get("DATABASE_URL") or None
        url = None if dsn else env.get("PGQUEUE_URL") or None
    if not dsn and not url:
        raise UsageError(
            "no database: give --dsn or set PGQUEUE_DSN (or --url/PGQUEUE_URL for a server)"
        )
    return Options(
        target=ns.target,
        dsn=dsn,
        url=url,
        token=ns.token or env.get("PGQUEUE_TOKEN") or None,
        namespace=ns.namespace or env.get("PGQUEUE_NAMESPACE") or "default",
        queues=queues or None,
        concurrency=ns.concurrency,
        prefetch=ns.prefetch,
        name=ns.name or f"{socket.gethostname()}@{os.getpid()}",
        processes=ns.processes,
        grace_period=ns.grace_period,
        metrics_port=ns.metrics_port,
        metrics_addr=ns.metrics_addr,
        pgbouncer=ns.pgbouncer,
        log_level=ns.log_level.upper(),
    )


def _fail(message: str, code: int) -> int:
    print(f"Error: {message}", file=sys.stderr, flush=True)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run `pgqueue worker` with `argv`; the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    env = dict(os.environ)
    try:
        options = parse(args, env)
    except UsageError as exc:
        return _fail(f"{exc} (see 'pgqueue worker --help')", EXIT_USAGE)
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    if options.log_level not in logging.getLevelNamesMapping():
        return _fail(f"unknown --log-level {options.log_level!r}", EXIT_USAGE)
    logging.basicConfig(
        level=options.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        handlers = select(load_handlers(options.target), options.queues)
    except TargetError as exc:
        return _fail(str(exc), EXIT_USAGE)
    try:
        if options.processes is not None and CHILD_ENV not in env:
            return supervise(options, env)
        return asyncio.run(run_worker(options, handlers, env.get(CHILD_ENV)))
    except KeyboardInterrupt:  # a signal before the worker took them over
        return 130
    except Exception as exc:
        if env.get("PGQUEUE_DEBUG"):
            raise
        return _fail(f"unexpected {type(exc).__name__}: {exc} (PGQUEUE_DEBUG=1 shows more)", 1)


async def run_worker(options: Options, handlers: Handlers, child: str | None) -> int:
    """One worker in this process until SIGTERM/SIGINT (the core Worker on the database, or
    the RemoteWorker over REST); the exit code."""
    name, ports_dir, slot = options.name, None, ""
    if child is not None:
        slot, parent, ports = child.split(":", 2)
        _die_with_parent(int(parent))
        ports_dir = Path(ports) if ports else None
        name = f"{options.name}-{slot}"
    try:
        if options.url is not None:
            return await _run_remote(options, handlers, name, ports_dir, slot)
        return await _run_local(options, handlers, name, ports_dir, slot)
    except NotFound as exc:
        return _fail(str(exc), EXIT_NOT_FOUND)
    except InvalidArgument as exc:
        return _fail(str(exc), EXIT_USAGE)
    except Unavailable as exc:
        return _fail(str(exc), EXIT_UNAVAILABLE)
    except PgQueueError as exc:
        code = EXIT_AUTH if exc.key in ("unauthorized", "forbidden") else EXIT_ERROR
        return _fail(str(exc), code)


async def _run_local(
    options: Options, handlers: Handlers, name: str, ports_dir: Path | None, slot: str
) -> int:
    import asyncpg

    assert options.dsn is not None
    try:
        pool = await asyncpg.create_pool(
            options.dsn,
            min_size=1,
            # One per running handler that uses the database, plus the claim loop, result
            # writer, heartbeat, maintenance and the LISTEN connection.
            max_size=options.concurrency + 6,
            statement_cache_size=0 if options.pgbouncer else 100,
        )
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, ValueError) as exc:
        return _fail(f"cannot connect to the database: {exc}", EXIT_UNAVAILABLE)
    try:
        manager = await Manager.new(pool, options.namespace)
        worker = Worker(
            manager,
            name,
            handlers,
            concurrency=options.concurrency,
            prefetch=options.prefetch,
            grace_period=options.grace_period,
            listen=not options.pgbouncer,
        )
        for queue in worker.queues:  # NotFound now, before it reports ready
            await manager.get_queue(queue)
        return await _serve(options, worker, ports_dir, slot, f"namespace {options.namespace}")
    finally:
        await pool.close()


async def _run_remote(
    options: Options, handlers: Handlers, name: str, ports_dir: Path | None, slot: str
) -> int:
    from pgqueue_tui.remote import RemoteWorker

    assert options.url is not None
    worker = RemoteWorker(
        options.url,
        handlers,
        name=name,
        token=options.token,
        namespace=options.namespace,
        concurrency=options.concurrency,
        prefetch=options.prefetch or 0,
        grace_period=options.grace_period,
    )
    try:
        for queue in worker.queues:  # NotFound (or no access) now, before it reports ready
            await worker.client.get_queue(queue)
    except BaseException:
        await worker.client.close()
        raise
    where = f"server {options.url}, namespace {options.namespace}"
    return await _serve(options, worker, ports_dir, slot, where)


async def _serve(
    options: Options,
    worker: Any,
    ports_dir: Path | None,
    slot: str,
    where: str,
) -> int:
    """Serve the worker's metrics (if asked), run it until it stops; the exit code."""
    from .metrics import serve, worker_registry

    server = None
    if ports_dir is not None or options.metrics_port is not None:
        # Under the supervisor, each process serves on a port of its own choosing on
        # 127.0.0.1 and says which in ports_dir; the supervisor serves them all as one.
        addr, port = ("127.0.0.1", 0) if ports_dir else (options.metrics_addr, options.metrics_port)
        try:
            server, port = serve(worker_registry(worker), port or 0, addr)
        except OSError as exc:
            return _fail(f"cannot serve metrics on {addr}:{port}: {exc}", EXIT_ERROR)
        if ports_dir is not None:
            _write_port(ports_dir / f"{slot}.port", port)
        else:
            log.info("metrics on http://%s:%d/metrics", addr, port)
    log.info(
        "worker %s ready: queues %s, %s, concurrency %d",
        worker.name,
        ", ".join(worker.queues),
        where,
        options.concurrency,
    )
    try:
        await worker.run()
    finally:
        if server is not None:
            server.shutdown()
    log.info("worker %s stopped: %s", worker.name, _summary(worker))
    return EXIT_OK


def supervise(options: Options, env: dict[str, str]) -> int:
    """`--processes N`: N workers in processes of their own, restarted when they crash."""
    from .metrics import Gathered, serve
    from .supervisor import Slot, Supervisor

    assert options.processes is not None
    names = [f"{options.name}-{i}" for i in range(options.processes)]
    with tempfile.TemporaryDirectory(prefix="pgqueue-worker-") as ports:
        child_env = dict(env)
        if options.dsn:
            child_env["PGQUEUE_DSN"] = options.dsn  # not on the command line: ps shows that

        def command(slot: Slot) -> list[str]:
            argv = [sys.executable, "-m", "pgqueue_worker", options.target]
            argv += ["--queues", ",".join(options.queues or [])] if options.queues else []
            argv += ["--namespace", options.namespace, "--name", options.name]
            argv += ["--concurrency", str(options.concurrency)]
            argv += [] if options.prefetch is None else ["--prefetch", str(options.prefetch)]
            argv += ["--grace-period", str(options.grace_period), "--log-level", options.log_level]
            argv += ["--pgbouncer"] if options.pgbouncer else []
            return argv

        metrics_dir = ports if options.metrics_port is not None else ""

        def child_env_of(slot: Slot) -> dict[str, str]:
            # How a process knows it is one of the supervisor's, and which.
            return {**child_env, CHILD_ENV: f"{slot.index}:{os.getpid()}:{metrics_dir}"}

        supervisor = Supervisor(command, names, env=child_env_of)
        server = None
        if options.metrics_port is not None:
            from prometheus_client import CollectorRegistry

            registry = CollectorRegistry()
            registry.register(Gathered(Path(ports), supervisor.running))
            try:
                server, port = serve(registry, options.metrics_port, options.metrics_addr)
            except OSError as exc:
                return _fail(
                    f"cannot serve metrics on {options.metrics_addr}:{options.metrics_port}: {exc}",
                    EXIT_ERROR,
                )
            log.info(
                "metrics of every worker process on http://%s:%d/metrics",
                options.metrics_addr,
                port,
            )
        log.info("supervising %d worker processes (SIGTERM stops them gracefully)", len(names))
        try:
            return supervisor.run()
        finally:
            if server is not None:
                server.shutdown()


def _summary(worker: Any) -> str:
    s = worker.stats
    return (
        f"claimed {s.claimed}, succeeded {s.succeeded}, failed {s.failed} "
        f"(retried {s.retried}), cancelled {s.cancelled}, lost {s.lost}"
    )


def _write_port(path: Path, port: int) -> None:
    """Write atomically: the supervisor may read it at any moment."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text(str(port))
    tmp.replace(path)


def _die_with_parent(parent: int) -> None:
    """A worker process is stopped (SIGTERM: gracefully) when its supervisor dies, however
    it dies (Linux: PR_SET_PDEATHSIG); elsewhere it outlives it."""
    import ctypes
    import signal

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # it died before prctl: nobody will tell us
        os.kill(os.getpid(), signal.SIGTERM)
