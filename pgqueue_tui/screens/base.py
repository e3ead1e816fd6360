"""What every full screen of the console shares: header, footer, API calls and polling."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar, cast

from textual.binding import Binding
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Footer

from pgqueue_core.models import Task, TaskMeta

from ..client import Client
from ..events import WatchEvent
from ..theme import Palette
from ..widgets.header import ConsoleHeader

if TYPE_CHECKING:
    from ..app import ConsoleApp

T = TypeVar("T")

COMPACT_FOOTER_BELOW = 120  # terminal columns
MAX_BACKOFF = 5.0  # seconds between attempts while the server is unreachable


class ConsoleScreen(Screen[None]):
    """A screen that loads its data in a polling worker and posts it as a message.

    `fetch()` does the network I/O and returns the message to post (None: nothing to
    show); the loop runs every `interval` seconds, sooner after `wake()`, and backs off up
    to MAX_BACKOFF while requests fail. It pauses while another screen covers this one,
    unless `poll_hidden` (the overview keeps polling: it tells the header whether the
    server is there).
    """

    BINDINGS = [Binding("escape", "back", "Back")]

    context = ""
    interval = 2.0
    poll_hidden = False

    def __init__(self) -> None:
        super().__init__()
        self._wake = asyncio.Event()
        self._visible = True

    @property
    def console(self) -> ConsoleApp:
        return cast("ConsoleApp", self.app)

    @property
    def client(self) -> Client:
        return self.console.client

    @property
    def palette(self) -> Palette:
        return Palette.of(self.app.current_theme)

    def set_context(self, context: str) -> None:
        self.context = context
        for header in self.query(ConsoleHeader):
            header.context = context

    # ---- polling ------------------------------------------------------------------

    async def fetch(self) -> Message | None:
        """Load this screen's data (override); raise PgQueueError on failure."""
        return None

    def start_polling(self) -> None:
        self.run_worker(self._poll_loop(), group="poll", exclusive=True, exit_on_error=False)
        self.watch(self.app, "connection", self._connection_changed)

    def _connection_changed(self, state: str) -> None:
        # What is shown is the last known state: say so by dimming it.
        self.set_class(state == "disconnected", "-stale")

    def wake(self) -> None:
        """Refresh now instead of at the next interval."""
        self._wake.set()

    def watched(self, event: WatchEvent) -> None:
        """An event of the watch stream (already in `console.live`); override to show it."""

    def on_resize(self) -> None:
        for footer in self.query(Footer):
            footer.compact = self.app.size.width < COMPACT_FOOTER_BELOW

    def on_screen_suspend(self) -> None:
        self._visible = False

    def on_screen_resume(self) -> None:
        self._visible = True
        self.wake()

    async def _poll_loop(self) -> None:
        delay = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), delay)
            self._wake.clear()
            if not (self._visible or self.poll_hidden):
                delay = self.console.refresh_interval(self.interval)
                continue
            ok, message = await self.console.guard("refresh", self.fetch(), quiet=True)
            if not ok:
                delay = min(max(delay, 0.25) * 2, MAX_BACKOFF)
                continue
            delay = self.console.refresh_interval(self.interval)
            if isinstance(message, Message):
                self.post_message(message)

    # ---- actions ------------------------------------------------------------------

    async def call(self, what: str, request: Awaitable[T]) -> T | None:
        """Run one request of a user action; errors become notifications (None)."""
        ok, value = await self.console.guard(what, request)
        return cast(T, value) if ok else None

    def create_task(self, queue: str | None) -> None:
        """Ask for a new task (in `queue` unless another is chosen) and create it."""
        self.run_worker(self._create_task_form(queue), group="action")

    async def _create_task_form(self, queue: str | None) -> None:
        from .task_form import NewTask, TaskFormScreen

        names = await self.call("list the queues", self.queue_names())
        if names is None:
            return
        if not names:
            self.notify("There is no queue yet: create one first (a).", severity="warning")
            return

        def done(result: NewTask | None) -> None:
            if result is not None:
                self.run_worker(self._create_task(*result), group="action")

        self.app.push_screen(TaskFormScreen(names, queue), done)

    async def _create_task(self, queue: str, meta: TaskMeta) -> None:
        result = await self.call("create the task", self.client.create_task_or_get(queue, meta))
        if result is None:
            return
        task, created = result
        if created:
            self.notify(f"Task {task.id} created in {queue!r}.", title="Created")
        else:
            self.notify(
                f"Task {task.id} with key {meta.key!r} is still live: no new task.",
                title="De-duplicated",
                severity="warning",
            )
        self.task_created(task)

    def task_created(self, task: Task) -> None:
        self.wake()

    async def queue_names(self) -> list[str]:
        """Every queue of the namespace (more than one page when need be)."""
        names: list[str] = []
        while True:
            page = await self.client.list_queues(offset=len(names), limit=100)
            names += [queue.queue for queue in page.items]
            if not page.items or len(names) >= page.count:
                return names

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 1:
            self.app.pop_screen()

    def confirm(self, message: str, on_yes: Callable[[], object], label: str = "Yes") -> None:
        """Ask first; `on_yes` runs only when confirmed."""
        from .confirm import ConfirmScreen

        def answered(yes: bool | None) -> None:
            if yes:
                on_yes()

        self.app.push_screen(ConfirmScreen(message, label), answered)
