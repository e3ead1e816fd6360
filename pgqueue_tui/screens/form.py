"""What every dialog form shares: save / cancel keys and buttons, errors shown in place."""

from __future__ import annotations

from typing import Generic, Literal, TypeVar

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Static

from pgqueue_core.errors import InvalidArgument

from ..widgets.json_editor import JsonEditor

ResultT = TypeVar("ResultT")


class FormScreen(ModalScreen[ResultT | None], Generic[ResultT]):
    """A modal form dismissed with `read()`'s value on save, or None on cancel.

    `read()` raises InvalidArgument for a value that cannot be sent; its message is shown
    under the fields and the form stays open, so most mistakes never reach the server.
    """

    CSS_PATH = "dialog.tcss"
    BINDINGS = [
        Binding("ctrl+s", "save", "Save"),
        Binding("escape", "cancel", "Cancel"),
    ]
    save_label = "Save"
    save_variant: Literal["primary", "warning"] = "primary"

    def __init__(self) -> None:
        super().__init__(classes="dialog")

    def read(self) -> ResultT:  # pragma: no cover - every form defines it
        raise NotImplementedError

    def buttons(self) -> ComposeResult:
        """The error line and the save / cancel buttons, at the end of the form."""
        yield Static(classes="error", id="error")
        with Horizontal(classes="buttons"):
            yield Button(self.save_label, variant=self.save_variant, id="save", compact=True)
            yield Button("Cancel", id="cancel", compact=True)

    def text(self, field: str) -> str:
        return self.query_one(f"#{field}", Input).value.strip()

    def json_value(self, what: str) -> object:
        """The JSON editor's value, or InvalidArgument while it does not parse."""
        editor = self.query_one(JsonEditor)
        if (problem := editor.problem) is not None:
            raise InvalidArgument(f"{what} is not valid JSON ({problem})")
        return editor.value

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_save()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "save":
            self.action_save()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)

    def action_save(self) -> None:
        try:
            value = self.read()
        except InvalidArgument as exc:
            self.query_one("#error", Static).update(str(exc))
            return
        self.dismiss(value)
