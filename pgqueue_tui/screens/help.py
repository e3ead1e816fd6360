"""Help (`?`): every key of the screen below and of the whole console, and what it does."""

from __future__ import annotations

from typing import Any

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import Static

from ..theme import Palette
from ..widgets.palette import documented

TIPS = (
    "↑ ↓ pgup pgdn home end move in tables; enter opens the highlighted row; esc goes back.",
    "tab moves between fields; ctrl+s saves a form; ctrl+p finds any action by name.",
    "Counts that need attention stand out: failed in red, expired and retry in amber.",
    "A growing backlog is marked ↑; the oldest waiting task turns amber after a minute "
    "and red after ten.",
    "‖ marks a paused queue: it accepts tasks but hands none out.",
    "⊘ marks a queue whose circuit breaker is open (it hands out nothing), ◐ one whose "
    "breaker is half-open (one probe task may go out); b resets it.",
)
KeyRow = tuple[str, str, bool]


def key_rows(screen: Screen[Any]) -> tuple[list[KeyRow], list[KeyRow]]:
    """(key, description, enabled) of the screen's own bindings and of the app's."""
    own: list[KeyRow] = []
    app: list[KeyRow] = []
    seen: set[tuple[str, str]] = set()
    for active in screen.active_bindings.values():
        binding = active.binding
        if not binding.description or not documented(active.node, binding.action):
            continue
        if active.node is screen:
            target = own
        elif active.node is screen.app:
            target = app
        else:
            continue  # widget keys (table navigation) are summed up in TIPS
        key = screen.app.get_key_display(binding)
        if (key, binding.description) in seen:
            continue
        seen.add((key, binding.description))
        target.append((key, binding.description, active.enabled))
    return own, app


class HelpScreen(ModalScreen[None]):
    CSS_PATH = "dialog.tcss"
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def __init__(self, below: Screen[Any]) -> None:
        super().__init__(classes="dialog")
        self.below = below

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="panel") as panel:
            panel.border_title = "Help"
            panel.border_subtitle = "esc close"
            yield Static(self._help_text(), id="help")

    def _help_text(self) -> RenderableType:
        palette = Palette.of(self.app.current_theme)
        own, everywhere = key_rows(self.below)
        name = getattr(self.below, "context", "") or type(self.below).__name__
        parts: list[RenderableType] = []
        for title, rows in ((f"This screen ({name})", own), ("Everywhere", everywhere)):
            if not rows:
                continue
            table = Table.grid(padding=(0, 2))
            table.add_column(style=f"bold {palette.primary}", no_wrap=True, min_width=8)
            table.add_column()
            for key, description, enabled in rows:
                note = "" if enabled else "  (nothing to act on here)"
                table.add_row(key, Text(description + note, style="" if enabled else "dim"))
            parts += [Text(title, style="bold underline"), table, Text()]
        parts += [Text("• " + tip, style="dim") for tip in TIPS]
        return Group(*parts)
