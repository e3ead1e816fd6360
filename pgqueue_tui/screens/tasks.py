"""Tasks: filter by queue and status, page through thousands, act on the highlighted one."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal
from textual.message import Message
from textual.widgets import DataTable, Footer, Select, Static

from pgqueue_core.models import Status, Task

from ..widgets.header import ConsoleHeader
from ..widgets.task_table import TaskTable
from ..widgets.task_view import TaskView
from .task_actions import REQUEUEABLE, TaskActionsScreen

CHUNK = 100  # the API's largest page

Filters = tuple[str | None, str | None]


class TasksScreen(TaskActionsScreen):
    """A page of `app.page_size` tasks, newest first (the API lists oldest first: the
    screen counts first, then fetches the page's slice in chunks of 100 at once)."""

    CSS_PATH = "tasks.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("enter", "open_task", "Detail", show=False),
        Binding("r", "requeue_task", "Requeue"),
        Binding("x", "cancel_task", "Cancel"),
        Binding("left_square_bracket", "page(-1)", "Prev", key_display="["),
        Binding("right_square_bracket", "page(1)", "Next", key_display="]"),
        Binding("slash", "filter", "Filter", key_display="/"),
        Binding("c", "create_task", "Create task", show=False),
        Binding("R", "requeue_all", "Requeue all matching", show=False),
        Binding("g", "retain_task", "Retain next (debug)", show=False),
        Binding("s", "complete_task", "Complete (debug)", show=False),
        Binding("f", "fail_task", "Fail (debug)", show=False),
        Binding(
            "left_curly_bracket", "page(-1_000_000)", "First page", show=False, key_display="{"
        ),
        Binding("right_curly_bracket", "page(1_000_000)", "Last page", show=False, key_display="}"),
    ]

    interval = 2.0

    @dataclass
    class Loaded(Message):
        filters: Filters
        requested: int
        page: int
        total: int
        tasks: list[Task]
        queues: list[str]

    def __init__(self, queue: str | None = None, status: str | None = None) -> None:
        super().__init__()
        self.filters: Filters = (queue, status)
        self.page = 0
        self.total = 0
        self.tasks: list[Task] = []
        self.queues: list[str] = []
        self.shown: tuple[Filters, int] | None = None
        self.context = self._describe()

    def compose(self) -> ComposeResult:
        yield ConsoleHeader(self.context)
        queue, status = self.filters
        with Horizontal(id="filters"):
            yield Select(
                [(queue, queue)] if queue else [],
                value=queue or Select.NULL,
                prompt="all queues",
                compact=True,
                id="queue",
            )
            yield Select(
                [(s.value, s.value) for s in Status],
                value=status or Select.NULL,
                prompt="all statuses",
                compact=True,
                id="status",
            )
            yield Static(id="page")
        table = TaskTable(id="tasks")
        table.border_subtitle = "newest first · enter: detail"
        yield table
        preview = TaskView(compact=True, id="preview")
        yield preview
        yield Footer()

    def on_mount(self) -> None:
        self.query_one(TaskTable).focus()
        self._page_note(loading=True)
        self.start_polling()

    def _describe(self) -> str:
        return " › ".join(["tasks", *(f for f in self.filters if f)])

    # ---- loading ------------------------------------------------------------------

    @property
    def page_size(self) -> int:
        return self.console.page_size

    def pages(self, total: int | None = None) -> int:
        total = self.total if total is None else total
        return max(1, -(-total // self.page_size))

    async def fetch(self) -> Message:
        filters, requested = self.filters, self.page
        queue, status = filters
        probe, queues = await asyncio.gather(
            self.client.list_tasks(queue, status, limit=1), self.queue_names()
        )
        total = probe.count
        page = min(requested, self.pages(total) - 1)
        end = total - page * self.page_size
        start = max(0, end - self.page_size)
        chunks = await asyncio.gather(
            *(
                self.client.list_tasks(queue, status, offset=offset, limit=min(CHUNK, end - offset))
                for offset in range(start, end, CHUNK)
            )
        )
        tasks = [task for chunk in chunks for task in chunk.items]
        tasks.sort(key=lambda t: t.id, reverse=True)
        return self.Loaded(filters, requested, page, total, tasks, queues)

    def on_tasks_screen_loaded(self, message: Loaded) -> None:
        if (message.filters, message.requested) != (self.filters, self.page):
            return  # the filters or the page changed while this one was on its way
        self._queue_options(message.queues)
        self.page, self.total, self.tasks = message.page, message.total, message.tasks
        table = self.query_one(TaskTable)
        if self.shown != (message.filters, message.page):
            table.forget()
            self.shown = (message.filters, message.page)
        table.show(message.tasks, self.console.now(), self.palette)
        self._page_note()
        self._preview()
        self.refresh_bindings()

    def _queue_options(self, names: list[str]) -> None:
        if names == self.queues:
            return
        self.queues = names
        select = self.query_one("#queue", Select)
        current = self.filters[0]
        options = list(names) + ([current] if current and current not in names else [])
        with self.prevent(Select.Changed):
            select.set_options([(name, name) for name in options])
            if current:
                select.value = current

    def _page_note(self, loading: bool = False) -> None:
        note = self.query_one("#page", Static)
        if loading:
            note.update("loading…")
            return
        noun = "task" if self.total == 1 else "tasks"
        note.update(f"page {self.page + 1} of {self.pages()} · {self.total:,} {noun}")

    def _preview(self) -> None:
        self.query_one(TaskView).show(self.current_task(), self.console.now(), self.palette)

    # ---- selection and filters ----------------------------------------------------

    def current_task(self) -> Task | None:
        wanted = self.query_one(TaskTable).selected_id
        return next((t for t in self.tasks if t.id == wanted), None)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._preview()
        self.refresh_bindings()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.action_open_task()

    def action_open_task(self) -> None:
        if (task := self.current_task()) is not None:
            self.console.open_task(task.id)

    def on_select_changed(self, event: Select.Changed) -> None:
        event.stop()
        value = event.value if isinstance(event.value, str) else None
        queue, status = self.filters
        if event.select.id == "queue":
            queue = value
        else:
            status = value
        self.set_filters(queue, status)

    def set_filters(self, queue: str | None, status: str | None) -> None:
        if (queue, status) == self.filters:
            return
        self.filters = (queue, status)
        self.page = 0
        self.set_context(self._describe())
        self._page_note(loading=True)
        self.wake()

    def action_filter(self) -> None:
        self.query_one("#queue", Select).focus()

    def action_page(self, step: int) -> None:
        page = min(max(self.page + step, 0), self.pages() - 1)
        if page != self.page:
            self.page = page
            self._page_note(loading=True)
            self.wake()

    # ---- actions on many or on the next task --------------------------------------

    def action_create_task(self) -> None:
        self.create_task(self.filters[0])

    def action_retain_task(self) -> None:
        self.retain(self.filters[0])

    def action_requeue_all(self) -> None:
        queue, status = self.filters
        if queue is None or status is None or Status(status) not in REQUEUEABLE:
            self.notify(
                "Filter one queue and a status of failed, expired or cancelled first (/).",
                severity="warning",
            )
            return
        self.confirm(
            f"Requeue all {self.total:,} {status} tasks of {queue!r}?\n"
            "They go back to new with fresh retries and TTL.",
            lambda: self.run_worker(self._requeue_all(queue, Status(status)), group="action"),
            label=f"Requeue {self.total:,}",
        )

    async def _requeue_all(self, queue: str, status: Status) -> None:
        count = await self.call("requeue", self.client.requeue_tasks(queue, status))
        if count is not None:
            self.notify(f"{count:,} {status.value} tasks back to new.", title="Requeued")
            self.wake()

    def task_created(self, task: Task) -> None:
        self.wake()
