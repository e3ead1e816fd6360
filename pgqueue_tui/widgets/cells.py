"""How the console's tables render values: counts, ages, statuses, sparklines, JSON."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rich.text import Text

from pgqueue_core.models import Status

from .. import output
from ..output import compact_json, truncate
from ..theme import Palette

NONE = "—"
BLOCKS = "▁▂▃▄▅▆▇█"


def count(value: int, style: str = "") -> Text:
    """A right-aligned count with thousands separators; zero is dimmed."""
    if value == 0:
        return Text("0", style="dim", justify="right")
    return Text(f"{value:,}", style=style, justify="right")


def age(seconds: float | None) -> str:
    """A coarse age, at most two units: 45s, 4m 10s, 2h 05m, 3d 4h; "—" for none."""
    if seconds is None:
        return NONE
    total = max(int(seconds), 0)
    if total < 60:
        return f"{total}s"
    minutes, sec = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m {sec:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h {minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d {hours}h"


def since(value: datetime | None, now: datetime) -> str:
    """ "3m 10s ago", "in 12s", "now"; "—" for none."""
    if value is None:
        return NONE
    delta = (value - now).total_seconds()
    if abs(delta) < 1:
        return "now"
    return f"in {age(delta)}" if delta > 0 else f"{age(-delta)} ago"


def oldest(value: datetime | None, now: datetime, palette: Palette) -> Text:
    """Age of the oldest waiting task: amber after a minute, red after ten."""
    if value is None:
        return Text(NONE, style="dim", justify="right")
    seconds = (now - value).total_seconds()
    style = ""
    if seconds >= 600:
        style = f"bold {palette.error}"
    elif seconds >= 60:
        style = palette.warning
    return Text(age(seconds), style=style, justify="right")


def breaker(state: str, open_until: datetime | None, now: datetime, palette: Palette) -> Text:
    """A circuit breaker as read: closed (green), open until T (red), half-open (amber).
    An open one whose cooldown has passed since it was read shows as half-open."""
    text = output.breaker(state, open_until, now)
    if text.startswith("open"):
        return Text(text, style=f"bold {palette.error}")
    if text == "half-open":
        return Text(text, style=f"bold {palette.warning}")
    return Text(text, style=palette.success)


# A queue's breaker in a table's name column, where it is not closed.
BREAKER_MARKS = {"open": "⊘", "half-open": "◐"}


def status(value: Status, palette: Palette, cancelling: bool = False) -> Text:
    text = Text(value.value, style=palette.status(value))
    if cancelling:
        text.append(" ×", style=palette.warning)
    return text


def sparkline(values: Sequence[float]) -> str:
    """Block characters scaled to the largest value; all zeros read as a flat line."""
    top = max(values, default=0.0)
    if top <= 0:
        return BLOCKS[0] * len(values)
    last = len(BLOCKS) - 1
    return "".join(BLOCKS[min(last, round(v / top * last))] for v in values)


def rate(value: float) -> str:
    """Tasks per second: 412, 12.5, 3.5, 0.25, 0."""
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 1:
        return f"{value:.1f}".rstrip("0").rstrip(".")
    if value > 0:
        return f"{value:.2f}".rstrip("0").rstrip(".") or "0"
    return "0"


def json_line(value: Any, width: int) -> Text:
    """JSON on one line, cut to `width`."""
    return Text(truncate(compact_json(value), width), no_wrap=True, overflow="ellipsis")
