"""`pgqueue` ticker commands, next-ticker across a server crash, and authentication."""

from __future__ import annotations

import json
import signal
from collections.abc import Callable

from tests.support.cli import Lines, Result, Server, assert_error, run_cli, streaming

Cli = Callable[..., Result]


def test_ticker_lifecycle(cli: Cli) -> None:
    created = cli("create-ticker", "hourly", "--interval", "1h", "--payload", '{"kind": "h"}')
    assert created.code == 0, created.err
    assert "interval:" in created.out
    assert "1h" in created.out
    assert "never" in created.out

    table = cli("tickers")
    header, row = table.out.strip().splitlines()
    assert header.split() == ["TICKER", "INTERVAL", "LAST", "FIRED", "NEXT", "PAYLOAD"]
    assert row.split()[:3] == ["hourly", "1h", "never"]
    assert '{"kind":"h"}' in row

    doc = cli("ticker", "hourly", "--json").json()
    assert doc["interval"] == 3600 * 10**9
    assert doc["payload"] == {"kind": "h"}

    updated = cli("update-ticker", "hourly", "--interval", "2h", "--name", "bi-hourly", "--json")
    assert updated.code == 0, updated.err
    assert (updated.json()["ticker"], updated.json()["interval"]) == ("bi-hourly", 7200 * 10**9)
    assert (
        cli("update-ticker", "bi-hourly", "--payload", "null", "--json").json()["payload"] is None
    )

    assert cli("--json", "tickers").json()["count"] == 1
    deleted = cli("delete-ticker", "bi-hourly")
    assert "Deleted ticker bi-hourly" in deleted.out
    assert cli("tickers").out.strip() == "No tickers."


def test_create_ticker_interval_is_optional_and_positional(cli: Cli) -> None:
    """Without an interval a ticker fires every minute (the original CLI's documented
    default); the interval may follow the name, as well as come with --interval."""
    plain = cli("create-ticker", "heartbeat", "--json")
    assert plain.code == 0, plain.err
    assert plain.json()["interval"] == 60 * 10**9
    assert "1m" in cli("ticker", "heartbeat").out
    positional = cli("create-ticker", "sweep", "2s", "--json")
    assert positional.code == 0, positional.err
    assert positional.json()["interval"] == 2 * 10**9
    assert_error(cli("create-ticker", "both", "2s", "--interval", "3s"), 2, "once")
    assert_error(cli("create-ticker", "short", "500ms"), 2, "interval")
    assert_error(cli("create-ticker", "bad", "often"), 2)
    help_text = cli("create-ticker", "--help").out
    assert "INTERVAL" in help_text and "default 1m" in help_text


def test_ticker_errors(cli: Cli) -> None:
    assert_error(cli("ticker", "nope"), 3, "nope")
    assert_error(cli("delete-ticker", "nope"), 3)
    assert cli("create-ticker", "t", "--interval", "1m").code == 0
    assert_error(cli("create-ticker", "t", "--interval", "1m"), 3, "exists")
    assert_error(cli("update-ticker", "t", "--interval", "500ms"), 2, "interval")


def test_next_ticker_prints_firings_and_exits_0_on_ctrl_c(cli: Cli, server: Server) -> None:
    assert (
        cli("create-ticker", "every-second", "--interval", "1s", "--payload", '{"n": 1}').code == 0
    )
    with streaming("next-ticker", url=server.url) as proc:
        out, err = Lines(proc.stdout), Lines(proc.stderr)
        err.expect("Waiting for tickers")
        line = out.expect("every-second")
        assert line.endswith('every-second  {"n":1}')
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0
        assert not any("Traceback" in line for line in err.rest())


def test_next_ticker_json_survives_a_server_crash(cli: Cli, server: Server) -> None:
    assert cli("create-ticker", "tick", "--interval", "1s").code == 0
    with streaming("next-ticker", "--json", url=server.url) as proc:
        out, err = Lines(proc.stdout), Lines(proc.stderr)
        first = json.loads(out.expect('"tick"'))
        assert first["ticker"] == "tick"
        assert first["timestamp"]
        server.kill()
        err.expect("Connection lost")
        server.start()
        err.expect("Reconnected", timeout=30)
        second = json.loads(out.expect('"tick"', timeout=30))
        assert second["timestamp"] > first["timestamp"]
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 0


def test_next_ticker_fails_fast_when_never_connected() -> None:
    from .test_cli_basics import unreachable_url

    url = unreachable_url()
    assert_error(run_cli("next-ticker", url=url), 4, url)


def test_token(start_server: Callable[..., Server]) -> None:
    server = start_server("--token", "s3cret")
    assert_error(run_cli("queues", url=server.url), 5)
    assert_error(run_cli("queues", "--token", "wrong", url=server.url), 5)
    assert run_cli("queues", "--token", "s3cret", url=server.url).code == 0
    assert run_cli("queues", url=server.url, PGQUEUE_TOKEN="s3cret").code == 0
    assert_error(run_cli("next-ticker", url=server.url), 5)
