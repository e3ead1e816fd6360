"""The queue view against a real server: throughput, backlog and wait times from the watch
stream, the latest failures with their errors; counts from the stream's stats."""

from __future__ import annotations

from collections.abc import Callable

from pgqueue_core.models import QueueMeta, TaskMeta
from pgqueue_tui.app import ConsoleApp
from pgqueue_tui.client import Client
from pgqueue_tui.screens.overview import OverviewScreen
from pgqueue_tui.screens.queue_detail import QueueDetailScreen
from pgqueue_tui.screens.task_detail import TaskDetailScreen
from pgqueue_tui.widgets.live_table import LiveTable
from pgqueue_tui.widgets.queue_table import QueueTable
from tests.support.console import SIZE, cell_texts, text_of, wait_on_screen

VIEW = (120, 44)


async def test_the_queue_view_shows_throughput_waits_and_failures(
    console: Callable[..., ConsoleApp], client: Client
) -> None:
    await client.create_queue(QueueMeta(queue="jobs", retries=0))
    app = console()
    async with app.run_test(size=VIEW) as pilot:
        await wait_on_screen(pilot, lambda: app.watching == "live", "the watch stream")
        await wait_on_screen(pilot, lambda: app.screen.query_one(QueueTable).row_count, "the row")
        await pilot.press("enter")
        screen = await wait_on_screen(
            pilot, lambda: isinstance(app.screen, QueueDetailScreen) and app.screen, "the view"
        )
        for n in range(5):
            await client.create_task("jobs", TaskMeta(payload=n))
        for n in range(5):
            task = await client.next_task("w", "jobs")
            assert task is not None
            ok = n != 2
            result = {"sent": n} if ok else {"error": "SMTPError", "message": "421 later"}
            await client.release_task(task.id, success=ok, result=result)
            if not ok:
                failed_id = task.id

        def series() -> tuple[int, int]:
            completed, failed, _ = app.live.series("jobs")
            return sum(completed), sum(failed)

        await wait_on_screen(pilot, lambda: series() == (4, 1), "4 completed and 1 failed")
        failures = screen.query_one("#failures", LiveTable)
        await wait_on_screen(pilot, lambda: failures.row_count == 1, "the failure")
        row = cell_texts(failures)[0]
        assert row[0] == str(failed_id) and "421 later" in row[3]

        def wait_pane() -> dict[str, str]:
            lines = text_of(screen.query_one("#wait")).splitlines()
            return {p[0]: p[-1] for p in (line.split() for line in lines) if len(p) >= 2}

        await wait_on_screen(
            pilot, lambda: wait_pane().get("retained") == "5", "5 waits", timeout=5
        )
        assert len(app.live.waited("jobs")) == 5
        assert wait_pane()["p50"].endswith(("ms", "s")), wait_pane()
        await wait_on_screen(
            pilot,
            lambda: screen.summary is not None and screen.summary.counts.get("failed") == 1,
            "failed = 1 in the counts",
        )
        failures.focus()
        await pilot.press("enter")
        await wait_on_screen(pilot, lambda: isinstance(app.screen, TaskDetailScreen), "the task")


async def test_overview_counts_come_from_the_stream(
    console: Callable[..., ConsoleApp], client: Client
) -> None:
    await client.create_queue(QueueMeta(queue="q"))
    app = console(refresh=30.0)  # no poll would come in time: only the stream can tell
    async with app.run_test(size=SIZE) as pilot:
        overview = app.screen_stack[0]
        assert isinstance(overview, OverviewScreen)
        await wait_on_screen(pilot, lambda: app.live.summaries is not None, "the stream's stats")
        await client.create_task("q", TaskMeta(payload=1))
        await wait_on_screen(
            pilot,
            lambda: [s.counts.get("new") for s in overview.summaries] == [1],
            "new = 1 from the stream",
            timeout=5,
        )
