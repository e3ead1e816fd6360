"""Namespaces, queue detail, help, the command palette, and getting around by keyboard."""

from __future__ import annotations

import re
from collections.abc import Callable

from textual.command import CommandList, CommandPalette
from textual.widgets import Input

from pgqueue_core.models import QueueMeta, Status, TaskMeta
from pgqueue_tui.app import ConsoleApp
from pgqueue_tui.client import Client
from pgqueue_tui.screens.confirm import ConfirmScreen
from pgqueue_tui.screens.help import HelpScreen
from pgqueue_tui.screens.namespaces import NamespacesScreen
from pgqueue_tui.screens.overview import OverviewScreen
from pgqueue_tui.screens.queue_detail import QueueDetailScreen
from pgqueue_tui.screens.tasks import TasksScreen
from pgqueue_tui.widgets.live_table import LiveTable
from pgqueue_tui.widgets.queue_table import QueueTable
from tests.support.console import SIZE, cell_texts, text_of, wait_on_screen


async def test_list_and_switch_namespaces(
    console: Callable[..., ConsoleApp], client: Client, ns: str
) -> None:
    other = ns + "-b"
    await client.create_queue(QueueMeta(queue="mine"))
    await client.with_namespace(other).create_queue(QueueMeta(queue="theirs"))
    app = console()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("n")
        screen = await wait_on_screen(
            pilot, lambda: isinstance(app.screen, NamespacesScreen) and app.screen, "namespaces"
        )
        table = screen.query_one(LiveTable)
        await wait_on_screen(pilot, lambda: table.row_count >= 2, "the namespaces")
        names = [row[0] for row in cell_texts(table)]
        assert {ns, other, "pgqueue"} <= set(names)
        assert names == sorted(names)
        assert [row[1] for row in cell_texts(table) if row[0] == ns] == ["● current"]
        table.select(other)
        await pilot.press("enter")
        await wait_on_screen(pilot, lambda: isinstance(app.screen, OverviewScreen), "the overview")
        assert app.namespace == other
        queues = app.screen.query_one(QueueTable)
        await wait_on_screen(
            pilot, lambda: [r[0] for r in cell_texts(queues)] == ["theirs"], "theirs"
        )

        await pilot.press("n", "slash")  # any name, even one that owns nothing yet
        await wait_on_screen(pilot, lambda: isinstance(app.screen.focused, Input), "the name field")
        await pilot.press(*ns, "enter")
        await wait_on_screen(pilot, lambda: app.namespace == ns, "back to the first namespace")
        await wait_on_screen(pilot, lambda: [r[0] for r in cell_texts(queues)] == ["mine"], "mine")


async def test_queue_detail_settings_counts_and_actions(
    console: Callable[..., ConsoleApp], client: Client
) -> None:
    await client.create_queue(QueueMeta(queue="emails", retries=4, concurrency=2))
    await client.create_task("emails", TaskMeta(payload=1))
    app = console()
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, lambda: app.screen.query_one(QueueTable).row_count, "the row")
        await pilot.press("enter")
        screen = await wait_on_screen(
            pilot, lambda: isinstance(app.screen, QueueDetailScreen) and app.screen, "detail"
        )
        await wait_on_screen(pilot, lambda: screen.queue is not None, "loaded")
        settings = text_of(screen.query_one("#settings"))
        for fragment in ("emails", "running", "ttl", "1h", "retries", "4", "lease", "5m"):
            assert fragment in settings, fragment
        assert re.search(r"concurrency\s+2\s", settings), settings
        counts = screen.query_one("#counts", LiveTable)
        await wait_on_screen(pilot, lambda: cell_texts(counts)[0] == ["new", "1"], "the counts")

        await pilot.press("p")
        await wait_on_screen(
            pilot, lambda: "paused" in text_of(screen.query_one("#settings")), "paused"
        )
        await pilot.press("enter")  # the new tasks of the queue, on top of this screen
        tasks = await wait_on_screen(
            pilot, lambda: isinstance(app.screen, TasksScreen) and app.screen, "tasks"
        )
        assert tasks.filters == ("emails", Status.NEW.value)
        await pilot.press("escape")
        await wait_on_screen(pilot, lambda: app.screen is screen, "back to the queue")
        await pilot.press("d")
        dialog = await wait_on_screen(
            pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen, "confirm"
        )
        assert "its 1 task (1 not finished yet)" in str(dialog.message)
        await pilot.press("y")
        await wait_on_screen(pilot, lambda: isinstance(app.screen, OverviewScreen), "overview")
    assert (await client.list_queues()).count == 0


async def test_help_lists_the_keys_of_the_screen_and_the_app(
    console: Callable[..., ConsoleApp],
) -> None:
    app = console()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("t")
        await wait_on_screen(pilot, lambda: isinstance(app.screen, TasksScreen), "tasks")
        await pilot.press("question_mark")
        help_screen = await wait_on_screen(
            pilot, lambda: isinstance(app.screen, HelpScreen) and app.screen, "help"
        )
        text = text_of(help_screen.query_one("#help"))
        for fragment in ("This screen", "Requeue all matching", "Retain next", "Everywhere",
                         "Namespaces", "esc"):  # fmt: skip
            assert fragment in text, fragment
        await pilot.press("escape")
        await wait_on_screen(pilot, lambda: isinstance(app.screen, TasksScreen), "closed")
        await pilot.press("escape")
        await wait_on_screen(pilot, lambda: isinstance(app.screen, OverviewScreen), "back")


async def test_q_quits_and_o_goes_back_to_the_queues(console: Callable[..., ConsoleApp]) -> None:
    app = console()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("slash")  # the overview's name filter: there q is a letter
        field = await wait_on_screen(
            pilot, lambda: isinstance(app.focused, Input) and app.focused, "the filter"
        )
        await pilot.press("q")
        await wait_on_screen(pilot, lambda: field.value == "q", "the letter typed")
        assert app.is_running
        await pilot.press("escape")
        await wait_on_screen(pilot, lambda: not isinstance(app.focused, Input), "the filter closed")
        await pilot.press("t")
        await wait_on_screen(pilot, lambda: isinstance(app.screen, TasksScreen), "tasks")
        await pilot.press("o")
        await wait_on_screen(pilot, lambda: isinstance(app.screen, OverviewScreen), "the queues")
        await pilot.press("q")
        await wait_on_screen(pilot, lambda: not app.is_running, "the console to quit")


async def test_the_command_palette_lists_and_runs_actions(
    console: Callable[..., ConsoleApp], client: Client
) -> None:
    await client.create_queue(QueueMeta(queue="emails"))
    app = console()
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, lambda: app.screen.query_one(QueueTable).row_count, "the row")
        await pilot.press("ctrl+p")
        palette = await wait_on_screen(
            pilot, lambda: isinstance(app.screen, CommandPalette) and app.screen, "palette"
        )
        await pilot.press(*"pause")
        hits = palette.query_one(CommandList)

        def prompts() -> list[str]:
            return [str(hits.get_option_at_index(i).prompt) for i in range(hits.option_count)]

        await wait_on_screen(
            pilot, lambda: any("Pause" in p for p in prompts()), "the pause action"
        )
        await pilot.press("enter")
        await wait_on_screen(pilot, lambda: isinstance(app.screen, OverviewScreen), "closed")
        await wait_on_screen(
            pilot, lambda: "‖" in cell_texts(app.screen.query_one(QueueTable))[0][0], "paused"
        )
