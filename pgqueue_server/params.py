"""Request input: query parameters and JSON bodies, each problem a 400 that names it."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar
from urllib.parse import unquote_to_bytes

from sanic import Request

from pgqueue_core import InvalidArgument, codec

T = TypeVar("T")

_UINT = re.compile(r"^[0-9]{1,20}$")
_NO_BODY = object()


@dataclass(frozen=True, slots=True)
class Query:
    """The query parameters of a request, checked against what the route accepts.

    `namespace` is accepted everywhere (the middleware reads it). Parameters listed in
    `multi` may repeat and hold comma-separated values; the others must appear once.
    """

    values: dict[str, list[str]]

    def one(self, name: str) -> str | None:
        found = self.values.get(name)
        if not found:
            return None
        if len(found) > 1:
            raise InvalidArgument(f"query parameter {name!r} given more than once")
        return found[0]

    def many(self, name: str) -> list[str]:
        """Every value of a repeatable, comma-separated parameter."""
        items = [item.strip() for v in self.values.get(name, []) for item in v.split(",")]
        if "" in items:
            raise InvalidArgument(f"query parameter {name!r} holds an empty value")
        return items

    def uint(self, name: str) -> int | None:
        """A non-negative integer parameter (None when absent)."""
        text = self.one(name)
        if text is None:
            return None
        if not _UINT.match(text.strip()):
            raise InvalidArgument(
                f"query parameter {name!r} must be a non-negative integer, got {text!r}"
            )
        return int(text)


def query_args(request: Request) -> list[tuple[str, str]]:
    """The query's (name, value) pairs in order. Percent-escapes must decode as UTF-8: Sanic
    would put U+FFFD in their place, so that `?worker=%ff` and `?worker=%fe` became the same
    worker. Blank values are kept: `?queue=` is an empty (invalid) name, not an absent one."""
    try:
        return list(request.get_query_args(keep_blank_values=True, errors="strict"))
    except UnicodeDecodeError:
        raise InvalidArgument(
            "the query string is not UTF-8 text (its %-escapes must encode UTF-8)"
        ) from None


def names_in_query(request: Request) -> set[str]:
    """The parameter names of the query, however undecodable their values (never fails)."""
    return {key for key, _ in request.get_query_args(keep_blank_values=True)}


def check_path(request: Request) -> None:
    """400 unless the path's %-escapes decode as UTF-8 (the router would decode them with
    U+FFFD in place of the bad bytes, and hand the handler a name nobody sent)."""
    try:
        path = request.path  # raw bytes that are not UTF-8 fail here already
        if "%" in path:
            unquote_to_bytes(path).decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidArgument(
            "the path is not UTF-8 text (its %-escapes must encode UTF-8)"
        ) from None


def query(request: Request, *allowed: str) -> Query:
    """The request's query parameters; 400 for any the route does not accept."""
    values: dict[str, list[str]] = {}
    for key, value in query_args(request):
        values.setdefault(key, []).append(value)
    unknown = sorted(set(values) - set(allowed) - {"namespace"})
    if unknown:
        accepted = ", ".join(sorted({*allowed, "namespace"}))
        raise InvalidArgument(
            f"unknown query parameter(s): {', '.join(unknown)} (accepted: {accepted})"
        )
    return Query(values)


def body(request: Request, *, empty: Any = _NO_BODY) -> Any:
    """The request body as JSON. An empty body is `empty` when given, else a 400."""
    raw = request.body or b""
    if not raw.strip():
        if empty is _NO_BODY:
            raise InvalidArgument("a JSON request body is required")
        return empty
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidArgument("the request body is not UTF-8 text") from None
    try:
        return json.loads(text, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise InvalidArgument(
            f"malformed JSON body: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise InvalidArgument("malformed JSON body: nested too deeply") from None
    except ValueError as exc:  # e.g. an integer with more digits than Python converts
        raise InvalidArgument(f"malformed JSON body: {exc}") from None


def _no_constant(name: str) -> Any:
    raise InvalidArgument(f"malformed JSON body: {name} is not valid JSON")


def model(
    request: Request,
    cls: type[T],
    what: str,
    *,
    empty: bool = False,
    ignored: Sequence[str] = (),
    extra: Mapping[str, str] | None = None,
    exclude: Sequence[str] = (),
) -> tuple[T, dict[str, Any]]:
    """The JSON object body as a `cls` (the core codec decodes and checks every field), and
    the values of `extra` fields. An empty body is `{}` when `empty`, else a 400."""
    value = body(request, empty={} if empty else _NO_BODY)
    if not isinstance(value, dict):
        raise InvalidArgument(f"the request body must be a JSON object, got {_kind(value)}")
    decoded, given = codec.decode_input(
        cls, value, what=what, ignored=ignored, extra=extra, exclude=exclude
    )
    return decoded, given


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return "an array" if isinstance(value, list) else type(value).__name__


def task_id(text: str) -> int:
    """A task id from a path segment: a positive integer."""
    if not _UINT.match(text) or not 1 <= int(text) <= 2**63 - 1:
        raise InvalidArgument(f"task id must be a positive integer, got {text!r}")
    return int(text)
