"""Connections and the one place where database errors become pgqueue errors."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import asyncpg

from .errors import Conflict, InvalidArgument, NotFound, PgQueueError, Unavailable

# Constraint name → how to explain its violation.
_CONSTRAINTS: dict[str, tuple[type[PgQueueError], str]] = {
    "queue_pkey": (Conflict, "a queue with that name already exists"),
    "ticker_pkey": (Conflict, "a ticker with that name already exists"),
    "task_key_idx": (Conflict, "a live task with that key already exists in the queue"),
    "task_queue_fkey": (NotFound, "queue not found"),
    "queue_ttl_check": (InvalidArgument, "ttl must be positive"),
    "queue_retries_check": (InvalidArgument, "retries must be zero or more"),
    "queue_retry_delay_check": (InvalidArgument, "retry_delay must be positive"),
    "queue_lease_check": (InvalidArgument, "lease must be at least one second"),
    "queue_concurrency_check": (InvalidArgument, "concurrency must be positive"),
    "ticker_interval_check": (InvalidArgument, "interval must be at least one second"),
}

# Errors that mean "the database is not there right now": retry later, nothing happened.
_UNAVAILABLE = (
    OSError,
    asyncio.TimeoutError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.ConnectionFailureError,
    asyncpg.exceptions.TooManyConnectionsError,
    asyncpg.exceptions.AdminShutdownError,
    asyncpg.exceptions.CrashShutdownError,
    asyncpg.exceptions.InterfaceError,
)


def translate(exc: BaseException) -> PgQueueError | None:
    """The pgqueue error for a database or driver exception, or None to let it propagate."""
    if isinstance(exc, PgQueueError):
        return exc
    if isinstance(exc, asyncpg.exceptions.IntegrityConstraintViolationError):
        name = getattr(exc, "constraint_name", None) or ""
        cls, message = _CONSTRAINTS.get(name, (Conflict, "the change conflicts with stored data"))
        return cls(message)
    if isinstance(
        exc,
        asyncpg.exceptions.DataError | asyncpg.exceptions.ProgramLimitExceededError,
    ):
        return InvalidArgument(f"value rejected by the database: {exc}")
    if isinstance(exc, _UNAVAILABLE):
        return Unavailable(f"database unavailable: {type(exc).__name__}: {exc}".rstrip(": "))
    if isinstance(exc, asyncpg.exceptions.PostgresConnectionError):
        return Unavailable(f"database unavailable: {exc}")
    return None


@contextlib.asynccontextmanager
async def translated() -> AsyncIterator[None]:
    """Re-raise database errors inside the block as pgqueue errors."""
    try:
        yield
    except BaseException as exc:
        mapped = translate(exc)
        if mapped is None or mapped is exc:
            raise
        raise mapped from exc


@contextlib.asynccontextmanager
async def connection(pool: Any, timeout: float) -> AsyncIterator[Any]:
    """A pooled connection within `timeout` seconds (else Unavailable), errors translated."""
    async with translated():
        try:
            conn = await pool.acquire(timeout=timeout)
        except asyncio.TimeoutError:
            raise Unavailable(f"no database connection became free within {timeout:g}s") from None
        try:
            yield conn
        finally:
            await pool.release(conn)
