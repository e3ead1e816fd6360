"""Named SQL blocks from the package's .sql files, loaded once per schema."""

from __future__ import annotations

import functools
import re
from importlib import resources

from .errors import InvalidArgument

SCHEMA_RE = re.compile(r"^[a-z_][a-z0-9_]{0,39}$")
_NAME_RE = re.compile(r"^-- name: (\w+)(?: :(\w+))?\s*$", re.MULTILINE)
_FILES = ("queues.sql", "tasks.sql", "tickers.sql", "system.sql")

LIVE = "('new', 'retry', 'retained')"
# Every task column of `task t`, with the status as read: an overdue live task is expired.
TASK_COLUMNS = f"""t.id, t.namespace, t.queue, t.payload, t.result, t.worker,
       CASE WHEN t.status IN {LIVE} AND t.dies_at <= now() THEN 'expired'
            ELSE t.status END AS status,
       t.priority, t.key, t.created_at, t.delayed_at, t.started_at,
       CASE WHEN t.status IN {LIVE} AND t.dies_at <= now() THEN t.dies_at
            ELSE t.finished_at END AS finished_at,
       t.dies_at, t.retries, t.attempt,
       CASE WHEN t.status = 'retained' AND t.dies_at > now() THEN t.leased_until END
           AS leased_until,
       t.cancel_requested"""
# Filter on the status as read ($3 NULL: any), written so that each branch can use an index.
STATUS_FILTER = f"""($3::text IS NULL
        OR ($3 IN {LIVE} AND t.status = $3 AND t.dies_at > now())
        OR ($3 = 'expired' AND (t.status = 'expired'
                                OR (t.status IN {LIVE} AND t.dies_at <= now())))
        OR ($3 IN ('released', 'failed', 'cancelled') AND t.status = $3))"""

# What releasing a retained task `t` of queue `q` sets, given a boolean SQL expression for
# success: released; on failure cancelled (if a cancel was asked), retry after
# retry_delay × 2^(attempt-1) plus up to 10 % jitter (never past dies_at, so a huge attempt
# cannot overflow), or failed when no retries are left. Written as `{release_set(<ok>)}`.
_RETRY = "(NOT ({ok}) AND NOT t.cancel_requested AND t.retries > 0)"
RELEASE_SET = f"""status = CASE WHEN {{ok}} THEN 'released'
                     WHEN t.cancel_requested THEN 'cancelled'
                     WHEN t.retries > 0 THEN 'retry' ELSE 'failed' END,
       retries = CASE WHEN {_RETRY} THEN t.retries - 1 ELSE t.retries END,
       delayed_at = CASE WHEN {_RETRY} THEN least(t.dies_at, now() + make_interval(
                        secs => least(1e10, extract(epoch FROM q.retry_delay)
                                            * power(2, least(greatest(t.attempt - 1, 0), 60))
                                            * (1 + random() * 0.1))))
                         ELSE t.delayed_at END,
       finished_at = CASE WHEN {_RETRY} THEN NULL ELSE now() END,
       leased_until = NULL"""
_RELEASE_RE = re.compile(r"\{release_set\(([^)]*)\)\}")


def check_schema(schema: str) -> str:
    """A schema name we can safely put into SQL text (it never comes from a request)."""
    if not SCHEMA_RE.match(schema):
        raise InvalidArgument(
            f"schema {schema!r}: use lowercase letters, digits and underscores, "
            "starting with a letter or underscore, at most 40 characters"
        )
    return schema


def channel(schema: str) -> str:
    """The one NOTIFY channel of a schema (namespace and queue travel in the payload)."""
    return f"{schema}_task"


def render(text: str, schema: str) -> str:
    """Substitute the placeholders of a .sql text for a schema."""
    text = _RELEASE_RE.sub(lambda m: RELEASE_SET.replace("{ok}", m.group(1)), text)
    return (
        text.replace("{task_columns}", TASK_COLUMNS)
        .replace("{status_filter}", STATUS_FILTER)
        .replace("{channel}", channel(schema))
        .replace("{schema}", schema)
    )


def parse_blocks(text: str) -> dict[str, str]:
    """Split a .sql text into its `-- name: x` blocks (comment lines kept, harmless)."""
    blocks: dict[str, str] = {}
    matches = list(_NAME_RE.finditer(text))
    for index, match in enumerate(matches):
        end = matches[index + 1].start() if index + 1 < len(matches) else len(text)
        body = text[match.end() : end].strip().rstrip(";").strip()
        name = match.group(1)
        if name in blocks:
            raise ValueError(f"SQL block {name!r} is defined twice")
        blocks[name] = body
    return blocks


@functools.cache
def load(schema: str) -> dict[str, str]:
    """Every named query, rendered for `schema`."""
    check_schema(schema)
    sql_dir = resources.files(__package__).joinpath("sql")
    blocks: dict[str, str] = {}
    for name in _FILES:
        for key, body in parse_blocks(sql_dir.joinpath(name).read_text()).items():
            if key in blocks:
                raise ValueError(f"SQL block {key!r} is defined in two files")
            blocks[key] = render(body, schema)
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
