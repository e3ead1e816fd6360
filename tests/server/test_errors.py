"""Bad input is a 400 that names the problem; Sanic's own errors, 500s and 503s use the same
error body; no traceback ever reaches a client."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from pgqueue_core import Manager
from tests.support.server import Reply, Server, make_config, serving_app

PAST = "2001-01-01T00:00:00Z"
BIG = "9" * 5000

# (method, path, request kwargs, a fragment of the reason)
BAD_INPUT: list[tuple[str, str, dict[str, Any], str]] = [
    ("POST", "/queue", {"data": b"{bad"}, "malformed JSON"),
    ("POST", "/queue", {"data": b""}, "body is required"),
    ("POST", "/queue", {"data": b"\xff\xfe"}, "UTF-8"),
    ("POST", "/queue", {"data": b"NaN"}, "NaN"),
    ("POST", "/queue", {"data": b"[" * 100_000}, "malformed JSON"),
    ("POST", "/queue", {"data": '{"queue": "q", "retries": ' + BIG + "}"}, "malformed JSON"),
    ("POST", "/queue", {"body": [1, 2]}, "JSON object"),
    ("POST", "/queue", {"body": "queue"}, "JSON object"),
    ("POST", "/queue", {"data": b"null"}, "JSON object"),
    ("POST", "/queue", {"body": {}}, "name is required"),
    ("POST", "/queue", {"body": {"queue": 5}}, "queue must be a string"),
    ("POST", "/queue", {"body": {"queue": "Bad Name!"}}, "invalid queue name"),
    ("POST", "/queue", {"body": {"queue": "q", "ttl": "soon"}}, "ttl"),
    ("POST", "/queue", {"body": {"queue": "q", "ttl": -5}}, "ttl must be positive"),
    ("POST", "/queue", {"body": {"queue": "q", "ttl": 2**70}}, "ttl is too long"),
    ("POST", "/queue", {"body": {"queue": "q", "retries": -1}}, "retries"),
    ("POST", "/queue", {"body": {"queue": "q", "retries": "3"}}, "retries must be an integer"),
    ("POST", "/queue", {"body": {"queue": "q", "retries": 2**40}}, "retries"),
    ("POST", "/queue", {"body": {"queue": "q", "lease": "10ms"}}, "lease"),
    ("POST", "/queue", {"body": {"queue": "q", "paused": "yes"}}, "paused"),
    ("POST", "/queue", {"body": {"queue": "q", "colour": "red"}}, "unknown field"),
    ("GET", "/queue", {"params": {"limit": "-1"}}, "limit"),
    ("GET", "/queue", {"params": {"limit": "ten"}}, "limit"),
    ("GET", "/queue", {"params": {"offset": "1.5"}}, "offset"),
    ("GET", "/queue", {"params": {"offset": "9" * 30}}, "offset"),
    ("GET", "/queue", {"params": {"offset": str(10**19)}}, "offset"),
    ("GET", "/queue", {"params": [("limit", "1"), ("limit", "2")]}, "more than once"),
    ("GET", "/queue", {"params": {"colour": "red"}}, "unknown query parameter"),
    ("GET", "/queue/BAD!", {}, "invalid queue name"),
    ("GET", "/queue", {"params": {"namespace": "Not OK"}}, "namespace"),
    ("GET", "/queue", {"params": {"namespace": ""}}, "namespace"),
    ("GET", "/task", {"params": {"queue": ""}}, "invalid queue name"),
    ("PUT", "/task", {"params": {"worker": "w", "queue": "a,,b"}}, "empty value"),
    ("PUT", "/task", {"params": {"worker": ""}}, "worker"),
    ("GET", "/queue", {"params": {"limit": ""}}, "limit"),
    ("GET", "/queue/a%2Fb", {}, "invalid queue name"),
    ("GET", "/task", {"params": {"status": "bogus"}}, "unknown status"),
    ("GET", "/task", {"params": {"queue": "no way"}}, "invalid queue name"),
    ("GET", "/task/abc", {}, "task id"),
    ("GET", "/task/0", {}, "task id"),
    ("GET", "/task/" + "9" * 25, {}, "task id"),
    ("PATCH", "/task/abc", {"body": {}}, "task id"),
    ("PATCH", "/task/1", {"body": []}, "JSON object"),
    ("PATCH", "/task/1", {"body": {"fail": "yes"}}, "fail"),
    ("PATCH", "/task/1", {"body": {"done": True}}, "unknown field"),
    ("PATCH", "/task/1", {"body": {"heartbeat": True, "fail": True}}, "heartbeat"),
    ("PATCH", "/task/1", {"body": {"heartbeat": True, "lease": "x"}}, "lease"),
    ("PATCH", "/task/1", {"body": {"lease": "5m"}}, "heartbeat"),
    ("PATCH", "/task/1", {"body": {"worker": 7}}, "worker"),
    ("POST", "/task/x/cancel", {}, "task id"),
    ("POST", "/task/-3/requeue", {}, "task id"),
    ("PUT", "/task", {}, "worker is required"),
    ("PUT", "/task", {"params": {"worker": " "}}, "worker"),
    ("PUT", "/task", {"body": {"worker": "w", "queue": 5}}, "queue"),
    ("PUT", "/task", {"body": {"worker": "w", "queues": ["a"]}}, "unknown field"),
    ("PUT", "/task", {"params": {"worker": "w", "queue": "Not Valid"}}, "invalid queue name"),
    ("PUT", "/task", {"params": {"worker": "w" * 300}}, "worker"),
    ("PUT", "/task/jobs", {}, "worker is required"),
    ("PUT", "/task/jobs", {"body": {"worker": "w", "queue": "x"}}, "unknown field"),
    ("POST", "/task", {"body": {"queue": "jobs"}}, "payload is required"),
    ("POST", "/task", {"body": {"payload": 1}}, "queue is required"),
    ("POST", "/task", {"body": {"queue": "jobs", "payload": 1, "delayed_at": "soon"}}, "RFC"),
    ("POST", "/task", {"body": {"queue": "jobs", "payload": 1, "delayed_at": PAST}}, "past"),
    ("POST", "/task", {"body": {"queue": "jobs", "payload": 1, "priority": "hi"}}, "priority"),
    ("POST", "/task", {"body": {"queue": "jobs", "payload": 1, "priority": 2**40}}, "priority"),
    ("POST", "/task", {"body": {"queue": "jobs", "payload": 1, "key": ""}}, "key"),
    # Text PostgreSQL cannot store: refused with the field's name, not the driver's message.
    ("POST", "/task", {"body": {"queue": "jobs", "payload": 1, "key": "a\x00"}}, "key must not"),
    ("POST", "/task", {"data": b'{"queue":"jobs","payload":1,"key":"\\ud800"}'}, "key holds a"),
    ("PUT", "/task", {"data": b'{"worker": "w\\u0000"}'}, "worker must not contain a NUL"),
    ("PUT", "/task", {"data": b'{"worker": "\\udfff"}'}, "worker holds a lone surrogate"),
    ("PUT", "/task", {"params": {"worker": "a\x00b"}}, "worker must not contain a NUL"),
    ("PATCH", "/task/1", {"data": b'{"worker": "\\ud800"}'}, "worker holds a lone surrogate"),
    ("POST", "/queue/jobs/requeue", {"body": {}}, "status is required"),
    ("POST", "/queue/jobs/requeue", {"body": {"status": "released"}}, "requeued"),
    ("POST", "/queue/jobs/requeue", {"body": {"status": "nope"}}, "unknown status"),
    ("POST", "/ticker", {"body": {"ticker": "t", "interval": 0}}, "interval"),
]


@pytest.fixture
async def jobs(server: Server) -> Server:
    await server.post("/queue", {"queue": "jobs"})
    return server


def _assert_error(reply: Reply, status: int, key: str | None = None) -> dict[str, Any]:
    assert reply.status == status, reply.text
    assert reply.headers["Content-Type"].startswith("application/json")
    body: dict[str, Any] = reply.json
    assert set(body) == {"object", "code", "reason", "detail", "error"}
    assert body["object"] == "error"
    assert body["code"] == status
    assert isinstance(body["error"], str) and body["error"].isidentifier(), body
    if key is not None:
        assert body["error"] == key, body
    assert "Traceback" not in reply.text
    return body


async def test_bad_input_is_400(jobs: Server) -> None:
    """The whole table against one server; every case that misbehaves is reported."""
    problems = []
    for method, path, kwargs, fragment in BAD_INPUT:
        reply = await jobs.call(method, path, **kwargs)
        try:
            body = _assert_error(reply, 400, "invalid_argument")
            assert body["reason"].startswith("Bad Request: ")
            assert fragment.lower() in body["reason"].lower()
        except AssertionError:
            problems.append(f"{method} {path} {kwargs!r:.80}: {reply.status} {reply.text:.200}")
    assert not problems, "\n".join(problems)


async def test_unknown_path_is_404(server: Server) -> None:
    _assert_error(await server.get("/nothing/here"), 404, "endpoint_not_found")
    _assert_error(await server.get("/queue/a/b/c"), 404, "endpoint_not_found")


WRONG_METHODS = [
    ("DELETE", "/task"),
    ("POST", "/namespace"),
    ("PUT", "/queue"),
    ("DELETE", "/task/1"),
    ("POST", "/metrics"),
    ("POST", "/health"),
    ("PUT", "/ticker/t"),
    ("POST", "/ticker/next"),
]


async def test_wrong_method_is_405(server: Server) -> None:
    for method, path in WRONG_METHODS:
        reply = await server.call(method, path)
        _assert_error(reply, 405, "method_not_allowed")
        assert reply.headers.get("Allow"), (method, path)
        assert method not in reply.headers["Allow"]


async def test_oversized_body_is_413(dsn: str) -> None:
    async with serving_app(make_config(dsn, max_body=1024)) as srv:
        big = {"queue": "jobs", "payload": "x" * 2048}
        _assert_error(await srv.post("/task", big), 413, "body_too_large")
        # The connection was dropped; the server carries on.
        assert (await srv.get("/health")).status == 200


async def test_unexpected_error_is_500_without_details(
    server: Server, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    async def broken(self: Manager, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("internal detail that must not leak")

    monkeypatch.setattr(Manager, "list_queues", broken)
    caplog.set_level(logging.ERROR, logger="pgqueue.server")
    reply = await server.get("/queue")
    body = _assert_error(reply, 500, "internal_error")
    assert "internal detail" not in reply.text
    assert body["detail"] is None
    assert "internal detail that must not leak" in caplog.text  # logged on the server
    assert (await server.get("/health")).status == 200


async def test_database_unavailable_is_503(server: Server) -> None:
    await server.app.ctx.pool.close()
    for path in ("/queue", "/health", "/metrics"):
        reply = await server.get(path)
        _assert_error(reply, 503, "unavailable")
        assert int(reply.headers["Retry-After"]) > 0


async def test_a_message_quoting_a_lone_surrogate_is_sent(jobs: Server) -> None:
    """`POST /api/queue` with the body `{"\\ud800": 1}`: the 400 names the unknown field, a
    lone surrogate no UTF-8 writer accepts; writing the envelope failed and Sanic answered
    a plain-text 500 "An error occurred while handling an error"."""
    for method, path in (
        ("POST", "/queue"),
        ("PATCH", "/queue/jobs"),
        ("POST", "/ticker"),
        ("POST", "/task"),
        ("PUT", "/task"),
        ("POST", "/queue/jobs/requeue"),
    ):
        reply = await jobs.call(method, path, data=b'{"\\ud800": 1, "a\\udfffb": 2}')
        body = _assert_error(reply, 400, "invalid_argument")
        assert "\\ud800" in body["reason"] and "a\\udfffb" in body["reason"], (path, body)
