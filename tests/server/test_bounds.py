"""SPEC §7.2 bounds: durations, timestamps and computed timestamps out of range are a 400 that
writes nothing, and no stored row can break a read."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from tests.support.server import Reply, Server, open_stream

HUGE_DURATIONS = [
    "P99999999999D",
    "PT99999999999999999999H",
    "P1000000000D",
    "PT1000000000000000000S",
    "293y",  # not a unit: still a clean 400
    "106752d",  # just past 2^63 - 1 ns
    "9" * 5000,  # more digits than Python converts by default
    "1" + "0" * 63 + "s",  # 65 characters
    2**63,
    2**64 + 1,
    1e300,
    -(2**63) - 1,
]


def _clean_400(reply: Reply, what: str) -> None:
    assert reply.status == 400, f"{what}: {reply.status} {reply.text[:300]}"
    body = reply.json
    assert body["object"] == "error" and body["code"] == 400, what
    assert body["error"] == "invalid_argument", (what, body)
    assert "Traceback" not in reply.text


@pytest.fixture
async def jobs(server: Server) -> Server:
    assert (await server.post("/queue", {"queue": "jobs"})).status == 201
    return server


@pytest.mark.parametrize("value", HUGE_DURATIONS, ids=lambda v: repr(v)[:24])
async def test_durations_past_the_range_are_400(jobs: Server, value: Any) -> None:
    problems = []
    cases: list[tuple[str, str, dict[str, Any]]] = [
        ("POST", "/queue", {"queue": "other", "ttl": value}),
        ("PATCH", "/queue/jobs", {"ttl": value}),
        ("PATCH", "/queue/jobs", {"retry_delay": value}),
        ("PATCH", "/queue/jobs", {"lease": value}),
        ("POST", "/ticker", {"ticker": "t", "interval": value}),
    ]
    for method, path, body in cases:
        reply = await jobs.call(method, path, body=body)
        try:
            _clean_400(reply, f"{method} {path} {list(body)}")
        except AssertionError as exc:
            problems.append(str(exc))
    # A heartbeat with a lease: on a retained task.
    await jobs.post("/task", {"queue": "jobs", "payload": 1})
    task = (await jobs.put("/task", params={"worker": "w"})).json
    reply = await jobs.patch(f"/task/{task['id']}", {"heartbeat": True, "lease": value})
    try:
        _clean_400(reply, "heartbeat lease")
    except AssertionError as exc:
        problems.append(str(exc))
    assert not problems, "\n".join(problems)
    # Nothing changed.
    queue = (await jobs.get("/queue/jobs")).json
    assert queue["ttl"] == 3600 * 10**9
    assert (await jobs.get("/ticker")).json["count"] == 0


@pytest.mark.parametrize(
    "delayed_at",
    [
        "0001-01-01T00:00:00+14:00",  # before year 1 in UTC
        "9999-12-31T23:00:00-14:00",  # after year 9999 in UTC
        "9999-12-31T23:30:00Z",  # dies_at = delayed_at + 1 h: year 10000
        "9999-12-31T23:59:59.999999Z",
    ],
)
async def test_timestamps_out_of_range_write_nothing(jobs: Server, delayed_at: str) -> None:
    reply = await jobs.post("/task", {"queue": "jobs", "payload": 1, "delayed_at": delayed_at})
    _clean_400(reply, delayed_at)
    batch = await jobs.post("/task", [{"queue": "jobs", "payload": 1, "delayed_at": delayed_at}])
    assert batch.status == 400 or batch.status == 405, batch.text  # batches: see SPEC §7.4
    listed = await jobs.get("/task")
    assert listed.status == 200 and listed.json["count"] == 0, listed.text


async def test_the_error_names_the_computed_timestamp(jobs: Server) -> None:
    reply = await jobs.post(
        "/task", {"queue": "jobs", "payload": 1, "delayed_at": "9999-12-31T23:30:00Z"}
    )
    _clean_400(reply, "dies_at")
    assert "dies_at" in reply.json["reason"] and "9999" in reply.json["reason"]


async def test_a_late_delay_within_range_still_works(jobs: Server) -> None:
    """The bound is the range, not a policy against far delays."""
    reply = await jobs.post(
        "/task", {"queue": "jobs", "payload": 1, "delayed_at": "9999-12-31T22:00:00Z"}
    )
    assert reply.status == 201, reply.text
    assert reply.json["dies_at"].startswith("9999-12-31T23:00:00")


# Values the task table could hold before the bounds existed (or that another client wrote).
POISON = [
    ("dies_at", "'infinity'"),
    ("dies_at", "'10000-01-01 00:30:00+00'"),
    ("delayed_at", "'-infinity'"),
    ("finished_at", "'294276-12-31 00:00:00+00'"),
    ("leased_until", "'infinity'"),
]


async def test_the_table_refuses_out_of_range_timestamps(dsn: str) -> None:
    """Whatever writes the row (an older server, another client): the schema refuses it."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("INSERT INTO pgqueue.queue (namespace, queue) VALUES ('default', 'q')")
        for column, value in POISON:
            with pytest.raises(asyncpg.CheckViolationError):
                await conn.execute(
                    "INSERT INTO pgqueue.task (namespace, queue, payload, dies_at, retries, "
                    f"{column}) VALUES ('default', 'q', '1', now(), 3, {value})"
                    if column != "dies_at"
                    else "INSERT INTO pgqueue.task (namespace, queue, payload, dies_at, retries) "
                    f"VALUES ('default', 'q', '1', {value}, 3)"
                )
        for table, column in (("queue", "ttl"), ("queue", "retry_delay"), ("queue", "lease")):
            with pytest.raises(asyncpg.CheckViolationError):
                await conn.execute(f"UPDATE pgqueue.{table} SET {column} = interval '300 years'")
    finally:
        await conn.close()


async def _poison_as_an_older_version(dsn: str) -> list[int]:
    """Roll the schema back to version 1, store poisoned rows, migrate again."""
    from pgqueue_core.migrate import migrate

    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("INSERT INTO pgqueue.queue (namespace, queue) VALUES ('default', 'q')")
        async with conn.transaction():
            await conn.execute(BOUNDS_DOWN)
            await conn.execute("DELETE FROM pgqueue.migration WHERE version >= 2")
            ids = []
            for column, value in POISON:
                task_id = await conn.fetchval(
                    "INSERT INTO pgqueue.task (namespace, queue, payload, dies_at, retries) "
                    "VALUES ('default', 'q', '1', now() + interval '1 hour', 3) RETURNING id"
                )
                await conn.execute(
                    f"UPDATE pgqueue.task SET {column} = {value} WHERE id = $1", task_id
                )
                ids.append(task_id)
        await migrate(conn)
        return ids
    finally:
        await conn.close()


# Back to version 1: what migrations 2 to 7 added (4's and 6's objects only where 2 needs
# them gone or 6 would add them twice; migrating again re-creates them).
BOUNDS_DOWN = """
DROP TRIGGER task_count_insert ON pgqueue.task;
DROP TRIGGER task_count_update ON pgqueue.task;
DROP TRIGGER task_count_delete ON pgqueue.task;
DROP TRIGGER task_count_truncate ON pgqueue.task;
DROP FUNCTION pgqueue.task_count_changed();
DROP FUNCTION pgqueue.task_count_truncated();
DROP TABLE pgqueue.task_count, pgqueue.task_count_change;
DROP FUNCTION pgqueue.queue_opens_at(float8, integer, float8, timestamptz, timestamptz,
                                     timestamptz);
DROP FUNCTION pgqueue.queue_breaker(timestamptz);
DROP FUNCTION pgqueue.queue_tokens(float8, integer, float8, timestamptz, timestamptz);
ALTER TABLE pgqueue.queue DROP COLUMN rate, DROP COLUMN burst, DROP COLUMN tokens,
    DROP COLUMN tokens_at, DROP COLUMN throttled, DROP COLUMN weight,
    DROP COLUMN breaker_threshold, DROP COLUMN breaker_cooldown, DROP COLUMN breaker_failures,
    DROP COLUMN breaker_open_until, DROP COLUMN breaker_probe, DROP COLUMN breaker_probe_until,
    DROP COLUMN breaker_trips;
DROP TABLE pgqueue.watcher;
DROP FUNCTION pgqueue.ticker_firing(timestamptz, interval);
DROP VIEW pgqueue.task_read;
DROP FUNCTION pgqueue.task_status(text, timestamptz);
DROP FUNCTION pgqueue.task_has_status(text, timestamptz, text);
DROP FUNCTION pgqueue.release_tasks(text, text, bigint[], integer[], boolean[], json[]);
CREATE FUNCTION pgqueue.release_tasks(
    p_namespace text, p_worker text, p_ids bigint[], p_attempts integer[], p_oks boolean[],
    p_results json[]) RETURNS TABLE (id bigint, status text)
    LANGUAGE sql AS 'SELECT 1::bigint, $$x$$';
DROP INDEX pgqueue.task_dies_ns_idx;
DROP INDEX pgqueue.task_finished_ns_idx;
CREATE INDEX task_dies_idx ON pgqueue.task (dies_at) WHERE status IN ('new', 'retry');
CREATE INDEX task_finished_idx ON pgqueue.task (finished_at)
    WHERE status IN ('released', 'failed', 'expired', 'cancelled');
ALTER TABLE pgqueue.ticker DROP COLUMN claimed_at, DROP COLUMN claimed_until;
ALTER TABLE pgqueue.task DROP CONSTRAINT task_dies_at_check,
                         DROP CONSTRAINT task_times_check;
ALTER TABLE pgqueue.queue DROP CONSTRAINT queue_durations_check;
ALTER TABLE pgqueue.ticker DROP CONSTRAINT ticker_times_check;
"""


async def test_migrating_repairs_rows_an_older_version_let_through(server: Server) -> None:
    ids = await _poison_as_an_older_version(server.config.dsn or "")
    for path, params in (
        ("/task", None),
        ("/task", {"queue": "q"}),
        ("/task", {"status": "new"}),
        ("/task", {"status": "expired"}),
        ("/task", {"offset": "0", "limit": "1"}),
        *((f"/task/{task_id}", None) for task_id in ids),
        ("/stats", None),
        ("/queue/q", None),
        ("/metrics", None),
    ):
        reply = await server.get(path, params=params)
        assert reply.status == 200, (path, params, reply.text[:300])
    for task_id in ids:
        for action in ("cancel", "requeue"):
            reply = await server.post(f"/task/{task_id}/{action}")
            assert reply.status < 500, (task_id, action, reply.text[:300])
    claim = await server.put("/task", params={"worker": "w"})
    assert claim.status in (200, 204), claim.text[:300]


async def test_payloads_python_cannot_parse_are_passed_through(jobs: Server, dsn: str) -> None:
    """PostgreSQL's json accepts numbers longer and nesting deeper than Python's json module
    reads: such a payload (written by another client) is handed out as it is stored."""
    huge = "1" * 5000
    deep = "[" * 5000 + "]" * 5000
    conn = await asyncpg.connect(dsn)
    try:
        ids = [
            await conn.fetchval(
                "INSERT INTO pgqueue.task (namespace, queue, payload, dies_at, retries) "
                "VALUES ('default', 'jobs', $1::json, now() + interval '1 hour', 3) RETURNING id",
                text,
            )
            for text in (huge, deep)
        ]
    finally:
        await conn.close()
    listed = await jobs.get("/task")
    assert listed.status == 200, listed.text[:300]
    assert huge in listed.text and deep in listed.text
    for task_id in ids:
        reply = await jobs.get(f"/task/{task_id}")
        assert reply.status == 200, reply.text[:300]
    claimed = await jobs.put("/task", params={"worker": "w"})
    assert claimed.status == 200, claimed.text[:300]
    assert claimed.text.count("1" * 5000) == 1 or claimed.text.count("[" * 5000) == 1


async def test_lone_surrogates_in_payloads_are_400_and_write_nothing(jobs: Server) -> None:
    """`{"queue": "jobs", "payload": "\\ud800"}`: the json column stored the escape, Python
    read it back as a lone surrogate and the answer could not be written (a 500 after the
    row was written, then a 500 on every read of the task). Payloads and results must be
    text; a surrogate pair is a character."""
    raw = b'{"queue": "jobs", "payload": "\\ud800"}'
    _clean_400(await jobs.call("POST", "/task", data=raw), "task payload")
    _clean_400(await jobs.post("/task", {"queue": "jobs", "payload": {"a\udfff": 1}}), "key")
    for path, data in (
        ("/ticker", b'{"ticker": "t", "payload": ["\\udc80"]}'),
        ("/ticker/t", b'{"payload": "\\ud83d"}'),
    ):
        method = "POST" if path == "/ticker" else "PATCH"
        if method == "PATCH":
            assert (await jobs.post("/ticker", {"ticker": "t"})).status == 201
        reply = await jobs.call(method, path, data=data)
        _clean_400(reply, f"{method} {path}")
        assert "lone surrogate" in reply.json["reason"]
    assert (await jobs.get("/ticker/t")).json["payload"] == {}
    assert (await jobs.get("/task")).json["count"] == 0
    # A result: refused, and the task stays retained.
    await jobs.post("/task", {"queue": "jobs", "payload": 1})
    task = (await jobs.put("/task", params={"worker": "w"})).json
    reply = await jobs.call("PATCH", f"/task/{task['id']}", data=b'{"result": "\\udfff"}')
    _clean_400(reply, "result")
    assert (await jobs.get(f"/task/{task['id']}")).json["status"] == "retained"
    # A pair is one character, however it is sent.
    reply = await jobs.call("POST", "/task", data=b'{"queue": "jobs", "payload": "\\ud83d\\ude00"}')
    assert reply.status == 201 and reply.json["payload"] == "\U0001f600", reply.text


async def test_rows_holding_lone_surrogates_are_passed_through(jobs: Server, dsn: str) -> None:
    """Rows another client wrote (or a Worker, whose handler's error message held a lone
    surrogate): every read hands the JSON on as it is stored instead of failing."""
    conn = await asyncpg.connect(dsn)
    try:
        task_id = await conn.fetchval(
            "INSERT INTO pgqueue.task (namespace, queue, payload, result, dies_at, retries) "
            """VALUES ('default', 'jobs', '"\\ud800"', '{"\\udfff": 1}', """
            "now() + interval '1 hour', 3) RETURNING id"
        )
        await conn.execute(
            "INSERT INTO pgqueue.ticker (namespace, ticker, interval, payload) "
            """VALUES ('default', 'tick', interval '1 hour', '["\\udc80"]')"""
        )
    finally:
        await conn.close()
    for path in ("/task", f"/task/{task_id}", "/ticker", "/ticker/tick", "/stats", "/metrics"):
        reply = await jobs.get(path)
        assert reply.status == 200, (path, reply.text[:300])
    assert '"payload":"\\ud800"' in (await jobs.get(f"/task/{task_id}")).text
    claimed = await jobs.put("/task", params={"worker": "w"})
    assert claimed.status == 200 and '"result":{"\\udfff": 1}' in claimed.text, claimed.text
    async with open_stream(jobs) as stream:
        event = await stream.next_event()
        assert event.event == "ticker" and '"payload":["\\udc80"]' in event.data, event
