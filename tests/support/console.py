"""The console (a Textual app) under a pilot: waits that let the app run, and what its
widgets show."""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from typing import Any

import pytest
from rich.console import Console
from textual.pilot import Pilot

from pgqueue_tui.app import ConsoleApp

SIZE = (120, 36)


async def wait_on_screen(
    pilot: Pilot[Any], condition: Callable[[], Any], what: str, timeout: float = 8.0
) -> Any:
    """Let the app run until `condition()` is truthy (returned); fail after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        await pilot.pause(0.05)


def notes(app: ConsoleApp) -> list[str]:
    """The messages of the notifications shown so far."""
    return [n.message for n in app._notifications]


def noted(app: ConsoleApp, fragment: str) -> Callable[[], bool]:
    return lambda: any(fragment in message for message in notes(app))


def cell_texts(table: Any) -> list[list[str]]:
    """A DataTable's rows as plain strings, in display order."""
    rows = []
    for index in range(table.row_count):
        rows.append([str(getattr(c, "plain", c)) for c in table.get_row_at(index)])
    return rows


def text_of(widget: Any, width: int = 200) -> str:
    """What a Static shows, as plain text (rendered without colour)."""
    out = Console(width=width, file=io.StringIO(), color_system=None, record=True)
    out.print(widget.content)
    return out.export_text()
