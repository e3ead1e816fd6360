"""Schemathesis against the served openapi.json: no 5xx, and responses, status codes,
content types and headers as documented (with and without a token)."""

from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import pytest

from .conftest import free_port, http_session, serve_process, wait_up

# A fixed seed keeps CI deterministic; set PGQUEUE_FUZZ_SEED to explore other inputs.
SEED = os.environ.get("PGQUEUE_FUZZ_SEED", "20261128")
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
# positive_data_acceptance cannot hold for rules a schema cannot state (delays not in the
# past, a worker given twice, durations that must be positive).
CHECKS = ["--checks", "all", "--exclude-checks", "positive_data_acceptance"]


async def _fuzz(schema: str, cwd: Path, *extra: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(
        str(SCHEMATHESIS), "run", schema,
        # The event stream never ends: it has its own tests (test_sse.py).
        "--exclude-path", "/ticker/next",
        "--seed", SEED, "--workers", "1", "--request-timeout", "10",
        "--no-color", *CHECKS, *extra,
        cwd=cwd, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(proc.communicate(), 240)
    return int(proc.returncode or 0), output.decode(errors="replace")


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_schemathesis(dsn: str, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}/api"
    token = "fuzz-token"
    env = {**os.environ, "PGQUEUE_TOKEN": token}
    log = tmp_path / "server.log"
    with serve_process([dsn, "--addr", f"127.0.0.1:{port}"], env, log):
        async with http_session() as session:
            await wait_up(session, base, 20)
            auth = {"Authorization": f"Bearer {token}"}
            async with session.get(f"{base}/openapi.json", headers=auth) as resp:
                (tmp_path / "openapi.json").write_bytes(await resp.read())
        code, output = await _fuzz(
            f"{base}/openapi.json", tmp_path, "--header", f"Authorization: Bearer {token}",
            "--max-examples", "25",
        )  # fmt: skip
        assert code == 0, output
        # Without the token every operation but health must answer 401 (as documented).
        code, output = await _fuzz(
            "openapi.json", tmp_path, "--url", base, "--max-examples", "3",
            "--phases", "coverage,fuzzing",
        )  # fmt: skip
    assert code == 0, output
    server_log = log.read_text()
    assert " 500 " not in server_log
    assert "Traceback" not in server_log
