"""The client subcommands of `pgqueue`: one module per resource, sharing this registry.

Modules here import no HTTP library at import time: `pgqueue CMD --help` only builds
parsers; the client is imported and built by `pgqueue_tui.cli` when a command runs.
"""

from __future__ import annotations

import argparse
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


class Commands:
    """Adds subcommands with the shared global options and a help text with examples."""

    def __init__(self, subparsers: Any, parents: Sequence[argparse.ArgumentParser]) -> None:
        self._sub = subparsers
        self._parents = list(parents)

    def add(
        self,
        name: str,
        handler: Handler,
        summary: str,
        examples: Sequence[str],
        details: str = "",
        *,
        until_stopped: bool = False,
    ) -> argparse.ArgumentParser:
        """`until_stopped`: the command runs until SIGINT or SIGTERM, which stop it cleanly
        (exit 0) however the process was started."""
        description = summary if not details else f"{summary}\n\n{details}"
        epilog = "examples:\n" + "\n".join(f"  {example}" for example in examples)
        parser: argparse.ArgumentParser = self._sub.add_parser(
            name,
            help=summary,
            description=description,
            epilog=epilog,
            parents=self._parents,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        parser.set_defaults(handler=handler, command=name, until_stopped=until_stopped)
        return parser


def add_paging(parser: argparse.ArgumentParser, noun: str) -> None:
    from .args import count, positive

    parser.add_argument(
        "--offset", type=count, default=0, help=f"skip this many {noun} (default 0)"
    )
    parser.add_argument(
        "--limit", type=positive, default=None, help=f"show at most this many {noun} (max 100)"
    )
