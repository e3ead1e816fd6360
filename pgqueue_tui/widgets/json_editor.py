"""A JSON editor that says at once whether the text is valid JSON, and where it is not."""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import Static, TextArea


class JsonEditor(Vertical):
    """A TextArea and a status line under it: "✓ valid JSON" or the parser's complaint
    with line and column. `valid` and `value` tell the form what to send."""

    DEFAULT_CSS = """
    JsonEditor {
        height: auto;
    }
    JsonEditor TextArea {
        height: 7;
        border: tall $panel;
    }
    JsonEditor TextArea:focus {
        border: tall $primary;
    }
    JsonEditor .json-status {
        height: 1;
        padding: 0 1;
    }
    """

    def __init__(self, text: str = "{}", *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._initial = text

    def compose(self) -> ComposeResult:
        yield TextArea(self._initial, soft_wrap=True, tab_behavior="focus")
        yield Static(classes="json-status")

    def on_mount(self) -> None:
        self._show()

    @property
    def text(self) -> str:
        return self.query_one(TextArea).text

    @property
    def problem(self) -> str | None:
        """Why the text is not JSON, or None when it is."""
        try:
            json.loads(self.text)
        except json.JSONDecodeError as exc:
            return f"line {exc.lineno}, column {exc.colno}: {exc.msg}"
        return None

    @property
    def valid(self) -> bool:
        return self.problem is None

    @property
    def value(self) -> Any:
        """The parsed document (ValueError when invalid)."""
        return json.loads(self.text)

    def focus_text(self) -> None:
        self.query_one(TextArea).focus()

    def on_text_area_changed(self, event: TextArea.Changed) -> None:
        event.stop()
        self._show()

    def _show(self) -> None:
        problem = self.problem
        status = self.query_one(".json-status", Static)
        if problem is None:
            status.update("✓ valid JSON")
            status.styles.color = self.app.current_theme.success
        else:
            status.update(Text(f"× {problem}"))
            status.styles.color = self.app.current_theme.error
