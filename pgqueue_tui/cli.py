"""The `pgqueue` command: client subcommands, `run` (the server) and `tui` (the console)."""

from __future__ import annotations

import argparse
import asyncio
import importlib
import importlib.util
import json
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

from pgqueue_core import __version__
from pgqueue_core.errors import Conflict, InvalidArgument, NotFound, PgQueueError, Unavailable

from .commands import Commands, Output, UsageError, queues, tasks, tickers
from .config import add_connection_options
from .errors import Forbidden, Unauthorized
from .signals import until_stopped

EXIT_OK = 0
EXIT_ERROR = 1  # anything else: a server error, an unexpected answer
EXIT_USAGE = 2  # bad command line or input, or the server rejected an argument (400)
EXIT_NOT_FOUND = 3  # no such queue/task/ticker (404), or it clashes with another (409)
EXIT_UNAVAILABLE = 4  # server unreachable, or its database is down (503)
EXIT_AUTH = 5  # missing or wrong token (401), not allowed (403)
# Commands that run until stopped (next-ticker, tui) exit 0 on SIGINT or SIGTERM: the way to
# stop them. Only a second signal while they stop exits with 128 + its number (signals.py).
EXIT_INTERRUPTED = 130  # Ctrl-C during any other command; a second SIGINT
EXIT_TERMINATED = 143  # a second SIGTERM

DESCRIPTION = """\
Manage a pgqueue server: queues, tasks and tickers over its REST API, or serve the API
(`run`) and open the operations console (`tui`).

Human output is aligned tables and key/value views; with --json every command prints the
API's JSON document instead (next-ticker: one document per line)."""

EPILOG = """\
examples:
  pgqueue run postgresql://localhost/app          serve the API on localhost:8080
  pgqueue create-queue emails --ttl 24h --retries 5
  pgqueue create-task emails --payload '{"to": "a@b.c"}'
  pgqueue tasks --queue emails --status failed
  pgqueue --json queues | jq -r '.body[].queue'
  pgqueue next-ticker

exit codes:
  0 success   1 other error   2 usage or invalid argument   3 not found or conflict
  4 server unreachable or unavailable   5 authentication   130 interrupted (Ctrl-C)

next-ticker (Ctrl-C) and tui (ctrl+q) run until stopped: SIGINT or SIGTERM stops either
cleanly with status 0, also when started in the background (`&`); a second signal while
it stops exits at once with 130 (SIGINT) or 143 (SIGTERM).

`pgqueue COMMAND --help` explains a command. Global options may also follow the command."""


class _ArgumentError(Exception):
    """argparse found a mistake; reported as one `Error:` line (exit 2)."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise _ArgumentError(f"{message} (see '{self.prog} --help')")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    group = parser.add_argument_group("global options") if suppress else parser
    add_connection_options(group, suppress=suppress)  # type: ignore[arg-type]

    def default(value: Any) -> Any:
        return argparse.SUPPRESS if suppress else value

    group.add_argument(
        "--json", action="store_true", default=default(False), help="print the API's JSON"
    )
    group.add_argument(
        "--timeout",
        type=_seconds,
        default=default(30.0),
        metavar="SECONDS",
        help="give up on a request after SECONDS (default 30)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="pgqueue",
        description=DESCRIPTION,
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"pgqueue {__version__}")
    _global_options(parser, suppress=False)
    common = _Parser(add_help=False)
    _global_options(common, suppress=True)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    commands = Commands(sub, [common])
    queues.register(commands)
    tasks.register(commands)
    tickers.register(commands)
    # `run` is dispatched before parsing (its options belong to the server); listed for help.
    sub.add_parser("run", help="Serve the REST API (see `pgqueue run --help`).", add_help=False)
    commands.add(
        "tui",
        _no_handler,
        "Open the Textual operations console.",
        ["pgqueue tui", "pgqueue --url http://queue.internal:8080/api tui --namespace myapp"],
        until_stopped=True,
    )
    return parser


async def _no_handler(*_: object) -> None:  # pragma: no cover - `tui` is dispatched in main
    raise AssertionError("tui has no client handler")


# ---- run / tui ------------------------------------------------------------------------

_VALUE_OPTIONS = ("--url", "--namespace", "--token", "--timeout")
_FORWARDED = ("--namespace", "--token")


def _run_arguments(argv: Sequence[str]) -> list[str] | None:
    """The server's arguments when the command is `run`, else None. `--namespace` and
    `--token` given before `run` are passed on; the other global options do not apply."""
    forwarded: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        option = arg.split("=", 1)[0]
        if arg == "run":
            return forwarded + list(argv[i + 1 :])
        if option in _VALUE_OPTIONS:
            size = 1 if "=" in arg else 2
            if option in _FORWARDED:
                forwarded.extend(argv[i : i + size])
            i += size
        elif arg == "--json":
            i += 1
        else:
            return None
    return None


def _run_server(argv: list[str]) -> int:
    try:
        from pgqueue_server.cli import run_main
    except ImportError as exc:
        return _fail(f"the server is not available ({exc})", EXIT_ERROR)
    return run_main(argv)


def _run_console(ns: argparse.Namespace) -> int:
    if importlib.util.find_spec("pgqueue_tui.app") is None:
        return _fail("the console is not available yet (pgqueue_tui.app is missing)", EXIT_ERROR)
    run_app = getattr(importlib.import_module("pgqueue_tui.app"), "run_app", None)
    if run_app is None:
        return _fail("the console is not available yet (no pgqueue_tui.app.run_app)", EXIT_ERROR)
    return int(run_app(url=ns.url, namespace=ns.namespace, token=ns.token) or 0)


# ---- client commands ------------------------------------------------------------------


def _execute(ns: argparse.Namespace) -> int:
    from .client import Client  # aiohttp: only when a command runs, not for --help

    out = Output(json=ns.json)
    documents: list[Any] = []

    async def run() -> None:
        client = Client(
            ns.url,
            namespace=ns.namespace,
            token=ns.token,
            timeout=ns.timeout,
            on_json=documents.append if out.json else None,
        )
        async with client:
            await ns.handler(client, ns, out)

    if ns.until_stopped:
        if asyncio.run(until_stopped(run())) is not None:
            return EXIT_OK  # stopped by SIGINT or SIGTERM, as asked
    else:
        asyncio.run(run())
    if out.json and not out.streaming:
        print(json.dumps(documents[-1] if documents else None, indent=2, ensure_ascii=False))
    return EXIT_OK


def exit_code(error: PgQueueError) -> int:
    """The documented exit code of an error."""
    if isinstance(error, InvalidArgument):
        return EXIT_USAGE
    if isinstance(error, NotFound | Conflict):
        return EXIT_NOT_FOUND
    if isinstance(error, Unavailable):
        return EXIT_UNAVAILABLE
    if isinstance(error, Unauthorized | Forbidden):
        return EXIT_AUTH
    return EXIT_ERROR


def _fail(message: str, code: int) -> int:
    print(f"Error: {message}", file=sys.stderr, flush=True)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run `pgqueue` with `argv` (default: the process's arguments); the exit code."""
    args = list(sys.argv[1:] if argv is None else argv)
    server_args = _run_arguments(args)
    if server_args is not None:
        return _run_server(server_args)
    parser = build_parser()
    try:
        ns = parser.parse_args(args)
    except _ArgumentError as exc:
        return _fail(str(exc), EXIT_USAGE)
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    if ns.command is None:
        parser.print_help(sys.stderr)
        return _fail("no command given", EXIT_USAGE)
    try:
        if ns.command == "tui":
            return _run_console(ns)
        return _execute(ns)
    except KeyboardInterrupt:  # Ctrl-C before a long-running command installed its handlers
        return EXIT_OK if ns.until_stopped else EXIT_INTERRUPTED
    except UsageError as exc:
        return _fail(f"{exc} (see 'pgqueue {ns.command} --help')", EXIT_USAGE)
    except PgQueueError as exc:
        return _fail(str(exc), exit_code(exc))
    except BrokenPipeError:
        # The reader (e.g. `head`) went away: stop quietly, like other Unix tools.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
    except Exception as exc:
        if os.environ.get("PGQUEUE_DEBUG"):
            raise
        return _fail(f"unexpected {type(exc).__name__}: {exc} (PGQUEUE_DEBUG=1 shows more)", 1)


if __name__ == "__main__":
    sys.exit(main())
