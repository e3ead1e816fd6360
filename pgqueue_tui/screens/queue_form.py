"""Create or edit a queue: name, ttl, retries, retry delay, lease, concurrency limit."""

from __future__ import annotations

from datetime import timedelta

from textual.app import ComposeResult
from textual.containers import Grid, VerticalScroll
from textual.widgets import Input, Label, Static

from pgqueue_core import validate
from pgqueue_core.durations import format_duration, parse_duration
from pgqueue_core.errors import InvalidArgument
from pgqueue_core.models import Queue, QueueMeta

from .form import FormScreen

_DURATIONS = ("ttl", "retry_delay", "lease")


class QueueFormScreen(FormScreen[QueueMeta]):
    """Dismissed with the fields to send (only those changed when editing) or None.
    Values are checked here first, so that most mistakes never reach the server."""

    def __init__(self, queue: Queue | None = None) -> None:
        super().__init__()
        self.queue = queue

    def compose(self) -> ComposeResult:
        q = self.queue
        with VerticalScroll(id="panel") as panel:
            panel.border_title = f"Edit queue {q.queue}" if q else "New queue"
            panel.border_subtitle = "ctrl+s save · esc cancel"
            with Grid(classes="form"):
                for field, label, value, placeholder in (
                    ("queue", "name", q.queue if q else "", "emails"),
                    ("ttl", "ttl", self._duration("ttl"), "1h (default)"),
                    ("retries", "retries", str(q.retries) if q else "", "3 (default)"),
                    ("retry_delay", "retry delay", self._duration("retry_delay"), "2m (default)"),
                    ("lease", "lease", self._duration("lease"), "5m (default)"),
                    (
                        "concurrency",
                        "concurrency",
                        str(q.concurrency) if q and q.concurrency else "",
                        "no limit",
                    ),
                ):
                    yield Label(label)
                    yield Input(value, placeholder=placeholder, id=field, compact=True)
            yield Static(
                "Durations like 90s, 1h30m or PT1H. Concurrency: most tasks retained at once.",
                classes="hint",
            )
            yield from self.buttons()

    def _duration(self, field: str) -> str:
        if self.queue is None:
            return ""
        value: timedelta = getattr(self.queue, field)
        return format_duration(value)

    def on_mount(self) -> None:
        self.query_one("#queue" if self.queue is None else "#ttl", Input).focus()

    def read(self) -> QueueMeta:
        q = self.queue
        name = validate.name(self.text("queue"), "queue")
        fields: dict[str, object] = {}
        if q is None or name != q.queue:
            fields["queue"] = name
        for field in _DURATIONS:
            text = self.text(field)
            if not text:
                continue
            value = parse_duration(text, field.replace("_", " "))
            if value <= timedelta(0):
                raise InvalidArgument(f"{field.replace('_', ' ')} must be positive")
            if q is None or value != getattr(q, field):
                fields[field] = value
        retries = self._number("retries", minimum=0)
        if retries is not None and (q is None or retries != q.retries):
            fields["retries"] = retries
        concurrency = self._number("concurrency", minimum=1)
        if q is not None and concurrency != q.concurrency:
            fields["concurrency"] = concurrency or 0  # 0 removes the limit
        elif q is None and concurrency is not None:
            fields["concurrency"] = concurrency
        return QueueMeta(**fields)  # type: ignore[arg-type]

    def _number(self, field: str, minimum: int) -> int | None:
        text = self.text(field)
        if not text:
            return None
        try:
            value = int(text)
        except ValueError:
            raise InvalidArgument(f"{field} must be a whole number, not {text!r}") from None
        if value < minimum:
            raise InvalidArgument(f"{field} must be at least {minimum}")
        return value
