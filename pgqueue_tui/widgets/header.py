"""The one-line header: server URL, namespace, where you are, connection state, clock."""

from __future__ import annotations

from typing import TYPE_CHECKING, cast

from rich.console import RenderableType
from rich.table import Table
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from ..theme import Palette

if TYPE_CHECKING:
    from ..app import ConsoleApp


class ConsoleHeader(Widget):
    """Reads the connection state and namespace from the app, so that every screen's
    header says the same thing; `context` names the screen (and its filters)."""

    DEFAULT_CSS = """
    ConsoleHeader {
        dock: top;
        height: 1;
        background: $panel;
        color: $foreground;
    }
    """

    context: reactive[str] = reactive("")

    def __init__(self, context: str = "") -> None:
        super().__init__()
        self.set_reactive(ConsoleHeader.context, context)

    @property
    def console(self) -> ConsoleApp:
        return cast("ConsoleApp", self.app)

    def on_mount(self) -> None:
        for name in ("connection", "namespace", "theme"):
            self.watch(self.app, name, self._changed, init=False)
        if self.console.show_clock:
            self.set_interval(1.0, self.refresh)

    def _changed(self, _: object) -> None:
        self.refresh()

    def render(self) -> RenderableType:
        app = self.console
        palette = Palette.of(app.current_theme)
        # Where you are comes first; the URL gives way when the terminal is narrow.
        left = Text(no_wrap=True, overflow="ellipsis")
        left.append(" pgqueue", style=f"bold {palette.primary}")
        left.append(" › ", style="dim")
        left.append("namespace: ", style="dim")
        left.append(app.namespace or "(server default)", style="bold")
        if self.context:
            left.append(" › ", style="dim")
            left.append(self.context, style="bold")
        url = Text(f"  {app.client.url}", style="dim", no_wrap=True, overflow="ellipsis")
        if self.size.width - left.cell_len - 30 < 16:
            url = Text()  # no room for a useful part of it
        right = Text(no_wrap=True, justify="right")
        state = app.connection
        if state == "connected":
            right.append("● connected", style=palette.success)
        elif state == "disconnected":
            right.append("○ disconnected · retrying", style=f"bold {palette.error}")
        else:
            right.append("○ connecting…", style=palette.warning)
        if app.show_clock:
            right.append("  " + app.now().astimezone().strftime("%H:%M:%S"))
        right.append(" ")
        grid = Table.grid(expand=True)
        room = max(self.size.width - right.cell_len - 1, 8)
        grid.add_column(no_wrap=True, overflow="ellipsis", max_width=room)
        grid.add_column(ratio=1, no_wrap=True, overflow="ellipsis")
        grid.add_column(justify="right", no_wrap=True, min_width=right.cell_len)
        grid.add_row(left, url, right)
        return grid
