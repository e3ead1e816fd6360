"""A real pgqueue server on an OS-chosen port for each test (tests.support.server)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.server import Server, make_config, serving_app


@pytest.fixture
async def server(dsn: str) -> AsyncIterator[Server]:
    async with serving_app(make_config(dsn)) as srv:
        yield srv
