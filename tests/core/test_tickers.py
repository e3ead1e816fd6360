"""Tickers: register/get/list/update/delete, atomic claims without drift, the ticker loop."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from datetime import datetime, timedelta

import asyncpg
import pytest

from pgqueue_core import Conflict, InvalidArgument, Manager, NotFound, Ticker, TickerMeta
from tests.support.db import db_now, wait_blocked

HOUR = timedelta(hours=1)


async def set_fired_at(conn: asyncpg.Connection, name: str, expr: str) -> None:
    """Time travel: when the ticker last fired, as an SQL expression."""
    status = await conn.execute(
        f"UPDATE pgqueue.ticker SET fired_at = {expr} WHERE ticker = $1", name
    )
    assert status == "UPDATE 1"


async def test_register_and_read(manager: Manager) -> None:
    ticker = await manager.register_ticker(
        TickerMeta(ticker=" Hourly ", interval=HOUR, payload={"x": 1})
    )
    assert (ticker.namespace, ticker.ticker, ticker.interval) == ("test", "hourly", HOUR)
    assert ticker.payload == {"x": 1}
    assert ticker.timestamp is None
    assert await manager.get_ticker("hourly") == ticker
    plain = await manager.register_ticker(TickerMeta(ticker="plain", interval=HOUR))
    assert plain.payload == {}
    assert await manager.list_tickers() == (2, [ticker, plain])


async def test_create_conflict_and_not_found(manager: Manager) -> None:
    await manager.create_ticker(TickerMeta(ticker="t", interval=HOUR))
    with pytest.raises(Conflict):
        await manager.create_ticker(TickerMeta(ticker="t", interval=HOUR))
    for call in (
        manager.get_ticker("nope"),
        manager.update_ticker("nope", TickerMeta(interval=HOUR)),
        manager.delete_ticker("nope"),
    ):
        with pytest.raises(NotFound):
            await call


@pytest.mark.parametrize(
    "meta",
    [
        TickerMeta(ticker="t", interval=timedelta(0)),
        TickerMeta(ticker="t", interval=timedelta(seconds=-5)),
        TickerMeta(ticker="t", interval=timedelta(milliseconds=999)),
        TickerMeta(interval=HOUR),
        TickerMeta(ticker="Bad Name", interval=HOUR),
        TickerMeta(ticker="t", interval=HOUR, payload=float("nan")),
    ],
)
async def test_invalid_tickers(offline: Manager, meta: TickerMeta) -> None:
    """Defect 10: zero intervals are refused (they used to fire continuously)."""
    with pytest.raises(InvalidArgument):
        await offline.register_ticker(meta)
    with pytest.raises(InvalidArgument):
        await offline.create_ticker(meta)


async def test_new_ticker_without_interval_fires_every_minute(manager: Manager) -> None:
    """SPEC 7.1: the original's column default (and its CLI's documented default) is one
    minute; no ticker is ever stored without an interval (defect 10). An existing ticker
    keeps its own interval when re-registered without one."""
    created = await manager.create_ticker(TickerMeta(ticker="c"))
    assert created.interval == timedelta(minutes=1)
    registered = await manager.register_ticker(TickerMeta(ticker="r", payload=[1]))
    assert (registered.interval, registered.payload) == (timedelta(minutes=1), [1])
    await manager.register_ticker(TickerMeta(ticker="t", interval=HOUR))
    kept = await manager.register_ticker(TickerMeta(ticker="t", payload=[2]))
    assert (kept.interval, kept.payload) == (HOUR, [2])


async def test_empty_name_in_an_update_is_no_rename(manager: Manager) -> None:
    """The Go client's TickerMeta.Ticker has no omitempty: every PATCH carries "ticker": ""."""
    await manager.register_ticker(TickerMeta(ticker="t", interval=HOUR))
    updated = await manager.update_ticker("t", TickerMeta(ticker="", interval=2 * HOUR))
    assert (updated.ticker, updated.interval) == ("t", 2 * HOUR)
    with pytest.raises(NotFound):
        await manager.update_ticker("nope", TickerMeta(ticker="", interval=HOUR))
    with pytest.raises(InvalidArgument, match="name"):
        await manager.update_ticker("t", TickerMeta(ticker="  ", interval=HOUR))


@pytest.mark.parametrize(
    "meta",
    [TickerMeta(), TickerMeta(ticker=""), TickerMeta(ticker=None, interval=None)],
)
async def test_update_with_nothing_to_change(manager: Manager, meta: TickerMeta) -> None:
    """The original's "No patch values": refused before the ticker is looked up."""
    before = await manager.register_ticker(TickerMeta(ticker="t", interval=HOUR))
    for name in ("t", "nope"):
        with pytest.raises(InvalidArgument) as caught:
            await manager.update_ticker(name, meta)
        assert caught.value.key == "nothing_to_change"
    assert await manager.get_ticker("t") == before
    # Naming a field is a change request even when the value is the same; JSON null is a
    # payload like any other.
    assert await manager.update_ticker("t", TickerMeta(ticker="t")) == before
    assert (await manager.update_ticker("t", TickerMeta(payload=None))).payload is None


async def test_one_second_is_the_shortest_interval(manager: Manager) -> None:
    ticker = await manager.register_ticker(TickerMeta(ticker="t", interval=timedelta(seconds=1)))
    assert ticker.interval == timedelta(seconds=1)
    with pytest.raises(InvalidArgument):
        await manager.update_ticker("t", TickerMeta(interval=timedelta(milliseconds=500)))


async def test_list_paging(manager: Manager) -> None:
    names = [f"t{i:02d}" for i in range(12)]
    for name in reversed(names):
        await manager.register_ticker(TickerMeta(ticker=name, interval=HOUR))
    seen: list[str] = []
    for offset in range(0, 12, 5):
        count, page = await manager.list_tickers(offset=offset, limit=5)
        assert count == 12
        seen.extend(t.ticker for t in page)
    assert seen == names
    assert await manager.list_tickers(offset=50) == (12, [])


async def test_update_rename_delete(manager: Manager) -> None:
    await manager.register_ticker(TickerMeta(ticker="a", interval=HOUR, payload=1))
    await manager.register_ticker(TickerMeta(ticker="b", interval=HOUR))
    with pytest.raises(Conflict):
        await manager.update_ticker("a", TickerMeta(ticker="b"))
    renamed = await manager.update_ticker("a", TickerMeta(ticker="c", payload=None))
    assert (renamed.ticker, renamed.payload, renamed.interval) == ("c", None, HOUR)
    with pytest.raises(NotFound):
        await manager.get_ticker("a")
    deleted = await manager.delete_ticker("c")
    assert deleted == renamed
    assert [t.ticker for t in (await manager.list_tickers())[1]] == ["b"]


async def test_first_claim_and_no_refire(manager: Manager, conn: asyncpg.Connection) -> None:
    await manager.register_ticker(TickerMeta(ticker="t", interval=HOUR, payload={"p": 1}))
    before = await db_now(conn)
    fired = await manager.next_ticker()
    after = await db_now(conn)
    assert fired is not None and fired.ticker == "t" and fired.payload == {"p": 1}
    assert fired.timestamp is not None and before <= fired.timestamp <= after
    assert await manager.get_ticker("t") == fired
    assert await manager.next_ticker() is None


async def test_unchanged_registration_or_update_does_not_fire(manager: Manager) -> None:
    """Defect 10: registering or patching a ticker does not make it fire again."""
    meta = TickerMeta(ticker="t", interval=HOUR, payload={"a": 1})
    await manager.register_ticker(meta)
    fired = await manager.next_ticker()
    assert fired is not None
    again = await manager.register_ticker(meta)
    assert again.timestamp == fired.timestamp
    assert await manager.next_ticker() is None
    await manager.update_ticker("t", TickerMeta(payload={"a": 2}))
    await manager.register_ticker(TickerMeta(ticker="t", interval=timedelta(hours=2)))
    assert await manager.next_ticker() is None
    assert (await manager.get_ticker("t")).timestamp == fired.timestamp


async def test_never_fired_first_then_most_overdue(
    manager: Manager, conn: asyncpg.Connection
) -> None:
    for name in ("late", "later", "fresh"):
        await manager.register_ticker(TickerMeta(ticker=name, interval=HOUR))
    await set_fired_at(conn, "late", "now() - interval '3 hours'")
    await set_fired_at(conn, "later", "now() - interval '5 hours'")
    order = []
    while (ticker := await manager.next_ticker()) is not None:
        order.append(ticker.ticker)
    assert order == ["fresh", "later", "late"]


async def test_no_drift(manager: Manager, conn: asyncpg.Connection) -> None:
    """The next maturity follows the schedule, not the moment of the claim."""
    await manager.register_ticker(TickerMeta(ticker="t", interval=timedelta(minutes=10)))
    # Last fired 10 min 7.25 s ago: it matured 7.25 s ago and is claimed late.
    await set_fired_at(conn, "t", "now() - interval '10 minutes 7.25 seconds'")
    scheduled = await conn.fetchval(
        "SELECT fired_at + \"interval\" FROM pgqueue.ticker WHERE ticker = 't'"
    )
    fired = await manager.next_ticker()
    assert fired is not None and fired.timestamp == scheduled
    assert await manager.next_ticker() is None


async def test_missed_periods_fire_once(manager: Manager, conn: asyncpg.Connection) -> None:
    await manager.register_ticker(TickerMeta(ticker="t", interval=timedelta(minutes=1)))
    await set_fired_at(conn, "t", "now() - interval '10 minutes 30 seconds'")
    start = await conn.fetchval("SELECT fired_at FROM pgqueue.ticker WHERE ticker = 't'")
    now = await db_now(conn)
    fired = await manager.next_ticker()
    assert await manager.next_ticker() is None
    assert fired is not None and fired.timestamp is not None
    # The latest point of the schedule that is not after now.
    assert fired.timestamp == start + timedelta(minutes=10)
    assert fired.timestamp <= now < fired.timestamp + timedelta(minutes=1)


async def test_concurrent_claimers_claim_each_maturity_once(
    manager: Manager, dsn: str, conn: asyncpg.Connection
) -> None:
    names = [f"t{i}" for i in range(20)]
    for name in names:
        await manager.register_ticker(TickerMeta(ticker=name, interval=HOUR))
    pools = [await asyncpg.create_pool(dsn, min_size=1, max_size=1) for _ in range(8)]
    try:
        claimers = [await Manager.new(p, "test", migrate_schema=False) for p in pools]
        start = asyncio.Event()

        async def claim_all(mgr: Manager) -> list[Ticker]:
            await start.wait()
            got = []
            while (ticker := await mgr.next_ticker()) is not None:
                got.append(ticker)
            return got

        for round_ in range(2):
            start.clear()
            runs = [asyncio.create_task(claim_all(m)) for m in claimers]
            start.set()
            results = await asyncio.gather(*runs)
            claimed = Counter(t.ticker for got in results for t in got)
            assert claimed == Counter(names), round_
            # Everything fired once; now make every ticker mature again.
            await conn.execute("UPDATE pgqueue.ticker SET fired_at = fired_at - interval '1 hour'")
    finally:
        for p in pools:
            await p.close()


async def test_claim_is_given_back_when_not_delivered(manager: Manager) -> None:
    await manager.register_ticker(TickerMeta(ticker="t", interval=HOUR))

    async def deliver_and_fail() -> None:
        async with manager.claim_ticker() as ticker:
            assert ticker is not None
            raise RuntimeError("the client went away")

    with pytest.raises(RuntimeError):
        await deliver_and_fail()
    async with manager.claim_ticker() as ticker:
        assert ticker is not None and ticker.ticker == "t"
    async with manager.claim_ticker() as ticker:
        assert ticker is None


async def test_concurrent_registration_of_a_new_ticker(
    manager: Manager, dsn: str, conn: asyncpg.Connection
) -> None:
    """Two processes registering the same new ticker at once: both succeed (upsert)."""
    other = await asyncpg.connect(dsn)
    try:
        tx = other.transaction()
        await tx.start()
        await other.execute(
            'INSERT INTO pgqueue.ticker (namespace, ticker, "interval") '
            "VALUES ('test', 't', interval '1 hour')"
        )
        registering = asyncio.create_task(
            manager.register_ticker(TickerMeta(ticker="t", interval=timedelta(hours=2)))
        )
        await wait_blocked(conn)
        await tx.commit()
        ticker = await asyncio.wait_for(registering, 10)
    finally:
        await other.close()
    assert ticker.interval == timedelta(hours=2)


async def test_next_ticker_in(manager: Manager, conn: asyncpg.Connection) -> None:
    assert await manager.next_ticker_in() is None
    await manager.register_ticker(TickerMeta(ticker="t", interval=HOUR))
    assert await manager.next_ticker_in() == 0
    assert await manager.next_ticker() is not None
    wait = await manager.next_ticker_in()
    assert wait is not None and 3590 < wait <= 3600


async def test_ticker_loop_calls_the_handler_and_survives_errors(
    manager: Manager, conn: asyncpg.Connection
) -> None:
    await manager.register_ticker(TickerMeta(ticker="boom", interval=HOUR))
    await manager.register_ticker(TickerMeta(ticker="fine", interval=HOUR, payload=[1]))
    seen: list[str] = []
    fine_done = asyncio.Event()

    async def handler(ticker: Ticker) -> None:
        seen.append(ticker.ticker)
        if ticker.ticker == "boom":
            raise ValueError("handler failed")
        fine_done.set()

    # A short max_sleep: the loop re-reads the schedule soon after the time travel below.
    loop = asyncio.create_task(manager.run_ticker_loop(handler, max_sleep=0.1))
    try:
        async with asyncio.timeout(10):
            await fine_done.wait()
        assert sorted(seen) == ["boom", "fine"]
        # The loop is still alive after the failure: the next maturity reaches it too.
        fine_done.clear()
        await set_fired_at(conn, "fine", "fired_at - interval '1 hour'")
        async with asyncio.timeout(10):
            await fine_done.wait()
        assert sorted(seen) == ["boom", "fine", "fine"]
        assert not loop.done()
    finally:
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop


async def test_ticker_loop_sleeps_until_the_next_maturity(manager: Manager) -> None:
    """A 1 s ticker fires about every second (no fixed long poll), with a sync handler."""
    await manager.register_ticker(TickerMeta(ticker="fast", interval=timedelta(seconds=1)))
    stamps: list[datetime] = []
    third = asyncio.Event()
    event_loop = asyncio.get_running_loop()

    def handler(ticker: Ticker) -> None:  # runs in a thread
        assert ticker.timestamp is not None
        stamps.append(ticker.timestamp)
        if len(stamps) == 3:
            event_loop.call_soon_threadsafe(third.set)

    loop = asyncio.create_task(manager.run_ticker_loop(handler, max_sleep=30))
    try:
        async with asyncio.timeout(6):
            await third.wait()
    finally:
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop
    assert stamps[1] - stamps[0] == timedelta(seconds=1)
    assert stamps[2] - stamps[1] == timedelta(seconds=1)


async def test_a_firing_in_delivery_is_leased_not_held(
    manager: Manager, dsn: str, conn: asyncpg.Connection
) -> None:
    """A firing claimed for delivery holds no transaction; while its lease runs no one else
    claims it; if its claimant dies (never acknowledges) the lease lapses and the same firing
    is claimed again."""
    await manager.register_ticker(TickerMeta(ticker="t", interval=HOUR))
    first = await manager.next_ticker()
    assert first is not None and first.timestamp is not None
    await conn.execute("UPDATE pgqueue.ticker SET fired_at = fired_at - interval '1 hour'")
    firing = await manager.claim_firing(lease=timedelta(seconds=1))
    assert firing is not None and firing.timestamp == first.timestamp
    busy = await conn.fetchval(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
        "AND state LIKE 'idle in transaction%'"
    )
    assert busy == 0
    assert await manager.next_ticker() is None
    assert await manager.claim_firing() is None
    # Not fired until delivered: the ticker still shows the firing before.
    assert (await manager.get_ticker("t")).timestamp == first.timestamp - HOUR
    # The claimant died: after the lease, the same firing is matured again.
    again = None
    async with asyncio.timeout(5):
        while again is None:
            again = await manager.claim_firing(lease=timedelta(seconds=5))
            if again is None:
                await asyncio.sleep(0.05)  # polling the lease, bounded by the timeout
    assert again.timestamp == firing.timestamp
    assert await manager.firing_delivered(again)
    assert not await manager.firing_delivered(again)  # once
    assert (await manager.get_ticker("t")).timestamp == first.timestamp
    assert await manager.claim_firing() is None


async def test_a_blocking_sync_ticker_handler_leaves_the_event_loop_free(
    manager: Manager,
) -> None:
    """A sync handler runs in a thread: while it blocks, other coroutines run. Here the
    handler blocks until a coroutine lets it go, which only a free event loop can do."""
    await manager.register_ticker(TickerMeta(ticker="slow", interval=HOUR))
    event_loop = asyncio.get_running_loop()
    entered, finished = asyncio.Event(), asyncio.Event()
    release = threading.Event()
    released: list[bool] = []

    def handler(ticker: Ticker) -> None:
        event_loop.call_soon_threadsafe(entered.set)
        # Blocking work, bounded: True when released, False after 5 s on a blocked loop.
        released.append(release.wait(timeout=5))
        event_loop.call_soon_threadsafe(finished.set)

    loop = asyncio.create_task(manager.run_ticker_loop(handler, max_sleep=30))
    try:
        async with asyncio.timeout(10):
            await entered.wait()
        # Meanwhile the loop serves other coroutines, a database round trip among them.
        assert await manager.get_ticker("slow")
        release.set()
        async with asyncio.timeout(10):
            await finished.wait()
    finally:
        release.set()
        loop.cancel()
        with pytest.raises(asyncio.CancelledError):
            await loop
    assert released == [True]
