"""Snapshots of the main screens with fixed data and a fixed clock (`--snapshot-update`
rewrites them; look at the SVGs before committing)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from textual.pilot import Pilot

from pgqueue_tui.app import ConsoleApp
from pgqueue_tui.screens.overview import OverviewScreen
from pgqueue_tui.screens.task_detail import TaskDetailScreen
from pgqueue_tui.screens.tasks import TasksScreen
from pgqueue_tui.widgets.queue_table import QueueTable
from pgqueue_tui.widgets.task_table import TaskTable
from tests.support.console import wait_on_screen

from .frozen import NOW, TASKS, FrozenClient, frozen_live

SnapCompare = Callable[..., bool]


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local times are shown in the machine's zone: pin it."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def frozen_app() -> ConsoleApp:
    return ConsoleApp(
        FrozenClient(),
        refresh=60.0,  # one load: nothing moves while the picture is taken
        clock=lambda: NOW,
        show_clock=False,
        theme="pgqueue-dark",
        live=frozen_live(),
    )


async def overview_loaded(pilot: Pilot[Any]) -> None:
    await wait_on_screen(
        pilot, lambda: pilot.app.screen.query_one(QueueTable).row_count == 3, "rows"
    )


def test_overview(snap_compare: SnapCompare) -> None:
    assert snap_compare(frozen_app(), terminal_size=(120, 30), run_before=overview_loaded)


def test_overview_80x24(snap_compare: SnapCompare) -> None:
    assert snap_compare(frozen_app(), terminal_size=(80, 24), run_before=overview_loaded)


def test_overview_light_theme(snap_compare: SnapCompare) -> None:
    app = frozen_app()
    app.theme = "pgqueue-light"
    assert snap_compare(app, terminal_size=(120, 30), run_before=overview_loaded)


async def tasks_loaded(pilot: Pilot[Any]) -> None:
    await overview_loaded(pilot)
    await pilot.press("t")
    await wait_on_screen(
        pilot,
        lambda: (
            isinstance(pilot.app.screen, TasksScreen)
            and pilot.app.screen.query_one(TaskTable).row_count == len(TASKS)
        ),
        "the tasks",
    )


def test_tasks(snap_compare: SnapCompare) -> None:
    assert snap_compare(frozen_app(), terminal_size=(120, 30), run_before=tasks_loaded)


async def task_detail_loaded(pilot: Pilot[Any]) -> None:
    await tasks_loaded(pilot)
    await pilot.press("enter")
    await wait_on_screen(
        pilot,
        lambda: isinstance(pilot.app.screen, TaskDetailScreen) and pilot.app.screen.detail,
        "the task",
    )


def test_task_detail(snap_compare: SnapCompare) -> None:
    assert snap_compare(frozen_app(), terminal_size=(100, 40), run_before=task_detail_loaded)


async def queue_loaded(pilot: Pilot[Any]) -> None:
    await overview_loaded(pilot)
    await pilot.press("enter")
    await wait_on_screen(
        pilot,
        lambda: (
            getattr(pilot.app.screen, "queue", None) is not None
            and pilot.app.screen.query_one("#failures").row_count == 8
        ),
        "the queue and its failures",
    )


def test_queue_detail(snap_compare: SnapCompare) -> None:
    assert snap_compare(frozen_app(), terminal_size=(120, 40), run_before=queue_loaded)


async def open_breaker_loaded(pilot: Pilot[Any]) -> None:
    await overview_loaded(pilot)
    await pilot.press("down", "down", "enter")  # webhooks: its breaker is open
    await wait_on_screen(
        pilot,
        lambda: (
            getattr(pilot.app.screen, "queue", None) is not None
            and pilot.app.screen.queue.queue == "webhooks"
        ),
        "the webhooks queue",
    )


def test_queue_detail_breaker_open(snap_compare: SnapCompare) -> None:
    assert snap_compare(frozen_app(), terminal_size=(120, 40), run_before=open_breaker_loaded)


async def tickers_loaded(pilot: Pilot[Any]) -> None:
    await overview_loaded(pilot)
    await pilot.press("k")
    await wait_on_screen(
        pilot,
        lambda: (
            not isinstance(pilot.app.screen, OverviewScreen)
            and pilot.app.screen.query_one("TickerTable").row_count == 3
        ),
        "the tickers",
    )


def test_tickers(snap_compare: SnapCompare) -> None:
    assert snap_compare(frozen_app(), terminal_size=(100, 24), run_before=tickers_loaded)


async def help_open(pilot: Pilot[Any]) -> None:
    await overview_loaded(pilot)
    await pilot.press("question_mark")
    await wait_on_screen(pilot, lambda: pilot.app.screen.query("#help"), "help")


def test_help(snap_compare: SnapCompare) -> None:
    assert snap_compare(frozen_app(), terminal_size=(100, 36), run_before=help_open)
