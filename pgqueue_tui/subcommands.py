"""The subcommands of `pgqueue`: what each installed package registers as a `pgqueue.commands`
entry point, found and loaded without importing any package by name.

An entry point is named after its subcommand and loads one of two kinds of object:

* a `Command`: `pgqueue` parses its arguments, together with the global options (--url,
  --namespace, --token, --json, --timeout, also accepted after the subcommand), and calls
  `run(ns)` for the exit status. The console package's client commands and `tui` are these.
* a `PassThrough`: the arguments after the subcommand go to `main(argv)` unparsed, preceded by
  those of `forwarded_options` that were given before it (`pgqueue --namespace x run ...`).
  The server's `run` is one.

Both have a one-line `summary` for `pgqueue --help`. Loading one must stay cheap: a provider
imports its heavy libraries (sanic, textual, aiohttp) when its command runs, not when it is
listed. A provider that cannot be loaded is listed as not available, and naming it is a
one-line error, while every other subcommand keeps working.
"""

from __future__ import annotations

import argparse
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from importlib.metadata import EntryPoint

GROUP = "pgqueue.commands"


@runtime_checkable
class Command(Protocol):
    """A subcommand whose arguments `pgqueue` parses."""

    summary: str

    def add_parser(
        self, subparsers: Any, name: str, parents: Sequence[argparse.ArgumentParser]
    ) -> argparse.ArgumentParser:
        """Add the subcommand's parser to `subparsers` (with `parents`: the global options)."""
        ...

    def run(self, ns: argparse.Namespace) -> int:
        """Carry out the parsed command line; the exit status. Errors of the core
        (`PgQueueError`) are reported by `pgqueue` with their documented exit codes."""
        ...


@runtime_checkable
class PassThrough(Protocol):
    """A subcommand that parses its own arguments."""

    summary: str
    forwarded_options: tuple[str, ...]

    def main(self, argv: list[str]) -> int:
        """Run with the arguments after the subcommand's name; the exit status."""
        ...


@dataclass(frozen=True, slots=True)
class Missing:
    """An entry point whose provider could not be loaded (not installed, or broken)."""

    target: str  # the entry point's value, module:attribute
    reason: str

    @property
    def summary(self) -> str:
        return f"(not available: {self.reason})"

    def message(self, name: str) -> str:
        return f"the {name!r} command is not available: cannot load {self.target} ({self.reason})"


class CommandUnavailable(Exception):
    """A provider loaded, but something its command needs at run time is missing."""


Provider = Command | PassThrough | Missing


def entry_points(group: str = GROUP) -> dict[str, EntryPoint]:
    """The registered subcommands by name, sorted, not loaded (the first of a name wins)."""
    from importlib.metadata import entry_points

    found: dict[str, EntryPoint] = {}
    for entry in entry_points(group=group):
        found.setdefault(entry.name, entry)
    return dict(sorted(found.items()))


def load(
    entries: Mapping[str, EntryPoint], names: Iterable[str] | None = None
) -> dict[str, Provider]:
    """Load the entry points `names` (default: all)."""
    wanted: Collection[str] = entries.keys() if names is None else set(names)
    return {name: _load(entry) for name, entry in entries.items() if name in wanted}


def _load(entry: EntryPoint) -> Provider:
    try:
        provider = entry.load()
    except Exception as exc:  # ImportError, AttributeError, or an error in the module itself
        text = str(exc).strip().splitlines()
        return Missing(
            entry.value, f"{type(exc).__name__}: {text[0]}" if text else type(exc).__name__
        )
    if isinstance(provider, PassThrough | Command):
        return provider
    return Missing(entry.value, "not a pgqueue command (no summary and run or main)")
