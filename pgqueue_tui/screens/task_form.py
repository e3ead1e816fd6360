"""Create a task: queue, JSON payload (validated as you type), delay, priority, de-dup key."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from pgqueue_core import validate
from pgqueue_core.durations import parse_duration
from pgqueue_core.errors import InvalidArgument
from pgqueue_core.models import TaskMeta

from ..output import now_utc
from ..widgets.json_editor import JsonEditor

NewTask = tuple[str, TaskMeta]


class TaskFormScreen(ModalScreen[NewTask | None]):
    """Dismissed with (queue, TaskMeta) or None. Save refuses until the payload parses."""

    CSS_PATH = "dialog.tcss"
    BINDINGS = [
        Binding("ctrl+s", "save", "Save"),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(self, queues: Sequence[str], queue: str | None = None) -> None:
        super().__init__(classes="dialog")
        self.queues = list(queues)
        self.queue = queue if queue in self.queues else None

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="panel") as panel:
            panel.border_title = "New task"
            panel.border_subtitle = "ctrl+s create · esc cancel"
            with Grid(classes="form"):
                yield Label("queue")
                yield Select(
                    [(name, name) for name in self.queues],
                    value=self.queue if self.queue else Select.NULL,
                    prompt="choose a queue",
                    id="queue",
                    compact=True,
                )
            yield Label("payload (JSON)", classes="hint")
            yield JsonEditor("{}", id="payload")
            with Grid(classes="form"):
                yield Label("delay")
                yield Input(placeholder="none (e.g. 30s, 5m)", id="delay", compact=True)
                yield Label("priority")
                yield Input(placeholder="0 (higher runs first)", id="priority", compact=True)
                yield Label("key")
                yield Input(placeholder="none (de-duplicates live tasks)", id="key", compact=True)
            yield Static(classes="error", id="error")
            with Horizontal(classes="buttons"):
                yield Button("Create", variant="primary", id="save", compact=True)
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        if self.queue is None:
            self.query_one("#queue", Select).focus()
        else:
            self.query_one(JsonEditor).focus_text()

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
            result = self._read_task()
        except InvalidArgument as exc:
            self.query_one("#error", Static).update(str(exc))
            return
        self.dismiss(result)

    def _text(self, field: str) -> str:
        return self.query_one(f"#{field}", Input).value.strip()

    def _read_task(self) -> NewTask:
        queue = self.query_one("#queue", Select).value
        if not isinstance(queue, str):
            raise InvalidArgument("choose the queue of the task")
        editor = self.query_one(JsonEditor)
        problem = editor.problem
        if problem is not None:
            raise InvalidArgument(f"the payload is not valid JSON ({problem})")
        delayed_at = None
        if delay := self._text("delay"):
            value = parse_duration(delay, "delay")
            if value < timedelta(0):
                raise InvalidArgument("delay cannot be negative")
            delayed_at = now_utc() + value
        priority = 0
        if text := self._text("priority"):
            try:
                priority = int(text)
            except ValueError:
                raise InvalidArgument(f"priority must be a whole number, not {text!r}") from None
        key = validate.key(self._text("key") or None)
        meta = TaskMeta(payload=editor.value, delayed_at=delayed_at, priority=priority, key=key)
        return queue, meta
