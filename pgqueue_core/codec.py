"""The JSON wire format of every model, derived from the model definitions themselves.

A model is a dataclass (models.py); each field's annotation says its kind on the wire and
its `metadata` (`models.wire(...)`) adds a description and schema bounds. From that one
definition come:

* `encode(obj)`: the wire document (durations as integer nanoseconds, timestamps RFC 3339
  UTC, statuses as text, JSON values as they are; a generated function per class);
* `decode(cls, doc)`: a response document back into the model (the typed client);
* `decode_input(cls, body, ...)`: a request body into a model, every problem an
  InvalidArgument naming the field (the server); `encode_input(obj)` the body a client
  sends for it (fields not given are left out);
* `schema(cls)` / `input_schema(cls, ...)`: JSON Schemas (the OpenAPI components).

Adding a field to a model changes all of these at once. Standard library only (the core's
rule); the server writes the documents out with msgspec.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from . import validate
from .durations import parse_duration, to_ns
from .errors import InvalidArgument
from .models import MISSING, Status

JSON = dict[str, Any]

# ---- kinds ----------------------------------------------------------------------------------

NAME_PATTERN = "^[a-z][a-z0-9_-]{0,63}$"
NAME_DOC = "a letter, then up to 63 letters, digits, '_' or '-'"
DURATION_DOC = 'duration: nanoseconds, or a string such as "90s", "1h30m" or "PT1H"'


@dataclasses.dataclass(frozen=True, slots=True)
class Field:
    """One field of a model as the wire sees it."""

    attr: str
    kind: str  # int, float, str, name, names, bool, duration, time, status, json, counts
    nullable: bool
    required: bool  # no default in the model: a response must carry it
    default: Any
    doc: str
    bounds: Mapping[str, Any]


def _kind(annotation: Any, meta: Mapping[str, Any]) -> tuple[str, bool]:
    nullable = False
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        nullable = len(args) < len(typing.get_args(annotation))
        annotation = args[0] if len(args) == 1 else Any
    if meta.get("kind"):
        return str(meta["kind"]), nullable
    if annotation is Any:
        return "json", True
    if typing.get_origin(annotation) is dict:
        return "counts", nullable
    if typing.get_origin(annotation) is list:
        return "names", nullable
    kinds = {
        int: "int",
        float: "float",
        str: "str",
        bool: "bool",
        timedelta: "duration",
        datetime: "time",
    }
    if annotation in kinds:
        return kinds[annotation], nullable
    if annotation is Status:
        return "status", nullable
    raise TypeError(f"no wire kind for {annotation!r}")


# Per model, built on first use: its wire fields and its encoder.
_FIELDS: dict[type, tuple[Field, ...]] = {}
_ENCODERS: dict[type, Callable[[Any], JSON]] = {}


def fields(cls: type[Any]) -> tuple[Field, ...]:
    """The wire fields of a model, in definition order."""
    known = _FIELDS.get(cls)
    if known is None:
        known = _FIELDS[cls] = _fields(cls)
    return known


def _fields(cls: type[Any]) -> tuple[Field, ...]:
    hints = typing.get_type_hints(cls)
    found = []
    for f in dataclasses.fields(cls):
        meta = f.metadata
        if meta.get("internal"):
            continue
        kind, nullable = _kind(hints[f.name], meta)
        default: Any = f.default
        if f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        required = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        found.append(
            Field(
                f.name,
                kind,
                nullable,
                required,
                None if required else default,
                str(meta.get("doc", "")),
                dict(meta.get("schema", {})),
            )
        )
    return tuple(found)


# ---- timestamps -----------------------------------------------------------------------------


def format_time(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with microseconds: 2026-11-28T10:00:00.123456Z."""
    if value is None:
        return None
    if value.tzinfo is not UTC:  # asyncpg's are UTC already
        value = value.astimezone(UTC)
    # isoformat pads the year to four digits (strftime's %Y does not, on glibc, before 1000)
    # and is about a third cheaper; "+00:00" becomes "Z".
    return value.isoformat(timespec="microseconds")[:-6] + "Z"


def parse_time(value: object, field: str) -> datetime | None:
    """An RFC 3339 timestamp with an offset (or null), in UTC within years 1..9999."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise InvalidArgument(f"{field} must be an RFC 3339 timestamp string")
    text = value.strip()
    try:
        parsed = datetime.fromisoformat(text[:-1] + "+00:00" if text[-1:] in "zZ" else text)
    except ValueError:
        raise InvalidArgument(
            f"{field}: {value[:64]!r} is not an RFC 3339 timestamp (e.g. 2026-11-28T10:00:00Z)"
        ) from None
    if parsed.tzinfo is None:
        raise InvalidArgument(f"{field}: {value[:64]!r} needs a time zone offset (e.g. Z)")
    return validate.utc(parsed, field)


def _ns(value: timedelta | None) -> int | None:
    return None if value is None else to_ns(value)


# ---- encode ---------------------------------------------------------------------------------

_ENCODE_EXPR = {
    "duration": "_ns(o.{a})",
    "time": "_time(o.{a})",
    "status": "o.{a}.value",
    "counts": "{{s.value: o.{a}.get(s, 0) for s in _STATUSES}}",
}


def encoder(cls: type[Any]) -> Callable[[Any], JSON]:
    """A function building the wire document of a `cls` (generated once: as fast as a
    hand-written one, and it cannot drift from the model)."""
    known = _ENCODERS.get(cls)
    if known is None:
        known = _ENCODERS[cls] = _encoder(cls)
    return known


def _encoder(cls: type[Any]) -> Callable[[Any], JSON]:
    items = []
    for f in fields(cls):
        expr = _ENCODE_EXPR.get(f.kind, "o.{a}").format(a=f.attr)
        if f.nullable and f.kind in ("status", "counts"):
            expr = f"None if o.{f.attr} is None else {expr}"
        items.append(f"{f.attr!r}: {expr}")
    source = f"def encode_{cls.__name__}(o):\n    return {{{', '.join(items)}}}\n"
    scope: dict[str, Any] = {"_ns": _ns, "_time": format_time, "_STATUSES": list(Status)}
    exec(source, scope)
    function: Callable[[Any], JSON] = scope[f"encode_{cls.__name__}"]
    return function


def encode(obj: Any) -> JSON:
    """The wire document of any model."""
    return encoder(type(obj))(obj)


def encode_list(total: int, items: Sequence[Any]) -> JSON:
    """The list envelope: total matching (ignoring paging) and the page, [] when empty."""
    if not items:
        return {"count": total, "body": []}
    encode_one = encoder(type(items[0]))
    return {"count": total, "body": [encode_one(item) for item in items]}


def encode_input(obj: Any) -> JSON:
    """The request body for a model of what to create or change: fields not given (MISSING,
    or None where None is not a JSON value) are left out."""
    body: JSON = {}
    for f in fields(type(obj)):
        value = getattr(obj, f.attr)
        if value is MISSING or (value is None and f.kind != "json"):
            continue
        if f.kind == "duration":
            value = to_ns(value)
        elif f.kind == "time":
            value = format_time(value)
        elif f.kind == "status":
            value = value.value
        elif f.kind == "names":
            value = list(value)
        body[f.attr] = value
    return body


# ---- decode ---------------------------------------------------------------------------------


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    names = {bool: "a boolean", int: "a number", float: "a number", str: "a string"}
    names.update({list: "an array", dict: "an object"})
    return names.get(type(value), type(value).__name__)


def _value(f: Field, value: Any, name: str) -> Any:
    """A wire value of field `f` as the model holds it; InvalidArgument when it cannot be."""
    kind = f.kind
    if kind == "json":
        return value
    if value is None:
        if f.nullable:
            return None
        raise InvalidArgument(f"{name} must not be null")
    if kind in ("str", "name"):
        if not isinstance(value, str):
            raise InvalidArgument(f"{name} must be a string, got {_json_type(value)}")
        return value
    if kind == "int":
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**63:
            return int(value)
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidArgument(f"{name} must be an integer, got {_json_type(value)}")
        return value
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InvalidArgument(f"{name} must be a number, got {_json_type(value)}")
        try:
            number = float(value)
        except OverflowError:  # an integer of hundreds of digits
            number = math.inf
        if not math.isfinite(number):
            raise InvalidArgument(f"{name} must be a finite number")
        return number
    if kind == "bool":
        if not isinstance(value, bool):
            raise InvalidArgument(f"{name} must be true or false, got {_json_type(value)}")
        return value
    if kind == "duration":
        return parse_duration(value, name)
    if kind == "time":
        return parse_time(value, name)
    if kind == "status":
        return validate.status(value)
    if kind == "names":  # one name, or a list of them
        if isinstance(value, str):
            return [value]
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return list(value)
        raise InvalidArgument(f"{name} must be a name or a list of names")
    if kind == "counts":
        if not isinstance(value, Mapping):
            raise InvalidArgument(f"{name} must be an object, got {_json_type(value)}")
        known = {s.value: s for s in Status}
        return {known[k]: int(v) for k, v in value.items() if k in known}
    raise TypeError(f"unknown wire kind {kind!r}")  # pragma: no cover - fields() checks


def decode(cls: type, doc: Mapping[str, Any]) -> Any:
    """A response document as the model (fields the model has defaults for may be absent,
    as from an older server; anything else wrong raises)."""
    if not isinstance(doc, Mapping):
        raise InvalidArgument(f"{cls.__name__} must be a JSON object, got {_json_type(doc)}")
    values = {}
    for f in fields(cls):
        if f.attr in doc:
            values[f.attr] = _value(f, doc[f.attr], f.attr)
        elif f.required:
            raise InvalidArgument(f"{cls.__name__}: {f.attr} is missing")
    return cls(**values)


@dataclasses.dataclass(frozen=True, slots=True)
class _InputPlan:
    """How to read a request body for one model (and its extra fields): worked out once
    per (model, extra, exclude), since a batch decodes the same shape hundreds of times."""

    model: tuple[Field, ...]  # as given (required fields kept required)
    nullable: tuple[Field, ...]  # the same, null accepted (null is "not given" there)
    extras: tuple[Field, ...]
    names: frozenset[str]  # model and extra fields
    allowed: str  # for the unknown-field message


_PLANS: dict[tuple[type, tuple[tuple[str, str], ...], tuple[str, ...]], _InputPlan] = {}


def _input_plan(
    cls: type, extra: tuple[tuple[str, str], ...], exclude: tuple[str, ...]
) -> _InputPlan:
    key = (cls, extra, exclude)
    plan = _PLANS.get(key)
    if plan is None:
        model = tuple(f for f in fields(cls) if f.attr not in exclude)
        extras = tuple(Field(name, kind, True, False, None, "", {}) for name, kind in extra)
        names = frozenset(f.attr for f in (*model, *extras))
        plan = _PLANS[key] = _InputPlan(
            model,
            tuple(dataclasses.replace(f, nullable=True) for f in model),
            extras,
            names,
            ", ".join(sorted(names)),
        )
    return plan


def decode_input(
    cls: type,
    body: object,
    *,
    what: str,
    ignored: Sequence[str] = (),
    extra: Mapping[str, str] | None = None,
    exclude: Sequence[str] = (),
) -> tuple[Any, dict[str, Any]]:
    """A request body as a model of what to create or change, and the values of `extra`
    fields (name → kind) that belong to the request rather than the model.

    A field that is absent, or null where the model has no use for null, is "not given"
    (the model's default): the original Go client sends nulls for settings it has no value
    for. Unknown fields are refused (naming the allowed ones); `ignored` fields (read-only
    fields of the object, so that a document read can be sent back) are dropped; `exclude`
    fields of the model are not accepted here (a path gives them)."""
    if not isinstance(body, Mapping):
        raise InvalidArgument(f"{what} must be a JSON object, got {_json_type(body)}")
    plan = _input_plan(cls, tuple((extra or {}).items()), tuple(exclude))
    if not plan.names.issuperset(body):
        unknown = set(body) - plan.names - set(ignored)
        if unknown:
            raise InvalidArgument(
                f"unknown field(s) in {what}: {', '.join(sorted(map(str, unknown)))} "
                f"(allowed: {plan.allowed})"
            )
    values = {}
    for f in plan.nullable:
        name = f.attr
        if name not in body:
            continue
        value = body[name]
        if value is None and f.kind != "json":
            continue
        values[name] = _value(f, value, name)
    for f in plan.model:
        if f.required and f.attr not in values:
            raise InvalidArgument(f"{f.attr} is required" + (f" ({f.doc})" if f.doc else ""))
    given = {
        f.attr: _value(f, body[f.attr], f.attr) for f in plan.extras if body.get(f.attr) is not None
    }
    return cls(**values), given


# ---- JSON Schema ----------------------------------------------------------------------------

_TIME: JSON = {"type": "string", "format": "date-time"}
_KIND_SCHEMA: dict[str, JSON] = {
    "int": {"type": "integer"},
    "float": {"type": "number"},
    "str": {"type": "string"},
    "name": {"type": "string", "pattern": NAME_PATTERN, "maxLength": 64},
    "names": {"type": "array", "items": {"type": "string", "pattern": NAME_PATTERN}},
    "bool": {"type": "boolean"},
    "duration": {"type": "integer", "format": "int64", "description": "nanoseconds"},
    "time": _TIME,
    "status": {"type": "string", "enum": [s.value for s in Status]},
    "json": {},
    "counts": {
        "type": "object",
        "properties": {s.value: {"type": "integer", "minimum": 0} for s in Status},
        "required": [s.value for s in Status],
        "additionalProperties": False,
    },
}
_NAME_IN: JSON = {"type": "string", "pattern": "^[ \\t]*[A-Za-z][A-Za-z0-9_-]{0,63}[ \\t]*$"}
# What a request may send (names are trimmed and lowercased; durations in any syntax).
_INPUT_SCHEMA: dict[str, JSON] = {
    **_KIND_SCHEMA,
    "name": _NAME_IN,
    "names": {"anyOf": [_NAME_IN, {"type": "array", "items": _NAME_IN}]},
    "duration": {
        "anyOf": [
            {"type": "integer", "minimum": 1, "maximum": 2**63 - 1},
            {"type": "string", "minLength": 1, "maxLength": 64},
        ]
    },
}


def kind_schema(kind: str, *, request: bool = False) -> JSON:
    """The JSON Schema of one wire kind, as sent (or, with `request`, as accepted)."""
    return dict((_INPUT_SCHEMA if request else _KIND_SCHEMA)[kind])


def read_only(model: type[Any], meta: type[Any]) -> tuple[str, ...]:
    """The fields of `model` that a body for `meta` may carry but cannot set (namespace,
    created_at, ...): so that a document read can be sent back."""
    settable = {f.attr for f in fields(meta)}
    return tuple(f.attr for f in fields(model) if f.attr not in settable)


def _nullable(schema: JSON) -> JSON:
    if not schema:
        return schema
    if "anyOf" in schema:
        return {**schema, "anyOf": [*schema["anyOf"], {"type": "null"}]}
    if "type" in schema:
        return {**schema, "type": [schema["type"], "null"]}
    return {"anyOf": [schema, {"type": "null"}]}


def _described(schema: JSON, doc: str) -> JSON:
    return {**schema, "description": doc} if doc else schema


def schema(cls: type) -> JSON:
    """The JSON Schema of a model's wire document (every field present)."""
    props = {}
    for f in fields(cls):
        part = {**_KIND_SCHEMA[f.kind], **f.bounds}
        props[f.attr] = _described(_nullable(part) if f.nullable else part, f.doc)
    return {
        "type": "object",
        "properties": props,
        "required": [f.attr for f in fields(cls)],
        "additionalProperties": False,
    }


def input_schema(
    cls: type,
    *,
    required: Sequence[str] = (),
    ignored: Sequence[str] = (),
    extra: Mapping[str, tuple[str, str]] = {},
    overrides: Mapping[str, JSON] = {},
    doc: str = "",
    exclude: Sequence[str] = (),
) -> JSON:
    """The JSON Schema of a request body for `cls`: null is "not given" for every field the
    model has no use for null in; `extra` fields (name → (kind, doc)) belong to the request."""
    props = {}
    for name, (kind, text) in extra.items():
        props[name] = _described(_INPUT_SCHEMA[kind], text)
    for f in fields(cls):
        if f.attr in exclude:
            continue
        part = {**_INPUT_SCHEMA[f.kind], **_input_bounds(f)}
        if f.kind != "json" and f.attr not in required:
            part = _nullable(part)
        props[f.attr] = _described(part, f.doc)
    for name in ignored:
        props[name] = {"description": "read-only, ignored"}
    props.update(overrides)
    out: JSON = {"type": "object", "properties": props, "additionalProperties": False}
    if required:
        out["required"] = list(required)
    if doc:
        out["description"] = doc
    return out


def _input_bounds(f: Field) -> JSON:
    # A bound of a stored value ("minimum": 1 for a limit) is not one of what may be sent
    # (0 removes the limit): input bounds are given apart when they differ.
    bounds = dict(f.bounds)
    return dict(bounds.pop("input", None) or bounds)
