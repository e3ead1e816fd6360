"""The Manager: one namespace's queues, tasks and tickers over an asyncpg pool."""

from __future__ import annotations

from typing import Any

from . import db, queries, validate
from .base import ManagerBase
from .events import Publisher
from .migrate import migrate
from .notifier import Notifier
from .queues import QueueOps
from .tasks import TaskOps
from .tickers import TickerOps

DEFAULT_SCHEMA = "pgqueue"


class Manager(QueueOps, TaskOps, TickerOps, ManagerBase):
    """Everything an application does with pgqueue, bound to one namespace.

    Build it with `await Manager.new(pool, "myapp")`; it never reads or changes another
    namespace's rows. `with_namespace` gives a Manager of another namespace on the same pool.
    """

    @classmethod
    async def new(
        cls,
        pool: Any,
        namespace: str = validate.DEFAULT_NAMESPACE,
        *,
        schema: str = DEFAULT_SCHEMA,
        migrate_schema: bool = True,
        acquire_timeout: float = 10.0,
        query_timeout: float | None = 30.0,
        connections: db.Connections | None = None,
        notifier: Notifier | None = None,
        publisher: Publisher | None = None,
    ) -> Manager:
        """Validate the namespace, bring the schema up to date (safe to run concurrently,
        a no-op when current) and return the Manager.

        `connections`, `notifier` and `publisher`: those of another Manager on the same pool
        (and schema), to share them (`with_namespace` does); by default it makes its own."""
        manager = cls(
            pool,
            validate.namespace(namespace),
            schema=queries.check_schema(schema),
            sql=queries.load(schema),
            acquire_timeout=acquire_timeout,
            query_timeout=query_timeout,
            connections=connections,
            notifier=notifier,
            publisher=publisher,
        )
        if migrate_schema:
            async with manager.connections.pooled(acquire_timeout) as conn:
                await migrate(conn, schema)
        return manager

    def with_namespace(self, namespace: str) -> Manager:
        """A Manager of another namespace sharing this one's pool and settings."""
        namespace = validate.namespace(namespace)
        if namespace == self.namespace:
            return self
        return type(self)(
            self._pool,
            namespace,
            schema=self._schema,
            sql=self._sql,
            acquire_timeout=self._acquire_timeout,
            query_timeout=self._query_timeout,
            connections=self._connections,
            notifier=self._notifier,
            publisher=self._publisher,
        )

    async def list_namespaces(self) -> list[str]:
        """Every namespace that owns a queue or a ticker (the system's own included), sorted."""
        return [r["namespace"] for r in await self._run("namespace_list")]

    async def ping(self) -> None:
        """Raise Unavailable unless the database answers."""
        async with self._conn() as conn:
            await conn.fetchval("SELECT 1", timeout=self._acquire_timeout)
