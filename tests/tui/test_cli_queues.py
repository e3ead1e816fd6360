"""`pgqueue` queue commands end to end against a real server."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

import pytest

from pgqueue_core import QueueMeta, TaskMeta
from tests.support.cli import Result, assert_error
from tests.support.waiting import wait_for_sync

Cli = Callable[..., Result]
Api = Callable[..., Any]


def test_queue_lifecycle(cli: Cli) -> None:
    created = cli(
        "create-queue", "emails", "--ttl", "1h30m", "--retries", "5", "--retry-delay", "90s"
    )
    assert created.code == 0, created.err
    assert "ttl:" in created.out
    assert "1h30m" in created.out
    assert "retry delay:" in created.out
    assert "1m30s" in created.out

    table = cli("queues")
    assert table.code == 0, table.err
    header, row = table.out.strip().splitlines()
    assert header.split()[:3] == ["QUEUE", "TTL", "RETRIES"]
    assert row.split()[:3] == ["emails", "1h30m", "5"]
    assert header.index("RETRIES") < row.index("5") + 1  # numbers align under their header

    shown = cli("queue", "emails", "--json")
    assert shown.code == 0, shown.err
    doc = shown.json()
    assert doc["queue"] == "emails"
    assert doc["ttl"] == 90 * 60 * 10**9  # exactly the API's JSON: nanoseconds
    assert doc["retries"] == 5

    updated = cli("update-queue", "emails", "--retries", "7", "--name", "mail", "--json")
    assert updated.code == 0, updated.err
    assert (updated.json()["queue"], updated.json()["retries"]) == ("mail", 7)
    assert updated.json()["ttl"] == doc["ttl"]  # untouched

    listed = cli("--json", "queues")
    assert [q["queue"] for q in listed.json()["body"]] == ["mail"]
    assert listed.json()["count"] == 1

    deleted = cli("delete-queue", "mail")
    assert deleted.code == 0, deleted.err
    assert "Deleted queue mail" in deleted.out
    assert cli("queues").out.strip() == "No queues."


def test_queue_errors(cli: Cli) -> None:
    assert_error(cli("queue", "missing"), 3, "missing")
    assert_error(cli("delete-queue", "missing"), 3)
    assert_error(cli("update-queue", "missing", "--retries", "1"), 3)
    assert cli("create-queue", "q").code == 0
    assert_error(cli("create-queue", "q"), 3, "exists")
    assert cli("create-queue", "r").code == 0
    assert_error(cli("update-queue", "r", "--name", "q"), 3)


def test_namespaces_flag_and_environment(cli: Cli) -> None:
    assert cli("create-queue", "a", "--namespace", "alpha").code == 0
    assert cli("create-queue", "b", PGQUEUE_NAMESPACE="beta").code == 0
    names = cli("namespaces")
    assert names.code == 0, names.err
    assert {"alpha", "beta"} <= set(names.out.split())
    assert cli("--json", "namespaces").json()["body"] == sorted(names.out.split())
    # Each namespace sees its own queues only.
    assert [q["queue"] for q in cli("queues", "--json", "--namespace", "alpha").json()["body"]] == [
        "a"
    ]
    assert cli("queues", PGQUEUE_NAMESPACE="beta").out.splitlines()[1].split()[0] == "b"
    assert_error(cli("queue", "a", "--namespace", "beta"), 3)
    assert_error(cli("queues", "--namespace", "Not Valid!"), 2)


def test_pause_resume_and_concurrency(cli: Cli) -> None:
    assert cli("create-queue", "jobs", "--concurrency", "2", "--lease", "30s").code == 0
    assert cli("create-task", "jobs", "--payload", "1").code == 0
    paused = cli("pause-queue", "jobs")
    assert paused.code == 0, paused.err
    assert "Paused queue jobs" in paused.out
    assert cli("queue", "jobs", "--json").json()["paused"] is True
    assert "paused" in cli("queues").out
    assert "No task is ready" in cli("retain-task", "--worker", "w", "jobs").out
    assert cli("resume-queue", "jobs").code == 0
    assert cli("retain-task", "--worker", "w", "jobs", "--json").json()["status"] == "retained"
    shown = cli("queue", "jobs")
    assert "concurrency:" in shown.out
    assert "2" in shown.out
    assert "30s" in shown.out
    cleared = cli("update-queue", "jobs", "--concurrency", "0", "--json")
    assert cleared.json()["concurrency"] is None
    assert_error(cli("pause-queue", "nope"), 3)


def test_stats_and_requeue(cli: Cli, api: Api) -> None:
    api("create_queue", QueueMeta(queue="q", retries=0))
    for payload in (1, 2, 3):
        api("create_task", "q", TaskMeta(payload=payload))
    for _ in range(2):
        task = api("next_task", "w", "q")
        api("release_task", task.id, success=False, result="boom")

    stats = cli("stats")
    assert stats.code == 0, stats.err
    header, row = stats.out.strip().splitlines()
    assert header.split()[:7] == [
        "QUEUE",
        "NEW",
        "RETRY",
        "RETAINED",
        "RELEASED",
        "FAILED",
        "EXPIRED",
    ]
    assert row.split()[:7] == ["q", "1", "0", "0", "0", "2", "0"]
    counts = cli("stats", "--json").json()["body"][0]["counts"]
    assert counts["failed"] == 2

    requeued = cli("requeue", "--queue", "q", "--status", "failed")
    assert requeued.code == 0, requeued.err
    assert requeued.out.strip() == "Requeued 2 failed tasks of queue q."
    assert cli("requeue", "--queue", "q", "--status", "failed", "--json").json() == {"count": 0}
    assert cli("tasks", "--status", "new", "--json").json()["count"] == 3
    assert_error(cli("requeue", "--queue", "nope", "--status", "expired"), 3)


def test_a_wrong_url_prefix_names_the_url_and_the_flag(cli: Cli, server: Any) -> None:
    base = server.url.rsplit("/", 1)[0]  # the server's address without its /api prefix
    wrong = cli("queues", PGQUEUE_URL=f"{base}/v1")
    assert_error(wrong, 3, f"no such endpoint: {base}/v1/queue", "--url", "--prefix")


def test_flow_control_settings(cli: Cli) -> None:
    created = cli(
        "create-queue", "hooks", "--rate", "200", "--burst", "50", "--weight", "3",
        "--breaker-threshold", "5", "--breaker-cooldown", "2m",
    )  # fmt: skip
    assert created.code == 0, created.err
    for line in (
        "rate:",
        "200/s, burst 50",
        "weight:",
        "breaker:",
        "closed",
        "failures in a row:",
        "0 of 5",
        "breaker cooldown:",
        "2m",
    ):
        assert line in created.out, (line, created.out)

    doc = cli("queue", "hooks", "--json").json()
    assert (doc["rate"], doc["burst"], doc["weight"]) == (200, 50, 3)
    assert (doc["breaker_threshold"], doc["breaker_cooldown"]) == (5, 120 * 10**9)
    assert (doc["breaker"], doc["breaker_open_until"], doc["breaker_failures"]) == (
        "closed",
        None,
        0,
    )

    header, row = cli("queues").out.strip().splitlines()
    assert header.split()[-3:] == ["RATE", "BREAKER", "STATE"]
    assert row.split()[-3:] == ["200/s", "closed", "active"]
    assert header.index("RATE") == row.index("200/s")  # aligned under its header

    updated = cli("update-queue", "hooks", "--rate", "0.5", "--burst", "0", "--json")
    assert updated.code == 0, updated.err
    assert (updated.json()["rate"], updated.json()["burst"]) == (0.5, None)
    assert "0.5/s" in cli("queue", "hooks").out

    cleared = cli("update-queue", "hooks", "--rate", "0", "--breaker-threshold", "0", "--json")
    assert cleared.code == 0, cleared.err
    assert (cleared.json()["rate"], cleared.json()["breaker_threshold"]) == (None, None)
    shown = cli("queue", "hooks").out
    assert "unlimited" in shown.split("rate:")[1].splitlines()[0]
    assert shown.split("breaker:")[1].splitlines()[0].strip() == "none"
    assert cli("queues").out.strip().splitlines()[1].split()[-3:] == ["unlimited", "-", "active"]


@pytest.mark.parametrize(
    ("flag", "value", "fragment"),
    [
        ("--rate", "-1", "not between 0 and 1e9"),
        ("--rate", "fast", "not a number"),
        ("--rate", "nan", "not between 0 and 1e9"),
        ("--rate", "inf", "not between 0 and 1e9"),
        ("--burst", "-2", "must not be negative"),
        ("--burst", "1.5", "not a whole number"),
        ("--weight", "0", "at least 1"),
        ("--weight", "1001", "more than 1000"),
        ("--breaker-threshold", "-1", "must not be negative"),
        ("--breaker-cooldown", "500ms", "not between 1s and 365d"),
        ("--breaker-cooldown", "400d", "not between 1s and 365d"),
        ("--breaker-cooldown", "soon", "--breaker-cooldown"),
    ],
)
def test_flow_control_values_are_checked_before_any_request(
    cli: Cli, flag: str, value: str, fragment: str
) -> None:
    for command in ("create-queue", "update-queue"):
        assert_error(cli(command, "q", flag, value), 2, flag, fragment)
    assert cli("queues").out.strip() == "No queues."  # nothing was sent


def test_reset_breaker(cli: Cli, api: Api) -> None:
    api(
        "create_queue",
        QueueMeta(queue="q", retries=5, breaker_threshold=1, breaker_cooldown=timedelta(hours=1)),
    )
    api("create_task", "q", TaskMeta(payload=1))
    task = api("next_task", "w", "q")
    api("release_task", task.id, success=False, result="boom")  # one failure opens it

    doc = cli("queue", "q", "--json").json()
    assert (doc["breaker"], doc["breaker_failures"]) == ("open", 1)
    until = datetime.fromisoformat(doc["breaker_open_until"]).astimezone().strftime("%H:%M:%S")
    shown = cli("queue", "q").out
    assert f"open until {until} (in 59m" in shown, shown
    assert "1 of 1" in shown
    assert f"open until {until}" in cli("queues").out
    assert f"q (breaker open until {until})" in cli("stats").out
    stats = cli("stats", "--json").json()["body"][0]
    assert (stats["breaker"], stats["breaker_open_until"]) == ("open", doc["breaker_open_until"])

    reset = cli("reset-breaker", "q")
    assert reset.code == 0, reset.err
    assert reset.out.strip() == "Closed the circuit breaker of queue q: its tasks go out again."
    doc = cli("queue", "q", "--json").json()
    assert (doc["breaker"], doc["breaker_open_until"], doc["breaker_failures"]) == (
        "closed",
        None,
        0,
    )
    assert "(breaker" not in cli("stats").out
    assert cli("reset-breaker", "q", "--json").json()["breaker"] == "closed"  # the Queue
    assert_error(cli("reset-breaker", "missing"), 3, "missing")
    assert_error(cli("reset-breaker", "Not Valid!"), 2)

    api("update_queue", "q", QueueMeta(breaker_threshold=0))
    assert "has no circuit breaker" in cli("reset-breaker", "q").out


def test_a_breaker_past_its_cooldown_is_half_open(cli: Cli, api: Api) -> None:
    api(
        "create_queue",
        QueueMeta(queue="q", breaker_threshold=1, breaker_cooldown=timedelta(seconds=1)),
    )
    api("create_task", "q", TaskMeta(payload=1))
    api("release_task", api("next_task", "w", "q").id, success=False)
    # The cooldown must really pass on the database's clock.
    wait_for_sync(lambda: api("get_queue", "q").breaker == "half-open", 10, "the cooldown")
    assert cli("queue", "q").out.split("breaker:")[1].split()[0] == "half-open"
    assert "half-open" in cli("queues").out
    assert "q (breaker half-open)" in cli("stats").out
