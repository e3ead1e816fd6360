"""Batches over REST (SPEC 7.4): create many in one statement, claim many, release and
heartbeat many with per-item outcomes."""

from __future__ import annotations

import asyncpg
import pytest

from tests.support.server import Server


@pytest.fixture
async def queues(server: Server) -> Server:
    for name in ("a", "b"):
        assert (await server.post("/queue", {"queue": name, "retries": 1})).status == 201
    return server


async def test_create_many_in_input_order_across_queues(queues: Server) -> None:
    live = (await queues.post("/task", {"queue": "a", "payload": 0, "key": "k"})).json
    body = [
        {"queue": "b", "payload": 1},
        {"queue": "a", "payload": 2, "priority": 5},
        {"queue": "a", "payload": 3, "key": "k"},  # the live task's key: its id
        {"queue": "b", "payload": 4, "key": "new"},
        {"queue": "b", "payload": 5, "key": "new"},  # repeated in the batch: the first's id
        {"queue": "a", "payload": None, "delayed_at": "2999-01-01T00:00:00Z"},
    ]
    reply = await queues.post("/task", body)
    assert reply.status == 201, reply.text
    ids = reply.json["body"]
    assert reply.json["count"] == 6 and len(ids) == 6
    assert ids[2] == live["id"] and ids[4] == ids[3]
    for item, task_id in zip(body, ids, strict=True):
        task = (await queues.get(f"/task/{task_id}")).json
        assert task["queue"] == item["queue"]
        if (item.get("key") != "k" and task_id != ids[3]) or item["payload"] == 4:
            assert task["payload"] == item["payload"]
    assert (await queues.get("/task")).json["count"] == 5  # 1 before + 4 new
    assert (await queues.post("/task", [])).json == {"count": 0, "body": []}


@pytest.mark.parametrize(
    ("bad", "status", "fragment"),
    [
        ({"queue": "a"}, 400, "task 1: payload is required"),
        ({"payload": 1}, 400, "task 1"),
        ({"queue": "a", "payload": 1, "priority": "high"}, 400, "task 1"),
        ({"queue": "a", "payload": 1, "delayed_at": "2000-01-01T00:00:00Z"}, 400, "task 1"),
        ({"queue": "nope", "payload": 1}, 404, "task 1: queue 'nope' not found"),
        ("text", 400, "task 1"),
    ],
)
async def test_a_bad_element_creates_nothing(
    queues: Server, bad: object, status: int, fragment: str
) -> None:
    reply = await queues.post(
        "/task", [{"queue": "a", "payload": 0}, bad, {"queue": "b", "payload": 2}]
    )
    assert reply.status == status, reply.text
    assert fragment in reply.json["reason"]
    assert (await queues.get("/task")).json["count"] == 0


async def test_claim_many_at_once(queues: Server) -> None:
    await queues.post("/task", [{"queue": "a", "payload": i} for i in range(5)])
    first = await queues.put("/task/a", params={"worker": "w", "limit": "3"})
    assert first.status == 200 and first.json["count"] == 3
    assert [t["payload"] for t in first.json["body"]] == [0, 1, 2]
    assert {t["status"] for t in first.json["body"]} == {"retained"}
    rest = await queues.put("/task", params={"worker": "w", "limit": "10", "queue": "a"})
    assert [t["payload"] for t in rest.json["body"]] == [3, 4]
    assert (await queues.put("/task", params={"worker": "w", "limit": "10"})).status == 204
    # Without limit the answer is one task, as ever.
    await queues.post("/task", {"queue": "b", "payload": "x"})
    single = await queues.put("/task", params={"worker": "w"})
    assert single.json["payload"] == "x"
    for limit in ("0", "1001", "x"):
        bad = await queues.put("/task", params={"worker": "w", "limit": limit})
        assert bad.status == 400, limit


async def test_release_and_heartbeat_many_with_an_outcome_each(
    queues: Server, pool: asyncpg.Pool
) -> None:
    await queues.post("/task", [{"queue": "a", "payload": i} for i in range(4)])
    claimed = (await queues.put("/task/a", params={"worker": "w", "limit": "4"})).json["body"]
    ids = [t["id"] for t in claimed]
    done = await queues.patch(
        "/task",
        [
            {"id": ids[0], "result": {"ok": True}},
            {"id": ids[1], "fail": True, "result": {"error": "x"}},
            {"id": ids[2], "heartbeat": True, "lease": "10m"},
            {"id": 999_999},  # no such task
            {"id": ids[3], "worker": "someone-else"},  # not this worker's
        ],
    )
    assert done.status == 200, done.text
    outcomes = done.json["body"]
    assert done.json["count"] == 5
    assert outcomes[0] == {"id": ids[0], "status": "released"}
    assert outcomes[1] == {"id": ids[1], "status": "retry"}
    assert outcomes[2]["status"] == "retained" and outcomes[2]["cancel_requested"] is False
    assert outcomes[3]["error"]["error"] == "task_not_found"
    assert outcomes[3]["error"]["code"] == 404
    assert outcomes[4]["error"]["error"] == "task_not_retained"
    assert (await queues.get(f"/task/{ids[0]}")).json["result"] == {"ok": True}
    lease = await pool.fetchval(
        "SELECT leased_until - now() FROM pgqueue.task WHERE id = $1", ids[2]
    )
    assert lease.total_seconds() > 500
    # The item the other worker could not release is still retained.
    assert (await queues.get(f"/task/{ids[3]}")).json["status"] == "retained"


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"id": 1}, "JSON array"),
        ([{"fail": True}], "item 0: id is required"),
        ([{"id": 1}, {"id": 2, "heartbeat": True, "fail": True}], "item 1"),
        ([{"id": 1, "lease": "1m"}], "item 0: lease is only accepted with heartbeat"),
        ([{"id": 1, "bogus": 1}], "unknown field"),
    ],
)
async def test_a_malformed_patch_changes_nothing(
    queues: Server, body: object, fragment: str
) -> None:
    await queues.post("/task", {"queue": "a", "payload": 1})
    claimed = (await queues.put("/task/a", params={"worker": "w"})).json
    reply = await queues.patch("/task", body)
    assert reply.status == 400 and fragment in reply.json["reason"], reply.text
    assert (await queues.get(f"/task/{claimed['id']}")).json["status"] == "retained"
