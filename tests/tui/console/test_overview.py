"""The overview: live counts, throughput, attention, and the queue actions from its keys."""

from __future__ import annotations

from collections.abc import Callable

from textual.widgets import Input

from pgqueue_core.models import QueueMeta, Status, TaskMeta
from pgqueue_tui.app import ConsoleApp
from pgqueue_tui.client import Client
from pgqueue_tui.screens.confirm import ConfirmScreen
from pgqueue_tui.screens.overview import OverviewScreen
from pgqueue_tui.screens.queue_form import QueueFormScreen
from pgqueue_tui.screens.requeue import RequeueScreen
from pgqueue_tui.screens.task_form import TaskFormScreen
from pgqueue_tui.widgets.json_editor import JsonEditor
from pgqueue_tui.widgets.queue_table import QueueTable
from tests.support.console import SIZE, cell_texts, noted, wait_on_screen


def row(app: ConsoleApp, queue: str) -> dict[str, str] | None:
    table = app.screen_stack[0].query_one(QueueTable)
    keys = [str(key.value) for key in table.columns]
    for cells in cell_texts(table):
        if cells[0].split()[0] == queue:
            return dict(zip(keys, [c.rstrip("↑") for c in cells], strict=True))
    return None


async def test_overview_reflects_a_task_created_through_the_api(
    console: Callable[..., ConsoleApp], client: Client, ns: str
) -> None:
    await client.create_queue(QueueMeta(queue="emails"))
    app = console(refresh=1.0)  # the real refresh period: the console must keep up with it
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, lambda: row(app, "emails"), "the queue row")
        assert row(app, "emails")["new"] == "0"
        assert app.connection == "connected"
        assert app.namespace == ns
        await client.create_task("emails", TaskMeta(payload={"to": "a@b.c"}))
        await wait_on_screen(
            pilot, lambda: (row(app, "emails") or {}).get("new") == "1", "new = 1", timeout=3
        )


async def test_counts_per_status_throughput_and_attention(
    console: Callable[..., ConsoleApp], client: Client
) -> None:
    await client.create_queue(QueueMeta(queue="jobs", retries=0))
    for i in range(6):
        await client.create_task("jobs", TaskMeta(payload=i))
    app = console()
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one(QueueTable)
        await wait_on_screen(pilot, lambda: row(app, "jobs"), "the queue row")
        for success in (True, True, True, False):
            task = await client.next_task("w", "jobs")
            assert task is not None
            await client.release_task(task.id, success=success)
        await client.cancel_task((await client.next_task("w", "jobs")).id)
        expected = {"new": "1", "retained": "1", "released": "3", "failed": "1"}
        await wait_on_screen(
            pilot,
            lambda: all((row(app, "jobs") or {}).get(k) == v for k, v in expected.items()),
            f"counts {expected}",
        )
        # 4 tasks finished since the first sample: a non-zero rate and a sparkline bar.
        spark = row(app, "jobs")["rate"]
        assert spark.split()[-1] != "0", spark
        assert set(spark.split()[0]) != {"▁"}, spark
        cells = table.get_row("jobs")
        failed = cells[[str(c.value) for c in table.columns].index("failed")]
        assert "bold" in str(failed.style)  # failed tasks stand out
        assert "1 failed" in str(table.border_subtitle)


async def test_compact_columns_fit_80_columns(
    console: Callable[..., ConsoleApp], client: Client
) -> None:
    await client.create_queue(QueueMeta(queue="emails"))
    app = console()
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one(QueueTable)
        await wait_on_screen(pilot, lambda: row(app, "emails"), "the queue row")
        assert table.compact
        assert table.virtual_size.width <= 78  # inside the border: no sideways scrolling
        await pilot.resize_terminal(160, 40)
        await wait_on_screen(pilot, lambda: not table.compact, "full labels when wide")
        await wait_on_screen(pilot, lambda: row(app, "emails"), "rows again")


async def test_pause_and_resume_from_the_overview(
    console: Callable[..., ConsoleApp], client: Client
) -> None:
    await client.create_queue(QueueMeta(queue="emails"))
    app = console()
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, lambda: row(app, "emails"), "the queue row")
        await pilot.press("p")
        await wait_on_screen(pilot, lambda: "‖" in row(app, "emails")["queue"], "the paused mark")
        assert (await client.get_queue("emails")).paused
        await pilot.press("p")
        await wait_on_screen(pilot, lambda: "‖" not in row(app, "emails")["queue"], "no mark")
        assert not (await client.get_queue("emails")).paused


async def test_create_edit_and_delete_a_queue(
    console: Callable[..., ConsoleApp], client: Client
) -> None:
    app = console()
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(
            pilot, lambda: app.screen.query_one("#empty").display, "the empty hint"
        )
        await pilot.press("a")
        await wait_on_screen(pilot, lambda: isinstance(app.screen, QueueFormScreen), "the form")
        form = app.screen
        await pilot.press(*"emails", "tab", "2", "h")  # typed into the focused fields
        form.query_one("#retries", Input).value = "5"
        form.query_one("#concurrency", Input).value = "3"
        await pilot.press("ctrl+s")
        await wait_on_screen(pilot, lambda: row(app, "emails"), "the new queue")
        queue = await client.get_queue("emails")
        assert (queue.ttl.total_seconds(), queue.retries, queue.concurrency) == (7200, 5, 3)

        await pilot.press("e")
        form = await wait_on_screen(
            pilot, lambda: isinstance(app.screen, QueueFormScreen) and app.screen, "edit form"
        )
        form.query_one("#retries", Input).value = "7"
        form.query_one("#concurrency", Input).value = ""
        await pilot.press("ctrl+s")
        await wait_on_screen(pilot, noted(app, "saved"), "the saved note")
        queue = await client.get_queue("emails")
        assert (queue.retries, queue.concurrency) == (7, None)

        for i in range(3):
            await client.create_task("emails", TaskMeta(payload=i))
        await wait_on_screen(pilot, lambda: row(app, "emails")["new"] == "3", "3 tasks")
        await pilot.press("d")
        dialog = await wait_on_screen(
            pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen, "confirmation"
        )
        assert "its 3 tasks" in str(dialog.message)
        await pilot.press("n")  # changed my mind
        await wait_on_screen(pilot, lambda: isinstance(app.screen, OverviewScreen), "back")
        assert (await client.get_queue("emails")).queue == "emails"
        await pilot.press("d", "y")
        await wait_on_screen(pilot, lambda: row(app, "emails") is None, "the row gone")
        assert (await client.list_queues()).count == 0


async def test_bad_queue_settings_are_refused_in_the_form(
    console: Callable[..., ConsoleApp], client: Client
) -> None:
    app = console()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a")
        form = await wait_on_screen(
            pilot, lambda: isinstance(app.screen, QueueFormScreen) and app.screen, "the form"
        )
        form.query_one("#queue", Input).value = "emails"
        form.query_one("#ttl", Input).value = "soon"
        await pilot.press("enter")
        error = form.query_one("#error")
        assert "soon" in str(error.render())
        assert isinstance(app.screen, QueueFormScreen)
        await pilot.press("escape")
        assert (await client.list_queues()).count == 0


async def test_requeue_all_failed_of_a_queue(
    console: Callable[..., ConsoleApp], client: Client
) -> None:
    await client.create_queue(QueueMeta(queue="jobs", retries=0))
    for i in range(2):
        task = await client.create_task("jobs", TaskMeta(payload=i))
        await client.next_task("w", "jobs")
        await client.release_task(task.id, success=False)
    app = console()
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(
            pilot, lambda: (row(app, "jobs") or {}).get("failed") == "2", "2 failed"
        )
        await pilot.press("r")
        dialog = await wait_on_screen(
            pilot, lambda: isinstance(app.screen, RequeueScreen) and app.screen, "the dialog"
        )
        assert str(dialog.query_one("#failed").label) == "2 failed"
        assert dialog.query_one("#expired").disabled
        await pilot.press("f")
        await wait_on_screen(pilot, noted(app, "2 failed tasks"), "the requeued note")
        await wait_on_screen(pilot, lambda: row(app, "jobs")["new"] == "2", "2 new again")
    assert (await client.list_tasks("jobs", Status.NEW)).count == 2


async def test_create_a_task_with_a_validated_json_payload(
    console: Callable[..., ConsoleApp], client: Client
) -> None:
    await client.create_queue(QueueMeta(queue="emails"))
    app = console()
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, lambda: row(app, "emails"), "the queue row")
        await pilot.press("c")
        form = await wait_on_screen(
            pilot, lambda: isinstance(app.screen, TaskFormScreen) and app.screen, "the form"
        )
        editor = form.query_one(JsonEditor)
        area = editor.query_one("TextArea")
        area.text = '{"to": "a@b.c",'
        await pilot.pause()
        assert "× line 1" in str(editor.query_one(".json-status").render())
        await pilot.press("ctrl+s")
        assert isinstance(app.screen, TaskFormScreen)  # refused
        assert "not valid JSON" in str(form.query_one("#error").render())
        area.text = '{"to": "a@b.c", "n": [1, 2]}'
        await pilot.pause()
        assert "✓ valid JSON" in str(editor.query_one(".json-status").render())
        form.query_one("#priority", Input).value = "5"
        form.query_one("#key", Input).value = "welcome-a"
        await pilot.press("ctrl+s")
        await wait_on_screen(pilot, noted(app, "created in 'emails'"), "the created note")
        await wait_on_screen(pilot, lambda: row(app, "emails")["new"] == "1", "1 new")
        _, tasks = await client.list_tasks("emails")
        assert (tasks[0].payload, tasks[0].priority, tasks[0].key) == (
            {"to": "a@b.c", "n": [1, 2]},
            5,
            "welcome-a",
        )
        # The same key again: the live task is returned, and the console says so.
        await pilot.press("c")
        form = await wait_on_screen(
            pilot, lambda: isinstance(app.screen, TaskFormScreen) and app.screen, "the form"
        )
        form.query_one("#key", Input).value = "welcome-a"
        await pilot.press("ctrl+s")
        await wait_on_screen(pilot, noted(app, "still live"), "the de-duplicated note")
        assert (await client.list_tasks("emails")).count == 1


async def test_filter_queues_by_name(console: Callable[..., ConsoleApp], client: Client) -> None:
    for name in ("emails", "reports", "webhooks"):
        await client.create_queue(QueueMeta(queue=name))
    app = console()
    async with app.run_test(size=SIZE) as pilot:
        table = app.screen.query_one(QueueTable)
        await wait_on_screen(pilot, lambda: table.row_count == 3, "3 rows")
        await pilot.press("slash", *"port")
        await wait_on_screen(pilot, lambda: table.row_count == 1, "1 row")
        assert row(app, "reports")
        await pilot.press("enter")  # keep the filter, back to the table
        assert table.has_focus
        await pilot.pause(0.6)  # a couple of refreshes: the filter holds
        assert table.row_count == 1
        await pilot.press("escape")
        await wait_on_screen(pilot, lambda: table.row_count == 3, "3 rows again")
