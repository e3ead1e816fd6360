"""The `pgqueue` command: global options, then the subcommand an installed package registered
(client commands and `tui` from this package, `run` from the server; pgqueue_tui/subcommands.py)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping, Sequence
from typing import Any, NoReturn

from pgqueue_core import __version__
from pgqueue_core.errors import Conflict, InvalidArgument, NotFound, PgQueueError, Unavailable

from . import subcommands
from .commands import UsageError
from .config import add_connection_options
from .errors import Forbidden, Unauthorized
from .subcommands import Command, CommandUnavailable, Missing, PassThrough, Provider

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
(`run`), run task handlers (`worker`) and open the operations console (`tui`).

Human output is aligned tables and key/value views; with --json every command prints the
API's JSON document instead (next-ticker, watch: one document per line)."""

EPILOG = """\
examples:
  pgqueue run postgresql://localhost/app          serve the API on localhost:8080
  pgqueue worker myapp.tasks:tasks --dsn postgresql://localhost/app   run handlers
  pgqueue create-queue emails --ttl 24h --retries 5
  pgqueue create-task emails --payload '{"to": "a@b.c"}'
  pgqueue tasks --queue emails --status failed
  pgqueue --json queues | jq -r '.body[].queue'
  pgqueue next-ticker
  pgqueue watch --types task --queue emails     changes as they happen

exit codes:
  0 success   1 other error   2 usage or invalid argument   3 not found or conflict
  4 server unreachable or unavailable   5 authentication   130 interrupted (Ctrl-C)

next-ticker, watch (Ctrl-C) and tui (ctrl+q) run until stopped: SIGINT or SIGTERM stops each
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


def build_parser(names: Sequence[str], commands: Mapping[str, Provider]) -> argparse.ArgumentParser:
    """The parser of `pgqueue`: a subparser for each of `names`, built by the command where
    it is loaded and parses its arguments here, a bare one for the others (listed with their
    summary when loaded; a pass-through command is dispatched before parsing)."""
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
    for name in names:
        command = commands.get(name)
        if isinstance(command, Command) and not isinstance(command, PassThrough):
            command.add_parser(sub, name, [common])
        elif command is not None:
            sub.add_parser(name, help=command.summary, add_help=False)
        else:
            sub.add_parser(name, add_help=False)
    return parser


# ---- dispatch -------------------------------------------------------------------------

_VALUE_OPTIONS = ("--url", "--namespace", "--token", "--timeout")
_FLAG_OPTIONS = ("--json",)


def split_command(argv: Sequence[str]) -> tuple[list[str], str, list[str]] | None:
    """(the global options before the subcommand, its name, the arguments after it); None
    when something else comes first (--help, --version, a mistake: argparse reports those)."""
    i = 0
    while i < len(argv):
        arg = argv[i]
        if arg.split("=", 1)[0] in _VALUE_OPTIONS:
            i += 1 if "=" in arg else 2
        elif arg in _FLAG_OPTIONS:
            i += 1
        elif arg.startswith("-"):
            return None
        else:
            return list(argv[:i]), arg, list(argv[i + 1 :])
    return None


def forwarded(before: Sequence[str], options: Sequence[str]) -> list[str]:
    """The global options among `options` in `before` (as given: `--token=t` or `--token t`)."""
    kept: list[str] = []
    i = 0
    while i < len(before):
        option = before[i].split("=", 1)[0]
        size = 2 if option in _VALUE_OPTIONS and "=" not in before[i] else 1
        if option in options:
            kept.extend(before[i : i + size])
        i += size
    return kept


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
    entries = subcommands.entry_points()
    split = split_command(args)
    if split is not None and split[1] in entries:
        # Only the command named is loaded: `pgqueue queues` never imports the server.
        before, name, rest = split
        commands = subcommands.load(entries, [name])
        provider = commands[name]
        if isinstance(provider, Missing):
            return _fail(provider.message(name), EXIT_ERROR)
        if isinstance(provider, PassThrough):
            return provider.main(forwarded(before, provider.forwarded_options) + rest)
    else:
        commands = subcommands.load(entries)  # for --help, or argparse's list of choices
    parser = build_parser(list(entries), commands)
    try:
        ns = parser.parse_args(args)
    except _ArgumentError as exc:
        return _fail(str(exc), EXIT_USAGE)
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else EXIT_OK
    if ns.command is None:
        parser.print_help(sys.stderr)
        return _fail("no command given", EXIT_USAGE)
    command = commands.get(ns.command)
    if not isinstance(command, Command) or isinstance(command, PassThrough):
        # A pass-through command argparse found where split_command did not: after an
        # abbreviated global option (`--name x run`) or `--`.
        return _fail(
            f"write the options before {ns.command!r} in full (see 'pgqueue --help')", EXIT_USAGE
        )
    try:
        return command.run(ns)
    except KeyboardInterrupt:  # Ctrl-C (commands that run until stopped exit 0 themselves)
        return EXIT_INTERRUPTED
    except UsageError as exc:
        return _fail(f"{exc} (see 'pgqueue {ns.command} --help')", EXIT_USAGE)
    except CommandUnavailable as exc:
        return _fail(str(exc), EXIT_ERROR)
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
