"""examples/quickstart.py as the README runs it: with PGQUEUE_DSN, with nothing set (the
embedded PostgreSQL `make run` uses), and by a Python without pgqueue installed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from tests.support import ROOT

QUICKSTART = ROOT / "examples" / "quickstart.py"


def _run(env: dict[str, str], python: list[str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in ("PGQUEUE_DSN", "DATABASE_URL")}
    return subprocess.run(
        [*(python or [sys.executable]), str(QUICKSTART)],
        env=base | env,
        capture_output=True,
        text=True,
        timeout=180,
        cwd=ROOT,
    )


def _ran(proc: subprocess.CompletedProcess[str]) -> None:
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count("sending to") >= 101
    assert "status=<Status.RELEASED: 'released'>" in proc.stdout.splitlines()[-1]


def test_quickstart_with_a_dsn(dsn: str) -> None:
    _ran(_run({"PGQUEUE_DSN": dsn}))


def test_quickstart_without_a_dsn_uses_the_embedded_postgresql(tmp_path: Path) -> None:
    proc = _run({"XDG_DATA_HOME": str(tmp_path)})
    _ran(proc)
    data_dir = tmp_path / "pgqueue" / "postgres"
    assert f"using the embedded PostgreSQL in {data_dir}" in proc.stdout
    assert (data_dir / "PG_VERSION").is_file()
    assert not (data_dir / "postmaster.pid").exists()  # started here, so stopped here


def test_quickstart_without_the_environment_says_how_to_run_it() -> None:
    proc = _run({}, python=[sys.executable, "-I", "-S"])  # no site-packages: no pgqueue
    assert proc.returncode == 1
    assert "run this with the project's environment: .venv/bin/python" in proc.stderr
    assert "Traceback" not in proc.stderr
