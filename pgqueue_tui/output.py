"""Human output of the CLI: aligned tables, key/value views, durations, times, payloads."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from pgqueue_core.durations import format_duration
from pgqueue_core.models import Queue, QueueSummary, Status, Task, Ticker

NONE = "-"
PAYLOAD_WIDTH = 40
VIEW_PAYLOAD_LIMIT = 4000

# ---- values ---------------------------------------------------------------------------


def duration(value: timedelta | None) -> str:
    """1h30m, 90ms, 2d3h; "-" for none."""
    return NONE if value is None else format_duration(value)


def _span(seconds: float) -> str:
    """A coarse span, at most two units: 45s, 3m20s, 2h5m, 3d4h."""
    seconds = int(abs(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, sec = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{sec}s" if sec else f"{minutes}m"
    hours, minutes = divmod(minutes, 60)
    if hours < 24:
        return f"{hours}h{minutes}m" if minutes else f"{hours}h"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours}h" if hours else f"{days}d"


def relative(value: datetime | None, now: datetime) -> str:
    """ "3m ago", "in 2h5m", "now" (within a second); "-" for none."""
    if value is None:
        return NONE
    delta = (value - now).total_seconds()
    if abs(delta) < 1:
        return "now"
    return f"in {_span(delta)}" if delta > 0 else f"{_span(delta)} ago"


def local(value: datetime | None) -> str:
    """Local wall-clock time with the UTC offset: 2026-11-28 14:30:05 +0100."""
    if value is None:
        return NONE
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S %z")


def clock(value: datetime | None) -> str:
    """Local time of day with milliseconds, for event lines."""
    if value is None:
        return NONE
    return value.astimezone().strftime("%H:%M:%S.%f")[:-3]


def when(value: datetime | None, now: datetime) -> str:
    """For key/value views: local time and how long ago (or until)."""
    if value is None:
        return NONE
    return f"{local(value)} ({relative(value, now)})"


def compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def truncate(text: str, width: int) -> str:
    """At most `width` characters; a cut is marked with an ellipsis."""
    text = " ".join(text.split()) if "\n" in text else text
    if len(text) <= width:
        return text
    return text[: max(width - 1, 0)] + "…"


def payload(value: Any, width: int = PAYLOAD_WIDTH) -> str:
    """Compact JSON on one line, cut to `width`."""
    return truncate(compact_json(value), width)


def pretty_json(value: Any, limit: int = VIEW_PAYLOAD_LIMIT) -> str:
    """Indented JSON for key/value views; very large documents are cut with a hint."""
    text = json.dumps(value, ensure_ascii=False, indent=2)
    if len(text) > limit:
        text = text[:limit] + f"\n… ({len(text) - limit} more characters; use --json)"
    return text


# ---- layouts --------------------------------------------------------------------------


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], right: Iterable[int] = ()) -> str:
    """Columns aligned on the widest cell; `right` lists the columns aligned right
    (numbers). No trailing spaces, so the output diffs and greps cleanly."""
    body = [list(row) for row in rows]
    widths = [len(h) for h in headers]
    for row in body:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    right_cols = set(right)
    lines = []
    for row in [list(headers), *body]:
        cells = [
            cell.rjust(widths[i]) if i in right_cols else cell.ljust(widths[i])
            for i, cell in enumerate(row)
        ]
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def key_values(pairs: Sequence[tuple[str, str]]) -> str:
    """`key:  value` lines aligned on the widest key; multi-line values are indented."""
    width = max((len(key) for key, _ in pairs), default=0) + 1
    lines = []
    for key, value in pairs:
        first, *rest = value.split("\n") or [""]
        lines.append(f"{(key + ':').ljust(width)}  {first}".rstrip())
        lines.extend(" " * (width + 2) + line for line in rest)
    return "\n".join(lines)


def page_note(count: int, offset: int, shown: int, noun: str) -> str | None:
    """ "showing 101-200 of 250 tasks" when the list is not complete, else None."""
    if shown == count and offset == 0:
        return None
    if shown == 0:
        return f"no {noun} at offset {offset} ({count} in all)"
    return f"showing {offset + 1}-{offset + shown} of {count} {noun} (use --offset/--limit)"


def now_utc() -> datetime:
    return datetime.now(UTC)


# ---- queues ---------------------------------------------------------------------------


def _concurrency(value: int | None) -> str:
    return "unlimited" if value is None else str(value)


def per_second(value: float) -> str:
    """A rate as given, without float noise: 200/s, 0.5/s, 1234567/s."""
    return f"{value:.15g}/s"


def rate(value: float | None, burst: int | None = None) -> str:
    """A rate limit: "200/s", "200/s, burst 50"; "unlimited" for none."""
    if value is None:
        return "unlimited"
    return per_second(value) + (f", burst {burst}" if burst is not None else "")


def breaker(
    state: str, open_until: datetime | None, now: datetime, threshold: int | None = 1
) -> str:
    """A circuit breaker as read: "closed", "open until 12:03:05", "half-open"; "-" when
    the queue has none (`threshold` None). An open breaker whose cooldown has passed since
    it was read is half-open."""
    if threshold is None:
        return NONE
    if state == "open" and open_until is not None:
        if open_until <= now:
            return "half-open"
        return f"open until {open_until.astimezone().strftime('%H:%M:%S')}"
    return state


def queues_table(queues: Sequence[Queue], now: datetime) -> str:
    rows = [
        (
            q.queue,
            duration(q.ttl),
            str(q.retries),
            duration(q.retry_delay),
            duration(q.lease),
            _concurrency(q.concurrency),
            rate(q.rate),
            breaker(q.breaker, q.breaker_open_until, now, q.breaker_threshold),
            "paused" if q.paused else "active",
        )
        for q in queues
    ]
    headers = (
        "QUEUE", "TTL", "RETRIES", "RETRY DELAY", "LEASE", "CONCURRENCY", "RATE", "BREAKER",
        "STATE",
    )  # fmt: skip
    return table(headers, rows, right=(2,))


def _breaker_pairs(q: Queue, now: datetime) -> list[tuple[str, str]]:
    if q.breaker_threshold is None:
        return [("breaker", "none")]
    state = breaker(q.breaker, q.breaker_open_until, now, q.breaker_threshold)
    if state.startswith("open") and q.breaker_open_until is not None:
        state += f" ({relative(q.breaker_open_until, now)}, then one probe task)"
    elif state == "half-open":
        state += " (one probe task may go out: its success closes the breaker)"
    return [
        ("breaker", state),
        ("failures in a row", f"{q.breaker_failures} of {q.breaker_threshold}"),
        ("breaker cooldown", duration(q.breaker_cooldown)),
    ]


def queue_view(q: Queue, now: datetime) -> str:
    return key_values(
        [
            ("queue", q.queue),
            ("namespace", q.namespace),
            ("state", "paused" if q.paused else "active"),
            ("ttl", duration(q.ttl)),
            ("retries", str(q.retries)),
            ("retry delay", duration(q.retry_delay)),
            ("lease", duration(q.lease)),
            ("concurrency", _concurrency(q.concurrency)),
            ("rate", rate(q.rate, q.burst)),
            ("weight", str(q.weight)),
            *_breaker_pairs(q, now),
            ("created", when(q.created_at, now)),
        ]
    )


def _marks(s: QueueSummary, now: datetime) -> str:
    """What a stats row adds to a queue's name: paused, a breaker that is not closed."""
    marks = ["paused"] if s.paused else []
    if s.breaker != "closed":
        marks.append("breaker " + breaker(s.breaker, s.breaker_open_until, now))
    return f" ({', '.join(marks)})" if marks else ""


def stats_table(summaries: Sequence[QueueSummary], now: datetime) -> str:
    statuses = list(Status)
    rows = [
        (
            s.queue + _marks(s, now),
            *(f"{s.counts.get(status, 0):,}" for status in statuses),
            relative(s.oldest, now) if s.oldest else NONE,
        )
        for s in summaries
    ]
    headers = ("QUEUE", *(status.value.upper() for status in statuses), "OLDEST WAITING")
    return table(headers, rows, right=range(1, len(statuses) + 1))


# ---- tasks ----------------------------------------------------------------------------


def task_when(t: Task, now: datetime) -> str:
    """What a person wants to know next about a task, by status."""
    match t.status:
        case Status.NEW | Status.RETRY:
            due = t.delayed_at or t.created_at
            return "ready" if due <= now else f"runs {relative(due, now)}"
        case Status.RETAINED:
            return f"running {_span((now - t.started_at).total_seconds())}" if t.started_at else ""
        case Status.EXPIRED:
            return f"expired {relative(t.finished_at or t.dies_at, now)}"
        case Status.RELEASED | Status.FAILED | Status.CANCELLED:
            return f"ended {relative(t.finished_at, now)}"
    return NONE  # pragma: no cover - every status is handled above


def tasks_table(tasks: Sequence[Task], now: datetime) -> str:
    rows = [
        (
            str(t.id),
            t.queue,
            t.status.value
            + (" (cancelling)" if t.cancel_requested and not t.status.terminal else ""),
            str(t.attempt),
            str(t.priority),
            t.worker or NONE,
            relative(t.created_at, now),
            task_when(t, now),
            payload(t.payload),
        )
        for t in tasks
    ]
    headers = ("ID", "QUEUE", "STATUS", "ATTEMPT", "PRI", "WORKER", "CREATED", "WHEN", "PAYLOAD")
    return table(headers, rows, right=(0, 3, 4))


def task_view(t: Task, now: datetime) -> str:
    pairs = [
        ("id", str(t.id)),
        ("queue", t.queue),
        ("namespace", t.namespace),
        ("status", t.status.value),
        ("attempt", str(t.attempt)),
        ("retries left", str(t.retries)),
        ("priority", str(t.priority)),
    ]
    if t.key is not None:
        pairs.append(("key", t.key))
    if t.cancel_requested:
        pairs.append(("cancel requested", "yes"))
    pairs += [
        ("worker", t.worker or NONE),
        ("created", when(t.created_at, now)),
        ("delayed until", when(t.delayed_at, now)),
        ("started", when(t.started_at, now)),
        ("leased until", when(t.leased_until, now)),
        ("finished", when(t.finished_at, now)),
        ("dies", when(t.dies_at, now)),
        ("payload", pretty_json(t.payload)),
        ("result", pretty_json(t.result)),
    ]
    return key_values(pairs)


# ---- tickers --------------------------------------------------------------------------


def tickers_table(tickers: Sequence[Ticker], now: datetime) -> str:
    rows = [
        (
            t.ticker,
            duration(t.interval),
            relative(t.timestamp, now) if t.timestamp else "never",
            relative(t.next_at(now), now),
            payload(t.payload),
        )
        for t in tickers
    ]
    return table(("TICKER", "INTERVAL", "LAST FIRED", "NEXT", "PAYLOAD"), rows)


def ticker_view(t: Ticker, now: datetime) -> str:
    return key_values(
        [
            ("ticker", t.ticker),
            ("namespace", t.namespace),
            ("interval", duration(t.interval)),
            ("last fired", when(t.timestamp, now) if t.timestamp else "never"),
            ("next", when(t.next_at(now), now)),
            ("payload", pretty_json(t.payload)),
        ]
    )


def ticker_line(t: Ticker) -> str:
    """One line per firing, for `next-ticker`."""
    return f"{clock(t.timestamp)}  {t.ticker}  {payload(t.payload, 200)}"
