"""Hostile values for every kind of input the server decodes, as hypothesis strategies: JSON
that ordinary encoders refuse to write (repeated keys, lone surrogates, numbers past every
range, nesting past the recursion limit), durations in every syntax, RFC 3339 edge cases,
names, ids, paging numbers, header values."""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import strategies as st

from pgqueue_core import Status

# ---- JSON that json.dumps would not write ------------------------------------------------


@dataclass(frozen=True)
class Raw:
    """JSON text sent exactly as written (numbers past float range, deep nesting, junk)."""

    text: str

    def __repr__(self) -> str:
        return f"Raw({self.text[:60]!r}{'...' if len(self.text) > 60 else ''})"


@dataclass(frozen=True)
class Obj:
    """A JSON object whose keys may repeat (the last one wins in Python's json module)."""

    pairs: tuple[tuple[str, Any], ...]


def emit(value: Any, *, ascii_only: bool = True) -> str:
    """JSON text of a value built from Raw, Obj and plain Python values. Strings are escaped
    with \\uXXXX (so lone surrogates go out as the escapes aiohttp cannot send as text)."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, Obj | dict):
        pairs = value.pairs if isinstance(value, Obj) else tuple(value.items())
        inner = ",".join(
            f"{_string(k, ascii_only)}:{emit(v, ascii_only=ascii_only)}" for k, v in pairs
        )
        return "{" + inner + "}"
    if isinstance(value, list | tuple):
        return "[" + ",".join(emit(v, ascii_only=ascii_only) for v in value) + "]"
    if isinstance(value, str):
        return _string(value, ascii_only)
    if value is None or isinstance(value, bool):
        return json.dumps(value)
    if isinstance(value, float):
        assert math.isfinite(value), value
        return repr(value)
    if isinstance(value, int):
        return str(value)
    raise TypeError(f"cannot emit {type(value).__name__}")


def _string(text: str, ascii_only: bool) -> str:
    return json.dumps(text, ensure_ascii=ascii_only)


def to_bytes(text: str) -> bytes:
    """UTF-8, lone surrogates included (as the invalid 3-byte sequences they would be)."""
    return text.encode("utf-8", "surrogatepass")


# ---- values, by kind: curated lists (every one is sent by the sweep) and strategies that
# mix them with generated ones (the property) -------------------------------------------

# One value of every JSON type: each field gets all the types it does not expect.
WRONG_TYPES: list[Any] = [None, True, False, 0, 1.5, "x", [], {}, [1], {"a": 1}]
BIG_INTS = [
    0, 1, -1, 2, 59, 999, 10**9 - 1, 10**9, 10**9 + 1, 2**31 - 1, 2**31, -(2**31), -(2**31) - 1,
    2**53, 2**53 + 1, 2**63 - 1, 2**63, -(2**63), -(2**63) - 1, 2**64, 2**64 + 1, 10**30,
    3600 * 10**9, 292 * 365 * 86400 * 10**9, 10**4300 - 1,
]  # fmt: skip
BIG_FLOATS = [0.0, -0.0, 0.5, -0.5, 1.0, 1.5, 1e-300, 5e-324, 1e9, 3.6e12, 1e15, 1e19, 9.3e18,
              1.8e19, 1e300, 1e308, -1e308, 1.7976931348623157e308]  # fmt: skip
RAW_NUMBERS = [Raw(text) for text in (
    "1e400", "-1e400", "1e-400", "-0", "-0.0", "0e0", "1E2", "1e+2", "1.0", "1.000000000001",
    "123456789012345678901234567890", "9223372036854775807", "9223372036854775808",
    "-9223372036854775809", "18446744073709551616", "1" * 4300, "1" * 4301, "1" * 5000,
    "0." + "0" * 5000 + "1", "1" + "0" * 400 + ".5",
)]  # fmt: skip
LONE = ["\ud800", "\udfff", "a\udc80b", "\udbff\ud800", "\ud83d"]
TEXTS = [
    "", " ", "\t", "\u0000", "a\u0000b", "\u2028", "\ufeff", "\ufffd", "\U0001f600", "é", "İ",
    "\u212a", "ß", "٣", "１", "\u200b", "a" * 64, "a" * 65, "a" * 255, "a" * 256, "a" * 1024,
    "a" * 1025, "x" * 10_000, "null", "0", "%00", "%ff", "../..", "a/b", "a%2Fb", "a\\b",
    "a\nb", "a\r\nb", "' OR 1=1 --", "$1", "\x7f", "\x1b[31m", *LONE,
]  # fmt: skip
# Nesting around Python's recursion limit (where the request parser, the payload encoder,
# the database and the response writer each give up at a slightly different depth).
DEPTHS = [2, 500, *range(900, 1001, 10), 1100, 3000, 100_000]
DEEP = (
    [Raw("[" * n + "]" * n) for n in DEPTHS]
    + [Raw('{"a":' * n + "1" + "}" * n) for n in DEPTHS]
    + [Raw('[{"a":' * n + "null" + "}]" * n) for n in (300, 450, 480, 495, 500, 1000)]
)
JSONS: list[Any] = [
    *WRONG_TYPES, -0.0, 1e308, 2**63, 2**64, -(2**63) - 1, 10**4300 - 1, *RAW_NUMBERS[:8],
    RAW_NUMBERS[16], *DEEP, *LONE, {"\ud800": 1}, ["a\udfff"], {"a\u0000": "\u0000"},
    Obj((("a", 1), ("a", 2))), "x" * 10_000, {"": None}, "\u0000", "\U0001f600",
]  # fmt: skip
INTS: list[Any] = [*BIG_INTS, *BIG_FLOATS, *RAW_NUMBERS[:16], *WRONG_TYPES, "1", "-1"]
BOOLS: list[Any] = [*WRONG_TYPES, "true", "false", 1, "\ud800"]

ints = st.one_of(st.sampled_from(BIG_INTS), st.integers())
floats = st.one_of(st.sampled_from(BIG_FLOATS), st.floats(allow_nan=False, allow_infinity=False))
texts = st.one_of(st.sampled_from(TEXTS), st.text(max_size=40))
scalars = st.one_of(st.none(), st.booleans(), ints, floats, st.sampled_from(RAW_NUMBERS), texts)
json_values = st.one_of(
    st.sampled_from(JSONS),
    st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4),
            st.dictionaries(texts, inner, max_size=4),
            st.lists(st.tuples(texts, inner), max_size=4).map(lambda p: Obj(tuple(p))),
        ),
        max_leaves=12,
    ),
)
int_values = st.one_of(st.sampled_from(INTS), ints, floats)
bool_values = st.one_of(st.sampled_from(BOOLS), st.booleans())

# ---- names, workers, keys, statuses ---------------------------------------------------

NAMES = ["jobs", "t1", "next", "default", "pgqueue", "other", " Jobs ", "JOBS", "a", "a-",
         "a_1", "1a", "-a", "a" * 64, "a" * 65, "a.b", "jobs\u0000", "\u212aobs"]  # fmt: skip
NAME_VALUES: list[Any] = [*NAMES, *TEXTS, *WRONG_TYPES]
names = st.one_of(
    st.sampled_from(NAMES), st.from_regex(r"[a-z][a-z0-9_-]{0,63}", fullmatch=True), texts
)
name_values = st.one_of(st.sampled_from(NAME_VALUES), names)
STATUS_TEXTS = [*(s.value for s in Status), " FAILED ", "Failed", "expired\u0000", "cancelled ",
                "all", "", "*", "new,retry", "retained\ud800"]  # fmt: skip
STATUS_VALUES: list[Any] = [*STATUS_TEXTS, *TEXTS[:12], *WRONG_TYPES]
statuses = st.one_of(st.sampled_from(STATUS_TEXTS), texts)
WORKERS = ["w", " w ", "fuzz-worker", " fuzz-worker ", "w" * 255, "w" * 256, " " * 300 + "w"]
WORKER_VALUES: list[Any] = [*WORKERS, *TEXTS, *WRONG_TYPES]
workers = st.one_of(st.sampled_from(WORKERS), texts)

# ---- durations -------------------------------------------------------------------------

DURATION_TEXTS = [
    "", " ", "-", "+", "1", "-1", "+1", "0", "-0", " 90s ", "1h30m", "1h-30m", "--1s", "+-1s",
    "1.5h", ".5s", "5.s", "1.s", "0.000000001s", "0.0000000001s", "1ns", "1us", "1µs", "1μs",
    "1ms", "1s", "1m", "1h", "1d", "1w", "1y", "1H", "1 s", "1s ", "1h1", "1hh", "1e3s",
    "0x10s", "nan", "inf", "-inf", "1.5.5s", "PT1H", "pt1h", "P1D", "P1DT", "P", "PT", "PT1H1H",
    "P1W", "P-1D", "-PT1H", "+PT1H", "PT1.5H", "PT0.5S", "PT0.0000000001S", "P1.5D", "PT1,5H",
    "P1Y", "P1M", "P0D", "PT0S", "P1DT1H1M1.5S", "P106751DT23H47M16.854775807S",
    "P106751DT23H47M16.854775808S", "2562047h47m16.854775807s", "2562047h47m16.854775808s",
    "106751d23h47m16.854775807s", "106752d", "9223372036854775807", "9223372036854775808",
    "-9223372036854775808", "-9223372036854775809", "1" * 64, "1" * 63 + "s", "1" * 64 + "s",
    "9" * 5000, "١٢s", "１ｈ", "٣", "P١D", "1_000s", "1s\u0000", "\u00001s",
]  # fmt: skip
UNITS = ["ns", "us", "µs", "ms", "s", "m", "h", "d"]
_number_text = st.one_of(
    st.sampled_from(["0", "1", "90", "1.5", ".5", "5.", "00", "999999999999", "1" * 20]),
    st.decimals(min_value=0, max_value=10**12, allow_nan=False, places=3).map(str),
)
go_durations = st.builds(
    lambda sign, parts, pad: pad + sign + "".join(n + u for n, u in parts) + pad,
    st.sampled_from(["", "", "-", "+"]),
    st.lists(st.tuples(_number_text, st.sampled_from(UNITS)), min_size=1, max_size=4),
    st.sampled_from(["", "", " ", "\t"]),
)
iso_durations = st.builds(
    lambda sign, d, h, m, s, upper: (lambda text: text if upper else text.lower())(
        sign + "P" + (d and d + "D") + ("T" + h + m + s if h or m or s else "")
    ),
    st.sampled_from(["", "", "-", "+"]),
    st.sampled_from(["", "", "1", "1.5", "106751", "99999999999"]),
    st.sampled_from(["", "1H", "0.5H", "24H", "2562047H"]),
    st.sampled_from(["", "30M", "1.5M", "99999999999M"]),
    st.sampled_from(["", "1S", "0.000001S", "0.0000000001S", "16.854775808S"]),
    st.booleans(),
)
DURATION_VALUES: list[Any] = [
    *DURATION_TEXTS, 0, -1, 1, 999, 10**9, 2**63 - 1, 2**63, -(2**63), 2**64, 10**4300 - 1, 0.5,
    -0.0, 1e9, 9.3e18, 1e19, 1e308, *RAW_NUMBERS[:3], RAW_NUMBERS[16], *WRONG_TYPES, "\ud800",
]  # fmt: skip
durations = st.one_of(st.sampled_from(DURATION_VALUES), go_durations, iso_durations, ints, floats)

# ---- timestamps ------------------------------------------------------------------------

OFFSETS = ["Z", "z", "+00:00", "-00:00", "+14:00", "-14:00", "+23:59", "-23:59", "+24:00",
           "+14", "+1400", "+05:30", "+23:59:59.999999", "", " UTC", "+00:00:60"]  # fmt: skip
TIMESTAMP_TEXTS = [
    "0001-01-01T00:00:00Z", "0001-01-01T00:00:00+14:00", "0001-01-01T13:59:59-14:00",
    "0000-12-31T23:59:59Z", "9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59-14:00",
    "9999-12-31T09:59:59-14:00", "9999-12-31T22:00:00Z", "10000-01-01T00:00:00Z",
    "2026-11-28T23:59:60Z", "2026-12-31T23:59:60Z", "2026-11-28T24:00:00Z",
    "2026-11-29T00:00:00Z", "2026-02-29T00:00:00Z", "2028-02-29T00:00:00Z", "2026-13-01T00:00Z",
    "2026-11-28", "2026-11-28T10:00:00", "2026-11-28 10:00:00Z", "2026-11-28t10:00:00z",
    "2026-W48-6T10:00Z", "20261128T100000Z", "2026-11-28T10Z", "2026-11-28T10:00:00.1234567890Z",
    "2026-11-28T10:00:00,5Z", "+2026-11-28T10:00:00Z", "٢٠٢٦-11-28T10:00:00Z", "now", "", " ",
    "1e9", "2026-11-28T10:00:00Z\u0000", "294276-01-01T00:00:00Z", "infinity", "-infinity",
]  # fmt: skip


def _stamp(moment: datetime, sep: str, offset: str, digits: int) -> str:
    m = moment
    text = f"{m.year:04d}-{m.month:02d}-{m.day:02d}{sep}{m.hour:02d}:{m.minute:02d}:{m.second:02d}"
    if digits:
        text += "." + f"{m.microsecond:06d}123"[:digits]
    return text + offset


_future = st.integers(min_value=-30, max_value=10**11).map(
    lambda s: datetime.now(UTC) + timedelta(seconds=s)
)
generated_stamps = st.builds(
    _stamp,
    st.one_of(
        _future,
        st.datetimes(
            min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59, 999999)
        ),
    ),
    st.sampled_from(["T", "T", "t", " "]),
    st.sampled_from(OFFSETS),
    st.integers(0, 9),
)
soon = st.integers(min_value=0, max_value=86400).map(
    lambda s: (datetime.now(UTC) + timedelta(seconds=s)).isoformat().replace("+00:00", "Z")
)
TIMESTAMP_VALUES: list[Any] = [*TIMESTAMP_TEXTS, *WRONG_TYPES, 1e308, "\ud800"]
timestamps = st.one_of(st.sampled_from(TIMESTAMP_VALUES), generated_stamps, ints, texts)

# ---- query and path text (str: percent-encoded as UTF-8 when sent) ----------------------

# Stands for the id of a task retained just before the request (so that releases, heartbeats
# and cancels have something to work on).
RETAINED = "@RETAINED@"
UINT_TEXTS = ["", "0", "1", "99", "100", "101", "-1", "+1", " 1", "1 ", "01", "1.0", "1e2", "0x1",
              "9" * 20, "9" * 21, str(2**53), str(2**53 + 1), str(2**63), str(2**64), "١", "１",
              "abc", "1,2", "\u0000", "\ud800", "1" * 5000]  # fmt: skip
uint_texts = st.one_of(st.sampled_from(UINT_TEXTS), st.integers(-5, 10**25).map(str), texts)
ID_TEXTS = [RETAINED, "0", "-1", "1", "01", "+1", " 1", "1 ", "1.0", "1e3", "0x1", str(2**63 - 1),
            str(2**63), str(2**64), "9" * 20, "9" * 25, "١", "abc", "", "null", "\u0000",
            "\ud800", "1\u0000", "%31"]  # fmt: skip
task_ids = st.one_of(st.sampled_from(ID_TEXTS), st.integers(1, 400).map(str), texts)
PATH_NAMES = [*NAMES, *TEXTS]
path_names = st.one_of(st.sampled_from(PATH_NAMES), names)
QUEUE_LISTS = ["jobs,jobs", "jobs,", ",", " , ", "jobs, JOBS", "jobs,\ud800", "jobs,a b",
               ",".join(["jobs"] * 1000)]  # fmt: skip
queue_lists = st.one_of(
    st.sampled_from(QUEUE_LISTS), st.lists(names, min_size=1, max_size=4).map(",".join)
)
NAMESPACES = ["default", "other", "pgqueue", "PGQUEUE", "Default", " default ", "", "x" * 64,
              "a" * 65, "1ns", "default\u0000", "\ud800", "déf", "a/b", "x" * 10_000]  # fmt: skip
namespaces = st.one_of(st.sampled_from(NAMESPACES), names)

# ---- headers (bytes: sent as they are) -------------------------------------------------

HEADER_TEXTS = [b"", b" ", b"x" * 9000, b"\xff\xfe", b"\x7f", b"a\tb", b"%ff", b"\xc3\xa9"]
header_text = st.one_of(
    st.sampled_from(HEADER_TEXTS),
    st.text(st.characters(min_codepoint=0x20, max_codepoint=0xFF), max_size=40).map(
        lambda s: s.encode("latin-1")
    ),
)
AUTH_SCHEMES = [b"Bearer ", b"bearer ", b"BEARER ", b"Basic ", b"", b"Bearer  ", b"Bearer\t"]
ACCEPTS = [b"application/json", b"text/event-stream", b"TEXT/EVENT-STREAM", b"*/*",
           b"text/event-stream;q=0", b"text/html, text/event-stream", b"\xfftext/event-stream",
           b"x" * 9000]  # fmt: skip
CONTENT_TYPES = [b"application/json", b"text/plain", b"application/x-www-form-urlencoded",
                 b"multipart/form-data; boundary=x", b"application/json; charset=utf-16",
                 b"application/json\xff", b""]  # fmt: skip
EVENT_IDS = [b"0", b"-1", b"default/t1/", b"9" * 30, b"\xff", b"x" * 9000]
accepts = st.one_of(st.sampled_from(ACCEPTS), header_text)
content_types = st.one_of(st.sampled_from(CONTENT_TYPES), header_text)
event_ids = st.one_of(st.sampled_from(EVENT_IDS), header_text)
