"""Queue endpoints over HTTP: create, list, get, update, rename, pause, delete, requeue, stats."""

from __future__ import annotations

import pytest

from tests.support.server import Server

HOUR_NS = 3600 * 10**9


async def test_create_get_list_delete(server: Server) -> None:
    created = await server.post("/queue", {"queue": "emails", "ttl": "2h", "retries": 5})
    assert created.status == 201
    queue = created.json
    assert queue["queue"] == "emails"
    assert queue["namespace"] == "default"
    assert queue["ttl"] == 2 * HOUR_NS
    assert queue["retries"] == 5
    assert queue["retry_delay"] == 120 * 10**9
    assert queue["concurrency"] is None
    assert queue["paused"] is False
    assert queue["created_at"].endswith("Z")

    got = await server.get("/queue/emails")
    assert got.status == 200
    assert got.json == queue
    # Names are trimmed and lowercased, also when URL-encoded in the path.
    assert (await server.get("/queue/%20Emails%20")).json == queue

    await server.post("/queue", {"queue": "alerts", "ttl": 60 * 10**9})
    listed = await server.get("/queue")
    assert listed.status == 200
    assert listed.json["count"] == 2
    assert [q["queue"] for q in listed.json["body"]] == ["alerts", "emails"]

    deleted = await server.delete("/queue/emails")
    assert deleted.status == 200
    assert deleted.json == queue
    assert (await server.get("/queue/emails")).status == 404
    assert (await server.delete("/queue/emails")).status == 404


async def test_empty_list_has_body(server: Server) -> None:
    listed = await server.get("/queue")
    assert listed.status == 200
    assert listed.json == {"count": 0, "body": []}


async def test_paging(server: Server) -> None:
    for i in range(5):
        await server.post("/queue", {"queue": f"q{i}"})
    page = await server.get("/queue", params={"offset": "1", "limit": "2"})
    assert page.json["count"] == 5
    assert [q["queue"] for q in page.json["body"]] == ["q1", "q2"]
    # Limits above 100 are capped, not refused.
    capped = await server.get("/queue", params={"limit": "1000"})
    assert capped.status == 200
    assert len(capped.json["body"]) == 5
    beyond = await server.get("/queue", params={"offset": "10"})
    assert beyond.json == {"count": 5, "body": []}


async def test_duplicate_is_409(server: Server) -> None:
    assert (await server.post("/queue", {"queue": "dup"})).status == 201
    again = await server.post("/queue", {"queue": "dup"})
    assert again.status == 409
    assert again.json["object"] == "error"
    assert again.json["code"] == 409
    assert "dup" in again.json["reason"]


async def test_update_and_rename(server: Server) -> None:
    await server.post("/queue", {"queue": "old"})
    await server.post("/task", {"queue": "old", "payload": 1})
    patched = await server.patch("/queue/old", {"retries": 0, "retry_delay": "PT30S"})
    assert patched.status == 200
    assert patched.json["retries"] == 0
    assert patched.json["retry_delay"] == 30 * 10**9
    assert patched.json["ttl"] == HOUR_NS  # untouched

    renamed = await server.patch("/queue/old", {"queue": "new"})
    assert renamed.status == 200
    assert renamed.json["queue"] == "new"
    assert (await server.get("/queue/old")).status == 404
    tasks = await server.get("/task", params={"queue": "new"})
    assert tasks.json["count"] == 1  # the task moved along

    await server.post("/queue", {"queue": "taken"})
    clash = await server.patch("/queue/new", {"queue": "taken"})
    assert clash.status == 409
    assert (await server.patch("/queue/missing", {"retries": 1})).status == 404


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"queue": ""},
        {"retries": None, "retry_delay": None},  # what `pgqueue update-queue q` sent in Go
        {"namespace": "other", "created_at": "2030-01-01T00:00:00Z"},  # read-only, ignored
    ],
)
async def test_patch_with_nothing_to_change(server: Server, body: dict[str, object]) -> None:
    """SPEC 7.1: 400 nothing_to_change, for an existing queue and a missing one alike."""
    await server.post("/queue", {"queue": "q"})
    for name in ("q", "nope"):
        reply = await server.patch(f"/queue/{name}", body)
        assert reply.status == 400, (name, reply.text)
        assert reply.json["error"] == "nothing_to_change"
    changed = await server.patch("/queue/q", {"queue": "", "retries": 1})
    assert (changed.status, changed.json["queue"], changed.json["retries"]) == (200, "q", 1)
    missing = await server.patch("/queue/nope", {"queue": "", "retries": 1})
    assert (missing.status, missing.json["error"]) == (404, "queue_not_found")


async def test_pause_resume_and_concurrency(server: Server) -> None:
    await server.post("/queue", {"queue": "jobs", "concurrency": 2})
    await server.post("/task", {"queue": "jobs", "payload": None})
    paused = await server.patch("/queue/jobs", {"paused": True})
    assert paused.json["paused"] is True
    assert paused.json["concurrency"] == 2
    nothing = await server.put("/task/jobs", params={"worker": "w"})
    assert nothing.status == 204
    resumed = await server.patch("/queue/jobs", {"paused": False, "concurrency": 0})
    assert resumed.json["paused"] is False
    assert resumed.json["concurrency"] is None  # 0 clears the limit
    assert (await server.put("/task/jobs", params={"worker": "w"})).status == 200


async def test_requeue_queue(server: Server) -> None:
    await server.post("/queue", {"queue": "jobs", "retries": 0})
    for i in range(3):
        await server.post("/task", {"queue": "jobs", "payload": i})
    for _ in range(3):
        task = (await server.put("/task", params={"worker": "w"})).json
        await server.patch(f"/task/{task['id']}", {"fail": True, "result": "boom"})
    failed = await server.get("/task", params={"status": "failed"})
    assert failed.json["count"] == 3

    requeued = await server.post("/queue/jobs/requeue", {"status": "failed"})
    assert requeued.status == 200
    assert requeued.json == {"count": 3}
    assert (await server.get("/task", params={"status": "new"})).json["count"] == 3
    assert (await server.post("/queue/nope/requeue", {"status": "failed"})).status == 404
    bad = await server.post("/queue/jobs/requeue", {"status": "released"})
    assert bad.status == 400


async def test_stats(server: Server) -> None:
    await server.post("/queue", {"queue": "a"})
    await server.post("/queue", {"queue": "b"})
    await server.post("/task", {"queue": "a", "payload": 1})
    await server.post("/task", {"queue": "a", "payload": 2})
    await server.put("/task/a", params={"worker": "w"})
    stats = await server.get("/stats")
    assert stats.status == 200
    assert stats.json["count"] == 2
    by_queue = {s["queue"]: s for s in stats.json["body"]}
    assert by_queue["a"]["counts"]["new"] == 1
    assert by_queue["a"]["counts"]["retained"] == 1
    assert by_queue["a"]["oldest"] is not None
    assert by_queue["b"]["counts"] == {
        s: 0 for s in ("new", "retry", "retained", "released", "failed", "expired", "cancelled")
    }
