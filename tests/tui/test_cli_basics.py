"""The `pgqueue` command without a server: help, start-up imports, input checks, exit codes."""

from __future__ import annotations

import subprocess
import sys
from importlib.metadata import entry_points
from pathlib import Path

import pytest

from pgqueue_core import __version__
from pgqueue_tui import cli
from tests.support.cli import PGQUEUE, Result, assert_error, clean_env, run_cli
from tests.support.net import free_port

CLIENT_COMMANDS = [
    "namespaces", "queues", "queue", "create-queue", "update-queue", "delete-queue",
    "pause-queue", "resume-queue", "reset-breaker", "requeue", "stats",
    "tasks", "task", "create-task", "retain-task", "complete-task", "cancel-task",
    "requeue-task",
    "tickers", "ticker", "create-ticker", "update-ticker", "delete-ticker", "next-ticker",
    "watch",
]  # fmt: skip


def unreachable_url() -> str:
    """A URL where nothing listens (the port was free a moment ago)."""
    return f"http://127.0.0.1:{free_port()}/api"


def test_top_level_help_lists_every_command_with_examples() -> None:
    result = run_cli("--help")
    assert result.code == 0, result.err
    registered = {entry.name for entry in entry_points(group="pgqueue.commands")}
    assert registered == {*CLIENT_COMMANDS, "run", "tui", "worker"}
    for command in registered:
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


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["queues", "--help"], 0),
        (["--json", "create-task", "q", "--payload", "{oops"], 2),
        (["--help"], 0),
        (["run", "--help"], 0),
        (["--namespace", "x", "run", "--addr", "nowhere"], 2),
    ],
)
def test_parsing_imports_neither_textual_nor_sanic_nor_aiohttp(args: list[str], code: int) -> None:
    probe = (
        "import sys\n"
        "from pgqueue_tui.cli import main\n"
        f"code = main({args!r})\n"
        "heavy = sorted(m for m in ('textual', 'sanic', 'aiohttp') if m in sys.modules)\n"
        "server = 'pgqueue_server' in sys.modules\n"
        "print(code, ','.join(heavy) or 'none', server)\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, env=clean_env(), timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    loaded_code, heavy, server = proc.stdout.strip().splitlines()[-1].split()
    assert (int(loaded_code), heavy) == (code, "none")
    if args[0] != "--help" and "run" not in args:  # a client command loads its provider only
        assert server == "False"


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


def test_split_command_and_forwarded_options() -> None:
    assert cli.split_command(["run", "--addr", ":1", "dsn"]) == ([], "run", ["--addr", ":1", "dsn"])
    before, name, rest = cli.split_command(["--namespace", "a", "--json", "run", "x"]) or (
        [],
        "",
        [],
    )
    assert (name, rest) == ("run", ["x"])
    assert cli.forwarded(before, ("--namespace", "--token")) == ["--namespace", "a"]
    before, name, rest = cli.split_command(["--token=t", "--url", "u", "run"]) or ([], "", [])
    assert cli.forwarded(before, ("--namespace", "--token")) == ["--token=t"]
    assert cli.split_command(["queues", "run"]) == ([], "queues", ["run"])
    assert cli.split_command(["--timeout", "5", "tui"]) == (["--timeout", "5"], "tui", [])
    assert cli.split_command(["--version", "run"]) is None
    assert cli.split_command(["--url"]) is None
    assert cli.split_command([]) is None


def test_a_missing_provider_is_one_clear_line_and_the_rest_still_works() -> None:
    # The server package cannot be imported: `run` is listed as not available, naming it is
    # one `Error:` line, and the console's commands are unaffected.
    probe = (
        "import sys\n"
        "sys.modules['pgqueue_server'] = None  # import fails: as if not installed\n"
        "from pgqueue_tui.cli import main\n"
        "sys.exit(main(sys.argv[1:]))\n"
    )

    def pgqueue(*args: str) -> Result:
        proc = subprocess.run(
            [sys.executable, "-c", probe, *args],
            capture_output=True, text=True, env=clean_env(), timeout=60,
        )  # fmt: skip
        return Result(proc.returncode, proc.stdout, proc.stderr)

    assert_error(
        pgqueue("--namespace", "x", "run", "--addr", ":1"),
        1,
        "the 'run' command is not available: cannot load pgqueue_server.command:RUN",
        "ModuleNotFoundError",
    )
    listing = pgqueue("--help")
    assert listing.code == 0
    assert "    run                 (not available: ModuleNotFoundError" in listing.out
    assert "    queues " in listing.out
    assert_error(pgqueue("queues", "--url", unreachable_url()), 4, "cannot reach")


def test_other_packages_can_add_subcommands(tmp_path: Path) -> None:
    # A distribution of our own making registers a pass-through command and a broken one.
    dist = tmp_path / "pgqueue_plugin_example-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: pgqueue-plugin-example\n"
                                   "Version: 1.0\n")  # fmt: skip
    (dist / "entry_points.txt").write_text(
        "[pgqueue.commands]\n"
        "hello = pgqueue_plugin_example:HELLO\n"
        "broken = pgqueue_plugin_nowhere:COMMAND\n"
    )
    (tmp_path / "pgqueue_plugin_example.py").write_text(
        "class Hello:\n"
        "    summary = 'Say hello.'\n"
        "    forwarded_options = ('--namespace',)\n"
        "    def main(self, argv):\n"
        "        print('hello', argv)\n"
        "        return 7\n"
        "HELLO = Hello()\n"
    )

    def pgqueue(*args: str) -> Result:
        return run_cli(*args, PYTHONPATH=str(tmp_path))

    listing = pgqueue("--help")
    assert "    hello               Say hello." in listing.out
    assert "    broken              (not available: ModuleNotFoundError" in listing.out
    greeted = pgqueue("--namespace", "ns", "--json", "hello", "a", "--b")
    assert (greeted.code, greeted.out) == (7, "hello ['--namespace', 'ns', 'a', '--b']\n")
    assert_error(
        pgqueue("broken"),
        1,
        "the 'broken' command is not available: cannot load pgqueue_plugin_nowhere:COMMAND "
        "(ModuleNotFoundError: No module named 'pgqueue_plugin_nowhere')",
    )
