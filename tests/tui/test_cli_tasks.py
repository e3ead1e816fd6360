"""`pgqueue` task commands end to end against a real server."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from pgqueue_core import QueueMeta, TaskMeta
from tests.support.cli import Result, assert_error

Cli = Callable[..., Result]


def test_task_lifecycle(cli: Cli) -> None:
    assert cli("create-queue", "emails").code == 0
    created = cli("create-task", "emails", "--payload", '{"to": "a@b.c", "n": 1}', "--json")
    assert created.code == 0, created.err
    task = created.json()
    assert (task["queue"], task["status"], task["payload"]) == (
        "emails",
        "new",
        {"to": "a@b.c", "n": 1},
    )
    task_id = str(task["id"])

    table = cli("tasks")
    header, row = table.out.strip().splitlines()
    assert header.split()[:3] == ["ID", "QUEUE", "STATUS"]
    assert row.split()[:3] == [task_id, "emails", "new"]
    assert '"to":"a@b.c"' in row  # compact JSON (jsonb orders the keys its own way)
    assert "ready" in row

    shown = cli("task", task_id)
    assert shown.code == 0, shown.err
    assert "status:" in shown.out
    assert '"to": "a@b.c"' in shown.out

    retained = cli("retain-task", "--worker", "me", "emails")
    assert retained.code == 0, retained.err
    assert "retained" in retained.out
    assert "worker:" in retained.out
    assert "me" in retained.out

    done = cli("complete-task", task_id, "--result", '{"sent": true}', "--json")
    assert done.code == 0, done.err
    assert (done.json()["status"], done.json()["result"]) == ("released", {"sent": True})

    listed = cli("tasks", "--queue", "emails", "--status", "released", "--json").json()
    assert [t["id"] for t in listed["body"]] == [task["id"]]
    assert cli("tasks", "--status", "new", "--json").json() == {"count": 0, "body": []}
    assert cli("tasks", "--status", "new").out.strip() == "No tasks."


def test_failure_retry_cancel_requeue(cli: Cli) -> None:
    assert cli("create-queue", "q", "--retries", "1", "--retry-delay", "1h").code == 0
    task_id = str(cli("create-task", "q", "--json").json()["id"])  # payload defaults to null
    assert cli("task", task_id, "--json").json()["payload"] is None

    assert cli("retain-task", "--worker", "w").code == 0  # any queue
    failed = cli("complete-task", task_id, "--error", '{"error": "SMTP 421"}', "--json")
    assert failed.code == 0, failed.err
    assert failed.json()["status"] == "retry"
    assert failed.json()["result"] == {"error": "SMTP 421"}
    assert "runs in" in cli("tasks").out  # waiting for its backoff

    # Releasing a task that is not retained: not found.
    assert_error(cli("complete-task", task_id), 3, task_id)

    cancelled = cli("cancel-task", task_id, "--json")
    assert cancelled.code == 0, cancelled.err
    assert cancelled.json()["status"] == "cancelled"
    assert_error(cli("cancel-task", task_id), 3, "cancel")

    requeued = cli("requeue-task", task_id)
    assert requeued.code == 0, requeued.err
    assert "status:" in requeued.out
    assert "new" in requeued.out
    assert_error(cli("requeue-task", task_id), 3)  # new tasks cannot be requeued
    assert_error(cli("task", "999999"), 3, "999999")


def test_cancel_retained_task_is_flagged(cli: Cli) -> None:
    assert cli("create-queue", "q").code == 0
    task_id = str(cli("create-task", "q", "--payload", "1", "--json").json()["id"])
    assert cli("retain-task", "--worker", "w", "q").code == 0
    flagged = cli("cancel-task", task_id)
    assert flagged.code == 0, flagged.err
    assert "ends cancelled when its worker learns" in flagged.err
    assert "cancel requested:" in flagged.out


def test_delays_priority_and_dedupe(cli: Cli, tmp_path: Path) -> None:
    assert cli("create-queue", "q").code == 0
    later = cli("create-task", "q", "--delay", "1h", "--json").json()
    delayed_at = datetime.fromisoformat(later["delayed_at"])
    assert timedelta(minutes=59) < delayed_at - datetime.now(UTC) <= timedelta(hours=1)

    at = (datetime.now(UTC) + timedelta(hours=2)).replace(microsecond=0)
    local = at.astimezone().replace(tzinfo=None).isoformat()  # no offset: local time
    fixed = cli("create-task", "q", "--delayed-at", local, "--json").json()
    assert datetime.fromisoformat(fixed["delayed_at"]) == at

    assert_error(cli("create-task", "q", "--delayed-at", "2001-01-01T00:00:00Z"), 2, "delayed_at")
    assert_error(cli("create-task", "nope", "--payload", "1"), 3, "nope")

    payload_file = tmp_path / "payload.json"
    payload_file.write_text('{"from": "file"}')
    first = cli(
        "create-task", "q", "--payload", f"@{payload_file}", "--key", "k1", "--priority", "5"
    )
    assert first.code == 0, first.err
    again = cli("create-task", "q", "--payload", "2", "--key", "k1", "--json")
    assert again.code == 0
    assert again.json()["payload"] == {"from": "file"}  # the existing task came back
    assert again.json()["priority"] == 5
    human = cli("create-task", "q", "--payload", "3", "--key", "k1")
    assert "nothing was created" in human.err

    stdin = cli("create-task", "q", "--payload", "@-", "--json", stdin='["from", "stdin"]')
    assert stdin.json()["payload"] == ["from", "stdin"]

    # The highest priority is retained first, though it is not the oldest.
    assert cli("retain-task", "--worker", "w", "q", "--json").json()["key"] == "k1"


def test_retain_when_nothing_is_ready(cli: Cli) -> None:
    assert cli("create-queue", "q").code == 0
    none = cli("retain-task", "--worker", "w", "q")
    assert none.code == 0, none.err
    assert none.out.strip() == "No task is ready in queue q."
    as_json = cli("retain-task", "--worker", "w", "q", "--json")
    assert (as_json.code, as_json.out.strip()) == (0, "null")
    assert_error(cli("retain-task", "--worker", "w", "nope"), 3)


def test_paging(cli: Cli, api: Callable[..., Any]) -> None:
    api("create_queue", QueueMeta(queue="q"))
    for i in range(5):
        api("create_task", "q", TaskMeta(payload=i))
    page = cli("tasks", "--offset", "1", "--limit", "2")
    assert page.code == 0, page.err
    assert [line.split()[-1] for line in page.out.strip().splitlines()[1:]] == ["1", "2"]
    assert "showing 2-3 of 5 tasks" in page.err
    doc = cli("tasks", "--offset", "1", "--limit", "2", "--json").json()
    assert doc["count"] == 5
    assert [t["payload"] for t in doc["body"]] == [1, 2]
