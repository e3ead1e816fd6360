"""The named SQL blocks: every one prepares against a migrated schema; loading is strict."""

from __future__ import annotations

import hashlib
import re

import asyncpg
import pytest

from pgqueue_core import queries

PLACEHOLDER = re.compile(r"\{\w+")
# sha256 of each migration as installed (rendered for the schema "pgqueue"). A migration is
# never edited once it has landed: a new one gets the next number and a line here.
# Version 1 was rendered from Python constants until version 4; its text is now the same
# rendering written out, and this hash is that of the text the old renderer produced.
MIGRATIONS = {
    1: "7f31f506e6514665aa565040c2d34a825e934bb4b21fbc406ef6e49cff9bdb81",
    2: "1f23c1a6d5a0545a111095538874773f24594d54fdc774f0b908a84a14d31223",
    3: "4b267e2a93125061b22f829fbc0b8ca18ab4306b770474bff930b4904180bb7b",
    4: "5de0414b2574be4fe9598092dcff855cd49960e7dd90d7e9e5a5804f98f1f715",
    5: "0891dd1594a30d1bcffd2f305b3349174d0b0bafe9635d9d58a6224486e65a3b",
    6: "13b7405bbbda05cdc33e47c187f17d2ca97ead316a69d565fb44e70317c2d2b4",
    7: "a248e369969ff2b441b40bd91fe849d4fc949865e82dd31e2503a55404931496",
}


def test_blocks_are_named_noun_first_and_fully_rendered() -> None:
    blocks = queries.load("pgqueue")
    assert len(blocks) >= 20
    for name, query in blocks.items():
        assert re.fullmatch(r"(queue|task|ticker|namespace|system)_[a-z_]+", name), name
        assert query.name == name
        assert not PLACEHOLDER.search(query.sql), name
        assert query.sql.strip(), name
    assert {"task_claim", "task_release", "ticker_claim", "queue_stats", "system_cleanup"} <= set(
        blocks
    )


async def test_every_named_query_prepares_with_its_arity(conn: asyncpg.Connection) -> None:
    """Each block prepares, and its declared arity fits what it returns: `:value` one column,
    `:one` and `:many` at least one; `:exec` is run for its effect."""
    failures = {}
    for name, query in queries.load("pgqueue").items():
        try:
            statement = await conn.prepare(query.sql)
        except asyncpg.PostgresError as exc:
            failures[name] = f"{type(exc).__name__}: {exc}"
            continue
        columns = len(statement.get_attributes())
        if query.arity == "value" and columns != 1:
            failures[name] = f":value returns {columns} columns"
        elif query.arity in ("one", "many") and columns < 1:
            failures[name] = f":{query.arity} returns no columns"
    assert failures == {}


def test_arity_is_required_and_known() -> None:
    with pytest.raises(ValueError, match="arity"):
        queries.parse_blocks("-- name: thing_get\nSELECT 1;\n")
    with pytest.raises(ValueError, match="arity"):
        queries.parse_blocks("-- name: thing_get :row\nSELECT 1;\n")


def test_released_migrations_never_change() -> None:
    found = {
        version: hashlib.sha256(queries.render(text, "pgqueue").encode()).hexdigest()
        for version, _, text in queries.migrations()
    }
    assert found == MIGRATIONS


def test_migrations_render_only_the_schema_name() -> None:
    for version, _, text in queries.migrations():
        assert set(re.findall(r"\{\w+\}", text)) <= {"{schema}"}, version


def test_load_renders_for_another_schema() -> None:
    blocks = queries.load("jobs")
    assert all("pgqueue." not in q.sql for q in blocks.values())
    assert "jobs.task" in blocks["task_get"].sql


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
    assert blocks["thing_get"].sql.endswith("SELECT 1")
    assert (blocks["thing_get"].arity, blocks["thing_list"].arity) == ("one", "many")
    assert blocks["thing_list"].sql == "SELECT 2"
    with pytest.raises(ValueError, match="twice"):
        queries.parse_blocks(text + "-- name: thing_get :one\nSELECT 3;\n")


def test_notify_channel_is_short_and_fixed() -> None:
    """Defect 12: one fixed channel (names are limited to 63 bytes); namespaces go in payloads."""
    assert queries.channel("pgqueue") == "pgqueue_task"
    assert len(queries.channel("s" * 40)) <= 63
