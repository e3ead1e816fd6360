"""The console's pure parts: throughput sampling, cell formatting, theme choice."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pgqueue_tui.theme import DARK, LIGHT, default_theme, terminal_is_light
from pgqueue_tui.widgets import cells
from pgqueue_tui.widgets.throughput import Throughput


def test_throughput_rate_history_and_backlog_trend() -> None:
    meter = Throughput(buckets=4, bucket_seconds=10.0, window=10.0)
    meter.record("q", done=100, waiting=5, at=0.0)  # the first sample is only a baseline
    assert meter.rate("q", 0.0) == 0.0
    meter.record("q", done=120, waiting=7, at=5.0)
    meter.record("q", done=150, waiting=9, at=10.0)
    assert meter.rate("q", 10.0) == pytest.approx(5.0)  # 50 tasks in 10 s
    assert meter.history("q", 10.0) == [0.0, 0.0, 0.0, 5.0]
    assert meter.growing("q")
    meter.record("q", done=20, waiting=1, at=15.0)  # cleanup deleted old tasks: not negative
    assert meter.rate("q", 15.0) == pytest.approx(3.0)
    assert not meter.growing("q")
    assert meter.history("q", 45.0) == [3.0, 0.0, 0.0, 0.0]  # the sparkline scrolls left
    meter.forget(set())
    assert meter.rate("q", 15.0) == 0.0


def test_cells() -> None:
    assert cells.count(1204).plain == "1,204"
    assert cells.count(0).style == "dim"
    assert [cells.age(s) for s in (5, 250, 7300, 90000)] == ["5s", "4m 10s", "2h 01m", "1d 1h"]
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert cells.since(now + timedelta(seconds=12), now) == "in 12s"
    assert cells.since(now - timedelta(minutes=3), now) == "3m 00s ago"
    assert cells.sparkline([0, 0]) == "▁▁"
    assert cells.sparkline([0, 5, 10]) == "▁▅█"
    assert [cells.rate(v) for v in (412.4, 12.25, 3.5, 0.25, 0)] == [
        "412",
        "12.2",
        "3.5",
        "0.25",
        "0",
    ]


@pytest.mark.parametrize(
    ("env", "light"),
    [
        ({}, False),
        ({"COLORFGBG": "0;15"}, True),
        ({"COLORFGBG": "15;0"}, False),
        ({"COLORFGBG": "0;15", "PGQUEUE_THEME": "dark"}, False),
        ({"PGQUEUE_THEME": "light"}, True),
    ],
)
def test_theme_follows_the_terminal_background(env: dict[str, str], light: bool) -> None:
    assert terminal_is_light(env) is light
    assert default_theme(env) == (LIGHT if light else DARK).name
