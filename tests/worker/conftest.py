"""Fixtures of the Worker tests: worker processes."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.processes import WorkerProcess


@pytest.fixture
def processes() -> Iterator[list[WorkerProcess]]:
    """Worker processes of a test; whatever is still running at the end is killed."""
    started: list[WorkerProcess] = []
    yield started
    for process in started:
        process.stop()
