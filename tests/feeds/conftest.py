"""Fixtures for the fetch tests; the shared ones live in ``tests.support.fixtures``."""

import pytest

from tests.support.fixtures import (  # noqa: F401  (pytest finds fixtures by name)
    ca_file,
    feed_policy,
    feed_server,
    sentinel_server,
    tls_ca,
    tls_feed_server,
    wrong_host_tls_server,
)


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
