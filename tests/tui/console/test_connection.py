"""Server errors become notifications; a server that goes away is waited for, not fatal."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from textual.widgets import Input

from pgqueue_core.models import QueueMeta
from pgqueue_tui import cli
from pgqueue_tui.app import ConsoleApp
from pgqueue_tui.client import Client
from pgqueue_tui.screens.queue_form import QueueFormScreen
from pgqueue_tui.widgets.header import ConsoleHeader
from pgqueue_tui.widgets.queue_table import QueueTable
from tests.support.cli import Server
from tests.support.console import SIZE, cell_texts, noted, wait_on_screen
from tests.support.net import free_port


async def test_server_errors_are_notifications(
    console: Callable[..., ConsoleApp], client: Client
) -> None:
    await client.create_queue(QueueMeta(queue="emails"))
    app = console()
    async with app.run_test(size=SIZE) as pilot:
        await wait_on_screen(pilot, lambda: app.screen.query_one(QueueTable).row_count, "the row")
        await pilot.press("a")
        form = await wait_on_screen(
            pilot, lambda: isinstance(app.screen, QueueFormScreen) and app.screen, "form"
        )
        form.query_one("#queue", Input).value = "emails"
        await pilot.press("ctrl+s")
        await wait_on_screen(pilot, noted(app, "already exists"), "the conflict")
        assert app.connection == "connected"  # an error answer is still an answer

        app.switch_namespace("pgqueue")  # the system's own: read-only
        await wait_on_screen(
            pilot, lambda: app.screen.query_one(QueueTable).row_count == 0, "empty"
        )
        await pilot.press("a")
        form = await wait_on_screen(
            pilot, lambda: isinstance(app.screen, QueueFormScreen) and app.screen, "form"
        )
        form.query_one("#queue", Input).value = "mine"
        await pilot.press("ctrl+s")
        await wait_on_screen(pilot, noted(app, "reserved"), "the refusal")
        assert app.is_running


async def test_disconnected_then_reconnected_by_itself(
    start_server: Callable[..., Server],
) -> None:
    server = start_server()
    async with Client(server.url) as api:
        await api.create_queue(QueueMeta(queue="emails"))
    app = ConsoleApp(Client(server.url), refresh=0.25, theme="pgqueue-dark")
    async with app.run_test(size=SIZE) as pilot:
        header = app.screen.query_one(ConsoleHeader)
        await wait_on_screen(pilot, lambda: app.connection == "connected", "connected")
        assert "● connected" in text_of_header(header)
        server.kill()
        await wait_on_screen(pilot, lambda: app.connection == "disconnected", "disconnected")
        assert "disconnected" in text_of_header(header)
        await wait_on_screen(pilot, noted(app, "connection refused"), "the notification")
        await pilot.press("t")  # still usable while the server is away
        await pilot.press("o")
        server.start()
        await wait_on_screen(
            pilot, lambda: app.connection == "connected", "reconnected", timeout=10
        )
        await wait_on_screen(pilot, noted(app, "again"), "the reconnected note")
        table = app.screen_stack[0].query_one(QueueTable)
        assert [row[0] for row in cell_texts(table)] == ["emails"]


def text_of_header(header: ConsoleHeader) -> str:
    return "".join(segment.text for segment in header.render_line(0))


def test_tui_refuses_a_bad_url_or_namespace(capsys: pytest.CaptureFixture[str]) -> None:
    """`pgqueue tui` reaches run_app, which checks its options before opening a screen."""
    assert cli.main(["tui", "--url", "ftp://nowhere"]) == 2
    assert "not an http(s) URL" in capsys.readouterr().err
    url = f"http://127.0.0.1:{free_port()}/api"
    assert cli.main(["tui", "--url", url, "--namespace", "Bad Name"]) == 2
    assert "invalid namespace name" in capsys.readouterr().err
