"""Connections and the one place where database errors become pgqueue errors."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any, NoReturn

import asyncpg

from .errors import Conflict, InvalidArgument, NotFound, PgQueueError, Unavailable

_BAD: tuple[type[PgQueueError], str] = (InvalidArgument, "invalid_argument")
# Constraint name → (error class, error key, message).
_CONSTRAINTS: dict[str, tuple[type[PgQueueError], str, str]] = {
    "queue_pkey": (Conflict, "queue_exists", "a queue with that name already exists"),
    "ticker_pkey": (Conflict, "ticker_exists", "a ticker with that name already exists"),
    "task_key_idx": (Conflict, "key_exists", "a live task with that key already exists"),
    "task_queue_fkey": (NotFound, "queue_not_found", "queue not found"),
    "queue_ttl_check": (*_BAD, "ttl must be positive"),
    "queue_retries_check": (*_BAD, "retries must be zero or more"),
    "queue_retry_delay_check": (*_BAD, "retry_delay must be positive"),
    "queue_lease_check": (*_BAD, "lease must be at least 1 second"),
    "queue_concurrency_check": (*_BAD, "concurrency must be positive"),
    "ticker_interval_check": (*_BAD, "interval must be at least 1s"),
    "task_dies_at_check": (
        *_BAD,
        "dies_at (the delay, or now, plus the queue's ttl) would fall after 9999-12-31 "
        "(UTC): choose an earlier delay or a shorter ttl",
    ),
    "task_times_check": (*_BAD, "a task timestamp would fall outside years 1..9999 (UTC)"),
    "queue_durations_check": (*_BAD, "a duration is too long (at most about 292 years)"),
    "ticker_times_check": (*_BAD, "the ticker's interval or schedule is out of range"),
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
    # A connection the server just cut can still look open for a moment while the driver
    # consumes the goodbye; using it then fails with this. The connection is discarded.
    asyncpg.exceptions.InternalClientError,
)


def translate(exc: BaseException) -> PgQueueError | None:
    """The pgqueue error for a database or driver exception, or None to let it propagate."""
    if isinstance(exc, PgQueueError):
        return exc
    if isinstance(exc, asyncpg.exceptions.IntegrityConstraintViolationError):
        name = getattr(exc, "constraint_name", None) or ""
        cls, key, message = _CONSTRAINTS.get(
            name, (Conflict, "conflict", "the change conflicts with stored data")
        )
        return cls(message, key=key)
    if isinstance(
        exc,
        asyncpg.exceptions.DataError | asyncpg.exceptions.ProgramLimitExceededError,
    ):
        return InvalidArgument(f"value rejected by the database: {exc}")
    if isinstance(exc, asyncio.TimeoutError):  # a statement timeout: no answer in time
        return Unavailable("database unavailable: no answer within the query timeout")
    if isinstance(exc, _UNAVAILABLE):
        return Unavailable(f"database unavailable: {type(exc).__name__}: {exc}".rstrip(": "))
    if isinstance(exc, asyncpg.exceptions.PostgresConnectionError):
        return Unavailable(f"database unavailable: {exc}")
    return None


def reraise(exc: BaseException) -> NoReturn:
    """Raise `exc` as its pgqueue error, or as it is when it has none."""
    mapped = translate(exc)
    if mapped is None or mapped is exc:
        raise exc
    raise mapped from exc


@contextlib.asynccontextmanager
async def translated() -> AsyncIterator[None]:
    """Re-raise database errors inside the block as pgqueue errors."""
    try:
        yield
    except BaseException as exc:
        reraise(exc)


def usable(conn: Any) -> bool:
    """Whether a pooled connection is still open and still ours: asyncpg hands the slot of a
    connection that died back to the pool by itself (the proxy then refuses every call)."""
    try:
        return not conn.is_closed()
    except asyncpg.exceptions.InterfaceError:
        return False


async def release(pool: Any, conn: Any, timeout: float | None = None) -> None:
    """Give a connection back to the pool, whatever state it is in.

    asyncpg 0.31 skips a connection found closed in `release` ("pool connections perform
    the necessary cleanup"), but one cut by the server while checked out has not always
    done that cleanup: its slot would stay taken for ever (a PostgreSQL restart leaked one
    connection in about half the runs, and `pool.close()` then hung). Terminating it first
    frees the slot; the release afterwards is then a no-op.
    """
    with contextlib.suppress(asyncpg.exceptions.InterfaceError):  # already given back
        if conn.is_closed():
            conn.terminate()
    await pool.release(conn, timeout=timeout)


async def keep_session(conn: Any) -> None:
    """The pool `reset` for a pool that only pgqueue uses (`create_pool(reset=keep_session)`):
    nothing to send. asyncpg's default reset sends `SELECT pg_advisory_unlock_all(); CLOSE
    ALL; UNLISTEN *; RESET ALL` on every release, one more round trip per request under load.
    pgqueue leaves no session state on a connection it gives back: an open transaction is
    rolled back by asyncpg before this runs, advisory locks are transaction locks, cursors
    live in transactions, nothing is SET for the session, and the notifier resets its LISTEN
    connection itself before giving it back (`reset_before_release`)."""


async def reset_before_release(conn: Any, timeout: float) -> None:
    """asyncpg's full reset (UNLISTEN and the rest) of a connection that may hold session
    state, before it goes back to a pool whose own reset may be `keep_session`; a connection
    that cannot be reset is closed (the pool then opens a fresh one)."""
    try:
        if not conn.is_closed():
            await conn.reset(timeout=timeout)
    except Exception:
        conn.terminate()


class Connections:
    """Hands out pooled connections, keeping a few of them between operations.

    asyncpg resets every connection it takes back (one more round trip per operation).
    pgqueue never changes session state, so a connection that ended an operation cleanly
    (no transaction open, no error) is kept for the next one for up to `linger` seconds,
    and only then goes back to the pool: back-to-back operations cost one round trip each,
    and `pool.close()` still finishes (it waits at most `linger` for these connections).

    It also counts the operations waiting in `pool.acquire` (`waiting`). While any waits, a
    connection that ends an operation goes back to the pool instead of being kept: under
    sustained load the kept ones would otherwise be reused by newcomers for ever, and the
    waiters would starve until their acquire timeout (503s from a server that is merely busy).
    So every part of pgqueue that uses a pool (Managers of every namespace, System,
    Maintenance, migrations) shares that pool's one Connections object.
    """

    def __init__(self, pool: Any, *, keep: int = 8, linger: float = 0.05) -> None:
        self.pool = pool
        self.keep = keep
        self.linger = linger
        self.waiting = 0
        self._idle: list[tuple[Any, asyncio.TimerHandle]] = []
        self._releasing: set[asyncio.Task[None]] = set()

    async def _pool_acquire(self, timeout: float) -> Any:
        self.waiting += 1
        try:
            return await self.pool.acquire(timeout=timeout)
        except TimeoutError:
            raise Unavailable(f"no database connection became free within {timeout:g}s") from None
        finally:
            self.waiting -= 1

    async def acquire(self, timeout: float) -> Any:
        while self._idle:
            conn, timer = self._idle.pop()
            timer.cancel()
            if usable(conn):
                return conn
            self._release(conn)
        try:
            return await self._pool_acquire(timeout)
        except asyncpg.exceptions.PostgresError as exc:
            # Refused while connecting (database dropped, role gone, server starting up):
            # nothing happened; try again later.
            raise Unavailable(f"cannot connect to the database: {exc}") from exc

    def give_back(self, conn: Any, clean: bool) -> None:
        closing = getattr(self.pool, "is_closing", lambda: False)()
        if (
            not clean
            or closing
            or self.waiting
            or len(self._idle) >= self.keep
            or not usable(conn)
            or conn.is_in_transaction()
        ):
            self._release(conn)
            return
        timer = asyncio.get_running_loop().call_later(self.linger, self._expire, conn)
        self._idle.append((conn, timer))

    def _expire(self, conn: Any) -> None:
        for index, (idle, timer) in enumerate(self._idle):
            if idle is conn:
                del self._idle[index]
                timer.cancel()
                self._release(conn)
                return

    def _release(self, conn: Any) -> None:
        task = asyncio.get_running_loop().create_task(self._release_now(conn))
        self._releasing.add(task)
        task.add_done_callback(self._releasing.discard)

    async def _release_now(self, conn: Any) -> None:
        with contextlib.suppress(Exception):
            await release(self.pool, conn)

    async def close(self) -> None:
        """Give every kept connection back to the pool now."""
        idle, self._idle = self._idle, []
        for conn, timer in idle:
            timer.cancel()
            self._release(conn)
        if self._releasing:
            await asyncio.gather(*self._releasing, return_exceptions=True)

    async def call(
        self,
        method: str,
        sql: str,
        args: tuple[Any, ...],
        timeout: float,
        query_timeout: float | None,
    ) -> Any:
        """One statement (`conn.<method>(sql, *args)`) on a kept or pooled connection, errors
        translated: `connection()` without its context managers, for the hot paths (a
        single-task create spends a tenth of its time in them otherwise)."""
        try:
            conn = await self.acquire(timeout)
            clean = False
            try:
                result = await getattr(conn, method)(sql, *args, timeout=query_timeout)
                clean = True
                return result
            finally:
                self.give_back(conn, clean)
        except BaseException as exc:
            reraise(exc)

    @contextlib.asynccontextmanager
    async def pooled(self, timeout: float) -> AsyncIterator[Any]:
        """A connection of the pool's own within `timeout` seconds (else Unavailable), errors
        translated, given back to the pool (reset) at the end, never kept: for the long or
        rare operations (migrations, maintenance, statistics)."""
        async with translated():
            conn = await self._pool_acquire(timeout)
            try:
                yield conn
            finally:
                await release(self.pool, conn)

    @contextlib.asynccontextmanager
    async def connection(self, timeout: float) -> AsyncIterator[Any]:
        """A connection within `timeout` seconds (else Unavailable), errors translated."""
        async with translated():
            conn = await self.acquire(timeout)
            clean = False
            try:
                yield conn
                clean = True
            finally:
                self.give_back(conn, clean)
