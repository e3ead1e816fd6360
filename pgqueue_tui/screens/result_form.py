"""The result to release a task with (complete or fail it by hand, for debugging)."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.widgets import Static

from ..widgets.json_editor import JsonEditor
from .form import FormScreen


class ResultFormScreen(FormScreen[tuple[Any]]):
    """Dismissed with (result,) — a 1-tuple, since JSON null is a result — or None."""

    BINDINGS = [
        Binding("ctrl+s", "save", "Release"),
        Binding("escape", "cancel", "Cancel"),
    ]
    save_variant = "warning"

    def __init__(self, title: str, message: str, initial: str, label: str) -> None:
        super().__init__()
        self.save_label = label
        self.title_text = title
        self.message = message
        self.initial = initial

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="panel") as panel:
            panel.border_title = self.title_text
            panel.border_subtitle = "ctrl+s release · esc cancel"
            yield Static(self.message, classes="message")
            yield JsonEditor(self.initial, id="result")
            yield from self.buttons()

    def on_mount(self) -> None:
        self.query_one(JsonEditor).focus_text()

    def read(self) -> tuple[Any]:
        return (self.json_value("the result"),)
