"""One queue: its settings, its tasks per status, and what can be done to it."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import DataTable, Footer, Static

from pgqueue_core.errors import NotFound
from pgqueue_core.models import Queue, QueueSummary

from ..output import duration, local
from ..widgets import cells
from ..widgets.header import ConsoleHeader
from ..widgets.live_table import LiveTable
from ..widgets.queue_table import COUNTED
from .queue_actions import QueueActionsScreen


class QueueDetailScreen(QueueActionsScreen):
    """Settings on the left, counts per status on the right (enter lists those tasks)."""

    CSS_PATH = "queue_detail.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("e", "edit_queue", "Edit"),
        Binding("p", "toggle_pause", "Pause"),
        Binding("r", "requeue", "Requeue"),
        Binding("d", "delete_queue", "Delete"),
        Binding("c", "create_task", "New task"),
        Binding("t", "queue_tasks", "Tasks"),
        Binding("enter", "status_tasks", "Tasks in status", show=False),
    ]

    interval = 1.0

    @dataclass
    class Loaded(Message):
        queue: Queue
        summary: QueueSummary | None

    class Gone(Message):
        pass

    def __init__(self, name: str) -> None:
        super().__init__()
        self.queue_name = name
        self.queue: Queue | None = None
        self.summary: QueueSummary | None = None
        self.context = f"queue: {name}"

    def compose(self) -> ComposeResult:
        yield ConsoleHeader(self.context)
        with Horizontal(id="panes"):
            settings = Static(id="settings")
            settings.border_title = "Settings"
            yield settings
            counts = LiveTable(id="counts")
            counts.border_title = "Tasks"
            counts.border_subtitle = "enter: list them"
            yield counts
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#counts", LiveTable)
        table.add_column("status", key="status")
        table.add_column(Text("tasks", justify="right"), key="count")
        table.focus()
        self.start_polling()

    async def fetch(self) -> Message:
        try:
            queue, summaries = await asyncio.gather(
                self.client.get_queue(self.queue_name), self.client.queue_summaries()
            )
        except NotFound:
            return self.Gone()
        summary = next((s for s in summaries if s.queue == self.queue_name), None)
        return self.Loaded(queue, summary)

    def on_queue_detail_screen_gone(self, _: Gone) -> None:
        self.notify(f"Queue {self.queue_name!r} no longer exists.", severity="warning")
        self.action_back()

    def on_queue_detail_screen_loaded(self, message: Loaded) -> None:
        self.queue, self.summary = message.queue, message.summary
        self._show()
        self.refresh_bindings()

    def _show(self) -> None:
        q = self.queue
        if q is None:
            return
        palette = self.palette
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="dim", no_wrap=True)
        grid.add_column()
        grid.add_row("queue", Text(q.queue, style="bold"))
        state = Text("paused — no task is handed out", style=f"bold {palette.warning}")
        grid.add_row("state", state if q.paused else Text("running", style=palette.success))
        grid.add_row("ttl", duration(q.ttl))
        grid.add_row("retries", str(q.retries))
        grid.add_row("retry delay", f"{duration(q.retry_delay)} (doubles per attempt)")
        grid.add_row("lease", duration(q.lease))
        grid.add_row("concurrency", str(q.concurrency) if q.concurrency else "no limit")
        grid.add_row("created", local(q.created_at))
        if self.summary is not None:
            oldest = cells.oldest(self.summary.oldest, self.console.now(), palette)
            oldest.justify = "left"
            grid.add_row("oldest waiting", oldest)
        self.query_one("#settings", Static).update(grid)
        counts = self.summary.counts if self.summary else {}
        self.query_one("#counts", LiveTable).sync(
            [
                (
                    status.value,
                    [
                        cells.status(status, palette),
                        cells.count(counts.get(status, 0), palette.attention(status)),
                    ],
                )
                for status in COUNTED
            ]
        )

    def current_summary(self) -> QueueSummary | None:
        return self.summary

    def queue_changed(self, queue: Queue) -> None:
        if queue.queue != self.queue_name:  # renamed
            self.queue_name = queue.queue
            self.set_context(f"queue: {queue.queue}")
        self.wake()

    def queue_deleted(self, name: str) -> None:
        self.action_back()

    def action_create_task(self) -> None:
        self.create_task(self.queue_name)

    def action_queue_tasks(self) -> None:
        self.console.open_tasks(queue=self.queue_name, on_top=True)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_status_tasks()

    def action_status_tasks(self) -> None:
        status = self.query_one("#counts", LiveTable).selected
        self.console.open_tasks(queue=self.queue_name, status=status, on_top=True)
