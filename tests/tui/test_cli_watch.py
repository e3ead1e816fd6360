"""`pgqueue watch`: changes as readable lines or JSON lines, filters, a clean stop on SIGINT
and SIGTERM, clear errors for bad input and an unreachable server."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable

import pytest

from pgqueue_tui.cli import EXIT_UNAVAILABLE, EXIT_USAGE
from tests.support.cli import Lines, Result, Server, assert_error, run_cli, streaming
from tests.support.net import free_port

Cli = Callable[..., Result]

# An id the server never gave: the stream starts with a reset, sent once the subscription is
# live, so that what the test changes after seeing it is certainly watched.
FROM_NOWHERE = ("--last-event-id", "1")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_watch_prints_changes_and_stops_cleanly(
    cli: Cli, server: Server, sig: signal.Signals
) -> None:
    with streaming("watch", "--types", "task,queue", *FROM_NOWHERE, url=server.url) as proc:
        out, err = Lines(proc.stdout), Lines(proc.stderr)
        err.expect("Watching the default namespace")
        out.expect("reset")
        assert cli("create-queue", "emails").code == 0
        created = cli("create-task", "emails", "--payload", "1", "--json").json()
        assert cli("retain-task", "emails", "--worker", "w").code == 0
        assert out.expect("queue   emails  created")
        line = out.expect(f"#{created['id']}  created")
        assert "task    emails" in line and "attempt 0" in line
        retained = out.expect(f"#{created['id']}  retained")
        assert "attempt 1" in retained and "waited " in retained
        assert not any("stats" in seen for seen in out.seen)  # filtered out
        proc.send_signal(sig)
        assert proc.wait(15) == 0
        assert not any("Traceback" in line for line in err.rest())


def test_watch_json_lines_and_queue_filter(cli: Cli, server: Server) -> None:
    assert cli("create-queue", "a").code == 0
    assert cli("create-queue", "b").code == 0
    args = ("--json", "watch", "--types", "task", "--queue", "b", *FROM_NOWHERE)
    with streaming(*args, url=server.url) as proc:
        out = Lines(proc.stdout)
        assert json.loads(out.expect('"reset"'))["event"] == "reset"
        assert cli("create-task", "a", "--payload", "1").code == 0
        b = cli("create-task", "b", "--payload", "2", "--json").json()
        doc = json.loads(out.expect(f'"id": {b["id"]}'))
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0
    assert doc["event"] == "task" and int(doc["id"]) > 1
    assert doc["data"]["queue"] == "b" and doc["data"]["change"] == "created"
    assert [json.loads(line)["data"].get("queue") for line in out.seen[1:]] == ["b"]


def test_watch_bad_input_and_unreachable_server(cli: Cli) -> None:
    assert_error(cli("watch", "--types", "task,nope"), EXIT_USAGE, "nope")
    assert_error(cli("watch", "--queue", "Not A Name!"), EXIT_USAGE)
    assert_error(cli("watch", "--last-event-id", "x"), EXIT_USAGE, "--last-event-id")
    gone = run_cli("watch", url=f"http://127.0.0.1:{free_port()}/api")
    assert_error(gone, EXIT_UNAVAILABLE)
    assert "Traceback" not in gone.err
