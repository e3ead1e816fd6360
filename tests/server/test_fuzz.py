"""Schemathesis against the served openapi.json: no 5xx, and responses, status codes,
content types and headers as documented; with the admin token, without a token, and with
scoped tokens: in scope as documented, out of scope never a 2xx (tests/server/fuzz_scope.py)."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from pathlib import Path

import pytest

from tests.support.net import free_port
from tests.support.processes import http_session, serve_process, wait_up

# A fixed seed keeps CI deterministic; set PGQUEUE_FUZZ_SEED to explore other inputs.
SEED = os.environ.get("PGQUEUE_FUZZ_SEED", "20261128")
SCHEMATHESIS = Path(sys.executable).with_name("schemathesis")
ROOT = Path(__file__).resolve().parents[2]
# positive_data_acceptance cannot hold for rules a schema cannot state (delays not in the
# past, a worker given twice, durations that must be positive).
CHECKS = ["--checks", "all", "--exclude-checks", "positive_data_acceptance"]
ADMIN = "fuzz-token"
# The server's default namespace is `tenant`: a request without ?namespace= lands there.
TOKENS = [
    {"name": "tenant", "token": "tenant-token", "namespaces": ["tenant"]},
    {"name": "other", "token": "other-token", "namespaces": ["elsewhere"]},
    {"name": "reader", "token": "reader-token", "read_only": True},
]


async def _fuzz(
    schema: str, cwd: Path, *extra: str, token: str | None = None, scope: str | None = None
) -> tuple[int, str]:
    env = dict(os.environ)
    if scope is not None:  # the out-of-scope check (fuzz_scope.py) judges this run
        env.update(
            SCHEMATHESIS_HOOKS="tests.server.fuzz_scope",
            PGQUEUE_FUZZ_SCOPE=scope,
            PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
        )
    auth = ["--header", f"Authorization: Bearer {token}"] if token else []
    proc = await asyncio.create_subprocess_exec(
        str(SCHEMATHESIS), "run", schema,
        # The event streams never end: they have their own tests (test_sse.py,
        # test_events.py) and the decoder sweep covers their parameters (test_decoders.py).
        "--exclude-path", "/ticker/next", "--exclude-path", "/events",
        "--seed", SEED, "--workers", "1", "--request-timeout", "10",
        "--no-color", *CHECKS, *auth, *extra,
        cwd=cwd, env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await asyncio.wait_for(proc.communicate(), 240)
    return int(proc.returncode or 0), output.decode(errors="replace")


@pytest.mark.slow
@pytest.mark.timeout(300)
async def test_schemathesis(dsn: str, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PGQUEUE_TOKEN": ADMIN, "PGQUEUE_TOKENS": json.dumps(TOKENS)}
    log = tmp_path / "server.log"
    argv = [dsn, "--addr", f"127.0.0.1:{port}", "--namespace", "tenant"]
    with serve_process(argv, env, log):
        async with http_session() as session:
            await wait_up(session, base, 20)
            auth = {"Authorization": f"Bearer {ADMIN}"}
            async with session.get(f"{base}/openapi.json", headers=auth) as resp:
                (tmp_path / "openapi.json").write_bytes(await resp.read())
        # The admin token, then a token scoped to the default namespace: as documented.
        for token, examples in ((ADMIN, "25"), ("tenant-token", "5")):
            code, output = await _fuzz(
                f"{base}/openapi.json", tmp_path, "--max-examples", examples, token=token,
            )  # fmt: skip
            assert code == 0, output
        # Out of scope, all at once (these runs change nothing): without a token every
        # operation but health answers 401 (as documented); a token of another namespace,
        # and a read-only token writing, never get a 2xx.
        quick = ("--url", base, "--max-examples", "3", "--phases", "coverage,fuzzing")
        runs = await asyncio.gather(
            _fuzz("openapi.json", tmp_path, *quick),
            _fuzz(
                "openapi.json", tmp_path, *quick,
                token="other-token", scope="namespaces:elsewhere",
            ),
            _fuzz(
                "openapi.json", tmp_path, *quick, "--exclude-method", "GET",
                token="reader-token", scope="read-only",
            ),
            # The check itself works: the admin token is not read-only.
            _fuzz(
                "openapi.json", tmp_path, *quick, "--include-operation-id", "createQueue",
                token=ADMIN, scope="read-only",
            ),
        )  # fmt: skip
    *runs, control = runs
    for code, output in runs:
        assert code == 0, output
    assert control[0] != 0 and "a read-only token got 201" in control[1], control[1]
    server_log = log.read_text()
    assert " 500 " not in server_log
    assert "Traceback" not in server_log
    for secret in (ADMIN, *(t["token"] for t in TOKENS)):
        assert secret not in server_log
