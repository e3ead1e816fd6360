"""Flow control in the console against a real server: the queue view shows the rate limit,
the weight and the circuit breaker live; `b` resets an open breaker after a confirmation;
the queue form edits every setting; the overview marks a breaker that is not closed."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from textual.widgets import Input

from pgqueue_core.models import QueueMeta, TaskMeta
from pgqueue_tui.app import ConsoleApp
from pgqueue_tui.client import Client
from pgqueue_tui.screens.confirm import ConfirmScreen
from pgqueue_tui.screens.overview import OverviewScreen
from pgqueue_tui.screens.queue_detail import QueueDetailScreen
from pgqueue_tui.screens.queue_form import QueueFormScreen
from pgqueue_tui.widgets.queue_table import QueueTable
from tests.support.console import SIZE, cell_texts, noted, text_of, wait_on_screen

VIEW = (120, 44)


async def fail_one(client: Client, queue: str) -> None:
    """One failed attempt (the task goes to retry)."""
    await client.create_task(queue, TaskMeta(payload=1))
    task = await client.next_task("w", queue)
    assert task is not None
    await client.release_task(task.id, success=False, result={"error": "down"})


def settings(screen: QueueDetailScreen) -> dict[str, str]:
    """The queue view's settings pane: label → value."""
    rows = {}
    for line in text_of(screen.query_one("#settings")).splitlines():
        label, _, value = line.strip().partition("  ")
        rows[label] = value.strip()
    return rows


def queue_name_cell(app: ConsoleApp, queue: str) -> str | None:
    table = app.screen_stack[0].query_one(QueueTable)
    return next((row[0] for row in cell_texts(table) if row[0].split()[0] == queue), None)


async def test_an_open_breaker_shows_and_the_reset_key_closes_it(
    console: Callable[..., ConsoleApp], client: Client
) -> None:
    await client.create_queue(
        QueueMeta(
            queue="hooks",
            rate=50,
            burst=10,
            weight=3,
            breaker_threshold=1,
            breaker_cooldown=timedelta(hours=1),
        )
    )
    await fail_one(client, "hooks")  # threshold 1: the breaker is open for an hour
    assert (await client.get_queue("hooks")).breaker == "open"
    app = console()
    async with app.run_test(size=VIEW) as pilot:
        await wait_on_screen(
            pilot, lambda: (queue_name_cell(app, "hooks") or "").endswith("⊘"), "the marker"
        )
        assert "1 breaker not closed" in str(app.screen.query_one(QueueTable).border_subtitle)
        await pilot.press("enter")
        screen = await wait_on_screen(
            pilot,
            lambda: isinstance(app.screen, QueueDetailScreen) and app.screen.queue and app.screen,
            "the queue view",
        )
        shown = await wait_on_screen(pilot, lambda: settings(screen).get("breaker"), "breaker")
        assert shown.startswith("open until "), shown
        assert "(in 59m" in shown and "1/1 failed in a row · cooldown 1h" in shown, shown
        assert settings(screen)["rate"] == "50/s, burst 10"
        assert settings(screen)["weight"].startswith("3 ")

        await pilot.press("b")
        dialog = await wait_on_screen(
            pilot, lambda: isinstance(app.screen, ConfirmScreen) and app.screen, "confirmation"
        )
        assert "circuit breaker of queue 'hooks'" in str(dialog.message)
        assert "1 waiting task go out again" in str(dialog.message)
        await pilot.press("n")  # changed my mind
        await wait_on_screen(pilot, lambda: app.screen is screen, "back on the queue")
        assert (await client.get_queue("hooks")).breaker == "open"

        await pilot.press("b", "y")
        await wait_on_screen(
            pilot,
            lambda: settings(screen).get("breaker", "").startswith("closed · 0/1"),
            "the breaker closed",
        )
        await wait_on_screen(pilot, noted(app, "Breaker of 'hooks' closed"), "the note")
        queue = await client.get_queue("hooks")
        assert (queue.breaker, queue.breaker_failures) == ("closed", 0)
        # Nothing left to reset: the key is shown but does nothing.
        assert screen.check_action("reset_breaker", ()) is None
        await pilot.press("b")
        await pilot.pause()
        assert app.screen is screen

        await pilot.press("escape")
        await wait_on_screen(pilot, lambda: isinstance(app.screen, OverviewScreen), "overview")
        await wait_on_screen(
            pilot, lambda: queue_name_cell(app, "hooks") == "hooks", "the marker gone"
        )


async def test_the_queue_view_sees_the_breaker_open_as_it_happens(
    console: Callable[..., ConsoleApp], client: Client
) -> None:
    await client.create_queue(QueueMeta(queue="q", retries=5, breaker_threshold=2))
    app = console(refresh=30.0)  # no poll would come in time: only the stream can tell
    async with app.run_test(size=VIEW) as pilot:
        await wait_on_screen(pilot, lambda: app.watching == "live", "the watch stream")
        app.open_queue("q")
        screen = await wait_on_screen(
            pilot,
            lambda: isinstance(app.screen, QueueDetailScreen) and app.screen.queue and app.screen,
            "the queue view",
        )
        assert settings(screen)["breaker"] == "closed · 0/2 failed in a row · cooldown 30s"
        assert settings(screen)["rate"] == "no limit"
        await fail_one(client, "q")
        await wait_on_screen(
            pilot,
            lambda: settings(screen)["breaker"].startswith("closed · 1/2"),
            "one failure counted",
        )
        await fail_one(client, "q")
        await wait_on_screen(
            pilot, lambda: settings(screen)["breaker"].startswith("open until"), "open"
        )
        await client.reset_breaker("q")  # by someone else: the view follows
        await wait_on_screen(
            pilot, lambda: settings(screen)["breaker"].startswith("closed · 0/2"), "closed"
        )


async def test_an_open_breaker_turns_half_open_on_screen(
    console: Callable[..., ConsoleApp], client: Client
) -> None:
    await client.create_queue(
        QueueMeta(queue="q", breaker_threshold=1, breaker_cooldown=timedelta(seconds=1))
    )
    await fail_one(client, "q")
    app = console(refresh=30.0)  # no poll would come in time: the stream and the clock tell
    async with app.run_test(size=VIEW) as pilot:
        await wait_on_screen(pilot, lambda: app.watching == "live", "the watch stream")
        app.open_queue("q")
        screen = await wait_on_screen(
            pilot,
            lambda: isinstance(app.screen, QueueDetailScreen) and app.screen.queue and app.screen,
            "the queue view",
        )
        # The one-second cooldown must really pass.
        await wait_on_screen(
            pilot, lambda: settings(screen)["breaker"].startswith("half-open · 1/1"), "half-open"
        )
        assert screen.check_action("reset_breaker", ()) is True


async def test_the_queue_form_edits_flow_control(
    console: Callable[..., ConsoleApp], client: Client
) -> None:
    await client.create_queue(QueueMeta(queue="jobs"))
    app = console()
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, lambda: queue_name_cell(app, "jobs"), "the queue")
        await pilot.press("e")
        form = await wait_on_screen(
            pilot, lambda: isinstance(app.screen, QueueFormScreen) and app.screen, "edit form"
        )
        assert form.query_one("#weight", Input).value == "1"
        assert form.query_one("#breaker_cooldown", Input).value == "30s"
        for field, bad, fragment in (
            ("rate", "fast", "rate must be a number"),
            ("rate", "0", "more than 0"),
            ("weight", "1001", "weight must be at most 1000"),
            ("breaker_threshold", "0", "breaker after must be at least 1"),
            ("breaker_cooldown", "500ms", "between 1s and 365d"),
        ):
            before = form.query_one(f"#{field}", Input).value
            form.query_one(f"#{field}", Input).value = bad
            await pilot.press("ctrl+s")
            assert fragment in str(form.query_one("#error").render()), (field, bad)
            assert app.screen is form
            form.query_one(f"#{field}", Input).value = before
        values = {
            "rate": "2.5",
            "burst": "5",
            "weight": "4",
            "breaker_threshold": "3",
            "breaker_cooldown": "2m",
        }
        for field, value in values.items():
            form.query_one(f"#{field}", Input).value = value
        await pilot.press("ctrl+s")
        await wait_on_screen(pilot, noted(app, "saved"), "the saved note")
        queue = await client.get_queue("jobs")
        assert (queue.rate, queue.burst, queue.weight) == (2.5, 5, 4)
        assert (queue.breaker_threshold, queue.breaker_cooldown) == (3, timedelta(minutes=2))

        await pilot.press("e")
        form = await wait_on_screen(
            pilot, lambda: isinstance(app.screen, QueueFormScreen) and app.screen, "edit form"
        )
        assert {f: form.query_one(f"#{f}", Input).value for f in values} == values
        for field in ("rate", "burst", "weight", "breaker_threshold"):
            form.query_one(f"#{field}", Input).value = ""  # removes the limit / the default
        await pilot.press("ctrl+s")
        await wait_on_screen(pilot, lambda: isinstance(app.screen, OverviewScreen), "saved")
        queue = await client.get_queue("jobs")
        assert (queue.rate, queue.burst, queue.weight, queue.breaker_threshold) == (
            None,
            None,
            1,
            None,
        )
        assert queue.breaker_cooldown == timedelta(minutes=2)  # untouched


async def test_a_new_queue_with_limits(console: Callable[..., ConsoleApp], client: Client) -> None:
    app = console()
    async with app.run_test(size=SIZE) as pilot:
        await pilot.press("a")
        form = await wait_on_screen(
            pilot, lambda: isinstance(app.screen, QueueFormScreen) and app.screen, "the form"
        )
        form.query_one("#queue", Input).value = "limited"
        form.query_one("#rate", Input).value = "0.5"
        form.query_one("#breaker_threshold", Input).value = "4"
        await pilot.press("ctrl+s")
        await wait_on_screen(pilot, lambda: queue_name_cell(app, "limited"), "the new queue")
        queue = await client.get_queue("limited")
        assert (queue.rate, queue.burst, queue.weight, queue.breaker_threshold) == (
            0.5,
            None,
            1,
            4,
        )
