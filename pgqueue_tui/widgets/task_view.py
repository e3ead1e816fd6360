"""Everything about one task: status, attempts, worker, timestamps, payload and result."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from rich.console import Group, RenderableType
from rich.json import JSON
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from pgqueue_core.models import WAITING, Status, Task

from ..output import compact_json, local, task_when, truncate
from ..theme import Palette
from . import cells

PRETTY_LIMIT = 20_000  # characters of JSON shown in full; the rest is cut with a note


def max_runs(task: Task) -> int:
    """How many runs the task gets in all (done so far plus what its retries allow)."""
    return task.attempt + task.retries + (1 if task.status in WAITING else 0)


def attempts(task: Task) -> str:
    return f"{task.attempt}/{max_runs(task)}"


def _pretty(value: Any) -> RenderableType:
    text = json.dumps(value, ensure_ascii=False, indent=2)
    if len(text) > PRETTY_LIMIT:
        return Text(text[:PRETTY_LIMIT] + f"\n… {len(text) - PRETTY_LIMIT:,} more characters")
    return JSON(text, highlight=True)


class TaskView(Static):
    """`compact`: a few lines for the task list's preview pane; otherwise the full view
    with pretty-printed, highlighted JSON for the task screen."""

    def __init__(self, *, compact: bool = False, id: str | None = None) -> None:
        super().__init__(id=id)
        self.compact = compact

    def show(self, task: Task | None, now: datetime, palette: Palette) -> None:
        if task is None:
            self.update(Text("No task selected.", style="dim"))
            return
        view = self._compact if self.compact else self._full
        self.update(view(task, now, palette))

    def _headline(self, task: Task, palette: Palette) -> Text:
        line = Text(no_wrap=True, overflow="ellipsis")
        line.append(f"task {task.id}", style="bold")
        line.append(f"  {task.queue}  ")
        line.append_text(cells.status(task.status, palette))
        if task.cancel_requested and not task.status.terminal:
            line.append(" (cancel requested)", style=palette.warning)
        line.append(f"  attempt {attempts(task)}", style="dim")
        if task.worker:
            line.append(f"  worker {task.worker}", style="dim")
        if task.priority:
            line.append(f"  priority {task.priority}", style="dim")
        return line

    def _compact(self, task: Task, now: datetime, palette: Palette) -> RenderableType:
        grid = Table.grid(padding=(0, 1))
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column(no_wrap=True, overflow="ellipsis")
        grid.add_row("payload", truncate(compact_json(task.payload), 400))
        grid.add_row("result", truncate(compact_json(task.result), 400))
        times = [f"created {cells.since(task.created_at, now)}", task_when(task, now)]
        if not task.status.terminal:
            times.append(f"dies {cells.since(task.dies_at, now)}")
        grid.add_row("when", " · ".join(t for t in times if t))
        return Group(self._headline(task, palette), grid)

    def _full(self, task: Task, now: datetime, palette: Palette) -> RenderableType:
        def when(value: datetime | None) -> str:
            return "—" if value is None else f"{local(value)}  ({cells.since(value, now)})"

        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column()
        grid.add_row("status", cells.status(task.status, palette, task.cancel_requested))
        grid.add_row("queue", task.queue)
        left = f"{task.retries} {'retry' if task.retries == 1 else 'retries'} left"
        grid.add_row("attempt", f"{attempts(task)}  ({left})")
        grid.add_row("priority", str(task.priority))
        if task.key is not None:
            grid.add_row("key", task.key)
        grid.add_row("worker", task.worker or "—")
        if task.cancel_requested and task.status is Status.RETAINED:
            grid.add_row("cancel", Text("requested: the worker stops at its next heartbeat"))
        grid.add_row("created", when(task.created_at))
        grid.add_row("delayed until", when(task.delayed_at))
        grid.add_row("started", when(task.started_at))
        grid.add_row("lease until", when(task.leased_until))
        grid.add_row("finished", when(task.finished_at))
        grid.add_row("dies", when(task.dies_at))
        return Group(
            self._headline(task, palette),
            Text(),
            grid,
            Text(),
            Text("payload", style=f"bold {palette.primary}"),
            _pretty(task.payload),
            Text(),
            Text("result", style=f"bold {palette.primary}"),
            _pretty(task.result),
        )
