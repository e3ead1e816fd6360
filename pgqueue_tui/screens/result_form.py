"""The result to release a task with (complete or fail it by hand, for debugging)."""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from ..widgets.json_editor import JsonEditor


class ResultFormScreen(ModalScreen[tuple[Any] | None]):
    """Dismissed with (result,) — a 1-tuple, since JSON null is a result — or None."""

    CSS_PATH = "dialog.tcss"
    BINDINGS = [
        Binding("ctrl+s", "save", "Release"),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, title: str, message: str, initial: str, label: str) -> None:
        super().__init__(classes="dialog")
        self.title_text = title
        self.message = message
        self.initial = initial
        self.label = label

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="panel") as panel:
            panel.border_title = self.title_text
            panel.border_subtitle = "ctrl+s release · esc cancel"
            yield Static(self.message, classes="message")
            yield JsonEditor(self.initial, id="result")
            yield Static(classes="error", id="error")
            with Horizontal(classes="buttons"):
                yield Button(self.label, variant="warning", id="save", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one(JsonEditor).focus_text()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "save":
            self.action_save()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_save(self) -> None:
        editor = self.query_one(JsonEditor)
        if (problem := editor.problem) is not None:
            self.query_one("#error", Static).update(f"not valid JSON ({problem})")
            return
        self.dismiss((editor.value,))
