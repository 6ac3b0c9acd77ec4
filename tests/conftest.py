"""Shared fixtures: real databases (SQLite file, PostgreSQL), loopback feed servers,
the real ASGI app."""

from __future__ import annotations

import pytest

pytest_plugins = [
    "tests.support.fixtures",
    "tests.support.db",
    "tests.support.app",
    "tests.support.browser",
]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
