"""`pgqueue tui`: the Textual operations console, imported only when it opens."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from ..subcommands import CommandUnavailable
from . import ParsedCommand


@dataclass(frozen=True)
class ConsoleCommand(ParsedCommand):
    """Opens the console with the global options (--url, --namespace, --token)."""

    def run(self, ns: argparse.Namespace) -> int:
        try:
            from ..app import run_app
        except ImportError as exc:  # textual (or the console itself) is not installed
            raise CommandUnavailable(f"the console is not available ({exc})") from exc
        try:
            return int(run_app(url=ns.url, namespace=ns.namespace, token=ns.token) or 0)
        except KeyboardInterrupt:  # before the console installed its signal handlers
            return 0


TUI = ConsoleCommand(
    "Open the Textual operations console.",
    ["pgqueue tui", "pgqueue --url http://queue.internal:8080/api tui --namespace myapp"],
)
