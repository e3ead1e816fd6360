"""The Textual operations console (`pgqueue tui`): screens, bindings and connection state."""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.reactive import reactive
from textual.screen import Screen

from pgqueue_core import validate
from pgqueue_core.errors import InvalidArgument, PgQueueError, Unavailable

from .client import Client
from .events import WatchEvent
from .live import LiveState
from .output import now_utc
from .screens.base import ConsoleScreen
from .screens.help import HelpScreen
from .screens.namespaces import NamespacesScreen
from .screens.overview import OverviewScreen
from .screens.queue_detail import QueueDetailScreen
from .screens.task_detail import TaskDetailScreen
from .screens.tasks import TasksScreen
from .screens.tickers import TickersScreen
from .signals import stop_on_signals
from .theme import DARK, LIGHT, THEMES, default_theme
from .widgets.palette import ActionsProvider

log = logging.getLogger(__name__)

Outcome = tuple[bool, Any]


class ConsoleApp(App[None]):
    """The console of one server. `client` speaks for the namespace shown; `clock` and
    `show_clock` let tests freeze what depends on the time of day."""

    TITLE = "pgqueue"
    COMMANDS = App.COMMANDS | {ActionsProvider}
    # The overview is the bottom of the one screen stack (a mode, so that its CSS loads).
    MODES = {"console": OverviewScreen}
    DEFAULT_MODE = "console"
    BINDINGS = [
        Binding("question_mark", "help", "Help", key_display="?"),
        # `q` quits, as in less, htop and k9s; the queues are the overview (`o`).
        Binding("q", "quit", "Quit"),
        Binding("o", "overview", "Queues"),
        Binding("t", "tasks", "Tasks"),
        Binding("k", "tickers", "Tickers"),
        Binding("n", "namespaces", "Namespaces"),
        Binding("ctrl+q", "quit", "Quit", show=False),  # also inside a text field
    ]

    connection: reactive[str] = reactive("connecting")
    namespace: reactive[str] = reactive("")
    # The watch stream (GET /events): "live" while it delivers, "off" where the server has
    # none (the screens poll instead), else "connecting".
    watching: reactive[str] = reactive("connecting")

    def __init__(
        self,
        client: Client,
        *,
        refresh: float = 1.0,
        page_size: int = 200,
        clock: Callable[[], datetime] = now_utc,
        show_clock: bool = True,
        theme: str | None = None,
        live: LiveState | None = None,
    ) -> None:
        super().__init__()
        self.base_client = client
        self.client = client
        self.refresh_seconds = refresh
        self.page_size = page_size
        self.show_clock = show_clock
        self._clock = clock
        self._last_quiet_error = ""
        self.live = live or LiveState()
        for console_theme in THEMES:
            self.register_theme(console_theme)
        self.theme = theme or default_theme()
        self.set_reactive(ConsoleApp.namespace, client.namespace or "")

    def now(self) -> datetime:
        return self._clock()

    def refresh_interval(self, factor: float) -> float:
        return self.refresh_seconds * factor

    def on_mount(self) -> None:
        if not self.namespace:
            self.run_worker(self._ask_default_namespace(), group="health")
        self._start_watching()

    # ---- the watch stream ---------------------------------------------------------

    def _start_watching(self) -> None:
        self.watching = "connecting"
        self.run_worker(self._watch(), group="events", exclusive=True, exit_on_error=False)

    async def _watch(self) -> None:
        """Follow GET /events: it observes and claims nothing, so a console never takes a
        task or a ticker firing from a real consumer."""
        live = self.live

        def state(connected: bool, error: PgQueueError | None) -> None:
            self.watching = "live" if connected else "connecting"
            if not connected:
                live.summaries = None  # stale: the screens poll the counts meanwhile

        stream = self.client.events(on_state=state, max_delay=5.0)
        try:
            async for event in stream:
                live.feed(event)
                self._broadcast(event)
        except PgQueueError as exc:  # refused for good (an older server, a token's scope)
            self.watching = "off"
            log.info("no live updates: %s", exc)
        finally:
            await stream.aclose()

    def _broadcast(self, event: WatchEvent) -> None:
        for screen in self.screen_stack:
            if isinstance(screen, ConsoleScreen) and screen.is_mounted:
                screen.watched(event)

    async def _ask_default_namespace(self) -> None:
        """Without --namespace the server's default applies: its /health says which."""
        ok, doc = await self.guard("ask the server", self.client.health(), quiet=True)
        if ok and isinstance(doc, dict) and isinstance(doc.get("namespace"), str):
            self.learn_namespace(doc["namespace"])

    async def on_unmount(self) -> None:
        await self.base_client.close()

    # ---- talking to the server ----------------------------------------------------

    async def guard(self, what: str, request: Awaitable[Any], *, quiet: bool = False) -> Outcome:
        """Await one request: (True, value), or (False, None) after reporting the error.

        Connection failures turn the header to "disconnected" (and are notified once);
        other errors are notifications (`quiet`: not the same one twice in a row).
        """
        try:
            value = await request
        except Unavailable as exc:
            if self.connection != "disconnected":
                self.notify(f"{exc}", title="Connection lost · retrying", severity="error")
            elif not quiet:
                self.notify(f"{what}: {exc}", severity="error")
            self.connection = "disconnected"
            return False, None
        except PgQueueError as exc:
            self.reached()
            self._error(what, str(exc), quiet)
            return False, None
        except Exception as exc:  # a bug must not take the console down with it
            log.exception("%s failed", what)
            self._error(what, f"unexpected {type(exc).__name__}: {exc}", quiet)
            return False, None
        self.reached()
        return True, value

    def _error(self, what: str, message: str, quiet: bool) -> None:
        text = f"{what}: {message}"
        if quiet and text == self._last_quiet_error:
            return
        if quiet:
            self._last_quiet_error = text
        self.notify(message, title=f"Could not {what}", severity="error", timeout=8)

    def reached(self) -> None:
        """The server answered."""
        if self.connection == "disconnected":
            self.notify(f"Connected to {self.client.url} again.", title="Reconnected")
        self.connection = "connected"
        self._last_quiet_error = ""

    def learn_namespace(self, namespace: str) -> None:
        """The server's default namespace, once an object of it was seen."""
        if not self.namespace:
            self.namespace = namespace

    def switch_namespace(self, namespace: str) -> None:
        self.client = self.base_client.with_namespace(namespace)
        self.namespace = namespace
        self.live = LiveState(self.live.clock)
        self._start_watching()
        self.run_worker(self._show_overview(reset=True), exclusive=True, group="navigate")
        self.notify(f"Now showing namespace {namespace!r}.", title="Namespace")

    # ---- navigation ---------------------------------------------------------------

    async def _show_overview(self, reset: bool = False) -> None:
        while len(self.screen_stack) > 1:
            await self.pop_screen()
        overview = self.screen_stack[0]
        if reset and isinstance(overview, OverviewScreen):
            overview.reset()

    async def _open_section(self, screen: Screen[Any]) -> None:
        await self._show_overview()
        await self.push_screen(screen)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # The key of the section on screen is left out of its footer.
        here = {
            "overview": OverviewScreen,
            "tasks": TasksScreen,
            "tickers": TickersScreen,
            "namespaces": NamespacesScreen,
        }.get(action)
        return here is None or not isinstance(self.screen, here)

    def action_overview(self) -> None:
        self.run_worker(self._show_overview(), exclusive=True, group="navigate")

    def action_tasks(self) -> None:
        self.open_tasks()

    def open_tasks(
        self, queue: str | None = None, status: str | None = None, *, on_top: bool = False
    ) -> None:
        """The task list; `on_top` keeps the current screen to come back to with esc."""
        screen = TasksScreen(queue=queue, status=status)
        if on_top:
            self.push_screen(screen)
        else:
            self.run_worker(self._open_section(screen), exclusive=True, group="navigate")

    def action_tickers(self) -> None:
        self.run_worker(self._open_section(TickersScreen()), exclusive=True, group="navigate")

    def action_namespaces(self) -> None:
        self.run_worker(self._open_section(NamespacesScreen()), exclusive=True, group="navigate")

    def open_queue(self, name: str) -> None:
        self.push_screen(QueueDetailScreen(name))

    def open_task(self, task_id: int) -> None:
        self.push_screen(TaskDetailScreen(task_id))

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen(self.screen))

    def action_toggle_theme(self) -> None:
        self.theme = LIGHT.name if self.current_theme.dark else DARK.name

    def get_system_commands(self, screen: Screen[Any]) -> Any:
        yield from super().get_system_commands(screen)
        yield SystemCommand(
            "Light / dark theme",
            "Switch between the light and dark theme",
            self.action_toggle_theme,
        )


def run_app(url: str, namespace: str | None = None, token: str | None = None) -> int:
    """`pgqueue tui`: open the console; the exit code."""
    try:
        if namespace:  # the reserved system namespace may be looked at (read-only)
            namespace = validate.name(namespace, "namespace")
        client = Client(url, namespace=namespace, token=token, timeout=10.0)
    except InvalidArgument as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    # Log records would draw over the screen: keep them for a debugger only.
    logging.getLogger().addHandler(logging.NullHandler())
    app = ConsoleApp(client)
    asyncio.run(_run_until_stopped(app))
    return app.return_code or 0


async def _run_until_stopped(app: ConsoleApp) -> None:
    """Textual reads Ctrl-C as a key; a SIGINT or SIGTERM from elsewhere (`kill`, a service
    manager) quits like ctrl+q, giving the terminal back (a second one exits at once)."""
    with stop_on_signals(lambda _: app.exit()):
        await app.run_async()
