"""The text/event-stream parser (pgqueue_tui/sse.py) on tricky inputs, fed whole, at every
split point, one byte at a time and in arbitrary chunks."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pgqueue_tui.sse import Event, Parser


def parse(*chunks: bytes, last_event_id: str = "") -> tuple[list[Event], Parser]:
    parser = Parser(last_event_id)
    events = [event for chunk in chunks for event in parser.feed(chunk)]
    return events, parser


def bytewise(stream: bytes) -> list[bytes]:
    return [stream[i : i + 1] for i in range(len(stream))]


# A stream with every feature the parser must get right, and what it means.
TRICKY = (
    b"\xef\xbb\xbf"  # BOM
    b": a comment\r\n"
    b"retry: 2000\r\n"
    b"\r\n"  # dispatches nothing: no data
    b"event: ticker\r"
    b"id: 1\r"
    b'data: {"n":\r'
    b"data:  1}\r"  # one leading space is dropped, the second kept
    b"\r"
    b"data\n"  # a field without a colon: empty value
    b"data:\n"
    b"\n"
    b"id: 2\r\n"
    b"\r\n"  # no data: only the last event ID changes
    b"event: caf\xc3\xa9\n"  # UTF-8, split at every byte below
    b"data: \xe2\x82\xac 5\n"
    b"unknown: field\n"
    b"retry: 1s\n"  # not digits: ignored
    b"id: bad\x00id\n"  # NUL: ignored
    b"\n"
    b"data: never dispatched"  # the stream ends before the blank line
)
TRICKY_EVENTS = [
    Event("ticker", '{"n":\n 1}', "1"),
    Event("message", "\n", "1"),
    Event("café", "€ 5", "2"),
]


def test_a_tricky_stream_whole() -> None:
    events, parser = parse(TRICKY)
    assert events == TRICKY_EVENTS
    assert parser.last_event_id == "2"
    assert parser.retry == 2000


def test_a_tricky_stream_split_at_every_byte_boundary() -> None:
    for i in range(len(TRICKY) + 1):
        events, parser = parse(TRICKY[:i], TRICKY[i:])
        assert events == TRICKY_EVENTS, i
        assert (parser.last_event_id, parser.retry) == ("2", 2000), i
    for j in range(1, len(TRICKY)):  # and at every pair of boundaries
        for i in range(j):
            events, _ = parse(TRICKY[:i], TRICKY[i:j], TRICKY[j:])
            assert events == TRICKY_EVENTS, (i, j)


def test_a_tricky_stream_byte_by_byte() -> None:
    events, parser = parse(*bytewise(TRICKY))
    assert events == TRICKY_EVENTS
    assert (parser.last_event_id, parser.retry) == ("2", 2000)


@given(st.lists(st.integers(min_value=0, max_value=len(TRICKY)), max_size=20))
def test_a_tricky_stream_in_any_chunks(cuts: list[int]) -> None:
    bounds = [0, *sorted(cuts), len(TRICKY)]
    events, _ = parse(*(TRICKY[a:b] for a, b in itertools.pairwise(bounds)))
    assert events == TRICKY_EVENTS


@pytest.mark.parametrize("end", [b"\n", b"\r", b"\r\n"])
def test_line_ends(end: bytes) -> None:
    stream = b"event: e" + end + b"data: a" + end + b"data: b" + end + end
    for chunks in ([stream], bytewise(stream)):
        assert parse(*chunks)[0] == [Event("e", "a\nb", "")]


def test_mixed_line_ends_and_a_crlf_split_across_chunks() -> None:
    # "\r" then "\n" in the next chunk is one line end, not a blank line between two.
    events, _ = parse(b"data: a\r", b"\ndata: b\n\r", b"\n")
    assert events == [Event("message", "a\nb", "")]
    # "\r" then "\r" is a line end and a blank line: the event is dispatched.
    assert parse(b"data: a\r", b"\r")[0] == [Event("message", "a", "")]


def test_missing_trailing_blank_line() -> None:
    assert parse(b"data: a\n")[0] == []
    assert parse(b"data: a")[0] == []
    assert parse(b"data: a\n\ndata: b\n")[0] == [Event("message", "a", "")]


def test_comments_and_keep_alives_dispatch_nothing() -> None:
    assert parse(b": keep-alive\n\n:\n\n: x\r\n\r\n")[0] == []
    events, _ = parse(b"data: a\n: a comment between fields\ndata: b\n\n")
    assert events == [Event("message", "a\nb", "")]


def test_only_the_first_bom_is_dropped() -> None:
    assert parse(b"\xef\xbb", b"\xbfdata: a\n\n")[0] == [Event("message", "a", "")]
    # A second BOM makes the first line's field name "\ufeffdata": an unknown field.
    assert parse(b"\xef\xbb\xbf\xef\xbb\xbfdata: a\n\n")[0] == []
    # No BOM: nothing is dropped.
    assert parse(b"data: \xef\xbb\xbfa\n\n")[0] == [Event("message", "\ufeffa", "")]


def test_field_values() -> None:
    events, parser = parse(
        b"data:no space\n"
        b"data:   three spaces\n"
        b"data: colon: in value\n"
        b"\n"
        b"event\n"  # an empty event type means "message"
        b"data\n"
        b"\n"
    )
    assert events == [
        Event("message", "no space\n  three spaces\ncolon: in value", ""),
        Event("message", "", ""),
    ]
    assert parser.retry is None


def test_event_type_does_not_leak_into_the_next_event() -> None:
    events, _ = parse(b"event: a\n\ndata: x\n\nevent: b\ndata: y\n\ndata: z\n\n")
    assert [(e.type, e.data) for e in events] == [("message", "x"), ("b", "y"), ("message", "z")]


def test_last_event_id() -> None:
    # It starts as the ID resumed from, stays until an id field is dispatched, and an event
    # without data still moves it on.
    events, parser = parse(b"data: a\n\nid: 7\ndata: b\n\ndata: c\n\n", last_event_id="5")
    assert [e.id for e in events] == ["5", "7", "7"]
    events, parser = parse(b"id: 9\n\n", last_event_id="5")
    assert (events, parser.last_event_id) == ([], "9")
    # An id whose event never completes is not taken.
    assert parse(b"id: 9\ndata: x", last_event_id="5")[1].last_event_id == "5"
    # An empty id resets it.
    assert parse(b"id\ndata: x\n\n", last_event_id="5")[0] == [Event("message", "x", "")]
    # A NUL anywhere in the value: the field is ignored.
    assert parse(b"id: a\x00\ndata: x\n\n", last_event_id="5")[0][0].id == "5"


def test_retry() -> None:
    assert parse(b"retry: 1500\n")[1].retry == 1500  # takes effect at once, no blank line
    assert parse(b"retry: 1500\nretry: 15s\nretry: -1\nretry:\n")[1].retry == 1500
    assert parse("retry: ١٢\n".encode())[1].retry is None  # Arabic-Indic digits: not ASCII


def test_invalid_utf8_is_replaced_and_multibyte_characters_survive_splits() -> None:
    assert parse(b"data: a\xffb\n\n")[0] == [Event("message", "a\ufffdb", "")]
    stream = "data: 日本 🎉\n\n".encode()
    assert parse(*bytewise(stream))[0] == [Event("message", "日本 🎉", "")]


def test_a_long_line_in_small_chunks() -> None:
    text = "x" * 100_000
    stream = f"data: {text}\n\n".encode()
    chunks = [stream[i : i + 7] for i in range(0, len(stream), 7)]
    assert parse(*chunks)[0] == [Event("message", text, "")]
