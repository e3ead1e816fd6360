"""Create or edit a queue: name, ttl, retries, retry delay, lease, concurrency limit, rate
limit and burst, weight, circuit breaker threshold and cooldown."""

from __future__ import annotations

from datetime import timedelta

from textual.app import ComposeResult
from textual.containers import Grid, VerticalScroll
from textual.widgets import Input, Label, Static

from pgqueue_core import validate
from pgqueue_core.durations import format_duration, parse_duration
from pgqueue_core.errors import InvalidArgument
from pgqueue_core.models import Queue, QueueMeta
from pgqueue_core.queues import MAX_COOLDOWN, MAX_WEIGHT, MIN_COOLDOWN

from .form import FormScreen

_LABELS = {"breaker_threshold": "breaker after"}

_DURATIONS = ("ttl", "retry_delay", "lease", "breaker_cooldown")
# Limits that an empty field removes when editing (sent as 0), and their lower bounds.
_REMOVABLE = {"concurrency": 1, "burst": 1, "breaker_threshold": 1}


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
                    ("rate", "rate /s", f"{q.rate:.15g}" if q and q.rate else "", "no limit"),
                    ("burst", "burst", self._optional("burst"), "one second's worth"),
                    ("weight", "weight", str(q.weight) if q else "", "1 (default)"),
                    (
                        "breaker_threshold",
                        "breaker after",
                        self._optional("breaker_threshold"),
                        "no breaker",
                    ),
                    (
                        "breaker_cooldown",
                        "cooldown",
                        self._duration("breaker_cooldown"),
                        "30s (default)",
                    ),
                ):
                    yield Label(label)
                    yield Input(value, placeholder=placeholder, id=field, compact=True)
            yield Static(
                "Durations like 90s, 1h30m or PT1H. Concurrency: most tasks retained at once. "
                "Rate: most tasks started per second (0.5: one every 2s), burst: at once after "
                "a quiet spell. Weight: tasks per turn when a worker serves several queues. "
                "Breaker after N failed attempts in a row: the queue hands out nothing for the "
                "cooldown, then one probe task.",
                classes="hint",
            )
            yield from self.buttons()

    def _duration(self, field: str) -> str:
        if self.queue is None:
            return ""
        value: timedelta = getattr(self.queue, field)
        return format_duration(value)

    def _optional(self, field: str) -> str:
        value = None if self.queue is None else getattr(self.queue, field)
        return "" if value is None else str(value)

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
            if field == "breaker_cooldown" and not MIN_COOLDOWN <= value <= MAX_COOLDOWN:
                raise InvalidArgument("cooldown must be between 1s and 365d")
            if q is None or value != getattr(q, field):
                fields[field] = value
        retries = self._number("retries", minimum=0)
        if retries is not None and (q is None or retries != q.retries):
            fields["retries"] = retries
        for field, minimum in _REMOVABLE.items():
            number = self._number(field, minimum=minimum)
            if q is not None and number != getattr(q, field):
                fields[field] = number or 0  # 0 removes the limit
            elif q is None and number is not None:
                fields[field] = number
        rate = self._rate()
        if q is not None and rate != q.rate:
            fields["rate"] = rate or 0.0  # 0 removes the limit
        elif q is None and rate is not None:
            fields["rate"] = rate
        weight = self._number("weight", minimum=1, maximum=MAX_WEIGHT)
        if q is not None and (weight or 1) != q.weight:
            fields["weight"] = weight or 1  # empty: back to the default
        elif q is None and weight is not None:
            fields["weight"] = weight
        return QueueMeta(**fields)  # type: ignore[arg-type]

    def _rate(self) -> float | None:
        text = self.text("rate")
        if not text:
            return None
        try:
            value = float(text)
        except ValueError:
            raise InvalidArgument(
                f"rate must be a number of tasks per second, not {text!r}"
            ) from None
        if not 0 < value <= validate.MAX_RATE:  # NaN fails both
            raise InvalidArgument(
                f"rate must be more than 0 and at most {validate.MAX_RATE:g} per second"
            )
        return value

    def _number(self, field: str, minimum: int, maximum: int | None = None) -> int | None:
        text = self.text(field)
        if not text:
            return None
        what = _LABELS.get(field, field)
        try:
            value = int(text)
        except ValueError:
            raise InvalidArgument(f"{what} must be a whole number, not {text!r}") from None
        if value < minimum:
            raise InvalidArgument(f"{what} must be at least {minimum}")
        if maximum is not None and value > maximum:
            raise InvalidArgument(f"{what} must be at most {maximum}")
        return value
