"""A yes/no question before a destructive action; says what will happen and to how many."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static


class ConfirmScreen(ModalScreen[bool]):
    """Dismissed with True (`y` or the confirm button) or False (`n`, `esc`, Cancel).
    Cancel has the focus, so that a stray Enter does nothing harmful."""

    CSS_PATH = "dialog.tcss"
    BINDINGS = [
        Binding("y", "answer(True)", "Yes"),
        Binding("n,escape", "answer(False)", "No"),
    ]

    def __init__(self, message: str, label: str = "Yes", title: str = "Confirm") -> None:
        super().__init__(classes="dialog")
        self.message = message
        self.label = label
        self.title_text = title

    def compose(self) -> ComposeResult:
        with Vertical(id="panel") as panel:
            panel.border_title = self.title_text
            panel.border_subtitle = "y yes · n no"
            yield Static(self.message, classes="message", id="message")
            with Horizontal(classes="buttons"):
                yield Button(self.label, variant="error", id="yes", compact=True)
                yield Button("Cancel", id="no", compact=True)

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.dismiss(event.button.id == "yes")

    def action_answer(self, yes: bool) -> None:
        self.dismiss(yes)
