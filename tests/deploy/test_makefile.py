"""The Makefile hands DSNs to the shell quoted: a DSN's `&` or `?` must not reach the shell."""

from __future__ import annotations

import shlex
import subprocess

import pytest

from tests.support import ROOT

DSN = "postgresql://u@127.0.0.1:5432/db?sslmode=disable&application_name=a b"


@pytest.mark.parametrize(
    ("target", "variable", "prefix"),
    [
        ("run", "DSN", ["pgqueue", "run"]),
        ("bench", "BENCH_DSN", ["bench/drain_vs_raw.py", "--dsn"]),
    ],
)
def test_dsns_reach_the_command_as_one_argument(
    target: str, variable: str, prefix: list[str]
) -> None:
    # -n prints the commands; the stamp is taken as up to date (-o) so nothing is installed.
    shown = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", target, f"{variable}={DSN}"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    line = next(line for line in shown.splitlines() if prefix[0] in line)
    words = shlex.split(line)
    start = next(i for i, word in enumerate(words) if word.endswith(prefix[0]))
    assert words[start : start + len(prefix) + 1] == [*words[start : start + len(prefix)], DSN]


def test_without_a_dsn_none_is_passed() -> None:
    shown = subprocess.run(
        ["make", "-n", "-o", ".venv/.installed", "run", "DSN="],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    line = next(line for line in shown.splitlines() if "pgqueue run" in line)
    assert shlex.split(line)[-2:] == [".venv/bin/pgqueue", "run"]
