"""The server's JSON writer: msgspec, for speed, and so that JSON text stored by another
client that Python cannot read (`RawJSON`) goes out exactly as it is stored.

`document(obj)` / `documents(total, items)` are what a handler answers with for a model.
msgspec writes a dataclass itself, about ten times faster than building the codec's
document and writing that, and byte for byte the same where the model allows it: fields in
definition order, statuses as text, JSON values as they are, and timestamps in UTC with
microseconds as `codec.format_time` writes them. Where it would differ (msgspec leaves the
fraction out when the microseconds are 0, and keeps a non-UTC offset; durations are
nanoseconds on our wire), the codec's document is written instead: a check generated per
model from the same field list decides, per object."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from datetime import UTC
from typing import Any

import msgspec

from pgqueue_core import codec
from pgqueue_core.models import RawJSON


def _raw(value: Any) -> Any:
    if isinstance(value, RawJSON):
        return msgspec.Raw(value.text.encode())
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


_ENCODER = msgspec.json.Encoder(enc_hook=_raw)


def dumps(value: Any, **_: Any) -> bytes:
    """Compact JSON bytes (Sanic passes no options; any are ignored)."""
    return _ENCODER.encode(value)


# Kinds msgspec writes as the codec does (a timestamp only when the check below passes).
_NATIVE_KINDS = frozenset({"int", "str", "name", "names", "bool", "json", "status", "time"})
# Per model: a function telling whether msgspec's writing of an object is the codec's, or
# None when it never is (a duration or counts field, a field kept off the wire).
_CHECKS: dict[type, Callable[[Any], bool] | None] = {}


def _check(cls: type) -> Callable[[Any], bool] | None:
    wire = codec.fields(cls)
    if len(wire) != len(dataclasses.fields(cls)) or any(f.kind not in _NATIVE_KINDS for f in wire):
        return None
    terms = []
    for f in wire:
        if f.kind == "time":
            term = f"(o.{f.attr}.microsecond and o.{f.attr}.tzinfo is _UTC)"
            terms.append(f"(o.{f.attr} is None or {term})" if f.nullable else term)
    source = f"def exact_{cls.__name__}(o):\n    return bool({' and '.join(terms) or 'True'})\n"
    scope: dict[str, Any] = {"_UTC": UTC}
    exec(source, scope)
    check: Callable[[Any], bool] = scope[f"exact_{cls.__name__}"]
    return check


def document(obj: Any) -> Any:
    """What to write for a model: the object itself when msgspec writes it as the codec
    would, else the codec's document."""
    cls = type(obj)
    try:
        check = _CHECKS[cls]
    except KeyError:
        check = _CHECKS[cls] = _check(cls)
    if check is not None and check(obj):
        return obj
    return codec.encode(obj)


def documents(total: int, items: Sequence[Any]) -> dict[str, Any]:
    """The list envelope (`codec.encode_list`'s) with each item as `document` gives it."""
    return {"count": total, "body": [document(item) for item in items]}
