"""The named SQL blocks: every one prepares against a migrated schema; loading is strict."""

from __future__ import annotations

import re

import asyncpg
import pytest

from pgqueue_core import queries

PLACEHOLDER = re.compile(r"\{(schema|task_columns|status_filter|channel|release_set)")


def test_blocks_are_named_noun_first_and_fully_rendered() -> None:
    blocks = queries.load("pgqueue")
    assert len(blocks) >= 20
    for name, sql in blocks.items():
        assert re.fullmatch(r"(queue|task|ticker|namespace|system)_[a-z_]+", name), name
        assert not PLACEHOLDER.search(sql), name
        assert sql.strip(), name
    assert {"task_claim", "task_release", "ticker_claim", "queue_stats", "system_cleanup"} <= set(
        blocks
    )


async def test_every_named_query_prepares(conn: asyncpg.Connection) -> None:
    failures = {}
    for name, sql in queries.load("pgqueue").items():
        try:
            await conn.prepare(sql)
        except asyncpg.PostgresError as exc:
            failures[name] = f"{type(exc).__name__}: {exc}"
    assert failures == {}


def test_load_renders_for_another_schema() -> None:
    blocks = queries.load("jobs")
    assert all("pgqueue." not in sql for sql in blocks.values())
    assert "jobs.task" in blocks["task_get"]


def test_parse_blocks() -> None:
    text = """-- leading comment
-- name: thing_get :one
-- One thing.
SELECT 1;

-- name: thing_list :many
SELECT 2;
"""
    blocks = queries.parse_blocks(text)
    assert list(blocks) == ["thing_get", "thing_list"]
    assert blocks["thing_get"].endswith("SELECT 1")
    assert blocks["thing_list"] == "SELECT 2"
    with pytest.raises(ValueError, match="twice"):
        queries.parse_blocks(text + "-- name: thing_get :one\nSELECT 3;\n")


def test_notify_channel_is_short_and_fixed() -> None:
    """Defect 12: one fixed channel (names are limited to 63 bytes); namespaces go in payloads."""
    assert queries.channel("pgqueue") == "pgqueue_task"
    assert len(queries.channel("s" * 40)) <= 63
