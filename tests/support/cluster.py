"""A PostgreSQL cluster of a test's own (the reliability tests): reach it over TCP, freeze
and thaw it as behind a network partition."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path

from pgqueue_core.embedded import EmbeddedPostgres


def tcp_dsn(cluster: EmbeddedPostgres) -> str:
    """The cluster over TCP (its DSN uses the unix socket): what a remote server would use."""
    return f"postgresql://postgres@127.0.0.1:{cluster.port}/postgres"


def cluster_pids(cluster: EmbeddedPostgres) -> list[int]:
    """The postmaster and every process it started (backends, background workers)."""
    postmaster = cluster.pid
    if postmaster is None:
        return []
    found = [postmaster]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == postmaster:  # field 4 of stat: the parent's pid
                found.append(int(entry.name))
    return found


def freeze(cluster: EmbeddedPostgres) -> None:
    """Stop every process of the cluster (SIGSTOP): connections stay open, nothing answers,
    as behind a network partition."""
    for pid in cluster_pids(cluster):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGSTOP)


def thaw(cluster: EmbeddedPostgres) -> None:
    for pid in cluster_pids(cluster):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGCONT)
