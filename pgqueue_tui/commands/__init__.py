"""The client subcommands of `pgqueue`: one module per resource, sharing these classes.

Each command is a module-level object that pyproject.toml registers as a `pgqueue.commands`
entry point (pgqueue_tui/subcommands.py). Modules here import no HTTP library at import time:
`pgqueue CMD --help` only builds parsers; the client is imported when a command runs.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..client import Client

Handler = Callable[["Client", argparse.Namespace, "Output"], Awaitable[int | None]]


class UsageError(Exception):
    """A mistake in the command line that argparse cannot see (exit code 2)."""


@dataclass
class Output:
    """Where a command writes: human text unless `--json`, where the CLI prints the API's
    JSON document instead (streams print one document per line themselves)."""

    json: bool
    streaming: bool = False

    def show(self, text: str) -> None:
        if not self.json:
            print(text, flush=True)

    def note(self, text: str) -> None:
        """A remark for a person (paging, de-duplication) on stderr, so pipes stay clean."""
        if not self.json:
            print(text, file=sys.stderr, flush=True)

    def event(self, text: str) -> None:
        print(text, flush=True)


def _no_arguments(parser: argparse.ArgumentParser) -> None:
    pass


@dataclass(frozen=True)
class ParsedCommand:
    """A `pgqueue` subcommand (a `pgqueue.commands` entry point) whose arguments `pgqueue`
    parses: its help text with examples, and its own arguments after the global options."""

    summary: str
    examples: Sequence[str]
    details: str = ""
    arguments: Callable[[argparse.ArgumentParser], None] = _no_arguments

    def add_parser(
        self, subparsers: Any, name: str, parents: Sequence[argparse.ArgumentParser]
    ) -> argparse.ArgumentParser:
        description = self.summary if not self.details else f"{self.summary}\n\n{self.details}"
        epilog = "examples:\n" + "\n".join(f"  {example}" for example in self.examples)
        parser: argparse.ArgumentParser = subparsers.add_parser(
            name,
            help=self.summary,
            description=description,
            epilog=epilog,
            parents=list(parents),
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        self.arguments(parser)
        return parser


@dataclass(frozen=True, kw_only=True)
class ClientCommand(ParsedCommand):
    """A subcommand that talks to a server through the typed client, one `handler` call.

    `until_stopped`: the command runs until SIGINT or SIGTERM, which stop it cleanly (exit 0)
    however the process was started."""

    handler: Handler
    until_stopped: bool = False

    def run(self, ns: argparse.Namespace) -> int:
        from ..client import Client  # aiohttp: only when a command runs, not for --help
        from ..signals import until_stopped

        handler = self.handler
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
                await handler(client, ns, out)

        try:
            if self.until_stopped:
                if asyncio.run(until_stopped(run())) is not None:
                    return 0  # stopped by SIGINT or SIGTERM, as asked
            else:
                asyncio.run(run())
        except KeyboardInterrupt:  # Ctrl-C before the command installed its handlers
            if self.until_stopped:
                return 0
            raise
        if out.json and not out.streaming:
            print(json.dumps(documents[-1] if documents else None, indent=2, ensure_ascii=False))
        return 0


def add_paging(parser: argparse.ArgumentParser, noun: str) -> None:
    from .args import count, positive

    parser.add_argument(
        "--offset", type=count, default=0, help=f"skip this many {noun} (default 0)"
    )
    parser.add_argument(
        "--limit", type=positive, default=None, help=f"show at most this many {noun} (max 100)"
    )
