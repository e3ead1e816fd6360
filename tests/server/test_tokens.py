"""Scoped tokens configured by a file (`--tokens-file`) and PGQUEUE_TOKENS: the format, its
errors, and `pgqueue run` end to end (403 outside a scope, the admin token does everything,
no token ever in the log)."""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

import pytest

from pgqueue_core import InvalidArgument
from pgqueue_server.auth import TokenScope, parse_tokens
from pgqueue_server.cli import run_main
from pgqueue_server.config import ServerConfig, parse_run_args
from tests.support.net import free_port
from tests.support.processes import http_session, serve_process, wait_exit, wait_up

ADMIN = "admin-Tok3n-aaaaaaaaaaaaaaaa"
WRITER = "writer-Tok3n-bbbbbbbbbbbbbbb"
READER = "reader-Tok3n-ccccccccccccccc"
AUDITOR = "auditor-Tok3n-dddddddddddddd"  # stored as its SHA-256 only
STREAMER = "streamer-Tok3n-eeeeeeeeeeeee"  # from PGQUEUE_TOKENS
SECRETS = (ADMIN, WRITER, READER, AUDITOR, STREAMER)

TOKENS_FILE = {
    "tokens": [
        {"name": "writer", "token": WRITER, "namespaces": ["alpha"]},
        {"name": "reader", "token": READER, "namespaces": ["alpha", "Beta"], "read_only": True},
        {
            "name": "auditor",
            "sha256": hashlib.sha256(AUDITOR.encode()).hexdigest(),
            "read_only": True,
        },
    ]
}
TOKENS_ENV = [{"name": "streamer", "token": STREAMER, "namespaces": ["alpha"], "max_streams": 1}]


def test_parse_tokens() -> None:
    [writer, reader, auditor] = parse_tokens(json.dumps(TOKENS_FILE), "f")
    assert writer.scope == TokenScope("writer", frozenset({"alpha"}))
    assert reader.scope == TokenScope("reader", frozenset({"alpha", "beta"}), read_only=True)
    assert auditor.scope == TokenScope("auditor", None, read_only=True)
    assert auditor.sha256 == hashlib.sha256(AUDITOR.encode()).digest()
    # A bare list works too, and the digest never shows in a repr.
    [streamer] = parse_tokens(json.dumps(TOKENS_ENV), "env")
    assert streamer.scope.max_streams == 1
    assert streamer.sha256.hex() not in repr(streamer)


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ("{", "not valid JSON"),
        ('{"tokens": {}}', "expected"),
        ('{"tokenz": []}', "unknown top-level field(s): tokenz"),
        ('["x"]', "entry 1: expected an object"),
        ([{"token": WRITER}], "'name' is required"),
        ([{"name": "w", "token": WRITER, "readonly": True}], "unknown field(s) readonly"),
        ([{"name": "w"}], "exactly one of 'token' and 'sha256'"),
        ([{"name": "w", "token": WRITER, "sha256": "0" * 64}], "exactly one"),
        ([{"name": "w", "token": "has space " + WRITER}], "'token' must be"),
        ([{"name": "w", "token": ""}], "'token' must be"),
        ([{"name": "w", "sha256": "abc"}], "64 hexadecimal digits"),
        ([{"name": "w", "token": WRITER, "namespaces": "alpha"}], "list of names"),
        ([{"name": "w", "token": WRITER, "namespaces": []}], "could do nothing"),
        ([{"name": "w", "token": WRITER, "namespaces": ["9bad"]}], "invalid namespace name"),
        ([{"name": "w", "token": WRITER, "read_only": "yes"}], "true or false"),
        ([{"name": "w", "token": WRITER, "max_streams": -1}], "integer >= 0"),
        ([{"name": "w", "token": WRITER, "max_streams": True}], "integer >= 0"),
    ],
)
def test_bad_tokens_documents(doc: Any, message: str) -> None:
    text = doc if isinstance(doc, str) else json.dumps(doc)
    with pytest.raises(InvalidArgument) as caught:
        parse_tokens(text, "tokens file t.json")
    assert message in str(caught.value)
    assert str(caught.value).startswith("tokens file t.json")
    assert WRITER not in str(caught.value)  # a bad entry never echoes its token


def test_names_and_tokens_are_unique() -> None:
    twice = [{"name": "a", "token": WRITER}, {"name": "a", "token": READER}]
    with pytest.raises(InvalidArgument, match="'a' is used twice"):
        ServerConfig(credentials=tuple(parse_tokens(json.dumps(twice), "f")))
    same = [{"name": "a", "token": WRITER}, {"name": "b", "token": WRITER}]
    with pytest.raises(InvalidArgument, match="'a' and 'b' are the same token"):
        ServerConfig(credentials=tuple(parse_tokens(json.dumps(same), "f")))
    # The admin token (--token / PGQUEUE_TOKEN) is named "admin" and may not be reused.
    admin = [{"name": "other", "token": ADMIN}]
    with pytest.raises(InvalidArgument, match="same token"):
        ServerConfig(token=ADMIN, credentials=tuple(parse_tokens(json.dumps(admin), "f")))


def test_run_flags_and_environment(tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps(TOKENS_FILE))
    path.chmod(0o600)
    env = {"PGQUEUE_TOKENS": json.dumps(TOKENS_ENV), "PGQUEUE_TOKEN": ADMIN}
    options = parse_run_args(["--tokens-file", str(path)], env)
    names = [c.scope.name for c in options.config.all_credentials()]
    assert names == ["writer", "reader", "auditor", "streamer", "admin"]
    assert options.warnings == ()
    # The file may also come from the environment; a file others can read is warned about.
    path.chmod(0o644)
    options = parse_run_args([], {"PGQUEUE_TOKENS_FILE": str(path)})
    assert len(options.config.credentials) == 3
    assert "readable by other users" in options.warnings[0]
    # Secrets stay out of the config's repr.
    assert not any(secret in repr(options.config) for secret in SECRETS)


def test_run_refuses_a_bad_tokens_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps([{"name": "w", "token": WRITER, "readonly": True}]))
    assert run_main(["--tokens-file", str(path)], {}) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"Error: tokens file {path}: entry 1 ('w'): unknown field(s)")
    assert WRITER not in err
    assert run_main(["--tokens-file", str(tmp_path / "missing.json")], {}) == 2
    assert "cannot read the tokens file" in capsys.readouterr().err


# ---- pgqueue run end to end -------------------------------------------------------------


async def test_scoped_tokens_end_to_end(dsn: str, tmp_path: Path) -> None:
    path = tmp_path / "tokens.json"
    path.write_text(json.dumps(TOKENS_FILE))
    path.chmod(0o600)
    port = free_port()
    base = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PGQUEUE_TOKEN": ADMIN, "PGQUEUE_TOKENS": json.dumps(TOKENS_ENV)}
    log = tmp_path / "server.log"
    argv = [dsn, "--addr", f"127.0.0.1:{port}", "--tokens-file", str(path)]
    with serve_process(argv, env, log) as proc:
        async with http_session() as session:
            await wait_up(session, base, 20)

            async def call(
                method: str,
                path: str,
                token: str | None,
                namespace: str | None = None,
                **kwargs: Any,
            ) -> tuple[int, Any]:
                headers = {"Authorization": f"Bearer {token}"} if token else {}
                headers.update(kwargs.pop("headers", {}))
                params = {"namespace": namespace} if namespace else None
                async with session.request(
                    method, base + path, headers=headers, params=params, **kwargs
                ) as resp:
                    body = await resp.json() if resp.content_type == "application/json" else None
                    return resp.status, body

            queue = {"queue": "jobs"}
            task = {"queue": "jobs", "payload": 1}
            # The admin token does everything, in every namespace and out of any.
            for ns in ("alpha", "beta", "gamma"):
                assert (await call("POST", "/queue", ADMIN, ns, json=queue))[0] == 201
            assert (await call("GET", "/metrics", ADMIN))[0] == 200
            assert (await call("GET", "/namespace", ADMIN))[0] == 200
            assert (await call("GET", "/queue", ADMIN, "pgqueue"))[0] == 200

            # writer: read-write in alpha only.
            assert (await call("POST", "/task", WRITER, "alpha", json=task))[0] == 201
            status, claimed = await call("PUT", "/task/jobs?worker=w", WRITER, "alpha")
            assert status == 200
            assert (await call("PATCH", f"/task/{claimed['id']}", WRITER, "alpha"))[0] == 200
            for ns in ("beta", None):  # None: the server's default namespace
                status, body = await call("POST", "/task", WRITER, ns, json=task)
                assert status == 403, body
                assert body["object"] == "error" and "may not access namespace" in body["reason"]
            # Whose task it is does not matter: another namespace's task id is out of reach.
            assert (await call("GET", f"/task/{claimed['id']}", WRITER, "beta"))[0] == 403
            for path in ("/metrics", "/namespace"):  # belong to no namespace
                status, body = await call("GET", path, WRITER)
                assert status == 403 and "limited to namespaces" in body["reason"], path
            assert (await call("GET", "/openapi.json", WRITER))[0] == 200  # any token may

            # reader: reads alpha and beta (names normalised), writes nothing, claims nothing.
            assert (await call("GET", "/queue/jobs", READER, "beta"))[0] == 200
            assert (await call("GET", "/task", READER, "alpha"))[0] == 200
            assert (await call("GET", "/queue", READER, "gamma"))[0] == 403
            for method, path, kw in (
                ("POST", "/task", {"json": task}),
                ("PUT", "/task?worker=r", {}),
                ("DELETE", "/queue/jobs", {}),
                ("GET", "/ticker/next", {}),
                ("GET", "/ticker", {"headers": {"Accept": "text/event-stream"}}),
            ):
                status, body = await call(method, path, READER, "alpha", **kw)
                assert status == 403 and "read-only" in body["reason"], (method, path)

            # auditor (stored as a digest): reads everything, metrics included.
            assert (await call("GET", "/metrics", AUDITOR))[0] == 200
            assert (await call("GET", "/queue", AUDITOR, "gamma"))[0] == 200
            assert (await call("PATCH", "/queue/jobs", AUDITOR, "gamma", json={}))[0] == 403

            # streamer (from PGQUEUE_TOKENS) works in alpha.
            assert (await call("GET", "/ticker", STREAMER, "alpha"))[0] == 200

            # Wrong or missing tokens: 401; a token in the query string is no credential
            # (401 without the header, an unknown parameter with it).
            assert (await call("GET", "/queue", WRITER + "x", "alpha"))[0] == 401
            assert (await call("GET", "/queue", None, "alpha"))[0] == 401
            assert (await call("GET", f"/queue?token={WRITER}", None, "alpha"))[0] == 401
            assert (await call("GET", f"/queue?token={WRITER}", WRITER, "alpha"))[0] == 400
            assert (await call("GET", "/health", None))[0] == 200
        proc.terminate()
        assert await wait_exit(proc, 30) == 0

    output = log.read_text()
    for name in ("writer", "reader", "auditor", "streamer", "admin"):
        assert f"token {name!r}" in output  # the start-up lines name every token's scope
    assert " 403 " in output and " 401 " in output  # the refusals were logged...
    for secret in SECRETS:  # ...and no token ever was
        assert secret not in output
    assert hashlib.sha256(AUDITOR.encode()).hexdigest() not in output
