"""Versioned, append-only schema migrations, applied under an advisory lock."""

from __future__ import annotations

import logging
from typing import Any

from .queries import check_schema, migrations, render

log = logging.getLogger(__name__)

_LOCK_SQL = "SELECT pg_advisory_xact_lock(hashtext('pgqueue.migrate'), hashtext($1))"
_CURRENT_SQL = """SELECT coalesce(max(version), 0) FROM {schema}.migration"""
_EXISTS_SQL = "SELECT to_regclass($1) IS NOT NULL"


async def current_version(conn: Any, schema: str) -> int:
    """The schema's applied version (0 when pgqueue was never installed there)."""
    check_schema(schema)
    if not await conn.fetchval(_EXISTS_SQL, f"{schema}.migration"):
        return 0
    return int(await conn.fetchval(_CURRENT_SQL.format(schema=schema)))


def latest_version() -> int:
    return len(migrations())


async def migrate(conn: Any, schema: str = "pgqueue") -> int:
    """Bring `schema` up to the latest version; returns how many migrations were applied.

    Safe to call from many processes at once: the work happens in one transaction under an
    advisory lock, and a schema that is already current costs one read and no lock.
    """
    check_schema(schema)
    target = latest_version()
    if await current_version(conn, schema) >= target:
        return 0
    applied = 0
    async with conn.transaction():
        await conn.execute(_LOCK_SQL, schema)
        await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
        await conn.execute(
            f"""CREATE TABLE IF NOT EXISTS {schema}.migration (
                    version integer PRIMARY KEY,
                    name text NOT NULL,
                    applied_at timestamptz NOT NULL DEFAULT now())"""
        )
        done = await current_version(conn, schema)
        for version, name, text in migrations():
            if version <= done:
                continue
            log.info("pgqueue: applying migration %04d_%s to schema %s", version, name, schema)
            await conn.execute(render(text, schema))
            await conn.execute(
                f"INSERT INTO {schema}.migration (version, name) VALUES ($1, $2)", version, name
            )
            applied += 1
    return applied
