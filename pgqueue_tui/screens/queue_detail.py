"""One queue: settings, tasks per status, throughput and backlog over the last minutes, wait
times, the most recent failures with their errors, and what can be done to it."""

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
from pgqueue_core.models import Queue, QueueChange, QueueSummary, Status, Task, TaskChange

from .. import output
from ..events import Stats, WatchEvent
from ..output import compact_json, duration, local, truncate
from ..widgets import cells
from ..widgets.header import ConsoleHeader
from ..widgets.live_table import LiveTable
from ..widgets.queue_table import COUNTED
from ..widgets.queue_trends import QueueTrends
from .queue_actions import QueueActionsScreen

FAILURES_SHOWN = 8


class QueueDetailScreen(QueueActionsScreen):
    """Settings and counts per status (enter lists those tasks) on top; below, the trends
    the watch stream feeds (throughput, backlog, wait p50/p99) and the latest failures
    (enter opens one)."""

    CSS_PATH = "queue_detail.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("e", "edit_queue", "Edit"),
        Binding("p", "toggle_pause", "Pause"),
        Binding("r", "requeue", "Requeue"),
        Binding("d", "delete_queue", "Delete"),
        Binding("b", "reset_breaker", "Reset breaker"),
        Binding("c", "create_task", "New task"),
        Binding("t", "queue_tasks", "Tasks"),
        Binding("enter", "status_tasks", "Tasks in status", show=False),
    ]

    interval = 1.0

    @dataclass
    class Loaded(Message):
        queue: Queue
        summary: QueueSummary | None
        failures: list[Task] | None  # None: unchanged since the last look

    class Gone(Message):
        pass

    def __init__(self, name: str) -> None:
        super().__init__()
        self.queue_name = name
        self.queue: Queue | None = None
        self.summary: QueueSummary | None = None
        self.failures: list[Task] = []
        self._failures_seen = -1  # the live failure count the list was read at
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
        yield QueueTrends()
        failures = LiveTable(id="failures")
        failures.border_title = "Recent failures"
        failures.border_subtitle = "enter: open"
        yield failures
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#counts", LiveTable)
        table.add_column("status", key="status")
        table.add_column(Text("tasks", justify="right"), key="count")
        failures = self.query_one("#failures", LiveTable)
        failures.add_column(Text("id", justify="right"), key="id")
        failures.add_column("attempt", key="attempt")
        failures.add_column("finished", key="finished")
        failures.add_column("error", key="error")
        table.focus()
        self.start_polling()

    async def fetch(self) -> Message:
        live = self.console.live
        try:
            if live.summaries is not None:  # the watch stream brings the counts
                queue, summaries = await self.client.get_queue(self.queue_name), live.summaries
            else:
                queue, summaries = await asyncio.gather(
                    self.client.get_queue(self.queue_name), self.client.queue_summaries()
                )
        except NotFound:
            return self.Gone()
        summary = next((s for s in summaries if s.queue == self.queue_name), None)
        seen = live.history(self.queue_name).failures_seen
        failures = None
        if seen != self._failures_seen or (live.summaries is None and seen == 0):
            self._failures_seen = seen
            failures = await self._recent_failures(summary)
        return self.Loaded(queue, summary, failures)

    async def _recent_failures(self, summary: QueueSummary | None) -> list[Task]:
        """The latest failed tasks: those the stream saw fail (newest first), then the
        newest of the rest by id (tasks are listed oldest first: read the last page)."""
        found: dict[int, Task] = {}
        known = {t.id: t for t in self.failures}
        for task_id in list(self.console.live.history(self.queue_name).failures):
            if len(found) >= FAILURES_SHOWN:
                break
            task = known.get(task_id)
            if task is None:
                try:
                    task = await self.client.get_task(task_id)
                except NotFound:  # cleaned up
                    continue
            if task.status is Status.FAILED:
                found[task.id] = task
        count = summary.counts.get(Status.FAILED, 0) if summary else None
        if len(found) < FAILURES_SHOWN and count != 0:
            if count is None:
                count = (await self.client.list_tasks(self.queue_name, Status.FAILED, 0, 1)).count
            offset = max(0, count - FAILURES_SHOWN)
            page = await self.client.list_tasks(
                self.queue_name, Status.FAILED, offset, FAILURES_SHOWN
            )
            for task in reversed(page.items):
                if len(found) < FAILURES_SHOWN:
                    found.setdefault(task.id, task)
        return list(found.values())

    def on_queue_detail_screen_gone(self, _: Gone) -> None:
        self.notify(f"Queue {self.queue_name!r} no longer exists.", severity="warning")
        self.action_back()

    def on_queue_detail_screen_loaded(self, message: Loaded) -> None:
        self.queue, self.summary = message.queue, message.summary
        if message.failures is not None:
            self.failures = message.failures
        self._show()
        self.refresh_bindings()

    def watched(self, event: WatchEvent) -> None:
        match event:
            case Stats():
                self.summary = next(
                    (s for s in event.queues if s.queue == self.queue_name), self.summary
                )
                q = self.queue
                if (
                    q is not None
                    and self.summary is not None
                    and (self.summary.breaker, self.summary.breaker_open_until)
                    != (q.breaker, q.breaker_open_until)
                ):
                    self.wake()  # the breaker moved: read its failures with it
                self._show()
            case TaskChange(change="failed") if event.queue == self.queue_name:
                self.wake()  # read the failure's error (and the breaker's count)
            case TaskChange(change="retry" | "released") if event.queue == self.queue_name:
                # The breaker's failures in a row moved (a success clears them).
                q = self.queue
                if (
                    q is not None
                    and q.breaker_threshold is not None
                    and (event.change == "retry" or q.breaker_failures)
                ):
                    self.wake()
            case QueueChange() if event.queue == self.queue_name:
                self.wake()  # edited elsewhere, or its breaker was reset

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
        grid.add_row("rate", "no limit" if q.rate is None else output.rate(q.rate, q.burst))
        grid.add_row("weight", f"{q.weight} (tasks per turn across queues)")
        grid.add_row("breaker", self._breaker(q))
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
        self.query_one(QueueTrends).show(
            self.console.live, self.queue_name, palette, self.console.watching
        )
        now = self.console.now()
        self.query_one("#failures", LiveTable).sync(
            [
                (
                    str(t.id),
                    [
                        Text(str(t.id), justify="right"),
                        f"{t.attempt}/{t.attempt + t.retries}",
                        cells.since(t.finished_at, now),
                        Text(truncate(compact_json(t.result), 200), style=palette.error),
                    ],
                )
                for t in self.failures
            ]
        )

    def _breaker(self, q: Queue) -> Text:
        """closed / open until T / half-open, its failures in a row and its cooldown."""
        if q.breaker_threshold is None:
            return Text("none", style="dim")
        now = self.console.now()
        text = cells.breaker(q.breaker, q.breaker_open_until, now, self.palette)
        if text.plain.startswith("open"):
            text.append(f" ({cells.since(q.breaker_open_until, now)})", style="")
        text.append(
            f" · {q.breaker_failures}/{q.breaker_threshold} failed in a row"
            f" · cooldown {duration(q.breaker_cooldown)}",
            style="",
        )
        return text

    def current_summary(self) -> QueueSummary | None:
        return self.summary

    def current_breaker(self) -> str:
        q = self.queue
        if q is None:
            return super().current_breaker()
        text = output.breaker(q.breaker, q.breaker_open_until, self.console.now())
        return "open" if text.startswith("open") else text

    def queue_changed(self, queue: Queue) -> None:
        if queue.queue != self.queue_name:  # renamed
            self.queue_name = queue.queue
            self.set_context(f"queue: {queue.queue}")
        self.queue = queue
        self._show()
        self.refresh_bindings()
        self.wake()

    def queue_deleted(self, name: str) -> None:
        self.action_back()

    def action_create_task(self) -> None:
        self.create_task(self.queue_name)

    def action_queue_tasks(self) -> None:
        self.console.open_tasks(queue=self.queue_name, on_top=True)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        table = event.data_table
        if isinstance(table, LiveTable) and table.id == "failures":
            if (key := table.selected) is not None:
                self.console.open_task(int(key))
            return
        self.action_status_tasks()

    def action_status_tasks(self) -> None:
        status = self.query_one("#counts", LiveTable).selected
        self.console.open_tasks(queue=self.queue_name, status=status, on_top=True)
