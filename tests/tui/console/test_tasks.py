"""The task list: filters, paging through thousands, detail, and the task actions."""

from __future__ import annotations

from collections.abc import Callable

from textual.widgets import Select

from pgqueue_core import Manager
from pgqueue_core.models import QueueMeta, Status, TaskMeta
from pgqueue_tui.app import ConsoleApp
from pgqueue_tui.client import Client
from pgqueue_tui.screens.confirm import ConfirmScreen
from pgqueue_tui.screens.result_form import ResultFormScreen
from pgqueue_tui.screens.task_actions import WORKER
from pgqueue_tui.screens.task_detail import TaskDetailScreen
from pgqueue_tui.screens.tasks import TasksScreen
from pgqueue_tui.widgets.json_editor import JsonEditor
from pgqueue_tui.widgets.task_table import TaskTable
from pgqueue_tui.widgets.task_view import TaskView
from tests.support.console import SIZE, cell_texts, noted, text_of, wait_on_screen


def tasks_screen(app: ConsoleApp) -> TasksScreen | None:
    return app.screen if isinstance(app.screen, TasksScreen) else None


def page_note(app: ConsoleApp) -> str:
    screen = tasks_screen(app)
    return "" if screen is None else text_of(screen.query_one("#page"))


async def test_paging_through_thousands_of_tasks(
    console: Callable[..., ConsoleApp], client: Client, manager: Manager
) -> None:
    await client.create_queue(QueueMeta(queue="bulk"))
    ids = await manager.create_tasks("bulk", [TaskMeta(payload={"n": i}) for i in range(2500)])
    app = console(page_size=300)
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("t")
        await wait_on_screen(pilot, lambda: "page 1 of 9 · 2,500 tasks" in page_note(app), "page 1")
        table = app.screen.query_one(TaskTable)
        assert table.row_count == 300
        assert cell_texts(table)[0][0] == str(ids[-1])  # newest first
        await pilot.press("right_square_bracket")
        await wait_on_screen(pilot, lambda: "page 2 of 9" in page_note(app), "page 2")
        await wait_on_screen(
            pilot, lambda: cell_texts(table)[0][0] == str(ids[-301]), "page 2 rows"
        )
        assert table.row_count == 300
        for _ in range(8):  # pressed faster than pages load: the last one wins
            await pilot.press("right_square_bracket")
        await wait_on_screen(pilot, lambda: "page 9 of 9" in page_note(app), "the last page")
        await wait_on_screen(pilot, lambda: table.row_count == 100, "100 rows on the last page")
        assert cell_texts(table)[-1][0] == str(ids[0])
        await pilot.press("left_square_bracket")
        await wait_on_screen(pilot, lambda: "page 8 of 9" in page_note(app), "back a page")
        await pilot.press("left_curly_bracket")
        await wait_on_screen(pilot, lambda: "page 1 of 9" in page_note(app), "the first page")
        await pilot.press("right_curly_bracket")
        await wait_on_screen(pilot, lambda: "page 9 of 9" in page_note(app), "the last page")


async def test_filter_by_queue_and_status(
    console: Callable[..., ConsoleApp], client: Client
) -> None:
    for name in ("emails", "reports"):
        await client.create_queue(QueueMeta(queue=name, retries=0))
    for i in range(3):
        await client.create_task("emails", TaskMeta(payload=i))
    await client.create_task("reports", TaskMeta(payload="r"))
    failing = await client.next_task("w", "emails")
    assert failing is not None
    await client.release_task(failing.id, success=False, result={"error": "boom"})
    app = console()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("t")
        await wait_on_screen(pilot, lambda: "4 tasks" in page_note(app), "all 4 tasks")
        screen = tasks_screen(app)
        assert screen is not None
        await wait_on_screen(
            pilot, lambda: len(screen.query_one("#queue", Select)._options) > 2, "opts"
        )
        screen.query_one("#queue", Select).value = "emails"
        await wait_on_screen(pilot, lambda: "3 tasks" in page_note(app), "3 tasks of emails")
        screen.query_one("#status", Select).value = "failed"
        await wait_on_screen(pilot, lambda: "1 task" in page_note(app), "the failed one")
        table = screen.query_one(TaskTable)
        await wait_on_screen(pilot, lambda: table.row_count == 1, "one row")
        assert cell_texts(table)[0][:3] == [str(failing.id), "emails", "failed"]
        preview = text_of(screen.query_one(TaskView))
        assert "boom" in preview  # the result in the preview pane
        await pilot.press("slash")
        assert screen.query_one("#queue", Select).has_focus


async def test_open_the_filtered_list_from_a_queue(
    console: Callable[..., ConsoleApp], client: Client
) -> None:
    await client.create_queue(QueueMeta(queue="emails"))
    await client.create_task("emails", TaskMeta(payload=1))
    app = console()
    async with app.run_test(size=SIZE) as pilot:
        app.open_tasks(queue="emails", status="new")
        await wait_on_screen(pilot, lambda: "1 task" in page_note(app), "the task")
        assert "tasks › emails › new" in app.screen.query_one("ConsoleHeader").context


async def test_task_detail_shows_pretty_json_and_everything_else(
    console: Callable[..., ConsoleApp], client: Client
) -> None:
    await client.create_queue(QueueMeta(queue="emails"))
    task = await client.create_task(
        "emails", TaskMeta(payload={"to": "a@b.c", "tags": ["x", "y"]}, priority=3, key="k1")
    )
    app = console()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("t")
        await wait_on_screen(pilot, lambda: "1 task" in page_note(app), "the task")
        await pilot.press("enter")
        screen = await wait_on_screen(
            pilot, lambda: isinstance(app.screen, TaskDetailScreen) and app.screen, "detail"
        )
        view = screen.query_one(TaskView)
        await wait_on_screen(pilot, lambda: screen.detail is not None, "the task loaded")
        text = text_of(view)
        for fragment in (
            f"task {task.id}",
            '"to": "a@b.c"',  # pretty-printed: one key per line
            '"tags": [',
            "attempt",
            "priority",
            "key",
            "k1",
            "dies",
            "worker",
        ):
            assert fragment in text, (fragment, text)
        await pilot.press("escape")
        await wait_on_screen(pilot, lambda: tasks_screen(app), "back to the list")


async def test_retain_complete_and_fail_for_debugging(
    console: Callable[..., ConsoleApp], client: Client
) -> None:
    await client.create_queue(QueueMeta(queue="jobs", retries=0))
    first = await client.create_task("jobs", TaskMeta(payload=1))
    second = await client.create_task("jobs", TaskMeta(payload=2))
    app = console()
    async with app.run_test(size=SIZE) as pilot:
        app.open_tasks(queue="jobs")
        await wait_on_screen(pilot, lambda: "2 tasks" in page_note(app), "two tasks")
        await pilot.press("g")  # retain the next task as the console
        screen = await wait_on_screen(
            pilot, lambda: isinstance(app.screen, TaskDetailScreen) and app.screen, "detail"
        )
        assert screen.task_id == first.id
        await wait_on_screen(pilot, lambda: screen.detail is not None, "loaded")
        assert screen.detail.worker == WORKER
        await pilot.press("s")
        form = await wait_on_screen(
            pilot, lambda: isinstance(app.screen, ResultFormScreen) and app.screen, "result"
        )
        form.query_one(JsonEditor).query_one("TextArea").text = '{"sent": true}'
        await pilot.press("ctrl+s")
        await wait_on_screen(pilot, noted(app, f"Task {first.id} is released"), "released")
        done = await client.get_task(first.id)
        assert (done.status, done.result) == (Status.RELEASED, {"sent": True})

        await pilot.press("escape")
        await wait_on_screen(pilot, lambda: tasks_screen(app), "the list")
        await pilot.press("g")
        screen = await wait_on_screen(
            pilot,
            lambda: (
                isinstance(app.screen, TaskDetailScreen)
                and app.screen.task_id == second.id
                and app.screen
            ),
            "the second task",
        )
        await wait_on_screen(pilot, lambda: screen.detail is not None, "loaded")
        await pilot.press("f", "ctrl+s")
        await wait_on_screen(pilot, noted(app, f"Task {second.id} is failed"), "failed")
        assert (await client.get_task(second.id)).result == {"error": "failed by hand"}
        await pilot.press("escape", "g")
        await wait_on_screen(pilot, noted(app, "No task is ready in 'jobs'"), "nothing left")


async def test_cancel_and_requeue_one_task(
    console: Callable[..., ConsoleApp], client: Client
) -> None:
    await client.create_queue(QueueMeta(queue="jobs"))
    task = await client.create_task("jobs", TaskMeta(payload=1))
    app = console()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("t")
        table = await wait_on_screen(
            pilot, lambda: tasks_screen(app) and app.screen.query_one(TaskTable), "the table"
        )
        await wait_on_screen(pilot, lambda: table.row_count == 1, "the row")
        await pilot.press("r")  # a new task cannot be requeued: the key does nothing
        await pilot.press("x")
        dialog = await wait_on_screen(
            pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen, "confirm"
        )
        assert f"Cancel task {task.id}" in str(dialog.message)
        await pilot.press("y")
        await wait_on_screen(pilot, lambda: cell_texts(table)[0][2] == "cancelled", "cancelled")
        await pilot.press("r")
        await wait_on_screen(pilot, lambda: cell_texts(table)[0][2] == "new", "new again")
        assert (await client.get_task(task.id)).status is Status.NEW


async def test_requeue_every_task_matching_the_filter(
    console: Callable[..., ConsoleApp], client: Client
) -> None:
    await client.create_queue(QueueMeta(queue="jobs"))
    for i in range(3):
        await client.cancel_task((await client.create_task("jobs", TaskMeta(payload=i))).id)
    app = console()
    async with app.run_test(size=SIZE) as pilot:
        app.open_tasks(queue="jobs", status="cancelled")
        await wait_on_screen(pilot, lambda: "3 tasks" in page_note(app), "3 cancelled")
        await pilot.press("R")
        dialog = await wait_on_screen(
            pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen, "confirm"
        )
        assert "Requeue all 3 cancelled tasks of 'jobs'" in str(dialog.message)
        await pilot.press("y")
        await wait_on_screen(pilot, lambda: "0 tasks" in page_note(app), "none cancelled left")
    assert (await client.list_tasks("jobs", Status.NEW)).count == 3


async def test_create_a_task_from_the_list(
    console: Callable[..., ConsoleApp], client: Client
) -> None:
    await client.create_queue(QueueMeta(queue="jobs"))
    app = console()
    async with app.run_test(size=SIZE) as pilot:
        app.open_tasks(queue="jobs")
        await wait_on_screen(pilot, lambda: "0 tasks" in page_note(app), "empty")
        await pilot.press("c")
        await wait_on_screen(pilot, lambda: app.screen.query(JsonEditor), "the form")
        await pilot.press("ctrl+s")  # the queue of the filter, payload {}
        await wait_on_screen(pilot, lambda: "1 task" in page_note(app), "the new task")
