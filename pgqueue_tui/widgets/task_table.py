"""One page of tasks, newest first, updated in place between refreshes."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rich.text import Text

from pgqueue_core.models import Task

from ..output import task_when
from ..theme import Palette
from . import cells
from .live_table import LiveTable
from .task_view import attempts


class TaskTable(LiveTable):
    """Rows keyed by task id."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, follow_top=True)

    def on_mount(self) -> None:
        self.add_column(Text("id", justify="right"), key="id")
        self.add_column("queue", key="queue")
        self.add_column("status", key="status")
        self.add_column(Text("try", justify="right"), key="attempt")
        self.add_column(Text("pri", justify="right"), key="priority")
        self.add_column("worker", key="worker")
        self.add_column(Text("age", justify="right"), key="age")
        self.add_column("when", key="when")
        self.add_column("payload", key="payload")

    @property
    def selected_id(self) -> int | None:
        key = self.selected
        return None if key is None else int(key)

    def show(self, tasks: Sequence[Task], now: datetime, palette: Palette) -> None:
        self.sync([(str(t.id), self._row(t, now, palette)) for t in tasks])

    def _row(self, t: Task, now: datetime, palette: Palette) -> list[Any]:
        cancelling = t.cancel_requested and not t.status.terminal
        return [
            Text(str(t.id), justify="right"),
            t.queue,
            cells.status(t.status, palette, cancelling),
            Text(attempts(t), justify="right"),
            cells.count(t.priority),
            t.worker or "—",
            Text(cells.age((now - t.created_at).total_seconds()), justify="right"),
            task_when(t, now),
            cells.json_line(t.payload, 40),
        ]
