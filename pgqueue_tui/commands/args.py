"""Argument types of the CLI: JSON, durations, times and numbers, checked before any request."""

from __future__ import annotations

import argparse
import json
import re
import sys
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

# Default of options whose JSON value may be null: "not given" must differ from null.
NOT_GIVEN: Any = object()

_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")


def json_value(text: str) -> Any:
    """A JSON document given inline, as @FILE, or @- for standard input."""
    source = "JSON"
    if text.startswith("@"):
        source = text[1:] or "-"
        try:
            text = sys.stdin.read() if source == "-" else Path(source).read_text("utf-8")
        except OSError as exc:
            raise argparse.ArgumentTypeError(f"cannot read {source}: {exc.strerror}") from None
    try:
        return json.loads(text)
    except ValueError as exc:
        hint = " (quote strings: '\"text\"')" if text[:1].isalpha() else ""
        raise argparse.ArgumentTypeError(f"invalid {source}: {exc}{hint}") from None


def duration(text: str) -> timedelta:
    """A positive duration: 90s, 1h30m, 2d, PT1H or integer nanoseconds."""
    from pgqueue_core.durations import parse_duration
    from pgqueue_core.errors import InvalidArgument

    try:
        value = parse_duration(text, "duration")
    except InvalidArgument as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("duration: ")) from None
    if value <= timedelta(0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive duration")
    return value


def cooldown(text: str) -> timedelta:
    """A circuit breaker's cooldown: a duration from 1s to 365d."""
    value = duration(text)
    if not timedelta(seconds=1) <= value <= timedelta(days=365):
        raise argparse.ArgumentTypeError(f"{text!r} is not between 1s and 365d")
    return value


def rate(text: str) -> float:
    """Tasks per second: a number from 0 to 1e9 (0.5 is one task every two seconds)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number (tasks per second)") from None
    if not 0 <= value <= 1e9:  # NaN fails both
        raise argparse.ArgumentTypeError(f"{text!r} is not between 0 and 1e9 tasks per second")
    return value


def weight(text: str) -> int:
    """A queue's weight in claims across queues: 1 to 1000."""
    value = positive(text)
    if value > 1000:
        raise argparse.ArgumentTypeError(f"{text!r} is more than 1000")
    return value


def timestamp(text: str) -> datetime:
    """An ISO 8601 time; without an offset it is local time (2026-11-28T14:30, …Z, …+01:00)."""
    value = text.strip()
    try:
        parsed = datetime.fromisoformat(value[:-1] + "+00:00" if value[-1:] in "zZ" else value)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a time (use e.g. 2026-11-28T14:30 or 2026-11-28T13:30:00Z)"
        ) from None
    return parsed if parsed.tzinfo else parsed.astimezone()


def count(text: str) -> int:
    """An integer ≥ 0."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} must not be negative")
    return value


def positive(text: str) -> int:
    """An integer ≥ 1."""
    value = count(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} must be at least 1")
    return value


def integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None


def task_id(text: str) -> int:
    """A task id: a positive integer."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a task id (a number)") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a task id (ids start at 1)")
    return value


def name(text: str) -> str:
    """A queue or ticker name: lower-case letter first, then letters, digits, _ or -."""
    value = text.strip().lower()
    if not _NAME.match(value):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a valid name (a letter, then up to 63 of a-z 0-9 _ -)"
        )
    return value
