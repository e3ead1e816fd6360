"""`pgqueue run`: flag and environment parsing, and the real command in a subprocess
(graceful SIGTERM with an open stream, request log lines, the embedded PostgreSQL)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import pytest

from pgqueue_core import InvalidArgument
from pgqueue_server.cli import run_main
from pgqueue_server.config import ServerConfig, parse_addr, parse_run_args, redact_dsn
from pgqueue_server.tls import check_tls_files, has_subject_alt_name
from tests.support.net import free_port
from tests.support.processes import http_session, serve_process, wait_exit, wait_up

TOKEN = "cli-secret-token"


def test_defaults() -> None:
    options = parse_run_args([], env={"HOME": "/home/u"})
    config = options.config
    assert (config.host, config.port) == ("localhost", 8080)
    assert config.prefix == "/api"
    assert config.namespace == "default"
    assert config.workers == 1
    assert config.dsn is None
    assert config.token is None
    assert options.data_dir == Path("/home/u/.local/share/pgqueue/postgres")


def test_dsn_and_token_sources() -> None:
    env = {"PGQUEUE_DSN": "postgresql://a/x", "DATABASE_URL": "postgresql://b/y"}
    assert parse_run_args([], env=env).config.dsn == "postgresql://a/x"
    assert parse_run_args([], env={"DATABASE_URL": "postgresql://b/y"}).config.dsn == (
        "postgresql://b/y"
    )
    assert parse_run_args(["postgresql://c/z"], env=env).config.dsn == "postgresql://c/z"
    assert parse_run_args([], env={"PGQUEUE_TOKEN": "t"}).config.token == "t"
    assert parse_run_args(["--token", "u"], env={"PGQUEUE_TOKEN": "t"}).config.token == "u"
    data = parse_run_args([], env={"XDG_DATA_HOME": "/data"}).data_dir
    assert data == Path("/data/pgqueue/postgres")
    assert parse_run_args(["--data-dir", "/pg"], env={}).data_dir == Path("/pg")


def test_from_env() -> None:
    config = ServerConfig.from_env({"DATABASE_URL": "postgresql://h/d", "PGQUEUE_NAMESPACE": "x"})
    assert config.dsn == "postgresql://h/d"
    assert config.namespace == "x"
    assert config.configure_logging is False


def test_flags() -> None:
    config = parse_run_args(
        ["--addr", ":9000", "--prefix", "v1/", "--namespace", "Tenant", "--workers", "3"], env={}
    ).config
    assert (config.host, config.port) == ("0.0.0.0", 9000)
    assert config.prefix == "/v1"
    assert config.namespace == "tenant"
    assert config.workers == 3
    assert parse_addr("[::1]:8443") == ("::1", 8443)
    assert parse_run_args(["--prefix", "/"], env={}).config.prefix == ""
    for bad in (
        ["--addr", "nowhere"],
        ["--addr", "h:99999"],
        ["--tls-cert", "c.pem"],
        ["--workers", "0"],
        ["--namespace", "pgqueue"],
        ["--prefix", "/a b"],
    ):
        with pytest.raises(InvalidArgument):
            parse_run_args(bad, env={})


def test_app_names() -> None:
    assert ServerConfig().app_name == "pgqueue"
    with pytest.raises(InvalidArgument, match="invalid app name"):
        ServerConfig(app_name="two words")
    # Outside test mode, Sanic's registry takes one app per name: apps of different names
    # live side by side in one process, a second app of a name is refused.
    probe = (
        "from sanic.exceptions import SanicException\n"
        "from pgqueue_server import ServerConfig, create_app\n"
        "apps = [create_app(ServerConfig(app_name=n)) for n in ('pgqueue', 'pgqueue_b')]\n"
        "assert [app.name for app in apps] == ['pgqueue', 'pgqueue_b']\n"
        "try:\n"
        "    create_app(ServerConfig())\n"
        "except SanicException as exc:\n"
        "    print(exc)\n"
    )
    proc = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == 'Sanic app name "pgqueue" already in use.'


def test_secrets_stay_out_of_repr() -> None:
    config = parse_run_args(["postgresql://u:pw@h/db", "--token", TOKEN], env={}).config
    assert TOKEN not in repr(config)
    assert "pw" not in repr(config)
    assert redact_dsn("postgresql://u:pw@h/db") == "postgresql://u:***@h/db"
    assert config.safe_dsn == "postgresql://u:***@h/db"


def test_run_main_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_main(["--addr", "nowhere"], env={}) == 2
    assert capsys.readouterr().err.startswith("Error: invalid --addr")
    assert run_main(["--no-such-flag"], env={}) == 2
    assert run_main(["--help"], env={}) == 0
    assert "--tls-cert" in capsys.readouterr().out


async def test_run_serves_and_stops_gracefully(dsn: str, tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}/api"
    env = {**os.environ, "PGQUEUE_TOKEN": TOKEN}
    log = tmp_path / "server.log"
    auth = {"Authorization": f"Bearer {TOKEN}"}
    with serve_process([dsn, "--addr", f"127.0.0.1:{port}"], env, log) as proc:
        async with http_session() as session:
            await wait_up(session, base, 20)
            async with session.post(base + "/queue", json={"queue": "jobs"}, headers=auth) as r:
                assert r.status == 201
            async with session.get(base + "/queue") as r:
                assert r.status == 401
            stream = await session.get(
                base + "/ticker/next", headers={**auth, "Accept": "text/event-stream"}
            )
            assert (await stream.content.readline()).startswith(b"retry:")
            started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            assert await wait_exit(proc, 10) == 0
            elapsed = time.monotonic() - started
            async with asyncio.timeout(5):
                await stream.content.read()  # the stream ended with the server
            stream.close()
    text = log.read_text()
    assert elapsed < 2.0, f"shutdown with an open stream took {elapsed:.2f}s\n{text}"
    assert "POST /api/queue 201 " in text
    assert "GET /api/queue 401 " in text
    assert TOKEN not in text
    assert "Traceback" not in text


@pytest.mark.slow
async def test_run_without_dsn_uses_embedded_postgres(tmp_path: Path) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}/api"
    env = {k: v for k, v in os.environ.items() if k not in ("PGQUEUE_DSN", "DATABASE_URL")}
    env["XDG_DATA_HOME"] = str(tmp_path)
    log = tmp_path / "server.log"
    with serve_process(["--addr", f"127.0.0.1:{port}"], env, log) as proc:
        async with http_session() as session:
            await wait_up(session, base, 90)
            async with session.post(base + "/queue", json={"queue": "jobs"}) as r:
                assert r.status == 201
        proc.send_signal(signal.SIGTERM)
        assert await wait_exit(proc, 30) == 0
    text = log.read_text()
    data_dir = tmp_path / "pgqueue" / "postgres"
    assert f"starting the embedded PostgreSQL in {data_dir}" in text
    assert (data_dir / "PG_VERSION").is_file()
    assert not (data_dir / "postmaster.pid").exists()  # stopped with the server


EC_KEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1")
SAN = ("-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1")


def _certificate(
    folder: Path, *extra: str, key_type: tuple[str, ...] = EC_KEY, name: str = "cert"
) -> tuple[Path, Path]:
    cert, key = folder / f"{name}.pem", folder / f"{name}.key"
    subprocess.run(
        ["openssl", "req", "-x509", *key_type, "-nodes", "-keyout", str(key), "-out", str(cert),
         "-days", "1", "-subj", "/CN=localhost", *extra],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.mark.parametrize("key_type", [EC_KEY, ("-newkey", "rsa:2048")], ids=["ec", "rsa"])
def test_subject_alt_name_is_read_from_the_certificate(
    tmp_path: Path, key_type: tuple[str, ...]
) -> None:
    bare, bare_key = _certificate(tmp_path, key_type=key_type, name="bare")
    named, named_key = _certificate(tmp_path, *SAN, key_type=key_type, name="named")
    other = ("-addext", "keyUsage=digitalSignature", "-addext", "extendedKeyUsage=serverAuth")
    extended, _ = _certificate(tmp_path, *other, key_type=key_type, name="extended")
    assert not has_subject_alt_name(bare.read_text())
    assert not has_subject_alt_name(extended.read_text())  # other extensions only
    assert has_subject_alt_name(named.read_text())
    # A file with the key first, then the chain: the first certificate is the one served.
    assert has_subject_alt_name(named_key.read_text() + named.read_text() + bare.read_text())
    assert not has_subject_alt_name(bare.read_text() + named.read_text())
    check_tls_files(str(named), str(named_key))
    with pytest.raises(RuntimeError, match="has no subjectAltName"):
        check_tls_files(str(bare), str(bare_key))
    with pytest.raises(ValueError, match="no PEM certificate"):
        has_subject_alt_name(bare_key.read_text())
    with pytest.raises(ValueError, match="not a DER certificate"):
        has_subject_alt_name("-----BEGIN CERTIFICATE-----\nMAMC\n-----END CERTIFICATE-----\n")


def test_unreachable_database(capsys: pytest.CaptureFixture[str]) -> None:
    port = free_port()  # nothing listens there
    assert run_main([f"postgresql://postgres@127.0.0.1:{port}/db"], env={}) == 1
    err = capsys.readouterr().err
    assert (
        f"Error: cannot connect to PostgreSQL at postgresql://postgres@127.0.0.1:{port}/db" in err
    )
    assert "Traceback" not in err


def test_busy_address_names_it_and_the_flag(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        # Refused before the database or an embedded PostgreSQL is touched.
        data = tmp_path / "pg"
        assert run_main(["--addr", f"127.0.0.1:{port}", "--data-dir", str(data)], env={}) == 1
    err = capsys.readouterr().err
    assert f"Error: cannot listen on 127.0.0.1:{port}: the address is already in use" in err
    assert "--addr HOST:PORT" in err
    assert "Traceback" not in err
    assert not data.exists()


def test_unusable_tls_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    cert, key = _certificate(tmp_path)  # no subjectAltName
    args = ["postgresql://h/d", "--tls-cert", str(cert), "--tls-key", str(key)]
    assert run_main(args, env={}) == 1
    assert "subjectAltName" in capsys.readouterr().err
    assert run_main([*args[:2], str(tmp_path / "missing.pem"), *args[3:]], env={}) == 1
    assert "cannot use --tls-cert/--tls-key" in capsys.readouterr().err


async def test_run_with_tls(dsn: str, tmp_path: Path) -> None:
    cert, key = _certificate(tmp_path, *SAN)
    port = free_port()
    args = [dsn, "--addr", f"127.0.0.1:{port}", "--tls-cert", str(cert), "--tls-key", str(key)]
    log = tmp_path / "server.log"
    with serve_process(args, dict(os.environ), log) as proc:
        connector = aiohttp.TCPConnector(ssl=False)
        async with aiohttp.ClientSession(connector=connector) as session:
            await wait_up(session, f"https://127.0.0.1:{port}/api", 20)
        proc.send_signal(signal.SIGTERM)
        assert await wait_exit(proc, 10) == 0
    assert f"listening on https://127.0.0.1:{port}/api" in log.read_text()
