"""Named SQL blocks from the package's .sql files, loaded once per schema.

A block is `-- name: <noun>_<verb> :<arity>`, a one-line comment, then one statement. The
arity says how it is run (`ManagerBase._run`): `:one` a row or None, `:many` the rows,
`:value` the first column of the first row, `:exec` nothing back. The only thing rendered
into the text is the schema name (`{schema}`): shared logic lives in the schema itself.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources
from typing import Literal

from .errors import InvalidArgument

SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,39}$")
_NAME_RE = re.compile(r"^-- name: (\w+)(?: :(\w+))?\s*$", re.MULTILINE)
Arity = Literal["one", "many", "value", "exec"]
ARITIES: tuple[Arity, ...] = ("one", "many", "value", "exec")


@dataclass(frozen=True, slots=True)
class Query:
    """One named statement, rendered for a schema."""

    name: str
    sql: str
    arity: Arity


_FILES = ("queues.sql", "tasks.sql", "tickers.sql", "system.sql")


def check_schema(schema: str) -> str:
    """A schema name we can safely put into SQL text (it never comes from a request)."""
    if not SCHEMA_RE.match(schema):
        raise InvalidArgument(
            f"schema {schema!r}: use lowercase letters, digits and underscores, "
            "starting with a letter or underscore, at most 40 characters"
        )
    return schema


def channel(schema: str) -> str:
    """The one NOTIFY channel of a schema (namespace and queue travel in the payload); the
    SQL spells it `'{schema}_task'`."""
    return f"{schema}_task"


def render(text: str, schema: str) -> str:
    """A .sql text for a schema (the one placeholder is `{schema}`)."""
    return text.replace("{schema}", check_schema(schema))


def parse_blocks(text: str) -> dict[str, Query]:
    """Split a .sql text into its `-- name: x :arity` blocks (comment lines kept, harmless)."""
    blocks: dict[str, Query] = {}
    matches = list(_NAME_RE.finditer(text))
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        body = text[match.end() : end].strip().rstrip(";").strip()
        name, arity = match.group(1), match.group(2)
        if name in blocks:
            raise ValueError(f"SQL block {name!r} is defined twice")
        if arity not in ARITIES:
            raise ValueError(f"SQL block {name!r}: arity must be one of {ARITIES}, got {arity!r}")
        blocks[name] = Query(name, body, arity)
    return blocks


@functools.cache
def load(schema: str) -> dict[str, Query]:
    """Every named query, rendered for `schema`."""
    check_schema(schema)
    sql_dir = resources.files(__package__).joinpath("sql")
    blocks: dict[str, Query] = {}
    for name in _FILES:
        for key, query in parse_blocks(sql_dir.joinpath(name).read_text()).items():
            if key in blocks:
                raise ValueError(f"SQL block {key!r} is defined in two files")
            blocks[key] = Query(key, render(query.sql, schema), query.arity)
    return blocks


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, raw text) of every migration file, in order."""
    found = []
    folder = resources.files(__package__).joinpath("sql", "migrations")
    for entry in folder.iterdir():
        match = re.match(r"^(\d{4})_(\w+)\.sql$", entry.name)
        if match:
            found.append((int(match.group(1)), match.group(2), entry.read_text()))
    found.sort()
    versions = [version for version, _, _ in found]
    if versions != list(range(1, len(versions) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..n without gaps, found {versions}")
    return found
