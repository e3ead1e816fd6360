"""Create a task: queue, JSON payload (validated as you type), delay, priority, de-dup key."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta

from textual.app import ComposeResult
from textual.containers import Grid, VerticalScroll
from textual.widgets import Input, Label, Select

from pgqueue_core import validate
from pgqueue_core.durations import parse_duration
from pgqueue_core.errors import InvalidArgument
from pgqueue_core.models import TaskMeta

from ..output import now_utc
from ..widgets.json_editor import JsonEditor
from .form import FormScreen

NewTask = tuple[str, TaskMeta]


class TaskFormScreen(FormScreen[NewTask]):
    """Dismissed with (queue, TaskMeta) or None. Save refuses until the payload parses."""

    save_label = "Create"

    def __init__(self, queues: Sequence[str], queue: str | None = None) -> None:
        super().__init__()
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
            yield from self.buttons()

    def on_mount(self) -> None:
        if self.queue is None:
            self.query_one("#queue", Select).focus()
        else:
            self.query_one(JsonEditor).focus_text()

    def read(self) -> NewTask:
        queue = self.query_one("#queue", Select).value
        if not isinstance(queue, str):
            raise InvalidArgument("choose the queue of the task")
        payload = self.json_value("the payload")
        delayed_at = None
        if delay := self.text("delay"):
            value = parse_duration(delay, "delay")
            if value < timedelta(0):
                raise InvalidArgument("delay cannot be negative")
            delayed_at = now_utc() + value
        priority = 0
        if text := self.text("priority"):
            try:
                priority = int(text)
            except ValueError:
                raise InvalidArgument(f"priority must be a whole number, not {text!r}") from None
        key = validate.key(self.text("key") or None)
        meta = TaskMeta(payload=payload, delayed_at=delayed_at, priority=priority, key=key)
        return queue, meta
