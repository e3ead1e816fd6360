"""One task in full: pretty payload and result, timestamps, attempts, worker, lease."""

from __future__ import annotations

from dataclasses import dataclass

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.message import Message
from textual.widgets import Footer

from pgqueue_core.errors import NotFound
from pgqueue_core.models import Task

from ..widgets.header import ConsoleHeader
from ..widgets.task_view import TaskView
from .task_actions import TaskActionsScreen


class TaskDetailScreen(TaskActionsScreen):
    """Refreshes every second, so that a task being worked on can be watched."""

    CSS_PATH = "task_detail.tcss"
    BINDINGS = [
        Binding("escape", "back", "Back"),
        Binding("x", "cancel_task", "Cancel"),
        Binding("r", "requeue_task", "Requeue"),
        Binding("s", "complete_task", "Complete"),
        Binding("f", "fail_task", "Fail"),
    ]

    interval = 1.0

    @dataclass
    class Loaded(Message):
        task: Task

    class Gone(Message):
        pass

    def __init__(self, task_id: int) -> None:
        super().__init__()
        self.task_id = task_id
        self.detail: Task | None = None

    def compose(self) -> ComposeResult:
        yield ConsoleHeader(f"task {self.task_id}")
        with VerticalScroll(id="body"):
            yield TaskView(id="task")
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#body").focus()
        self.query_one(TaskView).update("loading…")
        self.start_polling()

    async def fetch(self) -> Message:
        try:
            return self.Loaded(await self.client.get_task(self.task_id))
        except NotFound:
            return self.Gone()

    def on_task_detail_screen_loaded(self, message: Loaded) -> None:
        self.detail = message.task
        self.query_one(TaskView).show(message.task, self.console.now(), self.palette)
        self.set_context(f"task {self.task_id} ({message.task.queue})")
        self.refresh_bindings()

    def on_task_detail_screen_gone(self, _: Gone) -> None:
        self.notify(f"Task {self.task_id} no longer exists.", severity="warning")
        self.action_back()

    def current_task(self) -> Task | None:
        return self.detail
