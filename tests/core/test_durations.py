"""Durations: nanosecond integers, Go-style strings, ISO 8601, compact formatting."""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgqueue_core import InvalidArgument, format_duration, parse_duration, to_ns
from pgqueue_core.durations import MAX_DURATION, from_ns


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (3_600_000_000_000, timedelta(hours=1)),
        (0, timedelta(0)),
        (1_500, timedelta(microseconds=1)),  # sub-microsecond parts are dropped
        ("3600000000000", timedelta(hours=1)),
        ("90s", timedelta(seconds=90)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1.5h", timedelta(minutes=90)),
        ("2d3h", timedelta(days=2, hours=3)),
        ("250ms", timedelta(milliseconds=250)),
        ("10us", timedelta(microseconds=10)),
        ("10µs", timedelta(microseconds=10)),
        (".5s", timedelta(milliseconds=500)),
        ("  5m  ", timedelta(minutes=5)),
        ("-5s", timedelta(seconds=-5)),
        ("PT1H", timedelta(hours=1)),
        ("PT1H30M", timedelta(hours=1, minutes=30)),
        ("P1D", timedelta(days=1)),
        ("P1DT2H3M4.5S", timedelta(days=1, hours=2, minutes=3, seconds=4.5)),
        ("pt90s", timedelta(seconds=90)),
        (timedelta(minutes=3), timedelta(minutes=3)),
        (2.0e9, timedelta(seconds=2)),
    ],
)
def test_parse(given: object, expected: timedelta) -> None:
    assert parse_duration(given) == expected


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "   ",
        "abc",
        "5x",
        "1h30",
        "h",
        "1h 30m",
        "P",
        "PT",
        "P1H",
        "PT1D",
        "1hh",
        True,
        None,
        [],
        {},
        float("nan"),
        float("inf"),
        2**64,
        "9999999999h",
    ],
)
def test_parse_rejects(bad: object) -> None:
    with pytest.raises(InvalidArgument):
        parse_duration(bad, "ttl")


def test_bare_number_strings_are_nanoseconds() -> None:
    # "5" is five nanoseconds, like the integer; it is not an error of its own.
    assert parse_duration("5000") == timedelta(microseconds=5)


def test_error_names_the_field() -> None:
    with pytest.raises(InvalidArgument, match="retry_delay"):
        parse_duration("soon", "retry_delay")


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(0), "0s"),
        (timedelta(hours=1, minutes=30), "1h30m"),
        (timedelta(seconds=90), "1m30s"),
        (timedelta(days=2, hours=3), "2d3h"),
        (timedelta(milliseconds=90), "90ms"),
        (timedelta(microseconds=1500), "1.5ms"),
        (timedelta(microseconds=7), "7us"),
        (timedelta(seconds=1.5), "1.5s"),
        (timedelta(seconds=-5), "-5s"),
        (timedelta(hours=1, microseconds=1), "1h0.000001s"),
        (timedelta(seconds=1, microseconds=234567), "1.234567s"),
    ],
)
def test_format(value: timedelta, text: str) -> None:
    assert format_duration(value) == text


@given(st.timedeltas(min_value=-MAX_DURATION, max_value=MAX_DURATION))
def test_format_then_parse_round_trips(value: timedelta) -> None:
    assert parse_duration(format_duration(value)) == value


@given(st.timedeltas(min_value=-MAX_DURATION, max_value=MAX_DURATION))
def test_nanoseconds_round_trip(value: timedelta) -> None:
    ns = to_ns(value)
    assert ns % 1000 == 0
    assert from_ns(ns) == value
    assert parse_duration(ns) == value


def test_to_ns() -> None:
    assert to_ns(timedelta(hours=1)) == 3_600_000_000_000
    assert to_ns(timedelta(microseconds=1)) == 1_000
    assert to_ns(MAX_DURATION) <= 2**63 - 1


@given(
    st.one_of(
        st.text(max_size=80), st.integers(), st.floats(), st.from_regex(r"P[0-9.DTHMS]{1,40}")
    )
)
def test_any_input_is_a_duration_or_invalid_argument(value: object) -> None:
    """SPEC 7.2: nothing a client sends makes the parser fail otherwise."""
    try:
        parsed = parse_duration(value, "ttl")
    except InvalidArgument:
        return
    assert abs(parsed) <= MAX_DURATION


@pytest.mark.parametrize(
    "text", ["P99999999999D", "PT99999999999999999999H", "P1000000000D", "106752d", "9" * 5000]
)
def test_beyond_292_years_or_64_characters_is_refused(text: str) -> None:
    with pytest.raises(InvalidArgument, match="ttl"):
        parse_duration(text, "ttl")


def test_the_longest_duration_in_every_syntax() -> None:
    ns = to_ns(MAX_DURATION)
    assert parse_duration(ns) == MAX_DURATION
    assert parse_duration(format_duration(MAX_DURATION)) == MAX_DURATION
    assert parse_duration("PT" + str(ns // 10**9) + "S") <= MAX_DURATION


@pytest.mark.parametrize("text", ["١٢s", "１h", "٣", "P١D", "PT٣H", "1.٥s", "-١s", "１"])
def test_digits_are_ascii(text: str) -> None:
    """`\\d` matched any Unicode digit: "١٢s" (Arabic-Indic) was 12 s and "１h" (a fullwidth one)
    an hour; Go's time.ParseDuration, and so the original's clients, know ASCII digits only."""
    with pytest.raises(InvalidArgument):
        parse_duration(text, "ttl")


def test_micro_is_the_micro_sign_or_the_greek_mu() -> None:
    """As in Go: "1µs" (U+00B5) and "1μs" (U+03BC) are both a microsecond."""
    assert parse_duration("1\u00b5s") == parse_duration("1\u03bcs") == timedelta(microseconds=1)
