"""What every part of the Manager shares: pool, namespace, named queries, timeouts."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

from . import db


class ManagerBase:
    """State shared by the Manager's queue, task and ticker operations."""

    def __init__(
        self,
        pool: Any,
        namespace: str,
        *,
        schema: str,
        sql: dict[str, str],
        acquire_timeout: float,
        query_timeout: float | None,
        connections: db.Connections | None = None,
    ) -> None:
        self._pool = pool
        self._connections = connections or db.Connections(pool)
        self._namespace = namespace
        self._schema = schema
        self._sql = sql
        self._acquire_timeout = acquire_timeout
        self._query_timeout = query_timeout

    @property
    def namespace(self) -> str:
        """The namespace every operation of this Manager reads and changes."""
        return self._namespace

    @property
    def schema(self) -> str:
        return self._schema

    @property
    def pool(self) -> Any:
        return self._pool

    @contextlib.asynccontextmanager
    async def _conn(self) -> AsyncIterator[Any]:
        async with self._connections.connection(self._acquire_timeout) as conn:
            yield conn

    async def close(self) -> None:
        """Give back the connections this Manager keeps between operations (optional: they
        go back on their own within 50 ms)."""
        await self._connections.close()

    async def _fetchrow(self, query: str, *args: Any) -> Any:
        async with self._conn() as conn:
            return await conn.fetchrow(self._sql[query], *args, timeout=self._query_timeout)

    async def _fetch(self, query: str, *args: Any) -> list[Any]:
        async with self._conn() as conn:
            return list(await conn.fetch(self._sql[query], *args, timeout=self._query_timeout))

    async def _fetchval(self, query: str, *args: Any) -> Any:
        async with self._conn() as conn:
            return await conn.fetchval(self._sql[query], *args, timeout=self._query_timeout)
