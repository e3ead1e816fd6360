"""Namespaces: the list the server knows, and switching the console to another one."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.message import Message
from textual.widgets import DataTable, Footer, Input, Static

from pgqueue_core import validate
from pgqueue_core.errors import InvalidArgument

from ..widgets.header import ConsoleHeader
from ..widgets.live_table import LiveTable
from .base import ConsoleScreen


class NamespacesScreen(ConsoleScreen):
    """Enter switches to the highlighted namespace. A namespace appears only once it owns
    a queue or a ticker: `/` takes any name (and filters the list while typing)."""

    CSS_PATH = "namespaces.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("enter", "switch", "Switch", show=False),
        Binding("slash", "filter", "Filter / other", key_display="/"),
    ]

    context = "namespaces"
    interval = 5.0

    @dataclass
    class Loaded(Message):
        names: list[str]

    def __init__(self) -> None:
        super().__init__()
        self.names: list[str] = []

    def compose(self) -> ComposeResult:
        yield ConsoleHeader(self.context)
        yield Input(placeholder="namespace name (enter: switch to it, esc: clear)", id="name")
        table = LiveTable(id="namespaces")
        table.border_title = "Namespaces"
        table.border_subtitle = "enter: switch"
        yield table
        yield Static(
            "A namespace is listed once it owns a queue or a ticker. "
            "'pgqueue' is the system's own (read-only).",
            id="hint",
        )
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(LiveTable)
        table.add_column("namespace", key="name")
        table.add_column("", key="note")
        table.focus()
        self.start_polling()

    async def fetch(self) -> Message:
        return self.Loaded(await self.client.list_namespaces())

    def on_namespaces_screen_loaded(self, message: Loaded) -> None:
        self.names = message.names
        self._show()

    def _show(self) -> None:
        needle = self.query_one("#name", Input).value.strip().lower()
        current = self.console.namespace
        palette = self.palette
        rows = []
        for name in self.names:
            if needle not in name:
                continue
            note = Text()
            if name == current:
                note.append("● current", style=palette.success)
            elif name == validate.RESERVED_NAMESPACE:
                note.append("system, read-only", style="dim")
            label = Text(name, style="bold" if name == current else "")
            rows.append((name, [label, note]))
        table = self.query_one(LiveTable)
        table.sync(rows)
        if table.selected is None or table.selected not in self.names:
            table.select(current)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_switch()

    def action_switch(self) -> None:
        name = self.query_one(LiveTable).selected
        if name is not None:
            self.switch_to(name)

    def switch_to(self, name: str) -> None:
        try:
            name = validate.name(name, "namespace")
        except InvalidArgument as exc:
            self.notify(str(exc), severity="error")
            return
        self.console.switch_namespace(name)

    def action_filter(self) -> None:
        field = self.query_one("#name", Input)
        field.display = True
        field.focus()

    def on_input_changed(self, event: Input.Changed) -> None:
        self._show()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.value.strip():
            self.switch_to(event.value)

    def action_back(self) -> None:
        field = self.query_one("#name", Input)
        if field.display and field.has_focus:
            field.value = ""
            field.display = False
            self.query_one(LiveTable).focus()
            return
        super().action_back()
