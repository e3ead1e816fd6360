"""Requeue every failed, expired or cancelled task of a queue: pick which, see how many."""

from __future__ import annotations

from collections.abc import Mapping

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static

from pgqueue_core.models import Status

REQUEUEABLE = (Status.FAILED, Status.EXPIRED, Status.CANCELLED)


class RequeueScreen(ModalScreen[Status | None]):
    """One button per status, labelled with its count (disabled at zero); the choice is
    the confirmation. Keys: f failed, x expired, c cancelled, esc cancel."""

    CSS_PATH = "dialog.tcss"
    BINDINGS = [
        Binding("f", "pick('failed')", "Failed"),
        Binding("x", "pick('expired')", "Expired"),
        Binding("c", "pick('cancelled')", "Cancelled"),
        Binding("escape", "pick('')", "Cancel"),
    ]

    def __init__(self, queue: str, counts: Mapping[Status, int]) -> None:
        super().__init__(classes="dialog")
        self.queue = queue
        self.counts = dict(counts)

    def compose(self) -> ComposeResult:
        with Vertical(id="panel") as panel:
            panel.border_title = f"Requeue tasks of {self.queue}"
            panel.border_subtitle = "f failed · x expired · c cancelled · esc cancel"
            yield Static(
                "Put every task of the queue in one status back to new, "
                "with fresh retries and TTL.",
                classes="message",
            )
            with Horizontal(classes="buttons"):
                for status in REQUEUEABLE:
                    n = self.counts.get(status, 0)
                    yield Button(
                        f"{n:,} {status.value}",
                        id=status.value,
                        variant="warning" if n else "default",
                        disabled=n == 0,
                        compact=True,
                    )
                yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        self.action_pick("" if event.button.id == "cancel" else str(event.button.id))

    def action_pick(self, status: str) -> None:
        if not status:
            self.dismiss(None)
        elif self.counts.get(Status(status), 0):
            self.dismiss(Status(status))
        else:
            self.notify(f"No {status} tasks in {self.queue}.", severity="warning")
