"""Durations: nanosecond integers on the wire, "1h30m" for people, ISO 8601 accepted."""

from __future__ import annotations

import re
from datetime import timedelta
from fractions import Fraction

from .errors import InvalidArgument

NS_PER_US = 1_000
MAX_NS = 2**63 - 1
# Go's time.Duration is an int64 of nanoseconds (about 292 years): clients of the
# original must be able to hold every duration we hand out.
MAX_DURATION = timedelta(microseconds=MAX_NS // NS_PER_US)
# The longest duration text accepted ("106751d23h47m16.854775807s" is 26 characters): longer
# input is refused before any parsing, so no syntax can make the parser work hard.
MAX_TEXT = 64

_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,  # the micro sign, U+00B5
    "μs": 1_000,  # the Greek mu, U+03BC (Go's time.ParseDuration accepts both)
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60 * 1_000_000_000,
    "h": 3600 * 1_000_000_000,
    "d": 86400 * 1_000_000_000,
}
# Digits are ASCII ([0-9], not \d, which also matches "١" or "１" and made "١٢s" 12 s).
_GO_PART = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h|d)")
_N = r"[0-9]+(?:\.[0-9]+)?"
_ISO = re.compile(rf"^P(?:(?P<d>{_N})D)?(?:T(?:(?P<h>{_N})H)?(?:(?P<m>{_N})M)?(?:(?P<s>{_N})S)?)?$")


def from_ns(ns: int, field: str = "duration") -> timedelta:
    """A timedelta from integer nanoseconds (sub-microsecond parts are dropped)."""
    if abs(ns) > MAX_NS:
        raise InvalidArgument(f"{field} is too long (the maximum is about 292 years)")
    return timedelta(microseconds=ns // NS_PER_US)


def to_ns(value: timedelta) -> int:
    """Integer nanoseconds of a timedelta, exact."""
    return ((value.days * 86400 + value.seconds) * 1_000_000 + value.microseconds) * NS_PER_US


def parse_duration(value: object, field: str = "duration") -> timedelta:
    """Parse nanoseconds (int), a Go-style string ("1h30m", "90s") or ISO 8601 ("PT1H")."""
    if isinstance(value, bool):
        raise InvalidArgument(f"{field}: expected a duration, got a boolean")
    if isinstance(value, timedelta):
        result = value
    elif isinstance(value, int):
        result = from_ns(value, field)
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            raise InvalidArgument(f"{field}: {value} is not a duration")
        if abs(value) > MAX_NS:
            raise InvalidArgument(f"{field} is too long (the maximum is about 292 years)")
        result = from_ns(int(value), field)
    elif isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise InvalidArgument(
                f"{field}: a duration text is at most {MAX_TEXT} characters, got {len(value)}"
            )
        result = _parse_text(value.strip(), field)
    else:
        raise InvalidArgument(
            f'{field}: expected nanoseconds or a string like "90s" or "1h30m", '
            f"got {type(value).__name__}"
        )
    if abs(result) > MAX_DURATION:
        raise InvalidArgument(f"{field} is too long (the maximum is about 292 years)")
    return result


def _parse_text(text: str, field: str) -> timedelta:
    if not text:
        raise InvalidArgument(f"{field}: empty duration")
    if re.fullmatch(r"[+-]?[0-9]+", text):
        return from_ns(int(text), field)
    sign = 1
    body = text
    if body[0] in "+-":
        sign = -1 if body[0] == "-" else 1
        body = body[1:]
    if body.upper().startswith("P"):
        match = _ISO.match(body.upper())
        if match is None or body.upper() in ("P", "PT") or body.upper().endswith("T"):
            raise InvalidArgument(f"{field}: {text!r} is not an ISO 8601 duration")
        # Exact, and bounded before a timedelta is built (timedelta overflows at ~2.7 M years).
        total = sum(
            (Fraction(v) * _UNITS_NS[k] for k, v in match.groupdict().items() if v),
            Fraction(0),
        )
        if total > MAX_NS:
            raise InvalidArgument(f"{field} is too long (the maximum is about 292 years)")
        return sign * from_ns(int(total), field)
    position = 0
    total_ns = Fraction(0)  # exact: "1.000001s" is 1 s and 1 µs, not a float just under it
    for match in _GO_PART.finditer(body):
        if match.start() != position:
            break
        total_ns += Fraction(match.group(1)) * _UNITS_NS[match.group(2)]
        position = match.end()
    if position != len(body) or position == 0:
        raise InvalidArgument(
            f'{field}: {text!r} is not a duration (use e.g. "90s", "1h30m", "PT1H" '
            "or integer nanoseconds)"
        )
    if total_ns > MAX_NS:
        raise InvalidArgument(f"{field} is too long (the maximum is about 292 years)")
    return sign * from_ns(int(total_ns), field)


def format_duration(value: timedelta) -> str:
    """A compact human form: "1h30m", "90ms", "2d3h", "0s"."""
    ns = to_ns(value)
    if ns == 0:
        return "0s"
    sign = "-" if ns < 0 else ""
    ns = abs(ns)
    if ns < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("us", 1_000), ("ns", 1)):
            if ns >= size:
                amount = ns / size
                text = f"{amount:.3f}".rstrip("0").rstrip(".")
                return f"{sign}{text}{unit}"
    parts = []
    for unit in ("d", "h", "m"):
        size = _UNITS_NS[unit]
        if ns >= size:
            parts.append(f"{ns // size}{unit}")
            ns %= size
    if ns:
        seconds = ns / 1_000_000_000
        parts.append(f"{seconds:.6f}".rstrip("0").rstrip(".") + "s")  # exact to the µs
    return sign + "".join(parts)
