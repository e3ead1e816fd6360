"""Model-based test: random operation sequences against the real database and a small Python
model of SPEC §2, compared after every step.

Time is simulated by moving every stored timestamp into the past ("the clock advances by
Δ"). Durations carry half seconds (ttl 1h0m0.5s) while the clock moves in whole seconds,
so that no outcome depends on the milliseconds a step takes.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from pgqueue_core import Manager, NotFound, QueueMeta, Status, System, TaskMeta

TTL = timedelta(hours=1, milliseconds=500)
RETRY_DELAY = timedelta(minutes=10, milliseconds=500)
LEASE = timedelta(minutes=5, milliseconds=500)
QUEUES = {"once": 0, "thrice": 2}  # queue → retries
LIVE = {Status.NEW, Status.RETRY, Status.RETAINED}
TERMINAL = {Status.RELEASED, Status.FAILED, Status.EXPIRED, Status.CANCELLED}

SHIFT_SQL = """UPDATE pgqueue.task
   SET created_at = created_at - $1::interval, delayed_at = delayed_at - $1,
       started_at = started_at - $1, finished_at = finished_at - $1, dies_at = dies_at - $1,
    leased_until = leased_until - $1"""


@dataclass
class Model:
    """What SPEC §2 says one task should look like."""

    id: int
    queue: str
    priority: int
    status: Status
    retries: int
    attempt: int
    dies_at: datetime
    delayed_at: datetime | None
    leased_until: datetime | None = None
    finished_at: datetime | None = None

    def read_status(self, now: datetime) -> Status:
        if self.status in LIVE and self.dies_at <= now:
            return Status.EXPIRED
        return self.status

    def ended_at(self, now: datetime) -> datetime | None:
        if self.read_status(now) == Status.EXPIRED and self.status in LIVE:
            return self.dies_at
        return self.finished_at


class TaskMachine(RuleBasedStateMachine):
    """Drives the Manager and System; the model predicts every outcome."""

    dsn = ""
    tasks = Bundle("tasks")

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.model: dict[int, Model] = {}
        self.pool, self.manager = self.run(self._setup())
        self.system = System(self.pool)

    async def _setup(self) -> tuple[asyncpg.Pool, Manager]:
        pool = await asyncpg.create_pool(self.dsn, min_size=1, max_size=3)
        await pool.execute("TRUNCATE pgqueue.task, pgqueue.queue, pgqueue.ticker")
        manager = await Manager.new(pool, "model")
        for queue, retries in QUEUES.items():
            await manager.register_queue(
                QueueMeta(
                    queue=queue, ttl=TTL, retries=retries, retry_delay=RETRY_DELAY, lease=LEASE
                )
            )
        return pool, manager

    def run(self, coro: Any) -> Any:
        return self.loop.run_until_complete(coro)

    def now(self) -> datetime:
        return self.run(self.pool.fetchval("SELECT now()"))

    def teardown(self) -> None:
        self.run(self.manager.close())
        self.run(self.pool.close())
        self.loop.close()

    def _has(self, *statuses: Status) -> bool:
        now = self.now()
        return any(m.read_status(now) in statuses for m in self.model.values())

    # ---- rules ------------------------------------------------------------------------

    @initialize(target=tasks, n=st.integers(1, 4))
    def seed(self, n: int) -> Any:
        from hypothesis.stateful import multiple

        return multiple(*(self.create(0, queue) for _ in range(n) for queue in QUEUES))

    @rule(target=tasks, priority=st.sampled_from([0, 0, 1, 5]), queue=st.sampled_from(list(QUEUES)))
    def create(self, priority: int, queue: str) -> int:
        task = self.run(self.manager.create_task(queue, TaskMeta(payload=None, priority=priority)))
        retries = QUEUES[queue]
        assert task.status == Status.NEW and task.retries == retries and task.attempt == 0
        assert task.dies_at - task.created_at == TTL
        self.model[task.id] = Model(
            task.id, queue, priority, Status.NEW, retries, 0, task.dies_at, None
        )
        return task.id

    @rule(
        target=tasks,
        delay=st.sampled_from([timedelta(seconds=90.5), timedelta(minutes=20.5)]),
        queue=st.sampled_from(list(QUEUES)),
    )
    def create_delayed(self, delay: timedelta, queue: str) -> int:
        due = self.now() + delay
        task = self.run(self.manager.create_task(queue, TaskMeta(payload=1, delayed_at=due)))
        assert task.delayed_at == due and task.dies_at == due + TTL
        self.model[task.id] = Model(
            task.id, queue, 0, Status.NEW, QUEUES[queue], 0, task.dies_at, due
        )
        return task.id

    @rule()
    def retain(self) -> None:
        self._retain()

    @precondition(lambda self: self._has(Status.NEW, Status.RETRY))
    @rule()
    def retain_waiting(self) -> None:
        self._retain()

    def _retain(self) -> None:
        now = self.now()
        eligible = [
            m
            for m in self.model.values()
            if m.status in (Status.NEW, Status.RETRY)
            and m.dies_at > now
            and (m.delayed_at is None or m.delayed_at <= now)
        ]
        # Any queue: each queue's head (highest priority, then oldest) takes its turn; of the
        # heads, the highest priority goes first, and among equals any queue may (fair
        # claims draw the order at random, weighted).
        heads = {}
        for m in sorted(eligible, key=lambda m: (-m.priority, m.id)):
            heads.setdefault(m.queue, m)
        top = max((m.priority for m in heads.values()), default=None)
        candidates = {m.id: m for m in heads.values() if m.priority == top}
        task = self.run(self.manager.next_task("w1"))
        if not candidates:
            assert task is None
            return
        assert task is not None and task.id in candidates, (task, candidates)
        expected = candidates[task.id]
        assert task.status == Status.RETAINED and task.attempt == expected.attempt + 1
        assert task.leased_until is not None and task.started_at is not None
        assert task.leased_until - task.started_at == LEASE
        expected.status, expected.attempt = Status.RETAINED, task.attempt
        expected.leased_until = task.leased_until

    def _retained(self, pick: int) -> Model | None:
        now = self.now()
        held = sorted(
            (m for m in self.model.values() if m.read_status(now) == Status.RETAINED),
            key=lambda m: m.id,
        )
        return held[pick % len(held)] if held else None

    @precondition(lambda self: self._has(Status.RETAINED))
    @rule(pick=st.integers(0, 3))
    def release_ok(self, pick: int) -> None:
        model = self._retained(pick)
        if model is None:
            return
        task = self.run(self.manager.release_task(model.id, success=True, result="ok"))
        assert task.status == Status.RELEASED and task.finished_at is not None
        model.status, model.finished_at, model.leased_until = (
            Status.RELEASED,
            task.finished_at,
            None,
        )

    @precondition(lambda self: self._has(Status.RETAINED))
    @rule(pick=st.integers(0, 3))
    def release_fail(self, pick: int) -> None:
        model = self._retained(pick)
        if model is None:
            return
        now = self.now()
        task = self.run(self.manager.release_task(model.id, success=False, result="no"))
        self._failed_attempt(model, task.status, task.delayed_at, task.finished_at, now)
        assert task.retries == model.retries

    @rule(task_id=tasks, success=st.booleans())
    def release_not_retained(self, task_id: int, success: bool) -> None:
        model = self.model.get(task_id)
        if model is not None and model.read_status(self.now()) == Status.RETAINED:
            return
        with pytest.raises(NotFound):
            self.run(self.manager.release_task(task_id, success=success))

    def _failed_attempt(
        self,
        model: Model,
        status: Status,
        delayed_at: datetime | None,
        finished_at: datetime | None,
        now: datetime,
    ) -> None:
        model.leased_until = None
        if model.retries > 0:
            assert status == Status.RETRY
            backoff = RETRY_DELAY * 2 ** (model.attempt - 1)
            assert delayed_at is not None
            earliest = min(now + backoff, model.dies_at)
            latest = min(now + backoff * 1.1 + timedelta(seconds=1), model.dies_at)
            assert earliest <= delayed_at <= latest, (now, backoff, delayed_at)
            model.status, model.retries, model.delayed_at = (
                Status.RETRY,
                model.retries - 1,
                delayed_at,
            )
        else:
            assert status == Status.FAILED and finished_at is not None
            model.status, model.finished_at = Status.FAILED, finished_at

    @rule(seconds=st.sampled_from([30, 91, 301, 301, 700, 700, 1300, 3601]))
    def advance(self, seconds: int) -> None:
        delta = timedelta(seconds=seconds)
        self.run(self.pool.execute(SHIFT_SQL, delta))
        for m in self.model.values():
            m.dies_at -= delta
            m.delayed_at = None if m.delayed_at is None else m.delayed_at - delta
            m.leased_until = None if m.leased_until is None else m.leased_until - delta
            m.finished_at = None if m.finished_at is None else m.finished_at - delta

    @rule()
    def rescue_lapsed_leases(self) -> None:
        now = self.now()
        lapsed = [
            m
            for m in self.model.values()
            if m.status == Status.RETAINED
            and m.dies_at > now
            and m.leased_until is not None
            and m.leased_until < now
        ]
        assert self.run(self.system.rescue()) == len(lapsed)
        for model in lapsed:
            task = self.run(self.manager.get_task(model.id))
            assert task.result["error"] == "LeaseExpired"
            self._failed_attempt(model, task.status, task.delayed_at, task.finished_at, now)

    @rule()
    def store_expiry(self) -> None:
        now = self.now()
        overdue = [m for m in self.model.values() if m.status in LIVE and m.dies_at <= now]
        assert self.run(self.system.expire()) == len(overdue)
        for model in overdue:
            model.status, model.finished_at = Status.EXPIRED, model.dies_at

    @rule()
    def clean(self) -> None:
        now = self.now()
        gone = [
            m.id
            for m in self.model.values()
            if m.read_status(now) in TERMINAL
            and (ended := m.ended_at(now)) is not None
            and ended <= now - TTL
        ]
        # Cleanup stores expiry first, then deletes what is past ttl.
        for m in self.model.values():
            if m.status in LIVE and m.dies_at <= now:
                m.status, m.finished_at = Status.EXPIRED, m.dies_at
        assert self.run(self.system.cleanup()) == len(gone)
        for task_id in gone:
            del self.model[task_id]

    # ---- invariants ---------------------------------------------------------------------

    @invariant()
    def every_task_matches_the_model(self) -> None:
        now = self.now()
        total, tasks = self.run(self.manager.list_tasks(limit=100))
        assert total == len(self.model)
        assert [t.id for t in tasks] == sorted(self.model)[:100]
        for task in tasks:
            model = self.model[task.id]
            assert task.status == model.read_status(now), (task, model)
            assert task.retries == model.retries and task.attempt == model.attempt
            assert task.dies_at == model.dies_at

    @invariant()
    def counts_add_up(self) -> None:
        now = self.now()
        counts = {(s.queue, s.status): s.count for s in self.run(self.manager.queue_stats())}
        for queue in QUEUES:
            for status in Status:
                expected = sum(
                    1
                    for m in self.model.values()
                    if m.queue == queue and m.read_status(now) == status
                )
                assert counts[queue, status] == expected, (queue, status, counts)


@pytest.fixture
def machine(dsn: str) -> type[TaskMachine]:
    TaskMachine.dsn = dsn
    return TaskMachine


def test_task_state_machine_matches_the_model(machine: type[TaskMachine]) -> None:
    test = machine.TestCase
    test.settings = settings(
        max_examples=40,
        stateful_step_count=40,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    test().runTest()


def test_timestamps_that_leave_the_range_in_utc_are_invalid() -> None:
    from datetime import datetime

    from pgqueue_core import InvalidArgument, codec, validate

    for text in ("0001-01-01T00:00:00+14:00", "9999-12-31T23:00:00-14:00"):
        with pytest.raises(InvalidArgument, match=r"years 1\.\.9999"):
            codec.parse_time(text, "delayed_at")
        with pytest.raises(InvalidArgument, match=r"years 1\.\.9999"):
            validate.aware(datetime.fromisoformat(text), "delayed_at")


def test_payloads_nested_too_deeply_are_invalid() -> None:
    from pgqueue_core import InvalidArgument, validate

    deep: list[object] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(InvalidArgument, match="nested too deeply"):
        validate.payload(deep)


def test_stored_json_python_cannot_read_stays_text() -> None:
    from pgqueue_core.models import RawJSON, load_json

    huge = "1" * 5000
    assert load_json(huge) == RawJSON(huge)
    assert load_json("[" * 5000 + "]" * 5000) == RawJSON("[" * 5000 + "]" * 5000)
    assert load_json('{"a": 1}') == {"a": 1}


def test_payloads_with_lone_surrogates_are_invalid() -> None:
    """A string holding a lone surrogate ("\\ud800" in a request's JSON) is not text: no
    UTF-8 writer can hand it on (the server's answers, a Go client, the console)."""
    from pgqueue_core import InvalidArgument, validate

    for value in ("\ud800", {"\udfff": 1}, ["a\udc80b"], {"a": ["\udbff\ud800"]}):
        with pytest.raises(InvalidArgument, match="lone surrogate"):
            validate.payload(value)
        with pytest.raises(InvalidArgument, match="result holds a lone surrogate"):
            validate.payload(value, "result")
    # A pair is a character; a backslash followed by "ud800" is just text.
    assert validate.payload("\U0001f600") == '"\\ud83d\\ude00"'
    assert validate.payload("\ud83d\ude00") == '"\\ud83d\\ude00"'
    assert validate.payload("C:\\ud800") == '"C:\\\\ud800"'


def test_stored_json_with_lone_surrogates_stays_text() -> None:
    """Stored by another client, or by a Worker whose handler's error message held one:
    handed on as stored, not as a string no UTF-8 writer accepts."""
    from pgqueue_core.models import RawJSON, load_json

    for text in ('"\\ud800"', '{"\\uDFFF": 1}', '["a", {"b": "\\udc80"}]', '"\\ude00\\ud83d"'):
        assert load_json(text) == RawJSON(text), text
    assert load_json('"\\ud83d\\ude00"') == "\U0001f600"
    assert load_json('"C:\\\\ud800"') == "C:\\ud800"
