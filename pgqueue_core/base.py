"""What every part of the Manager shares: pool, namespace, named queries, timeouts."""

from __future__ import annotations

import contextlib
from typing import Any

from . import db
from .events import Publisher
from .notifier import Notifier
from .queries import Query

# How each arity of a named query is run.
_METHODS = {"one": "fetchrow", "many": "fetch", "value": "fetchval", "exec": "execute"}


class ManagerBase:
    """State shared by the Manager's queue, task and ticker operations."""

    def __init__(
        self,
        pool: Any,
        namespace: str,
        *,
        schema: str,
        sql: dict[str, Query],
        acquire_timeout: float,
        query_timeout: float | None,
        connections: db.Connections | None = None,
        notifier: Notifier | None = None,
        publisher: Publisher | None = None,
    ) -> None:
        self._pool = pool
        self._connections = connections or db.Connections(pool)
        self._notifier = notifier or Notifier(pool, schema)
        self._publisher = publisher or Publisher(self._connections, sql)
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

    @property
    def connections(self) -> db.Connections:
        """The pool's connections as pgqueue hands them out; share it with everything else of
        pgqueue on the same pool (System, Maintenance, other Managers)."""
        return self._connections

    @property
    def publisher(self) -> Publisher:
        """Records this pool's changes for the event stream while somebody watches (shared
        like the notifier)."""
        return self._publisher

    @property
    def notifier(self) -> Notifier:
        """The LISTEN connection of this Manager's pool and schema, shared by every Worker
        built on this Manager (or on Managers made from it by `with_namespace`)."""
        return self._notifier

    def _conn(self) -> contextlib.AbstractAsyncContextManager[Any]:
        return self._connections.connection(self._acquire_timeout)

    async def close(self) -> None:
        """Send the changes recorded for watchers and give back the connections this Manager
        keeps between operations (optional: both happen on their own within 50 ms)."""
        await self._publisher.close()
        await self._connections.close()

    async def _run(self, query: str, *args: Any) -> Any:
        """Run a named query on a kept or pooled connection, as its arity says: `:one` a
        row or None, `:many` a list of rows, `:value` one value, `:exec` nothing."""
        q = self._sql[query]
        return await self._connections.call(
            _METHODS[q.arity], q.sql, args, self._acquire_timeout, self._query_timeout
        )

    async def _run_on(self, conn: Any, query: str, *args: Any) -> Any:
        """`_run` on a connection the caller holds (inside its transaction)."""
        q = self._sql[query]
        return await getattr(conn, _METHODS[q.arity])(q.sql, *args, timeout=self._query_timeout)
