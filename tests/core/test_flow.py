"""Flow control in the claim (migration 6): rate limits, circuit breakers, fair claims.

Time is moved by rewriting the queue's state columns behind the Manager's back (the bucket's
`tokens_at`, the breaker's `breaker_open_until`), never by sleeping. The same rules under
real concurrent workers: tests/worker/test_flow_workers.py."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import asyncpg
import pytest

from pgqueue_core import (
    Completion,
    InvalidArgument,
    Manager,
    NotFound,
    QueueMeta,
    Status,
    System,
    TaskMeta,
)
from tests.support.db import shift_task


async def _queue_row(conn: asyncpg.Connection, queue: str) -> asyncpg.Record:
    row = await conn.fetchrow(
        "SELECT *, now() AS now FROM pgqueue.queue WHERE namespace = 'test' AND queue = $1",
        queue,
    )
    assert row is not None
    return row


async def _set(conn: asyncpg.Connection, queue: str, assignments: str) -> None:
    status = await conn.execute(
        f"UPDATE pgqueue.queue SET {assignments} WHERE namespace = 'test' AND queue = $1", queue
    )
    assert status == "UPDATE 1"


async def _fill(manager: Manager, queue: str, n: int) -> list[int]:
    return await manager.create_tasks(queue, [TaskMeta(payload=i) for i in range(n)])


# ---- settings ---------------------------------------------------------------------------


async def test_settings_round_trip_and_zero_removes(manager: Manager) -> None:
    queue = await manager.create_queue(
        QueueMeta(
            queue="q",
            rate=2.5,
            burst=7,
            weight=3,
            breaker_threshold=4,
            breaker_cooldown=timedelta(seconds=5),
        )
    )
    assert (queue.rate, queue.burst, queue.weight) == (2.5, 7, 3)
    assert (queue.breaker_threshold, queue.breaker_cooldown) == (4, timedelta(seconds=5))
    assert (queue.breaker, queue.breaker_open_until, queue.breaker_failures) == ("closed", None, 0)
    plain = await manager.create_queue(QueueMeta(queue="plain"))
    assert (plain.rate, plain.burst, plain.weight, plain.breaker_threshold) == (None, None, 1, None)
    assert plain.breaker_cooldown == timedelta(seconds=30)
    removed = await manager.update_queue("q", QueueMeta(rate=0, burst=0, breaker_threshold=0))
    assert (removed.rate, removed.burst, removed.breaker_threshold) == (None, None, None)
    assert removed.weight == 3  # unchanged


@pytest.mark.parametrize(
    ("meta", "message"),
    [
        (QueueMeta(rate=-1), r"rate must be between 0 and 1e\+09, got -1"),
        (QueueMeta(rate=float("nan")), "rate must be between"),
        (QueueMeta(rate=float("inf")), "rate must be between"),
        (QueueMeta(rate=2e9), "rate must be between"),
        (QueueMeta(rate="5"), "rate must be a number"),  # type: ignore[arg-type]
        (QueueMeta(rate=True), "rate must be a number"),
        (QueueMeta(burst=-1), "burst must be between 0"),
        (QueueMeta(burst=2**31), "burst must be between 0"),
        (QueueMeta(weight=0), "weight must be between 1 and 1000"),
        (QueueMeta(weight=1001), "weight must be between 1 and 1000"),
        (QueueMeta(breaker_threshold=-1), "breaker_threshold must be between 0"),
        (QueueMeta(breaker_cooldown=timedelta(milliseconds=500)), "at least 1s"),
        (QueueMeta(breaker_cooldown=timedelta(days=400)), "at most 365 days"),
    ],
)
async def test_bad_settings_are_invalid(offline: Manager, meta: QueueMeta, message: str) -> None:
    with pytest.raises(InvalidArgument, match=message):
        await offline.update_queue("q", meta)


async def test_an_update_naming_only_flow_settings_is_a_change(manager: Manager) -> None:
    await manager.create_queue(QueueMeta(queue="q"))
    assert (await manager.update_queue("q", QueueMeta(weight=2))).weight == 2


# ---- rate limits ------------------------------------------------------------------------


async def test_a_full_bucket_gives_its_burst_then_nothing(
    manager: Manager, conn: asyncpg.Connection
) -> None:
    # 1 task/s: the refill during the test adds a fraction of a token at most.
    await manager.create_queue(QueueMeta(queue="q", rate=1, burst=5))
    await _fill(manager, "q", 20)
    assert len(await manager.next_tasks("w", "q", limit=100)) == 5
    assert await manager.next_tasks("w", "q", limit=100) == []
    row = await _queue_row(conn, "q")
    assert row["tokens"] < 1 and row["tokens_at"] is not None


async def test_the_bucket_refills_with_time(manager: Manager, conn: asyncpg.Connection) -> None:
    await manager.create_queue(QueueMeta(queue="q", rate=1, burst=50))
    await _fill(manager, "q", 20)
    # Drawn empty 3.5 s ago: three whole tokens (and a half) by now.
    await _set(conn, "q", "tokens = 0, tokens_at = now() - interval '3.5 seconds'")
    assert len(await manager.next_tasks("w", "q", limit=100)) == 3
    row = await _queue_row(conn, "q")
    assert 0.5 <= row["tokens"] < 0.6  # the half token stays in the bucket


async def test_the_bucket_never_holds_more_than_its_burst(
    manager: Manager, conn: asyncpg.Connection
) -> None:
    await manager.create_queue(QueueMeta(queue="q", rate=2, burst=4))
    await _fill(manager, "q", 20)
    await _set(conn, "q", "tokens = 0, tokens_at = now() - interval '1 hour'")
    assert len(await manager.next_tasks("w", "q", limit=100)) == 4


async def test_the_default_burst_is_one_seconds_worth(
    manager: Manager, conn: asyncpg.Connection
) -> None:
    await manager.create_queue(QueueMeta(queue="slow", rate=0.2))
    await manager.create_queue(QueueMeta(queue="fast", rate=7.5))
    await _fill(manager, "slow", 10)
    await _fill(manager, "fast", 10)
    assert len(await manager.next_tasks("w", "slow", limit=100)) == 1  # at least one
    assert len(await manager.next_tasks("w", "fast", limit=100)) == 8  # ceil(7.5)


async def test_a_claim_takes_only_what_it_hands_out(
    manager: Manager, conn: asyncpg.Connection
) -> None:
    await manager.create_queue(QueueMeta(queue="q", rate=1, burst=10))
    await _fill(manager, "q", 3)
    assert len(await manager.next_tasks("w", "q", limit=100)) == 3
    row = await _queue_row(conn, "q")
    assert 7 <= row["tokens"] < 7.1
    assert row["throttled"] == 0  # it got every ready task


async def test_throttled_counts_claims_cut_short_with_tasks_ready(
    manager: Manager, conn: asyncpg.Connection
) -> None:
    await manager.create_queue(QueueMeta(queue="q", rate=1, burst=2))
    await _fill(manager, "q", 3)
    assert len(await manager.next_tasks("w", "q", limit=10)) == 2  # cut short: 1 still ready
    assert await manager.next_tasks("w", "q", limit=10) == []  # cut short again
    assert (await _queue_row(conn, "q"))["throttled"] == 2
    await _set(conn, "q", "tokens = 5, tokens_at = now()")
    assert len(await manager.next_tasks("w", "q", limit=10)) == 1
    assert await manager.next_tasks("w", "q", limit=10) == []  # nothing ready: not throttled
    assert (await _queue_row(conn, "q"))["throttled"] == 2


async def test_next_due_waits_for_the_bucket(manager: Manager, conn: asyncpg.Connection) -> None:
    await manager.create_queue(QueueMeta(queue="q", rate=2, burst=10))
    await _fill(manager, "q", 5)
    await _set(conn, "q", "tokens = 0, tokens_at = now()")
    row = await _queue_row(conn, "q")
    due = await manager.next_due("q")
    assert due is not None
    # A twentieth of a second's worth, at least one token: 1 token at 2/s = 0.5 s.
    assert abs((due - row["tokens_at"]).total_seconds() - 0.5) < 0.01
    await _set(conn, "q", "tokens = 3")
    due = await manager.next_due("q")
    assert due is not None and due <= (await _queue_row(conn, "q"))["now"]


async def test_changing_the_rate_refills_the_bucket(
    manager: Manager, conn: asyncpg.Connection
) -> None:
    await manager.create_queue(QueueMeta(queue="q", rate=1, burst=3))
    await _fill(manager, "q", 10)
    assert len(await manager.next_tasks("w", "q", limit=10)) == 3
    await manager.update_queue("q", QueueMeta(burst=4))
    assert len(await manager.next_tasks("w", "q", limit=10)) == 4
    await manager.update_queue("q", QueueMeta(rate=0))  # no limit
    assert len(await manager.next_tasks("w", "q", limit=10)) == 3


async def test_concurrent_claimers_share_one_bucket(manager: Manager) -> None:
    await manager.create_queue(QueueMeta(queue="q", rate=0.01, burst=25))
    await _fill(manager, "q", 200)
    claims = await asyncio.gather(*(manager.next_tasks(f"w{i}", "q", limit=10) for i in range(8)))
    assert sum(len(c) for c in claims) == 25


# ---- circuit breaker --------------------------------------------------------------------


async def _claim_and_release(manager: Manager, queue: str, *outcomes: bool) -> list[Status]:
    tasks = await manager.next_tasks("w", queue, limit=len(outcomes))
    assert len(tasks) == len(outcomes), (tasks, outcomes)
    done = await manager.release_tasks(
        "w", [Completion(t.id, t.attempt, ok, None) for t, ok in zip(tasks, outcomes, strict=True)]
    )
    return [done[t.id] for t in tasks]


async def _breaker(manager: Manager, queue: str) -> tuple[str, int]:
    got = await manager.get_queue(queue)
    return got.breaker, got.breaker_failures


async def test_failures_in_a_row_open_the_breaker_and_it_hands_out_nothing(
    manager: Manager, conn: asyncpg.Connection
) -> None:
    await manager.create_queue(
        QueueMeta(queue="q", breaker_threshold=3, breaker_cooldown=timedelta(seconds=60))
    )
    await _fill(manager, "q", 10)
    await _claim_and_release(manager, "q", False, False)
    assert await _breaker(manager, "q") == ("closed", 2)
    await _claim_and_release(manager, "q", True)  # a success resets the count
    assert await _breaker(manager, "q") == ("closed", 0)
    await _claim_and_release(manager, "q", False, False, False)
    queue = await manager.get_queue("q")
    assert (queue.breaker, queue.breaker_failures) == ("open", 3)
    row = await _queue_row(conn, "q")
    assert row["breaker_trips"] == 1
    assert abs((row["breaker_open_until"] - row["now"]).total_seconds() - 60) < 5
    assert await manager.next_tasks("w", "q", limit=10) == []
    assert await manager.next_tasks("w", limit=10) == []  # any-queue claims too
    # The failed tasks wait to be retried: none failed, none lost.
    counts = Counter(t.status for t in (await manager.list_tasks(queue="q"))[1])
    assert counts == {Status.NEW: 4, Status.RETRY: 5, Status.RELEASED: 1}
    # Idle workers sleep until the cooldown ends.
    due = await manager.next_due("q")
    assert due == row["breaker_open_until"]


async def test_in_a_batch_only_the_failures_after_the_last_success_count(
    manager: Manager,
) -> None:
    await manager.create_queue(QueueMeta(queue="q", breaker_threshold=3))
    await _fill(manager, "q", 10)
    await _claim_and_release(manager, "q", False, False, True, False)
    assert await _breaker(manager, "q") == ("closed", 1)
    await _claim_and_release(manager, "q", False, False)
    assert await _breaker(manager, "q") == ("open", 3)


async def test_half_open_lets_one_probe_through_and_its_success_closes(
    manager: Manager, conn: asyncpg.Connection
) -> None:
    await manager.create_queue(QueueMeta(queue="q", breaker_threshold=1))
    await _fill(manager, "q", 10)
    await _claim_and_release(manager, "q", False)
    assert await _breaker(manager, "q") == ("open", 1)
    await _set(conn, "q", "breaker_open_until = now()")  # the cooldown is over
    assert await _breaker(manager, "q") == ("half-open", 1)
    [probe] = await manager.next_tasks("w", "q", limit=10)
    assert await manager.next_tasks("w", "q", limit=10) == []  # one probe at a time
    assert await manager.next_tasks("w2", limit=10) == []
    row = await _queue_row(conn, "q")
    assert row["breaker_probe"] == probe.id
    await manager.release_task(probe.id, True, worker="w", attempt=probe.attempt)
    assert await _breaker(manager, "q") == ("closed", 0)
    # Everything ready goes out again (the task that failed first waits for its retry).
    assert len(await manager.next_tasks("w", "q", limit=100)) == 8


async def test_a_failed_probe_opens_it_again(manager: Manager, conn: asyncpg.Connection) -> None:
    await manager.create_queue(
        QueueMeta(queue="q", breaker_threshold=2, breaker_cooldown=timedelta(seconds=30))
    )
    await _fill(manager, "q", 10)
    await _claim_and_release(manager, "q", False, False)
    await _set(conn, "q", "breaker_open_until = now() - interval '1 second'")
    [probe] = await manager.next_tasks("w", "q", limit=10)
    await manager.release_task(probe.id, False, worker="w", attempt=probe.attempt)
    queue = await manager.get_queue("q")
    assert (queue.breaker, queue.breaker_failures) == ("open", 3)
    row = await _queue_row(conn, "q")
    assert row["breaker_trips"] == 2 and row["breaker_probe"] is None
    assert abs((row["breaker_open_until"] - row["now"]).total_seconds() - 30) < 5


async def test_outcomes_of_tasks_claimed_before_it_opened_change_nothing(
    manager: Manager, conn: asyncpg.Connection
) -> None:
    await manager.create_queue(QueueMeta(queue="q", breaker_threshold=1))
    await _fill(manager, "q", 10)
    early = await manager.next_tasks("w", "q", limit=3)
    await manager.release_task(early[0].id, False, worker="w", attempt=early[0].attempt)
    assert await _breaker(manager, "q") == ("open", 1)
    await manager.release_task(early[1].id, True, worker="w", attempt=early[1].attempt)
    assert await _breaker(manager, "q") == ("open", 1)  # still open
    await _set(conn, "q", "breaker_open_until = now()")
    [probe] = await manager.next_tasks("w", "q", limit=10)
    # Half-open: a late success of a task that is not the probe closes nothing.
    await manager.release_task(early[2].id, True, worker="w", attempt=early[2].attempt)
    assert await _breaker(manager, "q") == ("half-open", 1)
    await manager.release_task(probe.id, True, worker="w", attempt=probe.attempt)
    assert await _breaker(manager, "q") == ("closed", 0)


async def test_a_cancelled_probe_lets_another_out(
    manager: Manager, conn: asyncpg.Connection
) -> None:
    await manager.create_queue(QueueMeta(queue="q", breaker_threshold=1))
    await _fill(manager, "q", 5)
    await _claim_and_release(manager, "q", False)
    await _set(conn, "q", "breaker_open_until = now()")
    [probe] = await manager.next_tasks("w", "q", limit=10)
    await manager.cancel_task(probe.id)  # flagged; ends cancelled on its failure
    assert await manager.release_task(probe.id, False, worker="w", attempt=probe.attempt)
    assert (await manager.get_task(probe.id)).status == Status.CANCELLED
    assert await _breaker(manager, "q") == ("half-open", 1)
    assert len(await manager.next_tasks("w", "q", limit=10)) == 1  # the next probe


async def test_a_lapsed_lease_is_a_failed_attempt(
    manager: Manager, pool: asyncpg.Pool, conn: asyncpg.Connection
) -> None:
    await manager.create_queue(QueueMeta(queue="q", breaker_threshold=2))
    await _fill(manager, "q", 5)
    held = await manager.next_tasks("w", "q", limit=2)
    for task in held:
        await shift_task(conn, task.id, leased_until="now() - interval '1 second'")
    assert await System(pool).rescue(namespace="test") == 2
    assert await _breaker(manager, "q") == ("open", 2)


async def test_an_operator_reset_closes_it_and_wakes_the_workers(
    manager: Manager, conn: asyncpg.Connection
) -> None:
    await manager.create_queue(QueueMeta(queue="q", breaker_threshold=1))
    await _fill(manager, "q", 5)
    await _claim_and_release(manager, "q", False)
    assert await _breaker(manager, "q") == ("open", 1)
    await conn.execute("LISTEN pgqueue_task")
    woken: asyncio.Queue[str] = asyncio.Queue()
    await conn.add_listener("pgqueue_task", lambda *args: woken.put_nowait(args[3]))
    queue = await manager.reset_breaker("q")
    assert (queue.breaker, queue.breaker_failures) == ("closed", 0)
    assert await asyncio.wait_for(woken.get(), 10) == "test/q"
    assert len(await manager.next_tasks("w", "q", limit=10)) == 4
    with pytest.raises(NotFound):
        await manager.reset_breaker("nope")


async def test_removing_the_breaker_closes_it(manager: Manager) -> None:
    await manager.create_queue(QueueMeta(queue="q", breaker_threshold=1))
    await _fill(manager, "q", 5)
    await _claim_and_release(manager, "q", False)
    queue = await manager.update_queue("q", QueueMeta(breaker_threshold=0))
    assert (queue.breaker, queue.breaker_failures, queue.breaker_threshold) == ("closed", 0, None)
    assert len(await manager.next_tasks("w", "q", limit=10)) == 4  # (+1 waiting for its retry)


async def test_concurrent_releases_count_every_failure(manager: Manager) -> None:
    """Each release reads the breaker's row as locked, never its own stale snapshot."""
    await manager.create_queue(QueueMeta(queue="q", breaker_threshold=1000))
    await _fill(manager, "q", 40)
    claims = [await manager.next_tasks(f"w{i}", "q", limit=5) for i in range(8)]
    await asyncio.gather(
        *(
            manager.release_tasks(f"w{i}", [Completion(t.id, t.attempt, False) for t in tasks])
            for i, tasks in enumerate(claims)
        )
    )
    assert await _breaker(manager, "q") == ("closed", 40)


async def test_queues_without_a_breaker_are_not_written_by_releases(
    manager: Manager, conn: asyncpg.Connection
) -> None:
    await manager.create_queue(QueueMeta(queue="q"))
    await _fill(manager, "q", 3)
    xmin = await conn.fetchval("SELECT xmin::text FROM pgqueue.queue WHERE queue = 'q'")
    await _claim_and_release(manager, "q", False, True, False)
    assert await conn.fetchval("SELECT xmin::text FROM pgqueue.queue WHERE queue = 'q'") == xmin


# ---- fair claims ------------------------------------------------------------------------


async def test_a_claim_takes_turns_across_queues(manager: Manager) -> None:
    for name in ("a", "b"):
        await manager.create_queue(QueueMeta(queue=name))
    await _fill(manager, "a", 50)  # a backlog, older than anything in b
    b_ids = await _fill(manager, "b", 3)
    got = await manager.next_tasks("w", limit=10)
    assert Counter(t.queue for t in got) == {"a": 7, "b": 3}
    assert {t.id for t in got if t.queue == "b"} == set(b_ids)


async def test_weights_set_the_share_of_a_claim(manager: Manager) -> None:
    await manager.create_queue(QueueMeta(queue="a", weight=3))
    await manager.create_queue(QueueMeta(queue="b"))
    await _fill(manager, "a", 50)
    await _fill(manager, "b", 50)
    got = await manager.next_tasks("w", limit=20)
    assert Counter(t.queue for t in got) == {"a": 15, "b": 5}


async def test_single_claims_share_out_by_weight(manager: Manager) -> None:
    """One-task claims: the queue whose head goes first is drawn at random, weighted."""
    await manager.create_queue(QueueMeta(queue="a", weight=3))
    await manager.create_queue(QueueMeta(queue="b"))
    await _fill(manager, "a", 400)
    await _fill(manager, "b", 400)
    got = [await manager.next_task("w") for _ in range(400)]
    share = Counter(t.queue for t in got if t)["b"] / 400
    # Expected 1/4; the bounds are more than five standard deviations (2.2 %) away.
    assert 0.12 < share < 0.38, share


async def test_within_a_queue_and_a_turn_priority_still_rules(manager: Manager) -> None:
    for name in ("a", "b"):
        await manager.create_queue(QueueMeta(queue=name))
    low = await _fill(manager, "a", 3)
    urgent = await manager.create_task("b", TaskMeta(payload="u", priority=9))
    first = await manager.next_task("w")
    assert first is not None and first.id == urgent.id
    again = await manager.next_task("w")
    assert again is not None and again.id == low[0]  # a queue's own order: FIFO


async def test_limits_still_hold_in_a_fair_claim(manager: Manager) -> None:
    await manager.create_queue(QueueMeta(queue="a", concurrency=2))
    await manager.create_queue(QueueMeta(queue="b", rate=0.01, burst=3))
    await manager.create_queue(QueueMeta(queue="c", paused=True))
    for name in ("a", "b", "c"):
        await _fill(manager, name, 10)
    got = await manager.next_tasks("w", limit=100)
    assert Counter(t.queue for t in got) == {"a": 2, "b": 3}
