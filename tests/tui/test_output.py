"""Human output helpers: alignment, durations, relative times, truncation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pgqueue_core import Status, Task, Ticker
from pgqueue_tui import output

NOW = datetime(2026, 11, 28, 12, 0, 0, tzinfo=UTC)


def test_table_aligns_columns_without_trailing_spaces() -> None:
    text = output.table(("NAME", "N"), [("a", "1"), ("longer", "100")], right=(1,))
    assert text.splitlines() == ["NAME      N", "a         1", "longer  100"]


def test_key_values_align_and_indent_multiline_values() -> None:
    text = output.key_values([("id", "1"), ("payload", '{\n  "a": 1\n}')])
    assert text.splitlines() == ["id:       1", "payload:  {", '            "a": 1', "          }"]


def test_durations_and_relative_times() -> None:
    assert output.duration(timedelta(hours=1, minutes=30)) == "1h30m"
    assert output.duration(None) == "-"
    assert output.relative(NOW - timedelta(seconds=42), NOW) == "42s ago"
    assert output.relative(NOW + timedelta(minutes=3, seconds=5), NOW) == "in 3m5s"
    assert output.relative(NOW - timedelta(days=2, hours=3, minutes=1), NOW) == "2d3h ago"
    assert output.relative(NOW, NOW) == "now"
    assert output.relative(None, NOW) == "-"
    assert "(1h ago)" in output.when(NOW - timedelta(hours=1), NOW)


def test_payloads_are_compact_and_truncated() -> None:
    assert output.payload({"a": [1, 2]}) == '{"a":[1,2]}'
    long = output.payload({"text": "x" * 100}, width=20)
    assert len(long) == 20
    assert long.endswith("…")
    assert "more characters; use --json" in output.pretty_json("y" * 5000, limit=100)


def test_page_note() -> None:
    assert output.page_note(3, 0, 3, "tasks") is None
    assert output.page_note(250, 100, 100, "tasks") == (
        "showing 101-200 of 250 tasks (use --offset/--limit)"
    )


def _task(status: Status, **fields: object) -> Task:
    values: dict[str, object] = {
        "id": 7, "namespace": "default", "queue": "q", "payload": {"n": 1}, "result": None,
        "worker": None, "status": status, "created_at": NOW - timedelta(minutes=5),
        "delayed_at": None, "started_at": None, "finished_at": None,
        "dies_at": NOW + timedelta(hours=1), "retries": 3, "attempt": 0,
    }  # fmt: skip
    values.update(fields)
    return Task(**values)  # type: ignore[arg-type]


def test_task_when_says_what_happens_next() -> None:
    assert output.task_when(_task(Status.NEW), NOW) == "ready"
    later = _task(Status.RETRY, delayed_at=NOW + timedelta(minutes=2))
    assert output.task_when(later, NOW) == "runs in 2m"
    running = _task(Status.RETAINED, started_at=NOW - timedelta(seconds=30))
    assert output.task_when(running, NOW) == "running 30s"
    ended = _task(Status.RELEASED, finished_at=NOW - timedelta(minutes=1))
    assert output.task_when(ended, NOW) == "ended 1m ago"
    expired = _task(Status.EXPIRED, dies_at=NOW - timedelta(hours=1))
    assert output.task_when(expired, NOW) == "expired 1h ago"
    table = output.tasks_table([_task(Status.NEW)], NOW)
    assert table.splitlines()[1].split() == [
        "7",
        "q",
        "new",
        "0",
        "0",
        "-",
        "5m",
        "ago",
        "ready",
        '{"n":1}',
    ]


def test_ticker_views() -> None:
    ticker = Ticker("default", "hourly", timedelta(hours=1), {}, NOW - timedelta(minutes=20))
    row = output.tickers_table([ticker], NOW).splitlines()[1]
    assert row.split() == ["hourly", "1h", "20m", "ago", "in", "40m", "{}"]
    assert "hourly  {}" in output.ticker_line(ticker)
    assert "never" in output.ticker_view(Ticker("default", "t", timedelta(1), {}, None), NOW)


def test_rates_and_breakers() -> None:
    assert output.rate(None) == "unlimited"
    assert output.rate(200.0) == "200/s"
    assert output.rate(0.5, 10) == "0.5/s, burst 10"
    assert output.breaker("closed", None, NOW, None) == "-"  # no breaker
    assert output.breaker("closed", None, NOW) == "closed"
    soon = NOW + timedelta(seconds=5)
    assert output.breaker("open", soon, NOW) == (
        f"open until {soon.astimezone().strftime('%H:%M:%S')}"
    )
    # Read while open, shown after its cooldown: half-open by now.
    assert output.breaker("open", soon, soon) == "half-open"
    assert output.breaker("half-open", NOW - timedelta(seconds=1), NOW) == "half-open"
