"""Task endpoints over HTTP: create, de-dup, list, retain, release, heartbeat, cancel, requeue."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.support.server import Server


@pytest.fixture
async def queues(server: Server) -> Server:
    for name in ("a", "b", "c"):
        assert (await server.post("/queue", {"queue": name, "retries": 1})).status == 201
    return server


async def test_create_and_get(queues: Server) -> None:
    created = await queues.post("/task", {"queue": "a", "payload": {"to": "x@y.z"}})
    assert created.status == 201
    task = created.json
    assert task["status"] == "new"
    assert task["payload"] == {"to": "x@y.z"}
    assert task["attempt"] == 0
    assert task["retries"] == 1
    got = await queues.get(f"/task/{task['id']}")
    assert got.status == 200
    assert got.json == task
    assert (await queues.get("/task/999999")).status == 404


async def test_null_payload_and_delay(queues: Server) -> None:
    later = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    created = await queues.post("/task", {"queue": "a", "payload": None, "delayed_at": later})
    assert created.status == 201
    assert created.json["payload"] is None
    assert created.json["delayed_at"].startswith(later[:19])
    # Delayed: nothing to retain yet.
    assert (await queues.put("/task", params={"worker": "w"})).status == 204


async def test_unknown_queue_is_404(queues: Server) -> None:
    missing = await queues.post("/task", {"queue": "nope", "payload": 1})
    assert missing.status == 404
    assert "nope" in missing.json["reason"]
    assert (await queues.put("/task/nope", params={"worker": "w"})).status == 404
    assert (await queues.put("/task", params={"worker": "w", "queue": "nope"})).status == 404


async def test_dedupe_key(queues: Server) -> None:
    first = await queues.post("/task", {"queue": "a", "payload": 1, "key": "k"})
    assert first.status == 201
    again = await queues.post("/task", {"queue": "a", "payload": 2, "key": "k"})
    assert again.status == 200
    assert again.json["id"] == first.json["id"]
    assert again.json["payload"] == 1


async def test_priority(queues: Server) -> None:
    low = (await queues.post("/task", {"queue": "a", "payload": "low"})).json
    high = (await queues.post("/task", {"queue": "a", "payload": "high", "priority": 5})).json
    assert high["priority"] == 5
    first = await queues.put("/task", params={"worker": "w"})
    assert first.json["id"] == high["id"]
    second = await queues.put("/task", params={"worker": "w"})
    assert second.json["id"] == low["id"]


async def test_list_filters(queues: Server) -> None:
    for queue in ("a", "a", "b"):
        await queues.post("/task", {"queue": queue, "payload": queue})
    await queues.put("/task/b", params={"worker": "w"})
    everything = await queues.get("/task")
    assert everything.json["count"] == 3
    ids = [t["id"] for t in everything.json["body"]]
    assert ids == sorted(ids)
    only_a = await queues.get("/task", params={"queue": "a"})
    assert only_a.json["count"] == 2
    retained = await queues.get("/task", params={"status": "retained"})
    assert [t["queue"] for t in retained.json["body"]] == ["b"]
    both = await queues.get("/task", params={"queue": "a", "status": "retained"})
    assert both.json == {"count": 0, "body": []}
    paged = await queues.get("/task", params={"limit": "1", "offset": "1"})
    assert paged.json["count"] == 3
    assert [t["id"] for t in paged.json["body"]] == [ids[1]]


async def test_retain_any_several_and_one(queues: Server) -> None:
    ids = {}
    for queue in ("a", "b", "c"):
        ids[queue] = (await queues.post("/task", {"queue": queue, "payload": queue})).json["id"]
    # Several queues, repeated and comma-separated (as the original client could send them).
    got = await queues.put("/task", params=[("worker", "w1"), ("queue", "c,b")])
    assert got.status == 200
    first = got.json["queue"]
    assert first in ("b", "c")  # queues take turns in a weighted random order
    assert got.json["status"] == "retained"
    assert got.json["worker"] == "w1"
    assert got.json["attempt"] == 1
    # One queue in the path.
    other = "b" if first == "c" else "c"
    got = await queues.put(f"/task/{other}", params={"worker": "w2"})
    assert got.json["id"] == ids[other]
    # Any queue: none named.
    got = await queues.put("/task", params={"worker": "w3"})
    assert got.json["id"] == ids["a"]
    assert (await queues.put("/task", params={"worker": "w3"})).status == 204


async def test_retain_with_json_body(queues: Server) -> None:
    await queues.post("/task", {"queue": "b", "payload": 1})
    got = await queues.put("/task", {"worker": "w", "queue": ["a", "b"]})
    assert got.status == 200
    assert got.json["queue"] == "b"
    await queues.post("/task", {"queue": "c", "payload": 1})
    got = await queues.put("/task", {"worker": "w", "queue": "c"})
    assert got.json["queue"] == "c"
    await queues.post("/task", {"queue": "a", "payload": 1})
    got = await queues.put("/task/a", {"worker": "w"})
    assert got.json["queue"] == "a"
    clash = await queues.put("/task", {"worker": "w"}, params={"worker": "v"})
    assert clash.status == 400


async def test_release_success_and_failure(queues: Server) -> None:
    await queues.post("/task", {"queue": "a", "payload": 1})
    task = (await queues.put("/task", params={"worker": "w"})).json
    # The original client sends {} for success.
    done = await queues.patch(f"/task/{task['id']}", {})
    assert done.status == 200
    assert done.json["status"] == "released"
    assert done.json["finished_at"] is not None
    again = await queues.patch(f"/task/{task['id']}", {})
    assert again.status == 404
    assert "not retained" in again.json["reason"]
    assert again.json["error"] == "task_not_retained"

    await queues.post("/task", {"queue": "a", "payload": 2})
    task = (await queues.put("/task", params={"worker": "w"})).json
    failed = await queues.patch(f"/task/{task['id']}", {"fail": True, "result": {"error": "x"}})
    assert failed.json["status"] == "retry"
    assert failed.json["retries"] == 0
    assert failed.json["result"] == {"error": "x"}
    assert (await queues.patch("/task/424242", {})).status == 404


async def test_release_without_body_and_worker_guard(queues: Server) -> None:
    await queues.post("/task", {"queue": "a", "payload": 1})
    task = (await queues.put("/task", params={"worker": "w"})).json
    wrong = await queues.patch(f"/task/{task['id']}", {"worker": "other"})
    assert wrong.status == 404
    done = await queues.call("PATCH", f"/task/{task['id']}")
    assert done.status == 200
    assert done.json["status"] == "released"


async def test_heartbeat(queues: Server) -> None:
    await queues.post("/task", {"queue": "a", "payload": 1})
    task = (await queues.put("/task", params={"worker": "w"})).json
    before = datetime.fromisoformat(task["leased_until"])
    beat = await queues.patch(
        f"/task/{task['id']}", {"heartbeat": True, "lease": "1h", "worker": "w"}
    )
    assert beat.status == 200
    assert beat.json["status"] == "retained"
    assert datetime.fromisoformat(beat.json["leased_until"]) > before + timedelta(minutes=30)
    wrong = await queues.patch(f"/task/{task['id']}", {"heartbeat": True, "worker": "x"})
    assert wrong.status == 404
    await queues.patch(f"/task/{task['id']}", {})
    gone = await queues.patch(f"/task/{task['id']}", {"heartbeat": True})
    assert gone.status == 404


async def test_cancel_and_requeue(queues: Server) -> None:
    task = (await queues.post("/task", {"queue": "a", "payload": 1})).json
    cancelled = await queues.post(f"/task/{task['id']}/cancel")
    assert cancelled.status == 200
    assert cancelled.json["status"] == "cancelled"
    twice = await queues.post(f"/task/{task['id']}/cancel")
    assert twice.status == 409
    requeued = await queues.post(f"/task/{task['id']}/requeue")
    assert requeued.status == 200
    assert requeued.json["status"] == "new"
    not_terminal = await queues.post(f"/task/{task['id']}/requeue")
    assert not_terminal.status == 409
    assert (await queues.post("/task/987654/cancel")).status == 404
    assert (await queues.post("/task/987654/requeue")).status == 404

    # A retained task is flagged; its worker learns at its next heartbeat.
    held = (await queues.put("/task", params={"worker": "w"})).json
    flagged = await queues.post(f"/task/{held['id']}/cancel")
    assert flagged.json["cancel_requested"] is True
    beat = await queues.patch(f"/task/{held['id']}", {"heartbeat": True})
    assert beat.json["cancel_requested"] is True
