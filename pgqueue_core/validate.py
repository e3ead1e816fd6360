"""Input rules shared by the Python API and the REST server (one message per rule)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

from .durations import MAX_DURATION
from .errors import InvalidArgument
from .models import RawJSON, Status, load_json

NAME_RE = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
RESERVED_NAMESPACE = "pgqueue"
DEFAULT_NAMESPACE = "default"
MAX_LIMIT = 100
MAX_OFFSET = 2**53
INT32_MAX = 2**31 - 1
MAX_WORKER_LEN = 255
MAX_KEY_LEN = 1024
# How far in the past a delayed_at may lie (clock skew between client and server).
CLOCK_SKEW = timedelta(seconds=10)


def name(value: object, what: str) -> str:
    """A queue, ticker or namespace name: trimmed, lowercased, ^[a-z][a-z0-9_-]{0,63}$."""
    if not isinstance(value, str):
        raise InvalidArgument(f"{what} name must be a string, got {type(value).__name__}")
    cleaned = value.strip().lower()
    if not NAME_RE.match(cleaned):
        raise InvalidArgument(
            f"invalid {what} name {value!r}: use a letter followed by up to 63 letters, "
            "digits, '_' or '-'"
        )
    return cleaned


def rename(value: object, what: str) -> str | None:
    """The new name an update asks for, or None for "no rename".

    An empty name means "no rename" as much as an absent or null one: the original Go
    client cannot leave the name out of a ticker PATCH (go-pg 2d74e0c,
    pkg/queue/schema/ticker.go:20, `Ticker string `json:"ticker"`` has no omitempty, so
    UpdateTicker always sends "ticker": ""), and queues follow the same rule so that the two
    resources agree. A blank name ("  ") is still a bad name.
    """
    if value is None or value == "":
        return None
    return name(value, what)


def namespace(value: object) -> str:
    """A namespace an application may bind to (not the reserved system namespace)."""
    cleaned = name(value, "namespace")
    if cleaned == RESERVED_NAMESPACE:
        raise InvalidArgument(f"namespace {RESERVED_NAMESPACE!r} is reserved for pgqueue itself")
    return cleaned


def worker(value: object) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgument("worker must be a non-empty string")
    cleaned = value.strip()
    if len(cleaned) > MAX_WORKER_LEN:
        raise InvalidArgument(f"worker must be at most {MAX_WORKER_LEN} characters")
    return _text(cleaned, "worker")


def _text(value: str, what: str) -> str:
    """`value`, if PostgreSQL can store it in a text column: no NUL character and no lone
    surrogate (the database refused them with a message naming neither the field nor the
    character: "invalid input for query argument $3")."""
    if "\x00" in value:
        raise InvalidArgument(f"{what} must not contain a NUL character (\\u0000)")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            raise InvalidArgument(
                f"{what} holds a lone surrogate (an unpaired \\ud800-\\udfff escape): it "
                "must be Unicode text"
            ) from None
    return value


def duration(value: timedelta | None, what: str, minimum: timedelta | None = None) -> None:
    """A positive duration (at least `minimum` when given), or None for "not given"."""
    if value is None:
        return
    if not isinstance(value, timedelta):
        raise InvalidArgument(f"{what} must be a duration")
    if value <= timedelta(0):
        raise InvalidArgument(f"{what} must be positive")
    if minimum is not None and value < minimum:
        raise InvalidArgument(f"{what} must be at least {minimum.total_seconds():g}s")
    if value > MAX_DURATION:
        raise InvalidArgument(f"{what} is too long (the maximum is about 292 years)")


def integer(value: int | None, what: str, minimum: int = 0, maximum: int = INT32_MAX) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidArgument(f"{what} must be an integer")
    if not minimum <= value <= maximum:
        raise InvalidArgument(f"{what} must be between {minimum} and {maximum}, got {value}")


MAX_RATE = 1e9  # tasks per second (the queue table's check)


def rate(value: float | None, what: str = "rate") -> None:
    """Tasks per second: a finite number from 0 (0 removes a limit on update) to MAX_RATE."""
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidArgument(f"{what} must be a number")
    if not 0 <= value <= MAX_RATE:  # NaN fails both comparisons; big ints compare exactly
        raise InvalidArgument(f"{what} must be between 0 and {MAX_RATE:g}, got {value}")


def status(value: object) -> Status | None:
    if value is None:
        return None
    try:
        return Status(str(value).strip().lower())
    except ValueError:
        choices = ", ".join(s.value for s in Status)
        raise InvalidArgument(f"unknown status {value!r}: use one of {choices}") from None


def paging(offset: int | None, limit: int | None) -> tuple[int, int]:
    """(offset, limit) with defaults 0 and 100; limit is capped at 100."""
    offset = 0 if offset is None else offset
    limit = MAX_LIMIT if limit is None else limit
    integer(offset, "offset", 0, MAX_OFFSET)
    integer(limit, "limit", 0, MAX_OFFSET)
    return offset, min(limit, MAX_LIMIT)


# One encoder for every payload and result (json.dumps with options builds one per call).
JSON_ENCODER = json.JSONEncoder(allow_nan=False, separators=(",", ":"))


def payload(value: Any, what: str = "payload") -> str:
    """JSON text of a payload or result (any JSON value; None is JSON null)."""
    if isinstance(value, RawJSON):  # read back from a row as it was stored
        return value.text
    try:
        text = JSON_ENCODER.encode(value)
    except (TypeError, ValueError) as exc:
        raise InvalidArgument(f"{what} is not JSON-serialisable: {exc}") from None
    except RecursionError:
        raise InvalidArgument(f"{what} is nested too deeply to encode") from None
    # The text is ASCII: any surrogate, paired (an emoji) or not, is a \udxxx escape in it.
    # What counts is what the text reads back as: a pair (even of two separate code points)
    # is one character, an escape alone is not text (and would read back as RawJSON).
    if "\\ud" in text and isinstance(load_json(text), RawJSON):
        raise InvalidArgument(
            f"{what} holds a lone surrogate (an unpaired \\ud800-\\udfff escape): strings "
            "must be Unicode text"
        )
    return text


def utc(value: datetime, what: str) -> datetime:
    """An aware datetime in UTC; InvalidArgument when UTC leaves years 1..9999 (e.g.
    0001-01-01T00:00+14:00), which neither Python nor the wire can represent."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise InvalidArgument(
            f"{what} {value.isoformat()} is outside years 1..9999 once converted to UTC"
        ) from None


def aware(value: datetime | None, what: str) -> datetime | None:
    if value is None:
        return None
    if not isinstance(value, datetime):
        raise InvalidArgument(f"{what} must be a datetime")
    if value.tzinfo is None or value.utcoffset() is None:
        raise InvalidArgument(f"{what} must carry a time zone (e.g. UTC)")
    return utc(value, what)


def delayed_at(value: datetime | None) -> datetime | None:
    """A delay that is not in the past (beyond clock skew)."""
    value = aware(value, "delayed_at")
    if value is not None and value < datetime.now(UTC) - CLOCK_SKEW:
        raise InvalidArgument(f"delayed_at {value.isoformat()} is in the past")
    return value


def key(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise InvalidArgument("key must be a non-empty string")
    if len(value) > MAX_KEY_LEN:
        raise InvalidArgument(f"key must be at most {MAX_KEY_LEN} characters")
    return _text(value, "key")
