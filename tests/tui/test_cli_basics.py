"""The `pgqueue` command without a server: help, start-up imports, input checks, exit codes."""

from __future__ import annotations

import subprocess
import sys

import pytest

from pgqueue_core import __version__
from pgqueue_tui import cli

from .conftest import PGQUEUE, assert_error, clean_env, free_port, run_cli

CLIENT_COMMANDS = [
    "namespaces", "queues", "queue", "create-queue", "update-queue", "delete-queue",
    "pause-queue", "resume-queue", "requeue", "stats",
    "tasks", "task", "create-task", "retain-task", "complete-task", "cancel-task",
    "requeue-task",
    "tickers", "ticker", "create-ticker", "update-ticker", "delete-ticker", "next-ticker",
]  # fmt: skip


def unreachable_url() -> str:
    """A URL where nothing listens (the port was free a moment ago)."""
    return f"http://127.0.0.1:{free_port()}/api"


def test_top_level_help_lists_every_command_with_examples() -> None:
    result = run_cli("--help")
    assert result.code == 0, result.err
    for command in [*CLIENT_COMMANDS, "run", "tui"]:
        assert f"    {command} " in result.out, command
    assert "examples:" in result.out
    assert "exit codes:" in result.out


@pytest.mark.parametrize("command", [*CLIENT_COMMANDS, "tui"])
def test_every_command_has_help_with_an_example(
    command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main([command, "--help"]) == 0
    text = capsys.readouterr().out
    assert f"usage: pgqueue {command}" in text
    assert f"  pgqueue {command}" in text.split("examples:")[1]
    assert "--url URL" in text  # global options are accepted after the command too


def test_version_is_the_one_version() -> None:
    result = run_cli("--version")
    assert result.code == 0, result.err
    assert result.out.strip() == f"pgqueue {__version__}"


def test_run_help_comes_from_the_server() -> None:
    result = run_cli("run", "--help")
    assert result.code == 0, result.err
    assert "--addr" in result.out


def test_queues_help_imports_neither_textual_nor_sanic_nor_aiohttp() -> None:
    probe = (
        "import sys\n"
        "from pgqueue_tui.cli import main\n"
        "code = main(['queues', '--help'])\n"
        "heavy = sorted(m for m in ('textual', 'sanic', 'aiohttp') if m in sys.modules)\n"
        "print(code, ','.join(heavy) or 'none')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=clean_env(), timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "0 none"


def test_console_script_starts_quickly_enough_for_help() -> None:
    # Not a benchmark: a guard against an import of the server or console sneaking in.
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", PGQUEUE, "queues", "--help"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=60,
    )
    assert proc.returncode == 0
    imported = {line.split("|")[-1].strip() for line in proc.stderr.splitlines() if "|" in line}
    assert not {"textual", "sanic"} & imported


def test_no_command_is_a_usage_error() -> None:
    result = run_cli()
    assert result.code == 2
    assert result.err.strip().splitlines()[-1] == "Error: no command given"


def test_unknown_command_and_missing_argument_are_usage_errors() -> None:
    assert_error(run_cli("frobnicate"), 2, "invalid choice")
    assert_error(run_cli("queue"), 2, "NAME")
    assert_error(run_cli("retain-task", "q"), 2, "--worker")


def test_unreachable_server_names_the_url() -> None:
    url = unreachable_url()
    result = run_cli("queues", url=url)
    assert_error(result, 4, f"cannot reach {url}", "connection refused")
    assert "Traceback" not in result.err


def test_unreachable_server_with_json_and_url_flag() -> None:
    url = unreachable_url()
    result = run_cli("--json", "--url", url, "namespaces")
    assert_error(result, 4, url)
    assert result.out == ""


def test_unknown_host_is_a_connection_failure() -> None:
    result = run_cli("queues", "--url", "http://no-such-host.invalid:8080/api")
    assert_error(result, 4, "no-such-host.invalid")


def test_bad_url_is_a_usage_error() -> None:
    assert_error(run_cli("queues", "--url", "localhost:8080"), 2, "not an http(s) URL")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["create-task", "q", "--payload", "{oops"], "--payload: invalid JSON"),
        (["create-task", "q", "--payload", "hello"], "quote strings"),
        (["create-task", "q", "--payload", "@/no/such/file.json"], "cannot read"),
        (["complete-task", "1", "--error", "[1,"], "--error: invalid JSON"),
        (["create-task", "q", "--delay", "soon"], "--delay"),
        (["create-task", "q", "--delay=-5m"], "not a positive duration"),
        (["create-task", "q", "--delayed-at", "tomorrow"], "--delayed-at"),
        (["create-task", "q", "--delay", "1m", "--delayed-at", "2030-01-01T00:00Z"], "not allowed"),
        (["create-queue", "q", "--ttl", "1x"], "--ttl"),
        (["create-queue", "q", "--retries", "-1"], "--retries"),
        (["create-queue", "Bad Name"], "not a valid name"),
        (["create-ticker", "t", "0s"], "not a positive duration"),
        (["create-ticker", "t", "--interval", "0s"], "not a positive duration"),
        (["task", "abc"], "not a task id"),
        (["tasks", "--status", "done"], "invalid choice"),
        (["tasks", "--limit", "0"], "at least 1"),
        (["requeue", "--queue", "q", "--status", "new"], "invalid choice"),
        (["update-queue", "q"], "nothing to change"),
        (["update-ticker", "t"], "nothing to change"),
    ],
)
def test_bad_input_is_caught_before_any_request(args: list[str], fragment: str) -> None:
    # The URL is unreachable: had a request been sent, the exit code would be 4.
    assert_error(run_cli(*args, url=unreachable_url()), 2, fragment)


def test_payload_from_stdin_is_read() -> None:
    # Valid input gets as far as the (unreachable) server.
    url = unreachable_url()
    result = run_cli("create-task", "q", "--payload", "@-", url=url, stdin='{"a": 1}')
    assert_error(result, 4, url)


def test_tui_reports_when_the_console_is_missing() -> None:
    import importlib.util

    if importlib.util.find_spec("pgqueue_tui.app") is not None:
        pytest.skip("the console exists")
    assert_error(run_cli("tui"), 1, "console is not available")


def test_run_arguments_pass_through() -> None:
    assert cli._run_arguments(["run", "--addr", ":1", "dsn"]) == ["--addr", ":1", "dsn"]
    assert cli._run_arguments(["--namespace", "a", "--json", "run", "x"]) == [
        "--namespace",
        "a",
        "x",
    ]
    assert cli._run_arguments(["--token=t", "--url", "u", "run"]) == ["--token=t"]
    assert cli._run_arguments(["queues", "run"]) is None
    assert cli._run_arguments([]) is None
